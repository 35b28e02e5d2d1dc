use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

use std::sync::Arc;

struct Repo;

#[handler]
fn on_started(_: &OrderStarted, repo: Arc<Repo>) {
    let _ = repo;
}

fn main() {}
