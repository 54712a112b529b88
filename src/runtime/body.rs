//! The response bodies jkd sends: known in full when the head is built, relayed from the backend through a channel, or read from a static file, compressed when the client accepts it, and counted for the access log when it is on.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use crate::access_log::{AccessLog, Record};
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
    /// Another body whose end (or abandonment) writes an access log line; only
    /// built when the access log is on, so a jkd without one pays nothing.
    Logged(Box<LoggedBody>),
    /// Another body compressed on the way out (see [`super::compressed`]); the
    /// access log wraps this one, so it counts the compressed bytes sent.
    Compressed(Box<super::compressed::CompressedBody>),
}

/// A response body that counts what it hands to the connection and submits its
/// access log record when it ends, fails, or is dropped unfinished (the client went
/// away).
pub struct LoggedBody {
    inner: ProxyBody,
    record: Option<Box<Record>>,
    log: Arc<AccessLog>,
    started: Instant,
    /// Request body bytes read from the client (counted by the forwarding code).
    bytes_in: Option<Arc<AtomicU64>>,
    ended: bool,
}

impl LoggedBody {
    pub fn new(
        inner: ProxyBody,
        record: Box<Record>,
        log: Arc<AccessLog>,
        started: Instant,
        bytes_in: Option<Arc<AtomicU64>>,
    ) -> Self {
        LoggedBody {
            inner,
            record: Some(record),
            log,
            started,
            bytes_in,
            ended: false,
        }
    }

    fn submit(&mut self) {
        let Some(mut record) = self.record.take() else {
            return;
        };
        record.duration = self.started.elapsed();
        if let Some(n) = &self.bytes_in {
            record.bytes_in = record.bytes_in.max(n.load(Ordering::Relaxed));
        }
        // hyper sends no body for HEAD, 204 and 304 and drops it unread: that is
        // a complete response.
        let bodiless = record.method == http::Method::HEAD || matches!(record.status, 204 | 304);
        record.completed = self.ended || self.inner.is_end_stream() || bodiless;
        self.log.submit(record);
    }
}

impl Body for LoggedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(record)) = (frame.data_ref(), this.record.as_mut()) {
                    record.bytes_out += data.len() as u64;
                }
            }
            Poll::Ready(None) => {
                this.ended = true;
                this.submit();
            }
            // The backend broke off: the client gets a cut response.
            Poll::Ready(Some(Err(_))) => this.submit(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        // Not submitted yet: hyper let go of the body before its end (the client went
        // away, or there was nothing to send).
        self.submit();
    }
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
            ProxyBody::Logged(logged) => Pin::new(logged.as_mut()).poll_frame(cx),
            ProxyBody::Compressed(body) => Pin::new(body.as_mut()).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Buffered { left, .. } => *left == 0,
            ProxyBody::Streamed(_) => false,
            // hyper frames a file by the Content-Length the response carries (also
            // for HEAD, whose body is empty): no hint here may contradict it.
            ProxyBody::File(_) => false,
            ProxyBody::Logged(logged) => logged.is_end_stream(),
            ProxyBody::Compressed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Buffered { left, .. } => SizeHint::with_exact(*left),
            ProxyBody::Streamed(_) | ProxyBody::File(_) => SizeHint::default(),
            ProxyBody::Logged(logged) => logged.size_hint(),
            ProxyBody::Compressed(body) => body.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A record with only what the body wrapper fills in mattering.
    fn record() -> Box<Record> {
        Box::new(Record {
            start: std::time::SystemTime::UNIX_EPOCH,
            client: std::net::IpAddr::from([127, 0, 0, 1]),
            peer: std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
            local_port: 80,
            method: http::Method::GET,
            uri: http::Uri::from_static("/x"),
            version: http::Version::HTTP_11,
            host: None,
            user_agent: None,
            referer: None,
            request_id: http::HeaderValue::from_static("jkd-1"),
            tls: None,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            status: 200,
            bytes_in: 0,
            bytes_out: 0,
            duration: std::time::Duration::ZERO,
            backend: None,
            worker: None,
            member: None,
            route: None,
            sticky: Default::default(),
            attempts: 0,
            completed: false,
        })
    }

    /// The json lines an access log in a fresh file got from `run`.
    async fn logged(name: &str, run: impl AsyncFnOnce(Arc<AccessLog>)) -> Vec<serde_json::Value> {
        use crate::access_log::{Destination, LineFormat};
        let path = std::env::temp_dir().join(format!(
            "jkd-logged-body-{}-{name}.json",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let log =
            Arc::new(AccessLog::start(Destination::File(path.clone()), LineFormat::Json).unwrap());
        run(log.clone()).await;
        log.flush(std::time::Duration::from_secs(5));
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn a_logged_body_counts_what_it_hands_on_and_logs_once_at_the_end() {
        let lines = logged("complete", async |log| {
            let inner = ProxyBody::pieces([Bytes::from_static(b"ab"), Bytes::from_static(b"cde")]);
            let body = ProxyBody::Logged(Box::new(LoggedBody::new(
                inner,
                record(),
                log,
                Instant::now(),
                Some(Arc::new(AtomicU64::new(7))),
            )));
            assert_eq!(body.size_hint().exact(), Some(5));
            let collected = body.collect().await.map(|c| c.to_bytes());
            assert_eq!(collected.ok(), Some(Bytes::from_static(b"abcde")));
        })
        .await;
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["bytes_out"], 5);
        assert_eq!(lines[0]["bytes_in"], 7);
        assert_eq!(lines[0]["completed"], true);
    }

    #[tokio::test]
    async fn a_logged_body_dropped_midway_is_not_completed() {
        let lines = logged("cut", async |log| {
            let (tx, rx) = mpsc::channel(4);
            let mut body = ProxyBody::Logged(Box::new(LoggedBody::new(
                ProxyBody::Streamed(ChannelBody::new(rx)),
                record(),
                log,
                Instant::now(),
                None,
            )));
            tx.send(Ok(Bytes::from_static(b"first"))).await.unwrap();
            let frame = body.frame().await.unwrap().unwrap();
            assert_eq!(frame.into_data().ok(), Some(Bytes::from_static(b"first")));
            // The client went away: hyper drops the body with more to come.
            drop(body);
        })
        .await;
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["bytes_out"], 5);
        assert_eq!(lines[0]["completed"], false);
    }

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
