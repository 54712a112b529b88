//! The commands that change the running balancers: `update`, `reset` and `recover`, with mod_jk's accepted ranges, quirks and messages; every change is logged with who asked and from where.

use std::fmt::Display;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::params::Params;
use super::view;
use crate::balancer::MemberRuntime;
use crate::config::mounts::wildchar_match;
use crate::config::values::{Activation, Lock, Method};
use crate::config::workers::{AjpSettings, DEFAULT_PACKET_SIZE, MAX_NAME_LEN, MAX_PACKET_SIZE};
use crate::runtime::{AjpWorker, LbWorker, Runtime, Target};

/// Who changes something, for the log.
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    /// The status worker's name.
    pub status_worker: &'a str,
    /// The authenticated user, if any.
    pub user: Option<&'a str>,
    /// The client's address.
    pub client: &'a str,
}

// Values from the request (the user name, new values, messages quoting them) are
// logged with `?` / `{:?}`: Debug escapes control characters, so a value holding a
// newline cannot forge a log line of its own.
impl Actor<'_> {
    fn changed(&self, worker: &str, attribute: &str, old: impl Display, new: impl Display) {
        let (old, new) = (old.to_string(), new.to_string());
        tracing::info!(
            status_worker = ?self.status_worker,
            user = ?self.user.unwrap_or("-"),
            client = ?self.client,
            worker = ?worker,
            attribute = ?attribute,
            old = ?old,
            new = ?new,
            "status manager changed {attribute:?} of {worker:?} from {old:?} to {new:?}"
        );
    }

    fn did(&self, worker: &str, what: &str) {
        tracing::info!(
            status_worker = ?self.status_worker,
            user = ?self.user.unwrap_or("-"),
            client = ?self.client,
            worker = ?worker,
            "status manager: {what} {worker:?}"
        );
    }

    fn refused(&self, worker: &str, why: &str) {
        tracing::warn!(
            status_worker = ?self.status_worker,
            user = ?self.user.unwrap_or("-"),
            client = ?self.client,
            worker = ?worker,
            "status manager: {why:?}"
        );
    }
}

/// The members of `lb` that `pattern` names: with `*` or `?` every match in order
/// (mod_jk's case-sensitive `jk_wildchar_match`), otherwise the one of that name.
pub fn matching_members(lb: &LbWorker, pattern: &str) -> Vec<usize> {
    let mut names = lb.members.iter().map(|m| m.name());
    if is_wildcard(pattern) {
        names
            .enumerate()
            .filter(|(_, n)| wildchar_match(n, pattern))
            .map(|(i, _)| i)
            .collect()
    } else {
        names.position(|n| n == pattern).into_iter().collect()
    }
}

pub fn is_wildcard(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

fn sub_worker(params: &Params) -> Option<&str> {
    params.get("sw").filter(|s| !s.is_empty())
}

/// mod_jk's message for a too long route, redirect, domain or host name; it names
/// the member with the word "sub worker" even for a plain worker.
fn too_long(what: &str, value: &str, worker: &str) -> String {
    format!(
        "Update failed (at least partially): new {what} '{value}' too long for sub worker \
         '{worker}', see log file for details."
    )
}

/// One numeric AJP setting of the member form: request name, setting name, range and
/// current value.
struct AjpNumber {
    param: &'static str,
    attribute: &'static str,
    min: i64,
    max: i64,
    current: i64,
}

fn ajp_numbers(s: &AjpSettings) -> [AjpNumber; 12] {
    let n = |param, attribute, min: i64, current: i64| AjpNumber {
        param,
        attribute,
        min,
        max: i64::from(i32::MAX),
        current,
    };
    [
        n("vacpt", "connection_pool_timeout", 0, s.pool_timeout.into()),
        n("vaprt", "port", 0, s.port.into()),
        n("vapng", "ping_timeout", 0, s.ping_timeout.into()),
        n("vact", "connect_timeout", 0, s.connect_timeout.into()),
        n("vapt", "prepost_timeout", 0, s.prepost_timeout.into()),
        n("vart", "reply_timeout", 0, s.reply_timeout.into()),
        n("var", "retries", 1, s.retries.into()),
        n("vari", "retry_interval", 1, s.retry_interval.into()),
        n(
            "vacpi",
            "connection_ping_interval",
            1,
            s.connection_ping_interval.into(),
        ),
        n("varo", "recovery_options", 0, s.recovery_options.into()),
        n("vabl", "busy_limit", 0, s.busy_limit.into()),
        AjpNumber {
            param: "vamps",
            attribute: "max_packet_size",
            min: DEFAULT_PACKET_SIZE.into(),
            max: MAX_PACKET_SIZE.into(),
            current: s.max_packet_size.into(),
        },
    ]
}

/// The value a request asks for, as mod_jk reads it: `atoi`; `recovery_options`
/// through an unsigned cast (a negative number is out of range); `max_packet_size`
/// rounded up to a multiple of 1024.
fn requested(n: &AjpNumber, value: &str) -> i64 {
    let v = i64::from(crate::config::values::int_atoi(value));
    match n.param {
        "varo" if v < 0 => v + (1 << 32),
        "vamps" => {
            let unsigned = if v < 0 { v + (1 << 32) } else { v };
            (unsigned + 1023) & !1023
        }
        _ => v,
    }
}

/// The AJP connection settings of a member or plain worker: jkd's workers cannot
/// change them while running, so a request that would change one (a different value
/// in mod_jk's accepted range) fails with a message naming it; unchanged values, as
/// the edit form sends them back, pass.
fn ajp_changes(params: &Params, s: &AjpSettings, name: &str, actor: &Actor<'_>) -> Option<String> {
    let mut failure = None;
    for n in ajp_numbers(s) {
        let Some(value) = params.get(n.param) else {
            continue;
        };
        let v = requested(&n, value);
        if v != n.current && (n.min..=n.max).contains(&v) {
            actor.refused(
                name,
                &format!(
                    "cannot change '{}' of '{name}' from {} to {v} at run time",
                    n.attribute, n.current
                ),
            );
            failure = Some(cannot_change(n.attribute, name));
        }
    }
    if let Some(host) = params.get("vahst") {
        if host.len() > MAX_NAME_LEN {
            failure = Some(too_long("host name", host, name));
        } else if host != s.host {
            actor.refused(
                name,
                &format!("cannot change 'host' of '{name}' to '{host}' at run time"),
            );
            failure = Some(cannot_change("host", name));
        }
    }
    failure
}

fn cannot_change(attribute: &str, name: &str) -> String {
    format!(
        "Update failed (at least partially): jkd cannot change '{attribute}' of '{name}' while \
         running; set it in workers.properties and restart"
    )
}

/// A text attribute of a member (`route`, `redirect`, `domain`).
#[derive(Clone, Copy)]
enum MemberText {
    Route,
    Redirect,
    Domain,
}

impl MemberText {
    fn name(self) -> &'static str {
        match self {
            MemberText::Route => "route",
            MemberText::Redirect => "redirect",
            MemberText::Domain => "domain",
        }
    }
    fn get(self, m: &MemberRuntime) -> &str {
        match self {
            MemberText::Route => &m.route,
            MemberText::Redirect => &m.redirect,
            MemberText::Domain => &m.domain,
        }
    }
}

/// Sets a text attribute; a new route also fills an empty domain with the part
/// before its first dot, as mod_jk does.
fn set_text(
    lb: &LbWorker,
    index: usize,
    which: MemberText,
    value: &str,
    actor: &Actor<'_>,
) -> Result<(), String> {
    let Some(current) = lb.snapshot_of(index) else {
        return Ok(());
    };
    if value.len() > MAX_NAME_LEN {
        return Err(too_long(which.name(), value, &current.name));
    }
    let old = which.get(&current);
    if old == value {
        return Ok(());
    }
    actor.changed(
        &format!("{}/{}", lb.name, current.name),
        which.name(),
        old,
        value,
    );
    lb.update_member(index, |m| match which {
        MemberText::Route => {
            m.route = value.to_string();
            if m.domain.is_empty()
                && let Some((domain, _)) = value.split_once('.')
            {
                m.domain = domain.to_string();
            }
        }
        MemberText::Redirect => m.redirect = value.to_string(),
        MemberText::Domain => m.domain = value.to_string(),
    });
    Ok(())
}

/// Sets a member's activation; returns whether it changed (load values are then
/// reset).
fn set_activation(lb: &LbWorker, index: usize, text: &str, actor: &Actor<'_>) -> bool {
    let Some(current) = lb.snapshot_of(index) else {
        return false;
    };
    // Anything but A/D/S or 0/1/2 means Active, as mod_jk's jk_lb_get_activation_code.
    let (new, _) = Activation::parse(text);
    if new == current.activation {
        return false;
    }
    actor.changed(
        &format!("{}/{}", lb.name, current.name),
        "activation",
        current.activation.as_str(),
        new.as_str(),
    );
    lb.update_member(index, |m| m.activation = new);
    true
}

fn set_lbfactor(lb: &LbWorker, index: usize, factor: i32, actor: &Actor<'_>) {
    let Some(current) = lb.snapshot_of(index) else {
        return;
    };
    if factor != current.lbfactor && factor >= 1 {
        actor.changed(
            &format!("{}/{}", lb.name, current.name),
            "lbfactor",
            current.lbfactor,
            factor,
        );
        lb.set_lbfactor(index, factor);
    }
}

fn set_distance(lb: &LbWorker, index: usize, distance: i32, actor: &Actor<'_>) {
    let Some(current) = lb.snapshot_of(index) else {
        return;
    };
    if distance != current.distance && distance >= 0 {
        actor.changed(
            &format!("{}/{}", lb.name, current.name),
            "distance",
            current.distance,
            distance,
        );
        lb.update_member(index, |m| m.distance = distance);
    }
}

/// mod_jk's `commit_member` for member `index`: applies every parameter it can and
/// reports the last failure.
fn commit_member(
    params: &Params,
    lb: &LbWorker,
    index: usize,
    actor: &Actor<'_>,
) -> Result<(), String> {
    let (Some(current), Some(member)) = (lb.snapshot_of(index), lb.members.get(index)) else {
        return Err("could not find sub worker".into());
    };
    let mut failure = None;
    let activation_changed = params
        .get("vwa")
        .is_some_and(|v| set_activation(lb, index, v, actor));
    set_lbfactor(lb, index, params.int("vwf", current.lbfactor), actor);
    for (param, which) in [
        ("vwn", MemberText::Route),
        ("vwr", MemberText::Redirect),
        ("vwc", MemberText::Domain),
    ] {
        if let Some(value) = params.get(param)
            && let Err(e) = set_text(lb, index, which, value, actor)
        {
            failure = Some(e);
        }
    }
    set_distance(lb, index, params.int("vwd", current.distance), actor);
    if let Some(e) = ajp_changes(params, &member.endpoint.settings, &current.name, actor) {
        failure = Some(e);
    }
    if activation_changed {
        lb.reset_lb_values();
    }
    failure.map_or(Ok(()), Err)
}

/// mod_jk's `commit_worker`: the balancer's own settings, each only within its range;
/// `vls`/`vlf` change only when given.
fn commit_balancer(params: &Params, lb: &LbWorker, actor: &Actor<'_>) {
    let old = lb.tunables();
    let mut new = old;
    let name = lb.name.as_str();
    let number = |param: &str, attribute: &str, slot: &mut i32, min: i32| {
        let v = params.int(param, *slot);
        if v != *slot && v >= min {
            actor.changed(name, attribute, *slot, v);
            *slot = v;
        }
    };
    number("vlr", "retries", &mut new.retries, 1);
    number("vlri", "retry_interval", &mut new.retry_interval, 1);
    number("vlt", "recover_time", &mut new.recover_time, 1);
    number(
        "vlee",
        "error_escalation_time",
        &mut new.error_escalation_time,
        1,
    );
    number("vlx", "max_reply_timeouts", &mut new.max_reply_timeouts, 0);
    let flag = |param: &str, attribute: &str, slot: &mut bool| {
        let v = params.bool(param, *slot);
        if v != *slot {
            actor.changed(name, attribute, *slot, v);
            *slot = v;
        }
    };
    flag("vls", "sticky_session", &mut new.sticky_session);
    flag("vlf", "sticky_session_force", &mut new.sticky_session_force);
    if let Some(text) = params.get("vlm") {
        let (method, _) = Method::parse(text);
        if method != new.method {
            actor.changed(name, "method", new.method.as_str(), method.as_str());
            new.method = method;
        }
    }
    if let Some(text) = params.get("vll") {
        let (lock, _) = Lock::parse(text);
        if lock != new.lock {
            actor.changed(name, "lock", new.lock.as_str(), lock.as_str());
            new.lock = lock;
        }
    }
    if new != old {
        lb.set_tunables(new);
    }
}

/// The attributes the all-members form edits (`att=`).
const ALL_MEMBER_ATTRIBUTES: [&str; 17] = [
    "vwa", "vwf", "vwn", "vwr", "vwc", "vwd", "vacpt", "vapng", "vact", "vapt", "vart", "var",
    "vari", "vacpi", "varo", "vabl", "vamps",
];

/// mod_jk's `commit_all_members`: attribute `att` of every member from `val<n>`.
/// mod_jk drops the message of a failed member here and reports success; jkd
/// reports the failure.
fn commit_all_members(
    params: &Params,
    lb: &LbWorker,
    attribute: &str,
    actor: &Actor<'_>,
) -> Result<(), String> {
    if !ALL_MEMBER_ATTRIBUTES.contains(&attribute) {
        actor.refused(&lb.name, &format!("unknown attribute '{attribute}'"));
        return Ok(());
    }
    let mut failure = None;
    let mut activation_changed = false;
    for (index, current) in lb.snapshot().iter().enumerate() {
        let key = format!("val{index}");
        let Some(value) = params.get(&key) else {
            continue;
        };
        match attribute {
            "vwa" => activation_changed |= set_activation(lb, index, value, actor),
            "vwf" => set_lbfactor(lb, index, params.int(&key, current.lbfactor), actor),
            "vwd" => set_distance(lb, index, params.int(&key, current.distance), actor),
            "vwn" | "vwr" | "vwc" => {
                let which = match attribute {
                    "vwn" => MemberText::Route,
                    "vwr" => MemberText::Redirect,
                    _ => MemberText::Domain,
                };
                if let Err(e) = set_text(lb, index, which, value, actor) {
                    failure = Some(e);
                }
            }
            ajp => {
                let Some(member) = lb.members.get(index) else {
                    continue;
                };
                let single = Params::parse(Some(&format!("{ajp}={}", encode(value))));
                let settings = &member.endpoint.settings;
                if let Some(e) = ajp_changes(&single, settings, &current.name, actor) {
                    failure = Some(e);
                }
            }
        }
    }
    if activation_changed {
        lb.reset_lb_values();
    }
    failure.map_or(Ok(()), Err)
}

/// Percent-encodes a decoded value again (to reuse the parameter reader).
pub(super) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `cmd=update` (worker and sub worker already checked).
pub fn update(rt: &Runtime, params: &Params, actor: &Actor<'_>) -> Result<(), String> {
    let name = params.get("w").unwrap_or_default();
    match rt.targets.get(name) {
        Some(Target::Lb(lb)) => match sub_worker(params) {
            None => match params.get("att") {
                Some(attribute) => commit_all_members(params, lb, attribute, actor),
                None => {
                    commit_balancer(params, lb, actor);
                    Ok(())
                }
            },
            Some(pattern) => {
                let wildcard = is_wildcard(pattern);
                let targets = matching_members(lb, pattern);
                if targets.is_empty() {
                    return Err("could not find sub worker".into());
                }
                for index in targets {
                    if let Err(message) = commit_member(params, lb, index, actor) {
                        return Err(if wildcard {
                            format!("{message} Aborting further wildcard updates.")
                        } else {
                            message
                        });
                    }
                }
                Ok(())
            }
        },
        Some(Target::Ajp(worker)) => {
            ajp_changes(params, &worker.settings, name, actor).map_or(Ok(()), Err)
        }
        _ => Err("Update failed".into()),
    }
}

fn reset_connections_peak(worker: &AjpWorker) {
    worker
        .connections()
        .max_connected
        .store(0, Ordering::Relaxed);
}

/// `cmd=reset`: a balancer with all its members, one member, or a plain worker.
pub fn reset(
    rt: &Runtime,
    params: &Params,
    actor: &Actor<'_>,
    now: Instant,
    unix: i64,
) -> Result<(), String> {
    let name = params.get("w").unwrap_or_default();
    match rt.targets.get(name) {
        Some(Target::Lb(lb)) => match sub_worker(params) {
            None => {
                lb.reset(now);
                lb.members
                    .iter()
                    .for_each(|m| reset_connections_peak(&m.endpoint));
                actor.did(name, "reset the statistics of balancer");
                Ok(())
            }
            Some(member) => {
                let Some(index) = lb.members.iter().position(|m| m.name() == member) else {
                    return Err("Reset failed".into());
                };
                lb.reset_member(index, now);
                if let Some(m) = lb.members.get(index) {
                    reset_connections_peak(&m.endpoint);
                }
                actor.did(
                    &format!("{name}/{member}"),
                    "reset the statistics of member",
                );
                Ok(())
            }
        },
        Some(Target::Ajp(worker)) => {
            reset_connections_peak(worker);
            view::note_plain_reset(worker, unix);
            actor.did(name, "reset the statistics of worker");
            Ok(())
        }
        _ => Err("Reset failed".into()),
    }
}

/// `cmd=recover`: a member in error is marked for recovery at once.
pub fn recover(rt: &Runtime, params: &Params, actor: &Actor<'_>) -> Result<(), String> {
    const FAILED: &str = "Marking worker for recovery failed";
    let name = params.get("w").unwrap_or_default();
    let Some(member) = sub_worker(params) else {
        return Err(FAILED.into());
    };
    let Some(Target::Lb(lb)) = rt.targets.get(name) else {
        return Err(FAILED.into());
    };
    let Some(index) = lb.members.iter().position(|m| m.name() == member) else {
        return Err(FAILED.into());
    };
    if lb.recover(index) {
        actor.did(&format!("{name}/{member}"), "marked for recovery");
        Ok(())
    } else {
        let state = lb
            .snapshot_of(index)
            .map_or("unknown", |m| m.state.as_str());
        actor.refused(
            &format!("{name}/{member}"),
            &format!("cannot mark '{name}/{member}' for recovery: its state {state} is not ERR"),
        );
        Err(FAILED.into())
    }
}
