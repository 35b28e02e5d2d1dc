//! A handler's parameters, classified by shape but not yet checked.

pub(crate) struct Handler<'a> {
    pub(crate) params: Vec<Param<'a>>,
    /// Later `#[handler]` attributes on the same function.
    pub(crate) repeated: Vec<&'a syn::Attribute>,
}

pub(crate) enum Param<'a> {
    Receiver(&'a syn::Receiver),
    Typed {
        name: String,
        pat: &'a syn::Pat,
        ty: &'a syn::Type,
    },
}

impl<'a> Handler<'a> {
    pub(crate) fn read(function: &'a syn::ItemFn) -> Handler<'a> {
        let params = function
            .sig
            .inputs
            .iter()
            .map(|input| match input {
                syn::FnArg::Receiver(receiver) => Param::Receiver(receiver),
                syn::FnArg::Typed(typed) => Param::Typed {
                    name: match &*typed.pat {
                        syn::Pat::Ident(ident) => ident.ident.to_string(),
                        _ => "value".to_owned(),
                    },
                    pat: &typed.pat,
                    ty: &typed.ty,
                },
            })
            .collect();
        let repeated = function
            .attrs
            .iter()
            .filter(|a| is_handler_attribute(a))
            .collect();
        Handler { params, repeated }
    }
}

pub(crate) fn is_handler_attribute(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "handler")
}

/// Whether `ty` is a path whose last segment is `name` (`Context`, `tidings::Context`).
pub(crate) fn is_named(ty: &syn::Type, name: &str) -> bool {
    matches!(ty, syn::Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == name && s.arguments.is_none()))
}

/// The type argument of `name<T>` (`Envelope<E>`, `Arc<T>`), if `ty` is that.
pub(crate) fn generic_argument(ty: &syn::Type, name: &str) -> Option<syn::Type> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let syn::PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return None;
    };
    arguments.args.iter().find_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    })
}

/// A type as a user would write it in a hint: `fmt::Write`, `&Option<Repo>`.
pub(crate) fn pretty(tokens: impl quote::ToTokens) -> String {
    let text = tokens.to_token_stream().to_string();
    [
        (" :: ", "::"),
        (":: ", "::"),
        (" < ", "<"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        ("& ", "&"),
        (" ,", ","),
        ("( ", "("),
        (" )", ")"),
    ]
    .iter()
    .fold(text, |text, (from, to)| text.replace(from, to))
}
