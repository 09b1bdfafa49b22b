//! Strings with `{service}`, `{env}`, `{registry}` and `{system}` in them.
//! Which variables a field may use is part of its type, so an unknown or
//! misplaced variable is an error at the scalar that uses it.

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer};

/// The variables a kind of pattern may use.
pub trait Vars {
    const ALLOWED: &'static [&'static str];
}

/// Paths and object names per service and environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetVars;
impl Vars for TargetVars {
    const ALLOWED: &'static [&'static str] = &["env", "service"];
}

/// Values of an environment as a whole (namespaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVars;
impl Vars for EnvVars {
    const ALLOWED: &'static [&'static str] = &["env"];
}

/// Image repositories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepoVars;
impl Vars for RepoVars {
    const ALLOWED: &'static [&'static str] = &["registry", "service"];
}

/// Flake attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrVars;
impl Vars for AttrVars {
    const ALLOWED: &'static [&'static str] = &["service", "system"];
}

/// A checked template: every `{name}` is one of `V::ALLOWED`.
#[derive(Clone, PartialEq, Eq)]
pub struct Pattern<V> {
    text: String,
    vars: PhantomData<V>,
}

impl<V> fmt::Debug for Pattern<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl<V: Vars> Pattern<V> {
    pub fn new(text: &str) -> Result<Self, String> {
        for var in variables(text)? {
            if !V::ALLOWED.contains(&var) {
                let allowed: Vec<String> =
                    V::ALLOWED.iter().map(|v| format!("`{{{v}}}`")).collect();
                let mut msg = format!(
                    "unknown variable `{{{var}}}` in `{text}`, expected {}",
                    allowed.join(" or ")
                );
                if let Some(s) = super::parse::closest(var, V::ALLOWED.iter().copied()) {
                    msg.push_str(&format!(" (did you mean `{{{s}}}`?)"));
                }
                return Err(msg);
            }
        }
        Ok(Self {
            text: text.to_owned(),
            vars: PhantomData,
        })
    }

    /// A default, known to be valid.
    pub fn fixed(text: &str) -> Self {
        Self::new(text).expect("built-in pattern is valid")
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Replaces each variable by its value from `values` (every allowed
    /// variable must be given).
    pub fn expand(&self, values: &[(&str, &str)]) -> String {
        let mut out = String::new();
        let mut rest = self.text.as_str();
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = start + rest[start..].find('}').expect("checked when parsed");
            let var = &rest[start + 1..end];
            let value = values
                .iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| *v)
                .unwrap_or_else(|| panic!("no value for {{{var}}}"));
            out.push_str(value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// The variable names in `text`, or why it is malformed.
fn variables(text: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(['{', '}']) {
        if rest[start..].starts_with('}') {
            return Err(format!("unmatched `}}` in `{text}`"));
        }
        let Some(len) = rest[start..].find('}') else {
            return Err(format!("unclosed `{{` in `{text}`"));
        };
        let var = &rest[start + 1..start + len];
        if var.is_empty() || var.contains('{') {
            return Err(format!("malformed variable in `{text}`"));
        }
        out.push(var);
        rest = &rest[start + len + 1..];
    }
    Ok(out)
}

impl<'de, V: Vars> Deserialize<'de> for Pattern<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::parse::map_str(d, "a string", Pattern::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_and_checks_variables() {
        let p = Pattern::<TargetVars>::new("deploy/{env}/{service}/kustomization.yaml").unwrap();
        assert_eq!(
            p.expand(&[("env", "prod"), ("service", "api")]),
            "deploy/prod/api/kustomization.yaml"
        );
        let err = Pattern::<TargetVars>::new("deploy/{envv}/x").unwrap_err();
        assert_eq!(
            err,
            "unknown variable `{envv}` in `deploy/{envv}/x`, expected `{env}` or `{service}` (did you mean `{env}`?)"
        );
        assert!(Pattern::<EnvVars>::new("{service}").is_err());
        assert!(Pattern::<TargetVars>::new("a/{env")
            .unwrap_err()
            .contains("unclosed"));
        assert!(Pattern::<TargetVars>::new("a/env}")
            .unwrap_err()
            .contains("unmatched"));
        assert!(Pattern::<TargetVars>::new("a/{}")
            .unwrap_err()
            .contains("malformed"));
    }
}
