//! What `build()` reports: every problem found in the routing table, each with its location.

use crate::messaging::bus::location::Location;
use crate::messaging::bus::registry::Phase;
use crate::messaging::message::{MessageKind, Travels};

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
    /// A handler takes a transaction in a phase that is never lent one: an `after_commit` or
    /// `after_rollback` handler (the transaction has ended), or a command or query handler.
    NotLent {
        /// The handler's name.
        handler: &'static str,
        /// The parameter's name.
        param: &'static str,
        /// The parameter's type (without the `&`).
        rust_type: &'static str,
        /// Who lends it.
        lent_by: &'static str,
        /// Where the handler is declared.
        location: Location,
    },
    /// A handler is in a phase its event never reaches, as the event declares how it travels
    /// (`#[event(travels = ..)]`): it would never run.
    PhaseNeverReached {
        /// The handler's name.
        handler: &'static str,
        /// The handler's phase.
        phase: Phase,
        /// The event's wire name.
        event: &'static str,
        /// How the event travels.
        travels: Travels,
        /// Where the handler is declared.
        location: Location,
    },
    /// The same type was provided twice.
    ProvidedTwice {
        /// The provided type.
        rust_type: &'static str,
        /// Where each `provide` call is.
        locations: Vec<Location>,
    },
    /// A crate named with `require` registered no handler in this program.
    RequiredCrateMissing {
        /// The crate's name.
        krate: &'static str,
        /// Where `require` was called.
        location: Location,
    },
    /// A handler named with `require_handler` is not registered in this program.
    RequiredHandlerMissing {
        /// The handler's name.
        handler: String,
        /// Where `require_handler` was called.
        location: Location,
    },
    /// A test option named a handler that does not exist.
    UnknownHandler {
        /// The builder option (`without`, `replace`).
        option: &'static str,
        /// The name it gave.
        name: String,
        /// Where the option was given.
        location: Location,
    },
    /// A handler's registered entry point is for another message type than it declares: only
    /// possible with registrations written by hand.
    HandlerTypeMismatch {
        /// The handler's name.
        handler: &'static str,
        /// The message it is routed to.
        message: &'static str,
    },
    /// A replacement's message type differs from the replaced handler's.
    ReplacementMismatch {
        /// The handler's name.
        handler: &'static str,
        /// The message the handler takes.
        expected: &'static str,
        /// The message the replacement takes.
        found: &'static str,
        /// Where the replacement was given.
        location: Location,
    },
    /// A typed upcaster whose two event types have different names.
    UpcasterNameMismatch {
        /// The upcaster's function.
        upcaster: &'static str,
        /// Where it is declared.
        location: Location,
        /// The old type: Rust type, wire name, version, where it is declared.
        old: UpcastEnd,
        /// The new type, likewise.
        new: UpcastEnd,
    },
    /// A typed upcaster whose new type is not a later version than its old one.
    UpcasterNotLater {
        /// The upcaster's function.
        upcaster: &'static str,
        /// Where it is declared.
        location: Location,
        /// The old type.
        old: UpcastEnd,
        /// The new type.
        new: UpcastEnd,
    },
    /// Older versions of an event that no upcaster leads on from.
    UpcasterGap {
        /// The event's wire name.
        name: &'static str,
        /// The versions with no upcaster from them.
        missing: Vec<u32>,
        /// Every version the program can meet, the current one last.
        versions: Vec<u32>,
    },
    /// Several upcasters from the same version of an event.
    UpcasterTwice {
        /// The event's wire name.
        name: &'static str,
        /// The version they read.
        from: u32,
        /// Each upcaster's function and location.
        upcasters: Vec<(&'static str, Location)>,
    },
    /// An upcaster to a version the program does not declare.
    UpcasterTarget {
        /// The upcaster's function.
        upcaster: &'static str,
        /// The event's wire name.
        name: &'static str,
        /// The version it makes.
        to: u32,
        /// The highest version declared, if any type has this name.
        current: Option<u32>,
        /// Where it is declared.
        location: Location,
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
            Problem::NotLent { handler, param, rust_type, lent_by, location } => write!(
                f,
                "{location}: handler `{handler}` takes `{param}: &{rust_type}`, which only \
                 {lent_by} lends, to `before_commit` handlers and to handlers of the events it \
                 delivers: an `after_commit` or `after_rollback` handler runs once the \
                 transaction has ended (open one of your own, or make it `phase = \
                 before_commit`), and a command or query handler is never lent one"
            ),
            Problem::PhaseNeverReached { handler, phase, event, travels: Travels::Published, location } => write!(
                f,
                "{location}: handler `{handler}` runs `{}`, but `{event}` is declared \
                 `travels = published`: no unit of work records it, so the handler would never \
                 run; make it `immediate` (remove `phase`), or record the event in a unit of \
                 work and drop `travels = published`",
                phase.as_str()
            ),
            Problem::PhaseNeverReached { handler, phase, event, travels, location } => write!(
                f,
                "{location}: handler `{handler}` runs `{}`, but `{event}` is declared \
                 `travels = {travels}`: it is only recorded in units of work, whose handlers run \
                 `before_commit`, `after_commit` or `after_rollback`, so the handler would \
                 never run; give it one of those phases, or mark the event `integration` if \
                 this handler consumes it from another context",
                phase.as_str()
            ),
            Problem::ProvidedTwice { rust_type, locations } => {
                let at: Vec<String> = locations.iter().map(Location::to_string).collect();
                write!(
                    f,
                    "{}: `{rust_type}` was provided twice: every handler would share one of them, so give it once",
                    at.join(" and ")
                )
            }
            Problem::RequiredCrateMissing { krate, location } => write!(
                f,
                "{location}: crate `{krate}` was named with `require`, but none of its handlers are registered in this program: check that it defines `#[handler]` functions, that a dependency renamed in Cargo.toml is named by its crate name too (`linked!(crate_name as renamed)`), and that this target is one where inventory registers items (see the README)"
            ),
            Problem::RequiredHandlerMissing { handler, location } => write!(
                f,
                "{location}: handler `{handler}` is required, but no handler of that name is in the table: check its `#[handler(name = ..)]`, and name the crate it lives in with `.require(tidings::linked!(that_crate))`"
            ),
            Problem::UnknownHandler { option, name, location } => {
                write!(f, "{location}: `{option}(\"{name}\")` names no registered handler")
            }
            Problem::HandlerTypeMismatch { handler, message } => write!(
                f,
                "handler `{handler}` is routed to `{message}`, but its entry point takes another message type"
            ),
            Problem::ReplacementMismatch { handler, expected, found, location } => write!(
                f,
                "{location}: the replacement for `{handler}` takes `{found}`, but the handler takes `{expected}`"
            ),
            Problem::UpcasterNameMismatch { upcaster, location, old, new } => write!(
                f,
                "{location}: upcaster `{upcaster}` turns {old} into {new}: an upcaster moves an event to a later version of itself, so give both types the same `name`"
            ),
            Problem::UpcasterNotLater { upcaster, location, old, new } => write!(
                f,
                "{location}: upcaster `{upcaster}` turns {old} into {new}, which is not a later version: give `{}` a higher `version`",
                new.rust_type
            ),
            Problem::UpcasterGap { name, missing, versions } => {
                let (s, list) = match missing.as_slice() {
                    [one] => ("", one.to_string()),
                    [rest @ .., last] => {
                        let rest: Vec<String> = rest.iter().map(u32::to_string).collect();
                        ("s", format!("{} and {last}", rest.join(", ")))
                    }
                    [] => ("s", String::new()),
                };
                let chain: Vec<String> = versions.iter().map(u32::to_string).collect();
                write!(
                    f,
                    "`{name}` has no upcaster from version{s} {list}: versions {} need one per step; write an `#[upcaster]` from each",
                    chain.join(" → ")
                )
            }
            Problem::UpcasterTwice { name, from, upcasters } => {
                write!(f, "`{name}` has {} upcasters from version {from}:", upcasters.len())?;
                for (upcaster, at) in upcasters {
                    write!(f, " `{upcaster}` ({at})")?;
                }
                f.write_str("; keep one")
            }
            Problem::UpcasterTarget { upcaster, name, to, current: Some(current), location } => write!(
                f,
                "{location}: upcaster `{upcaster}` makes version {to} of `{name}`, but the latest version the program declares is {current}: upcast to version {current} at most, or declare version {to}"
            ),
            Problem::UpcasterTarget { upcaster, name, current: None, location, .. } => write!(
                f,
                "{location}: upcaster `{upcaster}` is for `{name}`, but no event of that name is linked into the program: check its `name`"
            ),
        }
    }
}

/// `Bus::builder().build()` found problems; each is listed with its source location.
///
/// Its `Debug` form is its `Display` text, so `?` from `main` and `.unwrap()` print the list.
#[derive(Clone, PartialEq, Eq)]
pub struct BuildError {
    pub(super) problems: Vec<Problem>,
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

impl std::fmt::Debug for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for BuildError {}

/// One side of a typed upcaster, as a problem names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpcastEnd {
    /// The Rust type.
    pub rust_type: &'static str,
    /// Its wire name.
    pub name: &'static str,
    /// Its version.
    pub version: u32,
    /// Where it is declared.
    pub location: Location,
}

impl std::fmt::Display for UpcastEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let UpcastEnd {
            rust_type,
            name,
            version,
            location,
        } = self;
        write!(f, "`{rust_type}` (`{name}` v{version}, {location})")
    }
}
