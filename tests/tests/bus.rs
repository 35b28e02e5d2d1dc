//! Publishing events: dependencies, failures, panics, follow-ups, ordering, tracing.

use std::sync::{Arc, Mutex};
use tidings::testing::Recorder;
use tidings::{
    assert_published, handler, Bus, BusBuilder, Context, DomainEvent, Envelope, FailureReason,
};

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "test.order_placed")]
struct OrderPlaced {
    id: u64,
    fail: bool,
    panic: bool,
}

#[derive(DomainEvent, Debug)]
#[event(name = "test.stock_reserved")]
struct StockReserved {
    id: u64,
}

#[derive(DomainEvent, Debug)]
#[event(name = "test.shipped")]
struct Shipped {
    id: u64,
}

#[derive(DomainEvent, Debug)]
#[event(name = "test.looping")]
struct Looping {
    n: u32,
}

#[derive(DomainEvent, Debug)]
#[event(name = "test.mixed")]
struct Mixed {
    id: u64,
}

#[derive(DomainEvent, Debug)]
#[event(name = "test.fanout")]
struct Fanout;

#[derive(DomainEvent, Debug)]
#[event(name = "test.left")]
struct Left;

#[derive(DomainEvent, Debug)]
#[event(name = "test.right")]
struct Right;

#[derive(DomainEvent, Debug)]
#[event(name = "test.left_child")]
struct LeftChild;

#[derive(Default)]
struct Journal(Mutex<Vec<String>>);

impl Journal {
    fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

trait Clock: Send + Sync {
    fn now(&self) -> u64;
}

struct FixedClock(u64);

impl Clock for FixedClock {
    fn now(&self) -> u64 {
        self.0
    }
}

#[derive(Debug, thiserror::Error)]
#[error("no stock for order {0}")]
struct NoStock(u64);

#[handler]
fn reserve_stock(event: &OrderPlaced, journal: &Journal, ctx: &Context) -> Result<(), NoStock> {
    journal.push(format!("reserve {}", event.id));
    if event.fail {
        return Err(NoStock(event.id));
    }
    ctx.publish(StockReserved { id: event.id });
    Ok(())
}

#[handler(name = "test.audit")]
fn audit(event: &Envelope<OrderPlaced>, journal: &Journal, clock: &dyn Clock) {
    journal.push(format!("audit {} at {}", event.id, clock.now()));
    if event.panic {
        panic!("audit exploded on {}", event.id);
    }
}

#[handler]
fn ship(event: &StockReserved, ctx: &Context) {
    ctx.publish(Shipped { id: event.id });
}

#[handler]
fn delivered(event: &Shipped, journal: &Journal) -> anyhow::Result<()> {
    journal.push(format!("shipped {}", event.id));
    Ok(())
}

#[handler]
fn loop_forever(event: &Looping, ctx: &Context) {
    ctx.publish(Looping { n: event.n + 1 });
}

#[handler]
fn mixed_sync(event: &Mixed, journal: &Journal) {
    journal.push(format!("sync {}", event.id));
}

#[handler]
async fn mixed_async(
    event: &Mixed,
    journal: &Journal,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tokio::task::yield_now().await;
    journal.push(format!("async {}", event.id));
    Ok(())
}

#[handler]
fn fan_left(_: &Fanout, ctx: &Context) {
    ctx.publish(Left);
}

#[handler]
fn fan_right(_: &Fanout, ctx: &Context) {
    ctx.publish(Right);
}

#[handler]
fn fan_middle(_: &Fanout) {}

#[handler]
fn left_child(_: &Left, ctx: &Context) {
    ctx.publish(LeftChild);
}

fn builder(journal: &Arc<Journal>) -> BusBuilder {
    Bus::builder()
        .provide_arc(journal.clone())
        .provide_arc::<dyn Clock>(Arc::new(FixedClock(42)))
}

fn placed(id: u64) -> OrderPlaced {
    OrderPlaced {
        id,
        fail: false,
        panic: false,
    }
}

#[test]
fn every_handler_runs_with_its_dependencies() {
    let journal = Arc::new(Journal::default());
    let bus = builder(&journal).build().unwrap();
    bus.publish_sync(placed(1)).unwrap();
    let mut lines = journal.lines();
    lines.sort();
    assert_eq!(lines, ["audit 1 at 42", "reserve 1", "shipped 1"]);
}

#[test]
fn handlers_stay_callable_as_written() {
    let journal = Journal::default();
    audit_direct(&journal);
    assert_eq!(journal.lines(), ["audit 5 at 7"]);
}

fn audit_direct(journal: &Journal) {
    let envelope = Envelope::new(placed(5));
    audit(&envelope, journal, &FixedClock(7));
}

#[test]
fn a_failing_and_a_panicking_handler_do_not_stop_the_others() {
    let journal = Arc::new(Journal::default());
    let bus = builder(&journal).build().unwrap();
    let error = bus
        .publish_sync(OrderPlaced {
            id: 9,
            fail: true,
            panic: true,
        })
        .expect_err("both handlers fail");
    let mut lines = journal.lines();
    lines.sort();
    assert_eq!(
        lines,
        ["audit 9 at 42", "reserve 9"],
        "both ran; the failed one published nothing"
    );
    assert_eq!(error.failures().len(), 2);
    assert!(error.failed("bus::reserve_stock"));
    assert!(error.failed("test.audit"));
    let text = error.to_string();
    assert!(
        text.contains("handler `bus::reserve_stock` on `test.order_placed`"),
        "{text}"
    );
    assert!(text.contains("no stock for order 9"), "{text}");
    assert!(
        text.contains("handler `test.audit`") && text.contains("panicked: audit exploded on 9"),
        "{text}"
    );
    let reserve = error
        .failures()
        .iter()
        .find(|f| f.handler() == "bus::reserve_stock")
        .unwrap();
    assert_eq!(reserve.error().unwrap().to_string(), "no stock for order 9");
}

#[test]
fn follow_ups_carry_causation_and_correlation() {
    let journal = Arc::new(Journal::default());
    let recorder = Recorder::new();
    let bus = builder(&journal).record(&recorder).build().unwrap();
    bus.publish_sync(placed(3)).unwrap();
    assert_eq!(
        recorder.names(),
        ["test.order_placed", "test.stock_reserved", "test.shipped"]
    );
    let root = &recorder.of::<OrderPlaced>()[0];
    let reserved = &recorder.of::<StockReserved>()[0];
    let shipped = &recorder.of::<Shipped>()[0];
    assert_eq!(root.metadata().causation_id(), None);
    assert_eq!(root.metadata().correlation_id(), root.metadata().id());
    assert_eq!(
        reserved.metadata().causation_id(),
        Some(root.metadata().id())
    );
    assert_eq!(reserved.metadata().correlation_id(), root.metadata().id());
    assert_eq!(
        shipped.metadata().causation_id(),
        Some(reserved.metadata().id())
    );
    assert_eq!(shipped.metadata().correlation_id(), root.metadata().id());
    assert_published!(recorder, Shipped { id: 3 });
    assert_published!(recorder, StockReserved { id } if *id == 3);
    tidings::assert_not_published!(recorder, Shipped { id: 4 });
}

#[test]
fn follow_ups_run_breadth_first() {
    let journal = Arc::new(Journal::default());
    let recorder = Recorder::new();
    let bus = builder(&journal).record(&recorder).build().unwrap();
    bus.publish_sync(Fanout).unwrap();
    let names = recorder.names();
    assert_eq!(names.len(), 4);
    assert_eq!(names[0], "test.fanout");
    let mut middle = names[1..3].to_vec();
    middle.sort();
    assert_eq!(middle, ["test.left", "test.right"]);
    assert_eq!(
        names[3], "test.left_child",
        "the grandchild runs after every child"
    );
}

#[test]
fn an_event_loop_is_an_error_naming_the_chain() {
    let journal = Arc::new(Journal::default());
    let recorder = Recorder::new();
    let bus = builder(&journal)
        .record(&recorder)
        .max_depth(4)
        .build()
        .unwrap();
    let error = bus
        .publish_sync(Looping { n: 0 })
        .expect_err("the loop is cut");
    assert_eq!(recorder.len(), 5, "the root and four nested follow-ups ran");
    let [failure] = error.failures() else {
        panic!("one failure: {error}")
    };
    assert_eq!(failure.handler(), "bus::loop_forever");
    match failure.reason() {
        FailureReason::DepthExceeded { limit, chain } => {
            assert_eq!(*limit, 4);
            assert_eq!(chain.len(), 5);
            assert!(chain
                .iter()
                .all(|link| *link == ("test.looping", "bus::loop_forever")));
        }
        other => panic!("unexpected reason {other}"),
    }
    assert!(
        error
            .to_string()
            .contains("test.looping -[bus::loop_forever]-> test.looping"),
        "{error}"
    );
}

#[test]
fn an_async_handler_reached_synchronously_is_an_error_not_a_skip() {
    let journal = Arc::new(Journal::default());
    let bus = builder(&journal).build().unwrap();
    let error = bus
        .publish_sync(Mixed { id: 1 })
        .expect_err("the async handler cannot run");
    assert_eq!(journal.lines(), ["sync 1"], "the sync handler still ran");
    let [failure] = error.failures() else {
        panic!("{error}")
    };
    assert_eq!(failure.handler(), "bus::mixed_async");
    assert!(matches!(failure.reason(), FailureReason::AsyncInSyncCall));
    assert!(error.to_string().contains("publish(..).await"), "{error}");
}

#[tokio::test]
async fn async_publish_runs_sync_and_async_handlers() {
    let journal = Arc::new(Journal::default());
    let bus = builder(&journal).build().unwrap();
    let task = tokio::spawn({
        let bus = bus.clone();
        async move { bus.publish(Mixed { id: 2 }).await }
    });
    task.await.unwrap().unwrap();
    let mut lines = journal.lines();
    lines.sort();
    assert_eq!(lines, ["async 2", "sync 2"]);
}

#[test]
fn a_seed_shuffles_handler_order_reproducibly() {
    let journal = Arc::new(Journal::default());
    let order = |seed: Option<u64>| {
        let mut builder = builder(&journal);
        if let Some(seed) = seed {
            builder = builder.shuffle_handlers(seed);
        }
        builder.build().unwrap().routes().handlers_of("test.fanout")
    };
    assert_eq!(
        order(None),
        ["bus::fan_left", "bus::fan_middle", "bus::fan_right"],
        "sorted by name by default"
    );
    assert_eq!(order(Some(7)), order(Some(7)));
    let orders: std::collections::HashSet<_> = (0..20).map(|seed| order(Some(seed))).collect();
    assert!(orders.len() > 1, "twenty seeds gave one order: {orders:?}");
}

#[test]
fn handlers_can_be_left_out_or_replaced() {
    let journal = Arc::new(Journal::default());
    let replaced = Arc::new(Mutex::new(Vec::new()));
    let seen = replaced.clone();
    let bus = builder(&journal)
        .without("test.audit")
        .replace_event::<OrderPlaced, _>("bus::reserve_stock", move |event| {
            seen.lock().unwrap().push(event.id);
            Ok(())
        })
        .build()
        .unwrap();
    bus.publish_sync(placed(8)).unwrap();
    assert!(
        journal.lines().is_empty(),
        "neither the left-out nor the replaced handler ran"
    );
    assert_eq!(*replaced.lock().unwrap(), [8]);

    let error = builder(&journal)
        .without("no.such.handler")
        .build()
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`without(\"no.such.handler\")` names no registered handler"),
        "{error}"
    );
}

#[test]
fn routes_render_as_a_table_and_a_mermaid_graph() {
    let journal = Arc::new(Journal::default());
    let routes = builder(&journal).build().unwrap().routes();
    let audit = routes.message("test.order_placed").unwrap();
    assert_eq!(audit.handlers.len(), 2);
    let handler = audit
        .handlers
        .iter()
        .find(|h| h.name == "test.audit")
        .unwrap();
    assert_eq!(
        handler.dependencies,
        [("journal", "bus::Journal"), ("clock", "dyn bus::Clock")]
    );
    assert_eq!(handler.location.file(), "tests/tests/bus.rs");
    assert!(handler.takes_envelope && !handler.takes_context && !handler.is_async);
    let table = routes.to_string();
    assert!(
        table.lines().next().unwrap().starts_with("MESSAGE"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.contains("test.audit"))
        .expect("a row for the handler");
    assert!(
        row.contains("test.order_placed v1") && row.contains("journal: &bus::Journal"),
        "{row}"
    );
    assert!(table.contains("bus::mixed_async (async)"), "{table}");
    let graph = routes.mermaid();
    assert!(graph.starts_with("flowchart LR\n"), "{graph}");
    assert!(
        graph.contains("[\"test.order_placed v1\"]:::event"),
        "{graph}"
    );
    assert!(graph.contains("([\"test.audit\"])"), "{graph}");
}

#[test]
fn spans_name_the_event_and_each_handler() {
    use tracing_subscriber::fmt::format::FmtSpan;
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(FmtSpan::NEW)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let journal = Arc::new(Journal::default());
    let bus = builder(&journal).build().unwrap();
    tracing::subscriber::with_default(subscriber, || {
        let _ = bus.publish_sync(OrderPlaced {
            id: 4,
            fail: true,
            panic: false,
        });
    });
    let output = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(
        output.contains("tidings.publish") && output.contains("event=\"test.order_placed\""),
        "{output}"
    );
    assert!(
        output.contains("tidings.handler") && output.contains("handler=\"test.audit\""),
        "{output}"
    );
    let error_line = output
        .lines()
        .find(|l| l.contains("WARN"))
        .expect("the failure is logged");
    assert!(
        error_line.contains("bus::reserve_stock") && error_line.contains("no stock for order 4"),
        "{error_line}"
    );
}
