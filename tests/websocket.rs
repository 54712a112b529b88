//! WebSocket through jkd to real Tomcat 10 nodes: the handshake goes to the member's HTTP connector (jkd-only `http_port`, from an `--extend` file), sticks to the session's node across reconnects, keeps running while its member is drained, and is closed cleanly when the member is stopped or its Tomcat dies.

mod support;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::jkd::{Jkd, start};
use support::tomcat::{self, Tomcat, TomcatOptions};
use tungstenite::{Message, WebSocket, client::IntoClientRequest};

const TIMEOUT: Duration = Duration::from_secs(20);

fn node(route: &str) -> Tomcat {
    tomcat::start(&TomcatOptions {
        http_connector: true,
        ..TomcatOptions::with_route(route)
    })
}

fn workers_text(nodes: &[&Tomcat], activation_node2: &str) -> String {
    let mut text = String::from(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=node1,node2\n\
         worker.lb.mount=/*\n",
    );
    for (i, t) in nodes.iter().enumerate() {
        let n = i + 1;
        text.push_str(&format!(
            "worker.node{n}.host=127.0.0.1\nworker.node{n}.port={}\nworker.node{n}.ping_mode=A\n",
            t.ajp_port()
        ));
    }
    text.push_str(&format!("worker.node2.activation={activation_node2}\n"));
    text
}

struct Cluster {
    _dir: TempDir,
    workers: std::path::PathBuf,
    jkd: Jkd,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cluster(nodes: &[&Tomcat]) -> Cluster {
    let dir = std::env::temp_dir().join(format!(
        "jkd-ws-{}-{}",
        std::process::id(),
        nodes[0].ajp_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let workers = dir.join("workers.properties");
    std::fs::write(&workers, workers_text(nodes, "A")).unwrap();
    // jkd's own keys in their own file: workers.properties stays valid for mod_jk.
    let extend = dir.join("jkd.properties");
    let mut text = String::new();
    for (i, t) in nodes.iter().enumerate() {
        text.push_str(&format!(
            "worker.node{}.http_port={}\n",
            i + 1,
            t.http_port()
        ));
    }
    std::fs::write(&extend, text).unwrap();
    let jkd = start(&workers, &["--extend", extend.to_str().unwrap()]);
    Cluster {
        _dir: TempDir(dir),
        workers,
        jkd,
    }
}

/// A session through jkd over AJP: its cookie and the node that made it.
fn session(jkd: &Jkd) -> (String, String) {
    let r = tomcat::http_get(jkd.port, "/session", &[], TIMEOUT).expect("GET /session");
    assert_eq!(r.status, 200, "{}", r.text());
    let cookie = r
        .headers_named("set-cookie")
        .into_iter()
        .find_map(|c| c.split(';').next().filter(|c| c.starts_with("JSESSIONID=")))
        .expect("a session cookie")
        .to_string();
    let node = r
        .text()
        .split_whitespace()
        .find_map(|w| w.strip_prefix("node="))
        .expect("node=")
        .to_string();
    (cookie, node)
}

fn open(jkd: &Jkd, cookie: Option<&str>) -> WebSocket<TcpStream> {
    let mut request = format!("ws://127.0.0.1:{}/ws/echo", jkd.port)
        .into_client_request()
        .unwrap();
    if let Some(c) = cookie {
        request.headers_mut().insert("cookie", c.parse().unwrap());
    }
    let stream = TcpStream::connect(("127.0.0.1", jkd.port)).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let (socket, response) = tungstenite::client(request, stream)
        .unwrap_or_else(|e| panic!("WebSocket handshake through jkd failed: {e}\n{}", jkd.log()));
    assert_eq!(response.status(), 101);
    socket
}

/// Sends `text` and returns the echo (`node=... session=... echo=...`).
fn echo(socket: &mut WebSocket<TcpStream>, text: &str) -> String {
    socket.send(Message::text(text)).unwrap();
    loop {
        match socket.read().unwrap() {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Whether the socket ends (a close frame or an orderly end of the stream) within
/// `TIMEOUT`, rather than hanging or being reset.
fn ends_cleanly(socket: &mut WebSocket<TcpStream>) -> bool {
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        match socket.read() {
            Ok(Message::Close(_)) => return true,
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) | Err(tungstenite::Error::AlreadyClosed) => {
                return true;
            }
            Err(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            )) => return true,
            Err(e) => panic!("the socket did not end cleanly: {e}"),
        }
    }
    false
}

#[test]
fn websocket_sticks_to_the_sessions_node_and_survives_a_drain() {
    let node1 = node("node1");
    let node2 = node("node2");
    let c = cluster(&[&node1, &node2]);
    let (cookie, home) = session(&c.jkd);
    let session_id = cookie.trim_start_matches("JSESSIONID=").to_string();
    for i in 0..4 {
        let mut socket = open(&c.jkd, Some(&cookie));
        let answer = echo(&mut socket, &format!("hello {i}"));
        assert_eq!(
            answer,
            format!("node={home} session={session_id} echo=hello {i}"),
            "reconnect {i} left the session's node"
        );
        socket.close(None).unwrap();
        let _ = ends_cleanly(&mut socket);
    }
    // Sockets without a session spread over both nodes.
    let mut seen = std::collections::HashSet::new();
    for _ in 0..6 {
        let mut socket = open(&c.jkd, None);
        let answer = echo(&mut socket, "x");
        seen.insert(answer.split(' ').next().unwrap().to_string());
    }
    assert_eq!(seen.len(), 2, "{seen:?}");

    // Drain node2 (activation=D by a reload): a socket open on it keeps working.
    let mut on_node2 = loop {
        let mut s = open(&c.jkd, None);
        if echo(&mut s, "where").starts_with("node=node2") {
            break s;
        }
    };
    std::fs::write(&c.workers, workers_text(&[&node1, &node2], "D")).unwrap();
    c.jkd.signal("HUP");
    let deadline = Instant::now() + TIMEOUT;
    while !c
        .jkd
        .log()
        .contains("reload: configuration and certificates re-read")
    {
        assert!(Instant::now() < deadline, "no reload");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(echo(&mut on_node2, "still here").ends_with("echo=still here"));
    // New sockets without a session go to node1 only.
    for _ in 0..4 {
        let mut s = open(&c.jkd, None);
        assert!(echo(&mut s, "new").starts_with("node=node1"));
    }
    // Stopping node2 (activation=S) closes its sockets, cleanly.
    std::fs::write(&c.workers, workers_text(&[&node1, &node2], "S")).unwrap();
    c.jkd.signal("HUP");
    assert!(
        ends_cleanly(&mut on_node2),
        "the socket on the stopped member stayed open"
    );
}

#[test]
fn a_websocket_ends_cleanly_when_its_tomcat_dies_and_without_http_port_jkd_says_why() {
    let mut node1 = node("node1");
    let node2 = node("node2");
    let c = cluster(&[&node1, &node2]);
    let mut socket = loop {
        let mut s = open(&c.jkd, None);
        if echo(&mut s, "where").starts_with("node=node1") {
            break s;
        }
    };
    node1.kill();
    assert!(
        ends_cleanly(&mut socket),
        "the socket to the dead node hung"
    );

    // A balancer whose members have no http_port: 501 and a log line naming the key.
    let dir = std::env::temp_dir().join(format!("jkd-ws-nohttp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let workers = dir.join("workers.properties");
    std::fs::write(&workers, workers_text(&[&node2], "A").replace(",node2", "")).unwrap();
    let plain = start(&workers, &[]);
    let request = format!("ws://127.0.0.1:{}/ws/echo", plain.port)
        .into_client_request()
        .unwrap();
    let stream = TcpStream::connect(("127.0.0.1", plain.port)).unwrap();
    match tungstenite::client(request, stream) {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
            assert_eq!(resp.status(), 501);
        }
        other => panic!("expected a refused handshake, got {:?}", other.map(|_| ())),
    }
    assert!(
        plain.log().contains("http_port is not set"),
        "{}",
        plain.log()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
