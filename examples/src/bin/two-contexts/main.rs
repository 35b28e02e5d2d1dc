//! Two bounded contexts as two services, talking through RabbitMQ (or NATS JetStream, with
//! `--broker nats`).
//!
//! Ordering pays an order: the order's row and `OrderPaid` (an integration event) commit in
//! one SQLite unit of work, so the event store is the outbox. The relay publishes the event to
//! ordering's exchange after the commit, with publisher confirms. Shipping consumes its own
//! queue, decodes the event through the registry, and its handler records a shipment in the
//! same transaction as the inbox's record of the event id. The two services have separate
//! modules and separate SQLite files, and share only the event's wire form.
//!
//! Both services' catalog (every message with its JSON Schema, producers and consumers, as
//! JSON and as one HTML page, and the AsyncAPI document of the integration events) is written
//! beside the databases first; `two-contexts --catalog DIR` writes it into `DIR` and stops
//! there, with no broker.
//!
//! The program installs `tracing-opentelemetry` with an in-memory exporter and prints the
//! order's one trace: the span ordering paid it in, the handlers of its unit of work, and
//! shipping's dispatch and handler, a child of that span across RabbitMQ (the event carries
//! it as its `traceparent`).
//!
//! Run against local servers: `scripts/test --run cargo run -p tidings-examples --features amqp --bin two-contexts`
//! or, with a broker already running, `cargo run -p tidings-examples --features amqp --bin two-contexts [amqp-uri]`
//! (default: `$TIDINGS_AMQP`, else `$TIDINGS_TEST_AMQP` as `scripts/test` exports it, else
//! `amqp://guest:guest@127.0.0.1:5672/%2f`).
//!
//! Over NATS JetStream, the same services with the relay and the consumer of
//! `tidings::broadcast::nats`: `scripts/test --run cargo run -p tidings-examples --features nats
//! --bin two-contexts -- --broker nats [nats-url]` (default: `$TIDINGS_NATS`, else
//! `$TIDINGS_TEST_NATS`, else `nats://127.0.0.1:4222`).

mod catalog;
mod contract;
mod ordering;
mod shipping;
mod trace;

use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

const DEFAULT_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const DEFAULT_NATS: &str = "nats://127.0.0.1:4222";

/// The broker the two services talk through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broker {
    RabbitMq,
    Nats,
}
/// How long the shipment may take to be recorded before the program gives up.
const TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--catalog") {
        let Some(dir) = std::env::args().nth(2) else {
            eprintln!("two-contexts: --catalog takes the directory to write to");
            return ExitCode::FAILURE;
        };
        return match write_catalog(std::path::Path::new(&dir)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("two-contexts: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let broker = match args.iter().position(|arg| arg == "--broker") {
        Some(at) => {
            let name = args.get(at + 1).cloned().unwrap_or_default();
            args.drain(at..(at + 2).min(args.len()));
            match name.as_str() {
                "amqp" | "rabbitmq" => Broker::RabbitMq,
                "nats" => Broker::Nats,
                other => {
                    eprintln!("two-contexts: --broker takes `amqp` or `nats`, not `{other}`");
                    return ExitCode::FAILURE;
                }
            }
        }
        None => Broker::RabbitMq,
    };
    let (variables, default) = match broker {
        Broker::RabbitMq => (["TIDINGS_AMQP", "TIDINGS_TEST_AMQP"], DEFAULT_URI),
        Broker::Nats => (["TIDINGS_NATS", "TIDINGS_TEST_NATS"], DEFAULT_NATS),
    };
    let uri = args
        .first()
        .cloned()
        .or_else(|| variables.iter().find_map(|name| std::env::var(name).ok()))
        .unwrap_or_else(|| default.to_owned());
    match run(broker, &uri).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("two-contexts: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Writes both services' catalog into `dir` and prints where.
fn write_catalog(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    for path in catalog::write(dir)? {
        println!("catalog: {}", path.display());
    }
    Ok(())
}

async fn run(broker: Broker, uri: &str) -> Result<(), Box<dyn std::error::Error>> {
    let traces = trace::install()?;
    let dir = std::env::temp_dir().join("tidings-two-contexts");
    write_catalog(&dir)?;
    let ordering = ordering::Ordering::open(&dir.join("ordering.db"))?;
    let shipping = std::sync::Arc::new(shipping::Shipping::open(&dir.join("shipping.db"))?);
    println!("ordering: {}", dir.join("ordering.db").display());
    println!("shipping: {}", dir.join("shipping.db").display());
    match broker {
        Broker::RabbitMq => {
            declare(uri).await?;
            let relay = ordering.relay(uri);
            let consumer = shipping::Shipping::consumer(uri, ordering::EXCHANGE);
            exchange(
                &ordering, shipping, relay, consumer, &traces, "RabbitMQ", uri,
            )
            .await
        }
        #[cfg(feature = "nats")]
        Broker::Nats => {
            reach_nats(uri).await?;
            println!("broker: NATS JetStream at {uri}");
            let relay = ordering.relay_nats(uri);
            let consumer = shipping::Shipping::consumer_nats(uri, ordering::STREAM);
            exchange(&ordering, shipping, relay, consumer, &traces, "NATS", uri).await
        }
        #[cfg(not(feature = "nats"))]
        Broker::Nats => Err("this build has no NATS: run it with `--features nats`".into()),
    }
}

/// Pays an order in ordering, relays it through the broker, and waits for shipping to
/// record the shipment, in the order's trace.
async fn exchange<P, B>(
    ordering: &ordering::Ordering,
    shipping: std::sync::Arc<shipping::Shipping>,
    relay: tidings::broadcast::Relay<tidings::persistence::sqlite::SqliteStore, P>,
    consumer: tidings::broadcast::Consumer<B>,
    traces: &trace::Traces,
    name: &str,
    uri: &str,
) -> Result<(), Box<dyn std::error::Error>>
where
    P: tidings::broadcast::broker::Publisher,
    B: tidings::broadcast::broker::Subscriber,
{
    // Shipping's consumer and ordering's relay run in the background until told to stop.
    let (stop_consumer, consumer_stopped) = oneshot::channel::<()>();
    let consumer = {
        let shipping = shipping.clone();
        tokio::spawn(async move {
            let stopped = async {
                let _ = consumer_stopped.await;
            };
            consumer
                .run_until(&shipping.inbox, &shipping.bus, stopped)
                .await
        })
    };
    let (stop_relay, relay_stopped) = oneshot::channel::<()>();
    let relay = tokio::spawn(async move {
        relay
            .run_until(async {
                let _ = relay_stopped.await;
            })
            .await
    });

    // A new order each run: the files keep the earlier runs' orders, shipments and positions.
    let order = format!(
        "o-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    // Paid in a span of its own: the trace the order's messages carry.
    let paying = tracing::info_span!("ordering.pay", order = %order);
    let trace = trace::trace_id(&paying);
    paying.in_scope(|| ordering.pay(&order, 4_250))?;
    drop(paying);

    // Until the shipment is recorded, and shipping's handler span has ended.
    let started = Instant::now();
    let shipped = loop {
        if let Some(amount) = shipping.shipment(&order)? {
            let spans = traces.of(trace);
            if spans
                .iter()
                .any(|span| trace::is_handler(span, "shipping.record_shipment"))
            {
                break Some((amount, spans));
            }
        }
        if started.elapsed() > TIMEOUT {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _ = stop_relay.send(());
    let _ = stop_consumer.send(());
    // A task that panicked, then what the relay or the consumer reported when it stopped.
    let (relay, consumer) = (relay.await?, consumer.await?);
    relay?;
    consumer?;
    match shipped {
        Some((amount, spans)) => {
            println!(
                "done: order {order} paid in ordering, published by the relay, shipped by \
                 shipping ({amount} cents) in {:.0?}",
                started.elapsed()
            );
            let tree = trace::tree(&spans)
                .map_err(|why| format!("the order's spans are not one trace: {why}"))?;
            println!("one trace, {trace}, across both services:\n{tree}");
            Ok(())
        }
        None => Err(format!(
            "no shipment recorded for order {order}, in the order's trace, within \
             {TIMEOUT:?}: the relay or the consumer could not get through to {name} at {uri}"
        )
        .into()),
    }
}

/// Fails with a clear message when no NATS server answers at `url`.
#[cfg(feature = "nats")]
async fn reach_nats(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let connect = tidings::broadcast::nats::async_nats::connect(url);
    let reached = tokio::time::timeout(Duration::from_secs(10), connect).await;
    match reached {
        Ok(Ok(client)) => {
            client.drain().await?;
            Ok(())
        }
        Ok(Err(error)) => Err(nats_unreachable(url, &error)),
        Err(elapsed) => Err(nats_unreachable(url, &elapsed)),
    }
}

#[cfg(feature = "nats")]
fn nats_unreachable(url: &str, error: &dyn std::fmt::Display) -> Box<dyn std::error::Error> {
    format!(
        "cannot reach NATS at {url}: {error}. Start one with JetStream (`scripts/test --run \
         cargo run -p tidings-examples --features nats --bin two-contexts -- --broker nats` \
         starts local servers around the program), or pass its URL after `--broker nats` or \
         in TIDINGS_NATS."
    )
    .into()
}

/// Declares shipping's queue and its binding to ordering's exchange before anything is
/// published (a message published to an exchange with no queue bound is dropped); fails
/// with a clear message when no broker answers.
async fn declare(uri: &str) -> Result<(), Box<dyn std::error::Error>> {
    let unreachable = |error: &dyn std::fmt::Display| {
        format!(
            "cannot reach RabbitMQ at {uri}: {error}. Start one (`scripts/test --run cargo run \
             -p tidings-examples --features amqp --bin two-contexts` starts local servers \
             around the program), or pass the broker's URI as the argument or in TIDINGS_AMQP."
        )
    };
    let connect = lapin::Connection::connect(uri, lapin::ConnectionProperties::default());
    let connection = tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .map_err(|elapsed| unreachable(&elapsed))?
        .map_err(|error| unreachable(&error))?;
    let channel = connection.create_channel().await?;
    shipping::Shipping::topology(ordering::EXCHANGE)
        .declare(&channel)
        .await?;
    connection.close(200, "declared".into()).await?;
    Ok(())
}
