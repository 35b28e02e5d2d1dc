//! The `build()` check of upcasters: each typed one moves an event to a later version of
//! itself, no two read the same version, and every older version of an event the program can
//! meet reaches the current one.

use crate::messaging::bus::location::Location;
use crate::messaging::bus::problems::{Problem, UpcastEnd};
use crate::messaging::bus::reference::MessageRef;
use crate::messaging::bus::registry::Registry;
use crate::messaging::bus::upcast::UpcasterRegistration;
use crate::messaging::message::MessageKind;
use std::collections::BTreeSet;

pub(super) fn check_upcasters(registry: &Registry, problems: &mut Vec<Problem>) {
    for upcaster in &registry.upcasters {
        check_types(registry, upcaster, problems);
    }
    // A typed upcaster between two names, or back in time, is reported by `check_types`.
    let sound: Vec<&UpcasterRegistration> = registry
        .upcasters
        .iter()
        .copied()
        .filter(|u| is_sound(u))
        .collect();
    for pair in sound.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if (a.name, a.from) == (b.name, b.from) {
            problems.push(Problem::UpcasterTwice {
                name: a.name,
                from: a.from,
                upcasters: sound
                    .iter()
                    .filter(|u| (u.name, u.from) == (a.name, a.from))
                    .map(|u| (u.function, u.location))
                    .collect(),
            });
        }
    }
    let names: BTreeSet<&'static str> = registry
        .messages
        .iter()
        .filter(|m| m.message.kind == MessageKind::Event)
        .map(|m| m.message.name)
        .chain(registry.upcasters.iter().map(|u| u.name))
        .collect();
    for name in names {
        check_chain(registry, name, problems);
    }
}

/// A typed upcaster's types share a name, and the new one is a later version.
fn check_types(registry: &Registry, upcaster: &UpcasterRegistration, problems: &mut Vec<Problem>) {
    let Some((old, new)) = &upcaster.types else {
        return;
    };
    let end = |m: &MessageRef| UpcastEnd {
        rust_type: (m.rust_type)(),
        name: m.name,
        version: m.version,
        location: declared_at(registry, m).unwrap_or(upcaster.location),
    };
    if old.name != new.name {
        problems.push(Problem::UpcasterNameMismatch {
            upcaster: upcaster.function,
            location: upcaster.location,
            old: end(old),
            new: end(new),
        });
    } else if new.version <= old.version {
        problems.push(Problem::UpcasterNotLater {
            upcaster: upcaster.function,
            location: upcaster.location,
            old: end(old),
            new: end(new),
        });
    }
}

/// Moves an event to a later version of itself (a JSON upcaster's versions are checked by
/// its macro).
fn is_sound(upcaster: &UpcasterRegistration) -> bool {
    upcaster.to > upcaster.from && upcaster.types.is_none_or(|(old, new)| old.name == new.name)
}

fn declared_at(registry: &Registry, message: &MessageRef) -> Option<Location> {
    registry
        .named(message.name)
        .iter()
        .find(|m| m.message.type_id() == message.type_id())
        .map(|m| m.location)
}

/// Every version of `name` the program can meet (a registered older type, a version an
/// upcaster reads or makes) has an upcaster from it, up to the current version.
fn check_chain(registry: &Registry, name: &'static str, problems: &mut Vec<Problem>) {
    let types = registry.named(name);
    let current = types
        .iter()
        .filter(|m| m.message.kind == MessageKind::Event)
        .map(|m| m.message.version)
        .max();
    let upcasters: Vec<&UpcasterRegistration> = registry
        .upcasters_of(name)
        .iter()
        .copied()
        .filter(|u| is_sound(u))
        .collect();
    let Some(current) = current else {
        for upcaster in upcasters {
            problems.push(target(upcaster, None));
        }
        return;
    };
    let mut versions: BTreeSet<u32> = types.iter().map(|m| m.message.version).collect();
    for upcaster in &upcasters {
        versions.insert(upcaster.from);
        if upcaster.to > current {
            problems.push(target(upcaster, Some(current)));
        } else {
            versions.insert(upcaster.to);
        }
    }
    versions.retain(|v| *v <= current);
    let missing: Vec<u32> = versions
        .iter()
        .copied()
        .filter(|v| *v < current && !upcasters.iter().any(|u| u.from == *v && u.to <= current))
        .collect();
    if !missing.is_empty() {
        problems.push(Problem::UpcasterGap {
            name,
            missing,
            versions: versions.into_iter().collect(),
        });
    }
}

fn target(upcaster: &UpcasterRegistration, current: Option<u32>) -> Problem {
    Problem::UpcasterTarget {
        upcaster: upcaster.function,
        name: upcaster.name,
        to: upcaster.to,
        current,
        location: upcaster.location,
    }
}
