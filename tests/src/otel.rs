//! The trace tests' OpenTelemetry pipeline: `tracing` spans through `tracing-opentelemetry`
//! into an in-memory exporter, installed once per test binary as the global subscriber (the
//! consumer and the relay run on the runtime's worker threads). Each test finds its own
//! spans by their trace id or their fields, so tests of one binary can run side by side.

use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry::Value;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The spans every test of the binary exported.
#[derive(Debug)]
pub struct Traces {
    exporter: InMemorySpanExporter,
    /// Kept alive: dropping the provider would shut the exporter down.
    _provider: SdkTracerProvider,
}

/// Installs the pipeline as the global subscriber, once; every span at DEBUG and above goes
/// to the in-memory exporter as it ends.
pub fn install() -> &'static Traces {
    static TRACES: OnceLock<Traces> = OnceLock::new();
    TRACES.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("tidings-tests"));
        tracing_subscriber::registry()
            .with(layer)
            .try_init()
            .expect("no other global subscriber in a trace test binary");
        Traces {
            exporter,
            _provider: provider,
        }
    })
}

impl Traces {
    /// Every span that ended so far.
    pub fn spans(&self) -> Vec<SpanData> {
        self.exporter
            .get_finished_spans()
            .expect("the in-memory exporter is running")
    }

    /// The spans that ended so far of the trace `trace`.
    pub fn trace(&self, trace: TraceId) -> Vec<SpanData> {
        self.spans()
            .into_iter()
            .filter(|span| span.span_context.trace_id() == trace)
            .collect()
    }

    /// Waits until a span satisfying `found` has ended, and returns it; panics after
    /// `within`, showing the spans that did end.
    pub async fn until(&self, within: Duration, found: impl Fn(&SpanData) -> bool) -> SpanData {
        let started = Instant::now();
        loop {
            if let Some(span) = self.spans().into_iter().find(|span| found(span)) {
                return span;
            }
            assert!(
                started.elapsed() < within,
                "no such span ended within {within:?}; the spans that did:\n{}",
                self.spans()
                    .iter()
                    .map(describe)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The text of attribute `key` of `span`, if it has one.
pub fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| match &kv.value {
            Value::String(text) => text.as_str().to_owned(),
            other => other.to_string(),
        })
}

/// Whether `span` is named `name` and its attribute `key` is `value`.
pub fn is(span: &SpanData, name: &str, key: &str, value: &str) -> bool {
    span.name == name && attribute(span, key).as_deref() == Some(value)
}

/// `span`'s ancestors among `spans`, nearest first, as far as the chain of parents goes.
pub fn ancestors<'s>(spans: &'s [SpanData], span: &SpanData) -> Vec<&'s SpanData> {
    let mut chain = Vec::new();
    let mut parent = span.parent_span_id;
    while parent != SpanId::INVALID {
        let Some(next) = spans.iter().find(|s| s.span_context.span_id() == parent) else {
            break;
        };
        chain.push(next);
        parent = next.parent_span_id;
    }
    chain
}

/// One line for `span`: its name, its label field, its trace and span ids and its parent.
pub fn describe(span: &SpanData) -> String {
    format!(
        "{} {} trace={} span={} parent={}{}",
        span.name,
        label(span),
        span.span_context.trace_id(),
        span.span_context.span_id(),
        span.parent_span_id,
        if span.parent_span_is_remote {
            " (remote)"
        } else {
            ""
        }
    )
}

/// The field that names what a tidings span is about (`command=…`, `event=…`, `handler=…`).
fn label(span: &SpanData) -> String {
    ["command", "query", "event", "handler"]
        .iter()
        .find_map(|key| attribute(span, key).map(|value| format!("{key}={value}")))
        .unwrap_or_default()
}

/// The spans as a tree, one a line, indented under their parent, each with its label: the
/// roots are the spans whose parent is not among them.
pub fn tree(spans: &[SpanData]) -> String {
    fn walk(spans: &[SpanData], parent: SpanId, depth: usize, out: &mut String) {
        let mut children: Vec<&SpanData> = spans
            .iter()
            .filter(|s| s.parent_span_id == parent)
            .collect();
        children.sort_by_key(|s| s.start_time);
        for span in children {
            out.push_str(&format!(
                "{}{} {}\n",
                "  ".repeat(depth),
                span.name,
                label(span)
            ));
            walk(spans, span.span_context.span_id(), depth + 1, out);
        }
    }
    let mut out = String::new();
    let mut roots: Vec<&SpanData> = spans
        .iter()
        .filter(|s| {
            !spans
                .iter()
                .any(|p| p.span_context.span_id() == s.parent_span_id)
        })
        .collect();
    roots.sort_by_key(|s| s.start_time);
    for root in roots {
        out.push_str(&format!("{} {}\n", root.name, label(root)));
        walk(spans, root.span_context.span_id(), 1, &mut out);
    }
    out
}
