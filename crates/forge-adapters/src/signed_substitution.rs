//! Taking a store path only from a binary cache and only when a trusted key
//! signed it: Nix's own substitution with signatures required (`nix build
//! --max-jobs 0` of the store path, with the cache and keys added to the
//! host's own substituters and keys, so the closure's other paths may come
//! from cache.nixos.org as usual; it never builds), then `nix store verify
//! --sigs-needed 1` of the system itself against the configured keys alone,
//! so a path already in the store without such a signature (built locally,
//! say) is refused too.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

#[derive(Debug, Clone)]
pub struct SignedSubstitution {
    /// `nix`.
    pub nix: String,
    /// The cache to substitute from (`https://…`, `file://…`).
    pub cache_url: String,
    /// `name:base64` public keys; a path needs a signature from one of them.
    pub trusted_keys: Vec<String>,
    /// Nix's `connect-timeout` and `stalled-download-timeout`.
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    /// Nix's `download-attempts`.
    pub attempts: usize,
    /// The whole substitution's limit.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SubstitutionError {
    #[error("no trusted keys configured: the agent takes only paths signed by a trusted key")]
    NoTrustedKeys,
    #[error("could not run `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{path} could not be substituted from {cache}: {log}")]
    Substitute {
        path: String,
        cache: String,
        log: String,
    },
    #[error("{path} is not signed by a trusted key ({keys}): {log}")]
    Untrusted {
        path: String,
        keys: String,
        log: String,
    },
    #[error("`{command}` did not finish within {} s", .timeout.as_secs())]
    TimedOut { command: String, timeout: Duration },
}

impl SignedSubstitution {
    /// Makes `path` (and its closure) valid in the local store, from the
    /// cache, refusing it unless a trusted key signed it.
    pub async fn fetch(&self, path: &str) -> Result<(), SubstitutionError> {
        if self.trusted_keys.is_empty() {
            return Err(SubstitutionError::NoTrustedKeys);
        }
        let keys = self.trusted_keys.join(" ");
        let cache = forge_core::secret::redact_url(&self.cache_url);
        let substitute = self
            .run(
                &["build", "--no-link", "--max-jobs", "0", path],
                &[
                    ("extra-substituters", &self.cache_url),
                    ("extra-trusted-public-keys", &keys),
                ],
            )
            .await?;
        if let Err(log) = substitute {
            return Err(if log.contains("signed") || log.contains("signature") {
                SubstitutionError::Untrusted {
                    path: path.to_owned(),
                    keys,
                    log,
                }
            } else {
                SubstitutionError::Substitute {
                    path: path.to_owned(),
                    cache,
                    log,
                }
            });
        }
        let verify = self
            .run(
                &[
                    "store",
                    "verify",
                    "--no-contents",
                    "--sigs-needed",
                    "1",
                    path,
                ],
                &[("trusted-public-keys", &keys)],
            )
            .await?;
        verify.map_err(|log| SubstitutionError::Untrusted {
            path: path.to_owned(),
            keys,
            log,
        })
    }

    /// `Ok(Err(log))` when Nix ran and failed.
    async fn run(
        &self,
        args: &[&str],
        options: &[(&str, &str)],
    ) -> Result<Result<(), String>, SubstitutionError> {
        let mut cmd = Command::new(&self.nix);
        cmd.args(["--extra-experimental-features", "nix-command"])
            .args(args)
            .args(["--option", "require-sigs", "true"]);
        for (name, value) in options {
            cmd.args(["--option", name, value]);
        }
        cmd.args([
            "--option",
            "connect-timeout",
            &self.connect_timeout.as_secs().max(1).to_string(),
        ])
        .args([
            "--option",
            "stalled-download-timeout",
            &self.idle_timeout.as_secs().max(1).to_string(),
        ])
        .args([
            "--option",
            "download-attempts",
            &self.attempts.max(1).to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
        let command = format!("nix {}", args.join(" "));
        let out = match tokio::time::timeout(self.timeout, cmd.output()).await {
            Err(_) => {
                return Err(SubstitutionError::TimedOut {
                    command,
                    timeout: self.timeout,
                })
            }
            Ok(Err(source)) => {
                return Err(SubstitutionError::Spawn {
                    program: self.nix.clone(),
                    source,
                })
            }
            Ok(Ok(out)) => out,
        };
        if out.status.success() {
            return Ok(Ok(()));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let log = lines[lines.len().saturating_sub(6)..].join("\n");
        // Nix repeats the cache URL; it is shown the way every URL is.
        Ok(Err(log.replace(
            &self.cache_url,
            &forge_core::secret::redact_url(&self.cache_url),
        )))
    }
}
