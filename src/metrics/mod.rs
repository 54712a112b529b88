//! Prometheus metrics: a private registry per runtime, counters published from the lock-free atomics at scrape time, request latency histograms, and the `/metrics` listener.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use tokio::net::TcpListener;

use crate::balancer::{Drain, MemberCounters, MemberRuntime, MemberState};
use crate::config::values::Activation;
use crate::runtime::{LbMember, LbWorker, Runtime, Target};

/// Every metric's name, in one place: the describe calls and the publishing code
/// must agree, and dashboards depend on these exact strings.
pub mod names {
    pub const REQUESTS_TOTAL: &str = "jkd_requests_total";
    pub const ERRORS_TOTAL: &str = "jkd_errors_total";
    pub const CLIENT_ERRORS_TOTAL: &str = "jkd_client_errors_total";
    pub const SESSIONS_TOTAL: &str = "jkd_sessions_total";
    pub const BACKEND_SENT_BYTES_TOTAL: &str = "jkd_backend_sent_bytes_total";
    pub const BACKEND_RECEIVED_BYTES_TOTAL: &str = "jkd_backend_received_bytes_total";
    pub const SECRET_REFUSALS_TOTAL: &str = "jkd_secret_refusals_total";
    pub const STICKY_REQUESTS_TOTAL: &str = "jkd_sticky_requests_total";
    pub const FAILOVERS_TOTAL: &str = "jkd_failovers_total";
    pub const BUSY: &str = "jkd_busy";
    pub const MAX_BUSY: &str = "jkd_max_busy";
    pub const CONNECTIONS: &str = "jkd_connections";
    pub const MAX_CONNECTIONS: &str = "jkd_max_connections";
    pub const REPLY_TIMEOUTS: &str = "jkd_reply_timeouts";
    pub const MEMBER_STATE: &str = "jkd_member_state";
    pub const MEMBER_ACTIVATION: &str = "jkd_member_activation";
    pub const MEMBER_LB_VALUE: &str = "jkd_member_lb_value";
    pub const MEMBER_LBFACTOR: &str = "jkd_member_lbfactor";
    pub const SESSION_ROUTE_MISMATCHES_TOTAL: &str = "jkd_session_route_mismatches_total";
    pub const MEMBER_LAST_SESSION_REQUEST_TIMESTAMP_SECONDS: &str =
        "jkd_member_last_session_request_timestamp_seconds";
    pub const CLIENT_CONNECTIONS: &str = "jkd_client_connections";
    pub const REQUEST_DURATION_SECONDS: &str = "jkd_request_duration_seconds";
    pub const MEMBER_REQUEST_DURATION_SECONDS: &str = "jkd_member_request_duration_seconds";
    pub const TLS_CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS: &str =
        "jkd_tls_certificate_expiry_timestamp_seconds";
    pub const TLS_HANDSHAKE_ERRORS_TOTAL: &str = "jkd_tls_handshake_errors_total";
    pub const CONFIG_RELOADS_TOTAL: &str = "jkd_config_reloads_total";
    pub const BUILD_INFO: &str = "jkd_build_info";
    pub const RESPONSES_TOTAL: &str = "jkd_responses_total";
    pub const BALANCER_BUSY: &str = "jkd_balancer_busy";
    pub const BALANCER_MAX_BUSY: &str = "jkd_balancer_max_busy";
    pub const CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS: &str =
        "jkd_config_last_reload_success_timestamp_seconds";
    pub const MANAGER_REFUSED_TOTAL: &str = "jkd_manager_refused_total";
    pub const ACCESS_LOG_DROPPED_TOTAL: &str = "jkd_access_log_dropped_total";
    pub const HEALTH_CHECKS_TOTAL: &str = "jkd_health_checks_total";
}

const META: Metadata<'static> = Metadata::new("jkd", Level::INFO, Some("jkd::metrics"));

/// Latency buckets in seconds, from a fast local backend to a slow page.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

const STATES: [MemberState; 7] = [
    MemberState::Idle,
    MemberState::Ok,
    MemberState::Recover,
    MemberState::Force,
    MemberState::Busy,
    MemberState::Error,
    MemberState::Probe,
];

/// The registry of one runtime.
pub struct Registry {
    recorder: PrometheusRecorder,
    /// The process's CPU, memory, descriptors and start time (metrics-process reads
    /// them from /proc at each scrape).
    process: metrics_process::Collector,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registry")
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::new(*k, v.to_string()))
        .collect();
    Key::from_parts(name, labels)
}

impl Registry {
    pub fn new() -> Registry {
        let builder = PrometheusBuilder::new();
        let builder = match builder.set_buckets(LATENCY_BUCKETS) {
            Ok(b) => b,
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        Self::describe(&recorder);
        let process = metrics_process::Collector::default();
        metrics::with_local_recorder(&recorder, || process.describe());
        Registry { recorder, process }
    }

    fn describe(r: &PrometheusRecorder) {
        let d = |name: &'static str, unit: Option<Unit>, text: &'static str| {
            r.describe_counter(name.into(), unit, text.into());
        };
        d(
            names::REQUESTS_TOTAL,
            None,
            "Requests sent to a backend (mod_jk: elected/used)",
        );
        d(
            names::ERRORS_TOTAL,
            None,
            "Failed requests counted against the backend",
        );
        d(
            names::CLIENT_ERRORS_TOTAL,
            None,
            "Requests that failed on the client side",
        );
        d(
            names::SESSIONS_TOTAL,
            None,
            "Requests without a session id (new sessions)",
        );
        d(
            names::BACKEND_SENT_BYTES_TOTAL,
            Some(Unit::Bytes),
            "Bytes sent to the backend",
        );
        d(
            names::BACKEND_RECEIVED_BYTES_TOTAL,
            Some(Unit::Bytes),
            "Response body bytes relayed from the backend",
        );
        d(
            names::SECRET_REFUSALS_TOTAL,
            None,
            "Requests Tomcat refused for a missing or wrong AJP secret",
        );
        d(
            names::HEALTH_CHECKS_TOTAL,
            None,
            "Application health checks (health_check_uri) of a member, by result",
        );
        d(
            names::STICKY_REQUESTS_TOTAL,
            None,
            "Requests with a session id, by whether they reached the session's member",
        );
        d(
            names::FAILOVERS_TOTAL,
            None,
            "Attempts on another member after a failed one",
        );
        let g = |name: &'static str, text: &'static str| {
            r.describe_gauge(name.into(), None, text.into());
        };
        g(
            names::BUSY,
            "Requests in flight on a member (or a worker used directly)",
        );
        g(
            names::BALANCER_BUSY,
            "Requests in flight on a load balancer (all its members)",
        );
        g(
            names::BALANCER_MAX_BUSY,
            "Most requests in flight at once on a load balancer",
        );
        g(names::BUILD_INFO, "jkd's version (the value is always 1)");
        d(
            names::RESPONSES_TOTAL,
            None,
            "Responses by status code (common codes alone, others as 1xx..5xx); member \"-\" when no member answered",
        );
        d(
            names::ACCESS_LOG_DROPPED_TOTAL,
            None,
            "Access log lines dropped because the writer fell behind (requests never wait for it)",
        );
        d(
            names::CONFIG_RELOADS_TOTAL,
            None,
            "Configuration reloads (SIGHUP), by result",
        );
        d(
            names::MANAGER_REFUSED_TOTAL,
            None,
            "Requests for the status manager refused because the client's address is not allowed",
        );
        g(
            names::CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS,
            "When the running configuration was read (start or last good reload), Unix seconds",
        );
        g(
            names::TLS_CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS,
            "When a TLS listener's certificate expires (notAfter, Unix seconds)",
        );
        d(
            names::SESSION_ROUTE_MISMATCHES_TOTAL,
            None,
            "Session cookies a member set with a route other than its own, or none (its Tomcat's jvmRoute does not match: those sessions cannot stick)",
        );
        d(
            names::TLS_HANDSHAKE_ERRORS_TOTAL,
            None,
            "TLS handshakes that failed, by reason",
        );
        g(names::MAX_BUSY, "Most requests in flight at once");
        g(names::CONNECTIONS, "Open backend connections");
        g(
            names::MAX_CONNECTIONS,
            "Most open backend connections at once",
        );
        g(
            names::REPLY_TIMEOUTS,
            "Recent reply timeouts (decayed as mod_jk does)",
        );
        g(
            names::MEMBER_STATE,
            "1 for the member's current state (OK, OK/IDLE, ERR, ...)",
        );
        g(
            names::MEMBER_ACTIVATION,
            "1 for the member's current activation (ACT, DIS, STP)",
        );
        g(
            names::MEMBER_LB_VALUE,
            "The member's load value (lower is chosen first)",
        );
        g(names::MEMBER_LBFACTOR, "The member's configured weight");
        g(
            names::MEMBER_LAST_SESSION_REQUEST_TIMESTAMP_SECONDS,
            "When the last request routed to the member by its session ended (Unix seconds)",
        );
        g(
            names::CLIENT_CONNECTIONS,
            "Open client connections: active, or parked while idle (HTTP/1.1)",
        );
        r.describe_histogram(
            names::REQUEST_DURATION_SECONDS.into(),
            Some(Unit::Seconds),
            "Time from request to response head, by worker".into(),
        );
        r.describe_histogram(
            names::MEMBER_REQUEST_DURATION_SECONDS.into(),
            Some(Unit::Seconds),
            "Time from request to response head, by worker and the member that answered".into(),
        );
    }

    /// A latency histogram for requests mapped to `worker`, or with `member`, for
    /// those that member answered.
    pub fn latency(&self, worker: &str, member: Option<&str>) -> Histogram {
        let key = match member {
            None => key(names::REQUEST_DURATION_SECONDS, &[("worker", worker)]),
            Some(m) => key(
                names::MEMBER_REQUEST_DURATION_SECONDS,
                &[("worker", worker), ("member", m)],
            ),
        };
        self.recorder.register_histogram(&key, &META)
    }

    fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Counter {
        self.recorder.register_counter(&key(name, labels), &META)
    }

    fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Gauge {
        self.recorder.register_gauge(&key(name, labels), &META)
    }

    fn publish_counters(&self, c: &MemberCounters, labels: &[(&'static str, &str)]) {
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        // Totals since start: the manager's resets do not take them back.
        let carry = &c.before_resets;
        let total = MemberCounters::total;
        self.counter(names::REQUESTS_TOTAL, labels)
            .absolute(total(&c.elected, &carry.elected));
        self.counter(names::ERRORS_TOTAL, labels)
            .absolute(total(&c.errors, &carry.errors));
        self.counter(names::CLIENT_ERRORS_TOTAL, labels)
            .absolute(total(&c.client_errors, &carry.client_errors));
        self.counter(names::BACKEND_SENT_BYTES_TOTAL, labels)
            .absolute(total(&c.transferred, &carry.transferred));
        self.counter(names::BACKEND_RECEIVED_BYTES_TOTAL, labels)
            .absolute(total(&c.read, &carry.read));
        self.gauge(names::BUSY, labels).set(load(&c.busy) as f64);
        self.gauge(names::MAX_BUSY, labels)
            .set(load(&c.max_busy) as f64);
        self.gauge(names::REPLY_TIMEOUTS, labels)
            .set(load(&c.reply_timeouts) as f64);
    }

    /// Publishes the runtime's current values and renders the text format.
    pub fn render(&self, rt: &Runtime) -> String {
        let open = rt.clients.open.load(Ordering::Relaxed);
        let parked = rt.clients.parked.load(Ordering::Relaxed);
        self.gauge(names::CLIENT_CONNECTIONS, &[("state", "active")])
            .set(open.saturating_sub(parked) as f64);
        self.gauge(names::CLIENT_CONNECTIONS, &[("state", "parked")])
            .set(parked as f64);
        self.publish_tls(&rt.tls);
        self.gauge(names::BUILD_INFO, &[("version", env!("CARGO_PKG_VERSION"))])
            .set(1.0);
        for (worker, code, n) in rt.unanswered.counted() {
            self.counter(
                names::RESPONSES_TOTAL,
                &[
                    ("worker", worker.as_str()),
                    ("member", "-"),
                    ("code", code.as_str()),
                ],
            )
            .absolute(n);
        }
        metrics::with_local_recorder(&self.recorder, || self.process.collect());
        let reloads = &rt.reloads;
        for (result, n) in [
            ("success", &reloads.successes),
            ("failure", &reloads.failures),
        ] {
            self.counter(names::CONFIG_RELOADS_TOTAL, &[("result", result)])
                .absolute(n.load(Ordering::Relaxed));
        }
        if let Some(log) = &rt.access_log {
            self.counter(names::ACCESS_LOG_DROPPED_TOTAL, &[])
                .absolute(log.dropped());
        }
        self.gauge(names::CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS, &[])
            .set(reloads.last_success.load(Ordering::Relaxed) as f64);
        self.counter(names::MANAGER_REFUSED_TOTAL, &[])
            .absolute(rt.manager_refused.load(Ordering::Relaxed));
        for (name, target) in &rt.targets {
            match target {
                Target::Ajp(w) => {
                    let labels = [("worker", name.as_str()), ("member", "")];
                    self.publish_counters(&w.counters, &labels);
                    self.publish_pool(w, &labels);
                }
                Target::Lb(lb) => self.publish_balancer(name, lb),
                Target::Status | Target::Unsupported(_) => {}
            }
        }
        self.recorder.handle().render()
    }

    /// Handshake failures by reason and each certificate's expiry (only when jkd has
    /// TLS listeners).
    /// A balancer's totals and each member's counters, pool, state and load.
    fn publish_balancer(&self, name: &str, b: &LbWorker) {
        let lb_labels = [("worker", name)];
        // The balancer's totals in metrics of their own: summing jkd_busy
        // over members must not count them twice.
        self.gauge(names::BALANCER_BUSY, &lb_labels)
            .set(b.busy.load(Ordering::Relaxed) as f64);
        self.gauge(names::BALANCER_MAX_BUSY, &lb_labels)
            .set(b.max_busy.load(Ordering::Relaxed) as f64);
        for (result, v) in [("hit", &b.sticky_hits), ("miss", &b.sticky_misses)] {
            self.counter(
                names::STICKY_REQUESTS_TOTAL,
                &[("worker", name), ("result", result)],
            )
            .absolute(v.load(Ordering::Relaxed));
        }
        self.counter(names::FAILOVERS_TOTAL, &lb_labels)
            .absolute(b.failovers.load(Ordering::Relaxed));
        for (member, m) in b.members_with_state() {
            self.publish_member(name, member, &m);
        }
    }

    fn publish_member(&self, name: &str, member: &LbMember, m: &MemberRuntime) {
        let labels = [("worker", name), ("member", m.name.as_str())];
        let c = &member.counters;
        self.publish_counters(c, &labels);
        self.counter(names::SESSIONS_TOTAL, &labels)
            .absolute(MemberCounters::total(
                &c.sessions,
                &c.before_resets.sessions,
            ));
        self.publish_pool(&member.endpoint, &labels);
        for s in STATES {
            let v = if s == m.state { 1.0 } else { 0.0 };
            self.gauge(
                names::MEMBER_STATE,
                &[
                    ("worker", name),
                    ("member", m.name.as_str()),
                    ("state", s.as_str()),
                ],
            )
            .set(v);
        }
        for a in [
            Activation::Active,
            Activation::Disabled,
            Activation::Stopped,
        ] {
            let v = if a == m.activation { 1.0 } else { 0.0 };
            self.gauge(
                names::MEMBER_ACTIVATION,
                &[
                    ("worker", name),
                    ("member", m.name.as_str()),
                    ("activation", a.as_str()),
                ],
            )
            .set(v);
        }
        self.gauge(names::MEMBER_LB_VALUE, &labels)
            .set(m.lb_value as f64);
        self.gauge(names::MEMBER_LBFACTOR, &labels)
            .set(f64::from(m.lbfactor));
        self.counter(names::SESSION_ROUTE_MISMATCHES_TOTAL, &labels)
            .absolute(member.endpoint.route_mismatches.load(Ordering::Relaxed));
        if let Some(ended) = m.last_session_request {
            let ago = std::time::Instant::now().saturating_duration_since(ended);
            let at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .saturating_sub(ago);
            self.gauge(
                names::MEMBER_LAST_SESSION_REQUEST_TIMESTAMP_SECONDS,
                &labels,
            )
            .set(at.as_secs_f64().floor());
        }
    }

    fn publish_tls(&self, tls: &crate::tls::TlsState) {
        let certificates = tls.certificates();
        if certificates.is_empty() {
            return;
        }
        for (failure, n) in tls.handshake_errors.counts() {
            self.counter(
                names::TLS_HANDSHAKE_ERRORS_TOTAL,
                &[("reason", failure.as_str())],
            )
            .absolute(n);
        }
        for (listener, cert) in &certificates {
            let name = cert.names.first().map(String::as_str).unwrap_or("");
            self.gauge(
                names::TLS_CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS,
                &[
                    ("listener", listener.as_str()),
                    ("file", cert.file.as_str()),
                    ("name", name),
                ],
            )
            .set(cert.not_after as f64);
        }
    }

    fn publish_responses(&self, w: &crate::runtime::AjpWorker, labels: &[(&'static str, &str)]) {
        for (code, n) in w.responses.counted() {
            let mut with_code = labels.to_vec();
            with_code.push(("code", code.as_str()));
            self.counter(names::RESPONSES_TOTAL, &with_code).absolute(n);
        }
    }

    fn publish_pool(&self, w: &crate::runtime::AjpWorker, labels: &[(&'static str, &str)]) {
        self.publish_responses(w, labels);
        let p = w.connections();
        self.gauge(names::CONNECTIONS, labels)
            .set(p.connected.load(Ordering::Relaxed) as f64);
        self.gauge(names::MAX_CONNECTIONS, labels)
            .set(p.max_connected.load(Ordering::Relaxed) as f64);
        self.counter(names::SECRET_REFUSALS_TOTAL, labels)
            .absolute(w.secret_refusals.load(Ordering::Relaxed));
        if w.settings.health_check_uri.is_some() {
            for (result, n) in [
                ("pass", w.health.passed.load(Ordering::Relaxed)),
                ("fail", w.health.failed.load(Ordering::Relaxed)),
            ] {
                let mut with_result = labels.to_vec();
                with_result.push(("result", result));
                self.counter(names::HEALTH_CHECKS_TOTAL, &with_result)
                    .absolute(n);
            }
        }
    }
}

/// Why jkd should not get traffic now (`/readyz` answers 503 with it), `None` when it
/// is ready: stopping, or a load balancer without a member that can take a request.
/// The configuration was read and the listeners were bound before this listener
/// opened.
pub fn not_ready(rt: &Runtime) -> Option<String> {
    if rt.draining.is_draining() {
        return Some("stopping: jkd is finishing its requests and exits\n".to_string());
    }
    let mut down: Vec<String> = rt
        .targets
        .iter()
        .filter_map(|(name, target)| match target {
            Target::Lb(lb) => {
                let members = lb.snapshot();
                let usable = members.iter().any(|m| m.state.usable(m.activation));
                (!usable).then(|| {
                    let states: Vec<String> = members
                        .iter()
                        .map(|m| {
                            format!("{} {} {}", m.name, m.activation.as_str(), m.state.as_str())
                        })
                        .collect();
                    format!(
                        "load balancer {name} has no usable member ({})\n",
                        states.join(", ")
                    )
                })
            }
            _ => None,
        })
        .collect();
    down.sort();
    (!down.is_empty()).then(|| down.concat())
}

/// The answer of `/drained/WORKER/MEMBER?quiet=SECS`: `200` when the member of load
/// balancer WORKER can be taken down without cutting a request or a session still in
/// use (disabled or stopped, nothing in flight, no request of one of its sessions for
/// SECS seconds, default 0), `503` with what is left on it otherwise. Deployment
/// scripts wait on it between draining a node and restarting it.
pub fn drain_answer(
    rt: &Runtime,
    path: &str,
    query: Option<&str>,
    now: std::time::Instant,
) -> (StatusCode, String) {
    let mut quiet = 0u64;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("quiet", v)) => match v.parse() {
                Ok(secs) => quiet = secs,
                Err(_) => {
                    return (
                        StatusCode::BAD_REQUEST,
                        format!("quiet={v}: a number of seconds expected\n"),
                    );
                }
            },
            _ => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("{pair}: unknown parameter (only quiet=SECS)\n"),
                );
            }
        }
    }
    let Some((worker, member)) = path.split_once('/') else {
        return (
            StatusCode::NOT_FOUND,
            "use /drained/WORKER/MEMBER?quiet=SECS\n".to_string(),
        );
    };
    let lb = match rt.targets.get(worker) {
        Some(Target::Lb(lb)) => lb,
        Some(_) => {
            return (
                StatusCode::NOT_FOUND,
                format!("worker {worker} is not a load balancer\n"),
            );
        }
        None => {
            return (
                StatusCode::NOT_FOUND,
                format!("no load balancer named {worker}\n"),
            );
        }
    };
    let quiet_for = std::time::Duration::from_secs(quiet);
    let Some(found) = lb.drain_check(member, quiet_for, now) else {
        let names: Vec<&str> = lb.members.iter().map(|m| m.name()).collect();
        return (
            StatusCode::NOT_FOUND,
            format!(
                "load balancer {worker} has no member {member} (members: {})\n",
                names.join(", ")
            ),
        );
    };
    let who = format!("member {member} of {worker}");
    let not = |why: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not drained: {why}\n"),
        )
    };
    match found {
        Drain::Active => not(format!(
            "{who} is active: set its activation to disabled (D) or stopped (S) first"
        )),
        Drain::InFlight(n) => not(format!(
            "{n} request(s) or WebSocket(s) still under way on {who}"
        )),
        Drain::NotWatchedLongEnough { watched } => not(format!(
            "jkd has known {who} for {} s only (quiet={quiet}): a session may still use it \
             (sessions seen before this jkd started are unknown to it)",
            watched.as_secs()
        )),
        Drain::SessionsRecent { ago } => not(format!(
            "a request of one of the sessions of {who} ended {} s ago (quiet={quiet})",
            ago.as_secs()
        )),
        Drain::Drained {
            activation,
            since_session,
        } => {
            let last = match since_session {
                Some(ago) => format!(
                    "the last request of one of its sessions ended {} s ago",
                    ago.as_secs()
                ),
                None => "no request of one of its sessions since jkd started".to_string(),
            };
            (
                StatusCode::OK,
                format!(
                    "drained: {who} is {} ({}), nothing under way, {last}\n",
                    if activation == Activation::Stopped {
                        "stopped"
                    } else {
                        "disabled"
                    },
                    activation.as_str()
                ),
            )
        }
    }
}

/// Serves `GET /metrics`, `/healthz`, `/readyz` and `/drained/...` on `listener` until
/// the process ends.
pub async fn serve(
    live: Arc<crate::runtime::Live>,
    registry: Arc<Registry>,
    listener: TcpListener,
) {
    let mut failures = 0;
    loop {
        // Accept errors (no descriptors left) pause and retry: scraping resumes once
        // descriptors are free, it does not stop for good.
        let (stream, _) =
            crate::runtime::listen::accept_with_backoff(&listener, &mut failures).await;
        let live = live.clone();
        let registry = registry.clone();
        let limit = live.load().limits.timeout;
        tokio::spawn(async move {
            let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let rt = live.load();
                let registry = registry.clone();
                async move {
                    let (status, body) = match req.uri().path() {
                        "/metrics" => (StatusCode::OK, registry.render(&rt)),
                        // Alive: the process answers.
                        "/healthz" => (StatusCode::OK, "ok\n".to_string()),
                        "/readyz" => match not_ready(&rt) {
                            None => (StatusCode::OK, "ready\n".to_string()),
                            Some(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
                        },
                        path => match path.strip_prefix("/drained/") {
                            Some(rest) => drain_answer(
                                &rt,
                                rest,
                                req.uri().query(),
                                std::time::Instant::now(),
                            ),
                            None => (
                                StatusCode::NOT_FOUND,
                                "not found: try /metrics, /healthz, /readyz or \
                                 /drained/WORKER/MEMBER\n"
                                    .to_string(),
                            ),
                        },
                    };
                    let mut resp = Response::new(Full::new(Bytes::from(body)));
                    *resp.status_mut() = status;
                    resp.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/plain; version=0.0.4"),
                    );
                    Ok::<_, Infallible>(resp)
                }
            });
            // A scrape is one short request: the whole connection gets the client
            // timeout, so an idle or slow peer cannot hold a descriptor for long.
            let _ = tokio::time::timeout(
                limit,
                auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc),
            )
            .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, start: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(start))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn counters_stay_monotonic_across_the_managers_reset() {
        let text = "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=node1\n\
                    worker.node1.port=8009\n";
        let loaded = crate::config::from_workers_bytes("t", text.as_bytes(), &|_| None);
        let rt = Runtime::new(loaded.config.unwrap(), std::time::Instant::now());
        let Some(Target::Lb(lb)) = rt.targets.get("lb") else {
            panic!("no lb")
        };
        let registry = Registry::new();
        let series = "jkd_requests_total{worker=\"lb\",member=\"node1\"}";
        lb.members[0].counters.elected.store(19, Ordering::Relaxed);
        assert_eq!(value(&registry.render(&rt), series), Some(19.0));
        // The manager resets the member; it serves 3 more.
        lb.reset_member(0, std::time::Instant::now());
        assert_eq!(lb.members[0].counters.elected.load(Ordering::Relaxed), 0);
        lb.members[0]
            .counters
            .elected
            .fetch_add(3, Ordering::Relaxed);
        assert_eq!(value(&registry.render(&rt), series), Some(22.0));
    }
}
