//! Body adapters between hyper and the AJP exchange: the client's request body as a chunk source, and a channel-fed response body.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use tokio::sync::mpsc;

use crate::ajp::exchange::BodySource;

/// The client's request body, read in pieces no larger than the backend asks for.
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
    async fn next_chunk(&mut self, max: usize) -> io::Result<Option<Bytes>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(max);
                return Ok(Some(self.pending.split_to(n)));
            }
            let Some(body) = self.body.as_mut() else {
                return Ok(None);
            };
            match body.frame().await {
                None => {
                    self.body = None;
                    return Ok(None);
                }
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
