//! The fault-injection test's consumer process on PostgreSQL:
//! `consumer_postgres postgres:<schema> <amqp uri> <exchange> <queue> <prefetch>`, on the
//! server that `TIDINGS_TEST_POSTGRES` names.
//!
//! Its handler writes one row per effect (`effects`) in the inbox's transaction; see
//! `src/bin/consumer.rs` for the same process on SQLite.

use tidings::persistence::postgres::{sqlx, PostgresTransaction};
use tidings::{handler, Envelope};
use tidings_tests::Numbered;

/// The effect: one row per event handled, in the order they are handled.
#[handler]
async fn record_effect(
    event: &Envelope<Numbered>,
    tx: &PostgresTransaction,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    sqlx::query("INSERT INTO effects (n, event_id) VALUES ($1, $2)")
        .bind(event.n as i64)
        .bind(event.metadata().id().to_string())
        .execute(&mut *tx.lock()?)
        .await?;
    Ok(())
}

fn main() {
    let _ = tidings::linked!(tidings_tests);
    tidings_tests::consumer::main();
}
