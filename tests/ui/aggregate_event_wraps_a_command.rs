use tidings::{AggregateEvent, Command, DomainEvent};

#[derive(DomainEvent, Debug)]
#[event(name = "ui.book_lent")]
struct BookLent;

#[derive(Command, Debug)]
#[command(name = "ui.lend_book")]
struct LendBook;

#[derive(AggregateEvent)]
enum LoanEvent {
    Lent(BookLent),
    Lend(LendBook),
}

fn main() {}
