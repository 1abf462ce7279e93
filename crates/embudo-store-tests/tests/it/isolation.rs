//! Workspaces and keys, and the rule that one workspace's ids never reach another's data.

use embudo_core::Timestamp;
use embudo_store::{
    IdentityKind, IdentityLink, IdentityQuery, KeyKind, Merge, ProfileFilter, ProfileId, Store,
    StoreError, TransitionRecord, WorkspaceId,
};
use embudo_store_tests::{TestStore, track};

use crate::support::{batch, key, profile, workspace};

#[tokio::test]
async fn workspaces_and_keys() {
    for test in TestStore::all().await {
        let store = &*test.store;
        let backend = test.backend;
        let shop = workspace(store, "shop").await;
        assert_eq!(shop.name, "shop");
        assert_eq!(store.workspace(shop.id).await.unwrap(), Some(shop.clone()));
        assert_eq!(store.workspace(WorkspaceId(9_999)).await.unwrap(), None);

        let error = store
            .create_workspace("shop", &[], Timestamp::from_secs(1))
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::Conflict(_)),
            "{backend}: {error}"
        );
        // A taken key hash fails the whole creation.
        let error = store
            .create_workspace(
                "second",
                &[key(KeyKind::Write, "shop-write")],
                Timestamp::from_secs(1),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::Conflict(_)),
            "{backend}: {error}"
        );
        let names: Vec<String> = store
            .workspaces()
            .await
            .unwrap()
            .into_iter()
            .map(|w| w.name)
            .collect();
        assert_eq!(names, vec!["shop"], "{backend}");

        let found = store.find_key("shop-write").await.unwrap().unwrap();
        assert_eq!(found.workspace_id, shop.id, "{backend}");
        assert_eq!(found.kind, KeyKind::Write, "{backend}");
        assert_eq!(store.find_key("nope").await.unwrap(), None, "{backend}");
        let added = store
            .add_key(
                shop.id,
                &key(KeyKind::Admin, "extra"),
                Timestamp::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(store.keys(shop.id).await.unwrap().len(), 3, "{backend}");
        let error = store
            .add_key(
                WorkspaceId(9_999),
                &key(KeyKind::Admin, "x"),
                Timestamp::from_secs(5),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::NotFound(_)),
            "{backend}: {error}"
        );

        store
            .revoke_key(shop.id, added.id, Timestamp::from_secs(6))
            .await
            .unwrap();
        store
            .revoke_key(shop.id, added.id, Timestamp::from_secs(7))
            .await
            .unwrap();
        assert_eq!(store.find_key("extra").await.unwrap(), None, "{backend}");
        let keys = store.keys(shop.id).await.unwrap();
        let revoked = keys.iter().find(|k| k.id == added.id).unwrap();
        assert_eq!(
            revoked.revoked_at,
            Some(Timestamp::from_secs(6)),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn one_workspace_never_sees_another() {
    for test in TestStore::all().await {
        let store = &*test.store;
        let backend = test.backend;
        let a = workspace(store, "a").await;
        let b = workspace(store, "b").await;
        // Give b a full set of data.
        let statuses = store
            .append_events(b.id, &[track("b-1", "Order Completed", Some("anon-b"), 10)])
            .await
            .unwrap();
        let embudo_store::AppendStatus::Inserted { seq } = statuses[0] else {
            panic!("{backend}: not inserted");
        };
        let pb = store.reserve_profile_ids(1).await.unwrap();
        let mut b_profile = profile(b.id, pb, 10);
        b_profile.user_id = Some("u-b".to_owned());
        b_profile.summary.phase = Some("III".to_owned());
        let mut commit = batch(store, seq).await;
        commit.profiles = vec![b_profile.clone()];
        commit.identities = vec![IdentityLink {
            workspace_id: b.id,
            kind: IdentityKind::User,
            value: "u-b".to_owned(),
            profile_id: pb,
        }];
        commit.event_profiles = vec![(seq, pb)];
        commit.transitions = vec![TransitionRecord {
            workspace_id: b.id,
            profile_id: pb,
            dimension: "phase".to_owned(),
            from: None,
            to: "III".to_owned(),
            at: Timestamp::from_secs(10),
            reason: "ordered".to_owned(),
        }];
        commit.orders = vec![embudo_store::OrderRecord {
            workspace_id: b.id,
            order_id: "o".to_owned(),
            profile_id: Some(pb),
            placed_at: Timestamp::from_secs(10),
            total: 1.0,
            currency: None,
            lines: Vec::new(),
            refunded: 0.0,
            cancelled: false,
        }];
        store.commit_processing(&commit).await.unwrap();

        // Reads through a with b's ids find nothing.
        assert_eq!(store.profile(a.id, pb).await.unwrap(), None, "{backend}");
        assert!(store.load_profiles(a.id, &[pb]).await.unwrap().is_empty());
        let by_user = store
            .profile_by_identity(a.id, IdentityKind::User, "u-b")
            .await
            .unwrap();
        assert_eq!(by_user, None, "{backend}");
        let user_ids = ["u-b".to_owned()];
        let found = store
            .candidates(
                a.id,
                IdentityQuery {
                    user_ids: &user_ids,
                    ..IdentityQuery::default()
                },
            )
            .await
            .unwrap();
        assert!(found.is_empty(), "{backend}");
        assert!(
            store
                .profile_events(a.id, pb, None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(store.profile_orders(a.id, pb).await.unwrap().is_empty());
        assert!(store.transitions(a.id, pb).await.unwrap().is_empty());
        let all_time = (Timestamp::from_secs(0), Timestamp::from_secs(1_000_000));
        assert!(
            store
                .orders(a.id, all_time.0, all_time.1)
                .await
                .unwrap()
                .is_empty()
        );
        let listed = store
            .list_profiles(
                a.id,
                &ProfileFilter {
                    limit: 100,
                    ..ProfileFilter::default()
                },
            )
            .await
            .unwrap();
        assert!(listed.items.is_empty(), "{backend}");
        assert!(
            store.phase_counts(a.id).await.unwrap().is_empty(),
            "{backend}"
        );
        assert!(
            store
                .keys(a.id)
                .await
                .unwrap()
                .iter()
                .all(|k| k.workspace_id == a.id)
        );
        let b_key = store.find_key("b-admin").await.unwrap().unwrap();
        let error = store
            .revoke_key(a.id, b_key.id, Timestamp::from_secs(1))
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::NotFound(_)),
            "{backend}: {error}"
        );
        assert!(
            store.find_key("b-admin").await.unwrap().is_some(),
            "{backend}"
        );

        // Writes through a cannot touch b's rows.
        let mut overwrite = batch(store, seq).await;
        overwrite.profiles = vec![profile(a.id, pb, 99)];
        let error = store.commit_processing(&overwrite).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Conflict(_)),
            "{backend}: {error}"
        );
        let pa = store.reserve_profile_ids(1).await.unwrap();
        let mut steal = batch(store, seq).await;
        steal.profiles = vec![profile(a.id, pa, 5)];
        steal.merges = vec![Merge {
            workspace_id: a.id,
            absorbed: pb,
            survivor: pa,
        }];
        let error = store.commit_processing(&steal).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Invalid(_)),
            "{backend}: {error}"
        );
        let mut relink = batch(store, seq).await;
        relink.event_profiles = vec![(seq, pa)];
        relink.profiles = vec![profile(a.id, pa, 5)];
        let error = store.commit_processing(&relink).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Invalid(_))
                && error
                    .to_string()
                    .contains(&format!("event {seq} and profile {pa}")),
            "{backend}: {error}"
        );

        // b's data is untouched.
        assert_eq!(
            store.profile(b.id, pb).await.unwrap(),
            Some(b_profile),
            "{backend}"
        );
        assert_eq!(
            store
                .profile_events(b.id, pb, None, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        let _: &dyn Store = store;
        assert_eq!(
            store
                .load_profiles(b.id, &[ProfileId(pb.0)])
                .await
                .unwrap()
                .len(),
            1,
            "{backend}"
        );
    }
}
