//! `forge agent`: the pull side of a NixOS host's deploys (run by
//! `services.forge.agent`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use forge_core::exit_status::ExitStatus;
use forge_core::host::agent_state::Outcome;
use forge_steps::host::agent::Pass;
use forge_steps::host::{Agent, AgentConfig};

use crate::global::Global;
use crate::output::print_document;

/// Watch this host's pin in the GitOps repository and switch to it, safely.
///
/// Every interval (plus jitter; SIGHUP wakes it early) the agent fetches the
/// branch and reads hosts/<env>/<host>.json. When it names a new system: the
/// closure is substituted from the cache only if a trusted key signed it
/// (Nix's own substitution with signatures required; it never builds), the
/// system profile is pointed at it, `switch-to-configuration test` runs, then
/// the health checks within the pin's confirm timeout (no failed systemd units
/// beyond the allow-list, the configured checks, and a reach-back fetch of the
/// remote). Healthy: `switch-to-configuration boot`, recorded as deployed.
/// Otherwise: back to the previous generation, and the pin is recorded as
/// failed on this host (not retried until the pin changes).
///
/// The state file (STATE_DIR/state.json, written atomically) records a
/// switch in progress, so an agent killed or a host rebooted mid-switch
/// finishes the confirmation or rolls back when it starts again.
///
/// Exit status (--once): 0 idle or deployed, 1 rolled back or refused or an
/// error, 2 a bad configuration file.
///
/// Examples:
///   forge agent --config /etc/forge/agent.json
///   forge agent --config agent.json --once --json
///   forge agent --config agent.json --state
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct AgentArgs {
    /// The agent's JSON configuration (services.forge.agent writes it).
    #[arg(long, value_name = "FILE", env = "FORGE_AGENT_CONFIG")]
    pub config: PathBuf,
    /// Look at the pin once, act on it, and exit.
    #[arg(long)]
    pub once: bool,
    /// Print the state file (current system, switch in progress, failed pins) and exit.
    #[arg(long, conflicts_with = "once")]
    pub state: bool,
}

pub async fn run(args: AgentArgs, global: Global) -> anyhow::Result<u8> {
    let file = args.config.display().to_string();
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading the agent configuration {file}"))
        .map_err(crate::exit::usage)?;
    let config = AgentConfig::parse(&text, &file).map_err(crate::exit::usage)?;
    let agent = Agent::new(config)?;
    if args.state {
        let state = forge_steps::host::agent_files::load_state(&agent.state_file())?;
        if global.json {
            print_document("agent-state", &state);
        } else {
            print!("{}", state.render());
        }
        return Ok(ExitStatus::Success.code());
    }
    if args.once {
        let pass = agent.pass().await?;
        report(&pass, global);
        let failed = pass
            .outcome
            .as_ref()
            .is_some_and(|o| o.outcome != Outcome::Deployed);
        return Ok(if failed {
            ExitStatus::Failed.code()
        } else {
            ExitStatus::Success.code()
        });
    }
    let wake = Arc::new(tokio::sync::Notify::new());
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let waker = wake.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            waker.notify_one();
        }
    });
    if let Some(path) = &agent.config.wake_socket {
        // A socket left by an agent that was killed is ours to replace.
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path)
            .map_err(|e| anyhow::anyhow!("wake_socket {}: {e}", path.display()))?;
        let waker = wake.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                drop(conn);
                waker.notify_one();
            }
        });
    }
    // Stopping mid-switch is safe: the state file says where it was, and
    // the next start finishes the confirmation or rolls back.
    tokio::select! {
        never = agent.run(wake) => never,
        _ = term.recv() => Ok(ExitStatus::Success.code()),
        _ = tokio::signal::ctrl_c() => Ok(ExitStatus::Success.code()),
    }
}

fn report(pass: &Pass, global: Global) {
    if global.json {
        print_document("agent-pass", pass);
        return;
    }
    println!("{}: {}", pass.decision, pass.detail);
    if let Some(o) = &pass.outcome {
        println!("{} {}", o.outcome.as_str(), o.store_path);
        for r in &o.reasons {
            println!("  {r}");
        }
    }
}
