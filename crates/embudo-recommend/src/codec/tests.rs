use super::*;
use crate::test_support::{catalogue, date, orders};
use crate::{CustomerIdx, Purchases, RecommendRequest, ReorderPolicy};

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

#[test]
fn models_round_trip() {
    let purchases = fixture();
    let catalogue = catalogue(6, &[Some(0), Some(0), Some(1), None, Some(1), Some(2)]);
    let now = date("2011-07-01");
    let recommender = Recommender::build(&purchases, &RecommendParams::tuned(), now);
    let seasons = Seasons::build(&purchases, &catalogue, &SeasonParams::standard());
    let reorder = ReorderModel::build(&purchases, &catalogue, &ReorderParams::standard());
    let mut w = Writer::default();
    recommender.encode(&mut w);
    seasons.encode(&mut w);
    reorder.encode(&mut w);
    w.str("fin");
    let bytes = w.into_bytes();

    let mut r = Reader::new(&bytes);
    let decoded = Recommender::decode(&mut r).unwrap();
    assert_eq!(decoded, recommender);
    assert_eq!(Seasons::decode(&mut r).unwrap(), seasons);
    assert_eq!(ReorderModel::decode(&mut r).unwrap(), reorder);
    assert_eq!(r.string("end").unwrap(), "fin");
    assert!(r.is_at_end());

    // The decoded model answers as the built one.
    let history = purchases.customer_items(CustomerIdx(2));
    let request = RecommendRequest {
        customer: Some(CustomerIdx(2)),
        history,
        catalogue: &catalogue,
        rules: &[],
        reorder: ReorderPolicy::Never,
        n: 3,
        now,
    };
    assert_eq!(
        decoded.recommend(&request).unwrap(),
        recommender.recommend(&request).unwrap()
    );
}

#[test]
fn damaged_payloads_are_errors() {
    let purchases = fixture();
    let recommender = Recommender::build(&purchases, &RecommendParams::tuned(), date("2011-07-01"));
    let mut w = Writer::default();
    recommender.encode(&mut w);
    let bytes = w.into_bytes();
    // Every truncation is an error, never a panic.
    for cut in [0, 1, 10, bytes.len() / 2, bytes.len() - 1] {
        let error = Recommender::decode(&mut Reader::new(&bytes[..cut])).unwrap_err();
        assert!(matches!(error, DecodeError::Truncated { .. }), "{error}");
    }
    // A neighbour pointing past the catalogue is caught.
    let mut bad = recommender.clone();
    bad.neighbours[0].product = 99;
    let mut w = Writer::default();
    bad.encode(&mut w);
    let error = Recommender::decode(&mut Reader::new(&w.into_bytes())).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the payload is inconsistent: a product index is out of range"
    );
}
