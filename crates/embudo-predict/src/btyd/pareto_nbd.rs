//! The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).
//!
//! While alive, a customer buys at rate λ ~ Gamma(r, α); their lifetime is exponential with
//! rate μ ~ Gamma(s, β). The likelihood of `(x, t_x, T)` is (Fader & Hardie's notes)
//!
//! ```text
//! L = Γ(r+x) αʳ βˢ / Γ(r) · [ (α+T)^{−(r+x)} (β+T)^{−s} + s·I ],
//! I = ∫_{t_x}^{T} (α+τ)^{−(r+x)} (β+τ)^{−(s+1)} dτ
//!   = [₂F₁(a, b; a+1; z(t_x)) / (m+t_x)^a − ₂F₁(a, b; a+1; z(T)) / (m+T)^a] / a,
//! ```
//!
//! with a = r+s+x, m = max(α, β), z(y) = |α−β| / (m+y), and b = s+1 when α ≥ β, r+x when
//! α < β (Hardie's case split, which keeps z in [0, 1)). See [`ln_integral`] for how the
//! hypergeometric terms are evaluated without trouble when z comes close to 1.

use std::cell::RefCell;
use std::time::Instant;

use statrs::function::gamma::ln_gamma;

use super::clv::RepeatModel;
use super::data::{Cohort, History};
use super::dual::{Dual, Real};
use super::optim::{self, Objective};
use super::special::{
    MAX_TERMS, ln_hyp2f1_a_a1, ln_phi1, log_add_exp, one_minus_exp_over, rising_sums, sigmoid,
};
use super::{BtydError, Fit, FitOptions};

/// Pareto/NBD parameters: purchase rate λ ~ Gamma(shape `r`, rate `alpha`), drop-out rate
/// μ ~ Gamma(shape `s`, rate `beta`). `alpha` and `beta` are in the time unit of the
/// histories.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ParetoNbd {
    /// Shape of the purchase-rate distribution.
    pub r: f64,
    /// Rate of the purchase-rate distribution.
    pub alpha: f64,
    /// Shape of the drop-out-rate distribution.
    pub s: f64,
    /// Rate of the drop-out-rate distribution.
    pub beta: f64,
}

impl ParetoNbd {
    /// The parameters as an array `[r, alpha, s, beta]`.
    pub fn to_array(&self) -> [f64; 4] {
        [self.r, self.alpha, self.s, self.beta]
    }

    /// Checks that every parameter is positive and finite.
    pub fn check(&self) -> Result<(), BtydError> {
        for (name, v) in [
            ("r", self.r),
            ("alpha", self.alpha),
            ("s", self.s),
            ("beta", self.beta),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(BtydError::InvalidParameter {
                    name,
                    reason: "Pareto/NBD parameters must be positive and finite",
                });
            }
        }
        Ok(())
    }

    /// Maximum-likelihood fit, starting from `r = s = 1` and `alpha = beta` set from the mean
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
            s: 1.0,
            beta: alpha,
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
        let objective = ParetoObjective::new(cohort);
        let theta0 = start.to_array().map(f64::ln).to_vec();
        let min = optim::minimize("Pareto/NBD", &objective, theta0, options)?;
        let model = Self {
            r: min.theta[0].exp(),
            alpha: min.theta[1].exp(),
            s: min.theta[2].exp(),
            beta: min.theta[3].exp(),
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
        let objective = ParetoObjective::new(cohort);
        let theta = self.to_array().map(f64::ln);
        -objective.eval(&theta, &mut [0.0; 4]) * cohort.total_weight
    }

    /// Log-likelihood of one history.
    pub fn history_log_likelihood(&self, h: &History) -> f64 {
        let Self { r, alpha, s, beta } = *self;
        let x = f64::from(h.x);
        let (l1, ls_i) = row_terms(r, alpha, s, beta, x, h.t_x, h.age);
        ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln() + log_add_exp(l1, ls_i)
    }

    /// Standard errors of the parameters (observed information at these parameters, which
    /// should be the maximum-likelihood estimate for `cohort`), as a `ParetoNbd` holding the
    /// standard error of each parameter; `None` when the information is singular.
    pub fn standard_errors(&self, cohort: &Cohort) -> Option<Self> {
        let objective = ParetoObjective::new(cohort);
        let w = cohort.total_weight;
        let [r, alpha, s, beta] = optim::standard_errors(self.to_array(), |p| {
            let mut g = [0.0; 4];
            objective.eval(&p.map(f64::ln), &mut g);
            [0, 1, 2, 3].map(|i| -g[i] * w / p[i])
        })?;
        Some(Self { r, alpha, s, beta })
    }
}

impl RepeatModel for ParetoNbd {
    /// P(alive | x, t_x, T) = (α+T)^{−(r+x)} (β+T)^{−s} / [(α+T)^{−(r+x)} (β+T)^{−s} + s·I].
    fn p_alive(&self, h: &History) -> f64 {
        let (l1, ls_i) = row_terms(
            self.r,
            self.alpha,
            self.s,
            self.beta,
            f64::from(h.x),
            h.t_x,
            h.age,
        );
        ls_i.map_or(1.0, |ls_i| sigmoid(l1 - ls_i))
    }

    /// E[X(t)] = rβ / (α(s−1)) · [1 − (β/(β+t))^{s−1}] (its limit at s = 1).
    fn expected_transactions(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        self.r * self.beta / self.alpha * one_minus_exp_over(self.s - 1.0, (t / self.beta).ln_1p())
    }

    /// E[Y(t) | x, t_x, T] = (r+x)(β+T) / ((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^{s−1}] ·
    /// P(alive) (its limit at s = 1).
    fn conditional_expected_transactions(&self, h: &History, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let bt = self.beta + h.age;
        (self.r + f64::from(h.x)) * bt / (self.alpha + h.age)
            * one_minus_exp_over(self.s - 1.0, (t / bt).ln_1p())
            * self.p_alive(h)
    }

    fn rate_posterior_if_alive(&self, h: &History) -> (f64, f64) {
        (self.r + f64::from(h.x), self.alpha + h.age)
    }
}

/// ℓ₁ = −(r+x) ln(α+T) − s ln(β+T) and ln(s·I) (`None` when I = 0, that is t_x = T): the
/// likelihood is Γ(r+x)αʳβˢ/Γ(r) · (e^{ℓ₁} + s·I).
pub(crate) fn row_terms<T: Real>(
    r: T,
    alpha: T,
    s: T,
    beta: T,
    x: f64,
    t_x: f64,
    age: f64,
) -> (T, Option<T>) {
    let l1 = -((r + x) * (alpha + age).ln()) - s * (beta + age).ln();
    let ls_i = ln_integral(r, alpha, s, beta, x, t_x, age).map(|l| l + s.ln());
    (l1, ls_i)
}

/// ln I, I = ∫_{t_x}^{T} (α+τ)^{−(r+x)} (β+τ)^{−(s+1)} dτ, or `None` when I = 0.
///
/// With m = max(α, β), μ = min(α, β), d = m − μ, the substitution v = d/(m+τ) gives
/// I = d^{−a} [K(u(t_x)) − K(u(T))] with K(u) = ∫₀ᵘ v^{a−1} (1−v)^{−b} dv and u(y) = d/(m+y):
/// this is Hardie's hypergeometric expression, since K(u) = uᵃ/a · ₂F₁(a, b; a+1; u).
/// [`ln_k_scaled`] evaluates ln(d^{−a} K(u)) by the positive series of ₂F₁ while u ≤ u*,
/// and past u* (where that series would crawl) as K(u*) plus the integral from u* to u by a
/// binomial expansion in 1 − v, which has no trouble as u → 1 or at integer parameters.
pub(crate) fn ln_integral<T: Real>(
    r: T,
    alpha: T,
    s: T,
    beta: T,
    x: f64,
    t_x: f64,
    age: f64,
) -> Option<T> {
    if t_x >= age {
        return None;
    }
    let a = r + s + x;
    let (m, mu, b) = if alpha.v() >= beta.v() {
        (alpha, beta, s + 1.0)
    } else {
        (beta, alpha, r + x)
    };
    let d = m - mu;
    let l_tx = ln_k_scaled(a, b, m, mu, d, t_x);
    let l_age = ln_k_scaled(a, b, m, mu, d, age);
    let diff = l_age - l_tx;
    if diff.v() >= 0.0 {
        // t_x and T so close that I is lost in rounding: it is negligible next to e^{ℓ₁}.
        return None;
    }
    // I = e^{l_tx} − e^{l_age} = e^{l_tx} (1 − e^{diff}).
    Some(l_tx + (-diff.exp_m1()).ln())
}

/// The split point u* between the ₂F₁ series and the binomial tail: the series needs about
/// 40/(1−u*) terms, the tail converges fast and without cancellation while (1−u*)(a−1) is
/// at most about 1.
fn u_star(a: f64) -> f64 {
    (1.0 - 1.0 / a).max(0.5)
}

/// ln(d^{−a} K(u)) at u = d/(m+y).
fn ln_k_scaled<T: Real>(a: T, b: T, m: T, mu: T, d: T, y: f64) -> T {
    let my = m + y;
    let u = d / my;
    let us = u_star(a.v());
    if u.v() <= us {
        // d^{−a} uᵃ/a ₂F₁(a, b; a+1; u) = (m+y)^{−a} ₂F₁(…) / a.
        ln_hyp2f1_a_a1(a, b, u) - a * my.ln() - a.ln()
    } else {
        let ln_k_star = a * us.ln() - a.ln() + ln_hyp2f1_a_a1(a, b, T::cst(us));
        // 1 − u = (μ+y)/(m+y), without cancellation.
        let eps = (mu + y) / my;
        let ln_tail = ln_binomial_tail(a, b, eps, 1.0 - us);
        log_add_exp(ln_k_star, Some(ln_tail)) - a * d.ln()
    }
}

/// ln ∫_{u*}^{u} v^{a−1} (1−v)^{−b} dv = ln ∫_ε^{w*} (1−w)^{a−1} w^{−b} dw with ε = 1−u <
/// w* = 1−u*, by (1−w)^{a−1} = Σₖ eₖ wᵏ, eₖ = (1−a)ₖ/k!, and
/// Eₖ = ∫_ε^{w*} w^{ν−1} dw = εᵛ L φ₁(νL), ν = k+1−b, L = ln(w*/ε), φ₁(y) = (eʸ−1)/y,
/// which stays finite at ν = 0 (integer b) and is taken in log space.
fn ln_binomial_tail<T: Real>(a: T, b: T, eps: T, w_star: f64) -> T {
    let l = (T::cst(w_star) / eps).ln();
    let ln_l = l.ln();
    let ln_eps = eps.ln();
    let ln_e = |k: f64| {
        let nu = -b + (k + 1.0);
        nu * ln_eps + ln_l + ln_phi1(nu * l)
    };
    let ln_e0 = ln_e(0.0);
    let mut sum = T::cst(1.0);
    let mut coef = T::cst(1.0);
    for k in 1..MAX_TERMS {
        let kf = k as f64;
        coef = coef * (-a + kf) / kf;
        let term = coef * (ln_e(kf) - ln_e0).exp();
        sum = sum + term;
        if kf > a.v() + 1.0 && term.v().abs() <= 1e-17 * sum.v().abs() {
            break;
        }
    }
    ln_e0 + sum.ln()
}

/// The mean negative log-likelihood over a cohort as a function of the log-parameters; the
/// row terms run on dual numbers for the gradient.
pub(super) struct ParetoObjective<'a> {
    cohort: &'a Cohort,
    x_weight: Vec<f64>,
    scratch: RefCell<(Vec<f64>, Vec<f64>)>,
}

impl<'a> ParetoObjective<'a> {
    pub(super) fn new(cohort: &'a Cohort) -> Self {
        let x_weight = cohort
            .x_rows
            .iter()
            .map(|range| cohort.weights[range.clone()].iter().sum())
            .collect();
        Self {
            cohort,
            x_weight,
            scratch: RefCell::new((Vec::new(), Vec::new())),
        }
    }
}

impl Objective for ParetoObjective<'_> {
    fn eval(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        self.eval_until(theta, grad, None)
    }

    /// Checks the deadline between rows: where r + s + x is large, one row's series run long.
    fn eval_until(&self, theta: &[f64], grad: &mut [f64], deadline: Option<Instant>) -> f64 {
        let c = self.cohort;
        let p: [f64; 4] = [0, 1, 2, 3].map(|i| theta[i].exp());
        let [r, alpha, s, beta] = p;
        // Duals carry derivatives with respect to the log-parameters: d(eᶿ)/dθ = eᶿ.
        let [rd, alphad, sd, betad] = [0, 1, 2, 3].map(|i| {
            let mut d = Dual::var(p[i], i);
            d.d[i] = p[i];
            d
        });
        let w_total = c.total_weight;
        let mut ll = w_total * (r * alpha.ln() + s * beta.ln());
        let mut g = [
            w_total * alpha.ln() * r,
            w_total * r,
            w_total * beta.ln() * s,
            w_total * s,
        ];
        let (lr, dr) = &mut *self.scratch.borrow_mut();
        rising_sums(r, &c.xs, lr, dr);
        for (k, (&x, range)) in c.xs.iter().zip(&c.x_rows).enumerate() {
            ll += self.x_weight[k] * lr[k];
            g[0] += self.x_weight[k] * dr[k] * r;
            let xf = f64::from(x);
            for i in range.clone() {
                if optim::past(deadline) {
                    return f64::NAN;
                }
                let h = &c.rows[i];
                let w = c.weights[i];
                let (l1, ls_i) = row_terms(rd, alphad, sd, betad, xf, h.t_x, h.age);
                let term = log_add_exp(l1, ls_i);
                ll += w * term.v;
                for (gj, dj) in g.iter_mut().zip(term.d) {
                    *gj += w * dj;
                }
            }
        }
        let scale = -1.0 / w_total;
        for (out, gj) in grad.iter_mut().zip(g) {
            *out = scale * gj;
        }
        scale * ll
    }
}
