//! SHA-256 digests as Nix writes them: `sha256:<nix32>`, `sha256:<hex>`,
//! SRI `sha256-<base64>`, and the structured JSON form some Nix releases print.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::nix32;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256([u8; 32]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unrecognised sha256 hash {0:?} (expected sha256:<nix32|hex|base64> or sha256-<base64>)")]
pub struct HashParseError(pub String);

impl Sha256 {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn digest(data: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(sha2::Sha256::digest(data).into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `sha256:<nix32>`, the form narinfo files and fingerprints use.
    pub fn to_nix32_typed(&self) -> String {
        format!("sha256:{}", nix32::encode(&self.0))
    }

    pub fn to_nix32(&self) -> String {
        nix32::encode(&self.0)
    }

    /// `sha256:<hex>`, the form Attic's API and Nix's database use.
    pub fn to_hex_typed(&self) -> String {
        format!("sha256:{}", hex::encode(self.0))
    }

    pub fn to_sri(&self) -> String {
        format!("sha256-{}", BASE64.encode(self.0))
    }

    /// Parses any textual form Nix has printed for a sha256.
    pub fn parse(text: &str) -> Result<Self, HashParseError> {
        let err = || HashParseError(text.to_owned());
        let body = text
            .strip_prefix("sha256:")
            .or_else(|| text.strip_prefix("sha256-"))
            .ok_or_else(err)?;
        Self::parse_untyped(body).ok_or_else(err)
    }

    /// Parses a bare digest: 52 nix32, 64 hex or 44 base64 characters.
    pub fn parse_untyped(body: &str) -> Option<Self> {
        let bytes = match body.len() {
            52 => nix32::decode(body, 32)?,
            64 => hex::decode(body).ok()?,
            44 => BASE64.decode(body).ok()?,
            _ => return None,
        };
        Some(Self(bytes.try_into().ok()?))
    }

    /// Parses the JSON value of a `narHash` field: a string in any form, or
    /// `{"algorithm": "sha256", "hash": ...}` as printed by some Nix releases.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, HashParseError> {
        match value {
            serde_json::Value::String(s) => Self::parse(s),
            serde_json::Value::Object(map) => {
                let algo = map
                    .get("algorithm")
                    .and_then(|v| v.as_str())
                    .unwrap_or("sha256");
                let hash = map.get("hash").and_then(|v| v.as_str()).unwrap_or_default();
                if algo != "sha256" {
                    return Err(HashParseError(value.to_string()));
                }
                Self::parse(hash)
                    .or_else(|_| Self::parse_untyped(hash).ok_or(HashParseError(value.to_string())))
            }
            other => Err(HashParseError(other.to_string())),
        }
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_nix32_typed())
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_nix32_typed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One NAR hash as Nix 2.8 printed it in three places: `nix path-info --json`
    // (SRI), a narinfo written by `nix copy` (nix32) and the store database (hex).
    const SRI: &str = "sha256-dLxNrsjOiudNMVPSd5a0YPJSC4vqs1oeGeGzsA3EZcQ=";
    const NIX32: &str = "sha256:1i35qh6v1cz134g5mczaic5m5wk0njb7gljk656yg2nfr2p4vg3l";
    const HEX: &str = "sha256:74bc4daec8ce8ae74d3153d27796b460f2520b8beab35a1e19e1b3b00dc465c4";

    #[test]
    fn all_forms_agree() {
        let a = Sha256::parse(SRI).unwrap();
        assert_eq!(a, Sha256::parse(NIX32).unwrap());
        assert_eq!(a, Sha256::parse(HEX).unwrap());
        assert_eq!(a.to_nix32_typed(), NIX32);
        assert_eq!(a.to_hex_typed(), HEX);
        assert_eq!(a.to_sri(), SRI);
    }

    #[test]
    fn structured_json_form_is_accepted() {
        let v = serde_json::json!({"algorithm": "sha256", "format": "base64",
            "hash": "dLxNrsjOiudNMVPSd5a0YPJSC4vqs1oeGeGzsA3EZcQ="});
        assert_eq!(Sha256::from_json(&v).unwrap(), Sha256::parse(SRI).unwrap());
        assert_eq!(
            Sha256::from_json(&serde_json::json!(NIX32)).unwrap(),
            Sha256::parse(SRI).unwrap()
        );
    }

    #[test]
    fn garbage_is_rejected_with_the_input_in_the_message() {
        let e = Sha256::parse("md5:abc").unwrap_err();
        assert!(e.to_string().contains("md5:abc"));
        assert!(Sha256::parse("sha256:xyz").is_err());
    }
}
