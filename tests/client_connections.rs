//! Client connections: an idle HTTP/1.1 keep-alive connection is parked and serves its next request, bytes read before a park are not lost, HTTP/2 prior knowledge works.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use support::jkd;
use support::tomcat;

const TIMEOUT: Duration = Duration::from_secs(10);

/// jkd in front of one demo node; `extra` flags are passed to `jkd run`.
fn start(extra: &[&str]) -> (tokio::runtime::Runtime, jkd::Jkd) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let l = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    rt.spawn(jkd::demo_node("a", l));
    let dir = std::env::temp_dir().join(format!("jkd-clients-{}-{port}", std::process::id()));
    fs::create_dir_all(&dir).expect("dir");
    let workers = dir.join("workers.properties");
    fs::write(
        &workers,
        format!(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a\nworker.lb.mount=/*\n\
             worker.a.host=127.0.0.1\nworker.a.port={port}\n"
        ),
    )
    .expect("write");
    let mut args = vec!["--metrics-listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let j = jkd::start(&workers, &args);
    (rt, j)
}

/// Reads one response with a Content-Length body; returns the head and the body.
fn read_response(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("read head");
        assert_eq!(
            n,
            1,
            "connection closed in the head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no content-length: {head}"));
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).expect("read body");
    (head, body)
}

fn parked(j: &jkd::Jkd) -> f64 {
    let port = j.metrics_port.expect("metrics port");
    let text = tomcat::http_get(port, "/metrics", &[], TIMEOUT)
        .expect("scrape")
        .text();
    text.lines()
        .find_map(|l| l.strip_prefix("jkd_client_connections{state=\"parked\"}"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no parked gauge in:\n{text}"))
}

fn connect(j: &jkd::Jkd) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", j.port)).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    s
}

#[test]
fn an_idle_keep_alive_connection_is_parked_and_serves_its_next_request() {
    let (_rt, j) = start(&[]);
    let mut s = connect(&j);
    let get = b"GET /echo/first HTTP/1.1\r\nHost: t\r\n\r\n";
    s.write_all(get).expect("send");
    let (head, body) = read_response(&mut s);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("/echo/first"));
    // The connection is quiet now: jkd parks it within a few ticks of PARK_AFTER.
    let deadline = Instant::now() + Duration::from_secs(10);
    while parked(&j) < 1.0 {
        assert!(Instant::now() < deadline, "never parked\n{}", j.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    // Same socket, next request: served as on any keep-alive connection.
    s.write_all(b"GET /echo/second HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send again");
    let (head, body) = read_response(&mut s);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("/echo/second"));
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(10);
    while parked(&j) > 0.0 {
        assert!(
            Instant::now() < deadline,
            "a closed connection stays counted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_request_that_stalls_across_a_park_is_not_lost() {
    // One runtime thread (`--threads 1`): parking must not depend on a second one.
    let (_rt, j) = start(&["--threads", "1"]);
    let mut s = connect(&j);
    s.write_all(b"GET /echo/one HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send");
    let (head, _) = read_response(&mut s);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    // Half a request, then silence for several park ticks, then the rest: hyper has
    // read the first half when the connection is parked.
    s.write_all(b"GET /echo/two HTTP/1.1\r\nHo")
        .expect("first half");
    std::thread::sleep(jkd_park_after() * 4);
    s.write_all(b"st: t\r\n\r\n").expect("second half");
    let (head, body) = read_response(&mut s);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        String::from_utf8_lossy(&body).contains("/echo/two"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    // And a pipelined pair after another quiet spell: both answered, in order.
    std::thread::sleep(jkd_park_after() * 4);
    s.write_all(
        b"GET /echo/three HTTP/1.1\r\nHost: t\r\n\r\nGET /echo/four HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .expect("pipelined");
    for want in ["/echo/three", "/echo/four"] {
        let (head, body) = read_response(&mut s);
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(String::from_utf8_lossy(&body).contains(want), "{want}");
    }
}

fn jkd_park_after() -> Duration {
    ::jkd::http::client::PARK_AFTER
}

#[test]
fn http2_with_prior_knowledge_is_served() {
    let (_rt, j) = start(&[]);
    let out = Command::new("curl")
        .args([
            "-sS",
            "--http2-prior-knowledge",
            "-o",
            "-",
            "-w",
            "\n%{http_version} %{http_code}",
        ])
        .arg(format!("http://127.0.0.1:{}/echo/h2", j.port))
        .output()
        .expect("curl must be installed (.ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.ends_with("2 200"), "{text}");
    assert!(text.contains("/echo/h2"), "{text}");
}
