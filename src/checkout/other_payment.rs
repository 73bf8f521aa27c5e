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

/// An order of this checkout that the app did not make and that sold the cart, if any.
/// BigCommerce unreachable, failing or out of quota is an error (`Upstream`/`Busy`): the
/// caller cannot tell, and must not confirm. So is an answer slower than [`BUDGET`].
pub async fn sold_otherwise(
    state: &AppState,
    store: &StoreHash,
    s: &Solicitation,
) -> Result<Option<u64>, AppError> {
    tokio::time::timeout(BUDGET, ask(state, store, s))
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
