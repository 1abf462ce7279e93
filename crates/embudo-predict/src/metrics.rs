//! Classification metrics: ROC-AUC, PR-AUC, F1, Brier score, log loss and accuracy, and
//! stratified k-fold splitting driven by a caller-given seed.
//!
//! All functions take the true labels as `bool` (true = positive) and the predicted scores or
//! probabilities as `f64`, in the same order.

mod rng;

pub use rng::SplitMix64;

/// Why a metric could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricError {
    /// The label and score slices have different lengths.
    #[error("labels and scores differ in length ({labels} and {scores})")]
    LengthMismatch {
        /// Number of labels.
        labels: usize,
        /// Number of scores.
        scores: usize,
    },
    /// There are no rows at all.
    #[error("no rows to score")]
    Empty,
    /// A ranking metric needs both classes among the labels.
    #[error("both classes are needed, the labels hold only one")]
    SingleClass,
}

/// The usual figures for a binary classifier, computed by [`classification_metrics`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassificationMetrics {
    /// Area under the ROC curve.
    pub roc_auc: f64,
    /// Area under the precision-recall curve, as average precision.
    pub pr_auc: f64,
    /// F1 score at the threshold given.
    pub f1: f64,
    /// Mean squared error of the probabilities.
    pub brier: f64,
    /// Mean negative log-likelihood (natural log).
    pub log_loss: f64,
    /// Share of rows classified correctly at the threshold given.
    pub accuracy: f64,
}

/// Computes every figure of [`ClassificationMetrics`]; `threshold` classifies a row as
/// positive when its probability is at least the threshold.
pub fn classification_metrics(
    labels: &[bool],
    probabilities: &[f64],
    threshold: f64,
) -> Result<ClassificationMetrics, MetricError> {
    Ok(ClassificationMetrics {
        roc_auc: roc_auc(labels, probabilities)?,
        pr_auc: average_precision(labels, probabilities)?,
        f1: f1_score(labels, probabilities, threshold)?,
        brier: brier_score(labels, probabilities)?,
        log_loss: log_loss(labels, probabilities)?,
        accuracy: accuracy(labels, probabilities, threshold)?,
    })
}

/// Area under the ROC curve: the probability that a random positive scores above a random
/// negative, ties counting one half (the Mann-Whitney statistic with mid-ranks).
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> Result<f64, MetricError> {
    check(labels, scores)?;
    let (n_pos, n_neg) = class_counts(labels);
    if n_pos == 0 || n_neg == 0 {
        return Err(MetricError::SingleClass);
    }
    let order = order_by_score(scores, false);
    // Sum of the (1-based, mid-) ranks of the positives in ascending score order.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        let mid_rank = (start + 1 + end) as f64 / 2.0;
        let n_pos_tied = order[start..end].iter().filter(|&&row| labels[row]).count();
        rank_sum += mid_rank * n_pos_tied as f64;
        start = end;
    }
    let (n_pos, n_neg) = (n_pos as f64, n_neg as f64);
    Ok((rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg))
}

/// Area under the precision-recall curve as average precision, computed as scikit-learn's
/// `average_precision_score`: Σₙ (Rₙ − Rₙ₋₁) Pₙ over the distinct score thresholds, from the
/// highest down, without interpolation.
pub fn average_precision(labels: &[bool], scores: &[f64]) -> Result<f64, MetricError> {
    check(labels, scores)?;
    let (n_pos, _) = class_counts(labels);
    if n_pos == 0 {
        return Err(MetricError::SingleClass);
    }
    let order = order_by_score(scores, true);
    let mut true_pos = 0usize;
    let mut seen = 0usize;
    let mut previous_recall = 0.0;
    let mut area = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        true_pos += order[start..end].iter().filter(|&&row| labels[row]).count();
        seen += end - start;
        let recall = true_pos as f64 / n_pos as f64;
        let precision = true_pos as f64 / seen as f64;
        area += (recall - previous_recall) * precision;
        previous_recall = recall;
        start = end;
    }
    Ok(area)
}

/// F1 score (harmonic mean of precision and recall) when rows with a probability of at least
/// `threshold` are called positive; 0 when there are no true positives.
pub fn f1_score(
    labels: &[bool],
    probabilities: &[f64],
    threshold: f64,
) -> Result<f64, MetricError> {
    check(labels, probabilities)?;
    let (mut true_pos, mut false_pos, mut false_neg) = (0usize, 0usize, 0usize);
    for (&label, &p) in labels.iter().zip(probabilities) {
        match (label, p >= threshold) {
            (true, true) => true_pos += 1,
            (false, true) => false_pos += 1,
            (true, false) => false_neg += 1,
            (false, false) => {}
        }
    }
    if true_pos == 0 {
        return Ok(0.0);
    }
    Ok(2.0 * true_pos as f64 / (2 * true_pos + false_pos + false_neg) as f64)
}

/// Brier score: the mean squared difference between probability and outcome (0 is perfect).
pub fn brier_score(labels: &[bool], probabilities: &[f64]) -> Result<f64, MetricError> {
    check(labels, probabilities)?;
    let sum: f64 = labels
        .iter()
        .zip(probabilities)
        .map(|(&label, &p)| (p - f64::from(u8::from(label))).powi(2))
        .sum();
    Ok(sum / labels.len() as f64)
}

/// Mean negative log-likelihood, probabilities clipped to [1e-15, 1 − 1e-15].
pub fn log_loss(labels: &[bool], probabilities: &[f64]) -> Result<f64, MetricError> {
    check(labels, probabilities)?;
    let sum: f64 = labels
        .iter()
        .zip(probabilities)
        .map(|(&label, &p)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            if label { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    Ok(sum / labels.len() as f64)
}

/// Share of rows whose class (positive when the probability is at least `threshold`) is right.
pub fn accuracy(
    labels: &[bool],
    probabilities: &[f64],
    threshold: f64,
) -> Result<f64, MetricError> {
    check(labels, probabilities)?;
    let right = labels
        .iter()
        .zip(probabilities)
        .filter(|&(&label, &p)| label == (p >= threshold))
        .count();
    Ok(right as f64 / labels.len() as f64)
}

/// Assigns every row to one of `n_folds` folds so that each fold holds (within one row) the
/// same number of positives and of negatives. Rows are shuffled within their class with a
/// [`SplitMix64`] seeded by `seed`, so the split is reproducible. Returns the fold of each row.
pub fn stratified_folds(labels: &[bool], n_folds: usize, seed: u64) -> Vec<usize> {
    let n_folds = n_folds.max(1);
    let mut rng = SplitMix64::new(seed);
    let mut folds = vec![0; labels.len()];
    // Continue the round-robin across classes so fold sizes stay balanced overall.
    let mut next_fold = 0;
    for class in [true, false] {
        let mut rows: Vec<usize> = (0..labels.len())
            .filter(|&row| labels[row] == class)
            .collect();
        rng.shuffle(&mut rows);
        for row in rows {
            folds[row] = next_fold;
            next_fold = (next_fold + 1) % n_folds;
        }
    }
    folds
}

fn check(labels: &[bool], scores: &[f64]) -> Result<(), MetricError> {
    if labels.len() != scores.len() {
        return Err(MetricError::LengthMismatch {
            labels: labels.len(),
            scores: scores.len(),
        });
    }
    if labels.is_empty() {
        return Err(MetricError::Empty);
    }
    Ok(())
}

fn class_counts(labels: &[bool]) -> (usize, usize) {
    let n_pos = labels.iter().filter(|&&label| label).count();
    (n_pos, labels.len() - n_pos)
}

/// Row indices sorted by score (NaN last in either direction).
fn order_by_score(scores: &[f64], descending: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| {
        let ordering = scores[a].total_cmp(&scores[b]);
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
    order
}

#[cfg(test)]
mod tests;
