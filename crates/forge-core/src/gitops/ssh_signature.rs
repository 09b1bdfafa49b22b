//! SSH signatures in OpenSSH's SSHSIG format (what `ssh-keygen -Y sign` and
//! `git commit -S` with `gpg.format=ssh` write), made with an unencrypted
//! ed25519 key in OpenSSH's private key format. Ed25519 is deterministic, so
//! the same key and message give byte-for-byte what `ssh-keygen` gives. Pure.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use sha2::{Digest as _, Sha512};

const KEY_MAGIC: &[u8] = b"openssh-key-v1\0";
const SIG_MAGIC: &[u8] = b"SSHSIG";
const KEY_TYPE: &str = "ssh-ed25519";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshKeyError {
    #[error("not an OpenSSH private key (expected -----BEGIN OPENSSH PRIVATE KEY-----)")]
    NotOpenSsh,
    #[error("the key is encrypted with a passphrase; use a key without one for signing")]
    Encrypted,
    #[error("the key is {0}; only ssh-ed25519 keys can sign commits here")]
    Unsupported(String),
    #[error("malformed OpenSSH private key: {0}")]
    Malformed(&'static str),
}

/// An ed25519 key that signs commits.
pub struct SshSigningKey {
    key: SigningKey,
    comment: String,
}

impl std::fmt::Debug for SshSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private half never reaches a log.
        write!(f, "SshSigningKey({})", self.public_key_line())
    }
}

impl SshSigningKey {
    /// Reads `-----BEGIN OPENSSH PRIVATE KEY-----` text (as `ssh-keygen -t ed25519 -N ""` writes).
    pub fn parse_openssh(text: &str) -> Result<Self, SshKeyError> {
        let body: String = text
            .trim()
            .strip_prefix("-----BEGIN OPENSSH PRIVATE KEY-----")
            .and_then(|t| t.strip_suffix("-----END OPENSSH PRIVATE KEY-----"))
            .ok_or(SshKeyError::NotOpenSsh)?
            .split_whitespace()
            .collect();
        let raw = STANDARD
            .decode(body)
            .map_err(|_| SshKeyError::Malformed("not base64"))?;
        let mut r = Reader(
            raw.strip_prefix(KEY_MAGIC)
                .ok_or(SshKeyError::Malformed("no openssh-key-v1 header"))?,
        );
        let cipher = r.string()?;
        let _kdf = r.string()?;
        let _kdf_options = r.string()?;
        if cipher != b"none" {
            return Err(SshKeyError::Encrypted);
        }
        if r.u32()? != 1 {
            return Err(SshKeyError::Malformed("expected exactly one key"));
        }
        let _public = r.string()?;
        let mut private = Reader(r.string()?);
        if private.u32()? != private.u32()? {
            return Err(SshKeyError::Malformed("check bytes differ"));
        }
        let kind = private.string()?;
        if kind != KEY_TYPE.as_bytes() {
            return Err(SshKeyError::Unsupported(
                String::from_utf8_lossy(kind).into_owned(),
            ));
        }
        let public = private.string()?;
        let secret = private.string()?;
        // The secret is the 32-byte seed followed by the public key.
        let (Ok(seed), true) = (
            <[u8; 32]>::try_from(secret.get(..32).unwrap_or_default()),
            secret.len() == 64 && &secret[32..] == public,
        ) else {
            return Err(SshKeyError::Malformed("bad ed25519 key material"));
        };
        let comment = String::from_utf8_lossy(private.string()?).into_owned();
        Ok(Self {
            key: SigningKey::from_bytes(&seed),
            comment,
        })
    }

    /// The wire form of the public key (`string "ssh-ed25519" || string key`).
    fn public_blob(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_string(&mut out, KEY_TYPE.as_bytes());
        put_string(&mut out, self.key.verifying_key().as_bytes());
        out
    }

    /// `ssh-ed25519 AAAA… comment`, as in a `.pub` file or an allowed-signers line.
    pub fn public_key_line(&self) -> String {
        let line = format!("{KEY_TYPE} {}", STANDARD.encode(self.public_blob()));
        if self.comment.is_empty() {
            line
        } else {
            format!("{line} {}", self.comment)
        }
    }

    /// The armored SSHSIG signature of `message` in `namespace` (`git` for commits).
    pub fn sign(&self, namespace: &str, message: &[u8]) -> String {
        let hash = Sha512::digest(message);
        let mut signed = SIG_MAGIC.to_vec();
        put_string(&mut signed, namespace.as_bytes());
        put_string(&mut signed, b"");
        put_string(&mut signed, b"sha512");
        put_string(&mut signed, &hash);
        let signature = self.key.sign(&signed);
        let mut sig_blob = Vec::new();
        put_string(&mut sig_blob, KEY_TYPE.as_bytes());
        put_string(&mut sig_blob, &signature.to_bytes());

        let mut blob = SIG_MAGIC.to_vec();
        blob.extend_from_slice(&1u32.to_be_bytes());
        put_string(&mut blob, &self.public_blob());
        put_string(&mut blob, namespace.as_bytes());
        put_string(&mut blob, b"");
        put_string(&mut blob, b"sha512");
        put_string(&mut blob, &sig_blob);
        let b64 = STANDARD.encode(blob);
        let mut out = String::from("-----BEGIN SSH SIGNATURE-----\n");
        for chunk in b64.as_bytes().chunks(70) {
            out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
            out.push('\n');
        }
        out.push_str("-----END SSH SIGNATURE-----");
        out
    }
}

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Result<u32, SshKeyError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or(SshKeyError::Malformed("truncated"))?;
        self.0 = rest;
        Ok(u32::from_be_bytes(*head))
    }

    fn string(&mut self) -> Result<&'a [u8], SshKeyError> {
        let len = self.u32()? as usize;
        if self.0.len() < len {
            return Err(SshKeyError::Malformed("truncated"));
        }
        let (s, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with `ssh-keygen -t ed25519 -N "" -C forge-test-key`; the expected
    // signature is `ssh-keygen -Y sign -f key -n git` of "hello forge\n".
    const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACAUTHF/0EpqxfBXwgJwnCp237bbsVTykhTyMzLo7FtkmwAAAJgwBkP2MAZD
9gAAAAtzc2gtZWQyNTUxOQAAACAUTHF/0EpqxfBXwgJwnCp237bbsVTykhTyMzLo7Ftkmw
AAAEABlyM4Vx9GF4mj7WNhZQG0/+w4XAW9ETwVOz5lYr6eJhRMcX/QSmrF8FfCAnCcKnbf
ttuxVPKSFPIzMujsW2SbAAAADmZvcmdlLXRlc3Qta2V5AQIDBAUGBw==
-----END OPENSSH PRIVATE KEY-----
";
    const PUB: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBRMcX/QSmrF8FfCAnCcKnbfttuxVPKSFPIzMujsW2Sb forge-test-key";
    const SIG: &str = "-----BEGIN SSH SIGNATURE-----
U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgFExxf9BKasXwV8ICcJwqdt+227
FU8pIU8jMy6OxbZJsAAAADZ2l0AAAAAAAAAAZzaGE1MTIAAABTAAAAC3NzaC1lZDI1NTE5
AAAAQEgxwR6LeaYPrgxbCG+5PDQCyuxDMWLbar+isnpYV9HYI5U9RWRw4cn4IQSFzjtJQA
np/tuVBYX80OwKZ3Lxww0=
-----END SSH SIGNATURE-----";

    #[test]
    fn signs_exactly_as_ssh_keygen() {
        let key = SshSigningKey::parse_openssh(KEY).unwrap();
        assert_eq!(key.public_key_line(), PUB);
        assert_eq!(key.sign("git", b"hello forge\n"), SIG);
        assert_ne!(key.sign("git", b"hello forge!\n"), SIG);
        assert!(!format!("{key:?}").contains("b3BlbnNz"));
    }

    #[test]
    fn rejects_what_it_cannot_use() {
        assert_eq!(
            SshSigningKey::parse_openssh(
                "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----"
            )
            .unwrap_err(),
            SshKeyError::NotOpenSsh
        );
        // Same key with the cipher name changed: an encrypted key.
        let raw = STANDARD
            .decode(
                KEY.lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>(),
            )
            .unwrap();
        let mut enc = raw.clone();
        let at = KEY_MAGIC.len() + 4;
        enc.splice(at..at + 4, *b"aes1");
        let text = format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
            STANDARD.encode(&enc)
        );
        assert_eq!(
            SshSigningKey::parse_openssh(&text).unwrap_err(),
            SshKeyError::Encrypted
        );
        let cut = format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
            STANDARD.encode(&raw[..raw.len() / 2])
        );
        assert!(matches!(
            SshSigningKey::parse_openssh(&cut).unwrap_err(),
            SshKeyError::Malformed(_)
        ));
    }
}
