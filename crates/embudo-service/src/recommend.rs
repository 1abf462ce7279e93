//! Cross-sell recommendations, product seasons and reorder timing, from the workspace's own
//! orders.
//!
//! [`Embudo::build_recommendations`] is the job: it reads every order, builds the models of
//! `embudo-recommend` ([`RecommendModels`]) and stores them as the next version of the model
//! kind `"recommend"`. Reads ([`Embudo::recommendations`], [`Embudo::product`],
//! [`Embudo::products`]) use the newest stored version, decoded once per process and
//! refreshed when a newer one appears (checked at most every [`REFRESH_SECONDS`]). A person's
//! history is read fresh from the store, so orders placed after the build are already
//! excluded. Without a model the reads are a [`ServiceError::Conflict`] that says to build one.

mod model;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use embudo_core::Timestamp;
use embudo_core::phase::Lang;
use embudo_recommend::{
    CustomerIdx, DAY, Explanation, Language, OrderIdx, OrderLine, ProductIdx, Purchases,
    RecommendRequest, ReorderPolicy,
};
use embudo_store::{ModelInfo, NewModel, ProfileId, WorkspaceId};

use crate::{Embudo, Result, ServiceError};
pub use model::{BuildCounts, RecommendModels};
use model::{LoadedModel, seconds};

/// The model kind in the store.
pub const MODEL_KIND: &str = "recommend";

/// How often a read checks the store for a newer model.
pub const REFRESH_SECONDS: i64 = 30;

/// Associations shown on a product page.
const SHOWN_ASSOCIATIONS: usize = 10;

/// A product as the reads name it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductRef {
    pub id: String,
    pub name: String,
    pub category: Option<String>,
}

/// Why a product is recommended: the kind, the figures behind it and a sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// `bought_with`, `reorder`, `similar_customers` or `popular`.
    pub kind: &'static str,
    /// The sentence, in the language asked for.
    pub text: String,
    /// The product of the person's history behind a `bought_with`.
    pub anchor: Option<ProductRef>,
    /// Customers behind the reason (who bought both, similar customers, recent buyers).
    pub customers: Option<u32>,
    pub confidence: Option<f64>,
    pub lift: Option<f64>,
}

/// One recommended product.
#[derive(Debug, Clone, PartialEq)]
pub struct RecommendedProduct {
    pub product: ProductRef,
    /// Comparable within one answer only.
    pub score: f64,
    pub reason: Reason,
}

/// When a person is expected to buy (a product, or anything) next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpectedOrder {
    pub last_at: Timestamp,
    pub expected_at: Timestamp,
    pub interval_days: f64,
    /// The person's own intervals behind the estimate (the rest is the shop's or product's).
    pub own_intervals: u32,
}

/// A consumable the person bought, with when they are expected to buy it again.
#[derive(Debug, Clone, PartialEq)]
pub struct ReorderSuggestion {
    pub product: ProductRef,
    pub expected: ExpectedOrder,
    /// Within the configured window of its expected date (or past it).
    pub due: bool,
}

/// What `recommendations` answers for one person.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRecommendations {
    pub profile_id: ProfileId,
    pub model_version: i64,
    pub model_built_at: Timestamp,
    pub items: Vec<RecommendedProduct>,
    /// The person's expected next order; `None` without orders.
    pub next_order: Option<ExpectedOrder>,
    /// The consumables they bought, soonest expected first.
    pub reorders: Vec<ReorderSuggestion>,
}

/// A product associated with another one.
#[derive(Debug, Clone, PartialEq)]
pub struct AssociationView {
    pub product: ProductRef,
    /// Customers who bought both.
    pub customers: u32,
    /// Share of all customers who bought both.
    pub support: f64,
    /// Share of this product's buyers who bought the other.
    pub confidence: f64,
    pub lift: f64,
}

/// A product's demand by month and ISO week (1 is average), with its peaks.
#[derive(Debug, Clone, PartialEq)]
pub struct SeasonView {
    pub month_index: [f64; 12],
    pub week_index: [f64; 52],
    /// The three months of highest demand, best first (1 to 12).
    pub best_months: Vec<u8>,
    /// The next month (from this one on) with a peak index, if any.
    pub upcoming_peak: Option<PeakView>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeakView {
    pub year: i32,
    pub month: u8,
    pub index: f64,
    pub starts_at: Timestamp,
}

/// The typical interval between repeat purchases of a product by the same customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalView {
    pub repeats: u32,
    /// The median of its own repeats alone.
    pub observed_median_days: Option<f64>,
    /// Shrunk toward its category's (or the shop's) with few repeats.
    pub median_days: f64,
    pub lower_quartile_days: f64,
    pub upper_quartile_days: f64,
}

/// A product's page.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductView {
    pub product: ProductRef,
    pub active: bool,
    pub consumable: bool,
    pub customers: u32,
    pub orders: u32,
    pub last_sold_at: Timestamp,
    /// Share of its buyers who bought it on two or more days.
    pub reorder_rate: f64,
    pub associations: Vec<AssociationView>,
    pub season: SeasonView,
    pub interval: IntervalView,
    pub model_version: i64,
}

/// How `products` sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductSort {
    /// Most distinct buyers first.
    Customers,
    /// Most orders first.
    Orders,
    /// Soonest upcoming peak first (then the strongest); products without a peak last.
    UpcomingPeak,
    /// Highest reorder rate first.
    ReorderRate,
}

impl ProductSort {
    pub const NAMES: &'static str = "customers, orders, upcoming_peak, reorder_rate";

    pub fn parse(text: &str) -> Option<ProductSort> {
        match text {
            "customers" => Some(ProductSort::Customers),
            "orders" => Some(ProductSort::Orders),
            "upcoming_peak" => Some(ProductSort::UpcomingPeak),
            "reorder_rate" => Some(ProductSort::ReorderRate),
            _ => None,
        }
    }
}

/// Most products one listing returns.
pub const MAX_PRODUCTS: usize = 500;

/// The per-process cache of decoded models, one per workspace.
#[derive(Default)]
pub(crate) struct ModelCache {
    entries: tokio::sync::Mutex<HashMap<WorkspaceId, CacheEntry>>,
}

struct CacheEntry {
    model: Option<Arc<LoadedModel>>,
    /// When the store was last asked for a newer version (seconds).
    checked_at: i64,
}

impl Embudo {
    /// Builds the recommendation models from every order of the workspace and stores them
    /// as the next version of [`MODEL_KIND`]. The job the scheduler runs; it takes seconds on
    /// a large shop (the building runs on a blocking thread).
    #[tracing::instrument(skip_all, fields(workspace = %workspace))]
    pub async fn build_recommendations(&self, workspace: WorkspaceId) -> Result<ModelInfo> {
        let store = &self.inner.store;
        if store.workspace(workspace).await?.is_none() {
            return Err(ServiceError::NotFound(format!("workspace {workspace}")));
        }
        let now = self.now();
        let orders = store
            .orders(
                workspace,
                Timestamp::from_millis(i64::MIN / 2),
                now.plus_millis(1),
            )
            .await?;
        let (models, payload, build_seconds) = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let models = RecommendModels::build(&orders, now)?;
            let payload = models.encode();
            Ok::<_, embudo_recommend::DataError>((models, payload, started.elapsed().as_secs_f64()))
        })
        .await
        .map_err(|err| ServiceError::Invalid(format!("the model build failed: {err}")))?
        .map_err(|err| ServiceError::Invalid(format!("the orders could not be used: {err}")))?;
        let report = models.report(build_seconds, payload.len());
        let info = store
            .save_model(
                workspace,
                &NewModel {
                    kind: MODEL_KIND.to_owned(),
                    built_at: now,
                    report,
                    payload,
                },
            )
            .await?;
        tracing::info!(
            version = info.version,
            products = models.counts.products,
            customers = models.counts.customers,
            orders = models.counts.orders,
            build_seconds,
            "recommendation model built"
        );
        let loaded = LoadedModel::new(info.version, models, &self.inner.settings.recommend);
        self.inner.recommend.entries.lock().await.insert(
            workspace,
            CacheEntry {
                model: Some(Arc::new(loaded)),
                checked_at: seconds(now),
            },
        );
        Ok(info)
    }

    /// Recommendations for one person: at most `limit` products (the config's `results` when
    /// `None`), never what they bought unless a consumable due for reorder, never inactive
    /// products, within the category rules; with their expected next order and the
    /// consumables they may reorder. `Ok(None)` for an unknown profile.
    #[tracing::instrument(skip_all, fields(workspace = %workspace, profile = %profile))]
    pub async fn recommendations(
        &self,
        workspace: WorkspaceId,
        profile: ProfileId,
        limit: Option<usize>,
        lang: Lang,
    ) -> Result<Option<ProfileRecommendations>> {
        let settings = &self.inner.settings.recommend;
        let limit = limit.unwrap_or(settings.results);
        if !(1..=embudo_config::MAX_RESULTS).contains(&limit) {
            return Err(ServiceError::Invalid(format!(
                "limit must be between 1 and {}, got {limit}",
                embudo_config::MAX_RESULTS
            )));
        }
        let loaded = self.recommend_model(workspace).await?;
        let Some(record) = self.inner.store.profile(workspace, profile).await? else {
            return Ok(None);
        };
        let orders = self
            .inner
            .store
            .profile_orders(workspace, record.id)
            .await?;
        let model = &loaded.models;
        let mut lines = Vec::new();
        for (k, order) in orders.iter().enumerate() {
            let wholly_refunded = order.total > 0.0 && order.refunded >= order.total;
            if order.cancelled || wholly_refunded {
                continue;
            }
            for line in &order.lines {
                // Products the model has not seen yet cannot be scored; they are left out.
                let Some(product) = model.products.get(&line.product_id) else {
                    continue;
                };
                if line.quantity.is_nan() || line.quantity <= 0.0 {
                    continue;
                }
                lines.push(OrderLine {
                    customer: CustomerIdx(0),
                    product: ProductIdx(product),
                    order: OrderIdx(k as u32),
                    at: seconds(order.placed_at),
                    quantity: 1,
                    unit_price: 0.0,
                });
            }
        }
        let history = Purchases::new(lines, model.products.len())
            .map_err(|err| ServiceError::Invalid(format!("profile {profile}'s orders: {err}")))?;
        let items = history.customer_items(CustomerIdx(0));
        let person_lines = history.customer_lines(CustomerIdx(0));
        let now = seconds(self.now());
        let window = (settings.reorder_window_days * DAY as f64) as i64;

        let mut reorders = Vec::new();
        let mut due = Vec::new();
        for item in items {
            if !loaded.consumable[item.product.index()] {
                continue;
            }
            let Some(next) = model.reorder.next_product_order(person_lines, item.product) else {
                continue;
            };
            let is_due = next.expected_at - window <= now;
            if is_due && loaded.catalogue.products[item.product.index()].active {
                due.push(item.product);
            }
            reorders.push(ReorderSuggestion {
                product: product_ref(&loaded, item.product),
                expected: expected(&next),
                due: is_due,
            });
        }
        reorders.sort_by(|a, b| {
            a.expected
                .expected_at
                .cmp(&b.expected.expected_at)
                .then(a.product.id.cmp(&b.product.id))
        });
        due.sort_unstable();

        let request = RecommendRequest {
            customer: loaded.customer_of.get(&record.id.0).copied(),
            history: items,
            catalogue: &loaded.catalogue,
            rules: &loaded.rules,
            reorder: ReorderPolicy::Listed(&due),
            n: limit,
            now,
        };
        let recommended = model
            .recommender
            .recommend(&request)
            .map_err(|err| ServiceError::Invalid(format!("recommendation failed: {err}")))?;
        let language = match lang {
            Lang::Es => Language::Spanish,
            Lang::En => Language::English,
        };
        let name = |p: ProductIdx| display_name(&loaded, p);
        let items = recommended
            .iter()
            .map(|r| RecommendedProduct {
                product: product_ref(&loaded, r.product),
                score: r.score,
                reason: reason(&loaded, &r.explanation, language, &name),
            })
            .collect();
        Ok(Some(ProfileRecommendations {
            profile_id: record.id,
            model_version: loaded.version,
            model_built_at: model.built_at,
            items,
            next_order: model.reorder.next_order(person_lines).map(|n| expected(&n)),
            reorders,
        }))
    }

    /// A product's page: associations, season, reorder interval. `Ok(None)` for a product
    /// the model does not know.
    pub async fn product(&self, workspace: WorkspaceId, id: &str) -> Result<Option<ProductView>> {
        let loaded = self.recommend_model(workspace).await?;
        let Some(p) = loaded.models.products.get(id) else {
            return Ok(None);
        };
        Ok(Some(product_view(
            &loaded,
            ProductIdx(p),
            seconds(self.now()),
            true,
        )))
    }

    /// The top `limit` products by `sort`, each with its season and interval (associations
    /// left out: see [`Embudo::product`]).
    pub async fn products(
        &self,
        workspace: WorkspaceId,
        sort: ProductSort,
        limit: usize,
    ) -> Result<Vec<ProductView>> {
        if !(1..=MAX_PRODUCTS).contains(&limit) {
            return Err(ServiceError::Invalid(format!(
                "limit must be between 1 and {MAX_PRODUCTS}, got {limit}"
            )));
        }
        let loaded = self.recommend_model(workspace).await?;
        let now = seconds(self.now());
        let mut views: Vec<ProductView> = (0..loaded.models.products.len())
            .map(|p| product_view(&loaded, ProductIdx(p as u32), now, false))
            .collect();
        let by_id = |a: &ProductView, b: &ProductView| a.product.id.cmp(&b.product.id);
        match sort {
            ProductSort::Customers => {
                views.sort_by(|a, b| b.customers.cmp(&a.customers).then(by_id(a, b)));
            }
            ProductSort::Orders => views.sort_by(|a, b| b.orders.cmp(&a.orders).then(by_id(a, b))),
            ProductSort::ReorderRate => views.sort_by(|a, b| {
                b.reorder_rate
                    .total_cmp(&a.reorder_rate)
                    .then(b.customers.cmp(&a.customers))
                    .then(by_id(a, b))
            }),
            ProductSort::UpcomingPeak => views.sort_by(|a, b| {
                let key = |v: &ProductView| v.season.upcoming_peak.map(|p| (p.starts_at, p.index));
                match (key(a), key(b)) {
                    (Some(x), Some(y)) => x.0.cmp(&y.0).then(y.1.total_cmp(&x.1)),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
                .then(b.customers.cmp(&a.customers))
                .then(by_id(a, b))
            }),
        }
        views.truncate(limit);
        Ok(views)
    }

    /// The newest model of the workspace, from the cache or the store.
    async fn recommend_model(&self, workspace: WorkspaceId) -> Result<Arc<LoadedModel>> {
        let now = seconds(self.now());
        let mut entries = self.inner.recommend.entries.lock().await;
        if let Some(entry) = entries.get(&workspace)
            && now - entry.checked_at < REFRESH_SECONDS
            && let Some(model) = &entry.model
        {
            return Ok(model.clone());
        }
        let newest = self
            .inner
            .store
            .models(workspace)
            .await?
            .into_iter()
            .filter(|info| info.kind == MODEL_KIND)
            .map(|info| info.version)
            .max();
        let cached = entries
            .get(&workspace)
            .and_then(|entry| entry.model.clone());
        let model = match (newest, cached) {
            (None, _) => None,
            (Some(version), Some(cached)) if cached.version >= version => Some(cached),
            (Some(_), _) => match self.inner.store.model(workspace, MODEL_KIND).await? {
                None => None,
                Some(record) => {
                    let models = RecommendModels::decode(&record.payload).map_err(|err| {
                        ServiceError::Conflict(format!(
                            "the stored recommendation model (version {}) cannot be read ({err}): \
                             run `embudo recommend build` to rebuild it",
                            record.info.version
                        ))
                    })?;
                    Some(Arc::new(LoadedModel::new(
                        record.info.version,
                        models,
                        &self.inner.settings.recommend,
                    )))
                }
            },
        };
        entries.insert(
            workspace,
            CacheEntry {
                model: model.clone(),
                checked_at: now,
            },
        );
        model.ok_or_else(|| {
            ServiceError::Conflict(
                "no recommendation model for this workspace yet: run `embudo recommend build` \
                 (or wait for the scheduled build)"
                    .to_owned(),
            )
        })
    }
}

fn display_name(loaded: &LoadedModel, product: ProductIdx) -> String {
    let models = &loaded.models;
    match models.names.get(product.index()) {
        Some(name) if !name.is_empty() => name.clone(),
        _ => models
            .products
            .name(product.0)
            .unwrap_or_default()
            .to_owned(),
    }
}

fn product_ref(loaded: &LoadedModel, product: ProductIdx) -> ProductRef {
    let models = &loaded.models;
    ProductRef {
        id: models
            .products
            .name(product.0)
            .unwrap_or_default()
            .to_owned(),
        name: display_name(loaded, product),
        category: models.product_category[product.index()]
            .and_then(|c| models.categories.name(c))
            .map(str::to_owned),
    }
}

fn expected(next: &embudo_recommend::NextOrder) -> ExpectedOrder {
    ExpectedOrder {
        last_at: Timestamp::from_secs(next.last_at),
        expected_at: Timestamp::from_secs(next.expected_at),
        interval_days: next.interval_days,
        own_intervals: next.own_intervals,
    }
}

fn reason(
    loaded: &LoadedModel,
    explanation: &Explanation,
    language: Language,
    name: &dyn Fn(ProductIdx) -> String,
) -> Reason {
    let text = explanation.render(language, name);
    let mut reason = Reason {
        kind: "",
        text,
        anchor: None,
        customers: None,
        confidence: None,
        lift: None,
    };
    match *explanation {
        Explanation::BoughtWith {
            anchor,
            customers,
            confidence,
            lift,
        } => {
            reason.kind = "bought_with";
            reason.anchor = Some(product_ref(loaded, anchor));
            reason.customers = Some(customers);
            reason.confidence = Some(confidence);
            reason.lift = Some(lift);
        }
        Explanation::Reorder { .. } => reason.kind = "reorder",
        Explanation::SimilarCustomers { customers } => {
            reason.kind = "similar_customers";
            reason.customers = Some(customers);
        }
        Explanation::Popular { recent_customers } => {
            reason.kind = "popular";
            reason.customers = Some(recent_customers);
        }
    }
    reason
}

fn product_view(
    loaded: &LoadedModel,
    product: ProductIdx,
    now: i64,
    with_associations: bool,
) -> ProductView {
    let models = &loaded.models;
    let p = product.index();
    let n_customers = models.counts.customers.max(1) as f64;
    let customers = models.customers_of(product);
    let associations = if with_associations {
        models
            .associations_of(product)
            .iter()
            .take(SHOWN_ASSOCIATIONS)
            .map(|&(other, both)| {
                let other = ProductIdx(other);
                let confidence = f64::from(both) / f64::from(customers.max(1));
                let share = f64::from(models.customers_of(other)) / n_customers;
                AssociationView {
                    product: product_ref(loaded, other),
                    customers: both,
                    support: f64::from(both) / n_customers,
                    confidence,
                    lift: if share > 0.0 { confidence / share } else { 0.0 },
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let season = models.seasons.product(product).map_or_else(
        || SeasonView {
            month_index: [1.0; 12],
            week_index: [1.0; 52],
            best_months: Vec::new(),
            upcoming_peak: None,
        },
        |profile| SeasonView {
            month_index: profile.month_index,
            week_index: profile.week_index,
            best_months: profile.best_months(3),
            upcoming_peak: models
                .seasons
                .upcoming_peak(product, now)
                .map(|peak| PeakView {
                    year: peak.year,
                    month: peak.month,
                    index: peak.index,
                    starts_at: Timestamp::from_secs(peak.starts_at),
                }),
        },
    );
    let interval = models.reorder.product(product).map_or(
        IntervalView {
            repeats: 0,
            observed_median_days: None,
            median_days: 0.0,
            lower_quartile_days: 0.0,
            upper_quartile_days: 0.0,
        },
        |i| IntervalView {
            repeats: i.intervals,
            observed_median_days: i.observed_median_days,
            median_days: i.median_days,
            lower_quartile_days: i.lower_quartile_days,
            upper_quartile_days: i.upper_quartile_days,
        },
    );
    ProductView {
        product: product_ref(loaded, product),
        active: loaded.catalogue.products[p].active,
        consumable: loaded.consumable[p],
        customers,
        orders: models.product_orders[p],
        last_sold_at: Timestamp::from_secs(models.last_sold[p]),
        reorder_rate: models.recommender.reorder_rate(product),
        associations,
        season,
        interval,
        model_version: loaded.version,
    }
}
