//! `#[handler]`: args and ast (read) → valid (check, and the signature it accepts) → expand,
//! or on error fallback.
//!
//! The user's function is always re-emitted, so it stays callable (and IDE completion keeps
//! working) even when the attribute reports a mistake.

mod args;
pub(crate) mod ast;
mod expand;
mod fallback;
mod valid;

pub(crate) use fallback::not_a_function;
use proc_macro2::TokenStream;

const NOT_A_FUNCTION: &str =
    "#[handler] goes on a free function: `fn on_order_started(event: &OrderStarted) { .. }`";

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let function = match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(_) => return fallback::not_a_function(item, NOT_A_FUNCTION),
    };
    let mut errors = crate::errors::Errors::default();
    let args = args::Args::read(args, &mut errors);
    let handler = ast::Handler::read(&function);
    let checked = valid::check(&function, &args, &handler, &mut errors);
    match checked {
        Some(checked) if errors.is_empty() => expand::expand(&function, &args, &checked),
        _ => fallback::expand(&function, errors),
    }
}
