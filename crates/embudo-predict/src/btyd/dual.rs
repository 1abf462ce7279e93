//! Forward-mode dual numbers: a value and its gradient with respect to four parameters.
//!
//! The Pareto/NBD likelihood goes through Gauss hypergeometric series whose derivatives with
//! respect to the parameters are tedious by hand; running the same generic code on [`Dual`]
//! gives the exact gradient of what is computed, at a few times the cost of the value alone.

use std::ops::{Add, Div, Mul, Neg, Sub};

/// The arithmetic the generic numeric code needs; implemented by `f64` and [`Dual`].
pub(crate) trait Real:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + Add<f64, Output = Self>
    + Sub<f64, Output = Self>
    + Mul<f64, Output = Self>
    + Div<f64, Output = Self>
{
    fn cst(v: f64) -> Self;
    fn v(self) -> f64;
    fn ln(self) -> Self;
    fn exp(self) -> Self;
    fn exp_m1(self) -> Self;
    fn ln_1p(self) -> Self;
}

impl Real for f64 {
    fn cst(v: f64) -> Self {
        v
    }
    fn v(self) -> f64 {
        self
    }
    fn ln(self) -> Self {
        f64::ln(self)
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn exp_m1(self) -> Self {
        f64::exp_m1(self)
    }
    fn ln_1p(self) -> Self {
        f64::ln_1p(self)
    }
}

/// A value and its partial derivatives with respect to four parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Dual {
    pub(crate) v: f64,
    pub(crate) d: [f64; 4],
}

impl Dual {
    /// The `i`-th parameter: value `v`, derivative 1 along `i`.
    pub(crate) fn var(v: f64, i: usize) -> Self {
        let mut d = [0.0; 4];
        d[i] = 1.0;
        Self { v, d }
    }

    /// A function applied to `self`, given its value `f` and derivative `df` at `self.v`.
    fn chain(self, f: f64, df: f64) -> Self {
        Self {
            v: f,
            d: self.d.map(|d| d * df),
        }
    }
}

impl Real for Dual {
    fn cst(v: f64) -> Self {
        Self { v, d: [0.0; 4] }
    }
    fn v(self) -> f64 {
        self.v
    }
    fn ln(self) -> Self {
        self.chain(self.v.ln(), 1.0 / self.v)
    }
    fn exp(self) -> Self {
        let e = self.v.exp();
        self.chain(e, e)
    }
    fn exp_m1(self) -> Self {
        self.chain(self.v.exp_m1(), self.v.exp())
    }
    fn ln_1p(self) -> Self {
        self.chain(self.v.ln_1p(), 1.0 / (1.0 + self.v))
    }
}

impl Add for Dual {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            v: self.v + o.v,
            d: [
                self.d[0] + o.d[0],
                self.d[1] + o.d[1],
                self.d[2] + o.d[2],
                self.d[3] + o.d[3],
            ],
        }
    }
}

impl Sub for Dual {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Self {
            v: self.v - o.v,
            d: [
                self.d[0] - o.d[0],
                self.d[1] - o.d[1],
                self.d[2] - o.d[2],
                self.d[3] - o.d[3],
            ],
        }
    }
}

impl Mul for Dual {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        Self {
            v: self.v * o.v,
            d: [
                self.d[0] * o.v + self.v * o.d[0],
                self.d[1] * o.v + self.v * o.d[1],
                self.d[2] * o.v + self.v * o.d[2],
                self.d[3] * o.v + self.v * o.d[3],
            ],
        }
    }
}

impl Div for Dual {
    type Output = Self;
    fn div(self, o: Self) -> Self {
        let inv = 1.0 / o.v;
        let q = self.v * inv;
        Self {
            v: q,
            d: [
                (self.d[0] - q * o.d[0]) * inv,
                (self.d[1] - q * o.d[1]) * inv,
                (self.d[2] - q * o.d[2]) * inv,
                (self.d[3] - q * o.d[3]) * inv,
            ],
        }
    }
}

impl Neg for Dual {
    type Output = Self;
    fn neg(self) -> Self {
        Self {
            v: -self.v,
            d: self.d.map(|d| -d),
        }
    }
}

impl Add<f64> for Dual {
    type Output = Self;
    fn add(self, o: f64) -> Self {
        Self {
            v: self.v + o,
            ..self
        }
    }
}

impl Sub<f64> for Dual {
    type Output = Self;
    fn sub(self, o: f64) -> Self {
        Self {
            v: self.v - o,
            ..self
        }
    }
}

impl Mul<f64> for Dual {
    type Output = Self;
    fn mul(self, o: f64) -> Self {
        Self {
            v: self.v * o,
            d: self.d.map(|d| d * o),
        }
    }
}

impl Div<f64> for Dual {
    type Output = Self;
    fn div(self, o: f64) -> Self {
        self * (1.0 / o)
    }
}
