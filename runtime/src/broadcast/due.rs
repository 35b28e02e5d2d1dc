//! The delivery of due scheduled messages, written once for every backend: each message in a
//! transaction of its own that removes its row, runs its handlers lent that transaction, and
//! commits their effects (and the events they record) with the removal. A backend says how it
//! claims a row and how it keeps a failed one for later.

use crate::broadcast::inbox::{handle_in, InboxError};
use crate::messaging::any::AnyEnvelope;
use crate::messaging::bus::Bus;
use crate::persistence::schedule::{DueDelivery, DueRow};
use crate::persistence::unit_of_work::Transaction;
use crate::persistence::StoreError;
use chrono::{DateTime, Utc};
use std::future::Future;

/// A message claimed for delivery: its row, removed in the open transaction `tx`, and
/// whatever the backend holds until the delivery ends (`turn`).
pub(crate) struct Claimed<Tx, Turn> {
    pub(crate) row: DueRow,
    pub(crate) tx: Tx,
    pub(crate) turn: Turn,
}

/// What a claim found: a message, or none due.
pub(crate) type Claim<Tx, Turn> = Result<Option<Claimed<Tx, Turn>>, StoreError>;

/// A backend's table of scheduled messages, as a delivery reads it.
pub(crate) trait DueMessages: Sync {
    /// The transaction a claimed message is delivered in, lent to its handlers.
    type Tx: Transaction;
    /// What the backend holds for the length of one delivery.
    type Turn: Send;

    /// Opens a transaction and removes in it the first row due at `now` that no other
    /// delivery holds; with none, the transaction is closed and the answer is `None`.
    fn claim(&self, now: DateTime<Utc>)
        -> impl Future<Output = Claim<Self::Tx, Self::Turn>> + Send;

    /// Keeps the message `id` for another attempt after its backoff, with its error, in a
    /// transaction of its own.
    fn retry(
        &self,
        id: &str,
        attempts: u32,
        now: DateTime<Utc>,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Delivers every message due at `now`, oldest first, until none is left that this caller
/// can claim.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the backends")
)]
pub(crate) async fn deliver_due<D: DueMessages>(
    due: &D,
    bus: &Bus,
    now: DateTime<Utc>,
) -> Result<DueDelivery, InboxError> {
    let mut done = DueDelivery::default();
    while let Some(Claimed { row, tx, turn }) = due
        .claim(now)
        .await
        .map_err(|source| store(String::new(), source))?
    {
        let failed = match AnyEnvelope::from_json(&row.envelope) {
            Ok(envelope) => handle_in(tx, envelope, bus)
                .await
                .err()
                .map(|error| error.to_string()),
            Err(error) => {
                tx.rollback()
                    .await
                    .map_err(|source| store(row.id.clone(), source))?;
                Some(format!("the scheduled message does not decode: {error}"))
            }
        };
        match failed {
            None => done.delivered += 1,
            Some(error) => {
                tracing::warn!(
                    id = row.id,
                    attempts = row.attempts + 1,
                    error,
                    "a scheduled message failed and will be delivered again"
                );
                due.retry(&row.id, row.attempts, now, &error)
                    .await
                    .map_err(|source| store(row.id.clone(), source))?;
                done.failed += 1;
            }
        }
        drop(turn);
    }
    Ok(done)
}

/// Delivers messages as they fall due until `stop` completes: a pass of [`deliver_due`] at
/// the current time, again at once while a pass delivers anything, otherwise after `poll`.
/// A pass that fails (the database unreachable, say) is logged at WARN and tried again after
/// `poll`; its messages stay where they are. `stop` is looked at between passes, so a
/// delivery under way finishes.
#[cfg(any(feature = "tokio", feature = "postgres"))]
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the backends")
)]
pub(crate) async fn run_until<D: DueMessages>(
    due: &D,
    bus: &Bus,
    poll: std::time::Duration,
    stop: impl Future<Output = ()>,
) {
    use futures_util::FutureExt;
    let mut stop = std::pin::pin!(stop);
    loop {
        match deliver_due(due, bus, Utc::now()).await {
            Ok(done) if done.delivered + done.failed > 0 => {
                if (&mut stop).now_or_never().is_some() {
                    return;
                }
                continue;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error = %error, "scheduled messages could not be delivered; trying again");
            }
        }
        tokio::select! {
            biased;
            () = &mut stop => return,
            () = tokio::time::sleep(poll) => {}
        }
    }
}

fn store(id: String, source: StoreError) -> InboxError {
    InboxError::Store { id, source }
}
