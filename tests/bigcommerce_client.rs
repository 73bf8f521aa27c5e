//! The app's BigCommerce client against the real stand-in (port 0): order statuses, shipping
//! zones, catalog search, store information, checkouts, orders, metafields, channel sites,
//! and how failures are classified.

use std::collections::{HashMap, HashSet};

use sequra_bc::bigcommerce::client::{
    BcError, BigCommerce, CatalogCategory, CatalogProduct, OrderStatus, ShippingZone, StoreApi,
};
use sequra_bc::config::SecretString;
use sequra_bc::domain::StoreHash;
use sequra_bc_sandbox::bigcommerce::{
    BigCommerceStandIn, SEQURA_APP_SCOPES, StandInConfig, StoreSpec,
};
use url::Url;

const HASH: &str = "clienta";

struct Harness {
    bc: BigCommerceStandIn,
    client: BigCommerce,
}

async fn harness() -> Harness {
    let bc = BigCommerceStandIn::start(
        ([127, 0, 0, 1], 0).into(),
        StandInConfig::for_app(Url::parse("http://127.0.0.1:9").unwrap()),
    )
    .await
    .unwrap();
    bc.add_store(StoreSpec::demo(HASH));
    let client = BigCommerce::new(
        bc.base_url(),
        bc.base_url(),
        bc.client_id(),
        SecretString::new(bc.client_secret()),
    )
    .unwrap();
    Harness { bc, client }
}

impl Harness {
    /// The store's API with a token holding `scopes`.
    fn api_with(&self, scopes: &str) -> StoreApi {
        let token = self.bc.issue_token(HASH, &self.bc.client_id(), scopes);
        self.client
            .store(&StoreHash::parse(HASH).unwrap(), SecretString::new(token))
    }

    /// The store's API with the app's scopes (plus the ones BigCommerce always grants).
    fn api(&self) -> StoreApi {
        self.api_with(&format!("{SEQURA_APP_SCOPES} store_v2_default"))
    }

    /// The decoded query of the last request to a path ending in `path_end`.
    fn last_query(&self, path_end: &str) -> HashMap<String, String> {
        let req = self
            .bc
            .requests()
            .into_iter()
            .rev()
            .find(|r| r.path.ends_with(path_end))
            .expect("request was sent");
        url::form_urlencoded::parse(req.query.as_bytes())
            .into_owned()
            .collect()
    }
}

fn product_ids(products: &[CatalogProduct]) -> Vec<u64> {
    products.iter().map(|p| p.id).collect()
}

#[tokio::test]
async fn store_info_carries_the_country_code() {
    let h = harness().await;
    let info = h.api().store_info().await.unwrap();
    assert_eq!(info.id, HASH);
    assert_eq!(info.country_code.as_deref(), Some("ES"));
}

#[tokio::test]
async fn order_statuses_decode_with_the_merchants_labels() {
    let h = harness().await;
    let statuses = h.api().order_statuses().await.unwrap();
    assert_eq!(statuses.len(), 15);
    assert_eq!(
        statuses[11],
        OrderStatus {
            id: 11,
            name: "Awaiting Fulfillment".into(),
            custom_label: "Listo para preparar".into(),
        }
    );
    assert_eq!(statuses[0].name, "Incomplete");
    assert_eq!(statuses[7].custom_label, "Awaiting Payment");

    h.bc.set_order_status_label(HASH, 5, "Anulado");
    let statuses = h.api().order_statuses().await.unwrap();
    assert_eq!(statuses[5].custom_label, "Anulado");
    assert_eq!(statuses[5].name, "Cancelled");
}

#[tokio::test]
async fn shipping_zones_decode_their_countries() {
    let h = harness().await;
    let api = h.api();
    let zones = api.shipping_zones().await.unwrap();
    let countries: Vec<Vec<String>> = zones.iter().map(|z| z.countries.clone()).collect();
    assert_eq!(countries, [["ES"], ["FR"], ["PT"], ["DE"]]);
    assert!(zones.iter().all(|z| z.kind == "country"));
    assert_eq!(zones[0].name, "España");

    h.bc.set_shipping_countries(HASH, &["es", "IT"]);
    h.bc.set_ships_rest_of_world(HASH, true);
    let zones = api.shipping_zones().await.unwrap();
    assert_eq!(zones.len(), 3);
    assert_eq!(zones[0].countries, ["ES"]);
    assert_eq!(
        zones[2],
        ShippingZone {
            id: zones[2].id,
            name: "Resto del mundo".into(),
            kind: "global".into(),
            countries: vec![],
        }
    );
}

#[tokio::test]
async fn no_shipping_zones_is_an_empty_list() {
    let h = harness().await;
    h.bc.set_shipping_countries(HASH, &[]);
    let zones = h.api().shipping_zones().await.unwrap();
    assert!(zones.is_empty());
}

#[tokio::test]
async fn product_search_matches_name_or_sku_and_asks_only_for_the_needed_fields() {
    let h = harness().await;
    let api = h.api();
    let found = api.search_products("camiseta", 10).await.unwrap();
    assert_eq!(
        found[0],
        CatalogProduct {
            id: 101,
            name: "Camiseta básica de algodón".into(),
            sku: "CAM-001".into(),
            categories: vec![18, 19],
            custom_fields: vec![],
        }
    );
    assert_eq!(product_ids(&found), [101, 102]);
    let q = h.last_query("/v3/catalog/products");
    assert_eq!(q["keyword"], "camiseta");
    assert_eq!(q["include_fields"], "id,name,sku,categories");
    assert_eq!(q["limit"], "10");

    let by_sku = api.search_products("zap-001", 10).await.unwrap();
    assert_eq!(product_ids(&by_sku), [104]);

    let limited = api.search_products("", 3).await.unwrap();
    assert_eq!(limited.len(), 3);
    assert!(!h.last_query("/v3/catalog/products").contains_key("keyword"));

    let capped = api.search_products("a", 10_000).await.unwrap();
    assert!(!capped.is_empty());
    assert_eq!(h.last_query("/v3/catalog/products")["limit"], "250");
}

#[tokio::test]
async fn keywords_with_spaces_ampersands_and_hashes_are_encoded() {
    let h = harness().await;
    let api = h.api();
    let found = api.search_products("Blanco & Negro", 10).await.unwrap();
    assert_eq!(product_ids(&found), [107]);
    let q = h.last_query("/v3/catalog/products");
    assert_eq!(q["keyword"], "Blanco & Negro");
    assert_eq!(q.get(" Negro"), None);

    // Unencoded, `#1` would be cut off as a fragment and "zapatillas " would match.
    let none = api.search_products("zapatillas #1", 10).await.unwrap();
    assert!(none.is_empty());
    assert_eq!(
        h.last_query("/v3/catalog/products")["keyword"],
        "zapatillas #1"
    );

    let plus = api.search_products("a+b=c", 10).await.unwrap();
    assert!(plus.is_empty());
    assert_eq!(h.last_query("/v3/catalog/products")["keyword"], "a+b=c");

    let accented = api.search_products("pantalón", 10).await.unwrap();
    assert_eq!(product_ids(&accented), [103]);
}

#[tokio::test]
async fn products_by_id_returns_the_known_ones_and_skips_the_call_when_empty() {
    let h = harness().await;
    let api = h.api();
    let found = api.products_by_id(&[108, 101, 999, 101]).await.unwrap();
    assert_eq!(product_ids(&found), [101, 108]);
    assert_eq!(found[1].sku, "TRG-050");
    assert_eq!(h.last_query("/v3/catalog/products")["id:in"], "108,101,999");

    h.bc.clear_requests();
    assert!(api.products_by_id(&[]).await.unwrap().is_empty());
    assert!(h.bc.requests().is_empty());

    let many: Vec<u64> = (1..=120).collect();
    let found = api.products_by_id(&many).await.unwrap();
    assert_eq!(
        product_ids(&found),
        [101, 102, 103, 104, 105, 106, 107, 108, 109]
    );
    assert_eq!(h.bc.requests().len(), 3);
}

#[tokio::test]
async fn category_search_uses_name_like() {
    let h = harness().await;
    let api = h.api();
    let found = api.search_categories("regalo", 10).await.unwrap();
    assert_eq!(
        found,
        [CatalogCategory {
            id: 23,
            parent_id: 0,
            name: "Tarjetas regalo".into(),
        }]
    );
    let q = h.last_query("/v3/catalog/categories");
    assert_eq!(q["name:like"], "regalo");
    assert_eq!(q["include_fields"], "id,parent_id,name");

    let child = api.search_categories("CAMIS", 10).await.unwrap();
    assert_eq!(child[0].parent_id, 18);
    assert_eq!(api.search_categories(" ", 2).await.unwrap().len(), 2);
}

#[tokio::test]
async fn empty_results_are_empty_lists() {
    let h = harness().await;
    let api = h.api();
    assert!(
        api.search_products("nada parecido", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(api.search_categories("zzz", 10).await.unwrap().is_empty());
    h.bc.set_catalog(HASH, vec![], vec![]);
    assert!(api.products_by_id(&[101]).await.unwrap().is_empty());
    assert!(api.search_products("", 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_missing_scope_is_forbidden_on_every_call() {
    let h = harness().await;
    let api = h.api_with("store_v2_default");
    let results = [
        api.order_statuses().await.map(|_| ()),
        api.shipping_zones().await.map(|_| ()),
        api.search_products("x", 5).await.map(|_| ()),
        api.products_by_id(&[1]).await.map(|_| ()),
        api.search_categories("x", 5).await.map(|_| ()),
    ];
    for (i, r) in results.into_iter().enumerate() {
        assert!(matches!(r, Err(BcError::Forbidden(_))), "call {i}: {r:?}");
    }
}

#[tokio::test]
async fn an_invalid_or_revoked_token_is_unauthorized_on_every_call() {
    let h = harness().await;
    let api = h.client.store(
        &StoreHash::parse(HASH).unwrap(),
        SecretString::new("madeup"),
    );
    let results = [
        api.store_info().await.map(|_| ()),
        api.order_statuses().await.map(|_| ()),
        api.shipping_zones().await.map(|_| ()),
        api.search_products("x", 5).await.map(|_| ()),
        api.products_by_id(&[1]).await.map(|_| ()),
        api.search_categories("x", 5).await.map(|_| ()),
    ];
    for (i, r) in results.into_iter().enumerate() {
        assert!(
            matches!(r, Err(BcError::Unauthorized(_))),
            "call {i}: {r:?}"
        );
    }
}

#[tokio::test]
async fn server_failures_are_transient() {
    let h = harness().await;
    let api = h.api();
    h.bc.fail_next("GET", "/v2/order_statuses", 503, 1);
    assert!(matches!(
        api.order_statuses().await,
        Err(BcError::Transient(_))
    ));
    h.bc.fail_next("GET", "/v3/catalog/products", 429, 1);
    assert!(matches!(
        api.search_products("x", 5).await,
        Err(BcError::RateLimited { .. })
    ));
    assert_eq!(api.order_statuses().await.unwrap().len(), 15);
}

/// Answers the stand-in never gives: a blank `custom_label`, and 200 with an empty body.
#[tokio::test]
async fn a_blank_custom_label_is_the_name_and_an_empty_zone_body_is_no_zones() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/stores/{HASH}/v2/order_statuses")))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
            {"id": 1, "name": "Pending", "system_label": "Pending", "custom_label": "",
             "system_description": "", "order": 1},
            {"id": 2, "name": "Shipped", "system_label": "Shipped",
             "system_description": "", "order": 8},
        ])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/stores/{HASH}/v2/shipping/zones")))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let base = Url::parse(&server.uri()).unwrap();
    let client = BigCommerce::new(base.clone(), base, "id".into(), SecretString::new("s")).unwrap();
    let api = client.store(&StoreHash::parse(HASH).unwrap(), SecretString::new("t"));
    let statuses = api.order_statuses().await.unwrap();
    assert_eq!(statuses[0].custom_label, "Pending");
    assert_eq!(statuses[1].custom_label, "Shipped");
    assert!(api.shipping_zones().await.unwrap().is_empty());
}

// ----------------------------------------------------------------------------------------
// Checkouts, orders, metafields and channel sites

use sequra_bc::bigcommerce::client::OrderUpdate;
use sequra_bc::bigcommerce::models::ProductType;
use sequra_bc::domain::BcOrderId;

#[tokio::test]
async fn a_checkout_decodes_with_money_in_cents_and_the_shoppers_country() {
    let h = harness().await;
    let id = h.bc.create_checkout(HASH, &[(101, 2), (109, 1)], "PT");
    let c = h.api().checkout(&id).await.unwrap();
    assert_eq!(c.id, id);
    assert_eq!(c.version, 1);
    assert_eq!(c.cart.id, id);
    assert_eq!(c.cart.customer_id, 0);
    assert_eq!(c.cart.currency, "EUR");
    assert_eq!(c.cart.email.as_deref(), Some("test@sequra.es"));
    let physical = &c.cart.line_items.physical_items;
    assert_eq!(physical.len(), 1);
    assert_eq!(physical[0].product_id, Some(101));
    assert_eq!(physical[0].sku.as_deref(), Some("CAM-001"));
    assert_eq!(physical[0].quantity, 2);
    assert_eq!(physical[0].extended_sale_price, 3990);
    assert_eq!(c.cart.line_items.digital_items[0].extended_sale_price, 990);
    assert_eq!(c.grand_total, 5475);
    assert_eq!(c.order_id, None);
    assert_eq!(c.channel_id, Some(1));
    let consignment = &c.consignments[0];
    assert_eq!(consignment.address.country_code, "PT");
    let option = consignment.selected_shipping_option.as_ref().unwrap();
    assert_eq!(option.description, "Envío estándar");
    assert_eq!(option.cost, 495);
    assert_eq!(consignment.shipping_cost_inc_tax, 495);
    let billing = c.billing_address.as_ref().unwrap();
    assert_eq!(billing.first_name, "Fulano");
    assert_eq!(billing.country_code, "PT");
    assert_eq!(c.shopper_country().as_deref(), Some("PT"));
    assert_eq!(c.product_ids(), [101, 109]);

    // The shipping country wins over the billing one; a digital cart has only billing.
    h.bc.set_billing_country(HASH, &id, "FR");
    let c = h.api().checkout(&id).await.unwrap();
    assert_eq!(c.version, 2);
    assert_eq!(c.shopper_country().as_deref(), Some("PT"));
    let digital = h.bc.create_checkout(HASH, &[(109, 1)], "IT");
    let d = h.api().checkout(&digital).await.unwrap();
    assert!(d.consignments.is_empty());
    assert_eq!(d.shopper_country().as_deref(), Some("IT"));

    assert!(matches!(
        h.api().checkout("no-such-checkout").await,
        Err(BcError::NotFound(_))
    ));
}

#[tokio::test]
async fn each_order_from_a_checkout_is_new_and_incomplete_and_reads_back_in_cents() {
    let h = harness().await;
    let api = h.api();
    let id = h.bc.create_checkout(HASH, &[(101, 2), (109, 1)], "ES");
    let customer =
        h.bc.add_customer(HASH, "Ana García", "ana@example.com", 1000);
    h.bc.attach_customer(HASH, &id, customer);
    h.bc.apply_store_credit(HASH, &id);
    let first = api.create_order_from_checkout(&id).await.unwrap();
    let second = api.create_order_from_checkout(&id).await.unwrap();
    assert_ne!(first, second);
    // The Content-Type the reference requires (the stand-in refuses the call without it).
    let sent =
        h.bc.requests()
            .into_iter()
            .rfind(|r| r.path.ends_with("/orders") && r.method == "POST")
            .unwrap();
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(api.checkout(&id).await.unwrap().order_id, Some(second));

    let order = api.order(second).await.unwrap();
    assert_eq!(order.id, BcOrderId(second));
    assert_eq!(order.status_id, 0);
    assert_eq!(order.customer_id, customer);
    assert_eq!(order.cart_id.as_deref(), Some(id.as_str()));
    assert_eq!(order.order_source.as_deref(), Some("checkout_api"));
    assert!(order.is_tax_inclusive_pricing);
    assert_eq!(order.subtotal_inc_tax, 4980);
    assert_eq!(order.shipping_cost_inc_tax, 495);
    assert_eq!(order.total_inc_tax, 5475);
    assert_eq!(order.store_credit_amount, 1000);
    assert_eq!(order.gift_certificate_amount, 0);
    assert_eq!(order.transactional_currency(), "EUR");
    assert_eq!(order.billing_address.country_iso2, "ES");
    assert_eq!(order.channel_id, Some(1));
    assert_eq!(order.payment_provider_id, None);

    let products = api.order_products(second).await.unwrap();
    assert_eq!(products.len(), 2);
    assert_eq!(products[0].kind, ProductType::Physical);
    assert_eq!(products[0].quantity, 2);
    assert_eq!(products[0].price_inc_tax, 1995);
    assert_eq!(products[0].total_inc_tax, 3990);
    assert_eq!(products[1].kind, ProductType::Digital);
    let addresses = api.order_shipping_addresses(second).await.unwrap();
    assert_eq!(addresses.len(), 1);
    assert_eq!(addresses[0].cost_inc_tax, 495);
    assert_eq!(addresses[0].shipping_method, "Envío estándar");
    assert_eq!(addresses[0].country_iso2, "ES");
    assert_eq!(products[0].order_address_id, Some(addresses[0].id));

    assert!(matches!(
        api.create_order_from_checkout("nope").await,
        Err(BcError::NotFound(_))
    ));
    assert!(matches!(
        api.order(999_999).await,
        Err(BcError::NotFound(_))
    ));
}

#[tokio::test]
async fn order_products_are_read_across_pages_and_no_shipping_is_an_empty_list() {
    let h = harness().await;
    let products: Vec<_> = (1..=260)
        .map(|i| {
            sequra_bc_sandbox::bigcommerce::CatalogProduct::new(
                i,
                &format!("Producto {i}"),
                &format!("P-{i}"),
                100,
                &[],
            )
            .as_digital()
        })
        .collect();
    h.bc.set_catalog(HASH, products, vec![]);
    let items: Vec<(u64, u64)> = (1..=260).map(|i| (i, 1)).collect();
    let id = h.bc.create_checkout(HASH, &items, "ES");
    let api = h.api();
    let order = api.create_order_from_checkout(&id).await.unwrap();
    h.bc.clear_requests();
    let lines = api.order_products(order).await.unwrap();
    assert_eq!(lines.len(), 260);
    assert_eq!(lines[259].product_id, 260);
    let pages: Vec<String> =
        h.bc.requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/products"))
            .map(|r| r.query)
            .collect();
    assert_eq!(pages, ["page=1&limit=250", "page=2&limit=250"]);
    assert!(
        api.order_shipping_addresses(order)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn checkout_tokens_are_returned_as_secrets() {
    let h = harness().await;
    let api = h.api();
    let id = h.bc.create_checkout(HASH, &[(104, 1)], "ES");
    let token = api.create_checkout_token(&id, 1, 3600).await.unwrap();
    assert_eq!(token.expose().len(), 64);
    assert_eq!(format!("{token:?}"), "***");
    let req =
        h.bc.requests()
            .into_iter()
            .rev()
            .find(|r| r.path.ends_with("/token"))
            .unwrap();
    let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(body, serde_json::json!({"maxUses": 1, "ttl": 3600}));
    assert!(matches!(
        api.create_checkout_token(&id, 1, 0).await,
        Err(BcError::Rejected { status: 422, .. })
    ));
    assert!(matches!(
        api.create_checkout_token("nope", 1, 60).await,
        Err(BcError::NotFound(_))
    ));
}

/// The reference's example nests the token under `data`; its schema puts it at the top.
#[tokio::test]
async fn a_checkout_token_is_read_at_the_top_level_or_under_data() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/stores/{HASH}/v3/checkouts/nested/token")))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "data": {"checkoutToken": "beb3590088be88f59ba980d54a68df655cd8a1052a3e9caf535f3f820146c226", "meta": {}}
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/stores/{HASH}/v3/checkouts/flat/token")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"checkoutToken": "abc", "meta": {}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/stores/{HASH}/v3/checkouts/empty/token")))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"data": {}})))
        .mount(&server)
        .await;
    let base = Url::parse(&server.uri()).unwrap();
    let client = BigCommerce::new(base.clone(), base, "id".into(), SecretString::new("s")).unwrap();
    let api = client.store(&StoreHash::parse(HASH).unwrap(), SecretString::new("t"));
    let nested = api.create_checkout_token("nested", 1, 60).await.unwrap();
    assert!(nested.expose().starts_with("beb35900"));
    assert_eq!(
        api.create_checkout_token("flat", 1, 60)
            .await
            .unwrap()
            .expose(),
        "abc"
    );
    assert!(matches!(
        api.create_checkout_token("empty", 1, 60).await,
        Err(BcError::Invalid(_))
    ));
}

#[tokio::test]
async fn terms_follow_the_channels_checkout_settings() {
    let h = harness().await;
    let api = h.api();
    assert!(!api.terms_enabled(1).await.unwrap());
    h.bc.set_terms(HASH, true);
    assert!(api.terms_enabled(1).await.unwrap());
    assert!(matches!(
        api.terms_enabled(7).await,
        Err(BcError::Rejected { status: 422, .. })
    ));
}

#[tokio::test]
async fn an_order_update_sends_only_the_given_fields() {
    let h = harness().await;
    let api = h.api();
    let id = h.bc.create_checkout(HASH, &[(104, 1)], "ES");
    let order = api.create_order_from_checkout(&id).await.unwrap();
    api.update_order(
        order,
        &OrderUpdate {
            status_id: Some(11),
            payment_method: Some("seQura – Paga en 3 plazos".into()),
            payment_provider_id: Some("6b1c3c4e-uuid".into()),
        },
    )
    .await
    .unwrap();
    let o = api.order(order).await.unwrap();
    assert_eq!(o.status_id, 11);
    assert_eq!(
        o.payment_method.as_deref(),
        Some("seQura – Paga en 3 plazos")
    );
    assert_eq!(o.payment_provider_id.as_deref(), Some("6b1c3c4e-uuid"));

    api.update_order(
        order,
        &OrderUpdate {
            status_id: Some(12),
            ..OrderUpdate::default()
        },
    )
    .await
    .unwrap();
    let req =
        h.bc.requests()
            .into_iter()
            .rev()
            .find(|r| r.method == "PUT")
            .unwrap();
    assert_eq!(req.body, r#"{"status_id":12}"#);
    let o = api.order(order).await.unwrap();
    assert_eq!(o.status_id, 12);
    assert_eq!(o.payment_provider_id.as_deref(), Some("6b1c3c4e-uuid"));

    let refused = api
        .update_order(
            order,
            &OrderUpdate {
                status_id: Some(99),
                ..OrderUpdate::default()
            },
        )
        .await;
    match refused {
        Err(BcError::Rejected {
            status: 400,
            message,
        }) => {
            assert!(message.contains("status_id"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        api.update_order(424_242, &OrderUpdate::default()).await,
        Err(BcError::NotFound(_))
    ));
}

#[tokio::test]
async fn the_order_metafield_is_created_once_and_updated_in_place() {
    let h = harness().await;
    let api = h.api();
    let id = h.bc.create_checkout(HASH, &[(104, 1)], "ES");
    let order = api.create_order_from_checkout(&id).await.unwrap();
    api.put_order_metafield(order, "sequra", "reference", "uuid-1")
        .await
        .unwrap();
    let fields = h.bc.order_metafields(HASH, order);
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0]["permission_set"], "app_only");
    assert_eq!(fields[0]["value"], "uuid-1");
    let first_id = fields[0]["id"].clone();

    h.bc.clear_requests();
    api.put_order_metafield(order, "sequra", "reference", "uuid-1")
        .await
        .unwrap();
    let writes: Vec<String> =
        h.bc.requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .map(|r| r.method)
            .collect();
    assert!(
        writes.is_empty(),
        "the same value again writes nothing: {writes:?}"
    );

    api.put_order_metafield(order, "sequra", "reference", "uuid-2")
        .await
        .unwrap();
    api.put_order_metafield(order, "sequra", "other", "x")
        .await
        .unwrap();
    let fields = h.bc.order_metafields(HASH, order);
    assert_eq!(fields.len(), 2);
    assert_eq!(fields[0]["id"], first_id, "updated in place");
    assert_eq!(fields[0]["value"], "uuid-2");
    assert!(matches!(
        api.put_order_metafield(424_242, "sequra", "reference", "x")
            .await,
        Err(BcError::NotFound(_))
    ));
}

#[tokio::test]
async fn the_storefront_url_is_the_channel_site() {
    let h = harness().await;
    let api = h.api();
    let site = api.channel_site(1).await.unwrap().expect("a site");
    assert_eq!(site.url, h.bc.storefront_url(HASH));
    assert_eq!(
        site.checkout_url, None,
        "the checkout is on the site's own address"
    );
    assert_eq!(api.channel_site(2).await.unwrap(), None);
    let channels = api.channels().await.unwrap();
    assert_eq!(channels.len(), 1);
    assert_eq!(
        (
            channels[0].id,
            channels[0].kind.as_str(),
            channels[0].platform.as_str()
        ),
        (1, "storefront", "bigcommerce")
    );
    let info = api.store_info().await.unwrap();
    assert_eq!(info.secure_url, Some(h.bc.storefront_url(HASH)));
}

#[tokio::test]
async fn the_checkout_and_order_calls_need_their_scopes_and_a_valid_token() {
    let h = harness().await;
    let id = h.bc.create_checkout(HASH, &[(104, 1)], "ES");
    let order = h.api().create_order_from_checkout(&id).await.unwrap();
    let none = h.api_with("store_v2_default");
    let bad = h.client.store(
        &StoreHash::parse(HASH).unwrap(),
        SecretString::new("madeup"),
    );
    for (api, forbidden) in [(&none, true), (&bad, false)] {
        let results = [
            api.checkout(&id).await.map(|_| ()),
            api.create_order_from_checkout(&id).await.map(|_| ()),
            api.create_checkout_token(&id, 1, 60).await.map(|_| ()),
            api.terms_enabled(1).await.map(|_| ()),
            api.order(order).await.map(|_| ()),
            api.order_products(order).await.map(|_| ()),
            api.order_shipping_addresses(order).await.map(|_| ()),
            api.update_order(order, &OrderUpdate::default()).await,
            api.put_order_metafield(order, "sequra", "k", "v").await,
            api.channel_site(1).await.map(|_| ()),
            api.channels().await.map(|_| ()),
        ];
        for (i, r) in results.into_iter().enumerate() {
            let ok = if forbidden {
                matches!(r, Err(BcError::Forbidden(_)))
            } else {
                matches!(r, Err(BcError::Unauthorized(_)))
            };
            assert!(ok, "call {i}: {r:?}");
        }
    }
}

/// An order with more product lines than the client reads is refused, never cut short (a
/// cart missing lines would charge less than the order).
#[tokio::test]
async fn an_order_with_more_lines_than_the_client_reads_is_refused_not_truncated() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let page: Vec<serde_json::Value> = (0..250)
        .map(|i| {
            serde_json::json!({"id": i + 1, "product_id": 7, "name": "P", "sku": "P",
                               "type": "physical", "quantity": 1, "price_inc_tax": "1.0000",
                               "total_inc_tax": "1.0000"})
        })
        .collect();
    Mock::given(method("GET"))
        .and(path(format!("/stores/{HASH}/v2/orders/1/products")))
        .respond_with(ResponseTemplate::new(200).set_body_json(page))
        .mount(&server)
        .await;
    let base = Url::parse(&server.uri()).unwrap();
    let client = BigCommerce::new(base.clone(), base, "id".into(), SecretString::new("s")).unwrap();
    let api = client.store(&StoreHash::parse(HASH).unwrap(), SecretString::new("t"));
    let read = api.order_products(1).await;
    assert!(
        read.is_err(),
        "{} lines read",
        read.map(|l| l.len()).unwrap_or(0)
    );
}

/// The orders-since filters carry a date BigCommerce reads (RFC 2822), not Unix seconds it
/// would ignore, and the answer holds only the orders modified since.
#[tokio::test]
async fn orders_modified_since_sends_a_readable_date_and_gets_only_newer_orders() {
    let h = harness().await;
    let api = h.api();
    let id = h.bc.create_checkout(HASH, &[(104, 1)], "ES");
    let order = api.create_order_from_checkout(&id).await.unwrap();
    assert!(h.bc.set_order_status(HASH, order, 11), "listed once placed");
    let hour_ago = time::OffsetDateTime::now_utc().unix_timestamp() - 3600;
    let recent = api
        .orders_modified_since(hour_ago, 100)
        .await
        .unwrap()
        .orders;
    assert!(recent.iter().any(|o| o.id == order), "{recent:?}");
    let sent = &h.last_query("/v2/orders")["min_date_modified"];
    assert!(
        time::OffsetDateTime::parse(sent, &time::format_description::well_known::Rfc2822).is_ok(),
        "{sent}"
    );
    let later = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    assert!(
        api.orders_modified_since(later, 100)
            .await
            .unwrap()
            .orders
            .is_empty()
    );
}

/// `n` new orders, Incomplete (so not yet listed), by id.
async fn incomplete_orders(h: &Harness, api: &StoreApi, n: usize) -> Vec<u64> {
    // Many calls at once: the store's 30 s quota is not what these tests look at.
    h.bc.set_rate_limit_quota(1_000_000);
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let checkout = h.bc.create_checkout(HASH, &[(104, 1)], "ES");
        ids.push(api.create_order_from_checkout(&checkout).await.unwrap());
    }
    ids
}

/// Waits for the start of the next second (BigCommerce's dates have whole seconds).
async fn next_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    tokio::time::sleep(
        std::time::Duration::from_millis(1020)
            - std::time::Duration::from_nanos(now.subsec_nanos().into()),
    )
    .await;
}

fn unix(rfc2822: &str) -> i64 {
    time::OffsetDateTime::parse(rfc2822, &time::format_description::well_known::Rfc2822)
        .unwrap()
        .unix_timestamp()
}

/// Each of `ids` once in `read`, or what is missing and what came twice.
fn each_once(ids: &[u64], read: &[u64]) -> Result<(), String> {
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for id in read {
        *counts.entry(*id).or_default() += 1;
    }
    let missing: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|id| !counts.contains_key(id))
        .collect();
    let mut twice: Vec<u64> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .collect();
    twice.sort_unstable();
    if missing.is_empty() && twice.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} rows read for {} orders; missing {missing:?}; read twice {twice:?}",
            read.len(),
            ids.len()
        ))
    }
}

/// A second in which more orders changed than a page holds is read whole, once each, and the
/// read goes on after it, even when an order of the first page changes while it is read (it
/// moves to the end of the list: offset paging would skip the order that slides onto the page
/// already read; paging on the modification date alone would read that second for ever).
#[tokio::test]
async fn orders_modified_in_one_second_beyond_a_page_are_read_whole_even_while_one_changes() {
    let h = harness().await;
    let api = h.api();
    let ids = incomplete_orders(&h, &api, 600).await;
    next_second().await;
    for id in &ids {
        assert!(h.bc.set_order_status(HASH, *id, 11));
    }
    let second = unix(
        h.bc.order(HASH, ids[0]).unwrap()["date_modified"]
            .as_str()
            .unwrap(),
    );
    for id in &ids {
        let at = unix(
            h.bc.order(HASH, *id).unwrap()["date_modified"]
                .as_str()
                .unwrap(),
        );
        assert_eq!(at, second, "all {} placed in one second", ids.len());
    }
    next_second().await;
    // Someone edits an order of the first page right after it was read. Which orders come
    // first among equal dates is not documented: one at each end of the ids.
    for id in [ids[0], ids[ids.len() - 1]] {
        h.bc.edit_order_after_next_list(HASH, id, serde_json::json!({"staff_notes": "edited"}));
    }
    let read = api
        .orders_modified_since(second - 60, 10_000)
        .await
        .unwrap()
        .orders;
    let read_ids: Vec<u64> = read.iter().map(|o| o.id).collect();
    if let Err(e) = each_once(&ids, &read_ids) {
        panic!("{e}");
    }
    let dates: Vec<i64> = read
        .iter()
        .map(|o| unix(o.date_modified.as_deref().unwrap()))
        .collect();
    assert!(
        dates.windows(2).all(|w| w[0] <= w[1]),
        "oldest modification first"
    );
    for edited in [ids[0], ids[ids.len() - 1]] {
        let row = read.iter().find(|o| o.id == edited).unwrap();
        assert!(
            unix(row.date_modified.as_deref().unwrap()) > second,
            "order {edited} as last read, with its new date"
        );
    }
    // A bounded read stops at its bound (a page more at most), says where, still in date
    // order.
    let some = api.orders_modified_since(second - 60, 300).await.unwrap();
    assert!(
        (300..=550).contains(&some.orders.len()),
        "{}",
        some.orders.len()
    );
    assert!(some.resume_at.is_some());
    let dates: Vec<i64> = some
        .orders
        .iter()
        .map(|o| unix(o.date_modified.as_deref().unwrap()))
        .collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]));
}

/// Orders created since a date are read by id, each once, even when one of the first page
/// leaves the list (archived) before the next page is read.
#[tokio::test]
async fn orders_created_since_are_all_read_even_when_one_leaves_the_list_meanwhile() {
    for exclusive_bounds in [false, true] {
        orders_created_since_all_read(exclusive_bounds).await;
    }
}

async fn orders_created_since_all_read(exclusive_bounds: bool) {
    let h = harness().await;
    h.bc.set_exclusive_list_bounds(exclusive_bounds);
    let api = h.api();
    let ids = incomplete_orders(&h, &api, 300).await;
    for id in &ids {
        assert!(h.bc.set_order_status(HASH, *id, 11));
    }
    h.bc.edit_order_after_next_list(HASH, ids[0], serde_json::json!({"is_deleted": true}));
    let hour_ago = time::OffsetDateTime::now_utc().unix_timestamp() - 3600;
    let read = api.orders_created_since(hour_ago, 5000).await.unwrap();
    let read_ids: Vec<u64> = read.iter().map(|o| o.id.0).collect();
    if let Err(e) = each_once(&ids, &read_ids) {
        panic!("{e}");
    }
    assert!(h.bc.order(HASH, ids[0]).unwrap()["is_deleted"] == true);
    // "At or after": the orders created in the very second asked for are in, whether or not
    // BigCommerce's bound includes its own value; none from the second before.
    let created = |id: u64| {
        unix(
            h.bc.order(HASH, id).unwrap()["date_created"]
                .as_str()
                .unwrap(),
        )
    };
    let last = created(ids[ids.len() - 1]);
    let expected: Vec<u64> = ids[1..]
        .iter()
        .copied()
        .filter(|id| created(*id) >= last)
        .collect();
    let read = api.orders_created_since(last, 5000).await.unwrap();
    let read_ids: Vec<u64> = read.iter().map(|o| o.id.0).collect();
    if let Err(e) = each_once(&expected, &read_ids) {
        panic!("exclusive bounds {exclusive_bounds}: {e}");
    }
}

/// A script without SRI hashes (a storefront one, or one the merchant's other tools made) is
/// listed with `integrity_hashes: null`; the list still reads, the hashes as none.
#[tokio::test]
async fn a_script_list_with_null_integrity_hashes_reads() {
    let h = harness().await;
    let api = h.api();
    let created = api
        .create_script(&serde_json::json!({
            "name": "analytics", "kind": "src", "src": "https://cdn.example.com/a.js",
            "visibility": "storefront", "consent_category": "analytics",
        }))
        .await
        .unwrap();
    assert!(created.integrity_hashes.is_empty());
    let listed = api.list_scripts().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].uuid, created.uuid);
    assert!(listed[0].integrity_hashes.is_empty());
    let raw =
        h.bc.scripts(HASH)
            .into_iter()
            .find(|s| s["uuid"] == created.uuid.as_str())
            .unwrap();
    assert!(raw["integrity_hashes"].is_null(), "{raw}");
}

/// A 429 without rate-limit headers (platform load, spec §7: "retry later") gives the client
/// nothing to go by: it asks to wait its fallback, a whole 30 s window, and a retry after that
/// wait succeeds. (The wait itself is the job queue's, which sleeps `retry_after_ms`; it is
/// not slept here.)
#[tokio::test]
async fn a_429_without_rate_limit_headers_waits_the_fallback_then_succeeds() {
    let h = harness().await;
    let api = h.api();
    h.bc.overload_next("GET", "/v2/order_statuses", 2);
    let mut waits = Vec::new();
    let statuses = loop {
        match api.order_statuses().await {
            Err(BcError::RateLimited { retry_after_ms }) => {
                waits.push(retry_after_ms);
                assert!(waits.len() <= 2, "{waits:?}");
            }
            other => break other.unwrap(),
        }
    };
    assert_eq!(waits, [30_000, 30_000], "the fallback, twice");
    assert_eq!(statuses.len(), 15);
    let answers: Vec<_> =
        h.bc.requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/v2/order_statuses"))
            .collect();
    assert_eq!(answers.len(), 3, "two refused, then the one that succeeded");
}

/// A bounded read that stops inside a second read whole by id (the ids of the next second
/// come mixed in) still leaves no hole: every order modified before the second where the read
/// says it stopped is in it, so the next read can start there.
#[tokio::test]
async fn a_bounded_read_that_stops_inside_a_second_leaves_no_hole_before_where_it_stopped() {
    bounded_read_leaves_no_hole(false).await;
}

/// The same when the list's bounds leave out their own value (undocumented either way).
#[tokio::test]
async fn a_bounded_read_leaves_no_hole_when_the_bounds_exclude_their_value() {
    bounded_read_leaves_no_hole(true).await;
}

async fn bounded_read_leaves_no_hole(exclusive_bounds: bool) {
    let h = harness().await;
    h.bc.set_exclusive_list_bounds(exclusive_bounds);
    let api = h.api();
    let ids = incomplete_orders(&h, &api, 600).await;
    // The higher ids changed in one second, the lower ones in the next: a read by id of the
    // first second (bounds widened) meets the second's orders first.
    next_second().await;
    for id in &ids[300..] {
        assert!(h.bc.set_order_status(HASH, *id, 11));
    }
    let second = unix(
        h.bc.order(HASH, ids[300]).unwrap()["date_modified"]
            .as_str()
            .unwrap(),
    );
    next_second().await;
    for id in &ids[..300] {
        assert!(h.bc.set_order_status(HASH, *id, 11));
    }
    let read = api.orders_modified_since(second - 60, 400).await.unwrap();
    let read_ids: HashSet<u64> = read.orders.iter().map(|o| o.id).collect();
    let stopped = read
        .resume_at
        .expect("a read of 400 stops before 600 orders");
    assert!(stopped > second - 60, "the read got somewhere");
    let missing: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|id| {
            let at = unix(
                h.bc.order(HASH, *id).unwrap()["date_modified"]
                    .as_str()
                    .unwrap(),
            );
            at < stopped && !read_ids.contains(id)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "modified before {stopped}, not read: {missing:?}"
    );
    // Read on from where it stopped, every order is read.
    let rest = api.orders_modified_since(stopped, 10_000).await.unwrap();
    assert_eq!(rest.resume_at, None);
    let read: HashSet<u64> = read_ids
        .into_iter()
        .chain(rest.orders.iter().map(|o| o.id))
        .collect();
    let unread: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|id| !read.contains(id))
        .collect();
    assert!(unread.is_empty(), "never read: {unread:?}");
}
