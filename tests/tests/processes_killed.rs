//! The process kill test on SQLite: a runner and two schedulers (`src/bin/process_node.rs`)
//! on one file, killed with SIGKILL again and again (`support/killed.rs`). The schedulers
//! take turns on SQLite's one writer.

#[path = "support/killed.rs"]
mod killed;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use tidings::broadcast::sqlite::SqliteInbox;
use tidings_tests::Scratch;

struct Db {
    _dir: Scratch,
    path: PathBuf,
    inbox: SqliteInbox,
}

impl killed::Db for Db {
    fn spawn(&self, role: &str) -> Child {
        Command::new(env!("CARGO_BIN_EXE_process_node"))
            .arg(&self.path)
            .arg(role)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the node starts")
    }

    async fn add_incoming(&self, envelopes: &[String]) {
        self.inbox.with_connection(|conn| {
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            for envelope in envelopes {
                conn.execute("INSERT INTO incoming (envelope) VALUES (?1)", [envelope])
                    .unwrap();
            }
            conn.execute_batch("COMMIT").unwrap();
        });
    }

    async fn incoming_left(&self) -> i64 {
        self.count("SELECT count(*) FROM incoming")
    }

    async fn instances(&self) -> Vec<(String, String, bool, i64)> {
        self.inbox.with_connection(|conn| {
            let mut statement = conn
                .prepare(
                    "SELECT key, state, ended, version FROM tidings_processes
                     WHERE process = 'killed.order'",
                )
                .unwrap();
            statement
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        })
    }

    async fn waiting(&self) -> i64 {
        self.count("SELECT count(*) FROM tidings_scheduled")
    }

    async fn streams(&self) -> BTreeMap<String, Vec<String>> {
        self.inbox.with_connection(|conn| {
            let mut statement = conn
                .prepare("SELECT stream, name FROM tidings_events ORDER BY position")
                .unwrap();
            let mut streams: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let rows = statement
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .unwrap();
            for row in rows {
                let (stream, name) = row.unwrap();
                streams.entry(stream).or_default().push(name);
            }
            streams
        })
    }
}

impl Db {
    fn count(&self, sql: &str) -> i64 {
        self.inbox
            .with_connection(|conn| conn.query_row(sql, [], |r| r.get(0)).unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_runners_and_schedulers_lose_no_step_and_repeat_none() {
    let seed = killed::seed();
    let dir = Scratch::new("processes-killed");
    let path = dir.join("app.db");
    let inbox = SqliteInbox::open(&path).unwrap();
    inbox
        .with_connection(|conn| {
            conn.execute_batch(
                "CREATE TABLE incoming (seq INTEGER PRIMARY KEY AUTOINCREMENT, envelope TEXT NOT NULL)",
            )
        })
        .unwrap();
    killed::run(
        &Db {
            _dir: dir,
            path,
            inbox,
        },
        seed,
    )
    .await;
}
