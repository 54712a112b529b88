//! `jkd check --dump`: the resolved configuration in the `mime=prop` format of mod_jk's status worker.
//!
//! Only configuration-derived keys are printed (no state, counters, times or
//! resolved addresses), with mod_jk's key names, value spellings and order, so the
//! output can be compared line by line with a running mod_jk's `?mime=prop`.

use std::fmt::Write;

use super::Config;
use super::workers::{AjpSettings, WorkerKind};

fn bool_text(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

struct Out<'a> {
    prefix: &'a str,
    text: String,
}

impl Out<'_> {
    fn top(&mut self, key: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.text, "{}.{}={}", self.prefix, key, value);
    }
    fn att(&mut self, name: &str, key: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.text, "{}.{}.{}={}", self.prefix, name, key, value);
    }
}

fn ajp_keys(out: &mut Out<'_>, name: &str, a: &AjpSettings) {
    out.att(name, "host", &a.host);
    out.att(name, "port", a.port);
    out.att(
        name,
        "source",
        if a.source.is_empty() {
            "undefined"
        } else {
            &a.source
        },
    );
    out.att(name, "connection_pool_timeout", a.pool_timeout);
    out.att(name, "ping_timeout", a.ping_timeout);
    out.att(name, "connect_timeout", a.connect_timeout);
    out.att(name, "prepost_timeout", a.prepost_timeout);
    out.att(name, "reply_timeout", a.reply_timeout);
    out.att(name, "retries", a.retries);
    out.att(name, "connection_ping_interval", a.connection_ping_interval);
    out.att(name, "recovery_options", a.recovery_options);
    out.att(name, "busy_limit", a.busy_limit);
    out.att(name, "max_packet_size", a.max_packet_size);
}

fn maps(out: &mut Out<'_>, config: &Config, name: &str) {
    for (n, rule) in config.mounts.rules_for(name).enumerate() {
        let map = format!("{name}.map.{}", n + 1);
        let ext = &rule.extensions;
        out.att(&map, "uri", &rule.pattern);
        out.att(&map, "type", rule.type_text());
        out.att(&map, "source", rule.source.as_str());
        out.att(&map, "reply_timeout", ext.reply_timeout);
        out.att(&map, "sticky_ignore", i32::from(ext.sticky_ignore));
        out.att(&map, "stateless", i32::from(ext.stateless));
        out.att(
            &map,
            "fail_on_status",
            ext.fail_on_status.as_deref().unwrap_or(""),
        );
        out.att(&map, "active", ext.active.as_deref().unwrap_or(""));
        out.att(&map, "disabled", ext.disabled.as_deref().unwrap_or(""));
        out.att(&map, "stopped", ext.stopped.as_deref().unwrap_or(""));
        out.att(&map, "use_server_errors", ext.use_server_errors);
    }
}

/// Renders the configuration as mod_jk's status worker would list it with `mime=prop`.
pub fn render(config: &Config) -> String {
    let mut out = Out {
        prefix: "worker",
        text: String::new(),
    };
    let listed = || config.worker_list.iter().filter_map(|n| config.worker(n));
    let lb_count = listed()
        .filter(|w| matches!(w.kind, WorkerKind::Lb(_)))
        .count();
    let ajp_count = listed()
        .filter(|w| matches!(w.kind, WorkerKind::Ajp(_)))
        .count();
    if lb_count > 0 {
        out.top("lb_count", lb_count);
        for w in listed() {
            let WorkerKind::Lb(lb) = &w.kind else {
                continue;
            };
            let name = w.name.as_str();
            out.top("list", name);
            out.att(name, "type", "lb");
            out.att(name, "sticky_session", bool_text(lb.sticky_session));
            out.att(
                name,
                "sticky_session_force",
                bool_text(lb.sticky_session_force),
            );
            out.att(name, "retries", lb.retries);
            out.att(name, "recover_time", lb.recover_time);
            out.att(name, "error_escalation_time", lb.error_escalation_time);
            out.att(name, "max_reply_timeouts", lb.max_reply_timeouts);
            out.att(name, "method", lb.method.as_str());
            out.att(name, "lock", lb.lock.as_str());
            out.att(name, "member_count", lb.members.len());
            out.att(name, "map_count", config.mounts.rules_for(name).count());
            for m in &lb.members {
                out.att(name, "balance_workers", &m.name);
                out.att(&m.name, "type", m.ajp.protocol.type_name());
                ajp_keys(&mut out, &m.name, &m.ajp);
                out.att(&m.name, "activation", m.activation.as_str());
                out.att(&m.name, "lbfactor", m.lbfactor);
                out.att(&m.name, "route", &m.route);
                out.att(&m.name, "redirect", &m.redirect);
                out.att(&m.name, "domain", &m.domain);
                out.att(&m.name, "distance", m.distance);
                out.att(&m.name, "lbmult", m.lb_mult);
            }
            maps(&mut out, config, name);
        }
    }
    if ajp_count > 0 {
        out.top("ajp_count", ajp_count);
        for w in listed() {
            let WorkerKind::Ajp(a) = &w.kind else {
                continue;
            };
            let name = w.name.as_str();
            // mod_jk keys this line by the worker's own name (unlike an lb's `worker.list=`).
            out.att(name, "list", name);
            out.att(name, "type", a.protocol.type_name());
            ajp_keys(&mut out, name, a);
            out.att(name, "map_count", config.mounts.rules_for(name).count());
            maps(&mut out, config, name);
        }
    }
    out.text
}
