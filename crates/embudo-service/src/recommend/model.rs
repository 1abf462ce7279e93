//! The stored recommendation model: what `build_recommendations` computes from a workspace's
//! orders, its binary payload, and the per-process view of it with the config applied.

use std::collections::HashMap;

use embudo_config::{RecommendRule, RecommendSettings};
use embudo_core::Timestamp;
use embudo_recommend::{
    Catalogue, CategoryIdx, CategoryRule, CoPurchase, CustomerIdx, DAY, DataError, DecodeError,
    Interner, OrderIdx, OrderLine, Product, ProductIdx, Purchases, Reader, RecommendParams,
    Recommender, ReorderModel, ReorderParams, SeasonParams, Seasons, Writer,
};
use embudo_store::OrderRecord;

/// The first bytes of a payload: the format and its version.
const MAGIC: &[u8; 8] = b"embrec01";

/// Associations kept per product for product pages.
pub(crate) const KEPT_ASSOCIATIONS: usize = 20;

/// Recommendation timestamps are seconds (UTC); core timestamps are milliseconds.
pub(crate) fn seconds(at: Timestamp) -> i64 {
    at.as_millis().div_euclid(1000)
}

/// What a build used, for the model report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuildCounts {
    /// Orders with a profile, not cancelled and not wholly refunded.
    pub orders: usize,
    /// Orders left out: without a profile, cancelled or wholly refunded.
    pub skipped_orders: usize,
    /// Order lines used (positive quantity and finite, non-negative price).
    pub lines: usize,
    pub products: usize,
    pub customers: usize,
}

/// Every model of one build, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RecommendModels {
    pub built_at: Timestamp,
    pub counts: BuildCounts,
    /// Product ids, by product index.
    pub(crate) products: Interner,
    /// Per product: display name (the first non-empty one), category, last sale (seconds).
    pub(crate) names: Vec<String>,
    pub(crate) categories: Interner,
    pub(crate) product_category: Vec<Option<u32>>,
    pub(crate) last_sold: Vec<i64>,
    /// Distinct orders holding the product.
    pub(crate) product_orders: Vec<u32>,
    /// Profile ids, by customer index.
    pub(crate) customers: Vec<i64>,
    pub(crate) recommender: Recommender,
    pub(crate) seasons: Seasons,
    pub(crate) reorder: ReorderModel,
    /// Per product, `(other product, customers who bought both)`, most common first.
    pub(crate) association_starts: Vec<usize>,
    pub(crate) associations: Vec<(u32, u32)>,
    /// Distinct buyers per product.
    pub(crate) product_customers: Vec<u32>,
}

impl RecommendModels {
    /// Builds every model from a workspace's orders, as of `now`.
    pub fn build(orders: &[OrderRecord], now: Timestamp) -> Result<RecommendModels, DataError> {
        let mut products = Interner::default();
        let mut categories = Interner::default();
        let mut names: Vec<String> = Vec::new();
        let mut product_category: Vec<Option<u32>> = Vec::new();
        let mut customer_index: HashMap<i64, u32> = HashMap::new();
        let mut customers: Vec<i64> = Vec::new();
        let mut lines = Vec::new();
        let mut skipped_orders = 0;
        let mut used_orders = 0;
        for order in orders {
            let Some(profile) = order.profile_id else {
                skipped_orders += 1;
                continue;
            };
            let wholly_refunded = order.total > 0.0 && order.refunded >= order.total;
            if order.cancelled || wholly_refunded {
                skipped_orders += 1;
                continue;
            }
            let customer = *customer_index.entry(profile.0).or_insert_with(|| {
                customers.push(profile.0);
                (customers.len() - 1) as u32
            });
            let at = seconds(order.placed_at);
            let mut any = false;
            for line in &order.lines {
                if line.quantity.is_nan()
                    || line.quantity <= 0.0
                    || !line.unit_price.is_finite()
                    || line.unit_price < 0.0
                {
                    continue;
                }
                let product = products.intern(&line.product_id);
                if product as usize == names.len() {
                    names.push(String::new());
                    product_category.push(None);
                }
                let name = &mut names[product as usize];
                if name.is_empty()
                    && let Some(given) = line.name.as_deref().filter(|n| !n.trim().is_empty())
                {
                    given.trim().clone_into(name);
                }
                if product_category[product as usize].is_none()
                    && let Some(category) =
                        line.category.as_deref().filter(|c| !c.trim().is_empty())
                {
                    product_category[product as usize] = Some(categories.intern(category.trim()));
                }
                lines.push(OrderLine {
                    customer: CustomerIdx(customer),
                    product: ProductIdx(product),
                    order: OrderIdx(used_orders as u32),
                    at,
                    // The invariant: quantity > 0 was checked; fractions round up to one unit.
                    quantity: line.quantity.ceil().min(f64::from(u32::MAX)) as u32,
                    unit_price: line.unit_price,
                });
                any = true;
            }
            if any {
                used_orders += 1;
            } else {
                skipped_orders += 1;
            }
        }
        let n_products = products.len();
        let catalogue = catalogue(&names, &product_category, &vec![true; n_products]);
        let n_lines = lines.len();
        let mut last_sold = vec![i64::MIN; n_products];
        let mut product_orders = vec![0u32; n_products];
        let mut previous = None;
        // Lines come in order order, products within an order may repeat.
        let mut seen: Vec<(u32, u32)> = lines.iter().map(|l| (l.order.0, l.product.0)).collect();
        seen.sort_unstable();
        for key in seen {
            if previous != Some(key) {
                product_orders[key.1 as usize] += 1;
            }
            previous = Some(key);
        }
        for line in &lines {
            let last = &mut last_sold[line.product.index()];
            *last = (*last).max(line.at);
        }
        let purchases = Purchases::new(lines, n_products)?;
        let now_s = seconds(now);
        let recommender = Recommender::build(&purchases, &RecommendParams::tuned(), now_s);
        let seasons = Seasons::build(&purchases, &catalogue, &SeasonParams::standard());
        let reorder = ReorderModel::build(&purchases, &catalogue, &ReorderParams::standard());
        let co_purchase = CoPurchase::build(&purchases);
        let mut association_starts = Vec::with_capacity(n_products + 1);
        let mut associations = Vec::new();
        association_starts.push(0);
        for p in 0..n_products {
            associations.extend(
                co_purchase
                    .associations(ProductIdx(p as u32), KEPT_ASSOCIATIONS, 1)
                    .iter()
                    .map(|a| (a.product.0, a.stats.customers_both)),
            );
            association_starts.push(associations.len());
        }
        Ok(RecommendModels {
            built_at: now,
            counts: BuildCounts {
                orders: used_orders,
                skipped_orders,
                lines: n_lines,
                products: n_products,
                customers: purchases.n_active_customers(),
            },
            products,
            names,
            categories,
            product_category,
            last_sold,
            product_orders,
            customers,
            recommender,
            seasons,
            reorder,
            association_starts,
            associations,
            product_customers: purchases.product_customer_counts().to_vec(),
        })
    }

    /// The binary payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        for &byte in MAGIC {
            w.u8(byte);
        }
        w.i64(self.built_at.as_millis());
        let c = &self.counts;
        for n in [c.orders, c.skipped_orders, c.lines, c.products, c.customers] {
            w.usize(n);
        }
        w.seq(self.products.names(), |w, name| w.str(name));
        w.seq(&self.names, |w, name| w.str(name));
        w.seq(self.categories.names(), |w, name| w.str(name));
        w.seq(&self.product_category, |w, category| {
            w.u32(category.unwrap_or(u32::MAX))
        });
        w.seq(&self.last_sold, |w, &at| w.i64(at));
        w.seq(&self.product_orders, |w, &n| w.u32(n));
        w.seq(&self.customers, |w, &id| w.i64(id));
        self.recommender.encode(&mut w);
        self.seasons.encode(&mut w);
        self.reorder.encode(&mut w);
        w.seq(&self.association_starts, |w, &x| w.usize(x));
        w.seq(&self.associations, |w, &(product, both)| {
            w.u32(product);
            w.u32(both);
        });
        w.seq(&self.product_customers, |w, &n| w.u32(n));
        w.into_bytes()
    }

    /// Reads a payload written by [`RecommendModels::encode`].
    pub fn decode(bytes: &[u8]) -> Result<RecommendModels, DecodeError> {
        let mut r = Reader::new(bytes);
        for &byte in MAGIC {
            if r.u8("format tag")? != byte {
                return Err(DecodeError::Inconsistent(
                    "not a recommendation model of this version".to_owned(),
                ));
            }
        }
        let built_at = Timestamp::from_millis(r.i64("build time")?);
        let counts = BuildCounts {
            orders: r.usize("order count")?,
            skipped_orders: r.usize("skipped order count")?,
            lines: r.usize("line count")?,
            products: r.usize("product count")?,
            customers: r.usize("customer count")?,
        };
        let mut products = Interner::default();
        for id in r.seq("product ids", 8, |r| r.string("product id"))? {
            products.intern(&id);
        }
        let names = r.seq("product names", 8, |r| r.string("product name"))?;
        let mut categories = Interner::default();
        for name in r.seq("categories", 8, |r| r.string("category"))? {
            categories.intern(&name);
        }
        let product_category = r.seq("product categories", 4, |r| {
            let c = r.u32("product category")?;
            Ok((c != u32::MAX).then_some(c))
        })?;
        let last_sold = r.seq("last sales", 8, |r| r.i64("last sale"))?;
        let product_orders = r.seq("product orders", 4, |r| r.u32("product orders"))?;
        let customers = r.seq("customers", 8, |r| r.i64("profile id"))?;
        let recommender = Recommender::decode(&mut r)?;
        let seasons = Seasons::decode(&mut r)?;
        let reorder = ReorderModel::decode(&mut r)?;
        let association_starts = r.seq("association offsets", 8, |r| r.usize("offset"))?;
        let associations = r.seq("associations", 8, |r| {
            Ok((r.u32("associated product")?, r.u32("common customers")?))
        })?;
        let product_customers = r.seq("product customers", 4, |r| r.u32("customers"))?;
        if !r.is_at_end() {
            return Err(DecodeError::Inconsistent(
                "bytes left after the model".to_owned(),
            ));
        }
        let n = products.len();
        let lengths_agree = [
            names.len(),
            product_category.len(),
            last_sold.len(),
            product_orders.len(),
            product_customers.len(),
            association_starts.len().saturating_sub(1),
        ]
        .iter()
        .all(|&len| len == n);
        let offsets_agree = association_starts.first() == Some(&0)
            && association_starts.last() == Some(&associations.len())
            && association_starts.windows(2).all(|w| w[0] <= w[1]);
        let indices_agree = associations.iter().all(|&(p, _)| (p as usize) < n)
            && product_category
                .iter()
                .flatten()
                .all(|&c| (c as usize) < categories.len())
            && recommender.n_products() == n
            && seasons.product(ProductIdx(n as u32)).is_none()
            && (n == 0 || seasons.product(ProductIdx(n as u32 - 1)).is_some())
            && reorder.product(ProductIdx(n as u32)).is_none()
            && (n == 0 || reorder.product(ProductIdx(n as u32 - 1)).is_some());
        if !(lengths_agree && offsets_agree && indices_agree) {
            return Err(DecodeError::Inconsistent(format!(
                "the parts do not agree on {n} products"
            )));
        }
        Ok(RecommendModels {
            built_at,
            counts,
            products,
            names,
            categories,
            product_category,
            last_sold,
            product_orders,
            customers,
            recommender,
            seasons,
            reorder,
            association_starts,
            associations,
            product_customers,
        })
    }

    /// The model report (JSON text) stored beside the payload.
    pub fn report(&self, build_seconds: f64, payload_bytes: usize) -> String {
        serde_json::json!({
            "products": self.counts.products,
            "customers": self.counts.customers,
            "orders": self.counts.orders,
            "skipped_orders": self.counts.skipped_orders,
            "lines": self.counts.lines,
            "build_seconds": build_seconds,
            "built_at": self.built_at.to_string(),
            "payload_bytes": payload_bytes,
            "params": "tuned",
        })
        .to_string()
    }

    /// The number of distinct customers who bought `product`.
    pub(crate) fn customers_of(&self, product: ProductIdx) -> u32 {
        self.product_customers
            .get(product.index())
            .copied()
            .unwrap_or(0)
    }

    /// The stored associations of `product`: `(other, customers who bought both)`.
    pub(crate) fn associations_of(&self, product: ProductIdx) -> &[(u32, u32)] {
        let p = product.index();
        if p + 1 >= self.association_starts.len() {
            return &[];
        }
        &self.associations[self.association_starts[p]..self.association_starts[p + 1]]
    }
}

/// A model with the shop's configuration applied: active products, rules, consumables.
#[derive(Debug)]
pub(crate) struct LoadedModel {
    pub(crate) version: i64,
    pub(crate) models: RecommendModels,
    pub(crate) catalogue: Catalogue,
    pub(crate) rules: Vec<CategoryRule>,
    /// Per product: may it be recommended again to its buyers once due?
    pub(crate) consumable: Vec<bool>,
    /// Profile id to customer index.
    pub(crate) customer_of: HashMap<i64, CustomerIdx>,
}

impl LoadedModel {
    pub(crate) fn new(
        version: i64,
        models: RecommendModels,
        settings: &RecommendSettings,
    ) -> LoadedModel {
        let n = models.products.len();
        let built_at = seconds(models.built_at);
        let listed_inactive: Vec<Option<u32>> = settings
            .inactive_products
            .iter()
            .map(|id| models.products.get(id))
            .collect();
        let active: Vec<bool> = (0..n)
            .map(|p| {
                let listed = listed_inactive.contains(&Some(p as u32));
                let stale = settings.inactive_after_days.is_some_and(|days| {
                    (built_at - models.last_sold[p]) as f64 > days * DAY as f64
                });
                !listed && !stale
            })
            .collect();
        let catalogue = catalogue(&models.names, &models.product_category, &active);
        let category = |name: &str| models.categories.get(name).map(CategoryIdx);
        let rules = settings
            .rules
            .iter()
            .filter_map(|rule| match rule {
                RecommendRule::Never {
                    bought,
                    recommended,
                } => Some(CategoryRule::Never {
                    bought: category(bought)?,
                    recommended: category(recommended)?,
                }),
                RecommendRule::WithinCategory { category: name } => {
                    Some(CategoryRule::WithinCategory {
                        category: category(name)?,
                    })
                }
            })
            .collect();
        let consumable_categories: Vec<u32> = settings
            .consumable_categories
            .iter()
            .filter_map(|name| models.categories.get(name))
            .collect();
        let consumable = (0..n)
            .map(|p| {
                let product = ProductIdx(p as u32);
                let listed = settings
                    .consumables
                    .iter()
                    .any(|id| models.products.get(id) == Some(p as u32));
                let by_category =
                    models.product_category[p].is_some_and(|c| consumable_categories.contains(&c));
                // Learned: enough of its buyers bought it again, and at least two did.
                let rate = models.recommender.reorder_rate(product);
                let repeaters = rate * f64::from(models.customers_of(product));
                let learned = settings.learn_consumables
                    && rate >= settings.min_reorder_rate
                    && repeaters >= 1.5;
                listed || by_category || learned
            })
            .collect();
        let customer_of = models
            .customers
            .iter()
            .enumerate()
            .map(|(c, &id)| (id, CustomerIdx(c as u32)))
            .collect();
        LoadedModel {
            version,
            models,
            catalogue,
            rules,
            consumable,
            customer_of,
        }
    }
}

fn catalogue(names: &[String], categories: &[Option<u32>], active: &[bool]) -> Catalogue {
    Catalogue {
        products: names
            .iter()
            .zip(categories)
            .zip(active)
            .map(|((name, category), &active)| Product {
                active,
                category: category.map(CategoryIdx),
                name: name.clone(),
            })
            .collect(),
    }
}
