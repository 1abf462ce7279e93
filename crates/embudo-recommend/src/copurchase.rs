//! Customer-level co-purchase counts: how many customers bought both products of a pair,
//! with support, confidence and lift, for explanations and product pages.
//!
//! A pair counts a customer once however many orders held the two products; the products
//! need not be in the same order. The counts can be updated incrementally with new lines
//! ([`CoPurchase::add_lines`]) and then equal a rebuild on all lines.

use crate::{OrderLine, ProductIdx, Purchases};

#[cfg(test)]
mod tests;

/// Co-purchase statistics of an ordered pair of products `(a, b)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairStats {
    /// Customers who bought `a`.
    pub customers_a: u32,
    /// Customers who bought `b`.
    pub customers_b: u32,
    /// Customers who bought both.
    pub customers_both: u32,
    /// `customers_both` over all customers with a purchase.
    pub support: f64,
    /// P(bought `b` | bought `a`).
    pub confidence: f64,
    /// `confidence` over the share of customers who bought `b`: above 1, `a`'s buyers buy `b`
    /// more often than customers at large.
    pub lift: f64,
}

/// A product associated with another one, with the pair's statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Association {
    pub product: ProductIdx,
    pub stats: PairStats,
}

/// Co-purchase counts for every pair of products bought by a common customer.
#[derive(Debug, Clone, PartialEq)]
pub struct CoPurchase {
    /// Per customer, the distinct products bought, sorted.
    customer_items: Vec<Vec<u32>>,
    /// Distinct buyers per product.
    product_customers: Vec<u32>,
    /// Per product, `(other product, customers who bought both)`, sorted by product.
    rows: Vec<Vec<(u32, u32)>>,
    /// Customers with at least one purchase.
    n_customers: u32,
}

impl CoPurchase {
    /// Counts every pair in `purchases`.
    pub fn build(purchases: &Purchases) -> CoPurchase {
        let n_products = purchases.n_products();
        let customer_items: Vec<Vec<u32>> = (0..purchases.n_customers())
            .map(|c| {
                purchases
                    .customer_items(crate::CustomerIdx(c as u32))
                    .iter()
                    .map(|item| item.product.0)
                    .collect()
            })
            .collect();
        let product_customers = purchases.product_customer_counts().to_vec();
        let buyers = buyers_by_product(&customer_items, n_products);
        let mut counts = vec![0u32; n_products];
        let mut touched = Vec::new();
        let rows = (0..n_products)
            .map(|i| {
                for &customer in buyers.of(i) {
                    for &j in &customer_items[customer as usize] {
                        if counts[j as usize] == 0 {
                            touched.push(j);
                        }
                        counts[j as usize] += 1;
                    }
                }
                touched.sort_unstable();
                let row = touched
                    .drain(..)
                    .filter(|&j| j as usize != i)
                    .map(|j| (j, counts[j as usize]))
                    .collect();
                for &customer in buyers.of(i) {
                    for &j in &customer_items[customer as usize] {
                        counts[j as usize] = 0;
                    }
                }
                row
            })
            .collect();
        let n_customers = customer_items
            .iter()
            .filter(|items| !items.is_empty())
            .count() as u32;
        CoPurchase {
            customer_items,
            product_customers,
            rows,
            n_customers,
        }
    }

    /// Adds new order lines, as if they had been part of the build. Products and customers
    /// beyond the current ranges are added.
    pub fn add_lines(&mut self, lines: &[OrderLine]) {
        for line in lines {
            let customer = line.customer.index();
            let product = line.product.0;
            if customer >= self.customer_items.len() {
                self.customer_items.resize_with(customer + 1, Vec::new);
            }
            let needed = product as usize + 1;
            if needed > self.rows.len() {
                self.rows.resize_with(needed, Vec::new);
                self.product_customers.resize(needed, 0);
            }
            let items = &self.customer_items[customer];
            let Err(position) = items.binary_search(&product) else {
                continue;
            };
            if items.is_empty() {
                self.n_customers += 1;
            }
            for &other in items {
                increment(&mut self.rows[product as usize], other);
                increment(&mut self.rows[other as usize], product);
            }
            self.customer_items[customer].insert(position, product);
            self.product_customers[product as usize] += 1;
        }
    }

    /// The number of products covered.
    pub fn n_products(&self) -> usize {
        self.rows.len()
    }

    /// The number of customers with at least one purchase.
    pub fn n_customers(&self) -> u32 {
        self.n_customers
    }

    /// The number of distinct buyers of `product`.
    pub fn customers(&self, product: ProductIdx) -> u32 {
        self.product_customers
            .get(product.index())
            .copied()
            .unwrap_or(0)
    }

    /// The number of customers who bought both `a` and `b`.
    pub fn customers_both(&self, a: ProductIdx, b: ProductIdx) -> u32 {
        let Some(row) = self.rows.get(a.index()) else {
            return 0;
        };
        row.binary_search_by_key(&b.0, |&(j, _)| j)
            .map_or(0, |k| row[k].1)
    }

    /// The statistics of the pair `(a, b)`.
    pub fn pair(&self, a: ProductIdx, b: ProductIdx) -> PairStats {
        self.stats(a, b, self.customers_both(a, b))
    }

    /// The products most often bought by `product`'s buyers (highest confidence first, ties
    /// by lift), among pairs with at least `min_customers` common customers.
    pub fn associations(
        &self,
        product: ProductIdx,
        n: usize,
        min_customers: u32,
    ) -> Vec<Association> {
        let Some(row) = self.rows.get(product.index()) else {
            return Vec::new();
        };
        let mut out: Vec<Association> = row
            .iter()
            .filter(|&&(_, both)| both >= min_customers.max(1))
            .map(|&(j, both)| Association {
                product: ProductIdx(j),
                stats: self.stats(product, ProductIdx(j), both),
            })
            .collect();
        out.sort_by(|x, y| {
            y.stats
                .customers_both
                .cmp(&x.stats.customers_both)
                .then(y.stats.lift.total_cmp(&x.stats.lift))
                .then(x.product.cmp(&y.product))
        });
        out.truncate(n);
        out
    }

    /// All stored pairs `(a, b, customers_both)` with `a != b`, for checks and exports.
    pub fn pairs(&self) -> impl Iterator<Item = (ProductIdx, ProductIdx, u32)> + '_ {
        self.rows.iter().enumerate().flat_map(|(i, row)| {
            row.iter()
                .map(move |&(j, both)| (ProductIdx(i as u32), ProductIdx(j), both))
        })
    }

    fn stats(&self, a: ProductIdx, b: ProductIdx, both: u32) -> PairStats {
        let customers_a = self.customers(a);
        let customers_b = self.customers(b);
        let n = f64::from(self.n_customers.max(1));
        let ratio = |num: f64, den: f64| if den > 0.0 { num / den } else { 0.0 };
        let confidence = ratio(f64::from(both), f64::from(customers_a));
        PairStats {
            customers_a,
            customers_b,
            customers_both: both,
            support: f64::from(both) / n,
            confidence,
            lift: ratio(confidence * n, f64::from(customers_b)),
        }
    }
}

fn increment(row: &mut Vec<(u32, u32)>, product: u32) {
    match row.binary_search_by_key(&product, |&(j, _)| j) {
        Ok(k) => row[k].1 += 1,
        Err(k) => row.insert(k, (product, 1)),
    }
}

/// Customers per product, in compressed rows.
pub(crate) struct Buyers {
    starts: Vec<usize>,
    customers: Vec<u32>,
}

impl Buyers {
    pub(crate) fn into_parts(self) -> (Vec<usize>, Vec<u32>) {
        (self.starts, self.customers)
    }

    pub(crate) fn of(&self, product: usize) -> &[u32] {
        &self.customers[self.starts[product]..self.starts[product + 1]]
    }
}

pub(crate) fn buyers_by_product(customer_items: &[Vec<u32>], n_products: usize) -> Buyers {
    let mut starts = vec![0usize; n_products + 1];
    for items in customer_items {
        for &j in items {
            starts[j as usize + 1] += 1;
        }
    }
    for j in 0..n_products {
        starts[j + 1] += starts[j];
    }
    let mut fill = starts.clone();
    let mut customers = vec![0u32; starts[n_products]];
    for (c, items) in customer_items.iter().enumerate() {
        for &j in items {
            customers[fill[j as usize]] = c as u32;
            fill[j as usize] += 1;
        }
    }
    Buyers { starts, customers }
}
