//! After the sale: what the merchant does to a seQura order in BigCommerce reaches seQura
//! (sequra-api.md §7; bigcommerce-api.md §3.7), durably, through the job queue.
//!
//! - [`holding`]: what seQura should hold for an order (pure).
//! - [`sync`]: the job that compares it with what seQura last accepted and sends the change.
//! - [`placement`]: the IPN follow-up job (the BigCommerce order gets seQura's outcome).
//! - [`reconcile`]: the sweep that finds what events missed; [`report`]: the daily delivery
//!   report.
//! - [`mark`]: the app's record of a payment on the BigCommerce order; [`recover`]: what a
//!   database restored to an earlier point lost, found again from BigCommerce and seQura.
//! - Every outcome lands in the transaction log ([`record`]).
//!
//! Layer: a service. Its jobs are run by `workers`; it writes jobs to `queue` and never
//! dispatches one itself.

pub mod holding;
pub mod mark;
pub mod placement;
pub mod reconcile;
pub mod recover;
pub mod report;
pub mod sync;
pub mod view;

use crate::db;
use crate::db::solicitations::Solicitation;
use crate::db::transaction_log::{NewEntry, Outcome};
use crate::domain::{BcOrderId, StoreHash};
use crate::i18n::{Catalogs, Lang, Message};
use crate::queue::Job;
use crate::state::AppState;

/// Serialises what is said to seQura about one solicitation: its notifications, the
/// placement job's order-number confirmation, a recovery's confirmation sent again.
pub fn notification_lock(
    state: &AppState,
    store: &StoreHash,
    sid: i64,
) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    state
        .payment_locks
        .lock_for(format!("solicitation:{store}:{sid}"))
}

/// The order in the store's control panel.
pub fn control_panel_link(state: &AppState, store: &StoreHash, order: u64) -> String {
    let base = state
        .settings
        .bigcommerce
        .control_panel_url
        .replace("{store_hash}", store.as_str());
    format!("{}/orders/{order}", base.trim_end_matches('/'))
}

/// The order in its deployment's back office for its environment.
pub fn portal_link(
    state: &AppState,
    deployment: crate::sequra::Deployment,
    environment: &str,
    uuid: &str,
) -> String {
    let env = crate::sequra::Environment::parse(environment)
        .unwrap_or(crate::sequra::Environment::Sandbox);
    let base = crate::sequra::deployments::portal_url(&state.settings.sequra, deployment, env);
    let uuid: String = url::form_urlencoded::byte_serialize(uuid.as_bytes()).collect();
    format!("{}/orders/{uuid}", base.trim_end_matches('/'))
}

/// What a log entry says about its order.
/// The log's event for giving a BigCommerce order seQura's outcome (the `place_order` job).
pub const CONFIRMATION: &str = "confirmation";

#[derive(Debug, Clone, Default)]
pub struct About<'a> {
    pub order: Option<BcOrderId>,
    pub sequra_uuid: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub merchant_ref: Option<&'a str>,
}

impl<'a> About<'a> {
    /// A seQura order's entry: its BigCommerce order, reference, environment and merchant ref.
    pub fn of(s: &'a Solicitation) -> Self {
        Self {
            order: Some(s.bc_order_id),
            sequra_uuid: s.sequra_uuid.as_deref(),
            environment: s.environment.as_deref(),
            merchant_ref: s.merchant_ref.as_deref(),
        }
    }
}

/// A transaction-log entry about to be written (owned: it crosses to the database thread).
#[derive(Debug, Clone)]
pub struct Record {
    store: StoreHash,
    order: Option<BcOrderId>,
    sequra_uuid: Option<String>,
    environment: Option<String>,
    merchant_ref: Option<String>,
    event: String,
    outcome: Outcome,
    /// In English: the stored text (rows before keys hold only it; an order in review is
    /// said to wait once by it).
    message: String,
    message_key: Option<&'static str>,
    message_args: Option<String>,
}

impl Record {
    pub fn new(
        i18n: &Catalogs,
        store: &StoreHash,
        about: &About<'_>,
        event: &str,
        outcome: Outcome,
        message: &Message,
    ) -> Self {
        Self {
            store: store.clone(),
            order: about.order,
            sequra_uuid: about.sequra_uuid.map(str::to_string),
            environment: about.environment.map(str::to_string),
            merchant_ref: about.merchant_ref.map(str::to_string),
            event: event.to_string(),
            outcome,
            message: message.render(i18n, Lang::En),
            message_key: message.key(),
            message_args: message.args_json(),
        }
    }

    /// Writes the entry within the caller's transaction: a sent update resolves the order's
    /// open problems (but the placement's, which only the placement resolves); an order in review is said to wait once, not at every change.
    pub fn write(&self, conn: &rusqlite::Connection) -> Result<(), db::DbError> {
        if let Some(order) = self.order {
            match self.outcome {
                Outcome::Sent => {
                    db::transaction_log::resolve_order(conn, &self.store, order, CONFIRMATION)?
                }
                Outcome::Waiting
                    if db::transaction_log::is_open(
                        conn,
                        &self.store,
                        order,
                        self.outcome,
                        &self.message,
                    )? =>
                {
                    return Ok(());
                }
                _ => {}
            }
        }
        db::transaction_log::insert(
            conn,
            &NewEntry {
                store: &self.store,
                order: self.order,
                sequra_uuid: self.sequra_uuid.as_deref(),
                environment: self.environment.as_deref(),
                merchant_ref: self.merchant_ref.as_deref(),
                event: &self.event,
                outcome: self.outcome,
                message: &self.message,
                message_key: self.message_key,
                message_args: self.message_args.as_deref(),
            },
        )?;
        Ok(())
    }
}

/// Records a transaction-log entry; a failure to record is logged, never fatal.
pub async fn record(
    state: &AppState,
    store: &StoreHash,
    about: &About<'_>,
    event: &str,
    outcome: Outcome,
    message: &Message,
) {
    let entry = Record::new(&state.i18n, store, about, event, outcome, message);
    if let Err(e) = state.db.batched(move |c| entry.write(c)).await {
        tracing::error!(error = %e, "could not write the transaction log");
    }
}

/// A job that kept failing past the queue's maximum age: its order's log says so. A job that
/// gives up says it once; a placement, which keeps trying, says it once too (not at every
/// retry), and the placement resolves it when it goes through.
pub async fn kept_failing(state: &AppState, store: &StoreHash, job: &Job, reason: &str) {
    let (event, order) = match job {
        Job::SyncOrder { order_id } => ("update", Some(*order_id)),
        Job::PlaceOrder { order_id, .. } => (CONFIRMATION, Some(*order_id)),
        Job::DeliveryReport { .. } => ("delivery_report", None),
        Job::Provision
        | Job::StoreCancelled
        | Job::RegisterRemote { .. }
        | Job::DeregisterRemote { .. } => return,
    };
    let message = if job.gives_up() {
        Message::new("log_msg_gave_up")
    } else {
        Message::new("log_msg_still_failing")
    }
    .text("reason", reason);
    let i18n = state.i18n.clone();
    let (hash, once) = (store.clone(), !job.gives_up());
    let written = state
        .db
        .batched(move |c| {
            let solicitation = match order {
                Some(o) => db::solicitations::for_order(c, &hash, BcOrderId(o))?,
                None => None,
            };
            let about = solicitation.as_ref().map_or(
                About {
                    order: order.map(BcOrderId),
                    ..About::default()
                },
                About::of,
            );
            if let (true, Some(o)) = (once, order)
                && db::transaction_log::is_event_open(c, &hash, BcOrderId(o), event)?
            {
                return Ok(());
            }
            Record::new(&i18n, &hash, &about, event, Outcome::Failed, &message).write(c)
        })
        .await;
    if let Err(e) = written {
        tracing::error!(error = %e, "could not write the transaction log");
    }
}
