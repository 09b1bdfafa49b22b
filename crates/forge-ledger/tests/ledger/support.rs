//! What every ledger test uses: a fresh store on either backend, raw SQL
//! behind the ledger's back, and sample releases and runs.
//!
//! `suite!(a, b)` runs `async fn a(store: Store)` (and `b`) twice: as
//! `…::ledger_sqlite::a` on an SQLite file in a temp dir, and as
//! `…::ledger_postgres::a` on its own database of one throwaway PostgreSQL
//! cluster per test process.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use forge_core::release::{Release, RunId, ServiceArtifacts};
use forge_ledger::{Lease, Ledger, LedgerLocation, NewRun};
use forge_testkit::postgres::PgCluster;
use sqlx::Connection as _;

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod ledger_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Store::sqlite()).await
                }
            )*
        }
        mod ledger_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Store::postgres()).await
                }
            )*
        }
    };
}
pub(crate) use suite;

/// A fresh, empty place for a ledger.
pub enum Store {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    /// Its database is made on first use, so a test that turns out to be
    /// a child process (see `leases.rs`) starts no cluster.
    Postgres { url: OnceLock<String> },
}

impl Store {
    pub fn sqlite() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/forge/ledger.db");
        Store::Sqlite { _dir: dir, path }
    }

    pub fn postgres() -> Store {
        Store::Postgres {
            url: OnceLock::new(),
        }
    }

    fn postgres_url(url: &OnceLock<String>) -> &str {
        url.get_or_init(|| {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "ledger_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            PgCluster::shared().create_database(&name)
        })
    }

    /// `sqlite` or `postgres`, as in the test module names.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Sqlite { .. } => "sqlite",
            Store::Postgres { .. } => "postgres",
        }
    }

    pub fn location(&self) -> LedgerLocation {
        match self {
            Store::Sqlite { path, .. } => LedgerLocation::Sqlite(path.clone()),
            Store::Postgres { url } => Self::postgres_url(url).parse().unwrap(),
        }
    }

    pub async fn open(&self) -> Ledger {
        Ledger::open(&self.location()).await.unwrap()
    }

    /// Runs `sql` (statements without parameters) on a connection of its own.
    pub async fn raw(&self, sql: &str) {
        match self {
            Store::Sqlite { path, .. } => {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .busy_timeout(Duration::from_secs(10));
                let mut c = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
                c.close().await.unwrap();
            }
            Store::Postgres { url } => {
                let options =
                    sqlx::postgres::PgConnectOptions::from_str(Self::postgres_url(url)).unwrap();
                let mut c = sqlx::PgConnection::connect_with(&options).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
                c.close().await.unwrap();
            }
        }
    }
}

pub fn release(digest: &str) -> Release {
    Release {
        flake: "github:org/repo".into(),
        revision: Some("3f2c1ab".into()),
        services: BTreeMap::from([(
            "api".into(),
            ServiceArtifacts {
                store_paths: BTreeMap::from([("amd64".into(), "/nix/store/x-api".into())]),
                image_digests: BTreeMap::from([("amd64".into(), digest.into())]),
                pinned_digest: digest.into(),
                image: "r/api:amd64-3f2c1ab".into(),
                migrations: vec!["0001_init".into()],
            },
        )]),
    }
}

/// A run id that sorts after those with a smaller `n`.
pub fn run_id(n: u64) -> RunId {
    RunId::new(1_700_000_000_000 + n, 0xabc0 + n as u32)
}

pub fn new_run(id: &RunId, environment: &str, services: &[&str]) -> NewRun {
    NewRun {
        id: id.clone(),
        release: None,
        command: "deploy".into(),
        environment: environment.into(),
        services: services.iter().map(|s| s.to_string()).collect(),
        actor: "tester@host".into(),
    }
}

pub const MINUTE: Duration = Duration::from_secs(60);

/// A run of `api` in `staging` holding the `api/staging` lease.
pub async fn running(ledger: &Ledger, n: u64) -> (RunId, Lease) {
    let id = run_id(n);
    ledger
        .create_run(new_run(&id, "staging", &["api"]))
        .await
        .unwrap();
    let lease = ledger
        .acquire_lease("api/staging", &id, "host-a:1", MINUTE, 1_000)
        .await
        .unwrap();
    (id, lease)
}
