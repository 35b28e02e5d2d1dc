use std::sync::Mutex;
use tidings::persistence::sqlite::SqliteTransaction;
use tidings::{handler, DomainEvent};

#[derive(DomainEvent, Debug)]
#[event(name = "ui.placed")]
struct Placed {
    order: u64,
}

static KEPT: Mutex<Option<&'static SqliteTransaction>> = Mutex::new(None);

#[handler(phase = before_commit)]
fn keep(event: &Placed, tx: &SqliteTransaction) {
    let _ = event.order;
    *KEPT.lock().unwrap() = Some(tx);
}

#[handler(phase = before_commit)]
fn keep_a_copy(event: &Placed, tx: &SqliteTransaction) {
    let _ = event.order;
    let _copy: SqliteTransaction = tx.clone();
}

fn main() {}
