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
    fn redact_removes_the_value_from_text() {
        let s = Secret::new("tok");
        assert_eq!(redact("bearer tok failed", &s), "bearer <redacted> failed");
    }
}
