use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = embudo::cli::Cli::parse();
    match embudo::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
