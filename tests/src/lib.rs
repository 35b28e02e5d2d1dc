//! Behaviour, compile-fail (trybuild) and cross-crate link tests of tidings; see `tests/`.
//!
//! The library holds what several tests share: scratch directories, the event the crash
//! test's writer (`src/bin/store_writer.rs`) appends, and (feature `postgres`) a schema of
//! its own on the test server for each PostgreSQL test.

#[cfg(feature = "postgres")]
pub mod postgres;

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
