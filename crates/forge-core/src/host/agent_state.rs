//! What the agent keeps in its state file (written atomically after every
//! change): the switch in progress, if any, so a restart can finish or undo
//! it; the pins that failed on this host, so they are not retried; and the
//! last outcome with its reasons, for `forge agent status` and metrics.

use serde::{Deserialize, Serialize};

use super::pin::HostPin;

pub const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentState {
    pub version: u32,
    /// The system last confirmed healthy by the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// Store paths that failed here; retried only once the pin names another path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<FailedPin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<LastOutcome>,
    /// Outcomes not yet in the ledger (it could not be reached, or none is
    /// configured yet); sent, oldest first, when it can be.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreported: Vec<LastOutcome>,
}

/// A switch under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub pin: HostPin,
    pub phase: PendingPhase,
    /// What the profile pointed at before (the generation to go back to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_generation: Option<u64>,
    /// Unix seconds by which the checks must have passed.
    pub deadline: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingPhase {
    /// The profile names the new system; `switch-to-configuration test` has
    /// not finished.
    ProfileSet,
    /// `test` succeeded; the checks are running.
    Activated,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedPin {
    pub store_path: String,
    pub reasons: Vec<String>,
    pub at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Deployed,
    RolledBack,
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Deployed => "deployed",
            Outcome::RolledBack => "rolled_back",
            Outcome::Refused => "refused",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastOutcome {
    pub outcome: Outcome,
    pub store_path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    pub at: String,
}

#[derive(Debug, thiserror::Error)]
#[error("agent state file {file}: {message}")]
pub struct StateError {
    pub file: String,
    pub message: String,
}

impl AgentState {
    pub fn new() -> Self {
        Self {
            version: STATE_VERSION,
            ..Self::default()
        }
    }

    pub fn parse(text: &str, file: &str) -> Result<Self, StateError> {
        let state: AgentState = serde_json::from_str(text).map_err(|e| StateError {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        if state.version != STATE_VERSION {
            return Err(StateError {
                file: file.to_owned(),
                message: format!(
                    "version {} (this agent writes {STATE_VERSION})",
                    state.version
                ),
            });
        }
        Ok(state)
    }

    pub fn render(&self) -> String {
        let mut t = serde_json::to_string_pretty(self).expect("state serialises");
        t.push('\n');
        t
    }

    /// Records `outcome` as the last one, and as one to report.
    pub fn record(&mut self, outcome: LastOutcome) {
        self.unreported.push(outcome.clone());
        let excess = self.unreported.len().saturating_sub(50);
        self.unreported.drain(..excess);
        self.last = Some(outcome);
    }

    pub fn has_failed(&self, store_path: &str) -> bool {
        self.failed.iter().any(|f| f.store_path == store_path)
    }

    /// Records `store_path` as failed here (once), keeping the newest few.
    pub fn mark_failed(&mut self, store_path: &str, reasons: Vec<String>, at: &str) {
        self.failed.retain(|f| f.store_path != store_path);
        self.failed.push(FailedPin {
            store_path: store_path.to_owned(),
            reasons,
            at: at.to_owned(),
        });
        let excess = self.failed.len().saturating_sub(20);
        self.failed.drain(..excess);
    }
}
