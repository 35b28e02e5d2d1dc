//! What every backend's catch-up processors and leases do, written once for any store: each
//! backend's test calls these with its own store.

use crate::{Internal, Numbered};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tidings::broadcast::{CatchUp, Checkpoints, Handle, Leases};
use tidings::persistence::{EventStore, ExpectedVersion, NewEvent, StoredEvent};
use tidings::Envelope;
use tokio::sync::Barrier;

/// Event `n`, an integration event.
pub fn numbered(n: u64) -> NewEvent {
    NewEvent::from_envelope(&Envelope::new(Numbered { n })).unwrap()
}

/// Event `n`, one that stays in its context.
pub fn internal(n: u64) -> NewEvent {
    NewEvent::from_envelope(&Envelope::new(Internal { n })).unwrap()
}

/// Appends `events` to `stream`, whatever its version.
pub async fn append<S: EventStore>(
    store: &S,
    stream: &str,
    events: impl IntoIterator<Item = NewEvent>,
) {
    let events: Vec<_> = events.into_iter().collect();
    store
        .append(stream, ExpectedVersion::Any, &events)
        .await
        .unwrap();
}

/// Collects what a generic processor hands over.
struct Collect(Vec<u64>);

impl Handle for Collect {
    type Error = Infallible;
    async fn handle(&mut self, events: &[StoredEvent]) -> Result<(), Infallible> {
        self.0.extend(events.iter().map(StoredEvent::position));
        Ok(())
    }
}

/// The generic processor over an empty `store`: batches in order, nothing twice, integration
/// events only when asked, a replay from zero, and a checkpoint `advance` never moves back.
pub async fn catch_up_hands_over_batches_advances_and_replays<S>(store: Arc<S>)
where
    S: EventStore + Checkpoints,
{
    append(&*store, "a", [numbered(1), internal(2), numbered(3)]).await;
    append(&*store, "b", [internal(4), internal(5)]).await;

    // Positions rise and may have holes (PostgreSQL's): the checks go by each event's.
    let at: Vec<u64> = store
        .read_all(0, 100)
        .await
        .unwrap()
        .iter()
        .map(StoredEvent::position)
        .collect();
    assert_eq!(at.len(), 5);
    let all = CatchUp::new(store.clone(), "all").batch(2);
    let mut seen = Collect(Vec::new());
    assert_eq!(all.run(&mut seen).await.unwrap(), at[4]);
    assert_eq!(seen.0, at);
    assert_eq!(all.run(&mut seen).await.unwrap(), at[4]);
    assert_eq!(seen.0.len(), 5, "nothing handed over twice");

    // Integration events only: the others are passed over, and counted as done.
    let outgoing = CatchUp::new(store.clone(), "outgoing")
        .batch(2)
        .integration_only();
    let mut published = Collect(Vec::new());
    assert_eq!(outgoing.run(&mut published).await.unwrap(), at[4]);
    assert_eq!(published.0, [at[0], at[2]]);

    all.replay().await.unwrap();
    assert_eq!(store.checkpoint("all").await.unwrap(), 0);
    let mut again = Collect(Vec::new());
    all.run(&mut again).await.unwrap();
    assert_eq!(again.0, at);
    // A checkpoint only moves forward through `advance`.
    store.advance("all", at[1]).await.unwrap();
    assert_eq!(store.checkpoint("all").await.unwrap(), at[4]);
    store.advance("all", at[4] + 2).await.unwrap();
    assert_eq!(store.checkpoint("all").await.unwrap(), at[4] + 2);
    assert_eq!(store.checkpoint("never-ran").await.unwrap(), 0);
}

/// One holder at a time; renewing, releasing, and taking over an expired lease.
pub async fn a_lease_has_one_holder_and_is_taken_over_when_it_expires<S: Leases>(store: &S) {
    let long = Duration::from_secs(30);
    assert!(store.acquire("relay:x", "a", long).await.unwrap());
    assert!(
        !store.acquire("relay:x", "b", long).await.unwrap(),
        "held by a"
    );
    assert!(
        store.acquire("relay:x", "a", long).await.unwrap(),
        "renewed"
    );
    assert!(
        store.acquire("relay:y", "b", long).await.unwrap(),
        "each name is a lease of its own"
    );
    store.release("relay:x", "b").await.unwrap();
    assert!(
        !store.acquire("relay:x", "b", long).await.unwrap(),
        "only the holder releases"
    );
    store.release("relay:x", "a").await.unwrap();
    assert!(
        store.acquire("relay:x", "b", long).await.unwrap(),
        "free once released"
    );
    assert!(!store.acquire("relay:x", "a", long).await.unwrap());
    // A lease for no time at all has expired by the next call: its holder died at once.
    assert!(store.acquire("relay:x", "b", Duration::ZERO).await.unwrap());
    assert!(
        store.acquire("relay:x", "a", long).await.unwrap(),
        "taken over once expired"
    );
    assert!(!store.acquire("relay:x", "b", long).await.unwrap());
}

/// `tasks` instances race for one lease, free or expired: exactly one gets it each time; then
/// they keep taking and giving it up, and never two of them hold it at once.
pub async fn racing_instances_never_hold_a_lease_together<S: Leases + 'static>(
    store: Arc<S>,
    tasks: usize,
) {
    let long = Duration::from_secs(30);
    // A free lease, then one whose holder died: all ask at the same moment, one wins.
    for expired_holder in [false, true] {
        let name = format!("race-{expired_holder}");
        if expired_holder {
            // Expired by the time anyone asks again.
            assert!(store.acquire(&name, "dead", Duration::ZERO).await.unwrap());
        }
        let start = Arc::new(Barrier::new(tasks));
        let racers: Vec<_> = (0..tasks)
            .map(|i| {
                let (store, start, name) = (store.clone(), start.clone(), name.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    store.acquire(&name, &format!("racer-{i}"), long).await
                })
            })
            .collect();
        let mut winners = 0;
        for racer in racers {
            winners += usize::from(racer.await.unwrap().unwrap());
        }
        assert_eq!(winners, 1, "one of {tasks} racers holds `{name}`");
    }

    // Taking turns: whoever holds it checks nobody else does, renews, and gives it up.
    const TURNS: usize = 8;
    let holding = Arc::new(AtomicUsize::new(0));
    let turns = Arc::new(AtomicUsize::new(0));
    let instances: Vec<_> = (0..tasks)
        .map(|i| {
            let (store, holding, turns) = (store.clone(), holding.clone(), turns.clone());
            tokio::spawn(async move {
                let me = format!("instance-{i}");
                let mut mine = 0;
                while mine < TURNS {
                    if !store.acquire("turns", &me, long).await.unwrap() {
                        tokio::task::yield_now().await;
                        continue;
                    }
                    assert_eq!(holding.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    // Holding it across an await, where the others run and ask.
                    tokio::task::yield_now().await;
                    assert!(store.acquire("turns", &me, long).await.unwrap(), "renewed");
                    assert_eq!(holding.fetch_sub(1, Ordering::SeqCst), 1, "two holders");
                    store.release("turns", &me).await.unwrap();
                    turns.fetch_add(1, Ordering::SeqCst);
                    mine += 1;
                }
            })
        })
        .collect();
    for instance in instances {
        instance.await.expect("no instance saw another holder");
    }
    assert_eq!(turns.load(Ordering::SeqCst), tasks * TURNS);
}
