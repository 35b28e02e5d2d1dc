//! The relay: a catch-up processor that publishes integration events to a broker, written
//! once over the [broker port](super::broker).

use super::backoff::Backoff;
use super::broker::{BrokerError, Publisher};
use super::status::{self, Activity, RelayStatus};
use crate::broadcast::catch_up::{CatchUp, Checkpoints};
use crate::broadcast::lease::Leases;
use crate::messaging::bus::registry::Registry;
use crate::persistence::{EventStore, StoreError, StoredEvent};
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use uuid::Uuid;

/// Publishes the store's integration events to a broker's destination, in store order, each
/// acknowledged by the broker before the checkpoint moves past it. `P` is the broker:
/// [`amqp::Relay`](super::amqp::Relay) for RabbitMQ, [`nats::Relay`](super::nats::Relay)
/// for NATS JetStream; each module's docs say what it guarantees.
#[derive(Debug)]
pub struct Relay<S, P> {
    catch_up: CatchUp<S>,
    publisher: P,
    holder: String,
    lease: Duration,
    idle: Duration,
    max_backoff: Duration,
    batch: usize,
    status: watch::Sender<RelayStatus>,
    /// The names of the events passed over and warned about, once each.
    passed_over: Mutex<HashSet<String>>,
}

impl<S: EventStore + Checkpoints + Leases + 'static, P: Publisher> Relay<S, P> {
    /// A relay of `store`'s integration events through `publisher`. Its checkpoint and
    /// lease are named `relay:<destination>`.
    pub fn over(store: Arc<S>, publisher: P) -> Relay<S, P> {
        Relay {
            catch_up: CatchUp::new(store, format!("relay:{}", publisher.destination()))
                .batch(500)
                .integration_only(),
            publisher,
            holder: Uuid::now_v7().to_string(),
            lease: Duration::from_secs(10),
            idle: Duration::from_millis(20),
            max_backoff: Duration::from_secs(5),
            batch: 500,
            status: watch::Sender::new(RelayStatus::default()),
            passed_over: Mutex::default(),
        }
    }

    /// The broker's side of the relay.
    pub fn publisher(&self) -> &P {
        &self.publisher
    }

    #[cfg_attr(not(any(feature = "amqp", feature = "nats")), allow(dead_code))]
    pub(crate) fn publisher_mut(&mut self) -> &mut P {
        &mut self.publisher
    }

    /// The relay's state while it runs: what it is doing, its attempts and last error, the
    /// position published, and how far (in events and time) it is behind the store's head.
    /// The same figures go to `metrics` (`tidings_relay_*`, labelled `relay`) and each change
    /// of activity and error to `tracing`.
    pub fn status(&self) -> watch::Receiver<RelayStatus> {
        self.status.subscribe()
    }

    /// At most `events` events read per batch (500 by default).
    pub fn batch(mut self, events: usize) -> Relay<S, P> {
        self.batch = events.max(1);
        self.catch_up = self.catch_up.batch(events);
        self
    }

    /// How long the lease lasts (10 s by default): how soon another instance takes over
    /// from one that died.
    pub fn lease(mut self, lease: Duration) -> Relay<S, P> {
        self.lease = lease.max(Duration::from_millis(100));
        self
    }

    /// How long to wait before reading again when caught up (20 ms by default).
    pub fn idle(mut self, idle: Duration) -> Relay<S, P> {
        self.idle = idle;
        self
    }

    /// The longest wait between attempts to reach the broker (5 s by default).
    pub fn max_backoff(mut self, wait: Duration) -> Relay<S, P> {
        self.max_backoff = wait;
        self
    }

    /// The name of the relay's checkpoint and lease.
    pub fn name(&self) -> &str {
        self.catch_up.name()
    }

    /// Runs until `stop` completes (`Ok`), or the broker refuses what retrying cannot fix
    /// ([`BrokerError::is_permanent`]: credentials, say, or a destination of another kind):
    /// connects, publishes, and after any other failure of the broker or the store waits
    /// (doubling, up to the ceiling) and starts again from the checkpoint. Each failure is a
    /// `tracing` event (WARN when retried, ERROR when it stops the relay) and is kept in
    /// [`Relay::status`].
    pub async fn run_until(&self, stop: impl Future<Output = ()>) -> Result<(), P::Error> {
        let mut stop = std::pin::pin!(stop);
        let mut backoff = Backoff::new(self.max_backoff);
        if !Registry::get().has_integration_events() {
            tracing::warn!(
                relay = self.name(),
                "this program declares no integration event, so the relay publishes \
                 nothing: declare the events other contexts need \
                 `#[event(name = \"..\", integration)]`, and link the crates that declare them"
            );
        }
        let outcome = loop {
            self.report(|status| {
                status.attempts += 1;
                status.activity = Activity::Connecting;
            });
            metrics::counter!("tidings_relay_attempts_total", "relay" => self.name().to_owned())
                .increment(1);
            let attempt = async {
                let channel = self.connect().await?;
                backoff.reset();
                self.report(|status| status.activity = Activity::Running);
                self.serve(channel).await
            };
            tokio::select! {
                () = &mut stop => break Ok(()),
                outcome = attempt => {
                    if let Err(error) = outcome {
                        if error.is_permanent() {
                            tracing::error!(relay = self.name(), error = %error, "relay stopped");
                            self.report(|status| {
                                status.activity = Activity::Failed;
                                status.last_error = Some(error.to_string());
                            });
                            break Err(error);
                        }
                        tracing::warn!(relay = self.name(), error = %error, "relay interrupted; retrying");
                        self.report(|status| {
                            status.activity = Activity::Waiting;
                            status.last_error = Some(error.to_string());
                        });
                    }
                }
            }
            // While it cannot publish, the lag still grows: keep it in view.
            let _ = self.measure_lag().await;
            tokio::select! {
                () = &mut stop => break Ok(()),
                () = tokio::time::sleep(backoff.next()) => {}
            }
        };
        let _ = self.store().release(self.name(), &self.holder).await;
        if outcome.is_ok() {
            self.report(|status| status.activity = Activity::Stopped);
        }
        outcome
    }

    /// Changes the status, and tells watchers and `metrics` when anything changed.
    fn report(&self, change: impl FnOnce(&mut RelayStatus)) {
        /// What a change is told by (`confirmed` moves with `published`).
        fn figures(status: &RelayStatus) -> impl PartialEq {
            (
                status.activity,
                status.attempts,
                status.last_error.clone(),
                status.published,
                status.lag_events,
                status.behind,
            )
        }
        self.status.send_if_modified(|status| {
            let before = figures(status);
            change(status);
            if before == figures(status) {
                return false;
            }
            let relay = self.name().to_owned();
            metrics::gauge!("tidings_relay_published_position", "relay" => relay.clone())
                .set(status.published as f64);
            metrics::gauge!("tidings_relay_lag_events", "relay" => relay.clone())
                .set(status.lag_events as f64);
            metrics::gauge!("tidings_relay_lag_seconds", "relay" => relay)
                .set(status.behind.as_secs_f64());
            true
        });
    }

    /// Reads what follows the checkpoint, to report the lag while nothing is published.
    async fn measure_lag(&self) -> Result<(), StoreError> {
        let published = self.store().checkpoint(self.name()).await?;
        let waiting = self.store().read_all(published, self.batch).await?;
        self.lagging(published, &waiting);
        Ok(())
    }

    /// Reports `waiting`, the events read after `published`, as the lag.
    fn lagging(&self, published: u64, waiting: &[StoredEvent]) {
        let behind = waiting.first().map_or(Duration::ZERO, |first| {
            status::since(first.metadata().occurred_on().into())
        });
        self.report(|status| {
            status.published = published;
            status.lag_events = waiting.len() as u64;
            status.behind = behind;
        });
    }

    /// Says, once per event name, which events the relay passes over: at WARN those no type
    /// of this program is registered for (it cannot tell what they are), at INFO the events
    /// not declared integration.
    fn warn_passed_over(&self, events: &[StoredEvent]) {
        let registry = Registry::get();
        for event in events {
            if registry.is_integration(event.name()) {
                continue;
            }
            let mut warned = self
                .passed_over
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if warned.contains(event.name()) {
                continue;
            }
            warned.insert(event.name().to_owned());
            if registry.named(event.name()).is_empty() {
                tracing::warn!(
                    relay = self.name(),
                    event = event.name(),
                    position = event.position(),
                    "the relay passes over `{}`: no type of that name is registered in this \
                     program; link the crate that declares it (`tidings::linked!`) if other \
                     contexts need it",
                    event.name()
                );
            } else {
                tracing::info!(
                    relay = self.name(),
                    event = event.name(),
                    position = event.position(),
                    "the relay passes over `{}`: it is not an integration event; declare it \
                     `#[event(name = \"{}\", integration)]` if other contexts need it",
                    event.name(),
                    event.name()
                );
            }
        }
    }

    /// Publishes everything after the checkpoint on one connection, then returns the
    /// checkpoint reached; waits for the lease while another instance holds it.
    pub async fn publish_pending(&self) -> Result<u64, P::Error> {
        let mut channel = self.connect().await?;
        let mut renewed = None;
        loop {
            if let Some(0) = self.serve_once(&mut channel, &mut renewed).await? {
                return Ok(self.store().checkpoint(self.name()).await?);
            }
        }
    }

    fn store(&self) -> &S {
        self.catch_up.store()
    }

    async fn acquire(&self) -> Result<bool, StoreError> {
        self.store()
            .acquire(self.name(), &self.holder, self.lease)
            .await
    }

    /// A fresh channel: each attempt starts afresh rather than through a client's own
    /// recovery, which can lose track of pending acknowledgements.
    async fn connect(&self) -> Result<P::Channel, P::Error> {
        self.publisher.connect(self.name()).await
    }

    /// Holds the lease and publishes batch after batch, until something fails.
    async fn serve(&self, mut channel: P::Channel) -> Result<(), P::Error> {
        let mut renewed = None;
        loop {
            if let Some(0) = self.serve_once(&mut channel, &mut renewed).await? {
                tokio::time::sleep(self.idle).await;
            }
        }
    }

    /// Renews the lease when a quarter of it has passed since `renewed`, then publishes one
    /// batch: the events read, or `None` when the lease is another's or ran short.
    async fn serve_once(
        &self,
        channel: &mut P::Channel,
        renewed: &mut Option<Instant>,
    ) -> Result<Option<u64>, P::Error> {
        if renewed.is_none_or(|at| at.elapsed() >= self.lease / 4) {
            let at = Instant::now();
            if self.acquire().await? {
                *renewed = Some(at);
            } else {
                *renewed = None;
                tokio::time::sleep(self.lease / 4).await;
                return Ok(None);
            }
        }
        let Some(at) = *renewed else {
            return Ok(None);
        };
        let done = self.step(channel, at + self.lease * 3 / 4).await?;
        if done.is_none() {
            // The lease ran short: renew before going on.
            *renewed = None;
        }
        Ok(done)
    }

    /// Publishes the next batch and advances the checkpoint once every message is
    /// confirmed: the events read (0: caught up), or `None` when the lease ran short.
    async fn step(
        &self,
        channel: &mut P::Channel,
        deadline: Instant,
    ) -> Result<Option<u64>, P::Error> {
        let after = self.store().checkpoint(self.name()).await?;
        let waiting = self.store().read_all(after, self.batch).await?;
        let Some(through) = waiting.last().map(StoredEvent::position) else {
            self.lagging(after, &[]);
            return Ok(Some(0));
        };
        self.lagging(after, &waiting);
        self.warn_passed_over(&waiting);
        let full = waiting.len() >= self.batch;
        let registry = Registry::get();
        let events: Vec<StoredEvent> = waiting
            .into_iter()
            .filter(|event| registry.is_integration(event.name()))
            .collect();
        if !self.publisher.publish(channel, &events, deadline).await? {
            return Ok(None);
        }
        self.store().advance(self.name(), through).await?;
        let confirmed = events.len() as u64;
        self.report(|status| {
            status.published = through;
            status.confirmed += confirmed;
            if !full {
                status.lag_events = 0;
                status.behind = Duration::ZERO;
            }
        });
        metrics::counter!("tidings_relay_confirmed_total", "relay" => self.name().to_owned())
            .increment(confirmed);
        Ok(Some(through - after))
    }
}
