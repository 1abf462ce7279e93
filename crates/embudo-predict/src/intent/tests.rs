use expect_test::expect;

use super::*;
use crate::metrics::{SplitMix64, roc_auc};

fn names(n: usize) -> Vec<String> {
    (0..n).map(|j| format!("x{j}")).collect()
}

/// Two informative features with an interaction, one noise feature; the label is drawn
/// from σ(2·x0 + 2·x0·x1 − 1).
fn synthetic(n: usize, seed: u64) -> (FeatureMatrix, Vec<bool>) {
    let mut rng = SplitMix64::new(seed);
    let mut x = FeatureMatrix::new(names(3));
    let mut labels = Vec::new();
    for _ in 0..n {
        let row = [
            rng.next_f64() * 2.0 - 1.0,
            rng.next_f64() * 2.0 - 1.0,
            rng.next_f64(),
        ];
        let p = sigmoid(2.0 * row[0] + 2.0 * row[0] * row[1] - 1.0);
        labels.push(rng.next_f64() < p);
        x.push_row(&row.map(|v| v as f32)).unwrap();
    }
    (x, labels)
}

#[test]
fn logistic_regression_recovers_a_linear_model() {
    let mut rng = SplitMix64::new(3);
    let mut x = FeatureMatrix::new(names(2));
    let mut labels = Vec::new();
    for _ in 0..4000 {
        let row = [rng.next_f64() * 2.0 - 1.0, rng.next_f64() * 2.0 - 1.0];
        labels.push(rng.next_f64() < sigmoid(3.0 * row[0] - 1.0 * row[1] + 0.5));
        x.push_row(&row.map(|v| v as f32)).unwrap();
    }
    let params = LogisticParams {
        l2: 0.0,
        ..LogisticParams::default()
    };
    let model = LogisticRegression::fit(&x, &labels, &params).unwrap();
    // Back on the raw scale: weight / scale, intercept − Σ weight·mean/scale.
    let raw: Vec<f64> = (0..2).map(|j| model.weights[j] / model.scales[j]).collect();
    let intercept = model.intercept - (0..2).map(|j| raw[j] * model.means[j]).sum::<f64>();
    assert!((raw[0] - 3.0).abs() < 0.3, "{raw:?}");
    assert!((raw[1] + 1.0).abs() < 0.2, "{raw:?}");
    assert!((intercept - 0.5).abs() < 0.15, "{intercept}");

    let row = x.row(0);
    let explanation = model.explain(row);
    assert!((explanation.log_odds() - model.predict_log_odds(row)).abs() < 1e-9);
    // A missing value contributes nothing: the prediction is the one at the mean.
    let partial = model.explain(&[row[0], f32::NAN]);
    assert_eq!(partial.contributions.len(), 1);
}

#[test]
fn fit_errors() {
    let x = FeatureMatrix::from_rows(names(1), vec![1.0, 2.0]).unwrap();
    assert_eq!(
        LogisticRegression::fit(&x, &[true], &LogisticParams::default()),
        Err(FitError::LengthMismatch { rows: 2, labels: 1 })
    );
    assert_eq!(
        BoostedTrees::fit(&x, &[true, true], &BoostParams::default()),
        Err(FitError::SingleClass)
    );
    let params = BoostParams {
        max_bins: 1,
        ..BoostParams::default()
    };
    assert!(matches!(
        BoostedTrees::fit(&x, &[true, false], &params),
        Err(FitError::InvalidParameter {
            name: "max_bins",
            ..
        })
    ));
}

#[test]
fn boosted_trees_learn_an_interaction_logistic_regression_misses() {
    let (x, labels) = synthetic(6000, 1);
    let (test_x, test_labels) = synthetic(3000, 2);
    let boosted = BoostedTrees::fit(&x, &labels, &BoostParams::default()).unwrap();
    let logistic = LogisticRegression::fit(&x, &labels, &LogisticParams::default()).unwrap();
    let auc_boosted = roc_auc(&test_labels, &boosted.predict_proba_all(&test_x)).unwrap();
    let auc_logistic = roc_auc(&test_labels, &logistic.predict_proba_all(&test_x)).unwrap();
    // The Bayes-optimal score σ(2·x0 + 2·x0·x1 − 1) on the same test rows.
    let oracle: Vec<f64> = test_x
        .rows()
        .map(|r| sigmoid(2.0 * f64::from(r[0]) + 2.0 * f64::from(r[0]) * f64::from(r[1]) - 1.0))
        .collect();
    let auc_oracle = roc_auc(&test_labels, &oracle).unwrap();
    assert!(
        auc_boosted > auc_logistic + 0.01,
        "{auc_boosted} vs {auc_logistic}"
    );
    assert!(
        auc_boosted > auc_oracle - 0.02,
        "{auc_boosted} vs oracle {auc_oracle}"
    );
    assert!(
        boosted.trees.len() < BoostParams::default().n_trees,
        "early stopping never fired"
    );
}

#[test]
fn boosted_trees_learn_where_missing_values_go() {
    // x0 is missing for a third of the rows, and those rows are mostly positive; x0 < 0.5
    // rows are mostly negative, x0 ≥ 0.5 mostly positive.
    let mut rng = SplitMix64::new(5);
    let mut x = FeatureMatrix::new(names(2));
    let mut labels = Vec::new();
    for i in 0..3000 {
        let v = rng.next_f64() as f32;
        let (value, p) = if i % 3 == 0 {
            (f32::NAN, 0.9)
        } else if v < 0.5 {
            (v, 0.1)
        } else {
            (v, 0.8)
        };
        labels.push(rng.next_f64() < p);
        x.push_row(&[value, rng.next_f64() as f32]).unwrap();
    }
    // Small trees: the signal is one split deep, and deeper trees would fit noise.
    let params = BoostParams {
        max_leaves: 4,
        learning_rate: 0.1,
        ..BoostParams::default()
    };
    let model = BoostedTrees::fit(&x, &labels, &params).unwrap();
    let p_missing = model.predict_proba(&[f32::NAN, 0.5]);
    let p_low = model.predict_proba(&[0.2, 0.5]);
    let p_high = model.predict_proba(&[0.8, 0.5]);
    assert!((p_missing - 0.9).abs() < 0.05, "{p_missing}");
    assert!((p_low - 0.1).abs() < 0.05, "{p_low}");
    assert!((p_high - 0.8).abs() < 0.05, "{p_high}");

    // The path attribution adds up to the log-odds and credits x0 first.
    let explanation = model.explain(&[f32::NAN, 0.5]);
    assert!((explanation.log_odds() - model.predict_log_odds(&[f32::NAN, 0.5])).abs() < 1e-9);
    assert_eq!(explanation.top(1)[0].name, "x0");
    assert!(explanation.top(1)[0].value > 0.0);
}

#[test]
fn unseen_missing_values_follow_the_heavier_side() {
    // No missing value in training: a NaN at prediction time follows the heavier side of
    // every split, here the bigger group (x0 < 0.7, 70 % of rows, 10 % positive) rather than
    // the smaller one (90 % positive).
    let mut x = FeatureMatrix::new(names(1));
    let mut labels = Vec::new();
    for i in 0..1000 {
        let v = i as f32 / 1000.0;
        x.push_row(&[v]).unwrap();
        labels.push(if v < 0.7 { i % 10 == 0 } else { i % 10 != 0 });
    }
    let params = BoostParams {
        validation_fraction: 0.0,
        n_trees: 100,
        ..BoostParams::default()
    };
    let model = BoostedTrees::fit(&x, &labels, &params).unwrap();
    let p_missing = model.predict_proba(&[f32::NAN]);
    assert!(p_missing < 0.2, "{p_missing}");
}

#[test]
fn calibration_maps() {
    // Over-confident scores: the true rate is 0.3 where the model says 0.1 and 0.7 where it
    // says 0.9.
    let mut probabilities = Vec::new();
    let mut labels = Vec::new();
    for i in 0..1000 {
        probabilities.push(0.1);
        labels.push(i % 10 < 3);
        probabilities.push(0.9);
        labels.push(i % 10 < 7);
    }
    let platt = Calibration::fit_platt(&probabilities, &labels);
    let isotonic = Calibration::fit_isotonic(&probabilities, &labels);
    let rendered = format!(
        "platt {:.3} {:.3}\nisotonic {:.3} {:.3} {:.3}\nidentity {}\n",
        platt.apply(0.1),
        platt.apply(0.9),
        isotonic.apply(0.1),
        isotonic.apply(0.5),
        isotonic.apply(0.9),
        Calibration::Identity.apply(0.25),
    );
    expect![[r#"
        platt 0.300 0.700
        isotonic 0.300 0.300 0.700
        identity 0.25
    "#]]
    .assert_eq(&rendered);
}

#[test]
fn isotonic_pools_violators() {
    let probabilities = [0.1, 0.2, 0.3, 0.4];
    let labels = [false, true, false, true];
    let Calibration::Isotonic { steps } = Calibration::fit_isotonic(&probabilities, &labels) else {
        panic!("not isotonic")
    };
    let rendered: Vec<String> = steps
        .iter()
        .map(|s| format!("{}→{}", s.score, s.probability))
        .collect();
    expect![[r#"["0.1→0", "0.2→0.5", "0.4→1"]"#]].assert_eq(&format!("{rendered:?}"));
}

#[test]
fn model_report_renders() {
    let (x, labels) = synthetic(500, 9);
    let model = LogisticRegression::fit(&x, &labels, &LogisticParams::default()).unwrap();
    let report = ModelReport::logistic(&model, 500, 0.25);
    expect![[r#"
        model: logistic regression
        training rows: 500 (25.0 % positive)
          l2 = 1
          features = 3
          newton_iterations = 6
    "#]]
    .assert_eq(&report.to_string());
}
