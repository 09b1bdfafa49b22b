//! The I/O mechanisms every Forge adapter shares, each written once:
//!
//! - [`http`]: the one HTTP client builder (timeouts, user agent, proxies,
//!   trust roots) and [`http::HttpError`], an HTTP failure classified for retries.
//! - [`retry`]: the one retry policy (backoff with jitter, transient failures
//!   only, `Retry-After`), for HTTP, git and PostgreSQL alike.
//! - [`atomic_file`]: write a file so that readers see the old or the new
//!   content, never half (temp file, fsync, rename, fsync of the directory).
//! - [`file_lock`]: an exclusive lock around a read-modify-write of a file
//!   (flock on a sidecar file beside it, a bounded wait).
//! - [`cache_dir`]: where Forge keeps caches (`$XDG_CACHE_HOME/forge`).

pub mod atomic_file;
pub mod cache_dir;
pub mod file_lock;
pub mod http;
pub mod retry;
