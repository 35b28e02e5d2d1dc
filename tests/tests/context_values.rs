//! Context values: attached by the caller, read by handlers by type, inherited by every
//! follow-up (published events, queued commands, immediate sends); those whose type names an
//! attribute travel on the wire as CloudEvents extension attributes; the W3C trace context
//! (`TraceParent`, `TraceState`) among them.

use std::sync::{Arc, Mutex};
use tidings::testing::Recorder;
use tidings::{
    handler, AnyEnvelope, Bus, Command, Context, ContextValue, DomainEvent, Envelope, Query,
};

/// Stays in the process.
#[derive(Debug, Clone, PartialEq)]
struct CurrentUser(String);
impl ContextValue for CurrentUser {}

/// Travels as the `tenantid` extension attribute.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TenantId(u32);
impl ContextValue for TenantId {
    const ATTRIBUTE: Option<&'static str> = Some("tenantid");
    fn to_attribute(&self) -> String {
        self.0.to_string()
    }
    fn from_attribute(text: &str) -> Option<Self> {
        text.parse().ok().map(TenantId)
    }
}

/// Names an attribute CloudEvents reserves.
struct Spoof;
impl ContextValue for Spoof {
    const ATTRIBUTE: Option<&'static str> = Some("source");
}

#[derive(Command, Debug)]
#[command(name = "values.place_order")]
struct PlaceOrder;

#[derive(DomainEvent, Debug)]
#[event(name = "values.order_placed")]
struct OrderPlaced;

#[derive(Command, Debug)]
#[command(name = "values.notify")]
struct Notify;

#[derive(DomainEvent, Debug)]
#[event(name = "values.notified")]
struct Notified;

#[derive(Query, Debug)]
#[query(name = "values.whoami", output = Option<String>)]
struct WhoAmI;

/// A handler's name and the values it saw.
type Sighting = (&'static str, Option<CurrentUser>, Option<TenantId>);

#[derive(Default)]
struct Seen(Mutex<Vec<Sighting>>);

impl Seen {
    fn note(&self, ctx: &Context) {
        let entry = (
            ctx.handler_name(),
            ctx.get::<CurrentUser>().cloned(),
            ctx.get::<TenantId>().copied(),
        );
        self.0.lock().unwrap().push(entry);
    }

    fn take(&self) -> Vec<Sighting> {
        let mut seen = std::mem::take(&mut *self.0.lock().unwrap());
        seen.sort_by_key(|(name, ..)| *name);
        seen
    }
}

#[handler]
fn place_order(_: PlaceOrder, seen: &Seen, ctx: &Context) {
    seen.note(ctx);
    ctx.publish(OrderPlaced);
}

#[handler]
fn on_order_placed(_: &OrderPlaced, seen: &Seen, ctx: &Context) {
    seen.note(ctx);
    let user = ctx.query_sync(WhoAmI).unwrap();
    assert_eq!(user, ctx.get::<CurrentUser>().map(|u| u.0.clone()));
    ctx.send_later(Notify);
}

#[handler]
fn whoami(_: WhoAmI, seen: &Seen, ctx: &Context) -> Option<String> {
    seen.note(ctx);
    ctx.get::<CurrentUser>().map(|user| user.0.clone())
}

#[handler]
fn notify(_: Notify, seen: &Seen, ctx: &Context) {
    seen.note(ctx);
    ctx.publish(Notified);
}

#[handler]
fn on_notified(_: &Notified, seen: &Seen, ctx: &Context) {
    seen.note(ctx);
}

fn bus(seen: &Arc<Seen>, recorder: &Recorder) -> Bus {
    Bus::builder()
        .provide_arc(seen.clone())
        .record(recorder)
        .build()
        .unwrap()
}

const CASCADE: [&str; 5] = [
    "context_values::notify",
    "context_values::on_notified",
    "context_values::on_order_placed",
    "context_values::place_order",
    "context_values::whoami",
];

#[test]
fn values_reach_every_handler_of_the_cascade() {
    let seen = Arc::new(Seen::default());
    let bus = bus(&seen, &Recorder::new());
    bus.with(CurrentUser("ada".into()))
        .with(TenantId(1))
        .with(TenantId(7))
        .send_sync(PlaceOrder)
        .unwrap();
    let ada = Some(CurrentUser("ada".into()));
    let expected: Vec<_> = CASCADE
        .iter()
        .map(|h| (*h, ada.clone(), Some(TenantId(7))))
        .collect();
    assert_eq!(seen.take(), expected);

    bus.send_sync(PlaceOrder).unwrap();
    let expected: Vec<_> = CASCADE.iter().map(|h| (*h, None, None)).collect();
    assert_eq!(
        seen.take(),
        expected,
        "a message sent without values has none"
    );
}

#[test]
fn values_attached_to_a_publish_reach_its_follow_ups() {
    let seen = Arc::new(Seen::default());
    let bus = bus(&seen, &Recorder::new());
    bus.with(TenantId(3)).publish_sync(OrderPlaced).unwrap();
    let seen = seen.take();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(
        seen.iter()
            .all(|(_, user, tenant)| user.is_none() && *tenant == Some(TenantId(3))),
        "{seen:?}"
    );
}

#[test]
fn a_bus_with_values_attaches_them_to_every_call_and_leaves_the_bus_it_came_from_alone() {
    let seen = Arc::new(Seen::default());
    let bus = bus(&seen, &Recorder::new());
    let as_ada = bus.with(CurrentUser("ada".into()));
    as_ada.publish_sync(OrderPlaced).unwrap();
    as_ada.send_sync(PlaceOrder).unwrap();
    assert_eq!(as_ada.query_sync(WhoAmI).unwrap().as_deref(), Some("ada"));
    let seen_by_ada = seen.take();
    assert_eq!(seen_by_ada.len(), 4 + 5 + 1, "{seen_by_ada:?}");
    assert!(
        seen_by_ada
            .iter()
            .all(|(_, user, _)| *user == Some(CurrentUser("ada".into()))),
        "{seen_by_ada:?}"
    );

    // A value attached on top replaces the one of its type on the new bus only.
    let as_bo = as_ada.with(CurrentUser("bo".into()));
    assert_eq!(as_bo.query_sync(WhoAmI).unwrap().as_deref(), Some("bo"));
    assert_eq!(as_ada.query_sync(WhoAmI).unwrap().as_deref(), Some("ada"));
    assert_eq!(bus.query_sync(WhoAmI).unwrap(), None);
}

#[test]
fn an_envelope_with_its_own_metadata_keeps_its_values_and_gains_the_bus_s_others() {
    let seen = Arc::new(Seen::default());
    let recorder = Recorder::new();
    let bus = bus(&seen, &recorder);
    // An envelope from another context, carrying its tenant.
    let mut json = Envelope::new(OrderPlaced).to_json().unwrap();
    json["tenantid"] = "9".into();
    let received = AnyEnvelope::from_value(json).unwrap();
    let id = received.metadata().id();

    bus.with(TenantId(1))
        .with(CurrentUser("ops".into()))
        .publish_any_sync(received)
        .unwrap();
    let seen = seen.take();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(
        seen.iter().all(|(_, user, tenant)| {
            *user == Some(CurrentUser("ops".into())) && *tenant == Some(TenantId(9))
        }),
        "the envelope's own tenant wins, the bus's user is added: {seen:?}"
    );
    let published = recorder.of::<OrderPlaced>();
    assert_eq!(
        published[0].metadata().id(),
        id,
        "the envelope keeps its id"
    );
}

#[tokio::test]
async fn values_travel_through_the_async_paths() {
    let seen = Arc::new(Seen::default());
    let bus = bus(&seen, &Recorder::new());
    bus.with(CurrentUser("bo".into()))
        .send(PlaceOrder)
        .await
        .unwrap();
    assert_eq!(
        bus.with(CurrentUser("cy".into()))
            .query(WhoAmI)
            .await
            .unwrap()
            .as_deref(),
        Some("cy")
    );
    let seen = seen.take();
    assert_eq!(seen.len(), 6);
    assert_eq!(
        seen.iter()
            .filter(|(_, user, _)| *user == Some(CurrentUser("bo".into())))
            .count(),
        5
    );
}

#[test]
fn only_values_that_name_an_attribute_travel_on_the_wire() {
    let seen = Arc::new(Seen::default());
    let recorder = Recorder::new();
    let bus = bus(&seen, &recorder);
    // A name no hexadecimal id can contain by chance.
    bus.with(CurrentUser("zoe-quinn".into()))
        .with(TenantId(7))
        .send_sync(PlaceOrder)
        .unwrap();
    let [json, ..] = &recorder.all()[..] else {
        panic!("events were recorded")
    };
    let json = json.to_json().unwrap();
    assert_eq!(json["tenantid"], "7", "{json}");
    assert!(
        !json.to_string().contains("zoe-quinn"),
        "the user stays in the process: {json}"
    );

    // A consumer reads the envelope back: the tenant is there, typed, and its handlers see it.
    let text = json.to_string();
    let any = AnyEnvelope::from_json(&text).unwrap();
    assert_eq!(any.metadata().get::<TenantId>(), Some(&TenantId(7)));
    assert_eq!(any.metadata().get::<CurrentUser>(), None);
    assert_eq!(
        any.to_json().unwrap()["tenantid"],
        "7",
        "and writes it again"
    );
    let envelope = Envelope::<OrderPlaced>::from_json(&text).unwrap();
    seen.take();
    bus.publish_any_sync(envelope.into()).unwrap();
    let seen = seen.take();
    assert_eq!(seen.len(), 4);
    assert!(
        seen.iter()
            .all(|(_, user, tenant)| user.is_none() && *tenant == Some(TenantId(7))),
        "{seen:?}"
    );
}

#[test]
fn a_wire_value_that_does_not_parse_is_absent() {
    let mut json = Envelope::new(OrderPlaced).to_json().unwrap();
    json["tenantid"] = "seven".into();
    let any = AnyEnvelope::from_value(json).unwrap();
    assert_eq!(any.metadata().get::<TenantId>(), None);
}

#[test]
#[should_panic(expected = "`source` cannot be a context value's CloudEvents attribute")]
fn a_value_may_not_take_a_reserved_attribute() {
    let bus = Bus::builder().provide(Seen::default()).build().unwrap();
    let _ = bus.with(Spoof);
}

#[test]
fn a_value_that_travels_is_stored_with_its_event_and_relayed_as_its_attribute() {
    use tidings::broadcast::amqp::binding;
    use tidings::persistence::sqlite::SqliteStore;
    use tidings::persistence::{ExpectedVersion, StoreError};
    use tidings::Pending;

    // A unit of work started with a bus that attaches values gives them to what it records.
    let seen = Arc::new(Seen::default());
    let bus = bus(&seen, &Recorder::new());
    let store = SqliteStore::open_in_memory().unwrap();
    let mut pending = Pending::new();
    pending.record(OrderPlaced);
    let on = bus.with(TenantId(42)).with(CurrentUser("ann".into()));
    store
        .unit_of_work(&on, |unit| {
            unit.record("order-1", ExpectedVersion::NoStream, &mut pending);
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let stored = store.read_all_sync(0, 10).unwrap();
    assert_eq!(stored[0].metadata().get::<TenantId>(), Some(&TenantId(42)));
    assert_eq!(
        stored[0].metadata().get::<CurrentUser>(),
        None,
        "a value that stays in the process is not stored"
    );
    // What the relay publishes for it carries the attribute.
    let properties = binding::properties(&stored[0]).unwrap();
    let headers = properties.headers().clone().unwrap();
    let tenant = headers
        .inner()
        .get("cloudEvents:tenantid")
        .unwrap_or_else(|| panic!("no tenant attribute in {headers:?}"));
    assert_eq!(
        tenant,
        &tidings::broadcast::amqp::lapin::types::AMQPValue::LongString("42".into())
    );
}

#[test]
fn a_trace_context_travels_as_it_came_and_none_is_taken_without_a_subscriber() {
    use tidings::broadcast::amqp::binding::{self, AttributePrefix};
    use tidings::persistence::sqlite::SqliteStore;
    use tidings::persistence::{ExpectedVersion, NewEvent};
    use tidings::{TraceParent, TraceState};

    // No subscriber: nothing is taken from spans, whatever tidings' features.
    let own = Envelope::new(OrderPlaced);
    assert_eq!(own.metadata().get::<TraceParent>(), None);
    assert!(own.to_json().unwrap().get("traceparent").is_none());

    // Another producer's event, with its trace context (and a tracestate tidings only
    // carries).
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let state = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
    let mut json = own.to_json().unwrap();
    json["traceparent"] = parent.into();
    json["tracestate"] = state.into();
    let received = AnyEnvelope::from_value(json).unwrap();
    let meta = received.metadata();
    assert_eq!(
        meta.get::<TraceParent>().map(TraceParent::as_str),
        Some(parent)
    );
    assert_eq!(
        meta.get::<TraceState>().map(TraceState::as_str),
        Some(state)
    );

    // Its follow-ups inherit it, as they inherit every context value.
    let seen = Arc::new(Seen::default());
    let recorder = Recorder::new();
    let bus = bus(&seen, &recorder);
    bus.publish_any_sync(AnyEnvelope::from_value(received.to_json().unwrap()).unwrap())
        .unwrap();
    let notified = recorder.of::<Notified>();
    assert_eq!(
        notified[0]
            .metadata()
            .get::<TraceParent>()
            .map(TraceParent::as_str),
        Some(parent)
    );

    // The store keeps it; the relay's headers carry it in each prefix; the consumer reads it.
    let store = SqliteStore::open_in_memory().unwrap();
    store
        .append_sync(
            "order-1",
            ExpectedVersion::NoStream,
            &[NewEvent::from_any(&received).unwrap()],
        )
        .unwrap();
    let stored = &store.read_all_sync(0, 10).unwrap()[0];
    let meta = stored.metadata();
    assert_eq!(
        meta.get::<TraceParent>().map(TraceParent::as_str),
        Some(parent)
    );
    assert_eq!(
        meta.get::<TraceState>().map(TraceState::as_str),
        Some(state)
    );
    for prefix in [AttributePrefix::CloudEventsColon, AttributePrefix::Ce] {
        let properties = binding::properties_with(stored, prefix).unwrap();
        let headers = properties.headers().clone().unwrap();
        let header = format!("{}traceparent", prefix.as_str());
        assert!(
            headers.inner().contains_key(header.as_str()),
            "{header} in {headers:?}"
        );
        let consumed = binding::decode(&properties, stored.data().as_bytes()).unwrap();
        let meta = consumed.metadata();
        assert_eq!(
            meta.get::<TraceParent>().map(TraceParent::as_str),
            Some(parent)
        );
        assert_eq!(
            meta.get::<TraceState>().map(TraceState::as_str),
            Some(state)
        );
    }
}
