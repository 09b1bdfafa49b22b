//! Reading `deploy.yaml`: YAML errors with file, line, column and a "did you
//! mean" for unknown keys and words; errors found after reading (two secrets
//! for one thing, a missing repository) are placed on the key they concern.
//! Input past [`YamlLimits::CONFIG`] is refused before parsing.

use crate::yaml_error::{locate_error, Seg};
use crate::yaml_limits::{split_bom, InputError, YamlLimits};

/// A `deploy.yaml` that cannot be used, with where and, when there is a
/// close match, what was probably meant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}{}", help(.suggestion))]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub suggestion: Option<String>,
}

fn help(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("\n  help: did you mean `{s}`?"),
        None => String::new(),
    }
}

/// `text` without its byte order mark, once it is known to be within the
/// limits (so that parsing it cannot explode).
pub(super) fn checked_text<'t>(text: &'t str, file: &str) -> Result<&'t str, ConfigError> {
    let (_, text) = split_bom(text);
    YamlLimits::CONFIG
        .check(text)
        .map_err(|e| input_error(&e, file))?;
    Ok(text)
}

/// Too large has no place in the file: it is reported at its start.
pub(super) fn input_error(e: &InputError, file: &str) -> ConfigError {
    let (line, column) = e.location().unwrap_or((1, 1));
    ConfigError {
        file: file.to_owned(),
        line,
        column,
        message: e.to_string(),
        suggestion: None,
    }
}

/// Deserializes `text` (read from `file`, which only names it in errors).
pub(super) fn from_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &str,
) -> Result<T, ConfigError> {
    // An empty file (or only comments) is an empty mapping, not an error.
    let doc = if text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---"
    }) {
        "{}"
    } else {
        text
    };
    serde_yaml_ng::from_str(doc).map_err(|e| syntax_error(&e, file))
}

fn syntax_error(e: &serde_yaml_ng::Error, file: &str) -> ConfigError {
    let l = locate_error(e);
    ConfigError {
        file: file.to_owned(),
        line: l.line,
        column: l.column,
        message: secret_hint(l.message),
        suggestion: l.suggestion,
    }
}

/// Inline secrets are refused by having no key for them; say why.
fn secret_hint(message: String) -> String {
    const SECRETS: [&str; 5] = ["token", "password", "signing_key", "ssh_key", "secret"];
    let inline = SECRETS
        .iter()
        .any(|s| message.contains(&format!("unknown field `{s}`")));
    if inline {
        format!("{message} (secrets are never written inline: name an environment variable with *_env or a file with *_file)")
    } else {
        message
    }
}

/// deploy.yaml's scalars: numbers are taken as their decimal text.
pub(crate) fn map_str<'de, D, T>(
    d: D,
    expecting: &'static str,
    f: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    crate::yaml_scalar::map_str(d, expecting, crate::yaml_scalar::Numbers::AsText, f)
}

pub(crate) use crate::yaml_error::closest;

/// Line and column (1-based) of the key at `path` in block-style YAML, or of
/// the deepest ancestor found (the file's start when none is).
pub(crate) fn locate(text: &str, path: &[&str]) -> (usize, usize) {
    // deploy.yaml's keys are names (they start with a letter): a number is
    // a sequence index.
    let path: Vec<Seg> = path
        .iter()
        .map(|k| {
            k.parse::<usize>()
                .map_or_else(|_| Seg::from(*k), Seg::Index)
        })
        .collect();
    crate::yaml_error::locate(text, &path)
}

/// An error about the key at `path`.
pub(crate) fn error_at(
    text: &str,
    file: &str,
    path: &[&str],
    message: String,
    suggestion: Option<String>,
) -> ConfigError {
    let (line, column) = locate(text, path);
    ConfigError {
        file: file.to_owned(),
        line,
        column,
        message,
        suggestion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_nested_keys_and_falls_back_to_ancestors() {
        let text = "# c\nflake: .\nservices:\n  web: {}\n  app:\n    # x\n    image:\n      tags: [a]\nenvironments:\n  app: {}\n";
        assert_eq!(locate(text, &["services", "app", "image"]), (7, 5));
        assert_eq!(locate(text, &["services", "app", "workload"]), (5, 3));
        assert_eq!(locate(text, &["environments", "app"]), (10, 3));
        assert_eq!(locate(text, &["nothing"]), (1, 1));
    }
}
