//! The values given to the bus builder with `provide`, which handlers take as `&T`.

use crate::messaging::bus::location::Location;
use std::any::{Any, TypeId};
use std::sync::Arc;

/// A value given to the bus builder, shared by every handler that takes `&T`.
pub(super) struct Provided {
    pub(super) type_id: TypeId,
    pub(super) rust_type: &'static str,
    /// An `Arc<T>` (with `T` possibly unsized, like `dyn Mailer`).
    pub(super) value: Box<dyn Any + Send + Sync>,
    /// Where `provide` was called.
    pub(super) location: Location,
}

impl Provided {
    pub(super) fn new<T: ?Sized + Send + Sync + 'static>(
        value: Arc<T>,
        location: Location,
    ) -> Provided {
        Provided {
            type_id: TypeId::of::<T>(),
            rust_type: std::any::type_name::<T>(),
            value: Box::new(value),
            location,
        }
    }
}
