//! Scripts v3: `/v3/content/scripts` and `/v3/content/scripts/{uuid}` (scripts.v3.yml).
//! Scripts belong to the client that created them; other clients cannot see them.
//! An external (`src`) script on the checkout page (`checkout` or `all_pages` visibility)
//! needs at least one SRI hash (PCI DSS 4.0 6.4.3, spec §4.1 (a)): without one, 422.
//!
//! A script's `channel_id` (default 1) must be a channel of the store: another is 422 with a
//! `channel_id` error, on create and update. Storefronts render the scripts of their own
//! channel only (`storefront.rs`); a headless channel's scripts are kept and never rendered.
//!
//! Scopes: `visibility` `checkout`, `order_confirmation` and `all_pages` need
//! `store_content_checkout` (read: its `_read_only`), `storefront` needs `store_v2_content`
//! (read: its `_read_only`). Listing needs any of the four and lists all own scripts [U].

use base64::Engine;
use serde_json::{Map, Value, json};
use url::{Host, Url};
use warp::http::Method;

use super::Incoming;
use super::api::{
    Area, Auth, V3_404, forbidden, json_object, method_not_allowed, paginate, paging,
};
use super::respond::{self, Resp};
use super::state::{Script, State, now_rfc3339};

/// "Each app can have 10 scripts installed" (scripts.v3.yml), per store.
pub(crate) const MAX_SCRIPTS_PER_APP: usize = 10;
/// "50 scripts per channel" (scripts.v3.yml).
const MAX_SCRIPTS_PER_CHANNEL: usize = 50;
const MAX_INTEGRITY_HASHES: usize = 5;
const INVALID_TITLE: &str = "JSON data is missing or invalid";

const KINDS: [&str; 2] = ["src", "script_tag"];
const LOAD_METHODS: [&str; 3] = ["default", "async", "defer"];
const LOCATIONS: [&str; 2] = ["head", "footer"];
const VISIBILITIES: [&str; 4] = ["storefront", "all_pages", "checkout", "order_confirmation"];
/// The visibilities that put a script on the checkout page.
const ON_CHECKOUT: [&str; 2] = ["checkout", "all_pages"];
const CONSENT_CATEGORIES: [&str; 4] = ["essential", "functional", "analytics", "targeting"];
/// Fields a client may write; the rest (`uuid`, dates, `api_client_id`) are read-only.
const WRITABLE: [&str; 13] = [
    "name",
    "description",
    "html",
    "src",
    "auto_uninstall",
    "load_method",
    "location",
    "visibility",
    "kind",
    "consent_category",
    "enabled",
    "channel_id",
    "integrity_hashes",
];

fn modify_scope(visibility: &str) -> &'static str {
    if visibility == "storefront" {
        "store_v2_content"
    } else {
        "store_content_checkout"
    }
}

fn read_scope(visibility: &str) -> &'static str {
    if visibility == "storefront" {
        "store_v2_content_read_only"
    } else {
        "store_content_checkout_read_only"
    }
}

/// The validated, defaulted content of a script.
struct Fields {
    name: String,
    description: String,
    kind: String,
    src: Option<String>,
    html: Option<String>,
    auto_uninstall: bool,
    load_method: String,
    location: String,
    visibility: String,
    consent_category: String,
    enabled: bool,
    channel_id: u64,
    integrity_hashes: Vec<String>,
}

/// `sha256-`, `sha384-` or `sha512-` followed by the base64 of a digest of that length.
fn valid_integrity_hash(h: &str) -> bool {
    let Some((alg, b64)) = h.split_once('-') else {
        return false;
    };
    let len = match alg {
        "sha256" => 32,
        "sha384" => 48,
        "sha512" => 64,
        _ => return false,
    };
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .is_ok_and(|d| d.len() == len)
}

/// Absolute `https` URL, or `http` on a loopback host (local tests and the demo) [U].
fn valid_src(src: &str) -> bool {
    let Ok(url) = Url::parse(src) else {
        return false;
    };
    let loopback = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return false,
    };
    url.scheme() == "https" || (url.scheme() == "http" && loopback)
}

fn validate(obj: &Map<String, Value>) -> Result<Fields, Map<String, Value>> {
    let mut errors = Map::new();
    let mut err = |field: &str, msg: &str| {
        errors.insert(field.to_owned(), json!(msg));
    };
    let string = |field: &str| -> Result<Option<String>, ()> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(()),
        }
    };
    let boolean = |field: &str| -> Result<Option<bool>, ()> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(()),
        }
    };
    let choice = |field: &str, allowed: &[&str], default: &str| -> Result<String, String> {
        match string(field) {
            Ok(None) => Ok(default.to_owned()),
            Ok(Some(s)) if allowed.contains(&s.as_str()) => Ok(s),
            _ => Err(format!("must be one of: {}", allowed.join(", "))),
        }
    };

    let name = match string("name") {
        Ok(Some(n)) if (1..=255).contains(&n.chars().count()) => n,
        Ok(None) => {
            err("name", "name is required");
            String::new()
        }
        _ => {
            err("name", "name must be a string of 1 to 255 characters");
            String::new()
        }
    };
    let description = string("description").unwrap_or_else(|_| {
        err("description", "description must be a string");
        None
    });
    let src = string("src").unwrap_or_else(|_| {
        err("src", "src must be a string");
        None
    });
    let html = string("html").unwrap_or_else(|_| {
        err("html", "html must be a string");
        None
    });
    let has_src = src.as_deref().is_some_and(|s| !s.is_empty());
    let has_html = html.as_deref().is_some_and(|s| !s.is_empty());
    // [U] Without `kind`, it is inferred from the field given.
    let kind = match string("kind") {
        Ok(Some(k)) if KINDS.contains(&k.as_str()) => k,
        Ok(None) if has_html && !has_src => "script_tag".to_owned(),
        Ok(None) => "src".to_owned(),
        _ => {
            err("kind", "kind must be one of: src, script_tag");
            String::new()
        }
    };
    let load_method = choice("load_method", &LOAD_METHODS, "default").unwrap_or_else(|e| {
        err("load_method", &e);
        String::new()
    });
    if kind == "src" {
        if !has_src {
            err("src", "src is required when kind is src");
        } else if !src.as_deref().is_some_and(valid_src) {
            err("src", "src must be an absolute https URL");
        }
        if has_html {
            err("html", "html must not be given when kind is src");
        }
    } else if kind == "script_tag" {
        match html.as_deref() {
            Some(h) if h.chars().count() > 65_536 => {
                err("html", "html must be at most 65536 characters")
            }
            Some(h) if h.to_ascii_lowercase().matches("<script").count() == 1 => {}
            _ => err("html", "html must contain exactly one script tag"),
        }
        if has_src {
            err("src", "src must not be given when kind is script_tag");
        }
        if !load_method.is_empty() && load_method != "default" {
            err(
                "load_method",
                "load_method must be default when kind is script_tag",
            );
        }
    }
    let location = choice("location", &LOCATIONS, "footer").unwrap_or_else(|e| {
        err("location", &e);
        String::new()
    });
    let visibility = choice("visibility", &VISIBILITIES, "storefront").unwrap_or_else(|e| {
        err("visibility", &e);
        String::new()
    });
    let consent_category = choice("consent_category", &CONSENT_CATEGORIES, "unknown")
        .unwrap_or_else(|e| {
            err("consent_category", &e);
            String::new()
        });
    let auto_uninstall = boolean("auto_uninstall").unwrap_or_else(|_| {
        err("auto_uninstall", "auto_uninstall must be a boolean");
        None
    });
    let enabled = boolean("enabled").unwrap_or_else(|_| {
        err("enabled", "enabled must be a boolean");
        None
    });
    let channel_id = match obj.get("channel_id") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => n,
            _ => {
                err("channel_id", "channel_id must be an integer of at least 1");
                1
            }
        },
    };
    let given_hashes = obj.get("integrity_hashes").cloned().unwrap_or(Value::Null);
    let integrity_hashes = match obj.get("integrity_hashes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let hashes: Option<Vec<String>> = items
                .iter()
                .map(|i| {
                    i.as_str()
                        .filter(|h| valid_integrity_hash(h))
                        .map(str::to_owned)
                })
                .collect();
            match hashes {
                Some(h) if h.len() <= MAX_INTEGRITY_HASHES => h,
                Some(_) => {
                    err("integrity_hashes", "at most 5 integrity hashes");
                    Vec::new()
                }
                None => {
                    err(
                        "integrity_hashes",
                        "integrity_hashes must be an array of strings such as \"sha384-<base64 digest>\"",
                    );
                    Vec::new()
                }
            }
        }
        Some(_) => {
            err(
                "integrity_hashes",
                "integrity_hashes must be an array of strings",
            );
            Vec::new()
        }
    };
    // PCI DSS 4.0 6.4.3 (spec §4.1 (a); `scripts.mdx` "Subresource integrity"): "All scripts
    // on the checkout page need at least one SRI hash". `all_pages` includes checkout.
    // [U] The answer (422, this field's error) is modelled on the other validation errors;
    // inline `script_tag` scripts cannot carry SRI and are not refused here.
    if kind == "src"
        && ON_CHECKOUT.contains(&visibility.as_str())
        && integrity_hashes.is_empty()
        && given_hashes.as_array().is_none_or(Vec::is_empty)
    {
        err(
            "integrity_hashes",
            "scripts on the checkout page need at least one integrity hash (PCI DSS 6.4.3)",
        );
    }
    if kind == "script_tag" && !integrity_hashes.is_empty() {
        // [U] SRI applies to external `src` scripts only.
        err(
            "integrity_hashes",
            "integrity_hashes apply only to kind src",
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Fields {
        name,
        description: description.unwrap_or_default(),
        src: if kind == "src" { src } else { None },
        html: if kind == "script_tag" { html } else { None },
        kind,
        auto_uninstall: auto_uninstall.unwrap_or(false),
        load_method,
        location,
        visibility,
        consent_category,
        enabled: enabled.unwrap_or(true),
        channel_id,
        integrity_hashes,
    })
}

fn apply(script: &mut Script, f: Fields) {
    script.name = f.name;
    script.description = f.description;
    script.kind = f.kind;
    script.src = f.src;
    script.html = f.html;
    script.auto_uninstall = f.auto_uninstall;
    script.load_method = f.load_method;
    script.location = f.location;
    script.visibility = f.visibility;
    script.consent_category = f.consent_category;
    script.enabled = f.enabled;
    script.channel_id = f.channel_id;
    script.integrity_hashes = f.integrity_hashes;
}

/// 422 with a `channel_id` error when the id is not a channel of the store [U: the
/// contract documents no such answer; BigCommerce refuses a script for a channel the store
/// does not have].
fn unknown_channel(st: &State, auth: &Auth, channel_id: u64) -> Option<Resp> {
    let known = st
        .stores
        .get(&auth.store_hash)
        .is_some_and(|s| s.spec.channel(channel_id).is_some());
    (!known).then(|| {
        respond::v3_error_detailed(
            422,
            INVALID_TITLE,
            Map::from_iter([(
                "channel_id".to_owned(),
                json!(format!("channel {channel_id} does not exist")),
            )]),
        )
    })
}

fn one(script: &Script) -> Resp {
    respond::json(200, &json!({"data": script.to_json(), "meta": {}}))
}

fn not_found() -> Resp {
    respond::v3_error(404, V3_404)
}

/// `GET|POST /v3/content/scripts`.
pub(crate) fn collection(st: &mut State, auth: &Auth, req: &Incoming) -> Resp {
    match req.method {
        Method::GET => list(st, auth, req),
        Method::POST => create(st, auth, req),
        _ => method_not_allowed(Area::V3),
    }
}

fn list(st: &State, auth: &Auth, req: &Incoming) -> Resp {
    if !auth.has_any(&[
        "store_v2_content_read_only",
        "store_content_checkout_read_only",
    ]) {
        return forbidden(Area::V3);
    }
    let paging = match paging(req) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let channels: Option<Vec<u64>> = match req.query_param("channel_id:in") {
        None => None,
        Some(list) => match list.split(',').map(|c| c.trim().parse()).collect() {
            Ok(ids) => Some(ids),
            Err(_) => {
                return respond::v3_error_detailed(
                    422,
                    "Invalid query parameter",
                    Map::from_iter([(
                        "channel_id:in".to_owned(),
                        json!("must be a comma-separated list of integers"),
                    )]),
                );
            }
        },
    };
    let mut scripts: Vec<&Script> = st
        .scripts
        .iter()
        .filter(|s| s.store_hash == auth.store_hash && s.client_id == auth.client_id)
        .filter(|s| channels.as_ref().is_none_or(|c| c.contains(&s.channel_id)))
        .collect();
    match req.query_param("sort").as_deref() {
        None => {}
        Some("name") => scripts.sort_by(|a, b| a.name.cmp(&b.name)),
        Some("description") => scripts.sort_by(|a, b| a.description.cmp(&b.description)),
        Some("date_created") => scripts.sort_by(|a, b| a.date_created.cmp(&b.date_created)),
        Some("date_modified") => scripts.sort_by(|a, b| a.date_modified.cmp(&b.date_modified)),
        Some(_) => {
            return respond::v3_error_detailed(
                422,
                "Invalid query parameter",
                Map::from_iter([(
                    "sort".to_owned(),
                    json!("must be one of: name, description, date_created, date_modified"),
                )]),
            );
        }
    }
    match req.query_param("direction").as_deref() {
        None | Some("asc") => {}
        Some("desc") => scripts.reverse(),
        Some(_) => {
            return respond::v3_error_detailed(
                422,
                "Invalid query parameter",
                Map::from_iter([("direction".to_owned(), json!("must be asc or desc"))]),
            );
        }
    }
    let items = scripts.into_iter().map(Script::to_json).collect();
    respond::json(200, &paginate(items, &paging))
}

fn create(st: &mut State, auth: &Auth, req: &Incoming) -> Resp {
    let obj = match json_object(req) {
        Ok(o) => o,
        Err(resp) => return *resp,
    };
    let fields = match validate(&obj) {
        Ok(f) => f,
        Err(errors) => return respond::v3_error_detailed(422, INVALID_TITLE, errors),
    };
    if let Some(resp) = unknown_channel(st, auth, fields.channel_id) {
        return resp;
    }
    if !auth.has(modify_scope(&fields.visibility)) {
        return forbidden(Area::V3);
    }
    let own = st
        .scripts
        .iter()
        .filter(|s| s.store_hash == auth.store_hash && s.client_id == auth.client_id)
        .count();
    if own >= MAX_SCRIPTS_PER_APP {
        return respond::v3_error_detailed(
            422,
            "The maximum number of scripts for this app has been reached.",
            Map::from_iter([(
                "scripts".to_owned(),
                json!(format!(
                    "each app can have {MAX_SCRIPTS_PER_APP} scripts installed"
                )),
            )]),
        );
    }
    let per_channel = st
        .scripts
        .iter()
        .filter(|s| s.store_hash == auth.store_hash && s.channel_id == fields.channel_id)
        .count();
    if per_channel >= MAX_SCRIPTS_PER_CHANNEL {
        return respond::v3_error_detailed(
            422,
            "The maximum number of scripts for this channel has been reached.",
            Map::from_iter([(
                "channel_id".to_owned(),
                json!(format!(
                    "at most {MAX_SCRIPTS_PER_CHANNEL} scripts per channel"
                )),
            )]),
        );
    }
    let now = now_rfc3339();
    let mut script = Script {
        uuid: uuid::Uuid::new_v4().to_string(),
        client_id: auth.client_id.clone(),
        store_hash: auth.store_hash.clone(),
        name: String::new(),
        description: String::new(),
        kind: String::new(),
        src: None,
        html: None,
        auto_uninstall: false,
        load_method: String::new(),
        location: String::new(),
        visibility: String::new(),
        consent_category: String::new(),
        enabled: true,
        channel_id: 1,
        integrity_hashes: Vec::new(),
        date_created: now.clone(),
        date_modified: now,
    };
    apply(&mut script, fields);
    let resp = one(&script);
    st.scripts.push(script);
    resp
}

/// `GET|PUT|DELETE /v3/content/scripts/{uuid}`; another client's script is 404.
pub(crate) fn item(st: &mut State, auth: &Auth, req: &Incoming, uuid: &str) -> Resp {
    let Some(idx) = st.scripts.iter().position(|s| {
        s.uuid == uuid && s.store_hash == auth.store_hash && s.client_id == auth.client_id
    }) else {
        return match req.method {
            Method::GET | Method::PUT | Method::DELETE => not_found(),
            _ => method_not_allowed(Area::V3),
        };
    };
    let visibility = st.scripts[idx].visibility.clone();
    match req.method {
        Method::GET => {
            if !auth.has(read_scope(&visibility)) {
                return forbidden(Area::V3);
            }
            one(&st.scripts[idx])
        }
        Method::DELETE => {
            if !auth.has(modify_scope(&visibility)) {
                return forbidden(Area::V3);
            }
            st.scripts.remove(idx);
            respond::no_content()
        }
        Method::PUT => update(st, auth, req, idx),
        _ => method_not_allowed(Area::V3),
    }
}

fn update(st: &mut State, auth: &Auth, req: &Incoming, idx: usize) -> Resp {
    let put = match json_object(req) {
        Ok(o) => o,
        Err(resp) => return *resp,
    };
    let current = st.scripts[idx].to_json();
    let mut merged: Map<String, Value> = current
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| WRITABLE.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    // Switching kind drops the fields that belong to the old kind.
    if put
        .get("kind")
        .is_some_and(|k| Some(k) != merged.get("kind"))
    {
        for field in ["src", "html", "integrity_hashes", "load_method"] {
            merged.remove(field);
        }
    }
    for (k, v) in put {
        if WRITABLE.contains(&k.as_str()) {
            merged.insert(k, v);
        }
    }
    let fields = match validate(&merged) {
        Ok(f) => f,
        Err(errors) => return respond::v3_error_detailed(422, INVALID_TITLE, errors),
    };
    if let Some(resp) = unknown_channel(st, auth, fields.channel_id) {
        return resp;
    }
    if !auth.has(modify_scope(&st.scripts[idx].visibility))
        || !auth.has(modify_scope(&fields.visibility))
    {
        return forbidden(Area::V3);
    }
    let script = &mut st.scripts[idx];
    apply(script, fields);
    script.date_modified = now_rfc3339();
    one(script)
}

#[cfg(test)]
mod tests {
    use super::valid_integrity_hash;

    #[test]
    fn integrity_hashes_need_an_algorithm_and_a_digest_of_its_length() {
        let sha384 = format!("sha384-{}", "A".repeat(64));
        assert!(valid_integrity_hash(&sha384));
        assert!(!valid_integrity_hash(&format!("sha256-{}", "A".repeat(64))));
        assert!(!valid_integrity_hash("md5-AAAA"));
        assert!(!valid_integrity_hash("sha384"));
    }
}
