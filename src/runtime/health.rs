//! Application health checks of balancer members (jkd's `health_check_uri`): a GET on the member's own pool (over AJP, or HTTP/1.1 for a `type=http` member) every `health_check_interval`, judged by its status, the result handed to the balancer, which alone decides the member's state.
//!
//! CPing only proves that the container's connector answers: a Tomcat whose
//! application failed to deploy, or lost its database, answers CPing all the same
//! (users.md 2.5). A check asks the application itself; 2xx and 3xx pass, anything
//! else (a 404 of an undeployed context, a 503, no answer within
//! `health_check_timeout`, a refused connection) fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hyper::header::HeaderValue;
use parking_lot::Mutex;

use super::http_pool::HttpPool;
use super::{AjpWorker, LbWorker};
use crate::ajp::conn::ConnError;
use crate::ajp::exchange::{self, NoBody, RequestBody};
use crate::ajp::pool::AcquireError;
use crate::ajp::request::{
    ForwardRequest, LbActivation, RequestAttributes, encode_forward_request,
};
use crate::balancer::MemberState;
use crate::config::values::Activation;

/// When a member's next check is due and whether one is under way; kept by its
/// endpoint, so that it survives a reload that keeps the member.
#[derive(Debug, Default)]
pub struct HealthSchedule {
    next_due: Mutex<Option<Instant>>,
    running: AtomicBool,
    /// Checks that passed and failed (`jkd_health_checks_total`); skipped ones are
    /// neither.
    pub passed: AtomicU64,
    pub failed: AtomicU64,
}

impl HealthSchedule {
    /// Whether a check is due at `now` and none is under way; if so, it is taken
    /// (the next one falls `interval` later).
    fn take_due(&self, now: Instant, interval: Duration) -> bool {
        let mut next = self.next_due.lock();
        if next.is_some_and(|due| now < due) || self.running.load(Ordering::Acquire) {
            return false;
        }
        // Due again one interval later, less half of the upkeep's 1 s tick: a check
        // due at a tick must not slip to the next one by the tick's jitter.
        *next = Some(now + interval.saturating_sub(Duration::from_millis(500)));
        self.running.store(true, Ordering::Release);
        true
    }
}

/// Owns a running check: lets the next one start when the check ends, however it
/// ends.
struct Running(Arc<AjpWorker>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.health.running.store(false, Ordering::Release);
    }
}

/// A connection for a check from a pool (`room`: whether a slot is free now), within
/// `limit`. `Err` holds the check's result without one: `None` when every slot is in
/// use (a busy member, not a dead one), else why none could be had.
async fn connection<L>(
    room: bool,
    limit: Duration,
    acquire: impl std::future::Future<Output = Result<L, AcquireError>>,
) -> Result<L, Option<Result<u16, String>>> {
    if !room {
        return Err(None);
    }
    match tokio::time::timeout(limit, acquire).await {
        Ok(Ok(lease)) => Ok(lease),
        Ok(Err(AcquireError::Busy)) => Err(None),
        Ok(Err(e)) => Err(Some(Err(e.to_string()))),
        Err(_) => Err(Some(Err(format!(
            "no connection within {} ms",
            limit.as_millis()
        )))),
    }
}

/// Why a check got no answer in time.
fn no_answer(limit: Duration) -> String {
    format!("no answer within {} ms", limit.as_millis())
}

/// Starts the checks that are due among `lb`'s members; each runs in a task of its
/// own and reports to the balancer when it ends.
pub fn start_due(lb: &Arc<LbWorker>, now: Instant) {
    // Checks are tasks: outside a runtime (never in jkd) there is nowhere to run them.
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let checked = |m: &crate::balancer::Member<Arc<AjpWorker>>| {
        m.endpoint.settings.health_check_uri.is_some()
    };
    if !lb.members.iter().any(checked) {
        return;
    }
    let states = lb.snapshot();
    for (index, member) in lb.members.iter().enumerate() {
        let worker = &member.endpoint;
        let Some(uri) = worker.settings.health_check_uri.clone() else {
            continue;
        };
        // Stopped members take no traffic at all.
        let stopped = states
            .get(index)
            .is_none_or(|s| s.activation == Activation::Stopped);
        if stopped {
            continue;
        }
        let interval = Duration::from_secs(worker.settings.health_check_interval.max(1) as u64);
        if !worker.health.take_due(now, interval) {
            continue;
        }
        let lb = lb.clone();
        let running = Running(worker.clone());
        runtime.spawn(async move {
            let worker = &running.0;
            let Some(result) = check(worker, &uri).await else {
                tracing::debug!(lb = %lb.name, member = %worker.name, "health check GET {uri} skipped: every connection is in use");
                return;
            };
            let passed = matches!(result, Ok(status) if (200..400).contains(&status));
            let counted = if passed {
                &worker.health.passed
            } else {
                &worker.health.failed
            };
            counted.fetch_add(1, Ordering::Relaxed);
            let why = match &result {
                Ok(status) => format!("answered {status}"),
                Err(e) => e.clone(),
            };
            // A reload may have replaced the balancer while the check ran: the result
            // goes to the one in service, if it still has this member on this endpoint.
            let lb = lb.current();
            let Some(index) = lb
                .members
                .iter()
                .position(|m| Arc::ptr_eq(&m.endpoint, worker))
            else {
                return;
            };
            match lb.health_checked(index, passed, Instant::now()) {
                Some(MemberState::Error) => tracing::warn!(
                    lb = %lb.name, member = %worker.name,
                    "health check GET {uri} failed ({why}): the member is in error until a check passes"
                ),
                Some(state) => tracing::info!(
                    lb = %lb.name, member = %worker.name,
                    "health check GET {uri} passes again ({why}): the member is {}",
                    state.as_str()
                ),
                None => tracing::debug!(lb = %lb.name, member = %worker.name, "health check GET {uri}: {why}"),
            }
        });
    }
}

/// One check: the GET on a pooled (or new) connection, the answer read to its end
/// so that the connection can be reused; the status, or why there is none. `None`:
/// every connection slot is in use (a busy member, not a dead one): no result.
async fn check(worker: &AjpWorker, uri: &str) -> Option<Result<u16, String>> {
    let limit = Duration::from_millis(worker.settings.health_check_timeout.max(1) as u64);
    if let Some(pool) = &worker.http {
        return check_http(worker, pool, uri, limit).await;
    }
    let mut lease = match connection(
        worker.pool.has_room(),
        limit,
        worker.pool.acquire_checked(false),
    )
    .await
    {
        Ok(lease) => lease,
        Err(no_result) => return no_result,
    };
    let asked = async {
        let packet = request(worker, uri)?;
        let mut body = RequestBody::new(NoBody, Some(0));
        let socket = worker.pool.timeouts.socket;
        // The whole check is bounded below; an unanswered one is dropped with its
        // connection.
        let head = exchange::send_request(lease.conn(), &packet, &mut body, None, socket)
            .await
            .map_err(|f| f.to_string())?;
        let reuse = exchange::relay_body(lease.conn(), &mut body, None, socket, |_| async { true })
            .await
            .map_err(|f| f.to_string())?;
        lease.release(reuse);
        Ok(head.status)
    };
    Some(
        tokio::time::timeout(limit, asked)
            .await
            .unwrap_or_else(|_| Err(no_answer(limit))),
    )
}

/// The check of a `type=http` member: the same GET over HTTP/1.1 on its pool, with
/// `Host` naming the member as jkd's probe does.
async fn check_http(
    worker: &AjpWorker,
    pool: &Arc<HttpPool>,
    uri: &str,
    limit: Duration,
) -> Option<Result<u16, String>> {
    let mut lease = match connection(pool.has_room(), limit, pool.acquire(None)).await {
        Ok(lease) => lease,
        Err(no_result) => return no_result,
    };
    let host = format!("{}:{}", worker.settings.host, worker.settings.port);
    let Ok(host) = HeaderValue::from_str(&host) else {
        lease.close();
        return Some(Err(format!("'{host}' cannot be a Host header")));
    };
    let mut asked =
        tokio::time::timeout(limit, lease.ask(hyper::Method::GET, uri, host.clone())).await;
    if matches!(asked, Ok(Err(_))) && !lease.fresh {
        // A kept-alive connection the member was closing just then says nothing about
        // the application: asked once more on a new connection (a GET, safe to repeat).
        // The new connection and its answer within the check's limit again.
        let again = async {
            match lease.reconnect().await {
                Ok(()) => lease.ask(hyper::Method::GET, uri, host).await,
                Err(AcquireError::Connect(e)) => Err(e),
                Err(e) => Err(ConnError::Io(std::io::Error::other(e.to_string()))),
            }
        };
        asked = tokio::time::timeout(limit, again).await;
    }
    Some(match asked {
        Ok(Ok((status, whole))) => {
            if whole {
                lease.release(true).await;
            } else {
                lease.close();
            }
            Ok(status.as_u16())
        }
        Ok(Err(e)) => {
            lease.close();
            Err(e.to_string())
        }
        Err(_) => {
            lease.close();
            Err(no_answer(limit))
        }
    })
}

/// The check's FORWARD_REQUEST: a GET from jkd itself (loopback, `Host: localhost`,
/// Tomcat's default host), with the worker's `secret`.
fn request(worker: &AjpWorker, uri: &str) -> Result<BytesMut, String> {
    let (path, query) = match uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (uri, None),
    };
    let forward = ForwardRequest {
        method: b"GET",
        protocol: b"HTTP/1.1",
        req_uri: path.as_bytes(),
        remote_addr: b"127.0.0.1",
        remote_host: None,
        server_name: b"localhost",
        server_port: 80,
        is_ssl: false,
        headers: vec![
            (b"Host".as_slice(), b"localhost".as_slice()),
            (b"User-Agent".as_slice(), b"jkd-health-check".as_slice()),
            (b"content-length".as_slice(), b"0".as_slice()),
        ],
        attributes: RequestAttributes {
            secret: worker.settings.secret.as_deref().map(str::as_bytes),
            query_string: query.map(str::as_bytes),
            remote_port: b"0",
            local_addr: b"127.0.0.1",
            lb_activation: LbActivation::Active,
            ..RequestAttributes::default()
        },
    };
    let mut out = BytesMut::new();
    let max = usize::try_from(worker.settings.max_packet_size).unwrap_or(8192);
    encode_forward_request(&forward, max, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}
