//! Response builders with seQura's shapes: `{"errors":[…]}` JSON, the plain-text 401, Rails'
//! HTML 404 page, and escaped HTML for the form and the control pages.

use serde_json::{Value, json};
use warp::http::{HeaderValue, StatusCode};

/// A finished response.
pub(crate) type Resp = warp::reply::Response;

/// The body of seQura's 401 (spec §1.2).
pub(crate) const ACCESS_DENIED: &str = "HTTP Basic: Access denied.";

/// Rails' `public/404.html`, which seQura answers for unknown orders on `form_v2` and for
/// paths it does not route (spec §4).
const RAILS_404: &str = "<!DOCTYPE html>\n<html>\n<head>\n  \
<title>The page you were looking for doesn't exist (404)</title>\n  \
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n</head>\n<body>\n  \
<div class=\"dialog\">\n    <div>\n      <h1>The page you were looking for doesn't exist.</h1>\n      \
<p>You may have mistyped the address or the page may have moved.</p>\n    </div>\n  </div>\n\
</body>\n</html>\n";

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(crate) fn json(code: u16, body: &Value) -> Resp {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut resp = Resp::new(text.into());
    *resp.status_mut() = status(code);
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// `{"errors": [...]}` (spec §3.3).
pub(crate) fn errors(code: u16, messages: &[String]) -> Resp {
    json(code, &json!({ "errors": messages }))
}

/// 401 with the plain-text body (spec §1.2).
pub(crate) fn unauthorized() -> Resp {
    let mut resp = text(401, ACCESS_DENIED);
    resp.headers_mut().insert(
        "www-authenticate",
        HeaderValue::from_static("Basic realm=\"Application\""),
    );
    resp
}

pub(crate) fn not_found_html() -> Resp {
    html(404, RAILS_404.to_owned())
}

pub(crate) fn no_content() -> Resp {
    let mut resp = Resp::new(String::new().into());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// 204 with a `Location` header (order and store-integration creation).
pub(crate) fn created_at(location: &str) -> Resp {
    let mut resp = no_content();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert("location", v);
    }
    resp
}

pub(crate) fn html(code: u16, body: String) -> Resp {
    let mut resp = Resp::new(body.into());
    *resp.status_mut() = status(code);
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
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

/// Escapes a string for a single-quoted JavaScript literal inside an HTML `<script>`.
pub(crate) fn js_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            _ => out.push(c),
        }
    }
    out
}

/// Cents as Spanish-style euros: `1234567` → `12.345,67 €`.
pub(crate) fn euros(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let units = (abs / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped},{:02} €", abs % 100)
}

#[cfg(test)]
mod tests {
    use super::{esc, euros, js_str};

    #[test]
    fn esc_escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn js_str_cannot_close_the_script_or_the_literal() {
        assert_eq!(js_str("a'</script>\\"), "a\\'\\u003c/script\\u003e\\\\");
    }

    #[test]
    fn euros_groups_thousands_and_keeps_two_decimals() {
        assert_eq!(euros(5), "0,05 €");
        assert_eq!(euros(1_234_567), "12.345,67 €");
        assert_eq!(euros(-750), "-7,50 €");
    }
}
