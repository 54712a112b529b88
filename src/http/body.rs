//! Body adapters between hyper and the AJP exchange: the client's request body as a chunk source, and a channel-fed response body.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use tokio::sync::mpsc;

use crate::ajp::exchange::BodySource;

/// The client's request body, read in pieces of exactly the size the backend asks for
/// (fewer bytes only at the end of the body).
pub struct IncomingSource {
    body: Option<Incoming>,
    pending: Bytes,
}

impl IncomingSource {
    pub fn new(body: Incoming) -> Self {
        IncomingSource {
            body: Some(body),
            pending: Bytes::new(),
        }
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
            match body.frame().await {
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
