use tidings::{Aggregate, AggregateEvent, DomainEvent};

#[derive(DomainEvent, Debug)]
#[event(name = "ui.book_lent")]
struct BookLent;

#[derive(DomainEvent, Debug)]
#[event(name = "ui.book_returned")]
struct BookReturned;

#[derive(AggregateEvent)]
enum LoanEvent {
    Lent(BookLent),
    Returned(BookReturned),
}

#[derive(Default)]
struct Loan {
    out: bool,
}

impl Aggregate for Loan {
    type Event = LoanEvent;

    fn apply(&mut self, event: &LoanEvent) {
        match event {
            LoanEvent::Lent(_) => self.out = true,
        }
    }
}

fn main() {}
