//! A program that names the crate whose handlers it relies on: `linked!` is all it takes.

use tidings::Bus;
use tidings_link_events::{ChargeOrder, OrderPlaced};

#[test]
fn naming_the_handler_crate_links_all_its_handlers() {
    let bus = Bus::builder()
        .require(tidings::linked!(tidings_link_handlers))
        .build()
        .expect("the billing handlers are linked");
    let routes = bus.routes();
    assert_eq!(
        routes.handlers_of("link.order_placed"),
        ["billing.audit_order", "billing.note_order"]
    );
    assert_eq!(bus.send_sync(ChargeOrder { order_id: 3 }).unwrap(), 300);
    bus.publish_sync(OrderPlaced { order_id: 7 }).unwrap();
    let error = bus.publish_sync(OrderPlaced { order_id: 0 }).unwrap_err();
    assert!(
        error.failed("billing.note_order"),
        "the linked handler ran: {error}"
    );
}
