//! `SilentServer`: accepts TCP connections and never answers (a hung server,
//! a wrong port behind a proxy), and a runner that kills the binary after a
//! limit so that a hang fails the test instead of stalling the suite.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Accepts on 127.0.0.1 and keeps every connection open, reading and
/// discarding what the client sends, without ever writing a byte.
pub struct SilentServer {
    pub port: u16,
    accepted: Arc<Mutex<usize>>,
}

impl SilentServer {
    pub fn start() -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(Mutex::new(0));
        let counter = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                *counter.lock().unwrap() += 1;
                std::thread::spawn(move || swallow(stream));
            }
        });
        SilentServer { port, accepted }
    }

    /// How many connections it has accepted so far.
    pub fn accepted(&self) -> usize {
        *self.accepted.lock().unwrap()
    }
}

fn swallow(mut stream: TcpStream) {
    let mut buf = [0u8; 1024];
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}

/// What a bounded run saw.
pub struct BoundedRun {
    pub output: Output,
    pub elapsed: Duration,
}

/// Runs `cmd`; if it has not exited after `limit`, kills it and panics.
pub fn run_within(mut cmd: Command, limit: Duration) -> BoundedRun {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}; killed. stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let elapsed = started.elapsed();
    BoundedRun {
        output: child.wait_with_output().unwrap(),
        elapsed,
    }
}
