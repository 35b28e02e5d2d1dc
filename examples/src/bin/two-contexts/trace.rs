//! One trace across the two services: `tracing` spans go through `tracing-opentelemetry` to
//! an in-memory OpenTelemetry exporter (a real program installs an OTLP exporter the same
//! way), and the example prints the spans of the order's trace as a tree. Ordering's event
//! carries the span it was committed in as its `traceparent`, through the store, the relay's
//! headers and shipping's inbox, so shipping's handler is part of the same trace.

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry::Value;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The spans both services ended, kept in memory.
pub(crate) struct Traces {
    exporter: InMemorySpanExporter,
    _provider: SdkTracerProvider,
}

/// Installs the global subscriber: every span to the in-memory exporter as it ends.
pub(crate) fn install() -> Result<Traces, Box<dyn std::error::Error>> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("two-contexts")))
        .try_init()?;
    Ok(Traces {
        exporter,
        _provider: provider,
    })
}

/// The trace id of `span`.
pub(crate) fn trace_id(span: &tracing::Span) -> TraceId {
    span.context().span().span_context().trace_id()
}

impl Traces {
    /// The spans of `trace` that ended.
    pub(crate) fn of(&self, trace: TraceId) -> Vec<SpanData> {
        let spans = self.exporter.get_finished_spans().unwrap_or_default();
        spans
            .into_iter()
            .filter(|span| span.span_context.trace_id() == trace)
            .collect()
    }
}

/// Whether `span` is the span of the handler `handler`.
pub(crate) fn is_handler(span: &SpanData, handler: &str) -> bool {
    span.name == "tidings.handler" && field(span, "handler").as_deref() == Some(handler)
}

fn field(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| match &kv.value {
            Value::String(text) => text.as_str().to_owned(),
            other => other.to_string(),
        })
}

/// The spans as a tree under their one root, or why they are not one tree.
pub(crate) fn tree(spans: &[SpanData]) -> Result<String, String> {
    let in_trace = |id: SpanId| spans.iter().any(|s| s.span_context.span_id() == id);
    let roots: Vec<&SpanData> = spans
        .iter()
        .filter(|s| !in_trace(s.parent_span_id))
        .collect();
    let [root] = roots[..] else {
        return Err(format!(
            "{} spans of the trace have no parent in it: {:?}",
            roots.len(),
            roots.iter().map(|s| &s.name).collect::<Vec<_>>()
        ));
    };
    let mut out = String::new();
    line(root, 0, &mut out);
    walk(spans, root.span_context.span_id(), 1, &mut out);
    Ok(out)
}

fn walk(spans: &[SpanData], parent: SpanId, depth: usize, out: &mut String) {
    let mut children: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.parent_span_id == parent)
        .collect();
    children.sort_by_key(|s| s.start_time);
    for span in children {
        line(span, depth, out);
        walk(spans, span.span_context.span_id(), depth + 1, out);
    }
}

fn line(span: &SpanData, depth: usize, out: &mut String) {
    let label = ["order", "event", "handler"]
        .iter()
        .find_map(|key| field(span, key).map(|value| format!(" {key}={value}")))
        .unwrap_or_default();
    let remote = if span.parent_span_is_remote {
        "   <- its parent's context arrived with the message"
    } else {
        ""
    };
    out.push_str(&format!(
        "{}{}{label}{remote}\n",
        "  ".repeat(depth),
        span.name
    ));
}
