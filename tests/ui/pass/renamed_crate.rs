//! A crate that renamed `tidings` points the macros at it with `crate = path`.

mod toolkit {
    pub use tidings::*;
}

use toolkit as events;

#[derive(events::DomainEvent, Debug)]
#[event(crate = events, name = "renamed.pinged")]
struct Pinged;

#[derive(events::Command, Debug)]
#[command(crate = events, output = u8)]
struct Ping;

#[events::handler(crate = events)]
fn on_pinged(_: &Pinged) {}

#[events::handler(crate = "events")]
fn on_ping(_: Ping) -> u8 {
    1
}

fn main() {}
