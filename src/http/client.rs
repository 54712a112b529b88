//! Client connections: HTTP/1.1 served by hyper and parked down to the bare socket while idle; HTTP/2 (prior knowledge) through hyper-util's auto builder.
//!
//! A keep-alive HTTP/1.1 connection served by hyper holds about 20 KiB while it
//! waits for the next request (hyper's 8 KiB read and write buffers, the slot for
//! the request future, the connection task). Browsers and load balancers keep
//! many such connections open and mostly idle, so after [`PARK_AFTER`] without
//! a byte or a request in flight jkd ends hyper's connection without closing the
//! socket and keeps only the socket and a small task waiting for it to become
//! readable (under 1 KiB); the next request starts a new hyper connection on the
//! same socket. Bytes hyper had already read are handed to the new connection
//! first, so nothing the client sent is lost, and the client sees one ordinary
//! keep-alive connection.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::forward::{ConnInfo, ProxyBody, Runtime};

/// How long an HTTP/1.1 connection stays quiet (no byte read, no request in
/// flight) before it is parked. Long enough that a busy keep-alive connection
/// keeps its hyper state between requests; parking costs only a new hyper
/// connection when the next request comes.
pub const PARK_AFTER: Duration = Duration::from_millis(250);

/// The most a connection's read buffer grows to (hyper's default is ~400 KiB). A
/// request head must fit in one AJP packet (`max_packet_size` is at most 64 KiB), so a
/// larger buffer only holds more of an upload than the backend has asked for: with 50
/// concurrent 1 MiB uploads to the demo nodes, jkd's peak RSS is 36 MiB with this
/// limit and 135 MiB with hyper's, for ~7 % fewer uploads per second there (Tomcat,
/// asking for 8 KiB at a time, is slower than either).
const READ_BUFFER_LIMIT: usize = 80 * 1024;

/// Client connection counts, for the status page and metrics.
#[derive(Debug, Default)]
pub struct ClientCounters {
    /// Open client connections (HTTP/1.1 and HTTP/2).
    pub open: AtomicU64,
    /// Of those, HTTP/1.1 connections parked while idle.
    pub parked: AtomicU64,
}

/// Counts a connection as open (or parked) for as long as the guard lives.
struct Counted<'a>(&'a AtomicU64);

impl<'a> Counted<'a> {
    fn new(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Counted(counter)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the parking loop needs to know of a connection's use.
#[derive(Debug, Default)]
struct Activity {
    /// Reads that returned bytes.
    reads: AtomicU64,
    /// Requests whose response head is not written yet.
    in_flight: AtomicU64,
}

/// The client socket as hyper sees it: bytes a previous hyper connection had read
/// but not used come first; reads are counted for the idle check.
struct ClientIo {
    pending: Bytes,
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for ClientIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.pending.is_empty() {
            let n = this.pending.len().min(buf.remaining());
            buf.put_slice(this.pending.get(..n).unwrap_or_default());
            this.pending.advance(n);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.reads.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Whether the client starts with HTTP/2's connection preface ("PRI * HTTP/2.0"),
/// looked at without consuming it. A start too short to tell also goes to the auto
/// builder, which reads until it can.
async fn starts_like_http2(stream: &TcpStream) -> bool {
    let mut first = [0u8; 4];
    match stream.peek(&mut first).await {
        Ok(n) if n > 0 => first.get(..n).is_some_and(|got| b"PRI ".starts_with(got)),
        _ => false,
    }
}

/// Serves one client connection until it closes.
pub async fn serve(rt: Arc<Runtime>, stream: TcpStream, info: ConnInfo) {
    let _open = Counted::new(&rt.clients.open);
    if starts_like_http2(&stream).await {
        // Boxed: its state is large and would otherwise size every connection's task.
        Box::pin(serve_auto(rt.clone(), stream, info)).await;
        return;
    }
    let mut io = ClientIo {
        pending: Bytes::new(),
        stream,
        activity: Arc::default(),
    };
    loop {
        // Boxed: while parked, the task keeps only the small state of this loop.
        let served = Box::pin(serve_until_idle(rt.clone(), io, info)).await;
        let Some(parked) = served else { return };
        io = parked;
        if io.pending.is_empty() {
            let _parked = Counted::new(&rt.clients.parked);
            if io.stream.readable().await.is_err() {
                return;
            }
        }
    }
}

/// HTTP/2 with prior knowledge (or a start too short to tell): hyper-util's auto
/// builder, for the life of the connection.
async fn serve_auto(rt: Arc<Runtime>, stream: TcpStream, info: ConnInfo) {
    let svc = service_fn(move |req| {
        let rt = rt.clone();
        async move { Ok::<_, Infallible>(super::handle(rt, req, info).await) }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder.serve_connection(TokioIo::new(stream), svc).await {
        tracing::debug!("connection from {} ended: {e}", info.peer);
    }
}

type ServiceFuture = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

/// Decrements the in-flight count when the request's future ends (or is dropped).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves HTTP/1.1 requests until the connection ends (`None`) or has been idle
/// for [`PARK_AFTER`] (`Some`: the socket, with any bytes read but not used).
async fn serve_until_idle(rt: Arc<Runtime>, io: ClientIo, info: ConnInfo) -> Option<ClientIo> {
    let activity = io.activity.clone();
    let counted = activity.clone();
    let svc = service_fn(move |req: Request<Incoming>| -> ServiceFuture {
        let rt = rt.clone();
        counted.in_flight.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight(counted.clone());
        Box::pin(async move {
            let resp = super::handle(rt, req, info).await;
            drop(guard);
            Ok(resp)
        })
    });
    let mut conn = http1::Builder::new()
        .max_buf_size(READ_BUFFER_LIMIT)
        .serve_connection(TokioIo::new(io), svc);
    let mut parking = false;
    let mut reads_seen = activity.reads.load(Ordering::Relaxed);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + PARK_AFTER, PARK_AFTER);
    // A task that was not polled for a while must not see a burst of ticks: the second
    // would find no reads "since" the first and park a connection just used.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ended = std::future::poll_fn(|cx| {
        loop {
            if let Poll::Ready(r) = conn.poll_without_shutdown(cx) {
                return Poll::Ready(r);
            }
            if parking || tick.poll_tick(cx).is_pending() {
                return Poll::Pending;
            }
            let reads = activity.reads.load(Ordering::Relaxed);
            if reads == reads_seen && activity.in_flight.load(Ordering::Relaxed) == 0 {
                // Idle: hyper closes its side at once (or, if a request has just
                // begun to arrive, after answering it) and leaves the socket open.
                parking = true;
                Pin::new(&mut conn).graceful_shutdown();
            }
            reads_seen = reads;
        }
    })
    .await;
    if let Err(e) = ended {
        tracing::debug!("connection from {} ended: {e}", info.peer);
        return None;
    }
    let parts = conn.into_parts();
    let mut io = parts.io.into_inner();
    if !parking {
        // The client closed, or asked to close: end as hyper would have.
        let _ = io.stream.shutdown().await;
        return None;
    }
    if !parts.read_buf.is_empty() {
        let mut joined = BytesMut::with_capacity(parts.read_buf.len() + io.pending.len());
        joined.extend_from_slice(&parts.read_buf);
        joined.extend_from_slice(&io.pending);
        io.pending = joined.freeze();
    }
    Some(io)
}
