//! The edge rules against real Tomcat 10 nodes: the smuggling probe, bodies that break on the way, and a graceful Tomcat restart under GET and POST load (fast and trickled bodies) — nothing lost, nothing delivered twice.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ::jkd::ajp::request::{ForwardRequest, RequestAttributes, encode_forward_request};
use bytes::BytesMut;
use support::tomcat::{self, Tomcat, TomcatOptions};
use support::{jkd, modjk};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Serialises the tests of this file: each runs Tomcats and load.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn write_workers(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jkd-edge-tomcat-{}-{name}", std::process::id()));
    fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("workers.properties");
    fs::write(&path, text).expect("write workers");
    path
}

/// The records of RecordServlet on one Tomcat: `id -> [(length, complete)]`.
fn records(t: &Tomcat) -> BTreeMap<String, Vec<(u64, bool)>> {
    let text = fs::read_to_string(t.base().join("logs/jkd-records.txt")).unwrap_or_default();
    let mut map: BTreeMap<String, Vec<(u64, bool)>> = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split(' ');
        let id = words.next().unwrap_or_default().to_string();
        let length = line
            .split(" length=")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let complete = line.ends_with("complete=true");
        map.entry(id).or_default().push((length, complete));
    }
    map
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    s
}

/// Reads one response (head and Content-Length body); `None` if the connection ended
/// before a whole one arrived.
fn read_response(s: &mut TcpStream) -> Option<(u16, String)> {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => raw.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).ok()?;
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

#[test]
fn the_smuggling_probe_reaches_tomcat_as_a_body_not_as_a_request() {
    let _guard = serial();
    let node = tomcat::start(&TomcatOptions::with_route("n1"));
    let workers = write_workers(
        "smuggle",
        &format!(
            "worker.list=w\nworker.w.host=127.0.0.1\nworker.w.port={}\nworker.w.mount=/*\n\
             worker.w.connection_pool_size=1\n",
            node.ajp_port()
        ),
    );
    let j = jkd::start(&workers, &[]);
    // The attacker's body is a whole FORWARD_REQUEST of its own choosing: another URI,
    // a remote user, a remote address.
    let smuggled = ForwardRequest {
        method: b"GET",
        protocol: b"HTTP/1.1",
        req_uri: b"/record/smuggled",
        remote_addr: b"10.6.6.6",
        remote_host: None,
        server_name: b"internal",
        server_port: 80,
        is_ssl: true,
        headers: vec![(b"host".as_slice(), b"internal".as_slice())],
        attributes: RequestAttributes {
            remote_user: Some(b"admin"),
            auth_type: Some(b"BASIC"),
            query_string: Some(b"id=SMUGGLED"),
            ..Default::default()
        },
    };
    let mut packet = BytesMut::new();
    encode_forward_request(&smuggled, 8192, &mut packet).expect("encode the smuggled request");
    let mut request = format!(
        "GET /record/probe?id=PROBE HTTP/1.1\r\nHost: a.example\r\nContent-Length: {}\r\n\
         Connection: Content-Length\r\n\r\n",
        packet.len()
    )
    .into_bytes();
    request.extend_from_slice(&packet);
    let mut s = connect(j.port);
    s.write_all(&request).expect("send");
    let (status, body) = read_response(&mut s).expect("an answer to the probe");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.trim(), format!("recorded PROBE {}", packet.len()));
    // The next request on the same (single) backend connection gets its own answer.
    s.write_all(b"GET /record/next?id=NEXT HTTP/1.1\r\nHost: a.example\r\n\r\n")
        .expect("send");
    let (status, body) = read_response(&mut s).expect("an answer to the next request");
    assert_eq!((status, body.trim()), (200, "recorded NEXT 0"));
    let recorded = records(&node);
    assert!(
        !recorded.contains_key("SMUGGLED"),
        "Tomcat ran the smuggled request: {recorded:?}"
    );
    assert_eq!(
        recorded.get("PROBE"),
        Some(&vec![(packet.len() as u64, true)])
    );
    assert!(
        !node.log().contains("Rejecting request"),
        "Tomcat parsed the body as a request:\n{}",
        node.log()
    );
}

#[test]
fn a_body_that_breaks_on_the_way_never_reaches_the_application_as_whole() {
    let _guard = serial();
    let node = tomcat::start(&TomcatOptions::with_route("n1"));
    let workers = write_workers(
        "broken",
        &format!(
            "worker.list=w\nworker.w.host=127.0.0.1\nworker.w.port={}\nworker.w.mount=/*\n",
            node.ajp_port()
        ),
    );
    let j = jkd::start(&workers, &[]);
    // A good 10,000-byte chunk, then garbage where the next chunk size belongs.
    let mut chunked = b"POST /record/x?id=CHUNKED HTTP/1.1\r\nHost: a\r\n\
                        Transfer-Encoding: chunked\r\n\r\n2710\r\n"
        .to_vec();
    chunked.extend(std::iter::repeat_n(b'c', 10_000));
    chunked.extend(b"\r\nZZ\r\nnot a chunk\r\n");
    // 9,000 of an announced 20,000 bytes, then the client half-closes.
    let mut short =
        b"POST /record/x?id=SHORT HTTP/1.1\r\nHost: a\r\nContent-Length: 20000\r\n\r\n".to_vec();
    short.extend(std::iter::repeat_n(b's', 9000));
    for request in [chunked, short] {
        let mut s = connect(j.port);
        s.write_all(&request).expect("send");
        let _ = s.shutdown(Shutdown::Write);
        if let Some((status, body)) = read_response(&mut s) {
            assert_eq!(status, 400, "{body}");
        }
    }
    // Both reached the servlet (its body had begun) and both failed there, as a read
    // error: neither was taken for a whole body.
    let deadline = Instant::now() + TIMEOUT;
    let mut recorded = records(&node);
    while (!recorded.contains_key("CHUNKED") || !recorded.contains_key("SHORT"))
        && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(50));
        recorded = records(&node);
    }
    for id in ["CHUNKED", "SHORT"] {
        let seen = recorded.get(id).cloned().unwrap_or_default();
        assert!(
            seen.iter().all(|(_, complete)| !complete),
            "{id}: the application read a cut body as whole: {seen:?}"
        );
    }
    // jkd still serves (the broken backend connections were closed, not reused).
    let ok = tomcat::http_get(j.port, "/record/x?id=AFTER", &[], TIMEOUT).expect("after");
    assert_eq!(ok.status, 200);
}

/// One client's request loop: GETs, fast 64 KiB POSTs and POSTs whose body trickles
/// in over ~200 ms; each POST has an id. Returns (id, outcome) for every POST and the
/// GET failures.
/// A POST's id and how it ended for the client.
type PostOutcome = (String, Result<(), String>);

struct Load {
    stop: Arc<AtomicBool>,
    next_id: Arc<AtomicU64>,
    prefix: String,
    posts: Arc<Mutex<Vec<PostOutcome>>>,
    get_failures: Arc<Mutex<Vec<String>>>,
    gets: Arc<AtomicU64>,
}

fn client_loop(port: u16, kind: usize, load: &Load) {
    let body = vec![b'p'; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(120);
    while !load.stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let mut s = match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => s,
            Err(e) => {
                load.get_failures
                    .lock()
                    .expect("lock")
                    .push(format!("connect: {e}"));
                continue;
            }
        };
        let _ = s.set_read_timeout(Some(TIMEOUT));
        // Each connection carries a few requests (keep-alive).
        for _ in 0..5 {
            if load.stop.load(Ordering::Relaxed) {
                break;
            }
            if kind == 0 {
                let sent = s.write_all(b"GET /record/get?id=get HTTP/1.1\r\nHost: a\r\n\r\n");
                load.gets.fetch_add(1, Ordering::Relaxed);
                match sent.ok().and_then(|()| read_response(&mut s)) {
                    Some((200, _)) => continue,
                    other => {
                        load.get_failures
                            .lock()
                            .expect("lock")
                            .push(format!("{other:?}"));
                        break;
                    }
                }
            }
            let id = format!(
                "{}{}",
                load.prefix,
                load.next_id.fetch_add(1, Ordering::Relaxed)
            );
            let head = format!(
                "POST /record/post?id={id} HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let sent = if kind == 1 {
                s.write_all(head.as_bytes())
                    .and_then(|()| s.write_all(&body))
            } else {
                // Trickled: four pieces, 50 ms apart.
                s.write_all(head.as_bytes()).and_then(|()| {
                    for piece in body.chunks(body.len() / 4) {
                        thread::sleep(Duration::from_millis(50));
                        s.write_all(piece)?;
                    }
                    Ok(())
                })
            };
            let outcome = match sent.map_err(|e| format!("send: {e}")).and_then(|()| {
                read_response(&mut s).ok_or_else(|| "no response (connection closed)".to_string())
            }) {
                Ok((200, text)) if text.trim() == format!("recorded {id} {}", body.len()) => Ok(()),
                Ok((status, text)) => Err(format!("{status}: {}", text.trim())),
                Err(e) => Err(e),
            };
            let failed = outcome.is_err();
            load.posts.lock().expect("lock").push((id, outcome));
            if failed {
                break;
            }
        }
    }
}

#[test]
fn a_graceful_tomcat_restart_loses_and_duplicates_nothing() {
    let _guard = serial();
    let mut nodes: Vec<Tomcat> = thread::scope(|s| {
        let a = s.spawn(|| tomcat::start(&TomcatOptions::with_route("n1")));
        let b = s.spawn(|| tomcat::start(&TomcatOptions::with_route("n2")));
        vec![a.join().expect("n1"), b.join().expect("n2")]
    });
    // The members as an operator coming from mod_jk writes them, with the recommended
    // CPing, and `fail_on_status=-503`: a stopping Tomcat answers 503 itself for a
    // servlet it is unloading, which then goes to the other node (the member is not
    // put in error for it).
    let workers = write_workers(
        "restart",
        &format!(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=n1,n2\n\
             worker.lb.sticky_session=false\nworker.lb.mount=/*\nworker.maintain=1\n\
             worker.lb.recover_time=1\n\
             worker.n1.host=127.0.0.1\nworker.n1.port={}\nworker.n1.ping_mode=A\n\
             worker.n1.fail_on_status=-503\n\
             worker.n2.host=127.0.0.1\nworker.n2.port={}\nworker.n2.ping_mode=A\n\
             worker.n2.fail_on_status=-503\n",
            nodes[0].ajp_port(),
            nodes[1].ajp_port()
        ),
    );
    let j = jkd::start(&workers, &[]);
    let jkd_run = restart_under_load(j.port, &mut nodes, "J");
    let resent = j
        .log()
        .lines()
        .filter(|l| l.contains("(NotSent)") && l.contains("retry=true"))
        .count();
    jkd_run.report(
        "jkd",
        &format!("; {resent} requests sent again after a backend closed before reading them"),
    );
    let jkd_log: String = j
        .log()
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("status=50"))
        .take(60)
        .collect::<Vec<_>>()
        .join("\n");
    drop(j);
    // The same restart behind httpd + mod_jk 1.2.48, for the record (not asserted: it
    // resends a POST whose connection closed, so it may run one twice).
    let modjk_run = match modjk::start(&workers, &[], &[]) {
        Ok(m) => {
            let run = restart_under_load(m.port(), &mut nodes, "M");
            run.report("mod_jk", "");
            Some(run)
        }
        Err(e) => {
            eprintln!("SCENARIO graceful-restart mod_jk: did not start: {e:?}");
            None
        }
    };
    // On a machine loaded by other work, a restarting JVM can starve the other node
    // long enough for both front ends to find no member (seen once in a full suite
    // run: mod_jk lost 6 POSTs that way, jkd 31, all answered 503). Only then may jkd
    // lose a request no application saw.
    let environment_failed = modjk_run
        .as_ref()
        .is_some_and(|r| !r.could_have_saved.is_empty());
    assert!(
        jkd_run.posts > 50,
        "too little load: {} POSTs",
        jkd_run.posts
    );
    assert!(
        jkd_run.could_have_saved.is_empty() || environment_failed,
        "POSTs lost before any application saw them: {:?}\n{}",
        jkd_run.could_have_saved,
        jkd_log
    );
    assert!(
        jkd_run.unanswered.is_empty(),
        "clients left without an answer: {:?}",
        jkd_run.unanswered
    );
    assert!(
        jkd_run.get_failures.is_empty() || environment_failed,
        "failed GETs: {:?}",
        jkd_run.get_failures
    );
    assert!(
        jkd_run.twice.is_empty(),
        "delivered twice: {:?}",
        jkd_run.twice
    );
    assert!(
        jkd_run.lost.is_empty(),
        "answered but not recorded: {:?}",
        jkd_run.lost
    );
}

/// How a front end came through one rolling restart.
struct RestartRun {
    posts: usize,
    /// Failed POSTs: (id, what the client got).
    failed: Vec<PostOutcome>,
    /// Failed POSTs no application ever saw: ones the front end could have saved.
    could_have_saved: Vec<String>,
    /// Failed POSTs the client got no HTTP answer for.
    unanswered: Vec<String>,
    gets: u64,
    get_failures: Vec<String>,
    /// POST ids an application ran more than once.
    twice: Vec<String>,
    /// POSTs answered 200 that no application recorded.
    lost: Vec<String>,
}

impl RestartRun {
    fn report(&self, front: &str, extra: &str) {
        eprintln!(
            "SCENARIO graceful-restart {front}: {} POSTs ({} failed: {} never seen by an \
             application, {} run by Tomcat then dropped by its shutdown; {} without an \
             answer), {} GETs ({} failed), {} delivered twice{extra}",
            self.posts,
            self.failed.len(),
            self.could_have_saved.len(),
            self.failed.len() - self.could_have_saved.len(),
            self.unanswered.len(),
            self.gets,
            self.get_failures.len(),
            self.twice.len(),
        );
        for (id, outcome) in &self.failed {
            eprintln!("  {front} {id}: {outcome:?}");
        }
    }
}

/// Nine clients (GETs, fast 64 KiB POSTs, trickled POSTs) through the front end on
/// `port` while the first node restarts gracefully (SIGTERM: Tomcat finishes what it
/// has in flight, then starts again on the same ports). POST ids start with `prefix`.
fn restart_under_load(port: u16, nodes: &mut [Tomcat], prefix: &str) -> RestartRun {
    let load = Arc::new(Load {
        stop: Arc::new(AtomicBool::new(false)),
        next_id: Arc::new(AtomicU64::new(0)),
        prefix: prefix.to_string(),
        posts: Arc::default(),
        get_failures: Arc::default(),
        gets: Arc::default(),
    });
    let clients: Vec<_> = (0..9)
        .map(|i| {
            let load = load.clone();
            thread::spawn(move || client_loop(port, i % 3, &load))
        })
        .collect();
    thread::sleep(Duration::from_secs(2));
    nodes[0].restart();
    thread::sleep(Duration::from_secs(3));
    load.stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    let posts = load.posts.lock().expect("lock").clone();
    let mut seen: BTreeMap<String, Vec<(u64, bool)>> = BTreeMap::new();
    for n in nodes.iter() {
        for (id, v) in records(n) {
            if id.starts_with(prefix) {
                seen.entry(id).or_default().extend(v);
            }
        }
    }
    let failed: Vec<PostOutcome> = posts.iter().filter(|(_, o)| o.is_err()).cloned().collect();
    // A failed POST that no application ever saw is one the front end could have
    // saved (sent elsewhere); one that an application recorded was in Tomcat's hands
    // when Tomcat dropped it (its shutdown closes connections whose servlet finished
    // while the wrapper was unloading: the response is never written). Resending that
    // one would run it twice; jkd answers 502 instead.
    RestartRun {
        posts: posts.len(),
        could_have_saved: failed
            .iter()
            .filter(|(id, _)| !seen.contains_key(id))
            .map(|(id, _)| id.clone())
            .collect(),
        unanswered: failed
            .iter()
            .filter(|(_, o)| o.as_ref().is_err_and(|e| !e.starts_with('5')))
            .map(|(id, _)| id.clone())
            .collect(),
        failed,
        gets: load.gets.load(Ordering::Relaxed),
        get_failures: load.get_failures.lock().expect("lock").clone(),
        twice: seen
            .iter()
            .filter(|(_, v)| v.iter().filter(|(_, c)| *c).count() > 1)
            .map(|(id, _)| id.clone())
            .collect(),
        lost: posts
            .iter()
            .filter(|(id, o)| o.is_ok() && !seen.get(id).is_some_and(|v| v.iter().any(|(_, c)| *c)))
            .map(|(id, _)| id.clone())
            .collect(),
    }
}
