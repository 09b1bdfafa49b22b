//! GitHub Actions: workflow commands (`::error::`), step outputs
//! (`$GITHUB_OUTPUT`) and the job summary (`$GITHUB_STEP_SUMMARY`):
//! annotations only in a GitHub Actions job ([`crate::global::Global::github_actions`]),
//! the files wherever their variables are set.

use std::io::Write as _;

use crate::exit::Location;

/// A workflow command's message: `%`, CR and LF escaped as the runner expects.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// `::error file=…,line=…,col=…,title=…::message` on stderr.
pub fn annotate(level: &str, title: &str, message: &str, at: Option<&Location>) {
    eprintln!("{}", annotation(level, title, message, at));
}

pub fn annotation(level: &str, title: &str, message: &str, at: Option<&Location>) -> String {
    let mut props = Vec::new();
    if let Some(at) = at {
        props.push(format!("file={}", escape_property(&at.file)));
        props.push(format!("line={}", at.line));
        props.push(format!("col={}", at.column));
    }
    props.push(format!("title={}", escape_property(title)));
    format!("::{level} {}::{}", props.join(","), escape_data(message))
}

/// Appends `name=value` pairs to `$GITHUB_OUTPUT` (values over several lines
/// in the `name<<delimiter` form). Nothing outside a job; a write error is a warning.
pub fn write_outputs(pairs: &[(&str, String)]) {
    let mut text = String::new();
    for (name, value) in pairs {
        if value.contains('\n') {
            let delimiter = format!("FORGE_EOF_{:016x}", rand::random::<u64>());
            text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
        } else {
            text.push_str(&format!("{name}={value}\n"));
        }
    }
    append("GITHUB_OUTPUT", "the step outputs", &text);
}

/// Appends Markdown to the job summary.
pub fn append_summary(markdown: &str) {
    append(
        "GITHUB_STEP_SUMMARY",
        "the job summary",
        &format!("{markdown}\n"),
    );
}

fn append(variable: &str, what: &str, text: &str) {
    let Some(path) = std::env::var_os(variable).filter(|p| !p.is_empty()) else {
        return;
    };
    let appended = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = appended {
        tracing::warn!("cannot write {what} to {}: {e}", path.to_string_lossy());
    }
}

/// `repo:tag@sha256:…` split into its tag and digest.
pub fn tag_and_digest(reference: &str) -> (Option<&str>, Option<&str>) {
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    (last.split_once(':').map(|(_, t)| t), digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_escape_messages_and_properties() {
        let at = Location {
            file: "deploy/a,b.yaml".into(),
            line: 3,
            column: 7,
        };
        assert_eq!(
            annotation("error", "forge deploy", "bad: 100%\nnext", Some(&at)),
            "::error file=deploy/a%2Cb.yaml,line=3,col=7,title=forge deploy::bad: 100%25%0Anext"
        );
    }

    #[test]
    fn references_split_into_tag_and_digest() {
        assert_eq!(
            tag_and_digest("127.0.0.1:5000/app:amd64-abc@sha256:11"),
            (Some("amd64-abc"), Some("sha256:11"))
        );
        assert_eq!(tag_and_digest("127.0.0.1:5000/app"), (None, None));
    }
}
