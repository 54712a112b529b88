//! Body adapters between hyper and the AJP exchange: the client's request body as a chunk source, and the response bodies jkd sends (buffered, channel-fed or any other).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::sync::mpsc;

use crate::ajp::exchange::BodySource;
use crate::ajp::response::MAX_BUFFERED_CHUNKS;

/// The client's request body, read in pieces of exactly the size the backend asks for
/// (fewer bytes only at the end of the body).
pub struct IncomingSource {
    body: Option<Incoming>,
    pending: Bytes,
    /// The longest wait for the client's next bytes (`--timeout`).
    timeout: Duration,
}

impl IncomingSource {
    pub fn new(body: Incoming, timeout: Duration) -> Self {
        IncomingSource {
            body: Some(body),
            pending: Bytes::new(),
            timeout,
        }
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
                        self.pending = data.copy_to_bytes(data.remaining());
                    }
                }
            }
        }
    }
}

/// A response body whose chunks arrive on a channel (from the task relaying the
/// AJP response); an `Err` item aborts the response.
pub struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
}

impl ChannelBody {
    pub fn new(rx: mpsc::Receiver<io::Result<Bytes>>) -> Self {
        ChannelBody { rx }
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Every response body jkd sends. An enum rather than a boxed trait object: the
/// common answers (a small response read whole with its head, a page of the manager)
/// cost no allocation for the body, and hyper sees their exact length, so it writes
/// head and body with one `writev`.
pub enum ProxyBody {
    /// Known in full when the response head was built: up to
    /// [`MAX_BUFFERED_CHUNKS`] pieces (slices of the backend's read buffer).
    Buffered {
        chunks: [Bytes; MAX_BUFFERED_CHUNKS],
        next: usize,
        count: usize,
        left: u64,
    },
    /// Relayed as it arrives from the backend.
    Streamed(ChannelBody),
}

impl ProxyBody {
    /// A body of one piece.
    pub fn full(bytes: Bytes) -> Self {
        Self::pieces([bytes])
    }

    /// A body of the given pieces (at most [`MAX_BUFFERED_CHUNKS`]; more are dropped,
    /// which the caller prevents).
    pub fn pieces(pieces: impl IntoIterator<Item = Bytes>) -> Self {
        let mut chunks: [Bytes; MAX_BUFFERED_CHUNKS] = Default::default();
        let mut count = 0;
        let mut left = 0u64;
        for (slot, piece) in chunks.iter_mut().zip(pieces) {
            left += piece.len() as u64;
            *slot = piece;
            count += 1;
        }
        ProxyBody::Buffered {
            chunks,
            next: 0,
            count,
            left,
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            ProxyBody::Buffered {
                chunks,
                next,
                count,
                left,
            } => {
                while *next < *count {
                    let piece = chunks
                        .get_mut(*next)
                        .map(std::mem::take)
                        .unwrap_or_default();
                    *next += 1;
                    if !piece.is_empty() {
                        *left -= piece.len() as u64;
                        return Poll::Ready(Some(Ok(Frame::data(piece))));
                    }
                }
                Poll::Ready(None)
            }
            ProxyBody::Streamed(channel) => Pin::new(channel).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Buffered { left, .. } => *left == 0,
            ProxyBody::Streamed(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Buffered { left, .. } => SizeHint::with_exact(*left),
            ProxyBody::Streamed(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_buffered_body_gives_its_pieces_and_exact_length() {
        let body = ProxyBody::pieces([
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"cde"),
        ]);
        assert_eq!(body.size_hint().exact(), Some(5));
        assert!(!body.is_end_stream());
        let collected = body.collect().await.map(|c| c.to_bytes());
        assert_eq!(collected.ok(), Some(Bytes::from_static(b"abcde")));
        let empty = ProxyBody::pieces([]);
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));
    }
}
