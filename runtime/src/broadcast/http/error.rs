//! Why the feed could not serve a request, and the response that says so.

use crate::persistence::{StoreError, StoredDecodeError};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A request the feed could not serve: the client's mistake or the server's.
#[derive(thiserror::Error)]
pub(super) enum FeedError {
    /// A parameter or header is wrong; the text says which and how.
    #[error("{0}")]
    BadRequest(String),
    /// The store could not read the events after `after`.
    #[error("cannot read the events after position {after}: {source}")]
    Store {
        /// Where the read started.
        after: u64,
        /// What the store reported.
        #[source]
        source: StoreError,
    },
    /// A stored event cannot be decoded through the registry: it is not skipped.
    #[error("{0}; the feed does not skip an event, so it cannot serve past it")]
    Decode(#[source] StoredDecodeError),
    /// A decoded event cannot be written as JSON.
    #[error("cannot write the event at position {position} as JSON: {source}")]
    Encode {
        /// The event's position.
        position: u64,
        /// serde's description.
        #[source]
        source: serde_json::Error,
    },
}

impl std::fmt::Debug for FeedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl FeedError {
    pub(super) fn status(&self) -> StatusCode {
        match self {
            FeedError::BadRequest(_) => StatusCode::BAD_REQUEST,
            // The database is down or busy: worth retrying.
            FeedError::Store {
                source: StoreError::Backend(_),
                ..
            } => StatusCode::SERVICE_UNAVAILABLE,
            FeedError::Store { .. } | FeedError::Decode(_) | FeedError::Encode { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// Logs a server error (a client's mistake is only answered).
    pub(super) fn log(&self) {
        if self.status().is_server_error() {
            tracing::error!(error = %self, "the event feed could not serve a request");
        }
    }
}

impl IntoResponse for FeedError {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let mut response = (status, format!("{self}\n")).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
