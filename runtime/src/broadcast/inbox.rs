//! The inbox: which events a consumer already had its effect for.

use crate::messaging::any::AnyEnvelope;
use crate::messaging::bus::dispatch::any::PublishAnyError;
use crate::messaging::bus::Bus;
use crate::persistence::unit_of_work::Transaction;
use crate::persistence::{ExpectedVersion, NewEvent, StoreError};
use std::future::Future;

/// Dispatches received events to a bus's handlers at most once per consumer and event (its
/// CloudEvents `source` and `id`, as the producer sent them: ids are unique per source),
/// recording the id in the same transaction as the handlers' effects: a message delivered
/// again (the broker redelivers whatever was not acknowledged) has its effect once.
///
/// An event that no handler of the program takes is refused ([`InboxError::NoHandler`]) and
/// nothing is recorded: once the program links its handler, the event is delivered again and
/// has its effect.
pub trait Inbox: Send + Sync {
    /// Publishes `envelope` on `bus` unless `consumer` already received it (the same source
    /// and id); the record
    /// and the handlers' writes commit together, or neither does when a handler fails.
    fn deliver(
        &self,
        consumer: &str,
        envelope: AnyEnvelope,
        bus: &Bus,
    ) -> impl Future<Output = Result<Delivered, InboxError>> + Send;
}

/// What [`Inbox::deliver`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// The handlers ran and their effects committed with the record.
    Handled,
    /// The event was received before: nothing ran.
    AlreadyHandled,
}

/// Why an event could not be delivered; nothing of it was committed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InboxError {
    /// The inbox's database failed.
    #[error("the inbox could not record event `{id}`: {source}")]
    Store {
        /// The event's id, as its producer sent it.
        id: String,
        /// What the database reported.
        #[source]
        source: StoreError,
    },
    /// No handler of this program takes the event (the crate that handles it is not linked,
    /// or the handler is in another phase): nothing ran and nothing was recorded, so the
    /// event can be delivered again once the program has its handler.
    #[error(
        "no handler of this program takes event `{id}` (`{name}`), so it was not recorded: link \
         the crate that handles it (`Bus::builder().require(tidings::linked!(that_crate))`), \
         or give `{name}` an `immediate` handler, then deliver it again"
    )]
    NoHandler {
        /// The event's id, as its producer sent it.
        id: String,
        /// The event's wire name.
        name: &'static str,
    },
    /// A handler failed: its effects and the record were rolled back.
    #[error("the handlers of event `{id}` failed, so it was not recorded: {source}")]
    Handlers {
        /// The event's id, as its producer sent it.
        id: String,
        /// What failed.
        #[source]
        source: PublishAnyError,
    },
}

/// Refuses an event that no handler of `bus` takes, before anything is recorded.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the inboxes of the backends")
)]
pub(crate) fn refuse_unhandled(envelope: &AnyEnvelope, bus: &Bus) -> Result<(), InboxError> {
    if bus.handler_count(envelope) == 0 {
        return Err(InboxError::NoHandler {
            id: envelope.metadata().wire_id().into_owned(),
            name: envelope.name(),
        });
    }
    Ok(())
}

/// Appends what the handlers recorded on the delivery's transaction, each to its stream.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the inboxes of the backends")
)]
pub(crate) async fn append_recorded<Tx: Transaction>(tx: &Tx) -> Result<(), StoreError> {
    for (stream, event) in tx.recorded().take() {
        let row = NewEvent::from_any(&event).map_err(|error| StoreError::Unstorable {
            id: event.metadata().id(),
            reason: format!("`{}` does not serialize: {error}", event.name()),
        })?;
        tx.append(&stream, ExpectedVersion::Any, &[row]).await?;
    }
    Ok(())
}

/// A delivery once its transaction is open and the event is recorded in it: the handlers run,
/// lent the transaction; what they recorded is appended; everything commits, or rolls back
/// when a handler failed. Each backend's inbox opens the transaction and calls this.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the inboxes of the backends")
)]
pub(crate) async fn handle_in<Tx: Transaction>(
    tx: Tx,
    envelope: AnyEnvelope,
    bus: &Bus,
) -> Result<Delivered, InboxError> {
    let id = envelope.metadata().wire_id().into_owned();
    let store = |source| InboxError::Store {
        id: id.clone(),
        source,
    };
    let tx = std::sync::Arc::new(tx);
    let handled = bus
        .publish_any_lending(envelope, crate::messaging::bus::scoped::Scope::new(&tx))
        .await;
    let outcome = match handled {
        Ok(()) => append_recorded(&*tx).await.map_err(store),
        Err(source) => Err(InboxError::Handlers {
            id: id.clone(),
            source,
        }),
    };
    match outcome {
        Ok(()) => {
            tx.commit().await.map_err(store)?;
            Ok(Delivered::Handled)
        }
        Err(error) => {
            tx.rollback().await.map_err(store)?;
            Err(error)
        }
    }
}
