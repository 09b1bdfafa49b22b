//! The `attic` spec file (see `provision/README.md`, "Attic"): YAML shape,
//! checks, and the normalized [`DesiredAttic`] the planner works from.
//! Errors name `file:line:column` and suggest the closest known key, as for
//! the PostgreSQL spec; secrets are resolved while reading.

use super::attic_jwt::SigningKey;
use super::duration::{format_duration, parse_duration};
use super::secret_ref::{map_str, with_source, EnvSecret, Expanded, FileSecret, SecretSource};
use super::spec_parse::{at, duplicates, invalid, syntax_error, Invalid, SpecError};
use forge_core::attic::RetentionPeriodConfig;
use forge_core::secret::Secret;
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The whole `attic` spec file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtticSpec {
    /// Needed when `caches:` is not empty (tokens are minted locally).
    pub server: Option<ServerSpec>,
    #[serde(default)]
    pub caches: Vec<CacheSpec>,
    #[serde(default)]
    pub tokens: Vec<TokenSpec>,
}

/// `server:`: the API endpoint and an admin token (permissions r, cc, cr,
/// and cq when `retention` is set, on the caches of the file).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    pub endpoint: Expanded,
    pub token_env: Option<EnvSecret>,
    pub token_file: Option<FileSecret>,
}

/// One entry of `caches:`. Settings left out are left as they are (and get
/// Attic's defaults when the cache is created).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    pub name: CacheName,
    pub public: Option<bool>,
    pub priority: Option<i32>,
    pub upstream_cache_keys: Option<Vec<String>>,
    pub retention: Option<Retention>,
    /// Only `generate`, used when the cache is created; an existing keypair
    /// is never replaced.
    pub keypair: Option<KeypairSpec>,
    /// The public key clients trust (`main:base64...`): when the server's
    /// differs, the keypair was replaced behind our back and the plan warns.
    pub public_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeypairSpec {
    Generate,
}

/// One entry of `tokens:`: a JWT minted here and written to `output_file`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    pub subject: Subject,
    pub validity: DurationSpec,
    /// Re-mint when the token expires within this; default 7d or a tenth of
    /// `validity`, whichever is shorter.
    pub renew_before: Option<DurationSpec>,
    /// The server's HS256 secret, base64 (`ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64`).
    pub secret_env: Option<EnvSecret>,
    pub secret_file: Option<FileSecret>,
    pub permissions: BTreeMap<CachePattern, Vec<Permission>>,
    /// Relative paths are relative to the spec file.
    pub output_file: Expanded,
}

/// What a token may do on a cache, as `atticadm make-token` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    Pull,
    Push,
    Delete,
    CreateCache,
    ConfigureCache,
    ConfigureCacheRetention,
    DestroyCache,
}

impl Permission {
    /// The claim letter (attic `token/src/lib.rs`).
    pub fn letter(self) -> &'static str {
        match self {
            Permission::Pull => "r",
            Permission::Push => "w",
            Permission::Delete => "d",
            Permission::CreateCache => "cc",
            Permission::ConfigureCache => "cr",
            Permission::ConfigureCacheRetention => "cq",
            Permission::DestroyCache => "cd",
        }
    }
}

/// A cache name as Attic accepts it: `[A-Za-z0-9][A-Za-z0-9-_+]{0,49}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CacheName(pub String);

/// A cache name or a pattern with `*` (for token permissions).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CachePattern(pub String);

fn cache_name_problem(s: &str, pattern: bool) -> Option<String> {
    let ok_first = |c: char| c.is_ascii_alphanumeric() || (pattern && c == '*');
    let ok_rest = |c: char| ok_first(c) || matches!(c, '-' | '_' | '+');
    let mut chars = s.chars();
    let good = s.len() <= 50 && chars.next().is_some_and(ok_first) && chars.all(ok_rest);
    (!good).then(|| {
        format!(
            "invalid cache name `{s}`: 1 to 50 of A-Z a-z 0-9 - _ +{}, not starting with - _ +",
            if pattern { " *" } else { "" }
        )
    })
}

impl<'de> Deserialize<'de> for CacheName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_str(d, "a cache name", |s| match cache_name_problem(s, false) {
            Some(p) => Err(p),
            None => Ok(CacheName(s.to_owned())),
        })
    }
}

impl<'de> Deserialize<'de> for CachePattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_str(d, "a cache name or pattern", |s| {
            match cache_name_problem(s, true) {
                Some(p) => Err(p),
                None => Ok(CachePattern(s.to_owned())),
            }
        })
    }
}

/// A token subject: not empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject(pub String);

impl<'de> Deserialize<'de> for Subject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_str(d, "a subject", |s| {
            if s.trim().is_empty() {
                Err("the subject is empty".into())
            } else {
                Ok(Subject(s.to_owned()))
            }
        })
    }
}

/// `90d`, `12h`, ...: seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationSpec(pub u64);

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_str(d, "a duration such as 90d", |s| {
            parse_duration(s).map(DurationSpec)
        })
    }
}

/// `retention: global` or a duration (`30d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    Global,
    Period(u32),
}

impl<'de> Deserialize<'de> for Retention {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_str(d, "`global` or a duration such as 30d", |s| {
            if s == "global" {
                return Ok(Retention::Global);
            }
            let secs = parse_duration(s)
                .map_err(|e| format!("{e}, or `global` for the server's setting"))?;
            u32::try_from(secs)
                .map(Retention::Period)
                .map_err(|_| format!("retention `{s}` is too long (at most 136y)"))
        })
    }
}

/// The normalized desired state.
#[derive(Debug)]
pub struct DesiredAttic {
    pub server: Option<DesiredServer>,
    pub caches: Vec<DesiredCache>,
    pub tokens: Vec<DesiredToken>,
}

#[derive(Debug)]
pub struct DesiredServer {
    pub endpoint: String,
    pub token: Secret,
}

/// `None` leaves the setting as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredCache {
    pub name: String,
    pub is_public: Option<bool>,
    pub priority: Option<i32>,
    pub upstream_cache_key_names: Option<Vec<String>>,
    pub retention: Option<RetentionPeriodConfig>,
    /// Expected public key; a different one is reported, never "fixed".
    pub public_key: Option<String>,
}

#[derive(Debug)]
pub struct DesiredToken {
    pub subject: String,
    /// Seconds.
    pub validity: u64,
    /// Seconds before expiry from which the token is re-minted.
    pub renew_before: u64,
    pub key: SigningKey,
    /// Cache or pattern -> claim letters.
    pub permissions: BTreeMap<String, BTreeSet<&'static str>>,
    pub output_file: PathBuf,
}

/// Default `renew_before`: 7 days, or a tenth of the validity if shorter.
pub fn default_renew_before(validity: u64) -> u64 {
    (7 * 86_400).min(validity / 10)
}

/// Parses and checks an `attic` spec. `base_dir` resolves relative `output_file`s.
pub fn parse_attic(
    text: &str,
    file: &str,
    base_dir: &Path,
    secrets: Arc<dyn SecretSource>,
) -> Result<DesiredAttic, SpecError> {
    let spec = with_source(secrets, || serde_yaml_ng::from_str::<AtticSpec>(text))
        .map_err(|e| syntax_error(&e, file))?;
    normalize(spec, base_dir).map_err(|e| e.in_file(text, file))
}

fn normalize(spec: AtticSpec, base_dir: &Path) -> Result<DesiredAttic, Invalid> {
    duplicates(
        spec.caches.iter().map(|c| c.name.0.as_str()),
        "cache",
        |i| at!["caches", i, "name"],
    )?;
    let server = match spec.server {
        Some(s) => {
            let token = match (s.token_env, s.token_file) {
                (Some(t), None) => t.0,
                (None, Some(t)) => t.0,
                (None, None) => {
                    return Err(invalid(
                        at!["server"],
                        "server: give the admin token as token_env or token_file",
                    ))
                }
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        at!["server", "token_file"],
                        "server: give only one of token_env, token_file",
                    ))
                }
            };
            let endpoint = s.endpoint.0;
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(invalid(
                    at!["server", "endpoint"],
                    format!("server: endpoint `{endpoint}` must start with http:// or https://"),
                ));
            }
            Some(DesiredServer { endpoint, token })
        }
        None if !spec.caches.is_empty() => {
            return Err(invalid(
                at!["caches"],
                "caches: need a server: {endpoint, token_env} to talk to",
            ))
        }
        None => None,
    };
    let caches = spec
        .caches
        .into_iter()
        .map(|c| DesiredCache {
            name: c.name.0,
            is_public: c.public,
            priority: c.priority,
            upstream_cache_key_names: c.upstream_cache_keys,
            retention: c.retention.map(|r| match r {
                Retention::Global => RetentionPeriodConfig::Global,
                Retention::Period(s) => RetentionPeriodConfig::Period(s),
            }),
            public_key: c.public_key,
        })
        .collect();
    let mut tokens = Vec::new();
    let mut files = BTreeSet::new();
    for (i, t) in spec.tokens.into_iter().enumerate() {
        let what = format!("tokens[{i}] `{}`", t.subject.0);
        let (secret, secret_key) = match (t.secret_env, t.secret_file) {
            (Some(s), None) => (s.0, "secret_env"),
            (None, Some(s)) => (s.0, "secret_file"),
            (None, None) => {
                return Err(invalid(
                    at!["tokens", i],
                    format!("{what}: give the server's HS256 secret as secret_env or secret_file"),
                ))
            }
            (Some(_), Some(_)) => {
                return Err(invalid(
                    at!["tokens", i, "secret_file"],
                    format!("{what}: give only one of secret_env, secret_file"),
                ))
            }
        };
        let key = SigningKey::from_base64(&secret)
            .map_err(|e| invalid(at!["tokens", i, secret_key], format!("{what}: {e}")))?;
        let validity = t.validity.0;
        let renew_before = t
            .renew_before
            .map(|d| d.0)
            .unwrap_or_else(|| default_renew_before(validity));
        if renew_before >= validity {
            let field = if t.renew_before.is_some() {
                "renew_before"
            } else {
                "validity"
            };
            return Err(invalid(
                at!["tokens", i, field],
                format!(
                    "{what}: renew_before {} must be shorter than validity {}",
                    format_duration(renew_before),
                    format_duration(validity)
                ),
            ));
        }
        if t.permissions.is_empty() {
            return Err(invalid(
                at!["tokens", i, "permissions"],
                format!("{what}: permissions is empty"),
            ));
        }
        let mut permissions = BTreeMap::new();
        for (cache, perms) in t.permissions {
            if perms.is_empty() {
                return Err(invalid(
                    at!["tokens", i, "permissions", cache.0.as_str()],
                    format!("{what}: no permissions listed for `{}`", cache.0),
                ));
            }
            permissions.insert(cache.0, perms.iter().map(|p| p.letter()).collect());
        }
        let output_file = base_dir.join(&t.output_file.0);
        if !files.insert(output_file.clone()) {
            return Err(invalid(
                at!["tokens", i, "output_file"],
                format!(
                    "{what}: output_file {} is used twice",
                    output_file.display()
                ),
            ));
        }
        tokens.push(DesiredToken {
            subject: t.subject.0,
            validity,
            renew_before,
            key,
            permissions,
            output_file,
        });
    }
    Ok(DesiredAttic {
        server,
        caches,
        tokens,
    })
}

#[cfg(test)]
#[path = "attic_spec_tests.rs"]
mod tests;
