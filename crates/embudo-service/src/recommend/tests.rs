//! The recommendation job and reads on the real service over an in-memory store, with a small
//! hand-checked shop.
//!
//! Products (category): cafetera (cafeteras), cafe (cafe), filtro (cafe), taza (menaje),
//! juguete (juguetes), viejo (menaje, last sold long ago).
//! ana: cafetera + cafe on day 0, cafe on days 30 and 60 (a 30-day habit).
//! ben: cafetera + taza on day 5, cafe on day 35. carla: cafetera + taza + filtro on day 10.
//! dani: taza + juguete on day 12. eva: viejo on day -300. zoe: cafetera on day 50.

use std::sync::Arc;

use embudo_core::{Event, Map, Timestamp, Value};
use embudo_store::{IdentityKind, ProfileId};

use super::*;
use crate::ServiceSettings;
use crate::test_support::{START, Shop, track_event};

fn day(d: f64) -> Timestamp {
    Timestamp::parse(START).unwrap().plus_days(d)
}

/// One order: who, on which day, its id, and its products.
type Purchase<'a> = (&'a str, f64, &'a str, &'a [&'a str]);

const ORDERS: &[Purchase<'_>] = &[
    ("ana", 0.0, "o1", &["cafetera", "cafe"]),
    ("ana", 30.0, "o2", &["cafe"]),
    ("ana", 60.0, "o3", &["cafe"]),
    ("ben", 5.0, "o4", &["cafetera", "taza"]),
    ("ben", 35.0, "o5", &["cafe"]),
    ("carla", 10.0, "o6", &["cafetera", "taza", "filtro"]),
    ("dani", 12.0, "o7", &["taza", "juguete"]),
    ("eva", -300.0, "o8", &["viejo"]),
    ("zoe", 50.0, "o9", &["cafetera"]),
];

fn category(product: &str) -> &'static str {
    match product {
        "cafetera" => "cafeteras",
        "cafe" | "filtro" => "cafe",
        "juguete" => "juguetes",
        _ => "menaje",
    }
}

fn name(product: &str) -> String {
    let mut chars = product.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn order_event(person: &str, d: f64, order_id: &str, products: &[&str]) -> Event {
    let at = day(d);
    let map = |pairs: Vec<(&str, Value)>| {
        Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v))
                .collect::<Map>(),
        )
    };
    let lines = products
        .iter()
        .map(|p| {
            map(vec![
                ("product_id", Value::from(*p)),
                ("name", Value::from(name(p))),
                ("category", Value::from(category(p))),
                ("price", Value::Number(10.0)),
                ("quantity", Value::Number(1.0)),
            ])
        })
        .collect();
    track_event(
        format!("order-{order_id}"),
        person,
        at,
        "Order Completed",
        map(vec![
            ("order_id", Value::from(order_id)),
            ("total", Value::Number(10.0 * products.len() as f64)),
            ("products", Value::List(lines)),
        ]),
    )
}

async fn shop_with(settings: embudo_config::RecommendSettings, orders: &[Purchase<'_>]) -> Shop {
    let shop = Shop::with_settings(ServiceSettings {
        recommend: settings,
        ..ServiceSettings::default()
    })
    .await;
    let events: Vec<Event> = orders
        .iter()
        .map(|&(person, d, id, products)| order_event(person, d, id, products))
        .collect();
    shop.embudo.ingest(shop.workspace, &events).await.unwrap();
    shop.embudo.process_all().await.unwrap();
    shop
}

async fn shop() -> Shop {
    shop_with(embudo_config::RecommendSettings::default(), ORDERS).await
}

async fn profile_of(shop: &Shop, person: &str) -> ProfileId {
    shop.embudo
        .store()
        .profile_by_identity(shop.workspace, IdentityKind::Anonymous, person)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn recommend(shop: &Shop, person: &str, lang: Lang) -> ProfileRecommendations {
    let id = profile_of(shop, person).await;
    shop.embudo
        .recommendations(shop.workspace, id, Some(10), lang)
        .await
        .unwrap()
        .unwrap()
}

fn ids(answer: &ProfileRecommendations) -> Vec<&str> {
    answer.items.iter().map(|i| i.product.id.as_str()).collect()
}

fn item<'a>(answer: &'a ProfileRecommendations, id: &str) -> &'a RecommendedProduct {
    answer
        .items
        .iter()
        .find(|i| i.product.id == id)
        .unwrap_or_else(|| panic!("{id} not recommended: {:?}", ids(answer)))
}

#[tokio::test]
async fn without_a_model_reads_say_how_to_build_one() {
    let shop = shop().await;
    let id = profile_of(&shop, "zoe").await;
    let error = shop
        .embudo
        .recommendations(shop.workspace, id, None, Lang::Es)
        .await
        .unwrap_err();
    assert!(matches!(error, ServiceError::Conflict(_)), "{error:?}");
    assert!(
        error.to_string().contains("run `embudo recommend build`"),
        "{error}"
    );
    assert!(shop.embudo.product(shop.workspace, "taza").await.is_err());
}

#[tokio::test]
async fn the_build_stores_a_model_with_its_report() {
    let shop = shop().await;
    shop.clock.set(day(85.0));
    let info = shop
        .embudo
        .build_recommendations(shop.workspace)
        .await
        .unwrap();
    assert_eq!((info.kind.as_str(), info.version), (MODEL_KIND, 1));
    let report: serde_json::Value = serde_json::from_str(&info.report).unwrap();
    assert_eq!(report["products"], 6);
    assert_eq!(report["customers"], 6);
    assert_eq!(report["orders"], 9);
    assert_eq!(report["built_at"], day(85.0).to_string());
    assert!(report["build_seconds"].as_f64().unwrap() >= 0.0);
    let stored = shop
        .embudo
        .store()
        .model(shop.workspace, MODEL_KIND)
        .await
        .unwrap()
        .unwrap();
    let decoded = RecommendModels::decode(&stored.payload).unwrap();
    assert_eq!(decoded.counts.products, 6);
    let again = shop
        .embudo
        .build_recommendations(shop.workspace)
        .await
        .unwrap();
    assert_eq!(again.version, 2);
}

#[tokio::test]
async fn recommends_what_goes_with_the_history_and_never_what_was_bought() {
    let shop = shop().await;
    shop.clock.set(day(85.0));
    shop.embudo
        .build_recommendations(shop.workspace)
        .await
        .unwrap();
    let answer = recommend(&shop, "zoe", Lang::Es).await;
    let products = ids(&answer);
    // Never what zoe bought; never viejo (not sold for 385 days, more than 180).
    assert!(!products.contains(&"cafetera"), "{products:?}");
    assert!(!products.contains(&"viejo"), "{products:?}");
    // Taza and cafe were each bought by two of cafetera's other buyers, filtro by one.
    let taza = item(&answer, "taza");
    assert_eq!(taza.reason.kind, "bought_with");
    assert_eq!(
        taza.reason.text,
        "comprado junto con Cafetera por 2 clientes"
    );
    assert_eq!(taza.reason.anchor.as_ref().unwrap().id, "cafetera");
    assert_eq!(taza.reason.customers, Some(2));
    // P(taza | cafetera) = 2 of cafetera's 4 buyers.
    assert_eq!(taza.reason.confidence, Some(0.5));
    assert_eq!(taza.product.category.as_deref(), Some("menaje"));
    let english = recommend(&shop, "zoe", Lang::En).await;
    assert_eq!(
        item(&english, "taza").reason.text,
        "bought with Cafetera by 2 customers"
    );
    // Cross-sell candidates rank above the merely popular juguete.
    let rank = |id: &str| products.iter().position(|p| *p == id).unwrap();
    assert!(rank("taza") < rank("juguete") && rank("cafe") < rank("juguete"));
    assert!(rank("filtro") < rank("juguete"), "{products:?}");
    // zoe ordered once: the shop's typical gap between orders (30 days: ana's two, ben's
    // one) after day 50.
    let next = answer.next_order.unwrap();
    // Dates are whole days.
    assert_eq!(next.last_at.date_string(), day(50.0).date_string());
    assert_eq!(next.own_intervals, 0);
    assert!((next.interval_days - 30.0).abs() < 1e-9, "{next:?}");
    assert!(answer.reorders.is_empty());
}

#[tokio::test]
async fn a_consumable_comes_back_only_when_due() {
    let settings = embudo_config::RecommendSettings {
        consumables: vec!["cafe".to_owned()],
        ..embudo_config::RecommendSettings::default()
    };
    let shop = shop_with(settings, ORDERS).await;
    shop.clock.set(day(70.0));
    shop.embudo
        .build_recommendations(shop.workspace)
        .await
        .unwrap();
    // Ana buys cafe every 30 days; last on day 60, so next on day 90, due from day 83.
    let early = recommend(&shop, "ana", Lang::Es).await;
    assert!(!ids(&early).contains(&"cafe"), "{:?}", ids(&early));
    assert!(!ids(&early).contains(&"cafetera"));
    let [reorder] = early.reorders.as_slice() else {
        panic!("{:?}", early.reorders);
    };
    assert_eq!(reorder.product.id, "cafe");
    assert_eq!(
        reorder.expected.expected_at.date_string(),
        day(90.0).date_string()
    );
    assert_eq!(reorder.expected.own_intervals, 2);
    assert!(!reorder.due);

    shop.clock.set(day(84.0));
    let due = recommend(&shop, "ana", Lang::Es).await;
    let cafe = item(&due, "cafe");
    assert_eq!(cafe.reason.kind, "reorder");
    assert_eq!(
        cafe.reason.text,
        "lo has comprado 3 veces, la última el 1/5/2026"
    );
    assert!(due.reorders[0].due);
    // Cafetera is no consumable: still never again.
    assert!(!ids(&due).contains(&"cafetera"));
}

#[tokio::test]
async fn consumables_are_learned_from_repeat_buyers() {
    // With ben buying cafe a second time, two of its two buyers repeat it.
    let mut orders = ORDERS.to_vec();
    orders.push(("ben", 65.0, "o10", &["cafe"]));
    let shop = shop_with(embudo_config::RecommendSettings::default(), &orders).await;
    shop.clock.set(day(70.0));
    shop.embudo
        .build_recommendations(shop.workspace)
        .await
        .unwrap();
    let cafe = shop
        .embudo
        .product(shop.workspace, "cafe")
        .await
        .unwrap()
        .unwrap();
    assert!(cafe.consumable);
    assert_eq!(cafe.reorder_rate, 1.0);
    let answer = recommend(&shop, "ana", Lang::Es).await;
    assert_eq!(answer.reorders.len(), 1);
    // Not learned when the shop turns learning off.
    let settings = embudo_config::RecommendSettings {
        learn_consumables: false,
        ..embudo_config::RecommendSettings::default()
    };
    let shop = shop_with(settings, &orders).await;
    shop.clock.set(day(70.0));
    shop.embudo
        .build_recommendations(shop.workspace)
        .await
        .unwrap();
    let answer = recommend(&shop, "ana", Lang::Es).await;
    assert!(answer.reorders.is_empty());
}

#[tokio::test]
async fn category_rules_and_listed_inactive_products_filter() {
    let settings = embudo_config::RecommendSettings {
        inactive_products: vec!["filtro".to_owned()],
        rules: vec![
            embudo_config::RecommendRule::Never {
                bought: "cafeteras".to_owned(),
                recommended: "menaje".to_owned(),
            },
            embudo_config::RecommendRule::WithinCategory {
                category: "juguetes".to_owned(),
            },
            // A category no order names is ignored.
            embudo_config::RecommendRule::WithinCategory {
                category: "nada".to_owned(),
            },
        ],
        ..embudo_config::RecommendSettings::default()
    };
    let shop = shop_with(settings, ORDERS).await;
    shop.clock.set(day(85.0));
    shop.embudo
        .build_recommendations(shop.workspace)
        .await
        .unwrap();
    let zoe = recommend(&shop, "zoe", Lang::Es).await;
    assert_eq!(ids(&zoe), ["cafe"]);
    // Dani bought in juguetes and menaje: juguetes rules do not stop others, and taza's
    // buyers are not cafetera buyers' only.
    let dani = recommend(&shop, "dani", Lang::Es).await;
    assert!(ids(&dani).contains(&"cafetera"), "{:?}", ids(&dani));
    assert!(!ids(&dani).contains(&"filtro"));
    let filtro = shop
        .embudo
        .product(shop.workspace, "filtro")
        .await
        .unwrap()
        .unwrap();
    assert!(!filtro.active);
}

#[tokio::test]
async fn product_pages_show_associations_seasons_and_intervals() {
    let shop = shop().await;
    shop.clock.set(day(85.0));
    shop.embudo
        .build_recommendations(shop.workspace)
        .await
        .unwrap();
    let view = shop
        .embudo
        .product(shop.workspace, "cafetera")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((view.customers, view.orders), (4, 4));
    let associations: Vec<(&str, u32, f64, f64)> = view
        .associations
        .iter()
        .map(|a| (a.product.id.as_str(), a.customers, a.confidence, a.lift))
        .collect();
    // Six customers; cafe's 2 buyers are a third of them, taza's 3 half.
    assert_eq!(
        associations,
        [
            ("cafe", 2, 0.5, 1.5),
            ("taza", 2, 0.5, 1.0),
            ("filtro", 1, 0.25, 1.5)
        ]
    );
    assert!((view.associations[0].support - 2.0 / 6.0).abs() < 1e-12);
    let cafe = shop
        .embudo
        .product(shop.workspace, "cafe")
        .await
        .unwrap()
        .unwrap();
    // Ana's two 30-day repeats are all the shop's: every level says 30 days.
    assert_eq!(cafe.interval.repeats, 2);
    assert!((cafe.interval.observed_median_days.unwrap() - 30.0).abs() < 1e-9);
    assert!((cafe.interval.median_days - 30.0).abs() < 1e-9);
    assert_eq!(cafe.season.best_months.len(), 3);
    assert!(
        shop.embudo
            .product(shop.workspace, "nada")
            .await
            .unwrap()
            .is_none()
    );

    let top = shop
        .embudo
        .products(shop.workspace, ProductSort::Customers, 3)
        .await
        .unwrap();
    let top: Vec<(&str, u32)> = top
        .iter()
        .map(|v| (v.product.id.as_str(), v.customers))
        .collect();
    assert_eq!(top, [("cafetera", 4), ("taza", 3), ("cafe", 2)]);
    let by_orders = shop
        .embudo
        .products(shop.workspace, ProductSort::Orders, 1)
        .await
        .unwrap();
    assert_eq!(by_orders[0].product.id, "cafe");
    assert!(
        shop.embudo
            .products(shop.workspace, ProductSort::Orders, 0)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn another_process_sees_a_newer_model_after_the_refresh_interval() {
    let shop = shop().await;
    shop.clock.set(day(85.0));
    shop.embudo
        .build_recommendations(shop.workspace)
        .await
        .unwrap();
    let other = Embudo::new(
        Arc::clone(shop.embudo.store()),
        shop.clock.clone(),
        ServiceSettings::default(),
    );
    let zoe = profile_of(&shop, "zoe").await;
    let read = |embudo: Embudo| async move {
        embudo
            .recommendations(shop.workspace, zoe, None, Lang::Es)
            .await
            .unwrap()
            .unwrap()
            .model_version
    };
    assert_eq!(read(other.clone()).await, 1);
    shop.embudo
        .build_recommendations(shop.workspace)
        .await
        .unwrap();
    assert_eq!(read(shop.embudo.clone()).await, 2);
    assert_eq!(read(other.clone()).await, 1);
    shop.clock
        .set(day(85.0).plus_millis((REFRESH_SECONDS + 1) * 1000));
    assert_eq!(read(other).await, 2);
}

#[tokio::test]
async fn unknown_profiles_and_bad_limits() {
    let shop = shop().await;
    shop.clock.set(day(85.0));
    shop.embudo
        .build_recommendations(shop.workspace)
        .await
        .unwrap();
    assert!(
        shop.embudo
            .recommendations(shop.workspace, ProfileId(999_999), None, Lang::Es)
            .await
            .unwrap()
            .is_none()
    );
    let zoe = profile_of(&shop, "zoe").await;
    let error = shop
        .embudo
        .recommendations(shop.workspace, zoe, Some(0), Lang::Es)
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "limit must be between 1 and 100, got 0");
}
