//! Test support: record what was published, assert on it, and leave out or replace handlers.
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

use crate::messaging::bus::BusBuilder;
use crate::messaging::dispatch::AnyEvent;
use crate::messaging::error::BoxError;
use crate::messaging::registry::HandlerResult;
use crate::{AnyEnvelope, DomainEvent, Envelope, Message, Request};
use std::any::{Any, TypeId};
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
    /// An empty recorder; give it to [`BusBuilder::record`].
    pub fn new() -> Recorder {
        Recorder::default()
    }

    pub(crate) fn record(&self, event: &dyn AnyEvent) {
        let json = event.to_json().map_err(|e| e.to_string());
        self.lock().push(Recorded {
            name: event.name(),
            json,
        });
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

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("events", &self.names())
            .finish()
    }
}

/// A test's stand-in for a registered handler.
#[doc(hidden)]
pub struct Replacement {
    message: TypeId,
    message_name: &'static str,
    call: ReplacementFn,
}

type EventReplacement = Box<dyn Fn(&(dyn Any + Send + Sync)) -> HandlerResult + Send + Sync>;
type RequestReplacement = Box<dyn Fn(&mut (dyn Any + Send), &mut (dyn Any + Send)) + Send + Sync>;

enum ReplacementFn {
    Event(EventReplacement),
    Request(RequestReplacement),
}

impl std::fmt::Debug for Replacement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replacement")
            .field("message", &self.message_name)
            .finish_non_exhaustive()
    }
}

impl Replacement {
    pub(crate) fn message_type(&self) -> TypeId {
        self.message
    }

    pub(crate) fn message_name(&self) -> &'static str {
        self.message_name
    }

    pub(crate) fn call_event(&self, envelope: &(dyn Any + Send + Sync)) -> HandlerResult {
        match &self.call {
            ReplacementFn::Event(f) => f(envelope),
            ReplacementFn::Request(_) => {
                unreachable!("validated by build(): the message types match")
            }
        }
    }

    pub(crate) fn call_request(&self, input: &mut (dyn Any + Send), output: &mut (dyn Any + Send)) {
        match &self.call {
            ReplacementFn::Request(f) => f(input, output),
            ReplacementFn::Event(_) => {
                unreachable!("validated by build(): the message types match")
            }
        }
    }
}

/// Builder options for tests.
impl BusBuilder {
    /// Records every dispatched event envelope in `recorder`.
    pub fn record(mut self, recorder: &Recorder) -> Self {
        self.recorder = Some(recorder.clone());
        self
    }

    /// Leaves the handler named `handler` out of the table (its dependencies are then not
    /// needed). `build()` fails if no handler has this name.
    pub fn without(mut self, handler: impl Into<String>) -> Self {
        self.without.push(handler.into());
        self
    }

    /// Runs `replacement` instead of the event handler named `handler`.
    pub fn replace_event<E, F>(mut self, handler: impl Into<String>, replacement: F) -> Self
    where
        E: DomainEvent,
        F: Fn(&Envelope<E>) -> Result<(), BoxError> + Send + Sync + 'static,
    {
        let call: EventReplacement = Box::new(move |envelope| {
            replacement(crate::__private::downcast_envelope::<E>(envelope))
        });
        self.replacements.push((
            handler.into(),
            Arc::new(Replacement {
                message: TypeId::of::<E>(),
                message_name: E::NAME,
                call: ReplacementFn::Event(call),
            }),
        ));
        self
    }

    /// Runs `replacement` instead of the command or query handler named `handler`.
    pub fn replace_request<R, F>(mut self, handler: impl Into<String>, replacement: F) -> Self
    where
        R: Request,
        F: Fn(R) -> Result<R::Output, R::Error> + Send + Sync + 'static,
    {
        let call: RequestReplacement = Box::new(move |input, output| {
            let message = crate::__private::take_request::<R>(input);
            crate::__private::put_result::<R>(output, replacement(message));
        });
        self.replacements.push((
            handler.into(),
            Arc::new(Replacement {
                message: TypeId::of::<R>(),
                message_name: <R as Message>::NAME,
                call: ReplacementFn::Request(call),
            }),
        ));
        self
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
                "{} `{}` matching `{}`; recorded events: {:?}",
                if $expected { "no recorded" } else { "unexpectedly recorded a" },
                ::core::stringify!($($ty)::+),
                ::core::stringify!($pattern $(if $guard)?),
                $recorder.names(),
            );
        }
    }};
}
