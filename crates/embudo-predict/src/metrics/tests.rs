use expect_test::expect;

use super::*;

#[test]
fn roc_auc_counts_ties_as_half() {
    // Positives at 0.8 and 0.4; negatives at 0.4 and 0.1.
    // Pairs: (0.8 > 0.4) 1, (0.8 > 0.1) 1, (0.4 = 0.4) 0.5, (0.4 > 0.1) 1 → 3.5 / 4.
    let labels = [true, true, false, false];
    let scores = [0.8, 0.4, 0.4, 0.1];
    assert_eq!(roc_auc(&labels, &scores), Ok(0.875));
    // A perfect and a reversed ranking.
    assert_eq!(roc_auc(&labels, &[4.0, 3.0, 2.0, 1.0]), Ok(1.0));
    assert_eq!(roc_auc(&labels, &[1.0, 2.0, 3.0, 4.0]), Ok(0.0));
    assert_eq!(roc_auc(&labels, &[1.0; 4]), Ok(0.5));
}

#[test]
fn roc_auc_needs_both_classes() {
    assert_eq!(
        roc_auc(&[true, true], &[0.1, 0.2]),
        Err(MetricError::SingleClass)
    );
    assert_eq!(
        roc_auc(&[true], &[0.1, 0.2]),
        Err(MetricError::LengthMismatch {
            labels: 1,
            scores: 2
        })
    );
    assert_eq!(roc_auc(&[], &[]), Err(MetricError::Empty));
}

#[test]
fn average_precision_matches_scikit_learn() {
    // sklearn.metrics.average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.8333…
    let labels = [false, false, true, true];
    let ap = average_precision(&labels, &[0.1, 0.4, 0.35, 0.8]).unwrap();
    assert!((ap - 5.0 / 6.0).abs() < 1e-12, "{ap}");
    // With a tie at the top: thresholds 0.9 (2 rows, 1 positive), then 0.2 (1 positive).
    // AP = 0.5 · 1/2 + 0.5 · 2/3.
    let ap = average_precision(&[true, false, true], &[0.9, 0.9, 0.2]).unwrap();
    assert!((ap - (0.25 + 1.0 / 3.0)).abs() < 1e-12, "{ap}");
}

#[test]
fn threshold_metrics() {
    let labels = [true, true, false, false, true];
    let probabilities = [0.9, 0.3, 0.6, 0.1, 0.5];
    // At 0.5: TP = 2 (0.9, 0.5), FP = 1 (0.6), FN = 1 (0.3) → F1 = 4 / 6.
    let f1 = f1_score(&labels, &probabilities, 0.5).unwrap();
    assert!((f1 - 4.0 / 6.0).abs() < 1e-12);
    assert_eq!(accuracy(&labels, &probabilities, 0.5), Ok(0.6));
    assert_eq!(f1_score(&labels, &probabilities, 0.95), Ok(0.0));
    let brier = brier_score(&labels, &probabilities).unwrap();
    let expected = (0.01 + 0.49 + 0.36 + 0.01 + 0.25) / 5.0;
    assert!((brier - expected).abs() < 1e-12);
    let loss = log_loss(&[true, false], &[0.5, 0.5]).unwrap();
    assert!((loss - std::f64::consts::LN_2).abs() < 1e-12);
}

#[test]
fn stratified_folds_balance_classes_and_depend_on_the_seed() {
    let labels: Vec<bool> = (0..103).map(|i| i % 5 == 0).collect();
    let folds = stratified_folds(&labels, 5, 7);
    let mut table = String::new();
    for fold in 0..5 {
        let rows = folds.iter().filter(|&&f| f == fold).count();
        let pos = (0..labels.len())
            .filter(|&r| folds[r] == fold && labels[r])
            .count();
        table += &format!("fold {fold}: {rows} rows, {pos} positive\n");
    }
    expect![[r#"
        fold 0: 21 rows, 5 positive
        fold 1: 21 rows, 4 positive
        fold 2: 21 rows, 4 positive
        fold 3: 20 rows, 4 positive
        fold 4: 20 rows, 4 positive
    "#]]
    .assert_eq(&table);
    assert_eq!(folds, stratified_folds(&labels, 5, 7));
    assert_ne!(folds, stratified_folds(&labels, 5, 8));
}

#[test]
fn splitmix_is_uniform_enough() {
    let mut rng = SplitMix64::new(1);
    let mut counts = [0usize; 4];
    for _ in 0..40_000 {
        counts[rng.below(4)] += 1;
    }
    for count in counts {
        assert!((9_500..10_500).contains(&count), "{counts:?}");
    }
    let mean: f64 = (0..10_000).map(|_| rng.next_f64()).sum::<f64>() / 10_000.0;
    assert!((mean - 0.5).abs() < 0.01, "{mean}");
}
