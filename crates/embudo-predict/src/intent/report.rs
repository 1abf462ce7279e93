//! A model report: what was fitted, on what, and how well it did.

use std::fmt;

use crate::metrics::ClassificationMetrics;

/// Which model family a report describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// [`crate::intent::LogisticRegression`].
    LogisticRegression,
    /// [`crate::intent::BoostedTrees`].
    BoostedTrees,
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LogisticRegression => "logistic regression",
            Self::BoostedTrees => "gradient-boosted trees",
        })
    }
}

/// A summary of a fitted model for people and for the model API.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelReport {
    /// The model family.
    pub kind: ModelKind,
    /// Parameters by name, as text.
    pub parameters: Vec<(String, String)>,
    /// Rows the model was trained on.
    pub training_rows: usize,
    /// Share of positive labels among them.
    pub positive_rate: f64,
    /// Held-out figures, when measured.
    pub metrics: Option<ClassificationMetrics>,
}

impl ModelReport {
    /// The report of a fitted logistic regression.
    pub fn logistic(
        model: &crate::intent::LogisticRegression,
        training_rows: usize,
        positive_rate: f64,
    ) -> Self {
        let parameters = vec![
            ("l2".to_owned(), model.params.l2.to_string()),
            ("features".to_owned(), model.weights.len().to_string()),
            ("newton_iterations".to_owned(), model.iterations.to_string()),
        ];
        Self {
            kind: ModelKind::LogisticRegression,
            parameters,
            training_rows,
            positive_rate,
            metrics: None,
        }
    }

    /// The report of a fitted tree ensemble.
    pub fn boosted(
        model: &crate::intent::BoostedTrees,
        training_rows: usize,
        positive_rate: f64,
    ) -> Self {
        let p = &model.params;
        let parameters = vec![
            ("trees".to_owned(), model.trees.len().to_string()),
            ("learning_rate".to_owned(), p.learning_rate.to_string()),
            ("max_depth".to_owned(), p.max_depth.to_string()),
            ("max_leaves".to_owned(), p.max_leaves.to_string()),
            (
                "min_child_weight".to_owned(),
                p.min_child_weight.to_string(),
            ),
            (
                "min_samples_leaf".to_owned(),
                p.min_samples_leaf.to_string(),
            ),
            ("l2".to_owned(), p.l2.to_string()),
            ("row_subsample".to_owned(), p.row_subsample.to_string()),
            ("col_subsample".to_owned(), p.col_subsample.to_string()),
            ("max_bins".to_owned(), p.max_bins.to_string()),
        ];
        Self {
            kind: ModelKind::BoostedTrees,
            parameters,
            training_rows,
            positive_rate,
            metrics: None,
        }
    }
}

impl fmt::Display for ModelReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "model: {}", self.kind)?;
        writeln!(
            f,
            "training rows: {} ({:.1} % positive)",
            self.training_rows,
            100.0 * self.positive_rate
        )?;
        for (name, value) in &self.parameters {
            writeln!(f, "  {name} = {value}")?;
        }
        if let Some(m) = &self.metrics {
            writeln!(
                f,
                "roc_auc {:.4}  pr_auc {:.4}  f1 {:.4}  brier {:.4}  log_loss {:.4}  accuracy {:.4}",
                m.roc_auc, m.pr_auc, m.f1, m.brier, m.log_loss, m.accuracy
            )?;
        }
        Ok(())
    }
}
