//! Built models: versioned per kind and workspace, newest first, old versions pruned.

use embudo_core::Timestamp;
use embudo_store::{KEPT_MODEL_VERSIONS, NewModel, StoreError, WorkspaceId};
use embudo_store_tests::TestStore;

use crate::support::workspace;

fn model(kind: &str, at: i64, payload: &[u8]) -> NewModel {
    NewModel {
        kind: kind.to_owned(),
        built_at: Timestamp::from_secs(at),
        report: format!(r#"{{"built":{at}}}"#),
        payload: payload.to_vec(),
    }
}

#[tokio::test]
async fn models_are_versioned_per_kind_and_workspace() {
    for test in TestStore::all().await {
        let store = &*test.store;
        let backend = test.backend;
        let a = workspace(store, "a").await;
        let b = workspace(store, "b").await;
        assert_eq!(
            store.model(a.id, "intent").await.unwrap(),
            None,
            "{backend}"
        );

        let first = store
            .save_model(a.id, &model("intent", 10, b"\x00\x01binary"))
            .await
            .unwrap();
        assert_eq!((first.version, first.size), (1, 8), "{backend}");
        let second = store
            .save_model(a.id, &model("intent", 20, b"v2"))
            .await
            .unwrap();
        assert_eq!(second.version, 2, "{backend}");
        store
            .save_model(a.id, &model("btyd", 30, b"btyd"))
            .await
            .unwrap();
        // Another workspace's versions are its own.
        let other = store
            .save_model(b.id, &model("intent", 40, b"b"))
            .await
            .unwrap();
        assert_eq!(other.version, 1, "{backend}");

        let newest = store.model(a.id, "intent").await.unwrap().unwrap();
        assert_eq!(newest.info, second, "{backend}");
        assert_eq!(newest.payload, b"v2", "{backend}");
        let infos: Vec<(String, i64)> = store
            .models(a.id)
            .await
            .unwrap()
            .into_iter()
            .map(|info| (info.kind, info.version))
            .collect();
        assert_eq!(
            infos,
            [
                ("btyd".into(), 1),
                ("intent".into(), 2),
                ("intent".into(), 1)
            ],
            "{backend}"
        );
        assert_eq!(
            store.model(b.id, "intent").await.unwrap().unwrap().payload,
            b"b",
            "{backend}"
        );

        let error = store
            .save_model(WorkspaceId(9_999), &model("intent", 1, b""))
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::NotFound(_)),
            "{backend}: {error}"
        );
    }
}

#[tokio::test]
async fn only_the_newest_versions_are_kept() {
    for test in TestStore::all().await {
        let store = &*test.store;
        let backend = test.backend;
        let shop = workspace(store, "shop").await;
        for at in 1..=KEPT_MODEL_VERSIONS + 2 {
            store
                .save_model(shop.id, &model("recommend", at, b"x"))
                .await
                .unwrap();
        }
        let versions: Vec<i64> = store
            .models(shop.id)
            .await
            .unwrap()
            .into_iter()
            .map(|info| info.version)
            .collect();
        let expected: Vec<i64> = (3..=KEPT_MODEL_VERSIONS + 2).rev().collect();
        assert_eq!(versions, expected, "{backend}");
    }
}
