//! Test support: record what was published, assert on it, leave out or replace handlers, keep
//! a [`SchemaSnapshot`] of the events' fields, and test aggregates given/when/then
//! ([`given`]).
//!
//! The bus builder's options for tests (`record`, `replace_event`, `replace_request`) come
//! with the feature `testing`, which a crate turns on for its tests only:
//! `tidings = { version = "..", features = ["testing"] }` under `[dev-dependencies]`.
//!
//! ```
//! use tidings::testing::Recorder;
//! use tidings::{assert_published, Bus, DomainEvent};
//!
//! #[derive(DomainEvent, Debug)]
//! #[event(name = "docs.door_opened")]
//! struct DoorOpened { door: u32 }
//!
//! let recorder = Recorder::new();
//! let bus = Bus::builder().record(&recorder).build()?;
//! bus.publish_sync(DoorOpened { door: 7 })?;
//! assert_published!(recorder, DoorOpened { door: 7 });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod given;
mod process;
mod schemas;

pub use given::{given, Given, Then};
pub use process::{given_process, ProcessThen};
pub use schemas::{SchemaChange, SchemaDrift, SchemaSnapshot, OVERWRITE_VAR};

use crate::messaging::bus::ports::{EnvelopeRef, Observer};
use crate::{AnyEnvelope, DomainEvent, Envelope};
use std::sync::{Arc, Mutex, PoisonError};

/// Captures every event envelope the bus dispatches (including follow-ups), in order.
#[derive(Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<Recorded>>>,
}

struct Recorded {
    name: &'static str,
    json: Result<serde_json::Value, String>,
}

impl Recorder {
    /// An empty recorder; give it to [`BusBuilder::record`](crate::BusBuilder::record).
    pub fn new() -> Recorder {
        Recorder::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Recorded>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The wire names of the recorded events, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.lock().iter().map(|r| r.name).collect()
    }

    /// How many events were recorded.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Every recorded event, one a line: its name and its payload as JSON. What the assertion
    /// macros print when they fail.
    pub fn describe(&self) -> String {
        let recorded = self.lock();
        if recorded.is_empty() {
            return " (none)".to_owned();
        }
        let mut out = String::new();
        for (i, r) in recorded.iter().enumerate() {
            let payload = match &r.json {
                Ok(json) => json.get("data").map_or_else(String::new, |d| d.to_string()),
                Err(error) => format!("(did not serialize: {error})"),
            };
            out.push_str(&format!("\n  {}. {} {payload}", i + 1, r.name));
        }
        out
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The recorded envelopes of type `E`, decoded back from their JSON form (which also
    /// checks that they survive serialization).
    ///
    /// # Panics
    ///
    /// If a recorded `E` does not serialize or deserialize: the test should fail there.
    pub fn of<E: DomainEvent>(&self) -> Vec<Envelope<E>> {
        self.lock()
            .iter()
            .filter(|r| r.name == E::NAME)
            .map(|r| {
                let json = r
                    .json
                    .as_ref()
                    .unwrap_or_else(|e| panic!("`{}` did not serialize: {e}", r.name));
                Envelope::from_value(json.clone())
                    .unwrap_or_else(|e| panic!("recorded `{}` did not decode: {e}", r.name))
            })
            .collect()
    }

    /// Every recorded envelope, decoded through the registry.
    ///
    /// # Panics
    ///
    /// If a recorded envelope does not round-trip through JSON.
    pub fn all(&self) -> Vec<AnyEnvelope> {
        self.lock()
            .iter()
            .map(|r| {
                let json = r
                    .json
                    .as_ref()
                    .unwrap_or_else(|e| panic!("`{}` did not serialize: {e}", r.name));
                AnyEnvelope::from_value(json.clone())
                    .unwrap_or_else(|e| panic!("recorded `{}` did not decode: {e}", r.name))
            })
            .collect()
    }
}

/// The recorder is an observer of the bus: it sees every dispatched envelope.
impl Observer for Recorder {
    fn dispatched(&self, event: EnvelopeRef<'_>) {
        let json = event.to_json().map_err(|e| e.to_string());
        self.lock().push(Recorded {
            name: event.name(),
            json,
        });
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("events", &self.names())
            .finish()
    }
}

/// Builder options for tests (feature `testing`).
#[cfg(feature = "testing")]
impl crate::BusBuilder {
    /// Records every dispatched event envelope in `recorder`.
    pub fn record(self, recorder: &Recorder) -> Self {
        self.observe(recorder.clone())
    }

    /// Runs `replacement` instead of the event handler named `handler`.
    #[track_caller]
    pub fn replace_event<E, F>(self, handler: impl Into<String>, replacement: F) -> Self
    where
        E: DomainEvent,
        F: Fn(&Envelope<E>) -> Result<(), crate::BoxError> + Send + Sync + 'static,
    {
        let closure: crate::messaging::bus::call::EventClosure<E> = Arc::new(replacement);
        self.replace(crate::messaging::bus::build::Replacement {
            handler: handler.into(),
            message: std::any::TypeId::of::<E>(),
            message_name: E::NAME,
            closure: Arc::new(closure),
            location: crate::Location::caller(),
        })
    }

    /// Runs `replacement` instead of the command or query handler named `handler`.
    #[track_caller]
    pub fn replace_request<R, F>(self, handler: impl Into<String>, replacement: F) -> Self
    where
        R: crate::Request,
        F: Fn(R) -> Result<R::Output, R::Error> + Send + Sync + 'static,
    {
        let closure: crate::messaging::bus::call::RequestClosure<R> = Arc::new(replacement);
        self.replace(crate::messaging::bus::build::Replacement {
            handler: handler.into(),
            message: std::any::TypeId::of::<R>(),
            message_name: <R as crate::Message>::NAME,
            closure: Arc::new(closure),
            location: crate::Location::caller(),
        })
    }
}

/// Asserts that a [`Recorder`] captured an event of the given type, optionally matching a
/// pattern (and a guard).
///
/// `assert_published!(recorder, OrderStarted)`,
/// `assert_published!(recorder, OrderStarted { order_id: 7, .. })`,
/// `assert_published!(recorder, OrderStarted { total, .. } if *total > 100)`,
/// `assert_published!(recorder, Ticked(3))`.
#[macro_export]
macro_rules! assert_published {
    ($recorder:expr, $($ty:ident)::+ $(if $guard:expr)?) => {
        $crate::__assert_recorded!(true, $recorder, [$($ty)::+], _ $(if $guard)?)
    };
    ($recorder:expr, $($ty:ident)::+ { $($fields:tt)* } $(if $guard:expr)?) => {
        $crate::__assert_recorded!(true, $recorder, [$($ty)::+], $($ty)::+ { $($fields)* } $(if $guard)?)
    };
    ($recorder:expr, $($ty:ident)::+ ( $($fields:tt)* ) $(if $guard:expr)?) => {
        $crate::__assert_recorded!(true, $recorder, [$($ty)::+], $($ty)::+ ( $($fields)* ) $(if $guard)?)
    };
}

/// Asserts that a [`Recorder`] captured no event of the given type (or none matching the
/// pattern); the forms are those of [`assert_published!`].
#[macro_export]
macro_rules! assert_not_published {
    ($recorder:expr, $($ty:ident)::+ $(if $guard:expr)?) => {
        $crate::__assert_recorded!(false, $recorder, [$($ty)::+], _ $(if $guard)?)
    };
    ($recorder:expr, $($ty:ident)::+ { $($fields:tt)* } $(if $guard:expr)?) => {
        $crate::__assert_recorded!(false, $recorder, [$($ty)::+], $($ty)::+ { $($fields)* } $(if $guard)?)
    };
    ($recorder:expr, $($ty:ident)::+ ( $($fields:tt)* ) $(if $guard:expr)?) => {
        $crate::__assert_recorded!(false, $recorder, [$($ty)::+], $($ty)::+ ( $($fields)* ) $(if $guard)?)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __assert_recorded {
    ($expected:literal, $recorder:expr, [$($ty:ident)::+], $pattern:pat $(if $guard:expr)?) => {{
        let recorded = $recorder.of::<$($ty)::+>();
        #[allow(unused_variables, unreachable_patterns)]
        let found = recorded.iter().any(|envelope| match envelope.payload() {
            $pattern $(if $guard)? => true,
            _ => false,
        });
        if found != $expected {
            ::core::panic!(
                "{} `{}` matching `{}`; recorded events:{}",
                if $expected { "no recorded" } else { "unexpectedly recorded a" },
                ::core::stringify!($($ty)::+),
                ::core::stringify!($pattern $(if $guard)?),
                $recorder.describe(),
            );
        }
    }};
}
