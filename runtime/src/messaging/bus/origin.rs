//! Who starts a unit of work: the bus itself, at the root of a conversation, or a handler,
//! through its [`Context`]. A handler's unit of work records its events as caused by the
//! handler's message, and its phases' handlers continue the handler's chain, which the depth
//! limit counts: no handler reaches the bus around the lineage.

use crate::messaging::bus::context::Context;
use crate::messaging::bus::Bus;
use crate::messaging::envelope::Metadata;
use crate::messaging::lineage::Lineage;

/// The bus, or a handler's context: what a store's `unit_of_work` and `execute` take to run
/// the phases' handlers. Pass `&bus` at the root of a conversation, and `ctx` inside a
/// handler, so what the unit of work records is caused by the handler's message and its
/// handlers count toward the depth limit.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a>(Source<'a>);

#[derive(Clone, Copy, Debug)]
enum Source<'a> {
    Bus(&'a Bus),
    Handler(&'a Context),
    Detached(&'a Detached),
}

/// An [`Origin`] that owns what it needs, to run a unit of work on another thread.
#[derive(Debug, Clone)]
pub(crate) struct Detached {
    bus: Bus,
    cause: Option<Metadata>,
    lineage: Lineage,
}

impl Detached {
    #[cfg_attr(
        not(feature = "sqlite"),
        allow(dead_code, reason = "used only by SQLite's async unit of work")
    )]
    pub(crate) fn origin(&self) -> Origin<'_> {
        Origin(Source::Detached(self))
    }
}

impl<'a> From<&'a Bus> for Origin<'a> {
    fn from(bus: &'a Bus) -> Origin<'a> {
        Origin(Source::Bus(bus))
    }
}

impl<'a> From<&'a Context> for Origin<'a> {
    fn from(context: &'a Context) -> Origin<'a> {
        Origin(Source::Handler(context))
    }
}

impl<'a> Origin<'a> {
    /// The bus the phases' handlers run on.
    pub fn bus(self) -> &'a Bus {
        match self.0 {
            Source::Bus(bus) => bus,
            Source::Handler(context) => &context.bus,
            Source::Detached(detached) => &detached.bus,
        }
    }

    /// The message that caused what is recorded: the handler's, if any.
    pub fn cause(self) -> Option<&'a Metadata> {
        match self.0 {
            Source::Bus(_) => None,
            Source::Handler(context) => Some(&context.meta),
            Source::Detached(detached) => detached.cause.as_ref(),
        }
    }

    /// The same origin, owning what it needs.
    #[cfg_attr(
        not(feature = "sqlite"),
        allow(dead_code, reason = "used only by SQLite's async unit of work")
    )]
    pub(crate) fn detach(self) -> Detached {
        Detached {
            bus: self.bus().clone(),
            cause: self.cause().cloned(),
            lineage: self.lineage(),
        }
    }

    /// The chain the phases' handlers continue.
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres")),
        allow(dead_code, reason = "used only by the backends that run units of work")
    )]
    pub(crate) fn lineage(self) -> Lineage {
        match self.0 {
            Source::Bus(_) => Lineage::default(),
            Source::Handler(context) => context.lineage.child(context.message, context.handler),
            Source::Detached(detached) => detached.lineage.clone(),
        }
    }

    /// The chain, if it is past the bus's depth limit: `(limit, links)`.
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres")),
        allow(dead_code, reason = "used only by the backends that run units of work")
    )]
    pub(crate) fn past_limit(self) -> Option<(usize, Vec<(&'static str, &'static str)>)> {
        let lineage = self.lineage();
        let limit = self.bus().max_depth();
        (lineage.depth() > limit).then(|| (limit, lineage.links().to_vec()))
    }
}
