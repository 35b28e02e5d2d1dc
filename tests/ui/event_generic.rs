use tidings::DomainEvent;

#[derive(DomainEvent)]
struct Wrapped<T> {
    inner: T,
}

fn main() {}
