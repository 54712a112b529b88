//! WebSocket to the member the balancer picks: AJP cannot carry it, so the handshake goes over HTTP/1.1 to that member's HTTP connector (`http_port`, or a `type=http` member itself, through TLS when it has `tls=true`), and after its 101 the client and backend sockets are relayed both ways until either side closes.
//!
//! An HTTP/2 client opens its WebSocket with an extended CONNECT (RFC 8441) on a
//! stream of its connection; the member still gets the HTTP/1.1 handshake, and the
//! stream is relayed to its socket once jkd has answered `200`.
//!
//! The member is chosen exactly as for an AJP request (session route, activation,
//! states, distance; a member whose HTTP connector refuses the connection is marked
//! and the next one tried). The open WebSocket counts as busy on its member until it
//! ends. A member that is disabled keeps its open sockets (draining); one that is
//! stopped or falls into error has them closed, as has a jkd that is stopping.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::error::ProxyError;
use super::forward::{Attempt, Outbound, Plan};
use crate::balancer::Outcome;
use crate::config::mounts::MountRule;
use crate::config::values::Activation;
use crate::runtime::http_pool::RawStream;
use crate::runtime::{ConnInfo, Draining, ProxyBody, Target};

/// The most of a backend's handshake answer jkd reads.
const MAX_HEAD: usize = 16 * 1024;

/// How often an open WebSocket checks whether its member was stopped.
const MEMBER_CHECK: Duration = Duration::from_secs(1);
/// How long closing either side of an ended WebSocket may take.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// Whether a request opens a WebSocket: an HTTP/1.1 upgrade or an HTTP/2 extended
/// CONNECT.
pub fn is_websocket(parts: &http::request::Parts) -> bool {
    is_upgrade(parts) || is_extended_connect(parts)
}

/// Whether an HTTP/2 request is an extended CONNECT for a WebSocket (RFC 8441 §4):
/// `:method CONNECT` with `:protocol websocket`, which jkd allows in its SETTINGS.
pub fn is_extended_connect(parts: &http::request::Parts) -> bool {
    parts.method == http::Method::CONNECT
        && parts.version == http::Version::HTTP_2
        && parts
            .extensions
            .get::<hyper::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"))
}

/// Whether a request asks to become a WebSocket (RFC 6455 §4.1).
pub fn is_upgrade(parts: &http::request::Parts) -> bool {
    let has = |name: http::header::HeaderName, token: &str| {
        parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    parts.method == http::Method::GET
        && parts.version == http::Version::HTTP_11
        && has(http::header::UPGRADE, "websocket")
        && has(http::header::CONNECTION, "upgrade")
}

/// The backend side of an accepted WebSocket, handed from the request to the client
/// connection in the 101 response's extensions (never sent on the wire): the
/// connection relays once hyper has written the 101.
#[derive(Clone)]
pub struct Upgrade(Arc<parking_lot::Mutex<Option<Relay>>>);

impl Upgrade {
    pub fn take(&self) -> Option<Relay> {
        self.0.lock().take()
    }
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("early", &self.early.len())
            .finish_non_exhaustive()
    }
}

/// What the relay needs: the backend socket, bytes it sent after its 101, and the
/// attempt that keeps the member busy.
pub struct Relay {
    backend: RawStream,
    early: Bytes,
    attempt: Attempt,
    /// Whether the member has been stopped or is in error (its sockets close).
    member_gone: Box<dyn Fn() -> bool + Send + Sync>,
    draining: Arc<Draining>,
}

/// Opens the WebSocket on the chosen member: its answer to the handshake, a 101 with
/// the relay in its extensions, or the member's refusal as it is.
pub async fn forward(
    target: &Target,
    rule: &MountRule,
    out: &Outbound<'_>,
    parts: &http::request::Parts,
    conn: &ConnInfo,
    draining: Arc<Draining>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let Some(mut plan) = Plan::new(target, rule, out) else {
        return Err(ProxyError::Unsupported("not a worker that forwards"));
    };
    let h2 = is_extended_connect(parts);
    let request = handshake_request(parts, out, conn);
    while let Some(chosen) = plan.next().await {
        let settings = &chosen.member.settings;
        let Some((host, port)) = settings.http_endpoint() else {
            tracing::warn!(
                member = %chosen.member.name,
                "a WebSocket request, but worker.{}.http_port is not set: AJP cannot carry WebSocket",
                chosen.member.name
            );
            return Err(ProxyError::Unsupported(
                "WebSocket needs the member's HTTP connector (worker.NAME.http_port)",
            ));
        };
        let connected = match &chosen.member.http {
            // A `type=http` member: its pool's socket settings, TLS included.
            Some(pool) => pool.open_raw().await.map_err(|e| e.to_string()),
            None => connect_plain(host, port, settings.socket_connect_timeout).await,
        };
        let mut backend = match connected {
            Ok(s) => s,
            Err(why) => {
                plan.unreachable(&chosen, &format!("{host}:{port}: {why}"));
                continue;
            }
        };
        let attempt = plan.begin(&chosen);
        let reply = match settings.reply_timeout {
            t if t > 0 => Duration::from_millis(t as u64),
            _ => Duration::from_secs(60),
        };
        // Flushed: over TLS a write may leave the last record buffered.
        let sent = tokio::time::timeout(reply, async {
            backend.write_all(&request).await?;
            backend.flush().await
        })
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()));
        if let Err(e) = sent {
            tracing::warn!(member = %chosen.member.name, "WebSocket handshake not sent: {e}");
            plan.failed(attempt, Outcome::Failed, true);
            continue;
        }
        let (head, early) = match tokio::time::timeout(reply, read_head(&mut backend)).await {
            Ok(Ok(read)) => read,
            Ok(Err(why)) => {
                tracing::warn!(member = %chosen.member.name, "WebSocket handshake answer: {why}");
                // The handshake may have reached the application: not sent again.
                plan.failed(attempt, Outcome::ProtocolError, false);
                return Err(ProxyError::BadGateway(why));
            }
            Err(_) => {
                plan.failed(attempt, Outcome::ReplyTimeout, false);
                return Err(ProxyError::Timeout);
            }
        };
        let mut resp = response_of(&head)?;
        let accepted = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
        if h2 && accepted {
            over_http2(&mut resp);
        }
        if let Some(cookie) = &chosen.cookie {
            resp.headers_mut()
                .append(http::header::SET_COOKIE, cookie.clone());
        }
        if !accepted {
            // The application refused the WebSocket (403, 404, ...): its answer, whole
            // when it says how long it is.
            let body = refusal_body(&head, early, &mut backend).await;
            attempt.finish(Outcome::Success, 0);
            if h2 && !refusal_survives_http2(resp.status()) {
                // To an extended CONNECT any 2xx means "open": an application that
                // answered the handshake with a page did not open the WebSocket.
                tracing::info!(
                    member = %chosen.member.name,
                    "the application answered a WebSocket handshake with {} instead of 101",
                    resp.status()
                );
                return Err(ProxyError::BadGateway(format!(
                    "the application answered the WebSocket handshake with {}",
                    resp.status()
                )));
            }
            *resp.body_mut() = ProxyBody::full(body);
            return Ok(resp);
        }
        let member_gone = member_watch(target, &chosen.member.name);
        resp.extensions_mut()
            .insert(Upgrade(Arc::new(parking_lot::Mutex::new(Some(Relay {
                backend,
                early,
                attempt,
                member_gone,
                draining,
            })))));
        return Ok(resp);
    }
    Err(ProxyError::Unavailable)
}

/// A plain connection to an AJP member's HTTP connector (`http_port`).
async fn connect_plain(
    host: &str,
    port: u16,
    connect_timeout_ms: i32,
) -> Result<RawStream, String> {
    let limit = match connect_timeout_ms {
        t if t > 0 => Duration::from_millis(t as u64),
        _ => Duration::from_secs(10),
    };
    match tokio::time::timeout(limit, TcpStream::connect((host, port))).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(Box::new(s))
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("connect timed out".to_string()),
    }
}

/// Whether the member named `name` has been stopped or is in error.
fn member_watch(target: &Target, name: &str) -> Box<dyn Fn() -> bool + Send + Sync> {
    let Target::Lb(lb) = target else {
        return Box::new(|| false);
    };
    let balancer = lb.clone();
    let name = name.to_string();
    // Through reloads: the balancer in service now, the member by name (a member the
    // reload removed is gone too).
    Box::new(move || {
        let members = balancer.current().snapshot();
        members.iter().find(|m| m.name == name).is_none_or(|m| {
            m.activation == Activation::Stopped || m.state == crate::balancer::MemberState::Error
        })
    })
}

/// An accepted WebSocket as an HTTP/2 client is told (RFC 8441 §5): `200` instead of
/// `101`, without the HTTP/1.1 handshake's connection-specific headers (HTTP/2 forbids
/// them) and without `Sec-WebSocket-Accept`, which answered jkd's key, not the
/// client's (it sent none). Subprotocol and extensions stay.
fn over_http2(resp: &mut Response<ProxyBody>) {
    *resp.status_mut() = StatusCode::OK;
    let headers = resp.headers_mut();
    for name in [
        http::header::CONNECTION,
        http::header::UPGRADE,
        http::header::SEC_WEBSOCKET_ACCEPT,
        http::header::HeaderName::from_static("keep-alive"),
        http::header::HeaderName::from_static("proxy-connection"),
        http::header::TRANSFER_ENCODING,
    ] {
        headers.remove(name);
    }
}

/// A fresh `Sec-WebSocket-Key` (RFC 6455 §4.1: 16 random bytes, base64) for the
/// HTTP/1.1 handshake jkd makes on behalf of an HTTP/2 client, which has none.
fn handshake_key() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 16];
    // Only a nonce against caching intermediaries, not a secret: a failed read leaves
    // zeros, which the member accepts as well.
    let _ = getrandom::fill(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The handshake as the member's HTTP connector gets it: the client's request line and
/// headers (Upgrade and Connection included), plus who the client is. An HTTP/2
/// extended CONNECT becomes the HTTP/1.1 handshake it stands for (RFC 8441 §5): a GET
/// with `Host` from `:authority`, `Upgrade: websocket` and a key of jkd's.
fn handshake_request(parts: &http::request::Parts, out: &Outbound<'_>, conn: &ConnInfo) -> Vec<u8> {
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut head = Vec::with_capacity(1024);
    head.extend_from_slice(b"GET ");
    head.extend_from_slice(target.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    let host = parts
        .headers
        .get(http::header::HOST)
        .map(HeaderValue::as_bytes)
        .or_else(|| parts.uri.authority().map(|a| a.as_str().as_bytes()));
    if is_extended_connect(parts) {
        if let Some(host) = host {
            head.extend_from_slice(b"Host: ");
            head.extend_from_slice(host);
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"Upgrade: websocket\r\nSec-WebSocket-Key: ");
        head.extend_from_slice(handshake_key().as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    let mut forwarded_for: Option<&[u8]> = None;
    for (name, value) in &parts.headers {
        match name.as_str() {
            // Written below, once, from what jkd knows.
            "x-forwarded-proto" | "x-forwarded-host" | "connection" => continue,
            // Written above for an HTTP/2 client (which sends neither).
            "host" | "upgrade" | "sec-websocket-key" if is_extended_connect(parts) => continue,
            "x-forwarded-for" if forwarded_for.is_none() => {
                forwarded_for = Some(value.as_bytes());
                continue;
            }
            "x-forwarded-for" => continue,
            _ => {}
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    // As nginx's $proxy_add_x_forwarded_for: the chain the client brought, then the
    // peer; the application's own proxy rules decide which entries to believe.
    head.extend_from_slice(b"Connection: Upgrade\r\nX-Forwarded-For: ");
    if let Some(earlier) = forwarded_for {
        head.extend_from_slice(earlier);
        head.extend_from_slice(b", ");
    }
    head.extend_from_slice(conn.peer.ip().to_string().as_bytes());
    head.extend_from_slice(b"\r\nX-Forwarded-Proto: ");
    head.extend_from_slice(if out.is_ssl() { b"https" } else { b"http" });
    if let Some(host) = host {
        head.extend_from_slice(b"\r\nX-Forwarded-Host: ");
        head.extend_from_slice(host);
    }
    head.extend_from_slice(b"\r\n\r\n");
    head
}

/// Reads the backend's answer head; returns it and any bytes that followed it.
async fn read_head(backend: &mut RawStream) -> Result<(Vec<u8>, Bytes), String> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if let Some(end) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf.to_vec(), rest.freeze()));
        }
        if buf.len() >= MAX_HEAD {
            return Err(format!("an answer head longer than {MAX_HEAD} bytes"));
        }
        let n = backend
            .read_buf(&mut buf)
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            return Err("the backend closed the connection before answering".to_string());
        }
    }
}

/// The client's response from the backend's head.
fn response_of(head: &[u8]) -> Result<Response<ProxyBody>, ProxyError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => {
            return Err(ProxyError::BadGateway(
                "the backend's answer to the WebSocket handshake is not HTTP".to_string(),
            ));
        }
    }
    let status = parsed
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| ProxyError::BadGateway("no status in the backend's answer".to_string()))?;
    let mut resp = Response::new(ProxyBody::full(Bytes::new()));
    *resp.status_mut() = status;
    for h in parsed.headers.iter() {
        let name = match http::header::HeaderName::from_bytes(h.name.as_bytes()) {
            Ok(n) => n,
            Err(_) => continue,
        };
        // hyper frames what it sends itself.
        if name == http::header::CONTENT_LENGTH || name == http::header::TRANSFER_ENCODING {
            continue;
        }
        if let Ok(v) = HeaderValue::from_bytes(h.value) {
            resp.headers_mut().append(name, v);
        }
    }
    Ok(resp)
}

/// The body of a refused handshake: as long as its Content-Length says (at most 64
/// KiB), else none.
async fn refusal_body(head: &[u8], early: Bytes, backend: &mut RawStream) -> Bytes {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    let _ = parsed.parse(head);
    let length = parsed
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(64 * 1024);
    let mut body = BytesMut::from(&early[..early.len().min(length)]);
    while body.len() < length {
        match tokio::time::timeout(Duration::from_secs(10), backend.read_buf(&mut body)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
    }
    body.truncate(length);
    body.freeze()
}

/// Whether a refusal can go to an HTTP/2 client as it is: a 1xx or 2xx answer to an
/// extended CONNECT would tell the client its WebSocket is open.
fn refusal_survives_http2(status: StatusCode) -> bool {
    !(status.is_informational() || status.is_success())
}

/// Closes both sides with FINs, not resets, so each reads an orderly end. Over TLS
/// a shutdown first writes what is buffered and a close_notify: a peer that stopped
/// reading gets `within` for each side, then the sockets are dropped all the same
/// (the relay's attempt, and so the member's busy count, must end).
async fn close_both<B, C>(backend: &mut B, client: &mut C, within: Duration)
where
    B: AsyncWrite + Unpin + ?Sized,
    C: AsyncWrite + Unpin + ?Sized,
{
    let _ = tokio::time::timeout(within, backend.shutdown()).await;
    let _ = tokio::time::timeout(within, client.shutdown()).await;
}

/// Relays an accepted WebSocket between the client connection and the backend until
/// either side closes, the member is stopped or falls into error, or jkd stops.
pub async fn relay<C: AsyncRead + AsyncWrite + Unpin>(client: &mut C, relay: Relay) {
    let Relay {
        mut backend,
        early,
        attempt,
        member_gone,
        draining,
    } = relay;
    let mut sent_early = true;
    if !early.is_empty() {
        sent_early = client.write_all(&early).await.is_ok();
    }
    let mut ticks = tokio::time::interval(MEMBER_CHECK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut traffic = (0u64, 0u64);
    let ended = if sent_early {
        let copy = tokio::io::copy_bidirectional(client, &mut backend);
        tokio::pin!(copy);
        loop {
            tokio::select! {
                done = &mut copy => {
                    if let Ok(t) = &done {
                        traffic = *t;
                    }
                    break done.map(|_| "closed").unwrap_or("broken");
                }
                _ = ticks.tick() => {
                    if member_gone() {
                        break "member stopped";
                    }
                }
                () = draining.wait() => break "jkd stopping",
            }
        }
    } else {
        "broken"
    };
    close_both(&mut backend, client, CLOSE_WITHIN).await;
    tracing::debug!(
        "WebSocket ended ({ended}): {} bytes to the backend, {} to the client",
        traffic.0,
        traffic.1
    );
    attempt.finish(Outcome::Success, traffic.0 + traffic.1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A peer whose close never completes (a TLS peer that stopped reading).
    struct Stuck;

    impl AsyncWrite for Stuck {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Poll::Pending
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Pending
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Pending
        }
    }

    #[test]
    fn only_a_failure_status_tells_an_http2_client_its_websocket_was_refused() {
        assert!(!refusal_survives_http2(StatusCode::OK));
        assert!(!refusal_survives_http2(StatusCode::NO_CONTENT));
        assert!(!refusal_survives_http2(StatusCode::CONTINUE));
        assert!(refusal_survives_http2(StatusCode::FORBIDDEN));
        assert!(refusal_survives_http2(StatusCode::FOUND));
        assert!(refusal_survives_http2(StatusCode::SERVICE_UNAVAILABLE));
    }

    #[tokio::test]
    async fn closing_an_ended_websocket_does_not_wait_for_a_peer_that_stopped_reading() {
        let within = Duration::from_millis(50);
        let closed = tokio::time::timeout(
            Duration::from_secs(5),
            close_both(&mut Stuck, &mut Stuck, within),
        )
        .await;
        assert!(closed.is_ok(), "the close waited for the stuck peers");
    }
}
