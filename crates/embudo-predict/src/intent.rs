//! Purchase-intent models: logistic regression and gradient-boosted trees.
//!
//! Both models read a dense [`FeatureMatrix`] (f32, missing values as NaN) and a `bool` label
//! per row, predict a probability, and explain a prediction as signed per-feature
//! contributions on the log-odds scale. [`Calibration`] maps raw probabilities to calibrated
//! ones (Platt scaling or isotonic regression fitted on out-of-fold predictions), and
//! [`ModelReport`] summarises a fitted model for people.

mod boost;
mod calibration;
mod logistic;
mod matrix;
mod report;

pub use boost::{BoostParams, BoostedTrees, Node, Tree};
pub use calibration::{Calibration, IsotonicStep};
pub use logistic::{LogisticParams, LogisticRegression};
pub use matrix::FeatureMatrix;
pub use report::{ModelKind, ModelReport};

/// Why a model could not be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    /// The number of labels differs from the number of rows.
    #[error("{rows} rows but {labels} labels")]
    LengthMismatch {
        /// Rows of the feature matrix.
        rows: usize,
        /// Labels given.
        labels: usize,
    },
    /// There is nothing to learn from.
    #[error("no training rows")]
    Empty,
    /// Both classes must occur in the training labels.
    #[error("the training labels hold only one class")]
    SingleClass,
    /// A parameter is outside its valid range.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The optimiser met a singular system (for example a constant feature without L2).
    #[error("the fit did not converge: {0}")]
    NoConvergence(&'static str),
}

/// One feature's share in a prediction, on the log-odds scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// Column index in the feature matrix.
    pub feature: usize,
    /// Column name.
    pub name: String,
    /// Signed contribution to the log-odds (positive pushes toward buying).
    pub value: f64,
}

/// A prediction broken down into a bias and per-feature contributions whose sum is the
/// model's log-odds for the row.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The log-odds before any feature is looked at.
    pub bias: f64,
    /// Contributions sorted by decreasing absolute value, zeros left out.
    pub contributions: Vec<Contribution>,
}

impl Explanation {
    /// The log-odds the explanation adds up to.
    pub fn log_odds(&self) -> f64 {
        self.bias + self.contributions.iter().map(|c| c.value).sum::<f64>()
    }

    /// The `n` largest contributions by absolute value.
    pub fn top(&self, n: usize) -> &[Contribution] {
        &self.contributions[..n.min(self.contributions.len())]
    }

    pub(crate) fn from_dense(bias: f64, values: &[f64], names: &[String]) -> Self {
        let mut contributions: Vec<Contribution> = values
            .iter()
            .enumerate()
            .filter(|&(_, &value)| value != 0.0)
            .map(|(feature, &value)| Contribution {
                feature,
                name: names.get(feature).cloned().unwrap_or_default(),
                value,
            })
            .collect();
        contributions.sort_by(|a, b| b.value.abs().total_cmp(&a.value.abs()));
        Self {
            bias,
            contributions,
        }
    }
}

/// The logistic function 1 / (1 + e⁻ˣ), stable for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The log-odds ln(p / (1 − p)), with p clipped to [1e-12, 1 − 1e-12].
pub fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p)).ln()
}

pub(crate) fn check_training_data(x: &FeatureMatrix, labels: &[bool]) -> Result<(), FitError> {
    if x.n_rows() != labels.len() {
        return Err(FitError::LengthMismatch {
            rows: x.n_rows(),
            labels: labels.len(),
        });
    }
    if labels.is_empty() {
        return Err(FitError::Empty);
    }
    let n_pos = labels.iter().filter(|&&label| label).count();
    if n_pos == 0 || n_pos == labels.len() {
        return Err(FitError::SingleClass);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
