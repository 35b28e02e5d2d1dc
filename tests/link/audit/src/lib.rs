//! The audit context: tests depend on it renamed (`audit_context` in `Cargo.toml`), so the name
//! a program uses differs from the crate name its handlers record.

use tidings::handler;
use tidings_link_events::OrderPlaced;

#[handler(name = "audit.record_order")]
fn record_order(event: &OrderPlaced) -> Result<(), std::io::Error> {
    if event.order_id == 0 {
        return Err(std::io::Error::other("order 0 is never placed"));
    }
    Ok(())
}
