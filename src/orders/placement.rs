//! The `place_order` job, the IPN follow-up: once seQura has approved, put on hold or
//! cancelled an order (and the app has recorded it), the BigCommerce order gets the mapped
//! status, the payment method and seQura's reference, and seQura is told the order number.
//! Every step can run again without harm.

use crate::bigcommerce::client::{OrderUpdate, StoreApi};
use crate::checkout::payment::confirmation;
use crate::db;
use crate::db::solicitations::{Solicitation, SolicitationState};
use crate::db::transaction_log::Outcome;
use crate::domain::{BcOrderId, SequraStatus, StoreHash};
use crate::error::AppError;
use crate::i18n::Message;
use crate::onboarding;
use crate::orders::mark::{self, PaymentMark};
use crate::orders::recover;
use crate::orders::{About, CONFIRMATION};
use crate::queue::{self, Job, JobError};
use crate::state::AppState;
use crate::stores::lifecycle;

/// BigCommerce's status of an order not placed yet.
const INCOMPLETE: u32 = 0;

/// The BigCommerce status the merchant mapped a seQura status to (None = leave it).
pub async fn mapped_status(
    state: &AppState,
    store: &StoreHash,
    s: SequraStatus,
) -> Result<Option<u32>, AppError> {
    let hash = store.clone();
    let mappings = state
        .db
        .call(move |conn| db::settings::status_mappings(conn, &hash))
        .await?;
    Ok(mappings
        .into_iter()
        .find(|(x, _)| *x == s)
        .and_then(|(_, id)| id))
}

/// Runs the job for one solicitation.
pub async fn run(state: &AppState, store: &StoreHash, sid: i64) -> Result<(), JobError> {
    let hash = store.clone();
    let Some(s) = state
        .db
        .call(move |c| db::solicitations::get(c, &hash, sid))
        .await?
    else {
        return Ok(());
    };
    if s.placed_at.is_some() {
        return Ok(());
    }
    let outcome = finish(state, store, &s).await;
    if let Err(JobError::Permanent(reason)) = &outcome {
        // The sweep does not queue it again (it would fail the same way): the merchant's
        // retry from the log does, once the cause is fixed. An earlier "still failing, the app
        // keeps trying" is over: nothing tries any more.
        let message = Message::new("log_msg_outcome_not_given").text("reason", reason.as_str());
        let entry = crate::orders::Record::new(
            &state.i18n,
            store,
            &About::of(&s),
            CONFIRMATION,
            Outcome::Failed,
            &message,
        );
        let (hash, order) = (store.clone(), s.bc_order_id);
        let written = state
            .db
            .batched(move |c| {
                db::transaction_log::resolve_event(c, &hash, order, CONFIRMATION)?;
                entry.write(c)
            })
            .await;
        if let Err(e) = written {
            tracing::error!(error = %e, "could not write the transaction log");
        }
    }
    outcome
}

/// Gives the BigCommerce order seQura's outcome and tells seQura the order number.
async fn finish(state: &AppState, store: &StoreHash, s: &Solicitation) -> Result<(), JobError> {
    let sid = s.id;
    let api = match lifecycle::store_api(state, store).await {
        Ok(api) => api,
        // Uninstalled since seQura's outcome: no failure to show (nobody can retry it), and
        // not placed; the reconciliation queues it again once the store is back.
        Err(AppError::Forbidden(p)) if p.key == "err_not_installed" => {
            tracing::info!(
                order_id = s.bc_order_id.0,
                "placement waits for the store to be installed again"
            );
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    // The order as it is now, read once: whose sale it is, and the status the outcome's
    // status is chosen against.
    let order = match s.state {
        SolicitationState::Approved | SolicitationState::OnHold | SolicitationState::Cancelled => {
            api.order(s.bc_order_id.0).await?
        }
        _ => return Ok(()),
    };
    if another_payments(&order, s) {
        return sold_otherwise(state, store, s).await;
    }
    // The order's mark, when the order carries seQura's reference (an earlier run, or the
    // review's placement, wrote it): what the order was last given.
    let uuid = s.sequra_uuid.clone().unwrap_or_default();
    let marked = if order.payment_provider_id.as_deref() == Some(uuid.as_str()) {
        mark::read(&api, s.bc_order_id.0)
            .await?
            .filter(|m| m.reference == uuid)
    } else {
        None
    };
    if let Some(m) = marked.as_ref().filter(|m| recover::is_behind(s.state, m)) {
        // The order was placed for this outcome already, and carries a later one (an approval
        // after the review) the database does not have: placing this one again would write it
        // back over that. After a restore the recovery records the later one; otherwise seQura's
        // notification of it is still being answered, or will come again.
        let hash = store.clone();
        let recovering = state
            .db
            .call(move |c| db::stores::recover_from(c, &hash))
            .await?
            .is_some();
        tracing::info!(
            order_id = s.bc_order_id.0,
            recovering,
            "the order carries a later seQura outcome than the database"
        );
        if recovering {
            recover::payment(state, store, &api, s.bc_order_id.0, Some(m.clone())).await?;
        } else {
            let (sid, placed) = (s.id, s.state);
            state
                .db
                .call(move |c| db::solicitations::mark_placed(c, sid, placed))
                .await?;
        }
        return Ok(());
    }
    let current = order.status_id;
    match s.state {
        SolicitationState::Approved | SolicitationState::OnHold => {
            let earlier = place(state, store, &api, s, &order, marked.as_ref()).await?;
            if earlier {
                // Placed for this outcome before the database was restored to a point before
                // it: an Order Update may have gone since, and a confirmation after it would
                // take its shipments back at seQura. seQura has the order number already: the
                // app sends it when it starts the payment.
                let sid = s.id;
                state
                    .db
                    .call(move |c| db::solicitations::number_confirmation_superseded(c, sid))
                    .await?;
            } else {
                confirm_order_number(state, store, s).await?;
            }
            // BigCommerce deletes a cart only when its own payments take the order: once paid,
            // the shopper's cart is emptied as after any purchase. (While seQura reviews, it
            // stays: a review may end in cancellation, and the checkout refuses a second
            // payment meanwhile.) Usually the approval's notification closed it already (see
            // `other_payment::may_charge`), and recorded so: a cart is deleted once.
            let (hash, checkout_id) = (store.clone(), s.checkout_id.clone());
            let closed = s.state == SolicitationState::Approved
                && state
                    .db
                    .call(move |c| db::solicitations::cart_deleted_by_app(c, &hash, &checkout_id))
                    .await?;
            if s.state == SolicitationState::Approved
                && !closed
                && let Err(e) = api.delete_cart(&s.checkout_id).await
            {
                // The order is paid and seQura knows its number:
                // a cart BigCommerce keeps failing to delete must not hold the order's next
                // jobs (a cancellation the merchant makes now must reach seQura), and a second
                // payment of it is refused at the start.
                tracing::warn!(order_id = s.bc_order_id.0, error = %e,
                    "the paid order's cart could not be deleted");
            }
        }
        SolicitationState::Cancelled => {
            if s.status_written_for != Some(SolicitationState::Cancelled) {
                let status = status_for(state, store, s, current, SequraStatus::Cancelled).await?;
                if let Some(id) = status.id {
                    api.update_order(
                        s.bc_order_id.0,
                        &OrderUpdate {
                            status_id: Some(id),
                            payment_method: None,
                            payment_provider_id: None,
                        },
                    )
                    .await?;
                }
                status_written(state, s, status.default).await?;
            }
            // A payment that had an outcome says on its order that seQura cancelled it.
            if s.marked_for.is_some() {
                let cancelled = PaymentMark {
                    placed: Some(s.state.as_str().to_string()),
                    ..PaymentMark::of_solicitation(s)
                };
                mark::write(state, &api, s, &cancelled).await?;
            }
        }
        _ => return Ok(()),
    }
    let (hash, placed, order_id) = (store.clone(), s.state, s.bc_order_id.0);
    let approved = placed == SolicitationState::Approved;
    state
        .db
        .call(move |c| {
            let tx = c.transaction()?;
            if !db::solicitations::mark_placed(&tx, sid, placed)? {
                // A notification moved the order on while this ran: the job it queued gives
                // the order its new outcome.
                return Ok(());
            }
            // A failure logged earlier (and retried by the merchant) is over.
            db::transaction_log::resolve_event(&tx, &hash, BcOrderId(order_id), CONFIRMATION)?;
            if approved {
                // Whatever the merchant changed while the order was in review goes now.
                queue::enqueue(&tx, &hash, &Job::SyncOrder { order_id })?;
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
    state.jobs.wake();
    tracing::info!(
        order_id,
        state = s.state.as_str(),
        "BigCommerce order placed"
    );
    Ok(())
}

/// Whether another payment method sold the app's order (see
/// [`crate::checkout::other_payment::paid_another_way`]): the app's outcome must then not be
/// written over that sale (its status, its payment method and reference, a cancellation).
fn another_payments(order: &crate::bigcommerce::models::Order, s: &Solicitation) -> bool {
    crate::checkout::other_payment::paid_another_way(
        order.status_id,
        order.payment_method.as_deref(),
        order.payment_provider_id.as_deref(),
        s.sequra_uuid.as_deref(),
    )
}

/// The app's order was sold another way before seQura's outcome reached it: nothing is
/// written over it. A review is over for the app (the approval that may follow is refused,
/// so seQura takes nothing); an approval seQura already charged is the merchant's to cancel
/// in seQura's back office (the approval deletes the cart before it confirms, so another
/// payment cannot come after it: this is not expected to happen).
async fn sold_otherwise(
    state: &AppState,
    store: &StoreHash,
    s: &Solicitation,
) -> Result<(), JobError> {
    let order_id = s.bc_order_id.0;
    let uuid = s.sequra_uuid.clone().unwrap_or_default();
    if s.state == SolicitationState::Approved {
        return Err(JobError::Permanent(format!(
            "order #{order_id} was paid with another payment method, and seQura approved its \
             payment {uuid} too: cancel that payment in seQura's back office"
        )));
    }
    let (sid, from, hash) = (s.id, s.state, store.clone());
    let ended = state
        .db
        .call(move |c| {
            let tx = c.transaction()?;
            if from == SolicitationState::OnHold
                && !db::solicitations::transition(
                    &tx,
                    sid,
                    SolicitationState::OnHold,
                    SolicitationState::Cancelled,
                )?
            {
                // A notification moved it on meanwhile: the job it queued decides.
                return Ok(false);
            }
            db::solicitations::mark_sold_otherwise(&tx, sid, BcOrderId(order_id))?;
            let placed = db::solicitations::mark_placed(&tx, sid, SolicitationState::Cancelled)?;
            // The placement is over: what it said it kept trying is not open any more.
            db::transaction_log::resolve_event(&tx, &hash, BcOrderId(order_id), CONFIRMATION)?;
            tx.commit()?;
            Ok(placed)
        })
        .await?;
    if ended && from == SolicitationState::OnHold {
        let message =
            Message::new("log_msg_paid_otherwise_in_review").text("uuid", uuid.to_string());
        crate::orders::record(
            state,
            store,
            &About::of(s),
            crate::checkout::payment::PAID_OTHERWISE,
            Outcome::Rejected,
            &message,
        )
        .await;
    }
    tracing::warn!(
        order_id,
        "a seQura order's BigCommerce order was sold another way"
    );
    Ok(())
}

/// Records that the order got the status of the solicitation's state; `default`: the one the
/// app chose on its own.
async fn status_written(
    state: &AppState,
    s: &Solicitation,
    default: Option<u32>,
) -> Result<(), JobError> {
    let (sid, placed) = (s.id, s.state);
    state
        .db
        .call(move |c| db::solicitations::status_written(c, sid, placed, default))
        .await?;
    Ok(())
}

/// The status to give an order for seQura's `status`.
struct StatusWrite {
    /// None: leave the order's status as it is.
    id: Option<u32>,
    /// The status the app chose on its own (not the merchant's mapping).
    default: Option<u32>,
}

/// An order the merchant cancelled, or whose fulfilment they started (shipped, completed),
/// keeps its status when seQura approves or reviews it. Otherwise the merchant's mapping
/// decides; None leaves the merchant's
/// status alone. But an order
/// whose status is not the merchant's — still none (Incomplete: invisible to the merchant, who
/// would never ship what was paid) or still the one the app chose itself last time — gets
/// BigCommerce's status for the outcome: a paid order must not stay "in review", nor a
/// cancelled one look paid. A cancelled attempt never placed gets the cancellation's mapped
/// status (none, when the merchant mapped it to none: it stays out of sight). The status
/// chosen is recorded as intended before the caller writes it: written and not recorded, it
/// is still the app's.
async fn status_for(
    state: &AppState,
    store: &StoreHash,
    s: &Solicitation,
    current: u32,
    status: SequraStatus,
) -> Result<StatusWrite, JobError> {
    if status.keeps(current) {
        // The merchant cancelled the order while seQura decided (the cancellation went to
        // seQura): an approval does not make it look payable again. Or they shipped it: an
        // approval does not ask for it to be fulfilled again.
        tracing::info!(
            order_id = s.bc_order_id.0,
            current,
            "the order keeps the status the merchant gave it"
        );
        return Ok(StatusWrite {
            id: None,
            default: None,
        });
    }
    // A mapping saved before cancelling was refused for a payment going ahead would
    // cancel a paid order at seQura: the rule below decides instead.
    if let Some(id) = mapped_status(state, store, status)
        .await?
        .filter(|id| status.may_give(*id))
    {
        return Ok(StatusWrite {
            id: Some(id),
            default: None,
        });
    }
    let unplaced = current == INCOMPLETE && status != SequraStatus::Cancelled;
    let apps_own = current != INCOMPLETE
        && (s.default_status_written == Some(current)
            || s.default_status_intended == Some(current));
    if unplaced || apps_own {
        let id = status.default_bc_status();
        let sid = s.id;
        state
            .db
            .call(move |c| db::solicitations::status_intended(c, sid, id))
            .await?;
        return Ok(StatusWrite {
            id: Some(id),
            default: Some(id),
        });
    }
    Ok(StatusWrite {
        id: None,
        default: None,
    })
}

/// The order's status, payment method and seQura reference, then the payment's mark (which
/// says the status was written for this outcome). A run after a failure of a later step leaves
/// the status alone: the merchant may have changed it since it was written. So does a run
/// whose record of that write a restore took back, when the order itself shows it placed for
/// this outcome: then it returns true, and what the earlier run did after (an Order Update,
/// perhaps) is not known.
async fn place(
    state: &AppState,
    store: &StoreHash,
    api: &StoreApi,
    s: &Solicitation,
    order: &crate::bigcommerce::models::Order,
    marked: Option<&PaymentMark>,
) -> Result<bool, JobError> {
    let uuid = s.sequra_uuid.clone().unwrap_or_default();
    // The app writes seQura's reference with the status, and the mark after it: an order
    // carrying both was placed for the mark's outcome by an earlier run.
    let earlier = order.status_id != INCOMPLETE
        && marked.is_some_and(|m| m.placed.as_deref() == Some(s.state.as_str()));
    if s.status_written_for != Some(s.state) {
        if earlier {
            tracing::info!(
                order_id = s.bc_order_id.0,
                "the order was placed before a restore: its status is left as it is"
            );
            status_written(state, s, None).await?;
        } else {
            write_status(state, store, api, s, order.status_id, &uuid).await?;
        }
    }
    let placed = PaymentMark {
        placed: Some(s.state.as_str().to_string()),
        ..PaymentMark::of_solicitation(s)
    };
    mark::write(state, api, s, &placed).await?;
    Ok(earlier)
}

async fn write_status(
    state: &AppState,
    store: &StoreHash,
    api: &StoreApi,
    s: &Solicitation,
    current: u32,
    uuid: &str,
) -> Result<(), JobError> {
    let status = if s.state == SolicitationState::Approved {
        SequraStatus::Approved
    } else {
        SequraStatus::NeedsReview
    };
    let title = s.method_title.clone().unwrap_or_else(|| "seQura".into());
    let status = status_for(state, store, s, current, status).await?;
    api.update_order(
        s.bc_order_id.0,
        &OrderUpdate {
            status_id: status.id,
            payment_method: Some(format!("seQura – {title}")),
            payment_provider_id: Some(uuid.to_owned()),
        },
    )
    .await?;
    status_written(state, s, status.default).await
}

/// seQura asks the shop to confirm again once it knows its order number (`order_ref_1`), with
/// the order it approved (the merchant's later changes follow as an order update).
/// A refusal now is only logged: the order is seQura's already. Sent once per state, and
/// never after an Order Update of the order (a placement re-queued or slow runs after a
/// sync): its cart is older than the update's, and could undo shipments and refunds at
/// seQura. Both are recorded in the database, under the lock the sync takes to send.
async fn confirm_order_number(
    state: &AppState,
    store: &StoreHash,
    s: &Solicitation,
) -> Result<(), JobError> {
    let Some(account) = onboarding::order_account(state, store, s.deployment.as_deref())
        .await?
        .filter(|a| Some(a.environment.as_str()) == s.environment.as_deref())
    else {
        return Ok(());
    };
    let s_state = s.state;
    // Under the notifications' lock, and only if the order is still where this job found it:
    // a notification that moved it on meanwhile (an approval after review) has told seQura
    // already, and its own job follows; an `on_hold` sent now would contradict it.
    let lock = crate::checkout::payment::notification_lock(state, store, s.id);
    let _guard = lock.lock().await;
    let uuid = s.sequra_uuid.clone().unwrap_or_default();
    let (hash, sid, u) = (store.clone(), s.id, uuid.clone());
    let Some(attempt) = state
        .db
        .call(move |c| {
            let now = db::solicitations::get(c, &hash, sid)?;
            if now.is_none_or(|n| n.state != s_state || n.sequra_uuid.as_deref() != Some(&u)) {
                return Ok(None);
            }
            let done = db::solicitations::number_confirmation(c, sid)?;
            if db::solicitations::number_confirmation_done(done.as_deref(), s_state) {
                return Ok(None);
            }
            db::solicitations::attempt_for_uuid(c, &hash, sid, &u)
        })
        .await?
    else {
        return Ok(());
    };
    let seq_state = if s.state == SolicitationState::Approved {
        "confirmed"
    } else {
        "on_hold"
    };
    let mut order = match confirmation(state, store, s, &attempt, seq_state).await {
        Ok((o, _)) => o,
        Err(e @ (AppError::Upstream(_) | AppError::Busy { .. })) => return Err(e.into()),
        Err(e) => {
            tracing::warn!(error = ?e, "the order number confirmation could not be built");
            return Ok(());
        }
    };
    order.merchant_reference = Some(crate::sequra::MerchantReference {
        order_ref_1: Some(s.bc_order_id.to_string()),
        order_ref_2: None,
    });
    match state
        .sequra
        .update_order_state(&account, &attempt.merchant_ref, &uuid, &order)
        .await
    {
        Ok(()) => {
            state
                .db
                .call(move |c| db::solicitations::number_confirmed(c, sid, s_state))
                .await?;
            Ok(())
        }
        Err(e) if e.is_transient() => Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, "seQura refused the order number confirmation");
            Ok(())
        }
    }
}
