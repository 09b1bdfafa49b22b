//! Promotion gates: whether a release may enter an environment now, from
//! what the ledger knows (when the upstream environment became healthy, who
//! approved or rejected) and the clock the caller reads. A soak is a
//! timestamp compared with now, never a sleep, so it survives a crash.

use std::collections::BTreeSet;

use crate::deploy_config::Gate;

/// What the ledger holds that a gate decides on.
#[derive(Debug, Clone, Default)]
pub struct GateFacts<'a> {
    /// The environment before this one.
    pub upstream: &'a str,
    /// Unix millis when the release finished in the upstream environment
    /// (its last step there), if it did.
    pub healthy_since: Option<i64>,
    /// Identities that approved the release for this environment.
    pub approvers: BTreeSet<String>,
    /// Who rejected it, and why, if anyone did.
    pub rejected: Option<(String, String)>,
    /// Set when a release rollback paused promotion into this environment:
    /// who rolled back.
    pub paused_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateVerdict {
    Open,
    /// Not yet; one line per unmet condition, for `release show`.
    Waiting(Vec<String>),
    Rejected(String),
}

/// The gate's verdict at `now` (unix millis).
pub fn decide(gate: &Gate, env: &str, facts: &GateFacts<'_>, now: i64) -> GateVerdict {
    if let Some((who, why)) = &facts.rejected {
        let why = if why.is_empty() {
            String::new()
        } else {
            format!(": {why}")
        };
        return GateVerdict::Rejected(format!("rejected for {env} by {who}{why}"));
    }
    let mut waiting = Vec::new();
    if let Some(who) = &facts.paused_by {
        waiting.push(format!(
            "paused: promotion into {env} stopped after a rollback by {who} (forge release unpause {env})"
        ));
    }
    if gate.soak > 0 {
        match facts.healthy_since {
            None => waiting.push(format!("soak: not yet healthy in {}", facts.upstream)),
            Some(since) => {
                let left_ms = since + gate.soak as i64 * 1000 - now;
                if left_ms > 0 {
                    waiting.push(format!(
                        "soak: {} left in {}",
                        human_duration(left_ms),
                        facts.upstream
                    ));
                }
            }
        }
    }
    if let Some(w) = &gate.window {
        if let Err(why) = super::window::check(w, now) {
            waiting.push(why);
        }
    }
    let have = facts.approvers.len() as u32;
    if have < gate.approvals {
        waiting.push(format!(
            "waiting: {have} of {} approvals for {env}",
            gate.approvals
        ));
    }
    if waiting.is_empty() {
        GateVerdict::Open
    } else {
        GateVerdict::Waiting(waiting)
    }
}

/// `14 min`, `45 s`, `2 h 5 min`: rounded up, so "0 s left" never shows.
fn human_duration(ms: i64) -> String {
    let s = (ms.max(0) as u64).div_ceil(1000);
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s.div_ceil(60)),
        _ => format!("{} h {} min", s / 3600, (s % 3600).div_ceil(60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(soak: u64, approvals: u32) -> Gate {
        Gate {
            soak,
            approvals,
            window: None,
            verify: vec![],
        }
    }

    fn facts(since: Option<i64>, approvers: &[&str]) -> GateFacts<'static> {
        GateFacts {
            upstream: "staging",
            healthy_since: since,
            approvers: approvers.iter().map(|a| a.to_string()).collect(),
            rejected: None,
            paused_by: None,
        }
    }

    #[test]
    fn an_empty_gate_is_open() {
        assert_eq!(
            decide(&gate(0, 0), "production", &facts(None, &[]), 0),
            GateVerdict::Open
        );
    }

    #[test]
    fn a_soak_counts_from_when_upstream_became_healthy() {
        let g = gate(600, 0);
        assert_eq!(
            decide(&g, "production", &facts(None, &[]), 0),
            GateVerdict::Waiting(vec!["soak: not yet healthy in staging".into()])
        );
        assert_eq!(
            decide(&g, "production", &facts(Some(0), &[]), 160_000),
            GateVerdict::Waiting(vec!["soak: 8 min left in staging".into()])
        );
        assert_eq!(
            decide(&g, "production", &facts(Some(0), &[]), 600_000),
            GateVerdict::Open
        );
    }

    #[test]
    fn approvals_count_distinct_identities_and_a_rejection_wins() {
        let g = gate(0, 2);
        assert_eq!(
            decide(&g, "production", &facts(None, &["alice"]), 0),
            GateVerdict::Waiting(vec!["waiting: 1 of 2 approvals for production".into()])
        );
        assert_eq!(
            decide(&g, "production", &facts(None, &["alice", "bob"]), 0),
            GateVerdict::Open
        );
        let mut f = facts(None, &["alice", "bob"]);
        f.rejected = Some(("carol".into(), "bad timing".into()));
        assert_eq!(
            decide(&g, "production", &f, 0),
            GateVerdict::Rejected("rejected for production by carol: bad timing".into())
        );
    }

    #[test]
    fn a_paused_environment_waits_even_with_an_open_gate() {
        let mut f = facts(Some(0), &["alice"]);
        f.paused_by = Some("dana".into());
        assert_eq!(
            decide(&gate(0, 0), "production", &f, 0),
            GateVerdict::Waiting(vec![
                "paused: promotion into production stopped after a rollback by dana (forge release unpause production)".into()
            ])
        );
    }

    #[test]
    fn durations_round_up() {
        assert_eq!(human_duration(1), "1 s");
        assert_eq!(human_duration(60_001), "2 min");
        assert_eq!(human_duration(3_600_000 + 1), "1 h 1 min");
    }
}
