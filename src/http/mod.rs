//! The HTTP front end: accepts HTTP/1.1 and HTTP/2 (prior knowledge), maps each request with the mount rules and forwards it.

pub mod body;
pub mod client;
pub mod error;
pub mod forward;
pub mod server_errors;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};

use hyper::body::Incoming;
use tokio::net::TcpListener;

use body::IncomingSource;
use error::{ProxyError, status_of};
use forward::{ConnInfo, Outbound, ProxyBody, Runtime, Target};

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

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

/// Handles one request end to end.
pub async fn handle(
    rt: Arc<Runtime>,
    req: Request<Incoming>,
    conn: ConnInfo,
) -> Response<ProxyBody> {
    let id = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
    let (mut parts, incoming) = req.into_parts();
    if !parts.headers.contains_key("x-request-id") {
        let mut text = [0u8; 20];
        let written = {
            let mut cursor = std::io::Cursor::new(&mut text[..]);
            let _ = std::io::Write::write_fmt(&mut cursor, format_args!("jkd-{id:x}"));
            cursor.position() as usize
        };
        if let Ok(v) = HeaderValue::from_bytes(text.get(..written).unwrap_or_default()) {
            parts.headers.insert("x-request-id", v);
        }
    }
    let started = Instant::now();
    let result = route(&rt, &parts, incoming, conn).await;
    match result {
        Ok(resp) => {
            tracing::debug!(id, method = %parts.method, uri = %parts.uri, status = resp.status().as_u16(), ms = started.elapsed().as_millis() as u64, "forwarded");
            resp
        }
        Err(e) => {
            let status = status_of(&e);
            tracing::info!(id, method = %parts.method, uri = %parts.uri, status, "refused: {e:?}");
            plain(
                status,
                StatusCode::from_u16(status)
                    .map(|s| s.canonical_reason().unwrap_or(""))
                    .unwrap_or(""),
            )
        }
    }
}

async fn route(
    rt: &Runtime,
    parts: &http::request::Parts,
    incoming: Incoming,
    conn: ConnInfo,
) -> Result<Response<ProxyBody>, ProxyError> {
    let rule = match rt.config.mounts.map_raw(parts.uri.path()) {
        Err(e) => return Err(ProxyError::BadUri(e)),
        Ok(None) => return Err(ProxyError::NotMapped),
        Ok(Some(r)) => r,
    };
    let target = rt
        .targets
        .get(&rule.worker)
        .cloned()
        .ok_or_else(|| ProxyError::NoSuchWorker(rule.worker.clone()))?;
    if let Target::Status = target {
        // Authentication, the cross-site rules and POSTed forms: see status::auth.
        return Ok(crate::status::auth::serve(rt, &rule.worker, parts, incoming, conn).await);
    }
    let out = Outbound::new(parts, conn, &rt.trusted_proxies);
    let body = IncomingSource::new(incoming);
    let started = Instant::now();
    let forwarded = match target {
        Target::Ajp(w) => forward::direct(w, rule, out, body).await,
        Target::Lb(lb) => forward::via_balancer(lb, rule, out, body).await,
        // Answered above.
        Target::Status => return Err(ProxyError::Unsupported("status worker")),
        Target::Unsupported(why) => return Err(ProxyError::Unsupported(why)),
    };
    if let Some(h) = rt.latency.get(&rule.worker) {
        h.record(started.elapsed().as_secs_f64());
    }
    match forwarded {
        Ok(resp) => Ok(server_errors::apply(rule.extensions.use_server_errors, resp).await),
        Err(e) => Err(e),
    }
}

/// Serves on the given listeners until the process ends; runs maintenance every second.
pub async fn serve(rt: Arc<Runtime>, listeners: Vec<TcpListener>) {
    let upkeep = rt.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            upkeep.maintain(Instant::now());
        }
    });
    let mut tasks = Vec::new();
    for listener in listeners {
        let rt = rt.clone();
        tasks.push(tokio::spawn(accept_loop(rt, listener)));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn accept_loop(rt: Arc<Runtime>, listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let local = stream
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let _ = stream.set_nodelay(true);
        let rt = rt.clone();
        tokio::spawn(client::serve(rt, stream, ConnInfo { peer, local }));
    }
}
