//! The agent's outcomes in the release ledger, when it can reach it: one
//! audit event each (`host.deployed`, `host.rolled_back`, `host.refused`
//! on `host/<env>/<host>`), so the fleet's switches sit in the same
//! hash-chained history as every deploy. Outcomes wait in the state file
//! until the ledger takes them.

use std::path::{Path, PathBuf};

use forge_core::host::AgentState;
use forge_ledger::location::LedgerLocation;
use forge_ledger::Ledger;

use super::agent::AgentConfig;

/// Where the ledger is: an SQLite path, or a file holding a `postgres://`
/// URL (relative: in `$CREDENTIALS_DIRECTORY`).
pub fn ledger_location(config: &AgentConfig) -> anyhow::Result<Option<LedgerLocation>> {
    if let Some(path) = &config.ledger_path {
        return Ok(Some(LedgerLocation::Sqlite(path.clone())));
    }
    let Some(file) = &config.ledger_url_file else {
        return Ok(None);
    };
    let file = credential_path(file);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| anyhow::anyhow!("the ledger URL file {}: {e}", file.display()))?;
    Ok(Some(text.trim().parse()?))
}

/// A credential file: relative paths are systemd's `LoadCredential` names.
pub fn credential_path(p: &Path) -> PathBuf {
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) if p.is_relative() => Path::new(&dir).join(p),
        _ => p.to_owned(),
    }
}

/// Sends the unreported outcomes, oldest first; `true` when any went out.
/// A ledger that cannot be reached is logged and tried again next pass.
pub async fn report(config: &AgentConfig, state: &mut AgentState) -> bool {
    if state.unreported.is_empty() {
        return false;
    }
    let location = match ledger_location(config) {
        Ok(Some(l)) => l,
        Ok(None) => {
            // No ledger configured: nothing will ever take them.
            state.unreported.clear();
            return true;
        }
        Err(e) => {
            tracing::warn!("ledger: {e:#}");
            return false;
        }
    };
    let ledger = match Ledger::open(&location).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("ledger unreachable, outcomes kept for later: {e}");
            return false;
        }
    };
    let actor = format!("forge-agent@{}", config.host);
    let subject = format!("host/{}/{}", config.environment, config.host);
    let mut sent = 0;
    for o in &state.unreported {
        let after = serde_json::json!({
            "system": o.store_path,
            "reasons": o.reasons,
            "at": o.at,
        });
        let action = format!("host.{}", o.outcome.as_str());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        match ledger
            .append_audit(
                &actor,
                &action,
                &subject,
                serde_json::Value::Null,
                after,
                now,
            )
            .await
        {
            Ok(_) => sent += 1,
            Err(e) => {
                tracing::warn!("ledger: recording {action}: {e}");
                break;
            }
        }
    }
    ledger.close().await;
    state.unreported.drain(..sent);
    sent > 0
}
