//! Recovery after a restore (issue 17). A database put back in time (a backup, a Litestream
//! replica) lost what happened after its recovery point, while BigCommerce and seQura kept it.
//! seQura has no API to read an order back, so the app finds what it lost where it left a
//! record outside its database:
//!
//! - seQura's outcome of a payment: the BigCommerce order's private mark (`orders::mark`),
//!   written before seQura's notification is answered, and its `payment_provider_id` (the
//!   seQura reference) once placed. A payment the database does not know, or knows only as
//!   started or in review, is recorded again from there ([`payment`]); one the order does not
//!   show placed is confirmed with seQura again first (the confirmation changes nothing at
//!   seQura when it was confirmed already, and seQura's refusal says it was not), then placed.
//!   The reconciliation finds them among the orders it lists, and after a restore among the
//!   payments the database knows as undecided and the Incomplete orders made since.
//! - A notification about a seQura order the database does not know ([`for_notification`]):
//!   recorded again from the order's mark, or from the notification itself when the payment
//!   was started in the time lost (the notification is signed for its order), then handled.
//! - Shipments, refunds, cancellations whose webhooks were acknowledged in the time lost: the
//!   reconciliation reads the orders changed since its cursor, which went back with the
//!   database. What seQura holds of an order changed around the recovery point is not known
//!   any more: its state is sent once more (an Order Update carries the whole state, so the
//!   same state twice counts nothing twice).
//!
//! Each repair is written in the transaction log (event `recovery`) in the merchant's
//! language; what cannot be repaired is too.

use crate::bigcommerce::client::StoreApi;
use crate::bigcommerce::models::Order;
use crate::checkout::notification::{Notification, NotifiedState};
use crate::checkout::payment::{confirmation, confirmed_holding, order_data};
use crate::db;
use crate::db::solicitations::{
    AttemptState, NewAttempt, Recovered, Solicitation, SolicitationState,
};
use crate::db::transaction_log::Outcome;
use crate::domain::{BcOrderId, StoreHash};
use crate::error::AppError;
use crate::i18n::Message;
use crate::onboarding;
use crate::orders::mark::{self, PaymentMark};
use crate::orders::{About, notification_lock, record};
use crate::queue::{self, Job, JobError};
use crate::sequra::SequraError;
use crate::state::AppState;

/// The log's event for every repair after a restore.
pub const RECOVERY: &str = "recovery";

/// How far before the recovery point an undecided payment may have been started and still be
/// decided by seQura after it (seconds): a shopper leaves the form open, a review takes hours.
const UNDECIDED_LOOK_BACK: i64 = 2 * 24 * 3600;
/// The most undecided payments and Incomplete orders one recovery looks at (one request each).
const DEEP_MAX: usize = 2_000;
/// Incomplete orders made this long before the recovery point are looked at too (seconds):
/// clocks that disagree a little.
const INCOMPLETE_MARGIN: i64 = 120;

/// The payment method BigCommerce shows for an order the app placed: "seQura – <method>".
const METHOD_PREFIX: &str = "seQura";

/// The seQura outcome in the merchant's words (a catalog term).
fn outcome_term(s: SolicitationState) -> &'static str {
    match s {
        SolicitationState::Approved => "log_outcome_approved",
        SolicitationState::OnHold => "log_outcome_on_hold",
        _ => "log_outcome_cancelled",
    }
}

/// Whether the listed order shows a payment of the app's (it writes "seQura – …" and the
/// seQura reference when it places one).
pub fn shows_sequra_payment(method: Option<&str>, provider_id: Option<&str>) -> bool {
    method.is_some_and(|m| m.trim_start().starts_with(METHOD_PREFIX))
        && provider_id.is_some_and(|p| !p.trim().is_empty())
}

/// Whether recovery may move a solicitation from `from` to `to`: forward only (in review →
/// approved → cancelled), never out of a refusal, and never back.
fn moves_forward(from: SolicitationState, to: SolicitationState) -> bool {
    use SolicitationState as S;
    matches!(
        (from, to),
        (
            S::Created | S::Solicited,
            S::OnHold | S::Approved | S::Cancelled
        ) | (S::OnHold, S::Approved | S::Cancelled)
            | (S::Approved, S::Cancelled)
    )
}

/// Whether the order's mark records a later outcome than the database's `state` (it was
/// restored to a point before it).
pub fn is_behind(state: SolicitationState, mark: &PaymentMark) -> bool {
    mark.outcome().is_some_and(|m| moves_forward(state, m))
}

/// Looks at BigCommerce order `order_id` for a payment the database lost or knows only in
/// part, and records it again (see the module's doc). `mark`: the order's mark when the caller
/// read it already. True when something was recovered.
pub async fn payment(
    state: &AppState,
    store: &StoreHash,
    api: &StoreApi,
    order_id: u64,
    mark: Option<PaymentMark>,
) -> Result<bool, JobError> {
    let order_lock = state
        .payment_locks
        .lock_for(format!("recover:{store}:{order_id}"));
    let _order = order_lock.lock().await;
    let mark = match mark {
        Some(m) => Some(m),
        None => mark::read(api, order_id).await?,
    };
    let order = api.order(order_id).await?;
    let Some(found) = Found::of(state, store, api, &order, mark).await? else {
        return Ok(false);
    };
    let hash = store.clone();
    let (id, uuid) = (BcOrderId(order_id), found.mark.reference.clone());
    let known = state
        .db
        .call(move |c| db::solicitations::for_order_uuid(c, &hash, id, &uuid))
        .await?;
    let from = known.as_ref().map(|(s, _)| s.state);
    if let Some(from) = from
        && !moves_forward(from, found.target)
    {
        return Ok(false);
    }
    // One at a time with the solicitation's notifications (and its placement's confirmation).
    let lock = known
        .as_ref()
        .map(|(s, _)| notification_lock(state, store, s.id));
    let _guard = match &lock {
        Some(l) => Some(l.lock().await),
        None => None,
    };
    let (s, a) = match known {
        Some(known) => known,
        None => register(state, store, &order, &found.mark, None).await?,
    };
    // Re-read under the lock: a notification may have moved it meanwhile.
    let (hash, sid) = (store.clone(), s.id);
    let Some(s) = state
        .db
        .call(move |c| db::solicitations::get(c, &hash, sid))
        .await?
    else {
        return Ok(false);
    };
    if !moves_forward(s.state, found.target) {
        return Ok(false);
    }
    let target = found.target;
    if !found.placed {
        let refused = match target {
            // The order does not show it placed: seQura is asked again whether it took it.
            SolicitationState::Approved => {
                match confirm_again(state, store, &s, &a, target).await {
                    Ok(()) => None,
                    Err(Again::Failed(e)) => return Err(e),
                    Err(Again::Refused(reason)) => Some(
                        Message::new("log_msg_recovery_not_confirmed")
                            .term("outcome", outcome_term(target))
                            .text("uuid", found.mark.reference.as_str())
                            .text("reason", reason),
                    ),
                }
            }
            // A review is placed as one without asking seQura: it may have decided it since,
            // and its decision comes as a notification of its own. Unless another payment sold
            // the cart: the mark is written while the notification asks BigCommerce about the
            // cart, and a cart sold otherwise had the review refused, which seQura cancelled.
            SolicitationState::OnHold => {
                match crate::checkout::other_payment::may_charge(state, store, &s, false).await {
                    Ok(None) => None,
                    Ok(Some(other)) => Some(
                        Message::new("log_msg_paid_otherwise")
                            .text("order", other.to_string())
                            .text("uuid", found.mark.reference.as_str()),
                    ),
                    Err(e) => return Err(e.into()),
                }
            }
            _ => None,
        };
        if let Some(message) = refused {
            let aid = a.id;
            state
                .db
                .call(move |c| db::solicitations::set_attempt_state(c, aid, AttemptState::Rejected))
                .await?;
            record(
                state,
                store,
                &about(&s, &found.mark),
                RECOVERY,
                Outcome::Rejected,
                &message,
            )
            .await;
            return Ok(false);
        }
    }
    // What seQura holds once it confirmed the order (nothing shipped): what the order's next
    // sync compares BigCommerce with.
    let accepted = if target == SolicitationState::Approved {
        let merchant_ref = found.mark.merchant_ref.clone();
        let data = order_data(state, store, api, order_id, &merchant_ref).await?;
        confirmed_holding(&s, &data).and_then(|h| {
            Some(db::order_sync::Accepted {
                solicitation_id: s.id,
                bc_order_id: s.bc_order_id,
                accepted: serde_json::to_string(&h).ok()?,
                shipped_total: 0,
                unshipped_total: h.unshipped_cart.order_total_with_tax,
                refunded_total: 0,
                accepted_at: String::new(),
                shipped_at: None,
            })
        })
    } else {
        None
    };
    let (hash, s2, a2, placed) = (store.clone(), s.clone(), a.clone(), found.placed);
    let settled = state
        .db
        .call(move |c| {
            let tx = c.transaction()?;
            if !db::solicitations::settle(&tx, s2.id, s2.state, target, &a2)? {
                return Ok(false);
            }
            let attempt_state = match target {
                SolicitationState::Approved => AttemptState::Approved,
                SolicitationState::OnHold => AttemptState::OnHold,
                _ => AttemptState::Cancelled,
            };
            db::solicitations::set_attempt_state(&tx, a2.id, attempt_state)?;
            db::solicitations::marked(&tx, s2.id, target)?;
            if placed {
                // The placement ran before the restore: its status stays the merchant's to
                // change, and no order-number confirmation follows (an update may have gone).
                db::solicitations::status_written(&tx, s2.id, target, None)?;
                db::solicitations::mark_placed(&tx, s2.id, target)?;
                db::solicitations::number_confirmation_superseded(&tx, s2.id)?;
            } else {
                queue::enqueue(
                    &tx,
                    &hash,
                    &Job::PlaceOrder {
                        solicitation_id: s2.id,
                        order_id: s2.bc_order_id.0,
                    },
                )?;
            }
            if let Some(acc) = &accepted
                && db::order_sync::get(&tx, &hash, s2.bc_order_id)?.is_none()
            {
                db::order_sync::save(&tx, &hash, acc, false)?;
            }
            if placed && target != SolicitationState::OnHold {
                queue::enqueue(
                    &tx,
                    &hash,
                    &Job::SyncOrder {
                        order_id: s2.bc_order_id.0,
                    },
                )?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await?;
    if !settled {
        return Ok(false);
    }
    state.jobs.wake();
    let key = if found.placed {
        "log_msg_recovered_placed"
    } else {
        "log_msg_recovered_unplaced"
    };
    let message = Message::new(key)
        .term("outcome", outcome_term(target))
        .text("uuid", found.mark.reference.as_str());
    record(
        state,
        store,
        &about(&s, &found.mark),
        RECOVERY,
        Outcome::Sent,
        &message,
    )
    .await;
    tracing::info!(
        store_hash = store.as_str(),
        order_id,
        state = target.as_str(),
        "a payment lost in a restore was recovered"
    );
    Ok(true)
}

/// A log entry's subject: the order and the recovered seQura order.
fn about<'a>(s: &Solicitation, m: &'a PaymentMark) -> About<'a> {
    About {
        order: Some(s.bc_order_id),
        sequra_uuid: Some(&m.reference),
        environment: Some(&m.environment),
        merchant_ref: Some(&m.merchant_ref),
    }
}

/// The payment found on an order.
struct Found {
    /// What the payment is (the order's mark, or what the app made of the order).
    mark: PaymentMark,
    /// The outcome it reached.
    target: SolicitationState,
    /// The order shows it placed (status written, seQura's reference on it).
    placed: bool,
}

impl Found {
    /// The app's payment on `order`, if it carries one: its mark, else (an order placed by an
    /// earlier version, which wrote only the reference) what the order shows.
    async fn of(
        state: &AppState,
        store: &StoreHash,
        api: &StoreApi,
        order: &Order,
        mark: Option<PaymentMark>,
    ) -> Result<Option<Found>, JobError> {
        let placed_with =
            |uuid: &str| order.status_id != 0 && order.payment_provider_id.as_deref() == Some(uuid);
        if let Some(mark) = mark {
            let Some(target) = mark.outcome() else {
                return Ok(None);
            };
            // Placed for this outcome: the placement marks it after the status write.
            let placed =
                placed_with(&mark.reference) && mark.placed.as_deref() == Some(mark.state.as_str());
            return Ok(Some(Found {
                mark,
                target,
                placed,
            }));
        }
        let (Some(method), Some(uuid)) = (
            order.payment_method.as_deref(),
            order.payment_provider_id.as_deref(),
        ) else {
            return Ok(None);
        };
        if order.status_id == 0 || !shows_sequra_payment(Some(method), Some(uuid)) {
            return Ok(None);
        }
        // In review when it has the status the merchant maps a review to; paid otherwise.
        let hash = store.clone();
        let review = state
            .db
            .call(move |c| db::settings::status_mappings(c, &hash))
            .await?
            .into_iter()
            .find(|(x, _)| *x == crate::domain::SequraStatus::NeedsReview)
            .and_then(|(_, id)| id);
        let target = if review == Some(order.status_id) {
            SolicitationState::OnHold
        } else {
            SolicitationState::Approved
        };
        let title = method
            .trim_start()
            .trim_start_matches(METHOD_PREFIX)
            .trim_start_matches([' ', '–', '-'])
            .to_string();
        let Some(mark) = inferred(state, store, api, order, uuid, &title, "").await? else {
            return Ok(None);
        };
        Ok(Some(Found {
            mark: PaymentMark {
                state: target.as_str().to_string(),
                placed: Some(target.as_str().to_string()),
                ..mark
            },
            target,
            placed: true,
        }))
    }
}

/// A payment's details as the store sells now: the merchant ref of the order's country
/// (shipping, else billing), its deployment, the environment it is connected in.
async fn inferred(
    state: &AppState,
    store: &StoreHash,
    api: &StoreApi,
    order: &Order,
    uuid: &str,
    method: &str,
    product: &str,
) -> Result<Option<PaymentMark>, JobError> {
    let shipping = api.order_shipping_addresses(order.id.0).await?;
    let country = shipping
        .first()
        .map(|a| a.country_iso2.clone())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| order.billing_address.country_iso2.clone())
        .to_ascii_uppercase();
    let hash = store.clone();
    let (refs, merchants) = state
        .db
        .call(move |c| {
            Ok((
                db::settings::countries(c, &hash)?,
                db::sequra::merchants(c, &hash)?,
            ))
        })
        .await?;
    let Some(merchant_ref) = refs
        .into_iter()
        .find(|(c, _)| c.code() == country)
        .map(|(_, r)| r.to_string())
    else {
        return Ok(None);
    };
    let deployment = merchants
        .into_iter()
        .find(|m| m.merchant_ref.as_str() == merchant_ref)
        .map_or_else(|| "sequra".to_string(), |m| m.deployment);
    let Some(account) = onboarding::order_account(state, store, Some(&deployment)).await? else {
        return Ok(None);
    };
    Ok(Some(PaymentMark {
        reference: uuid.to_string(),
        state: SolicitationState::Solicited.as_str().to_string(),
        deployment,
        environment: account.environment.as_str().to_string(),
        merchant_ref,
        product: product.to_string(),
        campaign: None,
        method: if method.is_empty() {
            "seQura".into()
        } else {
            method.to_string()
        },
        placed: None,
    }))
}

/// Records seQura order `mark.reference` as an attempt of the order's solicitation (made anew
/// when the database has none for the order): the rows a found payment settles. `sid`: the
/// solicitation a notification names, when it is still this order's.
async fn register(
    state: &AppState,
    store: &StoreHash,
    order: &Order,
    mark: &PaymentMark,
    sid: Option<i64>,
) -> Result<(Solicitation, db::solicitations::Attempt), JobError> {
    let (hash, id, m) = (store.clone(), order.id, mark.clone());
    let checkout_id = order
        .cart_id
        .clone()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| format!("recovered-{}", id.0));
    let channel_id = order.channel_id;
    let rows = state
        .db
        .call(move |c| {
            let tx = c.transaction()?;
            let named = match sid {
                Some(sid) => {
                    db::solicitations::get(&tx, &hash, sid)?.filter(|s| s.bc_order_id == id)
                }
                None => None,
            };
            let existing = match named {
                Some(s) => Some(s),
                None => db::solicitations::of_order(&tx, &hash, id)?
                    .into_iter()
                    .next(),
            };
            let sid = match existing {
                Some(s) => s.id,
                None => db::solicitations::insert_recovered(
                    &tx,
                    &hash,
                    &Recovered {
                        checkout_id: &checkout_id,
                        order: id,
                        channel_id,
                    },
                )?,
            };
            let aid = db::solicitations::insert_recovered_attempt(
                &tx,
                &hash,
                sid,
                &m.reference,
                &NewAttempt {
                    deployment: &m.deployment,
                    environment: &m.environment,
                    merchant_ref: &m.merchant_ref,
                    product: &m.product,
                    campaign: m.campaign.as_deref(),
                    method_title: &m.method,
                },
            )?;
            // Known to seQura from now on: a solicitation never solicited (its start was lost
            // half way) is solicited with it.
            db::solicitations::mark_solicited(
                &tx,
                sid,
                &db::solicitations::Solicited {
                    deployment: &m.deployment,
                    environment: &m.environment,
                    merchant_ref: &m.merchant_ref,
                    product: &m.product,
                    campaign: m.campaign.as_deref(),
                    method_title: &m.method,
                    sequra_uuid: &m.reference,
                    shopper_ip: "",
                    user_agent: "",
                },
            )?;
            let s = db::solicitations::get(&tx, &hash, sid)?;
            let a = db::solicitations::attempt(&tx, &hash, sid, aid)?;
            tx.commit()?;
            Ok(s.zip(a))
        })
        .await?;
    rows.ok_or_else(|| JobError::retry("a recovered payment's rows vanished"))
}

/// Why a confirmation sent again did not go through.
enum Again {
    /// seQura refused it (its words): it did not take the payment.
    Refused(String),
    /// Try later.
    Failed(JobError),
}

/// Sends the confirmation of attempt `a` (`confirmed`, or `on_hold` for a review) again.
async fn confirm_again(
    state: &AppState,
    store: &StoreHash,
    s: &Solicitation,
    a: &db::solicitations::Attempt,
    target: SolicitationState,
) -> Result<(), Again> {
    let account = onboarding::order_account(state, store, Some(&a.deployment))
        .await
        .map_err(|e| Again::Failed(e.into()))?
        .filter(|acc| acc.environment.as_str() == a.environment)
        .ok_or_else(|| {
            Again::Failed(JobError::retry(
                "the order's seQura account is not connected",
            ))
        })?;
    let seq_state = if target == SolicitationState::Approved {
        "confirmed"
    } else {
        "on_hold"
    };
    let (order, _) = match confirmation(state, store, s, a, seq_state).await {
        Ok(x) => x,
        Err(e @ (AppError::Upstream(_) | AppError::Busy { .. })) => {
            return Err(Again::Failed(e.into()));
        }
        Err(e) => return Err(Again::Refused(format!("{e}"))),
    };
    let uuid = a.sequra_uuid.clone().unwrap_or_default();
    match state
        .sequra
        .update_order_state(&account, &a.merchant_ref, &uuid, &order)
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if e.is_transient() => Err(Again::Failed(e.into())),
        Err(SequraError::Conflict(m)) => Err(Again::Refused(m.join("; "))),
        Err(e) => Err(Again::Refused(e.to_string())),
    }
}

/// A notification seQura signed for one of the store's orders whose seQura order the database
/// does not know (lost in a restore): recorded again from the order's mark, or — a payment
/// started in the time lost, which the order does not show — from the notification itself,
/// for the caller to handle it as usual. False when nothing could be recorded: then the log
/// says the notification is refused.
pub async fn for_notification(state: &AppState, n: &Notification) -> Result<bool, JobError> {
    let store = &n.store;
    let (hash, id, uuid) = (store.clone(), n.order, n.order_ref.clone());
    if state
        .db
        .call(move |c| db::solicitations::for_order_uuid(c, &hash, id, &uuid))
        .await?
        .is_some()
    {
        // Known, under other ids than the notification's (an attempt from before V8, which
        // answers only to its own signature): nothing was lost.
        return Ok(false);
    }
    let api = crate::stores::lifecycle::store_api(state, store).await?;
    let order_id = n.order.0;
    let mark = mark::read(&api, order_id).await?;
    if let Some(m) = mark.filter(|m| m.reference == n.order_ref) {
        payment(state, store, &api, order_id, Some(m)).await?;
        return Ok(true);
    }
    let order = api.order(order_id).await?;
    let open = order.status_id == 0
        && order
            .payment_provider_id
            .as_deref()
            .is_none_or(|p| p.trim().is_empty());
    let decides = matches!(
        n.state,
        NotifiedState::Approved | NotifiedState::NeedsReview
    );
    if open && decides {
        let product = n.product_code.clone().unwrap_or_default();
        if let Some(mut mark) =
            inferred(state, store, &api, &order, &n.order_ref, "", &product).await?
        {
            mark.method =
                crate::onboarding::method_title(state, store, &mark.merchant_ref, &product).await;
            let order_lock = state
                .payment_locks
                .lock_for(format!("recover:{store}:{order_id}"));
            let _order = order_lock.lock().await;
            let (hash, id, uuid) = (store.clone(), n.order, n.order_ref.clone());
            let known = state
                .db
                .call(move |c| db::solicitations::for_order_uuid(c, &hash, id, &uuid))
                .await?;
            let s = match known {
                Some((s, _)) => s,
                None => register(state, store, &order, &mark, Some(n.sid)).await?.0,
            };
            let message = Message::new("log_msg_recovered_notification")
                .term("outcome", notified_term(n.state))
                .text("uuid", n.order_ref.as_str());
            record(
                state,
                store,
                &about(&s, &mark),
                RECOVERY,
                Outcome::Sent,
                &message,
            )
            .await;
            return Ok(true);
        }
    }
    let about = About {
        order: Some(n.order),
        sequra_uuid: Some(&n.order_ref),
        ..About::default()
    };
    let message = Message::new("log_msg_recovery_unknown_payment")
        .term("outcome", notified_term(n.state))
        .text("uuid", n.order_ref.as_str());
    record(state, store, &about, RECOVERY, Outcome::Rejected, &message).await;
    Ok(false)
}

fn notified_term(s: NotifiedState) -> &'static str {
    match s {
        NotifiedState::Approved => "log_outcome_approved",
        NotifiedState::NeedsReview => "log_outcome_on_hold",
        NotifiedState::Cancelled => "log_outcome_cancelled",
    }
}

/// What [`undecided`] did: payments recovered, and orders that could not be looked at now
/// (each logged; the next reconciliation tries them again).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Undecided {
    pub recovered: usize,
    pub failed: usize,
}

/// After a restore (the store's `recover_from`): the payments the database knows as
/// undecided, the Incomplete orders made since the recovery point that it does not know, and
/// the orders made since and archived (which no list shows: they are the gaps in the ids the
/// lists show, from the one after the newest order the database knows, read by id) are looked
/// at for seQura outcomes they carry. An order that cannot be looked at now does not keep the
/// others from it.
pub async fn undecided(
    state: &AppState,
    store: &StoreHash,
    api: &StoreApi,
    point: i64,
) -> Result<Undecided, JobError> {
    let hash = store.clone();
    let since = db::timestamp(
        time::OffsetDateTime::from_unix_timestamp(point - UNDECIDED_LOOK_BACK)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    );
    let known = state
        .db
        .call(move |c| db::solicitations::undecided_since(c, &hash, &since, DEEP_MAX))
        .await?;
    let mut orders: Vec<u64> = known.iter().map(|s| s.bc_order_id.0).collect();
    let incomplete = api
        .incomplete_orders_since(point - INCOMPLETE_MARGIN, DEEP_MAX)
        .await?;
    for o in &incomplete {
        let hash = store.clone();
        let id = BcOrderId(o.id);
        if !state
            .db
            .call(move |c| db::solicitations::knows_order(c, &hash, id))
            .await?
        {
            orders.push(o.id);
        }
    }
    // Every order made since shows in one of the lists but the archived ones.
    let listed: std::collections::BTreeSet<u64> = api
        .orders_created_since(point - INCOMPLETE_MARGIN, DEEP_MAX)
        .await?
        .iter()
        .map(|o| o.id.0)
        .chain(incomplete.iter().map(|o| o.id))
        .collect();
    // From the order after the newest one made before the point, the database's or the
    // list's (a seQura order archived before any other order was made since is no gap
    // between listed ones; the orders before it are no gap at all, however many the store
    // sold otherwise since its last seQura order).
    let hash = store.clone();
    let newest = state
        .db
        .call(move |c| db::solicitations::newest_order(c, &hash))
        .await?;
    let before = api
        .newest_order_created_before(point - INCOMPLETE_MARGIN)
        .await?;
    if let (Some(&first), Some(&last)) = (listed.first(), listed.last()) {
        let after = newest.map(|n| n.0).max(before);
        let mut id = after.map_or(first, |n| first.min(n + 1));
        let mut reads = 0;
        while orders.len() < DEEP_MAX && reads < DEEP_MAX {
            if !listed.contains(&id) {
                reads += 1;
                match api.order(id).await {
                    Ok(o) if o.is_deleted => orders.push(id),
                    Ok(_) => {}
                    // Past the last order made: done.
                    Err(crate::bigcommerce::client::BcError::NotFound(_)) if id > last => break,
                    Err(crate::bigcommerce::client::BcError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            id += 1;
        }
    }
    orders.sort_unstable();
    orders.dedup();
    if known.len() >= DEEP_MAX || incomplete.len() >= DEEP_MAX || orders.len() >= DEEP_MAX {
        // A bound on one sweep's requests, not a silent loss: the operator is told.
        tracing::warn!(
            store_hash = store.as_str(),
            most = DEEP_MAX,
            "reconciliation: recovery looked at the most orders it reads at once; later ones were not looked at"
        );
    }
    let mut done = Undecided::default();
    for order in orders {
        let found = match mark::read(api, order).await {
            Ok(Some(m)) => payment(state, store, api, order, Some(m)).await,
            Ok(None) => Ok(false),
            Err(e) => Err(e.into()),
        };
        match found {
            Ok(found) => done.recovered += usize::from(found),
            Err(e) => {
                tracing::warn!(store_hash = store.as_str(), order_id = order, error = %e,
                    "reconciliation: recovering a payment");
                done.failed += 1;
            }
        }
    }
    Ok(done)
}

/// An order changed in BigCommerce around or after the recovery point: what seQura holds of
/// it is not known, so its next sync sends its state again; the log says so. False when the
/// app never sent it anything (its sync sends anyway) or it is not a seQura order.
pub async fn resend(
    state: &AppState,
    store: &StoreHash,
    order: BcOrderId,
) -> Result<bool, JobError> {
    let hash = store.clone();
    let found = state
        .db
        .call(move |c| {
            let s = db::solicitations::for_order(c, &hash, order)?
                .filter(|s| s.state == SolicitationState::Approved);
            Ok(match s {
                Some(s) => db::order_sync::mark_resend(c, &hash, order)?.then_some(s),
                None => None,
            })
        })
        .await?;
    let Some(s) = found else {
        return Ok(false);
    };
    record(
        state,
        store,
        &About::of(&s),
        RECOVERY,
        Outcome::Sent,
        &Message::new("log_msg_recovered_change"),
    )
    .await;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_only_moves_a_payment_forward() {
        use SolicitationState as S;
        assert!(moves_forward(S::Solicited, S::Approved));
        assert!(moves_forward(S::OnHold, S::Approved));
        assert!(moves_forward(S::Approved, S::Cancelled));
        assert!(!moves_forward(S::Approved, S::OnHold));
        assert!(!moves_forward(S::Approved, S::Approved));
        assert!(!moves_forward(S::Cancelled, S::Approved));
        assert!(!moves_forward(S::Rejected, S::Approved));
    }

    #[test]
    fn an_order_shows_the_apps_payment_by_its_method_and_reference() {
        assert!(shows_sequra_payment(
            Some("seQura – Paga después"),
            Some("u1")
        ));
        assert!(!shows_sequra_payment(Some("Bank deposit"), Some("u1")));
        assert!(!shows_sequra_payment(
            Some("seQura – Paga después"),
            Some(" ")
        ));
        assert!(!shows_sequra_payment(None, Some("u1")));
    }
}
