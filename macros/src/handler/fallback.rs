//! On a mistake, the function is emitted as written (minus a repeated `#[handler]`) with the
//! errors, and nothing is registered.

use crate::errors::Errors;
use crate::handler::ast::is_handler_attribute;
use proc_macro2::TokenStream;
use quote::ToTokens;

pub(crate) fn expand(function: &syn::ItemFn, errors: Errors) -> TokenStream {
    let mut function = function.clone();
    function.attrs.retain(|a| !is_handler_attribute(a));
    let mut out = errors.into_compile_errors();
    out.extend(function.into_token_stream());
    out
}

/// The item is not a function: keep it, and say (in `message`) where the attribute goes.
pub(crate) fn not_a_function(item: TokenStream, message: &str) -> TokenStream {
    let error = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(parsed) => {
            let at = match &parsed {
                syn::Item::Struct(i) => i.struct_token.to_token_stream(),
                syn::Item::Enum(i) => i.enum_token.to_token_stream(),
                syn::Item::Impl(i) => i.impl_token.to_token_stream(),
                syn::Item::Trait(i) => i.trait_token.to_token_stream(),
                syn::Item::Mod(i) => i.mod_token.to_token_stream(),
                syn::Item::Static(i) => i.static_token.to_token_stream(),
                syn::Item::Const(i) => i.const_token.to_token_stream(),
                syn::Item::Type(i) => i.type_token.to_token_stream(),
                syn::Item::Fn(i) => i.sig.fn_token.to_token_stream(),
                other => other.to_token_stream(),
            };
            syn::Error::new_spanned(at, message)
        }
        Err(_) => syn::Error::new(proc_macro2::Span::call_site(), message),
    };
    let mut out = error.to_compile_error();
    out.extend(item);
    out
}
