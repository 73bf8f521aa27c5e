//! Response builders with BigCommerce's error shapes (v3 object, v2 array, login service).

use serde_json::{Map, Value, json};
use warp::http::{HeaderValue, StatusCode};

/// A finished response.
pub(crate) type Resp = warp::reply::Response;

/// The `type` every documented v3 error body carries.
pub(crate) const ERROR_TYPE: &str = "/api-docs/getting-started/api-status-codes";

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The canonical reason phrase, used as the title of injected or generic errors.
pub(crate) fn reason(code: u16) -> &'static str {
    status(code).canonical_reason().unwrap_or("Error")
}

pub(crate) fn json(code: u16, body: &Value) -> Resp {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut resp = Resp::new(text.into());
    *resp.status_mut() = status(code);
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
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

pub(crate) fn no_content() -> Resp {
    let mut resp = Resp::new(String::new().into());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

pub(crate) fn html(code: u16, body: String) -> Resp {
    let mut resp = Resp::new(body.into());
    *resp.status_mut() = status(code);
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

pub(crate) fn text(code: u16, body: &str) -> Resp {
    let mut resp = Resp::new(body.to_owned().into());
    *resp.status_mut() = status(code);
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

pub(crate) fn see_other(location: &str) -> Resp {
    let mut resp = Resp::new(String::new().into());
    *resp.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert("location", v);
    }
    resp
}

/// Escapes text for HTML element content and double- or single-quoted attributes.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn esc_escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
