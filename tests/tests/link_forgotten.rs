//! A program that depends on the handler crate but never names it: the linker drops the crate,
//! and `build()` says so instead of running without its handlers.

use tidings::{Bus, Problem};
use tidings_link_events::OrderPlaced;

#[test]
fn forgetting_the_handler_crate_is_reported_by_build() {
    let error = Bus::builder()
        .build()
        .expect_err("the command's handler is missing");
    let [Problem::NoHandler { message, .. }] = error.problems() else {
        panic!("expected exactly the missing handler: {error}")
    };
    assert_eq!(*message, "link.charge_order");
    let text = error.to_string();
    assert!(
        text.contains("name that crate with `.require(tidings::linked!(that_crate))`"),
        "{text}"
    );
    let error = Bus::builder()
        .require_handler("billing.note_order")
        .build()
        .expect_err("the event handler is missing too");
    assert!(
        error.to_string().contains(
            "handler `billing.note_order` is required, but no handler of that name is in the table"
        ),
        "{error}"
    );
    // The event type itself is linked (this file uses it); its handlers are not.
    let _ = OrderPlaced { order_id: 1 };
}
