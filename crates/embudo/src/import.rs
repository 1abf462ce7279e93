//! `embudo import`: files into the event log, with a progress bar and a summary.
//!
//! The conversion and the pipeline live in `embudo-import`; this half parses the flags, draws
//! the progress bar (on stderr, hidden when it is not a terminal), writes rejected rows to a
//! file, prints the summary and then processes the log into profiles (unless `--no-process`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use embudo_import::{Format, ImportOptions, Mode, OrderField, Progress, Summary};
use embudo_service::Embudo;
use embudo_store::WorkspaceId;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Options of `embudo import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to import (`.gz` is decompressed).
    pub file: PathBuf,
    /// segment, orders-csv, online-retail, shopify or rees46 (default: detected from the header).
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
    /// Column mapping for order CSV files, as field=Column (repeatable). Fields: order_id,
    /// customer_id, email, placed_at, product_id, sku, name, category, quantity, unit_price,
    /// currency, refunded, cancelled_at, total, country, financial_status.
    #[arg(long = "map", value_name = "FIELD=COLUMN", value_parser = parse_map)]
    pub map: Vec<(OrderField, String)>,
    /// strftime format of the date columns of order CSV files (e.g. "%d/%m/%Y %H:%M").
    #[arg(long)]
    pub date_format: Option<String>,
    /// Where rejected rows go, one JSON object per row (default: rejected-<file name>.jsonl in
    /// the working directory).
    #[arg(long)]
    pub rejected: Option<PathBuf>,
    /// Events per append. Each batch is also one profile-processing step (a person seen many
    /// times in a batch is loaded and written once); a batch takes about 1 KB of memory per
    /// event, and a few are in flight (about 750 MB in all at the default).
    #[arg(long, default_value_t = 50_000)]
    pub batch_size: usize,
    /// Log events per profile-processing step when the log has to be read back: events that
    /// were waiting in the log, or a batch of events stored already.
    #[arg(long, default_value_t = 25_000)]
    pub process_batch: usize,
    /// Store the events but do not process the log into profiles afterwards.
    #[arg(long)]
    pub no_process: bool,
    /// Read and convert only: store nothing (measures the reading side).
    #[arg(long)]
    pub dry_run: bool,
}

fn parse_format(text: &str) -> Result<Format, String> {
    text.parse::<Format>().map_err(|err| err.to_string())
}

fn parse_map(text: &str) -> Result<(OrderField, String), String> {
    OrderField::parse_mapping(text).map_err(|err| err.to_string())
}

/// Runs an import into `workspace`.
pub async fn run(args: &Args, embudo: &Embudo, workspace: WorkspaceId) -> anyhow::Result<()> {
    let file_size = std::fs::metadata(&args.file)
        .with_context(|| format!("failed to open {}", args.file.display()))?
        .len();
    let rejected_path = match &args.rejected {
        Some(path) => path.clone(),
        None => default_rejected_path(&args.file),
    };
    let rejected_file = File::create(&rejected_path)
        .with_context(|| format!("failed to create {}", rejected_path.display()))?;
    let mut rejected = BufWriter::new(rejected_file);
    let options = ImportOptions {
        format: args.format,
        columns: args.map.clone(),
        date_format: args.date_format.clone(),
        batch_size: args.batch_size.max(1),
        received_at: embudo.now(),
    };
    let progress = Arc::new(Progress::default());
    let bar = progress_bar(file_size);
    let ticker = {
        let bar = bar.clone();
        let progress = Arc::clone(&progress);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(100));
            loop {
                interval.tick().await;
                bar.set_position(progress.bytes.load(Ordering::Relaxed));
                bar.set_message(format!(
                    "{} rows, {} events stored",
                    thousands(progress.rows.load(Ordering::Relaxed)),
                    thousands(progress.events.load(Ordering::Relaxed)),
                ));
            }
        })
    };
    let mode = if args.dry_run {
        Mode::DryRun
    } else if args.no_process {
        Mode::Store
    } else {
        Mode::StoreAndProcess {
            step: args.process_batch.max(1),
        }
    };
    let result = embudo_import::import(
        embudo,
        workspace,
        &args.file,
        &options,
        Arc::clone(&progress),
        &mut rejected,
        mode,
    )
    .await;
    ticker.abort();
    // The ticker was aborted: its end is expected, not an error worth reporting.
    let _ = ticker.await;
    bar.finish_and_clear();
    let summary = result.with_context(|| format!("failed to import {}", args.file.display()))?;
    rejected
        .flush()
        .with_context(|| format!("failed to write {}", rejected_path.display()))?;
    drop(rejected);
    if summary.n_rejected() == 0 {
        // No rejected rows: leave no empty file behind.
        std::fs::remove_file(&rejected_path)
            .with_context(|| format!("failed to remove {}", rejected_path.display()))?;
    }
    print_summary(&args.file, &summary, &rejected_path, mode);
    if mode == Mode::DryRun || mode == Mode::Store {
        return Ok(());
    }
    // Events the import did not process itself: an earlier `--no-process` import's, or others
    // appended meanwhile.
    let started = Instant::now();
    let rest = embudo
        .process_all_in(args.process_batch.max(1))
        .await
        .context("failed to process the log into profiles")?;
    let outcome = summary.processed.plus(rest);
    println!(
        "profiles: {} events processed ({} during the import, {} after it in {:.2} s); {} profiles touched, {} created, {} merges, {} identity conflicts, {} unreadable orders",
        thousands(outcome.events as u64),
        thousands(summary.processed.events as u64),
        thousands(rest.events as u64),
        started.elapsed().as_secs_f64(),
        thousands(outcome.profiles_touched as u64),
        thousands(outcome.profiles_created as u64),
        outcome.merges,
        outcome.conflicts,
        outcome.bad_orders,
    );
    Ok(())
}

fn default_rejected_path(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".to_owned());
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    PathBuf::from(format!("rejected-{name}.jsonl"))
}

fn progress_bar(file_size: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(file_size), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

fn print_summary(file: &Path, summary: &Summary, rejected_path: &Path, mode: Mode) {
    let format = summary.format.map_or("?", Format::as_str);
    println!(
        "{} ({format}): {} rows read, {} bytes, in {:.2} s{}",
        file.display(),
        thousands(summary.rows),
        thousands(summary.bytes),
        summary.total_time.as_secs_f64(),
        if mode == Mode::DryRun {
            " (dry run: nothing stored)"
        } else {
            ""
        },
    );
    println!("  events:          {}", thousands(summary.events));
    println!("  stored:          {}", thousands(summary.stored));
    println!("  already stored:  {}", thousands(summary.duplicates));
    println!("  skipped rows:    {}", thousands(summary.n_skipped()));
    for (reason, count) in &summary.skipped {
        println!("    {:>10}  {reason}", thousands(*count));
    }
    if summary.n_rejected() == 0 {
        println!("  rejected rows:   0");
    } else {
        println!(
            "  rejected rows:   {} (written to {})",
            thousands(summary.n_rejected()),
            rejected_path.display()
        );
        for (reason, count) in &summary.rejected {
            println!("    {:>10}  {reason}", thousands(*count));
        }
    }
    let storing = match mode {
        Mode::StoreAndProcess { .. } => "appending and processing",
        Mode::Store | Mode::DryRun => "appending",
    };
    println!(
        "  time: reading and converting {:.2} s, {storing} {:.2} s, total {:.2} s ({:.0} events/s)",
        summary.parse_time.as_secs_f64(),
        summary.append_time.as_secs_f64(),
        summary.total_time.as_secs_f64(),
        summary.events as f64 / summary.total_time.as_secs_f64().max(1e-9),
    );
}

/// `1234567` as `1,234,567`.
fn thousands(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
