//! The tests every [`EventStore`] backend passes (feature `conformance`): run them against
//! yours.
//!
//! ```
//! use tidings::persistence::{conformance, InMemoryStore};
//!
//! # fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
//! #     let mut f = std::pin::pin!(f);
//! #     match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
//! #         std::task::Poll::Ready(out) => out,
//! #         std::task::Poll::Pending => unreachable!(),
//! #     }
//! # }
//! // In a test of your backend (`#[tokio::test] async fn ..` for an async one):
//! block_on(conformance::run(|| async { InMemoryStore::new() }));
//! ```
//!
//! [`run`] calls every check, each on a fresh, empty store from the factory. The checks are
//! public one by one too, to run them as separate tests. A check panics, naming what the
//! backend did wrong, as a failed assertion does.
//!
//! What they cover: every [`ExpectedVersion`] mode and the conflicts it raises (which write
//! nothing), idempotent retries and duplicate ids, concurrent appends to one stream (one
//! wins), reading after a position with limits and without skipping an event, reading one
//! stream, the metadata round trip, and decoding through the registry with typed errors. A
//! backend may store `occurred_on` at microsecond precision and its JSON data in any
//! equivalent form (key order, spacing).
//!
//! Positions are checked as the promise has them, not as `1, 2, 3, …`: they rise in the
//! order events were appended, one append's events take consecutive positions, and reading
//! after any position returned gives every later event. They may have holes between
//! appends (the PostgreSQL store's do; the SQLite and in-memory stores' do not).
//!
//! [`ExpectedVersion`]: crate::persistence::ExpectedVersion

mod append;
mod decode;
mod read;

pub use append::{
    any_appends_whatever_the_version, concurrent_appends_to_one_stream_one_wins,
    conflicts_write_nothing, empty_batch_checks_the_version_and_writes_nothing,
    exact_version_must_match, no_stream_creates_the_stream, partly_stored_batch_is_refused,
    repeated_id_in_a_batch_is_refused, retried_batch_is_stored_once, stream_exists_requires_events,
    streams_have_their_own_versions,
};
pub use decode::{decoding_names_the_event_that_failed, stored_events_decode_through_the_registry};
pub use read::{
    context_values_that_travel_round_trip, metadata_and_data_round_trip, read_all_after_a_position,
    read_all_pages_without_gaps, read_stream_after_a_version,
};

use crate::persistence::{EventStore, NewEvent};
use crate::{DomainEvent, Envelope, Metadata};
use std::future::Future;

/// Runs every check, each on a fresh store made by `fresh`.
pub async fn run<S, F, Fut>(mut fresh: F)
where
    S: EventStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    macro_rules! checks {
        ($($check:ident),* $(,)?) => {$(
            eprintln!("event store conformance: {}", stringify!($check));
            $check(&fresh().await).await;
        )*};
    }
    checks!(
        no_stream_creates_the_stream,
        any_appends_whatever_the_version,
        stream_exists_requires_events,
        exact_version_must_match,
        conflicts_write_nothing,
        empty_batch_checks_the_version_and_writes_nothing,
        streams_have_their_own_versions,
        retried_batch_is_stored_once,
        partly_stored_batch_is_refused,
        repeated_id_in_a_batch_is_refused,
        concurrent_appends_to_one_stream_one_wins,
        read_all_after_a_position,
        read_all_pages_without_gaps,
        read_stream_after_a_version,
        metadata_and_data_round_trip,
        context_values_that_travel_round_trip,
        stored_events_decode_through_the_registry,
        decoding_names_the_event_that_failed,
    );
}

/// The event the checks append.
#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "tidings.conformance.counted", version = 2)]
struct Counted {
    n: u64,
    label: String,
}

/// A second event type, for reading several types back.
#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "tidings.conformance.reset")]
struct Reset;

fn counted(n: u64) -> NewEvent {
    let envelope = Envelope::new(Counted {
        n,
        label: format!("count {n}"),
    });
    NewEvent::from_envelope(&envelope).expect("a `Counted` serializes")
}

fn counts(range: std::ops::Range<u64>) -> Vec<NewEvent> {
    range.map(counted).collect()
}

fn reset(cause: &Metadata) -> NewEvent {
    NewEvent::from_envelope(&Envelope::caused_by(Reset, cause)).expect("a `Reset` serializes")
}

/// How many positions a range holds.
fn span(positions: &std::ops::Range<u64>) -> u64 {
    positions.end.saturating_sub(positions.start)
}

/// Asserts that each append's positions come after the one's before it.
#[track_caller]
fn assert_rising(appends: &[&std::ops::Range<u64>]) {
    for pair in appends.windows(2) {
        assert!(
            pair[0].end <= pair[1].start,
            "positions {:?} of an append come after {:?} of an earlier one",
            pair[1],
            pair[0]
        );
    }
}

/// A store call the check needs to succeed.
fn ok<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what} failed: {e}"))
}
