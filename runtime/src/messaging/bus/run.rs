//! What one publish or send gathers while it runs: failures, and the sink of follow-ups.

use crate::messaging::bus::ports::Sink;
use crate::messaging::error::{HandlerFailure, PublishError};

pub(crate) struct Run<'s> {
    pub(crate) failures: Vec<HandlerFailure>,
    pub(crate) sink: &'s mut (dyn Sink + 's),
}

impl<'s> Run<'s> {
    pub(crate) fn new(sink: &'s mut (dyn Sink + 's)) -> Run<'s> {
        Run {
            failures: Vec::new(),
            sink,
        }
    }

    pub(crate) fn into_result(self) -> Result<(), PublishError> {
        PublishError::check(self.failures)
    }
}
