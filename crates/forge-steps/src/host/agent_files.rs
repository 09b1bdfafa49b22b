//! The agent's files: its state (written atomically after every change, so a
//! kill or a reboot at any point leaves the old state or the new) and its
//! Prometheus textfile metrics.

use std::path::{Path, PathBuf};

use forge_core::host::AgentState;
use forge_io::atomic_file::{self, FileMode};

#[derive(Debug, thiserror::Error)]
pub enum AgentFileError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    State(#[from] forge_core::host::agent_state::StateError),
}

/// The state file, or a fresh state when there is none yet.
pub fn load_state(path: &Path) -> Result<AgentState, AgentFileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(AgentState::parse(&text, &path.display().to_string())?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AgentState::new()),
        Err(source) => Err(AgentFileError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

pub fn save_state(path: &Path, state: &AgentState) -> Result<(), AgentFileError> {
    let io = |source| AgentFileError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    atomic_file::write(path, state.render().as_bytes(), FileMode::Private).map_err(io)
}

/// node_exporter's textfile collector format.
pub fn render_metrics(host: &str, state: &AgentState, running: Option<&str>, now: i64) -> String {
    let label = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let host = label(host);
    let mut out = String::new();
    out.push_str(
        "# HELP forge_agent_info The system the host runs.\n# TYPE forge_agent_info gauge\n",
    );
    out.push_str(&format!(
        "forge_agent_info{{host=\"{host}\",system=\"{}\"}} 1\n",
        label(running.unwrap_or(""))
    ));
    out.push_str("# HELP forge_agent_pending Whether a switch awaits confirmation.\n# TYPE forge_agent_pending gauge\n");
    out.push_str(&format!(
        "forge_agent_pending{{host=\"{host}\"}} {}\n",
        u8::from(state.pending.is_some())
    ));
    out.push_str("# HELP forge_agent_failed_pins Pins that failed on this host and are not retried.\n# TYPE forge_agent_failed_pins gauge\n");
    out.push_str(&format!(
        "forge_agent_failed_pins{{host=\"{host}\"}} {}\n",
        state.failed.len()
    ));
    if let Some(last) = &state.last {
        out.push_str("# HELP forge_agent_last_outcome The last switch's outcome.\n# TYPE forge_agent_last_outcome gauge\n");
        out.push_str(&format!(
            "forge_agent_last_outcome{{host=\"{host}\",outcome=\"{}\",system=\"{}\"}} 1\n",
            last.outcome.as_str(),
            label(&last.store_path)
        ));
    }
    out.push_str("# HELP forge_agent_last_check_timestamp_seconds When the agent last looked at its pin.\n# TYPE forge_agent_last_check_timestamp_seconds gauge\n");
    out.push_str(&format!(
        "forge_agent_last_check_timestamp_seconds{{host=\"{host}\"}} {now}\n"
    ));
    out
}

pub fn write_metrics(path: &Path, text: &str) -> Result<(), AgentFileError> {
    atomic_file::write(path, text.as_bytes(), FileMode::Shared).map_err(|source| {
        AgentFileError::Io {
            path: path.to_owned(),
            source,
        }
    })
}

/// RFC 3339 UTC, to the second.
pub fn now_text() -> String {
    use k8s_openapi::chrono::{SecondsFormat, Utc};
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_say_pending_failed_and_last_outcome() {
        let mut s = AgentState::new();
        s.mark_failed("/nix/store/x", vec!["bad".into()], "t");
        s.last = Some(forge_core::host::agent_state::LastOutcome {
            outcome: forge_core::host::Outcome::RolledBack,
            store_path: "/nix/store/x".into(),
            reasons: vec![],
            at: "t".into(),
        });
        let m = render_metrics("web1", &s, Some("/nix/store/a"), 5);
        assert!(m.contains("forge_agent_pending{host=\"web1\"} 0\n"), "{m}");
        assert!(
            m.contains("forge_agent_failed_pins{host=\"web1\"} 1\n"),
            "{m}"
        );
        assert!(m.contains("outcome=\"rolled_back\""), "{m}");
        assert!(m.contains("system=\"/nix/store/a\"} 1"), "{m}");
    }

    #[test]
    fn state_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        assert_eq!(load_state(&path).unwrap(), AgentState::new());
        let mut s = AgentState::new();
        s.confirmed = Some("/nix/store/a".into());
        save_state(&path, &s).unwrap();
        assert_eq!(load_state(&path).unwrap(), s);
        std::fs::write(&path, "{").unwrap();
        assert!(load_state(&path)
            .unwrap_err()
            .to_string()
            .contains("state.json"));
    }
}
