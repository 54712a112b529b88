//! The connection pool of one `type=http` member: HTTP/1.1 keep-alive connections to its backend's HTTP connector, at most `connection_pool_size` of them, idle ones reused and closed after `connection_pool_timeout`.
//!
//! A connection is hyper's client connection over a socket opened exactly as an AJP
//! one is (same connect timeout, keepalive, buffers, source address), driven by its
//! own task; the pool keeps the sending halves of the idle ones.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper::header::HeaderValue;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::ajp::conn::{ConnError, Connection};
use crate::ajp::pool::{AcquireError, PoolCounters, Timeouts, pool_size, resolve};
use crate::config::workers::AjpSettings;

/// A member connection outside the pool, plain or TLS (see [`HttpPool::open_raw`]).
pub type RawStream = Box<dyn RawIo>;

/// What a relay needs of a member connection.
pub trait RawIo: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> RawIo for T {}

/// The request body as hyper sends it to an HTTP member: pieces fed by the task that
/// reads the client (`http::upstream`); an `Err` piece aborts the request,
/// so a body that did not arrive whole never reaches the backend as whole.
#[derive(Debug)]
pub struct UpstreamBody {
    rx: Option<mpsc::Receiver<io::Result<Bytes>>>,
    /// The Content-Length, when known (hyper then frames with it).
    length: Option<u64>,
}

impl UpstreamBody {
    /// A body fed through `rx`, `length` bytes long when known.
    pub fn channel(rx: mpsc::Receiver<io::Result<Bytes>>, length: Option<u64>) -> Self {
        UpstreamBody {
            rx: Some(rx),
            length,
        }
    }

    /// No body at all.
    pub fn empty() -> Self {
        UpstreamBody {
            rx: None,
            length: Some(0),
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let Some(rx) = self.rx.as_mut() else {
            return Poll::Ready(None);
        };
        match rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => {
                self.rx = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rx.is_none() || self.length == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.length {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// How long a kept-alive connection may have been idle and still carry a request
/// that must not be sent twice (a POST): far below any server's keep-alive timeout
/// (Tomcat's is 20 s by default), so the member cannot be closing it just as the
/// request goes out; an idempotent request resends instead (see `upstream::send`).
pub const SAFE_IDLE: Duration = Duration::from_secs(2);

/// A probe's exchange broke (hyper's error, as an I/O failure of the connection).
fn broken(e: impl std::error::Error + Send + Sync + 'static) -> ConnError {
    ConnError::Io(io::Error::other(e))
}

/// The most of a probe's answer read to keep its connection (an `OPTIONS *` answer is
/// headers and at most a few bytes).
const PROBE_ANSWER_LIMIT: usize = 64 * 1024;

/// An idle connection: its sending half, and when it was last used.
struct Idle {
    sender: SendRequest<UpstreamBody>,
    since: Instant,
    driver: AbortHandle,
}

/// The pool of one HTTP member.
pub struct HttpPool {
    pub name: String,
    host: String,
    port: u16,
    source: Option<String>,
    prefer_ipv6: bool,
    keepalive: bool,
    socket_buffer: Option<u32>,
    pub timeouts: Timeouts,
    /// `connection_pool_size`: requests at once, and idle connections kept at most.
    size: usize,
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<Idle>>,
    /// Open connections (counted down by each connection's task when it ends).
    pub counters: Arc<PoolCounters>,
    /// `tls=true`: how to reach the member's HTTPS connector, or why that cannot be
    /// done (its CA file did not load; each connect then says so).
    tls: Option<Result<MemberTls, String>>,
}

/// The TLS side of an HTTPS member's connections.
struct MemberTls {
    connector: tokio_rustls::TlsConnector,
    name: rustls_pki_types::ServerName<'static>,
}

/// What `tls`, `tls_ca` and `tls_server_name` say, ready to connect with.
fn member_tls(s: &AjpSettings) -> Option<Result<MemberTls, String>> {
    if !s.tls || !s.protocol.is_http() {
        return None;
    }
    Some((|| {
        let ca = s
            .tls_ca
            .as_deref()
            .ok_or_else(|| "tls=true without tls_ca".to_string())?;
        let config = crate::tls::member_client_config(std::path::Path::new(ca))
            .map_err(|e| e.to_string())?;
        let name = s.tls_server_name.clone().unwrap_or_else(|| s.host.clone());
        let name = rustls_pki_types::ServerName::try_from(name.clone())
            .map_err(|e| format!("'{name}' cannot be a TLS server name: {e}"))?;
        Ok(MemberTls {
            connector: tokio_rustls::TlsConnector::from(config),
            name,
        })
    })())
}

impl std::fmt::Debug for HttpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPool")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("idle", &self.idle.lock().len())
            .finish_non_exhaustive()
    }
}

/// A connection lent out for one request; give it back with [`HttpLease::release`].
pub struct HttpLease {
    pub sender: SendRequest<UpstreamBody>,
    driver: AbortHandle,
    pool: Arc<HttpPool>,
    _permit: OwnedSemaphorePermit,
    /// True when the connection was opened for this request.
    pub fresh: bool,
}

impl HttpLease {
    /// Back to the idle list when the exchange ended cleanly and hyper is ready to
    /// send another request on it (it has finished writing the request body and
    /// reading the response; waited for at most a second); closed otherwise.
    pub async fn release(mut self, reusable: bool) {
        let ready = reusable
            && matches!(
                tokio::time::timeout(Duration::from_secs(1), self.sender.ready()).await,
                Ok(Ok(()))
            );
        if ready {
            let mut idle = self.pool.idle.lock();
            // Never more idle connections than slots: the oldest goes (a POST that
            // passed the older ones by would otherwise let them pile up).
            if idle.len() >= self.pool.size {
                let oldest = idle.remove(0);
                oldest.driver.abort();
            }
            idle.push(Idle {
                sender: self.sender,
                since: Instant::now(),
                driver: self.driver,
            });
        } else {
            self.close();
        }
    }

    /// Asks the member whether it serves before a recovering member gets a request:
    /// `OPTIONS *` (RFC 9110 9.3.7: about the server, not a resource), answered within
    /// `within` by anything but a 5xx. The HTTP side of the CPing that precedes an AJP
    /// member's first request after recovery: a restarting Tomcat accepts connections
    /// on its bound port long before it answers, and a request sent into it would wait
    /// out the reply timeout (a POST would be lost). A small answer is read whole so
    /// that the connection then carries the request; anything else closes it and a
    /// fresh one is opened under the same slot.
    pub async fn probe(&mut self, host: HeaderValue, within: Duration) -> Result<(), AcquireError> {
        match tokio::time::timeout(within, self.ask(hyper::Method::OPTIONS, "*", host)).await {
            Err(_) => Err(AcquireError::Connect(ConnError::Timeout)),
            Ok(Err(e)) => Err(AcquireError::Connect(e)),
            Ok(Ok((status, _))) if status.is_server_error() => Err(AcquireError::Connect(
                ConnError::Unexpected("the member answered its probe with a server error"),
            )),
            Ok(Ok((_, true))) => Ok(()),
            Ok(Ok((_, false))) => self.reconnect().await,
        }
    }

    /// jkd's own body-less request on this connection (a probe, a health check): the
    /// answer's status, and whether its body was read to the end (it is read up to
    /// 64 KiB; a longer one leaves the connection unusable).
    pub async fn ask(
        &mut self,
        method: hyper::Method,
        target: &str,
        host: HeaderValue,
    ) -> Result<(hyper::StatusCode, bool), ConnError> {
        let request = hyper::Request::builder()
            .method(method)
            .uri(target)
            .header(hyper::header::HOST, host)
            .header(hyper::header::USER_AGENT, "jkd")
            .body(UpstreamBody::empty())
            .map_err(broken)?;
        self.sender.ready().await.map_err(broken)?;
        let answer = self.sender.send_request(request).await.map_err(broken)?;
        let status = answer.status();
        let mut body = answer.into_body();
        let mut read = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(broken)?;
            read += frame.data_ref().map_or(0, Bytes::len);
            if read > PROBE_ANSWER_LIMIT {
                return Ok((status, false));
            }
        }
        Ok((status, true))
    }

    /// Closes the connection now (a request cut short leaves it in an unknown state).
    pub fn close(self) {
        self.driver.abort();
    }

    /// Replaces a reused connection that turned out closed by a fresh one, under the
    /// same slot.
    pub async fn reconnect(&mut self) -> Result<(), AcquireError> {
        self.driver.abort();
        let (sender, driver) = self.pool.connect().await?;
        self.sender = sender;
        self.driver = driver;
        self.fresh = true;
        Ok(())
    }
}

impl HttpPool {
    pub fn new(name: &str, s: &AjpSettings) -> Arc<HttpPool> {
        let size = pool_size(s);
        Arc::new(HttpPool {
            name: name.to_string(),
            host: s.host.clone(),
            port: u16::try_from(s.port).unwrap_or(0),
            source: (!s.source.is_empty()).then(|| s.source.clone()),
            prefer_ipv6: s.prefer_ipv6,
            keepalive: s.socket_keepalive,
            socket_buffer: u32::try_from(s.socket_buffer).ok().filter(|&b| b > 0),
            timeouts: Timeouts::of(s),
            size,
            slots: Arc::new(Semaphore::new(size)),
            idle: Mutex::new(Vec::new()),
            counters: Arc::default(),
            tls: {
                let tls = member_tls(s);
                if let Some(Err(why)) = &tls {
                    tracing::warn!(
                        member = name,
                        "{why}: its HTTPS connections fail until this is fixed"
                    );
                }
                tls
            },
        })
    }

    /// Whether a slot is free right now (the balancer clears OK/BUSY with it).
    pub fn has_room(&self) -> bool {
        self.slots.available_permits() > 0
    }

    /// A connection for one request: an idle one hyper still finds usable (and idle
    /// for less than `max_idle` when given), else a new one. Waits at most
    /// `connection_acquire_timeout` for a slot.
    pub async fn acquire(
        self: &Arc<Self>,
        max_idle: Option<Duration>,
    ) -> Result<HttpLease, AcquireError> {
        let permit =
            match tokio::time::timeout(self.timeouts.acquire, self.slots.clone().acquire_owned())
                .await
            {
                Ok(Ok(p)) => p,
                _ => return Err(AcquireError::Busy),
            };
        loop {
            let candidate = self.idle.lock().pop();
            let Some(idle) = candidate else { break };
            if idle.sender.is_ready() && max_idle.is_some_and(|m| idle.since.elapsed() >= m) {
                // The most recently used is too old for this request, so are the
                // others: kept for the next ones, and a new connection for this.
                self.idle.lock().push(idle);
                break;
            }
            if idle.sender.is_ready() {
                return Ok(HttpLease {
                    sender: idle.sender,
                    driver: idle.driver,
                    pool: self.clone(),
                    _permit: permit,
                    fresh: false,
                });
            }
            // Closed by the backend meanwhile: its task has counted it down already
            // or does so now.
            idle.driver.abort();
        }
        let (sender, driver) = self.connect().await?;
        Ok(HttpLease {
            sender,
            driver,
            pool: self.clone(),
            _permit: permit,
            fresh: true,
        })
    }

    async fn resolve(&self, host: &str, port: u16) -> Result<std::net::SocketAddr, AcquireError> {
        resolve(host, port, self.prefer_ipv6).await
    }

    /// Opens a connection and starts the task that drives it.
    async fn connect(&self) -> Result<(SendRequest<UpstreamBody>, AbortHandle), AcquireError> {
        let stream = self.open_socket().await?;
        match self.member_tls()? {
            None => self.start(TokioIo::new(stream)).await,
            Some(tls) => {
                let stream = self.tls_handshake(tls, stream).await?;
                self.start(TokioIo::new(stream)).await
            }
        }
    }

    /// A connection of its own for a protocol switch (a WebSocket): opened with the
    /// pool's settings, through TLS for an HTTPS member; it never joins the pool.
    pub async fn open_raw(&self) -> Result<RawStream, AcquireError> {
        let stream = self.open_socket().await?;
        Ok(match self.member_tls()? {
            None => Box::new(stream),
            Some(tls) => Box::new(self.tls_handshake(tls, stream).await?),
        })
    }

    /// The member's TLS side when it has `tls=true`, or why it cannot have one.
    fn member_tls(&self) -> Result<Option<&MemberTls>, AcquireError> {
        match &self.tls {
            None => Ok(None),
            Some(Ok(tls)) => Ok(Some(tls)),
            Some(Err(why)) => Err(AcquireError::Connect(ConnError::Io(io::Error::other(
                why.clone(),
            )))),
        }
    }

    /// A TCP connection to the member with its socket settings.
    async fn open_socket(&self) -> Result<TcpStream, AcquireError> {
        if self.port == 0 {
            return Err(AcquireError::Connect(ConnError::Unexpected(
                "the worker has port 0 and is disabled",
            )));
        }
        let addr = self.resolve(&self.host, self.port).await?;
        let source = match &self.source {
            Some(s) => self.resolve(s, 0).await.ok(),
            None => None,
        };
        let conn = Connection::connect(
            addr,
            source,
            self.timeouts.connect,
            // Unused: the buffer of an AJP connection, which this one never reads.
            0,
            self.keepalive,
            self.socket_buffer,
        )
        .await
        .map_err(AcquireError::Connect)?;
        Ok(conn.into_stream())
    }

    /// The TLS handshake with an HTTPS member, within the connect timeout.
    async fn tls_handshake(
        &self,
        tls: &MemberTls,
        stream: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, AcquireError> {
        let limit = self.timeouts.connect.unwrap_or(Duration::from_secs(10));
        let shake = tls.connector.connect(tls.name.clone(), stream);
        match tokio::time::timeout(limit, shake).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(AcquireError::Connect(ConnError::Io(io::Error::other(
                format!("TLS handshake with {}: {e}", self.name),
            )))),
            Err(_) => Err(AcquireError::Connect(ConnError::ConnectTimeout)),
        }
    }

    /// Starts hyper's client connection on `io` and the task that drives it.
    async fn start<I>(
        &self,
        io: I,
    ) -> Result<(SendRequest<UpstreamBody>, AbortHandle), AcquireError>
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        // The handshake itself sends nothing; bounded all the same.
        // Read buffers bounded at 64 KiB (hyper lets them grow to ~400 KiB): a pool of
        // hundreds of connections relaying large bodies would otherwise hold tens of
        // MiB for nothing, the pieces being relayed at once anyway.
        let handshake = hyper::client::conn::http1::Builder::new()
            .max_buf_size(64 * 1024)
            .handshake(io);
        let (sender, connection) = match tokio::time::timeout(Duration::from_secs(10), handshake)
            .await
        {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Err(AcquireError::Connect(ConnError::Io(io::Error::other(e)))),
            Err(_) => return Err(AcquireError::Connect(ConnError::ConnectTimeout)),
        };
        let counters = self.counters.clone();
        let n = counters.connected.fetch_add(1, Ordering::Relaxed) + 1;
        counters.max_connected.fetch_max(n, Ordering::Relaxed);
        let name = self.name.clone();
        let task = tokio::spawn(async move {
            let _down = CountDown(counters);
            if let Err(e) = connection.await {
                tracing::debug!(member = %name, "HTTP connection ended: {e}");
            }
        });
        Ok((sender, task.abort_handle()))
    }

    /// Maintenance: closes idle connections unused for `connection_pool_timeout`, and
    /// forgets those the backend closed.
    pub fn close_idle(&self) {
        let now = Instant::now();
        let limit = self.timeouts.idle;
        self.idle.lock().retain(|i| {
            let keep = !i.sender.is_closed()
                && limit.is_none_or(|l| now.saturating_duration_since(i.since) < l);
            if !keep {
                i.driver.abort();
            }
            keep
        });
    }
}

/// Counts a connection down when its task ends, however it ends (aborted included).
struct CountDown(Arc<PoolCounters>);

impl Drop for CountDown {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Ordering::Relaxed);
    }
}
