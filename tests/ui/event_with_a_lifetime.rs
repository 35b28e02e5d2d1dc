use tidings::DomainEvent;

#[derive(DomainEvent)]
struct OrderStarted<'a> {
    buyer: &'a str,
}

fn main() {}
