//! Event-sourced aggregates: loaded by applying their stream, saved with the loaded version
//! as the expected version; a concurrent save is a typed conflict the caller retries.

use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::{
    EventSourced, EventStore, ExpectedVersion, InMemoryStore, LoadError, Loaded, NewEvent,
    StoreError,
};
use tidings::{AnyEnvelope, BoxError, DomainEvent, Envelope};

#[derive(DomainEvent, Debug)]
#[event(name = "aggregates.cart_opened")]
struct CartOpened {
    owner: String,
}

#[derive(DomainEvent, Debug)]
#[event(name = "aggregates.item_added")]
struct ItemAdded {
    sku: String,
}

#[derive(DomainEvent, Debug)]
#[event(name = "aggregates.unrelated")]
struct Unrelated;

#[derive(Default, Debug)]
struct Cart {
    owner: String,
    items: Vec<String>,
}

impl EventSourced for Cart {
    fn apply(&mut self, event: &AnyEnvelope) -> Result<(), BoxError> {
        if let Some(opened) = event.downcast_ref::<CartOpened>() {
            self.owner = opened.owner.clone();
        } else if let Some(added) = event.downcast_ref::<ItemAdded>() {
            if self.owner.is_empty() {
                return Err("an item was added to a cart that is not open".into());
            }
            self.items.push(added.sku.clone());
        } else {
            return Err(format!("a cart has no `{}` event", event.name()).into());
        }
        Ok(())
    }
}

fn round_trip<S: EventStore>(store: &S) {
    let mut cart = Loaded::<Cart>::load_sync(store, "cart-1").unwrap();
    assert_eq!(
        cart.version(),
        0,
        "a stream that does not exist loads as new"
    );
    cart.record(CartOpened {
        owner: "ada".into(),
    })
    .unwrap();
    cart.record(ItemAdded { sku: "tea".into() }).unwrap();
    assert_eq!(cart.state().items, ["tea"], "recording applies at once");
    assert_eq!(cart.pending().len(), 2);
    let appended = cart.save_sync(store).unwrap();
    assert_eq!(appended.stream_version, 2);
    assert!(
        cart.pending().is_empty(),
        "saved events are not saved again"
    );
    assert_eq!(cart.version(), 2);

    let mut again = Loaded::<Cart>::load_sync(store, "cart-1").unwrap();
    assert_eq!(again.state().owner, "ada");
    assert_eq!(again.state().items, ["tea"]);
    assert_eq!(again.version(), 2);
    again.record(ItemAdded { sku: "milk".into() }).unwrap();
    again.save_sync(store).unwrap();
    let last = Loaded::<Cart>::load_sync(store, "cart-1").unwrap();
    assert_eq!(last.state().items, ["tea", "milk"]);
    assert_eq!(last.version(), 3);
}

#[test]
fn an_aggregate_round_trips_through_memory_and_sqlite() {
    round_trip(&InMemoryStore::new());
    round_trip(&SqliteStore::open_in_memory().unwrap());
}

#[test]
fn a_save_after_someone_else_s_is_a_conflict_to_retry() {
    let store = SqliteStore::open_in_memory().unwrap();
    let mut first = Loaded::<Cart>::load_sync(&store, "cart-2").unwrap();
    first.record(CartOpened { owner: "bo".into() }).unwrap();
    first.save_sync(&store).unwrap();

    let mut mine = Loaded::<Cart>::load_sync(&store, "cart-2").unwrap();
    let mut theirs = Loaded::<Cart>::load_sync(&store, "cart-2").unwrap();
    theirs.record(ItemAdded { sku: "rice".into() }).unwrap();
    theirs.save_sync(&store).unwrap();

    mine.record(ItemAdded { sku: "salt".into() }).unwrap();
    let error = mine.save_sync(&store).unwrap_err();
    match &error {
        StoreError::Conflict {
            stream,
            expected,
            actual,
        } => {
            assert_eq!(
                (stream.as_str(), *expected, *actual),
                ("cart-2", ExpectedVersion::Exact(1), 2)
            );
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert!(error.is_conflict());
    assert_eq!(
        mine.pending().len(),
        1,
        "a refused save keeps the events to retry"
    );

    // The retry: load again, decide again, save.
    let mut retry = Loaded::<Cart>::load_sync(&store, "cart-2").unwrap();
    retry.record(ItemAdded { sku: "salt".into() }).unwrap();
    retry.save_sync(&store).unwrap();
    let cart = Loaded::<Cart>::load_sync(&store, "cart-2").unwrap();
    assert_eq!(cart.state().items, ["rice", "salt"]);
}

#[test]
fn an_event_the_aggregate_refuses_is_a_typed_error_naming_where() {
    let store = InMemoryStore::new();
    let opened =
        NewEvent::from_envelope(&Envelope::new(CartOpened { owner: "cy".into() })).unwrap();
    let stray = NewEvent::from_envelope(&Envelope::new(Unrelated)).unwrap();
    store
        .append_sync("cart-3", ExpectedVersion::NoStream, &[opened, stray])
        .unwrap();
    let error = Loaded::<Cart>::load_sync(&store, "cart-3").unwrap_err();
    let LoadError::Apply {
        stream,
        version,
        name,
        source,
    } = &error
    else {
        panic!("expected an apply error, got {error}")
    };
    assert_eq!(
        (stream.as_str(), *version, *name),
        ("cart-3", 2, "aggregates.unrelated")
    );
    assert_eq!(
        source.to_string(),
        "a cart has no `aggregates.unrelated` event"
    );
    assert!(
        error.to_string().contains("stream `cart-3` at version 2"),
        "{error}"
    );
}

#[test]
fn a_long_stream_loads_in_pages() {
    let store = SqliteStore::open_in_memory().unwrap();
    let mut cart = Loaded::<Cart>::new("cart-4");
    cart.record(CartOpened { owner: "di".into() }).unwrap();
    for n in 0..2_500 {
        cart.record(ItemAdded {
            sku: format!("sku-{n}"),
        })
        .unwrap();
    }
    cart.save_sync(&store).unwrap();
    let loaded = Loaded::<Cart>::load_sync(&store, "cart-4").unwrap();
    assert_eq!(loaded.version(), 2_501);
    assert_eq!(loaded.state().items.len(), 2_500);
    assert_eq!(loaded.state().items[2_499], "sku-2499");
}

#[tokio::test]
async fn async_load_and_save_work_the_same() {
    let store = InMemoryStore::new();
    let mut cart = Loaded::<Cart>::load(&store, "cart-5").await.unwrap();
    cart.record(CartOpened { owner: "ed".into() }).unwrap();
    cart.save(&store).await.unwrap();
    let cart = Loaded::<Cart>::load(&store, "cart-5").await.unwrap();
    assert_eq!(cart.state().owner, "ed");
}
