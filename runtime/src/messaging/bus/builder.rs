//! `BusBuilder`: dependencies, observers and options, then `build()`.

use crate::messaging::bus::build::{self, Options, Replacement};
use crate::messaging::bus::location::Location;
use crate::messaging::bus::ports::Observer;
use crate::messaging::bus::problems::BuildError;
use crate::messaging::bus::provided::Provided;
use crate::messaging::bus::registry::Registry;
use crate::messaging::bus::{Bus, Inner, DEFAULT_MAX_DEPTH};
use crate::messaging::values::Values;
use std::sync::Arc;

/// Gathers dependencies and options, then [`build`](BusBuilder::build)s a validated [`Bus`].
#[must_use = "a builder does nothing until `build()` is called"]
pub struct BusBuilder {
    provided: Vec<Provided>,
    observers: Vec<Arc<dyn Observer>>,
    required_crates: Vec<(&'static str, Location)>,
    only: Vec<&'static str>,
    required_handlers: Vec<(String, Location)>,
    without: Vec<(String, Location)>,
    replacements: Vec<Replacement>,
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

    /// The crate a module path starts with: what `linked!(crate)` names.
    #[doc(hidden)]
    pub fn here(module_path: &'static str) -> LinkedCrate {
        LinkedCrate {
            name: module_path.split("::").next().unwrap_or(module_path),
        }
    }

    /// The crate's name, as `module_path!()` spells it.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl Bus {
    /// Starts building a bus from every handler linked into the program.
    pub fn builder() -> BusBuilder {
        BusBuilder {
            provided: Vec::new(),
            observers: Vec::new(),
            required_crates: Vec::new(),
            only: Vec::new(),
            required_handlers: Vec::new(),
            without: Vec::new(),
            replacements: Vec::new(),
            shuffle: None,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

impl BusBuilder {
    /// Gives handlers that take `&T` this value. Each type is provided once.
    #[track_caller]
    pub fn provide<T: Send + Sync + 'static>(self, value: T) -> Self {
        self.provide_arc(Arc::new(value))
    }

    /// Gives handlers that take `&T` this shared value; `T` may be a trait object, so a
    /// handler can take `&dyn Mailer`:
    /// `.provide_arc::<dyn Mailer>(Arc::new(SmtpMailer::new()))`.
    #[track_caller]
    pub fn provide_arc<T: ?Sized + Send + Sync + 'static>(mut self, value: Arc<T>) -> Self {
        self.provided.push(Provided::new(value, Location::caller()));
        self
    }

    /// Lets `observer` see every envelope the bus dispatches (see [`Observer`]).
    pub fn observe(self, observer: impl Observer) -> Self {
        self.observe_arc(Arc::new(observer))
    }

    /// Like [`observe`](BusBuilder::observe), for an observer the program keeps a handle to.
    pub fn observe_arc(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Names a crate whose handlers the program relies on: [`linked!`](crate::linked) makes
    /// sure the linker keeps it, and `build()` checks that its handlers are registered.
    #[track_caller]
    pub fn require(mut self, krate: LinkedCrate) -> Self {
        self.required_crates.push((krate.name, Location::caller()));
        self
    }

    /// Scopes the bus to the handlers defined in `krate` (call it again to add crates): the
    /// others are left out, their dependencies are not needed, and a command or query whose
    /// handler lives outside the scope may be absent (sending it fails with
    /// [`SendError::NoHandler`](crate::SendError::NoHandler)). Made for testing one crate of
    /// a workspace: `.only(tidings::linked!(my_domain))`.
    pub fn only(mut self, krate: LinkedCrate) -> Self {
        self.only.push(krate.name);
        self
    }

    /// Names a handler the program relies on: `build()` fails if no handler of that name is
    /// registered (a typo, or a crate that is not linked).
    #[track_caller]
    pub fn require_handler(mut self, name: impl Into<String>) -> Self {
        self.required_handlers
            .push((name.into(), Location::caller()));
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

    /// Leaves the handler named `handler` out of the table (its dependencies are then not
    /// needed). `build()` fails if no handler has this name.
    #[track_caller]
    pub fn without(mut self, handler: impl Into<String>) -> Self {
        self.without.push((handler.into(), Location::caller()));
        self
    }

    /// Calls `replacement` instead of the handler named `handler`: the seam the test kit's
    /// `replace_*` options use.
    #[cfg_attr(
        not(feature = "testing"),
        allow(
            dead_code,
            reason = "the replace_* options come with the feature `testing`"
        )
    )]
    pub(crate) fn replace(mut self, replacement: Replacement) -> Self {
        self.replacements.push(replacement);
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
            only: &self.only,
            required_handlers: &self.required_handlers,
            without: &self.without,
            replacements: &self.replacements,
            shuffle: self.shuffle,
        };
        let table = build::build(registry, &options)?;
        Ok(Bus {
            inner: Arc::new(Inner {
                table,
                provided: self.provided,
                observers: self.observers.into_boxed_slice(),
                max_depth: self.max_depth,
            }),
            values: Values::default(),
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
            .field("observers", &self.observers.len())
            .field("required_crates", &self.required_crates)
            .field("only", &self.only)
            .field("required_handlers", &self.required_handlers)
            .field("without", &self.without)
            .field("shuffle", &self.shuffle)
            .field("max_depth", &self.max_depth)
            .finish_non_exhaustive()
    }
}
