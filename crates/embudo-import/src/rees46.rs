//! Behaviour events in the REES46 layout:
//! `event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session`.
//!
//! `view` → `Product Viewed`, `cart` → `Product Added`, `remove_from_cart` → `Product Removed`,
//! `purchase` → `Order Completed` with one line, its order id derived from time, session and
//! product (`event_time:user_session:product_id`: time first, so that a file in time order adds
//! its orders at the end of the orders' key instead of at random places in it). Properties:
//! `product_id`, `category` (`category_code`, else `category_id`), `category_id`, `brand`,
//! `price`; ids stay strings (the category ids do not fit a float).
//! `userId` is `user_id`; the session is `context.session_id`. The message id is a hash of the
//! row, with its occurrence number when the same row comes again.

use embudo_core::{Map, Text, Timestamp, Value};

use crate::common::{Occurrences, Track, map, number, parse_time, put, record_hash, string};
use crate::read::{CsvConverter, Row, reject, skip};
use crate::{ImportError, ImportOptions, Output};

const COLUMNS: [&str; 9] = [
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
];

pub(crate) struct Rees46 {
    /// Column index of each of [`COLUMNS`].
    index: [usize; 9],
    received_at: Timestamp,
    occurrences: Occurrences,
}

impl Rees46 {
    pub(crate) fn new(header: &[String], options: &ImportOptions) -> Result<Rees46, ImportError> {
        let mut index = [0; 9];
        for (slot, name) in index.iter_mut().zip(COLUMNS) {
            *slot = header
                .iter()
                .position(|column| column == name)
                .ok_or_else(|| ImportError::MissingColumn {
                    field: name.to_owned(),
                    column: name.to_owned(),
                })?;
        }
        Ok(Rees46 {
            index,
            received_at: options.received_at,
            occurrences: Occurrences::default(),
        })
    }
}

impl CsvConverter for Rees46 {
    fn record(&mut self, line: u64, row: Row<'_>, out: &mut Output) {
        let field = |i: usize| row.field(self.index[i]).unwrap_or_default();
        let event_time = field(0);
        let Some(timestamp) = parse_time(&event_time, None) else {
            return reject(out, line, row, "event_time", "is not a date-time");
        };
        let event_type = field(1);
        let name = match &*event_type {
            "view" => "Product Viewed",
            "cart" => "Product Added",
            "remove_from_cart" => "Product Removed",
            "purchase" => "Order Completed",
            _ => {
                return reject(
                    out,
                    line,
                    row,
                    "event_type",
                    "is not view, cart, remove_from_cart or purchase",
                );
            }
        };
        let user_id = field(7);
        if user_id.is_empty() {
            return skip(
                out,
                line,
                "user_id",
                "is empty: the row cannot belong to a person",
            );
        }
        let product_id = field(2);
        if product_id.is_empty() {
            return reject(out, line, row, "product_id", "is empty");
        }
        let price_text = field(6);
        let price = if price_text.is_empty() {
            None
        } else {
            match number(&price_text) {
                Some(price) if price >= 0.0 => Some(price),
                _ => {
                    return reject(out, line, row, "price", "is not a non-negative number");
                }
            }
        };
        let category_id = field(3);
        let category_code = field(4);
        let brand = field(5);
        let session = field(8);

        // At most six properties, one allocation, put in key order (each appended at the end).
        let mut product = Map::with_capacity(6);
        if !brand.is_empty() {
            put(&mut product, "brand", string(&brand));
        }
        let category = if category_code.is_empty() {
            &category_id
        } else {
            &category_code
        };
        if !category.is_empty() {
            put(&mut product, "category", string(category));
        }
        if !category_id.is_empty() {
            put(&mut product, "category_id", string(&category_id));
        }
        if let Some(price) = price {
            put(&mut product, "price", Value::Number(price));
        }
        put(&mut product, "product_id", string(&product_id));
        let properties = if event_type == "purchase" {
            put(&mut product, "quantity", Value::Number(1.0));
            let mut order = Map::with_capacity(3);
            put(
                &mut order,
                "order_id",
                Value::from(format!("{event_time}:{session}:{product_id}")),
            );
            put(
                &mut order,
                "products",
                Value::List(vec![Value::Map(product)]),
            );
            put(&mut order, "total", Value::Number(price.unwrap_or(0.0)));
            order
        } else {
            product
        };
        let mut context = map();
        if !session.is_empty() {
            put(&mut context, "session_id", string(&session));
        }
        let message_id = self
            .occurrences
            .message_id("rees46", timestamp, record_hash(row.bytes()));
        let event = Track {
            message_id,
            name,
            user_id: Some(Text::from(&*user_id)),
            anonymous_id: None,
            timestamp,
            received_at: self.received_at,
            properties,
            context,
        }
        .into_event();
        out.push_event(event, line, || crate::common::raw_record(row.bytes()));
    }
}
