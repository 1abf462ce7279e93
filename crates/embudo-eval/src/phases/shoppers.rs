//! The UCI online shoppers sessions: each session's page counts become events.
//!
//! Mapping (one session = one person, classified at the end of the session):
//! - `Informational` pages → page views under `/blog/` (landing, blog, forum: phase I);
//! - `ProductRelated` pages → `Product Viewed` (distinct products, no category: the dataset
//!   has none, so repeated views within a category cannot be told apart and are not claimed);
//! - `Administrative` pages (account, login, contact) → page views of other pages;
//! - `PageValues > 0` → one `Cart Viewed`: Google Analytics gives a page a value when it was
//!   visited before transactions, so a session with page value reached pages that precede
//!   buying (cart, checkout, pricing). The value is computed from all sessions' transactions,
//!   this session's included, so this variant is reported beside one without it.
//! - bounce and exit rates, month, special day, browser, region, traffic type, visitor type
//!   are not mapped; the `Revenue` label is read only to score the result.
//!
//! Pages are spread over the session with the average duration of their kind; within one
//! session decay is negligible (half-lives are days), so their order does not matter.

use std::io::BufRead;

use anyhow::Context as _;
use embudo_core::page::PageRules;
use embudo_core::phase::{Context, PhaseModel, PhaseState, evaluate};
use embudo_core::profile::Aggregates;
use embudo_core::time::MILLIS_PER_SECOND;
use embudo_core::{Event, EventKind, Timestamp, Value};

use super::{PhaseTable, Report};

/// One session's behaviour, as the dataset gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Session {
    pub(crate) administrative: u32,
    pub(crate) administrative_secs: f64,
    pub(crate) informational: u32,
    pub(crate) informational_secs: f64,
    pub(crate) product_related: u32,
    pub(crate) product_related_secs: f64,
    pub(crate) page_values: f64,
    pub(crate) revenue: bool,
}

pub(crate) fn evaluate_sessions(sessions: &[Session]) -> Report {
    let model = PhaseModel::default();
    let rules = PageRules::default();
    let mut with_values = PhaseTable::new("behaviour with PageValues (> 0 → cart reached)");
    let mut without_values = PhaseTable::new("page counts only (PageValues ignored)");
    for (index, session) in sessions.iter().enumerate() {
        for (table, use_values) in [(&mut with_values, true), (&mut without_values, false)] {
            let events = session_events(index, session, use_values);
            let mut state = PhaseState::default();
            let mut aggregates = Aggregates::default();
            let mut end = start();
            for event in &events {
                // Every event built here is valid: none is an order.
                if let Ok(action) = event.action(&rules) {
                    state.apply(event, &action, &model);
                    aggregates.apply(event, &action);
                }
                end = end.max(event.timestamp);
            }
            let now = end.plus_millis(MILLIS_PER_SECOND);
            let classification = evaluate(&state, &aggregates, &Context::default(), now, &model);
            table.add(
                classification.phase,
                classification.confidence,
                session.revenue,
            );
        }
    }
    let n_with_values = sessions.iter().filter(|s| s.page_values > 0.0).count();
    Report {
        dataset: "online_shoppers",
        description: format!(
            "{} sessions, each classified at its end from its page counts alone (never the Revenue label)",
            sessions.len()
        ),
        tables: vec![with_values, without_values],
        notes: vec![
            format!(
                "{n_with_values} sessions have PageValues > 0 and get one Cart Viewed event in the first table"
            ),
            "no session has an earlier order, so nobody is phase III here".to_owned(),
        ],
    }
}

pub(crate) fn read(reader: Box<dyn BufRead>, header: &str) -> anyhow::Result<Report> {
    let columns: Vec<&str> = header.split(',').collect();
    let column = |name: &str| {
        columns
            .iter()
            .position(|column| *column == name)
            .with_context(|| format!("column {name} is missing"))
    };
    let indices = [
        column("Administrative")?,
        column("Administrative_Duration")?,
        column("Informational")?,
        column("Informational_Duration")?,
        column("ProductRelated")?,
        column("ProductRelated_Duration")?,
        column("PageValues")?,
        column("Revenue")?,
    ];
    let mut sessions = Vec::new();
    for (line_index, line) in reader.lines().enumerate() {
        let line = line.context("failed to read a line")?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.trim_end().split(',').collect();
        let line_number = line_index + 2;
        let field = |index: usize| {
            fields
                .get(index)
                .copied()
                .with_context(|| format!("line {line_number}: too few fields"))
        };
        let number = |index: usize| -> anyhow::Result<f64> {
            let text = field(index)?;
            text.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .with_context(|| {
                    format!("line {line_number}: {text:?} is not a non-negative number")
                })
        };
        let count = |index: usize| -> anyhow::Result<u32> { Ok(number(index)?.round() as u32) };
        sessions.push(Session {
            administrative: count(indices[0])?,
            administrative_secs: number(indices[1])?,
            informational: count(indices[2])?,
            informational_secs: number(indices[3])?,
            product_related: count(indices[4])?,
            product_related_secs: number(indices[5])?,
            page_values: number(indices[6])?,
            revenue: match field(indices[7])? {
                "TRUE" | "True" | "true" | "1" => true,
                "FALSE" | "False" | "false" | "0" => false,
                other => anyhow::bail!("line {line_number}: Revenue {other:?} is not a boolean"),
            },
        });
    }
    Ok(evaluate_sessions(&sessions))
}

fn start() -> Timestamp {
    // Any start will do: every session is its own person and is classified at its own end.
    Timestamp::from_secs(1_767_225_600) // 2026-01-01T00:00:00Z
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

fn base_event(session: usize, n: usize, kind: EventKind, at: Timestamp) -> Event {
    Event {
        message_id: format!("s{session}-{n}"),
        kind,
        name: None,
        anonymous_id: Some(format!("session-{session}").into()),
        user_id: None,
        previous_id: None,
        group_id: None,
        timestamp: at,
        received_at: at,
        properties: Value::Map(Default::default()),
        traits: Value::Map(Default::default()),
        context: Value::Map(Default::default()),
    }
}

/// The events a session's counts stand for, in time order.
pub(crate) fn session_events(index: usize, session: &Session, use_page_values: bool) -> Vec<Event> {
    let mut events = Vec::new();
    let mut at = start();
    let mut push = |events: &mut Vec<Event>,
                    kind: EventKind,
                    name: Option<&str>,
                    properties: Value,
                    step_secs: f64| {
        let mut event = base_event(index, events.len(), kind, at);
        event.name = name.map(Into::into);
        event.properties = properties;
        events.push(event);
        at = at.plus_millis((step_secs.max(1.0) * 1000.0) as i64);
    };
    let step = |secs: f64, n: u32| if n == 0 { 1.0 } else { secs / f64::from(n) };
    for page in 0..session.administrative {
        let path = format!("/cuenta/{page}");
        let step = step(session.administrative_secs, session.administrative);
        push(
            &mut events,
            EventKind::Page,
            None,
            map(vec![("path", path.as_str().into())]),
            step,
        );
    }
    for page in 0..session.informational {
        let path = format!("/blog/info-{page}");
        let step = step(session.informational_secs, session.informational);
        push(
            &mut events,
            EventKind::Page,
            None,
            map(vec![("path", path.as_str().into())]),
            step,
        );
    }
    for product in 0..session.product_related {
        let id = format!("p{product}");
        let step = step(session.product_related_secs, session.product_related);
        push(
            &mut events,
            EventKind::Track,
            Some("Product Viewed"),
            map(vec![("product_id", id.as_str().into())]),
            step,
        );
    }
    if use_page_values && session.page_values > 0.0 {
        push(
            &mut events,
            EventKind::Track,
            Some("Cart Viewed"),
            Value::Map(Default::default()),
            1.0,
        );
    }
    events
}
