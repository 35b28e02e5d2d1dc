//! What one publish or send gathers while it runs: failures, and the sink of follow-ups.

use crate::messaging::bus::ports::Sink;
use crate::messaging::error::{HandlerFailure, PublishError};

pub(super) struct Run<'s> {
    pub(super) failures: Vec<HandlerFailure>,
    pub(super) sink: &'s mut (dyn Sink + 's),
}

impl<'s> Run<'s> {
    pub(super) fn new(sink: &'s mut (dyn Sink + 's)) -> Run<'s> {
        Run {
            failures: Vec::new(),
            sink,
        }
    }

    pub(super) fn into_result(self) -> Result<(), PublishError> {
        PublishError::check(self.failures)
    }
}
