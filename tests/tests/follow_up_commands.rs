//! Commands queued by handlers (`ctx.send_later`) run after the current message's handlers, on
//! the breadth-first queue, so the outcome never depends on handler order; their failures
//! reach the caller. The scenario is cosmic python's reallocation: `Deallocated` has two
//! handlers, one dropping the read-model row and one allocating the order line again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use tidings::testing::Recorder;
use tidings::{handler, Bus, Command, Context, DomainEvent, FailureReason, SendError};

#[derive(Command, Debug)]
#[command(name = "alloc.allocate", output = String, error = OutOfStock)]
struct Allocate {
    order: String,
    qty: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("no batch can take {qty} for order {order}")]
struct OutOfStock {
    order: String,
    qty: u32,
}

#[derive(Command, Debug)]
#[command(name = "alloc.change_batch_quantity")]
struct ChangeBatchQuantity {
    batch: String,
    qty: u32,
    /// Reallocate with an immediate `ctx.send` instead of queueing: order-dependent.
    immediate: bool,
}

#[derive(DomainEvent, Debug)]
#[event(name = "alloc.allocated")]
struct Allocated {
    order: String,
    batch: String,
}

#[derive(DomainEvent, Debug)]
#[event(name = "alloc.deallocated")]
struct Deallocated {
    order: String,
    qty: u32,
}

#[derive(DomainEvent, Debug)]
#[event(name = "alloc.deallocated_now")]
struct DeallocatedNow {
    order: String,
    qty: u32,
}

/// A batch: its reference, purchased quantity, and allocations (order, quantity).
type Batch = (String, u32, Vec<(String, u32)>);

#[derive(Default)]
struct Store {
    /// Earliest first.
    batches: Mutex<Vec<Batch>>,
    /// The read model: which batch each order line is allocated to.
    allocations: Mutex<BTreeMap<String, String>>,
    /// The correlation and causation ids each `allocate` call saw.
    seen: Mutex<Vec<(uuid::Uuid, Option<uuid::Uuid>)>>,
}

impl Store {
    fn with_batches(batches: &[(&str, u32)]) -> Arc<Store> {
        let store = Store::default();
        *store.batches.lock().unwrap() = batches
            .iter()
            .map(|(reference, qty)| (reference.to_string(), *qty, Vec::new()))
            .collect();
        Arc::new(store)
    }

    fn read_model(&self) -> BTreeMap<String, String> {
        self.allocations.lock().unwrap().clone()
    }
}

#[handler]
fn allocate(cmd: Allocate, store: &Store, ctx: &Context) -> Result<String, OutOfStock> {
    store.seen.lock().unwrap().push((
        ctx.metadata().correlation_id(),
        ctx.metadata().causation_id(),
    ));
    let mut batches = store.batches.lock().unwrap();
    let available = |(_, qty, lines): &Batch| qty - lines.iter().map(|(_, q)| q).sum::<u32>();
    let Some(batch) = batches.iter_mut().find(|b| available(b) >= cmd.qty) else {
        return Err(OutOfStock {
            order: cmd.order,
            qty: cmd.qty,
        });
    };
    batch.2.push((cmd.order.clone(), cmd.qty));
    let reference = batch.0.clone();
    ctx.publish(Allocated {
        order: cmd.order,
        batch: reference.clone(),
    });
    Ok(reference)
}

#[handler]
fn change_batch_quantity(cmd: ChangeBatchQuantity, store: &Store, ctx: &Context) {
    let mut batches = store.batches.lock().unwrap();
    let batch = batches.iter_mut().find(|b| b.0 == cmd.batch).unwrap();
    batch.1 = cmd.qty;
    while batch.2.iter().map(|(_, q)| q).sum::<u32>() > batch.1 {
        let (order, qty) = batch.2.pop().unwrap();
        if cmd.immediate {
            ctx.publish(DeallocatedNow { order, qty });
        } else {
            ctx.publish(Deallocated { order, qty });
        }
    }
}

#[handler]
fn add_allocation_to_read_model(event: &Allocated, store: &Store) {
    let mut rows = store.allocations.lock().unwrap();
    rows.insert(event.order.clone(), event.batch.clone());
}

#[handler]
fn remove_allocation_from_read_model(event: &Deallocated, store: &Store) {
    store.allocations.lock().unwrap().remove(&event.order);
}

#[handler]
fn reallocate(event: &Deallocated, ctx: &Context) {
    ctx.send_later(Allocate {
        order: event.order.clone(),
        qty: event.qty,
    });
}

#[handler]
fn remove_allocation_now(event: &DeallocatedNow, store: &Store) {
    store.allocations.lock().unwrap().remove(&event.order);
}

#[handler]
fn reallocate_now(event: &DeallocatedNow, ctx: &Context) -> Result<(), SendError<Allocate>> {
    ctx.send_sync(Allocate {
        order: event.order.clone(),
        qty: event.qty,
    })
    .map(drop)
}

/// Allocates an order line to the first batch, shrinks that batch, and returns the read model.
fn reallocation(seed: u64, immediate: bool) -> BTreeMap<String, String> {
    let store = Store::with_batches(&[("early", 10), ("late", 20)]);
    let bus = Bus::builder()
        .provide_arc(store.clone())
        .shuffle_handlers(seed)
        .build()
        .unwrap();
    let batch = bus
        .send_sync(Allocate {
            order: "o1".into(),
            qty: 10,
        })
        .unwrap();
    assert_eq!(batch, "early");
    bus.send_sync(ChangeBatchQuantity {
        batch: "early".into(),
        qty: 5,
        immediate,
    })
    .unwrap();
    store.read_model()
}

#[test]
fn a_queued_command_gives_the_same_outcome_under_every_handler_order() {
    let expected = BTreeMap::from([("o1".to_string(), "late".to_string())]);
    for seed in 0..64 {
        assert_eq!(reallocation(seed, false), expected, "seed {seed}");
    }
}

#[test]
fn an_immediate_send_from_a_handler_depends_on_the_order() {
    let outcomes: BTreeSet<_> = (0..64).map(|seed| reallocation(seed, true)).collect();
    assert_eq!(
        outcomes.len(),
        2,
        "some orders keep the row, others lose it: {outcomes:?}"
    );
}

#[test]
fn a_queued_command_runs_after_every_handler_and_carries_causation_and_correlation() {
    let store = Store::with_batches(&[("early", 10), ("late", 20)]);
    let recorder = Recorder::new();
    let bus = Bus::builder()
        .provide_arc(store.clone())
        .record(&recorder)
        .build()
        .unwrap();
    bus.send_sync(Allocate {
        order: "o1".into(),
        qty: 10,
    })
    .unwrap();
    recorder.clear();
    store.seen.lock().unwrap().clear();
    bus.send_sync(ChangeBatchQuantity {
        batch: "early".into(),
        qty: 0,
        immediate: false,
    })
    .unwrap();
    assert_eq!(recorder.names(), ["alloc.deallocated", "alloc.allocated"]);
    let deallocated = &recorder.of::<Deallocated>()[0];
    let allocated = &recorder.of::<Allocated>()[0];
    let [(correlation, causation)] = store.seen.lock().unwrap()[..] else {
        panic!("allocate ran once")
    };
    assert_eq!(correlation, deallocated.metadata().correlation_id());
    assert_eq!(
        causation,
        Some(deallocated.metadata().id()),
        "the event queued the command"
    );
    assert_eq!(allocated.metadata().correlation_id(), correlation);
    assert_ne!(
        allocated.metadata().causation_id(),
        Some(deallocated.metadata().id())
    );
}

#[test]
fn a_queued_commands_error_reaches_the_original_caller() {
    let store = Store::with_batches(&[("only", 10)]);
    let bus = Bus::builder().provide_arc(store).build().unwrap();
    bus.send_sync(Allocate {
        order: "o1".into(),
        qty: 10,
    })
    .unwrap();
    let error = bus
        .send_sync(ChangeBatchQuantity {
            batch: "only".into(),
            qty: 4,
            immediate: false,
        })
        .expect_err("nothing can take the order line again");
    let text = error.to_string();
    assert!(
        text.contains("handler `follow_up_commands::allocate` on `alloc.allocate`")
            && text.contains("no batch can take 10 for order o1"),
        "{text}"
    );
    let SendError::FollowUps { failures, .. } = error else {
        panic!("{text}")
    };
    let [failure] = failures.failures() else {
        panic!("{failures}")
    };
    assert_eq!(failure.handler(), "follow_up_commands::allocate");
    assert_eq!(failure.message(), "alloc.allocate");
    assert!(failure.error().unwrap().is::<OutOfStock>());
}

#[derive(DomainEvent, Debug)]
#[event(name = "alloc.alarm_raised")]
struct AlarmRaised;

#[derive(Command, Debug)]
#[command(name = "alloc.sound_siren")]
struct SoundSiren;

#[derive(Command, Debug)]
#[command(name = "alloc.echo")]
struct Echo;

#[handler]
fn raise(_: &AlarmRaised, ctx: &Context) {
    ctx.send_later(SoundSiren);
}

#[handler]
fn sound_siren(_: SoundSiren) {
    panic!("the siren is broken")
}

#[handler]
fn echo(_: Echo, ctx: &Context) {
    ctx.send_later(Echo);
}

#[test]
fn a_queued_commands_panic_reaches_the_publisher() {
    let bus = Bus::builder()
        .provide_arc(Store::with_batches(&[]))
        .build()
        .unwrap();
    let error = bus.publish_sync(AlarmRaised).expect_err("the siren panics");
    let [failure] = error.failures() else {
        panic!("{error}")
    };
    assert_eq!(failure.handler(), "follow_up_commands::sound_siren");
    assert_eq!(failure.message(), "alloc.sound_siren");
    assert!(matches!(failure.reason(), FailureReason::Panicked(m) if m == "the siren is broken"));
}

#[test]
fn commands_queueing_themselves_hit_the_depth_limit() {
    let bus = Bus::builder()
        .provide_arc(Store::with_batches(&[]))
        .max_depth(3)
        .build()
        .unwrap();
    let error = bus.send_sync(Echo).expect_err("the loop is cut");
    let SendError::FollowUps { failures, .. } = error else {
        panic!("{error}")
    };
    let [failure] = failures.failures() else {
        panic!("{failures}")
    };
    match failure.reason() {
        FailureReason::DepthExceeded { limit: 3, chain } => assert_eq!(chain.len(), 4),
        other => panic!("{other}"),
    }
    assert!(
        failures
            .to_string()
            .contains("alloc.echo -[follow_up_commands::echo]-> alloc.echo"),
        "{failures}"
    );
}
