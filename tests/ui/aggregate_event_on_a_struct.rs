use tidings::{AggregateEvent, DomainEvent};

#[derive(DomainEvent, Debug)]
#[event(name = "ui.book_lent")]
struct BookLent;

#[derive(AggregateEvent)]
struct LoanEvent {
    lent: BookLent,
}

fn main() {}
