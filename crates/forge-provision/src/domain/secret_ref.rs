//! Secrets and `${ENV}` references in the spec, resolved while the YAML is
//! read so that a missing secret is reported with its file, line and column,
//! and before anything is changed.
//!
//! The domain does no I/O itself: the caller hands [`parse`](super::spec_parse::parse)
//! a [`SecretSource`] (the process environment and files, or a map in tests).

use forge_core::secret::Secret;
use serde::{Deserialize, Deserializer};
use std::cell::RefCell;
use std::sync::Arc;

/// Where secrets and `${ENV}` values come from.
pub trait SecretSource: Send + Sync {
    /// An environment variable, if set.
    fn var(&self, name: &str) -> Option<String>;
    /// The contents of a secret file (relative paths are the source's
    /// business: the real one resolves them against the config's folder).
    fn read_file(&self, path: &str) -> Result<String, String>;
}

thread_local! {
    static SOURCE: RefCell<Option<Arc<dyn SecretSource>>> = const { RefCell::new(None) };
}

/// Runs `f` with `source` answering secret look-ups made while deserializing.
pub(crate) fn with_source<R>(source: Arc<dyn SecretSource>, f: impl FnOnce() -> R) -> R {
    struct Reset(Option<Arc<dyn SecretSource>>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let previous = self.0.take();
            SOURCE.with(|s| *s.borrow_mut() = previous);
        }
    }
    let previous = SOURCE.with(|s| s.borrow_mut().replace(source));
    let _reset = Reset(previous);
    f()
}

fn source() -> Result<Arc<dyn SecretSource>, String> {
    SOURCE
        .with(|s| s.borrow().clone())
        .ok_or_else(|| "internal error: no secret source while reading the spec".to_owned())
}

/// Expands `${NAME}` from the environment; `$$` is a literal `$`.
pub fn expand(value: &str, vars: &dyn SecretSource) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let end = tail.find('}').ok_or_else(|| {
                "unclosed `${` reference (write `$$` for a literal `$`)".to_owned()
            })?;
            let name = &tail[..end];
            if name.is_empty() {
                return Err("empty `${}` reference".into());
            }
            let val = vars
                .var(name)
                .ok_or_else(|| format!("environment variable {name} is not set"))?;
            out.push_str(&val);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn non_empty(value: String, what: &str) -> Result<Secret, String> {
    if value.is_empty() {
        Err(format!("{what} is empty"))
    } else {
        Ok(Secret::new(value))
    }
}

/// The spec's strings: numbers and booleans are refused without being echoed.
pub(crate) fn map_str<'de, D, T>(
    d: D,
    expecting: &'static str,
    f: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    forge_core::yaml_scalar::map_str(d, expecting, forge_core::yaml_scalar::Numbers::Refuse, f)
}

/// A plain string field that may hold `${ENV}` references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded(pub String);

impl<'de> Deserialize<'de> for Expanded {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_str(d, "a string", |raw| expand(raw, &*source()?).map(Expanded))
    }
}

/// `password: "${VAR}"`: a value built from `${ENV}` references. A plain
/// literal is refused: passwords do not belong in the spec file.
#[derive(Debug, Clone)]
pub struct InlineSecret(pub Secret);

impl<'de> Deserialize<'de> for InlineSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_str(d, "a string with a ${VAR} reference", |raw| {
            if !raw.replace("$$", "").contains("${") {
                return Err(
                    "write the password as \"${VAR}\", or use password_env or password_file: \
                            plain passwords do not belong in the spec"
                        .into(),
                );
            }
            non_empty(expand(raw, &*source()?)?, "the password").map(InlineSecret)
        })
    }
}

/// A connection URL, which may hold a password: kept as a secret, `${ENV}` expanded.
#[derive(Debug, Clone)]
pub struct SecretUrl(pub Secret);

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_str(d, "a string", |raw| {
            non_empty(expand(raw, &*source()?)?, "the connection url").map(SecretUrl)
        })
    }
}

/// `*_env: VAR`: the secret is the variable's value.
#[derive(Debug, Clone)]
pub struct EnvSecret(pub Secret);

impl<'de> Deserialize<'de> for EnvSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_str(d, "an environment variable name", |name| {
            let value = source()?
                .var(name)
                .ok_or_else(|| format!("environment variable {name} is not set"))?;
            non_empty(value, &format!("environment variable {name}")).map(EnvSecret)
        })
    }
}

/// `*_file: PATH`: the secret is the file's contents without the final newline.
#[derive(Debug, Clone)]
pub struct FileSecret(pub Secret);

impl<'de> Deserialize<'de> for FileSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_str(d, "a file path", |path| {
            let mut value = source()?
                .read_file(path)
                .map_err(|e| format!("cannot read secret file {path}: {e}"))?;
            while value.ends_with('\n') || value.ends_with('\r') {
                value.pop();
            }
            non_empty(value, &format!("secret file {path}")).map(FileSecret)
        })
    }
}

/// Picks the one password source a spec entry gives, if any.
pub fn one_password(
    inline: &Option<InlineSecret>,
    env: &Option<EnvSecret>,
    file: &Option<FileSecret>,
) -> Result<Option<Secret>, String> {
    let given: Vec<Secret> = [
        inline.as_ref().map(|s| s.0.clone()),
        env.as_ref().map(|s| s.0.clone()),
        file.as_ref().map(|s| s.0.clone()),
    ]
    .into_iter()
    .flatten()
    .collect();
    match given.len() {
        0 => Ok(None),
        1 => Ok(given.into_iter().next()),
        _ => Err("give only one of password, password_env, password_file".into()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A secret source backed by maps, for tests.
    #[derive(Default)]
    pub struct MapSource {
        pub vars: HashMap<String, String>,
        pub files: HashMap<String, String>,
    }

    impl SecretSource for MapSource {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).cloned()
        }
        fn read_file(&self, path: &str) -> Result<String, String> {
            self.files
                .get(path)
                .cloned()
                .ok_or_else(|| "No such file or directory".into())
        }
    }

    #[test]
    fn expands_references() {
        let mut src = MapSource::default();
        src.vars.insert("H".into(), "db.local".into());
        assert_eq!(expand("${H}:5432", &src).unwrap(), "db.local:5432");
        assert_eq!(expand("a$$b$c", &src).unwrap(), "a$b$c");
        assert!(expand("${NOPE}", &src)
            .unwrap_err()
            .contains("NOPE is not set"));
        assert!(expand("${H", &src).is_err());
    }
}
