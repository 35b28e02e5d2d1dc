//! `Bus::subscribe`: a closure subscribed to an event type on a built bus.

use crate::messaging::bus::call::HandlerResult;
use crate::messaging::bus::live::{LiveFn, Subscription};
use crate::messaging::bus::registry::Location;
use crate::messaging::bus::Bus;
use crate::messaging::envelope::Envelope;
use crate::messaging::erased::ErasedMessage;
use crate::messaging::error::BoxError;
use crate::messaging::message::{DomainEvent, Message};
use std::sync::Arc;

/// What an event handler or a live subscriber may return: `()`, or `Result<(), E>` with `E`
/// an error (`std::error::Error + Send + Sync + 'static`, a boxed error or an `anyhow::Error`).
#[diagnostic::on_unimplemented(
    message = "an event handler cannot return `{Self}`",
    label = "return `()` or `Result<(), E>` here",
    note = "`E` is any `std::error::Error + Send + Sync + 'static`, a `Box<dyn Error + Send + Sync>` or an `anyhow::Error`"
)]
pub trait IntoHandlerResult {
    #[doc(hidden)]
    fn into_handler_result(self) -> HandlerResult;
}

impl IntoHandlerResult for () {
    fn into_handler_result(self) -> HandlerResult {
        Ok(())
    }
}

impl<E: Into<BoxError>> IntoHandlerResult for Result<(), E> {
    fn into_handler_result(self) -> HandlerResult {
        self.map_err(Into::into)
    }
}

impl Bus {
    /// Subscribes `subscriber` to the events of type `E` on this bus, beside the handlers
    /// registered at link time, until the returned [`Subscription`] is dropped.
    ///
    /// It runs after the registered handlers of each `E` published (follow-ups included), on
    /// the publishing thread, with the same isolation: its error or panic is reported in the
    /// [`PublishError`](crate::PublishError) naming it (by its closure's type name) and does not
    /// stop the other handlers. [`routes`](Bus::routes) lists it as live. Useful for spies in
    /// tests, refreshing a UI, pushing to a WebSocket.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use tidings::{Bus, DomainEvent, Envelope};
    ///
    /// #[derive(DomainEvent, Debug)]
    /// #[event(name = "docs.price_changed")]
    /// struct PriceChanged { cents: u64 }
    ///
    /// let bus = Bus::builder().build()?;
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let spy = seen.clone();
    /// let subscription = bus.subscribe(move |event: &Envelope<PriceChanged>| {
    ///     spy.lock().unwrap().push(event.cents);
    /// });
    /// bus.publish_sync(PriceChanged { cents: 250 })?;
    /// drop(subscription);
    /// bus.publish_sync(PriceChanged { cents: 300 })?;
    /// assert_eq!(*seen.lock().unwrap(), [250]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// An event type that is not in the table (only possible where inventory registers
    /// nothing) cannot be subscribed to: the subscription is inert.
    #[track_caller]
    pub fn subscribe<E, R, F>(&self, subscriber: F) -> Subscription
    where
        E: DomainEvent,
        R: IntoHandlerResult,
        F: Fn(&Envelope<E>) -> R + Send + Sync + 'static,
    {
        let caller = std::panic::Location::caller();
        let name = std::any::type_name::<F>();
        let location = Location::new(caller.file(), caller.line(), name);
        let call: LiveFn = Arc::new(move |event: &dyn ErasedMessage| {
            match event.as_any().downcast_ref::<Envelope<E>>() {
                Some(envelope) => subscriber(envelope).into_handler_result(),
                None => Ok(()),
            }
        });
        match self.inner.table.route(<E as Message>::slot().index()) {
            Some(route) => route.live.add(name, location, call),
            None => Subscription::inert(),
        }
    }
}
