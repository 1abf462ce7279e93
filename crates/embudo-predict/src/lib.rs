//! Predictions about people: purchase intent, repeat purchases, customer value and drop-out.
//!
//! Pure numeric models, no IO: plain data in, plain data out. The callers (service layer,
//! evaluation runners) load the data and persist results.

pub mod btyd;
pub mod intent;
pub mod metrics;
