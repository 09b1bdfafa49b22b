//! Where the ledger lives: an SQLite file (the default, under the XDG state
//! directory) or a PostgreSQL database shared by several machines.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use forge_core::secret::{redact, redact_url, Secret};

use crate::error::LedgerError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerLocation {
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL; it may carry a password.
    Postgres(Secret),
}

impl LedgerLocation {
    /// `FORGE_LEDGER` (a path or a `postgres://` URL), else
    /// `$XDG_STATE_HOME/forge/ledger.db`, else `~/.local/state/forge/ledger.db`.
    pub fn from_env_or_default() -> Result<Self, LedgerError> {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        Self::resolve(var("FORGE_LEDGER"), var("XDG_STATE_HOME"), var("HOME"))
    }

    /// [`Self::from_env_or_default`] given the three variables.
    fn resolve(
        forge_ledger: Option<OsString>,
        xdg_state_home: Option<OsString>,
        home: Option<OsString>,
    ) -> Result<Self, LedgerError> {
        if let Some(v) = forge_ledger {
            return match v.to_str() {
                Some(text) => text.parse(),
                // Not UTF-8, so not a URL: a path.
                None => Ok(LedgerLocation::Sqlite(PathBuf::from(v))),
            };
        }
        // A relative XDG_STATE_HOME is ignored, as the XDG spec asks.
        let state = xdg_state_home
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home.map(|h| Path::new(&h).join(".local/state")))
            .ok_or(LedgerError::NoLocation)?;
        Ok(LedgerLocation::Sqlite(
            state.join("forge").join("ledger.db"),
        ))
    }

    /// The location for messages: the path, or the URL without its password.
    pub fn display(&self) -> String {
        self.to_string()
    }

    /// Removes this location's password (if any) from `text`: for messages
    /// of drivers that might quote what they were given.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let LedgerLocation::Postgres(url) = self else {
            return text.to_owned();
        };
        let mut out = text.replace(url.expose(), &redact_url(url.expose()));
        for password in url_passwords(url.expose()) {
            out = redact(&out, &Secret::new(password));
        }
        out
    }
}

impl FromStr for LedgerLocation {
    type Err = LedgerError;

    /// `postgres://…` / `postgresql://…` is PostgreSQL; `sqlite:PATH` or any
    /// other text is a file path.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(LedgerLocation::Postgres(Secret::new(text)));
        }
        if lower.contains("://") && !lower.starts_with("sqlite://") {
            return Err(LedgerError::BadLocation(redact_url(text)));
        }
        let path = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
            .unwrap_or(text);
        if path.is_empty() {
            return Err(LedgerError::BadLocation(text.to_owned()));
        }
        Ok(LedgerLocation::Sqlite(PathBuf::from(path)))
    }
}

impl fmt::Display for LedgerLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerLocation::Sqlite(path) => write!(f, "{}", path.display()),
            LedgerLocation::Postgres(url) => {
                f.write_str(&redact_query_password(&redact_url(url.expose())))
            }
        }
    }
}

/// The passwords a PostgreSQL URL carries: in its user-info and in a
/// `password=` query parameter, each as written and percent-decoded.
fn url_passwords(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Some((_, rest)) = url.split_once("://") {
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if let Some((_, password)) = userinfo.split_once(':') {
                found.push(password.to_owned());
            }
        }
    }
    if let Some((_, query)) = url.split_once('?') {
        for pair in query.split('&') {
            if let Some(password) = pair.strip_prefix("password=") {
                found.push(password.to_owned());
            }
        }
    }
    let decoded: Vec<String> = found.iter().map(|p| percent_decode(p)).collect();
    found.extend(decoded);
    found.retain(|p| !p.is_empty());
    found
}

/// `?password=…` (libpq accepts it there too) becomes `password=<redacted>`.
fn redact_query_password(url: &str) -> String {
    let Some((head, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.strip_prefix("password=") {
            Some(_) => "password=<redacted>".to_owned(),
            None => pair.to_owned(),
        })
        .collect();
    format!("{head}?{}", pairs.join("&"))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap() * 16 + hex(l).unwrap()) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_locations_parse_and_display_without_passwords() {
        let pg: LedgerLocation =
            "postgres://forge:s3cr%21t@db:5432/forge?password=other&sslmode=require"
                .parse()
                .unwrap();
        let shown = format!("{pg} {pg:?}");
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(!shown.contains("other"), "{shown}");
        assert_eq!(
            pg.to_string(),
            "postgres://forge:<redacted>@db:5432/forge?password=<redacted>&sslmode=require"
        );
        let scrubbed = pg.scrub("bad password s3cr!t or s3cr%21t or other");
        assert!(
            !scrubbed.contains("s3cr") && !scrubbed.contains("other"),
            "{scrubbed}"
        );

        assert_eq!(
            "/var/lib/forge/ledger.db"
                .parse::<LedgerLocation>()
                .unwrap(),
            LedgerLocation::Sqlite("/var/lib/forge/ledger.db".into())
        );
        assert_eq!(
            "sqlite:rel.db".parse::<LedgerLocation>().unwrap(),
            LedgerLocation::Sqlite("rel.db".into())
        );
        assert!(matches!(
            "mysql://u:pw@h/db".parse::<LedgerLocation>(),
            Err(LedgerError::BadLocation(t)) if !t.contains("pw@")
        ));
        assert!("".parse::<LedgerLocation>().is_err());
    }

    #[test]
    fn ledger_default_is_the_xdg_state_directory() {
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            LedgerLocation::resolve(None, os("/state"), os("/home/u")).unwrap(),
            LedgerLocation::Sqlite("/state/forge/ledger.db".into())
        );
        assert_eq!(
            LedgerLocation::resolve(None, os("relative"), os("/home/u")).unwrap(),
            LedgerLocation::Sqlite("/home/u/.local/state/forge/ledger.db".into())
        );
        assert_eq!(
            LedgerLocation::resolve(os("/srv/l.db"), os("/state"), None).unwrap(),
            LedgerLocation::Sqlite("/srv/l.db".into())
        );
        assert!(matches!(
            LedgerLocation::resolve(os("postgres://h/db"), None, None).unwrap(),
            LedgerLocation::Postgres(_)
        ));
        assert!(matches!(
            LedgerLocation::resolve(None, None, None),
            Err(LedgerError::NoLocation)
        ));
    }
}
