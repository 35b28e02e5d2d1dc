//! The everyday command in one call: load an aggregate inside a unit of work, decide, append
//! with the loaded version, commit, and on a conflict load again and retry. Each store's
//! `execute` runs this; here is what they share: the options, the work's error, and the
//! decision inside the unit.

use crate::messaging::aggregate::Aggregate;
use crate::persistence::aggregate::{LoadError, Loaded};
use crate::persistence::unit_of_work::UnitOfWorkError;
use crate::{Metadata, Origin};

/// How a store's `execute_with` runs a command: how many attempts a conflict may take, and
/// which message caused it.
///
/// ```
/// use tidings::persistence::Execute;
/// let options = Execute::default().attempts(5);
/// assert_eq!(options.max_attempts(), 5);
/// ```
#[derive(Debug, Clone)]
pub struct Execute {
    attempts: u32,
    cause: Option<Metadata>,
}

/// Attempts by default: a command that conflicts twice in a row is retried once more.
pub const DEFAULT_ATTEMPTS: u32 = 3;

impl Default for Execute {
    fn default() -> Execute {
        Execute {
            attempts: DEFAULT_ATTEMPTS,
            cause: None,
        }
    }
}

#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the backends that run units of work")
)]
impl Execute {
    /// At most `attempts` attempts (at least one): each conflict with another writer loads
    /// the aggregate again and decides again, until the last, whose conflict is returned.
    pub fn attempts(mut self, attempts: u32) -> Execute {
        self.attempts = attempts.max(1);
        self
    }

    /// The recorded events are caused by `cause`: they inherit its correlation id and name it
    /// as their causation. Inside a handler, passing its `ctx` to `execute` does this already.
    pub fn caused_by(mut self, cause: &Metadata) -> Execute {
        self.cause = Some(cause.clone());
        self
    }

    /// The most attempts a command takes.
    pub fn max_attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether attempt `attempt` (from 1) ended in a conflict that another attempt may pass.
    pub(crate) fn retry<E>(
        &self,
        attempt: u32,
        outcome: &Result<impl Sized, UnitOfWorkError<E>>,
    ) -> bool {
        attempt < self.attempts && outcome.as_ref().is_err_and(UnitOfWorkError::is_conflict)
    }

    /// Decides on `loaded` and records what the decision returned, caused by the options'
    /// cause, or else by the handler the command runs in.
    pub(crate) fn decide<A: Aggregate, E>(
        &self,
        loaded: &mut Loaded<A>,
        origin: Origin<'_>,
        decide: impl FnOnce(&A) -> Result<Vec<A::Event>, E>,
    ) -> Result<(), CommandError<E>> {
        if let Some(cause) = self.cause.as_ref().or(origin.cause()) {
            loaded.caused_by(cause);
        }
        loaded.decide(decide).map_err(CommandError::Rejected)
    }
}

/// Why a command's unit of work rolled back before its commit: the decision refused, or the
/// aggregate could not be loaded. It is the work's error of the [`UnitOfWorkError`] that a
/// store's `execute` returns, beside a vetoing `before_commit` handler and a conflict.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError<E> {
    /// The decision refused, with its own error: nothing was written.
    #[error("the command was refused: {0}")]
    Rejected(E),
    /// The aggregate could not be loaded.
    #[error(transparent)]
    Load(Box<LoadError>),
}

impl<E> From<LoadError> for CommandError<E> {
    fn from(error: LoadError) -> CommandError<E> {
        CommandError::Load(Box::new(error))
    }
}

impl<E> UnitOfWorkError<CommandError<E>> {
    /// The decision's own error, if the command was refused.
    pub fn rejected(&self) -> Option<&E> {
        match self.work_error()? {
            CommandError::Rejected(error) => Some(error),
            CommandError::Load(_) => None,
        }
    }

    /// The decision's own error, by value, if the command was refused.
    pub fn into_rejected(self) -> Option<E> {
        match self.into_work_error()? {
            CommandError::Rejected(error) => Some(error),
            CommandError::Load(_) => None,
        }
    }
}
