//! What the status page shows, gathered once per request from the runtime: balancers, members, AJP workers and URI maps with mod_jk's field names, in mod_jk's order.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::clock::{self, Clock};
use crate::balancer::MemberState;
use crate::config::values::Activation;
use crate::config::workers::{AjpSettings, StatusSettings};
use crate::runtime::{AjpWorker, LbWorker, NEVER_RESET, Runtime};

/// One printed value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Text(String),
    /// `True` / `False` in xml, txt and prop; a JSON boolean.
    Bool(bool),
}

impl Value {
    fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into())
    }

    fn uint(v: u64) -> Value {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }

    /// The value as mod_jk prints it outside JSON.
    pub fn plain(&self) -> String {
        match self {
            Value::Int(i) => i.to_string(),
            Value::Text(s) => s.clone(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
        }
    }
}

/// One named field of an element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub value: Value,
    /// The txt format puts this value in double quotes.
    pub quoted_in_txt: bool,
}

fn field(name: &'static str, value: Value) -> Field {
    Field {
        name,
        value,
        quoted_in_txt: false,
    }
}

fn quoted(name: &'static str, value: Value) -> Field {
    Field {
        name,
        value,
        quoted_in_txt: true,
    }
}

/// mod_jk prints `retries` after `connection_ping_interval` in xml, before it in txt
/// and prop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Xml,
    Text,
}

/// A time as the machine formats print it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub datetime: String,
    pub tz: String,
    pub unix: i64,
}

impl Stamp {
    /// `None` when the C library cannot convert the time (mod_jk then leaves the time
    /// out).
    pub fn of(unix: i64) -> Option<Stamp> {
        clock::text(unix).map(|(datetime, tz)| Stamp { datetime, tz, unix })
    }
}

/// The time of the last error of a member or worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorTime {
    pub stamp: Stamp,
    pub ago: i64,
}

/// Where each backend host resolves to, looked up once per status request.
#[derive(Clone, Debug, Default)]
pub struct Addresses {
    by_host: HashMap<String, Option<IpAddr>>,
}

impl Addresses {
    /// Records the result of resolving `host` (`None`: it does not resolve).
    pub fn insert(&mut self, host: &str, ip: Option<IpAddr>) {
        self.by_host.insert(host.to_string(), ip);
    }

    fn ip_of(&self, host: &str) -> Option<IpAddr> {
        host.parse::<IpAddr>()
            .ok()
            .or_else(|| self.by_host.get(host).copied().flatten())
    }

    /// mod_jk's `address` column: `ip:port` (an IPv6 address without brackets, as
    /// `jk_dump_hinfo` prints it), `invalid` for a worker without a port, and
    /// `unresolved` when the host does not resolve now (mod_jk would have set the
    /// port to 0 at startup; jkd resolves when it connects).
    pub fn text(&self, settings: &AjpSettings) -> String {
        if settings.port <= 0 {
            return "invalid".into();
        }
        match self.ip_of(&settings.host) {
            Some(ip) => format!("{ip}:{}", settings.port),
            None => "unresolved".into(),
        }
    }

    /// Every host name (not an IP literal) of the runtime's AJP workers and members.
    pub fn hosts_of(rt: &Runtime) -> Vec<(String, bool)> {
        let mut hosts: Vec<(String, bool)> = Vec::new();
        let mut add = |s: &AjpSettings| {
            if s.host.parse::<IpAddr>().is_err() && !hosts.iter().any(|(h, _)| *h == s.host) {
                hosts.push((s.host.clone(), s.prefer_ipv6));
            }
        };
        for name in &rt.config.worker_list {
            match rt.targets.get(name) {
                Some(crate::runtime::Target::Ajp(w)) => add(&w.settings),
                Some(crate::runtime::Target::Lb(lb)) => {
                    lb.members.iter().for_each(|m| add(&m.endpoint.settings));
                }
                _ => {}
            }
        }
        hosts
    }
}

/// The good/bad masks of `status_rate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ratings {
    good: u32,
    bad: u32,
}

const MASK_ACTIVE: u32 = 0x0000_00FF;
const MASK_DISABLED: u32 = 0x0000_FF00;
const MASK_STOPPED: u32 = 0x00FF_0000;
const MASK_OK: u32 = 0x0001_0101;
const MASK_IDLE: u32 = 0x0002_0202;
const MASK_BUSY: u32 = 0x0004_0404;
const MASK_RECOVER: u32 = 0x0008_0808;
const MASK_ERROR: u32 = 0x0010_1010;
const GOOD_DEFAULT: u32 = 0x0000_000F;
const BAD_DEFAULT: u32 = 0x00FF_1010;

/// How a member counts in the balancer's good / degraded / bad summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rating {
    Good,
    Degraded,
    Bad,
}

fn letter_mask(letter: u8) -> u32 {
    match letter.to_ascii_lowercase() {
        b'a' => MASK_ACTIVE,
        b'd' => MASK_DISABLED,
        b's' => MASK_STOPPED,
        b'o' => MASK_OK,
        b'i' | b'n' => MASK_IDLE,
        b'b' => MASK_BUSY,
        b'r' => MASK_RECOVER,
        b'e' => MASK_ERROR,
        _ => 0,
    }
}

/// `status_get_rating`: `X` or `X.Y` (both masks ANDed); leading blanks and dots are
/// skipped, and only the first letter on each side of the first dot counts.
fn rule_mask(rule: &str) -> u32 {
    let bytes = rule.as_bytes();
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'.'))
        .unwrap_or(bytes.len());
    let Some(&first) = bytes.get(start) else {
        return 0;
    };
    let mut mask = letter_mask(first);
    let rest = &bytes[start..];
    if let Some(dot) = rest.iter().position(|&b| b == b'.')
        && let Some(&second) = rest.get(dot + 1)
    {
        mask &= letter_mask(second);
    }
    mask
}

impl Ratings {
    /// From the status worker's `good` and `bad` lists (each rule ORed in); an empty
    /// list keeps mod_jk's default.
    pub fn of(settings: &StatusSettings) -> Ratings {
        let combine = |rules: &[String], default: u32| {
            if rules.is_empty() {
                default
            } else {
                rules.iter().fold(0, |acc, r| acc | rule_mask(r))
            }
        };
        Ratings {
            good: combine(&settings.good, GOOD_DEFAULT),
            bad: combine(&settings.bad, BAD_DEFAULT),
        }
    }

    /// `status_rate`: bad wins over good; neither is degraded.
    pub fn rate(&self, activation: Activation, state: MemberState) -> Rating {
        let activation_mask = match activation {
            Activation::Active => MASK_ACTIVE,
            Activation::Disabled => MASK_DISABLED,
            Activation::Stopped => MASK_STOPPED,
        };
        let state_mask = match state {
            MemberState::Idle => MASK_IDLE,
            MemberState::Ok => MASK_OK,
            MemberState::Recover | MemberState::Force | MemberState::Probe => MASK_RECOVER,
            MemberState::Busy => MASK_BUSY,
            MemberState::Error => MASK_ERROR,
        };
        let mask = activation_mask & state_mask;
        if mask & self.bad != 0 {
            Rating::Bad
        } else if mask & self.good != 0 {
            Rating::Good
        } else {
            Rating::Degraded
        }
    }
}

/// The configuration columns shared by members and plain AJP workers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AjpConf {
    pub type_name: &'static str,
    pub host: String,
    pub port: i32,
    pub address: String,
    pub source: String,
    pub connection_pool_timeout: i32,
    pub ping_timeout: i32,
    pub connect_timeout: i32,
    pub prepost_timeout: i32,
    pub reply_timeout: i32,
    pub connection_ping_interval: i32,
    pub retries: i32,
    pub recovery_options: u32,
    pub busy_limit: i32,
    pub max_packet_size: i32,
}

impl AjpConf {
    fn of(s: &AjpSettings, addresses: &Addresses) -> AjpConf {
        AjpConf {
            type_name: s.protocol.type_name(),
            host: s.host.clone(),
            port: s.port,
            address: addresses.text(s),
            source: if s.source.is_empty() {
                "undefined".into()
            } else {
                s.source.clone()
            },
            connection_pool_timeout: s.pool_timeout,
            ping_timeout: s.ping_timeout,
            connect_timeout: s.connect_timeout,
            prepost_timeout: s.prepost_timeout,
            reply_timeout: s.reply_timeout,
            connection_ping_interval: s.connection_ping_interval,
            retries: s.retries,
            recovery_options: s.recovery_options,
            busy_limit: s.busy_limit,
            max_packet_size: s.max_packet_size,
        }
    }

    /// `host` .. `max_packet_size` in the order of the format.
    pub fn fields(&self, order: Order) -> Vec<Field> {
        let mut out = vec![
            field("host", Value::text(&self.host)),
            field("port", Value::Int(self.port.into())),
            field("address", Value::text(&self.address)),
            field("source", Value::text(&self.source)),
            field(
                "connection_pool_timeout",
                Value::Int(self.connection_pool_timeout.into()),
            ),
            field("ping_timeout", Value::Int(self.ping_timeout.into())),
            field("connect_timeout", Value::Int(self.connect_timeout.into())),
            field("prepost_timeout", Value::Int(self.prepost_timeout.into())),
            field("reply_timeout", Value::Int(self.reply_timeout.into())),
        ];
        let ping = field(
            "connection_ping_interval",
            Value::Int(self.connection_ping_interval.into()),
        );
        let retries = field("retries", Value::Int(self.retries.into()));
        match order {
            Order::Xml => out.extend([ping, retries]),
            Order::Text => out.extend([retries, ping]),
        }
        out.extend([
            field("recovery_options", Value::Int(self.recovery_options.into())),
            field("busy_limit", Value::Int(self.busy_limit.into())),
            field("max_packet_size", Value::Int(self.max_packet_size.into())),
        ]);
        out
    }
}

/// Request and connection counters of a member or worker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// `elected` of a member, `used` of a plain AJP worker.
    pub requests: u64,
    pub errors: u64,
    pub client_errors: u64,
    pub reply_timeouts: u64,
    pub transferred: u64,
    pub read: u64,
    pub busy: u64,
    pub max_busy: u64,
    pub connected: u64,
    pub max_connected: u64,
}

impl Traffic {
    /// `client_errors` .. `max_connected`.
    fn tail_fields(&self) -> Vec<Field> {
        vec![
            field("client_errors", Value::uint(self.client_errors)),
            field("reply_timeouts", Value::uint(self.reply_timeouts)),
            field("transferred", Value::uint(self.transferred)),
            field("read", Value::uint(self.read)),
            field("busy", Value::uint(self.busy)),
            field("max_busy", Value::uint(self.max_busy)),
            field("connected", Value::uint(self.connected)),
            field("max_connected", Value::uint(self.max_connected)),
        ]
    }
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// `last_reset_at`, `last_reset_ago` and, when an error time exists, the four
/// `error_time_*` fields (xml / txt names).
fn reset_and_error_fields(
    last_reset_at: i64,
    last_reset_ago: i64,
    error: Option<&ErrorTime>,
) -> Vec<Field> {
    let mut out = vec![
        field("last_reset_at", Value::Int(last_reset_at)),
        field("last_reset_ago", Value::Int(last_reset_ago)),
    ];
    if let Some(e) = error {
        out.extend([
            field("error_time_datetime", Value::text(&e.stamp.datetime)),
            field("error_time_tz", Value::text(&e.stamp.tz)),
            field("error_time_unix_seconds", Value::Int(e.stamp.unix)),
            field("error_time_ago", Value::Int(e.ago)),
        ]);
    }
    out
}

/// One balancer member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    /// Position in `balance_workers` (the `val<n>` index of the all-members form).
    pub index: usize,
    pub name: String,
    pub conf: AjpConf,
    pub activation: Activation,
    pub lbfactor: i32,
    pub route: String,
    pub redirect: String,
    pub domain: String,
    pub distance: i32,
    pub state: MemberState,
    pub lbmult: u64,
    pub lbvalue: u64,
    pub sessions: u64,
    pub traffic: Traffic,
    pub time_to_recover_min: i64,
    pub time_to_recover_max: i64,
    pub last_reset_at: i64,
    pub last_reset_ago: i64,
    pub error: Option<ErrorTime>,
    /// Retry interval of the member's AJP settings (edit form).
    pub retry_interval: i32,
}

impl MemberView {
    /// `activation` .. `errors`.
    fn balancing_fields(&self) -> Vec<Field> {
        vec![
            field("activation", Value::text(self.activation.as_str())),
            field("lbfactor", Value::Int(self.lbfactor.into())),
            quoted("route", Value::text(&self.route)),
            quoted("redirect", Value::text(&self.redirect)),
            quoted("domain", Value::text(&self.domain)),
            field("distance", Value::Int(self.distance.into())),
            field("state", Value::text(self.state.as_str())),
            field("lbmult", Value::uint(self.lbmult)),
            field("lbvalue", Value::uint(self.lbvalue)),
            field("elected", Value::uint(self.traffic.requests)),
            field("sessions", Value::uint(self.sessions)),
            field("errors", Value::uint(self.traffic.errors)),
        ]
    }

    /// `type` .. `time_to_recover_max`: everything mod_jk keys by the member's name.
    pub fn own_fields(&self, order: Order) -> Vec<Field> {
        let mut out = vec![field("type", Value::text(self.conf.type_name))];
        out.extend(self.conf.fields(order));
        out.extend(self.balancing_fields());
        out.extend(self.traffic.tail_fields());
        out.extend([
            field("time_to_recover_min", Value::Int(self.time_to_recover_min)),
            field("time_to_recover_max", Value::Int(self.time_to_recover_max)),
        ]);
        out
    }

    /// `last_reset_*` and `error_time_*` (prop keys them by the balancer's name).
    pub fn reset_fields(&self) -> Vec<Field> {
        reset_and_error_fields(self.last_reset_at, self.last_reset_ago, self.error.as_ref())
    }

    /// Every field after `name`, in the format's order.
    pub fn fields(&self, order: Order) -> Vec<Field> {
        let mut out = self.own_fields(order);
        out.extend(self.reset_fields());
        out
    }
}

/// One URI map entry of a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapView {
    pub id: usize,
    pub server: String,
    pub uri: String,
    pub type_text: String,
    pub source: &'static str,
    pub reply_timeout: i32,
    pub sticky_ignore: bool,
    pub stateless: bool,
    pub fail_on_status: Option<String>,
    pub active: Option<String>,
    pub disabled: Option<String>,
    pub stopped: Option<String>,
    pub use_server_errors: i32,
}

impl MapView {
    /// Every field after `id` (txt quotes them all).
    pub fn fields(&self) -> Vec<Field> {
        let opt = |v: &Option<String>| Value::text(v.clone().unwrap_or_default());
        vec![
            quoted("server", Value::text(&self.server)),
            quoted("uri", Value::text(&self.uri)),
            quoted("type", Value::text(&self.type_text)),
            quoted("source", Value::text(self.source)),
            quoted("reply_timeout", Value::Int(self.reply_timeout.into())),
            quoted("sticky_ignore", Value::Int(i64::from(self.sticky_ignore))),
            quoted("stateless", Value::Int(i64::from(self.stateless))),
            quoted("fail_on_status", opt(&self.fail_on_status)),
            quoted("active", opt(&self.active)),
            quoted("disabled", opt(&self.disabled)),
            quoted("stopped", opt(&self.stopped)),
            quoted(
                "use_server_errors",
                Value::Int(self.use_server_errors.into()),
            ),
        ]
    }
}

/// One load balancer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LbView {
    pub name: String,
    pub sticky_session: bool,
    pub sticky_session_force: bool,
    pub retries: i32,
    pub retry_interval: i32,
    pub recover_time: i32,
    pub error_escalation_time: i32,
    pub max_reply_timeouts: i32,
    pub method: &'static str,
    pub lock: &'static str,
    pub member_count: usize,
    pub good: usize,
    pub degraded: usize,
    pub bad: usize,
    pub busy: u64,
    pub max_busy: u64,
    pub map_count: usize,
    pub time_to_maintenance_min: i64,
    pub time_to_maintenance_max: i64,
    pub last_reset_at: i64,
    pub last_reset_ago: i64,
    /// Empty when `opt` hides the members; only the chosen one for `show` with `sw`.
    pub members: Vec<MemberView>,
    pub members_shown: bool,
    /// Empty when `opt` hides the maps.
    pub maps: Vec<MapView>,
}

impl LbView {
    /// Every field after `name`.
    pub fn fields(&self) -> Vec<Field> {
        vec![
            field("type", Value::text("lb")),
            field("sticky_session", Value::Bool(self.sticky_session)),
            field(
                "sticky_session_force",
                Value::Bool(self.sticky_session_force),
            ),
            field("retries", Value::Int(self.retries.into())),
            field("recover_time", Value::Int(self.recover_time.into())),
            field(
                "error_escalation_time",
                Value::Int(self.error_escalation_time.into()),
            ),
            field(
                "max_reply_timeouts",
                Value::Int(self.max_reply_timeouts.into()),
            ),
            field("method", Value::text(self.method)),
            field("lock", Value::text(self.lock)),
            field("member_count", Value::uint(self.member_count as u64)),
            field("good", Value::uint(self.good as u64)),
            field("degraded", Value::uint(self.degraded as u64)),
            field("bad", Value::uint(self.bad as u64)),
            field("busy", Value::uint(self.busy)),
            field("max_busy", Value::uint(self.max_busy)),
            field("map_count", Value::uint(self.map_count as u64)),
            field(
                "time_to_maintenance_min",
                Value::Int(self.time_to_maintenance_min),
            ),
            field(
                "time_to_maintenance_max",
                Value::Int(self.time_to_maintenance_max),
            ),
            field("last_reset_at", Value::Int(self.last_reset_at)),
            field("last_reset_ago", Value::Int(self.last_reset_ago)),
        ]
    }
}

/// One plain AJP worker (not a balancer member).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AjpView {
    pub name: String,
    pub conf: AjpConf,
    pub traffic: Traffic,
    pub map_count: usize,
    pub last_reset_at: i64,
    pub last_reset_ago: i64,
    /// jkd keeps no error time for a plain worker.
    pub error: Option<ErrorTime>,
    pub maps: Vec<MapView>,
    pub retry_interval: i32,
}

impl AjpView {
    /// `type` .. `map_count`: everything before the reset fields.
    pub fn own_fields(&self, order: Order) -> Vec<Field> {
        let mut out = vec![field("type", Value::text(self.conf.type_name))];
        out.extend(self.conf.fields(order));
        out.extend([
            field("used", Value::uint(self.traffic.requests)),
            field("errors", Value::uint(self.traffic.errors)),
        ]);
        out.extend(self.traffic.tail_fields());
        out.push(field("map_count", Value::uint(self.map_count as u64)));
        out
    }

    pub fn reset_fields(&self) -> Vec<Field> {
        reset_and_error_fields(self.last_reset_at, self.last_reset_ago, self.error.as_ref())
    }

    /// Every field after `name`, in the format's order.
    pub fn fields(&self, order: Order) -> Vec<Field> {
        let mut out = self.own_fields(order);
        out.extend(self.reset_fields());
        out
    }
}

/// Remembers that a plain AJP worker's statistics were reset at `unix`.
pub fn note_plain_reset(worker: &Arc<AjpWorker>, unix: i64) {
    worker
        .last_reset
        .store(unix, std::sync::atomic::Ordering::Relaxed);
}

/// When a plain AJP worker's statistics were last reset; a worker never reset counts
/// from the start of the process.
fn plain_last_reset(worker: &Arc<AjpWorker>) -> i64 {
    match worker.last_reset.load(std::sync::atomic::Ordering::Relaxed) {
        NEVER_RESET => clock::process_start(),
        unix => unix,
    }
}

/// What everything on the page is computed from.
pub struct Gather<'a> {
    pub rt: &'a Runtime,
    pub clock: Clock,
    pub addresses: &'a Addresses,
    pub ratings: Ratings,
    /// The host name maps are listed under (mod_jk: the virtual host's name).
    pub server_name: &'a str,
    pub hide_members: bool,
    pub hide_maps: bool,
}

impl Gather<'_> {
    pub fn maps(&self, worker: &str) -> Vec<MapView> {
        if self.hide_maps {
            return Vec::new();
        }
        self.rt
            .config
            .mounts
            .rules_for(worker)
            .enumerate()
            .map(|(i, rule)| {
                let ext = &rule.extensions;
                MapView {
                    id: i + 1,
                    server: self.server_name.to_string(),
                    uri: rule.pattern.clone(),
                    type_text: rule.type_text(),
                    source: rule.source.as_str(),
                    reply_timeout: ext.reply_timeout,
                    sticky_ignore: ext.sticky_ignore,
                    stateless: ext.stateless,
                    fail_on_status: ext.fail_on_status.clone(),
                    active: ext.active.clone(),
                    disabled: ext.disabled.clone(),
                    stopped: ext.stopped.clone(),
                    use_server_errors: ext.use_server_errors,
                }
            })
            .collect()
    }

    fn map_count(&self, worker: &str) -> usize {
        self.rt.config.mounts.rules_for(worker).count()
    }

    fn error_time(&self, unix: i64) -> Option<ErrorTime> {
        Stamp::of(unix).map(|stamp| ErrorTime {
            ago: self.clock.unix.saturating_sub(unix),
            stamp,
        })
    }

    /// `worker.maintain` minus the seconds since the last maintenance, and that plus
    /// `worker.maintain`, both at least 0.
    fn maintenance_window(&self, balancer: &LbWorker) -> (i64, i64) {
        let interval = i64::try_from(balancer.maintain_interval).unwrap_or(i64::MAX);
        let min = interval.saturating_sub(self.clock.seconds_since(balancer.last_maintain()));
        (min.max(0), min.saturating_add(interval).max(0))
    }

    /// A balancer; with `only`, just that member (by index).
    pub fn lb(&self, name: &str, lb: &LbWorker, only: Option<usize>) -> LbView {
        let tunables = lb.tunables();
        let members_now: Vec<_> = lb.members_with_state().collect();
        let (ms_min, ms_max) = self.maintenance_window(lb);
        let mut counts = (0, 0, 0);
        for (_, m) in &members_now {
            match self.ratings.rate(m.activation, m.state) {
                Rating::Good => counts.0 += 1,
                Rating::Degraded => counts.1 += 1,
                Rating::Bad => counts.2 += 1,
            }
        }
        let interval = i64::try_from(lb.maintain_interval).unwrap_or(i64::MAX);
        let mut members = Vec::new();
        if !self.hide_members {
            for (index, (member, m)) in members_now.iter().enumerate() {
                if only.is_some_and(|o| o != index) {
                    continue;
                }
                let (worker, counters) = (&member.endpoint, &member.counters);
                let (mut rs_min, mut rs_max) = (0, 0);
                if m.state == MemberState::Error {
                    let since = m.last_error.map_or(0, |t| self.clock.seconds_since(t));
                    rs_min = i64::from(tunables.recover_time)
                        .saturating_sub(since)
                        .max(0);
                    rs_max = rs_min.saturating_add(interval);
                    rs_min = rs_min.max(ms_min);
                }
                let pool = &worker.connections();
                members.push(MemberView {
                    index,
                    name: m.name.clone(),
                    conf: AjpConf::of(&worker.settings, self.addresses),
                    activation: m.activation,
                    lbfactor: m.lbfactor,
                    route: m.route.clone(),
                    redirect: m.redirect.clone(),
                    domain: m.domain.clone(),
                    distance: m.distance,
                    state: m.state,
                    lbmult: m.lb_mult,
                    lbvalue: m.lb_value,
                    sessions: load(&counters.sessions),
                    traffic: Traffic {
                        requests: load(&counters.elected),
                        errors: load(&counters.errors),
                        client_errors: load(&counters.client_errors),
                        reply_timeouts: load(&counters.reply_timeouts),
                        transferred: load(&counters.transferred),
                        read: load(&counters.read),
                        busy: load(&counters.busy),
                        max_busy: load(&counters.max_busy),
                        connected: load(&pool.connected),
                        max_connected: load(&pool.max_connected),
                    },
                    time_to_recover_min: rs_min,
                    time_to_recover_max: rs_max,
                    last_reset_at: self.clock.unix_of(m.last_reset),
                    last_reset_ago: self.clock.seconds_since(m.last_reset),
                    error: m
                        .first_error
                        .and_then(|t| self.error_time(self.clock.unix_of(t))),
                    retry_interval: worker.settings.retry_interval,
                });
            }
        }
        let last_reset = lb.last_reset();
        LbView {
            name: name.to_string(),
            sticky_session: tunables.sticky_session,
            sticky_session_force: tunables.sticky_session_force,
            retries: tunables.retries,
            retry_interval: tunables.retry_interval,
            recover_time: tunables.recover_time,
            error_escalation_time: tunables.error_escalation_time,
            max_reply_timeouts: tunables.max_reply_timeouts,
            method: tunables.method.as_str(),
            lock: tunables.lock.as_str(),
            member_count: members_now.len(),
            good: counts.0,
            degraded: counts.1,
            bad: counts.2,
            busy: load(&lb.busy),
            max_busy: load(&lb.max_busy),
            map_count: self.map_count(name),
            time_to_maintenance_min: ms_min,
            time_to_maintenance_max: ms_max,
            last_reset_at: self.clock.unix_of(last_reset),
            last_reset_ago: self.clock.seconds_since(last_reset),
            members,
            members_shown: !self.hide_members,
            maps: self.maps(name),
        }
    }

    /// A plain AJP worker. jkd counts requests and errors of plain workers nowhere
    /// but in its logs, so those counters stay 0; connections are counted.
    pub fn ajp(&self, name: &str, worker: &Arc<AjpWorker>) -> AjpView {
        let last_reset = plain_last_reset(worker);
        let pool = &worker.connections();
        AjpView {
            name: name.to_string(),
            conf: AjpConf::of(&worker.settings, self.addresses),
            traffic: {
                let c = &worker.counters;
                Traffic {
                    requests: load(&c.elected),
                    errors: load(&c.errors),
                    client_errors: load(&c.client_errors),
                    reply_timeouts: load(&c.reply_timeouts),
                    transferred: load(&c.transferred),
                    read: load(&c.read),
                    busy: load(&c.busy),
                    max_busy: load(&c.max_busy),
                    connected: load(&pool.connected),
                    max_connected: load(&pool.max_connected),
                }
            },
            map_count: self.map_count(name),
            last_reset_at: last_reset,
            last_reset_ago: self.clock.unix.saturating_sub(last_reset),
            error: None,
            maps: self.maps(name),
            retry_interval: worker.settings.retry_interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(good: &[&str], bad: &[&str]) -> StatusSettings {
        StatusSettings {
            css: None,
            prefix: "worker".into(),
            ns: "jk:".into(),
            xmlns: String::new(),
            doctype: None,
            read_only: false,
            users: Vec::new(),
            user_case_insensitive: false,
            good: good.iter().map(|s| s.to_string()).collect(),
            bad: bad.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn default_ratings() {
        let r = Ratings::of(&settings(&[], &[]));
        assert_eq!(r.rate(Activation::Active, MemberState::Ok), Rating::Good);
        assert_eq!(r.rate(Activation::Active, MemberState::Idle), Rating::Good);
        assert_eq!(r.rate(Activation::Active, MemberState::Probe), Rating::Good);
        assert_eq!(
            r.rate(Activation::Disabled, MemberState::Ok),
            Rating::Degraded
        );
        assert_eq!(
            r.rate(Activation::Disabled, MemberState::Error),
            Rating::Bad
        );
        assert_eq!(r.rate(Activation::Stopped, MemberState::Ok), Rating::Bad);
        assert_eq!(r.rate(Activation::Active, MemberState::Error), Rating::Bad);
    }

    #[test]
    fn rating_rules() {
        assert_eq!(rule_mask("a.o"), MASK_ACTIVE & MASK_OK);
        assert_eq!(rule_mask(" .d"), MASK_DISABLED);
        assert_eq!(rule_mask("ao"), MASK_ACTIVE, "only the first letter counts");
        assert_eq!(rule_mask("a."), MASK_ACTIVE);
        assert_eq!(rule_mask("n"), MASK_IDLE);
        assert_eq!(rule_mask("x"), 0);
        assert_eq!(rule_mask(""), 0);
        let r = Ratings::of(&settings(&["a", "d.o"], &["e"]));
        assert_eq!(r.rate(Activation::Disabled, MemberState::Ok), Rating::Good);
        assert_eq!(
            r.rate(Activation::Disabled, MemberState::Idle),
            Rating::Degraded
        );
        assert_eq!(
            r.rate(Activation::Stopped, MemberState::Ok),
            Rating::Degraded
        );
    }

    #[test]
    fn addresses() {
        let mut a = Addresses::default();
        a.insert("tomcat1", Some(IpAddr::from([10, 0, 0, 7])));
        a.insert("gone", None);
        let loaded = crate::config::from_workers_bytes(
            "t",
            b"worker.list=w\nworker.w.host=127.0.0.1\n",
            &|_| None,
        );
        let Some(crate::config::workers::WorkerKind::Ajp(base)) = loaded
            .config
            .and_then(|c| c.worker("w").map(|w| w.kind.clone()))
        else {
            panic!("test config");
        };
        let s = |host: &str, port: i32| AjpSettings {
            host: host.into(),
            port,
            ..base.clone()
        };
        assert_eq!(a.text(&s("tomcat1", 8009)), "10.0.0.7:8009");
        assert_eq!(a.text(&s("::1", 8010)), "::1:8010");
        assert_eq!(a.text(&s("gone", 8009)), "unresolved");
        assert_eq!(a.text(&s("unknown", 8009)), "unresolved");
        assert_eq!(a.text(&s("127.0.0.1", 0)), "invalid");
    }
}
