//! The `app_log` table: the app's log lines about each store, for the merchant's Diagnostics
//! page and the operator's support file. Bounded twice: lines older than [`KEEP_DAYS`] go,
//! and a store keeps its newest [`KEEP_PER_STORE`] at most, so what anonymous callers can make
//! a store log never grows the database.

use rusqlite::{Connection, params};
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

/// Stores `lines` (those of stores no longer in the database are dropped), then trims each
/// store written to down to its newest [`KEEP_PER_STORE`].
pub fn append(conn: &Connection, lines: &[NewLine]) -> Result<usize, DbError> {
    let mut written = 0;
    let mut stores: Vec<&StoreHash> = Vec::new();
    {
        let mut insert = conn.prepare_cached(
            "INSERT INTO app_log (store_hash, at, level, message)
             SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM stores WHERE store_hash = ?1)",
        )?;
        for l in lines {
            written +=
                insert.execute(params![l.store.as_str(), l.at, l.level.as_str(), l.message])?;
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
