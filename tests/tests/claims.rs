//! Claims of the README that no other test covers: shuffled run order, two versions of one
//! event (the older upcast into the newer), the `emits(..)` edges, the assertion macros failing, a replacement of the wrong type,
//! the depth limit on commands, a command with no handler in the table, and silence without a
//! tracing subscriber.

use std::sync::{Arc, Mutex};
use tidings::testing::Recorder;
use tidings::{
    assert_not_published, assert_published, handler, upcaster, AnyEnvelope, Bus, Command, Context,
    DomainEvent, Envelope, Problem, SendError,
};

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "claims.bell_rang")]
struct BellRang {
    times: u32,
}

#[derive(DomainEvent, Debug, PartialEq)]
#[event(name = "claims.price_set", version = 1)]
struct PriceSetV1 {
    cents: u32,
}

#[derive(DomainEvent, Debug, PartialEq)]
#[event(name = "claims.price_set", version = 2)]
struct PriceSet {
    cents: u64,
    currency: String,
}

#[upcaster]
fn price_set_v1(old: PriceSetV1) -> PriceSet {
    PriceSet {
        cents: old.cents.into(),
        currency: "EUR".into(),
    }
}

#[derive(DomainEvent, Debug)]
#[event(name = "claims.door_opened")]
struct DoorOpened;

#[derive(Command, Debug)]
#[command(name = "claims.dig", output = usize)]
struct Dig;

#[derive(Default)]
struct Journal(Mutex<Vec<&'static str>>);

macro_rules! ringers {
    ($($function:ident $name:literal),*) => {$(
        #[handler(name = $name)]
        fn $function(_: &BellRang, journal: &Journal) {
            journal.0.lock().unwrap().push($name);
        }
    )*};
}

ringers!(
    a "claims.ring.a", b "claims.ring.b", c "claims.ring.c", d "claims.ring.d",
    e "claims.ring.e", f "claims.ring.f", g "claims.ring.g", h "claims.ring.h"
);

#[handler(name = "claims.open_door", emits(DoorOpened))]
fn open_door(_: &PriceSet, ctx: &Context) {
    ctx.publish(DoorOpened);
}

/// Sends itself again from inside its handler, until the depth limit answers.
#[handler(name = "claims.dig")]
fn dig(_: Dig, ctx: &Context) -> usize {
    match ctx.send_sync(Dig) {
        Ok(depth) => depth + 1,
        Err(SendError::DepthExceeded { limit, chain }) => {
            assert_eq!(chain.len(), limit + 1, "the chain lists every link");
            assert!(chain
                .iter()
                .all(|link| *link == ("claims.dig", "claims.dig")));
            0
        }
        Err(other) => panic!("unexpected: {other}"),
    }
}

fn bus(journal: &Arc<Journal>) -> tidings::BusBuilder {
    Bus::builder().provide_arc(journal.clone())
}

fn run_order(seed: u64) -> (Vec<&'static str>, Vec<&'static str>) {
    let journal = Arc::new(Journal::default());
    let bus = bus(&journal).shuffle_handlers(seed).build().unwrap();
    bus.publish_sync(BellRang { times: 1 }).unwrap();
    let ran = journal.0.lock().unwrap().clone();
    (ran, bus.routes().handlers_of("claims.bell_rang"))
}

#[test]
fn a_shuffle_seed_sets_the_order_handlers_run_in() {
    let (first, listed) = run_order(7);
    assert_eq!(first, listed, "handlers run in the order routes() lists");
    assert_eq!(run_order(7).0, first, "the same seed gives the same order");
    let orders: std::collections::HashSet<_> = (0..8).map(|seed| run_order(seed).0).collect();
    assert!(
        orders.len() > 1,
        "different seeds give different orders: {orders:?}"
    );
    let mut sorted = first.clone();
    sorted.sort();
    assert_eq!(sorted.len(), 8, "each handler runs once");
}

#[test]
fn two_versions_of_one_event_are_registered_and_the_older_decodes_into_the_newer() {
    let journal = Arc::new(Journal::default());
    let bus = bus(&journal)
        .build()
        .expect("one name, two versions: no duplicate");
    let versions: Vec<u32> = bus
        .routes()
        .messages
        .iter()
        .filter(|m| m.name == "claims.price_set")
        .map(|m| m.version)
        .collect();
    assert_eq!(versions, [1, 2]);
    let old = Envelope::new(PriceSetV1 { cents: 250 })
        .to_json()
        .unwrap()
        .to_string();
    let new = Envelope::new(PriceSet {
        cents: 250,
        currency: "EUR".into(),
    })
    .to_json()
    .unwrap()
    .to_string();
    let old = AnyEnvelope::from_json(&old)
        .unwrap()
        .downcast::<PriceSet>()
        .unwrap();
    assert_eq!(
        old.payload(),
        &PriceSet {
            cents: 250,
            currency: "EUR".into()
        }
    );
    let new = AnyEnvelope::from_json(&new)
        .unwrap()
        .downcast::<PriceSet>()
        .unwrap();
    assert_eq!(new.currency, "EUR");
}

#[test]
fn the_mermaid_graph_draws_what_a_handler_emits() {
    let journal = Arc::new(Journal::default());
    let routes = bus(&journal).build().unwrap().routes();
    let graph = routes.mermaid();
    let node = |name: &str| {
        let line = graph
            .lines()
            .find(|l| l.contains(&format!("[\"{name}")))
            .unwrap_or_else(|| panic!("no node for {name}:\n{graph}"));
        line.trim()
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
    };
    let handler = node("claims.open_door");
    let door = node("claims.door_opened v1");
    assert!(
        graph.contains(&format!("{handler} -.-> {door}")),
        "an emits edge from the handler to the event:\n{graph}"
    );
    assert!(graph.contains(&format!("{} --> {handler}", node("claims.price_set v2"))));
}

#[test]
fn assert_published_passes_on_a_match() {
    let recorder = Recorder::new();
    let journal = Arc::new(Journal::default());
    let bus = bus(&journal).record(&recorder).build().unwrap();
    bus.publish_sync(BellRang { times: 3 }).unwrap();
    assert_published!(recorder, BellRang { times: 3 });
    assert_not_published!(recorder, BellRang { times: 4 });
}

#[test]
#[should_panic(expected = "no recorded `BellRang` matching `BellRang { times: 4 }`")]
fn assert_published_fails_without_a_match() {
    let recorder = Recorder::new();
    let journal = Arc::new(Journal::default());
    let bus = bus(&journal).record(&recorder).build().unwrap();
    bus.publish_sync(BellRang { times: 3 }).unwrap();
    assert_published!(recorder, BellRang { times: 4 });
}

#[test]
#[should_panic(expected = "unexpectedly recorded a `BellRang` matching `_`")]
fn assert_not_published_fails_on_a_match() {
    let recorder = Recorder::new();
    let journal = Arc::new(Journal::default());
    let bus = bus(&journal).record(&recorder).build().unwrap();
    bus.publish_sync(BellRang { times: 3 }).unwrap();
    assert_not_published!(recorder, BellRang);
}

#[test]
fn a_replacement_of_another_message_type_is_a_build_problem() {
    let journal = Arc::new(Journal::default());
    let error = bus(&journal)
        .replace_event::<DoorOpened, _>("claims.ring.a", |_| Ok(()))
        .build()
        .expect_err("the handler takes a BellRang");
    let [Problem::ReplacementMismatch {
        handler,
        expected,
        found,
        location,
    }] = error.problems()
    else {
        panic!("expected the mismatch alone: {error}")
    };
    assert_eq!(
        (*handler, *expected, *found),
        ("claims.ring.a", "claims.bell_rang", "claims.door_opened")
    );
    assert_eq!(location.file(), file!());
}

#[test]
fn commands_sent_past_the_depth_limit_fail_with_the_chain() {
    let journal = Arc::new(Journal::default());
    let bus = bus(&journal).max_depth(3).build().unwrap();
    // Depths 0 to 3 run; the send at depth 4 is refused, and each level adds one on the way out.
    assert_eq!(bus.send_sync(Dig).unwrap(), 3);
}

#[test]
fn a_command_missing_from_the_table_is_reported_when_sent() {
    // A table built from no registrations, as on a target where inventory registers nothing.
    let bus = tidings::__private::build_with(Bus::builder(), Vec::new(), Vec::new()).unwrap();
    match bus.send_sync(Dig) {
        Err(SendError::NoHandler { message }) => assert_eq!(message, "claims.dig"),
        other => panic!(
            "expected NoHandler, got {:?}",
            other.map_err(|e| e.to_string())
        ),
    }
    // Events with no route are published to nobody, without error.
    bus.publish_sync(BellRang { times: 1 }).unwrap();
}

/// Run in a child process by the test below, which reads what it wrote.
#[test]
fn silent_child() {
    if std::env::var_os("TIDINGS_SILENT_CHILD").is_none() {
        return;
    }
    let journal = Arc::new(Journal::default());
    let bus = bus(&journal)
        .replace_event::<BellRang, _>("claims.ring.a", |_| Err("refused".into()))
        .build()
        .unwrap();
    eprintln!("<<");
    let error = bus.publish_sync(BellRang { times: 1 }).unwrap_err();
    let sent = bus.send_sync(Dig);
    eprintln!(">>");
    assert!(error.failed("claims.ring.a"));
    assert!(sent.is_ok());
}

#[test]
fn without_a_subscriber_nothing_is_written() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "silent_child", "--nocapture", "--test-threads=1"])
        .env("TIDINGS_SILENT_CHILD", "1")
        .output()
        .expect("the test binary runs");
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    let between = stderr
        .split_once("<<")
        .and_then(|(_, rest)| rest.split_once(">>"))
        .map(|(between, _)| between)
        .unwrap_or_else(|| panic!("the child ran the publish: {stderr}"));
    assert_eq!(
        between.trim(),
        "",
        "a failing handler wrote output with no subscriber installed"
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(!stdout.contains("refused"), "{stdout}");
}
