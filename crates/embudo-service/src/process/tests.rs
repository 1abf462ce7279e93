//! Profile processing with the shop's configuration: its target audiences reach the engine
//! (stage identify) and the stored summary, so that profiles can be listed by audience.

use embudo_core::Value;
use embudo_store::ProfileFilter;
use expect_test::expect;

use crate::ServiceSettings;
use crate::test_support::Shop;

#[tokio::test]
async fn a_configured_audience_reaches_the_stage_and_the_listing() {
    let config = embudo_config::check(
        "tienda.toml",
        r#"
[[audiences]]
name = "exploradores"
condition = "aggregates.n_distinct_products_viewed >= 2"
fit = 0.8
"#,
    )
    .unwrap();
    let shop = Shop::with_settings(ServiceSettings {
        audiences: config.audiences,
        ..ServiceSettings::default()
    })
    .await;
    let view = |id: &str| [("product_id", Value::from(id))];
    let (p1, p2) = (view("p1"), view("p2"));
    shop.send(
        "ana",
        &[(0, "Product Viewed", &p1), (1, "Product Viewed", &p2)],
    )
    .await;
    shop.send("luis", &[(0, "Product Viewed", &p1)]).await;

    shop.check(
        "ana",
        expect![[r#"
        now: phase I substate - stage identify audiences [exploradores]
        2026-03-02T10:01:01.000Z phase: - -> I (vio 2 productos o listados, el último el 2026-03-02)
    "#]],
    )
    .await;
    shop.check(
        "luis",
        expect![[r#"
        now: phase I substate - stage - audiences []
        2026-03-02T10:00:01.000Z phase: - -> I (vio 1 producto o listado, el último el 2026-03-02)
    "#]],
    )
    .await;

    let listed = shop
        .embudo
        .store()
        .list_profiles(
            shop.workspace,
            &ProfileFilter {
                audience: Some("exploradores".to_owned()),
                limit: 10,
                ..ProfileFilter::default()
            },
        )
        .await
        .unwrap();
    let names: Vec<_> = listed
        .items
        .iter()
        .map(|profile| profile.anonymous_ids.join(","))
        .collect();
    assert_eq!(names, ["ana"]);
}
