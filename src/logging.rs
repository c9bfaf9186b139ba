//! Logging: one JSON object per line, with the fields of every enclosing span
//! (so `nodeId`, and `peerId` inside a link) flattened into each line; or
//! human-readable text on a terminal.
//!
//! Logging never blocks forwarding and never grows without bound:
//! - lines go to stdout through a [`Sink`]: a queue of at most
//!   [`LOG_QUEUE_BYTES`] drained by a thread of its own. When stdout
//!   stops draining (a full pipe nobody reads) new lines are dropped and
//!   counted, never waited for; once the queue has drained again, the count
//!   is logged (`event = "log_lines_dropped"`) and kept in the
//!   `ilp_log_lines_dropped_total` metric. [`init`] returns a [`LogGuard`]
//!   whose drop flushes what is queued (for at most [`LOG_FLUSH_TIMEOUT`]).
//! - every field value is escaped (control characters) and cut to
//!   [`MAX_LOG_FIELD_LEN`] bytes, every line to [`MAX_LOG_LINE_LEN`]; the
//!   strings a peer chooses (usernames, addresses, error texts) are cut
//!   shorter at the call site with [`shown`] / [`bounded`]
//!   ([`MAX_LOGGED_PEER_STRING_LEN`]).

use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::time::Duration;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Log line format (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// JSON when stdout is not a terminal, text when it is.
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Most bytes of log lines queued for stdout (about 14,000 lines of the
/// usual 300 bytes); more lines are dropped (and counted) while stdout does
/// not drain.
pub const LOG_QUEUE_BYTES: usize = 4 << 20;
/// Longest log line written, in bytes (newline included); a JSON line with
/// more is written with its fields dropped (`truncatedFields`), a text line cut.
pub const MAX_LOG_LINE_LEN: usize = 4_096;
/// Longest value of one field (or message) written, in bytes, after escaping.
pub const MAX_LOG_FIELD_LEN: usize = 512;
/// Longest string a peer chose (a username, an address, an error text from
/// the peer) quoted in a log line, in bytes, after escaping.
pub const MAX_LOGGED_PEER_STRING_LEN: usize = 128;
/// Longest error text quoted in a log line when it may hold a peer's words
/// (a BTP error message, a codec error quoting an address), in bytes.
pub const MAX_LOGGED_ERROR_LEN: usize = 256;
/// Longest wait for queued lines to be written when the process ends.
pub const LOG_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the logger could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `LOG_LEVEL` is neither a level nor a filter.
    #[error(
        "LOG_LEVEL: `{level}` is not a level or filter ({source}); use error, warn, info, debug or trace"
    )]
    Filter {
        /// The value given.
        level: String,
        /// What the filter parser found.
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global subscriber was installed already.
    #[error("cannot install the logger: {0}")]
    Install(#[source] tracing_subscriber::util::TryInitError),
}

/// Lines dropped since the process started (all sinks).
static DROPPED_TOTAL: AtomicU64 = AtomicU64::new(0);

/// Log lines dropped because stdout was not draining, since the process started.
pub fn dropped_lines_total() -> u64 {
    DROPPED_TOTAL.load(Ordering::Relaxed)
}

/// Installs the global subscriber, writing through a non-blocking [`Sink`]
/// on stdout. `level` is a level (`info`) or a filter of comma-separated
/// `target=level` directives (`info,ilp_connector::link=debug`; the longest
/// matching target decides). Keep the guard until the process ends:
/// dropping it flushes the queued lines.
pub fn init(level: &str, format: LogFormat) -> Result<LogGuard, LogError> {
    let filter = parse_filter(level)?;
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let (sink, guard) = Sink::new(std::io::stdout(), LOG_QUEUE_BYTES);
    let builder = tracing_subscriber::fmt()
        // The most verbose level the filter lets through, as the static
        // ceiling (the `log` crate's max level too): without it every
        // trace-level callsite of the WebSocket crates would be checked
        // against the filter at run time (4,100 more instructions per
        // packet in a middle node).
        .with_max_level(max_level(&filter))
        .with_writer(sink);
    let frames = tracing_subscriber::filter::filter_fn(allowed);
    let result = if json {
        builder
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .finish()
            .with(filter)
            .with(frames)
            .try_init()
    } else {
        builder
            .with_target(false)
            .fmt_fields(BoundedFields)
            .finish()
            .with(filter)
            .with(frames)
            .try_init()
    };
    result.map_err(LogError::Install)?;
    Ok(guard)
}

/// The `LOG_LEVEL` filter: a level, or `target=level` directives separated
/// by commas. A `Targets` filter, not tracing-subscriber's `EnvFilter`: the
/// same directive syntax without span and field matching, and without the
/// regex engine `EnvFilter` links in (about 0.3 MB of the binary, all of it
/// resident in every node: BENCHMARKS.md, round 5).
pub fn parse_filter(level: &str) -> Result<Targets, LogError> {
    // Empty directives are skipped, as `EnvFilter` skips them (`info,`).
    let directives: Vec<&str> = level
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    directives
        .join(",")
        .parse::<Targets>()
        .map_err(|source| LogError::Filter {
            level: level.to_string(),
            source,
        })
}

/// The most verbose level `filter` enables for any target.
fn max_level(filter: &Targets) -> LevelFilter {
    filter
        .iter()
        .map(|(_, level)| level)
        .chain(filter.default_level())
        .max()
        .unwrap_or(LevelFilter::OFF)
}

/// A string quoted in a log line: control characters escaped (`\u{1b}`),
/// cut to at most `max` bytes on a character boundary, with `...` when cut.
/// Writes as it goes: a long input is never copied whole.
#[derive(Debug, Clone, Copy)]
pub struct Bounded<T> {
    value: T,
    max: usize,
}

/// A string a peer chose, for a log field: [`Bounded`] to
/// [`MAX_LOGGED_PEER_STRING_LEN`] bytes.
pub fn shown<T: fmt::Display>(value: T) -> Bounded<T> {
    bounded(value, MAX_LOGGED_PEER_STRING_LEN)
}

/// An error that may quote a peer, for a log field: [`Bounded`] to
/// [`MAX_LOGGED_ERROR_LEN`] bytes.
pub fn error_text<T: fmt::Display>(error: T) -> Bounded<T> {
    bounded(error, MAX_LOGGED_ERROR_LEN)
}

/// Anything displayable, escaped and cut to `max` bytes (see [`Bounded`]).
pub fn bounded<T: fmt::Display>(value: T, max: usize) -> Bounded<T> {
    Bounded { value, max }
}

/// Marker written after a cut value.
const CUT: &str = "...";

impl<T: fmt::Display> fmt::Display for Bounded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        let cut = escape_into(&mut out, &self.value, self.max);
        f.write_str(&out)?;
        if cut {
            f.write_str(CUT)?;
        }
        Ok(())
    }
}

/// Writes `value` escaped into `out`, at most `max` bytes (less room for the
/// cut marker when it does not fit); true when cut. `out` never holds more
/// than `max` bytes, whatever the length of `value`.
fn escape_into(out: &mut String, value: &dyn fmt::Display, max: usize) -> bool {
    struct Cap<'a> {
        out: &'a mut String,
        limit: usize,
        max: usize,
        cut: bool,
    }
    impl fmt::Write for Cap<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            if self.cut {
                return Ok(());
            }
            for c in s.chars() {
                let start = self.out.len();
                if c.is_control() || is_bidi_control(c) {
                    // Writing to a String cannot fail.
                    let _ = write!(self.out, "\\u{{{:x}}}", c as u32);
                } else {
                    self.out.push(c);
                }
                if self.out.len() > self.max {
                    // Too long: cut back to the room left for the marker.
                    self.out.truncate(start);
                    while self.out.len() > self.limit {
                        self.out.pop();
                    }
                    self.cut = true;
                    return Ok(());
                }
            }
            Ok(())
        }
    }
    let mut cap = Cap {
        out,
        limit: max.saturating_sub(CUT.len()),
        max,
        cut: false,
    };
    use fmt::Write as _;
    // Only a Display impl that fails on its own can fail here; then what it
    // wrote is kept.
    let _ = write!(cap, "{value}");
    cap.cut
}

/// Unicode controls that reorder how text is shown (a log line could be made
/// to read differently from what it holds).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A field value as written: escaped and cut to [`MAX_LOG_FIELD_LEN`].
fn field_text(value: &dyn fmt::Display) -> String {
    let mut out = String::new();
    if escape_into(&mut out, value, MAX_LOG_FIELD_LEN) {
        out.push_str(CUT);
    }
    out
}

/// `Display` through `Debug`, for [`field_text`] of debug-recorded values.
struct AsDebug<'a>(&'a dyn fmt::Debug);

impl fmt::Display for AsDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// The text format's fields: `message k=v k=v`, every value escaped and cut
/// (tracing-subscriber's default writes them as they come).
#[derive(Debug, Clone, Copy, Default)]
pub struct BoundedFields;

impl<'w> FormatFields<'w> for BoundedFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: Writer<'w>,
        fields: R,
    ) -> fmt::Result {
        let mut v = TextVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut v);
        v.result
    }
}

struct TextVisitor<'w> {
    writer: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl TextVisitor<'_> {
    fn put(&mut self, field: &Field, text: String) {
        if self.result.is_err() {
            return;
        }
        let sep = if self.first { "" } else { " " };
        self.first = false;
        self.result = if field.name() == "message" {
            write!(self.writer, "{sep}{text}")
        } else {
            write!(self.writer, "{sep}{}={text}", field.name())
        };
    }
}

impl Visit for TextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, field_text(&value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, field_text(&AsDebug(value)));
    }
}

/// A writer for the subscriber that never blocks: each log line is queued
/// for a thread that writes it to the underlying writer; when the queue is
/// full (the writer is not draining) the line is dropped and counted, and
/// the count is logged once the queue has drained.
#[derive(Debug, Clone)]
pub struct Sink {
    shared: Arc<SinkShared>,
}

#[derive(Debug)]
struct SinkShared {
    queue: Sender<Msg>,
    /// Bytes of the lines queued and not yet written.
    queued: AtomicUsize,
    /// Most bytes queued.
    budget: usize,
    /// Dropped since the last report.
    dropped: AtomicU64,
}

enum Msg {
    Line(Vec<u8>),
    Flush(SyncSender<()>),
}

/// Flushes a [`Sink`] when dropped (for at most [`LOG_FLUSH_TIMEOUT`]).
#[must_use = "dropping the guard flushes the log; keep it until the process ends"]
#[derive(Debug)]
pub struct LogGuard {
    shared: Arc<SinkShared>,
}

impl Sink {
    /// A sink writing to `out` from a thread of its own, queueing at most
    /// `budget` bytes of lines.
    pub fn new<W: Write + Send + 'static>(out: W, budget: usize) -> (Sink, LogGuard) {
        let (queue, rx) = mpsc::channel();
        let shared = Arc::new(SinkShared {
            queue,
            queued: AtomicUsize::new(0),
            budget,
            dropped: AtomicU64::new(0),
        });
        let worker = shared.clone();
        // If the thread cannot start, lines are dropped and counted (the
        // channel is closed): logging still never blocks.
        let _ = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || drain(out, &rx, &worker));
        (
            Sink {
                shared: shared.clone(),
            },
            LogGuard { shared },
        )
    }

    /// Lines dropped since the last report of this sink.
    pub fn pending_dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl SinkShared {
    fn push(&self, line: Vec<u8>) {
        let len = line.len();
        let before = self.queued.fetch_add(len, Ordering::Relaxed);
        if before.saturating_add(len) > self.budget || self.queue.send(Msg::Line(line)).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            DROPPED_TOTAL.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The writer thread: writes each line, flushes when the queue is empty,
/// and then reports lines dropped meanwhile (through the logger, so the
/// report takes the line format and goes through the queue too).
fn drain<W: Write>(mut out: W, rx: &Receiver<Msg>, shared: &SinkShared) {
    let mut acks = Vec::new();
    let write_queued = |out: &mut W, first: Option<Msg>, acks: &mut Vec<SyncSender<()>>| {
        let mut next = first.or_else(|| rx.try_recv().ok());
        while let Some(msg) = next {
            match msg {
                // A write error (stdout closed) loses the line; nothing to tell.
                Msg::Line(line) => {
                    let _ = out.write_all(&line);
                    shared.queued.fetch_sub(line.len(), Ordering::Relaxed);
                }
                Msg::Flush(ack) => acks.push(ack),
            }
            next = rx.try_recv().ok();
        }
        let _ = out.flush();
    };
    while let Ok(msg) = rx.recv() {
        write_queued(&mut out, Some(msg), &mut acks);
        let dropped = shared.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(
                event = "log_lines_dropped",
                dropped,
                total = dropped_lines_total(),
                "log lines dropped: stdout was not draining (the node went on forwarding)"
            );
            write_queued(&mut out, None, &mut acks);
        }
        for ack in acks.drain(..) {
            let _ = ack.try_send(());
        }
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        let (ack, done) = mpsc::sync_channel(1);
        if self.shared.queue.send(Msg::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(LOG_FLUSH_TIMEOUT);
        }
    }
}

/// One log line being formatted; queued when the subscriber drops it.
#[derive(Debug)]
pub struct LineWriter {
    line: Vec<u8>,
    shared: Arc<SinkShared>,
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Past the line limit the rest is dropped (the text format; the
        // JSON format keeps its lines within the limit itself).
        let room = MAX_LOG_LINE_LEN.saturating_sub(self.line.len());
        self.line.extend_from_slice(&buf[..buf.len().min(room)]);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let mut line = std::mem::take(&mut self.line);
        if line.len() >= MAX_LOG_LINE_LEN && line.last() != Some(&b'\n') {
            // Cut: end on a character boundary and a newline.
            line.truncate(MAX_LOG_LINE_LEN - 1);
            while std::str::from_utf8(&line).is_err() {
                line.pop();
            }
            line.push(b'\n');
        }
        self.shared.push(line);
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            line: Vec::new(),
            shared: self.shared.clone(),
        }
    }
}

/// The WebSocket crates log every frame's payload at `trace` (as hex, and as
/// text when it happens to be UTF-8): BTP auth frames carry the link's secret.
/// Their targets are capped at `debug` whatever `LOG_LEVEL` asks for.
pub const FRAME_DUMPING_TARGETS: [&str; 2] = ["tungstenite", "tokio_tungstenite"];

/// Whether an event may be logged: nothing below `debug` from the
/// [`FRAME_DUMPING_TARGETS`].
pub fn allowed(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() <= tracing::Level::DEBUG
        || !FRAME_DUMPING_TARGETS.iter().any(|t| {
            meta.target()
                .strip_prefix(t)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

/// The JSON line format.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut map = Map::new();
        let meta = event.metadata();
        map.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                .into(),
        );
        map.insert("level".into(), meta.level().as_str().into());
        map.insert("target".into(), meta.target().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>() {
                    match serde_json::from_str::<Value>(&fields.fields) {
                        Ok(Value::Object(o)) => map.extend(o),
                        _ if fields.fields.is_empty() => {}
                        _ => {
                            map.insert(
                                format!("{}Fields", span.name()),
                                fields.fields.clone().into(),
                            );
                        }
                    }
                }
            }
        }
        event.record(&mut JsonVisitor(&mut map));
        let mut line = serde_json::to_string(&map).map_err(|_| fmt::Error)?;
        if line.len() >= MAX_LOG_LINE_LEN {
            // Too many long fields: keep the line's identity and say so.
            let total = map.len();
            let keep = ["timestamp", "level", "target", "event", "message"];
            map.retain(|k, _| keep.contains(&k.as_str()));
            let dropped = total - map.len();
            map.insert("truncatedFields".into(), dropped.into());
            line = serde_json::to_string(&map).map_err(|_| fmt::Error)?;
        }
        writeln!(writer, "{line}")
    }
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), field_text(&value).into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), field_text(&AsDebug(value)).into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Instant;

    /// `LOG_LEVEL` takes a level, or the README's filter form: a default
    /// level and `target=level` directives, the longest target deciding.
    #[test]
    fn log_level_is_a_level_or_target_directives() {
        use tracing::Level;
        let info = parse_filter("info").unwrap();
        assert!(info.would_enable("ilp_connector::link", &Level::INFO));
        assert!(!info.would_enable("ilp_connector::link", &Level::DEBUG));
        assert!(
            !parse_filter("warn")
                .unwrap()
                .would_enable("hyper", &Level::INFO)
        );
        assert!(
            parse_filter("TRACE")
                .unwrap()
                .would_enable("x", &Level::TRACE)
        );
        let f = parse_filter("info,ilp_connector::link=debug").unwrap();
        assert!(f.would_enable("ilp_connector::link", &Level::DEBUG));
        assert!(f.would_enable("ilp_connector::link::x", &Level::DEBUG));
        assert!(!f.would_enable("ilp_connector::forward", &Level::DEBUG));
        assert!(f.would_enable("ilp_connector::forward", &Level::INFO));
        let f = parse_filter("ilp_connector=debug,ilp_connector::link=warn").unwrap();
        assert!(!f.would_enable("ilp_connector::link", &Level::INFO));
        assert!(f.would_enable("ilp_connector::node", &Level::DEBUG));
        assert!(
            !f.would_enable("hyper", &Level::ERROR),
            "no default level: off"
        );
        assert_eq!(max_level(&parse_filter("info").unwrap()), LevelFilter::INFO);
        assert_eq!(
            max_level(&parse_filter("warn,ilp_connector::link=debug").unwrap()),
            LevelFilter::DEBUG
        );
        assert_eq!(
            max_level(&parse_filter("x=error").unwrap()),
            LevelFilter::ERROR
        );
        let f = parse_filter("info, ilp_connector::link=debug,").unwrap();
        assert!(f.would_enable("ilp_connector::link", &Level::DEBUG));
        assert!(f.would_enable("hyper", &Level::INFO));
        assert!(!f.would_enable("hyper", &Level::DEBUG));
        let e = parse_filter("info,x=loud").unwrap_err().to_string();
        assert!(
            e.starts_with("LOG_LEVEL: `info,x=loud` is not a level or filter"),
            "{e}"
        );
    }

    #[test]
    fn peer_strings_are_escaped_and_cut_on_a_character_boundary() {
        assert_eq!(shown("connector-b").to_string(), "connector-b");
        assert_eq!(shown("a\x1b[2Jb\n").to_string(), "a\\u{1b}[2Jb\\u{a}");
        assert_eq!(shown("x\u{202e}y").to_string(), "x\\u{202e}y");
        let long = "é".repeat(10_000);
        let s = shown(&long).to_string();
        assert!(s.len() <= MAX_LOGGED_PEER_STRING_LEN, "{}", s.len());
        assert!(s.ends_with(CUT));
        let controls = "\x01".repeat(10_000);
        let s = bounded(&controls, 40).to_string();
        assert!(s.len() <= 40, "{s}");
        assert!(s.starts_with("\\u{1}") && s.ends_with(CUT));
        assert_eq!(bounded("abc", 3).to_string(), "abc");
        assert_eq!(bounded("abcd", 3).to_string(), "...");
    }

    #[test]
    fn field_values_are_bounded() {
        let v = field_text(&"z".repeat(100_000));
        assert_eq!(v.len(), MAX_LOG_FIELD_LEN);
    }

    /// A writer that blocks until told to go on, and keeps what it got.
    #[derive(Clone)]
    struct Stuck {
        gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
        got: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (open, cv) = &*self.gate;
            let mut o = open.lock().unwrap();
            while !*o {
                o = cv.wait(o).unwrap();
            }
            self.got.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_writer_drops_and_counts_lines_instead_of_blocking() {
        let stuck = Stuck {
            gate: Arc::new((Mutex::new(false), std::sync::Condvar::new())),
            got: Arc::default(),
        };
        // Room for four of the lines ("line 0\n" is 7 bytes).
        let (sink, guard) = Sink::new(stuck.clone(), 32);
        let before = dropped_lines_total();
        let start = Instant::now();
        for i in 0..100 {
            let mut w = sink.make_writer();
            writeln!(w, "line {i}").unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(5), "logging waited");
        // At most the four lines the budget holds got through (the one in
        // the writer's hands still counts).
        let dropped = sink.pending_dropped();
        assert!(dropped >= 100 - 4, "dropped {dropped}");
        assert!(dropped_lines_total() - before >= dropped);
        {
            let (open, cv) = &*stuck.gate;
            *open.lock().unwrap() = true;
            cv.notify_all();
        }
        drop(guard);
        let got = String::from_utf8(stuck.got.lock().unwrap().clone()).unwrap();
        assert!(got.starts_with("line 0\n"), "{got}");
        assert_eq!(got.lines().count() as u64, 100 - dropped);
        assert_eq!(sink.pending_dropped(), 0, "the drop count was reported");
    }

    #[test]
    fn a_long_text_line_is_cut_to_the_limit_and_ends_with_a_newline() {
        let got: Arc<Mutex<Vec<u8>>> = Arc::default();
        struct Keep(Arc<Mutex<Vec<u8>>>);
        impl Write for Keep {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (sink, guard) = Sink::new(Keep(got.clone()), LOG_QUEUE_BYTES);
        {
            let mut w = sink.make_writer();
            w.write_all("ü".repeat(MAX_LOG_LINE_LEN).as_bytes())
                .unwrap();
        }
        drop(guard);
        let text = String::from_utf8(got.lock().unwrap().clone()).unwrap();
        assert!(text.len() <= MAX_LOG_LINE_LEN && text.ends_with('\n'));
        assert!(text.len() > MAX_LOG_LINE_LEN - 4);
    }
}
