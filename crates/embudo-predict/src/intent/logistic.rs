//! L2-regularised logistic regression on standardised features, fitted by Newton's method
//! (iteratively reweighted least squares) with a Cholesky solve.

use crate::intent::{Explanation, FeatureMatrix, FitError, check_training_data, sigmoid};

/// Hyper-parameters of [`LogisticRegression::fit`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LogisticParams {
    /// L2 penalty λ on the standardised weights (not on the intercept): the fit minimises
    /// Σ log-loss + λ/2 ‖w‖². λ = 1 matches scikit-learn's default `C = 1`.
    pub l2: f64,
    /// Maximum Newton iterations.
    pub max_iterations: usize,
    /// Stop when the largest step of a coefficient is below this.
    pub tolerance: f64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        Self {
            l2: 1.0,
            max_iterations: 100,
            tolerance: 1e-8,
        }
    }
}

/// A fitted logistic regression. Features are standardised with the training means and
/// standard deviations; a missing value is replaced by the mean (it contributes nothing).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LogisticRegression {
    /// Names of the feature columns.
    pub feature_names: Vec<String>,
    /// Training means of the features (missing values left out).
    pub means: Vec<f64>,
    /// Training standard deviations (1 for a constant feature).
    pub scales: Vec<f64>,
    /// Weights of the standardised features.
    pub weights: Vec<f64>,
    /// The intercept (log-odds at the mean of every feature).
    pub intercept: f64,
    /// The parameters it was fitted with.
    pub params: LogisticParams,
    /// Newton iterations used.
    pub iterations: usize,
}

impl LogisticRegression {
    /// Fits the model.
    pub fn fit(
        x: &FeatureMatrix,
        labels: &[bool],
        params: &LogisticParams,
    ) -> Result<Self, FitError> {
        check_training_data(x, labels)?;
        if params.l2.is_nan() || params.l2 < 0.0 {
            return Err(FitError::InvalidParameter {
                name: "l2",
                reason: "must not be negative",
            });
        }
        let d = x.n_cols();
        let (means, scales) = standardisation(x);
        // Standardised design with a leading 1 for the intercept.
        let width = d + 1;
        let mut z = Vec::with_capacity(x.n_rows() * width);
        for row in x.rows() {
            z.push(1.0);
            z.extend(
                row.iter()
                    .enumerate()
                    .map(|(j, &v)| standardise(v, means[j], scales[j])),
            );
        }
        let y: Vec<f64> = labels
            .iter()
            .map(|&label| f64::from(u8::from(label)))
            .collect();

        let mut beta = vec![0.0; width];
        let positive_rate = y.iter().sum::<f64>() / y.len() as f64;
        beta[0] = (positive_rate / (1.0 - positive_rate)).ln();
        let mut iterations = 0;
        for _ in 0..params.max_iterations {
            iterations += 1;
            let mut gradient = vec![0.0; width];
            let mut hessian = vec![0.0; width * width];
            for (row, &target) in z.chunks_exact(width).zip(&y) {
                let p = sigmoid(dot(row, &beta));
                let w = (p * (1.0 - p)).max(1e-12);
                let residual = p - target;
                for a in 0..width {
                    gradient[a] += residual * row[a];
                    let wa = w * row[a];
                    if wa == 0.0 {
                        continue;
                    }
                    for b in a..width {
                        hessian[a * width + b] += wa * row[b];
                    }
                }
            }
            for a in 1..width {
                gradient[a] += params.l2 * beta[a];
                hessian[a * width + a] += params.l2;
            }
            for a in 0..width {
                for b in 0..a {
                    hessian[a * width + b] = hessian[b * width + a];
                }
            }
            let step = cholesky_solve(&mut hessian, &gradient, width).ok_or(
                FitError::NoConvergence("the hessian is not positive definite"),
            )?;
            let mut largest = 0.0f64;
            for (b, s) in beta.iter_mut().zip(&step) {
                *b -= s;
                largest = largest.max(s.abs());
            }
            if largest < params.tolerance {
                break;
            }
        }
        Ok(Self {
            feature_names: x.names().to_vec(),
            means,
            scales,
            weights: beta[1..].to_vec(),
            intercept: beta[0],
            params: params.clone(),
            iterations,
        })
    }

    /// The log-odds for one row.
    pub fn predict_log_odds(&self, row: &[f32]) -> f64 {
        self.intercept
            + row
                .iter()
                .enumerate()
                .map(|(j, &v)| self.weights[j] * standardise(v, self.means[j], self.scales[j]))
                .sum::<f64>()
    }

    /// The probability of a positive label for one row.
    pub fn predict_proba(&self, row: &[f32]) -> f64 {
        sigmoid(self.predict_log_odds(row))
    }

    /// Probabilities for every row of a matrix.
    pub fn predict_proba_all(&self, x: &FeatureMatrix) -> Vec<f64> {
        x.rows().map(|row| self.predict_proba(row)).collect()
    }

    /// Exact decomposition: weight × standardised value per feature, the intercept as bias.
    pub fn explain(&self, row: &[f32]) -> Explanation {
        let values: Vec<f64> = row
            .iter()
            .enumerate()
            .map(|(j, &v)| self.weights[j] * standardise(v, self.means[j], self.scales[j]))
            .collect();
        Explanation::from_dense(self.intercept, &values, &self.feature_names)
    }
}

fn standardisation(x: &FeatureMatrix) -> (Vec<f64>, Vec<f64>) {
    let d = x.n_cols();
    let mut sums = vec![0.0; d];
    let mut counts = vec![0usize; d];
    for row in x.rows() {
        for (j, &v) in row.iter().enumerate() {
            if !v.is_nan() {
                sums[j] += f64::from(v);
                counts[j] += 1;
            }
        }
    }
    let means: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(&s, &c)| if c > 0 { s / c as f64 } else { 0.0 })
        .collect();
    let mut squares = vec![0.0; d];
    for row in x.rows() {
        for (j, &v) in row.iter().enumerate() {
            if !v.is_nan() {
                squares[j] += (f64::from(v) - means[j]).powi(2);
            }
        }
    }
    let scales = squares
        .iter()
        .zip(&counts)
        .map(|(&s, &c)| {
            let sd = if c > 0 { (s / c as f64).sqrt() } else { 0.0 };
            if sd > 1e-12 { sd } else { 1.0 }
        })
        .collect();
    (means, scales)
}

fn standardise(value: f32, mean: f64, scale: f64) -> f64 {
    if value.is_nan() {
        0.0
    } else {
        (f64::from(value) - mean) / scale
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves A x = b for a symmetric positive definite A (overwritten by its Cholesky factor).
fn cholesky_solve(a: &mut [f64], b: &[f64], n: usize) -> Option<Vec<f64>> {
    for j in 0..n {
        let mut diagonal = a[j * n + j];
        for k in 0..j {
            diagonal -= a[j * n + k] * a[j * n + k];
        }
        if diagonal.is_nan() || diagonal <= 0.0 {
            return None;
        }
        let diagonal = diagonal.sqrt();
        a[j * n + j] = diagonal;
        for i in j + 1..n {
            let mut value = a[i * n + j];
            for k in 0..j {
                value -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = value / diagonal;
        }
    }
    let mut y = b.to_vec();
    for i in 0..n {
        for k in 0..i {
            y[i] -= a[i * n + k] * y[k];
        }
        y[i] /= a[i * n + i];
    }
    for i in (0..n).rev() {
        for k in i + 1..n {
            y[i] -= a[k * n + i] * y[k];
        }
        y[i] /= a[i * n + i];
    }
    Some(y)
}
