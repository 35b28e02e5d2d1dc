//! The W3C trace context with the `opentelemetry` feature, in one process, through an
//! in-memory OpenTelemetry exporter: a message stamped in a span carries that span's
//! context, a follow-up the context of the handler that made it; an event from another
//! producer makes its dispatch a child of the producer's span; and a trace context survives
//! the event store and the HTTP feed, so a reader of the feed continues the trace.
//! A scheduled command, sent later by a scheduler, joins the trace that scheduled it.
//! `trace_across_contexts.rs` runs the same through RabbitMQ and an inbox.

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use opentelemetry_sdk::trace::SpanData;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tidings::broadcast::http::Feed;
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::{EventStore, ExpectedVersion, StoreError};
use tidings::{
    handler, AnyEnvelope, Bus, Command, Context, DomainEvent, Envelope, Pending, TraceParent,
    TraceState,
};
use tidings_tests::otel::{self, Traces};
use tidings_tests::{unique, Scratch};
use tracing_opentelemetry::OpenTelemetrySpanExt;

const WAIT: Duration = Duration::from_secs(10);

#[derive(Command, Debug)]
#[command(name = "trace_ctx.send_parcel")]
struct SendParcel {
    parcel: String,
}

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "trace_ctx.parcel_sent", integration)]
struct ParcelSent {
    parcel: String,
}

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "trace_ctx.parcel_tracked")]
struct ParcelTracked {
    parcel: String,
}

/// What a handler saw: its name, the parcel, and the trace context its message carried.
type Sighting = (
    &'static str,
    String,
    Option<TraceParent>,
    Option<TraceState>,
);

#[derive(Default)]
struct Seen(Mutex<Vec<Sighting>>);

impl Seen {
    fn note(&self, parcel: &str, ctx: &Context) {
        let sighting = (
            ctx.handler_name(),
            parcel.to_owned(),
            ctx.get::<TraceParent>().cloned(),
            ctx.get::<TraceState>().cloned(),
        );
        self.0.lock().unwrap().push(sighting);
    }

    /// The trace context handler `handler` saw for `parcel`.
    fn of(&self, handler: &str, parcel: &str) -> (Option<TraceParent>, Option<TraceState>) {
        let seen = self.0.lock().unwrap();
        let (.., parent, state) = seen
            .iter()
            .find(|(h, p, ..)| *h == handler && p == parcel)
            .unwrap_or_else(|| panic!("{handler} ran for {parcel}"));
        (parent.clone(), state.clone())
    }
}

#[handler(name = "trace_ctx.send_parcel")]
fn send_parcel(cmd: SendParcel, seen: &Seen, ctx: &Context) {
    seen.note(&cmd.parcel, ctx);
    ctx.publish(ParcelSent { parcel: cmd.parcel });
}

#[handler(name = "trace_ctx.track")]
fn track(event: &ParcelSent, seen: &Seen, ctx: &Context) {
    seen.note(&event.parcel, ctx);
    ctx.publish(ParcelTracked {
        parcel: event.parcel.clone(),
    });
}

#[handler(name = "trace_ctx.log")]
fn log(event: &ParcelTracked, seen: &Seen, ctx: &Context) {
    seen.note(&event.parcel, ctx);
}

fn bus() -> (Bus, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let bus = Bus::builder().provide_arc(seen.clone()).build().unwrap();
    (bus, seen)
}

/// The ids of the span `span` as the OpenTelemetry layer made it.
fn ids(span: &tracing::Span) -> (TraceId, SpanId) {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    (span_context.trace_id(), span_context.span_id())
}

/// The handler span of `handler` in `spans`.
fn handler_span<'s>(spans: &'s [SpanData], handler: &str) -> &'s SpanData {
    spans
        .iter()
        .find(|s| otel::is(s, "tidings.handler", "handler", handler))
        .unwrap_or_else(|| panic!("no span of {handler} in\n{}", otel::tree(spans)))
}

fn assert_carries(parent: &Option<TraceParent>, trace: TraceId, span: SpanId, what: &str) {
    let parent = parent
        .as_ref()
        .unwrap_or_else(|| panic!("{what} carries a traceparent"));
    assert_eq!(parent.trace_id(), trace.to_string(), "{what}: {parent}");
    assert_eq!(parent.parent_id(), span.to_string(), "{what}: {parent}");
    assert!(parent.sampled(), "{what}: {parent}");
}

#[tokio::test]
async fn messages_carry_the_span_they_were_made_in_and_the_cascade_is_one_tree() {
    let traces: &Traces = otel::install();
    let (bus, seen) = bus();
    let parcel = unique("parcel");
    let request = tracing::info_span!("request");
    let (trace, request_id) = ids(&request);
    request.in_scope(|| {
        bus.send_sync(SendParcel {
            parcel: parcel.clone(),
        })
        .unwrap()
    });
    drop(request);
    traces
        .until(WAIT, |s| s.span_context.span_id() == request_id)
        .await;
    let spans = traces.trace(trace);
    let tree = otel::tree(&spans);
    assert_eq!(
        tree,
        "request \n\
         \x20 tidings.send command=trace_ctx.send_parcel\n\
         \x20   tidings.handler handler=trace_ctx.send_parcel\n\
         \x20     tidings.publish event=trace_ctx.parcel_sent\n\
         \x20       tidings.handler handler=trace_ctx.track\n\
         \x20         tidings.publish event=trace_ctx.parcel_tracked\n\
         \x20           tidings.handler handler=trace_ctx.log\n"
    );
    assert!(spans.iter().all(|s| !s.parent_span_is_remote), "{tree}");

    // The command was sent in the request's span; each event was published by a handler.
    let (parent, state) = seen.of("trace_ctx.send_parcel", &parcel);
    assert_carries(&parent, trace, request_id, "the command");
    assert_eq!(state, None, "the request's span has no tracestate");
    let sender = handler_span(&spans, "trace_ctx.send_parcel")
        .span_context
        .span_id();
    assert_carries(
        &seen.of("trace_ctx.track", &parcel).0,
        trace,
        sender,
        "ParcelSent",
    );
    let tracker = handler_span(&spans, "trace_ctx.track")
        .span_context
        .span_id();
    assert_carries(
        &seen.of("trace_ctx.log", &parcel).0,
        trace,
        tracker,
        "ParcelTracked",
    );
}

#[tokio::test]
async fn an_event_from_another_producer_makes_its_dispatch_a_child_of_the_producer_s_span() {
    let traces: &Traces = otel::install();
    let (bus, seen) = bus();
    let parcel = unique("parcel");
    let trace = TraceId::from(fastrand::u128(1..));
    let producer = SpanId::from(fastrand::u64(1..));
    let traceparent = format!("00-{trace}-{producer}-01");
    let json = serde_json::json!({
        "specversion": "1.0",
        "id": "parcel-42",
        "source": "/carrier-service",
        "type": "trace_ctx.parcel_sent",
        "traceparent": traceparent,
        "tracestate": "carrier=5",
        "data": {"parcel": parcel},
    });
    let envelope = AnyEnvelope::from_value(json).unwrap();
    bus.publish_any_sync(envelope).unwrap();

    traces
        .until(WAIT, |s| {
            s.span_context.trace_id() == trace
                && otel::is(s, "tidings.handler", "handler", "trace_ctx.log")
        })
        .await;
    let spans = traces.trace(trace);
    let tree = otel::tree(&spans);
    let dispatch = spans
        .iter()
        .find(|s| otel::is(s, "tidings.publish", "event", "trace_ctx.parcel_sent"))
        .unwrap_or_else(|| panic!("the dispatch's span:\n{tree}"));
    assert_eq!(dispatch.parent_span_id, producer, "{tree}");
    assert!(dispatch.parent_span_is_remote, "{tree}");
    let tracker = handler_span(&spans, "trace_ctx.track");
    assert_eq!(
        tracker.parent_span_id,
        dispatch.span_context.span_id(),
        "{tree}"
    );

    // The handler sees the producer's context; its follow-up carries its own span's, with
    // the producer's tracestate.
    let (parent, state) = seen.of("trace_ctx.track", &parcel);
    assert_eq!(parent.map(|p| p.to_string()), Some(traceparent));
    assert_eq!(state.map(|s| s.to_string()).as_deref(), Some("carrier=5"));
    let (parent, state) = seen.of("trace_ctx.log", &parcel);
    assert_carries(
        &parent,
        trace,
        tracker.span_context.span_id(),
        "ParcelTracked",
    );
    assert_eq!(state.map(|s| s.to_string()).as_deref(), Some("carrier=5"));
}

#[tokio::test]
async fn a_trace_context_survives_the_store_and_the_feed() {
    let traces: &Traces = otel::install();
    let (bus, seen) = bus();
    let dir = Scratch::new("trace-feed");
    let store = Arc::new(SqliteStore::open(dir.join("events.db")).unwrap());
    let (mine, theirs) = (unique("parcel"), unique("parcel"));

    // Recorded outside any span: the commit gives it the span it commits in. Recorded with
    // a context of its own (another producer's): kept as it is.
    let mut pending = Pending::new();
    pending.record(ParcelSent {
        parcel: mine.clone(),
    });
    let foreign = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let mut json = Envelope::new(ParcelSent {
        parcel: theirs.clone(),
    })
    .to_json()
    .unwrap();
    json["traceparent"] = foreign.into();
    json["tracestate"] = "carrier=5".into();
    let received = AnyEnvelope::from_value(json).unwrap();
    let checkout = tracing::info_span!("checkout");
    let (trace, checkout_id) = ids(&checkout);
    checkout.in_scope(|| {
        store
            .unit_of_work(&bus, |unit| {
                pending.record_envelope(received.downcast::<ParcelSent>().unwrap());
                unit.record("parcels", ExpectedVersion::NoStream, &mut pending);
                Ok::<_, StoreError>(())
            })
            .unwrap()
    });
    drop(checkout);

    // The store's round trip.
    let stored = store.read_all_sync(0, 10).unwrap();
    assert_eq!(stored.len(), 2);
    assert_carries(
        &stored[0].metadata().get::<TraceParent>().cloned(),
        trace,
        checkout_id,
        "the event recorded outside any span",
    );
    assert_eq!(
        stored[1]
            .metadata()
            .get::<TraceParent>()
            .map(TraceParent::as_str),
        Some(foreign)
    );
    assert_eq!(
        stored[1]
            .metadata()
            .get::<TraceState>()
            .map(TraceState::as_str),
        Some("carrier=5")
    );

    // The feed, on a real socket.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = Feed::new(store.clone()).router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let page: serde_json::Value = reqwest::get(format!("http://{address}/events"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = page["events"].as_array().unwrap();
    let own = format!("00-{trace}-{checkout_id}-01");
    assert_eq!(events[0]["traceparent"], own.as_str(), "{page}");
    assert!(events[0].get("tracestate").is_none(), "{page}");
    assert_eq!(events[1]["traceparent"], foreign, "{page}");
    assert_eq!(events[1]["tracestate"], "carrier=5", "{page}");

    // A reader of the feed continues the trace: its dispatch is a child of the span that
    // committed the event.
    let read = AnyEnvelope::from_value(events[0].clone()).unwrap();
    bus.publish_any_sync(read).unwrap();
    let tracked = traces
        .until(WAIT, |s| {
            s.span_context.trace_id() == trace
                && otel::is(s, "tidings.handler", "handler", "trace_ctx.log")
        })
        .await;
    let spans = traces.trace(trace);
    let chain = otel::ancestors(&spans, &tracked);
    let tree = otel::tree(&spans);
    let root = chain.last().unwrap_or_else(|| panic!("{tree}"));
    assert_eq!(root.span_context.span_id(), checkout_id, "{tree}");
    assert_eq!(
        seen.of("trace_ctx.track", &mine).0.map(|p| p.to_string()),
        Some(own)
    );
}

#[tokio::test]
async fn an_async_unit_of_work_on_sqlite_commits_in_the_caller_s_span() {
    use tracing::Instrument;

    otel::install();
    let (bus, _) = bus();
    let dir = Scratch::new("trace-async");
    let store = SqliteStore::open(dir.join("events.db")).unwrap();
    let checkout = tracing::info_span!("checkout");
    let (trace, checkout_id) = ids(&checkout);
    let parcel = unique("parcel");
    // The unit of work runs on the store's own thread.
    store
        .unit_of_work_async(&bus, move |unit| {
            let mut pending = Pending::new();
            pending.record(ParcelSent { parcel });
            unit.record("parcels", ExpectedVersion::NoStream, &mut pending);
            Ok::<_, StoreError>(())
        })
        .instrument(checkout)
        .await
        .unwrap();
    let stored = store.read_all(0, 10).await.unwrap();
    assert_carries(
        &stored[0].metadata().get::<TraceParent>().cloned(),
        trace,
        checkout_id,
        "the event committed on the store's thread",
    );
}

/// A command scheduled inside a span is sent later by a scheduler working in a span of its
/// own: the command's dispatch joins the trace that scheduled it, whose context the command
/// carried through its row, as an event an inbox delivers joins its producer's.
#[tokio::test]
async fn a_scheduled_command_is_sent_in_the_trace_that_scheduled_it() {
    use tracing::Instrument;

    let traces: &Traces = otel::install();
    let (bus, seen) = bus();
    let dir = Scratch::new("trace-scheduled");
    let store = SqliteStore::open(dir.join("app.db")).unwrap();
    let inbox = tidings::broadcast::sqlite::SqliteInbox::open(dir.join("app.db")).unwrap();
    let parcel = unique("parcel");
    let checkout = tracing::info_span!("checkout");
    let (trace, checkout_id) = ids(&checkout);
    checkout
        .in_scope(|| {
            store.unit_of_work(&bus, |unit| {
                unit.transaction().send_after(
                    Duration::from_secs(60),
                    SendParcel {
                        parcel: parcel.clone(),
                    },
                )
            })
        })
        .unwrap();
    drop(checkout);

    let scheduler = tracing::info_span!("scheduler");
    let (scheduler_trace, _) = ids(&scheduler);
    let later = chrono::Utc::now() + chrono::Duration::minutes(2);
    let done = inbox
        .deliver_due(&bus, later)
        .instrument(scheduler)
        .await
        .unwrap();
    assert_eq!((done.delivered, done.failed), (1, 0));

    assert_carries(
        &seen.of("trace_ctx.send_parcel", &parcel).0,
        trace,
        checkout_id,
        "the scheduled command",
    );
    let sent = traces
        .until(WAIT, |s| {
            otel::is(s, "tidings.send", "command", "trace_ctx.send_parcel")
                && s.span_context.trace_id() == trace
        })
        .await;
    assert_eq!(
        sent.parent_span_id, checkout_id,
        "the send is a child of the span that scheduled it"
    );
    assert_ne!(trace, scheduler_trace, "two traces to tell apart");
    let handled = traces
        .until(WAIT, |s| {
            otel::is(s, "tidings.handler", "handler", "trace_ctx.send_parcel")
                && s.span_context.trace_id() == trace
        })
        .await;
    assert_eq!(handled.parent_span_id, sent.span_context.span_id());
}
