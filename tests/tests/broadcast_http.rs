//! The HTTP feed served on a real socket and read with a real HTTP client: paging by the
//! next links, the caching headers, each bad parameter's 400, the live tail and its resume,
//! upcasting, and the rows it cannot serve. SQLite for most; the paging and an unreachable
//! store against PostgreSQL too.

use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tidings::broadcast::http::Feed;
use tidings::persistence::sqlite::rusqlite::types::Value;
use tidings::persistence::sqlite::rusqlite::{params, Connection};
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::{EventStore, ExpectedVersion, NewEvent};
use tidings::{upcaster, AnyEnvelope, DomainEvent, Envelope};
use tidings_tests::Scratch;
use uuid::Uuid;

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "feed_test.parcel_sent", version = 1)]
struct ParcelSentV1 {
    n: u64,
}

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "feed_test.parcel_sent", version = 2)]
struct ParcelSent {
    n: u64,
    carrier: String,
}

#[upcaster]
fn parcel_sent_v1(old: ParcelSentV1) -> ParcelSent {
    ParcelSent {
        n: old.n,
        carrier: "unknown".into(),
    }
}

fn parcel(n: u64) -> NewEvent {
    NewEvent::from_envelope(&Envelope::new(ParcelSent {
        n,
        carrier: "post".into(),
    }))
    .unwrap()
}

/// Appends parcels `range`, ten to an append, spread over three streams; their ids in order.
async fn append_parcels<S: EventStore>(
    store: &S,
    range: std::ops::RangeInclusive<u64>,
) -> Vec<Uuid> {
    let events: Vec<NewEvent> = range.map(parcel).collect();
    for (i, chunk) in events.chunks(10).enumerate() {
        let stream = format!("parcels-{}", i % 3);
        store
            .append(&stream, ExpectedVersion::Any, chunk)
            .await
            .unwrap();
    }
    events.iter().map(|e| e.metadata().id()).collect()
}

/// Serves `router` on a fresh loopback port until the test ends; its base URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no `{name}` header"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// One page as the client saw it.
struct Page {
    events: Vec<serde_json::Value>,
    next: String,
    cache_control: String,
}

async fn get_page(client: &reqwest::Client, url: &str) -> Page {
    let response = client.get(url).send().await.unwrap();
    let status = response.status();
    assert_eq!(
        status,
        200,
        "{url}: {}",
        response.text().await.unwrap_or_default()
    );
    assert!(header(&response, "content-type").starts_with("application/json"));
    let cache_control = header(&response, "cache-control");
    let link = header(&response, "link");
    let body: serde_json::Value = response.json().await.unwrap();
    let next = body["next"].as_str().expect("a `next` link").to_owned();
    assert_eq!(
        link,
        format!("<{next}>; rel=\"next\""),
        "header and body agree"
    );
    Page {
        events: body["events"].as_array().unwrap().clone(),
        next,
        cache_control,
    }
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Reads the whole feed mounted at `base` + `/ordering` by following the next links from the
/// first page of 100, and checks it against the ids appended.
async fn pages_through_250<S: EventStore + 'static>(store: Arc<S>) {
    let ids = append_parcels(&*store, 1..=250).await;
    let app = axum::Router::new().nest("/ordering", Feed::new(store.clone()).router());
    let base = serve(app).await;
    let client = client();

    let mut url = format!("{base}/ordering/events?limit=100");
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let page = get_page(&client, &url).await;
        assert!(
            page.next.starts_with("/ordering/events?after="),
            "the next link keeps the mount path: {}",
            page.next
        );
        let full = page.events.len() == 100;
        let expected_caching = if full { IMMUTABLE } else { "no-cache" };
        assert_eq!(page.cache_control, expected_caching, "page {url}");
        sizes.push(page.events.len());
        if page.events.is_empty() {
            assert_eq!(
                format!("{base}{}", page.next),
                url,
                "after the head, the next link asks again"
            );
            break;
        }
        seen.extend(page.events);
        url = format!("{base}{}", page.next);
    }
    assert_eq!(sizes, [100, 100, 50, 0]);
    let positions: Vec<u64> = seen
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    let stored: Vec<u64> = store
        .read_all(0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.position())
        .collect();
    assert_eq!(stored.len(), 250);
    assert_eq!(positions, stored, "in order, none skipped or twice");
    let served: Vec<Uuid> = seen
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(served, ids);

    // Each is a CloudEvent tidings reads back, with its stream as `subject`.
    let tenth = &seen[9];
    assert_eq!(tenth["subject"], "parcels-0");
    assert_eq!(seen[10]["subject"], "parcels-1");
    assert_eq!(tenth["type"], "feed_test.parcel_sent");
    assert_eq!(tenth["typeversion"], 2);
    let envelope = AnyEnvelope::from_value(tenth.clone()).unwrap();
    let typed: Envelope<ParcelSent> = envelope.downcast().unwrap();
    assert_eq!(typed.payload().n, 10);
    assert_eq!(typed.metadata().id(), ids[9]);

    // The last partial page becomes full, and immutable, once enough events follow.
    append_parcels(&*store, 251..=300).await;
    let all = store.read_all(0, 1000).await.unwrap();
    let (at_200, at_300) = (all[199].position(), all[299].position());
    let third = get_page(
        &client,
        &format!("{base}/ordering/events?after={at_200}&limit=100"),
    )
    .await;
    assert_eq!(third.events.len(), 100);
    assert_eq!(third.cache_control, IMMUTABLE);
    assert_eq!(
        third.next,
        format!("/ordering/events?after={at_300}&limit=100")
    );
}

fn sqlite_store(dir: &Scratch) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open(dir.join("events.db")).unwrap())
}

#[tokio::test]
async fn paging_through_250_events_follows_the_next_links() {
    let dir = Scratch::new("feed-paging");
    pages_through_250(sqlite_store(&dir)).await;
}

#[tokio::test]
async fn a_request_without_limit_gets_the_default_page_and_a_link_that_names_it() {
    let dir = Scratch::new("feed-default");
    let store = sqlite_store(&dir);
    append_parcels(&*store, 1..=30).await;
    let base = serve(Feed::new(store).default_limit(20).router()).await;
    let client = client();
    let first = get_page(&client, &format!("{base}/events")).await;
    assert_eq!(first.events.len(), 20);
    assert_eq!(first.cache_control, IMMUTABLE);
    assert_eq!(first.next, "/events?after=20&limit=20");
    let second = get_page(&client, &format!("{base}{}", first.next)).await;
    assert_eq!(second.events.len(), 10);
    assert_eq!(second.cache_control, "no-cache");
    assert_eq!(second.next, "/events?after=30&limit=20");
}

#[tokio::test]
async fn each_bad_parameter_gets_a_400_saying_what_was_wrong() {
    let dir = Scratch::new("feed-bad-params");
    let store = sqlite_store(&dir);
    append_parcels(&*store, 1..=3).await;
    let base = serve(Feed::new(store).max_limit(500).router()).await;
    let client = client();
    let cases = [
        ("/events?after=abc", "`after` must be a position"),
        (
            "/events?after=abc",
            "it is `abc`, and it is not a whole number",
        ),
        ("/events?after=-1", "positions are never negative"),
        ("/events?after=", "it is empty"),
        ("/events?after=1.5", "it is `1.5`"),
        ("/events?limit=0", "a page holds at least one event"),
        (
            "/events?limit=501",
            "`limit` must be a whole number from 1 to 500; it is 501",
        ),
        (
            "/events?limit=-3",
            "`limit` must be a whole number from 1 to 500; it is `-3`",
        ),
        ("/events?limit=ten", "it is `ten`, not a whole number"),
        ("/events?after=1&after=2", "`after` is given more than once"),
        (
            "/events?afer=10",
            "unknown parameter `afer`: this endpoint takes `after` and `limit`",
        ),
        ("/events/live?limit=10", "unknown parameter `limit`"),
        ("/events/live?after=x", "`after` must be a position"),
    ];
    for (path, expected) in cases {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(
            header(&response, "content-type"),
            "text/plain; charset=utf-8",
            "{path}"
        );
        let body = response.text().await.unwrap();
        assert!(body.contains(expected), "{path}: {body}");
    }
    let response = client
        .get(format!("{base}/events/live"))
        .header("Last-Event-ID", "seven")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("the `Last-Event-ID` header must be a position") && body.contains("`seven`"),
        "{body}"
    );
}

/// One server-sent event.
#[derive(Debug)]
struct SseEvent {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

/// A block of a server-sent event stream.
enum Block {
    Event(SseEvent),
    Comment,
}

/// Reads server-sent events from a response body, skipping keep-alive comments.
struct SseReader {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Vec<u8>>> + Send>>,
    buffer: String,
}

impl SseReader {
    fn new(response: reqwest::Response) -> SseReader {
        let body = response
            .bytes_stream()
            .map(|chunk| chunk.map(|b| b.to_vec()));
        SseReader {
            body: Box::pin(body),
            buffer: String::new(),
        }
    }

    /// The next event, or `None` when the server ended the stream; keep-alives are passed
    /// over.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Block::Event(event) = self.next_block().await? {
                return Some(event);
            }
        }
    }

    /// Waits for the next keep-alive comment; an event before it fails the test.
    async fn keep_alive(&mut self) {
        match self.next_block().await.expect("the stream goes on") {
            Block::Comment => {}
            Block::Event(event) => panic!("{event:?} came where a keep-alive was expected"),
        }
    }

    /// The next block: an event, or a comment (the keep-alive).
    async fn next_block(&mut self) -> Option<Block> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    id: None,
                    event: None,
                    data: String::new(),
                };
                let mut fields = false;
                for line in block.lines() {
                    let (name, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match name {
                        "" => continue,
                        "id" => event.id = Some(value.to_owned()),
                        "event" => event.event = Some(value.to_owned()),
                        "data" => {
                            if !event.data.is_empty() {
                                event.data.push('\n');
                            }
                            event.data.push_str(value);
                        }
                        other => panic!("unexpected SSE field `{other}`"),
                    }
                    fields = true;
                }
                return Some(if fields {
                    Block::Event(event)
                } else {
                    Block::Comment
                });
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.body.next())
                .await
                .expect("nothing from the server within 10 s")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        }
    }

    /// The next event, which must be a stored one: its position (the SSE id) and parcel number.
    async fn parcel(&mut self) -> (u64, u64) {
        let event = self.next().await.expect("the stream goes on");
        assert_eq!(event.event, None, "{event:?}");
        let json: serde_json::Value = serde_json::from_str(&event.data).unwrap();
        let position = event.id.expect("an id").parse().unwrap();
        assert_eq!(json["position"], position);
        (position, json["data"]["n"].as_u64().unwrap())
    }
}

#[tokio::test]
async fn the_live_tail_sends_new_events_and_resumes_after_the_last_event_id() {
    let dir = Scratch::new("feed-live");
    let store = sqlite_store(&dir);
    append_parcels(&*store, 1..=3).await;
    let feed = Feed::new(store.clone())
        .poll_interval(Duration::from_millis(20))
        .keep_alive(Duration::from_millis(50));
    let base = serve(feed.router()).await;
    let client = client();

    let response = client
        .get(format!("{base}/events/live?after=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(header(&response, "content-type").starts_with("text/event-stream"));
    let mut tail = SseReader::new(response);
    assert_eq!(tail.parcel().await, (2, 2));
    assert_eq!(tail.parcel().await, (3, 3));

    // Appended after the connection opened, caught up and went idle (a keep-alive came).
    tail.keep_alive().await;
    let store_again = store.clone();
    store_again
        .append("late", ExpectedVersion::NoStream, &[parcel(4), parcel(5)])
        .await
        .unwrap();
    assert_eq!(tail.parcel().await, (4, 4));
    assert_eq!(tail.parcel().await, (5, 5));
    drop(tail);

    // Missed while disconnected; the header wins over `after`.
    store
        .append("late", ExpectedVersion::Any, &[parcel(6), parcel(7)])
        .await
        .unwrap();
    let response = client
        .get(format!("{base}/events/live?after=0"))
        .header("Last-Event-ID", "5")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut resumed = SseReader::new(response);
    assert_eq!(resumed.parcel().await, (6, 6));
    assert_eq!(resumed.parcel().await, (7, 7));
    store
        .append("late", ExpectedVersion::Any, &[parcel(8)])
        .await
        .unwrap();
    assert_eq!(resumed.parcel().await, (8, 8));
}

#[tokio::test]
async fn an_old_version_is_served_upcast_to_the_current_one() {
    let dir = Scratch::new("feed-upcast");
    let store = sqlite_store(&dir);
    let old = NewEvent::from_envelope(&Envelope::new(ParcelSentV1 { n: 41 })).unwrap();
    assert_eq!(old.version(), 1);
    store
        .append("old", ExpectedVersion::NoStream, std::slice::from_ref(&old))
        .await
        .unwrap();
    let base = serve(Feed::new(store.clone()).router()).await;
    let page = get_page(&client(), &format!("{base}/events")).await;
    let event = &page.events[0];
    assert_eq!(event["typeversion"], 2);
    assert_eq!(
        event["data"],
        serde_json::json!({"n": 41, "carrier": "unknown"})
    );
    assert_eq!(event["id"], old.metadata().id().to_string());
    // The row itself is untouched.
    assert_eq!(store.read_all(0, 1).await.unwrap()[0].version(), 1);
}

/// A store whose positions 1 and 3 hold sound events, and 2 an event of a known type whose
/// `data` column is `data`, written with raw SQL.
fn store_with_bad_row(dir: &Scratch, data: Value) -> Arc<SqliteStore> {
    let path = dir.join("events.db");
    let store = SqliteStore::open(&path).unwrap();
    store
        .append_sync("parcels", ExpectedVersion::NoStream, &[parcel(1)])
        .unwrap();
    drop(store);
    let conn = Connection::open(&path).unwrap();
    let id = Uuid::now_v7();
    conn.execute(
        "INSERT INTO tidings_events
            (stream, stream_version, id, name, version, occurred_on, correlation_id,
             causation_id, source, data)
         VALUES ('parcels', 2, ?1, 'feed_test.parcel_sent', 2, 0, ?1, NULL, '/parcels', ?2)",
        params![id.as_bytes(), data],
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    store
        .append_sync("parcels", ExpectedVersion::Exact(2), &[parcel(3)])
        .unwrap();
    Arc::new(store)
}

async fn assert_fails_at_position_2(base: &str, expected: &str) {
    let client = client();
    let response = client
        .get(format!("{base}/events?after=0&limit=10"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(header(&response, "cache-control"), "no-store");
    let body = response.text().await.unwrap();
    assert!(
        body.contains("position 2") && body.contains(expected),
        "{body}"
    );

    // The events before it and after it are served.
    let before = get_page(&client, &format!("{base}/events?after=0&limit=1")).await;
    assert_eq!(before.events[0]["position"], 1);
    let after = get_page(&client, &format!("{base}/events?after=2")).await;
    assert_eq!(after.events[0]["position"], 3);

    // The live tail sends the first event, then ends with the error, not skipping the row.
    let response = client
        .get(format!("{base}/events/live"))
        .send()
        .await
        .unwrap();
    let mut tail = SseReader::new(response);
    let first = tail.next().await.unwrap();
    assert_eq!(first.id.as_deref(), Some("1"));
    let error = tail.next().await.expect("an error event");
    assert_eq!(error.event.as_deref(), Some("feed-error"));
    assert!(error.data.contains("position 2"), "{error:?}");
    assert!(
        tail.next().await.is_none(),
        "the stream ends after the error"
    );
}

#[tokio::test]
async fn a_row_that_cannot_be_decoded_fails_the_request_naming_its_position() {
    let dir = Scratch::new("feed-undecodable");
    let data = r#"{"n": "not a number"}"#;
    let store = store_with_bad_row(&dir, Value::Text(data.into()));
    let base = serve(Feed::new(store).router()).await;
    assert_fails_at_position_2(&base, "cannot decode the event at position 2").await;
}

#[tokio::test]
async fn a_damaged_row_fails_the_request_naming_its_position() {
    let dir = Scratch::new("feed-damaged");
    // Data that is not text: the store itself cannot read the row.
    let store = store_with_bad_row(&dir, Value::Blob(vec![0xff, 0x00, 0xfe]));
    let base = serve(Feed::new(store).router()).await;
    assert_fails_at_position_2(&base, "is not a readable event").await;
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use tidings::persistence::postgres::PostgresStore;
    use tidings_tests::postgres::PgSchema;

    #[tokio::test]
    async fn paging_through_250_events_follows_the_next_links() {
        let schema = PgSchema::new();
        let store = PostgresStore::open(schema.pool(4).await).await.unwrap();
        pages_through_250(Arc::new(store)).await;
    }

    #[tokio::test]
    async fn a_store_that_cannot_be_reached_is_a_503_with_its_reason() {
        let schema = PgSchema::new();
        let store = Arc::new(PostgresStore::open(schema.pool(2).await).await.unwrap());
        append_parcels(&*store, 1..=3).await;
        let base = serve(Feed::new(store.clone()).router()).await;
        let client = client();
        assert_eq!(
            get_page(&client, &format!("{base}/events"))
                .await
                .events
                .len(),
            3
        );

        store.pool().close().await;
        let response = client.get(format!("{base}/events")).send().await.unwrap();
        assert_eq!(response.status(), 503);
        let body = response.text().await.unwrap();
        assert!(
            body.contains("cannot read the events after position 0")
                && body.contains("event store backend error"),
            "{body}"
        );
    }
}
