//! The BG/NBD model (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way").
//!
//! While alive, a customer buys at rate λ ~ Gamma(r, α); after each purchase they drop out
//! with probability p ~ Beta(a, b). The likelihood of `(x, t_x, T)` is
//!
//! ```text
//! L = B(a, b+x)/B(a, b) · Γ(r+x) αʳ / (Γ(r) (α+T)^{r+x})
//!   · [1 + 1{x>0} · a/(b+x−1) · ((α+T)/(α+t_x))^{r+x}]
//! ```
//!
//! computed in log space with a stable softplus for the bracket.

use std::cell::RefCell;

use statrs::function::gamma::ln_gamma;

use super::clv::RepeatModel;
use super::data::{Cohort, History};
use super::optim::{self, Objective};
use super::special::{ln_phi1, rising_sums, series_g_tilde, sigmoid, softplus};
use super::{BtydError, Fit, FitOptions};

/// BG/NBD parameters: purchase rate λ ~ Gamma(shape `r`, rate `alpha`), drop-out probability
/// after each purchase p ~ Beta(`a`, `b`). `alpha` is in the time unit of the histories.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BgNbd {
    /// Shape of the purchase-rate distribution.
    pub r: f64,
    /// Rate (inverse scale) of the purchase-rate distribution, in 1 / time unit.
    pub alpha: f64,
    /// First shape of the drop-out probability distribution.
    pub a: f64,
    /// Second shape of the drop-out probability distribution.
    pub b: f64,
}

impl BgNbd {
    /// The parameters as an array `[r, alpha, a, b]`.
    pub fn to_array(&self) -> [f64; 4] {
        [self.r, self.alpha, self.a, self.b]
    }

    /// Checks that every parameter is positive and finite.
    pub fn check(&self) -> Result<(), BtydError> {
        for (name, v) in [
            ("r", self.r),
            ("alpha", self.alpha),
            ("a", self.a),
            ("b", self.b),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(BtydError::InvalidParameter {
                    name,
                    reason: "BG/NBD parameters must be positive and finite",
                });
            }
        }
        Ok(())
    }

    /// Maximum-likelihood fit, starting from `r = a = b = 1` and `alpha` set from the mean
    /// purchase rate of the cohort.
    pub fn fit(cohort: &Cohort, options: &FitOptions) -> Result<Fit<Self>, BtydError> {
        let (mut sum_x, mut sum_age) = (0.0, 0.0);
        for (h, w) in cohort.rows.iter().zip(&cohort.weights) {
            sum_x += w * f64::from(h.x);
            sum_age += w * h.age;
        }
        let alpha = if sum_x > 0.0 && sum_age > 0.0 {
            sum_age / sum_x
        } else {
            1.0
        };
        let start = Self {
            r: 1.0,
            alpha,
            a: 1.0,
            b: 1.0,
        };
        Self::fit_from(cohort, start, options)
    }

    /// Maximum-likelihood fit from a given starting point.
    pub fn fit_from(
        cohort: &Cohort,
        start: Self,
        options: &FitOptions,
    ) -> Result<Fit<Self>, BtydError> {
        start.check()?;
        let objective = BgNbdObjective::new(cohort);
        let theta0 = start.to_array().map(f64::ln).to_vec();
        let min = optim::minimize("BG/NBD", &objective, theta0, options)?;
        let model = Self {
            r: min.theta[0].exp(),
            alpha: min.theta[1].exp(),
            a: min.theta[2].exp(),
            b: min.theta[3].exp(),
        };
        Ok(Fit {
            model,
            log_likelihood: -min.value * cohort.total_weight,
            customers: cohort.total_weight,
            iterations: min.iterations,
        })
    }

    /// Total log-likelihood of a cohort (weights included).
    pub fn log_likelihood(&self, cohort: &Cohort) -> f64 {
        let objective = BgNbdObjective::new(cohort);
        let theta = self.to_array().map(f64::ln);
        -objective.eval(&theta, &mut [0.0; 4]) * cohort.total_weight
    }

    /// Log-likelihood of one history, straight from the formula (with ln Γ).
    pub fn history_log_likelihood(&self, h: &History) -> f64 {
        let Self { r, alpha, a, b } = *self;
        let x = f64::from(h.x);
        let base = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() - (r + x) * (alpha + h.age).ln()
            + ln_gamma(a + b)
            - ln_gamma(b)
            + ln_gamma(b + x)
            - ln_gamma(a + b + x);
        if h.x == 0 {
            base
        } else {
            base + softplus(self.alive_log_odds_neg(h))
        }
    }

    /// Standard errors of the parameters (observed information at these parameters, which
    /// should be the maximum-likelihood estimate for `cohort`), as a `BgNbd` holding the
    /// standard error of each parameter; `None` when the information is singular.
    pub fn standard_errors(&self, cohort: &Cohort) -> Option<Self> {
        let objective = BgNbdObjective::new(cohort);
        let w = cohort.total_weight;
        let [r, alpha, a, b] = optim::standard_errors(self.to_array(), |p| {
            let mut g = [0.0; 4];
            objective.eval(&p.map(f64::ln), &mut g);
            [0, 1, 2, 3].map(|i| -g[i] * w / p[i])
        })?;
        Some(Self { r, alpha, a, b })
    }

    /// ln[a/(b+x−1)] + (r+x) ln[(α+T)/(α+t_x)] for x > 0: minus the log-odds of being alive.
    fn alive_log_odds_neg(&self, h: &History) -> f64 {
        let x = f64::from(h.x);
        (self.a / (self.b + x - 1.0)).ln()
            + (self.r + x) * ((h.age - h.t_x) / (self.alpha + h.t_x)).ln_1p()
    }
}

impl RepeatModel for BgNbd {
    /// P(alive | x, t_x, T) = 1 / (1 + 1{x>0} a/(b+x−1) ((α+T)/(α+t_x))^{r+x}).
    ///
    /// A customer without repeat purchases is alive for sure: in BG/NBD drop-out can only
    /// happen right after a purchase.
    fn p_alive(&self, h: &History) -> f64 {
        if h.x == 0 {
            1.0
        } else {
            sigmoid(-self.alive_log_odds_neg(h))
        }
    }

    /// E[X(t)] = (a+b−1)/(a−1) · [1 − (α/(α+t))ʳ ₂F₁(r, b; a+b−1; t/(α+t))].
    fn expected_transactions(&self, t: f64) -> f64 {
        self.conditional_expected_transactions(
            &History {
                x: 0,
                t_x: 0.0,
                age: 0.0,
            },
            t,
        )
    }

    /// E[Y(t) | x, t_x, T] =
    /// (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^{r+x} ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))]
    /// · P(alive).
    ///
    /// The bracket vanishes at a = 1 like the denominator. By Euler's transformation it is
    /// (a−1) · [−ℓ φ₁((a−1)ℓ) − e^{(a−1)ℓ} G̃] with ℓ = ln((α+T)/(α+T+t)),
    /// φ₁(y) = (eʸ−1)/y and G̃ = Σ_{k≥1} (a+b−1−r)ₖ (a)ₖ₋₁ / ((a+b+x−1)ₖ k!) zᵏ, which has
    /// no division by a − 1 and no 1 − (≈1) cancellation. The series needs about
    /// 40 (α+T+t)/(α+T) terms, so it slows for horizons much longer than α + T.
    fn conditional_expected_transactions(&self, h: &History, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let Self { r, alpha, a, b } = *self;
        let x = f64::from(h.x);
        let c = a + b + x - 1.0;
        let at = alpha + h.age;
        let z = t / (at + t);
        let ell = -(t / at).ln_1p();
        let am1 = a - 1.0;
        let g = series_g_tilde(a + b - 1.0 - r, a, c, z);
        let bracket = -ell * ln_phi1(am1 * ell).exp() - (am1 * ell).exp() * g;
        c * bracket * self.p_alive(h)
    }

    fn rate_posterior_if_alive(&self, h: &History) -> (f64, f64) {
        (self.r + f64::from(h.x), self.alpha + h.age)
    }
}

/// The mean negative log-likelihood over a cohort as a function of the log-parameters.
///
/// Everything that depends only on `x` or only on `T` is summed over the distinct values of
/// `x` and `T` with pre-summed weights; only the softplus term of the rows with `x > 0` is
/// visited row by row, reading ln(α + t) from a table over the distinct times.
pub(super) struct BgNbdObjective<'a> {
    cohort: &'a Cohort,
    /// Weight of each distinct `x`.
    x_weight: Vec<f64>,
    /// Per time value: weight of the rows whose age it is, and their weighted `x`.
    age_weight: Vec<f64>,
    age_weight_x: Vec<f64>,
    scratch: RefCell<Scratch>,
}

#[derive(Default)]
struct Scratch {
    ln_t: Vec<f64>,
    inv_t: Vec<f64>,
    lr: Vec<f64>,
    dr: Vec<f64>,
    lb: Vec<f64>,
    db: Vec<f64>,
    lab: Vec<f64>,
    dab: Vec<f64>,
}

impl<'a> BgNbdObjective<'a> {
    pub(super) fn new(cohort: &'a Cohort) -> Self {
        let x_weight = cohort
            .x_rows
            .iter()
            .map(|range| cohort.weights[range.clone()].iter().sum())
            .collect();
        let mut age_weight = vec![0.0; cohort.times.len()];
        let mut age_weight_x = vec![0.0; cohort.times.len()];
        for ((h, &w), &i) in cohort
            .rows
            .iter()
            .zip(&cohort.weights)
            .zip(&cohort.age_index)
        {
            age_weight[i as usize] += w;
            age_weight_x[i as usize] += w * f64::from(h.x);
        }
        Self {
            cohort,
            x_weight,
            age_weight,
            age_weight_x,
            scratch: RefCell::new(Scratch::default()),
        }
    }
}

impl Objective for BgNbdObjective<'_> {
    fn eval(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let c = self.cohort;
        let (r, alpha, a, b) = (
            theta[0].exp(),
            theta[1].exp(),
            theta[2].exp(),
            theta[3].exp(),
        );
        let scratch = &mut *self.scratch.borrow_mut();
        let Scratch {
            ln_t,
            inv_t,
            lr,
            dr,
            lb,
            db,
            lab,
            dab,
        } = scratch;
        ln_t.clear();
        inv_t.clear();
        for &t in &c.times {
            ln_t.push((alpha + t).ln());
            inv_t.push(1.0 / (alpha + t));
        }
        rising_sums(r, &c.xs, lr, dr);
        rising_sums(b, &c.xs, lb, db);
        rising_sums(a + b, &c.xs, lab, dab);

        let ln_alpha = alpha.ln();
        let w_total = c.total_weight;
        let mut ll = w_total * r * ln_alpha;
        let (mut g_r, mut g_alpha, mut g_a, mut g_b) =
            (w_total * ln_alpha, w_total * r / alpha, 0.0, 0.0);

        // Terms of T alone: −(r+x) ln(α+T).
        for (i, (&w, &wx)) in self.age_weight.iter().zip(&self.age_weight_x).enumerate() {
            if w > 0.0 {
                ll -= (r * w + wx) * ln_t[i];
                g_r -= w * ln_t[i];
                g_alpha -= (r * w + wx) * inv_t[i];
            }
        }

        for (k, (&x, range)) in c.xs.iter().zip(&c.x_rows).enumerate() {
            // Terms of x alone: ln Γ(r+x)/Γ(r) + ln B(a, b+x)/B(a, b).
            let wx = self.x_weight[k];
            ll += wx * (lr[k] + lb[k] - lab[k]);
            g_r += wx * dr[k];
            g_a -= wx * dab[k];
            g_b += wx * (db[k] - dab[k]);
            if x == 0 {
                continue;
            }
            // The softplus term, row by row.
            let xf = f64::from(x);
            let rx = r + xf;
            let bx1 = b + xf - 1.0;
            let cx = (a / bx1).ln();
            let (mut s_ll, mut s_sig, mut s_r, mut s_alpha) = (0.0, 0.0, 0.0, 0.0);
            for i in range.clone() {
                let it = c.age_index[i] as usize;
                let itx = c.tx_index[i] as usize;
                let w = c.weights[i];
                let d = ln_t[it] - ln_t[itx];
                let z = cx + rx * d;
                let e = (-z.abs()).exp();
                // ln(1 + e) rather than ln_1p(e): only the absolute error matters in the
                // sum, and `ln` is much faster.
                let sp = z.max(0.0) + (1.0 + e).ln();
                let sig = if z >= 0.0 {
                    1.0 / (1.0 + e)
                } else {
                    e / (1.0 + e)
                };
                let ws = w * sig;
                s_ll += w * sp;
                s_sig += ws;
                s_r += ws * d;
                s_alpha += ws * (inv_t[it] - inv_t[itx]);
            }
            ll += s_ll;
            g_r += s_r;
            g_alpha += rx * s_alpha;
            g_a += s_sig / a;
            g_b -= s_sig / bx1;
        }
        // Mean negative log-likelihood, gradient with respect to ln(parameter).
        let scale = -1.0 / w_total;
        grad[0] = scale * g_r * r;
        grad[1] = scale * g_alpha * alpha;
        grad[2] = scale * g_a * a;
        grad[3] = scale * g_b * b;
        scale * ll
    }
}
