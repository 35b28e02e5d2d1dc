//! `Pending`: the events an aggregate recorded and nobody has committed yet.

use crate::{AnyEnvelope, DomainEvent, Envelope, Metadata};

/// The events an aggregate recorded and that are not committed yet.
///
/// Recording stamps each event at once (id and occurred-on, as [`Envelope::new`] does) and never
/// dispatches it: the events wait here until a unit of work takes them, appends them to the
/// event store and hands them to the bus. [`take`](Pending::take) empties the list, so each
/// event is taken out exactly once. One aggregate can record events of several types.
///
/// ```
/// use tidings::{DomainEvent, Envelope, Pending};
///
/// #[derive(DomainEvent, Debug, PartialEq)]
/// #[event(name = "docs.cart_opened")]
/// struct CartOpened { cart: u64 }
///
/// #[derive(DomainEvent, Debug, PartialEq)]
/// #[event(name = "docs.item_added")]
/// struct ItemAdded { cart: u64, sku: String }
///
/// #[derive(Default)]
/// struct Cart { id: u64, items: Vec<String>, pending: Pending }
///
/// impl Cart {
///     fn open(id: u64) -> Cart {
///         let mut cart = Cart { id, ..Cart::default() };
///         cart.pending.record(CartOpened { cart: id });
///         cart
///     }
///     fn add(&mut self, sku: &str) {
///         self.items.push(sku.to_owned());
///         self.pending.record(ItemAdded { cart: self.id, sku: sku.to_owned() });
///     }
/// }
///
/// let mut cart = Cart::open(7);
/// cart.add("tea");
/// assert_eq!(cart.pending.names().collect::<Vec<_>>(), ["docs.cart_opened", "docs.item_added"]);
///
/// let events = cart.pending.take();
/// assert!(cart.pending.is_empty(), "taken out once");
/// let added: Envelope<ItemAdded> = events.into_iter().nth(1).unwrap().downcast().unwrap();
/// assert_eq!(added.sku, "tea");
/// ```
#[derive(Debug, Default)]
pub struct Pending {
    events: Vec<AnyEnvelope>,
}

impl Pending {
    /// No events yet.
    pub fn new() -> Pending {
        Pending::default()
    }

    /// Records an event: stamps its id and occurred-on now, and keeps it until it is taken.
    /// Returns the stamped metadata (the new event's id, for instance).
    pub fn record<E: DomainEvent>(&mut self, event: E) -> &Metadata {
        self.record_envelope(Envelope::new(event))
    }

    /// Records an event caused by another message: it inherits `cause`'s correlation id and
    /// names `cause` as its causation.
    pub fn record_caused_by<E: DomainEvent>(&mut self, event: E, cause: &Metadata) -> &Metadata {
        self.record_envelope(Envelope::caused_by(event, cause))
    }

    /// Records an event that is already in its envelope, keeping its metadata as it is.
    pub fn record_envelope<E: DomainEvent>(&mut self, envelope: Envelope<E>) -> &Metadata {
        self.events.push(AnyEnvelope::from(envelope));
        self.events
            .last()
            .map(AnyEnvelope::metadata)
            .expect("an event was just pushed")
    }

    /// How many events are waiting.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The waiting events, in the order they were recorded.
    pub fn iter(&self) -> std::slice::Iter<'_, AnyEnvelope> {
        self.events.iter()
    }

    /// The wire names of the waiting events, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.events.iter().map(AnyEnvelope::name)
    }

    /// Takes every waiting event out, in the order they were recorded, and leaves the list
    /// empty: a second call returns nothing.
    pub fn take(&mut self) -> Vec<AnyEnvelope> {
        std::mem::take(&mut self.events)
    }
}

impl<'a> IntoIterator for &'a Pending {
    type Item = &'a AnyEnvelope;
    type IntoIter = std::slice::Iter<'a, AnyEnvelope>;

    fn into_iter(self) -> Self::IntoIter {
        self.events.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(DomainEvent, Debug, Clone, PartialEq)]
    #[event(name = "tidings.test.pending_opened")]
    struct Opened {
        n: u32,
    }

    #[derive(DomainEvent, Debug, Clone, PartialEq)]
    #[event(name = "tidings.test.pending_closed")]
    struct Closed;

    #[test]
    fn records_are_stamped_at_record_time_and_in_order() {
        let mut pending = Pending::new();
        let first = pending.record(Opened { n: 1 }).clone();
        let second = pending.record(Closed).clone();
        assert_ne!(first.id(), second.id());
        assert!(first.occurred_on() <= second.occurred_on());
        let ids: Vec<_> = pending.iter().map(|e| e.metadata().id()).collect();
        assert_eq!(ids, [first.id(), second.id()]);
        // Taking them out keeps the stamps made at record time.
        let taken = pending.take();
        assert_eq!(taken[0].metadata(), &first);
        assert_eq!(taken[1].metadata(), &second);
    }

    #[test]
    fn events_are_taken_out_exactly_once() {
        let mut pending = Pending::new();
        pending.record(Opened { n: 1 });
        pending.record(Opened { n: 2 });
        assert_eq!(pending.len(), 2);
        let taken = pending.take();
        assert_eq!(taken.len(), 2);
        assert!(pending.is_empty());
        assert!(pending.take().is_empty());
        pending.record(Closed);
        assert_eq!(
            pending.names().collect::<Vec<_>>(),
            ["tidings.test.pending_closed"]
        );
    }

    #[test]
    fn caused_events_carry_their_cause() {
        let cause = Envelope::new(Closed);
        let mut pending = Pending::new();
        let meta = pending.record_caused_by(Opened { n: 3 }, cause.metadata());
        assert_eq!(meta.causation_id(), Some(cause.metadata().id()));
        assert_eq!(meta.correlation_id(), cause.metadata().correlation_id());
    }
}
