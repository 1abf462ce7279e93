//! Input types: interned ids, order lines, the product catalogue and validated [`Purchases`].
//!
//! The caller maps its string ids (customer ids, SKUs, order numbers, category names) to dense
//! indices with an [`Interner`]; every model in this crate indexes arrays with them.

use std::collections::HashMap;

#[cfg(test)]
mod tests;

/// Seconds since 1970-01-01 00:00 in the shop's local time (the calendar models read months
/// and weeks from it without a time zone).
pub type Timestamp = i64;

macro_rules! index_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u32);

        impl $name {
            /// The index as a `usize`, for indexing arrays.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

index_type!(
    /// A customer, interned by the caller (dense, from 0).
    CustomerIdx
);
index_type!(
    /// A product, interned by the caller (dense, from 0); indexes the [`Catalogue`].
    ProductIdx
);
index_type!(
    /// An order (invoice), interned by the caller (dense, from 0).
    OrderIdx
);
index_type!(
    /// A product category, interned by the caller (dense, from 0).
    CategoryIdx
);

/// Maps string ids to dense `u32` indices, in order of first appearance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interner {
    indices: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    /// The index of `name`, adding it if it is new.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&index) = self.indices.get(name) {
            return index;
        }
        let index = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.indices.insert(name.to_owned(), index);
        self.names.push(name.to_owned());
        index
    }

    /// The index of `name` if it was interned.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.indices.get(name).copied()
    }

    /// The name behind `index`.
    pub fn name(&self, index: u32) -> Option<&str> {
        self.names.get(index as usize).map(String::as_str)
    }

    /// The number of interned names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether nothing was interned yet.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// All names, by index.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// One line of one order: a customer bought `quantity` units of a product.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrderLine {
    pub customer: CustomerIdx,
    pub product: ProductIdx,
    pub order: OrderIdx,
    pub at: Timestamp,
    /// Units bought; must be positive (returns and cancellations are removed by the caller).
    pub quantity: u32,
    /// Price of one unit in the shop's currency; must be finite and not negative.
    pub unit_price: f64,
}

/// One product of the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// Inactive products are never recommended (they still count as evidence).
    pub active: bool,
    pub category: Option<CategoryIdx>,
    pub name: String,
}

/// The shop's products, indexed by [`ProductIdx`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalogue {
    pub products: Vec<Product>,
}

impl Catalogue {
    /// The number of products.
    pub fn len(&self) -> usize {
        self.products.len()
    }

    /// Whether the catalogue has no products.
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    /// The product behind `product`.
    pub fn product(&self, product: ProductIdx) -> Option<&Product> {
        self.products.get(product.index())
    }

    /// The category of `product`, if it has one.
    pub fn category(&self, product: ProductIdx) -> Option<CategoryIdx> {
        self.product(product).and_then(|p| p.category)
    }

    /// The number of categories (one more than the largest category index used).
    pub fn n_categories(&self) -> usize {
        self.products
            .iter()
            .filter_map(|p| p.category)
            .map(|c| c.index() + 1)
            .max()
            .unwrap_or(0)
    }
}

/// Why order lines were rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    #[error("line {line}: product {product} is not in the catalogue of {n_products} products")]
    UnknownProduct {
        line: usize,
        product: u32,
        n_products: usize,
    },
    #[error("line {line}: quantity must be positive")]
    NonPositiveQuantity { line: usize },
    #[error("line {line}: unit price {price} is not a finite, non-negative number")]
    BadPrice { line: usize, price: f64 },
}

/// What one customer bought of one product, over all their orders.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CustomerProduct {
    pub product: ProductIdx,
    /// Distinct orders containing the product.
    pub n_orders: u32,
    /// Distinct days on which the product was bought (same-day orders count once).
    pub n_days: u32,
    pub quantity: u64,
    pub first_at: Timestamp,
    pub last_at: Timestamp,
}

/// Validated order lines, grouped by customer: the input of every model.
#[derive(Debug, Clone)]
pub struct Purchases {
    n_products: usize,
    n_customers: usize,
    /// Lines sorted by (customer, time, order, product).
    lines: Vec<OrderLine>,
    /// `lines[line_starts[c]..line_starts[c + 1]]` are customer `c`'s lines.
    line_starts: Vec<usize>,
    /// Per customer, per distinct product, sorted by product.
    items: Vec<CustomerProduct>,
    item_starts: Vec<usize>,
    /// Distinct buyers per product.
    product_customers: Vec<u32>,
    first_at: Option<Timestamp>,
    last_at: Option<Timestamp>,
}

impl Purchases {
    /// Validates and indexes `lines` for a catalogue of `n_products` products.
    ///
    /// Customers are counted up to the largest customer index used.
    pub fn new(mut lines: Vec<OrderLine>, n_products: usize) -> Result<Purchases, DataError> {
        for (line, l) in lines.iter().enumerate() {
            if l.product.index() >= n_products {
                return Err(DataError::UnknownProduct {
                    line,
                    product: l.product.0,
                    n_products,
                });
            }
            if l.quantity == 0 {
                return Err(DataError::NonPositiveQuantity { line });
            }
            if !l.unit_price.is_finite() || l.unit_price < 0.0 {
                return Err(DataError::BadPrice {
                    line,
                    price: l.unit_price,
                });
            }
        }
        lines.sort_unstable_by_key(|l| (l.customer, l.at, l.order, l.product));
        let n_customers = lines.last().map_or(0, |l| l.customer.index() + 1);

        let mut line_starts = vec![0; n_customers + 1];
        for l in &lines {
            line_starts[l.customer.index() + 1] += 1;
        }
        for c in 0..n_customers {
            line_starts[c + 1] += line_starts[c];
        }

        let mut items = Vec::new();
        let mut item_starts = Vec::with_capacity(n_customers + 1);
        let mut product_customers = vec![0u32; n_products];
        let mut scratch: Vec<OrderLine> = Vec::new();
        item_starts.push(0);
        for c in 0..n_customers {
            scratch.clear();
            scratch.extend_from_slice(&lines[line_starts[c]..line_starts[c + 1]]);
            scratch.sort_unstable_by_key(|l| (l.product, l.at, l.order));
            let mut i = 0;
            while i < scratch.len() {
                let product = scratch[i].product;
                let mut item = CustomerProduct {
                    product,
                    n_orders: 0,
                    n_days: 0,
                    quantity: 0,
                    first_at: scratch[i].at,
                    last_at: scratch[i].at,
                };
                let mut last_order = None;
                let mut last_day = None;
                while i < scratch.len() && scratch[i].product == product {
                    let l = &scratch[i];
                    item.quantity += u64::from(l.quantity);
                    item.last_at = l.at;
                    if last_order != Some(l.order) {
                        item.n_orders += 1;
                        last_order = Some(l.order);
                    }
                    let day = l.at.div_euclid(crate::DAY);
                    if last_day != Some(day) {
                        item.n_days += 1;
                        last_day = Some(day);
                    }
                    i += 1;
                }
                product_customers[product.index()] += 1;
                items.push(item);
            }
            item_starts.push(items.len());
        }
        let first_at = lines.iter().map(|l| l.at).min();
        let last_at = lines.iter().map(|l| l.at).max();
        Ok(Purchases {
            n_products,
            n_customers,
            lines,
            line_starts,
            items,
            item_starts,
            product_customers,
            first_at,
            last_at,
        })
    }

    /// The number of products of the catalogue.
    pub fn n_products(&self) -> usize {
        self.n_products
    }

    /// One more than the largest customer index seen.
    pub fn n_customers(&self) -> usize {
        self.n_customers
    }

    /// All lines, sorted by (customer, time, order, product).
    pub fn lines(&self) -> &[OrderLine] {
        &self.lines
    }

    /// The lines of `customer`, in time order (empty for an unknown customer).
    pub fn customer_lines(&self, customer: CustomerIdx) -> &[OrderLine] {
        let c = customer.index();
        if c >= self.n_customers {
            return &[];
        }
        &self.lines[self.line_starts[c]..self.line_starts[c + 1]]
    }

    /// What `customer` bought, one entry per distinct product, sorted by product.
    pub fn customer_items(&self, customer: CustomerIdx) -> &[CustomerProduct] {
        let c = customer.index();
        if c >= self.n_customers {
            return &[];
        }
        &self.items[self.item_starts[c]..self.item_starts[c + 1]]
    }

    /// The number of distinct customers who bought `product`.
    pub fn product_customers(&self, product: ProductIdx) -> u32 {
        self.product_customers
            .get(product.index())
            .copied()
            .unwrap_or(0)
    }

    /// Distinct buyers per product, indexed by product.
    pub fn product_customer_counts(&self) -> &[u32] {
        &self.product_customers
    }

    /// The number of customers with at least one line.
    pub fn n_active_customers(&self) -> usize {
        (0..self.n_customers)
            .filter(|&c| self.item_starts[c + 1] > self.item_starts[c])
            .count()
    }

    /// The time of the first and of the last line.
    pub fn span(&self) -> Option<(Timestamp, Timestamp)> {
        Some((self.first_at?, self.last_at?))
    }
}
