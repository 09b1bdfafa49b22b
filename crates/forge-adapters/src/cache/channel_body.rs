//! A blocking `Write` that feeds an HTTP request body, for NARs too big to
//! hold in memory. The newest chunk is held back until `commit`, so a producer
//! that fails late (e.g. a hash mismatch found at the end) aborts the request
//! before the server has seen a complete body.

use std::io::{self, Write};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

const CHUNK: usize = 1 << 20;

type Item = Result<Bytes, io::Error>;

pub struct ChannelWriter {
    tx: mpsc::Sender<Item>,
    buf: BytesMut,
    held: Option<Bytes>,
    committed: bool,
}

/// A writer and the request body that streams what is written to it.
pub fn body_channel() -> (ChannelWriter, reqwest::Body) {
    // Bounded: at most a few MiB in flight whatever the NAR size.
    let (tx, rx) = mpsc::channel::<Item>(4);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let writer = ChannelWriter {
        tx,
        buf: BytesMut::with_capacity(CHUNK),
        held: None,
        committed: false,
    };
    (writer, reqwest::Body::wrap_stream(stream))
}

impl ChannelWriter {
    fn send(&self, item: Item) -> io::Result<()> {
        self.tx.blocking_send(item).map_err(|_| {
            io::Error::new(io::ErrorKind::BrokenPipe, "the upload request ended early")
        })
    }

    /// Releases the held-back bytes: the body is complete.
    pub fn commit(mut self) -> io::Result<()> {
        if let Some(h) = self.held.take() {
            self.send(Ok(h))?;
        }
        if !self.buf.is_empty() {
            let rest = self.buf.split().freeze();
            self.send(Ok(rest))?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            let chunk = self.buf.split().freeze();
            if let Some(previous) = self.held.replace(chunk) {
                self.send(Ok(previous))?;
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        if !self.committed {
            // Makes the HTTP client abort the request instead of finishing it.
            let _ = self.tx.try_send(Err(io::Error::other("upload aborted")));
        }
    }
}
