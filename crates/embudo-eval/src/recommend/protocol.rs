//! The split, the targets and the top-10 metrics of the cross-sell evaluation.

use std::collections::HashSet;

use embudo_recommend::{CustomerIdx, DataError, OrderLine, ProductIdx, Purchases, Timestamp};

/// Recommendations per customer.
pub(crate) const K: usize = 10;

/// Which later purchases count as targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Targets {
    /// Products the customer had never bought before the cut (cross-sell).
    NewProducts,
    /// Every product bought after the cut (reorder variant).
    AllProducts,
}

/// A training period and the later purchases to predict.
#[derive(Debug)]
pub(crate) struct Split {
    pub(crate) train: Purchases,
    pub(crate) cut: Timestamp,
    /// Per evaluated customer, the distinct target products.
    pub(crate) targets: Vec<(CustomerIdx, Vec<ProductIdx>)>,
}

/// Trains on lines before `cut` and targets the lines in `[cut, end)` of customers who also
/// bought before `cut`.
pub(crate) fn split(
    lines: &[OrderLine],
    n_products: usize,
    cut: Timestamp,
    end: Timestamp,
    kind: Targets,
) -> Result<Split, DataError> {
    let train = Purchases::new(
        lines.iter().filter(|l| l.at < cut).copied().collect(),
        n_products,
    )?;
    let mut later: Vec<(CustomerIdx, ProductIdx)> = lines
        .iter()
        .filter(|l| l.at >= cut && l.at < end)
        .map(|l| (l.customer, l.product))
        .collect();
    later.sort_unstable();
    later.dedup();
    let mut targets: Vec<(CustomerIdx, Vec<ProductIdx>)> = Vec::new();
    for (customer, product) in later {
        let history = train.customer_items(customer);
        if history.is_empty() {
            continue;
        }
        if kind == Targets::NewProducts
            && history
                .binary_search_by_key(&product, |item| item.product)
                .is_ok()
        {
            continue;
        }
        match targets.last_mut() {
            Some((last, products)) if *last == customer => products.push(product),
            _ => targets.push((customer, vec![product])),
        }
    }
    Ok(Split {
        train,
        cut,
        targets,
    })
}

/// Hit rate, recall and MAP at [`K`], averaged over customers.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Metrics {
    pub(crate) customers: usize,
    /// Share of customers with at least one target in their top 10.
    pub(crate) hit_rate: f64,
    /// Mean over customers of (targets in the top 10) / (targets).
    pub(crate) recall: f64,
    /// Mean over customers of the average precision at 10, normalised by min(targets, 10).
    pub(crate) map: f64,
}

/// Scores `recommend` (customer to ranked products) against the split's targets.
pub(crate) fn evaluate(
    split: &Split,
    mut recommend: impl FnMut(CustomerIdx) -> Vec<ProductIdx>,
) -> Metrics {
    let mut metrics = Metrics {
        customers: split.targets.len(),
        ..Metrics::default()
    };
    for (customer, targets) in &split.targets {
        let wanted: HashSet<ProductIdx> = targets.iter().copied().collect();
        let ranked = recommend(*customer);
        let mut hits = 0usize;
        let mut precision_sum = 0.0;
        for (rank, product) in ranked.iter().take(K).enumerate() {
            if wanted.contains(product) {
                hits += 1;
                precision_sum += hits as f64 / (rank + 1) as f64;
            }
        }
        if hits > 0 {
            metrics.hit_rate += 1.0;
        }
        metrics.recall += hits as f64 / wanted.len() as f64;
        metrics.map += precision_sum / wanted.len().min(K) as f64;
    }
    let n = metrics.customers.max(1) as f64;
    metrics.hit_rate /= n;
    metrics.recall /= n;
    metrics.map /= n;
    metrics
}
