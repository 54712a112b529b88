//! What jkd knows of a client connection (its addresses, the host it asked for), the limits every client connection is held to, and how many are open.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::tls::TlsFacts;

/// Timeouts and limits of client connections, with httpd's defaults.
#[derive(Clone, Copy, Debug)]
pub struct ClientLimits {
    /// `--timeout` (httpd's `Timeout`): the longest wait for a request head to arrive
    /// whole once it has begun (and for the first byte of a new connection), for each
    /// read of a body and for each write of a response.
    pub timeout: Duration,
    /// `--keepalive-timeout` (httpd's `KeepAliveTimeout`): how long a connection may
    /// wait idle for its next request (HTTP/1.1) or stream (HTTP/2).
    pub keepalive_timeout: Duration,
    /// `--max-connections`: client connections served at once; past it, accepting
    /// waits.
    pub max_connections: usize,
}

/// httpd's `Timeout` default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// httpd's `KeepAliveTimeout` default.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// Client connections served at once unless `--max-connections` says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            timeout: DEFAULT_TIMEOUT,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// What the front end knows about the client connection.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The TLS facts of a connection to a TLS listener.
    pub tls: Option<Arc<TlsFacts>>,
}

impl ConnInfo {
    /// A plain-HTTP connection.
    pub fn plain(peer: SocketAddr, local: SocketAddr) -> ConnInfo {
        ConnInfo {
            peer,
            local,
            tls: None,
        }
    }
}

/// Client connection counts, for the status page and metrics.
#[derive(Debug, Default)]
pub struct ClientCounters {
    /// Open client connections (HTTP/1.1 and HTTP/2).
    pub open: AtomicU64,
    /// Of those, HTTP/1.1 connections parked while idle.
    pub parked: AtomicU64,
}

/// A graceful stop under way: listeners stop accepting, idle connections close, busy
/// ones close after their current request (HTTP/2: GOAWAY). Shared by every snapshot.
#[derive(Debug, Default)]
pub struct Draining {
    begun: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl Draining {
    /// Starts the stop: every waiter wakes.
    pub fn begin(&self) {
        self.begun.store(true, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_draining(&self) -> bool {
        self.begun.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Returns once the stop has begun.
    pub async fn wait(&self) {
        loop {
            // Registered before the check, so a `begin` in between is not missed.
            let notified = self.notify.notified();
            if self.is_draining() {
                return;
            }
            notified.await;
        }
    }
}

/// The host and port the client asked for: the Host header (or HTTP/2 authority),
/// else the local address, as httpd's `UseCanonicalName Off`.
pub fn requested_server(parts: &http::request::Parts, conn: &ConnInfo) -> (String, u16) {
    let (name, port) = requested_server_of(parts, conn);
    (name.into_owned(), port)
}

pub fn requested_server_of<'a>(
    parts: &'a http::request::Parts,
    conn: &ConnInfo,
) -> (std::borrow::Cow<'a, str>, u16) {
    let host = parts
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            parts
                .headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
        })
        .filter(|h| !h.is_empty());
    match host.map(crate::config::uri::split_host_port) {
        Some((h, p)) => (
            std::borrow::Cow::Borrowed(h),
            p.unwrap_or(conn.local.port()),
        ),
        None => (
            std::borrow::Cow::Owned(conn.local.ip().to_string()),
            conn.local.port(),
        ),
    }
}
