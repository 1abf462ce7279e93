//! The log's event bodies, in blocks: everything of an event but its seq, workspace, message
//! id and profile (which are the `events` row, with the indexes that find it), for up to
//! [`BLOCK_EVENTS`] consecutive events in one compressed `event_blocks` row keyed by the seq of
//! its first event.
//!
//! A row of fifteen columns an event cost SQLite's writer as much as everything else of an
//! import together: fifteen values bound, copied and cleared, and a record of a few hundred
//! bytes written twice (WAL, then the database file). In blocks, an event is a narrow row and
//! a share of one compressed insert, encoded and compressed beside the writer (by the caller
//! of an append, or while the chunk before is inserted).
//!
//! The events of a block have the seqs `first_seq`, `first_seq + 1`, … in order. An append
//! that finds some of its message ids taken stores no row for them, so a block may carry
//! bodies whose seq has no row (the body is never read) or whose seq a later append took: a
//! later block starts after the log's head, so the block that holds a seq's body is always the
//! one with the greatest `first_seq` at or before it.
//!
//! Formats, told by the first byte:
//! - [`COMPACT_RECORDS`] (written since 2026-12-04): compact records (below), compressed with
//!   LZ4 (its size first).
//! - [`LZ4_RECORDS`]: records (below), compressed with LZ4 (its size first).
//! - `[`: one event as the JSON array that migration `0005_event_blocks` built from a row of
//!   the old `events` table: `[kind, name, anonymous_id, user_id, previous_id, group_id,
//!   timestamp, received_at, properties, traits, context]`, the last three as JSON texts.
//!
//! A record: the kind's code (one byte, [`kind_code`]), then name, anonymous id, user id, previous
//! id and group id (each a text: a little-endian `u32` length and UTF-8 bytes, `u32::MAX` for
//! none), timestamp and received-at (little-endian `i64` milliseconds), then properties,
//! traits and context as values: a tag byte ([`tag`]), then for a number its little-endian
//! `f64`, for a string its text, for a list its length (`u32`) and items, for a map its
//! length and entries (key text, value) in the map's order. (Writing them as JSON text took
//! the encoder longer than compressing the block.)
//!
//! A compact record is a record with less for LZ4 to go through (compressing was a third of
//! the binding threads, and its cost follows the bytes it reads): lengths and counts are
//! LEB128 varints, a text's length one more than its bytes (0 for none); the two times are
//! zigzag varints of the difference from the block's previous event (from 0 for the first);
//! a map key is a varint reference into the block's keys, 0 for a new key whose text follows
//! (it becomes the next one: 1 the first, 2 the second, …).

use std::collections::BTreeMap;

use embudo_core::{Event, EventKind, Map, Text, Timestamp, Value};
use embudo_store::{LoggedEvent, ProfileId, StoreError, StoreResult, WorkspaceId, json};
use sqlx::sqlite::SqlitePool;

use crate::map_err;

/// Events per block: what a read of one event decompresses (about 100 KiB at most for
/// typical events), and what one compression sees.
pub(crate) const BLOCK_EVENTS: usize = 500;

/// LZ4 expands at most this many times (a match's length grows by 255 a byte): a block whose
/// size claims more is damaged.
const MAX_LZ4_RATIO: usize = 256;

/// The first byte of a block of LZ4-compressed records.
const LZ4_RECORDS: u8 = 1;

/// The first byte of a block of LZ4-compressed compact records.
const COMPACT_RECORDS: u8 = 2;

/// The first byte of a block migrated from a row of the old `events` table.
const MIGRATED_ROW: u8 = b'[';

/// An event kind's code in a record. (A new kind must take a new code: the match is
/// exhaustive, so that adding one fails to compile until it has.)
fn kind_code(kind: EventKind) -> u8 {
    match kind {
        EventKind::Identify => 0,
        EventKind::Track => 1,
        EventKind::Page => 2,
        EventKind::Screen => 3,
        EventKind::Group => 4,
        EventKind::Alias => 5,
    }
}

/// The event kind of a code in a record.
fn code_kind(code: u8) -> Option<EventKind> {
    EventKind::ALL
        .into_iter()
        .find(|kind| kind_code(*kind) == code)
}

/// An event's texts in the order a record holds them (and [`event`] takes them).
fn texts(event: &Event) -> [&Option<Text>; 5] {
    [
        &event.name,
        &event.anonymous_id,
        &event.user_id,
        &event.previous_id,
        &event.group_id,
    ]
}

/// Encodes `events` (at most [`BLOCK_EVENTS`]) as one block of compact records.
pub(crate) fn encode(events: &[Event]) -> Vec<u8> {
    let mut writer = CompactWriter {
        out: Vec::with_capacity(events.len() * 192),
        recent: [None; KEY_SLOTS],
        n_keys: 0,
        times: [0; 2],
    };
    for event in events {
        writer.event(event);
    }
    lz4_block(COMPACT_RECORDS, &writer.out)
}

/// `records` compressed, after the format's byte.
fn lz4_block(format: u8, records: &[u8]) -> Vec<u8> {
    let compressed = lz4_flex::compress_prepend_size(records);
    let mut block = Vec::with_capacity(1 + compressed.len());
    block.push(format);
    block.extend_from_slice(&compressed);
    block
}

/// Slots of the compact writer's key cache.
const KEY_SLOTS: usize = 64;

/// Writes compact records: keys written so far (a few recent ones, by a cheap hash of their
/// length and ends: a block's events mostly repeat a handful of keys, and a hash map's lookup
/// cost more than writing the key out did), and the previous event's times.
///
/// A key not in the cache is written as new, also when it was written before and its slot was
/// taken since: the reader numbers every new key, so references stay right.
struct CompactWriter<'a> {
    out: Vec<u8>,
    recent: [Option<(&'a str, u32)>; KEY_SLOTS],
    n_keys: u32,
    times: [i64; 2],
}

impl<'a> CompactWriter<'a> {
    fn event(&mut self, event: &'a Event) {
        self.out.push(kind_code(event.kind));
        for text in texts(event) {
            match text {
                Some(text) => {
                    put_varint(&mut self.out, text.len() as u64 + 1);
                    self.out.extend_from_slice(text.as_bytes());
                }
                None => self.out.push(0),
            }
        }
        let times = [event.timestamp.as_millis(), event.received_at.as_millis()];
        for (time, previous) in times.into_iter().zip(&mut self.times) {
            put_varint(&mut self.out, zigzag(time.wrapping_sub(*previous)));
            *previous = time;
        }
        for value in [&event.properties, &event.traits, &event.context] {
            self.value(value);
        }
    }

    fn text(&mut self, text: &str) {
        put_varint(&mut self.out, text.len() as u64);
        self.out.extend_from_slice(text.as_bytes());
    }

    fn key(&mut self, key: &'a str) {
        let bytes = key.as_bytes();
        let ends = match bytes {
            [] => 0,
            [first, .., last] => usize::from(*first) * 7 + usize::from(*last),
            [only] => usize::from(*only),
        };
        let slot = (bytes.len() * 31 + ends) % KEY_SLOTS;
        match self.recent[slot] {
            Some((known, index)) if known == key => put_varint(&mut self.out, u64::from(index)),
            _ => {
                self.n_keys += 1;
                self.recent[slot] = Some((key, self.n_keys));
                self.out.push(0);
                self.text(key);
            }
        }
    }

    fn value(&mut self, value: &'a Value) {
        match value {
            Value::Null => self.out.push(tag::NULL),
            Value::Bool(false) => self.out.push(tag::FALSE),
            Value::Bool(true) => self.out.push(tag::TRUE),
            Value::Number(number) => {
                self.out.push(tag::NUMBER);
                self.out.extend_from_slice(&number.to_le_bytes());
            }
            Value::String(text) => {
                self.out.push(tag::STRING);
                self.text(text);
            }
            Value::List(items) => {
                self.out.push(tag::LIST);
                put_varint(&mut self.out, items.len() as u64);
                for item in items {
                    self.value(item);
                }
            }
            Value::Map(map) => {
                self.out.push(tag::MAP);
                put_varint(&mut self.out, map.len() as u64);
                for (key, item) in map.iter() {
                    self.key(key);
                    self.value(item);
                }
            }
        }
    }
}

/// LEB128: seven bits a byte, low first, the high bit set on all but the last.
fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Small differences of either sign as small numbers: 0, -1, 1, -2, … → 0, 1, 2, 3, …
fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

/// Encodes `events` as a block of the earlier format, [`LZ4_RECORDS`] (for its tests: blocks
/// written before compact records must still read).
#[cfg(test)]
fn encode_records(events: &[Event]) -> Vec<u8> {
    let mut records = Vec::with_capacity(events.len() * 256);
    for event in events {
        records.push(kind_code(event.kind));
        for text in texts(event) {
            match text {
                Some(text) => put_text(&mut records, text),
                None => records.extend_from_slice(&u32::MAX.to_le_bytes()),
            }
        }
        records.extend_from_slice(&event.timestamp.as_millis().to_le_bytes());
        records.extend_from_slice(&event.received_at.as_millis().to_le_bytes());
        for value in [&event.properties, &event.traits, &event.context] {
            put_value(&mut records, value);
        }
    }
    lz4_block(LZ4_RECORDS, &records)
}

#[cfg(test)]
fn put_len(out: &mut Vec<u8>, len: usize) {
    // An event is far below 4 GiB: a message is at most 32 KiB.
    let len = u32::try_from(len).expect("an event's lengths fit a u32");
    out.extend_from_slice(&len.to_le_bytes());
}

#[cfg(test)]
fn put_text(out: &mut Vec<u8>, text: &str) {
    put_len(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

/// A value's tag in a record.
mod tag {
    pub(super) const NULL: u8 = 0;
    pub(super) const FALSE: u8 = 1;
    pub(super) const TRUE: u8 = 2;
    pub(super) const NUMBER: u8 = 3;
    pub(super) const STRING: u8 = 4;
    pub(super) const LIST: u8 = 5;
    pub(super) const MAP: u8 = 6;
}

/// How deep a stored value may nest (a damaged block must not exhaust the stack): deeper than
/// any value that came as JSON (serde_json reads 128 levels at most).
const MAX_DEPTH: usize = 512;

#[cfg(test)]
fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(tag::NULL),
        Value::Bool(false) => out.push(tag::FALSE),
        Value::Bool(true) => out.push(tag::TRUE),
        Value::Number(number) => {
            out.push(tag::NUMBER);
            out.extend_from_slice(&number.to_le_bytes());
        }
        Value::String(text) => {
            out.push(tag::STRING);
            put_text(out, text);
        }
        Value::List(items) => {
            out.push(tag::LIST);
            put_len(out, items.len());
            for item in items {
                put_value(out, item);
            }
        }
        Value::Map(map) => {
            out.push(tag::MAP);
            put_len(out, map.len());
            for (key, item) in map.iter() {
                put_text(out, key);
                put_value(out, item);
            }
        }
    }
}

/// The events of the block at `first_seq` whose seq is in `wanted`, into `found` by seq (a
/// body already there, from an earlier block, is replaced: see the module documentation). Each
/// event's message id is left empty: it is the row's.
pub(crate) fn decode_into(
    first_seq: i64,
    block: &[u8],
    wanted: &dyn Fn(i64) -> bool,
    found: &mut BTreeMap<i64, Event>,
) -> StoreResult<()> {
    let corrupt = |why: &str| StoreError::other(format!("event block {first_seq} {why}"));
    match block.first() {
        Some(&format) if format == LZ4_RECORDS || format == COMPACT_RECORDS => {
            // The size comes first; a damaged one must not ask for gigabytes.
            let size = block
                .get(1..5)
                .map(|size| u32::from_le_bytes(size.try_into().expect("four bytes")))
                .ok_or_else(|| corrupt("is cut short in its size"))?;
            if size as usize > block.len().saturating_mul(MAX_LZ4_RATIO) {
                return Err(corrupt(&format!("claims {size} bytes of records")));
            }
            let records = lz4_flex::decompress_size_prepended(&block[1..])
                .map_err(|error| corrupt(&format!("does not decompress: {error}")))?;
            let mut reader = Records {
                bytes: &records,
                at: 0,
                compact: format == COMPACT_RECORDS,
                keys: Vec::new(),
                times: [0; 2],
            };
            let mut seq = first_seq;
            while !reader.done() {
                let event = reader
                    .event()
                    .map_err(|why| corrupt(&format!("holds a bad event {seq}: {why}")))?;
                if wanted(seq) {
                    found.insert(seq, event);
                }
                seq += 1;
            }
            Ok(())
        }
        Some(&MIGRATED_ROW) => {
            if wanted(first_seq) {
                let event = migrated(block)
                    .map_err(|why| corrupt(&format!("holds a bad migrated event: {why}")))?;
                found.insert(first_seq, event);
            }
            Ok(())
        }
        Some(other) => Err(corrupt(&format!("has the unknown format {other}"))),
        None => Err(corrupt("is empty")),
    }
}

/// The columns of an event's row, in the order [`with_bodies`] takes them.
pub(crate) const EVENT_COLUMNS: &str = "seq, workspace_id, message_id, profile_id";

/// An event's row: seq, workspace, message id, profile.
pub(crate) type EventKey = (i64, i64, String, Option<i64>);

/// The logged events of `rows` (from [`EVENT_COLUMNS`]), in their order, with their bodies
/// read from their blocks. The blocks are read in one query: a run of the log by range, a
/// profile's scattered events block by block.
pub(crate) async fn with_bodies(
    reader: &SqlitePool,
    rows: Vec<EventKey>,
) -> StoreResult<Vec<LoggedEvent>> {
    let seqs: Vec<i64> = rows.iter().map(|row| row.0).collect();
    let (Some(&low), Some(&high)) = (seqs.iter().min(), seqs.iter().max()) else {
        return Ok(Vec::new());
    };
    let blocks: Vec<(i64, Vec<u8>)> = if high - low < 2 * seqs.len() as i64 {
        sqlx::query_as(
            "SELECT first_seq, body FROM event_blocks WHERE first_seq >= \
             (SELECT COALESCE(MAX(first_seq), 0) FROM event_blocks WHERE first_seq <= ?) \
             AND first_seq <= ? ORDER BY first_seq",
        )
        .bind(low)
        .bind(high)
        .fetch_all(reader)
        .await
    } else {
        sqlx::query_as(
            "SELECT first_seq, body FROM event_blocks WHERE first_seq IN \
             (SELECT (SELECT MAX(first_seq) FROM event_blocks WHERE first_seq <= value) \
             FROM json_each(?)) ORDER BY first_seq",
        )
        .bind(json::ids_to_json(&seqs))
        .fetch_all(reader)
        .await
    }
    .map_err(map_err)?;
    let wanted: foldhash::HashSet<i64> = seqs.into_iter().collect();
    let mut found = BTreeMap::new();
    for (first_seq, body) in &blocks {
        decode_into(*first_seq, body, &|seq| wanted.contains(&seq), &mut found)?;
    }
    rows.into_iter()
        .map(|(seq, workspace, message_id, profile)| {
            let mut event = found.remove(&seq).ok_or_else(|| {
                StoreError::other(format!("event {seq} has no body in any block"))
            })?;
            event.message_id = message_id;
            Ok(LoggedEvent {
                seq,
                workspace_id: WorkspaceId(workspace),
                event,
                profile_id: profile.map(ProfileId),
            })
        })
        .collect()
}

/// A reader of records. Each read fails with why the bytes are not a record, among them
/// [`CUT_SHORT`] when they end first.
struct Records<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Compact records ([`COMPACT_RECORDS`]), with the block's keys so far and its previous
    /// event's times.
    compact: bool,
    keys: Vec<&'a str>,
    times: [i64; 2],
}

/// Why a read failed when the bytes ended first.
const CUT_SHORT: &str = "the bytes end in the middle of it";

impl<'a> Records<'a> {
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.slice(N)?.try_into().expect("N bytes"))
    }

    fn slice(&mut self, n: usize) -> Result<&'a [u8], String> {
        let taken = self
            .at
            .checked_add(n)
            .and_then(|end| self.bytes.get(self.at..end))
            .ok_or(CUT_SHORT)?;
        self.at += n;
        Ok(taken)
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.take().map(u32::from_le_bytes)
    }

    /// A LEB128 varint.
    fn varint(&mut self) -> Result<u64, String> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let [byte] = self.take()?;
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err("a varint runs past 64 bits".to_owned())
    }

    /// A length or a count.
    fn len(&mut self) -> Result<usize, String> {
        if self.compact {
            usize::try_from(self.varint()?).map_err(|_| "a length beyond memory".to_owned())
        } else {
            Ok(self.u32()? as usize)
        }
    }

    fn utf8(&mut self, len: usize) -> Result<&'a str, String> {
        let bytes = self.slice(len)?;
        std::str::from_utf8(bytes).map_err(|error| error.to_string())
    }

    /// A text, or `None` for none.
    fn text(&mut self) -> Result<Option<&'a str>, String> {
        let len = if self.compact {
            match self.len()? {
                0 => return Ok(None),
                len => len - 1,
            }
        } else {
            match self.u32()? {
                u32::MAX => return Ok(None),
                len => len as usize,
            }
        };
        self.utf8(len).map(Some)
    }

    /// A text that must be there.
    fn required_text(&mut self, what: &str) -> Result<&'a str, String> {
        if self.compact {
            let len = self.len()?;
            return self.utf8(len);
        }
        self.text()?.ok_or_else(|| format!("{what} is missing"))
    }

    /// A map's key: in compact records a reference to one of the block's keys, or a new one.
    fn key(&mut self) -> Result<&'a str, String> {
        if !self.compact {
            return self.required_text("a map key");
        }
        match self.len()? {
            0 => {
                let key = self.required_text("a map key")?;
                self.keys.push(key);
                Ok(key)
            }
            known => {
                self.keys.get(known - 1).copied().ok_or_else(|| {
                    format!("a map key refers to key {known} of {}", self.keys.len())
                })
            }
        }
    }

    /// The timestamp and the received-at time.
    fn times(&mut self) -> Result<[i64; 2], String> {
        if !self.compact {
            return Ok([
                self.take().map(i64::from_le_bytes)?,
                self.take().map(i64::from_le_bytes)?,
            ]);
        }
        for previous in 0..2 {
            let difference = unzigzag(self.varint()?);
            self.times[previous] = self.times[previous].wrapping_add(difference);
        }
        Ok(self.times)
    }

    fn event(&mut self) -> Result<Event, String> {
        let [code] = self.take()?;
        let mut texts: [Option<Text>; 5] = Default::default();
        for slot in &mut texts {
            *slot = self.text()?.map(Text::from);
        }
        let [timestamp, received_at] = self.times()?;
        let values = [self.value(0)?, self.value(0)?, self.value(0)?];
        let kind = code_kind(code).ok_or_else(|| format!("unknown kind code {code}"))?;
        Ok(event(kind, texts, [timestamp, received_at], values))
    }

    /// The next value, `depth` levels down.
    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!("a value nests deeper than {MAX_DEPTH}"));
        }
        let [tag] = self.take()?;
        Ok(match tag {
            tag::NULL => Value::Null,
            tag::FALSE => Value::Bool(false),
            tag::TRUE => Value::Bool(true),
            tag::NUMBER => Value::Number(self.take().map(f64::from_le_bytes)?),
            tag::STRING => Value::String(Text::from(self.required_text("a string value")?)),
            tag::LIST => {
                let len = self.len()?;
                // Every item takes a byte at least: a length beyond the bytes left is damage.
                let mut items = Vec::with_capacity(len.min(self.bytes.len() - self.at));
                for _ in 0..len {
                    items.push(self.value(depth + 1)?);
                }
                Value::List(items)
            }
            tag::MAP => {
                let len = self.len()?;
                let mut map = Map::with_capacity(len.min(self.bytes.len() - self.at));
                for _ in 0..len {
                    let key = Text::from(self.key()?);
                    let item = self.value(depth + 1)?;
                    // Written in the map's order: each entry appends.
                    if let Some((key, item)) = map.try_append(key, item) {
                        map.insert(key, item);
                    }
                }
                Value::Map(map)
            }
            other => return Err(format!("unknown value tag {other}")),
        })
    }
}

/// An event from its parts (its message id is the row's).
fn event(
    kind: EventKind,
    [name, anonymous_id, user_id, previous_id, group_id]: [Option<Text>; 5],
    [timestamp, received_at]: [i64; 2],
    [properties, traits, context]: [Value; 3],
) -> Event {
    Event {
        message_id: String::new(),
        kind,
        name,
        anonymous_id,
        user_id,
        previous_id,
        group_id,
        timestamp: Timestamp::from_millis(timestamp),
        received_at: Timestamp::from_millis(received_at),
        properties,
        traits,
        context,
    }
}

/// An event migrated from a row of the old table.
fn migrated(block: &[u8]) -> Result<Event, String> {
    use serde_json::Value as Json;
    let fields: Vec<Json> = serde_json::from_slice(block).map_err(|error| error.to_string())?;
    let [
        kind,
        name,
        anonymous_id,
        user_id,
        previous_id,
        group_id,
        timestamp,
        received_at,
        properties,
        traits,
        context,
    ] = <[Json; 11]>::try_from(fields).map_err(|_| "not eleven fields".to_owned())?;
    let kind = kind
        .as_str()
        .and_then(EventKind::parse)
        .ok_or_else(|| format!("unknown kind {kind}"))?;
    let text = |field: Json| match field {
        Json::String(text) => Ok(Some(Text::from(text))),
        Json::Null => Ok(None),
        other => Err(format!("{other} is not a text")),
    };
    let millis = |field: &Json| {
        field
            .as_i64()
            .ok_or_else(|| format!("{field} is not a time"))
    };
    let structured = |field: &Json| {
        let text = field
            .as_str()
            .ok_or_else(|| format!("{field} is not JSON text"))?;
        json::value_from_json(text).map_err(|error| error.to_string())
    };
    Ok(event(
        kind,
        [
            text(name)?,
            text(anonymous_id)?,
            text(user_id)?,
            text(previous_id)?,
            text(group_id)?,
        ],
        [millis(&timestamp)?, millis(&received_at)?],
        [
            structured(&properties)?,
            structured(&traits)?,
            structured(&context)?,
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(i: i64) -> Event {
        let mut properties = Map::new();
        properties.insert("price".into(), Value::Number(9.5));
        properties.insert("sku".into(), Value::from(format!("sku-{i}")));
        let mut nested = Map::new();
        nested.insert(
            "list".into(),
            Value::List(vec![Value::Null, Value::Bool(true), Value::Bool(false)]),
        );
        properties.insert("nested".into(), Value::Map(nested));
        Event {
            message_id: String::new(),
            kind: EventKind::ALL[i as usize % EventKind::ALL.len()],
            name: (i % 2 == 0).then(|| "Product Viewed".into()),
            anonymous_id: Some(format!("anon-{i}").into()),
            user_id: (i % 3 == 0).then(|| format!("user-{i}").into()),
            previous_id: None,
            group_id: (i == 4).then(|| "ñandú".into()),
            timestamp: Timestamp::from_millis(1_700_000_000_000 + i),
            received_at: Timestamp::from_millis(-5 + i),
            properties: Value::Map(properties),
            traits: Value::Map(Default::default()),
            context: Value::Map(Default::default()),
        }
    }

    #[test]
    fn a_block_gives_back_the_events_it_was_made_of() {
        let events: Vec<Event> = (0..7).map(sample).collect();
        let block = encode(&events);
        let mut found = BTreeMap::new();
        decode_into(100, &block, &|_| true, &mut found).unwrap();
        let seqs: Vec<i64> = found.keys().copied().collect();
        assert_eq!(seqs, (100..107).collect::<Vec<_>>());
        assert_eq!(found.into_values().collect::<Vec<_>>(), events);
    }

    #[test]
    fn blocks_of_the_earlier_format_still_read_and_compact_ones_are_smaller() {
        let events: Vec<Event> = (0..50).map(sample).collect();
        let (compact, earlier) = (encode(&events), encode_records(&events));
        assert_eq!((compact[0], earlier[0]), (COMPACT_RECORDS, LZ4_RECORDS));
        for block in [&compact, &earlier] {
            let mut found = BTreeMap::new();
            decode_into(7, block, &|_| true, &mut found).unwrap();
            assert_eq!(found.into_values().collect::<Vec<_>>(), events);
        }
        let size = |block: &[u8]| u32::from_le_bytes(block[1..5].try_into().unwrap());
        assert!(
            size(&compact) * 3 < size(&earlier) * 2,
            "{} against {}",
            size(&compact),
            size(&earlier)
        );
    }

    #[test]
    fn more_keys_than_the_writers_cache_holds_come_back() {
        let events: Vec<Event> = (0..3)
            .map(|i| {
                let mut event = sample(i);
                let keys = (0..200).map(|k| {
                    (
                        Text::from(format!("k{}", (k * 7 + i) % 200)),
                        Value::Number(k as f64),
                    )
                });
                event.properties = Value::Map(keys.collect());
                event
            })
            .collect();
        let mut found = BTreeMap::new();
        decode_into(1, &encode(&events), &|_| true, &mut found).unwrap();
        assert_eq!(found.into_values().collect::<Vec<_>>(), events);
    }

    #[test]
    fn a_key_referring_past_the_blocks_keys_is_an_error() {
        // One track event whose properties hold one entry with key reference 5.
        let mut records = vec![kind_code(EventKind::Track), 0, 0, 0, 0, 0, 0, 0];
        records.extend([tag::MAP, 1, 5, tag::NULL, tag::MAP, 0, tag::MAP, 0]);
        let block = lz4_block(COMPACT_RECORDS, &records);
        let error = decode_into(3, &block, &|_| true, &mut BTreeMap::new()).unwrap_err();
        assert!(
            error.to_string().contains("refers to key 5 of 0"),
            "{error}"
        );
    }

    #[test]
    fn only_wanted_seqs_are_kept_and_a_later_block_replaces_a_body() {
        let block = encode(&[sample(1), sample(2), sample(3)]);
        let later = encode(&[sample(6)]);
        let mut found = BTreeMap::new();
        decode_into(10, &block, &|seq| seq != 10, &mut found).unwrap();
        decode_into(12, &later, &|_| true, &mut found).unwrap();
        assert_eq!(found.keys().copied().collect::<Vec<_>>(), vec![11, 12]);
        assert_eq!(found[&11], sample(2));
        assert_eq!(found[&12], sample(6));
    }

    #[test]
    fn a_block_of_repetitive_events_is_read_back() {
        // LZ4 compresses runs of one byte nearly as far as it can: the size check must let
        // such a block through.
        let mut event = sample(1);
        let mut properties = Map::new();
        properties.insert("blob".into(), Value::from("a".repeat(1 << 20)));
        event.properties = Value::Map(properties);
        let events = vec![event; 20];
        let block = encode(&events);
        assert!(block.len() < (20 << 20) / 200, "{} bytes", block.len());
        let mut found = BTreeMap::new();
        decode_into(1, &block, &|_| true, &mut found).unwrap();
        assert_eq!(found.into_values().collect::<Vec<_>>(), events);
    }

    #[test]
    fn every_kind_has_its_own_code_and_deep_values_are_kept() {
        for kind in EventKind::ALL {
            assert_eq!(code_kind(kind_code(kind)), Some(kind));
        }
        let mut deep = Value::from("bottom");
        for _ in 0..200 {
            deep = Value::List(vec![deep]);
        }
        let mut event = sample(2);
        event.context = deep;
        let mut found = BTreeMap::new();
        decode_into(
            1,
            &encode(std::slice::from_ref(&event)),
            &|_| true,
            &mut found,
        )
        .unwrap();
        assert_eq!(found[&1], event);
    }

    #[test]
    fn a_migrated_row_is_read() {
        let block =
            br#"["track","Order Completed","a1",null,null,null,5,6,"{\"total\":3}","{}","{}"]"#;
        let mut found = BTreeMap::new();
        decode_into(3, block, &|_| true, &mut found).unwrap();
        let event = &found[&3];
        assert_eq!(event.kind, EventKind::Track);
        assert_eq!(event.name.as_deref(), Some("Order Completed"));
        assert_eq!(event.anonymous_id.as_deref(), Some("a1"));
        assert_eq!(event.timestamp, Timestamp::from_millis(5));
        assert_eq!(event.properties.get("total"), Some(&Value::Number(3.0)));
    }

    #[test]
    fn a_damaged_block_is_an_error_that_names_it() {
        let mut block = encode(&[sample(1), sample(2)]);
        block.truncate(block.len() - 3);
        let error = decode_into(40, &block, &|_| true, &mut BTreeMap::new()).unwrap_err();
        assert!(error.to_string().contains("event block 40"), "{error}");
        let error = decode_into(41, &[9, 9], &|_| true, &mut BTreeMap::new()).unwrap_err();
        assert!(error.to_string().contains("unknown format 9"), "{error}");
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(Value::Number),
            ".{0,30}".prop_map(|text| Value::from(text.as_str())),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
                // Keys from a few, so that a block's events share keys (and refer to them),
                // and any others.
                proptest::collection::btree_map("[a-c]{0,2}|.{0,12}", inner, 0..6).prop_map(
                    |entries| {
                        Value::Map(
                            entries
                                .into_iter()
                                .map(|(k, v)| (Text::from(k), v))
                                .collect(),
                        )
                    }
                ),
            ]
        })
    }

    fn any_event() -> impl Strategy<Value = Event> {
        let texts = proptest::collection::vec(proptest::option::of(".{0,20}"), 5);
        (
            0..EventKind::ALL.len(),
            texts,
            any::<i64>(),
            any::<i64>(),
            [any_value(), any_value(), any_value()],
        )
            .prop_map(|(code, texts, timestamp, received_at, values)| {
                let texts: [Option<Text>; 5] = texts
                    .into_iter()
                    .map(|text| text.map(Text::from))
                    .collect::<Vec<_>>()
                    .try_into()
                    .expect("five texts");
                event(
                    EventKind::ALL[code],
                    texts,
                    [timestamp, received_at],
                    values,
                )
            })
    }

    /// Values compare by their bits: NaN is a number a block must keep too.
    fn same(left: &[Event], right: &[Event]) -> bool {
        format!("{left:?}") == format!("{right:?}")
    }

    proptest! {
        #[test]
        fn any_events_come_back_from_their_block(
            events in proptest::collection::vec(any_event(), 1..20),
        ) {
            // In the format written now, and in the earlier one that blocks may still hold.
            for block in [encode(&events), encode_records(&events)] {
                let mut found = BTreeMap::new();
                decode_into(1, &block, &|_| true, &mut found).unwrap();
                let decoded: Vec<Event> = found.into_values().collect();
                prop_assert!(same(&decoded, &events), "{decoded:?} != {events:?}");
            }
        }

        #[test]
        fn damaged_blocks_are_errors_not_panics(
            events in proptest::collection::vec(any_event(), 1..5),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
        ) {
            let mut block = if cut % 2 == 0 { encode(&events) } else { encode_records(&events) };
            for (at, byte) in flips {
                let at = at % block.len();
                block[at] ^= byte;
            }
            block.truncate(cut % (block.len() + 1));
            let _ = decode_into(1, &block, &|_| true, &mut BTreeMap::new());
        }

        #[test]
        fn any_bytes_after_the_format_byte_are_errors_not_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            for format in [COMPACT_RECORDS, LZ4_RECORDS, MIGRATED_ROW] {
                let mut block = vec![format];
                block.extend_from_slice(&bytes);
                let _ = decode_into(1, &block, &|_| true, &mut BTreeMap::new());
            }
        }
    }
}
