//! Logging: `tracing` to stderr as text or JSON, filtered by `log.level`; and each store's
//! own lines kept for its merchant ([`StoreLines`]).

use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;
use crate::db::app_log::{Level as LineLevel, NewLine};
use crate::domain::StoreHash;

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

/// The target of the per-request access line: the operator's, never a store's (a line per
/// page view and per shopper call would push every useful line out of the store's log).
pub const ACCESS: &str = "sequra_bc::access";

/// Installs the global subscriber once; later calls (tests) are ignored. Each store's lines
/// are kept at INFO and above whatever `log.level` the operator chose for the stderr log.
pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(directives(level)).unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let stderr = match format {
        LogFormat::Json => stderr.json().flatten_event(true).boxed(),
        LogFormat::Text => stderr.boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(stderr.with_filter(filter))
        .with(StoreLayer.with_filter(tracing_subscriber::filter::LevelFilter::INFO))
        .try_init();
}

/// Keeps each store's lines without writing to stderr: for an app started in a process that
/// did not [`init`] (the in-process tests). Ignored when a subscriber is already installed.
pub fn init_store_lines_only() {
    let _ = tracing_subscriber::registry()
        .with(StoreLayer.with_filter(tracing_subscriber::filter::LevelFilter::INFO))
        .try_init();
}

/// Lines waiting to be written at most; past it the oldest are dropped (and counted): what
/// a flood can make the process hold is bounded.
const PENDING_MAX: usize = 10_000;
/// The longest message kept of a line, in bytes.
const MESSAGE_MAX: usize = 2_000;

/// Each store's log lines on their way to the `app_log` table: the [`StoreLayer`] of the
/// global subscriber puts them here, and each running app takes its own (see
/// [`StoreLines::take`]) every second. A line belongs to a store when it, or a span it is
/// in, names one (`store_hash`); to an app when a span names the app's tag (`app`): the
/// in-process tests run several apps in one process, each with its own database.
pub struct StoreLines {
    pending: Mutex<VecDeque<(Option<u64>, NewLine)>>,
    apps: Mutex<BTreeSet<u64>>,
    next_tag: AtomicU64,
    /// Lines dropped because too many were waiting.
    pub dropped: AtomicU64,
}

/// The process's store lines.
pub static STORE_LINES: StoreLines = StoreLines {
    pending: Mutex::new(VecDeque::new()),
    apps: Mutex::new(BTreeSet::new()),
    next_tag: AtomicU64::new(1),
    dropped: AtomicU64::new(0),
};

/// A running app's claim on its store lines; dropping it gives it up.
#[derive(Debug)]
pub struct AppTag(u64);

impl AppTag {
    pub fn get(&self) -> u64 {
        self.0
    }
}

impl Drop for AppTag {
    fn drop(&mut self) {
        lock(&STORE_LINES.apps).remove(&self.0);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl StoreLines {
    /// A tag for a new app of this process.
    pub fn register(&self) -> AppTag {
        let tag = self.next_tag.fetch_add(1, Ordering::Relaxed);
        lock(&self.apps).insert(tag);
        AppTag(tag)
    }

    fn push(&self, app: Option<u64>, line: NewLine) {
        let mut pending = lock(&self.pending);
        if pending.len() >= PENDING_MAX {
            pending.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        pending.push_back((app, line));
    }

    /// The lines of the app tagged `tag`: its own, and those no app named when it is the
    /// only app of the process (a server). Lines of apps gone, and untagged lines when
    /// several apps run, are dropped; other apps' lines stay for them.
    pub fn take(&self, tag: &AppTag) -> Vec<NewLine> {
        let apps = lock(&self.apps).clone();
        let sole = apps.len() == 1 && apps.contains(&tag.0);
        let mut pending = lock(&self.pending);
        let mut mine = Vec::new();
        let mut others = VecDeque::new();
        for (app, line) in pending.drain(..) {
            match app {
                Some(a) if a == tag.0 => mine.push(line),
                None if sole => mine.push(line),
                Some(a) if apps.contains(&a) => others.push_back((Some(a), line)),
                _ => {}
            }
        }
        *pending = others;
        mine
    }
}

/// The span of work about one store done by the app tagged `app` outside a request (a job, a
/// sweep): its lines go to that store's log.
pub fn store_span(app: &AppTag, store: &StoreHash) -> tracing::Span {
    tracing::info_span!("store", app = app.get(), store_hash = store.as_str())
}

/// What a span says of the store and app its events are about.
#[derive(Default)]
struct SpanFacts {
    store: Option<StoreHash>,
    app: Option<u64>,
}

impl Visit for SpanFacts {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "store_hash" {
            self.store = StoreHash::parse(value).ok().or(self.store.take());
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "app" {
            self.app = Some(value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "store_hash" {
            let text = format!("{value:?}");
            self.store = StoreHash::parse(text.trim_matches('"'))
                .ok()
                .or(self.store.take());
        }
    }
}

/// An event as one line: its message, then its other fields as `name=value`.
#[derive(Default)]
struct EventText {
    facts: SpanFacts,
    message: String,
    fields: String,
}

impl Visit for EventText {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "store_hash" => self.facts.record_str(field, value),
            name => {
                use std::fmt::Write;
                let _ = write!(self.fields, " {name}={value}");
            }
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "store_hash" => self.facts.record_debug(field, value),
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }
}

/// `text` on one line: a message carrying a line break (an error text quoted) would read as
/// two lines in the downloaded file, the second one made up.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The layer that copies each store's lines (INFO and above) into [`STORE_LINES`].
pub struct StoreLayer;

impl<S> Layer<S> for StoreLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut facts = SpanFacts::default();
        attrs.record(&mut facts);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(facts);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(facts) = span.extensions_mut().get_mut::<SpanFacts>()
        {
            values.record(facts);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // The app's own lines only: its dependencies' (warp's per-request lines, hyper's) are
        // the operator's, and the access line is one per request.
        let meta = event.metadata();
        let ours = meta.target() == "sequra_bc" || meta.target().starts_with("sequra_bc::");
        if !ours || meta.target() == ACCESS {
            return;
        }
        let level = match *meta.level() {
            Level::ERROR => LineLevel::Error,
            Level::WARN => LineLevel::Warn,
            Level::INFO => LineLevel::Info,
            _ => return,
        };
        let mut text = EventText::default();
        event.record(&mut text);
        let mut store = text.facts.store.take();
        let mut app = None;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                if let Some(facts) = span.extensions().get::<SpanFacts>() {
                    store = store.or_else(|| facts.store.clone());
                    app = app.or(facts.app);
                }
            }
        }
        let Some(store) = store else {
            return;
        };
        let mut message = one_line(&text.message);
        message.push_str(&one_line(&text.fields));
        if message.len() > MESSAGE_MAX {
            let mut cut = MESSAGE_MAX;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        STORE_LINES.push(
            app,
            NewLine {
                store,
                at: crate::db::now(),
                level,
                message,
            },
        );
    }
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

/// A summary is about every store's requests together, not the one whose request happened
/// to write it: a line of no span (`parent: None`), so never a store's (see [`StoreLayer`]).
fn emit(level: tracing::Level, kind: &'static str, count: u64, over_secs: Option<u64>) {
    macro_rules! at {
        ($lvl:ident) => {
            match over_secs {
                None => tracing::$lvl!(
                    parent: None,
                    kind,
                    "{kind} (more in the next minute are counted, not logged)"
                ),
                Some(secs) => {
                    tracing::$lvl!(
                        parent: None,
                        kind,
                        count,
                        "{kind}: {count} more in the last {secs} s"
                    )
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

    /// A line about a store is one line, whatever its message carries.
    #[test]
    fn a_stores_line_is_one_line_and_goes_to_its_app() {
        use tracing_subscriber::layer::SubscriberExt;
        let tag = STORE_LINES.register();
        let subscriber = tracing_subscriber::registry().with(StoreLayer);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("x", app = tag.get(), store_hash = "lines1");
            let _in = span.enter();
            tracing::warn!(reason = "bad\nFAKE LINE", "refused\r\nINFO  forged");
            tracing::debug!("not kept");
        });
        let lines = STORE_LINES.take(&tag);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].store.as_str(), "lines1");
        assert_eq!(lines[0].level, LineLevel::Warn);
        assert_eq!(
            lines[0].message,
            "refused\\r\\nINFO  forged reason=bad\\nFAKE LINE"
        );
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
