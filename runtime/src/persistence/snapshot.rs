//! Aggregates' snapshots as the stores keep them: one row per stream, written in the
//! transaction that appends the version it reflects, read before the events after it.

/// A snapshot row: an aggregate's state as of a version of its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SnapshotRow {
    pub(crate) stream: String,
    /// The stream version the state reflects.
    pub(crate) version: u64,
    /// The aggregate's `Snapshots::revision` when it was taken.
    pub(crate) revision: u32,
    /// The aggregate's Rust type, for whoever reads the table.
    pub(crate) aggregate: &'static str,
    /// The state's JSON.
    pub(crate) data: String,
}
