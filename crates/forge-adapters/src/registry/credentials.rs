//! Where registry credentials come from, first match wins:
//! `FORGE_REGISTRY_USER` + `FORGE_REGISTRY_TOKEN`, `GHCR_TOKEN` (for ghcr.io),
//! then Docker's `config.json` (`credHelpers`, `credsStore`, `auths`).

use std::io::Write as _;
use std::path::PathBuf;
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
    if let (Ok(user), Ok(token)) = (
        std::env::var("FORGE_REGISTRY_USER"),
        std::env::var("FORGE_REGISTRY_TOKEN"),
    ) {
        return Ok(Some(Credential::Basic {
            user,
            password: Secret::new(token),
        }));
    }
    if registry == "ghcr.io" {
        if let Ok(token) = std::env::var("GHCR_TOKEN") {
            return Ok(Some(Credential::Basic {
                user: "forge".into(),
                password: Secret::new(token),
            }));
        }
    }
    let Some(config) = docker_config() else {
        return Ok(None);
    };
    if let Some(helper) = config["credHelpers"][registry].as_str() {
        return helper_get(helper, registry);
    }
    if let Some(entry) = auth_entry(&config, registry) {
        if let Some(auth) = entry["auth"].as_str().and_then(|a| BASE64.decode(a).ok()) {
            let text = String::from_utf8_lossy(&auth).into_owned();
            if let Some((user, pass)) = text.split_once(':') {
                return Ok(Some(Credential::Basic {
                    user: user.into(),
                    password: Secret::new(pass),
                }));
            }
        }
    }
    if let Some(store) = config["credsStore"].as_str() {
        return helper_get(store, registry);
    }
    Ok(None)
}

fn docker_config() -> Option<serde_json::Value> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
    serde_json::from_slice(&std::fs::read(dir.join("config.json")).ok()?).ok()
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
