use tidings::{AggregateEvent, DomainEvent};

#[derive(DomainEvent, Debug)]
#[event(name = "ui.book_lent")]
struct BookLent;

#[derive(AggregateEvent)]
enum LoanEvent {
    Lent(BookLent),
    LentAgain(BookLent),
}

fn main() {}
