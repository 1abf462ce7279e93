//! Processing batches: profiles, identities, merges, orders, transitions, conflicts, and the
//! cursor committed with them, all or nothing.

use embudo_core::identity::MatchedBy;
use embudo_core::order::OrderLine;
use embudo_core::{Timestamp, Value};
use embudo_store::{
    AppendStatus, ConflictRecord, IdentityKind, IdentityLink, IdentityQuery, Merge, OrderRecord,
    ProcessingBatch, ProfileFilter, ProfileId, StoreError, TransitionRecord, WorkspaceId,
};
use embudo_store_tests::{TestStore, track};

use crate::support::{batch, profile, workspace};

fn seq(status: &AppendStatus) -> i64 {
    match status {
        AppendStatus::Inserted { seq } => *seq,
        AppendStatus::Duplicate => panic!("expected an insert"),
    }
}

fn order(ws: WorkspaceId, profile: ProfileId, refunded: f64) -> OrderRecord {
    OrderRecord {
        workspace_id: ws,
        order_id: "o-1".to_owned(),
        profile_id: Some(profile),
        placed_at: Timestamp::from_secs(20),
        total: 30.0,
        currency: Some("EUR".to_owned()),
        lines: vec![OrderLine {
            product_id: "p-1".to_owned(),
            sku: Some("sku-1".to_owned()),
            name: None,
            category: Some("tea".to_owned()),
            brand: None,
            unit_price: 15.0,
            quantity: 2.0,
        }],
        refunded,
        cancelled: false,
    }
}

fn link(ws: WorkspaceId, kind: IdentityKind, value: &str, profile: ProfileId) -> IdentityLink {
    IdentityLink {
        workspace_id: ws,
        kind,
        value: value.to_owned(),
        profile_id: profile,
    }
}

#[tokio::test]
async fn batches_store_profiles_and_merges_repoint_everything() {
    for test in TestStore::all().await {
        let store = &*test.store;
        let backend = test.backend;
        let ws = workspace(store, "shop").await.id;
        let events = [
            track("e1", "Page", Some("a1"), 10),
            track("e2", "Product Viewed", Some("a1"), 11),
            track("e3", "Signed Up", None, 12),
            track("e4", "Identify", Some("a1"), 13),
        ];
        let statuses = store.append_events(ws, &events).await.unwrap();
        let seqs: Vec<i64> = statuses.iter().map(seq).collect();

        let first = store.reserve_profile_ids(2).await.unwrap();
        let (p1, p2) = (first, ProfileId(first.0 + 1));
        let later = store.reserve_profile_ids(1).await.unwrap();
        assert!(
            later.0 >= first.0 + 2,
            "{backend}: reserved ids are not handed out twice"
        );

        // Batch 1: an anonymous visitor and a known user.
        let anon = profile(ws, p1, 11);
        let mut known = profile(ws, p2, 12);
        known.user_id = Some("u1".to_owned());
        known.email = Some("ana@example.es".to_owned());
        known.summary.phase = Some("II".to_owned());
        known.summary.intent = Some(0.4);
        known.summary.audiences = vec!["tea lovers".to_owned()];
        let mut b = batch(store, seqs[2]).await;
        assert_eq!(b.cursor_from, 0, "{backend}");
        b.profiles = vec![anon.clone(), known.clone()];
        b.identities = vec![
            link(ws, IdentityKind::Anonymous, "a1", p1),
            link(ws, IdentityKind::User, "u1", p2),
            link(ws, IdentityKind::Email, "ana@example.es", p2),
        ];
        b.event_profiles = vec![(seqs[0], p1), (seqs[1], p1), (seqs[2], p2)];
        b.orders = vec![order(ws, p1, 0.0)];
        b.transitions = vec![TransitionRecord {
            workspace_id: ws,
            profile_id: p1,
            dimension: "phase".to_owned(),
            from: None,
            to: "I".to_owned(),
            at: Timestamp::from_secs(11),
            reason: "landing page".to_owned(),
        }];
        b.conflicts = vec![ConflictRecord {
            workspace_id: ws,
            seq: seqs[2],
            profile_id: p2,
            conflicting: vec![p1],
            reason: "two users".to_owned(),
            at: Timestamp::from_secs(12),
        }];
        store.commit_processing(&b).await.unwrap();
        assert_eq!(store.cursor("main").await.unwrap(), seqs[2], "{backend}");
        assert_eq!(store.cursor("other").await.unwrap(), 0, "{backend}");

        // A value given twice matches once.
        let anonymous_ids = ["a1".to_owned(), "unknown".to_owned(), "a1".to_owned()];
        let user_ids = ["u1".to_owned()];
        let emails = ["ana@example.es".to_owned()];
        let mut found = store
            .candidates(
                ws,
                IdentityQuery {
                    anonymous_ids: &anonymous_ids,
                    user_ids: &user_ids,
                    emails: &emails,
                },
            )
            .await
            .unwrap();
        found.sort_by_key(|m| m.kind);
        let summary: Vec<_> = found
            .iter()
            .map(|m| {
                (
                    m.kind,
                    m.value.as_str(),
                    m.candidate.profile_id,
                    m.candidate.user_id.as_deref(),
                    m.candidate.matched_by,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    IdentityKind::Anonymous,
                    "a1",
                    p1.0,
                    None,
                    MatchedBy::AnonymousId
                ),
                (
                    IdentityKind::User,
                    "u1",
                    p2.0,
                    Some("u1"),
                    MatchedBy::UserId
                ),
                (
                    IdentityKind::Email,
                    "ana@example.es",
                    p2.0,
                    Some("u1"),
                    MatchedBy::Email
                ),
            ],
            "{backend}"
        );
        let mut loaded = store
            .load_profiles(ws, &[p2, p1, ProfileId(999_999)])
            .await
            .unwrap();
        loaded.sort_by_key(|p| p.id);
        assert_eq!(
            loaded,
            vec![anon.clone(), known.clone()],
            "{backend}: round-trip"
        );
        assert_eq!(
            store.profile(ws, p1).await.unwrap(),
            Some(anon.clone()),
            "{backend}"
        );
        let by_email = store
            .profile_by_identity(ws, IdentityKind::Email, "ana@example.es")
            .await
            .unwrap();
        assert_eq!(by_email.map(|p| p.id), Some(p2), "{backend}");
        let p1_events: Vec<i64> = store
            .profile_events(ws, p1, None, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(p1_events, vec![seqs[1], seqs[0]], "{backend}: newest first");

        // Batch 2: the visitor identifies as u1; the anonymous profile is folded into the
        // known one, and the order is upserted with a refund.
        let mut merged = known.clone();
        merged.anonymous_ids = vec!["a1".to_owned()];
        merged.last_seen = Timestamp::from_secs(13);
        let mut b = batch(store, seqs[3]).await;
        b.profiles = vec![merged.clone()];
        b.event_profiles = vec![(seqs[3], p2)];
        b.orders = vec![order(ws, p1, 12.5)];
        b.merges = vec![Merge {
            workspace_id: ws,
            absorbed: p1,
            survivor: p2,
        }];
        store.commit_processing(&b).await.unwrap();

        assert_eq!(
            store.profile(ws, p1).await.unwrap(),
            Some(merged.clone()),
            "{backend}"
        );
        let absorbed = store.load_profiles(ws, &[p1]).await.unwrap();
        assert_eq!(absorbed[0].merged_into, Some(p2), "{backend}");
        let found = store
            .candidates(
                ws,
                IdentityQuery {
                    anonymous_ids: &anonymous_ids,
                    ..IdentityQuery::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{backend}");
        assert_eq!(
            found[0].candidate.profile_id, p2.0,
            "{backend}: identity re-pointed"
        );
        assert_eq!(
            found[0].candidate.user_id.as_deref(),
            Some("u1"),
            "{backend}"
        );
        let p2_events: Vec<i64> = store
            .profile_events(ws, p2, None, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(
            p2_events,
            vec![seqs[3], seqs[2], seqs[1], seqs[0]],
            "{backend}"
        );
        let page: Vec<i64> = store
            .profile_events(ws, p1, Some(seqs[2]), 1)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(
            page,
            vec![seqs[1]],
            "{backend}: before_seq and limit, via the survivor"
        );
        let orders = store.profile_orders(ws, p2).await.unwrap();
        assert_eq!(
            orders,
            vec![order(ws, p2, 12.5)],
            "{backend}: upserted and re-pointed"
        );
        let transitions = store.transitions(ws, p2).await.unwrap();
        assert_eq!(transitions.len(), 1, "{backend}");
        assert_eq!(transitions[0].profile_id, p2, "{backend}");
        assert_eq!(transitions[0].reason, "landing page", "{backend}");
        assert_eq!(
            store.conflicts(ws).await.unwrap(),
            b_conflicts(ws, seqs[2], p2, p1)
        );
        let listed = store
            .list_profiles(
                ws,
                &ProfileFilter {
                    limit: 10,
                    ..ProfileFilter::default()
                },
            )
            .await
            .unwrap();
        let ids: Vec<ProfileId> = listed.items.iter().map(|p| p.id).collect();
        assert_eq!(
            ids,
            vec![p2],
            "{backend}: merged-away profiles are not listed"
        );
        let in_period = store
            .orders(ws, Timestamp::from_secs(20), Timestamp::from_secs(21))
            .await
            .unwrap();
        assert_eq!(in_period.len(), 1, "{backend}");
        assert!(
            store
                .orders(ws, Timestamp::from_secs(21), Timestamp::from_secs(99))
                .await
                .unwrap()
                .is_empty(),
            "{backend}"
        );

        // Batch 3: the survivor is itself folded into a third profile; the first follows.
        let p3 = store.reserve_profile_ids(1).await.unwrap();
        let mut b = batch(store, seqs[3]).await;
        b.profiles = vec![profile(ws, p3, 14)];
        b.merges = vec![Merge {
            workspace_id: ws,
            absorbed: p2,
            survivor: p3,
        }];
        store.commit_processing(&b).await.unwrap();
        assert_eq!(store.profile(ws, p1).await.unwrap().map(|p| p.id), Some(p3));
        let by_anon = store
            .profile_by_identity(ws, IdentityKind::Anonymous, "a1")
            .await
            .unwrap();
        assert_eq!(by_anon.map(|p| p.id), Some(p3), "{backend}");
        assert_eq!(
            store.profile_events(ws, p1, None, 10).await.unwrap().len(),
            4
        );
    }
}

fn b_conflicts(ws: WorkspaceId, seq: i64, p2: ProfileId, p1: ProfileId) -> Vec<ConflictRecord> {
    vec![ConflictRecord {
        workspace_id: ws,
        seq,
        profile_id: p2,
        conflicting: vec![p1],
        reason: "two users".to_owned(),
        at: Timestamp::from_secs(12),
    }]
}

#[tokio::test]
async fn a_failed_batch_leaves_nothing_behind() {
    for test in TestStore::all().await {
        let store = &*test.store;
        let backend = test.backend;
        let ws = workspace(store, "shop").await.id;
        let statuses = store
            .append_events(ws, &[track("e1", "Page", Some("a1"), 10)])
            .await
            .unwrap();
        let seq1 = seq(&statuses[0]);
        let p1 = store.reserve_profile_ids(1).await.unwrap();

        // Everything valid but the last step: the merge names a survivor that does not exist.
        let mut b = batch(store, seq1).await;
        b.profiles = vec![profile(ws, p1, 10)];
        b.identities = vec![link(ws, IdentityKind::Anonymous, "a1", p1)];
        b.event_profiles = vec![(seq1, p1)];
        b.orders = vec![order(ws, p1, 0.0)];
        b.merges = vec![Merge {
            workspace_id: ws,
            absorbed: p1,
            survivor: ProfileId(p1.0 + 1_000),
        }];
        let error = store.commit_processing(&b).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Invalid(_)),
            "{backend}: {error}"
        );
        assert_nothing_committed(store, ws, p1, backend).await;

        // A stale cursor: another processor got there first.
        let mut stale = b.clone();
        stale.merges.clear();
        stale.cursor_from = 7;
        let error = store.commit_processing(&stale).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Conflict(_)),
            "{backend}: {error}"
        );
        assert_nothing_committed(store, ws, p1, backend).await;

        // A profile of another workspace cannot be written through this one.
        let other = workspace(store, "other").await.id;
        let mut foreign = b.clone();
        foreign.merges.clear();
        foreign.event_profiles = vec![(seq1, p1)];
        foreign.identities = vec![link(other, IdentityKind::Anonymous, "a1", p1)];
        let error = store.commit_processing(&foreign).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Invalid(_)),
            "{backend}: {error}"
        );
        assert_nothing_committed(store, ws, p1, backend).await;

        // The same batch without the bad merge commits, and once only.
        let mut good = b.clone();
        good.merges.clear();
        store.commit_processing(&good).await.unwrap();
        assert_eq!(store.cursor("main").await.unwrap(), seq1, "{backend}");
        let error = store.commit_processing(&good).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Conflict(_)),
            "{backend}: replay is refused"
        );
        let log = store.read_log(0, 10).await.unwrap();
        assert_eq!(log[0].profile_id, Some(p1), "{backend}");
        let stored = store.profile(ws, p1).await.unwrap().unwrap();
        assert_eq!(
            stored.traits.get("plan").map(|t| &t.0),
            Some(&Value::from("pro"))
        );
    }
}

/// The profiles a batch creates are inserted, not upserted: one that is stored already fails
/// the batch as a conflict, and nothing of it is stored. Identity links that find their
/// identity stored re-point it, in the same chunk as new ones; one to a missing profile fails.
#[tokio::test]
async fn created_profiles_are_inserted_and_stored_identities_repointed() {
    for test in TestStore::all().await {
        let store = &*test.store;
        let backend = test.backend;
        let ws = workspace(store, "shop").await.id;
        let statuses = store
            .append_events(
                ws,
                &[
                    track("e1", "Page", Some("a1"), 10),
                    track("e2", "Page", Some("a2"), 11),
                ],
            )
            .await
            .unwrap();
        let (seq1, seq2) = (seq(&statuses[0]), seq(&statuses[1]));
        let p1 = store.reserve_profile_ids(2).await.unwrap();
        let p2 = ProfileId(p1.0 + 1);

        // p1 is created by the batch, p2 goes through the upsert.
        let mut first = batch(store, seq1).await;
        first.profiles = vec![profile(ws, p1, 10), profile(ws, p2, 10)];
        first.created = vec![p1];
        first.identities = vec![
            link(ws, IdentityKind::Anonymous, "a1", p1),
            link(ws, IdentityKind::Anonymous, "a2", p2),
        ];
        store.commit_processing(&first).await.unwrap();
        let stored = store.profile(ws, p1).await.unwrap().unwrap();
        assert_eq!(stored.last_seen, Timestamp::from_secs(10), "{backend}");
        assert!(store.profile(ws, p2).await.unwrap().is_some(), "{backend}");

        // Created again: refused, and nothing of the batch is stored.
        let mut again = batch(store, seq2).await;
        again.profiles = vec![profile(ws, p1, 20)];
        again.created = vec![p1];
        again.identities = vec![link(ws, IdentityKind::Anonymous, "a3", p1)];
        let error = store.commit_processing(&again).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Conflict(_)),
            "{backend}: {error}"
        );
        assert_eq!(store.cursor("main").await.unwrap(), seq1, "{backend}");
        let unchanged = store.profile(ws, p1).await.unwrap().unwrap();
        assert_eq!(unchanged.last_seen, Timestamp::from_secs(10), "{backend}");
        let a3 = store
            .profile_by_identity(ws, IdentityKind::Anonymous, "a3")
            .await
            .unwrap();
        assert_eq!(a3, None, "{backend}");

        // As an update it is stored; a stored identity is re-pointed beside a new one.
        again.created.clear();
        again.identities = vec![
            link(ws, IdentityKind::Anonymous, "a3", p1),
            link(ws, IdentityKind::Anonymous, "a2", p1),
        ];
        store.commit_processing(&again).await.unwrap();
        let updated = store.profile(ws, p1).await.unwrap().unwrap();
        assert_eq!(updated.last_seen, Timestamp::from_secs(20), "{backend}");
        for value in ["a1", "a2", "a3"] {
            let found = store
                .profile_by_identity(ws, IdentityKind::Anonymous, value)
                .await
                .unwrap()
                .map(|profile| profile.id);
            assert_eq!(found, Some(p1), "{backend}: {value}");
        }

        // A stored identity and a link to a profile the workspace does not have, in one chunk.
        let mut missing = batch(store, seq2).await;
        missing.identities = vec![
            link(ws, IdentityKind::Anonymous, "a2", p2),
            link(ws, IdentityKind::Anonymous, "a4", ProfileId(p1.0 + 1_000)),
        ];
        let error = store.commit_processing(&missing).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Invalid(_)),
            "{backend}: {error}"
        );
        let a2 = store
            .profile_by_identity(ws, IdentityKind::Anonymous, "a2")
            .await
            .unwrap()
            .map(|profile| profile.id);
        assert_eq!(
            a2,
            Some(p1),
            "{backend}: the failed batch re-pointed nothing"
        );
    }
}

async fn assert_nothing_committed(
    store: &dyn embudo_store::Store,
    ws: WorkspaceId,
    p1: ProfileId,
    backend: &str,
) {
    assert_eq!(store.cursor("main").await.unwrap(), 0, "{backend}");
    assert_eq!(store.profile(ws, p1).await.unwrap(), None, "{backend}");
    let found = store
        .profile_by_identity(ws, IdentityKind::Anonymous, "a1")
        .await
        .unwrap();
    assert_eq!(found, None, "{backend}");
    assert!(
        store.profile_orders(ws, p1).await.unwrap().is_empty(),
        "{backend}"
    );
    let orders = store
        .orders(ws, Timestamp::from_secs(0), Timestamp::from_secs(1_000))
        .await
        .unwrap();
    assert!(orders.is_empty(), "{backend}");
    let log = store.read_log(0, 10).await.unwrap();
    assert_eq!(log[0].profile_id, None, "{backend}");
}

/// Processors on several nodes race from the same cursor: exactly one commit of each round may
/// win, and the cursor never moves back. (A plain read of the cursor at the start of the
/// transaction let two overlapping commits on PostgreSQL both pass the check, the later one
/// then writing its cursor over the earlier one's.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_commits_from_one_cursor_let_exactly_one_win() {
    for test in TestStore::all().await {
        let store = test.store.clone();
        let backend = test.backend;
        let ws = workspace(&*store, "shop").await.id;
        let mut cursor = 0;
        for round in 0..5i64 {
            let n_racers = 8i64;
            let racers: Vec<_> = (0..n_racers)
                .map(|racer| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        // Each racer writes a profile of its own and a cursor of its own.
                        let id = ProfileId(1 + round * 100 + racer);
                        let mut batch = ProcessingBatch {
                            cursor_name: "main".to_owned(),
                            cursor_from: cursor,
                            cursor_to: cursor + 10 + racer,
                            ..ProcessingBatch::default()
                        };
                        batch.profiles = vec![profile(ws, id, 100 + round)];
                        store.commit_processing(&batch).await.map(|()| racer)
                    })
                })
                .collect();
            let mut winners = Vec::new();
            for racer in racers {
                match racer.await.unwrap() {
                    Ok(racer) => winners.push(racer),
                    Err(StoreError::Conflict(_)) => {}
                    Err(other) => panic!("{backend}: {other}"),
                }
            }
            assert_eq!(winners.len(), 1, "{backend}: round {round}: {winners:?}");
            let expected = cursor + 10 + winners[0];
            assert_eq!(store.cursor("main").await.unwrap(), expected, "{backend}");
            // Only the winner's profile was written.
            for racer in 0..n_racers {
                let found = store
                    .profile(ws, ProfileId(1 + round * 100 + racer))
                    .await
                    .unwrap();
                assert_eq!(
                    found.is_some(),
                    racer == winners[0],
                    "{backend}: racer {racer}"
                );
            }
            cursor = expected;
        }
    }
}

#[tokio::test]
async fn a_large_batch_commits_every_row_or_none() {
    for test in TestStore::all().await {
        let store = &*test.store;
        let backend = test.backend;
        let ws = workspace(store, "shop").await.id;
        let other = workspace(store, "other").await.id;
        // More rows than one multi-row statement takes on either backend (500 on SQLite, 2,000
        // on PostgreSQL).
        let n: usize = 2_345;
        let events: Vec<_> = (0..n)
            .map(|i| track(&format!("e{i}"), "Page", Some(&format!("a{i}")), 10))
            .collect();
        let seqs: Vec<i64> = store
            .append_events(ws, &events)
            .await
            .unwrap()
            .iter()
            .map(seq)
            .collect();
        let first = store.reserve_profile_ids(n as u32 + 1).await.unwrap();
        let id = |i: usize| ProfileId(first.0 + i as i64);
        let mut big = batch(store, *seqs.last().unwrap()).await;
        for (i, &event_seq) in seqs.iter().enumerate() {
            big.profiles.push(profile(ws, id(i), 20));
            big.identities
                .push(link(ws, IdentityKind::Anonymous, &format!("a{i}"), id(i)));
            big.event_profiles.push((event_seq, id(i)));
            big.transitions.push(TransitionRecord {
                workspace_id: ws,
                profile_id: id(i),
                dimension: "phase".to_owned(),
                from: None,
                to: "I".to_owned(),
                at: Timestamp::from_secs(20),
                reason: format!("first event {i}"),
            });
            let mut placed = order(ws, id(i), 0.0);
            placed.order_id = format!("o-{i}");
            big.orders.push(placed);
        }
        // The same identity linked twice in one batch: the later link wins.
        big.identities
            .push(link(ws, IdentityKind::Anonymous, "a0", id(n - 1)));
        // The same profile written twice in one batch (and one statement): the later row wins.
        big.profiles.insert(10, profile(ws, id(5), 30));

        // The same profile id for two workspaces in one batch: nothing is written.
        let mut bad = big.clone();
        bad.profiles.insert(10, profile(other, id(6), 20));
        let error = store.commit_processing(&bad).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Conflict(_))
                && error.to_string().contains(&id(6).to_string()),
            "{backend}: {error}"
        );
        assert_eq!(store.cursor("main").await.unwrap(), 0, "{backend}");
        assert_eq!(store.profile(ws, id(0)).await.unwrap(), None, "{backend}");

        // One profile id of the other workspace, deep in a chunk: nothing is written.
        let foreign = id(n);
        let mut seeded = batch(store, 0).await;
        seeded.cursor_name = "seed".to_owned();
        seeded.profiles.push(profile(other, foreign, 5));
        store.commit_processing(&seeded).await.unwrap();
        let mut bad = big.clone();
        bad.profiles[700] = profile(ws, foreign, 20);
        let error = store.commit_processing(&bad).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Conflict(_))
                && error.to_string().contains(&foreign.to_string()),
            "{backend}: {error}"
        );
        assert_eq!(store.cursor("main").await.unwrap(), 0, "{backend}");
        assert_eq!(store.profile(ws, id(0)).await.unwrap(), None, "{backend}");
        // An event set to the other workspace's profile, deep in the batch: nothing either.
        let mut bad = big.clone();
        bad.event_profiles[900].1 = foreign;
        let error = store.commit_processing(&bad).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Invalid(_))
                && error.to_string().contains(&seqs[900].to_string()),
            "{backend}: {error}"
        );
        assert_eq!(store.cursor("main").await.unwrap(), 0, "{backend}");
        assert_eq!(store.profile(ws, id(0)).await.unwrap(), None, "{backend}");

        store.commit_processing(&big).await.unwrap();
        let page = store
            .list_profiles(
                ws,
                &ProfileFilter {
                    limit: 1_000,
                    ..ProfileFilter::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1_000, "{backend}");
        let found = store
            .profile_by_identity(ws, IdentityKind::Anonymous, "a0")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, id(n - 1), "{backend}: the later link wins");
        let found = store
            .profile_by_identity(ws, IdentityKind::Anonymous, &format!("a{}", n - 2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, id(n - 2), "{backend}");
        let twice = store.profile(ws, id(5)).await.unwrap().unwrap();
        assert_eq!(
            twice.last_seen,
            Timestamp::from_secs(30),
            "{backend}: the later row wins"
        );
        let log = store.read_log(0, 10_000).await.unwrap();
        assert!(
            log.iter()
                .enumerate()
                .all(|(i, logged)| logged.profile_id == Some(id(i))),
            "{backend}: every event has its profile"
        );
        let transitions = store.transitions(ws, id(n - 1)).await.unwrap();
        assert_eq!(transitions.len(), 1, "{backend}");
        assert_eq!(
            transitions[0].reason,
            format!("first event {}", n - 1),
            "{backend}"
        );
        let orders = store
            .orders(ws, Timestamp::from_secs(0), Timestamp::from_secs(1_000))
            .await
            .unwrap();
        assert_eq!(orders.len(), n, "{backend}");
    }
}

#[tokio::test]
async fn appending_processed_events_stores_them_with_their_profiles_or_nothing() {
    for test in TestStore::all().await {
        let store = &*test.store;
        let backend = test.backend;
        let ws = workspace(store, "shop").await.id;
        let other = workspace(store, "other").await.id;
        let earlier = store
            .append_events(ws, &[track("e0", "Page", Some("a0"), 10)])
            .await
            .unwrap();
        let s0 = seq(&earlier[0]);

        let n: usize = 1_234;
        let events: Vec<_> = (1..=n)
            .map(|i| track(&format!("e{i}"), "Page", Some(&format!("a{i}")), 10))
            .collect();
        let first = store.reserve_profile_ids(n as u32 + 1).await.unwrap();
        let id = |i: usize| ProfileId(first.0 + i as i64);
        let processed = |from: i64| {
            let mut processed = ProcessingBatch {
                cursor_name: "main".to_owned(),
                cursor_from: from,
                cursor_to: from + n as i64,
                ..ProcessingBatch::default()
            };
            for i in 0..n {
                processed.profiles.push(profile(ws, id(i), 20));
                processed.identities.push(link(
                    ws,
                    IdentityKind::Anonymous,
                    &format!("a{}", i + 1),
                    id(i),
                ));
                processed.event_profiles.push((from + 1 + i as i64, id(i)));
            }
            processed
        };

        // The log does not end where the batch starts (e0 is not processed): nothing is
        // written.
        let error = store
            .append_processed(ws, &events, &processed(0))
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::Conflict(_)),
            "{backend}: {error}"
        );
        let mut seed = batch(store, s0).await;
        seed.profiles.push(profile(other, id(n), 5));
        seed.event_profiles.push((s0, id(n)));
        // e0 is another workspace's event: its profile can be no profile of `ws`.
        let error = store.commit_processing(&seed).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Invalid(_)),
            "{backend}: {error}"
        );
        seed.profiles[0] = profile(ws, id(n), 5);
        store.commit_processing(&seed).await.unwrap();
        let good = processed(s0);

        let assert_nothing = |what: &'static str| async move {
            assert_eq!(store.log_head().await.unwrap(), s0, "{backend}: {what}");
            assert_eq!(store.cursor("main").await.unwrap(), s0, "{backend}: {what}");
            assert_eq!(
                store.profile(ws, id(0)).await.unwrap(),
                None,
                "{backend}: {what}"
            );
        };
        // A message id already stored, deep in the batch.
        let mut repeated = events.clone();
        repeated[700].message_id = "e0".to_owned();
        let error = store
            .append_processed(ws, &repeated, &good)
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::Conflict(_)),
            "{backend}: {error}"
        );
        assert_nothing("a taken message id").await;
        // An event without a profile.
        let mut missing = good.clone();
        missing.event_profiles.remove(900);
        let error = store
            .append_processed(ws, &events, &missing)
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::Invalid(_))
                && error.to_string().contains(&(s0 + 901).to_string()),
            "{backend}: {error}"
        );
        assert_nothing("an event without a profile").await;
        // An event given the other workspace's profile.
        let mut foreign = good.clone();
        foreign.event_profiles[1_000].1 = ProfileId(-5);
        let error = store
            .append_processed(ws, &events, &foreign)
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::Invalid(_))
                && error.to_string().contains(&(s0 + 1_001).to_string()),
            "{backend}: {error}"
        );
        assert_nothing("a foreign profile").await;
        // Fewer events than the batch's seqs; an unknown workspace.
        let error = store
            .append_processed(ws, &events[1..], &good)
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::Invalid(_)),
            "{backend}: {error}"
        );
        let error = store
            .append_processed(WorkspaceId(999_999), &events, &good)
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::NotFound(_)),
            "{backend}: {error}"
        );
        assert_nothing("bad calls").await;

        store.append_processed(ws, &events, &good).await.unwrap();
        let end = s0 + n as i64;
        assert_eq!(store.log_head().await.unwrap(), end, "{backend}");
        assert_eq!(store.cursor("main").await.unwrap(), end, "{backend}");
        let log = store.read_log(s0, 10_000).await.unwrap();
        assert_eq!(log.len(), n, "{backend}");
        for (i, logged) in log.iter().enumerate() {
            assert_eq!(logged.seq, s0 + 1 + i as i64, "{backend}");
            assert_eq!(logged.event, events[i], "{backend}");
            assert_eq!(logged.profile_id, Some(id(i)), "{backend}");
        }
        let theirs = store.profile_events(ws, id(5), None, 10).await.unwrap();
        assert_eq!(theirs.len(), 1, "{backend}");
        assert_eq!(theirs[0].event.message_id, "e6", "{backend}");
        let found = store
            .profile_by_identity(ws, IdentityKind::Anonymous, "a6")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, id(5), "{backend}");

        // Ordinary appends follow the batch, and its events are stored once.
        let after = store
            .append_events(
                ws,
                &[events[3].clone(), track("e-after", "Page", Some("a1"), 30)],
            )
            .await
            .unwrap();
        assert_eq!(after[0], AppendStatus::Duplicate, "{backend}");
        assert!(seq(&after[1]) > end, "{backend}: {:?}", after[1]);
    }
}
