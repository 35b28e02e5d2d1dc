use tidings::{handler, DomainEvent};

#[handler]
fn on_any<E: DomainEvent>(event: &E) {
    let _ = event;
}

fn main() {}
