//! What one publish or send gathers while it runs: failures, and the sink of follow-ups.

use crate::messaging::bus::ports::Sink;
use crate::messaging::bus::scoped::Scope;
use crate::messaging::error::{HandlerFailure, PublishError};

pub(super) struct Run<'s> {
    pub(super) failures: Vec<HandlerFailure>,
    pub(super) sink: &'s mut (dyn Sink + 's),
    /// What the dispatch lends every handler it runs, follow-ups included.
    pub(super) scope: Option<Scope<'s>>,
}

impl<'s> Run<'s> {
    pub(super) fn new(sink: &'s mut (dyn Sink + 's)) -> Run<'s> {
        Run {
            failures: Vec::new(),
            sink,
            scope: None,
        }
    }

    /// A run whose handlers are lent `scope`.
    pub(super) fn lending(sink: &'s mut (dyn Sink + 's), scope: Option<Scope<'s>>) -> Run<'s> {
        Run {
            failures: Vec::new(),
            sink,
            scope,
        }
    }

    pub(super) fn into_result(self) -> Result<(), PublishError> {
        PublishError::check(self.failures)
    }
}
