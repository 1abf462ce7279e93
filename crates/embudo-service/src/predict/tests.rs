//! Training and scoring through the real service over an in-memory SQLite store, on generated
//! shops whose answer is known: people who keep ordering stay alive, people who stopped do
//! not; people who reach the checkout buy more often than people who read the blog.

use embudo_core::{Event, Timestamp, Value};
use embudo_store::{Direction, IdentityKind, ProfileFilter, SortField};

use crate::ServiceSettings;
use crate::predict::{BTYD, INTENT, PredictSettings, Scores, TrainError};
use crate::test_support::{START, Shop, properties_of, track_event};

fn start() -> Timestamp {
    Timestamp::parse(START).unwrap()
}

/// A `track` event of `person` at `day` days after [`START`].
fn track(person: &str, n: usize, day: f64, name: &str, properties: &[(&str, Value)]) -> Event {
    let at = start().plus_days(day);
    track_event(
        format!("{person}-{n}"),
        person,
        at,
        name,
        properties_of(properties),
    )
}

fn order(person: &str, n: usize, day: f64, total: f64) -> Event {
    track(
        person,
        n,
        day,
        "Order Completed",
        &[
            ("order_id", Value::from(format!("{person}-o{n}").as_str())),
            ("total", Value::from(total)),
        ],
    )
}

async fn ingest_at(shop: &Shop, events: &[Event], day: f64) {
    shop.clock.set(start().plus_days(day));
    for chunk in events.chunks(2_000) {
        shop.embudo.ingest(shop.workspace, chunk).await.unwrap();
    }
    shop.embudo.process_all().await.unwrap();
}

async fn scores_of(shop: &Shop, person: &str) -> (Scores, embudo_store::ProfileRecord) {
    let record = shop
        .embudo
        .store()
        .profile_by_identity(shop.workspace, IdentityKind::Anonymous, person)
        .await
        .unwrap()
        .unwrap();
    (Scores::of(&record), record)
}

/// 40 regular customers (an order every 10 to 30 days until day 200), 40 who ordered as often
/// for two months and then stopped, 30 who ordered once.
fn btyd_shop_events() -> Vec<Event> {
    let mut events = Vec::new();
    for i in 0..40 {
        let person = format!("regular-{i}");
        let gap = 10.0 + (i % 5) as f64 * 5.0;
        let mut day = (i % 7) as f64;
        let mut n = 0;
        while day <= 200.0 {
            events.push(order(
                &person,
                n,
                day,
                30.0 + (i % 4) as f64 * 10.0 + n as f64,
            ));
            day += gap;
            n += 1;
        }
    }
    for i in 0..40 {
        let person = format!("stopped-{i}");
        let gap = 10.0 + (i % 5) as f64 * 5.0;
        let mut day = (i % 7) as f64;
        let mut n = 0;
        while day <= 60.0 {
            events.push(order(
                &person,
                n,
                day,
                30.0 + (i % 4) as f64 * 10.0 + n as f64,
            ));
            day += gap;
            n += 1;
        }
    }
    for i in 0..30 {
        events.push(order(&format!("once-{i}"), 0, (i * 6) as f64, 40.0));
    }
    events
}

#[tokio::test]
async fn regular_customers_keep_a_higher_p_alive_than_ones_who_stopped() {
    let shop = Shop::new().await;
    ingest_at(&shop, &btyd_shop_events(), 205.0).await;
    let trained = shop.embudo.train_btyd(shop.workspace).await.unwrap();
    assert_eq!(trained.info.kind, BTYD);
    assert_eq!(trained.info.version, 1);
    let report = &trained.report;
    assert_eq!(report["customers"], 110);
    assert_eq!(report["repeat_customers"], 80);
    for key in ["r", "alpha", "a", "b", "log_likelihood"] {
        assert!(report["bgnbd"][key].is_f64(), "bgnbd.{key} in {report}");
    }
    for key in ["r", "alpha", "s", "beta"] {
        assert!(
            report["pareto_nbd"][key].is_f64(),
            "pareto_nbd.{key} in {report}"
        );
    }
    for key in ["p", "q", "gamma"] {
        assert!(
            report["gamma_gamma"][key].is_f64(),
            "gamma_gamma.{key} in {report}"
        );
    }

    // The sweep scores everyone with the new model.
    shop.clock.set(start().plus_days(205.5));
    let sweep = shop.embudo.reevaluate_all().await.unwrap();
    assert!(sweep.changed >= 110, "{sweep:?}");
    let (regular, regular_record) = scores_of(&shop, "regular-0").await;
    let (stopped, stopped_record) = scores_of(&shop, "stopped-0").await;
    let (p_regular, p_stopped) = (regular.p_alive.unwrap(), stopped.p_alive.unwrap());
    assert!(p_regular > 0.9, "regular p_alive {p_regular}");
    assert!(p_stopped < 0.15, "stopped p_alive {p_stopped}");
    assert!(regular.clv.unwrap() > stopped.clv.unwrap());
    assert!(regular.expected_orders.unwrap() > 1.0);
    assert!((regular_record.summary.p_alive.unwrap() - p_regular).abs() < 1e-12);
    assert_eq!(regular_record.summary.substate.as_deref(), Some("active"));
    assert_eq!(stopped_record.summary.substate.as_deref(), Some("lapsed"));
    let transitions = shop
        .embudo
        .store()
        .transitions(shop.workspace, stopped_record.id)
        .await
        .unwrap();
    let last = transitions.last().unwrap();
    assert_eq!(
        (last.dimension.as_str(), last.to.as_str()),
        ("substate", "lapsed")
    );
    assert!(
        last.reason.contains("probabilidad de seguir activo"),
        "{}",
        last.reason
    );

    // Listings sort by the scores.
    let page = shop
        .embudo
        .list_profiles(
            shop.workspace,
            &ProfileFilter {
                sort: SortField::PAlive,
                direction: Direction::Desc,
                limit: 1000,
                ..ProfileFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 110);
    // BG/NBD: a customer with no repeat order has not had a chance to drop out (P(alive) = 1),
    // so the one-time buyers come first; among the others, every regular before any stopped.
    let names: Vec<&str> = page
        .items
        .iter()
        .map(|record| record.anonymous_ids[0].as_str())
        .filter(|name| !name.starts_with("once-"))
        .collect();
    assert!(
        names[..40].iter().all(|name| name.starts_with("regular-")),
        "{names:?}"
    );
    let values: Vec<f64> = page
        .items
        .iter()
        .map(|r| r.summary.p_alive.unwrap())
        .collect();
    assert!(values.windows(2).all(|pair| pair[0] >= pair[1]));

    // A new order is scored on the event, with the cached model (no sweep needed).
    ingest_at(&shop, &[order("stopped-0", 99, 206.0, 50.0)], 206.0).await;
    let (again, _) = scores_of(&shop, "stopped-0").await;
    assert!(again.p_alive.unwrap() > 0.9, "{again:?}");
    assert_eq!(again.btyd_model, Some(1));
}

#[tokio::test]
async fn too_little_history_is_a_clear_error_and_saves_nothing() {
    let shop = Shop::new().await;
    let events = [order("ana", 0, 0.0, 30.0), order("ana", 1, 10.0, 30.0)];
    ingest_at(&shop, &events, 20.0).await;
    let btyd = shop.embudo.train_btyd(shop.workspace).await.unwrap_err();
    assert!(matches!(btyd, TrainError::NotEnoughData { .. }));
    assert_eq!(
        btyd.to_string(),
        "not enough data to train btyd: found 1 customers with kept orders, 1 of whom ordered on more than one day; needs at least 50 customers and 10 repeat customers"
    );
    let intent = shop.embudo.train_intent(shop.workspace).await.unwrap_err();
    assert_eq!(
        intent.to_string(),
        "not enough data to train intent: found 0 people seen by 2026-03-08 who had not bought yet, 0 of whom ordered within 14 days after; needs at least 200 people, 20 who ordered and 20 who did not"
    );
    assert!(
        shop.embudo
            .store()
            .models(shop.workspace)
            .await
            .unwrap()
            .is_empty()
    );
}

/// 300 people active in the week before the cutoff (day 30): the 150 "hot" ones reached the
/// checkout, and four in five of them order within 14 days; the 150 "cold" ones read the blog
/// and viewed a product, and one in five of them orders. The best
/// possible ROC-AUC is 0.8.
fn intent_shop_events() -> Vec<Event> {
    let blog = [("path", Value::from("/blog/guia"))];
    let product = [
        ("product_id", Value::from("p1")),
        ("category", Value::from("relojes")),
    ];
    let mut events = Vec::new();
    for i in 0..300 {
        let hot = i % 2 == 0;
        let person = format!("{}-{i}", if hot { "hot" } else { "cold" });
        let day = 23.0 + (i % 7) as f64;
        if hot {
            events.push(track(&person, 0, day, "Product Viewed", &product));
            events.push(track(&person, 1, day, "Product Added", &product));
            events.push(track(&person, 2, day + 0.01, "Checkout Started", &[]));
        } else {
            events.push(track(&person, 0, day, "Page Viewed", &blog));
            events.push(track(&person, 1, day, "Product Viewed", &product));
        }
        let buys = if hot { i % 10 != 0 } else { i % 10 == 1 };
        if buys {
            events.push(order(&person, 3, 31.0 + (i % 12) as f64, 60.0));
        }
    }
    events
}

#[tokio::test]
async fn intent_is_trained_on_the_history_and_scores_people_with_their_signals() {
    let shop = Shop::with_settings(ServiceSettings {
        predict: PredictSettings {
            ..PredictSettings::default()
        },
        ..ServiceSettings::default()
    })
    .await;
    ingest_at(&shop, &intent_shop_events(), 44.0).await;
    let trained = shop.embudo.train_intent(shop.workspace).await.unwrap();
    let report = &trained.report;
    assert_eq!(trained.info.kind, INTENT);
    assert_eq!(report["rows"], 300);
    assert_eq!(report["positives"], 150);
    assert_eq!(report["held_out_rows"], 60);
    for family in ["logistic_regression", "gradient_boosting"] {
        let figures = &report["models"][family];
        let roc_auc = figures["roc_auc"].as_f64().unwrap();
        assert!(roc_auc > 0.7, "{family}: {figures}");
        assert!(figures["pr_auc"].is_f64() && figures["brier"].is_f64());
    }
    assert!(report["features"].as_array().unwrap().len() > 10);

    // Two new people, scored on their events with the model just trained.
    let product = [
        ("product_id", Value::from("p2")),
        ("category", Value::from("relojes")),
    ];
    let blog = [("path", Value::from("/blog/otra"))];
    let events = [
        track("nuevo-hot", 0, 44.5, "Product Viewed", &product),
        track("nuevo-hot", 1, 44.5, "Product Added", &product),
        track("nuevo-hot", 2, 44.51, "Checkout Started", &[]),
        track("nuevo-cold", 0, 44.5, "Page Viewed", &blog),
        track("nuevo-cold", 1, 44.5, "Product Viewed", &product),
    ];
    ingest_at(&shop, &events, 44.6).await;
    let (hot, hot_record) = scores_of(&shop, "nuevo-hot").await;
    let (cold, _) = scores_of(&shop, "nuevo-cold").await;
    let (p_hot, p_cold) = (hot.intent.unwrap(), cold.intent.unwrap());
    assert!(p_hot > 0.5 && p_cold < 0.3, "hot {p_hot}, cold {p_cold}");
    assert!((hot_record.summary.intent.unwrap() - p_hot).abs() < 1e-12);
    assert!(!hot.intent_signals.is_empty() && hot.intent_signals.len() <= 5);
    assert!(
        hot.intent_signals[0].contribution > 0.0,
        "{:?}",
        hot.intent_signals
    );
    assert_eq!(hot.p_alive, None, "no BTYD model: no p_alive");
}

#[tokio::test]
async fn a_model_saved_elsewhere_is_picked_up_after_the_refresh_interval() {
    let shop = Shop::new().await;
    ingest_at(&shop, &btyd_shop_events(), 205.0).await;
    // Another node trains over the same store.
    let other = crate::Embudo::new(
        shop.embudo.store().clone(),
        shop.clock.clone(),
        ServiceSettings::default(),
    );
    other.train_btyd(shop.workspace).await.unwrap();
    // Processing cached "no model" a moment ago: the store is asked again only after the
    // refresh interval (60 s).
    let cached = shop.embudo.loaded_models(shop.workspace).await.unwrap();
    assert!(cached.btyd.is_none());
    let version = |models: &crate::predict::LoadedModels| models.btyd.as_ref().map(|(v, _)| *v);
    shop.clock.set(start().plus_days(205.0).plus_millis(61_000));
    let loaded = shop.embudo.loaded_models(shop.workspace).await.unwrap();
    assert_eq!(version(&loaded), Some(1));
    other.train_btyd(shop.workspace).await.unwrap();
    let cached = shop.embudo.loaded_models(shop.workspace).await.unwrap();
    assert_eq!(version(&cached), Some(1));
    shop.clock
        .set(start().plus_days(205.0).plus_millis(122_000));
    let refreshed = shop.embudo.loaded_models(shop.workspace).await.unwrap();
    assert_eq!(version(&refreshed), Some(2));
}
