//! Publishing an event whose type is known only at run time: one decoded from a broker's
//! message or read from a store, as an [`AnyEnvelope`].

use super::{publish_span, run_sync};
use crate::messaging::any::AnyEnvelope;
use crate::messaging::bus::call::Mode;
use crate::messaging::bus::ports::BreadthFirst;
use crate::messaging::bus::registry::Phase;
use crate::messaging::bus::run::Run;
use crate::messaging::bus::scoped::Scope;
use crate::messaging::bus::Bus;
use crate::messaging::erased::ErasedMessage;
use crate::messaging::error::PublishError;
use crate::messaging::lineage::Lineage;
use crate::messaging::message::MessageKind;

/// Why [`Bus::publish_any`] did not publish, or what failed when it did.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishAnyError {
    /// The envelope holds a command or a query, which is sent to its one handler, not
    /// published.
    #[error("`{name}` is a {kind}, not an event: only events are published")]
    NotAnEvent {
        /// The message's wire name.
        name: &'static str,
        /// What it is.
        kind: MessageKind,
    },
    /// The event was published and some of its handlers failed.
    #[error(transparent)]
    Failed(#[from] PublishError),
}

impl Bus {
    /// How many handlers [`Bus::publish_any`] would run for `envelope`: its `immediate`
    /// handlers and live subscribers (0 for a command or a query, or an event that no handler
    /// of this program takes). An inbox refuses to record an event it would hand to no one.
    pub fn handler_count(&self, envelope: &AnyEnvelope) -> usize {
        if envelope.kind() != MessageKind::Event {
            return 0;
        }
        let Some(route) = self.inner.table.route(envelope.slot()) else {
            return 0;
        };
        let registered = route.entries[Phase::Immediate as usize].len();
        let live = if route.live.active() {
            route.live.snapshot().len()
        } else {
            0
        };
        registered + live
    }

    /// Publishes an event that is known only at run time, such as one decoded through the
    /// registry ([`AnyEnvelope::from_json`], a stored event's `decode`), or an
    /// [`Envelope`](crate::Envelope) that already has its metadata (`envelope.into()`): the
    /// same handlers, live subscribers, observers and follow-ups as [`Bus::publish`]. The
    /// envelope keeps its metadata; it gains the bus's context values ([`Bus::with`]) of the
    /// types it has none of.
    pub async fn publish_any(&self, envelope: AnyEnvelope) -> Result<(), PublishAnyError> {
        self.dispatch_any(envelope, None, Mode::Async).await
    }

    /// The synchronous form of [`Bus::publish_any`]; an async handler reached this way fails
    /// with [`FailureReason::AsyncInSyncCall`](crate::FailureReason::AsyncInSyncCall).
    pub fn publish_any_sync(&self, envelope: AnyEnvelope) -> Result<(), PublishAnyError> {
        run_sync(self.dispatch_any(envelope, None, Mode::Sync))
    }

    /// [`Bus::publish_any`] with `scope` lent to every handler it runs: an inbox's delivery
    /// lends its transaction.
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres")),
        allow(dead_code, reason = "used only by the inboxes of the backends")
    )]
    pub(crate) async fn publish_any_lending(
        &self,
        envelope: AnyEnvelope,
        scope: Scope<'_>,
    ) -> Result<(), PublishAnyError> {
        self.dispatch_any(envelope, Some(scope), Mode::Async).await
    }

    async fn dispatch_any(
        &self,
        envelope: AnyEnvelope,
        scope: Option<Scope<'_>>,
        mode: Mode,
    ) -> Result<(), PublishAnyError> {
        let mut envelope = envelope;
        if !self.values.is_empty() {
            let meta = envelope.metadata_mut();
            meta.values = meta.values.or(&self.values);
        }
        let event = envelope
            .into_event()
            .map_err(|other| PublishAnyError::NotAnEvent {
                name: other.name(),
                kind: other.kind(),
            })?;
        let event = &*event;
        self.observe(event);
        let Some(route) = self.inner.table.route(event.slot()) else {
            return Ok(());
        };
        let mut sink = BreadthFirst::default();
        let mut run = Run::lending(&mut sink, scope);
        let span = publish_span(None, event.name(), event.meta());
        let lineage = Lineage::default();
        if let Some(handlers) = route.events[Phase::Immediate as usize].as_deref() {
            self.run_typed(handlers, event, &lineage, span.clone(), mode, &mut run)
                .await;
        }
        if route.live.active() {
            let _span = span.enter();
            self.run_live(&route.live, event, &mut run.failures);
        }
        self.drain(mode, &mut run).await;
        Ok(run.into_result()?)
    }

    /// Whether `command` has a handler on this bus.
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres")),
        allow(dead_code, reason = "used only by the schedulers of the backends")
    )]
    pub(crate) fn sends(&self, command: &dyn ErasedMessage) -> bool {
        self.inner
            .table
            .route(command.slot())
            .is_some_and(|route| route.request.is_some())
    }

    /// Sends a command known only at run time (a scheduled one, read back from its row) to
    /// its one handler, at the root of a dispatch (its span a child of the trace context the
    /// command carries, as for an event an inbox delivers), then runs what that handler
    /// published or queued. Its output is dropped; a command with no handler, or whose handler returns
    /// its error or fails, is this call's error.
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres")),
        allow(dead_code, reason = "used only by the schedulers of the backends")
    )]
    pub(crate) async fn send_any(
        &self,
        command: Box<dyn ErasedMessage>,
    ) -> Result<(), PublishError> {
        let mut sink = BreadthFirst::default();
        let mut run = Run::new(&mut sink);
        self.dispatch_command(command, &Lineage::default(), None, Mode::Async, &mut run)
            .await;
        self.drain(Mode::Async, &mut run).await;
        run.into_result()
    }
}
