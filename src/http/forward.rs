//! Forwarding one HTTP request: to an ajp13 (or jkd's `type=http`) worker directly or through a balancer, with mod_jk's request shaping and jkd's safe-retry rule.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Version};
use tokio::sync::mpsc;

use super::body::IncomingSource;
use super::error::ProxyError;
use crate::ajp::conn::ConnError;
use crate::ajp::exchange::{self, Failure, FailureKind, Head, RequestBody, Stage};
use crate::ajp::pool::{AcquireError, Lease, Timeouts};
use crate::ajp::request::{
    ForwardRequest, LbActivation, RequestAttributes, encode_forward_request, max_body_chunk_len,
};
use crate::balancer::{self, Choice, MemberCounters, Outcome, Report, RequestOptions, Step};
use crate::config::mounts::{MountRule, split_members};
use crate::config::tls::SslForwarding;
use crate::config::uri;
use crate::config::values::Activation;
use crate::config::workers::AjpSettings;
use crate::runtime::body::ChannelBody;
use crate::runtime::client::requested_server_of;
use crate::runtime::{AjpWorker, ConnInfo, LbMember, LbWorker, ProxyBody, Target};
use crate::tls::TlsFacts;
use ipnet::IpNet;

/// The client address: the TCP peer, or, when the peer is a trusted proxy, the last
/// address in `X-Forwarded-For` that is not itself a trusted proxy. Anyone else's
/// `X-Forwarded-For` is ignored, so a client cannot spoof its address.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    if !is_trusted(trusted, peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    hops.iter()
        .rev()
        .find(|a| !is_trusted(trusted, **a))
        .or(hops.first())
        .copied()
        .unwrap_or(peer)
}

/// Whether `addr` is one of the `--trusted-proxy` addresses or ranges.
pub fn is_trusted(trusted: &[IpNet], addr: IpAddr) -> bool {
    trusted.iter().any(|net| net.contains(&addr))
}

/// How the client reached the proxy in front of jkd, as a trusted proxy says:
/// `X-Forwarded-Proto` (else `Forwarded: proto=`) and `X-Forwarded-Port`. `None` when
/// the peer is not trusted or says nothing. The first value is the client's own hop.
fn forwarded_scheme(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[IpNet],
) -> Option<(bool, Option<u16>)> {
    if !is_trusted(trusted, peer) {
        return None;
    }
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
    };
    let proto = first("x-forwarded-proto").map(str::to_string).or_else(|| {
        first("forwarded").and_then(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("proto")
                    .then(|| value.trim().trim_matches('"').to_string())
            })
        })
    })?;
    let secure = proto.eq_ignore_ascii_case("https") || proto.eq_ignore_ascii_case("wss");
    let port = first("x-forwarded-port").and_then(|p| p.parse().ok());
    Some((secure, port))
}

/// Short text formatted on the stack (addresses and ports): the request path
/// formats three of them per request, and a `String` each would be an allocation.
#[derive(Clone, Copy)]
struct ShortText {
    bytes: [u8; 48],
    len: usize,
}

impl ShortText {
    fn of(value: impl std::fmt::Display) -> ShortText {
        use std::fmt::Write;
        let mut t = ShortText {
            bytes: [0; 48],
            len: 0,
        };
        // An IPv6 address is at most 45 characters: it always fits.
        let _ = write!(t, "{value}");
        t
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl std::fmt::Write for ShortText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The request in the shape mod_jk forwards it, borrowing from the request.
pub struct Outbound<'a> {
    method: &'a Method,
    protocol: &'static [u8],
    uri: std::borrow::Cow<'a, str>,
    query: Option<&'a str>,
    remote_addr: ShortText,
    remote_port: ShortText,
    local_addr: ShortText,
    server_name: std::borrow::Cow<'a, str>,
    server_port: u16,
    /// The client reached jkd (or the trusted proxy before it) over TLS.
    is_ssl: bool,
    /// The TLS facts forwarded to the backend (mod_jk's SSL attributes).
    tls: Option<Arc<TlsFacts>>,
    ssl_forwarding: SslForwarding,
    headers: Vec<(&'a [u8], &'a [u8])>,
    /// Content-Length, `None` for chunked.
    pub length: Option<u64>,
    /// The raw path as received (session path parameters are read from it).
    pub raw_path: &'a str,
    cookies: Vec<&'a str>,
    /// The request as received, for an HTTP member (which gets it as HTTP).
    parts: &'a http::request::Parts,
    /// The TCP peer and whether the client came over TLS (its own or a trusted
    /// proxy's), for an HTTP member's `X-Forwarded-*`.
    forwarded: super::upstream::Forwarded,
}

/// Headers that belong to one connection and are not forwarded.
pub(super) fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "proxy-connection" | "te" | "trailer" | "upgrade"
    )
}

impl<'a> Outbound<'a> {
    /// `body_without_length`: the request has a body whose length the client did not
    /// announce and that is not chunked (an HTTP/2 stream with DATA frames and no
    /// content-length).
    pub fn new(
        parts: &'a http::request::Parts,
        conn: &ConnInfo,
        trusted: &[IpNet],
        ssl_forwarding: SslForwarding,
        body_without_length: bool,
        original: Option<&'a super::client::OriginalHeaderNames>,
    ) -> Self {
        let raw_path = parts.uri.path();
        let uri = if uri::is_plain_path(raw_path.as_bytes()) {
            std::borrow::Cow::Borrowed(raw_path)
        } else {
            let decoded =
                uri::decode_path(raw_path).unwrap_or_else(|_| raw_path.as_bytes().to_vec());
            std::borrow::Cow::Owned(uri::canon_encode(&decoded))
        };
        // Read as check_head reads it: hyper takes `,chunked` as chunked, and so must the
        // framing Tomcat is told.
        let chunked =
            super::transfer_codings(&parts.headers).any(|c| c.eq_ignore_ascii_case(b"chunked"));
        let length = if chunked {
            None
        } else {
            Some(
                parts
                    .headers
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(0),
            )
        };
        let connection_listed: Vec<String> = parts
            .headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
            .collect();
        // An absolute-form request-target's authority (HTTP/1.1) or :authority (HTTP/2)
        // names the host; a Host header beside it is not forwarded (RFC 9112 §3.2.2).
        let authority = parts.uri.authority().map(|a| a.as_str());
        let mut headers: Vec<(&[u8], &[u8])> = Vec::with_capacity(parts.headers.len() + 1);
        let mut length_sent = false;
        let mut speller = super::client::Speller::new(original);
        for (name, value) in &parts.headers {
            // Asked for every header, forwarded or not, so that the speller keeps in
            // step with the client's order.
            let spelled = speller.spell(name.as_str());
            if hop_by_hop(name) {
                continue;
            }
            if *name == http::header::CONTENT_LENGTH {
                // How the body is framed on the AJP connection is jkd's decision alone:
                // the content-length Tomcat reads is the one `length` holds, once, and
                // no client header (a `Connection` list included) removes it. mod_jk
                // drops it for chunked requests.
                if !chunked && !length_sent {
                    length_sent = true;
                    headers.push((b"content-length", value.as_bytes()));
                }
                continue;
            }
            if *name == http::header::HOST && authority.is_some() {
                continue;
            }
            // Transfer-Encoding and Host say how the request is framed and whom it is
            // for: a Connection list cannot take them away either.
            let framing = *name == http::header::TRANSFER_ENCODING || *name == http::header::HOST;
            if !framing && connection_listed.iter().any(|c| c == name.as_str()) {
                continue;
            }
            // The client's spelling, as mod_jk forwards it (servlets that compare
            // names case-sensitively see what the browser sent).
            headers.push((spelled, value.as_bytes()));
        }
        let length = match length {
            // HTTP/2 (and HTTP/3) may send a body without content-length: Tomcat then
            // reads it as it reads a chunked one, asking until the empty chunk.
            Some(0) if !length_sent && body_without_length => None,
            other => other,
        };
        // mod_jk adds `content-length: 0` to every request without a body.
        if length == Some(0) && !length_sent {
            headers.push((b"content-length", b"0"));
        }
        // HTTP/2 carries the host in :authority, HTTP/1.1's absolute form in the
        // request-target; Tomcat wants a Host header.
        if let Some(auth) = authority {
            headers.push((b"host", auth.as_bytes()));
        }
        let (server_name, mut server_port) = requested_server_of(parts, conn);
        let mut is_ssl = conn.tls.is_some();
        if let Some((secure, port)) = forwarded_scheme(conn.peer.ip(), &parts.headers, trusted) {
            is_ssl |= secure;
            // The port the client used at the proxy: told, else its Host's, else the
            // scheme's.
            let host_port = parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| crate::config::uri::split_host_port(h).1);
            server_port = port.or(host_port).unwrap_or(if secure { 443 } else { 80 });
        }
        let cookies = parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Outbound {
            method: &parts.method,
            protocol: match parts.version {
                Version::HTTP_2 => b"HTTP/2.0",
                Version::HTTP_10 => b"HTTP/1.0",
                _ => b"HTTP/1.1",
            },
            uri,
            query: parts.uri.query(),
            remote_addr: ShortText::of(client_addr(conn.peer.ip(), &parts.headers, trusted)),
            remote_port: ShortText::of(conn.peer.port()),
            local_addr: ShortText::of(conn.local.ip()),
            server_name,
            server_port,
            is_ssl: is_ssl && ssl_forwarding.extract,
            forwarded: super::upstream::Forwarded {
                peer: conn.peer.ip(),
                secure: is_ssl,
            },
            parts,
            tls: conn.tls.clone().filter(|_| ssl_forwarding.extract),
            ssl_forwarding,
            headers,
            length,
            raw_path,
            cookies,
        }
    }

    /// The FORWARD_REQUEST packet for one attempt.
    fn encode(
        &self,
        settings: &AjpSettings,
        route: Option<&str>,
        activation: Activation,
    ) -> Result<BytesMut, ProxyError> {
        let tls = self.tls.as_deref();
        // mod_jk sends the client's chain after its certificate only when asked
        // (`JkOptions +ForwardSSLCertChain`).
        let with_chain: Option<String> = tls
            .filter(|t| self.ssl_forwarding.cert_chain && !t.client_chain.is_empty())
            .and_then(|t| {
                let mut all = t.client_cert.clone()?;
                t.client_chain.iter().for_each(|c| all.push_str(c));
                Some(all)
            });
        let ssl_cert = with_chain
            .as_deref()
            .or_else(|| tls.and_then(|t| t.client_cert.as_deref()));
        let request = ForwardRequest {
            method: self.method.as_str().as_bytes(),
            protocol: self.protocol,
            req_uri: self.uri.as_bytes(),
            remote_addr: self.remote_addr.as_bytes(),
            remote_host: None,
            server_name: self.server_name.as_bytes(),
            server_port: self.server_port,
            is_ssl: self.is_ssl,
            headers: self.headers.clone(),
            attributes: RequestAttributes {
                secret: settings.secret.as_deref().map(str::as_bytes),
                query_string: self.query.map(str::as_bytes),
                route: route.map(str::as_bytes),
                remote_port: self.remote_port.as_bytes(),
                local_addr: self.local_addr.as_bytes(),
                ssl_cert: ssl_cert.map(str::as_bytes),
                ssl_cipher: tls.map(|t| t.cipher.as_bytes()),
                ssl_session: tls.map(|t| t.session_id.as_bytes()),
                ssl_key_size: tls
                    .filter(|_| self.ssl_forwarding.key_size)
                    .map(|t| t.key_bits),
                ssl_protocol: tls.map(|t| t.protocol.as_bytes()),
                lb_activation: match activation {
                    Activation::Active => LbActivation::Active,
                    Activation::Disabled => LbActivation::Disabled,
                    Activation::Stopped => LbActivation::Stopped,
                },
                ..Default::default()
            },
        };
        let mut out = BytesMut::with_capacity(1024);
        encode_forward_request(&request, settings.max_packet_size as usize, &mut out).map_err(|e| {
            ProxyError::TooLarge(format!(
                "{e}; raise max_packet_size of the worker together with packetSize of Tomcat's AJP connector"
            ))
        })?;
        Ok(out)
    }

    /// Whether the client reached jkd (or the trusted proxy before it) over TLS.
    pub(super) fn is_ssl(&self) -> bool {
        self.is_ssl
    }

    /// The request an HTTP member gets, without its body.
    fn upstream_request(&self) -> http::request::Parts {
        let mut head = http::Request::new(());
        *head.method_mut() = self.method.clone();
        let target = self.parts.uri.path_and_query().map_or("/", |p| p.as_str());
        *head.uri_mut() =
            http::Uri::try_from(target).unwrap_or_else(|_| http::Uri::from_static("/"));
        *head.headers_mut() =
            super::upstream::upstream_headers(self.parts, self.forwarded, self.length);
        head.into_parts().0
    }

    fn idempotent(&self) -> bool {
        matches!(
            *self.method,
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::TRACE
                | Method::PUT
                | Method::DELETE
        )
    }
}

/// The FORWARD_REQUEST jkd sends for `parts` as a first attempt to a worker with
/// `settings`, and the body's framing length (`None`: chunked): the request side
/// without a network, so the fuzz target can check what Tomcat would be told.
pub fn forward_request_for(
    parts: &http::request::Parts,
    conn: ConnInfo,
    settings: &AjpSettings,
    route: Option<&str>,
) -> Result<(BytesMut, Option<u64>), ProxyError> {
    let out = Outbound::new(parts, &conn, &[], SslForwarding::default(), false, None);
    let packet = out.encode(settings, route, Activation::Active)?;
    Ok((packet, out.length))
}

/// jkd's retry rule: another attempt is allowed only while it cannot duplicate the
/// request. mod_jk also resends POSTs after a reply timeout and even after the
/// headers reached the client; jkd does not. `recovery_options` bit 1 forbids a
/// retry once the request was sent, bits 8 and 16 allow HEAD and GET then anyway,
/// as in mod_jk.
pub fn may_retry(
    stage: Stage,
    idempotent: bool,
    method: &Method,
    recovery_options: u32,
    replayable: bool,
) -> bool {
    match stage {
        Stage::NotSent => true,
        Stage::Sent => {
            if !replayable {
                return false;
            }
            if recovery_options & 1 != 0 {
                if recovery_options & 8 != 0 {
                    return *method == Method::HEAD;
                }
                return recovery_options & 16 != 0 && *method == Method::GET;
            }
            idempotent
        }
        Stage::BodyStreamed | Stage::Head | Stage::BodyRelayed => false,
    }
}

fn outcome_of(f: &Failure) -> Outcome {
    match &f.kind {
        FailureKind::Client(_) | FailureKind::ClientGone => Outcome::ClientError,
        FailureKind::Backend(e) => match e {
            ConnError::Timeout => Outcome::ReplyTimeout,
            ConnError::Protocol(_) => Outcome::ProtocolError,
            ConnError::Connect(_) | ConnError::ConnectTimeout => Outcome::ConnectFailed,
            _ => Outcome::Failed,
        },
    }
}

/// The one place a failed exchange is judged: the member is told, and the answer says
/// whether the request may go to another member (`may_retry`, mod_jk's recoverable
/// check). `replayable`: whether the request body can be sent again; `None` when it
/// is gone (nothing can be resent). `what` opens the log line.
fn judge_failure(
    plan: &mut Plan,
    attempt: Attempt,
    member: &AjpWorker,
    out: &Outbound<'_>,
    replayable: Option<bool>,
    f: &Failure,
    what: &str,
) -> bool {
    let outcome = outcome_of(f);
    let again = outcome != Outcome::ClientError
        && replayable.is_some_and(|replayable| {
            may_retry(
                f.stage,
                out.idempotent(),
                out.method,
                member.settings.recovery_options,
                replayable,
            )
        });
    tracing::warn!(lb = plan.balancer_name(), member = %member.name, retry = again, "{what}: {f}");
    plan.failed(attempt, outcome, again);
    again
}

/// The route of a `Set-Cookie` value that sets the session cookie `name`: `Some(None)`
/// for a session id without one, `None` when the header sets another cookie or
/// deletes this one. The route follows the id's first dot, as mod_jk reads it.
fn session_route<'a>(set_cookie: &'a [u8], name: &str) -> Option<Option<&'a str>> {
    let text = std::str::from_utf8(set_cookie).ok()?;
    let pair = text.split(';').next()?;
    let (n, value) = pair.split_once('=')?;
    if n.trim() != name {
        return None;
    }
    let value = value.trim().trim_matches('"');
    if value.is_empty() {
        return None;
    }
    Some(
        value
            .split_once('.')
            .map(|(_, route)| route)
            .filter(|r| !r.is_empty()),
    )
}

/// Whether a cookie's route part could be a jvmRoute (and so be logged).
fn looks_like_route(route: &str) -> bool {
    route.len() <= 64
        && route
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Builds the client response from the backend's head and the body.
fn response_from(head: &Head, body: ProxyBody, extra: Option<HeaderValue>) -> Response<ProxyBody> {
    let status = StatusCode::from_u16(head.status).unwrap_or(StatusCode::BAD_GATEWAY);
    use hyper::body::Body;
    // A body known in full carries its own length, which hyper writes; a backend's
    // Content-Length that disagreed with it would desynchronise the client connection.
    let length_from_body = body.size_hint().exact().is_some_and(|n| n > 0);
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let headers: &mut HeaderMap = resp.headers_mut();
    for (name, value) in &head.headers {
        // The value shares the backend's read buffer instead of being copied.
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_maybe_shared(value.clone()),
        ) else {
            continue;
        };
        if hop_by_hop(&n) || n == http::header::TRANSFER_ENCODING {
            continue;
        }
        // Tomcat keeps a servlet's Content-Length on 204, 205 and 304 but sends no body
        // with them: on a 204 the header is forbidden (RFC 9110 §8.6), on a 205 it
        // promises bytes that never come and the client connection is cut. httpd drops
        // it on 204 and 304 and sends 0 on 205 (set below).
        if n == http::header::CONTENT_LENGTH
            && (matches!(head.status, 204 | 205 | 304) || length_from_body)
        {
            continue;
        }
        headers.append(n, v);
    }
    if head.status == 205 {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    }
    if let Some(cookie) = extra {
        headers.append(http::header::SET_COOKIE, cookie);
    }
    resp
}

/// The `Set-Cookie` mod_jk adds for requests that were not routed by their session
/// (`set_session_cookie`): the chosen member's route, `;Secure` over TLS.
fn route_cookie(lb: &LbWorker, route: &str, secure: bool) -> Option<HeaderValue> {
    let s = &lb.settings;
    let mut v = format!("{}=.{}", s.session_cookie, route);
    if !s.session_cookie_path.is_empty() {
        v.push_str(";PATH=");
        v.push_str(&s.session_cookie_path);
    }
    v.push_str(";HttpOnly");
    if secure {
        v.push_str(";Secure");
    }
    HeaderValue::from_str(&v).ok()
}

/// The reply timeout of one request: the mount rule's `reply_timeout=` extension when
/// set (0 = none), else the worker's.
fn reply_timeout(rule: &MountRule, t: &Timeouts) -> Option<std::time::Duration> {
    match rule.extensions.reply_timeout {
        ms if ms > 0 => Some(std::time::Duration::from_millis(ms as u64)),
        0 => None,
        _ => t.reply,
    }
}

fn fail_on_status(settings: &AjpSettings, rule: &MountRule, status: u16) -> Option<Outcome> {
    let rule_codes = rule.extensions.fail_on_status_codes();
    let codes: &[i32] = if rule.extensions.fail_on_status.is_some() {
        &rule_codes
    } else {
        &settings.fail_on_status
    };
    let s = i32::from(status);
    if codes.contains(&s) {
        Some(Outcome::StatusFatal)
    } else if codes.contains(&-s) {
        Some(Outcome::StatusError)
    } else {
        None
    }
}

/// How much of a request body the backend did not read jkd still reads and drops to
/// keep the client connection usable; past this, the connection is closed instead.
const DISCARD_LIMIT: u64 = 1024 * 1024;

/// Bytes of one exchange: sent to the backend (request packet and body) and relayed
/// from it (response body).
#[derive(Clone, Copy, Debug, Default)]
pub struct Traffic {
    pub sent: u64,
    pub read: u64,
}

/// The waits of one exchange and the size of its request packet.
#[derive(Clone, Copy, Debug)]
pub struct ExchangeLimits {
    /// Longest wait for each packet of the reply.
    pub reply: Option<Duration>,
    /// Longest wait for any other backend socket operation.
    pub socket: Option<Duration>,
    /// Longest wait for the client: to take each piece of the response (a client that
    /// stops reading releases the backend connection, closed), or to send each piece
    /// of its body.
    pub client: Duration,
    /// Bytes of the FORWARD_REQUEST packet.
    pub request_bytes: u64,
}

/// How long a response head that came alone waits for what follows before it goes to
/// the client (see `forward`): Tomcat writes the head and a small body back to back,
/// so this only delays answers whose application flushes its head early.
const HEAD_ALONE_GRACE: Duration = Duration::from_millis(50);

/// Relays the rest of a response from the backend to the client's body channel in the
/// background, then tells `done` how it ended. When the backend announced a
/// Content-Length, the chunk that completes it is held until the backend's
/// END_RESPONSE was read and `done` was told: a client holds the whole response as soon
/// as that chunk arrives and may send its next request at once, which must then see
/// this one finished (the member's busy count, a probed member's state), as behind
/// httpd, which writes mod_jk's last bytes after it returned. If the connection breaks
/// where END_RESPONSE should be, the member is told of its failure and the client
/// still gets its whole answer.
#[allow(clippy::too_many_arguments)]
fn spawn_relay(
    worker: Arc<AjpWorker>,
    status: u16,
    announced: Option<u64>,
    mut lease: Lease,
    mut body: RequestBody<IncomingSource>,
    limits: ExchangeLimits,
    tx: mpsc::Sender<io::Result<Bytes>>,
    done: impl FnOnce(Result<(), Failure>, Traffic) + Send + 'static,
) {
    tokio::spawn(async move {
        let sender = tx.clone();
        let mut relayed: u64 = 0;
        let mut last: Option<Bytes> = None;
        let result = exchange::relay_body(
            lease.conn(),
            &mut body,
            limits.reply,
            limits.socket,
            |chunk| {
                relayed += chunk.len() as u64;
                let to_send = if announced == Some(relayed) && !chunk.is_empty() {
                    last = Some(chunk);
                    None
                } else {
                    Some(chunk)
                };
                let sender = sender.clone();
                async move {
                    let Some(chunk) = to_send else { return true };
                    // A client that takes nothing for `client` is treated as gone: the
                    // backend connection is closed, not held for it.
                    matches!(
                        tokio::time::timeout(limits.client, sender.send(Ok(chunk))).await,
                        Ok(Ok(()))
                    )
                }
            },
        )
        .await;
        let traffic = Traffic {
            sent: limits.request_bytes + body.sent,
            read: relayed,
        };
        match result {
            Ok(reuse) => {
                worker.note_refusal(status, reuse);
                lease.release(reuse);
                // Before the response ends, so that hyper can keep the client
                // connection for the next request.
                body.discard_rest(DISCARD_LIMIT).await;
                done(Ok(()), traffic);
                if let Some(chunk) = last {
                    let _ = tokio::time::timeout(limits.client, tx.send(Ok(chunk))).await;
                }
            }
            Err(f) => {
                let why = f.to_string();
                drop(lease);
                done(Err(f), traffic);
                match last {
                    // The whole announced body came and then the connection broke
                    // instead of END_RESPONSE (a node killed at that moment): the
                    // member has failed, but the client's answer is whole. It gets
                    // it, as httpd had written mod_jk's bytes before the read failed.
                    Some(chunk) => {
                        let _ = tokio::time::timeout(limits.client, tx.send(Ok(chunk))).await;
                    }
                    None => {
                        let _ = tx.try_send(Err(io::Error::other(why)));
                    }
                }
            }
        }
    });
}

/// The Content-Length of the backend's response head, when it is one number.
fn announced_length(head: &Head) -> Option<u64> {
    head.headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(b"content-length"))
        .and_then(|(_, value)| std::str::from_utf8(value).ok()?.trim().parse().ok())
}

/// How the rest of a response reaches the client.
enum Rest {
    /// Read in full with the head.
    Buffered(ProxyBody, Traffic),
    /// Still to come: relayed by a task on this connection.
    Relay(Lease),
}

/// The whole response body when the backend's answer arrived complete with its head
/// and the client's body was all read: the connection goes back to the pool at once
/// and the client gets head and body in one write, with no relay task or channel
/// (most small responses). Otherwise the lease is handed back for [`spawn_relay`].
fn take_buffered(
    worker: &AjpWorker,
    status: u16,
    mut lease: Lease,
    body: &RequestBody<IncomingSource>,
    request_bytes: u64,
) -> Rest {
    if !body.fully_read() {
        return Rest::Relay(lease);
    }
    let Some((bytes, rest)) = lease.conn().take_buffered_rest() else {
        return Rest::Relay(lease);
    };
    worker.note_refusal(status, rest.reuse);
    lease.release(rest.reuse);
    let pieces = rest.chunk_ranges().iter().map(|r| bytes.slice(r.clone()));
    let response = ProxyBody::pieces(pieces);
    let read = rest.chunk_ranges().iter().map(|r| r.len() as u64).sum();
    let traffic = Traffic {
        sent: request_bytes + body.sent,
        read,
    };
    Rest::Buffered(response, traffic)
}

/// The response body: the buffered rest when it came whole with the head (`done` is
/// told at once), else a channel fed by a relay task (`done` is told at the end).
fn response_body(
    worker: &Arc<AjpWorker>,
    head: &Head,
    lease: Lease,
    body: RequestBody<IncomingSource>,
    limits: ExchangeLimits,
    done: impl FnOnce(Result<(), Failure>, Traffic) + Send + 'static,
) -> ProxyBody {
    match take_buffered(worker, head.status, lease, &body, limits.request_bytes) {
        Rest::Buffered(buffered, traffic) => {
            done(Ok(()), traffic);
            buffered
        }
        Rest::Relay(lease) => {
            let (tx, rx) = mpsc::channel(4);
            let announced = announced_length(head);
            spawn_relay(
                worker.clone(),
                head.status,
                announced,
                lease,
                body,
                limits,
                tx,
                done,
            );
            ProxyBody::Streamed(ChannelBody::new(rx))
        }
    }
}

fn count_traffic(c: &MemberCounters, t: Traffic) {
    c.transferred.fetch_add(t.sent, Ordering::Relaxed);
    c.read.fetch_add(t.read, Ordering::Relaxed);
}

/// Reads the first piece of the client's body (a whole body that fits one packet of
/// the smallest `max_packet_size` among `workers`) before any backend connection is
/// leased: a client announcing a body it does not send waits alone, at most the
/// client timeout, and holds nothing of the backend's.
async fn prefetch_body(
    body: &mut RequestBody<IncomingSource>,
    packet: usize,
) -> Result<(), ProxyError> {
    body.prefetch(max_body_chunk_len(packet))
        .await
        .map_err(|e| {
            ProxyError::Backend(Failure {
                kind: FailureKind::Client(e),
                stage: Stage::NotSent,
            })
        })
}

/// What became of a request on its way to a backend, for the access log: filled
/// in by [`super::route`] and [`forward`] as they go, so that a refused request
/// tells as much as a served one. Cheap when nobody reads it (no allocation).
#[derive(Debug, Default)]
pub struct Dispatch<'a> {
    /// The worker the URI was mapped to.
    pub worker: Option<&'a str>,
    /// The member (or worker used directly) of the last attempt.
    pub member: Option<Arc<AjpWorker>>,
    /// The route sent with the attempt that answered.
    pub route: Option<String>,
    pub sticky: crate::access_log::Sticky,
    /// Members tried.
    pub attempts: u32,
    /// From the start of forwarding to the backend's response head.
    pub backend: Option<Duration>,
    /// Counts the request body bytes read from the client (the access log's).
    pub body_bytes: Option<Arc<std::sync::atomic::AtomicU64>>,
}

/// Where one request's attempts go: a balancer choosing among its members (mod_jk's
/// `service` of the lb worker), or one ajp13 worker tried up to its `retries` times
/// (mod_jk's `service` of the ajp worker). Both feed the same attempt loop
/// ([`forward`]); this is the only place that knows the difference.
pub(super) enum Plan {
    Balancer {
        lb: Arc<LbWorker>,
        attempts: balancer::Attempts,
        /// The mount rule's own name for the session cookie, when it gives one (else
        /// the balancer's `session_cookie`).
        rule_session_cookie: Option<String>,
        set_cookie: bool,
        /// The client came over TLS: the route cookie is `Secure`.
        secure_cookie: bool,
        /// The request carried a session id (for the access log's sticky hit/miss).
        had_session: bool,
    },
    Direct {
        worker: Arc<AjpWorker>,
        tried: i32,
    },
}

/// One attempt's target, chosen by the plan.
pub(super) struct Chosen {
    pub(super) member: Arc<AjpWorker>,
    /// The balancer's choice (member, route, activation, probe); `None` for a worker
    /// used directly.
    choice: Option<Choice>,
    /// A `Set-Cookie` with the route for a request not routed by its session.
    pub(super) cookie: Option<HeaderValue>,
}

impl Chosen {
    /// The route sent to the backend (balancers only).
    pub(super) fn route(&self) -> Option<&str> {
        self.choice.as_ref().map(|c| c.route.as_str())
    }

    /// The activation the backend is told.
    fn activation(&self) -> Activation {
        self.choice
            .as_ref()
            .map_or(Activation::Active, |c| c.activation)
    }

    /// Whether the member must answer CPing first (it is coming back from an error).
    fn probe(&self) -> bool {
        self.choice.as_ref().is_some_and(|c| c.probe)
    }
}

/// An attempt under way: the member counts it busy until it is finished, or the
/// guard is dropped (the request was cancelled).
pub(super) enum Attempt {
    Balancer(balancer::InFlight<Arc<AjpWorker>>),
    Direct(DirectInFlight),
}

impl Plan {
    pub(super) fn new(target: &Target, rule: &MountRule, out: &Outbound<'_>) -> Option<Plan> {
        match target {
            Target::Ajp(worker) => Some(Plan::Direct {
                worker: worker.clone(),
                tried: 0,
            }),
            Target::Lb(lb) => {
                let settings = &lb.settings;
                let ext = &rule.extensions;
                let session_cookie = ext
                    .session_cookie
                    .as_deref()
                    .unwrap_or(&settings.session_cookie);
                let session = balancer::session::session_ids(
                    out.raw_path,
                    out.cookies.iter().copied(),
                    ext.session_path
                        .as_deref()
                        .unwrap_or(&settings.session_path),
                    session_cookie,
                );
                let had_session = session.is_some();
                let options = RequestOptions {
                    sticky_ignore: ext.sticky_ignore,
                    stateless: ext.stateless,
                    activation: activation_overrides(lb, rule),
                };
                let attempts = lb.start(session, options, |m| {
                    below_busy_limit(m) && m.endpoint.has_room()
                });
                Some(Plan::Balancer {
                    lb: lb.clone(),
                    attempts,
                    rule_session_cookie: ext.session_cookie.clone(),
                    set_cookie: settings.set_session_cookie || ext.set_session_cookie,
                    secure_cookie: out.is_ssl(),
                    had_session,
                })
            }
            Target::Status | Target::Unsupported(_) => None,
        }
    }

    /// Whether `chosen` followed the request's session.
    fn sticky(&self, chosen: &Chosen) -> crate::access_log::Sticky {
        use crate::access_log::Sticky;
        match (self, &chosen.choice) {
            (_, Some(c)) if c.sticky => Sticky::Hit,
            (
                Plan::Balancer {
                    had_session: true, ..
                },
                _,
            ) => Sticky::Miss,
            _ => Sticky::None,
        }
    }

    /// mod_jk's stickiness needs each node's jvmRoute to be its member's route: a
    /// session cookie `chosen` sets with another route, or with none, never brings
    /// its session back to it. Counted each time and said once per member, with
    /// what to change (the session id itself is never logged).
    fn check_session_route<'a>(
        &self,
        chosen: &Chosen,
        set_cookies: impl Iterator<Item = &'a [u8]>,
    ) {
        let Plan::Balancer {
            lb,
            rule_session_cookie,
            set_cookie,
            ..
        } = self
        else {
            return;
        };
        let session_cookie = rule_session_cookie
            .as_deref()
            .unwrap_or(&lb.settings.session_cookie);
        // With set_session_cookie jkd itself writes the route: the application's
        // cookie need not carry one.
        if *set_cookie {
            return;
        }
        let Some(choice) = &chosen.choice else { return };
        for cookie in set_cookies {
            let Some(route) = session_route(cookie, session_cookie) else {
                continue;
            };
            if !lb.tunables().sticky_session {
                return;
            }
            let Some(m) = lb.snapshot_of(choice.member) else {
                return;
            };
            if route == Some(m.route.as_str())
                || (route.is_some() && route == Some(m.domain.as_str()))
            {
                return;
            }
            let worker = &chosen.member;
            worker
                .route_mismatches
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if worker
                .route_mismatch_said
                .swap(true, std::sync::atomic::Ordering::Relaxed)
            {
                return;
            }
            let engine = format!(
                "<Engine name=\"Catalina\" defaultHost=\"localhost\" jvmRoute=\"{}\">",
                m.route
            );
            match route {
                None => tracing::warn!(
                    lb = %lb.name, member = %m.name,
                    "member {} set a {session_cookie} cookie without a route: its sessions cannot stick to it; give its Tomcat jvmRoute=\"{}\" in server.xml ({engine})",
                    m.name, m.route
                ),
                // Only what looks like a jvmRoute is logged: after the dot of another
                // application's cookie may come a signature or a payload.
                Some(other) if looks_like_route(other) => tracing::warn!(
                    lb = %lb.name, member = %m.name,
                    "member {} set a {session_cookie} cookie for route '{other}', but its route is '{}': its sessions will go elsewhere; set worker.{}.route={other} or give its Tomcat jvmRoute=\"{}\" in server.xml ({engine})",
                    m.name, m.route, m.name, m.route
                ),
                Some(_) => tracing::warn!(
                    lb = %lb.name, member = %m.name,
                    "member {} set a {session_cookie} cookie whose id does not end in its route '{}' (nor in anything that looks like a route): its sessions will go elsewhere; give its Tomcat jvmRoute=\"{}\" in server.xml ({engine})",
                    m.name, m.route, m.route
                ),
            }
            return;
        }
    }

    /// The balancer's name, for logs ("-" for a worker used directly).
    pub(super) fn balancer_name(&self) -> &str {
        match self {
            Plan::Balancer { lb, .. } => &lb.name,
            Plan::Direct { .. } => "-",
        }
    }

    /// The smallest `max_packet_size` of the workers the request may go to: the first
    /// piece of the body, read before one is chosen, must fit them all.
    fn smallest_packet(&self) -> usize {
        let sizes = |w: &Arc<AjpWorker>| w.settings.max_packet_size.max(0) as usize;
        match self {
            Plan::Balancer { lb, .. } => lb.members.iter().map(|m| sizes(&m.endpoint)).min(),
            Plan::Direct { worker, .. } => Some(sizes(worker)),
        }
        .unwrap_or(crate::ajp::frame::MIN_PACKET_SIZE)
    }

    /// The next member to try; `None` when no attempt is left.
    pub(super) async fn next(&mut self) -> Option<Chosen> {
        match self {
            Plan::Balancer {
                lb,
                attempts,
                set_cookie,
                secure_cookie,
                ..
            } => loop {
                let choice = match lb.next_step(attempts) {
                    Step::Try(c) => c,
                    Step::Wait(d) => {
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    Step::Unavailable | Step::Done => return None,
                };
                let chosen = lb.members.get(choice.member)?;
                let member = chosen.endpoint.clone();
                if !below_busy_limit(chosen) {
                    tracing::info!(lb = %lb.name, member = %member.name, "busy_limit reached");
                    lb.report(attempts, report(Outcome::Busy, true), false, Instant::now());
                    continue;
                }
                // The cookie names the member this attempt goes to (its live route),
                // not the route kept from the first attempt for the backend: after a
                // failover it re-pins the client to the new member, as mod_jk does.
                let cookie = (!choice.sticky && *set_cookie)
                    .then(|| lb.snapshot_of(choice.member))
                    .flatten()
                    .and_then(|m| route_cookie(lb, &m.route, *secure_cookie));
                return Some(Chosen {
                    member,
                    choice: Some(choice),
                    cookie,
                });
            },
            Plan::Direct { worker, tried } => {
                if *tried >= worker.settings.retries.max(1) {
                    return None;
                }
                if *tried > 0 && worker.settings.retry_interval > 0 {
                    tokio::time::sleep(Duration::from_millis(
                        worker.settings.retry_interval as u64,
                    ))
                    .await;
                }
                *tried += 1;
                Some(Chosen {
                    member: worker.clone(),
                    choice: None,
                    cookie: None,
                })
            }
        }
    }

    /// No connection could be had for `chosen`.
    fn not_connected(&mut self, chosen: &Chosen, e: &AcquireError) {
        tracing::warn!(lb = self.balancer_name(), member = %chosen.member.name, probe = chosen.probe(), "cannot get a connection: {e}");
        if let Plan::Balancer { lb, attempts, .. } = self {
            let outcome = match e {
                AcquireError::Busy => Outcome::NoConnection,
                _ => Outcome::ConnectFailed,
            };
            lb.report(attempts, report(outcome, true), false, Instant::now());
        }
    }

    /// `chosen` could not be reached (its HTTP connector, for WebSocket): the member
    /// is marked as for a refused AJP connection, and another may be tried.
    pub(super) fn unreachable(&mut self, chosen: &Chosen, why: &str) {
        tracing::warn!(lb = self.balancer_name(), member = %chosen.member.name, "cannot connect: {why}");
        if let Plan::Balancer { lb, attempts, .. } = self {
            lb.report(
                attempts,
                report(Outcome::ConnectFailed, true),
                false,
                Instant::now(),
            );
        }
    }

    /// Counts the attempt as begun on `chosen`.
    pub(super) fn begin(&mut self, chosen: &Chosen) -> Attempt {
        match (self, &chosen.choice) {
            (Plan::Balancer { lb, attempts, .. }, Some(choice)) => {
                Attempt::Balancer(lb.begin_owned(std::mem::take(attempts), choice))
            }
            _ => Attempt::Direct(DirectInFlight::begin(&chosen.member)),
        }
    }

    /// Ends an attempt that failed (or whose status the worker is told to fail on);
    /// `again` says whether the request may go on to another attempt.
    pub(super) fn failed(&mut self, attempt: Attempt, outcome: Outcome, again: bool) {
        match (self, attempt) {
            (Plan::Balancer { attempts, .. }, Attempt::Balancer(in_flight)) => {
                *attempts = in_flight.finish(report(outcome, again), Instant::now());
            }
            (_, attempt) => attempt.finish(outcome, 0),
        }
    }
}

impl Attempt {
    /// Ends the attempt with `outcome`: the one place where how an attempt ended
    /// becomes counters (and, for a balancer, the member's state).
    pub(super) fn finish(self, outcome: Outcome, bytes: u64) {
        match self {
            Attempt::Balancer(in_flight) => {
                let done = Report {
                    outcome,
                    recoverable: false,
                    bytes,
                };
                let _ = in_flight.finish(done, Instant::now());
            }
            Attempt::Direct(in_flight) => in_flight.finish(outcome),
        }
    }
}

fn report(outcome: Outcome, recoverable: bool) -> Report {
    Report {
        outcome,
        recoverable,
        bytes: 0,
    }
}

fn below_busy_limit(member: &LbMember) -> bool {
    let limit = member.endpoint.settings.busy_limit;
    let busy = member.counters.busy.load(Ordering::Relaxed);
    limit <= 0 || busy < limit as u64
}

/// What ends an attempt whose response head reached the client, once its body has
/// been relayed (or broke off): the traffic counters and the member's outcome.
fn finisher(
    plan: &Plan,
    chosen: &Chosen,
    attempt: Attempt,
) -> impl FnOnce(Result<(), Failure>, Traffic) + Send + 'static {
    let counters = match plan {
        Plan::Balancer { lb, .. } => chosen
            .choice
            .as_ref()
            .and_then(|c| lb.members.get(c.member))
            .map(|m| m.counters.clone()),
        Plan::Direct { worker, .. } => Some(worker.counters.clone()),
    };
    let name = chosen.member.name.clone();
    let lb_name = plan.balancer_name().to_string();
    move |result: Result<(), Failure>, traffic: Traffic| {
        if let Some(c) = counters {
            count_traffic(&c, traffic);
        }
        let outcome = match &result {
            Ok(()) => Outcome::Success,
            Err(f) => {
                tracing::warn!(lb = lb_name, member = %name, "response aborted: {f}");
                outcome_of(f)
            }
        };
        attempt.finish(outcome, traffic.sent + traffic.read);
    }
}

/// What became of an attempt on an HTTP member.
enum HttpAttempt {
    /// The response, for the client.
    Answered(Response<ProxyBody>),
    /// Try the next member with the body given back.
    Again(RequestBody<IncomingSource>),
    /// No further attempt.
    Stop,
}

/// One attempt on an HTTP member (`type=http`): the same steps as an AJP attempt
/// (connection, busy count, reply timeout, `fail_on_status`, safe-retry rule), over
/// HTTP/1.1.
#[allow(clippy::too_many_arguments)]
async fn http_attempt(
    plan: &mut Plan,
    chosen: Chosen,
    pool: &Arc<crate::runtime::http_pool::HttpPool>,
    rule: &MountRule,
    out: &Outbound<'_>,
    body: RequestBody<IncomingSource>,
    client_timeout: Duration,
    started: Instant,
    dispatch: &mut Dispatch<'_>,
    last_error: &mut Option<ProxyError>,
) -> HttpAttempt {
    let member = chosen.member.clone();
    // A request that must not be sent twice goes on a connection that cannot have
    // timed out at the member meanwhile.
    let max_idle = (!out.idempotent()).then_some(crate::runtime::http_pool::SAFE_IDLE);
    let mut lease = match pool.acquire(max_idle).await {
        Ok(l) => l,
        Err(e) => {
            plan.not_connected(&chosen, &e);
            *last_error = Some(ProxyError::Unavailable);
            return HttpAttempt::Again(body);
        }
    };
    let member_host = HeaderValue::from_str(&format!(
        "{}:{}",
        member.settings.host, member.settings.port
    ))
    .ok();
    // A member leaving its error state answers a probe before it gets the request,
    // as an AJP member answers a CPing: otherwise the request would be the probe.
    if chosen.probe()
        && let Some(host) = member_host.clone()
        && let Err(e) = lease.probe(host, pool.timeouts.ping).await
    {
        lease.close();
        plan.not_connected(&chosen, &e);
        *last_error = Some(ProxyError::Unavailable);
        return HttpAttempt::Again(body);
    }
    let mut head = out.upstream_request();
    if !head.headers.contains_key(http::header::HOST)
        && let Some(v) = member_host
    {
        // An HTTP/1.0 client may name no host; HTTP/1.1 requires one.
        head.headers.insert(http::header::HOST, v);
    }
    // Busy on the member from here; the guard reports a client that went away.
    let attempt = plan.begin(&chosen);
    let reply = reply_timeout(rule, &pool.timeouts);
    match super::upstream::send(lease, head, out.length, body, reply, out.idempotent()).await {
        Ok(sent) => {
            dispatch.backend = Some(started.elapsed());
            if let Some(outcome) = fail_on_status(&member.settings, rule, sent.status()) {
                let back = sent.abandon().await;
                let again = back.is_some();
                plan.failed(attempt, outcome, again);
                *last_error = Some(ProxyError::Unavailable);
                return back.map_or(HttpAttempt::Stop, HttpAttempt::Again);
            }
            plan.check_session_route(&chosen, sent.set_cookies());
            let finish = finisher(plan, &chosen, attempt);
            let Chosen { choice, cookie, .. } = chosen;
            dispatch.route = choice.map(|c| c.route);
            HttpAttempt::Answered(
                super::upstream::respond(sent, reply, client_timeout, cookie, finish).await,
            )
        }
        Err(failed) => {
            let f = failed.failure;
            let replayable = failed.body.as_ref().map(|b| b.replayable());
            let again = judge_failure(
                plan,
                attempt,
                &member,
                out,
                replayable,
                &f,
                "request failed",
            );
            *last_error = Some(ProxyError::Backend(f));
            match failed.body {
                Some(b) if again => HttpAttempt::Again(b),
                _ => HttpAttempt::Stop,
            }
        }
    }
}

/// Forwards one request to `target` (an ajp13 or http worker, or a balancer): the
/// attempt loop. Each attempt takes a connection, sends the request and reads the
/// response head, over AJP or, for an HTTP member, over HTTP/1.1 (`http_attempt`);
/// another attempt follows only while that cannot duplicate the request
/// ([`may_retry`]).
pub async fn forward(
    target: &Target,
    rule: &MountRule,
    out: Outbound<'_>,
    body: IncomingSource,
    dispatch: &mut Dispatch<'_>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let started = Instant::now();
    let Some(mut plan) = Plan::new(target, rule, &out) else {
        return Err(ProxyError::Unsupported("not a worker that forwards"));
    };
    let client_timeout = body.timeout();
    let mut body = RequestBody::new(body, out.length);
    prefetch_body(&mut body, plan.smallest_packet()).await?;
    let mut last_error: Option<ProxyError> = None;
    while let Some(chosen) = plan.next().await {
        let member = chosen.member.clone();
        dispatch.attempts += 1;
        dispatch.member = Some(member.clone());
        dispatch.sticky = plan.sticky(&chosen);
        if let Some(pool) = member.http.clone() {
            // Boxed: the HTTP attempt's state (hyper's request future among it) would
            // otherwise make every request's future larger, AJP ones included.
            let attempt = Box::pin(http_attempt(
                &mut plan,
                chosen,
                &pool,
                rule,
                &out,
                body,
                client_timeout,
                started,
                dispatch,
                &mut last_error,
            ));
            match attempt.await {
                HttpAttempt::Answered(resp) => return Ok(resp),
                HttpAttempt::Again(b) => {
                    body = b;
                    continue;
                }
                HttpAttempt::Stop => break,
            }
        }
        let mut lease = match member.pool.acquire_checked(chosen.probe()).await {
            Ok(l) => l,
            Err(e) => {
                plan.not_connected(&chosen, &e);
                last_error = Some(ProxyError::Unavailable);
                continue;
            }
        };
        let packet = out
            .encode(&member.settings, chosen.route(), chosen.activation())
            .inspect_err(|e| {
                if let ProxyError::TooLarge(m) = e {
                    tracing::warn!(worker = %member.name, "{m}");
                }
            })?;
        // From here until it is finished, the attempt counts as busy on the member;
        // if this future is dropped (the client went away), the guard reports it.
        let attempt = plan.begin(&chosen);
        let t = member.pool.timeouts;
        let limits = ExchangeLimits {
            reply: reply_timeout(rule, &t),
            socket: t.socket,
            client: client_timeout,
            request_bytes: packet.len() as u64,
        };
        let (f, what) = match exchange::send_request(
            lease.conn(),
            &packet,
            &mut body,
            limits.reply,
            t.socket,
        )
        .await
        {
            Ok(head) => {
                dispatch.backend = Some(started.elapsed());
                if let Some(outcome) = fail_on_status(&member.settings, rule, head.status) {
                    drop(lease);
                    let again = body.replayable();
                    plan.failed(attempt, outcome, again);
                    last_error = Some(ProxyError::Unavailable);
                    if !again {
                        break;
                    }
                    continue;
                }
                // The head came alone. A request that may be sent again waits a moment
                // for what follows before its head goes to the client: a node that dies
                // right after sending its head (killed under load) then costs a retry
                // on another member instead of a cut answer.
                if out.idempotent()
                    && body.fully_read()
                    && body.replayable()
                    && lease.conn().nothing_buffered()
                    && let Err(e) = lease.conn().read_more(HEAD_ALONE_GRACE).await
                {
                    // Nothing reached the client: judged as a failure before the answer.
                    let f = Failure {
                        kind: FailureKind::Backend(e),
                        stage: Stage::Sent,
                    };
                    (
                        f,
                        "request failed after the response head, before anything reached the client",
                    )
                } else {
                    plan.check_session_route(
                        &chosen,
                        head.headers
                            .iter()
                            .filter(|(n, _)| n.eq_ignore_ascii_case(b"set-cookie"))
                            .map(|(_, v)| &v[..]),
                    );
                    let finish = finisher(&plan, &chosen, attempt);
                    let resp_body = response_body(&member, &head, lease, body, limits, finish);
                    let Chosen { choice, cookie, .. } = chosen;
                    dispatch.route = choice.map(|c| c.route);
                    return Ok(response_from(&head, resp_body, cookie));
                }
            }
            Err(f) => (f, "request failed"),
        };
        drop(lease);
        let again = judge_failure(
            &mut plan,
            attempt,
            &member,
            &out,
            Some(body.replayable()),
            &f,
            what,
        );
        last_error = Some(ProxyError::Backend(f));
        if !again {
            break;
        }
    }
    Err(last_error.unwrap_or(ProxyError::Unavailable))
}

fn activation_overrides(lb: &LbWorker, rule: &MountRule) -> Option<Vec<Option<Activation>>> {
    let ext = &rule.extensions;
    if ext.active.is_none() && ext.disabled.is_none() && ext.stopped.is_none() {
        return None;
    }
    let mut v = vec![None; lb.members.len()];
    for (list, act) in [
        (&ext.active, Activation::Active),
        (&ext.disabled, Activation::Disabled),
        (&ext.stopped, Activation::Stopped),
    ] {
        if let Some(list) = list {
            for name in split_members(list) {
                if let Some(i) = lb.members.iter().position(|m| m.name() == name) {
                    v[i].get_or_insert(act);
                }
            }
        }
    }
    Some(v)
}

/// One request under way on a worker used directly: busy until finished or dropped.
pub(super) struct DirectInFlight {
    worker: Arc<AjpWorker>,
    finished: bool,
}

impl DirectInFlight {
    fn begin(worker: &Arc<AjpWorker>) -> Self {
        let c = &worker.counters;
        c.elected.fetch_add(1, Ordering::Relaxed);
        let busy = c.busy.fetch_add(1, Ordering::Relaxed) + 1;
        c.max_busy.fetch_max(busy, Ordering::Relaxed);
        DirectInFlight {
            worker: worker.clone(),
            finished: false,
        }
    }

    /// Ends the request: counted as an error of the backend or of the client.
    fn finish(mut self, outcome: Outcome) {
        self.finished = true;
        let c = &self.worker.counters;
        c.busy.fetch_sub(1, Ordering::Relaxed);
        match outcome {
            Outcome::Success | Outcome::Busy | Outcome::NoConnection => {}
            Outcome::ClientError => {
                c.client_errors.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::ReplyTimeout => {
                c.reply_timeouts.fetch_add(1, Ordering::Relaxed);
                c.errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                c.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for DirectInFlight {
    fn drop(&mut self) {
        if !self.finished {
            // Dropped on the way: the client went away while jkd waited.
            let c = &self.worker.counters;
            c.busy.fetch_sub(1, Ordering::Relaxed);
            c.client_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_of_a_session_cookie_is_what_follows_its_first_dot() {
        fn route(v: &str) -> Option<Option<&str>> {
            session_route(v.as_bytes(), "JSESSIONID")
        }
        assert_eq!(
            route("JSESSIONID=A1B2.node1; Path=/; HttpOnly"),
            Some(Some("node1"))
        );
        assert_eq!(
            route("JSESSIONID=A1B2.node1.east"),
            Some(Some("node1.east"))
        );
        assert_eq!(route("JSESSIONID=\"A1B2.n2\"; Secure"), Some(Some("n2")));
        assert_eq!(route("JSESSIONID=A1B2; Path=/"), Some(None));
        assert_eq!(route("JSESSIONID=A1B2.; Path=/"), Some(None));
        // Another cookie, or this one deleted: nothing to say.
        assert_eq!(route("OTHER=A1B2.node1"), None);
        assert_eq!(route("JSESSIONID=; Max-Age=0"), None);
        assert_eq!(route("garbage"), None);
        assert_eq!(session_route(b"JSESSIONID=\xff.x", "JSESSIONID"), None);
        assert!(looks_like_route("node1.east_2-b"));
        assert!(!looks_like_route("sig+/AbC="));
        assert!(!looks_like_route(&"a".repeat(65)));
    }
    use std::net::SocketAddr;

    #[test]
    fn retries_never_duplicate_a_post() {
        let post = Method::POST;
        let get = Method::GET;
        assert!(may_retry(Stage::NotSent, false, &post, 0, true));
        assert!(!may_retry(Stage::Sent, false, &post, 0, true));
        assert!(may_retry(Stage::Sent, true, &get, 0, true));
        assert!(!may_retry(Stage::Sent, true, &get, 1, true));
        assert!(may_retry(Stage::Sent, true, &get, 1 | 16, true));
        // mod_jk's `if / else if`: with bit 8, bit 16 is never looked at.
        assert!(!may_retry(Stage::Sent, true, &get, 1 | 8 | 16, true));
        assert!(!may_retry(Stage::BodyStreamed, true, &get, 0, false));
        assert!(!may_retry(Stage::Head, true, &get, 0, true));
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 10.0.0.5"),
        );
        let proxy: IpAddr = "10.0.0.9".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let inner: IpAddr = "10.0.0.5".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let client: IpAddr = "1.2.3.4".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(client_addr(proxy, &h, &[]), proxy);
        assert_eq!(client_addr(proxy, &h, &[proxy.into()]), inner);
        assert_eq!(
            client_addr(proxy, &h, &[proxy.into(), inner.into()]),
            client
        );
        // A range trusts every address in it.
        let range: IpNet = "10.0.0.0/8".parse().unwrap_or_default();
        assert_eq!(client_addr(proxy, &h, &[range]), client);
    }

    /// The packet jkd would send for `raw` headers from `peer`, decoded again.
    fn forwarded_as(
        raw: &[(&str, &str)],
        peer: [u8; 4],
        trusted: &[IpNet],
        tls: Option<TlsFacts>,
        ssl: SslForwarding,
        check: impl FnOnce(&crate::ajp::request::ForwardRequest<'_>),
    ) {
        let mut req = http::Request::builder().uri("/app/");
        for (n, v) in raw {
            req = req.header(*n, *v);
        }
        let (parts, ()) = req.body(()).unwrap().into_parts();
        let conn = ConnInfo {
            peer: SocketAddr::from((peer, 1000)),
            local: SocketAddr::from(([127, 0, 0, 1], 8443)),
            tls: tls.map(Arc::new),
        };
        let out = Outbound::new(&parts, &conn, trusted, ssl, false, None);
        let loaded =
            crate::config::from_workers_bytes("t", b"worker.list=w\nworker.w.port=8009\n", &|_| {
                None
            });
        let settings = match loaded.config.and_then(|c| c.workers.into_iter().next()) {
            Some(w) => match w.kind {
                crate::config::workers::WorkerKind::Ajp(a) => a,
                _ => panic!("not an ajp13 worker"),
            },
            None => panic!("bad test config"),
        };
        let packet = out.encode(&settings, None, Activation::Active).unwrap();
        let decoded = crate::ajp::request::decode_forward_request(&packet[4..]).unwrap();
        check(&decoded);
    }

    #[test]
    fn forwarded_proto_https_from_a_trusted_range_is_ssl() {
        let range: IpNet = "10.0.0.0/8".parse().unwrap();
        let https = [("host", "shop.example"), ("x-forwarded-proto", "https")];
        forwarded_as(
            &https,
            [10, 1, 2, 3],
            &[range],
            None,
            SslForwarding::default(),
            |r| {
                assert!(r.is_ssl);
                assert_eq!(r.server_port, 443);
            },
        );
        // The same headers from anyone else change nothing.
        forwarded_as(
            &https,
            [192, 0, 2, 1],
            &[range],
            None,
            SslForwarding::default(),
            |r| {
                assert!(!r.is_ssl);
                assert_eq!(r.server_port, 8443);
            },
        );
        let told_port = [
            ("host", "shop.example"),
            ("forwarded", "for=1.2.3.4;proto=https"),
            ("x-forwarded-port", "8443"),
        ];
        forwarded_as(
            &told_port,
            [10, 9, 9, 9],
            &[range],
            None,
            SslForwarding::default(),
            |r| {
                assert!(r.is_ssl);
                assert_eq!(r.server_port, 8443);
            },
        );
    }

    #[test]
    fn tls_facts_become_mod_jk_ssl_attributes() {
        let facts = TlsFacts {
            protocol: "TLSv1.3",
            cipher: "TLS_AES_128_GCM_SHA256",
            key_bits: 128,
            session_id: "AB12".to_string(),
            client_cert: Some("LEAF\n".to_string()),
            client_chain: vec!["CA\n".to_string()],
            h2: false,
            server_name: None,
        };
        forwarded_as(
            &[],
            [192, 0, 2, 1],
            &[],
            Some(facts.clone()),
            SslForwarding::default(),
            |r| {
                assert!(r.is_ssl);
                assert_eq!(
                    r.attributes.ssl_cipher,
                    Some(&b"TLS_AES_128_GCM_SHA256"[..])
                );
                assert_eq!(r.attributes.ssl_session, Some(&b"AB12"[..]));
                assert_eq!(r.attributes.ssl_key_size, Some(128));
                assert_eq!(r.attributes.ssl_protocol, Some(&b"TLSv1.3"[..]));
                // Without +ForwardSSLCertChain, the leaf only.
                assert_eq!(r.attributes.ssl_cert, Some(&b"LEAF\n"[..]));
            },
        );
        let chain_no_size = SslForwarding {
            cert_chain: true,
            key_size: false,
            ..SslForwarding::default()
        };
        forwarded_as(
            &[],
            [192, 0, 2, 1],
            &[],
            Some(facts.clone()),
            chain_no_size,
            |r| {
                assert_eq!(r.attributes.ssl_cert, Some(&b"LEAF\nCA\n"[..]));
                assert_eq!(r.attributes.ssl_key_size, None);
            },
        );
        // JkExtractSSL Off: the backend hears nothing of TLS.
        let off = SslForwarding {
            extract: false,
            ..SslForwarding::default()
        };
        forwarded_as(&[], [192, 0, 2, 1], &[], Some(facts), off, |r| {
            assert!(!r.is_ssl);
            assert_eq!(r.attributes.ssl_cipher, None);
            assert_eq!(r.attributes.ssl_cert, None);
        });
    }

    fn outbound_headers(
        raw: &[(&str, &str)],
        target: &str,
    ) -> (Vec<(String, String)>, Option<u64>) {
        let mut req = http::Request::builder().uri(target);
        for (n, v) in raw {
            req = req.header(*n, *v);
        }
        let (parts, ()) = req.body(()).unwrap_or_default().into_parts();
        let conn = ConnInfo {
            peer: SocketAddr::from(([127, 0, 0, 1], 1000)),
            local: SocketAddr::from(([127, 0, 0, 1], 80)),
            tls: None,
        };
        let out = Outbound::new(&parts, &conn, &[], SslForwarding::default(), false, None);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (
            out.headers
                .iter()
                .map(|(n, v)| (text(n), text(v)))
                .collect(),
            out.length,
        )
    }

    #[test]
    fn no_connection_header_removes_the_framing_or_the_host() {
        for listed in [
            "Content-Length",
            "content-length, Host",
            "Transfer-Encoding, Host, keep-alive",
        ] {
            let (headers, length) = outbound_headers(
                &[
                    ("Host", "a.example"),
                    ("Content-Length", "514"),
                    ("Connection", listed),
                    ("X-Other", "1"),
                ],
                "/app/hello",
            );
            assert_eq!(length, Some(514));
            let has = |n: &str, v: &str| headers.iter().any(|(hn, hv)| hn == n && hv == v);
            assert!(has("content-length", "514"), "{listed}: {headers:?}");
            assert!(has("host", "a.example"), "{listed}: {headers:?}");
            assert!(!headers.iter().any(|(n, _)| n == "connection"));
        }
        // A header the client lists in Connection is still dropped, as a proxy must.
        let (headers, _) = outbound_headers(
            &[("Host", "a"), ("Connection", "X-Other"), ("X-Other", "1")],
            "/",
        );
        assert!(!headers.iter().any(|(n, _)| n == "x-other"), "{headers:?}");
    }

    #[test]
    fn a_chunked_body_is_never_announced_with_a_length() {
        // hyper reads the body as chunked when the last coding is "chunked", and empty
        // list elements pass check_head (RFC 9110 §5.6.1); Tomcat must not be told
        // `content-length: 0` for such a body (found by the http_request fuzz target).
        for te in ["chunked", "Chunked", ",chunked", " , chunked", ",,chunked"] {
            let (headers, length) = outbound_headers(
                &[
                    ("Host", "a"),
                    ("Transfer-Encoding", te),
                    ("Content-Length", "5"),
                ],
                "/up",
            );
            assert_eq!(length, None, "{te}");
            assert!(
                !headers.iter().any(|(n, _)| n == "content-length"),
                "{te}: {headers:?}"
            );
        }
    }

    #[test]
    fn the_absolute_form_authority_wins_over_host() {
        let (headers, _) = outbound_headers(&[("Host", "wrong.example")], "http://right.example/y");
        let hosts: Vec<&str> = headers
            .iter()
            .filter(|(n, _)| n == "host")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(hosts, ["right.example"]);
    }
}
