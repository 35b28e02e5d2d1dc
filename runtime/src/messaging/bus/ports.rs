//! The bus's two ports, where the layers above plug in without the core naming them: an
//! [`Observer`] of every dispatched envelope, and a [`Sink`] for what handlers publish or
//! queue.

use crate::messaging::envelope::{Envelope, Metadata};
use crate::messaging::erased::{ErasedMessage, Queued};
use crate::messaging::lineage::Lineage;
use crate::messaging::message::DomainEvent;
use std::collections::VecDeque;

/// Sees every event envelope the bus dispatches, follow-ups included, before its handlers run.
///
/// Given to the builder with [`BusBuilder::observe`](crate::BusBuilder::observe). The test
/// [`Recorder`](crate::testing::Recorder) is one; a metrics hook is another.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use tidings::{Bus, DomainEvent, EnvelopeRef, Observer};
///
/// #[derive(DomainEvent, Debug)]
/// #[event(name = "docs.kettle_boiled")]
/// struct KettleBoiled;
///
/// #[derive(Default)]
/// struct Count(AtomicUsize);
///
/// impl Observer for Count {
///     fn dispatched(&self, event: EnvelopeRef<'_>) {
///         if event.downcast_ref::<KettleBoiled>().is_some() {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let count = Arc::new(Count::default());
/// let bus = Bus::builder().observe_arc(count.clone()).build()?;
/// bus.publish_sync(KettleBoiled)?;
/// assert_eq!(count.0.load(Ordering::Relaxed), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Observer: Send + Sync + 'static {
    /// Called once for each envelope, on the publishing thread, before its handlers run.
    fn dispatched(&self, event: EnvelopeRef<'_>);
}

/// An envelope being dispatched, as an [`Observer`] sees it.
#[derive(Clone, Copy)]
pub struct EnvelopeRef<'a> {
    event: &'a dyn ErasedMessage,
}

impl<'a> EnvelopeRef<'a> {
    pub(super) fn new(event: &'a dyn ErasedMessage) -> EnvelopeRef<'a> {
        EnvelopeRef { event }
    }

    /// The event's wire name.
    pub fn name(&self) -> &'static str {
        self.event.name()
    }

    /// The event's schema version.
    pub fn version(&self) -> u32 {
        self.event.version()
    }

    /// The envelope's metadata.
    pub fn metadata(&self) -> &'a Metadata {
        self.event.meta()
    }

    /// The typed envelope, if it holds an `E`.
    pub fn downcast_ref<E: DomainEvent>(&self) -> Option<&'a Envelope<E>> {
        self.event.as_any().downcast_ref()
    }

    /// The CloudEvents JSON form, as [`Envelope::to_json`] gives it.
    pub fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        self.event.to_json()
    }
}

impl std::fmt::Debug for EnvelopeRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvelopeRef")
            .field("name", &self.name())
            .field("version", &self.version())
            .field("meta", self.metadata())
            .finish()
    }
}

/// A message a handler published or queued, with what caused it.
pub(super) struct FollowUp {
    pub(super) message: Queued,
    /// The chain of messages and handlers that led to it (for the depth limit).
    pub(super) lineage: Lineage,
    /// The span of the handler that published or queued it: the parent of its own span.
    pub(super) cause: tracing::Span,
}

/// Where the events and commands a handler publishes or queues go once it has returned.
///
/// The default, [`BreadthFirst`], hands them back for dispatch in the order they were
/// queued; a sink that holds them (a unit of work, until it commits) hands back nothing.
pub(super) trait Sink: Send {
    /// Takes a message a handler published or queued.
    fn accept(&mut self, follow_up: FollowUp);
    /// The next message to dispatch now, if any.
    fn next(&mut self) -> Option<FollowUp>;
}

/// Holds follow-ups back: a unit of work dispatches what its `before_commit` handlers
/// published only once it has committed, and drops it if it rolls back.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the backends that run units of work")
)]
#[derive(Default)]
pub(crate) struct Held {
    follow_ups: Vec<FollowUp>,
}

impl Sink for Held {
    fn accept(&mut self, follow_up: FollowUp) {
        self.follow_ups.push(follow_up);
    }

    fn next(&mut self) -> Option<FollowUp> {
        None
    }
}

#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the backends that run units of work")
)]
impl Held {
    pub(super) fn into_queue(self) -> BreadthFirst {
        BreadthFirst {
            queue: self.follow_ups.into(),
        }
    }
}

/// Dispatches follow-ups breadth first: every handler of a message runs before anything they
/// published or queued.
#[derive(Default)]
pub(super) struct BreadthFirst {
    queue: VecDeque<FollowUp>,
}

impl Sink for BreadthFirst {
    fn accept(&mut self, follow_up: FollowUp) {
        self.queue.push_back(follow_up);
    }

    fn next(&mut self) -> Option<FollowUp> {
        self.queue.pop_front()
    }
}
