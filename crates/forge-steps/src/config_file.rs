//! Files named on the command line or in deploy.yaml, read once and checked:
//! deploy.yaml itself and Nix signing keys.

use std::path::Path;

use forge_core::deploy_config::{ConfigError, DeployConfig};
use forge_core::nix::signing::SigningKey;
use forge_core::oci::image_config::Arch;

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("reading {path} (set --config or FORGE_CONFIG)")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error("reading signing key {path}")]
    ReadKey {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a Nix secret key (expected `name:base64` as written by `nix key generate-secret`)")]
    BadKey {
        path: String,
        source: forge_core::nix::signing::KeyError,
    },
}

/// Reads and resolves deploy.yaml; images without `arch` are for this machine's architecture.
pub fn load(file: &Path) -> Result<DeployConfig, ConfigFileError> {
    let bytes = std::fs::read(file).map_err(|source| ConfigFileError::Read {
        path: file.display().to_string(),
        source,
    })?;
    Ok(DeployConfig::parse_bytes(
        &bytes,
        &file.display().to_string(),
        Arch::host(),
    )?)
}

/// Reads a Nix secret key (`name:base64`).
pub fn load_signing_key(path: &Path) -> Result<SigningKey, ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::ReadKey {
        path: path.display().to_string(),
        source,
    })?;
    SigningKey::parse(&text).map_err(|source| ConfigFileError::BadKey {
        path: path.display().to_string(),
        source,
    })
}
