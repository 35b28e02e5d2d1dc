//! Broker calls bounded in time. A lapin future waits for the broker's answer, and a broker
//! that stops answering without closing the socket (halfway through a restart, say) would
//! keep the relay or the consumer waiting for good, connected to nothing; a call that takes
//! too long fails instead, and the attempt starts again on a fresh connection.

use std::future::Future;
use std::time::Duration;

/// The longest a connection and its channel's setup may take.
#[cfg_attr(not(any(feature = "amqp", feature = "nats")), allow(dead_code))]
pub(crate) const SETUP: Duration = Duration::from_secs(30);

/// The longest one call on an open channel may take (sending an acknowledgement, a
/// publisher confirm of the dead-letter queue).
pub(crate) const CALL: Duration = Duration::from_secs(30);

/// How often a consumer waiting for messages checks that its connection is still up.
#[cfg_attr(not(any(feature = "amqp", feature = "nats")), allow(dead_code))]
pub(crate) const WATCH: Duration = Duration::from_secs(1);

/// A broker call that got no answer in time: the attempt is abandoned and starts again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the broker did not answer {what} within {after:?}")]
pub struct Unanswered {
    what: &'static str,
    after: Duration,
}

impl Unanswered {
    /// What was asked of the broker.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// How long it was given.
    pub fn after(&self) -> Duration {
        self.after
    }
}

/// `call`'s outcome, or [`Unanswered`] once `after` has passed.
pub(crate) async fn within<T, E: From<Unanswered>>(
    what: &'static str,
    after: Duration,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    tokio::time::timeout(after, call)
        .await
        .unwrap_or_else(|_| Err(Unanswered { what, after }.into()))
}
