//! `embudo eval questions`: asking for as few session attributes as possible.
//!
//! Each of the 17 attributes of an online shoppers session is treated as an answer embudo
//! may ask for. Two models work together:
//!
//! - the *prediction model*, P(buy | revealed attributes): a gradient-boosted tree ensemble
//!   trained with random attribute masking (every training session is copied with random
//!   subsets of attributes set missing), so its learned default directions give a sensible
//!   probability for any set of revealed attributes;
//! - the *answer model*, which values a question: the training sessions that agree with the
//!   person on what is revealed so far (attributes cut into at most 8 quantile bins; a
//!   condition that would leave fewer than 40 sessions is skipped) give the distribution of
//!   each unrevealed attribute's answer and the purchase rate after each answer; the expected
//!   information gain is H(Y | known) − Σₐ P(a | known) H(Y | known, a), with the rates
//!   smoothed toward the rate given what is known (pseudo-count 10).
//!
//! Curves: accuracy and ROC-AUC of the prediction model after revealing k attributes, for k
//! from 0 to 17, in the information-gain order (chosen per person, greedily), in a fixed order
//! (a static form asking the attributes by their information gain over all training
//! sessions) and in a random order (seeded per person). The adaptive policy asks by
//! information gain until the prediction model is confident (max(p, 1 − p) at least a
//! threshold) or no attribute gains enough; both thresholds are chosen per outer fold on an
//! inner 80/20 split of the training fold (largest ROC-AUC with at most 3 attributes asked on
//! average), never on the test fold. The all-attributes reference is `eval intent`'s tree
//! ensemble. Every figure is averaged over the five test folds of `eval intent`'s split.

use std::io::Write;
use std::path::PathBuf;

use embudo_ask::information_gain;
use embudo_predict::intent::{BoostParams, BoostedTrees, FeatureMatrix};
use embudo_predict::metrics::{SplitMix64, accuracy, roc_auc, stratified_folds};

use crate::intent::{FOLD_SEED, N_FOLDS, boost_params};
use crate::online_shoppers::{self, ATTRIBUTE_NAMES};

/// Number of session attributes.
const N_ATTRIBUTES: usize = ATTRIBUTE_NAMES.len();
/// Masked copies of every training session for the prediction model.
const MASKED_COPIES: usize = 8;
/// Maximum answer bins per attribute in the answer model.
const ANSWER_BINS: usize = 8;
/// A revealed condition is skipped when fewer training sessions would match it.
const MIN_MATCHES: usize = 40;
/// Pseudo-count of the purchase rate after an answer, toward the rate before it.
const RATE_PSEUDO_COUNT: f64 = 10.0;
/// Seed of the masking and of the random order.
const SEED: u64 = 4;
/// Thresholds tried on the inner split.
const CONFIDENCE_GRID: [f64; 6] = [0.9, 0.95, 0.97, 0.98, 0.99, 1.0];
const MIN_GAIN_GRID: [f64; 4] = [0.0, 0.002, 0.005, 0.01];
const MAX_ASKED_GRID: [usize; 4] = [3, 4, 5, N_ATTRIBUTES];
/// The adaptive policy must ask at most this many attributes on average (inner selection).
const MAX_MEAN_ASKED: f64 = 3.0;

/// Options of `embudo eval questions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset to read (see `../shared/data/README.md`).
    #[arg(long)]
    pub data: PathBuf,
    /// Print one JSON object with the figures instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The masked prediction model's hyper-parameters (fixed; no early stopping because masked
/// copies of one session would sit on both sides of a validation split).
fn masked_params(seed: u64) -> BoostParams {
    BoostParams {
        n_trees: 300,
        learning_rate: 0.05,
        max_leaves: 31,
        min_samples_leaf: 40,
        col_subsample: 0.8,
        validation_fraction: 0.0,
        seed,
        ..BoostParams::default()
    }
}

/// Prediction model and answer model fitted on a set of training sessions.
struct Models {
    predict: BoostedTrees,
    answers: AnswerModel,
}

impl Models {
    fn fit(x: &FeatureMatrix, labels: &[bool], rows: &[usize], seed: u64) -> anyhow::Result<Self> {
        let mut rng = SplitMix64::new(seed);
        let mut masked = FeatureMatrix::new(x.names().to_vec());
        let mut masked_labels = Vec::new();
        let mut order: Vec<usize> = (0..N_ATTRIBUTES).collect();
        for &row in rows {
            for copy in 0..MASKED_COPIES {
                let mut values = x.row(row).to_vec();
                // The first copy keeps every attribute; the others hide a uniform number.
                let n_hidden = if copy == 0 {
                    0
                } else {
                    rng.below(N_ATTRIBUTES + 1)
                };
                rng.shuffle(&mut order);
                for &attribute in &order[..n_hidden] {
                    values[attribute] = f32::NAN;
                }
                let _ = masked.push_row(&values);
                masked_labels.push(labels[row]);
            }
        }
        let predict = BoostedTrees::fit(&masked, &masked_labels, &masked_params(seed))?;
        Ok(Self {
            predict,
            answers: AnswerModel::fit(x, labels, rows),
        })
    }

    fn predict(&self, x: &FeatureMatrix, row: usize, revealed: &[usize]) -> f64 {
        let mut values = [f32::NAN; N_ATTRIBUTES];
        for &attribute in revealed {
            values[attribute] = x.get(row, attribute);
        }
        self.predict.predict_proba(&values)
    }
}

/// Training sessions binned per attribute, with their labels.
struct AnswerModel {
    edges: Vec<Vec<f32>>,
    n_bins: Vec<usize>,
    /// Row-major bins of the training sessions.
    bins: Vec<u8>,
    labels: Vec<bool>,
}

impl AnswerModel {
    fn fit(x: &FeatureMatrix, labels: &[bool], rows: &[usize]) -> Self {
        let edges: Vec<Vec<f32>> = (0..N_ATTRIBUTES)
            .map(|attribute| {
                let mut values: Vec<f32> = rows.iter().map(|&row| x.get(row, attribute)).collect();
                values.sort_by(f32::total_cmp);
                let mut edges: Vec<f32> = (1..ANSWER_BINS)
                    .map(|k| values[k * values.len() / ANSWER_BINS - 1])
                    .collect();
                edges.dedup();
                if edges.last() == values.last() {
                    edges.pop();
                }
                edges
            })
            .collect();
        let n_bins = edges.iter().map(|e| e.len() + 1).collect();
        let mut model = Self {
            edges,
            n_bins,
            bins: Vec::with_capacity(rows.len() * N_ATTRIBUTES),
            labels: Vec::new(),
        };
        for &row in rows {
            for attribute in 0..N_ATTRIBUTES {
                let bin = model.bin(attribute, x.get(row, attribute));
                model.bins.push(bin);
            }
            model.labels.push(labels[row]);
        }
        model
    }

    fn bin(&self, attribute: usize, value: f32) -> u8 {
        // At most ANSWER_BINS (8) bins.
        self.edges[attribute].partition_point(|&edge| edge < value) as u8
    }

    fn all_rows(&self) -> Vec<u32> {
        (0..self.labels.len() as u32).collect()
    }

    /// Narrows `rows` to those with the person's bin of `attribute`, unless too few remain.
    fn narrow(&self, rows: &mut Vec<u32>, attribute: usize, bin: u8) {
        let matching = rows
            .iter()
            .filter(|&&r| self.bins[r as usize * N_ATTRIBUTES + attribute] == bin)
            .count();
        if matching >= MIN_MATCHES {
            rows.retain(|&r| self.bins[r as usize * N_ATTRIBUTES + attribute] == bin);
        }
    }

    /// Expected information gain (bits) about buying of revealing each attribute, given the
    /// training sessions that agree with the person so far.
    fn gains(&self, rows: &[u32], candidates: &[usize]) -> Vec<f64> {
        let n = rows.len() as f64;
        let n_pos = rows.iter().filter(|&&r| self.labels[r as usize]).count() as f64;
        let rate = (n_pos + 0.5) / (n + 1.0);
        let prior = [rate, 1.0 - rate];
        // One pass over the rows (their bins are contiguous), counting every candidate.
        let mut counts = vec![[[0.0f64; 2]; ANSWER_BINS]; candidates.len()];
        for &r in rows {
            let row_bins = &self.bins[r as usize * N_ATTRIBUTES..(r as usize + 1) * N_ATTRIBUTES];
            let label = usize::from(self.labels[r as usize]);
            for (cell, &attribute) in counts.iter_mut().zip(candidates) {
                cell[row_bins[attribute] as usize][label] += 1.0;
            }
        }
        candidates
            .iter()
            .zip(&counts)
            .map(|(&attribute, counts)| {
                let posteriors: Vec<(f64, [f64; 2])> = counts[..self.n_bins[attribute]]
                    .iter()
                    .filter(|c| c[0] + c[1] > 0.0)
                    .map(|c| {
                        let total = c[0] + c[1];
                        let p = (c[1] + RATE_PSEUDO_COUNT * rate) / (total + RATE_PSEUDO_COUNT);
                        (total / n, [p, 1.0 - p])
                    })
                    .collect();
                information_gain(&prior, posteriors.iter().map(|(w, p)| (*w, &p[..])))
            })
            .collect()
    }
}

/// The policy's thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Thresholds {
    confidence: f64,
    min_gain: f64,
    /// The per-visit question budget.
    max_asked: usize,
}

/// What the adaptive policy did for one person.
struct AdaptiveOutcome {
    probability: f64,
    asked: usize,
}

/// Reveals attributes by information gain until confident or nothing gains enough.
fn adaptive(
    models: &Models,
    x: &FeatureMatrix,
    row: usize,
    thresholds: Thresholds,
) -> AdaptiveOutcome {
    let mut revealed = Vec::new();
    let mut rows = models.answers.all_rows();
    loop {
        let p = models.predict(x, row, &revealed);
        if p.max(1.0 - p) >= thresholds.confidence
            || revealed.len() >= thresholds.max_asked.min(N_ATTRIBUTES)
        {
            return AdaptiveOutcome {
                probability: p,
                asked: revealed.len(),
            };
        }
        let candidates: Vec<usize> = (0..N_ATTRIBUTES)
            .filter(|a| !revealed.contains(a))
            .collect();
        let gains = models.answers.gains(&rows, &candidates);
        let (best, gain) = best_of(&candidates, &gains);
        if gain < thresholds.min_gain || gain <= 0.0 {
            return AdaptiveOutcome {
                probability: p,
                asked: revealed.len(),
            };
        }
        revealed.push(best);
        models
            .answers
            .narrow(&mut rows, best, models.answers.bin(best, x.get(row, best)));
    }
}

/// The full greedy information-gain order for one person.
fn information_gain_order(models: &Models, x: &FeatureMatrix, row: usize) -> Vec<usize> {
    let mut revealed = Vec::new();
    let mut rows = models.answers.all_rows();
    while revealed.len() < N_ATTRIBUTES {
        let candidates: Vec<usize> = (0..N_ATTRIBUTES)
            .filter(|a| !revealed.contains(a))
            .collect();
        let gains = models.answers.gains(&rows, &candidates);
        let (best, _) = best_of(&candidates, &gains);
        revealed.push(best);
        models
            .answers
            .narrow(&mut rows, best, models.answers.bin(best, x.get(row, best)));
    }
    revealed
}

/// The candidate with the largest gain (ties to the earlier attribute).
fn best_of(candidates: &[usize], gains: &[f64]) -> (usize, f64) {
    candidates
        .iter()
        .zip(gains)
        .fold((candidates[0], f64::NEG_INFINITY), |best, (&c, &g)| {
            if g > best.1 { (c, g) } else { best }
        })
}

/// Maps `f` over `rows` on two threads (the evaluation machine has two cores), in order.
fn parallel_map<T: Send>(rows: &[usize], f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let middle = rows.len() / 2;
    let (first, second) = rows.split_at(middle);
    std::thread::scope(|scope| {
        let handle = scope.spawn(|| second.iter().map(|&r| f(r)).collect::<Vec<T>>());
        let mut results: Vec<T> = first.iter().map(|&r| f(r)).collect();
        // A panic in the worker is a bug in this evaluation; pass it on.
        results.extend(
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        );
        results
    })
}

/// Accuracy and ROC-AUC averaged over folds.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    accuracy: f64,
    roc_auc: f64,
}

impl Figures {
    fn of(labels: &[bool], probabilities: &[f64]) -> anyhow::Result<Self> {
        Ok(Self {
            accuracy: accuracy(labels, probabilities, 0.5)?,
            roc_auc: roc_auc(labels, probabilities)?,
        })
    }

    fn add(&mut self, other: Self, weight: f64) {
        self.accuracy += weight * other.accuracy;
        self.roc_auc += weight * other.roc_auc;
    }

    fn json(self) -> serde_json::Value {
        serde_json::json!({ "accuracy": self.accuracy, "roc_auc": self.roc_auc })
    }
}

/// Runs the adaptive policy on `rows` and returns (figures, mean asked).
fn run_adaptive(
    models: &Models,
    x: &FeatureMatrix,
    labels: &[bool],
    rows: &[usize],
    thresholds: Thresholds,
) -> anyhow::Result<(Figures, f64)> {
    let outcomes = parallel_map(rows, |row| adaptive(models, x, row, thresholds));
    let probabilities: Vec<f64> = outcomes.iter().map(|o| o.probability).collect();
    let row_labels: Vec<bool> = rows.iter().map(|&r| labels[r]).collect();
    let mean_asked = outcomes.iter().map(|o| o.asked as f64).sum::<f64>() / rows.len() as f64;
    Ok((Figures::of(&row_labels, &probabilities)?, mean_asked))
}

/// Chooses the thresholds on an inner split of the training rows.
fn choose_thresholds(
    x: &FeatureMatrix,
    labels: &[bool],
    train: &[usize],
    seed: u64,
) -> anyhow::Result<Thresholds> {
    let train_labels: Vec<bool> = train.iter().map(|&r| labels[r]).collect();
    let inner = stratified_folds(&train_labels, 5, seed ^ 0x1A4E);
    let fit_rows: Vec<usize> = (0..train.len())
        .filter(|&i| inner[i] != 0)
        .map(|i| train[i])
        .collect();
    let valid_rows: Vec<usize> = (0..train.len())
        .filter(|&i| inner[i] == 0)
        .map(|i| train[i])
        .collect();
    let models = Models::fit(x, labels, &fit_rows, seed ^ 0x1A4E)?;
    let mut best: Option<(Thresholds, f64)> = None;
    for &confidence in &CONFIDENCE_GRID {
        for &min_gain in &MIN_GAIN_GRID {
            for &max_asked in &MAX_ASKED_GRID {
                let thresholds = Thresholds {
                    confidence,
                    min_gain,
                    max_asked,
                };
                let (figures, mean_asked) =
                    run_adaptive(&models, x, labels, &valid_rows, thresholds)?;
                if mean_asked <= MAX_MEAN_ASKED && best.is_none_or(|(_, auc)| figures.roc_auc > auc)
                {
                    best = Some((thresholds, figures.roc_auc));
                }
            }
        }
    }
    // With no point under the budget, fall back to the most frugal one.
    let frugal = Thresholds {
        confidence: CONFIDENCE_GRID[0],
        min_gain: MIN_GAIN_GRID[3],
        max_asked: 3,
    };
    Ok(best.map_or(frugal, |(t, _)| t))
}

/// Runs the evaluation.
pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let sessions = online_shoppers::read(&args.data)?;
    let labels = online_shoppers::labels(&sessions);
    let x = online_shoppers::attribute_matrix(&sessions);
    let folds = stratified_folds(&labels, N_FOLDS, FOLD_SEED);

    let mut all_attributes = Figures::default();
    let mut adaptive_figures = Figures::default();
    let mut mean_asked = 0.0;
    let mut curves = [[Figures::default(); N_ATTRIBUTES + 1]; 3];
    let mut chosen = Vec::new();
    let mut asked_histogram = [0usize; N_ATTRIBUTES + 1];
    let mut fixed_orders = Vec::new();
    let weight = 1.0 / N_FOLDS as f64;
    for fold in 0..N_FOLDS {
        let train: Vec<usize> = (0..labels.len()).filter(|&r| folds[r] != fold).collect();
        let test: Vec<usize> = (0..labels.len()).filter(|&r| folds[r] == fold).collect();
        let test_labels: Vec<bool> = test.iter().map(|&r| labels[r]).collect();
        let seed = SEED + fold as u64;

        // The all-attributes reference: eval intent's tree ensemble.
        let train_x = x.select_rows(&train);
        let train_labels: Vec<bool> = train.iter().map(|&r| labels[r]).collect();
        let full = BoostedTrees::fit(&train_x, &train_labels, &boost_params(fold as u64))?;
        let full_p: Vec<f64> = test.iter().map(|&r| full.predict_proba(x.row(r))).collect();
        all_attributes.add(Figures::of(&test_labels, &full_p)?, weight);

        let models = Models::fit(&x, &labels, &train, seed)?;
        let thresholds = choose_thresholds(&x, &labels, &train, seed)?;
        chosen.push(thresholds);
        let outcomes = parallel_map(&test, |r| adaptive(&models, &x, r, thresholds));
        for outcome in &outcomes {
            asked_histogram[outcome.asked] += 1;
        }
        let probabilities: Vec<f64> = outcomes.iter().map(|o| o.probability).collect();
        adaptive_figures.add(Figures::of(&test_labels, &probabilities)?, weight);
        mean_asked +=
            weight * outcomes.iter().map(|o| o.asked as f64).sum::<f64>() / test.len() as f64;

        // Orders: information gain per person, a fixed form, random per person.
        let all_rows = models.answers.all_rows();
        let marginal = models
            .answers
            .gains(&all_rows, &(0..N_ATTRIBUTES).collect::<Vec<_>>());
        let mut fixed: Vec<usize> = (0..N_ATTRIBUTES).collect();
        fixed.sort_by(|&a, &b| marginal[b].total_cmp(&marginal[a]));
        fixed_orders.push(fixed.clone());
        let mut rng = SplitMix64::new(seed ^ 0xDA7A);
        let gain_orders = parallel_map(&test, |r| information_gain_order(&models, &x, r));
        let orders: Vec<[Vec<usize>; 3]> = gain_orders
            .into_iter()
            .map(|gain_order| {
                let mut random: Vec<usize> = (0..N_ATTRIBUTES).collect();
                rng.shuffle(&mut random);
                [gain_order, fixed.clone(), random]
            })
            .collect();
        for (policy, curve) in curves.iter_mut().enumerate() {
            for (k, point) in curve.iter_mut().enumerate() {
                let p: Vec<f64> = test
                    .iter()
                    .zip(&orders)
                    .map(|(&r, o)| models.predict(&x, r, &o[policy][..k]))
                    .collect();
                point.add(Figures::of(&test_labels, &p)?, weight);
            }
        }
    }

    let names = |order: &[usize]| {
        order
            .iter()
            .map(|&a| ATTRIBUTE_NAMES[a])
            .collect::<Vec<_>>()
    };
    if args.json {
        let curve_json = |curve: &[Figures]| {
            curve
                .iter()
                .enumerate()
                .map(|(k, f)| serde_json::json!({ "revealed": k, "accuracy": f.accuracy, "roc_auc": f.roc_auc }))
                .collect::<Vec<_>>()
        };
        let object = serde_json::json!({
            "n_sessions": sessions.len(),
            "n_folds": N_FOLDS,
            "fold_seed": FOLD_SEED,
            "all_attributes": all_attributes.json(),
            "adaptive": {
                "mean_asked": mean_asked,
                "accuracy": adaptive_figures.accuracy,
                "roc_auc": adaptive_figures.roc_auc,
                "asked_histogram": asked_histogram.to_vec(),
                "confidence_by_fold": chosen.iter().map(|t| t.confidence).collect::<Vec<_>>(),
                "min_gain_by_fold": chosen.iter().map(|t| t.min_gain).collect::<Vec<_>>(),
                "max_asked_by_fold": chosen.iter().map(|t| t.max_asked).collect::<Vec<_>>(),
            },
            "information_gain": curve_json(&curves[0]),
            "fixed_order": curve_json(&curves[1]),
            "random_order": curve_json(&curves[2]),
            "fixed_order_attributes": names(&fixed_orders[0]),
        });
        writeln!(out, "{object}")?;
        return Ok(());
    }
    writeln!(
        out,
        "asking for session attributes: {} sessions, {N_FOLDS} folds (seed {FOLD_SEED})",
        sessions.len()
    )?;
    writeln!(
        out,
        "{:>8}  {:>17}  {:>17}  {:>17}",
        "revealed", "information gain", "fixed order", "random order"
    )?;
    writeln!(
        out,
        "{:>8}  {:>8} {:>8}  {:>8} {:>8}  {:>8} {:>8}",
        "", "acc", "ROC-AUC", "acc", "ROC-AUC", "acc", "ROC-AUC"
    )?;
    let [gain, fixed, random] = &curves;
    for (k, ((gain, fixed), random)) in gain.iter().zip(fixed).zip(random).enumerate() {
        writeln!(
            out,
            "{k:>8}  {:>8.4} {:>8.4}  {:>8.4} {:>8.4}  {:>8.4} {:>8.4}",
            gain.accuracy,
            gain.roc_auc,
            fixed.accuracy,
            fixed.roc_auc,
            random.accuracy,
            random.roc_auc
        )?;
    }
    writeln!(
        out,
        "fixed order (fold 1): {}",
        names(&fixed_orders[0]).join(", ")
    )?;
    writeln!(
        out,
        "adaptive: {mean_asked:.2} attributes asked on average, accuracy {:.4}, ROC-AUC {:.4}",
        adaptive_figures.accuracy, adaptive_figures.roc_auc
    )?;
    writeln!(
        out,
        "  attributes asked (count of sessions): {asked_histogram:?}"
    )?;
    let chosen_text: Vec<String> = chosen
        .iter()
        .map(|t| {
            format!(
                "confidence {} min gain {} at most {}",
                t.confidence, t.min_gain, t.max_asked
            )
        })
        .collect();
    writeln!(
        out,
        "  thresholds chosen on inner splits: {}",
        chosen_text.join("; ")
    )?;
    writeln!(
        out,
        "all attributes (eval intent's tree ensemble): accuracy {:.4}, ROC-AUC {:.4}",
        all_attributes.accuracy, all_attributes.roc_auc
    )?;
    Ok(())
}
