//! The HTTP feed of the store's events (feature `http`, on axum): pages of CloudEvents JSON
//! a context that missed messages catches up with, and a live tail for one that is caught up.
//!
//! [`Feed::router`] is an [`axum::Router`] with two routes; mount it where you like (nest it
//! under a path, add your own authentication layers) and serve it with your server, or with
//! the axum that tidings re-exports (`tidings::broadcast::http::axum`, with its HTTP/1.1
//! server), so no dependency of your own is needed:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tidings::broadcast::http::{axum, Feed};
//! use tidings::persistence::InMemoryStore;
//!
//! # async fn run() -> std::io::Result<()> {
//! let store = Arc::new(InMemoryStore::new()); // or a SQLite or PostgreSQL store
//! let feed = Feed::new(store)
//!     .max_limit(500)
//!     .poll_interval(Duration::from_millis(250));
//! let app: axum::Router = axum::Router::new().nest("/ordering", feed.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, app).await // GET /ordering/events?after=0&limit=100
//! # }
//! ```
//!
//! The feed is generic over [`EventStore`]: the in-memory, SQLite and PostgreSQL stores serve
//! it alike, and several server processes may serve one PostgreSQL store.
//!
//! # `GET /events?after=<position>&limit=<n>`
//!
//! The stored events whose global position is greater than `after` (default 0: from the
//! start), at most `limit` of them (default 100, at most [`Feed::max_limit`], 1000 unless
//! set), in position order, none skipped:
//!
//! ```json
//! {
//!   "events": [
//!     { "specversion": "1.0", "id": "…", "source": "…", "type": "shop.order_paid",
//!       "time": "…", "datacontenttype": "application/json", "typeversion": 2,
//!       "correlationid": "…", "subject": "order-7", "position": 101, "data": { … } }
//!   ],
//!   "next": "/events?after=101&limit=100"
//! }
//! ```
//!
//! - Each event is the envelope's CloudEvents 1.0 JSON form (the one
//!   [`Envelope::to_json`](crate::Envelope::to_json) writes), with two more extension
//!   attributes: `subject`, the stream (as the AMQP binding sends it), and `position`, the
//!   global position (a JSON number).
//! - `next` (and the `Link: <…>; rel="next"` header, the same URL) reads on after the last
//!   event of the page, with the same `limit`; after an empty page it is the same request
//!   again. The URL is relative to the server: its path is the one the request came in on,
//!   wherever the router is mounted.
//! - **Caching.** A full page (exactly `limit` events) never changes: a store never lets an
//!   event commit at or below a position it has returned (the promise of
//!   [`EventStore::read_all`]), and a committed
//!   event is never rewritten, so the first `limit` events after `after` are fixed once they
//!   are read. It is sent with `Cache-Control: public,
//!   max-age=31536000, immutable`, so caches and proxies may serve it to every reader. A
//!   partial page is the head of the feed, which grows with each append: it is sent with
//!   `Cache-Control: no-cache`, so a cache asks the server each time (a reader polling the
//!   head must see a new event at once, and a stale head would hide it for as long as it
//!   was cached).
//! - **Versions.** Each event is decoded through the registry, as every read path does: an
//!   event of an older version is upcast and served at its type's current version (the
//!   `typeversion` says which), so a reader only ever needs to know the current form. The
//!   serving program must therefore link the crates that declare the stored events' types.
//! - **Errors.** A bad parameter is a `400 Bad Request` whose plain-text body says what was
//!   wrong: `after` or `limit` not a whole number, negative, `limit` 0 or above the largest
//!   page, a parameter given twice, or an unknown parameter (a misspelt `after` would
//!   otherwise read from the start without a word). A row the program cannot decode (an
//!   unknown type, a version with no upcaster, data that does not fit, a damaged row) is not
//!   skipped: the request fails with `500 Internal Server Error` naming its position, since
//!   a reader that went past it would miss an event for good. A store that cannot be reached
//!   is a `503 Service Unavailable`, to retry. Error bodies are plain text, and each server
//!   error is also logged (`tracing`, level `error`).
//!
//! # `GET /events/live?after=<position>`: the live tail
//!
//! Server-sent events (`text/event-stream`): first the events after `after` (default 0),
//! then each new one as it is stored, for as long as the client stays connected. Each SSE
//! event carries one event's CloudEvents JSON (as above) as its `data`, and its position as
//! its `id`; the events are unnamed, so a browser's `EventSource.onmessage` receives them.
//! A client that reconnects sends the last id it received as the `Last-Event-ID` header
//! (`EventSource` does so by itself), and the tail resumes after it: the header takes
//! precedence over `after`. The same 400s as above apply to `after`, to an unknown
//! parameter and to a `Last-Event-ID` that is not a position.
//!
//! - **Polling.** The tail learns of new events by reading the store every
//!   [`Feed::poll_interval`] (500 ms unless set) while it is caught up, and at once while it
//!   is behind. That works whoever appends, in this process or another machine, with no
//!   notification channel; the price is latency (up to one interval between the commit and
//!   the event leaving) and one small query per interval per connected client. Shorten the
//!   interval for lower latency, lengthen it for a store with many readers.
//! - **Keep-alive.** A comment line every [`Feed::keep_alive`] (15 s unless set) keeps
//!   proxies from closing an idle connection.
//! - **Errors.** An event that cannot be read or decoded ends the stream: the events before
//!   it are sent, then one SSE event named `feed-error` whose data is the message, naming
//!   the position; nothing is skipped. A store that fails ends it the same way, and a client
//!   that reconnects resumes after its last id.
//!
//! [`EventStore::read_all`]: crate::persistence::EventStore::read_all

/// The web framework the feed is built on, at the version it uses, with its HTTP/1.1
/// server (`axum::serve`): [`Feed::router`] returns its `Router`.
pub use axum;

mod error;
mod event;
mod live;
mod page;
mod params;

use crate::persistence::EventStore;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use std::time::Duration;

/// The HTTP feed of a store's events: configure it, then mount its [`router`](Feed::router).
/// See the [module docs](self) for what it serves.
#[derive(Debug)]
pub struct Feed<S> {
    store: Arc<S>,
    config: Config,
}

/// The feed's settings, shared by its handlers.
#[derive(Debug, Clone, Copy)]
struct Config {
    default_limit: usize,
    max_limit: usize,
    poll_interval: Duration,
    keep_alive: Duration,
}

/// What the handlers share: the store and the settings.
#[derive(Debug)]
struct Shared<S> {
    store: Arc<S>,
    config: Config,
}

impl<S> Clone for Feed<S> {
    fn clone(&self) -> Feed<S> {
        Feed {
            store: self.store.clone(),
            config: self.config,
        }
    }
}

impl<S: EventStore + 'static> Feed<S> {
    /// The feed of `store`: pages of 100 events unless asked otherwise, at most 1000; the live
    /// tail polls every 500 ms and sends a keep-alive every 15 s.
    pub fn new(store: Arc<S>) -> Feed<S> {
        Feed {
            store,
            config: Config {
                default_limit: 100,
                max_limit: 1000,
                poll_interval: Duration::from_millis(500),
                keep_alive: Duration::from_secs(15),
            },
        }
    }

    /// The largest page a request may ask for (at least 1); a larger `limit` is a 400. The
    /// live tail reads the store in batches of this size. Lowers the default page size to
    /// it if need be.
    pub fn max_limit(mut self, events: usize) -> Feed<S> {
        self.config.max_limit = events.max(1);
        self.config.default_limit = self.config.default_limit.min(self.config.max_limit);
        self
    }

    /// The page size of a request that gives no `limit` (at least 1, at most
    /// [`max_limit`](Feed::max_limit)).
    pub fn default_limit(mut self, events: usize) -> Feed<S> {
        self.config.default_limit = events.clamp(1, self.config.max_limit);
        self
    }

    /// How often a caught-up live tail reads the store for new events: the longest wait
    /// between a commit and the event reaching a connected client.
    pub fn poll_interval(mut self, interval: Duration) -> Feed<S> {
        self.config.poll_interval = interval;
        self
    }

    /// How often an idle live tail sends a keep-alive comment.
    pub fn keep_alive(mut self, interval: Duration) -> Feed<S> {
        self.config.keep_alive = interval;
        self
    }

    /// The routes `GET /events` and `GET /events/live`, to serve, nest under a path, or wrap
    /// in your own layers. A router with its own state mounts it with
    /// [`Router::nest_service`].
    pub fn router(self) -> Router {
        let shared = Arc::new(Shared {
            store: self.store,
            config: self.config,
        });
        Router::new()
            .route("/events", get(page::page::<S>))
            .route("/events/live", get(live::live::<S>))
            .with_state(shared)
    }
}
