//! A consumer process for the fault-injection test, which kills it at random moments while it
//! holds unacknowledged messages:
//! `consumer <inbox file> <amqp uri> <exchange> <queue> <prefetch>`.
//!
//! Its handler writes one row per effect (`effects`) in the inbox's transaction; a delivery the
//! inbox recognises as a repeat is counted in `repeats`, outside any transaction, so the test
//! can report how many duplicates the inbox absorbed. `consumer_unlinked` is the same program
//! without this handler: a consuming context deployed without its handling crate.

use tidings::handler;
use tidings::persistence::sqlite::{rusqlite, SqliteTransaction};
use tidings::persistence::StoreError;
use tidings::Envelope;
use tidings_tests::Numbered;

/// The effect: one row per event handled, in the order they are handled.
#[handler]
fn record_effect(event: &Envelope<Numbered>, tx: &SqliteTransaction) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO effects (n, event_id) VALUES (?1, ?2)",
        rusqlite::params![event.n as i64, event.metadata().id().to_string()],
    )
    .map(drop)
}

fn main() {
    let _ = tidings::linked!(tidings_tests);
    tidings_tests::consumer::main();
}
