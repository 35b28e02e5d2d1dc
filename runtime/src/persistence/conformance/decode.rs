//! Decoding stored events through the registry, and the errors that name the event.

use super::{counted, ok, reset, Counted, Reset};
use crate::persistence::{EventStore, ExpectedVersion, NewEvent, StoredDecodeError};
use crate::{DecodeError, Envelope};

/// Stored events decode into their registered types, with their metadata.
pub async fn stored_events_decode_through_the_registry<S: EventStore>(store: &S) {
    let first = counted(5);
    let second = reset(first.metadata());
    let at = ok(
        store
            .append("a", ExpectedVersion::NoStream, &[first.clone(), second])
            .await,
        "append",
    )
    .positions;
    let read = ok(store.read_all(0, 10).await, "read_all");
    let any = ok(read[0].decode(), "decode");
    assert_eq!(
        (any.name(), any.version()),
        ("tidings.conformance.counted", 2)
    );
    // The decoded envelope carries the stored metadata (occurred-on to the microsecond).
    let (got, sent) = (any.metadata(), first.metadata());
    assert_eq!(
        (
            got.id(),
            got.correlation_id(),
            got.causation_id(),
            got.source()
        ),
        (
            sent.id(),
            sent.correlation_id(),
            sent.causation_id(),
            sent.source()
        )
    );
    let drift = (got.occurred_on() - sent.occurred_on()).abs();
    assert!(
        drift < chrono::TimeDelta::microseconds(1),
        "occurred-on drifted by {drift}"
    );
    let typed: Envelope<Counted> = any.downcast().expect("decodes into `Counted`");
    assert_eq!(
        typed.payload(),
        &Counted {
            n: 5,
            label: "count 5".into()
        }
    );
    let reset: Envelope<Reset> = ok(read[1].decode_as(), "decode_as");
    assert_eq!(reset.metadata().causation_id(), Some(first.metadata().id()));
    match read[1].decode_as::<Counted>() {
        Err(StoredDecodeError {
            position,
            source: DecodeError::WrongType { expected, found },
            ..
        }) => assert_eq!(
            (position, expected, found.as_str()),
            (
                at.start + 1,
                "tidings.conformance.counted",
                "tidings.conformance.reset"
            )
        ),
        other => panic!("decoding a `Reset` as a `Counted` must fail, got {other:?}"),
    }
}

/// An event the program cannot decode is stored and read like any other; decoding it is a
/// typed error naming its position, stream and id.
pub async fn decoding_names_the_event_that_failed<S: EventStore>(store: &S) {
    let valid = counted(1);
    let unknown = with(&valid, "tidings.conformance.never_registered", 1, "{}");
    let newer = with(&valid, "tidings.conformance.counted", 99, r#"{"n": 1}"#);
    let mismatched = with(&valid, "tidings.conformance.counted", 2, r#"{"n": "one"}"#);
    let batch = [unknown, newer, mismatched];
    let at = ok(
        store.append("odd", ExpectedVersion::NoStream, &batch).await,
        "append of events this program cannot decode",
    )
    .positions;
    let read = ok(store.read_all(0, 10).await, "read_all");
    assert_eq!(read.len(), 3, "undecodable events are read all the same");
    let errors: Vec<_> = read
        .iter()
        .map(|e| e.decode().expect_err("must not decode"))
        .collect();
    for ((position, error), sent) in at.zip(&errors).zip(&batch) {
        assert_eq!(error.position, position);
        assert_eq!(error.stream, "odd");
        assert_eq!(error.id, sent.metadata().id());
        let message = error.to_string();
        assert!(
            message.contains(&format!("position {position}")),
            "`{message}` names the position"
        );
    }
    assert!(
        matches!(&errors[0].source, DecodeError::UnknownName { name } if name == "tidings.conformance.never_registered"),
        "{:?}",
        errors[0]
    );
    assert!(
        matches!(&errors[1].source, DecodeError::UnsupportedVersion { version: 99, known, .. } if known == &[2]),
        "{:?}",
        errors[1]
    );
    assert!(
        matches!(&errors[2].source, DecodeError::Data { version: 2, .. }),
        "{:?}",
        errors[2]
    );
}

/// An event with `template`'s metadata under a fresh id, and the given name, version and data.
fn with(template: &NewEvent, name: &'static str, version: u32, data: &str) -> NewEvent {
    let meta = template.metadata();
    NewEvent::from_parts(
        crate::Metadata::from_parts(
            uuid::Uuid::now_v7(),
            meta.occurred_on(),
            meta.correlation_id(),
            meta.causation_id(),
            meta.source().to_owned(),
        ),
        name,
        version,
        data,
    )
}
