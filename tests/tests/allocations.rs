//! The synchronous paths allocate nothing when no handler publishes: publishing to sync
//! handlers (with a dependency, with or without `&Context`), sending a command and asking a
//! query of a sync handler (with or without `&Context`). Counted with a global allocator, not
//! timed. Publishing a follow-up allocates (the queued envelope), and so does a tracing
//! subscriber that records spans; neither is claimed here.

// A counting global allocator needs `unsafe impl GlobalAlloc`; it only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use tidings::{handler, Bus, Command, Context, DomainEvent, Query};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // Only allocations made by the measuring thread count; the test harness has others.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[derive(DomainEvent, Debug)]
#[event(name = "alloc.tick")]
struct Tick {
    n: u64,
}

#[derive(Command, Debug)]
#[command(name = "alloc.add", output = u64)]
struct Add {
    a: u64,
    b: u64,
}

#[derive(DomainEvent, Debug)]
#[event(name = "alloc.tock")]
struct Tock {
    n: u64,
}

#[derive(Command, Debug)]
#[command(name = "alloc.add_with_context", output = u64)]
struct AddWithContext {
    a: u64,
}

#[derive(Query, Debug)]
#[query(name = "alloc.read_total", output = u64)]
struct ReadTotal;

struct Total(AtomicU64);

/// Takes a context (the general path) and publishes nothing.
#[handler]
fn count_tock(tock: &Tock, total: &Total, ctx: &Context) {
    assert_eq!(ctx.message_name(), "alloc.tock");
    total.0.fetch_add(tock.n, Ordering::Relaxed);
}

#[handler]
fn add_with_context(cmd: AddWithContext, total: &Total, ctx: &Context) -> u64 {
    assert_eq!(ctx.message_name(), "alloc.add_with_context");
    total.0.fetch_add(1, Ordering::Relaxed);
    cmd.a
}

#[handler]
fn read_total(_: ReadTotal, total: &Total) -> u64 {
    total.0.load(Ordering::Relaxed)
}

#[handler]
fn count_tick(tick: &Tick, total: &Total) {
    total.0.fetch_add(tick.n, Ordering::Relaxed);
}

#[handler]
fn also_count_tick(tick: &tidings::Envelope<Tick>, total: &Total) -> Result<(), std::io::Error> {
    total.0.fetch_add(tick.n, Ordering::Relaxed);
    Ok(())
}

#[handler]
fn add(cmd: Add, total: &Total) -> u64 {
    total.0.fetch_add(1, Ordering::Relaxed);
    cmd.a + cmd.b
}

#[test]
fn publishing_and_sending_synchronously_allocate_nothing() {
    let total = std::sync::Arc::new(Total(AtomicU64::new(0)));
    let bus = Bus::builder().provide_arc(total.clone()).build().unwrap();
    // Warm up: the registry snapshot and the thread's random generator are set up once.
    bus.publish_sync(Tick { n: 1 }).unwrap();
    bus.send_sync(Add { a: 1, b: 1 }).unwrap();
    bus.query_sync(ReadTotal).unwrap();

    let published = allocations_during(|| {
        for n in 0..1_000 {
            bus.publish_sync(Tick { n }).unwrap();
        }
    });
    assert_eq!(
        published, 0,
        "publish_sync allocated {published} times in 1000 calls"
    );

    let sent = allocations_during(|| {
        for a in 0..1_000 {
            assert_eq!(bus.send_sync(Add { a, b: 1 }).unwrap(), a + 1);
        }
    });
    assert_eq!(sent, 0, "send_sync allocated {sent} times in 1000 calls");

    let general = allocations_during(|| {
        for n in 0..1_000 {
            bus.publish_sync(Tock { n }).unwrap();
        }
    });
    assert_eq!(
        general, 0,
        "publishing to a `&Context` handler allocated {general} times"
    );

    let with_context = allocations_during(|| {
        for a in 0..1_000 {
            assert_eq!(bus.send_sync(AddWithContext { a }).unwrap(), a);
        }
    });
    assert_eq!(
        with_context, 0,
        "sending to a `&Context` handler allocated {with_context} times"
    );

    let queried = allocations_during(|| {
        for _ in 0..1_000 {
            std::hint::black_box(bus.query_sync(ReadTotal).unwrap());
        }
    });
    assert_eq!(
        queried, 0,
        "query_sync allocated {queried} times in 1000 calls"
    );

    // The counter does count: a path that allocates is seen.
    let boxed = allocations_during(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(boxed, 1);
    assert_eq!(
        total.0.load(Ordering::Relaxed),
        2 * (1 + 999 * 1000 / 2) + 1_001 + 999 * 1000 / 2 + 1_000
    );
}
