//! A value that must never reach logs, errors, plans or ledger rows.

use std::fmt;

/// Holds a secret string. `Debug` and `Display` print a fixed placeholder, so a
/// secret that slips into a `tracing` field or an error message stays hidden.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Call this only where the value leaves the process
    /// for its intended recipient (an HTTP header, a file with mode 0600).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Removes any occurrence of `secret` from `text` (for messages that echo
/// server responses, which may quote what we sent).
pub fn redact(text: &str, secret: &Secret) -> String {
    if secret.is_empty() {
        return text.to_owned();
    }
    text.replace(secret.expose(), "<redacted>")
}

/// The one rule for URLs in messages: a password in the user-info becomes
/// `<redacted>` (the user name stays, it helps), and so does a user name
/// alone on HTTP(S), where it is often a token. Textual, so a URL that does
/// not parse (a bad port, an unclosed `[`) is redacted too.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let (head, rest) = url.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let (userinfo, host) = (&rest[..at], &rest[at + 1..]);
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{head}{user}:<redacted>@{host}"),
        None if head.to_ascii_lowercase().contains("http") => format!("{head}<redacted>@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "Secret(<redacted>) <redacted>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(redact_url("http://u:p@h:1/x"), "http://u:<redacted>@h:1/x");
        assert_eq!(
            redact_url("https://bot:s3cret@example.com/x.git"),
            "https://bot:<redacted>@example.com/x.git"
        );
        assert_eq!(
            redact_url("attic+http://pusher:pw@127.0.0.1:99999/c"),
            "attic+http://pusher:<redacted>@127.0.0.1:99999/c"
        );
        assert_eq!(redact_url("http://u:p@[::1"), "http://u:<redacted>@[::1");
        assert_eq!(
            redact_url("https://ghp_tok@github.com/o/r"),
            "https://<redacted>@github.com/o/r"
        );
        assert_eq!(redact_url("ssh://git@host/x.git"), "ssh://git@host/x.git");
        assert_eq!(redact_url("git@host:x.git"), "git@host:x.git");
        assert_eq!(redact_url("http://h/a@b"), "http://h/a@b");
    }

    #[test]
    fn redact_removes_the_value_from_text() {
        let s = Secret::new("tok");
        assert_eq!(redact("bearer tok failed", &s), "bearer <redacted> failed");
    }
}
