//! `forge agent`: the loop on a NixOS host. Every interval (plus jitter, so a
//! fleet does not fetch at once; SIGHUP wakes it early) it fetches the GitOps
//! branch, reads its host's pin and follows [`decide`]: a switch in progress
//! is finished or undone first (after a kill or a reboot), a new pin is
//! switched to, a pin that failed here waits for the next one.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use forge_adapters::git::{GitAuth, GitRemote};
use forge_adapters::signed_substitution::SignedSubstitution;
use forge_adapters::system_profile::HostSystem;
use forge_core::deploy_config::Check;
use forge_core::host::agent_state::{LastOutcome, Outcome};
use forge_core::host::pin::pin_path;
use forge_core::host::{decide, AgentState, Decision, HostPin};
use forge_core::secret::Secret;

use super::agent_files::{
    load_state, now_text, now_unix, render_metrics, save_state, write_metrics,
};
use super::agent_switch;

/// The agent's configuration file (JSON; `services.forge.agent` writes it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub host: String,
    pub environment: String,
    /// The GitOps repository and branch `forge deploy` commits pins to.
    pub repo: String,
    #[serde(default = "default_branch")]
    pub branch: String,
    /// An HTTPS token, or an SSH key, in a file; a relative path is taken
    /// in `$CREDENTIALS_DIRECTORY` (systemd's `LoadCredential`).
    pub token_file: Option<PathBuf>,
    pub ssh_key_file: Option<PathBuf>,
    /// Holds the state file and the clone.
    pub state_dir: PathBuf,
    /// The release ledger outcomes are reported to: an SQLite file, or a
    /// file holding a `postgres://` URL (relative: a credential).
    pub ledger_path: Option<PathBuf>,
    pub ledger_url_file: Option<PathBuf>,
    /// Prometheus textfile metrics (node_exporter's textfile collector).
    pub metrics_file: Option<PathBuf>,
    #[serde(default = "default_interval")]
    pub interval_seconds: u64,
    #[serde(default)]
    pub jitter_seconds: u64,
    /// The cache closures are substituted from, and the keys one must be signed by.
    pub cache_url: String,
    pub trusted_keys: Vec<String>,
    /// Failed units that do not fail the health check (`name` or `prefix*`).
    #[serde(default)]
    pub allow_failed_units: Vec<String>,
    /// The host's own checks (commands run as the agent, HTTP requests).
    #[serde(default)]
    pub checks: Vec<Check>,
    /// Whether command checks written in the pin (deploy.yaml's
    /// `hosts.<host>.verify`) run; HTTP checks from the pin always do. Off by
    /// default: whoever can push to the branch could otherwise run commands
    /// as the agent.
    #[serde(default)]
    pub pin_commands: bool,
    /// Whether a healthy system must still be able to fetch the GitOps remote.
    #[serde(default = "yes")]
    pub reach_back: bool,
    #[serde(default = "default_profile")]
    pub profile: PathBuf,
    #[serde(default = "default_current_system")]
    pub current_system: PathBuf,
    /// A program run as `PROGRAM TOPLEVEL ACTION` instead of the system's own
    /// `bin/switch-to-configuration`.
    pub switch_command: Option<Vec<String>>,
    #[serde(default = "default_systemctl")]
    pub systemctl: Vec<String>,
    #[serde(default = "default_nix_env")]
    pub nix_env: String,
    #[serde(default = "default_nix")]
    pub nix: String,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_seconds: u64,
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_seconds: u64,
    #[serde(default = "default_attempts")]
    pub attempts: usize,
    /// A Unix socket: any connection to it wakes the agent for a pass at
    /// once (a deploy hook, `socat`, or systemd socket activation's peer).
    #[serde(default)]
    pub wake_socket: Option<PathBuf>,
}

fn default_branch() -> String {
    "main".into()
}
fn default_interval() -> u64 {
    60
}
fn yes() -> bool {
    true
}
fn default_profile() -> PathBuf {
    HostSystem::default().profile
}
fn default_current_system() -> PathBuf {
    HostSystem::default().current_system
}
fn default_systemctl() -> Vec<String> {
    vec!["systemctl".into()]
}
fn default_nix_env() -> String {
    "nix-env".into()
}
fn default_nix() -> String {
    "nix".into()
}
fn default_connect_timeout() -> u64 {
    10
}
fn default_idle_timeout() -> u64 {
    60
}
fn default_attempts() -> usize {
    6
}

#[derive(Debug, thiserror::Error)]
pub enum AgentConfigError {
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

impl AgentConfig {
    pub fn parse(text: &str, file: &str) -> Result<Self, AgentConfigError> {
        let c: AgentConfig = serde_json::from_str(text).map_err(|e| AgentConfigError::Parse {
            file: file.to_owned(),
            line: e.line(),
            column: e.column(),
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_owned(),
        })?;
        let invalid = |message: &str| AgentConfigError::Invalid {
            file: file.to_owned(),
            message: message.to_owned(),
        };
        if c.trusted_keys.is_empty() {
            return Err(invalid(
                "trusted_keys is empty: the agent takes only closures signed by a trusted key",
            ));
        }
        if c.token_file.is_some() && c.ssh_key_file.is_some() {
            return Err(invalid(
                "give token_file (HTTPS) or ssh_key_file (SSH), not both",
            ));
        }
        if c.ledger_path.is_some() && c.ledger_url_file.is_some() {
            return Err(invalid(
                "give ledger_path (SQLite) or ledger_url_file (PostgreSQL), not both",
            ));
        }
        if c.interval_seconds == 0 {
            return Err(invalid("interval_seconds is 0"));
        }
        Ok(c)
    }
}

/// The agent with its adapters.
pub struct Agent {
    pub config: AgentConfig,
    pub system: HostSystem,
    pub substitution: SignedSubstitution,
    pub remote: GitRemote,
}

/// What one look at the pin did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pass {
    pub decision: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<LastOutcome>,
}

impl Agent {
    pub fn new(config: AgentConfig) -> anyhow::Result<Self> {
        let credential = super::agent_report::credential_path;
        let auth = match (&config.token_file, &config.ssh_key_file) {
            (Some(f), _) => {
                let f = credential(f);
                let text = std::fs::read_to_string(&f)
                    .map_err(|e| anyhow::anyhow!("the git token file {}: {e}", f.display()))?;
                GitAuth::Token(Secret::new(text.trim()))
            }
            (None, Some(k)) => GitAuth::SshKeyFile(credential(k)),
            (None, None) => GitAuth::Default,
        };
        let remote = GitRemote {
            url: config.repo.clone(),
            branch: config.branch.clone(),
            auth,
            author_name: format!("forge-agent {}", config.host),
            author_email: "forge-agent@localhost".into(),
            clone_dir: Some(config.state_dir.join("gitops")),
            signing_key: None,
        };
        let system = HostSystem {
            profile: config.profile.clone(),
            current_system: config.current_system.clone(),
            nix_env: config.nix_env.clone(),
            switch_command: config.switch_command.clone(),
            systemctl: config.systemctl.clone(),
            ..HostSystem::default()
        };
        let substitution = SignedSubstitution {
            nix: config.nix.clone(),
            cache_url: config.cache_url.clone(),
            trusted_keys: config.trusted_keys.clone(),
            connect_timeout: Duration::from_secs(config.connect_timeout_seconds),
            idle_timeout: Duration::from_secs(config.idle_timeout_seconds),
            attempts: config.attempts,
            timeout: Duration::from_secs(3600),
        };
        Ok(Self {
            config,
            system,
            substitution,
            remote,
        })
    }

    pub fn state_file(&self) -> PathBuf {
        self.config.state_dir.join("state.json")
    }

    pub fn pin_file(&self) -> String {
        pin_path(&self.config.environment, &self.config.host)
    }

    /// Reads the pin at the branch tip: `Ok(None)` when there is none,
    /// `Ok(Err(why))` when it is there but cannot be taken as a pin.
    pub async fn read_pin(&self) -> anyhow::Result<Result<Option<HostPin>, String>> {
        let remote = self.remote.clone();
        let file = self.pin_file();
        let text =
            tokio::task::spawn_blocking(move || remote.read_file_if_present(&file)).await??;
        let store_dir = forge_core::nix::store_path::DEFAULT_STORE_DIR;
        Ok(match text {
            None => Ok(None),
            Some(t) => HostPin::parse(&t, &self.pin_file(), store_dir)
                .map(Some)
                .map_err(|e| e.to_string()),
        })
    }

    /// One look at the pin, and whatever it calls for.
    pub async fn pass(&self) -> anyhow::Result<Pass> {
        let state_file = self.state_file();
        let mut state = load_state(&state_file)?;
        // A switch in progress is finished or undone even when the remote
        // cannot be reached.
        let pin = match self.read_pin().await {
            Ok(p) => p,
            Err(e) if state.pending.is_some() => Err(format!("{e:#}")),
            Err(e) => return Err(e),
        };
        let running = self.system.running();
        let decision = decide(
            &self.config.host,
            pin.as_ref().map(Option::as_ref).map_err(String::as_str),
            running.as_deref(),
            &state,
            now_unix(),
        );
        let (name, detail) = match &decision {
            Decision::Idle(m) => ("idle", m.clone()),
            Decision::Refuse(m) => ("refuse", m.clone()),
            Decision::Switch(p) => ("switch", p.store_path.clone()),
            Decision::ResumeConfirm => ("resume", "confirming the switch in progress".into()),
            Decision::RollBack(m) => ("roll_back", m.clone()),
        };
        tracing::info!(host = %self.config.host, decision = name, "{detail}");
        let before = state.last.clone();
        match decision {
            Decision::Idle(_) => {}
            Decision::Refuse(reason) => {
                let path = pin.ok().flatten().map(|p| p.store_path).unwrap_or_default();
                let reasons = vec![reason];
                // Refused again for the same reason: already recorded.
                let repeated = state.last.as_ref().is_some_and(|l| {
                    l.outcome == Outcome::Refused && l.store_path == path && l.reasons == reasons
                });
                if !repeated {
                    state.record(LastOutcome {
                        outcome: Outcome::Refused,
                        store_path: path,
                        reasons,
                        at: now_text(),
                    });
                    save_state(&state_file, &state)?;
                }
            }
            Decision::Switch(p) => agent_switch::switch(self, &mut state, p).await?,
            Decision::ResumeConfirm => agent_switch::confirm(self, &mut state).await?,
            Decision::RollBack(reason) => {
                agent_switch::roll_back(self, &mut state, vec![reason]).await?
            }
        }
        if super::agent_report::report(&self.config, &mut state).await {
            save_state(&state_file, &state)?;
        }
        self.metrics(&state);
        let outcome = (state.last != before).then(|| state.last.clone()).flatten();
        Ok(Pass {
            decision: name.into(),
            detail,
            outcome,
        })
    }

    fn metrics(&self, state: &AgentState) {
        if let Some(path) = &self.config.metrics_file {
            let text = render_metrics(
                &self.config.host,
                state,
                self.system.running().as_deref(),
                now_unix(),
            );
            if let Err(e) = write_metrics(path, &text) {
                tracing::warn!("metrics: {e}");
            }
        }
    }

    /// Passes forever, every interval plus jitter; `wake` ends a wait early.
    pub async fn run(&self, wake: std::sync::Arc<tokio::sync::Notify>) -> ! {
        loop {
            if let Err(e) = self.pass().await {
                tracing::warn!(host = %self.config.host, "{e:#}");
            }
            let sleep = self.next_wait();
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = wake.notified() => tracing::info!("woken early"),
            }
        }
    }

    /// The interval plus up to `jitter_seconds`.
    pub fn next_wait(&self) -> Duration {
        let jitter_ms = self.config.jitter_seconds * 1000;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64);
        let extra = if jitter_ms == 0 {
            0
        } else {
            (nanos ^ u64::from(std::process::id())) % jitter_ms
        };
        Duration::from_secs(self.config.interval_seconds) + Duration::from_millis(extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_file_is_strict_and_checked() {
        let ok = r#"{"host":"web1","environment":"prod","repo":"/r","state_dir":"/s","cache_url":"file:///c","trusted_keys":["k:1"]}"#;
        let c = AgentConfig::parse(ok, "agent.json").unwrap();
        assert_eq!(c.interval_seconds, 60);
        assert!(c.reach_back && !c.pin_commands);
        let e = AgentConfig::parse(&ok.replace("\"host\"", "\"hots\""), "agent.json").unwrap_err();
        assert!(e.to_string().starts_with("agent.json:1:"), "{e}");
        let e = AgentConfig::parse(&ok.replace("[\"k:1\"]", "[]"), "agent.json").unwrap_err();
        assert!(e.to_string().contains("trusted_keys"), "{e}");
    }
}
