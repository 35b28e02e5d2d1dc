//! A program that depends on a handler crate under another name (`audit_context` for the
//! crate `tidings_link_audit`): `linked!(crate_name as renamed)` links it and checks it. The
//! billing crate is linked too: it handles a command the shared events crate declares.

use tidings::{Bus, Problem};
use tidings_link_events::OrderPlaced;

#[test]
fn a_renamed_dependency_is_linked_and_checked_by_its_crate_name() {
    let bus = Bus::builder()
        .require(tidings::linked!(tidings_link_handlers))
        .require(tidings::linked!(tidings_link_audit as audit_context))
        .build()
        .expect("the audit handlers are linked and found under the crate's own name");
    assert_eq!(
        bus.routes().handlers_of("link.order_placed"),
        [
            "audit.record_order",
            "billing.audit_order",
            "billing.note_order"
        ]
    );
    let error = bus.publish_sync(OrderPlaced { order_id: 0 }).unwrap_err();
    assert!(
        error.failed("audit.record_order"),
        "the renamed crate's handler ran: {error}"
    );
}

#[test]
fn naming_only_the_new_name_is_reported_with_the_way_out() {
    let error = Bus::builder()
        .require(tidings::linked!(tidings_link_handlers))
        .require(tidings::linked!(audit_context))
        .build()
        .expect_err("no handler records `audit_context` as its crate");
    let [Problem::RequiredCrateMissing { krate, location }] = error.problems() else {
        panic!("expected the missing crate alone: {error}")
    };
    assert_eq!(*krate, "audit_context");
    assert_eq!(location.file(), file!());
    assert!(
        error
            .to_string()
            .contains("`linked!(crate_name as renamed)`"),
        "{error}"
    );
}
