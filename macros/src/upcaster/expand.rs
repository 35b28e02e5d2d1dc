//! Emits the function as written and its link-time registration.

use crate::krate::respan;
use crate::upcaster::valid::{Checked, Form};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

pub(crate) fn expand(function: &syn::ItemFn, checked: &Checked) -> TokenStream {
    let p = checked.krate.private();
    let ident = &function.sig.ident;
    let input = &checked.input;
    let output = &checked.output;
    let suffix = format!("::{ident}");
    let function_name = quote!(::core::concat!(::core::module_path!(), #suffix));
    let line = quote_spanned!(ident.span()=> ::core::line!());
    let location = quote!(#p::Location::new(::core::file!(), #line, ::core::module_path!()));
    let with_metadata = checked.metadata.is_some();
    let registration = match &checked.form {
        Form::Typed => {
            // A bound that fails is reported at the type it is about.
            let old = respan(quote!(#p::upcast_input::<#input>()), input.span());
            let new = respan(quote!(#p::upcast_output::<#output>()), output.span());
            let typed = if with_metadata {
                quote!(typed_with_metadata)
            } else {
                quote!(typed)
            };
            quote! {
                #p::UpcasterRegistration::#typed(&__TIDINGS_CALL, #old, #new, #function_name, #location)
            }
        }
        Form::Json { name, from, to } => {
            let new = respan(quote!(#p::json_output::<#output>()), output.span());
            let json = if with_metadata {
                quote!(json_with_metadata)
            } else {
                quote!(json)
            };
            quote! {
                #p::UpcasterRegistration::#json(&__TIDINGS_CALL, #new, #name, #from, #to, #function_name, #location)
            }
        }
    };
    // The metadata parameter's type as written: a wrong one is reported there.
    let call_type = match &checked.metadata {
        Some(metadata) => quote!(fn(#input, &#metadata) -> #output),
        None => quote!(fn(#input) -> #output),
    };
    // Named, not `const _`, like a handler's: the one item form also valid in an `impl` block.
    let item = format_ident!("__tidings_upcaster_{}", ident);
    let mut out = function.to_token_stream();
    out.extend(quote! {
        #[doc(hidden)]
        #[allow(non_snake_case, non_upper_case_globals, dead_code, unused_qualifications, clippy::all)]
        const #item: () = {
            static __TIDINGS_CALL: #call_type = #ident;

            #p::inventory::submit! {
                #registration
            }
        };
    });
    out
}
