//! The host side of a NixOS switch: the system profile and its generations
//! (through `nix-env`), `switch-to-configuration`, and systemd's failed
//! units. Every program and path is configurable, so the agent runs the same
//! code against a profile under a temporary directory, a switch script that
//! records its calls, and a stand-in `systemctl`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

#[derive(Debug, Clone)]
pub struct HostSystem {
    /// The system profile (`/nix/var/nix/profiles/system`).
    pub profile: PathBuf,
    /// The running system's link (`/run/current-system`).
    pub current_system: PathBuf,
    /// `nix-env` (sets and switches the profile's generations).
    pub nix_env: String,
    /// A program run as `PROGRAM TOPLEVEL ACTION` instead of
    /// `TOPLEVEL/bin/switch-to-configuration ACTION`.
    pub switch_command: Option<Vec<String>>,
    /// `systemctl` and any leading arguments.
    pub systemctl: Vec<String>,
    /// Longest a switch may take before it counts as failed.
    pub switch_timeout: Duration,
}

impl Default for HostSystem {
    fn default() -> Self {
        Self {
            profile: "/nix/var/nix/profiles/system".into(),
            current_system: "/run/current-system".into(),
            nix_env: "nix-env".into(),
            switch_command: None,
            systemctl: vec!["systemctl".into()],
            switch_timeout: Duration::from_secs(600),
        }
    }
}

/// One generation of the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub number: u64,
    pub path: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HostSystemError {
    #[error("could not run `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("`{command}` did not finish within {} s", .timeout.as_secs())]
    TimedOut { command: String, timeout: Duration },
    #[error("the profile {}: {message}", .profile.display())]
    Profile { profile: PathBuf, message: String },
}

impl HostSystem {
    /// The generation the profile points at (`None`: no profile yet).
    pub fn generation(&self) -> Result<Option<Generation>, HostSystemError> {
        let bad = |message: String| HostSystemError::Profile {
            profile: self.profile.clone(),
            message,
        };
        let link = match std::fs::read_link(&self.profile) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(bad(e.to_string())),
        };
        let name = link
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let number = name
            .strip_suffix("-link")
            .and_then(|n| n.rsplit('-').next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| bad(format!("points at {name}, not a generation link")))?;
        let path = std::fs::canonicalize(&self.profile).map_err(|e| bad(e.to_string()))?;
        Ok(Some(Generation {
            number,
            path: path.display().to_string(),
        }))
    }

    /// The store path the host runs now, if the link is there.
    pub fn running(&self) -> Option<String> {
        std::fs::canonicalize(&self.current_system)
            .ok()
            .map(|p| p.display().to_string())
    }

    /// Makes `path` the profile's new generation.
    pub async fn set_profile(&self, path: &str) -> Result<(), HostSystemError> {
        let profile = self.profile.display().to_string();
        let argv = [
            self.nix_env.clone(),
            "--profile".into(),
            profile,
            "--set".into(),
            path.into(),
        ];
        self.run(&argv, Duration::from_secs(120)).await.map(drop)
    }

    /// Points the profile back at generation `number`.
    pub async fn switch_generation(&self, number: u64) -> Result<(), HostSystemError> {
        let profile = self.profile.display().to_string();
        let argv = [
            self.nix_env.clone(),
            "--profile".into(),
            profile,
            "--switch-generation".into(),
            number.to_string(),
        ];
        self.run(&argv, Duration::from_secs(120)).await.map(drop)
    }

    /// `switch-to-configuration ACTION` of `toplevel` (`test`, `boot`, `switch`).
    pub async fn switch(&self, toplevel: &str, action: &str) -> Result<(), HostSystemError> {
        let argv: Vec<String> = match &self.switch_command {
            Some(cmd) => cmd
                .iter()
                .cloned()
                .chain([toplevel.to_owned(), action.to_owned()])
                .collect(),
            None => vec![
                Path::new(toplevel)
                    .join("bin/switch-to-configuration")
                    .display()
                    .to_string(),
                action.to_owned(),
            ],
        };
        self.run(&argv, self.switch_timeout).await.map(drop)
    }

    /// `systemctl list-units --state=failed --plain --no-legend`'s output.
    pub async fn failed_units(&self) -> Result<String, HostSystemError> {
        let argv: Vec<String> = self
            .systemctl
            .iter()
            .cloned()
            .chain(
                [
                    "list-units",
                    "--state=failed",
                    "--plain",
                    "--no-legend",
                    "--no-pager",
                ]
                .map(str::to_owned),
            )
            .collect();
        self.run(&argv, Duration::from_secs(60)).await
    }

    async fn run(&self, argv: &[String], timeout: Duration) -> Result<String, HostSystemError> {
        let command = argv.join(" ");
        let (program, args) = argv.split_first().expect("a program");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output();
        let out = match tokio::time::timeout(timeout, child).await {
            Err(_) => return Err(HostSystemError::TimedOut { command, timeout }),
            Ok(Err(source)) => {
                return Err(HostSystemError::Spawn {
                    program: program.clone(),
                    source,
                })
            }
            Ok(Ok(out)) => out,
        };
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<&str> = stderr.lines().collect();
            return Err(HostSystemError::Failed {
                command,
                status: out.status.to_string(),
                stderr: lines[lines.len().saturating_sub(10)..].join("\n"),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}
