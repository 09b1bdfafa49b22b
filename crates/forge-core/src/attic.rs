//! Attic's v1 API wire types (zhaofengli/attic `attic/src/api/v1/`), defined
//! once for the cache pusher and the provisioner.

use serde::{Deserialize, Serialize};

/// `POST /_api/v1/get-missing-paths` (push permission).
#[derive(Debug, Serialize)]
pub struct GetMissingPathsRequest<'a> {
    pub cache: &'a str,
    pub store_path_hashes: Vec<&'a str>,
}

#[derive(Debug, Deserialize)]
pub struct GetMissingPathsResponse {
    pub missing_paths: Vec<String>,
}

/// Metadata sent with `PUT /_api/v1/upload-path`, in the `X-Attic-Nar-Info`
/// header or as a preamble before the NAR.
#[derive(Debug, Serialize)]
pub struct UploadPathNarInfo {
    pub cache: String,
    pub store_path_hash: String,
    pub store_path: String,
    /// Base names (`<hash>-<name>`), sorted: the server signs them in this order.
    pub references: Vec<String>,
    pub system: Option<String>,
    pub deriver: Option<String>,
    pub sigs: Vec<String>,
    pub ca: Option<String>,
    /// `sha256:<hex>`.
    pub nar_hash: String,
    pub nar_size: u64,
}

#[derive(Debug, Deserialize, Serialize, PartialEq, Eq, Clone, Copy)]
pub enum UploadPathResultKind {
    Uploaded,
    Deduplicated,
}

#[derive(Debug, Deserialize)]
pub struct UploadPathResult {
    pub kind: UploadPathResultKind,
    #[serde(default)]
    pub file_size: Option<u64>,
    #[serde(default)]
    pub frac_deduplicated: Option<f64>,
}

/// Error bodies: `{"code": 404, "error": "NoSuchCache", "message": "..."}`.
#[derive(Debug, Deserialize)]
pub struct ErrorResponse {
    #[serde(default)]
    pub code: u16,
    pub error: String,
    #[serde(default)]
    pub message: String,
}

/// `GET /_api/v1/cache-config/{cache}` (pull permission); also the PATCH body,
/// where every field is optional.
#[derive(Debug, Default, Deserialize, Serialize, Clone, PartialEq)]
pub struct CacheConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keypair: Option<KeypairConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub substituter_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_public: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_cache_key_names: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_period: Option<RetentionPeriodConfig>,
}

#[derive(Debug, Deserialize, Serialize, Clone, PartialEq)]
pub enum KeypairConfig {
    Generate,
    Keypair(String),
}

#[derive(Debug, Deserialize, Serialize, Clone, PartialEq)]
pub enum RetentionPeriodConfig {
    Global,
    Period(u32),
}

/// `POST /_api/v1/cache-config/{cache}` (create-cache permission).
#[derive(Debug, Deserialize, Serialize, Clone, PartialEq)]
pub struct CreateCacheRequest {
    pub keypair: KeypairConfig,
    pub is_public: bool,
    pub store_dir: String,
    pub priority: i32,
    pub upstream_cache_key_names: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_use_attic_spelling() {
        assert_eq!(
            serde_json::to_string(&KeypairConfig::Generate).unwrap(),
            r#""Generate""#
        );
        assert_eq!(
            serde_json::to_string(&RetentionPeriodConfig::Period(30)).unwrap(),
            r#"{"Period":30}"#
        );
        let r: UploadPathResult = serde_json::from_str(r#"{"kind":"Deduplicated"}"#).unwrap();
        assert_eq!(r.kind, UploadPathResultKind::Deduplicated);
    }
}
