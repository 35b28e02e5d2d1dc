//! Context values: typed values a caller attaches to a publish or send, which every follow-up
//! message inherits through its metadata.

use std::any::{Any, TypeId};
use std::sync::{Arc, OnceLock};

/// A value a caller attaches to a message (the current user, a tenant, a request id), read
/// by its handlers with [`Context::get`](crate::Context::get) and inherited by every
/// follow-up message, events and commands alike.
///
/// A value stays in the process unless its type names a CloudEvents extension attribute:
/// then the envelope's JSON form carries it as that attribute's text, and an envelope read
/// from JSON gives it back to [`Metadata::get`](crate::Metadata::get).
///
/// ```
/// use tidings::ContextValue;
///
/// /// Stays in the process: a handle to the caller's session.
/// struct CurrentUser(String);
/// impl ContextValue for CurrentUser {}
///
/// /// Travels on the wire as the `tenantid` extension attribute.
/// #[derive(Debug, PartialEq)]
/// struct TenantId(u32);
/// impl ContextValue for TenantId {
///     const ATTRIBUTE: Option<&'static str> = Some("tenantid");
///     fn to_attribute(&self) -> String {
///         self.0.to_string()
///     }
///     fn from_attribute(text: &str) -> Option<Self> {
///         text.parse().ok().map(TenantId)
///     }
/// }
/// ```
pub trait ContextValue: Send + Sync + Sized + 'static {
    /// The CloudEvents extension attribute that carries the value on the wire: lower-case
    /// ASCII letters and digits, not one of CloudEvents' or tidings' own attributes. `None`
    /// (the default) keeps the value in the process.
    const ATTRIBUTE: Option<&'static str> = None;

    /// The attribute's text; only called when [`ATTRIBUTE`](Self::ATTRIBUTE) is set.
    fn to_attribute(&self) -> String {
        String::new()
    }

    /// Reads the value from its attribute's text; `None` when the text is not valid.
    fn from_attribute(text: &str) -> Option<Self> {
        let _ = text;
        None
    }
}

/// The attributes an extension may not take: CloudEvents' own and tidings'.
const RESERVED: &[&str] = &[
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "datacontenttype",
    "dataschema",
    "subject",
    "data",
    "typeversion",
    "correlationid",
    "causationid",
];

/// The values attached to a message. Empty (no allocation) unless a caller attached some.
#[derive(Clone, Default)]
pub(crate) struct Values(Option<Arc<List>>);

#[derive(Default)]
struct List {
    typed: Vec<Typed>,
    /// Extension attributes read from the wire, turned into typed values on first read.
    wire: Vec<Wire>,
}

#[derive(Clone)]
struct Typed {
    type_id: TypeId,
    rust_type: &'static str,
    value: Arc<dyn Any + Send + Sync>,
    /// The attribute and the value's text, for values that travel.
    attribute: Option<(&'static str, String)>,
}

struct Wire {
    attribute: String,
    text: String,
    parsed: OnceLock<Option<Box<dyn Any + Send + Sync>>>,
}

impl Values {
    /// These values and `value`, which replaces a value of the same type.
    ///
    /// # Panics
    ///
    /// If `T::ATTRIBUTE` is not a valid extension attribute name.
    pub(crate) fn with<T: ContextValue>(&self, value: T) -> Values {
        let attribute = T::ATTRIBUTE.map(|name| {
            check_attribute(name);
            (name, value.to_attribute())
        });
        let mut list = List {
            typed: Vec::new(),
            wire: Vec::new(),
        };
        if let Some(old) = &self.0 {
            list.typed = old.typed.clone();
            list.wire = old.wire.iter().map(Wire::fresh).collect();
        }
        list.typed.retain(|t| t.type_id != TypeId::of::<T>());
        list.typed.push(Typed {
            type_id: TypeId::of::<T>(),
            rust_type: std::any::type_name::<T>(),
            value: Arc::new(value),
            attribute,
        });
        Values(Some(Arc::new(list)))
    }

    /// These values without the value of type `T`, attached or read from the wire.
    #[cfg_attr(
        not(feature = "opentelemetry"),
        allow(dead_code, reason = "used by the trace context's capture")
    )]
    pub(crate) fn without<T: ContextValue>(&self) -> Values {
        let Some(old) = &self.0 else {
            return Values::default();
        };
        let list = List {
            typed: old
                .typed
                .iter()
                .filter(|t| t.type_id != TypeId::of::<T>())
                .cloned()
                .collect(),
            wire: old
                .wire
                .iter()
                .filter(|w| Some(w.attribute.as_str()) != T::ATTRIBUTE)
                .map(Wire::fresh)
                .collect(),
        };
        if list.typed.is_empty() && list.wire.is_empty() {
            return Values::default();
        }
        Values(Some(Arc::new(list)))
    }

    /// Whether no value is attached.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// These values, and those of `defaults` whose type they have no value of (attached, or
    /// read from the wire under the same attribute): a message's own values win over its
    /// bus's.
    pub(crate) fn or(&self, defaults: &Values) -> Values {
        let Some(extra) = defaults.0.as_deref() else {
            return self.clone();
        };
        let Some(own) = self.0.as_deref() else {
            return defaults.clone();
        };
        let missing: Vec<Typed> = extra
            .typed
            .iter()
            .filter(|d| {
                !own.typed.iter().any(|t| t.type_id == d.type_id)
                    && !d
                        .attribute
                        .as_ref()
                        .is_some_and(|(a, _)| own.wire.iter().any(|w| w.attribute == *a))
            })
            .cloned()
            .collect();
        if missing.is_empty() {
            return self.clone();
        }
        let mut typed = own.typed.clone();
        typed.extend(missing);
        Values(Some(Arc::new(List {
            typed,
            wire: own.wire.iter().map(Wire::fresh).collect(),
        })))
    }

    /// Whether a value travels as `attribute`, attached or read from the wire (whether or
    /// not its text reads as a typed value).
    #[cfg_attr(
        not(feature = "opentelemetry"),
        allow(dead_code, reason = "used by the trace context's capture")
    )]
    pub(crate) fn has_attribute(&self, attribute: &str) -> bool {
        let Some(list) = self.0.as_deref() else {
            return false;
        };
        list.typed
            .iter()
            .any(|t| t.attribute.as_ref().is_some_and(|(a, _)| *a == attribute))
            || list.wire.iter().any(|w| w.attribute == attribute)
    }

    /// The values carried by extension attributes read from the wire.
    pub(crate) fn from_wire(attributes: Vec<(String, String)>) -> Values {
        if attributes.is_empty() {
            return Values::default();
        }
        let wire = attributes
            .into_iter()
            .map(|(attribute, text)| Wire {
                attribute,
                text,
                parsed: OnceLock::new(),
            })
            .collect();
        Values(Some(Arc::new(List {
            typed: Vec::new(),
            wire,
        })))
    }

    /// The value of type `T`, attached in the process or read from the wire.
    pub(crate) fn get<T: ContextValue>(&self) -> Option<&T> {
        let list = self.0.as_deref()?;
        if let Some(typed) = list.typed.iter().find(|t| t.type_id == TypeId::of::<T>()) {
            return typed.value.downcast_ref();
        }
        let attribute = T::ATTRIBUTE?;
        let wire = list.wire.iter().find(|w| w.attribute == attribute)?;
        wire.parsed
            .get_or_init(|| {
                T::from_attribute(&wire.text).map(|v| Box::new(v) as Box<dyn Any + Send + Sync>)
            })
            .as_ref()?
            .downcast_ref()
    }

    /// Only the values that travel, as the stores keep them: read back from their attributes.
    pub(crate) fn travelling(&self) -> Values {
        Values::from_wire(
            self.attributes()
                .into_iter()
                .map(|(attribute, text)| (attribute.to_owned(), text.to_owned()))
                .collect(),
        )
    }

    /// The extension attributes the values travel as: attached values first, then those read
    /// from the wire that no attached value replaced.
    pub(crate) fn attributes(&self) -> Vec<(&str, &str)> {
        let Some(list) = self.0.as_deref() else {
            return Vec::new();
        };
        let mut attributes: Vec<(&str, &str)> = list
            .typed
            .iter()
            .filter_map(|t| t.attribute.as_ref().map(|(a, text)| (*a, text.as_str())))
            .collect();
        for wire in &list.wire {
            if !attributes.iter().any(|(a, _)| *a == wire.attribute) {
                attributes.push((&wire.attribute, &wire.text));
            }
        }
        attributes
    }
}

impl Wire {
    fn fresh(&self) -> Wire {
        Wire {
            attribute: self.attribute.clone(),
            text: self.text.clone(),
            parsed: OnceLock::new(),
        }
    }
}

fn check_attribute(name: &'static str) {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && !RESERVED.contains(&name);
    assert!(
        valid,
        "`{name}` cannot be a context value's CloudEvents attribute: use lower-case ASCII letters and digits, and none of {RESERVED:?}"
    );
}

/// Values are equal when they travel as the same attributes: the in-process ones are not part
/// of the message.
impl PartialEq for Values {
    fn eq(&self, other: &Values) -> bool {
        let mut mine = self.attributes();
        let mut theirs = other.attributes();
        mine.sort_unstable();
        theirs.sort_unstable();
        mine == theirs
    }
}

impl Eq for Values {}

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        if let Some(values) = self.0.as_deref() {
            list.entries(values.typed.iter().map(|t| t.rust_type));
            list.entries(values.wire.iter().map(|w| (&w.attribute, &w.text)));
        }
        list.finish()
    }
}
