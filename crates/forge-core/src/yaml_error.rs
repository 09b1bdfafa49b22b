//! Turning YAML parse errors into "file:line:column: message (did you mean …)"
//! pieces, and placing errors found after reading ([`locate`] a YAML path),
//! shared by every strict config reader (deploy.yaml, provision specs).

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

/// One step of a path into a YAML document: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(k: &str) -> Self {
        Seg::Key(k.to_owned())
    }
}

impl From<String> for Seg {
    fn from(k: String) -> Self {
        Seg::Key(k)
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Self {
        Seg::Index(i)
    }
}

/// A piece of a block-style line: `- ` (a sequence item), `key:`, or a value.
#[derive(Debug)]
enum Tok<'t> {
    Dash,
    Key(String),
    Value(&'t str),
}

/// The tokens of block-style YAML as `(line, column, token)` (0-based),
/// skipping comments, blank lines, document markers and block scalars.
fn tokenize(text: &str) -> Vec<(usize, usize, Tok<'_>)> {
    let mut out = Vec::new();
    // Lines indented more than this belong to a `|` or `>` block scalar.
    let mut scalar_above: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match scalar_above {
            Some(s) if indent > s => continue,
            _ => scalar_above = None,
        }
        if line.starts_with("---") || line.starts_with("...") {
            continue;
        }
        let mut col = indent;
        let mut owner = indent;
        loop {
            let rest = &line[col..];
            if rest == "-" || rest.starts_with("- ") {
                out.push((i, col, Tok::Dash));
                owner = col;
                col += 1;
                col += line[col..].len() - line[col..].trim_start().len();
                if col >= line.len() || line[col..].starts_with('#') {
                    break;
                }
                continue;
            }
            if let Some((key, after)) = split_key(rest) {
                owner = col;
                out.push((i, col, Tok::Key(key)));
                col += after;
                col += line[col..].len() - line[col..].trim_start().len();
            }
            let value = strip_comment(&line[col..]);
            if !value.is_empty() {
                if value.starts_with('|') || value.starts_with('>') {
                    scalar_above = Some(owner);
                }
                out.push((i, col, Tok::Value(value)));
            }
            break;
        }
    }
    out
}

/// `key: ...` (plain or quoted key): the key and the byte length up to and
/// including its colon.
fn split_key(s: &str) -> Option<(String, usize)> {
    if let Some(q @ ('"' | '\'')) = s.chars().next() {
        let end = s[1..].find(q)? + 1;
        let after = s[end + 1..].trim_start();
        let colon = s.len() - after.len();
        let ok = after == ":" || after.starts_with(": ");
        return ok.then(|| (s[1..end].to_owned(), colon + 1));
    }
    if s.starts_with(['{', '[', '&', '*', '!', '|', '>', '%', '@', '`']) {
        return None;
    }
    let colon = s
        .match_indices(':')
        .map(|(i, _)| i)
        .find(|&i| s[i + 1..].is_empty() || s[i + 1..].starts_with([' ', '\t']))?;
    let key = s[..colon].trim_end();
    (!key.is_empty() && !key.contains(" #")).then(|| (key.to_owned(), colon + 1))
}

/// The value without a trailing ` # comment` (outside quotes) and spaces.
fn strip_comment(s: &str) -> &str {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev == ' ' || prev == '\t' => return s[..i].trim_end(),
            _ => {}
        }
        prev = c;
    }
    s.trim_end()
}

/// Splits a one-line flow collection (`{...}` or `[...]` starting at byte 0)
/// into its top-level elements as `(offset, text)`; `None` if it does not
/// close on this line.
fn flow_elements(s: &str) -> Option<Vec<(usize, &str)>> {
    let mut depth = 0usize;
    let mut quote = None;
    let mut out = Vec::new();
    let mut start = 1;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '{' | '[') => depth += 1,
            (None, '}' | ']') => {
                depth -= 1;
                if depth == 0 {
                    let last = &s[start..i];
                    if !last.trim().is_empty() {
                        out.push((start, last));
                    }
                    return Some(
                        out.into_iter()
                            .map(|(o, e)| {
                                let lead = e.len() - e.trim_start().len();
                                (o + lead, e.trim())
                            })
                            .collect(),
                    );
                }
            }
            (None, ',') if depth == 1 => {
                out.push((start, &s[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    None
}

/// Follows `path` inside a one-line flow collection starting at byte 0 of
/// `s`: the offset of the deepest element found, and how many steps it took.
fn locate_flow(s: &str, path: &[Seg]) -> (usize, usize) {
    let (Some(seg), Some(elements)) = (path.first(), flow_elements(s)) else {
        return (0, 0);
    };
    let found = match seg {
        Seg::Index(n) if s.starts_with('[') => elements.get(*n).map(|&(o, e)| (o, o, e)),
        Seg::Key(k) if s.starts_with('{') => elements.iter().find_map(|&(o, e)| {
            let (key, after) = split_key(e)?;
            (key == *k).then(|| {
                let v = after + (e.len() - after - e[after..].trim_start().len());
                (o, o + v, &e[v..])
            })
        }),
        _ => None,
    };
    match found {
        None => (0, 0),
        Some((at, value_at, value)) => {
            if value.starts_with(['{', '[']) && path.len() > 1 {
                let (o, n) = locate_flow(value, &path[1..]);
                if n > 0 {
                    return (value_at + o, n + 1);
                }
            }
            (at, 1)
        }
    }
}

/// Line and column (1-based) of the node at `path` in block-style YAML: the
/// key for a [`Seg::Key`], the `-` (or the element of a one-line `[...]`)
/// for a [`Seg::Index`]. When the path cannot be followed to its end, the
/// deepest ancestor found (the file's start when none is).
pub fn locate(text: &str, path: &[Seg]) -> (usize, usize) {
    let toks = tokenize(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut best = (1, 1);
    // The node whose children are searched: a token index, `None` for the root.
    let mut parent: Option<usize> = None;
    for (step, seg) in path.iter().enumerate() {
        let (from, parent_col) = match parent {
            None => (0, None),
            Some(p) => (p + 1, Some(toks[p].1)),
        };
        let mut children = toks[from..]
            .iter()
            .enumerate()
            .map(|(j, t)| (from + j, t))
            .take_while(
                |(_, (_, col, tok))| match (parent_col, parent.map(|p| &toks[p].2)) {
                    (None, _) => true,
                    (Some(pc), Some(Tok::Key(_))) => {
                        *col > pc || (*col == pc && matches!(tok, Tok::Dash))
                    }
                    (Some(pc), _) => *col > pc,
                },
            );
        let Some((first, &(_, child_col, _))) = children.next() else {
            break;
        };
        // A one-line flow value: look inside it.
        if let Tok::Value(v) = &toks[first].2 {
            if v.starts_with(['{', '[']) {
                let (line, col) = (toks[first].0, toks[first].1);
                let (o, n) = locate_flow(&lines[line][col..], &path[step..]);
                if n > 0 {
                    best = (line + 1, col + o + 1);
                }
            }
            break;
        }
        let direct = std::iter::once((first, &toks[first]))
            .chain(children)
            .filter(|(_, (_, col, _))| *col == child_col);
        let found = match seg {
            Seg::Key(k) => direct
                .filter(|(_, (_, _, t))| matches!(t, Tok::Key(name) if name == k))
                .map(|(j, _)| j)
                .next(),
            Seg::Index(n) => direct
                .filter(|(_, (_, _, t))| matches!(t, Tok::Dash))
                .map(|(j, _)| j)
                .nth(*n),
        };
        let Some(j) = found else { break };
        best = (toks[j].0 + 1, toks[j].1 + 1);
        parent = Some(j);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, path: &[Seg]) -> (usize, usize) {
        locate(text, path)
    }

    fn k(s: &str) -> Seg {
        Seg::from(s)
    }

    const SPEC: &str = "\
# roles first
roles:
  - name: app
    login: true

    # a comment between keys
    member_of: [readers, \"odd name\"]
  - name: readers
  -
    name: third
databases:
- name: app   # same indent as the key
  grants:
    - {role: readers, privileges: [CONNECT, CREATE]}
  schemas:
    - name: api
      grants:
        - role: app
          tables: [SELECT]
note: |
  roles:
    - name: not-a-key
\"quoted key\": 1
";

    #[test]
    fn locates_keys_and_indexes() {
        assert_eq!(at(SPEC, &[k("roles")]), (2, 1));
        assert_eq!(at(SPEC, &[k("roles"), 0.into()]), (3, 3));
        assert_eq!(at(SPEC, &[k("roles"), 0.into(), k("name")]), (3, 5));
        assert_eq!(at(SPEC, &[k("roles"), 0.into(), k("member_of")]), (7, 5));
        assert_eq!(at(SPEC, &[k("roles"), 1.into(), k("name")]), (8, 5));
        // `-` alone on its line, the mapping below it.
        assert_eq!(at(SPEC, &[k("roles"), 2.into()]), (9, 3));
        assert_eq!(at(SPEC, &[k("roles"), 2.into(), k("name")]), (10, 5));
        assert_eq!(at(SPEC, &[k("quoted key")]), (23, 1));
        assert_eq!(at(SPEC, &[k("note")]), (20, 1));
    }

    #[test]
    fn locates_nested_paths_and_sequences_at_the_key_indent() {
        assert_eq!(at(SPEC, &[k("databases"), 0.into(), k("name")]), (12, 3));
        assert_eq!(
            at(
                SPEC,
                &[
                    k("databases"),
                    0.into(),
                    k("schemas"),
                    0.into(),
                    k("grants"),
                    0.into(),
                    k("tables")
                ]
            ),
            (19, 11)
        );
        assert_eq!(
            at(
                SPEC,
                &[
                    k("databases"),
                    0.into(),
                    k("schemas"),
                    0.into(),
                    k("grants"),
                    0.into()
                ]
            ),
            (18, 9)
        );
    }

    #[test]
    fn looks_inside_one_line_flow_collections() {
        assert_eq!(
            at(SPEC, &[k("roles"), 0.into(), k("member_of"), 0.into()]),
            (7, 17)
        );
        assert_eq!(
            at(SPEC, &[k("roles"), 0.into(), k("member_of"), 1.into()]),
            (7, 26)
        );
        let grant = [k("databases"), 0.into(), k("grants"), 0.into()];
        assert_eq!(at(SPEC, &grant), (14, 5));
        assert_eq!(at(SPEC, &[&grant[..], &[k("role")]].concat()), (14, 8));
        assert_eq!(
            at(SPEC, &[&grant[..], &[k("privileges"), 1.into()]].concat()),
            (14, 45)
        );
        let flow = "roles:\n  - {name: a, member_of: [a, {x: [1, 2]}]}\n";
        assert_eq!(
            at(
                flow,
                &[
                    k("roles"),
                    0.into(),
                    k("member_of"),
                    1.into(),
                    k("x"),
                    1.into()
                ]
            ),
            (2, 38)
        );
    }

    #[test]
    fn falls_back_to_the_deepest_ancestor_found() {
        // Past the end of a sequence, an unknown key, inside a scalar.
        assert_eq!(at(SPEC, &[k("roles"), 7.into(), k("name")]), (2, 1));
        assert_eq!(at(SPEC, &[k("roles"), 0.into(), k("password")]), (3, 3));
        assert_eq!(
            at(SPEC, &[k("roles"), 0.into(), k("member_of"), 5.into()]),
            (7, 5)
        );
        assert_eq!(
            at(SPEC, &[k("roles"), 0.into(), k("login"), k("x")]),
            (4, 5)
        );
        // The block scalar's text is not YAML structure.
        assert_eq!(at(SPEC, &[k("note"), k("roles")]), (20, 1));
        // A flow collection spread over lines is not looked into.
        let multi = "a:\n  b: {c: 1,\n     d: 2}\n";
        assert_eq!(at(multi, &[k("a"), k("b"), k("d")]), (2, 3));
        assert_eq!(at(SPEC, &[k("nothing")]), (1, 1));
        assert_eq!(at("", &[k("roles"), 0.into()]), (1, 1));
        assert_eq!(at(SPEC, &[]), (1, 1));
    }

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
