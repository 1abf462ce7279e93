//! The pure domain core of embudo.
//!
//! Plain data in, plain data out: the event model, page categories, orders, profile aggregates,
//! identity-resolution decisions and (in later modules) the phase engine. Nothing here does IO,
//! reads the clock or the environment: callers pass `now` in.

pub mod event;
pub mod identity;
pub mod order;
pub mod page;
pub mod phase;
pub mod profile;
pub mod time;
pub mod value;

pub use event::{Event, EventKind};
pub use time::Timestamp;
pub use value::{Map, Text, Value};
