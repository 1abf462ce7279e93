//! Per-person cross-sell recommendations from item-to-item associations.
//!
//! The model is an item-kNN over customers' purchase sets:
//!
//! - every customer `u` who bought both `i` and `j` adds `1 / n_u^customer_damping` to the
//!   pair's weight `w_ij` (`n_u`: the customer's distinct products; wholesalers who buy
//!   everything say little about any one pair, as IDF or BM25 weighting would say);
//! - the similarity is an asymmetric cosine with popularity damping,
//!   `sim(i → j) = (w_ij / (W_i^alpha · W_j^beta))^locality`, where `W_i` is the damped count
//!   of `i`'s buyers (`alpha = beta = 0.5` is the plain cosine, `alpha = 1, beta = 0` the
//!   conditional probability P(j | i), `alpha = 1, beta > 0` close to RP3beta); each product
//!   keeps its `neighbours` most similar ones;
//! - a person's score for `j` sums `sim(i → j)` over the products `i` in their history, each
//!   weighted by how recently they bought it (a half-life) and how often;
//! - that score, normalised to 1 for the best candidate, is blended with the product's recent
//!   popularity (customers who bought it, decayed with a half-life): the blend carries cold
//!   and thin histories, and seasonal launches the history cannot know yet.
//!
//! Requests filter inactive products, already bought products (unless the [`ReorderPolicy`]
//! allows reordering them) and apply [`CategoryRule`]s; every recommendation carries an
//! [`Explanation`].

use crate::copurchase::buyers_by_product;
use crate::{
    Catalogue, CategoryIdx, CustomerIdx, CustomerProduct, DAY, Explanation, ProductIdx, Purchases,
    Timestamp,
};

#[cfg(test)]
mod tests;

/// Hyper-parameters of the [`Recommender`].
#[derive(Debug, Clone, PartialEq)]
pub struct RecommendParams {
    /// Most similar products kept per product.
    pub neighbours: usize,
    /// Exponent of the anchor's buyers in the denominator: 0.5 with `beta = 0.5` is the
    /// cosine, 1 with `beta = 0` the conditional probability P(j | i).
    pub alpha: f64,
    /// Exponent of the candidate's buyers in the denominator: popularity damping.
    pub beta: f64,
    /// Exponent applied to similarities (above 1 sharpens toward the strongest pairs).
    pub locality: f64,
    /// A customer with `n` distinct products weighs `1 / n^customer_damping` in pair weights.
    pub customer_damping: f64,
    /// Pairs with fewer common customers are dropped.
    pub min_common_customers: u32,
    /// Half-life of a bought product's weight in the person's history; `None`: no decay.
    pub history_half_life_days: Option<f64>,
    /// A history product bought on `d` distinct days weighs `d^order_exponent`.
    pub order_exponent: f64,
    /// Half-life of a purchase in the popularity score.
    pub popularity_half_life_days: f64,
    /// Weight of the popularity score (normalised to 1 for the most popular product) against
    /// the association score (normalised to 1 for the person's best candidate).
    pub popularity_weight: f64,
    /// Weight of the person's own (decayed) history of a product, when reordering is allowed.
    pub repeat_weight: f64,
    /// Weight of the similar-customers score (normalised to 1 for the person's best
    /// candidate); 0 turns it off.
    pub customer_knn_weight: f64,
    /// Most similar customers whose purchases are counted.
    pub customer_neighbours: usize,
    /// Exponent applied to customer similarities.
    pub customer_locality: f64,
    /// Half-life of a similar customer's purchase, by its age at the request's `now`.
    pub customer_half_life_days: Option<f64>,
}

impl RecommendParams {
    /// The parameters chosen on the validation split of the UCI Online Retail data (training
    /// to 2011-06-30, validation on July to September 2011; see `docs/evaluation.md`).
    pub fn tuned() -> RecommendParams {
        RecommendParams {
            neighbours: 200,
            alpha: 0.5,
            beta: 0.5,
            locality: 2.0,
            customer_damping: 1.0,
            min_common_customers: 1,
            history_half_life_days: Some(60.0),
            order_exponent: 0.0,
            popularity_half_life_days: 7.0,
            popularity_weight: 0.1,
            repeat_weight: 2.0,
            customer_knn_weight: 0.5,
            customer_neighbours: 100,
            customer_locality: 3.0,
            customer_half_life_days: Some(15.0),
        }
    }

    /// The parameters chosen on the same validation split for the reorder variant (every
    /// later purchase is a target and bought products may come back).
    pub fn tuned_reorder() -> RecommendParams {
        RecommendParams {
            alpha: 0.0,
            beta: 0.0,
            locality: 1.0,
            history_half_life_days: Some(120.0),
            order_exponent: 0.5,
            customer_knn_weight: 1.0,
            customer_locality: 2.0,
            ..RecommendParams::tuned()
        }
    }

    /// The plain item-to-item cosine over customers' purchase sets, without recency or
    /// popularity: the reference the tuned parameters are compared with.
    pub fn plain_cosine() -> RecommendParams {
        RecommendParams {
            neighbours: usize::MAX,
            alpha: 0.5,
            beta: 0.5,
            locality: 1.0,
            customer_damping: 0.0,
            min_common_customers: 1,
            history_half_life_days: None,
            order_exponent: 0.0,
            popularity_half_life_days: 30.0,
            popularity_weight: 0.0,
            repeat_weight: 0.0,
            customer_knn_weight: 0.0,
            customer_neighbours: 50,
            customer_locality: 1.0,
            customer_half_life_days: None,
        }
    }
}

/// Which already bought products may be recommended again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReorderPolicy<'a> {
    /// Never recommend a product the person bought.
    Never,
    /// Recommend bought products whose reorder rate (share of buyers who bought them on two
    /// or more days) is at least `min_reorder_rate`: consumables.
    Consumables { min_reorder_rate: f64 },
    /// Any bought product may be recommended again.
    Always,
    /// Only these bought products (sorted by index) may be recommended again: the caller's
    /// own choice, e.g. listed consumables that are due for reorder.
    Listed(&'a [ProductIdx]),
}

/// A category rule from the shop's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CategoryRule {
    /// Never recommend products of `recommended` to people who bought a product of `bought`.
    Never {
        bought: CategoryIdx,
        recommended: CategoryIdx,
    },
    /// Products of `category` are only associated with products of the same category: they
    /// are recommended only to people who bought in it, only because of products in it, and
    /// they explain nothing outside it.
    WithinCategory { category: CategoryIdx },
}

/// One person's request.
#[derive(Debug, Clone, Copy)]
pub struct RecommendRequest<'a> {
    /// The person, when they are in the purchases the model was built from (so that they
    /// are not their own most similar customer).
    pub customer: Option<CustomerIdx>,
    /// What the person bought (see [`Purchases::customer_items`]).
    pub history: &'a [CustomerProduct],
    pub catalogue: &'a Catalogue,
    pub rules: &'a [CategoryRule],
    pub reorder: ReorderPolicy<'a>,
    /// The number of recommendations wanted.
    pub n: usize,
    pub now: Timestamp,
}

/// One recommended product.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recommendation {
    pub product: ProductIdx,
    /// The blended score; comparable within one request only.
    pub score: f64,
    pub explanation: Explanation,
}

/// Why a recommendation request was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecommendError {
    #[error("the catalogue has {catalogue} products but the model was built for {model}")]
    CatalogueMismatch { catalogue: usize, model: usize },
    #[error("history product {product} is not in the catalogue")]
    UnknownProduct { product: u32 },
}

/// A neighbour of a product in the similarity lists.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Neighbour {
    pub(crate) product: u32,
    pub(crate) similarity: f32,
    /// Customers who bought both.
    pub(crate) common: u32,
}

/// The cross-sell model.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommender {
    pub(crate) params: RecommendParams,
    pub(crate) n_products: usize,
    /// Customers with at least one purchase.
    pub(crate) n_customers: u32,
    /// `neighbours[starts[i]..starts[i + 1]]` are product `i`'s, most similar first.
    pub(crate) starts: Vec<usize>,
    pub(crate) neighbours: Vec<Neighbour>,
    pub(crate) product_customers: Vec<u32>,
    /// Recency-weighted popularity, normalised to a maximum of 1.
    pub(crate) popularity: Vec<f64>,
    /// Customers who bought the product in the 30 days before the build's `now`.
    pub(crate) recent_customers: Vec<u32>,
    /// Share of the product's buyers who bought it on two or more days.
    pub(crate) reorder_rate: Vec<f64>,
    /// `customer_products[customer_starts[c]..customer_starts[c + 1]]`: what `c` bought,
    /// with the last time.
    pub(crate) customer_starts: Vec<usize>,
    pub(crate) customer_products: Vec<(u32, Timestamp)>,
    /// `product_buyers[buyer_starts[i]..buyer_starts[i + 1]]`: who bought `i`.
    pub(crate) buyer_starts: Vec<usize>,
    pub(crate) product_buyers: Vec<u32>,
}

impl Recommender {
    /// Builds the model from all purchases, as of `now` (for popularity).
    pub fn build(purchases: &Purchases, params: &RecommendParams, now: Timestamp) -> Recommender {
        let n_products = purchases.n_products();
        let n_customers_all = purchases.n_customers();
        let customer_items: Vec<Vec<u32>> = (0..n_customers_all)
            .map(|c| {
                purchases
                    .customer_items(CustomerIdx(c as u32))
                    .iter()
                    .map(|item| item.product.0)
                    .collect()
            })
            .collect();
        let customer_weight: Vec<f64> = customer_items
            .iter()
            .map(|items| (items.len().max(1) as f64).powf(-params.customer_damping))
            .collect();
        let buyers = buyers_by_product(&customer_items, n_products);
        let weighted_buyers: Vec<f64> = (0..n_products)
            .map(|i| {
                buyers
                    .of(i)
                    .iter()
                    .map(|&c| customer_weight[c as usize])
                    .sum()
            })
            .collect();
        let pow_alpha: Vec<f64> = weighted_buyers
            .iter()
            .map(|w| w.powf(params.alpha))
            .collect();
        let pow_beta: Vec<f64> = weighted_buyers
            .iter()
            .map(|w| w.powf(params.beta))
            .collect();

        let mut weights = vec![0f64; n_products];
        let mut counts = vec![0u32; n_products];
        let mut touched: Vec<u32> = Vec::new();
        let mut row: Vec<Neighbour> = Vec::new();
        let mut starts = Vec::with_capacity(n_products + 1);
        let mut neighbours = Vec::new();
        starts.push(0);
        for (i, &anchor_norm) in pow_alpha.iter().enumerate() {
            for &customer in buyers.of(i) {
                let weight = customer_weight[customer as usize];
                for &j in &customer_items[customer as usize] {
                    let j = j as usize;
                    if counts[j] == 0 {
                        touched.push(j as u32);
                    }
                    counts[j] += 1;
                    weights[j] += weight;
                }
            }
            row.clear();
            for &j in &touched {
                let j = j as usize;
                if j != i && counts[j] >= params.min_common_customers {
                    let cosine = weights[j] / (anchor_norm * pow_beta[j]);
                    let similarity = cosine.powf(params.locality);
                    if similarity > 0.0 {
                        row.push(Neighbour {
                            product: j as u32,
                            similarity: similarity as f32,
                            common: counts[j],
                        });
                    }
                }
                counts[j] = 0;
                weights[j] = 0.0;
            }
            touched.clear();
            let by_similarity = |a: &Neighbour, b: &Neighbour| {
                b.similarity
                    .total_cmp(&a.similarity)
                    .then(a.product.cmp(&b.product))
            };
            if row.len() > params.neighbours {
                row.select_nth_unstable_by(params.neighbours, by_similarity);
                row.truncate(params.neighbours);
            }
            row.sort_unstable_by(by_similarity);
            neighbours.extend_from_slice(&row);
            starts.push(neighbours.len());
        }

        let mut popularity = vec![0f64; n_products];
        let mut recent_customers = vec![0u32; n_products];
        let mut repeaters = vec![0u32; n_products];
        for c in 0..n_customers_all {
            for item in purchases.customer_items(CustomerIdx(c as u32)) {
                let j = item.product.index();
                let age_days = (now - item.last_at) as f64 / DAY as f64;
                if age_days >= 0.0 {
                    popularity[j] += (-age_days / params.popularity_half_life_days).exp2();
                    if age_days <= 30.0 {
                        recent_customers[j] += 1;
                    }
                }
                if item.n_days >= 2 {
                    repeaters[j] += 1;
                }
            }
        }
        let max_popularity = popularity.iter().copied().fold(0.0, f64::max);
        if max_popularity > 0.0 {
            for p in &mut popularity {
                *p /= max_popularity;
            }
        }
        let product_customers = purchases.product_customer_counts().to_vec();
        let reorder_rate = product_customers
            .iter()
            .zip(&repeaters)
            .map(|(&all, &again)| {
                if all > 0 {
                    f64::from(again) / f64::from(all)
                } else {
                    0.0
                }
            })
            .collect();
        let mut customer_starts = Vec::with_capacity(n_customers_all + 1);
        let mut customer_products = Vec::new();
        customer_starts.push(0);
        for c in 0..n_customers_all {
            customer_products.extend(
                purchases
                    .customer_items(CustomerIdx(c as u32))
                    .iter()
                    .map(|item| (item.product.0, item.last_at)),
            );
            customer_starts.push(customer_products.len());
        }
        let (buyer_starts, product_buyers) = buyers.into_parts();
        Recommender {
            customer_starts,
            customer_products,
            buyer_starts,
            product_buyers,
            params: params.clone(),
            n_products,
            n_customers: purchases.n_active_customers() as u32,
            starts,
            neighbours,
            product_customers,
            popularity,
            recent_customers,
            reorder_rate,
        }
    }

    /// The number of products the model was built for.
    pub fn n_products(&self) -> usize {
        self.n_products
    }

    /// The parameters the model was built with.
    pub fn params(&self) -> &RecommendParams {
        &self.params
    }

    /// Share of `product`'s buyers who bought it on two or more days.
    pub fn reorder_rate(&self, product: ProductIdx) -> f64 {
        self.reorder_rate
            .get(product.index())
            .copied()
            .unwrap_or(0.0)
    }

    /// The products most similar to `product` with their similarity and common customers,
    /// most similar first (for product pages).
    pub fn similar(&self, product: ProductIdx, n: usize) -> Vec<(ProductIdx, f64, u32)> {
        let i = product.index();
        if i >= self.n_products {
            return Vec::new();
        }
        self.neighbours[self.starts[i]..self.starts[i + 1]]
            .iter()
            .take(n)
            .map(|nb| (ProductIdx(nb.product), f64::from(nb.similarity), nb.common))
            .collect()
    }

    /// The products `n` most popular recently, for people without history.
    pub fn popular(&self, n: usize) -> Vec<ProductIdx> {
        let mut order: Vec<u32> = (0..self.n_products as u32).collect();
        order.sort_by(|&a, &b| {
            self.popularity[b as usize]
                .total_cmp(&self.popularity[a as usize])
                .then(a.cmp(&b))
        });
        order.truncate(n);
        order.into_iter().map(ProductIdx).collect()
    }

    /// Recommends up to `request.n` products to one person, best first.
    pub fn recommend(
        &self,
        request: &RecommendRequest<'_>,
    ) -> Result<Vec<Recommendation>, RecommendError> {
        let catalogue = request.catalogue;
        if catalogue.len() != self.n_products {
            return Err(RecommendError::CatalogueMismatch {
                catalogue: catalogue.len(),
                model: self.n_products,
            });
        }
        if let Some(item) = request
            .history
            .iter()
            .find(|i| i.product.index() >= self.n_products)
        {
            return Err(RecommendError::UnknownProduct {
                product: item.product.0,
            });
        }
        let n_categories = catalogue.n_categories();
        let mut bought_category = vec![false; n_categories];
        for item in request.history {
            if let Some(c) = catalogue.category(item.product) {
                bought_category[c.index()] = true;
            }
        }
        let mut within = vec![false; n_categories];
        let mut banned = vec![false; n_categories];
        for rule in request.rules {
            match *rule {
                CategoryRule::WithinCategory { category } if category.index() < n_categories => {
                    within[category.index()] = true;
                }
                CategoryRule::Never {
                    bought,
                    recommended,
                } if bought.index() < n_categories
                    && recommended.index() < n_categories
                    && bought_category[bought.index()] =>
                {
                    banned[recommended.index()] = true;
                }
                _ => {}
            }
        }
        let is_within = |p: usize| {
            catalogue.products[p]
                .category
                .is_some_and(|c| within[c.index()])
        };

        // Association scores, and the anchor contributing most to each candidate.
        let mut association = vec![0f64; self.n_products];
        let mut best = vec![(0f64, u32::MAX, 0u32); self.n_products];
        let mut repeat = vec![0f64; self.n_products];
        for item in request.history {
            let i = item.product.index();
            let mut weight = f64::from(item.n_days.max(1)).powf(self.params.order_exponent);
            if let Some(half_life) = self.params.history_half_life_days {
                let age_days = ((request.now - item.last_at) as f64 / DAY as f64).max(0.0);
                weight *= (-age_days / half_life).exp2();
            }
            repeat[i] = weight;
            let anchor_within = is_within(i);
            let anchor_category = catalogue.products[i].category;
            for nb in &self.neighbours[self.starts[i]..self.starts[i + 1]] {
                let j = nb.product as usize;
                if (anchor_within || is_within(j))
                    && anchor_category != catalogue.products[j].category
                {
                    continue;
                }
                let contribution = weight * f64::from(nb.similarity);
                association[j] += contribution;
                if contribution > best[j].0 {
                    best[j] = (contribution, i as u32, nb.common);
                }
            }
        }
        let (similar, similar_buyers) = self.similar_customers_score(request);

        // Which products may be recommended at all.
        let mut bought = vec![false; self.n_products];
        for item in request.history {
            bought[item.product.index()] = true;
        }
        let eligible: Vec<bool> = catalogue
            .products
            .iter()
            .enumerate()
            .map(|(j, product)| {
                let category_allowed = product.category.is_none_or(|c| {
                    !banned[c.index()] && (!within[c.index()] || bought_category[c.index()])
                });
                let reorder_allowed = !bought[j]
                    || match request.reorder {
                        ReorderPolicy::Never => false,
                        ReorderPolicy::Consumables { min_reorder_rate } => {
                            self.reorder_rate[j] >= min_reorder_rate
                        }
                        ReorderPolicy::Always => true,
                        ReorderPolicy::Listed(products) => {
                            products.binary_search(&ProductIdx(j as u32)).is_ok()
                        }
                    };
                product.active && category_allowed && reorder_allowed
            })
            .collect();
        // Each part is normalised to 1 for the person's best eligible candidate.
        let max_of = |scores: &[f64]| {
            scores
                .iter()
                .zip(&eligible)
                .filter(|(_, ok)| **ok)
                .map(|(s, _)| *s)
                .fold(0.0, f64::max)
        };
        let max_association = max_of(&association);
        let max_similar = max_of(&similar);
        let max_repeat = max_of(&repeat);

        let mut candidates: Vec<(f64, u32)> = Vec::new();
        for j in (0..self.n_products).filter(|&j| eligible[j]) {
            let mut score = self.params.popularity_weight * self.popularity[j];
            if max_association > 0.0 {
                score += association[j] / max_association;
            }
            if max_similar > 0.0 {
                score += self.params.customer_knn_weight * similar[j] / max_similar;
            }
            if bought[j] && max_repeat > 0.0 {
                score += self.params.repeat_weight * repeat[j] / max_repeat;
            }
            if score > 0.0 {
                candidates.push((score, j as u32));
            }
        }
        let by_score = |a: &(f64, u32), b: &(f64, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if candidates.len() > request.n {
            candidates.select_nth_unstable_by(request.n, by_score);
            candidates.truncate(request.n);
        }
        candidates.sort_unstable_by(by_score);

        let history_item = |j: usize| request.history.iter().find(|i| i.product.index() == j);
        Ok(candidates
            .into_iter()
            .map(|(score, j)| {
                let j = j as usize;
                let association_part = if max_association > 0.0 {
                    association[j] / max_association
                } else {
                    0.0
                };
                let popularity_part = self.params.popularity_weight * self.popularity[j];
                let similar_part = if max_similar > 0.0 {
                    self.params.customer_knn_weight * similar[j] / max_similar
                } else {
                    0.0
                };
                let explanation = match history_item(j) {
                    Some(item) if bought[j] => Explanation::Reorder {
                        last_bought_at: item.last_at,
                        times: item.n_days,
                        reorder_rate: self.reorder_rate[j],
                    },
                    _ if similar_part > association_part.max(popularity_part) => {
                        Explanation::SimilarCustomers {
                            customers: similar_buyers[j],
                        }
                    }
                    _ if association_part >= popularity_part && best[j].1 != u32::MAX => {
                        let (_, anchor, common) = best[j];
                        let anchor_customers = self.product_customers[anchor as usize];
                        let confidence = f64::from(common) / f64::from(anchor_customers.max(1));
                        let share = f64::from(self.product_customers[j])
                            / f64::from(self.n_customers.max(1));
                        Explanation::BoughtWith {
                            anchor: ProductIdx(anchor),
                            customers: common,
                            confidence,
                            lift: if share > 0.0 { confidence / share } else { 0.0 },
                        }
                    }
                    _ => Explanation::Popular {
                        recent_customers: self.recent_customers[j],
                    },
                };
                Recommendation {
                    product: ProductIdx(j as u32),
                    score,
                    explanation,
                }
            })
            .collect())
    }

    /// The similar-customers score of every product, and how many of the similar customers
    /// bought it: customers are compared by the cosine of their purchase sets, the
    /// `customer_neighbours` most similar are kept, and each adds its similarity (to the
    /// power `customer_locality`, decayed by the age of its purchase) to what it bought.
    fn similar_customers_score(&self, request: &RecommendRequest<'_>) -> (Vec<f64>, Vec<u32>) {
        let mut scores = vec![0f64; self.n_products];
        let mut buyers = vec![0u32; self.n_products];
        if self.params.customer_knn_weight <= 0.0 || request.history.is_empty() {
            return (scores, buyers);
        }
        let n_customers = self.customer_starts.len() - 1;
        let mut overlap = vec![0u32; n_customers];
        let mut touched: Vec<u32> = Vec::new();
        for item in request.history {
            let i = item.product.index();
            for &v in &self.product_buyers[self.buyer_starts[i]..self.buyer_starts[i + 1]] {
                if overlap[v as usize] == 0 {
                    touched.push(v);
                }
                overlap[v as usize] += 1;
            }
        }
        let own = request.history.len() as f64;
        let mut neighbours: Vec<(f64, u32)> = touched
            .into_iter()
            .filter(|&v| Some(CustomerIdx(v)) != request.customer)
            .map(|v| {
                let size = (self.customer_starts[v as usize + 1] - self.customer_starts[v as usize])
                    as f64;
                let cosine = f64::from(overlap[v as usize]) / (own * size).sqrt();
                (cosine.powf(self.params.customer_locality), v)
            })
            .collect();
        let by_similarity =
            |a: &(f64, u32), b: &(f64, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if neighbours.len() > self.params.customer_neighbours {
            neighbours.select_nth_unstable_by(self.params.customer_neighbours, by_similarity);
            neighbours.truncate(self.params.customer_neighbours);
        }
        for (similarity, v) in neighbours {
            let v = v as usize;
            for &(j, last_at) in
                &self.customer_products[self.customer_starts[v]..self.customer_starts[v + 1]]
            {
                let mut weight = similarity;
                if let Some(half_life) = self.params.customer_half_life_days {
                    let age_days = ((request.now - last_at) as f64 / DAY as f64).max(0.0);
                    weight *= (-age_days / half_life).exp2();
                }
                scores[j as usize] += weight;
                buyers[j as usize] += 1;
            }
        }
        (scores, buyers)
    }
}
