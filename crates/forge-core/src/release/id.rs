//! A release: what ships, recorded once, named by its content.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// What one service ships: store paths and image digests per architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceArtifacts {
    /// Architecture (`amd64`) → store path of the image's closure root.
    pub store_paths: BTreeMap<String, String>,
    /// Architecture → image manifest digest.
    pub image_digests: BTreeMap<String, String>,
    /// The digest pinned in GitOps: the index over several architectures, or
    /// the one image's.
    pub pinned_digest: String,
    /// The image reference as pushed (`registry/repo:tag`).
    pub image: String,
    /// Names of the migrations that ship with it, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<String>,
}

/// The immutable record of what ships. Same content, same [`ReleaseId`]:
/// building the same revision twice names the same release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub flake: String,
    /// The git revision of the flake, when it has one.
    pub revision: Option<String>,
    pub services: BTreeMap<String, ServiceArtifacts>,
}

/// `rel-` and the first hex digits of the SHA-256 of the release's
/// canonical JSON (keys sorted, no whitespace).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReleaseId(String);

impl Release {
    pub fn id(&self) -> ReleaseId {
        // serde_json writes struct fields in declaration order and BTreeMaps
        // sorted: the same release always gives the same bytes.
        let canonical = serde_json::to_vec(self).expect("a release serialises");
        let digest = Sha256::digest(&canonical);
        ReleaseId(format!("rel-{}", &hex::encode(digest)[..16]))
    }
}

impl ReleaseId {
    /// Parses `rel-<16 hex>`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let hex = text
            .strip_prefix("rel-")
            .ok_or_else(|| format!("`{text}` is not a release id (rel-<16 hex digits>)"))?;
        if hex.len() != 16
            || !hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(format!(
                "`{text}` is not a release id (rel-<16 hex digits>)"
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `rel-3f2c1ab9`: the first 8 hex digits, for people.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl std::fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(digest: &str) -> Release {
        Release {
            flake: "github:org/repo".into(),
            revision: Some("3f2c1ab".into()),
            services: BTreeMap::from([(
                "api".into(),
                ServiceArtifacts {
                    store_paths: BTreeMap::from([("amd64".into(), "/nix/store/x-api".into())]),
                    image_digests: BTreeMap::from([("amd64".into(), digest.into())]),
                    pinned_digest: digest.into(),
                    image: "r/api:amd64-3f2c1ab".into(),
                    migrations: vec![],
                },
            )]),
        }
    }

    #[test]
    fn the_same_content_names_the_same_release() {
        let a = release("sha256:aa");
        assert_eq!(a.id(), release("sha256:aa").id());
        assert_ne!(a.id(), release("sha256:bb").id());
        assert!(a.id().as_str().starts_with("rel-"));
        assert_eq!(a.id().as_str().len(), 20);
        assert_eq!(a.id().short().len(), 12);
        assert_eq!(ReleaseId::parse(a.id().as_str()).unwrap(), a.id());
        assert!(ReleaseId::parse("rel-XYZ").is_err());
        assert!(ReleaseId::parse("3f2c1ab9").is_err());
    }
}
