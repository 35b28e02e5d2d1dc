//! On a mistake, the derive still implements the message traits (with stub serde impls and no
//! registration), so code that uses the type compiles and the user sees only the mistake.

use crate::message::attr::Message;
use crate::message::valid;
use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn expand(input: &syn::DeriveInput, message: &Message) -> TokenStream {
    if !valid::implementable(input) || valid::other_message_derive(message) {
        return TokenStream::new();
    }
    let serde = crate::message::serde::stubs(
        input,
        message,
        !valid::derived_elsewhere(message, "Serialize"),
        !valid::derived_elsewhere(message, "Deserialize"),
    );
    // The error type is not checked here: the user sees the mistake first, then that.
    let traits = crate::message::expand::trait_impls(input, message, false);
    quote! {
        #[allow(unused_qualifications, clippy::all)]
        const _: () = {
            #serde
            #traits
        };
    }
}
