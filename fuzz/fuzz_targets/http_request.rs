//! Fuzz target: the request side, HTTP/1.1 request bytes → FORWARD_REQUEST + request body packets.
//!
//! The input is a raw HTTP/1.x request: a head, then body bytes. The head is read
//! with `httparse` and the same rules hyper 1.x applies before a request reaches
//! jkd (inputs hyper refuses are skipped); jkd's RFC 9112 `check_head` runs next,
//! and an accepted head becomes the FORWARD_REQUEST jkd would send to four
//! workers (8 KiB and 64 KiB packets, with and without a secret). Besides "no
//! panic, no hang", it checks what must hold whatever the input:
//! * the packet fits the worker's max_packet_size and jkd's strict decoder reads
//!   it back; a request is refused as too large only when its head is large;
//! * the body framing Tomcat is told is the one hyper reads the body with:
//!   chunked ⇔ no content-length; a length ⇔ exactly one content-length holding it
//!   (no client header, a `Connection` list included, can change that);
//! * method, path and query round-trip; the attributes are exactly what jkd sets
//!   (secret, route, query, remote port, local address, activation), never a
//!   client header; forwarded headers are the client's (hop-by-hop ones and those
//!   a `Connection` list names left out) plus jkd's `content-length: 0` and `host`;
//! * the body, split at max_body_chunk_len, gives packets that fit and decode
//!   back to the same bytes.

#![no_main]

use std::net::SocketAddr;
use std::sync::LazyLock;

use bytes::BytesMut;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version};
use jkd::ajp::{
    LbActivation, decode_body_chunk, decode_forward_request, decode_packet_to_container,
    encode_body_chunk, max_body_chunk_len,
};
use jkd::config::uri;
use jkd::config::workers::{AjpSettings, WorkerKind};
use jkd::http::check_head;
use jkd::http::forward::forward_request_for;
use jkd::runtime::ConnInfo;
use libfuzzer_sys::fuzz_target;

/// Four workers: the smallest and largest packet size, each with and without a secret.
const WORKERS: &[u8] = b"\
worker.list=small,large,small_secret,large_secret
worker.small.type=ajp13
worker.small.host=127.0.0.1
worker.small.port=8009
worker.small.max_packet_size=8192
worker.large.type=ajp13
worker.large.host=127.0.0.1
worker.large.port=8010
worker.large.max_packet_size=65536
worker.small_secret.type=ajp13
worker.small_secret.host=127.0.0.1
worker.small_secret.port=8011
worker.small_secret.max_packet_size=8192
worker.small_secret.secret=fuzz-secret
worker.large_secret.type=ajp13
worker.large_secret.host=127.0.0.1
worker.large_secret.port=8012
worker.large_secret.max_packet_size=65536
worker.large_secret.secret=fuzz-secret
";

/// Each worker's settings and the route sent with it (the secret ones as balancer members would).
static SETTINGS: LazyLock<Vec<(AjpSettings, Option<&'static str>)>> = LazyLock::new(|| {
    let loaded = jkd::config::from_workers_bytes("fuzz-workers.properties", WORKERS, &|_| None);
    let config = loaded.config.expect("the fixed workers.properties loads");
    ["small", "large", "small_secret", "large_secret"]
        .iter()
        .map(|name| match config.worker(name).map(|w| &w.kind) {
            Some(WorkerKind::Ajp(a)) => (a.clone(), name.ends_with("secret").then_some("r1")),
            _ => panic!("worker {name} is not ajp13"),
        })
        .collect()
});

const CONN: ConnInfo = ConnInfo {
    peer: SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)),
        40000,
    ),
    local: SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
        80,
    ),
    tls: None,
};

/// hyper's limits: headers per request and request-target length.
const MAX_HEADERS: usize = 100;
const MAX_URI_LEN: usize = (u16::MAX - 1) as usize;

/// How hyper reads the body: `None` chunked, `Some(n)` n bytes.
type Framing = Option<u64>;

/// hyper's Content-Length digits: ASCII digits only, no sign, no overflow.
fn from_digits(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit()
            .then_some(())
            .and_then(|()| n.checked_mul(10)?.checked_add(u64::from(b - b'0')))
    })
}

/// The request head as hyper 1.x's HTTP/1 server hands it over (`proto::h1::role::Server::parse`),
/// with the body framing it decodes with and the head's length; `None` where hyper answers 400.
fn hyper_head(data: &[u8]) -> Option<(http::request::Parts, Framing, usize)> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    let httparse::Status::Complete(head_len) = req.parse(data).ok()? else {
        return None;
    };
    let path = req.path?;
    if path.len() > MAX_URI_LEN {
        return None;
    }
    let method = Method::from_bytes(req.method?.as_bytes()).ok()?;
    let http11 = req.version? == 1;
    let uri = Uri::try_from(path).ok()?;

    let mut headers = HeaderMap::new();
    let mut framing: Framing = Some(0);
    let (mut is_cl, mut is_te, mut te_chunked) = (false, false, false);
    let mut con_len: Option<u64> = None;
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        // hyper takes httparse's value unchecked; a value `http` would refuse is skipped.
        let value = HeaderValue::from_bytes(h.value).ok()?;
        if name == http::header::TRANSFER_ENCODING {
            if !http11 {
                return None;
            }
            is_te = true;
            if is_cl && con_len.take().is_some() {
                headers.remove(http::header::CONTENT_LENGTH);
            }
            te_chunked = value
                .to_str()
                .ok()
                .and_then(|s| s.rsplit(',').next())
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            if te_chunked {
                framing = None;
            }
        } else if name == http::header::CONTENT_LENGTH {
            is_cl = true;
            if is_te {
                continue;
            }
            let len = from_digits(value.as_bytes())?;
            if let Some(prev) = con_len {
                if prev != len {
                    return None;
                }
                continue;
            }
            if len > u64::MAX - 2 {
                return None;
            }
            framing = Some(len);
            con_len = Some(len);
        }
        headers.append(name, value);
    }
    if is_te && !te_chunked {
        return None;
    }
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = if http11 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    parts.headers = headers;
    Some((parts, framing, head_len))
}

fn is_hop_by_hop(name: &[u8]) -> bool {
    [
        &b"connection"[..],
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"upgrade",
    ]
    .iter()
    .any(|h| h.eq_ignore_ascii_case(name))
}

fuzz_target!(|data: &[u8]| {
    let Some((parts, framing, head_len)) = hyper_head(data) else {
        return;
    };
    if check_head(&parts).is_err() {
        return;
    }
    let body = &data[head_len..];
    for (settings, route) in SETTINGS.iter() {
        let max = settings.max_packet_size as usize;
        match forward_request_for(&parts, CONN, settings, *route) {
            Ok((packet, length)) => {
                check_packet(&parts, framing, settings, *route, &packet, length)
            }
            // Every field is at most three times its bytes in the head (a percent-encoded
            // path), plus fixed fields, the secret and the headers jkd adds.
            Err(e) => assert!(3 * head_len + 512 > max, "{e:?} for a {head_len}-byte head"),
        }
        check_body(body, max);
    }
});

fn check_packet(
    parts: &http::request::Parts,
    framing: Framing,
    settings: &AjpSettings,
    route: Option<&str>,
    packet: &[u8],
    length: Option<u64>,
) {
    let max = settings.max_packet_size as usize;
    assert!(packet.len() <= max, "{} bytes > {max}", packet.len());
    let Ok(Some((payload, used))) = decode_packet_to_container(packet, max) else {
        panic!("the FORWARD_REQUEST is not one packet");
    };
    assert_eq!(used, packet.len());
    let request = match decode_forward_request(payload) {
        Ok(r) => r,
        Err(e) => panic!("the strict decoder refuses jkd's FORWARD_REQUEST: {e:?}"),
    };

    // Framing: what Tomcat is told is what hyper reads.
    assert_eq!(length, framing, "jkd frames the body unlike hyper");
    let lengths: Vec<&[u8]> = request
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"content-length"))
        .map(|(_, v)| *v)
        .collect();
    assert!(
        lengths.len() <= 1,
        "{} content-length headers",
        lengths.len()
    );
    match length {
        Some(n) => assert_eq!(
            lengths.first().and_then(|v| from_digits(v)),
            Some(n),
            "content-length does not say {n}"
        ),
        None => assert!(
            lengths.is_empty(),
            "a chunked request with a content-length"
        ),
    }

    // Method, path and query.
    assert_eq!(request.method, parts.method.as_str().as_bytes());
    let raw_path = parts.uri.path();
    if uri::is_plain_path(raw_path.as_bytes()) {
        assert_eq!(request.req_uri, raw_path.as_bytes());
    } else if let Ok(decoded) = uri::decode_path(raw_path) {
        assert_eq!(uri::decode_path(request.req_uri).ok(), Some(decoded));
    }
    assert!(!request.req_uri.contains(&b'?'));
    let expected_protocol: &[u8] = match parts.version {
        Version::HTTP_10 => b"HTTP/1.0",
        _ => b"HTTP/1.1",
    };
    assert_eq!(request.protocol, expected_protocol);

    // Attributes: exactly what jkd sets, nothing from the client's headers.
    let a = &request.attributes;
    assert_eq!(a.secret, settings.secret.as_deref().map(str::as_bytes));
    assert_eq!(a.route, route.map(str::as_bytes));
    assert_eq!(a.query_string, parts.uri.query().map(str::as_bytes));
    assert_eq!(a.remote_port, b"40000");
    assert_eq!(a.local_addr, b"127.0.0.1");
    assert_eq!(a.lb_activation, LbActivation::Active);
    assert_eq!(
        (a.remote_user, a.auth_type, a.ssl_cert, a.ssl_cipher),
        (None, None, None, None)
    );
    assert_eq!(
        (a.ssl_session, a.ssl_key_size, a.ssl_protocol),
        (None, None, None)
    );
    assert!(a.extra.is_empty(), "extra attributes: {:?}", a.extra);
    assert_eq!(request.remote_addr, b"192.0.2.7");

    // Headers: the client's (minus hop-by-hop ones), or the two jkd adds.
    let listed: Vec<String> = parts
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
        .collect();
    let authority = parts.uri.authority().map(|a| a.as_str().as_bytes());
    let hosts = request
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"host"))
        .count();
    assert!(hosts <= 1, "{hosts} host headers");
    for &(name, value) in &request.headers {
        assert!(!is_hop_by_hop(name), "hop-by-hop header forwarded");
        let framing_header = [&b"content-length"[..], b"transfer-encoding", b"host"]
            .iter()
            .any(|f| f.eq_ignore_ascii_case(name));
        if !framing_header {
            let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
            assert!(
                !listed.contains(&lower),
                "a header the Connection list names"
            );
        }
        let from_client = parts.headers.iter().any(|(n, v)| {
            n.as_str().as_bytes().eq_ignore_ascii_case(name) && v.as_bytes() == value
        });
        let added = (name.eq_ignore_ascii_case(b"content-length") && value == b"0")
            || (name.eq_ignore_ascii_case(b"host") && Some(value) == authority);
        assert!(
            from_client || added,
            "a header neither the client's nor jkd's"
        );
    }
}

/// Splits `body` into request body packets of `max` bytes, as the body pump does, and
/// reads them back; a stretched copy longer than 64 KiB splits into several.
fn check_body(body: &[u8], max: usize) {
    let stretched: Vec<u8> = body.iter().copied().cycle().take(body.len() * 17).collect();
    for data in [body, &stretched[..]] {
        let mut out = BytesMut::new();
        let mut read_back = Vec::with_capacity(data.len());
        for chunk in data.chunks(max_body_chunk_len(max)) {
            out.clear();
            encode_body_chunk(chunk, max, &mut out).expect("a chunk of max_body_chunk_len fits");
            assert!(out.len() <= max);
            let Ok(Some((payload, used))) = decode_packet_to_container(&out, max) else {
                panic!("a body packet is not one packet");
            };
            assert_eq!(used, out.len());
            let got = decode_body_chunk(payload).expect("a body packet decodes");
            assert_eq!(got, chunk);
            read_back.extend_from_slice(got);
        }
        assert_eq!(read_back, data);
    }
}
