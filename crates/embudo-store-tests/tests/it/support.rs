//! Shared builders for the story.

use std::collections::BTreeMap;

use embudo_core::profile::Aggregates;
use embudo_core::{Timestamp, Value};
use embudo_store::{
    KeyKind, NewKey, ProcessingBatch, ProfileId, ProfileRecord, ProfileSummary, Store, Workspace,
    WorkspaceId,
};

pub(crate) fn key(kind: KeyKind, hash: &str) -> NewKey {
    NewKey {
        kind,
        hash: hash.to_owned(),
        label: format!("{} key", kind.as_str()),
    }
}

pub(crate) async fn workspace(store: &dyn Store, name: &str) -> Workspace {
    store
        .create_workspace(
            name,
            &[
                key(KeyKind::Write, &format!("{name}-write")),
                key(KeyKind::Admin, &format!("{name}-admin")),
            ],
            Timestamp::from_secs(100),
        )
        .await
        .expect("create workspace")
}

pub(crate) fn profile(workspace: WorkspaceId, id: ProfileId, last_seen: i64) -> ProfileRecord {
    let mut traits = BTreeMap::new();
    traits.insert(
        "plan".to_owned(),
        (Value::from("pro"), Timestamp::from_secs(last_seen)),
    );
    ProfileRecord {
        id,
        workspace_id: workspace,
        user_id: None,
        email: None,
        anonymous_ids: vec![format!("anon-{}", id.0)],
        traits,
        aggregates: Aggregates {
            n_events: 1,
            ..Aggregates::default()
        },
        state: r#"{"engine":1}"#.to_owned(),
        summary: ProfileSummary::default(),
        first_seen: Timestamp::from_secs(last_seen - 10),
        last_seen: Timestamp::from_secs(last_seen),
        created_at: Timestamp::from_secs(last_seen - 10),
        updated_at: Timestamp::from_secs(last_seen),
        merged_into: None,
    }
}

/// A batch that moves the `main` cursor from where it is to `to`.
pub(crate) async fn batch(store: &dyn Store, to: i64) -> ProcessingBatch {
    ProcessingBatch {
        cursor_name: "main".to_owned(),
        cursor_from: store.cursor("main").await.expect("cursor"),
        cursor_to: to,
        ..ProcessingBatch::default()
    }
}
