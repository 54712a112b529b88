//! The property vocabulary of mod_jk 1.2.48: which attribute names exist and how duplicates of each combine.

/// Every attribute suffix mod_jk accepts after `worker.<name>.`.
pub const SUPPORTED: &[&str] = &[
    "sysprops",
    "stderr",
    "stdout",
    "secret",
    "mx",
    "ms",
    "class_path",
    "bridge",
    "jvm_lib",
    "ld_path",
    "cmd_line",
    "native_lib",
    "reference",
    "host",
    "source",
    "port",
    "type",
    "cachesize",
    "connection_pool_size",
    "connection_pool_minsize",
    "cache_timeout",
    "connection_pool_timeout",
    "connection_acquire_timeout",
    "recovery_options",
    "connect_timeout",
    "prepost_timeout",
    "ping_timeout",
    "ping_mode",
    "reply_timeout",
    "socket_timeout",
    "socket_connect_timeout",
    "socket_buffer",
    "socket_keepalive",
    "connection_ping_interval",
    "recycle_timeout",
    "lbfactor",
    "distance",
    "balanced_workers",
    "balance_workers",
    "sticky_session",
    "sticky_session_force",
    "session_cookie",
    "session_path",
    "set_session_cookie",
    "session_cookie_path",
    "local_worker",
    "local_worker_only",
    "jvm_route",
    "route",
    "domain",
    "redirect",
    "mount",
    "method",
    "lock",
    "disabled",
    "stopped",
    "activation",
    "recover_time",
    "error_escalation_time",
    "max_reply_timeouts",
    "retry_interval",
    "busy_limit",
    "max_packet_size",
    "css",
    "ns",
    "xmlns",
    "doctype",
    "prefix",
    "read_only",
    "user",
    "user_case_insensitive",
    "good",
    "bad",
    "secretkey",
    "retries",
    "lb_retries",
    "fail_on_status",
    "list",
    "maintain",
    "prefer_ipv6",
];

/// Attributes whose repeated lines accumulate into one comma-separated list.
pub const LIST: &[&str] = &[
    "balance_workers",
    "mount",
    "user",
    "good",
    "bad",
    "fail_on_status",
    "list",
];

/// Attributes where a repeated line replaces the earlier value (with a warning).
/// mod_jk also lists the literal "worker.maintain" here, but its suffix test needs a
/// `.` before the name, so that entry never matches: `worker.maintain` duplicates
/// concatenate with `*` like any other key.
pub const UNIQUE: &[&str] = &[
    "secret",
    "reference",
    "host",
    "source",
    "port",
    "type",
    "cachesize",
    "connection_pool_size",
    "connection_pool_minsize",
    "cache_timeout",
    "connection_pool_timeout",
    "connection_acquire_timeout",
    "recovery_options",
    "connect_timeout",
    "prepost_timeout",
    "ping_timeout",
    "ping_mode",
    "reply_timeout",
    "socket_timeout",
    "socket_connect_timeout",
    "socket_buffer",
    "socket_keepalive",
    "connection_ping_interval",
    "recycle_timeout",
    "lbfactor",
    "sticky_session",
    "sticky_session_force",
    "session_cookie",
    "session_path",
    "set_session_cookie",
    "session_cookie_path",
    "local_worker",
    "local_worker_only",
    "jvm_route",
    "route",
    "domain",
    "redirect",
    "method",
    "lock",
    "disabled",
    "stopped",
    "activation",
    "recover_time",
    "error_escalation_time",
    "max_reply_timeouts",
    "retry_interval",
    "busy_limit",
    "max_packet_size",
    "css",
    "read_only",
    "retries",
    "lb_retries",
    "ns",
    "xmlns",
    "doctype",
    "prefix",
    "user_case_insensitive",
    "prefer_ipv6",
];

/// Attributes accepted with a warning; what replaces each (empty: nothing, ignored).
pub const DEPRECATED: &[(&str, &str)] = &[
    ("sysprops", ""),
    ("stderr", ""),
    ("stdout", ""),
    ("mx", ""),
    ("ms", ""),
    ("class_path", ""),
    ("bridge", ""),
    ("jvm_lib", ""),
    ("ld_path", ""),
    ("cmd_line", ""),
    ("native_lib", ""),
    ("cachesize", "connection_pool_size"),
    ("cache_timeout", "connection_pool_timeout"),
    ("recycle_timeout", ""),
    ("balanced_workers", "balance_workers"),
    ("jvm_route", "route"),
    ("local_worker", ""),
    ("local_worker_only", ""),
    ("disabled", "activation=D"),
    ("stopped", "activation=S"),
];

/// True when `key` ends with `sep` + `suffix` (mod_jk's suffix test).
pub fn has_suffix(key: &str, suffix: &str, sep: &str) -> bool {
    key.len() >= sep.len() + suffix.len()
        && key.ends_with(suffix)
        && key[..key.len() - suffix.len()].ends_with(sep)
}

fn in_class(key: &str, class: &[&str]) -> bool {
    class.iter().any(|s| has_suffix(key, s, "."))
}

pub fn is_list(key: &str) -> bool {
    in_class(key, LIST)
}

pub fn is_unique(key: &str) -> bool {
    in_class(key, UNIQUE)
}

pub fn is_path(key: &str) -> bool {
    has_suffix(key, "path", "_")
}

pub fn is_cmd_line(key: &str) -> bool {
    has_suffix(key, "cmd_line", ".")
}

/// The deprecated attribute `key` ends with, if any, and its replacement.
pub fn deprecated(key: &str) -> Option<(&'static str, &'static str)> {
    DEPRECATED
        .iter()
        .copied()
        .find(|(s, _)| has_suffix(key, s, "."))
}

/// Attributes only jkd knows (mod_jk 1.2.48 refuses to start on them): where a
/// member's HTTP connector is, for WebSocket, and a member's application health
/// check. Kept in an `--extend` file, they leave the workers file usable by mod_jk.
pub const JKD_ONLY: &[&str] = &[
    "http_port",
    "http_host",
    "health_check_uri",
    "health_check_interval",
    "health_check_timeout",
    "tls",
    "tls_ca",
    "tls_server_name",
];

/// Worker types only jkd knows (mod_jk refuses to start on an unknown type): `http`,
/// a backend reached over HTTP/1.1.
pub const JKD_ONLY_TYPES: &[&str] = &["http"];

/// Whether the line `key=value` is jkd's own: a jkd-only attribute, or a `type` with
/// a jkd-only value.
pub fn is_jkd_only_line(key: &str, value: &str) -> bool {
    is_jkd_only(key)
        || (key.starts_with("worker.")
            && has_suffix(key, "type", ".")
            && JKD_ONLY_TYPES.contains(&value.trim()))
}

/// mod_jk's validity rule: keys outside `worker.` are variables and always valid;
/// `worker.` keys must end in a supported attribute (or one of jkd's own).
pub fn is_valid(key: &str) -> bool {
    !key.starts_with("worker.") || in_class(key, SUPPORTED) || is_jkd_only(key)
}

/// Whether `key` is a `worker.` key mod_jk would refuse but jkd reads.
pub fn is_jkd_only(key: &str) -> bool {
    key.starts_with("worker.") && in_class(key, JKD_ONLY)
}

/// `wroker.list`, `workers.lb.type`: a key whose first word is a slip of `worker`
/// (mod_jk takes it as a variable, so the line silently does nothing); the key meant.
pub fn misspelt_worker_key(key: &str) -> Option<String> {
    let (first, rest) = key.split_once('.')?;
    let slip = first != "worker"
        && !rest.is_empty()
        && strsim::damerau_levenshtein(&first.to_ascii_lowercase(), "worker") <= 2;
    slip.then(|| format!("worker.{rest}"))
}

/// The supported attribute closest to `attr` (for "did you mean" hints).
pub fn closest(attr: &str) -> Option<&'static str> {
    let mut best: Option<(usize, &'static str)> = None;
    for cand in SUPPORTED {
        let d = strsim::levenshtein(attr, cand);
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    let limit = (attr.len() / 3).max(2);
    best.filter(|(d, _)| *d <= limit).map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slips_of_worker_are_caught_and_variables_are_not() {
        assert_eq!(
            misspelt_worker_key("wroker.list").as_deref(),
            Some("worker.list")
        );
        assert_eq!(
            misspelt_worker_key("workers.lb.type").as_deref(),
            Some("worker.lb.type")
        );
        assert_eq!(
            misspelt_worker_key("Worker.list").as_deref(),
            Some("worker.list")
        );
        assert_eq!(misspelt_worker_key("worker.list"), None);
        assert_eq!(misspelt_worker_key("tomcat.home"), None);
        assert_eq!(misspelt_worker_key("basedir"), None);
    }

    #[test]
    fn suffix_needs_separator() {
        assert!(has_suffix("worker.list", "list", "."));
        assert!(!has_suffix("worker.maintain", "worker.maintain", "."));
        assert!(has_suffix("worker.a.b.host", "host", "."));
        assert!(!has_suffix("worker.a.ghost", "host", "."));
        assert!(has_suffix("foo_path", "path", "_"));
    }

    #[test]
    fn validity_is_by_suffix_only() {
        assert!(is_valid("worker.a.b.host"));
        assert!(is_valid("worker.host"));
        assert!(is_valid("myvar"));
        assert!(!is_valid("worker.node1.prot"));
        assert!(!is_valid("worker.node1.max_reuse_connections"));
    }

    #[test]
    fn a_type_http_line_is_jkd_only_and_ajp13_is_not() {
        assert!(is_jkd_only_line("worker.n.type", "http"));
        assert!(is_jkd_only_line("worker.n.http_port", "8080"));
        assert!(!is_jkd_only_line("worker.n.type", "ajp13"));
        assert!(!is_jkd_only_line("worker.n.host", "http"));
        assert!(!is_jkd_only_line("myvar.type", "http"));
    }

    #[test]
    fn classes() {
        assert!(is_list("worker.lb.balance_workers"));
        assert!(is_unique("worker.n.port"));
        assert!(!is_unique("worker.maintain"));
        assert!(!is_unique("worker.n.distance"));
        assert_eq!(
            deprecated("worker.n.cachesize").map(|d| d.1),
            Some("connection_pool_size")
        );
    }

    #[test]
    fn hints() {
        assert_eq!(closest("prot"), Some("port"));
        assert_eq!(closest("sticky_seesion"), Some("sticky_session"));
        assert_eq!(closest("zzzzzzzzzzzzzzzzzz"), None);
    }
}
