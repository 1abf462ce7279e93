//! The REES46 event slice: every event before `at` goes through the engine, every person is
//! classified at `at`, and purchases in `[at, until)` are counted per phase.
//!
//! Mapping: `view` → `Product Viewed`, `cart` → `Product Added`, `purchase` →
//! `Order Completed` (one order per `user_session`, as the publisher says; its lines are the
//! purchased rows). Each event carries the product id, price, brand and category (the
//! `category_code` when given, else `category_<category_id>`). The profile is the `user_id`.
//! People who bought before `at` are customers (phase III).

use std::collections::HashMap;
use std::io::BufRead;

use anyhow::Context as _;
use embudo_core::page::PageRules;
use embudo_core::phase::{Context, PhaseModel, PhaseState, evaluate};
use embudo_core::profile::Aggregates;
use embudo_core::{Event, EventKind, Map, Timestamp, Value};

use super::{PhaseTable, Report};

/// One row of the slice.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub(crate) at: Timestamp,
    pub(crate) event_type: String,
    pub(crate) product_id: String,
    pub(crate) category: String,
    pub(crate) brand: Option<String>,
    pub(crate) price: f64,
    pub(crate) user_id: String,
    pub(crate) session: String,
}

pub(crate) fn read(
    reader: Box<dyn BufRead>,
    header: &str,
    at: Timestamp,
    until: Timestamp,
) -> anyhow::Result<Report> {
    let columns: Vec<&str> = header.split(',').collect();
    let column = |name: &str| {
        columns
            .iter()
            .position(|column| *column == name)
            .with_context(|| format!("column {name} is missing"))
    };
    let (time, kind, product, category_id, category_code, brand, price, user, session) = (
        column("event_time")?,
        column("event_type")?,
        column("product_id")?,
        column("category_id")?,
        column("category_code")?,
        column("brand")?,
        column("price")?,
        column("user_id")?,
        column("user_session")?,
    );
    let mut rows = Vec::new();
    for (line_index, line) in reader.lines().enumerate() {
        let line = line.context("failed to read a line")?;
        if line.trim().is_empty() {
            continue;
        }
        let line_number = line_index + 2;
        let fields: Vec<&str> = line.trim_end().split(',').collect();
        let field = |index: usize| -> anyhow::Result<&str> {
            fields
                .get(index)
                .copied()
                .with_context(|| format!("line {line_number}: too few fields"))
        };
        let time_text = field(time)?;
        let iso = time_text.replacen(' ', "T", 1).replace(" UTC", "Z");
        let timestamp = Timestamp::parse(&iso)
            .with_context(|| format!("line {line_number}: bad event_time {time_text:?}"))?;
        let code = field(category_code)?;
        rows.push(Row {
            at: timestamp,
            event_type: field(kind)?.to_owned(),
            product_id: field(product)?.to_owned(),
            category: if code.is_empty() {
                format!("category_{}", field(category_id)?)
            } else {
                code.to_owned()
            },
            brand: Some(field(brand)?)
                .filter(|b| !b.is_empty())
                .map(str::to_owned),
            price: field(price)?.parse().unwrap_or(0.0),
            user_id: field(user)?.to_owned(),
            session: field(session).unwrap_or_default().to_owned(),
        });
    }
    Ok(evaluate_rows(&rows, at, until))
}

fn event(row: &Row, index: usize) -> Event {
    let product = |extra: Vec<(&str, Value)>| {
        let mut properties = Map::default();
        properties.insert("product_id".into(), row.product_id.as_str().into());
        properties.insert("category".into(), row.category.as_str().into());
        properties.insert("price".into(), row.price.into());
        if let Some(brand) = &row.brand {
            properties.insert("brand".into(), brand.as_str().into());
        }
        for (key, value) in extra {
            properties.insert(key.into(), value);
        }
        Value::Map(properties)
    };
    let (name, properties) = match row.event_type.as_str() {
        "view" => ("Product Viewed", product(Vec::new())),
        "cart" => ("Product Added", product(Vec::new())),
        "purchase" => {
            let line = product(Vec::new());
            let order_id = format!("session-{}", row.session);
            let mut properties = Map::default();
            properties.insert("order_id".into(), Value::from(order_id));
            properties.insert("total".into(), row.price.into());
            properties.insert("products".into(), Value::List(vec![line]));
            ("Order Completed", Value::Map(properties))
        }
        other => (other, product(Vec::new())),
    };
    Event {
        message_id: format!("rees46-{index}"),
        kind: EventKind::Track,
        name: Some(name.into()),
        anonymous_id: None,
        user_id: Some(row.user_id.as_str().into()),
        previous_id: None,
        group_id: None,
        timestamp: row.at,
        received_at: row.at,
        properties,
        traits: Value::Map(Default::default()),
        context: Value::Map(Default::default()),
    }
}

#[derive(Default)]
struct Person {
    state: PhaseState,
    aggregates: Aggregates,
}

pub(crate) fn evaluate_rows(rows: &[Row], at: Timestamp, until: Timestamp) -> Report {
    let model = PhaseModel::default();
    let rules = PageRules::default();
    let mut people: HashMap<&str, Person> = HashMap::new();
    let mut buy_later: HashMap<&str, bool> = HashMap::new();
    let mut n_events = 0u64;
    let mut n_rejected = 0u64;
    for (index, row) in rows.iter().enumerate() {
        if row.at < at {
            let event = event(row, index);
            let person = people.entry(row.user_id.as_str()).or_default();
            match event.action(&rules) {
                Ok(action) => {
                    person.state.apply(&event, &action, &model);
                    person.aggregates.apply(&event, &action);
                    n_events += 1;
                }
                Err(_) => n_rejected += 1,
            }
        } else if row.at < until && row.event_type == "purchase" {
            buy_later.insert(row.user_id.as_str(), true);
        }
    }
    let mut table = PhaseTable::new(&format!("classified at {at}, bought in [{at}, {until})"));
    let mut users: Vec<(&str, &Person)> = people
        .iter()
        .map(|(user, person)| (*user, person))
        .collect();
    users.sort_by_key(|(user, _)| *user);
    for (user, person) in &users {
        let classification = evaluate(
            &person.state,
            &person.aggregates,
            &Context::default(),
            at,
            &model,
        );
        let bought = buy_later.get(user).copied().unwrap_or(false);
        table.add(classification.phase, classification.confidence, bought);
    }
    let new_buyers = buy_later
        .keys()
        .filter(|user| !people.contains_key(*user))
        .count();
    Report {
        dataset: "rees46",
        description: format!(
            "{} events before {at} from {} people fed through the engine; each person classified at {at}",
            n_events,
            users.len()
        ),
        tables: vec![table],
        notes: vec![
            format!(
                "{new_buyers} people who bought in [{at}, {until}) had no event before {at} and are not classified"
            ),
            format!("{n_rejected} events were rejected by the order validation"),
        ],
    }
}
