//! The drift classes a target (or host) can be in, ordered by severity.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Drift {
    InSync,
    GitAhead,
    ClusterDrift,
    LedgerStale,
    Failed,
    Unknown,
}

impl Drift {
    pub const ALL: [Drift; 6] = [
        Drift::InSync,
        Drift::GitAhead,
        Drift::ClusterDrift,
        Drift::LedgerStale,
        Drift::Failed,
        Drift::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Drift::InSync => "in-sync",
            Drift::GitAhead => "git-ahead",
            Drift::ClusterDrift => "cluster-drift",
            Drift::LedgerStale => "ledger-stale",
            Drift::Failed => "failed",
            Drift::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == text)
            .ok_or_else(|| format!("unknown drift class `{text}`"))
    }

    /// What the class means, in one line (for legends and docs).
    pub fn meaning(self) -> &'static str {
        match self {
            Drift::InSync => "the ledger, git and the cluster agree",
            Drift::GitAhead => "committed, Flux has not applied it yet",
            Drift::ClusterDrift => "the running digest differs from git",
            Drift::LedgerStale => "git changed outside Forge",
            Drift::Failed => "the last run, the rollout or Flux failed",
            Drift::Unknown => "git or the cluster could not be read",
        }
    }

    /// Ordering for "the worst of": in sync < drift < failed < unknown.
    pub fn severity(self) -> u8 {
        match self {
            Drift::InSync => 0,
            Drift::GitAhead => 1,
            Drift::ClusterDrift => 2,
            Drift::LedgerStale => 3,
            Drift::Failed => 4,
            Drift::Unknown => 5,
        }
    }
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
