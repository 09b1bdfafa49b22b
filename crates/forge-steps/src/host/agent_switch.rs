//! One switch on the host, each step written to the state file before it
//! starts so a restart knows where it stopped: substitute the pinned closure
//! (signed by a trusted key, never built), point the system profile at it,
//! `switch-to-configuration test`, then the checks until the confirm
//! timeout. Healthy: `switch-to-configuration boot`. Otherwise the profile
//! goes back to the previous generation, that system is switched to, and the
//! pin is recorded as failed here.

use std::time::Duration;

use forge_adapters::signed_substitution::SubstitutionError;
use forge_core::deploy_config::{Check, Probe};
use forge_core::host::agent_state::{LastOutcome, Outcome, Pending, PendingPhase};
use forge_core::host::{AgentState, HealthVerdict, HostPin, UnitList};

use super::agent::Agent;
use super::agent_files::{now_text, now_unix, save_state};
use crate::release::verify::{run_checks, CheckEnv};

/// Between two health evaluations while the confirm timeout runs.
const RECHECK: Duration = Duration::from_secs(2);

pub async fn switch(agent: &Agent, state: &mut AgentState, pin: HostPin) -> anyhow::Result<()> {
    let file = agent.state_file();
    let path = pin.store_path.clone();
    if let Err(e) = agent.substitution.fetch(&path).await {
        let permanent = matches!(
            e,
            SubstitutionError::Untrusted { .. } | SubstitutionError::NoTrustedKeys
        );
        tracing::warn!(%path, "refused: {e}");
        state.record(LastOutcome {
            outcome: Outcome::Refused,
            store_path: path.clone(),
            reasons: vec![e.to_string()],
            at: now_text(),
        });
        // An unreachable cache is tried again next time; an untrusted path is not.
        if permanent {
            state.mark_failed(&path, vec![e.to_string()], &now_text());
        }
        save_state(&file, state)?;
        return Ok(());
    }
    let previous = agent.system.generation()?;
    state.pending = Some(Pending {
        deadline: now_unix() + pin.confirm_timeout_seconds as i64,
        pin,
        phase: PendingPhase::ProfileSet,
        previous_path: previous.as_ref().map(|g| g.path.clone()),
        previous_generation: previous.map(|g| g.number),
    });
    save_state(&file, state)?;
    if let Err(e) = agent.system.set_profile(&path).await {
        return roll_back(
            agent,
            state,
            vec![format!("setting the system profile: {e}")],
        )
        .await;
    }
    if let Err(e) = agent.system.switch(&path, "test").await {
        return roll_back(agent, state, vec![e.to_string()]).await;
    }
    if let Some(p) = &mut state.pending {
        p.phase = PendingPhase::Activated;
        // The checks get the whole timeout from activation on.
        p.deadline = now_unix() + p.pin.confirm_timeout_seconds as i64;
    }
    save_state(&file, state)?;
    confirm(agent, state).await
}

/// Runs the checks until they pass or the deadline; then `boot` or back.
pub async fn confirm(agent: &Agent, state: &mut AgentState) -> anyhow::Result<()> {
    let Some(pending) = state.pending.clone() else {
        return Ok(());
    };
    let path = pending.pin.store_path.clone();
    let deadline = pending.deadline;
    let mut last = HealthVerdict::judge(&[], &[]);
    loop {
        let left = deadline - now_unix();
        if left <= 0 {
            break;
        }
        let left = Duration::from_secs(left as u64);
        last = match tokio::time::timeout(left, health(agent, &pending.pin)).await {
            Ok(v) => v,
            Err(_) => HealthVerdict {
                healthy: false,
                reasons: last
                    .reasons
                    .iter()
                    .cloned()
                    .chain([format!(
                        "the checks did not finish within the confirm timeout ({} s)",
                        pending.pin.confirm_timeout_seconds
                    )])
                    .collect(),
            },
        };
        if last.healthy {
            break;
        }
        tracing::info!(%path, "not healthy yet: {}", last.reasons.join("; "));
        tokio::time::sleep(RECHECK.min(left)).await;
    }
    if !last.healthy {
        let mut reasons = last.reasons;
        reasons.push(format!(
            "not healthy within the confirm timeout ({} s)",
            pending.pin.confirm_timeout_seconds
        ));
        return roll_back(agent, state, reasons).await;
    }
    if let Err(e) = agent.system.switch(&path, "boot").await {
        return roll_back(agent, state, vec![e.to_string()]).await;
    }
    state.pending = None;
    state.confirmed = Some(path.clone());
    state.record(LastOutcome {
        outcome: Outcome::Deployed,
        store_path: path.clone(),
        reasons: vec![],
        at: now_text(),
    });
    save_state(&agent.state_file(), state)?;
    tracing::info!(%path, "deployed: healthy and confirmed (switch-to-configuration boot)");
    Ok(())
}

/// Back to the generation before the pending switch, and the pin marked
/// failed here with `reasons`.
pub async fn roll_back(
    agent: &Agent,
    state: &mut AgentState,
    mut reasons: Vec<String>,
) -> anyhow::Result<()> {
    let Some(pending) = state.pending.clone() else {
        return Ok(());
    };
    let path = pending.pin.store_path.clone();
    tracing::warn!(%path, "rolling back: {}", reasons.join("; "));
    match (pending.previous_generation, &pending.previous_path) {
        (Some(n), Some(previous)) => {
            if let Err(e) = agent.system.switch_generation(n).await {
                reasons.push(format!(
                    "rollback: switching the profile back to generation {n}: {e}"
                ));
            }
            if let Err(e) = agent.system.switch(previous, "switch").await {
                reasons.push(format!("rollback: {e}"));
            }
        }
        _ => reasons
            .push("no previous generation to go back to: the system was left as it is".into()),
    }
    state.pending = None;
    state.mark_failed(&path, reasons.clone(), &now_text());
    state.record(LastOutcome {
        outcome: Outcome::RolledBack,
        store_path: path,
        reasons,
        at: now_text(),
    });
    save_state(&agent.state_file(), state)?;
    Ok(())
}

/// Failed units beyond the allow-list, the host's checks, the pin's checks
/// (commands only when allowed), and the reach-back to the GitOps remote.
async fn health(agent: &Agent, pin: &HostPin) -> HealthVerdict {
    let cfg = &agent.config;
    let mut failures = Vec::new();
    let units = match agent.system.failed_units().await {
        Ok(out) => UnitList::parse(&out).beyond(&cfg.allow_failed_units),
        Err(e) => {
            failures.push(format!("listing failed units: {e}"));
            vec![]
        }
    };
    let from_pin = pin
        .checks
        .iter()
        .filter(|c| cfg.pin_commands || matches!(c.probe, Probe::Http { .. }));
    let checks: Vec<Check> = cfg.checks.iter().chain(from_pin).cloned().collect();
    let env = CheckEnv {
        service: cfg.host.clone(),
        environment: cfg.environment.clone(),
        image: pin.store_path.clone(),
        release: pin.release.clone(),
    };
    let (results, _) = run_checks(&checks, &env).await;
    for r in results.iter().filter(|r| !r.passed) {
        let why = r.attempts.last().map_or("", |a| a.detail.as_str());
        failures.push(format!("check {} failed: {why}", r.name));
    }
    // Last, and only when all else passed: a fetch is the slowest check.
    if cfg.reach_back && failures.is_empty() && units.is_empty() {
        let remote = agent.remote.clone();
        let file = agent.pin_file();
        let reached = tokio::task::spawn_blocking(move || remote.read_file_if_present(&file)).await;
        match reached {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => failures.push(format!("reach-back: cannot fetch the GitOps remote: {e}")),
            Err(e) => failures.push(format!("reach-back: {e}")),
        }
    }
    HealthVerdict::judge(&units, &failures)
}
