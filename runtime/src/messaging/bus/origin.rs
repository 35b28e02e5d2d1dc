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
pub enum Origin<'a> {
    /// A conversation's root: the caller is no handler.
    Bus(&'a Bus),
    /// A handler, handling a message.
    Handler(&'a Context),
}

impl<'a> From<&'a Bus> for Origin<'a> {
    fn from(bus: &'a Bus) -> Origin<'a> {
        Origin::Bus(bus)
    }
}

impl<'a> From<&'a Context> for Origin<'a> {
    fn from(context: &'a Context) -> Origin<'a> {
        Origin::Handler(context)
    }
}

impl<'a> Origin<'a> {
    /// The bus the phases' handlers run on.
    pub fn bus(self) -> &'a Bus {
        match self {
            Origin::Bus(bus) => bus,
            Origin::Handler(context) => &context.bus,
        }
    }

    /// The message that caused what is recorded: the handler's, if any.
    pub fn cause(self) -> Option<&'a Metadata> {
        match self {
            Origin::Bus(_) => None,
            Origin::Handler(context) => Some(&context.meta),
        }
    }

    /// The chain the phases' handlers continue.
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres")),
        allow(dead_code, reason = "used only by the backends that run units of work")
    )]
    pub(crate) fn lineage(self) -> Lineage {
        match self {
            Origin::Bus(_) => Lineage::default(),
            Origin::Handler(context) => context.lineage.child(context.message, context.handler),
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
