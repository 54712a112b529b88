//! Issue 4's operator scenarios end to end: `jkd run` and Apache httpd + mod_jk 1.2.48 on the same workers.properties, over real HTTP, in front of real Tomcat 10 nodes (jvmRoute node1..node3).
//!
//! Each `#[test]` starts its own Tomcat nodes, writes one workers.properties and runs
//! the same scenario script against jkd and (where the scenario compares) against
//! mod_jk (tests/support/modjk.rs: one httpd child process, so mod_jk's per-process
//! rotation is deterministic). Every wait is a bounded poll for a condition; load
//! loops are bounded in count and time. Tests take a process-wide lock so their
//! latency measurements do not compete for the CPU with each other.
//!
//! Each scenario prints one `SCENARIO` line per front end with its numbers (run with
//! `--nocapture` to see them); docs/scenarios.md collects them in a table.
//!
//! A "dead" member is a port nothing listens on: connecting is refused, exactly what a
//! front end sees after a Tomcat was SIGKILLed. Scenarios about routing decisions use
//! such members and session ids made up with the right route suffix (`FAKE.node2`):
//! the balancer routes on the suffix alone, and the receiving Tomcat just starts a new
//! session. Scenarios about a node going away and coming back kill and restart a real
//! Tomcat.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use support::tomcat::{self, AjpGet, Echo, HttpResponse, Tomcat, TomcatOptions};
use support::{jkd, modjk};

/// Longest wait for one HTTP exchange with a front end.
const TIMEOUT: Duration = Duration::from_secs(30);
/// `recover_time` of the scenarios that recover a member (seconds).
const RECOVER_TIME: u64 = 2;
/// `worker.maintain` of those scenarios (seconds).
const MAINTAIN: u64 = 1;

// ---------------------------------------------------------------------------------------
// Test plumbing

/// Serialises the tests of this file: several measure latencies.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts one Tomcat per route, in parallel.
fn start_nodes(routes: &[&str]) -> Vec<Tomcat> {
    thread::scope(|s| {
        let handles: Vec<_> = routes
            .iter()
            .map(|r| s.spawn(move || tomcat::start(&TomcatOptions::with_route(r))))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| panic!("a Tomcat failed to start"))
            })
            .collect()
    })
}

/// A port on 127.0.0.1 where nothing listens (connections are refused).
fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A workers.properties in its own temp dir, removed on drop.
struct Workers {
    dir: PathBuf,
    path: PathBuf,
}

impl Workers {
    fn new(name: &str, text: &str) -> Workers {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "jkd-scenario-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("workers.properties");
        fs::write(&path, text).expect("write workers.properties");
        Workers { dir, path }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// One member of a balancer: worker name, AJP port, extra `key=value` settings.
struct M<'a>(&'a str, u16, &'a [&'a str]);

/// workers.properties text for one lb worker `lb` (mounted on `mounts`) with the given
/// lb settings and members.
fn lb_text(lb: &str, mounts: &str, lb_extra: &[&str], members: &[M<'_>]) -> String {
    let names: Vec<&str> = members.iter().map(|m| m.0).collect();
    let mut t = format!(
        "worker.list={lb}\nworker.{lb}.type=lb\nworker.{lb}.balance_workers={}\nworker.{lb}.mount={mounts}\n",
        names.join(",")
    );
    for e in lb_extra {
        let _ = writeln!(t, "worker.{lb}.{e}");
    }
    for M(name, port, extra) in members {
        let _ = writeln!(
            t,
            "worker.{name}.type=ajp13\nworker.{name}.host=127.0.0.1\nworker.{name}.port={port}"
        );
        for e in *extra {
            let _ = writeln!(t, "worker.{name}.{e}");
        }
    }
    t
}

/// The short maintenance settings of the recovery scenarios.
fn quick_recovery() -> String {
    format!("worker.maintain={MAINTAIN}\n")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Jkd,
    ModJk,
}

/// A running front end: jkd or httpd + mod_jk.
enum Front {
    Jkd(jkd::Jkd),
    ModJk(modjk::ModJk),
}

impl Front {
    fn start(kind: Kind, workers: &Workers) -> Front {
        match kind {
            Kind::Jkd => Front::Jkd(jkd::start(workers.path(), &[])),
            Kind::ModJk => Front::ModJk(
                modjk::start(workers.path(), &[], &[])
                    .unwrap_or_else(|e| panic!("mod_jk refused the workers file: {e}")),
            ),
        }
    }

    fn port(&self) -> u16 {
        match self {
            Front::Jkd(j) => j.port,
            Front::ModJk(m) => m.port(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Front::Jkd(_) => "jkd",
            Front::ModJk(_) => "mod_jk",
        }
    }

    fn is_jkd(&self) -> bool {
        matches!(self, Front::Jkd(_))
    }

    /// The front end's own log (jkd's tracing output, mod_jk's JkLogFile).
    fn log(&self) -> String {
        match self {
            Front::Jkd(j) => j.log(),
            Front::ModJk(m) => m.jk_log(),
        }
    }

    /// The last lines of the log, for failure messages.
    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// Prints one result line of a scenario (collected into docs/scenarios.md).
fn outcome(scenario: &str, front: &Front, text: &str) {
    println!("SCENARIO {scenario} [{}]: {text}", front.name());
}

// ---------------------------------------------------------------------------------------
// HTTP client side

/// A keep-alive HTTP/1.1 client (one connection, reopened when the server closes it).
struct Client {
    port: u16,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    fn new(port: u16) -> Client {
        Client { port, conn: None }
    }

    fn get(&mut self, target: &str, headers: &[(&str, &str)]) -> io::Result<HttpResponse> {
        let mut req = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n", self.port);
        for (n, v) in headers {
            let _ = write!(req, "{n}: {v}\r\n");
        }
        req.push_str("\r\n");
        // A kept-alive connection the server closed while idle fails before any byte of
        // an answer; a GET is then sent once more on a new connection (as browsers do).
        for attempt in 0..2 {
            let reused = self.conn.is_some();
            if self.conn.is_none() {
                let s = TcpStream::connect(("127.0.0.1", self.port))?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(TIMEOUT))?;
                s.set_write_timeout(Some(TIMEOUT))?;
                self.conn = Some(BufReader::new(s));
            }
            let conn = self.conn.as_mut().expect("connected");
            let sent = conn.get_mut().write_all(req.as_bytes());
            let result = sent.and_then(|()| read_response(conn));
            match result {
                Ok((resp, close)) => {
                    if close {
                        self.conn = None;
                    }
                    return Ok(resp);
                }
                Err(e) => {
                    self.conn = None;
                    let nothing_read = e.kind() == io::ErrorKind::UnexpectedEof
                        || e.kind() == io::ErrorKind::ConnectionReset
                        || e.kind() == io::ErrorKind::BrokenPipe;
                    if !(reused && nothing_read && attempt == 0) {
                        return Err(e);
                    }
                }
            }
        }
        unreachable!("the second attempt returns")
    }
}

/// Reads one response from a kept-alive connection: `(response, server closes)`.
fn read_response(r: &mut BufReader<TcpStream>) -> io::Result<(HttpResponse, bool)> {
    let mut status_line = String::new();
    if r.read_line(&mut status_line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
    }
    let status_line = status_line.trim_end().to_string();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, status_line.clone()))?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "cut in headers"));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            headers.push((n.to_string(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
        || status_line.starts_with("HTTP/1.0");
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "chunk size"))?;
            if n == 0 {
                let mut trailer = String::new();
                while r.read_line(&mut trailer)? > 2 {
                    trailer.clear();
                }
                break;
            }
            let start = body.len();
            body.resize(start + n, 0);
            r.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
        }
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        r.read_exact(&mut body)?;
    } else if close {
        r.read_to_end(&mut body)?;
    }
    Ok((
        HttpResponse {
            status,
            status_line,
            headers,
            body,
        },
        close,
    ))
}

/// One GET on a fresh connection (`Connection: close`), with an optional cookie.
fn get(port: u16, target: &str, cookie: Option<&str>) -> io::Result<HttpResponse> {
    let headers: Vec<(&str, &str)> = cookie.map(|c| ("Cookie", c)).into_iter().collect();
    tomcat::http_get(port, target, &headers, TIMEOUT)
}

/// A cookie that routes to `route` (the session itself exists nowhere).
fn fake_cookie(route: &str) -> String {
    format!("JSESSIONID=0123456789ABCDEF0123456789ABCDEF.{route}")
}

/// The jvmRoute of the Tomcat that answered an `/echo/*` request.
fn echo_node(r: &HttpResponse) -> String {
    Echo::parse(&r.body).field("jvmRoute")
}

/// An `/session` answer: `node=<route> count=<n> id=<id>`.
#[derive(Clone, Debug)]
struct SessionReply {
    node: String,
    count: u32,
    id: String,
}

fn session_reply(r: &HttpResponse) -> SessionReply {
    let text = r.text();
    let field = |key: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in session answer {text:?}"))
            .to_string()
    };
    SessionReply {
        node: field("node="),
        count: field("count=").parse().expect("numeric count"),
        id: field("id="),
    }
}

/// Polls `f` every `every` until it returns `Some`, at most `limit`; panics with `what`.
fn poll<T>(limit: Duration, every: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        thread::sleep(every);
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// One request of a load loop.
#[derive(Clone, Debug)]
struct Sample {
    /// When it was sent, from the scenario's start.
    at: Duration,
    latency: Duration,
    /// 0 when the exchange failed (connection error, cut response).
    status: u16,
    node: String,
    /// For session loops: which session, and the count the node answered.
    session: Option<(usize, u32)>,
    error: String,
}

/// A load loop on its own thread: `done` counts its requests so far.
struct Load {
    done: Arc<AtomicU64>,
    handle: JoinHandle<Vec<Sample>>,
}

impl Load {
    fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    fn join(self) -> Vec<Sample> {
        self.handle.join().expect("load thread")
    }
}

/// Failed samples, one per line, for failure messages.
fn describe(samples: &[&Sample]) -> String {
    samples
        .iter()
        .map(|s| {
            format!(
                "at {} ms, {} ms: status {} {}",
                ms(s.at),
                ms(s.latency),
                s.status,
                s.error.trim()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `one` in a loop on its own thread until `stop` (at most `max` requests).
fn load_thread(
    stop: Arc<AtomicBool>,
    t0: Instant,
    max: usize,
    mut one: impl FnMut(usize) -> (io::Result<HttpResponse>, Option<usize>) + Send + 'static,
    node_of: fn(&HttpResponse) -> String,
) -> Load {
    let done = Arc::new(AtomicU64::new(0));
    let counter = done.clone();
    let handle = thread::spawn(move || {
        let mut out = Vec::new();
        for i in 0..max {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let at = t0.elapsed();
            let start = Instant::now();
            let (result, session) = one(i);
            let latency = start.elapsed();
            let sample = match result {
                Ok(r) if r.status == 200 => {
                    let node = node_of(&r);
                    let count = if r.text().starts_with("node=") {
                        session_reply(&r).count
                    } else {
                        0
                    };
                    Sample {
                        at,
                        latency,
                        status: 200,
                        node,
                        session: session.map(|s| (s, count)),
                        error: String::new(),
                    }
                }
                Ok(r) => Sample {
                    at,
                    latency,
                    status: r.status,
                    node: String::new(),
                    session: session.map(|s| (s, 0)),
                    error: r.text(),
                },
                Err(e) => Sample {
                    at,
                    latency,
                    status: 0,
                    node: String::new(),
                    session: session.map(|s| (s, 0)),
                    error: e.to_string(),
                },
            };
            out.push(sample);
            counter.fetch_add(1, Ordering::Relaxed);
        }
        out
    });
    Load { done, handle }
}

fn session_node(r: &HttpResponse) -> String {
    session_reply(r).node
}

/// Creates `n` sessions through the front end: `(cookie, node, id)` each.
fn create_sessions(port: u16, n: usize) -> Vec<(String, String, String)> {
    (0..n)
        .map(|_| {
            let r = get(port, "/session", None).expect("new session");
            assert_eq!(r.status, 200, "{}", r.text());
            let s = session_reply(&r);
            assert_eq!(s.count, 1);
            (format!("JSESSIONID={}", s.id), s.node, s.id)
        })
        .collect()
}

/// Counts per node.
fn tally<'a>(nodes: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for n in nodes {
        *m.entry(n.to_string()).or_insert(0) += 1;
    }
    m
}

/// The latency below which `q` (0..1) of the samples fall.
fn quantile(mut v: Vec<Duration>, q: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i]
}

/// SIGCONTs a SIGSTOPped Tomcat when dropped (also when the test fails).
struct Stopped<'a>(&'a Tomcat);

impl<'a> Stopped<'a> {
    fn new(t: &'a Tomcat) -> Stopped<'a> {
        t.stop_signal();
        Stopped(t)
    }
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        self.0.cont_signal();
    }
}

// ---------------------------------------------------------------------------------------
// A recording relay, to see what reached a Tomcat

/// The bytes each relayed connection sent towards Tomcat.
type Records = Arc<Mutex<Vec<Arc<Mutex<Vec<u8>>>>>>;

/// A TCP relay in front of a Tomcat's AJP port that keeps, per connection, every byte
/// sent towards Tomcat. When either side closes, both are closed, so a killed Tomcat
/// looks to the front end exactly as without the relay (its connections end).
struct Tap {
    port: u16,
    stop: Arc<AtomicBool>,
    seen: Records,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl Tap {
    fn start(upstream: u16) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind tap");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Records = Arc::default();
        let sockets: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (stop2, seen2, sockets2) = (stop.clone(), seen.clone(), sockets.clone());
        let acceptor = thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let client = match listener.accept() {
                    Ok((s, _)) => s,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                    Err(_) => continue,
                };
                let _ = client.set_nonblocking(false);
                let addr = SocketAddr::from(([127, 0, 0, 1], upstream));
                let Ok(server) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let record = Arc::new(Mutex::new(Vec::new()));
                seen2.lock().expect("seen").push(record.clone());
                let clones = [&client, &server].map(|s| s.try_clone().expect("clone socket"));
                sockets2.lock().expect("sockets").extend(clones);
                let pipe =
                    |mut from: TcpStream, mut to: TcpStream, rec: Option<Arc<Mutex<Vec<u8>>>>| {
                        thread::spawn(move || {
                            let mut buf = [0u8; 16384];
                            loop {
                                match from.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => {
                                        if let Some(r) = &rec {
                                            r.lock().expect("record").extend_from_slice(&buf[..n]);
                                        }
                                        if to.write_all(&buf[..n]).is_err() {
                                            break;
                                        }
                                    }
                                }
                            }
                            let _ = from.shutdown(Shutdown::Both);
                            let _ = to.shutdown(Shutdown::Both);
                        });
                    };
                let (c2, s2) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                pipe(client, server, Some(record));
                pipe(s2, c2, None);
            }
        });
        Tap {
            port,
            stop,
            seen,
            sockets,
            acceptor: Some(acceptor),
        }
    }

    /// Connections that carried `marker` towards Tomcat.
    fn connections_with(&self, marker: &str) -> usize {
        self.seen
            .lock()
            .expect("seen")
            .iter()
            .filter(|r| {
                let r = r.lock().expect("record");
                r.windows(marker.len()).any(|w| w == marker.as_bytes())
            })
            .count()
    }

    /// The most bytes one connection sent towards Tomcat after `marker` appeared on it.
    fn bytes_after(&self, marker: &str) -> usize {
        self.seen
            .lock()
            .expect("seen")
            .iter()
            .filter_map(|r| {
                let r = r.lock().expect("record");
                r.windows(marker.len())
                    .position(|w| w == marker.as_bytes())
                    .map(|p| r.len() - p)
            })
            .max()
            .unwrap_or(0)
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for s in self.sockets.lock().expect("sockets").iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// 1. lbfactor split

/// Sends `n` requests without session on one kept-alive connection; returns the counts
/// per node and the route sequence.
fn split_run(front: &Front, n: usize, path: &str) -> (BTreeMap<String, usize>, Vec<String>) {
    let mut c = Client::new(front.port());
    let mut seq = Vec::with_capacity(n);
    for i in 0..n {
        let r = c
            .get(path, &[])
            .unwrap_or_else(|e| panic!("{}: request {i} failed: {e}", front.name()));
        assert_eq!(r.status, 200, "{}: {}", front.name(), r.text());
        seq.push(echo_node(&r));
    }
    (tally(seq.iter().map(String::as_str)), seq)
}

/// Scenario 1: with lbfactor 1:3, 4,000 requests without session split 1:3 within 5 %
/// of each node's expected share (jkd: exactly, decay included; mod_jk the same).
#[test]
fn s1_split_follows_lbfactor() {
    let _serial = serial();
    let nodes = start_nodes(&["node1", "node2"]);
    let text = quick_recovery()
        + &lb_text(
            "lb",
            "/echo/*",
            &["recover_time=2"],
            &[
                M("node1", nodes[0].ajp_port(), &["lbfactor=1"]),
                M("node2", nodes[1].ajp_port(), &["lbfactor=3"]),
            ],
        );
    let workers = Workers::new("split", &text);
    const N: usize = 4000;
    for kind in [Kind::Jkd, Kind::ModJk] {
        let front = Front::start(kind, &workers);
        let t = Instant::now();
        let (counts, _) = split_run(&front, N, "/echo/split");
        let took = t.elapsed();
        let n1 = counts.get("node1").copied().unwrap_or(0);
        let n2 = counts.get("node2").copied().unwrap_or(0);
        outcome(
            "1 split 1:3",
            &front,
            &format!(
                "node1 {n1} ({:.2} %), node2 {n2} ({:.2} %) of {N} in {} ms",
                n1 as f64 * 100.0 / N as f64,
                n2 as f64 * 100.0 / N as f64,
                ms(took)
            ),
        );
        assert_eq!(n1 + n2, N, "{}: {counts:?}", front.name());
        // Within 5 % of each node's expected count.
        assert!(
            n1.abs_diff(N / 4) <= N / 4 / 20,
            "{}: {counts:?}",
            front.name()
        );
        assert!(
            n2.abs_diff(3 * N / 4) <= 3 * N / 4 / 20,
            "{}: {counts:?}",
            front.name()
        );
    }
}

// ---------------------------------------------------------------------------------------
// 2. stickiness

/// Scenario 2: 50 sessions × 10 requests, interleaved, alternately by cookie and by
/// `;jsessionid=`: every request reaches the session's node (the count proves it is the
/// same Tomcat session).
#[test]
fn s2_sessions_never_leave_their_node() {
    let _serial = serial();
    let nodes = start_nodes(&["node1", "node2", "node3"]);
    let members: Vec<M<'_>> = ["node1", "node2", "node3"]
        .iter()
        .zip(&nodes)
        .map(|(n, t)| M(n, t.ajp_port(), &[]))
        .collect();
    let workers = Workers::new("sticky", &lb_text("lb", "/echo/*,/session", &[], &members));
    for kind in [Kind::Jkd, Kind::ModJk] {
        let front = Front::start(kind, &workers);
        let mut c = Client::new(front.port());
        let mut sessions: Vec<SessionReply> = (0..50)
            .map(|_| {
                let r = c.get("/session", &[]).expect("new session");
                session_reply(&r)
            })
            .collect();
        let spread = tally(sessions.iter().map(|s| s.node.as_str()));
        let mut by_cookie = 0;
        let mut by_path = 0;
        for round in 2..=10u32 {
            for s in &mut sessions {
                let r = if round % 2 == 0 {
                    by_cookie += 1;
                    c.get("/session", &[("Cookie", &format!("JSESSIONID={}", s.id))])
                } else {
                    by_path += 1;
                    c.get(&format!("/session;jsessionid={}", s.id), &[])
                }
                .expect("session request");
                assert_eq!(r.status, 200, "{}", r.text());
                let now = session_reply(&r);
                assert_eq!(
                    (now.node.as_str(), now.count, now.id.as_str()),
                    (s.node.as_str(), round, s.id.as_str()),
                    "{}: session left its node",
                    front.name()
                );
                *s = now;
            }
        }
        outcome(
            "2 sticky 50x10",
            &front,
            &format!(
                "50 new sessions {spread:?}, then 450 requests all on their session's node and Tomcat session ({by_cookie} by cookie, {by_path} by ;jsessionid=)"
            ),
        );
    }
}

// ---------------------------------------------------------------------------------------
// 3. SIGKILL of a node

struct KillResult {
    requests: usize,
    failed: Vec<Sample>,
    failover_ms: u128,
    max_latency_ms: u128,
    recovered_ms: u128,
}

/// A member's `state` on the status worker mounted at `/jkstatus` (`mime=prop`).
fn member_state(port: u16, member: &str) -> String {
    let r = get(port, "/jkstatus?cmd=list&mime=prop", None).expect("status page");
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("worker.{member}.state=")))
        .unwrap_or_else(|| panic!("no state of {member} in\n{}", r.text()))
        .to_string()
}

/// The status worker `jkstatus` on `/jkstatus`, for workers files.
const STATUS_WORKER: &str =
    "worker.list=jkstatus\nworker.jkstatus.type=status\nworker.jkstatus.mount=/jkstatus\n";

/// Scenario 3 for one front end: sessions on every node, continuous GETs (with and
/// without session), SIGKILL of `victim`, then restart and recovery.
fn kill_run(front: &Front, nodes: &mut [Tomcat], victim: usize) -> KillResult {
    let port = front.port();
    let victim_route = format!("node{}", victim + 1);
    let sessions = create_sessions(port, 30);
    let on_victim: Vec<usize> = (0..sessions.len())
        .filter(|&i| sessions[i].1 == victim_route)
        .collect();
    assert!(!on_victim.is_empty(), "no session on {victim_route}");

    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let plain = load_thread(
        stop.clone(),
        t0,
        20_000,
        move |_| (get(port, "/echo/kill", None), None),
        echo_node,
    );
    let cookies: Arc<Mutex<Vec<String>>> =
        Arc::new(Mutex::new(sessions.iter().map(|s| s.0.clone()).collect()));
    let jar = cookies.clone();
    let sticky = load_thread(
        stop.clone(),
        t0,
        20_000,
        move |i| {
            let k = i % 30;
            let cookie = jar.lock().expect("jar")[k].clone();
            let r = get(port, "/session", Some(&cookie));
            // Like a browser, keep the cookie the node sets (a failed-over session gets
            // a new id from its new node).
            if let Ok(resp) = &r
                && resp.status == 200
            {
                jar.lock().expect("jar")[k] = format!("JSESSIONID={}", session_reply(resp).id);
            }
            (r, Some(k))
        },
        session_node,
    );
    // Let the load run for 2 full rounds of the sessions before the kill.
    poll(
        Duration::from_secs(20),
        Duration::from_millis(10),
        "load before the kill",
        || (sticky.done() >= 60 && plain.done() >= 20).then_some(()),
    );
    let before = member_state(port, &victim_route);
    assert!(before.starts_with("OK"), "{}: state {before}", front.name());
    let kill_at = t0.elapsed();
    nodes[victim].kill();
    // Until every session of the victim was answered by another node, then at least
    // 1 s and one more round of the sessions.
    let moved_all = poll(
        Duration::from_secs(20),
        Duration::from_millis(50),
        "sessions of the killed node to move",
        || {
            let jar = cookies.lock().expect("jar");
            on_victim
                .iter()
                .all(|&i| !jar[i].ends_with(&victim_route))
                .then(|| t0.elapsed())
        },
    );
    let rounds = sticky.done() + 30;
    poll(
        Duration::from_secs(20),
        Duration::from_millis(20),
        "load after the move",
        || {
            (t0.elapsed() >= moved_all + Duration::from_secs(1) && sticky.done() >= rounds)
                .then_some(())
        },
    );
    stop.store(true, Ordering::Relaxed);
    let plain = plain.join();
    let sticky = sticky.join();
    let all: Vec<Sample> = plain.iter().chain(&sticky).cloned().collect();
    let failed: Vec<Sample> = all.iter().filter(|s| s.status != 200).cloned().collect();

    // The victim's sessions: after the kill on other nodes only, each restarted there
    // (count 1) and then sticking to its new node.
    let mut failover = Duration::ZERO;
    for &i in &on_victim {
        let after: Vec<&Sample> = sticky
            .iter()
            .filter(|s| s.session.is_some_and(|(k, _)| k == i) && s.at + s.latency > kill_at)
            .filter(|s| s.status == 200)
            .collect();
        let first_moved = after
            .iter()
            .find(|s| s.node != victim_route)
            .unwrap_or_else(|| panic!("{}: session {i} never moved", front.name()));
        failover = failover.max(first_moved.at + first_moved.latency - kill_at);
        let moved: Vec<&&Sample> = after
            .iter()
            .skip_while(|s| s.node == victim_route)
            .collect();
        assert!(
            moved
                .iter()
                .all(|s| s.node == moved[0].node && s.node != victim_route),
            "{}: session {i} did not stick to its new node: {moved:?}",
            front.name()
        );
        assert_eq!(moved[0].session.map(|s| s.1), Some(1), "a new session");
    }
    let max_latency = all
        .iter()
        .filter(|s| s.at + s.latency > kill_at)
        .map(|s| s.latency)
        .max()
        .unwrap_or_default();

    // The member shows the error on the status worker of the workers file (`/jkstatus`,
    // the same page on both), and jkd also logs it (warn).
    let state = member_state(port, &victim_route);
    assert!(state.starts_with("ERR"), "{}: state {state}", front.name());
    if front.is_jkd() {
        assert!(
            front
                .log()
                .lines()
                .any(|l| l.contains("WARN") && l.contains(&format!("member={victim_route}"))),
            "jkd logged no failure of {victim_route}:\n{}",
            front.log_tail()
        );
    }

    // Restart: the member serves requests without session again after recover_time.
    nodes[victim].restart();
    let restarted = Instant::now();
    poll(
        Duration::from_secs(30),
        Duration::from_millis(50),
        "the restarted node to get requests again",
        || {
            get(port, "/echo/recover", None)
                .ok()
                .filter(|r| r.status == 200 && echo_node(r) == victim_route)
        },
    );
    KillResult {
        requests: all.len(),
        failed,
        failover_ms: ms(failover),
        max_latency_ms: ms(max_latency),
        recovered_ms: ms(restarted.elapsed()),
    }
}

/// Scenario 3: SIGKILL of a node under load. jkd: no GET fails, the node's sessions
/// move to (and then stick to) another node, jkd logs the member's failure, and the
/// restarted node gets requests again within recover_time + maintain (+ slack).
#[test]
fn s3_sigkill_of_a_node() {
    let _serial = serial();
    let mut nodes = start_nodes(&["node1", "node2", "node3"]);
    let members: Vec<M<'_>> = ["node1", "node2", "node3"]
        .iter()
        .zip(&nodes)
        .map(|(n, t)| M(n, t.ajp_port(), &[]))
        .collect();
    let text = quick_recovery()
        + &lb_text(
            "lb",
            "/echo/*,/session",
            &[&format!("recover_time={RECOVER_TIME}")],
            &members,
        );
    let workers = Workers::new("kill", &(text + STATUS_WORKER));
    for kind in [Kind::Jkd, Kind::ModJk] {
        let front = Front::start(kind, &workers);
        let r = kill_run(&front, &mut nodes, 1);
        outcome(
            "3 SIGKILL",
            &front,
            &format!(
                "{} GETs during the kill, {} failed; sessions moved within {} ms; max latency after the kill {} ms; restarted node served again {} ms after restart",
                r.requests,
                r.failed.len(),
                r.failover_ms,
                r.max_latency_ms,
                r.recovered_ms
            ),
        );
        if front.is_jkd() {
            assert!(
                r.failed.is_empty(),
                "jkd failed GETs during the kill:\n{}\n{}",
                describe(&r.failed.iter().collect::<Vec<_>>()),
                front.log_tail()
            );
            // Recovery needs recover_time after the last error, then a maintenance run.
            assert!(
                r.recovered_ms <= ((RECOVER_TIME + MAINTAIN) * 1000 + 3000) as u128,
                "recovery took {} ms",
                r.recovered_ms
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// 4. activation: disabled drains, stopped stops

/// Scenario 4: sessions made while all members were active; then the same nodes behind
/// a workers file with node1 `activation=D` (new sessions never reach node1, its old
/// sessions stay there) and `activation=S` (nothing reaches node1: checked on node1
/// itself, whose session counters did not move).
#[test]
fn s4_disabled_drains_stopped_stops() {
    let _serial = serial();
    let nodes = start_nodes(&["node1", "node2", "node3"]);
    let file = |act: &str| {
        let members: Vec<M<'_>> = vec![
            M("node1", nodes[0].ajp_port(), &[]),
            M("node2", nodes[1].ajp_port(), &[]),
            M("node3", nodes[2].ajp_port(), &[]),
        ];
        let mut t = lb_text("lb", "/echo/*,/session", &[], &members);
        if !act.is_empty() {
            let _ = writeln!(t, "worker.node1.activation={act}");
        }
        Workers::new(&format!("act{act}"), &t)
    };
    // Sessions on every node, made through jkd with everything active.
    let active = file("");
    let sessions = {
        let front = Front::start(Kind::Jkd, &active);
        create_sessions(front.port(), 30)
    };
    let node1_sessions: Vec<&(String, String, String)> =
        sessions.iter().filter(|s| s.1 == "node1").collect();
    assert!(!node1_sessions.is_empty());
    // Direct AJP check of a session's count on node1 (adds one).
    let count_on_node1 = |cookie: &str| -> u32 {
        let req = AjpGet {
            uri: "/session",
            headers: vec![("Cookie", cookie)],
            ..AjpGet::default()
        };
        let r = tomcat::ajp_forward(nodes[0].ajp_port(), &req, TIMEOUT).expect("direct AJP");
        let text = String::from_utf8_lossy(&r.body).to_string();
        text.split_whitespace()
            .find_map(|w| w.strip_prefix("count="))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("{text}"))
    };

    let disabled = file("D");
    let stopped = file("S");
    for kind in [Kind::Jkd, Kind::ModJk] {
        // Disabled: new sessions elsewhere, old ones still on node1.
        let front = Front::start(kind, &disabled);
        let port = front.port();
        let fresh = create_sessions(port, 30);
        let fresh_spread = tally(fresh.iter().map(|s| s.1.as_str()));
        assert!(
            !fresh_spread.contains_key("node1"),
            "{}: disabled node1 got new sessions: {fresh_spread:?}",
            front.name()
        );
        let mut counts = Vec::new();
        for (cookie, node, _) in &node1_sessions {
            let r = get(port, "/session", Some(cookie)).expect("old session");
            let s = session_reply(&r);
            assert_eq!(&s.node, node, "{}: old session left node1", front.name());
            counts.push(s.count);
        }
        let plain = (0..30)
            .map(|_| echo_node(&get(port, "/echo/dis", None).expect("get")))
            .collect::<Vec<_>>();
        assert!(!plain.iter().any(|n| n == "node1"), "{}", front.name());
        outcome(
            "4 activation=D",
            &front,
            &format!(
                "30 new sessions {fresh_spread:?}, 30 plain GETs none on node1; {} old node1 sessions still served by node1",
                node1_sessions.len()
            ),
        );
        drop(front);

        // Stopped: nothing reaches node1, its sessions move.
        let front = Front::start(kind, &stopped);
        let port = front.port();
        let mut moved = Vec::new();
        for (cookie, _, _) in &node1_sessions {
            let r = get(port, "/session", Some(cookie)).expect("old session");
            assert_eq!(r.status, 200);
            moved.push(session_reply(&r).node);
        }
        let plain = (0..30)
            .map(|_| echo_node(&get(port, "/echo/stp", None).expect("get")))
            .collect::<Vec<_>>();
        assert!(!plain.iter().any(|n| n == "node1"), "{}", front.name());
        assert!(
            !moved.iter().any(|n| n == "node1"),
            "{}: stopped node1 still served its sessions",
            front.name()
        );
        // On node1 itself: each old session's count is exactly one more than its last
        // answer, so no request of the stopped phase reached it.
        for ((cookie, _, _), before) in node1_sessions.iter().zip(&counts) {
            assert_eq!(count_on_node1(cookie), before + 1, "{}", front.name());
        }
        outcome(
            "4 activation=S",
            &front,
            &format!(
                "{} node1 sessions moved to {:?}; 30 plain GETs none on node1; node1's session counters untouched",
                node1_sessions.len(),
                tally(moved.iter().map(String::as_str))
            ),
        );
    }
}

// ---------------------------------------------------------------------------------------
// 5. redirect / hot standby, domains, sticky_session_force (dead members)

/// One step of a routing script: path, cookie, and the expected answer (`node2`, or a
/// status like `503`).
struct Step<'a> {
    what: &'a str,
    path: &'a str,
    cookie: Option<String>,
    expect: &'a [&'a str],
}

/// Runs a script; returns what each step got (node or status) and each step's latency.
fn run_script(front: &Front, steps: &[Step<'_>]) -> Vec<(String, Duration)> {
    steps
        .iter()
        .map(|s| {
            let t = Instant::now();
            let r = get(front.port(), s.path, s.cookie.as_deref())
                .unwrap_or_else(|e| panic!("{}: {} failed: {e}", front.name(), s.what));
            let got = if r.status == 200 {
                echo_node(&r)
            } else {
                r.status.to_string()
            };
            (got, t.elapsed())
        })
        .collect()
}

/// Scenario 5a: redirect + a disabled member as hot standby, domain groups and
/// sticky_session_force, each on its own lb in one workers file, run as the same
/// script against jkd and mod_jk: both must give the expected node (or status) at
/// every step.
#[test]
fn s5_redirect_standby_domain_force() {
    let _serial = serial();
    let nodes = start_nodes(&["node1", "node2", "node3"]);
    let (p1, p2, p3) = (
        nodes[0].ajp_port(),
        nodes[1].ajp_port(),
        nodes[2].ajp_port(),
    );
    let dead = dead_port();
    let mut text = String::new();
    // redir: g1 is down; its sessions go to its redirect target node3, which is
    // disabled (hot standby: no new sessions).
    text += &lb_text(
        "redir",
        "/echo/redir/*",
        &[],
        &[
            M("r_g1", dead, &["route=g1", "redirect=node3"]),
            M("r_n2", p2, &["route=node2"]),
            M("r_n3", p3, &["route=node3", "activation=D"]),
        ],
    );
    // standby: every active member is down: the first member's redirect (the
    // disabled node3) takes everything.
    text += &lb_text(
        "standby",
        "/echo/standby/*",
        &[],
        &[
            M("s_g1", dead, &["route=g1", "redirect=node3"]),
            M("s_g2", dead, &["route=g2"]),
            M("s_n3", p3, &["route=node3", "activation=D"]),
        ],
    );
    // dom: node1+node2 are domain d1, ghost (down)+node3 domain d2.
    text += &lb_text(
        "dom",
        "/echo/dom/*",
        &[],
        &[
            M("d_n1", p1, &["route=node1", "domain=d1"]),
            M("d_n2", p2, &["route=node2", "domain=d1"]),
            M("d_g", dead, &["route=ghost", "domain=d2"]),
            M("d_n3", p3, &["route=node3", "domain=d2"]),
        ],
    );
    // force: a session of the down member gets 503 instead of moving.
    text += &lb_text(
        "force",
        "/echo/force/*",
        &["sticky_session_force=true"],
        &[
            M("f_g", dead, &["route=ghost"]),
            M("f_n2", p2, &["route=node2"]),
        ],
    );
    let workers = Workers::new("routing", &text);
    let c = |route: &str| Some(fake_cookie(route));
    let steps = vec![
        Step {
            what: "redir: new request, first pick is the dead g1",
            path: "/echo/redir/a",
            cookie: None,
            expect: &["node2"],
        },
        Step {
            what: "redir: new request",
            path: "/echo/redir/a",
            cookie: None,
            expect: &["node2"],
        },
        Step {
            what: "redir: new request",
            path: "/echo/redir/a",
            cookie: None,
            expect: &["node2"],
        },
        Step {
            what: "redir: session of dead g1 -> redirect node3",
            path: "/echo/redir/a",
            cookie: c("g1"),
            expect: &["node3"],
        },
        Step {
            what: "redir: session of dead g1 -> redirect node3",
            path: "/echo/redir/a",
            cookie: c("g1"),
            expect: &["node3"],
        },
        Step {
            what: "redir: session of disabled node3 stays",
            path: "/echo/redir/a",
            cookie: c("node3"),
            expect: &["node3"],
        },
        Step {
            what: "redir: new request never on the standby",
            path: "/echo/redir/a",
            cookie: None,
            expect: &["node2"],
        },
        Step {
            what: "standby: all active down -> standby",
            path: "/echo/standby/a",
            cookie: None,
            expect: &["node3"],
        },
        Step {
            what: "standby: again",
            path: "/echo/standby/a",
            cookie: None,
            expect: &["node3"],
        },
        Step {
            what: "standby: session of dead g2 -> standby",
            path: "/echo/standby/a",
            cookie: c("g2"),
            expect: &["node3"],
        },
        Step {
            what: "dom: unknown route = domain d1",
            path: "/echo/dom/a",
            cookie: c("d1"),
            expect: &["node1", "node2"],
        },
        Step {
            what: "dom: domain d1",
            path: "/echo/dom/a",
            cookie: c("d1"),
            expect: &["node1", "node2"],
        },
        Step {
            what: "dom: domain d1",
            path: "/echo/dom/a",
            cookie: c("d1"),
            expect: &["node1", "node2"],
        },
        Step {
            what: "dom: session of dead ghost -> its domain d2",
            path: "/echo/dom/a",
            cookie: c("ghost"),
            expect: &["node3"],
        },
        Step {
            what: "dom: domain d2",
            path: "/echo/dom/a",
            cookie: c("d2"),
            expect: &["node3"],
        },
        Step {
            what: "dom: session of ghost again",
            path: "/echo/dom/a",
            cookie: c("ghost"),
            expect: &["node3"],
        },
        Step {
            what: "force: session of dead member -> 503",
            path: "/echo/force/a",
            cookie: c("ghost"),
            expect: &["503"],
        },
        Step {
            what: "force: again 503",
            path: "/echo/force/a",
            cookie: c("ghost"),
            expect: &["503"],
        },
        Step {
            what: "force: live session",
            path: "/echo/force/a",
            cookie: c("node2"),
            expect: &["node2"],
        },
        Step {
            what: "force: no session",
            path: "/echo/force/a",
            cookie: None,
            expect: &["node2"],
        },
    ];
    let mut results = Vec::new();
    for kind in [Kind::Jkd, Kind::ModJk] {
        let front = Front::start(kind, &workers);
        let got = run_script(&front, &steps);
        for (s, (g, _)) in steps.iter().zip(&got) {
            assert!(
                s.expect.contains(&g.as_str()),
                "{}: {}: got {g}, expected {:?}\n{}",
                front.name(),
                s.what,
                s.expect,
                front.log_tail()
            );
        }
        // The first request of the script is the first to meet the dead member: mod_jk
        // retries the refused port on the same worker (worker retries=2, sleeping
        // retry_interval=100 ms in between) before failing over; jkd takes a refused
        // connection as proof that the member is down and fails over at once.
        let first = got[0].1;
        let standby_first = got[7].1;
        let force_503 = got[16].1;
        outcome(
            "5 redirect/standby/domain/force",
            &front,
            &format!(
                "all {} steps as expected; sequence {:?}; first request meeting a dead member {} ms, first all-down request to the standby {} ms, force 503 in {} ms",
                steps.len(),
                got.iter().map(|g| g.0.as_str()).collect::<Vec<_>>(),
                ms(first),
                ms(standby_first),
                ms(force_503)
            ),
        );
        if front.is_jkd() {
            assert!(
                first < Duration::from_millis(100),
                "jkd retried a refused port: {first:?}"
            );
        }
        results.push(got.into_iter().map(|g| g.0).collect::<Vec<_>>());
    }
    // Same node (or status) at every step, including the order within domain d1.
    assert_eq!(results[0], results[1], "jkd vs mod_jk");
}

/// Scenario 5b: distance as active/passive: node2 (distance 1) gets nothing while
/// node1 (distance 0) is up, everything while it is down (no GET fails), and node1
/// gets everything again after it was restarted and recovered (fail-back).
#[test]
fn s5_distance_active_passive_with_fail_back() {
    let _serial = serial();
    let mut nodes = start_nodes(&["node1", "node2"]);
    let text = quick_recovery()
        + &lb_text(
            "lb",
            "/echo/*",
            &[&format!("recover_time={RECOVER_TIME}")],
            &[
                M("node1", nodes[0].ajp_port(), &["distance=0"]),
                M("node2", nodes[1].ajp_port(), &["distance=1"]),
            ],
        );
    let workers = Workers::new("distance", &text);
    for kind in [Kind::Jkd, Kind::ModJk] {
        let front = Front::start(kind, &workers);
        let port = front.port();
        let nodes_of = |n: usize| -> Vec<String> {
            (0..n)
                .map(|_| {
                    let r = get(port, "/echo/dist", None).expect("get");
                    assert_eq!(r.status, 200, "{}: {}", front.name(), r.text());
                    echo_node(&r)
                })
                .collect()
        };
        let active = nodes_of(10);
        assert!(
            active.iter().all(|n| n == "node1"),
            "{}: {active:?}",
            front.name()
        );
        nodes[0].kill();
        let t = Instant::now();
        let passive = nodes_of(10);
        let failover = t.elapsed();
        assert!(
            passive.iter().all(|n| n == "node2"),
            "{}: {passive:?}",
            front.name()
        );
        nodes[0].restart();
        let restarted = Instant::now();
        poll(
            Duration::from_secs(30),
            Duration::from_millis(50),
            "fail-back to node1",
            || {
                get(port, "/echo/dist", None)
                    .ok()
                    .filter(|r| r.status == 200 && echo_node(r) == "node1")
            },
        );
        let back = restarted.elapsed();
        let after = nodes_of(10);
        assert!(
            after.iter().all(|n| n == "node1"),
            "{}: {after:?}",
            front.name()
        );
        outcome(
            "5 distance fail-back",
            &front,
            &format!(
                "10/10 on node1; node1 killed: 10/10 on node2, 0 failed ({} ms for the 10); node1 restarted: fail-back after {} ms, then 10/10 on node1",
                ms(failover),
                ms(back)
            ),
        );
        if front.is_jkd() {
            assert!(ms(back) <= ((RECOVER_TIME + MAINTAIN) * 1000 + 3000) as u128);
        }
    }
}

// ---------------------------------------------------------------------------------------
// 6. a hung node

/// Scenario 6: node1 SIGSTOPped, `reply_timeout=1000`. A POST stuck to node1 gets 504
/// after the reply timeout (jkd never resends it; mod_jk resends it to another node,
/// so the application runs it twice once node1 wakes up), a GET stuck to node1 fails
/// over after the timeout, requests to the other nodes keep their latency, and node1
/// serves again after SIGCONT.
#[test]
fn s6_hung_node_times_out_without_stalling_others() {
    let _serial = serial();
    let nodes = start_nodes(&["node1", "node2", "node3"]);
    let timeouts: &[&str] = &["reply_timeout=1000", "ping_timeout=1000"];
    let members: Vec<M<'_>> = ["node1", "node2", "node3"]
        .iter()
        .zip(&nodes)
        .map(|(n, t)| M(n, t.ajp_port(), timeouts))
        .collect();
    let text = quick_recovery()
        + &lb_text(
            "lb",
            "/echo/*",
            &[&format!("recover_time={RECOVER_TIME}")],
            &members,
        );
    let workers = Workers::new("hang", &text);
    for kind in [Kind::Jkd, Kind::ModJk] {
        let front = Front::start(kind, &workers);
        let port = front.port();
        // Warm up: 9 requests, and more until every node has answered (at most 30 s):
        // right after three Tomcats started, a first reply may take longer than
        // reply_timeout=1000 on a loaded machine, and that node then waits out
        // recover_time first.
        let mut warm = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut asked = 0;
        while (warm.len() < 3 || asked < 9) && Instant::now() < deadline {
            asked += 1;
            let r = get(port, "/echo/warm", None).expect("warm");
            if r.status == 200 {
                *warm.entry(echo_node(&r)).or_insert(0) += 1;
            }
            if warm.len() < 3 && asked >= 9 {
                // Past one round each: a node is missing; ask at a calmer pace.
                thread::sleep(Duration::from_millis(20));
            }
        }
        assert_eq!(
            warm.len(),
            3,
            "{}: {warm:?}; log:\n{}",
            front.name(),
            front.log_tail()
        );

        let stop = Arc::new(AtomicBool::new(false));
        let t0 = Instant::now();
        // Requests stuck to node2 and node3 all along.
        let others = load_thread(
            stop.clone(),
            t0,
            20_000,
            move |i| {
                let route = if i % 2 == 0 { "node2" } else { "node3" };
                (get(port, "/echo/other", Some(&fake_cookie(route))), None)
            },
            echo_node,
        );
        poll(
            Duration::from_secs(5),
            Duration::from_millis(10),
            "load",
            || (t0.elapsed() > Duration::from_millis(300)).then_some(()),
        );
        let hung = Stopped::new(&nodes[0]);
        let stopped_at = Instant::now();

        // A POST and a GET stuck to node1, sent together while node1 is still OK: both
        // meet the hung node and its reply timeout.
        let body = "name=value";
        let post = format!(
            "POST /echo/hang-post?marker=hang-{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            front.name(),
            fake_cookie("node1"),
            body.len()
        );
        let timed = |f: Box<dyn FnOnce() -> io::Result<HttpResponse> + Send>| {
            thread::spawn(move || {
                let t = Instant::now();
                let r = f();
                let answer = match &r {
                    Ok(r) if r.status == 200 => echo_node(r),
                    Ok(r) => r.status.to_string(),
                    Err(e) => format!("error {e}"),
                };
                (answer, t.elapsed())
            })
        };
        let post_thread = timed(Box::new(move || {
            tomcat::http_request(port, post.as_bytes(), TIMEOUT)
        }));
        let get_thread = timed(Box::new(move || {
            get(port, "/echo/hang-get", Some(&fake_cookie("node1")))
        }));
        let (post_answer, post_latency) = post_thread.join().expect("POST");
        let (first_get_answer, first_get_latency) = get_thread.join().expect("GET");
        // Another GET stuck to node1, now that it is known to be in error.
        let (sticky_get_answer, sticky_get_latency) = timed(Box::new(move || {
            get(port, "/echo/hang-get", Some(&fake_cookie("node1")))
        }))
        .join()
        .expect("GET");
        // GETs without session while node1 stays hung past recover_time + maintain, so
        // that the balancer tries node1 again (recovery) while it still hangs.
        let plain = load_thread(
            stop.clone(),
            t0,
            20_000,
            move |_| (get(port, "/echo/plain", None), None),
            echo_node,
        );
        let hang_for = Duration::from_secs(RECOVER_TIME + MAINTAIN + 2);
        poll(
            hang_for * 3,
            Duration::from_millis(20),
            "load while hung",
            || (stopped_at.elapsed() >= hang_for && plain.done() >= 20).then_some(()),
        );
        stop.store(true, Ordering::Relaxed);
        let plain = plain.join();
        let others = others.join();
        drop(hung);
        let resumed = Instant::now();
        poll(
            Duration::from_secs(30),
            Duration::from_millis(50),
            "node1 to serve again after SIGCONT",
            || {
                get(port, "/echo/back", None)
                    .ok()
                    .filter(|r| r.status == 200 && echo_node(r) == "node1")
            },
        );
        let back = resumed.elapsed();

        let stopped_from = stopped_at - t0;
        let during: Vec<&Sample> = others.iter().filter(|s| s.at >= stopped_from).collect();
        let other_lat: Vec<Duration> = during.iter().map(|s| s.latency).collect();
        let other_failed = during.iter().filter(|s| s.status != 200).count();
        let plain_failed: Vec<&Sample> = plain.iter().filter(|s| s.status != 200).collect();
        let plain_lat: Vec<Duration> = plain.iter().map(|s| s.latency).collect();
        let plain_on_node1 = plain.iter().filter(|s| s.node == "node1").count();
        outcome(
            "6 SIGSTOP",
            &front,
            &format!(
                "POST stuck to hung node1: {post_answer} after {} ms; GET stuck to node1 at the same time: {first_get_answer} after {} ms; next GET stuck to node1: {sticky_get_answer} after {} ms; {} requests to node2/3 while hung: {other_failed} failed, p50 {} ms, max {} ms; {} GETs without session: {} failed, {plain_on_node1} on node1, p50 {} ms, max {} ms; node1 served again {} ms after SIGCONT",
                ms(post_latency),
                ms(first_get_latency),
                ms(sticky_get_latency),
                during.len(),
                ms(quantile(other_lat.clone(), 0.5)),
                ms(quantile(other_lat.clone(), 1.0)),
                plain.len(),
                plain_failed.len(),
                ms(quantile(plain_lat.clone(), 0.5)),
                ms(quantile(plain_lat.clone(), 1.0)),
                ms(back)
            ),
        );
        if front.is_jkd() {
            // The POST is never resent: it ends in 504 after one reply timeout.
            assert_eq!(post_answer, "504", "{}", front.log_tail());
            assert!(
                post_latency >= Duration::from_millis(900)
                    && post_latency < Duration::from_millis(2500)
            );
            // The GET that met the hung node fails over after one reply timeout; the
            // next one does not try node1 at all.
            assert!(
                first_get_answer == "node2" || first_get_answer == "node3",
                "{first_get_answer}"
            );
            assert!(
                first_get_latency >= Duration::from_millis(900)
                    && first_get_latency < Duration::from_millis(2500),
                "{first_get_latency:?}; log:\n{}",
                front.log_tail()
            );
            assert!(sticky_get_answer == "node2" || sticky_get_answer == "node3");
            assert!(
                sticky_get_latency < Duration::from_millis(500),
                "{sticky_get_latency:?}; log:\n{}",
                front.log_tail()
            );
            assert!(
                plain_failed.is_empty(),
                "{plain_failed:?}\n{}",
                front.log_tail()
            );
            assert_eq!(plain_on_node1, 0);
            assert_eq!(other_failed, 0);
            // Requests to the other nodes are not held up by the hung one.
            assert!(
                quantile(other_lat, 1.0) < Duration::from_millis(500),
                "{during:?}"
            );
            // A GET that meets the hung node waits one timeout at most, then fails over.
            assert!(quantile(plain_lat, 1.0) < Duration::from_millis(2500));
        }
    }
}

// ---------------------------------------------------------------------------------------
// 7. a POST whose node dies

/// Scenario 7: node1 dies while a POST to it is (a) streaming its 2 MB body, or (b)
/// waiting for the answer to a small body the application did not read yet. jkd
/// answers with an error in both cases and never sends the POST to node2. mod_jk fails
/// (a) the same way (once it answered Tomcat's GET_BODY_CHUNK nothing is recoverable),
/// but replays (b) to node2: a read error before the response headers is
/// "recoverable" for it, whatever the method, and it kept the first body packet for
/// exactly that. The application then ran the POST twice if node1 got to it.
#[test]
fn s7_post_whose_node_dies_is_not_replayed() {
    let _serial = serial();
    let mut nodes = start_nodes(&["node1", "node2"]);
    let tap1 = Tap::start(nodes[0].ajp_port());
    let tap2 = Tap::start(nodes[1].ajp_port());
    let text = quick_recovery()
        + &lb_text(
            "lb",
            "/echo/*",
            &[&format!("recover_time={RECOVER_TIME}")],
            &[M("node1", tap1.port, &[]), M("node2", tap2.port, &[])],
        );
    let workers = Workers::new("post", &text);
    for kind in [Kind::Jkd, Kind::ModJk] {
        let front = Front::start(kind, &workers);
        let port = front.port();

        // (a) mid-body.
        let marker = format!("midbody-{}", front.name());
        const LEN: usize = 2_000_000;
        let head = format!(
            "POST /echo/upload?marker={marker} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {LEN}\r\n\r\n",
            fake_cookie("node1")
        );
        let body = tomcat::pattern_body(LEN as u64);
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        s.set_write_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(head.as_bytes()).expect("head");
        let mut sent = 0;
        // Send 256 KB, then wait until node1 has read more than 100 KB of the body: it
        // asked for more than the first packet, so the body is streaming.
        while sent < 256 * 1024 {
            s.write_all(&body[sent..sent + 8192]).expect("body");
            sent += 8192;
        }
        poll(
            Duration::from_secs(10),
            Duration::from_millis(10),
            "body to stream",
            || (tap1.bytes_after(&marker) > 100_000).then_some(()),
        );
        nodes[0].kill();
        // The rest of the body; the front end may stop reading at any point.
        let mut writer = s.try_clone().expect("clone");
        let rest = body[sent..].to_vec();
        let feeder = thread::spawn(move || {
            let _ = writer.write_all(&rest);
        });
        let mut raw = Vec::new();
        let read = s.read_to_end(&mut raw);
        let _ = s.shutdown(Shutdown::Both);
        let _ = feeder.join();
        let mid_answer = match tomcat::parse_http_response(&raw) {
            Ok(r) if r.status == 200 => format!("200 from {}", echo_node(&r)),
            Ok(r) => format!("{}", r.status),
            Err(_) => format!(
                "connection closed without answer ({read:?}, {} bytes)",
                raw.len()
            ),
        };
        let mid_replayed = tap2.connections_with(&marker);

        // (b) small body that the application has not read yet (`read=0`: it answers
        // after 2 s without reading) when node1 dies. First node1 is back (restarted
        // and recovered: requests stuck to it reach it again).
        nodes[0].restart();
        wait_sticky_back(port, "node1");
        let (marker_b, small_answer, small_latency) =
            post_before_reply(&front, &tap1, &tap2, || {
                nodes[0].kill();
            });
        let small_replayed = tap2.connections_with(&marker_b);
        outcome(
            "7 POST, node dies",
            &front,
            &format!(
                "mid-body (2 MB, killed after >100 KB reached node1): {mid_answer}, reached node2 {mid_replayed} times; small body, killed before the answer: {small_answer} after {} ms, reached node2 {small_replayed} times",
                ms(small_latency)
            ),
        );
        // Neither implementation may replay a body that was already streamed.
        assert_eq!(mid_replayed, 0, "{}: mid-body POST replayed", front.name());
        assert!(
            !mid_answer.starts_with("200"),
            "{}: {mid_answer}",
            front.name()
        );
        if front.is_jkd() {
            // jkd never replays a POST that reached a backend (mod_jk does, see above).
            assert_eq!(small_replayed, 0, "jkd replayed a POST");
            assert!(small_answer.starts_with('5'), "jkd: {small_answer}");
        }
        nodes[0].restart();
        wait_sticky_back(port, "node1");
    }
}

/// Polls until a GET stuck to `route` is served by it (the member recovered).
fn wait_sticky_back(port: u16, route: &str) {
    poll(
        Duration::from_secs(30),
        Duration::from_millis(50),
        "the member to serve its sessions again",
        || {
            get(port, "/echo/back", Some(&fake_cookie(route)))
                .ok()
                .filter(|r| r.status == 200 && echo_node(r) == route)
        },
    );
}

/// Part (b) of scenario 7: a small POST stuck to node1 that the application holds for
/// 2 s without reading; `kill_node1` runs once the POST is seen on node1's tap.
/// Returns the marker, the answer and its latency. node1 served its sessions just
/// before, so the POST must reach it; if it is answered without (as when jkd counted
/// the previous request finished only after its client had the answer, leaving node1
/// in ERR/PRB for a moment), the failure says how it was answered, with the log.
fn post_before_reply(
    front: &Front,
    tap1: &Tap,
    tap2: &Tap,
    kill_node1: impl FnOnce(),
) -> (String, String, Duration) {
    let port = front.port();
    let marker = format!("beforereply-{}", front.name());
    let small = "x=1";
    let req = format!(
        "POST /echo/slow?read=0&sleep=2000&marker={marker} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{small}",
        fake_cookie("node1"),
        small.len()
    );
    let t = Instant::now();
    let sender = thread::spawn(move || tomcat::http_request(port, req.as_bytes(), TIMEOUT));
    let deadline = Instant::now() + Duration::from_secs(10);
    let reached = loop {
        if tap1.connections_with(&marker) > 0 {
            break true;
        }
        if sender.is_finished() {
            break false;
        }
        assert!(
            Instant::now() < deadline,
            "{}: the POST neither reached node1 nor was answered in 10 s; log:\n{}",
            front.name(),
            front.log_tail()
        );
        thread::sleep(Duration::from_millis(5));
    };
    if reached {
        kill_node1();
    }
    let result = sender.join().expect("sender");
    let latency = t.elapsed();
    let answer = match &result {
        Ok(r) if r.status == 200 => format!("200 from {}", echo_node(r)),
        Ok(r) => r.status.to_string(),
        Err(e) => format!("error {e}"),
    };
    assert!(
        reached,
        "{}: the POST stuck to node1 was answered {answer} after {} ms without reaching node1 (reached node2 {} times); log:\n{}",
        front.name(),
        ms(latency),
        tap2.connections_with(&marker),
        front.log_tail()
    );
    (marker, answer, latency)
}

// ---------------------------------------------------------------------------------------
// 8. jkd vs mod_jk: same node sequences where mod_jk is deterministic

/// Scenario 8: on the same workers file (lbfactor 1:3, maintenance out of the way so
/// that decay timing cannot differ), jkd and mod_jk (one httpd child) choose the same
/// node for: the first 40 requests without session; a mix of requests stuck to each
/// node and requests without session (sticky requests count toward the load value);
/// 12 new sessions and 3 rounds over them by cookie.
#[test]
fn s8_same_sequences_as_mod_jk() {
    let _serial = serial();
    let nodes = start_nodes(&["node1", "node2"]);
    let text = lb_text(
        "lb",
        "/echo/*,/session",
        &[],
        &[
            M("node1", nodes[0].ajp_port(), &["lbfactor=1"]),
            M("node2", nodes[1].ajp_port(), &["lbfactor=3"]),
        ],
    );
    let workers = Workers::new("sequence", &text);
    let mut sequences: Vec<Vec<String>> = Vec::new();
    for kind in [Kind::Jkd, Kind::ModJk] {
        let front = Front::start(kind, &workers);
        let port = front.port();
        let mut seq = Vec::new();
        let (_, plain) = split_run(&front, 40, "/echo/seq");
        seq.extend(plain.iter().map(|n| format!("new:{n}")));
        // Mixed: 4 stuck to node1, 4 new, 2 stuck to node2, 6 new, 3 stuck to node1, 4 new.
        let mut c = Client::new(port);
        for (route, n) in [
            (Some("node1"), 4),
            (None, 4),
            (Some("node2"), 2),
            (None, 6),
            (Some("node1"), 3),
            (None, 4),
        ] {
            for _ in 0..n {
                let cookie = route.map(fake_cookie);
                let headers: Vec<(&str, &str)> = cookie
                    .as_deref()
                    .map(|c| ("Cookie", c))
                    .into_iter()
                    .collect();
                let r = c.get("/echo/mix", &headers).expect("mix");
                seq.push(format!("{}:{}", route.unwrap_or("new"), echo_node(&r)));
            }
        }
        // Sessions.
        let sessions = create_sessions(port, 12);
        seq.extend(sessions.iter().map(|s| format!("session:{}", s.1)));
        for _ in 0..3 {
            for (cookie, _, _) in &sessions {
                let r = get(port, "/session", Some(cookie)).expect("session");
                seq.push(format!("sticky:{}", session_reply(&r).node));
            }
        }
        let first: Vec<&str> = plain.iter().take(12).map(String::as_str).collect();
        outcome(
            "8 sequences",
            &front,
            &format!(
                "first 12 of 40 new: {first:?}; 40 new split {:?}; full sequence of {} steps",
                tally(plain.iter().map(String::as_str)),
                seq.len()
            ),
        );
        sequences.push(seq);
    }
    let diff: Vec<(usize, &String, &String)> = sequences[0]
        .iter()
        .zip(&sequences[1])
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| (i, a, b))
        .collect();
    assert!(
        diff.is_empty(),
        "jkd and mod_jk chose differently (step, jkd, mod_jk): {diff:?}\njkd: {:?}\nmod_jk: {:?}",
        sequences[0],
        sequences[1]
    );
}
