//! The process kill test's domain and its nodes (`src/bin/process_node*.rs`): an order
//! process of three steps with timeouts, and the loop a node runs, as the runner (delivering
//! incoming events through the inbox) or as a scheduler (delivering due timeouts).
//!
//! An order starts (`OrderStarted`), waits out its grace period (the timeout `GraceEnded`,
//! which asks for stock: `ConfirmStock` recorded on the order's stream, and schedules the
//! timeout `StockTimedOut`), then either has its stock confirmed (`StockConfirmed`, which
//! cancels that timeout, records `ChargePayment` and ends it paid) or times out (which
//! records `CancelOrder` and ends it cancelled). Each step counts what moved it, without
//! guarding, so a timeout delivered twice in effect shows as a count of two.
//!
//! A paid order also schedules the command `ShipOrder` a little later (declared with the
//! process, in each node), which a scheduler
//! sends: its handler commits a unit of work of its own on the order's `Shipment`, so a
//! scheduler killed after that commit and before it removed the command's row leaves the
//! command to be sent again once its lease is over. The shipment is shipped once and notes
//! each repeat (`ShipmentRepeated`): the test sees that a repeat happened and had no effect.
//! An order marked `die_after_shipping` makes the scheduler that ships it kill itself with
//! SIGKILL right after that commit, so the repeat happens in every run.

use std::future::Future;
use std::time::Duration;
use tidings::broadcast::{Delivered, InboxError};
use tidings::persistence::schedule::DueDelivery;
use tidings::{
    Aggregate, AggregateEvent, AnyEnvelope, BoxError, Bus, BusBuilder, DomainEvent, Envelope,
    ScheduleId, Step,
};

/// Starts the order `order`; `stock_ms` is how long it waits for its stock once its grace
/// period of `grace_ms` is over.
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "killed.order_started")]
pub struct OrderStarted {
    pub order: u32,
    pub grace_ms: u64,
    pub stock_ms: u64,
    /// How long after its payment the order is shipped.
    pub ship_ms: u64,
    /// Whether the scheduler that ships it kills itself right after the shipment commits.
    pub die_after_shipping: bool,
}

/// The grace period is over (a timeout).
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "killed.grace_ended")]
pub struct GraceEnded {
    pub order: u32,
}

/// The stock was confirmed (an incoming event).
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "killed.stock_confirmed")]
pub struct StockConfirmed {
    pub order: u32,
}

/// No stock in time (a timeout).
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "killed.stock_timed_out")]
pub struct StockTimedOut {
    pub order: u32,
}

/// The command to the stock context, recorded for the outbox.
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "killed.confirm_stock")]
pub struct ConfirmStock {
    pub order: u32,
}

/// The command to the payment context, recorded for the outbox.
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "killed.charge_payment")]
pub struct ChargePayment {
    pub order: u32,
}

/// The command that cancels the order, recorded for the outbox.
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "killed.cancel_order")]
pub struct CancelOrder {
    pub order: u32,
}

/// Why a shipment failed: its unit of work's error, as text.
#[derive(Debug)]
pub struct ShipError(pub String);

impl std::fmt::Display for ShipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the shipment failed: {}", self.0)
    }
}

impl std::error::Error for ShipError {}

/// The order was shipped.
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "killed.order_shipped")]
pub struct OrderShipped {
    pub order: u32,
}

/// `ShipOrder` came again for an order already shipped, and changed nothing.
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "killed.shipment_repeated")]
pub struct ShipmentRepeated {
    pub order: u32,
}

/// The events of an order's shipment.
#[derive(AggregateEvent, Debug, Clone)]
pub enum ShipmentEvent {
    Shipped(OrderShipped),
    Repeated(ShipmentRepeated),
}

/// An order's shipment, on the stream [`shipment`].
#[derive(Debug, Default)]
pub struct Shipment {
    pub shipped: bool,
}

impl Aggregate for Shipment {
    type Event = ShipmentEvent;

    fn apply(&mut self, event: &ShipmentEvent) {
        if let ShipmentEvent::Shipped(_) = event {
            self.shipped = true;
        }
    }
}

impl Shipment {
    /// Ships the order once: again, it only notes the repeat.
    pub fn ship(&self, order: u32) -> Result<Vec<ShipmentEvent>, std::convert::Infallible> {
        Ok(vec![if self.shipped {
            ShipmentRepeated { order }.into()
        } else {
            OrderShipped { order }.into()
        }])
    }
}

/// The stream of order `order`'s shipment.
pub fn shipment(order: u32) -> String {
    format!("shipment-{order}")
}

/// What a node does once a `ShipOrder` committed: with `die_after_shipping`, the first time
/// (`shipped_now`), it kills its own process with SIGKILL before the scheduler removes the
/// command's row.
pub fn after_shipping(die_after_shipping: bool, shipped_now: bool) {
    if die_after_shipping && shipped_now {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .status();
        // The signal is on its way; nothing after this point runs.
        loop {
            std::thread::park();
        }
    }
}

/// Where an order is.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Stage {
    #[default]
    New,
    Started,
    AwaitingStock,
    Paid,
    Cancelled,
}

/// The order process's state, and how many times each event moved it.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OrderState {
    pub order: u32,
    pub stage: Stage,
    pub stock_ms: u64,
    pub ship_ms: u64,
    pub die_after_shipping: bool,
    pub stock_timeout: Option<ScheduleId>,
    pub grace_fired: u32,
    pub stock_timeouts_fired: u32,
    pub confirmations: u32,
}

/// The stream of the commands order `order` issued.
pub fn stream(order: u32) -> String {
    format!("order-{order}")
}

impl OrderState {
    pub fn started(&mut self, event: &OrderStarted, step: &mut Step<'_>) -> Result<(), BoxError> {
        self.order = event.order;
        self.stage = Stage::Started;
        self.stock_ms = event.stock_ms;
        self.ship_ms = event.ship_ms;
        self.die_after_shipping = event.die_after_shipping;
        let order = event.order;
        step.timeout_after(Duration::from_millis(event.grace_ms), GraceEnded { order });
        Ok(())
    }

    pub fn grace_ended(&mut self, step: &mut Step<'_>) -> Result<(), BoxError> {
        self.grace_fired += 1;
        self.stage = Stage::AwaitingStock;
        let order = self.order;
        step.record(stream(order), ConfirmStock { order });
        self.stock_timeout = Some(step.timeout_after(
            Duration::from_millis(self.stock_ms),
            StockTimedOut { order },
        ));
        Ok(())
    }

    pub fn stock_confirmed(&mut self, step: &mut Step<'_>) -> Result<(), BoxError> {
        self.confirmations += 1;
        if let Some(timeout) = self.stock_timeout.take() {
            step.cancel(timeout);
        }
        self.stage = Stage::Paid;
        let order = self.order;
        step.record(stream(order), ChargePayment { order });
        step.end();
        Ok(())
    }

    pub fn stock_timed_out(&mut self, step: &mut Step<'_>) -> Result<(), BoxError> {
        self.stock_timeouts_fired += 1;
        self.stock_timeout = None;
        self.stage = Stage::Cancelled;
        let order = self.order;
        step.record(stream(order), CancelOrder { order });
        step.end();
        Ok(())
    }
}

/// Declares the process `KilledOrder` on `$store` (`sqlite` or `postgres`), its state an
/// [`OrderState`], and the command `ShipOrder` its payment step schedules (declared here, in
/// the node that handles it, since a command no linked handler takes fails `build()`).
#[macro_export]
macro_rules! killed_order_process {
    ($store:ident) => {
        /// Ships a paid order: scheduled by the payment step, sent by a scheduler.
        #[derive(tidings::Command, Debug, Clone)]
        #[command(name = "killed.ship_order", error = $crate::killed::ShipError)]
        pub struct ShipOrder {
            pub order: u32,
            pub die_after_shipping: bool,
        }

        #[derive(tidings::Process, Default, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        #[process(name = "killed.order", store = $store)]
        #[process(
            start(OrderStarted),
            on(StockConfirmed),
            timeouts(GraceEnded, StockTimedOut)
        )]
        struct KilledOrder($crate::killed::OrderState);

        impl tidings::On<OrderStarted> for KilledOrder {
            fn key(event: &OrderStarted) -> String {
                event.order.to_string()
            }
            fn on(
                &mut self,
                event: &tidings::Envelope<OrderStarted>,
                step: &mut tidings::Step<'_>,
            ) -> Result<(), tidings::BoxError> {
                self.0.started(event, step)
            }
        }

        impl tidings::On<GraceEnded> for KilledOrder {
            fn key(event: &GraceEnded) -> String {
                event.order.to_string()
            }
            fn on(
                &mut self,
                _: &tidings::Envelope<GraceEnded>,
                step: &mut tidings::Step<'_>,
            ) -> Result<(), tidings::BoxError> {
                self.0.grace_ended(step)
            }
        }

        impl tidings::On<StockConfirmed> for KilledOrder {
            fn key(event: &StockConfirmed) -> String {
                event.order.to_string()
            }
            fn on(
                &mut self,
                _: &tidings::Envelope<StockConfirmed>,
                step: &mut tidings::Step<'_>,
            ) -> Result<(), tidings::BoxError> {
                self.0.stock_confirmed(step)?;
                step.send_after(
                    std::time::Duration::from_millis(self.0.ship_ms),
                    ShipOrder {
                        order: self.0.order,
                        die_after_shipping: self.0.die_after_shipping,
                    },
                );
                Ok(())
            }
        }

        impl tidings::On<StockTimedOut> for KilledOrder {
            fn key(event: &StockTimedOut) -> String {
                event.order.to_string()
            }
            fn on(
                &mut self,
                _: &tidings::Envelope<StockTimedOut>,
                step: &mut tidings::Step<'_>,
            ) -> Result<(), tidings::BoxError> {
                self.0.stock_timed_out(step)
            }
        }
    };
}

/// The envelope of an incoming event, as the `incoming` table keeps it.
pub fn incoming<E: DomainEvent>(event: E) -> String {
    AnyEnvelope::from(Envelope::new(event))
        .to_json()
        .expect("the test's events serialize")
        .to_string()
}

/// A node's database: the inbox, and the `incoming (seq, envelope)` table the test fills.
pub trait Node {
    /// The oldest incoming events, at most `limit`: each one's `seq` and envelope JSON.
    fn next_incoming(&self, limit: i64) -> impl Future<Output = Vec<(i64, String)>>;
    /// Removes the incoming events up to `seq`, once delivered.
    fn remove_incoming(&self, seq: i64) -> impl Future<Output = ()>;
    /// The inbox's delivery, for the consumer `killed`.
    fn deliver(
        &self,
        bus: &Bus,
        envelope: AnyEnvelope,
    ) -> impl Future<Output = Result<Delivered, InboxError>>;
    /// The inbox's `deliver_due` at the current time.
    fn deliver_due(&self, bus: &Bus) -> impl Future<Output = Result<DueDelivery, InboxError>>;
    /// The node's bus with what its handlers take (the store `ShipOrder`'s handler commits
    /// through).
    fn provide(&self, bus: BusBuilder) -> BusBuilder;
}

/// How long a node's inbox holds a scheduled command while sending it: a second, so a
/// command whose scheduler was killed after its handler committed is sent again within the
/// run.
pub const COMMAND_LEASE: Duration = Duration::from_secs(1);

/// How many incoming events the runner delivers before it removes them: a runner killed
/// in between delivers them again, and the inbox finds them handled.
const BATCH: i64 = 20;

/// A node's `main`: on a runtime of its own, opens the node (`open`) and runs it as `role`
/// until killed.
pub fn serve<N, F>(role: &str, open: F) -> Result<(), Box<dyn std::error::Error>>
where
    N: Node,
    F: Future<Output = Result<N, Box<dyn std::error::Error>>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let node = open.await?;
        let bus = node.provide(Bus::builder()).build()?;
        run(&node, &bus, role).await;
        Ok(())
    })
}

/// What a node does: `runner` delivers the incoming events in order, `scheduler` the due
/// timeouts and commands. Runs until killed; a failed delivery is reported on stderr and tried again.
pub async fn run<N: Node>(node: &N, bus: &Bus, role: &str) {
    let idle = Duration::from_millis(2);
    loop {
        let worked = match role {
            "runner" => deliver_incoming(node, bus).await,
            "scheduler" => match node.deliver_due(bus).await {
                Ok(done) => done.delivered + done.failed > 0,
                Err(error) => {
                    eprintln!("scheduler: {error}");
                    false
                }
            },
            other => panic!("the role is `runner` or `scheduler`, not `{other}`"),
        };
        if !worked {
            // Polling: nothing to do until the test adds events or a timeout falls due.
            tokio::time::sleep(idle).await;
        }
    }
}

/// Delivers a batch of incoming events in order, then removes those delivered: whether
/// there was any.
async fn deliver_incoming<N: Node>(node: &N, bus: &Bus) -> bool {
    let batch = node.next_incoming(BATCH).await;
    let mut delivered = None;
    for (seq, json) in &batch {
        let envelope = AnyEnvelope::from_json(json).expect("incoming events decode");
        if let Err(error) = node.deliver(bus, envelope).await {
            eprintln!("runner: {error}");
            break;
        }
        delivered = Some(*seq);
    }
    if let Some(seq) = delivered {
        node.remove_incoming(seq).await;
    }
    !batch.is_empty()
}
