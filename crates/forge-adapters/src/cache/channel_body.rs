//! A blocking `Write` that feeds an HTTP request body, for NARs too big to
//! hold in memory. The newest chunk is held back until `commit`, so a producer
//! that fails late (e.g. a hash mismatch found at the end) aborts the request
//! before the server has seen a complete body.
//!
//! When the request ends first (the connection dropped, the server answered
//! early), writes fail with [`BodyClosed`], which [`streamed_outcome`]
//! tells apart from a real store error: the former is the request's failure
//! and is retried like any other, the latter is not.

use std::io::{self, Write};

use bytes::{Bytes, BytesMut};
use forge_io::http::{tracked_stream, Activity};
use tokio::sync::mpsc;

const CHUNK: usize = 1 << 20;

type Item = Result<Bytes, io::Error>;

/// The request this body fed has ended; what was written was not sent.
#[derive(Debug, thiserror::Error)]
#[error("the upload request ended before the whole body was sent")]
pub struct BodyClosed;

/// Whether `e` (or an error it wraps) is [`BodyClosed`].
pub fn is_body_closed(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err.is::<BodyClosed>()
            || err
                .downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.is::<BodyClosed>())
        {
            return true;
        }
        next = err.source();
    }
    false
}

/// The result of a streamed upload from its two halves: the request's
/// result and the body producer's. A producer that only saw the body close
/// defers to the request's error; a producer that failed on its own (a store
/// read error, a hash mismatch) aborted the request and explains it.
pub fn streamed_outcome<T, E>(sent: Result<T, E>, produced: Result<(), E>) -> Result<T, E>
where
    E: std::error::Error + 'static,
{
    match (sent, produced) {
        (Ok(v), Ok(())) => Ok(v),
        (Err(e), Err(p)) if is_body_closed(&p) => Err(e),
        // The server answered success before taking the whole body (it
        // already had the content): its answer stands.
        (Ok(v), Err(p)) if is_body_closed(&p) => Ok(v),
        (_, Err(p)) => Err(p),
        (Err(e), Ok(())) => Err(e),
    }
}

pub struct ChannelWriter {
    tx: mpsc::Sender<Item>,
    buf: BytesMut,
    held: Option<Bytes>,
    committed: bool,
}

/// A writer and the request body that streams what is written to it,
/// touching `activity` as the connection takes each chunk.
pub fn body_channel(activity: Activity) -> (ChannelWriter, reqwest::Body) {
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
    (writer, tracked_stream(stream, activity))
}

impl ChannelWriter {
    fn send(&self, item: Item) -> io::Result<()> {
        self.tx
            .blocking_send(item)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, BodyClosed))
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
