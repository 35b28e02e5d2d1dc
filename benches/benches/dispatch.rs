//! Publishing, sending, stamping and building the routing table, each against a hand-written
//! baseline doing the same work and, where they exist, peer crates.
//!
//! Every publish contender stamps its event the way tidings does (`Envelope::new`: one clock
//! read for a UUID v7 id and the time) unless its name says otherwise: `baseline_uuid_now_v7`
//! stamps with `Uuid::now_v7()` and `Utc::now()`, as hand-written code usually does. The
//! `stamp` group measures the stampings alone.
//!
//! Run: `cargo bench -p tidings-benches --bench dispatch`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use tidings::__private::{
    Dependency, EventFn, HandlerRegistration, HandlerResult, Invocation, Invoke, Location,
    MessageRef, MessageRegistration, Phase,
};
use tidings::{handler, Bus, Command, DomainEvent, Envelope};

// ---- the work every implementation does: each handler reads the event ----

#[inline(never)]
fn work(value: u64) {
    black_box(value);
}

macro_rules! tidings_handlers {
    ($event:ident: $($name:ident),*) => {
        #[derive(DomainEvent, Clone, Debug)]
        struct $event {
            value: u64,
        }
        $(
            #[handler]
            fn $name(event: &$event) {
                work(event.value);
            }
        )*
    };
}

tidings_handlers!(One: one_0);
tidings_handlers!(Four: four_0, four_1, four_2, four_3);
tidings_handlers!(Sixteen: s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15);

#[derive(Command, Debug)]
#[command(output = u64)]
struct Double {
    value: u64,
}

#[handler]
fn double(cmd: Double) -> u64 {
    work(cmd.value);
    cmd.value * 2
}

// ---- rust_bus: handlers registered at link time, one event type per handler count ----

mod peer_rust_bus {
    use super::work;
    use rust_bus::contracts::meta::BusMetadata;
    use rust_bus::{BusEvent, BusEventHandler};

    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    macro_rules! rust_bus_handlers {
        ($event:ident: $($name:ident),*) => {
            #[BusEvent]
            pub(crate) struct $event {
                pub(crate) id: uuid::Uuid,
                pub(crate) occurred_on: chrono::DateTime<chrono::Utc>,
                pub(crate) value: u64,
            }
            $(
                #[BusEventHandler]
                async fn $name(event: &$event, _: &BusMetadata) -> Result<(), BoxError> {
                    work(event.value);
                    Ok(())
                }
            )*
        };
    }

    rust_bus_handlers!(One: one_0);
    rust_bus_handlers!(Four: four_0, four_1, four_2, four_3);
    rust_bus_handlers!(Sixteen: s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15);
}

// ---- mod-events ----

/// The stamp travels with the event, as tidings' envelope carries it; handlers read only the
/// value, as tidings' handlers do.
#[allow(dead_code)]
#[derive(Debug, Clone)]
struct ModEvent {
    id: uuid::Uuid,
    occurred_on: chrono::DateTime<chrono::Utc>,
    value: u64,
}

impl mod_events::Event for ModEvent {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The event of the baselines, shaped as tidings' envelope holds it.
#[derive(Clone, Debug)]
struct Stamped<E> {
    id: uuid::Uuid,
    occurred_on: chrono::DateTime<chrono::Utc>,
    event: E,
}

fn handlers_for(n: usize) -> Vec<fn(u64)> {
    vec![work as fn(u64); n]
}

/// tidings' stamping, for the contenders that are not tidings.
#[inline]
fn stamped<E: tidings::Message>(event: E) -> Stamped<E> {
    let envelope = Envelope::new(event);
    let (id, occurred_on) = (envelope.metadata().id(), envelope.metadata().occurred_on());
    Stamped {
        id,
        occurred_on,
        event: envelope.into_payload(),
    }
}

// ---- what a user would write instead of tidings: inventory and a map by type ----

/// A handler registered by hand with `inventory`.
struct ManualHandler {
    message: fn() -> TypeId,
    call: fn(&dyn Any),
}

inventory::collect!(ManualHandler);

macro_rules! manual_handlers {
    ($event:ident: $($name:ident),*) => {$(
        fn $name(event: &dyn Any) {
            let envelope = event.downcast_ref::<Envelope<$event>>().expect("routed by type");
            work(envelope.value);
        }
        inventory::submit! { ManualHandler { message: TypeId::of::<$event>, call: $name } }
    )*};
}

manual_handlers!(One: manual_one_0);
manual_handlers!(Four: manual_four_0, manual_four_1, manual_four_2, manual_four_3);
manual_handlers!(Sixteen: m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15);

/// The hand-built registry: each message type's handlers.
type ManualRegistry = HashMap<TypeId, Vec<fn(&dyn Any)>>;

/// The registry read once into a map from message type to its handlers.
fn manual_registry() -> ManualRegistry {
    let mut map = ManualRegistry::new();
    for handler in inventory::iter::<ManualHandler> {
        map.entry((handler.message)())
            .or_default()
            .push(handler.call);
    }
    map
}

/// Publishes through the hand-built registry: stamp, look up by type, call each handler.
#[inline(never)]
fn manual_publish<E: tidings::Message>(registry: &ManualRegistry, event: E) {
    let envelope = Envelope::new(event);
    if let Some(handlers) = registry.get(&TypeId::of::<E>()) {
        for handler in handlers {
            handler(&envelope);
        }
    }
}

fn publish(c: &mut Criterion) {
    let bus = Bus::builder()
        .build()
        .expect("the benchmark's handlers are wired");
    let mut group = c.benchmark_group("publish");
    for n in [1usize, 4, 16] {
        let direct = handlers_for(n);
        group.bench_with_input(BenchmarkId::new("tidings", n), &n, |b, &n| match n {
            1 => b.iter(|| {
                bus.publish_sync(One {
                    value: black_box(7),
                })
                .unwrap()
            }),
            4 => b.iter(|| {
                bus.publish_sync(Four {
                    value: black_box(7),
                })
                .unwrap()
            }),
            _ => b.iter(|| {
                bus.publish_sync(Sixteen {
                    value: black_box(7),
                })
                .unwrap()
            }),
        });
        // What a hand-written dispatcher typically does: stamp with `Uuid::now_v7()` and
        // `Utc::now()` (two clock reads; `now_v7` keeps a process-wide counter for
        // ordering), then call each handler.
        group.bench_with_input(BenchmarkId::new("baseline_uuid_now_v7", n), &n, |b, _| {
            b.iter(|| {
                let stamped = Stamped {
                    id: uuid::Uuid::now_v7(),
                    occurred_on: chrono::Utc::now(),
                    event: One {
                        value: black_box(7),
                    },
                };
                for handler in &direct {
                    handler(stamped.event.value);
                }
                black_box((stamped.id, stamped.occurred_on));
            })
        });
        // The same stamping as tidings (one clock read for id and time), then direct calls.
        group.bench_with_input(BenchmarkId::new("baseline_same_stamping", n), &n, |b, _| {
            b.iter(|| {
                let envelope = Envelope::new(One {
                    value: black_box(7),
                });
                for handler in &direct {
                    handler(envelope.value);
                }
                black_box(envelope.metadata().id());
            })
        });
        let manual = manual_registry();
        group.bench_with_input(
            BenchmarkId::new("handmade_registry", n),
            &n,
            |b, &n| match n {
                1 => b.iter(|| {
                    manual_publish(
                        &manual,
                        One {
                            value: black_box(7),
                        },
                    )
                }),
                4 => b.iter(|| {
                    manual_publish(
                        &manual,
                        Four {
                            value: black_box(7),
                        },
                    )
                }),
                _ => b.iter(|| {
                    manual_publish(
                        &manual,
                        Sixteen {
                            value: black_box(7),
                        },
                    )
                }),
            },
        );
        let dispatcher = mod_events::EventDispatcher::new();
        for _ in 0..n {
            let _ = dispatcher.on(|event: &ModEvent| work(event.value));
        }
        group.bench_with_input(BenchmarkId::new("mod_events", n), &n, |b, _| {
            b.iter(|| {
                let stamped = stamped(One {
                    value: black_box(7),
                });
                let result = dispatcher.dispatch(ModEvent {
                    id: stamped.id,
                    occurred_on: stamped.occurred_on,
                    value: stamped.event.value,
                });
                black_box(result.success_count());
            })
        });
        let (sender, first) = tokio::sync::broadcast::channel::<Arc<Stamped<One>>>(16);
        let mut receivers: Vec<_> = (0..n).map(|_| sender.subscribe()).collect();
        drop(first);
        group.bench_with_input(BenchmarkId::new("tokio_broadcast", n), &n, |b, _| {
            b.iter(|| {
                let stamped = stamped(One {
                    value: black_box(7),
                });
                sender.send(Arc::new(stamped)).unwrap();
                for receiver in &mut receivers {
                    work(receiver.try_recv().unwrap().event.value);
                }
            })
        });
        let metadata = rust_bus::contracts::meta::BusMetadata::default();
        group.bench_with_input(BenchmarkId::new("rust_bus", n), &n, |b, &n| {
            b.iter(|| {
                futures::executor::block_on(async {
                    match n {
                        1 => {
                            rust_bus::bus::event(
                                {
                                    let stamped = stamped(One {
                                        value: black_box(7),
                                    });
                                    peer_rust_bus::One {
                                        id: stamped.id,
                                        occurred_on: stamped.occurred_on,
                                        value: stamped.event.value,
                                    }
                                },
                                &metadata,
                            )
                            .await
                        }
                        4 => {
                            rust_bus::bus::event(
                                {
                                    let stamped = stamped(One {
                                        value: black_box(7),
                                    });
                                    peer_rust_bus::Four {
                                        id: stamped.id,
                                        occurred_on: stamped.occurred_on,
                                        value: stamped.event.value,
                                    }
                                },
                                &metadata,
                            )
                            .await
                        }
                        _ => {
                            rust_bus::bus::event(
                                {
                                    let stamped = stamped(One {
                                        value: black_box(7),
                                    });
                                    peer_rust_bus::Sixteen {
                                        id: stamped.id,
                                        occurred_on: stamped.occurred_on,
                                        value: stamped.event.value,
                                    }
                                },
                                &metadata,
                            )
                            .await
                        }
                    }
                    .unwrap()
                })
            })
        });
    }
    group.finish();
}

/// The stampings alone: what each publish contender pays before any handler runs.
fn stamp(c: &mut Criterion) {
    let mut group = c.benchmark_group("stamp");
    group.bench_function("tidings_envelope_new", |b| {
        b.iter(|| {
            black_box(Envelope::new(One {
                value: black_box(7),
            }))
        })
    });
    group.bench_function("uuid_now_v7_and_utc_now", |b| {
        b.iter(|| black_box((uuid::Uuid::now_v7(), chrono::Utc::now())))
    });
    group.bench_function("uuid_now_v7", |b| {
        b.iter(|| black_box(uuid::Uuid::now_v7()))
    });
    group.bench_function("utc_now", |b| b.iter(|| black_box(chrono::Utc::now())));
    group.finish();
}

fn send(c: &mut Criterion) {
    let bus = Bus::builder()
        .build()
        .expect("the benchmark's handlers are wired");
    let mut group = c.benchmark_group("send");
    group.bench_function("tidings", |b| {
        b.iter(|| {
            bus.send_sync(Double {
                value: black_box(7),
            })
            .unwrap()
        })
    });
    // The same work by hand: give the command its identity (as the bus does, for correlation)
    // and call the handler.
    group.bench_function("baseline_direct_call", |b| {
        b.iter(|| {
            let envelope = Envelope::new(Double {
                value: black_box(7),
            });
            let id = envelope.metadata().id();
            black_box((double(envelope.into_payload()), id))
        })
    });
    group.finish();
}

// ---- building the routing table from generated registrations ----

struct Counter;

type Shim = fn(&(dyn Any + Send + Sync), &Invocation<'_>) -> HandlerResult;

fn generated_shim(_: &(dyn Any + Send + Sync), _: &Invocation<'_>) -> HandlerResult {
    Ok(())
}

fn typed_shim<E>(_: &Envelope<E>, _: &Invocation<'_>) -> HandlerResult {
    Ok(())
}

fn typed_invoke<E: DomainEvent>() -> Invoke {
    Invoke::Event(Box::leak(Box::new(typed_shim::<E> as EventFn<E>)))
}

const DEPENDENCIES: &[Dependency] = &[Dependency::of::<Counter>("counter")];

fn messages() -> Vec<(&'static MessageRegistration, MessageRef, Invoke)> {
    let at = Location::new(file!(), line!(), module_path!());
    macro_rules! registered {
        ($($event:ident),*) => {
            vec![$((
                &*Box::leak(Box::new(MessageRegistration::event::<$event>(at))),
                MessageRef::event::<$event>(),
                typed_invoke::<$event>(),
            )),*]
        };
    }
    registered!(One, Four, Sixteen)
}

fn generated_handlers(
    n: usize,
    messages: &[(&'static MessageRegistration, MessageRef, Invoke)],
) -> Vec<&'static HandlerRegistration> {
    (0..n)
        .map(|i| {
            let name: &'static str = Box::leak(format!("generated::handler_{i}").into_boxed_str());
            &*Box::leak(Box::new(HandlerRegistration {
                name,
                message: messages[i % messages.len()].1,
                phase: Phase::Immediate,
                dependencies: DEPENDENCIES,
                emits: &[],
                takes_context: false,
                takes_envelope: false,
                invoke: messages[i % messages.len()].2,
                location: Location::new("generated.rs", i as u32, "generated"),
            }))
        })
        .collect()
}

fn build(c: &mut Criterion) {
    let messages = messages();
    let registrations: Vec<_> = messages.iter().map(|(r, _, _)| *r).collect();
    let mut group = c.benchmark_group("build");
    for n in [10usize, 100, 1_000, 10_000] {
        let handlers = generated_handlers(n, &messages);
        group.bench_with_input(BenchmarkId::new("tidings", n), &n, |b, _| {
            b.iter(|| {
                let bus = tidings::__private::build_with(
                    Bus::builder().provide(Counter),
                    registrations.clone(),
                    handlers.clone(),
                );
                black_box(bus.unwrap())
            })
        });
        // By hand: group the handlers by message type and resolve each one's dependency.
        let provided: HashMap<TypeId, usize> = [(TypeId::of::<Counter>(), 0)].into_iter().collect();
        group.bench_with_input(BenchmarkId::new("baseline_hash_map", n), &n, |b, _| {
            b.iter(|| {
                let mut table: HashMap<TypeId, Vec<(Shim, usize)>> = HashMap::new();
                for handler in &handlers {
                    let slot = provided[&TypeId::of::<Counter>()];
                    table
                        .entry(handler.message.type_id())
                        .or_default()
                        .push((generated_shim, slot));
                }
                black_box(table)
            })
        });
    }
    group.finish();
}

fn setup(c: &mut Criterion) {
    futures::executor::block_on(rust_bus::init()).expect("rust_bus registers its handlers once");
    stamp(c);
    publish(c);
    send(c);
    build(c);
}

criterion_group!(benches, setup);
criterion_main!(benches);
