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
use crate::domain::StoreHash;
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
    let ours = state
        .db
        .call(move |c| db::solicitations::orders_of_checkout(c, &hash, &checkout_id))
        .await?;
    Ok(first_sale(&orders, |id| ours.iter().any(|o| o.0 == id)))
}

/// The first order that sold the cart and is not the app's.
fn first_sale(orders: &[OrderSummary], ours: impl Fn(u64) -> bool) -> Option<u64> {
    orders
        .iter()
        .find(|o| !NOT_A_SALE.contains(&o.status_id) && !ours(o.id))
        .map(|o| o.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: u64, status_id: u32) -> OrderSummary {
        OrderSummary {
            id,
            status_id,
            date_modified: None,
        }
    }

    #[test]
    fn only_another_orders_sale_counts() {
        let ours = |id| id == 100;
        assert_eq!(first_sale(&[], ours), None);
        // The app's own order, placed or not, is no other payment.
        assert_eq!(first_sale(&[order(100, 11)], ours), None);
        // Orders that took no money.
        for status in [0, 4, 5, 6] {
            assert_eq!(first_sale(&[order(101, status)], ours), None, "{status}");
        }
        // A bank transfer awaiting payment, a card payment: sales.
        assert_eq!(first_sale(&[order(100, 0), order(101, 7)], ours), Some(101));
        assert_eq!(first_sale(&[order(102, 11)], ours), Some(102));
    }
}
