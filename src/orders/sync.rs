//! The `sync_order` job: reads the order from BigCommerce, computes what seQura should hold
//! and sends `PUT merchants/{ref}/orders/{order_ref_1}` only when that differs from what seQura
//! last accepted. Idempotent: running it twice sends at most one update, and the app's own
//! status writes (which change no cart) send nothing.

use crate::db;
use crate::db::order_sync::Accepted;
use crate::db::solicitations::{Solicitation, SolicitationState};
use crate::db::transaction_log::Outcome;
use crate::domain::{BcOrderId, StoreHash};
use crate::i18n::{Lang, Message};
use crate::onboarding;
use crate::orders::holding::{Holding, OrderData, holding_for};
use crate::orders::{About, CONFIRMATION, Record, record};
use crate::queue::JobError;
use crate::sequra::SequraError;
use crate::sequra::models::{MerchantId, MerchantReference, OrderUpdate, Tracking};
use crate::state::AppState;
use crate::stores::lifecycle;

/// Runs the job for one order.
pub async fn run(state: &AppState, store: &StoreHash, order_id: u64) -> Result<(), JobError> {
    let order = BcOrderId(order_id);
    let hash = store.clone();
    // Events stored up to now are handled by this run (it reads the order afresh).
    let (solicitation, accepted, resend, seen) = state
        .db
        .call(move |c| {
            Ok((
                db::solicitations::for_order(c, &hash, order)?,
                db::order_sync::get(c, &hash, order)?,
                db::order_sync::must_resend(c, &hash, order)?,
                db::webhook_events::last_for_order(c, &hash, order)?,
            ))
        })
        .await?;
    let done = match solicitation {
        Some(s) => sync(state, store, &s, accepted, resend).await?,
        // Not a seQura order: nothing to do.
        None => Done::Nothing,
    };
    // The run's outcome and its events handled, in one write.
    let hash = store.clone();
    state
        .db
        .batched(move |c| {
            match &done {
                Done::Nothing => {}
                // seQura already holds this (e.g. the merchant undid a refused change):
                // nothing left for the merchant to fix.
                Done::InLine => db::transaction_log::resolve_order(c, &hash, order, CONFIRMATION)?,
                Done::Recorded(saved) => {
                    db::order_sync::save(c, &hash, saved, false)?;
                    db::transaction_log::resolve_order(c, &hash, order, CONFIRMATION)?;
                }
                Done::Sent(sent) => {
                    let (saved, shipped_grew, entry) = &**sent;
                    db::order_sync::save(c, &hash, saved, *shipped_grew)?;
                    entry.write(c)?;
                }
            }
            if let Some(seen) = seen {
                db::webhook_events::mark_processed(c, &hash, order, seen)?;
            }
            Ok(())
        })
        .await?;
    Ok(())
}

/// What a run leaves to record.
enum Done {
    Nothing,
    /// seQura already holds what the order says.
    InLine,
    /// seQura already holds what the order says; the app's own figures (the refunded amount)
    /// moved on.
    Recorded(Box<Accepted>),
    /// seQura accepted an update: what it holds now, whether more was shipped, the log line.
    Sent(Box<(Accepted, bool, Record)>),
}

/// `resend`: what seQura holds is not known (a restore): the state is sent even when it matches
/// what was last accepted.
async fn sync(
    state: &AppState,
    store: &StoreHash,
    s: &Solicitation,
    accepted: Option<Accepted>,
    resend: bool,
) -> Result<Done, JobError> {
    match s.state {
        SolicitationState::Approved => {}
        SolicitationState::OnHold => {
            record(
                state,
                store,
                &About::of(s),
                "update",
                Outcome::Waiting,
                &Message::new("log_msg_in_review"),
            )
            .await;
            return Ok(Done::Nothing);
        }
        // Not confirmed (yet), or cancelled or refused by seQura: nothing to tell it.
        _ => return Ok(Done::Nothing),
    }
    let environment = s.environment.clone().unwrap_or_default();
    let Some(account) = onboarding::order_account(state, store, s.deployment.as_deref())
        .await?
        .filter(|a| a.environment.as_str() == environment)
    else {
        let message = match environment.as_str() {
            "live" => Message::new("log_msg_not_connected_env").term("environment", "log_env_live"),
            "sandbox" => {
                Message::new("log_msg_not_connected_env").term("environment", "log_env_sandbox")
            }
            other => Message::new("log_msg_not_connected_env").text("environment", other),
        };
        return Err(rejected(state, store, s, "update", message).await);
    };
    let api = lifecycle::store_api(state, store).await?;
    let id = s.bc_order_id.0;
    let (order, products, shipping, shipments, refunds) = tokio::try_join!(
        api.order(id),
        api.order_products(id),
        api.order_shipping_addresses(id),
        api.order_shipments(id),
        api.order_refunds(id),
    )?;
    let merchant_ref = s.merchant_ref.clone().unwrap_or_default();
    // The service lines follow the goods as the cart did (a product refunded by quantity
    // takes its registration and service lines with it), as seQura took them.
    let services =
        crate::checkout::services::solicited_services(state, store, &api, s, &products).await?;
    let order_data = OrderData {
        order: &order,
        products: &products,
        shipping: &shipping,
        shipments: &shipments,
        refunds: &refunds,
        checkout_id: &s.checkout_id,
    };
    let now = match services.and_then(|services| holding_for(&order_data, &services)) {
        Ok(h) => h,
        Err(e) => {
            let message = e.message();
            return Err(rejected(state, store, s, "update", message).await);
        }
    };
    let before: Option<Holding> = accepted
        .as_ref()
        .and_then(|a| serde_json::from_str(&a.accepted).ok());
    // Cancelled (or archived) after shipping: the unshipped goods are cancelled, the shipped
    // ones stay charged until refunded, and the merchant is told so once.
    let kept_now = now.shipped_kept && !before.as_ref().is_some_and(|b| b.shipped_kept);
    if let Some(b) = before
        .as_ref()
        .filter(|b| !resend && b.same_at_sequra(&now))
    {
        if !kept_now {
            if b.refunded != now.refunded {
                return Ok(Done::Recorded(Box::new(accepted_of(s, &now)?)));
            }
            return Ok(Done::InLine);
        }
        let saved = accepted_of(s, &now)?;
        let entry = Record::new(
            &state.i18n,
            store,
            &About::of(s),
            "cancellation",
            Outcome::Waiting,
            &Message::new("log_msg_shipped_kept"),
        );
        return Ok(Done::Sent(Box::new((saved, false, entry))));
    }
    let event = if kept_now {
        "cancellation"
    } else {
        event_name(before.as_ref(), &now)
    };
    let update = OrderUpdate {
        merchant: MerchantId {
            id: merchant_ref.clone(),
        },
        merchant_reference: MerchantReference {
            order_ref_1: Some(id.to_string()),
            order_ref_2: None,
        },
        unshipped_cart: now.unshipped_cart.clone(),
        shipped_cart: now.shipped_cart.clone(),
        trackings: shipments
            .iter()
            .filter(|sh| !sh.tracking_number.trim().is_empty())
            .map(|sh| Tracking {
                kind: "postal".into(),
                reference: sh.id.to_string(),
                carrier: Some(sh.shipping_provider.clone()).filter(|c| !c.is_empty()),
                tracking_number: Some(sh.tracking_number.clone()),
                tracking_url: Some(sh.tracking_link.clone()).filter(|l| !l.is_empty()),
                ..Default::default()
            })
            .collect(),
        delivery_method: Some(crate::checkout::delivery_method(&shipping)),
        delivery_address: Some(now.delivery_address.clone()),
        invoice_address: Some(now.invoice_address.clone()),
        customer: None,
        platform: Some(crate::checkout::payment::platform()),
    };
    // No confirmation of the older solicited cart may follow an update: the placement
    // confirms the order number under this lock, and finds it superseded. Recorded before the
    // update is sent, not after: seQura may take the update in whatever becomes of this
    // process (killed before it recorded seQura's answer, its placement would confirm after
    // the restart, before the update is sent again).
    let lock = crate::checkout::payment::notification_lock(state, store, s.id);
    let guard = lock.lock().await;
    let sid = s.id;
    state
        .db
        .call(move |c| db::solicitations::number_confirmation_superseded(c, sid))
        .await?;
    match state
        .sequra
        .update_order(&account, &merchant_ref, &id.to_string(), &update)
        .await
    {
        Ok(()) => {}
        Err(e) if e.is_transient() => return Err(JobError::from(e)),
        Err(e) => return Err(rejected(state, store, s, event, rejection_message(&e)).await),
    }
    drop(guard);
    let shipped_grew = now.shipped_units() > before.as_ref().map_or(0, Holding::shipped_units);
    let saved = accepted_of(s, &now)?;
    let message = summary(&now, kept_now);
    let entry = Record::new(
        &state.i18n,
        store,
        &About::of(s),
        event,
        Outcome::Sent,
        &message,
    );
    tracing::info!(order_id = id, event, "order update accepted by seQura");
    Ok(Done::Sent(Box::new((saved, shipped_grew, entry))))
}

/// What seQura holds after it accepted `h`.
fn accepted_of(s: &Solicitation, h: &Holding) -> Result<Accepted, JobError> {
    Ok(Accepted {
        solicitation_id: s.id,
        bc_order_id: s.bc_order_id,
        accepted: serde_json::to_string(h).map_err(|e| JobError::Permanent(e.to_string()))?,
        shipped_total: h.shipped_cart.order_total_with_tax,
        unshipped_total: h.unshipped_cart.order_total_with_tax,
        refunded_total: h.refunded,
        accepted_at: String::new(),
        shipped_at: None,
    })
}

/// Logs a rejection for the merchant to act on; the job fails with it.
async fn rejected(
    state: &AppState,
    store: &StoreHash,
    s: &Solicitation,
    event: &str,
    message: Message,
) -> JobError {
    record(
        state,
        store,
        &About::of(s),
        event,
        Outcome::Rejected,
        &message,
    )
    .await;
    JobError::Permanent(message.render(&state.i18n, Lang::En))
}

/// What kind of change this is, for the log.
fn event_name(before: Option<&Holding>, now: &Holding) -> &'static str {
    let refunded_before = before.map_or(0, |b| b.refunded);
    if now.is_closed() {
        if now.refunded > 0 {
            "refund"
        } else {
            "cancellation"
        }
    } else if now.refunded > refunded_before {
        "refund"
    } else if now.shipped_units() > before.map_or(0, Holding::shipped_units) {
        "shipment"
    } else {
        "update"
    }
}

/// The log line of an accepted update: the two carts' totals (and, cancelled after shipping,
/// that the shipped items stay charged).
fn summary(h: &Holding, shipped_kept: bool) -> Message {
    let key = if shipped_kept {
        "log_msg_update_sent_shipped_kept"
    } else {
        "log_msg_update_sent"
    };
    Message::new(key)
        .money("shipped", h.shipped_cart.order_total_with_tax)
        .money("unshipped", h.unshipped_cart.order_total_with_tax)
}

/// seQura's own words where it gave some, as they came.
fn rejection_message(e: &SequraError) -> Message {
    match e {
        SequraError::Conflict(messages) => Message::verbatim(messages.join("; ")),
        SequraError::Forbidden(m) | SequraError::NotFound(m) => Message::verbatim(m.clone()),
        SequraError::Rejected { message, .. } => Message::verbatim(message.clone()),
        SequraError::Unauthorized => Message::new("log_msg_sequra_unauthorized"),
        other => Message::verbatim(other.to_string()),
    }
}
