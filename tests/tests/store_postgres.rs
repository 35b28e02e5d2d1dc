//! The PostgreSQL store beyond the conformance suite: its schema and migrations, appending
//! inside the caller's own transaction, and what it refuses to store.

use std::time::Duration;
use tidings::persistence::postgres::sqlx::{self, Connection, PgPool, Row};
use tidings::persistence::postgres::{self, PostgresStore, SCHEMA_VERSION};
use tidings::persistence::{EventStore, ExpectedVersion, NewEvent, StoreError};
use tidings::{DomainEvent, Envelope, Metadata};
use tidings_tests::postgres::PgSchema;

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

async fn store_with_balances(schema: &PgSchema) -> PostgresStore {
    let store = PostgresStore::open(schema.pool(4).await).await.unwrap();
    sqlx::raw_sql("CREATE TABLE balances (account text PRIMARY KEY, cents bigint NOT NULL)")
        .execute(store.pool())
        .await
        .unwrap();
    store
}

async fn balances(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM balances")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn schema_versions(pool: &PgPool) -> Vec<i32> {
    sqlx::query_scalar("SELECT version FROM tidings_schema ORDER BY version")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_schema_is_created_once_and_events_are_stored_as_jsonb() {
    let schema = PgSchema::new();
    // Several processes starting at once on a new schema: each step runs once.
    let opens = (0..4).map(|_| async { PostgresStore::open(schema.pool(2).await).await });
    for opened in futures_util::future::join_all(opens).await {
        opened.expect("every concurrent open succeeds");
    }
    let store = PostgresStore::open(schema.pool(2).await).await.unwrap();
    let expected: Vec<i32> = (1..=SCHEMA_VERSION as i32).collect();
    assert_eq!(schema_versions(store.pool()).await, expected);

    store
        .append(
            "acc-1",
            ExpectedVersion::NoStream,
            &[deposit(5), deposit(7)],
        )
        .await
        .unwrap();
    let reopened = PostgresStore::open(schema.pool(2).await).await.unwrap();
    let cents: Vec<i64> = reopened
        .read_stream("acc-1", 0, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.decode_as::<Deposited>().unwrap().cents)
        .collect();
    assert_eq!(cents, [5, 7]);
    let queried: Vec<i64> =
        sqlx::query_scalar("SELECT (data->>'cents')::bigint FROM tidings_events ORDER BY position")
            .fetch_all(reopened.pool())
            .await
            .unwrap();
    assert_eq!(queried, [5, 7], "the data is queryable jsonb");
}

#[tokio::test]
async fn a_schema_from_a_newer_release_is_refused_and_left_untouched() {
    let schema = PgSchema::new();
    let pool = schema.pool(2).await;
    drop(PostgresStore::open(pool.clone()).await.unwrap());
    sqlx::query("INSERT INTO tidings_schema (version) VALUES ($1)")
        .bind(SCHEMA_VERSION as i32 + 1)
        .execute(&pool)
        .await
        .unwrap();

    let error = PostgresStore::open(pool.clone()).await.unwrap_err();
    match &error {
        StoreError::SchemaTooNew { found, supported } => {
            assert_eq!((*found, *supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    // The refused migration rolled back at once: no connection idles in its transaction.
    let mut watcher = schema.connection().await;
    let idle: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE application_name = $1 AND state = 'idle in transaction'",
    )
    .bind(schema.name())
    .fetch_one(&mut watcher)
    .await
    .unwrap();
    assert_eq!(
        idle, 0,
        "a connection was left in the refused migration's transaction"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("version {}", SCHEMA_VERSION + 1)),
        "{message}"
    );
    assert!(message.contains("upgrade tidings"), "{message}");
    let mut expected: Vec<i32> = (1..=SCHEMA_VERSION as i32).collect();
    expected.push(SCHEMA_VERSION as i32 + 1);
    assert_eq!(
        schema_versions(&pool).await,
        expected,
        "the refused schema is not migrated"
    );
}

#[tokio::test]
async fn events_commit_with_the_callers_own_writes() {
    let schema = PgSchema::new();
    let store = store_with_balances(&schema).await;
    let events = [deposit(100)];

    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query("INSERT INTO balances VALUES ('acc-1', 100)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let appended = postgres::append(&mut tx, "acc-1", ExpectedVersion::NoStream, &events)
        .await
        .unwrap();
    assert_eq!(appended.positions.end - appended.positions.start, 1);
    assert_eq!(
        postgres::read_stream(&mut *tx, "acc-1", 0, 10)
            .await
            .unwrap()
            .len(),
        1,
        "seen inside"
    );
    assert!(
        store.read_all(0, 10).await.unwrap().is_empty(),
        "not seen outside yet"
    );
    tx.commit().await.unwrap();

    assert_eq!(balances(store.pool()).await, 1);
    let stored = store.read_stream("acc-1", 0, 10).await.unwrap();
    assert_eq!(stored[0].metadata().id(), events[0].metadata().id());
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_no_writes_and_no_events() {
    let schema = PgSchema::new();
    let store = store_with_balances(&schema).await;
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query("INSERT INTO balances VALUES ('acc-1', 100)")
        .execute(&mut *tx)
        .await
        .unwrap();
    postgres::append(&mut tx, "acc-1", ExpectedVersion::NoStream, &[deposit(100)])
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    assert_eq!(balances(store.pool()).await, 0);
    assert!(store.read_all(0, 10).await.unwrap().is_empty());
    let appended = store
        .append("acc-1", ExpectedVersion::NoStream, &[deposit(1)])
        .await
        .unwrap();
    let read = store.read_all(0, 10).await.unwrap();
    assert_eq!(read.len(), 1, "only the committed event");
    assert_eq!(read[0].position(), appended.positions.start);
}

#[tokio::test]
async fn a_refused_append_leaves_the_callers_transaction_usable() {
    let schema = PgSchema::new();
    let store = store_with_balances(&schema).await;
    let stored = deposit(1);
    let fresh = deposit(2);
    let mut tx = store.pool().begin().await.unwrap();
    let first = postgres::append(
        &mut tx,
        "acc-1",
        ExpectedVersion::NoStream,
        std::slice::from_ref(&stored),
    )
    .await
    .unwrap();
    let refusals = [
        postgres::append(
            &mut tx,
            "acc-1",
            ExpectedVersion::Any,
            &[fresh.clone(), stored],
        )
        .await,
        postgres::append(
            &mut tx,
            "acc-1",
            ExpectedVersion::NoStream,
            std::slice::from_ref(&fresh),
        )
        .await,
        postgres::append(&mut tx, "acc-1", ExpectedVersion::Any, &[not_json(&fresh)]).await,
    ];
    assert!(
        matches!(
            refusals[0],
            Err(StoreError::DuplicateEvent { position, .. }) if position == first.positions.start
        ),
        "{refusals:?}"
    );
    assert!(
        matches!(refusals[1], Err(StoreError::Conflict { actual: 1, .. })),
        "{refusals:?}"
    );
    assert!(
        matches!(refusals[2], Err(StoreError::Unstorable { .. })),
        "{refusals:?}"
    );
    // The transaction still works: the caller's writes and a good append commit.
    sqlx::query("INSERT INTO balances VALUES ('acc-1', 1)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let appended = postgres::append(&mut tx, "acc-1", ExpectedVersion::Exact(1), &[fresh])
        .await
        .unwrap();
    assert_eq!(
        appended.positions,
        first.positions.end..first.positions.end + 1,
        "refused appends took no position"
    );
    tx.commit().await.unwrap();
    assert_eq!(balances(store.pool()).await, 1);
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 2);
}

/// Whether a connection of `schema` waits for an advisory lock (a stream's).
async fn waits_for_a_stream(schema: &PgSchema, pool: &PgPool) -> bool {
    sqlx::query_scalar(
        "SELECT count(*) > 0 FROM pg_stat_activity
         WHERE application_name = $1 AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
    )
    .bind(schema.name())
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_open_transaction_that_appended_holds_back_its_stream_and_readers_not_other_writers() {
    let schema = PgSchema::new();
    let store = PostgresStore::open(schema.pool(4).await).await.unwrap();
    let mut tx = store.pool().begin().await.unwrap();
    let early = postgres::append(&mut tx, "a", ExpectedVersion::NoStream, &[deposit(1)])
        .await
        .unwrap();

    // Another stream: appended and committed while the transaction is open.
    let late = tokio::time::timeout(
        Duration::from_secs(30),
        store.append("b", ExpectedVersion::NoStream, &[deposit(2)]),
    )
    .await
    .expect("an append to another stream does not wait for the open transaction")
    .unwrap();
    assert!(
        late.positions.start > early.positions.start,
        "the later transaction appends above the open one"
    );
    assert!(
        postgres::read_all(store.pool(), 0, 10)
            .await
            .unwrap()
            .is_empty(),
        "a reader stops below the open transaction, so it cannot pass `a`'s event"
    );

    // The same stream: waits for the transaction, then sees its event.
    let other = store.clone();
    let same_stream = tokio::spawn(async move {
        other
            .append("a", ExpectedVersion::NoStream, &[deposit(3)])
            .await
    });
    while !waits_for_a_stream(&schema, store.pool()).await {
        tokio::task::yield_now().await;
    }
    assert!(!same_stream.is_finished());
    tx.commit().await.unwrap();
    assert!(
        matches!(
            same_stream.await.unwrap(),
            Err(StoreError::Conflict { actual: 1, .. })
        ),
        "the second writer of `a` waited and then saw the first one's event"
    );
    let read: Vec<_> = store
        .read_all(0, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.position())
        .collect();
    assert_eq!(
        read,
        [early.positions.start, late.positions.start],
        "in transaction order, not commit order"
    );
}

#[tokio::test]
async fn events_postgres_cannot_hold_are_refused_with_their_reason() {
    use chrono::{TimeZone, Utc};
    let schema = PgSchema::new();
    let store = PostgresStore::open(schema.pool(2).await).await.unwrap();
    let event = deposit(1);
    let ancient = with(
        &event,
        Utc.with_ymd_and_hms(-5000, 1, 1, 0, 0, 0).unwrap(),
        event.data(),
    );
    let nul = with(
        &event,
        event.metadata().occurred_on(),
        r#"{"account": "a\u0000b"}"#,
    );
    let cases = [
        (ancient, "4713 BC"),
        (not_json(&event), "invalid input syntax for type json"),
        (nul, "Unicode escape"),
    ];
    for (bad, reason) in cases {
        let error = store
            .append("acc-1", ExpectedVersion::Any, &[deposit(2), bad.clone()])
            .await
            .unwrap_err();
        match &error {
            StoreError::Unstorable { id, .. } => assert_eq!(*id, bad.metadata().id()),
            other => panic!("expected Unstorable, got {other:?}"),
        }
        assert!(
            error.to_string().contains(reason),
            "`{error}` says `{reason}`"
        );
    }
    assert!(
        store.read_all(0, 10).await.unwrap().is_empty(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_backend_error() {
    let mut options: sqlx::postgres::PgConnectOptions =
        tidings_tests::postgres::postgres_url().parse().unwrap();
    options = options.port(1);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy_with(options);
    let error = PostgresStore::open(pool).await.unwrap_err();
    assert!(matches!(error, StoreError::Backend(_)), "{error:?}");
    // A sound connection still opens: the failure above was the port, not the server.
    let mut conn = PgSchema::new().connection().await;
    let one: i32 = sqlx::query("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(one, 1);
    conn.close().await.unwrap();
}

fn with(template: &NewEvent, time: chrono::DateTime<chrono::Utc>, data: &str) -> NewEvent {
    let meta = template.metadata();
    NewEvent::from_parts(
        Metadata::from_parts(
            uuid::Uuid::now_v7(),
            time,
            meta.correlation_id(),
            None,
            "/bank",
        ),
        "banking.deposited",
        1,
        data,
    )
}

fn not_json(template: &NewEvent) -> NewEvent {
    with(
        template,
        template.metadata().occurred_on(),
        "{\"account\": ",
    )
}

#[tokio::test]
async fn schemas_of_versions_1_and_4_holding_events_are_upgraded_on_open() {
    for from in [1, 4] {
        upgrade_from(from).await;
    }
}

/// Appends through the append function of schema versions 1 to 4 (the head row's).
async fn append_as_before(pool: &PgPool, event: &NewEvent) {
    let outcome: String = sqlx::query_scalar(
        "SELECT outcome FROM tidings_append('acc-1', 1::smallint, 0, ARRAY[$1::uuid],
             ARRAY[$2], ARRAY[1], ARRAY[now()], ARRAY[$3::uuid], ARRAY[NULL::uuid],
             ARRAY['/bank'], ARRAY[$4])",
    )
    .bind(event.metadata().id().to_string())
    .bind(event.name())
    .bind(event.metadata().correlation_id().to_string())
    .bind(event.data())
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(outcome, "appended");
}

/// A schema of version `from` (what that release created) holding two events, opened by
/// this release.
async fn upgrade_from(from: u32) {
    use tidings::broadcast::{Checkpoints, Leases};
    let schema = PgSchema::new();
    let pool = schema.pool(2).await;
    postgres::migrate_to(&mut pool.acquire().await.unwrap(), from)
        .await
        .unwrap();
    assert_eq!(
        schema_versions(&pool).await,
        (1..=from as i32).collect::<Vec<_>>()
    );
    for event in [deposit(5), deposit(7)] {
        append_as_before(&pool, &event).await;
    }

    let upgraded = PostgresStore::open(schema.pool(2).await).await.unwrap();
    let expected: Vec<i32> = (1..=SCHEMA_VERSION as i32).collect();
    assert_eq!(schema_versions(upgraded.pool()).await, expected);
    let cents: Vec<i64> = upgraded
        .read_all(0, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.decode_as::<Deposited>().unwrap().cents)
        .collect();
    assert_eq!(cents, [5, 7], "the stored events survive the upgrade");
    let appended = upgraded
        .append("acc-1", ExpectedVersion::Exact(2), &[deposit(11)])
        .await
        .unwrap();
    assert!(
        appended.positions.start > 2,
        "positions go on above the stored ones"
    );
    let after_the_old = upgraded.read_all(2, 10).await.unwrap();
    assert_eq!(
        after_the_old.len(),
        1,
        "a reader at the old end gets the new event"
    );
    assert_eq!(after_the_old[0].position(), appended.positions.start);
    assert!(
        sqlx::query("SELECT 1 FROM tidings_head")
            .fetch_optional(upgraded.pool())
            .await
            .is_err(),
        "the head row is gone"
    );
    upgraded
        .advance("projection", appended.positions.start)
        .await
        .unwrap();
    assert_eq!(
        upgraded.checkpoint("projection").await.unwrap(),
        appended.positions.start
    );
    assert!(upgraded
        .acquire("relay", "instance-1", Duration::from_secs(5))
        .await
        .unwrap());
}
