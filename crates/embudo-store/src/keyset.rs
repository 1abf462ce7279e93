//! Keyset pagination for profile listings: the opaque cursor and the sort values behind it.
//!
//! A cursor names the sort field and direction it was made for, the last item's sort value and
//! its id; the next page starts strictly after `(value, id)` in the listing's order. Missing
//! scores sort as [`MISSING_SCORE`] (below every real score); adapters use the same constant in
//! SQL (`COALESCE(column, -1e300)`).

use crate::error::StoreError;
use crate::model::{Direction, PageCursor, ProfileRecord, SortField};

/// The value a missing score sorts as.
pub const MISSING_SCORE: f64 = -1e300;

/// The same, as SQL text.
pub const MISSING_SCORE_SQL: &str = "-1e300";

/// A position in a listing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SortValue {
    /// `last_seen` in milliseconds.
    Millis(i64),
    /// A score, [`MISSING_SCORE`] when absent.
    Score(f64),
}

/// The SQL column a field sorts by (missing scores coalesced).
pub fn sort_expression(field: SortField) -> String {
    match field {
        SortField::LastSeen => "last_seen".to_owned(),
        SortField::Intent => format!("COALESCE(intent, {MISSING_SCORE_SQL})"),
        SortField::PAlive => format!("COALESCE(p_alive, {MISSING_SCORE_SQL})"),
        SortField::Clv => format!("COALESCE(clv, {MISSING_SCORE_SQL})"),
    }
}

/// A record's sort value for `field`.
pub fn sort_value(record: &ProfileRecord, field: SortField) -> SortValue {
    let score = |score: Option<f64>| SortValue::Score(score.unwrap_or(MISSING_SCORE));
    match field {
        SortField::LastSeen => SortValue::Millis(record.last_seen.as_millis()),
        SortField::Intent => score(record.summary.intent),
        SortField::PAlive => score(record.summary.p_alive),
        SortField::Clv => score(record.summary.clv),
    }
}

fn field_code(field: SortField) -> &'static str {
    match field {
        SortField::LastSeen => "ls",
        SortField::Intent => "in",
        SortField::PAlive => "pa",
        SortField::Clv => "cl",
    }
}

fn direction_code(direction: Direction) -> &'static str {
    match direction {
        Direction::Asc => "a",
        Direction::Desc => "d",
    }
}

/// The cursor after `record`.
pub fn encode(field: SortField, direction: Direction, record: &ProfileRecord) -> PageCursor {
    let value = match sort_value(record, field) {
        SortValue::Millis(millis) => millis.to_string(),
        // Bits, so that the value round-trips exactly.
        SortValue::Score(score) => format!("{:x}", score.to_bits()),
    };
    PageCursor(format!(
        "{}.{}.{}.{}",
        field_code(field),
        direction_code(direction),
        value,
        record.id.0
    ))
}

/// Reads a cursor made by [`encode`] for the same field and direction.
pub fn decode(
    cursor: &PageCursor,
    field: SortField,
    direction: Direction,
) -> Result<(SortValue, i64), StoreError> {
    let invalid = || StoreError::Invalid("the page cursor is not valid for this listing".into());
    let mut parts = cursor.0.split('.');
    let (Some(f), Some(d), Some(value), Some(id), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(invalid());
    };
    if f != field_code(field) || d != direction_code(direction) {
        return Err(invalid());
    }
    let id: i64 = id.parse().map_err(|_| invalid())?;
    let value = match field {
        SortField::LastSeen => SortValue::Millis(value.parse().map_err(|_| invalid())?),
        _ => SortValue::Score(f64::from_bits(
            u64::from_str_radix(value, 16).map_err(|_| invalid())?,
        )),
    };
    Ok((value, id))
}
