//! Row-shaped plain data exchanged with the store.
//!
//! These types mirror tables, not domain concepts: the service converts between them and the
//! core types. Every record carries the [`WorkspaceId`] it belongs to.

use std::collections::BTreeMap;
use std::fmt;

use embudo_core::order::OrderLine;
use embudo_core::profile::Aggregates;
use embudo_core::{Event, Timestamp, Value};

/// A workspace (one shop) id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkspaceId(pub i64);

/// A profile id. Unique across workspaces (ids come from one counter), but every query still
/// takes the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProfileId(pub i64);

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for ProfileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

// ---------------------------------------------------------------------------------------------
// Workspaces and keys.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: WorkspaceId,
    /// Unique across the store.
    pub name: String,
    pub created_at: Timestamp,
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// Ingest only (Segment write key).
    Write,
    /// Read and manage through `/api/v1`.
    Admin,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Write => "write",
            KeyKind::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<KeyKind> {
        match text {
            "write" => Some(KeyKind::Write),
            "admin" => Some(KeyKind::Admin),
            _ => None,
        }
    }
}

/// A key to add. `hash` is the hash of the secret (hashing is the service's job); it is unique
/// across the store.
#[derive(Clone, PartialEq, Eq)]
pub struct NewKey {
    pub kind: KeyKind,
    pub hash: String,
    pub label: String,
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("kind", &self.kind)
            .field("hash", &"<redacted>")
            .field("label", &self.label)
            .finish()
    }
}

/// A stored key (its hash is never read back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub kind: KeyKind,
    pub label: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl KeyRecord {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

// ---------------------------------------------------------------------------------------------
// The event log.

/// The outcome of appending one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendStatus {
    /// Stored with this log sequence number.
    Inserted { seq: i64 },
    /// Its `(workspace, message_id)` was already stored (earlier, or earlier in the same batch);
    /// nothing was written for it.
    Duplicate,
}

/// An event as read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    /// Global, strictly increasing in commit order (a reader never sees a smaller seq appear
    /// after a larger one).
    pub seq: i64,
    pub workspace_id: WorkspaceId,
    pub event: Event,
    /// Set by processing; re-pointed to the survivor on merges.
    pub profile_id: Option<ProfileId>,
}

// ---------------------------------------------------------------------------------------------
// Identities.

/// The kind of an identity a profile holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IdentityKind {
    Anonymous,
    User,
    Email,
}

impl IdentityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Anonymous => "anonymous",
            IdentityKind::User => "user",
            IdentityKind::Email => "email",
        }
    }

    pub fn parse(text: &str) -> Option<IdentityKind> {
        match text {
            "anonymous" => Some(IdentityKind::Anonymous),
            "user" => Some(IdentityKind::User),
            "email" => Some(IdentityKind::Email),
            _ => None,
        }
    }

    /// How a candidate found through this kind matched (an alias's `previousId` is looked up
    /// as an anonymous or user id; the service relabels it).
    pub fn matched_by(self) -> embudo_core::identity::MatchedBy {
        use embudo_core::identity::MatchedBy;
        match self {
            IdentityKind::Anonymous => MatchedBy::AnonymousId,
            IdentityKind::User => MatchedBy::UserId,
            IdentityKind::Email => MatchedBy::Email,
        }
    }
}

/// Identities to look up at once, for many events.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityQuery<'a> {
    pub anonymous_ids: &'a [String],
    pub user_ids: &'a [String],
    pub emails: &'a [String],
}

/// One identity found, with the (live, never merged-away) profile holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityMatch {
    pub kind: IdentityKind,
    pub value: String,
    /// `profile_id`, the profile's `user_id`, and `matched_by` from [`IdentityKind::matched_by`].
    pub candidate: embudo_core::identity::Candidate,
}

/// Inserts an identity or re-points it to `profile_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityLink {
    pub workspace_id: WorkspaceId,
    pub kind: IdentityKind,
    pub value: String,
    pub profile_id: ProfileId,
}

// ---------------------------------------------------------------------------------------------
// Profiles.

/// Indexed columns for listing and counting; all optional, set by the phase engine.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProfileSummary {
    /// `"I"`, `"II"`, `"III"` (or whatever the engine names them).
    pub phase: Option<String>,
    /// Phase III sub-state: active / at risk / lapsed.
    pub substate: Option<String>,
    /// identify / connect / explore / advise.
    pub stage: Option<String>,
    pub confidence: Option<f64>,
    pub intent: Option<f64>,
    pub p_alive: Option<f64>,
    pub clv: Option<f64>,
    /// Names of the audiences the profile is in.
    pub audiences: Vec<String>,
}

/// A whole profile row; processing upserts whole records.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRecord {
    pub id: ProfileId,
    pub workspace_id: WorkspaceId,
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub anonymous_ids: Vec<String>,
    /// Each trait with the time it was last set.
    pub traits: BTreeMap<String, (Value, Timestamp)>,
    pub aggregates: Aggregates,
    /// Opaque (JSON) engine state owned by the service; stored and returned verbatim.
    pub state: String,
    pub summary: ProfileSummary,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Set when this profile was folded into another.
    pub merged_into: Option<ProfileId>,
}

/// Fields profiles can be listed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortField {
    #[default]
    LastSeen,
    Intent,
    PAlive,
    Clv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    Asc,
    #[default]
    Desc,
}

/// A listing request. Only live (not merged-away) profiles are listed. Profiles without a value
/// for the sort field sort as if it were below every value. Ties are broken by id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProfileFilter {
    pub phase: Option<String>,
    pub substate: Option<String>,
    pub stage: Option<String>,
    pub audience: Option<String>,
    pub sort: SortField,
    pub direction: Direction,
    /// The `next` of the previous page.
    pub after: Option<PageCursor>,
    /// At most this many items (at least 1; adapters cap it at 1000).
    pub limit: u32,
}

/// An opaque keyset position; stable under inserts (a page never repeats or skips a profile
/// whose sort value did not change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor(pub String);

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when there may be more.
    pub next: Option<PageCursor>,
}

/// How many live profiles are in one phase / sub-state / stage combination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseCount {
    pub phase: Option<String>,
    pub substate: Option<String>,
    pub stage: Option<String>,
    pub count: u64,
}

// ---------------------------------------------------------------------------------------------
// Processing.

/// Folds `absorbed` into `survivor`: `absorbed.merged_into = survivor` (and profiles merged into
/// `absorbed` earlier now point at `survivor`), and its identities, events, orders and
/// transitions are re-pointed to `survivor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merge {
    pub workspace_id: WorkspaceId,
    pub absorbed: ProfileId,
    pub survivor: ProfileId,
}

/// An order, upserted by `(workspace_id, order_id)`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRecord {
    pub workspace_id: WorkspaceId,
    pub order_id: String,
    pub profile_id: Option<ProfileId>,
    pub placed_at: Timestamp,
    pub total: f64,
    pub currency: Option<String>,
    pub lines: Vec<OrderLine>,
    pub refunded: f64,
    pub cancelled: bool,
}

/// A change of a profile's phase, sub-state, stage, … (`dimension` names which).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionRecord {
    pub workspace_id: WorkspaceId,
    pub profile_id: ProfileId,
    pub dimension: String,
    pub from: Option<String>,
    pub to: String,
    pub at: Timestamp,
    pub reason: String,
}

/// Identities that point at different known users: recorded, not merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictRecord {
    pub workspace_id: WorkspaceId,
    /// The event that revealed it.
    pub seq: i64,
    pub profile_id: ProfileId,
    pub conflicting: Vec<ProfileId>,
    pub reason: String,
    pub at: Timestamp,
}

/// Everything one processing batch changes, committed in one transaction together with the
/// processor's cursor: either all of it is stored, or nothing.
///
/// Applied in this order: profiles, identities, event profiles, orders, transitions, conflicts,
/// then merges (so that rows written for an absorbed profile earlier in the batch follow it),
/// then the cursor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProcessingBatch {
    /// The processor's name (one cursor per name).
    pub cursor_name: String,
    /// The cursor value the batch was computed from (what [`crate::Store::cursor`] returned);
    /// the commit fails with [`crate::StoreError::Conflict`] if it moved meanwhile.
    pub cursor_from: i64,
    /// The last seq the batch covers.
    pub cursor_to: i64,
    pub profiles: Vec<ProfileRecord>,
    /// The profiles of `profiles` this batch creates: none of them is stored before it. An
    /// adapter may insert these without looking for a stored row to update (and fails the
    /// batch if it finds one); the others it upserts.
    pub created: Vec<ProfileId>,
    pub identities: Vec<IdentityLink>,
    /// Each event's profile, by seq.
    pub event_profiles: Vec<(i64, ProfileId)>,
    pub orders: Vec<OrderRecord>,
    pub transitions: Vec<TransitionRecord>,
    pub conflicts: Vec<ConflictRecord>,
    pub merges: Vec<Merge>,
}

// ---------------------------------------------------------------------------------------------
// Models.

/// A built model to store: intent, BTYD, cross-sell, question likelihoods, … one kind each.
#[derive(Debug, Clone, PartialEq)]
pub struct NewModel {
    /// What it is, e.g. `"intent"`, `"btyd"`, `"recommend"`, `"questions"`.
    pub kind: String,
    pub built_at: Timestamp,
    /// The model report (parameters, fit, data used), JSON text, stored and returned verbatim.
    pub report: String,
    /// The model itself, in whatever encoding its owner chose, stored and returned verbatim.
    pub payload: Vec<u8>,
}

/// A stored model's description, without its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub workspace_id: WorkspaceId,
    pub kind: String,
    /// 1 for the first model of its kind in the workspace, then one more for each.
    pub version: i64,
    pub built_at: Timestamp,
    pub report: String,
    /// The payload's length in bytes.
    pub size: i64,
}

/// A stored model with its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRecord {
    pub info: ModelInfo,
    pub payload: Vec<u8>,
}
