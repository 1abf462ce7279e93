use super::*;
use crate::CategoryIdx;
use crate::test_support::{catalogue, date, orders};

/// A year of data (2011-01-01 to 2011-12-31): product 0 sells in December and a little in
/// June, product 1 every other month, product 2 (category 0, with product 0) once in March.
fn fixture() -> Purchases {
    Purchases::new(
        orders(
            "
            9 0 2011-01-01 1
            0 1 2011-12-01 0
            1 2 2011-12-05 0
            2 3 2011-12-10 0
            3 4 2011-06-10 0
            3 5 2011-03-10 1 2
            3 6 2011-05-10 1
            3 7 2011-07-10 1
            3 8 2011-09-10 1
            3 9 2011-11-10 1
            9 10 2011-12-31 1
            ",
        ),
        3,
    )
    .unwrap()
}

const DAYS: [f64; 12] = [
    31.0, 28.0, 31.0, 30.0, 31.0, 30.0, 31.0, 31.0, 30.0, 31.0, 30.0, 31.0,
];

/// The index computed directly from the formula in the module docs.
fn direct(counts: [f64; 12], prior_share: [f64; 12], k: f64) -> [f64; 12] {
    let exposure: f64 = (0..12).map(|m| prior_share[m] * DAYS[m]).sum();
    let rates: Vec<f64> = (0..12)
        .map(|m| (counts[m] + k * prior_share[m] * DAYS[m] / exposure) / DAYS[m])
        .collect();
    let mean = rates.iter().sum::<f64>() / 12.0;
    std::array::from_fn(|m| rates[m] / mean)
}

fn assert_close(got: &[f64; 12], want: &[f64; 12]) {
    for m in 0..12 {
        assert!(
            (got[m] - want[m]).abs() < 1e-9,
            "month {}: {} vs {}",
            m + 1,
            got[m],
            want[m]
        );
    }
}

#[test]
fn month_indices_match_a_direct_computation() {
    let purchases = fixture();
    let catalogue = catalogue(3, &[Some(0), None, Some(0)]);
    let params = SeasonParams {
        product_prior_orders: 4.0,
        category_prior_orders: 2.0,
        peak_index: 1.3,
    };
    let seasons = Seasons::build(&purchases, &catalogue, &params);

    let mut shop_counts = [0.0; 12];
    for (m, n) in [
        (0, 1.0),
        (11, 4.0),
        (5, 1.0),
        (2, 2.0),
        (4, 1.0),
        (6, 1.0),
        (8, 1.0),
        (10, 1.0),
    ] {
        shop_counts[m] += n;
    }
    let shop = direct(shop_counts, [1.0 / 12.0; 12], 1.0);
    assert_close(&seasons.shop().month_index, &shop);
    assert_eq!(seasons.shop().orders, 12);

    let mut category_counts = [0.0; 12];
    category_counts[11] = 3.0;
    category_counts[5] = 1.0;
    category_counts[2] = 1.0;
    let category = direct(category_counts, shop.map(|x| x / 12.0), 2.0);
    assert_close(
        &seasons.category(CategoryIdx(0)).unwrap().month_index,
        &category,
    );

    let mut product_counts = [0.0; 12];
    product_counts[11] = 3.0;
    product_counts[5] = 1.0;
    let product = direct(product_counts, category.map(|x| x / 12.0), 4.0);
    let profile = seasons.product(ProductIdx(0)).unwrap();
    assert_close(&profile.month_index, &product);
    assert_eq!(profile.best_months(2), vec![12, 6]);

    // Product 1 has no category: it shrinks straight toward the shop.
    let mut uncategorised = [0.0; 12];
    for m in [0, 2, 4, 6, 8, 10, 11] {
        uncategorised[m] = 1.0;
    }
    let want = direct(uncategorised, shop.map(|x| x / 12.0), 4.0);
    assert_close(&seasons.product(ProductIdx(1)).unwrap().month_index, &want);
}

#[test]
fn finds_the_upcoming_peak_and_weeks() {
    let purchases = fixture();
    let catalogue = catalogue(3, &[]);
    let params = SeasonParams {
        product_prior_orders: 0.0,
        category_prior_orders: 0.0,
        peak_index: 1.3,
    };
    let seasons = Seasons::build(&purchases, &catalogue, &params);
    let profile = seasons.product(ProductIdx(0)).unwrap();
    // Without shrinkage: 3 December orders over 31 days, 1 June order over 30 days.
    let december = 3.0 / 31.0;
    let june = 1.0 / 30.0;
    let mean = (december + june) / 12.0;
    assert!((profile.month(12) - december / mean).abs() < 1e-9);
    assert!((profile.month(1)).abs() < 1e-12);

    let peak = seasons
        .upcoming_peak(ProductIdx(0), date("2011-07-15"))
        .unwrap();
    assert_eq!((peak.year, peak.month), (2011, 12));
    assert_eq!(peak.starts_at, date("2011-12-01"));
    let peak = seasons
        .upcoming_peak(ProductIdx(0), date("2012-01-15"))
        .unwrap();
    assert_eq!((peak.year, peak.month), (2012, 6));
    let peak = seasons
        .upcoming_peak(ProductIdx(0), date("2011-12-20"))
        .unwrap();
    assert_eq!((peak.year, peak.month), (2011, 12));

    // ISO weeks: 2011-12-01, -05 and -10 are in weeks 48, 49 and 49.
    let weeks = &profile.week_index;
    assert!(weeks[48] > weeks[47] && weeks[47] > 0.0);
    assert!((weeks.iter().sum::<f64>() / 52.0 - 1.0).abs() < 1e-9);
}

#[test]
fn an_empty_shop_is_flat() {
    let purchases = Purchases::new(Vec::new(), 2).unwrap();
    let seasons = Seasons::build(&purchases, &catalogue(2, &[]), &SeasonParams::standard());
    assert_eq!(
        seasons.product(ProductIdx(1)).unwrap().month_index,
        [1.0; 12]
    );
    assert_eq!(seasons.upcoming_peak(ProductIdx(1), 0), None);
}
