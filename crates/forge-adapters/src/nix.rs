//! The `nix` command: evaluation, builds and (as a fallback) path queries.
//! The only place that runs Nix.

use std::collections::BTreeMap;
use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

use forge_core::nix::path_info::{parse_path_info_json, PathInfo, PathInfoJsonError};
use forge_core::nix::store_path::StorePath;

/// Lines of Nix's own error output kept in an error message.
const ERROR_LINES: usize = 25;

#[derive(Debug, thiserror::Error)]
pub enum NixError {
    #[error("could not run `{program}` (is Nix installed and on PATH?): {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`nix {command}` failed:\n{log}")]
    Failed { command: String, log: String },
    #[error("`nix {command}` printed output Forge does not understand: {reason}")]
    Output { command: String, reason: String },
    #[error(transparent)]
    PathInfo(#[from] PathInfoJsonError),
}

/// What `nix build --json` reports for one derivation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildResult {
    pub installable: String,
    pub drv_path: Option<String>,
    pub outputs: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct NixCli {
    program: String,
    /// Extra options placed before every subcommand's arguments (e.g. `--store X`).
    pub extra_args: Vec<String>,
    pub store_dir: String,
}

impl Default for NixCli {
    fn default() -> Self {
        Self {
            program: std::env::var("FORGE_NIX").unwrap_or_else(|_| "nix".into()),
            extra_args: vec![],
            store_dir: forge_core::nix::store_path::DEFAULT_STORE_DIR.into(),
        }
    }
}

impl NixCli {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(["--extra-experimental-features", "nix-command flakes"]);
        cmd.args(args).args(&self.extra_args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.kill_on_drop(true);
        cmd
    }

    /// Runs `nix build --no-link --json --print-build-logs`, handing every log
    /// line to `on_log` as it arrives.
    pub async fn build(
        &self,
        installables: &[String],
        mut on_log: impl FnMut(&str),
    ) -> Result<Vec<BuildResult>, NixError> {
        let mut args = vec!["build", "--no-link", "--json", "--print-build-logs"];
        args.extend(installables.iter().map(String::as_str));
        let command = format!("build {}", installables.join(" "));
        let mut child = self
            .command(&args)
            .spawn()
            .map_err(|source| NixError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        let stdout = child.stdout.take().expect("piped");
        let stdout_task = tokio::spawn(async move {
            let mut buf = String::new();
            let mut r = BufReader::new(stdout);
            tokio::io::AsyncReadExt::read_to_string(&mut r, &mut buf)
                .await
                .map(|_| buf)
        });
        let mut log = Vec::new();
        let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            on_log(&line);
            log.push(line);
        }
        let status = child.wait().await.map_err(|source| NixError::Spawn {
            program: self.program.clone(),
            source,
        })?;
        let stdout = stdout_task
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        if !status.success() {
            return Err(NixError::Failed {
                command,
                log: error_excerpt(&log),
            });
        }
        parse_build_json(installables, &stdout)
            .map_err(|reason| NixError::Output { command, reason })
    }

    /// Runs `nix flake check --print-build-logs <flake>`, handing every log
    /// line to `on_log`; a failed check is [`NixError::Failed`] with its log.
    pub async fn flake_check(
        &self,
        flake: &str,
        mut on_log: impl FnMut(&str),
    ) -> Result<(), NixError> {
        let command = format!("flake check {flake}");
        let mut child = self
            .command(&["flake", "check", "--print-build-logs", flake])
            .spawn()
            .map_err(|source| NixError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        let mut log = Vec::new();
        let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            on_log(&line);
            log.push(line);
        }
        let status = child.wait().await.map_err(|source| NixError::Spawn {
            program: self.program.clone(),
            source,
        })?;
        if !status.success() {
            return Err(NixError::Failed {
                command,
                log: error_excerpt(&log),
            });
        }
        Ok(())
    }

    /// The closure of `paths` via `nix path-info -r --json --sigs`: used when
    /// Nix's database cannot be read directly.
    pub async fn path_info_closure(&self, paths: &[StorePath]) -> Result<Vec<PathInfo>, NixError> {
        let mut args = vec!["path-info", "--recursive", "--json", "--sigs"];
        args.extend(paths.iter().map(StorePath::as_str));
        let out = self
            .command(&args)
            .output()
            .await
            .map_err(|source| NixError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        if !out.status.success() {
            let log: Vec<String> = String::from_utf8_lossy(&out.stderr)
                .lines()
                .map(str::to_owned)
                .collect();
            return Err(NixError::Failed {
                command: "path-info".into(),
                log: error_excerpt(&log),
            });
        }
        Ok(parse_path_info_json(
            &self.store_dir,
            &String::from_utf8_lossy(&out.stdout),
        )?)
    }
}

impl NixCli {
    /// `nix eval --json INSTALLABLE`, waiting for it (configuration is read
    /// this way before any work starts). Nix's own error is kept as it is.
    pub fn eval_json_blocking(&self, installable: &str) -> Result<Value, NixError> {
        let command = format!("eval --json {installable}");
        let out = std::process::Command::new(&self.program)
            .args(["--extra-experimental-features", "nix-command flakes"])
            .args(["eval", "--json", installable])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| NixError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        if !out.status.success() {
            let log: Vec<String> = String::from_utf8_lossy(&out.stderr)
                .lines()
                .map(str::to_owned)
                .collect();
            // An evaluation error is all there is to show (no build log before it).
            let start = log
                .iter()
                .position(|l| l.starts_with("error:"))
                .unwrap_or(0);
            return Err(NixError::Failed {
                command,
                log: error_excerpt(&log[start..]),
            });
        }
        serde_json::from_slice(&out.stdout).map_err(|e| NixError::Output {
            command,
            reason: format!("invalid JSON ({e})"),
        })
    }
}

/// The part of Nix's stderr worth showing: from the first `error:` line on,
/// plus the build log lines just before it (where a failing builder explains itself).
pub fn error_excerpt(log: &[String]) -> String {
    let first_error = log
        .iter()
        .position(|l| l.trim_start().starts_with("error:"));
    let (start, end) = match first_error {
        Some(i) => (i.saturating_sub(10), (i + ERROR_LINES).min(log.len())),
        None => (log.len().saturating_sub(ERROR_LINES), log.len()),
    };
    let excerpt: Vec<&str> = log[start..end]
        .iter()
        .map(String::as_str)
        .filter(|l| !l.trim().is_empty())
        .collect();
    if excerpt.is_empty() {
        "(nix printed nothing)".into()
    } else {
        excerpt
            .iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn parse_build_json(installables: &[String], text: &str) -> Result<Vec<BuildResult>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON ({e})"))?;
    let items = v.as_array().ok_or("expected a JSON array")?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mut outputs = BTreeMap::new();
        if let Some(map) = item.get("outputs").and_then(Value::as_object) {
            for (name, path) in map {
                let p = path.as_str().ok_or(format!("output {name} has no path (is it a content-addressed derivation that was not built?)"))?;
                outputs.insert(name.clone(), p.to_owned());
            }
        } else if let Some(p) = item.get("path").and_then(Value::as_str) {
            outputs.insert("out".into(), p.to_owned());
        }
        if outputs.is_empty() {
            return Err(format!("entry {i} has no outputs"));
        }
        out.push(BuildResult {
            // nix reports results in the order of the installables it was given.
            installable: installables.get(i).cloned().unwrap_or_default(),
            drv_path: item
                .get("drvPath")
                .and_then(Value::as_str)
                .map(str::to_owned),
            outputs,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_excerpt_starts_near_the_first_error() {
        let mut log: Vec<String> = (0..50).map(|i| format!("noise {i}")).collect();
        log.push("error: attribute 'nope' missing".into());
        log.push("       at flake.nix:3:5".into());
        let e = error_excerpt(&log);
        assert!(e.contains("error: attribute 'nope' missing"));
        assert!(e.contains("at flake.nix:3:5"));
        assert!(!e.contains("noise 5\n"));
    }

    #[test]
    fn build_json_maps_installables_in_order() {
        let r = parse_build_json(
            &[".#a".into()],
            r#"[{"drvPath":"/nix/store/x-a.drv","outputs":{"out":"/nix/store/y-a","dev":"/nix/store/z-a-dev"}}]"#,
        )
        .unwrap();
        assert_eq!(r[0].installable, ".#a");
        assert_eq!(r[0].outputs.len(), 2);
    }
}
