//! Rows of the PostgreSQL store that the program cannot read as events, written with raw
//! SQL: each is a typed error that names its position, never a panic, and the rows before
//! it still read.

use tidings::persistence::postgres::sqlx::{self, AssertSqlSafe};
use tidings::persistence::postgres::PostgresStore;
use tidings::persistence::{EventStore, StoreError, StoredEvent};
use tidings::{DecodeError, DomainEvent};
use tidings_tests::postgres::PgSchema;

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "shelf.book_shelved", version = 2)]
struct BookShelved {
    isbn: String,
}

/// The values of a sound row at position 2, as SQL: edit one to damage it.
const SOUND: [(&str, &str); 11] = [
    ("position", "2"),
    ("stream", "'shelf'"),
    ("stream_version", "2"),
    ("id", "gen_random_uuid()"),
    ("name", "'shelf.book_shelved'"),
    ("version", "2"),
    ("occurred_on", "now()"),
    ("correlation_id", "gen_random_uuid()"),
    ("causation_id", "NULL"),
    ("source", "'/shelf'"),
    ("data", r#"'{"isbn": "2"}'"#),
];

/// A store whose position 1 holds a sound event and position 2 the sound row with `column`
/// set to `value` (after `prepare`, SQL run first, say to drop a constraint).
async fn store_with(column: &str, value: &str, prepare: &str) -> (PgSchema, PostgresStore) {
    let schema = PgSchema::new();
    let store = PostgresStore::open(schema.pool(2).await).await.unwrap();
    let columns: Vec<&str> = SOUND.iter().map(|(c, _)| *c).collect();
    // Position 1: the same row, sound (positions as a store created before schema version
    // 5 has them, below every transaction's).
    let first: Vec<&str> = SOUND
        .iter()
        .map(|(c, v)| match *c {
            "position" | "stream_version" => "1",
            "data" => r#"'{"isbn": "1"}'"#,
            _ => *v,
        })
        .collect();
    let values: Vec<&str> = SOUND
        .iter()
        .map(|(c, v)| if *c == column { value } else { *v })
        .collect();
    let sql = format!(
        "INSERT INTO tidings_events ({columns}) VALUES ({}); {prepare}; \
         INSERT INTO tidings_events ({columns}) VALUES ({})",
        first.join(", "),
        values.join(", "),
        columns = columns.join(", "),
    );
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(store.pool())
        .await
        .unwrap();
    (schema, store)
}

async fn second(store: &PostgresStore) -> StoredEvent {
    let events = store.read_all(0, 10).await.unwrap();
    assert_eq!(events.len(), 2, "both rows read");
    assert!(
        events[0].decode_as::<BookShelved>().is_ok(),
        "the sound row decodes"
    );
    events.into_iter().nth(1).unwrap()
}

#[tokio::test]
async fn the_sound_row_reads_and_decodes() {
    let (_schema, store) = store_with("data", r#"'{"isbn": "2"}'"#, "").await;
    let event = second(&store).await;
    assert_eq!(event.decode_as::<BookShelved>().unwrap().isbn, "2");
}

#[tokio::test]
async fn an_unknown_name_is_named_with_its_position() {
    let (_schema, store) = store_with("name", "'shelf.book_burned'", "").await;
    let error = second(&store).await.decode().unwrap_err();
    assert_eq!(error.position, 2);
    assert!(
        matches!(&error.source, DecodeError::UnknownName { name } if name == "shelf.book_burned"),
        "{error:?}"
    );
    assert!(error.to_string().contains("position 2"), "{error}");
}

#[tokio::test]
async fn a_version_newer_than_the_program_knows_is_named_with_the_known_ones() {
    let (_schema, store) = store_with("version", "3", "").await;
    let error = second(&store).await.decode_as::<BookShelved>().unwrap_err();
    assert_eq!(error.position, 2);
    match &error.source {
        DecodeError::UnsupportedVersion { version, known, .. } => {
            assert_eq!((*version, known.as_slice()), (3, &[2][..]));
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
}

#[tokio::test]
async fn data_that_does_not_fit_the_type_is_a_data_error_at_its_position() {
    let (_schema, store) = store_with("data", r#"'{"isbn": 42}'"#, "").await;
    let error = second(&store).await.decode().unwrap_err();
    assert_eq!(error.position, 2);
    assert!(
        matches!(error.source, DecodeError::Data { version: 2, .. }),
        "{error:?}"
    );
}

/// Reading the damaged row, in the whole store and in its stream, fails with `Corrupt` at
/// position 2, naming `column`; the row before it still reads.
async fn assert_corrupt(store: &PostgresStore, column: &str) {
    let error = store.read_all(0, 10).await.unwrap_err();
    match &error {
        StoreError::Corrupt { position, reason } => {
            assert_eq!(*position, 2, "{reason}");
            assert!(reason.contains(&format!("`{column}`")), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(error.to_string().contains("position 2"), "{error}");
    assert_eq!(store.read_all(0, 1).await.unwrap().len(), 1);
    if column != "stream_version" {
        // (A negative stream version is outside every read of the stream.)
        let stream = store.read_stream("shelf", 0, 10).await.unwrap_err();
        assert!(
            matches!(stream, StoreError::Corrupt { position: 2, .. }),
            "{stream:?}"
        );
    }
}

#[tokio::test]
async fn a_version_that_is_not_positive_is_a_corrupt_row() {
    let (_schema, store) = store_with("version", "0", "").await;
    assert_corrupt(&store, "version").await;
}

#[tokio::test]
async fn a_negative_stream_version_is_a_corrupt_row() {
    let (_schema, store) = store_with("stream_version", "-2", "").await;
    assert_corrupt(&store, "stream_version").await;
}

#[tokio::test]
async fn a_time_of_infinity_is_a_corrupt_row() {
    let (_schema, store) = store_with("occurred_on", "'infinity'", "").await;
    assert_corrupt(&store, "occurred_on").await;
}

#[tokio::test]
async fn a_missing_source_is_a_corrupt_row() {
    let drop_not_null = "ALTER TABLE tidings_events ALTER COLUMN source DROP NOT NULL";
    let (_schema, store) = store_with("source", "NULL", drop_not_null).await;
    assert_corrupt(&store, "source").await;
}

#[tokio::test]
async fn a_missing_correlation_id_is_a_corrupt_row() {
    let drop_not_null = "ALTER TABLE tidings_events ALTER COLUMN correlation_id DROP NOT NULL";
    let (_schema, store) = store_with("correlation_id", "NULL", drop_not_null).await;
    assert_corrupt(&store, "correlation_id").await;
}

#[tokio::test]
async fn a_search_path_naming_no_schema_that_exists_is_named_with_its_fix() {
    let pool = tidings_tests::postgres::pool_without_schema().await;
    let error = PostgresStore::open(pool).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::NoSchema { search_path } if search_path.starts_with("tidings_missing_")),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains("CREATE SCHEMA"), "{text}");
}
