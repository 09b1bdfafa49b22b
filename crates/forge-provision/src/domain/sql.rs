//! SQL text for identifiers and literals. Every name that reaches SQL goes
//! through [`ident`]; values that DDL cannot bind go through [`literal`].

use std::fmt::Write;

/// The longest identifier PostgreSQL keeps (NAMEDATALEN - 1 bytes); longer
/// names are truncated silently by the server, which would make a plan never
/// converge, so the spec rejects them.
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// Quotes an identifier for any name: always double-quoted, inner quotes
/// doubled. Quoting also keeps mixed case, spaces and unicode as written.
pub fn ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Quotes a list of identifiers, comma separated.
pub fn ident_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, name) in names.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&ident(name));
    }
    out
}

/// Quotes a string literal the way PostgreSQL's `quote_literal` does: single
/// quotes doubled, and an `E''` literal with doubled backslashes when the
/// value has one, so the result is right whatever `standard_conforming_strings` is.
pub fn literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 3);
    if value.contains('\\') {
        out.push('E');
    }
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Why a name cannot be an identifier.
pub fn identifier_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the name is empty".into());
    }
    if name.contains('\0') {
        return Some("the name contains a NUL character".into());
    }
    if name.len() > MAX_IDENTIFIER_BYTES {
        let mut msg = String::new();
        let _ = write!(
            msg,
            "the name is {} bytes long; PostgreSQL keeps at most {MAX_IDENTIFIER_BYTES}",
            name.len()
        );
        return Some(msg);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads back one quoted identifier the way PostgreSQL's scanner does and
    /// returns it with the rest of the input.
    fn unquote(sql: &str) -> Option<(String, &str)> {
        let rest = sql.strip_prefix('"')?;
        let mut out = String::new();
        let mut chars = rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if let Some((_, '"')) = chars.peek() {
                    chars.next();
                    out.push('"');
                } else {
                    return Some((out, &rest[i + 1..]));
                }
            } else {
                out.push(c);
            }
        }
        None
    }

    #[test]
    fn quotes_hostile_names() {
        assert_eq!(ident("app"), r#""app""#);
        assert_eq!(ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(ident("Mixed Case ü"), r#""Mixed Case ü""#);
        assert_eq!(ident_list(["a", "b c"]), r#""a", "b c""#);
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal(r"a\b"), r"E'a\\b'");
    }

    #[test]
    fn identifier_limits() {
        assert!(identifier_problem("").is_some());
        assert!(identifier_problem("a\0b").is_some());
        assert!(identifier_problem(&"x".repeat(64)).is_some());
        assert!(identifier_problem(&"x".repeat(63)).is_none());
    }

    proptest! {
        #[test]
        fn any_name_round_trips_and_ends_where_it_should(
            name in "\\PC{1,20}|[\"' ;\\-\\\\a-zA-Z]{1,20}",
            tail in "[ ;,)a-z]{0,5}",
        ) {
            let sql = format!("{}{}", ident(&name), tail);
            let (back, rest) = unquote(&sql).expect("a closed quoted identifier");
            prop_assert_eq!(back, name);
            prop_assert_eq!(rest, tail.as_str());
        }

        #[test]
        fn literals_round_trip(value in "\\PC{0,20}|['\\\\]{0,6}") {
            let lit = literal(&value);
            let body = lit.trim_start_matches('E');
            let inner = &body[1..body.len() - 1];
            let back = if lit.starts_with('E') {
                inner.replace("''", "'").replace("\\\\", "\\")
            } else {
                inner.replace("''", "'")
            };
            prop_assert_eq!(back, value);
        }
    }
}
