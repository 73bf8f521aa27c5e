//! Turning handler results into responses: HTML pages with the merchant-page security
//! headers, redirects, and the one mapping of `AppError` to an error page.

use serde::Serialize;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::error::AppError;
use crate::i18n::Lang;
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
    if let Ok(csp) = HeaderValue::from_str(&state.content_security_policy) {
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

/// Maps an error to its page in `lang`: 5xx are logged with their cause and shown opaquely.
pub fn error_page(state: &AppState, lang: Lang, err: &AppError) -> Response {
    let status = err.status();
    log_failure(state, err, "request failed");
    let public = err.public();
    let title_key = match status.as_u16() {
        400 => "error_title_400",
        401 => "error_title_401",
        403 => "error_title_403",
        404 => "error_title_404",
        429 => "error_title_429",
        503 => "error_title_503",
        502 => "error_title_502",
        _ => "error_title_500",
    };
    let i18n = &state.i18n;
    let message = i18n.tf(
        lang,
        public.key,
        &[("detail", public.detail.as_deref().unwrap_or(""))],
    );
    let ctx = minijinja::context! {
        status => status.as_u16(),
        title => i18n.t(lang, title_key),
        message => message,
        detail => public.detail,
        lang => lang.code(),
    };
    let mut resp = match html_page(state, status, "error.html", ctx) {
        Ok(resp) => resp,
        Err(_) => {
            warp::reply::with_status(i18n.t(lang, title_key).to_string(), status).into_response()
        }
    };
    with_retry_after(&mut resp, err);
    resp
}

/// Our own faults at ERROR with their cause; a wait we chose (the store's BigCommerce quota
/// down to the job queue's reserve) is no fault: a summarised WARN (see [`Tally`]), so that a
/// flood of shopper requests does not flood the log.
///
/// [`Tally`]: crate::telemetry::Tally
pub fn log_failure(state: &AppState, err: &AppError, what: &'static str) {
    if err.is_fault() {
        tracing::error!(error = ?err, "{what}");
    } else if let AppError::Busy { .. } = err {
        state.log_tally.note(
            tracing::Level::WARN,
            "requests answered 503: a store's BigCommerce quota is down to the job queue's reserve",
        );
    }
}

/// `Retry-After` on an answer that knows how long to wait.
pub fn with_retry_after(resp: &mut Response, err: &AppError) {
    if let Some(secs) = err.retry_after_secs() {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
}

/// The final step of every handler chain.
pub fn finish(state: &AppState, lang: Lang, page: Page) -> Response {
    match page {
        Ok(resp) => resp,
        Err(e) => error_page(state, lang, &e),
    }
}

/// The page language of a request that has no merchant yet: its `Accept-Language`.
pub fn accept_language() -> impl Filter<Extract = (Lang,), Error = std::convert::Infallible> + Clone
{
    warp::header::optional::<String>("accept-language")
        .or(warp::any().map(|| None))
        .unify()
        .map(|h: Option<String>| Lang::from_accept_language(h.as_deref()))
}
