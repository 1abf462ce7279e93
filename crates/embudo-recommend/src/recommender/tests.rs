use expect_test::expect;

use super::*;
use crate::test_support::{catalogue, date, orders};

/// Five customers over six products: 0, 1 and 2 go together, 3 and 4 go together, 5 is a
/// consumable customers 3 and 4 buy again and again.
fn fixture() -> Purchases {
    Purchases::new(
        orders(
            "
            0 0 2011-01-01 0 1 2
            1 1 2011-02-01 0 1
            1 2 2011-03-01 2 5
            2 3 2011-03-01 1 2 3
            3 4 2011-04-01 3 4 5
            3 5 2011-05-01 5
            4 6 2011-05-01 4 5
            4 7 2011-06-01 5 3
            ",
        ),
        6,
    )
    .unwrap()
}

fn request<'a>(history: &'a [CustomerProduct], catalogue: &'a Catalogue) -> RecommendRequest<'a> {
    RecommendRequest {
        customer: None,
        history,
        catalogue,
        rules: &[],
        reorder: ReorderPolicy::Never,
        n: 10,
        now: date("2011-07-01"),
    }
}

fn show(recs: &[Recommendation]) -> String {
    recs.iter()
        .map(|r| format!("p{} {:.3} {:?}\n", r.product.0, r.score, r.explanation))
        .collect()
}

#[test]
fn plain_cosine_matches_a_direct_computation() {
    let purchases = fixture();
    let counts = crate::CoPurchase::build(&purchases);
    let model = Recommender::build(
        &purchases,
        &RecommendParams::plain_cosine(),
        date("2011-07-01"),
    );
    let catalogue = catalogue(6, &[]);
    let history = purchases.customer_items(CustomerIdx(2)).to_vec();
    let recs = model.recommend(&request(&history, &catalogue)).unwrap();

    let mut direct: Vec<(f64, u32)> = (0..6u32)
        .filter(|&j| history.iter().all(|i| i.product.0 != j))
        .map(|j| {
            let score: f64 = history
                .iter()
                .map(|i| {
                    let both = f64::from(counts.customers_both(i.product, ProductIdx(j)));
                    let norm =
                        f64::from(counts.customers(i.product) * counts.customers(ProductIdx(j)));
                    both / norm.sqrt()
                })
                .sum();
            (score, j)
        })
        .filter(|&(score, _)| score > 0.0)
        .collect();
    direct.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let best = direct[0].0;
    assert_eq!(recs.len(), direct.len());
    for (rec, (score, j)) in recs.iter().zip(&direct) {
        assert_eq!(rec.product, ProductIdx(*j));
        assert!(
            (rec.score - score / best).abs() < 1e-6,
            "{rec:?} vs {score}"
        );
    }
}

#[test]
fn recommends_with_explanations_and_excludes_what_was_bought() {
    let purchases = fixture();
    let model = Recommender::build(&purchases, &RecommendParams::tuned(), date("2011-07-01"));
    let catalogue = catalogue(6, &[]);
    let history = purchases.customer_items(CustomerIdx(0));
    let recs = model
        .recommend(&RecommendRequest {
            customer: Some(CustomerIdx(0)),
            ..request(history, &catalogue)
        })
        .unwrap();
    expect![[r#"
        p5 1.600 BoughtWith { anchor: ProductIdx(0), customers: 1, confidence: 0.5, lift: 0.8333333333333334 }
        p3 1.236 BoughtWith { anchor: ProductIdx(1), customers: 1, confidence: 0.3333333333333333, lift: 0.5555555555555556 }
        p4 0.005 Popular { recent_customers: 0 }
    "#]]
    .assert_eq(&show(&recs));
    assert!(
        recs.iter()
            .all(|r| history.iter().all(|i| i.product != r.product))
    );
}

#[test]
fn keeps_inactive_products_out_and_lets_consumables_back_in() {
    let purchases = fixture();
    let model = Recommender::build(&purchases, &RecommendParams::tuned(), date("2011-07-01"));
    let mut catalogue = catalogue(6, &[]);
    catalogue.products[3].active = false;
    let history = purchases.customer_items(CustomerIdx(1));
    let recs = model.recommend(&request(history, &catalogue)).unwrap();
    assert!(recs.iter().all(|r| r.product != ProductIdx(3)));
    // Product 5 was bought again by two of its three buyers; product 0 by none.
    assert!((model.reorder_rate(ProductIdx(5)) - 2.0 / 3.0).abs() < 1e-12);
    let consumables = ReorderPolicy::Consumables {
        min_reorder_rate: 0.5,
    };
    let recs = model
        .recommend(&RecommendRequest {
            reorder: consumables,
            ..request(history, &catalogue)
        })
        .unwrap();
    let products: Vec<u32> = recs.iter().map(|r| r.product.0).collect();
    assert!(products.contains(&5), "{products:?}");
    assert!(
        !products.contains(&0) && !products.contains(&1),
        "{products:?}"
    );
    let reorder = recs.iter().find(|r| r.product == ProductIdx(5)).unwrap();
    assert!(
        matches!(reorder.explanation, Explanation::Reorder { times: 1, .. }),
        "{reorder:?}"
    );
}

#[test]
fn a_listed_policy_lets_only_the_listed_products_back_in() {
    let purchases = fixture();
    let model = Recommender::build(&purchases, &RecommendParams::tuned(), date("2011-07-01"));
    let catalogue = catalogue(6, &[]);
    // Customer 1 bought 0, 1, 2 and 5.
    let history = purchases.customer_items(CustomerIdx(1));
    let products = |policy: ReorderPolicy<'_>| -> Vec<u32> {
        model
            .recommend(&RecommendRequest {
                reorder: policy,
                ..request(history, &catalogue)
            })
            .unwrap()
            .iter()
            .map(|r| r.product.0)
            .collect()
    };
    let listed = products(ReorderPolicy::Listed(&[ProductIdx(0)]));
    assert!(listed.contains(&0), "{listed:?}");
    assert!(
        !listed.contains(&1) && !listed.contains(&2) && !listed.contains(&5),
        "{listed:?}"
    );
    let none = products(ReorderPolicy::Listed(&[]));
    assert_eq!(none, products(ReorderPolicy::Never));
}

#[test]
fn applies_category_rules() {
    let purchases = fixture();
    let model = Recommender::build(&purchases, &RecommendParams::tuned(), date("2011-07-01"));
    // Categories: 0, 1, 2 are category 0; 3 and 4 category 1; 5 category 2.
    let catalogue = catalogue(6, &[Some(0), Some(0), Some(0), Some(1), Some(1), Some(2)]);
    let history = purchases.customer_items(CustomerIdx(0));
    let products = |rules: &[CategoryRule]| -> Vec<u32> {
        model
            .recommend(&RecommendRequest {
                rules,
                ..request(history, &catalogue)
            })
            .unwrap()
            .iter()
            .map(|r| r.product.0)
            .collect()
    };
    assert_eq!(products(&[]), vec![5, 3, 4]);
    let never = CategoryRule::Never {
        bought: CategoryIdx(0),
        recommended: CategoryIdx(1),
    };
    assert_eq!(products(&[never]), vec![5]);
    // A rule about a category the person never bought changes nothing.
    let other = CategoryRule::Never {
        bought: CategoryIdx(2),
        recommended: CategoryIdx(1),
    };
    assert_eq!(products(&[other]), vec![5, 3, 4]);
    // Category 1 is self-contained: this person never bought in it.
    let within = CategoryRule::WithinCategory {
        category: CategoryIdx(1),
    };
    assert_eq!(products(&[within]), vec![5]);
}

#[test]
fn refuses_a_catalogue_of_another_size() {
    let purchases = fixture();
    let model = Recommender::build(&purchases, &RecommendParams::tuned(), date("2011-07-01"));
    let small = catalogue(4, &[]);
    assert_eq!(
        model.recommend(&request(&[], &small)).unwrap_err(),
        RecommendError::CatalogueMismatch {
            catalogue: 4,
            model: 6
        }
    );
    // Without a history, only popularity speaks.
    let full = catalogue(6, &[]);
    let recs = model.recommend(&request(&[], &full)).unwrap();
    assert!(
        recs.iter()
            .all(|r| matches!(r.explanation, Explanation::Popular { .. }))
    );
    assert_eq!(recs[0].product, model.popular(1)[0]);
}
