//! A line scanner for the `images:` section of a kustomization: it finds
//! entries, keys and the byte span of each scalar value, so the editor can
//! replace exactly those bytes and leave everything else alone.
//!
//! It understands the block layouts people write (2 or 4 spaces, the list
//! indented or not under `images:`, plain, single- or double-quoted scalars,
//! trailing comments, CRLF). Anything else is reported as unsupported; the
//! editor also checks its result with a real YAML parser.

use super::flow::{flow_list, flow_map};
use super::syntax::{is_dash, quoted_len, skip_spaces, FlowInsert};
pub use super::syntax::{lines, Entry, KeyValue, Line, Style};
use super::EditError;

#[derive(Debug)]
pub enum ImagesValue {
    /// `images:` followed by a block list (possibly empty, i.e. null).
    Block,
    /// `images: []`, `images: ~` or `images: null`: span of that value.
    EmptyInline { start: usize, end: usize },
    /// `images: [{...}, ...]` on one line.
    FlowList(FlowInsert),
}

#[derive(Debug)]
pub struct ImagesSection {
    pub key_line: usize,
    pub value: ImagesValue,
    pub entries: Vec<Entry>,
    /// Column of the entries' dashes, if there is any entry.
    pub dash_indent: Option<usize>,
    /// Last non-trivia line of the section (the key line when empty).
    pub last_line: usize,
}

/// Finds the top-level `images:` key, if any.
pub fn find_images(lines: &[Line<'_>]) -> Result<Option<ImagesSection>, EditError> {
    let Some(key_line) = lines
        .iter()
        .position(|l| top_level_key(l.content) == Some("images"))
    else {
        return Ok(None);
    };
    let line = lines[key_line];
    let after = "images:".len();
    let (rest_start, rest) = skip_spaces(line.content, after);
    let rest_trim = strip_comment(rest);
    let value = match rest_trim {
        "" => ImagesValue::Block,
        "[]" | "~" | "null" => ImagesValue::EmptyInline {
            start: line.start + rest_start,
            end: line.start + rest_start + rest_trim.len(),
        },
        v if v.starts_with('[') => {
            let (entries, insert) = flow_list(lines, key_line, rest_start)?;
            return Ok(Some(ImagesSection {
                key_line,
                value: ImagesValue::FlowList(insert),
                entries,
                dash_indent: None,
                last_line: key_line,
            }));
        }
        _ => {
            return Err(EditError::at(
                key_line,
                rest_start,
                "`images:` is not a list",
            ))
        }
    };
    let mut section = ImagesSection {
        key_line,
        value,
        entries: Vec::new(),
        dash_indent: None,
        last_line: key_line,
    };
    // The section runs until the next line at column 0 that is neither
    // trivia nor an unindented list item.
    let mut end = lines.len();
    for (i, l) in lines.iter().enumerate().skip(key_line + 1) {
        if !l.is_trivia() && l.indent() == 0 && !is_dash(l.content) {
            end = i;
            break;
        }
    }
    let body: Vec<usize> = (key_line + 1..end)
        .filter(|&i| !lines[i].is_trivia())
        .collect();
    let Some(&first) = body.first() else {
        return Ok(Some(section));
    };
    if matches!(section.value, ImagesValue::EmptyInline { .. }) {
        return Err(EditError::at(
            first,
            lines[first].indent(),
            "unexpected content after `images:`",
        ));
    }
    let dash_indent = lines[first].indent();
    if !lines[first].dash_at(dash_indent) {
        return Err(EditError::at(first, dash_indent, "`images:` is not a list"));
    }
    section.dash_indent = Some(dash_indent);
    section.last_line = *body.last().expect("non-empty");
    let starts: Vec<usize> = body
        .iter()
        .copied()
        .filter(|&i| lines[i].dash_at(dash_indent))
        .collect();
    for (n, &start) in starts.iter().enumerate() {
        let stop = starts.get(n + 1).copied().unwrap_or(section.last_line + 1);
        section
            .entries
            .push(scan_entry(lines, start, stop, dash_indent)?);
    }
    Ok(Some(section))
}

/// The column-0 plain key of a line, if it is one.
pub fn top_level_key(content: &str) -> Option<&str> {
    if content.starts_with([' ', '#', '-', '%', '\'', '"', '{', '[']) || content.starts_with("...")
    {
        return None;
    }
    let colon = key_colon(content)?;
    Some(&content[..colon])
}

/// Index of the `:` ending a plain key at the start of `s`.
fn key_colon(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1] == b' ') {
            return None;
        }
        if b == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') {
            return (i > 0).then_some(i);
        }
    }
    None
}

/// `s` without a trailing ` # comment` and trailing spaces (plain scalars only).
fn strip_comment(s: &str) -> &str {
    if s.starts_with('#') {
        return "";
    }
    match s.find(" #") {
        Some(i) => s[..i].trim_end(),
        None => s.trim_end(),
    }
}

fn scan_entry(
    lines: &[Line<'_>],
    dash_line: usize,
    stop: usize,
    dash_indent: usize,
) -> Result<Entry, EditError> {
    let dash = lines[dash_line];
    let (after_dash, rest) = skip_spaces(dash.content, dash_indent + 1);
    let content_lines: Vec<usize> = (dash_line + 1..stop)
        .filter(|&i| !lines[i].is_trivia())
        .collect();
    let (key_indent, mut key_lines) = if rest.is_empty() || rest.starts_with('#') {
        let Some(&next) = content_lines.first() else {
            return Err(EditError::at(
                dash_line,
                dash_indent,
                "image entry without `name`",
            ));
        };
        (lines[next].indent(), vec![])
    } else {
        if rest.starts_with('{') {
            let (entry, after) = flow_map(lines, dash_line, after_dash)?;
            let tail = dash.content[after..].trim_start();
            if !(tail.is_empty() || tail.starts_with('#')) || !content_lines.is_empty() {
                return Err(EditError::at(
                    dash_line,
                    after_dash,
                    "unsupported layout of a flow-style image entry (it must be the whole line)",
                ));
            }
            return Ok(entry);
        }
        (after_dash, vec![dash_line])
    };
    key_lines.extend(
        content_lines
            .iter()
            .copied()
            .filter(|&i| lines[i].indent() == key_indent),
    );
    let last_line = content_lines.last().copied().unwrap_or(dash_line);
    let mut keys = Vec::new();
    for (n, &i) in key_lines.iter().enumerate() {
        let next_key = key_lines.get(n + 1).copied().unwrap_or(last_line + 1);
        let kv_last = (i..next_key)
            .rev()
            .find(|&j| !lines[j].is_trivia())
            .unwrap_or(i);
        keys.push(scan_key_value(lines, i, key_indent, kv_last)?);
    }
    Ok(Entry {
        dash_line,
        key_indent,
        keys,
        last_line,
        flow: None,
    })
}

fn scan_key_value(
    lines: &[Line<'_>],
    i: usize,
    col: usize,
    last_line: usize,
) -> Result<KeyValue, EditError> {
    let line = lines[i];
    let s = &line.content[col..];
    let Some(colon) = key_colon(s) else {
        return Err(EditError::at(
            i,
            col,
            "expected `key: value` in an image entry",
        ));
    };
    let key = s[..colon].to_owned();
    let (vstart, rest) = skip_spaces(line.content, col + colon + 1);
    let (len, style, value) = if rest.starts_with('\'') {
        let len = quoted_len(rest, '\'').ok_or_else(|| unsupported(i, vstart, &key))?;
        (len, Style::Single, rest[1..len - 1].replace("''", "'"))
    } else if rest.starts_with('"') {
        let len = quoted_len(rest, '"').ok_or_else(|| unsupported(i, vstart, &key))?;
        let value: String =
            serde_yaml_ng::from_str(&rest[..len]).map_err(|_| unsupported(i, vstart, &key))?;
        (len, Style::Double, value)
    } else {
        let v = strip_comment(rest);
        if v.starts_with(['&', '*', '!', '|', '>', '{', '[', '@', '`'])
            && matches!(key.as_str(), "name" | "newName" | "newTag" | "digest")
        {
            return Err(unsupported(i, vstart, &key));
        }
        (v.len(), Style::Plain, v.to_owned())
    };
    // A null value is replaced right after the colon.
    let vstart = if len == 0 { col + colon + 1 } else { vstart };
    Ok(KeyValue {
        key,
        value_start: line.start + vstart,
        value_end: line.start + vstart + len,
        style,
        value,
        last_line,
    })
}

fn unsupported(line: usize, col: usize, key: &str) -> EditError {
    EditError::at(
        line,
        col,
        format!("the value of `{key}` is written in a way this editor does not support (multi-line, anchor, alias or tag)"),
    )
}

/// The list indentation this document already uses for top-level block
/// lists (`resources:` and friends): 0 when the dashes sit under the key.
pub fn preferred_list_indent(lines: &[Line<'_>]) -> usize {
    for (i, l) in lines.iter().enumerate() {
        if top_level_key(l.content).is_none() {
            continue;
        }
        let colon = key_colon(l.content).expect("a key line");
        if !strip_comment(l.content[colon + 1..].trim_start()).is_empty() {
            continue;
        }
        if let Some(next) = lines[i + 1..].iter().find(|n| !n.is_trivia()) {
            let indent = next.indent();
            if is_dash(&next.content[indent..]) {
                return indent;
            }
        }
    }
    0
}
