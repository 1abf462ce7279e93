//! `embudo config`: check a config file, or print the example.
//!
//! `check` runs the very reading that every other command runs ([`settings::read_file`]), plus
//! the validation of the `[server]` values as written, so "ok" means `serve` would start with
//! this file.

use std::path::{Path, PathBuf};

use embudo_core::page::{PageRules, PathRule};
use embudo_core::phase::{PhaseModel, Signal};

use crate::settings::{self, ConfigFile, Settings};

/// The `embudo config` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Check a config file (default: the one in effect, `--config` or `embudo.toml`): prints
    /// `ok: FILE` and a summary, or the error with its file and line.
    Check {
        /// The file to check.
        file: Option<PathBuf>,
    },
    /// Print the example configuration, which is exactly the built-in defaults.
    Default,
}

/// Runs a `config` subcommand; `config_in_effect` is the `--config` flag (or `EMBUDO_CONFIG`).
pub fn run(command: &ConfigCommand, config_in_effect: Option<&Path>) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Check { file } => {
            let file = settings::read_file(file.as_deref().or(config_in_effect))?;
            let Some(path) = &file.path else {
                anyhow::bail!(
                    "no config file to check: pass FILE or --config, or create embudo.toml (`embudo config default > embudo.toml`)"
                );
            };
            // The `[server]` values as written (env and flags are not the file's business).
            let server = Settings::resolve(&file.server, None, None)
                .map_err(|err| err.context(format!("{}: [server]", path.display())))?;
            println!("ok: {}", path.display());
            println!("{}", summary(&file, &server));
            Ok(())
        }
        ConfigCommand::Default => {
            print!("{}", embudo_config::EXAMPLE);
            Ok(())
        }
    }
}

/// One line: what the file changes from the defaults, what it holds.
fn summary(file: &ConfigFile, server: &Settings) -> String {
    let engine = &file.engine;
    let defaults = PhaseModel::default();
    let changed: Vec<&str> = Signal::DECAYED
        .into_iter()
        .filter(|signal| engine.phases.signals[signal.index()] != defaults.signals[signal.index()])
        .map(Signal::key)
        .collect();
    let mut other_changes = Vec::new();
    for (name, differs) in [
        ("prior", engine.phases.prior != defaults.prior),
        (
            "answers_weight",
            engine.phases.answers_weight != defaults.answers_weight,
        ),
        ("focus", engine.phases.focus != defaults.focus),
        ("customer", engine.phases.customer != defaults.customer),
        ("stage", engine.phases.stage != defaults.stage),
    ] {
        if differs {
            other_changes.push(name);
        }
    }
    let phases = match (changed.is_empty(), other_changes.is_empty()) {
        (true, true) => "phases: the defaults".to_owned(),
        _ => {
            let mut parts = Vec::new();
            if !changed.is_empty() {
                parts.push(format!(
                    "{} of {} signals changed ({})",
                    changed.len(),
                    Signal::DECAYED.len(),
                    changed.join(", ")
                ));
            }
            if !other_changes.is_empty() {
                parts.push(format!("{} changed", other_changes.join(", ")));
            }
            format!("phases: {}", parts.join(", "))
        }
    };
    let names: Vec<&str> = engine
        .audiences
        .list
        .iter()
        .map(|audience| audience.name.as_str())
        .collect();
    let audiences = format!("audiences: {} ({})", names.len(), names.join(", "));
    let pages = pages_summary(engine.pages.rules());
    let mut line = format!("{phases}; {audiences}; {pages}");
    let raw = &file.server;
    if raw.listen.is_some()
        || raw.database_url.is_some()
        || raw.rate_limit_per_second.is_some()
        || raw.json_logs.is_some()
    {
        line.push_str(&format!(
            "; server: listen {}, database {}",
            server.listen,
            match &server.store {
                settings::StoreUrl::Sqlite(url) | settings::StoreUrl::Postgres(url) =>
                    settings::redact(url),
            }
        ));
    }
    line
}

/// The shop's own rules and whether the built-in ones still follow them.
fn pages_summary(rules: &[PathRule]) -> String {
    let defaults = PageRules::default();
    let built_in = defaults.rules();
    let rule_s = |n: usize| if n == 1 { "rule" } else { "rules" };
    match rules.strip_suffix(built_in) {
        Some([]) => "pages: the built-in path rules".to_owned(),
        Some(own) => format!(
            "pages: {} own path {} before the {} built-in ones",
            own.len(),
            rule_s(own.len()),
            built_in.len()
        ),
        None => format!(
            "pages: {} own path {} (built-in ones replaced)",
            rules.len(),
            rule_s(rules.len())
        ),
    }
}
