//! What the merchant sees of seQura orders: the order panel, the transaction log with its
//! links and retries, and the dashboard's warning. The data comes from the `db` modules; this
//! module decides what it means (an order's state, what may be retried, what is stuck).

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::db;
use crate::db::order_sync::Accepted;
use crate::db::solicitations::SolicitationState;
use crate::db::transaction_log::{Entry, Filter, Outcome};
use crate::domain::{BcOrderId, StoreHash};
use crate::error::{AppError, Public};
use crate::i18n::{Catalogs, Lang, Message};
use crate::onboarding::FormErrors;
use crate::orders::{CONFIRMATION, control_panel_link, portal_link};
use crate::queue::{self, Job};
use crate::sequra::Deployment;
use crate::state::AppState;

/// Entries on one page of the log.
pub const PER_PAGE: u32 = 25;
/// Entries shown on an order's panel: an order rarely has more, and the log holds them all.
const PANEL_ENTRIES: usize = 50;
/// A job still pending after this many failed attempts (about a minute of backoff with the
/// default settings) is shown as stuck: by then it is not a passing hiccup.
const STUCK_AFTER_ATTEMPTS: i64 = 5;
/// Entries of an order looked at to tell whether its log accounts for a failed job.
const ACCOUNTING_LOOKBACK: usize = 20;

/// A log entry with where it leads.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    #[serde(flatten)]
    pub entry: Entry,
    /// The order in BigCommerce's control panel.
    pub order_url: Option<String>,
    /// The order in seQura's back office.
    pub portal_url: Option<String>,
    /// A Retry button applies: an unresolved rejection or failure of an order.
    pub retryable: bool,
    /// The storefront its order was paid on, when the store has more than one.
    pub storefront: Option<String>,
}

impl LogEntry {
    /// The message in `lang`: the app's own from its key and arguments, entries written
    /// before keys (and seQura's or BigCommerce's words) as stored.
    pub fn localize(&mut self, i18n: &Catalogs, lang: Lang) {
        let e = &mut self.entry;
        e.message = Message::render_stored(
            i18n,
            lang,
            e.message_key.as_deref(),
            e.message_args.as_deref(),
            &e.message,
        );
    }
}

fn is_retryable(e: &Entry) -> bool {
    // A second payment refused is a fact to know, not something to send again.
    e.event != crate::checkout::payment::DUPLICATE_PAYMENT
        && e.event != crate::checkout::payment::PAID_OTHERWISE
        && e.order.is_some()
        && matches!(e.outcome, Outcome::Rejected | Outcome::Failed)
        && e.resolved_at.is_none()
}

fn log_entry(
    state: &AppState,
    store: &StoreHash,
    names: &[(u64, String)],
    refs: &[(String, Deployment)],
    solicited_on: &[(String, String)],
    entry: Entry,
) -> LogEntry {
    LogEntry {
        storefront: storefront_name(names, entry.channel_id),
        order_url: entry.order.map(|o| control_panel_link(state, store, o)),
        portal_url: match (&entry.environment, &entry.sequra_uuid) {
            // The deployment it was solicited on, whichever lists its merchant ref now.
            (Some(env), Some(uuid)) => Some(portal_link(
                state,
                solicited_on
                    .iter()
                    .find(|(u, _)| u == uuid)
                    .and_then(|(_, d)| Deployment::parse(d))
                    .unwrap_or_else(|| deployment_of(refs, entry.merchant_ref.as_deref())),
                env,
                uuid,
            )),
            _ => None,
        },
        retryable: is_retryable(&entry),
        entry,
    }
}

// ---- the order panel ------------------------------------------------------------------------

/// Where a seQura order stands, as the merchant reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PanelState {
    /// The shopper has not finished seQura's form.
    Pending,
    /// seQura is reviewing the order (on hold).
    InReview,
    Approved,
    PartiallyShipped,
    Shipped,
    PartiallyRefunded,
    Refunded,
    Cancelled,
    /// seQura refused the payment.
    Rejected,
}

/// What seQura holds for the order, in cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Amounts {
    pub shipped: i64,
    pub unshipped: i64,
    pub refunded: i64,
}

/// The order panel of one seQura order.
#[derive(Debug, Clone, Serialize)]
pub struct OrderPanel {
    pub order_id: u64,
    /// The storefront it was paid on, when the store has more than one.
    pub storefront: Option<String>,
    pub sequra_uuid: String,
    pub state: PanelState,
    pub method_title: Option<String>,
    pub product: Option<String>,
    pub merchant_ref: Option<String>,
    pub environment: Option<String>,
    /// As seQura last accepted them; None until seQura confirmed the order.
    pub amounts: Option<Amounts>,
    /// The order's log, newest first.
    pub entries: Vec<LogEntry>,
    /// Changes seQura refused or that failed, not yet resolved: what seQura holds lags
    /// behind BigCommerce until they are.
    pub unresolved: usize,
    /// Only when seQura knows the order in a known environment.
    pub portal_url: Option<String>,
    pub control_panel_url: String,
}

/// The state label from the solicitation's state and what seQura last accepted: once
/// approved, the carts say how far shipping and refunds went.
pub fn panel_state(state: SolicitationState, accepted: Option<&Accepted>) -> PanelState {
    match state {
        SolicitationState::Created | SolicitationState::Solicited => PanelState::Pending,
        SolicitationState::OnHold => PanelState::InReview,
        SolicitationState::Cancelled => PanelState::Cancelled,
        SolicitationState::Rejected => PanelState::Rejected,
        SolicitationState::Approved => match accepted {
            None => PanelState::Approved,
            Some(a) if a.shipped_total == 0 && a.unshipped_total == 0 => {
                if a.refunded_total > 0 {
                    PanelState::Refunded
                } else {
                    PanelState::Cancelled
                }
            }
            Some(a) if a.refunded_total > 0 => PanelState::PartiallyRefunded,
            Some(a) if a.shipped_total > 0 && a.unshipped_total == 0 => PanelState::Shipped,
            Some(a) if a.shipped_total > 0 => PanelState::PartiallyShipped,
            Some(_) => PanelState::Approved,
        },
    }
}

/// The panel of `order`, or None when it was not paid with seQura (within this store only).
pub async fn order_panel(
    state: &AppState,
    store: &StoreHash,
    order: BcOrderId,
) -> Result<Option<OrderPanel>, AppError> {
    let hash = store.clone();
    let (solicitation, accepted, entries, names, refs, solicited_on) = state
        .db
        .call(move |c| {
            let entries = db::transaction_log::for_order(c, &hash, order, PANEL_ENTRIES)?;
            let solicited_on = solicited_on(c, &hash, &entries)?;
            Ok((
                db::solicitations::for_order(c, &hash, order)?,
                db::order_sync::get(c, &hash, order)?,
                entries,
                storefront_names(c, &hash)?,
                merchant_deployments(c, &hash)?,
                solicited_on,
            ))
        })
        .await?;
    let Some(s) = solicitation else {
        return Ok(None);
    };
    // A row left by an earlier solicitation of the same order is not this one's.
    let accepted = accepted.filter(|a| a.solicitation_id == s.id);
    let uuid = s.sequra_uuid.clone().unwrap_or_default();
    let portal_url = match (&s.environment, uuid.is_empty()) {
        // The deployment it was solicited on, whichever lists its merchant ref now.
        (Some(env), false) => Some(portal_link(
            state,
            s.deployment
                .as_deref()
                .and_then(Deployment::parse)
                .unwrap_or_else(|| deployment_of(&refs, s.merchant_ref.as_deref())),
            env,
            &uuid,
        )),
        _ => None,
    };
    Ok(Some(OrderPanel {
        order_id: order.0,
        state: panel_state(s.state, accepted.as_ref()),
        amounts: accepted.as_ref().map(|a| Amounts {
            shipped: a.shipped_total,
            unshipped: a.unshipped_total,
            refunded: a.refunded_total,
        }),
        unresolved: entries.iter().filter(|e| is_retryable(e)).count(),
        entries: entries
            .into_iter()
            .map(|e| log_entry(state, store, &names, &refs, &solicited_on, e))
            .collect(),
        storefront: storefront_name(&names, Some(s.channel_id.unwrap_or(1))),
        portal_url,
        control_panel_url: control_panel_link(state, store, order.0),
        sequra_uuid: uuid,
        method_title: s.method_title,
        product: s.product,
        merchant_ref: s.merchant_ref,
        environment: s.environment,
    }))
}

// ---- the transaction log --------------------------------------------------------------------

/// The log's filters and page, parsed from what the merchant typed.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub filter: Filter,
    /// 1-based.
    pub page: u32,
}

/// A day typed as `YYYY-MM-DD` (what `<input type=date>` sends).
fn parse_day(s: &str) -> Option<time::Date> {
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

impl LogQuery {
    /// Parses the filter fields (empty means "any"); every bad field gets its message.
    pub fn parse(
        order: &str,
        outcome: &str,
        from: &str,
        to: &str,
        storefront: &str,
        page: &str,
    ) -> Result<Self, FormErrors> {
        let (order, outcome, from, to, page) = (
            order.trim().trim_start_matches('#'),
            outcome.trim(),
            from.trim(),
            to.trim(),
            page.trim(),
        );
        let mut errors = FormErrors::default();
        let mut q = LogQuery {
            page: 1,
            ..Default::default()
        };
        if !order.is_empty() {
            match BcOrderId::parse(order) {
                Ok(o) => q.filter.order = Some(o),
                Err(_) => {
                    errors = errors.field_with("order", "err_log_order", Some(order.into()));
                }
            }
        }
        let storefront = storefront.trim();
        if !storefront.is_empty() {
            match storefront.parse::<u64>() {
                Ok(c) if c >= 1 && !storefront.starts_with('+') => q.filter.storefront = Some(c),
                _ => errors = errors.field("storefront", "err_log_storefront"),
            }
        }
        if !outcome.is_empty() {
            match Outcome::parse(outcome) {
                Some(o) => q.filter.outcome = Some(o),
                None => errors = errors.field("outcome", "err_log_outcome"),
            }
        }
        let mut days = [None, None];
        for (i, (name, value)) in [("from", from), ("to", to)].into_iter().enumerate() {
            if value.is_empty() {
                continue;
            }
            match parse_day(value) {
                Some(d) => days[i] = Some(d),
                None => errors = errors.field_with(name, "err_log_date", Some(value.into())),
            }
        }
        if let [Some(from), Some(to)] = days
            && from > to
        {
            errors = errors.field("to", "err_log_date_order");
        }
        // Canonical `YYYY-MM-DD`, which the stored RFC 3339 times compare against.
        let [from, to] = days.map(|d| d.map(|d| d.to_string()));
        (q.filter.from, q.filter.to) = (from, to);
        if !page.is_empty() {
            match page.parse::<u32>() {
                Ok(n) if n >= 1 && !page.starts_with('+') => q.page = n,
                _ => errors = errors.field("page", "err_log_page"),
            }
        }
        if errors.is_empty() {
            Ok(q)
        } else {
            Err(errors)
        }
    }
}

/// One page of the log.
#[derive(Debug, Clone, Serialize)]
pub struct LogPage {
    pub entries: Vec<LogEntry>,
    pub page: u32,
    pub has_next: bool,
    /// The store's storefronts (channel, name) to filter by, when it has more than one.
    pub storefronts: Vec<(u64, String)>,
}

/// The deployment of each merchant ref the store's accounts list.
fn merchant_deployments(
    c: &rusqlite::Connection,
    store: &StoreHash,
) -> Result<Vec<(String, Deployment)>, db::DbError> {
    Ok(db::sequra::merchants(c, store)?
        .into_iter()
        .filter_map(|m| {
            Some((
                m.merchant_ref.as_str().to_string(),
                Deployment::parse(&m.deployment)?,
            ))
        })
        .collect())
}

/// The deployment each entry's seQura order was solicited on.
fn solicited_on(
    c: &rusqlite::Connection,
    store: &StoreHash,
    entries: &[Entry],
) -> Result<Vec<(String, String)>, db::DbError> {
    let mut uuids: Vec<String> = entries
        .iter()
        .filter_map(|e| e.sequra_uuid.clone())
        .collect();
    uuids.sort();
    uuids.dedup();
    db::solicitations::deployments_of(c, store, &uuids)
}

/// The deployment of a merchant ref (one no account lists any more: seQura's).
fn deployment_of(refs: &[(String, Deployment)], merchant_ref: Option<&str>) -> Deployment {
    merchant_ref
        .and_then(|m| refs.iter().find(|(r, _)| r == m))
        .map_or(Deployment::Sequra, |(_, d)| *d)
}

/// The store's storefronts by channel, gone ones too (old orders were paid on them).
fn storefront_names(
    c: &rusqlite::Connection,
    store: &StoreHash,
) -> Result<Vec<(u64, String)>, db::DbError> {
    Ok(db::storefronts::list_all(c, store)?
        .into_iter()
        .map(|s| (s.channel_id, s.name))
        .collect())
}

/// A storefront's name, when the store has more than one (one storefront names nothing).
fn storefront_name(names: &[(u64, String)], channel: Option<u64>) -> Option<String> {
    if names.len() < 2 {
        return None;
    }
    let channel = channel?;
    names
        .iter()
        .find(|(c, _)| *c == channel)
        .map(|(_, n)| n.clone())
}

/// The store's log, newest first, [`PER_PAGE`] entries per page.
pub async fn log_page(
    state: &AppState,
    store: &StoreHash,
    filter: &Filter,
    page: u32,
) -> Result<LogPage, AppError> {
    let (hash, f) = (store.clone(), filter.clone());
    let ((entries, has_next), names, refs, solicited_on) = state
        .db
        .call(move |c| {
            let (entries, has_next) = db::transaction_log::list(c, &hash, &f, page, PER_PAGE)?;
            let solicited_on = solicited_on(c, &hash, &entries)?;
            Ok((
                (entries, has_next),
                storefront_names(c, &hash)?,
                merchant_deployments(c, &hash)?,
                solicited_on,
            ))
        })
        .await?;
    Ok(LogPage {
        entries: entries
            .into_iter()
            .map(|e| log_entry(state, store, &names, &refs, &solicited_on, e))
            .collect(),
        page,
        has_next,
        storefronts: if names.len() > 1 { names } else { Vec::new() },
    })
}

/// Sends the order of an unresolved rejection or failure to seQura again: queues its
/// `sync_order` job (which reads the order afresh), or its `place_order` job when what failed
/// was giving the order seQura's outcome, and wakes the workers. The entry becomes resolved
/// once that goes through. Returns the order.
pub async fn retry(
    state: &AppState,
    store: &StoreHash,
    entry_id: i64,
) -> Result<BcOrderId, AppError> {
    let hash = store.clone();
    let queued = state
        .db
        .call(move |c| {
            let tx = c.transaction()?;
            let Some(entry) = db::transaction_log::get(&tx, &hash, entry_id)? else {
                return Ok(Err(AppError::NotFound));
            };
            let order = match entry.order {
                Some(o) if is_retryable(&entry) => BcOrderId(o),
                _ => {
                    return Ok(Err(AppError::BadRequest(Public::new(
                        "err_log_not_retryable",
                    ))));
                }
            };
            let job = match db::solicitations::for_order(&tx, &hash, order)? {
                Some(s) if entry.event == CONFIRMATION && s.placed_at.is_none() => {
                    Job::PlaceOrder {
                        solicitation_id: s.id,
                        order_id: order.0,
                    }
                }
                _ => Job::SyncOrder { order_id: order.0 },
            };
            queue::enqueue(&tx, &hash, &job)?;
            // One already waiting (a placement that keeps trying) goes now, not at the end of
            // its backoff.
            db::jobs::run_now(&tx, &hash, &job.dedupe_key())?;
            tx.commit()?;
            Ok(Ok(order))
        })
        .await??;
    state.jobs.wake();
    tracing::info!(
        order_id = queued.0,
        entry_id,
        "merchant retried an order update"
    );
    Ok(queued)
}

// ---- the dashboard ----------------------------------------------------------------------------

/// A job that keeps failing, as the dashboard lists it.
#[derive(Debug, Clone, Serialize)]
pub struct StuckView {
    pub kind: String,
    /// `pending` (still retrying) or `failed`.
    pub state: String,
    pub attempts: i64,
    pub last_error: String,
    pub order: Option<u64>,
    pub order_url: Option<String>,
}

/// What needs the merchant's attention.
#[derive(Debug, Clone, Serialize)]
pub struct Problems {
    /// Unresolved rejections and failures in the log.
    pub open: i64,
    pub stuck: Vec<StuckView>,
}

impl Problems {
    pub fn any(&self) -> bool {
        self.open > 0 || !self.stuck.is_empty()
    }
}

/// Unix seconds of an RFC 3339 time (the log's timestamps have whole seconds).
fn unix_secs(rfc3339: &str) -> Option<i64> {
    OffsetDateTime::parse(rfc3339, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// A failed job of an order needs no mention of its own when the order's log, from the
/// second the job was queued on, already accounts for it: a later update went through (the
/// problem is gone), or a rejection or failure was recorded (the log shows it, with Retry).
fn accounted_for(job_created_ms: i64, entries: &[Entry]) -> bool {
    let queued = job_created_ms.div_euclid(1000);
    entries.iter().any(|e| {
        matches!(
            e.outcome,
            Outcome::Sent | Outcome::Rejected | Outcome::Failed
        ) && unix_secs(&e.created_at).is_some_and(|t| t >= queued)
    })
}

/// Open problems and stuck jobs of the store.
pub async fn dashboard_problems(state: &AppState, store: &StoreHash) -> Result<Problems, AppError> {
    let hash = store.clone();
    let (open, stuck) = state
        .db
        .call(move |c| {
            let open = db::transaction_log::open_problems(c, &hash)?;
            let mut stuck = Vec::new();
            for job in db::jobs::stuck(c, &hash, STUCK_AFTER_ATTEMPTS)? {
                let order = serde_json::from_str::<Job>(&job.payload)
                    .ok()
                    .and_then(|j| j.order_id());
                if let (Some(o), "failed") = (order, job.state.as_str()) {
                    let entries = db::transaction_log::for_order(
                        c,
                        &hash,
                        BcOrderId(o),
                        ACCOUNTING_LOOKBACK,
                    )?;
                    if accounted_for(job.created_at, &entries) {
                        continue;
                    }
                }
                stuck.push((job, order));
            }
            Ok((open, stuck))
        })
        .await?;
    Ok(Problems {
        open,
        stuck: stuck
            .into_iter()
            .map(|(j, order)| StuckView {
                kind: j.kind,
                state: j.state,
                attempts: j.attempts,
                last_error: j.last_error,
                order_url: order.map(|o| control_panel_link(state, store, o)),
                order,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(shipped: i64, unshipped: i64, refunded: i64) -> Accepted {
        Accepted {
            solicitation_id: 1,
            bc_order_id: BcOrderId(100),
            accepted: String::new(),
            shipped_total: shipped,
            unshipped_total: unshipped,
            refunded_total: refunded,
            accepted_at: String::new(),
            shipped_at: None,
        }
    }

    #[test]
    fn the_panel_state_follows_the_solicitation_then_the_carts() {
        use PanelState as P;
        use SolicitationState as S;
        assert_eq!(panel_state(S::Solicited, None), P::Pending);
        assert_eq!(
            panel_state(S::OnHold, Some(&accepted(0, 5000, 0))),
            P::InReview
        );
        assert_eq!(panel_state(S::Cancelled, None), P::Cancelled);
        assert_eq!(panel_state(S::Rejected, None), P::Rejected);
        assert_eq!(panel_state(S::Approved, None), P::Approved);
        let cases = [
            ((0, 5000, 0), P::Approved),
            ((2000, 3000, 0), P::PartiallyShipped),
            ((5000, 0, 0), P::Shipped),
            ((4000, 0, 1000), P::PartiallyRefunded),
            ((0, 0, 5000), P::Refunded),
            ((0, 0, 0), P::Cancelled),
        ];
        for ((s, u, r), want) in cases {
            assert_eq!(
                panel_state(S::Approved, Some(&accepted(s, u, r))),
                want,
                "{s} {u} {r}"
            );
        }
    }

    #[test]
    fn filters_parse_or_say_what_is_wrong() {
        let q = LogQuery::parse("#106", "rejected", "2026-01-02", "2026-01-31", "2", "3").unwrap();
        assert_eq!(q.filter.order, Some(BcOrderId(106)));
        assert_eq!(q.filter.outcome, Some(Outcome::Rejected));
        assert_eq!(q.filter.from.as_deref(), Some("2026-01-02"));
        assert_eq!(q.filter.to.as_deref(), Some("2026-01-31"));
        assert_eq!(q.filter.storefront, Some(2));
        assert_eq!(q.page, 3);
        let all = LogQuery::parse("", "", "", "", "", "").unwrap();
        assert_eq!(all.page, 1);
        assert!(all.filter.order.is_none() && all.filter.from.is_none());

        let e = LogQuery::parse("abc", "lost", "2026-13-01", "yesterday", "x", "0").unwrap_err();
        let fields: Vec<&str> = e.fields.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            ["from", "order", "outcome", "page", "storefront", "to"]
        );
        let e = LogQuery::parse("", "", "2026-02-01", "2026-01-01", "", "").unwrap_err();
        assert_eq!(e.fields["to"].key, "err_log_date_order");
        for bad_page in ["-1", "+2", "1.5", "99999999999"] {
            assert!(
                LogQuery::parse("", "", "", "", "", bad_page).is_err(),
                "{bad_page}"
            );
        }
    }

    fn entry(outcome: Outcome, created_at: &str) -> Entry {
        Entry {
            id: 1,
            order: Some(100),
            sequra_uuid: None,
            environment: None,
            merchant_ref: None,
            event: "update".into(),
            outcome,
            message: String::new(),
            created_at: created_at.into(),
            resolved_at: None,
            channel_id: None,
            message_key: None,
            message_args: None,
        }
    }

    #[test]
    fn only_open_rejections_and_failures_of_an_order_can_be_retried() {
        assert!(is_retryable(&entry(Outcome::Rejected, "")));
        assert!(is_retryable(&entry(Outcome::Failed, "")));
        assert!(!is_retryable(&entry(Outcome::Sent, "")));
        assert!(!is_retryable(&entry(Outcome::Waiting, "")));
        let mut resolved = entry(Outcome::Rejected, "");
        resolved.resolved_at = Some("2026-01-01T00:00:00Z".into());
        assert!(!is_retryable(&resolved));
        let mut report = entry(Outcome::Failed, "");
        report.order = None;
        assert!(!is_retryable(&report));
    }

    #[test]
    fn a_failed_job_is_left_to_the_log_when_the_log_has_news_of_the_order_since() {
        let queued_ms = unix_secs("2026-01-01T10:00:00Z").unwrap() * 1000 + 500;
        // Its own rejection, recorded within the same second.
        assert!(accounted_for(
            queued_ms,
            &[entry(Outcome::Rejected, "2026-01-01T10:00:00Z")]
        ));
        assert!(accounted_for(
            queued_ms,
            &[entry(Outcome::Sent, "2026-01-01T10:05:00Z")]
        ));
        assert!(accounted_for(
            queued_ms,
            &[entry(Outcome::Failed, "2026-01-02T00:00:00Z")]
        ));
        // Older news, or only a wait, say nothing about this job.
        assert!(!accounted_for(
            queued_ms,
            &[
                entry(Outcome::Sent, "2026-01-01T09:59:59Z"),
                entry(Outcome::Waiting, "2026-01-01T10:05:00Z")
            ]
        ));
        assert!(!accounted_for(queued_ms, &[]));
    }
}
