//! Workspaces and their secrets: write keys (ingest only) and admin tokens (read and manage).
//!
//! Secrets are random, shown once, and stored only as SHA-256 hashes.

use std::collections::HashMap;
use std::sync::RwLock;

use base64::Engine;
use embudo_store::{KeyKind, NewKey, Workspace, WorkspaceId};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{Embudo, Result, ServiceError};

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub workspace_id: WorkspaceId,
    pub kind: KeyKind,
}

/// A new workspace with its secrets, shown once.
pub struct NewWorkspaceKeys {
    pub workspace: Workspace,
    pub write_key: String,
    pub admin_token: String,
}

impl std::fmt::Debug for NewWorkspaceKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWorkspaceKeys")
            .field("workspace", &self.workspace)
            .finish_non_exhaustive()
    }
}

/// Recently verified secrets (by hash), so that ingest does not hit the store per request.
#[derive(Default)]
pub(crate) struct KeyCache {
    verified: RwLock<HashMap<String, Principal>>,
}

/// A new random secret with a readable prefix (`wk_` write key, `at_` admin token).
fn new_secret(kind: KeyKind) -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let prefix = match kind {
        KeyKind::Write => "wk_",
        KeyKind::Admin => "at_",
    };
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a secret.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl Embudo {
    /// Creates a workspace (one shop) with a write key and an admin token.
    pub async fn create_workspace(&self, name: &str) -> Result<NewWorkspaceKeys> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(ServiceError::Invalid(
                "workspace name must be 1 to 100 characters".to_owned(),
            ));
        }
        let write_key = new_secret(KeyKind::Write);
        let admin_token = new_secret(KeyKind::Admin);
        let keys = [
            NewKey {
                kind: KeyKind::Write,
                hash: hash_secret(&write_key),
                label: "default write key".to_owned(),
            },
            NewKey {
                kind: KeyKind::Admin,
                hash: hash_secret(&admin_token),
                label: "default admin token".to_owned(),
            },
        ];
        let workspace = self
            .inner
            .store
            .create_workspace(name, &keys, self.now())
            .await?;
        tracing::info!(workspace_id = %workspace.id, "workspace created");
        Ok(NewWorkspaceKeys {
            workspace,
            write_key,
            admin_token,
        })
    }

    /// Who a secret belongs to, if it is a live key.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Principal>> {
        if secret.is_empty() || secret.len() > 200 {
            return Ok(None);
        }
        let hash = hash_secret(secret);
        if let Some(principal) = self
            .inner
            .keys
            .verified
            .read()
            .ok()
            .and_then(|cache| cache.get(&hash).copied())
        {
            return Ok(Some(principal));
        }
        let Some(record) = self.inner.store.find_key(&hash).await? else {
            return Ok(None);
        };
        if !record.is_active() {
            return Ok(None);
        }
        let principal = Principal {
            workspace_id: record.workspace_id,
            kind: record.kind,
        };
        if let Ok(mut cache) = self.inner.keys.verified.write() {
            cache.insert(hash, principal);
        }
        Ok(Some(principal))
    }

    /// Forgets cached verifications (after a key is revoked).
    pub fn forget_cached_keys(&self) {
        if let Ok(mut cache) = self.inner.keys.verified.write() {
            cache.clear();
        }
    }
}
