//! The HTTP front end: accepts HTTP/1.1 and HTTP/2 (prior knowledge) within the client limits, refuses heads that break RFC 9112, maps each request with the mount rules and forwards it, or answers it from disk when no rule maps it.

pub mod body;
pub mod client;
pub mod compress;
pub mod error;
pub mod forward;
pub mod proxy_protocol;
pub mod server_errors;
pub mod static_files;
pub mod stream;
pub mod upstream;
pub mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Version};

use hyper::body::Incoming;
use tokio::sync::Semaphore;

use crate::runtime::listen::Accepted;
use crate::runtime::{ConnInfo, Live, ProxyBody, Runtime, Target};
use body::IncomingSource;
use error::{ProxyError, status_of};
use forward::Outbound;

fn plain(status: u16, text: &str) -> Response<ProxyBody> {
    let body = ProxyBody::full(Bytes::from(format!("{text}\n")));
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The request's id as sent to Tomcat in `X-Request-Id` (the client's, else
/// `jkd-<hex>`), for log lines; borrowed unless it is not UTF-8.
fn request_id(headers: &http::HeaderMap) -> std::borrow::Cow<'_, str> {
    headers
        .get("x-request-id")
        .map_or(std::borrow::Cow::Borrowed("-"), |v| {
            String::from_utf8_lossy(v.as_bytes())
        })
}

/// Handles one request end to end.
pub async fn handle(
    rt: Arc<Runtime>,
    req: Request<Incoming>,
    conn: ConnInfo,
    names: Option<client::OriginalHeaderNames>,
) -> Response<ProxyBody> {
    let number = rt.request_ids.fetch_add(1, Ordering::Relaxed);
    let (mut parts, incoming) = req.into_parts();
    if !parts.headers.contains_key("x-request-id") {
        let mut text = [0u8; 20];
        let written = {
            let mut cursor = std::io::Cursor::new(&mut text[..]);
            let _ = std::io::Write::write_fmt(&mut cursor, format_args!("jkd-{number:x}"));
            cursor.position() as usize
        };
        if let Ok(v) = HeaderValue::from_bytes(text.get(..written).unwrap_or_default()) {
            parts.headers.insert("x-request-id", v);
        }
    }
    compress::revalidate_unsuffixed(&rt.config.compression, &mut parts.headers);
    let started = Instant::now();
    // Built only when the access log is on: without it a request allocates nothing
    // more than before.
    let logging = rt
        .access_log
        .as_ref()
        .map(|log| (log.clone(), begin_record(log, &rt, &parts, &conn)));
    let mut dispatch = forward::Dispatch {
        body_bytes: logging.as_ref().map(|_| Arc::default()),
        ..Default::default()
    };
    let result = route(&rt, &parts, incoming, conn, names.as_ref(), &mut dispatch).await;
    let resp = match result {
        Ok(resp) => {
            tracing::debug!(request_id = %request_id(&parts.headers), method = %parts.method, uri = %parts.uri, status = resp.status().as_u16(), ms = started.elapsed().as_millis() as u64, "forwarded");
            resp
        }
        Err(e) => {
            let status = status_of(&e);
            tracing::info!(request_id = %request_id(&parts.headers), method = %parts.method, uri = %parts.uri, status, "refused: {e:?}");
            plain(
                status,
                StatusCode::from_u16(status)
                    .map(|s| s.canonical_reason().unwrap_or(""))
                    .unwrap_or(""),
            )
        }
    };
    // By status code, under the member that answered (or the worker, when none did).
    match &dispatch.member {
        Some(member) => member.responses.count(resp.status().as_u16()),
        None => rt
            .unanswered
            .count(dispatch.worker.unwrap_or(""), resp.status().as_u16()),
    }
    // In one place for every answer (proxied, the status manager's pages, jkd's own
    // errors), before the access log wraps the body so that it counts what is sent.
    let resp = compress::apply(&rt.config.compression, &parts, resp);
    match logging {
        None => resp,
        Some((log, mut record)) => {
            record.status = resp.status().as_u16();
            record.response_headers = crate::access_log::AccessLog::capture(
                log.format().response_headers(),
                resp.headers(),
            );
            record.worker = dispatch.worker.map(str::to_string);
            record.member = dispatch.member.as_ref().map(|m| m.name.clone());
            record.route = dispatch.route.take();
            record.sticky = dispatch.sticky;
            record.attempts = dispatch.attempts;
            record.backend = dispatch.backend;
            let bytes_in = dispatch.body_bytes.take();
            resp.map(|body| {
                ProxyBody::Logged(Box::new(crate::runtime::body::LoggedBody::new(
                    body, record, log, started, bytes_in,
                )))
            })
        }
    }
}

/// The access log record of a request, with what is known before it is served.
fn begin_record(
    log: &crate::access_log::AccessLog,
    rt: &Runtime,
    parts: &http::request::Parts,
    conn: &ConnInfo,
) -> Box<crate::access_log::Record> {
    let header = |name: http::header::HeaderName| parts.headers.get(name).cloned();
    let host = header(http::header::HOST).or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    // A body jkd never reads (a status manager's form, a refused request) is logged
    // with its announced length.
    let announced = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Box::new(crate::access_log::Record {
        start: std::time::SystemTime::now(),
        client: forward::client_addr(conn.peer.ip(), &parts.headers, &rt.trusted_proxies),
        peer: conn.peer,
        local_port: conn.local.port(),
        method: parts.method.clone(),
        uri: parts.uri.clone(),
        version: parts.version,
        host,
        user_agent: header(http::header::USER_AGENT),
        referer: header(http::header::REFERER),
        request_id: parts
            .headers
            .get("x-request-id")
            .cloned()
            .unwrap_or(HeaderValue::from_static("-")),
        tls: conn.tls.as_ref().map(|t| t.protocol),
        request_headers: crate::access_log::AccessLog::capture(
            log.format().request_headers(),
            &parts.headers,
        ),
        response_headers: Vec::new(),
        status: 0,
        bytes_in: announced,
        bytes_out: 0,
        duration: Duration::ZERO,
        backend: None,
        worker: None,
        member: None,
        route: None,
        sticky: Default::default(),
        attempts: 0,
        completed: false,
    })
}

/// RFC 9112's rules for the request head that hyper leaves to the server: refused
/// before anything is mapped or forwarded.
pub fn check_head(parts: &http::request::Parts) -> Result<(), ProxyError> {
    let hosts = parts.headers.get_all(http::header::HOST).iter().count();
    match parts.version {
        // §3.2: exactly one Host in HTTP/1.1 (httpd and nginx answer 400 too).
        Version::HTTP_11 if hosts != 1 => {
            return Err(ProxyError::BadRequest(if hosts == 0 {
                "an HTTP/1.1 request without Host"
            } else {
                "a request with more than one Host"
            }));
        }
        Version::HTTP_10 if hosts > 1 => {
            return Err(ProxyError::BadRequest("a request with more than one Host"));
        }
        Version::HTTP_2 | Version::HTTP_3 => {
            // :authority and Host must name the same host (RFC 9113 §8.3.1).
            if hosts > 1 {
                return Err(ProxyError::BadRequest("a request with more than one Host"));
            }
            if let (Some(auth), Some(host)) =
                (parts.uri.authority(), parts.headers.get(http::header::HOST))
                && !host
                    .as_bytes()
                    .eq_ignore_ascii_case(auth.as_str().as_bytes())
            {
                return Err(ProxyError::BadRequest(":authority and Host disagree"));
            }
        }
        _ => {}
    }
    // Transfer-Encoding: jkd forwards a body framed by "chunked" alone; any other coding
    // (gzip, identity, chunked twice, ...) is one it does not implement (§6.1: 501).
    let mut codings = transfer_codings(&parts.headers);
    if let Some(first) = codings.next()
        && (!first.eq_ignore_ascii_case(b"chunked") || codings.next().is_some())
    {
        return Err(ProxyError::UnsupportedCoding);
    }
    // hyper refuses lengths that are not numbers or that disagree; what it let through
    // must be one number, since the same number frames the body towards the backend.
    for v in parts.headers.get_all(http::header::CONTENT_LENGTH) {
        if v.to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_none()
        {
            return Err(ProxyError::BadRequest(
                "a Content-Length that is not a number",
            ));
        }
    }
    Ok(())
}

/// The codings Transfer-Encoding lists, in order, without the empty list elements a
/// recipient ignores (RFC 9110 §5.6.1). `check_head` and the forwarded framing read
/// the header through this one function, so they cannot disagree on `,chunked`.
pub(crate) fn transfer_codings(headers: &http::HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(|c| c.trim_ascii())
        .filter(|c| !c.is_empty())
}

async fn route<'r>(
    rt: &'r Runtime,
    parts: &http::request::Parts,
    incoming: Incoming,
    conn: ConnInfo,
    names: Option<&client::OriginalHeaderNames>,
    dispatch: &mut forward::Dispatch<'r>,
) -> Result<Response<ProxyBody>, ProxyError> {
    check_head(parts)?;
    let site = &rt.config.static_files;
    // mod_alias answers redirects while httpd translates the URI, before mod_jk's
    // handler could forward it: a redirect wins over a mount rule.
    if let Some(resp) = static_files::redirect(site, parts) {
        return Ok(resp);
    }
    let rule = match rt.config.mounts.map_raw(parts.uri.path()) {
        Err(e) => return Err(ProxyError::BadUri(e)),
        Ok(None) => {
            // Boxed, as the other rarer branches below: every request's future is as
            // large as its largest branch, and it lives as long as the request.
            return Box::pin(static_files::serve(site, parts))
                .await
                .ok_or(ProxyError::NotMapped);
        }
        Ok(Some(r)) => r,
    };
    dispatch.worker = Some(rule.worker.as_str());
    let target = rt
        .targets
        .get(&rule.worker)
        .cloned()
        .ok_or_else(|| ProxyError::NoSuchWorker(rule.worker.clone()))?;
    if let Target::Status = target {
        // Authentication, the cross-site rules and POSTed forms: see status::auth.
        return match &rt.status {
            Some(pages) => Ok(pages.serve(rt, &rule.worker, parts, incoming, conn).await),
            None => Err(ProxyError::Unsupported("no status manager in this runtime")),
        };
    }
    use hyper::body::Body;
    let body_without_length = !incoming.is_end_stream() && parts.version >= Version::HTTP_2;
    let out = Outbound::new(
        parts,
        &conn,
        &rt.trusted_proxies,
        rt.config.ssl_forwarding,
        body_without_length,
        names,
    );
    if websocket::is_websocket(parts) {
        let upgrade = websocket::forward(&target, rule, &out, parts, &conn, rt.draining.clone());
        return Box::pin(upgrade).await;
    }
    let body =
        IncomingSource::new(incoming, rt.limits.timeout).counting(dispatch.body_bytes.clone());
    let started = Instant::now();
    let forwarded = match target {
        Target::Ajp(_) | Target::Lb(_) => {
            forward::forward(&target, rule, out, body, dispatch).await
        }
        // Answered above.
        Target::Status => return Err(ProxyError::Unsupported("status worker")),
        Target::Unsupported(why) => return Err(ProxyError::Unsupported(why)),
    };
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(h) = rt.latency.get(&rule.worker) {
        h.record(elapsed);
    }
    let by_member = rt.member_latency.get(&rule.worker);
    if let Some(h) = dispatch
        .member
        .as_ref()
        .and_then(|m| by_member.and_then(|h| h.get(&m.name)))
    {
        h.record(elapsed);
    }
    match forwarded {
        Ok(resp) => {
            let threshold = rule.extensions.use_server_errors;
            if !server_errors::applies(threshold, resp.status()) {
                return Ok(resp);
            }
            Ok(Box::pin(server_errors::apply(threshold, resp)).await)
        }
        Err(e) => Err(e),
    }
}

/// A bound listening socket and, for HTTPS, its TLS configuration.
pub struct Listening {
    pub listener: crate::runtime::listen::Bound,
    pub tls: Option<Arc<crate::tls::Acceptor>>,
}

/// Serves on the given listeners until the process ends; runs maintenance every second.
pub async fn serve(live: Arc<Live>, listeners: Vec<Listening>) {
    let upkeep = live.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            upkeep.load().maintain(Instant::now());
        }
    });
    // One cap for every listener: each connection holds a permit until it ends.
    let slots = Arc::new(Semaphore::new(live.load().limits.max_connections.max(1)));
    let mut tasks = Vec::new();
    for listening in listeners {
        tasks.push(tokio::spawn(accept_loop(
            live.clone(),
            listening,
            slots.clone(),
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn accept_loop(live: Arc<Live>, listening: Listening, slots: Arc<Semaphore>) {
    let mut failures = 0;
    loop {
        let draining = live.load().draining.clone();
        let accepted = async {
            // Past --max-connections, wait for a connection to end before accepting.
            let permit = slots.clone().acquire_owned().await.ok()?;
            let accepted = listening.listener.accept(&mut failures).await;
            Some((permit, accepted))
        };
        // A graceful stop closes the listener: new connections go to whoever else
        // listens on the address (a new jkd), or are refused.
        let next = tokio::select! {
            accepted = accepted => accepted,
            () = draining.wait() => None,
        };
        let Some((permit, accepted)) = next else {
            return;
        };
        let (stream, peer, local) = match accepted {
            Accepted::Tcp(stream, peer) => {
                let local = stream
                    .local_addr()
                    .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
                let _ = stream.set_nodelay(true);
                (stream::ClientStream::Plain(stream), peer, local)
            }
            // A client on this host, through a proxy that knows the port it was
            // asked on only by the Host header: seen as loopback to port 80.
            Accepted::Unix(stream) => (
                stream::ClientStream::Unix(stream),
                SocketAddr::from(([127, 0, 0, 1], 0)),
                SocketAddr::from(([127, 0, 0, 1], 80)),
            ),
        };
        let live = live.clone();
        let tls = listening.tls.clone();
        let task = async move {
            // Boxed: a TLS handshake's state is large and lives only until it ends; inline,
            // it would size every connection's task for its whole life, parked or not.
            let opened = Box::pin(open_connection(&live, stream, peer, local, tls)).await;
            if let Some((stream, info)) = opened {
                client::serve(live, stream, info).await;
            }
            drop(permit);
        };
        tokio::spawn(task);
    }
}

/// What comes before HTTP on a new connection: the PROXY header of a trusted proxy
/// (`--proxy-protocol`) and the TLS handshake of an HTTPS listener. `None`: the
/// connection was closed (a missing PROXY header, a failed handshake; counted).
async fn open_connection(
    live: &Live,
    mut stream: stream::ClientStream,
    peer: SocketAddr,
    local: SocketAddr,
    tls: Option<Arc<crate::tls::Acceptor>>,
) -> Option<(stream::ClientStream, ConnInfo)> {
    let rt = live.load();
    let mut info = ConnInfo::plain(peer, local);
    if rt.proxy_protocol && forward::is_trusted(&rt.trusted_proxies, peer.ip()) {
        // A trusted proxy names the client in a PROXY header before anything else; a
        // connection without a valid one is closed.
        match proxy_protocol::read_client(&mut stream, rt.limits.timeout).await {
            Ok(Some(client)) => info.peer = client,
            Ok(None) => {}
            Err(why) => {
                tracing::info!("connection from {peer} closed: {why}");
                return None;
            }
        }
    }
    let Some(acceptor) = tls else {
        return Some((stream, info));
    };
    let stream::ClientStream::Plain(stream) = stream else {
        // Never built: TLS listeners are TCP (main refuses `--tls-listen unix:`).
        return None;
    };
    match acceptor
        .accept(stream, rt.limits.timeout, &rt.tls.handshake_errors)
        .await
    {
        Ok(tls) => {
            info.tls = Some(Arc::new(crate::tls::TlsFacts::of(tls.get_ref().1)));
            Some((stream::ClientStream::Tls(Box::new(tls)), info))
        }
        Err(failure) => {
            // Counted, not logged at warn: scanners and old clients fail handshakes
            // all day.
            tracing::debug!("TLS handshake with {peer} failed: {}", failure.as_str());
            None
        }
    }
}
