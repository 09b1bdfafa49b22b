//! Flow style on one line: `images: [{name: app, newTag: v1}]` and
//! `- {name: app, newTag: v1}`. Values are edited in place, a missing key is
//! appended before the `}`, a new entry before the `]`. A flow collection
//! spanning several lines is refused.

use super::syntax::{quoted_len, skip_spaces, Entry, FlowInsert, KeyValue, Line, Style};
use super::EditError;

fn multi_line(line: usize, col: usize) -> EditError {
    EditError::at(
        line,
        col,
        "flow-style `{...}` or `[...]` spanning several lines is not supported; \
         write `images:` in block style (one `- name: ...` entry per line)",
    )
}

/// The `{...}` mapping at byte `col` of line `i`; also returns the column
/// just after its `}`.
pub fn flow_map(lines: &[Line<'_>], i: usize, col: usize) -> Result<(Entry, usize), EditError> {
    let line = lines[i];
    let s = line.content;
    let byte = |p: usize| s.as_bytes().get(p).copied();
    let mut p = col + 1;
    let mut keys = Vec::new();
    loop {
        p = skip_spaces(s, p).0;
        match byte(p) {
            Some(b'}') => break,
            None | Some(b'#') => return Err(multi_line(i, col)),
            _ => {}
        }
        let colon = s[p..]
            .find(':')
            .map(|c| p + c)
            .ok_or_else(|| multi_line(i, col))?;
        let key = s[p..colon].trim();
        if key.is_empty() || key.contains([',', '{', '}', '[', ']', '"', '\'']) {
            return Err(EditError::at(
                i,
                p,
                "unsupported key in a flow-style image entry",
            ));
        }
        let (vstart, rest) = skip_spaces(s, colon + 1);
        let (len, style, value) = match rest.as_bytes().first() {
            Some(b'\'') => {
                let len = quoted_len(rest, '\'').ok_or_else(|| multi_line(i, col))?;
                (len, Style::Single, rest[1..len - 1].replace("''", "'"))
            }
            Some(b'"') => {
                let len = quoted_len(rest, '"').ok_or_else(|| multi_line(i, col))?;
                let value: String = serde_yaml_ng::from_str(&rest[..len])
                    .map_err(|_| EditError::at(i, vstart, "unsupported quoted value"))?;
                (len, Style::Double, value)
            }
            _ => {
                let end = rest.find([',', '}']).ok_or_else(|| multi_line(i, col))?;
                let v = rest[..end].trim_end();
                if v.starts_with(['&', '*', '!', '{', '[']) {
                    return Err(EditError::at(
                        i,
                        vstart,
                        "unsupported value in a flow-style image entry",
                    ));
                }
                (v.len(), Style::Plain, v.to_owned())
            }
        };
        keys.push(KeyValue {
            key: key.to_owned(),
            value_start: line.start + vstart,
            value_end: line.start + vstart + len,
            style,
            value,
            last_line: i,
        });
        p = skip_spaces(s, vstart + len).0;
        match byte(p) {
            Some(b',') => p += 1,
            Some(b'}') => break,
            None => return Err(multi_line(i, col)),
            _ => {
                return Err(EditError::at(
                    i,
                    p,
                    "expected `,` or `}` in a flow-style image entry",
                ))
            }
        }
    }
    let insert = FlowInsert {
        at: keys.last().map_or(line.start + p, |kv| kv.value_end),
        empty: keys.is_empty(),
    };
    let entry = Entry {
        dash_line: i,
        key_indent: col,
        keys,
        last_line: i,
        flow: Some(insert),
    };
    Ok((entry, p + 1))
}

/// The `[{...}, ...]` list at byte `col` of line `i`, which must end on that
/// line: its entries and where a new entry goes.
pub fn flow_list(
    lines: &[Line<'_>],
    i: usize,
    col: usize,
) -> Result<(Vec<Entry>, FlowInsert), EditError> {
    let line = lines[i];
    let s = line.content;
    let mut p = col + 1;
    let mut entries = Vec::new();
    let mut after_last = line.start + p;
    loop {
        p = skip_spaces(s, p).0;
        match s.as_bytes().get(p) {
            Some(b']') => break,
            Some(b'{') => {
                let (entry, next) = flow_map(lines, i, p)?;
                entries.push(entry);
                after_last = line.start + next;
                p = skip_spaces(s, next).0;
                match s.as_bytes().get(p) {
                    Some(b',') => p += 1,
                    Some(b']') => break,
                    None => return Err(multi_line(i, col)),
                    _ => {
                        return Err(EditError::at(
                            i,
                            p,
                            "expected `,` or `]` in `images: [...]`",
                        ))
                    }
                }
            }
            None | Some(b'#') => return Err(multi_line(i, col)),
            _ => return Err(EditError::at(i, p, "image entry is not a mapping")),
        }
    }
    let rest = s[p + 1..].trim_start();
    if !(rest.is_empty() || rest.starts_with('#')) {
        return Err(EditError::at(
            i,
            p + 1,
            "unexpected content after `images: [...]`",
        ));
    }
    let insert = FlowInsert {
        at: after_last,
        empty: entries.is_empty(),
    };
    Ok((entries, insert))
}
