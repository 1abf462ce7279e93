//! Data-driven tests of the phase engine: event fixtures in a compact text form, one event per
//! line, with snapshots of the classification, the evidence and the transitions.
//!
//! The fixture language (`day` is fractional days after 2026-03-01T00:00Z):
//!
//! ```text
//! day 0 page /blog/x [social]      a page view (path rules decide the category)
//! day 1 product p1 cat=zapatillas brand=acme price=40
//! day 1 list | search zapatillas | compare | cartview | checkout | payment | coupon | signup
//! day 1 add p1 | wishlist p1 | review p1 | share p1 | referral | answer q1 a1
//! day 1 email open | email click /producto/x
//! day 3 order o1 total=50 | refund o1 [total=20] | cancel o1
//! profile B                        later events go to profile B (default A)
//! merge B into A                   identity merge
//! consent email | trait email=x@y.es | audience runners 0.8 | interval 30 | p_alive 0.3
//! expected day 40                  BTYD expected next order at day 40
//! intent 0.30 peak 0.40            predicted purchase intent and its peak in phase II
//! answers 0.1 0.8 0.1
//! eval day 5                       classify profile A at day 5 (prints transitions too)
//! ```

use std::collections::BTreeMap;

use expect_test::{Expect, expect};
use proptest::prelude::*;

use super::*;
use crate::event::{Event, EventKind};
use crate::page::PageRules;
use crate::profile::Aggregates;
use crate::time::{MILLIS_PER_DAY, Timestamp};
use crate::value::{Map, Value};

fn base() -> Timestamp {
    Timestamp::parse("2026-03-01").unwrap()
}

fn at_day(day: f64) -> Timestamp {
    base().plus_millis((day * MILLIS_PER_DAY as f64).round() as i64)
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

fn event(
    kind: EventKind,
    name: Option<&str>,
    properties: Value,
    context: Value,
    at: Timestamp,
) -> Event {
    Event {
        message_id: format!("m{}", at.as_millis()),
        kind,
        name: name.map(Into::into),
        anonymous_id: Some("anon".into()),
        user_id: None,
        previous_id: None,
        group_id: None,
        timestamp: at,
        received_at: at,
        properties,
        traits: Value::Map(Map::default()),
        context,
    }
}

/// Parses `key=value` words into properties (numbers stay numbers).
fn props(words: &[&str]) -> Vec<(crate::Text, Value)> {
    words
        .iter()
        .filter_map(|word| word.split_once('='))
        .map(|(key, value)| {
            let value = match value.parse::<f64>() {
                Ok(number) => Value::Number(number),
                Err(_) => Value::from(value),
            };
            let key = if key == "cat" { "category" } else { key };
            (key.into(), value)
        })
        .collect()
}

/// Builds the event a fixture line describes.
fn parse_event(words: &[&str], at: Timestamp) -> Event {
    let track = |name: &str, mut pairs: Vec<(crate::Text, Value)>| {
        let properties = Value::Map(pairs.drain(..).collect());
        event(
            EventKind::Track,
            Some(name),
            properties,
            Value::Map(Map::default()),
            at,
        )
    };
    let product = |id: &str, rest: &[&str]| {
        let mut pairs = props(rest);
        pairs.push(("product_id".into(), Value::from(id)));
        pairs
    };
    match words {
        ["page", path, rest @ ..] => {
            let context = if rest.contains(&"social") {
                map(vec![("campaign", map(vec![("medium", "social".into())]))])
            } else {
                Value::Map(Map::default())
            };
            event(
                EventKind::Page,
                None,
                map(vec![("path", (*path).into())]),
                context,
                at,
            )
        }
        ["product", id, rest @ ..] => track("Product Viewed", product(id, rest)),
        ["add", id, rest @ ..] => track("Product Added", product(id, rest)),
        ["wishlist", id, rest @ ..] => track("Product Added to Wishlist", product(id, rest)),
        ["review", id, rest @ ..] => track("Product Reviewed", product(id, rest)),
        ["share", id, rest @ ..] => track("Product Shared", product(id, rest)),
        ["list"] => track("Product List Viewed", Vec::new()),
        ["search", query] => track("Products Searched", vec![("query".into(), (*query).into())]),
        ["compare"] => track("Product Compared", Vec::new()),
        ["cartview"] => track("Cart Viewed", Vec::new()),
        ["checkout"] => track("Checkout Started", Vec::new()),
        ["payment"] => track("Payment Info Entered", Vec::new()),
        ["coupon"] => track("Coupon Entered", Vec::new()),
        ["signup"] => track("Signed Up", Vec::new()),
        ["referral"] => track("Referral Sent", Vec::new()),
        ["answer", question, answer] => track(
            "Question Answered",
            vec![
                ("question_id".into(), (*question).into()),
                ("answer_id".into(), (*answer).into()),
            ],
        ),
        ["email", "open"] => track("Email Opened", Vec::new()),
        ["email", "click", link] => track(
            "Email Link Clicked",
            vec![("link_url".into(), (*link).into())],
        ),
        ["order", id, rest @ ..] => {
            let mut pairs = props(rest);
            pairs.push(("order_id".into(), (*id).into()));
            track("Order Completed", pairs)
        }
        ["refund", id, rest @ ..] => {
            let mut pairs = props(rest);
            pairs.push(("order_id".into(), (*id).into()));
            track("Order Refunded", pairs)
        }
        ["cancel", id] => track("Order Cancelled", vec![("order_id".into(), (*id).into())]),
        other => panic!("unknown fixture event: {other:?}"),
    }
}

#[derive(Default)]
struct Profile {
    state: PhaseState,
    aggregates: Aggregates,
}

/// Runs a fixture and renders every `eval` line.
fn run(fixture: &str, model: &PhaseModel, lang: Lang) -> String {
    let rules = PageRules::default();
    let mut profiles: BTreeMap<String, Profile> = BTreeMap::new();
    let mut current = "A".to_owned();
    let mut traits = Map::default();
    let mut consents = Consents::default();
    let mut audiences = Vec::new();
    let mut customer = CustomerInputs::default();
    let mut answers = None;
    let mut intent = None;
    let mut previous: Option<Classification> = None;
    let mut out = String::new();
    for line in fixture.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            [first, ..] if first.starts_with('#') => {}
            ["profile", name] => current = (*name).to_owned(),
            ["merge", absorbed, "into", survivor] => {
                let absorbed = profiles.remove(*absorbed).unwrap_or_default();
                let survivor = profiles.entry((*survivor).to_owned()).or_default();
                survivor.state.merge(&absorbed.state, model);
                survivor.aggregates.merge(&absorbed.aggregates);
            }
            ["consent", "email"] => consents.email = true,
            ["consent", "sms"] => consents.sms = true,
            ["trait", pair] => {
                let (key, value) = pair.split_once('=').unwrap();
                traits.insert(key.into(), Value::from(value));
            }
            ["audience", name, fit] => audiences.push(AudienceFit {
                name: (*name).to_owned(),
                fit: fit.parse().unwrap(),
            }),
            ["interval", days] => customer.repurchase_interval_days = Some(days.parse().unwrap()),
            ["p_alive", p] => customer.p_alive = Some(p.parse().unwrap()),
            ["expected", "day", day] => {
                customer.expected_next_order = Some(at_day(day.parse().unwrap()))
            }
            ["intent", current, "peak", peak] => {
                intent = Some(IntentInputs {
                    current: current.parse().unwrap(),
                    peak: peak.parse().unwrap(),
                })
            }
            ["answers", a, b, c] => {
                answers = Some([a.parse().unwrap(), b.parse().unwrap(), c.parse().unwrap()])
            }
            ["eval", "day", day] => {
                let now = at_day(day.parse().unwrap());
                let traits = Value::Map(traits.clone());
                let context = Context {
                    traits: Some(&traits),
                    consents,
                    audiences: &audiences,
                    answers,
                    customer,
                    intent,
                };
                let profile = profiles.entry("A".to_owned()).or_default();
                let classification =
                    evaluate(&profile.state, &profile.aggregates, &context, now, model);
                out.push_str(&render(&classification, lang));
                if let Some(before) = &previous {
                    for transition in transitions(before, &classification, now) {
                        out.push_str(&format!("  -> {}\n", transition.describe(lang)));
                    }
                }
                previous = Some(classification);
            }
            ["day", day, rest @ ..] => {
                let event = parse_event(rest, at_day(day.parse().unwrap()));
                let action = event.action(&rules).unwrap();
                let profile = profiles.entry(current.clone()).or_default();
                profile.state.apply(&event, &action, model);
                profile.aggregates.apply(&event, &action);
            }
            other => panic!("unknown fixture line: {other:?}"),
        }
    }
    out
}

fn render(c: &Classification, lang: Lang) -> String {
    let [p1, p2, p3] = c.probabilities;
    let mut out = format!(
        "{}: {} p=[{p1:.2} {p2:.2} {p3:.2}] conf={:.2}",
        c.at.date_string(),
        c.phase,
        c.confidence
    );
    if let Some(substate) = c.substate {
        out.push_str(&format!(" {}", substate.as_str()));
    }
    if let Some(intent) = c.intent {
        let cold = if intent.cold { " cold" } else { "" };
        out.push_str(&format!(
            " intent={:.2} peak={:.2}{cold}",
            intent.intent, intent.peak
        ));
    }
    out.push_str(&format!(
        " stage={} qual={} engagement={:.2}\n",
        c.stage.map_or("-", Stage::as_str),
        c.qualification.map_or("-", Qualification::as_str),
        c.engagement
    ));
    for evidence in &c.evidence {
        let [i, ii, iii] = evidence.contribution;
        out.push_str(&format!(
            "  {} [{i:+.2} {ii:+.2} {iii:+.2}]\n",
            evidence.describe(lang)
        ));
    }
    out
}

fn check(fixture: &str, expect: &Expect) {
    expect.assert_eq(&run(fixture, &PhaseModel::default(), Lang::Es));
}

fn check_en(fixture: &str, expect: &Expect) {
    expect.assert_eq(&run(fixture, &PhaseModel::default(), Lang::En));
}

#[test]
fn no_signals_is_phase_one_with_low_confidence() {
    check(
        "eval day 0",
        &expect![[r#"
            2026-03-01: I p=[0.60 0.40 0.00] conf=0.60 stage=- qual=- engagement=0.00
        "#]],
    );
}

#[test]
fn information_pages_lean_to_phase_one() {
    check(
        "
        day 0 page /blog/como-elegir-zapatillas
        day 0.1 page /foro/running social
        day 1 page /lp/verano
        day 1 signup
        day 1 search zapatillas
        day 1 page /
        day 1 email click /blog/novedades
        eval day 1
        ",
        &expect![[r#"
            2026-03-02: I p=[0.99 0.01 0.00] conf=0.99 stage=explore qual=still_unsure engagement=5.25
              visitó 3 páginas informativas (landing, blog, foro), la última el 2026-03-02 [+2.07 +0.00 +0.00]
              llegó 1 vez desde redes sociales [+0.66 +0.00 +0.00]
              se suscribió el 2026-03-02 [+0.63 +0.13 +0.00]
              buscó en el catálogo 1 vez [+0.51 +0.17 +0.00]
              abrió o hizo clic en 1 correo, el último el 2026-03-02 [+0.26 +0.00 +0.00]
              visitó 1 otra página, la última el 2026-03-02 [+0.00 +0.00 +0.00]
        "#]],
    );
}

#[test]
fn repeated_views_in_one_category_move_to_phase_two() {
    check(
        "
        day 0 page /blog/como-elegir-zapatillas
        eval day 0
        day 1 product p1 cat=zapatillas brand=acme
        day 1.5 product p2 cat=zapatillas brand=trail
        day 2 product p3 cat=zapatillas brand=acme
        day 3 product p4 cat=zapatillas brand=zeta
        eval day 3
        ",
        &expect![[r#"
            2026-03-01: I p=[0.78 0.22 0.00] conf=0.78 stage=- qual=- engagement=0.88
              visitó 1 página informativa (landing, blog, foro), la última el 2026-03-01 [+0.88 +0.00 +0.00]
            2026-03-04: II p=[0.28 0.72 0.00] conf=0.72 stage=explore qual=future_customer engagement=2.99
              vio 4 productos de la misma categoría (zapatillas) en 3 días [+0.00 +1.73 +0.00]
              vio 4 productos o listados, el último el 2026-03-04 [+0.81 +1.22 +0.00]
              visitó 1 página informativa (landing, blog, foro), la última el 2026-03-01 [+0.78 +0.00 +0.00]
              -> fase I → II: vio 4 productos de la misma categoría (zapatillas) en 3 días; vio 4 productos o listados, el último el 2026-03-04; visitó 1 página informativa (landing, blog, foro), la última el 2026-03-01 (se enfría)
              -> etapa - → explorar: vio 4 productos de la misma categoría (zapatillas) en 3 días; vio 4 productos o listados, el último el 2026-03-04; visitó 1 página informativa (landing, blog, foro), la última el 2026-03-01
        "#]],
    );
}

#[test]
fn every_phase_two_signal_in_english() {
    check_en(
        "
        day 0 list
        day 0 compare
        day 0 page /precios
        day 0 page /comparativa/a-vs-b
        day 1 add p1 cat=relojes
        day 1 cartview
        day 1 wishlist p2
        day 1 coupon
        day 1 checkout
        day 1 payment
        day 1 email click /producto/reloj
        day 1 page /carrito
        day 1 page /finalizar-compra
        eval day 1
        ",
        &expect![[r#"
            2026-03-02: II p=[0.00 1.00 0.00] conf=1.00 stage=explore qual=future_customer engagement=4.89
              started checkout 3 times, the last on 2026-03-02 [+0.00 +3.88 +0.00]
              added to or viewed the cart 3 times, the last on 2026-03-02 [+0.00 +3.79 +0.00]
              compared products 2 times, the last on 2026-03-01 [+0.00 +2.04 +0.00]
              entered a coupon 1 time [+0.00 +1.18 +0.00]
              added 1 product to the wishlist [+0.00 +1.02 +0.00]
              clicked 1 e-mail about products or prices [+0.00 +1.02 +0.00]
              compared prices 1 time, the last on 2026-03-01 [+0.00 +0.94 +0.00]
              viewed 1 product or product list, the last on 2026-03-01 [+0.25 +0.38 +0.00]
        "#]],
    );
}

#[test]
fn phase_two_goes_cold_back_toward_phase_one() {
    check(
        "
        day 0 page /blog/guia-relojes
        day 1 product p1 cat=relojes
        day 1 product p2 cat=relojes
        day 1 add p2 cat=relojes
        day 1 checkout
        eval day 1
        eval day 10
        eval day 30
        eval day 60
        ",
        &expect![[r#"
            2026-03-02: II p=[0.03 0.97 0.00] conf=0.97 stage=explore qual=future_customer engagement=2.97
              empezó a pagar 1 vez, la última el 2026-03-02 [+0.00 +1.97 +0.00]
              añadió productos al carrito o lo miró 1 vez, la última el 2026-03-02 [+0.00 +1.70 +0.00]
              vio 2 productos de la misma categoría (relojes) en 1 día [+0.00 +0.91 +0.00]
              vio 2 productos o listados, el último el 2026-03-02 [+0.51 +0.77 +0.00]
              visitó 1 página informativa (landing, blog, foro), la última el 2026-03-01 [+0.85 +0.00 +0.00]
            2026-03-11: II p=[0.41 0.59 0.00] conf=0.59 stage=explore qual=future_customer engagement=1.22
              empezó a pagar 1 vez, la última el 2026-03-02 [+0.00 +0.67 +0.00]
              añadió productos al carrito o lo miró 1 vez, la última el 2026-03-02 [+0.00 +0.55 +0.00]
              vio 2 productos o listados, el último el 2026-03-02 [+0.23 +0.35 +0.00]
              visitó 1 página informativa (landing, blog, foro), la última el 2026-03-01 [+0.57 +0.00 +0.00]
            2026-03-31: I p=[0.63 0.37 0.00] conf=0.63 stage=- qual=- engagement=0.29
              visitó 1 página informativa (landing, blog, foro), la última el 2026-03-01 [+0.22 +0.00 +0.00]
              vio 2 productos o listados, el último el 2026-03-02 [+0.03 +0.05 +0.00]
              añadió productos al carrito o lo miró 1 vez, la última el 2026-03-02 [+0.00 +0.04 +0.00]
              empezó a pagar 1 vez, la última el 2026-03-02 [+0.00 +0.04 +0.00]
              -> fase II → I: empezó a pagar 1 vez, la última el 2026-03-02 (se enfría); añadió productos al carrito o lo miró 1 vez, la última el 2026-03-02 (se enfría)
              -> etapa explorar → -: empezó a pagar 1 vez, la última el 2026-03-02 (se enfría); añadió productos al carrito o lo miró 1 vez, la última el 2026-03-02 (se enfría); vio 2 productos o listados, el último el 2026-03-02 (se enfría)
            2026-04-30: I p=[0.61 0.39 0.00] conf=0.61 stage=- qual=- engagement=0.05
              visitó 1 página informativa (landing, blog, foro), la última el 2026-03-01 [+0.05 +0.00 +0.00]
              vio 2 productos o listados, el último el 2026-03-02 [+0.00 +0.00 +0.00]
        "#]],
    );
}

#[test]
fn customer_lapses_through_at_risk_not_back_to_phase_one() {
    check(
        "
        interval 30
        day 0 product p1 cat=relojes
        day 0 add p1
        day 0 checkout
        day 0 order o1 total=120
        eval day 0
        eval day 20
        eval day 50
        eval day 100
        day 101 order o2 total=80
        eval day 101
        ",
        &expect![[r#"
            2026-03-01: III p=[0.00 0.01 0.99] conf=0.99 active stage=advise qual=future_customer engagement=1.28
              compró el 2026-03-01 [+0.00 +0.00 +8.50]
              vio 1 producto o listado, el último el 2026-03-01 [+0.28 +0.41 +0.00]
              añadió productos al carrito o lo miró 1 vez, la última el 2026-03-01 [+0.00 +1.70 +0.00]
              empezó a pagar 1 vez, la última el 2026-03-01 [+0.00 +1.97 +0.00]
            2026-03-21: III p=[0.00 0.00 1.00] conf=1.00 active stage=advise qual=future_customer engagement=0.13
              compró el 2026-03-01 [+0.00 +0.00 +8.50]
              vio 1 producto o listado, el último el 2026-03-01 [+0.04 +0.06 +0.00]
              añadió productos al carrito o lo miró 1 vez, la última el 2026-03-01 [+0.00 +0.12 +0.00]
              empezó a pagar 1 vez, la última el 2026-03-01 [+0.00 +0.15 +0.00]
            2026-04-20: III p=[0.00 0.00 1.00] conf=1.00 at_risk stage=advise qual=future_customer engagement=0.00
              compró el 2026-03-01 [+0.00 +0.00 +8.50]
              vio 1 producto o listado, el último el 2026-03-01 [+0.00 +0.00 +0.00]
              -> cliente activo → en riesgo: compró el 2026-03-01
            2026-06-09: III p=[0.00 0.00 1.00] conf=1.00 lapsed stage=advise qual=future_customer engagement=0.00
              compró el 2026-03-01 [+0.00 +0.00 +8.50]
              -> cliente en riesgo → perdido: compró el 2026-03-01
            2026-06-10: III p=[0.00 0.00 1.00] conf=1.00 active stage=advise qual=future_customer engagement=0.00
              compró el 2026-06-10 (2 pedidos) [+0.00 +0.00 +14.60]
              -> cliente perdido → activo: compró el 2026-06-10 (2 pedidos)
        "#]],
    );
}

#[test]
fn btyd_inputs_decide_the_substate_when_given() {
    check(
        "
        day 0 order o1 total=50
        p_alive 0.3
        eval day 5
        p_alive 0.1
        eval day 6
        ",
        &expect![[r#"
            2026-03-06: III p=[0.00 0.00 1.00] conf=1.00 at_risk stage=advise qual=future_customer engagement=0.00
              compró el 2026-03-01 [+0.00 +0.00 +8.50]
            2026-03-07: III p=[0.00 0.00 1.00] conf=1.00 lapsed stage=advise qual=future_customer engagement=0.00
              compró el 2026-03-01 [+0.00 +0.00 +8.50]
              -> cliente en riesgo → perdido: probabilidad de seguir activo 10 %; compró el 2026-03-01
        "#]],
    );
}

#[test]
fn with_btyd_the_worse_of_p_alive_and_lateness_decides() {
    // Interval 10 days, next order expected at day 20: active until one interval late
    // (day 30), at risk until 2.5 intervals late (day 45), lapsed after; a low P(alive) wins
    // over a date still ahead.
    check(
        "
        day 0 order o1 total=50
        day 10 order o2 total=50
        interval 10
        expected day 20
        p_alive 0.9
        eval day 25
        eval day 31
        eval day 46
        p_alive 0.3
        expected day 200
        eval day 47
        ",
        &expect![[r#"
            2026-03-26: III p=[0.00 0.00 1.00] conf=1.00 active stage=advise qual=future_customer engagement=0.00
              compró el 2026-03-11 (2 pedidos) [+0.00 +0.00 +14.60]
            2026-04-01: III p=[0.00 0.00 1.00] conf=1.00 at_risk stage=advise qual=future_customer engagement=0.00
              compró el 2026-03-11 (2 pedidos) [+0.00 +0.00 +14.60]
              -> cliente activo → en riesgo: pedido esperado hacia el 2026-03-21, 11 días de retraso; compró el 2026-03-11 (2 pedidos)
            2026-04-16: III p=[0.00 0.00 1.00] conf=1.00 lapsed stage=advise qual=future_customer engagement=0.00
              compró el 2026-03-11 (2 pedidos) [+0.00 +0.00 +14.60]
              -> cliente en riesgo → perdido: pedido esperado hacia el 2026-03-21, 26 días de retraso; compró el 2026-03-11 (2 pedidos)
            2026-04-17: III p=[0.00 0.00 1.00] conf=1.00 at_risk stage=advise qual=future_customer engagement=0.00
              compró el 2026-03-11 (2 pedidos) [+0.00 +0.00 +14.60]
              -> cliente perdido → en riesgo: probabilidad de seguir activo 30 %; compró el 2026-03-11 (2 pedidos)
        "#]],
    );
}

#[test]
fn phase_two_goes_cold_when_intent_falls_and_warms_up_again() {
    // Defaults: cold below 5 % or 15 points under the peak; only phase II people go cold.
    check(
        "
        day 0 product p1 cat=relojes
        day 0 add p1
        day 0 checkout
        intent 0.40 peak 0.40
        eval day 0
        intent 0.30 peak 0.40
        eval day 0.5
        intent 0.20 peak 0.40
        eval day 1
        intent 0.45 peak 0.45
        eval day 1.5
        intent 0.04 peak 0.04
        eval day 2
        ",
        &expect![[r#"
            2026-03-01: II p=[0.03 0.97 0.00] conf=0.97 intent=0.40 peak=0.40 stage=explore qual=future_customer engagement=1.28
              empezó a pagar 1 vez, la última el 2026-03-01 [+0.00 +1.97 +0.00]
              añadió productos al carrito o lo miró 1 vez, la última el 2026-03-01 [+0.00 +1.70 +0.00]
              vio 1 producto o listado, el último el 2026-03-01 [+0.28 +0.41 +0.00]
            2026-03-01: II p=[0.04 0.96 0.00] conf=0.96 intent=0.30 peak=0.40 stage=explore qual=future_customer engagement=1.21
              empezó a pagar 1 vez, la última el 2026-03-01 [+0.00 +1.86 +0.00]
              añadió productos al carrito o lo miró 1 vez, la última el 2026-03-01 [+0.00 +1.60 +0.00]
              vio 1 producto o listado, el último el 2026-03-01 [+0.26 +0.40 +0.00]
            2026-03-02: II p=[0.05 0.95 0.00] conf=0.95 intent=0.20 peak=0.40 cold stage=explore qual=future_customer engagement=1.15
              empezó a pagar 1 vez, la última el 2026-03-01 [+0.00 +1.76 +0.00]
              añadió productos al carrito o lo miró 1 vez, la última el 2026-03-01 [+0.00 +1.51 +0.00]
              vio 1 producto o listado, el último el 2026-03-01 [+0.25 +0.38 +0.00]
              -> fase II se enfría: intención de compra 20 % (máximo 40 %)
            2026-03-02: II p=[0.06 0.94 0.00] conf=0.94 intent=0.45 peak=0.45 stage=explore qual=future_customer engagement=1.09
              empezó a pagar 1 vez, la última el 2026-03-01 [+0.00 +1.67 +0.00]
              añadió productos al carrito o lo miró 1 vez, la última el 2026-03-01 [+0.00 +1.42 +0.00]
              vio 1 producto o listado, el último el 2026-03-01 [+0.24 +0.36 +0.00]
              -> fase II se reactiva: intención de compra 45 % (máximo 45 %)
            2026-03-03: II p=[0.07 0.93 0.00] conf=0.93 intent=0.04 peak=0.04 cold stage=explore qual=future_customer engagement=1.03
              empezó a pagar 1 vez, la última el 2026-03-01 [+0.00 +1.58 +0.00]
              añadió productos al carrito o lo miró 1 vez, la última el 2026-03-01 [+0.00 +1.34 +0.00]
              vio 1 producto o listado, el último el 2026-03-01 [+0.23 +0.35 +0.00]
              -> fase II se enfría: intención de compra 4 % (máximo 4 %)
        "#]],
    );
}

#[test]
fn a_full_refund_undoes_the_order_a_partial_one_does_not() {
    check(
        "
        day 0 add p1
        day 0 order o1 total=50
        day 0 order o2 total=30
        eval day 1
        day 2 refund o2 total=10
        eval day 2
        day 3 refund o2
        eval day 3
        day 4 cancel o1
        eval day 4
        ",
        &expect![[r#"
            2026-03-02: III p=[0.00 0.00 1.00] conf=1.00 active stage=advise qual=future_customer engagement=0.38
              compró el 2026-03-01 (2 pedidos) [+0.00 +0.00 +14.60]
              añadió productos al carrito o lo miró 1 vez, la última el 2026-03-01 [+0.00 +1.51 +0.00]
            2026-03-03: III p=[0.00 0.00 1.00] conf=1.00 active stage=advise qual=future_customer engagement=0.33
              compró el 2026-03-01 (2 pedidos) [+0.00 +0.00 +14.60]
              añadió productos al carrito o lo miró 1 vez, la última el 2026-03-01 [+0.00 +1.34 +0.00]
            2026-03-04: III p=[0.00 0.00 1.00] conf=1.00 active stage=advise qual=future_customer engagement=0.30
              compró el 2026-03-01 [+0.00 +0.00 +8.50]
              añadió productos al carrito o lo miró 1 vez, la última el 2026-03-01 [+0.00 +1.18 +0.00]
            2026-03-05: II p=[0.34 0.66 0.00] conf=0.66 stage=- qual=- engagement=0.26
              añadió productos al carrito o lo miró 1 vez, la última el 2026-03-01 [+0.00 +1.05 +0.00]
              -> fase III → II: compró el 2026-03-01 (reembolsado o cancelado)
              -> cliente activo → -: compró el 2026-03-01
              -> etapa asesorar → -: compró el 2026-03-01 (reembolsado o cancelado)
        "#]],
    );
}

#[test]
fn merging_identities_adds_signals_and_orders() {
    check(
        "
        day 0 product p1 cat=sofas
        day 1 product p2 cat=sofas
        eval day 1
        profile B
        day 1 product p3 cat=sofas
        day 1.5 page /comparativa/sofas
        day 2 order o9 total=900
        merge B into A
        eval day 2
        ",
        &expect![[r#"
            2026-03-02: II p=[0.36 0.64 0.00] conf=0.64 stage=- qual=- engagement=1.18
              vio 2 productos de la misma categoría (sofas) en 2 días [+0.00 +0.73 +0.00]
              vio 2 productos o listados, el último el 2026-03-02 [+0.49 +0.73 +0.00]
            2026-03-03: III p=[0.00 0.01 0.99] conf=0.99 active stage=advise qual=future_customer engagement=2.01
              compró el 2026-03-03 [+0.00 +0.00 +8.50]
              vio 3 productos o listados, el último el 2026-03-02 [+0.64 +0.96 +0.00]
              vio 3 productos de la misma categoría (sofas) en 2 días [+0.00 +1.08 +0.00]
              comparó productos 1 vez, la última el 2026-03-02 [+0.00 +1.22 +0.00]
              -> fase II → III: compró el 2026-03-03
              -> cliente - → activo: compró el 2026-03-03
              -> etapa - → asesorar: compró el 2026-03-03
        "#]],
    );
}

#[test]
fn stage_goes_from_identify_to_advise() {
    check(
        "
        audience runners 0.8
        eval day 0
        trait email=ana@example.es
        consent email
        day 0 page /blog/correr
        day 0 email open
        eval day 0
        day 1 answer q1 a2
        eval day 1
        day 2 order o1 total=60
        eval day 2
        ",
        &expect![[r#"
            2026-03-01: I p=[0.60 0.40 0.00] conf=0.60 stage=identify qual=- engagement=0.00
            2026-03-01: I p=[0.82 0.18 0.00] conf=0.82 stage=connect qual=- engagement=1.74
              visitó 1 página informativa (landing, blog, foro), la última el 2026-03-01 [+0.88 +0.00 +0.00]
              abrió o hizo clic en 1 correo, el último el 2026-03-01 [+0.26 +0.00 +0.00]
              -> etapa identificar → conectar: visitó 1 página informativa (landing, blog, foro), la última el 2026-03-01; abrió o hizo clic en 1 correo, el último el 2026-03-01
            2026-03-02: I p=[0.82 0.18 0.00] conf=0.82 stage=explore qual=still_unsure engagement=2.57
              visitó 1 página informativa (landing, blog, foro), la última el 2026-03-01 [+0.85 +0.00 +0.00]
              abrió o hizo clic en 1 correo, el último el 2026-03-01 [+0.24 +0.00 +0.00]
              respondió 1 pregunta [+0.00 +0.00 +0.00]
              -> etapa conectar → explorar: visitó 1 página informativa (landing, blog, foro), la última el 2026-03-01; abrió o hizo clic en 1 correo, el último el 2026-03-01; respondió 1 pregunta
            2026-03-03: III p=[0.00 0.00 1.00] conf=1.00 active stage=advise qual=future_customer engagement=2.48
              compró el 2026-03-03 [+0.00 +0.00 +8.50]
              respondió 1 pregunta [+0.00 +0.00 +0.00]
              abrió o hizo clic en 1 correo, el último el 2026-03-01 [+0.23 +0.00 +0.00]
              visitó 1 página informativa (landing, blog, foro), la última el 2026-03-01 [+0.81 +0.00 +0.00]
              -> fase I → III: compró el 2026-03-03
              -> cliente - → activo: compró el 2026-03-03
              -> etapa explorar → asesorar: compró el 2026-03-03
        "#]],
    );
}

#[test]
fn advocates_are_advised_and_answers_shift_the_phase() {
    check(
        "
        day 0 review p1
        day 0 share p1
        day 0 referral
        eval day 0
        answers 0.1 0.8 0.1
        eval day 0
        ",
        &expect![[r#"
            2026-03-01: I p=[0.64 0.36 0.00] conf=0.64 stage=advise qual=- engagement=2.36
              compartió productos 1 vez [+0.16 +0.00 +0.24]
              escribió 1 opinión [+0.00 +0.00 +0.39]
              recomendó la tienda 1 vez [+0.00 +0.00 +0.39]
            2026-03-01: II p=[0.18 0.82 0.00] conf=0.82 stage=advise qual=future_customer engagement=2.36
              sus respuestas a la encuesta [-1.04 +1.04 +0.00]
              compartió productos 1 vez [+0.16 +0.00 +0.24]
              escribió 1 opinión [+0.00 +0.00 +0.39]
              recomendó la tienda 1 vez [+0.00 +0.00 +0.39]
              -> fase I → II: sus respuestas a la encuesta
        "#]],
    );
}

#[test]
fn late_events_count_decayed_and_focus_is_bounded() {
    // Nine categories viewed, one of them three times: the faintest is forgotten, the leader
    // stays; a late event (day 1 after day 5) adds less than a fresh one.
    let model = PhaseModel::default();
    let rules = PageRules::default();
    let mut state = PhaseState::default();
    for (day, category) in [
        (0.0, "a"),
        (0.1, "b"),
        (0.2, "c"),
        (0.3, "d"),
        (0.4, "e"),
        (0.5, "f"),
        (0.6, "g"),
        (0.7, "h"),
        (3.0, "z"),
        (3.1, "z"),
        (3.2, "z"),
    ] {
        let event = parse_event(&["product", "p", &format!("cat={category}")], at_day(day));
        state.apply(&event, &event.action(&rules).unwrap(), &model);
    }
    assert_eq!(state.groups.len(), model.focus.max_groups);
    assert!(state.groups.iter().all(|group| group.key != "c:a"));
    let now = at_day(5.0);
    let fresh = {
        let mut state = state.clone();
        let event = parse_event(&["search", "x"], at_day(5.0));
        state.apply(&event, &event.action(&rules).unwrap(), &model);
        state.level(Signal::Search, now, &model)
    };
    let late = {
        let mut state = state.clone();
        let event = parse_event(&["search", "x"], at_day(5.0));
        state.apply(&event, &event.action(&rules).unwrap(), &model);
        let event = parse_event(&["search", "x"], at_day(1.0));
        state.apply(&event, &event.action(&rules).unwrap(), &model);
        state.level(Signal::Search, now, &model)
    };
    assert!((fresh - 1.0).abs() < 1e-6, "{fresh}");
    assert!(
        (late - (1.0 + 0.5f64.powf(4.0 / 7.0))).abs() < 1e-4,
        "{late}"
    );
    let c = evaluate(
        &state,
        &Aggregates::default(),
        &Context::default(),
        now,
        &model,
    );
    let focus = c
        .evidence
        .iter()
        .find(|e| e.signal == Signal::FocusedViews)
        .unwrap();
    expect!["vio 3 productos de la misma categoría (z) en 1 día"]
        .assert_eq(&focus.describe(Lang::Es));
}

#[test]
fn merge_is_symmetric_in_what_it_classifies() {
    let model = PhaseModel::default();
    let fixture_a = ["product p1 cat=x", "compare", "order o1 total=5"];
    let fixture_b = ["page /blog/y", "add p2 cat=x", "refund o1"];
    let build = |lines: &[&str], start: f64| {
        let mut state = PhaseState::default();
        for (offset, line) in lines.iter().enumerate() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let event = parse_event(&words, at_day(start + offset as f64));
            state.apply(
                &event,
                &event.action(&PageRules::default()).unwrap(),
                &model,
            );
        }
        state
    };
    let (a, b) = (build(&fixture_a, 0.0), build(&fixture_b, 0.5));
    let mut ab = a.clone();
    ab.merge(&b, &model);
    let mut ba = b.clone();
    ba.merge(&a, &model);
    let now = at_day(4.0);
    let eval =
        |s: &PhaseState| evaluate(s, &Aggregates::default(), &Context::default(), now, &model);
    let (x, y) = (eval(&ab), eval(&ba));
    for k in 0..3 {
        assert!((x.probabilities[k] - y.probabilities[k]).abs() < 1e-6);
    }
    // The refund arrived in the other profile before the merge: the ledger of B never saw
    // o1, so the merged person is still a customer. FIXME: refunds of orders unknown to a
    // profile are dropped; the store's aggregates (which see every event) are the remedy.
    assert_eq!(x.n_orders, 1);
}

fn arb_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("page /blog/a".to_owned()),
        Just("page /lp/b social".to_owned()),
        Just("page /precios".to_owned()),
        Just("page /".to_owned()),
        (0..4u8).prop_map(|c| format!("product p{c} cat=c{c} brand=b{}", c % 2)),
        Just("list".to_owned()),
        Just("search q".to_owned()),
        Just("compare".to_owned()),
        Just("add p1".to_owned()),
        Just("checkout".to_owned()),
        Just("coupon".to_owned()),
        Just("signup".to_owned()),
        Just("email open".to_owned()),
        Just("email click /producto/x".to_owned()),
        Just("review p1".to_owned()),
        Just("answer q a".to_owned()),
        (0..3u8).prop_map(|o| format!("order o{o} total=10")),
        (0..3u8).prop_map(|o| format!("refund o{o}")),
    ]
}

fn arb_events() -> impl Strategy<Value = Vec<(f64, String)>> {
    proptest::collection::vec((0.0..60.0f64, arb_line()), 0..40)
}

fn fold(events: &[(f64, String)], model: &PhaseModel) -> (PhaseState, Aggregates) {
    let rules = PageRules::default();
    let mut state = PhaseState::default();
    let mut aggregates = Aggregates::default();
    for (day, line) in events {
        let words: Vec<&str> = line.split_whitespace().collect();
        let event = parse_event(&words, at_day(*day));
        let action = event.action(&rules).unwrap();
        state.apply(&event, &action, model);
        aggregates.apply(&event, &action);
    }
    (state, aggregates)
}

proptest! {
    #[test]
    fn probabilities_are_a_distribution(events in arb_events(), now in 0.0..400.0f64, answers in proptest::option::of((0.0..1.0f64, 0.0..1.0f64, 0.0..1.0f64))) {
        let model = PhaseModel::default();
        let (state, aggregates) = fold(&events, &model);
        let context = Context { answers: answers.map(|(a, b, c)| [a, b, c]), ..Context::default() };
        let c = evaluate(&state, &aggregates, &context, at_day(now), &model);
        let total: f64 = c.probabilities.iter().sum();
        prop_assert!((total - 1.0).abs() < 1e-9, "{:?}", c.probabilities);
        prop_assert!(c.probabilities.iter().all(|p| (0.0..=1.0).contains(p)));
        prop_assert_eq!(c.confidence, c.probabilities[c.phase.index()]);
        prop_assert!(c.probabilities.iter().all(|p| *p <= c.confidence));
        prop_assert_eq!(c.probabilities[2] > 0.0, c.n_orders > 0);
        prop_assert_eq!(c.substate.is_some(), c.n_orders > 0);
    }

    #[test]
    fn evaluation_is_deterministic(events in arb_events(), now in 0.0..400.0f64) {
        let model = PhaseModel::default();
        let (first, aggregates) = fold(&events, &model);
        let (second, _) = fold(&events, &model);
        prop_assert_eq!(&first, &second);
        let a = evaluate(&first, &aggregates, &Context::default(), at_day(now), &model);
        let b = evaluate(&second, &aggregates, &Context::default(), at_day(now), &model);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn levels_only_fade_without_events(events in arb_events(), now in 60.0..200.0f64, later in 0.0..200.0f64) {
        let model = PhaseModel::default();
        let (state, aggregates) = fold(&events, &model);
        let (t0, t1) = (at_day(now), at_day(now + later));
        for signal in Signal::DECAYED {
            prop_assert!(state.level(signal, t1, &model) <= state.level(signal, t0, &model) + 1e-9);
        }
        // With nothing new, engagement and every phase's pushed logit fade (the default
        // weights are non-negative), so the probabilities drift back toward the prior.
        let a = evaluate(&state, &aggregates, &Context::default(), t0, &model);
        let b = evaluate(&state, &aggregates, &Context::default(), t1, &model);
        prop_assert!(b.engagement <= a.engagement + 1e-9);
        let push = |c: &Classification, k: usize| -> f64 {
            c.evidence.iter().filter(|e| e.signal != Signal::Purchase).map(|e| e.contribution[k]).sum()
        };
        for k in 0..3 {
            prop_assert!(push(&b, k) <= push(&a, k) + 1e-9);
        }
    }

    #[test]
    fn merging_with_an_empty_state_changes_nothing(events in arb_events(), now in 0.0..200.0f64) {
        let model = PhaseModel::default();
        let (state, aggregates) = fold(&events, &model);
        let mut merged = state.clone();
        merged.merge(&PhaseState::default(), &model);
        prop_assert_eq!(&merged, &state);
        let mut other = PhaseState::default();
        other.merge(&state, &model);
        let a = evaluate(&state, &aggregates, &Context::default(), at_day(now), &model);
        let b = evaluate(&other, &aggregates, &Context::default(), at_day(now), &model);
        prop_assert_eq!(a, b);
    }
}
