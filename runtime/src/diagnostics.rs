//! Traits whose only job is a compile error that says what to write, for mistakes the macros
//! cannot see in the tokens (they depend on types). Used by generated code only.

/// What `error = E` of a command or query may name.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an error type: `error = E` names a type that implements `std::error::Error + Send + Sync + 'static`",
    label = "not a `std::error::Error + Send + Sync + 'static`",
    note = "`anyhow::Error` and `Box<dyn Error>` do not implement `std::error::Error`; wrap one in an error type of your own: `#[derive(Debug, thiserror::Error)] #[error(transparent)] pub struct PlaceOrderError(#[from] anyhow::Error);`"
)]
pub trait RequestError: std::error::Error + Send + Sync + 'static {}

impl<E: std::error::Error + Send + Sync + 'static> RequestError for E {}

/// Names `E` where the derive checks it, so that a type that is not an error is reported at
/// the `error = E` the user wrote.
pub const fn request_error<E: RequestError>() {}

/// What a command or query handler may return: its message's declared reply.
#[diagnostic::on_unimplemented(
    message = "a handler of `{M}` returns `{Declared}`, not `{Self}`",
    label = "return `{Declared}` here",
    note = "a handler returns the declared `output` itself, or `Result<output, error>` when its message declares an `error` (`#[command(output = T, error = E)]`)"
)]
pub trait HandlerReply<M, Declared> {
    /// The reply itself.
    fn into_reply(self) -> Declared;
}

impl<M, R> HandlerReply<M, R> for R {
    fn into_reply(self) -> R {
        self
    }
}

/// A handler's return value as its message's declared reply, checked where the handler
/// returns it.
pub fn request_reply<M, Declared, R: HandlerReply<M, Declared>>(
    _: core::marker::PhantomData<fn() -> (M, Declared)>,
    reply: R,
) -> Declared {
    reply.into_reply()
}

/// Stands in for the functions serde derives for a message's wire mirror when serde rejected
/// the mirror (a bad `#[serde(..)]` attribute), so that serde's error is the only one.
pub trait MirrorFallback<T> {
    /// Never called: the build failed.
    fn serialize<S: serde::Serializer>(_: &T, _: S) -> Result<S::Ok, S::Error> {
        unreachable!("serde rejected the wire mirror, so the build failed")
    }

    /// Never called: the build failed.
    fn deserialize<'de, D: serde::Deserializer<'de>>(_: D) -> Result<T, D::Error> {
        unreachable!("serde rejected the wire mirror, so the build failed")
    }
}
