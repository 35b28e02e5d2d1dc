//! The delivery of due scheduled messages, written once for every backend: each event in a
//! transaction of its own that removes its row, runs its handlers lent that transaction, and
//! commits their effects (and the events they record) with the removal. A command is sent
//! outside that transaction, since its handler commits a unit of work of its own: its row is
//! held for the inbox's command lease, the command sent, and the row removed once it succeeded. A
//! backend says how it claims, holds and removes a row and how it keeps a failed one for
//! later.

use crate::broadcast::inbox::{handle_in, InboxError};
use crate::messaging::any::AnyEnvelope;
use crate::messaging::bus::Bus;
use crate::messaging::message::MessageKind;
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

    /// Holds the message `id`, due at `now`, until `until`, in a transaction of its own: due
    /// again then, unless removed before. `false` when it is gone or no longer due at `now`
    /// (another delivery holds it).
    fn hold(
        &self,
        id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Removes the row of the message `id`, in a transaction of its own.
    fn remove(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// How long a scheduled command is held for the delivery that sends it: another delivery
    /// sends it again after this if the first never removed its row (killed after the
    /// command's handler committed, say), so a command is delivered at least once.
    fn command_lease(&self) -> std::time::Duration;
}

/// How long a scheduled command is held for its delivery unless the inbox says otherwise.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the backends")
)]
pub(crate) const COMMAND_LEASE: std::time::Duration = std::time::Duration::from_secs(60);

/// What became of a claimed command.
enum Sent {
    /// Its handler succeeded and its row is gone.
    Done,
    /// Another delivery held it first.
    Taken,
    /// It failed: it stays for another attempt.
    Failed(String),
}

/// Sends the command `envelope`, claimed in `tx`: gives the row back, holds it for the
/// inbox's [command lease](DueMessages::command_lease), sends the command, and removes the row
/// once that succeeded.
async fn send_claimed<D: DueMessages>(
    due: &D,
    bus: &Bus,
    tx: D::Tx,
    row: &DueRow,
    envelope: AnyEnvelope,
    now: DateTime<Utc>,
) -> Result<Sent, InboxError> {
    let store_error = |source| store(row.id.clone(), source);
    tx.rollback().await.map_err(store_error)?;
    let until = crate::messaging::process::later(now, due.command_lease());
    if !due.hold(&row.id, now, until).await.map_err(store_error)? {
        return Ok(Sent::Taken);
    }
    let command = match envelope.into_command() {
        Ok(command) => command,
        Err(other) => unreachable!("`{}` was checked to be a command", other.name()),
    };
    if !bus.sends(&*command) {
        return Ok(Sent::Failed(format!(
            "no handler of this program takes the scheduled command `{}`: link the crate that \
             handles it (`Bus::builder().require(tidings::linked!(that_crate))`); the command \
             stays scheduled and is sent again after a backoff",
            command.name()
        )));
    }
    match bus.send_any(command).await {
        Ok(()) => {
            due.remove(&row.id).await.map_err(store_error)?;
            Ok(Sent::Done)
        }
        Err(error) => Ok(Sent::Failed(error.to_string())),
    }
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
            Ok(envelope) if envelope.kind() == MessageKind::Command => {
                match send_claimed(due, bus, tx, &row, envelope, now).await? {
                    Sent::Done => None,
                    Sent::Taken => continue,
                    Sent::Failed(error) => Some(error),
                }
            }
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
