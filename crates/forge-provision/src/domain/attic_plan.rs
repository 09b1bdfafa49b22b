//! The Attic planner: a pure function from the desired state, the cache
//! configurations the server returned and the token files found on disk to
//! an ordered [`AtticPlan`].
//!
//! Order: per cache (in file order) create it when missing, then one PATCH
//! with only the settings that differ; then tokens (in file order), each
//! minted only when its file is missing, does not verify with the secret,
//! expires within `renew_before`, outlives `validity`, has another subject
//! or other permissions, or is readable by others.
//!
//! A cache's keypair is never replaced: `keypair: generate` is used only
//! when the cache is created.

use super::attic_jwt::{verify, Permissions};
use super::attic_spec::{DesiredAttic, DesiredCache, DesiredToken};
use super::duration::{approx_duration, format_duration};
use forge_core::attic::{CacheConfig, CreateCacheRequest, KeypairConfig, RetentionPeriodConfig};
use forge_core::secret::Secret;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Attic's defaults for a new cache (its CLI's `attic cache create`).
pub const DEFAULT_PRIORITY: i32 = 41;
pub const DEFAULT_UPSTREAM_KEY: &str = "cache.nixos.org-1";
pub const STORE_DIR: &str = "/nix/store";

/// Slack allowed between a token's lifetime and `validity` (clock, run time).
const LIFETIME_SLACK: u64 = 300;

/// What the server and the disk say.
#[derive(Debug, Default)]
pub struct AtticObserved {
    /// Each spec cache's configuration; `None` when the server says `NoSuchCache`.
    pub caches: BTreeMap<String, Option<CacheConfig>>,
    /// Each spec token's `output_file`.
    pub token_files: BTreeMap<PathBuf, TokenFile>,
}

#[derive(Debug)]
pub enum TokenFile {
    Missing,
    /// Exists but cannot be read (the reason, e.g. permission denied).
    Unreadable(String),
    Present {
        token: Secret,
        /// Unix permission bits, when known.
        mode: Option<u32>,
    },
}

/// One change, in the order it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum AtticChange {
    /// `POST /_api/v1/cache-config/{cache}`.
    CreateCache {
        cache: String,
        body: CreateCacheRequest,
    },
    /// `PATCH /_api/v1/cache-config/{cache}` with only `patch`'s fields.
    ConfigureCache {
        cache: String,
        patch: CacheConfig,
        /// (field, current, wanted), for display.
        diffs: Vec<(&'static str, String, String)>,
    },
    /// Mint `tokens[token]` of the spec and write it to `file`.
    MintToken {
        token: usize,
        subject: String,
        file: PathBuf,
        reason: String,
    },
}

impl AtticChange {
    /// The API path, for calls.
    pub fn path(&self) -> Option<String> {
        match self {
            AtticChange::CreateCache { cache, .. } | AtticChange::ConfigureCache { cache, .. } => {
                Some(format!("/_api/v1/cache-config/{cache}"))
            }
            AtticChange::MintToken { .. } => None,
        }
    }

    pub fn method(&self) -> Option<&'static str> {
        match self {
            AtticChange::CreateCache { .. } => Some("POST"),
            AtticChange::ConfigureCache { .. } => Some("PATCH"),
            AtticChange::MintToken { .. } => None,
        }
    }

    /// One line; never holds a secret.
    pub fn display(&self) -> String {
        match self {
            AtticChange::CreateCache { cache, body } => format!(
                "POST /_api/v1/cache-config/{cache} {{keypair: {}, is_public: {}, store_dir: {}, priority: {}, upstream_cache_key_names: {}}}",
                keypair(&body.keypair),
                body.is_public,
                json(&body.store_dir),
                body.priority,
                json(&body.upstream_cache_key_names),
            ),
            AtticChange::ConfigureCache { cache, diffs, .. } => {
                let fields: Vec<String> = diffs
                    .iter()
                    .map(|(field, from, to)| format!("{field}: {from} -> {to}"))
                    .collect();
                format!(
                    "PATCH /_api/v1/cache-config/{cache} {{{}}}",
                    fields.join(", ")
                )
            }
            AtticChange::MintToken {
                subject,
                file,
                reason,
                ..
            } => format!("mint token for {subject} -> {} ({reason})", file.display()),
        }
    }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain values serialize")
}

fn keypair(k: &KeypairConfig) -> &'static str {
    match k {
        KeypairConfig::Generate => "Generate",
        KeypairConfig::Keypair(_) => "<keypair>",
    }
}

fn retention(r: Option<&RetentionPeriodConfig>) -> String {
    match r {
        None | Some(RetentionPeriodConfig::Global) => "Global".into(),
        Some(RetentionPeriodConfig::Period(s)) => format_duration(u64::from(*s)),
    }
}

/// The ordered changes, and things worth knowing that need none.
#[derive(Debug, Default)]
pub struct AtticPlan {
    pub changes: Vec<AtticChange>,
    pub warnings: Vec<String>,
}

impl AtticPlan {
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The machine-readable view (`--json`).
    pub fn to_json(&self) -> AtticPlanJson {
        AtticPlanJson {
            changes: self.len(),
            warnings: self.warnings.clone(),
            steps: self
                .changes
                .iter()
                .map(|c| {
                    let (subject, file, reason) = match c {
                        AtticChange::MintToken {
                            subject,
                            file,
                            reason,
                            ..
                        } => (
                            Some(subject.clone()),
                            Some(file.display().to_string()),
                            Some(reason.clone()),
                        ),
                        _ => (None, None, None),
                    };
                    let body = match c {
                        AtticChange::CreateCache { body, .. } => serde_json::to_value(body).ok(),
                        AtticChange::ConfigureCache { patch, .. } => {
                            serde_json::to_value(patch).ok()
                        }
                        AtticChange::MintToken { .. } => None,
                    };
                    StepJson {
                        kind: if c.method().is_some() { "api" } else { "token" },
                        display: c.display(),
                        method: c.method(),
                        path: c.path(),
                        body,
                        subject,
                        file,
                        reason,
                    }
                })
                .collect(),
        }
    }
}

impl fmt::Display for AtticPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for w in &self.warnings {
            writeln!(f, "-- warning: {w}")?;
        }
        for c in &self.changes {
            writeln!(f, "{}", c.display())?;
        }
        match self.len() {
            0 => writeln!(f, "-- no changes: Attic and the token files match the spec"),
            1 => writeln!(f, "-- 1 change"),
            n => writeln!(f, "-- {n} changes"),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AtticPlanJson {
    pub changes: usize,
    pub warnings: Vec<String>,
    pub steps: Vec<StepJson>,
}

#[derive(Debug, Serialize)]
pub struct StepJson {
    /// `api` or `token`.
    pub kind: &'static str,
    pub display: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Computes the changes; `now` is seconds since the epoch.
pub fn plan_attic(desired: &DesiredAttic, observed: &AtticObserved, now: u64) -> AtticPlan {
    let mut plan = AtticPlan::default();
    for cache in &desired.caches {
        match observed.caches.get(&cache.name) {
            Some(Some(config)) => {
                if let (Some(want), Some(have)) = (&cache.public_key, &config.public_key) {
                    if want != have {
                        plan.warnings.push(format!(
                            "cache {}: the server's public key is {have}, the spec expects {want}: \
                             its keypair was replaced outside this tool (clients trusting the old \
                             key will refuse its paths); update public_key once that is intended",
                            cache.name
                        ));
                    }
                }
                plan.changes.extend(configure(cache, config));
            }
            // Not read (should not happen) or missing: create it.
            _ => {
                let body = CreateCacheRequest {
                    keypair: KeypairConfig::Generate,
                    is_public: cache.is_public.unwrap_or(false),
                    store_dir: STORE_DIR.into(),
                    priority: cache.priority.unwrap_or(DEFAULT_PRIORITY),
                    upstream_cache_key_names: cache
                        .upstream_cache_key_names
                        .clone()
                        .unwrap_or_else(|| vec![DEFAULT_UPSTREAM_KEY.into()]),
                };
                // What the new cache will look like, for the settings the
                // create body cannot carry (retention).
                let created = CacheConfig {
                    is_public: Some(body.is_public),
                    priority: Some(body.priority),
                    upstream_cache_key_names: Some(body.upstream_cache_key_names.clone()),
                    retention_period: Some(RetentionPeriodConfig::Global),
                    ..CacheConfig::default()
                };
                plan.changes.push(AtticChange::CreateCache {
                    cache: cache.name.clone(),
                    body,
                });
                plan.changes.extend(configure(cache, &created));
            }
        }
    }
    for (i, token) in desired.tokens.iter().enumerate() {
        let file = observed
            .token_files
            .get(&token.output_file)
            .unwrap_or(&TokenFile::Missing);
        if let Some(reason) = token_reason(token, file, now) {
            plan.changes.push(AtticChange::MintToken {
                token: i,
                subject: token.subject.clone(),
                file: token.output_file.clone(),
                reason,
            });
        }
    }
    plan
}

/// The PATCH for the settings of `cache` that `current` does not have.
pub fn configure(cache: &DesiredCache, current: &CacheConfig) -> Option<AtticChange> {
    let mut patch = CacheConfig::default();
    let mut diffs = Vec::new();
    if let Some(want) = cache.is_public {
        if current.is_public != Some(want) {
            diffs.push(("is_public", opt(current.is_public), want.to_string()));
            patch.is_public = Some(want);
        }
    }
    if let Some(want) = cache.priority {
        if current.priority != Some(want) {
            diffs.push(("priority", opt(current.priority), want.to_string()));
            patch.priority = Some(want);
        }
    }
    if let Some(want) = &cache.upstream_cache_key_names {
        if current.upstream_cache_key_names.as_ref() != Some(want) {
            diffs.push((
                "upstream_cache_key_names",
                current
                    .upstream_cache_key_names
                    .as_ref()
                    .map_or("unset".into(), json),
                json(want),
            ));
            patch.upstream_cache_key_names = Some(want.clone());
        }
    }
    if let Some(want) = &cache.retention {
        // Attic reports an unset retention as `Global`; treat absence so too.
        let have = current
            .retention_period
            .clone()
            .unwrap_or(RetentionPeriodConfig::Global);
        if &have != want {
            diffs.push((
                "retention_period",
                retention(Some(&have)),
                retention(Some(want)),
            ));
            patch.retention_period = Some(want.clone());
        }
    }
    (!diffs.is_empty()).then(|| AtticChange::ConfigureCache {
        cache: cache.name.clone(),
        patch,
        diffs,
    })
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or("unset".into(), |v| v.to_string())
}

fn letters(p: &Permissions) -> String {
    let parts: Vec<String> = p
        .iter()
        .map(|(cache, l)| {
            format!(
                "{cache}: {}",
                l.iter().cloned().collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    format!("{{{}}}", parts.join("; "))
}

/// Why the token must be minted again, or `None` when the file is fine.
fn token_reason(token: &DesiredToken, file: &TokenFile, now: u64) -> Option<String> {
    let (text, mode) = match file {
        TokenFile::Missing => return Some("missing".into()),
        TokenFile::Unreadable(why) => return Some(format!("unreadable: {why}")),
        TokenFile::Present { token, mode } => (token, *mode),
    };
    let claims = match verify(&token.key, text) {
        Ok(c) => c,
        Err(why) => return Some(format!("invalid: {why}")),
    };
    if claims.subject.as_deref() != Some(token.subject.as_str()) {
        return Some(format!(
            "subject is {}, not {}",
            claims.subject.as_deref().unwrap_or("unset"),
            token.subject
        ));
    }
    let want: Permissions = token
        .permissions
        .iter()
        .map(|(c, l)| (c.clone(), l.iter().map(|s| (*s).to_owned()).collect()))
        .collect();
    if claims.permissions != want {
        return Some(format!(
            "permissions differ: {} -> {}",
            letters(&claims.permissions),
            letters(&want)
        ));
    }
    let Some(expires) = claims.expires else {
        return Some("it has no expiry".into());
    };
    if expires <= now {
        return Some(format!("expired {} ago", approx_duration(now - expires)));
    }
    let left = expires - now;
    if left <= token.renew_before {
        return Some(format!(
            "expires in {}, within renew_before {}",
            approx_duration(left),
            format_duration(token.renew_before)
        ));
    }
    if left > token.validity + LIFETIME_SLACK {
        return Some(format!(
            "expires in {}, later than validity {} allows",
            approx_duration(left),
            format_duration(token.validity)
        ));
    }
    if let Some(mode) = mode.filter(|m| m & 0o077 != 0) {
        return Some(format!("mode {:04o}, want 0600", mode & 0o7777));
    }
    None
}

#[cfg(test)]
#[path = "attic_plan_tests.rs"]
mod tests;
