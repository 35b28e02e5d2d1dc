//! Rows the program cannot read as events, written with raw SQL: each is a typed error that
//! names its position (an older version with no upcaster too), never a panic, and the rows
//! around it still read.

use tidings::persistence::sqlite::rusqlite::{params, Connection};
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::{ExpectedVersion, NewEvent, StoreError, StoredEvent};
use tidings::{DecodeError, DomainEvent, Envelope};
use tidings_tests::Scratch;
use uuid::Uuid;

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "shelf.book_shelved", version = 2)]
struct BookShelved {
    isbn: String,
}

/// A store whose position 1 holds a sound event, and position 2 the row `insert` writes.
fn store_with(
    insert: &str,
    values: impl tidings::persistence::sqlite::rusqlite::Params,
) -> (Scratch, SqliteStore) {
    let dir = Scratch::new("bad-input");
    let path = dir.join("events.db");
    let store = SqliteStore::open(&path).unwrap();
    let sound = NewEvent::from_envelope(&Envelope::new(BookShelved { isbn: "1".into() })).unwrap();
    store
        .append_sync("shelf", ExpectedVersion::NoStream, &[sound])
        .unwrap();
    drop(store);
    let conn = Connection::open(&path).unwrap();
    conn.execute(insert, values).unwrap();
    drop(conn);
    (dir, SqliteStore::open(&path).unwrap())
}

const ROW: &str = "INSERT INTO tidings_events
    (stream, stream_version, id, name, version, occurred_on, correlation_id, causation_id, source, data)
    VALUES ('shelf', 2, ?1, ?2, ?3, 0, ?1, NULL, '/shelf', ?4)";

/// A row with these name, version and data, and sound metadata.
fn event_row(name: &str, version: i64, data: &str) -> (Scratch, SqliteStore) {
    let id = Uuid::now_v7();
    store_with(ROW, params![id.as_bytes(), name, version, data])
}

fn second(store: &SqliteStore) -> StoredEvent {
    let events = store.read_all_sync(0, 10).unwrap();
    assert_eq!(events.len(), 2, "both rows read");
    assert!(
        events[0].decode_as::<BookShelved>().is_ok(),
        "the sound row decodes"
    );
    events.into_iter().nth(1).unwrap()
}

#[test]
fn invalid_json_is_a_malformed_error_at_its_position() {
    let (_dir, store) = event_row("shelf.book_shelved", 2, "{\"isbn\": ");
    let error = second(&store).decode().unwrap_err();
    assert_eq!(error.position, 2);
    assert!(
        matches!(error.source, DecodeError::Malformed(_)),
        "{error:?}"
    );
    assert!(error.to_string().contains("position 2"), "{error}");
}

#[test]
fn an_unknown_name_is_named_with_its_position() {
    let (_dir, store) = event_row("shelf.book_burned", 1, "{}");
    let error = second(&store).decode().unwrap_err();
    assert_eq!(error.position, 2);
    assert!(
        matches!(&error.source, DecodeError::UnknownName { name } if name == "shelf.book_burned"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("position 2") && message.contains("shelf.book_burned"),
        "{message}"
    );
}

#[test]
fn a_version_newer_than_the_program_knows_is_named_with_the_known_ones() {
    let (_dir, store) = event_row("shelf.book_shelved", 3, r#"{"isbn": "2"}"#);
    let event = second(&store);
    let error = event.decode_as::<BookShelved>().unwrap_err();
    assert_eq!(error.position, 2);
    match &error.source {
        DecodeError::UnsupportedVersion { version, known, .. } => {
            assert_eq!((*version, known.as_slice()), (3, &[2][..]));
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
    assert!(
        error.to_string().contains("unsupported version 3"),
        "{error}"
    );
}

#[test]
fn an_older_version_with_no_upcaster_names_the_missing_step() {
    let (_dir, store) = event_row("shelf.book_shelved", 1, r#"{"isbn": "2"}"#);
    let error = second(&store).decode_as::<BookShelved>().unwrap_err();
    assert_eq!(error.position, 2);
    assert!(
        matches!(&error.source, DecodeError::MissingUpcaster { name, from: 1, to: 2 } if name == "shelf.book_shelved"),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(
            "no upcaster from version 1 of `shelf.book_shelved`: the program reads version 2"
        ),
        "{error}"
    );
}

/// Reading a damaged row fails with `Corrupt` at its position, mentioning `column`.
fn assert_corrupt(store: &SqliteStore, column: &str) {
    let error = store.read_all_sync(0, 10).unwrap_err();
    match &error {
        StoreError::Corrupt { position, reason } => {
            assert_eq!(*position, 2);
            assert!(reason.contains(&format!("`{column}`")), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(error.to_string().contains("position 2"), "{error}");
    // The rows before it still read.
    assert_eq!(store.read_all_sync(0, 1).unwrap().len(), 1);
}

#[test]
fn an_id_that_is_not_a_uuid_is_a_corrupt_row() {
    let sql = "INSERT INTO tidings_events
        (stream, stream_version, id, name, version, occurred_on, correlation_id, causation_id, source, data)
        VALUES ('shelf', 2, x'0102', 'shelf.book_shelved', 2, 0, x'00000000000000000000000000000001', NULL, '/shelf', '{}')";
    let (_dir, store) = store_with(sql, params![]);
    assert_corrupt(&store, "id");
}

#[test]
fn data_that_is_not_text_is_a_corrupt_row() {
    let sql = ROW.replace("?4)", "x'ff00fe')");
    let id = Uuid::now_v7();
    let (_dir, store) = store_with(&sql, params![id.as_bytes(), "shelf.book_shelved", 2]);
    assert_corrupt(&store, "data");
}

#[test]
fn a_time_that_is_not_a_number_is_a_corrupt_row() {
    let sql = ROW.replace(", 0, ?1, NULL", ", 'yesterday', ?1, NULL");
    let id = Uuid::now_v7();
    let (_dir, store) = store_with(&sql, params![id.as_bytes(), "shelf.book_shelved", 2, "{}"]);
    assert_corrupt(&store, "occurred_on");
}

#[test]
fn a_version_that_is_not_positive_is_a_corrupt_row() {
    let (_dir, store) = event_row("shelf.book_shelved", 0, "{}");
    assert_corrupt(&store, "version");
}

#[test]
fn a_negative_stream_version_is_a_corrupt_row() {
    let sql = ROW.replace("('shelf', 2,", "('shelf', -2,");
    let id = Uuid::now_v7();
    let (_dir, store) = store_with(&sql, params![id.as_bytes(), "shelf.book_shelved", 2, "{}"]);
    assert_corrupt(&store, "stream_version");
}
