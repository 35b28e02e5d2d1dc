//! Event-sourced aggregates: typed events, loaded by applying their stream (from a snapshot
//! when they keep them), saved with the loaded version as the expected version; the everyday
//! command in one call (`execute`), its refusals, vetoes and retries; the given/when/then
//! fixture.

use tidings::persistence::sqlite::{SqliteStore, SqliteTransaction};
use tidings::persistence::{
    CommandError, Embedded, Execute, ExpectedVersion, InMemoryStore, LoadError, Loaded, NewEvent,
    StoreError, UnitOfWorkError,
};
use tidings::testing::given;
use tidings::{handler, Aggregate, AggregateEvent, Bus, Context, DomainEvent, Envelope, Snapshots};

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "aggregates.cart_opened")]
struct CartOpened {
    owner: String,
}

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "aggregates.item_added")]
struct ItemAdded {
    sku: String,
}

#[derive(DomainEvent, Debug)]
#[event(name = "aggregates.unrelated")]
struct Unrelated;

#[derive(AggregateEvent, Debug, Clone, PartialEq)]
enum CartEvent {
    Opened(CartOpened),
    Added(ItemAdded),
}

#[derive(Default, Debug, serde::Serialize, serde::Deserialize)]
struct Cart {
    owner: Option<String>,
    items: Vec<String>,
}

impl Aggregate for Cart {
    type Event = CartEvent;

    fn apply(&mut self, event: &CartEvent) {
        match event {
            CartEvent::Opened(opened) => self.owner = Some(opened.owner.clone()),
            CartEvent::Added(added) => self.items.push(added.sku.clone()),
        }
    }

    fn snapshots() -> Snapshots<Cart> {
        Snapshots::every(10).revision(2)
    }
}

#[derive(Debug, PartialEq, thiserror::Error)]
enum CartError {
    #[error("the cart is not open")]
    NotOpen,
    #[error("the cart is open already")]
    AlreadyOpen,
    #[error("`{0}` is in the cart already")]
    Duplicate(String),
}

impl Cart {
    fn open(&self, owner: &str) -> Result<Vec<CartEvent>, CartError> {
        if self.owner.is_some() {
            return Err(CartError::AlreadyOpen);
        }
        Ok(vec![CartOpened {
            owner: owner.into(),
        }
        .into()])
    }

    fn add(&self, sku: &str) -> Result<Vec<CartEvent>, CartError> {
        if self.owner.is_none() {
            return Err(CartError::NotOpen);
        }
        if self.items.iter().any(|item| item == sku) {
            return Err(CartError::Duplicate(sku.into()));
        }
        Ok(vec![ItemAdded { sku: sku.into() }.into()])
    }
}

/// A rule that runs inside every unit of work that commits an `ItemAdded`: it vetoes
/// "contraband", and writes a line for every other item through the transaction it is lent.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("`{0}` may not be sold")]
struct Forbidden(String);

#[derive(Debug, thiserror::Error)]
enum RuleError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[handler(phase = before_commit)]
fn check_item(event: &ItemAdded, tx: &SqliteTransaction) -> Result<(), RuleError> {
    if event.sku == "contraband" {
        return Err(Forbidden(event.sku.clone()).into());
    }
    tx.execute("INSERT INTO sold (sku) VALUES (?1)", [&event.sku])?;
    Ok(())
}

/// A bus for the tests that never reach the handlers needing the store (`shared_bus` gives
/// them the store under test): those get a store of their own.
fn bus() -> Bus {
    Bus::builder()
        .provide(SqliteStore::open_in_memory().unwrap())
        .build()
        .unwrap()
}

fn sqlite() -> SqliteStore {
    let store = SqliteStore::open_in_memory().unwrap();
    store.execute_batch("CREATE TABLE sold (sku TEXT)").unwrap();
    store
}

fn round_trip<S: Embedded>(store: &S) {
    let mut cart = Loaded::<Cart>::load_sync(store, "cart-1").unwrap();
    assert_eq!(
        cart.version(),
        0,
        "a stream that does not exist loads as new"
    );
    cart.decide(|cart| cart.open("ada")).unwrap();
    cart.record(ItemAdded { sku: "tea".into() });
    assert_eq!(cart.state().items, ["tea"], "recording applies at once");
    assert_eq!(cart.recorded().len(), 2);
    let appended = cart.save_sync(store).unwrap();
    assert_eq!(appended.stream_version, 2);
    assert!(
        cart.recorded().is_empty(),
        "saved events are not saved again"
    );
    assert_eq!(cart.version(), 2);

    let mut again = Loaded::<Cart>::load_sync(store, "cart-1").unwrap();
    assert_eq!(again.state().owner.as_deref(), Some("ada"));
    assert_eq!(again.state().items, ["tea"]);
    assert_eq!(again.version(), 2);
    assert_eq!(
        again.decide(|cart| cart.add("tea")),
        Err(CartError::Duplicate("tea".into())),
        "a refused decision records nothing"
    );
    assert!(again.recorded().is_empty());
    again.decide(|cart| cart.add("milk")).unwrap();
    again.save_sync(store).unwrap();
    let last = Loaded::<Cart>::load_sync(store, "cart-1").unwrap();
    assert_eq!(last.state().items, ["tea", "milk"]);
    assert_eq!(last.version(), 3);
}

#[test]
fn an_aggregate_round_trips_through_memory_and_sqlite() {
    round_trip(&InMemoryStore::new());
    round_trip(&sqlite());
}

#[test]
fn a_save_after_someone_else_s_is_a_conflict_to_retry() {
    let store = sqlite();
    let mut first = Loaded::<Cart>::new("cart-2");
    first.record(CartOpened { owner: "bo".into() });
    first.save_sync(&store).unwrap();

    let mut mine = Loaded::<Cart>::load_sync(&store, "cart-2").unwrap();
    let mut theirs = Loaded::<Cart>::load_sync(&store, "cart-2").unwrap();
    theirs.record(ItemAdded { sku: "rice".into() });
    theirs.save_sync(&store).unwrap();

    mine.record(ItemAdded { sku: "salt".into() });
    let error = mine.save_sync(&store).unwrap_err();
    let StoreError::Conflict {
        stream,
        expected,
        actual,
    } = &error
    else {
        panic!("expected a conflict, got {error}")
    };
    assert_eq!(
        (stream.as_str(), *expected, *actual),
        ("cart-2", ExpectedVersion::Exact(1), 2)
    );
    assert_eq!(mine.recorded().len(), 1, "a refused save keeps the events");
}

#[test]
fn an_event_of_another_aggregate_is_a_typed_error_naming_where() {
    let store = InMemoryStore::new();
    let opened =
        NewEvent::from_envelope(&Envelope::new(CartOpened { owner: "cy".into() })).unwrap();
    let stray = NewEvent::from_envelope(&Envelope::new(Unrelated)).unwrap();
    store
        .append_sync("cart-3", ExpectedVersion::NoStream, &[opened, stray])
        .unwrap();
    let error = Loaded::<Cart>::load_sync(&store, "cart-3").unwrap_err();
    let LoadError::Foreign {
        stream,
        version,
        name,
        ..
    } = &error
    else {
        panic!("expected a foreign event, got {error}")
    };
    assert_eq!(
        (stream.as_str(), *version, *name),
        ("cart-3", 2, "aggregates.unrelated")
    );
    let text = error.to_string();
    assert!(
        text.contains("stream `cart-3` at version 2")
            && text.contains("aggregates.cart_opened, aggregates.item_added"),
        "{text}"
    );
}

/// Loading through a unit of work decodes each row straight into the aggregate's event; a
/// row that does not decode is read again whole, and the error names it by position, stream
/// and id.
#[test]
fn an_event_that_does_not_decode_fails_the_load_naming_it() {
    let store = sqlite();
    let mut cart = Loaded::<Cart>::new("cart-5");
    cart.record(CartOpened { owner: "ed".into() });
    cart.record(ItemAdded { sku: "a".into() });
    cart.save_sync(&store).unwrap();
    let (position, id): (i64, Vec<u8>) = store
        .with_connection(|c| {
            Ok::<_, StoreError>(c.query_row(
                "SELECT position, id FROM tidings_events
                 WHERE stream = 'cart-5' AND stream_version = 2",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap();
    store
        .execute_batch(
            "UPDATE tidings_events SET data = '{\"sku\": 7}'
             WHERE stream = 'cart-5' AND stream_version = 2",
        )
        .unwrap();
    let load = || {
        store
            .unit_of_work(&bus(), |unit| unit.load::<Cart>("cart-5"))
            .unwrap_err()
    };
    let error = load();
    let UnitOfWorkError::Work {
        error: LoadError::Decode(decode),
        ..
    } = &error
    else {
        panic!("expected the load to fail on the event's data, got {error}")
    };
    assert_eq!(
        (
            decode.position,
            decode.stream.as_str(),
            decode.id.as_bytes().as_slice()
        ),
        (position as u64, "cart-5", id.as_slice())
    );
    let text = error.to_string();
    assert!(
        text.contains(&format!("position {position}")) && text.contains("`cart-5`"),
        "{text}"
    );

    // A damaged column (a schema version of 0) is named with its row's position.
    store
        .execute_batch(
            "UPDATE tidings_events SET data = '{\"sku\": \"a\"}', version = 0
             WHERE stream = 'cart-5' AND stream_version = 2",
        )
        .unwrap();
    let error = load();
    let UnitOfWorkError::Work {
        error:
            LoadError::Store(StoreError::Corrupt {
                position: at,
                reason,
            }),
        ..
    } = &error
    else {
        panic!("expected the load to fail on the damaged column, got {error}")
    };
    assert_eq!(*at, position as u64);
    assert!(reason.contains("version"), "{reason}");
}

#[test]
fn a_long_stream_loads_in_pages() {
    let store = sqlite();
    let mut cart = Loaded::<Cart>::new("cart-4");
    cart.record(CartOpened { owner: "di".into() });
    for n in 0..2_500 {
        cart.record(ItemAdded {
            sku: format!("sku-{n}"),
        });
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
    cart.record(CartOpened { owner: "ed".into() });
    cart.save(&store).await.unwrap();
    let cart = Loaded::<Cart>::load(&store, "cart-5").await.unwrap();
    assert_eq!(cart.state().owner.as_deref(), Some("ed"));
}

#[test]
fn execute_creates_changes_refuses_and_reports_a_veto() {
    let store = sqlite();
    let bus = bus();
    let opened = store
        .execute(&bus, "cart-6", |cart: &Cart| cart.open("fa"))
        .expect("a new aggregate: its stream did not exist");
    assert_eq!(opened.value().version(), 1);
    assert_eq!(opened.appended()[0].stream_version, 1);

    let added = store
        .execute(&bus, "cart-6", |cart: &Cart| cart.add("bread"))
        .unwrap();
    assert_eq!(added.value().state().items, ["bread"]);
    assert_eq!(added.value().version(), 2);

    let refused = store
        .execute(&bus, "cart-6", |cart: &Cart| cart.add("bread"))
        .unwrap_err();
    assert_eq!(
        refused.rejected(),
        Some(&CartError::Duplicate("bread".into()))
    );
    assert!(
        refused.to_string().contains("in the cart already"),
        "{refused}"
    );

    let vetoed = store
        .execute(&bus, "cart-6", |cart: &Cart| cart.add("contraband"))
        .unwrap_err();
    assert_eq!(
        vetoed.vetoed_by::<RuleError>().map(ToString::to_string),
        Some("`contraband` may not be sold".to_owned())
    );
    assert!(vetoed.rejected().is_none());

    let stored = store.read_stream_sync("cart-6", 0, 10).unwrap();
    assert_eq!(
        stored.len(),
        2,
        "the refused and vetoed commands wrote nothing"
    );
    let sold: i64 = store
        .with_connection(|c| {
            Ok::<_, StoreError>(c.query_row("SELECT count(*) FROM sold", [], |r| r.get(0))?)
        })
        .unwrap();
    assert_eq!(sold, 1, "the rule's write committed once, with the bread");
}

#[test]
fn execute_records_events_caused_by_the_command() {
    let store = sqlite();
    let bus = bus();
    let command = Envelope::new(CartOpened { owner: "x".into() });
    let options = Execute::default().caused_by(command.metadata());
    let done = store
        .execute_with(&bus, "cart-7", &options, |cart: &Cart| cart.open("gu"))
        .unwrap();
    assert_eq!(done.value().version(), 1);
    let stored = &store.read_stream_sync("cart-7", 0, 10).unwrap()[0];
    let event = stored.decode().unwrap();
    assert_eq!(
        event.metadata().causation_id(),
        Some(command.metadata().id())
    );
    assert_eq!(
        event.metadata().correlation_id(),
        command.metadata().correlation_id()
    );
}

#[test]
fn several_aggregates_change_in_one_unit_of_work() {
    let store = sqlite();
    let bus = bus();
    store
        .unit_of_work(&bus, |unit| {
            for (stream, owner) in [("cart-8", "ha"), ("cart-9", "io")] {
                let mut cart = unit.load::<Cart>(stream)?;
                cart.decide(|cart| cart.open(owner))
                    .map_err(CommandError::Rejected)?;
                cart.decide(|cart| cart.add("jam"))
                    .map_err(CommandError::Rejected)?;
                unit.save(&mut cart);
            }
            Ok::<_, CommandError<CartError>>(())
        })
        .unwrap();
    for stream in ["cart-8", "cart-9"] {
        let cart = Loaded::<Cart>::load_sync(&store, stream).unwrap();
        assert_eq!(
            (cart.version(), cart.state().items.len()),
            (2, 1),
            "{stream}"
        );
    }
}

/// The snapshot row of `stream`: `(version, revision, data)`.
fn snapshot(store: &SqliteStore, stream: &str) -> Option<(i64, i64, String)> {
    store
        .with_connection(|c| {
            use tidings::persistence::sqlite::rusqlite::OptionalExtension;
            Ok::<_, StoreError>(
                c.query_row(
                    "SELECT version, revision, data FROM tidings_snapshots WHERE stream = ?1",
                    [stream],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?,
            )
        })
        .unwrap()
}

fn set_snapshot(store: &SqliteStore, stream: &str, revision: i64, data: &str) {
    store
        .with_connection(|c| {
            c.execute(
                "UPDATE tidings_snapshots SET revision = ?2, data = ?3 WHERE stream = ?1",
                (stream, revision, data),
            )?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

#[test]
fn a_snapshot_is_written_every_n_events_and_loading_starts_from_it() {
    let store = sqlite();
    let bus = bus();
    store
        .execute(&bus, "cart-10", |cart: &Cart| cart.open("ka"))
        .unwrap();
    for n in 0..8 {
        store
            .execute(&bus, "cart-10", |cart: &Cart| {
                cart.add(&format!("item-{n}"))
            })
            .unwrap();
    }
    assert_eq!(snapshot(&store, "cart-10"), None, "9 events: none due yet");
    store
        .execute(&bus, "cart-10", |cart: &Cart| cart.add("item-8"))
        .unwrap();
    let (version, revision, _) = snapshot(&store, "cart-10").expect("due at version 10");
    assert_eq!((version, revision), (10, 2));

    // Loading starts from the snapshot: a state written into it is what loads, plus the
    // events after it.
    set_snapshot(
        &store,
        "cart-10",
        2,
        r#"{"owner":"ka","items":["from-the-snapshot"]}"#,
    );
    let cart = store
        .execute(&bus, "cart-10", |cart: &Cart| cart.add("item-9"))
        .unwrap();
    assert_eq!(
        cart.value().state().items,
        ["from-the-snapshot", "item-9"],
        "the snapshot, then the one event after it"
    );
    assert_eq!(cart.value().version(), 11);
}

#[test]
fn a_snapshot_that_no_longer_decodes_or_is_of_another_revision_is_ignored() {
    let store = sqlite();
    let bus = bus();
    store
        .execute(&bus, "cart-11", |cart: &Cart| cart.open("la"))
        .unwrap();
    for n in 0..9 {
        store
            .execute(&bus, "cart-11", |cart: &Cart| {
                cart.add(&format!("item-{n}"))
            })
            .unwrap();
    }
    assert!(snapshot(&store, "cart-11").is_some());
    let load = || {
        store
            .unit_of_work(&bus, |unit| unit.load::<Cart>("cart-11"))
            .unwrap()
            .into_value()
    };
    set_snapshot(&store, "cart-11", 2, "not json at all");
    let cart = load();
    assert_eq!(
        (cart.version(), cart.state().items.len()),
        (10, 9),
        "replayed from the first event"
    );
    set_snapshot(&store, "cart-11", 1, r#"{"owner":"la","items":[]}"#);
    let cart = load();
    assert_eq!(
        cart.state().items.len(),
        9,
        "a snapshot of revision 1 is not read by revision 2"
    );
}

#[test]
fn the_fixture_checks_events_and_errors() {
    given::<Cart>([])
        .when(|cart| cart.open("ma"))
        .then(vec![CartOpened { owner: "ma".into() }.into()]);
    let cart = given::<Cart>([CartOpened { owner: "na".into() }.into()])
        .when(|cart| cart.add("oil"))
        .then(vec![ItemAdded { sku: "oil".into() }.into()]);
    assert_eq!(cart.items, ["oil"], "the state with the new events applied");
    given::<Cart>([])
        .when(|cart| cart.add("oil"))
        .then_error(CartError::NotOpen);
    given::<Cart>([
        CartOpened { owner: "oz".into() }.into(),
        ItemAdded { sku: "oil".into() }.into(),
    ])
    .when(|cart| cart.add("oil"))
    .then_error_matches(|e| matches!(e, CartError::Duplicate(sku) if sku == "oil"));
}

#[test]
#[should_panic(expected = "the decision led to other events")]
fn the_fixture_prints_both_sides_when_the_events_differ() {
    given::<Cart>([])
        .when(|cart| cart.open("pa"))
        .then(vec![CartOpened {
            owner: "someone else".into(),
        }
        .into()]);
}

#[test]
#[should_panic(expected = "was refused instead of leading to events")]
fn the_fixture_says_when_a_decision_was_refused_instead() {
    given::<Cart>([])
        .when(|cart| cart.add("rye"))
        .then(vec![ItemAdded { sku: "rye".into() }.into()]);
}

#[test]
#[should_panic(expected = "led to events instead of being refused")]
fn the_fixture_says_when_a_decision_was_not_refused() {
    given::<Cart>([])
        .when(|cart| cart.open("qa"))
        .then_error(CartError::NotOpen);
}

/// A command whose handler runs the everyday command with its context.
#[derive(tidings::Command, Debug)]
#[command(name = "aggregates.add_item", output = u64, error = AddError)]
struct AddItem {
    cart: String,
    sku: String,
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct AddError(#[from] UnitOfWorkError<CommandError<CartError>>);

#[handler]
fn add_item(cmd: AddItem, store: &SqliteStore, ctx: &Context) -> Result<u64, AddError> {
    let done = store.execute(ctx, &cmd.cart, |cart: &Cart| cart.add(&cmd.sku))?;
    Ok(done.value().version())
}

/// An event whose `before_commit` handler runs another unit of work on the same stream with
/// its context: a loop the depth limit ends.
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "aggregates.echoed")]
struct Echoed;

#[derive(AggregateEvent, Debug, Clone)]
enum EchoEvent {
    Echoed(Echoed),
}

#[derive(Default)]
struct Echo;

impl Aggregate for Echo {
    type Event = EchoEvent;
    fn apply(&mut self, _: &EchoEvent) {}
}

#[handler(phase = before_commit)]
fn echo_again(
    _: &Echoed,
    store: &SqliteStore,
    ctx: &Context,
) -> Result<(), UnitOfWorkError<CommandError<std::convert::Infallible>>> {
    // Another stream of the same file would wait for this transaction: the store refuses
    // the thread instead, so this loop ends at once with a typed error rather than deadlock.
    store
        .execute(ctx, "echo", |_: &Echo| Ok(vec![Echoed.into()]))
        .map(drop)
}

fn shared_bus(store: &std::sync::Arc<SqliteStore>) -> Bus {
    Bus::builder().provide_arc(store.clone()).build().unwrap()
}

#[test]
fn a_command_handler_executes_with_its_context_and_its_events_are_caused_by_the_command() {
    let store = std::sync::Arc::new(sqlite());
    let bus = shared_bus(&store);
    store
        .execute(&bus, "cart-20", |cart: &Cart| cart.open("ta"))
        .unwrap();
    let version = bus
        .send_sync(AddItem {
            cart: "cart-20".into(),
            sku: "figs".into(),
        })
        .unwrap();
    assert_eq!(version, 2);
    let stored = store.read_stream_sync("cart-20", 1, 10).unwrap();
    let added = stored[0].decode().unwrap();
    assert!(
        added.metadata().causation_id().is_some(),
        "caused by the command the handler handled"
    );
    let refused = bus
        .send_sync(AddItem {
            cart: "cart-20".into(),
            sku: "figs".into(),
        })
        .unwrap_err();
    let error = refused.handler_error().expect("the handler's own error");
    assert_eq!(
        error.0.rejected(),
        Some(&CartError::Duplicate("figs".into()))
    );
}

#[test]
fn a_unit_of_work_started_by_a_before_commit_handler_is_refused_not_deadlocked() {
    let store = std::sync::Arc::new(sqlite());
    let bus = shared_bus(&store);
    let error = store
        .execute(&bus, "echo", |_: &Echo| {
            Ok::<_, std::convert::Infallible>(vec![Echoed.into()])
        })
        .unwrap_err();
    let failures = error.before_commit().expect("the handler failed");
    assert!(
        failures
            .to_string()
            .contains("inside a unit of work on this thread"),
        "{failures}"
    );
    assert!(store.read_all_sync(0, 10).unwrap().is_empty());
}

/// An event whose `after_commit` handler commits the same event again with its context: the
/// store is free by then, so only the depth limit ends the loop.
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "aggregates.rang")]
struct Rang;

#[derive(AggregateEvent, Debug, Clone)]
enum BellEvent {
    Rang(Rang),
}

#[derive(Default)]
struct Bell;

impl Aggregate for Bell {
    type Event = BellEvent;
    fn apply(&mut self, _: &BellEvent) {}
}

#[derive(Debug, thiserror::Error)]
enum RingError {
    #[error(transparent)]
    Unit(#[from] UnitOfWorkError<CommandError<std::convert::Infallible>>),
    #[error("the next ring failed: {0}")]
    Next(String),
}

#[handler(phase = after_commit)]
fn ring_again(_: &Rang, store: &SqliteStore, ctx: &Context) -> Result<(), RingError> {
    let done = store.execute(ctx, "bell", |_: &Bell| Ok(vec![Rang.into()]))?;
    done.after_commit()
        .map_err(|failures| RingError::Next(failures.to_string()))
}

#[test]
fn a_unit_of_work_a_handler_starts_counts_toward_the_depth_limit() {
    let store = std::sync::Arc::new(sqlite());
    let bus = Bus::builder()
        .provide_arc(store.clone())
        .max_depth(4)
        .build()
        .unwrap();
    let committed = store
        .execute(&bus, "bell", |_: &Bell| {
            Ok::<_, std::convert::Infallible>(vec![Rang.into()])
        })
        .expect("the first ring commits");
    let failures = committed.after_commit().expect_err("the loop is cut");
    assert!(
        failures.to_string().contains("past the depth limit of 4"),
        "{failures}"
    );
    let rung = store.read_stream_sync("bell", 0, 100).unwrap().len();
    assert_eq!(rung, 5, "the root and one ring per level the limit allows");
}
