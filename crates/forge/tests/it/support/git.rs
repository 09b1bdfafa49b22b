//! The `git` CLI as an independent reader and writer of the repositories
//! Forge works on (never the code under test).

use std::path::Path;
use std::process::Command;

/// Runs `git ARGS` in `dir` with a fixed identity, `main` as the default
/// branch and no prompts or signing; returns stdout, trimmed. Panics with
/// git's stderr when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .args([
            "-c",
            "user.name=forge-test",
            "-c",
            "user.email=forge-test@example.invalid",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("spawn git");
    assert!(
        out.status.success(),
        "git {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
