//! The inbox records each event by its source and its id as the producer sent them
//! (CloudEvents ids are unique per source), on SQLite and (feature `postgres`) PostgreSQL;
//! an inbox written before sources were kept is upgraded on open, its records still holding;
//! an event no handler takes is refused and not recorded.

use serde_json::json;
use std::sync::Mutex;
use tidings::broadcast::sqlite::SqliteInbox;
use tidings::broadcast::{Delivered, Inbox, InboxError};
use tidings::persistence::sqlite::rusqlite::Connection;
use tidings::{handler, AnyEnvelope, Bus, DomainEvent, Envelope};
use tidings_tests::Scratch;
use uuid::Uuid;

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "tidings_tests.inbox_pinged")]
struct Pinged {
    n: u64,
}

/// The (source, id) of each event the handler saw, in order.
#[derive(Debug, Default)]
struct Seen(Mutex<Vec<(String, String)>>);

#[handler]
fn note(event: &Envelope<Pinged>, seen: &Seen) {
    let source = event.metadata().source().to_owned();
    seen.0
        .lock()
        .unwrap()
        .push((source, event.metadata().wire_id().into_owned()));
}

fn bus() -> (Bus, std::sync::Arc<Seen>) {
    let seen = std::sync::Arc::new(Seen::default());
    let bus = Bus::builder().provide_arc(seen.clone()).build().unwrap();
    (bus, seen)
}

/// A `Pinged` from another producer, whose ids need not be UUIDs.
fn pinged(source: &str, id: &str) -> AnyEnvelope {
    AnyEnvelope::from_value(json!({
        "specversion": "1.0", "id": id, "source": source,
        "type": "tidings_tests.inbox_pinged", "data": {"n": 1}
    }))
    .unwrap()
}

async fn the_same_id_from_another_source_is_another_event<I: Inbox>(inbox: &I) {
    let (bus, seen) = bus();
    let deliver = |consumer: &'static str, source: &'static str, id: &'static str| {
        let bus = &bus;
        async move {
            inbox
                .deliver(consumer, pinged(source, id), bus)
                .await
                .unwrap()
        }
    };
    assert_eq!(deliver("shipping", "/shop", "1").await, Delivered::Handled);
    assert_eq!(
        deliver("shipping", "/warehouse", "1").await,
        Delivered::Handled
    );
    assert_eq!(
        deliver("shipping", "/shop", "1").await,
        Delivered::AlreadyHandled
    );
    assert_eq!(deliver("shipping", "/shop", "2").await, Delivered::Handled);
    assert_eq!(deliver("billing", "/shop", "1").await, Delivered::Handled);
    let seen = seen.0.lock().unwrap().clone();
    let expected = [
        ("/shop", "1"),
        ("/warehouse", "1"),
        ("/shop", "2"),
        ("/shop", "1"),
    ];
    assert_eq!(
        seen,
        expected.map(|(s, i)| (s.to_owned(), i.to_owned())),
        "each (consumer, source, id) had its effect once"
    );
}

/// After the upgrade, the event recorded before it (a UUID, under `consumer`) is still
/// received once, and new events are recorded by source and id.
async fn records_made_before_the_upgrade_still_hold<I: Inbox>(inbox: &I, recorded: Uuid) {
    let (bus, seen) = bus();
    let again = pinged("/ordering", &recorded.to_string());
    let outcome = inbox.deliver("shipping", again, &bus).await.unwrap();
    assert_eq!(
        outcome,
        Delivered::AlreadyHandled,
        "recorded before the upgrade"
    );
    let fresh = pinged("/ordering", "order-7");
    assert_eq!(
        inbox.deliver("shipping", fresh, &bus).await.unwrap(),
        Delivered::Handled
    );
    let repeat = pinged("/ordering", "order-7");
    assert_eq!(
        inbox.deliver("shipping", repeat, &bus).await.unwrap(),
        Delivered::AlreadyHandled
    );
    let other = pinged("/ordering", &recorded.to_string());
    assert_eq!(
        inbox.deliver("billing", other, &bus).await.unwrap(),
        Delivered::Handled,
        "the old record was the other consumer's"
    );
    assert_eq!(seen.0.lock().unwrap().len(), 2);
}

/// A program that lacks the handler (its crate not linked: here left out) is refused the
/// event, and records nothing; the fixed program then has its effect.
async fn an_event_no_handler_takes_is_refused_and_not_recorded<I: Inbox>(inbox: &I) {
    let seen = std::sync::Arc::new(Seen::default());
    let without = Bus::builder()
        .provide_arc(seen.clone())
        .without(HANDLER)
        .build()
        .unwrap();
    let refused = inbox
        .deliver("shipping", pinged("/shop", "9"), &without)
        .await;
    match refused {
        Err(error @ InboxError::NoHandler { name, .. }) => {
            assert_eq!(name, "tidings_tests.inbox_pinged");
            let text = error.to_string();
            assert!(
                text.contains("no handler of this program takes event `9`"),
                "{text}"
            );
            assert!(text.contains("linked!"), "the fix is named: {text}");
        }
        other => panic!("expected NoHandler, got {other:?}"),
    }
    let fixed = Bus::builder().provide_arc(seen.clone()).build().unwrap();
    let delivered = inbox.deliver("shipping", pinged("/shop", "9"), &fixed);
    assert_eq!(
        delivered.await.unwrap(),
        Delivered::Handled,
        "nothing was recorded"
    );
    assert_eq!(seen.0.lock().unwrap().len(), 1);
}

const HANDLER: &str = "inbox::note";

#[tokio::test]
async fn the_sqlite_inbox_refuses_an_event_no_handler_takes() {
    let dir = Scratch::new("inbox-unhandled");
    let inbox = SqliteInbox::open(dir.join("inbox.db")).unwrap();
    an_event_no_handler_takes_is_refused_and_not_recorded(&inbox).await;
}

#[tokio::test]
async fn the_sqlite_inbox_deduplicates_by_source_and_id() {
    let dir = Scratch::new("inbox-sources");
    let inbox = SqliteInbox::open(dir.join("inbox.db")).unwrap();
    the_same_id_from_another_source_is_another_event(&inbox).await;
}

/// The tables of the steps after version 2, whichever they are.
const VERSION_2_TABLES: &str =
    "('tidings_events', 'tidings_checkpoints', 'tidings_leases', 'tidings_inbox', 'tidings_schema')";

fn drop_tables_after_version_2(conn: &Connection) {
    let later: Vec<String> = conn
        .prepare(&format!(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'tidings_%'
             AND name NOT IN {VERSION_2_TABLES}"
        ))
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for table in later {
        conn.execute_batch(&format!("DROP TABLE {table}")).unwrap();
    }
    // And the columns later versions added.
    conn.execute_batch("ALTER TABLE tidings_events DROP COLUMN extensions")
        .unwrap();
}

fn schema_versions(conn: &Connection) -> Vec<i64> {
    let mut statement = conn
        .prepare("SELECT version FROM tidings_schema ORDER BY version")
        .unwrap();
    let rows = statement.query_map([], |row| row.get(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

#[tokio::test]
async fn a_sqlite_inbox_of_schema_version_2_is_upgraded_on_open() {
    let dir = Scratch::new("inbox-upgrade");
    let path = dir.join("inbox.db");
    drop(SqliteInbox::open(&path).unwrap());
    // Back to what version 2 wrote: the inbox keyed by consumer and UUID, holding a record.
    let recorded = Uuid::now_v7();
    let conn = Connection::open(&path).unwrap();
    drop_tables_after_version_2(&conn);
    conn.execute_batch(
        "DROP TABLE tidings_inbox;
         CREATE TABLE tidings_inbox (
             consumer TEXT NOT NULL, event_id BLOB NOT NULL, received_on INTEGER NOT NULL,
             PRIMARY KEY (consumer, event_id)) WITHOUT ROWID;
         DELETE FROM tidings_schema WHERE version > 2;",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO tidings_inbox VALUES ('shipping', ?1, 0)",
        [recorded.as_bytes().as_slice()],
    )
    .unwrap();
    assert_eq!(schema_versions(&conn), [1, 2]);
    drop(conn);

    let inbox = SqliteInbox::open(&path).unwrap();
    let versions = inbox.with_connection(schema_versions);
    let expected: Vec<i64> =
        (1..=i64::from(tidings::persistence::sqlite::SCHEMA_VERSION)).collect();
    assert_eq!(versions, expected);
    let kept: String = inbox.with_connection(|conn| {
        conn.query_row(
            "SELECT event_id FROM tidings_inbox WHERE source = ''",
            [],
            |row| row.get(0),
        )
        .unwrap()
    });
    assert_eq!(
        kept,
        recorded.to_string(),
        "the record is kept as the UUID's text"
    );
    records_made_before_the_upgrade_still_hold(&inbox, recorded).await;
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use tidings::broadcast::postgres::PostgresInbox;
    use tidings::persistence::postgres::{migrate_to, sqlx, SCHEMA_VERSION};
    use tidings_tests::postgres::PgSchema;

    #[tokio::test]
    async fn the_postgres_inbox_deduplicates_by_source_and_id() {
        let schema = PgSchema::new();
        let inbox = PostgresInbox::open(schema.pool(2).await).await.unwrap();
        the_same_id_from_another_source_is_another_event(&inbox).await;
    }

    #[tokio::test]
    async fn the_postgres_inbox_refuses_an_event_no_handler_takes() {
        let schema = PgSchema::new();
        let inbox = PostgresInbox::open(schema.pool(2).await).await.unwrap();
        an_event_no_handler_takes_is_refused_and_not_recorded(&inbox).await;
    }

    #[tokio::test]
    async fn a_postgres_inbox_of_schema_version_2_is_upgraded_on_open() {
        let schema = PgSchema::new();
        let pool = schema.pool(2).await;
        // What version 2 wrote: the inbox keyed by consumer and UUID.
        migrate_to(&mut pool.acquire().await.unwrap(), 2)
            .await
            .unwrap();
        let recorded = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO tidings_inbox (consumer, event_id) VALUES ('shipping', $1::text::uuid)",
        )
        .bind(recorded.to_string())
        .execute(&pool)
        .await
        .unwrap();

        let inbox = PostgresInbox::open(pool.clone()).await.unwrap();
        let versions: Vec<i32> =
            sqlx::query_scalar("SELECT version FROM tidings_schema ORDER BY 1")
                .fetch_all(&pool)
                .await
                .unwrap();
        let expected: Vec<i32> = (1..=SCHEMA_VERSION as i32).collect();
        assert_eq!(versions, expected);
        records_made_before_the_upgrade_still_hold(&inbox, recorded).await;
    }
}
