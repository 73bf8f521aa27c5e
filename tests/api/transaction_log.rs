//! The transaction log, the order panel and the dashboard's warning over HTTP: a refused
//! update shows with seQura's words and its links, filters and pages narrow the log, Retry
//! delivers the update once the cause is fixed, and no store sees another's log.

use serde_json::Value;

use sequra_bc::db::transaction_log::{self, NewEntry, Outcome};
use sequra_bc::domain::{BcOrderId, StoreHash};
use sequra_bc::i18n::{Lang, format_eur};
use sequra_bc_sandbox::sequra::DEMO_MERCHANT_ES;

use crate::helpers::{TestApp, spawn_app};

pub const STORE: &str = "store1";
pub const REFUSAL: &str = "Shipped cart cannot hold more than was ordered (order is disputed)";

// One way to make a paid order and to wait for the queue, shared with the order-sync tests.
pub use crate::order_sync::{eventually, paid_order, sequra_store as selling, settle};

/// The newest entry of `order` with `outcome`, once there is one.
pub async fn entry_of(app: &TestApp, order: u64, outcome: &str) -> i64 {
    let sql = format!(
        "SELECT IFNULL(MAX(id), 0) FROM transaction_log
         WHERE bc_order_id = {order} AND outcome = '{outcome}'"
    );
    eventually(&format!("a {outcome} entry for #{order}"), || {
        Some(app.count(&sql)).filter(|id| *id > 0)
    })
    .await
}

/// A shipment of the whole order that seQura refuses: returns the Rejected entry's id.
pub async fn refused_shipment(app: &TestApp, order: u64) -> i64 {
    app.sequra.refuse_updates(&order.to_string(), REFUSAL);
    app.bc.ship_all(STORE, order).expect("shipped");
    entry_of(app, order, "rejected").await;
    settle(app).await;
    // Every job the shipment's webhooks queued has run: the newest rejection is the last.
    entry_of(app, order, "rejected").await
}

fn resolved(app: &TestApp, entry: i64) -> bool {
    app.query(
        &format!("SELECT resolved_at IS NOT NULL FROM transaction_log WHERE id = {entry}"),
        |r| r.get(0),
    )
}

/// Undoes the escaping minijinja applies to text and attributes.
pub fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A log row as rendered.
#[derive(Debug)]
struct Row {
    id: i64,
    order: String,
    outcome: String,
    resolved: bool,
    html: String,
}

fn attr(fragment: &str, name: &str) -> Option<String> {
    let start = fragment.find(&format!("{name}=\""))? + name.len() + 2;
    let end = fragment[start..].find('"')? + start;
    Some(fragment[start..end].to_string())
}

/// The rows of the log table, top to bottom.
fn rows(html: &str) -> Vec<Row> {
    let html = unescape(html);
    html.split("<tr id=\"entry-")
        .skip(1)
        .map(|part| {
            let tr = &part[..part.find("</tr>").expect("row ends")];
            Row {
                id: tr[..tr.find('"').unwrap()].parse().unwrap(),
                order: attr(tr, "data-order").unwrap(),
                outcome: attr(tr, "data-outcome").unwrap(),
                resolved: attr(tr, "data-resolved").as_deref() == Some("yes"),
                html: tr.to_string(),
            }
        })
        .collect()
}

fn ids(rows: &[Row]) -> Vec<i64> {
    rows.iter().map(|r| r.id).collect()
}

/// The href of the first link with `class` in `fragment`.
fn link(fragment: &str, class: &str) -> Option<String> {
    let at = fragment.find(&format!("class=\"{class}\""))?;
    let tag_start = fragment[..at].rfind('<')?;
    let tag_end = at + fragment[at..].find('>')?;
    attr(&fragment[tag_start..tag_end], "href")
}

/// Records an entry of `order` dated `day` at noon, as the sync would.
fn logged(app: &TestApp, order: u64, outcome: Outcome, day: &str) -> i64 {
    let store = StoreHash::parse(STORE).unwrap();
    let day = format!("{day}T12:00:00Z");
    app.state
        .db
        .call_blocking(move |c| {
            let id = transaction_log::insert(
                c,
                &NewEntry {
                    store: &store,
                    order: Some(BcOrderId(order)),
                    sequra_uuid: None,
                    environment: None,
                    merchant_ref: None,
                    event: "update",
                    outcome,
                    message: "seeded",
                    message_key: None,
                    message_args: None,
                },
            )?;
            c.execute(
                "UPDATE transaction_log SET created_at = ?1 WHERE id = ?2",
                rusqlite::params![day, id],
            )?;
            Ok(id)
        })
        .unwrap()
}

#[tokio::test]
async fn a_refused_shipment_shows_as_rejected_with_sequras_message_and_both_links() {
    let app = spawn_app().await;
    let session = selling(&app).await;
    let (order, uuid) = paid_order(&app, &[(104, 1)]).await;
    let entry = refused_shipment(&app, order).await;

    let (status, html) = app.page("/app/log", &session).await;
    assert_eq!(status, 200);
    let rows = rows(&html);
    let row = rows
        .iter()
        .find(|r| r.id == entry)
        .expect("the entry is listed");
    assert_eq!(row.order, order.to_string());
    assert_eq!(row.outcome, "rejected");
    assert!(!row.resolved);
    assert!(row.html.contains(REFUSAL), "seQura's message: {}", row.html);
    assert!(row.html.contains(">Shipment<"), "{}", row.html);
    assert!(row.html.contains(&format!("id=\"retry-{entry}\"")));

    let bc_base = app.bc.base_url().as_str().trim_end_matches('/').to_string();
    let order_url = link(&row.html, "order-link").expect("order link");
    assert_eq!(
        order_url,
        format!("{bc_base}/manage/{STORE}/orders/{order}")
    );
    assert!(row.html.contains("target=\"_blank\""));
    let portal_url = link(&row.html, "portal-link").expect("portal link");
    assert_eq!(
        portal_url,
        format!("{}/orders/{uuid}", app.sequra.portal_url("sandbox"))
    );
    // Both lead to the order.
    let page = app.get(&order_url).await.text().await.unwrap();
    assert!(page.contains(&format!("Order #{order}")), "{page}");
    let page = app.get(&portal_url).await.text().await.unwrap();
    assert!(page.contains(&format!("data-uuid=\"{uuid}\"")), "{page}");

    // The order panel: seQura still holds the order unshipped, and says why.
    let (_, panel) = app
        .page(&format!("/app/orders/{order}/sequra"), &session)
        .await;
    assert!(panel.contains("data-state=\"approved\""), "{panel}");
    assert!(panel.contains("id=\"panel-problem\""), "{panel}");
    assert!(panel.contains(REFUSAL), "{panel}");

    // The dashboard warns and leads to the log; the log is in the navigation.
    let (_, dash) = app.page("/app", &session).await;
    assert!(dash.contains("id=\"problems\""), "{dash}");
    // The shipment's webhooks may queue more than one update job, each refused.
    let open = app.count(&format!(
        "SELECT count(*) FROM transaction_log
         WHERE bc_order_id = {order} AND outcome = 'rejected' AND resolved_at IS NULL"
    ));
    assert!(open >= 1);
    assert!(
        dash.contains(&format!("id=\"open-problems\" data-count=\"{open}\"")),
        "{dash}"
    );
    assert!(
        !dash.contains("id=\"stuck-jobs\""),
        "the failed jobs are the log's rejections, not stuck work: {dash}"
    );
    assert!(unescape(&dash).contains("id=\"problems-log\" href=\"/app/log?session="));
    assert!(dash.contains("id=\"nav-log\""));
}

#[tokio::test]
async fn the_log_filters_by_order_outcome_and_dates() {
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    let a = logged(&app, 101, Outcome::Sent, "2026-01-05");
    let b = logged(&app, 102, Outcome::Rejected, "2026-01-10");
    let c = logged(&app, 101, Outcome::Rejected, "2026-01-20");
    let d = logged(&app, 103, Outcome::Waiting, "2026-02-01");

    let listed = |query: &'static str| {
        let app = &app;
        let session = session.clone();
        async move {
            let (status, html) = app.page(&format!("/app/log?{query}"), &session).await;
            assert_eq!(status, 200, "{query}: {html}");
            ids(&rows(&html))
        }
    };
    assert_eq!(listed("").await, [d, c, b, a], "newest first");
    assert_eq!(listed("order=101").await, [c, a]);
    assert_eq!(listed("order=%23101").await, [c, a], "a typed # is fine");
    assert_eq!(listed("outcome=rejected").await, [c, b]);
    assert_eq!(listed("outcome=waiting").await, [d]);
    assert_eq!(listed("order=101&outcome=rejected").await, [c]);
    assert_eq!(
        listed("from=2026-01-10&to=2026-01-20").await,
        [c, b],
        "both days included"
    );
    assert_eq!(listed("from=2026-01-21").await, [d]);
    assert_eq!(listed("to=2026-01-09").await, [a]);
    assert_eq!(listed("order=999").await, Vec::<i64>::new());
    let (_, html) = app.page("/app/log?order=999", &session).await;
    assert!(html.contains("No entries match these filters."), "{html}");
    // The form shows the filters applied.
    let (_, html) = app
        .page("/app/log?order=101&outcome=rejected", &session)
        .await;
    assert!(html.contains("name=\"order\" value=\"101\""), "{html}");
    assert!(
        html.contains("<option value=\"rejected\" selected>"),
        "{html}"
    );
}

#[tokio::test]
async fn the_log_pages_by_25_newest_first_keeping_the_filters() {
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    let mut all: Vec<i64> = (0..60)
        .map(|i| {
            let outcome = if i % 2 == 0 {
                Outcome::Sent
            } else {
                Outcome::Rejected
            };
            logged(&app, 200 + i, outcome, "2026-03-01")
        })
        .collect();
    all.reverse();

    let (_, first) = app.page("/app/log", &session).await;
    assert_eq!(ids(&rows(&first)), all[..25]);
    assert!(!first.contains("id=\"log-prev\""));
    let next = attr_of_id(&first, "log-next").expect("a next link");
    assert!(next.starts_with("/app/log?page=2&session="), "{next}");
    let second = app.get_path(&next).await.text().await.unwrap();
    assert_eq!(ids(&rows(&second)), all[25..50]);
    assert!(second.contains("id=\"log-prev\"") && second.contains("id=\"log-next\""));
    assert!(second.contains("Page 2"));
    let (_, third) = app.page("/app/log?page=3", &session).await;
    assert_eq!(ids(&rows(&third)), all[50..]);
    assert!(!third.contains("id=\"log-next\""));
    let prev = attr_of_id(&third, "log-prev").unwrap();
    assert!(prev.starts_with("/app/log?page=2&session="), "{prev}");
    let (_, beyond) = app.page("/app/log?page=4", &session).await;
    assert!(rows(&beyond).is_empty());

    // The filter travels with the pages: 30 rejected entries are 25 + 5.
    let (_, rejected) = app.page("/app/log?outcome=rejected", &session).await;
    let page1 = rows(&rejected);
    assert_eq!(page1.len(), 25);
    assert!(page1.iter().all(|r| r.outcome == "rejected"));
    let next = attr_of_id(&rejected, "log-next").unwrap();
    assert!(
        next.starts_with("/app/log?outcome=rejected&page=2&session="),
        "{next}"
    );
    let page2 = rows(&app.get_path(&next).await.text().await.unwrap());
    assert_eq!(page2.len(), 5);
    assert!(page2.iter().all(|r| r.outcome == "rejected"));
    let prev = attr_of_id(&app.get_path(&next).await.text().await.unwrap(), "log-prev").unwrap();
    assert!(
        prev.starts_with("/app/log?outcome=rejected&session="),
        "{prev}"
    );
}

/// The href of the element with `id`.
fn attr_of_id(html: &str, id: &str) -> Option<String> {
    let html = unescape(html);
    let at = html.find(&format!("id=\"{id}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    attr(&html[tag_start..tag_end], "href")
}

#[tokio::test]
async fn malformed_filters_are_answered_400_with_what_is_wrong() {
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    logged(&app, 101, Outcome::Rejected, "2026-01-05");
    for (query, id, message) in [
        (
            "order=abc",
            "order-error",
            "\"abc\" is not an order number.",
        ),
        ("order=-3", "order-error", "\"-3\" is not an order number."),
        (
            "outcome=lost",
            "outcome-error",
            "Choose one of the listed outcomes.",
        ),
        (
            "from=2026-13-01",
            "from-error",
            "\"2026-13-01\" is not a date",
        ),
        ("to=yesterday", "to-error", "\"yesterday\" is not a date"),
        (
            "from=2026-02-01&to=2026-01-01",
            "to-error",
            "This date is before the \"From\" date.",
        ),
        ("page=0", "page-error", "The page number is not valid."),
        ("page=x", "page-error", "The page number is not valid."),
    ] {
        let (status, html) = app.page(&format!("/app/log?{query}"), &session).await;
        assert_eq!(status, 400, "{query}");
        let html = unescape(&html);
        assert!(
            html.contains(&format!("id=\"{id}\">{message}")),
            "{query}: {html}"
        );
        assert!(
            rows(&html).is_empty(),
            "{query}: no entries under a bad filter"
        );
        assert!(
            html.contains("id=\"log-filters\""),
            "the form is shown again"
        );
    }
    // A retry without a readable entry.
    let resp = app
        .post_form("/app/log/retry", &session, &[("entry", "abc")])
        .await;
    assert_eq!(resp.status(), 400);
    let resp = app.post_form("/app/log/retry", &session, &[]).await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn retry_after_the_fix_delivers_the_update_and_resolves_the_entry() {
    let app = spawn_app().await;
    let session = selling(&app).await;
    let (order, uuid) = paid_order(&app, &[(104, 1)]).await;
    let entry = refused_shipment(&app, order).await;
    assert!(app.sequra.order(&uuid).unwrap().updates.is_empty());

    // Retried while seQura still refuses: a new rejection, the first stays open.
    let resp = app
        .post_form("/app/log/retry", &session, &[("entry", &entry.to_string())])
        .await;
    let status = resp.status();
    assert_eq!(status, 303, "{}", resp.text().await.unwrap());
    let second = eventually("a second rejection", || {
        let id = app.count(&format!(
            "SELECT IFNULL(MAX(id), 0) FROM transaction_log
             WHERE bc_order_id = {order} AND outcome = 'rejected'"
        ));
        (id > entry).then_some(id)
    })
    .await;
    settle(&app).await;
    assert!(!resolved(&app, entry) && !resolved(&app, second));
    assert!(app.sequra.order(&uuid).unwrap().updates.is_empty());

    // Fixed at seQura: the retry goes through, from the filtered second page.
    app.sequra.accept_updates(&order.to_string());
    let resp = app
        .post_form(
            "/app/log/retry",
            &session,
            &[
                ("entry", &entry.to_string()),
                ("outcome", "rejected"),
                ("page", "1"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let location = unescape(resp.headers()["location"].to_str().unwrap());
    assert!(
        location.starts_with("/app/log?outcome=rejected&session=")
            && location.ends_with("&notice=retried"),
        "{location}"
    );
    let shipped = eventually("seQura receives the shipment", || {
        app.sequra.order(&uuid).and_then(|o| o.shipped_cart)
    })
    .await;
    let products: Vec<&Value> = shipped["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "product")
        .collect();
    assert_eq!(products.len(), 1, "{shipped}");
    assert_eq!(products[0]["quantity"], 1);
    assert_eq!(products[0]["reference"], "ZAP-001", "{shipped}");
    let unshipped = app.sequra.order(&uuid).unwrap().unshipped_cart.unwrap();
    assert!(
        unshipped["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["type"] != "product"),
        "{unshipped}"
    );
    eventually("the entry is resolved", || {
        resolved(&app, entry).then_some(())
    })
    .await;
    assert!(resolved(&app, second));
    settle(&app).await;

    // The page after the redirect says so; no Retry remains; the dashboard is calm again.
    let html = app.get_path(&location).await.text().await.unwrap();
    assert!(html.contains("The update was queued again."), "{html}");
    let (_, html) = app.page("/app/log", &session).await;
    let rows = rows(&html);
    let row = rows.iter().find(|r| r.id == entry).unwrap();
    assert!(row.resolved, "{}", row.html);
    assert!(!html.contains("class=\"button retry\""), "{html}");
    assert_eq!(
        rows[0].outcome, "sent",
        "the accepted shipment is the newest entry"
    );
    let (_, dash) = app.page("/app", &session).await;
    assert!(!dash.contains("id=\"problems\""), "{dash}");
    let (_, panel) = app
        .page(&format!("/app/orders/{order}/sequra"), &session)
        .await;
    assert!(panel.contains("data-state=\"shipped\""), "{panel}");
    assert!(!panel.contains("id=\"panel-problem\""), "{panel}");

    // A resolved entry is not retried: a clear 400 and nothing queued.
    let jobs = app.count("SELECT count(*) FROM jobs");
    let resp = app
        .post_form("/app/log/retry", &session, &[("entry", &entry.to_string())])
        .await;
    assert_eq!(resp.status(), 400);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("This entry needs no retry")
    );
    assert_eq!(app.count("SELECT count(*) FROM jobs"), jobs);
}

#[tokio::test]
async fn another_store_can_neither_see_nor_retry_this_stores_entries() {
    let app = spawn_app().await;
    let session = selling(&app).await;
    let (order, uuid) = paid_order(&app, &[(104, 1)]).await;
    let entry = refused_shipment(&app, order).await;
    app.sequra.accept_updates(&order.to_string());
    let other = app.merchant_session("store2").await;

    let (status, html) = app.page("/app/log", &other).await;
    assert_eq!(status, 200);
    assert!(rows(&html).is_empty(), "{html}");
    assert!(!html.contains(REFUSAL));
    let (_, html) = app.page(&format!("/app/log?order={order}"), &other).await;
    assert!(rows(&html).is_empty());
    let (status, html) = app
        .page(&format!("/app/orders/{order}/sequra"), &other)
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("data-state=\"none\""), "{html}");
    assert!(!html.contains(&uuid));

    let jobs = app.count("SELECT count(*) FROM jobs");
    let resp = app
        .post_form("/app/log/retry", &other, &[("entry", &entry.to_string())])
        .await;
    assert_eq!(resp.status(), 404);
    assert_eq!(
        app.count("SELECT count(*) FROM jobs"),
        jobs,
        "nothing queued"
    );
    assert!(app.sequra.order(&uuid).unwrap().updates.is_empty());
    assert!(!resolved(&app, entry));
    // No session at all.
    let resp = app
        .http
        .post(format!("{}/app/log/retry", app.address))
        .form(&[("entry", entry.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Its own store still can.
    let resp = app
        .post_form("/app/log/retry", &session, &[("entry", &entry.to_string())])
        .await;
    assert_eq!(resp.status(), 303);
}

#[tokio::test]
async fn the_order_panel_shows_state_amounts_and_entries_after_a_partial_shipment() {
    let app = spawn_app().await;
    selling(&app).await;
    let (order, uuid) = paid_order(&app, &[(104, 1), (103, 2)]).await;
    let trousers = app
        .bc
        .order_products(STORE, order)
        .into_iter()
        .find(|p| p["product_id"] == 103)
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    app.bc
        .ship_items(STORE, order, &[(trousers, 1)])
        .expect("shipped");
    let sent = entry_of(&app, order, "sent").await;
    settle(&app).await;
    let held = app.sequra.order(&uuid).unwrap();
    let shipped = held.shipped_cart.unwrap()["order_total_with_tax"]
        .as_i64()
        .unwrap();
    let unshipped = held.unshipped_cart.unwrap()["order_total_with_tax"]
        .as_i64()
        .unwrap();
    assert!(shipped > 0 && unshipped > 0, "{shipped} {unshipped}");

    // Opened from the order's App Extension (a signed load) as BigCommerce does; the owner's
    // locale is es-ES, so the panel speaks Spanish.
    let owner = app.bc.store_owner(STORE).unwrap();
    let resp = app.get(app.bc.order_panel_url(STORE, &owner, order)).await;
    assert_eq!(resp.status(), 200);
    let html = unescape(&resp.text().await.unwrap());
    assert!(html.contains("data-state=\"partially_shipped\""), "{html}");
    assert!(html.contains(">Enviado parcialmente<"), "{html}");
    assert!(html.contains(&format!("<code>{uuid}</code>")));
    assert!(html.contains("(<code>i1</code>)"), "{html}");
    assert!(html.contains(&format!("id=\"panel-merchant-ref\">{DEMO_MERCHANT_ES}<")));
    assert!(html.contains("id=\"panel-environment\">Sandbox<"));
    let money = |c| format_eur(c, Lang::Es);
    assert!(
        html.contains(&format!("id=\"panel-shipped\">{}<", money(shipped))),
        "{} in {html}",
        money(shipped)
    );
    assert!(html.contains(&format!("id=\"panel-unshipped\">{}<", money(unshipped))));
    assert!(html.contains(&format!("id=\"panel-refunded\">{}<", money(0))));
    assert!(
        html.contains(&format!("data-entry=\"{sent}\" data-outcome=\"sent\"")),
        "{html}"
    );
    assert!(html.contains(">Envío<"), "{html}");
    assert!(html.contains(&format!(
        "id=\"panel-portal\" href=\"{}/orders/{uuid}\"",
        app.sequra.portal_url("sandbox")
    )));
    let bc_base = app.bc.base_url().as_str().trim_end_matches('/').to_string();
    assert!(html.contains(&format!(
        "id=\"panel-order\" href=\"{bc_base}/manage/{STORE}/orders/{order}\""
    )));

    // The rest ships: shipped in full.
    app.bc.ship_all(STORE, order).expect("shipped");
    eventually("the second shipment reaches seQura", || {
        (app.sequra.order(&uuid).unwrap().updates.len() == 2).then_some(())
    })
    .await;
    settle(&app).await;
    let session = crate::helpers::session_of(&html);
    let (_, html) = app
        .page(&format!("/app/orders/{order}/sequra"), &session)
        .await;
    assert!(html.contains("data-state=\"shipped\""), "{html}");
    assert!(html.contains(&format!("id=\"panel-unshipped\">{}<", money(0))));
}

#[tokio::test]
async fn an_order_not_paid_with_sequra_says_so_on_its_panel() {
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    let (status, html) = app.page("/app/orders/106/sequra", &session).await;
    assert_eq!(status, 200);
    assert!(html.contains("data-state=\"none\""));
    assert!(html.contains("This order has no seQura payment yet."));
    assert!(!html.contains("id=\"panel-portal\""));
}

#[tokio::test]
async fn a_confirmation_bigcommerce_refuses_is_logged_left_to_the_merchant_and_retried() {
    let app = spawn_app().await;
    let session = selling(&app).await;
    // BigCommerce refuses to give the order seQura's outcome, once: a permanent failure.
    app.bc.fail_next("PUT", "/v2/orders/", 400, 1);
    let (order, uuid) = paid_order(&app, &[(104, 1)]).await;
    let entry = entry_of(&app, order, "failed").await;
    let event: String = app.query(
        &format!("SELECT event FROM transaction_log WHERE id = {entry}"),
        |r| r.get(0),
    );
    assert_eq!(event, "confirmation");
    assert_eq!(app.bc.order(STORE, order).unwrap()["status_id"], 0);

    // The sweep does not queue it again: it would fail the same way, every few minutes.
    for _ in 0..2 {
        sequra_bc::orders::reconcile::sweep(&app.state).await;
        settle(&app).await;
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM jobs WHERE kind = 'place_order'"),
        1
    );
    assert_eq!(app.bc.order(STORE, order).unwrap()["status_id"], 0);
    assert!(!resolved(&app, entry));

    // The cause fixed, the merchant's retry places the order and resolves the entry.
    let resp = app
        .post_form("/app/log/retry", &session, &[("entry", &entry.to_string())])
        .await;
    assert_eq!(resp.status(), 303);
    eventually("the order is placed", || {
        (app.bc.order(STORE, order).unwrap()["status_id"] == 11).then_some(())
    })
    .await;
    settle(&app).await;
    assert_eq!(
        app.bc.order(STORE, order).unwrap()["payment_provider_id"],
        uuid.as_str()
    );
    assert!(resolved(&app, entry));
}

/// Issue 16: a message the app writes itself is kept as a key and its arguments, and each
/// reader sees the same row in their own language (amounts as their language writes money);
/// an entry written before keys shows its stored text to everyone.
#[tokio::test]
async fn an_entry_the_app_wrote_reads_in_each_merchants_language() {
    let app = spawn_app().await;
    let english = selling(&app).await;
    let (order, uuid) = paid_order(&app, &[(104, 1)]).await;
    app.bc.ship_all(STORE, order).expect("shipped");
    let sent = entry_of(&app, order, "sent").await;
    settle(&app).await;
    let shipped = app.sequra.order(&uuid).unwrap().shipped_cart.unwrap()["order_total_with_tax"]
        .as_i64()
        .unwrap();
    let (key, stored): (Option<String>, String) = app.query(
        &format!("SELECT message_key, message FROM transaction_log WHERE id = {sent}"),
        |r| Ok((r.get(0)?, r.get(1)?)),
    );
    assert_eq!(key.as_deref(), Some("log_msg_update_sent"));
    let in_english = format!(
        "Shipped {} · unshipped {}",
        format_eur(shipped, Lang::En),
        format_eur(0, Lang::En)
    );
    assert_eq!(stored, in_english, "the stored text stays English");
    let old = logged(&app, order, Outcome::Rejected, "2026-01-01");

    // A second user of the store whose BigCommerce locale is Spanish.
    let spanish_user = sequra_bc_sandbox::bigcommerce::User {
        locale: "es-ES".into(),
        ..crate::helpers::staff_user(4242)
    };
    let resp = app.get(app.bc.load_url(STORE, &spanish_user, "/")).await;
    assert_eq!(resp.status(), 200);
    let spanish = crate::helpers::session_of(&resp.text().await.unwrap());

    let row_of = |html: &str, id: i64| -> String {
        rows(html)
            .into_iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("entry {id} listed: {html}"))
            .html
    };
    let (_, html) = app.page("/app/log", &english).await;
    assert!(row_of(&html, sent).contains(&in_english), "{html}");
    assert!(row_of(&html, old).contains("seeded"));
    let (_, html) = app.page("/app/log", &spanish).await;
    let in_spanish = format!(
        "Enviado {} · sin enviar {}",
        format_eur(shipped, Lang::Es),
        format_eur(0, Lang::Es)
    );
    assert!(row_of(&html, sent).contains(&in_spanish), "{html}");
    assert!(
        row_of(&html, old).contains("seeded"),
        "older rows as stored"
    );

    // The order panel too.
    let (_, panel) = app
        .page(&format!("/app/orders/{order}/sequra"), &spanish)
        .await;
    assert!(unescape(&panel).contains(&in_spanish), "{panel}");
    let (_, panel) = app
        .page(&format!("/app/orders/{order}/sequra"), &english)
        .await;
    assert!(unescape(&panel).contains(&in_english), "{panel}");
}
