//! Throwaway PostgreSQL clusters for the tests: initdb into a temp dir, a free
//! loopback port, `fsync=off`, SCRAM auth on TCP (so passwords are really
//! checked). One shared cluster (`shared()`) plus dedicated ones for tests
//! that need a late start, another `wal_level`, or cluster-wide pruning.
//!
//! Clusters stop when the test process exits (an `atexit` hook), and a
//! watchdog process stops them too if the test process dies some other way.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The superuser's password in every test cluster.
pub const SUPERUSER_PASSWORD: &str = "test-superuser-pw";

pub struct Cluster {
    pub port: u16,
    pub dir: PathBuf,
    bin: PathBuf,
    wal_level: String,
}

static RUNNING: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

extern "C" fn stop_all() {
    if let Ok(list) = RUNNING.lock() {
        for (bin, data) in list.iter() {
            let _ = as_postgres(bin.join("pg_ctl"))
                .args([
                    "-D",
                    &data.display().to_string(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if let Some(dir) = data.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
    let _ = std::fs::remove_dir_all(spec_dir());
}

fn spec_dir() -> PathBuf {
    std::env::temp_dir().join(format!("forge-provision-specs-{}", std::process::id()))
}

pub use forge_testkit::free_port;
use forge_testkit::postgres::{as_postgres, bindir, check, is_root};

impl Cluster {
    /// Runs initdb; the server is not started.
    pub fn init(wal_level: &str) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("forge-pg-")
            .tempdir()
            .unwrap()
            .keep();
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, SUPERUSER_PASSWORD).unwrap();
        if is_root() {
            check(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&dir)
                    .output()
                    .unwrap(),
                "chown",
            );
        }
        let bin = bindir();
        let out = as_postgres(bin.join("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .unwrap();
        check(out, "initdb");
        // Registered now, so even a cluster that never starts is cleaned up.
        RUNNING
            .lock()
            .unwrap()
            .push((bin.clone(), dir.join("data")));
        Cluster {
            port: free_port(),
            dir,
            bin,
            wal_level: wal_level.to_owned(),
        }
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) {
        let data = self.dir.join("data");
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c wal_level={} -c max_replication_slots=20 -c max_wal_senders=20 -c max_connections=200",
            self.port,
            self.dir.display(),
            self.wal_level
        );
        let out = as_postgres(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-o", &opts, "start"])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        check(out, "pg_ctl start");
    }

    /// `postgres://` URL for `user` with `password` on `database`.
    pub fn url_as(&self, user: &str, password: &str, database: &str) -> String {
        // key=value values: single-quoted, with ' and \ escaped by a backslash.
        let q = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
        format!(
            "host=127.0.0.1 port={} user={} password={} dbname={} sslmode=disable",
            self.port,
            q(user),
            q(password),
            q(database)
        )
    }

    /// The superuser URL the binary gets as DATABASE_URL.
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    fn client(
        &self,
        user: &str,
        password: &str,
        db: &str,
    ) -> Result<(tokio::runtime::Runtime, tokio_postgres::Client), tokio_postgres::Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = rt.block_on(async {
            let (client, conn) =
                tokio_postgres::connect(&self.url_as(user, password, db), tokio_postgres::NoTls)
                    .await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok::<_, tokio_postgres::Error>(client)
        })?;
        Ok((rt, client))
    }

    /// A superuser session on `db` that has run `sql` and stays open (holding
    /// whatever `sql` took, e.g. a lock or an open transaction) until dropped.
    pub fn session(&self, db: &str, sql: &str) -> Session {
        let (rt, client) = self.client("postgres", SUPERUSER_PASSWORD, db).unwrap();
        rt.block_on(client.batch_execute(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        Session {
            _client: client,
            _rt: rt,
        }
    }

    /// Runs SQL as the superuser on `db`.
    pub fn exec(&self, db: &str, sql: &str) {
        let (rt, c) = self.client("postgres", SUPERUSER_PASSWORD, db).unwrap();
        rt.block_on(c.batch_execute(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    /// The first column of each row, as text (NULL as None).
    pub fn column(&self, db: &str, sql: &str) -> Vec<Option<String>> {
        let (rt, c) = self.client("postgres", SUPERUSER_PASSWORD, db).unwrap();
        let msgs = rt
            .block_on(c.simple_query(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        msgs.into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_owned)),
                _ => None,
            })
            .collect()
    }

    /// Whether a single-value query says `t`.
    pub fn is_true(&self, db: &str, sql: &str) -> bool {
        self.column(db, sql).first().cloned().flatten().as_deref() == Some("t")
    }

    /// Whether `user` can log in with `password` (SCRAM over TCP).
    pub fn can_login(&self, user: &str, password: &str, db: &str) -> bool {
        self.client(user, password, db).is_ok()
    }
}

/// An open session from [`Cluster::session`]; dropping it closes the
/// connection, which rolls back its open transaction.
pub struct Session {
    // Dropped first: the client, then the runtime its connection task runs on.
    _client: tokio_postgres::Client,
    _rt: tokio::runtime::Runtime,
}

/// The cluster most tests share (wal_level=logical); tests use their own name prefixes.
pub fn shared() -> &'static Cluster {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(|| {
        install_exit_hooks();
        let c = Cluster::init("logical");
        watch(&c);
        c.start();
        c
    })
}

/// Registers the exit hook and a watchdog that stops clusters if we die.
pub fn install_exit_hooks() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| unsafe {
        libc::atexit(stop_all);
    });
}

/// Starts a watchdog for `cluster`: it stops the server once this process is gone.
pub fn watch(cluster: &Cluster) {
    let script = format!(
        "while [ -d /proc/{pid} ]; do sleep 1; done; {ctl} -D {data} -m immediate stop >/dev/null 2>&1",
        pid = std::process::id(),
        ctl = cluster.bin.join("pg_ctl").display(),
        data = cluster.dir.join("data").display()
    );
    let mut cmd = as_postgres(PathBuf::from("/bin/sh"));
    let _ = cmd
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// A dedicated cluster, stopped at exit like the shared one.
pub fn dedicated(wal_level: &str) -> Cluster {
    install_exit_hooks();
    let c = Cluster::init(wal_level);
    watch(&c);
    c
}

/// Runs `forge-provision` with `args` against `cluster`; env entries are added.
pub fn forge(cluster: &Cluster, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_forge-provision"));
    cmd.args(args)
        .env_remove("PGPASSWORD")
        .env("DATABASE_URL", cluster.url());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts the exit code, printing the output when it differs.
#[track_caller]
pub fn expect_code(out: &Output, code: i32) {
    let (stdout, stderr) = text(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
}

/// Writes `yaml` to a fresh spec file and returns its path.
pub fn spec_file(name: &str, yaml: &str) -> PathBuf {
    let dir = spec_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("spec.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn sleep(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}
