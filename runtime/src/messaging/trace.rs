//! The W3C trace context of a message: [`TraceParent`] and [`TraceState`], context values
//! that travel as the CloudEvents distributed-tracing extension (the attributes
//! `traceparent` and `tracestate`), so the stores, the relay, the consumer and the feed carry
//! them as they carry every travelling value.
//!
//! With the `opentelemetry` feature the bus fills and reads them:
//!
//! - a message stamped inside a span (published, sent, recorded by an aggregate, or committed
//!   by a unit of work) takes that span's OpenTelemetry context, unless it already carries a
//!   `traceparent`; a follow-up takes the span of the handler that made it, so its own
//!   context replaces the one it inherited from its cause;
//! - the span that dispatches a message carrying one (`tidings.publish`, `tidings.send`, at
//!   the root of a dispatch: an inbox's delivery, a stored event, an envelope read from
//!   JSON) is made its child, unless it is already the current span's own context.
//!
//! Each step first asks whether any subscriber is installed (`tracing`'s global level, one
//! atomic load), then whether the span is enabled: without a subscriber nothing more runs.
//! Without the feature the values pass through untouched, and a follow-up inherits its
//! cause's, as it inherits every context value.

use crate::messaging::values::{ContextValue, Values};
use std::fmt;
use std::str::FromStr;
use tracing::Span;

/// The attribute that carries a [`TraceParent`].
const PARENT: &str = "traceparent";

/// A message's W3C `traceparent` (version, trace id, parent id, flags), carried as the
/// CloudEvents distributed-tracing extension attribute `traceparent`.
///
/// Read it in a handler with `ctx.get::<TraceParent>()`; attach one a request came with
/// (an HTTP header, say) with `bus.with(traceparent)`. With the `opentelemetry` feature the
/// bus takes it from the current span and makes the dispatching span its child (see the
/// README's Tracing section).
///
/// ```
/// use tidings::TraceParent;
///
/// let parent: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse()?;
/// assert_eq!(parent.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(parent.parent_id(), "00f067aa0ba902b7");
/// assert!(parent.sampled());
/// assert!("00-00000000000000000000000000000000-00f067aa0ba902b7-01".parse::<TraceParent>().is_err());
/// # Ok::<(), tidings::TraceContextError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceParent(String);

/// A message's W3C `tracestate` (vendors' entries, `key=value` separated by commas), carried
/// beside its [`TraceParent`] as the attribute `tracestate`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceState(String);

/// Why a text is not a `traceparent` or a `tracestate` of the W3C trace context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a W3C {header}: {reason}")]
pub struct TraceContextError {
    header: &'static str,
    text: String,
    reason: &'static str,
}

impl TraceParent {
    /// The trace id: 32 lower-case hexadecimal digits, not all zero.
    pub fn trace_id(&self) -> &str {
        &self.0[3..35]
    }

    /// The id of the span this message was produced in: 16 lower-case hexadecimal digits.
    pub fn parent_id(&self) -> &str {
        &self.0[36..52]
    }

    /// Whether the producer sampled the trace (the flag `01`).
    pub fn sampled(&self) -> bool {
        u8::from_str_radix(&self.0[53..55], 16).is_ok_and(|flags| flags & 1 == 1)
    }

    /// The header's text, as it arrived or was made.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TraceParent {
    type Err = TraceContextError;

    /// Reads a `traceparent` as the W3C recommendation defines it: version `00` is exactly
    /// `00-{trace id}-{parent id}-{flags}`; a later version may add fields after a `-`.
    fn from_str(text: &str) -> Result<TraceParent, TraceContextError> {
        let fail = |reason| TraceContextError {
            header: PARENT,
            text: text.to_owned(),
            reason,
        };
        let bytes = text.as_bytes();
        if bytes.len() < 55 {
            return Err(fail(
                "it is shorter than the 55 characters of `00-{32 hex}-{16 hex}-{2 hex}`",
            ));
        }
        let hex = |range: std::ops::Range<usize>| {
            bytes[range]
                .iter()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        if !hex(0..2) || !hex(3..35) || !hex(36..52) || !hex(53..55) {
            return Err(fail(
                "its version, ids and flags must be lower-case hexadecimal digits",
            ));
        }
        if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return Err(fail("its fields must be separated by `-`"));
        }
        match &text[0..2] {
            "ff" => return Err(fail("version `ff` is invalid")),
            "00" if bytes.len() != 55 => {
                return Err(fail("version `00` must have exactly 55 characters"))
            }
            _ if bytes.len() > 55 && bytes[55] != b'-' => {
                return Err(fail("a later version's further fields must follow a `-`"))
            }
            _ => {}
        }
        if bytes[3..35].iter().all(|b| *b == b'0') {
            return Err(fail("its trace id is all zeros"));
        }
        if bytes[36..52].iter().all(|b| *b == b'0') {
            return Err(fail("its parent id is all zeros"));
        }
        Ok(TraceParent(text.to_owned()))
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ContextValue for TraceParent {
    const ATTRIBUTE: Option<&'static str> = Some(PARENT);

    fn to_attribute(&self) -> String {
        self.0.clone()
    }

    fn from_attribute(text: &str) -> Option<TraceParent> {
        text.parse().ok()
    }
}

impl TraceState {
    /// The header's text: the vendors' entries, `key=value` separated by commas.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TraceState {
    type Err = TraceContextError;

    /// Reads a `tracestate`: at most 32 entries, each `key=value` with a key, separated by
    /// commas (spaces and tabs around them allowed), at least one of them.
    fn from_str(text: &str) -> Result<TraceState, TraceContextError> {
        let fail = |reason| TraceContextError {
            header: "tracestate",
            text: text.to_owned(),
            reason,
        };
        let entries: Vec<&str> = text
            .split(',')
            .map(|entry| entry.trim_matches([' ', '\t']))
            .filter(|entry| !entry.is_empty())
            .collect();
        if entries.is_empty() {
            return Err(fail("it has no entry"));
        }
        if entries.len() > 32 {
            return Err(fail("it has more than 32 entries"));
        }
        if !text.is_ascii() || text.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(fail("it must be printable ASCII"));
        }
        if entries
            .iter()
            .any(|entry| entry.split_once('=').is_none_or(|(key, _)| key.is_empty()))
        {
            return Err(fail("each entry must be `key=value`"));
        }
        Ok(TraceState(text.to_owned()))
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ContextValue for TraceState {
    const ATTRIBUTE: Option<&'static str> = Some("tracestate");

    fn to_attribute(&self) -> String {
        self.0.clone()
    }

    fn from_attribute(text: &str) -> Option<TraceState> {
        text.parse().ok()
    }
}

/// The values of a message stamped at the root of a conversation (`values` are what the
/// caller attached): with the `opentelemetry` feature and a subscriber, the current span's
/// trace context joins them unless they carry a `traceparent` already.
#[inline(always)]
pub(crate) fn root(values: Values) -> Values {
    #[cfg(feature = "opentelemetry")]
    if tracing::level_enabled!(tracing::Level::ERROR) {
        return otel::root(values);
    }
    values
}

/// The values of a follow-up of the message whose values are `cause`: with the
/// `opentelemetry` feature and a subscriber, the current span's trace context (the handler's)
/// replaces the cause's; otherwise they are the cause's.
#[inline(always)]
pub(crate) fn follow_up(cause: &Values) -> Values {
    #[cfg(feature = "opentelemetry")]
    if tracing::level_enabled!(tracing::Level::ERROR) {
        return otel::follow_up(cause);
    }
    cause.clone()
}

/// Gives an event committed by a unit of work the current span's trace context, when it
/// has none (it was recorded outside any span).
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the backends that run units of work")
)]
#[inline(always)]
pub(crate) fn commit(values: &mut Values) {
    #[cfg(feature = "opentelemetry")]
    if tracing::level_enabled!(tracing::Level::ERROR) {
        *values = otel::root(std::mem::take(values));
    }
    #[cfg(not(feature = "opentelemetry"))]
    let _ = values;
}

/// Makes `span`, the root span of a message's dispatch, a child of the trace context in the
/// message's `values`, with the `opentelemetry` feature (and only when the span is enabled).
#[inline(always)]
pub(crate) fn adopt(span: &Span, values: &Values) {
    #[cfg(feature = "opentelemetry")]
    if !span.is_disabled() {
        otel::adopt(span, values);
    }
    #[cfg(not(feature = "opentelemetry"))]
    let _ = (span, values);
}

/// What the `opentelemetry` feature adds: the trace context taken from spans and given back
/// to them, through `tracing-opentelemetry`.
#[cfg(feature = "opentelemetry")]
mod otel {
    use super::{TraceParent, TraceState, PARENT};
    use crate::messaging::values::Values;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState as OtelState,
    };
    use opentelemetry::Context;
    use tracing::Span;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    /// The OpenTelemetry context of the current span, or the current OpenTelemetry context
    /// when no `tracing` span is entered; `None` when neither holds a valid span.
    fn current() -> Option<SpanContext> {
        let span = Span::current();
        let context = if span.is_disabled() {
            Context::current()
        } else {
            span.context()
        };
        let span_context = context.span().span_context().clone();
        span_context.is_valid().then_some(span_context)
    }

    /// `values` with the trace context of `span_context` in place of any they carried.
    fn with_context(values: &Values, span_context: &SpanContext) -> Values {
        let parent = TraceParent(format!(
            "00-{:032x}-{:016x}-{:02x}",
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8()
        ));
        let state = span_context.trace_state().header();
        let values = values.with(parent);
        if state.is_empty() {
            values.without::<TraceState>()
        } else {
            values.with(TraceState(state))
        }
    }

    #[inline(never)]
    pub(super) fn root(values: Values) -> Values {
        if values.has_attribute(PARENT) {
            return values;
        }
        match current() {
            Some(span_context) => with_context(&values, &span_context),
            None => values,
        }
    }

    #[inline(never)]
    pub(super) fn follow_up(cause: &Values) -> Values {
        match current() {
            Some(span_context) => with_context(cause, &span_context),
            None => cause.clone(),
        }
    }

    #[inline(never)]
    pub(super) fn adopt(span: &Span, values: &Values) {
        let Some(parent) = values.get::<TraceParent>() else {
            return;
        };
        let (Ok(trace_id), Ok(span_id), Ok(flags)) = (
            TraceId::from_hex(parent.trace_id()),
            SpanId::from_hex(parent.parent_id()),
            u8::from_str_radix(&parent.0[53..55], 16),
        ) else {
            return;
        };
        if current().is_some_and(|own| own.trace_id() == trace_id && own.span_id() == span_id) {
            // Produced in the span this dispatch is already a child of.
            return;
        }
        let state = values
            .get::<TraceState>()
            .and_then(|state| state.as_str().parse::<OtelState>().ok())
            .unwrap_or_default();
        let remote = SpanContext::new(trace_id, span_id, TraceFlags::new(flags), true, state);
        // Fails only when the subscriber has no OpenTelemetry layer: nothing to parent then.
        let _ = span.set_parent(Context::new().with_remote_span_context(remote));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_traceparent_is_read_as_the_w3c_recommendation_defines_it() {
        let parent: TraceParent = VALID.parse().unwrap();
        assert_eq!(parent.as_str(), VALID);
        assert!(!"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
            .parse::<TraceParent>()
            .unwrap()
            .sampled());
        // A later version may carry more fields.
        assert!(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later"
                .parse::<TraceParent>()
                .is_ok()
        );
        for (text, reason) in [
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                "shorter",
            ),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                "lower-case",
            ),
            (
                "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
                "separated",
            ),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "`ff`",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
                "exactly 55",
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
                "follow a `-`",
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "trace id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                "parent id",
            ),
        ] {
            let error = text.parse::<TraceParent>().unwrap_err().to_string();
            assert!(error.contains(reason), "{text}: {error}");
            assert!(error.contains(text), "{error}");
        }
    }

    #[test]
    fn a_tracestate_is_a_list_of_entries() {
        assert_eq!(
            "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE"
                .parse::<TraceState>()
                .unwrap()
                .as_str(),
            "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE"
        );
        for (text, reason) in [
            ("", "no entry"),
            (" , ", "no entry"),
            ("rojo", "`key=value`"),
            ("=value", "`key=value`"),
            ("rojo=\u{7}", "printable"),
        ] {
            let error = text.parse::<TraceState>().unwrap_err().to_string();
            assert!(error.contains(reason), "{text:?}: {error}");
        }
        let many = vec!["k=v"; 33].join(",");
        assert!(many.parse::<TraceState>().is_err());
    }

    #[test]
    fn the_trace_context_travels_as_its_attributes() {
        let values = Values::default()
            .with(VALID.parse::<TraceParent>().unwrap())
            .with("rojo=1".parse::<TraceState>().unwrap());
        let mut attributes = values.attributes();
        attributes.sort_unstable();
        assert_eq!(
            attributes,
            [("traceparent", VALID), ("tracestate", "rojo=1")]
        );
        // Read back from the wire, typed.
        let read = values.travelling();
        assert_eq!(
            read.get::<TraceParent>().map(TraceParent::as_str),
            Some(VALID)
        );
        // A text that is not a traceparent passes through untouched, and reads as none.
        let odd = Values::from_wire(vec![("traceparent".into(), "not one".into())]);
        assert_eq!(odd.get::<TraceParent>(), None);
        assert_eq!(odd.attributes(), [("traceparent", "not one")]);
    }
}
