//! The `app_log` table: the app's log lines about each store, for the merchant's Diagnostics
//! page and the operator's support file. Bounded twice: lines older than [`KEEP_DAYS`] go,
//! and a store keeps its newest [`KEEP_PER_STORE`] at most, so what anonymous callers can make
//! a store log never grows the database.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::DbError;
use crate::domain::StoreHash;

/// Days a line is kept.
pub const KEEP_DAYS: i64 = 7;
/// Lines kept per store, newest first.
pub const KEEP_PER_STORE: usize = 2_000;

/// A line's level: the three the page filters by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub const ALL: [Level; 3] = [Self::Error, Self::Warn, Self::Info];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// A line to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine {
    pub store: StoreHash,
    /// RFC 3339 UTC, as every timestamp column.
    pub at: String,
    pub level: Level,
    pub message: String,
}

/// A stored line.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub id: i64,
    pub at: String,
    pub level: Level,
    pub message: String,
}

/// seQura's rank of a level (its advanced settings' `level`: 0 error, 1 warning, 2 info,
/// 3 debug): a line is kept when its rank is at most the store's level.
impl Level {
    pub fn rank(self) -> u8 {
        match self {
            Self::Error => 0,
            Self::Warn => 1,
            Self::Info => 2,
        }
    }
}

/// seQura's advanced settings of a store: whether its lines are kept, and down to which
/// level (0–3, see [`Level::rank`]; 3, debug, keeps what 2 keeps: the store's log holds no
/// debug lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LogSettings {
    pub enabled: bool,
    pub level: u8,
}

impl Default for LogSettings {
    /// What a store without settings keeps: every line the app writes of it (info and up).
    fn default() -> Self {
        Self {
            enabled: true,
            level: 2,
        }
    }
}

/// The store's settings, or the default when none were saved.
pub fn settings(conn: &Connection, store: &StoreHash) -> Result<LogSettings, DbError> {
    Ok(conn
        .query_row(
            "SELECT log_enabled, log_level FROM advanced_settings WHERE store_hash = ?1",
            [store.as_str()],
            |r| {
                Ok(LogSettings {
                    enabled: r.get(0)?,
                    level: r.get(1)?,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

/// Saves the store's settings (`level` 0–3, else the CHECK refuses it).
pub fn save_settings(conn: &Connection, store: &StoreHash, s: LogSettings) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO advanced_settings (store_hash, log_enabled, log_level, changed_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (store_hash) DO UPDATE SET log_enabled = excluded.log_enabled,
             log_level = excluded.log_level, changed_at = excluded.changed_at",
        params![store.as_str(), s.enabled, s.level, super::now()],
    )?;
    Ok(())
}

/// Forgets every line of the store; how many there were.
pub fn clear(conn: &Connection, store: &StoreHash) -> Result<usize, DbError> {
    Ok(conn.execute(
        "DELETE FROM app_log WHERE store_hash = ?1",
        [store.as_str()],
    )?)
}

/// Stores `lines` (those of stores no longer in the database are dropped, and those the
/// store's [`LogSettings`] do not keep), then trims each store written to down to its newest
/// [`KEEP_PER_STORE`]. The settings are applied here, once a second for a batch, not where
/// lines are logged: the logging path stays as cheap whatever a store keeps.
pub fn append(conn: &Connection, lines: &[NewLine]) -> Result<usize, DbError> {
    let mut written = 0;
    let mut stores: Vec<&StoreHash> = Vec::new();
    {
        let mut insert = conn.prepare_cached(
            "INSERT INTO app_log (store_hash, at, level, message)
             SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM stores WHERE store_hash = ?1)
               AND NOT EXISTS (SELECT 1 FROM advanced_settings a WHERE a.store_hash = ?1
                                 AND (a.log_enabled = 0 OR a.log_level < ?5))",
        )?;
        for l in lines {
            written += insert.execute(params![
                l.store.as_str(),
                l.at,
                l.level.as_str(),
                l.message,
                l.level.rank()
            ])?;
            if !stores.contains(&&l.store) {
                stores.push(&l.store);
            }
        }
    }
    let mut trim = conn.prepare_cached(
        "DELETE FROM app_log WHERE store_hash = ?1 AND id < (
             SELECT id FROM app_log WHERE store_hash = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    )?;
    for s in stores {
        trim.execute(params![s.as_str(), (KEEP_PER_STORE - 1) as i64])?;
    }
    Ok(written)
}

/// Forgets the lines older than `before` (RFC 3339 UTC).
pub fn prune(conn: &Connection, before: &str) -> Result<usize, DbError> {
    Ok(conn.execute("DELETE FROM app_log WHERE at < ?1", [before])?)
}

/// The store's newest lines at `levels` (all when empty), newest first, `limit` at most.
pub fn recent(
    conn: &Connection,
    store: &StoreHash,
    levels: &[Level],
    limit: usize,
) -> Result<Vec<Line>, DbError> {
    let all = levels.is_empty();
    let mask = |l: Level| all || levels.contains(&l);
    let mut q = conn.prepare_cached(
        "SELECT id, at, level, message FROM app_log
         WHERE store_hash = ?1 AND level IN (?2, ?3, ?4) ORDER BY id DESC LIMIT ?5",
    )?;
    // An unwanted level is asked for as '' (no line has it).
    let pick = |l: Level| if mask(l) { l.as_str() } else { "" };
    let rows = q
        .query_map(
            params![
                store.as_str(),
                pick(Level::Error),
                pick(Level::Warn),
                pick(Level::Info),
                limit as i64
            ],
            |r| {
                let level: String = r.get(2)?;
                Ok(Line {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    level: Level::parse(&level).unwrap_or(Level::Info),
                    message: r.get(3)?,
                })
            },
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(store: &str, n: usize, level: Level) -> NewLine {
        NewLine {
            store: StoreHash::parse(store).unwrap(),
            at: format!("2026-12-0{}T10:00:00Z", 1 + n % 5),
            level,
            message: format!("line {n}"),
        }
    }

    #[test]
    fn a_store_keeps_its_newest_lines_only_and_another_store_is_untouched() {
        let (_dir, c) = crate::db::test_db(&["aaaa1", "bbbb2"]);
        let many: Vec<NewLine> = (0..KEEP_PER_STORE + 50)
            .map(|n| line("aaaa1", n, Level::Info))
            .collect();
        append(&c, &[line("bbbb2", 0, Level::Warn)]).unwrap();
        append(&c, &many).unwrap();
        let a = StoreHash::parse("aaaa1").unwrap();
        let kept = recent(&c, &a, &[], usize::MAX).unwrap();
        assert_eq!(kept.len(), KEEP_PER_STORE);
        assert_eq!(kept[0].message, format!("line {}", KEEP_PER_STORE + 49));
        assert_eq!(kept.last().unwrap().message, "line 50");
        let b = StoreHash::parse("bbbb2").unwrap();
        assert_eq!(recent(&c, &b, &[], 10).unwrap().len(), 1);
    }

    #[test]
    fn a_stores_advanced_settings_say_which_of_its_lines_are_kept() {
        let (_dir, c) = crate::db::test_db(&["aaaa1", "bbbb2"]);
        let a = StoreHash::parse("aaaa1").unwrap();
        let b = StoreHash::parse("bbbb2").unwrap();
        assert_eq!(settings(&c, &a).unwrap(), LogSettings::default());
        let all = |store: &str| {
            [Level::Error, Level::Warn, Level::Info]
                .into_iter()
                .enumerate()
                .map(|(n, l)| line(store, n, l))
                .collect::<Vec<_>>()
        };
        save_settings(
            &c,
            &a,
            LogSettings {
                enabled: true,
                level: 1,
            },
        )
        .unwrap();
        append(&c, &all("aaaa1")).unwrap();
        append(&c, &all("bbbb2")).unwrap();
        let kept: Vec<Level> = recent(&c, &a, &[], 10)
            .unwrap()
            .iter()
            .map(|l| l.level)
            .collect();
        assert_eq!(kept, [Level::Warn, Level::Error]);
        assert_eq!(
            recent(&c, &b, &[], 10).unwrap().len(),
            3,
            "another store keeps all"
        );
        save_settings(
            &c,
            &a,
            LogSettings {
                enabled: false,
                level: 3,
            },
        )
        .unwrap();
        append(&c, &all("aaaa1")).unwrap();
        assert_eq!(
            recent(&c, &a, &[], 10).unwrap().len(),
            2,
            "off: nothing more"
        );
        assert_eq!(clear(&c, &a).unwrap(), 2);
        assert!(recent(&c, &a, &[], 10).unwrap().is_empty());
        assert_eq!(
            recent(&c, &b, &[], 10).unwrap().len(),
            3,
            "only the store's lines go"
        );
        assert!(
            save_settings(
                &c,
                &a,
                LogSettings {
                    enabled: true,
                    level: 4
                }
            )
            .is_err()
        );
    }

    #[test]
    fn lines_of_an_unknown_store_are_dropped_and_levels_filter() {
        let (_dir, c) = crate::db::test_db(&["aaaa1"]);
        let n = append(
            &c,
            &[
                line("aaaa1", 0, Level::Error),
                line("aaaa1", 1, Level::Warn),
                line("aaaa1", 2, Level::Info),
                line("zzzz9", 3, Level::Error),
            ],
        )
        .unwrap();
        assert_eq!(n, 3);
        let a = StoreHash::parse("aaaa1").unwrap();
        let errors = recent(&c, &a, &[Level::Error], 10).unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].level, Level::Error);
        let two = recent(&c, &a, &[Level::Error, Level::Warn], 10).unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(prune(&c, "2026-12-02T10:00:00Z").unwrap(), 1);
    }
}
