//! Training from the shop's own history: BTYD from the orders, purchase intent from the event
//! log replayed up to a cutoff. Each fit is saved as the next version of its model kind, with a
//! report (parameters, fit, data used, date) that the model API shows verbatim.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use embudo_core::Timestamp;
use embudo_core::event::Action;
use embudo_core::phase::PhaseState;
use embudo_core::profile::Aggregates;
use embudo_core::time::MILLIS_PER_DAY;
use embudo_predict::btyd::{
    BgNbd, Cohort, FitOptions, GammaGamma, ParetoNbd, SpendData, SummaryOptions, Transaction,
    summarize,
};
use embudo_predict::intent::{
    BoostParams, BoostedTrees, Calibration, FeatureMatrix, LogisticParams, LogisticRegression,
};
use embudo_predict::metrics::{self, ClassificationMetrics, stratified_folds};
use embudo_store::{ModelInfo, NewModel, OrderRecord, ProfileId, WorkspaceId};
use serde_json::json;

use crate::predict::models::{BtydPayload, IntentModel, IntentPayload};
use crate::predict::{BTYD, INTENT, feature_names, features};
use crate::{Embudo, ServiceError};

/// Days per BTYD time unit: the models are fitted in weeks, as in the papers.
const DAYS_PER_UNIT: f64 = 7.0;
/// Log events read per page while replaying.
const LOG_PAGE: u32 = 5_000;
/// Outer split: one fold of five is held out to measure.
const N_FOLDS: usize = 5;
/// Inner folds that give out-of-fold predictions for the calibration.
const N_CALIBRATION_FOLDS: usize = 3;

/// Why a model was not trained. Nothing is saved in any case.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("not enough data to train {kind}: found {found}; needs {needed}")]
    NotEnoughData {
        kind: &'static str,
        found: String,
        needed: String,
    },
    #[error("the {kind} fit failed: {reason}")]
    Fit { kind: &'static str, reason: String },
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<embudo_store::StoreError> for TrainError {
    fn from(error: embudo_store::StoreError) -> TrainError {
        TrainError::Service(error.into())
    }
}

/// A saved model: its description and its report.
#[derive(Debug, Clone)]
pub struct TrainReport {
    pub info: ModelInfo,
    pub report: serde_json::Value,
}

impl Embudo {
    /// Fits BG/NBD, Pareto/NBD and Gamma-Gamma on every customer's kept orders up to now (one
    /// purchase per day, weeks as the time unit) and saves them as the next [`BTYD`] model.
    /// BG/NBD scores the customers; Pareto/NBD is reported beside it; Gamma-Gamma (CLV) is
    /// left out when it cannot be fitted. The scheduler calls this.
    #[tracing::instrument(skip_all, fields(workspace = %workspace))]
    pub async fn train_btyd(&self, workspace: WorkspaceId) -> Result<TrainReport, TrainError> {
        let now = self.now();
        let settings = &self.inner.settings.predict;
        let orders = self
            .inner
            .store
            .orders(workspace, Timestamp::from_millis(0), now.plus_millis(1))
            .await?;
        let transactions: Vec<Transaction<i64>> = orders
            .iter()
            .filter(|order| is_kept(order))
            .filter_map(|order| {
                Some(Transaction {
                    customer: order.profile_id?.0,
                    period: order.placed_at.as_millis().div_euclid(MILLIS_PER_DAY),
                    value: (order.total - order.refunded).max(0.0),
                })
            })
            .collect();
        let today = now.as_millis().div_euclid(MILLIS_PER_DAY);
        let summaries = summarize(
            &transactions,
            &SummaryOptions {
                calibration_end: today,
                holdout_end: None,
                periods_per_unit: DAYS_PER_UNIT,
            },
        )
        .map_err(|error| fit_error(BTYD, error))?;
        let customers = summaries.len();
        let repeat = summaries.iter().filter(|s| s.history.x > 0).count();
        if customers < settings.btyd_min_customers || repeat < settings.btyd_min_repeat_customers {
            return Err(TrainError::NotEnoughData {
                kind: BTYD,
                found: format!(
                    "{customers} customers with kept orders, {repeat} of whom ordered on more than one day"
                ),
                needed: format!(
                    "at least {} customers and {} repeat customers",
                    settings.btyd_min_customers, settings.btyd_min_repeat_customers
                ),
            });
        }
        // The fits are long computations: on a blocking thread, not on the runtime's workers
        // (which serve requests meanwhile).
        let (summaries, fits) = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let fits = Cohort::new(summaries.iter().map(|s| s.history))
                .map_err(|error| fit_error(BTYD, error))
                .and_then(|cohort| {
                    let options = FitOptions::default();
                    let bgnbd = BgNbd::fit(&cohort, &options)
                        .map_err(|error| fit_error("BG/NBD", error))?;
                    let pareto = ParetoNbd::fit(&cohort, &options);
                    let spend = SpendData::new(
                        summaries
                            .iter()
                            .filter(|s| s.history.x > 0 && s.mean_repeat_value > 0.0)
                            .map(|s| (s.history.x, s.mean_repeat_value)),
                    )
                    .and_then(|data| GammaGamma::fit(&data, &options));
                    Ok((bgnbd, pareto, spend, started.elapsed().as_secs_f64()))
                });
            (summaries, fits)
        })
        .await
        .map_err(|error| fit_error(BTYD, error))?;
        let (bgnbd, pareto, spend, fit_seconds) = fits?;

        let first_day = summaries
            .iter()
            .map(|s| s.first_period)
            .min()
            .unwrap_or(today);
        let report = json!({
            "kind": BTYD,
            "built_at": now.to_string(),
            "time_unit": "week",
            "calibration": {
                "from": Timestamp::from_millis(first_day * MILLIS_PER_DAY).date_string(),
                "to": now.date_string(),
            },
            "customers": customers,
            "repeat_customers": repeat,
            "purchase_days": transactions.len(),
            "scoring_model": "bgnbd",
            "bgnbd": {
                "r": bgnbd.model.r,
                "alpha": bgnbd.model.alpha,
                "a": bgnbd.model.a,
                "b": bgnbd.model.b,
                "log_likelihood": bgnbd.log_likelihood,
                "iterations": bgnbd.iterations,
            },
            "pareto_nbd": match &pareto {
                Ok(fit) => json!({
                    "r": fit.model.r,
                    "alpha": fit.model.alpha,
                    "s": fit.model.s,
                    "beta": fit.model.beta,
                    "log_likelihood": fit.log_likelihood,
                    "iterations": fit.iterations,
                }),
                Err(error) => json!({ "error": error.to_string() }),
            },
            "gamma_gamma": match &spend {
                Ok(fit) => json!({
                    "p": fit.model.p,
                    "q": fit.model.q,
                    "gamma": fit.model.gamma,
                    "log_likelihood": fit.log_likelihood,
                    "customers": fit.customers,
                }),
                Err(error) => json!({ "error": error.to_string() }),
            },
            "fit_seconds": fit_seconds,
        });
        let payload = BtydPayload {
            days_per_unit: DAYS_PER_UNIT,
            bgnbd: bgnbd.model,
            gamma_gamma: spend.ok().map(|fit| fit.model),
        };
        let info = self.save(workspace, BTYD, now, &report, &payload).await?;
        self.cache_saved_model(workspace, None, Some((info.version, Arc::new(payload))));
        Ok(TrainReport { info, report })
    }

    /// Builds a labelled dataset from the history and fits the intent model: each person who
    /// had not bought by the cutoff (now − horizon) is one row, with the features of the events
    /// up to the cutoff (replayed through the pure aggregation and phase state) and the label
    /// "ordered within the horizon after it". Logistic regression and gradient-boosted trees
    /// are measured on a stratified held-out fifth; the better by ROC-AUC is refitted on every
    /// row, Platt-calibrated on out-of-fold predictions, and saved as the next [`INTENT`] model.
    /// The scheduler calls this.
    #[tracing::instrument(skip_all, fields(workspace = %workspace))]
    pub async fn train_intent(&self, workspace: WorkspaceId) -> Result<TrainReport, TrainError> {
        let now = self.now();
        let settings = &self.inner.settings;
        let predict = &settings.predict;
        let horizon_ms = (predict.intent_horizon_days * MILLIS_PER_DAY as f64).round() as i64;
        let cutoff = now.plus_millis(-horizon_ms);

        // The people as they were at the cutoff.
        let mut people: BTreeMap<ProfileId, (PhaseState, Aggregates)> = BTreeMap::new();
        let mut after = 0;
        loop {
            let log = self.inner.store.read_log(after, LOG_PAGE).await?;
            let Some(last) = log.last() else { break };
            after = last.seq;
            for logged in &log {
                let event = &logged.event;
                if logged.workspace_id != workspace || event.timestamp > cutoff {
                    continue;
                }
                let Some(profile) = logged.profile_id else {
                    continue;
                };
                let action = event.action(&settings.page_rules).unwrap_or_else(|_| {
                    Action::Other(event.name.as_deref().unwrap_or_default().to_owned())
                });
                let (state, aggregates) = people.entry(profile).or_default();
                state.apply(event, &action, &settings.phase_model);
                aggregates.apply(event, &action);
            }
        }
        let buyers: BTreeSet<ProfileId> = self
            .inner
            .store
            .orders(workspace, cutoff.plus_millis(1), now.plus_millis(1))
            .await?
            .iter()
            .filter(|order| is_kept(order))
            .filter_map(|order| order.profile_id)
            .collect();

        let names = feature_names();
        let mut x = FeatureMatrix::new(names.clone());
        let mut labels = Vec::new();
        for (id, (state, aggregates)) in &people {
            if aggregates.n_orders() > 0 {
                continue;
            }
            let row = features(state, aggregates, cutoff, &settings.phase_model);
            // Invariant: `features` returns one value per name.
            if x.push_row(&row).is_none() {
                continue;
            }
            labels.push(buyers.contains(id));
        }
        let rows = labels.len();
        let positives = labels.iter().filter(|&&label| label).count();
        let negatives = rows - positives;
        if rows < predict.intent_min_people
            || positives < predict.intent_min_positives
            || negatives < predict.intent_min_positives
        {
            return Err(TrainError::NotEnoughData {
                kind: INTENT,
                found: format!(
                    "{rows} people seen by {} who had not bought yet, {positives} of whom ordered within {} days after",
                    cutoff.date_string(),
                    predict.intent_horizon_days
                ),
                needed: format!(
                    "at least {} people, {} who ordered and {} who did not",
                    predict.intent_min_people,
                    predict.intent_min_positives,
                    predict.intent_min_positives
                ),
            });
        }

        // The fits are long computations: on a blocking thread, as BTYD's.
        let seed = predict.seed;
        let (measured, chosen, model, calibration, held_out, fit_seconds) =
            tokio::task::spawn_blocking(move || {
                let started = Instant::now();
                let folds = stratified_folds(&labels, N_FOLDS, seed);
                let train: Vec<usize> = (0..rows).filter(|&r| folds[r] != 0).collect();
                let test: Vec<usize> = (0..rows).filter(|&r| folds[r] == 0).collect();
                let test_labels: Vec<bool> = test.iter().map(|&r| labels[r]).collect();
                let mut measured = Vec::new();
                for family in [Family::Logistic, Family::Boosted] {
                    let (model, calibration) = fit_calibrated(family, &x, &labels, &train, seed)?;
                    let test_x = x.select_rows(&test);
                    let calibrated: Vec<f64> = test_x
                        .rows()
                        .map(|row| calibration.apply(model.predict_proba(row)))
                        .collect();
                    let figures = metrics::classification_metrics(&test_labels, &calibrated, 0.5)
                        .map_err(|error| TrainError::Fit {
                        kind: INTENT,
                        reason: error.to_string(),
                    })?;
                    measured.push((family, figures, model));
                }
                // The better by held-out ROC-AUC; a tie goes to the simpler model.
                let chosen = if measured[1].1.roc_auc > measured[0].1.roc_auc {
                    measured[1].0
                } else {
                    measured[0].0
                };
                let all: Vec<usize> = (0..rows).collect();
                let (model, calibration) = fit_calibrated(chosen, &x, &labels, &all, seed)?;
                let fit_seconds = started.elapsed().as_secs_f64();
                Ok::<_, TrainError>((
                    measured,
                    chosen,
                    model,
                    calibration,
                    test.len(),
                    fit_seconds,
                ))
            })
            .await
            .map_err(|error| fit_error(INTENT, error))??;

        let mut models = serde_json::Map::new();
        for (family, figures, fitted) in &measured {
            let mut value = figures_json(figures);
            if let IntentModel::GradientBoosting(trees) = fitted {
                value["trees"] = trees.trees.len().into();
            }
            models.insert(family.key().to_owned(), value);
        }
        let report = json!({
            "kind": INTENT,
            "built_at": now.to_string(),
            "horizon_days": predict.intent_horizon_days,
            "cutoff": cutoff.to_string(),
            "features": names,
            "rows": rows,
            "positives": positives,
            "held_out_rows": held_out,
            "chosen": chosen.key(),
            "chosen_by": "held-out ROC-AUC",
            "calibration": "platt",
            "models": models,
            "fit_seconds": fit_seconds,
        });
        let payload = IntentPayload {
            features: names,
            horizon_days: predict.intent_horizon_days,
            model,
            calibration,
        };
        let info = self.save(workspace, INTENT, now, &report, &payload).await?;
        self.cache_saved_model(workspace, Some((info.version, Arc::new(payload))), None);
        Ok(TrainReport { info, report })
    }

    async fn save<T: serde::Serialize>(
        &self,
        workspace: WorkspaceId,
        kind: &'static str,
        now: Timestamp,
        report: &serde_json::Value,
        payload: &T,
    ) -> Result<ModelInfo, TrainError> {
        let payload = serde_json::to_vec(payload).map_err(|error| TrainError::Fit {
            kind,
            reason: format!("the model could not be encoded: {error}"),
        })?;
        let model = NewModel {
            kind: kind.to_owned(),
            built_at: now,
            report: report.to_string(),
            payload,
        };
        Ok(self.inner.store.save_model(workspace, &model).await?)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Logistic,
    Boosted,
}

impl Family {
    fn key(self) -> &'static str {
        match self {
            Family::Logistic => "logistic_regression",
            Family::Boosted => "gradient_boosting",
        }
    }
}

/// An order that counts as a purchase: neither cancelled nor fully refunded.
fn is_kept(order: &OrderRecord) -> bool {
    !order.cancelled && order.refunded + 1e-9 < order.total.max(f64::MIN_POSITIVE)
}

fn fit_error(kind: &'static str, error: impl std::fmt::Display) -> TrainError {
    TrainError::Fit {
        kind,
        reason: error.to_string(),
    }
}

fn figures_json(figures: &ClassificationMetrics) -> serde_json::Value {
    json!({
        "roc_auc": figures.roc_auc,
        "pr_auc": figures.pr_auc,
        "brier": figures.brier,
        "f1": figures.f1,
        "log_loss": figures.log_loss,
    })
}

/// The tree ensemble's settings, scaled to the data: leaves need fewer rows on a small shop.
fn boost_params(n_rows: usize, seed: u64) -> BoostParams {
    BoostParams {
        n_trees: 1000,
        learning_rate: 0.05,
        max_depth: 6,
        max_leaves: 15,
        min_samples_leaf: (n_rows / 100).clamp(5, 40),
        col_subsample: 0.8,
        seed,
        validation_fraction: 0.1,
        early_stopping_rounds: 50,
        ..BoostParams::default()
    }
}

fn fit_family(
    family: Family,
    x: &FeatureMatrix,
    labels: &[bool],
    rows: &[usize],
    seed: u64,
) -> Result<IntentModel, TrainError> {
    let fit_x = x.select_rows(rows);
    let fit_labels: Vec<bool> = rows.iter().map(|&r| labels[r]).collect();
    let model = match family {
        Family::Logistic => {
            LogisticRegression::fit(&fit_x, &fit_labels, &LogisticParams::default())
                .map(IntentModel::LogisticRegression)
        }
        Family::Boosted => BoostedTrees::fit(&fit_x, &fit_labels, &boost_params(rows.len(), seed))
            .map(IntentModel::GradientBoosting),
    };
    model.map_err(|error| fit_error(INTENT, format!("{}: {error}", family.key())))
}

/// Fits a family on `rows` and a Platt calibration on out-of-fold predictions of those rows.
fn fit_calibrated(
    family: Family,
    x: &FeatureMatrix,
    labels: &[bool],
    rows: &[usize],
    seed: u64,
) -> Result<(IntentModel, Calibration), TrainError> {
    let model = fit_family(family, x, labels, rows, seed)?;
    let row_labels: Vec<bool> = rows.iter().map(|&r| labels[r]).collect();
    let inner = stratified_folds(&row_labels, N_CALIBRATION_FOLDS, seed ^ 0xCA11);
    let mut out_of_fold = vec![0.0; rows.len()];
    for fold in 0..N_CALIBRATION_FOLDS {
        let fit_rows: Vec<usize> = (0..rows.len())
            .filter(|&i| inner[i] != fold)
            .map(|i| rows[i])
            .collect();
        let fold_model = fit_family(family, x, labels, &fit_rows, seed + 100)?;
        for i in (0..rows.len()).filter(|&i| inner[i] == fold) {
            out_of_fold[i] = fold_model.predict_proba(x.row(rows[i]));
        }
    }
    Ok((model, Calibration::fit_platt(&out_of_fold, &row_labels)))
}
