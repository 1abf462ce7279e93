//! A JSON-like value for traits and event properties.
//!
//! The core does not depend on serde: adapters convert their wire values into this type.

/// The text of a [`Value`] and the keys of a [`Map`]: up to 24 bytes are held inline.
///
/// Property names and most values (ids, categories, brands) are that short: an event's
/// properties then take one allocation, for the map, instead of one per key and value; an
/// import creates and frees millions of them, on different threads.
pub type Text = compact_str::CompactString;

/// The map of a [`Value`]: keys in order, in one flat sorted vector.
///
/// Events carry a handful of properties each and millions of them pass through an import: a
/// `BTreeMap` node holds room for eleven entries (some 600 bytes for five properties), the flat
/// vector exactly what it holds. Lookups are a binary search ([`Value::get`] scans small maps);
/// iteration is in key order, as it was with `BTreeMap`, so stored JSON keeps its key order.
/// Collecting keeps the last value of a repeated key.
pub type Map = litemap::LiteMap<Text, Value>;

/// `text.trim()`, without walking the characters when both ends are printable ASCII (nearly
/// every id, category and field of an export): `str::trim` decodes and classifies each
/// character it looks at, a cost paid for several properties of every event.
#[inline]
pub fn trim(text: &str) -> &str {
    let bytes = text.as_bytes();
    let plain = |byte: Option<&u8>| byte.is_some_and(|byte| byte.is_ascii_graphic());
    if plain(bytes.first()) && plain(bytes.last()) {
        text
    } else {
        text.trim()
    }
}

/// Up to this many entries, [`Value::get`] scans a map instead of searching it.
const SMALL_MAP: usize = 8;

/// A dynamically typed value, as found in event properties and profile traits.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(f64),
    String(Text),
    List(Vec<Value>),
    Map(Map),
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            // An event's few properties: comparing lengths first rejects most keys at once,
            // where a binary search compares the bytes of every key it visits.
            Value::Map(map) if map.len() <= SMALL_MAP => map
                .iter()
                .find_map(|(name, value)| (name.as_str() == key).then_some(value)),
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
            Value::String(text) => trim(text).parse::<f64>().ok().filter(|n| n.is_finite()),
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
        self.as_id_text().map(String::from)
    }

    /// [`Value::as_id`] without an allocation when the id is short (most are).
    pub fn as_id_text(&self) -> Option<Text> {
        match self {
            Value::String(_) => self.trimmed_text(),
            Value::Number(number) if number.fract() == 0.0 && number.is_finite() => {
                Some(compact_str::format_compact!("{number:.0}"))
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
            .map(trim)
            .filter(|text| !text.is_empty())
    }

    /// A string value, trimmed, when something is left.
    pub fn trimmed_text(&self) -> Option<Text> {
        let Value::String(text) = self else {
            return None;
        };
        let trimmed = trim(text);
        if trimmed.is_empty() {
            None
        } else if trimmed.len() == text.len() {
            Some(text.clone())
        } else {
            Some(Text::from(trimmed))
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::String(Text::from(text))
    }
}

impl From<String> for Value {
    fn from(text: String) -> Value {
        Value::String(Text::from(text))
    }
}

impl From<f64> for Value {
    fn from(number: f64) -> Value {
        Value::Number(number)
    }
}

#[cfg(test)]
mod tests {
    use super::{Map, Text, Value, trim};

    #[test]
    fn texts_are_trimmed_as_str_trim_does_and_blank_ones_are_none() {
        for text in [
            "",
            " ",
            "abc",
            " abc",
            "abc\t",
            "\u{a0}abc\u{3000}",
            "ab c",
            "ñandú",
            " ñ ",
            "a very long identifier, longer than inline text holds ",
        ] {
            assert_eq!(trim(text), text.trim(), "{text:?}");
            let trimmed = Value::String(Text::from(text)).trimmed_text();
            let expected = (!text.trim().is_empty()).then(|| Text::from(text.trim()));
            assert_eq!(trimmed, expected, "{text:?}");
            assert_eq!(
                Value::String(Text::from(text)).as_id_text(),
                expected,
                "{text:?}"
            );
        }
        assert_eq!(Value::Number(42.0).trimmed_text(), None);
        assert_eq!(Value::Number(42.0).as_id_text().as_deref(), Some("42"));
    }

    #[test]
    fn a_map_keeps_its_keys_in_order_and_the_last_value_of_a_repeated_key() {
        let map: Map = [("price", 2.0), ("brand", 1.0), ("price", 3.0), ("a", 0.0)]
            .into_iter()
            .map(|(key, number)| (key.into(), Value::Number(number)))
            .collect();
        let keys: Vec<&str> = map.keys().map(|key| key.as_str()).collect();
        assert_eq!(keys, ["a", "brand", "price"]);
        assert_eq!(map.get("price"), Some(&Value::Number(3.0)));

        let mut built = Map::default();
        for (key, number) in [("product_id", 1.0), ("category", 2.0), ("brand", 3.0)] {
            built.insert(key.into(), Value::Number(number));
        }
        built.insert("category".into(), Value::Number(4.0));
        let value = Value::Map(built);
        assert_eq!(value.get("category"), Some(&Value::Number(4.0)));
        assert_eq!(value.as_map().map(Map::len), Some(3));
        assert_eq!(
            value.as_map().unwrap().keys().collect::<Vec<_>>(),
            ["brand", "category", "product_id"]
        );
    }

    #[test]
    fn a_lookup_finds_every_key_of_small_and_large_maps_and_nothing_else() {
        for size in [0, 1, 3, super::SMALL_MAP, super::SMALL_MAP + 1, 40] {
            let map: Map = (0..size)
                .map(|i| (format!("k{i}").into(), Value::Number(i as f64)))
                .collect();
            let value = Value::Map(map);
            for i in 0..size {
                assert_eq!(value.get(&format!("k{i}")), Some(&Value::Number(i as f64)));
            }
            for absent in ["", "k", "k-1", "k01", "kk", "z"] {
                assert_eq!(value.get(absent), None, "{absent} in {size}");
            }
            assert_eq!(value.get(&format!("k{size}")), None);
        }
        assert_eq!(Value::Null.get("k0"), None);
    }
}
