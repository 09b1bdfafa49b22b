//! The libpq environment variables `psql` honours (PGHOST, PGPORT, PGUSER,
//! PGDATABASE, PGSSLMODE, PGPASSWORD), read once from the process and applied
//! below what the spec or `DATABASE_URL` say, as libpq does.

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
    pub fn from_process() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| get(name).filter(|v| !v.is_empty());
        Self {
            host: get("PGHOST"),
            port: get("PGPORT"),
            user: get("PGUSER"),
            database: get("PGDATABASE"),
            sslmode: get("PGSSLMODE"),
            password: get("PGPASSWORD").map(Secret::new),
        }
    }

    /// Whether any variable names a server (a password alone does not).
    pub fn names_a_server(&self) -> bool {
        self.host.is_some()
            || self.port.is_some()
            || self.user.is_some()
            || self.database.is_some()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> LibpqEnv {
        let pairs: Vec<(String, String)> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        LibpqEnv::from_lookup(move |name| {
            pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
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
        let err = env(&[("PGPORT", "five")]).fill(&mut Config::new(), false).unwrap_err();
        assert!(err.to_string().contains("PGPORT=\"five\""), "{err}");
        let err = env(&[("PGSSLMODE", "on")]).fill(&mut Config::new(), false).unwrap_err();
        assert!(err.to_string().contains("PGSSLMODE"), "{err}");
    }
}
