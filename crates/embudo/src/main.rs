use std::process::ExitCode;

use clap::Parser;

// Event handling allocates and frees many small maps and strings per event (import, ingest,
// processing); mimalloc's thread-local free lists take a third of the reading side's time off
// glibc malloc's (see docs/benchmarks.md). The `override` feature (workspace Cargo.toml) makes
// it the C allocator as well, so SQLite's own allocations (cells, pages, statements: a tenth of
// its writing thread under glibc) use it too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = embudo::cli::Cli::parse();
    if matches!(cli.command, embudo::cli::Command::Import { .. }) {
        embudo::allocator::reexec_with_batch_settings();
    }
    match embudo::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
