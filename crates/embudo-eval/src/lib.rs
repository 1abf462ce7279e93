//! Evaluations on real public datasets: `embudo eval …`.
//!
//! Each module reads one dataset from a path given on the command line, runs the pure models
//! on it and prints a human-readable table, or one JSON object with `--json`.

use std::io::Write;

pub mod btyd;
pub mod intent;
pub mod online_retail;
pub mod online_shoppers;
pub mod phases;
pub mod questions;
pub mod recommend;

/// The `embudo eval` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// BG/NBD, Pareto/NBD and Gamma-Gamma on the CDNOW cohort (calibration / holdout).
    Btyd(btyd::Args),
    /// Purchase intent on the online shoppers sessions (stratified 5-fold cross-validation).
    Intent(intent::Args),
    /// Purchase phases on real sessions and events: do the phases mean something?
    Phases(phases::Args),
    /// Adaptive survey questions against fixed and random order.
    Questions(questions::Args),
    /// Cross-sell recommendations on the UCI Online Retail invoices.
    Recommend(recommend::Args),
}

/// Runs one evaluation, writing its report to `out`.
pub fn run(command: &EvalCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        EvalCommand::Btyd(args) => btyd::run(args, out),
        EvalCommand::Intent(args) => intent::run(args, out),
        EvalCommand::Phases(args) => phases::run(args, out),
        EvalCommand::Questions(args) => questions::run(args, out),
        EvalCommand::Recommend(args) => recommend::run(args, out),
    }
}
