//! The only code that talks to Attic (through the workspace's one Attic
//! client, `forge_attic`) and reads and writes token files.

use crate::domain::attic_jwt::mint;
use crate::domain::attic_plan::{configure, AtticChange, AtticObserved, AtticPlan, TokenFile};
use crate::domain::attic_spec::DesiredAttic;
use forge_attic::AtticClient;
use forge_core::attic::CacheConfig;
use forge_core::secret::Secret;
use forge_io::atomic_file::{self, FileMode};
use forge_io::http::HttpError;
use forge_io::retry::{RetryPolicy, Transient as _};
use std::collections::BTreeSet;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum AtticError {
    #[error("reading the configuration of cache `{cache}`: {source}")]
    Read {
        cache: String,
        #[source]
        source: HttpError,
    },
    #[error("{call}: {source}")]
    Call {
        call: String,
        #[source]
        source: HttpError,
    },
    #[error("writing the token for {subject} to {path}: {source}")]
    Write {
        subject: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the spec has caches but no server")]
    NoServer,
}

/// Whether `e` is Attic's error `name` (bodies read "Name: message").
pub fn is_attic_error(e: &HttpError, name: &str) -> bool {
    match e {
        HttpError::Status { body, .. } => {
            body == name || body.strip_prefix(name).is_some_and(|r| r.starts_with(':'))
        }
        _ => false,
    }
}

/// `GET` a cache's configuration, retrying transient failures (connection
/// refused, 5xx, 429) until `deadline`: the server may still be starting.
async fn get_config_waiting(
    client: &AtticClient,
    cache: &str,
    deadline: Instant,
    notify: &mut dyn FnMut(&str),
) -> Result<CacheConfig, HttpError> {
    let policy = RetryPolicy {
        attempts: usize::MAX,
        min_delay: Duration::from_millis(250),
        max_delay: Duration::from_secs(5),
    };
    let wait = deadline.saturating_duration_since(Instant::now());
    policy
        .run_for(
            wait,
            |e: &HttpError| e.is_transient(),
            || client.get_cache_config(cache),
            |_, e| {
                notify(&format!(
                    "waiting for Attic at {}: {e}",
                    client.endpoint().trim_end_matches('/')
                ))
            },
        )
        .await
        .map_err(|e| e.error)
}

/// Reads each spec cache's configuration and each token file. `wait` bounds
/// the retries while the server is not answering yet.
pub async fn read_state(
    client: Option<&AtticClient>,
    desired: &DesiredAttic,
    wait: Duration,
    notify: &mut dyn FnMut(&str),
) -> Result<AtticObserved, AtticError> {
    let deadline = Instant::now() + wait;
    let mut observed = AtticObserved::default();
    for cache in &desired.caches {
        let client = client.ok_or(AtticError::NoServer)?;
        let config = match get_config_waiting(client, &cache.name, deadline, notify).await {
            Ok(c) => Some(c),
            Err(e) if is_attic_error(&e, "NoSuchCache") => None,
            Err(source) => {
                return Err(AtticError::Read {
                    cache: cache.name.clone(),
                    source,
                })
            }
        };
        observed.caches.insert(cache.name.clone(), config);
    }
    for token in &desired.tokens {
        observed.token_files.insert(
            token.output_file.clone(),
            read_token_file(&token.output_file),
        );
    }
    Ok(observed)
}

/// What is in a token file (the token itself stays a [`Secret`]).
pub fn read_token_file(path: &Path) -> TokenFile {
    match std::fs::read_to_string(path) {
        Ok(text) => TokenFile::Present {
            token: Secret::new(text.trim()),
            mode: std::fs::metadata(path).ok().map(|m| m.permissions().mode()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => TokenFile::Missing,
        Err(e) => TokenFile::Unreadable(e.to_string()),
    }
}

/// Writes `contents` to `path` with mode 0600, atomically: a temporary file
/// in the same folder, synced, then renamed over `path`. Missing folders are
/// created with mode 0700.
pub fn write_secret_file(path: &Path, contents: &Secret) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
    }
    if path.file_name().is_none() {
        return Err(std::io::Error::other("the path names no file"));
    }
    let mut bytes = contents.expose().as_bytes().to_vec();
    bytes.push(b'\n');
    atomic_file::write(path, &bytes, FileMode::Private)
}

fn call_error(change: &AtticChange, source: HttpError) -> AtticError {
    AtticError::Call {
        call: format!(
            "{} {}",
            change.method().unwrap_or("?"),
            change.path().unwrap_or_default()
        ),
        source,
    }
}

/// Runs the plan in order, calling `done` after each change with a note
/// (e.g. that a cache already existed). `now` gives seconds since the epoch
/// for minting. Stops at the first error; what was done stays done.
pub async fn execute(
    client: Option<&AtticClient>,
    desired: &DesiredAttic,
    plan: &AtticPlan,
    now: &dyn Fn() -> u64,
    done: &mut dyn FnMut(&AtticChange, Option<String>),
) -> Result<(), AtticError> {
    // Caches found to exist when we meant to create them: their PATCH is
    // recomputed from what the server says instead.
    let mut replanned = BTreeSet::new();
    for change in &plan.changes {
        match change {
            AtticChange::CreateCache { cache, body } => {
                let client = client.ok_or(AtticError::NoServer)?;
                match client.create_cache(cache, body).await {
                    Ok(()) => {
                        // The new key is what clients must trust: show it.
                        let key = client
                            .get_cache_config(cache)
                            .await
                            .ok()
                            .and_then(|c| c.public_key);
                        done(change, key.map(|k| format!("public key {k}")));
                    }
                    Err(e) if is_attic_error(&e, "CacheAlreadyExists") => {
                        done(change, Some("already exists".into()));
                        replanned.insert(cache.clone());
                        let current = client.get_cache_config(cache).await.map_err(|source| {
                            AtticError::Read {
                                cache: cache.clone(),
                                source,
                            }
                        })?;
                        let spec = desired
                            .caches
                            .iter()
                            .find(|c| &c.name == cache)
                            .expect("planned caches are in the spec");
                        if let Some(patch) = configure(spec, &current) {
                            run_patch(client, &patch).await?;
                            done(&patch, None);
                        }
                    }
                    Err(source) => return Err(call_error(change, source)),
                }
            }
            AtticChange::ConfigureCache { cache, .. } => {
                if replanned.contains(cache) {
                    continue;
                }
                let client = client.ok_or(AtticError::NoServer)?;
                run_patch(client, change).await?;
                done(change, None);
            }
            AtticChange::MintToken {
                token,
                subject,
                file,
                ..
            } => {
                let spec = &desired.tokens[*token];
                let jwt = mint(
                    &spec.key,
                    &spec.subject,
                    &spec.permissions,
                    now(),
                    spec.validity,
                );
                write_secret_file(file, &jwt).map_err(|source| AtticError::Write {
                    subject: subject.clone(),
                    path: file.display().to_string(),
                    source,
                })?;
                done(change, None);
            }
        }
    }
    Ok(())
}

async fn run_patch(client: &AtticClient, change: &AtticChange) -> Result<(), AtticError> {
    let AtticChange::ConfigureCache { cache, patch, .. } = change else {
        unreachable!("only PATCHes")
    };
    client
        .configure_cache(cache, patch)
        .await
        .map_err(|source| call_error(change, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_are_0600_and_replaced_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/token");
        write_secret_file(&path, &Secret::new("one")).unwrap();
        write_secret_file(&path, &Secret::new("two")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sub_mode = std::fs::metadata(dir.path().join("sub"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(sub_mode & 0o777, 0o700);
        // No temporary files are left behind.
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            1
        );
        match read_token_file(&path) {
            TokenFile::Present { token, mode } => {
                assert_eq!(token.expose(), "two");
                assert_eq!(mode.map(|m| m & 0o777), Some(0o600));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read_token_file(&dir.path().join("nope")),
            TokenFile::Missing
        ));
    }

    #[test]
    fn attic_error_names() {
        let e = HttpError::Status {
            url: "u".into(),
            status: 404,
            body: "NoSuchCache: cache x does not exist".into(),
            retry_after: None,
        };
        assert!(is_attic_error(&e, "NoSuchCache"));
        assert!(!is_attic_error(&e, "NoSuch"));
    }
}
