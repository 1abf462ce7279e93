//! Phase III intelligence: cross-sell recommendations, product seasons and reorder timing.
//!
//! Pure: order lines in, models and recommendations out.
//! The caller interns its string ids into dense indices ([`Interner`]), builds [`Purchases`]
//! from [`OrderLine`]s, and then builds each model as a pure function of them:
//!
//! - [`CoPurchase`]: customer-level co-purchase counts with support, confidence and lift per
//!   pair, updatable incrementally ([`CoPurchase::add_lines`]);
//! - [`Recommender`]: item-to-item cross-sell (asymmetric cosine with user-length damping,
//!   recency-weighted customer histories and a blend with recent popularity), with category
//!   rules, exclusions and an [`Explanation`] for every recommendation;
//! - [`Seasons`]: month-of-year and ISO-week-of-year demand indices per product and category,
//!   shrunk toward the category and the shop;
//! - [`ReorderModel`]: typical repeat-purchase intervals per product and expected next order
//!   dates per person.
//!
//! The built models encode to a compact binary payload ([`Writer`], [`Reader`]) for storage.
//!
//! Nothing here does IO or reads the clock: `now` is always passed in.
//! Timestamps are [`Timestamp`]s: seconds since 1970-01-01 00:00 in the shop's local time.

mod calendar;
mod codec;
mod copurchase;
mod data;
mod explain;
mod recommender;
mod reorder;
mod season;
#[cfg(test)]
mod test_support;

pub use calendar::{CivilDate, DAY, civil_date, days_in_month, iso_week, timestamp_of};
pub use codec::{DecodeError, Reader, Writer};
pub use copurchase::{Association, CoPurchase, PairStats};
pub use data::{
    Catalogue, CategoryIdx, CustomerIdx, CustomerProduct, DataError, Interner, OrderIdx, OrderLine,
    Product, ProductIdx, Purchases, Timestamp,
};
pub use explain::{Explanation, Language};
pub use recommender::{
    CategoryRule, RecommendError, RecommendParams, RecommendRequest, Recommendation, Recommender,
    ReorderPolicy,
};
pub use reorder::{NextOrder, ProductInterval, ReorderModel, ReorderParams};
pub use season::{SeasonParams, SeasonProfile, Seasons, UpcomingPeak};
