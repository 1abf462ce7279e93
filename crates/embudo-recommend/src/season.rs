//! Product seasons: month-of-year and week-of-year demand indices.
//!
//! Demand is counted in orders (an order holding a product counts once for it) per calendar
//! bin (month of year, or ISO week with week 53 merged into week 52), divided by the days the
//! data covers in that bin: a bin seen twice (December in data from December to December)
//! or only partly does not look busier or quieter for it.
//!
//! Sparse products are shrunk toward their category and categories toward the shop: a level
//! with `n` orders gets `k` pseudo-orders spread as its prior's pattern would spread them over
//! the covered days, so its rate in bin `b` is `(n_b + k · q_b) / days_b`, where `q_b` is the
//! prior's expected share of orders in `b`. The index is the rate over the mean rate of the
//! bins: 1 is an average month, 2 a month with twice the demand.

use crate::calendar::{civil_from_days, iso_week_of_day};
use crate::{Catalogue, CivilDate, DAY, ProductIdx, Purchases, Timestamp};

#[cfg(test)]
mod tests;

pub(crate) const MONTHS: usize = 12;
pub(crate) const WEEKS: usize = 52;

/// Hyper-parameters of the [`Seasons`] model.
#[derive(Debug, Clone, PartialEq)]
pub struct SeasonParams {
    /// Pseudo-orders pulling a product toward its category (or the shop without one).
    pub product_prior_orders: f64,
    /// Pseudo-orders pulling a category toward the shop.
    pub category_prior_orders: f64,
    /// A month whose index is at least this is a peak.
    pub peak_index: f64,
}

impl SeasonParams {
    /// Moderate shrinkage: a product with 30 orders is half its own pattern, half its
    /// category's; a peak is a month with 30 % more demand than average.
    pub fn standard() -> SeasonParams {
        SeasonParams {
            product_prior_orders: 30.0,
            category_prior_orders: 100.0,
            peak_index: 1.3,
        }
    }
}

/// The demand pattern of a product, a category or the shop.
#[derive(Debug, Clone, PartialEq)]
pub struct SeasonProfile {
    /// Index per month (January first); the mean over months is 1.
    pub month_index: [f64; MONTHS],
    /// Index per ISO week (week 1 first, week 53 merged into 52); the mean is 1.
    pub week_index: [f64; WEEKS],
    /// Orders counted (before shrinkage).
    pub orders: u64,
}

/// The next peak month of a product.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpcomingPeak {
    pub year: i32,
    /// 1 to 12.
    pub month: u8,
    pub index: f64,
    /// Midnight at the start of the month (in the past when the peak is the current month).
    pub starts_at: Timestamp,
}

impl SeasonProfile {
    /// The index of `month` (1 to 12).
    pub fn month(&self, month: u8) -> f64 {
        self.month_index[usize::from(month.clamp(1, 12)) - 1]
    }

    /// The `n` months with the highest index, best first (1 to 12).
    pub fn best_months(&self, n: usize) -> Vec<u8> {
        let mut months: Vec<u8> = (1..=12).collect();
        months.sort_by(|&a, &b| self.month(b).total_cmp(&self.month(a)).then(a.cmp(&b)));
        months.truncate(n);
        months
    }

    /// The first month, from the month of `now` on (within a year), whose index is at least
    /// `peak_index`; `None` for a product without such a month.
    pub fn upcoming_peak(&self, now: Timestamp, peak_index: f64) -> Option<UpcomingPeak> {
        let today = crate::civil_date(now);
        (0..12).find_map(|ahead| {
            let zero_based = usize::from(today.month) - 1 + ahead;
            let month = (zero_based % 12) as u8 + 1;
            let year = today.year + (zero_based / 12) as i32;
            let index = self.month(month);
            (index >= peak_index).then(|| UpcomingPeak {
                year,
                month,
                index,
                starts_at: crate::timestamp_of(CivilDate {
                    year,
                    month,
                    day: 1,
                }),
            })
        })
    }
}

/// Season profiles of the shop, every category and every product.
#[derive(Debug, Clone, PartialEq)]
pub struct Seasons {
    pub(crate) shop: SeasonProfile,
    pub(crate) categories: Vec<SeasonProfile>,
    pub(crate) products: Vec<SeasonProfile>,
    pub(crate) params: SeasonParams,
}

impl Seasons {
    /// Builds every profile from `purchases` (categories from `catalogue`).
    pub fn build(purchases: &Purchases, catalogue: &Catalogue, params: &SeasonParams) -> Seasons {
        let n_products = purchases.n_products();
        let n_categories = catalogue.n_categories();
        let Some((first_at, last_at)) = purchases.span() else {
            let flat = flat_profile();
            return Seasons {
                shop: flat.clone(),
                categories: vec![flat.clone(); n_categories],
                products: vec![flat; n_products],
                params: params.clone(),
            };
        };
        let mut month_days = [0f64; MONTHS];
        let mut week_days = [0f64; WEEKS];
        for day in first_at.div_euclid(DAY)..=last_at.div_euclid(DAY) {
            month_days[month_bin(day)] += 1.0;
            week_days[week_bin(day)] += 1.0;
        }

        let mut product_months = vec![[0u64; MONTHS]; n_products];
        let mut product_weeks = vec![[0u64; WEEKS]; n_products];
        let mut previous = None;
        for line in purchases.lines() {
            // Lines are sorted by (customer, time, order, product): repeats are adjacent.
            let key = (line.order, line.product);
            if previous == Some(key) {
                continue;
            }
            previous = Some(key);
            let day = line.at.div_euclid(DAY);
            product_months[line.product.index()][month_bin(day)] += 1;
            product_weeks[line.product.index()][week_bin(day)] += 1;
        }
        let mut category_months = vec![[0u64; MONTHS]; n_categories];
        let mut category_weeks = vec![[0u64; WEEKS]; n_categories];
        let mut shop_months = [0u64; MONTHS];
        let mut shop_weeks = [0u64; WEEKS];
        for p in 0..n_products {
            add(&mut shop_months, &product_months[p]);
            add(&mut shop_weeks, &product_weeks[p]);
            if let Some(c) = catalogue.category(ProductIdx(p as u32)) {
                add(&mut category_months[c.index()], &product_months[p]);
                add(&mut category_weeks[c.index()], &product_weeks[p]);
            }
        }

        let uniform_months = [1.0 / MONTHS as f64; MONTHS];
        let uniform_weeks = [1.0 / WEEKS as f64; WEEKS];
        let shop = SeasonProfile {
            month_index: index(&shop_months, &month_days, &uniform_months, 1.0),
            week_index: index(&shop_weeks, &week_days, &uniform_weeks, 1.0),
            orders: shop_months.iter().sum(),
        };
        let categories: Vec<SeasonProfile> = (0..n_categories)
            .map(|c| {
                shrunk(
                    &category_months[c],
                    &category_weeks[c],
                    &month_days,
                    &week_days,
                    &shop,
                    params.category_prior_orders,
                )
            })
            .collect();
        let products = (0..n_products)
            .map(|p| {
                let prior = match catalogue.category(ProductIdx(p as u32)) {
                    Some(c) => &categories[c.index()],
                    None => &shop,
                };
                shrunk(
                    &product_months[p],
                    &product_weeks[p],
                    &month_days,
                    &week_days,
                    prior,
                    params.product_prior_orders,
                )
            })
            .collect();
        Seasons {
            shop,
            categories,
            products,
            params: params.clone(),
        }
    }

    /// The shop's profile.
    pub fn shop(&self) -> &SeasonProfile {
        &self.shop
    }

    /// A category's profile.
    pub fn category(&self, category: crate::CategoryIdx) -> Option<&SeasonProfile> {
        self.categories.get(category.index())
    }

    /// A product's profile.
    pub fn product(&self, product: ProductIdx) -> Option<&SeasonProfile> {
        self.products.get(product.index())
    }

    /// The next peak of `product` from `now`, with the model's `peak_index`.
    pub fn upcoming_peak(&self, product: ProductIdx, now: Timestamp) -> Option<UpcomingPeak> {
        self.product(product)?
            .upcoming_peak(now, self.params.peak_index)
    }
}

fn flat_profile() -> SeasonProfile {
    SeasonProfile {
        month_index: [1.0; MONTHS],
        week_index: [1.0; WEEKS],
        orders: 0,
    }
}

fn month_bin(day: i64) -> usize {
    usize::from(civil_from_days(day).month) - 1
}

fn week_bin(day: i64) -> usize {
    usize::from(iso_week_of_day(day).min(52)) - 1
}

fn add<const N: usize>(total: &mut [u64; N], counts: &[u64; N]) {
    for (t, c) in total.iter_mut().zip(counts) {
        *t += c;
    }
}

fn shrunk(
    months: &[u64; MONTHS],
    weeks: &[u64; WEEKS],
    month_days: &[f64; MONTHS],
    week_days: &[f64; WEEKS],
    prior: &SeasonProfile,
    prior_orders: f64,
) -> SeasonProfile {
    let month_prior = prior.month_index.map(|x| x / MONTHS as f64);
    let week_prior = prior.week_index.map(|x| x / WEEKS as f64);
    SeasonProfile {
        month_index: index(months, month_days, &month_prior, prior_orders),
        week_index: index(weeks, week_days, &week_prior, prior_orders),
        orders: months.iter().sum(),
    }
}

/// The shrunk index of `counts` over `days` of exposure, toward the pattern `prior` (shares
/// of the daily rate summing to 1) with `prior_orders` pseudo-orders.
fn index<const N: usize>(
    counts: &[u64; N],
    days: &[f64; N],
    prior: &[f64; N],
    prior_orders: f64,
) -> [f64; N] {
    let prior_exposure: f64 = prior.iter().zip(days).map(|(p, d)| p * d).sum();
    let total = counts.iter().sum::<u64>() as f64 + prior_orders;
    if prior_exposure <= 0.0 || total <= 0.0 {
        return prior.map(|p| p * N as f64);
    }
    // Rates per day; a bin without exposure takes the prior at the posterior's scale.
    let scale = total / prior_exposure;
    let mut rates = [0f64; N];
    for b in 0..N {
        rates[b] = if days[b] > 0.0 {
            (counts[b] as f64 + prior_orders * prior[b] * days[b] / prior_exposure) / days[b]
        } else {
            prior[b] * scale
        };
    }
    let mean = rates.iter().sum::<f64>() / N as f64;
    if mean <= 0.0 {
        return [1.0; N];
    }
    rates.map(|r| r / mean)
}
