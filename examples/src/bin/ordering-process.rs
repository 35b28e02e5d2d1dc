//! eShop's ordering process: an order starts, waits out a grace period (a timeout the buyer
//! may beat by cancelling), asks the catalog to confirm its stock, then asks payment to charge
//! it, and ends paid or cancelled. The process's events arrive through the inbox (from the
//! other contexts), its timeouts through the delivery of due scheduled messages, and what it
//! asks of the other contexts goes out through the outbox; each step commits its state with
//! them in one transaction.

use std::time::Duration;
use tidings::broadcast::sqlite::SqliteInbox;
use tidings::broadcast::Inbox;
use tidings::persistence::sqlite::SqliteStore;
use tidings::{
    handler, AnyEnvelope, BoxError, Bus, Command, DomainEvent, Envelope, On, Process, ScheduleId,
    Step,
};

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "ordering.order_started")]
pub struct OrderStarted {
    pub order: u64,
    pub buyer: String,
}

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "ordering.order_cancelled_by_buyer")]
pub struct OrderCancelledByBuyer {
    pub order: u64,
}

/// The timeout: the grace period is over.
#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "ordering.grace_period_confirmed")]
pub struct GracePeriodConfirmed {
    pub order: u64,
}

/// To the catalog, through the outbox.
#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "ordering.order_awaiting_validation", integration)]
pub struct OrderAwaitingValidation {
    pub order: u64,
}

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "catalog.order_stock_confirmed")]
pub struct OrderStockConfirmed {
    pub order: u64,
}

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "catalog.order_stock_rejected")]
pub struct OrderStockRejected {
    pub order: u64,
}

/// To payment, through the outbox.
#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "ordering.order_awaiting_payment", integration)]
pub struct OrderAwaitingPayment {
    pub order: u64,
}

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "payment.order_payment_succeeded")]
pub struct OrderPaymentSucceeded {
    pub order: u64,
}

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "payment.order_payment_failed")]
pub struct OrderPaymentFailed {
    pub order: u64,
}

/// In this context: set the order's status.
#[derive(Command, Debug, Clone, PartialEq)]
#[command(name = "ordering.set_order_status")]
pub struct SetOrderStatus {
    pub order: u64,
    pub status: Status,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub enum Status {
    #[default]
    Submitted,
    AwaitingValidation,
    StockConfirmed,
    Paid,
    Cancelled,
}

/// How long a buyer may cancel for free.
pub const GRACE_PERIOD: Duration = Duration::from_secs(60);

#[derive(Process, Default, Debug, serde::Serialize, serde::Deserialize)]
#[process(
    name = "ordering.order_process",
    store = sqlite,
    start(OrderStarted),
    on(OrderCancelledByBuyer, OrderStockConfirmed, OrderStockRejected, OrderPaymentSucceeded, OrderPaymentFailed),
    timeouts(GracePeriodConfirmed)
)]
pub struct OrderProcess {
    pub order: u64,
    pub status: Status,
    grace: Option<ScheduleId>,
}

impl OrderProcess {
    fn set(&mut self, status: Status, step: &mut Step<'_>) {
        self.status = status;
        step.send(SetOrderStatus {
            order: self.order,
            status,
        });
    }

    fn cancel(&mut self, step: &mut Step<'_>) {
        self.set(Status::Cancelled, step);
        step.end();
    }
}

impl On<OrderStarted> for OrderProcess {
    fn key(event: &OrderStarted) -> String {
        event.order.to_string()
    }
    fn on(&mut self, event: &Envelope<OrderStarted>, step: &mut Step<'_>) -> Result<(), BoxError> {
        self.order = event.order;
        let order = event.order;
        self.grace = Some(step.timeout_after(GRACE_PERIOD, GracePeriodConfirmed { order }));
        Ok(())
    }
}

impl On<OrderCancelledByBuyer> for OrderProcess {
    fn key(event: &OrderCancelledByBuyer) -> String {
        event.order.to_string()
    }
    fn on(
        &mut self,
        _: &Envelope<OrderCancelledByBuyer>,
        step: &mut Step<'_>,
    ) -> Result<(), BoxError> {
        if self.status != Status::Submitted {
            return Err(format!(
                "order {} can no longer be cancelled: it is {:?}",
                self.order, self.status
            )
            .into());
        }
        if let Some(grace) = self.grace.take() {
            step.cancel(grace);
        }
        self.cancel(step);
        Ok(())
    }
}

impl On<GracePeriodConfirmed> for OrderProcess {
    fn key(event: &GracePeriodConfirmed) -> String {
        event.order.to_string()
    }
    fn on(
        &mut self,
        _: &Envelope<GracePeriodConfirmed>,
        step: &mut Step<'_>,
    ) -> Result<(), BoxError> {
        self.grace = None;
        self.set(Status::AwaitingValidation, step);
        step.record(
            format!("order-{}", self.order),
            OrderAwaitingValidation { order: self.order },
        );
        Ok(())
    }
}

impl On<OrderStockConfirmed> for OrderProcess {
    fn key(event: &OrderStockConfirmed) -> String {
        event.order.to_string()
    }
    fn on(
        &mut self,
        _: &Envelope<OrderStockConfirmed>,
        step: &mut Step<'_>,
    ) -> Result<(), BoxError> {
        self.set(Status::StockConfirmed, step);
        step.record(
            format!("order-{}", self.order),
            OrderAwaitingPayment { order: self.order },
        );
        Ok(())
    }
}

impl On<OrderStockRejected> for OrderProcess {
    fn key(event: &OrderStockRejected) -> String {
        event.order.to_string()
    }
    fn on(
        &mut self,
        _: &Envelope<OrderStockRejected>,
        step: &mut Step<'_>,
    ) -> Result<(), BoxError> {
        self.cancel(step);
        Ok(())
    }
}

impl On<OrderPaymentSucceeded> for OrderProcess {
    fn key(event: &OrderPaymentSucceeded) -> String {
        event.order.to_string()
    }
    fn on(
        &mut self,
        _: &Envelope<OrderPaymentSucceeded>,
        step: &mut Step<'_>,
    ) -> Result<(), BoxError> {
        self.set(Status::Paid, step);
        step.end();
        Ok(())
    }
}

impl On<OrderPaymentFailed> for OrderProcess {
    fn key(event: &OrderPaymentFailed) -> String {
        event.order.to_string()
    }
    fn on(
        &mut self,
        _: &Envelope<OrderPaymentFailed>,
        step: &mut Step<'_>,
    ) -> Result<(), BoxError> {
        self.cancel(step);
        Ok(())
    }
}

#[handler]
fn set_order_status(command: SetOrderStatus) {
    println!("  order {} is now {:?}", command.order, command.status);
}

/// An event from another context, as the inbox receives it.
fn from_outside<E: DomainEvent>(event: E) -> AnyEnvelope {
    AnyEnvelope::from(Envelope::new(event))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("tidings-ordering-process-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("ordering.db");
    let store = SqliteStore::open(&path)?;
    let inbox = SqliteInbox::open(&path)?;
    let bus = Bus::builder().build()?;
    println!("{}", bus.routes());

    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime.block_on(async {
        let deliver = |event| inbox.deliver("ordering", event, &bus);
        println!("orders 1, 2 and 3 start; the buyer of 3 cancels within the grace period");
        for (order, buyer) in [(1, "ada"), (2, "bo"), (3, "cy")] {
            deliver(from_outside(OrderStarted {
                order,
                buyer: buyer.into(),
            }))
            .await?;
        }
        deliver(from_outside(OrderCancelledByBuyer { order: 3 })).await?;

        println!("the grace period ends (the scheduler delivers the timeouts when due)");
        let later = chrono::Utc::now()
            + chrono::Duration::from_std(GRACE_PERIOD)?
            + chrono::Duration::seconds(1);
        let due = inbox.deliver_due(&bus, later).await?;
        assert_eq!(
            (due.delivered, due.failed),
            (2, 0),
            "order 3's timeout was cancelled"
        );

        println!("the catalog confirms order 1's stock and rejects order 2's");
        deliver(from_outside(OrderStockConfirmed { order: 1 })).await?;
        deliver(from_outside(OrderStockRejected { order: 2 })).await?;
        println!("payment charges order 1");
        deliver(from_outside(OrderPaymentSucceeded { order: 1 })).await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;

    let asked: Vec<String> = store
        .read_all_sync(0, 100)?
        .iter()
        .map(|event| format!("{} {}", event.stream(), event.name()))
        .collect();
    println!("asked of the other contexts, through the outbox: {asked:?}");
    assert_eq!(
        asked,
        [
            "order-1 ordering.order_awaiting_validation",
            "order-2 ordering.order_awaiting_validation",
            "order-1 ordering.order_awaiting_payment"
        ]
    );
    let ended: Vec<(String, String)> = inbox.with_connection(|conn| {
        let mut rows =
            conn.prepare("SELECT key, state FROM tidings_processes WHERE ended = 1 ORDER BY key")?;
        let rows = rows.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect::<Result<Vec<_>, _>>()
    })?;
    for (key, state) in &ended {
        println!("order {key} ended: {state}");
    }
    assert_eq!(ended.len(), 3);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings::testing::given_process;

    fn started() -> tidings::testing::ProcessThen<OrderProcess> {
        given_process(OrderProcess::default()).when(OrderStarted {
            order: 7,
            buyer: "ada".into(),
        })
    }

    #[test]
    fn a_started_order_waits_out_its_grace_period() {
        let then = started();
        assert_eq!(then.key(), "7");
        assert_eq!(
            then.timeouts::<GracePeriodConfirmed>(),
            [&GracePeriodConfirmed { order: 7 }]
        );
        let (due, _) = then.timeouts_at::<GracePeriodConfirmed>()[0];
        assert!(due > chrono::Utc::now() + chrono::Duration::seconds(59));
        assert!(!then.is_ended());
    }

    #[test]
    fn the_end_of_the_grace_period_asks_the_catalog_for_stock() {
        let then = started().when(GracePeriodConfirmed { order: 7 });
        assert_eq!(
            then.recorded::<OrderAwaitingValidation>(),
            [("order-7", &OrderAwaitingValidation { order: 7 })]
        );
        assert_eq!(then.state().status, Status::AwaitingValidation);
    }

    #[test]
    fn confirmed_stock_then_payment_ends_paid() {
        let then = started()
            .when(GracePeriodConfirmed { order: 7 })
            .when(OrderStockConfirmed { order: 7 });
        assert_eq!(then.recorded::<OrderAwaitingPayment>().len(), 1);
        let then = then.when(OrderPaymentSucceeded { order: 7 });
        assert_eq!(
            then.sent::<SetOrderStatus>(),
            [&SetOrderStatus {
                order: 7,
                status: Status::Paid
            }]
        );
        assert!(then.is_ended());
    }

    #[test]
    fn rejected_stock_or_failed_payment_cancels() {
        let rejected = started()
            .when(GracePeriodConfirmed { order: 7 })
            .when(OrderStockRejected { order: 7 });
        assert_eq!(rejected.state().status, Status::Cancelled);
        assert!(rejected.is_ended());
        let failed = started()
            .when(GracePeriodConfirmed { order: 7 })
            .when(OrderStockConfirmed { order: 7 })
            .when(OrderPaymentFailed { order: 7 });
        assert_eq!(failed.sent::<SetOrderStatus>()[0].status, Status::Cancelled);
        assert!(failed.is_ended());
    }

    #[test]
    fn a_cancel_within_the_grace_period_cancels_the_timeout() {
        let then = started().when(OrderCancelledByBuyer { order: 7 });
        assert_eq!(then.cancelled().len(), 1);
        assert!(then.is_ended());
    }

    #[test]
    fn a_cancel_after_the_grace_period_is_refused() {
        let then = started()
            .when(GracePeriodConfirmed { order: 7 })
            .when(OrderCancelledByBuyer { order: 7 });
        let error = then.error().expect("refused").to_string();
        assert!(error.contains("no longer be cancelled"), "{error}");
    }
}
