//! A relay in a program that declares no integration event (the crates that declare them not
//! linked, or none declared `integration`) would publish nothing: it says so at start, at
//! WARN, naming the fix. This file names no crate that declares events, so the program's
//! registry has none.

use std::sync::{Arc, Mutex};
use tidings::broadcast::amqp::Relay;
use tidings::persistence::sqlite::SqliteStore;
use tidings::Bus;

/// What a `fmt` subscriber writes, kept for the test to read.
#[derive(Clone, Default)]
struct Logged(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logged {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_relay_in_a_program_without_integration_events_warns_at_start() {
    use tracing::instrument::WithSubscriber;
    let routes = Bus::builder().build().unwrap().routes();
    assert!(
        routes.messages.iter().all(|m| !m.integration),
        "this program links no integration event"
    );

    let logged = Logged::default();
    let subscriber = {
        let logged = logged.clone();
        tracing_subscriber::fmt()
            .with_writer(move || logged.clone())
            .finish()
    };
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    // No broker is needed: the warning comes before the first attempt, and the relay is
    // told to stop at once.
    let relay = Relay::new(store, "amqp://127.0.0.1:1/%2f", "ordering");
    relay
        .run_until(std::future::ready(()))
        .with_subscriber(subscriber)
        .await
        .unwrap();

    let logged = String::from_utf8(logged.0.lock().unwrap().clone()).unwrap();
    let warned: Vec<&str> = logged
        .lines()
        .filter(|line| line.contains("WARN"))
        .collect();
    assert_eq!(warned.len(), 1, "{logged}");
    for part in [
        "declares no integration event",
        "integration)]",
        "link the crates that declare them",
    ] {
        assert!(
            warned[0].contains(part),
            "`{part}` missing from: {}",
            warned[0]
        );
    }
}
