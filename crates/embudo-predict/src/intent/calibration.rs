//! Probability calibration: Platt scaling and isotonic regression.
//!
//! Fit a calibration on out-of-fold predictions (never on the rows the model was trained on)
//! and apply it to new predictions.

use crate::intent::{logit, sigmoid};

/// A step of an isotonic calibration: scores at least `score` map to `probability`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct IsotonicStep {
    /// Lower end of the step (a training score).
    pub score: f64,
    /// Calibrated probability of the step.
    pub probability: f64,
}

/// A map from a model's probability to a calibrated probability.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Calibration {
    /// Leaves probabilities unchanged.
    Identity,
    /// Platt scaling: σ(a · logit(p) + b).
    Platt {
        /// Slope on the log-odds.
        a: f64,
        /// Offset on the log-odds.
        b: f64,
    },
    /// Isotonic regression (pool adjacent violators), linear between step midpoints.
    Isotonic {
        /// Steps in increasing score order.
        steps: Vec<IsotonicStep>,
    },
}

impl Calibration {
    /// Fits Platt scaling by Newton's method on the log-loss, with Platt's (1999) smoothed
    /// targets (N₊ + 1)/(N₊ + 2) and 1/(N₋ + 2) against over-confidence.
    pub fn fit_platt(probabilities: &[f64], labels: &[bool]) -> Self {
        let n_pos = labels.iter().filter(|&&label| label).count() as f64;
        let n_neg = labels.len() as f64 - n_pos;
        let high = (n_pos + 1.0) / (n_pos + 2.0);
        let low = 1.0 / (n_neg + 2.0);
        let scores: Vec<f64> = probabilities.iter().map(|&p| logit(p)).collect();
        let (mut a, mut b) = (1.0, 0.0);
        for _ in 0..100 {
            let (mut g_a, mut g_b, mut h_aa, mut h_ab, mut h_bb) = (0.0, 0.0, 1e-12, 0.0, 1e-12);
            for (&s, &label) in scores.iter().zip(labels) {
                let target = if label { high } else { low };
                let p = sigmoid(a * s + b);
                let w = p * (1.0 - p);
                g_a += (p - target) * s;
                g_b += p - target;
                h_aa += w * s * s;
                h_ab += w * s;
                h_bb += w;
            }
            let det = h_aa * h_bb - h_ab * h_ab;
            if det.abs() < 1e-300 {
                break;
            }
            let step_a = (h_bb * g_a - h_ab * g_b) / det;
            let step_b = (h_aa * g_b - h_ab * g_a) / det;
            a -= step_a;
            b -= step_b;
            if step_a.abs().max(step_b.abs()) < 1e-10 {
                break;
            }
        }
        Self::Platt { a, b }
    }

    /// Fits isotonic regression of the labels on the probabilities.
    pub fn fit_isotonic(probabilities: &[f64], labels: &[bool]) -> Self {
        let mut order: Vec<usize> = (0..probabilities.len()).collect();
        order.sort_by(|&i, &j| probabilities[i].total_cmp(&probabilities[j]));
        // Blocks of (lowest score, sum of labels, count), merged while they violate order.
        let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
        for &i in &order {
            blocks.push((probabilities[i], f64::from(u8::from(labels[i])), 1.0));
            while blocks.len() > 1 {
                let last = blocks[blocks.len() - 1];
                let previous = blocks[blocks.len() - 2];
                if previous.1 / previous.2 < last.1 / last.2 {
                    break;
                }
                blocks.pop();
                let merged = blocks.last_mut();
                if let Some(merged) = merged {
                    merged.1 += last.1;
                    merged.2 += last.2;
                }
            }
        }
        let steps = blocks
            .into_iter()
            .map(|(score, sum, count)| IsotonicStep {
                score,
                probability: sum / count,
            })
            .collect();
        Self::Isotonic { steps }
    }

    /// The calibrated probability.
    pub fn apply(&self, probability: f64) -> f64 {
        match self {
            Self::Identity => probability,
            Self::Platt { a, b } => sigmoid(a * logit(probability) + b),
            Self::Isotonic { steps } => {
                let index = steps.partition_point(|step| step.score <= probability);
                match index {
                    0 => steps.first().map_or(probability, |step| step.probability),
                    i => steps[i - 1].probability,
                }
            }
        }
    }
}
