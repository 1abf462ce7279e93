use expect_test::expect;

use super::*;
use crate::test_support::{orders, random_orders};

fn fixture() -> Purchases {
    // Four customers; products 0 and 1 go together, 2 is bought by everyone.
    Purchases::new(
        orders(
            "
            0 0 2011-01-01 0 1 2
            1 1 2011-01-02 0 2
            1 2 2011-02-02 1
            2 3 2011-01-03 0 2
            3 4 2011-01-04 2 3
            ",
        ),
        4,
    )
    .unwrap()
}

#[test]
fn counts_customers_not_orders() {
    let counts = CoPurchase::build(&fixture());
    assert_eq!(counts.n_customers(), 4);
    // Customer 1 bought 0 and 1 in different orders: still a co-purchase.
    assert_eq!(counts.customers_both(ProductIdx(0), ProductIdx(1)), 2);
    assert_eq!(counts.customers_both(ProductIdx(1), ProductIdx(0)), 2);
    assert_eq!(counts.customers_both(ProductIdx(0), ProductIdx(3)), 0);
    assert_eq!(counts.customers_both(ProductIdx(0), ProductIdx(0)), 0);
}

#[test]
fn computes_support_confidence_and_lift() {
    let counts = CoPurchase::build(&fixture());
    let stats = counts.pair(ProductIdx(1), ProductIdx(0));
    // Both: 2 of 4 customers; P(0 | 1) = 2 / 2; P(0) = 3 / 4, so lift = 1 / 0.75.
    assert_eq!(stats.customers_both, 2);
    assert_eq!(stats.support, 0.5);
    assert_eq!(stats.confidence, 1.0);
    assert!((stats.lift - 4.0 / 3.0).abs() < 1e-12);
    let shown: Vec<String> = counts
        .associations(ProductIdx(0), 5, 1)
        .iter()
        .map(|a| {
            format!(
                "p{} both {} confidence {:.2} lift {:.2}",
                a.product.0, a.stats.customers_both, a.stats.confidence, a.stats.lift
            )
        })
        .collect();
    expect![[r#"
        [
            "p2 both 3 confidence 1.00 lift 1.00",
            "p1 both 2 confidence 0.67 lift 1.33",
        ]
    "#]]
    .assert_debug_eq(&shown);
    assert_eq!(counts.associations(ProductIdx(0), 5, 3).len(), 1);
}

#[test]
fn incremental_updates_equal_a_rebuild() {
    for seed in 1..6 {
        let lines = random_orders(seed, 30, 25, 300);
        let (first, rest) = lines.split_at(lines.len() / 2);
        let mut incremental = CoPurchase::build(&Purchases::new(first.to_vec(), 25).unwrap());
        for chunk in rest.chunks(17) {
            incremental.add_lines(chunk);
        }
        let rebuilt = CoPurchase::build(&Purchases::new(lines.clone(), 25).unwrap());
        assert_eq!(incremental, rebuilt, "seed {seed}");
    }
}

#[test]
fn incremental_updates_add_new_products_and_customers() {
    let mut counts = CoPurchase::build(&fixture());
    counts.add_lines(&orders("9 9 2011-05-01 3 6"));
    assert_eq!(counts.n_products(), 7);
    assert_eq!(counts.n_customers(), 5);
    assert_eq!(counts.customers_both(ProductIdx(6), ProductIdx(3)), 1);
    assert_eq!(counts.customers(ProductIdx(3)), 2);
}
