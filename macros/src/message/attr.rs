//! Reads the derive's helper attributes on the type, its variants and its fields. Keys are
//! tracked across every attribute of the item, so a key given twice is an error wherever the
//! second one is.

use crate::attr::{self as read, key_text, unknown_key, Once};
use crate::errors::Errors;
use crate::krate::Krate;
use crate::message::Kind;
use syn::spanned::Spanned;

/// What the input says, as written; `valid` checks the values.
pub(crate) struct Message {
    pub(crate) kind: Kind,
    pub(crate) name: Option<syn::LitStr>,
    pub(crate) version: Option<syn::Expr>,
    pub(crate) krate: Krate,
    pub(crate) output: Option<syn::Type>,
    pub(crate) error: Option<syn::Type>,
    pub(crate) occurred_on: Option<OccurredOn>,
    /// `#[event(integration)]`: the event leaves the context (the relay publishes it).
    pub(crate) integration: bool,
    /// `#[event(travels = published)]` or `#[event(travels = committed)]`: which phases of
    /// handlers the event reaches in its own context.
    pub(crate) travels: Option<syn::Ident>,
    /// Traits that a later `#[derive(..)]` on the item implements itself (`Serialize`), so
    /// this derive leaves them out instead of conflicting.
    pub(crate) derived_elsewhere: Vec<syn::Path>,
}

/// The field marked `#[event(occurred_on)]`.
pub(crate) struct OccurredOn {
    pub(crate) member: syn::Member,
    pub(crate) ty: syn::Type,
}

struct Keys {
    name: Once<syn::LitStr>,
    version: Once<syn::Expr>,
    krate: Once<syn::Path>,
    output: Once<syn::Type>,
    error: Once<syn::Type>,
    integration: Once<()>,
    travels: Once<syn::Ident>,
}

impl Message {
    pub(crate) fn read(input: &syn::DeriveInput, kind: Kind) -> (Message, Errors) {
        let mut errors = Errors::default();
        let mut keys = Keys {
            name: Once::new("name"),
            version: Once::new("version"),
            krate: Once::new("crate"),
            output: Once::new("output"),
            error: Once::new("error"),
            integration: Once::new("integration"),
            travels: Once::new("travels"),
        };
        for attr in input
            .attrs
            .iter()
            .filter(|a| a.path().is_ident(kind.attribute()))
        {
            read_container(attr, kind, &mut keys, &mut errors);
        }
        let occurred_on = read_fields(input, kind, &mut errors);
        let message = Message {
            kind,
            name: keys.name.get(),
            version: keys.version.get(),
            krate: Krate::new(keys.krate.get()),
            output: keys.output.get(),
            error: keys.error.get(),
            occurred_on,
            integration: keys.integration.get().is_some(),
            travels: keys.travels.get(),
            derived_elsewhere: later_derives(input),
        };
        (message, errors)
    }
}

/// `#[event]` or `#[event = ..]` instead of `#[event(..)]`.
fn check_list(attr: &syn::Attribute, errors: &mut Errors) -> bool {
    match &attr.meta {
        syn::Meta::List(_) => true,
        other => {
            let name = key_text(other.path());
            errors.at(
                other,
                format!(
                    "write the keys in parentheses: `#[{name}(name = \"ordering.order_started\")]`"
                ),
            );
            false
        }
    }
}

fn read_container(attr: &syn::Attribute, kind: Kind, keys: &mut Keys, errors: &mut Errors) {
    if !check_list(attr, errors) {
        return;
    }
    let attribute = kind.attribute();
    let parsed = attr.parse_nested_meta(|meta| {
        let key = meta.path.clone();
        if key.is_ident("name") {
            let value = read::string(&meta, errors, "name = \"ordering.order_started\"");
            keys.name.set(&key, value, errors);
        } else if key.is_ident("version") {
            let value = read::expr(&meta, errors, "version = 2");
            keys.version.set(&key, value, errors);
        } else if key.is_ident("crate") {
            let value = read::crate_path(&meta, errors);
            keys.krate.set(&key, value, errors);
        } else if kind.is_request() && key.is_ident("output") {
            let value = read::ty(&meta, errors, "output = OrderId");
            keys.output.set(&key, value, errors);
        } else if kind.is_request() && key.is_ident("error") {
            let value = read::ty(&meta, errors, "error = PlaceOrderError");
            keys.error.set(&key, value, errors);
        } else if kind == Kind::Event && key.is_ident("integration") {
            let value = read::flag(&meta, errors, "#[event(integration)]").then_some(());
            keys.integration.set(&key, value, errors);
        } else if kind == Kind::Event && key.is_ident("travels") {
            const EXAMPLE: &str = "travels = committed` or `travels = published";
            let value = read::word(&meta, errors, EXAMPLE).filter(|word| {
                let known = word == "committed" || word == "published";
                if !known {
                    errors.at(word, format!("`{word}` is not a way an event travels: write `{EXAMPLE}` (only recorded in units of work, or only published)"));
                }
                known
            });
            keys.travels.set(&key, value, errors);
        } else if kind == Kind::Event && key.is_ident("occurred_on") {
            unknown_key(&meta, errors, "`occurred_on` belongs on a field: write `#[event(occurred_on)]` above a `DateTime<Utc>` field".into());
        } else if kind == Kind::Event && (key.is_ident("output") || key.is_ident("error")) {
            unknown_key(&meta, errors, format!("`{}` applies to commands and queries: an event has no reply; remove it", key_text(&key)));
        } else {
            let expected = if kind.is_request() {
                "`name`, `version`, `output`, `error` or `crate`"
            } else {
                "`name`, `version`, `integration`, `travels` or `crate`"
            };
            unknown_key(&meta, errors, format!("unknown key `{}` in #[{attribute}(..)]: expected {expected}", key_text(&key)));
        }
        Ok(())
    });
    if let Err(error) = parsed {
        errors.push(error);
    }
}

fn read_fields(input: &syn::DeriveInput, kind: Kind, errors: &mut Errors) -> Option<OccurredOn> {
    let attribute = kind.attribute();
    let mut occurred_on = Once::new("occurred_on");
    let mut read_field = |field: &syn::Field, member: Option<syn::Member>, errors: &mut Errors| {
        for attr in field.attrs.iter().filter(|a| a.path().is_ident(attribute)) {
            if !check_list(attr, errors) {
                continue;
            }
            let parsed = attr.parse_nested_meta(|meta| {
                if kind == Kind::Event && meta.path.is_ident("occurred_on") {
                    if !read::flag(&meta, errors, "#[event(occurred_on)]") {
                        return Ok(());
                    }
                    match &member {
                        Some(member) => {
                            let value = OccurredOn { member: member.clone(), ty: field.ty.clone() };
                            occurred_on.set(&meta.path, Some(value), errors);
                        }
                        None => errors.at(&meta.path, "`occurred_on` is read from a struct field; an enum carries no common field to read it from: remove it, or make the event a struct"),
                    }
                } else {
                    let hint = if kind == Kind::Event {
                        "the only field key is `occurred_on`"
                    } else {
                        "fields take no keys; name, version, output and error go on the type"
                    };
                    unknown_key(&meta, errors, format!("unknown key `{}` in #[{attribute}(..)] on a field: {hint}", key_text(&meta.path)));
                }
                Ok(())
            });
            if let Err(error) = parsed {
                errors.push(error);
            }
        }
    };
    match &input.data {
        syn::Data::Struct(data) => {
            for (index, field) in data.fields.iter().enumerate() {
                let member = match &field.ident {
                    Some(ident) => syn::Member::Named(ident.clone()),
                    None => syn::Member::Unnamed(syn::Index {
                        index: index as u32,
                        span: field.ty.span(),
                    }),
                };
                read_field(field, Some(member), errors);
            }
        }
        syn::Data::Enum(data) => {
            for variant in &data.variants {
                for attr in variant
                    .attrs
                    .iter()
                    .filter(|a| a.path().is_ident(attribute))
                {
                    errors.at(
                        attr.path(),
                        format!("#[{attribute}(..)] goes on the enum, not on a variant: the whole enum is one {} with one name and version", kind.what()),
                    );
                }
                for field in &variant.fields {
                    read_field(field, None, errors);
                }
            }
        }
        syn::Data::Union(_) => {}
    }
    occurred_on.get()
}

/// Serde and message derives named in `#[derive(..)]` attributes after this one. (Derives in
/// the same list as this one are not visible to it.)
fn later_derives(input: &syn::DeriveInput) -> Vec<syn::Path> {
    let mut found = Vec::new();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("derive")) {
        let _ = attr.parse_nested_meta(|meta| {
            let last = meta.path.segments.last().map(|s| s.ident.to_string());
            if matches!(
                last.as_deref(),
                Some("Serialize" | "Deserialize" | "DomainEvent" | "Command" | "Query")
            ) {
                found.push(meta.path.clone());
            }
            Ok(())
        });
    }
    found
}
