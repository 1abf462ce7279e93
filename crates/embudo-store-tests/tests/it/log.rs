//! The durable event log: append, de-duplication, order, durability, concurrency, bad data.

use std::collections::HashSet;
use std::sync::Arc;

use embudo_core::Value;
use embudo_store::{AppendStatus, StoreError, WorkspaceId};
use embudo_store_tests::{TestStore, map, realistic_events, track};

use crate::support::workspace;

fn seqs(statuses: &[AppendStatus]) -> Vec<Option<i64>> {
    statuses
        .iter()
        .map(|status| match status {
            AppendStatus::Inserted { seq } => Some(*seq),
            AppendStatus::Duplicate => None,
        })
        .collect()
}

#[tokio::test]
async fn a_retried_message_is_stored_once_and_the_log_reads_in_order() {
    for test in TestStore::all().await {
        let store = &*test.store;
        let backend = test.backend;
        let ws = workspace(store, "shop").await.id;
        assert_eq!(store.log_head().await.unwrap(), 0, "{backend}");

        let mut first = track("m-1", "Product Viewed", Some("a-1"), 10);
        first.properties = map(&[
            (
                "nested",
                map(&[("list", Value::List(vec![Value::from(1.5)]))]),
            ),
            ("text", Value::from("ñandú \"quoted\"")),
        ]);
        let second = track("m-2", "Product Added", Some("a-1"), 11);
        let batch = vec![first.clone(), second.clone(), first.clone()];
        let statuses = store.append_events(ws, &batch).await.unwrap();
        let inserted = seqs(&statuses);
        assert!(inserted[0].is_some() && inserted[1].is_some(), "{backend}");
        assert_eq!(
            inserted[2], None,
            "{backend}: a repeat inside the batch is a duplicate"
        );
        assert!(
            inserted[0] < inserted[1],
            "{backend}: seqs follow input order"
        );

        // The client retries the whole batch: nothing is stored twice.
        let retried = store.append_events(ws, &batch).await.unwrap();
        assert_eq!(retried, vec![AppendStatus::Duplicate; 3], "{backend}");

        let log = store.read_log(0, 100).await.unwrap();
        assert_eq!(log.len(), 2, "{backend}");
        assert_eq!(log[0].event, first, "{backend}: events round-trip");
        assert_eq!(log[1].event, second, "{backend}");
        assert_eq!(log[0].workspace_id, ws, "{backend}");
        assert_eq!(log[0].profile_id, None, "{backend}");
        assert_eq!(Some(log[0].seq), inserted[0], "{backend}");
        assert_eq!(store.log_head().await.unwrap(), log[1].seq, "{backend}");
        let after_first = store.read_log(log[0].seq, 100).await.unwrap();
        assert_eq!(after_first.len(), 1, "{backend}");
        assert_eq!(after_first[0].seq, log[1].seq, "{backend}");
        assert!(
            store.read_log(log[1].seq, 100).await.unwrap().is_empty(),
            "{backend}"
        );
        assert_eq!(
            store.read_log(0, 1).await.unwrap().len(),
            1,
            "{backend}: limit"
        );

        // The same message id in another workspace is another message.
        let other = workspace(store, "other").await.id;
        let statuses = store.append_events(other, &[first.clone()]).await.unwrap();
        assert!(seqs(&statuses)[0].is_some(), "{backend}");
    }
}

#[tokio::test]
async fn large_batches_are_stored_whole_in_input_order() {
    for test in TestStore::all().await {
        let store = &*test.store;
        let backend = test.backend;
        let ws = workspace(store, "shop").await.id;
        let events = realistic_events("bulk", 5_003);
        let statuses = store.append_events(ws, &events).await.unwrap();
        let inserted: Vec<i64> = seqs(&statuses).into_iter().map(Option::unwrap).collect();
        assert!(inserted.windows(2).all(|w| w[0] < w[1]), "{backend}");
        let log = store.read_log(0, 10_000).await.unwrap();
        assert_eq!(log.len(), events.len(), "{backend}");
        assert_eq!(log[4_321].event, events[4_321], "{backend}");
    }
}

#[tokio::test]
async fn bad_data_is_rejected_with_a_clear_error_and_the_good_data_is_kept() {
    for test in TestStore::all().await {
        let store = &*test.store;
        let backend = test.backend;
        let ws = workspace(store, "shop").await.id;
        let good = track("good-1", "Product Viewed", Some("a-1"), 10);
        store
            .append_events(ws, std::slice::from_ref(&good))
            .await
            .unwrap();

        let next = track("good-2", "Product Viewed", Some("a-1"), 11);
        let mut bad = track("bad-1", "Product Viewed", Some("a-1"), 12);
        bad.user_id = Some("user\0".into());
        let error = store
            .append_events(ws, &[next.clone(), bad])
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::Invalid(_)),
            "{backend}: {error}"
        );
        assert_eq!(
            error.to_string(),
            "invalid data: event 1: userId contains a NUL character",
            "{backend}"
        );
        let empty_id = track("", "Product Viewed", None, 12);
        let error = store.append_events(ws, &[empty_id]).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid data: event 0: messageId is empty"
        );

        // Nothing of the rejected batch was written; what was there is intact.
        let log = store.read_log(0, 100).await.unwrap();
        assert_eq!(log.len(), 1, "{backend}");
        assert_eq!(log[0].event, good, "{backend}");
        // The good event can be sent again on its own.
        let statuses = store.append_events(ws, &[next]).await.unwrap();
        assert!(seqs(&statuses)[0].is_some(), "{backend}");

        let error = store
            .append_events(WorkspaceId(9_999), &[track("x", "X", None, 1)])
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::NotFound(_)),
            "{backend}: {error}"
        );
        assert_eq!(store.read_log(0, 100).await.unwrap().len(), 2, "{backend}");
    }
}

#[tokio::test]
async fn concurrent_appends_lose_and_duplicate_nothing() {
    for test in TestStore::all().await {
        let backend = test.backend;
        let ws = workspace(&*test.store, "shop").await.id;
        // Two writers, 20 batches of 50 each; the second half of each writer's messages is
        // sent by both (as two servers behind a retrying client would).
        let mut tasks = Vec::new();
        for writer in 0..2 {
            let store = Arc::clone(&test.store);
            tasks.push(tokio::spawn(async move {
                for batch in 0..20 {
                    let events: Vec<_> = (0..50)
                        .map(|i| {
                            let id = if i < 25 {
                                format!("w{writer}-{batch}-{i}")
                            } else {
                                format!("shared-{batch}-{i}")
                            };
                            track(&id, "Page", Some("a"), 1)
                        })
                        .collect();
                    store.append_events(ws, &events).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let log = test.store.read_log(0, 10_000).await.unwrap();
        let expected = 2 * 20 * 25 + 20 * 25;
        assert_eq!(log.len(), expected, "{backend}");
        let ids: HashSet<&str> = log.iter().map(|e| e.event.message_id.as_str()).collect();
        assert_eq!(ids.len(), expected, "{backend}: no message twice");
        assert!(log.windows(2).all(|w| w[0].seq < w[1].seq), "{backend}");
    }
}

/// An acknowledged append is on disk: a copy of the files taken right after the call returns
/// (as after a SIGKILL: no clean close, no checkpoint) holds it.
#[tokio::test]
async fn acknowledged_appends_survive_reopening_the_sqlite_file() {
    let test = TestStore::sqlite().await;
    let store = &*test.store;
    let ws = workspace(store, "shop").await.id;
    let events = realistic_events("durable", 700);
    store.append_events(ws, &events).await.unwrap();

    let path = test.sqlite_path().unwrap();
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("copy.db");
    std::fs::copy(path, &copy).unwrap();
    let wal = path.with_extension("db-wal");
    if wal.exists() {
        std::fs::copy(&wal, copy.with_extension("db-wal")).unwrap();
    }
    let reopened =
        embudo_store_sqlite::SqliteStore::connect(&embudo_store_tests::sqlite_url(&copy))
            .await
            .unwrap();
    use embudo_store::Store as _;
    let log = reopened.read_log(0, 1_000).await.unwrap();
    assert_eq!(log.len(), 700);
    assert_eq!(log[699].event, events[699]);

    // And the same file opened again by a restarted server.
    let again = test.reopen().await.unwrap();
    assert_eq!(again.log_head().await.unwrap(), log[699].seq);
}

#[tokio::test]
async fn concurrent_callers_each_get_their_own_answer() {
    for test in TestStore::all().await {
        let backend = test.backend;
        let ws = workspace(&*test.store, "shop").await.id;
        // Sixteen callers at once (written in shared commits): each batch spans
        // several insert statements, repeats one of its own ids in a later statement, and one
        // caller names a workspace that does not exist.
        let mut tasks = Vec::new();
        for caller in 0..16 {
            let store = Arc::clone(&test.store);
            tasks.push(tokio::spawn(async move {
                let target = if caller == 5 {
                    WorkspaceId(987_654)
                } else {
                    ws
                };
                let mut events: Vec<_> = (0..1_200)
                    .map(|i| track(&format!("c{caller}-{i}"), "Page", Some("a"), i))
                    .collect();
                events.push(events[3].clone());
                (caller, store.append_events(target, &events).await)
            }));
        }
        let mut stored = Vec::new();
        for task in tasks {
            let (caller, result) = task.await.unwrap();
            if caller == 5 {
                let error = result.unwrap_err();
                assert!(
                    matches!(error, StoreError::NotFound(_)),
                    "{backend}: {error}"
                );
                continue;
            }
            let statuses = seqs(&result.unwrap());
            assert_eq!(statuses.len(), 1_201, "{backend}");
            assert_eq!(
                statuses[1_200], None,
                "{backend}: the repeat is a duplicate"
            );
            let inserted: Vec<i64> = statuses[..1_200].iter().map(|seq| seq.unwrap()).collect();
            assert!(
                inserted.windows(2).all(|pair| pair[0] < pair[1]),
                "{backend}: a caller's seqs follow its input order"
            );
            stored.extend(inserted.into_iter().map(|seq| (seq, caller)));
        }
        stored.sort_unstable();
        let log = test.store.read_log(0, 100_000).await.unwrap();
        assert_eq!(log.len(), 15 * 1_200, "{backend}");
        let (first, last) = (log[0].seq, log[log.len() - 1].seq);
        assert_eq!(
            test.store.log_count(first - 1, last).await.unwrap(),
            15 * 1_200,
            "{backend}"
        );
        assert_eq!(
            test.store.log_count(first, log[10].seq).await.unwrap(),
            10,
            "{backend}"
        );
        assert_eq!(
            test.store.log_count(last, last + 100).await.unwrap(),
            0,
            "{backend}"
        );
        for ((seq, caller), logged) in stored.iter().zip(&log) {
            assert_eq!(
                *seq, logged.seq,
                "{backend}: every answered seq is in the log"
            );
            assert!(
                logged.event.message_id.starts_with(&format!("c{caller}-")),
                "{backend}: seq {seq} holds caller {caller}'s event"
            );
        }
    }
}

#[tokio::test]
async fn duplicates_scattered_over_a_large_batch_are_told_apart_row_by_row() {
    for test in TestStore::all().await {
        let store = &*test.store;
        let backend = test.backend;
        let ws = workspace(store, "shop").await.id;
        let events = realistic_events("big", 1_239);
        // Every seventh event is stored already, and the batch ends on one of them.
        let earlier: Vec<_> = events.iter().skip(6).step_by(7).cloned().collect();
        assert_eq!(
            earlier.last(),
            events.last(),
            "the batch ends on a stored event"
        );
        store.append_events(ws, &earlier).await.unwrap();
        let head = store.log_head().await.unwrap();
        // Two events repeat inside the batch, far apart (in different chunks of a write).
        let mut batch = events.clone();
        batch.insert(1_000, events[3].clone());
        batch.insert(1_100, events[600].clone());

        let statuses = store.append_events(ws, &batch).await.unwrap();
        let expected_new = |index: usize| {
            index != 1_000 && index != 1_100 && {
                let original = match index {
                    i if i < 1_000 => i,
                    i if i < 1_100 => i - 1,
                    i => i - 2,
                };
                original % 7 != 6
            }
        };
        let mut last = head;
        for (index, status) in statuses.iter().enumerate() {
            match status {
                AppendStatus::Inserted { seq } => {
                    assert!(expected_new(index), "{backend}: event {index} stored twice");
                    assert!(*seq > last, "{backend}: seqs follow input order at {index}");
                    last = *seq;
                }
                AppendStatus::Duplicate => {
                    assert!(
                        !expected_new(index),
                        "{backend}: new event {index} called a duplicate"
                    )
                }
            }
        }
        let log = store.read_log(head, 2_000).await.unwrap();
        let inserted: Vec<_> = seqs(&statuses).into_iter().flatten().collect();
        assert_eq!(
            log.iter().map(|logged| logged.seq).collect::<Vec<_>>(),
            inserted,
            "{backend}: the log holds exactly the seqs answered"
        );
        for (logged, (status, event)) in log.iter().zip(
            statuses
                .iter()
                .zip(&batch)
                .filter(|(status, _)| matches!(status, AppendStatus::Inserted { .. })),
        ) {
            assert_eq!(
                logged.event, *event,
                "{backend}: {status:?} holds its own event"
            );
        }
        assert_eq!(
            store.log_count(0, i64::MAX).await.unwrap(),
            1_239,
            "{backend}: every distinct event once"
        );
    }
}

#[tokio::test]
async fn two_processes_on_one_database_append_at_once_and_both_succeed() {
    for test in TestStore::all().await {
        let backend = test.backend;
        // A second store on the same database, as `embudo import` beside a running server.
        let other = test.reopen().await.unwrap();
        let ws = workspace(&*test.store, "shop").await.id;
        let mut tasks = Vec::new();
        for (name, store) in [("serve", Arc::clone(&test.store)), ("import", other)] {
            tasks.push(tokio::spawn(async move {
                for round in 0..25 {
                    let events = realistic_events(&format!("{name}-{round}"), 40);
                    let statuses = store
                        .append_events(ws, &events)
                        .await
                        .map_err(|error| format!("{name}, round {round}: {error}"))?;
                    if statuses.contains(&AppendStatus::Duplicate) {
                        return Err(format!(
                            "{name}, round {round}: a new event was a duplicate"
                        ));
                    }
                }
                Ok::<_, String>(())
            }));
        }
        for task in tasks {
            task.await
                .unwrap()
                .unwrap_or_else(|error| panic!("{backend}: {error}"));
        }
        assert_eq!(
            test.store.log_count(0, i64::MAX).await.unwrap(),
            2 * 25 * 40,
            "{backend}"
        );
    }
}
