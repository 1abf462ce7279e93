//! The PostgreSQL adapter of the embudo storage port, for scale.
//!
//! - One connection pool ([`PostgresOptions`]); any number of embudo nodes may share a database.
//! - Migrations in `migrations/`, embedded with `sqlx::migrate!` and run on connect (sqlx takes
//!   an advisory lock, so nodes starting together migrate once).
//! - Appends go through the group commit (`append`, [`embudo_store::group`]): one
//!   `INSERT … SELECT FROM UNNEST(arrays)` per chunk with `ON CONFLICT DO NOTHING` for
//!   de-duplication, under a transaction-level advisory lock taken once per group so that log
//!   sequence numbers become visible in increasing order (see [`APPEND_LOCK`]).
//! - Runtime queries only (no `DATABASE_URL` at build time); driver errors are mapped to
//!   [`StoreError`] here.
//!
//! # Claiming work
//! Scheduled work (the job queue to come) is claimed with
//! `SELECT … FOR UPDATE SKIP LOCKED LIMIT n` inside the transaction that runs it, so that any
//! number of nodes can work one queue; see the `queue` module. Profile processing is not
//! claimed that way: its cursor is an optimistic check (`ProcessingBatch::cursor_from`).

mod admin;
mod append;
mod queue;
mod rows;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use embudo_core::identity::Candidate;
use embudo_core::{Event, Timestamp};
use embudo_store::group::Appends;
use embudo_store::{
    AppendStatus, ConflictRecord, IdentityKind, IdentityLink, IdentityMatch, IdentityQuery,
    KEPT_MODEL_VERSIONS, KeyRecord, LoggedEvent, ModelInfo, ModelRecord, NewKey, NewModel,
    OrderRecord, Page, PhaseCount, ProcessingBatch, ProfileFilter, ProfileId, ProfileRecord, Store,
    StoreError, StoreResult, TransitionRecord, Workspace, WorkspaceId, json, keyset,
    validate_event,
};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};

pub use crate::admin::{create_database, drop_database};
use crate::rows::{EVENT_COLUMNS, KEY_COLUMNS, MODEL_COLUMNS, ORDER_COLUMNS, PROFILE_COLUMNS};

/// Events per `INSERT` statement when appending.
pub(crate) const APPEND_CHUNK: usize = 2000;

/// The advisory lock key appends hold until they commit ("embudo" in ASCII), so that a
/// transaction that drew smaller seqs is never still uncommitted when a larger one is visible.
pub const APPEND_LOCK: i64 = 0x656d_6275_646f;

/// Listings return at most this many items per page.
const MAX_PAGE: u32 = 1000;

/// Pool settings; [`PostgresOptions::default`] is what `connect` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostgresOptions {
    pub max_connections: u32,
    pub min_connections: u32,
    /// How long to wait for a free connection before failing with [`StoreError::Unavailable`].
    pub acquire_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> PostgresOptions {
        PostgresOptions {
            max_connections: 16,
            min_connections: 1,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Appends, to the group-commit writer task (`append::Writer`).
    appends: Appends<Event>,
}

/// Maps a driver error to the port's error.
pub(crate) fn map_err(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(error.to_string())
        }
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                return StoreError::Conflict(db.message().to_owned());
            }
            let code = db.code().unwrap_or_default();
            // Connection exceptions, serialization failures and deadlocks, shutdown.
            if code.starts_with("08")
                || code == "40001"
                || code == "40P01"
                || code.starts_with("57P")
            {
                return StoreError::Unavailable(db.message().to_owned());
            }
            StoreError::Other(Box::new(error))
        }
        _ => StoreError::Other(Box::new(error)),
    }
}

/// `Conflict` with a clearer message, other errors as they are.
fn conflict_as(error: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match map_err(error) {
        StoreError::Conflict(_) => StoreError::Conflict(message()),
        other => other,
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/database`) and runs the migrations.
    pub async fn connect(url: &str) -> StoreResult<PostgresStore> {
        PostgresStore::connect_with(url, PostgresOptions::default()).await
    }

    pub async fn connect_with(url: &str, options: PostgresOptions) -> StoreResult<PostgresStore> {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(options.min_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect(url)
            .await
            .map_err(map_err)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|error| {
                StoreError::other(format!("migrating the PostgreSQL database: {error}"))
            })?;
        let appends = Appends::start(append::Writer { pool: pool.clone() }, "PostgreSQL");
        Ok(PostgresStore { pool, appends })
    }

    /// Follows `merged_into`: the live id for `id`, if the workspace has that profile.
    async fn live_id(&self, workspace: WorkspaceId, id: ProfileId) -> StoreResult<Option<i64>> {
        sqlx::query_scalar(
            "SELECT COALESCE(merged_into, id) FROM profiles WHERE workspace_id = $1 AND id = $2",
        )
        .bind(workspace.0)
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)
    }

    async fn profile_row(
        &self,
        workspace: WorkspaceId,
        id: i64,
    ) -> StoreResult<Option<ProfileRecord>> {
        let sql =
            format!("SELECT {PROFILE_COLUMNS} FROM profiles WHERE workspace_id = $1 AND id = $2");
        sqlx::query(&sql)
            .bind(workspace.0)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(rows::profile)
            .transpose()
    }
}

/// One bound value of a dynamically built query.
#[derive(Clone)]
enum Bind {
    Int(i64),
    Float(f64),
    Text(String),
}

impl From<keyset::KeyValue> for Bind {
    fn from(value: keyset::KeyValue) -> Bind {
        match value {
            keyset::KeyValue::Int(int) => Bind::Int(int),
            keyset::KeyValue::Float(float) => Bind::Float(float),
        }
    }
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    for bind in binds {
        query = match bind {
            Bind::Int(value) => query.bind(value),
            Bind::Float(value) => query.bind(value),
            Bind::Text(value) => query.bind(value),
        };
    }
    query
}

/// Inserts a chunk of events from column arrays, in array order, skipping stored message ids.
/// The event columns of a chunk, as the arrays `$2` to `$13` of [`APPEND_SQL`] and
/// [`APPEND_PROCESSED_SQL`] (after `$1`, the workspace).
pub(crate) fn bind_event_columns<'q>(
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    chunk: &'q [Event],
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    let text = |f: fn(&Event) -> &str| chunk.iter().map(f).collect::<Vec<&str>>();
    let opt = |f: fn(&Event) -> Option<&str>| chunk.iter().map(f).collect::<Vec<_>>();
    let millis =
        |f: fn(&Event) -> Timestamp| chunk.iter().map(|e| f(e).as_millis()).collect::<Vec<i64>>();
    let json = |f: fn(&Event) -> &embudo_core::Value| {
        chunk
            .iter()
            .map(|e| json::event_column(f(e)).into_owned())
            .collect::<Vec<String>>()
    };
    let (properties, traits, context) = (
        json(|e| &e.properties),
        json(|e| &e.traits),
        json(|e| &e.context),
    );
    query
        .bind(text(|e| e.message_id.as_str()))
        .bind(text(|e| e.kind.as_str()))
        .bind(opt(|e| e.name.as_deref()))
        .bind(opt(|e| e.anonymous_id.as_deref()))
        .bind(opt(|e| e.user_id.as_deref()))
        .bind(opt(|e| e.previous_id.as_deref()))
        .bind(opt(|e| e.group_id.as_deref()))
        .bind(millis(|e| e.timestamp))
        .bind(millis(|e| e.received_at))
        .bind(properties)
        .bind(traits)
        .bind(context)
}

/// [`APPEND_SQL`] with the seqs (`$14`) and the profiles (`$15`) given: every row must be new.
const APPEND_PROCESSED_SQL: &str = "INSERT INTO events (seq, workspace_id, message_id, kind, \
     name, anonymous_id, user_id, previous_id, group_id, timestamp, received_at, properties, \
     traits, context, profile_id) OVERRIDING SYSTEM VALUE \
     SELECT x.s, $1, x.m, x.k, x.n, x.a, x.u, x.p, x.g, x.t, x.r, x.pr, x.tr, x.cx, x.pf \
     FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
     $8::text[], $9::int8[], $10::int8[], $11::text[], $12::text[], $13::text[], $14::int8[], \
     $15::int8[]) AS x (m, k, n, a, u, p, g, t, r, pr, tr, cx, s, pf)";

pub(crate) const APPEND_SQL: &str = "INSERT INTO events (workspace_id, message_id, kind, name, \
     anonymous_id, user_id, previous_id, group_id, timestamp, received_at, properties, traits, \
     context) \
     SELECT $1, x.m, x.k, x.n, x.a, x.u, x.p, x.g, x.t, x.r, x.pr, x.tr, x.cx \
     FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
     $8::text[], $9::int8[], $10::int8[], $11::text[], $12::text[], $13::text[]) \
     WITH ORDINALITY AS x (m, k, n, a, u, p, g, t, r, pr, tr, cx, ord) ORDER BY x.ord \
     ON CONFLICT (workspace_id, message_id) DO NOTHING RETURNING seq, message_id";

/// Checks every event first, so that a bad one fails the batch before anything is written.
pub(crate) fn validate_all(events: &[Event]) -> StoreResult<()> {
    for (index, event) in events.iter().enumerate() {
        if let Err(error) = validate_event(event) {
            let reason = match error {
                StoreError::Invalid(reason) => reason,
                other => other.to_string(),
            };
            return Err(StoreError::Invalid(format!("event {index}: {reason}")));
        }
    }
    Ok(())
}

/// Rows per multi-row statement of a processing batch (profiles, identity links, orders,
/// transitions): one round trip per chunk instead of one per row.
const WRITE_CHUNK: usize = 2000;

/// Writes a batch's profile rows: the ones it creates inserted (one stored already fails the
/// batch), the others upserted. A profile id that another workspace holds fails the batch with
/// [`StoreError::Conflict`] naming it.
async fn write_profiles(
    tx: &mut Transaction<'_, Postgres>,
    batch: &ProcessingBatch,
) -> StoreResult<()> {
    let profiles = final_profiles(&batch.profiles)?;
    let (new, stored) = embudo_store::created_and_stored(batch, profiles);
    // The profiles the batch creates are inserted, as on SQLite: one stored already fails it.
    match insert_profiles(tx, &new, "").await {
        Err(StoreError::Conflict(_)) => return Err(StoreError::created_profile_stored()),
        other => other?,
    }
    insert_profiles(
        tx,
        &stored,
        "ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, email = excluded.email, \
         anonymous_ids = excluded.anonymous_ids, traits = excluded.traits, \
         aggregates = excluded.aggregates, state = excluded.state, phase = excluded.phase, \
         substate = excluded.substate, stage = excluded.stage, \
         confidence = excluded.confidence, intent = excluded.intent, \
         p_alive = excluded.p_alive, clv = excluded.clv, audiences = excluded.audiences, \
         first_seen = excluded.first_seen, last_seen = excluded.last_seen, \
         created_at = excluded.created_at, updated_at = excluded.updated_at, \
         merged_into = excluded.merged_into \
         WHERE profiles.workspace_id = excluded.workspace_id",
    )
    .await
}

/// Inserts profiles, one statement per chunk, with `conflict` as the statement's `ON CONFLICT`
/// clause (none: a stored profile fails it). A profile that is not written (another
/// workspace's) fails the batch with an error naming it.
async fn insert_profiles(
    tx: &mut Transaction<'_, Postgres>,
    profiles: &[&ProfileRecord],
    conflict: &str,
) -> StoreResult<()> {
    for chunk in profiles.chunks(WRITE_CHUNK) {
        let ids: Vec<i64> = chunk.iter().map(|p| p.id.0).collect();
        let workspaces: Vec<i64> = chunk.iter().map(|p| p.workspace_id.0).collect();
        let text = |f: fn(&ProfileRecord) -> Option<&str>| {
            chunk.iter().map(|p| f(p)).collect::<Vec<Option<&str>>>()
        };
        let score = |f: fn(&ProfileRecord) -> Option<f64>| {
            chunk.iter().map(|p| f(p)).collect::<Vec<Option<f64>>>()
        };
        let millis = |f: fn(&ProfileRecord) -> Timestamp| {
            chunk.iter().map(|p| f(p).as_millis()).collect::<Vec<i64>>()
        };
        let encoded =
            |f: fn(&ProfileRecord) -> String| chunk.iter().map(|p| f(p)).collect::<Vec<String>>();
        let sql = format!(
            "INSERT INTO profiles (id, workspace_id, user_id, email, anonymous_ids, traits, \
             aggregates, state, phase, substate, stage, confidence, intent, p_alive, clv, \
             audiences, first_seen, last_seen, created_at, updated_at, merged_into) \
             SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
             $12::float8[], $13::float8[], $14::float8[], $15::float8[], $16::text[], \
             $17::int8[], $18::int8[], $19::int8[], $20::int8[], $21::int8[]) {conflict}"
        );
        let result = sqlx::query(&sql)
            .bind(&ids)
            .bind(&workspaces)
            .bind(text(|p| p.user_id.as_deref()))
            .bind(text(|p| p.email.as_deref()))
            .bind(encoded(|p| json::strings_to_json(&p.anonymous_ids)))
            .bind(encoded(|p| json::traits_to_json(&p.traits)))
            .bind(encoded(|p| json::aggregates_to_json(&p.aggregates)))
            .bind(text(|p| Some(p.state.as_str())))
            .bind(text(|p| p.summary.phase.as_deref()))
            .bind(text(|p| p.summary.substate.as_deref()))
            .bind(text(|p| p.summary.stage.as_deref()))
            .bind(score(|p| p.summary.confidence))
            .bind(score(|p| p.summary.intent))
            .bind(score(|p| p.summary.p_alive))
            .bind(score(|p| p.summary.clv))
            .bind(encoded(|p| json::strings_to_json(&p.summary.audiences)))
            .bind(millis(|p| p.first_seen))
            .bind(millis(|p| p.last_seen))
            .bind(millis(|p| p.created_at))
            .bind(millis(|p| p.updated_at))
            .bind(
                chunk
                    .iter()
                    .map(|p| p.merged_into.map(|id| id.0))
                    .collect::<Vec<Option<i64>>>(),
            )
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
        if result.rows_affected() != chunk.len() as u64 {
            let foreign: Option<i64> = sqlx::query_scalar(
                "SELECT x.id FROM UNNEST($1::int8[], $2::int8[]) WITH ORDINALITY AS x (id, ws, n) \
                 JOIN profiles ON profiles.id = x.id AND profiles.workspace_id <> x.ws \
                 ORDER BY x.n LIMIT 1",
            )
            .bind(&ids)
            .bind(&workspaces)
            .fetch_optional(&mut **tx)
            .await
            .map_err(map_err)?;
            return Err(StoreError::foreign_profile(foreign));
        }
    }
    Ok(())
}

/// A batch's profiles with one row per id, the last one given winning (as if they were upserted
/// in order: PostgreSQL's upsert cannot touch a row twice in one statement). The same id in
/// two workspaces fails as writing it twice would.
fn final_profiles(profiles: &[ProfileRecord]) -> StoreResult<Vec<&ProfileRecord>> {
    let mut last: HashMap<ProfileId, usize> = HashMap::with_capacity(profiles.len());
    for (index, profile) in profiles.iter().enumerate() {
        if let Some(earlier) = last.insert(profile.id, index)
            && profiles[earlier].workspace_id != profile.workspace_id
        {
            return Err(StoreError::foreign_profile(Some(profile.id.0)));
        }
    }
    Ok(profiles
        .iter()
        .enumerate()
        .filter(|(index, profile)| last.get(&profile.id) == Some(index))
        .map(|(_, profile)| profile)
        .collect())
}

/// Links identities to profiles, one statement per chunk; the last link of an identity wins. A
/// link to a profile its workspace does not have fails the batch with an error naming it.
async fn link_identities(
    tx: &mut Transaction<'_, Postgres>,
    links: &[IdentityLink],
) -> StoreResult<()> {
    let links = embudo_store::final_identity_links(links);
    for chunk in links.chunks(WRITE_CHUNK) {
        let kinds: Vec<&str> = chunk.iter().map(|l| l.kind.as_str()).collect();
        let values: Vec<&str> = chunk.iter().map(|l| l.value.as_str()).collect();
        let workspaces: Vec<i64> = chunk.iter().map(|l| l.workspace_id.0).collect();
        let profiles: Vec<i64> = chunk.iter().map(|l| l.profile_id.0).collect();
        let result = sqlx::query(
            "INSERT INTO identities (workspace_id, kind, value, profile_id) \
             SELECT p.workspace_id, x.kind, x.value, p.id \
             FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[]) AS x (kind, value, ws, pf) \
             JOIN profiles p ON p.workspace_id = x.ws AND p.id = x.pf \
             ON CONFLICT (workspace_id, kind, value) DO UPDATE SET profile_id = excluded.profile_id",
        )
        .bind(&kinds)
        .bind(&values)
        .bind(&workspaces)
        .bind(&profiles)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
        if result.rows_affected() != chunk.len() as u64 {
            let missing: Option<(i64, i64)> = sqlx::query_as(
                "SELECT x.ws, x.pf FROM UNNEST($1::int8[], $2::int8[]) WITH ORDINALITY AS x (ws, pf, n) \
                 WHERE NOT EXISTS (SELECT 1 FROM profiles WHERE workspace_id = x.ws AND id = x.pf) \
                 ORDER BY x.n LIMIT 1",
            )
            .bind(&workspaces)
            .bind(&profiles)
            .fetch_optional(&mut **tx)
            .await
            .map_err(map_err)?;
            return Err(StoreError::unlinked_identity(missing));
        }
    }
    Ok(())
}

/// Upserts order rows, one statement per chunk; the last row of an order wins.
async fn upsert_orders(
    tx: &mut Transaction<'_, Postgres>,
    orders: &[OrderRecord],
) -> StoreResult<()> {
    let orders = embudo_store::final_orders(orders);
    for chunk in orders.chunks(WRITE_CHUNK) {
        sqlx::query(
            "INSERT INTO orders (workspace_id, order_id, profile_id, placed_at, total, \
             currency, lines, refunded, cancelled) \
             SELECT * FROM UNNEST($1::int8[], $2::text[], $3::int8[], $4::int8[], \
             $5::float8[], $6::text[], $7::text[], $8::float8[], $9::bool[]) \
             ON CONFLICT (workspace_id, order_id) DO UPDATE SET \
             profile_id = excluded.profile_id, placed_at = excluded.placed_at, \
             total = excluded.total, currency = excluded.currency, lines = excluded.lines, \
             refunded = excluded.refunded, cancelled = excluded.cancelled",
        )
        .bind(chunk.iter().map(|o| o.workspace_id.0).collect::<Vec<i64>>())
        .bind(
            chunk
                .iter()
                .map(|o| o.order_id.as_str())
                .collect::<Vec<&str>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|o| o.profile_id.map(|id| id.0))
                .collect::<Vec<Option<i64>>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|o| o.placed_at.as_millis())
                .collect::<Vec<i64>>(),
        )
        .bind(chunk.iter().map(|o| o.total).collect::<Vec<f64>>())
        .bind(
            chunk
                .iter()
                .map(|o| o.currency.as_deref())
                .collect::<Vec<Option<&str>>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|o| json::lines_to_json(&o.lines))
                .collect::<Vec<String>>(),
        )
        .bind(chunk.iter().map(|o| o.refunded).collect::<Vec<f64>>())
        .bind(chunk.iter().map(|o| o.cancelled).collect::<Vec<bool>>())
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

/// Inserts transitions in the given order (ids follow it), one statement per chunk.
async fn insert_transitions(
    tx: &mut Transaction<'_, Postgres>,
    transitions: &[TransitionRecord],
) -> StoreResult<()> {
    for chunk in transitions.chunks(WRITE_CHUNK) {
        sqlx::query(
            "INSERT INTO transitions (workspace_id, profile_id, dimension, from_value, \
             to_value, at, reason) \
             SELECT x.ws, x.pf, x.dimension, x.from_value, x.to_value, x.at, x.reason \
             FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[], \
             $6::int8[], $7::text[]) WITH ORDINALITY \
             AS x (ws, pf, dimension, from_value, to_value, at, reason, n) ORDER BY x.n",
        )
        .bind(chunk.iter().map(|t| t.workspace_id.0).collect::<Vec<i64>>())
        .bind(chunk.iter().map(|t| t.profile_id.0).collect::<Vec<i64>>())
        .bind(
            chunk
                .iter()
                .map(|t| t.dimension.as_str())
                .collect::<Vec<&str>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|t| t.from.as_deref())
                .collect::<Vec<Option<&str>>>(),
        )
        .bind(chunk.iter().map(|t| t.to.as_str()).collect::<Vec<&str>>())
        .bind(chunk.iter().map(|t| t.at.as_millis()).collect::<Vec<i64>>())
        .bind(
            chunk
                .iter()
                .map(|t| t.reason.as_str())
                .collect::<Vec<&str>>(),
        )
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

/// Sets each event's profile, in one statement. An event and a profile of different
/// workspaces (or an unknown one) fail the batch with an error naming them.
async fn assign_event_profiles(
    tx: &mut Transaction<'_, Postgres>,
    assignments: &[(i64, ProfileId)],
) -> StoreResult<()> {
    let assignments = embudo_store::final_event_profiles(assignments);
    if assignments.is_empty() {
        return Ok(());
    }
    let (seqs, profiles): (Vec<i64>, Vec<i64>) = assignments
        .iter()
        .map(|&(seq, profile)| (seq, profile.0))
        .unzip();
    let result = sqlx::query(
        "UPDATE events SET profile_id = pairs.profile_id \
         FROM UNNEST($1::BIGINT[], $2::BIGINT[]) AS pairs (seq, profile_id) \
         JOIN profiles ON profiles.id = pairs.profile_id \
         WHERE events.seq = pairs.seq AND events.workspace_id = profiles.workspace_id",
    )
    .bind(&seqs)
    .bind(&profiles)
    .execute(&mut **tx)
    .await
    .map_err(map_err)?;
    if result.rows_affected() == assignments.len() as u64 {
        return Ok(());
    }
    // Name the first assignment that did not match.
    let first: Option<(i64, i64)> = sqlx::query_as(
        "SELECT pairs.seq, pairs.profile_id \
         FROM UNNEST($1::BIGINT[], $2::BIGINT[]) WITH ORDINALITY AS pairs (seq, profile_id, n) \
         WHERE NOT EXISTS (SELECT 1 FROM events JOIN profiles ON profiles.id = pairs.profile_id \
             WHERE events.seq = pairs.seq AND events.workspace_id = profiles.workspace_id) \
         ORDER BY pairs.n LIMIT 1",
    )
    .bind(&seqs)
    .bind(&profiles)
    .fetch_optional(&mut **tx)
    .await
    .map_err(map_err)?;
    Err(match first {
        Some((seq, profile)) => StoreError::Invalid(format!(
            "event {seq} and profile {profile} are not in one workspace"
        )),
        None => StoreError::Invalid("an event's profile could not be set".to_owned()),
    })
}

#[async_trait]
impl Store for PostgresStore {
    #[tracing::instrument(skip_all)]
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn sync(&self) -> StoreResult<()> {
        // A commit returns once PostgreSQL has flushed it (`synchronous_commit` is the
        // server's to set).
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    #[tracing::instrument(skip_all, fields(n_keys = keys.len()))]
    async fn create_workspace(
        &self,
        name: &str,
        keys: &[NewKey],
        now: Timestamp,
    ) -> StoreResult<Workspace> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO workspaces (name, created_at) VALUES ($1, $2) RETURNING id",
        )
        .bind(name)
        .bind(now.as_millis())
        .fetch_one(&mut *tx)
        .await
        .map_err(|error| conflict_as(error, || format!("workspace name {name:?} is taken")))?;
        for key in keys {
            insert_key(&mut tx, WorkspaceId(id), key, now).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(Workspace {
            id: WorkspaceId(id),
            name: name.to_owned(),
            created_at: now,
        })
    }

    #[tracing::instrument(skip_all)]
    async fn workspaces(&self) -> StoreResult<Vec<Workspace>> {
        sqlx::query("SELECT id, name, created_at FROM workspaces ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::workspace)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(workspace = %id))]
    async fn workspace(&self, id: WorkspaceId) -> StoreResult<Option<Workspace>> {
        sqlx::query("SELECT id, name, created_at FROM workspaces WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(rows::workspace)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace))]
    async fn add_key(
        &self,
        workspace: WorkspaceId,
        key: &NewKey,
        now: Timestamp,
    ) -> StoreResult<KeyRecord> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM workspaces WHERE id = $1")
            .bind(workspace.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("workspace {workspace}")));
        }
        let record = insert_key(&mut tx, workspace, key, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(record)
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace))]
    async fn keys(&self, workspace: WorkspaceId) -> StoreResult<Vec<KeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE workspace_id = $1 ORDER BY id");
        sqlx::query(&sql)
            .bind(workspace.0)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::key)
            .collect()
    }

    #[tracing::instrument(skip_all)]
    async fn find_key(&self, hash: &str) -> StoreResult<Option<KeyRecord>> {
        let sql =
            format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = $1 AND revoked_at IS NULL");
        sqlx::query(&sql)
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(rows::key)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace, key_id))]
    async fn revoke_key(
        &self,
        workspace: WorkspaceId,
        key_id: i64,
        now: Timestamp,
    ) -> StoreResult<()> {
        let result = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) \
             WHERE workspace_id = $2 AND id = $3",
        )
        .bind(now.as_millis())
        .bind(workspace.0)
        .bind(key_id)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "key {key_id} of workspace {workspace}"
            )));
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace, n_events = events.len()))]
    async fn append_events(
        &self,
        workspace: WorkspaceId,
        events: &[Event],
    ) -> StoreResult<Vec<AppendStatus>> {
        validate_all(events)?;
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.appends.append(workspace, events.to_vec()).await
    }

    #[tracing::instrument(skip_all, fields(
        workspace = %workspace,
        n_events = events.len(),
        cursor_to = batch.cursor_to,
        n_profiles = batch.profiles.len(),
    ))]
    async fn append_processed(
        &self,
        workspace: WorkspaceId,
        events: &[Event],
        batch: &ProcessingBatch,
    ) -> StoreResult<()> {
        validate_all(events)?;
        let profiles = embudo_store::appended_event_profiles(batch, events.len())?;
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        lock_log(&mut tx, workspace).await?;
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        if head != batch.cursor_from {
            return Err(StoreError::Conflict(format!(
                "the log ends at {head}, not {}",
                batch.cursor_from
            )));
        }
        for (start, (chunk, chunk_profiles)) in (0..).step_by(APPEND_CHUNK).zip(
            events
                .chunks(APPEND_CHUNK)
                .zip(profiles.chunks(APPEND_CHUNK)),
        ) {
            let first = batch.cursor_from + 1 + start as i64;
            let seqs: Vec<i64> = (first..first + chunk.len() as i64).collect();
            let profiles: Vec<i64> = chunk_profiles.iter().map(|id| id.0).collect();
            bind_event_columns(sqlx::query(APPEND_PROCESSED_SQL).bind(workspace.0), chunk)
                .bind(seqs)
                .bind(profiles)
                .execute(&mut *tx)
                .await
                .map_err(|error| {
                    conflict_as(error, || {
                        "an event of the batch is already in the log (its message id is taken)"
                            .to_owned()
                    })
                })?;
        }
        if batch.cursor_to > batch.cursor_from {
            // Later appends draw seqs after these (a value the sequence skips is only a gap).
            sqlx::query(
                "SELECT setval(pg_get_serial_sequence('events', 'seq'), \
                 GREATEST($1, nextval(pg_get_serial_sequence('events', 'seq'))))",
            )
            .bind(batch.cursor_to)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        write_processing(&mut tx, batch, EventProfiles::Inserted).await?;
        // Every event's profile is one its workspace has (merged ones included): the
        // batch's own profiles are (their upsert checked it), others are looked up.
        if !embudo_store::batch_writes_profiles(batch, workspace, &profiles) {
            let stray: Option<(i64, i64)> = sqlx::query_as(
                "SELECT e.seq, e.profile_id FROM events e WHERE e.seq > $1 AND e.seq <= $2 \
                 AND NOT EXISTS (SELECT 1 FROM profiles p \
                 WHERE p.id = e.profile_id AND p.workspace_id = e.workspace_id) \
                 ORDER BY e.seq LIMIT 1",
            )
            .bind(batch.cursor_from)
            .bind(batch.cursor_to)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            if let Some((seq, profile)) = stray {
                return Err(StoreError::Invalid(format!(
                    "event {seq} and profile {profile} are not in one workspace"
                )));
            }
        }
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(after_seq, limit))]
    async fn read_log(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<LoggedEvent>> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2");
        sqlx::query(&sql)
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::logged_event)
            .collect()
    }

    #[tracing::instrument(skip_all)]
    async fn log_head(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)
    }

    #[tracing::instrument(skip_all, fields(after_seq, up_to))]
    async fn log_count(&self, after_seq: i64, up_to: i64) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE seq > $1 AND seq <= $2")
            .bind(after_seq)
            .bind(up_to)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)
    }

    #[tracing::instrument(skip_all, fields(cursor = name))]
    async fn cursor(&self, name: &str) -> StoreResult<i64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(seq.unwrap_or(0))
    }

    #[tracing::instrument(skip_all, fields(n))]
    async fn reserve_profile_ids(&self, n: u32) -> StoreResult<ProfileId> {
        let first: i64 = sqlx::query_scalar(
            "UPDATE counters SET next = next + $1 WHERE name = 'profile_id' RETURNING next - $1",
        )
        .bind(i64::from(n))
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(ProfileId(first))
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace))]
    async fn candidates(
        &self,
        workspace: WorkspaceId,
        query: IdentityQuery<'_>,
    ) -> StoreResult<Vec<IdentityMatch>> {
        let mut matches = Vec::new();
        let kinds = [
            (IdentityKind::Anonymous, query.anonymous_ids),
            (IdentityKind::User, query.user_ids),
            (IdentityKind::Email, query.emails),
        ];
        for (kind, values) in kinds {
            if values.is_empty() {
                continue;
            }
            // One primary-key lookup per value, whatever the planner's statistics say: with
            // `value = ANY($3)` and a table never analyzed (a large first import, autovacuum
            // off or behind), PostgreSQL scanned every identity of the kind for each batch.
            // The LIMIT keeps the lateral subquery from being flattened into a join.
            let rows = sqlx::query(
                "SELECT v.value, p.id, p.user_id FROM (SELECT DISTINCT UNNEST($3::text[]) AS value) AS v \
                 CROSS JOIN LATERAL (SELECT i.profile_id FROM identities i \
                 WHERE i.workspace_id = $1 AND i.kind = $2 AND i.value = v.value LIMIT 1) AS i \
                 JOIN profiles p ON p.workspace_id = $1 AND p.id = i.profile_id",
            )
            .bind(workspace.0)
            .bind(kind.as_str())
            .bind(values)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
            for row in rows {
                matches.push(IdentityMatch {
                    kind,
                    value: row.try_get(0).map_err(map_err)?,
                    candidate: Candidate {
                        profile_id: row.try_get(1).map_err(map_err)?,
                        user_id: row.try_get(2).map_err(map_err)?,
                        matched_by: kind.matched_by(),
                    },
                });
            }
        }
        Ok(matches)
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace, n_ids = ids.len()))]
    async fn load_profiles(
        &self,
        workspace: WorkspaceId,
        ids: &[ProfileId],
    ) -> StoreResult<Vec<ProfileRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let sql = format!(
            "SELECT {PROFILE_COLUMNS} FROM profiles WHERE workspace_id = $1 \
             AND id = ANY($2)"
        );
        sqlx::query(&sql)
            .bind(workspace.0)
            .bind(&ids)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::profile)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(
        cursor = %batch.cursor_name,
        cursor_to = batch.cursor_to,
        n_profiles = batch.profiles.len(),
        n_merges = batch.merges.len(),
    ))]
    async fn commit_processing(&self, batch: &ProcessingBatch) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        write_processing(&mut tx, batch, EventProfiles::Assign).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace, profile = %id))]
    async fn profile(
        &self,
        workspace: WorkspaceId,
        id: ProfileId,
    ) -> StoreResult<Option<ProfileRecord>> {
        match self.live_id(workspace, id).await? {
            Some(live) => self.profile_row(workspace, live).await,
            None => Ok(None),
        }
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace, kind = kind.as_str()))]
    async fn profile_by_identity(
        &self,
        workspace: WorkspaceId,
        kind: IdentityKind,
        value: &str,
    ) -> StoreResult<Option<ProfileRecord>> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT profile_id FROM identities WHERE workspace_id = $1 AND kind = $2 AND value = $3",
        )
        .bind(workspace.0)
        .bind(kind.as_str())
        .bind(value)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        match id {
            Some(id) => self.profile(workspace, ProfileId(id)).await,
            None => Ok(None),
        }
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace))]
    async fn list_profiles(
        &self,
        workspace: WorkspaceId,
        filter: &ProfileFilter,
    ) -> StoreResult<Page<ProfileRecord>> {
        let limit = filter.limit.clamp(1, MAX_PAGE);
        let mut base = format!(
            "SELECT {PROFILE_COLUMNS} FROM profiles WHERE workspace_id = $1 AND merged_into IS NULL"
        );
        let mut binds = vec![Bind::Int(workspace.0)];
        for (column, value) in [
            ("phase", &filter.phase),
            ("substate", &filter.substate),
            ("stage", &filter.stage),
        ] {
            if let Some(value) = value {
                base.push_str(&format!(" AND {column} = ${}", binds.len() + 1));
                binds.push(Bind::Text(value.clone()));
            }
        }
        if let Some(audience) = &filter.audience {
            base.push_str(&format!(
                " AND audiences::jsonb @> jsonb_build_array(${}::text)",
                binds.len() + 1
            ));
            binds.push(Bind::Text(audience.clone()));
        }
        keyset::page(filter, limit, |part, wanted| {
            let mut part_binds = binds.clone();
            part_binds.extend(part.values.into_iter().map(Bind::from));
            part_binds.push(Bind::Int(wanted));
            // The part's `?`s, numbered after the filters' placeholders.
            let mut sql = base.clone();
            let mut number = binds.len();
            for piece in
                format!("{} ORDER BY {} LIMIT ?", part.condition, part.order).split_inclusive('?')
            {
                match piece.strip_suffix('?') {
                    Some(text) => {
                        number += 1;
                        sql.push_str(&format!("{text}${number}"));
                    }
                    None => sql.push_str(piece),
                }
            }
            let pool = &self.pool;
            async move {
                let rows: Vec<PgRow> = bind_all(sqlx::query(&sql), part_binds)
                    .fetch_all(pool)
                    .await
                    .map_err(map_err)?;
                rows.iter().map(rows::profile).collect()
            }
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace, profile = %profile))]
    async fn profile_events(
        &self,
        workspace: WorkspaceId,
        profile: ProfileId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<LoggedEvent>> {
        let Some(live) = self.live_id(workspace, profile).await? else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE workspace_id = $1 AND profile_id = $2 \
             AND seq < $3 ORDER BY seq DESC LIMIT $4"
        );
        sqlx::query(&sql)
            .bind(workspace.0)
            .bind(live)
            .bind(before_seq.unwrap_or(i64::MAX))
            .bind(i64::from(limit.min(MAX_PAGE)))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::logged_event)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace, profile = %profile))]
    async fn profile_orders(
        &self,
        workspace: WorkspaceId,
        profile: ProfileId,
    ) -> StoreResult<Vec<OrderRecord>> {
        let Some(live) = self.live_id(workspace, profile).await? else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE workspace_id = $1 AND profile_id = $2 \
             ORDER BY placed_at, order_id"
        );
        sqlx::query(&sql)
            .bind(workspace.0)
            .bind(live)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::order)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace))]
    async fn orders(
        &self,
        workspace: WorkspaceId,
        since: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<OrderRecord>> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE workspace_id = $1 AND placed_at >= $2 \
             AND placed_at < $3 ORDER BY placed_at, order_id"
        );
        sqlx::query(&sql)
            .bind(workspace.0)
            .bind(since.as_millis())
            .bind(until.as_millis())
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::order)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace, profile = %profile))]
    async fn transitions(
        &self,
        workspace: WorkspaceId,
        profile: ProfileId,
    ) -> StoreResult<Vec<TransitionRecord>> {
        let Some(live) = self.live_id(workspace, profile).await? else {
            return Ok(Vec::new());
        };
        sqlx::query(
            "SELECT workspace_id, profile_id, dimension, from_value, to_value, at, reason \
             FROM transitions WHERE workspace_id = $1 AND profile_id = $2 ORDER BY at, id",
        )
        .bind(workspace.0)
        .bind(live)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(rows::transition)
        .collect()
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace))]
    async fn conflicts(&self, workspace: WorkspaceId) -> StoreResult<Vec<ConflictRecord>> {
        sqlx::query(
            "SELECT workspace_id, seq, profile_id, conflicting, reason, at \
             FROM identity_conflicts WHERE workspace_id = $1 ORDER BY id",
        )
        .bind(workspace.0)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(rows::conflict)
        .collect()
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace))]
    async fn phase_counts(&self, workspace: WorkspaceId) -> StoreResult<Vec<PhaseCount>> {
        let rows = sqlx::query(
            "SELECT phase, substate, stage, COUNT(*) FROM profiles \
             WHERE workspace_id = $1 AND merged_into IS NULL \
             GROUP BY phase, substate, stage ORDER BY phase, substate, stage",
        )
        .bind(workspace.0)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                Ok(PhaseCount {
                    phase: row.try_get(0).map_err(map_err)?,
                    substate: row.try_get(1).map_err(map_err)?,
                    stage: row.try_get(2).map_err(map_err)?,
                    count: row.try_get::<i64, _>(3).map_err(map_err)?.max(0) as u64,
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace, kind = %model.kind))]
    async fn save_model(&self, workspace: WorkspaceId, model: &NewModel) -> StoreResult<ModelInfo> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // Locking the workspace row serializes saves, so versions never collide.
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT id FROM workspaces WHERE id = $1 FOR UPDATE")
                .bind(workspace.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("workspace {workspace}")));
        }
        let version: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM models \
             WHERE workspace_id = $1 AND kind = $2",
        )
        .bind(workspace.0)
        .bind(&model.kind)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO models (workspace_id, kind, version, built_at, report, payload) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(workspace.0)
        .bind(&model.kind)
        .bind(version)
        .bind(model.built_at.as_millis())
        .bind(&model.report)
        .bind(&model.payload)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query("DELETE FROM models WHERE workspace_id = $1 AND kind = $2 AND version <= $3")
            .bind(workspace.0)
            .bind(&model.kind)
            .bind(version - KEPT_MODEL_VERSIONS)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(ModelInfo {
            workspace_id: workspace,
            kind: model.kind.clone(),
            version,
            built_at: model.built_at,
            report: model.report.clone(),
            size: i64::try_from(model.payload.len()).unwrap_or(i64::MAX),
        })
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace, kind))]
    async fn model(&self, workspace: WorkspaceId, kind: &str) -> StoreResult<Option<ModelRecord>> {
        let sql = format!(
            "SELECT {MODEL_COLUMNS}, payload FROM models \
             WHERE workspace_id = $1 AND kind = $2 ORDER BY version DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(workspace.0)
            .bind(kind)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::model).transpose()
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace))]
    async fn models(&self, workspace: WorkspaceId) -> StoreResult<Vec<ModelInfo>> {
        let sql = format!(
            "SELECT {MODEL_COLUMNS} FROM models WHERE workspace_id = $1 \
             ORDER BY kind, version DESC"
        );
        sqlx::query(&sql)
            .bind(workspace.0)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::model_info)
            .collect()
    }
}

async fn insert_key(
    tx: &mut Transaction<'_, Postgres>,
    workspace: WorkspaceId,
    key: &NewKey,
    now: Timestamp,
) -> StoreResult<KeyRecord> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_keys (workspace_id, kind, hash, label, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(workspace.0)
    .bind(key.kind.as_str())
    .bind(key.hash.as_str())
    .bind(key.label.as_str())
    .bind(now.as_millis())
    .fetch_one(&mut **tx)
    .await
    .map_err(|error| conflict_as(error, || "a key with this hash exists".to_owned()))?;
    Ok(KeyRecord {
        id,
        workspace_id: workspace,
        kind: key.kind,
        label: key.label.clone(),
        created_at: now,
        revoked_at: None,
    })
}

/// Checks that `workspace` exists and takes the append lock ([`lock_appends`]).
async fn lock_log(tx: &mut Transaction<'_, Postgres>, workspace: WorkspaceId) -> StoreResult<()> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM workspaces WHERE id = $1")
        .bind(workspace.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_err)?;
    if exists.is_none() {
        return Err(StoreError::NotFound(format!("workspace {workspace}")));
    }
    lock_appends(tx).await
}

/// Takes the append lock, held until the transaction ends: seqs are drawn only under it, so
/// commit order is seq order and the log's end stays this transaction's.
pub(crate) async fn lock_appends(tx: &mut Transaction<'_, Postgres>) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(APPEND_LOCK)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// Whether [`write_processing`] sets the events' profiles (they are in the log already) or
/// they were inserted with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventProfiles {
    Assign,
    Inserted,
}

/// A processing batch's writes and the cursor's move, in `tx` (the move checks that the cursor
/// is at `batch.cursor_from`).
async fn write_processing(
    tx: &mut Transaction<'_, Postgres>,
    batch: &ProcessingBatch,
    events: EventProfiles,
) -> StoreResult<()> {
    move_cursor(tx, batch).await?;
    write_profiles(tx, batch).await?;
    link_identities(tx, &batch.identities).await?;
    if events == EventProfiles::Assign {
        assign_event_profiles(tx, &batch.event_profiles).await?;
    }
    upsert_orders(tx, &batch.orders).await?;
    insert_transitions(tx, &batch.transitions).await?;
    for conflict in &batch.conflicts {
        let ids: Vec<i64> = conflict.conflicting.iter().map(|id| id.0).collect();
        sqlx::query(
            "INSERT INTO identity_conflicts (workspace_id, seq, profile_id, conflicting, \
             reason, at) VALUES ($1,$2,$3,$4,$5,$6)",
        )
        .bind(conflict.workspace_id.0)
        .bind(conflict.seq)
        .bind(conflict.profile_id.0)
        .bind(json::ids_to_json(&ids))
        .bind(conflict.reason.as_str())
        .bind(conflict.at.as_millis())
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    }
    for merge in &batch.merges {
        if merge.absorbed == merge.survivor {
            return Err(StoreError::Invalid(format!(
                "profile {} cannot be merged into itself",
                merge.survivor
            )));
        }
        let survivor: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM profiles WHERE workspace_id = $1 AND id = $2 AND merged_into IS NULL",
        )
        .bind(merge.workspace_id.0)
        .bind(merge.survivor.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_err)?;
        if survivor.is_none() {
            return Err(StoreError::Invalid(format!(
                "merge survivor {} is not a live profile of workspace {}",
                merge.survivor, merge.workspace_id
            )));
        }
        let result = sqlx::query(
            "UPDATE profiles SET merged_into = $1 \
             WHERE workspace_id = $2 AND (id = $3 OR merged_into = $3)",
        )
        .bind(merge.survivor.0)
        .bind(merge.workspace_id.0)
        .bind(merge.absorbed.0)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::Invalid(format!(
                "merged profile {} is not in workspace {}",
                merge.absorbed, merge.workspace_id
            )));
        }
        for table in ["identities", "events", "orders", "transitions"] {
            let sql = format!(
                "UPDATE {table} SET profile_id = $1 WHERE workspace_id = $2 AND profile_id = $3"
            );
            sqlx::query(&sql)
                .bind(merge.survivor.0)
                .bind(merge.workspace_id.0)
                .bind(merge.absorbed.0)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
        }
    }
    Ok(())
}

/// Checks and moves a processing cursor in one statement, first in the batch's transaction:
/// the row lock it takes is held until the commit, so a competing commit from the same cursor
/// waits, then finds the cursor moved and fails with [`StoreError::Conflict`]. (Reading the
/// cursor with a plain `SELECT` and writing it at the end let two overlapping transactions both
/// pass the check under READ COMMITTED.)
async fn move_cursor(
    tx: &mut Transaction<'_, Postgres>,
    batch: &ProcessingBatch,
) -> StoreResult<()> {
    let moved = sqlx::query("UPDATE cursors SET seq = $2 WHERE name = $1 AND seq = $3")
        .bind(&batch.cursor_name)
        .bind(batch.cursor_to)
        .bind(batch.cursor_from)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    if moved.rows_affected() == 1 {
        return Ok(());
    }
    if batch.cursor_from == 0 {
        // A cursor that was never committed is at 0; the first commit creates it, and of two
        // racing first commits the unique key lets one through.
        let created = sqlx::query(
            "INSERT INTO cursors (name, seq) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&batch.cursor_name)
        .bind(batch.cursor_to)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
        if created.rows_affected() == 1 {
            return Ok(());
        }
    }
    let current: Option<i64> = sqlx::query_scalar("SELECT seq FROM cursors WHERE name = $1")
        .bind(&batch.cursor_name)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_err)?;
    Err(StoreError::Conflict(format!(
        "cursor {:?} is at {}, not {}",
        batch.cursor_name,
        current.unwrap_or(0),
        batch.cursor_from
    )))
}
