//! Order lines from CSV: a column mapping, and the `online-retail` and `shopify` presets.
//!
//! Rows are grouped by order id (in the order orders first appear) and every order becomes one
//! `Order Completed` event with `products[]`, message id `<format>:<order id>`. Order-level
//! values (customer, e-mail, date, currency, total, refund, cancellation, country) come from the
//! first row that has them, so exports that write them on an order's first row only (Shopify)
//! work. Identity: `customer_id` is the `userId`; an e-mail goes to `context.traits.email`, and
//! without a customer id it also gives a stable anonymous id (`email-<hash>`).
//!
//! Rows of an order without customer id and e-mail cannot belong to a person: skipped. Wrong
//! values (a date that does not parse, quantity ≤ 0 on a sale, a negative price, no product)
//! reject the row; the order keeps its other rows.
//!
//! A `cancelled_at` date adds `Order Cancelled` (`…:cancelled`); a refunded amount (or `true`,
//! or Shopify's financial status `refunded`) adds `Order Refunded` (`…:refunded`).
//!
//! Online Retail: invoices starting with `C` are cancellations (negative quantities). Each
//! cancelled line is matched to the customer's most recent earlier invoice holding that stock
//! code. When one invoice matches and the cancellation takes back exactly all its lines, that is
//! `Order Cancelled` of the invoice; otherwise every matched invoice gets an `Order Refunded` of
//! the matched lines (message id `online-retail:<C invoice>:<invoice>`). Lines matching no
//! earlier purchase (the file starts mid-history) are skipped. Dates have no zone in the file
//! (UK local time): they are read as UTC. The currency is GBP; `Country` is a trait.

use std::collections::{BTreeMap, HashMap};

use embudo_core::{Event, Text, Timestamp, Value};

use crate::common::{
    Track, email_anonymous_id, id_text, map, number, parse_time, raw_record, string,
};
use crate::read::{CsvConverter, Row, reject, skip};
use crate::{Format, ImportError, ImportOptions, OrderField, Output};

const ONLINE_RETAIL: &[(OrderField, &str)] = &[
    (OrderField::OrderId, "InvoiceNo"),
    (OrderField::ProductId, "StockCode"),
    (OrderField::Name, "Description"),
    (OrderField::Quantity, "Quantity"),
    (OrderField::PlacedAt, "InvoiceDate"),
    (OrderField::UnitPrice, "UnitPrice"),
    (OrderField::CustomerId, "CustomerID"),
    (OrderField::Country, "Country"),
];

const SHOPIFY: &[(OrderField, &str)] = &[
    (OrderField::OrderId, "Name"),
    (OrderField::Email, "Email"),
    (OrderField::FinancialStatus, "Financial Status"),
    (OrderField::PlacedAt, "Created at"),
    (OrderField::Currency, "Currency"),
    (OrderField::Total, "Total"),
    (OrderField::Quantity, "Lineitem quantity"),
    (OrderField::Name, "Lineitem name"),
    (OrderField::UnitPrice, "Lineitem price"),
    (OrderField::Sku, "Lineitem sku"),
    (OrderField::Refunded, "Refunded Amount"),
    (OrderField::CancelledAt, "Cancelled at"),
];

pub(crate) struct Orders {
    format: Format,
    /// Column index per [`OrderField`] (by its position in [`OrderField::ALL`]).
    columns: [Option<usize>; OrderField::ALL.len()],
    date_format: Option<String>,
    received_at: Timestamp,
    orders: Vec<Pending>,
    by_id: HashMap<String, usize>,
}

struct Pending {
    order_id: String,
    line: u64,
    raw: String,
    customer_id: Option<String>,
    email: Option<String>,
    placed_at: Timestamp,
    currency: Option<String>,
    total: Option<f64>,
    refunded: Option<Refunded>,
    cancelled_at: Option<Timestamp>,
    country: Option<String>,
    /// An Online Retail `C…` invoice.
    cancellation: bool,
    lines: Vec<Line>,
}

#[derive(Clone, Copy)]
enum Refunded {
    Amount(f64),
    Whole,
}

#[derive(Clone)]
struct Line {
    product_id: String,
    sku: Option<String>,
    name: Option<String>,
    category: Option<String>,
    quantity: f64,
    unit_price: f64,
}

fn slot(field: OrderField) -> usize {
    OrderField::ALL
        .iter()
        .position(|known| *known == field)
        .unwrap_or_default()
}

impl Orders {
    pub(crate) fn new(
        format: Format,
        header: &[String],
        options: &ImportOptions,
    ) -> Result<Orders, ImportError> {
        let preset = match format {
            Format::OnlineRetail => ONLINE_RETAIL,
            Format::Shopify => SHOPIFY,
            _ => &[],
        };
        let position = |column: &str| header.iter().position(|name| name == column.trim());
        let mut columns = [None; OrderField::ALL.len()];
        // A preset's column missing from the header leaves the field empty; a `--map` column
        // missing from the header is an error.
        for (field, column) in preset {
            columns[slot(*field)] = position(column);
        }
        for (field, column) in &options.columns {
            columns[slot(*field)] =
                Some(position(column).ok_or_else(|| ImportError::MissingColumn {
                    field: field.as_str().to_owned(),
                    column: column.clone(),
                })?);
        }
        let has = |field: OrderField| columns[slot(field)].is_some();
        if !has(OrderField::OrderId) {
            return Err(ImportError::Unmapped("order_id"));
        }
        if !has(OrderField::PlacedAt) {
            return Err(ImportError::Unmapped("placed_at"));
        }
        if !has(OrderField::ProductId) && !has(OrderField::Sku) {
            return Err(ImportError::Unmapped("product_id or sku"));
        }
        if !has(OrderField::CustomerId) && !has(OrderField::Email) {
            return Err(ImportError::Unmapped("customer_id or email"));
        }
        Ok(Orders {
            format,
            columns,
            date_format: options.date_format.clone(),
            received_at: options.received_at,
            orders: Vec::new(),
            by_id: HashMap::new(),
        })
    }

    fn prefix(&self) -> &'static str {
        match self.format {
            Format::OnlineRetail => "online-retail",
            Format::Shopify => "shopify",
            _ => "orders",
        }
    }

    fn track(&self, order: &Pending, message_id: String, name: &'static str) -> Track {
        let mut traits = map();
        if let Some(email) = &order.email {
            traits.insert("email".into(), string(email));
        }
        if let Some(country) = &order.country {
            traits.insert("country".into(), string(country));
        }
        let mut context = map();
        if !traits.is_empty() {
            context.insert("traits".into(), Value::Map(traits));
        }
        let anonymous_id = match (&order.customer_id, &order.email) {
            (None, Some(email)) => Some(Text::from(email_anonymous_id(email))),
            _ => None,
        };
        Track {
            message_id,
            name,
            user_id: order.customer_id.as_deref().map(Text::from),
            anonymous_id,
            timestamp: order.placed_at,
            received_at: self.received_at,
            properties: map(),
            context,
        }
    }

    fn completed(&self, order: &Pending) -> Event {
        let mut track = self.track(
            order,
            format!("{}:{}", self.prefix(), order.order_id),
            "Order Completed",
        );
        let props = &mut track.properties;
        props.insert("order_id".into(), string(&order.order_id));
        let total = order.total.unwrap_or_else(|| sum(&order.lines));
        props.insert("total".into(), Value::Number(total));
        if let Some(currency) = &order.currency {
            props.insert("currency".into(), string(currency));
        }
        props.insert("products".into(), products(&order.lines));
        track.into_event()
    }

    /// Online Retail cancellations, matched against the customer's earlier invoices.
    fn cancellation(&self, index: usize, purchases: &HashMap<&str, Vec<usize>>, out: &mut Output) {
        let cancel = &self.orders[index];
        let earlier = cancel
            .customer_id
            .as_deref()
            .and_then(|customer| purchases.get(customer))
            .map_or(&[][..], Vec::as_slice);
        let mut matched: BTreeMap<usize, Vec<Line>> = BTreeMap::new();
        let mut n_unmatched = 0;
        for line in &cancel.lines {
            let found = earlier.iter().rev().copied().find(|&candidate| {
                let order = &self.orders[candidate];
                order.placed_at <= cancel.placed_at
                    && order.lines.iter().any(|l| l.product_id == line.product_id)
            });
            match found {
                Some(candidate) => matched.entry(candidate).or_default().push(line.clone()),
                None => n_unmatched += 1,
            }
        }
        for _ in 0..n_unmatched {
            skip(
                out,
                cancel.line,
                "InvoiceNo",
                "cancels a product the customer did not buy earlier in the file",
            );
        }
        let single = (matched.len() == 1 && n_unmatched == 0)
            .then(|| matched.iter().next())
            .flatten();
        if let Some((&original, lines)) = single
            && same_lines(&self.orders[original].lines, lines)
        {
            {
                let original_id = &self.orders[original].order_id;
                let mut track = self.track(
                    cancel,
                    format!("{}:{}:{}", self.prefix(), cancel.order_id, original_id),
                    "Order Cancelled",
                );
                track
                    .properties
                    .insert("order_id".into(), string(original_id));
                track
                    .properties
                    .insert("cancellation_id".into(), string(&cancel.order_id));
                let raw = cancel.raw.clone();
                out.push_event(track.into_event(), cancel.line, || raw);
                return;
            }
        }
        for (original, lines) in matched {
            let original_id = &self.orders[original].order_id;
            let mut track = self.track(
                cancel,
                format!("{}:{}:{}", self.prefix(), cancel.order_id, original_id),
                "Order Refunded",
            );
            let props = &mut track.properties;
            props.insert("order_id".into(), string(original_id));
            props.insert("cancellation_id".into(), string(&cancel.order_id));
            props.insert("total".into(), Value::Number(sum(&lines)));
            if let Some(currency) = &cancel.currency {
                props.insert("currency".into(), string(currency));
            }
            props.insert("products".into(), products(&lines));
            let raw = cancel.raw.clone();
            out.push_event(track.into_event(), cancel.line, || raw);
        }
    }
}

/// The lines' amount, rounded to 1/10,000 (no float noise such as `12.600000000000001`).
fn sum(lines: &[Line]) -> f64 {
    let sum: f64 = lines
        .iter()
        .map(|line| line.unit_price * line.quantity)
        .sum();
    (sum * 10_000.0).round() / 10_000.0
}

fn products(lines: &[Line]) -> Value {
    Value::List(
        lines
            .iter()
            .map(|line| {
                let mut product = map();
                product.insert("product_id".into(), string(&line.product_id));
                if let Some(sku) = &line.sku {
                    product.insert("sku".into(), string(sku));
                }
                if let Some(name) = &line.name {
                    product.insert("name".into(), string(name));
                }
                if let Some(category) = &line.category {
                    product.insert("category".into(), string(category));
                }
                product.insert("price".into(), Value::Number(line.unit_price));
                product.insert("quantity".into(), Value::Number(line.quantity));
                Value::Map(product)
            })
            .collect(),
    )
}

/// The same products with the same quantities, in any order.
fn same_lines(order: &[Line], cancelled: &[Line]) -> bool {
    let key = |lines: &[Line]| {
        let mut keys: Vec<(String, i64)> = lines
            .iter()
            .map(|line| {
                (
                    line.product_id.clone(),
                    (line.quantity * 1000.0).round() as i64,
                )
            })
            .collect();
        keys.sort();
        keys
    };
    key(order) == key(cancelled)
}

impl CsvConverter for Orders {
    fn record(&mut self, line: u64, row: Row<'_>, out: &mut Output) {
        let get = |field: OrderField| {
            self.columns[slot(field)]
                .and_then(|index| row.field(index))
                .filter(|value| !value.is_empty())
        };
        let Some(order_id) = get(OrderField::OrderId) else {
            return reject(out, line, row, "order_id", "is empty");
        };
        let existing = self.by_id.get(&*order_id).copied();
        let customer_id = get(OrderField::CustomerId).map(|id| id_text(&id).to_owned());
        let email = get(OrderField::Email)
            .filter(|email| email.contains('@'))
            .map(|email| email.to_lowercase());
        if let Some(index) = existing {
            let order = &self.orders[index];
            if customer_id.is_some() && customer_id != order.customer_id {
                return reject(
                    out,
                    line,
                    row,
                    "customer_id",
                    "differs from the customer of the order's first row",
                );
            }
        } else if customer_id.is_none() && email.is_none() {
            return skip(
                out,
                line,
                "customer_id",
                "no customer id or e-mail: the row cannot belong to a person",
            );
        }
        let date = |field: OrderField| -> Result<Option<Timestamp>, ()> {
            match get(field) {
                None => Ok(None),
                Some(text) => parse_time(&text, self.date_format.as_deref())
                    .map(Some)
                    .ok_or(()),
            }
        };
        let Ok(placed_at) = date(OrderField::PlacedAt) else {
            return reject(
                out,
                line,
                row,
                "placed_at",
                "is not a date-time (see --date-format)",
            );
        };
        if existing.is_none() && placed_at.is_none() {
            return reject(out, line, row, "placed_at", "is empty");
        }
        let Ok(cancelled_at) = date(OrderField::CancelledAt) else {
            return reject(
                out,
                line,
                row,
                "cancelled_at",
                "is not a date-time (see --date-format)",
            );
        };
        let cancellation = self.format == Format::OnlineRetail && order_id.starts_with('C');
        let quantity = match get(OrderField::Quantity) {
            None => 1.0,
            Some(text) => match number(&text) {
                Some(quantity) => quantity,
                None => return reject(out, line, row, "quantity", "is not a number"),
            },
        };
        let quantity = if cancellation {
            if quantity >= 0.0 {
                return reject(
                    out,
                    line,
                    row,
                    "quantity",
                    "is not negative on a cancellation",
                );
            }
            -quantity
        } else if quantity <= 0.0 {
            return reject(out, line, row, "quantity", "is not positive on a sale");
        } else {
            quantity
        };
        let unit_price = match get(OrderField::UnitPrice).map(|text| number(&text)) {
            None => 0.0,
            Some(Some(price)) if price >= 0.0 => price,
            Some(_) => {
                return reject(out, line, row, "unit_price", "is not a non-negative number");
            }
        };
        let sku = get(OrderField::Sku).map(|sku| sku.into_owned());
        let Some(product_id) = get(OrderField::ProductId)
            .map(|id| id.into_owned())
            .or_else(|| sku.clone())
        else {
            return reject(out, line, row, "product_id", "is empty (and no sku)");
        };
        let money = |field: OrderField| -> Result<Option<f64>, &'static str> {
            match get(field) {
                None => Ok(None),
                Some(text) => match number(&text) {
                    Some(amount) if amount >= 0.0 => Ok(Some(amount)),
                    _ => Err(field.as_str()),
                },
            }
        };
        let total = match money(OrderField::Total) {
            Ok(total) => total,
            Err(field) => {
                return reject(out, line, row, field, "is not a non-negative number");
            }
        };
        let refunded = match get(OrderField::Refunded) {
            None => None,
            Some(text) => match &*text.to_ascii_lowercase() {
                "true" | "yes" | "y" => Some(Refunded::Whole),
                "false" | "no" | "n" => None,
                other => match number(other) {
                    Some(amount) if amount > 0.0 => Some(Refunded::Amount(amount)),
                    Some(0.0) => None,
                    _ => {
                        return reject(
                            out,
                            line,
                            row,
                            "refunded",
                            "is not an amount or true/false",
                        );
                    }
                },
            },
        };
        let refunded = refunded.or_else(|| {
            get(OrderField::FinancialStatus)
                .filter(|status| status.eq_ignore_ascii_case("refunded"))
                .map(|_| Refunded::Whole)
        });
        let currency = match get(OrderField::Currency) {
            None if self.format == Format::OnlineRetail => Some("GBP".to_owned()),
            None => None,
            Some(code) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) => {
                Some(code.to_ascii_uppercase())
            }
            Some(_) => {
                return reject(
                    out,
                    line,
                    row,
                    "currency",
                    "is not a three-letter ISO 4217 code",
                );
            }
        };
        let order_line = Line {
            product_id,
            sku,
            name: get(OrderField::Name).map(|name| name.into_owned()),
            category: get(OrderField::Category).map(|category| category.into_owned()),
            quantity,
            unit_price,
        };
        let country = get(OrderField::Country).map(|country| country.into_owned());
        match existing {
            Some(index) => {
                let order = &mut self.orders[index];
                order.email = order.email.take().or(email);
                order.currency = order.currency.take().or(currency);
                order.total = order.total.or(total);
                order.refunded = order.refunded.or(refunded);
                order.cancelled_at = order.cancelled_at.or(cancelled_at);
                order.country = order.country.take().or(country);
                order.lines.push(order_line);
            }
            None => {
                // Checked above: a new order has a date; this only keeps the compiler informed.
                let Some(placed_at) = placed_at else { return };
                self.by_id.insert(order_id.to_string(), self.orders.len());
                self.orders.push(Pending {
                    order_id: order_id.into_owned(),
                    line,
                    raw: raw_record(row.bytes()),
                    customer_id,
                    email,
                    placed_at,
                    currency,
                    total,
                    refunded,
                    cancelled_at,
                    country,
                    cancellation,
                    lines: vec![order_line],
                });
            }
        }
    }

    fn finish(&mut self, out: &mut Output) {
        let mut purchases: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, order) in self.orders.iter().enumerate() {
            if order.cancellation {
                self.cancellation(index, &purchases, out);
                continue;
            }
            if let Some(customer) = order.customer_id.as_deref() {
                purchases.entry(customer).or_default().push(index);
            }
            let prefix = self.prefix();
            out.push_event(self.completed(order), order.line, || order.raw.clone());
            if let Some(refunded) = order.refunded {
                let mut track = self.track(
                    order,
                    format!("{prefix}:{}:refunded", order.order_id),
                    "Order Refunded",
                );
                track
                    .properties
                    .insert("order_id".into(), string(&order.order_id));
                if let Refunded::Amount(amount) = refunded {
                    track
                        .properties
                        .insert("total".into(), Value::Number(amount));
                }
                if let Some(currency) = &order.currency {
                    track.properties.insert("currency".into(), string(currency));
                }
                out.push_event(track.into_event(), order.line, || order.raw.clone());
            }
            if let Some(cancelled_at) = order.cancelled_at {
                let mut track = self.track(
                    order,
                    format!("{prefix}:{}:cancelled", order.order_id),
                    "Order Cancelled",
                );
                track.timestamp = cancelled_at;
                track
                    .properties
                    .insert("order_id".into(), string(&order.order_id));
                out.push_event(track.into_event(), order.line, || order.raw.clone());
            }
        }
    }
}
