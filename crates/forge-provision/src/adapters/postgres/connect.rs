//! Connection settings (`connection:` or `DATABASE_URL`) and connecting with a
//! bounded wait while the server starts.

use super::libpq_env::LibpqEnv;
use super::session::{within, CallError, Session};
use super::{tls, PostgresError};
use crate::domain::spec::{ConnectionSpec, SslMode};
use forge_core::secret::{redact, Secret};
use forge_io::retry::{Exhausted, RetryPolicy};
use std::str::FromStr;
use std::time::{Duration, Instant};
use tokio_postgres::config::{Host, SslMode as PgSslMode};
use tokio_postgres::Config;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The most one connection attempt (TCP, TLS, startup and authentication) takes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The least an attempt gets, even at the end of the wait (libpq's smallest
/// useful `connect_timeout`), so that the last one can still succeed.
const MIN_ATTEMPT: Duration = Duration::from_secs(2);

/// Where and how to connect.
#[derive(Clone)]
pub struct Settings {
    config: Config,
    verify_tls: bool,
    /// How long to keep retrying while the server is not accepting connections.
    pub wait: Duration,
    /// How long one query may go unanswered.
    pub idle: Duration,
}

impl Settings {
    /// From the spec's `connection:`, else `database_url` (`DATABASE_URL`);
    /// what neither sets comes from the libpq variables (`env`: PGHOST,
    /// PGPORT, PGUSER, PGDATABASE, PGSSLMODE, PGPASSWORD), as for psql.
    pub fn resolve(
        spec: Option<&ConnectionSpec>,
        database_url: Option<&str>,
        env: &LibpqEnv,
        wait: Duration,
        idle: Duration,
    ) -> Result<Settings, PostgresError> {
        let url = match (spec, database_url) {
            (Some(c), _) => c.url.as_ref().map(|u| u.0.expose()),
            (None, Some(u)) => Some(u),
            (None, None) if env.names_a_server() => None,
            (None, None) => return Err(PostgresError::NoSettings),
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
        let sslmode_set = spec.is_some_and(|c| c.sslmode.is_some())
            || url.is_some_and(|u| u.contains("sslmode="));
        verify_tls |= env.fill(&mut config, sslmode_set)?;
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        if config.get_user().is_none() {
            config.user("postgres");
        }
        config.application_name("forge-provision");
        // Bounds the TCP connect to each address; `connect` bounds the rest.
        config.connect_timeout(CONNECT_TIMEOUT);
        Ok(Settings {
            config,
            verify_tls,
            wait,
            idle,
        })
    }

    /// `user@host:port/database`, for messages (never the password, even
    /// where a name holds it).
    pub fn target(&self) -> String {
        let user = self.config.get_user().unwrap_or("postgres");
        let db = self.config.get_dbname().unwrap_or(user);
        redact(&format!("{user}@{}/{db}", self.peer()), &self.password())
    }

    /// `host:port`, for messages.
    pub fn peer(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!("{host}:{port}")
    }

    /// The password, for redacting server messages that might quote it.
    fn password(&self) -> Secret {
        let bytes = self.config.get_password().unwrap_or_default();
        Secret::new(String::from_utf8_lossy(bytes))
    }

    /// What went wrong in `e`, for messages: the server's SQLSTATE and text,
    /// or the silence, never the password.
    fn reason(&self, e: &CallError) -> String {
        match e {
            CallError::Server(e) => redact(&super::describe_with_sqlstate(e), &self.password()),
            CallError::NoAnswer(n) => n.to_string(),
        }
    }

    /// Connects to `config` (these settings on some database), the whole
    /// exchange up to authentication bounded by `limit`.
    async fn connect(
        &self,
        config: &Config,
        tls: &MakeRustlsConnect,
        limit: Duration,
    ) -> Result<Session, CallError> {
        let (client, connection) = within(&self.peer(), limit, config.connect(tls.clone())).await?;
        tokio::spawn(async move {
            // Errors surface on the client's next call; nothing to add here.
            let _ = connection.await;
        });
        Ok(Session::new(client, self.peer(), self.idle))
    }
}

/// An open provisioning connection, able to open more on other databases.
pub struct Connection {
    settings: Settings,
    tls: MakeRustlsConnect,
    pub(crate) session: Session,
}

/// Whether an error means "the server is not up (yet)" rather than "no".
fn is_transient(e: &CallError) -> bool {
    let e = match e {
        // Silent: still starting behind a proxy, or hung; the wait bounds it.
        CallError::NoAnswer(_) => return true,
        CallError::Server(e) => e,
    };
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
    /// connections, for at most `settings.wait` in all (an attempt that is
    /// still unanswered at its end is cut there). `on_retry` hears each retry.
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
        let started = Instant::now();
        let attempt_limit = || {
            let left = settings.wait.saturating_sub(started.elapsed());
            left.clamp(MIN_ATTEMPT, CONNECT_TIMEOUT)
        };
        let result = policy
            .run_for(
                settings.wait,
                is_transient,
                || settings.connect(&settings.config, &tls, attempt_limit()),
                |attempt, e| {
                    on_retry(&format!(
                        "waiting for PostgreSQL at {target} (attempt {attempt}): {}",
                        settings.reason(e)
                    ))
                },
            )
            .await;
        match result {
            Ok(session) => Ok(Connection {
                settings,
                tls,
                session,
            }),
            Err(Exhausted {
                error,
                attempts,
                waited,
            }) if is_transient(&error) => Err(PostgresError::Unreachable {
                reason: settings.reason(&error),
                target,
                waited: Duration::from_millis(waited.as_millis() as u64),
                attempts: attempts as u32,
            }),
            Err(Exhausted { error, .. }) => Err(PostgresError::Connect {
                reason: settings.reason(&error),
                target,
            }),
        }
    }

    /// Takes a session advisory lock so that two applies never interleave
    /// (a timer firing while a slow apply still runs). Held until exit.
    /// Polled rather than blocking, so that each call stays under the idle
    /// bound however long the other apply runs.
    pub async fn lock_for_apply(&self, on_wait: &mut dyn FnMut(&str)) -> Result<(), PostgresError> {
        const TRY_LOCK: &str =
            "SELECT pg_try_advisory_lock((SELECT hashtextextended('forge-provision apply', 0)))";
        let poll = RetryPolicy {
            attempts: usize::MAX,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        // `None`: the lock is held by another session.
        let try_lock = || async {
            let rows = self.session.query(TRY_LOCK, &[]).await.map_err(Some)?;
            if rows[0].get::<_, bool>(0) {
                Ok(())
            } else {
                Err(None)
            }
        };
        let result = poll
            .run_for(Duration::MAX, |e| e.is_none(), try_lock, |attempt, _| {
                if attempt == 1 {
                    on_wait("another forge-provision apply is running on this server; waiting for it to finish");
                }
            })
            .await;
        match result {
            Ok(()) => Ok(()),
            Err(Exhausted {
                error: Some(CallError::Server(source)),
                ..
            }) => Err(PostgresError::Read {
                what: "the apply lock".into(),
                source,
            }),
            Err(Exhausted {
                error: Some(CallError::NoAnswer(source)),
                ..
            }) => Err(PostgresError::NoAnswer {
                during: "taking the apply lock".into(),
                source,
            }),
            Err(Exhausted { error: None, .. }) => unreachable!("the lock wait has no time bound"),
        }
    }

    /// A new connection to `database` on the same server (no waiting: the server is up).
    pub(crate) async fn open_database(&self, database: &str) -> Result<Session, PostgresError> {
        let mut config = self.settings.config.clone();
        config.dbname(database);
        self.settings
            .connect(&config, &self.tls, CONNECT_TIMEOUT)
            .await
            .map_err(|e| PostgresError::Connect {
                target: format!("{} (database {database:?})", self.settings.target()),
                reason: self.settings.reason(&e),
            })
    }
}
