//! Embedded static files under `/assets/`; the versioned storefront scripts are immutable.

use warp::http::{HeaderValue, StatusCode, header};
use warp::{Filter, Rejection, Reply};

use crate::assets::{AssetFiles, StorefrontScript, content_type};
use crate::state::AppState;

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static {
    warp::path("assets")
        .and(warp::get())
        .and(warp::path::tail())
        .map(move |tail: warp::path::Tail| serve(&state, tail.as_str()))
}

fn serve(state: &AppState, tail: &str) -> warp::reply::Response {
    let path = format!("/assets/{tail}");
    let script = [&state.checkout_script, &state.widget_script]
        .into_iter()
        .find(|s| s.path == path);
    let (body, cache, cors) = if let Some(script) = script {
        // The URL changes whenever the content does, so it can be cached forever; CORS lets
        // the storefront check its SRI hash cross-origin.
        (
            script.body.clone(),
            "public, max-age=31536000, immutable",
            true,
        )
    } else if StorefrontScript::is_versioned_folder(tail) {
        return not_found();
    } else {
        match AssetFiles::get(tail) {
            Some(f) => (f.data.into_owned(), "public, max-age=3600", false),
            None => return not_found(),
        }
    };
    let mut resp = warp::reply::Response::new(body.into());
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(tail)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if cors {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    resp
}

fn not_found() -> warp::reply::Response {
    warp::reply::with_status("Not found", StatusCode::NOT_FOUND).into_response()
}
