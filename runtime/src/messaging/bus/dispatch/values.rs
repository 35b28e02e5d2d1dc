//! `Bus::with`: context values attached to one publish or send.

use super::request::Origin;
use crate::messaging::bus::Bus;
use crate::messaging::envelope::Envelope;
use crate::messaging::error::{PublishError, SendError};
use crate::messaging::message::{Command, DomainEvent, Query};
use crate::messaging::values::{ContextValue, Values};

impl Bus {
    /// Attaches a context value to the next message published or sent through the returned
    /// [`WithValues`]; its handlers read it with [`Context::get`](crate::Context::get), and
    /// every follow-up message inherits it.
    ///
    /// ```
    /// use tidings::{handler, Bus, Command, Context, ContextValue};
    ///
    /// struct CurrentUser(String);
    /// impl ContextValue for CurrentUser {}
    ///
    /// #[derive(Command, Debug)]
    /// #[command(name = "docs.whoami", output = String)]
    /// struct WhoAmI;
    ///
    /// #[handler]
    /// fn whoami(_: WhoAmI, ctx: &Context) -> String {
    ///     ctx.get::<CurrentUser>().map_or("nobody".into(), |user| user.0.clone())
    /// }
    ///
    /// let bus = Bus::builder().build()?;
    /// assert_eq!(bus.with(CurrentUser("ada".into())).send_sync(WhoAmI)?, "ada");
    /// assert_eq!(bus.send_sync(WhoAmI)?, "nobody");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    ///
    /// If `T::ATTRIBUTE` is not a valid CloudEvents extension attribute name (see
    /// [`ContextValue::ATTRIBUTE`]).
    pub fn with<T: ContextValue>(&self, value: T) -> WithValues<'_> {
        WithValues {
            bus: self,
            values: Values::default().with(value),
        }
    }
}

/// A bus with context values attached, made by [`Bus::with`]: publish or send through it.
#[must_use = "the values are attached to a message published or sent through this"]
pub struct WithValues<'b> {
    bus: &'b Bus,
    values: Values,
}

impl WithValues<'_> {
    /// Attaches one more value (replacing one of the same type).
    pub fn with<T: ContextValue>(mut self, value: T) -> Self {
        self.values = self.values.with(value);
        self
    }

    /// [`Bus::publish`] with the values attached.
    pub async fn publish<E: DomainEvent>(self, event: E) -> Result<(), PublishError> {
        self.bus.publish_envelope(self.envelope(event)).await
    }

    /// [`Bus::publish_sync`] with the values attached.
    pub fn publish_sync<E: DomainEvent>(self, event: E) -> Result<(), PublishError> {
        self.bus.publish_envelope_sync(self.envelope(event))
    }

    /// [`Bus::send`] with the values attached.
    pub async fn send<C: Command>(self, command: C) -> Result<C::Output, SendError<C>> {
        self.bus.request(command, Origin::Caller(self.values)).await
    }

    /// [`Bus::send_sync`] with the values attached.
    pub fn send_sync<C: Command>(self, command: C) -> Result<C::Output, SendError<C>> {
        self.bus.request_sync(command, Origin::Caller(self.values))
    }

    /// [`Bus::query`] with the values attached.
    pub async fn query<Q: Query>(self, query: Q) -> Result<Q::Output, SendError<Q>> {
        self.bus.request(query, Origin::Caller(self.values)).await
    }

    /// [`Bus::query_sync`] with the values attached.
    pub fn query_sync<Q: Query>(self, query: Q) -> Result<Q::Output, SendError<Q>> {
        self.bus.request_sync(query, Origin::Caller(self.values))
    }

    fn envelope<E: DomainEvent>(&self, event: E) -> Envelope<E> {
        let mut envelope = Envelope::new(event);
        envelope.meta.values = self.values.clone();
        envelope
    }
}

impl std::fmt::Debug for WithValues<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithValues")
            .field("values", &self.values)
            .finish_non_exhaustive()
    }
}
