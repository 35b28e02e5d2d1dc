//! What publishing and sending report: every failed handler, by name, with its error.

use crate::messaging::lineage::Lineage;
use crate::messaging::message::Request;
use uuid::Uuid;

/// An error a handler returned, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why one handler failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum FailureReason {
    /// The handler returned an error.
    Error(BoxError),
    /// The handler panicked; the panic was caught and its message kept.
    Panicked(String),
    /// An async handler was reached from a synchronous call (`publish_sync`, `send_sync`).
    AsyncInSyncCall,
    /// Following the handler's published events would exceed the bus's depth limit: the
    /// messages form a loop, or a chain too long to be intended.
    DepthExceeded {
        /// The limit set with `max_depth`.
        limit: usize,
        /// Each message of the chain and the handler that published the next one.
        chain: Vec<(&'static str, &'static str)>,
    },
    /// The handler queued a command that has no handler on this bus (one scoped with
    /// [`BusBuilder::only`](crate::BusBuilder::only), or built from explicit registrations).
    NoHandler {
        /// The command's wire name.
        command: &'static str,
    },
    /// The handler takes a value that only a unit of work or an inbox delivery lends (a
    /// transaction), and the event reached it without one: it was published on the bus.
    NotLent {
        /// The type the handler takes.
        rust_type: &'static str,
        /// Who lends it.
        lent_by: &'static str,
    },
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureReason::Error(error) => write!(f, "{error}"),
            FailureReason::Panicked(message) => write!(f, "panicked: {message}"),
            FailureReason::AsyncInSyncCall => f.write_str(
                "is async and was reached from a synchronous call: use `publish(..).await` or `send(..).await` on an async runtime",
            ),
            FailureReason::DepthExceeded { limit, chain } => {
                write!(f, "published past the depth limit of {limit}: ")?;
                for (message, handler) in chain {
                    write!(f, "{message} -[{handler}]-> ")?;
                }
                f.write_str("…")
            }
            FailureReason::NoHandler { command } => {
                write!(f, "queued `{command}`, which has no handler on this bus")
            }
            FailureReason::NotLent { rust_type, lent_by } => write!(
                f,
                "takes `&{rust_type}`, which only {lent_by} lends its handlers, and this event \
                 was published without one: commit it through a unit of work or deliver it \
                 through an inbox"
            ),
        }
    }
}

/// One handler that failed, named, with the message it was handling.
#[derive(Debug)]
pub struct HandlerFailure {
    pub(crate) handler: &'static str,
    pub(crate) message: &'static str,
    pub(crate) message_id: Uuid,
    pub(crate) reason: FailureReason,
}

impl HandlerFailure {
    /// The failed handler's name.
    pub fn handler(&self) -> &'static str {
        self.handler
    }

    /// The wire name of the message it was handling.
    pub fn message(&self) -> &'static str {
        self.message
    }

    /// The id of that message.
    pub fn message_id(&self) -> Uuid {
        self.message_id
    }

    /// Why it failed.
    pub fn reason(&self) -> &FailureReason {
        &self.reason
    }

    /// The error the handler returned, if it returned one.
    pub fn error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match &self.reason {
            FailureReason::Error(error) => Some(&**error),
            _ => None,
        }
    }
}

impl std::fmt::Display for HandlerFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "handler `{}` on `{}` ({}): {}",
            self.handler, self.message, self.message_id, self.reason
        )
    }
}

/// Publishing ran every handler, and these failed.
///
/// Its `Debug` form is its `Display` text, so `?` from `main` and `.unwrap()` print it.
pub struct PublishError {
    pub(crate) failures: Vec<HandlerFailure>,
}

impl PublishError {
    /// `Ok` when nothing failed, else the error listing every failure.
    pub(crate) fn check(failures: Vec<HandlerFailure>) -> Result<(), PublishError> {
        if failures.is_empty() {
            Ok(())
        } else {
            Err(PublishError { failures })
        }
    }

    /// Both results' failures in one, `Ok` when neither failed.
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres")),
        allow(dead_code, reason = "used only by the backends that run units of work")
    )]
    pub(crate) fn merge(
        first: Result<(), PublishError>,
        second: Result<(), PublishError>,
    ) -> Result<(), PublishError> {
        let mut failures = first.err().map_or_else(Vec::new, |e| e.failures);
        failures.extend(second.err().map_or_else(Vec::new, |e| e.failures));
        PublishError::check(failures)
    }

    /// Every failed handler, in the order they ran.
    pub fn failures(&self) -> &[HandlerFailure] {
        &self.failures
    }

    /// Whether the handler with this name failed.
    pub fn failed(&self, handler: &str) -> bool {
        self.failures.iter().any(|f| f.handler == handler)
    }

    /// The first error of type `R` that a handler returned: a rule's typed refusal, say.
    pub fn downcast_ref<R: std::error::Error + 'static>(&self) -> Option<&R> {
        self.failures
            .iter()
            .find_map(|failure| failure.error()?.downcast_ref::<R>())
    }
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.failures.len();
        write!(f, "{n} handler{} failed", if n == 1 { "" } else { "s" })?;
        for failure in &self.failures {
            write!(f, "\n  - {failure}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for PublishError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.failures.as_slice() {
            [only] => only
                .error()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            _ => None,
        }
    }
}

/// Sending a command or asking a query failed. `R` is the message type, so the handler's own
/// error keeps its type.
///
/// Its `Debug` form is its `Display` text, so `?` from `main` and `.unwrap()` print it.
#[non_exhaustive]
pub enum SendError<R: Request> {
    /// The handler returned its error.
    Handler {
        /// The handler's name.
        handler: &'static str,
        /// The error, as the handler declared it.
        error: R::Error,
    },
    /// The handler panicked; the panic was caught.
    Panicked {
        /// The handler's name.
        handler: &'static str,
        /// The panic's message.
        message: String,
    },
    /// The handler succeeded, but handlers of the follow-up messages it caused (events it
    /// published, commands it queued) failed. Those failures do not undo the command: its
    /// output is here.
    FollowUps {
        /// What the handler returned.
        output: R::Output,
        /// The failed follow-up handlers.
        failures: PublishError,
    },
    /// An async handler was reached from `send_sync` or `query_sync`.
    AsyncInSyncCall {
        /// The handler's name.
        handler: &'static str,
    },
    /// The bus has no handler for this message. `build()` refuses a bus where a command or
    /// query has none, so this happens only on a bus scoped with
    /// [`BusBuilder::only`](crate::BusBuilder::only) (whose handler lives outside the scope), a
    /// bus built from explicit registrations, or a target where inventory registers nothing.
    NoHandler {
        /// The message's wire name.
        message: &'static str,
    },
    /// Sending from handlers nested deeper than the bus's depth limit.
    DepthExceeded {
        /// The limit set with `max_depth`.
        limit: usize,
        /// Each message of the chain and the handler that sent the next one.
        chain: Vec<(&'static str, &'static str)>,
    },
}

impl<R: Request> SendError<R> {
    /// The handler's own error, if that is what failed.
    pub fn handler_error(&self) -> Option<&R::Error> {
        match self {
            SendError::Handler { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The output, when the handler succeeded and only follow-up handlers failed.
    pub fn into_output(self) -> Option<R::Output> {
        match self {
            SendError::FollowUps { output, .. } => Some(output),
            _ => None,
        }
    }

    pub(crate) fn depth_exceeded(limit: usize, lineage: &Lineage) -> Self {
        SendError::DepthExceeded {
            limit,
            chain: lineage.links().to_vec(),
        }
    }
}

/// The `Display` text, so `?` from `main` and `.unwrap()` print it.
impl<R: Request> std::fmt::Debug for SendError<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl<R: Request> std::fmt::Display for SendError<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = R::NAME;
        match self {
            SendError::Handler { handler, error } => write!(f, "handler `{handler}` of `{name}` failed: {error}"),
            SendError::Panicked { handler, message } => write!(f, "handler `{handler}` of `{name}` panicked: {message}"),
            SendError::FollowUps { failures, .. } => {
                write!(f, "`{name}` succeeded, but handlers of the messages it caused failed: {failures}")
            }
            SendError::AsyncInSyncCall { handler } => write!(
                f,
                "handler `{handler}` of `{name}` is async and was reached from a synchronous call: use `.await` on an async runtime"
            ),
            SendError::NoHandler { message } => write!(f, "no handler is registered for `{message}`"),
            SendError::DepthExceeded { limit, chain } => {
                write!(f, "sending `{name}` exceeds the depth limit of {limit}: ")?;
                for (message, handler) in chain {
                    write!(f, "{message} -[{handler}]-> ")?;
                }
                write!(f, "{name}")
            }
        }
    }
}

impl<R: Request> std::error::Error for SendError<R> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Handler { error, .. } => Some(error),
            SendError::FollowUps { failures, .. } => Some(failures),
            _ => None,
        }
    }
}
