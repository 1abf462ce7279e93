//! A JSON-like value for traits and event properties.
//!
//! The core does not depend on serde: adapters convert their wire values into this type.

/// The map of a [`Value`]: keys in order, in one flat sorted vector.
///
/// Events carry a handful of properties each and millions of them pass through an import: a
/// `BTreeMap` node holds room for eleven entries (some 600 bytes for five properties), the flat
/// vector exactly what it holds. Lookups are a binary search; iteration is in key order, as it
/// was with `BTreeMap`, so stored JSON keeps its key order. Collecting keeps the last value of
/// a repeated key.
pub type Map = litemap::LiteMap<String, Value>;

/// A dynamically typed value, as found in event properties and profile traits.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    List(Vec<Value>),
    Map(Map),
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(map) => map.get(key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// The value as a number: numbers, and strings that parse as numbers (shops send both).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(number) if number.is_finite() => Some(*number),
            Value::String(text) => text.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(flag) => Some(*flag),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(map) => Some(map),
            _ => None,
        }
    }

    /// A string or number rendered as an identifier (`"sku-1"`, `42`): ids arrive as both.
    pub fn as_id(&self) -> Option<String> {
        match self {
            Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
            Value::Number(number) if number.fract() == 0.0 && number.is_finite() => {
                Some(format!("{number:.0}"))
            }
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A string property by key, trimmed and non-empty.
    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|text| !text.is_empty())
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::String(text.to_owned())
    }
}

impl From<f64> for Value {
    fn from(number: f64) -> Value {
        Value::Number(number)
    }
}

#[cfg(test)]
mod tests {
    use super::{Map, Value};

    #[test]
    fn a_map_keeps_its_keys_in_order_and_the_last_value_of_a_repeated_key() {
        let map: Map = [("price", 2.0), ("brand", 1.0), ("price", 3.0), ("a", 0.0)]
            .into_iter()
            .map(|(key, number)| (key.to_owned(), Value::Number(number)))
            .collect();
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a", "brand", "price"]);
        assert_eq!(map.get("price"), Some(&Value::Number(3.0)));

        let mut built = Map::default();
        for (key, number) in [("product_id", 1.0), ("category", 2.0), ("brand", 3.0)] {
            built.insert(key.to_owned(), Value::Number(number));
        }
        built.insert("category".to_owned(), Value::Number(4.0));
        let value = Value::Map(built);
        assert_eq!(value.get("category"), Some(&Value::Number(4.0)));
        assert_eq!(value.as_map().map(Map::len), Some(3));
        assert_eq!(
            value.as_map().unwrap().keys().collect::<Vec<_>>(),
            ["brand", "category", "product_id"]
        );
    }
}
