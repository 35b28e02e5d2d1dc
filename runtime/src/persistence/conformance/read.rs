//! Reading: after a position, with limits, one stream, and what a stored event carries.

use super::{counted, counts, ok, reset};
use crate::persistence::{EventStore, ExpectedVersion, NewEvent, StoredEvent};
use crate::{Envelope, Metadata};
use chrono::{TimeDelta, TimeZone, Utc};
use uuid::Uuid;
use ExpectedVersion::{Any, NoStream};

/// Appends 3 events to `a`, 2 to `b`, 2 to `a`; returns them and their 7 positions.
async fn interleaved<S: EventStore>(store: &S) -> (Vec<NewEvent>, Vec<u64>) {
    let events = counts(0..7);
    let mut at = Vec::new();
    for (stream, expected, batch) in [
        ("a", NoStream, &events[0..3]),
        ("b", NoStream, &events[3..5]),
        ("a", Any, &events[5..7]),
    ] {
        at.extend(ok(store.append(stream, expected, batch).await, "append").positions);
    }
    (events, at)
}

fn positions(events: &[StoredEvent]) -> Vec<u64> {
    events.iter().map(StoredEvent::position).collect()
}

/// `read_all` returns the events after a position, in order, at most `limit` of them.
pub async fn read_all_after_a_position<S: EventStore>(store: &S) {
    assert!(ok(store.read_all(0, 10).await, "read_all").is_empty());
    let (appended, at) = interleaved(store).await;
    let all = ok(store.read_all(0, usize::MAX).await, "read_all");
    assert_eq!(
        positions(&all),
        at,
        "each event at the position its append reported"
    );
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "positions rise in append order: {at:?}"
    );
    let ids: Vec<_> = all.iter().map(|e| e.metadata().id()).collect();
    let expected: Vec<_> = appended.iter().map(|e| e.metadata().id()).collect();
    assert_eq!(
        ids, expected,
        "events come back in the order they were appended"
    );
    let placed: Vec<_> = all
        .iter()
        .map(|e| (e.stream(), e.stream_version()))
        .collect();
    assert_eq!(
        placed,
        [
            ("a", 1),
            ("a", 2),
            ("a", 3),
            ("b", 1),
            ("b", 2),
            ("a", 4),
            ("a", 5)
        ]
    );
    assert_eq!(
        positions(&ok(store.read_all(at[2], 2).await, "read_all")),
        at[3..5]
    );
    assert_eq!(
        positions(&ok(store.read_all(at[4], 100).await, "read_all")),
        at[5..7]
    );
    let between = at[4] + 1;
    assert_eq!(
        positions(&ok(store.read_all(between, 100).await, "read_all")),
        at.iter()
            .copied()
            .filter(|p| *p > between)
            .collect::<Vec<_>>(),
        "after any position, held by an event or not"
    );
    assert!(ok(store.read_all(at[6], 10).await, "read_all").is_empty());
    assert!(ok(store.read_all(u64::MAX, 10).await, "read_all").is_empty());
    assert!(
        ok(store.read_all(0, 0).await, "read_all").is_empty(),
        "limit 0"
    );
}

/// Paging through the store with a small limit, each page after the last position read,
/// returns every event once.
pub async fn read_all_pages_without_gaps<S: EventStore>(store: &S) {
    let mut at = Vec::new();
    for round in 0..10u64 {
        let stream = format!("s{}", round % 3);
        let batch = counts(round * 10..round * 10 + (round % 4) + 1);
        at.extend(ok(store.append(&stream, Any, &batch).await, "append").positions);
    }
    let mut seen = Vec::new();
    loop {
        let after = seen.last().copied().unwrap_or(0);
        let page = ok(store.read_all(after, 4).await, "read_all");
        assert!(page.len() <= 4, "a page holds at most `limit` events");
        if page.is_empty() {
            break;
        }
        seen.extend(positions(&page));
    }
    let total: u64 = (0..10).map(|round| round % 4 + 1).sum();
    assert_eq!(at.len() as u64, total);
    assert_eq!(seen, at, "pages skip or repeat nothing");
}

/// `read_stream` returns one stream's events after a version, at most `limit` of them.
pub async fn read_stream_after_a_version<S: EventStore>(store: &S) {
    let (_, at) = interleaved(store).await;
    let a = ok(store.read_stream("a", 0, usize::MAX).await, "read_stream");
    let versions: Vec<_> = a.iter().map(StoredEvent::stream_version).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
    assert_eq!(positions(&a), [at[0], at[1], at[2], at[5], at[6]]);
    assert!(a.iter().all(|e| e.stream() == "a"));
    let page = ok(store.read_stream("a", 2, 2).await, "read_stream");
    assert_eq!(positions(&page), [at[2], at[5]]);
    assert_eq!(
        positions(&ok(store.read_stream("b", 0, 10).await, "read_stream")),
        at[3..5]
    );
    assert!(ok(store.read_stream("a", 5, 10).await, "read_stream").is_empty());
    assert!(ok(store.read_stream("c", 0, 10).await, "read_stream").is_empty());
    assert!(ok(store.read_stream("a", 0, 0).await, "read_stream").is_empty());
}

/// What was appended comes back: id, name, version, occurred-on (to the microsecond),
/// correlation, causation, source and data.
pub async fn metadata_and_data_round_trip<S: EventStore>(store: &S) {
    let cause = Envelope::new(super::Counted {
        n: 0,
        label: String::new(),
    });
    let caused = reset(cause.metadata());
    let by_hand = NewEvent::from_parts(
        Metadata::from_parts(
            Uuid::now_v7(),
            Utc.with_ymd_and_hms(2001, 2, 3, 4, 5, 6).unwrap() + TimeDelta::microseconds(789),
            Uuid::now_v7(),
            None,
            "/billing",
        ),
        "tidings.conformance.handmade",
        7,
        r#"{"b": [1, 2.5, "ü"], "a": {"nested": null}}"#,
    );
    let appended = [counted(42), caused, by_hand];
    ok(store.append("a", NoStream, &appended).await, "append");
    let read = ok(store.read_stream("a", 0, 10).await, "read_stream");
    assert_eq!(read.len(), 3);
    for (stored, sent) in read.iter().zip(&appended) {
        let (got, want) = (stored.metadata(), sent.metadata());
        assert_eq!(stored.metadata().id(), sent.metadata().id());
        assert_eq!(stored.name(), sent.name());
        assert_eq!(stored.version(), sent.version());
        let drift = (got.occurred_on() - want.occurred_on()).abs();
        assert!(
            drift < TimeDelta::microseconds(1),
            "occurred-on {} came back as {}",
            want.occurred_on(),
            got.occurred_on()
        );
        assert_eq!(got.correlation_id(), want.correlation_id());
        assert_eq!(got.causation_id(), want.causation_id());
        assert_eq!(got.source(), want.source());
        let json = |text: &str| -> serde_json::Value {
            serde_json::from_str(text).unwrap_or_else(|e| panic!("`{text}` is not JSON: {e}"))
        };
        assert_eq!(
            json(stored.data()),
            json(sent.data()),
            "the data round-trips"
        );
    }
    assert_eq!(
        read[1].metadata().causation_id(),
        Some(cause.metadata().id())
    );
    assert_eq!(
        read[1].metadata().correlation_id(),
        cause.metadata().correlation_id()
    );
}

/// A context value that travels, as the CloudEvents attribute `conformancetenant`.
#[derive(Debug, Clone, PartialEq)]
struct Tenant(String);

impl crate::ContextValue for Tenant {
    const ATTRIBUTE: Option<&'static str> = Some("conformancetenant");

    fn to_attribute(&self) -> String {
        self.0.clone()
    }

    fn from_attribute(text: &str) -> Option<Self> {
        Some(Tenant(text.to_owned()))
    }
}

/// A context value that does not travel.
#[derive(Debug, Clone, PartialEq)]
struct InProcess;

impl crate::ContextValue for InProcess {}

/// The context values that travel (those whose type names an attribute) are stored with
/// their event and read back with it, so a relay publishes them; the others are not stored.
pub async fn context_values_that_travel_round_trip<S: EventStore>(store: &S) {
    let values = crate::messaging::values::Values::default()
        .with(Tenant("acme".into()))
        .with(InProcess);
    let meta = crate::Metadata::root_with("/conformance", values);
    let envelope = crate::Envelope::from_parts(
        meta,
        super::Counted {
            n: 1,
            label: "one".into(),
        },
    );
    let plain = super::counted(2);
    let events = [
        NewEvent::from_envelope(&envelope).expect("a `Counted` serializes"),
        plain,
    ];
    ok(
        store
            .append("tenant", ExpectedVersion::NoStream, &events)
            .await,
        "append",
    );
    let read = ok(store.read_stream("tenant", 0, 10).await, "read_stream");
    assert_eq!(
        read[0].metadata().get::<Tenant>(),
        Some(&Tenant("acme".into())),
        "the value that travels came back with its event"
    );
    assert_eq!(
        read[0].metadata().get::<InProcess>(),
        None,
        "an in-process value is not stored"
    );
    assert_eq!(
        read[1].metadata().get::<Tenant>(),
        None,
        "nor given to another event"
    );
    let decoded = ok(read[0].decode(), "decode");
    assert_eq!(
        decoded.metadata().get::<Tenant>(),
        Some(&Tenant("acme".into()))
    );
}
