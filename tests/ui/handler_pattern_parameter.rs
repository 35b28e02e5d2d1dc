use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

struct Repo(u8);

#[handler]
fn on_started(_: &OrderStarted, Repo(n): Repo) {
    let _ = n;
}

fn main() {}
