//! The response bodies jkd sends: known in full when the head is built, relayed from the backend through a channel, or read from a static file.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use crate::ajp::response::MAX_BUFFERED_CHUNKS;

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
    /// A file (whole, a range or several) served from the document root; its
    /// length is in the response's `Content-Length`.
    File(Pin<Box<hyper_staticfile::Body>>),
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
            ProxyBody::File(file) => file.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Buffered { left, .. } => *left == 0,
            ProxyBody::Streamed(_) => false,
            // hyper frames a file by the Content-Length the response carries (also
            // for HEAD, whose body is empty): no hint here may contradict it.
            ProxyBody::File(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Buffered { left, .. } => SizeHint::with_exact(*left),
            ProxyBody::Streamed(_) | ProxyBody::File(_) => SizeHint::default(),
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
