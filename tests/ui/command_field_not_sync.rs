use std::cell::Cell;
use tidings::Command;

#[derive(Command)]
#[command(output = u64)]
struct PlaceOrder {
    attempts: Cell<u32>,
}

fn main() {}
