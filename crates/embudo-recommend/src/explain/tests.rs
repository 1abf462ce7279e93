use expect_test::expect;

use super::*;
use crate::test_support::date;

#[test]
fn renders_spanish_and_english() {
    let name = |p: ProductIdx| format!("JUMBO BAG {}", p.0);
    let explanations = [
        Explanation::BoughtWith {
            anchor: ProductIdx(7),
            customers: 38,
            confidence: 0.4,
            lift: 3.0,
        },
        Explanation::BoughtWith {
            anchor: ProductIdx(7),
            customers: 1,
            confidence: 0.4,
            lift: 3.0,
        },
        Explanation::Reorder {
            last_bought_at: date("2011-09-05"),
            times: 3,
            reorder_rate: 0.5,
        },
        Explanation::SimilarCustomers { customers: 12 },
        Explanation::Popular {
            recent_customers: 120,
        },
    ];
    let shown: Vec<String> = explanations
        .iter()
        .flat_map(|e| {
            [
                e.render(Language::Spanish, &name),
                e.render(Language::English, &name),
            ]
        })
        .collect();
    expect![[r#"
        [
            "comprado junto con JUMBO BAG 7 por 38 clientes",
            "bought with JUMBO BAG 7 by 38 customers",
            "comprado junto con JUMBO BAG 7 por 1 cliente",
            "bought with JUMBO BAG 7 by 1 customer",
            "lo has comprado 3 veces, la última el 5/9/2011",
            "you bought it 3 times, last on 2011-09-05",
            "lo compraron 12 clientes con compras parecidas a las tuyas",
            "bought by 12 customers who buy what you buy",
            "popular ahora: 120 clientes lo compraron en los últimos 30 días",
            "popular now: bought by 120 customers in the last 30 days",
        ]
    "#]]
    .assert_debug_eq(&shown);
}
