//! Tracing: a cascade shows as a span tree (a follow-up's span is a child of the handler that
//! caused it), message spans carry correlation and causation ids and no field named
//! `message`, a declared error is a WARN and a panic an ERROR.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tidings::{handler, Bus, Command, Context, DomainEvent};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[derive(Command, Debug)]
#[command(name = "spans.checkout")]
struct Checkout;

#[derive(DomainEvent, Debug)]
#[event(name = "spans.cart_checked_out")]
struct CartCheckedOut;

#[derive(Command, Debug)]
#[command(name = "spans.reserve", error = std::io::Error)]
struct Reserve;

#[handler]
fn checkout(_: Checkout, ctx: &Context) {
    ctx.publish(CartCheckedOut);
}

#[handler]
fn reserve_stock(_: &CartCheckedOut, ctx: &Context) {
    ctx.send_later(Reserve);
}

#[handler]
fn reserve(_: Reserve) -> Result<(), std::io::Error> {
    Err(std::io::Error::other("out of stock"))
}

#[derive(DomainEvent, Debug)]
#[event(name = "spans.exploded")]
struct Exploded;

#[handler]
fn explode(_: &Exploded) {
    panic!("boom")
}

#[derive(Default, Debug)]
struct Span {
    name: &'static str,
    parent: Option<u64>,
    fields: BTreeMap<String, String>,
}

#[derive(Default)]
struct Captured {
    /// In creation order.
    spans: Vec<(u64, Span)>,
    events: Vec<(Level, BTreeMap<String, String>)>,
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Captured>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let mut span = Span {
            name: attrs.metadata().name(),
            parent: ctx
                .span(id)
                .and_then(|s| s.parent())
                .map(|p| p.id().into_u64()),
            fields: BTreeMap::new(),
        };
        attrs.record(&mut Fields(&mut span.fields));
        self.0.lock().unwrap().spans.push((id.into_u64(), span));
    }

    fn on_event(&self, event: &Event<'_>, _: LayerContext<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let level = *event.metadata().level();
        self.0.lock().unwrap().events.push((level, fields));
    }
}

impl Capture {
    fn run(&self, f: impl FnOnce()) {
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::with_default(subscriber, f);
    }

    /// The span tree, one span a line, indented under its parent, with its name field.
    fn tree(&self) -> String {
        let captured = self.0.lock().unwrap();
        let mut out = String::new();
        fn walk(spans: &[(u64, Span)], parent: Option<u64>, depth: usize, out: &mut String) {
            for (id, span) in spans.iter().filter(|(_, s)| s.parent == parent) {
                let label = ["command", "event", "query", "handler"]
                    .iter()
                    .find_map(|key| span.fields.get(*key).map(|v| format!("{key}={v}")))
                    .unwrap_or_default();
                out.push_str(&format!("{}{} {label}\n", "  ".repeat(depth), span.name));
                walk(spans, Some(*id), depth + 1, out);
            }
        }
        walk(&captured.spans, None, 0, &mut out);
        out
    }

    fn spans_named(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        let captured = self.0.lock().unwrap();
        captured
            .spans
            .iter()
            .filter(|(_, s)| s.name == name)
            .map(|(_, s)| s.fields.clone())
            .collect()
    }
}

#[test]
fn a_cascade_is_a_span_tree_with_ids() {
    let bus = Bus::builder().build().unwrap();
    let capture = Capture::default();
    capture.run(|| {
        let error = bus.send_sync(Checkout).unwrap_err();
        assert!(error.to_string().contains("out of stock"), "{error}");
    });
    assert_eq!(
        capture.tree(),
        "tidings.send command=spans.checkout
  tidings.handler handler=tracing_spans::checkout
    tidings.publish event=spans.cart_checked_out
      tidings.handler handler=tracing_spans::reserve_stock
        tidings.send command=spans.reserve
          tidings.handler handler=tracing_spans::reserve
"
    );
    let sends = capture.spans_named("tidings.send");
    let publish = &capture.spans_named("tidings.publish")[0];
    let root = &sends[0];
    assert!(!root.contains_key("causation_id"), "{root:?}");
    assert_eq!(root["correlation_id"], root["id"]);
    assert_eq!(publish["correlation_id"], root["id"]);
    assert_eq!(publish["causation_id"], root["id"]);
    assert_eq!(sends[1]["correlation_id"], root["id"]);
    assert_eq!(sends[1]["causation_id"], publish["id"]);
    let captured = capture.0.lock().unwrap();
    for (_, span) in &captured.spans {
        assert!(!span.fields.contains_key("message"), "{span:?}");
    }
}

#[test]
fn a_declared_error_is_a_warning_and_a_panic_an_error() {
    let bus = Bus::builder().build().unwrap();
    let capture = Capture::default();
    capture.run(|| {
        let _ = bus.send_sync(Checkout);
        let _ = bus.publish_sync(Exploded);
    });
    let captured = capture.0.lock().unwrap();
    let failures: Vec<_> = captured
        .events
        .iter()
        .map(|(level, fields)| (*level, fields["handler"].as_str(), fields["error"].as_str()))
        .collect();
    assert_eq!(
        failures,
        [
            (Level::WARN, "tracing_spans::reserve", "out of stock"),
            (Level::ERROR, "tracing_spans::explode", "panicked: boom"),
        ]
    );
}
