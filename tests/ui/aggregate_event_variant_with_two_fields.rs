use tidings::{AggregateEvent, DomainEvent};

#[derive(DomainEvent, Debug)]
#[event(name = "ui.book_lent")]
struct BookLent;

#[derive(DomainEvent, Debug)]
#[event(name = "ui.book_returned")]
struct BookReturned;

#[derive(AggregateEvent)]
enum LoanEvent {
    Lent(BookLent, BookReturned),
}

fn main() {}
