//! Opening: a newer schema is refused (never downgraded), something that is
//! not a ledger is refused, SQLite's settings, and no password from a
//! PostgreSQL URL in any error.

use forge_ledger::{Ledger, LedgerError, LedgerLocation, SCHEMA_VERSION};

use crate::support::{release, suite, Store};

suite!(
    a_ledger_with_a_newer_schema_is_refused_and_left_alone,
    a_database_with_other_tables_is_not_a_ledger,
    reopening_keeps_everything,
);

async fn a_ledger_with_a_newer_schema_is_refused_and_left_alone(store: Store) {
    let ledger = store.open().await;
    let id = ledger.put_release(&release("sha256:aa")).await.unwrap();
    ledger.close().await;
    let newer = SCHEMA_VERSION + 98;
    store
        .raw(&format!("UPDATE forge_ledger SET schema_version = {newer}"))
        .await;

    let err = Ledger::open(&store.location()).await.unwrap_err();
    assert!(
        matches!(err, LedgerError::SchemaTooNew { found, known, .. } if found == newer && known == SCHEMA_VERSION),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the ledger at {} has schema version {newer}; this forge knows up to {SCHEMA_VERSION}: upgrade forge",
            store.location()
        )
    );

    // Untouched: once the version is back, everything is still there.
    store
        .raw(&format!(
            "UPDATE forge_ledger SET schema_version = {SCHEMA_VERSION}"
        ))
        .await;
    let ledger = store.open().await;
    assert!(ledger.release(&id).await.unwrap().is_some());
}

async fn a_database_with_other_tables_is_not_a_ledger(store: Store) {
    store
        .raw("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER)")
        .await;
    let err = Ledger::open(&store.location()).await.unwrap_err();
    assert!(matches!(err, LedgerError::NotALedger { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a forge ledger: it holds other tables (invoices) and no forge_ledger table",
            store.location()
        )
    );
    // Nothing was added to it.
    store.raw("DROP TABLE invoices").await;
    let ledger = store.open().await;
    ledger.verify_audit().await.unwrap();
}

async fn reopening_keeps_everything(store: Store) {
    let first = store.open().await;
    let id = first.put_release(&release("sha256:aa")).await.unwrap();
    first
        .append_audit(
            "a",
            "release.recorded",
            id.as_str(),
            serde_json::Value::Null,
            serde_json::json!({}),
            1,
        )
        .await
        .unwrap();
    // Two opens at once, as two processes starting together would.
    let location = store.location();
    let (second, third) = tokio::join!(Ledger::open(&location), Ledger::open(&location));
    let (second, third) = (second.unwrap(), third.unwrap());
    assert!(second.release(&id).await.unwrap().is_some());
    assert_eq!(third.audit().await.unwrap().len(), 1);
    third.verify_audit().await.unwrap();
}

mod ledger_sqlite_only {
    use super::*;

    #[tokio::test]
    async fn open_creates_the_directory_and_uses_wal_with_foreign_keys() {
        let store = Store::sqlite();
        let LedgerLocation::Sqlite(path) = store.location() else {
            unreachable!()
        };
        assert!(!path.parent().unwrap().exists());
        let ledger = store.open().await;
        assert!(path.is_file());
        // WAL is a property of the file: a fresh connection sees it.
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
        let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options)
            .await
            .unwrap();
        let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let (version,): (i64,) = sqlx::query_as("SELECT schema_version FROM forge_ledger")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        ledger.close().await;
    }

    #[tokio::test]
    async fn a_file_of_random_bytes_is_not_a_ledger_and_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let bytes: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        std::fs::write(&path, &bytes).unwrap();
        let location = LedgerLocation::Sqlite(path.clone());
        let err = Ledger::open(&location).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} is not a forge ledger: the file is not an SQLite database",
                path.display()
            )
        );
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no -wal or -shm beside it"
        );

        // A file whose header is SQLite's but whose body is not.
        let mut fake = b"SQLite format 3\0".to_vec();
        fake.extend(&bytes);
        std::fs::write(&path, &fake).unwrap();
        let err = Ledger::open(&location).await.unwrap_err();
        assert!(matches!(err, LedgerError::NotALedger { .. }), "{err:?}");
    }
}

mod ledger_postgres_only {
    use super::*;
    use forge_testkit::postgres::{PgCluster, SUPERUSER_PASSWORD};

    /// `err`, its Debug form and every cause, as one text.
    fn everything(err: &LedgerError) -> String {
        let mut text = format!("{err} | {err:?}");
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            text.push_str(&format!(" | {s} | {s:?}"));
            source = s.source();
        }
        text
    }

    async fn refused(url: &str) -> String {
        let location: LedgerLocation = url.parse().unwrap();
        let shown = format!("{location} {location:?}");
        let err = Ledger::open(&location).await.unwrap_err();
        assert!(matches!(err, LedgerError::Open { .. }), "{err:?}");
        format!("{shown} {}", everything(&err))
    }

    #[tokio::test]
    async fn no_password_from_the_url_appears_in_any_error() {
        let cluster = PgCluster::shared();
        let port = cluster.port;

        let wrong = "wrong-pw-q7z";
        let text = refused(&format!(
            "postgres://postgres:{wrong}@127.0.0.1:{port}/postgres?sslmode=disable"
        ))
        .await;
        assert!(!text.contains(wrong), "{text}");
        assert!(text.contains("password authentication failed"), "{text}");
        assert!(text.contains("postgres:<redacted>@127.0.0.1"), "{text}");

        let in_query = "query-pw-k3j";
        let text = refused(&format!(
            "postgres://postgres@127.0.0.1:{port}/postgres?password={in_query}&sslmode=disable"
        ))
        .await;
        assert!(!text.contains(in_query), "{text}");
        assert!(text.contains("password authentication failed"), "{text}");

        let nobody = forge_testkit::free_port();
        let text = refused(&format!(
            "postgres://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{nobody}/postgres"
        ))
        .await;
        assert!(!text.contains(SUPERUSER_PASSWORD), "{text}");
        assert!(text.to_lowercase().contains("refused"), "{text}");

        let text = refused(&format!(
            "postgres://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:notaport/postgres"
        ))
        .await;
        assert!(!text.contains(SUPERUSER_PASSWORD), "{text}");

        let text = refused(&format!(
            "postgres://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{port}/no_such_database?sslmode=disable"
        ))
        .await;
        assert!(!text.contains(SUPERUSER_PASSWORD), "{text}");
        assert!(text.contains("no_such_database"), "{text}");

        // Errors after a good open name the ledger without its password too.
        let store = Store::postgres();
        store.raw("CREATE TABLE invoices (id INTEGER)").await;
        let err = Ledger::open(&store.location()).await.unwrap_err();
        let text = everything(&err);
        assert!(matches!(err, LedgerError::NotALedger { .. }), "{text}");
        assert!(!text.contains(SUPERUSER_PASSWORD), "{text}");
    }
}
