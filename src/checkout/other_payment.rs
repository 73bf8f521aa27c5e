//! Whether the shopper paid the checkout with another payment method (another tab, another
//! provider) while a seQura form was open: BigCommerce then converted the cart into an order
//! of its own, and confirming seQura's approval would charge the shopper twice.
//!
//! Asked of BigCommerce's order list by `cart_id` (the checkout id), not of the checkout:
//! the contract says a converted cart "is no longer accessible and has been deleted"
//! (`store/cart/converted`), so `GET /v3/checkouts/{id}` answers 404, which a cart the
//! shopper emptied answers too; its `order_id` is only seen before conversion.

use std::time::Duration;

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
const NOT_A_SALE: [u32; 4] = [0, 4, 5, 6];

/// How long the question may take: it is asked while seQura waits for the IPN's answer
/// (its timeout is undocumented, sequra-api.md [U]; 5 s is the plausible default).
const BUDGET: Duration = Duration::from_secs(4);

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
            return Ok(None);
        }
        ask(state, store, s).await
    };
    tokio::time::timeout(BUDGET, decide)
        .await
        .unwrap_or_else(|_| Err(AppError::Upstream(Public::new("err_bigcommerce"))))
}

async fn ask(
    state: &AppState,
    store: &StoreHash,
    s: &Solicitation,
) -> Result<Option<u64>, AppError> {
    let api = lifecycle::store_api(state, store).await?;
    let orders = api.orders_of_cart(&s.checkout_id).await?;
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
    // The list leaves archived orders out: a sale the merchant archived since is known by
    // the conversion BigCommerce reported.
    Ok(first_sale(&orders, &ours).or(converted.map(|o| o.0)))
}

/// The first order that sold the cart and is not the app's sale. An order the app made is
/// its sale only once it carries one of its seQura orders as payment provider (the
/// placement writes it with the status): whether BigCommerce's checkout completes the app's
/// own Incomplete order when the shopper pays another way is undocumented [U], and then that
/// order is the other method's sale.
fn first_sale(orders: &[OrderSummary], ours: &[(BcOrderId, Option<String>)]) -> Option<u64> {
    let placed_by_us = |o: &OrderSummary| {
        ours.iter().any(|(id, uuid)| {
            id.0 == o.id && uuid.is_some() && o.payment_provider_id.as_deref() == uuid.as_deref()
        })
    };
    orders
        .iter()
        .find(|o| !NOT_A_SALE.contains(&o.status_id) && !placed_by_us(o))
        .map(|o| o.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: u64, status_id: u32, provider: Option<&str>) -> OrderSummary {
        OrderSummary {
            id,
            status_id,
            payment_provider_id: provider.map(str::to_owned),
            date_modified: None,
        }
    }

    #[test]
    fn only_another_payments_sale_counts() {
        let ours = [(BcOrderId(100), Some("uuid-a".to_owned()))];
        let ours = &ours[..];
        assert_eq!(first_sale(&[], ours), None);
        // The app's own order, placed by the app (its seQura order as provider), or not
        // placed at all, is no other payment.
        assert_eq!(first_sale(&[order(100, 11, Some("uuid-a"))], ours), None);
        assert_eq!(first_sale(&[order(100, 0, None)], ours), None);
        // Orders that took no money.
        for status in [0, 4, 5, 6] {
            assert_eq!(
                first_sale(&[order(101, status, None)], ours),
                None,
                "{status}"
            );
        }
        // A bank transfer awaiting payment, a card payment: sales.
        let transfer = [order(100, 0, None), order(101, 7, None)];
        assert_eq!(first_sale(&transfer, ours), Some(101));
        assert_eq!(first_sale(&[order(102, 11, None)], ours), Some(102));
        // The app's own Incomplete order, completed by another method: that method's sale.
        assert_eq!(first_sale(&[order(100, 7, None)], ours), Some(100));
        assert_eq!(
            first_sale(&[order(100, 11, Some("other"))], ours),
            Some(100)
        );
        // Made by the app but never solicited: no seQura order of the app's can be its payment.
        let unsolicited = [(BcOrderId(100), None)];
        assert_eq!(first_sale(&[order(100, 11, None)], &unsolicited), Some(100));
    }
}
