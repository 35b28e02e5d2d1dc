//! Reads `#[upcaster(name = "..", from = 1, to = 2, crate = ..)]`, as written.

use crate::attr::{self as read, key_text, unknown_key, Once};
use crate::errors::Errors;
use syn::parse::Parser;

pub(crate) struct Args {
    pub(crate) name: Option<syn::LitStr>,
    pub(crate) from: Option<syn::Expr>,
    pub(crate) to: Option<syn::Expr>,
    pub(crate) krate: Option<syn::Path>,
}

impl Args {
    pub(crate) fn read(tokens: proc_macro2::TokenStream, errors: &mut Errors) -> Args {
        let mut name = Once::new("name");
        let mut from = Once::new("from");
        let mut to = Once::new("to");
        let mut krate = Once::new("crate");
        let parser = syn::meta::parser(|meta| {
            let key = meta.path.clone();
            if key.is_ident("name") {
                let value = read::string(&meta, errors, "name = \"ordering.order_started\"");
                name.set(&key, value, errors);
            } else if key.is_ident("from") {
                let value = read::expr(&meta, errors, "from = 1");
                from.set(&key, value, errors);
            } else if key.is_ident("to") {
                let value = read::expr(&meta, errors, "to = 2");
                to.set(&key, value, errors);
            } else if key.is_ident("crate") {
                let value = read::crate_path(&meta, errors);
                krate.set(&key, value, errors);
            } else {
                unknown_key(
                    &meta,
                    errors,
                    format!(
                    "unknown key `{}` in #[upcaster(..)]: expected `name`, `from`, `to` or `crate`",
                    key_text(&key)
                ),
                );
            }
            Ok(())
        });
        if let Err(error) = parser.parse2(tokens) {
            errors.push(error);
        }
        Args {
            name: name.get(),
            from: from.get(),
            to: to.get(),
            krate: krate.get(),
        }
    }

    /// Whether any key of the JSON form is given.
    pub(crate) fn is_json(&self) -> bool {
        self.name.is_some() || self.from.is_some() || self.to.is_some()
    }
}
