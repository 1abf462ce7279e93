//! Customer summaries, calibration / holdout split and weighted cohorts.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::BtydError;

/// A customer's purchase history in the form the count models read: `(x, t_x, T)`.
///
/// Times are in one unit chosen by the caller (weeks in the papers) and measured from the
/// customer's first purchase.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct History {
    /// Repeat purchases `x`: purchases after the first one.
    pub x: u32,
    /// Recency `t_x`: time from the first to the last purchase (0 when `x` is 0).
    pub t_x: f64,
    /// Age `T`: time from the first purchase to the end of the observation window.
    pub age: f64,
}

impl History {
    /// A checked history: times finite and non-negative, `t_x ≤ T`, and `t_x = 0` when `x = 0`.
    pub fn new(x: u32, t_x: f64, age: f64) -> Result<Self, BtydError> {
        let history = Self { x, t_x, age };
        history
            .check()
            .map_err(|reason| BtydError::InvalidHistory { index: 0, reason })?;
        Ok(history)
    }

    /// The same check as [`History::new`], for histories built field by field.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if !self.t_x.is_finite() || !self.age.is_finite() {
            return Err("t_x and T must be finite");
        }
        if self.t_x < 0.0 || self.age < 0.0 {
            return Err("t_x and T must not be negative");
        }
        if self.t_x > self.age {
            return Err("t_x is after T");
        }
        if self.x == 0 && self.t_x != 0.0 {
            return Err("t_x must be 0 when there is no repeat purchase");
        }
        Ok(())
    }
}

/// One purchase.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction<K> {
    /// Who bought.
    pub customer: K,
    /// When, in whole periods (for example days since an epoch). Purchases of one customer in
    /// the same period count as one purchase whose value is their sum, as in the papers.
    pub period: i64,
    /// What it was worth (non-negative).
    pub value: f64,
}

/// How [`summarize`] cuts transactions into a calibration and a holdout window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SummaryOptions {
    /// Last period of the calibration window (inclusive). Customers whose first purchase comes
    /// later are left out.
    pub calibration_end: i64,
    /// Last period of the holdout window (inclusive), if any. Purchases after
    /// `calibration_end` and up to it are counted in [`CustomerSummary::holdout_transactions`];
    /// later purchases are ignored.
    pub holdout_end: Option<i64>,
    /// Periods per model time unit: with days as periods, 7 gives weeks.
    pub periods_per_unit: f64,
}

impl SummaryOptions {
    /// Length of the holdout window in model time units (0 without a holdout).
    pub fn holdout_length(&self) -> f64 {
        self.holdout_end.map_or(0.0, |end| {
            (end - self.calibration_end) as f64 / self.periods_per_unit
        })
    }
}

/// One customer's calibration summary and holdout purchases.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerSummary<K> {
    /// The customer.
    pub customer: K,
    /// Period of the first purchase.
    pub first_period: i64,
    /// `(x, t_x, T)` over the calibration window, in model time units.
    pub history: History,
    /// Mean value of the repeat purchases in the calibration window (each period's purchases
    /// summed first; the first purchase is left out), 0 when there is none. This is the
    /// `m̄ₓ` that Gamma-Gamma reads.
    pub mean_repeat_value: f64,
    /// Purchases (distinct periods) in the holdout window.
    pub holdout_transactions: u32,
    /// Value of the purchases in the holdout window.
    pub holdout_value: f64,
}

/// Summarises transactions per customer: `(x, t_x, T)`, mean repeat value and holdout
/// purchases. The result is sorted by customer.
pub fn summarize<K: Ord + Clone>(
    transactions: &[Transaction<K>],
    options: &SummaryOptions,
) -> Result<Vec<CustomerSummary<K>>, BtydError> {
    if !(options.periods_per_unit.is_finite() && options.periods_per_unit > 0.0) {
        return Err(BtydError::InvalidParameter {
            name: "periods_per_unit",
            reason: "must be positive and finite",
        });
    }
    if options
        .holdout_end
        .is_some_and(|end| end < options.calibration_end)
    {
        return Err(BtydError::InvalidParameter {
            name: "holdout_end",
            reason: "must not come before calibration_end",
        });
    }
    for (index, t) in transactions.iter().enumerate() {
        if !(t.value.is_finite() && t.value >= 0.0) {
            return Err(BtydError::InvalidTransaction {
                index,
                reason: "value must be finite and non-negative",
            });
        }
    }
    let mut order: Vec<&Transaction<K>> = transactions.iter().collect();
    order.sort_by(|a, b| a.customer.cmp(&b.customer).then(a.period.cmp(&b.period)));

    let unit = options.periods_per_unit;
    let cal_end = options.calibration_end;
    let holdout_end = options.holdout_end.unwrap_or(cal_end);
    let mut out = Vec::new();
    let mut rest = order.as_slice();
    while let Some(first) = rest.first() {
        let n = rest
            .iter()
            .take_while(|t| t.customer == first.customer)
            .count();
        let (group, tail) = rest.split_at(n);
        rest = tail;
        let first_period = first.period;
        if first_period > cal_end {
            continue;
        }
        // Walk the customer's periods, merging purchases within one period.
        let mut x = 0u32;
        let mut last = first_period;
        let mut repeat_value = 0.0;
        let mut holdout_transactions = 0u32;
        let mut holdout_value = 0.0;
        let mut i = 0;
        while i < group.len() {
            let period = group[i].period;
            let mut value = 0.0;
            while i < group.len() && group[i].period == period {
                value += group[i].value;
                i += 1;
            }
            if period == first_period {
                continue;
            }
            if period <= cal_end {
                x += 1;
                last = period;
                repeat_value += value;
            } else if period <= holdout_end {
                holdout_transactions += 1;
                holdout_value += value;
            }
        }
        let history = History {
            x,
            t_x: (last - first_period) as f64 / unit,
            age: (cal_end - first_period) as f64 / unit,
        };
        out.push(CustomerSummary {
            customer: first.customer.clone(),
            first_period,
            history,
            mean_repeat_value: if x > 0 {
                repeat_value / f64::from(x)
            } else {
                0.0
            },
            holdout_transactions,
            holdout_value,
        });
    }
    Ok(out)
}

/// Customers' histories merged into weighted distinct rows, ready for fitting.
///
/// Building a cohort checks every history (see [`History::new`]). The likelihoods only
/// visit the distinct rows, so the cost of a fit hardly grows with the number of customers.
#[derive(Debug, Clone, PartialEq)]
pub struct Cohort {
    /// Distinct rows, sorted by `(x, T, t_x)`.
    pub(crate) rows: Vec<History>,
    pub(crate) weights: Vec<f64>,
    pub(crate) total_weight: f64,
    /// Distinct time values among `t_x` and `T`, and each row's index into them.
    pub(crate) times: Vec<f64>,
    pub(crate) tx_index: Vec<u32>,
    pub(crate) age_index: Vec<u32>,
    /// Distinct `x` values (ascending), each with the range of rows holding it.
    pub(crate) xs: Vec<u32>,
    pub(crate) x_rows: Vec<std::ops::Range<usize>>,
}

impl Cohort {
    /// Merges histories, one per customer.
    pub fn new(histories: impl IntoIterator<Item = History>) -> Result<Self, BtydError> {
        Self::weighted(histories.into_iter().map(|h| (h, 1.0)))
    }

    /// Merges histories and also returns, for each input history, the index of its distinct
    /// row in [`Cohort::rows`] (to score many customers by scoring each distinct row once).
    pub fn new_indexed(histories: &[History]) -> Result<(Self, Vec<u32>), BtydError> {
        let mut merger = Merger::with_capacity(histories.len());
        let mut row_of = Vec::with_capacity(histories.len());
        for (i, h) in histories.iter().enumerate() {
            row_of.push(merger.add(i, h, 1.0)?);
        }
        // Sorting the rows changes their indices: map old to new.
        let (cohort, permutation) = Self::build(&merger.rows, &merger.weights)?;
        for row in &mut row_of {
            *row = permutation[*row as usize];
        }
        Ok((cohort, row_of))
    }

    /// Merges `(history, weight)` pairs; weights must be positive and finite.
    pub fn weighted(rows: impl IntoIterator<Item = (History, f64)>) -> Result<Self, BtydError> {
        let rows = rows.into_iter();
        let mut merger = Merger::with_capacity(rows.size_hint().0);
        for (i, (h, w)) in rows.enumerate() {
            merger.add(i, &h, w)?;
        }
        Ok(Self::build(&merger.rows, &merger.weights)?.0)
    }

    /// Sorts the distinct rows and builds the lookup tables; returns the permutation from the
    /// given row order to the sorted one.
    fn build(rows: &[History], weights: &[f64]) -> Result<(Self, Vec<u32>), BtydError> {
        if rows.is_empty() {
            return Err(BtydError::NoCustomers);
        }
        // Sort by (x, T, t_x): non-negative floats order like their bit patterns. The order
        // makes the fit independent of the order of the customers, to the last bit.
        let mut order: Vec<(u32, u64, u64, u32)> = rows
            .iter()
            .enumerate()
            .map(|(i, h)| (h.x, h.age.to_bits(), h.t_x.to_bits(), i as u32))
            .collect();
        order.sort_unstable();
        let mut permutation = vec![0u32; rows.len()];
        for (new, &(.., old)) in order.iter().enumerate() {
            permutation[old as usize] = new as u32;
        }
        let rows: Vec<History> = order.iter().map(|o| rows[o.3 as usize]).collect();
        let weights: Vec<f64> = order.iter().map(|o| weights[o.3 as usize]).collect();
        let total_weight = weights.iter().sum();

        let mut time_index: FastMap<u64, u32> = FastMap::default();
        time_index.reserve(rows.len().min(1 << 12));
        let mut times = Vec::new();
        let mut lookup = |t: f64| {
            let next = times.len() as u32;
            let i = *time_index.entry(t.to_bits()).or_insert(next);
            if i == next {
                times.push(t);
            }
            i
        };
        let mut tx_index = Vec::with_capacity(rows.len());
        let mut age_index = Vec::with_capacity(rows.len());
        for h in &rows {
            tx_index.push(lookup(h.t_x));
            age_index.push(lookup(h.age));
        }

        let mut xs = Vec::new();
        let mut x_rows = Vec::new();
        let mut start = 0;
        while start < rows.len() {
            let x = rows[start].x;
            let end = start + rows[start..].iter().take_while(|h| h.x == x).count();
            xs.push(x);
            x_rows.push(start..end);
            start = end;
        }
        Ok((
            Self {
                rows,
                weights,
                total_weight,
                times,
                tx_index,
                age_index,
                xs,
                x_rows,
            },
            permutation,
        ))
    }

    /// Number of customers (the sum of the weights).
    pub fn customers(&self) -> f64 {
        self.total_weight
    }

    /// The distinct histories, sorted by `(x, T, t_x)`.
    pub fn rows(&self) -> &[History] {
        &self.rows
    }

    /// The weight (number of customers) of each distinct history.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
}

/// Repeat customers' purchase counts and mean repeat-order values, for [`super::GammaGamma`].
#[derive(Debug, Clone, PartialEq)]
pub struct SpendData {
    /// Distinct `(x, m̄ₓ)` pairs, sorted by `x`, with weights.
    pub(crate) rows: Vec<(u32, f64)>,
    pub(crate) weights: Vec<f64>,
    pub(crate) total_weight: f64,
    /// Distinct `x` values with the range of rows holding each.
    pub(crate) xs: Vec<u32>,
    pub(crate) x_rows: Vec<std::ops::Range<usize>>,
}

impl SpendData {
    /// Collects `(x, m̄ₓ)` for the customers with at least one repeat purchase; customers
    /// with `x = 0` are skipped. Mean values must be positive and finite.
    pub fn new(customers: impl IntoIterator<Item = (u32, f64)>) -> Result<Self, BtydError> {
        let mut index: FastMap<(u32, u64), u32> = FastMap::default();
        let mut rows: Vec<(u32, f64)> = Vec::new();
        let mut weights: Vec<f64> = Vec::new();
        for (i, (x, m)) in customers.into_iter().enumerate() {
            if x == 0 {
                continue;
            }
            if !(m.is_finite() && m > 0.0) {
                return Err(BtydError::InvalidHistory {
                    index: i,
                    reason: "mean repeat value must be positive and finite",
                });
            }
            let next = rows.len() as u32;
            let row = *index.entry((x, m.to_bits())).or_insert(next);
            if row == next {
                rows.push((x, m));
                weights.push(1.0);
            } else {
                weights[row as usize] += 1.0;
            }
        }
        if rows.is_empty() {
            return Err(BtydError::NoCustomers);
        }
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_unstable_by(|&i, &j| {
            rows[i]
                .0
                .cmp(&rows[j].0)
                .then(rows[i].1.total_cmp(&rows[j].1))
        });
        let rows: Vec<(u32, f64)> = order.iter().map(|&i| rows[i]).collect();
        let weights: Vec<f64> = order.iter().map(|&i| weights[i]).collect();
        let mut xs = Vec::new();
        let mut x_rows = Vec::new();
        let mut start = 0;
        while start < rows.len() {
            let x = rows[start].0;
            let end = start + rows[start..].iter().take_while(|r| r.0 == x).count();
            xs.push(x);
            x_rows.push(start..end);
            start = end;
        }
        Ok(Self {
            total_weight: weights.iter().sum(),
            rows,
            weights,
            xs,
            x_rows,
        })
    }

    /// Number of repeat customers.
    pub fn customers(&self) -> f64 {
        self.total_weight
    }
}

/// Merges histories into distinct weighted rows, in order of first appearance.
struct Merger {
    index: FastMap<(u32, u64, u64), u32>,
    rows: Vec<History>,
    weights: Vec<f64>,
}

impl Merger {
    fn with_capacity(customers: usize) -> Self {
        // Distinct histories are usually far fewer than customers.
        let mut index = FastMap::default();
        index.reserve(customers.min(1 << 14));
        Self {
            index,
            rows: Vec::new(),
            weights: Vec::new(),
        }
    }

    /// Adds one weighted history (input position `i`, for errors); returns its row.
    fn add(&mut self, i: usize, h: &History, w: f64) -> Result<u32, BtydError> {
        h.check()
            .map_err(|reason| BtydError::InvalidHistory { index: i, reason })?;
        if !(w.is_finite() && w > 0.0) {
            return Err(BtydError::InvalidHistory {
                index: i,
                reason: "weight must be positive and finite",
            });
        }
        // `+ 0.0` turns −0 into +0, so both are one time (and sort as non-negative bits).
        let h = History {
            x: h.x,
            t_x: h.t_x + 0.0,
            age: h.age + 0.0,
        };
        let next = self.rows.len() as u32;
        let row = *self
            .index
            .entry((h.x, h.t_x.to_bits(), h.age.to_bits()))
            .or_insert(next);
        if row == next {
            self.rows.push(h);
            self.weights.push(w);
        } else {
            self.weights[row as usize] += w;
        }
        Ok(row)
    }
}

/// A small multiplicative hasher (the FxHash scheme): the keys here are a few integers and
/// the default SipHash would dominate the cost of merging a million histories.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        // Fold the well-mixed high bits into the low ones the table indexes with.
        let h = self.0;
        (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (h >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
