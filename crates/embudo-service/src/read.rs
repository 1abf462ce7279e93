//! Reads for the management API and the dashboard.

use embudo_store::{
    IdentityKind, LoggedEvent, OrderRecord, Page, PhaseCount, ProfileFilter, ProfileId,
    ProfileRecord, TransitionRecord, WorkspaceId,
};

use crate::{Embudo, Result};

/// Most events one read returns.
pub const MAX_EVENTS_PAGE: u32 = 500;

impl Embudo {
    pub async fn profile(
        &self,
        workspace: WorkspaceId,
        id: ProfileId,
    ) -> Result<Option<ProfileRecord>> {
        Ok(self.inner.store.profile(workspace, id).await?)
    }

    pub async fn profile_by_identity(
        &self,
        workspace: WorkspaceId,
        kind: IdentityKind,
        value: &str,
    ) -> Result<Option<ProfileRecord>> {
        let value = match kind {
            IdentityKind::Email => value.trim().to_lowercase(),
            _ => value.trim().to_owned(),
        };
        Ok(self
            .inner
            .store
            .profile_by_identity(workspace, kind, &value)
            .await?)
    }

    pub async fn list_profiles(
        &self,
        workspace: WorkspaceId,
        filter: &ProfileFilter,
    ) -> Result<Page<ProfileRecord>> {
        Ok(self.inner.store.list_profiles(workspace, filter).await?)
    }

    pub async fn profile_events(
        &self,
        workspace: WorkspaceId,
        id: ProfileId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LoggedEvent>> {
        let limit = limit.clamp(1, MAX_EVENTS_PAGE);
        Ok(self
            .inner
            .store
            .profile_events(workspace, id, before_seq, limit)
            .await?)
    }

    pub async fn profile_orders(
        &self,
        workspace: WorkspaceId,
        id: ProfileId,
    ) -> Result<Vec<OrderRecord>> {
        Ok(self.inner.store.profile_orders(workspace, id).await?)
    }

    pub async fn transitions(
        &self,
        workspace: WorkspaceId,
        id: ProfileId,
    ) -> Result<Vec<TransitionRecord>> {
        Ok(self.inner.store.transitions(workspace, id).await?)
    }

    pub async fn phase_counts(&self, workspace: WorkspaceId) -> Result<Vec<PhaseCount>> {
        Ok(self.inner.store.phase_counts(workspace).await?)
    }
}
