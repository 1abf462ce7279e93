//! Profile processing with the shop's configuration: its target audiences reach the engine
//! (stage identify) and the stored summary, so that profiles can be listed by audience.

use embudo_core::Value;
use embudo_store::ProfileFilter;
use expect_test::expect;

use crate::ServiceSettings;
use crate::test_support::Shop;

#[tokio::test]
async fn a_configured_audience_reaches_the_stage_and_the_listing() {
    let shop = Shop::with_audiences(
        r#"
[[audiences]]
name = "exploradores"
condition = "aggregates.n_distinct_products_viewed >= 2"
fit = 0.8

[[audiences]]
name = "curiosos"
condition = "aggregates.n_events >= 1"
fit = 0.3
"#,
    )
    .await;
    let view = |id: &str| [("product_id", Value::from(id))];
    let (p1, p2) = (view("p1"), view("p2"));
    shop.send(
        "ana",
        &[(0, "Product Viewed", &p1), (1, "Product Viewed", &p2)],
    )
    .await;
    shop.send("luis", &[(0, "Product Viewed", &p1)]).await;

    shop.check(
        "ana",
        expect![[r#"
            now: phase I substate - stage identify audiences [exploradores, curiosos]
            2026-03-02T10:01:01.000Z phase: - -> I (vio 2 productos o listados, el último el 2026-03-02)
        "#]],
    )
    .await;
    shop.check(
        "luis",
        expect![[r#"
            now: phase I substate - stage - audiences [curiosos]
            2026-03-02T10:00:01.000Z phase: - -> I (vio 1 producto o listado, el último el 2026-03-02)
        "#]],
    )
    .await;

    // A person is listed under every audience she is in, not only the best.
    for (audience, expected) in [
        ("exploradores", vec!["ana"]),
        ("curiosos", vec!["ana", "luis"]),
    ] {
        let listed = shop
            .embudo
            .store()
            .list_profiles(
                shop.workspace,
                &ProfileFilter {
                    audience: Some(audience.to_owned()),
                    limit: 10,
                    ..ProfileFilter::default()
                },
            )
            .await
            .unwrap();
        let mut names: Vec<_> = listed
            .items
            .iter()
            .map(|profile| profile.anonymous_ids.join(","))
            .collect();
        names.sort();
        assert_eq!(names, expected, "{audience}");
    }
}

#[test]
fn the_engine_state_is_stored_compactly_and_the_older_text_still_reads() {
    use embudo_core::phase::{PhaseModel, PhaseState};

    let model = PhaseModel::default();
    let event = crate::test_support::track_event(
        "m-1".to_owned(),
        "ana",
        embudo_core::Timestamp::from_secs(1_000),
        "Product Viewed",
        crate::test_support::properties_of(&[
            ("product_id", Value::from("p1")),
            ("category", Value::from("zapatillas")),
            ("brand", Value::from("acme")),
        ]),
    );
    let mut state = PhaseState::default();
    let action = event.action(&Default::default()).unwrap();
    state.apply(&event, &action, &model);
    let stored = crate::process::EngineState {
        phase: Some(state.clone()),
        ..Default::default()
    };
    let text = stored.write();
    assert!(
        !text.contains(&i64::MIN.to_string()),
        "never is null, not a sentinel: {text}"
    );
    assert!(text.contains("1000000"), "times are kept: {text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let signals = json["phase"]["signals"].as_array().unwrap();
    assert!(
        !signals.is_empty() && signals.len() < 19,
        "only the signals that moved are written: {text}"
    );
    let groups = json["phase"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "a category and a brand: {text}");
    assert!(
        groups.iter().all(serde_json::Value::is_array),
        "groups are rows: {text}"
    );
    assert!(
        json["phase"].get("orders").is_none() && json["phase"].get("older_kept_orders").is_none(),
        "an empty ledger is left out: {text}"
    );
    let read = crate::process::EngineState::read(&text).unwrap();
    assert_eq!(read.phase.as_ref(), Some(&state));

    // The older forms of the groups (objects) and the ledger (every field written).
    let mut older = json.clone();
    let phase = older["phase"].as_object_mut().unwrap();
    let objects: Vec<serde_json::Value> = groups
        .iter()
        .map(|row| {
            serde_json::json!({
                "key": row[0],
                "level": row[1],
                "last_ms": row[2],
                "streak_start_ms": row[3],
                "streak_views": row[4],
            })
        })
        .collect();
    phase.insert("groups".to_owned(), objects.into());
    phase.insert("orders".to_owned(), serde_json::json!([]));
    phase.insert("older_kept_orders".to_owned(), serde_json::json!(0));
    phase.insert("older_first_order_ms".to_owned(), serde_json::Value::Null);
    let read = crate::process::EngineState::read(&older.to_string()).unwrap();
    assert_eq!(read.phase.as_ref(), Some(&state), "{older}");

    // The older form: four arrays with every signal, `NEVER` as null, or (older still) as
    // i64::MIN.
    let mut older = json.clone();
    let phase = older["phase"].as_object_mut().unwrap();
    let mut levels = vec![serde_json::json!(0.0); 19];
    let mut last_ms = vec![serde_json::Value::Null; 19];
    let mut counts = vec![serde_json::json!(0); 19];
    let mut first_ms = vec![serde_json::Value::Null; 19];
    for row in signals {
        let i = row[0].as_u64().unwrap() as usize;
        levels[i] = row[1].clone();
        last_ms[i] = row[2].clone();
        counts[i] = row[3].clone();
        first_ms[i] = row[4].clone();
    }
    phase.remove("signals");
    phase.insert("levels".to_owned(), levels.into());
    phase.insert("last_ms".to_owned(), last_ms.into());
    phase.insert("counts".to_owned(), counts.into());
    phase.insert("first_ms".to_owned(), first_ms.into());
    let older = older.to_string();
    let read = crate::process::EngineState::read(&older).unwrap();
    assert_eq!(read.phase.as_ref(), Some(&state), "{older}");
    let oldest = older.replace("null", &i64::MIN.to_string());
    let read = crate::process::EngineState::read(&oldest).unwrap();
    assert_eq!(read.phase.as_ref(), Some(&state), "{oldest}");
}

/// The events of `people`, one product view each, named `{prefix}-{person}`.
fn views(prefix: &str, people: &[&str]) -> Vec<embudo_core::Event> {
    people
        .iter()
        .enumerate()
        .map(|(n, person)| {
            crate::test_support::track_event(
                format!("{prefix}-{person}"),
                person,
                embudo_core::Timestamp::parse(crate::test_support::START)
                    .unwrap()
                    .plus_millis(n as i64 * 1000),
                "Product Viewed",
                crate::test_support::properties_of(&[("product_id", Value::from("p1"))]),
            )
        })
        .collect()
}

/// How many events the anonymous person's profile counts, if there is one.
async fn n_events(shop: &Shop, person: &str) -> Option<u64> {
    shop.embudo
        .store()
        .profile_by_identity(
            shop.workspace,
            embudo_store::IdentityKind::Anonymous,
            person,
        )
        .await
        .unwrap()
        .map(|profile| profile.aggregates.n_events)
}

#[tokio::test]
async fn an_import_processes_what_it_appends_and_whatever_waited_before_it() {
    let shop = Shop::new().await;
    let store = shop.embudo.store();

    // From memory: the batch is all of the log after the cursor.
    let (receipt, outcome) = shop
        .embudo
        .ingest_and_process(shop.workspace, views("a", &["ana", "luis"]), 10)
        .await
        .unwrap();
    assert_eq!((receipt.inserted, outcome.events), (2, 2));
    assert_eq!(n_events(&shop, "ana").await, Some(1));
    assert_eq!(
        store.cursor(crate::process::PROFILES_CURSOR).await.unwrap(),
        store.log_head().await.unwrap()
    );

    // Events someone else appended and nobody processed yet come first, in log order.
    shop.embudo
        .ingest(shop.workspace, &views("b", &["eva", "ana"]))
        .await
        .unwrap();
    let (receipt, outcome) = shop
        .embudo
        .ingest_and_process(shop.workspace, views("c", &["ana", "paco"]), 1)
        .await
        .unwrap();
    assert_eq!((receipt.inserted, outcome.events), (2, 4));
    assert_eq!(n_events(&shop, "ana").await, Some(3));
    assert_eq!(n_events(&shop, "eva").await, Some(1));
    assert_eq!(n_events(&shop, "paco").await, Some(1));

    // A retried batch stores and processes nothing twice.
    let (receipt, outcome) = shop
        .embudo
        .ingest_and_process(shop.workspace, views("c", &["ana", "paco"]), 10)
        .await
        .unwrap();
    assert_eq!((receipt.duplicates, outcome.events), (2, 0));
    assert_eq!(n_events(&shop, "ana").await, Some(3));
}

/// `embudo import` beside `serve`: two processes on one database, each with its own
/// processor, append and process at once. The one whose commit finds the cursor moved steps
/// again from there; neither fails, and every event ends in a profile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_processing_one_database_both_finish() {
    use std::sync::Arc;

    use crate::test_support::{START, track_event};
    use crate::{Embudo, FixedClock};
    use embudo_core::Timestamp;
    use embudo_store_sqlite::SqliteStore;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("embudo.db").display());
    let clock = Arc::new(FixedClock::new(Timestamp::parse(START).unwrap()));
    let open = || async {
        let store = Arc::new(SqliteStore::connect(&url).await.unwrap());
        Embudo::new(store, clock.clone(), ServiceSettings::default())
    };
    let (serve, import) = (open().await, open().await);
    let workspace = serve.create_workspace("tienda").await.unwrap().workspace.id;
    let run = |embudo: Embudo, name: &'static str| async move {
        for round in 0..20 {
            let events = (0..40)
                .map(|i| {
                    track_event(
                        format!("{name}-{round}-{i}"),
                        &format!("{name}-{}", i % 7),
                        Timestamp::parse(START).unwrap(),
                        "Product Viewed",
                        crate::test_support::properties_of(&[("product_id", Value::from("p1"))]),
                    )
                })
                .collect();
            embudo
                .ingest_and_process(workspace, events, 15)
                .await
                .map_err(|error| format!("{name}, round {round}: {error}"))?;
        }
        Ok::<_, String>(())
    };
    let (a, b) = tokio::join!(
        tokio::spawn(run(serve.clone(), "serve")),
        tokio::spawn(run(import, "import"))
    );
    a.unwrap().unwrap();
    b.unwrap().unwrap();

    let store = serve.store();
    let head = store.log_head().await.unwrap();
    assert_eq!(head, 2 * 20 * 40);
    assert_eq!(
        store.cursor(crate::process::PROFILES_CURSOR).await.unwrap(),
        head
    );
    let log = store.read_log(0, 10_000).await.unwrap();
    assert!(log.iter().all(|logged| logged.profile_id.is_some()));
}
