//! The composition root: the store chosen by URL, the service, the HTTP server and the profile
//! processor, started together and stopped together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use embudo_http::{AppState, HttpSettings};
use embudo_service::{Embudo, ServiceSettings, SystemClock};
use embudo_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::settings::{Settings, StoreUrl, redact};

/// What an SQLite store is opened for (PostgreSQL has one way: every commit flushed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreUse {
    /// Serving: WAL, every commit flushed (`synchronous = FULL`), so what the server
    /// acknowledges is durable.
    Serving,
    /// A bulk load that syncs ([`Store::sync`]) before it reports what it stored: a rollback
    /// journal while the load is the database's only user, else WAL with flushes deferred to
    /// checkpoints and to the sync (`synchronous = NORMAL`); see
    /// [`embudo_store_sqlite::Journal::BulkLoad`]. Close the store at the end
    /// ([`Store::close`]): that returns the file to WAL.
    BulkLoad,
}

/// Opens (and migrates) the store the URL names, for serving.
pub async fn open_store(url: &StoreUrl) -> anyhow::Result<Arc<dyn Store>> {
    open_store_for(url, StoreUse::Serving).await
}

/// Opens (and migrates) the store the URL names.
pub async fn open_store_for(url: &StoreUrl, usage: StoreUse) -> anyhow::Result<Arc<dyn Store>> {
    use embudo_store_sqlite::SqliteOptions;
    let options = match usage {
        StoreUse::Serving => SqliteOptions::default(),
        StoreUse::BulkLoad => SqliteOptions::bulk_load(),
    };
    let store: Arc<dyn Store> = match url {
        StoreUrl::Sqlite(url) => Arc::new(
            embudo_store_sqlite::SqliteStore::connect_with(url, options)
                .await
                .with_context(|| format!("failed to open the SQLite store at {url}"))?,
        ),
        StoreUrl::Postgres(url) => Arc::new(
            embudo_store_postgres::PostgresStore::connect(url)
                .await
                .with_context(|| {
                    format!("failed to open the PostgreSQL store at {}", redact(url))
                })?,
        ),
    };
    Ok(store)
}

/// A built, bound, not yet running server.
pub struct Application {
    listener: TcpListener,
    embudo: Embudo,
    http: HttpSettings,
    reevaluate_every: Option<Duration>,
    rebuild_models_every: Option<Duration>,
}

impl Application {
    /// As [`Application::build_with`], with the built-in engine settings (no config file's
    /// phases or pages): for benchmarks over a fresh store. `embudo serve` uses `build_with`.
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        Application::build_with(settings, ServiceSettings::default()).await
    }

    /// Opens the store and binds the listener (port 0 picks a free port); the service runs
    /// with `service` (the config file's phase model and page rules, see
    /// `settings::ConfigFile::service_settings`).
    pub async fn build_with(
        settings: &Settings,
        service: ServiceSettings,
    ) -> anyhow::Result<Application> {
        let store = open_store(&settings.store).await?;
        let embudo = Embudo::new(store, Arc::new(SystemClock), service);
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("failed to listen on {}", settings.listen))?;
        let http = HttpSettings {
            rate_limit_per_second: settings.rate_limit_per_second,
            ..HttpSettings::default()
        };
        Ok(Application {
            listener,
            embudo,
            http,
            reevaluate_every: settings.reevaluate_every,
            rebuild_models_every: settings.rebuild_models_every,
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    pub fn embudo(&self) -> &Embudo {
        &self.embudo
    }

    /// Serves until `shutdown` is cancelled: in-flight requests finish, the processor stops
    /// between steps, the model jobs between jobs. Returns the first error of any task.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.run_until_stopped_with(shutdown, true).await
    }

    /// As [`Application::run_until_stopped`]; `processing: false` leaves the log unprocessed
    /// (benchmarks of ingest alone).
    pub async fn run_until_stopped_with(
        self,
        shutdown: CancellationToken,
        processing: bool,
    ) -> anyhow::Result<()> {
        let state = AppState::new(self.embudo.clone(), &self.http);
        let router = embudo_http::router(state, &self.http);
        let server_shutdown = shutdown.clone();
        let server = tokio::spawn(async move {
            axum::serve(self.listener, router)
                .with_graceful_shutdown(async move { server_shutdown.cancelled().await })
                .await
                .context("the HTTP server failed")
        });
        let processor = if processing {
            tokio::spawn(run_processor(
                self.embudo.clone(),
                self.reevaluate_every,
                shutdown.clone(),
            ))
        } else {
            tokio::spawn(async { Ok(()) })
        };
        let model_jobs = match self.rebuild_models_every {
            Some(every) if processing => tokio::spawn(crate::jobs::run_model_jobs(
                self.embudo.clone(),
                crate::jobs::model_jobs(),
                every,
                shutdown.clone(),
            )),
            _ => tokio::spawn(async { Ok(()) }),
        };
        let (server, processor, model_jobs) = tokio::join!(server, processor, model_jobs);
        server.context("the HTTP server task panicked")??;
        processor.context("the processor task panicked")??;
        model_jobs.context("the model jobs task panicked")??;
        Ok(())
    }
}

/// Turns the log into profiles as events arrive and, every `reevaluate_every` (first when the
/// server starts), re-evaluates every profile for decay, until cancelled. Both run in this one
/// task, one step at a time: a sweep advances one page between event steps, so it never holds
/// events back for long.
pub async fn run_processor(
    embudo: Embudo,
    reevaluate_every: Option<Duration>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let mut next_sweep = tokio::time::Instant::now();
    let mut sweep = None;
    loop {
        if sweep.is_none()
            && reevaluate_every.is_some()
            && tokio::time::Instant::now() >= next_sweep
        {
            match embudo.start_reevaluation().await {
                Ok(started) => sweep = Some(started),
                Err(err) => tracing::error!(error = %err, "re-evaluation failed to start"),
            }
            next_sweep = tokio::time::Instant::now() + reevaluate_every.unwrap_or_default();
        }
        if let Some(running) = &mut sweep {
            match embudo.reevaluate_step(running).await {
                Ok(true) => {}
                Ok(false) => {
                    let outcome = running.outcome;
                    tracing::info!(
                        profiles = outcome.profiles,
                        changed = outcome.changed,
                        transitions = outcome.transitions,
                        skipped_pages = outcome.skipped_pages,
                        "profiles re-evaluated for decay"
                    );
                    sweep = None;
                }
                Err(err) => {
                    tracing::error!(error = %err, "re-evaluation failed; the next one as scheduled");
                    sweep = None;
                }
            }
        }
        match embudo.process_pending().await {
            Ok(outcome) if outcome.events > 0 => {
                tracing::debug!(
                    events = outcome.events,
                    profiles = outcome.profiles_touched,
                    "processed"
                );
                if cancel.is_cancelled() {
                    return Ok(());
                }
                continue;
            }
            Ok(_) => {}
            Err(err) => tracing::error!(error = %err, "profile processing failed; retrying"),
        }
        if sweep.is_some() {
            // Nothing to process: go on with the sweep at once, unless stopping.
            if cancel.is_cancelled() {
                return Ok(());
            }
            continue;
        }
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            () = embudo.log_grew() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
