//! What a handler's shim reads besides the message: its dependencies and its `Context`.

use crate::messaging::bus::context::Context;
use crate::messaging::bus::provided::Provided;
use std::sync::Arc;

/// The arguments a handler's shim reads: resolved dependencies and the optional context.
#[doc(hidden)]
pub struct Invocation<'a> {
    pub(super) provided: &'a [Provided],
    /// For each dependency parameter, in order, its index in `provided` (resolved by `build()`).
    pub(super) slots: &'a [usize],
    pub(super) context: Option<&'a Context>,
}

impl<'a> Invocation<'a> {
    pub fn dependency<T: ?Sized + 'static>(&self, slot: usize) -> &'a T {
        let provided = &self.provided[self.slots[slot]];
        match provided.value.downcast_ref::<Arc<T>>() {
            Some(value) => value,
            None => unreachable!("build() resolved slot {slot} to a `{}`", provided.rust_type),
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
