//! Logging: `tracing` to stderr as text or JSON, filtered by `log.level`.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The filter for `log.level`. warp's own per-request lines repeat ours, and it writes every
/// 4xx as a WARN and every 5xx (our chosen 503s too) as an ERROR "internal error", a line per
/// request anyone can send: off unless the operator names warp.
pub fn directives(level: &str) -> String {
    if level.contains("warp") {
        level.to_string()
    } else {
        format!("{level},warp::filters::trace=off")
    }
}

/// Installs the global subscriber once; later calls (tests) are ignored.
pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(directives(level)).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Repeated log lines of one kind, summarised: the first of an interval is written at once,
/// the rest are counted and written as one line ("N more … in the last 60 s") when the
/// interval is over (at the next one of the kind, or at [`Tally::flush`]). What anonymous
/// callers can make us log is so bounded: per kind, at most two lines an interval, however
/// many requests. Kinds are the app's own constants, so the table stays small.
pub struct Tally {
    interval: std::time::Duration,
    kinds: std::sync::Mutex<std::collections::HashMap<&'static str, Counted>>,
}

struct Counted {
    level: tracing::Level,
    since: std::time::Instant,
    more: u64,
}

/// Summaries once a minute.
impl Default for Tally {
    fn default() -> Self {
        Self::new(std::time::Duration::from_secs(60))
    }
}

impl Tally {
    pub fn new(interval: std::time::Duration) -> Self {
        Self {
            interval,
            kinds: Default::default(),
        }
    }

    /// One occurrence of `kind` (a sentence such as "forged seQura notifications refused"),
    /// logged at `level` as described on [`Tally`].
    pub fn note(&self, level: tracing::Level, kind: &'static str) {
        self.note_at(level, kind, std::time::Instant::now());
    }

    fn note_at(&self, level: tracing::Level, kind: &'static str, now: std::time::Instant) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        match kinds.get_mut(kind) {
            Some(c) if now.duration_since(c.since) < self.interval => c.more += 1,
            Some(c) => {
                self.summarise(kind, c, now);
                *c = Counted {
                    level,
                    since: now,
                    more: 0,
                };
                emit(level, kind, 1, None);
            }
            None => {
                kinds.insert(
                    kind,
                    Counted {
                        level,
                        since: now,
                        more: 0,
                    },
                );
                emit(level, kind, 1, None);
            }
        }
    }

    /// Writes the summaries of the intervals that are over (called now and then, so that the
    /// count of a flood that stopped is not held back).
    pub fn flush(&self) {
        let now = std::time::Instant::now();
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        kinds.retain(|kind, c| {
            if now.duration_since(c.since) < self.interval {
                return true;
            }
            self.summarise(kind, c, now);
            false
        });
    }

    fn summarise(&self, kind: &'static str, c: &Counted, now: std::time::Instant) {
        if c.more > 0 {
            let secs = now.duration_since(c.since).as_secs().max(1);
            emit(c.level, kind, c.more, Some(secs));
        }
    }
}

fn emit(level: tracing::Level, kind: &'static str, count: u64, over_secs: Option<u64>) {
    macro_rules! at {
        ($lvl:ident) => {
            match over_secs {
                None => tracing::$lvl!(
                    kind,
                    "{kind} (more in the next minute are counted, not logged)"
                ),
                Some(secs) => {
                    tracing::$lvl!(kind, count, "{kind}: {count} more in the last {secs} s")
                }
            }
        };
    }
    match level {
        tracing::Level::ERROR => at!(error),
        tracing::Level::WARN => at!(warn),
        tracing::Level::INFO => at!(info),
        _ => at!(debug),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn lines_of(f: impl FnOnce()) -> Vec<String> {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || Sink(writer.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_string).collect()
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Issue 31 (1.6): ten thousand occurrences over three minutes are five lines: per
    /// interval the first, then the count of the others.
    #[test]
    fn a_flood_of_one_kind_is_two_lines_an_interval() {
        let tally = Tally::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let lines = lines_of(|| {
            for i in 0..10_000u64 {
                let at = t0 + Duration::from_millis(i * 18);
                tally.note_at(
                    tracing::Level::WARN,
                    "forged seQura notifications refused",
                    at,
                );
            }
            tally.note_at(
                tracing::Level::INFO,
                "requests answered 404",
                t0 + Duration::from_secs(1),
            );
        });
        assert_eq!(lines.len(), 5 + 1, "{lines:#?}");
        assert!(lines[0].contains("WARN") && lines[0].contains("forged seQura notifications"));
        let counted: u64 = lines
            .iter()
            .filter_map(|l| {
                l.split("count=")
                    .nth(1)?
                    .split(' ')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum();
        // Three intervals of 3334, 3334 and 3332 notes: the firsts written, and the counts of
        // the two that are over (the last one's is held until it is).
        assert!(
            lines
                .iter()
                .any(|l| l.contains("3333 more in the last 60 s")),
            "{lines:#?}"
        );
        assert_eq!(counted, 3333 * 2);
        let held = lines_of(|| tally.flush());
        assert!(
            held.is_empty(),
            "the last interval is not over yet: {held:?}"
        );
    }
}
