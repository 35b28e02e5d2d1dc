//! What a relay or a consumer reports while it runs, whichever broker it speaks to: a
//! [`watch`](tokio::sync::watch) channel of its state, `tracing` events and `metrics` counters
//! and gauges.

use std::time::{Duration, SystemTime};

/// What a relay or consumer is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Activity {
    /// Not started yet.
    #[default]
    Starting,
    /// Connecting to the broker and checking the topology.
    Connecting,
    /// Connected: publishing, or consuming.
    Running,
    /// Waiting before the next attempt, after [`last_error`](RelayStatus::last_error).
    Waiting,
    /// Stopped as asked.
    Stopped,
    /// Stopped on an error that retrying cannot fix.
    Failed,
}

/// A relay's state while it runs: [`Relay::status`](super::Relay::status).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RelayStatus {
    /// What it is doing.
    pub activity: Activity,
    /// Attempts to connect and publish so far (1 once started).
    pub attempts: u64,
    /// The last error, kept until the next one (`None`: none yet).
    pub last_error: Option<String>,
    /// The position up to which the store's events are published and confirmed (the
    /// checkpoint).
    pub published: u64,
    /// Events of the store after [`published`](RelayStatus::published), as last read (at most
    /// one batch is counted: a full batch means there may be more).
    pub lag_events: u64,
    /// How long the oldest of them has been waiting (from its occurred-on time); zero when
    /// caught up.
    pub behind: Duration,
    /// Messages published and confirmed since the relay started.
    pub confirmed: u64,
}

/// A consumer's state while it runs: [`Consumer::status`](super::Consumer::status).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ConsumerStatus {
    /// What it is doing.
    pub activity: Activity,
    /// Attempts to connect and consume so far (1 once started).
    pub attempts: u64,
    /// The last error, kept until the next one (`None`: none yet).
    pub last_error: Option<String>,
    /// Events whose handlers ran and committed since the consumer started.
    pub handled: u64,
    /// Deliveries of events the inbox had already recorded (repeats, with no effect).
    pub repeats: u64,
    /// Deliveries whose handlers failed: rolled back and given back to the queue for
    /// another try.
    pub failed: u64,
    /// Messages put in the dead-letter queue by this consumer.
    pub dead_lettered: u64,
    /// The last event handled: its id as the producer sent it.
    pub last_handled: Option<String>,
    /// Messages waiting in the queue, as the broker last said (checked every second).
    pub lag_events: u64,
    /// How long ago the last handled event occurred, when it was handled.
    pub behind: Duration,
}

/// Time from `then` to now, zero when `then` is in the future.
pub(crate) fn since(then: SystemTime) -> Duration {
    SystemTime::now()
        .duration_since(then)
        .unwrap_or(Duration::ZERO)
}
