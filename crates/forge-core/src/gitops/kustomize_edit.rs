//! `kustomize set-image` as a text edit: only the bytes of the values that
//! change are touched, so comments, key order, quoting, indentation, line
//! endings and Flux `# {"$imagepolicy": ...}` markers survive byte for byte
//! (`kustomize edit set image` reformats the file and drops inline comments).
//!
//! Rules:
//! - Only the `images:` entry whose `name` equals the given name exactly is
//!   edited; entries with similar names (`app` vs `app-worker`) are left alone.
//! - Only the given fields are written; nothing is removed. With a tag and a
//!   digest both are kept: kustomize renders `name:tag@digest`, the runtime
//!   pulls by digest ("tag for humans, digest for truth").
//! - A missing key is inserted after its predecessor in kustomize's order
//!   (name, newName, newTag, digest), at the entry's indentation; a missing
//!   entry (or `images:` section) is appended in the document's list style,
//!   unless adding is forbidden.
//! - Flow style on one line (`images: [{name: app, newTag: v1}]`,
//!   `- {name: app}`) is edited in place: missing keys go before the `}`,
//!   a new entry before the `]`. `images: []` becomes a block list. Flow
//!   collections over several lines are refused with a clear error.
//! - The result is parsed again and compared with the intended document; any
//!   difference is an error, never a write.
//! - A leading byte order mark is kept; text that is not UTF-8 is an error
//!   at its first invalid byte ([`decode`]); input past
//!   [`YamlLimits::CONFIG`] is refused before parsing.

mod check;
mod flow;
mod scan;
mod syntax;

use check::{check_scan_matches, parse, validate_edit, verify};
pub use check::{images_list, is_valid_digest, is_valid_tag};
use scan::{Entry, ImagesValue, Line, Style};
use serde_yaml_ng::Value;

use crate::yaml_limits::{split_bom, utf8_text, InputError, YamlLimits, BOM};

/// The fields to set on one `images:` entry.
#[derive(Debug, Clone, Default)]
pub struct ImageEdit {
    /// The entry's `name`: the image as the base manifests spell it.
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
    /// Whether a missing entry may be added.
    pub allow_add: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EditAction {
    Unchanged,
    Updated,
    Added,
}

#[derive(Debug, Clone)]
pub struct EditOutcome {
    pub text: String,
    pub action: EditAction,
    /// Things the user should know (e.g. a digest that overrides a new tag).
    pub notes: Vec<String>,
}

impl EditOutcome {
    pub fn changed(&self) -> bool {
        self.action != EditAction::Unchanged
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// A problem in the file; line and column are 1-based.
    #[error("{line}:{column}: {message}")]
    At {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidArgument {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("no `images:` entry named `{0}`, and adding one is not allowed")]
    NotFound(String),
    #[error("the edit did not give the intended document ({0}); nothing was written")]
    Verification(String),
    /// Refused before parsing, with no place in the file (too large).
    #[error(transparent)]
    Input(InputError),
}

impl From<InputError> for EditError {
    fn from(e: InputError) -> Self {
        match e.location() {
            Some((line, column)) => EditError::At {
                line,
                column,
                message: e.to_string(),
            },
            None => EditError::Input(e),
        }
    }
}

impl EditError {
    /// `line` and `col` are 0-based here.
    fn at(line: usize, col: usize, message: impl Into<String>) -> Self {
        EditError::At {
            line: line + 1,
            column: col + 1,
            message: message.into(),
        }
    }
}

const FIELDS: [&str; 4] = ["name", "newName", "newTag", "digest"];

/// A kustomization's bytes as text: UTF-8, or an error at the first byte
/// that is not.
pub fn decode(bytes: &[u8]) -> Result<&str, EditError> {
    Ok(utf8_text(bytes)?)
}

/// Sets the fields of `edit` on the matching `images:` entry of `text`.
pub fn set_image(text: &str, edit: &ImageEdit) -> Result<EditOutcome, EditError> {
    validate_edit(edit)?;
    // The mark is not YAML: the edit is of what follows it, and keeps it.
    let (bom, text) = split_bom(text);
    YamlLimits::CONFIG.check(text)?;
    let before = parse(text)?;
    let lines = scan::lines(text);
    let section = scan::find_images(&lines)?;
    if let Some(section) = &section {
        check_scan_matches(&before, section)?;
    }
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let wanted = edit.fields();

    let mut patches = Vec::new();
    let mut notes = Vec::new();
    let entry = section
        .as_ref()
        .and_then(|s| find_entry(s, &edit.name).transpose());
    let action = match entry {
        Some(entry) => {
            let entry = entry?;
            update_entry(&lines, entry, &wanted, eol, &mut patches);
            if edit.new_tag.is_some() && edit.digest.is_none() {
                if let Some(d) = entry.get("digest") {
                    notes.push(format!(
                        "the entry keeps digest {}, which is what gets pulled; pass --digest too",
                        d.value
                    ));
                }
            }
            if patches.is_empty() {
                EditAction::Unchanged
            } else {
                EditAction::Updated
            }
        }
        None if !edit.allow_add => return Err(EditError::NotFound(edit.name.clone())),
        None => {
            add_entry(text, &lines, section.as_ref(), &wanted, eol, &mut patches);
            EditAction::Added
        }
    };
    let out = apply(text, patches);
    verify(&before, &out, edit)?;
    Ok(EditOutcome {
        text: if bom { format!("{BOM}{out}") } else { out },
        action,
        notes,
    })
}

impl ImageEdit {
    /// `(key, value)` pairs to set, in kustomize's key order.
    fn fields(&self) -> Vec<(&'static str, &str)> {
        let values = [
            Some(self.name.as_str()),
            self.new_name.as_deref(),
            self.new_tag.as_deref(),
            self.digest.as_deref(),
        ];
        FIELDS
            .iter()
            .zip(values)
            .filter_map(|(k, v)| v.map(|v| (*k, v)))
            .collect()
    }
}

fn find_entry<'s>(
    section: &'s scan::ImagesSection,
    name: &str,
) -> Result<Option<&'s Entry>, EditError> {
    let mut found = section
        .entries
        .iter()
        .filter(|e| e.get("name").is_some_and(|kv| kv.value == name));
    let first = found.next();
    if let (Some(a), Some(b)) = (first, found.next()) {
        return Err(EditError::at(
            b.dash_line,
            b.key_indent,
            format!(
                "image `{name}` is listed twice (also at line {})",
                a.dash_line + 1
            ),
        ));
    }
    Ok(first)
}

/// A replacement of `start..end` by `text`.
struct Patch {
    start: usize,
    end: usize,
    text: String,
}

fn apply(text: &str, mut patches: Vec<Patch>) -> String {
    patches.sort_by_key(|p| (p.start, p.end));
    let mut out = String::with_capacity(text.len() + 128);
    let mut at = 0;
    for p in patches {
        out.push_str(&text[at..p.start]);
        out.push_str(&p.text);
        at = p.end;
    }
    out.push_str(&text[at..]);
    out
}

/// Text inserted after `line` (which may lack a line ending).
fn insert_after(line: &Line<'_>, new_lines: &[String], eol: &str) -> Patch {
    let mut text = String::new();
    let end = line.end();
    if line.eol.is_empty() {
        for l in new_lines {
            text.push_str(eol);
            text.push_str(l);
        }
    } else {
        for l in new_lines {
            text.push_str(l);
            text.push_str(eol);
        }
    }
    Patch {
        start: end,
        end,
        text,
    }
}

fn update_entry(
    lines: &[Line<'_>],
    entry: &Entry,
    wanted: &[(&'static str, &str)],
    eol: &str,
    patches: &mut Vec<Patch>,
) {
    let style = entry.get("name").map_or(Style::Plain, |kv| kv.style);
    let flow = entry.flow.is_some();
    // `, key: value` appended to a flow-style entry.
    let mut flow_keys = String::new();
    // Missing keys grouped by the line they go after.
    let mut inserts: Vec<(usize, Vec<String>)> = Vec::new();
    for &(key, value) in wanted {
        if let Some(kv) = entry.get(key) {
            if kv.value != value {
                // `key:` with no value gets a space before the new one.
                let space = if kv.value_start == kv.value_end {
                    " "
                } else {
                    ""
                };
                patches.push(Patch {
                    start: kv.value_start,
                    end: kv.value_end,
                    text: format!("{space}{}", render(value, kv.style, flow)),
                });
            }
            continue;
        }
        if let Some(insert) = entry.flow {
            if !(insert.empty && flow_keys.is_empty()) {
                flow_keys.push_str(", ");
            }
            flow_keys.push_str(&format!("{key}: {}", render(value, style, true)));
            continue;
        }
        let pos = FIELDS.iter().position(|f| *f == key).expect("known field");
        let anchor = FIELDS[..pos]
            .iter()
            .rev()
            .find_map(|f| entry.get(f))
            .map_or(entry.last_line, |kv| kv.last_line);
        let line = format!(
            "{}{key}: {}",
            " ".repeat(entry.key_indent),
            render(value, style, false)
        );
        match inserts.iter_mut().find(|(a, _)| *a == anchor) {
            Some((_, group)) => group.push(line),
            None => inserts.push((anchor, vec![line])),
        }
    }
    for (anchor, group) in inserts {
        patches.push(insert_after(&lines[anchor], &group, eol));
    }
    if let Some(insert) = entry.flow.filter(|_| !flow_keys.is_empty()) {
        patches.push(Patch {
            start: insert.at,
            end: insert.at,
            text: flow_keys,
        });
    }
}

fn add_entry(
    text: &str,
    lines: &[Line<'_>],
    section: Option<&scan::ImagesSection>,
    wanted: &[(&'static str, &str)],
    eol: &str,
    patches: &mut Vec<Patch>,
) {
    let (dash, keys, style) = match section.and_then(|s| s.entries.first().map(|e| (s, e))) {
        Some((s, first)) => (
            s.dash_indent.unwrap_or(0),
            first.key_indent,
            first.get("name").map_or(Style::Plain, |kv| kv.style),
        ),
        None => {
            let d = scan::preferred_list_indent(lines);
            (d, d + 2, Style::Plain)
        }
    };
    if let Some(ImagesValue::FlowList(insert)) = section.map(|s| &s.value) {
        let pairs: Vec<String> = wanted
            .iter()
            .map(|(k, v)| format!("{k}: {}", render(v, style, true)))
            .collect();
        let comma = if insert.empty { "" } else { ", " };
        patches.push(Patch {
            start: insert.at,
            end: insert.at,
            text: format!("{comma}{{{}}}", pairs.join(", ")),
        });
        return;
    }
    let mut entry: Vec<String> = wanted
        .iter()
        .map(|(k, v)| format!("{}{k}: {}", " ".repeat(keys), render(v, style, false)))
        .collect();
    entry[0] = format!("{}- {}", " ".repeat(dash), &entry[0][keys..]);
    match section {
        Some(s) => {
            if let ImagesValue::EmptyInline { start, end } = s.value {
                // `images: []  # c` becomes `images:  # c`, then the list.
                let start = text[..start].trim_end_matches(' ').len();
                patches.push(Patch {
                    start,
                    end,
                    text: String::new(),
                });
            }
            patches.push(insert_after(&lines[s.last_line], &entry, eol));
        }
        None => {
            entry.insert(0, "images:".to_owned());
            match lines.iter().rposition(|l| !l.content.trim().is_empty()) {
                Some(last) => patches.push(insert_after(&lines[last], &entry, eol)),
                None => patches.push(Patch {
                    start: text.len(),
                    end: text.len(),
                    text: entry.iter().map(|l| format!("{l}{eol}")).collect(),
                }),
            }
        }
    }
}

/// Writes `value` in `style`, falling back to double quotes when a plain
/// scalar would not read back as the same string (`1.0`, `true`, `a #b`).
/// In a flow collection (`flow`), `,[]{}` need quotes too.
fn render(value: &str, style: Style, flow: bool) -> String {
    let flow_safe = !flow || !value.contains([',', '[', ']', '{', '}']);
    match style {
        Style::Plain if flow_safe && reads_back_plain(value) => value.to_owned(),
        Style::Single => format!("'{}'", value.replace('\'', "''")),
        Style::Plain | Style::Double => {
            format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
        }
    }
}

fn reads_back_plain(value: &str) -> bool {
    let doc = format!("k: {value}\n");
    matches!(
        serde_yaml_ng::from_str::<Value>(&doc),
        Ok(Value::Mapping(m)) if m.get("k") == Some(&Value::String(value.to_owned())) && m.len() == 1
    )
}

/// A unified diff of `old` and `new` with 3 lines of context, labelled
/// `a/path` and `b/path` (just `path` when it is absolute).
pub fn unified_diff(old: &str, new: &str, path: &str) -> String {
    let (a, b) = if path.starts_with('/') {
        (path.to_owned(), path.to_owned())
    } else {
        (format!("a/{path}"), format!("b/{path}"))
    };
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&a, &b)
        .to_string()
}
