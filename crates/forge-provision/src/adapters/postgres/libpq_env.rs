//! The libpq environment variables `psql` honours (PGHOST, PGPORT, PGUSER,
//! PGDATABASE, PGSSLMODE, PGPASSWORD) and `PGSERVICE` (a section of
//! `PGSERVICEFILE`, `~/.pg_service.conf` or `$PGSYSCONFDIR/pg_service.conf`,
//! whose settings come before the variables', as in libpq), read once from the
//! process and applied below what the spec or `DATABASE_URL` say.

use super::PostgresError;
use forge_core::secret::Secret;
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::Config;

/// The variables that were set (empty ones count as unset, as in libpq).
#[derive(Debug, Default, Clone)]
pub struct LibpqEnv {
    pub host: Option<String>,
    pub port: Option<String>,
    pub user: Option<String>,
    pub database: Option<String>,
    pub sslmode: Option<String>,
    pub password: Option<Secret>,
}

impl LibpqEnv {
    pub fn from_process() -> Result<Self, PostgresError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, PostgresError> {
        let get = |name: &str| get(name).filter(|v| !v.is_empty());
        let service = match get("PGSERVICE") {
            Some(name) => service_section(&name, &get)?,
            None => Vec::new(),
        };
        let pick = |key: &str, var: &str| {
            service
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .or_else(|| get(var))
        };
        Ok(Self {
            host: pick("host", "PGHOST"),
            port: pick("port", "PGPORT"),
            user: pick("user", "PGUSER"),
            database: pick("dbname", "PGDATABASE"),
            sslmode: pick("sslmode", "PGSSLMODE"),
            password: pick("password", "PGPASSWORD").map(Secret::new),
        })
    }

    /// Whether any variable names a server (a password alone does not).
    pub fn names_a_server(&self) -> bool {
        self.host.is_some() || self.port.is_some() || self.user.is_some() || self.database.is_some()
    }

    /// Fills what `config` does not set yet. `sslmode_set`: the spec or URL
    /// chose TLS already. Returns whether the certificate must be verified.
    pub fn fill(&self, config: &mut Config, sslmode_set: bool) -> Result<bool, PostgresError> {
        if config.get_hosts().is_empty() {
            if let Some(hosts) = &self.host {
                for h in hosts.split(',') {
                    config.host(h);
                }
            }
        }
        if config.get_ports().is_empty() {
            if let Some(port) = &self.port {
                let port = port.parse::<u16>().map_err(|_| {
                    PostgresError::Settings(format!("PGPORT={port:?} is not a port number"))
                })?;
                config.port(port);
            }
        }
        if config.get_user().is_none() {
            if let Some(u) = &self.user {
                config.user(u);
            }
        }
        if config.get_dbname().is_none() {
            if let Some(d) = &self.database {
                config.dbname(d);
            }
        }
        if config.get_password().is_none() {
            if let Some(p) = &self.password {
                config.password(p.expose());
            }
        }
        let mut verify = false;
        if !sslmode_set {
            if let Some(mode) = &self.sslmode {
                let pg = match mode.as_str() {
                    "disable" => PgSslMode::Disable,
                    "allow" | "prefer" => PgSslMode::Prefer,
                    "require" => PgSslMode::Require,
                    // verify-ca is checked as verify-full: the stricter of the two.
                    "verify-ca" | "verify-full" => {
                        verify = true;
                        PgSslMode::Require
                    }
                    other => {
                        return Err(PostgresError::Settings(format!(
                            "PGSSLMODE={other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                        )))
                    }
                };
                config.ssl_mode(pg);
            }
        }
        Ok(verify)
    }
}

/// The `key=value` lines of `[name]` in the first service file that has it.
fn service_section(
    name: &str,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, PostgresError> {
    let mut files = Vec::new();
    if let Some(f) = get("PGSERVICEFILE") {
        files.push(std::path::PathBuf::from(f));
    } else if let Some(home) = get("HOME") {
        files.push(std::path::Path::new(&home).join(".pg_service.conf"));
    }
    files.push(
        std::path::Path::new(
            &get("PGSYSCONFDIR").unwrap_or_else(|| "/etc/postgresql-common".into()),
        )
        .join("pg_service.conf"),
    );
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let mut in_section = false;
        let mut found = None::<Vec<(String, String)>>;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                in_section = section == name;
                if in_section {
                    found.get_or_insert_with(Vec::new);
                }
            } else if in_section {
                if let Some((k, v)) = line.split_once('=') {
                    let list = found.get_or_insert_with(Vec::new);
                    list.push((k.trim().to_owned(), v.trim().to_owned()));
                }
            }
        }
        if let Some(list) = found {
            return Ok(list);
        }
    }
    Err(PostgresError::Settings(format!(
        "PGSERVICE={name:?}: no [{name}] in {}",
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(" or ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> LibpqEnv {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LibpqEnv::from_lookup(move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
        .unwrap()
    }

    #[test]
    fn a_service_section_comes_before_the_variables() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("services.conf");
        std::fs::write(
            &file,
            "# comment\n[other]\nhost=elsewhere\n[app]\nhost = db.internal\nport=6543\ndbname=app\n",
        )
        .unwrap();
        let file = file.display().to_string();
        let e = env(&[
            ("PGSERVICE", "app"),
            ("PGSERVICEFILE", &file),
            ("PGHOST", "ignored"),
            ("PGUSER", "admin"),
        ]);
        assert_eq!(e.host.as_deref(), Some("db.internal"));
        assert_eq!(e.port.as_deref(), Some("6543"));
        assert_eq!(e.database.as_deref(), Some("app"));
        assert_eq!(e.user.as_deref(), Some("admin"));
        let missing = LibpqEnv::from_lookup(|n| match n {
            "PGSERVICE" => Some("nope".into()),
            "PGSERVICEFILE" => Some(file.clone()),
            _ => None,
        })
        .unwrap_err();
        assert!(missing.to_string().contains("no [nope] in"), "{missing}");
    }

    #[test]
    fn variables_fill_only_what_is_not_set() {
        let e = env(&[
            ("PGHOST", "db.internal"),
            ("PGPORT", "6543"),
            ("PGUSER", "admin"),
            ("PGDATABASE", "app"),
            ("PGSSLMODE", "verify-full"),
            ("PGPASSWORD", ""),
        ]);
        assert!(e.names_a_server() && e.password.is_none());
        let mut c = Config::new();
        c.user("from-url");
        assert!(e.fill(&mut c, false).unwrap());
        assert_eq!(c.get_user(), Some("from-url"));
        assert_eq!(c.get_dbname(), Some("app"));
        assert_eq!(c.get_ports(), &[6543]);
        assert_eq!(c.get_ssl_mode(), PgSslMode::Require);
        let mut c = Config::new();
        c.ssl_mode(PgSslMode::Disable);
        assert!(!e.fill(&mut c, true).unwrap());
        assert_eq!(c.get_ssl_mode(), PgSslMode::Disable);
    }

    #[test]
    fn bad_values_are_named() {
        let err = env(&[("PGPORT", "five")])
            .fill(&mut Config::new(), false)
            .unwrap_err();
        assert!(err.to_string().contains("PGPORT=\"five\""), "{err}");
        let err = env(&[("PGSSLMODE", "on")])
            .fill(&mut Config::new(), false)
            .unwrap_err();
        assert!(err.to_string().contains("PGSSLMODE"), "{err}");
    }
}
