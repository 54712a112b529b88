//! The connection pool of one AJP worker: bounded slots, reuse of clean idle connections, stale-connection detection and the CPing modes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::conn::{ConnError, Connection};
use crate::config::values::PingMode;
use crate::config::workers::AjpSettings;

/// Connection slots per worker when `connection_pool_size` is not set. mod_jk uses
/// httpd's threads per child; one jkd process serves every connection, so it needs
/// more.
pub const DEFAULT_POOL_SIZE: usize = 256;

/// Why no connection could be had.
#[derive(Debug)]
pub enum AcquireError {
    /// Every slot stayed in use for `connection_acquire_timeout`.
    Busy,
    /// The backend's name did not resolve.
    Resolve(String),
    /// Connecting (or the CPing after connecting) failed.
    Connect(ConnError),
}

impl std::fmt::Display for AcquireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AcquireError::Busy => write!(f, "no free connection slot"),
            AcquireError::Resolve(e) => write!(f, "cannot resolve the backend host: {e}"),
            AcquireError::Connect(e) => write!(f, "{e}"),
        }
    }
}

fn ms(v: i32) -> Option<Duration> {
    (v > 0).then(|| Duration::from_millis(v as u64))
}

/// Timeouts of a worker, in the units the connection layer uses.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Option<Duration>,
    /// CPing right after connecting.
    pub connect_cping: Option<Duration>,
    /// CPing before each request on a reused connection.
    pub prepost_cping: Option<Duration>,
    /// Longest wait for each packet of the reply.
    pub reply: Option<Duration>,
    /// Longest wait for any socket operation.
    pub socket: Option<Duration>,
    pub acquire: Duration,
    /// `ping_timeout`: the wait for CPONG when a CPing is sent.
    pub ping: Duration,
    /// Idle connections older than this are closed.
    pub idle: Option<Duration>,
}

impl Timeouts {
    pub fn of(s: &AjpSettings) -> Timeouts {
        let socket = (s.socket_timeout > 0).then(|| Duration::from_secs(s.socket_timeout as u64));
        Timeouts {
            connect: ms(s.socket_connect_timeout),
            connect_cping: ms(s.connect_timeout).or_else(|| {
                s.ping_mode
                    .has(PingMode::CONNECT)
                    .then(|| ms(s.ping_timeout))
                    .flatten()
            }),
            prepost_cping: ms(s.prepost_timeout).or_else(|| {
                s.ping_mode
                    .has(PingMode::PREPOST)
                    .then(|| ms(s.ping_timeout))
                    .flatten()
            }),
            reply: ms(s.reply_timeout).or(socket),
            socket,
            acquire: Duration::from_millis(s.acquire_timeout.max(0) as u64),
            ping: Duration::from_millis(s.ping_timeout.max(1) as u64),
            idle: (s.pool_timeout > 0).then(|| Duration::from_secs(s.pool_timeout as u64)),
        }
    }
}

/// Counters the status page shows for a worker's connections.
#[derive(Debug, Default)]
pub struct PoolCounters {
    pub connected: AtomicU64,
    pub max_connected: AtomicU64,
}

/// The pool of one AJP worker.
#[derive(Debug)]
pub struct Pool {
    pub name: String,
    host: String,
    port: u16,
    source: Option<String>,
    keepalive: bool,
    pub max_packet_size: usize,
    pub timeouts: Timeouts,
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<Connection>>,
    pub counters: PoolCounters,
}

/// A connection lent out by the pool; give it back with [`Lease::release`].
#[derive(Debug)]
pub struct Lease {
    conn: Option<Connection>,
    _permit: OwnedSemaphorePermit,
    pool: Arc<Pool>,
    /// True when the connection was opened for this request.
    pub fresh: bool,
}

impl Lease {
    pub fn conn(&mut self) -> &mut Connection {
        // Always Some until release/drop.
        self.conn
            .as_mut()
            .unwrap_or_else(|| unreachable!("lease used after release"))
    }

    /// Returns the connection to the pool when the exchange ended cleanly and the
    /// backend allowed reuse; closes it otherwise.
    pub fn release(mut self, reusable: bool) {
        if let Some(mut conn) = self.conn.take()
            && reusable
            && conn.clean
        {
            conn.idle_since = Instant::now();
            self.pool.idle.lock().push(conn);
            return;
        }
        self.pool.counters.connected.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.conn.take().is_some() {
            self.pool.counters.connected.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Pool {
    pub fn new(name: &str, s: &AjpSettings) -> Arc<Pool> {
        let size = match s.pool_size {
            Some(n) if n > 0 => n as usize,
            _ => DEFAULT_POOL_SIZE,
        };
        Arc::new(Pool {
            name: name.to_string(),
            host: s.host.clone(),
            port: u16::try_from(s.port).unwrap_or(0),
            source: (!s.source.is_empty()).then(|| s.source.clone()),
            keepalive: s.socket_keepalive,
            max_packet_size: s.max_packet_size as usize,
            timeouts: Timeouts::of(s),
            slots: Arc::new(Semaphore::new(size)),
            idle: Mutex::new(Vec::new()),
            counters: PoolCounters::default(),
        })
    }

    /// Whether a slot is free right now (the balancer clears OK/BUSY with it).
    pub fn has_room(&self) -> bool {
        self.slots.available_permits() > 0
    }

    async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, AcquireError> {
        let mut addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| AcquireError::Resolve(format!("{host}: {e}")))?;
        addrs
            .next()
            .ok_or_else(|| AcquireError::Resolve(format!("{host}: no address")))
    }

    /// A connection for one request: a live idle one (checked, CPinged in prepost
    /// mode), else a new one (CPinged in connect mode).
    pub async fn acquire(self: &Arc<Self>) -> Result<Lease, AcquireError> {
        self.acquire_checked(false).await
    }

    /// Like [`Pool::acquire`]; with `probe`, the connection must answer CPing (within
    /// `ping_timeout`) whatever the ping mode. Used for a member coming back from an
    /// error: a restarting Tomcat accepts connections before its webapps are
    /// deployed, but answers CPing only once its connectors have started.
    pub async fn acquire_checked(self: &Arc<Self>, probe: bool) -> Result<Lease, AcquireError> {
        if self.port == 0 {
            return Err(AcquireError::Connect(ConnError::Unexpected(
                "the worker has port 0 and is disabled",
            )));
        }
        let permit =
            match tokio::time::timeout(self.timeouts.acquire, self.slots.clone().acquire_owned())
                .await
            {
                Ok(Ok(p)) => p,
                _ => return Err(AcquireError::Busy),
            };
        loop {
            let candidate = self.idle.lock().pop();
            let Some(mut conn) = candidate else { break };
            let too_old = self
                .timeouts
                .idle
                .is_some_and(|t| conn.idle_since.elapsed() > t);
            if too_old || !conn.looks_alive() {
                // A connection the backend closed (or that sat idle too long) is
                // dropped without counting as an error, as mod_jk does.
                self.counters.connected.fetch_sub(1, Ordering::Relaxed);
                continue;
            }
            let check = self
                .timeouts
                .prepost_cping
                .or(probe.then_some(self.timeouts.ping));
            if let Some(t) = check
                && let Err(e) = conn.cping(t).await
            {
                self.counters.connected.fetch_sub(1, Ordering::Relaxed);
                // A closed connection is just stale: try the next one. A CPing that
                // timed out means the backend hangs: trying every idle connection
                // (or a new one) would cost one ping_timeout each.
                if matches!(e, ConnError::Timeout) {
                    return Err(AcquireError::Connect(e));
                }
                continue;
            }
            return Ok(Lease {
                conn: Some(conn),
                _permit: permit,
                pool: self.clone(),
                fresh: false,
            });
        }
        let addr = self.resolve(&self.host, self.port).await?;
        let source = match &self.source {
            Some(s) => match self.resolve(s, 0).await {
                Ok(a) => Some(a),
                Err(e) => {
                    tracing::warn!(worker = %self.name, "ignoring source address: {e}");
                    None
                }
            },
            None => None,
        };
        let mut conn = Connection::connect(
            addr,
            source,
            self.timeouts.connect,
            self.max_packet_size,
            self.keepalive,
        )
        .await
        .map_err(AcquireError::Connect)?;
        let check = self
            .timeouts
            .connect_cping
            .or(self.timeouts.prepost_cping)
            .or(probe.then_some(self.timeouts.ping));
        if let Some(t) = check {
            conn.cping(t).await.map_err(AcquireError::Connect)?;
        }
        let n = self.counters.connected.fetch_add(1, Ordering::Relaxed) + 1;
        self.counters.max_connected.fetch_max(n, Ordering::Relaxed);
        Ok(Lease {
            conn: Some(conn),
            _permit: permit,
            pool: self.clone(),
            fresh: true,
        })
    }

    /// Closes idle connections past `connection_pool_timeout` (maintenance).
    pub fn close_idle(&self) {
        let Some(limit) = self.timeouts.idle else {
            return;
        };
        let mut idle = self.idle.lock();
        let before = idle.len();
        idle.retain(|c| c.idle_since.elapsed() <= limit);
        let closed = before - idle.len();
        self.counters
            .connected
            .fetch_sub(closed as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::ajp::response::CPONG_PACKET;

    /// A backend that answers every CPing until `hung` is set, then reads and stays silent.
    async fn backend(hung: Arc<AtomicBool>) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let hung = hung.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 5];
                    while s.read_exact(&mut buf).await.is_ok() {
                        if !hung.load(Ordering::Relaxed)
                            && s.write_all(&CPONG_PACKET).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        port
    }

    fn settings(port: u16) -> AjpSettings {
        let text = format!(
            "worker.list=w\nworker.w.host=127.0.0.1\nworker.w.port={port}\n\
             worker.w.ping_mode=P\nworker.w.ping_timeout=200\n"
        );
        let loaded = crate::config::from_workers_bytes("t", text.as_bytes(), &|_| None);
        match loaded
            .config
            .and_then(|c| c.workers.into_iter().next())
            .map(|w| w.kind)
        {
            Some(crate::config::workers::WorkerKind::Ajp(a)) => a,
            _ => panic!("bad test config"),
        }
    }

    #[tokio::test]
    async fn a_hung_backend_costs_one_ping_timeout_not_one_per_idle_connection() {
        let hung = Arc::new(AtomicBool::new(false));
        let port = backend(hung.clone()).await;
        let pool = Pool::new("w", &settings(port));
        let mut leases = Vec::new();
        for _ in 0..4 {
            leases.push(
                pool.acquire()
                    .await
                    .unwrap_or_else(|e| panic!("acquire: {e}")),
            );
        }
        for l in leases {
            l.release(true);
        }
        hung.store(true, Ordering::Relaxed);
        let started = Instant::now();
        let result = pool.acquire().await;
        assert!(matches!(
            result,
            Err(AcquireError::Connect(ConnError::Timeout))
        ));
        assert!(
            started.elapsed() < Duration::from_millis(600),
            "took {:?}",
            started.elapsed()
        );
    }
}
