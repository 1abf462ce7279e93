//! The storage port of embudo: one dyn-compatible [`Store`] trait, its row-shaped data types,
//! one error type, and helpers shared by the adapters (`embudo-store-sqlite`,
//! `embudo-store-postgres`).
//!
//! No driver crate is a dependency here; adapters map driver errors into [`StoreError`].
//!
//! # Invariants every adapter keeps (checked by `embudo-store-tests`)
//! - Every query that takes a [`WorkspaceId`] sees only that workspace's rows, whatever ids it
//!   is given.
//! - [`Store::append_events`] returns only after the events are committed and durable; a batch
//!   is atomic; `(workspace, message_id)` is stored once.
//! - Log sequence numbers are global, strictly increasing, and become visible in increasing
//!   order, so a reader following [`Store::read_log`] never skips an event.
//! - [`Store::commit_processing`] stores a whole [`ProcessingBatch`] and its cursor in one
//!   transaction, or nothing.

mod error;
pub mod group;
pub mod json;
pub mod keyset;
mod model;
mod validate;

use async_trait::async_trait;
use embudo_core::{Event, Timestamp};
use foldhash::HashMapExt;

pub use crate::error::{StoreError, StoreResult};
pub use crate::model::*;
pub use crate::validate::{MAX_ID_LEN, validate_event};

/// The storage port. Used as `Arc<dyn Store>`.
///
/// Lookups return `Ok(None)` for a missing row; [`StoreError::NotFound`] is for operations on a
/// row that must exist.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Makes every write that has returned so far durable. A store whose commits are durable
    /// when they return (PostgreSQL; SQLite with `synchronous = FULL`, the default) has nothing
    /// left to do; one that defers its flushes (SQLite with `synchronous = NORMAL`, what
    /// `embudo import` opens) flushes them.
    async fn sync(&self) -> StoreResult<()>;

    /// Closes the store's connections, waiting for those in use; call it once nothing uses the
    /// store any more. An SQLite store that a bulk load took out of WAL returns the file to
    /// it here.
    async fn close(&self);

    // -- Workspaces and keys ------------------------------------------------------------------

    /// Creates a workspace with its first keys, atomically. A taken name or key hash is a
    /// [`StoreError::Conflict`].
    async fn create_workspace(
        &self,
        name: &str,
        keys: &[NewKey],
        now: Timestamp,
    ) -> StoreResult<Workspace>;

    /// All workspaces, by id.
    async fn workspaces(&self) -> StoreResult<Vec<Workspace>>;

    async fn workspace(&self, id: WorkspaceId) -> StoreResult<Option<Workspace>>;

    /// Adds a key; a taken hash is a [`StoreError::Conflict`], an unknown workspace
    /// [`StoreError::NotFound`].
    async fn add_key(
        &self,
        workspace: WorkspaceId,
        key: &NewKey,
        now: Timestamp,
    ) -> StoreResult<KeyRecord>;

    /// The workspace's keys (revoked ones included), by id.
    async fn keys(&self, workspace: WorkspaceId) -> StoreResult<Vec<KeyRecord>>;

    /// The active (not revoked) key with this hash.
    async fn find_key(&self, hash: &str) -> StoreResult<Option<KeyRecord>>;

    /// Revokes a key of this workspace; [`StoreError::NotFound`] if it has no such key.
    /// Revoking twice keeps the first time.
    async fn revoke_key(
        &self,
        workspace: WorkspaceId,
        key_id: i64,
        now: Timestamp,
    ) -> StoreResult<()>;

    // -- The event log ------------------------------------------------------------------------

    /// Appends events, atomically and durably, one status per event in input order. An event
    /// whose `(workspace, message_id)` is already stored (or appears earlier in `events`) is a
    /// [`AppendStatus::Duplicate`]. Events failing [`validate_event`] make the whole call fail
    /// with [`StoreError::Invalid`] naming the index, and nothing is written: callers that want
    /// to keep the good events of a batch validate first. Large batches (thousands, for
    /// imports) are expected and fast.
    async fn append_events(
        &self,
        workspace: WorkspaceId,
        events: &[Event],
    ) -> StoreResult<Vec<AppendStatus>>;

    /// Events of all workspaces with `seq > after_seq`, by seq, at most `limit`.
    async fn read_log(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<LoggedEvent>>;

    /// The highest seq stored (0 when the log is empty).
    async fn log_head(&self) -> StoreResult<i64>;

    /// How many events (of all workspaces) have `after_seq < seq <= up_to`: lets a caller that
    /// holds events it just appended know whether they are all of the log in that range.
    async fn log_count(&self, after_seq: i64, up_to: i64) -> StoreResult<i64>;

    // -- Processing ---------------------------------------------------------------------------

    /// The named processor's cursor: the last seq it committed (0 at first).
    async fn cursor(&self, name: &str) -> StoreResult<i64>;

    /// Reserves `n` consecutive profile ids and returns the first. Reserved ids are never handed
    /// out again, used or not.
    async fn reserve_profile_ids(&self, n: u32) -> StoreResult<ProfileId>;

    /// The live profiles holding any of these identities, one match per identity found.
    async fn candidates(
        &self,
        workspace: WorkspaceId,
        query: IdentityQuery<'_>,
    ) -> StoreResult<Vec<IdentityMatch>>;

    /// The profiles with these ids, as stored (merged ones included), in no particular order;
    /// unknown ids are left out.
    async fn load_profiles(
        &self,
        workspace: WorkspaceId,
        ids: &[ProfileId],
    ) -> StoreResult<Vec<ProfileRecord>>;

    /// Appends `events` as the seqs `batch.cursor_from + 1 ..= batch.cursor_to`, in order,
    /// each with the profile `batch.event_profiles` gives it, and commits `batch` (as
    /// [`Store::commit_processing`] does), all in one transaction: the path of an importer
    /// that processes what it appends, so that no event is written twice. Fails with
    /// [`StoreError::Conflict`], writing nothing, when the log does not end at
    /// `batch.cursor_from`, when the cursor is not there, or when a message id of `events` is
    /// already stored (the caller then appends the ordinary way, which de-duplicates). Events
    /// are validated as [`Store::append_events`] does; an event without a profile, or with a
    /// profile its workspace does not have, fails with [`StoreError::Invalid`]; an unknown
    /// workspace with [`StoreError::NotFound`].
    async fn append_processed(
        &self,
        workspace: WorkspaceId,
        events: &[Event],
        batch: &ProcessingBatch,
    ) -> StoreResult<()>;

    /// Commits a processing batch and moves the cursor, in one transaction. Fails with
    /// [`StoreError::Conflict`] (writing nothing) when the cursor is no longer
    /// `batch.cursor_from`. Every record's workspace must exist.
    async fn commit_processing(&self, batch: &ProcessingBatch) -> StoreResult<()>;

    // -- Reads --------------------------------------------------------------------------------

    /// A profile; a merged-away id leads to its survivor.
    async fn profile(
        &self,
        workspace: WorkspaceId,
        id: ProfileId,
    ) -> StoreResult<Option<ProfileRecord>>;

    /// The live profile holding this identity.
    async fn profile_by_identity(
        &self,
        workspace: WorkspaceId,
        kind: IdentityKind,
        value: &str,
    ) -> StoreResult<Option<ProfileRecord>>;

    /// Lists live profiles, filtered and sorted, one keyset page at a time.
    async fn list_profiles(
        &self,
        workspace: WorkspaceId,
        filter: &ProfileFilter,
    ) -> StoreResult<Page<ProfileRecord>>;

    /// A profile's events (those of profiles merged into it included), newest first, with
    /// `seq < before_seq` when given, at most `limit`. A merged-away id leads to its survivor.
    async fn profile_events(
        &self,
        workspace: WorkspaceId,
        profile: ProfileId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<LoggedEvent>>;

    /// A profile's orders, by `placed_at`. A merged-away id leads to its survivor.
    async fn profile_orders(
        &self,
        workspace: WorkspaceId,
        profile: ProfileId,
    ) -> StoreResult<Vec<OrderRecord>>;

    /// Orders placed in `[since, until)`, by `placed_at` then order id (for model building).
    async fn orders(
        &self,
        workspace: WorkspaceId,
        since: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<OrderRecord>>;

    /// A profile's transitions, oldest first. A merged-away id leads to its survivor.
    async fn transitions(
        &self,
        workspace: WorkspaceId,
        profile: ProfileId,
    ) -> StoreResult<Vec<TransitionRecord>>;

    /// The workspace's recorded identity conflicts, oldest first.
    async fn conflicts(&self, workspace: WorkspaceId) -> StoreResult<Vec<ConflictRecord>>;

    /// Live profiles counted by phase, sub-state and stage.
    async fn phase_counts(&self, workspace: WorkspaceId) -> StoreResult<Vec<PhaseCount>>;

    // -- Models -------------------------------------------------------------------------------

    /// Stores a model as the next version of its kind and returns its description; only the
    /// newest [`KEPT_MODEL_VERSIONS`] versions of a kind are kept. An unknown workspace is
    /// [`StoreError::NotFound`].
    async fn save_model(&self, workspace: WorkspaceId, model: &NewModel) -> StoreResult<ModelInfo>;

    /// The newest model of this kind, with its payload.
    async fn model(&self, workspace: WorkspaceId, kind: &str) -> StoreResult<Option<ModelRecord>>;

    /// The stored models' descriptions, by kind, newest version first.
    async fn models(&self, workspace: WorkspaceId) -> StoreResult<Vec<ModelInfo>>;
}

/// A batch's event-profile assignments with one per event, the last one given for an event
/// winning (as if they were applied in order), by seq: what adapters apply in one statement.
pub fn final_event_profiles(assignments: &[(i64, ProfileId)]) -> Vec<(i64, ProfileId)> {
    let last: std::collections::BTreeMap<i64, ProfileId> = assignments.iter().copied().collect();
    last.into_iter().collect()
}

/// The profile of each event of an [`Store::append_processed`] call, in seq order (the last
/// assignment given for a seq winning), after checking that `n_events` events cover the
/// batch's seqs and that each has a profile.
pub fn appended_event_profiles(
    batch: &ProcessingBatch,
    n_events: usize,
) -> StoreResult<Vec<ProfileId>> {
    let covered = batch.cursor_to - batch.cursor_from;
    if i64::try_from(n_events).ok() != Some(covered) {
        return Err(StoreError::Invalid(format!(
            "{n_events} events cannot be the seqs {}..={} of the batch",
            batch.cursor_from + 1,
            batch.cursor_to
        )));
    }
    let mut profiles = vec![None; n_events];
    for &(seq, profile) in &batch.event_profiles {
        let slot = usize::try_from(seq - batch.cursor_from - 1)
            .ok()
            .and_then(|index| profiles.get_mut(index))
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "event {seq} is given a profile but is not one of the batch's seqs"
                ))
            })?;
        *slot = Some(profile);
    }
    profiles
        .into_iter()
        .enumerate()
        .map(|(index, profile)| {
            profile.ok_or_else(|| {
                StoreError::Invalid(format!(
                    "event {} has no profile",
                    batch.cursor_from + 1 + index as i64
                ))
            })
        })
        .collect()
}

/// `profiles` (a batch's, or some of them) parted into the ones the batch creates
/// ([`ProcessingBatch::created`]), which an adapter inserts, and the others, which it upserts;
/// each part in the given order.
pub fn created_and_stored<'a>(
    batch: &ProcessingBatch,
    profiles: impl IntoIterator<Item = &'a ProfileRecord>,
) -> (Vec<&'a ProfileRecord>, Vec<&'a ProfileRecord>) {
    let created: foldhash::HashSet<ProfileId> = batch.created.iter().copied().collect();
    profiles
        .into_iter()
        .partition(|profile| created.contains(&profile.id))
}

/// Whether the batch itself writes each of `profiles` into `workspace`: then the batch's own
/// profile writes (which fail on a profile id of another workspace) show that every one is the
/// workspace's, and an adapter need not ask the database.
pub fn batch_writes_profiles(
    batch: &ProcessingBatch,
    workspace: WorkspaceId,
    profiles: &[ProfileId],
) -> bool {
    let written = written_profiles(batch);
    profiles
        .iter()
        .all(|&id| written.contains(&(workspace, id)))
}

/// Whether the batch itself writes the profile of each of its identity links, in the link's
/// workspace: then, as with [`batch_writes_profiles`], an adapter need not look the profiles up
/// to link to them.
pub fn batch_writes_linked_profiles(batch: &ProcessingBatch) -> bool {
    let written = written_profiles(batch);
    batch
        .identities
        .iter()
        .all(|link| written.contains(&(link.workspace_id, link.profile_id)))
}

/// The profiles a batch writes, each with its workspace. (This and the other sets and maps of
/// a batch's rows hash with foldhash, as the processing step's maps do: SipHash was a tenth of
/// the work of the threads that bind an import's statements.)
fn written_profiles(batch: &ProcessingBatch) -> foldhash::HashSet<(WorkspaceId, ProfileId)> {
    batch
        .profiles
        .iter()
        .map(|profile| (profile.workspace_id, profile.id))
        .collect()
}

/// A batch's identity links with one per identity, the last one given winning (as if they were
/// applied in order), in first-seen order: what adapters write in multi-row statements, whose
/// rows they may apply in any order.
pub fn final_identity_links(links: &[IdentityLink]) -> Vec<&IdentityLink> {
    let mut last: foldhash::HashMap<(WorkspaceId, IdentityKind, &str), usize> =
        foldhash::HashMap::with_capacity(links.len());
    for (index, link) in links.iter().enumerate() {
        last.insert((link.workspace_id, link.kind, link.value.as_str()), index);
    }
    links
        .iter()
        .enumerate()
        .filter(|(index, link)| {
            last.get(&(link.workspace_id, link.kind, link.value.as_str())) == Some(index)
        })
        .map(|(_, link)| link)
        .collect()
}

/// A batch's order rows with one per order, the last one given winning.
pub fn final_orders(orders: &[OrderRecord]) -> Vec<&OrderRecord> {
    let mut last: foldhash::HashMap<(WorkspaceId, &str), usize> =
        foldhash::HashMap::with_capacity(orders.len());
    for (index, order) in orders.iter().enumerate() {
        last.insert((order.workspace_id, order.order_id.as_str()), index);
    }
    orders
        .iter()
        .enumerate()
        .filter(|(index, order)| {
            last.get(&(order.workspace_id, order.order_id.as_str())) == Some(index)
        })
        .map(|(_, order)| order)
        .collect()
}

/// How many versions of each model kind [`Store::save_model`] keeps.
pub const KEPT_MODEL_VERSIONS: i64 = 5;

#[cfg(test)]
mod tests;
