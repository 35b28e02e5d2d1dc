//! Appending: expected versions, conflicts, retries, duplicates, concurrent writers.

use super::{assert_rising, counted, counts, ok, span};
use crate::persistence::{EventStore, ExpectedVersion, StoreError};
use ExpectedVersion::{Any, Exact, NoStream, StreamExists};

/// Asserts that `result` is the conflict described, and that its message names the stream.
#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    stream: &str,
    expected: ExpectedVersion,
    actual: u64,
) {
    match result {
        Err(StoreError::Conflict {
            stream: s,
            expected: e,
            actual: a,
        }) => {
            assert_eq!(
                (s.as_str(), e, a),
                (stream, expected, actual),
                "the conflict names the stream, the expected and the actual version"
            );
            let message = StoreError::Conflict {
                stream: s,
                expected: e,
                actual: a,
            }
            .to_string();
            assert!(message.contains(stream), "`{message}` names the stream");
        }
        other => panic!(
            "appending to `{stream}` expecting {expected} at version {actual} must conflict, got {other:?}"
        ),
    }
}

async fn count<S: EventStore>(store: &S) -> usize {
    ok(store.read_all(0, usize::MAX).await, "read_all").len()
}

/// `NoStream` creates a stream, and conflicts once it exists.
pub async fn no_stream_creates_the_stream<S: EventStore>(store: &S) {
    let appended = ok(store.append("a", NoStream, &counts(0..2)).await, "append");
    assert_eq!(
        span(&appended.positions),
        2,
        "two events take two consecutive positions"
    );
    assert!(appended.positions.start > 0, "positions start above 0");
    assert_eq!(appended.stream_version, 2);
    assert!(!appended.already_stored);
    assert_conflict(
        store.append("a", NoStream, &counts(2..3)).await,
        "a",
        NoStream,
        2,
    );
}

/// `Any` appends to a new stream and to an existing one.
pub async fn any_appends_whatever_the_version<S: EventStore>(store: &S) {
    let first = ok(store.append("a", Any, &counts(0..1)).await, "append");
    assert_eq!(first.stream_version, 1);
    let second = ok(store.append("a", Any, &counts(1..3)).await, "append");
    assert_eq!((span(&second.positions), second.stream_version), (2, 3));
    assert_rising(&[&first.positions, &second.positions]);
}

/// `StreamExists` conflicts on a stream without events.
pub async fn stream_exists_requires_events<S: EventStore>(store: &S) {
    assert_conflict(
        store.append("a", StreamExists, &counts(0..1)).await,
        "a",
        StreamExists,
        0,
    );
    ok(store.append("a", NoStream, &counts(0..1)).await, "append");
    let appended = ok(
        store.append("a", StreamExists, &counts(1..2)).await,
        "append",
    );
    assert_eq!(appended.stream_version, 2);
}

/// `Exact(n)` appends only to a stream at version `n`; `Exact(0)` is a stream with no events.
pub async fn exact_version_must_match<S: EventStore>(store: &S) {
    assert_conflict(
        store.append("a", Exact(1), &counts(0..1)).await,
        "a",
        Exact(1),
        0,
    );
    let first = ok(
        store.append("a", Exact(0), &counts(0..2)).await,
        "append at 0",
    );
    assert_conflict(
        store.append("a", Exact(1), &counts(2..3)).await,
        "a",
        Exact(1),
        2,
    );
    assert_conflict(
        store.append("a", Exact(3), &counts(2..3)).await,
        "a",
        Exact(3),
        2,
    );
    assert_conflict(
        store.append("a", Exact(0), &counts(2..3)).await,
        "a",
        Exact(0),
        2,
    );
    let appended = ok(
        store.append("a", Exact(2), &counts(2..4)).await,
        "append at 2",
    );
    assert_eq!((span(&appended.positions), appended.stream_version), (2, 4));
    assert_rising(&[&first.positions, &appended.positions]);
}

/// A conflicting append writes none of its events.
pub async fn conflicts_write_nothing<S: EventStore>(store: &S) {
    let first = ok(store.append("a", NoStream, &counts(0..2)).await, "append");
    let _ = store.append("a", NoStream, &counts(2..5)).await;
    let _ = store.append("a", Exact(1), &counts(5..8)).await;
    let _ = store.append("b", StreamExists, &counts(8..9)).await;
    assert_eq!(count(store).await, 2, "conflicting appends wrote events");
    let stream = ok(store.read_stream("a", 0, usize::MAX).await, "read_stream");
    assert_eq!(stream.len(), 2);
    // The conflicting events' ids are not taken: they can be appended afterwards.
    let retry = counts(2..5);
    let appended = ok(
        store.append("a", Exact(2), &retry).await,
        "append after a conflict",
    );
    assert_eq!(
        (span(&appended.positions), appended.already_stored),
        (3, false)
    );
    assert_rising(&[&first.positions, &appended.positions]);
}

/// An empty batch checks the expected version and writes nothing.
pub async fn empty_batch_checks_the_version_and_writes_nothing<S: EventStore>(store: &S) {
    let empty = ok(store.append("a", NoStream, &[]).await, "empty append");
    assert!(empty.positions.is_empty());
    assert_eq!(empty.stream_version, 0);
    ok(store.append("a", NoStream, &counts(0..1)).await, "append");
    assert_conflict(store.append("a", NoStream, &[]).await, "a", NoStream, 1);
    let empty = ok(store.append("a", Exact(1), &[]).await, "empty append at 1");
    assert_eq!(empty.stream_version, 1);
    assert_eq!(count(store).await, 1);
}

/// Versions count per stream; positions rise over the whole store.
pub async fn streams_have_their_own_versions<S: EventStore>(store: &S) {
    let a = ok(store.append("a", NoStream, &counts(0..2)).await, "append a");
    let b = ok(store.append("b", NoStream, &counts(2..3)).await, "append b");
    let a2 = ok(store.append("a", Exact(2), &counts(3..4)).await, "append a");
    assert_eq!((span(&a.positions), a.stream_version), (2, 2));
    assert_eq!((span(&b.positions), b.stream_version), (1, 1));
    assert_eq!((span(&a2.positions), a2.stream_version), (1, 3));
    assert_rising(&[&a.positions, &b.positions, &a2.positions]);
}

/// A batch appended again (the same ids, to the same stream) succeeds and stores nothing,
/// reporting the first append, even with an expected version that no longer holds.
pub async fn retried_batch_is_stored_once<S: EventStore>(store: &S) {
    let batch = counts(0..3);
    let first = ok(store.append("a", NoStream, &batch).await, "append");
    let retried = ok(store.append("a", NoStream, &batch).await, "retry");
    assert!(retried.already_stored, "a retry is reported as such");
    assert_eq!(
        (retried.positions, retried.stream_version),
        (first.positions.clone(), 3)
    );
    ok(store.append("a", Exact(3), &counts(3..4)).await, "append");
    let late = ok(store.append("a", NoStream, &batch).await, "late retry");
    assert_eq!(
        (late.positions, late.stream_version),
        (first.positions.clone(), 3)
    );
    // Retrying the second half of the batch alone is a retry too.
    let tail = ok(
        store.append("a", Exact(1), &batch[1..]).await,
        "retry of a part",
    );
    assert_eq!(
        (tail.positions, tail.stream_version),
        (first.positions.start + 1..first.positions.end, 3)
    );
    assert_eq!(count(store).await, 4, "every event is stored once");
}

/// A batch holding an already stored event, that is not a retry of its append, is refused
/// whole: part stored, stored in another stream, or stored out of order.
pub async fn partly_stored_batch_is_refused<S: EventStore>(store: &S) {
    let stored = counts(0..2);
    let first = ok(store.append("a", NoStream, &stored).await, "append");
    let fresh = counted(10);
    let cases = [
        (
            "a",
            vec![stored[0].clone(), fresh.clone()],
            stored[0].metadata().id(),
        ),
        (
            "a",
            vec![fresh.clone(), stored[1].clone()],
            stored[1].metadata().id(),
        ),
        (
            "a",
            vec![stored[1].clone(), stored[0].clone()],
            stored[1].metadata().id(),
        ),
        ("b", vec![stored[0].clone()], stored[0].metadata().id()),
    ];
    for (stream, batch, duplicate) in cases {
        match store.append(stream, Any, &batch).await {
            Err(StoreError::DuplicateEvent {
                id,
                position,
                stream: at,
            }) => {
                assert_eq!(id, duplicate, "the error names the stored event");
                assert_eq!(at, "a", "the error names the stream that holds it");
                let start = first.positions.start;
                let expected = if id == stored[0].metadata().id() {
                    start
                } else {
                    start + 1
                };
                assert_eq!(position, expected, "the error names its position");
            }
            other => panic!("a batch that is not a retry must be refused, got {other:?}"),
        }
    }
    assert_eq!(count(store).await, 2, "refused batches wrote events");
    ok(
        store.append("a", Exact(2), &[fresh]).await,
        "the new event alone",
    );
}

/// A batch holding one id twice is refused whole.
pub async fn repeated_id_in_a_batch_is_refused<S: EventStore>(store: &S) {
    let event = counted(1);
    let result = store
        .append("a", NoStream, &[event.clone(), event.clone()])
        .await;
    match result {
        Err(StoreError::Unstorable { id, .. }) => assert_eq!(id, event.metadata().id()),
        other => panic!("a batch holding an id twice must be refused, got {other:?}"),
    }
    assert_eq!(count(store).await, 0);
}

/// Writers that loaded the same version append at once: one wins, the others conflict, and
/// only the winner's events are stored.
pub async fn concurrent_appends_to_one_stream_one_wins<S: EventStore>(store: &S) {
    let first = ok(store.append("a", NoStream, &counts(0..1)).await, "append");
    let batches: Vec<_> = (0..8u64)
        .map(|w| counts(100 * (w + 1)..100 * (w + 1) + 3))
        .collect();
    let appends = batches
        .iter()
        .map(|batch| store.append("a", Exact(1), batch));
    let results = futures_util::future::join_all(appends).await;
    let mut winners = Vec::new();
    for (writer, result) in results.into_iter().enumerate() {
        match result {
            Ok(appended) => winners.push((writer, appended)),
            Err(error) => assert_conflict::<()>(Err(error), "a", Exact(1), 4),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one concurrent writer wins: {winners:?}"
    );
    let (winner, appended) = &winners[0];
    assert_eq!((span(&appended.positions), appended.stream_version), (3, 4));
    assert_rising(&[&first.positions, &appended.positions]);
    let stream = ok(store.read_stream("a", 1, usize::MAX).await, "read_stream");
    let ids: Vec<_> = stream.iter().map(|e| e.metadata().id()).collect();
    let expected: Vec<_> = batches[*winner].iter().map(|e| e.metadata().id()).collect();
    assert_eq!(ids, expected, "the stream holds the winner's events");
}
