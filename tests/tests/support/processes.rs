//! Scheduled messages and processes on every store, written once: a message scheduled in a
//! transaction is stored with it, delivered once when due (by any of several deliverers on
//! one database), cancellable, and kept after its handlers fail; a process moves on the
//! events and timeouts it lists, in the delivery's transaction, and ends.
//!
//! Each backend's test binary includes this file, declares the process with [`fulfilment!`]
//! on its store (with the events and the command it names in scope), registers its own
//! `ring` handler (which writes each [`Rang`] through the delivery's transaction into
//! `rung (n)`), implements [`Backend`] and expands [`scenarios!`].

#![allow(dead_code, unreachable_pub, async_fn_in_trait)]

use chrono::{DateTime, TimeZone, Utc};
use std::future::Future;
use std::sync::{Arc, Mutex};
use tidings::broadcast::Delivered;
use tidings::persistence::schedule::DueDelivery;
use tidings::persistence::StoredEvent;
use tidings::{handler, AnyEnvelope, Bus, Command, DomainEvent, Envelope, ScheduleId};

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "tidings_tests.schedule_rang")]
pub struct Rang {
    pub n: u64,
}

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "tidings_tests.schedule_refused")]
pub struct Refused {
    pub n: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("refused {0}")]
pub struct No(u64);

/// How many times `refuse` ran: it fails the first time.
#[derive(Default)]
pub struct Refusals(Mutex<u32>);

#[handler]
fn refuse(event: &Refused, refusals: &Refusals) -> Result<(), No> {
    let mut count = refusals.0.lock().unwrap();
    *count += 1;
    if *count < 2 {
        return Err(No(event.n));
    }
    Ok(())
}

/// A fixed time, `seconds` after a point in the future.
pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_900_000_000 + seconds, 0).unwrap()
}

// The process: an order waits out a grace period, then ships; a cancellation before the end
// of the grace period cancels the timeout and ends it.

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "tidings_tests.process_order_placed")]
pub struct OrderPlaced {
    pub order: String,
}

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "tidings_tests.process_order_cancelled")]
pub struct OrderCancelled {
    pub order: String,
}

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "tidings_tests.process_grace_ended")]
pub struct GraceEnded {
    pub order: String,
}

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "tidings_tests.process_order_charged")]
pub struct OrderCharged {
    pub order: String,
}

#[derive(Command, Debug)]
#[command(name = "tidings_tests.process_ship")]
pub struct Ship {
    pub order: String,
}

/// The orders shipped, in order.
#[derive(Default)]
pub struct Shipments(Mutex<Vec<String>>);

#[handler]
fn ship(command: Ship, shipments: &Shipments) {
    shipments.0.lock().unwrap().push(command.order);
}

/// A command scheduled for later: its handler fails the first time it meets each `n`.
#[derive(Command, Debug)]
#[command(name = "tidings_tests.schedule_remind", error = Forgot)]
pub struct Remind {
    pub n: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("reminder {0} refused the first time")]
pub struct Forgot(u64);

/// The `n` of each `Remind` handled, and those that failed once.
#[derive(Default)]
pub struct Reminders(Mutex<(Vec<u64>, Vec<u64>)>);

#[handler]
fn remind(command: Remind, reminders: &Reminders) -> Result<(), Forgot> {
    let mut reminders = reminders.0.lock().unwrap();
    if !reminders.1.contains(&command.n) {
        reminders.1.push(command.n);
        return Err(Forgot(command.n));
    }
    reminders.0.push(command.n);
    Ok(())
}

/// Declares the process `Fulfilment` on `$store` (`sqlite` or `postgres`).
#[macro_export]
macro_rules! fulfilment {
    ($store:ident) => {
        #[derive(tidings::Process, Default, Debug, serde::Serialize, serde::Deserialize)]
        #[process(name = "tidings_tests.fulfilment", store = $store)]
        #[process(start(OrderPlaced), on(OrderCancelled), timeouts(GraceEnded))]
        struct Fulfilment {
            grace: Option<tidings::ScheduleId>,
            steps: u32,
        }

        impl tidings::On<OrderPlaced> for Fulfilment {
            fn key(event: &OrderPlaced) -> String {
                event.order.clone()
            }
            fn on(
                &mut self,
                event: &tidings::Envelope<OrderPlaced>,
                step: &mut tidings::Step<'_>,
            ) -> Result<(), tidings::BoxError> {
                self.steps += 1;
                let order = event.order.clone();
                self.grace = Some(
                    step.timeout_after(std::time::Duration::from_secs(60), GraceEnded { order }),
                );
                Ok(())
            }
        }

        impl tidings::On<OrderCancelled> for Fulfilment {
            fn key(event: &OrderCancelled) -> String {
                event.order.clone()
            }
            fn on(
                &mut self,
                _: &tidings::Envelope<OrderCancelled>,
                step: &mut tidings::Step<'_>,
            ) -> Result<(), tidings::BoxError> {
                self.steps += 1;
                if let Some(grace) = self.grace.take() {
                    step.cancel(grace);
                }
                step.end();
                Ok(())
            }
        }

        impl tidings::On<GraceEnded> for Fulfilment {
            fn key(event: &GraceEnded) -> String {
                event.order.clone()
            }
            fn on(
                &mut self,
                event: &tidings::Envelope<GraceEnded>,
                step: &mut tidings::Step<'_>,
            ) -> Result<(), tidings::BoxError> {
                self.steps += 1;
                step.send(Ship {
                    order: event.order.clone(),
                });
                step.record(
                    format!("order-{}", event.order),
                    OrderCharged {
                        order: event.order.clone(),
                    },
                );
                step.end();
                Ok(())
            }
        }
    };
}

/// Delivers due messages: an inbox of the backend.
pub trait Deliverer: Send + 'static {
    /// The backend's `deliver_due`.
    async fn deliver_due(&self, bus: &Bus, now: DateTime<Utc>) -> DueDelivery;
    /// The backend's scheduler, `run_due_until`.
    fn run_due_until(
        &self,
        bus: &Bus,
        poll: std::time::Duration,
        stop: impl Future<Output = ()> + Send,
    ) -> impl Future<Output = ()> + Send;
}

/// A store and an inbox on one database, which has the table `rung (n)`.
pub trait Backend {
    /// The backend's inbox.
    type Other: Deliverer;

    /// The inbox on the database.
    fn inbox(&self) -> &Self::Other;

    /// Schedules `event` for `at` in a unit of work that commits; the id.
    async fn schedule<E: DomainEvent>(&self, bus: &Bus, at: DateTime<Utc>, event: E) -> ScheduleId;
    /// Schedules `event` for `at` in a unit of work whose work then fails; whether the unit
    /// of work reported the failure.
    async fn schedule_then_fail<E: DomainEvent>(
        &self,
        bus: &Bus,
        at: DateTime<Utc>,
        event: E,
    ) -> bool;
    /// Schedules `command` to be sent at `at`, in a unit of work that commits; the id.
    async fn send_at<C: Command>(&self, bus: &Bus, at: DateTime<Utc>, command: C) -> ScheduleId;
    /// Cancels `id` in a unit of work that commits; what the cancel answered.
    async fn cancel(&self, bus: &Bus, id: ScheduleId) -> bool;
    /// The inbox's delivery of `envelope` for the consumer `ordering`.
    async fn deliver(&self, bus: &Bus, envelope: AnyEnvelope) -> Delivered;
    /// The `n` of each `Rang` delivered, in order.
    async fn rung(&self) -> Vec<i64>;
    /// The scheduled messages waiting.
    async fn waiting(&self) -> i64;
    /// The attempts and last error of the one scheduled message waiting.
    async fn failure(&self) -> (i64, String);
    /// The row of the `Fulfilment` instance `key`: its state's JSON, whether it ended, its
    /// version.
    async fn instance(&self, key: &str) -> Option<(String, bool, i64)>;
    /// The events stored on `stream`.
    async fn stream(&self, stream: &str) -> Vec<StoredEvent>;
    /// What makes another inbox on the database, for a thread of its own (made on that
    /// thread, inside its runtime).
    fn other(&self) -> impl Future<Output = Self::Other> + Send + 'static;
}

pub struct Fixture<B> {
    pub db: B,
    pub bus: Arc<Bus>,
    pub shipments: Arc<Shipments>,
    pub reminders: Arc<Reminders>,
}

impl<B: Backend> Fixture<B> {
    pub fn new(db: B) -> Fixture<B> {
        let shipments = Arc::new(Shipments::default());
        let reminders = Arc::new(Reminders::default());
        let bus = Bus::builder()
            .provide(Refusals::default())
            .provide_arc(shipments.clone())
            .provide_arc(reminders.clone())
            .build()
            .unwrap();
        Fixture {
            db,
            bus: Arc::new(bus),
            shipments,
            reminders,
        }
    }

    async fn due(&self, now: DateTime<Utc>) -> DueDelivery {
        self.db.inbox().deliver_due(&self.bus, now).await
    }

    async fn deliver<E: DomainEvent>(&self, event: E) -> Delivered {
        self.db
            .deliver(&self.bus, AnyEnvelope::from(Envelope::new(event)))
            .await
    }

    pub fn shipped(&self) -> Vec<String> {
        self.shipments.0.lock().unwrap().clone()
    }

    pub fn reminded(&self) -> Vec<u64> {
        self.reminders.0.lock().unwrap().0.clone()
    }
}

pub async fn a_scheduled_command_is_sent_once_when_due_and_not_before<B: Backend>(f: &Fixture<B>) {
    f.db.send_at(
        &f.bus,
        at(10),
        Ship {
            order: "s-1".into(),
        },
    )
    .await;
    let cancelled =
        f.db.send_at(
            &f.bus,
            at(10),
            Ship {
                order: "s-2".into(),
            },
        )
        .await;
    assert!(f.db.cancel(&f.bus, cancelled).await);
    assert_eq!(f.due(at(9)).await.delivered, 0);
    assert_eq!(f.shipped(), Vec::<String>::new());
    let done = f.due(at(10)).await;
    assert_eq!((done.delivered, done.failed), (1, 0));
    assert_eq!(f.shipped(), ["s-1"]);
    assert_eq!(f.db.waiting().await, 0, "its row removed once it was sent");
    assert_eq!(f.due(at(1_000)).await.delivered, 0);
    assert_eq!(f.shipped(), ["s-1"]);
}

pub async fn a_scheduled_command_whose_handler_fails_stays_and_is_sent_after_its_backoff<
    B: Backend,
>(
    f: &Fixture<B>,
) {
    f.db.send_at(&f.bus, at(10), Remind { n: 4 }).await;
    let first = f.due(at(10)).await;
    assert_eq!((first.delivered, first.failed), (0, 1));
    let (attempts, error) = f.db.failure().await;
    assert_eq!(attempts, 1);
    assert!(error.contains("reminder 4 refused"), "{error}");
    assert_eq!(f.due(at(10)).await.delivered, 0, "backing off");
    let second = f.due(at(12)).await;
    assert_eq!((second.delivered, second.failed), (1, 0));
    assert_eq!(f.reminded(), [4]);
    assert_eq!(f.db.waiting().await, 0);
}

/// Commands and events scheduled side by side, delivered by four deliverers at once: each
/// command sent once (a delivery holds its row before sending it), each event once.
pub async fn several_deliverers_send_each_scheduled_command_once<B: Backend>(f: &Fixture<B>) {
    for n in 0..60 {
        f.db.send_at(
            &f.bus,
            at(n % 5),
            Ship {
                order: format!("o-{n:02}"),
            },
        )
        .await;
        f.db.schedule(&f.bus, at(n % 3), Rang { n: n as u64 }).await;
    }
    let total = on_threads(f, 4, |inbox, bus| async move {
        let mut total = 0;
        loop {
            let done = inbox.deliver_due(&bus, at(100)).await;
            assert_eq!(done.failed, 0, "a duplicate event would fail on the key");
            total += done.delivered;
            if done.delivered == 0 {
                return total;
            }
        }
    })
    .await;
    assert_eq!(total, 120);
    let mut shipped = f.shipped();
    shipped.sort();
    let expected: Vec<String> = (0..60).map(|n| format!("o-{n:02}")).collect();
    assert_eq!(shipped, expected, "each command sent once");
    assert_eq!(f.db.rung().await, (0..60).collect::<Vec<i64>>());
    assert_eq!(f.db.waiting().await, 0);
}

pub async fn a_message_is_delivered_once_when_due_and_not_before<B: Backend>(f: &Fixture<B>) {
    f.db.schedule(&f.bus, at(10), Rang { n: 1 }).await;
    f.db.schedule(&f.bus, at(20), Rang { n: 2 }).await;
    assert_eq!(f.due(at(9)).await.delivered, 0);
    assert_eq!(f.db.rung().await, Vec::<i64>::new());
    assert_eq!(f.due(at(10)).await.delivered, 1);
    assert_eq!(f.db.rung().await, [1]);
    let later = f.due(at(60)).await;
    assert_eq!((later.delivered, later.failed), (1, 0));
    assert_eq!(f.db.rung().await, [1, 2]);
    assert_eq!(f.due(at(60)).await.delivered, 0);
    assert_eq!(f.db.waiting().await, 0);
}

pub async fn a_message_scheduled_by_work_that_rolled_back_is_never_delivered<B: Backend>(
    f: &Fixture<B>,
) {
    assert!(
        f.db.schedule_then_fail(&f.bus, at(1), Rang { n: 1 }).await,
        "the work failed"
    );
    assert_eq!(f.db.waiting().await, 0);
    assert_eq!(f.due(at(5)).await.delivered, 0);
    assert_eq!(f.db.rung().await, Vec::<i64>::new());
}

pub async fn a_cancelled_message_is_not_delivered<B: Backend>(f: &Fixture<B>) {
    let id = f.db.schedule(&f.bus, at(10), Rang { n: 1 }).await;
    f.db.schedule(&f.bus, at(10), Rang { n: 2 }).await;
    assert!(f.db.cancel(&f.bus, id).await);
    assert!(
        !f.db.cancel(&f.bus, id).await,
        "a second cancel finds nothing"
    );
    assert_eq!(f.due(at(10)).await.delivered, 1);
    assert_eq!(f.db.rung().await, [2]);
}

pub async fn a_message_whose_handler_fails_stays_and_is_delivered_after_its_backoff<B: Backend>(
    f: &Fixture<B>,
) {
    f.db.schedule(&f.bus, at(10), Refused { n: 3 }).await;
    let first = f.due(at(10)).await;
    assert_eq!((first.delivered, first.failed), (0, 1));
    let (attempts, error) = f.db.failure().await;
    assert_eq!(attempts, 1);
    assert!(error.contains("refused 3"), "{error}");
    assert_eq!(f.due(at(10)).await.delivered, 0, "backing off");
    let second = f.due(at(12)).await;
    assert_eq!((second.delivered, second.failed), (1, 0));
    assert_eq!(f.db.waiting().await, 0);
}

/// Runs `work` on `threads` threads at once, each with a runtime of its own and another inbox
/// on the database; the sum of what they return.
async fn on_threads<B, W, F>(f: &Fixture<B>, threads: usize, work: W) -> usize
where
    B: Backend,
    W: Fn(B::Other, Arc<Bus>) -> F + Clone + Send + 'static,
    F: Future<Output = usize>,
{
    let threads: Vec<_> = (0..threads)
        .map(|_| {
            let (other, bus, work) = (f.db.other(), f.bus.clone(), work.clone());
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move { work(other.await, bus).await })
            })
        })
        .collect();
    tokio::task::spawn_blocking(move || threads.into_iter().map(|t| t.join().unwrap()).sum())
        .await
        .unwrap()
}

pub async fn several_deliverers_on_one_database_deliver_each_message_once<B: Backend>(
    f: &Fixture<B>,
) {
    for n in 0..300 {
        f.db.schedule(&f.bus, at(n as i64 % 7), Rang { n }).await;
    }
    let total = on_threads(f, 4, |inbox, bus| async move {
        let mut total = 0;
        loop {
            let done = inbox.deliver_due(&bus, at(100)).await;
            assert_eq!(done.failed, 0, "a duplicate would fail on the key");
            total += done.delivered;
            if done.delivered == 0 {
                return total;
            }
        }
    })
    .await;
    assert_eq!(total, 300);
    assert_eq!(f.db.rung().await, (0..300).collect::<Vec<i64>>());
    assert_eq!(f.db.waiting().await, 0);
}

/// Two schedulers on one database deliver what falls due while they run, each message once,
/// and stop when asked.
pub async fn schedulers_deliver_messages_as_they_fall_due_and_stop_when_asked<B: Backend>(
    f: &Fixture<B>,
) {
    let now = Utc::now();
    f.db.schedule(&f.bus, now - chrono::Duration::seconds(1), Rang { n: 1 })
        .await;
    f.db.schedule(
        &f.bus,
        now + chrono::Duration::milliseconds(300),
        Rang { n: 2 },
    )
    .await;
    let mut stops = Vec::new();
    let mut schedulers = Vec::new();
    for _ in 0..2 {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (inbox, bus) = (f.db.other().await, f.bus.clone());
        schedulers.push(tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            inbox
                .run_due_until(&bus, std::time::Duration::from_millis(20), stopped)
                .await;
        }));
        stops.push(stop);
    }
    let start = std::time::Instant::now();
    while f.db.rung().await.len() < 2 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "delivered so far: {:?}",
            f.db.rung().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(stops);
    for scheduler in schedulers {
        scheduler.await.expect("the scheduler stopped when asked");
    }
    assert_eq!(
        f.db.rung().await,
        [1, 2],
        "each once, in order of their time"
    );
    assert_eq!(f.db.waiting().await, 0);
}

pub async fn a_process_waits_out_its_timeout_then_sends_and_records_and_ends<B: Backend>(
    f: &Fixture<B>,
) {
    let placed = AnyEnvelope::from(Envelope::new(OrderPlaced { order: "7".into() }))
        .to_json()
        .unwrap()
        .to_string();
    let delivered =
        f.db.deliver(&f.bus, AnyEnvelope::from_json(&placed).unwrap())
            .await;
    assert_eq!(delivered, Delivered::Handled);
    let (state, ended, version) = f.db.instance("7").await.unwrap();
    assert!(!ended);
    assert_eq!(version, 1);
    assert!(state.contains("\"steps\":1"), "{state}");
    assert_eq!(
        f.db.waiting().await,
        1,
        "the timeout commits with the state"
    );
    assert_eq!(
        f.db.deliver(&f.bus, AnyEnvelope::from_json(&placed).unwrap())
            .await,
        Delivered::AlreadyHandled,
        "a redelivery moves nothing"
    );
    assert_eq!(f.db.instance("7").await.unwrap().2, 1);

    let now = Utc::now();
    assert_eq!(f.due(now).await.delivered, 0);
    let later = now + chrono::Duration::seconds(61);
    assert_eq!(f.due(later).await.delivered, 1);
    let (_, ended, version) = f.db.instance("7").await.unwrap();
    assert!(ended);
    assert_eq!(version, 2);
    assert_eq!(f.shipped(), ["7"]);
    let outbox = f.db.stream("order-7").await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].decode_as::<OrderCharged>().unwrap().order, "7");
}

pub async fn a_cancelled_process_cancels_its_timeout_and_ignores_what_comes_after<B: Backend>(
    f: &Fixture<B>,
) {
    f.deliver(OrderPlaced { order: "8".into() }).await;
    f.deliver(OrderCancelled { order: "8".into() }).await;
    assert_eq!(
        f.db.waiting().await,
        0,
        "the timeout was cancelled with the step"
    );
    let (_, ended, version) = f.db.instance("8").await.unwrap();
    assert!(ended);
    assert_eq!(version, 2);
    // An event for the ended instance is ignored (and logged), its state untouched.
    assert_eq!(
        f.deliver(OrderPlaced { order: "8".into() }).await,
        Delivered::Handled
    );
    assert_eq!(f.db.instance("8").await.unwrap().2, 2);
    assert_eq!(
        f.due(Utc::now() + chrono::Duration::hours(1))
            .await
            .delivered,
        0
    );
    assert!(f.shipped().is_empty());
}

pub async fn an_event_for_an_unknown_instance_is_ignored_as_declared<B: Backend>(f: &Fixture<B>) {
    let outcome = f.deliver(OrderCancelled { order: "9".into() }).await;
    assert_eq!(outcome, Delivered::Handled);
    assert!(f.db.instance("9").await.is_none());
}

pub async fn steps_of_many_instances_from_several_deliverers_each_apply_once<B: Backend>(
    f: &Fixture<B>,
) {
    for order in 0..40 {
        f.deliver(OrderPlaced {
            order: order.to_string(),
        })
        .await;
    }
    // Half of them are cancelled before their grace period ends.
    for order in (0..40).step_by(2) {
        f.deliver(OrderCancelled {
            order: order.to_string(),
        })
        .await;
    }
    assert_eq!(f.db.waiting().await, 20);
    let later = Utc::now() + chrono::Duration::seconds(61);
    let total = on_threads(f, 3, move |inbox, bus| async move {
        inbox.deliver_due(&bus, later).await.delivered
    })
    .await;
    assert_eq!(total, 20);
    let mut shipped = f.shipped();
    shipped.sort_by_key(|order| order.parse::<u32>().unwrap());
    let odd: Vec<String> = (1..40).step_by(2).map(|n| n.to_string()).collect();
    assert_eq!(shipped, odd, "each odd order shipped once");
    for order in 0..40 {
        let (_, ended, version) = f.db.instance(&order.to_string()).await.unwrap();
        assert!(ended, "order {order}");
        assert_eq!(version, 2, "order {order} took two steps");
        let charged = f.db.stream(&format!("order-{order}")).await.len();
        assert_eq!(charged, order % 2, "order {order}'s charge recorded");
    }
}

pub fn a_process_step_published_without_a_transaction_is_reported_not_dropped<B: Backend>(
    f: &Fixture<B>,
) {
    let error = f
        .bus
        .publish_sync(OrderPlaced { order: "1".into() })
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("process tidings_tests.fulfilment"), "{text}");
}

pub fn routes_show_each_step_of_the_process_and_its_timeouts<B: Backend>(f: &Fixture<B>) {
    let routes = f.bus.routes().to_string();
    for line in [
        "process tidings_tests.fulfilment: starts on OrderPlaced",
        "process tidings_tests.fulfilment: continues on OrderCancelled",
        "process tidings_tests.fulfilment: timeout on GraceEnded",
    ] {
        assert!(routes.contains(line), "{line} in\n{routes}");
    }
}

/// The scenarios above as tests, each on a fresh fixture from `$fixture` (an async
/// expression).
#[macro_export]
macro_rules! scenarios {
    ($fixture:expr) => {
        $crate::scenarios!(@async $fixture;
            a_message_is_delivered_once_when_due_and_not_before,
            a_message_scheduled_by_work_that_rolled_back_is_never_delivered,
            a_cancelled_message_is_not_delivered,
            a_message_whose_handler_fails_stays_and_is_delivered_after_its_backoff,
            several_deliverers_on_one_database_deliver_each_message_once,
            a_scheduled_command_is_sent_once_when_due_and_not_before,
            a_scheduled_command_whose_handler_fails_stays_and_is_sent_after_its_backoff,
            several_deliverers_send_each_scheduled_command_once,
            schedulers_deliver_messages_as_they_fall_due_and_stop_when_asked,
            a_process_waits_out_its_timeout_then_sends_and_records_and_ends,
            a_cancelled_process_cancels_its_timeout_and_ignores_what_comes_after,
            an_event_for_an_unknown_instance_is_ignored_as_declared,
            steps_of_many_instances_from_several_deliverers_each_apply_once
        );
        $crate::scenarios!(@sync $fixture;
            a_process_step_published_without_a_transaction_is_reported_not_dropped,
            routes_show_each_step_of_the_process_and_its_timeouts
        );
    };
    (@async $fixture:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                scenarios::$name(&$fixture).await;
            }
        )*
    };
    (@sync $fixture:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                scenarios::$name(&$fixture);
            }
        )*
    };
}
