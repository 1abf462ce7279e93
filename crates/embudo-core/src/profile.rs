//! Per-profile aggregates, maintained incrementally one event at a time.

use std::collections::{BTreeMap, BTreeSet};

use crate::event::{Action, Event, EventKind};
use crate::page::PageCategory;
use crate::time::Timestamp;

/// How many distinct product ids a profile remembers; beyond it only the count grows.
pub const MAX_REMEMBERED_PRODUCTS: usize = 500;

/// Counts and sums over a profile's whole history.
///
/// Serialized (the stored form, written with every profile a step touches) without its zero,
/// empty and absent fields, which read back as their defaults: most people have no orders,
/// carts or page views, and those fields were a fifth of the text.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default)
)]
pub struct Aggregates {
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub first_seen: Option<Timestamp>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub last_seen: Option<Timestamp>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "is_zero"))]
    pub n_events: u64,
    /// Per event name: the track event's name, or `page`, `screen`, `identify`, `group`, `alias`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "BTreeMap::is_empty"))]
    pub event_counts: BTreeMap<String, u64>,
    /// Page views per page category.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "BTreeMap::is_empty"))]
    pub page_counts: BTreeMap<PageCategory, u64>,
    /// Distinct products viewed (at most [`MAX_REMEMBERED_PRODUCTS`] remembered).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "BTreeSet::is_empty"))]
    pub products_viewed: BTreeSet<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "is_zero"))]
    pub n_distinct_products_viewed: u64,
    /// Product views per product category.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "BTreeMap::is_empty"))]
    pub categories_viewed: BTreeMap<String, u64>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "is_zero"))]
    pub n_cart_adds: u64,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "is_zero"))]
    pub n_checkouts: u64,
    /// Orders by id, with what was refunded of each.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "BTreeMap::is_empty"))]
    pub orders: BTreeMap<String, OrderFacts>,
}

/// Counts one more `key`; the key is copied only the first time (an event name or a category
/// is usually counted already).
fn count(counts: &mut BTreeMap<String, u64>, key: &str) {
    match counts.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            counts.insert(key.to_owned(), 1);
        }
    }
}

#[cfg(feature = "serde")]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What the aggregates remember of one order (serialized without a zero refund, a `false`
/// cancellation or an absent currency).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OrderFacts {
    pub placed_at: Timestamp,
    pub total: f64,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "is_no_refund")
    )]
    pub refunded: f64,
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_false"))]
    pub cancelled: bool,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub currency: Option<String>,
}

#[cfg(feature = "serde")]
fn is_no_refund(refunded: &f64) -> bool {
    // Bit-exact: a negative zero is written, so that it reads back as itself.
    refunded.to_bits() == 0
}

#[cfg(feature = "serde")]
fn is_false(flag: &bool) -> bool {
    !*flag
}

impl OrderFacts {
    /// A fully refunded or cancelled order does not count as a purchase.
    pub fn is_kept(&self) -> bool {
        !self.cancelled && self.refunded + 1e-9 < self.total.max(f64::MIN_POSITIVE)
    }
}

impl Aggregates {
    /// Folds one event into the aggregates. Re-applying an order already seen changes nothing.
    ///
    /// embudo's own `Question Asked` records count by name only: they are not the person's
    /// activity (no `n_events`, no first or last seen), so asking cannot tip an audience.
    pub fn apply(&mut self, event: &Event, action: &Action) {
        let name = match event.kind {
            EventKind::Track => event.name.as_deref().unwrap_or("track"),
            kind => kind.as_str(),
        };
        count(&mut self.event_counts, name);
        if matches!(action, Action::QuestionAsked { .. }) {
            return;
        }
        let at = event.timestamp;
        self.first_seen = Some(self.first_seen.map_or(at, |first| first.min(at)));
        self.last_seen = Some(self.last_seen.map_or(at, |last| last.max(at)));
        self.n_events += 1;
        match action {
            Action::PageViewed { category, .. } => {
                *self.page_counts.entry(*category).or_default() += 1
            }
            Action::ProductViewed(product) => {
                if let Some(id) = &product.product_id
                    && !self.products_viewed.contains(id.as_str())
                {
                    self.n_distinct_products_viewed += 1;
                    if self.products_viewed.len() < MAX_REMEMBERED_PRODUCTS {
                        self.products_viewed.insert(String::from(id.as_str()));
                    }
                }
                if let Some(category) = &product.category {
                    count(&mut self.categories_viewed, category);
                }
            }
            Action::ProductAdded(_) => self.n_cart_adds += 1,
            Action::CheckoutStarted => self.n_checkouts += 1,
            Action::OrderCompleted(order) => {
                self.orders
                    .entry(order.order_id.clone())
                    .or_insert_with(|| OrderFacts {
                        placed_at: order.placed_at,
                        total: order.total,
                        refunded: 0.0,
                        cancelled: false,
                        currency: order.currency.clone(),
                    });
            }
            Action::OrderRefunded(refund) => {
                if let Some(facts) = self.orders.get_mut(&refund.order_id) {
                    let amount = refund.amount.unwrap_or(facts.total);
                    facts.refunded = (facts.refunded + amount).min(facts.total);
                }
            }
            Action::OrderCancelled { order_id } => {
                if let Some(facts) = self.orders.get_mut(order_id) {
                    facts.cancelled = true;
                }
            }
            _ => {}
        }
    }

    /// Merges another profile's aggregates into these (identity merge).
    pub fn merge(&mut self, other: &Aggregates) {
        self.first_seen = match (self.first_seen, other.first_seen) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_seen = match (self.last_seen, other.last_seen) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.n_events += other.n_events;
        for (name, count) in &other.event_counts {
            *self.event_counts.entry(name.clone()).or_default() += count;
        }
        for (category, count) in &other.page_counts {
            *self.page_counts.entry(*category).or_default() += count;
        }
        for product in &other.products_viewed {
            if !self.products_viewed.contains(product)
                && self.products_viewed.len() < MAX_REMEMBERED_PRODUCTS
            {
                self.products_viewed.insert(product.clone());
            }
        }
        self.n_distinct_products_viewed = self
            .n_distinct_products_viewed
            .max(other.n_distinct_products_viewed)
            .max(self.products_viewed.len() as u64);
        for (category, count) in &other.categories_viewed {
            *self.categories_viewed.entry(category.clone()).or_default() += count;
        }
        self.n_cart_adds += other.n_cart_adds;
        self.n_checkouts += other.n_checkouts;
        for (id, facts) in &other.orders {
            self.orders
                .entry(id.clone())
                .or_insert_with(|| facts.clone());
        }
    }

    pub fn count(&self, event_name: &str) -> u64 {
        self.event_counts.get(event_name).copied().unwrap_or(0)
    }

    pub fn page_count(&self, category: PageCategory) -> u64 {
        self.page_counts.get(&category).copied().unwrap_or(0)
    }

    /// Orders neither cancelled nor fully refunded.
    pub fn n_orders(&self) -> u64 {
        self.orders.values().filter(|order| order.is_kept()).count() as u64
    }

    /// Order totals less refunds, over orders not cancelled.
    pub fn revenue(&self) -> f64 {
        self.orders
            .values()
            .filter(|order| !order.cancelled)
            .map(|order| order.total - order.refunded)
            .fold(0.0, |sum, amount| sum + amount)
    }

    pub fn n_refunds(&self) -> u64 {
        self.orders
            .values()
            .filter(|order| order.refunded > 0.0)
            .count() as u64
    }

    pub fn refunded(&self) -> f64 {
        // Not `sum()`: an empty float sum is -0.0, which the API would show.
        self.orders
            .values()
            .fold(0.0, |sum, order| sum + order.refunded)
    }

    pub fn first_order_at(&self) -> Option<Timestamp> {
        self.orders
            .values()
            .filter(|order| order.is_kept())
            .map(|order| order.placed_at)
            .min()
    }

    pub fn last_order_at(&self) -> Option<Timestamp> {
        self.orders
            .values()
            .filter(|order| order.is_kept())
            .map(|order| order.placed_at)
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::Aggregates;

    #[test]
    fn no_orders_is_zero_revenue_not_negative_zero() {
        let aggregates = Aggregates::default();
        assert!(aggregates.revenue() == 0.0 && aggregates.revenue().is_sign_positive());
        assert!(aggregates.refunded() == 0.0 && aggregates.refunded().is_sign_positive());
    }
}
