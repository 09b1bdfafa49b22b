//! Small named servers for faults no real server shows on demand: one that
//! accepts and never answers, one that answers every request with an error
//! quoting what it was sent, and a proxy that cuts a connection mid-request
//! (a server restarted in the middle of an upload).

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// Accepts on a loopback port, for each connection runs `serve`; stopped on drop.
struct Acceptor {
    port: u16,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
}

impl Acceptor {
    fn start(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let (stop2, count) = (stop.clone(), connections.clone());
        let serve = Arc::new(serve);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let serve = serve.clone();
                thread::spawn(move || serve(stream));
            }
        });
        Self {
            port,
            stop,
            connections,
        }
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Accepts TCP connections and never says a word (nor reads a byte): a
/// server that hung after `listen`.
pub struct SilentServer {
    acceptor: Acceptor,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl SilentServer {
    pub fn start() -> Self {
        let held = Arc::new(Mutex::new(Vec::new()));
        let held2 = held.clone();
        let acceptor = Acceptor::start(move |s| held2.lock().unwrap().push(s));
        Self { acceptor, held }
    }

    pub fn port(&self) -> u16 {
        self.acceptor.port
    }

    /// Connections accepted so far (each attempt of a client opens one).
    pub fn connections(&self) -> usize {
        self.acceptor.connections.load(Ordering::SeqCst)
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        for s in self.held.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Answers every request with `status` and a body quoting the request's
/// head (its headers, credentials included): a server whose error pages
/// echo what they were sent. HEAD requests get a bodiless 404.
pub struct EchoServer {
    acceptor: Acceptor,
}

impl EchoServer {
    pub fn start(status: u16) -> Self {
        let acceptor = Acceptor::start(move |mut s| {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match s.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => return,
                }
            }
            if head.starts_with(b"HEAD ") {
                // No body can follow a HEAD: say "absent", so a write follows.
                let _ = s.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                return;
            }
            let body = String::from_utf8_lossy(&head).into_owned();
            let _ = write!(
                s,
                "HTTP/1.1 {status} Echo\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        });
        Self { acceptor }
    }

    pub fn port(&self) -> u16 {
        self.acceptor.port
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.acceptor.connections.load(Ordering::SeqCst)
    }
}

/// A TCP proxy to `127.0.0.1:upstream` that, on the first `cuts`
/// connections whose client sends `marker` (e.g. `b"PUT /nar/"`), closes both
/// sides once `after` more bytes followed it: a server that went away in the
/// middle of receiving an upload. Everything else passes through unchanged.
pub struct CuttingProxy {
    acceptor: Acceptor,
    cut: Arc<AtomicUsize>,
}

impl CuttingProxy {
    pub fn start(upstream: u16, marker: &'static [u8], after: usize, cuts: usize) -> Self {
        let left = Arc::new(AtomicUsize::new(cuts));
        let cut = Arc::new(AtomicUsize::new(0));
        let (left2, cut2) = (left.clone(), cut.clone());
        let acceptor = Acceptor::start(move |client| {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_read, mut c_write) = (server, client);
            thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(Shutdown::Write);
            });
            let mut window: Vec<u8> = Vec::new();
            let mut since_marker: Option<usize> = None;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match c_read.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if since_marker.is_none() {
                    window.extend_from_slice(&buf[..n]);
                    if let Some(at) = find(&window, marker) {
                        if take_one(&left2) {
                            since_marker = Some(window.len() - at - marker.len());
                        }
                        window.clear();
                    } else if window.len() > marker.len() {
                        window.drain(..window.len() - marker.len());
                    }
                } else if let Some(seen) = since_marker.as_mut() {
                    *seen += n;
                }
                if since_marker.is_some_and(|seen| seen > after) {
                    cut2.fetch_add(1, Ordering::SeqCst);
                    let _ = c_read.shutdown(Shutdown::Both);
                    let _ = s_write.shutdown(Shutdown::Both);
                    return;
                }
                if s_write.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = s_write.shutdown(Shutdown::Write);
        });
        Self { acceptor, cut }
    }

    pub fn port(&self) -> u16 {
        self.acceptor.port
    }

    /// Connections cut so far.
    pub fn cuts(&self) -> usize {
        self.cut.load(Ordering::SeqCst)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn take_one(left: &AtomicUsize) -> bool {
    left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}
