//! The built-in AJP13 demo node: a tiny container that answers with its name, a session counter and an echo page; `jkd demo` runs three of them, tests and benchmarks use it as a fast backend.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::ajp::frame::decode_packet_to_container;
use crate::ajp::request::{decode_body_chunk, decode_forward_request_lenient};
use crate::ajp::response::{
    CPONG_PACKET, encode_end_response, encode_get_body_chunk, encode_send_body_chunk,
    encode_send_headers, max_send_body_chunk_len,
};

const PACKET_SIZE: usize = 8192;

/// The example configuration `jkd demo` runs (the file at the top of the repository).
pub const EXAMPLE_WORKERS: &str = include_str!("../../workers.properties.example");

/// The example configuration with every member of its balancer pointed at the given
/// local ports, in member order.
pub fn example_with_ports(ports: &[u16]) -> String {
    let mut text = String::from(EXAMPLE_WORKERS);
    for (i, port) in ports.iter().enumerate() {
        let _ = write!(
            text,
            "\nworker.node{n}.host=127.0.0.1\nworker.node{n}.port={port}\n",
            n = i + 1
        );
    }
    text
}

/// The echo page's lines after the request line: headers, body length, TLS facts.
fn echo_details(headers: &[(String, String)], body_len: u64, tls: &str) -> String {
    let mut t = String::new();
    for (n, v) in headers {
        let _ = writeln!(t, "header: {n}: {v}");
    }
    let _ = writeln!(t, "body-length: {body_len}");
    t.push_str(tls);
    t
}

/// What the echo page shows of how the client reached the front end: the AJP
/// `is_ssl` flag, server port and the SSL attributes mod_jk sends (certificate PEM
/// with its line breaks written as `\n`).
fn tls_lines(req: &crate::ajp::request::ForwardRequest<'_>) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).replace('\n', "\\n");
    let a = &req.attributes;
    let mut t = String::new();
    let _ = writeln!(t, "remote-addr: {}", text(req.remote_addr));
    let _ = writeln!(t, "secure: {}", req.is_ssl);
    let _ = writeln!(t, "server-port: {}", req.server_port);
    let optional = [
        ("ssl-protocol", a.ssl_protocol),
        ("ssl-cipher", a.ssl_cipher),
        ("ssl-session", a.ssl_session),
        ("ssl-cert", a.ssl_cert),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            let _ = writeln!(t, "{name}: {}", text(v));
        }
    }
    if let Some(bits) = a.ssl_key_size {
        let _ = writeln!(t, "ssl-key-size: {bits}");
    }
    t
}

/// One demo node: its route and its sessions.
#[derive(Debug)]
pub struct DemoNode {
    pub route: String,
    sessions: Mutex<HashMap<String, u64>>,
    next_session: AtomicU64,
    pub requests: AtomicU64,
}

impl DemoNode {
    pub fn new(route: &str) -> Arc<DemoNode> {
        Arc::new(DemoNode {
            route: route.to_string(),
            sessions: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            requests: AtomicU64::new(0),
        })
    }

    /// Accepts AJP connections until the listener fails.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        while let Ok((stream, _)) = listener.accept().await {
            let node = self.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                if let Err(e) = node.connection(stream).await {
                    tracing::debug!(node = %node.route, "demo connection ended: {e}");
                }
            });
        }
    }

    async fn read_packet(
        stream: &mut TcpStream,
        buf: &mut BytesMut,
    ) -> std::io::Result<Option<BytesMut>> {
        loop {
            match decode_packet_to_container(buf, PACKET_SIZE) {
                Ok(Some((payload, consumed))) => {
                    let len = payload.len();
                    let mut packet = buf.split_to(consumed);
                    let _ = packet.split_to(4);
                    packet.truncate(len);
                    return Ok(Some(packet));
                }
                Ok(None) => {}
                Err(e) => return Err(std::io::Error::other(e.to_string())),
            }
            if stream.read_buf(buf).await? == 0 {
                return Ok(None);
            }
        }
    }

    async fn connection(&self, mut stream: TcpStream) -> std::io::Result<()> {
        let mut buf = BytesMut::with_capacity(PACKET_SIZE);
        let mut out = BytesMut::with_capacity(PACKET_SIZE);
        while let Some(payload) = Self::read_packet(&mut stream, &mut buf).await? {
            if payload.first() == Some(&crate::ajp::frame::message_type::CPING) {
                stream.write_all(&CPONG_PACKET).await?;
                continue;
            }
            let req = decode_forward_request_lenient(&payload)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let header = |name: &str| {
                req.headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
                    .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            };
            let length: Option<u64> = header("content-length").and_then(|v| v.trim().parse().ok());
            let method = String::from_utf8_lossy(req.method).into_owned();
            let uri = String::from_utf8_lossy(req.req_uri).into_owned();
            let query = req
                .attributes
                .query_string
                .map(|q| String::from_utf8_lossy(q).into_owned());
            let cookie = header("cookie");
            let headers: Vec<(String, String)> = req
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        String::from_utf8_lossy(n).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    )
                })
                .collect();
            // Read the request body as Tomcat does: the first chunk arrives unasked
            // when the length is known; then ask until the end.
            let mut body_len: u64 = 0;
            let mut expect_more = length != Some(0);
            if length.is_some_and(|l| l > 0) {
                let Some(chunk) = Self::read_packet(&mut stream, &mut buf).await? else {
                    return Ok(());
                };
                let data =
                    decode_body_chunk(&chunk).map_err(|e| std::io::Error::other(e.to_string()))?;
                body_len += data.len() as u64;
                expect_more = !data.is_empty() && length.is_some_and(|l| body_len < l);
            }
            while expect_more {
                out.clear();
                encode_get_body_chunk((PACKET_SIZE - 6) as u16, &mut out);
                stream.write_all(&out).await?;
                let Some(chunk) = Self::read_packet(&mut stream, &mut buf).await? else {
                    return Ok(());
                };
                let data =
                    decode_body_chunk(&chunk).map_err(|e| std::io::Error::other(e.to_string()))?;
                body_len += data.len() as u64;
                expect_more = !data.is_empty() && length.is_none_or(|l| body_len < l);
            }
            // Only the echo page shows them (the demo nodes also serve benchmarks).
            let details = if uri.starts_with("/echo") {
                echo_details(&headers, body_len, &tls_lines(&req))
            } else {
                String::new()
            };
            let (status, content_type, set_cookie, text) =
                self.answer(&method, &uri, query.as_deref(), cookie.as_deref(), &details);
            out.clear();
            let len = text.len().to_string();
            let mut resp_headers: Vec<(&[u8], &[u8])> = vec![
                (b"Content-Type", content_type.as_bytes()),
                (b"Content-Length", len.as_bytes()),
            ];
            if let Some(c) = &set_cookie {
                resp_headers.push((b"Set-Cookie", c.as_bytes()));
            }
            let status_text = status.to_string();
            encode_send_headers(
                status,
                Some(status_text.as_bytes()),
                &resp_headers,
                PACKET_SIZE,
                &mut out,
            )
            .map_err(|e| std::io::Error::other(e.to_string()))?;
            if method != "HEAD" {
                for piece in text.as_bytes().chunks(max_send_body_chunk_len(PACKET_SIZE)) {
                    encode_send_body_chunk(piece, PACKET_SIZE, &mut out)
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                }
            }
            encode_end_response(true, &mut out);
            stream.write_all(&out).await?;
        }
        Ok(())
    }

    /// The page for one request: `(status, content type, Set-Cookie, body)`.
    fn answer(
        &self,
        method: &str,
        uri: &str,
        query: Option<&str>,
        cookie: Option<&str>,
        details: &str,
    ) -> (u16, &'static str, Option<String>, String) {
        if uri.starts_with("/echo") {
            let mut t = String::new();
            let _ = writeln!(t, "node: {}", self.route);
            let _ = writeln!(t, "method: {method}");
            let _ = writeln!(t, "uri: {uri}");
            let _ = writeln!(t, "query: {}", query.unwrap_or(""));
            t.push_str(details);
            return (200, "text/plain; charset=utf-8", None, t);
        }
        // The session: a JSESSIONID ending in this node's route, as Tomcat with
        // jvmRoute would set it.
        let existing = cookie.and_then(|c| {
            c.split(';')
                .filter_map(|p| p.trim().strip_prefix("JSESSIONID="))
                .find(|id| id.ends_with(&format!(".{}", self.route)))
                .map(str::to_string)
        });
        let mut sessions = self.sessions.lock();
        let (id, fresh) = match existing.filter(|id| sessions.contains_key(id)) {
            Some(id) => (id, false),
            None => {
                let n = self.next_session.fetch_add(1, Ordering::Relaxed);
                (format!("{:016X}.{}", n, self.route), true)
            }
        };
        let count = sessions.entry(id.clone()).or_insert(0);
        *count += 1;
        let count = *count;
        drop(sessions);
        let set_cookie = fresh.then(|| format!("JSESSIONID={id}; Path=/; HttpOnly"));
        if uri.starts_with("/session") {
            let t = format!("node={} count={count} id={id}\n", self.route);
            return (200, "text/plain; charset=utf-8", set_cookie, t);
        }
        let page = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>jkd demo: {route}</title></head>\n\
             <body style=\"font-family: sans-serif\">\n<h1>Served by {route}</h1>\n\
             <p>Requests in this session: <b>{count}</b> (session <code>{id}</code>).</p>\n\
             <p>Reload: the session sticks to {route} through its <code>.{route}</code> suffix. \
             Open a private window for a new session on another node.</p>\n\
             <p><a href=\"/jkmanager/\">Status manager</a> &middot; <a href=\"/echo/demo\">echo</a></p>\n\
             </body></html>\n",
            route = self.route
        );
        (200, "text/html; charset=utf-8", set_cookie, page)
    }
}
