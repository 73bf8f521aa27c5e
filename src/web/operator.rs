//! `GET /` for the operator: is the configuration complete, and the exact callback URLs to
//! paste into the BigCommerce Developer Portal.

use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::respond::{finish, html_page};
use crate::state::AppState;

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static {
    warp::path::end().and(warp::get()).map(move || {
        let s = &state.settings;
        let problems: Vec<String> = s
            .validate_for_serve()
            .err()
            .map(|e| vec![e.to_string()])
            .unwrap_or_default();
        let page = html_page(
            &state,
            StatusCode::OK,
            "operator.html",
            minijinja::context! {
                complete => problems.is_empty(),
                problems => problems,
                auth_url => state.public("/bc/auth"),
                load_url => state.public("/bc/load"),
                uninstall_url => state.public("/bc/uninstall"),
                remove_user_url => state.public("/bc/remove-user"),
                webhooks_url => state.public("/bc/webhooks"),
                checkout_script => state.public(&state.checkout_script.path),
                checkout_integrity => &state.checkout_script.integrity,
                version => env!("CARGO_PKG_VERSION"),
            },
        );
        finish(&state, crate::i18n::Lang::En, page)
    })
}
