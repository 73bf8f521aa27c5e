//! seQura's configuration topics (issue 32), each read and written through a signed webhook:
//! a write is the merchant page's write (same checks, all or nothing), shows on the page and in
//! the transaction log as changed by seQura, a partial body keeps what it does not name, and
//! every refusal is seQura's error body with a 4xx that changes nothing.

use serde_json::{Value, json};

use crate::checkout::{STORE, ready};
use crate::helpers::TestApp;
use crate::remote_config::{call, call_raw, contract_signature};

fn code(v: &Value) -> &str {
    assert_eq!(v["statusCode"], 0, "{v}");
    assert!(v["errorParameters"].is_array(), "{v}");
    v["errorCode"].as_str().unwrap_or_else(|| panic!("{v}"))
}

/// The store's "changed by seQura" entries, oldest first: (message in English, key).
fn changes(app: &TestApp, store: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(app.state.db.path()).unwrap();
    let mut q = conn
        .prepare(
            "SELECT message FROM transaction_log WHERE store_hash = ?1
             AND event = 'remote_configuration' AND outcome = 'changed' ORDER BY id",
        )
        .unwrap();
    q.query_map([store], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

async fn spanish_session(app: &TestApp) -> String {
    let user = sequra_bc_sandbox::bigcommerce::User {
        locale: "es-ES".into(),
        ..crate::helpers::staff_user(4343)
    };
    let resp = app.get(app.bc.load_url(STORE, &user, "/")).await;
    assert_eq!(resp.status(), 200);
    crate::helpers::session_of(&resp.text().await.unwrap())
}

#[tokio::test]
async fn general_settings_written_by_sequra_show_on_the_pages_and_in_the_log() {
    let (app, session) = ready().await;
    let (status, v) = call(&app, STORE, json!({"topic": "get-general-settings"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["sellingCountries"], json!(["ES", "FR"]));
    assert_eq!(v["allowedIPAddresses"], json!([]));
    assert_eq!(v["sendOrderReportsPeriodicallyToSeQura"], true);
    assert_eq!(v["showSeQuraCheckoutAsHostedPage"], false);
    assert_eq!(v["defaultServicesEndDate"], "P1Y");
    for field in [
        "enabledForServices",
        "allowFirstServicePaymentDelay",
        "allowServiceRegistrationItems",
        "excludedProducts",
        "excludedCategories",
    ] {
        assert!(v[field].is_array(), "{field}: {v}");
    }
    assert!(changes(&app, STORE).is_empty());

    let save = json!({
        "topic": "save-general-settings",
        "sendOrderReportsPeriodicallyToSeQura": false,
        "showSeQuraCheckoutAsHostedPage": true,
        "allowedIPAddresses": ["1.2.3.4", "10.0.0.0/8"],
        "excludedProducts": ["104", 105],
        "excludedCategories": ["22"],
        "defaultServicesEndDate": "P6M",
        "enabledForServices": ["ES"],
        "sellingCountries": ["ES", "FR", "PT"],
    });
    let (status, v) = call(&app, STORE, save.clone()).await;
    assert_eq!((status, &v), (200, &json!([])));
    let (_, v) = call(&app, STORE, json!({"topic": "get-general-settings"})).await;
    assert_eq!(v["allowedIPAddresses"], json!(["1.2.3.4", "10.0.0.0/8"]));
    assert_eq!(
        v["excludedProducts"],
        json!([{"id": "104", "name": "Zapatillas urbanas"}, {"id": "105", "name": "Botas de piel"}]),
        "named from the catalog"
    );
    assert_eq!(
        v["excludedCategories"],
        json!([{"id": "22", "name": "Accesorios"}])
    );
    assert_eq!(v["sendOrderReportsPeriodicallyToSeQura"], false);
    assert_eq!(v["defaultServicesEndDate"], "P6M");
    assert_eq!(v["showSeQuraCheckoutAsHostedPage"], true);
    assert_eq!(v["sellingCountries"], json!(["ES", "FR", "PT"]));

    // The merchant's pages show it.
    let (_, html) = app.page("/app/general", &session).await;
    let html = unescape(&html);
    assert!(html.contains("10.0.0.0/8"), "{html}");
    assert!(html.contains("Botas de piel") && html.contains("Accesorios"));
    assert!(html.contains("value=\"P6M\""));
    assert!(
        html.contains("name=\"hosted_page\" id=\"hosted_page\" checked"),
        "the hosted page switched on"
    );
    let (_, html) = app.page("/app/countries", &session).await;
    assert!(
        unescape(&html).contains(sequra_bc_sandbox::sequra::DEMO_MERCHANT_PT),
        "Portugal with the account's Portuguese merchant ref"
    );
    let pt: i64 = app.count(&format!(
        "SELECT COUNT(*) FROM selling_countries WHERE store_hash = '{STORE}' AND country = 'PT' \
         AND merchant_ref = '{}'",
        sequra_bc_sandbox::sequra::DEMO_MERCHANT_PT
    ));
    assert_eq!(pt, 1);

    // The log says what changed, before and after, in the reader's language.
    let logged = changes(&app, STORE);
    assert_eq!(
        logged,
        [
            "Allowed IP addresses: none → 1.2.3.4, 10.0.0.0/8",
            "Excluded products and categories, Products: none → Zapatillas urbanas, Botas de piel",
            "Excluded products and categories, Categories: none → Accesorios",
            "Send order reports to seQura: on → off",
            "Default service end date: P1Y → P6M",
            "Open seQura's form on a page of its own: off → on",
            "Selling countries: ES, FR → ES, FR, PT",
        ]
    );
    let (status, html) = app.page("/app/log", &session).await;
    assert_eq!(status, 200);
    let html = unescape(&html);
    assert!(html.contains("Changed by seQura"), "{html}");
    assert!(html.contains("Selling countries: ES, FR → ES, FR, PT"));
    let spanish = spanish_session(&app).await;
    let (_, html) = app.page("/app/log", &spanish).await;
    let html = unescape(&html);
    assert!(html.contains("Cambiado por seQura"), "{html}");
    assert!(html.contains("ninguno → 1.2.3.4, 10.0.0.0/8"), "{html}");
    assert!(html.contains("activado → desactivado"), "{html}");

    // The same save again changes nothing and says nothing.
    let (status, _) = call(&app, STORE, save).await;
    assert_eq!(status, 200);
    assert_eq!(changes(&app, STORE).len(), 7);

    // A body naming one field changes that field only: nothing else is wiped.
    let (status, _) = call(
        &app,
        STORE,
        json!({"topic": "save-general-settings", "sendOrderReportsPeriodicallyToSeQura": true}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, v) = call(&app, STORE, json!({"topic": "get-general-settings"})).await;
    assert_eq!(v["sendOrderReportsPeriodicallyToSeQura"], true);
    assert_eq!(v["allowedIPAddresses"], json!(["1.2.3.4", "10.0.0.0/8"]));
    assert_eq!(v["sellingCountries"], json!(["ES", "FR", "PT"]));
    assert_eq!(v["showSeQuraCheckoutAsHostedPage"], true);
    assert_eq!(v["excludedProducts"].as_array().unwrap().len(), 2);
    let logged = changes(&app, STORE);
    assert_eq!(logged.len(), 8);
    assert_eq!(logged[7], "Send order reports to seQura: off → on");
    // An explicit empty list empties it.
    let (status, _) = call(
        &app,
        STORE,
        json!({"topic": "save-general-settings", "allowedIPAddresses": [], "excludedProducts": null}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, v) = call(&app, STORE, json!({"topic": "get-general-settings"})).await;
    assert_eq!(v["allowedIPAddresses"], json!([]));
    assert_eq!(
        v["excludedProducts"].as_array().unwrap().len(),
        2,
        "null: unchanged"
    );
}

#[tokio::test]
async fn an_invalid_general_save_answers_sequras_error_and_changes_nothing() {
    let (app, _session) = ready().await;
    let before = call(&app, STORE, json!({"topic": "get-general-settings"}))
        .await
        .1;
    let cases = [
        // The page's own checks, every bad entry named: nothing of the body is saved.
        (
            json!({"allowedIPAddresses": ["1.2.3.4", "999.1.1.1"], "sellingCountries": ["ES"]}),
            "general.errors.generalSettings.invalid",
        ),
        (
            json!({"defaultServicesEndDate": "soon", "allowedIPAddresses": ["1.2.3.4"]}),
            "general.errors.generalSettings.invalid",
        ),
        // Italy: the store does not ship there. DE: seQura does not sell there. None: the
        // Countries page refuses it too.
        (
            json!({"sellingCountries": ["ES", "IT"], "allowedIPAddresses": ["1.2.3.4"]}),
            "general.errors.sellingCountries.invalid",
        ),
        (
            json!({"sellingCountries": ["DE"]}),
            "general.errors.sellingCountries.invalid",
        ),
        (
            json!({"sellingCountries": []}),
            "general.errors.sellingCountries.invalid",
        ),
        (
            json!({"excludedProducts": ["104", "99999"], "allowedIPAddresses": ["1.2.3.4"]}),
            "general.errors.generalSettings.unknownProduct",
        ),
        (
            json!({"excludedCategories": [77777]}),
            "general.errors.generalSettings.unknownCategory",
        ),
        (
            json!({"allowedIPAddresses": "1.2.3.4"}),
            "general.errors.invalidField",
        ),
        (
            json!({"sendOrderReportsPeriodicallyToSeQura": "no"}),
            "general.errors.invalidField",
        ),
        (
            json!({"showSeQuraCheckoutAsHostedPage": 1}),
            "general.errors.invalidField",
        ),
    ];
    for (fields, expected) in cases {
        let mut body = fields.as_object().unwrap().clone();
        body.insert("topic".into(), json!("save-general-settings"));
        let (status, v) = call(&app, STORE, Value::Object(body)).await;
        assert_eq!(status, 400, "{fields}: {v}");
        assert_eq!(code(&v), expected, "{fields}");
    }
    let after = call(&app, STORE, json!({"topic": "get-general-settings"}))
        .await
        .1;
    assert_eq!(before, after);
    assert!(changes(&app, STORE).is_empty());
}

#[tokio::test]
async fn a_save_refused_for_its_countries_saves_none_of_its_settings() {
    let (app, _) = ready().await;
    // A second store of the installation on the same seQura account: Spain's merchant ref is
    // the first store's (one ref, one store).
    let other = "rtop02";
    let session = app.merchant_session(other).await;
    app.connect_demo(&session).await;
    let (status, v) = call(
        &app,
        other,
        json!({
            "topic": "save-general-settings",
            "allowedIPAddresses": ["5.6.7.8"],
            "sellingCountries": ["ES"],
        }),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(code(&v), "general.errors.sellingCountries.invalid");
    assert!(
        v["errorMessage"]
            .as_str()
            .unwrap()
            .contains("sellingCountries")
    );
    let (_, v) = call(&app, other, json!({"topic": "get-general-settings"})).await;
    assert_eq!(v["allowedIPAddresses"], json!([]), "all or nothing: {v}");
    assert_eq!(v["sellingCountries"], json!([]));
    assert!(changes(&app, other).is_empty());
    // And the first store's settings are its own: never the other's answer.
    let (_, mine) = call(&app, STORE, json!({"topic": "get-general-settings"})).await;
    assert_eq!(mine["sellingCountries"], json!(["ES", "FR"]));
}

#[tokio::test]
async fn selling_countries_and_the_catalog_are_paged_and_searched() {
    let (app, _) = ready().await;
    let page = |body: Value| {
        let app = &app;
        async move {
            let (status, v) = call(app, STORE, body).await;
            assert_eq!(status, 200, "{v}");
            v
        }
    };
    // The store ships to ES, FR, PT and DE; the account has merchants for ES, FR, IT, PT.
    assert_eq!(
        page(json!({"topic": "get-selling-countries"})).await,
        json!(["ES", "FR", "PT"])
    );
    assert_eq!(
        page(json!({"topic": "get-selling-countries", "page": 2, "limit": 2})).await,
        json!(["PT"])
    );
    assert_eq!(
        page(json!({"topic": "get-selling-countries", "page": -1, "limit": 0})).await,
        json!(["ES"]),
        "clamped to page 1 of 1"
    );
    assert_eq!(
        page(json!({"topic": "get-selling-countries", "search": "FRAN"})).await,
        json!(["FR"]),
        "by the country's name"
    );
    // seQura's team may type it in any language the app speaks, accents or not, or its code.
    for (search, found) in [
        ("españa", json!(["ES"])),
        ("Espana", json!(["ES"])),
        ("Spagna", json!(["ES"])),
        ("pt", json!(["PT"])),
        ("zz", json!([])),
    ] {
        assert_eq!(
            page(json!({"topic": "get-selling-countries", "search": search})).await,
            found,
            "{search}"
        );
    }
    assert_eq!(
        page(json!({"topic": "get-selling-countries", "page": 3})).await,
        json!([])
    );

    let ids = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    // By name, as seQura's plugins list them (WooCommerce orders its products by name).
    let first = page(json!({"topic": "get-shop-products", "page": 1, "limit": 2})).await;
    assert_eq!(ids(&first), ["106", "105"]);
    assert_eq!(first[1]["sku"], "BOT-001");
    assert_eq!(first[1]["name"], "Botas de piel");
    let second = page(json!({"topic": "get-shop-products", "page": 2, "limit": 2})).await;
    assert_eq!(ids(&second), ["107", "101"]);
    let all = page(json!({"topic": "get-shop-products", "limit": 100000})).await;
    assert_eq!(all.as_array().unwrap().len(), 9, "capped, not refused");
    assert_eq!(
        ids(&page(json!({"topic": "get-shop-products", "search": "zap-001"})).await),
        ["104"],
        "by SKU"
    );
    assert_eq!(
        page(json!({"topic": "get-shop-products", "page": 99})).await,
        json!([])
    );
    let cats = page(json!({"topic": "get-shop-categories", "search": "cal"})).await;
    assert_eq!(cats, json!([{"id": "21", "name": "Calzado"}]));
    let cats = page(json!({"topic": "get-shop-categories", "page": 2, "limit": 3})).await;
    assert_eq!(ids(&cats), ["21", "22", "23"]);
    let (status, v) = call(
        &app,
        STORE,
        json!({"topic": "get-shop-products", "page": "x"}),
    )
    .await;
    assert_eq!((status, code(&v)), (400, "general.errors.invalidField"));
    // The calls were the catalog's paged, searched listing.
    let asked: Vec<String> = app
        .bc
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/v3/catalog/products") && r.query.contains("keyword="))
        .map(|r| r.query)
        .collect();
    assert!(
        asked.iter().any(|r| r.contains("keyword=zap-001")),
        "{asked:?}"
    );
}

#[tokio::test]
async fn widget_settings_written_by_sequra_reach_the_page_and_the_storefront() {
    let (app, session) = ready().await;
    crate::checkout::settled(&app).await;
    let (status, v) = call(&app, STORE, json!({"topic": "get-widget-settings"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["displayWidgetOnProductPage"], false);
    assert!(
        v["productPriceSelector"]
            .as_str()
            .unwrap()
            .contains("data-product-price-with-tax")
    );
    assert_eq!(
        v["paymentMethodCategoriesForListing"],
        json!(["part_payment"])
    );
    let methods = v["paymentMethods"].as_array().unwrap();
    assert!(
        methods
            .iter()
            .any(|m| m["product"] == "pp3" && m["category"] == "part_payment"),
        "{v}"
    );
    // The storefront draws nothing yet (and its answer is cached).
    assert_eq!(
        crate::widgets::config_json(&app, 1).await,
        json!({}),
        "widgets off"
    );

    // Refused: a method that cannot be promoted in the cart, a bad selector. Nothing saved.
    for bad in [
        json!({"showInstallmentAmountInCartPage": true, "widgetOnCartPage": "fp1"}),
        json!({"cartPriceSelector": "div { x }"}),
        json!({"customLocations": [{"product": "zz9", "selForTarget": ".x"}]}),
        json!({"customLocations": "pp3"}),
    ] {
        let mut body = bad.as_object().unwrap().clone();
        body.insert("topic".into(), json!("save-widget-settings"));
        let (status, v) = call(&app, STORE, Value::Object(body)).await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert!(code(&v).starts_with("general.errors."), "{v}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM widget_settings"), 0);

    let (status, v) = call(
        &app,
        STORE,
        json!({
            "topic": "save-widget-settings",
            "displayWidgetOnProductPage": true,
            "defaultProductLocationSelector": ".productView-price",
            "customLocations": [
                {"product": "pp3", "selForTarget": "", "displayWidget": false, "widgetStyles": ""}
            ],
            "widgetStyles": "{\"type\":\"banner\"}",
        }),
    )
    .await;
    assert_eq!((status, &v), (200, &json!([])));
    let (_, v) = call(&app, STORE, json!({"topic": "get-widget-settings"})).await;
    assert_eq!(v["displayWidgetOnProductPage"], true);
    assert_eq!(v["defaultProductLocationSelector"], ".productView-price");
    assert_eq!(v["customLocations"][0]["displayWidget"], false);
    assert_eq!(v["widgetStyles"], "{\"type\":\"banner\"}");
    assert_eq!(v["showInstallmentAmountInCartPage"], false, "unchanged");

    let (_, html) = app.page("/app/widgets", &session).await;
    assert!(
        unescape(&html).contains("value=\".productView-price\""),
        "{html}"
    );
    // The storefront's answer was forgotten, as after the page's save.
    let drawn = crate::widgets::config_json(&app, 1).await;
    let widgets = drawn["widgets"]
        .as_array()
        .unwrap_or_else(|| panic!("{drawn}"));
    assert_eq!(widgets.len(), 1, "{drawn}");
    assert_eq!(
        widgets[0]["product"], "sp1",
        "the first imported part payment (pp3 is hidden by its custom location)"
    );
    let logged = changes(&app, STORE);
    assert!(
        logged.contains(&"Product page, Show the widget: off → on".to_string()),
        "{logged:?}"
    );
    assert!(
        logged
            .iter()
            .any(|l| l.starts_with("Product page, Location selector:")
                && l.ends_with("→ .productView-price")),
        "{logged:?}"
    );
    let n = logged.len();
    let (status, _) = call(
        &app,
        STORE,
        json!({"topic": "save-widget-settings", "displayWidgetOnProductPage": true}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        changes(&app, STORE).len(),
        n,
        "nothing changed, nothing logged"
    );
}

#[tokio::test]
async fn the_order_status_mapping_is_read_and_written_as_the_page_does() {
    let (app, session) = ready().await;
    let (status, list) = call(&app, STORE, json!({"topic": "get-order-status-list"})).await;
    assert_eq!(status, 200, "{list}");
    let list = list.as_array().unwrap();
    assert!(list.iter().any(|s| s["id"] == "2" && s["name"].is_string()));
    assert!(!list.iter().any(|s| s["id"] == "0"), "never Incomplete");
    let (_, v) = call(&app, STORE, json!({"topic": "get-order-status-settings"})).await;
    assert!(
        v.as_array()
            .unwrap()
            .contains(&json!({"sequraStatus": "approved", "shopStatus": "11"})),
        "{v}"
    );

    for (mapping, expected) in [
        (
            json!([{"sequraStatus": "paid", "shopStatus": "2"}]),
            "general.errors.orderStatusMapping.invalidStatus",
        ),
        (
            json!([{"sequraStatus": "approved", "shopStatus": "999"}, {"sequraStatus": "needs_review", "shopStatus": "2"}]),
            "general.errors.orderStatusMapping.invalidShopStatus",
        ),
        // An approved order is never cancelled by its status: the page refuses it too.
        (
            json!([{"sequraStatus": "approved", "shopStatus": "5"}]),
            "general.errors.orderStatusMapping.invalidShopStatus",
        ),
        (json!("approved"), "general.errors.invalidField"),
    ] {
        let (status, v) = call(
            &app,
            STORE,
            json!({"topic": "save-order-status-settings", "orderStatusMappings": mapping}),
        )
        .await;
        assert_eq!((status, code(&v)), (400, expected), "{mapping}");
    }
    assert!(changes(&app, STORE).is_empty());

    let (status, v) = call(
        &app,
        STORE,
        json!({"topic": "save-order-status-settings", "orderStatusMappings": [
            {"sequraStatus": "needs_review", "shopStatus": ""},
            {"sequraStatus": "solicited", "shopStatus": "1"},
            {"sequraStatus": "shipped", "shopStatus": "2"},
        ]}),
    )
    .await;
    assert_eq!((status, &v), (200, &json!([])));
    let (_, v) = call(&app, STORE, json!({"topic": "get-order-status-settings"})).await;
    assert_eq!(
        v,
        json!([
            {"sequraStatus": "approved", "shopStatus": "11"},
            {"sequraStatus": "needs_review", "shopStatus": ""},
            {"sequraStatus": "cancelled", "shopStatus": "5"},
        ]),
        "approved and cancelled unchanged; solicited and shipped are not this app's"
    );
    let (_, html) = app.page("/app/order-status", &session).await;
    assert!(html.contains("needs_review"), "{html}");
    let logged = changes(&app, STORE);
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(
        logged[0].starts_with("Order status, In review: ")
            && logged[0].ends_with("→ None: leave the status alone"),
        "{logged:?}"
    );
}

#[tokio::test]
async fn advanced_settings_govern_the_stores_own_log_lines() {
    let (app, _) = ready().await;
    let (status, v) = call(&app, STORE, json!({"topic": "get-advanced-settings"})).await;
    assert_eq!((status, &v), (200, &json!({"isEnabled": true, "level": 2})));
    // Every answered write is an info line of the store's log (a read only a debug line:
    // seQura paging through the catalog would fill it): a save that changes nothing.
    let unchanged = json!({"topic": "save-advanced-settings", "isEnabled": true, "level": 2});
    let (status, _) = call(&app, STORE, unchanged.clone()).await;
    assert_eq!(status, 200);
    crate::order_sync::eventually("the call's line in the store's log", || {
        (app.count(&format!(
            "SELECT COUNT(*) FROM app_log WHERE store_hash = '{STORE}' AND level = 'info' \
             AND message LIKE 'seQura remote configuration answered%'"
        )) > 0)
            .then_some(())
    })
    .await;
    let (status, lines) = call(&app, STORE, json!({"topic": "get-log-content"})).await;
    assert_eq!(status, 200);
    let lines = lines.as_array().unwrap();
    assert!(!lines.is_empty());
    for l in lines {
        let l = l.as_str().unwrap();
        let parts: Vec<&str> = l.splitn(3, '\t').collect();
        assert!(
            ["ERROR", "WARNING", "INFO"].contains(&parts[0]) && parts[1].len() == 19,
            "{l:?}"
        );
        assert!(l.ends_with("\r\n"), "{l:?}");
        assert!(
            !l.contains(sequra_bc_sandbox::sequra::DEMO_PASSWORD),
            "no secret"
        );
    }
    assert!(
        lines.iter().any(|l| l
            .as_str()
            .unwrap()
            .contains("seQura remote configuration answered")),
        "{lines:?}"
    );

    // Another store's lines are never in this store's answer, nor removed with its own.
    let other = "rtop03";
    let session = app.merchant_session(other).await;
    app.connect_sandbox(&session, sequra_bc_sandbox::sequra::DEMO2_USERNAME)
        .await;
    call(&app, other, unchanged.clone()).await;
    crate::order_sync::eventually("a line of the other store's log", || {
        (app.count(&format!(
            "SELECT COUNT(*) FROM app_log WHERE store_hash = '{other}'"
        )) > 0)
            .then_some(())
    })
    .await;

    for bad in [
        json!({"level": 4}),
        json!({"level": -1}),
        json!({"isEnabled": "yes"}),
    ] {
        let mut body = bad.as_object().unwrap().clone();
        body.insert("topic".into(), json!("save-advanced-settings"));
        let (status, v) = call(&app, STORE, Value::Object(body)).await;
        assert_eq!(status, 400, "{bad}: {v}");
    }
    let (status, _) = call(
        &app,
        STORE,
        json!({"topic": "save-advanced-settings", "isEnabled": false}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, v) = call(&app, STORE, json!({"topic": "get-advanced-settings"})).await;
    assert_eq!(
        v,
        json!({"isEnabled": false, "level": 2}),
        "level unchanged"
    );
    assert_eq!(
        changes(&app, STORE),
        ["App log, Lines kept: on → off"],
        "in the transaction log"
    );

    let (status, v) = call(&app, STORE, json!({"topic": "remove-log-content"})).await;
    assert_eq!((status, &v), (200, &json!([])));
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM app_log WHERE store_hash = '{STORE}'"
        )),
        0
    );
    assert!(
        app.count(&format!(
            "SELECT COUNT(*) FROM app_log WHERE store_hash = '{other}'"
        )) > 0,
        "the other store's lines stay"
    );
    // Logging off: what this store's calls log is not kept (the other store's still is).
    let unchanged_off = json!({"topic": "save-advanced-settings", "isEnabled": false});
    call(&app, STORE, unchanged_off).await;
    call(&app, other, unchanged.clone()).await;
    let others = app.count(&format!(
        "SELECT COUNT(*) FROM app_log WHERE store_hash = '{other}'"
    ));
    crate::order_sync::eventually("the other store's next line", || {
        (app.count(&format!(
            "SELECT COUNT(*) FROM app_log WHERE store_hash = '{other}'"
        )) > others)
            .then_some(())
    })
    .await;
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM app_log WHERE store_hash = '{STORE}'"
        )),
        0,
        "off: nothing kept"
    );
    let (_, v) = call(&app, STORE, json!({"topic": "get-log-content"})).await;
    assert_eq!(v, json!([]));
    let logged = changes(&app, STORE);
    assert!(
        logged
            .last()
            .unwrap()
            .starts_with("seQura cleared this store's app log"),
        "{logged:?}"
    );
}

#[tokio::test]
async fn every_topic_is_refused_without_the_stores_signature_and_changes_nothing() {
    let (app, _) = ready().await;
    let other = "rtop04";
    let session = app.merchant_session(other).await;
    app.connect_sandbox(&session, sequra_bc_sandbox::sequra::DEMO2_USERNAME)
        .await;
    let others_signature = contract_signature(other, sequra_bc_sandbox::sequra::DEMO_PASSWORD);
    let wrong = "ab".repeat(32);
    let topics = [
        json!({"topic": "get-general-settings"}),
        json!({"topic": "save-general-settings", "allowedIPAddresses": ["9.9.9.9"]}),
        json!({"topic": "get-selling-countries"}),
        json!({"topic": "get-shop-products"}),
        json!({"topic": "get-shop-categories"}),
        json!({"topic": "get-widget-settings"}),
        json!({"topic": "save-widget-settings", "displayWidgetOnProductPage": true}),
        json!({"topic": "get-order-status-list"}),
        json!({"topic": "get-order-status-settings"}),
        json!({"topic": "save-order-status-settings", "orderStatusMappings": [{"sequraStatus": "approved", "shopStatus": ""}]}),
        json!({"topic": "get-advanced-settings"}),
        json!({"topic": "save-advanced-settings", "isEnabled": false}),
        json!({"topic": "get-log-content"}),
        json!({"topic": "remove-log-content"}),
    ];
    for body in &topics {
        for sig in [&wrong, &others_signature] {
            let (status, v) = call_raw(&app, STORE, sig, body.to_string()).await;
            assert_eq!(status, 401, "{body}: {v}");
            assert_eq!(code(&v), "webhook.signature.validation.failed");
        }
    }
    let (_, v) = call(&app, STORE, json!({"topic": "get-general-settings"})).await;
    assert_eq!(v["allowedIPAddresses"], json!([]));
    let (_, v) = call(&app, STORE, json!({"topic": "get-advanced-settings"})).await;
    assert_eq!(v["isEnabled"], true);
    assert_eq!(app.count("SELECT COUNT(*) FROM widget_settings"), 0);
    assert!(changes(&app, STORE).is_empty());
    // With its own signature, the other store gets its own settings, never this one's.
    let (status, v) = call(&app, other, json!({"topic": "get-general-settings"})).await;
    assert_eq!(status, 200);
    assert_eq!(v["sellingCountries"], json!([]), "{v}");
}
