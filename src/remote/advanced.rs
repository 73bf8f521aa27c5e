//! `get-advanced-settings`, `save-advanced-settings`, `get-log-content`, `remove-log-content`:
//! seQura's "advanced" settings govern the store's own log lines, the ones the app keeps for
//! the merchant's Diagnostics page (`app_log`): `isEnabled` keeps them or not, `level` keeps
//! those at or above it (0 error, 1 warning, 2 info, 3 debug; the app logs nothing of a store
//! below info, so 3 keeps what 2 keeps). They never touch the operator's log. The settings are
//! applied where the lines are written to the database, once a second for a batch, so the
//! logging path costs the same whatever a store chose (see `db::app_log::append`).

use serde_json::{Map, Value, json};

use super::changes::{self, Change, Shown};
use super::error::{TopicError, fault};
use super::request::{bool_field, int_field};
use crate::db;
use crate::db::app_log::{Level, Line, LogSettings};
use crate::domain::StoreHash;
use crate::i18n::Message;
use crate::state::AppState;

/// The most `get-log-content` answers, in bytes of log text: the newest lines that fit
/// (seQura's plugins cap their log file at 2 MB; a webhook answer stays well under it).
pub const MAX_LOG_BYTES: usize = 1024 * 1024;

/// `get-advanced-settings`: what the store keeps (the default when never saved: on, info).
pub async fn get(state: &AppState, store: &StoreHash) -> Result<Value, TopicError> {
    let hash = store.clone();
    let s = state
        .db
        .call(move |c| db::app_log::settings(c, &hash))
        .await
        .map_err(|e| fault(e.into()))?;
    Ok(json!({"isEnabled": s.enabled, "level": s.level}))
}

fn level_term(level: u8) -> &'static str {
    match level {
        0 => "diag_badge_error",
        1 => "diag_badge_warn",
        2 => "diag_badge_info",
        _ => "remote_level_debug",
    }
}

/// `save-advanced-settings`: an omitted field is unchanged (seQura's core would reset it:
/// see `remote::general`); a level outside 0–3 is refused.
pub async fn save(
    state: &AppState,
    store: &StoreHash,
    req: &Map<String, Value>,
) -> Result<Value, TopicError> {
    let enabled = bool_field(req, "isEnabled")?;
    let level = match int_field(req, "level")? {
        None => None,
        Some(l @ 0..=3) => Some(l as u8),
        Some(_) => {
            let mut e = TopicError::invalid(
                "general.errors.advancedSettings.invalidLevel",
                "The log level is 0 (error), 1 (warning), 2 (info) or 3 (debug).",
            );
            e.parameters = vec!["level".into()];
            return Err(e);
        }
    };
    let (i18n, hash) = (state.i18n.clone(), store.clone());
    state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            let before = db::app_log::settings(&tx, &hash)?;
            let after = LogSettings {
                enabled: enabled.unwrap_or(before.enabled),
                level: level.unwrap_or(before.level),
            };
            if after != before {
                let changes: Vec<Change> = [
                    Change::of(
                        Some("diag_log_title"),
                        "remote_setting_log_kept",
                        Shown::on_off(before.enabled),
                        Shown::on_off(after.enabled),
                    ),
                    Change::of(
                        Some("diag_log_title"),
                        "diag_log_level",
                        Shown::Term(level_term(before.level)),
                        Shown::Term(level_term(after.level)),
                    ),
                ]
                .into_iter()
                .flatten()
                .collect();
                db::app_log::save_settings(&tx, &hash, after)?;
                changes::record(&tx, &i18n, &hash, &changes)?;
                tx.commit()?;
            }
            Ok(())
        })
        .await
        .map_err(|e| fault(e.into()))?;
    Ok(json!([]))
}

/// One line as seQura's core writes its log: `LEVEL\tYYYY-MM-DD HH:MM:SS\tmessage\r\n`.
fn core_line(l: &Line) -> String {
    let level = match l.level {
        Level::Error => "ERROR",
        Level::Warn => "WARNING",
        Level::Info => "INFO",
    };
    // Stored as RFC 3339 UTC (`2026-12-01T10:00:00.123Z`): the core's is to the second.
    let at: String = l.at.chars().take(19).collect::<String>().replace('T', " ");
    format!("{level}\t{at}\t{}\r\n", l.message)
}

/// `get-log-content`: the store's own lines, oldest first, the newest that fit in
/// [`MAX_LOG_BYTES`].
pub async fn content(state: &AppState, store: &StoreHash) -> Result<Value, TopicError> {
    let hash = store.clone();
    let lines = state
        .db
        .call(move |c| db::app_log::recent(c, &hash, &[], db::app_log::KEEP_PER_STORE))
        .await
        .map_err(|e| fault(e.into()))?;
    let mut out = Vec::new();
    let mut size = 0;
    for l in &lines {
        let line = core_line(l);
        size += line.len();
        if size > MAX_LOG_BYTES {
            break;
        }
        out.push(line);
    }
    out.reverse();
    Ok(json!(out))
}

/// `remove-log-content`: forgets the store's lines (no other store's, nor the operator's
/// log), and says so in the transaction log when there were any.
pub async fn remove(state: &AppState, store: &StoreHash) -> Result<Value, TopicError> {
    let (i18n, hash) = (state.i18n.clone(), store.clone());
    state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            let removed = db::app_log::clear(&tx, &hash)?;
            if removed > 0 {
                crate::orders::Record::new(
                    &i18n,
                    &hash,
                    &crate::orders::About::default(),
                    changes::EVENT,
                    db::transaction_log::Outcome::Changed,
                    &Message::new("log_msg_remote_log_cleared").text("lines", removed.to_string()),
                )
                .write(&tx)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
        .map_err(|e| fault(e.into()))?;
    Ok(json!([]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_the_cores_log_lines() {
        let l = Line {
            id: 1,
            at: "2026-12-01T10:00:05.123Z".into(),
            level: Level::Warn,
            message: "seQura answered 409 order=12".into(),
        };
        assert_eq!(
            core_line(&l),
            "WARNING\t2026-12-01 10:00:05\tseQura answered 409 order=12\r\n"
        );
    }
}
