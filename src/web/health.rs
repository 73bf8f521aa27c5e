//! `GET /healthz` (the process answers) and `GET /readyz` (database reachable, schema current).

use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use crate::state::AppState;

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static {
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::with_status("ok", StatusCode::OK));
    let readyz = warp::path!("readyz").and(warp::get()).then(move || {
        let db = state.db.clone();
        async move {
            let ready = db
                .call(|conn| {
                    conn.query_row("SELECT 1", [], |_| Ok(()))?;
                    Ok(())
                })
                .await
                .is_ok()
                && tokio::task::spawn_blocking(move || db.schema_is_current())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or(false);
            if ready {
                warp::reply::with_status("ready", StatusCode::OK)
            } else {
                warp::reply::with_status("not ready", StatusCode::SERVICE_UNAVAILABLE)
            }
        }
    });
    healthz.or(readyz)
}
