//! Upcasters: what `#[upcaster]` registers, and how a chain of them turns an event's older
//! data into its current type.
//!
//! Between steps the event is either JSON or a typed payload, so a typed upcaster that
//! follows another reads its output without a JSON round trip.

use crate::messaging::bus::location::Location;
use crate::messaging::bus::reference::MessageRef;
use crate::messaging::cloudevents::DecodeError;
use crate::messaging::envelope::Metadata;
use crate::messaging::error::BoxError;
use crate::messaging::message::DomainEvent;
use crate::messaging::payload::Payload;
use std::any::Any;
use std::marker::PhantomData;

/// An upcaster, as registered by `#[upcaster]`.
#[doc(hidden)]
#[derive(Debug)]
pub struct UpcasterRegistration {
    /// The function's module path and name.
    pub(super) function: &'static str,
    pub(super) name: &'static str,
    pub(super) from: u32,
    pub(super) to: u32,
    /// The old and the new event type of a typed upcaster; `None` for a JSON one.
    pub(super) types: Option<(MessageRef, MessageRef)>,
    /// The user's function, as a `fn(A) -> R`.
    call: &'static (dyn Any + Send + Sync),
    step: Step,
    pub(super) location: Location,
}

type Erased = Box<dyn Any>;

/// How to run the user's function on a stage. The typed form is three functions, each made
/// where its one bound is checked, so that a failed bound is reported once, at its type.
#[derive(Debug, Clone, Copy)]
enum Step {
    Typed {
        read: fn(Stage) -> Result<Erased, StepError>,
        apply: fn(&'static (dyn Any + Send + Sync), Erased, &Metadata) -> Erased,
        write: fn(Erased) -> Result<Stage, StepError>,
    },
    Json(fn(&'static (dyn Any + Send + Sync), Stage, &Metadata) -> Result<Stage, StepError>),
}

impl UpcasterRegistration {
    /// A typed upcaster: `fn(OldEvent) -> NewEvent` (or `Result<NewEvent, E>`).
    pub const fn typed<A: 'static, R: 'static>(
        call: &'static fn(A) -> R,
        input: UpcastInput<A>,
        output: UpcastInto<R>,
        function: &'static str,
        location: Location,
    ) -> Self {
        Self::typed_step(call, input, output, apply::<A, R>, function, location)
    }

    /// A typed upcaster that also reads the envelope's metadata:
    /// `fn(OldEvent, &Metadata) -> NewEvent` (or `Result<NewEvent, E>`).
    pub const fn typed_with_metadata<A: 'static, R: 'static>(
        call: &'static fn(A, &Metadata) -> R,
        input: UpcastInput<A>,
        output: UpcastInto<R>,
        function: &'static str,
        location: Location,
    ) -> Self {
        let apply = apply_with_metadata::<A, R>;
        Self::typed_step(call, input, output, apply, function, location)
    }

    /// Either typed form, given how to apply its function.
    const fn typed_step<A, R>(
        call: &'static (dyn Any + Send + Sync),
        input: UpcastInput<A>,
        output: UpcastInto<R>,
        apply: fn(&'static (dyn Any + Send + Sync), Erased, &Metadata) -> Erased,
        function: &'static str,
        location: Location,
    ) -> Self {
        UpcasterRegistration {
            function,
            name: input.message.name,
            from: input.message.version,
            to: output.message.version,
            types: Some((input.message, output.message)),
            call,
            step: Step::Typed {
                read: input.read,
                apply,
                write: output.write,
            },
            location,
        }
    }

    /// A JSON upcaster that also reads the envelope's metadata:
    /// `fn(serde_json::Value, &Metadata) -> Value` (or `Result<Value, E>`).
    pub const fn json_with_metadata<R: 'static>(
        call: &'static fn(serde_json::Value, &Metadata) -> R,
        output: JsonInto<R>,
        name: &'static str,
        from: u32,
        to: u32,
        function: &'static str,
        location: Location,
    ) -> Self {
        let step = Step::Json(output.step_with_metadata);
        Self::json_step(call, step, name, from, to, function, location)
    }

    /// A JSON upcaster: `fn(serde_json::Value) -> Value` (or `Result<Value, E>`).
    pub const fn json<R: 'static>(
        call: &'static fn(serde_json::Value) -> R,
        output: JsonInto<R>,
        name: &'static str,
        from: u32,
        to: u32,
        function: &'static str,
        location: Location,
    ) -> Self {
        let step = Step::Json(output.step);
        Self::json_step(call, step, name, from, to, function, location)
    }

    /// Either JSON form, given how to run its function.
    const fn json_step(
        call: &'static (dyn Any + Send + Sync),
        step: Step,
        name: &'static str,
        from: u32,
        to: u32,
        function: &'static str,
        location: Location,
    ) -> Self {
        UpcasterRegistration {
            function,
            name,
            from,
            to,
            types: None,
            call,
            step,
            location,
        }
    }

    fn run(&self, stage: Stage, meta: &Metadata) -> Result<Stage, StepError> {
        match self.step {
            Step::Typed { read, apply, write } => write(apply(self.call, read(stage)?, meta)),
            Step::Json(step) => step(self.call, stage, meta),
        }
    }
}

/// The old event of a typed upcaster: where its `DomainEvent` bound is checked.
#[doc(hidden)]
#[derive(Debug)]
pub struct UpcastInput<A> {
    message: MessageRef,
    read: fn(Stage) -> Result<Erased, StepError>,
    _type: PhantomData<fn() -> A>,
}

/// What a JSON upcaster returns: where its `JsonUpcastOutput` bound is checked.
#[doc(hidden)]
#[derive(Debug)]
pub struct JsonInto<R> {
    step: fn(&'static (dyn Any + Send + Sync), Stage, &Metadata) -> Result<Stage, StepError>,
    step_with_metadata:
        fn(&'static (dyn Any + Send + Sync), Stage, &Metadata) -> Result<Stage, StepError>,
    _type: PhantomData<fn() -> R>,
}

/// What a JSON upcaster returns, where its bound is checked.
pub const fn json_output<R: JsonUpcastOutput>() -> JsonInto<R> {
    JsonInto {
        step: json_step::<R>,
        step_with_metadata: json_step_with_metadata::<R>,
        _type: PhantomData,
    }
}

/// The old event of a typed upcaster, where its bound is checked.
pub const fn upcast_input<A: OldEvent>() -> UpcastInput<A> {
    UpcastInput {
        message: MessageRef::of::<A>(),
        read: read::<A>,
        _type: PhantomData,
    }
}

/// What a typed upcaster reads: an event.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event an upcaster can read",
    label = "expected an older version of an event",
    note = "an upcaster takes an event type that derives `DomainEvent`, with the same `name` as the type it returns and a lower `version`"
)]
pub trait OldEvent: DomainEvent {}

impl<E: DomainEvent> OldEvent for E {}

/// What a typed upcaster returns: where its `UpcastOutput` bound is checked.
#[doc(hidden)]
#[derive(Debug)]
pub struct UpcastInto<R> {
    message: MessageRef,
    write: fn(Erased) -> Result<Stage, StepError>,
    _type: PhantomData<fn() -> R>,
}

/// What a typed upcaster returns, where its bound is checked.
pub const fn upcast_output<R: UpcastOutput>() -> UpcastInto<R> {
    UpcastInto {
        message: MessageRef::of::<R::Event>(),
        write: write::<R>,
        _type: PhantomData,
    }
}

inventory::collect!(UpcasterRegistration);

/// What a typed upcaster returns: the later event, or a `Result` of it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not what an upcaster returns",
    label = "expected the event's later version, or a `Result` of it",
    note = "an upcaster returns the new event type (`-> OrderStarted`), or `Result<OrderStarted, E>` when it can fail; both types derive `DomainEvent` with the same `name`"
)]
pub trait UpcastOutput: 'static {
    /// The event type the upcaster makes.
    type Event: DomainEvent;
    #[doc(hidden)]
    fn into_event(self) -> Result<Self::Event, BoxError>;
}

impl<E: DomainEvent> UpcastOutput for E {
    type Event = E;
    fn into_event(self) -> Result<E, BoxError> {
        Ok(self)
    }
}

impl<E: DomainEvent, X: Into<BoxError> + 'static> UpcastOutput for Result<E, X> {
    type Event = E;
    fn into_event(self) -> Result<E, BoxError> {
        self.map_err(Into::into)
    }
}

/// What a JSON upcaster returns: the later data, or a `Result` of it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not what a JSON upcaster returns",
    label = "expected `serde_json::Value` or `Result<serde_json::Value, E>`",
    note = "an upcaster with `name`, `from` and `to` turns the old data into the new: `fn(data: Value) -> Result<Value, E>`"
)]
pub trait JsonUpcastOutput: 'static {
    #[doc(hidden)]
    fn into_value(self) -> Result<serde_json::Value, BoxError>;
}

impl JsonUpcastOutput for serde_json::Value {
    fn into_value(self) -> Result<serde_json::Value, BoxError> {
        Ok(self)
    }
}

impl<X: Into<BoxError> + 'static> JsonUpcastOutput for Result<serde_json::Value, X> {
    fn into_value(self) -> Result<serde_json::Value, BoxError> {
        self.map_err(Into::into)
    }
}

/// The event between two steps of a chain.
pub(crate) enum Stage {
    Json(serde_json::Value),
    Typed(Box<dyn Payload>),
}

impl Stage {
    fn into_json(self) -> serde_json::Result<serde_json::Value> {
        match self {
            Stage::Json(value) => Ok(value),
            Stage::Typed(payload) => payload.to_json(),
        }
    }
}

pub(crate) enum StepError {
    /// The data did not fit the step's input type.
    Data(serde_json::Error),
    /// The upcaster returned an error.
    Failed(BoxError),
}

fn read<A: DomainEvent>(stage: Stage) -> Result<Erased, StepError> {
    match stage {
        Stage::Typed(payload) if payload.as_any().is::<A>() => Ok(payload.into_any()),
        other => {
            let json = other.into_json().map_err(StepError::Data)?;
            let old: A = serde_json::from_value(json).map_err(StepError::Data)?;
            Ok(Box::new(old))
        }
    }
}

fn apply<A: 'static, R: 'static>(
    call: &'static (dyn Any + Send + Sync),
    old: Erased,
    _: &Metadata,
) -> Erased {
    let call = call
        .downcast_ref::<fn(A) -> R>()
        .expect("registered with this type");
    let old = old.downcast::<A>().expect("read as this type");
    Box::new(call(*old))
}

fn apply_with_metadata<A: 'static, R: 'static>(
    call: &'static (dyn Any + Send + Sync),
    old: Erased,
    meta: &Metadata,
) -> Erased {
    let call = call
        .downcast_ref::<fn(A, &Metadata) -> R>()
        .expect("registered with this type");
    let old = old.downcast::<A>().expect("read as this type");
    Box::new(call(*old, meta))
}

fn write<R: UpcastOutput>(new: Erased) -> Result<Stage, StepError> {
    let new = new.downcast::<R>().expect("made by this upcaster");
    let event = new.into_event().map_err(StepError::Failed)?;
    Ok(Stage::Typed(Box::new(event)))
}

fn json_step<R: JsonUpcastOutput>(
    call: &'static (dyn Any + Send + Sync),
    stage: Stage,
    _: &Metadata,
) -> Result<Stage, StepError> {
    let call = call
        .downcast_ref::<fn(serde_json::Value) -> R>()
        .expect("registered with this type");
    let old = stage.into_json().map_err(StepError::Data)?;
    let new = call(old).into_value().map_err(StepError::Failed)?;
    Ok(Stage::Json(new))
}

fn json_step_with_metadata<R: JsonUpcastOutput>(
    call: &'static (dyn Any + Send + Sync),
    stage: Stage,
    meta: &Metadata,
) -> Result<Stage, StepError> {
    let call = call
        .downcast_ref::<fn(serde_json::Value, &Metadata) -> R>()
        .expect("registered with this type");
    let old = stage.into_json().map_err(StepError::Data)?;
    let new = call(old, meta).into_value().map_err(StepError::Failed)?;
    Ok(Stage::Json(new))
}

/// The current type of an event: the one older data is upcast into.
pub(crate) struct Current {
    pub(crate) message: MessageRef,
    /// Decodes the current type from JSON text.
    pub(crate) decode: fn(&str) -> serde_json::Result<Box<dyn Payload>>,
}

/// Upcasts `data` of `version` step by step (`next` finds the upcaster from a version), then
/// decodes it into the current type.
pub(crate) fn upcast<'a>(
    name: String,
    version: u32,
    data: serde_json::Value,
    meta: &Metadata,
    current: Current,
    next: impl Fn(u32) -> Option<&'a UpcasterRegistration>,
) -> Result<Box<dyn Payload>, DecodeError> {
    let to = current.message.version;
    let mut stage = Stage::Json(data);
    let mut at = version;
    while at < to {
        // An upcaster beyond the current version is a `build()` problem; here it leads nowhere.
        let Some(step) = next(at).filter(|step| step.to > at && step.to <= to) else {
            return Err(DecodeError::MissingUpcaster { name, from: at, to });
        };
        stage = step.run(stage, meta).map_err(|error| match error {
            StepError::Data(source) => DecodeError::Data {
                name: name.clone(),
                version: at,
                source,
            },
            StepError::Failed(source) => DecodeError::UpcasterFailed {
                name: name.clone(),
                from: at,
                to: step.to,
                upcaster: step.function,
                source,
            },
        })?;
        at = step.to;
    }
    let data_error = |source| DecodeError::Data {
        name: name.clone(),
        version: to,
        source,
    };
    match stage {
        Stage::Typed(payload) if (*payload.as_any()).type_id() == current.message.type_id() => {
            Ok(payload)
        }
        other => {
            let json = other.into_json().map_err(data_error)?;
            crate::messaging::payload::decode_value(current.decode, &json).map_err(data_error)
        }
    }
}
