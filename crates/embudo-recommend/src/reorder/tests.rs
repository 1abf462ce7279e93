use super::*;
use crate::test_support::{catalogue, date, orders};

/// Product 0: customer 0 on Jan 1, 11 and 31 (intervals 10 and 20 days), customer 1 on
/// Jan 1 and Feb 10 (40 days). Product 1: customer 2 on Jan 1 and Jan 6 (5 days), twice on
/// Jan 6 (one interval only). Product 2 is never bought again.
fn fixture() -> Purchases {
    Purchases::new(
        orders(
            "
            0 0 2011-01-01 0
            0 1 2011-01-11 0 2
            0 2 2011-01-31 0
            1 3 2011-01-01 0
            1 4 2011-02-10 0
            2 5 2011-01-01 1
            2 6 2011-01-06 1
            2 7 2011-01-06 1
            ",
        ),
        3,
    )
    .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn intervals_match_a_direct_computation() {
    let purchases = fixture();
    let params = ReorderParams {
        prior_intervals: 5.0,
        person_prior_intervals: 2.0,
    };
    let model = ReorderModel::build(&purchases, &catalogue(3, &[]), &params);
    let ln = f64::ln;

    // The shop pools 5, 10, 20 and 40 days: its median is between 10 and 20 in log days.
    let shop = model.shop();
    assert_eq!(shop.intervals, 4);
    assert!(close(shop.median_days, (10.0f64 * 20.0).sqrt()));
    // Type-7 lower quartile: position 0.75 between ln 5 and ln 10.
    assert!(close(
        shop.lower_quartile_days,
        (0.25 * ln(5.0) + 0.75 * ln(10.0)).exp()
    ));

    // Product 0: intervals 10, 20, 40; median 20, shrunk with 5 prior intervals.
    let product = model.product(ProductIdx(0)).unwrap();
    assert_eq!(product.intervals, 3);
    assert_eq!(
        product
            .observed_median_days
            .map(|m| (m * 1e9).round() / 1e9),
        Some(20.0)
    );
    let median = ((3.0 * ln(20.0) + 5.0 * ln(shop.median_days)) / 8.0).exp();
    assert!(close(product.median_days, median), "{product:?}");
    let upper =
        ((3.0 * ln((20.0f64 * 40.0).sqrt()) + 5.0 * ln(shop.upper_quartile_days)) / 8.0).exp();
    assert!(close(product.upper_quartile_days, upper));

    // Product 2 has no repeat: it is the shop's figure.
    let never = model.product(ProductIdx(2)).unwrap();
    assert_eq!(never.observed_median_days, None);
    assert!(close(never.median_days, shop.median_days));

    // Customer 0 and product 0: own intervals 10 and 20, two prior intervals at the product's.
    let lines = purchases.customer_lines(crate::CustomerIdx(0));
    let next = model.next_product_order(lines, ProductIdx(0)).unwrap();
    let interval = ((ln(10.0) + ln(20.0) + 2.0 * ln(product.median_days)) / 4.0).exp();
    assert!(close(next.interval_days, interval));
    assert_eq!(next.last_at, date("2011-01-31"));
    assert_eq!(
        next.expected_at,
        date("2011-01-31") + (interval * 86_400.0).round() as i64
    );
    assert_eq!(next.own_intervals, 2);
    assert!(close(
        next.days_until(date("2011-01-31")),
        (interval * 86_400.0).round() / 86_400.0
    ));
    assert_eq!(model.next_product_order(lines, ProductIdx(1)), None);

    // Next order overall: the order days of customers 0, 1, 2 give gaps 10, 20, 40 and 5.
    let gap = model.shop_order_gap();
    assert_eq!(gap.intervals, 4);
    assert!(close(gap.median_days, (10.0f64 * 20.0).sqrt()));
    let overall = model.next_order(lines).unwrap();
    let interval = ((ln(10.0) + ln(20.0) + 2.0 * ln(gap.median_days)) / 4.0).exp();
    assert!(close(overall.interval_days, interval));
    assert_eq!(model.next_order(&[]), None);
}

#[test]
fn categories_sit_between_products_and_the_shop() {
    let purchases = fixture();
    let params = ReorderParams {
        prior_intervals: 1.0,
        person_prior_intervals: 1.0,
    };
    // Products 0 and 2 in category 0: its intervals are product 0's.
    let model = ReorderModel::build(
        &purchases,
        &catalogue(3, &[Some(0), None, Some(0)]),
        &params,
    );
    let category = model.category(crate::CategoryIdx(0)).unwrap();
    assert_eq!(category.intervals, 3);
    let shop = model.shop().median_days;
    let want = ((3.0 * 20f64.ln() + shop.ln()) / 4.0).exp();
    assert!(close(category.median_days, want));
    let never = model.product(ProductIdx(2)).unwrap();
    assert!(close(never.median_days, category.median_days));
}

#[test]
fn quantiles_interpolate_linearly() {
    let values = [1.0, 2.0, 4.0, 8.0];
    assert_eq!(quantile(&values, 0.0), 1.0);
    assert_eq!(quantile(&values, 0.5), 3.0);
    assert_eq!(quantile(&values, 1.0), 8.0);
    assert_eq!(quantile(&[5.0], 0.25), 5.0);
}
