//! The decay sweep through the real service over an in-memory SQLite store: people who stop
//! acting move back (phase II going cold) or lapse (phase III), each change is recorded once
//! and dated when the engine says it happened, and a second sweep changes nothing.

use embudo_core::Value;
use expect_test::expect;

use crate::test_support::Shop;

fn product(id: &str) -> [(&'static str, Value); 3] {
    [
        ("product_id", Value::from(id)),
        ("category", Value::from("zapatillas")),
        ("price", Value::from(80.0)),
    ]
}

#[tokio::test]
async fn a_prospect_who_goes_silent_moves_back_and_a_second_sweep_changes_nothing() {
    let shop = Shop::new().await;
    let (a, b, c) = (product("zap-1"), product("zap-2"), product("zap-3"));
    shop.send(
        "ana",
        &[
            (0, "Product Viewed", &a),
            (5, "Product Viewed", &b),
            (10, "Product Viewed", &c),
            (15, "Product Added", &b),
        ],
    )
    .await;
    // The same day nothing has decayed: nothing to write.
    let same_day = shop.sweep_at(0.5).await;
    assert_eq!((same_day.profiles, same_day.changed), (1, 0));

    let later = shop.sweep_at(60.0).await;
    assert_eq!((later.profiles, later.changed), (1, 1), "{later:?}");
    shop.check("ana", expect![[r#"
        now: phase I substate - stage identify audiences [visitantes_recurrentes]
        2026-03-02T10:15:01.000Z phase: - -> II (añadió productos al carrito o lo miró 1 vez, la última el 2026-03-02)
        2026-05-01T10:00:00.000Z phase: II -> I (fase II → I: añadió productos al carrito o lo miró 1 vez, la última el 2026-03-02 (se enfría); vio 3 productos de la misma categoría (zapatillas) en 1 día (se enfría); vio 3 productos o listados, el último el 2026-03-02 (se enfría))
        2026-05-01T10:00:00.000Z stage: explore -> identify (etapa explorar → identificar: añadió productos al carrito o lo miró 1 vez, la última el 2026-03-02 (se enfría); vio 3 productos de la misma categoría (zapatillas) en 1 día (se enfría); vio 3 productos o listados, el último el 2026-03-02 (se enfría))
    "#]]).await;

    let again = shop.sweep_at(60.0).await;
    assert_eq!((again.changed, again.transitions), (0, 0), "{again:?}");
}

#[tokio::test]
async fn a_customer_who_does_not_come_back_goes_at_risk_then_lapsed() {
    let shop = Shop::new().await;
    let order = [
        ("order_id", Value::from("o-1")),
        ("total", Value::from(80.0)),
        ("currency", Value::from("EUR")),
        (
            "products",
            Value::List(vec![Value::Map(
                product("zap-2")
                    .into_iter()
                    .map(|(key, value)| (key.into(), value))
                    .chain([("quantity".into(), Value::from(1.0))])
                    .collect(),
            )]),
        ),
    ];
    shop.send("luis", &[(0, "Order Completed", &order)]).await;
    // The default repurchase interval is 90 days: at risk after 1.5 of them, lapsed after 3.
    assert_eq!(shop.sweep_at(100.0).await.changed, 0);
    assert_eq!(shop.sweep_at(150.0).await.changed, 1);
    assert_eq!(shop.sweep_at(400.0).await.changed, 1);
    shop.check("luis", expect![[r#"
        now: phase III substate lapsed stage advise audiences [compradores]
        2026-03-02T10:00:01.000Z phase: - -> III (compró el 2026-03-02)
        2026-07-30T10:00:00.000Z substate: active -> at_risk (cliente activo → en riesgo: compró el 2026-03-02)
        2027-04-06T10:00:00.000Z substate: at_risk -> lapsed (cliente en riesgo → perdido: compró el 2026-03-02)
    "#]]).await;
}

#[tokio::test]
async fn an_audience_left_with_time_is_left_in_the_stored_summary_too() {
    // Fits under the stage's threshold: only the membership changes, not the stage.
    let shop = Shop::with_audiences(
        r#"
[[audiences]]
name = "recientes"
condition = "aggregates.days_since_last_seen != null && aggregates.days_since_last_seen < 7.0"
fit = 0.2

[[audiences]]
name = "curiosos"
condition = "aggregates.n_events >= 1"
fit = 0.3
"#,
    )
    .await;
    shop.send("eva", &[(0, "Product Viewed", &product("zap-1"))])
        .await;
    shop.check(
        "eva",
        expect![[r#"
            now: phase I substate - stage - audiences [curiosos, recientes]
            2026-03-02T10:00:01.000Z phase: - -> I (vio 1 producto o listado, el último el 2026-03-02)
        "#]],
    )
    .await;

    let later = shop.sweep_at(30.0).await;
    assert_eq!(later.changed, 1, "{later:?}");
    shop.check(
        "eva",
        expect![[r#"
            now: phase I substate - stage - audiences [curiosos]
            2026-03-02T10:00:01.000Z phase: - -> I (vio 1 producto o listado, el último el 2026-03-02)
        "#]],
    )
    .await;
    assert_eq!(shop.sweep_at(30.0).await.changed, 0);
}
