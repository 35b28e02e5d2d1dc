//! What the macros expand to. Not a public API: it changes without notice.

pub use chrono;
pub use inventory;
pub use serde;

pub use crate::__json_schema as json_schema;
pub use crate::__json_schema_item as json_schema_item;
#[cfg(feature = "catalog")]
pub use crate::messaging::catalog::{
    needs_json_schema, MirrorSchema, MirrorSchemaDerived, MirrorSchemaRejected,
};
#[cfg(feature = "catalog")]
pub use crate::messaging::message::{schema_of, SchemaFn};
#[cfg(feature = "catalog")]
pub use schemars;
#[cfg(feature = "catalog")]
pub use std::borrow::Cow;

pub use crate::messaging::bus::call::{
    AsyncEventFn, AsyncRequestFn, BoxFuture, EventFn, HandlerResult, Invoke, RequestFn,
    RequestResult,
};
pub use crate::messaging::bus::invocation::Invocation;
pub use crate::messaging::bus::registry::{
    Dependency, HandlerRegistration, Location, MessageRef, MessageRegistration, Phase, Probe,
    ProbeEvent, ProbeOther, ProbeRequest, Typing,
};
pub use crate::messaging::bus::upcast::{
    json_output, upcast_input, upcast_output, JsonInto, JsonUpcastOutput, OldEvent, UpcastInput,
    UpcastInto, UpcastOutput, UpcasterRegistration,
};
pub use crate::messaging::message::Slot;

pub use crate::diagnostics::{
    request_error, request_reply, HandlerReply, MirrorFallback, RequestError,
};
pub use crate::{AggregateEvent, AnyEnvelope, DecodeError, Metadata};
pub use crate::{Process, Role, Unknown};

#[cfg(feature = "postgres")]
pub use crate::persistence::postgres::PostgresTransaction;
pub use crate::persistence::process::step as process_step;
#[cfg(not(feature = "postgres"))]
pub use crate::persistence::process::PostgresTransaction;
#[cfg(not(feature = "sqlite"))]
pub use crate::persistence::process::SqliteTransaction;
#[cfg(feature = "sqlite")]
pub use crate::persistence::sqlite::SqliteTransaction;
pub use crate::{Command, DomainEvent, Envelope, Message, MessageKind, Query, Request, Travels};

/// An aggregate's event in its envelope, stamped now, caused by `cause` when given.
pub fn aggregate_envelope<E: DomainEvent>(event: E, cause: Option<&Metadata>) -> AnyEnvelope {
    match cause {
        Some(cause) => AnyEnvelope::from(Envelope::caused_by(event, cause)),
        None => AnyEnvelope::from(Envelope::new(event)),
    }
}

/// Reads a stored event's JSON text straight into an `E`, in one pass.
pub fn decode_stored<E: Message>(text: &str) -> Result<E, crate::DecodeError> {
    serde_json::from_str(text).map_err(|source| crate::DecodeError::Data {
        name: E::NAME.to_owned(),
        version: E::VERSION,
        source,
    })
}

/// The payload of `event` if it is an `E`, or `event` back.
pub fn downcast_payload<E: Message>(event: AnyEnvelope) -> Result<E, AnyEnvelope> {
    event.downcast::<E>().map(Envelope::into_payload)
}

use chrono::{DateTime, Utc};
use std::future::Future;

/// Builds a bus from explicit registrations instead of the link-time registry; the
/// routing-table benchmark generates thousands of handlers this way.
pub fn build_with(
    builder: crate::BusBuilder,
    messages: Vec<&'static MessageRegistration>,
    handlers: Vec<&'static HandlerRegistration>,
) -> Result<crate::Bus, crate::BuildError> {
    builder.build_from(&crate::messaging::bus::registry::Registry::from_parts(
        messages, handlers,
    ))
}

/// A request handler's reply, as the command or query declares it, made a `Result`.
pub fn into_result<R: Request>(reply: R::Reply) -> RequestResult<R> {
    R::into_result(reply)
}

pub fn boxed_future<'a, T>(future: impl Future<Output = T> + Send + 'a) -> BoxFuture<'a, T> {
    Box::pin(future)
}

pub use crate::IntoHandlerResult;

pub fn handler_result<R: IntoHandlerResult>(result: R) -> HandlerResult {
    result.into_handler_result()
}

/// What a field marked `#[event(occurred_on)]` may be.
#[diagnostic::on_unimplemented(
    message = "`#[event(occurred_on)]` is on a field of type `{Self}`",
    label = "expected `chrono::DateTime<Utc>` or `Option<chrono::DateTime<Utc>>`",
    note = "the envelope takes its occurred-on time from this field, so it must be a UTC time"
)]
pub trait OccurredOnField {
    fn occurred_on_field(&self) -> Option<DateTime<Utc>>;
}

impl OccurredOnField for DateTime<Utc> {
    fn occurred_on_field(&self) -> Option<DateTime<Utc>> {
        Some(*self)
    }
}

impl OccurredOnField for Option<DateTime<Utc>> {
    fn occurred_on_field(&self) -> Option<DateTime<Utc>> {
        *self
    }
}
