//! `GET /v2/shipping/zones` (shipping.v2.yml `getShippingZones`). Scope: "Information &
//! Settings", `store_v2_information_read_only` (or `store_v2_information`), as that file's
//! `securitySchemes` lists.
//!
//! One `country` zone per [`StoreSpec::shipping_countries`] entry, named in Spanish (the demo
//! stores are Spanish), then a `global` "Resto del mundo" zone without locations when
//! [`StoreSpec::ships_rest_of_world`] is set. No zones → 204 with no body, as v2 collections
//! do when empty (spec §7) [U: documented for shipments, assumed here].

use serde_json::{Value, json};
use warp::http::Method;

use super::Incoming;
use super::StoreSpec;
use super::api::{Area, Auth, forbidden, method_not_allowed, not_found};
use super::respond::{self, Resp};
use super::state::State;

const READ_SCOPES: [&str; 2] = ["store_v2_information_read_only", "store_v2_information"];

/// The zone name a Spanish merchant would give a country; the code itself otherwise.
pub(crate) fn zone_name(iso2: &str) -> String {
    let name = match iso2 {
        "ES" => "España",
        "FR" => "Francia",
        "PT" => "Portugal",
        "IT" => "Italia",
        "DE" => "Alemania",
        "AD" => "Andorra",
        "GB" => "Reino Unido",
        "NL" => "Países Bajos",
        "BE" => "Bélgica",
        "US" => "Estados Unidos",
        other => other,
    };
    name.to_owned()
}

fn zone_json(id: usize, name: &str, kind: &str, locations: Vec<Value>) -> Value {
    json!({
        "id": id,
        "name": name,
        "type": kind,
        "locations": locations,
        "free_shipping": {
            "enabled": false,
            "minimum_sub_total": "0.0000",
            "exclude_fixed_shipping_products": false,
        },
        "handling_fees": {"fixed_surcharge": "0", "display_separately": true},
        "enabled": true,
    })
}

/// The store's zones, in order (zone ids from 1, location ids from 101).
fn zones_of(spec: &StoreSpec) -> Vec<Value> {
    let mut zones: Vec<Value> = spec
        .shipping_countries
        .iter()
        .enumerate()
        .map(|(i, code)| {
            let code = code.trim().to_ascii_uppercase();
            zone_json(
                i + 1,
                &zone_name(&code),
                "country",
                vec![json!({"id": 101 + i, "country_iso2": code})],
            )
        })
        .collect();
    if spec.ships_rest_of_world {
        zones.push(zone_json(
            zones.len() + 1,
            "Resto del mundo",
            "global",
            vec![],
        ));
    }
    zones
}

/// `GET /v2/shipping/zones`.
pub(crate) fn zones(st: &State, auth: &Auth, req: &Incoming) -> Resp {
    if req.method != Method::GET {
        return method_not_allowed(Area::V2);
    }
    if !auth.has_any(&READ_SCOPES) {
        return forbidden(Area::V2);
    }
    let Some(store) = st.stores.get(&auth.store_hash) else {
        return not_found(Area::V2);
    };
    let zones = zones_of(&store.spec);
    if zones.is_empty() {
        return respond::no_content();
    }
    respond::json(200, &Value::Array(zones))
}
