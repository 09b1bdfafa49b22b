//! SCRAM-SHA-256 password verifiers, computed client-side (RFC 5802/7677, as
//! PostgreSQL stores them in `pg_authid.rolpassword`), so the plain password
//! never reaches the server, its logs or `pg_stat_statements`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// PostgreSQL's default `scram_iterations`.
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// Salt length PostgreSQL uses.
pub const SALT_LEN: usize = 16;

/// A verifier for `password` with the given salt and iteration count:
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
pub fn verifier(password: &str, salt: &[u8], iterations: u32) -> String {
    let (stored_key, server_key) = keys(password, salt, iterations);
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        B64.encode(salt),
        B64.encode(stored_key),
        B64.encode(server_key)
    )
}

/// Whether `stored` (a `rolpassword` value) still verifies `password`. MD5
/// hashes, plain text or malformed values never match, so they get replaced.
pub fn matches(stored: &str, password: &str) -> bool {
    let Some(parsed) = parse(stored) else {
        return false;
    };
    let (stored_key, server_key) = keys(password, &parsed.salt, parsed.iterations);
    // Constant time is not needed here: both sides are ours to see.
    stored_key[..] == parsed.stored_key[..] && server_key[..] == parsed.server_key[..]
}

struct Parsed {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

fn parse(stored: &str) -> Option<Parsed> {
    let rest = stored.strip_prefix("SCRAM-SHA-256$")?;
    let (iter_salt, keys) = rest.split_once('$')?;
    let (iterations, salt) = iter_salt.split_once(':')?;
    let (stored_key, server_key) = keys.split_once(':')?;
    let iterations: u32 = iterations.parse().ok().filter(|i| *i > 0)?;
    Some(Parsed {
        iterations,
        salt: B64.decode(salt).ok()?,
        stored_key: B64.decode(stored_key).ok()?,
        server_key: B64.decode(server_key).ok()?,
    })
}

fn keys(password: &str, salt: &[u8], iterations: u32) -> ([u8; 32], [u8; 32]) {
    // PostgreSQL applies SASLprep and falls back to the raw bytes when the
    // password is not valid for it (pg_saslprep).
    let prepared = stringprep::saslprep(password)
        .map(|p| p.into_owned())
        .unwrap_or_else(|_| password.to_owned());
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(prepared.as_bytes(), salt, iterations, &mut salted);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    let server_key = hmac(&salted, b"Server Key");
    (stored_key, server_key)
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by PostgreSQL 15: `SET password_encryption = 'scram-sha-256';
    /// CREATE ROLE t PASSWORD 'correct horse'; SELECT rolpassword FROM pg_authid`.
    const FROM_SERVER: &str = "SCRAM-SHA-256$4096:gAl4HnrbuLEUw79nzm7ZxA==$FRoxwLZBPSrby8S/mI6VfByGg6apgoXs4n3pufw1mI0=:56BZeI8TnSyZVuj5zG6KR48sRH5oJ9S1aTfLlG2RMe0=";

    #[test]
    fn verifier_round_trips() {
        let v = verifier("s3cret", b"0123456789abcdef", DEFAULT_ITERATIONS);
        assert!(v.starts_with("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$"));
        assert!(matches(&v, "s3cret"));
        assert!(!matches(&v, "s3cret "));
    }

    #[test]
    fn matches_a_verifier_made_by_postgres() {
        assert!(matches(FROM_SERVER, "correct horse"));
        assert!(!matches(FROM_SERVER, "correct horsE"));
    }

    #[test]
    fn other_formats_never_match() {
        assert!(!matches("md5abcdef", "x"));
        assert!(!matches("x", "x"));
        assert!(!matches("SCRAM-SHA-256$0:AA==$AA==:AA==", "x"));
    }
}
