//! Turning YAML parse errors into "file:line:column: message (did you mean …)"
//! pieces, shared by every strict config reader (deploy.yaml, provision specs).

/// Where a YAML error is and what it says, without serde_yaml's " at line …" tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedMessage {
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The closest expected word for an unknown field or variant.
    pub suggestion: Option<String>,
}

pub fn locate_error(e: &serde_yaml_ng::Error) -> LocatedMessage {
    let full = e.to_string();
    let (line, column, message) = match e.location() {
        Some(loc) => {
            let msg = match full.rfind(" at line ") {
                Some(i) => full[..i].to_owned(),
                None => full.clone(),
            };
            (loc.line(), loc.column(), msg)
        }
        None => (1, 1, full),
    };
    let suggestion = suggest(&message);
    LocatedMessage {
        line,
        column,
        message,
        suggestion,
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (and "unknown
/// variant"), the closest expected word.
pub fn suggest(message: &str) -> Option<String> {
    let start = message
        .find("unknown field `")
        .or_else(|| message.find("unknown variant `"))?;
    let mut quoted = message[start..].split('`').skip(1).step_by(2);
    let unknown = quoted.next()?;
    closest(unknown, quoted)
}

/// The candidate closest to `word`, if any is close enough to be a typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&word, &c.to_lowercase()), c))
        .filter(|(score, _)| *score > 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_get_the_closest_suggestion() {
        assert_eq!(
            suggest("unknown field `rgistry`, expected one of `flake`, `registry`").as_deref(),
            Some("registry")
        );
        assert_eq!(suggest("unknown field `zzz`, expected `flake`"), None);
        let e = serde_yaml_ng::from_str::<std::collections::BTreeMap<String, u8>>("a: 1\nb: [")
            .unwrap_err();
        let l = locate_error(&e);
        assert_eq!(l.line, 2);
        assert!(!l.message.contains(" at line "));
    }
}
