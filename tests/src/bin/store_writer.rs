//! The crash test's writer: appends batches of `Tick`s to a SQLite store in a loop, and after
//! each commit prints `<run> <batch> <first position> <id> <id> ...` on its own line. The test
//! kills it at random moments.
//!
//! Usage: `store_writer <store file> <run> <seed>` (the seed of its batch sizes and streams)

use std::io::Write;
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::{ExpectedVersion, NewEvent};
use tidings::Envelope;
use tidings_tests::Tick;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(run), Some(seed)) = (args.next(), args.next(), args.next()) else {
        return Err("usage: store_writer <store file> <run> <seed>".into());
    };
    let run: u32 = run.parse()?;
    let mut rng = fastrand::Rng::with_seed(seed.parse()?);
    let store = SqliteStore::open(path)?;
    let mut out = std::io::stdout().lock();
    for batch in 0.. {
        let size = rng.u32(1..=20);
        let events = (0..size)
            .map(|index| {
                let tick = Tick {
                    run,
                    batch,
                    index,
                    size,
                };
                NewEvent::from_envelope(&Envelope::new(tick))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let stream = format!("stream-{}", rng.u8(0..5));
        let appended = store.append_sync(&stream, ExpectedVersion::Any, &events)?;
        let mut line = format!("{run} {batch} {}", appended.positions.start);
        for event in &events {
            line.push(' ');
            line.push_str(&event.metadata().id().to_string());
        }
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    Ok(())
}
