//! `GET /events/live?after=<position>`: the live tail, as server-sent events.

use super::error::FeedError;
use super::event::cloud_event;
use super::params::{self, Pairs};
use super::Shared;
use crate::persistence::{EventStore, StoreError};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde_json::Value;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

/// The name of the SSE event that ends a tail which cannot go on (not `error`, which a
/// browser's `EventSource` reserves for its connection errors).
const ERROR_EVENT: &str = "feed-error";

pub(super) async fn live<S: EventStore + 'static>(
    State(shared): State<Arc<Shared<S>>>,
    headers: HeaderMap,
    query: Pairs,
) -> Response {
    let after = match params::live(query, &headers) {
        Ok(after) => after,
        Err(message) => return FeedError::BadRequest(message).into_response(),
    };
    let keep_alive = KeepAlive::new().interval(shared.config.keep_alive);
    let tail = Tail {
        shared,
        after,
        ready: VecDeque::new(),
        behind: true,
        ended: false,
    };
    Sse::new(stream::unfold(tail, Tail::next))
        .keep_alive(keep_alive)
        .into_response()
}

/// Where a tail is: the last position sent, the events read but not sent yet, and whether
/// the last read filled a batch (so more may be waiting).
struct Tail<S> {
    shared: Arc<Shared<S>>,
    after: u64,
    ready: VecDeque<Event>,
    behind: bool,
    ended: bool,
}

impl<S: EventStore + 'static> Tail<S> {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Tail<S>)> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some((Ok(event), self));
            }
            if self.ended {
                return None;
            }
            if !self.behind {
                tokio::time::sleep(self.shared.config.poll_interval).await;
            }
            let batch = self.shared.config.max_limit;
            let (events, failure) =
                read_until_failure(&*self.shared.store, self.after, batch).await;
            self.behind = events.len() == batch;
            for (position, event) in events {
                self.ready.push_back(
                    Event::default()
                        .id(position.to_string())
                        .data(event.to_string()),
                );
                self.after = position;
            }
            if let Some(error) = failure {
                error.log();
                self.ready
                    .push_back(Event::default().event(ERROR_EVENT).data(error.to_string()));
                self.ended = true;
            }
        }
    }
}

/// At most `limit` events after `after`, as the feed serves them; when one cannot be read or
/// decoded, the events before it and the error, so a tail sends everything up to the row it
/// cannot serve.
async fn read_until_failure<S: EventStore>(
    store: &S,
    after: u64,
    limit: usize,
) -> (Vec<(u64, Value)>, Option<FeedError>) {
    let (events, failure) = match store.read_all(after, limit).await {
        Ok(events) => (events, None),
        Err(source) => {
            // A damaged row fails the whole read: read again up to the row before it.
            let before = match &source {
                StoreError::Corrupt { position, .. } if *position > after + 1 => {
                    let count = usize::try_from(position - after - 1).unwrap_or(limit);
                    store
                        .read_all(after, count.min(limit))
                        .await
                        .unwrap_or_default()
                }
                _ => Vec::new(),
            };
            (before, Some(FeedError::Store { after, source }))
        }
    };
    let mut encoded = Vec::with_capacity(events.len());
    for event in &events {
        match cloud_event(event) {
            Ok(json) => encoded.push((event.position(), json)),
            Err(error) => return (encoded, Some(error)),
        }
    }
    (encoded, failure)
}
