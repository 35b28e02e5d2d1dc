//! The `ordering` example's behaviour: its modules are compiled here as they are in the binary.

#[path = "../src/bin/ordering/app.rs"]
mod app;
#[path = "../src/bin/ordering/buyers.rs"]
mod buyers;
#[path = "../src/bin/ordering/orders.rs"]
mod orders;
#[path = "../src/bin/ordering/read_model.rs"]
mod read_model;

use buyers::OrderStatusChangedToSubmitted;
use orders::{CreateOrder, CreateOrderError, OrderLine, OrderStarted};
use read_model::GetOrder;
use tidings::persistence::sqlite::SqliteStore;
use tidings::testing::Recorder;
use tidings::{assert_not_published, assert_published, Bus, SendError};

fn order(buyer_id: &str, lines: &[(&str, u32, u64)]) -> CreateOrder {
    CreateOrder {
        buyer_id: buyer_id.into(),
        buyer_name: format!("buyer {buyer_id}"),
        lines: lines
            .iter()
            .map(|(product, quantity, price)| OrderLine {
                product: (*product).into(),
                quantity: *quantity,
                unit_price_cents: *price,
            })
            .collect(),
    }
}

#[tokio::test]
async fn creating_an_order_updates_buyers_and_the_read_model() {
    let recorder = Recorder::new();
    let app = app::App::new(Bus::builder().record(&recorder)).unwrap();
    let id = app
        .bus
        .send(order("b-7", &[("mug", 2, 900), ("tea", 1, 450)]))
        .await
        .unwrap();
    assert_eq!(app.line_count(id).unwrap(), 2, "the aggregate was saved");
    assert_eq!(
        app.bus.query(GetOrder { order_id: id }).await.unwrap(),
        None,
        "the read model follows the log: nothing before it catches up"
    );
    assert_eq!(app.catch_up().unwrap(), 2, "two events in the log");

    let summary = app
        .bus
        .query(GetOrder { order_id: id })
        .await
        .unwrap()
        .expect("a summary");
    assert_eq!(summary.total_cents, 2_250);
    assert_eq!(
        summary.status, "submitted",
        "the integration event reached the read model"
    );
    assert_eq!(summary.buyer_name, "buyer b-7");

    assert_eq!(
        recorder.names(),
        [
            "ordering.order_started",
            "ordering.integration.order_status_changed_to_submitted"
        ]
    );
    assert_published!(
        recorder,
        OrderStarted {
            total_cents: 2_250,
            ..
        }
    );
    let started = &recorder.of::<OrderStarted>()[0];
    let submitted = &recorder.of::<OrderStatusChangedToSubmitted>()[0];
    assert_eq!(
        submitted.metadata().causation_id(),
        Some(started.metadata().id()),
        "the buyer check caused the integration event"
    );
    assert_eq!(
        submitted.metadata().correlation_id(),
        started.metadata().correlation_id(),
        "one conversation from the command on"
    );
    assert_eq!(
        started.metadata().causation_id(),
        Some(started.metadata().correlation_id()),
        "the command started it"
    );
}

#[tokio::test]
async fn a_known_buyer_is_validated_not_created_again() {
    let app = app::App::new(Bus::builder()).unwrap();
    let first = app
        .bus
        .send(order("b-1", &[("mug", 1, 900)]))
        .await
        .unwrap();
    let second = app
        .bus
        .send(order("b-1", &[("pot", 1, 3_000)]))
        .await
        .unwrap();
    assert_ne!(first, second);
    assert_eq!(buyers::count(&app.store).unwrap(), 1);
    assert_eq!(
        buyers::get(&app.store, "b-1").unwrap().unwrap().orders,
        [first, second]
    );
}

#[tokio::test]
async fn an_invalid_order_is_refused_and_nothing_is_published() {
    let recorder = Recorder::new();
    let app = app::App::new(Bus::builder().record(&recorder)).unwrap();
    let error = app.bus.send(order("b-2", &[])).await.unwrap_err();
    assert_eq!(error.handler_error(), Some(&CreateOrderError::NoLines));
    let error = app
        .bus
        .send(order("b-2", &[("mug", 0, 900)]))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SendError::Handler { error: CreateOrderError::ZeroQuantity(ref p), .. } if p == "mug")
    );
    assert!(recorder.is_empty());
    assert_not_published!(recorder, OrderStarted);
    assert_eq!(buyers::count(&app.store).unwrap(), 0);
    assert_eq!(
        app.bus
            .query(GetOrder {
                order_id: orders::OrderId(1)
            })
            .await
            .unwrap(),
        None
    );
}

#[test]
fn a_missing_handler_stops_the_program_at_build() {
    let error = app::App::new(Bus::builder().without("buyers.validate_or_add_buyer"))
        .err()
        .expect("a required handler is left out");
    assert!(
        error
            .to_string()
            .contains("handler `buyers.validate_or_add_buyer` is required"),
        "{error}"
    );
}

#[tokio::test]
async fn the_event_log_keeps_each_event_as_it_was_dispatched() {
    let recorder = Recorder::new();
    let app = app::App::new(Bus::builder().record(&recorder)).unwrap();
    let id = app
        .bus
        .send(order("b-3", &[("mug", 1, 900)]))
        .await
        .unwrap();
    let log = app.store.read_all_sync(0, 10).unwrap();
    let published = recorder.all();
    assert_eq!(log.len(), 2);
    let streams = [orders::stream(id), buyers::stream("b-3")];
    for ((stored, published), stream) in log.iter().zip(&published).zip(&streams) {
        assert_eq!(stored.stream(), stream);
        assert_eq!(
            stored.metadata().id(),
            published.metadata().id(),
            "the same envelope, not a copy"
        );
        assert_eq!(stored.name(), published.name());
        assert_eq!(
            stored.metadata().causation_id(),
            published.metadata().causation_id()
        );
    }
}

/// Places orders for `buyers` buyers, `rounds` times each, catching the read model up after
/// every order: its rows as the incremental build leaves them.
async fn place_and_catch_up(
    app: &app::App,
    buyers: u32,
    rounds: u32,
) -> Vec<read_model::OrderSummary> {
    let mut reached = 0;
    for round in 0..rounds {
        for buyer in 0..buyers {
            let quantity = round + buyer + 1;
            app.bus
                .send(order(
                    &format!("b-{buyer}"),
                    &[("mug", quantity, 900), ("tea", 1, 450)],
                ))
                .await
                .unwrap();
            let now = app.catch_up().unwrap();
            assert_eq!(now, reached + 2, "each order adds two events, applied once");
            reached = now;
        }
    }
    read_model::all(&app.store).unwrap()
}

#[tokio::test]
async fn the_read_model_rebuilt_from_scratch_has_the_rows_of_the_incremental_build() {
    let app = app::App::new(Bus::builder()).unwrap();
    let incremental = place_and_catch_up(&app, 4, 25).await;
    assert_eq!(incremental.len(), 100);
    assert!(incremental.iter().all(|s| s.status == "submitted"));
    assert_eq!(incremental[5].total_cents, 3 * 900 + 450);

    // Damage the table: a rebuild must replay the log, not keep what is there.
    app.store
        .execute_batch(
            "UPDATE order_summaries SET status = 'lost', total_cents = 0;
             DELETE FROM order_summaries WHERE order_id % 3 = 0;
             INSERT INTO order_summaries VALUES (999, 'nobody', 1, 'started');",
        )
        .unwrap();
    assert_ne!(read_model::all(&app.store).unwrap(), incremental);
    assert_eq!(
        app.catch_up().unwrap(),
        200,
        "caught up: the damage is not repaired by catching up"
    );
    assert_ne!(read_model::all(&app.store).unwrap(), incremental);

    assert_eq!(
        read_model::rebuild(&app.store).unwrap(),
        200,
        "replayed from 0"
    );
    assert_eq!(read_model::all(&app.store).unwrap(), incremental);
    assert_eq!(app.catch_up().unwrap(), 200, "nothing applied twice");
    assert_eq!(read_model::all(&app.store).unwrap(), incremental);
}

#[tokio::test]
async fn a_new_read_model_over_a_copied_log_replays_to_the_same_rows() {
    let dir = std::env::temp_dir().join(format!(
        "tidings-ordering-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ordering.db");
    let app = app::App::on(Bus::builder(), SqliteStore::open(&path).unwrap()).unwrap();
    let incremental = place_and_catch_up(&app, 3, 4).await;
    drop(app);

    // Another process, same file: drop the read model and its checkpoint, build it again.
    let store = SqliteStore::open(&path).unwrap();
    store
        .execute_batch(
            "DROP TABLE order_summaries;
             DELETE FROM tidings_checkpoints;",
        )
        .unwrap();
    let app = app::App::on(Bus::builder(), store).unwrap();
    assert_eq!(read_model::all(&app.store).unwrap(), []);
    assert_eq!(app.catch_up().unwrap(), 24);
    assert_eq!(read_model::all(&app.store).unwrap(), incremental);
    drop(app);
    std::fs::remove_dir_all(&dir).unwrap();
}
