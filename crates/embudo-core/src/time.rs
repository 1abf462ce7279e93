//! Points in time as milliseconds since the Unix epoch (UTC).
//!
//! The core never reads the clock: `now` is always a parameter.

use std::fmt;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// A point in time, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct Timestamp(i64);

pub const MILLIS_PER_SECOND: i64 = 1_000;
pub const MILLIS_PER_HOUR: i64 = 3_600_000;
pub const MILLIS_PER_DAY: i64 = 86_400_000;

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Timestamp {
        Timestamp(millis)
    }

    pub const fn from_secs(secs: i64) -> Timestamp {
        Timestamp(secs * MILLIS_PER_SECOND)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Parses an RFC 3339 / ISO 8601 date-time (`2026-03-02T10:00:00Z`, with offset or fraction),
    /// or a plain date (`2026-03-02`, taken as midnight UTC).
    pub fn parse(text: &str) -> Result<Timestamp, TimestampError> {
        let text = text.trim();
        if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
            return Ok(Timestamp(dt.timestamp_millis()));
        }
        // Space instead of `T`, as many exports write it.
        if let Ok(dt) = DateTime::parse_from_rfc3339(&text.replacen(' ', "T", 1)) {
            return Ok(Timestamp(dt.timestamp_millis()));
        }
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
            return Ok(Timestamp(dt.and_utc().timestamp_millis()));
        }
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(Timestamp(
                date.and_hms_opt(0, 0, 0)
                    .map_or(0, |dt| dt.and_utc().timestamp_millis()),
            ));
        }
        Err(TimestampError {
            text: text.chars().take(64).collect(),
        })
    }

    /// Days (fractional) from `self` to `later`; negative when `later` is earlier.
    pub fn days_until(self, later: Timestamp) -> f64 {
        (later.0 - self.0) as f64 / MILLIS_PER_DAY as f64
    }

    pub fn plus_millis(self, millis: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(millis))
    }

    pub fn plus_days(self, days: f64) -> Timestamp {
        Timestamp(self.0.saturating_add((days * MILLIS_PER_DAY as f64) as i64))
    }

    /// The calendar date-time in UTC.
    pub fn to_utc(self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0).unwrap_or(DateTime::UNIX_EPOCH)
    }

    /// The calendar date in UTC, as `YYYY-MM-DD`.
    pub fn date_string(self) -> String {
        self.to_utc().format("%Y-%m-%d").to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_utc().to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a date-time: {text:?} (expected RFC 3339, e.g. 2026-03-02T10:00:00Z)")]
pub struct TimestampError {
    text: String,
}
