//! An event-sourced aggregate end to end: a library lends books. Each command is one call
//! (`store.execute` inside its handler): the `Book` aggregate is loaded from its snapshot and
//! the events after it, decides with typed events and errors, and commits with a rule checked
//! inside the transaction and an integration event recorded in it. Its decisions are tested
//! given/when/then in `examples/tests/lending.rs`.
//!
//! Run: `cargo run -p tidings-examples --bin lending [path/to/library.db]`

mod library;

use library::{AddBook, LendBook, LimitError, LoanError, ReturnBook};
use std::process::ExitCode;
use std::sync::Arc;
use tidings::persistence::sqlite::SqliteStore;
use tidings::{Bus, SendError};

fn main() -> ExitCode {
    let path = std::env::args().nth(1).map(Into::into).unwrap_or_else(|| {
        std::env::temp_dir().join(format!("tidings-lending-{}.db", std::process::id()))
    });
    let _ = std::fs::remove_file(&path);
    match run(&path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lending: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(SqliteStore::open(path)?);
    store.execute_batch(library::SCHEMA)?;
    let bus = Bus::builder()
        .provide_arc(store.clone())
        .require(tidings::linked!(crate))
        .build()?;

    for (book, title) in [(1, "Dune"), (2, "Emma"), (3, "Ulysses")] {
        bus.send_sync(AddBook {
            book,
            title: title.into(),
        })?;
    }
    let lend = |book: u64, reader: &str| {
        bus.send_sync(LendBook {
            book,
            reader: reader.into(),
        })
    };
    let give_back = |book: u64, reader: &str| {
        bus.send_sync(ReturnBook {
            book,
            reader: reader.into(),
        })
    };

    lend(1, "ada")?;
    lend(2, "ada")?;
    match lend(3, "ada") {
        Err(SendError::Handler { error, .. }) => match error.0.vetoed_by::<LimitError>() {
            Some(refusal) => println!("book 3 not lent: {refusal}"),
            None => return Err(error.into()),
        },
        other => return Err(format!("expected the limit to refuse book 3: {other:?}").into()),
    }
    match lend(2, "bo") {
        Err(SendError::Handler { error, .. }) if error.0.rejected().is_some() => {
            println!(
                "book 2 not lent to bo: {}",
                error.0.rejected().unwrap_or(&LoanError::NotInCatalogue)
            );
        }
        other => return Err(format!("expected book 2 to be refused: {other:?}").into()),
    }
    give_back(1, "ada")?;
    lend(3, "ada")?;

    // Book 2 goes back and forth: its stream grows past a snapshot or two.
    give_back(2, "ada")?;
    let mut loans = 0;
    for round in 0..12 {
        let reader = if round % 2 == 0 { "bo" } else { "cy" };
        loans = lend(2, reader)?;
        give_back(2, reader)?;
    }
    println!("book 2 was lent {loans} times");

    let closed = store.read_stream_sync(library::CLOSED_LOANS, 0, 100)?.len();
    let book_2 = store.read_stream_sync(&library::stream(2), 0, 1_000)?.len();
    println!("{closed} loans closed for the fines office; book 2's stream holds {book_2} events");
    if loans != 13 || closed != 14 || book_2 != 1 + 2 * 13 {
        return Err(format!(
            "expected 13 loans of book 2, 14 closed loans and 27 events: {loans}, {closed}, {book_2}"
        )
        .into());
    }
    Ok(())
}
