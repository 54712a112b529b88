//! HTTP members (`worker.NAME.type=http`, jkd-only) against real Tomcat 10 nodes: a balancer mixing an AJP member and an HTTP member splits by lbfactor, keeps sessions on the HTTP member, fails over to the AJP member when the HTTP member's Tomcat dies, passes POST bodies whole (and a cut one never as whole) and tells the application who the client is; a `type=http` worker used directly through `JkMount`.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::jkd::{self, Jkd};
use support::tomcat::{self, Echo, Tomcat, TomcatOptions};
use tungstenite::{Message, client::IntoClientRequest};

const TIMEOUT: Duration = Duration::from_secs(20);

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("jkd-http-members-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write a config file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn node(route: &str, http: bool) -> Tomcat {
    tomcat::start(&TomcatOptions {
        http_connector: http,
        ..TomcatOptions::with_route(route)
    })
}

/// `lb` over node1 (AJP) and node2, 1:3. workers.properties names both as AJP members,
/// as mod_jk reads it; the `--extend` file makes node2 an HTTP member on its Tomcat's
/// HTTP connector.
fn mixed(dir: &TempDir, node1: &Tomcat, node2: &Tomcat) -> Jkd {
    let workers = dir.write(
        "workers.properties",
        &format!(
            "worker.list=lb,jkstatus\n\
             worker.jkstatus.type=status\n\
             worker.jkstatus.mount=/jkstatus/*\n\
             worker.lb.type=lb\n\
             worker.lb.balance_workers=node1,node2\n\
             worker.lb.mount=/*\n\
             worker.node1.host=127.0.0.1\n\
             worker.node1.port={}\n\
             worker.node1.lbfactor=1\n\
             worker.node1.reply_timeout=20000\n\
             worker.node2.host=127.0.0.1\n\
             worker.node2.port={}\n\
             worker.node2.lbfactor=3\n\
             worker.node2.reply_timeout=20000\n",
            node1.ajp_port(),
            node2.ajp_port()
        ),
    );
    let extend = dir.write(
        "jkd.properties",
        &format!(
            "worker.node2.type=http\nworker.node2.port={}\n",
            node2.http_port()
        ),
    );
    jkd::start(
        &workers,
        &["--extend", extend.to_str().expect("utf-8 path")],
    )
}

fn get(jkd: &Jkd, target: &str, headers: &[(&str, &str)]) -> tomcat::HttpResponse {
    tomcat::http_get(jkd.port, target, headers, TIMEOUT)
        .unwrap_or_else(|e| panic!("GET {target} through jkd: {e}\n{}", jkd.log()))
}

fn echo(jkd: &Jkd, target: &str, headers: &[(&str, &str)]) -> Echo {
    let r = get(jkd, target, headers);
    assert_eq!(r.status, 200, "GET {target}: {}\n{}", r.text(), jkd.log());
    Echo::parse(&r.body)
}

/// `POST target` with `body` (Content-Length), `Connection: close`.
fn post(port: u16, target: &str, headers: &[(&str, &str)], body: &[u8]) -> tomcat::HttpResponse {
    let mut request = format!(
        "POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n",
        body.len()
    )
    .into_bytes();
    for (n, v) in headers {
        request.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);
    tomcat::http_request(port, &request, TIMEOUT).unwrap_or_else(|e| panic!("POST {target}: {e}"))
}

/// The records of the webapp's RecordServlet on `t`: `id -> [(length, complete)]`.
fn records(t: &Tomcat) -> BTreeMap<String, Vec<(u64, bool)>> {
    let text = std::fs::read_to_string(t.base().join("logs/jkd-records.txt")).unwrap_or_default();
    let mut map: BTreeMap<String, Vec<(u64, bool)>> = BTreeMap::new();
    for line in text.lines() {
        let id = line.split(' ').next().unwrap_or_default().to_string();
        let length = line
            .split(" length=")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        map.entry(id)
            .or_default()
            .push((length, line.ends_with("complete=true")));
    }
    map
}

/// Polls `check` until it returns `Some`, at most `within`.
fn poll<T>(within: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_lb_mixing_an_ajp_and_an_http_member() {
    let node1 = node("node1", false);
    let node2 = node("node2", true);
    let dir = TempDir::new("mixed");
    let jkd = mixed(&dir, &node1, &node2);
    assert!(
        !jkd.log().contains("type=http is jkd's own"),
        "type=http from --extend must not be warned about:\n{}",
        jkd.log()
    );

    // lbfactor 1:3 over 200 requests without a session.
    let mut by_node: BTreeMap<String, u32> = BTreeMap::new();
    for i in 0..200 {
        let e = echo(&jkd, &format!("/echo/split?i={i}"), &[]);
        // Which connector took it: AJP carries the member's activation as an attribute.
        let over_ajp = e.attribute("JK_LB_ACTIVATION").is_some();
        assert_eq!(
            over_ajp,
            e.field("jvmRoute") == "node1",
            "{:?}",
            e.attributes()
        );
        *by_node.entry(e.field("jvmRoute")).or_default() += 1;
    }
    let n1 = by_node.get("node1").copied().unwrap_or(0);
    let n2 = by_node.get("node2").copied().unwrap_or(0);
    eprintln!("split over 200 requests: {by_node:?}");
    assert_eq!(n1 + n2, 200, "{by_node:?}");
    assert!(
        (35..=65).contains(&n1) && (135..=165).contains(&n2),
        "expected about 50:150, got {by_node:?}"
    );

    // The status manager shows the HTTP member like any other, with its type and its
    // kept-alive connections.
    let status = get(&jkd, "/jkstatus/?mime=txt", &[]).text();
    let line = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(&format!("Member: name={name} ")))
            .unwrap_or_else(|| panic!("no member {name} in:\n{status}"))
            .to_string()
    };
    assert!(line("node1").contains(" type=ajp13 "), "{}", line("node1"));
    let node2_line = line("node2");
    assert!(node2_line.contains(" type=http "), "{node2_line}");
    assert!(
        node2_line.contains(&format!(" port={} ", node2.http_port())),
        "{node2_line}"
    );
    assert!(
        node2_line.contains(&format!(" elected={n2} ")),
        "{node2_line}"
    );
    assert!(!node2_line.contains(" max_connected=0 "), "{node2_line}");

    // The HTTP member's request came over HTTP, with who the client is.
    let e = echo(&jkd, "/echo/who", &[("Cookie", "JSESSIONID=x.node2")]);
    assert_eq!(e.field("jvmRoute"), "node2");
    // Over HTTP: Tomcat's HTTP connector took it, and no AJP attribute came with it.
    assert_eq!(e.field("localPort"), node2.http_port().to_string());
    assert!(
        e.attribute("JK_LB_ACTIVATION").is_none(),
        "{:?}",
        e.attributes()
    );
    assert_eq!(e.header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(e.header("x-forwarded-proto").as_deref(), Some("http"));
    let host = format!("127.0.0.1:{}", jkd.port);
    assert_eq!(e.header("host").as_deref(), Some(host.as_str()));
    assert_eq!(e.header("x-forwarded-host").as_deref(), Some(host.as_str()));
    assert!(e.header("x-request-id").is_some_and(|v| !v.is_empty()));
    assert!(e.header("connection").is_none_or(|v| v != "close"));
    // A chain the client brought is kept, the peer appended.
    let e = echo(
        &jkd,
        "/echo/who",
        &[
            ("Cookie", "JSESSIONID=x.node2"),
            ("X-Forwarded-For", "203.0.113.9"),
        ],
    );
    assert_eq!(
        e.header("x-forwarded-for").as_deref(),
        Some("203.0.113.9, 127.0.0.1")
    );

    // A session made on the HTTP member sticks to it.
    let (cookie, first) = (0..20)
        .find_map(|_| {
            let r = get(&jkd, "/session", &[]);
            assert_eq!(r.status, 200, "{}", r.text());
            let cookie = r
                .headers_named("set-cookie")
                .into_iter()
                .find_map(|c| c.split(';').next().filter(|c| c.starts_with("JSESSIONID=")))?
                .to_string();
            cookie.ends_with(".node2").then(|| (cookie, r.text()))
        })
        .expect("a session on node2 within 20 requests");
    assert!(first.starts_with("node=node2 count=1"), "{first}");
    for n in 2..=21 {
        let r = get(&jkd, "/session", &[("Cookie", cookie.as_str())]);
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            r.text().starts_with(&format!("node=node2 count={n} ")),
            "request {n} left the session's member: {}",
            r.text()
        );
    }

    // A POST body arrives whole, through the HTTP member.
    let body = tomcat::pattern_body(300_000);
    let r = post(
        jkd.port,
        "/echo/post",
        &[("Cookie", "JSESSIONID=x.node2")],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let e = Echo::parse(&r.body);
    assert_eq!(e.field("jvmRoute"), "node2");
    assert_eq!(e.body_length(), 300_000);
    assert_eq!(e.body_sha256(), tomcat::sha256_hex(&body));
    // A small one too (read whole before the member is chosen).
    let r = post(
        jkd.port,
        "/echo/small",
        &[("Cookie", "JSESSIONID=x.node2")],
        b"a=1&b=2",
    );
    assert_eq!(Echo::parse(&r.body).body_length(), 7);

    // A body cut off by the client never reaches the application as whole.
    let mut s = TcpStream::connect(("127.0.0.1", jkd.port)).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    s.write_all(
        b"POST /record/cut?id=CUT HTTP/1.1\r\nHost: a\r\nCookie: JSESSIONID=x.node2\r\n\
          Content-Length: 200000\r\n\r\n",
    )
    .expect("send head");
    s.write_all(&vec![b'x'; 100_000]).expect("send half a body");
    s.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    // Usually the member has the request and sees it aborted (the application's read
    // fails, complete=false); when the client's end reached jkd before the request
    // left, the member never sees it at all. Never is it read as whole.
    let cut = poll(Duration::from_secs(5), || records(&node2).remove("CUT"));
    eprintln!("the cut request at the member: {cut:?}");
    assert!(
        cut.iter().flatten().all(|(_, complete)| !complete),
        "the application read a cut body as whole: {cut:?}"
    );
    assert!(
        !records(&node1).contains_key("CUT"),
        "a cut body was sent to another member"
    );

    // A WebSocket picked for the HTTP member goes to its own port (no http_port).
    {
        use tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://127.0.0.1:{}/ws/echo", jkd.port)
            .into_client_request()
            .expect("a WebSocket request");
        request.headers_mut().insert(
            "cookie",
            http::HeaderValue::from_static("JSESSIONID=x.node2"),
        );
        let stream = TcpStream::connect(("127.0.0.1", jkd.port)).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        let (mut socket, response) = tungstenite::client(request, stream)
            .unwrap_or_else(|e| panic!("WebSocket through jkd: {e}\n{}", jkd.log()));
        assert_eq!(response.status(), 101);
        socket
            .send(tungstenite::Message::text("hi"))
            .expect("send a frame");
        let answer = loop {
            match socket.read().expect("read a frame") {
                tungstenite::Message::Text(t) => break t.to_string(),
                tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => continue,
                other => panic!("unexpected {other:?}"),
            }
        };
        assert!(answer.starts_with("node=node2 "), "{answer}");
        assert!(answer.ends_with("echo=hi"), "{answer}");
        let _ = socket.close(None);
    }

    // What jkd asks a recovering HTTP member before its first request (see
    // a_recovering_http_member_answers_a_probe_before_it_gets_a_request): Tomcat
    // answers `OPTIONS *` itself, with no webapp involved, and not with a 5xx.
    let probe = tomcat::http_request(
        node2.http_port(),
        b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        TIMEOUT,
    )
    .expect("OPTIONS * to Tomcat's HTTP connector");
    assert_eq!(probe.status, 200, "{}", probe.text());

    // The HTTP member's Tomcat dies: GETs fail over to the AJP member, none is lost.
    let mut node2 = node2;
    node2.kill();
    for i in 0..20 {
        let e = echo(&jkd, &format!("/echo/after?i={i}"), &[]);
        assert_eq!(e.field("jvmRoute"), "node1", "{}", jkd.log());
    }
    // Its sessions too (they cannot stick to a dead node).
    let r = get(&jkd, "/session", &[("Cookie", cookie.as_str())]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().starts_with("node=node1 "), "{}", r.text());
}

#[test]
fn a_direct_http_worker_mounted_with_jkmount() {
    let t = node("solo", true);
    let dir = TempDir::new("direct");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let workers = dir.write(
        "workers.properties",
        &format!(
            "worker.list=direct\nworker.direct.type=http\nworker.direct.host=127.0.0.1\n\
             worker.direct.port={}\nworker.direct.reply_timeout=20000\n",
            t.http_port()
        ),
    );
    let conf = dir.write(
        "httpd.conf",
        &format!(
            "Listen 127.0.0.1:{port}\nJkWorkersFile {}\nJkMount /echo/* direct\n",
            path_str(&workers)
        ),
    );
    let jkd = jkd::start_apache_conf(&conf, &[], false);
    // type=http in the main file: said, not refused.
    assert!(
        jkd.log().contains("type=http is jkd's own"),
        "no warning about type=http in the workers file:\n{}",
        jkd.log()
    );
    for i in 0..5 {
        let e = echo(&jkd, &format!("/echo/direct?i={i}"), &[]);
        assert_eq!(e.field("jvmRoute"), "solo", "{}", jkd.log());
        assert_eq!(e.header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    }
    // Not mounted: not forwarded.
    assert_eq!(get(&jkd, "/session", &[]).status, 404);
    let body = tomcat::pattern_body(70_000);
    let r = post(jkd.port, "/echo/up", &[], &body);
    assert_eq!(
        Echo::parse(&r.body).body_sha256(),
        tomcat::sha256_hex(&body)
    );
    // The backend gone: 503, as for an AJP worker that refuses connections.
    let mut t = t;
    t.kill();
    let gone = get(&jkd, "/echo/gone", &[]);
    assert_eq!(gone.status, 503, "{}\n{}", gone.text(), jkd.log());
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// One request as the mock member saw it: which connection, its method and target.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    connection: usize,
    method: String,
    target: String,
}

/// Reads one request (head, and a Content-Length body) from `s`; `None` at the end of
/// the connection.
fn read_request(s: &mut TcpStream) -> Option<(String, String)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let mut words = text.split(' ');
    let method = words.next()?.to_string();
    let target = words.next()?.to_string();
    let length: usize = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).ok()?;
    Some((method, target))
}

/// An HTTP/1.1 member that answers the first request of each connection and closes
/// the connection, unanswered, when a second one arrives on it: what a server whose
/// keep-alive timeout struck just as jkd reused the connection looks like (or one
/// that died on the request; jkd cannot tell them apart).
fn one_request_per_connection() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Seen>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the mock member");
    let port = listener.local_addr().expect("addr").port();
    let seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>> = Default::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for (connection, stream) in listener.incoming().enumerate() {
            let Ok(mut s) = stream else { return };
            let record = record.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(TIMEOUT));
                let mut n = 0;
                while let Some((method, target)) = read_request(&mut s) {
                    n += 1;
                    if let Ok(mut v) = record.lock() {
                        v.push(Seen {
                            connection,
                            method,
                            target,
                        });
                    }
                    if n > 1 {
                        return;
                    }
                    let body = format!("conn={connection}");
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, seen)
}

#[test]
fn a_reused_connection_the_member_closed_resends_a_get_but_never_a_post() {
    let (member, seen) = one_request_per_connection();
    let dir = TempDir::new("stale");
    // One connection slot: the second request must take the first one's connection.
    let workers = dir.write(
        "workers.properties",
        &format!(
            "worker.list=w\nworker.w.type=http\nworker.w.host=127.0.0.1\nworker.w.port={member}\n\
             worker.w.connection_pool_size=1\nworker.w.reply_timeout=10000\nworker.w.mount=/*\n"
        ),
    );
    let jkd = jkd::start(&workers, &[]);
    let seen_now = || seen.lock().map(|v| v.clone()).unwrap_or_default();
    let first = get(&jkd, "/a", &[]);
    assert_eq!((first.status, first.text()), (200, "conn=0".to_string()));
    // Sent on connection 0, which the member closes: sent again on a fresh one.
    let second = get(&jkd, "/b", &[]);
    assert_eq!(
        (second.status, second.text()),
        (200, "conn=1".to_string()),
        "{:?}\n{}",
        seen_now(),
        jkd.log()
    );
    // The same for a POST would run it twice: the client gets an error instead.
    let r = post(jkd.port, "/c", &[], b"x=1");
    assert_eq!(r.status, 502, "{}\n{:?}", r.text(), seen_now());
    let posts: Vec<Seen> = seen_now()
        .into_iter()
        .filter(|s| s.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1, "the POST was resent: {posts:?}");
    let gets: Vec<(usize, String)> = seen_now()
        .into_iter()
        .filter(|s| s.method == "GET")
        .map(|s| (s.connection, s.target))
        .collect();
    assert_eq!(
        gets,
        [
            (0, "/a".to_string()),
            (0, "/b".to_string()),
            (1, "/b".to_string())
        ]
    );
}

/// An HTTP/1.1 member that reads requests and never answers; counts the connections
/// that ended (closed by jkd).
fn never_answers() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the mock member");
    let port = listener.local_addr().expect("addr").port();
    let ended: std::sync::Arc<std::sync::atomic::AtomicUsize> = Default::default();
    let count = ended.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let count = count.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(120)));
                while read_request(&mut s).is_some() {}
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
    });
    (port, ended)
}

#[test]
fn a_client_that_leaves_frees_the_http_member_at_once() {
    let (member, ended) = never_answers();
    let dir = TempDir::new("leaves");
    let workers = dir.write(
        "workers.properties",
        &format!(
            "worker.list=lb,jkstatus\nworker.jkstatus.type=status\nworker.jkstatus.mount=/jkstatus/*\n\
             worker.lb.type=lb\nworker.lb.balance_workers=m\nworker.lb.mount=/*\n\
             worker.m.type=http\nworker.m.host=127.0.0.1\nworker.m.port={member}\n\
             worker.m.reply_timeout=120000\n"
        ),
    );
    let jkd = jkd::start(&workers, &[]);
    let busy = || {
        let status = get(&jkd, "/jkstatus/?mime=txt", &[]).text();
        status
            .lines()
            .find(|l| l.starts_with("Member: name=m "))
            .and_then(|l| l.split(" busy=").nth(1))
            .and_then(|v| v.split(' ').next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let mut client = TcpStream::connect(("127.0.0.1", jkd.port)).expect("connect");
    client
        .write_all(b"GET /hang HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("send");
    assert_eq!(
        poll(TIMEOUT, || busy().filter(|b| *b == 1)),
        Some(1),
        "the request never became busy on the member"
    );
    drop(client);
    assert_eq!(
        poll(TIMEOUT, || busy().filter(|b| *b == 0)),
        Some(0),
        "the member stayed busy after its client left:\n{}",
        jkd.log()
    );
    // And the member's connection, which carried a request cut short, is closed.
    assert!(
        poll(TIMEOUT, || (ended
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0)
        .then_some(()))
        .is_some(),
        "the member's connection stayed open"
    );
}

/// An HTTP/1.1 member answering every request with `status` and the body `name`,
/// counting the requests it got.
fn answers(
    status: u16,
    name: &'static str,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the mock member");
    let port = listener.local_addr().expect("addr").port();
    let served: std::sync::Arc<std::sync::atomic::AtomicUsize> = Default::default();
    let count = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let count = count.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(TIMEOUT));
                while read_request(&mut s).is_some() {
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n{name}",
                        name.len()
                    );
                    if s.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, served)
}

#[test]
fn fail_on_status_sends_the_request_to_the_next_http_member() {
    let (bad, bad_count) = answers(503, "bad");
    let (good, _) = answers(200, "good");
    let dir = TempDir::new("fail-on-status");
    let workers = dir.write(
        "workers.properties",
        &format!(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=bad,good\n\
             worker.lb.mount=/*\nworker.lb.sticky_session=false\n\
             worker.bad.type=http\nworker.bad.host=127.0.0.1\nworker.bad.port={bad}\n\
             worker.bad.lbfactor=100\nworker.bad.fail_on_status=-503\n\
             worker.bad.reply_timeout=10000\n\
             worker.good.type=http\nworker.good.host=127.0.0.1\nworker.good.port={good}\n\
             worker.good.reply_timeout=10000\n"
        ),
    );
    let jkd = jkd::start(&workers, &[]);
    for i in 0..5 {
        let r = get(&jkd, &format!("/x?i={i}"), &[]);
        assert_eq!(
            (r.status, r.text()),
            (200, "good".to_string()),
            "{}",
            jkd.log()
        );
    }
    // A small POST is still held whole by jkd: it may go to the next member too.
    let r = post(jkd.port, "/form", &[], b"a=1");
    assert_eq!((r.status, r.text()), (200, "good".to_string()));
    assert!(
        bad_count.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the 503 member was never tried"
    );
}

/// A member that announces 100 bytes, sends 10 and closes: small answers are read
/// whole by jkd before they are handed on, and a short one never reaches the client
/// as a whole 200 (the head goes out, the body breaks off, as when relaying); the
/// member's next request still gets an answer on a new connection.
#[test]
fn a_short_small_answer_from_an_http_member_is_cut_not_completed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the mock member");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(TIMEOUT));
                if let Some((_, target)) = read_request(&mut s) {
                    let answer = if target.contains("short") {
                        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789".to_string()
                    } else {
                        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nwhole".to_string()
                    };
                    let _ = s.write_all(answer.as_bytes());
                }
                // Closed after one answer, short or not.
            });
        }
    });
    let dir = TempDir::new("short-answer");
    let workers = dir.write(
        "workers.properties",
        &format!(
            "worker.list=m\nworker.m.type=http\nworker.m.host=127.0.0.1\nworker.m.port={port}\n\
             worker.m.mount=/*\nworker.m.reply_timeout=5000\n"
        ),
    );
    let jkd = jkd::start(&workers, &[]);
    let raw = {
        let mut s = TcpStream::connect(("127.0.0.1", jkd.port)).expect("connect");
        s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        s.write_all(b"GET /short HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .expect("send");
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        raw
    };
    let text = String::from_utf8_lossy(&raw).to_string();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    assert!(
        body.len() < 100,
        "a 100-byte answer was completed from 10 bytes: {text:?}"
    );
    let r = get(&jkd, "/next", &[]);
    assert_eq!(
        (r.status, r.text()),
        (200, "whole".to_string()),
        "{}",
        jkd.log()
    );
}

/// A member that records every request and answers them only while `serving` is
/// set: unset, it is a Tomcat that accepts connections on its bound port but is not
/// started yet. `OPTIONS *` gets 200 and an `Allow` header, as Tomcat answers it.
fn waking(
    serving: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Seen>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the mock member");
    let port = listener.local_addr().expect("addr").port();
    let seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>> = Default::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for (connection, stream) in listener.incoming().enumerate() {
            let Ok(mut s) = stream else { return };
            let record = record.clone();
            let serving = serving.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(TIMEOUT));
                while let Some((method, target)) = read_request(&mut s) {
                    let options = method == "OPTIONS";
                    if let Ok(mut v) = record.lock() {
                        v.push(Seen {
                            connection,
                            method,
                            target,
                        });
                    }
                    if !serving.load(std::sync::atomic::Ordering::SeqCst) {
                        // Unanswered: jkd gives up and closes the connection.
                        continue;
                    }
                    let answer = if options {
                        "HTTP/1.1 200 OK\r\nAllow: GET, HEAD, POST, OPTIONS\r\nContent-Length: 0\r\n\r\n"
                    } else {
                        "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nwaking"
                    };
                    if s.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, seen)
}

/// A balancer `lb` of the HTTP members `waking` (on `member`, with `waking_keys`) and
/// `good` (on `good`), recover_time 1 s, maintained every second, with a status
/// worker at /jkstatus/ for the members' states.
fn waking_and_good(dir: &TempDir, member: u16, good: u16, waking_keys: &str) -> PathBuf {
    dir.write(
        "workers.properties",
        &format!(
            "worker.maintain=1\nworker.list=lb,jkstatus\n\
             worker.jkstatus.type=status\nworker.jkstatus.mount=/jkstatus/*\n\
             worker.lb.type=lb\nworker.lb.balance_workers=waking,good\nworker.lb.mount=/*\n\
             worker.lb.recover_time=1\n\
             worker.waking.type=http\nworker.waking.host=127.0.0.1\nworker.waking.port={member}\n\
             {waking_keys}\
             worker.good.type=http\nworker.good.host=127.0.0.1\nworker.good.port={good}\n"
        ),
    )
}

/// jkd's /metrics text.
fn metrics_of(jkd: &Jkd) -> String {
    tomcat::http_get(
        jkd.metrics_port.expect("metrics port"),
        "/metrics",
        &[],
        TIMEOUT,
    )
    .expect("GET /metrics")
    .text()
}

/// `jkd_health_checks_total` of `member` with `result` (0 when absent).
fn health_checks(metrics: &str, member: &str, result: &str) -> f64 {
    metrics
        .lines()
        .find(|l| {
            l.starts_with("jkd_health_checks_total{")
                && l.contains(&format!("member=\"{member}\""))
                && l.contains(&format!("result=\"{result}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// A member leaving its error state after `recover_time` is asked `OPTIONS *` first,
/// as an AJP member gets a CPing: while it does not answer within `ping_timeout`, it
/// stays in error and the request (here a POST, which jkd never sends twice) goes to
/// the other member instead of waiting out the reply timeout and failing with 504;
/// once it answers, the request that probed it is served by it.
#[test]
fn a_recovering_http_member_answers_a_probe_before_it_gets_a_request() {
    let serving: std::sync::Arc<std::sync::atomic::AtomicBool> = Default::default();
    let (member, seen) = waking(serving.clone());
    let (good, _) = answers(200, "good");
    let dir = TempDir::new("probe");
    let workers = waking_and_good(
        &dir,
        member,
        good,
        "worker.waking.reply_timeout=500\nworker.waking.ping_timeout=500\n",
    );
    let jkd = jkd::start(&workers, &[]);
    let cookie = ("Cookie", "JSESSIONID=abc.waking");
    let seen_now = || seen.lock().map(|v| v.clone()).unwrap_or_default();
    let state = || jkd.member_state("waking");
    let recovering = || {
        poll(TIMEOUT, || (state() == "ERR/REC").then_some(()))
            .unwrap_or_else(|| panic!("never ERR/REC: {}\n{}", state(), jkd.log()))
    };

    // The session's member hangs: the GET waits one reply timeout, then fails over.
    let r = get(&jkd, "/first", &[cookie]);
    assert_eq!((r.status, r.text()), (200, "good".to_string()));
    assert_eq!(state(), "ERR");

    // Still hanging when recover_time is over: the probe is not answered, the POST
    // goes to the other member and is never sent to the hanging one.
    recovering();
    let r = post(jkd.port, "/form", &[cookie], b"a=1");
    assert_eq!(
        (r.status, r.text()),
        (200, "good".to_string()),
        "{:?}\n{}",
        seen_now(),
        jkd.log()
    );
    let asked: Vec<(String, String)> = seen_now()
        .into_iter()
        .map(|s| (s.method, s.target))
        .collect();
    assert_eq!(
        asked,
        [
            ("GET".to_string(), "/first".to_string()),
            ("OPTIONS".to_string(), "*".to_string())
        ],
        "{}",
        jkd.log()
    );
    assert_eq!(state(), "ERR", "a failed probe leaves the member in error");

    // Started: the next probe is answered, and the request that probed goes to it.
    serving.store(true, std::sync::atomic::Ordering::SeqCst);
    recovering();
    let r = get(&jkd, "/third", &[cookie]);
    assert_eq!(
        (r.status, r.text()),
        (200, "waking".to_string()),
        "{:?}\n{}",
        seen_now(),
        jkd.log()
    );
    let last: Vec<(String, String)> = seen_now()
        .into_iter()
        .skip(2)
        .map(|s| (s.method, s.target))
        .collect();
    assert_eq!(
        last,
        [
            ("OPTIONS".to_string(), "*".to_string()),
            ("GET".to_string(), "/third".to_string())
        ]
    );
    assert_eq!(state(), "OK");
}

/// jkd's application health check (`health_check_uri`) on an HTTP member: while its
/// check goes unanswered the member is in error and no request reaches it (its
/// sessions go to the other member); once the check is answered it comes back and
/// serves its sessions again.
#[test]
fn an_http_member_failing_its_health_check_gets_no_request_until_it_passes() {
    let serving: std::sync::Arc<std::sync::atomic::AtomicBool> = Default::default();
    let (member, seen) = waking(serving.clone());
    let (good, _) = answers(200, "good");
    let dir = TempDir::new("health");
    let workers = waking_and_good(
        &dir,
        member,
        good,
        "worker.waking.health_check_uri=/health\nworker.waking.health_check_interval=1\n\
         worker.waking.health_check_timeout=300\n",
    );
    let jkd = jkd::start(&workers, &["--metrics-listen", "127.0.0.1:0"]);
    let cookie = ("Cookie", "JSESSIONID=abc.waking");
    let seen_now = || seen.lock().map(|v| v.clone()).unwrap_or_default();
    let state = || jkd.member_state("waking");
    poll(TIMEOUT, || (state() == "ERR").then_some(()))
        .unwrap_or_else(|| panic!("never ERR: {}\n{}", state(), jkd.log()));
    for i in 0..5 {
        let r = get(&jkd, &format!("/page?i={i}"), &[cookie]);
        assert_eq!((r.status, r.text()), (200, "good".to_string()));
    }
    let asked: Vec<(String, String)> = seen_now()
        .into_iter()
        .map(|s| (s.method, s.target))
        .collect();
    assert!(
        !asked.is_empty() && asked.iter().all(|(m, t)| m == "GET" && t == "/health"),
        "{asked:?}\n{}",
        jkd.log()
    );

    serving.store(true, std::sync::atomic::Ordering::SeqCst);
    poll(TIMEOUT, || (state() != "ERR").then_some(()))
        .unwrap_or_else(|| panic!("never back: {}\n{}", state(), jkd.log()));
    let r = get(&jkd, "/back", &[cookie]);
    assert_eq!(
        (r.status, r.text()),
        (200, "waking".to_string()),
        "{}",
        jkd.log()
    );
    // Both results counted, by member.
    let metrics = metrics_of(&jkd);
    let count = |result: &str| health_checks(&metrics, "waking", result);
    assert!(count("fail") >= 1.0 && count("pass") >= 1.0, "{metrics}");
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("jkd_health_checks_total{") && l.contains("member=\"good\"")),
        "a member without a check has no check counts:\n{metrics}"
    );
}

/// `tls=true` (jkd-only, with `tls_ca`): an HTTP member reached on Tomcat's HTTPS
/// connector. Tomcat sees a secure request; a member whose certificate is not signed
/// by the configured CA is not used (jkd names the TLS failure) and the client gets
/// 503, never an unverified connection. A WebSocket reaches the member through TLS.
#[test]
fn an_http_member_over_https_is_verified_against_its_ca() {
    let pki = support::certs::Pki::new("members");
    let server = pki.server(
        "node2",
        &["127.0.0.1", "localhost"],
        support::certs::KeyType::Rsa2048,
        30,
    );
    let node2 = tomcat::start(&TomcatOptions {
        http_connector: true,
        http_tls: Some((server.cert.clone(), server.key.clone())),
        ..TomcatOptions::with_route("node2")
    });
    let dir = TempDir::new("https");
    let workers = |ca: &Path| {
        format!(
            "worker.list=w\nworker.w.type=http\nworker.w.host=127.0.0.1\nworker.w.port={}\n\
             worker.w.tls=true\nworker.w.tls_ca={}\nworker.w.reply_timeout=10000\n\
             worker.w.mount=/*\n",
            node2.http_port(),
            path_str(ca)
        )
    };
    let trusted = dir.write("workers.properties", &workers(&pki.ca()));
    let jkd = jkd::start(&trusted, &[]);
    let e = echo(&jkd, "/echo/over-tls", &[]);
    assert_eq!(e.field("jvmRoute"), "node2");
    assert_eq!(e.field("secure"), "true", "Tomcat did not see HTTPS");
    assert_eq!(e.field("scheme"), "https");
    // Kept alive: a second request on the pooled TLS connection.
    assert_eq!(echo(&jkd, "/echo/again", &[]).field("jvmRoute"), "node2");

    // A WebSocket to the HTTPS member: its handshake and frames go through TLS too.
    let stream = TcpStream::connect(("127.0.0.1", jkd.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let request = format!("ws://127.0.0.1:{}/ws/echo", jkd.port)
        .into_client_request()
        .unwrap();
    let (mut socket, response) = tungstenite::client(request, stream)
        .unwrap_or_else(|e| panic!("WebSocket to an HTTPS member: {e}\n{}", jkd.log()));
    assert_eq!(response.status(), 101);
    socket.send(Message::text("over tls")).unwrap();
    let answer = loop {
        match socket.read().unwrap() {
            Message::Text(t) => break t.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(
        answer.contains("node=node2") && answer.contains("echo=over tls"),
        "{answer}"
    );
    let _ = socket.close(None);

    // A CA that did not sign the member's certificate: no connection, a clear reason.
    let rogue = dir.write("rogue.properties", &workers(&pki.path("rogue-ca.pem")));
    let refused = jkd::start(&rogue, &[]);
    let r = get(&refused, "/echo/unverified", &[]);
    assert_eq!(r.status, 503, "{}\n{}", r.text(), refused.log());
    assert!(
        refused.wait_log("TLS handshake with w"),
        "{}",
        refused.log()
    );
}

/// A kept-alive connection the member closes just as a health check reuses it says
/// nothing about the application: the check asks again on a new connection and
/// passes, the member never leaves the rotation.
#[test]
fn a_health_check_on_a_connection_the_member_closed_asks_again_on_a_new_one() {
    let (member, seen) = one_request_per_connection();
    let dir = TempDir::new("health-stale");
    let workers = dir.write(
        "workers.properties",
        &format!(
            "worker.list=w,jkstatus\nworker.jkstatus.type=status\nworker.jkstatus.mount=/jkstatus/*\n\
             worker.w.type=lb\nworker.w.balance_workers=m\nworker.w.mount=/*\n\
             worker.m.type=http\nworker.m.host=127.0.0.1\nworker.m.port={member}\n\
             worker.m.health_check_uri=/health\nworker.m.health_check_interval=1\n"
        ),
    );
    let jkd = jkd::start(&workers, &["--metrics-listen", "127.0.0.1:0"]);
    let count = |result: &str| health_checks(&metrics_of(&jkd), "m", result);
    poll(TIMEOUT, || (count("pass") >= 3.0).then_some(()))
        .unwrap_or_else(|| panic!("not 3 passing checks: {}", jkd.log()));
    let seen = seen.lock().map(|v| v.clone()).unwrap_or_default();
    assert!(
        seen.iter()
            .any(|s| s.connection > 0 && s.target == "/health"),
        "every check had a new connection anyway: {seen:?}"
    );
    assert_eq!(count("fail"), 0.0, "{seen:?}\n{}", jkd.log());
    assert!(jkd.member_state("m").starts_with("OK"), "{}", jkd.log());
}
