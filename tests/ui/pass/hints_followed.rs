//! The code that the compile errors suggest compiles, and the bus accepts it.

use std::fmt;
use std::sync::Arc;
use tidings::{handler, Bus, Command, Context, DomainEvent};

#[derive(DomainEvent, Debug)]
#[event(name = "hints.order_started", version = 2)]
struct OrderStarted {
    order_id: u64,
}

/// `error = anyhow::Error` suggests a wrapper of one's own.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PlaceOrderError(#[from] anyhow::Error);

/// `error = Box<dyn Error + ..>` suggests the same.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct CancelOrderError(#[from] Box<dyn std::error::Error + Send + Sync>);

#[derive(Command, Debug)]
#[command(name = "hints.place_order", output = u64, error = PlaceOrderError)]
struct PlaceOrder;

#[derive(Command, Debug)]
#[command(output = u64, error = CancelOrderError)]
struct CancelOrder;

struct Repo;

/// `repo: Arc<Repo>` suggests `repo: &Repo`, given with `.provide_arc(arc)`.
#[handler(name = "hints.reserve")]
fn reserve(event: &OrderStarted, repo: &Repo) {
    let _ = (event.order_id, repo);
}

/// `Option<&Audit>` suggests `&Option<Audit>`, given with `.provide(None::<Audit>)`.
struct Audit;

#[handler(phase = immediate)]
fn audit(_: &OrderStarted, audit: &Option<Audit>) {
    assert!(audit.is_none());
}

/// `log: impl fmt::Write` suggests a trait object given with `provide_arc::<dyn ..>`.
#[handler]
fn log(_: &OrderStarted, log: &(dyn fmt::Write + Send + Sync)) {
    let _ = log;
}

/// `-> impl Future` suggests `async fn`; `&mut Context` suggests `&Context`.
#[handler]
async fn place_order(_: PlaceOrder, ctx: &Context) -> Result<u64, PlaceOrderError> {
    ctx.publish(OrderStarted { order_id: 7 });
    Err(anyhow::anyhow!("out of stock").into())
}

#[handler]
fn cancel_order(_: CancelOrder) -> Result<u64, CancelOrderError> {
    Ok(1)
}

fn main() {
    let repo = Arc::new(Repo);
    let bus = Bus::builder()
        .provide_arc(repo)
        .provide(None::<Audit>)
        .provide_arc::<dyn fmt::Write + Send + Sync>(Arc::new(String::new()))
        .build()
        .expect("every dependency the hints name is provided");
    assert_eq!(bus.send_sync(CancelOrder).expect("the handler succeeds"), 1);
    bus.publish_sync(OrderStarted { order_id: 1 })
        .expect("the event handlers succeed");
}
