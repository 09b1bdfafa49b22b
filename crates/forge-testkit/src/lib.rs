//! Test support shared by Forge's crates (a dev-dependency only).
//!
//! - [`free_port`], [`wait_for_port`]: loopback ports for the servers tests start.
//! - [`attic_double::AtticDouble`]: starts `doubles/attic_double.py`, the
//!   Attic protocol double (no real atticd can run in the tests here).
//! - [`fault_proxy_script`]: the path of `doubles/fault_proxy.py`.
//! - [`fault_servers`]: `SilentServer` (accepts, never answers), `EchoServer`
//!   (errors quoting the request), `CuttingProxy` (cuts an upload mid-body).
//! - [`postgres::PgCluster`]: a throwaway PostgreSQL cluster (initdb, a free port).

pub mod attic_double;
pub mod fault_servers;
pub mod postgres;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (up to 20 s) until something listens on `port`.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start listening on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A script in `doubles/`.
pub fn double_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("doubles")
        .join(name)
}

/// `doubles/fault_proxy.py`: drops uploads mid-body, answers 500 and 429.
pub fn fault_proxy_script() -> PathBuf {
    double_script("fault_proxy.py")
}
