//! The Gamma-Gamma model of order value (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo &
//! Jiang 1999).
//!
//! Each order of a customer is worth z ~ Gamma(p, ν), and ν ~ Gamma(q, γ) across customers.
//! The mean m̄ₓ of x orders is Gamma(px, νx), so
//!
//! ```text
//! L(p, q, γ | x, m̄ₓ) = Γ(px+q) / (Γ(px) Γ(q)) · γ^q · m̄ₓ^{px−1} · x^{px} / (γ + x m̄ₓ)^{px+q}.
//! ```

use statrs::function::gamma::{digamma, ln_gamma};

use super::data::SpendData;
use super::optim::{self, Objective};
use super::{BtydError, Fit, FitOptions};

/// Gamma-Gamma parameters: order values z ~ Gamma(shape `p`, rate ν) with ν ~ Gamma(shape `q`,
/// rate `gamma`). `gamma` is in the currency unit of the order values.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GammaGamma {
    /// Shape of the order-value distribution of one customer.
    pub p: f64,
    /// Shape of the distribution of the customers' rate parameters.
    pub q: f64,
    /// Rate of the distribution of the customers' rate parameters.
    pub gamma: f64,
}

impl GammaGamma {
    /// The parameters as an array `[p, q, gamma]`.
    pub fn to_array(&self) -> [f64; 3] {
        [self.p, self.q, self.gamma]
    }

    /// Checks that every parameter is positive and finite.
    pub fn check(&self) -> Result<(), BtydError> {
        for (name, v) in [("p", self.p), ("q", self.q), ("gamma", self.gamma)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(BtydError::InvalidParameter {
                    name,
                    reason: "Gamma-Gamma parameters must be positive and finite",
                });
            }
        }
        Ok(())
    }

    /// Maximum-likelihood fit, starting from `p = 1`, `q = 2` and `gamma` equal to the mean
    /// order value (so that the starting population mean pγ/(q−1) matches the data).
    pub fn fit(data: &SpendData, options: &FitOptions) -> Result<Fit<Self>, BtydError> {
        let mean = data
            .rows
            .iter()
            .zip(&data.weights)
            .map(|(&(_, m), &w)| w * m)
            .sum::<f64>()
            / data.total_weight;
        let start = Self {
            p: 1.0,
            q: 2.0,
            gamma: mean,
        };
        Self::fit_from(data, start, options)
    }

    /// Maximum-likelihood fit from a given starting point.
    pub fn fit_from(
        data: &SpendData,
        start: Self,
        options: &FitOptions,
    ) -> Result<Fit<Self>, BtydError> {
        start.check()?;
        let objective = SpendObjective::new(data);
        let theta0 = start.to_array().map(f64::ln).to_vec();
        let min = optim::minimize("Gamma-Gamma", &objective, theta0, options)?;
        let model = Self {
            p: min.theta[0].exp(),
            q: min.theta[1].exp(),
            gamma: min.theta[2].exp(),
        };
        Ok(Fit {
            model,
            log_likelihood: -min.value * data.total_weight,
            customers: data.total_weight,
            iterations: min.iterations,
        })
    }

    /// Total log-likelihood of the data.
    pub fn log_likelihood(&self, data: &SpendData) -> f64 {
        let objective = SpendObjective::new(data);
        -objective.eval(&self.to_array().map(f64::ln), &mut [0.0; 3]) * data.total_weight
    }

    /// Standard errors of the parameters at these (maximum-likelihood) parameters, as a
    /// `GammaGamma` holding the standard error of each; `None` when the information is
    /// singular.
    pub fn standard_errors(&self, data: &SpendData) -> Option<Self> {
        let objective = SpendObjective::new(data);
        let w = data.total_weight;
        let [p, q, gamma] = optim::standard_errors(self.to_array(), |v| {
            let mut g = [0.0; 3];
            objective.eval(&v.map(f64::ln), &mut g);
            [0, 1, 2].map(|i| -g[i] * w / v[i])
        })?;
        Some(Self { p, q, gamma })
    }

    /// Population mean order value E[Z] = pγ / (q − 1); needs q > 1.
    pub fn mean_value(&self) -> Result<f64, BtydError> {
        self.conditional_expected_value(0, 0.0)
    }

    /// Expected value of the customer's orders given `x` repeat orders with mean value
    /// `mean_value`: E[Z | x, m̄ₓ] = p(γ + x m̄ₓ) / (px + q − 1), a weighted mean of the
    /// population mean and the customer's own mean. With `x = 0` it is the population mean.
    pub fn conditional_expected_value(&self, x: u32, mean_value: f64) -> Result<f64, BtydError> {
        let x = f64::from(x);
        let denominator = self.p * x + self.q - 1.0;
        if denominator <= 0.0 {
            return Err(BtydError::InvalidParameter {
                name: "q",
                reason: "the expected order value is infinite (q ≤ 1 with too few orders)",
            });
        }
        Ok(self.p * (self.gamma + x * mean_value) / denominator)
    }
}

/// Mean negative log-likelihood per customer as a function of the log-parameters.
pub(super) struct SpendObjective<'a> {
    data: &'a SpendData,
    /// Weight of each distinct `x`.
    x_weight: Vec<f64>,
    /// ln m̄ of each row.
    ln_m: Vec<f64>,
}

impl<'a> SpendObjective<'a> {
    pub(super) fn new(data: &'a SpendData) -> Self {
        Self {
            data,
            x_weight: data
                .x_rows
                .iter()
                .map(|range| data.weights[range.clone()].iter().sum())
                .collect(),
            ln_m: data.rows.iter().map(|&(_, m)| m.ln()).collect(),
        }
    }
}

impl Objective for SpendObjective<'_> {
    fn eval(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let d = self.data;
        let (p, q, gamma) = (theta[0].exp(), theta[1].exp(), theta[2].exp());
        let ln_gamma_par = gamma.ln();
        let (lg_q, dg_q) = (ln_gamma(q), digamma(q));
        let (mut ll, mut g_p, mut g_q, mut g_gamma) = (0.0, 0.0, 0.0, 0.0);
        for (k, (&x, range)) in d.xs.iter().zip(&d.x_rows).enumerate() {
            let xf = f64::from(x);
            let px = p * xf;
            let wx = self.x_weight[k];
            let ln_x = xf.ln();
            ll += wx * (ln_gamma(px + q) - ln_gamma(px) - lg_q + q * ln_gamma_par + px * ln_x);
            let dg_pxq = digamma(px + q);
            g_p += wx * xf * (dg_pxq - digamma(px) + ln_x);
            g_q += wx * (dg_pxq - dg_q + ln_gamma_par);
            g_gamma += wx * q / gamma;
            for i in range.clone() {
                let (_, m) = d.rows[i];
                let w = d.weights[i];
                let ln_m = self.ln_m[i];
                let denom = xf * m + gamma;
                let ln_denom = denom.ln();
                ll += w * ((px - 1.0) * ln_m - (px + q) * ln_denom);
                g_p += w * xf * (ln_m - ln_denom);
                g_q -= w * ln_denom;
                g_gamma -= w * (px + q) / denom;
            }
        }
        let scale = -1.0 / d.total_weight;
        grad[0] = scale * g_p * p;
        grad[1] = scale * g_q * q;
        grad[2] = scale * g_gamma * gamma;
        scale * ll
    }
}
