//! Which ledger a command opens: `--ledger` / `FORGE_LEDGER`, else the
//! configuration's `ledger:`, else the default file.

use anyhow::Context as _;

use crate::flags::ConfigArg;
use forge_core::deploy_config::LedgerConfig;
use forge_ledger::{Ledger, LedgerLocation};

use super::LedgerFlags;

/// `--ledger`, else deploy.yaml's `ledger:`, else `FORGE_LEDGER` / the default file.
pub(crate) async fn open_ledger(flags: &LedgerFlags, config: &ConfigArg) -> anyhow::Result<Ledger> {
    let location = match &flags.ledger {
        Some(text) => text.parse::<LedgerLocation>()?,
        // A deploy.yaml that is not there means the default ledger; a flake
        // configuration is always read.
        None => match (config.config.exists() || is_flake(&config.config))
            .then(|| config.load())
            .transpose()?
        {
            Some(c) => match c.ledger {
                Some(l) => configured_ledger(&l, &config.config)?,
                None => LedgerLocation::from_env_or_default()?,
            },
            None => LedgerLocation::from_env_or_default()?,
        },
    };
    Ok(Ledger::open(&location).await?)
}

fn is_flake(config: &std::path::Path) -> bool {
    matches!(
        forge_steps::config_file::ConfigSource::of(config),
        forge_steps::config_file::ConfigSource::Flake { .. }
    )
}

/// deploy.yaml's `ledger:`: a path relative to the file, or a variable
/// holding a `postgres://` URL.
fn configured_ledger(
    ledger: &LedgerConfig,
    file: &std::path::Path,
) -> anyhow::Result<LedgerLocation> {
    match ledger {
        LedgerConfig::Path(p) if std::path::Path::new(p).is_absolute() => {
            Ok(LedgerLocation::Sqlite(p.into()))
        }
        LedgerConfig::Path(p) => {
            let base = forge_steps::config_file::ConfigSource::of(file)
                .base_dir()
                .context("ledger.path: a remote flake's configuration has no directory for a relative path; give an absolute path")?;
            Ok(LedgerLocation::Sqlite(base.join(p)))
        }
        LedgerConfig::UrlEnv(var) => {
            let url = std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .with_context(|| format!("ledger.url_env: {var} is not set"))?;
            Ok(url.parse::<LedgerLocation>()?)
        }
    }
}
