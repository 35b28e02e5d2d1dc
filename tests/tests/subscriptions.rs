//! Live subscriptions: closures subscribed on a built bus beside link-time handlers, removed
//! when their handle drops, isolated and reported like handlers, safe under concurrent publish.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tidings::{handler, Bus, Context, DomainEvent, Envelope, FailureReason};

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "live.price_changed")]
struct PriceChanged {
    cents: u64,
}

#[derive(DomainEvent, Debug)]
#[event(name = "live.sale_started")]
struct SaleStarted;

#[derive(DomainEvent, Debug)]
#[event(name = "live.unhandled")]
struct Unhandled(u32);

#[derive(Default)]
struct Ticks(AtomicUsize);

#[handler]
fn count_price(_: &PriceChanged, ticks: &Ticks) {
    ticks.0.fetch_add(1, Ordering::Relaxed);
}

#[handler]
fn start_sale(_: &SaleStarted, ctx: &Context) {
    ctx.publish(PriceChanged { cents: 99 });
}

fn bus() -> (Bus, Arc<Ticks>) {
    let ticks = Arc::new(Ticks::default());
    let bus = Bus::builder().provide_arc(ticks.clone()).build().unwrap();
    (bus, ticks)
}

fn spy<E: DomainEvent + Clone>(bus: &Bus) -> (tidings::Subscription, Arc<Mutex<Vec<E>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let subscription = bus.subscribe(move |event: &Envelope<E>| {
        sink.lock().unwrap().push(event.payload().clone());
    });
    (subscription, seen)
}

#[test]
fn a_subscriber_sees_events_until_its_handle_drops() {
    let (bus, ticks) = bus();
    let (subscription, seen) = spy::<PriceChanged>(&bus);
    bus.publish_sync(PriceChanged { cents: 1 }).unwrap();
    bus.publish_sync(SaleStarted).unwrap();
    let cents: Vec<u64> = seen.lock().unwrap().iter().map(|e| e.cents).collect();
    assert_eq!(cents, [1, 99], "follow-ups included");
    drop(subscription);
    bus.publish_sync(PriceChanged { cents: 2 }).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert_eq!(
        ticks.0.load(Ordering::Relaxed),
        3,
        "the registered handler ran every time"
    );

    let (subscription, seen) = spy::<PriceChanged>(&bus);
    bus.publish_sync(PriceChanged { cents: 3 }).unwrap();
    subscription.unsubscribe();
    bus.publish_sync(PriceChanged { cents: 4 }).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn an_event_without_handlers_reaches_its_subscribers() {
    let (bus, _) = bus();
    let seen = Arc::new(AtomicUsize::new(0));
    let sink = seen.clone();
    let _subscription = bus.subscribe(move |event: &Envelope<Unhandled>| {
        sink.fetch_add(event.0 as usize, Ordering::Relaxed);
    });
    bus.publish_sync(Unhandled(5)).unwrap();
    bus.clone().publish_sync(Unhandled(6)).unwrap();
    assert_eq!(
        seen.load(Ordering::Relaxed),
        11,
        "clones of the bus share subscriptions"
    );
}

#[tokio::test]
async fn async_publish_reaches_subscribers() {
    let (bus, _) = bus();
    let (_subscription, seen) = spy::<PriceChanged>(&bus);
    bus.publish(SaleStarted).await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn failing_subscribers_are_reported_and_isolated() {
    let (bus, ticks) = bus();
    let _failing = bus.subscribe(|event: &Envelope<PriceChanged>| {
        if event.cents > 10 {
            return Err(std::io::Error::other("too expensive"));
        }
        Ok(())
    });
    let _panicking =
        bus.subscribe(|_: &Envelope<PriceChanged>| -> () { panic!("the screen is off") });
    let (_spy, seen) = spy::<PriceChanged>(&bus);
    let error = bus.publish_sync(PriceChanged { cents: 50 }).unwrap_err();
    assert_eq!(ticks.0.load(Ordering::Relaxed), 1);
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the other subscribers still ran"
    );
    let [error_failure, panic_failure] = error.failures() else {
        panic!("{error}")
    };
    assert!(
        error_failure.handler().starts_with("subscriptions::"),
        "{error}"
    );
    assert_eq!(error_failure.error().unwrap().to_string(), "too expensive");
    assert!(
        matches!(panic_failure.reason(), FailureReason::Panicked(m) if m == "the screen is off")
    );
    assert!(
        error.to_string().contains("on `live.price_changed`"),
        "{error}"
    );
}

#[test]
fn routes_list_live_subscriptions() {
    let (bus, _) = bus();
    let (subscription, _) = spy::<PriceChanged>(&bus);
    let routes = bus.routes();
    let handlers = &routes.message("live.price_changed").unwrap().handlers;
    assert_eq!(handlers.len(), 2);
    assert!(!handlers[0].live);
    let live = &handlers[1];
    assert!(live.live);
    assert_eq!(live.location.file(), "tests/tests/subscriptions.rs");
    let table = routes.to_string();
    let row = table
        .lines()
        .find(|l| l.contains("(live)"))
        .expect("a live row");
    assert!(row.contains("live.price_changed v1"), "{table}");
    assert!(routes.mermaid().contains("<br/>live"));
    drop(subscription);
    assert_eq!(
        bus.routes().handlers_of("live.price_changed"),
        ["subscriptions::count_price"]
    );
}

#[test]
fn subscribing_and_unsubscribing_is_safe_under_concurrent_publish() {
    const THREADS: usize = 4;
    const EVENTS: usize = 2_000;
    let (bus, ticks) = bus();
    let steady = Arc::new(AtomicUsize::new(0));
    let counter = steady.clone();
    let _steady = bus.subscribe(move |_: &Envelope<PriceChanged>| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let churned = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for cents in 0..EVENTS {
                    bus.publish_sync(PriceChanged {
                        cents: cents as u64,
                    })
                    .unwrap();
                }
            });
        }
        scope.spawn(|| {
            for _ in 0..500 {
                let counter = churned.clone();
                let subscription = bus.subscribe(move |_: &Envelope<PriceChanged>| {
                    counter.fetch_add(1, Ordering::Relaxed);
                });
                std::thread::yield_now();
                drop(subscription);
            }
        });
    });
    assert_eq!(steady.load(Ordering::Relaxed), THREADS * EVENTS);
    assert_eq!(ticks.0.load(Ordering::Relaxed), THREADS * EVENTS);
    assert!(churned.load(Ordering::Relaxed) <= THREADS * EVENTS);
    let before = churned.load(Ordering::Relaxed);
    bus.publish_sync(PriceChanged { cents: 1 }).unwrap();
    assert_eq!(
        churned.load(Ordering::Relaxed),
        before,
        "every churned subscription is gone"
    );
    assert_eq!(bus.routes().handlers_of("live.price_changed").len(), 2);
}
