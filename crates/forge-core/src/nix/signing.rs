//! Nix binary-cache signing keys (`name:base64`), compatible with
//! `nix key generate-secret` and `nix-store --generate-binary-cache-key`.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, Verifier as _};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("key is not of the form <name>:<base64>")]
    NoName,
    #[error("key name is empty")]
    EmptyName,
    #[error("key material is not valid base64")]
    Base64,
    #[error("secret key must be 64 bytes (seed + public key), got {0}")]
    SecretLength(usize),
    #[error("public key must be 32 bytes, got {0}")]
    PublicLength(usize),
    #[error("secret key's public half does not match its seed")]
    Mismatch,
}

/// A secret signing key. Never printed: `Debug` shows only the name.
pub struct SigningKey {
    name: String,
    key: ed25519_dalek::SigningKey,
}

#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    name: String,
    key: ed25519_dalek::VerifyingKey,
}

fn split_key(text: &str) -> Result<(&str, Vec<u8>), KeyError> {
    let (name, b64) = text.trim().split_once(':').ok_or(KeyError::NoName)?;
    if name.is_empty() {
        return Err(KeyError::EmptyName);
    }
    let bytes = BASE64.decode(b64).map_err(|_| KeyError::Base64)?;
    Ok((name, bytes))
}

impl SigningKey {
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let (name, bytes) = split_key(text)?;
        let bytes: [u8; 64] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| KeyError::SecretLength(b.len()))?;
        let key = ed25519_dalek::SigningKey::from_keypair_bytes(&bytes)
            .map_err(|_| KeyError::Mismatch)?;
        Ok(Self {
            name: name.to_owned(),
            key,
        })
    }

    /// A new key from 32 random bytes, in the same format as `nix key generate-secret`.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Self {
        Self {
            name: name.to_owned(),
            key: ed25519_dalek::SigningKey::from_bytes(&seed),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The secret key file content (`name:base64(seed ‖ public)`).
    pub fn to_secret_text(&self) -> String {
        format!(
            "{}:{}",
            self.name,
            BASE64.encode(self.key.to_keypair_bytes())
        )
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// A narinfo `Sig:` value over `fingerprint`.
    pub fn sign(&self, fingerprint: &str) -> String {
        let sig = self.key.sign(fingerprint.as_bytes());
        format!("{}:{}", self.name, BASE64.encode(sig.to_bytes()))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({:?}, <redacted>)", self.name)
    }
}

impl PublicKey {
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let (name, bytes) = split_key(text)?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| KeyError::PublicLength(b.len()))?;
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Mismatch)?;
        Ok(Self {
            name: name.to_owned(),
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when `sig` (`name:base64`) is this key's valid signature of `fingerprint`.
    pub fn verifies(&self, fingerprint: &str, sig: &str) -> bool {
        let Some((name, b64)) = sig.split_once(':') else {
            return false;
        };
        let Ok(bytes) = BASE64.decode(b64) else {
            return false;
        };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(&bytes) else {
            return false;
        };
        name == self.name && self.key.verify(fingerprint.as_bytes(), &sig).is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, BASE64.encode(self.key.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with `nix key generate-secret --key-name test-1` and `nix key convert-secret-to-public`.
    const SECRET: &str = "test-1:e3iS/wPftwDPvb7b4ofjPD5P1HP0/FKKlddlAV1U5bgqcPt6eeUi02Cm3psuV2ts2jbO+/jJy/vMHnoPp9kEfQ==";
    const PUBLIC: &str = "test-1:KnD7ennlItNgpt6bLldrbNo2zvv4ycv7zB56D6fZBH0=";

    #[test]
    fn secret_key_gives_nix_public_key() {
        let k = SigningKey::parse(SECRET).unwrap();
        assert_eq!(k.public_key().to_string(), PUBLIC);
        assert_eq!(k.to_secret_text(), SECRET);
    }

    #[test]
    fn signature_verifies_and_wrong_key_does_not() {
        let k = SigningKey::parse(SECRET).unwrap();
        let sig = k.sign("1;/nix/store/x;sha256:y;1;");
        assert!(PublicKey::parse(PUBLIC)
            .unwrap()
            .verifies("1;/nix/store/x;sha256:y;1;", &sig));
        assert!(!PublicKey::parse(PUBLIC)
            .unwrap()
            .verifies("1;/nix/store/z;sha256:y;1;", &sig));
        let other = SigningKey::from_seed("test-1", [7; 32]).public_key();
        assert!(!other.verifies("1;/nix/store/x;sha256:y;1;", &sig));
    }

    #[test]
    fn malformed_keys_give_errors_without_key_material() {
        assert_eq!(SigningKey::parse("nocolon").unwrap_err(), KeyError::NoName);
        assert_eq!(SigningKey::parse(":AAAA").unwrap_err(), KeyError::EmptyName);
        assert_eq!(SigningKey::parse("n:!!").unwrap_err(), KeyError::Base64);
        assert_eq!(
            SigningKey::parse("n:AAAA").unwrap_err(),
            KeyError::SecretLength(3)
        );
        let dbg = format!("{:?}", SigningKey::parse(SECRET).unwrap());
        assert!(!dbg.contains("e3iS"), "{dbg}");
    }
}
