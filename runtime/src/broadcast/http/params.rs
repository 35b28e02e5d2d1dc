//! The feed's query parameters and the `Last-Event-ID` header, read strictly: each mistake
//! is a sentence for the 400's body.

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::HeaderMap;

/// The query string as its name–value pairs, in order, repeats included.
pub(super) type Pairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// The parameters of a page request: read after `after`, at most `limit` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PageParams {
    pub(super) after: u64,
    pub(super) limit: usize,
}

/// Reads `after` and `limit`; `limit` defaults to `default` and may not exceed `max`.
pub(super) fn page(pairs: Pairs, default: usize, max: usize) -> Result<PageParams, String> {
    let pairs = pairs_of(pairs)?;
    let mut after = None;
    let mut limit = None;
    for (name, value) in &pairs {
        match name.as_str() {
            "after" => set(&mut after, "after", position("`after`", value)?)?,
            "limit" => set(&mut limit, "limit", page_size(value, max)?)?,
            _ => return Err(unknown(name, "`after` and `limit`")),
        }
    }
    Ok(PageParams {
        after: after.unwrap_or(0),
        limit: limit.unwrap_or(default),
    })
}

/// Reads where a live tail starts: after the `Last-Event-ID` header's position if it has one,
/// else after the `after` parameter (default 0).
pub(super) fn live(pairs: Pairs, headers: &HeaderMap) -> Result<u64, String> {
    let pairs = pairs_of(pairs)?;
    let mut after = None;
    for (name, value) in &pairs {
        match name.as_str() {
            "after" => set(&mut after, "after", position("`after`", value)?)?,
            _ => return Err(unknown(name, "`after` (and the `Last-Event-ID` header)")),
        }
    }
    if let Some(header) = headers.get("last-event-id") {
        let text = header.to_str().map_err(|_| {
            "the `Last-Event-ID` header must be a position (a whole number, 0 or greater), \
             and it is not text"
                .to_owned()
        })?;
        return position("the `Last-Event-ID` header", text.trim());
    }
    Ok(after.unwrap_or(0))
}

fn pairs_of(pairs: Pairs) -> Result<Vec<(String, String)>, String> {
    pairs
        .map(|Query(pairs)| pairs)
        .map_err(|rejection| format!("the query string cannot be read: {}", rejection.body_text()))
}

fn set<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), String> {
    if slot.replace(value).is_some() {
        return Err(format!("`{name}` is given more than once: give it once"));
    }
    Ok(())
}

fn unknown(name: &str, known: &str) -> String {
    format!("unknown parameter `{name}`: this endpoint takes {known}")
}

/// How a value that should be a number appears in a message.
fn shown(value: &str) -> String {
    if value.is_empty() {
        "empty".to_owned()
    } else {
        format!("`{value}`")
    }
}

fn position(what: &str, value: &str) -> Result<u64, String> {
    value.parse().map_err(|_| {
        let why = if value.starts_with('-') && value[1..].parse::<u64>().is_ok() {
            "positions are never negative"
        } else if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            "it is too large"
        } else {
            "it is not a whole number"
        };
        format!(
            "{what} must be a position: a whole number, 0 or greater (0 reads from the \
             start); it is {}, and {why}",
            shown(value)
        )
    })
}

fn page_size(value: &str, max: usize) -> Result<usize, String> {
    let range = || format!("`limit` must be a whole number from 1 to {max}");
    match value.parse::<u64>() {
        Ok(0) => Err(format!(
            "{}; it is 0, and a page holds at least one event",
            range()
        )),
        Ok(n) if n > max as u64 => Err(format!(
            "{}; it is {n}, more than the largest page this feed serves",
            range()
        )),
        Ok(n) => Ok(n as usize),
        Err(_) if value.starts_with('-') => Err(format!("{}; it is {}", range(), shown(value))),
        Err(_) if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => Err(format!(
            "{}; it is {}, more than the largest page this feed serves",
            range(),
            shown(value)
        )),
        Err(_) => Err(format!(
            "{}; it is {}, not a whole number",
            range(),
            shown(value)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Pairs {
        Ok(Query(
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        ))
    }

    fn page_of(pairs: &[(&str, &str)]) -> Result<PageParams, String> {
        page(query(pairs), 100, 1000)
    }

    #[test]
    fn defaults_and_values() {
        assert_eq!(
            page_of(&[]).unwrap(),
            PageParams {
                after: 0,
                limit: 100
            }
        );
        assert_eq!(
            page_of(&[("limit", "1000"), ("after", "42")]).unwrap(),
            PageParams {
                after: 42,
                limit: 1000
            }
        );
    }

    #[test]
    fn each_mistake_says_what_is_wrong() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("after", "abc")], "`abc`, and it is not a whole number"),
            (&[("after", "-5")], "positions are never negative"),
            (&[("after", "")], "it is empty"),
            (&[("after", "99999999999999999999")], "too large"),
            (&[("limit", "0")], "a page holds at least one event"),
            (
                &[("limit", "1001")],
                "from 1 to 1000; it is 1001, more than",
            ),
            (&[("limit", "-1")], "from 1 to 1000; it is `-1`"),
            (&[("limit", "ten")], "`ten`, not a whole number"),
            (
                &[("after", "1"), ("after", "2")],
                "`after` is given more than once",
            ),
            (&[("afer", "1")], "unknown parameter `afer`"),
        ];
        for (pairs, expected) in cases {
            let message = page_of(pairs).unwrap_err();
            assert!(message.contains(expected), "{pairs:?}: {message}");
        }
    }

    #[test]
    fn the_header_takes_precedence_over_after() {
        let mut headers = HeaderMap::new();
        assert_eq!(live(query(&[("after", "3")]), &headers).unwrap(), 3);
        headers.insert("last-event-id", "7".parse().unwrap());
        assert_eq!(live(query(&[("after", "3")]), &headers).unwrap(), 7);
        headers.insert("last-event-id", "x".parse().unwrap());
        let message = live(query(&[]), &headers).unwrap_err();
        assert!(message.contains("`Last-Event-ID` header"), "{message}");
        let message = live(query(&[("limit", "3")]), &HeaderMap::new()).unwrap_err();
        assert!(message.contains("unknown parameter `limit`"), "{message}");
    }
}
