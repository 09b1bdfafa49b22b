//! `services.<service>.migrations`: one mapping or a list, each named
//! uniquely, with a non-empty command.

use super::parse::{error_at, ConfigError};
use super::resolved::Migration;
use super::types::{Duration, MigrationSpec, OneOrMany};

/// `services.<service>.migrations`: named uniquely, each a non-empty command.
pub(super) fn resolve_migrations(
    specs: Option<OneOrMany<MigrationSpec>>,
    service: &str,
    text: &str,
    file: &str,
) -> Result<Vec<Migration>, ConfigError> {
    let specs = specs.map(|m| m.0).unwrap_or_default();
    let several = specs.len() > 1;
    let mut out: Vec<Migration> = Vec::new();
    for (i, spec) in specs.into_iter().enumerate() {
        let index = i.to_string();
        let mut path = vec!["services", service, "migrations"];
        if several {
            path.push(index.as_str());
        }
        let at = |message: String| error_at(text, file, &path, message, None);
        let name = match spec.name {
            Some(k) => k.0,
            None if several => format!("migrate-{}", i + 1),
            None => "migrate".to_owned(),
        };
        if out.iter().any(|m| m.name == name) {
            return Err(at(format!("two migrations are named `{name}`")));
        }
        if spec.command.0.is_empty() {
            return Err(at(
                "command: give the migration's command, e.g. [app, migrate]".into(),
            ));
        }
        let env_from = spec.env_from;
        out.push(Migration {
            name,
            command: spec.command.0,
            phase: spec.phase.unwrap_or_default(),
            timeout: spec.timeout.unwrap_or(Duration(600)),
            env_from_secret: env_from.as_ref().and_then(|e| e.secret.clone()),
            env_from_config_map: env_from.and_then(|e| e.config_map),
        });
    }
    Ok(out)
}
