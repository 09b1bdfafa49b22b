//! Checks around the text edit: the arguments, the input document, that
//! the scanner and the YAML parser agree, and that the result reads as
//! intended.

use serde_yaml_ng::{Mapping, Value};

use super::scan;
use super::{EditError, ImageEdit};

pub(super) fn validate_edit(edit: &ImageEdit) -> Result<(), EditError> {
    let invalid = |what, value: &str, reason| EditError::InvalidArgument {
        what,
        value: value.to_owned(),
        reason,
    };
    let plain = |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if !plain(&edit.name) {
        return Err(invalid(
            "image name",
            &edit.name,
            "empty, or contains whitespace",
        ));
    }
    if let Some(n) = &edit.new_name {
        if !plain(n) || n.contains(['@', '#', '"', '\'']) {
            return Err(invalid(
                "new name",
                n,
                "expected an image name such as registry.example/team/app",
            ));
        }
        if n.rsplit('/').next().is_some_and(|last| last.contains(':')) {
            return Err(invalid(
                "new name",
                n,
                "it has a tag; give the tag with --tag",
            ));
        }
    }
    if let Some(t) = &edit.new_tag {
        if !is_valid_tag(t) {
            return Err(invalid(
                "tag",
                t,
                "a tag is 1-128 characters of [A-Za-z0-9_.-] not starting with . or -",
            ));
        }
    }
    if let Some(d) = &edit.digest {
        if !is_valid_digest(d) {
            return Err(invalid(
                "digest",
                d,
                "expected sha256:<64 hex digits> (or sha512:<128>), lower case",
            ));
        }
    }
    Ok(())
}

pub fn is_valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

pub fn is_valid_digest(d: &str) -> bool {
    let hex_len =
        |h: &str, n| h.len() == n && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    match d.split_once(':') {
        Some(("sha256", h)) => hex_len(h, 64),
        Some(("sha512", h)) => hex_len(h, 128),
        _ => false,
    }
}

/// Parses one YAML document; the top level must be a mapping (or empty).
pub(super) fn parse(text: &str) -> Result<Value, EditError> {
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let value = <Value as serde::Deserialize>::deserialize(doc).map_err(yaml_error)?;
        docs.push(value);
    }
    if docs.len() > 1 {
        // Point at the `---` that starts the second document.
        let lines = scan::lines(text);
        let first_content = lines
            .iter()
            .position(|l| !l.is_trivia() && !is_doc_start(l.content));
        let line = first_content
            .and_then(|f| (f..lines.len()).find(|&i| is_doc_start(lines[i].content)))
            .unwrap_or(0);
        return Err(EditError::at(
            line,
            0,
            format!("{} YAML documents; a kustomization is one", docs.len()),
        ));
    }
    match docs.pop().unwrap_or(Value::Null) {
        v @ (Value::Mapping(_) | Value::Null) => Ok(v),
        _ => Err(EditError::At {
            line: 1,
            column: 1,
            message: "the top level is not a mapping".into(),
        }),
    }
}

fn is_doc_start(content: &str) -> bool {
    content == "---" || content.starts_with("--- ")
}

fn yaml_error(e: serde_yaml_ng::Error) -> EditError {
    let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
    let message = e.to_string();
    // The parser appends its own "at line X column Y".
    let message = match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    };
    EditError::At {
        line,
        column,
        message: format!("invalid YAML: {message}"),
    }
}

/// A parsed kustomization's `images:` entries: empty when the key is absent
/// or null, `None` when it is not a list. The one reading of `images:` for the
/// editor's checks and for image pins.
pub fn images_list(doc: &Value) -> Option<&[Value]> {
    match doc.get("images") {
        Some(Value::Sequence(seq)) => Some(seq.as_slice()),
        Some(Value::Null) | None => Some(&[]),
        Some(_) => None,
    }
}

/// The scanner and the parser must see the same entries and names.
pub(super) fn check_scan_matches(
    doc: &Value,
    section: &scan::ImagesSection,
) -> Result<(), EditError> {
    let unsupported = |what: &str| {
        EditError::at(
            section.key_line,
            0,
            format!("`images:` is written in a layout this editor does not support ({what})"),
        )
    };
    let Some(parsed) = images_list(doc) else {
        return Err(EditError::at(
            section.key_line,
            0,
            "`images:` is not a list",
        ));
    };
    if parsed.len() != section.entries.len() {
        return Err(unsupported("entries"));
    }
    for (value, entry) in parsed.iter().zip(&section.entries) {
        let Value::Mapping(map) = value else {
            return Err(EditError::at(
                entry.dash_line,
                entry.key_indent,
                "image entry is not a mapping",
            ));
        };
        match (map.get("name"), entry.get("name")) {
            (Some(Value::String(n)), Some(kv)) if *n == kv.value => {}
            (None, _) => {
                return Err(EditError::at(
                    entry.dash_line,
                    entry.key_indent,
                    "image entry without `name`",
                ))
            }
            (Some(Value::String(_)), _) => return Err(unsupported("name")),
            (Some(_), _) => {
                return Err(EditError::at(
                    entry.dash_line,
                    entry.key_indent,
                    "image `name` is not a string",
                ))
            }
        }
    }
    Ok(())
}
/// The result must parse and equal the input with exactly the intended change.
pub(super) fn verify(before: &Value, out: &str, edit: &ImageEdit) -> Result<(), EditError> {
    let after =
        parse(out).map_err(|e| EditError::Verification(format!("result does not parse: {e}")))?;
    let mut expected = before.clone();
    if expected.is_null() {
        expected = Value::Mapping(Mapping::new());
    }
    let root = expected.as_mapping_mut().expect("checked by parse");
    let images = root
        .entry(Value::String("images".into()))
        .or_insert(Value::Sequence(Vec::new()));
    if images.is_null() {
        *images = Value::Sequence(Vec::new());
    }
    let seq = images.as_sequence_mut().expect("checked by the scan");
    let index = match seq
        .iter()
        .position(|e| e.get("name") == Some(&Value::String(edit.name.clone())))
    {
        Some(i) => i,
        None => {
            seq.push(Value::Mapping(Mapping::new()));
            seq.len() - 1
        }
    };
    let map = seq[index].as_mapping_mut().expect("checked by the scan");
    for (k, v) in edit.fields() {
        map.insert(Value::String(k.into()), Value::String(v.into()));
    }
    if after != expected {
        return Err(EditError::Verification(
            "the edited file reads differently than intended".into(),
        ));
    }
    Ok(())
}
