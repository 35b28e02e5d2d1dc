//! `#[derive(Process)]`: a state type becomes a process, whose steps (one per event it lists)
//! are registered at link time as handlers lent the delivery's transaction. It reads the
//! `#[process(..)]` attribute, reports each mistake at its token, and expands to the trait's
//! impl and one registration per event; the bounds a step needs (an `On<E>` impl, giving the
//! correlation key; a serialisable state) fail at the event's or the type's token.

use crate::errors::Errors;
use crate::krate::{respan, Krate};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

const SHAPE: &str = "write `#[process(name = \"ordering.order\", store = sqlite, start(OrderStarted), on(StockConfirmed), timeouts(GracePeriodEnded))]`";

struct Attrs {
    name: Option<syn::LitStr>,
    store: Option<syn::Ident>,
    unknown: Option<syn::Ident>,
    krate: Option<syn::Path>,
    /// Each event with its role: `Start`, `Continue` or `Timeout`.
    events: Vec<(syn::Type, &'static str)>,
}

pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let input = match syn::parse2::<syn::DeriveInput>(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let mut errors = Errors::default();
    let attrs = read(&input, &mut errors);
    let mut krate = Krate::new(attrs.krate.clone());
    if let Some(error) = krate.check_renamed("process", Span::call_site()) {
        errors.push(error);
    }
    if !input.generics.params.is_empty() {
        errors.at(
            &input.generics,
            "a process cannot be generic: its rows and registrations name one concrete state type",
        );
    }
    if !errors.is_empty() {
        return errors.into_compile_errors();
    }
    expand(&input, &attrs, &krate)
}

fn read(input: &syn::DeriveInput, errors: &mut Errors) -> Attrs {
    let mut attrs = Attrs {
        name: None,
        store: None,
        unknown: None,
        krate: None,
        events: Vec::new(),
    };
    let mut found = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("process")) {
        found = true;
        let parsed = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            match key.as_str() {
                "name" => {
                    let name: syn::LitStr = meta.value()?.parse()?;
                    if name.value().trim().is_empty() {
                        return Err(syn::Error::new(name.span(), "the process's name is empty: give it a stable name, such as \"ordering.order\""));
                    }
                    once(&mut attrs.name, name, &meta)
                }
                "store" => {
                    let store: syn::Ident = meta.value()?.parse()?;
                    if store != "sqlite" && store != "postgres" {
                        return Err(syn::Error::new(store.span(), "the store is `sqlite` or `postgres`: the one whose transaction delivers the process's events"));
                    }
                    once(&mut attrs.store, store, &meta)
                }
                "unknown" => {
                    let policy: syn::Ident = meta.value()?.parse()?;
                    if policy != "ignore" && policy != "start" {
                        return Err(syn::Error::new(policy.span(), "`unknown` is `ignore` (log and drop an event for an instance that does not exist) or `start` (start one)"));
                    }
                    once(&mut attrs.unknown, policy, &meta)
                }
                "crate" => {
                    let path: syn::Path = meta.value()?.parse()?;
                    once(&mut attrs.krate, path, &meta)
                }
                "start" | "on" | "timeouts" => {
                    let role = match key.as_str() {
                        "start" => "Start",
                        "on" => "Continue",
                        _ => "Timeout",
                    };
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let types = content.parse_terminated(syn::Type::parse, syn::Token![,])?;
                    for ty in types {
                        let text = quote!(#ty).to_string();
                        if attrs.events.iter().any(|(seen, _)| quote!(#seen).to_string() == text) {
                            return Err(syn::Error::new_spanned(ty, "this event is listed twice: a process takes one step per event type"));
                        }
                        attrs.events.push((ty, role));
                    }
                    Ok(())
                }
                _ => Err(meta.error(format!(
                    "unknown key: `#[process(..)]` takes `name`, `store`, `start(..)`, `on(..)`, `timeouts(..)`, `unknown` and `crate`; {SHAPE}"
                ))),
            }
        });
        if let Err(error) = parsed {
            errors.push(error);
        }
    }
    let at = &input.ident;
    if !found {
        errors.at(
            at,
            format!("a process needs its `#[process(..)]` attribute: {SHAPE}"),
        );
        return attrs;
    }
    if errors.is_empty() {
        if attrs.name.is_none() {
            errors.at(at, format!("the process has no `name`: {SHAPE}"));
        }
        if attrs.store.is_none() {
            errors.at(at, "the process has no `store`: `store = sqlite` or `store = postgres`, whose transaction delivers its events");
        }
        if !attrs.events.iter().any(|(_, role)| *role == "Start")
            && attrs.unknown.as_ref().is_none_or(|u| u != "start")
        {
            errors.at(at, "nothing starts the process: list the events that start an instance in `start(..)` (or declare `unknown = start`)");
        }
    }
    attrs
}

fn once<T>(
    slot: &mut Option<T>,
    value: T,
    meta: &syn::meta::ParseNestedMeta<'_>,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error("this key is given twice: keep one"));
    }
    *slot = Some(value);
    Ok(())
}

use syn::parse::Parse;

fn expand(input: &syn::DeriveInput, attrs: &Attrs, krate: &Krate) -> TokenStream {
    let p = krate.private();
    let ident = &input.ident;
    let name = attrs.name.as_ref().expect("checked");
    let store = attrs.store.as_ref().expect("checked");
    let tx = if store == "sqlite" {
        quote!(#p::SqliteTransaction)
    } else {
        quote!(#p::PostgresTransaction)
    };
    let unknown = match &attrs.unknown {
        Some(policy) if policy == "start" => quote!(Start),
        _ => quote!(Ignore),
    };
    let timeouts: Vec<_> = attrs
        .events
        .iter()
        .filter(|(_, role)| *role == "Timeout")
        .map(|(ty, _)| quote_spanned!(ty.span()=> #p::MessageRef::event::<#ty>()))
        .collect();
    let steps = attrs.events.iter().enumerate().map(|(index, (ty, role))| {
        let role_ident = format_ident!("{}", role);
        let word = match *role {
            "Start" => "starts",
            "Continue" => "continues",
            _ => "timeout",
        };
        let step = respan(quote!(#p::process_step::<#ident, #ty, #tx>), ty.span());
        let message = respan(quote!(#p::MessageRef::event::<#ty>), ty.span());
        let item = format_ident!("__tidings_process_step_{}", index);
        quote! {
            const #item: () = {
                fn __tidings_invoke<'a>(
                    __env: &'a #p::Envelope<#ty>,
                    __inv: &'a #p::Invocation<'a>,
                ) -> #p::BoxFuture<'a, #p::HandlerResult> {
                    #p::boxed_future(#step(__env, __inv, #p::Role::#role_ident))
                }
                static __TIDINGS_CALL: #p::AsyncEventFn<#ty> = __tidings_invoke;

                #p::inventory::submit! {
                    #p::HandlerRegistration {
                        name: ::core::concat!("process ", #name, ": ", #word, " on ", ::core::stringify!(#ty)),
                        message: #message(),
                        phase: #p::Phase::Immediate,
                        dependencies: &[#p::Dependency::of::<#tx>("tx")],
                        emits: &[#(#timeouts),*],
                        takes_context: true,
                        takes_envelope: true,
                        invoke: #p::Invoke::AsyncEvent(&__TIDINGS_CALL),
                        location: #p::Location::new(::core::file!(), ::core::line!(), ::core::module_path!()),
                    }
                }
            };
        }
    });
    let process = respan(quote!(#p::Process), ident.span());
    quote! {
        impl #process for #ident {
            const NAME: &'static str = #name;
            const UNKNOWN: #p::Unknown = #p::Unknown::#unknown;
        }

        #[doc(hidden)]
        #[allow(non_snake_case, non_upper_case_globals, dead_code, unused_qualifications, clippy::all)]
        const _: () = {
            #(#steps)*
        };
    }
}
