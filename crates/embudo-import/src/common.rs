//! Helpers shared by the formats: dates, numbers, values, row hashes and raw rows.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use csv::ByteRecord;
use embudo_core::{Event, EventKind, Map, Text, Timestamp, Value};

/// A CSV field as trimmed text; invalid UTF-8 is replaced.
pub(crate) fn text(field: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(field) {
        Ok(text) => std::borrow::Cow::Borrowed(text.trim()),
        Err(_) => std::borrow::Cow::Owned(String::from_utf8_lossy(field).trim().to_owned()),
    }
}

/// Parses a date-time. With `format` (strftime) it must match: with an offset, else taken as
/// UTC, else as a date at midnight UTC. Without, the usual forms of exports are tried:
/// `YYYY-MM-DD HH:MM:SS` (optionally followed by ` UTC`), RFC 3339, `YYYY-MM-DD HH:MM:SS ±hhmm`,
/// `YYYY-MM-DD HH:MM` and a plain date. Times without a zone are taken as UTC.
pub(crate) fn parse_time(text: &str, format: Option<&str>) -> Option<Timestamp> {
    let text = text.trim();
    if let Some(format) = format {
        if let Ok(dt) = DateTime::parse_from_str(text, format) {
            return Some(Timestamp::from_millis(dt.timestamp_millis()));
        }
        if let Ok(dt) = NaiveDateTime::parse_from_str(text, format) {
            return Some(Timestamp::from_millis(dt.and_utc().timestamp_millis()));
        }
        return NaiveDate::parse_from_str(text, format)
            .ok()
            .and_then(|date| date.and_hms_opt(0, 0, 0))
            .map(|dt| Timestamp::from_millis(dt.and_utc().timestamp_millis()));
    }
    if let Some(timestamp) = fast_time(text) {
        return Some(timestamp);
    }
    if let Ok(timestamp) = Timestamp::parse(text) {
        return Some(timestamp);
    }
    if let Ok(dt) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S %z") {
        return Some(Timestamp::from_millis(dt.timestamp_millis()));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .ok()
        .map(|dt| Timestamp::from_millis(dt.and_utc().timestamp_millis()))
}

/// `YYYY-MM-DD HH:MM:SS` with an optional ` UTC`, without going through chrono's parser (the
/// REES46 and Online Retail files write every row this way).
fn fast_time(text: &str) -> Option<Timestamp> {
    let text = text.strip_suffix(" UTC").unwrap_or(text).as_bytes();
    if text.len() != 19
        || text[4] != b'-'
        || text[7] != b'-'
        || text[10] != b' '
        || text[13] != b':'
        || text[16] != b':'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        text[range].iter().try_fold(0u32, |acc, &byte| {
            byte.is_ascii_digit()
                .then(|| acc * 10 + u32::from(byte - b'0'))
        })
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)?;
    let dt = date.and_hms_opt(number(11..13)?, number(14..16)?, number(17..19)?)?;
    Some(Timestamp::from_millis(dt.and_utc().timestamp_millis()))
}

/// A finite number, or `None`.
pub(crate) fn number(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|number| number.is_finite())
}

/// An id written as a float by a spreadsheet (`17850.0`) without its `.0`.
pub(crate) fn id_text(text: &str) -> &str {
    match text.strip_suffix(".0") {
        Some(integer) if !integer.is_empty() && integer.bytes().all(|b| b.is_ascii_digit()) => {
            integer
        }
        _ => text,
    }
}

pub(crate) fn map() -> Map {
    Map::default()
}

/// Adds `key` to a map that is built in key order: appended at its end without the search an
/// insert makes first; a key out of order still lands in its place.
pub(crate) fn put(map: &mut Map, key: &str, value: Value) {
    if let Some((key, value)) = map.try_append(key.into(), value) {
        map.insert(key, value);
    }
}

pub(crate) fn string(text: &str) -> Value {
    Value::from(text)
}

/// A track event with empty traits.
pub(crate) struct Track {
    pub(crate) message_id: String,
    pub(crate) name: &'static str,
    pub(crate) user_id: Option<Text>,
    pub(crate) anonymous_id: Option<Text>,
    pub(crate) timestamp: Timestamp,
    pub(crate) received_at: Timestamp,
    pub(crate) properties: Map,
    pub(crate) context: Map,
}

impl Track {
    pub(crate) fn into_event(self) -> Event {
        Event {
            message_id: self.message_id,
            kind: EventKind::Track,
            name: Some(Text::from(self.name)),
            anonymous_id: self.anonymous_id,
            user_id: self.user_id,
            previous_id: None,
            group_id: None,
            timestamp: self.timestamp,
            received_at: self.received_at,
            properties: Value::Map(self.properties),
            traits: Value::Map(Map::default()),
            context: Value::Map(self.context),
        }
    }
}

/// A 128-bit hash of a CSV record's fields and their boundaries.
pub(crate) fn record_hash(record: &ByteRecord) -> u128 {
    let bounds = (0..record.len()).fold(0u64, |acc, index| {
        let len = record.get(index).map_or(0, <[u8]>::len) as u64;
        acc.rotate_left(7) ^ len.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    });
    xxhash_rust::xxh3::xxh3_128_with_seed(record.as_slice(), bounds)
}

/// Counts how often each row hash was seen, so that a row repeated in a file gets its own
/// message id (`…:2`, `…:3`) while a re-run of the file gets the same ids again.
///
/// Nearly every row comes once: the set of hashes seen holds 16 bytes a row (a map to counts
/// would hold 32, the count padded to the hash's alignment), and only the rows that came again
/// have a count.
#[derive(Default)]
pub(crate) struct Occurrences {
    seen: HashSet<u128, BuildHasherDefault<PassThrough>>,
    /// Rows seen more than once: how often.
    repeated: HashMap<u128, u32, BuildHasherDefault<PassThrough>>,
}

impl Occurrences {
    /// The message id of this occurrence of the row: `prefix:time:hash`, then
    /// `prefix:time:hash:n` for the n-th repetition. `time` (the event's, in milliseconds,
    /// zero-padded) leads so that the ids of a file in time order sort in file order: the log's
    /// unique index then grows at its end instead of at random places, which keeps a large
    /// import from rewriting most of the index's pages with every batch. The id is still a
    /// function of the row alone, so overlapping files de-duplicate too.
    ///
    /// Written by hand, not with `format!`: the formatting machinery (padding, hex digits one
    /// `write_str` at a time) was a sixth of the reading thread's instructions.
    pub(crate) fn message_id(&mut self, prefix: &str, time: Timestamp, hash: u128) -> String {
        let count = if self.seen.insert(hash) {
            1
        } else {
            let count = self.repeated.entry(hash).or_insert(1);
            *count += 1;
            *count
        };
        let mut id = String::with_capacity(prefix.len() + 60);
        id.push_str(prefix);
        id.push(':');
        push_zero_padded(&mut id, time.as_millis(), 13);
        id.push(':');
        push_hex_128(&mut id, hash);
        if count > 1 {
            id.push(':');
            id.push_str(itoa::Buffer::new().format(count));
        }
        id
    }
}

/// `value` as `format!("{value:0width$}")` writes it: zero-padded to `width` characters, the
/// sign included.
fn push_zero_padded(out: &mut String, value: i64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(value.unsigned_abs());
    let sign = usize::from(value < 0);
    if value < 0 {
        out.push('-');
    }
    for _ in (digits.len() + sign)..width {
        out.push('0');
    }
    out.push_str(digits);
}

/// `value` as `format!("{value:032x}")` writes it: 32 lowercase hexadecimal digits.
fn push_hex_128(out: &mut String, value: u128) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 32];
    for (i, digit) in digits.iter_mut().enumerate() {
        let nibble = (value >> ((31 - i) * 4)) & 0xf;
        *digit = HEX[nibble as usize];
    }
    out.push_str(std::str::from_utf8(&digits).expect("hexadecimal digits are ASCII"));
}

/// The keys are already hashes: pass them through.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u128(&mut self, value: u128) {
        // Truncation intended: the low half of a good hash is a good hash.
        self.0 = value as u64;
    }
}

/// A stable anonymous id for a person known only by e-mail.
pub(crate) fn email_anonymous_id(email: &str) -> String {
    let hash = xxhash_rust::xxh3::xxh3_128(email.trim().to_lowercase().as_bytes());
    format!("email-{hash:032x}")
}

/// A CSV record as one CSV line (for rejected-row reports).
pub(crate) fn raw_record(record: &ByteRecord) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    if writer.write_byte_record(record).is_err() {
        return String::new();
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim_end().to_owned()
}
