//! The routing core: the link-time registry, the table `build()` makes of it, the context
//! handlers receive, and dispatch. Layers above plug in through [`ports`] only.
//!
//! Inside, files depend one way: `registry` → `call` (typed entry points) → `table` →
//! `build`; `context`, `invocation` and `run` are what a handler call needs; `dispatch`
//! drives publish and send on top of all of them.

pub(crate) mod build;
pub(crate) mod builder;
pub(crate) mod call;
pub(crate) mod context;
pub(crate) mod dispatch;
pub(crate) mod invocation;
pub(crate) mod live;
pub(crate) mod location;
pub(crate) mod origin;
pub(crate) mod ports;
pub(crate) mod problems;
mod provided;
pub(crate) mod reference;
pub(crate) mod registry;
pub(crate) mod routes;
mod run;
pub(crate) mod scoped;
mod table;
pub(crate) mod upcast;
mod versions;

use crate::messaging::values::Values;
use std::sync::Arc;

/// Routes events to their handlers and commands and queries to their one handler.
///
/// Built with [`Bus::builder`]; cloning shares the same table and provided values.
/// [`Bus::with`] gives a bus that attaches a context value to every message it stamps.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
    /// The context values this bus attaches ([`Bus::with`]); none on a built bus.
    values: Values,
}

struct Inner {
    table: table::Table,
    provided: Vec<provided::Provided>,
    observers: Box<[Arc<dyn ports::Observer>]>,
    max_depth: usize,
}

impl Bus {
    /// How deep follow-up messages may nest on this bus.
    pub(crate) fn max_depth(&self) -> usize {
        self.inner.max_depth
    }

    /// The context values this bus attaches to what it stamps.
    pub(crate) fn values(&self) -> &Values {
        &self.values
    }
}

/// How deep follow-up messages may nest before the chain is reported as a loop.
pub const DEFAULT_MAX_DEPTH: usize = 32;

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("messages", &self.inner.table.routes.len())
            .field(
                "provided",
                &self
                    .inner
                    .provided
                    .iter()
                    .map(|p| p.rust_type)
                    .collect::<Vec<_>>(),
            )
            .field("observers", &self.inner.observers.len())
            .field("values", &self.values)
            .finish_non_exhaustive()
    }
}
