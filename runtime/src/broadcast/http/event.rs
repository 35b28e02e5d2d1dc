//! A stored event as the feed serves it: decoded through the registry (older versions
//! upcast), in its CloudEvents JSON form, with its stream and global position.

use super::error::FeedError;
use crate::persistence::{EventStore, StoredEvent};
use serde_json::Value;

/// The extension attribute that carries the stream, as the AMQP binding names it.
const SUBJECT: &str = "subject";
/// The extension attribute that carries the global position.
const POSITION: &str = "position";

/// The CloudEvents JSON of `event` at its type's current version, with `subject` and
/// `position`.
pub(super) fn cloud_event(event: &StoredEvent) -> Result<Value, FeedError> {
    let envelope = event.decode().map_err(FeedError::Decode)?;
    let encode = |source| FeedError::Encode {
        position: event.position(),
        source,
    };
    let mut json = envelope.to_json().map_err(encode)?;
    if let Value::Object(attributes) = &mut json {
        attributes.insert(SUBJECT.to_owned(), Value::from(event.stream()));
        attributes.insert(POSITION.to_owned(), Value::from(event.position()));
    }
    Ok(json)
}

/// At most `limit` events after `after`, each as [`cloud_event`] makes it, with the last
/// position read (`None`: there was nothing after `after`).
pub(super) async fn read<S: EventStore>(
    store: &S,
    after: u64,
    limit: usize,
) -> Result<(Vec<(u64, Value)>, Option<u64>), FeedError> {
    let events = store
        .read_all(after, limit)
        .await
        .map_err(|source| FeedError::Store { after, source })?;
    let last = events.last().map(StoredEvent::position);
    let encoded = events
        .iter()
        .map(|event| Ok((event.position(), cloud_event(event)?)))
        .collect::<Result<_, FeedError>>()?;
    Ok((encoded, last))
}
