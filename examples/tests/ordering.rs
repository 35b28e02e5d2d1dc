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
    assert_eq!(
        app.orders.line_count(id),
        Some(2),
        "the aggregate was saved"
    );

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
        submitted.causation_id(),
        Some(started.id()),
        "the buyer check caused the integration event"
    );
    assert_eq!(
        submitted.correlation_id(),
        started.correlation_id(),
        "one conversation from the command on"
    );
    assert_eq!(
        started.causation_id(),
        Some(started.correlation_id()),
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
    assert_eq!(app.buyers.count(), 1);
    assert_eq!(app.buyers.get("b-1").unwrap().orders, [first, second]);
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
    assert_eq!(app.buyers.count(), 0);
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
