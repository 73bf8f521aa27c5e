//! The transaction log page (filters, pages) and its Retry button.

use std::collections::BTreeMap;

use serde::Serialize;
use warp::http::StatusCode;

use super::{Merchant, Request, see_other};
use crate::db::transaction_log::Outcome;
use crate::error::{AppError, Public};
use crate::onboarding::FormErrors;
use crate::orders::view::{self, LogPage, LogQuery};
use crate::state::AppState;
use crate::web::respond::Page;

/// The filter fields as typed, shown again in the form and carried by every link.
#[derive(Debug, Default, Serialize)]
struct Fields {
    order: String,
    outcome: String,
    from: String,
    to: String,
    storefront: String,
}

impl Fields {
    fn from_pairs(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name| get(name).unwrap_or_default();
        Self {
            order: get("order"),
            outcome: get("outcome"),
            from: get("from"),
            to: get("to"),
            storefront: get("storefront"),
        }
    }

    /// The query string showing these filters on `page` (empty fields left out).
    fn query(&self, page: u32) -> String {
        let pairs: Vec<(&str, String)> = [
            ("order", self.order.trim()),
            ("outcome", self.outcome.trim()),
            ("from", self.from.trim()),
            ("to", self.to.trim()),
            ("storefront", self.storefront.trim()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.to_string()))
        .chain((page > 1).then(|| ("page", page.to_string())))
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    fn parse(&self, page: &str) -> Result<LogQuery, FormErrors> {
        LogQuery::parse(
            &self.order,
            &self.outcome,
            &self.from,
            &self.to,
            &self.storefront,
            page,
        )
    }
}

pub(super) async fn log_page(state: AppState, mut merchant: Merchant, req: Request) -> Page {
    // The notice names of the shared context are about settings; this one is the log's own.
    if req.query("notice") == Some("retried") {
        merchant.notice = Some(state.i18n.t(merchant.lang, "notice_retried").to_string());
    }
    let fields = Fields::from_pairs(|n| req.query(n).map(str::to_string));
    match fields.parse(req.query("page").unwrap_or("")) {
        Ok(q) => {
            let mut log = view::log_page(&state, &merchant.store, &q.filter, q.page).await?;
            for e in &mut log.entries {
                e.localize(&state.i18n, merchant.lang);
            }
            render(&state, &merchant, StatusCode::OK, &fields, Some(log), None)
        }
        // A filter that does not parse is the merchant's typo: say which, with the form.
        Err(errors) => render(
            &state,
            &merchant,
            StatusCode::BAD_REQUEST,
            &fields,
            None,
            Some(errors),
        ),
    }
}

fn render(
    state: &AppState,
    merchant: &Merchant,
    status: StatusCode,
    fields: &Fields,
    log: Option<LogPage>,
    errors: Option<FormErrors>,
) -> Page {
    let errors: BTreeMap<String, String> = errors
        .map(|e| {
            e.fields
                .iter()
                .map(|(k, m)| {
                    let value = m.value.as_deref().unwrap_or("");
                    let text = state.i18n.tf(merchant.lang, &m.key, &[("value", value)]);
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default();
    let (prev_query, next_query) = match &log {
        Some(l) => (
            (l.page > 1).then(|| fields.query(l.page - 1)),
            l.has_next.then(|| fields.query(l.page + 1)),
        ),
        None => (None, None),
    };
    merchant.render(
        state,
        status,
        "transaction_log.html",
        "log",
        minijinja::context! {
            fields => minijinja::value::Serde(fields),
            outcomes => Outcome::ALL.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
            errors => minijinja::context! { fields => errors },
            log => log.map(minijinja::value::Serde),
            filtered => !fields.query(1).is_empty(),
            prev_query => prev_query,
            next_query => next_query,
        },
    )
}

pub(super) async fn retry(state: AppState, merchant: Merchant, req: Request) -> Page {
    req.require_form()?;
    let entry = req
        .field("entry")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .ok_or_else(|| AppError::BadRequest(Public::new("err_log_entry")))?;
    view::retry(&state, &merchant.store, entry).await?;
    // Back to the same filters and page when they still parse.
    let fields = Fields::from_pairs(|n| req.field(n).map(str::to_string));
    let back = match fields.parse(req.field("page").unwrap_or("")) {
        Ok(q) => fields.query(q.page),
        Err(_) => String::new(),
    };
    let path = if back.is_empty() {
        "/app/log".to_string()
    } else {
        format!("/app/log?{back}")
    };
    see_other(&merchant, &path, Some("retried"))
}
