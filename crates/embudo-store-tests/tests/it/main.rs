//! The storage conformance story: every test runs against every backend (SQLite always,
//! PostgreSQL when `EMBUDO_TEST_PG_URL` is set), each in a fresh database.

mod isolation;
mod log;
mod models;
mod processing;
mod reads;
mod support;
