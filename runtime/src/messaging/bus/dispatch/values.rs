//! `Bus::with`: a bus that attaches context values to every message it stamps.

use crate::messaging::bus::Bus;
use crate::messaging::values::ContextValue;

impl Bus {
    /// The same bus, attaching a context value (replacing one of the same type) to every
    /// message it publishes or sends; handlers read it with
    /// [`Context::get`](crate::Context::get), and every follow-up message inherits it.
    ///
    /// This is the one way to attach a value: keep the returned bus for as long as the value
    /// holds (one request, one tenant), or use it for one call. An envelope that comes with
    /// its own metadata ([`Bus::publish_any`]) keeps its own values and gains the bus's for
    /// the types it has none of; so do the events a unit of work started with this bus
    /// records.
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
    #[must_use = "the values are attached to what is published or sent through the bus returned"]
    pub fn with<T: ContextValue>(&self, value: T) -> Bus {
        Bus {
            inner: self.inner.clone(),
            values: self.values.with(value),
        }
    }
}
