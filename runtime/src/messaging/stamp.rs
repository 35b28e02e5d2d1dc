//! Identity and time of a new envelope, from a single clock read.
//!
//! What the ids promise: every id is a UUID v7 whose timestamp is the envelope's occurred-on
//! time to the millisecond. Ids made on one thread strictly increase, in the order they were
//! made. Ids made on different threads are ordered by their clocks to about a quarter of a
//! microsecond (the 12-bit sub-millisecond fraction); within one such fraction their order is
//! unspecified. No id repeats: a thread's ids are strictly increasing, and the 62 random bits
//! make a collision between threads as unlikely as one between any two UUID v4.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

thread_local! {
    /// The last id this thread made, to keep its ids strictly increasing.
    static LAST: Cell<u128> = const { Cell::new(0) };
    /// The day of this thread's last stamp, in days since the epoch, and its date: a day
    /// number becomes a date by a division, and one day's stamps share it.
    static DAY: Cell<(u64, NaiveDate)> = const { Cell::new((u64::MAX, NaiveDate::MIN)) };
}

/// The days from 0001-01-01 (day 1 of the common era, as chrono counts) to 1970-01-01.
const EPOCH_DAYS_FROM_CE: u64 = 719_163;

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
    let fresh = v7(millis, fraction, fastrand::u64(..));
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
        let time = utc(since_epoch.as_secs(), since_epoch.subsec_nanos());
        (Uuid::from_u128(id), time)
    } else {
        (Uuid::from_u128(id), time_of(id))
    }
}

/// The UUID v7 of `millis` since the epoch, a 12-bit `fraction` of the millisecond and
/// `random` bits (62 of them used), laid out as RFC 9562 says (and as
/// `uuid::Builder::from_unix_timestamp_millis` does, in fewer steps).
#[inline]
fn v7(millis: u64, fraction: u64, random: u64) -> u128 {
    (u128::from(millis & 0xffff_ffff_ffff) << 80)
        | (0x7 << 76)
        | (u128::from(fraction & 0xfff) << 64)
        | (0b10 << 62)
        | (u128::from(random) & RANDOM_BITS)
}

/// The instant `secs` and `nanos` after the epoch, with the date of its day remembered by the
/// thread: what `DateTime::from_timestamp` gives, without working out the same date again.
#[inline]
fn utc(secs: u64, nanos: u32) -> DateTime<Utc> {
    let day = secs / 86_400;
    let date = DAY.with(|cached| {
        let (cached_day, date) = cached.get();
        if cached_day == day {
            return Some(date);
        }
        let date =
            NaiveDate::from_num_days_from_ce_opt(i32::try_from(day + EPOCH_DAYS_FROM_CE).ok()?)?;
        cached.set((day, date));
        Some(date)
    });
    let time = NaiveTime::from_num_seconds_from_midnight_opt((secs % 86_400) as u32, nanos);
    match (date, time) {
        (Some(date), Some(time)) => NaiveDateTime::new(date, time).and_utc(),
        _ => DateTime::default(),
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
    fn ids_are_laid_out_as_the_uuid_crate_lays_them_out() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..10_000 {
            let (millis, fraction, random) = (rng.u64(..1 << 48), rng.u64(..1 << 12), rng.u64(..));
            let mut tail = [0u8; 10];
            tail[0] = (fraction >> 8) as u8;
            tail[1] = fraction as u8;
            tail[2..].copy_from_slice(&random.to_be_bytes());
            let expected = uuid::Builder::from_unix_timestamp_millis(millis, &tail).into_uuid();
            assert_eq!(Uuid::from_u128(v7(millis, fraction, random)), expected);
        }
    }

    #[test]
    fn times_are_chrono_s_across_days_and_leap_years() {
        let mut rng = fastrand::Rng::with_seed(11);
        // Around midnights (one day after another, on one thread), then anywhere up to 2200.
        let around_midnights = (0..2_000u64).flat_map(|day| {
            let midnight = 1_700_000_000 / 86_400 * 86_400 + day * 86_400;
            [midnight - 1, midnight, midnight + 1]
        });
        let anywhere: Vec<u64> = (0..10_000).map(|_| rng.u64(..7_258_118_400)).collect();
        for secs in around_midnights.chain(anywhere) {
            let nanos = rng.u32(..1_000_000_000);
            let expected = DateTime::<Utc>::from_timestamp(secs as i64, nanos).unwrap();
            assert_eq!(
                utc(secs, nanos),
                expected,
                "{secs} s and {nanos} ns after the epoch"
            );
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
