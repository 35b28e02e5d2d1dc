//! The relay and the consumer on PostgreSQL (`TIDINGS_TEST_POSTGRES`), against a real
//! RabbitMQ (`TIDINGS_TEST_AMQP`) and a real NATS server with JetStream (`TIDINGS_TEST_NATS`):
//! the relay reads a `PostgresStore` and keeps its checkpoint and lease there, the consumer's
//! `PostgresInbox` records each event in the transaction of the handler's effects. The
//! scenarios are the SQLite ones (`support/consuming.rs`), for each broker.

#[path = "support/consuming.rs"]
mod consuming;

use consuming::{Amqp, Consuming, Effects, Failed, Flaky, Nats};
use std::sync::Arc;
use tidings::broadcast::postgres::PostgresInbox;
use tidings::broadcast::{Delivered, Inbox, InboxError};
use tidings::persistence::postgres::sqlx::{self, PgPool};
use tidings::persistence::postgres::{PostgresStore, PostgresTransaction};
use tidings::{handler, AnyEnvelope, Envelope};
use tidings_tests::nats::nats_url;
use tidings_tests::postgres::PgSchema;
use tidings_tests::{amqp_uri, Numbered};

/// The consuming context's handler: one row per effect, written in the delivery's
/// transaction.
#[handler]
async fn record_effect(
    event: &Envelope<Numbered>,
    flaky: &Flaky,
    tx: &PostgresTransaction,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    sqlx::query("INSERT INTO effects (n, event_id) VALUES ($1, $2)")
        .bind(event.n as i64)
        .bind(event.metadata().id().to_string())
        .execute(&mut *tx.lock()?)
        .await?;
    if flaky.fails(event.n) {
        return Err(Failed(event.n).into());
    }
    Ok(())
}

impl Effects for PostgresInbox {
    async fn recorded(&self) -> Vec<u64> {
        effects(self.pool()).await
    }
}

async fn effects(pool: &PgPool) -> Vec<u64> {
    let rows: Vec<i64> = sqlx::query_scalar("SELECT n FROM effects ORDER BY seq")
        .fetch_all(pool)
        .await
        .unwrap();
    rows.into_iter().map(|n| n as u64).collect()
}

async fn shipping(schema: &PgSchema) -> Arc<Consuming<PostgresInbox>> {
    let inbox = PostgresInbox::open(schema.pool(4).await).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE effects (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            n bigint NOT NULL,
            event_id text NOT NULL)",
    )
    .execute(inbox.pool())
    .await
    .unwrap();
    Arc::new(Consuming::new(inbox))
}

/// Each scenario of `support/consuming.rs` on PostgreSQL, over `wire`.
macro_rules! scenarios {
    ($($broker:ident: $wire:expr;)*) => {$(
        mod $broker {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn stored_integration_events_reach_the_other_context_once_in_order() {
                let (ordering, shipping_schema) = (PgSchema::new(), PgSchema::new());
                let store = Arc::new(PostgresStore::open(ordering.pool(4).await).await.unwrap());
                let shipping = shipping(&shipping_schema).await;
                consuming::relayed_events_have_their_effect_once_in_order(&$wire, store, shipping)
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_redelivered_or_failed_message_has_its_effect_once() {
                let (ordering, shipping_schema) = (PgSchema::new(), PgSchema::new());
                let store = PostgresStore::open(ordering.pool(2).await).await.unwrap();
                let shipping = shipping(&shipping_schema).await;
                consuming::redelivered_and_failed_messages_have_their_effect_once(
                    &$wire, &store, shipping,
                )
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn competing_consumers_have_each_effect_once() {
                let (ordering, shipping_schema) = (PgSchema::new(), PgSchema::new());
                let store = Arc::new(PostgresStore::open(ordering.pool(4).await).await.unwrap());
                let shipping = shipping(&shipping_schema).await;
                consuming::competing_consumers_have_each_effect_once(&$wire, store, shipping).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_second_ordered_consumer_takes_over_in_store_order() {
                let (ordering, shipping_schema) = (PgSchema::new(), PgSchema::new());
                let store = Arc::new(PostgresStore::open(ordering.pool(4).await).await.unwrap());
                let shipping = shipping(&shipping_schema).await;
                consuming::a_second_ordered_consumer_takes_over_in_order(&$wire, store, shipping)
                    .await;
            }
        }
    )*};
}

scenarios! {
    rabbitmq: Amqp(amqp_uri());
    jetstream: Nats(nats_url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_event_delivered_by_several_consumers_at_once_has_its_effect_once() {
    let schema = PgSchema::new();
    let shipping = shipping(&schema).await;
    let envelope = Envelope::new(Numbered { n: 7 });
    let json = envelope.to_json().unwrap().to_string();
    let deliveries = (0..8).map(|_| {
        let shipping = shipping.clone();
        let any = AnyEnvelope::from_json(&json).unwrap();
        tokio::spawn(async move { shipping.inbox.deliver("shipping", any, &shipping.bus).await })
    });
    let mut handled = 0;
    for delivery in futures_util::future::join_all(deliveries).await {
        handled += usize::from(delivery.unwrap().unwrap() == Delivered::Handled);
    }
    assert_eq!(
        handled, 1,
        "one delivery ran the handler, the others found it done"
    );
    assert_eq!(effects(shipping.inbox.pool()).await, [7]);

    // A failing handler: its effect and the record roll back, and the next delivery runs.
    let again = Envelope::new(Numbered { n: 8 })
        .to_json()
        .unwrap()
        .to_string();
    let deliver = async || {
        let any = AnyEnvelope::from_json(&again).unwrap();
        shipping.inbox.deliver("shipping", any, &shipping.bus).await
    };
    shipping.flaky.fail_next(8);
    let failed = deliver().await.unwrap_err();
    assert!(matches!(failed, InboxError::Handlers { .. }), "{failed}");
    assert!(failed.to_string().contains("failed on purpose"), "{failed}");
    assert_eq!(effects(shipping.inbox.pool()).await, [7]);
    assert_eq!(deliver().await.unwrap(), Delivered::Handled);
    assert_eq!(effects(shipping.inbox.pool()).await, [7, 8]);
    assert_eq!(deliver().await.unwrap(), Delivered::AlreadyHandled);
}
