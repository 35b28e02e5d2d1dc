//! `#[upcaster]`: args (read) → valid (check, and the form it accepts) → expand, or on error
//! fallback.
//!
//! Two forms share the attribute: a typed upcaster (`fn(OldEvent) -> NewEvent`), whose types
//! carry the name and versions, and a JSON one (`#[upcaster(name = .., from = 1, to = 2)]
//! fn(data: Value) -> Value`) for an old version with no Rust type left.

mod args;
mod expand;
mod valid;

use proc_macro2::TokenStream;
use quote::ToTokens;

const NOT_A_FUNCTION: &str =
    "#[upcaster] goes on a free function: `fn order_started_v1(old: OrderStartedV1) -> OrderStarted { .. }`";

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let function = match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(_) => return crate::handler::not_a_function(item, NOT_A_FUNCTION),
    };
    let mut errors = crate::errors::Errors::default();
    let args = args::Args::read(args, &mut errors);
    let checked = valid::check(&function, &args, &mut errors);
    match checked {
        Some(checked) if errors.is_empty() => expand::expand(&function, &checked),
        _ => {
            // The function as written, minus a repeated `#[upcaster]`, and nothing registered.
            let mut function = function;
            function.attrs.retain(|a| !valid::is_upcaster_attribute(a));
            let mut out = errors.into_compile_errors();
            out.extend(function.into_token_stream());
            out
        }
    }
}
