//! Special functions and numerically careful building blocks.

use statrs::function::gamma::{digamma, ln_gamma};

use super::dual::Real;

/// ln(1 + eᶻ) without overflow or loss of precision.
pub(crate) fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// The logistic function 1 / (1 + e⁻ᶻ), the derivative of [`softplus`].
pub(crate) fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// ln(eᵃ + eᵇ) for generic reals; `b` may be `None` for e^b = 0.
pub(crate) fn log_add_exp<T: Real>(a: T, b: Option<T>) -> T {
    let Some(b) = b else { return a };
    if a.v() >= b.v() {
        a + (b - a).exp().ln_1p()
    } else {
        b + (a - b).exp().ln_1p()
    }
}

/// ln φ₁(y) where φ₁(y) = (eʸ − 1) / y (and φ₁(0) = 1), accurate for every real y.
pub(crate) fn ln_phi1<T: Real>(y: T) -> T {
    let v = y.v();
    if v.abs() < 1e-3 {
        // ln φ₁(y) = y/2 + y²/24 − y⁴/2880 + O(y⁶).
        let y2 = y * y;
        y * 0.5 + y2 * (1.0 / 24.0) - y2 * y2 * (1.0 / 2880.0)
    } else if v > 0.0 {
        // φ₁(y) = eʸ (1 − e⁻ʸ) / y.
        y + (-(-y).exp_m1()).ln() - y.ln()
    } else {
        (-(y.exp_m1())).ln() - (-y).ln()
    }
}

/// (1 − e^{−c·L}) / c for L ≥ 0, with its limit L at c = 0: the integral of e^{−c·u} over
/// [0, L]. Used for expressions like [1 − (β/(β+t))^{s−1}] / (s − 1).
pub(crate) fn one_minus_exp_over(c: f64, l: f64) -> f64 {
    if l == 0.0 {
        return 0.0;
    }
    l * ln_phi1(-c * l).exp()
}

/// Σₖ₌₀^{x−1} ln(c + k) = ln Γ(c + x) − ln Γ(c) and Σₖ₌₀^{x−1} 1/(c + k) = ψ(c + x) − ψ(c)
/// for each of the ascending `xs`, written to `ln_sum` and `inv_sum`.
///
/// Short steps between consecutive `x` values go by the recurrence (exact sums of a few
/// logarithms); long ones by ln Γ and ψ.
pub(crate) fn rising_sums(c: f64, xs: &[u32], ln_sum: &mut Vec<f64>, inv_sum: &mut Vec<f64>) {
    const MAX_STEP: u32 = 64;
    ln_sum.clear();
    inv_sum.clear();
    let (mut at, mut l, mut s) = (0u32, 0.0f64, 0.0f64);
    for &x in xs {
        if x - at > MAX_STEP {
            let cx = c + f64::from(x);
            l = ln_gamma(cx) - ln_gamma(c);
            s = digamma(cx) - digamma(c);
        } else {
            for k in at..x {
                let v = c + f64::from(k);
                l += v.ln();
                s += 1.0 / v;
            }
        }
        at = x;
        ln_sum.push(l);
        inv_sum.push(s);
    }
}

/// Largest number of terms the series below sum before giving up.
pub(crate) const MAX_TERMS: usize = 5_000_000;

/// ln ₂F₁(a, b; a + 1; z) for a > 0, b > 0 and 0 ≤ z < 1, by its series of positive terms
/// Σₖ a/(a+k) · (b)ₖ/k! · zᵏ. The sum is rescaled as it grows, so the result does not
/// overflow. Convergence slows as z approaches 1 (about 40/(1 − z) terms).
pub(crate) fn ln_hyp2f1_a_a1<T: Real>(a: T, b: T, z: T) -> T {
    let mut sum = T::cst(1.0);
    let mut term = T::cst(1.0);
    let mut log_scale = 0.0;
    for k in 0..MAX_TERMS {
        let kf = k as f64;
        let ratio = (a + kf) * (b + kf) * z / ((a + (kf + 1.0)) * (kf + 1.0));
        term = term * ratio;
        sum = sum + term;
        // Later ratios tend to z; bound the tail by a geometric series.
        let r = ratio.v().max(z.v());
        if r < 1.0 && term.v() * r <= 1e-17 * (1.0 - r) * sum.v() {
            break;
        }
        if sum.v() > 1e280 {
            sum = sum * 1e-280;
            term = term * 1e-280;
            log_scale += 280.0 * std::f64::consts::LN_10;
        }
    }
    sum.ln() + log_scale
}

/// The series Σ_{k≥1} (p)ₖ (a)ₖ₋₁ / ((c)ₖ k!) zᵏ for 0 ≤ z < 1, summed until the terms are
/// negligible (see `BgNbd::conditional_expected_transactions`).
pub(crate) fn series_g_tilde(p: f64, a: f64, c: f64, z: f64) -> f64 {
    if z == 0.0 {
        return 0.0;
    }
    let mut term = p * z / c;
    let mut sum = term;
    for k in 1..MAX_TERMS {
        let kf = k as f64;
        let ratio = (p + kf) * (a + kf - 1.0) * z / ((c + kf) * (kf + 1.0));
        term *= ratio;
        sum += term;
        let r = ratio.abs().max(z);
        if r < 1.0 && term.abs() * r <= 1e-17 * (1.0 - r) * sum.abs() {
            break;
        }
        if term == 0.0 {
            break;
        }
    }
    sum
}
