//! Turning handler results into responses: HTML pages with the merchant-page security
//! headers, redirects, and the one mapping of `AppError` to an error page.

use serde::Serialize;
use warp::Reply;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::error::AppError;
use crate::state::AppState;

/// What handlers return: a response, or an error rendered once, here.
pub type Page = Result<Response, AppError>;

/// Renders `template` with `ctx` as an HTML page carrying the security headers.
pub fn html_page(
    state: &AppState,
    status: StatusCode,
    template: &str,
    ctx: impl Serialize,
) -> Page {
    let body = state.templates.render(template, ctx)?;
    Ok(with_security_headers(
        state,
        warp::reply::with_status(warp::reply::html(body), status).into_response(),
    ))
}

/// CSP (framing only by the control panel), nosniff, no-store, no referrer (links carry
/// session tokens).
pub fn with_security_headers(state: &AppState, mut resp: Response) -> Response {
    let h = resp.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(state)) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// The control panel's origins may frame us; so may the configured login host's origin
/// (the stand-in's, in the demo and tests).
fn content_security_policy(state: &AppState) -> String {
    let mut ancestors = String::from("https://*.mybigcommerce.com https://login.bigcommerce.com");
    let login = state.bigcommerce.login_url().origin().ascii_serialization();
    if login != "https://login.bigcommerce.com" && login != "null" {
        ancestors.push(' ');
        ancestors.push_str(&login);
    }
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors {ancestors}"
    )
}

/// A 303 redirect (after a form post) or 302.
pub fn redirect(status: StatusCode, location: &str) -> Response {
    let mut resp = warp::reply::with_status(warp::reply(), status).into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Maps an error to its page: 5xx are logged with their cause and shown opaquely.
pub fn error_page(state: &AppState, err: &AppError) -> Response {
    let status = err.status();
    if status.is_server_error() && !matches!(err, AppError::Upstream(_)) {
        tracing::error!(error = ?err, "request failed");
    }
    #[derive(Serialize)]
    struct Ctx {
        status: u16,
        title: &'static str,
        message: String,
    }
    let title = match status.as_u16() {
        400 => "This request could not be understood",
        401 => "Please open the app again",
        403 => "Not allowed",
        404 => "Not found",
        502 => "BigCommerce did not answer as expected",
        _ => "Something went wrong",
    };
    let ctx = Ctx {
        status: status.as_u16(),
        title,
        message: err.public_message(),
    };
    match html_page(state, status, "error.html", ctx) {
        Ok(resp) => resp,
        Err(_) => warp::reply::with_status(title, status).into_response(),
    }
}

/// The final step of every handler chain.
pub fn finish(state: &AppState, page: Page) -> Response {
    match page {
        Ok(resp) => resp,
        Err(e) => error_page(state, &e),
    }
}
