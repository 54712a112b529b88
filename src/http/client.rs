//! Client connections: HTTP/1.1 served by hyper and parked down to the bare socket while idle; HTTP/2 (prior knowledge) through hyper-util's auto builder; the timeouts every connection is held to, and the client's spelling of header names.
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
use std::time::{Duration, Instant};

use super::stream::ClientStream;
use crate::runtime::{ConnInfo, Live, ProxyBody};
use bytes::{Buf, Bytes, BytesMut};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

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
#[derive(Debug)]
struct Activity {
    /// Reads that returned bytes.
    reads: AtomicU64,
    /// Requests whose response head is not written yet.
    in_flight: AtomicU64,
    /// Requests (HTTP/2: streams) begun on the connection.
    requests: AtomicU64,
    /// When the current request head began to arrive: milliseconds since `epoch`,
    /// plus one; 0 while no head is arriving. Lives across parks, so a head sent a
    /// byte at a time cannot restart its clock by being parked.
    head_since: AtomicU64,
    epoch: Instant,
    /// HTTP/1.1 only: the bytes of the request head arriving now, kept to learn the
    /// client's spelling of header names (hyper lower-cases them, mod_jk forwards
    /// them as sent).
    head: Option<parking_lot::Mutex<Vec<u8>>>,
    /// A WebSocket accepted by a backend: relayed once hyper has written the 101.
    upgrade: parking_lot::Mutex<Option<super::websocket::Relay>>,
}

/// The most of a request head kept to read the names' spelling (an AJP packet is at
/// most 64 KiB, so a larger head is refused anyway).
const HEAD_CAPTURE_LIMIT: usize = 64 * 1024;

/// The header names of a request head as the client spelled them, in the order they
/// came, each followed by a newline (one small allocation per request).
#[derive(Clone, Debug, Default)]
pub struct OriginalHeaderNames {
    names: Vec<u8>,
}

impl OriginalHeaderNames {
    /// Reads the names of a complete request head (hyper has already parsed and
    /// accepted it, so a plain scan of `name:` at the start of each line suffices);
    /// `None` when the head is not complete or every name is lower case (then
    /// hyper's names are the client's).
    fn scan(head: &[u8]) -> Option<OriginalHeaderNames> {
        let mut names = Vec::with_capacity(256);
        let mut mixed_case = false;
        // One pass: skip the request line, then `name:` up to the empty line.
        let mut rest = head.get(memchr::memchr(b'\n', head)? + 1..)?;
        loop {
            let line_end = memchr::memchr(b'\n', rest)?;
            let line = rest.get(..line_end)?;
            if line.is_empty() || line == b"\r" {
                break;
            }
            if let Some(colon) = memchr::memchr(b':', line) {
                let name = line.get(..colon)?;
                mixed_case |= name.iter().any(u8::is_ascii_uppercase);
                names.extend_from_slice(name);
                names.push(b'\n');
            }
            rest = rest.get(line_end + 1..)?;
        }
        mixed_case.then_some(OriginalHeaderNames { names })
    }

    /// The names in the order they came.
    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.names.split(|b| *b == b'\n').filter(|n| !n.is_empty())
    }

    /// The client's first spelling of `name` (given in lower case).
    fn spelling(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|n| n.eq_ignore_ascii_case(name.as_bytes()))
    }
}

/// Gives each header name of a request its client spelling, walking the client's
/// names alongside hyper's header map (which keeps the order of first appearance),
/// so that the usual request costs one comparison per header.
pub struct Speller<'a> {
    original: Option<&'a OriginalHeaderNames>,
    next: usize,
    last: Option<(&'a str, &'a [u8])>,
}

impl<'a> Speller<'a> {
    pub fn new(original: Option<&'a OriginalHeaderNames>) -> Self {
        Speller {
            original,
            next: 0,
            last: None,
        }
    }

    /// `name` (hyper's, lower case) as the client wrote it.
    pub fn spell(&mut self, name: &'a str) -> &'a [u8] {
        let Some(original) = self.original else {
            return name.as_bytes();
        };
        if let Some((last, spelled)) = self.last
            && last == name
        {
            return spelled;
        }
        let names = &original.names;
        let rest = names.get(self.next..).unwrap_or_default();
        let candidate_len = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let candidate = rest.get(..candidate_len).unwrap_or_default();
        let spelled = if candidate.eq_ignore_ascii_case(name.as_bytes()) {
            self.next += candidate_len + 1;
            candidate
        } else {
            original.spelling(name).unwrap_or(name.as_bytes())
        };
        self.last = Some((name, spelled));
        spelled
    }
}

impl Activity {
    fn new(capture_heads: bool) -> Self {
        Activity {
            reads: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            epoch: Instant::now(),
            head: capture_heads.then(|| parking_lot::Mutex::new(Vec::new())),
            upgrade: parking_lot::Mutex::new(None),
        }
    }

    /// Keeps bytes of a request head that is arriving.
    fn capture(&self, bytes: &[u8]) {
        if let Some(head) = &self.head
            && self.head_since.load(Ordering::Relaxed) != 0
        {
            let mut head = head.lock();
            if head.len() + bytes.len() <= HEAD_CAPTURE_LIMIT {
                head.extend_from_slice(bytes);
            }
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Bytes arrived: when no request is in flight they begin a request head.
    fn bytes_read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_since.load(Ordering::Relaxed) == 0
        {
            self.head_since.store(self.now_ms() + 1, Ordering::Relaxed);
        }
    }

    /// A request head arrived whole (hyper called the service); returns the
    /// spelling of its header names when it was kept.
    fn request_began(&self) -> Option<OriginalHeaderNames> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(0, Ordering::Relaxed);
        // The buffer is kept (cleared) for the connection's next head.
        let mut head = self.head.as_ref()?.lock();
        let names = OriginalHeaderNames::scan(&head);
        head.clear();
        names
    }

    /// Whether a request head has been arriving for longer than `limit`.
    fn head_overdue(&self, limit: Duration) -> bool {
        let since = self.head_since.load(Ordering::Relaxed);
        since != 0 && self.now_ms().saturating_sub(since - 1) > limit.as_millis() as u64
    }
}

/// The client socket as hyper sees it: bytes a previous hyper connection had read
/// but not used come first; reads are counted for the idle check; a write that
/// cannot proceed for the client timeout fails (a client that stops reading a
/// response is dropped, not served forever).
struct ClientIo {
    pending: Bytes,
    stream: ClientStream,
    activity: Arc<Activity>,
    write_timeout: Duration,
    /// Armed while a write waits for the client to read.
    write_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl ClientIo {
    fn new(stream: ClientStream, write_timeout: Duration, http1: bool) -> Self {
        ClientIo {
            pending: Bytes::new(),
            stream,
            activity: Arc::new(Activity::new(http1)),
            write_timeout,
            write_deadline: None,
        }
    }

    /// Passes a write's result on; while it is pending, fails it once the client has
    /// taken nothing for `write_timeout`.
    fn deadline<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.write_deadline = None;
            return polled;
        }
        let timeout = self.write_timeout;
        let sleep = self
            .write_deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if sleep.as_mut().poll(cx).is_ready() {
            self.write_deadline = None;
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client read nothing for {} s", timeout.as_secs()),
            )));
        }
        Poll::Pending
    }
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
            this.activity.bytes_read();
            this.activity
                .capture(buf.filled().get(before..).unwrap_or_default());
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
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.deadline(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.deadline(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_flush(cx);
        this.deadline(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Whether the client starts with HTTP/2's connection preface ("PRI * HTTP/2.0"),
/// looked at without consuming it. A start too short to tell also goes to the auto
/// builder, which reads until it can.
async fn starts_like_http2(stream: &ClientStream) -> bool {
    let mut first = [0u8; 4];
    match stream.peek(&mut first).await {
        Ok(n) if n > 0 => first.get(..n).is_some_and(|got| b"PRI ".starts_with(got)),
        _ => false,
    }
}

/// Serves one client connection until it closes.
pub async fn serve(live: Arc<Live>, stream: ClientStream, info: ConnInfo) {
    // The counters and limits are shared by every snapshot; each request takes the
    // snapshot current when it arrives.
    let rt = live.load();
    let _open = Counted::new(&rt.clients.open);
    let limits = rt.limits;
    // A new connection must start its first request within the timeout, as httpd's
    // `Timeout` asks; one that never sends a byte is closed.
    // Over TLS, ALPN has said which protocol the client speaks.
    let draining = rt.draining.clone();
    let h2 = match &stream {
        ClientStream::Plain(_) | ClientStream::Unix(_) => tokio::select! {
            h2 = tokio::time::timeout(limits.timeout, starts_like_http2(&stream)) => h2,
            // Stopping: a connection that has not sent a byte yet is closed.
            () = draining.wait() => return,
        },
        ClientStream::Tls(_) => Ok(info.tls.as_ref().is_some_and(|t| t.h2)),
    };
    let Ok(h2) = h2 else {
        tracing::debug!(
            "connection from {} sent nothing for {} s",
            info.peer,
            limits.timeout.as_secs()
        );
        return;
    };
    let mut io = ClientIo::new(stream, limits.timeout, !h2);
    if h2 {
        // Boxed: its state is large and would otherwise size every connection's task.
        Box::pin(serve_auto(live.clone(), io, info.clone())).await;
        return;
    }
    loop {
        // Boxed: while parked, the task keeps only the small state of this loop.
        let served = Box::pin(serve_until_idle(live.clone(), io, info.clone())).await;
        let Some(parked) = served else { return };
        io = parked;
        if draining.is_draining() {
            // Stopping: the connection's last request is answered; close it.
            linger_close(&mut io.stream).await;
            return;
        }
        if io.pending.is_empty() {
            let _parked = Counted::new(&rt.clients.parked);
            // Idle between requests: `KeepAliveTimeout`, counted from the last byte
            // (the connection was quiet for PARK_AFTER before it was parked).
            let wait = limits.keepalive_timeout.saturating_sub(PARK_AFTER);
            let woke = tokio::select! {
                woke = tokio::time::timeout(wait, io.stream.readable()) => woke,
                () = draining.wait() => {
                    let _ = io.stream.shutdown().await;
                    return;
                }
            };
            match woke {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    tracing::debug!(
                        "connection from {} idle for the keep-alive timeout: closed",
                        info.peer
                    );
                    let _ = io.stream.shutdown().await;
                    return;
                }
            }
        }
    }
}

/// HTTP/2 with prior knowledge (or a start too short to tell): hyper-util's auto
/// builder, for the life of the connection. A connection with no stream open for
/// the keep-alive timeout is sent GOAWAY and closed (PINGs do not keep it open);
/// jkd pings a quiet client every `timeout` and drops it if the PING is not answered.
async fn serve_auto(live: Arc<Live>, io: ClientIo, info: ConnInfo) {
    let limits = live.load().limits;
    let draining = live.load().draining.clone();
    let activity = io.activity.clone();
    let counted = activity.clone();
    let per_request = info.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let rt = live.load();
        let info = per_request.clone();
        let _ = counted.request_began();
        let guard = InFlight(counted.clone());
        // A CONNECT stream becomes a tunnel once answered with 2xx (a WebSocket, RFC
        // 8441): hyper hands it over through this.
        let on_upgrade = req.extensions().get::<hyper::upgrade::OnUpgrade>().cloned();
        async move {
            let resp = super::handle(rt, req, info, None).await;
            let relay = resp
                .extensions()
                .get::<super::websocket::Upgrade>()
                .and_then(super::websocket::Upgrade::take);
            match (relay, on_upgrade) {
                (Some(relay), Some(on_upgrade)) if resp.status().is_success() => {
                    // The stream counts as a request in flight until the WebSocket ends,
                    // so an idle connection's GOAWAY does not come while it is open.
                    tokio::spawn(async move {
                        match on_upgrade.await {
                            Ok(upgraded) => {
                                super::websocket::relay(&mut TokioIo::new(upgraded), relay).await;
                            }
                            Err(e) => tracing::debug!("WebSocket stream not opened: {e}"),
                        }
                        drop(guard);
                    });
                }
                _ => drop(guard),
            }
            Ok::<_, Infallible>(resp)
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .enable_connect_protocol()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(Some(limits.timeout))
        .keep_alive_timeout(limits.timeout.min(Duration::from_secs(20)))
        .max_concurrent_streams(H2_MAX_STREAMS);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    let mut conn = std::pin::pin!(conn);
    let mut tick = tokio::time::interval(
        IDLE_CHECK.min(limits.keepalive_timeout.max(Duration::from_millis(10))),
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut requests_seen = activity.requests.load(Ordering::Relaxed);
    let mut quiet_since = tokio::time::Instant::now();
    let mut closing: Option<tokio::time::Instant> = None;
    let ended = std::future::poll_fn(|cx| {
        loop {
            if let Poll::Ready(r) = conn.as_mut().poll(cx) {
                return Poll::Ready(r);
            }
            if tick.poll_tick(cx).is_pending() {
                return Poll::Pending;
            }
            if let Some(since) = closing {
                // The graceful close waits for the client to acknowledge a PING and
                // for the streams under way to finish; a client that never answers is
                // dropped.
                if since.elapsed() >= H2_CLOSE_GRACE
                    && activity.in_flight.load(Ordering::Relaxed) == 0
                {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            if draining.is_draining() {
                // Stopping: GOAWAY; the streams under way finish.
                closing = Some(tokio::time::Instant::now());
                conn.as_mut().graceful_shutdown();
                continue;
            }
            let requests = activity.requests.load(Ordering::Relaxed);
            if requests != requests_seen || activity.in_flight.load(Ordering::Relaxed) > 0 {
                requests_seen = requests;
                quiet_since = tokio::time::Instant::now();
            } else if quiet_since.elapsed() >= limits.keepalive_timeout {
                closing = Some(tokio::time::Instant::now());
                conn.as_mut().graceful_shutdown();
            }
        }
    })
    .await;
    if let Err(e) = ended {
        tracing::debug!("connection from {} ended: {e}", info.peer);
    }
}

/// httpd's lingering close: how long each read may wait (SECONDS_TO_LINGER) and how
/// long jkd keeps reading in all (MAX_SECS_TO_LINGER) from a connection it is closing.
const LINGER_READ: Duration = Duration::from_secs(2);
const LINGER_TOTAL: Duration = Duration::from_secs(30);

/// httpd's lingering close: after the last response, stop writing, then read and drop
/// what the client still sends (a body nobody read, a pipelined request) until it
/// closes or is quiet for [`LINGER_READ`], for at most [`LINGER_TOTAL`]. Closing at
/// once with unread bytes makes the kernel reset the connection, and the reset
/// destroys the response the client has not read yet: a client that sends its whole
/// body before reading would see a reset, not the answer.
async fn linger_close(stream: &mut ClientStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let deadline = tokio::time::Instant::now() + LINGER_TOTAL;
    // Allocated only here, so the buffer is not part of every connection's state.
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let wait = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .min(LINGER_READ);
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

/// How long an idle HTTP/2 connection sent GOAWAY may take to close before it is
/// dropped (a well-behaved client needs one round trip).
const H2_CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Streams one HTTP/2 client may have open at once (httpd's `H2MaxSessionStreams`).
const H2_MAX_STREAMS: u32 = 100;

/// How often an HTTP/2 connection is checked for idleness.
const IDLE_CHECK: Duration = Duration::from_millis(250);

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
async fn serve_until_idle(live: Arc<Live>, io: ClientIo, info: ConnInfo) -> Option<ClientIo> {
    let head_timeout = live.load().limits.timeout;
    let draining = live.load().draining.clone();
    let activity = io.activity.clone();
    let counted = activity.clone();
    let per_request = info.clone();
    let svc = service_fn(move |req: Request<Incoming>| -> ServiceFuture {
        let rt = live.load();
        let info = per_request.clone();
        let names = counted.request_began();
        let guard = InFlight(counted.clone());
        let upgrades = counted.clone();
        Box::pin(async move {
            let resp = super::handle(rt, req, info, names).await;
            // A 101 carries the backend side of a WebSocket: the connection relays it
            // once hyper has written the answer.
            if let Some(relay) = resp
                .extensions()
                .get::<super::websocket::Upgrade>()
                .and_then(super::websocket::Upgrade::take)
            {
                *upgrades.upgrade.lock() = Some(relay);
            }
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
                return Poll::Ready(r.map_err(Some));
            }
            if parking || tick.poll_tick(cx).is_pending() {
                return Poll::Pending;
            }
            if draining.is_draining() {
                // Stopping: hyper answers the request under way, if any, and ends.
                parking = true;
                Pin::new(&mut conn).graceful_shutdown();
                continue;
            }
            if activity.head_overdue(head_timeout) {
                // Slow headers (one byte every few seconds): the head had `--timeout`
                // to arrive whole.
                return Poll::Ready(Err(None));
            }
            let reads = activity.reads.load(Ordering::Relaxed);
            let head_arriving = activity.head_since.load(Ordering::Relaxed) != 0;
            if reads == reads_seen
                && activity.in_flight.load(Ordering::Relaxed) == 0
                && !head_arriving
            {
                // Idle: hyper closes its side at once (or, if a request has just
                // begun to arrive, after answering it) and leaves the socket open.
                parking = true;
                tracing::trace!("connection from {} idle: parking", info.peer);
                Pin::new(&mut conn).graceful_shutdown();
            }
            reads_seen = reads;
        }
    })
    .await;
    match ended {
        Ok(()) => {}
        Err(Some(e)) => {
            tracing::debug!("connection from {} ended: {e}", info.peer);
            let mut io = conn.into_parts().io.into_inner();
            linger_close(&mut io.stream).await;
            return None;
        }
        Err(None) => {
            tracing::info!(
                "connection from {} closed: its request head did not arrive within {} s",
                info.peer,
                head_timeout.as_secs()
            );
            return None;
        }
    }
    let parts = conn.into_parts();
    let mut io = parts.io.into_inner();
    let upgraded = activity.upgrade.lock().take();
    if let Some(relay) = upgraded {
        if !parts.read_buf.is_empty() {
            let mut joined = BytesMut::with_capacity(parts.read_buf.len() + io.pending.len());
            joined.extend_from_slice(&parts.read_buf);
            joined.extend_from_slice(&io.pending);
            io.pending = joined.freeze();
        }
        super::websocket::relay(&mut io, relay).await;
        return None;
    }
    if !parking {
        // The client closed, or asked to close, or jkd answered without reading a
        // body: end as httpd does.
        linger_close(&mut io.stream).await;
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
