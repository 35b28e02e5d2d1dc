//! Processes kept in the store: each step loads the instance's state, moves it on, and saves
//! it in the transaction of the delivery that brought the event, with what the step asked
//! for (timeouts, cancellations, outbox events) and the inbox record of the event.
//!
//! A process is declared with `#[derive(Process)]` (see [`Process`](crate::Process)); its
//! steps are registered at link time as handlers of its events, lent the delivery's
//! transaction, so they run where a transaction is lent: an inbox's delivery (events from
//! other contexts, or from this store through a relay) and the delivery of due scheduled
//! messages (its timeouts). A plain `bus.publish` of such an event reports the step as not
//! lent a transaction, rather than dropping it.
//!
//! A step that fails is its delivery's failure, as a [`ProcessError`] naming the process,
//! the instance and the event; the delivery rolls back and the event comes again:
//!
//! ```
//! use tidings::persistence::process::ProcessError;
//! use tidings::PublishError;
//!
//! /// What an operator reads about a failed delivery.
//! fn explain(failed: &PublishError) -> String {
//!     match failed.downcast_ref::<ProcessError>() {
//!         Some(ProcessError::Conflict { process, key, .. }) => {
//!             format!("{process} {key}: moved on meanwhile, retried")
//!         }
//!         Some(ProcessError::Step { process, key, event, .. }) => {
//!             format!("{process} {key}: its step on {event} failed")
//!         }
//!         Some(other) => other.to_string(),
//!         None => failed.to_string(),
//!     }
//! }
//! ```

use crate::messaging::any::AnyEnvelope;
use crate::messaging::bus::call::HandlerResult;
use crate::messaging::bus::invocation::Invocation;
use crate::messaging::process::{On, Role, ScheduleId, Step, Unknown};
use crate::persistence::store::StoreError;
use crate::{DomainEvent, Envelope};
use chrono::{DateTime, Utc};
use std::future::Future;

/// An instance's row: its state's JSON, whether it ended, and how many steps it took.
#[derive(Debug)]
pub struct StateRow {
    pub(crate) state: String,
    pub(crate) ended: bool,
    pub(crate) version: i64,
}

/// A backend's transaction as a process's step uses it. Implemented by the SQLite and
/// PostgreSQL transactions.
#[diagnostic::on_unimplemented(
    message = "processes on this store need tidings' feature for it",
    label = "`{Self}` is not enabled",
    note = "`store = sqlite` needs tidings' `sqlite` feature, and `store = postgres` its `postgres` feature"
)]
pub trait ProcessTransaction: Send + Sync + 'static + sealed::Sealed {
    /// The state of the instance `key` of `process`.
    #[doc(hidden)]
    fn load_state(
        &self,
        process: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<StateRow>, StoreError>> + Send;
    /// Saves the state: a new row when `loaded` is `None`, else the row still at `loaded`;
    /// `false` when another step wrote it first.
    #[doc(hidden)]
    fn save_state(
        &self,
        process: &str,
        key: &str,
        state: &str,
        ended: bool,
        loaded: Option<i64>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    #[doc(hidden)]
    fn schedule(
        &self,
        at: DateTime<Utc>,
        envelope: &AnyEnvelope,
    ) -> impl Future<Output = Result<ScheduleId, StoreError>> + Send;
    #[doc(hidden)]
    fn cancel(&self, id: ScheduleId) -> impl Future<Output = Result<bool, StoreError>> + Send;
    #[doc(hidden)]
    fn record_any(&self, stream: &str, envelope: AnyEnvelope);
}

/// What a process declared on the SQLite store names when tidings is built without its
/// `sqlite` feature: no transaction, so the process's step reports the missing feature.
#[cfg(not(feature = "sqlite"))]
#[doc(hidden)]
#[derive(Debug)]
pub enum SqliteTransaction {}

/// What a process declared on the PostgreSQL store names when tidings is built without its
/// `postgres` feature: no transaction, so the process's step reports the missing feature.
#[cfg(not(feature = "postgres"))]
#[doc(hidden)]
#[derive(Debug)]
pub enum PostgresTransaction {}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// Why a process's step failed; the delivery rolls back and the event comes again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The stored state does not decode as the process's state type.
    #[error("the state of process `{process}` instance `{key}` does not decode: {reason}")]
    StateDoesNotDecode {
        /// The process.
        process: &'static str,
        /// The instance's correlation key.
        key: String,
        /// What serde reported.
        reason: String,
    },
    /// The state does not serialise.
    #[error("the state of process `{process}` instance `{key}` does not serialize: {reason}")]
    StateDoesNotSerialize {
        /// The process.
        process: &'static str,
        /// The instance's correlation key.
        key: String,
        /// What serde reported.
        reason: String,
    },
    /// Another step of the same instance saved first (on a database with concurrent
    /// deliveries): the event is delivered again and meets the new state.
    #[error("process `{process}` instance `{key}` moved on meanwhile: its step is retried")]
    Conflict {
        /// The process.
        process: &'static str,
        /// The instance's correlation key.
        key: String,
    },
    /// The step itself failed.
    #[error("process `{process}` instance `{key}` failed its step on `{event}`: {source}")]
    Step {
        /// The process.
        process: &'static str,
        /// The instance's correlation key.
        key: String,
        /// The event's name.
        event: &'static str,
        /// The step's error.
        #[source]
        source: crate::BoxError,
    },
    /// The store failed.
    #[error("process `{process}`: {source}")]
    Store {
        /// The process.
        process: &'static str,
        /// What the store reported.
        #[source]
        source: StoreError,
    },
}

/// The step a process's registration runs for an event of type `E`: the shim `#[derive(Process)]`
/// registers calls it with the handler's invocation (its one dependency is the transaction).
#[doc(hidden)]
pub async fn step<P, E, Tx>(
    envelope: &Envelope<E>,
    invocation: &Invocation<'_>,
    role: Role,
) -> HandlerResult
where
    P: On<E>,
    E: DomainEvent,
    Tx: ProcessTransaction,
{
    let tx = invocation.dependency::<Tx>(0);
    let ctx = invocation.context();
    let key = P::key(envelope.payload());
    let store = |source| ProcessError::Store {
        process: P::NAME,
        source,
    };
    let loaded = tx.load_state(P::NAME, &key).await.map_err(store)?;
    let (mut state, version) = match loaded {
        Some(row) if row.ended => {
            tracing::warn!(
                process = P::NAME,
                key = %key,
                event = E::NAME,
                id = %envelope.metadata().id(),
                "an event for a process instance that has ended is ignored"
            );
            return Ok(());
        }
        Some(row) => {
            let state = serde_json::from_str::<P>(&row.state).map_err(|error| {
                ProcessError::StateDoesNotDecode {
                    process: P::NAME,
                    key: key.clone(),
                    reason: error.to_string(),
                }
            })?;
            (state, Some(row.version))
        }
        None if role == Role::Start || P::UNKNOWN == Unknown::Start => {
            if role != Role::Start {
                tracing::warn!(
                    process = P::NAME,
                    key = %key,
                    event = E::NAME,
                    id = %envelope.metadata().id(),
                    "an event for an unknown process instance starts one, as the process declares"
                );
            }
            (P::default(), None)
        }
        None => {
            tracing::warn!(
                process = P::NAME,
                key = %key,
                event = E::NAME,
                id = %envelope.metadata().id(),
                "an event for an unknown process instance is ignored, as the process declares"
            );
            return Ok(());
        }
    };
    let mut step = Step::new(&key, Some(envelope.metadata()), Utc::now());
    state
        .on(envelope, &mut step)
        .map_err(|source| ProcessError::Step {
            process: P::NAME,
            key: key.clone(),
            event: E::NAME,
            source,
        })?;
    for id in step.cancelled.drain(..) {
        tx.cancel(id).await.map_err(store)?;
    }
    for (at, envelope) in step.scheduled.drain(..) {
        tx.schedule(at, &envelope).await.map_err(store)?;
    }
    for (stream, envelope) in step.recorded.drain(..) {
        tx.record_any(&stream, envelope);
    }
    let json =
        serde_json::to_string(&state).map_err(|error| ProcessError::StateDoesNotSerialize {
            process: P::NAME,
            key: key.clone(),
            reason: error.to_string(),
        })?;
    let saved = tx
        .save_state(P::NAME, &key, &json, step.is_ended(), version)
        .await
        .map_err(store)?;
    if !saved {
        return Err(ProcessError::Conflict {
            process: P::NAME,
            key: key.clone(),
        }
        .into());
    }
    step.queue_on(ctx);
    Ok(())
}
