//! Test support for the storage conformance story: one store per backend, each in a fresh
//! database that is removed when dropped.
//!
//! SQLite (a file in a temporary directory) always; PostgreSQL when `EMBUDO_TEST_PG_URL` is set
//! (a uniquely named database is created on that server and dropped afterwards; set
//! `EMBUDO_TEST_KEEP_DB=1` to keep it for a look).
//!
//! A separate crate so that the adapters do not depend on each other or on their tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use embudo_core::{Event, EventKind, Timestamp, Value};
use embudo_store::Store;
use embudo_store_postgres::PostgresStore;
use embudo_store_sqlite::{SqliteOptions, SqliteStore};

/// The environment variable naming a PostgreSQL server for the tests.
pub const PG_URL_VAR: &str = "EMBUDO_TEST_PG_URL";

/// Keep test databases instead of dropping them.
pub const KEEP_DB_VAR: &str = "EMBUDO_TEST_KEEP_DB";

/// A store under test, in its own fresh database.
pub struct TestStore {
    /// `"sqlite"`, `"sqlite (bulk load)"` or `"postgres"`, for assertion messages.
    pub backend: &'static str,
    pub store: Arc<dyn Store>,
    location: Location,
}

enum Location {
    Sqlite {
        dir: Option<tempfile::TempDir>,
        path: PathBuf,
    },
    Postgres {
        server_url: String,
        database: String,
        url: String,
        pool: PostgresStore,
    },
}

impl TestStore {
    /// A SQLite store in a new file, `synchronous = FULL`.
    pub async fn sqlite() -> TestStore {
        TestStore::sqlite_with(SqliteOptions::default()).await
    }

    /// A SQLite store in a new file, opened for a bulk load: alone on its file, it writes
    /// through a rollback journal ([`Journal::BulkLoad`]).
    pub async fn sqlite_bulk_load() -> TestStore {
        let mut test = TestStore::sqlite_with(SqliteOptions::bulk_load()).await;
        test.backend = "sqlite (bulk load)";
        test
    }

    pub async fn sqlite_with(options: SqliteOptions) -> TestStore {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("embudo.db");
        let store = SqliteStore::connect_with(&sqlite_url(&path), options)
            .await
            .expect("open SQLite store");
        TestStore {
            backend: "sqlite",
            store: Arc::new(store),
            location: Location::Sqlite {
                dir: Some(dir),
                path,
            },
        }
    }

    /// A PostgreSQL store in a new database, when `EMBUDO_TEST_PG_URL` is set.
    pub async fn postgres() -> Option<TestStore> {
        let server_url = std::env::var(PG_URL_VAR)
            .ok()
            .filter(|url| !url.is_empty())?;
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        // Randomly seeded: unique across runs without reading the clock.
        let salt =
            std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), 0u8)
                % 1_000_000_000;
        let database = format!(
            "embudo_test_{}_{}_{salt}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        // Text sorts by language rules in this database unless a column says otherwise, as in
        // many a production server's.
        let url = embudo_store_postgres::create_database(&server_url, &database, Some("en-US"))
            .await
            .unwrap_or_else(|error| panic!("create test database on {server_url}: {error}"));
        let store = PostgresStore::connect(&url)
            .await
            .unwrap_or_else(|error| panic!("connect to {url}: {error}"));
        Some(TestStore {
            backend: "postgres",
            store: Arc::new(store.clone()),
            location: Location::Postgres {
                server_url,
                database,
                url,
                pool: store,
            },
        })
    }

    /// Every backend this run tests: SQLite, as served and as a bulk load opens it, and
    /// PostgreSQL when configured.
    pub async fn all() -> Vec<TestStore> {
        let mut stores = vec![
            TestStore::sqlite().await,
            TestStore::sqlite_bulk_load().await,
        ];
        stores.extend(TestStore::postgres().await);
        stores
    }

    /// Opens the same database again, as a restarted server would (SQLite files only; `None`
    /// for other backends).
    pub async fn reopen(&self) -> Option<Arc<dyn Store>> {
        match &self.location {
            Location::Sqlite { path, .. } => {
                let store = SqliteStore::connect(&sqlite_url(path))
                    .await
                    .expect("reopen SQLite store");
                Some(Arc::new(store))
            }
            Location::Postgres { url, .. } => {
                let store = PostgresStore::connect(url)
                    .await
                    .expect("reconnect to PostgreSQL");
                Some(Arc::new(store))
            }
        }
    }

    /// The SQLite file, if this is SQLite.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.location {
            Location::Sqlite { path, .. } => Some(path),
            Location::Postgres { .. } => None,
        }
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        let keep = std::env::var(KEEP_DB_VAR).is_ok_and(|value| value == "1");
        match &mut self.location {
            Location::Sqlite { dir, path } => {
                if keep && let Some(dir) = dir.take() {
                    eprintln!("keeping {}", path.display());
                    let _ = dir.keep();
                }
            }
            Location::Postgres {
                server_url,
                database,
                pool,
                ..
            } => {
                if keep {
                    eprintln!("keeping PostgreSQL database {database}");
                    return;
                }
                // Drop runs inside the test's runtime, which cannot block: drop the database
                // from a thread with its own runtime, and wait for it.
                let (server_url, database, pool) =
                    (server_url.clone(), database.clone(), pool.clone());
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime for dropping the test database");
                    runtime.block_on(async {
                        drop(pool);
                        embudo_store_postgres::drop_database(&server_url, &database).await
                    })
                })
                .join();
                if let Ok(Err(error)) = dropped {
                    eprintln!("could not drop test database: {error}");
                }
            }
        }
    }
}

pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// A track event with the given ids, at `at` seconds.
pub fn track(message_id: &str, name: &str, anonymous_id: Option<&str>, at: i64) -> Event {
    Event {
        message_id: message_id.to_owned(),
        kind: EventKind::Track,
        name: Some(name.into()),
        anonymous_id: anonymous_id.map(Into::into),
        user_id: None,
        previous_id: None,
        group_id: None,
        timestamp: Timestamp::from_secs(at),
        received_at: Timestamp::from_secs(at + 1),
        properties: map(&[
            ("product_id", Value::from("p-1")),
            ("price", Value::from(9.5)),
        ]),
        traits: map(&[]),
        context: map(&[("ip", Value::from("10.0.0.1"))]),
    }
}

/// A map value.
pub fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(key, value)| ((*key).into(), value.clone()))
            .collect(),
    )
}

/// `n` product-view events shaped like a shop's traffic, with unique message ids
/// (`{prefix}-{i}`), for benchmarks and bulk tests.
pub fn realistic_events(prefix: &str, n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let mut event = track(
                &format!("{prefix}-{i:08}-5d1c2f0e-8b7a-4c1d-9e3f"),
                "Product Viewed",
                Some(&format!("anon-{:06}", i % 5000)),
                1_700_000_000 + i as i64,
            );
            event.properties = map(&[
                (
                    "product_id",
                    Value::from(format!("{}", 1_000_000 + i % 20_000).as_str()),
                ),
                ("category", Value::from("electronics.smartphone")),
                ("brand", Value::from("samsung")),
                ("price", Value::from(489.07)),
            ]);
            event.context = map(&[
                ("library", map(&[("name", Value::from("analytics.js"))])),
                ("userAgent", Value::from("Mozilla/5.0 (X11; Linux x86_64)")),
            ]);
            event
        })
        .collect()
}
