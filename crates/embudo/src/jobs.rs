//! Model jobs: rebuilding every workspace's models (predictions, cross-sell, question
//! likelihoods) on a schedule, in the background of `serve`.
//!
//! A job is due for a workspace when its kind has no stored model yet, or when the newest one
//! (or the last failed attempt) is older than the period. Jobs run one at a time, so that a
//! rebuild never takes both cores from the server; a failure (too little data, say) is logged
//! and tried again one period later. Whether a model is due is read from the store, so a
//! restart does not rebuild what is fresh. A workspace without profiles is left alone until
//! its first events are processed.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use embudo_core::Timestamp;
use embudo_service::{Embudo, ServiceError};
use embudo_store::{ModelInfo, ProfileFilter, WorkspaceId};
use tokio_util::sync::CancellationToken;

/// The future a job's build returns.
pub type BuildFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<ModelInfo>> + Send + 'a>>;

/// One kind of model and how to build it for a workspace.
#[derive(Clone, Copy)]
pub struct ModelJob {
    /// The model kind it saves (`Store::save_model`), e.g. `"btyd"`.
    pub kind: &'static str,
    pub build: for<'a> fn(&'a Embudo, WorkspaceId) -> BuildFuture<'a>,
}

impl std::fmt::Debug for ModelJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelJob")
            .field("kind", &self.kind)
            .finish()
    }
}

/// The jobs `serve` runs: every model the service can build.
pub fn model_jobs() -> Vec<ModelJob> {
    vec![
        ModelJob {
            kind: embudo_service::predict::BTYD,
            build: |embudo, workspace| {
                Box::pin(async move { Ok(embudo.train_btyd(workspace).await?.info) })
            },
        },
        ModelJob {
            kind: embudo_service::predict::INTENT,
            build: |embudo, workspace| {
                Box::pin(async move { Ok(embudo.train_intent(workspace).await?.info) })
            },
        },
        ModelJob {
            kind: embudo_service::recommend::MODEL_KIND,
            build: |embudo, workspace| {
                Box::pin(async move { Ok(embudo.build_recommendations(workspace).await?) })
            },
        },
        ModelJob {
            kind: embudo_service::questions::MODEL_KIND,
            build: |embudo, workspace| {
                Box::pin(async move { Ok(embudo.learn_questions(workspace).await?) })
            },
        },
    ]
}

/// How often the scheduler looks whether a job is due.
const CHECK_EVERY: Duration = Duration::from_secs(60);

/// Whether a model last built at `built` (None: never) and last attempted at `attempted` is
/// due at `now`, with a rebuild every `every`.
fn is_due(
    built: Option<Timestamp>,
    attempted: Option<Timestamp>,
    now: Timestamp,
    every: Duration,
) -> bool {
    let last = match (built, attempted) {
        (None, None) => return true,
        (Some(at), None) | (None, Some(at)) => at,
        (Some(built), Some(attempted)) => built.max(attempted),
    };
    let every = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
    now.as_millis().saturating_sub(last.as_millis()) >= every
}

/// Runs the due jobs of every workspace once. `attempts` remembers failed attempts between
/// rounds. Returns the models built.
pub async fn run_due_jobs(
    embudo: &Embudo,
    jobs: &[ModelJob],
    every: Duration,
    attempts: &mut HashMap<(WorkspaceId, &'static str), Timestamp>,
    cancel: &CancellationToken,
) -> Result<Vec<ModelInfo>, ServiceError> {
    let mut built = Vec::new();
    for workspace in embudo.store().workspaces().await? {
        // A shop with no profile yet has nothing to learn from: a model built now would be
        // empty, and would stay so for a whole period after the first events arrive.
        let first = ProfileFilter {
            limit: 1,
            ..ProfileFilter::default()
        };
        if embudo
            .store()
            .list_profiles(workspace.id, &first)
            .await?
            .items
            .is_empty()
        {
            continue;
        }
        let stored = embudo.store().models(workspace.id).await?;
        for job in jobs {
            if cancel.is_cancelled() {
                return Ok(built);
            }
            // `models` lists the newest version of a kind first.
            let newest = stored
                .iter()
                .find(|info| info.kind == job.kind)
                .map(|info| info.built_at);
            let attempted = attempts.get(&(workspace.id, job.kind)).copied();
            if !is_due(newest, attempted, embudo.now(), every) {
                continue;
            }
            let started = std::time::Instant::now();
            // A build can take long (model fits): shutting down does not wait for it. What it
            // would have saved is saved by the next round instead.
            let result = tokio::select! {
                result = (job.build)(embudo, workspace.id) => result,
                () = cancel.cancelled() => return Ok(built),
            };
            match result {
                Ok(info) => {
                    tracing::info!(
                        workspace = %workspace.id,
                        kind = job.kind,
                        version = info.version,
                        seconds = started.elapsed().as_secs_f64(),
                        "model rebuilt"
                    );
                    attempts.remove(&(workspace.id, job.kind));
                    built.push(info);
                }
                Err(err) => {
                    tracing::warn!(
                        workspace = %workspace.id,
                        kind = job.kind,
                        error = format!("{err:#}"),
                        "model not rebuilt; trying again in one period"
                    );
                    attempts.insert((workspace.id, job.kind), embudo.now());
                }
            }
        }
    }
    Ok(built)
}

/// Rebuilds due models every `every` until cancelled.
pub async fn run_model_jobs(
    embudo: Embudo,
    jobs: Vec<ModelJob>,
    every: Duration,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let mut attempts = HashMap::new();
    loop {
        if let Err(err) = run_due_jobs(&embudo, &jobs, every, &mut attempts, &cancel).await {
            tracing::error!(error = %err, "model jobs failed; looking again shortly");
        }
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            () = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use embudo_core::{Event, EventKind, Value};
    use embudo_service::{FixedClock, ServiceSettings};
    use embudo_store::NewModel;
    use embudo_store_sqlite::SqliteStore;

    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn due_when_never_built_or_older_than_the_period() {
        let at = Timestamp::from_secs;
        assert!(is_due(None, None, at(0), HOUR));
        assert!(!is_due(Some(at(0)), None, at(3599), HOUR));
        assert!(is_due(Some(at(0)), None, at(3600), HOUR));
        // A failed attempt waits one period too, whatever the age of the stored model.
        assert!(!is_due(Some(at(0)), Some(at(7000)), at(7200), HOUR));
        assert!(!is_due(None, Some(at(0)), at(1800), HOUR));
        assert!(is_due(None, Some(at(0)), at(3600), HOUR));
    }

    static BUILDS: AtomicUsize = AtomicUsize::new(0);

    fn build_counting(embudo: &Embudo, workspace: WorkspaceId) -> BuildFuture<'_> {
        Box::pin(async move {
            BUILDS.fetch_add(1, Ordering::SeqCst);
            let model = NewModel {
                kind: "counting".to_owned(),
                built_at: embudo.now(),
                report: "{}".to_owned(),
                payload: Vec::new(),
            };
            Ok(embudo.store().save_model(workspace, &model).await?)
        })
    }

    fn build_failing(_: &Embudo, _: WorkspaceId) -> BuildFuture<'_> {
        Box::pin(async { Err(anyhow::anyhow!("too little data")) })
    }

    /// A product view of one anonymous person, with this message id.
    fn viewed(message_id: &str) -> Event {
        Event {
            message_id: message_id.to_owned(),
            kind: EventKind::Track,
            name: Some("Product Viewed".into()),
            anonymous_id: Some("anon".into()),
            user_id: None,
            previous_id: None,
            group_id: None,
            timestamp: Timestamp::from_secs(999_000),
            received_at: Timestamp::from_secs(999_000),
            properties: Value::Map(Default::default()),
            traits: Value::Map(Default::default()),
            context: Value::Map(Default::default()),
        }
    }

    fn build_forever(_: &Embudo, _: WorkspaceId) -> BuildFuture<'_> {
        Box::pin(std::future::pending())
    }

    #[tokio::test]
    async fn a_build_in_progress_does_not_hold_up_a_shutdown() {
        let store = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
        let clock = Arc::new(FixedClock::new(Timestamp::from_secs(1_000_000)));
        let embudo = Embudo::new(store, clock, ServiceSettings::default());
        let shop = embudo.create_workspace("a").await.unwrap().workspace.id;
        embudo.ingest(shop, &[viewed("a-1")]).await.unwrap();
        embudo.process_all().await.unwrap();
        let jobs = vec![ModelJob {
            kind: "forever",
            build: build_forever,
        }];
        let cancel = CancellationToken::new();
        let running = tokio::spawn(run_model_jobs(embudo, jobs, HOUR, cancel.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!running.is_finished(), "the build is in progress");
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("the jobs stop when cancelled")
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn builds_what_is_due_and_waits_a_period_after_a_failure() {
        let store = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
        let clock = Arc::new(FixedClock::new(Timestamp::from_secs(1_000_000)));
        let embudo = Embudo::new(store, clock.clone(), ServiceSettings::default());
        let a = embudo.create_workspace("a").await.unwrap().workspace.id;
        let b = embudo.create_workspace("b").await.unwrap().workspace.id;
        embudo.create_workspace("empty").await.unwrap();
        for (workspace, id) in [(a, "a-1"), (b, "b-1")] {
            embudo.ingest(workspace, &[viewed(id)]).await.unwrap();
        }
        embudo.process_all().await.unwrap();
        let jobs = [
            ModelJob {
                kind: "counting",
                build: build_counting,
            },
            ModelJob {
                kind: "failing",
                build: build_failing,
            },
        ];
        let cancel = CancellationToken::new();
        let mut attempts = HashMap::new();
        let mut round = async || {
            run_due_jobs(&embudo, &jobs, HOUR, &mut attempts, &cancel)
                .await
                .unwrap()
                .len()
        };
        // Both workspaces with profiles build at first (the empty one waits for its first
        // events); the failing job is remembered, not retried at once.
        assert_eq!(round().await, 2);
        assert_eq!(round().await, 0);
        clock.set(Timestamp::from_secs(1_000_000 + 3599));
        assert_eq!(round().await, 0);
        clock.set(Timestamp::from_secs(1_000_000 + 3600));
        assert_eq!(round().await, 2);
        assert_eq!(BUILDS.load(Ordering::SeqCst), 4);
        assert_eq!(attempts.len(), 2, "one failed attempt per workspace");
    }
}
