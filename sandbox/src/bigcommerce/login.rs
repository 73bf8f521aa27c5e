//! The login service: `POST /oauth2/token` (spec §1.3) and the external-install reports
//! `GET /app/{client_id}/install/succeeded|failed` (spec §1.2).

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};
use warp::http::Method;

use super::respond::{self, Resp};
use super::state::{CODE_TTL_SECS, now_unix};
use super::{ExternalInstallReport, Incoming, Shared};

const FIELDS: [&str; 7] = [
    "client_id",
    "client_secret",
    "code",
    "context",
    "scope",
    "grant_type",
    "redirect_uri",
];

/// Reads the body as JSON (an object of strings) or as a form, by Content-Type.
fn parse_body(req: &Incoming) -> Result<HashMap<String, String>, &'static str> {
    let ctype = req
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    if ctype.starts_with("application/json") {
        let v: Value = serde_json::from_slice(&req.body).map_err(|_| "body is not valid JSON")?;
        let obj = v.as_object().ok_or("body must be a JSON object")?;
        let mut out = HashMap::new();
        for (k, v) in obj {
            match v {
                Value::String(s) => {
                    out.insert(k.clone(), s.clone());
                }
                Value::Null => {}
                _ => return Err("every field must be a string"),
            }
        }
        Ok(out)
    } else if ctype.starts_with("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&req.body).map_err(|_| "body is not a valid form")?;
        Ok(pairs.into_iter().collect())
    } else {
        Err("Content-Type must be application/json or application/x-www-form-urlencoded")
    }
}

/// `POST /oauth2/token`. Errors are 400/401 `{"error","error_description"}` [U: BigCommerce
/// documents no error shape].
pub(crate) fn token(shared: &Shared, req: &Incoming) -> Resp {
    if req.method != Method::POST {
        return respond::oauth_error(405, "invalid_request", "use POST");
    }
    let form = match parse_body(req) {
        Ok(f) => f,
        Err(e) => return respond::oauth_error(400, "invalid_request", e),
    };
    for field in FIELDS {
        if form.get(field).is_none_or(|v| v.is_empty()) {
            return respond::oauth_error(
                400,
                "invalid_request",
                &format!("missing required parameter: {field}"),
            );
        }
    }
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");

    let mut st = shared.lock();
    if get("grant_type") != "authorization_code" {
        return respond::oauth_error(
            400,
            "unsupported_grant_type",
            "grant_type must be authorization_code",
        );
    }
    if get("client_id") != st.cfg.client_id {
        return respond::oauth_error(401, "invalid_client", "unknown client_id");
    }
    if get("client_secret") != st.cfg.client_secret {
        return respond::oauth_error(401, "invalid_client", "client authentication failed");
    }
    let expected_redirect = format!("{}/bc/auth", st.cfg.app_url.as_str().trim_end_matches('/'));
    let now = now_unix();
    let Some(code) = st.codes.get(get("code")) else {
        return respond::oauth_error(400, "invalid_grant", "unknown authorization code");
    };
    if code.used {
        return respond::oauth_error(
            400,
            "invalid_grant",
            "authorization code has already been used",
        );
    }
    if now - code.issued_at > CODE_TTL_SECS {
        return respond::oauth_error(400, "invalid_grant", "authorization code has expired");
    }
    if get("context") != format!("stores/{}", code.store_hash) {
        return respond::oauth_error(
            400,
            "invalid_grant",
            "context does not match the authorization code",
        );
    }
    if get("redirect_uri") != expected_redirect {
        return respond::oauth_error(
            400,
            "invalid_grant",
            "redirect_uri does not match the registered auth callback URL",
        );
    }
    // [U] BigCommerce asks for the scope string from the callback; compared as a set.
    let sent: BTreeSet<&str> = get("scope").split_whitespace().collect();
    let granted: BTreeSet<&str> = code.scope.split_whitespace().collect();
    if sent != granted {
        return respond::oauth_error(
            400,
            "invalid_scope",
            "scope does not match the scope granted with the code",
        );
    }
    let store_hash = code.store_hash.clone();
    let user = code.user.clone();
    let scope = code.scope.clone();
    let Some(owner) = st.stores.get(&store_hash).map(|s| s.spec.owner.clone()) else {
        return respond::oauth_error(400, "invalid_grant", "the store no longer exists");
    };
    if let Some(code) = st.codes.get_mut(get("code")) {
        code.used = true;
    }
    // A (re-)install replaces the store's previous token for this app.
    let client_id = st.cfg.client_id.clone();
    st.revoke_tokens(&store_hash, &client_id);
    let access_token = st.issue_token(&store_hash, &client_id, &scope);
    st.remember_user(&store_hash, &user);
    respond::json(
        200,
        &json!({
            "access_token": access_token,
            "scope": scope,
            "user": {"id": user.id, "username": user.email, "email": user.email},
            "owner": {"id": owner.id, "username": owner.email, "email": owner.email},
            "context": format!("stores/{store_hash}"),
            "account_uuid": st.account_uuid,
        }),
    )
}

/// `GET /app/{client_id}/install/succeeded|failed`: recorded, answered with a small page.
pub(crate) fn install_report(
    shared: &Shared,
    req: &Incoming,
    client_id: &str,
    outcome: &str,
) -> Resp {
    let mut st = shared.lock();
    if req.method != Method::GET
        || client_id != st.cfg.client_id
        || !matches!(outcome, "succeeded" | "failed")
    {
        return respond::text(404, "Not Found");
    }
    st.external_reports.push(ExternalInstallReport {
        client_id: client_id.to_owned(),
        outcome: outcome.to_owned(),
        at: now_unix(),
    });
    let message = if outcome == "succeeded" {
        "The app was installed."
    } else {
        "The app could not be installed."
    };
    respond::html(
        200,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>BigCommerce</title></head>\
             <body><p>{}</p></body></html>",
            respond::esc(message)
        ),
    )
}
