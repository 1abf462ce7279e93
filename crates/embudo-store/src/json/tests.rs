use std::collections::BTreeMap;

use embudo_core::order::OrderLine;
use embudo_core::profile::Aggregates;
use embudo_core::{Map, Timestamp, Value};

use super::*;

fn sample() -> Value {
    let mut map = Map::default();
    map.insert("n".into(), Value::Number(3.0));
    map.insert("f".into(), Value::Number(2.5));
    map.insert("nan".into(), Value::Number(f64::NAN));
    map.insert("s".into(), Value::from("a \"quoted\" \u{0} text"));
    map.insert(
        "l".into(),
        Value::List(vec![Value::Bool(true), Value::Null]),
    );
    Value::Map(map)
}

#[test]
fn values_round_trip_and_non_finite_numbers_become_null() {
    let text = value_to_json(&sample());
    assert_eq!(
        text,
        r#"{"f":2.5,"l":[true,null],"n":3,"nan":null,"s":"a \"quoted\" \u0000 text"}"#
    );
    let back = value_from_json(&text).unwrap();
    let mut expected = sample();
    if let Value::Map(map) = &mut expected {
        map.insert("nan".into(), Value::Null);
    }
    assert_eq!(back, expected);
    assert_eq!(event_column(&sample()), text);
}

#[test]
fn an_empty_event_column_is_an_empty_object_without_an_allocation() {
    let empty = event_column(&Value::Map(Map::default()));
    assert!(matches!(empty, Cow::Borrowed("{}")));
    assert_eq!(value_from_json(&empty).unwrap(), Value::Map(Map::default()));
}

#[test]
fn traits_lines_and_aggregates_round_trip() {
    let mut traits = BTreeMap::new();
    traits.insert(
        "email".to_owned(),
        (Value::from("a@b.es"), Timestamp::from_millis(5)),
    );
    let text = traits_to_json(&traits);
    assert_eq!(text, r#"{"email":{"v":"a@b.es","t":5}}"#);
    assert_eq!(traits_from_json(&text).unwrap(), traits);

    let lines = vec![OrderLine {
        product_id: "p1".to_owned(),
        sku: None,
        name: Some("Té".to_owned()),
        category: None,
        brand: None,
        unit_price: 9.5,
        quantity: 2.0,
    }];
    assert_eq!(lines_from_json(&lines_to_json(&lines)).unwrap(), lines);

    let mut aggregates = Aggregates {
        n_events: 4,
        ..Aggregates::default()
    };
    aggregates.event_counts.insert("page".to_owned(), 4);
    assert_eq!(
        aggregates_to_json(&aggregates),
        r#"{"n_events":4,"event_counts":{"page":4}}"#,
        "zero, empty and absent fields are left out"
    );
    assert_eq!(
        aggregates_from_json(&aggregates_to_json(&aggregates)).unwrap(),
        aggregates
    );
    aggregates.orders.insert(
        "o-1".to_owned(),
        embudo_core::profile::OrderFacts {
            placed_at: Timestamp::from_millis(1_000),
            total: 20.0,
            refunded: 0.0,
            cancelled: false,
            currency: None,
        },
    );
    let text = aggregates_to_json(&aggregates);
    assert!(
        text.contains(r#""o-1":{"placed_at":1000,"total":20.0}"#),
        "{text}"
    );
    assert_eq!(aggregates_from_json(&text).unwrap(), aggregates);
    // The older form, every field written, still reads.
    let older = r#"{"first_seen":null,"last_seen":null,"n_events":4,"event_counts":{"page":4},"page_counts":{},"products_viewed":[],"n_distinct_products_viewed":0,"categories_viewed":{},"n_cart_adds":0,"n_checkouts":0,"orders":{"o-1":{"placed_at":1000,"total":20.0,"refunded":0.0,"cancelled":false,"currency":null}}}"#;
    assert_eq!(aggregates_from_json(older).unwrap(), aggregates);
    assert!(value_from_json("{").is_err());
}
