//! The SQLite adapter of the embudo storage port: the embedded default.
//!
//! - WAL journal, `synchronous = FULL` by default: an acknowledged write survives power loss.
//! - A bulk load ([`Journal::BulkLoad`], what `embudo import` opens) uses a rollback journal
//!   instead while it is the database's only user, and returns the file to WAL when it closes.
//! - 16 KiB pages ([`PAGE_SIZE`]) in a database this adapter creates; one made with another
//!   size keeps it.
//! - The log's events are narrow rows (seq, workspace, message id, profile) with their bodies
//!   in compressed blocks of consecutive events (`blocks.rs`).
//! - One writer (a single-connection pool: SQLite has one writer anyway, and taking turns in
//!   process is cheaper than `SQLITE_BUSY` retries) and a pool of readers.
//! - Migrations in `migrations/`, embedded with `sqlx::migrate!` and run on connect.
//! - Runtime queries only (no `DATABASE_URL` at build time); driver errors are mapped to
//!   [`StoreError`] here.
//! - The multi-row writes of a transaction that any error abandons (appends, a processing
//!   batch's profiles, identity links, orders, transitions and event profiles) are `OR FAIL`:
//!   a failing statement then keeps the rows it wrote before the failure, which the rollback
//!   discards anyway, and SQLite keeps no statement journal for it (a copy of every page the
//!   statement touches, only needed to undo a statement on its own).
//!
//! SQLite runs one job worker per database file: when the job queue comes, claiming is a plain
//! `UPDATE … RETURNING` on the writer (PostgreSQL uses `FOR UPDATE SKIP LOCKED`).

mod append;
mod blocks;
mod checkpoint;
mod counts;
mod rows;

use std::str::FromStr;
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
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Arguments, Row, Sqlite, Transaction};

use crate::blocks::EVENT_COLUMNS;
use crate::checkpoint::Checkpointer;
use crate::counts::Tally;
use crate::rows::{KEY_COLUMNS, MODEL_COLUMNS, ORDER_COLUMNS, PROFILE_COLUMNS};

/// Event-profile pairs per `UPDATE` statement (one JSON text each).
const ASSIGN_CHUNK: usize = 10_000;

/// The page size of a database this adapter creates (SQLite's default is 4 KiB). Rows of the
/// log and of profiles are a few hundred bytes and are written in large batches: with more
/// rows a page, a batch splits fewer B-tree pages and writes fewer, larger WAL frames. 16 KiB
/// imported faster than 8 KiB, and 8 KiB than 4 KiB; HTTP ingest did not change
/// (`docs/benchmarks.md`, ninth session). SQLite sets it only on an empty database: an
/// existing file keeps its own.
pub const PAGE_SIZE: u32 = 16_384;

/// Listings return at most this many items per page.
const MAX_PAGE: u32 = 1000;

/// How a commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// fsync the WAL on every commit: an acknowledged write survives power loss (the default).
    Full,
    /// fsync only at checkpoints and at [`Store::sync`]: a write survives a crash of the
    /// process, and one of the machine once a sync has returned after it (what `embudo import`
    /// uses; see `docs/benchmarks.md`).
    Normal,
}

/// How commits are journaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journal {
    /// Write-ahead log: readers and the writer never wait for each other (the default).
    Wal,
    /// For a bulk load: when no other connection has the database open, a rollback journal
    /// (`TRUNCATE`) with every commit flushed (`synchronous = FULL`) until [`SqliteStore::close`]
    /// returns the file to WAL; otherwise WAL, as [`Journal::Wal`].
    ///
    /// A commit then writes its new pages once, into the database file. Under WAL it writes
    /// them to the log, and a checkpoint copies them into the file: for an import of millions
    /// of events that was twice the database's size in copies, and a tenth of the process's
    /// time (`docs/benchmarks.md`, fourteenth session). Readers wait while a commit writes
    /// the file, which is why the mode is taken only by a store that is alone. If another
    /// process opens the database meanwhile and turns WAL on again, the load goes on in WAL,
    /// its commits still flushed.
    BulkLoad,
}

/// Connection settings; [`SqliteOptions::default`] is what `connect` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    pub synchronous: Synchronous,
    pub journal: Journal,
    /// Reader connections (files only; an in-memory database has one connection).
    pub read_connections: u32,
    /// How long to wait for another process's lock before failing with
    /// [`StoreError::Unavailable`].
    pub busy_timeout: Duration,
    /// Page cache of the writing connection, in MiB. A processing step rewrites profiles and
    /// their indexes all over the file: with SQLite's default (2 MiB) the cache spills pages
    /// to the WAL mid-transaction and reads them back.
    pub write_cache_mib: u32,
}

impl Default for SqliteOptions {
    fn default() -> SqliteOptions {
        SqliteOptions {
            synchronous: Synchronous::Full,
            journal: Journal::Wal,
            read_connections: 4,
            busy_timeout: Duration::from_secs(5),
            write_cache_mib: 64,
        }
    }
}

impl SqliteOptions {
    /// What a bulk load (`embudo import`) opens: a rollback journal while it is the file's
    /// only user ([`Journal::BulkLoad`]), else WAL with flushes deferred to checkpoints and to
    /// [`Store::sync`], which the load calls before it reports what it stored.
    pub fn bulk_load() -> SqliteOptions {
        SqliteOptions {
            synchronous: Synchronous::Normal,
            journal: Journal::BulkLoad,
            ..SqliteOptions::default()
        }
    }
}

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Checkpoints beside the writer (files only).
    checkpointer: Option<Checkpointer>,
    /// Appends, to the group-commit writer task (`append::Writer`).
    appends: Appends<append::EventRow>,
    /// A bulk load took the database out of WAL into a rollback journal ([`Journal::BulkLoad`]).
    rollback: bool,
}

/// How long opening a database waits while another process holds it locked.
const OPEN_WAIT: Duration = Duration::from_secs(60);

/// Opens the writer's pool, whose first connection turns WAL on. That takes the database's
/// exclusive lock when the file is in a rollback journal, which a bulk load holding it
/// ([`Journal::BulkLoad`]) leaves free only between two of its statements, and SQLite refuses
/// at once rather than wait for it. So a refusal is tried again, every 50 ms for up to
/// [`OPEN_WAIT`]; an import gives way within about a second.
async fn open_writer(
    pool: SqlitePoolOptions,
    connect: SqliteConnectOptions,
) -> StoreResult<SqlitePool> {
    let started = std::time::Instant::now();
    let mut told = false;
    loop {
        match pool.clone().connect_with(connect.clone()).await {
            Ok(writer) => return Ok(writer),
            Err(error) if is_locked(&error) && started.elapsed() < OPEN_WAIT => {
                if !told {
                    tracing::info!(%error, "waiting for the database: another process holds it locked");
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => return Err(map_err(error)),
        }
    }
}

/// Takes the database out of WAL into a rollback journal, every commit flushed, if no other
/// connection has it open; says whether it did. Tried without waiting: SQLite refuses the
/// switch while another connection holds the file, and waiting would only delay the load.
async fn leave_wal(writer: &SqlitePool, busy_timeout: Duration) -> StoreResult<bool> {
    let mut connection = writer.acquire().await.map_err(map_err)?;
    sqlx::query("PRAGMA busy_timeout = 0")
        .execute(&mut *connection)
        .await
        .map_err(map_err)?;
    let switched = sqlx::query_scalar::<_, String>("PRAGMA journal_mode = TRUNCATE")
        .fetch_one(&mut *connection)
        .await;
    sqlx::query(&format!(
        "PRAGMA busy_timeout = {}",
        busy_timeout.as_millis()
    ))
    .execute(&mut *connection)
    .await
    .map_err(map_err)?;
    match switched {
        Ok(mode) if mode.eq_ignore_ascii_case("truncate") => {
            sqlx::query("PRAGMA synchronous = FULL")
                .execute(&mut *connection)
                .await
                .map_err(map_err)?;
            tracing::debug!("bulk load: rollback journal");
            Ok(true)
        }
        Ok(mode) => {
            tracing::info!(%mode, "bulk load: the journal stays as it is");
            Ok(false)
        }
        Err(error) => match map_err(error) {
            StoreError::Unavailable(reason) => {
                tracing::info!(
                    %reason,
                    "bulk load: another connection has the database open, staying in WAL"
                );
                Ok(false)
            }
            other => Err(other),
        },
    }
}

/// Maps a driver error to the port's error.
pub(crate) fn map_err(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable(error.to_string())
        }
        sqlx::Error::Io(_) => StoreError::Unavailable(error.to_string()),
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                return StoreError::Conflict(db.message().to_owned());
            }
            if is_locked(&error) {
                StoreError::Unavailable(db.message().to_owned())
            } else {
                StoreError::Other(Box::new(error))
            }
        }
        _ => StoreError::Other(Box::new(error)),
    }
}

/// `SQLITE_BUSY` or `SQLITE_LOCKED`, with their extended codes.
fn is_locked(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    let code = db.code().and_then(|code| code.parse::<i32>().ok());
    matches!(code.map(|code| code & 0xff), Some(5 | 6))
}

/// A write transaction. `BEGIN IMMEDIATE` takes the database's write lock at once, waiting up
/// to the busy timeout while another process holds it. A deferred `BEGIN` would take it at the
/// first write, and a transaction that read first then fails with `SQLITE_BUSY`, without
/// waiting, when another process committed meanwhile.
pub(crate) async fn begin_write(
    writer: &SqlitePool,
) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    writer.begin_with("BEGIN IMMEDIATE").await
}

/// `Conflict` with a clearer message, other errors as they are.
pub(crate) fn conflict_as(error: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match map_err(error) {
        StoreError::Conflict(_) => StoreError::Conflict(message()),
        other => other,
    }
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `url` (`sqlite://path`, `sqlite:path`, or
    /// `sqlite::memory:`) and runs the migrations.
    pub async fn connect(url: &str) -> StoreResult<SqliteStore> {
        SqliteStore::connect_with(url, SqliteOptions::default()).await
    }

    pub async fn connect_with(url: &str, options: SqliteOptions) -> StoreResult<SqliteStore> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|error| StoreError::Invalid(format!("not a SQLite URL {url:?}: {error}")))?
            .create_if_missing(true)
            .page_size(PAGE_SIZE)
            .synchronous(match options.synchronous {
                Synchronous::Full => SqliteSynchronous::Full,
                Synchronous::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true)
            .statement_cache_capacity(256);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        // A negative cache_size is in KiB.
        let write_cache = format!("-{}", u64::from(options.write_cache_mib.max(1)) * 1024);
        // Only the writer sets the journal mode: a connection follows the file's, and one that
        // asked for WAL would take a bulk load's database back to it.
        let mut writer_connect = connect
            .clone()
            .journal_mode(SqliteJournalMode::Wal)
            .pragma("cache_size", write_cache);
        if !in_memory {
            // Checkpoints run beside the writer (`checkpoint`).
            writer_connect = writer_connect.pragma(
                "wal_autocheckpoint",
                checkpoint::WRITER_AUTOCHECKPOINT.to_string(),
            );
        }
        // An in-memory database lives as long as its one connection: keep it forever.
        let writer_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(usize::from(in_memory) as u32)
            .idle_timeout(None)
            .max_lifetime(None);
        let writer = open_writer(writer_pool, writer_connect).await?;
        sqlx::migrate!("./migrations")
            .run(&writer)
            .await
            .map_err(|error| {
                StoreError::other(format!("migrating the SQLite database: {error}"))
            })?;
        // Before any other connection of this store opens: an open one would hold the switch
        // back.
        let rollback = !in_memory
            && options.journal == Journal::BulkLoad
            && leave_wal(&writer, options.busy_timeout).await?;
        let (reader, checkpointer) = if in_memory {
            (writer.clone(), None)
        } else {
            let reader = SqlitePoolOptions::new()
                .max_connections(options.read_connections.max(1))
                .connect_with(connect.clone().read_only(true))
                .await
                .map_err(map_err)?;
            let checkpointer = if rollback {
                None
            } else {
                let checkpoints = SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(connect)
                    .await
                    .map_err(map_err)?;
                Some(Checkpointer::start(checkpoints))
            };
            (reader, checkpointer)
        };
        let appends = Appends::start(
            append::Writer {
                pool: writer.clone(),
                checkpointer: checkpointer.clone(),
            },
            "SQLite",
        );
        Ok(SqliteStore {
            writer,
            reader,
            checkpointer,
            appends,
            rollback,
        })
    }

    /// After a commit: the WAL has grown.
    fn committed(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.nudge();
        }
    }

    /// Follows `merged_into`: the live id for `id`, if the workspace has that profile.
    async fn live_id(&self, workspace: WorkspaceId, id: ProfileId) -> StoreResult<Option<i64>> {
        sqlx::query_scalar(
            "SELECT COALESCE(merged_into, id) FROM profiles WHERE workspace_id = ? AND id = ?",
        )
        .bind(workspace.0)
        .bind(id.0)
        .fetch_optional(&self.reader)
        .await
        .map_err(map_err)
    }

    async fn profile_row(
        &self,
        workspace: WorkspaceId,
        id: i64,
    ) -> StoreResult<Option<ProfileRecord>> {
        let sql =
            format!("SELECT {PROFILE_COLUMNS} FROM profiles WHERE workspace_id = ? AND id = ?");
        sqlx::query(&sql)
            .bind(workspace.0)
            .bind(id)
            .fetch_optional(&self.reader)
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

/// A query with its bound values.
pub(crate) type Query<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn bind_all<'q>(mut query: Query<'q>, binds: Vec<Bind>) -> Query<'q> {
    for bind in binds {
        query = match bind {
            Bind::Int(value) => query.bind(value),
            Bind::Float(value) => query.bind(value),
            Bind::Text(value) => query.bind(value),
        };
    }
    query
}

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

/// `n_rows` groups of `n_columns` placeholders: `(?,?),(?,?)`.
pub(crate) fn placeholders(n_rows: usize, n_columns: usize) -> String {
    let mut row = String::with_capacity(2 * n_columns + 1);
    row.push('(');
    for column in 0..n_columns {
        if column > 0 {
            row.push(',');
        }
        row.push('?');
    }
    row.push(')');
    rows_of(n_rows, &row)
}

/// `row` `n_rows` times, comma-separated: the `VALUES` of a multi-row statement.
pub(crate) fn rows_of(n_rows: usize, row: &str) -> String {
    let mut out = String::with_capacity(n_rows * (row.len() + 1));
    for index in 0..n_rows {
        if index > 0 {
            out.push(',');
        }
        out.push_str(row);
    }
    out
}

/// The sizes of the chunks a multi-row write of `n_rows` rows is cut into: `chunk` rows, then
/// the rest in powers of two, largest first (a rest of 300 is 256, 32, 8 and 4). sqlx prepares
/// a statement once per text and caches it, so a write's statements are then among a few dozen
/// texts that every batch shares; a rest of whatever size is left over would be a new text,
/// parsed again for each batch (a 300-row upsert of profiles has 6,300 parameters).
pub(crate) fn chunk_sizes(n_rows: usize, chunk: usize) -> impl Iterator<Item = usize> {
    let chunk = chunk.max(1);
    let rest = n_rows % chunk;
    std::iter::repeat_n(chunk, n_rows / chunk).chain(
        (0..usize::BITS)
            .rev()
            .map(|bit| 1_usize << bit)
            .filter(move |size| rest & size != 0),
    )
}

/// `items` cut as [`chunk_sizes`] says.
pub(crate) fn chunks<T>(items: &[T], chunk: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    chunk_sizes(items.len(), chunk).map(move |n_rows| {
        let (head, tail) = rest.split_at(n_rows);
        rest = tail;
        head
    })
}

/// The texts of a multi-row statement for each chunk size of [`chunk_sizes`], with their
/// numbers of bound values.
pub(crate) struct Statements {
    texts: Vec<(usize, String, usize)>,
}

impl Statements {
    pub(crate) fn new(n_rows: usize, chunk: usize, sql: impl Fn(usize) -> String) -> Statements {
        let mut sizes: Vec<usize> = chunk_sizes(n_rows, chunk).collect();
        sizes.dedup();
        Statements {
            texts: sizes
                .into_iter()
                .map(|n| {
                    let text = sql(n);
                    let n_values = text.matches('?').count();
                    (n, text, n_values)
                })
                .collect(),
        }
    }

    /// The statement for a chunk of `n_rows` rows, one of the sizes [`chunk_sizes`] gave. Its
    /// arguments have room for every value: grown one bind at a time, a chunk's thousands of
    /// values were copied over and over into fresh memory.
    pub(crate) fn query(&self, n_rows: usize) -> Query<'_> {
        let (_, text, n_values) = self
            .texts
            .iter()
            .find(|(size, _, _)| *size == n_rows)
            .expect("a chunk size of the same write");
        let mut arguments = SqliteArguments::default();
        arguments.reserve(*n_values, 0);
        sqlx::query_with(text, arguments)
    }
}

/// Rows per multi-row statement when committing a processing batch (at most 21 bound values a
/// row; SQLite allows 32766 a statement). One statement a chunk instead of one a row: each
/// statement is a round trip to the connection's thread.
const WRITE_CHUNK: usize = 500;

/// Writes a batch's profiles: the ones it creates inserted, the others upserted.
///
/// An upsert's `DO UPDATE` may abort halfway through its rows, so SQLite keeps a statement
/// journal for it: a copy of every page the statement changes. A plain `INSERT OR FAIL` needs
/// none, and nearly every profile an import writes is new (its writing thread −1.5 %).
///
/// Their changes to the phase counts go into `tally`: the rows the upserts replace are read
/// first.
async fn write_profiles(
    tx: &mut Transaction<'_, Sqlite>,
    batch: &ProcessingBatch,
    tally: &mut Tally,
) -> StoreResult<()> {
    let (new, stored) = embudo_store::created_and_stored(batch, &batch.profiles);
    match insert_profiles(tx, &new, ProfileWrite::Insert).await {
        Err(StoreError::Conflict(_)) => return Err(StoreError::created_profile_stored()),
        other => other?,
    }
    tally.replaced(tx, &stored).await?;
    insert_profiles(tx, &stored, ProfileWrite::Upsert).await?;
    tally.written(&new);
    tally.written(&stored);
    Ok(())
}

/// How [`insert_profiles`] writes its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProfileWrite {
    /// Profiles not stored yet: a stored one fails the statement.
    Insert,
    /// Profiles that may be stored: a stored one is updated, when its workspace is the same.
    Upsert,
}

/// Inserts or upserts profiles, one statement per chunk, each chunk encoded and bound while
/// the connection's thread writes the one before it. A profile id held by another workspace
/// fails the batch with an error naming it.
async fn insert_profiles(
    tx: &mut Transaction<'_, Sqlite>,
    profiles: &[&ProfileRecord],
    write: ProfileWrite,
) -> StoreResult<()> {
    let statements = Statements::new(profiles.len(), WRITE_CHUNK, |n_rows| {
        let insert = format!(
            "INSERT OR FAIL INTO profiles (id, workspace_id, user_id, email, anonymous_ids, \
             traits, aggregates, state, phase, substate, stage, confidence, intent, p_alive, clv, \
             audiences, first_seen, last_seen, created_at, updated_at, merged_into) VALUES {}",
            placeholders(n_rows, 21)
        );
        if write == ProfileWrite::Insert {
            return insert;
        }
        format!(
            "{insert} ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, \
             email = excluded.email, anonymous_ids = excluded.anonymous_ids, \
             traits = excluded.traits, aggregates = excluded.aggregates, \
             state = excluded.state, phase = excluded.phase, \
             substate = excluded.substate, stage = excluded.stage, \
             confidence = excluded.confidence, intent = excluded.intent, \
             p_alive = excluded.p_alive, clv = excluded.clv, audiences = excluded.audiences, \
             first_seen = excluded.first_seen, last_seen = excluded.last_seen, \
             created_at = excluded.created_at, updated_at = excluded.updated_at, \
             merged_into = excluded.merged_into \
             WHERE profiles.workspace_id = excluded.workspace_id"
        )
    });
    // Owned values: borrowed ones would be copied on their way to the connection's thread.
    let mut queries = chunks(profiles, WRITE_CHUNK).map(|chunk| {
        let mut query = statements.query(chunk.len());
        for profile in chunk {
            let summary = &profile.summary;
            query = query
                .bind(profile.id.0)
                .bind(profile.workspace_id.0)
                .bind(profile.user_id.clone())
                .bind(profile.email.clone())
                .bind(json::strings_to_json(&profile.anonymous_ids))
                .bind(json::traits_to_json(&profile.traits))
                .bind(json::aggregates_to_json(&profile.aggregates))
                .bind(profile.state.clone())
                .bind(summary.phase.clone())
                .bind(summary.substate.clone())
                .bind(summary.stage.clone())
                .bind(summary.confidence)
                .bind(summary.intent)
                .bind(summary.p_alive)
                .bind(summary.clv)
                .bind(json::strings_to_json(&summary.audiences))
                .bind(profile.first_seen.as_millis())
                .bind(profile.last_seen.as_millis())
                .bind(profile.created_at.as_millis())
                .bind(profile.updated_at.as_millis())
                .bind(profile.merged_into.map(|id| id.0));
        }
        (chunk, query)
    });
    let mut next = queries.next();
    while let Some((chunk, query)) = next.take() {
        // `join!` polls the upsert first: its statement is on its way to the connection's
        // thread while the next one is bound.
        let (result, bound) = tokio::join!(query.execute(&mut **tx), async { queries.next() });
        let result = result.map_err(map_err)?;
        if result.rows_affected() != chunk.len() as u64 {
            let foreign = first_found(
                tx,
                "SELECT 1 FROM profiles WHERE id = ?1 AND workspace_id <> ?2",
                chunk.iter().map(|p| (p.id.0, p.workspace_id.0)).collect(),
            )
            .await?;
            return Err(StoreError::foreign_profile(foreign.map(|(id, _)| id)));
        }
        next = bound;
    }
    Ok(())
}

/// Links identities to profiles, one statement per chunk; the last link of an identity wins. A
/// link to a profile its workspace does not have fails the batch with an error naming it.
/// When the batch wrote every linked profile itself (`profiles_written`: its upserts checked
/// their workspaces), the links are inserted without looking the profiles up.
///
/// Each chunk is inserted `ON CONFLICT DO NOTHING`: nearly every link is a new identity, and an
/// upsert's `DO UPDATE` would make SQLite keep a statement journal (see [`write_profiles`]).
/// A chunk that found some of its identities stored is then applied again as an update, which
/// re-points those and checks that every link holds.
async fn link_identities(
    tx: &mut Transaction<'_, Sqlite>,
    links: &[IdentityLink],
    profiles_written: bool,
) -> StoreResult<()> {
    let links = embudo_store::final_identity_links(links);
    let inserts = Statements::new(links.len(), WRITE_CHUNK, |n_rows| {
        if profiles_written {
            format!(
                "INSERT OR FAIL INTO identities (kind, value, workspace_id, profile_id) \
                 VALUES {} ON CONFLICT DO NOTHING",
                placeholders(n_rows, 4)
            )
        } else {
            // `WHERE true` tells SQLite's parser that ON CONFLICT belongs to the INSERT.
            format!(
                "INSERT OR FAIL INTO identities (workspace_id, kind, value, profile_id) \
                 SELECT p.workspace_id, v.column1, v.column2, p.id FROM (VALUES {}) AS v \
                 JOIN profiles p ON p.workspace_id = v.column3 AND p.id = v.column4 \
                 WHERE true ON CONFLICT DO NOTHING",
                placeholders(n_rows, 4)
            )
        }
    });
    fn bind<'q>(mut query: Query<'q>, chunk: &[&'q IdentityLink]) -> Query<'q> {
        for link in chunk {
            query = query
                .bind(link.kind.as_str())
                .bind(link.value.as_str())
                .bind(link.workspace_id.0)
                .bind(link.profile_id.0);
        }
        query
    }
    for chunk in chunks(&links, WRITE_CHUNK) {
        let query = bind(inserts.query(chunk.len()), chunk);
        let result = query.execute(&mut **tx).await.map_err(map_err)?;
        if result.rows_affected() == chunk.len() as u64 {
            continue;
        }
        // Every link whose profile the workspace has now has a row: set them all.
        let update = Statements::new(chunk.len(), WRITE_CHUNK, |n_rows| {
            format!(
                "UPDATE OR FAIL identities SET profile_id = v.column4 FROM (VALUES {}) AS v \
                 WHERE identities.kind = v.column1 AND identities.value = v.column2 \
                 AND identities.workspace_id = v.column3 \
                 AND EXISTS (SELECT 1 FROM profiles p \
                 WHERE p.workspace_id = v.column3 AND p.id = v.column4)",
                placeholders(n_rows, 4)
            )
        });
        let query = bind(update.query(chunk.len()), chunk);
        let result = query.execute(&mut **tx).await.map_err(map_err)?;
        if result.rows_affected() != chunk.len() as u64 {
            let missing = first_found(
                tx,
                "SELECT 1 WHERE NOT EXISTS \
                 (SELECT 1 FROM profiles WHERE workspace_id = ?1 AND id = ?2)",
                chunk
                    .iter()
                    .map(|l| (l.workspace_id.0, l.profile_id.0))
                    .collect(),
            )
            .await?;
            return Err(StoreError::unlinked_identity(missing));
        }
    }
    Ok(())
}

/// Upserts order rows, one statement per chunk; the last row of an order wins.
async fn upsert_orders(
    tx: &mut Transaction<'_, Sqlite>,
    orders: &[OrderRecord],
) -> StoreResult<()> {
    let orders = embudo_store::final_orders(orders);
    let statements = Statements::new(orders.len(), WRITE_CHUNK, |n_rows| {
        format!(
            "INSERT OR FAIL INTO orders (workspace_id, order_id, profile_id, placed_at, \
             total, currency, lines, refunded, cancelled) VALUES {} \
             ON CONFLICT (workspace_id, order_id) DO UPDATE SET \
             profile_id = excluded.profile_id, placed_at = excluded.placed_at, \
             total = excluded.total, currency = excluded.currency, lines = excluded.lines, \
             refunded = excluded.refunded, cancelled = excluded.cancelled",
            placeholders(n_rows, 9)
        )
    });
    for chunk in chunks(&orders, WRITE_CHUNK) {
        let mut query = statements.query(chunk.len());
        for order in chunk {
            query = query
                .bind(order.workspace_id.0)
                .bind(order.order_id.as_str())
                .bind(order.profile_id.map(|id| id.0))
                .bind(order.placed_at.as_millis())
                .bind(order.total)
                .bind(order.currency.as_deref())
                .bind(json::lines_to_json(&order.lines))
                .bind(order.refunded)
                .bind(order.cancelled);
        }
        query.execute(&mut **tx).await.map_err(map_err)?;
    }
    Ok(())
}

/// Inserts transitions in the given order (ids follow it), one statement per chunk.
async fn insert_transitions(
    tx: &mut Transaction<'_, Sqlite>,
    transitions: &[TransitionRecord],
) -> StoreResult<()> {
    let statements = Statements::new(transitions.len(), WRITE_CHUNK, |n_rows| {
        format!(
            "INSERT OR FAIL INTO transitions (workspace_id, profile_id, dimension, from_value, \
             to_value, at, reason) VALUES {}",
            placeholders(n_rows, 7)
        )
    });
    for chunk in chunks(transitions, WRITE_CHUNK) {
        let mut query = statements.query(chunk.len());
        for transition in chunk {
            query = query
                .bind(transition.workspace_id.0)
                .bind(transition.profile_id.0)
                .bind(transition.dimension.as_str())
                .bind(transition.from.as_deref())
                .bind(transition.to.as_str())
                .bind(transition.at.as_millis())
                .bind(transition.reason.as_str());
        }
        query.execute(&mut **tx).await.map_err(map_err)?;
    }
    Ok(())
}

/// Sets each event's profile, in one statement per chunk. An event and a profile of different
/// workspaces (or an unknown one) fail the batch with an error naming them.
async fn assign_event_profiles(
    tx: &mut Transaction<'_, Sqlite>,
    assignments: &[(i64, ProfileId)],
) -> StoreResult<()> {
    let assignments = embudo_store::final_event_profiles(assignments);
    for chunk in assignments.chunks(ASSIGN_CHUNK) {
        let mut pairs = String::with_capacity(chunk.len() * 24);
        pairs.push('[');
        for (index, (seq, profile)) in chunk.iter().enumerate() {
            if index > 0 {
                pairs.push(',');
            }
            pairs.push_str(&format!("[{seq},{}]", profile.0));
        }
        pairs.push(']');
        let result = sqlx::query(
            "UPDATE OR FAIL events SET profile_id = pairs.profile_id FROM \
             (SELECT value ->> 0 AS seq, value ->> 1 AS profile_id FROM json_each(?)) AS pairs \
             JOIN profiles ON profiles.id = pairs.profile_id \
             WHERE events.seq = pairs.seq AND events.workspace_id = profiles.workspace_id",
        )
        .bind(pairs)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
        if result.rows_affected() != chunk.len() as u64 {
            let mismatched = first_found(
                tx,
                "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM events JOIN profiles \
                 ON profiles.id = ?2 WHERE events.seq = ?1 \
                 AND events.workspace_id = profiles.workspace_id)",
                chunk
                    .iter()
                    .map(|&(seq, profile)| (seq, profile.0))
                    .collect(),
            )
            .await?;
            return Err(StoreError::Invalid(match mismatched {
                Some((seq, profile)) => {
                    format!("event {seq} and profile {profile} are not in one workspace")
                }
                None => "an event's profile could not be set".to_owned(),
            }));
        }
    }
    Ok(())
}

/// Whether [`write_processing`] sets the events' profiles (they are in the log already) or
/// they were inserted with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventProfiles {
    Assign,
    Inserted,
}

/// A processing batch's writes and the cursor's move, in `tx`: checks that the cursor is at
/// `batch.cursor_from` first.
async fn write_processing(
    tx: &mut Transaction<'_, Sqlite>,
    batch: &ProcessingBatch,
    events: EventProfiles,
) -> StoreResult<()> {
    let current: Option<i64> = sqlx::query_scalar("SELECT seq FROM cursors WHERE name = ?")
        .bind(&batch.cursor_name)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_err)?;
    let current = current.unwrap_or(0);
    if current != batch.cursor_from {
        return Err(StoreError::Conflict(format!(
            "cursor {:?} is at {current}, not {}",
            batch.cursor_name, batch.cursor_from
        )));
    }
    let mut tally = Tally::default();
    write_profiles(tx, batch, &mut tally).await?;
    let profiles_written = embudo_store::batch_writes_linked_profiles(batch);
    link_identities(tx, &batch.identities, profiles_written).await?;
    if events == EventProfiles::Assign {
        assign_event_profiles(tx, &batch.event_profiles).await?;
    }
    upsert_orders(tx, &batch.orders).await?;
    insert_transitions(tx, &batch.transitions).await?;
    for conflict in &batch.conflicts {
        let ids: Vec<i64> = conflict.conflicting.iter().map(|id| id.0).collect();
        sqlx::query(
            "INSERT INTO identity_conflicts (workspace_id, seq, profile_id, conflicting, \
             reason, at) VALUES (?,?,?,?,?,?)",
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
            "SELECT id FROM profiles WHERE workspace_id = ? AND id = ? AND merged_into IS NULL",
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
        tally
            .absorbed(tx, merge.workspace_id, merge.absorbed.0)
            .await?;
        let result = sqlx::query(
            "UPDATE profiles SET merged_into = ?1 \
             WHERE workspace_id = ?2 AND (id = ?3 OR merged_into = ?3)",
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
                "UPDATE {table} SET profile_id = ? WHERE workspace_id = ? AND profile_id = ?"
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
    tally.apply(tx).await?;
    sqlx::query(
        "INSERT INTO cursors (name, seq) VALUES (?, ?) \
         ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
    )
    .bind(&batch.cursor_name)
    .bind(batch.cursor_to)
    .execute(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// The first pair of integers for which `sql` (binding them as `?1`, `?2`) finds a row: names
/// the row that made a multi-row write fail (the caller rolls back).
async fn first_found(
    tx: &mut Transaction<'_, Sqlite>,
    sql: &str,
    pairs: Vec<(i64, i64)>,
) -> StoreResult<Option<(i64, i64)>> {
    for (first, second) in pairs {
        let found: Option<i64> = sqlx::query_scalar(sql)
            .bind(first)
            .bind(second)
            .fetch_optional(&mut **tx)
            .await
            .map_err(map_err)?;
        if found.is_some() {
            return Ok(Some((first, second)));
        }
    }
    Ok(None)
}

#[async_trait]
impl Store for SqliteStore {
    #[tracing::instrument(skip_all)]
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn sync(&self) -> StoreResult<()> {
        match &self.checkpointer {
            Some(checkpointer) => checkpointer.sync().await,
            None if self.rollback => {
                // Every commit in the rollback journal was flushed. Had the file gone back to
                // WAL meanwhile (another process opened it, or the writer reconnected), the
                // commits since are in the WAL: a checkpoint copies and flushes them. In a
                // rollback journal it reports nothing to copy (-1, -1).
                if checkpoint::copy_wal(&self.writer, checkpoint::Mode::Full).await? {
                    Ok(())
                } else {
                    Err(StoreError::Unavailable(
                        "the WAL could not be flushed: a checkpoint was held back".to_owned(),
                    ))
                }
            }
            // In memory: nothing reaches a disk.
            None => Ok(()),
        }
    }

    /// Closes the pools; a bulk load's database goes back to WAL first ([`Journal::BulkLoad`]).
    async fn close(&self) {
        self.reader.close().await;
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.close().await;
        }
        if self.rollback
            && let Err(error) = sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&self.writer)
                .await
        {
            // The next store that opens the file turns WAL on again.
            tracing::warn!(%error, "could not return the database to WAL");
        }
        self.writer.close().await;
    }

    #[tracing::instrument(skip_all, fields(n_keys = keys.len()))]
    async fn create_workspace(
        &self,
        name: &str,
        keys: &[NewKey],
        now: Timestamp,
    ) -> StoreResult<Workspace> {
        let mut tx = begin_write(&self.writer).await.map_err(map_err)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO workspaces (name, created_at) VALUES (?, ?) RETURNING id",
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
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::workspace)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(workspace = %id))]
    async fn workspace(&self, id: WorkspaceId) -> StoreResult<Option<Workspace>> {
        sqlx::query("SELECT id, name, created_at FROM workspaces WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&self.reader)
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
        let mut tx = begin_write(&self.writer).await.map_err(map_err)?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM workspaces WHERE id = ?")
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
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE workspace_id = ? ORDER BY id");
        sqlx::query(&sql)
            .bind(workspace.0)
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::key)
            .collect()
    }

    #[tracing::instrument(skip_all)]
    async fn find_key(&self, hash: &str) -> StoreResult<Option<KeyRecord>> {
        let sql =
            format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = ? AND revoked_at IS NULL");
        sqlx::query(&sql)
            .bind(hash)
            .fetch_optional(&self.reader)
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
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) \
             WHERE workspace_id = ? AND id = ?",
        )
        .bind(now.as_millis())
        .bind(workspace.0)
        .bind(key_id)
        .execute(&self.writer)
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
        self.appends
            .append(workspace, append::EventRow::encode_all(events))
            .await
    }

    #[tracing::instrument(skip_all, fields(after_seq, limit))]
    async fn read_log(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<LoggedEvent>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?");
        let rows = sqlx::query_as(&sql)
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        blocks::with_bodies(&self.reader, rows).await
    }

    #[tracing::instrument(skip_all)]
    async fn log_head(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)
    }

    #[tracing::instrument(skip_all, fields(after_seq, up_to))]
    async fn log_count(&self, after_seq: i64, up_to: i64) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE seq > ? AND seq <= ?")
            .bind(after_seq)
            .bind(up_to)
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)
    }

    #[tracing::instrument(skip_all, fields(cursor = name))]
    async fn cursor(&self, name: &str) -> StoreResult<i64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM cursors WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(seq.unwrap_or(0))
    }

    #[tracing::instrument(skip_all, fields(n))]
    async fn reserve_profile_ids(&self, n: u32) -> StoreResult<ProfileId> {
        let first: i64 = sqlx::query_scalar(
            "UPDATE counters SET next = next + ? WHERE name = 'profile_id' RETURNING next - ?",
        )
        .bind(i64::from(n))
        .bind(i64::from(n))
        .fetch_one(&self.writer)
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
            let rows = sqlx::query(
                "SELECT i.value, p.id, p.user_id FROM identities i \
                 JOIN profiles p ON p.workspace_id = i.workspace_id AND p.id = i.profile_id \
                 WHERE i.workspace_id = ? AND i.kind = ? \
                 AND i.value IN (SELECT value FROM json_each(?))",
            )
            .bind(workspace.0)
            .bind(kind.as_str())
            .bind(json::strings_to_json(values))
            .fetch_all(&self.reader)
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
            "SELECT {PROFILE_COLUMNS} FROM profiles WHERE workspace_id = ? \
             AND id IN (SELECT value FROM json_each(?))"
        );
        sqlx::query(&sql)
            .bind(workspace.0)
            .bind(json::ids_to_json(&ids))
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::profile)
            .collect()
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
        let mut tx = begin_write(&self.writer).await.map_err(map_err)?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM workspaces WHERE id = ?")
            .bind(workspace.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("workspace {workspace}")));
        }
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
        append::insert_processed(&mut tx, workspace, events, batch.cursor_from + 1, &profiles)
            .await?;
        write_processing(&mut tx, batch, EventProfiles::Inserted).await?;
        // Every event's profile is one its workspace has (merged ones included): the
        // batch's own profiles are (their upsert checked it), others are looked up.
        if !embudo_store::batch_writes_profiles(batch, workspace, &profiles) {
            let stray: Option<(i64, i64)> = sqlx::query_as(
                "SELECT e.seq, e.profile_id FROM events e WHERE e.seq > ? AND e.seq <= ? \
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
        self.committed();
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(
        cursor = %batch.cursor_name,
        cursor_to = batch.cursor_to,
        n_profiles = batch.profiles.len(),
        n_merges = batch.merges.len(),
    ))]
    async fn commit_processing(&self, batch: &ProcessingBatch) -> StoreResult<()> {
        let mut tx = begin_write(&self.writer).await.map_err(map_err)?;
        write_processing(&mut tx, batch, EventProfiles::Assign).await?;
        tx.commit().await.map_err(map_err)?;
        self.committed();
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
            "SELECT profile_id FROM identities WHERE workspace_id = ? AND kind = ? AND value = ?",
        )
        .bind(workspace.0)
        .bind(kind.as_str())
        .bind(value)
        .fetch_optional(&self.reader)
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
            "SELECT {PROFILE_COLUMNS} FROM profiles WHERE workspace_id = ? AND merged_into IS NULL"
        );
        let mut binds = vec![Bind::Int(workspace.0)];
        for (column, value) in [
            ("phase", &filter.phase),
            ("substate", &filter.substate),
            ("stage", &filter.stage),
        ] {
            if let Some(value) = value {
                base.push_str(&format!(" AND {column} = ?"));
                binds.push(Bind::Text(value.clone()));
            }
        }
        if let Some(audience) = &filter.audience {
            base.push_str(
                " AND EXISTS (SELECT 1 FROM json_each(profiles.audiences) WHERE json_each.value = ?)",
            );
            binds.push(Bind::Text(audience.clone()));
        }
        keyset::page(filter, limit, |part, wanted| {
            let sql = format!("{base}{} ORDER BY {} LIMIT ?", part.condition, part.order);
            let mut part_binds = binds.clone();
            part_binds.extend(part.values.into_iter().map(Bind::from));
            part_binds.push(Bind::Int(wanted));
            let reader = &self.reader;
            async move {
                let rows: Vec<SqliteRow> = bind_all(sqlx::query(&sql), part_binds)
                    .fetch_all(reader)
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
            "SELECT {EVENT_COLUMNS} FROM events WHERE workspace_id = ? AND profile_id = ? \
             AND seq < ? ORDER BY seq DESC LIMIT ?"
        );
        let rows = sqlx::query_as(&sql)
            .bind(workspace.0)
            .bind(live)
            .bind(before_seq.unwrap_or(i64::MAX))
            .bind(i64::from(limit.min(MAX_PAGE)))
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        blocks::with_bodies(&self.reader, rows).await
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
            "SELECT {ORDER_COLUMNS} FROM orders WHERE workspace_id = ? AND profile_id = ? \
             ORDER BY placed_at, order_id"
        );
        sqlx::query(&sql)
            .bind(workspace.0)
            .bind(live)
            .fetch_all(&self.reader)
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
            "SELECT {ORDER_COLUMNS} FROM orders WHERE workspace_id = ? AND placed_at >= ? \
             AND placed_at < ? ORDER BY placed_at, order_id"
        );
        sqlx::query(&sql)
            .bind(workspace.0)
            .bind(since.as_millis())
            .bind(until.as_millis())
            .fetch_all(&self.reader)
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
             FROM transitions WHERE workspace_id = ? AND profile_id = ? ORDER BY at, id",
        )
        .bind(workspace.0)
        .bind(live)
        .fetch_all(&self.reader)
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
             FROM identity_conflicts WHERE workspace_id = ? ORDER BY id",
        )
        .bind(workspace.0)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?
        .iter()
        .map(rows::conflict)
        .collect()
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace))]
    async fn phase_counts(&self, workspace: WorkspaceId) -> StoreResult<Vec<PhaseCount>> {
        let rows = sqlx::query(
            "SELECT phase, substate, stage, n FROM phase_counts \
             WHERE workspace_id = ? AND n > 0 ORDER BY phase, substate, stage",
        )
        .bind(workspace.0)
        .fetch_all(&self.reader)
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
        let mut tx = begin_write(&self.writer).await.map_err(map_err)?;
        // The one writer connection serializes saves, so versions never collide.
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM workspaces WHERE id = ?")
            .bind(workspace.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("workspace {workspace}")));
        }
        let version: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM models \
             WHERE workspace_id = ? AND kind = ?",
        )
        .bind(workspace.0)
        .bind(&model.kind)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO models (workspace_id, kind, version, built_at, report, payload) \
             VALUES (?, ?, ?, ?, ?, ?)",
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
        sqlx::query("DELETE FROM models WHERE workspace_id = ? AND kind = ? AND version <= ?")
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
             WHERE workspace_id = ? AND kind = ? ORDER BY version DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(workspace.0)
            .bind(kind)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::model).transpose()
    }

    #[tracing::instrument(skip_all, fields(workspace = %workspace))]
    async fn models(&self, workspace: WorkspaceId) -> StoreResult<Vec<ModelInfo>> {
        let sql = format!(
            "SELECT {MODEL_COLUMNS} FROM models WHERE workspace_id = ? \
             ORDER BY kind, version DESC"
        );
        sqlx::query(&sql)
            .bind(workspace.0)
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::model_info)
            .collect()
    }
}

async fn insert_key(
    tx: &mut Transaction<'_, Sqlite>,
    workspace: WorkspaceId,
    key: &NewKey,
    now: Timestamp,
) -> StoreResult<KeyRecord> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_keys (workspace_id, kind, hash, label, created_at) \
         VALUES (?, ?, ?, ?, ?) RETURNING id",
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

#[cfg(test)]
mod tests;
