//! The driver's share of SQLite's insert cost: the same synthetic event rows (the sizes of an
//! REES46 event's: a 53-character message id, 127 bytes of properties, 55 of context) written
//! into the log's table and its two indexes, 25,000 rows a transaction, with embudo's settings
//! (8 KiB pages, WAL, `synchronous = FULL`, a 64 MiB cache), once through sqlx in 500-row
//! statements as the SQLite adapter writes them, once through rusqlite, one prepared row at a
//! time. Both link the same bundled SQLite. Standalone (not a workspace member, so that embudo
//! does not depend on rusqlite):
//!
//!     cargo run --release --manifest-path scripts/driver_floor/Cargo.toml -- 1000000
//!
//! Writes its files under /tmp/driver_floor and removes them. See docs/benchmarks.md (ninth
//! session).

use std::time::Instant;

const SCHEMA: &str = "CREATE TABLE events (seq INTEGER PRIMARY KEY, workspace_id INTEGER NOT NULL, message_id TEXT NOT NULL, kind TEXT NOT NULL, name TEXT, anonymous_id TEXT, user_id TEXT, previous_id TEXT, group_id TEXT, timestamp INTEGER NOT NULL, received_at INTEGER NOT NULL, properties TEXT NOT NULL, traits TEXT NOT NULL, context TEXT NOT NULL, profile_id INTEGER);
CREATE UNIQUE INDEX events_message ON events (workspace_id, message_id);
CREATE INDEX events_profile ON events (workspace_id, profile_id, seq) WHERE profile_id IS NOT NULL;";

struct Row {
    message_id: String,
    user_id: String,
    properties: String,
    context: String,
    timestamp: i64,
    profile: i64,
}

fn rows(n: usize) -> Vec<Row> {
    let mut x: u64 = 0x9E3779B97F4A7C15;
    (0..n).map(|i| {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        let t = 1569888000000i64 + (i as i64) * 100;
        Row {
            message_id: format!("rees46:{t:013}:{:016x}{:016x}", x, x.rotate_left(17)),
            user_id: format!("{}", 500000000 + x % 100000000),
            properties: format!("{{\"brand\":\"shiseido\",\"category\":\"{0}\",\"category_id\":\"{0}\",\"price\":35.79,\"product_id\":\"{1}\"}}", 2103807459595387724u64 + x % 1000, 44600000 + x % 100000),
            context: format!("{{\"session_id\":\"72d76fde-8bb3-4e00-8c23-{:012x}-0\"}}", x & 0xffffffffffff),
            timestamp: t,
            profile: 1 + ((x >> 20) % ((i as u64) / 4 + 1)) as i64,
        }
    }).collect()
}

fn placeholders(n: usize, c: usize) -> String {
    let one = format!("({})", vec!["?"; c].join(","));
    vec![one; n].join(",")
}

fn rusqlite_run(path: &str, rows: &[Row], batch: usize) -> f64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA page_size=8192; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;").unwrap();
    conn.execute_batch(SCHEMA).unwrap();
    let start = Instant::now();
    let mut seq = 1i64;
    for chunk in rows.chunks(batch) {
        let tx = conn.unchecked_transaction().unwrap();
        {
            let mut st = tx.prepare_cached("INSERT OR FAIL INTO events (seq, workspace_id, message_id, kind, name, anonymous_id, user_id, previous_id, group_id, timestamp, received_at, properties, traits, context, profile_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)").unwrap();
            for r in chunk {
                st.execute(rusqlite::params![
                    seq,
                    1i64,
                    r.message_id,
                    "track",
                    "Product Viewed",
                    None::<&str>,
                    r.user_id,
                    None::<&str>,
                    None::<&str>,
                    r.timestamp,
                    1796361163830i64,
                    r.properties,
                    "{}",
                    r.context,
                    r.profile
                ])
                .unwrap();
                seq += 1;
            }
        }
        tx.commit().unwrap();
    }
    start.elapsed().as_secs_f64()
}

async fn sqlx_run(path: &str, rows: &[Row], batch: usize) -> f64 {
    use sqlx::sqlite::*;
    use sqlx::{ConnectOptions, Connection, Executor};
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .page_size(8192)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .pragma("cache_size", "-65536")
        .statement_cache_capacity(64)
        .connect()
        .await
        .unwrap();
    conn.execute(SCHEMA).await.unwrap();
    let sql = format!(
        "INSERT OR FAIL INTO events (seq, workspace_id, message_id, kind, name, anonymous_id, user_id, previous_id, group_id, timestamp, received_at, properties, traits, context, profile_id) VALUES {}",
        placeholders(500, 15)
    );
    let start = Instant::now();
    let mut seq = 1i64;
    for chunk in rows.chunks(batch) {
        let mut tx = conn.begin().await.unwrap();
        for part in chunk.chunks(500) {
            assert_eq!(part.len(), 500);
            let mut q = sqlx::query(&sql);
            for r in part {
                q = q
                    .bind(seq)
                    .bind(1i64)
                    .bind(r.message_id.clone())
                    .bind("track")
                    .bind("Product Viewed")
                    .bind(None::<String>)
                    .bind(r.user_id.clone())
                    .bind(None::<String>)
                    .bind(None::<String>)
                    .bind(r.timestamp)
                    .bind(1796361163830i64)
                    .bind(r.properties.clone())
                    .bind("{}")
                    .bind(r.context.clone())
                    .bind(r.profile);
                seq += 1;
            }
            q.execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(1_000_000);
    let rows = rows(n);
    std::fs::create_dir_all("/tmp/driver_floor").unwrap();
    for round in 0..3 {
        for mode in ["sqlx", "rusqlite"] {
            let path = format!("/tmp/driver_floor/{mode}{round}.db");
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{ext}"));
            }
            let secs = if mode == "sqlx" {
                sqlx_run(&path, &rows, 25_000).await
            } else {
                rusqlite_run(&path, &rows, 25_000)
            };
            println!(
                "{mode} round {round}: {n} rows in {secs:.2} s ({:.2} us/row)",
                secs * 1e6 / n as f64
            );
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{ext}"));
            }
        }
    }
}
