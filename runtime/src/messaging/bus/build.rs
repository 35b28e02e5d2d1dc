//! `build()`: the registry snapshotted into a table, filtered by the builder's options and
//! validated. Each check is one function; all their problems are reported together.

use crate::messaging::bus::call::{Callee, Spec, Typed};
use crate::messaging::bus::location::Location;
use crate::messaging::bus::problems::{BuildError, Problem};
use crate::messaging::bus::provided::Provided;
use crate::messaging::bus::registry::{HandlerRegistration, MessageRegistration, Phase, Registry};
use crate::messaging::bus::scoped::{scoped_types, SCOPED};
use crate::messaging::bus::table::{Route, Table};
use crate::messaging::bus::versions::check_upcasters;
use crate::messaging::message::MessageKind;
use rustc_hash::{FxHashMap, FxHashSet};
use std::any::{Any, TypeId};
use std::sync::Arc;

/// A closure that stands in for a registered handler (the test kit's `replace_*`).
pub(crate) struct Replacement {
    pub(crate) handler: String,
    pub(crate) message: TypeId,
    pub(crate) message_name: &'static str,
    /// An `EventClosure<E>` or `RequestClosure<R>` for that message type.
    pub(crate) closure: Arc<dyn Any + Send + Sync>,
    /// Where the replacement was asked for.
    pub(crate) location: Location,
}

/// What the builder hands to `build`.
pub(super) struct Options<'a> {
    pub(super) provided: &'a [Provided],
    pub(super) required_crates: &'a [(&'static str, Location)],
    /// When not empty, only the handlers of these crates are routed.
    pub(super) only: &'a [&'static str],
    pub(super) required_handlers: &'a [(String, Location)],
    pub(super) without: &'a [(String, Location)],
    pub(super) replacements: &'a [Replacement],
    pub(super) shuffle: Option<u64>,
}

/// A handler placed in its route, not yet typed.
struct Placed {
    registration: &'static HandlerRegistration,
    spec: Spec,
}

pub(super) fn build(registry: &Registry, options: &Options<'_>) -> Result<Table, BuildError> {
    let mut problems = Vec::new();
    check_names(registry, &mut problems);
    check_upcasters(registry, &mut problems);
    check_options(registry, options, &mut problems);
    let provided = index_provided(options.provided, &mut problems);
    let mut placed = place_handlers(registry, options, &provided, &mut problems);
    for (route, handlers) in registry.messages.iter().zip(&placed) {
        check_requests(
            route.message.kind,
            route,
            &handlers[Phase::Immediate as usize],
            !options.only.is_empty(),
            &mut problems,
        );
    }
    if let Some(seed) = options.shuffle {
        for (message, phases) in registry.messages.iter().zip(&mut placed) {
            let mut rng = fastrand::Rng::with_seed(seed ^ fxhash(message.message.name));
            for handlers in phases.iter_mut() {
                rng.shuffle(handlers);
            }
        }
    }
    check_required(registry, options, &placed, &mut problems);
    let routes = type_routes(registry, placed, &mut problems);
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.to_string());
        problems.dedup();
        return Err(BuildError { problems });
    }
    let slots: Vec<usize> = registry
        .messages
        .iter()
        .map(|m| (m.slot)().index())
        .collect();
    let mut by_slot = vec![u32::MAX; slots.iter().max().map_or(0, |max| max + 1)];
    for (index, slot) in slots.into_iter().enumerate() {
        by_slot[slot] = index as u32;
    }
    Ok(Table {
        routes,
        by_slot: by_slot.into_boxed_slice(),
    })
}

/// Each provided type's index; a type provided twice is a problem.
fn index_provided(provided: &[Provided], problems: &mut Vec<Problem>) -> FxHashMap<TypeId, usize> {
    let mut by_type = FxHashMap::default();
    for (index, value) in provided.iter().enumerate() {
        if let Some(first) = by_type.insert(value.type_id, index) {
            problems.push(Problem::ProvidedTwice {
                rust_type: value.rust_type,
                locations: vec![provided[first].location, value.location],
            });
        }
    }
    by_type
}

/// Every handler not left out, in its message's route (parallel to `registry.messages`) and
/// phase, with its dependencies resolved.
fn place_handlers(
    registry: &Registry,
    options: &Options<'_>,
    provided: &FxHashMap<TypeId, usize>,
    problems: &mut Vec<Problem>,
) -> Vec<[Vec<Placed>; 4]> {
    let index: FxHashMap<TypeId, usize> = registry
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| ((m.message.type_id)(), i))
        .collect();
    let mut placed: Vec<[Vec<Placed>; 4]> = registry
        .messages
        .iter()
        .map(|_| Default::default())
        .collect();
    for registration in &registry.handlers {
        if options
            .without
            .iter()
            .any(|(name, _)| name == registration.name)
        {
            continue;
        }
        let krate = registration.location.krate();
        if !options.only.is_empty() && !options.only.contains(&krate) {
            continue;
        }
        // A replacement for another message type is reported by `check_options`.
        let replacement = options.replacements.iter().find(|r| {
            r.handler == registration.name && r.message == (registration.message.type_id)()
        });
        let mut slots = Vec::with_capacity(registration.dependencies.len());
        let mut lent = None;
        if replacement.is_none() {
            for dependency in registration.dependencies {
                let type_id = (dependency.type_id)();
                if let Some(&scoped) = scoped_types().get(&type_id) {
                    if !lends(registration) {
                        problems.push(Problem::NotLent {
                            handler: registration.name,
                            param: dependency.param,
                            rust_type: scoped.rust_type(),
                            lent_by: scoped.lent_by,
                            location: registration.location,
                        });
                    }
                    lent = Some(scoped);
                    slots.push(SCOPED);
                    continue;
                }
                match provided.get(&type_id) {
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
        let message = &registration.message;
        if !message
            .travels
            .reaches(registration.phase, message.integration)
        {
            problems.push(Problem::PhaseNeverReached {
                handler: registration.name,
                phase: registration.phase,
                event: message.name,
                travels: message.travels,
                location: registration.location,
            });
        }
        // The message derive registers every type a handler can name; a miss is only possible
        // on targets where inventory registers nothing.
        let Some(&route) = index.get(&(registration.message.type_id)()) else {
            continue;
        };
        let callee = match replacement {
            Some(replacement) => Callee::Closure(replacement.closure.clone()),
            None => Callee::Registered(registration.invoke),
        };
        placed[route][registration.phase as usize].push(Placed {
            registration,
            spec: Spec {
                name: registration.name,
                takes_context: registration.takes_context && replacement.is_none(),
                slots: slots.into_boxed_slice(),
                scoped: lent,
                callee,
            },
        });
    }
    placed
}

/// Whether a handler may be lent a value: an event handler run inside a transaction, that is
/// `before_commit` (a unit of work's) or `immediate` (an inbox delivery's). `after_commit`
/// and `after_rollback` handlers run when the transaction has ended, and commands and queries
/// are sent, not delivered.
fn lends(registration: &HandlerRegistration) -> bool {
    registration.message.kind == MessageKind::Event
        && matches!(registration.phase, Phase::Immediate | Phase::BeforeCommit)
}

/// Types every route's handlers for its message.
fn type_routes(
    registry: &Registry,
    placed: Vec<[Vec<Placed>; 4]>,
    problems: &mut Vec<Problem>,
) -> Vec<Route> {
    let mut mismatch = |handler: &'static str, message: &'static str| {
        problems.push(Problem::HandlerTypeMismatch { handler, message });
    };
    registry
        .messages
        .iter()
        .zip(placed)
        .map(|(message, phases)| {
            let mut route = Route {
                message,
                entries: Default::default(),
                events: Default::default(),
                request: None,
                live: Default::default(),
            };
            for (phase, handlers) in phases.iter().enumerate() {
                route.entries[phase] = handlers.iter().map(|h| h.registration).collect();
                if handlers.is_empty() {
                    continue;
                }
                let specs: Vec<&Spec> = handlers.iter().map(|h| &h.spec).collect();
                match (message.typing)().0 {
                    Some(Typed::Event(type_handlers)) => match type_handlers(&specs) {
                        Ok(typed) => route.events[phase] = Some(typed),
                        Err(handler) => mismatch(handler, message.message.name),
                    },
                    // Validated above: exactly one, in the immediate phase.
                    Some(Typed::Request(type_handler)) => match type_handler(specs[0]) {
                        Ok(typed) => route.request = Some(typed),
                        Err(handler) => mismatch(handler, message.message.name),
                    },
                    // Only a type whose derive failed to compile is neither.
                    None => mismatch(specs[0].name, message.message.name),
                }
            }
            route
        })
        .collect()
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
    for (name, location) in options.without {
        if find(name).is_none() {
            problems.push(Problem::UnknownHandler {
                option: "without",
                name: name.clone(),
                location: *location,
            });
        }
    }
    for replacement in options.replacements {
        match find(&replacement.handler) {
            None => problems.push(Problem::UnknownHandler {
                option: "replace",
                name: replacement.handler.clone(),
                location: replacement.location,
            }),
            Some(handler) if (handler.message.type_id)() != replacement.message => {
                problems.push(Problem::ReplacementMismatch {
                    handler: handler.name,
                    expected: handler.message.name,
                    found: replacement.message_name,
                    location: replacement.location,
                })
            }
            Some(_) => {}
        }
    }
}

fn check_requests(
    kind: MessageKind,
    message: &MessageRegistration,
    handlers: &[Placed],
    scoped: bool,
    problems: &mut Vec<Problem>,
) {
    if kind == MessageKind::Event {
        return;
    }
    let message_ref = &message.message;
    match handlers.len() {
        1 => {}
        // A scoped bus leaves out the handlers of other crates, so theirs may be absent.
        0 if scoped => {}
        0 => problems.push(Problem::NoHandler {
            kind,
            message: message_ref.name,
            rust_type: (message_ref.rust_type)(),
            location: message.location,
        }),
        _ => problems.push(Problem::SeveralHandlers {
            kind,
            message: message_ref.name,
            handlers: handlers
                .iter()
                .map(|h| (h.registration.name, h.registration.location))
                .collect(),
        }),
    }
}

fn check_required(
    registry: &Registry,
    options: &Options<'_>,
    placed: &[[Vec<Placed>; 4]],
    problems: &mut Vec<Problem>,
) {
    let routed: FxHashSet<&str> = placed
        .iter()
        .flatten()
        .flatten()
        .map(|h| h.registration.name)
        .collect();
    for (handler, location) in options.required_handlers {
        if !routed.contains(handler.as_str()) {
            problems.push(Problem::RequiredHandlerMissing {
                handler: handler.clone(),
                location: *location,
            });
        }
    }
    for &(krate, location) in options.required_crates {
        if !registry
            .handlers
            .iter()
            .any(|h| h.location.krate() == krate)
        {
            problems.push(Problem::RequiredCrateMissing { krate, location });
        }
    }
}
