//! `embudo train btyd|intent|all`: fit the prediction models on a workspace's own history now
//! and print their reports (the server scores every event with the newest ones).

use std::io::Write;

use anyhow::Context;
use embudo_service::Embudo;
use embudo_service::predict::TrainReport;
use serde_json::Value;

use crate::cli::find_workspace;

/// Options of `embudo train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to train: `btyd` (repeat purchases, P(alive), CLV), `intent` (purchase intent) or
    /// `all`.
    #[arg(value_enum)]
    pub what: What,
    /// The workspace, by name or id.
    #[arg(long, short, default_value = "default")]
    pub workspace: String,
    /// Print one JSON object (the reports by kind) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    Btyd,
    Intent,
    All,
}

/// Trains, prints the reports, and fails if any model could not be trained.
pub async fn run(args: &Args, embudo: &Embudo) -> anyhow::Result<()> {
    let workspace = find_workspace(embudo, &args.workspace).await?;
    let mut results: Vec<(&str, anyhow::Result<TrainReport>)> = Vec::new();
    if matches!(args.what, What::Btyd | What::All) {
        let trained = embudo.train_btyd(workspace).await;
        results.push(("btyd", trained.context("failed to train btyd")));
    }
    if matches!(args.what, What::Intent | What::All) {
        let trained = embudo.train_intent(workspace).await;
        results.push(("intent", trained.context("failed to train intent")));
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = Vec::new();
    if args.json {
        let mut object = serde_json::Map::new();
        for (kind, result) in &results {
            let value = match result {
                Ok(trained) => serde_json::json!({
                    "version": trained.info.version,
                    "built_at": trained.info.built_at.to_string(),
                    "report": trained.report,
                }),
                Err(error) => serde_json::json!({ "error": format!("{error:#}") }),
            };
            object.insert((*kind).to_owned(), value);
        }
        writeln!(out, "{}", Value::Object(object))?;
    } else {
        for (_, result) in &results {
            if let Ok(trained) = result {
                write_report(&mut out, trained)?;
            }
        }
    }
    for (kind, result) in results {
        if let Err(error) = result {
            if !args.json {
                eprintln!("error: {error:#}");
            }
            failed.push(kind);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("not trained: {}", failed.join(", "))
    }
}

fn number(value: &Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "-".to_owned(), |x| format!("{x:.4}"))
}

fn write_report(out: &mut dyn Write, trained: &TrainReport) -> anyhow::Result<()> {
    let report = &trained.report;
    let version = trained.info.version;
    match trained.info.kind.as_str() {
        "btyd" => {
            writeln!(
                out,
                "btyd model v{version}: {} customers ({} repeat), orders {} → {}, fitted in {:.2} s",
                report["customers"],
                report["repeat_customers"],
                report["calibration"]["from"].as_str().unwrap_or("-"),
                report["calibration"]["to"].as_str().unwrap_or("-"),
                report["fit_seconds"].as_f64().unwrap_or(0.0),
            )?;
            let rows: [(&str, &str, &[&str]); 3] = [
                ("BG/NBD", "bgnbd", &["r", "alpha", "a", "b"]),
                ("Pareto/NBD", "pareto_nbd", &["r", "alpha", "s", "beta"]),
                ("Gamma-Gamma", "gamma_gamma", &["p", "q", "gamma"]),
            ];
            for (name, key, params) in rows {
                let fit = &report[key];
                if let Some(error) = fit["error"].as_str() {
                    writeln!(out, "  {name:<12} not fitted: {error}")?;
                    continue;
                }
                let params: Vec<String> = params
                    .iter()
                    .map(|param| format!("{param} = {}", number(&fit[*param])))
                    .collect();
                writeln!(
                    out,
                    "  {name:<12} {}  log-likelihood {}",
                    params.join(", "),
                    number(&fit["log_likelihood"])
                )?;
            }
        }
        "intent" => {
            writeln!(
                out,
                "intent model v{version}: {} people not yet customers at {}, {} ordered within {} days; chosen {} ({})",
                report["rows"],
                report["cutoff"].as_str().unwrap_or("-"),
                report["positives"],
                report["horizon_days"],
                report["chosen"].as_str().unwrap_or("-"),
                report["chosen_by"].as_str().unwrap_or("-"),
            )?;
            writeln!(
                out,
                "  {:<22} {:>8} {:>8} {:>8}   (held out: {} people)",
                "model", "ROC-AUC", "PR-AUC", "Brier", report["held_out_rows"]
            )?;
            if let Some(models) = report["models"].as_object() {
                for (name, figures) in models {
                    writeln!(
                        out,
                        "  {name:<22} {:>8} {:>8} {:>8}",
                        number(&figures["roc_auc"]),
                        number(&figures["pr_auc"]),
                        number(&figures["brier"])
                    )?;
                }
            }
        }
        _ => writeln!(out, "{} model v{version}: {report}", trained.info.kind)?,
    }
    Ok(())
}
