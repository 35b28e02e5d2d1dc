//! The two PostgreSQL types the store binds and reads besides sqlx's built-in ones: `uuid`
//! and `timestamptz`, in PostgreSQL's binary format. (sqlx's own `uuid` and `chrono` features
//! would link a libsqlite3-sys that the SQLite backend's rusqlite cannot share.)

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};
use uuid::Uuid;

/// A `uuid` value: 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PgUuid(pub(super) Uuid);

impl Type<Postgres> for PgUuid {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(2950))
    }
}

impl PgHasArrayType for PgUuid {
    fn array_type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(2951))
    }
}

impl Encode<'_, Postgres> for PgUuid {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
}

impl Decode<'_, Postgres> for PgUuid {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        let uuid = match value.format() {
            PgValueFormat::Binary => Uuid::from_slice(value.as_bytes()?)?,
            PgValueFormat::Text => value.as_str()?.parse()?,
        };
        Ok(PgUuid(uuid))
    }
}

/// A `timestamptz` value: microseconds since 2000-01-01 00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PgTime(pub(super) i64);

/// PostgreSQL's range for timestamps, in microseconds since its epoch: from 4714-11-24 BC
/// to the end of 294276 AD (`MIN_TIMESTAMP` and `END_TIMESTAMP` in its sources).
const MIN_MICROS: i64 = -211_813_488_000_000_000;
const END_MICROS: i64 = 9_223_371_331_200_000_000;

fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(946_684_800, 0).expect("2000-01-01 is a valid time")
}

impl PgTime {
    /// The time, truncated to the microsecond; `None` outside PostgreSQL's range.
    pub(super) fn from_datetime(time: DateTime<Utc>) -> Option<PgTime> {
        let since = time.signed_duration_since(epoch());
        let micros = since.num_microseconds()?;
        // `num_microseconds` rounds toward zero; before the epoch, step down to the floor.
        let micros = if since < TimeDelta::microseconds(micros) {
            micros - 1
        } else {
            micros
        };
        (MIN_MICROS..END_MICROS)
            .contains(&micros)
            .then_some(PgTime(micros))
    }

    /// The time, if it is one: `infinity` and `-infinity` are not.
    pub(super) fn to_datetime(self) -> Option<DateTime<Utc>> {
        epoch()
            .checked_add_signed(TimeDelta::microseconds(self.0))
            .filter(|_| self.0 != i64::MAX && self.0 != i64::MIN)
    }
}

impl Type<Postgres> for PgTime {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(1184))
    }
}

impl PgHasArrayType for PgTime {
    fn array_type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(1185))
    }
}

impl Encode<'_, Postgres> for PgTime {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.extend_from_slice(&self.0.to_be_bytes());
        Ok(IsNull::No)
    }
}

impl Decode<'_, Postgres> for PgTime {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        match value.format() {
            PgValueFormat::Binary => Ok(PgTime(i64::from_be_bytes(value.as_bytes()?.try_into()?))),
            PgValueFormat::Text => Err("a timestamptz in text format: read it in binary".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_convert_to_the_microsecond_both_ways() {
        let cases = [
            Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap()
                + TimeDelta::nanoseconds(123_456_789),
            Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap()
                + TimeDelta::nanoseconds(999_999_999),
            Utc.with_ymd_and_hms(-4000, 1, 1, 0, 0, 0).unwrap(),
        ];
        for time in cases {
            let pg = PgTime::from_datetime(time).unwrap();
            let back = pg.to_datetime().unwrap();
            assert!(
                back <= time && time - back < TimeDelta::microseconds(1),
                "{time} -> {back}"
            );
        }
        assert_eq!(PgTime::from_datetime(epoch()), Some(PgTime(0)));
        let before = epoch() - TimeDelta::nanoseconds(1);
        assert_eq!(PgTime::from_datetime(before), Some(PgTime(-1)), "floors");
    }

    #[test]
    fn times_outside_postgres_range_are_refused() {
        let ancient = Utc.with_ymd_and_hms(-5000, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(PgTime::from_datetime(ancient), None);
        assert_eq!(PgTime(i64::MAX).to_datetime(), None, "infinity");
        assert_eq!(PgTime(i64::MIN).to_datetime(), None, "-infinity");
    }
}
