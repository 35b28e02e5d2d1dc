//! A bus scoped to the handlers of named crates: the others are left out, their dependencies
//! are not needed, and a command handled outside the scope may be absent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tidings::{handler, Bus, Context, DomainEvent, Problem, SendError};
use tidings_link_events::{ChargeOrder, OrderPlaced};

#[derive(DomainEvent, Debug)]
#[event(name = "scoped.parcel_sent")]
struct ParcelSent {
    weight: u64,
}

/// Needed by this crate's handler only; the tests scoped to another crate never provide it.
struct Scale(AtomicU64);

#[handler]
fn weigh(event: &ParcelSent, scale: &Scale, ctx: &Context) {
    scale.0.fetch_add(event.weight, Ordering::Relaxed);
    if event.weight > 100 {
        ctx.publish(OrderPlaced { order_id: 0 });
    }
}

#[test]
fn the_whole_program_needs_every_dependency() {
    let error = Bus::builder()
        .require(tidings::linked!(tidings_link_handlers))
        .build()
        .expect_err("`weigh` needs a Scale");
    assert!(
        matches!(
            error.problems(),
            [Problem::MissingDependency {
                handler: "scoped::weigh",
                ..
            }]
        ),
        "{error}"
    );
}

#[test]
fn a_bus_scoped_to_another_crate_leaves_this_ones_handlers_and_dependencies_out() {
    let bus = Bus::builder()
        .only(tidings::linked!(tidings_link_handlers))
        .build()
        .expect("`weigh` is out of scope, so its Scale is not needed");
    assert!(bus.routes().handlers_of("scoped.parcel_sent").is_empty());
    assert_eq!(
        bus.routes().handlers_of("link.order_placed"),
        ["billing.audit_order", "billing.note_order"]
    );
    assert_eq!(bus.send_sync(ChargeOrder { order_id: 2 }).unwrap(), 200);
    bus.publish_sync(ParcelSent { weight: 500 }).unwrap();
}

#[test]
fn a_bus_scoped_to_this_crate_lets_a_command_handled_elsewhere_be_absent() {
    let scale = Arc::new(Scale(AtomicU64::new(0)));
    let bus = Bus::builder()
        .only(tidings::linked!(crate))
        .provide_arc(scale.clone())
        .build()
        .expect("the charge handler lives in another crate");
    assert_eq!(
        bus.routes().handlers_of("scoped.parcel_sent"),
        ["scoped::weigh"]
    );
    assert!(bus.routes().handlers_of("link.order_placed").is_empty());
    bus.publish_sync(ParcelSent { weight: 300 })
        .expect("the billing handler that fails on order 0 is out of scope");
    assert_eq!(scale.0.load(Ordering::Relaxed), 300);
    match bus.send_sync(ChargeOrder { order_id: 1 }) {
        Err(error @ SendError::NoHandler { .. }) => assert_eq!(
            error.to_string(),
            "no handler is registered for `link.charge_order`"
        ),
        other => panic!("expected NoHandler, got {other:?}"),
    }
}

#[test]
fn an_unscoped_bus_runs_every_crate() {
    let scale = Arc::new(Scale(AtomicU64::new(0)));
    let bus = Bus::builder()
        .require(tidings::linked!(tidings_link_handlers))
        .provide_arc(scale)
        .build()
        .unwrap();
    let error = bus
        .publish_sync(ParcelSent { weight: 300 })
        .expect_err("the billing handler fails on order 0");
    assert!(error.failed("billing.note_order"), "{error}");
}
