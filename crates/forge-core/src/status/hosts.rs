//! NixOS hosts in the status report: the host's pin at the GitOps tip next
//! to what its agent last reported to the ledger, and the drift between them.

use serde::Serialize;

use super::class::Drift;

/// The pin at the GitOps tip (`hosts/<env>/<host>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPinView {
    pub store_path: String,
    pub pinned_by: String,
    pub pinned_at: String,
    /// The commit that last changed the pin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// The agent's latest outcome in the ledger (`host.deployed`,
/// `host.rolled_back`, `host.refused`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentView {
    /// `deployed`, `rolled_back` or `refused`.
    pub outcome: String,
    pub system: String,
    /// Unix millis the ledger recorded it.
    pub at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    pub host: String,
    pub environment: String,
    pub drift: Drift,
    pub explanation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<HostPinView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentView>,
}

/// The host's drift: in sync once its agent confirmed the pinned system;
/// `git-ahead` while the agent has not switched to it (or not reported);
/// `failed` when the agent rolled the pinned system back or refused it;
/// `unknown` when there is no pin or git could not be read.
pub fn classify_host(
    pin: Result<Option<&HostPinView>, &str>,
    agent: Option<&AgentView>,
) -> (Drift, String) {
    let pin = match pin {
        Err(e) => return (Drift::Unknown, format!("the pin could not be read: {e}")),
        Ok(None) => {
            return (
                Drift::Unknown,
                "no pin for this host at the GitOps tip".into(),
            )
        }
        Ok(Some(p)) => p,
    };
    match agent {
        None => (
            Drift::GitAhead,
            format!("pinned {}; its agent has not reported yet", pin.store_path),
        ),
        Some(a) if a.system == pin.store_path && a.outcome == "deployed" => (
            Drift::InSync,
            "the agent switched to the pinned system and confirmed it".into(),
        ),
        Some(a) if a.system == pin.store_path => (
            Drift::Failed,
            format!(
                "the agent {} the pinned system {}",
                a.outcome.replace('_', " "),
                a.system
            ),
        ),
        Some(a) => (
            Drift::GitAhead,
            format!(
                "pinned {}; the agent last reported {} of {}",
                pin.store_path,
                a.outcome.replace('_', " "),
                a.system
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(path: &str) -> HostPinView {
        HostPinView {
            store_path: path.into(),
            pinned_by: "ci".into(),
            pinned_at: "2026-12-01T10:00:00Z".into(),
            commit: None,
        }
    }

    fn agent(outcome: &str, system: &str) -> AgentView {
        AgentView {
            outcome: outcome.into(),
            system: system.into(),
            at: 0,
        }
    }

    #[test]
    fn every_class_a_host_can_be_in() {
        let p = pin("/nix/store/a-system");
        assert_eq!(classify_host(Ok(Some(&p)), None).0, Drift::GitAhead);
        assert_eq!(
            classify_host(
                Ok(Some(&p)),
                Some(&agent("deployed", "/nix/store/a-system"))
            )
            .0,
            Drift::InSync
        );
        let (d, why) = classify_host(
            Ok(Some(&p)),
            Some(&agent("rolled_back", "/nix/store/a-system")),
        );
        assert_eq!(
            (d, why.as_str()),
            (
                Drift::Failed,
                "the agent rolled back the pinned system /nix/store/a-system"
            )
        );
        assert_eq!(
            classify_host(
                Ok(Some(&p)),
                Some(&agent("deployed", "/nix/store/b-system"))
            )
            .0,
            Drift::GitAhead
        );
        assert_eq!(classify_host(Ok(None), None).0, Drift::Unknown);
        assert_eq!(classify_host(Err("timed out"), None).0, Drift::Unknown);
    }
}
