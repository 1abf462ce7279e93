//! Configuration errors: the file, the line, the column and the problem.

/// A configuration error, e.g. `embudo.toml:42:1: phases.signals.cart.half_life_days must be
/// positive, got -3`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ConfigError {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

impl ConfigError {
    /// An error at byte `offset` of `text`.
    pub(crate) fn at(file: &str, text: &str, offset: usize, message: &str) -> ConfigError {
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |at| at + 1);
        let column = before
            .get(line_start..)
            .map_or(0, |rest| rest.chars().count())
            + 1;
        ConfigError {
            file: file.to_owned(),
            line,
            column,
            message: lowercase_first(message),
        }
    }
}

fn lowercase_first(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
