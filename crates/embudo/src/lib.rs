//! The `embudo` binary's library half: command line, settings, telemetry and the composition
//! root (which store, which server, which background tasks). It exists so that black-box tests
//! drive the same code paths as `main`.

pub mod allocator;
pub mod bench;
pub mod classify;
pub mod cli;
pub mod config_cmd;
pub mod import;
pub mod jobs;
pub mod questions;
pub mod recommend;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod train;
