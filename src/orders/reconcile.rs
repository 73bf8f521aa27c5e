//! The reconciliation sweep, every few minutes (sequra-plugin-features.md §6 requirement 6):
//! whatever the events missed is found and queued.
//!
//! - seQura orders approved, put on hold or cancelled whose BigCommerce order never got the
//!   outcome (a crash or a lost job between the two) are placed;
//! - orders modified in BigCommerce since the last sweep with no webhook handled after the
//!   change are synced (missed or deactivated hooks);
//! - each store's webhooks, script and extension are checked and repaired (provisioning);
//! - payments the database lost or knows only in part, which the listed orders show, are
//!   recorded again; after a restore (`sequra-bc restore` leaves each store a recovery point),
//!   also the undecided ones and the Incomplete orders made since, every seQura order is
//!   rechecked once, and the orders changed since are sent their state again
//!   (`orders::recover`);
//! - the configuration webhook is registered with seQura where it is due (`remote`);
//! - finished jobs older than a week are forgotten.

use tracing::Instrument;

use crate::db;
use crate::domain::{BcOrderId, StoreHash};
use crate::orders::recover;
use crate::queue::{self, Job};
use crate::state::AppState;
use crate::stores::lifecycle;

/// How far back the first sweep of a store looks (seconds).
const FIRST_LOOK_BACK: i64 = 24 * 3600;
/// Overlap between sweeps, for clocks that disagree a little (seconds).
const OVERLAP: i64 = 120;
/// The largest read of one second's orders (the client reads at most 10 000 rows of a list).
const WHOLE_SECOND_MAX: usize = 10_000;
/// seQura orders rechecked by id each sweep (one request each): BigCommerce's orders list
/// leaves archived orders out.
const RECHECK_BATCH: usize = 20;
/// seQura orders rechecked by id by the first sweep after a restore: all of them, up to this.
const RECOVERY_RECHECK: usize = 2_000;
/// How far back orders are rechecked (days): seQura's orders of the last months are the
/// ones still shipped, refunded or archived.
const RECHECK_DAYS: i64 = 180;
/// Days a stored webhook delivery is kept.
const EVENT_RETENTION_DAYS: i64 = 30;

/// One sweep over every store.
pub async fn sweep(state: &AppState) {
    if let Err(e) = place_unplaced(state).await {
        tracing::warn!(error = %e, "reconciliation: unplaced orders");
    }
    let stores = match state.db.call(|c| db::stores::installed(c)).await {
        Ok(s) => s,
        Err(e) => {
            // The rest still runs, and the sweep still ends with its line.
            tracing::warn!(error = %e, "reconciliation: listing stores");
            Vec::new()
        }
    };
    let swept = stores.len();
    for store in stores {
        let span = crate::telemetry::store_span(&state.log_tag, &store);
        async {
            if let Err(e) = sweep_store(state, &store).await {
                tracing::warn!(store_hash = store.as_str(), error = %e, "reconciliation failed");
            }
        }
        .instrument(span)
        .await;
    }
    // Connected stores whose configuration webhook is not registered with seQura (connected
    // before this version, a changed public URL, a registration stuck a day), a batch a run.
    crate::remote::registration::sweep(state).await;
    purge(state).await;
    state.jobs.wake();
    // Once per sweep (every few minutes): the operator sees it ran, and the simulator knows a
    // restarted process's first sweep has queued what it found.
    tracing::info!(stores = swept, "{SWEEP_DONE}");
}

/// The log line that ends every sweep.
pub const SWEEP_DONE: &str = "reconciliation sweep done";

/// Finished jobs are kept a week (the dashboard and support read them); deliveries a month,
/// far past BigCommerce's last retry of one, so re-deliveries are still recognised; the
/// stores' log lines [`db::app_log::KEEP_DAYS`].
async fn purge(state: &AppState) {
    let week_ago = db::jobs::now_ms() - 7 * 24 * 3600 * 1000;
    if let Err(e) = state
        .db
        .call(move |c| db::jobs::purge_finished(c, week_ago))
        .await
    {
        tracing::warn!(error = %e, "reconciliation: purging old jobs");
    }
    let month_ago = db::timestamp(crate::clock::now() - time::Duration::days(EVENT_RETENTION_DAYS));
    if let Err(e) = state
        .db
        .call(move |c| db::webhook_events::purge_before(c, &month_ago))
        .await
    {
        tracing::warn!(error = %e, "reconciliation: purging old webhook deliveries");
    }
    let keep_from =
        db::timestamp(crate::clock::now() - time::Duration::days(db::app_log::KEEP_DAYS));
    if let Err(e) = state
        .db
        .call(move |c| db::app_log::prune(c, &keep_from))
        .await
    {
        tracing::warn!(error = %e, "reconciliation: purging old store log lines");
    }
}

async fn place_unplaced(state: &AppState) -> Result<(), db::DbError> {
    let queued = state
        .db
        .call(|c| {
            let tx = c.transaction()?;
            let mut queued = 0;
            for s in db::solicitations::unplaced(&tx, 500)? {
                let job = Job::PlaceOrder {
                    solicitation_id: s.id,
                    order_id: s.bc_order_id.0,
                };
                if !db::jobs::is_queued_or_failed(&tx, &s.store, &job.dedupe_key())? {
                    queue::enqueue(&tx, &s.store, &job)?;
                    queued += 1;
                }
            }
            tx.commit()?;
            Ok(queued)
        })
        .await?;
    if queued > 0 {
        tracing::info!(orders = queued, "reconciliation: unplaced orders queued");
    }
    Ok(())
}

async fn sweep_store(state: &AppState, store: &StoreHash) -> Result<(), crate::queue::JobError> {
    let hash = store.clone();
    let connected = state
        .db
        .call(move |c| Ok(db::sequra::connection(c, &hash)?.is_some()))
        .await?;
    let hash = store.clone();
    state
        .db
        .call(move |c| {
            queue::enqueue(c, &hash, &Job::Provision)?;
            Ok(())
        })
        .await?;
    if !connected {
        return Ok(());
    }
    let started = crate::clock::now().unix_timestamp();
    let hash = store.clone();
    let horizon = db::timestamp(crate::clock::now() - time::Duration::days(RECHECK_DAYS));
    let since = state
        .db
        .call(move |c| {
            Ok(match db::stores::reconciled_through(c, &hash)? {
                Some(t) => t,
                // The first sweep reads back to the store's oldest seQura order as well: an app
                // that was down longer than a day since its last sale (or never swept before
                // it stopped) would otherwise never see what changed then.
                None => db::solicitations::oldest_placed_since(c, &hash, &horizon)?
                    .map_or(started - FIRST_LOOK_BACK, |t| {
                        t.min(started - FIRST_LOOK_BACK)
                    }),
            })
        })
        .await?
        - OVERLAP;
    let api = lifecycle::store_api(state, store).await?;
    let mut batch = state
        .settings
        .jobs
        .reconcile_batch
        .clamp(1, WHOLE_SECOND_MAX);
    let mut read = api.orders_modified_since(since, batch).await?;
    // A read that could not finish even its first second (more orders changed in it than a
    // batch holds) would put the cursor back at that second for ever (BigCommerce's dates
    // have whole seconds): that second is read again with a larger batch, up to what one read
    // may hold.
    while read.resume_at == Some(since) && batch < WHOLE_SECOND_MAX {
        batch = (batch * 2).min(WHOLE_SECOND_MAX);
        read = api.orders_modified_since(since, batch).await?;
    }
    if read.resume_at.is_some_and(|at| at <= since) {
        tracing::warn!(
            store_hash = store.as_str(),
            orders = read.orders.len(),
            "reconciliation: more orders changed in one second than one read holds"
        );
    }
    let through = through(read.resume_at, since, started);
    let modified = read.orders;
    // After a restore: the point the store's database went back to (unix seconds).
    let hash = store.clone();
    let point = state
        .db
        .call(move |c| db::stores::recover_from(c, &hash))
        .await?;
    let recovering = point.as_deref().and_then(rfc3339_unix);
    // Payments the database lost (or knows only in part) that the listed orders show.
    let mut unrecovered = 0;
    for o in &modified {
        if look_at(state, store, o, recovering.is_some()).await?
            && let Err(e) = recover::payment(state, store, &api, o.id, None).await
        {
            tracing::warn!(store_hash = store.as_str(), order_id = o.id, error = %e,
                "reconciliation: recovering a payment");
            unrecovered += 1;
        }
    }
    if let Some(point) = recovering {
        match recover::undecided(state, store, &api, point).await {
            Ok(done) => {
                if done.recovered > 0 {
                    tracing::info!(
                        store_hash = store.as_str(),
                        payments = done.recovered,
                        "reconciliation: payments lost in a restore recovered"
                    );
                }
                unrecovered += done.failed;
            }
            Err(e) => {
                tracing::warn!(store_hash = store.as_str(), error = %e,
                    "reconciliation: recovering undecided payments");
                unrecovered += 1;
            }
        }
    }
    let listed: std::collections::HashSet<u64> = modified.iter().map(|o| o.id).collect();
    // After a restore every seQura order is rechecked once (an archive the restore lost is
    // found nowhere else), not twenty a sweep.
    let batch = if recovering.is_some() {
        RECOVERY_RECHECK
    } else {
        RECHECK_BATCH
    };
    let (archived, rechecked) = archived_unlisted(state, store, &api, &listed, batch).await?;
    let changes: Vec<(BcOrderId, Option<String>)> = modified
        .into_iter()
        .map(|o| (BcOrderId(o.id), o.date_modified))
        .chain(archived)
        .collect();
    // Changed around or after the recovery point: what seQura holds of them is not known.
    let mut resent = std::collections::HashSet::new();
    if let Some(point) = recovering {
        for (order, date_modified) in &changes {
            let after = date_modified
                .as_deref()
                .and_then(rfc2822)
                .is_some_and(|at| at.unix_timestamp() >= point - OVERLAP);
            if after && recover::resend(state, store, *order).await? {
                resent.insert(order.0);
            }
        }
    }
    let hash = store.clone();
    let queued = state
        .db
        .call(move |c| {
            let tx = c.transaction()?;
            let mut queued = 0;
            for (order, date_modified) in changes {
                let Some(s) = db::solicitations::for_order(&tx, &hash, order)? else {
                    continue;
                };
                if s.state != db::solicitations::SolicitationState::Approved {
                    continue;
                }
                let changed_at = date_modified
                    .as_deref()
                    .and_then(rfc2822_to_rfc3339)
                    .unwrap_or_default();
                if !resent.contains(&order.0)
                    && db::webhook_events::processed_since(&tx, &hash, order, &changed_at)?
                {
                    continue;
                }
                queue::enqueue(&tx, &hash, &Job::SyncOrder { order_id: order.0 })?;
                queued += 1;
            }
            db::solicitations::mark_rechecked(&tx, &hash, &rechecked)?;
            db::stores::set_reconciled_through(&tx, &hash, through)?;
            tx.commit()?;
            Ok(queued)
        })
        .await?;
    if queued > 0 {
        tracing::info!(
            store_hash = store.as_str(),
            orders = queued,
            "reconciliation: orders changed without a handled webhook"
        );
    }
    if let (Some(point), 0) = (point, unrecovered) {
        let hash = store.clone();
        state
            .db
            .call(move |c| db::stores::recovered(c, &hash, &point))
            .await?;
        tracing::info!(
            store_hash = store.as_str(),
            "reconciliation: recovered from the restore"
        );
    }
    Ok(())
}

/// Whether a listed order may show a payment the database lost or knows only in part: one
/// it does not know as decided that shows the app's payment; after a restore also one in
/// review (its approval may be on the order) and every seQura order (a cancellation may be).
async fn look_at(
    state: &AppState,
    store: &StoreHash,
    o: &crate::bigcommerce::models::OrderSummary,
    recovering: bool,
) -> Result<bool, crate::queue::JobError> {
    use db::solicitations::SolicitationState as S;
    let shows = recover::shows_sequra_payment(
        o.payment_method.as_deref(),
        o.payment_provider_id.as_deref(),
    );
    let (hash, id) = (store.clone(), BcOrderId(o.id));
    let known = state
        .db
        .call(move |c| db::solicitations::for_order(c, &hash, id))
        .await?;
    Ok(match known.map(|s| s.state) {
        None | Some(S::Created | S::Solicited | S::Rejected) => shows,
        Some(S::OnHold | S::Approved) => recovering,
        Some(S::Cancelled) => false,
    })
}

/// An RFC 3339 timestamp as unix seconds.
fn rfc3339_unix(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// The archived ones among the store's seQura orders rechecked this sweep, with their last
/// modification: an archive, or a change of an archived order, whose webhooks were lost is
/// found nowhere else. An order the list showed is not archived and costs no request; one
/// unchanged since its last recheck is not synced again (a sync the sweep queues marks no
/// delivery handled, so the delivery check alone would queue it every time). Also what was
/// rechecked, to record with the work it found. An order that cannot be read goes to the end
/// of the rotation like the others, so one failing order holds up none; a few failures end
/// this sweep's rechecks (BigCommerce is likely down).
async fn archived_unlisted(
    state: &AppState,
    store: &StoreHash,
    api: &crate::bigcommerce::client::StoreApi,
    listed: &std::collections::HashSet<u64>,
    batch: usize,
) -> Result<Rechecked, crate::queue::JobError> {
    let hash = store.clone();
    let since = db::timestamp(crate::clock::now() - time::Duration::days(RECHECK_DAYS));
    let candidates = state
        .db
        .call(move |c| db::solicitations::recheck_candidates(c, &hash, &since, batch))
        .await?;
    let mut archived = Vec::new();
    let mut checked = Vec::new();
    let mut failures = 0;
    let now = crate::clock::now().unix_timestamp();
    for (order, seen) in candidates {
        if listed.contains(&order.0) {
            checked.push((order, None));
            continue;
        }
        match api.order(order.0).await {
            Ok(o) => {
                if o.is_deleted && o.date_modified != seen {
                    archived.push((order, o.date_modified.clone()));
                }
                checked.push((order, settled_date(o.date_modified, now)));
            }
            // Gone for good (deleted outright): nothing left to compare.
            Err(crate::bigcommerce::client::BcError::NotFound(_)) => checked.push((order, None)),
            Err(e) => {
                tracing::warn!(store_hash = store.as_str(), order_id = order.0, error = %e,
                    "reconciliation: rechecking an order");
                checked.push((order, None));
                failures += 1;
                if failures >= 3 {
                    break;
                }
            }
        }
    }
    Ok((archived, checked))
}

/// The modification date a recheck records as seen: none (the last one kept) while it is
/// within `OVERLAP` of now, for another change in the same second (BigCommerce's dates have
/// whole seconds) or a clock a little behind would carry the same date and go unseen.
fn settled_date(date_modified: Option<String>, now: i64) -> Option<String> {
    let at = rfc2822(date_modified.as_deref()?)?;
    (at.unix_timestamp() < now - OVERLAP).then_some(date_modified?)
}

/// Archived orders changed since their last recheck, and every order rechecked (with the
/// modification date read).
type Rechecked = (
    Vec<(BcOrderId, Option<String>)>,
    Vec<(BcOrderId, Option<String>)>,
);

/// What the sweep records as reconciled through (the next starts `OVERLAP` before it), for a
/// read from `since` begun at `started` that stopped at `resume_at`. A read that stopped
/// short moves the cursor only to where it stopped: nothing before it is unread, and the next
/// sweep reads the rest. That second is BigCommerce's clock: the next sweep starts right at
/// it, without the overlap kept for our clock. One that could not get past its first second
/// even at the largest read (more orders changed in it than one read holds) leaves what it
/// did not read of that second to its webhooks.
fn through(resume_at: Option<i64>, since: i64, started: i64) -> i64 {
    match resume_at {
        None => started,
        Some(at) if at > since => at + OVERLAP,
        Some(at) => at + 1 + OVERLAP,
    }
}

/// BigCommerce's RFC 2822 dates as the RFC 3339 UTC strings the database compares.
fn rfc2822_to_rfc3339(s: &str) -> Option<String> {
    rfc2822(s).map(db::timestamp)
}

/// A date of BigCommerce's v2 API (RFC 2822).
fn rfc2822(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc2822).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_stops_where_the_read_stopped() {
        let (since, started) = (1_000, 5_000);
        // Read to the end: through the sweep's start.
        assert_eq!(through(None, since, started), started);
        // Stopped at 1 500: the next sweep starts there (its overlap taken off again).
        assert_eq!(through(Some(1_500), since, started) - OVERLAP, 1_500);
        // Stuck in its first second: past it, or it would be read again for ever.
        assert_eq!(through(Some(since), since, started) - OVERLAP, since + 1);
    }

    #[test]
    fn a_recheck_records_a_modification_date_only_once_it_is_settled() {
        let date = "Tue, 05 Mar 2024 10:20:30 +0000";
        let at = 1_709_634_030;
        assert_eq!(settled_date(Some(date.into()), at + 1), None);
        assert_eq!(settled_date(Some(date.into()), at + OVERLAP), None);
        assert_eq!(
            settled_date(Some(date.into()), at + OVERLAP + 1).as_deref(),
            Some(date)
        );
        assert_eq!(settled_date(Some("yesterday".into()), at), None);
        assert_eq!(settled_date(None, at), None);
    }

    #[test]
    fn bigcommerce_dates_compare_as_stored_timestamps() {
        assert_eq!(
            rfc2822_to_rfc3339("Tue, 05 Mar 2024 10:20:30 +0100").as_deref(),
            Some("2024-03-05T09:20:30Z")
        );
        assert_eq!(rfc2822_to_rfc3339("yesterday"), None);
    }
}
