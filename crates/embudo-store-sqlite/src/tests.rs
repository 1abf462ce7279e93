use std::collections::BTreeSet;
use std::path::Path;

use embudo_core::{Event, EventKind, Map, Timestamp, Value};
use embudo_store::{
    AppendStatus, IdentityQuery, LoggedEvent, PhaseCount, ProcessingBatch, ProfileId, Store,
    WorkspaceId,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection};

use super::{PAGE_SIZE, SqliteOptions, SqliteStore, Synchronous, chunk_sizes, chunks};

/// The page size a SQLite file's header records (bytes 16 and 17, big-endian; 1 means 65536).
fn header_page_size(path: &Path) -> u32 {
    let header = std::fs::read(path).expect("the database file");
    match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536,
        size => u32::from(size),
    }
}

#[tokio::test]
async fn a_new_database_gets_the_adapters_page_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    store
        .create_workspace("tienda", &[], Timestamp::from_millis(1))
        .await
        .unwrap();
    store.close().await;
    assert_eq!(header_page_size(&path), PAGE_SIZE);
}

#[tokio::test]
async fn a_database_made_with_other_pages_keeps_them_and_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let mut connection = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .page_size(4096)
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE earlier (x INTEGER)")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    assert_eq!(header_page_size(&path), 4096);

    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let workspace = store
        .create_workspace("tienda", &[], Timestamp::from_millis(1))
        .await
        .unwrap();
    assert_eq!(store.workspaces().await.unwrap(), [workspace]);
    store.close().await;
    assert_eq!(header_page_size(&path), 4096);
}

#[test]
fn chunk_sizes_cover_the_rows_with_few_distinct_sizes() {
    let mut sizes_seen = BTreeSet::new();
    for n_rows in 0..=2_000 {
        let sizes: Vec<usize> = chunk_sizes(n_rows, 500).collect();
        assert_eq!(sizes.iter().sum::<usize>(), n_rows, "{n_rows}: {sizes:?}");
        let full = n_rows / 500;
        assert!(sizes[..full].iter().all(|&size| size == 500), "{sizes:?}");
        let rest = &sizes[full..];
        assert!(
            rest.iter()
                .all(|size| size.is_power_of_two() && *size < 500),
            "{n_rows}: {sizes:?}"
        );
        assert!(rest.windows(2).all(|pair| pair[0] > pair[1]), "{sizes:?}");
        sizes_seen.extend(sizes);
    }
    // Every batch's statements come from these texts: 500 and 256, 128, …, 1.
    assert_eq!(
        sizes_seen.into_iter().collect::<Vec<_>>(),
        [1, 2, 4, 8, 16, 32, 64, 128, 256, 500]
    );
    assert_eq!(chunk_sizes(300, 500).collect::<Vec<_>>(), [256, 32, 8, 4]);
    assert_eq!(chunk_sizes(1_000, 500).collect::<Vec<_>>(), [500, 500]);
}

#[test]
fn chunks_keep_every_item_once_in_order() {
    let items: Vec<u32> = (0..1_234).collect();
    let cut: Vec<&[u32]> = chunks(&items, 500).collect();
    assert_eq!(
        cut.iter().map(|chunk| chunk.len()).collect::<Vec<_>>(),
        [500, 500, 128, 64, 32, 8, 2]
    );
    assert_eq!(cut.concat(), items);
    assert_eq!(chunks(&[] as &[u32], 500).count(), 0);
}

/// A database made by the migration files up to `last_version` (applied from a copy of them),
/// with one workspace, one profile, its user identity and, before version 5 (whose event rows
/// need a block of bodies), one of its events.
async fn database_before(path: &Path, last_version: i64) {
    let sources = tempfile::tempdir().unwrap();
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for entry in std::fs::read_dir(&migrations).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let version: i64 = name.split('_').next().unwrap().parse().unwrap();
        if version <= last_version {
            std::fs::copy(entry.path(), sources.path().join(&name)).unwrap();
        }
    }
    let mut connection = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(sources.path())
        .await
        .unwrap()
        .run_direct(&mut connection)
        .await
        .unwrap();
    let statements = [
        "INSERT INTO workspaces (id, name, created_at) VALUES (1, 'tienda', 1)",
        "INSERT INTO profiles (id, workspace_id, user_id, anonymous_ids, traits, aggregates, \
         state, audiences, first_seen, last_seen, created_at, updated_at) \
         VALUES (7, 1, 'u-1', '[]', '{}', '{}', '{}', '[]', 1000, 1000, 1000, 1000)",
        "INSERT INTO identities (workspace_id, kind, value, profile_id) \
         VALUES (1, 'user', 'u-1', 7)",
        "INSERT INTO events (seq, workspace_id, message_id, kind, name, user_id, timestamp, \
         received_at, properties, traits, context, profile_id) \
         VALUES (1, 1, 'm-1', 'track', 'Product Viewed', 'u-1', 1000, 1001, \
         '{\"price\":9.5,\"brand\":\"ñu\"}', '{}', '{\"ip\":\"10.0.0.1\"}', 7)",
    ];
    let rows = if last_version < 5 { 4 } else { 3 };
    for statement in &statements[..rows] {
        sqlx::query(statement)
            .execute(&mut connection)
            .await
            .unwrap();
    }
    connection.close().await.unwrap();
}

/// A store opened (and so migrated to the end) on a [`database_before`] `last_version`, in the
/// returned directory.
async fn upgraded_from(last_version: i64) -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("before.db");
    database_before(&path, last_version).await;
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    (dir, store)
}

#[tokio::test]
async fn rekeying_the_indexes_keeps_identities_events_and_message_ids() {
    let (_dir, store) = upgraded_from(3).await;
    let workspace = WorkspaceId(1);
    let user_ids = ["u-1".to_owned()];
    let found = store
        .candidates(
            workspace,
            IdentityQuery {
                anonymous_ids: &[],
                user_ids: &user_ids,
                emails: &[],
            },
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].candidate.profile_id, 7);
    let events = store
        .profile_events(workspace, ProfileId(7), None, 10)
        .await
        .unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
    // The message id is still taken: a repeat is a duplicate (its seq stays a gap), a new id
    // is stored.
    let repeat = event("m-1", "Product Viewed");
    let new = event("m-2", "Product Viewed");
    let statuses = store
        .append_events(workspace, &[repeat, new])
        .await
        .unwrap();
    assert_eq!(
        statuses,
        [AppendStatus::Duplicate, AppendStatus::Inserted { seq: 3 }]
    );
    store.close().await;
}

/// Migration 0006 counts the stored live profiles by phase, sub-state and stage, and the
/// processing writes go on from those counts.
#[tokio::test]
async fn counting_phases_in_a_table_starts_from_the_stored_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("before.db");
    database_before(&path, 5).await;
    let mut connection = SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .unwrap();
    // Beside profile 7 (no phase): two in phase II, one in III at risk, one merged away.
    for (id, phase, substate, merged_into) in [
        (8, "'II'", "NULL", "NULL"),
        (9, "'II'", "NULL", "NULL"),
        (10, "'III'", "'at_risk'", "NULL"),
        (11, "'II'", "NULL", "8"),
    ] {
        sqlx::query(&format!(
            "INSERT INTO profiles (id, workspace_id, anonymous_ids, traits, aggregates, state, \
             phase, substate, audiences, first_seen, last_seen, created_at, updated_at, \
             merged_into) VALUES ({id}, 1, '[]', '{{}}', '{{}}', '{{}}', {phase}, {substate}, \
             '[]', 1000, 1000, 1000, 1000, {merged_into})"
        ))
        .execute(&mut connection)
        .await
        .unwrap();
    }
    connection.close().await.unwrap();
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let workspace = WorkspaceId(1);
    let counts = |counts: Vec<PhaseCount>| -> Vec<(Option<String>, Option<String>, u64)> {
        counts
            .into_iter()
            .map(|count| (count.phase, count.substate, count.count))
            .collect()
    };
    let some = |text: &str| Some(text.to_owned());
    assert_eq!(
        counts(store.phase_counts(workspace).await.unwrap()),
        [
            (None, None, 1),
            (some("II"), None, 2),
            (some("III"), some("at_risk"), 1)
        ]
    );

    // Profile 9 moves to phase III at risk; the stored counts follow.
    let mut moved = store
        .profile(workspace, ProfileId(9))
        .await
        .unwrap()
        .unwrap();
    moved.summary.phase = some("III");
    moved.summary.substate = some("at_risk");
    let batch = ProcessingBatch {
        cursor_name: "counts".to_owned(),
        cursor_from: 0,
        cursor_to: 0,
        profiles: vec![moved],
        ..ProcessingBatch::default()
    };
    store.commit_processing(&batch).await.unwrap();
    assert_eq!(
        counts(store.phase_counts(workspace).await.unwrap()),
        [
            (None, None, 1),
            (some("II"), None, 1),
            (some("III"), some("at_risk"), 2)
        ]
    );
    store.close().await;
}

/// An event with its message id and name, otherwise like every other of these tests.
fn event(message_id: &str, name: &str) -> Event {
    Event {
        message_id: message_id.to_owned(),
        kind: EventKind::Track,
        name: Some(name.into()),
        anonymous_id: Some("a-1".into()),
        user_id: None,
        previous_id: None,
        group_id: None,
        timestamp: Timestamp::from_millis(2000),
        received_at: Timestamp::from_millis(2000),
        properties: Value::Map(Map::default()),
        traits: Value::Map(Map::default()),
        context: Value::Map(Map::default()),
    }
}

#[tokio::test]
async fn moving_the_events_into_blocks_keeps_every_field() {
    let (_dir, store) = upgraded_from(4).await;
    let workspace = WorkspaceId(1);
    let log = store.read_log(0, 10).await.unwrap();
    let by_profile = store
        .profile_events(workspace, ProfileId(7), None, 10)
        .await
        .unwrap();
    assert_eq!(log, by_profile);
    let [logged] = &log[..] else {
        panic!("one event: {log:?}")
    };
    assert_eq!((logged.seq, logged.workspace_id), (1, workspace));
    assert_eq!(logged.profile_id, Some(ProfileId(7)));
    let event = &logged.event;
    assert_eq!(event.message_id, "m-1");
    assert_eq!(event.kind, EventKind::Track);
    assert_eq!(event.name.as_deref(), Some("Product Viewed"));
    assert_eq!(event.user_id.as_deref(), Some("u-1"));
    assert_eq!(event.anonymous_id, None);
    assert_eq!(event.timestamp, Timestamp::from_millis(1000));
    assert_eq!(event.received_at, Timestamp::from_millis(1001));
    assert_eq!(event.properties.get("price"), Some(&Value::Number(9.5)));
    assert_eq!(event.properties.get("brand"), Some(&Value::from("ñu")));
    assert_eq!(event.context.get("ip"), Some(&Value::from("10.0.0.1")));
    assert_eq!(event.traits, Value::Map(Map::default()));

    // New appends go into blocks beside the migrated one, and the message id stays taken.
    let statuses = store
        .append_events(workspace, &[event_named("m-1"), event_named("m-2")])
        .await
        .unwrap();
    assert_eq!(
        statuses,
        [AppendStatus::Duplicate, AppendStatus::Inserted { seq: 3 }]
    );
    let log = store.read_log(0, 10).await.unwrap();
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(log[1].event, event_named("m-2"));
    store.close().await;
}

/// A new workspace "tienda" in `store`.
async fn tienda(store: &SqliteStore) -> WorkspaceId {
    store
        .create_workspace("tienda", &[], Timestamp::from_millis(1))
        .await
        .unwrap()
        .id
}

fn event_named(message_id: &str) -> Event {
    event(message_id, &format!("named after {message_id}"))
}

/// A block holds the bodies of an append's events in order, stored or not: a seq that an
/// append left as a gap at the log's end and a later append took must read as the later one.
#[tokio::test]
async fn a_seq_taken_again_after_trailing_duplicates_reads_its_own_body() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&format!("sqlite://{}", dir.path().join("e.db").display()))
        .await
        .unwrap();
    let workspace = tienda(&store).await;
    let append = async |ids: &[&str]| {
        let events: Vec<Event> = ids.iter().map(|id| event_named(id)).collect();
        store.append_events(workspace, &events).await.unwrap()
    };
    append(&["m-1", "m-2"]).await;
    // m-3 is stored as 3; the repeats' seqs 4 and 5 stay free.
    let statuses = append(&["m-3", "m-1", "m-2"]).await;
    assert_eq!(statuses[0], AppendStatus::Inserted { seq: 3 });
    // Their seqs go to m-4 and m-5, in a block of their own.
    let statuses = append(&["m-4", "m-5"]).await;
    assert_eq!(
        statuses,
        [
            AppendStatus::Inserted { seq: 4 },
            AppendStatus::Inserted { seq: 5 }
        ]
    );
    // A run of all duplicates stores no block (the next append starts at its seq).
    append(&["m-5"]).await;
    let statuses = append(&["m-6"]).await;
    assert_eq!(statuses, [AppendStatus::Inserted { seq: 6 }]);

    let log = store.read_log(0, 10).await.unwrap();
    let read: Vec<(i64, Event)> = log.into_iter().map(|l| (l.seq, l.event)).collect();
    let expected: Vec<(i64, Event)> = (1..=6)
        .map(|seq| (seq, event_named(&format!("m-{seq}"))))
        .collect();
    assert_eq!(read, expected);
    // From the middle, and one at a time, as processing and replays read.
    for after in 0..6 {
        let page = store.read_log(after, 1).await.unwrap();
        assert_eq!(page[0].event, event_named(&format!("m-{}", after + 1)));
    }
    store.close().await;
}

/// With flushes deferred (`synchronous = NORMAL`, what `embudo import` opens), `sync` leaves
/// every write in the database file itself: a copy of the file without its WAL holds them.
/// (The background checkpointer may have copied them already; `sync` must not return before
/// it has.)
#[tokio::test]
async fn sync_leaves_every_write_in_the_database_file() {
    let (_dir, path, url) = database_file();
    let options = SqliteOptions {
        synchronous: Synchronous::Normal,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::connect_with(&url, options).await.unwrap();
    let workspace = tienda(&store).await;
    append_rounds(&store, workspace, 0..3).await;
    store.sync().await.unwrap();

    let log = events_in_file_alone(&path).await;
    assert_eq!(log.len(), 2_100);
    assert_eq!(log[2_099].event, event_named("m-2-699"));
    store.close().await;
}

/// A database file to be, in a temporary directory: the directory, the file's path and URL.
fn database_file() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.db");
    let url = format!("sqlite://{}", path.display());
    (dir, path, url)
}

/// The journal mode of the store's writing connection, as SQLite reports it.
async fn writer_journal(store: &SqliteStore) -> String {
    sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&store.writer)
        .await
        .unwrap()
}

/// Whether the file's header says WAL (bytes 18 and 19, the format versions: 2 for WAL).
fn header_says_wal(path: &Path) -> bool {
    let header = std::fs::read(path).expect("the database file");
    header[18] == 2 && header[19] == 2
}

/// Appends `rounds` rounds of 700 events named `m-{round}-{i}`.
async fn append_rounds(store: &SqliteStore, workspace: WorkspaceId, rounds: std::ops::Range<u32>) {
    for round in rounds {
        let events: Vec<Event> = (0..700)
            .map(|i| event_named(&format!("m-{round}-{i}")))
            .collect();
        store.append_events(workspace, &events).await.unwrap();
    }
}

/// The events in a copy of the database file alone, without its WAL: what a machine that
/// stopped at this point would find on its disk once `sync` has returned.
async fn events_in_file_alone(path: &Path) -> Vec<LoggedEvent> {
    let copy = path.with_file_name("copy.db");
    std::fs::copy(path, &copy).unwrap();
    let copied = SqliteStore::connect(&format!("sqlite://{}", copy.display()))
        .await
        .unwrap();
    let log = copied.read_log(0, 10_000).await.unwrap();
    copied.close().await;
    std::fs::remove_file(&copy).unwrap();
    log
}

/// A bulk load alone on its file writes through a rollback journal: no WAL file, no
/// checkpoints, every commit in the database file itself. Closing returns the file to WAL.
#[tokio::test]
async fn a_bulk_load_alone_writes_through_a_rollback_journal_and_closes_back_to_wal() {
    let (_dir, path, url) = database_file();
    let store = SqliteStore::connect_with(&url, SqliteOptions::bulk_load())
        .await
        .unwrap();
    assert!(store.rollback);
    assert!(store.checkpointer.is_none());
    assert_eq!(writer_journal(&store).await, "truncate");

    let workspace = tienda(&store).await;
    append_rounds(&store, workspace, 0..3).await;
    assert!(!path.with_file_name("e.db-wal").exists());
    store.sync().await.unwrap();
    let log = events_in_file_alone(&path).await;
    assert_eq!(log.len(), 2_100);
    assert_eq!(log[2_099].event, event_named("m-2-699"));

    store.close().await;
    assert!(header_says_wal(&path));
    let reopened = SqliteStore::connect(&url).await.unwrap();
    assert_eq!(reopened.read_log(0, 10_000).await.unwrap().len(), 2_100);
    reopened.close().await;
}

/// A bulk load cannot leave WAL while another store has the file open: it loads in WAL, with
/// the checkpointer that `sync` waits for, and the other store reads what it wrote.
#[tokio::test]
async fn a_bulk_load_beside_an_open_store_stays_in_wal() {
    let (_dir, path, url) = database_file();
    let serving = SqliteStore::connect(&url).await.unwrap();
    let workspace = tienda(&serving).await;

    let started = std::time::Instant::now();
    let bulk = SqliteStore::connect_with(&url, SqliteOptions::bulk_load())
        .await
        .unwrap();
    // Refused at once, not after the busy timeout.
    assert!(started.elapsed() < SqliteOptions::bulk_load().busy_timeout);
    assert!(!bulk.rollback);
    assert!(bulk.checkpointer.is_some());
    assert_eq!(writer_journal(&bulk).await, "wal");

    append_rounds(&bulk, workspace, 0..3).await;
    bulk.sync().await.unwrap();
    assert_eq!(events_in_file_alone(&path).await.len(), 2_100);
    assert_eq!(serving.read_log(0, 10_000).await.unwrap().len(), 2_100);
    bulk.close().await;
    serving.close().await;
    assert!(header_says_wal(&path));
}

/// Another store that opens the file during a bulk load turns WAL on again; the load goes on
/// in WAL, and `sync` still leaves every write in the database file.
#[tokio::test]
async fn a_bulk_load_taken_back_to_wal_keeps_its_writes() {
    let (_dir, path, url) = database_file();
    let bulk = SqliteStore::connect_with(&url, SqliteOptions::bulk_load())
        .await
        .unwrap();
    assert!(bulk.rollback);
    let workspace = tienda(&bulk).await;
    append_rounds(&bulk, workspace, 0..1).await;

    let serving = SqliteStore::connect(&url).await.unwrap();
    assert!(header_says_wal(&path));
    assert_eq!(serving.read_log(0, 10_000).await.unwrap().len(), 700);
    append_rounds(&bulk, workspace, 1..3).await;
    bulk.sync().await.unwrap();
    assert_eq!(events_in_file_alone(&path).await.len(), 2_100);
    assert_eq!(serving.read_log(0, 10_000).await.unwrap().len(), 2_100);
    bulk.close().await;
    serving.close().await;
}

/// A store that opens the file while a bulk load holds it in a rollback journal waits for a
/// moment the lock is free (SQLite refuses the switch to WAL at once) instead of failing, and
/// the load goes on in WAL.
#[tokio::test]
async fn opening_waits_while_a_bulk_load_holds_the_file() {
    let (_dir, path, url) = database_file();
    let bulk = SqliteStore::connect_with(&url, SqliteOptions::bulk_load())
        .await
        .unwrap();
    assert!(bulk.rollback);
    let workspace = tienda(&bulk).await;
    // A read in progress holds the file's shared lock, as the load's reads do.
    let mut reading = bulk.reader.begin().await.unwrap();
    sqlx::query("SELECT count(*) FROM workspaces")
        .fetch_one(&mut *reading)
        .await
        .unwrap();

    let options = SqliteOptions {
        busy_timeout: std::time::Duration::from_millis(50),
        ..SqliteOptions::default()
    };
    let opening = tokio::spawn(async move { SqliteStore::connect_with(&url, options).await });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !opening.is_finished(),
        "opening gave up: {:?}",
        opening.await
    );
    reading.rollback().await.unwrap();
    let serving = opening.await.unwrap().unwrap();
    assert!(header_says_wal(&path));

    append_rounds(&bulk, workspace, 0..1).await;
    bulk.sync().await.unwrap();
    assert_eq!(serving.read_log(0, 10_000).await.unwrap().len(), 700);
    bulk.close().await;
    serving.close().await;
}
