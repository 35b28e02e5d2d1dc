//! The billing context: handlers of the ordering context's messages. Programs never call into
//! this crate; they only need it linked.

use tidings::handler;
use tidings_link_events::{ChargeOrder, OrderPlaced};

#[handler(name = "billing.note_order")]
fn note_order(event: &OrderPlaced) -> Result<(), std::io::Error> {
    if event.order_id == 0 {
        return Err(std::io::Error::other("order 0 is never placed"));
    }
    Ok(())
}

#[handler(name = "billing.charge_order")]
fn charge_order(command: ChargeOrder) -> u64 {
    command.order_id * 100
}

mod unreferenced {
    // Nothing refers to this module; its handler is registered all the same once the crate
    // is linked.
    #[tidings::handler(name = "billing.audit_order")]
    fn audit_order(_: &tidings_link_events::OrderPlaced) {}
}
