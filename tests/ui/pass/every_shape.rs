//! Every supported shape of message and handler compiles.

use std::sync::Arc;
use tidings::{handler, Bus, Command, Context, DomainEvent, Envelope, Query};

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "pass.order_started", version = 3)]
struct OrderStarted {
    order_id: u64,
    #[event(occurred_on)]
    at: chrono::DateTime<chrono::Utc>,
}

#[derive(DomainEvent, Debug)]
struct Tuple(u8, String);

#[derive(DomainEvent, Debug)]
struct Unit;

#[derive(DomainEvent, Debug)]
#[serde(tag = "type")]
enum Changed {
    A { x: u8 },
    B,
}

#[derive(Command, Debug)]
#[command(output = u64, error = std::io::Error)]
struct Place {
    buyer: String,
}

#[derive(Command, Debug)]
struct Fire;

#[derive(Query, Debug)]
#[query(output = Vec<u64>)]
struct List;

trait Mailer: Send + Sync {
    fn send(&self, to: &str);
}

struct Repo;

#[handler]
fn plain(_: &OrderStarted) {}

#[handler(name = "pass.with_envelope", phase = after_commit, emits(Unit))]
fn with_envelope(event: &Envelope<OrderStarted>, repo: &Repo, ctx: &Context) -> Result<(), std::io::Error> {
    let _ = (event.metadata().occurred_on(), repo);
    ctx.publish(Unit);
    Ok(())
}

#[handler(phase = before_commit)]
fn with_dyn(_: &Tuple, mailer: &dyn Mailer) -> anyhow::Result<()> {
    mailer.send("a");
    Ok(())
}

#[handler(phase = after_rollback)]
fn boxed(_: &Unit) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

#[handler]
async fn asynchronous(_: &Changed, repo: &Repo) {
    let _ = repo;
}

#[handler]
async fn place(cmd: Place, ctx: &Context) -> Result<u64, std::io::Error> {
    ctx.publish(Unit);
    Ok(cmd.buyer.len() as u64)
}

#[handler]
fn fire(_: Fire) {}

#[handler]
fn list(_: List, repo: &tidings::Context) -> Vec<u64> {
    let _ = repo;
    vec![]
}

struct Smtp;

impl Mailer for Smtp {
    fn send(&self, _: &str) {}
}

fn main() {
    Bus::builder()
        .provide(Repo)
        .provide_arc::<dyn Mailer>(Arc::new(Smtp))
        .build()
        .expect("every shape builds with its dependencies provided");
}
