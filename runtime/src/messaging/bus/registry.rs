//! What the macros register at link time, and the process-wide snapshot of it.
//!
//! Every item here is built in a `const` context by generated code, so it holds only
//! `&'static` data and plain function pointers.

use crate::messaging::bus::call::{self, Invoke, Typed};
pub use crate::messaging::bus::location::Location;
pub use crate::messaging::bus::reference::MessageRef;
use crate::messaging::bus::upcast::{self, Current, UpcasterRegistration};
use crate::messaging::cloudevents::DecodeError;
use crate::messaging::envelope::Metadata;
use crate::messaging::message::{DomainEvent, Message, MessageKind, Request, Slot};
use crate::messaging::payload::{self, Payload};
use rustc_hash::FxHashMap;
use std::any::TypeId;
use std::sync::OnceLock;

/// A message type, as registered by its derive.
#[doc(hidden)]
#[derive(Debug)]
pub struct MessageRegistration {
    pub(super) message: MessageRef,
    /// Decodes the type from JSON text, in one pass.
    pub(super) decode_text: fn(&str) -> serde_json::Result<Box<dyn Payload>>,
    pub(super) slot: fn() -> &'static Slot,
    /// How to type the calls of this message's handlers.
    pub(super) typing: fn() -> Typing,
    /// The type's fields as the derive read them, for schema snapshots.
    pub(super) schema: &'static str,
    /// The type's JSON Schema, for the catalog.
    #[cfg(feature = "catalog")]
    pub(crate) json_schema: Option<crate::messaging::message::SchemaFn>,
    pub(super) location: Location,
}

impl MessageRegistration {
    /// The registration the derives submit; `typing` is made with [`Probe`].
    pub const fn new<M: Message>(location: Location, typing: fn() -> Typing) -> Self {
        MessageRegistration {
            message: MessageRef::of::<M>(),
            decode_text: payload::decode_text::<M>,
            slot: M::slot,
            typing,
            schema: M::SCHEMA,
            #[cfg(feature = "catalog")]
            json_schema: M::JSON_SCHEMA,
            location,
        }
    }

    /// The registration of an event, written by hand.
    pub const fn event<E: DomainEvent>(location: Location) -> Self {
        MessageRegistration::new::<E>(location, typing_of_event::<E>)
    }

    /// The registration of a command or query, written by hand.
    pub const fn request<R: Request>(location: Location) -> Self {
        MessageRegistration::new::<R>(location, typing_of_request::<R>)
    }
}

/// How the handlers of one message type are typed: what a [`Probe`] finds.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct Typing(pub(super) Option<Typed>);

fn typing_of_event<E: DomainEvent>() -> Typing {
    Typing(Some(Typed::Event(call::event_handlers::<E>)))
}

fn typing_of_request<R: Request>() -> Typing {
    Typing(Some(Typed::Request(call::request_handler::<R>)))
}

/// Finds, in generated code, whether `M` is an event or a request without requiring either:
/// `(&&&Probe::<M>::new()).typing()` picks the first of [`ProbeEvent`], [`ProbeRequest`] and
/// [`ProbeOther`] that `M` satisfies. A derive whose own check failed (say, a declared error
/// type that is not an error) so adds no second error here.
#[doc(hidden)]
#[derive(Debug)]
pub struct Probe<M>(std::marker::PhantomData<fn() -> M>);

impl<M> Probe<M> {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Probe(std::marker::PhantomData)
    }
}

#[doc(hidden)]
pub trait ProbeEvent {
    fn typing(&self) -> Typing;
}

impl<E: DomainEvent> ProbeEvent for &&Probe<E> {
    fn typing(&self) -> Typing {
        typing_of_event::<E>()
    }
}

#[doc(hidden)]
pub trait ProbeRequest {
    fn typing(&self) -> Typing;
}

impl<R: Request> ProbeRequest for &Probe<R> {
    fn typing(&self) -> Typing {
        typing_of_request::<R>()
    }
}

#[doc(hidden)]
pub trait ProbeOther {
    fn typing(&self) -> Typing;
}

impl<M> ProbeOther for Probe<M> {
    fn typing(&self) -> Typing {
        Typing(None)
    }
}

/// A dependency parameter of a handler: `stock: &Inventory`.
#[doc(hidden)]
#[derive(Debug)]
pub struct Dependency {
    pub(super) param: &'static str,
    pub(super) type_id: fn() -> TypeId,
    pub(super) rust_type: fn() -> &'static str,
}

impl Dependency {
    pub const fn of<T: ?Sized + Send + Sync + 'static>(param: &'static str) -> Dependency {
        Dependency {
            param,
            type_id: TypeId::of::<T>,
            rust_type: std::any::type_name::<T>,
        }
    }
}

/// When an event handler runs relative to a unit of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// When the event is published on the bus (the default).
    Immediate,
    /// Inside the unit of work's transaction, before it commits; an error rolls it back.
    BeforeCommit,
    /// After the unit of work committed; failures are reported and do not undo it.
    AfterCommit,
    /// After the unit of work rolled back.
    AfterRollback,
}

impl Phase {
    /// The word used in `#[handler(phase = ..)]`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Immediate => "immediate",
            Phase::BeforeCommit => "before_commit",
            Phase::AfterCommit => "after_commit",
            Phase::AfterRollback => "after_rollback",
        }
    }
}

/// A handler function, as registered by `#[handler]`.
#[doc(hidden)]
#[derive(Debug)]
pub struct HandlerRegistration {
    pub name: &'static str,
    pub message: MessageRef,
    pub phase: Phase,
    pub dependencies: &'static [Dependency],
    pub emits: &'static [MessageRef],
    pub takes_context: bool,
    pub takes_envelope: bool,
    pub invoke: Invoke,
    pub location: Location,
}

inventory::collect!(MessageRegistration);
inventory::collect!(HandlerRegistration);

/// Everything registered in the linked program, read once and sorted.
pub(crate) struct Registry {
    pub(super) messages: Vec<&'static MessageRegistration>,
    pub(super) handlers: Vec<&'static HandlerRegistration>,
    /// Sorted by name, then by the version each upcasts from.
    pub(super) upcasters: Vec<&'static UpcasterRegistration>,
    by_name: FxHashMap<&'static str, Vec<&'static MessageRegistration>>,
}

impl Registry {
    pub(crate) fn get() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(|| {
            Registry::from_parts(
                inventory::iter::<MessageRegistration>.into_iter().collect(),
                inventory::iter::<HandlerRegistration>.into_iter().collect(),
            )
            .with_upcasters(
                inventory::iter::<UpcasterRegistration>
                    .into_iter()
                    .collect(),
            )
        })
    }

    pub(crate) fn from_parts(
        mut messages: Vec<&'static MessageRegistration>,
        mut handlers: Vec<&'static HandlerRegistration>,
    ) -> Registry {
        messages.sort_by_key(|m| (m.message.name, m.message.version, m.location.module()));
        handlers.sort_by_key(|h| (h.name, h.location.file(), h.location.line()));
        let mut by_name: FxHashMap<_, Vec<_>> = FxHashMap::default();
        for message in &messages {
            by_name
                .entry(message.message.name)
                .or_default()
                .push(*message);
        }
        Registry {
            messages,
            handlers,
            upcasters: Vec::new(),
            by_name,
        }
    }

    pub(crate) fn with_upcasters(
        mut self,
        mut upcasters: Vec<&'static UpcasterRegistration>,
    ) -> Registry {
        upcasters.sort_by_key(|u| (u.name, u.from, u.function));
        self.upcasters = upcasters;
        self
    }

    /// Decodes `data` into the type registered under this name and version; an event's
    /// older version is upcast into its current type (the highest version registered).
    pub(crate) fn decode(
        &self,
        name: String,
        version: u32,
        data: serde_json::Value,
        meta: &Metadata,
    ) -> Result<Box<dyn Payload>, DecodeError> {
        let candidates = self.named(&name);
        let Some(current) = candidates.last() else {
            return Err(DecodeError::UnknownName { name });
        };
        if current.message.version == version {
            return payload::decode_value(current.decode_text, &data).map_err(|source| {
                DecodeError::Data {
                    name,
                    version,
                    source,
                }
            });
        }
        if version < current.message.version && current.message.kind == MessageKind::Event {
            let current = Current {
                message: current.message,
                decode: current.decode_text,
            };
            return upcast::upcast(name.clone(), version, data, meta, current, |from| {
                self.upcaster(&name, from)
            });
        }
        let Some(registration) = candidates.iter().find(|r| r.message.version == version) else {
            let known = candidates.iter().map(|r| r.message.version).collect();
            return Err(DecodeError::UnsupportedVersion {
                name,
                version,
                known,
            });
        };
        payload::decode_value(registration.decode_text, &data).map_err(|source| DecodeError::Data {
            name,
            version,
            source,
        })
    }

    /// Decodes JSON `text` (a stored event's data) into the type registered under this
    /// name and version. The current version of a type, and any version registered as a
    /// type of its own, is read straight from the text into the type; only an older version
    /// that upcasters bring up to date goes through a `serde_json::Value`.
    pub(crate) fn decode_text(
        &self,
        name: &str,
        version: u32,
        text: &str,
        meta: &Metadata,
    ) -> Result<Box<dyn Payload>, DecodeError> {
        let candidates = self.named(name);
        let direct = match candidates.last() {
            Some(current) if current.message.version == version => Some(current),
            Some(current)
                if version < current.message.version
                    && current.message.kind == MessageKind::Event =>
            {
                None
            }
            _ => candidates.iter().find(|r| r.message.version == version),
        };
        match direct {
            Some(registration) => (registration.decode_text)(text).map_err(|source| {
                // Text that is not JSON is damage, not a type mismatch: `Malformed`.
                match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                    Err(malformed) => DecodeError::Malformed(malformed),
                    Ok(_) => DecodeError::Data {
                        name: name.to_owned(),
                        version,
                        source,
                    },
                }
            }),
            None => {
                let data = serde_json::from_str(text).map_err(DecodeError::Malformed)?;
                self.decode(name.to_owned(), version, data, meta)
            }
        }
    }

    /// Whether a type with this wire name is registered as an integration event.
    pub(crate) fn is_integration(&self, name: &str) -> bool {
        self.named(name).iter().any(|r| r.message.integration)
    }

    /// Whether any integration event is registered.
    #[cfg_attr(
        not(feature = "amqp"),
        allow(dead_code, reason = "used only by the relay")
    )]
    pub(crate) fn has_integration_events(&self) -> bool {
        self.messages.iter().any(|m| m.message.integration)
    }

    /// The first upcaster registered from this name and version.
    fn upcaster(&self, name: &str, from: u32) -> Option<&'static UpcasterRegistration> {
        let at = self
            .upcasters
            .partition_point(|u| (u.name, u.from) < (name, from));
        self.upcasters
            .get(at)
            .copied()
            .filter(|u| u.name == name && u.from == from)
    }

    /// The upcasters of this name, by the version each reads.
    pub(crate) fn upcasters_of(&self, name: &str) -> &[&'static UpcasterRegistration] {
        let start = self.upcasters.partition_point(|u| u.name < name);
        let end = self.upcasters.partition_point(|u| u.name <= name);
        &self.upcasters[start..end]
    }

    /// Every registered event type's name, version, Rust type and fields, by name and version.
    pub(crate) fn event_schemas(&self) -> Vec<EventSchema> {
        self.messages
            .iter()
            .filter(|m| m.message.kind == MessageKind::Event)
            .map(|m| EventSchema {
                name: m.message.name,
                version: m.message.version,
                rust_type: (m.message.rust_type)(),
                fields: m.schema,
                krate: m.location.krate(),
            })
            .collect()
    }

    /// The upcaster from this name and version: its function's path and the version it
    /// gives.
    #[cfg(feature = "catalog")]
    pub(crate) fn upcaster_from(&self, name: &str, from: u32) -> Option<(&'static str, u32)> {
        self.upcaster(name, from).map(|u| (u.function, u.to))
    }

    /// Every registered message type with its JSON Schema, by name and version.
    #[cfg(feature = "catalog")]
    pub(crate) fn json_schemas(&self) -> Vec<JsonSchemaOf> {
        self.messages
            .iter()
            .map(|m| JsonSchemaOf {
                name: m.message.name,
                version: m.message.version,
                kind: m.message.kind,
                rust_type: (m.message.rust_type)(),
                krate: m.location.krate(),
                schema: m.json_schema,
            })
            .collect()
    }

    /// The registered types with this wire name, oldest version first.
    pub(crate) fn named(&self, name: &str) -> &[&'static MessageRegistration] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }
}

/// An event type's shape, as a schema snapshot records it.
pub(crate) struct EventSchema {
    pub(crate) name: &'static str,
    pub(crate) version: u32,
    pub(crate) rust_type: &'static str,
    /// One line per serde attribute of the type, field or variant, as the derive read them.
    pub(crate) fields: &'static str,
    /// The crate that declares it.
    pub(crate) krate: &'static str,
}

/// A registered message type's JSON Schema, as the catalog's schema snapshot records it.
#[cfg(feature = "catalog")]
pub(crate) struct JsonSchemaOf {
    pub(crate) name: &'static str,
    pub(crate) version: u32,
    pub(crate) kind: MessageKind,
    pub(crate) rust_type: &'static str,
    /// The crate that declares it.
    pub(crate) krate: &'static str,
    pub(crate) schema: Option<crate::messaging::message::SchemaFn>,
}
