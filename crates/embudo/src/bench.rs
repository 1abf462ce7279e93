//! `embudo bench`: speed measured on this machine, end to end.
//!
//! `bench ingest` starts the real server in this process on a free port, over a fresh store, and
//! sends Segment batches over HTTP from concurrent clients for a fixed time. Only messages
//! answered `{"success": true}` count, and an answer means the events are committed (SQLite
//! `synchronous = FULL`), so the figure is durable events per second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::settings::{Settings, StoreUrl};
use crate::startup::Application;

/// The `embudo bench` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Sustained ingest over HTTP in Segment batches.
    Ingest(IngestArgs),
    /// Building the recommendation models from the UCI Online Retail file.
    Recommend(crate::recommend::BenchArgs),
}

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// The store to fill: a fresh SQLite file by default; a postgres:// URL uses that database
    /// (its tables must be empty or disposable).
    #[arg(long)]
    pub store: Option<String>,
    /// Messages per batch.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// How long to send, per run.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Runs; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Also run the profile processor while ingesting (as `serve` does).
    #[arg(long)]
    pub with_processing: bool,
}

pub async fn run(command: &BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ingest(args) => ingest(args).await,
        BenchCommand::Recommend(args) => crate::recommend::bench(args),
    }
}

async fn ingest(args: &IngestArgs) -> anyhow::Result<()> {
    let mut rates = Vec::new();
    for run in 0..args.runs {
        let dir = tempfile_dir()?;
        let url = match &args.store {
            Some(url) => url.clone(),
            None => format!("sqlite://{}/bench-{run}.db", dir.display()),
        };
        let rate = ingest_once(args, &url, run).await?;
        println!(
            "run {}: {:.0} events/s acknowledged (durable)",
            run + 1,
            rate
        );
        rates.push(rate);
        let _ = std::fs::remove_dir_all(&dir);
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    println!(
        "median of {} runs: {:.0} events/s ({} clients, {}-message batches, {} s each, processing {})",
        rates.len(),
        median,
        args.clients,
        args.batch,
        args.seconds,
        if args.with_processing { "on" } else { "off" }
    );
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("embudo-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    Ok(dir)
}

async fn ingest_once(args: &IngestArgs, url: &str, run: usize) -> anyhow::Result<f64> {
    let settings = Settings {
        listen: "127.0.0.1:0".parse()?,
        store: StoreUrl::parse(url)?,
        rate_limit_per_second: None,
        json_logs: false,
        reevaluate_every: None,
        rebuild_models_every: None,
    };
    let application = Application::build(&settings).await?;
    let address = application.local_addr()?;
    let created = application
        .embudo()
        .create_workspace(&format!("bench-{run}-{}", std::process::id()))
        .await?;
    let shutdown = CancellationToken::new();
    let server =
        tokio::spawn(application.run_until_stopped_with(shutdown.clone(), args.with_processing));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut clients = Vec::new();
    for client in 0..args.clients {
        let http = reqwest::Client::new();
        let endpoint = format!("http://{address}/v1/batch");
        let key = created.write_key.clone();
        let acknowledged = Arc::clone(&acknowledged);
        let batch_size = args.batch;
        clients.push(tokio::spawn(async move {
            let mut batch_no = 0u64;
            while Instant::now() < deadline {
                let body = batch_body(run, client, batch_no, batch_size);
                batch_no += 1;
                let response = http
                    .post(&endpoint)
                    .basic_auth(&key, Some(""))
                    .body(body)
                    .send()
                    .await?;
                if response.status().is_success() {
                    acknowledged.fetch_add(batch_size as u64, Ordering::Relaxed);
                } else {
                    anyhow::bail!("the server answered {}", response.status());
                }
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for client in clients {
        client.await.context("a client panicked")??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    shutdown.cancel();
    server.await.context("the server panicked")??;
    Ok(acknowledged.load(Ordering::Relaxed) as f64 / elapsed)
}

/// A batch of realistic shop events (page views, product views, carts, orders) with unique ids.
fn batch_body(run: usize, client: usize, batch_no: u64, size: usize) -> String {
    let mut body = String::with_capacity(size * 300);
    body.push_str(r#"{"batch":["#);
    for i in 0..size {
        if i > 0 {
            body.push(',');
        }
        let user = (batch_no as usize * 7 + i) % 5_000;
        let product = (i * 31 + batch_no as usize) % 800;
        let id = format!("r{run}-c{client}-b{batch_no}-m{i}");
        let message = match i % 10 {
            0..=3 => format!(
                r#"{{"type":"page","messageId":"{id}","anonymousId":"a{client}-{user}","properties":{{"path":"/producto/{product}","title":"Zapatilla {product}"}}}}"#
            ),
            4..=7 => format!(
                r#"{{"type":"track","event":"Product Viewed","messageId":"{id}","anonymousId":"a{client}-{user}","properties":{{"product_id":"p{product}","category":"zapatillas","brand":"marca{}","price":59.9}}}}"#,
                product % 12
            ),
            8 => format!(
                r#"{{"type":"track","event":"Product Added","messageId":"{id}","anonymousId":"a{client}-{user}","properties":{{"product_id":"p{product}","price":59.9,"quantity":1}}}}"#
            ),
            _ => format!(
                r#"{{"type":"track","event":"Order Completed","messageId":"{id}","userId":"u{client}-{user}","properties":{{"order_id":"{id}","total":59.9,"currency":"EUR","products":[{{"product_id":"p{product}","price":59.9,"quantity":1}}]}}}}"#
            ),
        };
        body.push_str(&message);
    }
    body.push_str("]}");
    body
}
