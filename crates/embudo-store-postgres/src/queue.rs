//! Where the job queue goes (not built yet).
//!
//! Jobs will live in a `jobs` table (`id, workspace_id, kind, payload, run_at, attempts,
//! locked_until, done_at`). A worker step claims and runs one job in one transaction:
//!
//! ```sql
//! SELECT id, kind, payload FROM jobs
//! WHERE done_at IS NULL AND run_at <= $1
//! ORDER BY run_at
//! LIMIT 1
//! FOR UPDATE SKIP LOCKED
//! ```
//!
//! then marks it done (or schedules the retry) before committing, so any number of nodes can
//! work one queue without two of them running a job at once. SQLite runs one worker per file
//! and claims with a plain `UPDATE … RETURNING` on its single writer.
