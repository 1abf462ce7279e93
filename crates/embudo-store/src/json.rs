//! JSON text for the columns that hold structured data, shared by both adapters so that the
//! stored format is the same everywhere.
//!
//! Values are written with `serde_json` straight from [`Value`] (no intermediate tree).
//! Non-finite numbers, which JSON cannot hold, are written as `null`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use embudo_core::order::OrderLine;
use embudo_core::profile::Aggregates;
use embudo_core::{Timestamp, Value};
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::error::StoreError;

/// Serializes a [`Value`] by reference.
struct ValueRef<'a>(&'a Value);

impl Serialize for ValueRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(flag) => serializer.serialize_bool(*flag),
            Value::Number(number) if number.is_finite() => {
                if number.fract() == 0.0 && number.abs() < 9.0e15 {
                    // Integers stay integers in the text (`3`, not `3.0`).
                    serializer.serialize_i64(*number as i64)
                } else {
                    serializer.serialize_f64(*number)
                }
            }
            Value::Number(_) => serializer.serialize_unit(),
            Value::String(text) => serializer.serialize_str(text),
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&ValueRef(item))?;
                }
                seq.end()
            }
            Value::Map(map) => {
                let mut out = serializer.serialize_map(Some(map.len()))?;
                for (key, item) in map {
                    out.serialize_entry(key.as_str(), &ValueRef(item))?;
                }
                out.end()
            }
        }
    }
}

fn to_text<T: Serialize + ?Sized>(value: &T) -> String {
    // Serializing these types into a String cannot fail: keys are strings and no custom
    // serializer returns an error.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn parse_error(what: &str, error: &serde_json::Error) -> StoreError {
    StoreError::other(format!("stored {what} is not valid JSON: {error}"))
}

/// Writes a value as JSON text.
pub fn value_to_json(value: &Value) -> String {
    to_text(&ValueRef(value))
}

/// A stored event column's JSON text: an empty map, as most events' traits are, is `{}` without
/// an allocation.
pub fn event_column(value: &Value) -> Cow<'static, str> {
    match value {
        Value::Map(map) if map.is_empty() => Cow::Borrowed("{}"),
        _ => Cow::Owned(value_to_json(value)),
    }
}

/// Converts a parsed JSON tree into a [`Value`].
pub fn value_from_serde(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(flag) => Value::Bool(flag),
        serde_json::Value::Number(number) => number.as_f64().map_or(Value::Null, Value::Number),
        serde_json::Value::String(text) => Value::from(text),
        serde_json::Value::Array(items) => {
            Value::List(items.into_iter().map(value_from_serde).collect())
        }
        serde_json::Value::Object(map) => Value::Map(
            map.into_iter()
                .map(|(key, item)| (key.into(), value_from_serde(item)))
                .collect(),
        ),
    }
}

/// Reads JSON text written by [`value_to_json`].
pub fn value_from_json(text: &str) -> Result<Value, StoreError> {
    serde_json::from_str::<serde_json::Value>(text)
        .map(value_from_serde)
        .map_err(|error| parse_error("value", &error))
}

/// Traits as `{"name": {"v": value, "t": millis}}`.
pub fn traits_to_json(traits: &BTreeMap<String, (Value, Timestamp)>) -> String {
    struct Entry<'a>(&'a Value, Timestamp);
    impl Serialize for Entry<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut out = serializer.serialize_struct("Trait", 2)?;
            out.serialize_field("v", &ValueRef(self.0))?;
            out.serialize_field("t", &self.1.as_millis())?;
            out.end()
        }
    }
    let entries: BTreeMap<&str, Entry<'_>> = traits
        .iter()
        .map(|(name, (value, at))| (name.as_str(), Entry(value, *at)))
        .collect();
    to_text(&entries)
}

/// Reads traits written by [`traits_to_json`].
pub fn traits_from_json(text: &str) -> Result<BTreeMap<String, (Value, Timestamp)>, StoreError> {
    let map: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|error| parse_error("traits", &error))?;
    let mut traits = BTreeMap::new();
    for (name, mut entry) in map {
        let at = entry
            .get("t")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        let value = entry
            .get_mut("v")
            .map(serde_json::Value::take)
            .map_or(Value::Null, value_from_serde);
        traits.insert(name, (value, Timestamp::from_millis(at)));
    }
    Ok(traits)
}

pub fn aggregates_to_json(aggregates: &Aggregates) -> String {
    to_text(aggregates)
}

pub fn aggregates_from_json(text: &str) -> Result<Aggregates, StoreError> {
    serde_json::from_str(text).map_err(|error| parse_error("aggregates", &error))
}

pub fn strings_to_json(items: &[String]) -> String {
    to_text(items)
}

pub fn strings_from_json(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|error| parse_error("list", &error))
}

pub fn ids_to_json(ids: &[i64]) -> String {
    to_text(ids)
}

pub fn ids_from_json(text: &str) -> Result<Vec<i64>, StoreError> {
    serde_json::from_str(text).map_err(|error| parse_error("id list", &error))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct LineJson {
    product_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    brand: Option<String>,
    unit_price: f64,
    quantity: f64,
}

/// Order lines as a JSON list of objects.
pub fn lines_to_json(lines: &[OrderLine]) -> String {
    let rows: Vec<LineJson> = lines
        .iter()
        .map(|line| LineJson {
            product_id: line.product_id.clone(),
            sku: line.sku.clone(),
            name: line.name.clone(),
            category: line.category.clone(),
            brand: line.brand.clone(),
            unit_price: finite(line.unit_price),
            quantity: finite(line.quantity),
        })
        .collect();
    to_text(&rows)
}

pub fn lines_from_json(text: &str) -> Result<Vec<OrderLine>, StoreError> {
    let rows: Vec<LineJson> =
        serde_json::from_str(text).map_err(|error| parse_error("order lines", &error))?;
    Ok(rows
        .into_iter()
        .map(|row| OrderLine {
            product_id: row.product_id,
            sku: row.sku,
            name: row.name,
            category: row.category,
            brand: row.brand,
            unit_price: row.unit_price,
            quantity: row.quantity,
        })
        .collect())
}

fn finite(number: f64) -> f64 {
    if number.is_finite() { number } else { 0.0 }
}

#[cfg(test)]
mod tests;
