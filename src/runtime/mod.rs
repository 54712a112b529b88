//! The live state jkd serves with: the configuration, each worker's pool and counters, each balancer's state, client connection counts and limits; `http`, `status` and `metrics` read it, and none of them reaches into another.

pub mod body;
pub mod client;
pub mod compressed;
pub mod health;
pub mod http_pool;
pub mod listen;
pub mod responses;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use crate::ajp::pool::Pool;
use crate::balancer::{Balancer, Member, MemberCounters};
use crate::config::Config;
use crate::config::workers::{AjpSettings, WorkerKind};

pub use body::ProxyBody;

/// What serves the requests mapped to a status worker (the status manager). The
/// front end calls it through this trait so that it does not depend on the manager,
/// and the manager's own state (its users, its form token, its sign-in throttle)
/// lives in the value, not in a global.
pub trait StatusPages: Send + Sync + std::fmt::Debug {
    fn serve<'a>(
        &'a self,
        rt: &'a Runtime,
        worker: &'a str,
        parts: &'a http::request::Parts,
        body: hyper::body::Incoming,
        conn: ConnInfo,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = http::Response<ProxyBody>> + Send + 'a>>;
}
pub use client::{
    ClientCounters, ClientLimits, ConnInfo, DEFAULT_KEEPALIVE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_TIMEOUT, Draining, requested_server,
};

/// One AJP backend at run time.
#[derive(Debug)]
pub struct AjpWorker {
    pub name: String,
    pub settings: AjpSettings,
    pub pool: Arc<Pool>,
    /// The pool of a `type=http` worker, which talks HTTP/1.1 instead of AJP (its
    /// AJP `pool` then stays empty).
    pub http: Option<Arc<http_pool::HttpPool>>,
    /// Requests Tomcat refused for a missing or wrong `secret`.
    pub secret_refusals: AtomicU64,
    /// Counters of this worker used directly (members are counted by their balancer).
    pub counters: Arc<MemberCounters>,
    /// When the manager last reset this worker's statistics (Unix seconds), or
    /// [`NEVER_RESET`].
    pub last_reset: AtomicI64,
    /// The responses it answered, by status code (`jkd_responses_total`).
    pub responses: responses::ResponseCounts,
    /// Its application health checks (`health_check_uri`), as a balancer member.
    pub health: health::HealthSchedule,
    /// Session cookies it set whose route is not its own (or that had none): its
    /// Tomcat's jvmRoute does not match, so those sessions cannot stick.
    pub route_mismatches: AtomicU64,
    /// Whether that was logged already (once per worker).
    pub route_mismatch_said: std::sync::atomic::AtomicBool,
}

/// [`AjpWorker::last_reset`] of a worker whose statistics were never reset.
pub const NEVER_RESET: i64 = i64::MIN;

impl AjpWorker {
    fn new(name: &str, settings: &AjpSettings) -> Arc<AjpWorker> {
        Arc::new(AjpWorker {
            name: name.to_string(),
            settings: settings.clone(),
            pool: Pool::new(name, settings),
            http: settings
                .protocol
                .is_http()
                .then(|| http_pool::HttpPool::new(name, settings)),
            secret_refusals: AtomicU64::new(0),
            counters: Arc::default(),
            last_reset: AtomicI64::new(NEVER_RESET),
            responses: Default::default(),
            health: Default::default(),
            route_mismatches: AtomicU64::new(0),
            route_mismatch_said: Default::default(),
        })
    }

    /// The counters of the connections it holds (AJP or HTTP).
    pub fn connections(&self) -> &crate::ajp::pool::PoolCounters {
        match &self.http {
            Some(h) => &h.counters,
            None => &self.pool.counters,
        }
    }

    /// Whether a connection slot is free right now.
    pub fn has_room(&self) -> bool {
        match &self.http {
            Some(h) => h.has_room(),
            None => self.pool.has_room(),
        }
    }

    /// Maintenance of its idle connections.
    pub fn close_idle(&self) {
        match &self.http {
            Some(h) => h.close_idle(),
            None => self.pool.close_idle(),
        }
    }

    /// Tomcat answers a request without the right secret with 403 and closes the
    /// connection (END_RESPONSE reuse=0); it looks like any 403 to a client, so jkd
    /// says what it is.
    pub(crate) fn note_refusal(&self, status: u16, reused: bool) {
        if status == 403 && !reused {
            let n = self.secret_refusals.fetch_add(1, Ordering::Relaxed) + 1;
            let hint = if self.settings.secret.is_some() {
                "the worker's secret differs from the secret of Tomcat's AJP connector"
            } else {
                "the worker sends no secret but Tomcat's AJP connector requires one"
            };
            tracing::warn!(
                worker = %self.name,
                refusals = n,
                "Tomcat refused the request with 403 and closed the connection: {hint} \
                 (set worker.{}.secret to the value of secret=\"...\" on the <Connector protocol=\"AJP/1.3\">)",
                self.name
            );
        }
    }
}

/// A load balancer at run time: each member's endpoint is its worker, with the
/// connection pool (AJP or HTTP) and the settings requests to it are sent with.
pub type LbWorker = Balancer<Arc<AjpWorker>>;

/// A balancer member of jkd's.
pub type LbMember = Member<Arc<AjpWorker>>;

#[derive(Debug, Clone)]
pub enum Target {
    Ajp(Arc<AjpWorker>),
    Lb(Arc<LbWorker>),
    Status,
    Unsupported(&'static str),
}

/// The live state of one worker definition.
fn target_of(w: &crate::config::workers::Worker, maintain: i32, now: Instant) -> Target {
    match &w.kind {
        WorkerKind::Ajp(a) => Target::Ajp(AjpWorker::new(&w.name, a)),
        WorkerKind::Lb(lb) => Target::Lb(Arc::new(Balancer::new(
            &w.name,
            lb.clone(),
            maintain.max(0) as u64,
            now,
            |m| AjpWorker::new(&m.name, &m.ajp),
        ))),
        WorkerKind::Status(_) => Target::Status,
        WorkerKind::Ajp12 => Target::Unsupported("ajp12 workers are not supported"),
    }
}

/// The runtime jkd serves with now: one immutable [`Runtime`] snapshot, swapped whole
/// when the configuration is replaced. Each request takes the current snapshot once
/// and keeps it to the end, so a swap never mixes two configurations in one request.
#[derive(Debug)]
pub struct Live {
    current: arc_swap::ArcSwap<Runtime>,
}

impl Live {
    pub fn new(rt: Arc<Runtime>) -> Arc<Live> {
        Arc::new(Live {
            current: arc_swap::ArcSwap::new(rt),
        })
    }

    /// The current snapshot.
    pub fn load(&self) -> Arc<Runtime> {
        self.current.load_full()
    }

    /// Replaces the configuration: the next requests see the new snapshot (see
    /// [`Runtime::successor`] for what carries over).
    pub fn replace(&self, config: Config, now: Instant) {
        let next = self.load().successor(config, now);
        self.current.store(Arc::new(next));
    }
}

/// Everything a running jkd serves with: the configuration and its live workers.
#[derive(Debug)]
pub struct Runtime {
    pub config: Config,
    pub targets: HashMap<String, Target>,
    /// Peers whose `X-Forwarded-For` is believed (`--trusted-proxy`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Latency histogram per worker name (kept by the metrics registry when there is
    /// one, see [`Runtime::with_latency`]).
    pub latency: HashMap<String, ::metrics::Histogram>,
    /// Latency histogram per worker and the member that answered (a direct worker is
    /// its own member).
    pub member_latency: HashMap<String, HashMap<String, ::metrics::Histogram>>,
    /// Where histograms come from, so that a reload can give new workers theirs.
    pub histograms: Histograms,
    /// Client connections open and parked (shared by every snapshot).
    pub clients: Arc<ClientCounters>,
    /// Timeouts and limits of client connections.
    pub limits: ClientLimits,
    /// The status manager, when one serves this runtime's status workers.
    pub status: Option<Arc<dyn StatusPages>>,
    /// The next request's number (`X-Request-Id: jkd-<hex>` when the client sent
    /// none; shared by every snapshot).
    pub request_ids: Arc<AtomicU64>,
    /// TLS listeners and their handshake failures (shared by every snapshot).
    pub tls: Arc<crate::tls::TlsState>,
    /// How the configuration reloads went (shared by every snapshot).
    pub reloads: Arc<Reloads>,
    /// Responses no member answered, by worker (shared by every snapshot).
    pub unanswered: Arc<responses::UnansweredByWorker>,
    /// Set when jkd is stopping gracefully (shared by every snapshot).
    pub draining: Arc<Draining>,
    /// `--proxy-protocol`: connections from trusted proxies begin with a PROXY header.
    pub proxy_protocol: bool,
    /// `--manager-allow`: the only client ranges that reach a status worker; it
    /// wins over the configuration's [`Config::manager_allow`].
    pub manager_allow: Option<Vec<ipnet::IpNet>>,
    /// Requests for a status worker refused by the allow-list (shared by every
    /// snapshot).
    pub manager_refused: Arc<AtomicU64>,
    /// The access log, when `--access-log` is given (shared by every snapshot).
    pub access_log: Option<Arc<crate::access_log::AccessLog>>,
}

/// Configuration reloads: counts and the time of the last good one, for the metrics
/// and the manager.
#[derive(Debug)]
pub struct Reloads {
    pub successes: AtomicU64,
    pub failures: AtomicU64,
    /// Unix seconds of the last configuration that was read whole (the start counts).
    pub last_success: AtomicI64,
    /// Unix seconds of the last reload attempt and whether it failed; 0: none yet.
    pub last_attempt: AtomicI64,
    pub last_failed: std::sync::atomic::AtomicBool,
}

impl Default for Reloads {
    fn default() -> Self {
        Reloads {
            successes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_success: AtomicI64::new(jiff::Timestamp::now().as_second()),
            last_attempt: AtomicI64::new(0),
            last_failed: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl Reloads {
    /// Records a reload attempt at `now_unix`.
    pub fn record(&self, ok: bool, now_unix: i64) {
        if ok {
            self.successes.fetch_add(1, Ordering::Relaxed);
            self.last_success.store(now_unix, Ordering::Relaxed);
        } else {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.last_attempt.store(now_unix, Ordering::Relaxed);
        self.last_failed.store(!ok, Ordering::Relaxed);
    }
}

/// Makes the latency histogram of a worker (`member` `None`) or of one of its members
/// (the metrics registry's, or ones that record nowhere).
#[derive(Clone)]
pub struct Histograms(Arc<HistogramFactory>);

type HistogramFactory = dyn Fn(&str, Option<&str>) -> ::metrics::Histogram + Send + Sync;

impl Histograms {
    pub fn new(
        make: impl Fn(&str, Option<&str>) -> ::metrics::Histogram + Send + Sync + 'static,
    ) -> Histograms {
        Histograms(Arc::new(make))
    }

    /// Histograms that record nowhere.
    pub fn none() -> Histograms {
        Histograms::new(|_, _| ::metrics::Histogram::noop())
    }

    /// The histograms of `targets`, reusing those `old` already has.
    fn for_targets(
        &self,
        targets: &HashMap<String, Target>,
        old: Option<&Runtime>,
    ) -> (
        HashMap<String, ::metrics::Histogram>,
        HashMap<String, HashMap<String, ::metrics::Histogram>>,
    ) {
        let mut by_worker = HashMap::new();
        let mut by_member = HashMap::new();
        for (name, target) in targets {
            let kept = old.and_then(|o| o.latency.get(name)).cloned();
            by_worker.insert(name.clone(), kept.unwrap_or_else(|| (self.0)(name, None)));
            let members: Vec<&str> = match target {
                Target::Ajp(w) => vec![w.name.as_str()],
                Target::Lb(lb) => lb.members.iter().map(|m| m.name()).collect(),
                Target::Status | Target::Unsupported(_) => Vec::new(),
            };
            let old_members = old.and_then(|o| o.member_latency.get(name));
            let histograms: HashMap<String, ::metrics::Histogram> = members
                .into_iter()
                .map(|m| {
                    let kept = old_members.and_then(|h| h.get(m)).cloned();
                    let h = kept.unwrap_or_else(|| (self.0)(name, Some(m)));
                    (m.to_string(), h)
                })
                .collect();
            if !histograms.is_empty() {
                by_member.insert(name.clone(), histograms);
            }
        }
        (by_worker, by_member)
    }
}

impl std::fmt::Debug for Histograms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Histograms")
    }
}

impl Runtime {
    /// A runtime whose latency histograms go nowhere (tests, `jkd run` without
    /// `--metrics-listen`).
    pub fn new(config: Config, now: Instant) -> Arc<Runtime> {
        Self::with_latency(config, now, Histograms::none())
    }

    /// A runtime whose latency histograms come from `histograms` (the metrics
    /// registry's).
    pub fn with_latency(config: Config, now: Instant, histograms: Histograms) -> Arc<Runtime> {
        let mut targets = HashMap::new();
        for w in &config.workers {
            targets.insert(w.name.clone(), target_of(w, config.maintain, now));
        }
        let (latency, member_latency) = histograms.for_targets(&targets, None);
        Arc::new(Runtime {
            config,
            targets,
            trusted_proxies: Vec::new(),
            latency,
            member_latency,
            histograms,
            clients: Default::default(),
            limits: Default::default(),
            status: None,
            request_ids: Arc::new(AtomicU64::new(1)),
            tls: Arc::default(),
            reloads: Arc::default(),
            unanswered: Arc::default(),
            draining: Arc::default(),
            proxy_protocol: false,
            manager_allow: None,
            manager_refused: Arc::default(),
            access_log: None,
        })
    }

    /// The runtime for `config` that follows this one (a reload): a worker whose name
    /// and settings are unchanged keeps its live state (pool and open connections,
    /// counters, a balancer's member states and load values), anything else starts
    /// anew; the client counts, limits, manager, request numbers and access log carry over. The
    /// result is swapped in whole ([`Live::replace`]); requests under way finish on
    /// the runtime they started with.
    pub fn successor(&self, config: Config, now: Instant) -> Runtime {
        let mut targets = HashMap::new();
        for w in &config.workers {
            let kept = match (self.targets.get(&w.name), &w.kind) {
                (Some(Target::Ajp(old)), WorkerKind::Ajp(a)) if old.settings == *a => {
                    Some(Target::Ajp(old.clone()))
                }
                (Some(Target::Lb(old)), WorkerKind::Lb(lb)) => {
                    let maintain = config.maintain.max(0) as u64;
                    if old.settings == *lb && old.maintain_interval == maintain {
                        Some(Target::Lb(old.clone()))
                    } else {
                        // Changed: members that stayed the same keep their pools and
                        // their state in the balancer.
                        let next = Arc::new(old.successor(lb.clone(), maintain, now, |m| {
                            AjpWorker::new(&m.name, &m.ajp)
                        }));
                        old.replaced(&next);
                        Some(Target::Lb(next))
                    }
                }
                _ => None,
            };
            let target = kept.unwrap_or_else(|| target_of(w, config.maintain, now));
            targets.insert(w.name.clone(), target);
        }
        // New workers and members get their histograms; the others keep theirs.
        let (latency, member_latency) = self.histograms.for_targets(&targets, Some(self));
        Runtime {
            config,
            targets,
            trusted_proxies: self.trusted_proxies.clone(),
            latency,
            member_latency,
            histograms: self.histograms.clone(),
            clients: self.clients.clone(),
            limits: self.limits,
            status: self.status.clone(),
            request_ids: self.request_ids.clone(),
            tls: self.tls.clone(),
            reloads: self.reloads.clone(),
            unanswered: self.unanswered.clone(),
            draining: self.draining.clone(),
            proxy_protocol: self.proxy_protocol,
            manager_allow: self.manager_allow.clone(),
            manager_refused: self.manager_refused.clone(),
            access_log: self.access_log.clone(),
        }
    }

    /// The client ranges that reach a status worker: `--manager-allow`, else the
    /// configuration's, `None` when everyone does.
    pub fn manager_allow(&self) -> Option<&[ipnet::IpNet]> {
        self.manager_allow.as_deref().or(self
            .config
            .manager_allow
            .as_ref()
            .map(|a| a.ranges.as_slice()))
    }

    /// Whether a client at `ip` (the connection's peer) reaches a status worker.
    pub fn manager_admits(&self, ip: std::net::IpAddr) -> bool {
        self.manager_allow()
            .is_none_or(|nets| crate::config::access::admitted(nets, ip))
    }

    /// Periodic upkeep: balancer maintenance and idle-connection cleanup.
    pub fn maintain(&self, now: Instant) {
        for t in self.targets.values() {
            match t {
                Target::Lb(lb) => {
                    lb.maintain(now);
                    health::start_due(lb, now);
                    for m in &lb.members {
                        m.endpoint.close_idle();
                    }
                }
                Target::Ajp(a) => a.close_idle(),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        let loaded = crate::config::from_workers_bytes("t", text.as_bytes(), &|_| None);
        loaded
            .config
            .unwrap_or_else(|| panic!("bad test config: {:?}", loaded.diagnostics))
    }

    /// `--manager-allow` (set on the runtime) wins over the Apache config's
    /// `<Location>` rules for the status worker, and a reload keeps it.
    #[test]
    fn the_command_line_wins_over_the_files_rules() {
        let dir = std::env::temp_dir().join(format!("jkd-allow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (workers, conf) = (dir.join("workers.properties"), dir.join("jk.conf"));
        std::fs::write(
            &workers,
            "worker.list=lb,jkstatus\nworker.lb.type=lb\nworker.lb.balance_workers=n1\n\
             worker.n1.port=8009\nworker.jkstatus.type=status\n",
        )
        .unwrap();
        std::fs::write(
            &conf,
            "<Location /jkstatus>\nJkMount jkstatus\nRequire ip 10.0.0.0/8\n</Location>\n",
        )
        .unwrap();
        let loaded = crate::config::load(
            &crate::config::Sources {
                workers: Some(workers),
                apache_conf: Some(conf),
                ..crate::config::Sources::default()
            },
            &|_| None,
        );
        let _ = std::fs::remove_dir_all(&dir);
        let cfg = loaded
            .config
            .unwrap_or_else(|| panic!("refused: {:?}", loaded.diagnostics));
        let local: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let inside: std::net::IpAddr = "10.2.3.4".parse().unwrap();
        let rt = Runtime::new(cfg.clone(), Instant::now());
        assert!(!rt.manager_admits(local));
        assert!(rt.manager_admits(inside));
        let mut rt = Runtime::new(cfg, Instant::now());
        Arc::get_mut(&mut rt).unwrap().manager_allow = Some(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(rt.manager_admits(local));
        assert!(!rt.manager_admits(inside));
        // A reload keeps the command line's list.
        let next = rt.successor(rt.config.clone(), Instant::now());
        assert!(next.manager_admits(local));
        assert!(!next.manager_admits(inside));
    }

    const BEFORE: &str = "worker.list=lb,plain\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\n\
                          worker.a.port=8009\nworker.b.port=8010\nworker.plain.port=8011\n";

    #[test]
    fn a_swap_keeps_the_live_state_of_unchanged_workers() {
        let now = Instant::now();
        let live = Live::new(Runtime::new(config(BEFORE), now));
        let before = live.load();
        let Some(Target::Lb(lb)) = before.targets.get("lb") else {
            panic!("no lb")
        };
        lb.members[0]
            .counters
            .elected
            .store(7, std::sync::atomic::Ordering::Relaxed);
        before
            .clients
            .open
            .store(3, std::sync::atomic::Ordering::Relaxed);
        // The balancer is unchanged; the plain worker gets another port.
        live.replace(config(&BEFORE.replace("8011", "8012")), now);
        let after = live.load();
        assert!(!Arc::ptr_eq(&before, &after), "not swapped");
        match (before.targets.get("lb"), after.targets.get("lb")) {
            (Some(Target::Lb(old)), Some(Target::Lb(new))) => {
                assert!(Arc::ptr_eq(old, new), "the unchanged balancer was rebuilt");
                assert_eq!(
                    new.members[0]
                        .counters
                        .elected
                        .load(std::sync::atomic::Ordering::Relaxed),
                    7
                );
            }
            _ => panic!("no lb"),
        }
        match (before.targets.get("plain"), after.targets.get("plain")) {
            (Some(Target::Ajp(old)), Some(Target::Ajp(new))) => {
                assert!(!Arc::ptr_eq(old, new), "a changed worker kept its old pool");
                assert_eq!(new.settings.port, 8012);
            }
            _ => panic!("no plain worker"),
        }
        assert_eq!(
            after
                .clients
                .open
                .load(std::sync::atomic::Ordering::Relaxed),
            3,
            "client counts are shared"
        );
        // The old snapshot still serves the requests that took it.
        assert_eq!(
            before.config.worker("plain").map(|w| w.name.as_str()),
            Some("plain")
        );
    }

    #[test]
    fn a_changed_balancer_keeps_its_unchanged_members_and_the_managers_changes() {
        use std::sync::atomic::Ordering::Relaxed;
        let now = Instant::now();
        let live = Live::new(Runtime::new(config(BEFORE), now));
        let before = live.load();
        let Some(Target::Lb(old)) = before.targets.get("lb") else {
            panic!("no lb")
        };
        // The manager disables a and raises the retries; a has served 7 requests.
        old.update_member(0, |m| {
            m.activation = crate::config::values::Activation::Disabled
        });
        let mut tunables = old.tunables();
        tunables.retries = 5;
        old.set_tunables(tunables);
        old.members[0].counters.elected.store(7, Relaxed);
        old.members[1].counters.elected.store(9, Relaxed);
        // The file changes b's port and adds a member c.
        let changed = BEFORE
            .replace("balance_workers=a,b", "balance_workers=a,b,c")
            .replace(
                "worker.b.port=8010",
                "worker.b.port=8020\nworker.c.port=8030",
            );
        live.replace(config(&changed), now);
        let after = live.load();
        let Some(Target::Lb(new)) = after.targets.get("lb") else {
            panic!("no lb")
        };
        assert!(!Arc::ptr_eq(old, new));
        let members = new.snapshot();
        assert_eq!(members.len(), 3);
        assert_eq!(
            members[0].activation,
            crate::config::values::Activation::Disabled
        );
        assert_eq!(new.members[0].counters.elected.load(Relaxed), 7);
        assert!(
            Arc::ptr_eq(&old.members[0].endpoint, &new.members[0].endpoint),
            "a's pool was rebuilt"
        );
        // b changed: its values as configured and a fresh pool, its counters go on.
        assert_eq!(new.members[1].counters.elected.load(Relaxed), 9);
        assert!(Arc::ptr_eq(
            &old.members[1].counters,
            &new.members[1].counters
        ));
        assert!(!Arc::ptr_eq(
            &old.members[1].endpoint,
            &new.members[1].endpoint
        ));
        assert_eq!(new.members[1].endpoint.settings.port, 8020);
        assert_eq!(new.members[2].endpoint.settings.port, 8030);
        // The manager's retries stay: the file did not change them.
        assert_eq!(new.tunables().retries, 5);
        // ...unless the file does.
        live.replace(config(&format!("{changed}worker.lb.retries=3\n")), now);
        let Some(Target::Lb(third)) = live.load().targets.get("lb").cloned() else {
            panic!("no lb")
        };
        assert_eq!(third.tunables().retries, 3);
        assert_eq!(
            third.snapshot()[0].activation,
            crate::config::values::Activation::Disabled
        );
    }
}
