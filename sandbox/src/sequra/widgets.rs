//! seQura's widget script, `{assets_base_url}sequra-checkout.min.js` (spec §10), as the
//! stand-in serves it at `{base}/{sandbox|live}/assets/sequra-checkout.min.js` (seQura) and
//! `{base}/svea/{sandbox|live}/assets/sequra-checkout.min.js` (SVEA), the `assets_base_url`s
//! of `/deployments`: a small plain-JS file with the same public surface,
//! `Sequra.onLoad`, `Sequra.refreshComponents` and `Sequra.computeCreditAgreements`, drawing
//! `.sequra-promotion-widget` elements from the stand-in's own instalment rules
//! ([`super::methods::widget_plans`]) and each merchant's catalogue (limits and windows).
//!
//! The file carries its host's merchants (ref, assets key, currency, the methods
//! inside their window now), so it refuses to work for a `SequraConfiguration` whose
//! `merchant` is not one of them or whose `assetKey` is not that merchant's: it then does
//! nothing at all. [U] How the real script behaves with a wrong assets key is not known.
//!
//! Served with `Cache-Control: public, max-age=300` [U], a strong `ETag` of its content
//! (`If-None-Match` answers 304) and `Access-Control-Allow-Origin: *` (a CDN's [U]). It is
//! served during an API outage ([`super::SequraStandIn::set_outage`]): it is the CDN's.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use warp::http::HeaderValue;

use super::methods;
use super::respond::{self, Resp};
use super::state::{Host, State, credentials_json};
use super::{Incoming, Shared};

/// The script's file name under the assets base URL.
pub(crate) const SCRIPT: &str = "sequra-checkout.min.js";

const TEMPLATE: &str = include_str!("sequra-checkout.js");

/// What the script knows: `{"merchants": {ref: {assetKey, currency, methods: [{product,
/// campaign, min, max, counts: [{n, fee}]}]}}}`, every merchant of the host.
fn data(st: &State, host: Host) -> Value {
    let now = crate::clock::now();
    let mut merchants = Map::new();
    for m in st
        .accounts
        .iter()
        .filter(|(h, _)| *h == host)
        .flat_map(|(_, a)| &a.merchants)
    {
        let widgets: Vec<Value> = methods::methods_of(&m.methods)
            .filter(|method| methods::in_window(method, now))
            .filter_map(|method| {
                let plans = methods::widget_plans(method)?;
                Some(json!({
                    "product": method.get("product"),
                    "campaign": method.get("campaign"),
                    "min": method.get("min_amount").and_then(Value::as_i64).unwrap_or(0),
                    "max": method.get("max_amount").and_then(Value::as_i64),
                    "counts": plans
                        .into_iter()
                        .map(|(n, fee)| json!({"n": n, "fee": fee}))
                        .collect::<Vec<_>>(),
                }))
            })
            .collect();
        let credentials = credentials_json(m);
        merchants.insert(
            m.merchant_ref.clone(),
            json!({
                "assetKey": credentials["assets_key"],
                "currency": m.currency,
                "methods": widgets,
            }),
        );
    }
    json!({ "merchants": merchants })
}

/// The script of `host` as it is now.
pub(crate) fn body(st: &State, host: Host) -> String {
    let data = serde_json::to_string(&data(st, host)).unwrap_or_else(|_| "null".to_owned());
    TEMPLATE.replacen("/*DATA*/null", &data, 1)
}

/// `GET {assets_base_url}sequra-checkout.min.js` of `host`.
pub(crate) fn serve(shared: &Shared, req: &Incoming, host: Host) -> Resp {
    let text = {
        let mut st = shared.lock();
        st.asset_requests += 1;
        body(&st, host)
    };
    let etag = format!(
        "\"{}\"",
        hex::encode(&Sha256::digest(text.as_bytes())[..16])
    );
    let fresh = req
        .header("if-none-match")
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if fresh {
        crate::common::empty_status(304)
    } else {
        let mut resp = respond::text(200, &text);
        resp.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/javascript; charset=utf-8"),
        );
        resp
    };
    let headers = resp.headers_mut();
    headers.insert(
        "cache-control",
        HeaderValue::from_static("public, max-age=300"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert("etag", v);
    }
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    resp
}
