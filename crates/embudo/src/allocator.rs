//! The allocator's settings for batch work.
//!
//! mimalloc returns a freed span of memory to the operating system 10 ms after it became free
//! (its `purge_delay`). An import frees each batch's events, profiles and statements within
//! a few hundred milliseconds of allocating the next batch's, so every batch handed its memory
//! back and faulted it in again, zeroed by the kernel: about a quarter of the import's system
//! time (docs/benchmarks.md, thirteenth session). A batch job that ends soon gains nothing from
//! returning memory early.
//!
//! mimalloc reads its options from the environment once, when the process starts, before
//! `main`; setting one from the program takes an `unsafe` call, which this workspace forbids.
//! So a command that wants other settings runs itself again, at once, with them in its
//! environment ([`reexec_with_batch_settings`]). A setting the user put in the environment is
//! left as it is.

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// mimalloc's purge delay, in milliseconds; negative: never.
const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";

/// The environment a batch command should run with, when it differs from `current`'s: mimalloc
/// keeps freed memory for the process's life.
fn batch_environment(current: Option<&OsStr>) -> Option<(&'static str, &'static str)> {
    current.is_none().then_some((PURGE_DELAY, "-1"))
}

/// Replaces this process with the same command under [`batch_environment`], when that differs
/// from the environment it runs in. Returns only when nothing needs to change or the command
/// could not be run again (then the process goes on with the allocator's defaults, which only
/// makes it slower).
pub fn reexec_with_batch_settings() {
    let Some((name, value)) = batch_environment(std::env::var_os(PURGE_DELAY).as_deref()) else {
        return;
    };
    let Ok(program) = std::env::current_exe() else {
        return;
    };
    // Not a subprocess: `exec` replaces this process (same id, same open files) and returns
    // only on failure, before anything of it has changed.
    #[allow(clippy::disallowed_methods)]
    let _failed = Command::new(program)
        .args(std::env::args_os().skip(1))
        .env(name, value)
        .exec();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_command_keeps_freed_memory_unless_the_user_said_otherwise() {
        assert_eq!(
            batch_environment(None),
            Some(("MIMALLOC_PURGE_DELAY", "-1"))
        );
        assert_eq!(batch_environment(Some(OsStr::new("250"))), None);
        assert_eq!(batch_environment(Some(OsStr::new(""))), None);
    }
}
