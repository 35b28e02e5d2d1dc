//! The `lending` example's behaviour: the `Book` aggregate's decisions given/when/then, and
//! the commands end to end on a SQLite store (the rule inside the transaction, the integration
//! event recorded with the return, the snapshots).

#[path = "../src/bin/lending/library.rs"]
mod library;

use library::{
    AddBook, Book, BookAdded, BookEvent, BookLent, BookReturned, LendBook, LimitError, LoanError,
    ReturnBook,
};
use std::sync::Arc;
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::StoreError;
use tidings::testing::given;
use tidings::{Bus, SendError};

fn added() -> BookEvent {
    BookAdded {
        title: "Dune".into(),
    }
    .into()
}

fn lent(reader: &str) -> BookEvent {
    BookLent {
        book: 1,
        reader: reader.into(),
    }
    .into()
}

#[test]
fn a_book_in_the_catalogue_is_lent() {
    let book = given::<Book>([added()])
        .when(|book| book.lend(1, "ada"))
        .then(vec![lent("ada")]);
    assert_eq!(book.reader.as_deref(), Some("ada"));
    assert_eq!(book.loans, 1);
}

#[test]
fn a_lent_book_is_not_lent_again() {
    given::<Book>([added(), lent("ada")])
        .when(|book| book.lend(1, "bo"))
        .then_error(LoanError::AlreadyLent("ada".into()));
}

#[test]
fn a_book_outside_the_catalogue_is_not_lent() {
    given::<Book>([])
        .when(|book| book.lend(1, "ada"))
        .then_error(LoanError::NotInCatalogue);
}

#[test]
fn only_its_reader_returns_a_book() {
    given::<Book>([added(), lent("ada")])
        .when(|book| book.take_back(1, "bo"))
        .then_error(LoanError::NotLentTo("bo".into()));
    given::<Book>([added(), lent("ada")])
        .when(|book| book.take_back(1, "ada"))
        .then(vec![BookReturned {
            book: 1,
            reader: "ada".into(),
        }
        .into()]);
}

fn library() -> (Arc<SqliteStore>, Bus) {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    store.execute_batch(library::SCHEMA).unwrap();
    let bus = Bus::builder().provide_arc(store.clone()).build().unwrap();
    for book in 1..=3 {
        bus.send_sync(AddBook {
            book,
            title: format!("book {book}"),
        })
        .unwrap();
    }
    (store, bus)
}

fn lend(bus: &Bus, book: u64, reader: &str) -> Result<u64, SendError<LendBook>> {
    bus.send_sync(LendBook {
        book,
        reader: reader.into(),
    })
}

fn loans_of(store: &SqliteStore, reader: &str) -> i64 {
    store
        .with_connection(|c| {
            Ok::<_, StoreError>(c.query_row(
                "SELECT count(*) FROM loans WHERE reader = ?1",
                [reader],
                |r| r.get(0),
            )?)
        })
        .unwrap()
}

#[test]
fn the_limit_vetoes_a_third_loan_and_rolls_back_its_event() {
    let (store, bus) = library();
    lend(&bus, 1, "ada").unwrap();
    lend(&bus, 2, "ada").unwrap();
    let SendError::Handler { error, .. } = lend(&bus, 3, "ada").unwrap_err() else {
        panic!("the handler's own error")
    };
    assert!(
        matches!(error.0.vetoed_by::<LimitError>(), Some(LimitError::Reached { reader }) if reader == "ada"),
        "{error}"
    );
    assert_eq!(loans_of(&store, "ada"), 2);
    assert_eq!(
        store
            .read_stream_sync(&library::stream(3), 0, 10)
            .unwrap()
            .len(),
        1,
        "book 3 holds only its `BookAdded`"
    );
}

#[test]
fn a_return_records_the_integration_event_in_its_transaction() {
    let (store, bus) = library();
    lend(&bus, 1, "ada").unwrap();
    bus.send_sync(ReturnBook {
        book: 1,
        reader: "ada".into(),
    })
    .unwrap();
    let closed = store
        .read_stream_sync(library::CLOSED_LOANS, 0, 10)
        .unwrap();
    assert_eq!(closed.len(), 1);
    let event = closed[0].decode_as::<library::LoanClosed>().unwrap();
    assert_eq!((event.book, event.reader.as_str()), (1, "ada"));
    assert_eq!(loans_of(&store, "ada"), 0);
    let refused = bus
        .send_sync(ReturnBook {
            book: 1,
            reader: "ada".into(),
        })
        .unwrap_err();
    let SendError::Handler { error, .. } = refused else {
        panic!("the handler's own error")
    };
    assert_eq!(
        error.0.rejected(),
        Some(&LoanError::NotLentTo("ada".into()))
    );
    assert_eq!(
        store
            .read_stream_sync(library::CLOSED_LOANS, 0, 10)
            .unwrap()
            .len(),
        1,
        "a refused return records nothing"
    );
}

#[test]
fn a_popular_book_loads_from_its_snapshot() {
    let (store, bus) = library();
    for round in 0..6 {
        let reader = if round % 2 == 0 { "bo" } else { "cy" };
        lend(&bus, 2, reader).unwrap();
        bus.send_sync(ReturnBook {
            book: 2,
            reader: reader.into(),
        })
        .unwrap();
    }
    let snapshot: (i64, String) = store
        .with_connection(|c| {
            Ok::<_, StoreError>(c.query_row(
                "SELECT version, data FROM tidings_snapshots WHERE stream = 'book-2'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap();
    assert_eq!(snapshot.0, 10, "taken at the tenth event");
    assert!(snapshot.1.contains("\"loans\":5"), "{}", snapshot.1);
    let book = store
        .unit_of_work(&bus, |unit| unit.load::<Book>(&library::stream(2)))
        .unwrap()
        .into_value();
    assert_eq!((book.version(), book.state().loans), (13, 6));
}
