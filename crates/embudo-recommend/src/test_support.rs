//! Helpers shared by the unit tests: a one-line-per-order fixture format and a tiny
//! deterministic generator.

use crate::{
    Catalogue, CategoryIdx, CivilDate, CustomerIdx, OrderIdx, OrderLine, Product, ProductIdx,
    timestamp_of,
};

/// Parses orders written `customer order YYYY-MM-DD product product…` (numbers are indices),
/// one per line; every line gets quantity 1 and price 1.
pub(crate) fn orders(text: &str) -> Vec<OrderLine> {
    let mut lines = Vec::new();
    for row in text.lines().map(str::trim).filter(|row| !row.is_empty()) {
        let mut fields = row.split_whitespace();
        let customer = fields.next().unwrap().parse().unwrap();
        let order = fields.next().unwrap().parse().unwrap();
        let at = date(fields.next().unwrap());
        for product in fields {
            lines.push(OrderLine {
                customer: CustomerIdx(customer),
                product: ProductIdx(product.parse().unwrap()),
                order: OrderIdx(order),
                at,
                quantity: 1,
                unit_price: 1.0,
            });
        }
    }
    lines
}

/// Midnight of a `YYYY-MM-DD` date.
pub(crate) fn date(text: &str) -> i64 {
    let mut parts = text.split('-').map(|p| p.parse::<i32>().unwrap());
    let (year, month, day) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    timestamp_of(CivilDate {
        year,
        month: month as u8,
        day: day as u8,
    })
}

/// `n` active products; `categories[p]` gives product `p`'s category when present.
pub(crate) fn catalogue(n: usize, categories: &[Option<u32>]) -> Catalogue {
    Catalogue {
        products: (0..n)
            .map(|p| Product {
                active: true,
                category: categories.get(p).copied().flatten().map(CategoryIdx),
                name: format!("P{p}"),
            })
            .collect(),
    }
}

/// A small linear congruential generator: tests pass their seed.
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Random orders: `n_orders` orders of 1–4 products among `n_products`, by `n_customers`
/// customers, over 2011.
pub(crate) fn random_orders(
    seed: u64,
    n_customers: u64,
    n_products: u64,
    n_orders: u32,
) -> Vec<OrderLine> {
    let mut rng = Lcg(seed);
    let start = date("2011-01-01");
    let mut lines = Vec::new();
    for order in 0..n_orders {
        let customer = CustomerIdx(rng.below(n_customers) as u32);
        let at = start + rng.below(365) as i64 * crate::DAY;
        for _ in 0..=rng.below(4) {
            lines.push(OrderLine {
                customer,
                product: ProductIdx(rng.below(n_products) as u32),
                order: OrderIdx(order),
                at,
                quantity: 1 + rng.below(3) as u32,
                unit_price: 2.5,
            });
        }
    }
    lines
}
