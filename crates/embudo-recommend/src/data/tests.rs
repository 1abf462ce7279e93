use expect_test::expect;

use super::*;
use crate::test_support::{date, orders};

#[test]
fn interns_names_in_order_of_first_appearance() {
    let mut interner = Interner::default();
    assert_eq!(interner.intern("85123A"), 0);
    assert_eq!(interner.intern("71053"), 1);
    assert_eq!(interner.intern("85123A"), 0);
    assert_eq!(interner.get("71053"), Some(1));
    assert_eq!(interner.get("nope"), None);
    assert_eq!(interner.name(1), Some("71053"));
    assert_eq!(interner.len(), 2);
}

#[test]
fn rejects_bad_lines() {
    let mut lines = orders("0 0 2011-01-01 0 1");
    assert_eq!(
        Purchases::new(lines.clone(), 1).unwrap_err(),
        DataError::UnknownProduct {
            line: 1,
            product: 1,
            n_products: 1
        }
    );
    lines[0].quantity = 0;
    assert_eq!(
        Purchases::new(lines.clone(), 2).unwrap_err(),
        DataError::NonPositiveQuantity { line: 0 }
    );
    lines[0].quantity = 1;
    lines[1].unit_price = f64::NAN;
    assert!(matches!(
        Purchases::new(lines, 2),
        Err(DataError::BadPrice { line: 1, .. })
    ));
}

#[test]
fn summarises_each_customer_product() {
    // Customer 1 buys product 0 twice on one day (two orders) and once later.
    let purchases = Purchases::new(
        orders(
            "
            1 0 2011-01-01 0 2
            1 1 2011-01-01 0
            1 2 2011-02-01 0
            0 3 2011-03-01 2
            ",
        ),
        3,
    )
    .unwrap();
    assert_eq!(purchases.n_customers(), 2);
    assert_eq!(purchases.product_customer_counts(), &[1, 0, 2]);
    assert_eq!(
        purchases.span(),
        Some((date("2011-01-01"), date("2011-03-01")))
    );
    let items: Vec<String> = purchases
        .customer_items(CustomerIdx(1))
        .iter()
        .map(|i| {
            format!(
                "p{} orders {} days {} units {}",
                i.product.0, i.n_orders, i.n_days, i.quantity
            )
        })
        .collect();
    expect![[r#"
        [
            "p0 orders 3 days 2 units 3",
            "p2 orders 1 days 1 units 1",
        ]
    "#]]
    .assert_debug_eq(&items);
    assert!(purchases.customer_items(CustomerIdx(7)).is_empty());
}
