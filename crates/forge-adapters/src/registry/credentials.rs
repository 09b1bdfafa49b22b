//! Where registry credentials come from, first match wins:
//! `FORGE_REGISTRY_USER` + `FORGE_REGISTRY_TOKEN`, `GHCR_TOKEN` (for ghcr.io),
//! then the files podman, skopeo and docker log in to, in their order:
//! `REGISTRY_AUTH_FILE`, `${XDG_RUNTIME_DIR}/containers/auth.json`,
//! `~/.config/containers/auth.json`, Docker's `config.json` (`DOCKER_CONFIG`
//! or `~/.docker`). In each: `credHelpers`, `auths`, then `credsStore`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::RegistryError;
use forge_core::secret::Secret;

#[derive(Debug, Clone)]
pub enum Credential {
    Basic { user: String, password: Secret },
}

pub fn lookup(registry: &str) -> Result<Option<Credential>, RegistryError> {
    lookup_in(registry, &|name| {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    })
}

/// [`lookup`] with the environment given (tests).
pub fn lookup_in(
    registry: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Credential>, RegistryError> {
    let half = |message: String| RegistryError::Credentials {
        registry: registry.to_owned(),
        message,
    };
    match (env("FORGE_REGISTRY_USER"), env("FORGE_REGISTRY_TOKEN")) {
        (Some(user), Some(token)) => {
            return Ok(Some(Credential::Basic {
                user,
                password: Secret::new(token),
            }))
        }
        (Some(user), None) => {
            return Err(half(format!(
                "token missing for user {user}: FORGE_REGISTRY_USER is set, FORGE_REGISTRY_TOKEN is not"
            )))
        }
        (None, Some(_)) => {
            return Err(half(
                "FORGE_REGISTRY_TOKEN is set but FORGE_REGISTRY_USER is not: set the user the token belongs to".into(),
            ))
        }
        (None, None) => {}
    }
    if registry == "ghcr.io" {
        if let Some(token) = env("GHCR_TOKEN") {
            return Ok(Some(Credential::Basic {
                user: "forge".into(),
                password: Secret::new(token),
            }));
        }
    }
    for (path, config) in auth_files(env) {
        if let Some(helper) = config["credHelpers"][registry].as_str() {
            return helper_get(helper, registry);
        }
        if let Some(entry) = auth_entry(&config, registry) {
            return basic_from_entry(entry, &path).map_err(half).map(Some);
        }
        if let Some(store) = config["credsStore"].as_str() {
            if let Some(found) = helper_get(store, registry)? {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

/// An `auths` entry's `auth` (base64 of `user:password`), checked.
fn basic_from_entry(entry: &serde_json::Value, path: &Path) -> Result<Credential, String> {
    let file = path.display();
    let Some(encoded) = entry["auth"].as_str() else {
        return Err(format!("{file}: the entry has no \"auth\" (log in again)"));
    };
    let decoded = BASE64
        .decode(encoded.trim())
        .map_err(|_| format!("{file}: \"auth\" is not base64"))?;
    let text = String::from_utf8_lossy(&decoded).into_owned();
    match text.split_once(':') {
        Some((user, pass)) if !user.is_empty() && !pass.is_empty() => Ok(Credential::Basic {
            user: user.into(),
            password: Secret::new(pass),
        }),
        Some((user, _)) if !user.is_empty() => {
            Err(format!("{file}: token missing for user {user}"))
        }
        _ => Err(format!("{file}: \"auth\" is not user:password")),
    }
}

/// The credential files that exist and parse, in lookup order.
fn auth_files(env: &dyn Fn(&str) -> Option<String>) -> Vec<(PathBuf, serde_json::Value)> {
    let home = env("HOME").map(PathBuf::from);
    let mut paths: Vec<PathBuf> = Vec::new();
    if let Some(file) = env("REGISTRY_AUTH_FILE") {
        paths.push(file.into());
    }
    if let Some(dir) = env("XDG_RUNTIME_DIR") {
        paths.push(Path::new(&dir).join("containers/auth.json"));
    }
    let config_home = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    if let Some(dir) = config_home {
        paths.push(dir.join("containers/auth.json"));
    }
    if let Some(dir) = env("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".docker")))
    {
        paths.push(dir.join("config.json"));
    }
    paths
        .into_iter()
        .filter_map(|p| {
            let bytes = std::fs::read(&p).ok()?;
            match serde_json::from_slice(&bytes) {
                Ok(v) => Some((p, v)),
                Err(e) => {
                    tracing::warn!("{}: not JSON ({e}); skipped", p.display());
                    None
                }
            }
        })
        .collect()
}

fn auth_entry<'a>(config: &'a serde_json::Value, registry: &str) -> Option<&'a serde_json::Value> {
    let auths = config["auths"].as_object()?;
    let candidates = [
        registry.to_owned(),
        format!("https://{registry}"),
        format!("http://{registry}"),
        format!("https://{registry}/v1/"),
    ];
    candidates.iter().find_map(|k| auths.get(k))
}

/// Runs `docker-credential-<helper> get` (the credential-helper protocol).
fn helper_get(helper: &str, registry: &str) -> Result<Option<Credential>, RegistryError> {
    let err = |message: String| RegistryError::CredentialHelper {
        helper: helper.into(),
        registry: registry.into(),
        message,
    };
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("could not run it: {e}")))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(registry.as_bytes())
        .map_err(|e| err(e.to_string()))?;
    let out = child.wait_with_output().map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        // "credentials not found" is not an error: the registry may be public.
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|_| err("printed something that is not JSON".into()))?;
    let user = v["Username"].as_str().unwrap_or_default().to_owned();
    let secret = v["Secret"].as_str().unwrap_or_default().to_owned();
    Ok((!secret.is_empty()).then(|| Credential::Basic {
        user,
        password: Secret::new(secret),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, String)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn user(c: Option<Credential>) -> Option<String> {
        c.map(|Credential::Basic { user, .. }| user)
    }

    #[test]
    fn a_half_set_credential_says_which_half_is_missing() {
        let vars = [("FORGE_REGISTRY_USER", "ci".to_owned())];
        let err = lookup_in("r.example", &env(&vars)).unwrap_err().to_string();
        assert!(err.contains("token missing for user ci"), "{err}");
        let vars = [("FORGE_REGISTRY_TOKEN", "t".to_owned())];
        let err = lookup_in("r.example", &env(&vars)).unwrap_err().to_string();
        assert!(err.contains("FORGE_REGISTRY_USER is not"), "{err}");
    }

    #[test]
    fn containers_auth_files_come_before_docker_and_in_podman_order() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, user: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            let auth = BASE64.encode(format!("{user}:pw"));
            std::fs::write(
                &p,
                format!(r#"{{"auths":{{"r.example":{{"auth":"{auth}"}}}}}}"#),
            )
            .unwrap();
            p
        };
        let docker = write("home/.docker/config.json", "docker");
        let home = dir.path().join("home").display().to_string();
        let vars = vec![("HOME", home.clone())];
        assert_eq!(
            user(lookup_in("r.example", &env(&vars)).unwrap()),
            Some("docker".into())
        );
        write("home/.config/containers/auth.json", "config");
        assert_eq!(
            user(lookup_in("r.example", &env(&vars)).unwrap()),
            Some("config".into())
        );
        write("run/containers/auth.json", "runtime");
        let vars = vec![
            ("HOME", home.clone()),
            (
                "XDG_RUNTIME_DIR",
                dir.path().join("run").display().to_string(),
            ),
        ];
        assert_eq!(
            user(lookup_in("r.example", &env(&vars)).unwrap()),
            Some("runtime".into())
        );
        let named = write("named.json", "named");
        let mut vars = vars;
        vars.push(("REGISTRY_AUTH_FILE", named.display().to_string()));
        assert_eq!(
            user(lookup_in("r.example", &env(&vars)).unwrap()),
            Some("named".into())
        );
        assert_eq!(user(lookup_in("other.example", &env(&vars)).unwrap()), None);
        // A user without a password in a file is named, with the file.
        std::fs::write(
            &docker,
            format!(
                r#"{{"auths":{{"half.example":{{"auth":"{}"}}}}}}"#,
                BASE64.encode("ci:")
            ),
        )
        .unwrap();
        let err = lookup_in("half.example", &env(&vars))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("token missing for user ci") && err.contains("config.json"),
            "{err}"
        );
    }
}
