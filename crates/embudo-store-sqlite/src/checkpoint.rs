//! Checkpoints beside the writer: a connection of its own copies the WAL's pages into the
//! database file, so that a commit does not wait for a checkpoint.
//!
//! By default SQLite checkpoints in the committing connection once the WAL holds 1000 pages:
//! the commit that crosses the mark copies the WAL into the database file and syncs it before
//! it returns, on the single writer's time. Here the writer's mark is raised
//! ([`WRITER_AUTOCHECKPOINT`]) and a task runs a `PASSIVE` checkpoint whenever a write path
//! nudges it after a commit, and at least every [`INTERVAL`]. A passive checkpoint never
//! blocks the writer. The writer's own checkpoint at the raised mark still runs when writes
//! outpace the task; it then finds little left to copy, and a WAL starts over from its
//! beginning only once a checkpoint has copied all of it, which keeps the file bounded.

use std::time::Duration;

use embudo_store::{StoreError, StoreResult};
use sqlx::sqlite::SqlitePool;
use tokio::sync::mpsc;

use crate::map_err;

/// The writer's own checkpoint mark, in pages (SQLite's default is 1000): 256 MiB of WAL with
/// the adapter's 16 KiB pages (64 MiB in a file made with 4 KiB pages).
pub(crate) const WRITER_AUTOCHECKPOINT: u32 = 16_384;

/// How many times [`Checkpointer::sync`] tries (waiting up to 640 ms between tries).
const SYNC_ATTEMPTS: u32 = 20;

/// The longest a committed page waits for the task when no write path nudges it.
const INTERVAL: Duration = Duration::from_secs(1);

/// Nudges the checkpointing task; the task ends when the last clone is dropped or its pool is
/// closed.
#[derive(Debug, Clone)]
pub(crate) struct Checkpointer {
    nudges: mpsc::Sender<()>,
    pool: SqlitePool,
}

impl Checkpointer {
    /// Starts the task on `pool`, a connection that may write the database file.
    pub(crate) fn start(pool: SqlitePool) -> Checkpointer {
        // One waiting nudge is enough: the next checkpoint copies everything committed.
        let (nudges, receiver) = mpsc::channel(1);
        tokio::spawn(run(pool.clone(), receiver));
        Checkpointer { nudges, pool }
    }

    /// Asks for a checkpoint soon (after a commit). Never waits.
    pub(crate) fn nudge(&self) {
        let _ = self.nudges.try_send(());
    }

    /// Makes every commit so far durable. With `synchronous = NORMAL` a commit reaches the WAL
    /// file but not the disk. A checkpoint that copies frames into the database file flushes
    /// the WAL first, and one that copies the last of them flushes the file: once a checkpoint
    /// reports every frame of the WAL copied, every commit before it is on the disk. A
    /// checkpoint held back, by another one running or by a reader still on an older
    /// snapshot, is tried again. (With `FULL` every commit was flushed already.)
    pub(crate) async fn sync(&self) -> StoreResult<()> {
        for attempt in 0..SYNC_ATTEMPTS {
            if copy_wal(&self.pool, Mode::Passive).await? {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10 << attempt.min(6))).await;
        }
        Err(StoreError::Unavailable(
            "the WAL could not be flushed: checkpoints kept being held back".to_owned(),
        ))
    }

    /// Closes the task's connection, waiting for a checkpoint in progress.
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// How a checkpoint waits for the database's writer and readers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// Copies what it can without waiting for anyone.
    Passive,
    /// Waits for the writer, then for readers on older snapshots (up to the busy timeout).
    Full,
}

/// Runs a checkpoint on `pool`; says whether it copied every frame of the WAL into the
/// database file (then every commit before it is on the disk). In a rollback journal there is
/// nothing to copy, and it says yes.
pub(crate) async fn copy_wal(pool: &SqlitePool, mode: Mode) -> StoreResult<bool> {
    let sql = match mode {
        Mode::Passive => "PRAGMA wal_checkpoint(PASSIVE)",
        Mode::Full => "PRAGMA wal_checkpoint(FULL)",
    };
    let (busy, frames, copied): (i64, i64, i64) =
        sqlx::query_as(sql).fetch_one(pool).await.map_err(map_err)?;
    Ok(busy == 0 && copied == frames)
}

async fn run(pool: SqlitePool, mut nudges: mpsc::Receiver<()>) {
    loop {
        tokio::select! {
            nudge = nudges.recv() => {
                if nudge.is_none() {
                    break;
                }
            }
            () = tokio::time::sleep(INTERVAL) => {}
        }
        if pool.is_closed() {
            break;
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            // The writer's own checkpoint still bounds the WAL.
            tracing::warn!(%error, "background checkpoint failed");
        }
    }
    pool.close().await;
}
