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
    assert!(plain.wait_log("http_port is not set"), "{}", plain.log());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Opens `/ws/echo` through jkd as an HTTP/2 client does (RFC 8441: an extended
/// CONNECT on a stream of an h2c connection, what browsers send over an h2
/// connection whose server allows it), then bridges the stream to a local socket so
/// that tungstenite speaks WebSocket over it. Returns the socket and jkd's status.
fn open_over_http2(jkd: &Jkd, cookie: &str) -> (WebSocket<TcpStream>, u16) {
    match connect_over_http2(jkd, cookie, "/ws/echo") {
        (200, Some(socket)) => (socket, 200),
        (status, _) => panic!("extended CONNECT answered {status}\n{}", jkd.log()),
    }
}

/// An extended CONNECT for a WebSocket on `path`: jkd's status, and the socket when
/// it answered 200.
fn connect_over_http2(jkd: &Jkd, cookie: &str, path: &str) -> (u16, Option<WebSocket<TcpStream>>) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let path = path.to_string();
    let port = jkd.port;
    let cookie = cookie.to_string();
    let bridge = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bridge_port = bridge.local_addr().unwrap().port();
    bridge.set_nonblocking(true).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Result<u16, String>>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let failed = tx.clone();
            let opened = async move {
                let why = |what: &'static str| move |e: hyper::Error| format!("{what}: {e}");
                let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                let (mut sender, conn) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                        .await
                        .map_err(why("handshake"))?;
                // Driven until jkd's SETTINGS arrived: they must allow extended CONNECT
                // (SETTINGS_ENABLE_CONNECT_PROTOCOL). hyper reads them in a task of its
                // own, which wakes nobody here: looked at every 10 ms.
                let mut conn = Box::pin(conn);
                let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
                while !conn.is_extended_connect_protocol_enabled() {
                    if tokio::time::Instant::now() >= deadline {
                        return Err("jkd's SETTINGS do not allow extended CONNECT".to_string());
                    }
                    tokio::select! {
                        ended = conn.as_mut() => {
                            return Err(format!("the connection ended: {ended:?}"));
                        }
                        () = tokio::time::sleep(Duration::from_millis(10)) => {}
                    }
                }
                tokio::spawn(conn);
                sender.ready().await.map_err(why("ready"))?;
                let request = http::Request::builder()
                    .method(http::Method::CONNECT)
                    .uri(format!("http://127.0.0.1:{port}{path}"))
                    .header("sec-websocket-version", "13")
                    .header("cookie", cookie)
                    .extension(hyper::ext::Protocol::from_static("websocket"))
                    .body(http_body_util::Empty::<bytes::Bytes>::new())
                    .map_err(|e| e.to_string())?;
                let answer = sender.send_request(request).await.map_err(why("CONNECT"))?;
                let status = answer.status().as_u16();
                if status != 200 {
                    return Ok(status);
                }
                let upgraded = hyper::upgrade::on(answer).await.map_err(why("upgrade"))?;
                let listener =
                    tokio::net::TcpListener::from_std(bridge).map_err(|e| e.to_string())?;
                let _ = tx.send(Ok(status));
                let (mut local, _) = listener.accept().await.map_err(|e| e.to_string())?;
                let mut stream = TokioIo::new(upgraded);
                let _ = tokio::io::copy_bidirectional(&mut stream, &mut local).await;
                let _ = tokio::io::AsyncWriteExt::shutdown(&mut local).await;
                Ok(status)
            };
            match opened.await {
                Ok(status) => {
                    let _ = failed.send(Ok(status));
                }
                Err(e) => {
                    let _ = failed.send(Err(e));
                }
            }
        });
    });
    let status = rx
        .recv_timeout(TIMEOUT)
        .unwrap_or_else(|e| panic!("no answer to the extended CONNECT: {e}\n{}", jkd.log()))
        .unwrap_or_else(|e| panic!("WebSocket over HTTP/2 through jkd: {e}\n{}", jkd.log()));
    if status != 200 {
        return (status, None);
    }
    let stream = TcpStream::connect(("127.0.0.1", bridge_port)).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let socket = WebSocket::from_raw_socket(stream, tungstenite::protocol::Role::Client, None);
    (status, Some(socket))
}

/// A WebSocket opened by an HTTP/2 client (RFC 8441 extended CONNECT) goes to the
/// session's node like one opened over HTTP/1.1: the member gets the HTTP/1.1
/// handshake, jkd answers the stream with 200 and relays it both ways; closing it
/// ends it cleanly.
#[test]
fn an_http2_client_opens_its_websocket_on_a_stream_of_its_connection() {
    let node1 = node("node1");
    let node2 = node("node2");
    let c = cluster(&[&node1, &node2]);
    let (cookie, home) = session(&c.jkd);
    let session_id = cookie.trim_start_matches("JSESSIONID=").to_string();
    for i in 0..2 {
        let (mut socket, status) = open_over_http2(&c.jkd, &cookie);
        assert_eq!(status, 200);
        let answer = echo(&mut socket, &format!("over h2 {i}"));
        assert_eq!(
            answer,
            format!("node={home} session={session_id} echo=over h2 {i}"),
            "{}",
            c.jkd.log()
        );
        socket.close(None).unwrap();
        assert!(ends_cleanly(&mut socket), "{}", c.jkd.log());
    }
    // A path whose servlet answers the handshake with a page (200): over HTTP/2 a 2xx
    // would mean "open", so the client gets 502 instead.
    let (status, socket) = connect_over_http2(&c.jkd, &cookie, "/echo/not-a-websocket");
    assert_eq!(status, 502, "{}", c.jkd.log());
    assert!(socket.is_none());

    // An open WebSocket is a stream in flight: a connection quiet for longer than the
    // keep-alive timeout (1 s here) plus the GOAWAY grace (2 s) is not closed under it.
    let extend = c._dir.0.join("jkd.properties");
    let quick = start(
        &c.workers,
        &[
            "--extend",
            extend.to_str().unwrap(),
            "--keepalive-timeout",
            "1",
        ],
    );
    let (mut socket, _) = open_over_http2(&quick, &cookie);
    assert!(echo(&mut socket, "before").ends_with("echo=before"));
    // Waiting out the timeouts is the point here.
    std::thread::sleep(Duration::from_millis(4_000));
    assert!(
        echo(&mut socket, "after").ends_with("echo=after"),
        "{}",
        quick.log()
    );
}
