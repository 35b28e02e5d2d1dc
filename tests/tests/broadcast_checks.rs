//! Nothing lost silently: against a real RabbitMQ (`TIDINGS_TEST_AMQP`), each mistake a user
//! can make with the relay or the consumer is an error before the first message, naming the
//! mistake and its fix; an event no handler takes is dead-lettered with that reason, listed,
//! and put back once the program has its handler; the relay's lag is in its status.

use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use std::sync::Arc;
use std::time::Duration;
use tidings::broadcast::amqp::binding;
use tidings::broadcast::amqp::{ConsumeError, Consumer, Refusal, Relay, Topology};
use tidings::broadcast::sqlite::SqliteInbox;
use tidings::broadcast::Activity;
use tidings::persistence::sqlite::{SqliteStore, SqliteTransaction};
use tidings::persistence::{ExpectedVersion, NewEvent, StoreError};
use tidings::{handler, Bus, Envelope};
use tidings_tests::{amqp_uri, unique, Numbered, Scratch};

/// The longest any condition below is waited for: a bound on failure, not a pause.
const WAIT: Duration = Duration::from_secs(30);

#[handler(name = "checks.count")]
fn count(event: &Envelope<Numbered>, tx: &SqliteTransaction) -> Result<(), StoreError> {
    tx.execute("INSERT INTO effects (n) VALUES (?1)", [event.n as i64])?;
    Ok(())
}

fn inbox(dir: &Scratch) -> SqliteInbox {
    let inbox = SqliteInbox::open(dir.join("inbox.db")).unwrap();
    inbox
        .with_connection(|c| c.execute_batch("CREATE TABLE effects (n INTEGER)"))
        .unwrap();
    inbox
}

fn effects(inbox: &SqliteInbox) -> Vec<u64> {
    inbox.with_connection(|c| {
        let mut statement = c.prepare("SELECT n FROM effects ORDER BY rowid").unwrap();
        let rows = statement.query_map([], |row| row.get::<_, i64>(0)).unwrap();
        rows.map(|n| n.unwrap() as u64).collect()
    })
}

/// `uri` with another user's password.
fn with_password(uri: &str, password: &str) -> String {
    let (scheme, rest) = uri.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://guest:{password}@{host}")
}

/// `uri` with another virtual host.
fn with_vhost(uri: &str, vhost: &str) -> String {
    let (scheme, rest) = uri.split_once("://").unwrap();
    let authority = rest.split('/').next().unwrap();
    format!("{scheme}://{authority}/{vhost}")
}

/// Runs `consumer` until it returns by itself: a consumer that would wait for messages
/// instead fails the test after [`WAIT`].
async fn run_to_error(consumer: &Consumer, inbox: &SqliteInbox, bus: &Bus) -> ConsumeError {
    let run = consumer.run_until(inbox, bus, std::future::pending());
    match tokio::time::timeout(WAIT, run).await {
        Ok(Err(error)) => error,
        Ok(Ok(())) => panic!("the consumer stopped without an error"),
        Err(_) => panic!("the consumer kept retrying for {WAIT:?} instead of failing"),
    }
}

fn assert_names(error: &dyn std::fmt::Display, parts: &[&str]) {
    let text = error.to_string();
    for part in parts {
        assert!(text.contains(part), "`{part}` missing from: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_stops_the_relay_and_the_consumer_with_access_refused() {
    let uri = with_password(&amqp_uri(), "not-the-password");
    let dir = Scratch::new("checks-password");
    let topology = Topology::new(unique("ordering"), unique("shipping"));
    let consumer = Consumer::new(&uri, topology.clone()).max_backoff(Duration::from_millis(50));
    let inbox = inbox(&dir);
    let bus = Bus::builder().build().unwrap();
    let error = run_to_error(&consumer, &inbox, &bus).await;
    match &error {
        ConsumeError::Refused { source, queue } => {
            assert_eq!(source.kind(), Refusal::AccessRefused);
            assert_eq!(queue, topology.queue());
        }
        other => panic!("expected a refusal, got {other}"),
    }
    assert_names(&error, &["ACCESS_REFUSED", "password"]);
    assert_eq!(consumer.status().borrow().activity, Activity::Failed);

    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    let relay = Relay::new(store, &uri, topology.exchange()).max_backoff(Duration::from_millis(50));
    let status = relay.status();
    let outcome = tokio::time::timeout(WAIT, relay.run_until(std::future::pending()))
        .await
        .expect("the relay kept retrying instead of failing");
    let error = outcome.expect_err("a relay that cannot log in stops");
    assert!(error.is_permanent(), "{error}");
    assert_names(&error, &["ACCESS_REFUSED", "password"]);
    let status = status.borrow();
    assert_eq!(status.activity, Activity::Failed);
    assert_eq!(status.attempts, 1, "not retried");
    assert!(status
        .last_error
        .as_deref()
        .unwrap()
        .contains("ACCESS_REFUSED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_virtual_host_stops_the_consumer_naming_it() {
    let uri = with_vhost(&amqp_uri(), "tidings-no-such-vhost");
    let dir = Scratch::new("checks-vhost");
    let topology = Topology::new(unique("ordering"), unique("shipping"));
    let consumer = Consumer::new(&uri, topology).max_backoff(Duration::from_millis(50));
    let error = run_to_error(&consumer, &inbox(&dir), &Bus::builder().build().unwrap()).await;
    match &error {
        ConsumeError::Refused { source, .. } => assert_eq!(source.kind(), Refusal::VirtualHost),
        other => panic!("expected a refusal, got {other}"),
    }
    assert_names(&error, &["virtual host", "add_vhost"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_declared_with_other_arguments_stops_the_consumer() {
    let uri = amqp_uri();
    let dir = Scratch::new("checks-arguments");
    let topology = Topology::new(unique("ordering"), unique("shipping"));
    // Someone else's classic queue of the same name.
    let connection = Connection::connect(&uri, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let options = QueueDeclareOptions {
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    let queue = topology.queue();
    channel
        .queue_declare(queue.into(), options, FieldTable::default())
        .await
        .unwrap();
    let consumer = Consumer::new(&uri, topology.clone());
    let error = run_to_error(&consumer, &inbox(&dir), &Bus::builder().build().unwrap()).await;
    match &error {
        ConsumeError::Refused { source, .. } => {
            assert_eq!(source.kind(), Refusal::InequivalentArguments);
        }
        other => panic!("expected a refusal, got {other}"),
    }
    assert_names(
        &error,
        &[topology.queue(), "PRECONDITION_FAILED", "another name"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_context_reusing_a_queue_is_refused_naming_both() {
    let uri = amqp_uri();
    let dir = Scratch::new("checks-owner");
    let topology = Topology::new(unique("ordering"), unique("shipping"));
    let bus = Bus::builder().build().unwrap();
    let inbox = inbox(&dir);
    let shipping = Consumer::new(&uri, topology.clone());
    let status = shipping.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = {
        let (shipping, inbox, bus) = (shipping.clone(), inbox.clone(), bus.clone());
        tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            shipping.run_until(&inbox, &bus, stopped).await
        })
    };
    let mut watching = status.clone();
    let running_state = watching.wait_for(|s| s.activity == Activity::Running);
    tokio::time::timeout(WAIT, running_state)
        .await
        .unwrap()
        .unwrap();

    let billing = Consumer::new(&uri, topology.clone()).owner("billing");
    let error = run_to_error(&billing, &inbox, &bus).await;
    assert!(matches!(error, ConsumeError::QueueOwned { .. }), "{error}");
    // The default owner is the crates of the handlers of the queue's events: this one.
    assert_names(&error, &["billing", "`broadcast_checks`", topology.queue()]);

    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    // The owner itself starts again.
    let again = Consumer::new(&uri, topology).owner("broadcast_checks");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut status = again.status();
    let run = again.run_until(&inbox, &bus, async {
        let _ = stopped.await;
    });
    let check = async {
        let running = status.wait_for(|s| s.activity == Activity::Running);
        tokio::time::timeout(WAIT, running).await.unwrap().unwrap();
        stop.send(()).unwrap();
    };
    let (outcome, ()) = tokio::join!(run, check);
    outcome.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_bound_to_events_no_handler_takes_stops_the_consumer_before_the_first_message() {
    let uri = amqp_uri();
    let dir = Scratch::new("checks-unhandled");
    let topology = Topology::new(unique("ordering"), unique("shipping"));
    // The crate that handles `Numbered` is not linked: here, left out.
    let bus = Bus::builder().without("checks.count").build().unwrap();
    let consumer = Consumer::new(&uri, topology.clone());
    let error = run_to_error(&consumer, &inbox(&dir), &bus).await;
    assert!(matches!(error, ConsumeError::Unhandled { .. }), "{error}");
    assert_names(
        &error,
        &["`tidings_tests.numbered`", "linked!", "Topology::binding"],
    );
    // Bound to other events only, it starts.
    let elsewhere = Consumer::new(&uri, topology.binding("elsewhere.#"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut status = elsewhere.status();
    let inbox = inbox(&Scratch::new("checks-unhandled-2"));
    let run = elsewhere.run_until(&inbox, &bus, async {
        let _ = stopped.await;
    });
    let check = async {
        let running = status.wait_for(|s| s.activity == Activity::Running);
        tokio::time::timeout(WAIT, running).await.unwrap().unwrap();
        stop.send(()).unwrap();
    };
    let (outcome, ()) = tokio::join!(run, check);
    outcome.unwrap();
}

/// A message that reaches a program with no handler for it is not acknowledged as done: it
/// waits in the dead-letter queue with the reason, is listed, and once the program has its
/// handler, one call puts it back and it has its effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_no_handler_takes_is_dead_lettered_listed_and_put_back_once_fixed() {
    let uri = amqp_uri();
    let dir = Scratch::new("checks-replay");
    let inbox = inbox(&dir);
    let topology = Topology::new(unique("ordering"), unique("shipping")).binding("elsewhere.#");
    let without = Bus::builder().without("checks.count").build().unwrap();
    let consumer = Consumer::new(&uri, topology.clone());
    consumer.declare().await.unwrap();

    // A `Numbered` sent straight to the queue: the start check cannot see it coming.
    let connection = Connection::connect(&uri, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let event = NewEvent::from_envelope(&Envelope::new(Numbered { n: 7 })).unwrap();
    let store = SqliteStore::open(dir.join("ordering.db")).unwrap();
    store
        .append_sync("numbers", ExpectedVersion::Any, &[event])
        .unwrap();
    let stored = store.read_all_sync(0, 1).unwrap().remove(0);
    channel
        .basic_publish(
            "".into(),
            topology.queue().into(),
            BasicPublishOptions::default(),
            stored.data().as_bytes(),
            binding::properties(&stored).unwrap(),
        )
        .await
        .unwrap()
        .await
        .unwrap();

    let mut status = consumer.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = consumer.run_until(&inbox, &without, async {
        let _ = stopped.await;
    });
    let check = async {
        let dead = status.wait_for(|s| s.dead_lettered == 1);
        tokio::time::timeout(WAIT, dead).await.unwrap().unwrap();
        stop.send(()).unwrap();
    };
    let (outcome, ()) = tokio::join!(run, check);
    outcome.unwrap();
    assert_eq!(status.borrow().handled, 0);
    assert!(effects(&inbox).is_empty());

    let letters = consumer.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].event.as_deref(), Some("tidings_tests.numbered"));
    assert_eq!(letters[0].id, Some(stored.metadata().id().to_string()));
    assert!(
        letters[0].reason.contains("no handler of this program"),
        "{}",
        letters[0].reason
    );
    assert_eq!(
        consumer.dead_letters().await.unwrap(),
        letters,
        "listing leaves them"
    );

    // The fix: the program links the handler; the dead letter goes back on the queue.
    let fixed = Bus::builder().build().unwrap();
    assert_eq!(consumer.replay_dead_letters().await.unwrap(), 1);
    assert!(consumer.dead_letters().await.unwrap().is_empty());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = consumer.run_until(&inbox, &fixed, async {
        let _ = stopped.await;
    });
    let check = async {
        let handled = status.wait_for(|s| s.handled == 1);
        tokio::time::timeout(WAIT, handled).await.unwrap().unwrap();
        stop.send(()).unwrap();
    };
    let (outcome, ()) = tokio::join!(run, check);
    outcome.unwrap();
    assert_eq!(effects(&inbox), [7], "its effect, once");
    assert_eq!(
        status.borrow().last_handled,
        Some(stored.metadata().id().to_string())
    );
}

/// The relay's status shows an event waiting within one second of its commit, even while
/// the broker cannot be reached, and the lag back at zero within one second once published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_s_lag_is_in_its_status_within_a_second() {
    let uri = amqp_uri();
    let dir = Scratch::new("checks-lag");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    let append = |n: u64| {
        let event = NewEvent::from_envelope(&Envelope::new(Numbered { n })).unwrap();
        let appended = store.append_sync("numbers", ExpectedVersion::Any, &[event]);
        appended.unwrap().positions.end - 1
    };

    // A broker that is not there: nothing listens on the port once the listener is dropped.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    let stranded = Relay::new(store.clone(), nowhere, unique("ordering"))
        .max_backoff(Duration::from_millis(200));
    let mut status = stranded.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = stranded.run_until(async {
        let _ = stopped.await;
    });
    let check = async {
        let failing = status.wait_for(|s| s.attempts >= 1 && s.last_error.is_some());
        tokio::time::timeout(WAIT, failing).await.unwrap().unwrap();
        append(1);
        let lagging = status.wait_for(|s| s.lag_events == 1);
        tokio::time::timeout(Duration::from_secs(1), lagging)
            .await
            .expect("the lag is visible within a second of the commit")
            .unwrap();
        stop.send(()).unwrap();
    };
    let (outcome, ()) = tokio::join!(run, check);
    outcome.unwrap();
    assert_eq!(status.borrow().published, 0);

    // A relay that reaches the broker catches up, and says so within a second.
    let relay = Relay::new(store.clone(), &uri, unique("ordering"));
    let mut status = relay.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = relay.run_until(async {
        let _ = stopped.await;
    });
    let check = async {
        let running = status.wait_for(|s| s.activity == Activity::Running && s.lag_events == 0);
        tokio::time::timeout(WAIT, running).await.unwrap().unwrap();
        let position = append(2);
        let caught_up = status.wait_for(|s| s.published >= position && s.lag_events == 0);
        tokio::time::timeout(Duration::from_secs(1), caught_up)
            .await
            .expect("back to zero within a second of the commit")
            .unwrap();
        stop.send(()).unwrap();
    };
    let (outcome, ()) = tokio::join!(run, check);
    outcome.unwrap();
    let status = status.borrow();
    assert_eq!(status.confirmed, 2);
    assert_eq!(status.behind, Duration::ZERO);
    assert_eq!(status.activity, Activity::Stopped);
}

/// An exchange of that name declared with another type (here `fanout`, where the relay
/// publishes to a `topic` exchange): the relay stops at its first attempt, naming the
/// broker's refusal and the fix, instead of retrying forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchange_of_another_type_stops_the_relay_naming_it() {
    let uri = amqp_uri();
    let dir = Scratch::new("checks-exchange");
    let exchange = unique("ordering");
    let connection = Connection::connect(&uri, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .exchange_declare(
            exchange.as_str().into(),
            lapin::ExchangeKind::Fanout,
            lapin::options::ExchangeDeclareOptions {
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();

    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    let relay = Relay::new(store, &uri, &exchange).max_backoff(Duration::from_millis(50));
    let status = relay.status();
    let outcome = tokio::time::timeout(WAIT, relay.run_until(std::future::pending()))
        .await
        .expect("the relay kept retrying instead of failing");
    let error = outcome.expect_err("a relay whose exchange has another type stops");
    assert!(error.is_permanent(), "{error}");
    match &error {
        tidings::broadcast::amqp::RelayError::Refused(refused) => {
            assert_eq!(refused.kind(), Refusal::InequivalentArguments)
        }
        other => panic!("expected a refusal, got {other}"),
    }
    assert_names(&error, &["PRECONDITION_FAILED", "exchange"]);
    let status = status.borrow();
    assert_eq!(status.activity, Activity::Failed);
    assert_eq!(status.attempts, 1, "not retried");
    connection.close(200, "done".into()).await.unwrap();
}

/// What a `fmt` subscriber writes, kept for the test to read.
#[derive(Clone, Default)]
struct Logged(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logged {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logged {
    /// The lines logged at `level` that mention `text`.
    fn lines(&self, level: &str, text: &str) -> Vec<String> {
        let logged = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        logged
            .lines()
            .filter(|line| line.contains(level) && line.contains(text))
            .map(str::to_owned)
            .collect()
    }
}

/// The relay publishes integration events only. It says once, naming the fix, which stored
/// events it passes over: at WARN an event whose name no type of the program is registered
/// for (its crate is not linked), at INFO an event not declared integration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_says_which_stored_events_it_passes_over_and_why() {
    use tracing::instrument::WithSubscriber;
    let uri = amqp_uri();
    let dir = Scratch::new("checks-passed-over");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    let unregistered = |n: u64| {
        let event = NewEvent::from_envelope(&Envelope::new(Numbered { n })).unwrap();
        NewEvent::from_parts(
            event.metadata().clone(),
            "elsewhere.unlinked",
            1,
            format!("{{\"n\":{n}}}"),
        )
    };
    let events = [
        unregistered(1),
        NewEvent::from_envelope(&Envelope::new(tidings_tests::Internal { n: 2 })).unwrap(),
        unregistered(3),
        NewEvent::from_envelope(&Envelope::new(tidings_tests::Internal { n: 4 })).unwrap(),
        NewEvent::from_envelope(&Envelope::new(Numbered { n: 5 })).unwrap(),
    ];
    let last = store
        .append_sync("orders", ExpectedVersion::Any, &events)
        .unwrap()
        .positions
        .end
        - 1;

    let logged = Logged::default();
    let subscriber = {
        let logged = logged.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || logged.clone())
            .finish()
    };
    let relay = Relay::new(store, &uri, unique("ordering"));
    let mut status = relay.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = relay.run_until(async {
        let _ = stopped.await;
    });
    let check = async {
        let through = status.wait_for(|s| s.published >= last);
        tokio::time::timeout(WAIT, through).await.unwrap().unwrap();
        stop.send(()).unwrap();
    };
    let (outcome, ()) = tokio::join!(run.with_subscriber(subscriber), check);
    outcome.unwrap();
    assert_eq!(status.borrow().confirmed, 1, "only the integration event");

    let warned = logged.lines("WARN", "elsewhere.unlinked");
    assert_eq!(warned.len(), 1, "once per name: {warned:?}");
    for part in ["no type of that name is registered", "tidings::linked!"] {
        assert!(
            warned[0].contains(part),
            "`{part}` missing from: {}",
            warned[0]
        );
    }
    let told = logged.lines("INFO", "tidings_tests.internal");
    assert_eq!(told.len(), 1, "once per name: {told:?}");
    for part in ["not an integration event", "integration)]"] {
        assert!(told[0].contains(part), "`{part}` missing from: {}", told[0]);
    }
    assert_eq!(
        logged.lines("WARN", "tidings_tests.numbered"),
        Vec::<String>::new()
    );
}
