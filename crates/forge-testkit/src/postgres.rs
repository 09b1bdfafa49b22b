//! A throwaway PostgreSQL cluster for tests: initdb into a temp dir, a free
//! loopback port, `fsync=off`, SCRAM on TCP (so the password is checked).
//! The server binaries come from `PG_BINDIR`, else the newest
//! `/usr/lib/postgresql/*/bin`; they run as `postgres` when we are root
//! (PostgreSQL refuses root). A watchdog shell stops the server and removes
//! its directory once the test process is gone, however it ends.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use crate::free_port;

/// The superuser's password in every test cluster.
pub const SUPERUSER_PASSWORD: &str = "testkit-superuser-pw";

/// A running cluster. It lives until the test process exits.
pub struct PgCluster {
    pub port: u16,
    pub dir: PathBuf,
    bin: PathBuf,
}

impl PgCluster {
    /// One cluster per test process, started on first use; tests keep apart
    /// through their own databases ([`PgCluster::create_database`]).
    pub fn shared() -> &'static PgCluster {
        static SHARED: OnceLock<PgCluster> = OnceLock::new();
        SHARED.get_or_init(PgCluster::start)
    }

    /// Initialises and starts a new cluster, waiting until it accepts connections.
    pub fn start() -> PgCluster {
        let dir = tempfile::Builder::new()
            .prefix("forge-testkit-pg-")
            .tempdir()
            .expect("a temp dir for the cluster")
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
        let data = dir.join("data");
        let out = as_postgres(bin.join("initdb"))
            .arg("-D")
            .arg(&data)
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
        let cluster = PgCluster {
            port: free_port(),
            dir,
            bin,
        };
        // Before the start, so even a server that half-started is stopped.
        cluster.watch();
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200",
            cluster.port,
            cluster.dir.display()
        );
        let out = as_postgres(cluster.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(cluster.dir.join("server.log"))
            .args(["-w", "-o", &opts, "start"])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        check(out, "pg_ctl start");
        cluster
    }

    /// `postgres://postgres:<password>@127.0.0.1:<port>/<database>?sslmode=disable`.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// Creates database `name` (a plain identifier) and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "database names here are plain identifiers: {name}"
        );
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(name)
    }

    /// Runs `sql` with psql as the superuser on `database`; its output
    /// (unaligned, tuples only). Panics on an error.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", database, "-c", sql])
            .env("PGPASSWORD", SUPERUSER_PASSWORD)
            .env_remove("PGSERVICE")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        check(out, &format!("psql {sql}"));
        stdout
    }

    pub fn server_log(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// A shell that waits for this process to go, then stops the server
    /// and removes the cluster's directory.
    fn watch(&self) {
        let script = format!(
            "while [ -d /proc/{pid} ]; do sleep 1; done; {ctl} -D {data} -m immediate -w stop >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            ctl = self.bin.join("pg_ctl").display(),
            data = self.dir.join("data").display(),
            dir = self.dir.display(),
        );
        // Never waited for: it is meant to outlive this process.
        #[allow(clippy::zombie_processes)]
        as_postgres(PathBuf::from("/bin/sh"))
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the cluster's watchdog starts");
    }
}

/// `/proc/self` belongs to the effective user (no libc needed for geteuid).
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// PostgreSQL refuses to run as root: run its tools as `postgres` then.
pub fn as_postgres(program: PathBuf) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// `PG_BINDIR`, else the newest `/usr/lib/postgresql/*/bin`.
pub fn bindir() -> PathBuf {
    if let Ok(d) = std::env::var("PG_BINDIR") {
        return PathBuf::from(d);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (apt-get install postgresql), or set PG_BINDIR")
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| Path::new(bin).join("initdb").exists())
        .collect();
    found.sort();
    found.pop().expect("no /usr/lib/postgresql/<version>/bin").1
}

/// Panics with the command's output unless it succeeded.
pub fn check(out: Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
