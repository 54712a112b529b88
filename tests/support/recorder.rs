//! A recording AJP backend for edge tests: reads requests and bodies as Tomcat does and records exactly what arrived on each connection (headers, body bytes, how the body ended).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ::jkd::ajp::frame::{decode_packet_to_container, message_type};
use ::jkd::ajp::request::{decode_body_chunk, decode_forward_request_lenient};
use ::jkd::ajp::response::{
    CPONG_PACKET, encode_end_response, encode_get_body_chunk, encode_send_body_chunk,
    encode_send_headers, max_send_body_chunk_len,
};
use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PACKET: usize = 8192;

/// How a request's body ended, as the backend saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyEnd {
    /// Every announced byte arrived (or, without a length, the empty end chunk came).
    Complete,
    /// The empty end-of-body packet came before the announced length: the body would
    /// reach the application cut, as if whole.
    EndedShort,
    /// The connection closed in the middle of the body (the application sees a read
    /// error).
    ConnectionClosed,
    /// Something that is not a body chunk came where body was expected.
    NotABodyChunk,
}

/// One FORWARD_REQUEST and what followed it.
#[derive(Clone)]
pub struct Recorded {
    /// Which accepted connection (0, 1, ...) carried it.
    pub connection: usize,
    pub method: String,
    pub uri: String,
    pub server_name: String,
    pub headers: Vec<(String, String)>,
    pub body_len: u64,
    pub body: Vec<u8>,
    pub end: BodyEnd,
}

impl std::fmt::Debug for Recorded {
    // The body is shown by its length only: a failing test must not print megabytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorded")
            .field("connection", &self.connection)
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("server_name", &self.server_name)
            .field("headers", &self.headers)
            .field("body_len", &self.body_len)
            .field("end", &self.end)
            .finish()
    }
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the backend answers.
#[derive(Clone, Copy, Debug)]
pub struct Answer {
    /// Wait this long after the body before answering.
    pub delay: Duration,
    /// Response body size (a pattern of bytes), sent in packet-sized chunks.
    pub size: usize,
}

impl Default for Answer {
    fn default() -> Self {
        Answer {
            delay: Duration::ZERO,
            size: 2,
        }
    }
}

/// The running backend.
pub struct Recorder {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    pub connections: Arc<AtomicUsize>,
    /// Connections that ended (closed by jkd or after an error).
    pub closed: Arc<AtomicUsize>,
    /// Response bytes written to jkd, over all connections.
    pub written: Arc<AtomicUsize>,
}

impl Recorder {
    pub fn start(rt: &tokio::runtime::Runtime, answer: Answer) -> Recorder {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind recorder");
        let port = listener.local_addr().expect("addr").port();
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let connections: Arc<AtomicUsize> = Arc::default();
        let closed: Arc<AtomicUsize> = Arc::default();
        let written: Arc<AtomicUsize> = Arc::default();
        let (r, c, d, w) = (
            requests.clone(),
            connections.clone(),
            closed.clone(),
            written.clone(),
        );
        rt.spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let n = c.fetch_add(1, Ordering::SeqCst);
                let (r, d, w) = (r.clone(), d.clone(), w.clone());
                tokio::spawn(async move {
                    serve(s, n, answer, &r, &w).await;
                    d.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Recorder {
            port,
            requests,
            connections,
            closed,
            written,
        }
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().clone()
    }
}

async fn read_packet(s: &mut TcpStream, buf: &mut BytesMut) -> Option<Vec<u8>> {
    loop {
        match decode_packet_to_container(buf, PACKET) {
            Ok(Some((payload, consumed))) => {
                let payload = payload.to_vec();
                let _ = buf.split_to(consumed);
                return Some(payload);
            }
            Ok(None) => {}
            Err(_) => return None,
        }
        match s.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn serve(
    mut s: TcpStream,
    connection: usize,
    answer: Answer,
    log: &Mutex<Vec<Recorded>>,
    written: &AtomicUsize,
) {
    let mut buf = BytesMut::new();
    loop {
        let Some(payload) = read_packet(&mut s, &mut buf).await else {
            return;
        };
        if payload.first() == Some(&message_type::CPING) {
            if s.write_all(&CPONG_PACKET).await.is_err() {
                return;
            }
            continue;
        }
        let Ok(req) = decode_forward_request_lenient(&payload) else {
            return;
        };
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let mut rec = Recorded {
            connection,
            method: text(req.method),
            uri: text(req.req_uri),
            server_name: text(req.server_name),
            headers: req
                .headers
                .iter()
                .map(|(n, v)| (text(n), text(v)))
                .collect(),
            body_len: 0,
            body: Vec::new(),
            end: BodyEnd::Complete,
        };
        let length: Option<u64> = rec.header("content-length").and_then(|v| v.parse().ok());
        let chunked = length.is_none()
            && rec
                .header("transfer-encoding")
                .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        // As Tomcat: the first chunk arrives unasked when a length is announced; then
        // ask until the length is reached (or, chunked, until the empty chunk).
        let mut expect = length.is_some_and(|l| l > 0) || chunked;
        let mut ask = length.is_none();
        while expect {
            if ask {
                let mut out = BytesMut::new();
                encode_get_body_chunk((PACKET - 6) as u16, &mut out);
                if s.write_all(&out).await.is_err() {
                    rec.end = BodyEnd::ConnectionClosed;
                    break;
                }
            }
            ask = true;
            let Some(chunk) = read_packet(&mut s, &mut buf).await else {
                rec.end = BodyEnd::ConnectionClosed;
                break;
            };
            let Ok(data) = decode_body_chunk(&chunk) else {
                rec.end = BodyEnd::NotABodyChunk;
                break;
            };
            if data.is_empty() {
                if length.is_some_and(|l| rec.body_len < l) {
                    rec.end = BodyEnd::EndedShort;
                }
                break;
            }
            rec.body_len += data.len() as u64;
            rec.body.extend_from_slice(data);
            expect = length.is_none_or(|l| rec.body_len < l);
        }
        let end = rec.end.clone();
        log.lock().push(rec);
        if end != BodyEnd::Complete {
            return;
        }
        tokio::time::sleep(answer.delay).await;
        let mut out = BytesMut::new();
        let len = answer.size.to_string();
        if encode_send_headers(
            200,
            Some(b"OK"),
            &[(b"Content-Length", len.as_bytes())],
            PACKET,
            &mut out,
        )
        .is_err()
        {
            return;
        }
        if s.write_all(&out).await.is_err() {
            return;
        }
        let piece = vec![b'x'; max_send_body_chunk_len(PACKET)];
        let mut left = answer.size;
        while left > 0 {
            let n = left.min(piece.len());
            out.clear();
            if encode_send_body_chunk(&piece[..n], PACKET, &mut out).is_err()
                || s.write_all(&out).await.is_err()
            {
                return;
            }
            written.fetch_add(n, Ordering::SeqCst);
            left -= n;
        }
        out.clear();
        encode_end_response(true, &mut out);
        if s.write_all(&out).await.is_err() {
            return;
        }
    }
}
