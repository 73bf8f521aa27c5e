//! The daily delivery report (sequra-api.md §9): once a day at the configured time, per
//! environment and merchant ref, for stores with "send order reports" on — the orders whose
//! shipped cart grew since the last report, with the last week's statistics.
//!
//! A report is claimed once per day in the database (unique per store, environment, merchant
//! ref and day) together with its job, so it goes once even across restarts, and the job
//! retries it until seQura takes it.

use std::collections::BTreeSet;

use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::{Duration, OffsetDateTime, Time};

use crate::bigcommerce::models::Order;
use crate::db;
use crate::db::transaction_log::Outcome;
use crate::domain::StoreHash;
use crate::i18n::{Lang, Message};
use crate::onboarding;
use crate::orders::holding::Holding;
use crate::orders::{About, record};
use crate::queue::{self, Job, JobError};
use crate::sequra::models::{
    DeliveryReport, MerchantId, MerchantReference, ReportedOrder, Statistics, StatisticsOrder,
};
use crate::state::AppState;
use crate::stores::lifecycle;

/// Statistics cover the last week's orders.
const STATISTICS_DAYS: i64 = 7;
/// At most this many orders in the statistics.
const MAX_STATISTICS: usize = 5000;

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Whether today's report time has passed at `now`.
pub fn is_due(now: OffsetDateTime, (hour, minute): (u8, u8)) -> bool {
    let at = Time::from_hms(hour, minute, 0).unwrap_or(Time::MIDNIGHT);
    now.time() >= at
}

/// Claims and queues the reports due now (called every minute).
pub async fn schedule(state: &AppState) {
    let time = state.settings.jobs.report_time().unwrap_or((2, 0));
    let now = crate::clock::now();
    if !is_due(now, time) {
        return;
    }
    let stores = match state.db.call(|c| db::stores::installed(c)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "delivery reports: listing stores");
            return;
        }
    };
    let (date, end, default_start) = (
        now.date().to_string(),
        rfc3339(now),
        rfc3339(now - Duration::days(1)),
    );
    for store in stores {
        let (date, end, default_start) = (date.clone(), end.clone(), default_start.clone());
        let queued = state
            .db
            .call(move |c| {
                let Some(connection) = db::sequra::connection(c, &store)? else {
                    return Ok(0);
                };
                if !db::settings::general(c, &store)?.send_order_reports {
                    return Ok(0);
                }
                let refs: BTreeSet<String> = db::settings::countries(c, &store)?
                    .into_iter()
                    .map(|(_, r)| r.to_string())
                    .collect();
                let tx = c.transaction()?;
                let mut queued = 0;
                for merchant_ref in refs {
                    let env = connection.environment.as_str();
                    let start = db::delivery_reports::next_period_start(
                        &tx,
                        &store,
                        env,
                        &merchant_ref,
                        &default_start,
                    )?;
                    if let Some(report_id) = db::delivery_reports::claim_day(
                        &tx,
                        &store,
                        env,
                        &merchant_ref,
                        &date,
                        &start,
                        &end,
                    )? {
                        queue::enqueue(&tx, &store, &Job::DeliveryReport { report_id })?;
                        queued += 1;
                    }
                }
                tx.commit()?;
                Ok(queued)
            })
            .await;
        match queued {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(reports = n, "delivery reports queued");
                state.jobs.wake();
            }
            Err(e) => tracing::warn!(error = %e, "delivery reports: scheduling"),
        }
    }
}

/// The `delivery_report` job.
pub async fn send(state: &AppState, store: &StoreHash, report_id: i64) -> Result<(), JobError> {
    let hash = store.clone();
    let Some(report) = state
        .db
        .call(move |c| db::delivery_reports::get(c, &hash, report_id))
        .await?
    else {
        return Ok(());
    };
    if report.sent_at.is_some() {
        return Ok(());
    }
    let about = About {
        environment: Some(&report.environment),
        merchant_ref: Some(&report.merchant_ref),
        ..About::default()
    };
    let Some(account) = onboarding::sequra_account(state, store, &report.merchant_ref)
        .await?
        .filter(|a| a.environment.as_str() == report.environment)
    else {
        let message = Message::new("log_msg_store_disconnected");
        record(
            state,
            store,
            &about,
            "delivery_report",
            Outcome::Rejected,
            &message,
        )
        .await;
        return Err(JobError::Permanent(message.render(&state.i18n, Lang::En)));
    };
    let (hash, r) = (store.clone(), report.clone());
    let (shipped, countries) = state
        .db
        .call(move |c| {
            Ok((
                db::order_sync::shipped_between(
                    c,
                    &hash,
                    &r.environment,
                    &r.merchant_ref,
                    &r.period_start,
                    &r.period_end,
                )?,
                db::settings::countries(c, &hash)?,
            ))
        })
        .await?;
    // A store selling with several merchant refs (another country's, another deployment's)
    // tells each only of its own countries' orders; with one, the whole store's week.
    let several = countries
        .iter()
        .any(|(_, m)| m.as_str() != report.merchant_ref);
    let of_ref = |o: &&Order| {
        !several
            || countries.iter().any(|(c, m)| {
                m.as_str() == report.merchant_ref
                    && c.code()
                        .eq_ignore_ascii_case(&o.billing_address.country_iso2)
            })
    };
    let orders: Vec<ReportedOrder> = shipped
        .iter()
        .filter_map(|a| {
            let h: Holding = serde_json::from_str(&a.accepted).ok()?;
            Some(ReportedOrder {
                state: "shipped".into(),
                sent_at: a.shipped_at.clone().unwrap_or_default(),
                merchant_reference: MerchantReference {
                    order_ref_1: Some(a.bc_order_id.to_string()),
                    order_ref_2: None,
                },
                cart: h.shipped_cart,
                remaining_cart: h.unshipped_cart,
                trackings: None,
                delivery_method: None,
                delivery_address: Some(h.delivery_address),
                invoice_address: Some(h.invoice_address),
                customer: None,
            })
        })
        .collect();
    let api = lifecycle::store_api(state, store).await?;
    let week_ago = crate::clock::now() - Duration::days(STATISTICS_DAYS);
    let recent = api
        .orders_created_since(week_ago.unix_timestamp(), MAX_STATISTICS)
        .await?;
    let body = DeliveryReport {
        merchant: MerchantId {
            id: report.merchant_ref.clone(),
        },
        orders,
        broken_orders: Vec::new(),
        statistics: Statistics {
            orders: recent.iter().filter(of_ref).map(statistics_order).collect(),
        },
        platform: crate::checkout::payment::platform(),
    };
    let count = body.orders.len() as i64;
    match state
        .sequra
        .delivery_report(&account, &report.merchant_ref, &body)
        .await
    {
        Ok(()) => {}
        Err(e) if e.is_transient() => return Err(e.into()),
        Err(e) => {
            let message = Message::new("log_msg_report_refused").text("detail", e.to_string());
            record(
                state,
                store,
                &about,
                "delivery_report",
                Outcome::Rejected,
                &message,
            )
            .await;
            return Err(JobError::Permanent(message.render(&state.i18n, Lang::En)));
        }
    }
    state
        .db
        .call(move |c| db::delivery_reports::mark_sent(c, report_id, count))
        .await?;
    let message = Message::new("log_msg_report_sent")
        .text("date", report.report_date.to_string())
        .text("shipped", count.to_string())
        .text("orders", body.statistics.orders.len().to_string());
    record(
        state,
        store,
        &about,
        "delivery_report",
        Outcome::Sent,
        &message,
    )
    .await;
    Ok(())
}

/// One order of the last week as seQura's statistics describe it.
fn statistics_order(o: &Order) -> StatisticsOrder {
    let method = o.payment_method.clone().unwrap_or_default();
    let is_sequra = method.to_ascii_lowercase().starts_with("sequra");
    let code = match method.to_ascii_lowercase().as_str() {
        _ if is_sequra => "SQ".to_string(),
        m if m.contains("card") => "CC".into(),
        m if m.contains("paypal") => "PP".into(),
        m if m.contains("bank") || m.contains("transfer") => "TR".into(),
        m if m.contains("cash on delivery") || m == "cod" => "COD".into(),
        _ => format!("O/{method}"),
    };
    let status = match o.status_id {
        2 | 10 => "shipped",
        4..=6 => "cancelled",
        _ => "processing",
    };
    let completed_at = o
        .date_created
        .as_deref()
        .and_then(|d| OffsetDateTime::parse(d.trim(), &Rfc2822).ok())
        .map(rfc3339)
        .unwrap_or_default();
    StatisticsOrder {
        completed_at,
        amount: o.total_inc_tax,
        currency: o.transactional_currency().to_string(),
        merchant_reference: MerchantReference {
            order_ref_1: Some(o.id.to_string()),
            order_ref_2: None,
        },
        payment_method: code,
        country: o.billing_address.country_iso2.clone(),
        device: None,
        status: status.into(),
        raw_status: crate::bigcommerce::models::status_name(o.status_id).into(),
        sequra_offered: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_report_is_due_from_its_time_until_midnight() {
        assert!(!is_due(datetime!(2026-11-28 01:59 UTC), (2, 0)));
        assert!(is_due(datetime!(2026-11-28 02:00 UTC), (2, 0)));
        assert!(is_due(datetime!(2026-11-28 23:59 UTC), (2, 0)));
        assert!(is_due(datetime!(2026-11-28 00:00 UTC), (0, 0)));
    }
}
