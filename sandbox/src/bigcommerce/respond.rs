//! Response builders with BigCommerce's error shapes (v3 object, v2 array, login service).

use serde_json::{Map, Value, json};

use crate::common::{self, status};
pub(crate) use crate::common::{Resp, esc, html, no_content, see_other, text};

/// The `type` every documented v3 error body carries.
pub(crate) const ERROR_TYPE: &str = "/api-docs/getting-started/api-status-codes";

/// The canonical reason phrase, used as the title of injected or generic errors.
pub(crate) fn reason(code: u16) -> &'static str {
    status(code).canonical_reason().unwrap_or("Error")
}

/// JSON with BigCommerce's `content-type: application/json`.
pub(crate) fn json(code: u16, body: &Value) -> Resp {
    common::json(code, body, "application/json")
}

/// v3 error: `{status, title, type}`.
pub(crate) fn v3_error(code: u16, title: &str) -> Resp {
    json(
        code,
        &json!({"status": code, "title": title, "type": ERROR_TYPE}),
    )
}

/// v3 error with the `errors` object (`errorDetailed_Full`).
pub(crate) fn v3_error_detailed(code: u16, title: &str, errors: Map<String, Value>) -> Resp {
    json(
        code,
        &json!({"status": code, "title": title, "type": ERROR_TYPE, "errors": errors}),
    )
}

/// v2 error: `[{status, message}]`.
pub(crate) fn v2_error(code: u16, message: &str) -> Resp {
    json(code, &json!([{"status": code, "message": message}]))
}

/// Login-service error. BigCommerce documents no error shape for `/oauth2/token` [U]; this
/// is the RFC 6749 §5.2 shape.
pub(crate) fn oauth_error(code: u16, error: &str, description: &str) -> Resp {
    json(
        code,
        &json!({"error": error, "error_description": description}),
    )
}
