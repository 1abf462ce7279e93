//! The shop's configuration file (TOML) turned into validated core model types.
//!
//! [`check`] parses a config file's text into an [`EmbudoConfig`]: the phase model, the target
//! audiences (CEL conditions, compiled), the page rules, the survey questions and the
//! cross-sell settings. Every error names the file, the line and the problem. The built-in defaults are [`EmbudoConfig::default`], and
//! [`EXAMPLE`] (`config/embudo.example.toml`, printed by `embudo config default`) parses to
//! exactly them. This crate reads no files itself: the caller passes the text in.

mod audience;
mod error;
mod phases;
mod questions;
mod raw;
mod recommend;

use embudo_core::page::PageRules;
use embudo_core::phase::PhaseModel;

pub use audience::{Audience, AudienceError, AudienceInput, Audiences, Fit};
pub use error::ConfigError;
pub use questions::QuestionsConfig;
pub use recommend::{MAX_RESULTS, RecommendRule, RecommendSettings};

/// The example configuration, which is exactly the built-in defaults.
pub const EXAMPLE: &str = include_str!("../../../config/embudo.example.toml");

/// A validated configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmbudoConfig {
    /// The phase engine's weights, half-lives and thresholds (including the stage).
    pub phases: PhaseModel,
    /// The shop's target audiences (stage identify).
    pub audiences: Audiences,
    /// How page paths map to page categories.
    pub pages: PageRules,
    /// The survey questions and when to ask them.
    pub questions: QuestionsConfig,
    /// Cross-sell: results, inactive products, consumables, category rules.
    pub recommend: RecommendSettings,
}

/// Parses and validates a configuration. `file` names the file in error messages. Sections
/// and keys left out keep their defaults; unknown keys are errors (a typo must not pass).
/// The `[server]` section belongs to the binary, which validates it from the same text: it is
/// skipped here, so one file holds both.
pub fn check(file: &str, text: &str) -> Result<EmbudoConfig, ConfigError> {
    let raw: raw::RawConfig = toml::from_str(text).map_err(|error| {
        let span = error.span().unwrap_or(0..0);
        ConfigError::at(
            file,
            text,
            span.start,
            error.message().trim_end_matches('.'),
        )
    })?;
    let at = |span: std::ops::Range<usize>, message: String| {
        ConfigError::at(file, text, span.start, &message)
    };
    let phases = phases::phase_model(raw.phases.unwrap_or_default(), &at)?;
    let audiences = match raw.audiences {
        Some(list) => audience::audiences(list, &at)?,
        None => Audiences::default(),
    };
    let pages = phases::page_rules(raw.pages.unwrap_or_default(), &at)?;
    let questions = match raw.questions {
        Some(raw) => questions::questions(raw, &at)?,
        None => QuestionsConfig::default(),
    };
    let recommend = recommend::recommend_settings(raw.recommend.unwrap_or_default(), &at)?;
    Ok(EmbudoConfig {
        phases,
        audiences,
        pages,
        questions,
        recommend,
    })
}

#[cfg(test)]
mod tests;
