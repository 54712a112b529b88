//! The edge holds against hostile clients, checked with a recording AJP backend: no smuggling into the AJP connection, no half body delivered as whole, client timeouts and limits, in-flight accounting that cannot leak, RFC 9112's head rules.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use support::jkd;
use support::recorder::{Answer, BodyEnd, Recorder};

const TIMEOUT: Duration = Duration::from_secs(10);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// jkd with one ajp13 worker `w` (mounted on /*) in front of `port`.
fn jkd_for(port: u16, extra_workers: &str, flags: &[&str]) -> jkd::Jkd {
    let dir = std::env::temp_dir().join(format!("jkd-edge-{}-{port}", std::process::id()));
    fs::create_dir_all(&dir).expect("dir");
    let workers = dir.join("workers.properties");
    fs::write(
        &workers,
        format!(
            "worker.list=w\nworker.w.host=127.0.0.1\nworker.w.port={port}\nworker.w.mount=/*\n\
             {extra_workers}"
        ),
    )
    .expect("write workers");
    jkd::start(&workers, flags)
}

fn connect(j: &jkd::Jkd) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", j.port)).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    s
}

/// Sends `request`, half-closes when asked, and reads until jkd closes (or the read
/// timeout); returns what came back.
fn exchange(j: &jkd::Jkd, request: &[u8], half_close: bool) -> String {
    let mut s = connect(j);
    s.write_all(request).expect("send");
    if half_close {
        let _ = s.shutdown(Shutdown::Write);
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).into_owned()
}

/// Sends `request` on a new connection and reads one response (head and
/// Content-Length body), leaving the connection as the server left it.
fn one_response(j: &jkd::Jkd, request: &[u8]) -> String {
    let mut s = connect(j);
    s.write_all(request).expect("send");
    read_response(&mut s)
}

/// Reads one response (head and Content-Length body) from `s`.
fn read_response(s: &mut TcpStream) -> String {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => raw.push(byte[0]),
            _ => return String::from_utf8_lossy(&raw).into_owned(),
        }
    }
    let head = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    let _ = s.read_exact(&mut body);
    raw.extend(body);
    String::from_utf8_lossy(&raw).into_owned()
}

fn status_of(response: &str) -> Option<u16> {
    response.split(' ').nth(1).and_then(|s| s.parse().ok())
}

/// Waits (bounded) until the recorder has `n` requests.
fn wait_for_records(r: &Recorder, n: usize) {
    let deadline = Instant::now() + TIMEOUT;
    while r.requests.lock().len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether jkd closed the connection within `limit` (a read returns end of file or an
/// error), without sending anything.
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).expect("timeout");
    let mut byte = [0u8; 1];
    match s.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => {
            let mut rest = [0u8; 512];
            let n = s.read(&mut rest).unwrap_or(0);
            eprintln!(
                "unexpected bytes: {:?}",
                String::from_utf8_lossy(&[&byte[..], &rest[..n]].concat())
            );
            false
        }
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn a_connection_header_cannot_remove_the_body_framing() {
    let rt = runtime();
    let backend = Recorder::start(&rt, Answer::default());
    let j = jkd_for(backend.port, "", &[]);
    // The probe of CVE-2022-26377's class: the body must travel as this request's
    // body, announced by its content-length, never as a packet Tomcat would read as
    // the next request on the connection.
    let body = "B".repeat(514);
    for connection in [
        "Content-Length",
        "content-length, Host",
        "Transfer-Encoding, Host",
    ] {
        let request = format!(
            "GET /app/hello HTTP/1.1\r\nHost: a.example\r\nContent-Length: 514\r\n\
             Connection: {connection}\r\n\r\n{body}"
        );
        let before = backend.recorded().len();
        let answer = one_response(&j, request.as_bytes());
        assert_eq!(status_of(&answer), Some(200), "{answer}");
        wait_for_records(&backend, before + 1);
        let recorded = backend.recorded();
        assert_eq!(
            recorded.len(),
            before + 1,
            "one request per request: {recorded:?}"
        );
        let rec = &recorded[before];
        assert_eq!(rec.header("content-length"), Some("514"), "{rec:?}");
        assert_eq!(rec.header("host"), Some("a.example"), "{rec:?}");
        assert_eq!(rec.end, BodyEnd::Complete);
        assert_eq!(rec.body, body.as_bytes());
    }
}

#[test]
fn a_malformed_chunked_body_never_ends_normally_on_the_backend() {
    let rt = runtime();
    let backend = Recorder::start(&rt, Answer::default());
    let j = jkd_for(backend.port, "", &[]);
    // A good chunk larger than one AJP packet (so the backend has begun reading the
    // body), then garbage where the next chunk size should be.
    let mut request =
        b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2710\r\n".to_vec();
    request.extend(std::iter::repeat_n(b'h', 10000));
    request.extend(b"\r\nZZ\r\nnot a chunk\r\n");
    let answer = exchange(&j, &request, true);
    assert!(
        answer.is_empty() || status_of(&answer) == Some(400),
        "client should get 400 or nothing: {answer}"
    );
    wait_for_records(&backend, 1);
    let recorded = backend.recorded();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_ne!(
        recorded[0].end,
        BodyEnd::Complete,
        "a broken body was ended normally: {recorded:?}"
    );
    assert_eq!(recorded[0].end, BodyEnd::ConnectionClosed);
    // jkd closes the backend connection before it logs why: the line may reach the
    // log a moment after the backend saw the close.
    let deadline = Instant::now() + TIMEOUT;
    while !j.log().contains("reading the request body failed") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        j.log().contains("reading the request body failed"),
        "{}",
        j.log()
    );
}

#[test]
fn a_body_shorter_than_its_length_never_ends_normally_on_the_backend() {
    let rt = runtime();
    let backend = Recorder::start(&rt, Answer::default());
    let j = jkd_for(backend.port, "", &[]);
    let mut request = b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 20000\r\n\r\n".to_vec();
    request.extend(std::iter::repeat_n(b'x', 9000));
    let answer = exchange(&j, &request, true);
    assert!(
        answer.is_empty() || status_of(&answer) == Some(400),
        "client should get 400 or nothing: {answer}"
    );
    wait_for_records(&backend, 1);
    let recorded = backend.recorded();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(
        recorded[0].end,
        BodyEnd::ConnectionClosed,
        "the backend must see a broken body, got {:?} after {} bytes",
        recorded[0].end,
        recorded[0].body_len
    );
    // The connection was closed, never reused: a second request opens a new one.
    let ok = exchange(
        &j,
        b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        false,
    );
    assert_eq!(status_of(&ok), Some(200), "{ok}");
    assert_eq!(backend.connections.load(Ordering::SeqCst), 2);
}

#[test]
fn a_client_that_sends_no_body_holds_no_backend_connection() {
    let rt = runtime();
    let backend = Recorder::start(&rt, Answer::default());
    let j = jkd_for(
        backend.port,
        "worker.w.connection_pool_size=1\nworker.w.connection_acquire_timeout=1000\n",
        &["--timeout", "3"],
    );
    // Two clients announce bodies and send nothing.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut s = connect(&j);
        s.write_all(b"POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
            .expect("send");
        stalled.push(s);
    }
    std::thread::sleep(Duration::from_millis(300));
    // Everyone else is served at once: the only backend connection is free.
    let started = Instant::now();
    let ok = exchange(
        &j,
        b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        false,
    );
    assert_eq!(status_of(&ok), Some(200), "{ok}");
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "waited {:?} for a backend connection held by a stalled client",
        started.elapsed()
    );
    eprintln!(
        "EDGE slow-body: 2 clients announce 100000 bytes and send none, pool of 1: \
         another client served in {:?}",
        started.elapsed()
    );
    // The stalled clients get 408 once --timeout passes without a byte of body.
    let stalled_since = Instant::now();
    for mut s in stalled {
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw);
        assert_eq!(status_of(&text), Some(408), "{text}");
    }
    eprintln!(
        "EDGE slow-body: stalled clients answered 408 after {:?} more (--timeout 3), \
         holding no backend connection",
        stalled_since.elapsed()
    );
    assert_eq!(backend.recorded().len(), 1, "{:?}", backend.recorded());
}

#[test]
fn slow_headers_are_cut_at_the_timeout() {
    let rt = runtime();
    let backend = Recorder::start(&rt, Answer::default());
    let j = jkd_for(backend.port, "", &["--timeout", "2"]);
    let mut s = connect(&j);
    s.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    let head = b"GET /x HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    let mut cut = false;
    // One byte every 300 ms: the whole head would take ~25 s.
    for b in head.iter() {
        if s.write_all(&[*b]).is_err() {
            cut = true;
            break;
        }
        if closed_within(&mut s, Duration::from_millis(300)) {
            cut = true;
            break;
        }
    }
    let held = started.elapsed();
    eprintln!("EDGE slow-headers: 1 byte / 300 ms, --timeout 2: connection closed after {held:?}");
    assert!(cut, "a head trickled over {held:?} was still being read");
    // The whole head would have taken ~18 s; --timeout (2 s) cut it, with a margin for a
    // loaded machine.
    assert!(held < Duration::from_secs(10), "cut only after {held:?}");
    assert!(backend.recorded().is_empty());
}

#[test]
fn idle_and_silent_connections_are_closed() {
    let rt = runtime();
    let backend = Recorder::start(&rt, Answer::default());
    let j = jkd_for(
        backend.port,
        "",
        &["--timeout", "2", "--keepalive-timeout", "1"],
    );
    // Never sends a byte: closed after --timeout.
    let mut silent = connect(&j);
    let started = Instant::now();
    assert!(
        closed_within(&mut silent, Duration::from_secs(8)),
        "a silent connection stayed open"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "closed too early"
    );
    eprintln!(
        "EDGE silent: no byte, --timeout 2: closed after {:?}",
        started.elapsed()
    );
    // Idle after a request: closed after --keepalive-timeout.
    let mut idle = connect(&j);
    idle.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("send");
    // The whole answer, so that what is left to read is only the close.
    let answer = read_response(&mut idle);
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    let started = Instant::now();
    assert!(
        closed_within(&mut idle, Duration::from_secs(8)),
        "an idle keep-alive connection stayed open\n{}",
        j.log()
    );
    let held = started.elapsed();
    eprintln!("EDGE idle: after one request, --keepalive-timeout 1: closed after {held:?}");
    // Closed well before the read timeout above (8 s): the keep-alive timeout (1 s)
    // closed it, not the test giving up; the margin allows a loaded machine.
    assert!(
        held < Duration::from_secs(7),
        "idle connection closed only after {held:?}"
    );
}

#[test]
fn a_client_that_stops_reading_releases_the_backend_connection() {
    let rt = runtime();
    // 64 MiB: far more than the socket buffers hold.
    let backend = Recorder::start(
        &rt,
        Answer {
            delay: Duration::ZERO,
            size: 64 << 20,
        },
    );
    let j = jkd_for(backend.port, "", &["--timeout", "2"]);
    let mut s = connect(&j);
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("send");
    // Read the head, then nothing.
    let mut first = [0u8; 1024];
    let _ = s.read(&mut first).expect("head");
    let stalled_at = Instant::now();
    let deadline = stalled_at + Duration::from_secs(15);
    while backend.closed.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "EDGE slow-reader: 64 MiB response, client reads nothing, --timeout 2: backend \
         connection closed {:?} after the head, {} bytes relayed into buffers",
        stalled_at.elapsed(),
        backend.written.load(Ordering::SeqCst)
    );
    assert_eq!(
        backend.closed.load(Ordering::SeqCst),
        1,
        "the backend connection is still held for a client that reads nothing \
         ({} of {} bytes written)",
        backend.written.load(Ordering::SeqCst),
        64 << 20
    );
    assert!(backend.written.load(Ordering::SeqCst) < 64 << 20);
    drop(s);
}

#[test]
fn clients_that_give_up_do_not_leave_members_busy() {
    let rt = runtime();
    let slow = Answer {
        delay: Duration::from_millis(1500),
        size: 2,
    };
    let a = Recorder::start(&rt, slow);
    let b = Recorder::start(&rt, slow);
    let dir = std::env::temp_dir().join(format!("jkd-edge-busy-{}-{}", std::process::id(), a.port));
    fs::create_dir_all(&dir).expect("dir");
    let workers = dir.join("workers.properties");
    fs::write(
        &workers,
        format!(
            "worker.list=lb,direct,jkstatus\nworker.jkstatus.type=status\n\
             worker.jkstatus.mount=/jkmanager\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\n\
             worker.lb.method=B\nworker.lb.mount=/lb/*\n\
             worker.a.host=127.0.0.1\nworker.a.port={}\nworker.a.busy_limit=2\n\
             worker.b.host=127.0.0.1\nworker.b.port={}\nworker.b.busy_limit=2\n\
             worker.direct.host=127.0.0.1\nworker.direct.port={}\nworker.direct.mount=/direct/*\n",
            a.port, b.port, a.port
        ),
    )
    .expect("write workers");
    let j = jkd::start(&workers, &[]);
    // Four clients give up while jkd waits for the backend (two per member), and two
    // on the direct worker.
    for path in ["/lb/x", "/lb/x", "/lb/x", "/lb/x", "/direct/x", "/direct/x"] {
        let mut s = connect(&j);
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
            .expect("send");
        std::thread::sleep(Duration::from_millis(100));
        drop(s);
    }
    // Let the backends answer the abandoned requests.
    std::thread::sleep(Duration::from_millis(1800));
    let answer = exchange(
        &j,
        b"GET /lb/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        false,
    );
    assert_eq!(
        status_of(&answer),
        Some(200),
        "members stayed busy: {answer}"
    );
    let status = exchange(
        &j,
        b"GET /jkmanager?mime=prop HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        false,
    );
    for key in [
        "worker.a.busy=",
        "worker.b.busy=",
        "worker.direct.busy=",
        "worker.lb.busy=",
    ] {
        let value = status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in:\n{status}"));
        assert_eq!(
            value.trim(),
            "0",
            "{key}{value} after the clients went away"
        );
    }
    let log = j.log();
    assert!(!log.contains("busy_limit reached"), "{log}");
}

#[test]
fn request_heads_follow_rfc_9112() {
    let rt = runtime();
    let backend = Recorder::start(&rt, Answer::default());
    let j = jkd_for(backend.port, "", &[]);
    let cases: [(&str, u16); 5] = [
        ("GET /x HTTP/1.1\r\nConnection: close\r\n\r\n", 400),
        (
            "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
            501,
        ),
        (
            "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
            501,
        ),
        ("GET /x HTTP/1.0\r\nConnection: close\r\n\r\n", 200),
    ];
    for (request, expected) in cases {
        let answer = exchange(&j, request.as_bytes(), false);
        assert_eq!(
            status_of(&answer),
            Some(expected),
            "{request:?} -> {answer}"
        );
    }
    // Only the HTTP/1.0 request without Host reached the backend.
    assert_eq!(backend.recorded().len(), 1, "{:?}", backend.recorded());
    // An absolute-form target's authority wins over Host.
    let answer = exchange(
        &j,
        b"GET http://right.example/y HTTP/1.1\r\nHost: wrong.example\r\nConnection: close\r\n\r\n",
        false,
    );
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    wait_for_records(&backend, 2);
    let rec = &backend.recorded()[1];
    assert_eq!(rec.header("host"), Some("right.example"), "{rec:?}");
    assert_eq!(rec.server_name, "right.example");
    assert_eq!(rec.uri, "/y");
}

#[test]
fn past_max_connections_new_clients_wait_for_a_free_slot() {
    let rt = runtime();
    let backend = Recorder::start(&rt, Answer::default());
    let j = jkd_for(backend.port, "", &["--max-connections", "2"]);
    let mut first = connect(&j);
    first
        .write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("send");
    let mut buf = [0u8; 512];
    assert!(first.read(&mut buf).expect("answer") > 0);
    let mut second = connect(&j);
    second
        .write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("send");
    assert!(second.read(&mut buf).expect("answer") > 0);
    // The third is not served while both are open...
    let mut third = connect(&j);
    third
        .write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("send");
    third
        .set_read_timeout(Some(Duration::from_millis(700)))
        .expect("timeout");
    assert!(
        third.read(&mut buf).is_err(),
        "served past --max-connections"
    );
    // ... and is as soon as one closes.
    drop(first);
    third.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let n = third.read(&mut buf).expect("answer after a slot freed");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    drop(second);
}

#[test]
fn a_refused_request_with_a_body_still_gets_its_answer() {
    let rt = runtime();
    let backend = Recorder::start(&rt, Answer::default());
    let j = jkd_for(backend.port, "", &[]);
    for _ in 0..5 {
        // No Host: refused with 400 before the 20 MB body is read. The client sends
        // all of it, then reads (as simple clients do): jkd must not reset the
        // connection under the answer.
        let mut s = connect(&j);
        s.set_write_timeout(Some(TIMEOUT)).expect("timeout");
        let _ = s.write_all(b"POST /x HTTP/1.1\r\nContent-Length: 20000000\r\n\r\n");
        let piece = vec![b'b'; 50_000];
        for _ in 0..400 {
            if s.write_all(&piece).is_err() {
                break;
            }
        }
        let answer = read_response(&mut s);
        assert_eq!(
            status_of(&answer),
            Some(400),
            "no answer, or not 400: {answer:?}"
        );
    }
    assert!(backend.recorded().is_empty());
}

#[test]
fn running_out_of_file_descriptors_recovers_on_every_listener() {
    let rt = runtime();
    let backend = Recorder::start(&rt, Answer::default());
    let dir = std::env::temp_dir().join(format!("jkd-edge-fds-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("dir");
    let workers = dir.join("workers.properties");
    fs::write(
        &workers,
        format!(
            "worker.list=w\nworker.w.host=127.0.0.1\nworker.w.port={}\nworker.w.mount=/*\n",
            backend.port
        ),
    )
    .expect("write workers");
    let j = jkd::start_with_fd_limit(
        &workers,
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--timeout",
            "2",
            "--keepalive-timeout",
            "1",
        ],
        48,
    );
    let metrics = j.metrics_port.expect("metrics port");
    // 60 idle connections: more than jkd has descriptors for.
    let idle: Vec<TcpStream> = (0..60)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", j.port)).ok())
        .collect();
    let metrics_idle: Vec<TcpStream> = (0..10)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", metrics)).ok())
        .collect();
    // Once the idle ones time out, both listeners serve again.
    let started = Instant::now();
    let deadline = started + Duration::from_secs(20);
    let mut served = false;
    while Instant::now() < deadline {
        let ok = std::panic::catch_unwind(|| {
            one_response(
                &j,
                b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            )
        })
        .ok()
        .and_then(|a| status_of(&a));
        if ok == Some(200) {
            served = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        served,
        "jkd did not recover after running out of descriptors\n{}",
        j.log()
    );
    let scrape = support::tomcat::http_get(metrics, "/metrics", &[], TIMEOUT)
        .unwrap_or_else(|e| panic!("metrics listener stopped: {e}\n{}", j.log()));
    assert_eq!(scrape.status, 200);
    eprintln!(
        "EDGE fd-exhaustion: ulimit -n 48, {} + {} idle connections, serving again after {:?}",
        idle.len(),
        metrics_idle.len(),
        started.elapsed()
    );
    assert!(
        j.log().contains("accept failed"),
        "the limit was never reached:\n{}",
        j.log()
    );
    drop(idle);
    drop(metrics_idle);
}

#[test]
fn an_idle_http2_connection_is_closed_even_while_it_pings() {
    let rt = runtime();
    let backend = Recorder::start(&rt, Answer::default());
    let j = jkd_for(backend.port, "", &["--keepalive-timeout", "1"]);
    let mut s = connect(&j);
    // The client preface and an empty SETTINGS frame, then a PING every 200 ms and no
    // stream at all.
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .expect("preface");
    let ping = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00pingpong";
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(8) {
        if s.write_all(ping).is_err() {
            closed = true;
            break;
        }
        // Drain what jkd sends (SETTINGS, PING acks, at last GOAWAY) until it closes.
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    let held = started.elapsed();
    eprintln!(
        "EDGE http2-idle: PING every 200 ms, no stream, --keepalive-timeout 1: closed after {held:?}"
    );
    assert!(
        closed,
        "an HTTP/2 connection with no stream stayed open for {held:?}"
    );
    // Closed by the keep-alive timeout (1 s) and the 2 s close grace, not by the end of
    // the test's 8 s loop.
    assert!(held < Duration::from_secs(7), "closed only after {held:?}");
}

#[test]
fn header_names_reach_the_backend_spelled_as_the_client_sent_them() {
    let rt = runtime();
    let backend = Recorder::start(&rt, Answer::default());
    let j = jkd_for(backend.port, "", &[]);
    let answer = one_response(
        &j,
        b"GET /x HTTP/1.1\r\nHost: a\r\nX-Custom-Header: 1\r\naccept-encoding: gzip\r\n\
          Accept-Language: en\r\nX-MiXeD: 2\r\nx-mixed: 3\r\n\r\n",
    );
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    wait_for_records(&backend, 1);
    let rec = &backend.recorded()[0];
    let names: Vec<&str> = rec.headers.iter().map(|(n, _)| n.as_str()).collect();
    // mod_jk forwards names as the client wrote them (hyper would lower-case them);
    // a name sent twice in two spellings keeps its first one.
    for expected in ["X-Custom-Header", "accept-encoding", "Accept-Language"] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }
    assert_eq!(
        rec.headers
            .iter()
            .filter(|(n, _)| n == "X-MiXeD")
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>(),
        ["2", "3"],
        "{names:?}"
    );
}
