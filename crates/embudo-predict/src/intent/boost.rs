//! Histogram gradient-boosted trees for binary log-loss, with native missing values.
//!
//! The design follows LightGBM and scikit-learn's `HistGradientBoostingClassifier`: features
//! are cut into at most 255 quantile bins, trees grow leaf-wise (best gain first) under a
//! depth and leaf limit, split gains and leaf values are Newton steps with L2 regularisation,
//! and the histogram of the larger child is the parent's minus the smaller child's.
//! Missing values (NaN) get a bin of their own; every split learns the direction they take
//! (the side that gains more), and a split can also separate "missing" from "known".

use crate::intent::{Explanation, FeatureMatrix, FitError, check_training_data, logit, sigmoid};
use crate::metrics::{SplitMix64, stratified_folds};

/// Bin index of a missing value.
const MISSING_BIN: u8 = u8::MAX;
/// Child index of a leaf.
const NO_CHILD: u32 = u32::MAX;
/// Histogram slots per feature: 255 value bins and the missing bin.
const SLOTS: usize = 256;

/// Hyper-parameters of [`BoostedTrees::fit`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BoostParams {
    /// Maximum number of trees (boosting rounds).
    pub n_trees: usize,
    /// Shrinkage applied to every tree's output.
    pub learning_rate: f64,
    /// Maximum depth of a tree (the root has depth 0).
    pub max_depth: usize,
    /// Maximum number of leaves of a tree.
    pub max_leaves: usize,
    /// Minimum sum of hessians (p(1 − p)) in a child.
    pub min_child_weight: f64,
    /// Minimum number of training rows in a child.
    pub min_samples_leaf: usize,
    /// L2 regularisation of the leaf values.
    pub l2: f64,
    /// Minimum gain for a split to be made.
    pub min_split_gain: f64,
    /// Share of the rows each tree sees (Bernoulli sampling; 1 = all).
    pub row_subsample: f64,
    /// Share of the features each tree may split on (1 = all).
    pub col_subsample: f64,
    /// Maximum number of value bins per feature (2 to 255).
    pub max_bins: usize,
    /// Seed of the row and column sampling and of the validation split.
    pub seed: u64,
    /// Share of the rows held out (stratified) to stop early; 0 disables early stopping.
    pub validation_fraction: f64,
    /// Stop when the validation log loss has not improved for this many rounds.
    pub early_stopping_rounds: usize,
}

impl Default for BoostParams {
    fn default() -> Self {
        Self {
            n_trees: 1000,
            learning_rate: 0.05,
            max_depth: 6,
            max_leaves: 31,
            min_child_weight: 1.0,
            min_samples_leaf: 20,
            l2: 1.0,
            min_split_gain: 0.0,
            row_subsample: 0.8,
            col_subsample: 0.8,
            max_bins: 255,
            seed: 0,
            validation_fraction: 0.1,
            early_stopping_rounds: 50,
        }
    }
}

/// One node of a [`Tree`]: a split, or a leaf when it has no children.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Node {
    /// The feature tested (unused in a leaf).
    pub feature: u32,
    /// Rows whose value is at most the threshold go left.
    pub threshold: f32,
    /// Where rows with a missing value go.
    pub default_left: bool,
    /// Index of the left child, `u32::MAX` in a leaf.
    pub left: u32,
    /// Index of the right child, `u32::MAX` in a leaf.
    pub right: u32,
    /// Log-odds output: a leaf's contribution, or what the node would output as a leaf
    /// (used by the path attribution of [`BoostedTrees::explain`]).
    pub value: f64,
    /// Sum of the training hessians that reached the node.
    pub cover: f64,
}

impl Node {
    /// Whether the node is a leaf.
    pub fn is_leaf(&self) -> bool {
        self.left == NO_CHILD
    }

    fn child(&self, value: f32) -> u32 {
        let go_left = if value.is_nan() {
            self.default_left
        } else {
            value <= self.threshold
        };
        if go_left { self.left } else { self.right }
    }
}

/// A regression tree on the log-odds scale; node 0 is the root.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Tree {
    /// The nodes, children after their parent.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The tree's log-odds output for one row.
    pub fn predict(&self, row: &[f32]) -> f64 {
        let mut node = &self.nodes[0];
        while !node.is_leaf() {
            node = &self.nodes[node.child(row[node.feature as usize]) as usize];
        }
        node.value
    }
}

/// A fitted gradient-boosted tree ensemble for P(label = true).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BoostedTrees {
    /// Initial log-odds (of the training positive rate).
    pub base_score: f64,
    /// The trees, summed on the log-odds scale.
    pub trees: Vec<Tree>,
    /// Names of the feature columns.
    pub feature_names: Vec<String>,
    /// The parameters it was fitted with.
    pub params: BoostParams,
    /// Rows used to fit the trees (validation rows excluded).
    pub n_training_rows: usize,
}

impl BoostedTrees {
    /// Fits the ensemble. With `params.validation_fraction > 0`, a stratified share of the
    /// rows is held out and boosting stops once its log loss has not improved for
    /// `early_stopping_rounds` rounds; the ensemble is cut back to the best round.
    pub fn fit(x: &FeatureMatrix, labels: &[bool], params: &BoostParams) -> Result<Self, FitError> {
        check_training_data(x, labels)?;
        validate(params)?;
        let n_features = x.n_cols();

        let (train_rows, valid_rows): (Vec<usize>, Vec<usize>) = if params.validation_fraction > 0.0
        {
            let n_folds = (1.0 / params.validation_fraction).round().max(2.0) as usize;
            let folds = stratified_folds(labels, n_folds, params.seed ^ 0x5EED_7A11);
            (0..labels.len()).partition(|&row| folds[row] != 0)
        } else {
            ((0..labels.len()).collect(), Vec::new())
        };
        let train_labels: Vec<bool> = train_rows.iter().map(|&row| labels[row]).collect();
        if !train_labels.contains(&true) || !train_labels.contains(&false) {
            return Err(FitError::SingleClass);
        }

        let bins = Bins::fit(x, &train_rows, params.max_bins);
        let n = train_rows.len();
        let mut binned = vec![0u8; n_features * n];
        for (i, &row) in train_rows.iter().enumerate() {
            for (f, &value) in x.row(row).iter().enumerate() {
                binned[f * n + i] = bins.bin(f, value);
            }
        }

        let positive_rate = train_labels.iter().filter(|&&label| label).count() as f64 / n as f64;
        let base_score = logit(positive_rate);
        let mut margin = vec![base_score; n];
        let mut grad = vec![0.0; n];
        let mut hess = vec![0.0; n];
        let mut valid_margin = vec![base_score; valid_rows.len()];
        let mut rng = SplitMix64::new(params.seed);
        let mut trees = Vec::new();
        let mut best = (f64::INFINITY, 0usize);

        let n_cols_per_tree =
            ((params.col_subsample * n_features as f64).ceil() as usize).clamp(1, n_features);
        let mut all_features: Vec<usize> = (0..n_features).collect();
        let mut sample: Vec<u32> = Vec::with_capacity(n);
        for round in 0..params.n_trees {
            for i in 0..n {
                let p = sigmoid(margin[i]);
                grad[i] = p - f64::from(u8::from(train_labels[i]));
                hess[i] = (p * (1.0 - p)).max(1e-16);
            }
            sample.clear();
            for i in 0..n {
                if params.row_subsample >= 1.0 || rng.next_f64() < params.row_subsample {
                    sample.push(i as u32);
                }
            }
            rng.shuffle(&mut all_features);
            let mut features = all_features[..n_cols_per_tree].to_vec();
            features.sort_unstable();

            let grower = Grower {
                binned: &binned,
                n,
                grad: &grad,
                hess: &hess,
                bins: &bins,
                params,
                features: &features,
            };
            let (tree, split_bins) = grower.grow(&mut sample);
            for (i, m) in margin.iter_mut().enumerate() {
                *m += leaf_value_binned(&tree, &split_bins, &binned, n, i);
            }
            for (v, &row) in valid_margin.iter_mut().zip(&valid_rows) {
                *v += tree.predict(x.row(row));
            }
            trees.push(tree);

            if !valid_rows.is_empty() {
                let loss = mean_log_loss(&valid_margin, valid_rows.iter().map(|&row| labels[row]));
                if loss < best.0 - 1e-12 {
                    best = (loss, round + 1);
                } else if round + 1 - best.1 >= params.early_stopping_rounds {
                    break;
                }
            }
        }
        if !valid_rows.is_empty() {
            trees.truncate(best.1.max(1));
        }
        Ok(Self {
            base_score,
            trees,
            feature_names: x.names().to_vec(),
            params: params.clone(),
            n_training_rows: n,
        })
    }

    /// The log-odds for one row (NaN = missing).
    pub fn predict_log_odds(&self, row: &[f32]) -> f64 {
        self.base_score + self.trees.iter().map(|tree| tree.predict(row)).sum::<f64>()
    }

    /// The probability of a positive label for one row.
    pub fn predict_proba(&self, row: &[f32]) -> f64 {
        sigmoid(self.predict_log_odds(row))
    }

    /// Probabilities for every row of a matrix.
    pub fn predict_proba_all(&self, x: &FeatureMatrix) -> Vec<f64> {
        x.rows().map(|row| self.predict_proba(row)).collect()
    }

    /// Path attribution (Saabas): along each tree's path, the change in node value at a split
    /// is credited to the split's feature. The bias is the base score plus the roots' values,
    /// and bias plus contributions equals the predicted log-odds exactly.
    pub fn explain(&self, row: &[f32]) -> Explanation {
        let mut values = vec![0.0; self.feature_names.len()];
        let mut bias = self.base_score;
        for tree in &self.trees {
            let mut node = &tree.nodes[0];
            bias += node.value;
            while !node.is_leaf() {
                let child = &tree.nodes[node.child(row[node.feature as usize]) as usize];
                values[node.feature as usize] += child.value - node.value;
                node = child;
            }
        }
        Explanation::from_dense(bias, &values, &self.feature_names)
    }
}

fn validate(params: &BoostParams) -> Result<(), FitError> {
    let invalid = |name, reason| Err(FitError::InvalidParameter { name, reason });
    if params.learning_rate.is_nan() || params.learning_rate <= 0.0 {
        return invalid("learning_rate", "must be positive");
    }
    if !(2..=255).contains(&params.max_bins) {
        return invalid("max_bins", "must be between 2 and 255");
    }
    if params.max_leaves < 2 || params.max_depth == 0 {
        return invalid("max_leaves", "trees need at least two leaves and depth one");
    }
    if !(params.row_subsample.is_finite()
        && params.row_subsample > 0.0
        && params.row_subsample <= 1.0)
    {
        return invalid("row_subsample", "must be in (0, 1]");
    }
    if !(params.col_subsample.is_finite()
        && params.col_subsample > 0.0
        && params.col_subsample <= 1.0)
    {
        return invalid("col_subsample", "must be in (0, 1]");
    }
    if !(0.0..0.5).contains(&params.validation_fraction) {
        return invalid("validation_fraction", "must be in [0, 0.5)");
    }
    if params.l2 < 0.0 {
        return invalid("l2", "must not be negative");
    }
    Ok(())
}

fn mean_log_loss(margins: &[f64], labels: impl Iterator<Item = bool>) -> f64 {
    let sum: f64 = margins
        .iter()
        .zip(labels)
        .map(|(&m, label)| {
            // ln(1 + e^{-m}) for positives, ln(1 + e^{m}) for negatives, computed stably.
            let z = if label { -m } else { m };
            z.max(0.0) + (-z.abs()).exp().ln_1p()
        })
        .sum();
    sum / margins.len() as f64
}

/// Quantile bin edges per feature: value v falls into bin `upper.partition_point(|e| e < v)`.
struct Bins {
    upper: Vec<Vec<f32>>,
}

impl Bins {
    fn fit(x: &FeatureMatrix, rows: &[usize], max_bins: usize) -> Self {
        let upper = (0..x.n_cols())
            .map(|f| {
                let mut values: Vec<f32> = rows
                    .iter()
                    .map(|&row| x.get(row, f))
                    .filter(|v| !v.is_nan())
                    .collect();
                values.sort_by(f32::total_cmp);
                let mut distinct = values.clone();
                distinct.dedup();
                if distinct.len() <= max_bins {
                    // One bin per distinct value; the last value needs no upper edge.
                    distinct.pop();
                    return distinct;
                }
                let mut edges: Vec<f32> = (1..max_bins)
                    .map(|k| values[k * values.len() / max_bins - 1])
                    .collect();
                edges.dedup();
                // The largest value must not be an edge, or the last bin would be empty.
                if edges.last() == values.last() {
                    edges.pop();
                }
                edges
            })
            .collect();
        Self { upper }
    }

    fn bin(&self, feature: usize, value: f32) -> u8 {
        if value.is_nan() {
            MISSING_BIN
        } else {
            // At most 254 edges, so the index fits below MISSING_BIN.
            self.upper[feature].partition_point(|&edge| edge < value) as u8
        }
    }

    fn n_bins(&self, feature: usize) -> usize {
        self.upper[feature].len() + 1
    }

    fn threshold(&self, feature: usize, bin: u8) -> f32 {
        self.upper[feature]
            .get(bin as usize)
            .copied()
            .unwrap_or(f32::INFINITY)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    g: f64,
    h: f64,
    n: u32,
}

impl Stats {
    fn add(&mut self, other: Stats) {
        self.g += other.g;
        self.h += other.h;
        self.n += other.n;
    }

    fn minus(self, other: Stats) -> Stats {
        Stats {
            g: self.g - other.g,
            h: self.h - other.h,
            n: self.n - other.n,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Split {
    gain: f64,
    feature: usize,
    /// Rows with bin ≤ this go left; `n_bins − 1` splits "known" from "missing".
    bin: u8,
    missing_left: bool,
}

struct OpenLeaf {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    hist: Vec<Stats>,
    total: Stats,
    split: Option<Split>,
}

struct Grower<'a> {
    binned: &'a [u8],
    n: usize,
    grad: &'a [f64],
    hess: &'a [f64],
    bins: &'a Bins,
    params: &'a BoostParams,
    features: &'a [usize],
}

impl Grower<'_> {
    /// Grows one tree on the rows of `rows` (reordered in place). Returns the tree and the
    /// bin of each split (for routing the binned training rows).
    fn grow(&self, rows: &mut [u32]) -> (Tree, Vec<u8>) {
        let mut nodes = Vec::new();
        let mut split_bins = Vec::new();
        let hist = self.histogram(rows);
        let total = rows.iter().fold(Stats::default(), |mut acc, &row| {
            acc.add(Stats {
                g: self.grad[row as usize],
                h: self.hess[row as usize],
                n: 1,
            });
            acc
        });
        nodes.push(self.leaf_node(total));
        split_bins.push(0);
        let mut open = vec![self.open_leaf(0, 0, rows.len(), 0, hist, total)];
        let mut n_leaves = 1;
        while n_leaves < self.params.max_leaves {
            let best = open
                .iter()
                .enumerate()
                .filter_map(|(i, leaf)| leaf.split.map(|split| (i, split.gain)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let Some((best_idx, _)) = best else { break };
            let leaf = open.swap_remove(best_idx);
            let Some(split) = leaf.split else { break };

            // Partition the leaf's rows: left ones first.
            let slice = &mut rows[leaf.start..leaf.end];
            let column = &self.binned[split.feature * self.n..(split.feature + 1) * self.n];
            let mut n_left = 0;
            for i in 0..slice.len() {
                let bin = column[slice[i] as usize];
                let go_left = if bin == MISSING_BIN {
                    split.missing_left
                } else {
                    bin <= split.bin
                };
                if go_left {
                    slice.swap(i, n_left);
                    n_left += 1;
                }
            }
            let (left_rows, right_rows) = slice.split_at(n_left);
            let small_is_left = left_rows.len() <= right_rows.len();
            let small_hist = self.histogram(if small_is_left { left_rows } else { right_rows });
            let mut large_hist = leaf.hist;
            for (large, small) in large_hist.iter_mut().zip(&small_hist) {
                *large = large.minus(*small);
            }
            let (left_hist, right_hist) = if small_is_left {
                (small_hist, large_hist)
            } else {
                (large_hist, small_hist)
            };
            let left_total = self.sum_feature(&left_hist, split.feature);
            let right_total = leaf.total.minus(left_total);

            let left_node = nodes.len();
            nodes.push(self.leaf_node(left_total));
            nodes.push(self.leaf_node(right_total));
            split_bins.extend([0, 0]);
            let parent = &mut nodes[leaf.node];
            parent.feature = split.feature as u32;
            parent.threshold = self.bins.threshold(split.feature, split.bin);
            parent.default_left = split.missing_left;
            parent.left = left_node as u32;
            parent.right = left_node as u32 + 1;
            split_bins[leaf.node] = split.bin;

            let mid = leaf.start + n_left;
            open.push(self.open_leaf(
                left_node,
                leaf.start,
                mid,
                leaf.depth + 1,
                left_hist,
                left_total,
            ));
            open.push(self.open_leaf(
                left_node + 1,
                mid,
                leaf.end,
                leaf.depth + 1,
                right_hist,
                right_total,
            ));
            n_leaves += 1;
        }
        (Tree { nodes }, split_bins)
    }

    fn open_leaf(
        &self,
        node: usize,
        start: usize,
        end: usize,
        depth: usize,
        hist: Vec<Stats>,
        total: Stats,
    ) -> OpenLeaf {
        let split = if depth < self.params.max_depth {
            self.best_split(&hist, total)
        } else {
            None
        };
        OpenLeaf {
            node,
            start,
            end,
            depth,
            hist,
            total,
            split,
        }
    }

    fn leaf_node(&self, total: Stats) -> Node {
        Node {
            feature: 0,
            threshold: 0.0,
            default_left: true,
            left: NO_CHILD,
            right: NO_CHILD,
            value: -self.params.learning_rate * total.g / (total.h + self.params.l2),
            cover: total.h,
        }
    }

    fn histogram(&self, rows: &[u32]) -> Vec<Stats> {
        let mut hist = vec![Stats::default(); self.binned.len() / self.n.max(1) * SLOTS];
        for &f in self.features {
            let column = &self.binned[f * self.n..(f + 1) * self.n];
            let slots = &mut hist[f * SLOTS..(f + 1) * SLOTS];
            for &row in rows {
                let slot = &mut slots[column[row as usize] as usize];
                slot.g += self.grad[row as usize];
                slot.h += self.hess[row as usize];
                slot.n += 1;
            }
        }
        hist
    }

    fn sum_feature(&self, hist: &[Stats], feature: usize) -> Stats {
        hist[feature * SLOTS..(feature + 1) * SLOTS]
            .iter()
            .fold(Stats::default(), |mut acc, &s| {
                acc.add(s);
                acc
            })
    }

    fn best_split(&self, hist: &[Stats], total: Stats) -> Option<Split> {
        let params = self.params;
        let score = |s: Stats| s.g * s.g / (s.h + params.l2);
        let parent_score = score(total);
        let allowed = |s: Stats| {
            s.h >= params.min_child_weight && s.n as usize >= params.min_samples_leaf.max(1)
        };
        let mut best: Option<Split> = None;
        for &f in self.features {
            let slots = &hist[f * SLOTS..(f + 1) * SLOTS];
            let missing = slots[MISSING_BIN as usize];
            let n_bins = self.bins.n_bins(f);
            let mut left = Stats::default();
            for (bin, &slot) in slots[..n_bins].iter().enumerate() {
                left.add(slot);
                let last = bin + 1 == n_bins;
                if last && missing.n == 0 {
                    break;
                }
                // Missing values to the right (for the last bin: "known" against "missing").
                let mut candidates = [(left, false), (left, true)];
                candidates[1].0.add(missing);
                let n_candidates = if missing.n > 0 && !last { 2 } else { 1 };
                for &(left_stats, missing_left) in &candidates[..n_candidates] {
                    let right_stats = total.minus(left_stats);
                    if !allowed(left_stats) || !allowed(right_stats) {
                        continue;
                    }
                    let gain = score(left_stats) + score(right_stats) - parent_score;
                    if gain > params.min_split_gain.max(1e-12) && best.is_none_or(|b| gain > b.gain)
                    {
                        // Without missing values here, unseen ones follow the heavier side.
                        let missing_left = if missing.n == 0 {
                            left_stats.h >= right_stats.h
                        } else {
                            missing_left
                        };
                        best = Some(Split {
                            gain,
                            feature: f,
                            bin: bin as u8,
                            missing_left,
                        });
                    }
                }
            }
        }
        best
    }
}

fn leaf_value_binned(tree: &Tree, split_bins: &[u8], binned: &[u8], n: usize, row: usize) -> f64 {
    let mut index = 0;
    loop {
        let node = &tree.nodes[index];
        if node.is_leaf() {
            return node.value;
        }
        let bin = binned[node.feature as usize * n + row];
        let go_left = if bin == MISSING_BIN {
            node.default_left
        } else {
            bin <= split_bins[index]
        };
        index = if go_left { node.left } else { node.right } as usize;
    }
}
