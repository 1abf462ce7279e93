//! Wire types of the JSON API, converted by hand from the service's plain data.

use std::collections::BTreeMap;

use embudo_core::{Timestamp, Value};
use embudo_segment::Rejection;
use embudo_store::{LoggedEvent, OrderRecord, ProfileRecord, TransitionRecord};
use serde::Serialize;
use serde_json::json;

/// One rejected message.
#[derive(Debug, Clone, Serialize)]
pub struct RejectionDto {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    #[serde(rename = "messageId", skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    pub field: String,
    pub reason: String,
}

impl From<&Rejection> for RejectionDto {
    fn from(rejection: &Rejection) -> RejectionDto {
        RejectionDto {
            index: rejection.index,
            message_id: rejection.message_id.clone(),
            field: rejection.field.clone(),
            reason: rejection.reason.clone(),
        }
    }
}

pub fn time(at: Timestamp) -> String {
    at.to_string()
}

pub fn value(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(flag) => json!(flag),
        Value::Number(number) => {
            serde_json::Number::from_f64(*number).map_or(serde_json::Value::Null, Into::into)
        }
        Value::String(text) => json!(text.as_str()),
        Value::List(items) => serde_json::Value::Array(items.iter().map(self::value).collect()),
        Value::Map(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), self::value(v)))
                .collect(),
        ),
    }
}

pub fn profile(record: &ProfileRecord) -> serde_json::Value {
    let traits: BTreeMap<&str, serde_json::Value> = record
        .traits
        .iter()
        .map(|(name, (v, _))| (name.as_str(), value(v)))
        .collect();
    let traits_updated_at: BTreeMap<&str, String> = record
        .traits
        .iter()
        .map(|(name, (_, at))| (name.as_str(), time(*at)))
        .collect();
    let aggregates = &record.aggregates;
    let summary = &record.summary;
    json!({
        "id": record.id.0,
        "user_id": record.user_id,
        "email": record.email,
        "anonymous_ids": record.anonymous_ids,
        "traits": traits,
        "traits_updated_at": traits_updated_at,
        "first_seen": time(record.first_seen),
        "last_seen": time(record.last_seen),
        "phase": summary.phase,
        "substate": summary.substate,
        "stage": summary.stage,
        "confidence": summary.confidence,
        "scores": scores(record),
        "audiences": summary.audiences,
        "aggregates": {
            "n_events": aggregates.n_events,
            "event_counts": aggregates.event_counts,
            "page_views": aggregates.page_counts.iter().map(|(c, n)| (c.as_str(), *n)).collect::<BTreeMap<_, _>>(),
            "distinct_products_viewed": aggregates.n_distinct_products_viewed,
            "categories_viewed": aggregates.categories_viewed,
            "cart_adds": aggregates.n_cart_adds,
            "checkouts": aggregates.n_checkouts,
            "orders": aggregates.n_orders(),
            "revenue": round2(aggregates.revenue()),
            "refunds": aggregates.n_refunds(),
            "refunded": round2(aggregates.refunded()),
            "first_order_at": aggregates.first_order_at().map(time),
            "last_order_at": aggregates.last_order_at().map(time),
        },
    })
}

/// The profile's prediction scores: intent with its top signals (people who never bought),
/// P(alive), expected orders, expected next order and CLV (customers), and the model versions.
pub fn scores(record: &ProfileRecord) -> serde_json::Value {
    let summary = &record.summary;
    let scores = embudo_service::predict::Scores::of(record);
    json!({
        "intent": summary.intent,
        "intent_signals": scores.intent_signals.iter().map(|signal| json!({
            "signal": signal.signal,
            "contribution": signal.contribution,
        })).collect::<Vec<_>>(),
        "p_alive": summary.p_alive,
        "expected_orders": scores.expected_orders,
        "expected_next_order": scores.expected_next_order.map(time),
        "clv": summary.clv.map(round2),
        "models": { "intent": scores.intent_model, "btyd": scores.btyd_model },
        "scored_at": scores.scored_at.map(time),
    })
}

fn round2(amount: f64) -> f64 {
    (amount * 100.0).round() / 100.0
}

pub fn event(logged: &LoggedEvent) -> serde_json::Value {
    let event = &logged.event;
    json!({
        "seq": logged.seq,
        "messageId": event.message_id,
        "type": event.kind.as_str(),
        "event": event.name.as_deref(),
        "anonymousId": event.anonymous_id.as_deref(),
        "userId": event.user_id.as_deref(),
        "timestamp": time(event.timestamp),
        "receivedAt": time(event.received_at),
        "properties": value(&event.properties),
        "traits": value(&event.traits),
    })
}

pub fn order(record: &OrderRecord) -> serde_json::Value {
    json!({
        "order_id": record.order_id,
        "placed_at": time(record.placed_at),
        "total": record.total,
        "currency": record.currency,
        "refunded": record.refunded,
        "cancelled": record.cancelled,
        "lines": record.lines.iter().map(|line| json!({
            "product_id": line.product_id,
            "sku": line.sku,
            "name": line.name,
            "category": line.category,
            "brand": line.brand,
            "price": line.unit_price,
            "quantity": line.quantity,
        })).collect::<Vec<_>>(),
    })
}

pub fn transition(record: &TransitionRecord) -> serde_json::Value {
    json!({
        "dimension": record.dimension,
        "from": record.from,
        "to": record.to,
        "at": time(record.at),
        "reason": record.reason,
    })
}

/// A profile's phase, stage and evidence, in words for `lang`.
pub fn phase(
    view: &embudo_service::PhaseView,
    lang: embudo_core::phase::Lang,
) -> serde_json::Value {
    use embudo_core::phase::Phase;
    let c = &view.classification;
    let phase_names = [Phase::I, Phase::II, Phase::III].map(|phase| phase.describe(lang));
    let triple = |values: [f64; 3]| json!({ "I": round4(values[0]), "II": round4(values[1]), "III": round4(values[2]) });
    json!({
        "profile_id": view.profile_id.0,
        "at": time(c.at),
        "phase": c.phase.as_str(),
        "phase_name": c.phase.describe(lang),
        "confidence": round4(c.confidence),
        "probabilities": triple(c.probabilities),
        "since": view.since.map(time),
        "substate": c.substate.map(|substate| substate.as_str()),
        "substate_name": c.substate.map(|substate| substate.describe(lang)),
        "stage": c.stage.map(|stage| stage.as_str()),
        "stage_name": c.stage.map(|stage| stage.describe(lang)),
        "stage_checks": {
            "identify": c.stage_checks.identify,
            "connect": c.stage_checks.connect,
            "explore": c.stage_checks.explore,
            "advise": c.stage_checks.advise,
        },
        "qualification": c.qualification.map(|q| q.as_str()),
        "engagement": round4(c.engagement),
        "orders": c.n_orders,
        "last_order_at": c.last_order_at.map(time),
        "evidence": c.evidence.iter().map(|evidence| json!({
            "signal": evidence.signal.key(),
            "text": evidence.describe(lang),
            "leans_to": evidence.leans_to().as_str(),
            "contribution": triple(evidence.contribution),
            "count": evidence.count,
            "last_at": evidence.last_at.map(time),
        })).collect::<Vec<_>>(),
        "phases": phase_names,
    })
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}
