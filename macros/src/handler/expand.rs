//! Emits a handler's type-erased shim and its link-time registration.

use crate::handler::args::Args;
use crate::handler::valid::{Dependency, Form, Signature};
use crate::krate::respan;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

pub(crate) fn expand(function: &syn::ItemFn, args: &Args, sig: &Signature) -> TokenStream {
    let mut out = function.to_token_stream();
    out.extend(registration(function, args, sig));
    out
}

fn registration(function: &syn::ItemFn, args: &Args, sig: &Signature) -> TokenStream {
    let p = sig.krate.private();
    let ident = &function.sig.ident;
    let message = &sig.message;
    let shim = shim(ident, sig);
    let name = match &args.name {
        Some(name) => quote!(#name),
        None => {
            let suffix = format!("::{ident}");
            quote!(::core::concat!(::core::module_path!(), #suffix))
        }
    };
    let phase = format_ident!("{}", sig.phase);
    let dependencies = sig.params.iter().filter_map(|param| match param {
        Dependency::Provided { name, ty } => Some(quote_spanned! {ty.span()=>
            #p::Dependency::of::<#ty>(#name)
        }),
        Dependency::Context => None,
    });
    let emits = args
        .emits
        .iter()
        .map(|ty| quote_spanned! {ty.span()=> #p::MessageRef::of::<#ty>() });
    let takes_context = sig.params.iter().any(|p| matches!(p, Dependency::Context));
    let takes_envelope = sig.form == Form::Envelope;
    let constructor = match sig.form {
        Form::Request => quote!(#p::MessageRef::of::<#message>),
        _ => respan(quote!(#p::MessageRef::event::<#message>), message.span()),
    };
    let message_ref = quote!(#constructor());
    let invoke = match (sig.form, sig.is_async) {
        (Form::Request, false) => quote!(Request),
        (Form::Request, true) => quote!(AsyncRequest),
        (_, false) => quote!(Event),
        (_, true) => quote!(AsyncEvent),
    };
    // A message that is not what the form needs is reported once, at the message type.
    let invoke = respan(quote!(#p::Invoke::#invoke(&__TIDINGS_CALL)), message.span());
    let line = quote_spanned!(ident.span()=> ::core::line!());
    // Named, not `const _`: the one item form that is also valid inside an `impl` block,
    // where `#[handler]` on an associated function then fails only at its name.
    let item = format_ident!("__tidings_handler_{}", ident);
    quote! {
        #[doc(hidden)]
        #[allow(non_snake_case, non_upper_case_globals, dead_code, unused_qualifications, clippy::all)]
        const #item: () = {
            #shim

            #p::inventory::submit! {
                #p::HandlerRegistration {
                    name: #name,
                    message: #message_ref,
                    phase: #p::Phase::#phase,
                    dependencies: &[#(#dependencies),*],
                    emits: &[#(#emits),*],
                    takes_context: #takes_context,
                    takes_envelope: #takes_envelope,
                    invoke: #invoke,
                    location: #p::Location::new(::core::file!(), #line, ::core::module_path!()),
                }
            }
        };
    }
}

fn shim(ident: &syn::Ident, sig: &Signature) -> TokenStream {
    let p = sig.krate.private();
    let message = &sig.message;
    let output = &sig.output;
    let mut index = 0usize;
    let params = sig.params.iter().map(|param| match param {
        Dependency::Context => quote!(#p::Invocation::context(__inv)),
        Dependency::Provided { ty, .. } => {
            let slot = index;
            index += 1;
            quote_spanned! {ty.span()=> #p::Invocation::dependency::<#ty>(__inv, #slot) }
        }
    });
    let params: Vec<_> = params.collect();
    let awaited = sig.is_async.then(|| quote!(.await));
    // `__reply` carries the return type's span: a wrong return type is reported there.
    let reply = quote_spanned!(sig.output_span=> __reply);
    match sig.form {
        Form::Event | Form::Envelope => {
            let first = if sig.form == Form::Envelope {
                quote!(__env)
            } else {
                quote!(#p::Envelope::payload(__env))
            };
            let result = respan(quote!(#p::handler_result), sig.output_span);
            let check = quote!(#result(#reply));
            let body = quote! {
                let #reply: #output = #ident(#first, #(#params),*) #awaited;
                #check
            };
            if sig.is_async {
                quote! {
                    fn __tidings_invoke<'a>(
                        __env: &'a #p::Envelope<#message>,
                        __inv: &'a #p::Invocation<'a>,
                    ) -> #p::BoxFuture<'a, #p::HandlerResult> {
                        #p::boxed_future(async move { #body })
                    }
                    static __TIDINGS_CALL: #p::AsyncEventFn<#message> = __tidings_invoke;
                }
            } else {
                quote! {
                    fn __tidings_invoke(
                        __env: &#p::Envelope<#message>,
                        __inv: &#p::Invocation<'_>,
                    ) -> #p::HandlerResult {
                        #body
                    }
                    static __TIDINGS_CALL: #p::EventFn<#message> = __tidings_invoke;
                }
            }
        }
        Form::Request => {
            // The reply is checked against the declared one at the return type, by a bound
            // whose message names both; every `Request` obligation is spanned at the message
            // type, where rustc reports it once.
            let reply_type = respan(quote!(<#message as #p::Request>::Reply), message.span());
            let into_result = respan(quote!(#p::into_result::<#message>), message.span());
            let result_type = respan(quote!(#p::RequestResult<#message>), message.span());
            let check = respan(quote!(#p::request_reply), sig.output_span);
            let checked = quote_spanned!(message.span()=> __reply);
            let shim_fn = respan(quote!(__tidings_invoke), message.span());
            let shim_type = if sig.is_async {
                respan(quote!(#p::AsyncRequestFn<#message>), message.span())
            } else {
                respan(quote!(#p::RequestFn<#message>), message.span())
            };
            let body = quote! {
                let #reply: #output = #ident(__message, #(#params),*) #awaited;
                let #checked = #check(::core::marker::PhantomData::<fn() -> (#message, #reply_type)>, #reply);
                #into_result(#checked)
            };
            if sig.is_async {
                quote! {
                    fn __tidings_invoke<'a>(
                        __message: #message,
                        __inv: &'a #p::Invocation<'a>,
                    ) -> #p::BoxFuture<'a, #result_type> {
                        #p::boxed_future(async move { #body })
                    }
                    static __TIDINGS_CALL: #shim_type = #shim_fn;
                }
            } else {
                quote! {
                    fn __tidings_invoke(
                        __message: #message,
                        __inv: &#p::Invocation<'_>,
                    ) -> #result_type {
                        #body
                    }
                    static __TIDINGS_CALL: #shim_type = #shim_fn;
                }
            }
        }
    }
}
