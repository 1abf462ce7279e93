//! Black-box tests of the `embudo` binary: real processes, real HTTP.

mod support;

mod classify;
mod cli;
mod config;
mod durability;
