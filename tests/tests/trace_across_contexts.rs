//! One trace across contexts, against a real RabbitMQ (`TIDINGS_TEST_AMQP`) and a real NATS
//! server with JetStream (`TIDINGS_TEST_NATS`; `scripts/test` starts both): a command in
//! ordering commits `OrderPaid` through a unit of work (the store is the outbox), the relay
//! publishes it, shipping's consumer delivers it through its inbox, and every span, in both
//! contexts, is one tree of one trace in an in-memory OpenTelemetry exporter, over either
//! broker. A message from another producer that carries a `traceparent` makes the
//! consuming handler's span a child of the producer's span.

use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::SpanData;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tidings::broadcast::amqp::Topology;
use tidings::broadcast::broker::{Publisher, Subscriber};
use tidings::broadcast::sqlite::SqliteInbox;
use tidings::broadcast::{amqp, nats, Activity, Consumer, Relay};
use tidings::persistence::sqlite::{SqliteStore, SqliteTransaction};
use tidings::persistence::{ExpectedVersion, StoreError, UnitOfWorkError};
use tidings::{handler, Bus, Command, Context, DomainEvent, Envelope, Pending, TraceParent};
use tidings_tests::nats::nats_url;
use tidings_tests::otel::{self, Traces};
use tidings_tests::{amqp_uri, unique, Scratch};
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(30);

/// Ordering's integration event.
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "trace_test.order_paid", integration)]
struct OrderPaid {
    order: String,
}

#[derive(Command, Debug)]
#[command(name = "trace_test.pay_order", error = UnitOfWorkError<StoreError>)]
struct PayOrder {
    order: String,
}

/// Shipping's own event, published by its handler of `OrderPaid`.
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "trace_test.shipment_booked")]
struct ShipmentBooked {
    order: String,
}

/// Ordering: the command commits `OrderPaid` in a unit of work, so the event waits in the
/// store (the outbox) for the relay.
#[handler(name = "ordering.pay_order")]
fn pay_order(
    cmd: PayOrder,
    store: &SqliteStore,
    ctx: &Context,
) -> Result<(), UnitOfWorkError<StoreError>> {
    store.unit_of_work(ctx, |unit| {
        let mut pending = Pending::new();
        pending.record(OrderPaid {
            order: cmd.order.clone(),
        });
        unit.record(
            format!("order-{}", cmd.order),
            ExpectedVersion::NoStream,
            &mut pending,
        );
        Ok::<_, StoreError>(())
    })?;
    Ok(())
}

/// Shipping: delivered by the inbox, in its transaction; books the shipment.
#[handler(name = "shipping.ship_order")]
fn ship_order(event: &OrderPaid, tx: &SqliteTransaction, ctx: &Context) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO shipments (order_id) VALUES (?1)",
        [&event.order],
    )?;
    ctx.publish(ShipmentBooked {
        order: event.order.clone(),
    });
    Ok(())
}

/// What shipping's follow-up handler saw: each order with its event's trace context.
#[derive(Default)]
struct Booked(Mutex<Vec<(String, Option<TraceParent>)>>);

#[handler(name = "shipping.notify_buyer")]
fn notify_buyer(event: &Envelope<ShipmentBooked>, booked: &Booked) {
    let parent = event.metadata().get::<TraceParent>().cloned();
    booked.0.lock().unwrap().push((event.order.clone(), parent));
}

/// Ordering's bus: its command handler, with its store.
fn ordering(store: &Arc<SqliteStore>) -> Bus {
    Bus::builder()
        .provide_arc(store.clone())
        .without("shipping.ship_order")
        .without("shipping.notify_buyer")
        .build()
        .unwrap()
}

/// Shipping: its inbox (whose database holds its shipments), its bus and its `consumer`,
/// running until the returned sender is dropped.
struct Shipping {
    booked: Arc<Booked>,
    _stop: oneshot::Sender<()>,
}

async fn shipping<B>(dir: &Scratch, consumer: Consumer<B>) -> Shipping
where
    B: Subscriber,
    B::Error: std::fmt::Debug,
{
    let inbox = SqliteInbox::open(dir.join("shipping.db")).unwrap();
    inbox.with_connection(|conn| {
        conn.execute_batch("CREATE TABLE shipments (order_id TEXT PRIMARY KEY)")
            .unwrap()
    });
    let booked = Arc::new(Booked::default());
    // One test binary holds both contexts' handlers: ordering's command is not shipping's.
    let bus = Bus::builder()
        .provide_arc(booked.clone())
        .replace_request::<PayOrder, _>("ordering.pay_order", |_| {
            unreachable!("shipping pays no order")
        })
        .build()
        .unwrap();
    let mut status = consumer.status();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        consumer
            .run_until(&inbox, &bus, async {
                let _ = stopped.await;
            })
            .await
            .expect("the consumer stopped on an error");
    });
    let running = status.wait_for(|status| {
        assert_ne!(status.activity, Activity::Failed, "{:?}", status.last_error);
        status.activity == Activity::Running
    });
    tokio::time::timeout(WAIT, running)
        .await
        .expect("the consumer runs within 30 s")
        .unwrap();
    Shipping {
        booked,
        _stop: stop,
    }
}

/// The one span of `spans` that satisfies `found`, naming the spans when there is not one.
fn one<'s>(spans: &'s [SpanData], what: &str, found: impl Fn(&SpanData) -> bool) -> &'s SpanData {
    let matching: Vec<&SpanData> = spans.iter().filter(|s| found(s)).collect();
    assert_eq!(
        matching.len(),
        1,
        "one {what} among the trace's spans:\n{}",
        otel::tree(spans)
    );
    matching[0]
}

fn handler_span(name: &str) -> impl Fn(&SpanData) -> bool + '_ {
    move |span| otel::is(span, "tidings.handler", "handler", name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_relayed_to_another_context_is_one_trace_of_one_tree() {
    // One broker after the other: each run finds the command's span of a trace not seen yet.
    let uri = amqp_uri();
    let exchange = unique("trace-ordering");
    let topology = Topology::new(&exchange, unique("trace-shipping")).binding("trace_test.*");
    let over_rabbitmq = one_trace(
        Scratch::new("trace-across"),
        amqp::Consumer::new(&uri, topology),
        |store| amqp::Relay::new(store, &uri, &exchange),
        None,
    )
    .await;

    let url = nats_url();
    let stream = unique("trace-ordering").replace('.', "-");
    one_trace(
        Scratch::new("trace-across-nats"),
        nats::Consumer::new(&url, &stream, "trace-shipping").filter("trace_test.*"),
        |store| nats::Relay::new(store, &url, &stream),
        Some(over_rabbitmq),
    )
    .await;
}

/// Ordering's command, relayed by `relay` to shipping's `consumer`: every span is one tree of
/// one trace, which it returns; `seen`, a trace an earlier run made.
async fn one_trace<B, P>(
    dir: Scratch,
    consumer: Consumer<B>,
    relay: impl FnOnce(Arc<SqliteStore>) -> Relay<SqliteStore, P>,
    seen: Option<TraceId>,
) -> TraceId
where
    B: Subscriber,
    B::Error: std::fmt::Debug,
    P: Publisher,
    P::Error: std::fmt::Debug,
{
    let traces: &Traces = otel::install();
    let shipping = shipping(&dir, consumer).await;

    // Ordering: the command, its unit of work, then the relay (another task, no span).
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    let order = unique("order");
    ordering(&store)
        .send(PayOrder {
            order: order.clone(),
        })
        .await
        .unwrap();
    let relay = relay(store.clone());
    tokio::spawn(async move { relay.publish_pending().await.unwrap() })
        .await
        .unwrap();

    // The command's span, and the trace it started.
    let sent = traces
        .until(WAIT, |s| {
            otel::is(s, "tidings.send", "command", "trace_test.pay_order")
                && Some(s.span_context.trace_id()) != seen
        })
        .await;
    let trace: TraceId = sent.span_context.trace_id();
    // Shipping's last handler, once it has run: by then every span of the trace has ended.
    traces
        .until(WAIT, |s| {
            s.span_context.trace_id() == trace && handler_span("shipping.notify_buyer")(s)
        })
        .await;
    let spans = traces.trace(trace);
    let tree = otel::tree(&spans);
    eprintln!("{tree}");

    // One tree: one root (the command's span), every other span's parent in the trace.
    let roots: Vec<&SpanData> = spans
        .iter()
        .filter(|s| {
            !spans
                .iter()
                .any(|p| p.span_context.span_id() == s.parent_span_id)
        })
        .collect();
    assert_eq!(roots.len(), 1, "one root:\n{tree}");
    assert_eq!(roots[0].span_context.span_id(), sent.span_context.span_id());
    assert_eq!(roots[0].parent_span_id, SpanId::INVALID, "{tree}");

    // The span that committed the event in ordering is an ancestor of shipping's handler.
    let committed = one(
        &spans,
        "ordering's handler",
        handler_span("ordering.pay_order"),
    );
    let shipped = one(
        &spans,
        "shipping's handler",
        handler_span("shipping.ship_order"),
    );
    let chain = otel::ancestors(&spans, shipped);
    let names: Vec<String> = chain.iter().map(|s| otel::describe(s)).collect();
    assert!(
        chain
            .iter()
            .any(|s| s.span_context.span_id() == committed.span_context.span_id()),
        "shipping's handler descends from the span that committed the event: {names:#?}\n{tree}"
    );
    // Its dispatch in shipping is the committing span's child, across the broker.
    let delivered = chain[0];
    assert_eq!(delivered.name, "tidings.publish", "{tree}");
    assert_eq!(
        delivered.parent_span_id,
        committed.span_context.span_id(),
        "{tree}"
    );
    assert!(delivered.parent_span_is_remote, "{tree}");

    // The follow-up in shipping continues the trace, from the handler that published it.
    let notified = one(
        &spans,
        "shipping's follow-up handler",
        handler_span("shipping.notify_buyer"),
    );
    assert!(
        otel::ancestors(&spans, notified)
            .iter()
            .any(|s| s.span_context.span_id() == shipped.span_context.span_id()),
        "{tree}"
    );
    let booked = shipping.booked.0.lock().unwrap().clone();
    let parent = booked
        .iter()
        .find(|(o, _)| *o == order)
        .and_then(|(_, parent)| parent.clone())
        .expect("the follow-up carries a traceparent");
    assert_eq!(parent.trace_id(), format!("{trace}"));
    assert_eq!(
        parent.parent_id(),
        format!("{}", shipped.span_context.span_id())
    );

    // What ordering stored (and relayed) carries the committing span's context.
    let stored = store.read_all_sync(0, 10).unwrap();
    let stored = stored[0].metadata().get::<TraceParent>().unwrap();
    assert_eq!(stored.trace_id(), format!("{trace}"));
    assert_eq!(
        stored.parent_id(),
        format!("{}", committed.span_context.span_id())
    );
    trace
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_from_another_producer_makes_the_handler_span_its_child() {
    let traces: &Traces = otel::install();
    let uri = amqp_uri();
    let dir = Scratch::new("trace-foreign");
    let topology =
        Topology::new(unique("trace-other"), unique("trace-shipping")).binding("trace_test.*");
    let _shipping = shipping(&dir, amqp::Consumer::new(&uri, topology.clone())).await;

    // Binary mode as another producer writes it: the trace context among the attributes.
    let trace = TraceId::from(fastrand::u128(1..));
    let span = SpanId::from(fastrand::u64(1..));
    let traceparent = format!("00-{trace}-{span}-01");
    let mut headers = FieldTable::default();
    for (attribute, value) in [
        ("specversion", "1.0"),
        ("id", "m-1"),
        ("source", "/billing-service"),
        ("type", "trace_test.order_paid"),
        ("traceparent", traceparent.as_str()),
        ("tracestate", "billing=7"),
    ] {
        headers.insert(
            format!("cloudEvents:{attribute}").into(),
            AMQPValue::LongString(value.into()),
        );
    }
    let connection = Connection::connect(&uri, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .basic_publish(
            topology.exchange().into(),
            "trace_test.order_paid".into(),
            BasicPublishOptions::default(),
            br#"{"order": "from-billing"}"#,
            BasicProperties::default()
                .with_content_type("application/json".into())
                .with_headers(headers),
        )
        .await
        .unwrap()
        .await
        .unwrap();

    let handled = traces
        .until(WAIT, |s| {
            s.span_context.trace_id() == trace && handler_span("shipping.ship_order")(s)
        })
        .await;
    traces
        .until(WAIT, |s| {
            s.span_context.trace_id() == trace && handler_span("shipping.notify_buyer")(s)
        })
        .await;
    let spans = traces.trace(trace);
    let tree = otel::tree(&spans);
    let chain = otel::ancestors(&spans, &handled);
    assert_eq!(
        chain.len(),
        1,
        "the handler's parent is its dispatch:\n{tree}"
    );
    let dispatch = chain[0];
    assert_eq!(dispatch.name, "tidings.publish", "{tree}");
    assert_eq!(
        dispatch.parent_span_id, span,
        "the producer's span:\n{tree}"
    );
    assert!(dispatch.parent_span_is_remote, "{tree}");
    // The producer's tracestate goes on with the trace.
    assert_eq!(
        handled.span_context.trace_state().header(),
        "billing=7",
        "{tree}"
    );
}
