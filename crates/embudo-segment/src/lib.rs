//! The Segment HTTP Tracking API wire format: parsing, validation and clock-skew correction.
//!
//! Bodies come from `/v1/{identify,track,page,screen,group,alias,batch,import}` or from Segment
//! JSON-lines files. A single-message body is accepted or rejected whole. A batch is parsed message
//! by message: the good ones become [`Event`]s, every bad one becomes a [`Rejection`] naming its
//! index, field and reason. Nothing good is dropped because of a bad neighbour.

use embudo_core::{Event, EventKind, Map, Text, Timestamp, Value};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// The spec's limit for one message.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// The spec's limit for one batch request.
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// Longest accepted id or event name.
pub const MAX_ID_CHARS: usize = 512;

/// The tracking endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Single(EventKind),
    /// `/v1/batch` and `/v1/import`.
    Batch,
}

/// One message that was not accepted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Position in the batch (`None` for a single-message call).
    pub index: Option<usize>,
    pub message_id: Option<String>,
    /// The field at fault, as a JSON path (`userId`, `properties.products[0].price`, …).
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(index) = self.index {
            write!(f, "message {index}: ")?;
        }
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// A parsed request body.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Accepted events with their position in the request.
    pub events: Vec<(usize, Event)>,
    pub rejected: Vec<Rejection>,
    /// `writeKey` from the body, when the client sent it there.
    pub write_key: Option<String>,
}

/// Why a whole body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("request body is {size} bytes; the limit is {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("request body is not valid JSON: {0}")]
    NotJson(String),
    #[error("request body must be a JSON object")]
    NotAnObject,
    #[error("`batch` must be a list of messages")]
    NoBatch,
    #[error("{0}")]
    Invalid(Rejection),
}

#[derive(serde::Deserialize)]
struct BatchEnvelope<'a> {
    #[serde(borrow)]
    batch: Option<Vec<&'a RawValue>>,
    #[serde(default, rename = "writeKey")]
    write_key: Option<String>,
    #[serde(default, rename = "sentAt")]
    sent_at: Option<serde_json::Value>,
    #[serde(default)]
    context: Option<serde_json::Value>,
}

/// Parses a request body received at `received_at`.
pub fn parse_body(
    endpoint: Endpoint,
    body: &[u8],
    received_at: Timestamp,
) -> Result<Parsed, BodyError> {
    match endpoint {
        Endpoint::Single(kind) => {
            if body.len() > MAX_MESSAGE_BYTES {
                return Err(BodyError::TooLarge {
                    size: body.len(),
                    limit: MAX_MESSAGE_BYTES,
                });
            }
            let text =
                std::str::from_utf8(body).map_err(|err| BodyError::NotJson(err.to_string()))?;
            let map = match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Object(map)) => map,
                Ok(_) => return Err(BodyError::NotAnObject),
                Err(err) => return Err(BodyError::NotJson(err.to_string())),
            };
            let write_key = map
                .get("writeKey")
                .and_then(|key| key.as_str())
                .map(str::to_owned);
            let defaults = Defaults::default();
            let event = parse_message(Some(kind), map, text, &defaults, received_at)
                .map_err(BodyError::Invalid)?;
            Ok(Parsed {
                events: vec![(0, event)],
                rejected: Vec::new(),
                write_key,
            })
        }
        Endpoint::Batch => {
            if body.len() > MAX_BATCH_BYTES {
                return Err(BodyError::TooLarge {
                    size: body.len(),
                    limit: MAX_BATCH_BYTES,
                });
            }
            let text =
                std::str::from_utf8(body).map_err(|err| BodyError::NotJson(err.to_string()))?;
            let envelope: BatchEnvelope<'_> = serde_json::from_str(text).map_err(|err| {
                if err.is_data() {
                    BodyError::NotAnObject
                } else {
                    BodyError::NotJson(err.to_string())
                }
            })?;
            let messages = envelope.batch.ok_or(BodyError::NoBatch)?;
            let defaults = Defaults {
                sent_at: envelope
                    .sent_at
                    .as_ref()
                    .and_then(|v| v.as_str())
                    .and_then(|t| Timestamp::parse(t).ok()),
                context: envelope.context.filter(|c| c.is_object()),
            };
            let mut parsed = Parsed {
                write_key: envelope.write_key,
                ..Parsed::default()
            };
            for (index, raw) in messages.into_iter().enumerate() {
                match parse_raw(raw.get(), &defaults, received_at) {
                    Ok(event) => parsed.events.push((index, event)),
                    Err(mut rejection) => {
                        rejection.index = Some(index);
                        parsed.rejected.push(rejection);
                    }
                }
            }
            Ok(parsed)
        }
    }
}

/// Parses one line of a Segment JSON-lines file (its `type` says which call it is).
pub fn parse_line(line: &str, received_at: Timestamp) -> Result<Event, Rejection> {
    parse_raw(line, &Defaults::default(), received_at)
}

#[derive(Default)]
struct Defaults {
    sent_at: Option<Timestamp>,
    context: Option<serde_json::Value>,
}

fn parse_raw(raw: &str, defaults: &Defaults, received_at: Timestamp) -> Result<Event, Rejection> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return Err(reject(
            None,
            "(message)",
            format!(
                "message is {} bytes; the limit is {MAX_MESSAGE_BYTES} bytes",
                raw.len()
            ),
        ));
    }
    let map = match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(_) => {
            return Err(reject(
                None,
                "(message)",
                "must be a JSON object".to_owned(),
            ));
        }
        Err(err) => return Err(reject(None, "(message)", format!("not valid JSON: {err}"))),
    };
    parse_message(None, map, raw, defaults, received_at)
}

fn reject(message_id: Option<&str>, field: &str, reason: String) -> Rejection {
    Rejection {
        index: None,
        message_id: message_id.map(str::to_owned),
        field: field.to_owned(),
        reason,
    }
}

type JsonMap = serde_json::Map<String, serde_json::Value>;

fn parse_message(
    kind: Option<EventKind>,
    mut map: JsonMap,
    raw: &str,
    defaults: &Defaults,
    received_at: Timestamp,
) -> Result<Event, Rejection> {
    let message_id = match map.get("messageId") {
        None | Some(serde_json::Value::Null) => derived_message_id(raw),
        Some(value) => id_text(value)
            .map(String::from)
            .ok_or_else(|| reject(None, "messageId", "must be a non-empty string".to_owned()))?,
    };
    let mid = Some(message_id.as_str());
    let kind = match kind {
        Some(kind) => kind,
        None => match map.get("type").and_then(|t| t.as_str()) {
            Some(text) => EventKind::parse(text).ok_or_else(|| {
                reject(
                    mid,
                    "type",
                    format!("{text:?} is not one of identify, track, page, screen, group, alias"),
                )
            })?,
            None => return Err(reject(mid, "type", "is required in a batch".to_owned())),
        },
    };
    let id_field = |map: &JsonMap, field: &str| -> Result<Option<Text>, Rejection> {
        match map.get(field) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(value) => match id_text(value) {
                Some(id) if id.chars().count() <= MAX_ID_CHARS => Ok(Some(id)),
                Some(_) => Err(reject(
                    mid,
                    field,
                    format!("is longer than {MAX_ID_CHARS} characters"),
                )),
                None => Err(reject(
                    mid,
                    field,
                    "must be a non-empty string or a number".to_owned(),
                )),
            },
        }
    };
    let anonymous_id = id_field(&map, "anonymousId")?;
    let user_id = id_field(&map, "userId")?;
    let previous_id = id_field(&map, "previousId")?;
    let group_id = id_field(&map, "groupId")?;
    match kind {
        EventKind::Alias => {
            if user_id.is_none() {
                return Err(reject(mid, "userId", "is required for alias".to_owned()));
            }
            if previous_id.is_none() {
                return Err(reject(
                    mid,
                    "previousId",
                    "is required for alias".to_owned(),
                ));
            }
        }
        _ if user_id.is_none() && anonymous_id.is_none() => {
            return Err(reject(
                mid,
                "userId",
                "either userId or anonymousId is required".to_owned(),
            ));
        }
        EventKind::Group if group_id.is_none() => {
            return Err(reject(mid, "groupId", "is required for group".to_owned()));
        }
        _ => {}
    }
    let name = match kind {
        EventKind::Track => match map.get("event") {
            Some(serde_json::Value::String(name)) if !name.trim().is_empty() => {
                if name.chars().count() > MAX_ID_CHARS {
                    return Err(reject(
                        mid,
                        "event",
                        format!("is longer than {MAX_ID_CHARS} characters"),
                    ));
                }
                Some(Text::from(name.trim()))
            }
            Some(serde_json::Value::String(_)) | None | Some(serde_json::Value::Null) => {
                return Err(reject(
                    mid,
                    "event",
                    "is required for track (the event's name)".to_owned(),
                ));
            }
            Some(_) => return Err(reject(mid, "event", "must be a string".to_owned())),
        },
        EventKind::Page | EventKind::Screen => match map.get("name") {
            Some(serde_json::Value::String(name)) => Some(Text::from(name.as_str())),
            None | Some(serde_json::Value::Null) => None,
            Some(_) => return Err(reject(mid, "name", "must be a string".to_owned())),
        },
        _ => None,
    };
    let mut object = |field: &str| -> Result<Value, Rejection> {
        match map.remove(field) {
            None | Some(serde_json::Value::Null) => Ok(Value::Map(Map::default())),
            Some(value @ serde_json::Value::Object(_)) => Ok(to_value(value)),
            Some(_) => Err(reject(mid, field, "must be a JSON object".to_owned())),
        }
    };
    let mut properties = object("properties")?;
    let traits = object("traits")?;
    let mut context = object("context")?;
    if let (Value::Map(context_map), Some(serde_json::Value::Object(batch_context))) =
        (&mut context, &defaults.context)
    {
        for (key, value) in batch_context {
            context_map
                .entry(key.as_str().into())
                .or_insert_with(|| to_value(value.clone()));
        }
    }
    // The spec puts a page's category at the top level; keep it with the properties.
    if kind == EventKind::Page
        && let (Some(serde_json::Value::String(category)), Value::Map(props)) =
            (map.get("category"), &mut properties)
    {
        props
            .entry("category".into())
            .or_insert_with(|| Value::from(category.as_str()));
    }
    let time_field = |field: &str| -> Result<Option<Timestamp>, Rejection> {
        match map.get(field) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(text)) => Timestamp::parse(text)
                .map(Some)
                .map_err(|err| reject(mid, field, err.to_string())),
            Some(_) => Err(reject(
                mid,
                field,
                "must be an ISO 8601 date-time string".to_owned(),
            )),
        }
    };
    let timestamp = time_field("timestamp")?.or(time_field("originalTimestamp")?);
    let sent_at = time_field("sentAt")?.or(defaults.sent_at);
    let timestamp = corrected_timestamp(timestamp, sent_at, received_at);
    Ok(Event {
        message_id,
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
    })
}

/// The spec's clock-skew correction: the client's clock may be off, but the time between the
/// event and its sending is right, so `timestamp = receivedAt − (sentAt − timestamp)`. Without
/// `sentAt` the client's timestamp stands; without a timestamp the event happened when received.
/// A corrected time in the future is clamped to `received_at`.
pub fn corrected_timestamp(
    timestamp: Option<Timestamp>,
    sent_at: Option<Timestamp>,
    received_at: Timestamp,
) -> Timestamp {
    let corrected = match (timestamp, sent_at) {
        (Some(timestamp), Some(sent_at)) => {
            received_at.plus_millis(-(sent_at.as_millis().saturating_sub(timestamp.as_millis())))
        }
        (Some(timestamp), None) => timestamp,
        (None, _) => received_at,
    };
    corrected.min(received_at)
}

/// An id: a non-empty string, trimmed, or a number. A [`Text`]: an id of up to 24 bytes (most
/// user ids) needs no allocation.
fn id_text(value: &serde_json::Value) -> Option<Text> {
    match value {
        serde_json::Value::String(text) if !text.trim().is_empty() => Some(Text::from(text.trim())),
        serde_json::Value::Number(number) => Some(Text::from(number.to_string())),
        _ => None,
    }
}

/// A stable id for a message sent without one: retries of the same payload map to the same id.
fn derived_message_id(raw: &str) -> String {
    let digest = Sha256::digest(raw.as_bytes());
    let hex: String = digest
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("embudo-{hex}")
}

/// Converts a JSON value into the core's value type.
pub fn to_value(value: serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(flag) => Value::Bool(flag),
        serde_json::Value::Number(number) => Value::Number(number.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(text) => Value::from(text),
        serde_json::Value::Array(items) => Value::List(items.into_iter().map(to_value).collect()),
        serde_json::Value::Object(map) => Value::Map(
            map.into_iter()
                .map(|(k, v)| (k.into(), to_value(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests;
