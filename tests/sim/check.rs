//! The invariants (issue 13), checked once a scenario has settled. What BigCommerce and seQura
//! hold comes from the stand-ins' own records; what the merchant is told comes from the app's
//! pages, read as the merchant's browser reads them. Nothing here reads the app's code; the
//! app's database is read only to see that its queue is empty.
//!
//! What seQura should hold of an order is computed from BigCommerce's record of it with the
//! app's documented rules (README, "What seQura holds"): shipped units less the units refunded
//! (a refund takes shipped goods back first) are shipped; what is neither shipped nor refunded
//! is unshipped; a cancelled or archived order keeps its shipped goods and nothing unshipped;
//! an order refunded in full holds nothing.

use std::collections::BTreeMap;

use serde_json::Value;

use sequra_bc_sandbox::sequra::OrderRecord;

use super::truth::{Held, Truth, adds_up};
pub use super::truth::{acknowledged, cents, order_of};
use super::world::{Attempt, INCOMPLETE, World};

/// Checks every invariant; every failure, one per line.
pub async fn check(world: &mut World) -> Result<(), String> {
    let mut failures = Vec::new();
    let mut sequra: Vec<OrderRecord> = world.app.sequra.orders();
    // What the simulator delivered again itself was delivered to the app all the same.
    for (uuid, n) in &world.redelivered {
        if let Some(o) = sequra.iter_mut().find(|o| o.uuid == *uuid) {
            o.notifications.push(n.clone());
        }
    }
    let requests = world.app.bc.requests();
    for si in 0..world.stores.len() {
        let s = &world.stores[si];
        let hash = s.hash.clone();
        let attempts = s.attempts.clone();
        let session = s.session.clone();
        let orders = world.app.bc.orders(&hash);
        let by_id: BTreeMap<u64, Value> = orders
            .into_iter()
            .filter_map(|o| Some((o["id"].as_u64()?, o)))
            .collect();
        let mine: Vec<&OrderRecord> = sequra
            .iter()
            .filter(|o| attempts.iter().any(|a| a.uuid == o.uuid))
            .collect();
        let cov = &mut world.coverage;

        // 1. Every approval seQura made (and the shop acknowledged) belongs to exactly one
        //    placed BigCommerce order, with the payment recorded on it.
        let mut paid_by: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
        for o in &mine {
            if !acknowledged(o, "approved") {
                continue;
            }
            cov.checked("1_approval_placed");
            let Some(id) = order_of(o) else {
                failures.push(format!("{hash}: approved {} names no order", o.uuid));
                continue;
            };
            paid_by.entry(id).or_default().push(&o.uuid);
            let Some(bc) = by_id.get(&id) else {
                failures.push(format!(
                    "{hash}: approved {} but order {id} is gone",
                    o.uuid
                ));
                continue;
            };
            if bc["status_id"].as_u64() == Some(INCOMPLETE) {
                failures.push(format!(
                    "{hash}: approved {} but order {id} is Incomplete (invisible to the merchant)",
                    o.uuid
                ));
            }
            if bc["payment_provider_id"].as_str() != Some(o.uuid.as_str()) {
                failures.push(format!(
                    "{hash}: order {id} paid by {} carries payment_provider_id {}",
                    o.uuid, bc["payment_provider_id"]
                ));
            }
            if bc["payment_method"]
                .as_str()
                .is_none_or(|m| !m.contains("seQura"))
            {
                failures.push(format!(
                    "{hash}: order {id} paid by {} carries payment_method {}",
                    o.uuid, bc["payment_method"]
                ));
            }
        }
        for (id, uuids) in &paid_by {
            if uuids.len() > 1 {
                failures.push(format!("{hash}: order {id} paid twice: {uuids:?}"));
            }
        }

        // 2. No order is placed without seQura's approval or review.
        for (id, bc) in &by_id {
            let status = bc["status_id"].as_u64().unwrap_or(INCOMPLETE);
            if status == INCOMPLETE || s.paid_otherwise.contains(id) {
                continue;
            }
            cov.checked("2_placed_is_paid");
            let backed = mine.iter().any(|o| {
                order_of(o) == Some(*id)
                    && (acknowledged(o, "approved") || acknowledged(o, "needs_review"))
            });
            if !backed {
                failures.push(format!(
                    "{hash}: order {id} placed (status {status}) without a seQura approval"
                ));
            }
        }

        // 10. No cart is paid twice, whatever the payment methods (seQura in one tab, a bank
        //     transfer in another): of the orders made from one cart, one at most was paid,
        //     by the other method or by a seQura approval seQura still holds. (Statuses do
        //     not tell: a merchant may ship an order seQura cancelled.) Payments are counted,
        //     not orders: one order paid both ways is two.
        let mut sales_of_cart: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for (id, bc) in &by_id {
            let by_sequra = mine.iter().any(|o| {
                order_of(o) == Some(*id) && acknowledged(o, "approved") && o.state != "cancelled"
            });
            // A transfer the merchant cancelled before seQura's approval took no money.
            let otherwise = s.paid_otherwise.contains(id) && !s.withdrawn_otherwise.contains(id);
            if let Some(cart) = bc["cart_id"].as_str().filter(|c| !c.is_empty()) {
                let sales = sales_of_cart.entry(cart).or_default();
                sales.extend(std::iter::repeat_n(
                    *id,
                    usize::from(by_sequra) + usize::from(otherwise),
                ));
                if sales.is_empty() {
                    sales_of_cart.remove(cart);
                }
            }
        }
        for (cart, sales) in &sales_of_cart {
            cov.checked("10_cart_paid_once");
            if sales.len() > 1 {
                failures.push(format!("{hash}: cart {cart} paid by orders {sales:?}"));
            }
        }

        // 11. seQura never receives an order-number confirmation after an update of the same
        //     order (it would take back the shipments and refunds the update carried).
        for o in &mine {
            if o.puts.is_empty() {
                continue;
            }
            cov.checked("11_no_confirmation_after_update");
            if o.confirmed_after_update() {
                failures.push(format!(
                    "{hash}: seQura order {} was confirmed after an update: {:?}",
                    o.uuid, o.puts
                ));
            }
        }

        // 8 (read first: 3 and 4 allow what the merchant has been told about). The order
        // panel, as the control panel shows it.
        let mut panels: BTreeMap<u64, Panel> = BTreeMap::new();
        for id in by_id.keys() {
            if !attempts.iter().any(|a| a.order_id == *id) {
                continue;
            }
            let (status, html) = world
                .app
                .page(&format!("/app/orders/{id}/sequra"), &session)
                .await;
            if status != 200 {
                failures.push(format!("{hash}: the order panel of {id} answered {status}"));
                continue;
            }
            panels.insert(*id, Panel::read(&html));
        }
        let cov = &mut world.coverage;

        for o in &mine {
            let Some(id) = order_of(o) else { continue };
            let Some(bc) = by_id.get(&id) else { continue };
            let approved = acknowledged(o, "approved");
            let open = panels.get(&id).is_some_and(|p| p.open_entries > 0);

            // 7. The panel of this store's order shows this store's payment.
            if approved && let Some(p) = panels.get(&id) {
                cov.checked("7_stores_isolated");
                if p.uuid.as_deref() != Some(o.uuid.as_str())
                    && !attempts
                        .iter()
                        .any(|a| Some(a.uuid.as_str()) == p.uuid.as_deref())
                {
                    failures.push(format!(
                        "{hash}: the panel of order {id} shows seQura order {:?}, not one of this \
                         store's ({})",
                        p.uuid, o.uuid
                    ));
                }
            }
            if !approved || !matches!(o.state.as_str(), "confirmed" | "cancelled") {
                continue;
            }
            if open {
                cov.checked("3_4_difference_explained_by_the_log");
                continue;
            }
            let truth = Truth::of(&world.app.bc, &hash, id, bc);
            let held = Held::of(o);

            // 4. Money adds up.
            cov.checked("4_money_adds_up");
            if let Some(why) = truth.money(&held) {
                failures.push(format!(
                    "{hash}: order {id} (status {}, seQura {}): {why}",
                    bc["status_id"], o.state
                ));
            }
            for (what, cart) in carts_sent(o) {
                cov.checked("4_every_cart_adds_up");
                if let Some(why) = adds_up(cart) {
                    failures.push(format!("{hash}: order {id}: {what} does not add up: {why}"));
                }
            }

            // 3. Item by item, and the address.
            cov.checked("3_carts_match_bigcommerce");
            if held.shipped_units != truth.shipped_units
                || held.unshipped_units != truth.unshipped_units
            {
                failures.push(format!(
                    "{hash}: order {id}: seQura holds shipped {:?} unshipped {:?}, BigCommerce \
                     implies shipped {:?} unshipped {:?}",
                    held.shipped_units,
                    held.unshipped_units,
                    truth.shipped_units,
                    truth.unshipped_units
                ));
            }
            if !truth.closed && truth.street.is_some() && held.street != truth.street {
                failures.push(format!(
                    "{hash}: order {id}: seQura delivers to {:?}, BigCommerce to {:?}",
                    held.street, truth.street
                ));
            }

            // 8. The merchant's panel shows what seQura holds.
            if let Some(p) = panels.get(&id) {
                cov.checked("8_panel_agrees");
                if matches!(p.state.as_str(), "none" | "pending") {
                    failures.push(format!(
                        "{hash}: order {id} approved, but its panel says {:?}",
                        p.state
                    ));
                }
                if let Some((shipped, unshipped)) = p.amounts
                    && (shipped, unshipped) != (held.shipped_total, held.unshipped_total)
                {
                    failures.push(format!(
                        "{hash}: order {id}: the panel shows {shipped} shipped and {unshipped} \
                         unshipped, seQura holds {} and {}",
                        held.shipped_total, held.unshipped_total
                    ));
                }
            }
        }

        // 5. Nothing doubled: no update sent twice for one change, no order's status set
        //    more often than seQura gave it outcomes (a late notification must not set it
        //    again over the merchant's own change).
        for o in &mine {
            cov.checked("5_nothing_doubled");
            for (i, pair) in o.updates.windows(2).enumerate() {
                // A crash right after seQura took the first, before the app recorded it.
                let crashed_between = world
                    .crash_marks
                    .iter()
                    .any(|m| m.after_update(&o.uuid, i + 1));
                if same_holding(&pair[0], &pair[1]) && !crashed_between {
                    failures.push(format!(
                        "{hash}: {} got the same update twice in a row",
                        o.uuid
                    ));
                    break;
                }
            }
        }
        for a in &attempts {
            let outcomes = outcomes_of(&mine, a);
            let path = format!("/stores/{hash}/v2/orders/{}", a.order_id);
            let writes: Vec<usize> = requests
                .iter()
                .enumerate()
                .filter(|(_, r)| r.method == "PUT" && r.path == path)
                .filter(|(_, r)| {
                    serde_json::from_str::<Value>(&r.body)
                        .is_ok_and(|b| b.get("status_id").is_some_and(|v| !v.is_null()))
                })
                .map(|(i, _)| i)
                .collect();
            let status_writes = writes.len();
            // A write BigCommerce failed on purpose is written again, and so may be the last
            // write before a crash (made, not yet recorded): allowed.
            let crashed_after_a_write = world
                .crash_marks
                .iter()
                .filter(|m| {
                    writes.iter().any(|&i| i < m.requests)
                        && writes.iter().any(|&i| i >= m.requests)
                })
                .count();
            // And a write refused because the store was uninstalled (soak seed 805390).
            let refused_uninstalled = world
                .uninstall_marks
                .iter()
                .filter(|(store, at)| *store == si && writes.iter().any(|&i| i >= *at))
                .count();
            let retried = world.injected_put_failures + crashed_after_a_write + refused_uninstalled;
            if status_writes > outcomes + retried {
                failures.push(format!(
                    "{hash}: order {} had its status written {status_writes} times for {outcomes} \
                     seQura outcome(s)",
                    a.order_id
                ));
            }
        }

        // 7. The store's log names only the store's orders.
        let (status, html) = world.app.page("/app/log", &session).await;
        if status == 200 {
            world.coverage.checked("7_log_isolated");
            for order in log_orders(&html) {
                if !attempts.iter().any(|a| a.order_id == order) {
                    failures.push(format!(
                        "{hash}: the transaction log names order {order}, not one of this store's"
                    ));
                }
            }
        }
    }

    // 9. Nothing acknowledged is lost: every delivery of a scope the app handles that it
    //    answered 2xx is in its record of deliveries (stored before the 200, whatever crashed).
    world.coverage.checked("9_acknowledged_is_stored");
    const HANDLED: [&str; 3] = ["store/order/", "store/shipment/", "store/app/uninstalled"];
    for d in world.app.bc.webhook_deliveries() {
        let acked = d.status.as_ref().is_ok_and(|s| (200..300).contains(s));
        if !acked || !HANDLED.iter().any(|p| d.scope.starts_with(p)) {
            continue;
        }
        let Some(store) = d.payload["producer"]
            .as_str()
            .and_then(|p| p.strip_prefix("stores/"))
        else {
            continue;
        };
        let quoted = |v: &str| v.replace('\'', "''");
        let stored = world.app.count(&format!(
            "SELECT COUNT(*) FROM webhook_events WHERE store_hash = '{}' AND scope = '{}' \
             AND event_hash = '{}'",
            quoted(store),
            quoted(&d.scope),
            quoted(&d.hash)
        ));
        if stored == 0 {
            failures.push(format!(
                "{store}: a {} delivery about order {:?} was acknowledged but never stored",
                d.scope, d.order_id
            ));
        }
    }

    // 6. No 5xx the scenario did not call for, no job left.
    world.coverage.checked("6_no_5xx_no_job_left");
    failures.extend(world.server_errors.iter().map(|e| format!("5xx: {e}")));
    failures.extend(world.other_failures.iter().cloned());
    let stuck = world
        .app
        .count("SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running')");
    if stuck > 0 {
        let which = world.app.query(
            "SELECT group_concat(kind || ' ' || state || ' attempts ' || attempts || ' due in ' \
             || (run_at - CAST(strftime('%s','now') AS INTEGER) * 1000) || ' ms (real clock) ' \
             || coalesce(last_error, ''), '; ') FROM jobs WHERE state IN ('pending', 'running')",
            |r| r.get::<_, Option<String>>(0),
        );
        let gave_up = world
            .gave_up_settling
            .load(std::sync::atomic::Ordering::Relaxed);
        failures.push(format!(
            "{stuck} job(s) still queued after settling{}: {}",
            if gave_up {
                " (a settle gave up after 60 s)"
            } else {
                ""
            },
            which.unwrap_or_default()
        ));
    }
    failures.dedup();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// How many distinct outcomes seQura gave the orders of one BigCommerce order that the shop
/// acknowledged (each may set the order's status once).
fn outcomes_of(mine: &[&OrderRecord], a: &Attempt) -> usize {
    let mut states: Vec<&str> = Vec::new();
    for o in mine.iter().filter(|o| order_of(o) == Some(a.order_id)) {
        for n in o.notifications.iter().filter(|n| n.status == 200) {
            let state = if n.state.starts_with("cancel") {
                "cancelled"
            } else {
                n.state.as_str()
            };
            if !states.contains(&state) {
                states.push(state);
            }
        }
    }
    states.len()
}

/// Every cart the shop sent seQura for the order, named.
fn carts_sent(o: &OrderRecord) -> Vec<(String, &Value)> {
    let mut out = vec![("the solicited cart".to_string(), &o.solicited["cart"])];
    for (i, u) in o.updates.iter().enumerate() {
        for key in ["shipped_cart", "unshipped_cart"] {
            if u[key].is_object() {
                out.push((format!("update {} {key}", i + 1), &u[key]));
            }
        }
    }
    out
}

/// Whether two updates ask seQura to hold the same thing.
fn same_holding(a: &Value, b: &Value) -> bool {
    [
        "shipped_cart",
        "unshipped_cart",
        "delivery_address",
        "invoice_address",
    ]
    .iter()
    .all(|k| a[k] == b[k])
}

/// The order panel, as read off its page.
struct Panel {
    state: String,
    uuid: Option<String>,
    /// (shipped, unshipped) in cents, when shown.
    amounts: Option<(i64, i64)>,
    /// Refusals and failures in the order's log not yet resolved.
    open_entries: usize,
}

impl Panel {
    fn read(html: &str) -> Panel {
        let state = after(html, r#"id="order-panel""#)
            .and_then(|rest| attr(rest, "data-state"))
            .unwrap_or_default();
        let uuid = after(html, r#"id="panel-uuid"><code>"#).and_then(|r| upto(r, "<"));
        let amount = |id: &str| {
            after(html, &format!(r#"id="{id}">"#))
                .and_then(|r| upto(r, "<"))
                .map(|text| digits_as_cents(&text))
        };
        let amounts = match (amount("panel-shipped"), amount("panel-unshipped")) {
            (Some(s), Some(u)) => Some((s, u)),
            _ => None,
        };
        let open_entries = html
            .match_indices("data-outcome=\"")
            .filter(|(i, m)| {
                let rest = &html[i + m.len()..];
                (rest.starts_with("rejected") || rest.starts_with("failed"))
                    && attr(rest, "data-resolved").as_deref() == Some("no")
            })
            .count();
        Panel {
            state,
            uuid,
            amounts,
            open_entries,
        }
    }
}

/// The order numbers the log's rows name.
fn log_orders(html: &str) -> Vec<u64> {
    html.match_indices("data-order=\"")
        .filter_map(|(i, m)| upto(&html[i + m.len()..], "\"")?.parse().ok())
        .collect()
}

fn after<'a>(html: &'a str, marker: &str) -> Option<&'a str> {
    html.find(marker).map(|i| &html[i + marker.len()..])
}

fn upto(s: &str, end: &str) -> Option<String> {
    s.find(end).map(|i| s[..i].trim().to_string())
}

/// The value of the first `name="…"` attribute in `s` (within its tag).
fn attr(s: &str, name: &str) -> Option<String> {
    let tag_end = s.find('>').unwrap_or(s.len());
    let tag = &s[..tag_end];
    let rest = after(tag, &format!("{name}=\""))?;
    upto(rest, "\"")
}

/// "€1,234.56" or "1.234,56 €" as cents (amounts always show two decimals).
fn digits_as_cents(text: &str) -> i64 {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let n: i64 = digits.parse().unwrap_or(0);
    if text.contains('-') { -n } else { n }
}
