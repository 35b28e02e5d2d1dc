//! What a projection (a catch-up processor whose checkpoint commits with its writes) reports
//! when it stops, whatever its database.

use crate::persistence::StoreError;

/// Why a projection stopped; the batch that failed was rolled back, checkpoint included.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError<E: std::error::Error + 'static> {
    /// The database failed.
    #[error("projection `{projection}`: {source}")]
    Store {
        /// The projection's name.
        projection: String,
        /// What the store reported.
        #[source]
        source: StoreError,
    },
    /// Applying an event failed.
    #[error(
        "projection `{projection}` failed to apply the event at position {position}: {source}"
    )]
    Apply {
        /// The projection's name.
        projection: String,
        /// The event's position.
        position: u64,
        /// The error `apply` returned.
        #[source]
        source: E,
    },
}

#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the backends' projections")
)]
impl<E: std::error::Error + 'static> ProjectionError<E> {
    pub(crate) fn store(projection: &str, source: StoreError) -> ProjectionError<E> {
        ProjectionError::Store {
            projection: projection.to_owned(),
            source,
        }
    }

    pub(crate) fn apply(projection: &str, position: u64, source: E) -> ProjectionError<E> {
        ProjectionError::Apply {
            projection: projection.to_owned(),
            position,
            source,
        }
    }
}
