//! What the relay and the consumer report: the broker's refusals that retrying cannot fix,
//! and their state while they run (a [`watch`](tokio::sync::watch) channel, `tracing`
//! events and `metrics` counters and gauges).

use lapin::protocol::{AMQPErrorKind, AMQPHardError, AMQPSoftError};
use std::time::{Duration, SystemTime};

/// The broker refused something that will be refused again however often it is retried: the
/// relay or consumer stops and returns it, naming the fix.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: the broker said `{message}`")]
pub struct Refused {
    kind: Refusal,
    message: String,
}

/// What the broker refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// `ACCESS_REFUSED`: the user name or password is wrong, or the user may not use what was
    /// asked for.
    AccessRefused,
    /// `NOT_ALLOWED` on opening the connection: the virtual host does not exist, or the user
    /// has no permission on it.
    VirtualHost,
    /// `PRECONDITION_FAILED`: a queue or exchange of that name exists with other settings
    /// (type, durability, arguments).
    InequivalentArguments,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::AccessRefused => {
                "access refused (ACCESS_REFUSED): check the user name and password in the AMQP \
                 URI and the user's permissions on the virtual host"
            }
            Refusal::VirtualHost => {
                "the virtual host cannot be opened (NOT_ALLOWED): create it \
                 (`rabbitmqctl add_vhost`) and grant the user permissions on it, or fix the \
                 URI's path (`/%2f` is the default virtual host)"
            }
            Refusal::InequivalentArguments => {
                "a queue or exchange of that name exists with other settings \
                 (PRECONDITION_FAILED): give this one another name, or delete the old one if \
                 nothing else uses it"
            }
        })
    }
}

impl Refused {
    /// What was refused.
    pub fn kind(&self) -> Refusal {
        self.kind
    }

    /// The broker's own text.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// `Err(refused)` for what retrying cannot fix, the error back otherwise.
pub(super) fn refusal(error: lapin::Error) -> Result<Refused, lapin::Error> {
    let lapin::ErrorKind::ProtocolError(amqp) = error.kind() else {
        return Err(error);
    };
    let kind = match amqp.kind() {
        AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED) => Refusal::AccessRefused,
        AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED) => Refusal::InequivalentArguments,
        AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED) => Refusal::VirtualHost,
        _ => return Err(error),
    };
    Ok(Refused {
        kind,
        message: amqp.get_message().to_string(),
    })
}

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
pub(super) fn since(then: SystemTime) -> Duration {
    SystemTime::now()
        .duration_since(then)
        .unwrap_or(Duration::ZERO)
}
