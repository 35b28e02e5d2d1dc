//! Behaviour, compile-fail (trybuild) and cross-crate link tests of tidings; see `tests/`.
//!
//! The library holds what several tests share: scratch directories, the event the crash
//! test's writer (`src/bin/store_writer.rs`) appends, the processor and lease scenarios every
//! backend runs ([`processors`]), the fault-injection test's consumer process ([`consumer`]) and
//! broker ([`broker`]), the process kill test's domain and node loop ([`killed`]), and (feature
//! `postgres`) a schema of its own on the test server for each PostgreSQL test, and (feature
//! `opentelemetry`) the trace tests' in-memory OpenTelemetry pipeline ([`otel`]).

pub mod broker;
pub mod consumer;
pub mod killed;
pub mod nats;
#[cfg(feature = "opentelemetry")]
pub mod otel;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod processors;

use std::path::{Path, PathBuf};

/// A directory of its own under the system's temporary directory, removed when dropped.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A new, empty directory whose name starts with `label`.
    pub fn new(label: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!(
            "tidings-{label}-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Scratch { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path in the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// What the crash test's writer appends: event `index` of a batch of `size`, the batch
/// numbered `batch` by the writer run `run`.
#[derive(tidings::DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "tidings_tests.tick")]
pub struct Tick {
    pub run: u32,
    pub batch: u32,
    pub index: u32,
    pub size: u32,
}

/// The integration event the broadcasting tests relay: number `n` of a run.
#[derive(tidings::DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "tidings_tests.numbered", integration)]
pub struct Numbered {
    pub n: u64,
}

/// An event that stays in its context: the relay passes it over.
#[derive(tidings::DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "tidings_tests.internal")]
pub struct Internal {
    pub n: u64,
}

/// The tables of the fault-injection test's consumer (`src/bin/consumer.rs`): one row per
/// effect, in the order they happen, and one per repeated delivery its inbox absorbed.
pub const CONSUMER_TABLES: &str = "
    CREATE TABLE IF NOT EXISTS effects (
        seq INTEGER PRIMARY KEY, n INTEGER NOT NULL, event_id TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS repeats (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL);
";

/// The seed of a test's random choices: `TIDINGS_TEST_SEED` when set (to replay a failure),
/// a fresh one otherwise. Printed either way, so the output of a failing test says how to
/// replay it.
pub fn seed() -> u64 {
    let seed = std::env::var("TIDINGS_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("seed {seed} (TIDINGS_TEST_SEED={seed} repeats this run)");
    seed
}

/// The RabbitMQ the broadcasting tests use: `TIDINGS_TEST_AMQP`, by default
/// `amqp://guest:guest@127.0.0.1:5672/%2f`. Fails (never skips) when nothing listens there.
pub fn amqp_uri() -> String {
    let uri = std::env::var("TIDINGS_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let authority = uri.split("://").nth(1).unwrap_or(&uri);
    let authority = authority.split('/').next().unwrap_or(authority);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let address = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5672")
    };
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(&address)
        .ok()
        .and_then(|mut addresses| addresses.next())
        .is_some_and(|address| {
            std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(3))
                .is_ok()
        });
    assert!(
        reachable,
        "no RabbitMQ at {address} (TIDINGS_TEST_AMQP={uri}): run the tests through `scripts/test`, \
         which installs and starts the servers they need"
    );
    uri
}

/// A name no other test run uses, for exchanges and queues: `label` and a fresh UUID.
pub fn unique(label: &str) -> String {
    format!("tidings-test.{label}.{}", uuid::Uuid::now_v7().simple())
}
