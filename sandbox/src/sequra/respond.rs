//! Response builders with seQura's shapes: `{"errors":[…]}` JSON, the plain-text 401, Rails'
//! HTML 404 page, and escaped HTML for the form and the control pages.

use serde_json::{Value, json};
use warp::http::HeaderValue;

use crate::common;
pub(crate) use crate::common::{Resp, esc, no_content, see_other, text};

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

/// JSON with seQura's `content-type: application/json; charset=utf-8`.
pub(crate) fn json(code: u16, body: &Value) -> Resp {
    common::json(code, body, "application/json; charset=utf-8")
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

/// 204 with a `Location` header (order and store-integration creation).
pub(crate) fn created_at(location: &str) -> Resp {
    common::with_location(no_content(), location)
}

/// HTML that is never cached (the form and the control pages).
pub(crate) fn html(code: u16, body: String) -> Resp {
    let mut resp = common::html(code, body);
    resp.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    resp
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
    use super::{euros, js_str};

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
