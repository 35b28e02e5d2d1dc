//! `build()` checks the upcasters: a gap in a chain, two upcasters from one version, typed
//! upcasters between two names or to a version that is not later, and upcasters to versions
//! nobody declares. This binary registers them deliberately, so it has no other tests.

use tidings::{upcaster, Bus, DomainEvent, Problem};

// A chain 1 → 2 → 3 with no upcaster from 2.
#[derive(DomainEvent)]
#[event(name = "gap.order_started", version = 1)]
struct GapV1 {
    id: u64,
}

#[derive(DomainEvent)]
#[event(name = "gap.order_started", version = 2)]
struct GapV2 {
    id: u64,
}

#[derive(DomainEvent)]
#[event(name = "gap.order_started", version = 3)]
struct Gap {
    id: u64,
}

#[upcaster]
fn gap_v1(old: GapV1) -> GapV2 {
    GapV2 { id: old.id }
}

// Two upcasters from version 1.
#[derive(DomainEvent)]
#[event(name = "twice.paid", version = 1)]
struct PaidV1 {
    cents: u64,
}

#[derive(DomainEvent)]
#[event(name = "twice.paid", version = 2)]
struct Paid {
    cents: u64,
}

#[upcaster]
fn paid_v1(old: PaidV1) -> Paid {
    Paid { cents: old.cents }
}

#[upcaster(name = "twice.paid", from = 1, to = 2)]
fn paid_v1_json(data: serde_json::Value) -> serde_json::Value {
    data
}

// A typed upcaster between two names, and one to a version that is not later.
#[derive(DomainEvent)]
#[event(name = "names.shipped", version = 1)]
struct Shipped {
    id: u64,
}

#[derive(DomainEvent)]
#[event(name = "names.delivered", version = 2)]
struct Delivered {
    id: u64,
}

#[upcaster]
fn shipped_to_delivered(old: Shipped) -> Delivered {
    Delivered { id: old.id }
}

#[derive(DomainEvent)]
#[event(name = "later.packed", version = 3)]
struct PackedV3 {
    id: u64,
}

#[derive(DomainEvent)]
#[event(name = "later.packed", version = 4)]
struct Packed {
    id: u64,
}

#[upcaster]
fn packed_back(new: Packed) -> PackedV3 {
    PackedV3 { id: new.id }
}

#[upcaster]
fn packed_v3(old: PackedV3) -> Packed {
    Packed { id: old.id }
}

// JSON upcasters beyond the current version, and for a name no type declares.
#[upcaster(name = "later.packed", from = 4, to = 5)]
fn packed_v4(data: serde_json::Value) -> serde_json::Value {
    data
}

#[upcaster(name = "nobody.declares", from = 1, to = 2)]
fn nobody_v1(data: serde_json::Value) -> serde_json::Value {
    data
}

fn line_of(needle: &str) -> String {
    let source = include_str!("versioning_problems.rs");
    let index = source
        .lines()
        .position(|l| l.contains(needle))
        .expect("needle in source");
    format!("tests/tests/versioning_problems.rs:{}", index + 1)
}

#[test]
fn every_upcaster_problem_is_reported_with_its_location() {
    let error = Bus::builder().build().expect_err("the chains are broken");
    let text = error.to_string();
    println!("{text}");
    let problems = error.problems();
    assert_eq!(problems.len(), 6, "{text}");

    assert!(problems.iter().any(|p| matches!(
        p,
        Problem::UpcasterGap { name: "gap.order_started", missing, versions }
            if missing == &[2] && versions == &[1, 2, 3]
    )));
    assert!(
        text.contains("`gap.order_started` has no upcaster from version 2: versions 1 → 2 → 3 need one per step"),
        "{text}"
    );

    assert!(
        text.contains(&format!(
            "`twice.paid` has 2 upcasters from version 1: `versioning_problems::paid_v1` ({}) `versioning_problems::paid_v1_json` ({}); keep one",
            line_of("fn paid_v1("),
            line_of("fn paid_v1_json")
        )),
        "{text}"
    );

    assert!(
        text.contains(&format!(
            "{}: upcaster `versioning_problems::shipped_to_delivered` turns `versioning_problems::Shipped` (`names.shipped` v1, {}) into `versioning_problems::Delivered` (`names.delivered` v2, {}): an upcaster moves an event to a later version of itself, so give both types the same `name`",
            line_of("fn shipped_to_delivered"),
            line_of("struct Shipped"),
            line_of("struct Delivered")
        )),
        "{text}"
    );

    assert!(
        text.contains(&format!(
            "{}: upcaster `versioning_problems::packed_back` turns `versioning_problems::Packed` (`later.packed` v4, {}) into `versioning_problems::PackedV3` (`later.packed` v3, {}), which is not a later version: give `versioning_problems::PackedV3` a higher `version`",
            line_of("fn packed_back"),
            line_of("struct Packed "),
            line_of("struct PackedV3")
        )),
        "{text}"
    );

    assert!(
        text.contains(&format!(
            "{}: upcaster `versioning_problems::packed_v4` makes version 5 of `later.packed`, but the latest version the program declares is 4",
            line_of("fn packed_v4")
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}: upcaster `versioning_problems::nobody_v1` is for `nobody.declares`, but no event of that name is linked into the program",
            line_of("fn nobody_v1")
        )),
        "{text}"
    );
}
