//! Byte counters the progress display reads while uploads run.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// NAR bytes sent so far across all uploads.
#[derive(Debug, Clone, Default)]
pub struct ByteProgress(Arc<AtomicU64>);

impl ByteProgress {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// A counter for one upload attempt: rolled back unless committed, so a
    /// retried upload is not counted twice.
    pub fn attempt(&self) -> AttemptBytes {
        AttemptBytes {
            shared: self.0.clone(),
            mine: 0,
            committed: false,
        }
    }
}

pub struct AttemptBytes {
    shared: Arc<AtomicU64>,
    mine: u64,
    committed: bool,
}

impl AttemptBytes {
    pub fn add(&mut self, n: u64) {
        self.mine += n;
        self.shared.fetch_add(n, Ordering::Relaxed);
    }

    pub fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for AttemptBytes {
    fn drop(&mut self) {
        if !self.committed {
            self.shared.fetch_sub(self.mine, Ordering::Relaxed);
        }
    }
}

/// Counts bytes written through it into an attempt counter.
pub struct CountingWriter<W> {
    pub inner: W,
    pub bytes: AttemptBytes,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes.add(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
