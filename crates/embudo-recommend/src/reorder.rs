//! Reorder timing: how long customers wait before buying the same product again, and when a
//! person is expected to order next.
//!
//! An interval is the number of days between two consecutive distinct purchase days of the
//! same product by the same customer. Per product the model keeps the median and the
//! quartiles of its intervals; with few intervals they are shrunk, in log days, toward the
//! category's (and categories toward the shop's): `log m = (n · log m_own + k · log m_prior) /
//! (n + k)` for `n` intervals and `k` prior intervals. Quantiles interpolate linearly between
//! order statistics (R's type 7).
//!
//! A person's expected interval for a product mixes their own intervals for it with the
//! product's typical one the same way; the next order date is the last purchase plus that
//! interval. The person's next order overall uses the days between their distinct order days,
//! shrunk toward the shop's typical gap between orders.

use crate::{Catalogue, DAY, OrderLine, ProductIdx, Purchases, Timestamp};

#[cfg(test)]
mod tests;

/// Hyper-parameters of the [`ReorderModel`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReorderParams {
    /// Prior intervals pulling a product's (and a category's) figures toward the level above.
    pub prior_intervals: f64,
    /// Prior intervals pulling a person's own interval toward the product's or the shop's.
    pub person_prior_intervals: f64,
}

impl ReorderParams {
    /// Five prior intervals for products, two for a person.
    pub fn standard() -> ReorderParams {
        ReorderParams {
            prior_intervals: 5.0,
            person_prior_intervals: 2.0,
        }
    }
}

/// The typical repeat interval of a product (or category, or the shop), in days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProductInterval {
    /// Repeat intervals observed.
    pub intervals: u32,
    /// The median of the observed intervals alone, when there are any.
    pub observed_median_days: Option<f64>,
    /// The shrunk median.
    pub median_days: f64,
    /// The shrunk first and third quartiles: half the repeats fall between them.
    pub lower_quartile_days: f64,
    pub upper_quartile_days: f64,
}

/// When a person is expected to order (a product, or anything) next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NextOrder {
    pub last_at: Timestamp,
    /// The expected interval after the last purchase, in days.
    pub interval_days: f64,
    pub expected_at: Timestamp,
    /// The person's own intervals behind the estimate.
    pub own_intervals: u32,
}

impl NextOrder {
    /// Days from `now` to the expected date; negative when overdue.
    pub fn days_until(&self, now: Timestamp) -> f64 {
        (self.expected_at - now) as f64 / DAY as f64
    }
}

/// Repeat intervals of every product, category and the shop.
#[derive(Debug, Clone, PartialEq)]
pub struct ReorderModel {
    pub(crate) params: ReorderParams,
    pub(crate) shop: ProductInterval,
    pub(crate) categories: Vec<ProductInterval>,
    pub(crate) products: Vec<ProductInterval>,
    /// The shop's typical gap between a customer's distinct order days.
    pub(crate) shop_order_gap: ProductInterval,
}

impl ReorderModel {
    /// Builds the model from all purchases.
    pub fn build(
        purchases: &Purchases,
        catalogue: &Catalogue,
        params: &ReorderParams,
    ) -> ReorderModel {
        let n_products = purchases.n_products();
        let mut product_logs: Vec<Vec<f64>> = vec![Vec::new(); n_products];
        let mut order_gap_logs = Vec::new();
        let mut days: Vec<(u32, i64)> = Vec::new();
        for c in 0..purchases.n_customers() {
            let lines = purchases.customer_lines(crate::CustomerIdx(c as u32));
            days.clear();
            days.extend(lines.iter().map(|l| (l.product.0, l.at.div_euclid(DAY))));
            days.sort_unstable();
            days.dedup();
            for pair in days.windows(2) {
                if pair[0].0 == pair[1].0 {
                    product_logs[pair[0].0 as usize].push(((pair[1].1 - pair[0].1) as f64).ln());
                }
            }
            order_gap_logs.extend(gaps(distinct_days(lines.iter().map(|l| l.at))));
        }
        let n_categories = catalogue.n_categories();
        let mut category_logs: Vec<Vec<f64>> = vec![Vec::new(); n_categories];
        let mut shop_logs = Vec::new();
        for (p, logs) in product_logs.iter().enumerate() {
            shop_logs.extend_from_slice(logs);
            if let Some(c) = catalogue.category(ProductIdx(p as u32)) {
                category_logs[c.index()].extend_from_slice(logs);
            }
        }
        let shop = summarise(&mut shop_logs, None, 0.0);
        let categories: Vec<ProductInterval> = category_logs
            .iter_mut()
            .map(|logs| summarise(logs, Some(&shop), params.prior_intervals))
            .collect();
        let products = product_logs
            .iter_mut()
            .enumerate()
            .map(|(p, logs)| {
                let prior = match catalogue.category(ProductIdx(p as u32)) {
                    Some(c) => &categories[c.index()],
                    None => &shop,
                };
                summarise(logs, Some(prior), params.prior_intervals)
            })
            .collect();
        let shop_order_gap = summarise(&mut order_gap_logs, None, 0.0);
        ReorderModel {
            params: params.clone(),
            shop,
            categories,
            products,
            shop_order_gap,
        }
    }

    /// The shop's pooled repeat interval over all products.
    pub fn shop(&self) -> &ProductInterval {
        &self.shop
    }

    /// The shop's typical gap between a customer's orders.
    pub fn shop_order_gap(&self) -> &ProductInterval {
        &self.shop_order_gap
    }

    /// A category's repeat interval.
    pub fn category(&self, category: crate::CategoryIdx) -> Option<&ProductInterval> {
        self.categories.get(category.index())
    }

    /// A product's repeat interval.
    pub fn product(&self, product: ProductIdx) -> Option<&ProductInterval> {
        self.products.get(product.index())
    }

    /// When the person with `lines` (any order) is expected to buy `product` again; `None`
    /// if they never bought it or the product is unknown.
    pub fn next_product_order(
        &self,
        lines: &[OrderLine],
        product: ProductIdx,
    ) -> Option<NextOrder> {
        let typical = self.product(product)?;
        let days = distinct_days(lines.iter().filter(|l| l.product == product).map(|l| l.at));
        self.next(&days, typical)
    }

    /// When the person with `lines` (any order) is expected to order next; `None` without
    /// lines.
    pub fn next_order(&self, lines: &[OrderLine]) -> Option<NextOrder> {
        let days = distinct_days(lines.iter().map(|l| l.at));
        self.next(&days, &self.shop_order_gap)
    }

    fn next(&self, days: &[i64], typical: &ProductInterval) -> Option<NextOrder> {
        let &last_day = days.last()?;
        let own: Vec<f64> = gaps(days.to_vec()).collect();
        let n = own.len() as f64;
        let k = self.params.person_prior_intervals;
        let log_interval = (own.iter().sum::<f64>() + k * typical.median_days.ln())
            / (n + k).max(f64::MIN_POSITIVE);
        let interval_days = log_interval.exp();
        let last_at = last_day * DAY;
        Some(NextOrder {
            last_at,
            interval_days,
            expected_at: last_at + (interval_days * DAY as f64).round() as Timestamp,
            own_intervals: own.len() as u32,
        })
    }
}

/// Distinct days (as day numbers) of `times`, sorted.
fn distinct_days(times: impl Iterator<Item = Timestamp>) -> Vec<i64> {
    let mut days: Vec<i64> = times.map(|at| at.div_euclid(DAY)).collect();
    days.sort_unstable();
    days.dedup();
    days
}

/// The log of the gaps between consecutive distinct days.
fn gaps(days: Vec<i64>) -> impl Iterator<Item = f64> {
    (1..days.len()).map(move |k| ((days[k] - days[k - 1]) as f64).ln())
}

/// The type-7 quantile of sorted values.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    sorted[below] + (position - below as f64) * (sorted[above] - sorted[below])
}

/// Median and quartiles of log intervals, shrunk toward `prior` with `k` prior intervals.
fn summarise(logs: &mut [f64], prior: Option<&ProductInterval>, k: f64) -> ProductInterval {
    logs.sort_unstable_by(f64::total_cmp);
    let n = logs.len() as f64;
    let observed = (!logs.is_empty()).then(|| {
        [
            quantile(logs, 0.25),
            quantile(logs, 0.5),
            quantile(logs, 0.75),
        ]
    });
    let prior_logs = prior.map(|p| {
        [
            p.lower_quartile_days.ln(),
            p.median_days.ln(),
            p.upper_quartile_days.ln(),
        ]
    });
    let mixed = match (observed, prior_logs) {
        (Some(own), Some(prior)) => {
            let mix = |a: f64, b: f64| (n * a + k * b) / (n + k);
            [
                mix(own[0], prior[0]),
                mix(own[1], prior[1]),
                mix(own[2], prior[2]),
            ]
        }
        (Some(own), None) => own,
        (None, Some(prior)) => prior,
        // Without any repeat in the shop, a year is as good a guess as any.
        (None, None) => [365f64.ln(); 3],
    };
    ProductInterval {
        intervals: logs.len() as u32,
        observed_median_days: observed.map(|o| o[1].exp()),
        median_days: mixed[1].exp(),
        lower_quartile_days: mixed[0].exp(),
        upper_quartile_days: mixed[2].exp(),
    }
}
