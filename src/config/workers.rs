//! Typed workers: turns the resolved property map into ajp13, lb and status workers with mod_jk's defaults and checks.

use super::diag::{Diagnostics, Origin};
use super::props::{Entry, PropMap};
use super::values::{self, Activation, Lock, Method, PingMode};

/// Longest name, host, route, domain, redirect or session name mod_jk 1.2.48 accepts.
pub const MAX_NAME_LEN: usize = 60;
pub const DEFAULT_PORT: i32 = 8009;
pub const DEFAULT_HOST: &str = "localhost";
pub const DEFAULT_PACKET_SIZE: i32 = 8192;
pub const MAX_PACKET_SIZE: i32 = 65536;
pub const DEFAULT_PING_TIMEOUT: i32 = 10000;
pub const DEFAULT_RETRIES: i32 = 2;
pub const DEFAULT_RETRY_INTERVAL: i32 = 100;
pub const DEFAULT_RECOVER_TIME: i32 = 60;
pub const DEFAULT_MAINTAIN: i32 = 60;
/// The port of a jkd-only `type=http` worker when none is given: Tomcat's HTTP
/// connector's default.
pub const DEFAULT_HTTP_PORT: i32 = 8080;

/// How jkd talks to a backend. `Http` is jkd's own (`type=http`): the same worker with
/// the same balancing settings, reached over HTTP/1.1 instead of AJP, so that an
/// application without an AJP connector can be a member of the same balancer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AjpProtocol {
    Ajp13,
    Ajp14,
    Http,
}

/// Connection settings of one AJP backend (a direct worker or a balancer member).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AjpSettings {
    pub protocol: AjpProtocol,
    pub host: String,
    pub port: i32,
    pub source: String,
    pub prefer_ipv6: bool,
    /// seconds; 0 = off
    pub socket_timeout: i32,
    /// milliseconds
    pub socket_connect_timeout: i32,
    pub socket_keepalive: bool,
    /// bytes; 0 = OS default
    pub socket_buffer: i32,
    /// `None`: not configured, the connection layer picks its default.
    pub pool_size: Option<i32>,
    pub pool_minsize: Option<i32>,
    /// seconds; 0 = never close idle connections
    pub pool_timeout: i32,
    /// milliseconds
    pub acquire_timeout: i32,
    pub ping_mode: PingMode,
    /// milliseconds
    pub ping_timeout: i32,
    /// milliseconds; > 0 means CPing after connect
    pub connect_timeout: i32,
    /// milliseconds; > 0 means CPing before each request
    pub prepost_timeout: i32,
    /// seconds
    pub connection_ping_interval: i32,
    /// milliseconds; 0 = off
    pub reply_timeout: i32,
    pub recovery_options: u32,
    pub retries: i32,
    /// milliseconds
    pub retry_interval: i32,
    pub busy_limit: i32,
    pub max_packet_size: i32,
    pub fail_on_status: Vec<i32>,
    /// The raw `fail_on_status` text, as the status worker shows it.
    pub fail_on_status_text: Option<String>,
    pub secret: Option<String>,
    /// jkd-only `http_port`: the member's HTTP connector, for WebSocket (AJP cannot
    /// carry it).
    pub http_port: Option<u16>,
    /// jkd-only `http_host`; the AJP host when not given.
    pub http_host: Option<String>,
    /// jkd-only application health check of a balancer member: a GET of this URI
    /// over AJP every `health_check_interval`; `None`: off (CPing only).
    pub health_check_uri: Option<String>,
    /// seconds between two health checks (`health_check_interval`, default 10)
    pub health_check_interval: i32,
    /// milliseconds a health check may take (`health_check_timeout`; default: the
    /// worker's `ping_timeout`)
    pub health_check_timeout: i32,
    /// jkd-only `tls`: a `type=http` member reached over HTTPS.
    pub tls: bool,
    /// jkd-only `tls_ca`: the PEM file of the CA certificates its certificate is
    /// verified against.
    pub tls_ca: Option<String>,
    /// jkd-only `tls_server_name`: the name its certificate must carry (and SNI);
    /// default its `host`.
    pub tls_server_name: Option<String>,
}

/// Seconds between two application health checks of a member.
pub const DEFAULT_HEALTH_CHECK_INTERVAL: i32 = 10;

impl AjpSettings {
    /// Where the worker's HTTP connector listens: `host` and `port` of a `type=http`
    /// worker, else where `http_port` says.
    pub fn http_endpoint(&self) -> Option<(&str, u16)> {
        if self.protocol.is_http() {
            return u16::try_from(self.port)
                .ok()
                .filter(|p| *p > 0)
                .map(|p| (self.host.as_str(), p));
        }
        let port = self.http_port?;
        Some((self.http_host.as_deref().unwrap_or(&self.host), port))
    }
}

/// One member of a load balancer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub ajp: AjpSettings,
    pub lbfactor: i32,
    pub lb_mult: u64,
    pub distance: i32,
    pub route: String,
    pub domain: String,
    pub redirect: String,
    pub activation: Activation,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LbSettings {
    pub members: Vec<Member>,
    pub sticky_session: bool,
    pub sticky_session_force: bool,
    pub method: Method,
    pub lock: Lock,
    pub retries: i32,
    pub lb_retries: i32,
    /// milliseconds
    pub retry_interval: i32,
    /// seconds
    pub recover_time: i32,
    /// seconds
    pub error_escalation_time: i32,
    pub max_reply_timeouts: i32,
    pub session_cookie: String,
    pub session_path: String,
    pub set_session_cookie: bool,
    pub session_cookie_path: String,
    pub secret: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusSettings {
    pub css: Option<String>,
    pub prefix: String,
    pub ns: String,
    pub xmlns: String,
    pub doctype: Option<String>,
    pub read_only: bool,
    pub users: Vec<String>,
    pub user_case_insensitive: bool,
    pub good: Vec<String>,
    pub bad: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkerKind {
    Ajp(AjpSettings),
    Lb(LbSettings),
    Status(StatusSettings),
    /// The obsolete ajp12 protocol: mod_jk still creates it; jkd cannot forward to it.
    Ajp12,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worker {
    pub name: String,
    pub origin: Origin,
    pub kind: WorkerKind,
}

impl Worker {
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            WorkerKind::Ajp(a) => a.protocol.type_name(),
            WorkerKind::Lb(_) => "lb",
            WorkerKind::Status(_) => "status",
            WorkerKind::Ajp12 => "ajp12",
        }
    }
}

impl AjpProtocol {
    pub fn type_name(self) -> &'static str {
        match self {
            AjpProtocol::Ajp13 => "ajp13",
            AjpProtocol::Ajp14 => "ajp14",
            AjpProtocol::Http => "http",
        }
    }

    /// Whether the worker is reached over HTTP rather than AJP.
    pub fn is_http(self) -> bool {
        self == AjpProtocol::Http
    }
}

/// Reads typed values of one worker from the map, noting every silent change.
pub(crate) struct Reader<'a> {
    pub props: &'a PropMap,
    pub diags: &'a mut Diagnostics,
    /// Where to point when a worker has no line of its own (the worker.list line).
    pub fallback: Origin,
}

impl Reader<'_> {
    fn key(name: &str, attr: &str) -> String {
        format!("worker.{name}.{attr}")
    }

    pub fn entry(&self, name: &str, attr: &str) -> Option<&Entry> {
        self.props.get(&Self::key(name, attr))
    }

    pub fn string(&self, name: &str, attr: &str) -> Option<String> {
        self.entry(name, attr).map(|e| e.value.clone())
    }

    fn origin_of(&self, name: &str, attr: &str) -> Origin {
        self.entry(name, attr)
            .map(|e| e.origin.clone())
            .unwrap_or_else(|| self.fallback.clone())
    }

    pub fn warn(&mut self, name: &str, attr: &str, msg: String) {
        let origin = self.origin_of(name, attr);
        self.diags.warning(origin, Self::key(name, attr), msg);
    }

    pub fn error(&mut self, name: &str, attr: &str, msg: String) {
        let origin = self.origin_of(name, attr);
        self.diags.error(origin, Self::key(name, attr), msg);
    }

    /// Integer or `None` when the key is absent.
    pub fn opt_int(&mut self, name: &str, attr: &str) -> Option<i32> {
        let text = self.string(name, attr)?;
        let (v, note) = values::int(&text);
        if let Some(n) = note {
            self.warn(name, attr, n);
        }
        Some(v)
    }

    pub fn int(&mut self, name: &str, attr: &str, default: i32) -> i32 {
        self.opt_int(name, attr).unwrap_or(default)
    }

    pub fn bool(&mut self, name: &str, attr: &str, default: bool) -> bool {
        let Some(text) = self.string(name, attr) else {
            return default;
        };
        let (v, note) = values::bool(&text, default);
        if let Some(n) = note {
            self.warn(name, attr, n);
        }
        v
    }

    pub fn list(&self, name: &str, attr: &str) -> Option<Vec<String>> {
        self.string(name, attr).map(|v| values::list(&v))
    }

    /// Refuses values longer than mod_jk's fixed shared-memory fields.
    pub fn check_len(&mut self, name: &str, attr: &str, what: &str, value: &str) -> bool {
        if value.len() > MAX_NAME_LEN {
            self.error(
                name,
                attr,
                format!(
                    "{what} '{value}' is {} bytes long; mod_jk accepts at most {MAX_NAME_LEN}",
                    value.len()
                ),
            );
            return false;
        }
        true
    }

    /// An ajp13 / ajp14 (or jkd's `http`) worker's settings; read in a fixed order, which is the order
    /// of their diagnostics.
    pub fn ajp(&mut self, name: &str, protocol: AjpProtocol) -> AjpSettings {
        let (host, port) = self.host_and_port(name, protocol);
        let source = self.string(name, "source").unwrap_or_default();
        self.check_len(name, "source", "source address", &source);
        let prefer_ipv6 = self.bool(name, "prefer_ipv6", false);
        let pool_size = match self.opt_int(name, "connection_pool_size") {
            Some(v) if v >= 0 => Some(v),
            _ => self.opt_int(name, "cachesize"),
        };
        let pool_minsize = self.opt_int(name, "connection_pool_minsize");
        let socket_timeout = self.int(name, "socket_timeout", 0);
        let socket_connect_timeout = self.int(
            name,
            "socket_connect_timeout",
            socket_timeout.wrapping_mul(1000),
        );
        let socket_keepalive = self.bool(name, "socket_keepalive", false);
        let pool_timeout = match self.opt_int(name, "connection_pool_timeout") {
            Some(v) if v >= 0 => v,
            _ => self.int(name, "cache_timeout", 0),
        };
        let ping_timeout = self.int(name, "ping_timeout", DEFAULT_PING_TIMEOUT);
        let ping_mode = match self.string(name, "ping_mode") {
            Some(text) => {
                let (m, note) = PingMode::parse(&text);
                if let Some(n) = note {
                    self.warn(name, "ping_mode", n);
                }
                m
            }
            None => PingMode(0),
        };
        let mut connect_timeout = self.int(name, "connect_timeout", 0);
        let mut prepost_timeout = self.int(name, "prepost_timeout", 0);
        if ping_mode.has(PingMode::CONNECT) && connect_timeout == 0 {
            connect_timeout = ping_timeout;
        }
        if ping_mode.has(PingMode::PREPOST) && prepost_timeout == 0 {
            prepost_timeout = ping_timeout;
        }
        let mut connection_ping_interval = self.int(name, "connection_ping_interval", 0);
        if ping_mode.has(PingMode::INTERVAL) && connection_ping_interval == 0 {
            connection_ping_interval = ping_timeout / 100;
        }
        let reply_timeout = self.int(name, "reply_timeout", 0);
        let recovery_options = self.int(name, "recovery_options", 0) as u32;
        let mut retries = self.int(name, "retries", DEFAULT_RETRIES);
        if retries < 1 {
            self.warn(
                name,
                "retries",
                format!("retries={retries} is below 1; mod_jk uses 1"),
            );
            retries = 1;
        }
        let max_packet_size = self.packet_size(name);
        let socket_buffer = match self.int(name, "socket_buffer", 0) {
            b if b > 0 && b < max_packet_size => max_packet_size,
            b => b,
        };
        let retry_interval = self.int(name, "retry_interval", DEFAULT_RETRY_INTERVAL);
        let acquire_timeout = self.int(
            name,
            "connection_acquire_timeout",
            retries.wrapping_mul(retry_interval),
        );
        let busy_limit = self.int(name, "busy_limit", 0);
        let (fail_on_status, fail_on_status_text) = self.fail_on_status(name);
        let secret = self.string(name, "secret");
        let http_port = match self.opt_int(name, "http_port") {
            Some(p) => match u16::try_from(p) {
                Ok(p) if p > 0 => Some(p),
                _ => {
                    self.warn(
                        name,
                        "http_port",
                        format!("{p} is not a port (1-65535); WebSocket requests get 502"),
                    );
                    None
                }
            },
            None => None,
        };
        let http_host = self.string(name, "http_host");
        let health_check_uri = match self.string(name, "health_check_uri") {
            // What both an AJP request and an HTTP/1.1 request line can carry.
            Some(uri)
                if uri.starts_with('/')
                    && uri.is_ascii()
                    && !uri.contains('#')
                    && uri.parse::<http::uri::PathAndQuery>().is_ok() =>
            {
                Some(uri)
            }
            Some(uri) => {
                self.warn(
                    name,
                    "health_check_uri",
                    format!(
                        "'{uri}' is not a path starting with '/' (with a query at most; no \
                         spaces, fragment or characters a URI cannot hold): no health check"
                    ),
                );
                None
            }
            None => None,
        };
        let mut health_check_interval =
            self.int(name, "health_check_interval", DEFAULT_HEALTH_CHECK_INTERVAL);
        if health_check_interval < 1 {
            self.warn(
                name,
                "health_check_interval",
                format!(
                    "{health_check_interval} is below 1 second; \
                     {DEFAULT_HEALTH_CHECK_INTERVAL} is used"
                ),
            );
            health_check_interval = DEFAULT_HEALTH_CHECK_INTERVAL;
        }
        let health_check_timeout = match self.int(name, "health_check_timeout", 0) {
            t if t > 0 => t,
            _ => ping_timeout,
        };
        let tls = self.bool(name, "tls", false);
        let tls_ca = self.string(name, "tls_ca");
        let tls_server_name = self.string(name, "tls_server_name");
        if tls && !protocol.is_http() {
            self.warn(
                name,
                "tls",
                "tls=true is for type=http workers (AJP has no TLS): not used".to_string(),
            );
        } else if tls {
            match &tls_ca {
                None => self.error(
                    name,
                    "tls",
                    format!(
                        "tls=true needs worker.{name}.tls_ca, the PEM file of the CA \
                         certificates that signed the member's certificate"
                    ),
                ),
                Some(ca) => match std::fs::read(ca) {
                    Err(e) => self.error(name, "tls_ca", format!("cannot read {ca}: {e}")),
                    // Whether each certificate parses is the TLS layer's to say when it
                    // loads the file; a file with none at all is a slip caught here.
                    Ok(pem)
                        if memchr::memmem::find(&pem, b"-----BEGIN CERTIFICATE-----").is_none() =>
                    {
                        self.error(
                            name,
                            "tls_ca",
                            format!("{ca} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
                        )
                    }
                    Ok(_) => {}
                },
            }
        }
        AjpSettings {
            protocol,
            host,
            port,
            source,
            prefer_ipv6,
            socket_timeout,
            socket_connect_timeout,
            socket_keepalive,
            socket_buffer,
            pool_size,
            pool_minsize,
            pool_timeout,
            acquire_timeout,
            ping_mode,
            ping_timeout,
            connect_timeout,
            prepost_timeout,
            connection_ping_interval,
            reply_timeout,
            recovery_options,
            retries,
            retry_interval,
            busy_limit,
            max_packet_size,
            fail_on_status,
            fail_on_status_text,
            secret,
            http_port,
            http_host,
            health_check_uri,
            health_check_interval,
            health_check_timeout,
            tls,
            tls_ca,
            tls_server_name,
        }
    }

    /// `host` and `port` (the default port depends on the protocol), with the
    /// mistakes that silently disable a worker in mod_jk reported.
    fn host_and_port(&mut self, name: &str, protocol: AjpProtocol) -> (String, i32) {
        let default_port = match protocol {
            AjpProtocol::Ajp13 => DEFAULT_PORT,
            AjpProtocol::Ajp14 => 8011,
            AjpProtocol::Http => DEFAULT_HTTP_PORT,
        };
        let port = self.int(name, "port", default_port);
        let host = self
            .string(name, "host")
            .unwrap_or_else(|| DEFAULT_HOST.into());
        self.check_len(name, "host", "host name", &host);
        if let Some((h, p)) = host.rsplit_once(':')
            && !h.contains(':')
            && !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
        {
            self.warn(
                name,
                "host",
                format!(
                    "host '{host}' carries a port; mod_jk never reads a port from 'host' (the name \
                     does not resolve and the worker is disabled): write host={h} and port={p}"
                ),
            );
        }
        if port <= 0 {
            self.warn(
                name,
                "port",
                format!(
                    "port {port} disables the worker (mod_jk stops a balancer member with port 0)"
                ),
            );
        }
        (host, port)
    }

    /// `fail_on_status`: the status codes as mod_jk reads them, and the text as
    /// written (the status page shows it).
    fn fail_on_status(&mut self, name: &str) -> (Vec<i32>, Option<String>) {
        let fail_on_status_text = self.string(name, "fail_on_status");
        let fail_on_status = fail_on_status_text
            .as_deref()
            .map(|t| {
                values::list(t)
                    .iter()
                    .map(|s| values::int_atoi(s))
                    .collect()
            })
            .unwrap_or_default();
        (fail_on_status, fail_on_status_text)
    }

    /// `max_packet_size`: rounded up to a multiple of 1024, clamped to [8192, 65536].
    pub fn packet_size(&mut self, name: &str) -> i32 {
        let raw = self.int(name, "max_packet_size", DEFAULT_PACKET_SIZE);
        let aligned = raw.saturating_add(1023) & !1023;
        let v = aligned.clamp(DEFAULT_PACKET_SIZE, MAX_PACKET_SIZE);
        if v != raw {
            self.warn(
                name,
                "max_packet_size",
                format!(
                    "max_packet_size={raw} is used as {v} (multiple of 1024 within 8192..65536)"
                ),
            );
        }
        v
    }

    pub fn activation(&mut self, name: &str) -> Activation {
        if let Some(text) = self.string(name, "activation") {
            let (a, note) = Activation::parse(&text);
            if let Some(n) = note {
                self.warn(name, "activation", n);
            }
            return a;
        }
        if self.bool(name, "stopped", false) {
            return Activation::Stopped;
        }
        if self.bool(name, "disabled", false) {
            return Activation::Disabled;
        }
        Activation::Active
    }

    pub fn status(&mut self, name: &str) -> StatusSettings {
        let prefixed = |v: Option<String>, def: &str| match v {
            Some(v) if v.starts_with('-') => String::new(),
            Some(v) => v,
            None => def.to_string(),
        };
        StatusSettings {
            css: self.string(name, "css"),
            prefix: self
                .string(name, "prefix")
                .unwrap_or_else(|| "worker".into()),
            ns: prefixed(self.string(name, "ns"), "jk:"),
            xmlns: prefixed(
                self.string(name, "xmlns"),
                "xmlns:jk=\"http://tomcat.apache.org\"",
            ),
            doctype: self.string(name, "doctype"),
            read_only: self.bool(name, "read_only", false),
            users: self.list(name, "user").unwrap_or_default(),
            user_case_insensitive: self.bool(name, "user_case_insensitive", false),
            good: self.list(name, "good").unwrap_or_default(),
            bad: self.list(name, "bad").unwrap_or_default(),
        }
    }
}

/// Least common multiple of all factors divided by each factor (mod_jk's `update_mult`).
pub fn lb_mults(factors: &[i32]) -> Vec<u64> {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let l = factors.iter().fold(1u64, |acc, f| {
        let f = (*f).max(1) as u64;
        acc / gcd(acc, f) * f
    });
    factors.iter().map(|f| l / (*f).max(1) as u64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mults_follow_lcm() {
        assert_eq!(lb_mults(&[1, 3]), vec![3, 1]);
        assert_eq!(lb_mults(&[2, 4, 6]), vec![6, 3, 2]);
        assert_eq!(lb_mults(&[1]), vec![1]);
    }
}
