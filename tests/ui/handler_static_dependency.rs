use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

struct Repo;

#[handler]
fn on_started(_: &OrderStarted, repo: &'static Repo) {
    let _ = repo;
}

fn main() {}
