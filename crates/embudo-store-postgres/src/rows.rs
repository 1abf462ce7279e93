//! Decoding rows into the store's record types.

use embudo_core::{Event, EventKind, Text, Timestamp};
use embudo_store::json;
use embudo_store::{
    ConflictRecord, KeyKind, KeyRecord, LoggedEvent, ModelInfo, ModelRecord, OrderRecord,
    ProfileId, ProfileRecord, ProfileSummary, StoreError, StoreResult, TransitionRecord, Workspace,
    WorkspaceId,
};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::map_err;

pub(crate) const EVENT_COLUMNS: &str = "seq, workspace_id, message_id, kind, name, anonymous_id, \
     user_id, previous_id, group_id, timestamp, received_at, properties, traits, context, \
     profile_id";

pub(crate) const PROFILE_COLUMNS: &str = "id, workspace_id, user_id, email, anonymous_ids, \
     traits, aggregates, state, phase, substate, stage, confidence, intent, p_alive, clv, \
     audiences, first_seen, last_seen, created_at, updated_at, merged_into";

pub(crate) const ORDER_COLUMNS: &str =
    "workspace_id, order_id, profile_id, placed_at, total, currency, lines, refunded, cancelled";

pub(crate) const MODEL_COLUMNS: &str =
    "workspace_id, kind, version, built_at, report, OCTET_LENGTH(payload)::BIGINT";

pub(crate) const KEY_COLUMNS: &str = "id, workspace_id, kind, label, created_at, revoked_at";

fn get<'r, T>(row: &'r PgRow, index: usize) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(index).map_err(map_err)
}

fn millis(row: &PgRow, index: usize) -> StoreResult<Timestamp> {
    Ok(Timestamp::from_millis(get(row, index)?))
}

pub(crate) fn workspace(row: &PgRow) -> StoreResult<Workspace> {
    Ok(Workspace {
        id: WorkspaceId(get(row, 0)?),
        name: get(row, 1)?,
        created_at: millis(row, 2)?,
    })
}

pub(crate) fn key(row: &PgRow) -> StoreResult<KeyRecord> {
    let kind: String = get(row, 2)?;
    Ok(KeyRecord {
        id: get(row, 0)?,
        workspace_id: WorkspaceId(get(row, 1)?),
        kind: KeyKind::parse(&kind)
            .ok_or_else(|| StoreError::other(format!("stored key kind {kind:?} is unknown")))?,
        label: get(row, 3)?,
        created_at: millis(row, 4)?,
        revoked_at: get::<Option<i64>>(row, 5)?.map(Timestamp::from_millis),
    })
}

pub(crate) fn logged_event(row: &PgRow) -> StoreResult<LoggedEvent> {
    let kind: &str = get(row, 3)?;
    let kind = EventKind::parse(kind)
        .ok_or_else(|| StoreError::other(format!("stored event kind {kind:?} is unknown")))?;
    Ok(LoggedEvent {
        seq: get(row, 0)?,
        workspace_id: WorkspaceId(get(row, 1)?),
        event: Event {
            message_id: get(row, 2)?,
            kind,
            name: get::<Option<String>>(row, 4)?.map(Text::from),
            anonymous_id: get::<Option<String>>(row, 5)?.map(Text::from),
            user_id: get::<Option<String>>(row, 6)?.map(Text::from),
            previous_id: get::<Option<String>>(row, 7)?.map(Text::from),
            group_id: get::<Option<String>>(row, 8)?.map(Text::from),
            timestamp: millis(row, 9)?,
            received_at: millis(row, 10)?,
            properties: json::value_from_json(get(row, 11)?)?,
            traits: json::value_from_json(get(row, 12)?)?,
            context: json::value_from_json(get(row, 13)?)?,
        },
        profile_id: get::<Option<i64>>(row, 14)?.map(ProfileId),
    })
}

pub(crate) fn profile(row: &PgRow) -> StoreResult<ProfileRecord> {
    Ok(ProfileRecord {
        id: ProfileId(get(row, 0)?),
        workspace_id: WorkspaceId(get(row, 1)?),
        user_id: get(row, 2)?,
        email: get(row, 3)?,
        anonymous_ids: json::strings_from_json(get(row, 4)?)?,
        traits: json::traits_from_json(get(row, 5)?)?,
        aggregates: json::aggregates_from_json(get(row, 6)?)?,
        state: get(row, 7)?,
        summary: ProfileSummary {
            phase: get(row, 8)?,
            substate: get(row, 9)?,
            stage: get(row, 10)?,
            confidence: get(row, 11)?,
            intent: get(row, 12)?,
            p_alive: get(row, 13)?,
            clv: get(row, 14)?,
            audiences: json::strings_from_json(get(row, 15)?)?,
        },
        first_seen: millis(row, 16)?,
        last_seen: millis(row, 17)?,
        created_at: millis(row, 18)?,
        updated_at: millis(row, 19)?,
        merged_into: get::<Option<i64>>(row, 20)?.map(ProfileId),
    })
}

pub(crate) fn order(row: &PgRow) -> StoreResult<OrderRecord> {
    Ok(OrderRecord {
        workspace_id: WorkspaceId(get(row, 0)?),
        order_id: get(row, 1)?,
        profile_id: get::<Option<i64>>(row, 2)?.map(ProfileId),
        placed_at: millis(row, 3)?,
        total: get(row, 4)?,
        currency: get(row, 5)?,
        lines: json::lines_from_json(get(row, 6)?)?,
        refunded: get(row, 7)?,
        cancelled: get(row, 8)?,
    })
}

pub(crate) fn transition(row: &PgRow) -> StoreResult<TransitionRecord> {
    Ok(TransitionRecord {
        workspace_id: WorkspaceId(get(row, 0)?),
        profile_id: ProfileId(get(row, 1)?),
        dimension: get(row, 2)?,
        from: get(row, 3)?,
        to: get(row, 4)?,
        at: millis(row, 5)?,
        reason: get(row, 6)?,
    })
}

pub(crate) fn conflict(row: &PgRow) -> StoreResult<ConflictRecord> {
    Ok(ConflictRecord {
        workspace_id: WorkspaceId(get(row, 0)?),
        seq: get(row, 1)?,
        profile_id: ProfileId(get(row, 2)?),
        conflicting: json::ids_from_json(get(row, 3)?)?
            .into_iter()
            .map(ProfileId)
            .collect(),
        reason: get(row, 4)?,
        at: millis(row, 5)?,
    })
}

pub(crate) fn model_info(row: &PgRow) -> StoreResult<ModelInfo> {
    Ok(ModelInfo {
        workspace_id: WorkspaceId(get(row, 0)?),
        kind: get(row, 1)?,
        version: get(row, 2)?,
        built_at: millis(row, 3)?,
        report: get(row, 4)?,
        size: get::<i64>(row, 5)?,
    })
}

/// A [`MODEL_COLUMNS`] row followed by the payload.
pub(crate) fn model(row: &PgRow) -> StoreResult<ModelRecord> {
    Ok(ModelRecord {
        info: model_info(row)?,
        payload: get(row, 6)?,
    })
}
