//! The app's BigCommerce client against the real stand-in (port 0): order statuses, shipping
//! zones, catalog search, store information, and how failures are classified.

use std::collections::HashMap;

use sequra_bc::bigcommerce::client::{
    BcError, BigCommerce, CatalogCategory, CatalogProduct, OrderStatus, ShippingZone, StoreApi,
};
use sequra_bc::config::SecretString;
use sequra_bc::domain::StoreHash;
use sequra_bc::sandbox::bigcommerce::{
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
