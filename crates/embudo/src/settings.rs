//! Settings: built-in defaults, then the config file (`embudo.toml`), then environment
//! variables, then command-line flags (clap reads `EMBUDO_LISTEN` and `EMBUDO_DATABASE_URL`
//! together with the flags). Raw values are validated once into [`Settings`] (the server) and
//! an [`EmbudoConfig`] (the engine), see [`read_file`].

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use anyhow::Context;
use embudo_config::EmbudoConfig;
use embudo_service::ServiceSettings;

/// Where the data lives, chosen by the URL's scheme.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(String),
    Postgres(String),
}

impl std::fmt::Debug for StoreUrl {
    /// Never prints a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreUrl::Sqlite(url) => write!(f, "Sqlite({url})"),
            StoreUrl::Postgres(url) => write!(f, "Postgres({})", redact(url)),
        }
    }
}

impl StoreUrl {
    pub fn parse(url: &str) -> anyhow::Result<StoreUrl> {
        if url.starts_with("sqlite:") {
            Ok(StoreUrl::Sqlite(url.to_owned()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(StoreUrl::Postgres(url.to_owned()))
        } else {
            anyhow::bail!(
                "unsupported database url {:?}: use sqlite://FILE (the default, embedded) or postgres://USER@HOST/DB",
                redact(url)
            )
        }
    }
}

/// The URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The `[server]` section of the config file; every field optional.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub rate_limit_per_second: Option<u32>,
    pub json_logs: Option<bool>,
    /// Minutes between re-evaluations of every profile for decay; 0 turns them off.
    pub reevaluate_every_minutes: Option<u64>,
    /// Hours between rebuilds of every workspace's models (predictions, cross-sell, question
    /// likelihoods); 0 turns them off.
    pub rebuild_models_every_hours: Option<u64>,
}

/// The binary's view of the file: only `[server]`. Other top-level keys are the engine's,
/// validated by `embudo_config::check` (which in turn skips `[server]`).
#[derive(Debug, Default, serde::Deserialize)]
struct RawFile {
    #[serde(default)]
    server: RawServer,
}

/// The config file, read once and split between its two owners.
///
/// One text holds both halves, and each half is validated by the code that owns it:
/// `[server]` here, into [`RawServer`] (then [`Settings::resolve`] layers env and flags over
/// it), and the engine sections (`[phases]`, `[[audiences]]`, `[pages]`) by
/// `embudo_config::check`, which skips `[server]` and rejects every other unknown key. So a
/// typo in any section is an error, the engine crate knows nothing of listen addresses, and
/// the binary knows nothing of signals. The engine half is checked first: its errors name the
/// file, line and column, syntax errors included. The file is read once, in [`read_file`], for
/// every command; its text is deserialized once per owner (microseconds), since a shared parse
/// would need an `embudo_config` entry point over an already parsed, span-keeping document.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    /// The file read, if any (none: everything is at its default).
    pub path: Option<PathBuf>,
    pub server: RawServer,
    pub engine: EmbudoConfig,
}

impl ConfigFile {
    /// What the service takes from the engine configuration.
    pub fn service_settings(&self) -> ServiceSettings {
        ServiceSettings {
            page_rules: self.engine.pages.clone(),
            phase_model: self.engine.phases.clone(),
            audiences: self.engine.audiences.clone(),
            questions: self.engine.questions.clone(),
            recommend: self.engine.recommend.clone(),
            ..ServiceSettings::default()
        }
    }
}

/// Validated settings of the server.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub store: StoreUrl,
    pub rate_limit_per_second: Option<NonZeroU32>,
    pub json_logs: bool,
    /// How often `serve` re-evaluates every profile for decay; `None`: never.
    pub reevaluate_every: Option<std::time::Duration>,
    /// How often `serve` rebuilds the models; `None`: never (build them with the CLI).
    pub rebuild_models_every: Option<std::time::Duration>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://embudo.db";

/// Reads the config file: the given path (must exist), else `embudo.toml` if present, else
/// nothing (all defaults). See [`ConfigFile`] for how its sections are validated.
pub fn read_file(path: Option<&Path>) -> anyhow::Result<ConfigFile> {
    let path = match path {
        Some(path) => Some(path.to_owned()),
        None => Some(PathBuf::from("embudo.toml")).filter(|path| path.exists()),
    };
    let Some(path) = path else {
        return Ok(ConfigFile::default());
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    // The error already names the file, the line and the problem.
    let engine = embudo_config::check(&path.display().to_string(), &text)?;
    let raw: RawFile = toml::from_str(&text).map_err(|err| {
        // Located as `embudo_config` locates its errors: `FILE:LINE:COLUMN: problem`.
        let offset = err.span().map_or(0, |span| span.start).min(text.len());
        let before = text.get(..offset).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .unwrap_or_default()
            .chars()
            .count()
            + 1;
        anyhow::anyhow!(
            "{}:{line}:{column}: {}",
            path.display(),
            err.message().trim_end_matches('.')
        )
    })?;
    Ok(ConfigFile {
        path: Some(path),
        server: raw.server,
        engine,
    })
}

impl Settings {
    /// Layers the flags (already merged with env by clap) over the file over the defaults.
    pub fn resolve(
        file: &RawServer,
        listen: Option<&str>,
        database_url: Option<&str>,
    ) -> anyhow::Result<Settings> {
        let listen = listen.or(file.listen.as_deref()).unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = listen.parse().with_context(|| {
            format!("listen address {listen:?} is not HOST:PORT (e.g. 127.0.0.1:8080)")
        })?;
        let url = database_url
            .or(file.database_url.as_deref())
            .unwrap_or(DEFAULT_DATABASE_URL);
        Ok(Settings {
            listen,
            store: StoreUrl::parse(url)?,
            rate_limit_per_second: NonZeroU32::new(file.rate_limit_per_second.unwrap_or(2_000)),
            json_logs: file.json_logs.unwrap_or(false),
            reevaluate_every: match file.reevaluate_every_minutes.unwrap_or(60) {
                0 => None,
                minutes => Some(std::time::Duration::from_secs(minutes * 60)),
            },
            rebuild_models_every: match file.rebuild_models_every_hours.unwrap_or(24) {
                0 => None,
                hours => Some(std::time::Duration::from_secs(hours * 3600)),
            },
        })
    }
}
