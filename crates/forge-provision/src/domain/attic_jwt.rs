//! Attic tokens: HS256 JWTs with the permissions under
//! `https://jwt.attic.rs/v1` (attic `token/src/lib.rs`), minted and checked
//! here with the server's secret. Pure: the caller passes the time.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use forge_core::secret::Secret;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Where Attic keeps its claims.
pub const CLAIMS_KEY: &str = "https://jwt.attic.rs/v1";

/// The server's HS256 secret (decoded). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// From `ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64`'s value.
    pub fn from_base64(secret: &Secret) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(secret.expose().trim())
            .map_err(|_| "the HS256 secret is not valid base64".to_owned())?;
        if bytes.is_empty() {
            return Err("the HS256 secret is empty".into());
        }
        Ok(SigningKey(bytes))
    }

    #[cfg(test)]
    pub fn from_bytes(bytes: &[u8]) -> Self {
        SigningKey(bytes.to_vec())
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }
}

/// Cache or pattern -> claim letters (`r`, `w`, `cc`, ...).
pub type Permissions = BTreeMap<String, BTreeSet<String>>;

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub subject: Option<String>,
    /// Seconds since the epoch.
    pub expires: Option<u64>,
    pub permissions: Permissions,
}

/// Mints a token for `subject`, valid from `now` for `validity` seconds.
pub fn mint(
    key: &SigningKey,
    subject: &str,
    permissions: &BTreeMap<String, BTreeSet<&'static str>>,
    now: u64,
    validity: u64,
) -> Secret {
    let caches: serde_json::Map<String, Value> = permissions
        .iter()
        .map(|(cache, letters)| {
            let perms: serde_json::Map<String, Value> = letters
                .iter()
                .map(|l| ((*l).to_owned(), json!(1)))
                .collect();
            (cache.clone(), Value::Object(perms))
        })
        .collect();
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let claims = json!({
        "sub": subject,
        "exp": now + validity,
        "nbf": now,
        CLAIMS_KEY: {"caches": caches},
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = key.mac();
    mac.update(signing_input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    Secret::new(format!("{signing_input}.{sig}"))
}

/// Checks the signature with `key` and reads the claims. Expiry is the
/// caller's business. The error says why, without quoting the token.
pub fn verify(key: &SigningKey, token: &Secret) -> Result<TokenClaims, String> {
    let text = token.expose().trim();
    let parts: Vec<&str> = text.split('.').collect();
    let [header, claims, sig] = parts[..] else {
        return Err("it is not a JWT".into());
    };
    let decode_json = |part: &str| -> Result<Value, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| "it is not a JWT (bad base64)".to_owned())?;
        serde_json::from_slice(&bytes).map_err(|_| "it is not a JWT (bad JSON)".to_owned())
    };
    let header = decode_json(header)?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err("it is not signed with HS256".into());
    }
    let sig = URL_SAFE_NO_PAD
        .decode(sig.trim_end_matches('='))
        .map_err(|_| "it is not a JWT (bad signature encoding)".to_owned())?;
    let mut mac = key.mac();
    mac.update(&text.as_bytes()[..text.rfind('.').expect("three parts")]);
    mac.verify_slice(&sig)
        .map_err(|_| "its signature does not verify with the secret".to_owned())?;
    let claims = decode_json(claims)?;
    let mut permissions = Permissions::new();
    if let Some(caches) = claims
        .get(CLAIMS_KEY)
        .and_then(|c| c.get("caches"))
        .and_then(Value::as_object)
    {
        for (cache, perms) in caches {
            let letters = perms
                .as_object()
                .map(|p| {
                    p.iter()
                        .filter(|(_, v)| {
                            v.as_u64().is_some_and(|n| n != 0) || v.as_bool() == Some(true)
                        })
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default();
            permissions.insert(cache.clone(), letters);
        }
    }
    Ok(TokenClaims {
        subject: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
        expires: claims.get("exp").and_then(Value::as_u64),
        permissions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mint_then_verify() {
        let key = SigningKey::from_bytes(b"k");
        let perms = BTreeMap::from([("main".to_owned(), BTreeSet::from(["r", "w"]))]);
        let token = mint(&key, "ci", &perms, 1_000, 60);
        let claims = verify(&key, &token).unwrap();
        assert_eq!(claims.subject.as_deref(), Some("ci"));
        assert_eq!(claims.expires, Some(1_060));
        assert_eq!(
            claims.permissions["main"],
            BTreeSet::from(["r".to_owned(), "w".to_owned()])
        );
        let other = SigningKey::from_bytes(b"other");
        assert!(verify(&other, &token)
            .unwrap_err()
            .contains("does not verify"));
        assert!(verify(&key, &Secret::new("garbage")).is_err());
        // The claims are under Attic's key, each permission as 1.
        let body = token.expose().split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
        assert_eq!(
            claims[CLAIMS_KEY]["caches"]["main"],
            json!({"r": 1, "w": 1})
        );
        assert_eq!(claims["nbf"], json!(1_000));
    }
}
