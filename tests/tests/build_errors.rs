//! `build()` reports every wiring problem of the program in one error, each with its location.
//! This binary registers deliberately broken wiring, so it has no other tests.

use tidings::{handler, Bus, Command, DomainEvent, MessageKind, Phase, Problem, Query, Travels};

#[derive(DomainEvent)]
#[event(name = "dup.name")]
struct FirstWithName;

#[derive(DomainEvent)]
#[event(name = "dup.name")]
struct SecondWithName;

#[derive(Command)]
#[command(name = "wiring.unhandled")]
struct Unhandled;

#[derive(Command)]
#[command(name = "wiring.twice")]
struct HandledTwice;

#[derive(Query)]
#[query(name = "wiring.asked_twice", output = u8)]
struct AskedTwice;

struct Mailer;
struct Inventory;

#[handler(name = "dup.handler")]
fn first_dup(_: &FirstWithName) {}

#[handler(name = "dup.handler")]
fn second_dup(_: &FirstWithName) {}

#[handler]
fn twice_a(_: HandledTwice) {}

#[handler]
fn twice_b(_: HandledTwice) {}

#[handler]
fn answer_a(_: AskedTwice) -> u8 {
    1
}

#[handler]
fn answer_b(_: AskedTwice) -> u8 {
    2
}

#[handler]
fn needs_mailer(_: &SecondWithName, mailer: &Mailer, stock: &Inventory) {
    let _ = (mailer, stock);
}

/// Only ever recorded in units of work.
#[derive(DomainEvent)]
#[event(name = "phase.recorded", travels = committed)]
struct OnlyRecorded;

/// Only ever published.
#[derive(DomainEvent)]
#[event(name = "phase.published", travels = published)]
struct OnlyPublished;

/// Recorded in units of work here, and delivered by inboxes to other contexts.
#[derive(DomainEvent)]
#[event(name = "phase.shared", travels = committed, integration)]
struct RecordedAndShared;

#[handler]
fn immediate_on_recorded(_: &OnlyRecorded) {}

#[handler(phase = after_commit)]
fn after_commit_on_recorded(_: &OnlyRecorded) {}

#[handler(phase = before_commit)]
fn before_commit_on_published(_: &OnlyPublished) {}

#[handler]
fn immediate_on_published(_: &OnlyPublished) {}

#[handler]
fn immediate_on_shared(_: &RecordedAndShared) {}

/// The line of the first line of this file containing `needle`.
fn line_of(needle: &str) -> String {
    let source = include_str!("build_errors.rs");
    let index = source
        .lines()
        .position(|l| l.contains(needle))
        .expect("needle in source");
    format!("tests/tests/build_errors.rs:{}", index + 1)
}

#[test]
fn every_problem_is_reported_at_once_with_its_location() {
    let error = Bus::builder()
        .provide(Inventory) // first inventory
        .provide(Inventory) // second inventory
        .require(tidings::linked!(tidings_link_events))
        .require_handler("wiring.absent_handler")
        .without("wiring.absent_too")
        .build()
        .expect_err("the wiring is broken");
    let text = error.to_string();
    println!("{text}");
    assert!(
        text.starts_with("the bus cannot be built: 13 problems"),
        "{text}"
    );
    let problems = error.problems();
    assert_eq!(problems.len(), 13, "{text}");

    // A handler in a phase its event never reaches, as the event says how it travels; the
    // handlers in phases it reaches are not reported, nor an `immediate` handler of an
    // integration event (an inbox delivers it).
    assert!(
        problems.iter().any(|p| matches!(
            p,
            Problem::PhaseNeverReached {
                handler: "build_errors::immediate_on_recorded",
                phase: Phase::Immediate,
                event: "phase.recorded",
                travels: Travels::Committed,
                ..
            }
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "{}: handler `build_errors::immediate_on_recorded` runs `immediate`, but `phase.recorded` is declared `travels = committed`: it is only recorded in units of work",
        line_of("fn immediate_on_recorded")
    )), "{text}");
    assert!(text.contains(&format!(
        "{}: handler `build_errors::before_commit_on_published` runs `before_commit`, but `phase.published` is declared `travels = published`: no unit of work records it",
        line_of("fn before_commit_on_published")
    )), "{text}");
    for reached in [
        "after_commit_on_recorded",
        "immediate_on_published",
        "immediate_on_shared",
    ] {
        assert!(
            !text.contains(&format!("build_errors::{reached}`")),
            "{reached}: {text}"
        );
    }

    assert!(text.contains(&format!(
        "query `wiring.asked_twice` has 2 handlers, and must have exactly one: `build_errors::answer_a` ({}) `build_errors::answer_b` ({})",
        line_of("fn answer_a"),
        line_of("fn answer_b")
    )), "{text}");
    assert!(problems.iter().any(|p| matches!(
        p,
        Problem::SeveralHandlers {
            kind: MessageKind::Query,
            message: "wiring.asked_twice",
            ..
        }
    )));

    assert!(problems.iter().any(|p| matches!(p, Problem::DuplicateMessageName { name: "dup.name", types } if types.len() == 2)));
    assert!(
        text.contains(&format!(
            "`build_errors::FirstWithName` ({})",
            line_of("struct FirstWithName")
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "`build_errors::SecondWithName` ({})",
            line_of("struct SecondWithName")
        )),
        "{text}"
    );

    assert!(
        text.contains(&format!(
            "the handler name `dup.handler` is used by 2 handlers: {} {}",
            line_of("fn first_dup"),
            line_of("fn second_dup")
        )),
        "{text}"
    );

    assert!(
        text.contains(&format!(
            "{}: command `wiring.unhandled` (`build_errors::Unhandled`) has no handler",
            line_of("struct Unhandled")
        )),
        "{text}"
    );

    assert!(text.contains(&format!(
        "command `wiring.twice` has 2 handlers, and must have exactly one: `build_errors::twice_a` ({}) `build_errors::twice_b` ({})",
        line_of("fn twice_a"),
        line_of("fn twice_b")
    )), "{text}");

    assert!(text.contains(&format!(
        "{}: handler `build_errors::needs_mailer` needs `mailer: &build_errors::Mailer`, which was not provided: add `.provide(..)` with a `build_errors::Mailer` to the builder",
        line_of("fn needs_mailer")
    )), "{text}");
    assert!(
        !text.contains("needs `stock"),
        "the provided dependency is not reported: {text}"
    );

    // Problems of the builder's own calls name the line of the call.
    assert!(
        text.contains(&format!(
            "{} and {}: `build_errors::Inventory` was provided twice",
            line_of("// first inventory"),
            line_of("// second inventory")
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}: handler `wiring.absent_handler` is required, but no handler of that name",
            line_of(".require_handler(\"wiring.absent_handler\")")
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}: `without(\"wiring.absent_too\")` names no registered handler",
            line_of(".without(\"wiring.absent_too\")")
        )),
        "{text}"
    );
    // The linked events crate declares a command whose handler lives in a crate this
    // program does not link.
    assert!(
        text.contains("tests/link/events/src/lib.rs:17: command `link.charge_order`"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}: crate `tidings_link_events` was named with `require`, but none of its handlers are registered",
            line_of(".require(tidings::linked!(tidings_link_events))")
        )),
        "{text}"
    );
}
