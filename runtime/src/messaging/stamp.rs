//! Identity and time of a new envelope, from a single clock read.
//!
//! What the ids promise: every id is a UUID v7 whose timestamp is the envelope's occurred-on
//! time to the millisecond. Ids made on one thread strictly increase, in the order they were
//! made. Ids made on different threads are ordered by their clocks to about a quarter of a
//! microsecond (the 12-bit sub-millisecond fraction); within one such fraction their order is
//! unspecified. No id repeats: a thread's ids are strictly increasing, and the 62 random bits
//! make a collision between threads as unlikely as one between any two UUID v4.

use chrono::{DateTime, Utc};
use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

thread_local! {
    /// The last id this thread made, to keep its ids strictly increasing.
    static LAST: Cell<u128> = const { Cell::new(0) };
}

/// The bits of a v7 id below the timestamp and version: the 12-bit fraction and, after the two
/// variant bits, 62 random bits. Adding one to an id adds to the random bits; the variant
/// bits sit in between and are stepped over.
const RANDOM_BITS: u128 = (1 << 62) - 1;
const VARIANT_BITS: u128 = 0b11 << 62;

/// A fresh UUID v7 and the instant it encodes.
///
/// One clock read gives both: the v7 timestamp takes the milliseconds, the next 12 bits the
/// sub-millisecond fraction (RFC 9562, section 6.2, method 3); the remaining 62 bits are
/// random. If the clock has not moved past this thread's previous id (or went back), the new
/// id is the previous one plus one (RFC 9562's monotonic random method), and the time is the
/// one that id encodes, so id and time stay consistent.
#[inline]
pub(crate) fn now() -> (Uuid, DateTime<Utc>) {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let millis = since_epoch.as_millis() as u64;
    let sub_milli_nanos = since_epoch.subsec_nanos() % 1_000_000;
    // Scale the nanoseconds within the millisecond to 12 bits.
    let fraction = ((sub_milli_nanos as u64) << 12) / 1_000_000;
    let random = fastrand::u64(..).to_be_bytes();
    let mut tail = [0u8; 10];
    tail[0] = (fraction >> 8) as u8 & 0x0f;
    tail[1] = fraction as u8;
    tail[2..].copy_from_slice(&random);
    let fresh = uuid::Builder::from_unix_timestamp_millis(millis, &tail)
        .into_uuid()
        .as_u128();
    let id = LAST.with(|last| {
        let previous = last.get();
        let id = if fresh > previous {
            fresh
        } else {
            successor(previous)
        };
        last.set(id);
        id
    });
    if id == fresh {
        let time = DateTime::<Utc>::from_timestamp(
            since_epoch.as_secs() as i64,
            since_epoch.subsec_nanos(),
        )
        .unwrap_or_default();
        (Uuid::from_u128(id), time)
    } else {
        (Uuid::from_u128(id), time_of(id))
    }
}

/// The next v7 id after `id`: one more in the random bits, carrying into the fraction and the
/// timestamp past the variant and version bits.
#[cold]
fn successor(id: u128) -> u128 {
    if id & RANDOM_BITS != RANDOM_BITS {
        return id + 1;
    }
    // The random bits are full: clear them and add one to the 12-bit fraction above the
    // variant bits (bits 64..76), which carries into the timestamp through the version bits.
    let cleared = id & !RANDOM_BITS;
    let fraction = (cleared >> 64) & 0xfff;
    if fraction != 0xfff {
        return cleared + (1 << 64);
    }
    let millis = (cleared >> 80) + 1;
    (millis << 80) | (0x7 << 76) | (cleared & VARIANT_BITS)
}

/// The instant a v7 id made by [`now`] encodes: its milliseconds and sub-millisecond fraction.
fn time_of(id: u128) -> DateTime<Utc> {
    let millis = (id >> 80) as i64;
    let fraction = ((id >> 64) & 0xfff) as i64;
    let nanos = (fraction * 1_000_000) >> 12;
    DateTime::<Utc>::from_timestamp_millis(millis).unwrap_or_default()
        + chrono::Duration::nanoseconds(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_7_and_encode_the_stamped_time() {
        for _ in 0..1000 {
            let (id, time) = now();
            assert_eq!(id.get_version_num(), 7);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            let (secs, nanos) = id.get_timestamp().expect("v7 has a timestamp").to_unix();
            assert_eq!(secs as i64, time.timestamp());
            assert_eq!(nanos / 1_000_000, time.timestamp_subsec_millis());
        }
    }

    #[test]
    fn ids_made_on_one_thread_strictly_increase() {
        let ids: Vec<Uuid> = (0..20_000).map(|_| now().0).collect();
        for pair in ids.windows(2) {
            assert!(
                pair[0] < pair[1],
                "{} was made before {} but does not sort before it",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn ids_from_several_threads_are_unique_and_each_thread_s_increase() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..20_000).map(|_| now().0).collect::<Vec<_>>()))
            .collect();
        let mut all = std::collections::HashSet::new();
        for thread in threads {
            let ids = thread.join().unwrap();
            assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
            all.extend(ids);
        }
        assert_eq!(all.len(), 4 * 20_000);
    }

    #[test]
    fn the_successor_steps_over_the_variant_and_version_bits() {
        let id = uuid::Builder::from_unix_timestamp_millis(
            1_000,
            &[0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        )
        .into_uuid()
        .as_u128();
        let next = Uuid::from_u128(successor(id));
        assert!(next.as_u128() > id);
        assert_eq!(next.get_version_num(), 7);
        assert_eq!(next.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(next.get_timestamp().unwrap().to_unix(), (1, 1_000_000));
        let within = successor(Uuid::from_u128(id).as_u128() & !(1 << 10));
        assert_eq!(Uuid::from_u128(within).get_version_num(), 7);
        assert_eq!(time_of(successor(id)).timestamp_millis(), 1_001);
    }
}
