//! Command-line interface.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use embudo_service::{Embudo, ServiceSettings, SystemClock};
use embudo_store::WorkspaceId;
use tokio_util::sync::CancellationToken;

use crate::settings::{self, Settings};
use crate::startup::{self, Application};

/// embudo: a customer-funnel engine for online shops.
#[derive(Debug, Parser)]
#[command(name = "embudo", version, about)]
pub struct Cli {
    /// Config file (default: `embudo.toml` in the working directory, if present).
    #[arg(long, global = true, env = "EMBUDO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the data lives: sqlite://FILE (default sqlite://embudo.db) or postgres://….
    #[arg(long, global = true, env = "EMBUDO_DATABASE_URL")]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: tracking API, management API, dashboard, background processing.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, env = "EMBUDO_LISTEN")]
        listen: Option<String>,
    },
    /// Manage workspaces (one per shop).
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Import events or orders from a file into a workspace.
    Import {
        /// The workspace, by name or id.
        #[arg(long, short)]
        workspace: String,
        #[command(flatten)]
        args: crate::import::Args,
    },
    /// Process the event log into profiles now (the server does this continuously).
    Process,
    /// Classify one profile now: P(I), P(II), P(III), phase, sub-state, stage, evidence.
    Classify(crate::classify::Args),
    /// Check the config file, or print the example (the built-in defaults).
    #[command(subcommand)]
    Config(crate::config_cmd::ConfigCommand),
    /// Evaluate the models on real public datasets.
    #[command(subcommand)]
    Eval(embudo_eval::EvalCommand),
    /// Measure speed on this machine.
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
    /// Survey questions: their figures, and learning their likelihoods.
    #[command(subcommand)]
    Questions(crate::questions::QuestionsCommand),
    /// Train the prediction models on a workspace's history and print their reports.
    Train(crate::train::Args),
    /// Cross-sell, seasons and reorder timing: build the models, read recommendations.
    #[command(subcommand)]
    Recommend(crate::recommend::RecommendCommand),
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace; prints its id, write key and admin token (shown only once).
    Create {
        name: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List workspaces.
    List,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Eval(command) = &cli.command {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        return embudo_eval::run(command, &mut out);
    }
    if let Command::Config(command) = &cli.command {
        // No store and no runtime: `config default` works even where the file in effect is
        // broken, and `config check FILE` checks FILE, not the file in effect.
        return crate::config_cmd::run(command, cli.config.as_deref());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let result = runtime.block_on(run_async(cli));
    // A model fit still running on a blocking thread (shutdown stopped waiting for it) must not
    // keep the process alive: it saves nothing until it finishes.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    result
}

/// How long the end of a command waits for blocking work left behind.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

async fn run_async(cli: Cli) -> anyhow::Result<()> {
    let file = settings::read_file(cli.config.as_deref())?;
    let listen = match &cli.command {
        Command::Serve { listen } => listen.as_deref(),
        _ => None,
    };
    let settings = Settings::resolve(&file.server, listen, cli.database_url.as_deref())?;
    crate::telemetry::init(settings.json_logs);
    if let Some(path) = &file.path {
        tracing::info!(path = %path.display(), "config file read");
    }
    let service_settings = file.service_settings();
    match cli.command {
        Command::Serve { .. } => serve(&settings, service_settings).await,
        Command::Workspace(command) => {
            let embudo = service(&settings, service_settings).await?;
            workspace(&embudo, command).await
        }
        Command::Import { workspace, args } => {
            // Opened for a bulk load: the import syncs the store before it reports
            // (`embudo_import::import`), and closing the store returns an SQLite file to WAL.
            let embudo =
                service_with(&settings, service_settings, startup::StoreUse::BulkLoad).await?;
            let imported = match find_workspace(&embudo, &workspace).await {
                Ok(workspace) => crate::import::run(&args, &embudo, workspace).await,
                Err(error) => Err(error),
            };
            embudo.store().close().await;
            imported
        }
        Command::Process => {
            let embudo = service(&settings, service_settings).await?;
            let outcome = embudo
                .process_all()
                .await
                .context("failed to process the log")?;
            println!(
                "processed {} events: {} profiles touched, {} created, {} merges, {} identity conflicts",
                outcome.events,
                outcome.profiles_touched,
                outcome.profiles_created,
                outcome.merges,
                outcome.conflicts
            );
            Ok(())
        }
        Command::Classify(args) => {
            let embudo = service(&settings, service_settings).await?;
            crate::classify::run(&args, &embudo).await
        }
        // Handled in `run`, before the runtime.
        Command::Eval(_) | Command::Config(_) => Ok(()),
        Command::Bench(command) => crate::bench::run(&command).await,
        Command::Questions(command) => {
            let embudo = service(&settings, service_settings).await?;
            crate::questions::run(&command, &embudo).await
        }
        Command::Train(args) => {
            let embudo = service(&settings, service_settings).await?;
            crate::train::run(&args, &embudo).await
        }
        Command::Recommend(command) => {
            let embudo = service(&settings, service_settings).await?;
            crate::recommend::run(&command, &embudo).await
        }
    }
}

/// The service over the store `settings` names, with the config file's engine settings.
async fn service(settings: &Settings, service_settings: ServiceSettings) -> anyhow::Result<Embudo> {
    service_with(settings, service_settings, startup::StoreUse::Serving).await
}

async fn service_with(
    settings: &Settings,
    service_settings: ServiceSettings,
    usage: startup::StoreUse,
) -> anyhow::Result<Embudo> {
    let store = startup::open_store_for(&settings.store, usage).await?;
    Ok(Embudo::new(store, Arc::new(SystemClock), service_settings))
}

async fn serve(settings: &Settings, service_settings: ServiceSettings) -> anyhow::Result<()> {
    let application = Application::build_with(settings, service_settings).await?;
    let embudo = application.embudo().clone();
    if embudo
        .store()
        .workspaces()
        .await
        .context("failed to list workspaces")?
        .is_empty()
    {
        let created = embudo
            .create_workspace("default")
            .await
            .context("failed to create the default workspace")?;
        println!(
            "First start: created workspace \"default\" (id {}).",
            created.workspace.id
        );
        println!(
            "  write key   (tracking API, browser tracker): {}",
            created.write_key
        );
        println!(
            "  admin token (management API, dashboard):     {}",
            created.admin_token
        );
        println!("  Keep them: they are shown only once (stored as hashes).");
    }
    let address = application.local_addr()?;
    println!(
        "embudo listening on http://{address}  (store: {:?})",
        settings.store
    );
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        startup::shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        signal.cancel();
    });
    application.run_until_stopped(shutdown).await
}

async fn workspace(embudo: &Embudo, command: WorkspaceCommand) -> anyhow::Result<()> {
    match command {
        WorkspaceCommand::Create { name, json } => {
            let created = embudo
                .create_workspace(&name)
                .await
                .with_context(|| format!("failed to create workspace {name:?}"))?;
            if json {
                let value = serde_json::json!({
                    "workspace_id": created.workspace.id.0,
                    "name": created.workspace.name,
                    "write_key": created.write_key,
                    "admin_token": created.admin_token,
                });
                println!("{value}");
            } else {
                println!("workspace id: {}", created.workspace.id);
                println!("write key:    {}", created.write_key);
                println!("admin token:  {}", created.admin_token);
            }
            Ok(())
        }
        WorkspaceCommand::List => {
            for found in embudo
                .store()
                .workspaces()
                .await
                .context("failed to list workspaces")?
            {
                println!("{}\t{}\t{}", found.id, found.name, found.created_at);
            }
            Ok(())
        }
    }
}

/// A workspace by id or name.
pub async fn find_workspace(embudo: &Embudo, name_or_id: &str) -> anyhow::Result<WorkspaceId> {
    let workspaces = embudo
        .store()
        .workspaces()
        .await
        .context("failed to list workspaces")?;
    workspaces
        .iter()
        .find(|found| found.name == name_or_id || found.id.0.to_string() == name_or_id)
        .map(|found| found.id)
        .with_context(|| {
            format!(
                "no workspace named {name_or_id:?} (create one with `embudo workspace create NAME`)"
            )
        })
}
