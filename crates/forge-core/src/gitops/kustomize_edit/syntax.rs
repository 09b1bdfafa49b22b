//! The vocabulary both halves of the scanner share (block layouts in
//! `scan`, flow collections in `flow`): lines, entries, keys and their value
//! spans, and the small lexing helpers.

/// One line of the text, without its line ending.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// Byte offset of the line's first character.
    pub start: usize,
    pub content: &'a str,
    /// `\n`, `\r\n` or empty for a last line without one.
    pub eol: &'a str,
}

impl Line<'_> {
    pub fn indent(&self) -> usize {
        self.content.len() - self.content.trim_start_matches(' ').len()
    }

    /// Blank or a comment only.
    pub fn is_trivia(&self) -> bool {
        let t = self.content.trim_start();
        t.is_empty() || t.starts_with('#')
    }

    /// Byte offset just past the line ending.
    pub fn end(&self) -> usize {
        self.start + self.content.len() + self.eol.len()
    }

    /// `- x` or a lone `-` at column `indent`.
    pub fn dash_at(&self, indent: usize) -> bool {
        self.indent() == indent && is_dash(&self.content[indent..])
    }
}

pub fn is_dash(s: &str) -> bool {
    s == "-" || s.starts_with("- ")
}

pub fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for raw in text.split_inclusive('\n') {
        let (content, eol) = if let Some(c) = raw.strip_suffix("\r\n") {
            (c, "\r\n")
        } else if let Some(c) = raw.strip_suffix('\n') {
            (c, "\n")
        } else {
            (raw, "")
        };
        out.push(Line {
            start,
            content,
            eol,
        });
        start += raw.len();
    }
    out
}

/// How a scalar was written, so a new value is written the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Single,
    Double,
}

/// A `key: value` on one line.
#[derive(Debug, Clone)]
pub struct KeyValue {
    pub key: String,
    /// Byte span of the value in the whole text (empty for a null value).
    pub value_start: usize,
    pub value_end: usize,
    pub style: Style,
    /// The value as the YAML parser reads it (for a plain scalar: its text).
    pub value: String,
    /// Last line of the key's value (continuation lines included).
    pub last_line: usize,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub dash_line: usize,
    /// Column of the entry's keys.
    pub key_indent: usize,
    pub keys: Vec<KeyValue>,
    /// Last non-trivia line of the entry.
    pub last_line: usize,
    /// For a flow-style entry (`{name: app}`): where keys are appended.
    pub flow: Option<FlowInsert>,
}

impl Entry {
    pub fn get(&self, key: &str) -> Option<&KeyValue> {
        self.keys.iter().find(|k| k.key == key)
    }
}

/// Where keys (or entries) are appended to a flow collection.
#[derive(Debug, Clone, Copy)]
pub struct FlowInsert {
    /// Byte offset in the whole text (after the last item, or just inside
    /// the bracket when the collection is empty).
    pub at: usize,
    pub empty: bool,
}

pub fn skip_spaces(s: &str, from: usize) -> (usize, &str) {
    let rest = &s[from..];
    let trimmed = rest.trim_start_matches(' ');
    (from + rest.len() - trimmed.len(), trimmed)
}

/// Length of a quoted scalar that closes on the same line, quotes included.
pub fn quoted_len(s: &str, quote: char) -> Option<usize> {
    let mut chars = s.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if quote == '"' && c == '\\' {
            chars.next();
        } else if c == quote {
            if quote == '\'' && matches!(chars.peek(), Some((_, '\''))) {
                chars.next();
            } else {
                return Some(i + 1);
            }
        }
    }
    None
}
