//! Connection settings (`connection:` or `DATABASE_URL`) and connecting with a
//! bounded wait while the server starts.

use super::{tls, PostgresError};
use crate::domain::spec::{ConnectionSpec, SslMode};
use forge_core::secret::Secret;
use forge_io::retry::{Exhausted, RetryPolicy};
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::config::{Host, SslMode as PgSslMode};
use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Where and how to connect.
#[derive(Clone)]
pub struct Settings {
    config: Config,
    verify_tls: bool,
    /// How long to keep retrying while the server is not accepting connections.
    pub wait: Duration,
}

impl Settings {
    /// From the spec's `connection:`, else `database_url` (`DATABASE_URL`).
    /// `pgpassword` (`PGPASSWORD`) is used when neither gives a password.
    pub fn resolve(
        spec: Option<&ConnectionSpec>,
        database_url: Option<&str>,
        pgpassword: Option<Secret>,
        wait: Duration,
    ) -> Result<Settings, PostgresError> {
        let url = match spec {
            Some(c) => c.url.as_ref().map(|u| u.0.expose()),
            None => Some(database_url.ok_or(PostgresError::NoSettings)?),
        };
        let mut config = match url {
            // tokio-postgres's parse errors do not echo the input, so no password leaks.
            Some(u) => Config::from_str(u).map_err(|e| PostgresError::Settings(e.to_string()))?,
            None => Config::new(),
        };
        let mut verify_tls = false;
        if let Some(c) = spec {
            if let Some(h) = &c.host {
                config.host(&h.0);
            }
            if let Some(p) = c.port {
                config.port(p);
            }
            if let Some(u) = &c.user {
                config.user(&u.0);
            }
            if let Some(d) = &c.database {
                config.dbname(&d.0);
            }
            let password = [
                c.password.as_ref().map(|s| &s.0),
                c.password_env.as_ref().map(|s| &s.0),
                c.password_file.as_ref().map(|s| &s.0),
            ];
            if let Some(p) = password.into_iter().flatten().next() {
                config.password(p.expose());
            }
            match c.sslmode {
                Some(SslMode::Disable) => config.ssl_mode(PgSslMode::Disable),
                Some(SslMode::Prefer) | None => config.ssl_mode(PgSslMode::Prefer),
                Some(SslMode::Require) => config.ssl_mode(PgSslMode::Require),
                Some(SslMode::VerifyFull) => {
                    verify_tls = true;
                    config.ssl_mode(PgSslMode::Require)
                }
            };
        }
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        if config.get_user().is_none() {
            config.user("postgres");
        }
        if config.get_password().is_none() {
            if let Some(p) = pgpassword {
                config.password(p.expose());
            }
        }
        config.application_name("forge-provision");
        config.connect_timeout(Duration::from_secs(10));
        Ok(Settings {
            config,
            verify_tls,
            wait,
        })
    }

    /// `user@host:port/database`, for messages (never the password).
    pub fn target(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let user = self.config.get_user().unwrap_or("postgres");
        let db = self.config.get_dbname().unwrap_or(user);
        format!("{user}@{host}:{port}/{db}")
    }
}

/// An open provisioning connection, able to open more on other databases.
pub struct Connection {
    settings: Settings,
    tls: MakeRustlsConnect,
    pub(crate) client: Client,
}

/// Whether an error means "the server is not up (yet)" rather than "no".
fn is_transient(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        // cannot_connect_now: starting up, shutting down, in recovery.
        Some(db) => db.code().code() == "57P03",
        None => {
            let s = e.to_string();
            !s.contains("password") && !s.contains("TLS") && !s.contains("configuration")
        }
    }
}

impl Connection {
    /// Connects, retrying with backoff while the server is not accepting
    /// connections, for at most `settings.wait`. `on_retry` hears each retry.
    pub async fn open(
        settings: Settings,
        on_retry: &mut dyn FnMut(&str),
    ) -> Result<Connection, PostgresError> {
        let tls = tls::connector(settings.verify_tls)?;
        // Not the HTTP retry schedule: a starting server is polled often.
        let policy = RetryPolicy {
            attempts: usize::MAX,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        let target = settings.target();
        let result = policy
            .run_for(
                settings.wait,
                is_transient,
                || connect(&settings.config, &tls),
                |attempt, e| {
                    on_retry(&format!(
                        "waiting for PostgreSQL at {target} (attempt {attempt}): {}",
                        super::describe(e)
                    ))
                },
            )
            .await;
        match result {
            Ok(client) => Ok(Connection {
                settings,
                tls,
                client,
            }),
            Err(Exhausted {
                error,
                attempts,
                waited,
            }) if is_transient(&error) => Err(PostgresError::Unreachable {
                target,
                waited: Duration::from_millis(waited.as_millis() as u64),
                attempts: attempts as u32,
                source: error,
            }),
            Err(Exhausted { error, .. }) => Err(PostgresError::Connect {
                target,
                source: error,
            }),
        }
    }

    /// Takes a session advisory lock so that two applies never interleave
    /// (a timer firing while a slow apply still runs). Held until exit.
    pub async fn lock_for_apply(&self, on_wait: &mut dyn FnMut(&str)) -> Result<(), PostgresError> {
        const KEY: &str = "SELECT hashtextextended('forge-provision apply', 0)";
        let read = |source| PostgresError::Read {
            what: "the apply lock".into(),
            source,
        };
        let row = self
            .client
            .query_one(&format!("SELECT pg_try_advisory_lock(({KEY}))"), &[])
            .await
            .map_err(read)?;
        if !row.get::<_, bool>(0) {
            on_wait(
                "another forge-provision apply is running on this server; waiting for it to finish",
            );
            self.client
                .execute(&format!("SELECT pg_advisory_lock(({KEY}))"), &[])
                .await
                .map_err(read)?;
        }
        Ok(())
    }

    /// A new connection to `database` on the same server (no waiting: the server is up).
    pub(crate) async fn open_database(&self, database: &str) -> Result<Client, PostgresError> {
        let mut config = self.settings.config.clone();
        config.dbname(database);
        connect(&config, &self.tls)
            .await
            .map_err(|e| PostgresError::Connect {
                target: format!("{} (database {database:?})", self.settings.target()),
                source: e,
            })
    }
}

async fn connect(
    config: &Config,
    tls: &MakeRustlsConnect,
) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(tls.clone()).await?;
    tokio::spawn(async move {
        // Errors surface on the client's next call; nothing to add here.
        let _ = connection.await;
    });
    Ok(client)
}
