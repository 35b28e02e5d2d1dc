use tidings::{handler, Command};

use std::future::Future;

#[derive(Command)]
#[command(output = u64)]
struct PlaceOrder;

#[handler]
fn place_order(_: PlaceOrder) -> impl Future<Output = u64> {
    async { 1 }
}

fn main() {}
