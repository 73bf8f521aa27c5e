//! The merchant's pages inside the control panel. The store and user come only from the
//! signed session token (query `session=` or `Authorization: Bearer`), never from the URL;
//! every form posts to a URL carrying it.

mod context;
mod diagnostics;
mod log;
mod pages;
mod settings;
mod storefronts;
mod widgets;

use std::future::Future;

use bytes::Bytes;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::respond::{Page, accept_language, finish};
use crate::error::{AppError, Public};
use crate::i18n::Lang;
use crate::state::AppState;

pub use context::Merchant;
pub(super) use pages::{dashboard, landing, order_panel};

/// Largest form body accepted.
const MAX_FORM_BYTES: u64 = 64 * 1024;

/// What a merchant request carries besides the session.
pub struct Request {
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
    content_length: Option<u64>,
}

impl Request {
    /// The first value of a query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        first(&self.query, name)
    }

    /// The first value of a form field.
    pub fn field(&self, name: &str) -> Option<&str> {
        first(&self.form, name)
    }

    /// Every value of a repeated form field.
    pub fn fields(&self, name: &str) -> Vec<String> {
        self.form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A form post must say how long it is; a body that is not a form changes nothing.
    pub fn require_form(&self) -> Result<(), AppError> {
        match self.content_length {
            Some(_) => Ok(()),
            None => Err(AppError::BadRequest(Public::new("err_form_incomplete"))),
        }
    }
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A handler of a merchant page: authenticated merchant in, page out.
pub trait Handler: Clone + Send + Sync + 'static {
    type Fut: Future<Output = Page> + Send;
    fn call(&self, state: AppState, merchant: Merchant, req: Request) -> Self::Fut;
}

impl<F, Fut> Handler for F
where
    F: Fn(AppState, Merchant, Request) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Page> + Send,
{
    type Fut = Fut;
    fn call(&self, state: AppState, merchant: Merchant, req: Request) -> Fut {
        self(state, merchant, req)
    }
}

/// One merchant route: `method` on exactly `path`, session checked before `handler` runs.
fn route(
    state: &AppState,
    method: warp::http::Method,
    path: &'static str,
    handler: impl Handler,
) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    let state = state.clone();
    let is_post = method == warp::http::Method::POST;
    warp::method()
        .and(warp::path::full())
        .and_then(move |m: warp::http::Method, full: warp::path::FullPath| {
            let ok = m == method && full.as_str() == path;
            async move {
                if ok {
                    Ok(())
                } else {
                    Err(warp::reject::not_found())
                }
            }
        })
        .untuple_one()
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<u64>("content-length"))
        .and(
            warp::body::content_length_limit(MAX_FORM_BYTES)
                .and(warp::body::bytes())
                .or(warp::any().map(Bytes::new))
                .unify(),
        )
        .and(accept_language())
        .then(
            move |raw: String,
                  auth: Option<String>,
                  length: Option<u64>,
                  body: Bytes,
                  lang: Lang| {
                let state = state.clone();
                let handler = handler.clone();
                async move {
                    // The merchant's language once known (errors too), else the browser's.
                    let mut page_lang = lang;
                    let page = async {
                        let query: Vec<(String, String)> =
                            serde_urlencoded::from_str(&raw).unwrap_or_default();
                        let token = first(&query, "session").map(str::to_string).or_else(|| {
                            auth.and_then(|h| h.strip_prefix("Bearer ").map(str::to_string))
                        });
                        let merchant = Merchant::authenticate(&state, token)
                            .await?
                            .with_notice(&state, first(&query, "notice"));
                        page_lang = merchant.lang;
                        if length.is_some_and(|n| n > MAX_FORM_BYTES) {
                            return Err(AppError::BadRequest(Public::new("err_form_too_large")));
                        }
                        let form = if is_post {
                            serde_urlencoded::from_bytes(&body).map_err(|_| {
                                AppError::BadRequest(Public::new("err_form_unreadable"))
                            })?
                        } else {
                            Vec::new()
                        };
                        let req = Request {
                            query,
                            form,
                            content_length: length,
                        };
                        handler.call(state.clone(), merchant, req).await
                    }
                    .await;
                    finish(&state, page_lang, page)
                }
            },
        )
        .boxed()
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static {
    use warp::http::Method;
    let panel = {
        let state = state.clone();
        warp::path!("app" / "orders" / String / "sequra")
            .and(warp::get())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::optional::<String>("authorization"))
            .and(accept_language())
            .then(
                move |order: String, raw: String, auth: Option<String>, lang: Lang| {
                    let state = state.clone();
                    async move {
                        let mut page_lang = lang;
                        let page = async {
                            let query: Vec<(String, String)> =
                                serde_urlencoded::from_str(&raw).unwrap_or_default();
                            let token =
                                first(&query, "session").map(str::to_string).or_else(|| {
                                    auth.and_then(|h| h.strip_prefix("Bearer ").map(str::to_string))
                                });
                            let merchant = Merchant::authenticate(&state, token).await?;
                            page_lang = merchant.lang;
                            let order = crate::domain::BcOrderId::parse(&order)
                                .map_err(|_| AppError::NotFound)?;
                            order_panel(&state, &merchant, order).await
                        }
                        .await;
                        finish(&state, page_lang, page)
                    }
                },
            )
    };
    route(&state, Method::GET, "/app", pages::dashboard_page)
        .or(route(
            &state,
            Method::POST,
            "/app/provisioning/retry",
            pages::retry_provisioning,
        ))
        .unify()
        .or(route(
            &state,
            Method::GET,
            "/app/connect",
            settings::connect_page,
        ))
        .unify()
        .or(route(
            &state,
            Method::POST,
            "/app/connect",
            settings::connect_submit,
        ))
        .unify()
        .or(route(
            &state,
            Method::POST,
            "/app/disconnect",
            settings::disconnect_submit,
        ))
        .unify()
        .or(route(
            &state,
            Method::GET,
            "/app/countries",
            settings::countries_page,
        ))
        .unify()
        .or(route(
            &state,
            Method::POST,
            "/app/countries",
            settings::countries_submit,
        ))
        .unify()
        .or(route(
            &state,
            Method::GET,
            "/app/methods",
            settings::methods_page,
        ))
        .unify()
        .or(route(
            &state,
            Method::POST,
            "/app/methods/refresh",
            settings::methods_refresh,
        ))
        .unify()
        .or(route(
            &state,
            Method::GET,
            "/app/general",
            settings::general_page,
        ))
        .unify()
        .or(route(
            &state,
            Method::POST,
            "/app/general",
            settings::general_submit,
        ))
        .unify()
        .or(route(
            &state,
            Method::GET,
            "/app/order-status",
            settings::status_page,
        ))
        .unify()
        .or(route(
            &state,
            Method::POST,
            "/app/order-status",
            settings::status_submit,
        ))
        .unify()
        .or(route(
            &state,
            Method::GET,
            "/app/storefronts",
            storefronts::storefronts_page,
        ))
        .unify()
        .or(route(
            &state,
            Method::POST,
            "/app/storefronts",
            storefronts::storefronts_submit,
        ))
        .unify()
        .or(route(
            &state,
            Method::GET,
            "/app/widgets",
            widgets::widgets_page,
        ))
        .unify()
        .or(route(
            &state,
            Method::POST,
            "/app/widgets",
            widgets::widgets_submit,
        ))
        .unify()
        // One boxed filter for the settings pages above: a chain of two dozen `or`s is a type
        // too deep for the optimised build's trait solver (E0275 in `--release`).
        .boxed()
        // Past the box: the chain above is as long as the optimised build takes.
        .or(route(
            &state,
            Method::POST,
            "/app/methods/settings",
            settings::methods_settings,
        ))
        .unify()
        .or(route(
            &state,
            Method::POST,
            "/app/remote-configuration",
            settings::remote_submit,
        ))
        .unify()
        .or(route(
            &state,
            Method::GET,
            "/app/diagnostics",
            diagnostics::diagnostics_page,
        ))
        .unify()
        .or(route(
            &state,
            Method::GET,
            "/app/diagnostics/log.txt",
            diagnostics::diagnostics_download,
        ))
        .unify()
        .or(route(&state, Method::GET, "/app/log", log::log_page))
        .unify()
        .or(route(&state, Method::POST, "/app/log/retry", log::retry))
        .unify()
        .or(panel)
        .unify()
}

/// A 303 to `path` (which may carry a query) on the same merchant session (refreshed), with
/// an optional notice.
pub(super) fn see_other(merchant: &Merchant, path: &str, notice: Option<&str>) -> Page {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut location = format!("{path}{sep}session={}", merchant.session);
    if let Some(n) = notice {
        location.push_str("&notice=");
        location.push_str(n);
    }
    Ok(super::respond::redirect(StatusCode::SEE_OTHER, &location))
}
