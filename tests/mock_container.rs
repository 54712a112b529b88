//! Edge cases of the AJP engine against a scriptable in-process mock container: split and coalesced packets, a slow peer, early close, oversized and garbage packets, reuse=0.

mod support;

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ::jkd::ajp::frame::decode_packet_to_container;
use ::jkd::ajp::response::{encode_end_response, encode_send_body_chunk, encode_send_headers};
use bytes::BytesMut;
use support::jkd;
use support::tomcat;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PACKET: usize = 8192;

/// What the mock does after reading one FORWARD_REQUEST.
#[derive(Clone, Debug)]
enum Act {
    /// Write these bytes in one write.
    Send(Vec<u8>),
    /// Write these bytes in pieces of this size, flushing each.
    Trickle(Vec<u8>, usize),
    Sleep(u64),
    /// Close the connection.
    Close,
}

fn headers(status: u16, len: Option<usize>) -> Vec<u8> {
    let mut out = BytesMut::new();
    let len_text = len.map(|l| l.to_string());
    let mut h: Vec<(&[u8], &[u8])> = vec![(b"Content-Type", b"text/plain")];
    if let Some(l) = &len_text {
        h.push((b"Content-Length", l.as_bytes()));
    }
    let reason = status.to_string();
    encode_send_headers(status, Some(reason.as_bytes()), &h, PACKET, &mut out)
        .expect("encode headers");
    out.to_vec()
}

fn body(data: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_send_body_chunk(data, PACKET, &mut out).expect("encode body");
    out.to_vec()
}

fn end(reuse: bool) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_end_response(reuse, &mut out);
    out.to_vec()
}

fn ok_response(text: &str) -> Vec<u8> {
    let mut v = headers(200, Some(text.len()));
    v.extend(body(text.as_bytes()));
    v.extend(end(true));
    v
}

/// A mock container on a free port: every request on every connection gets `script`.
/// Returns the port and the number of connections accepted so far.
fn start_mock(rt: &tokio::runtime::Runtime, script: Vec<Act>) -> (u16, Arc<AtomicUsize>) {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind mock");
    let port = listener.local_addr().expect("addr").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    rt.spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let script = script.clone();
            tokio::spawn(async move {
                let mut buf = BytesMut::new();
                'requests: loop {
                    // Read one packet (a FORWARD_REQUEST, or a CPING to answer).
                    let payload_first = loop {
                        match decode_packet_to_container(&buf, PACKET) {
                            Ok(Some((payload, consumed))) => {
                                let first = payload.first().copied();
                                let _ = buf.split_to(consumed);
                                break first;
                            }
                            Ok(None) => {}
                            Err(_) => return,
                        }
                        match s.read_buf(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                    };
                    if payload_first == Some(::jkd::ajp::frame::message_type::CPING) {
                        if s.write_all(&::jkd::ajp::response::CPONG_PACKET)
                            .await
                            .is_err()
                        {
                            return;
                        }
                        continue;
                    }
                    for act in &script {
                        match act {
                            Act::Send(b) => {
                                if s.write_all(b).await.is_err() {
                                    return;
                                }
                            }
                            Act::Trickle(b, n) => {
                                for piece in b.chunks((*n).max(1)) {
                                    if s.write_all(piece).await.is_err() || s.flush().await.is_err()
                                    {
                                        return;
                                    }
                                    tokio::task::yield_now().await;
                                }
                            }
                            Act::Sleep(ms) => tokio::time::sleep(Duration::from_millis(*ms)).await,
                            Act::Close => break 'requests,
                        }
                    }
                }
            });
        }
    });
    (port, connections)
}

fn jkd_for(port: u16, extra: &str) -> jkd::Jkd {
    let dir = std::env::temp_dir().join(format!("jkd-mock-{}-{port}", std::process::id()));
    fs::create_dir_all(&dir).expect("dir");
    let workers = dir.join("workers.properties");
    fs::write(
        &workers,
        format!(
            "worker.list=w\nworker.w.host=127.0.0.1\nworker.w.port={port}\nworker.w.mount=/*\n{extra}"
        ),
    )
    .expect("write workers");
    jkd::start(&workers, &[])
}

/// Sends raw bytes on one connection and reads everything until jkd closes it.
fn raw_exchange(j: &jkd::Jkd, request: &[u8]) -> Vec<u8> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", j.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    std::io::Write::write_all(&mut stream, request).expect("send");
    let mut raw = Vec::new();
    let _ = std::io::Read::read_to_end(&mut stream, &mut raw);
    raw
}

fn get(j: &jkd::Jkd) -> std::io::Result<tomcat::HttpResponse> {
    tomcat::http_get(j.port, "/x", &[], Duration::from_secs(10))
}

#[test]
fn split_and_coalesced_packets_give_the_same_response() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let text = "hello from a mock container";
    let (split, _) = start_mock(&rt, vec![Act::Trickle(ok_response(text), 1)]);
    let (whole, _) = start_mock(&rt, vec![Act::Send(ok_response(text))]);
    for port in [split, whole] {
        let j = jkd_for(port, "");
        let r = get(&j).unwrap_or_else(|e| panic!("request: {e}\n{}", j.log()));
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), text);
    }
}

#[test]
fn a_slow_peer_is_waited_for_until_the_reply_timeout() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut slow = vec![Act::Sleep(300)];
    slow.push(Act::Send(ok_response("late")));
    let (port, _) = start_mock(&rt, slow.clone());
    let j = jkd_for(port, "worker.w.reply_timeout=2000\n");
    let r = get(&j).expect("request");
    assert_eq!((r.status, r.text().as_str()), (200, "late"));

    let (port, _) = start_mock(
        &rt,
        vec![Act::Sleep(3000), Act::Send(ok_response("too late"))],
    );
    let j = jkd_for(port, "worker.w.reply_timeout=200\nworker.w.retries=1\n");
    let started = Instant::now();
    let r = get(&j).expect("request");
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn early_close_garbage_and_oversized_packets_are_502() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut oversized = vec![0x41, 0x42, 0xFF, 0xF0];
    oversized.extend(std::iter::repeat_n(0u8, 64));
    for (name, script) in [
        ("closed before the headers", vec![Act::Close]),
        (
            "bad magic",
            vec![Act::Send(b"HTTP/1.1 200 OK\r\n\r\n".to_vec())],
        ),
        ("oversized packet", vec![Act::Send(oversized)]),
    ] {
        let (port, _) = start_mock(&rt, script);
        let j = jkd_for(port, "worker.w.retries=1\n");
        let r = get(&j).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.status, 502, "{name}: {}", r.text());
    }
}

#[test]
fn headers_twice_or_body_first_are_protocol_errors() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // Body before headers: refused before anything reaches the client.
    let (port, _) = start_mock(&rt, vec![Act::Send(body(b"x")), Act::Send(end(true))]);
    let j = jkd_for(port, "worker.w.retries=1\n");
    let r = get(&j).expect("request");
    assert_eq!(r.status, 500, "{}", r.text());
    // Headers twice: the first response is already under way, so it is cut short.
    let mut twice = headers(200, None);
    twice.extend(body(b"partial"));
    twice.extend(headers(200, None));
    twice.extend(end(true));
    let (port, _) = start_mock(&rt, vec![Act::Send(twice)]);
    let j = jkd_for(port, "worker.w.retries=1\n");
    // The response was chunked (no Content-Length): without its last chunk the client
    // can tell it is incomplete.
    let raw = raw_exchange(
        &j,
        b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("transfer-encoding: chunked"), "{text}");
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "the cut response was terminated as complete: {text}"
    );
}

#[test]
fn a_close_mid_body_cuts_the_client_response() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut script = headers(200, Some(100));
    script.extend(body(&[b'a'; 40]));
    let (port, _) = start_mock(&rt, vec![Act::Send(script), Act::Close]);
    let j = jkd_for(port, "");
    // The client must not get a complete 100-byte body: either an error or fewer bytes.
    if let Ok(r) = get(&j) {
        assert!(r.body.len() < 100, "got {} bytes", r.body.len());
    }
}

#[test]
fn reuse_zero_closes_the_connection_and_reuse_keeps_it() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut no_reuse = headers(200, Some(2));
    no_reuse.extend(body(b"ok"));
    no_reuse.extend(end(false));
    let (port, conns) = start_mock(&rt, vec![Act::Send(no_reuse)]);
    let j = jkd_for(port, "");
    for _ in 0..3 {
        assert_eq!(get(&j).expect("request").status, 200);
    }
    assert_eq!(
        conns.load(Ordering::SeqCst),
        3,
        "reuse=0 must close each connection"
    );

    let (port, conns) = start_mock(&rt, vec![Act::Send(ok_response("ok"))]);
    let j = jkd_for(port, "");
    for _ in 0..3 {
        assert_eq!(get(&j).expect("request").status, 200);
    }
    assert_eq!(
        conns.load(Ordering::SeqCst),
        1,
        "reuse=1 keeps one connection"
    );
}

/// A backend's Content-Length that disagrees with the body it sent must not reach the
/// client next to that body: on a keep-alive connection the client would take the
/// next response's bytes for this one's.
#[test]
fn a_wrong_content_length_never_desynchronises_the_client_connection() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut lying = headers(200, Some(10));
    lying.extend(body(b"short"));
    lying.extend(end(true));
    let (port, _) = start_mock(&rt, vec![Act::Send(lying)]);
    let j = jkd_for(port, "");
    let raw = raw_exchange(
        &j,
        b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    // Either each response is framed by what was really sent, or the connection is
    // cut after the first; never a 10-byte promise followed by 5 bytes and more.
    assert!(!text.contains("content-length: 10"), "{text}");
    let complete = text.matches("http/1.1 200").count();
    assert!(complete >= 1, "{text}");
    if complete == 2 {
        assert_eq!(text.matches("content-length: 5\r\n").count(), 2, "{text}");
        assert!(text.ends_with("short"), "{text}");
    }
}

/// A response whose length the backend announced, and whose END_RESPONSE comes 600 ms
/// after its last body byte: the client gets that last byte only after the
/// END_RESPONSE, that is after jkd counted the request finished. A client that sends
/// its next request as soon as it holds a whole response must find this one ended
/// (busy counts, a probed member's state), as behind httpd + mod_jk. Before, the
/// client held the whole body at once, 600 ms before jkd counted it done.
#[test]
fn the_last_byte_of_an_announced_length_follows_the_end_of_the_response() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let text = "the whole body";
    let mut head_and_body = headers(200, Some(text.len()));
    head_and_body.extend(body(text.as_bytes()));
    let (port, _) = start_mock(
        &rt,
        vec![
            Act::Send(head_and_body),
            Act::Sleep(600),
            Act::Send(end(true)),
        ],
    );
    let j = jkd_for(port, "");
    let started = Instant::now();
    let r = get(&j).unwrap_or_else(|e| panic!("request: {e}\n{}", j.log()));
    assert_eq!((r.status, r.text().as_str()), (200, text));
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "the whole body arrived {:?} after the request, before the backend ended the response",
        started.elapsed()
    );
}

/// `use_server_errors=500` on a mount rule: Tomcat's 500 page (here three body
/// packets, so relayed rather than read whole) never reaches the client, jkd's own
/// short page does; the backend connection is still reused. Without the extension
/// Tomcat's body passes.
#[test]
fn use_server_errors_answers_with_jkds_own_page() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut script = headers(500, None);
    for _ in 0..3 {
        script.extend(body(&[b't'; 8000]));
    }
    script.extend(end(true));
    let (port, conns) = start_mock(&rt, vec![Act::Send(script)]);
    let dir =
        std::env::temp_dir().join(format!("jkd-mock-use-server-errors-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("dir");
    let workers = dir.join("workers.properties");
    fs::write(
        &workers,
        format!("worker.list=w\nworker.w.host=127.0.0.1\nworker.w.port={port}\n"),
    )
    .expect("write workers");
    let mounts = dir.join("uriworkermap.properties");
    fs::write(&mounts, "/own/*=w;use_server_errors=500\n/plain/*=w\n").expect("write mounts");
    let mounts_arg = mounts.to_string_lossy().into_owned();
    let j = jkd::start(&workers, &["--mounts", &mounts_arg]);
    for _ in 0..2 {
        let r = tomcat::http_get(j.port, "/own/x", &[], Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("request: {e}\n{}", j.log()));
        assert_eq!(r.status, 500);
        let text = r.text();
        assert!(
            text == "Internal Server Error\n",
            "not jkd's page: {} bytes starting {:?}",
            text.len(),
            text.chars().take(40).collect::<String>()
        );
    }
    let r = tomcat::http_get(j.port, "/plain/x", &[], Duration::from_secs(10)).expect("request");
    assert_eq!(r.status, 500);
    assert_eq!(r.body.len(), 24000);
    assert_eq!(
        conns.load(Ordering::SeqCst),
        1,
        "the replaced responses were read to their end and the connection reused"
    );
}

/// A node killed between its last body packet and END_RESPONSE: the announced body
/// arrived whole, so the client gets the whole answer (the chunk held until
/// END_RESPONSE is delivered, not dropped with the broken connection), the member
/// counts the failure, and the next request gets a new connection.
#[test]
fn a_whole_body_whose_end_response_never_comes_still_reaches_the_client() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let text = "node=node1 session=abc";
    let (port, connections) = start_mock(
        &rt,
        vec![
            // The head alone first, so that jkd relays instead of reading it whole.
            Act::Send(headers(200, Some(text.len()))),
            Act::Sleep(100),
            Act::Send(body(text.as_bytes())),
            Act::Sleep(100),
            Act::Close,
        ],
    );
    let j = jkd_for(port, "");
    let r = get(&j).unwrap_or_else(|e| panic!("request: {e}\n{}", j.log()));
    assert_eq!((r.status, r.text().as_str()), (200, text), "{}", j.log());
    let again = get(&j).unwrap_or_else(|e| panic!("second request: {e}\n{}", j.log()));
    assert_eq!(again.text(), text);
    assert_eq!(
        connections.load(Ordering::SeqCst),
        2,
        "the broken connection was reused"
    );
}

/// A node that dies right after its response head (seen in scenario 3's SIGKILL
/// under load: the client got the head of a 61-byte answer and none of it). For a GET
/// the head waits a moment for the body before it goes to the client, so the broken
/// connection costs a retry on the other member and the client gets a whole answer.
#[test]
fn a_get_whose_node_dies_after_its_head_is_answered_by_the_next_member() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (dying, _) = start_mock(
        &rt,
        vec![
            Act::Send(headers(200, Some(61))),
            Act::Sleep(20),
            Act::Close,
        ],
    );
    let (healthy, _) = start_mock(&rt, vec![Act::Send(ok_response("from b"))]);
    let dir = std::env::temp_dir().join(format!("jkd-mock-head-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("dir");
    let workers = dir.join("workers.properties");
    fs::write(
        &workers,
        format!(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\nworker.lb.mount=/*\n\
             worker.a.host=127.0.0.1\nworker.a.port={dying}\nworker.a.reply_timeout=5000\n\
             worker.b.host=127.0.0.1\nworker.b.port={healthy}\nworker.b.reply_timeout=5000\n"
        ),
    )
    .expect("write workers");
    let j = jkd::start(&workers, &[]);
    // Stuck to a, the member that dies after its head.
    let r = tomcat::http_get(
        j.port,
        "/x",
        &[("Cookie", "JSESSIONID=s.a")],
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("GET: {e}\n{}", j.log()));
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "from b"),
        "{}",
        j.log()
    );
    assert!(
        j.wait_log("request failed after the response head"),
        "{}",
        j.log()
    );
    let _ = fs::remove_dir_all(&dir);
}
