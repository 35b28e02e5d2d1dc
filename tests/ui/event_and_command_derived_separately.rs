use tidings::{Command, DomainEvent};

#[derive(DomainEvent)]
#[derive(Command)]
struct PlaceOrder {
    buyer: String,
}

fn main() {}
