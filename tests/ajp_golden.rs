//! Golden AJP13 packets captured from real exchanges with Tomcat 10 (tests/data/golden/, see its README): jkd's decoder reads Tomcat's answers, jkd's encoder reproduces the FORWARD_REQUESTs byte for byte, and a live capture checks that the files still describe what jkd, mod_jk and Tomcat do.
//!
//! The first tests need no server: they read the committed files. The last one,
//! [`live_exchanges_match_the_golden_packets`], runs the same exchanges again through a
//! recording relay ([`support::ajp_tap`]) between jkd (and httpd + mod_jk) and a real
//! Tomcat, and compares; with `JKD_WRITE_GOLDEN=1` in the environment it writes what it
//! captured into tests/data/golden/ and fuzz/corpus/ajp_response/ instead.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use ::jkd::ajp::{
    ContainerMessage, DEFAULT_PACKET_SIZE, END_OF_BODY_PACKET, ForwardRequest, LbActivation,
    RequestAttributes, decode_body_chunk, decode_container_message, decode_forward_request,
    encode_body_chunk, encode_forward_request, max_body_chunk_len,
};
use bytes::BytesMut;
use support::ajp_tap::{Recorded, Tap, split_packets};
use support::jkd;
use support::modjk;
use support::tomcat::{self, Echo, TomcatOptions};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden");
const FUZZ_CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/ajp_response");
const TIMEOUT: Duration = Duration::from_secs(30);

/// Host header of every captured request: fixes server_name and server_port.
const HOST: &str = "localhost:8080";
/// Length of the POST bodies (the `?size=` pattern): one full packet and a part.
const POST_LEN: u64 = 10_000;

fn golden(name: &str) -> Vec<u8> {
    let path = Path::new(GOLDEN).join(name);
    fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------
// Decoding Tomcat's answers

/// Every message of a container → web server stream, decoded incrementally the way
/// jkd reads a socket: `decode_container_message` on what is left, never past the end.
fn messages(stream: &[u8]) -> Vec<ContainerMessage<'_>> {
    let mut out = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (message, consumed) = decode_container_message(rest, DEFAULT_PACKET_SIZE)
            .unwrap_or_else(|e| panic!("undecodable packet: {e}"))
            .expect("a whole packet (the capture holds no partial packet)");
        out.push(message);
        rest = &rest[consumed..];
    }
    out
}

/// An answer as jkd sees it: status, reason, headers, body, reuse flag, and how many
/// body chunks and flushes carried it.
#[derive(Debug)]
struct Answer {
    status: u16,
    reason: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    chunks: usize,
    flushes: usize,
    /// GET_BODY_CHUNK requests and their sizes.
    body_requests: Vec<u16>,
    reuse: bool,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes a captured answer and checks its grammar: optional GET_BODY_CHUNKs, exactly
/// one SEND_HEADERS, then body chunks and flushes, then END_RESPONSE last.
fn answer(stream: &[u8]) -> Answer {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut a = Answer {
        status: 0,
        reason: None,
        headers: Vec::new(),
        body: Vec::new(),
        chunks: 0,
        flushes: 0,
        body_requests: Vec::new(),
        reuse: false,
    };
    let all = messages(stream);
    let (last, rest) = all.split_last().expect("an empty capture");
    let ContainerMessage::EndResponse { reuse } = last else {
        panic!("the answer does not end with END_RESPONSE: {last:?}");
    };
    a.reuse = *reuse;
    let mut seen_headers = false;
    for m in rest {
        match m {
            ContainerMessage::GetBodyChunk { requested } => a.body_requests.push(*requested),
            ContainerMessage::SendHeaders(h) => {
                assert!(!seen_headers, "a second SEND_HEADERS");
                seen_headers = true;
                a.status = h.status;
                a.reason = h.reason.map(text);
                a.headers = h.headers().map(|(n, v)| (text(n), text(v))).collect();
            }
            ContainerMessage::SendBodyChunk(data) => {
                assert!(seen_headers, "body before the headers");
                a.body.extend_from_slice(data);
                a.chunks += 1;
            }
            ContainerMessage::Flush => a.flushes += 1,
            other => panic!("unexpected message in an answer: {other:?}"),
        }
    }
    assert!(seen_headers, "no SEND_HEADERS");
    a
}

#[test]
fn golden_get_response_decodes() {
    let a = answer(&golden("get-response.bin"));
    assert_eq!((a.status, a.reason.as_deref()), (200, Some("200")));
    let names: Vec<&str> = a.headers.iter().map(|(n, _)| n.as_str()).collect();
    // Both sent as AJP header codes (0xA001, 0xA003), so they come out in mod_jk's case.
    assert_eq!(names, ["Content-Type", "Content-Length"]);
    assert_eq!(a.header("Content-Type"), Some("text/plain;charset=UTF-8"));
    assert_eq!(
        a.header("Content-Length"),
        Some(a.body.len().to_string().as_str())
    );
    assert_eq!((a.chunks, a.flushes), (1, 0));
    assert!(a.body_requests.is_empty());
    assert!(a.reuse);
    let echo = Echo::parse(&a.body);
    assert_eq!(echo.field("method"), "GET");
    assert_eq!(echo.field("requestURI"), "/echo/x");
    assert_eq!(echo.field("queryString"), "y=1");
    assert_eq!(echo.field("serverName"), "localhost");
    assert_eq!(echo.field("localPort"), "8080");
    assert_eq!(echo.header("x-request-id").as_deref(), Some("golden-get"));
    assert_eq!(echo.body_length(), 0);
}

#[test]
fn golden_post_response_decodes() {
    let a = answer(&golden("post-response.bin"));
    assert_eq!((a.status, a.reason.as_deref()), (200, Some("200")));
    // Tomcat asks for the rest of the body (packetSize - 6 = 8186 bytes), and once
    // more after the last byte: the front end answers that with an empty packet.
    assert_eq!(a.body_requests, [8186, 8186]);
    assert!(a.reuse);
    let echo = Echo::parse(&a.body);
    assert_eq!(echo.field("method"), "POST");
    assert_eq!(echo.field("requestURI"), "/echo/post");
    assert_eq!(echo.field("contentLength"), POST_LEN.to_string());
    assert_eq!(echo.body_length(), POST_LEN);
    assert_eq!(
        echo.body_sha256(),
        tomcat::sha256_hex(&tomcat::pattern_body(POST_LEN))
    );
}

#[test]
fn golden_flushed_download_decodes() {
    // GET /echo/flush?size=20000&chunk=5000&flush=1: headers committed (and flushed)
    // before the body, then one chunk and one flush per servlet write + flush.
    let a = answer(&golden("flush-response.bin"));
    assert_eq!((a.status, a.reason.as_deref()), (200, Some("200")));
    assert_eq!(a.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(a.header("Content-Length"), None);
    assert_eq!(a.body.len(), 20_000);
    assert_eq!(tomcat::pattern_mismatch(&a.body, 0), None);
    assert_eq!(a.chunks, 4);
    assert_eq!(a.flushes, 5);
    assert!(a.reuse);
}

#[test]
fn golden_bodiless_and_refused_answers_decode() {
    // A servlet's 205 with Content-Length 3: Tomcat keeps the header, sends no body.
    let a = answer(&golden("status-205-response.bin"));
    assert_eq!((a.status, a.reason.as_deref()), (205, Some("205")));
    assert_eq!(a.header("Content-Length"), Some("3"));
    assert!(a.body.is_empty() && a.chunks == 0);
    assert!(a.reuse);

    // A request without the secret Tomcat's connector requires: 403 with Tomcat's
    // error page, and END_RESPONSE telling the front end to close the connection.
    let a = answer(&golden("secret-403-response.bin"));
    assert_eq!((a.status, a.reason.as_deref()), (403, Some("403")));
    assert_eq!(a.header("Content-Type"), Some("text/html;charset=utf-8"));
    assert!(String::from_utf8_lossy(&a.body).contains("403"));
    assert_eq!(
        a.header("Content-Length"),
        Some(a.body.len().to_string().as_str())
    );
    assert!(!a.reuse, "Tomcat must say: do not reuse");
}

#[test]
fn golden_answers_decode_split_anywhere() {
    // The incremental decoder must say "need more" for every prefix of a packet and
    // decode the same message once it is whole.
    for name in [
        "get-response.bin",
        "post-response.bin",
        "flush-response.bin",
        "status-205-response.bin",
        "secret-403-response.bin",
    ] {
        let stream = golden(name);
        let whole = messages(&stream);
        let packets = split_packets(&stream).expect("packets");
        assert_eq!(packets.len(), whole.len(), "{name}");
        for (packet, message) in packets.iter().zip(&whole) {
            for cut in 0..packet.len() {
                assert_eq!(
                    decode_container_message(&packet[..cut], DEFAULT_PACKET_SIZE),
                    Ok(None),
                    "{name}: prefix of {cut} bytes"
                );
            }
            let (again, consumed) = decode_container_message(packet, DEFAULT_PACKET_SIZE)
                .expect("decodes")
                .expect("whole");
            assert_eq!((&again, consumed), (message, packet.len()), "{name}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Re-encoding jkd's requests

/// The FORWARD_REQUEST at the start of a web server → container stream, and the body
/// packets after it.
fn forward_request_and_body(stream: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut packets = split_packets(stream).expect("to-container packets");
    assert!(!packets.is_empty(), "empty capture");
    let first = packets.remove(0);
    (first, packets)
}

/// The FORWARD_REQUEST jkd sends for the captured requests, from the request's fields;
/// `remote_port` is the one field that varies between captures (the client's port).
fn jkd_forward_request<'a>(
    method: &'a [u8],
    uri: &'a [u8],
    query: &'a [u8],
    headers: Vec<(&'a [u8], &'a [u8])>,
    remote_port: &'a [u8],
) -> Vec<u8> {
    let request = ForwardRequest {
        method,
        protocol: b"HTTP/1.1",
        req_uri: uri,
        remote_addr: b"127.0.0.1",
        remote_host: None,
        server_name: b"localhost",
        server_port: 8080,
        is_ssl: false,
        headers,
        attributes: RequestAttributes {
            query_string: Some(query),
            remote_port,
            local_addr: b"127.0.0.1",
            lb_activation: LbActivation::Active,
            ..RequestAttributes::default()
        },
    };
    let mut out = BytesMut::new();
    encode_forward_request(&request, DEFAULT_PACKET_SIZE, &mut out).expect("encodes");
    out.to_vec()
}

/// The decoded FORWARD_REQUEST of a packet (header included).
fn decode_request(packet: &[u8]) -> ForwardRequest<'_> {
    assert_eq!(
        packet[..2],
        [0x12, 0x34],
        "not a web server → container packet"
    );
    decode_forward_request(&packet[4..]).unwrap_or_else(|e| panic!("FORWARD_REQUEST: {e}"))
}

#[test]
fn golden_get_forward_request_reencodes() {
    let stream = golden("get-forward-request.bin");
    let (packet, body) = forward_request_and_body(&stream);
    assert!(body.is_empty(), "a GET sends no body packet");
    let decoded = decode_request(&packet);
    let port = decoded.attributes.remote_port;
    assert!(
        !port.is_empty() && port.iter().all(u8::is_ascii_digit),
        "{port:?}"
    );
    let expected = jkd_forward_request(
        b"GET",
        b"/echo/x",
        b"y=1",
        vec![
            (b"host", HOST.as_bytes()),
            (b"x-request-id", b"golden-get"),
            // mod_jk's content-length: 0 for a request without a body.
            (b"content-length", b"0"),
        ],
        port,
    );
    assert_eq!(
        packet, expected,
        "jkd's encoder no longer writes the captured bytes"
    );
}

#[test]
fn golden_post_forward_request_and_body_reencode() {
    let stream = golden("post-forward-request.bin");
    let (packet, body) = forward_request_and_body(&stream);
    let decoded = decode_request(&packet);
    let len = POST_LEN.to_string();
    let expected = jkd_forward_request(
        b"POST",
        b"/echo/post",
        b"y=2",
        vec![
            (b"host", HOST.as_bytes()),
            (b"content-type", b"application/octet-stream"),
            (b"content-length", len.as_bytes()),
            (b"x-request-id", b"golden-post"),
        ],
        decoded.attributes.remote_port,
    );
    assert_eq!(packet, expected);
    // The first 8186 bytes unsolicited, the rest on GET_BODY_CHUNK, then the empty
    // packet answering Tomcat's last GET_BODY_CHUNK.
    let content = tomcat::pattern_body(POST_LEN);
    let mut expected = BytesMut::new();
    for piece in content.chunks(max_body_chunk_len(DEFAULT_PACKET_SIZE)) {
        encode_body_chunk(piece, DEFAULT_PACKET_SIZE, &mut expected).expect("body packet");
    }
    expected.extend_from_slice(&END_OF_BODY_PACKET);
    assert_eq!(body.concat(), expected.to_vec());
}

#[test]
fn golden_modjk_forward_requests_match_jkds() {
    // What mod_jk 1.2.48 sent for the same two requests (the client spelled the header
    // names in lower case, so case does not differ): field for field the same, except
    // the client port.
    for (name, with_body) in [("get", false), ("post", true)] {
        let modjk = golden(&format!("modjk-{name}-forward-request.bin"));
        let ours = golden(&format!("{name}-forward-request.bin"));
        let (mp, mbody) = forward_request_and_body(&modjk);
        let (jp, jbody) = forward_request_and_body(&ours);
        let mut m = decode_request(&mp);
        let j = decode_request(&jp);
        m.attributes.remote_port = j.attributes.remote_port;
        assert_eq!(m, j, "{name}: mod_jk and jkd differ");
        let mut mp_again = BytesMut::new();
        encode_forward_request(&m, DEFAULT_PACKET_SIZE, &mut mp_again).expect("encodes");
        assert_eq!(mp_again.to_vec(), jp, "{name}: bytes");
        // And the body packets are the same bytes.
        assert_eq!(mbody, jbody, "{name}: body packets");
        assert_eq!(!mbody.is_empty(), with_body);
    }
}

// ---------------------------------------------------------------------------------------
// Live capture

/// What one exchange put on the wire between a front end and Tomcat.
#[derive(Debug, Default, Clone)]
struct Exchange {
    to_container: Vec<u8>,
    from_container: Vec<u8>,
}

/// Lengths recorded so far, per relayed connection.
fn marks(tap: &Tap) -> Vec<(usize, usize)> {
    tap.connections()
        .iter()
        .map(|c| (c.to_container.len(), c.from_container.len()))
        .collect()
}

fn ends_with_end_response(from: &[u8]) -> bool {
    split_packets(from).is_ok_and(|p| {
        p.last()
            .is_some_and(|last| last.len() == 6 && last[..5] == [0x41, 0x42, 0x00, 0x02, 0x05])
    })
}

/// The bytes of the exchange that started after `before`, waiting (bounded) for
/// END_RESPONSE: the client may have its whole response before Tomcat's END_RESPONSE
/// crossed the relay.
fn exchange_since(tap: &Tap, before: &[(usize, usize)]) -> Exchange {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let conns: Vec<Recorded> = tap.connections();
        let mut ex = Exchange::default();
        let mut touched = 0;
        for (i, c) in conns.iter().enumerate() {
            let (t, f) = before.get(i).copied().unwrap_or((0, 0));
            if c.to_container.len() > t || c.from_container.len() > f {
                touched += 1;
                ex.to_container.extend_from_slice(&c.to_container[t..]);
                ex.from_container.extend_from_slice(&c.from_container[f..]);
            }
        }
        if touched == 1 && ends_with_end_response(&ex.from_container) {
            return ex;
        }
        assert!(
            Instant::now() < deadline,
            "no complete exchange on one connection: {touched} connections, {ex:?}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Sends a raw HTTP/1.1 request (keep-alive: no `Connection` header, which mod_jk
/// would forward) and reads the response head and a Content-Length or chunked body.
fn http(port: u16, raw: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    s.write_all(raw).expect("send");
    let mut data = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&data));
        data.extend_from_slice(&buf[..n]);
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
        let body = &data[end + 4..];
        let status = head[9..12].parse().expect("status");
        if let Some(len) = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse::<usize>().expect("length"))
        {
            if body.len() >= len {
                return (status, body[..len].to_vec());
            }
        } else if head.contains("transfer-encoding: chunked") {
            if body.ends_with(b"0\r\n\r\n") {
                return (status, body.to_vec());
            }
        } else {
            return (status, body.to_vec());
        }
    }
}

fn get(target: &str, id: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: {HOST}\r\nx-request-id: {id}\r\n\r\n").into_bytes()
}

fn post(target: &str, id: &str) -> Vec<u8> {
    let mut raw = format!(
        "POST {target} HTTP/1.1\r\nHost: {HOST}\r\ncontent-type: application/octet-stream\r\n\
         content-length: {POST_LEN}\r\nx-request-id: {id}\r\n\r\n"
    )
    .into_bytes();
    raw.extend_from_slice(&tomcat::pattern_body(POST_LEN));
    raw
}

/// A chunked POST of `POST_LEN` pattern bytes in 100-byte chunks.
fn post_chunked(target: &str) -> Vec<u8> {
    let mut raw =
        format!("POST {target} HTTP/1.1\r\nHost: {HOST}\r\ntransfer-encoding: chunked\r\n\r\n")
            .into_bytes();
    for piece in tomcat::pattern_body(POST_LEN).chunks(100) {
        raw.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        raw.extend_from_slice(piece);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    raw
}

/// Runs `raw` through the front end on `port` and returns what crossed `tap`.
fn capture(tap: &Tap, port: u16, raw: &[u8], status: u16) -> Exchange {
    let before = marks(tap);
    let (got, body) = http(port, raw);
    assert_eq!(got, status, "{}", String::from_utf8_lossy(&body));
    exchange_since(tap, &before)
}

/// A FORWARD_REQUEST stream with the client port replaced, so captures compare.
fn without_client_port(stream: &[u8]) -> Vec<u8> {
    let (packet, body) = forward_request_and_body(stream);
    let mut request = decode_request(&packet);
    request.attributes.remote_port = b"0";
    let mut out = BytesMut::new();
    encode_forward_request(&request, DEFAULT_PACKET_SIZE, &mut out).expect("encodes");
    out.extend_from_slice(&body.concat());
    out.to_vec()
}

/// An answer's shape: everything but bodies that quote the client port (echo
/// descriptions, whose length then varies too) or name Tomcat's version (error pages).
fn shape(stream: &[u8]) -> String {
    let a = answer(stream);
    let exact_body = a.header("Content-Type") == Some("application/octet-stream");
    let headers: Vec<String> = a
        .headers
        .iter()
        .map(|(n, v)| {
            if n == "Content-Length" && !exact_body {
                format!("{n}: *")
            } else {
                format!("{n}: {v}")
            }
        })
        .collect();
    format!(
        "{} {:?} {headers:?} requests {:?} chunks {} flushes {} reuse {} body {}",
        a.status,
        a.reason,
        a.body_requests,
        if exact_body { a.chunks } else { 0 },
        a.flushes,
        a.reuse,
        if exact_body {
            tomcat::sha256_hex(&a.body)
        } else {
            "*".to_string()
        }
    )
}

#[test]
fn live_exchanges_match_the_golden_packets() {
    let write = std::env::var_os("JKD_WRITE_GOLDEN").is_some();
    let tc = tomcat::start(&TomcatOptions::default());
    let secret_tc = tomcat::start(&TomcatOptions {
        ajp_secret: Some("s3cr3t".to_string()),
        ..TomcatOptions::default()
    });
    let jkd_tap = Tap::start(tc.ajp_addr());
    let modjk_tap = Tap::start(tc.ajp_addr());
    let secret_tap = Tap::start(secret_tc.ajp_addr());
    let dir = std::env::temp_dir().join(format!("jkd-golden-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");
    let workers_for = |name: &str, port: u16, secret_port: u16| -> PathBuf {
        let path = dir.join(format!("{name}.properties"));
        fs::write(
            &path,
            format!(
                "worker.list=w,s\n\
                 worker.w.host=127.0.0.1\nworker.w.port={port}\nworker.w.mount=/echo/*\n\
                 worker.s.host=127.0.0.1\nworker.s.port={secret_port}\nworker.s.mount=/secret/*\n"
            ),
        )
        .expect("workers file");
        path
    };
    let j = jkd::start(&workers_for("jkd", jkd_tap.port(), secret_tap.port()), &[]);
    let m = modjk::start(
        &workers_for("modjk", modjk_tap.port(), secret_tap.port()),
        &[],
        &["JkMount /echo/* w".to_string()],
    )
    .unwrap_or_else(|f| panic!("mod_jk refused the workers file: {f:?}"));

    let mut files: Vec<(&str, Vec<u8>)> = Vec::new();
    let ex = capture(&jkd_tap, j.port, &get("/echo/x?y=1", "golden-get"), 200);
    files.push(("get-forward-request.bin", ex.to_container));
    files.push(("get-response.bin", ex.from_container));
    let ex = capture(
        &jkd_tap,
        j.port,
        &post("/echo/post?y=2", "golden-post"),
        200,
    );
    files.push(("post-forward-request.bin", ex.to_container));
    files.push(("post-response.bin", ex.from_container));
    let ex = capture(
        &jkd_tap,
        j.port,
        &get("/echo/flush?size=20000&chunk=5000&flush=1", "golden-flush"),
        200,
    );
    files.push(("flush-response.bin", ex.from_container));
    let ex = capture(
        &jkd_tap,
        j.port,
        &get("/echo/s?status=205&size=3", "golden-205"),
        205,
    );
    files.push(("status-205-response.bin", ex.from_container));
    let ex = capture(&secret_tap, j.port, &get("/secret/x", "golden-403"), 403);
    files.push(("secret-403-response.bin", ex.from_container));
    let ex = capture(&modjk_tap, m.port(), &get("/echo/x?y=1", "golden-get"), 200);
    files.push(("modjk-get-forward-request.bin", ex.to_container));
    let ex = capture(
        &modjk_tap,
        m.port(),
        &post("/echo/post?y=2", "golden-post"),
        200,
    );
    files.push(("modjk-post-forward-request.bin", ex.to_container));

    // A chunked upload in 100-byte chunks: both front ends fill every body packet
    // (8186 bytes) and send the same body packets.
    let jc = capture(&jkd_tap, j.port, &post_chunked("/echo/chunked"), 200);
    let mc = capture(&modjk_tap, m.port(), &post_chunked("/echo/chunked"), 200);
    let (_, jbody) = forward_request_and_body(&jc.to_container);
    let (_, mbody) = forward_request_and_body(&mc.to_container);
    let sizes = |packets: &[Vec<u8>]| -> Vec<usize> {
        packets
            .iter()
            .map(|p| decode_body_chunk(&p[4..]).expect("body packet").len())
            .collect()
    };
    assert_eq!(sizes(&mbody), [8186, 1814, 0], "mod_jk's body packets");
    assert_eq!(sizes(&jbody), sizes(&mbody), "jkd's body packets");
    assert_eq!(jbody, mbody);
    let echo = Echo::parse(&answer(&jc.from_container).body);
    assert_eq!(echo.body_length(), POST_LEN);

    if write {
        fs::create_dir_all(GOLDEN).expect("golden dir");
        for (name, bytes) in &files {
            fs::write(Path::new(GOLDEN).join(name), bytes).expect("write golden");
            if name.ends_with("-response.bin") {
                fs::write(Path::new(FUZZ_CORPUS).join(format!("golden-{name}")), bytes)
                    .expect("write corpus");
            }
        }
        eprintln!("wrote {} golden files to {GOLDEN}", files.len());
    } else {
        for (name, live) in &files {
            let committed = golden(name);
            if name.ends_with("-forward-request.bin") {
                assert_eq!(
                    without_client_port(live),
                    without_client_port(&committed),
                    "{name}: the live capture differs from the golden file (JKD_WRITE_GOLDEN=1 rewrites it)"
                );
            } else {
                assert_eq!(
                    shape(live),
                    shape(&committed),
                    "{name}: the live capture differs from the golden file (JKD_WRITE_GOLDEN=1 rewrites it)"
                );
            }
        }
    }
    drop(m);
    drop(j);
    drop((jkd_tap, modjk_tap, secret_tap));
    drop((tc, secret_tc));
    let _ = fs::remove_dir_all(&dir);
}
