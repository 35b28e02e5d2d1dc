//! What a handler's shim reads besides the message: its dependencies and its `Context`.

use crate::messaging::bus::context::Context;
use crate::messaging::bus::provided::Provided;
use crate::messaging::bus::scoped::{Scope, SCOPED};
use std::any::Any;
use std::sync::Arc;

/// The arguments a handler's shim reads: resolved dependencies and the optional context.
#[doc(hidden)]
pub struct Invocation<'a> {
    pub(super) provided: &'a [Provided],
    /// For each dependency parameter, in order, its index in `provided` (resolved by `build()`).
    pub(super) slots: &'a [usize],
    pub(super) context: Option<&'a Context>,
    /// What the dispatch lends its handlers (a transaction), for the slots marked `SCOPED`.
    pub(super) scope: Option<Scope<'a>>,
}

impl<'a> Invocation<'a> {
    pub fn dependency<T: ?Sized + 'static>(&self, slot: usize) -> &'a T {
        let value: &'a (dyn Any + Send + Sync) = match self.slots[slot] {
            SCOPED => match self.scope {
                Some(scope) => scope.value,
                None => unreachable!("a handler that needs a scope is called only with one"),
            },
            index => &*self.provided[index].value,
        };
        match value.downcast_ref::<Arc<T>>() {
            Some(value) => value,
            None => unreachable!(
                "build() resolved slot {slot} to a `{}`",
                std::any::type_name::<T>()
            ),
        }
    }

    pub fn context(&self) -> &'a Context {
        self.context
            .expect("build() gives a context to every handler that takes one")
    }
}

impl std::fmt::Debug for Invocation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invocation")
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}
