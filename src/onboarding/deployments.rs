//! seQura's list of deployments (seQura, SVEA): read from seQura at start-up and daily, kept
//! in the database for a restart that cannot read it, the built-in list until then.

use crate::db;
use crate::sequra::deployments::Listed;
use crate::state::AppState;

/// How often the list is read again.
pub const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Takes the list last read, if one was kept.
pub async fn load_saved(state: &AppState) {
    let saved = state.db.call(|c| db::sequra::deployments_list(c)).await;
    match saved {
        Ok(Some(payload)) => match serde_json::from_str::<Vec<Listed>>(&payload) {
            Ok(list) => {
                state.sequra.deployments().take(&list);
            }
            Err(e) => {
                tracing::warn!(error = %e, "the kept list of seQura deployments is unreadable")
            }
        },
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "could not read the kept list of seQura deployments"),
    }
}

/// Reads the list from seQura and keeps it; a failure keeps the one in use.
pub async fn refresh(state: &AppState) {
    match state.sequra.read_deployments().await {
        Ok(list) => {
            let taken = state.sequra.deployments().take(&list);
            tracing::info!(deployments = taken, "seQura's deployments read");
            if taken == 0 {
                return;
            }
            let Ok(payload) = serde_json::to_string(&list) else {
                return;
            };
            if let Err(e) = state
                .db
                .call(move |c| db::sequra::save_deployments_list(c, &payload))
                .await
            {
                tracing::warn!(error = %e, "could not keep the list of seQura deployments");
            }
        }
        Err(e) => tracing::warn!(
            error = %e,
            "seQura's deployments could not be read; the last list (or the built-in one) stays"
        ),
    }
}
