use tidings::AggregateEvent;

#[derive(AggregateEvent)]
enum LoanEvent<E> {
    Lent(E),
}

fn main() {}
