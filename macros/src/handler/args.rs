//! Reads `#[handler(name = "..", phase = .., emits(..), crate = ..)]`, as written.

use crate::attr::{self as read, key_text, unknown_key, Once};
use crate::errors::Errors;
use syn::parse::Parser;

pub(crate) struct Args {
    pub(crate) name: Option<syn::LitStr>,
    pub(crate) phase: Option<syn::Ident>,
    pub(crate) emits: Vec<syn::Type>,
    pub(crate) krate: Option<syn::Path>,
}

impl Args {
    pub(crate) fn read(tokens: proc_macro2::TokenStream, errors: &mut Errors) -> Args {
        let mut name = Once::new("name");
        let mut phase = Once::new("phase");
        let mut emits = Once::new("emits");
        let mut krate = Once::new("crate");
        let parser = syn::meta::parser(|meta| {
            let key = meta.path.clone();
            if key.is_ident("name") {
                let value = read::string(&meta, errors, "name = \"inventory.reserve_stock\"");
                name.set(&key, value, errors);
            } else if key.is_ident("phase") {
                let value = read::word(&meta, errors, "phase = after_commit");
                phase.set(&key, value, errors);
            } else if key.is_ident("emits") {
                let value = read::type_list(&meta, errors, "emits(OrderShipped, StockReserved)");
                emits.set(&key, value, errors);
            } else if key.is_ident("crate") {
                let value = read::crate_path(&meta, errors);
                krate.set(&key, value, errors);
            } else {
                unknown_key(&meta, errors, format!(
                    "unknown key `{}` in #[handler(..)]: expected `name`, `phase`, `emits` or `crate`",
                    key_text(&key)
                ));
            }
            Ok(())
        });
        if let Err(error) = parser.parse2(tokens) {
            errors.push(error);
        }
        Args {
            name: name.get(),
            phase: phase.get(),
            emits: emits.get().unwrap_or_default(),
            krate: krate.get(),
        }
    }
}
