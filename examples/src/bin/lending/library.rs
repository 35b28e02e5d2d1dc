//! The library's lending context: `Book`, an event-sourced aggregate with typed events and
//! snapshots; the commands that lend and return it, each one call of `store.execute`; a rule
//! inside the transaction (a reader holds at most two books); an integration event recorded
//! in the same transaction; a mail after the commit.

use tidings::persistence::sqlite::{SqliteStore, SqliteTransaction};
use tidings::persistence::{CommandError, StoreError, UnitOfWorkError};
use tidings::{handler, Aggregate, AggregateEvent, Command, Context, DomainEvent, Snapshots};

/// The tables of the lending context, beside the event store's.
pub(crate) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS loans (reader TEXT NOT NULL, book INTEGER NOT NULL PRIMARY KEY);
";

/// How many books a reader may hold at once.
pub(crate) const LIMIT: i64 = 2;

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "lending.book_added")]
pub(crate) struct BookAdded {
    pub(crate) title: String,
}

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "lending.book_lent")]
pub(crate) struct BookLent {
    pub(crate) book: u64,
    pub(crate) reader: String,
}

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "lending.book_returned")]
pub(crate) struct BookReturned {
    pub(crate) book: u64,
    pub(crate) reader: String,
}

/// For other contexts (the fines office): a loan is over. Recorded by a `before_commit`
/// handler on the transaction, so it reaches the outbox with the return that caused it.
#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "lending.integration.loan_closed", integration)]
pub(crate) struct LoanClosed {
    pub(crate) book: u64,
    pub(crate) reader: String,
}

/// The stream of the integration events other contexts read.
pub(crate) const CLOSED_LOANS: &str = "lending-loans-closed";

#[derive(AggregateEvent, Debug, Clone, PartialEq)]
pub(crate) enum BookEvent {
    Added(BookAdded),
    Lent(BookLent),
    Returned(BookReturned),
}

/// A book of the catalogue: its state is what its events say.
#[derive(Default, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Book {
    pub(crate) title: Option<String>,
    pub(crate) reader: Option<String>,
    pub(crate) loans: u64,
}

impl Aggregate for Book {
    type Event = BookEvent;

    fn apply(&mut self, event: &BookEvent) {
        match event {
            BookEvent::Added(added) => self.title = Some(added.title.clone()),
            BookEvent::Lent(lent) => {
                self.reader = Some(lent.reader.clone());
                self.loans += 1;
            }
            BookEvent::Returned(_) => self.reader = None,
        }
    }

    /// A popular book's stream grows with every loan: load it from a snapshot taken every
    /// ten events, and the events after it.
    fn snapshots() -> Snapshots<Book> {
        Snapshots::every(10)
    }
}

/// Why a book cannot be added, lent or returned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum LoanError {
    #[error("the book is in the catalogue already")]
    AlreadyAdded,
    #[error("the book is not in the catalogue")]
    NotInCatalogue,
    #[error("the book is lent to {0}")]
    AlreadyLent(String),
    #[error("the book is not lent to {0}")]
    NotLentTo(String),
}

impl Book {
    pub(crate) fn add(&self, title: &str) -> Result<Vec<BookEvent>, LoanError> {
        if self.title.is_some() {
            return Err(LoanError::AlreadyAdded);
        }
        Ok(vec![BookAdded {
            title: title.into(),
        }
        .into()])
    }

    pub(crate) fn lend(&self, book: u64, reader: &str) -> Result<Vec<BookEvent>, LoanError> {
        if self.title.is_none() {
            return Err(LoanError::NotInCatalogue);
        }
        if let Some(other) = &self.reader {
            return Err(LoanError::AlreadyLent(other.clone()));
        }
        Ok(vec![BookLent {
            book,
            reader: reader.into(),
        }
        .into()])
    }

    pub(crate) fn take_back(&self, book: u64, reader: &str) -> Result<Vec<BookEvent>, LoanError> {
        if self.reader.as_deref() != Some(reader) {
            return Err(LoanError::NotLentTo(reader.into()));
        }
        Ok(vec![BookReturned {
            book,
            reader: reader.into(),
        }
        .into()])
    }
}

/// A book's stream.
pub(crate) fn stream(book: u64) -> String {
    format!("book-{book}")
}

/// What a lending command reports: the aggregate refused, a rule vetoed, or the store failed.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(crate) struct LendingError(#[from] pub(crate) UnitOfWorkError<CommandError<LoanError>>);

#[derive(Command, Debug)]
#[command(name = "lending.add_book", error = LendingError)]
pub(crate) struct AddBook {
    pub(crate) book: u64,
    pub(crate) title: String,
}

#[derive(Command, Debug)]
#[command(name = "lending.lend_book", output = u64, error = LendingError)]
pub(crate) struct LendBook {
    pub(crate) book: u64,
    pub(crate) reader: String,
}

#[derive(Command, Debug)]
#[command(name = "lending.return_book", error = LendingError)]
pub(crate) struct ReturnBook {
    pub(crate) book: u64,
    pub(crate) reader: String,
}

#[handler(name = "lending.add_book")]
fn add_book(cmd: AddBook, store: &SqliteStore, ctx: &Context) -> Result<(), LendingError> {
    store.execute(ctx, &stream(cmd.book), |book: &Book| book.add(&cmd.title))?;
    Ok(())
}

/// Lends a book: the loan's number for the book.
#[handler(name = "lending.lend_book")]
fn lend_book(cmd: LendBook, store: &SqliteStore, ctx: &Context) -> Result<u64, LendingError> {
    let done = store.execute(ctx, &stream(cmd.book), |book: &Book| {
        book.lend(cmd.book, &cmd.reader)
    })?;
    Ok(done.value().state().loans)
}

#[handler(name = "lending.return_book")]
fn return_book(cmd: ReturnBook, store: &SqliteStore, ctx: &Context) -> Result<(), LendingError> {
    store.execute(ctx, &stream(cmd.book), |book: &Book| {
        book.take_back(cmd.book, &cmd.reader)
    })?;
    Ok(())
}

/// The rule no single book can check: a reader holds at most [`LIMIT`] books. Inside the
/// transaction, so the loan table and the events never disagree.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LimitError {
    #[error("{reader} holds {LIMIT} books already")]
    Reached { reader: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[handler(name = "lending.check_limit", phase = before_commit)]
fn check_limit(event: &BookLent, tx: &SqliteTransaction) -> Result<(), LimitError> {
    let held: i64 = tx.with(|conn| {
        conn.query_row(
            "SELECT count(*) FROM loans WHERE reader = ?1",
            [&event.reader],
            |row| row.get(0),
        )
    })?;
    if held >= LIMIT {
        return Err(LimitError::Reached {
            reader: event.reader.clone(),
        });
    }
    tx.execute(
        "INSERT INTO loans (reader, book) VALUES (?1, ?2)",
        (&event.reader, event.book as i64),
    )?;
    Ok(())
}

/// Closes the loan inside the transaction, and records the integration event for the fines
/// office on it: appended with the return, or not at all.
#[handler(name = "lending.close_loan", phase = before_commit)]
fn close_loan(event: &BookReturned, tx: &SqliteTransaction) -> Result<(), StoreError> {
    tx.execute("DELETE FROM loans WHERE book = ?1", [event.book as i64])?;
    tx.record(
        CLOSED_LOANS,
        LoanClosed {
            book: event.book,
            reader: event.reader.clone(),
        },
    );
    Ok(())
}

/// After the commit: the reader hears of the loan.
#[handler(name = "lending.mail_reader", phase = after_commit)]
fn mail_reader(event: &BookLent) {
    println!("  mail: {} borrowed book {}", event.reader, event.book);
}
