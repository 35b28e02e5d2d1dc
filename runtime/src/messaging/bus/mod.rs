//! The bus: built once from the link-time registry, then shared (it is a cheap `Clone`).

pub(crate) mod table;

use crate::messaging::context::Provided;
use crate::messaging::dispatch::{run_sync, Mode};
use crate::messaging::envelope::Envelope;
use crate::messaging::error::{PublishError, SendError};
use crate::messaging::message::{Command, DomainEvent, Query};
use crate::messaging::registry::{Phase, Registry};
use crate::messaging::routes::Routes;
use std::sync::Arc;
use table::{Options, Table};

pub use table::{BuildError, Problem};

/// Routes events to their handlers and commands and queries to their one handler.
///
/// Built with [`Bus::builder`]; cloning shares the same table and provided values.
#[derive(Clone)]
pub struct Bus {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) table: Table,
    pub(crate) provided: Vec<Provided>,
    pub(crate) max_depth: usize,
    pub(crate) recorder: Option<crate::testing::Recorder>,
}

/// Gathers dependencies and options, then [`build`](BusBuilder::build)s a validated [`Bus`].
#[must_use = "a builder does nothing until `build()` is called"]
pub struct BusBuilder {
    provided: Vec<Provided>,
    required_crates: Vec<&'static str>,
    required_handlers: Vec<String>,
    pub(crate) without: Vec<String>,
    pub(crate) replacements: Vec<(String, Arc<crate::testing::Replacement>)>,
    pub(crate) recorder: Option<crate::testing::Recorder>,
    shuffle: Option<u64>,
    max_depth: usize,
}

/// A crate whose handlers the program relies on, made by [`linked!`](crate::linked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkedCrate {
    name: &'static str,
}

impl LinkedCrate {
    #[doc(hidden)]
    pub const fn new(name: &'static str) -> LinkedCrate {
        LinkedCrate { name }
    }

    /// The crate's name, as `module_path!()` spells it.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// How deep follow-up messages may nest before the chain is reported as a loop.
pub const DEFAULT_MAX_DEPTH: usize = 32;

impl Bus {
    /// Starts building a bus from every handler linked into the program.
    pub fn builder() -> BusBuilder {
        BusBuilder {
            provided: Vec::new(),
            required_crates: Vec::new(),
            required_handlers: Vec::new(),
            without: Vec::new(),
            replacements: Vec::new(),
            recorder: None,
            shuffle: None,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }

    /// Publishes an event: every `immediate` handler of its type runs, even when some fail;
    /// then the events they published run, breadth first.
    pub async fn publish<E: DomainEvent>(&self, event: E) -> Result<(), PublishError> {
        self.publish_envelope(Envelope::new(event)).await
    }

    /// Publishes an event from code without an async runtime. An async handler reached this
    /// way fails with [`FailureReason::AsyncInSyncCall`](crate::FailureReason::AsyncInSyncCall);
    /// the other handlers still run.
    #[inline]
    pub fn publish_sync<E: DomainEvent>(&self, event: E) -> Result<(), PublishError> {
        self.publish_envelope_sync(Envelope::new(event))
    }

    /// Publishes an event that already has its metadata, such as one read from a store.
    pub async fn publish_envelope<E: DomainEvent>(
        &self,
        envelope: Envelope<E>,
    ) -> Result<(), PublishError> {
        // Routes of simple sync handlers skip the async machinery entirely.
        match self.dispatch_simple(&envelope, Phase::Immediate) {
            Some(result) => result,
            None => {
                self.dispatch_event(&envelope, Phase::Immediate, Mode::Async)
                    .await
            }
        }
    }

    /// The synchronous form of [`Bus::publish_envelope`].
    #[inline]
    pub fn publish_envelope_sync<E: DomainEvent>(
        &self,
        envelope: Envelope<E>,
    ) -> Result<(), PublishError> {
        // Routes of simple sync handlers skip the async machinery entirely.
        match self.dispatch_simple(&envelope, Phase::Immediate) {
            Some(result) => result,
            None => run_sync(self.dispatch_event(&envelope, Phase::Immediate, Mode::Sync)),
        }
    }

    /// Sends a command to its one handler and returns the handler's output.
    pub async fn send<C: Command>(&self, command: C) -> Result<C::Output, SendError<C>> {
        self.request(command, None).await
    }

    /// Sends a command from code without an async runtime.
    #[inline]
    pub fn send_sync<C: Command>(&self, command: C) -> Result<C::Output, SendError<C>> {
        self.request_sync(command, None)
    }

    /// Asks a query of its one handler and returns the answer.
    pub async fn query<Q: Query>(&self, query: Q) -> Result<Q::Output, SendError<Q>> {
        self.request(query, None).await
    }

    /// Asks a query from code without an async runtime.
    #[inline]
    pub fn query_sync<Q: Query>(&self, query: Q) -> Result<Q::Output, SendError<Q>> {
        self.request_sync(query, None)
    }

    /// The routing table as data: render it with `Display` (a text table) or
    /// [`Routes::mermaid`].
    pub fn routes(&self) -> Routes {
        Routes::from_table(&self.inner.table)
    }
}

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
            .finish_non_exhaustive()
    }
}

impl BusBuilder {
    /// Gives handlers that take `&T` this value. Each type is provided once.
    pub fn provide<T: Send + Sync + 'static>(self, value: T) -> Self {
        self.provide_arc(Arc::new(value))
    }

    /// Gives handlers that take `&T` this shared value; `T` may be a trait object, so a
    /// handler can take `&dyn Mailer`:
    /// `.provide_arc::<dyn Mailer>(Arc::new(SmtpMailer::new()))`.
    pub fn provide_arc<T: ?Sized + Send + Sync + 'static>(mut self, value: Arc<T>) -> Self {
        self.provided.push(Provided::new(value));
        self
    }

    /// Names a crate whose handlers the program relies on: [`linked!`](crate::linked) makes
    /// sure the linker keeps it, and `build()` checks that its handlers are registered.
    pub fn require(mut self, krate: LinkedCrate) -> Self {
        self.required_crates.push(krate.name);
        self
    }

    /// Names a handler the program relies on: `build()` fails if no handler of that name is
    /// registered (a typo, or a crate that is not linked).
    pub fn require_handler(mut self, name: impl Into<String>) -> Self {
        self.required_handlers.push(name.into());
        self
    }

    /// Runs each message's handlers in an order shuffled with this seed, to expose code that
    /// depends on the order (which is unspecified).
    pub fn shuffle_handlers(mut self, seed: u64) -> Self {
        self.shuffle = Some(seed);
        self
    }

    /// How deep follow-up messages may nest (default [`DEFAULT_MAX_DEPTH`]); a deeper chain
    /// is reported as a failure naming the chain, and is not followed.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Snapshots the link-time registry into a routing table and validates it. Every problem
    /// is reported in one [`BuildError`], each with its source location.
    pub fn build(self) -> Result<Bus, BuildError> {
        self.build_from(Registry::get())
    }

    pub(crate) fn build_from(self, registry: &Registry) -> Result<Bus, BuildError> {
        let options = Options {
            provided: &self.provided,
            required_crates: &self.required_crates,
            required_handlers: &self.required_handlers,
            without: &self.without,
            replacements: &self.replacements,
            shuffle: self.shuffle,
        };
        let table = Table::build(registry, &options)?;
        Ok(Bus {
            inner: Arc::new(Inner {
                table,
                provided: self.provided,
                max_depth: self.max_depth,
                recorder: self.recorder,
            }),
        })
    }
}

impl std::fmt::Debug for BusBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusBuilder")
            .field(
                "provided",
                &self
                    .provided
                    .iter()
                    .map(|p| p.rust_type)
                    .collect::<Vec<_>>(),
            )
            .field("required_crates", &self.required_crates)
            .field("required_handlers", &self.required_handlers)
            .field("without", &self.without)
            .field("shuffle", &self.shuffle)
            .field("max_depth", &self.max_depth)
            .finish_non_exhaustive()
    }
}
