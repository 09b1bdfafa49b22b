//! What Forge's YAML readers accept before the parser sees the text: UTF-8
//! (a leading byte order mark is fine), at most so many bytes, nested at most
//! so deep. deploy.yaml, kustomizations and `forge health` manifests all go
//! through here.
//!
//! Why a pre-scan: the parser's time grows with size × nesting depth
//! (libyaml revisits every open flow level for each token: 200 KB of `[`
//! took 78 s) and its memory with size (the event list and the value tree,
//! some 50× the text), so both are refused by one linear pass over the text
//! before any parsing work is done. The depth is counted from the text, not
//! the grammar: flow brackets outside quotes, comments and block scalars,
//! plus block indentation levels and `- ` items. It can differ from the
//! parser's count by a level or so, which does not matter for a limit far
//! above what real files use.

use crate::byte_size::human_bytes;

/// How much YAML a reader takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YamlLimits {
    pub max_bytes: usize,
    pub max_depth: usize,
    /// What the limits are for, in errors: "a configuration file".
    pub what: &'static str,
}

impl YamlLimits {
    /// deploy.yaml and kustomizations: written by people, a few KiB, a
    /// dozen levels deep at most.
    pub const CONFIG: Self = Self {
        max_bytes: 1 << 20,
        max_depth: 64,
        what: "a configuration file",
    };

    /// Manifests with status (`kubectl get … -o yaml`): 32 MiB is some
    /// 20,000 pods (and ~800 MB while parsing); CRD schemas nest deeply, and
    /// 128 levels is where the YAML deserializer stops anyway.
    pub const MANIFEST: Self = Self {
        max_bytes: 32 << 20,
        max_depth: 128,
        what: "a manifest",
    };

    /// Size first, then nesting depth.
    pub fn check(&self, text: &str) -> Result<(), InputError> {
        if text.len() > self.max_bytes {
            return Err(InputError::TooLarge {
                max: self.max_bytes,
                what: self.what,
            });
        }
        let mut scan = DepthScan::default();
        for (n, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if let Some(col) = scan.line(line, self.max_depth) {
                return Err(InputError::TooDeep {
                    line: n + 1,
                    column: line[..col].chars().count() + 1,
                    max: self.max_depth,
                    what: self.what,
                });
            }
        }
        Ok(())
    }
}

/// Input refused before parsing. The message leaves out the location
/// ([`InputError::location`]), so each reader can put it in its own format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("larger than {}, the most Forge reads from {what}", human_bytes(*.max as u64))]
    TooLarge { max: usize, what: &'static str },
    #[error("nested more than {max} levels deep, the most Forge reads from {what}")]
    TooDeep {
        line: usize,
        column: usize,
        max: usize,
        what: &'static str,
    },
    #[error("not UTF-8 (byte 0x{byte:02x}); YAML files must be UTF-8")]
    NotUtf8 {
        line: usize,
        column: usize,
        byte: u8,
    },
}

impl InputError {
    /// 1-based line and column, where there is one.
    pub fn location(&self) -> Option<(usize, usize)> {
        match *self {
            InputError::TooLarge { .. } => None,
            InputError::TooDeep { line, column, .. } | InputError::NotUtf8 { line, column, .. } => {
                Some((line, column))
            }
        }
    }
}

/// `bytes` as text, or where the first byte that is not UTF-8 is (the
/// standard library's error has only a byte offset).
pub fn utf8_text(bytes: &[u8]) -> Result<&str, InputError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        // The prefix is valid UTF-8, so its last line counts in characters.
        let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let last_line = std::str::from_utf8(&valid[line_start..]).unwrap_or_default();
        InputError::NotUtf8 {
            line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
            column: last_line.chars().count() + 1,
            byte: bytes[e.valid_up_to()],
        }
    })
}

pub const BOM: char = '\u{feff}';

/// `text` without its byte order mark, and whether it had one (an editor
/// that writes the file back keeps it).
pub fn split_bom(text: &str) -> (bool, &str) {
    match text.strip_prefix(BOM) {
        Some(rest) => (true, rest),
        None => (false, text),
    }
}

/// The nesting state carried from line to line.
#[derive(Debug, Default)]
struct DepthScan {
    /// Columns of the open block nodes (indentation levels and `- ` items).
    block: Vec<usize>,
    /// Open `[` and `{`.
    flow: usize,
    /// The quote of a quoted scalar that continues on the next line.
    quote: Option<u8>,
    /// While in a block scalar (`|`, `>`): the column its lines are indented past.
    block_scalar: Option<usize>,
}

impl DepthScan {
    fn depth(&self) -> usize {
        self.block.len() + self.flow
    }

    /// Scans one line (without its line ending); the byte column where the
    /// nesting went past `max`, if it did.
    fn line(&mut self, line: &str, max: usize) -> Option<usize> {
        let bytes = line.as_bytes();
        let indent = bytes.iter().take_while(|&&b| b == b' ').count();
        let rest = &line[indent..];
        if let Some(owner) = self.block_scalar {
            if rest.trim().is_empty() || indent > owner {
                return None;
            }
            self.block_scalar = None;
        }
        let mut i = 0;
        if self.quote.is_none() && self.flow == 0 {
            if rest.trim().is_empty() || rest.starts_with('#') || line.starts_with('%') {
                return None;
            }
            let marker = (line.starts_with("---") || line.starts_with("..."))
                && matches!(bytes.get(3), None | Some(b' ' | b'\t'));
            if marker {
                self.block.clear();
                i = 3;
            } else {
                while self.block.last().is_some_and(|&c| c >= indent) {
                    self.block.pop();
                }
                self.block.push(indent);
                if self.depth() > max {
                    return Some(indent);
                }
                i = indent;
            }
        }
        // Whether a node may start here (where `[`, `{`, quotes and block
        // scalar indicators mean something).
        let mut node_start = true;
        // After a block `- `: the next node is one level deeper.
        let mut item = false;
        let mut after_blank = true;
        // Column of the current token, and of the innermost key or `- ` (a
        // block scalar's lines are indented past it).
        let (mut token, mut owner) = (indent, indent);
        while i < bytes.len() {
            let b = bytes[i];
            if let Some(q) = self.quote {
                match b {
                    b'\\' if q == b'"' => i += 1,
                    b'\'' if q == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 1,
                    _ if b == q => self.quote = None,
                    _ => {}
                }
                i += 1;
                continue;
            }
            if b == b' ' || b == b'\t' {
                after_blank = true;
                i += 1;
                continue;
            }
            if b == b'#' && after_blank {
                break;
            }
            after_blank = false;
            let blank_next = bytes.get(i + 1).is_none_or(|c| matches!(c, b' ' | b'\t'));
            if self.flow > 0 {
                // Plain scalars cannot hold these in flow context.
                match b {
                    b'[' | b'{' => {
                        self.flow += 1;
                        if self.depth() > max {
                            return Some(i);
                        }
                        node_start = true;
                    }
                    b']' | b'}' => {
                        self.flow -= 1;
                        node_start = false;
                    }
                    b',' | b':' => node_start = true,
                    b'\'' | b'"' if node_start => {
                        self.quote = Some(b);
                        node_start = false;
                    }
                    _ => node_start = false,
                }
                i += 1;
                continue;
            }
            if node_start {
                if item {
                    item = false;
                    self.block.push(i);
                    if self.depth() > max {
                        return Some(i);
                    }
                }
                match b {
                    b'-' | b'?' if blank_next => {
                        owner = i;
                        item = true;
                        i += 1;
                        continue;
                    }
                    b'[' | b'{' => {
                        self.flow += 1;
                        if self.depth() > max {
                            return Some(i);
                        }
                        i += 1;
                        continue;
                    }
                    b'|' | b'>' => {
                        self.block_scalar = Some(owner);
                        break;
                    }
                    b'&' | b'!' => {
                        // An anchor or tag: the node itself follows.
                        while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t') {
                            i += 1;
                        }
                        continue;
                    }
                    b'\'' | b'"' => self.quote = Some(b),
                    _ => {}
                }
                node_start = false;
                token = i;
            } else if b == b':' && blank_next {
                node_start = true;
                owner = token;
            }
            i += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_error(text: &str, max: usize) -> Option<(usize, usize)> {
        let limits = YamlLimits {
            max_bytes: usize::MAX,
            max_depth: max,
            what: "a test",
        };
        match limits.check(text) {
            Ok(()) => None,
            Err(e @ InputError::TooDeep { .. }) => e.location(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn nested_flow_brackets_are_refused_where_they_pass_the_limit() {
        let text = format!("a: 1\nb: {}\n", "[".repeat(200_000));
        // `b` is level 1, the 64th bracket makes 65.
        assert_eq!(depth_error(&text, 64), Some((2, 67)));
        assert_eq!(depth_error("a: [[[[1]]]]\n", 5), None);
        assert_eq!(depth_error("a: [[[[[1]]]]]\n", 5), Some((1, 8)));
        // JSON is flow style.
        assert_eq!(
            depth_error("{\"a\": {\"b\": [{\"c\": [1]}]}}", 5),
            Some((1, 20))
        );
    }

    #[test]
    fn block_indentation_and_items_count_as_levels() {
        let deep: String = (0..70)
            .map(|n| format!("{}k{n}:\n", " ".repeat(n)))
            .collect();
        assert_eq!(depth_error(&deep, 64), Some((65, 65)));
        let items = format!("{}x\n", "- ".repeat(100));
        assert!(depth_error(&items, 64).is_some());
        // Siblings and dedents do not add up.
        let flat =
            "a:\n  b:\n    c: 1\n  d:\n    e: [1, {f: 2}]\ng:\n- h: 1\n  i: 2\n- j\n".repeat(1000);
        assert_eq!(depth_error(&flat, 5), None);
        assert!(depth_error(&flat, 3).is_some());
    }

    #[test]
    fn brackets_in_scalars_comments_and_block_scalars_do_not_count() {
        let text = "\
a: '[[[[[[' # [[[[[[
b: \"[[[\\\"[[[[\"
c: x[[[[[[[
d: |
  [[[[[[[[[[
   {{{{{{{{{
e: 'multi
  [[[[[[[[[[ line'
g:
- key: >-
    [[[[[[[[
  other: 1
";
        assert_eq!(depth_error(text, 3), None);
        // The block scalar ends at the dedent: brackets after it count.
        assert!(depth_error(&format!("{text}f: [[[[[\n"), 3).is_some());
    }

    #[test]
    fn size_is_checked_first() {
        let limits = YamlLimits {
            max_bytes: 10,
            ..YamlLimits::CONFIG
        };
        let e = limits.check("a: [[[[[[[[[[[[[[[[[[[[[[[[[[[[").unwrap_err();
        assert!(matches!(e, InputError::TooLarge { max: 10, .. }), "{e}");
        assert_eq!(e.location(), None);
        assert_eq!(
            YamlLimits::CONFIG
                .check(&"#".repeat(2 << 20))
                .unwrap_err()
                .to_string(),
            "larger than 1.00 MiB, the most Forge reads from a configuration file"
        );
        assert_eq!(limits.check("a: 1"), Ok(()));
    }

    #[test]
    fn invalid_utf8_is_located_at_its_first_byte() {
        let e = utf8_text(b"a: 1\nb: caf\xc3\xa9 \xff\n").unwrap_err();
        assert_eq!(e.location(), Some((2, 9)));
        assert_eq!(
            e.to_string(),
            "not UTF-8 (byte 0xff); YAML files must be UTF-8"
        );
        assert_eq!(utf8_text(b"\xfe").unwrap_err().location(), Some((1, 1)));
        assert_eq!(utf8_text("a: é\n".as_bytes()), Ok("a: é\n"));
    }

    #[test]
    fn a_byte_order_mark_is_split_off() {
        assert_eq!(split_bom("\u{feff}a: 1\n"), (true, "a: 1\n"));
        assert_eq!(split_bom("a: 1\n"), (false, "a: 1\n"));
    }
}
