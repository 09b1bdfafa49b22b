//! Who is acting (for runs and the audit log) and which process holds a lease.

/// `FORGE_ACTOR`, else `github:$GITHUB_ACTOR` (in GitHub Actions), else
/// `$USER@hostname`.
pub fn actor_from_env() -> String {
    let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    actor_from(
        var("FORGE_ACTOR"),
        var("GITHUB_ACTOR"),
        var("USER").or_else(|| var("LOGNAME")),
        &hostname(),
    )
}

fn actor_from(
    forge_actor: Option<String>,
    github_actor: Option<String>,
    user: Option<String>,
    host: &str,
) -> String {
    forge_actor
        .or_else(|| github_actor.map(|a| format!("github:{a}")))
        .unwrap_or_else(|| format!("{}@{host}", user.as_deref().unwrap_or("unknown")))
}

/// `hostname:pid`: the owner recorded with a lease, so a person can tell
/// which process holds it.
pub fn lease_owner() -> String {
    format!("{}:{}", hostname(), std::process::id())
}

/// The kernel's host name, `localhost` when it has none.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..len]) {
        Ok(name) if rc == 0 && !name.is_empty() => name.to_owned(),
        _ => "localhost".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_actor_is_forge_actor_then_github_then_user_at_host() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            actor_from(s("release-bot"), s("octo"), s("me"), "h"),
            "release-bot"
        );
        assert_eq!(actor_from(None, s("octo"), s("me"), "h"), "github:octo");
        assert_eq!(actor_from(None, None, s("me"), "h"), "me@h");
        assert_eq!(actor_from(None, None, None, "h"), "unknown@h");
        assert!(!hostname().is_empty());
        assert!(lease_owner().ends_with(&format!(":{}", std::process::id())));
    }
}
