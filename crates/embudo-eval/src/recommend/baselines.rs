//! The two reference recommenders, written independently of the library's recommender:
//! all-time popularity and plain item-to-item cosine over customers' purchase sets.

use embudo_recommend::{Catalogue, CoPurchase, CustomerIdx, ProductIdx, Purchases};

/// Products by distinct training customers, most first; ties by index.
pub(crate) struct Popularity {
    ranked: Vec<ProductIdx>,
}

impl Popularity {
    pub(crate) fn build(train: &Purchases, catalogue: &Catalogue) -> Popularity {
        let counts = train.product_customer_counts();
        let mut ranked: Vec<ProductIdx> = (0..counts.len() as u32)
            .map(ProductIdx)
            .filter(|&p| catalogue.product(p).is_some_and(|p| p.active))
            .collect();
        ranked.sort_by(|a, b| counts[b.index()].cmp(&counts[a.index()]).then(a.cmp(b)));
        Popularity { ranked }
    }

    /// The `n` most popular products, skipping bought ones when `exclude_bought`.
    pub(crate) fn recommend(
        &self,
        train: &Purchases,
        customer: CustomerIdx,
        n: usize,
        exclude_bought: bool,
    ) -> Vec<ProductIdx> {
        let history = train.customer_items(customer);
        self.ranked
            .iter()
            .copied()
            .filter(|&p| {
                !exclude_bought
                    || history
                        .binary_search_by_key(&p, |item| item.product)
                        .is_err()
            })
            .take(n)
            .collect()
    }
}

/// `cos(i, j) = customers(i and j) / sqrt(customers(i) · customers(j))`; a customer's score
/// for `j` sums the cosines with every product they bought; all neighbours are kept.
pub(crate) struct Cosine {
    rows: Vec<Vec<(u32, f64)>>,
    active: Vec<bool>,
}

impl Cosine {
    pub(crate) fn build(train: &Purchases, catalogue: &Catalogue) -> Cosine {
        let counts = CoPurchase::build(train);
        let mut rows = vec![Vec::new(); train.n_products()];
        for (a, b, both) in counts.pairs() {
            let norm = (f64::from(counts.customers(a)) * f64::from(counts.customers(b))).sqrt();
            rows[a.index()].push((b.0, f64::from(both) / norm));
        }
        let active = catalogue.products.iter().map(|p| p.active).collect();
        Cosine { rows, active }
    }

    pub(crate) fn recommend(
        &self,
        train: &Purchases,
        customer: CustomerIdx,
        n: usize,
        exclude_bought: bool,
    ) -> Vec<ProductIdx> {
        let history = train.customer_items(customer);
        let mut scores = vec![0f64; self.rows.len()];
        for item in history {
            for &(j, cosine) in &self.rows[item.product.index()] {
                scores[j as usize] += cosine;
            }
        }
        let mut candidates: Vec<(f64, u32)> = scores
            .iter()
            .enumerate()
            .filter(|&(j, &s)| s > 0.0 && self.active[j])
            .map(|(j, &s)| (s, j as u32))
            .filter(|&(_, j)| {
                !exclude_bought
                    || history
                        .binary_search_by_key(&ProductIdx(j), |item| item.product)
                        .is_err()
            })
            .collect();
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        candidates
            .into_iter()
            .take(n)
            .map(|(_, j)| ProductIdx(j))
            .collect()
    }
}
