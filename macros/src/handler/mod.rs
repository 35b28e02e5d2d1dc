//! `#[handler]`: parse the arguments and the signature → validate → expand.
//!
//! The user's function is always re-emitted untouched, so it stays callable (and IDE completion
//! keeps working) even when the attribute reports a mistake.

mod args;
mod expand;
mod signature;

use proc_macro2::TokenStream;
use quote::ToTokens;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let function = match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let mut out = not_a_function(&item).to_compile_error();
            out.extend(item);
            return out;
        }
    };
    let mut errors = crate::attr::Errors::default();
    let args = args::Args::parse(args, &mut errors);
    let signature = signature::Signature::read(&function, &args, &mut errors);
    let mut out = function.to_token_stream();
    out.extend(errors.to_compile_errors());
    if let Some(signature) = signature {
        if errors.finish().is_ok() {
            out.extend(expand::registration(&function, &args, &signature));
        }
    }
    out
}

fn not_a_function(item: &TokenStream) -> syn::Error {
    let message =
        "#[handler] goes on a free function: `fn on_order_started(event: &OrderStarted) { .. }`";
    match syn::parse2::<syn::Item>(item.clone()) {
        Ok(item) => {
            let at = match &item {
                syn::Item::Struct(i) => i.struct_token.to_token_stream(),
                syn::Item::Enum(i) => i.enum_token.to_token_stream(),
                syn::Item::Impl(i) => i.impl_token.to_token_stream(),
                syn::Item::Trait(i) => i.trait_token.to_token_stream(),
                syn::Item::Mod(i) => i.mod_token.to_token_stream(),
                syn::Item::Static(i) => i.static_token.to_token_stream(),
                syn::Item::Const(i) => i.const_token.to_token_stream(),
                syn::Item::Type(i) => i.type_token.to_token_stream(),
                other => other.to_token_stream(),
            };
            syn::Error::new_spanned(at, message)
        }
        Err(_) => syn::Error::new(proc_macro2::Span::call_site(), message),
    }
}
