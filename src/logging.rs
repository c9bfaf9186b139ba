//! Logging: one JSON object per line, with the fields of every enclosing span
//! (so `nodeId`, and `peerId` inside a link) flattened into each line; or
//! human-readable text on a terminal.

use std::fmt;
use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// JSON when stdout is not a terminal, text when it is.
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Installs the global subscriber. `level` is a level (`info`) or a full
/// filter (`info,ilp_connector::link=debug`).
pub fn init(level: &str, format: LogFormat) -> Result<(), String> {
    let filter = EnvFilter::try_new(level)
        .map_err(|e| format!("LOG_LEVEL: `{level}` is not a level or filter ({e}); use error, warn, info, debug or trace"))?;
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let frames = tracing_subscriber::filter::filter_fn(allowed);
    let result = if json {
        builder
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .finish()
            .with(frames)
            .try_init()
    } else {
        builder.with_target(false).finish().with(frames).try_init()
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))
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
        let line = serde_json::to_string(&Value::Object(map)).map_err(|_| fmt::Error)?;
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
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}
