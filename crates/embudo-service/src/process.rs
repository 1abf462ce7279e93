//! Profile processing: the log, in order, into profiles.
//!
//! One step reads the next events after the processor's cursor, resolves identities (creating,
//! attaching and merging profiles), folds every event into its profile's traits, aggregates and
//! orders, and commits all of it with the moved cursor in one transaction. A crash between
//! steps loses nothing: the next step starts again from the committed cursor, and the log can be
//! replayed from zero into an empty profile set.
//!
//! A step's maps (profiles, engines, identities, touched profiles) hash with foldhash, seeded
//! at random per process, instead of the standard library's SipHash: a step hashes each event's
//! identities and profile several times, and SipHash was a seventh of the step's instructions.
//! The keys (identities sent by the shop's own clients, profile ids) are hard to make collide
//! without knowing the seed, and the maps live for one step.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt, HashSetExt};
use indexmap::IndexSet;

use embudo_core::event::Action;
use embudo_core::identity::{self, Candidate, Identities, MatchedBy, Target};
use embudo_core::phase::{self, Classification, PhaseState};
use embudo_core::{Event, EventKind, Timestamp, Value};
use embudo_store::{
    ConflictRecord, IdentityKind, IdentityLink, IdentityQuery, LoggedEvent, Merge, OrderRecord,
    ProcessingBatch, ProfileId, ProfileRecord, ProfileSummary, StoreError, TransitionRecord,
    WorkspaceId,
};

use embudo_config::{AudienceInput, Audiences};

use crate::predict::{self, LoadedModels, Scores};
use crate::questions::QuestionHistory;
use crate::{Embudo, Result, ServiceSettings};

#[cfg(test)]
mod tests;

/// The profile processor's cursor name.
pub const PROFILES_CURSOR: &str = "profiles";

/// What one processing step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcessOutcome {
    pub events: usize,
    pub profiles_touched: usize,
    pub profiles_created: usize,
    pub merges: usize,
    pub conflicts: usize,
    /// Order events that could not be read (kept in the log, reported in the logs).
    pub bad_orders: usize,
}

impl ProcessOutcome {
    /// The two outcomes added up.
    pub fn plus(self, other: ProcessOutcome) -> ProcessOutcome {
        ProcessOutcome {
            events: self.events + other.events,
            profiles_touched: self.profiles_touched + other.profiles_touched,
            profiles_created: self.profiles_created + other.profiles_created,
            merges: self.merges + other.merges,
            conflicts: self.conflicts + other.conflicts,
            bad_orders: self.bad_orders + other.bad_orders,
        }
    }
}

/// Events read ahead, while the step before committed: the log after `after`.
struct ReadAhead {
    after: i64,
    log: Vec<LoggedEvent>,
}

impl Embudo {
    /// Processes the next batch of the log. Returns a zero outcome when there is nothing to do.
    #[tracing::instrument(skip_all)]
    pub async fn process_pending(&self) -> Result<ProcessOutcome> {
        let (outcome, _) = self
            .process_step(self.inner.settings.process_batch, None, false)
            .await?;
        Ok(outcome)
    }

    /// One step of at most `batch_size` events; the events come from `ahead` when it starts at
    /// the cursor. With `read_ahead`, the next step's events are read while this one commits
    /// (the log after the step is immutable: only what the step covers is written) and returned.
    ///
    /// Another process on the same database (`embudo import` beside `serve`) has a processor
    /// of its own: when it moves the cursor first, the store refuses this step's commit and
    /// the step starts again from the new cursor.
    async fn process_step(
        &self,
        batch_size: usize,
        mut ahead: Option<ReadAhead>,
        read_ahead: bool,
    ) -> Result<(ProcessOutcome, Option<ReadAhead>)> {
        let _step = self.inner.processing.lock().await;
        let store = &self.inner.store;
        let limit = u32::try_from(batch_size.max(1)).unwrap_or(u32::MAX);
        loop {
            let cursor = store.cursor(PROFILES_CURSOR).await?;
            let log = match ahead.take() {
                Some(ahead) if ahead.after == cursor => ahead.log,
                // Someone else moved the cursor meanwhile: what was read ahead is stale.
                _ => store.read_log(cursor, limit).await?,
            };
            if log.is_empty() {
                return Ok((ProcessOutcome::default(), None));
            }
            let (batch, outcome) = self
                .compute_step(cursor, &log, None, &mut IdBlock::default())
                .await?;
            let (committed, next) = if read_ahead {
                let (committed, next) = tokio::join!(
                    store.commit_processing(&batch),
                    store.read_log(batch.cursor_to, limit)
                );
                // A failed read-ahead is not this step's failure: the next step reads again.
                let next = next.ok().map(|log| ReadAhead {
                    after: batch.cursor_to,
                    log,
                });
                (committed, next)
            } else {
                (store.commit_processing(&batch).await, None)
            };
            match committed {
                Ok(()) => return Ok((outcome, next)),
                Err(StoreError::Conflict(reason))
                    if store.cursor(PROFILES_CURSOR).await? != cursor =>
                {
                    tracing::debug!(%reason, "another processor moved the cursor; step again");
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Computes one step over `log` (the events right after `cursor`, in order) in memory:
    /// what to commit, and what it did. With `overlay`, the profiles and identities of a
    /// batch not yet committed count as stored. New profiles take their ids from `ids`,
    /// which reserves more when it runs out.
    pub(crate) async fn compute_step(
        &self,
        cursor: i64,
        log: &[LoggedEvent],
        overlay: Option<&Overlay>,
        ids: &mut IdBlock,
    ) -> Result<(ProcessingBatch, ProcessOutcome)> {
        let mut batch = ProcessingBatch {
            cursor_name: PROFILES_CURSOR.to_owned(),
            cursor_from: cursor,
            cursor_to: log.last().map_or(cursor, |last| last.seq),
            ..ProcessingBatch::default()
        };
        let mut outcome = ProcessOutcome {
            events: log.len(),
            ..ProcessOutcome::default()
        };
        let now = self.now();
        let mut by_workspace: BTreeMap<WorkspaceId, Vec<&LoggedEvent>> = BTreeMap::new();
        for logged in log {
            by_workspace
                .entry(logged.workspace_id)
                .or_default()
                .push(logged);
        }
        for (workspace, events) in by_workspace {
            let models = self.loaded_models(workspace).await?;
            let overlay = overlay.filter(|overlay| overlay.workspace == workspace);
            let mut work = WorkspaceWork::load(self, workspace, &events, overlay, ids).await?;
            for logged in events {
                work.apply(self, logged, now, &mut batch, &mut outcome)
                    .await?;
            }
            *ids = work.finish(&self.inner.settings, &models, now, &mut batch, &mut outcome);
        }
        self.keep_stored_order_lines(&mut batch, overlay).await?;
        Ok((batch, outcome))
    }

    /// A refund or cancellation of an order stored by an earlier step carries no lines: the
    /// upsert must keep the lines already stored (or about to be, in `overlay`). A person's
    /// stored orders are read once per step, however many of them the step refunds.
    async fn keep_stored_order_lines(
        &self,
        batch: &mut ProcessingBatch,
        overlay: Option<&Overlay>,
    ) -> Result<()> {
        if batch.orders.iter().all(|record| !record.lines.is_empty()) {
            return Ok(());
        }
        // The last record of an order in the batch being written is the one it writes.
        let pending: HashMap<(WorkspaceId, &str), &OrderRecord> = overlay
            .map(|overlay| {
                overlay
                    .batch
                    .orders
                    .iter()
                    .map(|order| ((order.workspace_id, order.order_id.as_str()), order))
                    .collect()
            })
            .unwrap_or_default();
        let mut stored: HashMap<(WorkspaceId, ProfileId), Vec<OrderRecord>> = HashMap::new();
        for record in batch
            .orders
            .iter_mut()
            .filter(|record| record.lines.is_empty())
        {
            let Some(profile) = record.profile_id else {
                continue;
            };
            if let Some(pending) = pending.get(&(record.workspace_id, record.order_id.as_str())) {
                record.lines = pending.lines.clone();
                continue;
            }
            let orders = match stored.entry((record.workspace_id, profile)) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => entry.insert(
                    self.inner
                        .store
                        .profile_orders(record.workspace_id, profile)
                        .await?,
                ),
            };
            if let Some(found) = orders
                .iter()
                .find(|order| order.order_id == record.order_id)
            {
                record.lines = found.lines.clone();
            }
        }
        Ok(())
    }

    /// Processes events just appended (by seq) without reading them back when they are exactly
    /// the log after the cursor; otherwise (someone else appended or processed meanwhile)
    /// processes the log, in `batch_size` steps, until drained.
    pub async fn process_appended(
        &self,
        appended: Vec<LoggedEvent>,
        batch_size: usize,
    ) -> Result<ProcessOutcome> {
        let (Some(first), Some(last)) = (appended.first(), appended.last()) else {
            return Ok(ProcessOutcome::default());
        };
        let store = &self.inner.store;
        let cursor = store.cursor(PROFILES_CURSOR).await?;
        let in_order = appended.windows(2).all(|pair| pair[0].seq < pair[1].seq);
        // Seqs become visible in increasing order and these are committed, so nothing can
        // appear later in this range: the check holds as long as the cursor stays (the step
        // checks that under its lock).
        let exact = in_order
            && first.seq > cursor
            && store.log_count(cursor, last.seq).await? == appended.len() as i64;
        if !exact {
            return self.process_all_in(batch_size).await;
        }
        let ahead = ReadAhead {
            after: cursor,
            log: appended,
        };
        let (outcome, _) = self.process_step(batch_size, Some(ahead), false).await?;
        if outcome.events == 0 {
            return Ok(outcome);
        }
        // The read-ahead was stale (the cursor moved before the step's lock): drain the rest.
        let rest = self.process_all_in(batch_size).await?;
        Ok(outcome.plus(rest))
    }

    /// Processes until the log is drained. Returns the total.
    pub async fn process_all(&self) -> Result<ProcessOutcome> {
        self.process_all_in(self.inner.settings.process_batch).await
    }

    /// Processes until the log is drained, `batch_size` events a step, each step's events read
    /// while the step before commits. Larger steps than `serve`'s suit a bulk import: a person
    /// seen many times in a step is loaded, evaluated and written once.
    pub async fn process_all_in(&self, batch_size: usize) -> Result<ProcessOutcome> {
        let mut total = ProcessOutcome::default();
        let mut ahead = None;
        loop {
            let (step, next) = self.process_step(batch_size, ahead, true).await?;
            ahead = next;
            if step.events == 0 {
                return Ok(total);
            }
            total = total.plus(step);
        }
    }
}

/// Room for the stored text of a usual engine state (most are 200 to 400 bytes).
const STATE_CAPACITY: usize = 512;

/// What the service keeps in a profile's opaque `state` column (JSON): the engine's state.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct EngineState {
    #[serde(default)]
    pub phase: Option<PhaseState>,
    /// The survey questions asked and answered (`crate::questions`).
    #[serde(default, skip_serializing_if = "QuestionHistory::is_empty")]
    pub questions: QuestionHistory,
    /// The prediction scores of the last evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<Scores>,
}

impl EngineState {
    /// A profile's stored state. An unreadable one (no form embudo wrote should be) is logged
    /// with the profile and read as empty: the person is evaluated from what comes next.
    pub fn of(record: &ProfileRecord) -> EngineState {
        EngineState::read(&record.state).unwrap_or_else(|error| {
            tracing::warn!(profile = %record.id, %error, "stored engine state unreadable; it starts empty");
            EngineState::default()
        })
    }

    /// Reads a stored state.
    pub fn read(text: &str) -> serde_json::Result<EngineState> {
        serde_json::from_str(text)
    }

    /// The stored text. Written into room for a usual state at once: growing from
    /// `serde_json::to_string`'s 128 bytes copied most states twice.
    pub fn write(&self) -> String {
        let mut text = Vec::with_capacity(STATE_CAPACITY);
        match serde_json::to_writer(&mut text, self) {
            // serde_json writes UTF-8.
            Ok(()) => String::from_utf8(text).unwrap_or_else(|_| "{}".to_owned()),
            Err(_) => "{}".to_owned(),
        }
    }
}

/// A touched profile's engine state, its scores and its classification before this step.
struct Engine {
    state: PhaseState,
    questions: QuestionHistory,
    scores: Scores,
    before: Option<Classification>,
}

/// One workspace's share of a step: the profiles it touches, and where each identity points.
struct WorkspaceWork {
    workspace: WorkspaceId,
    profiles: HashMap<ProfileId, ProfileRecord>,
    engines: HashMap<ProfileId, Engine>,
    identities: IdentityMap,
    /// The question bank answers are read with (the newest learned one, when this step has
    /// question events).
    bank: std::sync::Arc<embudo_ask::QuestionBank>,
    /// In the order they were first touched, which is the order they are evaluated in.
    touched: IndexSet<ProfileId, foldhash::fast::RandomState>,
    created: usize,
    ids: IdBlock,
    /// Events of this share after the one being applied: with it, a bound on the profiles the
    /// share may still create.
    remaining: usize,
    /// Where this share's orders are in the batch's order records.
    orders: HashMap<String, usize>,
}

/// Where each identity points: one map per kind, so that a lookup borrows the value it looks
/// for (a key of kind and owned text made every event's lookups allocate).
#[derive(Default)]
struct IdentityMap {
    /// Anonymous ids, user ids, e-mail addresses ([`IdentityMap::slot`]).
    by_kind: [HashMap<String, ProfileId>; 3],
}

impl IdentityMap {
    /// Room for this many identities of each kind (anonymous, user, e-mail).
    fn with_capacities(capacities: [usize; 3]) -> IdentityMap {
        IdentityMap {
            by_kind: capacities.map(HashMap::with_capacity),
        }
    }

    fn slot(kind: IdentityKind) -> usize {
        match kind {
            IdentityKind::Anonymous => 0,
            IdentityKind::User => 1,
            IdentityKind::Email => 2,
        }
    }

    fn get(&self, kind: IdentityKind, value: &str) -> Option<ProfileId> {
        self.by_kind[Self::slot(kind)].get(value).copied()
    }

    fn contains(&self, kind: IdentityKind, value: &str) -> bool {
        self.by_kind[Self::slot(kind)].contains_key(value)
    }

    fn insert(&mut self, kind: IdentityKind, value: String, profile: ProfileId) {
        self.by_kind[Self::slot(kind)].insert(value, profile);
    }

    fn profiles(&self) -> impl Iterator<Item = ProfileId> + '_ {
        self.by_kind.iter().flat_map(|map| map.values().copied())
    }

    fn profiles_mut(&mut self) -> impl Iterator<Item = &mut ProfileId> {
        self.by_kind.iter_mut().flat_map(|map| map.values_mut())
    }
}

/// Distinct texts, in the order first seen.
struct Distinct<'a> {
    seen: foldhash::HashSet<&'a str>,
    values: Vec<String>,
}

impl<'a> Distinct<'a> {
    fn with_capacity(capacity: usize) -> Distinct<'a> {
        Distinct {
            seen: foldhash::HashSet::with_capacity(capacity),
            values: Vec::new(),
        }
    }

    /// Keeps `value`, if there is one and it was not seen yet.
    fn extend(&mut self, value: Option<&'a str>) {
        if let Some(value) = value
            && self.seen.insert(value)
        {
            self.values.push(value.to_owned());
        }
    }
}

/// At most this many profile ids are reserved at once.
pub(crate) const MAX_ID_RESERVATION: usize = 65_536;

/// Reserved but unused profile ids: `next..end`. Unused ids are only a gap in the numbering.
#[derive(Debug, Default)]
pub(crate) struct IdBlock {
    pub(crate) next: i64,
    pub(crate) end: i64,
}

impl IdBlock {
    pub(crate) fn remaining(&self) -> usize {
        usize::try_from(self.end - self.next).unwrap_or(0)
    }

    /// Makes at least `n` ids available (one reservation of at least `at_least`).
    pub(crate) async fn ensure(
        &mut self,
        embudo: &Embudo,
        n: usize,
        at_least: usize,
    ) -> Result<()> {
        if self.remaining() >= n {
            return Ok(());
        }
        let size = u32::try_from(n.max(at_least)).unwrap_or(u32::MAX);
        let first = embudo.inner.store.reserve_profile_ids(size).await?;
        self.next = first.0;
        self.end = first.0 + i64::from(size);
        Ok(())
    }
}

/// A computed batch whose commit is still in flight, for computing the next one on top of it:
/// its profiles and identity links count as stored. Only a batch without merges can be one (a
/// merge re-points rows the batch does not list).
pub(crate) struct Overlay {
    pub(crate) workspace: WorkspaceId,
    pub(crate) batch: std::sync::Arc<ProcessingBatch>,
    identities: IdentityMap,
    /// Index in `batch.profiles`.
    profiles: HashMap<ProfileId, usize>,
}

impl Overlay {
    pub(crate) fn new(
        workspace: WorkspaceId,
        batch: std::sync::Arc<ProcessingBatch>,
    ) -> Option<Overlay> {
        if !batch.merges.is_empty() {
            return None;
        }
        let mut identities = IdentityMap::default();
        for link in &batch.identities {
            if link.workspace_id == workspace {
                identities.insert(link.kind, link.value.clone(), link.profile_id);
            }
        }
        let profiles = batch
            .profiles
            .iter()
            .enumerate()
            .filter(|(_, record)| record.workspace_id == workspace)
            .map(|(index, record)| (record.id, index))
            .collect();
        Some(Overlay {
            workspace,
            batch,
            identities,
            profiles,
        })
    }
}

impl WorkspaceWork {
    async fn load(
        embudo: &Embudo,
        workspace: WorkspaceId,
        events: &[&LoggedEvent],
        overlay: Option<&Overlay>,
        reserved: &mut IdBlock,
    ) -> Result<WorkspaceWork> {
        // Each identity once, in the order first seen (a hash set: sorting the batch's ids to
        // remove repeats cost more than the rest of loading).
        let mut anonymous_ids = Distinct::with_capacity(events.len());
        let mut user_ids = Distinct::with_capacity(events.len());
        let mut emails = Vec::new();
        for logged in events {
            let event = &logged.event;
            anonymous_ids.extend(event.anonymous_id.as_deref());
            user_ids.extend(event.user_id.as_deref());
            emails.extend(event.email());
            if let Some(previous) = event.previous_id.as_deref() {
                anonymous_ids.extend(Some(previous));
                user_ids.extend(Some(previous));
            }
        }
        let (anonymous_ids, user_ids) = (anonymous_ids.values, user_ids.values);
        emails.sort_unstable();
        emails.dedup();
        let store = &embudo.inner.store;
        let query = IdentityQuery {
            anonymous_ids: &anonymous_ids,
            user_ids: &user_ids,
            emails: &emails,
        };
        let matches = store.candidates(workspace, query).await?;
        // The maps are sized so that they never grow (a rehash moves every engine): a new
        // person has at least one identity that matched nothing, so there are at most as many
        // new people as unmatched identities.
        let capacities = [anonymous_ids.len(), user_ids.len(), emails.len()];
        let n_identities: usize = capacities.iter().sum();
        let new_people = n_identities.saturating_sub(matches.len()).min(events.len());
        let mut identities = IdentityMap::with_capacities(capacities);
        let mut ids: Vec<ProfileId> = Vec::with_capacity(matches.len());
        let block = std::mem::take(reserved);
        for found in matches {
            let id = ProfileId(found.candidate.profile_id);
            identities.insert(found.kind, found.value, id);
        }
        if let Some(overlay) = overlay {
            let kinds = [
                (IdentityKind::Anonymous, &anonymous_ids),
                (IdentityKind::User, &user_ids),
                (IdentityKind::Email, &emails),
            ];
            for (kind, values) in kinds {
                for value in values {
                    if let Some(id) = overlay.identities.get(kind, value) {
                        identities.insert(kind, value.clone(), id);
                    }
                }
            }
        }
        let mut pending = Vec::new();
        for id in identities.profiles() {
            match overlay.and_then(|overlay| overlay.profiles.get(&id)) {
                Some(&index) => pending.push(index),
                None => ids.push(id),
            }
        }
        ids.sort_unstable();
        ids.dedup();
        pending.sort_unstable();
        pending.dedup();
        let mut profiles: HashMap<ProfileId, ProfileRecord> = store
            .load_profiles(workspace, &ids)
            .await?
            .into_iter()
            .map(|record| (record.id, record))
            .collect();
        if let Some(overlay) = overlay {
            for index in pending {
                let record = overlay.batch.profiles[index].clone();
                profiles.insert(record.id, record);
            }
        }
        let bank = crate::questions::bank_for_step(embudo, workspace, events).await?;
        let touched = profiles.len() + new_people;
        profiles.reserve(new_people);
        Ok(WorkspaceWork {
            workspace,
            profiles,
            engines: HashMap::with_capacity(touched),
            identities,
            bank,
            touched: IndexSet::with_capacity_and_hasher(touched, Default::default()),
            created: 0,
            ids: block,
            remaining: events.len(),
            orders: HashMap::new(),
        })
    }

    async fn new_profile_id(&mut self, embudo: &Embudo) -> Result<ProfileId> {
        // One reservation (a write of its own) for what the rest of the share may need, not
        // one per few hundred new people.
        let want = (self.remaining + 1).min(MAX_ID_RESERVATION);
        self.ids.ensure(embudo, 1, want).await?;
        let id = ProfileId(self.ids.next);
        self.ids.next += 1;
        Ok(id)
    }

    fn candidates(&self, event: &Event, email: Option<&str>) -> Vec<Candidate> {
        let mut candidates = Vec::new();
        let mut add = |kind: IdentityKind, value: &str, matched_by: MatchedBy| {
            if let Some(id) = self.identities.get(kind, value) {
                let user_id = self
                    .profiles
                    .get(&id)
                    .and_then(|profile| profile.user_id.clone());
                candidates.push(Candidate {
                    profile_id: id.0,
                    user_id,
                    matched_by,
                });
            }
        };
        if let Some(user) = &event.user_id {
            add(IdentityKind::User, user, MatchedBy::UserId);
        }
        if let Some(email) = email {
            add(IdentityKind::Email, email, MatchedBy::Email);
        }
        if let Some(anonymous) = &event.anonymous_id {
            add(IdentityKind::Anonymous, anonymous, MatchedBy::AnonymousId);
        }
        if let Some(previous) = &event.previous_id {
            add(IdentityKind::Anonymous, previous, MatchedBy::PreviousId);
            add(IdentityKind::User, previous, MatchedBy::PreviousId);
        }
        candidates
    }

    async fn apply(
        &mut self,
        embudo: &Embudo,
        logged: &LoggedEvent,
        now: Timestamp,
        batch: &mut ProcessingBatch,
        outcome: &mut ProcessOutcome,
    ) -> Result<()> {
        self.remaining = self.remaining.saturating_sub(1);
        let event = &logged.event;
        let email = event.email();
        let identities = Identities {
            anonymous_id: event.anonymous_id.as_deref(),
            user_id: event.user_id.as_deref(),
            email: email.as_deref(),
            previous_id: event.previous_id.as_deref(),
        };
        let resolution = identity::resolve(identities, &self.candidates(event, email.as_deref()));
        let target = match resolution.target {
            Target::Existing(id) => ProfileId(id),
            Target::New => {
                let id = self.new_profile_id(embudo).await?;
                self.profiles
                    .insert(id, new_profile(self.workspace, id, event.timestamp, now));
                self.created += 1;
                batch.created.push(id);
                id
            }
        };
        for absorbed in resolution.absorbed.iter().copied().map(ProfileId) {
            self.merge(absorbed, target, now, &embudo.inner.settings);
            batch.merges.push(Merge {
                workspace_id: self.workspace,
                absorbed,
                survivor: target,
            });
            outcome.merges += 1;
        }
        if !resolution.conflicting.is_empty() {
            batch.conflicts.push(ConflictRecord {
                workspace_id: self.workspace,
                seq: logged.seq,
                profile_id: target,
                conflicting: resolution
                    .conflicting
                    .iter()
                    .copied()
                    .map(ProfileId)
                    .collect(),
                reason: resolution.reason.clone().unwrap_or_default(),
                at: now,
            });
            outcome.conflicts += 1;
        }
        self.link_identities(target, event, email.as_deref(), batch);
        let action = match event.action(&embudo.inner.settings.page_rules) {
            Ok(action) => action,
            Err(err) => {
                tracing::warn!(seq = logged.seq, error = %err, "order event could not be read; counted as a plain event");
                outcome.bad_orders += 1;
                Action::Other(event.name.as_deref().unwrap_or_default().to_owned())
            }
        };
        let settings = &embudo.inner.settings;
        let model = &settings.phase_model;
        let bank = std::sync::Arc::clone(&self.bank);
        let engine = self.engine(target, settings);
        engine.state.apply(event, &action, model);
        engine.questions.observe(event, &action, &bank);
        let Some(profile) = self.profiles.get_mut(&target) else {
            // Invariant: the target was loaded, created or is a merge survivor held above.
            return Ok(());
        };
        apply_traits(profile, event);
        profile.aggregates.apply(event, &action);
        // A question embudo asked is not the person's activity (see `Aggregates::apply`).
        if !matches!(action, Action::QuestionAsked { .. }) {
            profile.first_seen = profile.first_seen.min(event.timestamp);
            profile.last_seen = profile.last_seen.max(event.timestamp);
        }
        profile.updated_at = now;
        order_records(
            self.workspace,
            target,
            &action,
            profile,
            batch,
            &mut self.orders,
        );
        batch.event_profiles.push((logged.seq, target));
        self.touched.insert(target);
        Ok(())
    }

    /// The engine state of a profile held in memory, read from its record on first use, with
    /// the classification it had when last evaluated (at its `updated_at`).
    fn engine(&mut self, id: ProfileId, settings: &ServiceSettings) -> &mut Engine {
        let profiles = &self.profiles;
        self.engines
            .entry(id)
            .or_insert_with(|| match profiles.get(&id) {
                Some(record) if record.state != "{}" => {
                    let stored = EngineState::of(record);
                    let state = stored.phase.unwrap_or_default();
                    let questions = stored.questions;
                    let scores = stored.scores.unwrap_or_default();
                    let before = evaluate_at(
                        settings,
                        &state,
                        &questions,
                        &scores,
                        record,
                        record.updated_at,
                    );
                    Engine {
                        state,
                        questions,
                        scores,
                        before: Some(before),
                    }
                }
                _ => Engine {
                    state: PhaseState::default(),
                    questions: QuestionHistory::default(),
                    scores: Scores::default(),
                    before: None,
                },
            })
    }

    /// Folds `absorbed` into `survivor` in memory; the store re-points the rows.
    fn merge(
        &mut self,
        absorbed: ProfileId,
        survivor: ProfileId,
        now: Timestamp,
        settings: &ServiceSettings,
    ) {
        let absorbed_engine = self.engine(absorbed, settings);
        let (absorbed_state, absorbed_questions) = (
            absorbed_engine.state.clone(),
            absorbed_engine.questions.clone(),
        );
        let survivor_engine = self.engine(survivor, settings);
        survivor_engine
            .state
            .merge(&absorbed_state, &settings.phase_model);
        survivor_engine.questions.merge(&absorbed_questions);
        let Some(mut gone) = self.profiles.remove(&absorbed) else {
            return;
        };
        for target in self.identities.profiles_mut() {
            if *target == absorbed {
                *target = survivor;
            }
        }
        if let Some(profile) = self.profiles.get_mut(&survivor) {
            profile.aggregates.merge(&gone.aggregates);
            for (name, (value, at)) in std::mem::take(&mut gone.traits) {
                match profile.traits.get(&name) {
                    Some((_, current)) if *current >= at => {}
                    _ => {
                        profile.traits.insert(name, (value, at));
                    }
                }
            }
            for anonymous in &gone.anonymous_ids {
                if !profile.anonymous_ids.contains(anonymous) {
                    profile.anonymous_ids.push(anonymous.clone());
                }
            }
            profile.user_id = profile.user_id.take().or(gone.user_id.take());
            profile.email = profile.email.take().or(gone.email.take());
            profile.first_seen = profile.first_seen.min(gone.first_seen);
            profile.last_seen = profile.last_seen.max(gone.last_seen);
            profile.created_at = profile.created_at.min(gone.created_at);
            profile.updated_at = now;
        }
        gone.merged_into = Some(survivor);
        gone.updated_at = now;
        // The absorbed record is written with `merged_into` set, after the survivor.
        self.touched.shift_remove(&absorbed);
        self.profiles.insert(absorbed, gone);
        self.touched.insert(absorbed);
    }

    fn link_identities(
        &mut self,
        target: ProfileId,
        event: &Event,
        email: Option<&str>,
        batch: &mut ProcessingBatch,
    ) {
        let workspace = self.workspace;
        let Some(profile) = self.profiles.get_mut(&target) else {
            return;
        };
        let mut link = |kind: IdentityKind, value: &str, identities: &mut IdentityMap| {
            if identities.contains(kind, value) {
                return false;
            }
            identities.insert(kind, value.to_owned(), target);
            batch.identities.push(IdentityLink {
                workspace_id: workspace,
                kind,
                value: value.to_owned(),
                profile_id: target,
            });
            true
        };
        if let Some(anonymous) = &event.anonymous_id
            && link(IdentityKind::Anonymous, anonymous, &mut self.identities)
        {
            profile.anonymous_ids.push(String::from(anonymous.as_str()));
        }
        if let Some(user) = &event.user_id
            && profile.user_id.as_deref().is_none_or(|known| known == user)
            && link(IdentityKind::User, user, &mut self.identities)
        {
            profile.user_id = Some(String::from(user.as_str()));
        }
        if let Some(email) = email
            && link(IdentityKind::Email, email, &mut self.identities)
            && profile.email.is_none()
        {
            profile.email = Some(email.to_owned());
        }
    }

    /// Evaluates every touched live profile at `now`, records its transitions, and moves the
    /// records into the batch. Returns the ids reserved and still unused.
    fn finish(
        mut self,
        settings: &ServiceSettings,
        models: &LoadedModels,
        now: Timestamp,
        batch: &mut ProcessingBatch,
        outcome: &mut ProcessOutcome,
    ) -> IdBlock {
        outcome.profiles_touched += self.touched.len();
        outcome.profiles_created += self.created;
        // Sized once: a step's records are large, and growing by doubling copied them (and
        // faulted in fresh pages) several times over.
        batch.profiles.reserve(self.touched.len());
        batch.transitions.reserve(self.touched.len());
        for id in std::mem::take(&mut self.touched) {
            let Some(mut record) = self.profiles.remove(&id) else {
                continue;
            };
            if record.merged_into.is_none() {
                // Every touched profile's engine was read when an event or a merge touched it.
                let engine = self.engines.remove(&id).unwrap_or_else(|| {
                    let stored = EngineState::of(&record);
                    Engine {
                        state: stored.phase.unwrap_or_default(),
                        questions: stored.questions,
                        scores: stored.scores.unwrap_or_default(),
                        before: None,
                    }
                });
                let scores = predict::score(
                    models,
                    &settings.predict,
                    &settings.phase_model,
                    &engine.state,
                    &record,
                    &engine.scores,
                    now,
                );
                let after = evaluate_at(
                    settings,
                    &engine.state,
                    &engine.questions,
                    &scores,
                    &record,
                    now,
                );
                record_transitions(
                    self.workspace,
                    id,
                    engine.before.as_ref(),
                    &after,
                    now,
                    batch,
                );
                record.summary = summary_of(&after, &record.summary);
                scores.fill(&mut record.summary);
                record.state = EngineState {
                    phase: Some(engine.state),
                    questions: engine.questions,
                    scores: (scores != Scores::default()).then_some(scores),
                }
                .write();
            }
            batch.profiles.push(record);
        }
        self.ids
    }
}

pub(crate) fn new_profile(
    workspace: WorkspaceId,
    id: ProfileId,
    seen: Timestamp,
    now: Timestamp,
) -> ProfileRecord {
    ProfileRecord {
        id,
        workspace_id: workspace,
        user_id: None,
        email: None,
        anonymous_ids: Vec::new(),
        traits: BTreeMap::new(),
        aggregates: Default::default(),
        state: "{}".to_owned(),
        summary: ProfileSummary::default(),
        first_seen: seen,
        last_seen: seen,
        created_at: now,
        updated_at: now,
        merged_into: None,
    }
}

/// Traits of identify calls (and `context.traits` of any call), newest write wins per trait.
fn apply_traits(profile: &mut ProfileRecord, event: &Event) {
    let sources = [
        (event.kind == EventKind::Identify).then_some(&event.traits),
        event.context.get("traits"),
    ];
    for traits in sources.into_iter().flatten() {
        let Value::Map(traits) = traits else { continue };
        for (name, value) in traits {
            match profile.traits.get(name.as_str()) {
                Some((_, at)) if *at > event.timestamp => {}
                _ => {
                    profile.traits.insert(
                        String::from(name.as_str()),
                        (value.clone(), event.timestamp),
                    );
                }
            }
        }
    }
}

/// The order rows an order, refund or cancellation event changes.
fn order_records(
    workspace: WorkspaceId,
    profile_id: ProfileId,
    action: &Action,
    profile: &ProfileRecord,
    batch: &mut ProcessingBatch,
    index: &mut HashMap<String, usize>,
) {
    let (order_id, lines) = match action {
        Action::OrderCompleted(order) => (&order.order_id, order.lines.clone()),
        Action::OrderRefunded(refund) => (&refund.order_id, Vec::new()),
        Action::OrderCancelled { order_id } => (order_id, Vec::new()),
        _ => return,
    };
    let Some(facts) = profile.aggregates.orders.get(order_id) else {
        return;
    };
    // One record per order in a batch, the latest; a refund keeps the lines of the order
    // already in this batch.
    let existing = index.get(order_id).copied();
    let lines = match existing {
        Some(at) if lines.is_empty() => std::mem::take(&mut batch.orders[at].lines),
        _ => lines,
    };
    let record = OrderRecord {
        workspace_id: workspace,
        order_id: order_id.clone(),
        profile_id: Some(profile_id),
        placed_at: facts.placed_at,
        total: facts.total,
        currency: facts.currency.clone(),
        lines,
        refunded: facts.refunded,
        cancelled: facts.cancelled,
    };
    match existing {
        Some(at) => batch.orders[at] = record,
        None => {
            index.insert(order_id.clone(), batch.orders.len());
            batch.orders.push(record);
        }
    }
}

/// What the phase engine needs to know beside the state. Consent to e-mail: an address is known
/// and the person has not unsubscribed (an explicit `consent_email: false` trait withdraws it).
/// Evaluates a profile's engine state at `at`, with the audiences it is in at that moment
/// (audience conditions may read time, such as days since the last order), its survey
/// answers as evidence and its prediction scores at that moment.
pub(crate) fn evaluate_at(
    settings: &ServiceSettings,
    state: &PhaseState,
    questions: &QuestionHistory,
    scores: &Scores,
    record: &ProfileRecord,
    at: Timestamp,
) -> Classification {
    let fits = audience_fits(&settings.audiences, record, at);
    let mut context = phase::Context {
        answers: questions.answers_posterior(),
        ..context_of(record, &fits)
    };
    context.customer = scores.customer_inputs();
    context.intent = scores.intent_inputs();
    phase::evaluate(
        state,
        &record.aggregates,
        &context,
        at,
        &settings.phase_model,
    )
}

/// The shop's target audiences the profile is in at `at`, best fit first (stage identify). A
/// condition that fails on this profile (a trait it lacks, unguarded by `has()`) counts as no
/// match and is logged.
fn audience_fits(
    audiences: &Audiences,
    record: &ProfileRecord,
    at: Timestamp,
) -> Vec<phase::AudienceFit> {
    if audiences.list.is_empty() {
        return Vec::new();
    }
    let traits = Value::Map(
        record
            .traits
            .iter()
            .map(|(key, (value, _))| (key.as_str().into(), value.clone()))
            .collect(),
    );
    let (fits, errors) = audiences.fits(&AudienceInput {
        traits: &traits,
        aggregates: &record.aggregates,
        now: at,
    });
    for error in errors {
        tracing::debug!(profile = %record.id, %error, "audience condition failed");
    }
    fits
}

/// The engine's context for a profile: its consents, and the audiences it matched (from
/// [`audience_fits`]).
fn context_of<'a>(
    record: &'a ProfileRecord,
    audiences: &'a [phase::AudienceFit],
) -> phase::Context<'a> {
    let withdrawn = record
        .traits
        .get("consent_email")
        .is_some_and(|(value, _)| value.as_bool() == Some(false));
    phase::Context {
        traits: None,
        consents: phase::Consents {
            email: record.email.is_some()
                && record.aggregates.count("Unsubscribed") == 0
                && !withdrawn,
            sms: false,
            push: false,
        },
        audiences,
        ..phase::Context::default()
    }
}

pub(crate) fn summary_of(after: &Classification, previous: &ProfileSummary) -> ProfileSummary {
    ProfileSummary {
        phase: Some(after.phase.as_str().to_owned()),
        substate: after.substate.map(|substate| substate.as_str().to_owned()),
        stage: after.stage.map(|stage| stage.as_str().to_owned()),
        confidence: Some(after.confidence),
        audiences: after.audiences.iter().map(|fit| fit.name.clone()).collect(),
        ..previous.clone()
    }
}

pub(crate) fn record_transitions(
    workspace: WorkspaceId,
    profile_id: ProfileId,
    before: Option<&Classification>,
    after: &Classification,
    now: Timestamp,
    batch: &mut ProcessingBatch,
) {
    let lang = phase::Lang::Es;
    let Some(before) = before else {
        // A new person enters the funnel.
        batch.transitions.push(TransitionRecord {
            workspace_id: workspace,
            profile_id,
            dimension: "phase".to_owned(),
            from: None,
            to: after.phase.as_str().to_owned(),
            at: now,
            reason: after
                .evidence
                .first()
                .map(|evidence| evidence.describe(lang))
                .unwrap_or_default(),
        });
        return;
    };
    for transition in phase::transitions(before, after, now) {
        let (dimension, from, to) = match transition.change {
            phase::Change::Phase { from, to } => (
                "phase",
                Some(from.as_str().to_owned()),
                Some(to.as_str().to_owned()),
            ),
            phase::Change::Substate { from, to } => (
                "substate",
                from.map(|s| s.as_str().to_owned()),
                to.map(|s| s.as_str().to_owned()),
            ),
            phase::Change::Stage { from, to } => (
                "stage",
                from.map(|s| s.as_str().to_owned()),
                to.map(|s| s.as_str().to_owned()),
            ),
            phase::Change::Cooling { cold } => {
                let (from, to) = if cold {
                    ("warm", "cold")
                } else {
                    ("cold", "warm")
                };
                ("intent", Some(from.to_owned()), Some(to.to_owned()))
            }
        };
        batch.transitions.push(TransitionRecord {
            workspace_id: workspace,
            profile_id,
            dimension: dimension.to_owned(),
            from,
            to: to.unwrap_or_else(|| "none".to_owned()),
            at: transition.at,
            reason: transition.describe(lang),
        });
    }
}
