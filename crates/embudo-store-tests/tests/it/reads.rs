//! Reads: keyset pagination (stable under inserts), filters, sort orders, phase counts.

use std::collections::HashSet;

use embudo_core::Timestamp;
use embudo_store::{
    Direction, IdentityKind, IdentityLink, Merge, OrderRecord, PageCursor, PhaseCount,
    ProfileFilter, ProfileId, ProfileRecord, SortField, Store, StoreError, WorkspaceId,
};
use embudo_store_tests::TestStore;

use crate::support::{batch, profile, workspace};

fn numbered(ws: WorkspaceId, first: ProfileId, i: i64) -> ProfileRecord {
    let mut record = profile(ws, ProfileId(first.0 + i), 1_000 + (i % 7) * 10);
    record.summary.phase = Some(["I", "II", "III"][(i % 3) as usize].to_owned());
    record.summary.substate = (i % 3 == 2).then(|| "active".to_owned());
    record.summary.stage = Some(if i % 2 == 0 { "connect" } else { "explore" }.to_owned());
    record.summary.intent = (i % 4 != 0).then_some((i % 5) as f64 / 10.0);
    record.summary.audiences = if i % 5 == 0 {
        vec!["vip".to_owned(), "tea".to_owned()]
    } else {
        vec!["tea".to_owned()]
    };
    record
}

async fn save(store: &dyn Store, records: Vec<ProfileRecord>) {
    let mut b = batch(store, 0).await;
    b.cursor_to = b.cursor_from;
    b.profiles = records;
    store.commit_processing(&b).await.unwrap();
}

async fn all_pages(store: &dyn Store, ws: WorkspaceId, filter: &ProfileFilter) -> Vec<ProfileId> {
    let mut filter = filter.clone();
    let mut ids = Vec::new();
    loop {
        let page = store.list_profiles(ws, &filter).await.unwrap();
        ids.extend(page.items.iter().map(|p| p.id));
        match page.next {
            Some(next) => filter.after = Some(next),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn pages_are_stable_under_inserts_and_follow_the_sort() {
    for test in TestStore::all().await {
        let store = &*test.store;
        let backend = test.backend;
        let ws = workspace(store, "shop").await.id;
        let first = store.reserve_profile_ids(100).await.unwrap();
        let records: Vec<_> = (0..25).map(|i| numbered(ws, first, i)).collect();
        save(store, records.clone()).await;

        // Newest first, by last_seen then id, 10 at a time, with inserts between pages.
        let mut filter = ProfileFilter {
            limit: 10,
            ..ProfileFilter::default()
        };
        let page1 = store.list_profiles(ws, &filter).await.unwrap();
        assert_eq!(page1.items.len(), 10, "{backend}");
        // One profile lands before the cursor (newer), one after it (older).
        let mut newer = numbered(ws, first, 50);
        newer.last_seen = Timestamp::from_secs(5_000);
        let mut older = numbered(ws, first, 51);
        older.last_seen = Timestamp::from_secs(1);
        save(store, vec![newer.clone(), older.clone()]).await;
        filter.after = page1.next.clone();
        let rest = all_pages(store, ws, &filter).await;
        let mut seen: Vec<ProfileId> = page1.items.iter().map(|p| p.id).collect();
        seen.extend(rest);
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{backend}: no profile twice");
        assert!(
            !seen.contains(&newer.id),
            "{backend}: a newer insert is not on later pages"
        );
        assert!(
            seen.contains(&older.id),
            "{backend}: an older insert shows up"
        );
        let mut expected = records.clone();
        expected.push(older.clone());
        expected.sort_by_key(|p| std::cmp::Reverse((p.last_seen, p.id)));
        let expected: Vec<ProfileId> = expected.iter().map(|p| p.id).collect();
        assert_eq!(seen, expected, "{backend}");

        // Intent ascending: missing intents first, then by value, ties by id.
        let by_intent = all_pages(
            store,
            ws,
            &ProfileFilter {
                sort: SortField::Intent,
                direction: Direction::Asc,
                limit: 4,
                ..ProfileFilter::default()
            },
        )
        .await;
        let mut all = records.clone();
        all.push(newer);
        all.push(older);
        all.sort_by(|a, b| {
            let key = |p: &ProfileRecord| p.summary.intent.unwrap_or(f64::MIN);
            key(a).total_cmp(&key(b)).then(a.id.cmp(&b.id))
        });
        let expected: Vec<ProfileId> = all.iter().map(|p| p.id).collect();
        assert_eq!(by_intent, expected, "{backend}");

        // Scored and unscored profiles come from two queries (the score indexes hold only the
        // scored): both directions, wherever a page boundary falls, and with a filter.
        for limit in 1..=6 {
            for direction in [Direction::Asc, Direction::Desc] {
                let filter = ProfileFilter {
                    sort: SortField::Intent,
                    direction,
                    limit,
                    ..ProfileFilter::default()
                };
                let mut want = expected.clone();
                if direction == Direction::Desc {
                    want.reverse();
                }
                let got = all_pages(store, ws, &filter).await;
                assert_eq!(got, want, "{backend}: {direction:?}, {limit} a page");
                let phase_ii = ProfileFilter {
                    phase: Some("II".to_owned()),
                    ..filter
                };
                let want: Vec<ProfileId> = want
                    .iter()
                    .copied()
                    .filter(|id| {
                        all.iter()
                            .any(|p| p.id == *id && p.summary.phase.as_deref() == Some("II"))
                    })
                    .collect();
                let got = all_pages(store, ws, &phase_ii).await;
                assert_eq!(
                    got, want,
                    "{backend}: phase II, {direction:?}, {limit} a page"
                );
            }
        }

        // Filters.
        let vip_iii = all_pages(
            store,
            ws,
            &ProfileFilter {
                phase: Some("III".to_owned()),
                audience: Some("vip".to_owned()),
                limit: 100,
                ..ProfileFilter::default()
            },
        )
        .await;
        let mut expected: Vec<ProfileId> = all
            .iter()
            .filter(|p| {
                p.summary.phase.as_deref() == Some("III")
                    && p.summary.audiences.iter().any(|a| a == "vip")
            })
            .map(|p| p.id)
            .collect();
        expected.sort();
        let mut got = vip_iii.clone();
        got.sort();
        assert_eq!(got, expected, "{backend}");
        assert!(!got.is_empty(), "{backend}: the filter matches something");

        // A cursor made for another sort is refused.
        let error = store
            .list_profiles(
                ws,
                &ProfileFilter {
                    sort: SortField::Clv,
                    after: page1.next.clone(),
                    limit: 10,
                    ..ProfileFilter::default()
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::Invalid(_)),
            "{backend}: {error}"
        );
        let error = store
            .list_profiles(
                ws,
                &ProfileFilter {
                    after: Some(PageCursor("garbage".to_owned())),
                    limit: 10,
                    ..ProfileFilter::default()
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::Invalid(_)),
            "{backend}: {error}"
        );
    }
}

#[tokio::test]
async fn phase_counts_count_live_profiles() {
    for test in TestStore::all().await {
        let store = &*test.store;
        let backend = test.backend;
        let ws = workspace(store, "shop").await.id;
        let first = store.reserve_profile_ids(10).await.unwrap();
        save(store, (0..6).map(|i| numbered(ws, first, i)).collect()).await;
        let counts = store.phase_counts(ws).await.unwrap();
        let row = |phase: &str, substate: Option<&str>, stage: &str, count| PhaseCount {
            phase: Some(phase.to_owned()),
            substate: substate.map(str::to_owned),
            stage: Some(stage.to_owned()),
            count,
        };
        let mut expected = vec![
            row("I", None, "connect", 1),
            row("I", None, "explore", 1),
            row("II", None, "connect", 1),
            row("II", None, "explore", 1),
            row("III", Some("active"), "connect", 1),
            row("III", Some("active"), "explore", 1),
        ];
        let mut counts_sorted = counts.clone();
        let key = |c: &PhaseCount| (c.phase.clone(), c.substate.clone(), c.stage.clone());
        counts_sorted.sort_by_key(key);
        expected.sort_by_key(key);
        assert_eq!(counts_sorted, expected, "{backend}");
    }
}

/// The counts follow every write that changes them: a stored profile moving to another phase,
/// one written merged, a merge, a profile without a phase, a batch that fails.
#[tokio::test]
async fn phase_counts_follow_updates_merges_and_failed_batches() {
    for test in TestStore::all().await {
        let store = &*test.store;
        let backend = test.backend;
        let ws = workspace(store, "shop").await.id;
        let other = workspace(store, "other").await.id;
        let first = store.reserve_profile_ids(10).await.unwrap();
        let id = |i: i64| ProfileId(first.0 + i);
        let mut records: Vec<_> = (0..6).map(|i| numbered(ws, first, i)).collect();
        // A profile the engine has not placed yet, and one of another workspace.
        records[5].summary.phase = None;
        records[5].summary.substate = None;
        records[5].summary.stage = None;
        records.push(numbered(other, first, 6));
        save(store, records.clone()).await;

        // 0 moves from I/connect to II/explore; 2 (III/active/connect) is written already
        // merged into 3.
        let mut moved = records[0].clone();
        moved.summary.phase = Some("II".to_owned());
        moved.summary.stage = Some("explore".to_owned());
        let mut merged = records[2].clone();
        merged.merged_into = Some(id(3));
        // An earlier row of 0 in the same batch: the last one given is the one written.
        let mut earlier = moved.clone();
        earlier.summary.phase = Some("III".to_owned());
        save(store, vec![earlier, moved, merged]).await;
        // 1 (II/explore) is merged into 4; 2, merged already, is absorbed again.
        let mut b = batch(store, 0).await;
        b.cursor_to = b.cursor_from;
        b.merges = vec![
            Merge {
                workspace_id: ws,
                absorbed: id(1),
                survivor: id(4),
            },
            Merge {
                workspace_id: ws,
                absorbed: id(2),
                survivor: id(4),
            },
        ];
        store.commit_processing(&b).await.unwrap();
        // A batch that fails changes nothing: its profile is another workspace's.
        let mut foreign = records[6].clone();
        foreign.workspace_id = ws;
        foreign.summary.phase = Some("III".to_owned());
        let mut b = batch(store, 0).await;
        b.cursor_to = b.cursor_from;
        b.profiles = vec![numbered(ws, first, 8), foreign];
        store.commit_processing(&b).await.unwrap_err();

        let counted = |counts: Vec<PhaseCount>| {
            let mut rows: Vec<_> = counts
                .into_iter()
                .map(|c| (c.phase, c.substate, c.stage, c.count))
                .collect();
            rows.sort();
            rows
        };
        let row = |phase: Option<&str>, substate: Option<&str>, stage: Option<&str>, n| {
            (
                phase.map(str::to_owned),
                substate.map(str::to_owned),
                stage.map(str::to_owned),
                n,
            )
        };
        assert_eq!(
            counted(store.phase_counts(ws).await.unwrap()),
            [
                row(None, None, None, 1),
                row(Some("I"), None, Some("explore"), 1),
                row(Some("II"), None, Some("connect"), 1),
                row(Some("II"), None, Some("explore"), 1),
            ],
            "{backend}"
        );
        assert_eq!(
            counted(store.phase_counts(other).await.unwrap()),
            [row(Some("I"), None, Some("connect"), 1)],
            "{backend}"
        );
    }
}

/// Identifiers compare byte for byte on both backends, whatever the database's collation
/// (the PostgreSQL test databases sort text by `en-US` rules unless a column says otherwise):
/// orders placed at the same moment list in the byte order of their ids, phase counts in that
/// of their codes, and an identity matches only its exact bytes.
#[tokio::test]
async fn identifiers_sort_and_match_byte_for_byte() {
    for test in TestStore::all().await {
        let store = &*test.store;
        let backend = test.backend;
        let ws = workspace(store, "shop").await.id;
        let first = store.reserve_profile_ids(6).await.unwrap();
        let ids: Vec<ProfileId> = (0..6).map(|i| ProfileId(first.0 + i)).collect();
        let mut commit = batch(store, 0).await;
        // Language rules would sort these a-2, b-0, B-1, é-3, _x (case and accents second).
        let order_ids = ["b-0", "B-1", "a-2", "é-3", "_x"];
        commit.orders = order_ids
            .iter()
            .map(|order_id| OrderRecord {
                workspace_id: ws,
                order_id: (*order_id).to_owned(),
                profile_id: Some(ids[0]),
                placed_at: Timestamp::from_secs(50),
                total: 1.0,
                currency: None,
                lines: Vec::new(),
                refunded: 0.0,
                cancelled: false,
            })
            .collect();
        let stages = ["explore", "Explore", "advise", "_new", "Advise", "explore"];
        commit.profiles = ids
            .iter()
            .zip(stages)
            .map(|(id, stage)| {
                let mut record = profile(ws, *id, 60);
                record.summary.phase = Some("II".to_owned());
                record.summary.stage = Some(stage.to_owned());
                record
            })
            .collect();
        commit.identities = vec![IdentityLink {
            workspace_id: ws,
            kind: IdentityKind::User,
            value: "Ana".to_owned(),
            profile_id: ids[1],
        }];
        store.commit_processing(&commit).await.unwrap();

        let listed: Vec<String> = store
            .orders(ws, Timestamp::from_secs(0), Timestamp::from_secs(100))
            .await
            .unwrap()
            .into_iter()
            .map(|order| order.order_id)
            .collect();
        assert_eq!(listed, ["B-1", "_x", "a-2", "b-0", "é-3"], "{backend}");
        let counted: Vec<(Option<String>, u64)> = store
            .phase_counts(ws)
            .await
            .unwrap()
            .into_iter()
            .map(|count| (count.stage, count.count))
            .collect();
        let expected = [
            ("Advise", 1),
            ("Explore", 1),
            ("_new", 1),
            ("advise", 1),
            ("explore", 2),
        ];
        assert_eq!(
            counted,
            expected
                .iter()
                .map(|(stage, n)| (Some((*stage).to_owned()), *n))
                .collect::<Vec<_>>(),
            "{backend}"
        );
        let found = |value: &'static str| async move {
            store
                .profile_by_identity(ws, IdentityKind::User, value)
                .await
                .unwrap()
                .map(|found| found.id)
        };
        assert_eq!(found("Ana").await, Some(ids[1]), "{backend}");
        assert_eq!(found("ana").await, None, "{backend}: another user");
        assert_eq!(found("ANA").await, None, "{backend}: another user");
    }
}
