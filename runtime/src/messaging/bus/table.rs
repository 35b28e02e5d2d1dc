//! The routing table: the registry snapshotted, filtered by the builder's options, validated.

use crate::messaging::context::Provided;
use crate::messaging::message::MessageKind;
use crate::messaging::registry::{
    HandlerRegistration, Invoke, Location, MessageRegistration, Phase, Registry,
};
use rustc_hash::FxHashMap;
use std::any::TypeId;
use std::sync::Arc;

/// How a handler is called: as registered, or replaced by a test.
#[derive(Clone)]
pub(crate) enum Call {
    Registered(Invoke),
    Replaced(Arc<crate::testing::Replacement>),
}

/// One handler in the table, with its dependencies resolved to indices into the provided values.
pub(crate) struct Entry {
    pub(crate) registration: &'static HandlerRegistration,
    pub(crate) slots: Box<[usize]>,
    pub(crate) call: Call,
}

impl Entry {
    pub(crate) fn name(&self) -> &'static str {
        self.registration.name
    }

    /// A sync event handler without a context: called directly, it can publish nothing.
    pub(crate) fn is_simple(&self) -> bool {
        matches!(self.call, Call::Registered(Invoke::Event(_))) && !self.registration.takes_context
    }
}

/// Everything routed to one message type.
pub(crate) struct Route {
    pub(crate) message: &'static MessageRegistration,
    /// Event handlers per phase, indexed by `Phase as usize`.
    pub(crate) phases: [Vec<Entry>; 4],
    /// Per phase: every handler is a sync function without a context, so the phase runs
    /// as a plain loop with nothing to queue.
    pub(crate) simple: [bool; 4],
}

impl Route {
    pub(crate) fn handlers(&self, phase: Phase) -> &[Entry] {
        &self.phases[phase as usize]
    }

    pub(crate) fn is_simple(&self, phase: Phase) -> bool {
        self.simple[phase as usize]
    }

    /// The one handler of a command or query (validated by `build()`).
    pub(crate) fn request_handler(&self) -> Option<&Entry> {
        self.phases[Phase::Immediate as usize].first()
    }
}

pub(crate) struct Table {
    pub(crate) routes: FxHashMap<TypeId, Route>,
}

/// One problem found while building the table; `build()` reports all of them together.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// Two types registered the same wire name and version.
    DuplicateMessageName {
        /// The shared name.
        name: &'static str,
        /// Each type (Rust path) and where it is declared.
        types: Vec<(&'static str, Location)>,
    },
    /// Two handlers registered the same name.
    DuplicateHandlerName {
        /// The shared name.
        name: &'static str,
        /// Where each is declared.
        locations: Vec<Location>,
    },
    /// A command or query with no handler.
    NoHandler {
        /// Command or query.
        kind: MessageKind,
        /// The message's wire name.
        message: &'static str,
        /// Its Rust type.
        rust_type: &'static str,
        /// Where the type is declared.
        location: Location,
    },
    /// A command or query with more than one handler.
    SeveralHandlers {
        /// Command or query.
        kind: MessageKind,
        /// The message's wire name.
        message: &'static str,
        /// Each handler's name and location.
        handlers: Vec<(&'static str, Location)>,
    },
    /// A handler parameter whose type no `provide` call gave.
    MissingDependency {
        /// The handler's name.
        handler: &'static str,
        /// The parameter's name.
        param: &'static str,
        /// The parameter's type (without the `&`).
        rust_type: &'static str,
        /// Where the handler is declared.
        location: Location,
    },
    /// The same type was provided twice.
    ProvidedTwice {
        /// The provided type.
        rust_type: &'static str,
    },
    /// A crate named with `require` registered no handler in this program.
    RequiredCrateMissing {
        /// The crate's name.
        krate: &'static str,
    },
    /// A handler named with `require_handler` is not registered in this program.
    RequiredHandlerMissing {
        /// The handler's name.
        handler: String,
    },
    /// A test option named a handler that does not exist.
    UnknownHandler {
        /// The builder option (`without`, `replace`).
        option: &'static str,
        /// The name it gave.
        name: String,
    },
    /// A replacement's message type differs from the replaced handler's.
    ReplacementMismatch {
        /// The handler's name.
        handler: &'static str,
        /// The message the handler takes.
        expected: &'static str,
        /// The message the replacement takes.
        found: &'static str,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::DuplicateMessageName { name, types } => {
                write!(f, "the message name `{name}` is declared by {} types:", types.len())?;
                for (rust_type, at) in types {
                    write!(f, " `{rust_type}` ({at})")?;
                }
                f.write_str("; give each a distinct `name = \"..\"`")
            }
            Problem::DuplicateHandlerName { name, locations } => {
                write!(f, "the handler name `{name}` is used by {} handlers:", locations.len())?;
                for at in locations {
                    write!(f, " {at}")?;
                }
                f.write_str("; give each a distinct `#[handler(name = \"..\")]`")
            }
            Problem::NoHandler { kind, message, rust_type, location } => write!(
                f,
                "{location}: {kind} `{message}` (`{rust_type}`) has no handler: write a `#[handler]` fn taking it by value; if it lives in another crate, name that crate with `.require(tidings::linked!(that_crate))` so it is linked"
            ),
            Problem::SeveralHandlers { kind, message, handlers } => {
                write!(f, "{kind} `{message}` has {} handlers, and must have exactly one:", handlers.len())?;
                for (name, at) in handlers {
                    write!(f, " `{name}` ({at})")?;
                }
                Ok(())
            }
            Problem::MissingDependency { handler, param, rust_type, location } => {
                write!(f, "{location}: handler `{handler}` needs `{param}: &{rust_type}`, which was not provided: ")?;
                if rust_type.starts_with("dyn ") {
                    write!(f, "add `.provide_arc::<{rust_type}>(Arc::new(..))` to the builder")
                } else {
                    write!(f, "add `.provide(..)` with a `{rust_type}` to the builder")
                }
            }
            Problem::ProvidedTwice { rust_type } => write!(
                f,
                "`{rust_type}` was provided twice: every handler would share one of them, so give it once"
            ),
            Problem::RequiredCrateMissing { krate } => write!(
                f,
                "crate `{krate}` was named with `require`, but none of its handlers are registered in this program: check that it defines `#[handler]` functions, and that this target is one where inventory registers items (see the README)"
            ),
            Problem::RequiredHandlerMissing { handler } => write!(
                f,
                "handler `{handler}` is required, but no handler of that name is in the table: check its `#[handler(name = ..)]`, and name the crate it lives in with `.require(tidings::linked!(that_crate))`"
            ),
            Problem::UnknownHandler { option, name } => {
                write!(f, "`{option}(\"{name}\")` names no registered handler")
            }
            Problem::ReplacementMismatch { handler, expected, found } => write!(
                f,
                "the replacement for `{handler}` takes `{found}`, but the handler takes `{expected}`"
            ),
        }
    }
}

/// `Bus::builder().build()` found problems; each is listed with its source location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    pub(crate) problems: Vec<Problem>,
}

impl BuildError {
    /// Every problem found.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "the bus cannot be built: {n} problem{}",
            if n == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BuildError {}

/// What the builder hands to the table.
pub(crate) struct Options<'a> {
    pub(crate) provided: &'a [Provided],
    pub(crate) required_crates: &'a [&'static str],
    pub(crate) required_handlers: &'a [String],
    pub(crate) without: &'a [String],
    pub(crate) replacements: &'a [(String, Arc<crate::testing::Replacement>)],
    pub(crate) shuffle: Option<u64>,
}

impl Table {
    pub(crate) fn build(registry: &Registry, options: &Options<'_>) -> Result<Table, BuildError> {
        let mut problems = Vec::new();
        check_names(registry, &mut problems);
        check_options(registry, options, &mut problems);
        let by_type: FxHashMap<TypeId, usize> = options
            .provided
            .iter()
            .enumerate()
            .map(|(index, p)| (p.type_id, index))
            .collect();
        if by_type.len() != options.provided.len() {
            let mut seen = rustc_hash::FxHashSet::default();
            for provided in options.provided {
                if !seen.insert(provided.type_id) {
                    problems.push(Problem::ProvidedTwice {
                        rust_type: provided.rust_type,
                    });
                }
            }
        }
        let mut routes: FxHashMap<TypeId, Route> = registry
            .messages
            .iter()
            .map(|m| {
                (
                    (m.message.type_id)(),
                    Route {
                        message: m,
                        phases: Default::default(),
                        simple: [false; 4],
                    },
                )
            })
            .collect();
        for registration in &registry.handlers {
            if options.without.iter().any(|name| name == registration.name) {
                continue;
            }
            let replacement = options
                .replacements
                .iter()
                .find(|(name, _)| name == registration.name);
            let call = match replacement {
                Some((_, replacement)) => Call::Replaced(replacement.clone()),
                None => Call::Registered(registration.invoke),
            };
            let mut slots = Vec::with_capacity(registration.dependencies.len());
            if replacement.is_none() {
                for dependency in registration.dependencies {
                    match by_type.get(&(dependency.type_id)()) {
                        Some(&index) => slots.push(index),
                        None => problems.push(Problem::MissingDependency {
                            handler: registration.name,
                            param: dependency.param,
                            rust_type: (dependency.rust_type)(),
                            location: registration.location,
                        }),
                    }
                }
            }
            let Some(route) = routes.get_mut(&(registration.message.type_id)()) else {
                // The message derive registers every type a handler can name; this is only
                // reachable on targets where inventory registers nothing.
                continue;
            };
            route.phases[registration.phase as usize].push(Entry {
                registration,
                slots: slots.into_boxed_slice(),
                call,
            });
        }
        for route in routes.values_mut() {
            check_requests(route, &mut problems);
            for (simple, handlers) in route.simple.iter_mut().zip(&route.phases) {
                *simple = handlers.iter().all(Entry::is_simple);
            }
            if let Some(seed) = options.shuffle {
                let mut rng = fastrand::Rng::with_seed(seed ^ fxhash(route.message.message.name));
                for handlers in &mut route.phases {
                    rng.shuffle(handlers);
                }
            }
        }
        for handler in options.required_handlers {
            let routed = routes
                .values()
                .flat_map(|r| r.phases.iter().flatten())
                .any(|e| e.name() == handler);
            if !routed {
                problems.push(Problem::RequiredHandlerMissing {
                    handler: handler.clone(),
                });
            }
        }
        for krate in options.required_crates {
            if !registry
                .handlers
                .iter()
                .any(|h| h.location.krate() == *krate)
            {
                problems.push(Problem::RequiredCrateMissing { krate });
            }
        }
        if problems.is_empty() {
            Ok(Table { routes })
        } else {
            problems.sort_by_key(|p| p.to_string());
            problems.dedup();
            Err(BuildError { problems })
        }
    }

    pub(crate) fn route(&self, message: TypeId) -> Option<&Route> {
        self.routes.get(&message)
    }
}

fn fxhash(text: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one(text)
}

fn check_names(registry: &Registry, problems: &mut Vec<Problem>) {
    for pair in registry.messages.windows(2) {
        let (a, b) = (&pair[0].message, &pair[1].message);
        if a.name == b.name && a.version == b.version {
            let types = registry
                .named(a.name)
                .iter()
                .filter(|m| m.message.version == a.version)
                .map(|m| ((m.message.rust_type)(), m.location))
                .collect();
            problems.push(Problem::DuplicateMessageName {
                name: a.name,
                types,
            });
        }
    }
    for pair in registry.handlers.windows(2) {
        if pair[0].name == pair[1].name {
            let locations = registry
                .handlers
                .iter()
                .filter(|h| h.name == pair[0].name)
                .map(|h| h.location)
                .collect();
            problems.push(Problem::DuplicateHandlerName {
                name: pair[0].name,
                locations,
            });
        }
    }
}

fn check_options(registry: &Registry, options: &Options<'_>, problems: &mut Vec<Problem>) {
    let find = |name: &str| registry.handlers.iter().find(|h| h.name == name);
    for name in options.without {
        if find(name).is_none() {
            problems.push(Problem::UnknownHandler {
                option: "without",
                name: name.clone(),
            });
        }
    }
    for (name, replacement) in options.replacements {
        match find(name) {
            None => problems.push(Problem::UnknownHandler {
                option: "replace",
                name: name.clone(),
            }),
            Some(handler) if (handler.message.type_id)() != replacement.message_type() => problems
                .push(Problem::ReplacementMismatch {
                    handler: handler.name,
                    expected: handler.message.name,
                    found: replacement.message_name(),
                }),
            Some(_) => {}
        }
    }
}

fn check_requests(route: &Route, problems: &mut Vec<Problem>) {
    let message = &route.message.message;
    if message.kind == MessageKind::Event {
        return;
    }
    let handlers = route.handlers(Phase::Immediate);
    match handlers.len() {
        1 => {}
        0 => problems.push(Problem::NoHandler {
            kind: message.kind,
            message: message.name,
            rust_type: (message.rust_type)(),
            location: route.message.location,
        }),
        _ => problems.push(Problem::SeveralHandlers {
            kind: message.kind,
            message: message.name,
            handlers: handlers
                .iter()
                .map(|e| (e.name(), e.registration.location))
                .collect(),
        }),
    }
}
