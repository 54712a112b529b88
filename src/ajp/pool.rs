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
    /// Idle connections older than this are closed in maintenance.
    pub idle: Option<Duration>,
    /// Idle connections not CPinged for this long are CPinged in maintenance
    /// (`connection_ping_interval`, ping mode I).
    pub ping_interval: Option<Duration>,
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
            // mod_jk pings in maintenance only when both are set.
            ping_interval: (s.connection_ping_interval > 0 && s.ping_timeout > 0)
                .then(|| Duration::from_secs(s.connection_ping_interval as u64)),
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
    prefer_ipv6: bool,
    keepalive: bool,
    /// SO_SNDBUF/SO_RCVBUF of new connections; `None`: the OS's default.
    socket_buffer: Option<u32>,
    /// Idle connections maintenance keeps open past `connection_pool_timeout`.
    min_idle: usize,
    pub max_packet_size: usize,
    pub timeouts: Timeouts,
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<Connection>>,
    pub counters: PoolCounters,
}

/// A connection lent out by the pool; give it back with [`Lease::release`].
#[derive(Debug)]
pub struct Lease {
    // Declared before `slot`: dropping a lease closes the connection before the
    // slot is handed to the next request.
    conn: Connection,
    slot: Slot,
    /// True when the connection was opened for this request.
    pub fresh: bool,
}

/// The pool's side of a lease: the permit that holds one of its slots, and the
/// open-connection count, which drops when the lease ends unless the connection
/// went back to the idle list.
#[derive(Debug)]
struct Slot {
    _permit: OwnedSemaphorePermit,
    pool: Arc<Pool>,
    closes: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.closes {
            self.pool.counters.connected.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Lease {
    pub fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Returns the connection to the pool when the exchange ended cleanly and the
    /// backend allowed reuse; closes it otherwise.
    pub fn release(self, reusable: bool) {
        let Lease {
            mut conn, mut slot, ..
        } = self;
        if reusable && conn.clean {
            conn.idle_since = Instant::now();
            slot.pool.idle.lock().push(conn);
            slot.closes = false;
        } else {
            // Closed before `slot` gives up the count and the permit, as on drop.
            drop(conn);
        }
    }
}

impl Pool {
    pub fn new(name: &str, s: &AjpSettings) -> Arc<Pool> {
        let size = pool_size(s);
        Arc::new(Pool {
            name: name.to_string(),
            host: s.host.clone(),
            port: u16::try_from(s.port).unwrap_or(0),
            source: (!s.source.is_empty()).then(|| s.source.clone()),
            prefer_ipv6: s.prefer_ipv6,
            keepalive: s.socket_keepalive,
            // The config layer already raised a value below max_packet_size.
            socket_buffer: u32::try_from(s.socket_buffer).ok().filter(|&b| b > 0),
            min_idle: min_idle(s.pool_minsize, size),
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
        resolve(host, port, self.prefer_ipv6).await
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
            // Idle age is not checked here: maintenance closes connections past
            // connection_pool_timeout and keeps connection_pool_minsize of them on
            // purpose, to be used (as mod_jk does).
            if !conn.looks_alive() {
                // A connection the backend closed is dropped without counting as an
                // error, as mod_jk does.
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
                conn,
                slot: Slot {
                    _permit: permit,
                    pool: self.clone(),
                    closes: true,
                },
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
            self.socket_buffer,
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
            conn,
            slot: Slot {
                _permit: permit,
                pool: self.clone(),
                closes: true,
            },
            fresh: true,
        })
    }

    /// Maintenance, once a second: closes idle connections past
    /// `connection_pool_timeout` (keeping `connection_pool_minsize`) and CPings those
    /// due in interval mode.
    pub fn close_idle(self: &Arc<Self>) {
        self.maintain_at(Instant::now());
    }

    /// [`Pool::close_idle`] at time `now`. Connections due for a CPing leave the
    /// idle list (no request can pick them meanwhile) and are pinged by a task, which
    /// is returned; the ones that answer go back, the others are closed. A firewall
    /// that silently drops idle connections is found here instead of by a request.
    pub fn maintain_at(self: &Arc<Self>, now: Instant) -> Option<tokio::task::JoinHandle<()>> {
        let due = {
            let mut idle = self.idle.lock();
            if let Some(limit) = self.timeouts.idle {
                let closed = shrink(&mut idle, now, limit, self.min_idle);
                self.counters
                    .connected
                    .fetch_sub(closed as u64, Ordering::Relaxed);
            }
            let interval = self.timeouts.ping_interval?;
            let is_due = |c: &Connection| {
                now.saturating_duration_since(c.idle_since.max(c.pinged_at)) > interval
            };
            if !idle.iter().any(is_due) {
                return None;
            }
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return None;
            };
            let (due, keep): (Vec<_>, Vec<_>) = idle.drain(..).partition(is_due);
            *idle = keep;
            (runtime, due)
        };
        let (runtime, due) = due;
        let pool = self.clone();
        Some(runtime.spawn(async move {
            let limit = pool.timeouts.ping;
            // Concurrently: a hung backend costs one ping_timeout, not one per
            // idle connection.
            let mut pings = tokio::task::JoinSet::new();
            for mut c in due {
                pings.spawn(async move {
                    let r = c.cping(limit).await;
                    (c, r)
                });
            }
            while let Some(joined) = pings.join_next().await {
                let Ok((mut conn, result)) = joined else {
                    pool.counters.connected.fetch_sub(1, Ordering::Relaxed);
                    continue;
                };
                match result {
                    Ok(()) => {
                        conn.pinged_at = Instant::now();
                        pool.idle.lock().push(conn);
                    }
                    Err(e) => {
                        tracing::info!(worker = %pool.name, "idle connection failed its interval CPing, closed: {e}");
                        pool.counters.connected.fetch_sub(1, Ordering::Relaxed);
                    }
                }
            }
        }))
    }
}

/// `connection_pool_minsize`, by default `(pool size + 1) / 2` as in mod_jk.
fn min_idle(configured: Option<i32>, pool_size: usize) -> usize {
    match configured {
        Some(n) => usize::try_from(n).unwrap_or(0),
        None => pool_size.div_ceil(2),
    }
}

/// Closes idle connections idle longer than `limit`, oldest first, while more than
/// `keep` stay open. Returns how many were closed.
fn shrink(idle: &mut Vec<Connection>, now: Instant, limit: Duration, keep: usize) -> usize {
    idle.sort_by_key(|c| c.idle_since);
    let expired = idle
        .iter()
        .take_while(|c| now.saturating_duration_since(c.idle_since) > limit)
        .count();
    let closed = expired.min(idle.len().saturating_sub(keep));
    idle.drain(..closed);
    closed
}

/// The address to connect to among a name's addresses, as mod_jk (through APR)
/// picks it: the first IPv6 one with `prefer_ipv6`, else the first IPv4 one, else
/// the first IPv6 one. The resolver's own order is not followed: "localhost" often
/// lists ::1 first, while Tomcat's AJP connector listens on 127.0.0.1 by default.
/// `connection_pool_size`, or [`DEFAULT_POOL_SIZE`] when unset (also for jkd's HTTP
/// members' pools).
pub fn pool_size(s: &AjpSettings) -> usize {
    match s.pool_size {
        Some(n) if n > 0 => n as usize,
        _ => DEFAULT_POOL_SIZE,
    }
}

/// The address of `host:port` a connection goes to (see [`pick_address`]).
pub async fn resolve(host: &str, port: u16, prefer_ipv6: bool) -> Result<SocketAddr, AcquireError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| AcquireError::Resolve(format!("{host}: {e}")))?
        .collect();
    pick_address(&addrs, prefer_ipv6)
        .ok_or_else(|| AcquireError::Resolve(format!("{host}: no address")))
}

pub fn pick_address(addrs: &[SocketAddr], prefer_ipv6: bool) -> Option<SocketAddr> {
    let v4 = addrs.iter().find(|a| a.is_ipv4());
    let v6 = addrs.iter().find(|a| a.is_ipv6());
    if prefer_ipv6 { v6.or(v4) } else { v4.or(v6) }.copied()
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::ajp::response::CPONG_PACKET;

    /// A backend that answers every CPing until `hung` is set, then reads and stays
    /// silent (as a hung Tomcat, or a firewall that dropped the connection).
    async fn backend(hung: Arc<AtomicBool>) -> u16 {
        backend_counting(hung, Arc::default()).await
    }

    /// [`backend`], counting the CPings it receives.
    async fn backend_counting(hung: Arc<AtomicBool>, pings: Arc<AtomicUsize>) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let hung = hung.clone();
                let pings = pings.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 5];
                    while s.read_exact(&mut buf).await.is_ok() {
                        pings.fetch_add(1, Ordering::Relaxed);
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
        settings_with(port, "worker.w.ping_mode=P\nworker.w.ping_timeout=200\n")
    }

    /// A worker on 127.0.0.1:`port` with `extra` worker.w.* lines.
    fn settings_with(port: u16, extra: &str) -> AjpSettings {
        let text = format!("worker.list=w\nworker.w.host=127.0.0.1\nworker.w.port={port}\n{extra}");
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

    /// Opens `n` connections and gives them back to the pool.
    async fn fill(pool: &Arc<Pool>, n: usize) {
        let mut leases = Vec::new();
        for _ in 0..n {
            leases.push(
                pool.acquire()
                    .await
                    .unwrap_or_else(|e| panic!("acquire: {e}")),
            );
        }
        for l in leases {
            l.release(true);
        }
    }

    fn idle_count(pool: &Pool) -> usize {
        pool.idle.lock().len()
    }

    #[tokio::test]
    async fn interval_cping_keeps_answering_connections_and_closes_silent_ones() {
        let hung = Arc::new(AtomicBool::new(false));
        let pings = Arc::new(AtomicUsize::new(0));
        let port = backend_counting(hung.clone(), pings.clone()).await;
        // ping_mode=I with ping_timeout=200: connection_ping_interval defaults to 2 s.
        let pool = Pool::new(
            "w",
            &settings_with(port, "worker.w.ping_mode=I\nworker.w.ping_timeout=200\n"),
        );
        assert_eq!(pool.timeouts.ping_interval, Some(Duration::from_secs(2)));
        fill(&pool, 3).await;
        let t0 = Instant::now();
        // Not idle long enough yet: nothing is sent.
        assert!(pool.maintain_at(t0 + Duration::from_secs(1)).is_none());
        assert_eq!(pings.load(Ordering::Relaxed), 0);
        let task = pool.maintain_at(t0 + Duration::from_secs(3));
        task.unwrap_or_else(|| panic!("no CPing task"))
            .await
            .unwrap_or_else(|e| panic!("join: {e}"));
        assert_eq!(pings.load(Ordering::Relaxed), 3);
        assert_eq!(idle_count(&pool), 3);
        assert_eq!(pool.counters.connected.load(Ordering::Relaxed), 3);
        // Pinged just now: not due again within the interval.
        assert!(
            pool.maintain_at(Instant::now() + Duration::from_secs(1))
                .is_none()
        );
        // The connections go silent (a firewall dropped them): closed within one
        // ping_timeout, before a request is risked on them.
        hung.store(true, Ordering::Relaxed);
        let started = Instant::now();
        pool.maintain_at(Instant::now() + Duration::from_secs(3))
            .unwrap_or_else(|| panic!("no CPing task"))
            .await
            .unwrap_or_else(|e| panic!("join: {e}"));
        assert!(
            started.elapsed() < Duration::from_millis(600),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(idle_count(&pool), 0);
        assert_eq!(pool.counters.connected.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn no_interval_cping_without_mode_i() {
        let pings = Arc::new(AtomicUsize::new(0));
        let port = backend_counting(Arc::default(), pings.clone()).await;
        let pool = Pool::new("w", &settings_with(port, "worker.w.ping_mode=C\n"));
        fill(&pool, 2).await;
        let connect_pings = pings.load(Ordering::Relaxed);
        assert!(
            pool.maintain_at(Instant::now() + Duration::from_secs(3600))
                .is_none()
        );
        assert_eq!(pings.load(Ordering::Relaxed), connect_pings);
        assert_eq!(idle_count(&pool), 2);
    }

    #[tokio::test]
    async fn pool_timeout_keeps_minsize_idle_connections() {
        let port = backend(Arc::default()).await;
        let cases = [
            // (extra lines, idle connections left of 6)
            ("worker.w.connection_pool_size=6\n", 3),
            ("worker.w.connection_pool_size=5\n", 3),
            ("worker.w.connection_pool_minsize=1\n", 1),
            ("worker.w.connection_pool_minsize=0\n", 0),
        ];
        for (extra, kept) in cases {
            let text = format!("worker.w.connection_pool_timeout=10\n{extra}");
            let pool = Pool::new("w", &settings_with(port, &text));
            fill(&pool, pool.slots.available_permits().min(6)).await;
            let open = idle_count(&pool);
            let t0 = Instant::now();
            // Within connection_pool_timeout nothing is closed.
            assert!(pool.maintain_at(t0 + Duration::from_secs(5)).is_none());
            assert_eq!(idle_count(&pool), open, "{extra}");
            pool.maintain_at(t0 + Duration::from_secs(11));
            assert_eq!(idle_count(&pool), kept.min(open), "{extra}");
            assert_eq!(
                pool.counters.connected.load(Ordering::Relaxed),
                kept.min(open) as u64,
                "{extra}"
            );
            // The kept connections serve requests.
            if kept > 0 {
                let lease = pool
                    .acquire()
                    .await
                    .unwrap_or_else(|e| panic!("acquire: {e}"));
                assert!(!lease.fresh, "{extra}");
            }
        }
    }

    #[test]
    fn minsize_defaults_to_half_the_pool() {
        assert_eq!(min_idle(None, 6), 3);
        assert_eq!(min_idle(None, 5), 3);
        assert_eq!(min_idle(None, 1), 1);
        assert_eq!(min_idle(None, DEFAULT_POOL_SIZE), 128);
        assert_eq!(min_idle(Some(0), 6), 0);
        assert_eq!(min_idle(Some(-4), 6), 0);
        assert_eq!(min_idle(Some(2), 6), 2);
    }

    #[tokio::test]
    async fn socket_buffer_sets_sndbuf_and_rcvbuf() {
        let port = backend(Arc::default()).await;
        // (socket_buffer, size set): below max_packet_size (8192) it is raised.
        for (configured, set) in [(20000, 20000), (100, 8192)] {
            let text = format!("worker.w.socket_buffer={configured}\n");
            let pool = Pool::new("w", &settings_with(port, &text));
            let mut lease = pool
                .acquire()
                .await
                .unwrap_or_else(|e| panic!("acquire: {e}"));
            let (snd, rcv) = lease.conn().buffer_sizes();
            // Linux reports twice the size set (the kernel's bookkeeping share).
            assert_eq!((snd, rcv), (2 * set, 2 * set), "socket_buffer={configured}");
        }
    }

    #[test]
    fn address_choice_follows_prefer_ipv6() {
        let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, 8009));
        let v4b = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), 8009));
        let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 8009));
        // The resolver's order is not followed: IPv4 first unless IPv6 is preferred.
        assert_eq!(pick_address(&[v6, v4, v4b], false), Some(v4));
        assert_eq!(pick_address(&[v4, v4b, v6], true), Some(v6));
        assert_eq!(pick_address(&[v4], true), Some(v4));
        assert_eq!(pick_address(&[v6], false), Some(v6));
        assert_eq!(pick_address(&[], true), None);
    }

    #[tokio::test]
    async fn localhost_resolves_by_prefer_ipv6() {
        let found: Vec<SocketAddr> = tokio::net::lookup_host(("localhost", 8009))
            .await
            .map(|a| a.collect())
            .unwrap_or_default();
        for prefer in [false, true] {
            let text = format!("worker.w.prefer_ipv6={prefer}\n");
            let pool = Pool::new("w", &settings_with(8009, &text));
            let got = pool
                .resolve("localhost", 8009)
                .await
                .unwrap_or_else(|e| panic!("resolve: {e}"));
            let has = |v6: bool| found.iter().any(|a| a.is_ipv6() == v6);
            let expect_v6 = if prefer { has(true) } else { !has(false) };
            assert_eq!(got.is_ipv6(), expect_v6, "{found:?} prefer={prefer}");
        }
    }
}
