//! `GET /events?after=<position>&limit=<n>`: one page of the feed.

use super::error::FeedError;
use super::event::read;
use super::params::{self, Pairs};
use super::Shared;
use crate::persistence::EventStore;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;

/// A full page never changes: cached by anyone, for a year, without revalidation.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The head of the feed grows: a cache asks the server every time.
const HEAD: &str = "no-cache";

pub(super) async fn page<S: EventStore + 'static>(
    State(shared): State<Arc<Shared<S>>>,
    OriginalUri(uri): OriginalUri,
    query: Pairs,
) -> Response {
    let config = shared.config;
    let params = match params::page(query, config.default_limit, config.max_limit) {
        Ok(params) => params,
        Err(message) => return FeedError::BadRequest(message).into_response(),
    };
    let (events, last) = match read(&*shared.store, params.after, params.limit).await {
        Ok(read) => read,
        Err(error) => return error.into_response(),
    };
    let full = events.len() == params.limit;
    let next = format!(
        "{}?after={}&limit={}",
        uri.path(),
        last.unwrap_or(params.after),
        params.limit
    );
    let link = HeaderValue::from_str(&format!("<{next}>; rel=\"next\""));
    let body = serde_json::json!({
        "events": events.into_iter().map(|(_, event)| event).collect::<Vec<_>>(),
        "next": next,
    });
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    let caching = if full { IMMUTABLE } else { HEAD };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(caching));
    // The path came in as a request's, so it is a valid header value.
    if let Ok(link) = link {
        headers.insert(header::LINK, link);
    }
    response
}
