//! What verification checks ask of the world: an HTTP GET, and a command
//! run with a few variables set. Each returns what happened; deciding
//! whether that passes is the caller's.

use std::collections::BTreeMap;

use forge_io::http::{read_text, Activity, HttpError, Timeouts};

/// `GET url`: the status and the body.
pub async fn http_get(url: &str, timeouts: Timeouts) -> Result<(u16, String), HttpError> {
    let client = forge_io::http::client(url.starts_with("https://"), timeouts);
    let activity = Activity::new();
    let resp = forge_io::http::within_idle(url, timeouts.idle, &activity, async {
        client
            .get(url)
            .send()
            .await
            .map_err(|e| HttpError::transport(url, e))
    })
    .await?;
    let status = resp.status().as_u16();
    let body = read_text(url, resp, timeouts.idle).await?;
    Ok((status, body))
}

/// How a command ended.
#[derive(Debug, Clone)]
pub struct CommandOutcome {
    pub success: bool,
    /// `exit status: 1`, `signal: 9`, ...
    pub status: String,
    /// The last lines it wrote to stderr.
    pub stderr_tail: String,
    /// The last lines it wrote to stdout.
    pub stdout_tail: String,
}

/// Runs `argv` with `env` added, stdin closed; killed when the future is dropped.
pub async fn run_command(
    argv: &[String],
    env: &BTreeMap<&str, String>,
) -> std::io::Result<CommandOutcome> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("an empty command"))?;
    let out = tokio::process::Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await?;
    Ok(CommandOutcome {
        success: out.status.success(),
        status: out.status.to_string(),
        stderr_tail: tail(&out.stderr, 5),
        stdout_tail: tail(&out.stdout, 5),
    })
}

fn tail(bytes: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
