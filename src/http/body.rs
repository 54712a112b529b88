//! The client's request body as the AJP exchange reads it: pieces of the size the backend asks for, each read bounded by the client timeout.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::ajp::exchange::BodySource;

/// The client's request body, read in pieces of exactly the size the backend asks for
/// (fewer bytes only at the end of the body).
pub struct IncomingSource {
    body: Option<Incoming>,
    pending: Bytes,
    /// The longest wait for the client's next bytes (`--timeout`).
    timeout: Duration,
    /// Body bytes read, for the access log (`None` when it is off).
    counted: Option<Arc<AtomicU64>>,
}

impl IncomingSource {
    pub fn new(body: Incoming, timeout: Duration) -> Self {
        IncomingSource {
            body: Some(body),
            pending: Bytes::new(),
            timeout,
            counted: None,
        }
    }

    /// Adds every body byte read to `counter` (the access log's `bytes_in`).
    pub fn counting(mut self, counter: Option<Arc<AtomicU64>>) -> Self {
        self.counted = counter;
        self
    }

    /// The longest wait for the client (each read of the body, each write of the
    /// response).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl BodySource for IncomingSource {
    /// Fills the piece as mod_jk does (`ajp_read_fully_from_server`): reads on until
    /// `max` bytes or the end of the body. Handing on each client frame as it came
    /// would cost an AJP packet and a GET_BODY_CHUNK round trip per frame: a chunked
    /// upload in 100-byte chunks went through ten times slower than with mod_jk.
    async fn next_chunk(&mut self, max: usize) -> io::Result<Option<Bytes>> {
        let mut filled = BytesMut::new();
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(max - filled.len());
                let piece = self.pending.split_to(n);
                if filled.is_empty() && n == max {
                    return Ok(Some(piece));
                }
                filled.extend_from_slice(&piece);
                if filled.len() == max {
                    return Ok(Some(filled.freeze()));
                }
            }
            let Some(body) = self.body.as_mut() else {
                return Ok((!filled.is_empty()).then(|| filled.freeze()));
            };
            let Ok(frame) = tokio::time::timeout(self.timeout, body.frame()).await else {
                self.body = None;
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the client sent no byte of its body for {} s",
                        self.timeout.as_secs()
                    ),
                ));
            };
            match frame {
                None => self.body = None,
                Some(Err(e)) => return Err(io::Error::other(e)),
                Some(Ok(frame)) => {
                    if let Ok(mut data) = frame.into_data() {
                        if let Some(c) = &self.counted {
                            c.fetch_add(data.remaining() as u64, Ordering::Relaxed);
                        }
                        self.pending = data.copy_to_bytes(data.remaining());
                    }
                }
            }
        }
    }
}
