//! `embudo eval intent`: purchase intent on the online shoppers sessions.
//!
//! Protocol: stratified 5-fold cross-validation with a fixed seed. In every fold, each model
//! is fitted on the four training folds with hyper-parameters fixed in this file (chosen
//! before looking at any test fold; the tree ensemble picks its number of trees by early
//! stopping on a stratified 10 % of the training rows). Probabilities are calibrated with
//! Platt scaling fitted on out-of-fold predictions of a 3-fold split of the training rows,
//! then every figure is computed on the held-out fold and averaged over the five folds.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use embudo_predict::intent::{
    BoostParams, BoostedTrees, Calibration, FeatureMatrix, LogisticParams, LogisticRegression,
};
use embudo_predict::metrics::{self, ClassificationMetrics, stratified_folds};

use crate::online_shoppers;

/// Seed of the outer 5-fold split (shared with `embudo eval questions`).
pub const FOLD_SEED: u64 = 20_180_468;
/// Number of outer folds.
pub const N_FOLDS: usize = 5;
/// Folds of the inner split that produces out-of-fold predictions for calibration.
const N_CALIBRATION_FOLDS: usize = 3;

/// Options of `embudo eval intent`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset to read (see `../shared/data/README.md`).
    #[arg(long)]
    pub data: PathBuf,
    /// Print one JSON object with the figures instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The tree-ensemble hyper-parameters of the evaluation (fixed, see the module doc).
pub fn boost_params(seed: u64) -> BoostParams {
    BoostParams {
        n_trees: 2000,
        learning_rate: 0.03,
        max_depth: 6,
        max_leaves: 15,
        min_child_weight: 1.0,
        min_samples_leaf: 40,
        l2: 1.0,
        min_split_gain: 0.0,
        row_subsample: 0.8,
        col_subsample: 0.7,
        max_bins: 255,
        seed,
        validation_fraction: 0.1,
        early_stopping_rounds: 100,
    }
}

/// The logistic-regression hyper-parameters of the evaluation.
pub fn logistic_params() -> LogisticParams {
    LogisticParams {
        l2: 1.0,
        ..LogisticParams::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Model {
    Logistic,
    Boosted,
}

impl Model {
    fn key(self) -> &'static str {
        match self {
            Self::Logistic => "logistic_regression",
            Self::Boosted => "gradient_boosting",
        }
    }
}

/// Figures of one model, averaged over the folds.
#[derive(Debug, Clone)]
struct ModelResult {
    model: Model,
    folds: Vec<FoldResult>,
}

#[derive(Debug, Clone)]
struct FoldResult {
    calibrated: ClassificationMetrics,
    brier_uncalibrated: f64,
    fit_predict_seconds: f64,
    n_trees: usize,
}

impl ModelResult {
    fn mean(&self, figure: impl Fn(&FoldResult) -> f64) -> f64 {
        self.folds.iter().map(&figure).sum::<f64>() / self.folds.len() as f64
    }

    fn json(&self) -> serde_json::Value {
        let mut value = serde_json::json!({
            "roc_auc": self.mean(|f| f.calibrated.roc_auc),
            "pr_auc": self.mean(|f| f.calibrated.pr_auc),
            "f1": self.mean(|f| f.calibrated.f1),
            "brier": self.mean(|f| f.calibrated.brier),
            "brier_uncalibrated": self.mean(|f| f.brier_uncalibrated),
            "log_loss": self.mean(|f| f.calibrated.log_loss),
            "accuracy": self.mean(|f| f.calibrated.accuracy),
            "fit_predict_seconds": self.folds.iter().map(|f| f.fit_predict_seconds).sum::<f64>(),
            "roc_auc_by_fold": self.folds.iter().map(|f| f.calibrated.roc_auc).collect::<Vec<_>>(),
            "pr_auc_by_fold": self.folds.iter().map(|f| f.calibrated.pr_auc).collect::<Vec<_>>(),
        });
        if self.model == Model::Boosted {
            value["trees_by_fold"] = self
                .folds
                .iter()
                .map(|f| f.n_trees)
                .collect::<Vec<_>>()
                .into();
        }
        value
    }
}

/// Runs the evaluation.
pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let sessions = online_shoppers::read(&args.data)?;
    let labels = online_shoppers::labels(&sessions);
    let trees_x = online_shoppers::attribute_matrix(&sessions);
    let linear_x = online_shoppers::linear_matrix(&sessions);
    let folds = stratified_folds(&labels, N_FOLDS, FOLD_SEED);

    let mut results = Vec::new();
    for model in [Model::Logistic, Model::Boosted] {
        let x = if model == Model::Logistic {
            &linear_x
        } else {
            &trees_x
        };
        let mut fold_results = Vec::new();
        for fold in 0..N_FOLDS {
            let train: Vec<usize> = (0..labels.len()).filter(|&r| folds[r] != fold).collect();
            let test: Vec<usize> = (0..labels.len()).filter(|&r| folds[r] == fold).collect();
            fold_results.push(
                evaluate_fold(model, x, &labels, &train, &test, fold as u64)
                    .with_context(|| format!("fold {fold} of {}", model.key()))?,
            );
        }
        results.push(ModelResult {
            model,
            folds: fold_results,
        });
    }

    let best = results
        .iter()
        .max_by(|a, b| {
            a.mean(|f| f.calibrated.roc_auc)
                .total_cmp(&b.mean(|f| f.calibrated.roc_auc))
        })
        .context("no model evaluated")?;
    if args.json {
        let mut object = best.json();
        object["model"] = best.model.key().into();
        object["n_sessions"] = sessions.len().into();
        object["n_folds"] = N_FOLDS.into();
        object["fold_seed"] = FOLD_SEED.into();
        for result in &results {
            object[result.model.key()] = result.json();
        }
        writeln!(out, "{object}")?;
        return Ok(());
    }
    writeln!(
        out,
        "purchase intent: {} sessions, {:.1} % buy; stratified {N_FOLDS}-fold cross-validation (seed {FOLD_SEED})",
        sessions.len(),
        100.0 * labels.iter().filter(|&&l| l).count() as f64 / labels.len() as f64
    )?;
    writeln!(
        out,
        "{:<22} {:>8} {:>8} {:>8} {:>8} {:>10} {:>8} {:>9} {:>12}",
        "model",
        "ROC-AUC",
        "PR-AUC",
        "F1@0.5",
        "Brier",
        "Brier raw",
        "log loss",
        "accuracy",
        "fit+pred s"
    )?;
    for result in &results {
        writeln!(
            out,
            "{:<22} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>10.4} {:>8.4} {:>9.4} {:>12.2}",
            result.model.key(),
            result.mean(|f| f.calibrated.roc_auc),
            result.mean(|f| f.calibrated.pr_auc),
            result.mean(|f| f.calibrated.f1),
            result.mean(|f| f.calibrated.brier),
            result.mean(|f| f.brier_uncalibrated),
            result.mean(|f| f.calibrated.log_loss),
            result.mean(|f| f.calibrated.accuracy),
            result
                .folds
                .iter()
                .map(|f| f.fit_predict_seconds)
                .sum::<f64>(),
        )?;
    }
    writeln!(out, "best by ROC-AUC: {}", best.model.key())?;
    Ok(())
}

/// Fits a model on `train` and returns raw probabilities for `test`, and the number of trees.
fn fit_predict(
    model: Model,
    x: &FeatureMatrix,
    labels: &[bool],
    train: &[usize],
    test: &[usize],
    seed: u64,
) -> anyhow::Result<(Vec<f64>, usize)> {
    let train_x = x.select_rows(train);
    let train_labels: Vec<bool> = train.iter().map(|&r| labels[r]).collect();
    let test_x = x.select_rows(test);
    Ok(match model {
        Model::Logistic => {
            let fitted = LogisticRegression::fit(&train_x, &train_labels, &logistic_params())?;
            (fitted.predict_proba_all(&test_x), 0)
        }
        Model::Boosted => {
            let fitted = BoostedTrees::fit(&train_x, &train_labels, &boost_params(seed))?;
            (fitted.predict_proba_all(&test_x), fitted.trees.len())
        }
    })
}

fn evaluate_fold(
    model: Model,
    x: &FeatureMatrix,
    labels: &[bool],
    train: &[usize],
    test: &[usize],
    seed: u64,
) -> anyhow::Result<FoldResult> {
    let start = Instant::now();
    let (raw, n_trees) = fit_predict(model, x, labels, train, test, seed)?;

    // Out-of-fold predictions on the training rows, for the calibration map.
    let train_labels: Vec<bool> = train.iter().map(|&r| labels[r]).collect();
    let inner = stratified_folds(&train_labels, N_CALIBRATION_FOLDS, seed ^ 0xCA11);
    let mut oof = vec![0.0; train.len()];
    for inner_fold in 0..N_CALIBRATION_FOLDS {
        let fit_rows: Vec<usize> = (0..train.len())
            .filter(|&i| inner[i] != inner_fold)
            .map(|i| train[i])
            .collect();
        let held: Vec<usize> = (0..train.len())
            .filter(|&i| inner[i] == inner_fold)
            .collect();
        let held_rows: Vec<usize> = held.iter().map(|&i| train[i]).collect();
        let (predictions, _) = fit_predict(model, x, labels, &fit_rows, &held_rows, seed + 100)?;
        for (&i, p) in held.iter().zip(predictions) {
            oof[i] = p;
        }
    }
    let calibration = Calibration::fit_platt(&oof, &train_labels);
    let calibrated: Vec<f64> = raw.iter().map(|&p| calibration.apply(p)).collect();
    let fit_predict_seconds = start.elapsed().as_secs_f64();

    let test_labels: Vec<bool> = test.iter().map(|&r| labels[r]).collect();
    Ok(FoldResult {
        calibrated: metrics::classification_metrics(&test_labels, &calibrated, 0.5)?,
        brier_uncalibrated: metrics::brier_score(&test_labels, &raw)?,
        fit_predict_seconds,
        n_trees,
    })
}
