//! Whether the shopper paid the checkout with another payment method (another tab, another
//! provider) while a seQura form was open: BigCommerce then converted the cart into an order
//! of its own, and confirming seQura's approval would charge the shopper twice.
//!
//! Asked of BigCommerce's order list by `cart_id` (the checkout id), not of the checkout:
//! the contract says a converted cart "is no longer accessible and has been deleted"
//! (`store/cart/converted`), so `GET /v3/checkouts/{id}` answers 404, which a cart the
//! shopper emptied answers too; its `order_id` is only seen before conversion.

use std::time::Duration;

use crate::bigcommerce::client::BcError;
use crate::bigcommerce::models::OrderSummary;
use crate::db;
use crate::db::solicitations::Solicitation;
use crate::domain::{BcOrderId, StoreHash};
use crate::error::{AppError, Public};
use crate::state::AppState;
use crate::stores::lifecycle;

/// Statuses of an order that took no money for good: Incomplete (not placed; [U] the list
/// leaves these out anyway), Refunded, Cancelled, Declined (bigcommerce-api.md §3.4). Any
/// other status, Awaiting Payment of a bank transfer included, is a sale of the cart.
pub const NOT_A_SALE: [u32; 4] = [0, 4, 5, 6];

/// How long the question may take: it is asked while seQura waits for the IPN's answer
/// (its timeout is undocumented, sequra-api.md [U]; 5 s is the plausible default). The
/// payment's mark, written meanwhile (`orders::mark`), has the same budget.
pub const BUDGET: Duration = Duration::from_secs(4);

/// Whether seQura may be told to charge for the cart: `Some(order)` when another order sold
/// it. With `close` (an approval), the cart is then deleted, so that no other payment method
/// can sell it from then on (BigCommerce's checkout sells a cart until it is gone, and the
/// placement that used to delete it may run much later). A cart gone already was deleted by
/// an earlier run of this, or converted by another payment between the question and the
/// deletion: asked again. BigCommerce unreachable, failing or out of quota is an error
/// (`Upstream`/`Busy`): the caller cannot tell, and must not confirm. So is a whole slower
/// than [`BUDGET`].
pub async fn may_charge(
    state: &AppState,
    store: &StoreHash,
    s: &Solicitation,
    close: bool,
) -> Result<Option<u64>, AppError> {
    let decide = async {
        if let Some(other) = ask(state, store, s).await? {
            return Ok(Some(other));
        }
        if !close {
            return Ok(None);
        }
        let api = lifecycle::store_api(state, store).await?;
        if api.delete_cart(&s.checkout_id).await? {
            let sid = s.id;
            state
                .db
                .call(move |c| db::solicitations::record_cart_deleted(c, sid))
                .await?;
            return Ok(None);
        }
        if let Some(other) = ask(state, store, s).await? {
            return Ok(Some(other));
        }
        gone_unsold(state, store, s).await
    };
    tokio::time::timeout(BUDGET, decide)
        .await
        .unwrap_or_else(|_| Err(AppError::Upstream(Public::new("err_bigcommerce"))))
}

/// How long a cart found gone without the app deleting it, and with no sale of it in sight,
/// holds its approval back: BigCommerce delivers `store/cart/converted` within seconds of a
/// sale (its retries of a failing delivery run for hours, but then the app is failing too),
/// and a shopper who emptied the cart in another tab still gets the seQura payment approved.
pub const GONE_WAIT: Duration = Duration::from_secs(10 * 60);

/// A cart gone before the app deleted it, no other sale of it seen. The app's own deletion
/// (an earlier run of the approval) confirms at once; so does a conversion on record (its
/// order, read by id, took no money: cancelled, refunded). Otherwise another payment may have
/// converted it, its order archived since (the list leaves it out) and its webhook not come
/// yet; or the shopper emptied it. The caller cannot tell for [`GONE_WAIT`] from the first
/// time this was seen: seQura asks again later (if it does not [U], its order is cancelled:
/// a lost sale rather than a cart paid twice).
async fn gone_unsold(
    state: &AppState,
    store: &StoreHash,
    s: &Solicitation,
) -> Result<Option<u64>, AppError> {
    let (hash, checkout_id, sid) = (store.clone(), s.checkout_id.clone(), s.id);
    let cutoff = db::timestamp(crate::clock::now() - GONE_WAIT);
    let why = state
        .db
        .call(move |c| {
            Ok(
                if db::solicitations::cart_deleted_by_app(c, &hash, &checkout_id)? {
                    Gone::ByTheApp
                } else if db::solicitations::converted_into(c, &hash, &checkout_id)?.is_some() {
                    Gone::Converted
                } else {
                    Gone::Unexplained {
                        waited: db::solicitations::cart_gone_since(c, sid, &cutoff)?,
                    }
                },
            )
        })
        .await?;
    match why {
        Gone::ByTheApp | Gone::Unexplained { waited: true } => Ok(None),
        // On record now, perhaps only since the last look: its order decides.
        Gone::Converted => ask(state, store, s).await,
        Gone::Unexplained { waited: false } => {
            tracing::warn!(
                order_id = s.bc_order_id.0,
                "the cart was gone before the approval closed it; waiting for BigCommerce to say why"
            );
            Err(AppError::Upstream(Public::new("err_bigcommerce")))
        }
    }
}

/// Why a cart is gone, as far as the app knows.
enum Gone {
    /// The app deleted it (an earlier run of the approval).
    ByTheApp,
    /// BigCommerce said which order it became.
    Converted,
    /// Nothing says; `waited`: for [`GONE_WAIT`] since it was first found gone.
    Unexplained { waited: bool },
}

async fn ask(
    state: &AppState,
    store: &StoreHash,
    s: &Solicitation,
) -> Result<Option<u64>, AppError> {
    let api = lifecycle::store_api(state, store).await?;
    let (hash, checkout_id) = (store.clone(), s.checkout_id.clone());
    let (ours, converted) = state
        .db
        .call(move |c| {
            Ok((
                db::solicitations::orders_of_checkout(c, &hash, &checkout_id)?,
                db::solicitations::converted_into(c, &hash, &checkout_id)?,
            ))
        })
        .await?;
    // The list leaves Incomplete and archived orders out. Read by id, at the same time: the
    // app's own orders of the cart (BigCommerce's checkout may have completed one,
    // undocumented, and the merchant archived it since) and the order BigCommerce said it
    // converted the cart into; then the same rule decides for every order.
    let mut ids: Vec<u64> = ours
        .iter()
        .map(|(id, _)| id.0)
        .chain(converted.map(|o| o.0))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let newest = ids.into_iter().rev().take(UNLISTED_READS);
    let reads = futures_util::future::join_all(newest.map(|id| {
        let api = &api;
        async move { api.order(id).await }
    }));
    let (listed, reads) = tokio::join!(api.orders_of_cart(&s.checkout_id), reads);
    let mut orders = listed?;
    for read in reads {
        match read {
            // Of this cart only (a conversion names its order; trust it no further), and
            // what the list showed already is as the list showed it.
            Ok(o)
                if o.cart_id
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(&s.checkout_id))
                    && !orders.iter().any(|l| l.id == o.id.0) =>
            {
                orders.push(OrderSummary {
                    id: o.id.0,
                    status_id: o.status_id,
                    payment_method: o.payment_method,
                    payment_provider_id: o.payment_provider_id,
                    date_modified: None,
                })
            }
            // Deleted for good, or another cart's: it sells nothing of this one.
            Ok(_) | Err(BcError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(first_sale(&orders, &ours))
}

/// The orders of a cart read by id at most (the newest): a cart has one order of the app's
/// per change of it, and one converted order.
const UNLISTED_READS: usize = 4;

/// The first order that sold the cart and is not the app's sale: any other order of the cart
/// in a status that sold it, and the app's own order once another payment method took it
/// (see [`paid_another_way`]).
fn first_sale(orders: &[OrderSummary], ours: &[(BcOrderId, Option<String>)]) -> Option<u64> {
    orders
        .iter()
        .find(|o| match ours.iter().find(|(id, _)| id.0 == o.id) {
            Some((_, uuid)) => paid_another_way(
                o.status_id,
                o.payment_method.as_deref(),
                o.payment_provider_id.as_deref(),
                uuid.as_deref(),
            ),
            None => !NOT_A_SALE.contains(&o.status_id),
        })
        .map(|o| o.id)
}

/// Whether another payment method sold an order the app made from a cart (`uuid`: the seQura
/// order the app placed it with, if any). Whether BigCommerce's checkout completes the app's
/// own Incomplete order when the shopper pays the cart another way is undocumented [U]; if it
/// does, that order carries the other method's name and not the app's seQura reference (the
/// app writes both together when it places an order). A status alone does not tell: the
/// merchant may ship or edit an order the app has not placed yet.
pub fn paid_another_way(
    status_id: u32,
    payment_method: Option<&str>,
    provider: Option<&str>,
    uuid: Option<&str>,
) -> bool {
    !NOT_A_SALE.contains(&status_id)
        && provider.is_none_or(|p| uuid != Some(p))
        && payment_method.is_some_and(|m| !m.trim().is_empty() && !m.starts_with("seQura"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: u64, status_id: u32, method: &str, provider: Option<&str>) -> OrderSummary {
        OrderSummary {
            id,
            status_id,
            payment_method: Some(method.to_owned()),
            payment_provider_id: provider.map(str::to_owned),
            date_modified: None,
        }
    }

    #[test]
    fn only_another_payments_sale_counts() {
        let ours = [(BcOrderId(100), Some("uuid-a".to_owned()))];
        let ours = &ours[..];
        let transfer = "Bank Deposit";
        assert_eq!(first_sale(&[], ours), None);
        // The app's own order, placed by the app (its seQura order as provider), or not
        // placed at all, is no other payment.
        let placed = order(100, 11, "seQura – Paga Después", Some("uuid-a"));
        assert_eq!(first_sale(&[placed], ours), None);
        assert_eq!(first_sale(&[order(100, 0, "", None)], ours), None);
        // Nor one the merchant shipped or edited before the app placed it (no payment named).
        assert_eq!(first_sale(&[order(100, 2, "", None)], ours), None);
        // Other orders that took no money.
        for status in [0, 4, 5, 6] {
            let o = order(101, status, transfer, None);
            assert_eq!(first_sale(&[o], ours), None, "{status}");
        }
        // A bank transfer awaiting payment, a card payment: sales.
        let both = [order(100, 0, "", None), order(101, 7, transfer, None)];
        assert_eq!(first_sale(&both, ours), Some(101));
        assert_eq!(first_sale(&[order(102, 11, "Card", None)], ours), Some(102));
        // The app's own Incomplete order, completed by another method: that method's sale.
        assert_eq!(
            first_sale(&[order(100, 7, transfer, None)], ours),
            Some(100)
        );
        let other_uuid = order(100, 11, "Card", Some("other"));
        assert_eq!(first_sale(&[other_uuid], ours), Some(100));
        // Made by the app but never solicited: no seQura order of the app's is its payment.
        let unsolicited = [(BcOrderId(100), None)];
        assert_eq!(
            first_sale(&[order(100, 11, transfer, None)], &unsolicited),
            Some(100)
        );
    }
}
