//! Tests of the Tomcat backend harness (tests/support/tomcat.rs) and our test webapp (tests/webapp/) on real Tomcat 10.1.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use support::tomcat::{self, AjpGet, Echo, TomcatOptions};

const TIMEOUT: Duration = Duration::from_secs(20);
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn sha256_and_pattern_helpers() {
    assert_eq!(tomcat::sha256_hex(b""), EMPTY_SHA256);
    assert_eq!(
        tomcat::sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let long = vec![b'a'; 1_000_000];
    assert_eq!(
        tomcat::sha256_hex(&long),
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    );
    assert_eq!(
        tomcat::pattern_body(40),
        b"000000000000000\n000000000000010\n00000000".to_vec()
    );
    assert_eq!(tomcat::pattern_byte(0x123_4560 + 8), b'1');
    assert_eq!(tomcat::pattern_byte(0x123_4560 + 9), b'2');
    assert_eq!(tomcat::pattern_byte(0xabc_def0_1234_5670 + 14), b'0');
    assert_eq!(
        tomcat::pattern_mismatch(b"000000000000000\n0001", 0),
        Some(19)
    );
    assert_eq!(
        tomcat::unescape("a%25b%0A%E9%u20AC%uD83D%uDE00"),
        "a%b\né€😀"
    );
}

/// One node with an HTTP connector: the echo fields over HTTP and AJP, response controls,
/// the session counter with stickiness suffix, and CPING/CPONG.
#[test]
fn node_serves_echo_sessions_and_cpong() {
    let node = tomcat::start(&TomcatOptions {
        http_connector: true,
        ..TomcatOptions::with_route("node1")
    });
    eprintln!(
        "node1 ready in {:?}, RSS {:?} KiB, AJP {} HTTP {}",
        node.startup_time(),
        node.rss_kib(),
        node.ajp_port(),
        node.http_port()
    );
    let http = node.http_port();

    // Plain GET with repeated, interleaved headers and cookies.
    let answer = tomcat::http_get(
        http,
        "/echo/x?y=1",
        &[
            ("X-Test", "a"),
            ("X-Other", "o"),
            ("X-Test", "b"),
            ("Cookie", "c1=v1; c2=v2"),
        ],
        TIMEOUT,
    )
    .expect("GET /echo/x");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.header("Content-Type"),
        Some("text/plain;charset=UTF-8")
    );
    let echo = Echo::parse(&answer.body);
    let expect = [
        ("method", "GET"),
        ("requestURI", "/echo/x"),
        ("contextPath", ""),
        ("servletPath", "/echo"),
        ("pathInfo", "/x"),
        ("queryString", "y=1"),
        ("protocol", "HTTP/1.1"),
        ("scheme", "http"),
        ("secure", "false"),
        ("serverName", "127.0.0.1"),
        ("remoteAddr", "127.0.0.1"),
        ("localAddr", "127.0.0.1"),
        ("jvmRoute", "node1"),
        ("headerOrder", "wire"),
        ("contentLength", "-1"),
        ("bodyRead", "true"),
        ("bodyLength", "0"),
        ("bodySha256", EMPTY_SHA256),
    ];
    for (key, value) in expect {
        assert_eq!(echo.get(key).as_deref(), Some(value), "{key} in {echo:?}");
    }
    assert_eq!(echo.field("serverPort"), http.to_string());
    assert_eq!(echo.field("localPort"), http.to_string());
    assert!(echo.field("remotePort").parse::<u16>().is_ok());
    for absent in ["authType", "remoteUser", "sessionId", "requestedSessionId"] {
        assert_eq!(echo.get(absent), None, "{absent}");
    }
    let names: Vec<String> = echo.headers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "host",
            "connection",
            "x-test",
            "x-other",
            "x-test",
            "cookie"
        ],
        "wire order, repeats kept"
    );
    assert_eq!(echo.header_values("X-TEST"), ["a", "b"]);
    assert_eq!(
        echo.header("host").as_deref(),
        Some(format!("127.0.0.1:{http}").as_str())
    );
    assert_eq!(
        echo.cookies(),
        [("c1".into(), "v1".into()), ("c2".into(), "v2".into())]
    );

    // A body is read fully and hashed; odd bytes in header values come back escaped.
    let body: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut request = format!(
        "POST /echo/post HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: {}\r\nX-Odd: caf\u{e9}%: x\r\n\r\n",
        body.len()
    )
    .into_bytes();
    // Make the header value Latin-1 (one byte 0xE9), as a client would send it.
    let at = request
        .windows(2)
        .position(|w| w == "\u{e9}".as_bytes())
        .unwrap();
    request.splice(at..at + 2, [0xE9]);
    request.extend_from_slice(&body);
    let answer = tomcat::http_request(http, &request, TIMEOUT).expect("POST /echo/post");
    let echo = Echo::parse(&answer.body);
    assert_eq!(echo.field("method"), "POST");
    assert_eq!(echo.body_length(), body.len() as u64);
    assert_eq!(echo.body_sha256(), tomcat::sha256_hex(&body));
    assert_eq!(echo.field("contentLength"), body.len().to_string());
    assert_eq!(echo.header("x-odd").as_deref(), Some("caf\u{e9}%: x"));

    // Response controls: status, extra headers, patterned bodies with and without length.
    let answer = tomcat::http_get(
        http,
        "/echo/s?status=418&header=X-Foo:bar&header=X-Foo:baz",
        &[],
        TIMEOUT,
    )
    .unwrap();
    assert_eq!(answer.status, 418);
    assert_eq!(answer.headers_named("x-foo"), ["bar", "baz"]);
    Echo::parse(&answer.body);
    let answer = tomcat::http_get(http, "/echo/big?size=100000&chunk=1000", &[], TIMEOUT).unwrap();
    assert_eq!(answer.header("Content-Length"), Some("100000"));
    assert_eq!(answer.body, tomcat::pattern_body(100_000));
    let answer = tomcat::http_get(
        http,
        "/echo/big?size=70001&nolength=1&flush=1",
        &[],
        TIMEOUT,
    )
    .unwrap();
    assert_eq!(answer.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(answer.body.len(), 70_001);
    assert_eq!(tomcat::pattern_mismatch(&answer.body, 0), None);
    let answer = tomcat::http_get(http, "/echo/e?senderror=503", &[], TIMEOUT).unwrap();
    assert_eq!(answer.status, 503);
    let answer = tomcat::http_get(http, "/echo/e?status=99", &[], TIMEOUT).unwrap();
    assert_eq!(answer.status, 400);
    let started = Instant::now();
    let answer = tomcat::http_get(http, "/echo/slow?sleep=300", &[], TIMEOUT).unwrap();
    assert_eq!(answer.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Sessions: the cookie ends in the route and the counter goes up.
    let first = tomcat::http_get(http, "/session", &[], TIMEOUT).unwrap();
    let set_cookie = first.header("Set-Cookie").expect("Set-Cookie").to_string();
    let jsessionid = set_cookie
        .strip_prefix("JSESSIONID=")
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no JSESSIONID in {set_cookie}"))
        .to_string();
    assert!(jsessionid.ends_with(".node1"), "{jsessionid}");
    assert_eq!(
        first.text(),
        format!("node=node1 count=1 id={jsessionid}\n")
    );
    let cookie = format!("JSESSIONID={jsessionid}");
    let second = tomcat::http_get(http, "/session", &[("Cookie", &cookie)], TIMEOUT).unwrap();
    assert_eq!(
        second.text(),
        format!("node=node1 count=2 id={jsessionid}\n")
    );
    assert_eq!(second.header("Set-Cookie"), None);
    let echo = tomcat::http_get(http, "/echo/s", &[("Cookie", &cookie)], TIMEOUT).unwrap();
    let echo = Echo::parse(&echo.body);
    assert_eq!(echo.get("sessionId"), Some(jsessionid.clone()));
    assert_eq!(echo.get("requestedSessionId"), Some(jsessionid));

    // AJP: CPING/CPONG and a forwarded request.
    tomcat::cping(node.ajp_port(), TIMEOUT).expect("CPONG");
    let answer =
        tomcat::ajp_get(node.ajp_port(), "/echo/ajp", Some("z=2"), None, TIMEOUT).expect("AJP GET");
    assert_eq!(answer.status, 200);
    assert!(answer.reuse);
    let echo = Echo::parse(&answer.body);
    assert_eq!(echo.field("requestURI"), "/echo/ajp");
    assert_eq!(echo.field("queryString"), "z=2");
    assert_eq!(echo.field("jvmRoute"), "node1");
    assert_eq!(echo.field("serverPort"), "80");
    assert_eq!(
        echo.field("localPort"),
        "80",
        "AJP server_port is localPort"
    );
    assert!(node.log().contains("Server startup in"), "{}", node.log());
}

/// A node with an AJP secret starts (secretRequired="true") and enforces it, while a
/// second node started at the same time gets its own ports and applies the other AJP
/// connector options (packetSize, allowedRequestAttributesPattern).
#[test]
fn secret_node_and_concurrent_nodes() {
    let plain = thread::spawn(|| {
        tomcat::start(&TomcatOptions {
            packet_size: Some(65536),
            allowed_request_attributes_pattern: Some("JKD_[A-Z]+".into()),
            connection_timeout_ms: Some(30_000),
            max_threads: Some(8),
            ..TomcatOptions::with_route("plain")
        })
    });
    let secret = tomcat::start(&TomcatOptions {
        ajp_secret: Some("s3cr&t\"<".into()),
        ..TomcatOptions::with_route("secret")
    });
    let plain = plain.join().expect("plain node started");
    eprintln!(
        "concurrent start: {:?} and {:?}; RSS {:?} and {:?} KiB",
        plain.startup_time(),
        secret.startup_time(),
        plain.rss_kib(),
        secret.rss_kib()
    );
    assert_ne!(plain.ajp_port(), secret.ajp_port());
    assert_ne!(plain.base(), secret.base());
    assert_ne!(plain.pid(), secret.pid());

    let server_xml = std::fs::read_to_string(secret.base().join("conf/server.xml")).unwrap();
    assert!(
        server_xml.contains("secretRequired=\"true\""),
        "{server_xml}"
    );
    tomcat::cping(secret.ajp_port(), TIMEOUT).expect("CPONG needs no secret");
    let refused = tomcat::ajp_get(secret.ajp_port(), "/echo/s", None, None, TIMEOUT).unwrap();
    assert_eq!(refused.status, 403);
    assert!(!refused.reuse);
    let wrong = tomcat::ajp_get(secret.ajp_port(), "/echo/s", None, Some("nope"), TIMEOUT).unwrap();
    assert_eq!(wrong.status, 403);
    let ok = tomcat::ajp_get(
        secret.ajp_port(),
        "/echo/s",
        None,
        Some("s3cr&t\"<"),
        TIMEOUT,
    )
    .unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(Echo::parse(&ok.body).field("jvmRoute"), "secret");

    let answer = tomcat::ajp_get(plain.ajp_port(), "/echo/s", None, None, TIMEOUT).unwrap();
    assert_eq!(Echo::parse(&answer.body).field("jvmRoute"), "plain");

    // Known and pattern-allowed request attributes reach the servlet; others are refused.
    let big = "b".repeat(20_000);
    let request = AjpGet {
        uri: "/echo/attrs",
        attributes: vec![
            ("AJP_REMOTE_PORT", "4242"),
            ("AJP_LOCAL_ADDR", "127.0.0.9"),
            ("JKD_EXTRA", "x: y%"),
        ],
        headers: vec![("X-Big", &big)],
        ..AjpGet::default()
    };
    let answer = tomcat::ajp_forward(plain.ajp_port(), &request, TIMEOUT).unwrap();
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let echo = Echo::parse(&answer.body);
    assert_eq!(echo.field("remotePort"), "4242");
    assert_eq!(echo.field("localAddr"), "127.0.0.9");
    assert_eq!(echo.attribute("JKD_EXTRA").as_deref(), Some("x: y%"));
    assert_eq!(echo.header("x-big").map(|v| v.len()), Some(20_000));
    let refused = AjpGet {
        uri: "/echo/attrs",
        attributes: vec![("OTHER", "1")],
        ..AjpGet::default()
    };
    let answer = tomcat::ajp_forward(plain.ajp_port(), &refused, TIMEOUT).unwrap();
    assert_eq!(answer.status, 403);
    // The 20000-byte header does not fit the default 8192-byte packet of the other node:
    // Tomcat 10.1.60 parses the first 8192 bytes, fails with an ArrayIndexOutOfBounds and
    // answers 400 "Invalid URI" (the rest of the packet is left unread on the connection).
    let too_big = AjpGet {
        secret: Some("s3cr&t\"<"),
        ..request
    };
    let answer = tomcat::ajp_forward(secret.ajp_port(), &too_big, TIMEOUT).unwrap();
    assert_eq!(answer.status, 400);
}

/// SIGSTOP/SIGCONT, SIGKILL, restart on the same ports, and stop on drop.
#[test]
fn lifecycle_signals_kill_restart_drop() {
    let mut node = tomcat::start(&TomcatOptions::with_route("node2"));
    let ajp = node.ajp_port();
    let first_pid = node.pid();

    node.stop_signal();
    let err =
        tomcat::cping(ajp, Duration::from_millis(300)).expect_err("a stopped JVM answers nothing");
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err:?}"
    );
    node.cont_signal();
    tomcat::cping(ajp, TIMEOUT).expect("CPONG after SIGCONT");

    node.kill();
    assert!(!node.is_running());
    assert!(
        tomcat::cping(ajp, TIMEOUT).is_err(),
        "killed node still answers"
    );

    node.restart();
    assert!(node.is_running());
    assert_eq!(node.ajp_port(), ajp);
    assert_ne!(node.pid(), first_pid);
    tomcat::cping(ajp, TIMEOUT).expect("CPONG after restart");
    let answer = tomcat::ajp_get(ajp, "/session", None, None, TIMEOUT).unwrap();
    assert!(answer.body.starts_with(b"node=node2 count=1 id="));

    // A graceful restart of a running node works too.
    node.restart();
    tomcat::cping(ajp, TIMEOUT).expect("CPONG after second restart");
    assert_eq!(node.log().matches("Server startup in").count(), 3);

    let pid = node.pid();
    let base = node.base().to_path_buf();
    drop(node);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "JVM {pid} survived drop"
    );
    assert!(!base.exists(), "base {} not removed", base.display());
}
