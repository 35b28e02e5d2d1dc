//! `InMemoryStore`: the event store for tests, in a vector behind a mutex.

use crate::persistence::event::{NewEvent, StoredEvent};
use crate::persistence::store::{Appended, EventStore, ExpectedVersion, StoreError};
use rustc_hash::FxHashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use uuid::Uuid;

/// An event store in memory: for tests and prototypes. It keeps every event until dropped.
///
/// ```
/// use tidings::persistence::{ExpectedVersion, InMemoryStore, NewEvent};
/// use tidings::{DomainEvent, Envelope};
///
/// #[derive(DomainEvent, Debug)]
/// #[event(name = "docs.lamp_lit")]
/// struct LampLit { lamp: u32 }
///
/// let store = InMemoryStore::new();
/// let event = NewEvent::from_envelope(&Envelope::new(LampLit { lamp: 1 }))?;
/// let appended = store.append_sync("lamp-1", ExpectedVersion::NoStream, &[event])?;
/// assert_eq!(appended.positions, 1..2);
///
/// let stored = store.read_stream_sync("lamp-1", 0, 10)?;
/// assert_eq!(stored[0].decode_as::<LampLit>()?.lamp, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct InMemoryStore {
    inner: Mutex<Log>,
}

#[derive(Debug, Default)]
struct Log {
    /// Every event, in position order: the event at position `p` is at index `p - 1`.
    events: Vec<StoredEvent>,
    /// The indexes of each stream's events, in order: a stream's version is their count.
    streams: FxHashMap<String, Vec<usize>>,
    /// The index of each stored event id.
    ids: FxHashMap<Uuid, usize>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> InMemoryStore {
        InMemoryStore::default()
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        // Every change to the log happens after all checks, in one push loop that cannot
        // panic halfway, so a poisoned lock still guards a consistent log.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`EventStore::append`], synchronously.
    pub fn append_sync(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Appended, StoreError> {
        let mut log = self.log();
        if let Some(retried) = log.retry(stream, events)? {
            return Ok(retried);
        }
        let actual = log.streams.get(stream).map_or(0, |s| s.len() as u64);
        expected.check(stream, actual)?;
        log.check_new_ids(events)?;

        let first = log.events.len() as u64 + 1;
        let mut indexes = Vec::with_capacity(events.len());
        for (offset, event) in events.iter().enumerate() {
            let index = log.events.len();
            log.ids.insert(event.metadata().id(), index);
            log.events.push(StoredEvent::from_parts(
                index as u64 + 1,
                stream,
                actual + offset as u64 + 1,
                event.clone(),
            ));
            indexes.push(index);
        }
        if !events.is_empty() {
            log.streams
                .entry(stream.to_owned())
                .or_default()
                .extend(indexes);
        }
        Ok(Appended::new(
            first..first + events.len() as u64,
            actual + events.len() as u64,
            false,
        ))
    }

    /// [`EventStore::read_all`], synchronously.
    pub fn read_all_sync(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let log = self.log();
        let start = usize::try_from(after)
            .unwrap_or(usize::MAX)
            .min(log.events.len());
        Ok(log.events[start..].iter().take(limit).cloned().collect())
    }

    /// [`EventStore::read_stream`], synchronously.
    pub fn read_stream_sync(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let log = self.log();
        let Some(indexes) = log.streams.get(stream) else {
            return Ok(Vec::new());
        };
        let start = usize::try_from(after)
            .unwrap_or(usize::MAX)
            .min(indexes.len());
        Ok(indexes[start..]
            .iter()
            .take(limit)
            .map(|&index| log.events[index].clone())
            .collect())
    }
}

impl Log {
    /// If the batch's first event is stored, the batch must be a retry of the append that
    /// stored it: the same events, in the same stream, at consecutive positions.
    fn retry(&self, stream: &str, events: &[NewEvent]) -> Result<Option<Appended>, StoreError> {
        let Some(first) = events.first() else {
            return Ok(None);
        };
        let Some(&start) = self.ids.get(&first.metadata().id()) else {
            return Ok(None);
        };
        let stored = &self.events[start];
        let same = events.iter().enumerate().all(|(offset, event)| {
            self.events
                .get(start + offset)
                .is_some_and(|e| e.metadata().id() == event.metadata().id() && e.stream == stream)
        });
        if !same {
            return Err(StoreError::DuplicateEvent {
                id: stored.metadata().id(),
                position: stored.position,
                stream: stored.stream.clone(),
            });
        }
        Ok(Some(Appended::new(
            stored.position..stored.position + events.len() as u64,
            stored.stream_version + events.len() as u64 - 1,
            true,
        )))
    }

    /// No event of the batch may be stored already, nor appear twice in it.
    fn check_new_ids(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        let mut seen = rustc_hash::FxHashSet::default();
        for event in events {
            if let Some(&index) = self.ids.get(&event.metadata().id()) {
                let stored = &self.events[index];
                return Err(StoreError::DuplicateEvent {
                    id: stored.metadata().id(),
                    position: stored.position,
                    stream: stored.stream.clone(),
                });
            }
            if !seen.insert(event.metadata().id()) {
                return Err(StoreError::Unstorable {
                    id: event.metadata().id(),
                    reason: "it appears twice in the batch".to_owned(),
                });
            }
        }
        Ok(())
    }
}

impl EventStore for InMemoryStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Appended, StoreError> {
        self.append_sync(stream, expected, events)
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.read_all_sync(after, limit)
    }

    async fn read_stream(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.read_stream_sync(stream, after, limit)
    }
}
