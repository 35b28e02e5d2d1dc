//! The SQLite store beyond the conformance suite: its file, its schema and migrations, and
//! appending inside the caller's own transaction.

use tidings::persistence::sqlite::rusqlite::{Connection, TransactionBehavior};
use tidings::persistence::sqlite::{self, SqliteStore, SCHEMA_VERSION};
use tidings::persistence::{ExpectedVersion, NewEvent, StoreError};
use tidings::{DomainEvent, Envelope, Pending};
use tidings_tests::Scratch;

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "banking.deposited")]
struct Deposited {
    account: String,
    cents: i64,
}

fn deposit(cents: i64) -> NewEvent {
    NewEvent::from_envelope(&Envelope::new(Deposited {
        account: "acc-1".into(),
        cents,
    }))
    .unwrap()
}

fn balance_table(conn: &Connection) {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS balances (account TEXT PRIMARY KEY, cents INTEGER NOT NULL)",
    )
    .unwrap();
}

fn balances(conn: &Connection) -> i64 {
    conn.query_row("SELECT COUNT(*) FROM balances", [], |row| row.get(0))
        .unwrap()
}

#[test]
fn a_store_file_keeps_its_events_across_opens_and_uses_wal() {
    let dir = Scratch::new("sqlite-reopen");
    let path = dir.join("events.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .append_sync(
                "acc-1",
                ExpectedVersion::NoStream,
                &[deposit(5), deposit(7)],
            )
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let events = store.read_stream_sync("acc-1", 0, 10).unwrap();
    let cents: Vec<i64> = events
        .iter()
        .map(|e| e.decode_as::<Deposited>().unwrap().cents)
        .collect();
    assert_eq!(cents, [5, 7]);
    let conn = store.into_connection();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let applied: Vec<u32> = conn
        .prepare("SELECT version FROM tidings_schema ORDER BY version")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(applied, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
}

#[test]
fn a_store_from_a_newer_schema_is_refused_and_left_untouched() {
    let dir = Scratch::new("sqlite-newer");
    let path = dir.join("events.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO tidings_schema (version) VALUES (?1)",
        [SCHEMA_VERSION + 1],
    )
    .unwrap();
    drop(conn);

    let error = SqliteStore::open(&path).unwrap_err();
    match &error {
        StoreError::SchemaTooNew { found, supported } => {
            assert_eq!((*found, *supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains(&format!("version {}", SCHEMA_VERSION + 1)),
        "{message}"
    );
    assert!(message.contains("upgrade tidings"), "{message}");
    let conn = Connection::open(&path).unwrap();
    let newest: u32 = conn
        .query_row("SELECT MAX(version) FROM tidings_schema", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(
        newest,
        SCHEMA_VERSION + 1,
        "the refused file is not migrated"
    );
}

#[test]
fn a_file_that_is_not_a_database_is_an_error_not_a_panic() {
    let dir = Scratch::new("sqlite-garbage");
    let path = dir.join("events.db");
    std::fs::write(
        &path,
        b"this is not a SQLite database, only a text file of some length",
    )
    .unwrap();
    let error = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(error, StoreError::Backend(_)), "{error:?}");
    assert!(error.to_string().contains("not a database"), "{error}");
}

#[test]
fn events_commit_with_the_callers_own_writes() {
    let mut conn = Connection::open_in_memory().unwrap();
    sqlite::migrate(&mut conn).unwrap();
    balance_table(&conn);

    let mut pending = Pending::new();
    pending.record(Deposited {
        account: "acc-1".into(),
        cents: 100,
    });
    let events: Vec<NewEvent> = pending
        .take()
        .iter()
        .map(NewEvent::from_any)
        .collect::<Result<_, _>>()
        .unwrap();

    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    tx.execute("INSERT INTO balances VALUES ('acc-1', 100)", [])
        .unwrap();
    let appended = sqlite::append(&tx, "acc-1", ExpectedVersion::NoStream, &events).unwrap();
    assert_eq!(appended.positions, 1..2);
    // Inside the transaction, its own events are readable.
    assert_eq!(sqlite::read_all(&tx, 0, 10).unwrap().len(), 1);
    tx.commit().unwrap();

    assert_eq!(balances(&conn), 1);
    let stored = sqlite::read_stream(&conn, "acc-1", 0, 10).unwrap();
    assert_eq!(stored[0].metadata().id(), events[0].metadata().id());
}

#[test]
fn a_rolled_back_transaction_leaves_neither_the_writes_nor_the_events() {
    let mut conn = Connection::open_in_memory().unwrap();
    sqlite::migrate(&mut conn).unwrap();
    balance_table(&conn);
    {
        let tx = conn.transaction().unwrap();
        tx.execute("INSERT INTO balances VALUES ('acc-1', 100)", [])
            .unwrap();
        sqlite::append(&tx, "acc-1", ExpectedVersion::NoStream, &[deposit(100)]).unwrap();
        tx.rollback().unwrap();
    }
    assert_eq!(balances(&conn), 0);
    assert!(sqlite::read_all(&conn, 0, 10).unwrap().is_empty());
    // No position was used up: the next event is at 1.
    let store = SqliteStore::from_connection(conn).unwrap();
    let appended = store
        .append_sync("acc-1", ExpectedVersion::NoStream, &[deposit(1)])
        .unwrap();
    assert_eq!(appended.positions, 1..2);
}

#[test]
fn a_refused_append_undoes_only_itself_in_the_callers_transaction() {
    let mut conn = Connection::open_in_memory().unwrap();
    sqlite::migrate(&mut conn).unwrap();
    balance_table(&conn);
    let stored = deposit(1);
    let tx = conn.transaction().unwrap();
    sqlite::append(
        &tx,
        "acc-1",
        ExpectedVersion::NoStream,
        std::slice::from_ref(&stored),
    )
    .unwrap();
    tx.execute("INSERT INTO balances VALUES ('acc-1', 1)", [])
        .unwrap();
    // A batch whose second event is stored: its first event is inserted, then undone.
    let fresh = deposit(2);
    let error = sqlite::append(
        &tx,
        "acc-1",
        ExpectedVersion::Any,
        &[fresh.clone(), stored.clone()],
    )
    .unwrap_err();
    assert!(
        matches!(error, StoreError::DuplicateEvent { position: 1, .. }),
        "{error:?}"
    );
    // A single event stored already (here, sent to another stream): its one insert fails and
    // leaves nothing of itself.
    let error = sqlite::append(&tx, "acc-2", ExpectedVersion::NoStream, &[stored]).unwrap_err();
    assert!(
        matches!(error, StoreError::DuplicateEvent { position: 1, .. }),
        "{error:?}"
    );
    let conflict = sqlite::append(
        &tx,
        "acc-1",
        ExpectedVersion::NoStream,
        std::slice::from_ref(&fresh),
    );
    assert!(conflict.unwrap_err().is_conflict());
    tx.commit().unwrap();

    assert_eq!(balances(&conn), 1, "the caller's write is kept");
    let events = sqlite::read_all(&conn, 0, 10).unwrap();
    assert_eq!(events.len(), 1, "nothing of the refused appends is left");
    let store = SqliteStore::from_connection(conn).unwrap();
    let appended = store
        .append_sync("acc-1", ExpectedVersion::Exact(1), &[fresh])
        .unwrap();
    assert_eq!(appended.positions, 2..3);
}

#[test]
fn an_occurred_on_out_of_range_is_refused_with_its_reason() {
    use chrono::{TimeZone, Utc};
    let event = deposit(1);
    let meta = event.metadata();
    let ancient = NewEvent::from_parts(
        tidings::Metadata::from_parts(
            meta.id(),
            Utc.with_ymd_and_hms(1500, 1, 1, 0, 0, 0).unwrap(),
            meta.correlation_id(),
            None,
            "/bank",
        ),
        "banking.deposited",
        1,
        event.data(),
    );
    let store = SqliteStore::open_in_memory().unwrap();
    let error = store
        .append_sync("acc-1", ExpectedVersion::Any, &[ancient])
        .unwrap_err();
    assert!(matches!(error, StoreError::Unstorable { .. }), "{error:?}");
    assert!(error.to_string().contains("1500-01-01"), "{error}");
    assert!(store.read_all_sync(0, 10).unwrap().is_empty());
}
