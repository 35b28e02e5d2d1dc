use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

struct Repo;

#[handler]
fn on_started<'a>(_: &'a OrderStarted, repo: &'a Repo) {
    let _ = repo;
}

fn main() {}
