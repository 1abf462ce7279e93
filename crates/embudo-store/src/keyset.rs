//! Keyset pagination for profile listings: the opaque cursor and the sort values behind it.
//!
//! A cursor names the sort field and direction it was made for, the last item's sort value and
//! its id; the next page starts strictly after `(value, id)` in the listing's order. Missing
//! scores sort as [`MISSING_SCORE`] (below every real score). [`page`] runs the queries of a
//! page, the same for both adapters but for their placeholders.

use crate::error::{StoreError, StoreResult};
use crate::model::{Direction, Page, PageCursor, ProfileFilter, ProfileRecord, SortField};

/// The value a missing score sorts as.
pub const MISSING_SCORE: f64 = -1e300;

/// A position in a listing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SortValue {
    /// `last_seen` in milliseconds.
    Millis(i64),
    /// A score, [`MISSING_SCORE`] when absent.
    Score(f64),
}

/// The score column a field sorts by, or `None` for `last_seen`.
///
/// A score's sort index holds only the profiles that have the score (most have none until a
/// model scores them: every profile an import creates), so a listing by a score reads two
/// segments, each in its own index order: the scored profiles by score then id, and the
/// unscored ones by id. A missing score sorts below every score ([`score_segments`]).
fn score_column(field: SortField) -> Option<&'static str> {
    match field {
        SortField::LastSeen => None,
        SortField::Intent => Some("intent"),
        SortField::PAlive => Some("p_alive"),
        SortField::Clv => Some("clv"),
    }
}

/// One segment of a listing by a score.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ScoreSegment {
    /// The scored profiles, strictly after `(score, id)` in the listing's direction when given.
    Scored(Option<(f64, i64)>),
    /// The unscored profiles, strictly after `id` in the listing's direction when given.
    Unscored(Option<i64>),
}

/// The segments a listing by a score reads, in order, from the position of its cursor
/// (`after`, as [`decode`] reads it). Descending: the scored profiles, then the unscored ones;
/// ascending: the other way round.
fn score_segments(direction: Direction, after: Option<(SortValue, i64)>) -> Vec<ScoreSegment> {
    use ScoreSegment::{Scored, Unscored};
    let after = after.map(|(value, id)| match value {
        SortValue::Score(score) if score != MISSING_SCORE => (Some(score), id),
        _ => (None, id),
    });
    match (direction, after) {
        (Direction::Desc, None) => vec![Scored(None), Unscored(None)],
        (Direction::Desc, Some((Some(score), id))) => {
            vec![Scored(Some((score, id))), Unscored(None)]
        }
        (Direction::Desc, Some((None, id))) => vec![Unscored(Some(id))],
        (Direction::Asc, None) => vec![Unscored(None), Scored(None)],
        (Direction::Asc, Some((None, id))) => vec![Unscored(Some(id)), Scored(None)],
        (Direction::Asc, Some((Some(score), id))) => vec![Scored(Some((score, id)))],
    }
}

/// A value bound by a [`PagePart`]'s condition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyValue {
    Int(i64),
    Float(f64),
}

/// One query of a listing page: what it adds to the listing's filters (a `?` for each of
/// `values`, in order) and its `ORDER BY`. A page runs its parts in order until it has enough
/// profiles.
#[derive(Debug, Clone, PartialEq)]
pub struct PagePart {
    pub condition: String,
    pub values: Vec<KeyValue>,
    pub order: String,
}

/// The queries of one page of a listing, from the position of its cursor (`after`, as
/// [`decode`] reads it).
fn page_parts(
    field: SortField,
    direction: Direction,
    after: Option<(SortValue, i64)>,
) -> Vec<PagePart> {
    let (comparison, dir) = match direction {
        Direction::Asc => (">", "ASC"),
        Direction::Desc => ("<", "DESC"),
    };
    let Some(column) = score_column(field) else {
        let (condition, values) = match after {
            Some((value, id)) => (
                format!(" AND (last_seen, id) {comparison} (?, ?)"),
                vec![sort_key_value(value), KeyValue::Int(id)],
            ),
            None => (String::new(), Vec::new()),
        };
        return vec![PagePart {
            condition,
            values,
            order: format!("last_seen {dir}, id {dir}"),
        }];
    };
    score_segments(direction, after)
        .into_iter()
        .map(|segment| match segment {
            ScoreSegment::Scored(after) => {
                let mut part = PagePart {
                    condition: format!(" AND {column} IS NOT NULL"),
                    values: Vec::new(),
                    order: format!("{column} {dir}, id {dir}"),
                };
                if let Some((score, id)) = after {
                    part.condition += &format!(" AND ({column}, id) {comparison} (?, ?)");
                    part.values = vec![KeyValue::Float(score), KeyValue::Int(id)];
                }
                part
            }
            ScoreSegment::Unscored(after) => {
                let mut part = PagePart {
                    condition: format!(" AND {column} IS NULL"),
                    values: Vec::new(),
                    order: format!("id {dir}"),
                };
                if let Some(id) = after {
                    part.condition += &format!(" AND id {comparison} ?");
                    part.values = vec![KeyValue::Int(id)];
                }
                part
            }
        })
        .collect()
}

/// One page of `filter`'s listing, at most `limit` profiles: runs the page's parts in order
/// through `fetch` (a part and how many profiles it may return at most) until the page is full,
/// one more than `limit` telling whether there is a next page.
pub async fn page<F>(
    filter: &ProfileFilter,
    limit: u32,
    mut fetch: impl FnMut(PagePart, i64) -> F,
) -> StoreResult<Page<ProfileRecord>>
where
    F: Future<Output = StoreResult<Vec<ProfileRecord>>>,
{
    let after = filter
        .after
        .as_ref()
        .map(|cursor| decode(cursor, filter.sort, filter.direction))
        .transpose()?;
    let wanted = limit as usize + 1;
    let mut items = Vec::new();
    for part in page_parts(filter.sort, filter.direction, after) {
        if items.len() >= wanted {
            break;
        }
        let more = fetch(part, (wanted - items.len()) as i64).await?;
        items.extend(more);
    }
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items
            .last()
            .map(|last| encode(filter.sort, filter.direction, last))
    } else {
        None
    };
    Ok(Page { items, next })
}

fn sort_key_value(value: SortValue) -> KeyValue {
    match value {
        SortValue::Millis(millis) => KeyValue::Int(millis),
        SortValue::Score(score) => KeyValue::Float(score),
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
