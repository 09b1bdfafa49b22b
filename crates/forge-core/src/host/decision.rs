//! The agent's rules: one pure function from what it sees (the pin at the
//! branch tip, the running system, its state file, the time) to one action.
//! A switch in progress always comes first: it is finished or undone before
//! any new pin is looked at.

use super::agent_state::{AgentState, PendingPhase};
use super::pin::HostPin;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do (no pin yet, already running it, or it failed here before).
    Idle(String),
    /// The pin cannot be taken (another host's, malformed): reported, the system untouched.
    Refuse(String),
    /// Take the pin: substitute, set the profile, `test`, check, confirm.
    Switch(HostPin),
    /// `test` went through before a restart: run the checks until the deadline.
    ResumeConfirm,
    /// Undo the switch in progress.
    RollBack(String),
}

/// `pin`: the pin read at the tip (`Ok(None)` when the host has none, `Err`
/// when it cannot be read as one). `running`: the system the host runs now
/// (`/run/current-system`).
pub fn decide(
    host: &str,
    pin: Result<Option<&HostPin>, &str>,
    running: Option<&str>,
    state: &AgentState,
    now: i64,
) -> Decision {
    if let Some(p) = &state.pending {
        let target = p.pin.store_path.as_str();
        return match p.phase {
            PendingPhase::ProfileSet => Decision::RollBack(format!(
                "the switch to {target} was interrupted before `switch-to-configuration test` finished"
            )),
            PendingPhase::Activated if running != Some(target) => Decision::RollBack(format!(
                "the host restarted before {target} was confirmed (it runs {})",
                running.unwrap_or("an unknown system")
            )),
            PendingPhase::Activated if now >= p.deadline => Decision::RollBack(format!(
                "{target} was not confirmed healthy within its confirm timeout"
            )),
            PendingPhase::Activated => Decision::ResumeConfirm,
        };
    }
    let pin = match pin {
        Err(e) => return Decision::Refuse(e.to_owned()),
        Ok(None) => return Decision::Idle("no pin for this host yet".into()),
        Ok(Some(p)) => p,
    };
    if pin.host != host {
        return Decision::Refuse(format!("the pin is for host `{}`, not `{host}`", pin.host));
    }
    if state.has_failed(&pin.store_path) {
        return Decision::Idle(format!(
            "{} failed on this host before; waiting for a new pin",
            pin.store_path
        ));
    }
    if running == Some(pin.store_path.as_str()) {
        return Decision::Idle(format!("already running {}", pin.store_path));
    }
    Decision::Switch(pin.clone())
}

#[cfg(test)]
mod tests {
    use super::super::agent_state::Pending;
    use super::*;

    const A: &str = "/nix/store/0a6qmbd8k0q6wvqh2kg1xvhxg1ll3w6d-system-a";
    const B: &str = "/nix/store/1b6qmbd8k0q6wvqh2kg1xvhxg1ll3w6d-system-b";

    fn pin(host: &str, path: &str) -> HostPin {
        HostPin {
            version: 1,
            host: host.into(),
            environment: "prod".into(),
            store_path: path.into(),
            release: None,
            pinned_at: "t".into(),
            pinned_by: "ci".into(),
            confirm_timeout_seconds: 60,
            checks: vec![],
        }
    }

    fn pending(phase: PendingPhase) -> AgentState {
        let mut s = AgentState::new();
        s.pending = Some(Pending {
            pin: pin("web1", B),
            phase,
            previous_path: Some(A.into()),
            previous_generation: Some(1),
            deadline: 100,
        });
        s
    }

    #[test]
    fn a_new_pin_is_taken_and_the_running_one_is_not() {
        let s = AgentState::new();
        let p = pin("web1", B);
        assert_eq!(
            decide("web1", Ok(Some(&p)), Some(A), &s, 0),
            Decision::Switch(p.clone())
        );
        assert!(matches!(
            decide("web1", Ok(Some(&p)), Some(B), &s, 0),
            Decision::Idle(_)
        ));
        assert!(matches!(
            decide("web1", Ok(None), Some(A), &s, 0),
            Decision::Idle(_)
        ));
    }

    #[test]
    fn a_failed_pin_is_not_retried_until_the_pin_changes() {
        let mut s = AgentState::new();
        s.mark_failed(B, vec!["unit x failed".into()], "t");
        let p = pin("web1", B);
        assert!(
            matches!(decide("web1", Ok(Some(&p)), Some(A), &s, 0), Decision::Idle(m) if m.contains("failed on this host"))
        );
        let c = pin(
            "web1",
            "/nix/store/2c6qmbd8k0q6wvqh2kg1xvhxg1ll3w6d-system-c",
        );
        assert_eq!(
            decide("web1", Ok(Some(&c)), Some(A), &s, 0),
            Decision::Switch(c.clone())
        );
    }

    #[test]
    fn another_hosts_pin_and_unreadable_pins_are_refused() {
        let s = AgentState::new();
        let p = pin("web2", B);
        assert!(
            matches!(decide("web1", Ok(Some(&p)), Some(A), &s, 0), Decision::Refuse(m) if m.contains("web2"))
        );
        assert!(matches!(
            decide("web1", Err("bad json"), Some(A), &s, 0),
            Decision::Refuse(_)
        ));
    }

    #[test]
    fn a_switch_in_progress_is_finished_or_undone_first() {
        let p = pin(
            "web1",
            "/nix/store/2c6qmbd8k0q6wvqh2kg1xvhxg1ll3w6d-system-c",
        );
        let s = pending(PendingPhase::ProfileSet);
        assert!(matches!(
            decide("web1", Ok(Some(&p)), Some(B), &s, 0),
            Decision::RollBack(_)
        ));
        let s = pending(PendingPhase::Activated);
        assert_eq!(
            decide("web1", Ok(Some(&p)), Some(B), &s, 50),
            Decision::ResumeConfirm
        );
        assert!(
            matches!(decide("web1", Ok(Some(&p)), Some(B), &s, 100), Decision::RollBack(m) if m.contains("timeout"))
        );
        // Rebooted: the boot loader still starts the previous system.
        assert!(
            matches!(decide("web1", Ok(Some(&p)), Some(A), &s, 50), Decision::RollBack(m) if m.contains("restarted"))
        );
    }
}
