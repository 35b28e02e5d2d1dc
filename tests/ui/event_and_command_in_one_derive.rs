// In one `#[derive(..)]` list neither derive sees the other (rustc hands each the item
// without the list), so each generates its serde, `Message` (and `JsonSchema`) impls, and rustc
// reports each conflict, all at the second derive's token. Two `#[derive]` attributes give one
// error that names the fix (`event_and_command_derived_separately.rs`).
use tidings::{Command, DomainEvent};

#[derive(DomainEvent, Command)]
struct PlaceOrder {
    buyer: String,
}

fn main() {}
