//! Values lent to handlers for one dispatch: a backend's transaction, which a unit of work lends
//! its `before_commit` handlers and an inbox the handlers of the event it delivers.
//!
//! A handler asks for one as it asks for a dependency (`tx: &SqliteTransaction`); `build()`
//! finds its type among the registered [`ScopedType`]s instead of the provided values, and
//! refuses it in a phase that is never lent one. The lender hands the value to the dispatch by
//! reference ([`Scope`]), so a handler sees it only for the call: it cannot clone it or keep it.
//! The core names no backend: each registers its own type.

use std::any::{Any, TypeId};
use std::sync::{Arc, OnceLock};

use rustc_hash::FxHashMap;

/// A type that is lent to handlers for one dispatch, registered by the layer that lends it.
#[derive(Debug)]
pub(crate) struct ScopedType {
    pub(crate) type_id: fn() -> TypeId,
    /// The type of the `Arc<T>` a [`Scope`] holds.
    pub(crate) lent_type_id: fn() -> TypeId,
    /// Its public path: `tidings::persistence::sqlite::SqliteTransaction`.
    pub(crate) path: &'static str,
    /// Who lends it, as a phrase: "a SQLite unit of work or inbox delivery".
    pub(crate) lent_by: &'static str,
}

impl ScopedType {
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres")),
        allow(
            dead_code,
            reason = "registered only by the backends that lend a transaction"
        )
    )]
    pub(crate) const fn of<T: Send + Sync + 'static>(
        path: &'static str,
        lent_by: &'static str,
    ) -> ScopedType {
        ScopedType {
            type_id: TypeId::of::<T>,
            lent_type_id: TypeId::of::<Arc<T>>,
            path,
            lent_by,
        }
    }

    /// The type's public path, for messages.
    pub(crate) fn rust_type(&self) -> &'static str {
        self.path
    }
}

inventory::collect!(ScopedType);

/// Every scoped type of the program, by type.
pub(crate) fn scoped_types() -> &'static FxHashMap<TypeId, &'static ScopedType> {
    static TYPES: OnceLock<FxHashMap<TypeId, &'static ScopedType>> = OnceLock::new();
    TYPES.get_or_init(|| {
        inventory::iter::<ScopedType>
            .into_iter()
            .map(|scoped| ((scoped.type_id)(), scoped))
            .collect()
    })
}

/// The slot of a dependency that a [`Scope`] gives, not a provided value.
pub(crate) const SCOPED: usize = usize::MAX;

/// A value lent to the handlers of one dispatch: a borrow of an `Arc<T>` of a scoped type.
#[derive(Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub(super) value: &'a (dyn Any + Send + Sync),
}

impl<'a> Scope<'a> {
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres")),
        allow(
            dead_code,
            reason = "made only by the backends that lend a transaction"
        )
    )]
    pub(crate) fn new<T: Send + Sync + 'static>(value: &'a Arc<T>) -> Scope<'a> {
        Scope { value }
    }

    /// Whether it lends a `scoped`.
    pub(super) fn lends(self, scoped: &ScopedType) -> bool {
        (*self.value).type_id() == (scoped.lent_type_id)()
    }
}

impl std::fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}
