//! One handler's failure or panic never stops the others, on both dispatch paths: the plain
//! loop for handlers without `&Context`, and the general path for those with one. A failed
//! handler's own follow-ups are dropped; a successful handler's run after it returns.

use std::sync::{Arc, Mutex};
use tidings::{handler, Bus, Context, DomainEvent, FailureReason, PublishError};

#[derive(DomainEvent, Debug)]
#[event(name = "isolation.fast")]
struct Fast;

#[derive(DomainEvent, Debug)]
#[event(name = "isolation.general")]
struct General;

#[derive(DomainEvent, Debug)]
#[event(name = "isolation.follow_up")]
struct FollowUp {
    from: String,
}

#[derive(Default)]
struct Journal(Mutex<Vec<String>>);

impl Journal {
    fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

// The simple path: sync handlers without a context. Two of them panic, one fails.

#[handler(name = "isolation.fast.a_panics")]
fn fast_a(_: &Fast, journal: &Journal) {
    journal.push("fast.a");
    panic!("fast.a blew up");
}

#[handler(name = "isolation.fast.b_fails")]
fn fast_b(_: &Fast, journal: &Journal) -> Result<(), std::io::Error> {
    journal.push("fast.b");
    Err(std::io::Error::other("fast.b refused"))
}

#[handler(name = "isolation.fast.c_runs")]
fn fast_c(_: &Fast, journal: &Journal) {
    journal.push("fast.c");
}

#[handler(name = "isolation.fast.d_panics")]
fn fast_d(_: &Fast, journal: &Journal) {
    journal.push("fast.d");
    panic!("fast.d blew up");
}

#[handler(name = "isolation.fast.e_runs")]
fn fast_e(_: &Fast, journal: &Journal) {
    journal.push("fast.e");
}

// The general path: each handler takes a context and publishes before it ends.

#[handler(name = "isolation.general.a_panics")]
fn general_a(_: &General, journal: &Journal, ctx: &Context) {
    ctx.publish(FollowUp {
        from: "general.a".into(),
    });
    journal.push("general.a");
    panic!("general.a blew up");
}

#[handler(name = "isolation.general.b_fails")]
fn general_b(_: &General, journal: &Journal, ctx: &Context) -> Result<(), std::io::Error> {
    ctx.publish(FollowUp {
        from: "general.b".into(),
    });
    journal.push("general.b");
    Err(std::io::Error::other("general.b refused"))
}

#[handler(name = "isolation.general.c_publishes")]
fn general_c(_: &General, journal: &Journal, ctx: &Context) {
    ctx.publish(FollowUp {
        from: "general.c".into(),
    });
    journal.push("general.c returned");
}

#[handler(name = "isolation.general.d_runs")]
fn general_d(_: &General, journal: &Journal, _: &Context) {
    journal.push("general.d");
}

#[handler(name = "isolation.follow_up")]
fn follow_up(event: &FollowUp, journal: &Journal) {
    journal.push(format!("follow-up from {}", event.from));
}

fn bus(journal: &Arc<Journal>, seed: Option<u64>) -> Bus {
    let builder = Bus::builder().provide_arc(journal.clone());
    match seed {
        Some(seed) => builder.shuffle_handlers(seed),
        None => builder,
    }
    .build()
    .expect("every dependency is provided")
}

fn failures(error: &PublishError) -> Vec<(&'static str, String)> {
    let mut failures: Vec<_> = error
        .failures()
        .iter()
        .map(|f| {
            let reason = match f.reason() {
                FailureReason::Panicked(message) => format!("panicked: {message}"),
                FailureReason::Error(error) => format!("error: {error}"),
                other => format!("{other}"),
            };
            (f.handler(), reason)
        })
        .collect();
    failures.sort();
    failures
}

/// Handlers run in the order `routes()` lists; this one starts with a panicking handler and
/// has others after each panic, so it shows that the ones after a panic still run.
fn check_fast_path(bus: &Bus, journal: &Journal, error: PublishError) {
    let order = bus.routes().handlers_of("isolation.fast");
    let ran: Vec<String> = order
        .iter()
        .map(|name| format!("fast.{}", &name["isolation.fast.".len()..][..1]))
        .collect();
    assert_eq!(
        journal.take(),
        ran,
        "every handler ran, in the routes' order"
    );
    assert_eq!(
        failures(&error),
        [
            (
                "isolation.fast.a_panics",
                "panicked: fast.a blew up".to_owned()
            ),
            ("isolation.fast.b_fails", "error: fast.b refused".to_owned()),
            (
                "isolation.fast.d_panics",
                "panicked: fast.d blew up".to_owned()
            ),
        ]
    );
}

#[test]
fn on_the_plain_loop_handlers_after_a_panic_still_run() {
    let journal = Arc::new(Journal::default());
    let bus = bus(&journal, None);
    let order = bus.routes().handlers_of("isolation.fast");
    assert_eq!(
        order[0], "isolation.fast.a_panics",
        "the first handler to run panics"
    );
    let error = bus.publish_sync(Fast).unwrap_err();
    check_fast_path(&bus, &journal, error);
}

#[test]
fn on_the_plain_loop_every_order_runs_every_handler() {
    for seed in 0..16 {
        let journal = Arc::new(Journal::default());
        let bus = bus(&journal, Some(seed));
        let error = bus.publish_sync(Fast).unwrap_err();
        check_fast_path(&bus, &journal, error);
    }
}

#[tokio::test]
async fn the_async_publish_isolates_the_same_way() {
    let journal = Arc::new(Journal::default());
    let bus = bus(&journal, None);
    let error = bus.publish(Fast).await.unwrap_err();
    check_fast_path(&bus, &journal, error);
}

#[test]
fn on_the_general_path_failures_are_isolated_and_their_follow_ups_dropped() {
    for seed in [None, Some(1), Some(2), Some(3)] {
        let journal = Arc::new(Journal::default());
        let bus = bus(&journal, seed);
        let error = bus.publish_sync(General).unwrap_err();
        let entries = journal.take();
        let (handlers, follow_ups) = entries.split_at(4);
        let mut handlers = handlers.to_vec();
        handlers.sort();
        assert_eq!(
            handlers,
            ["general.a", "general.b", "general.c returned", "general.d"],
            "every handler ran before any follow-up (seed {seed:?})"
        );
        // Only the successful handler's event is dispatched: the failed ones' are dropped.
        assert_eq!(follow_ups, ["follow-up from general.c"]);
        assert_eq!(
            failures(&error),
            [
                (
                    "isolation.general.a_panics",
                    "panicked: general.a blew up".to_owned()
                ),
                (
                    "isolation.general.b_fails",
                    "error: general.b refused".to_owned()
                ),
            ]
        );
    }
}

#[test]
fn a_published_event_runs_after_its_publisher_returns() {
    let journal = Arc::new(Journal::default());
    let bus = Bus::builder()
        .provide_arc(journal.clone())
        .without("isolation.general.a_panics")
        .without("isolation.general.b_fails")
        .without("isolation.general.d_runs")
        .build()
        .unwrap();
    bus.publish_sync(General).unwrap();
    // `general_c` publishes first and writes its entry after: the follow-up comes later still.
    assert_eq!(
        journal.take(),
        ["general.c returned", "follow-up from general.c"]
    );
}
