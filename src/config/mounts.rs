//! Mount rules: parsing `pattern=worker;ext` from every source, mod_jk's rule order, and the URI → worker match.
//!
//! Behaviour follows `jk_uri_worker_map.c` of mod_jk 1.2.48 (`uri_worker_map_add`,
//! `uri_worker_map_open`, `uri_worker_map_load`, `parse_rule_extensions`,
//! `worker_compare`, `find_match`, `is_nomatch`, `map_uri_to_worker_ext`) and
//! `jk_util.c:jk_wildchar_match`.

use std::cmp::Ordering;
use std::sync::Arc;

use super::diag::{Diagnostics, Origin};
use super::props::{Env, PropMap, Treatment};
use super::uri::{self, UriError};

/// mod_jk copies the URI into a buffer of this many bytes (plus NUL) before matching;
/// a longer URI is not mapped at all (`JK_MAX_URI_LEN`).
pub const MAX_URI_LEN: usize = 4095;

/// Where a rule comes from. On ties in the rule order the higher source wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleSource {
    /// `worker.NAME.mount` in workers.properties.
    WorkerDefinition,
    /// `JkMount` / `JkUnMount` in the Apache configuration (also jkd's `--mount`).
    JkMount,
    /// A `JkMountFile` (uriworkermap.properties).
    UriWorkerMap,
}

impl RuleSource {
    /// mod_jk's `SOURCE_TYPE_*` value, compared when two rules tie.
    pub fn priority(self) -> u8 {
        match self {
            RuleSource::WorkerDefinition => 1,
            RuleSource::JkMount => 2,
            RuleSource::UriWorkerMap => 3,
        }
    }

    /// The name mod_jk's status worker shows for the source.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleSource::WorkerDefinition => "worker definition",
            RuleSource::JkMount => "JkMount",
            RuleSource::UriWorkerMap => "uriworkermap",
        }
    }
}

/// The `;name=value` extensions after the worker name of a rule.
///
/// Numbers are read with C's `atoi` as mod_jk does (`abc` is 0). Which extensions
/// apply to which worker type is checked later, against the workers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleExtensions {
    /// `reply_timeout=` in milliseconds; negative (default -1) means "no override".
    pub reply_timeout: i32,
    pub sticky_ignore: bool,
    pub stateless: bool,
    /// `active=`, `disabled=`, `stopped=`: lb member names separated by `,` or
    /// spaces (see [`split_members`]), as written; the first occurrence counts.
    pub active: Option<String>,
    pub disabled: Option<String>,
    pub stopped: Option<String>,
    /// `fail_on_status=` as written (the status worker shows it so); see
    /// [`RuleExtensions::fail_on_status_codes`].
    pub fail_on_status: Option<String>,
    /// `use_server_errors=N`: responses with status ≥ N get httpd's own error page;
    /// 0 (default) means off.
    pub use_server_errors: i32,
    pub session_cookie: Option<String>,
    pub session_path: Option<String>,
    pub set_session_cookie: bool,
    pub session_cookie_path: Option<String>,
}

impl Default for RuleExtensions {
    fn default() -> Self {
        RuleExtensions {
            reply_timeout: -1,
            sticky_ignore: false,
            stateless: false,
            active: None,
            disabled: None,
            stopped: None,
            fail_on_status: None,
            use_server_errors: 0,
            session_cookie: None,
            session_path: None,
            set_session_cookie: false,
            session_cookie_path: None,
        }
    }
}

impl RuleExtensions {
    /// The `fail_on_status=` statuses (negative: fail the request without putting
    /// the member in error state), read as `extension_fix_fail_on_status`: split on
    /// `,` and space, each with `atoi`. (mod_jk sizes its array by separator count
    /// and leaves unused slots at 0, which never equals a status, so only the tokens
    /// matter.)
    pub fn fail_on_status_codes(&self) -> Vec<i32> {
        self.fail_on_status
            .as_deref()
            .map(|list| split_members(list).map(c_atoi).collect())
            .unwrap_or_default()
    }
}

/// The member names of an `active=` / `disabled=` / `stopped=` list (mod_jk splits
/// with `strtok` on `,` and space).
pub fn split_members(list: &str) -> impl Iterator<Item = &str> {
    list.split([',', ' ']).filter(|s| !s.is_empty())
}

/// One mount rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountRule {
    /// The URI pattern without the leading `-` / `!` markers.
    pub pattern: String,
    /// The worker name (the value up to the first `;`).
    pub worker: String,
    /// `!pattern` (or `JkUnMount`): matching URIs are *not* forwarded to this worker
    /// (or to any worker when `worker` is `*`).
    pub exclusion: bool,
    /// `-pattern`: the rule is ignored everywhere.
    pub disabled: bool,
    /// The pattern contains `*` or `?`; otherwise the whole URI must equal it.
    pub wildcard: bool,
    pub source: RuleSource,
    pub extensions: RuleExtensions,
    pub origin: Origin,
    /// The virtual host whose map holds the rule (an id from
    /// [`super::apache::VirtualHost::id`]); `None` is the main server.
    pub vhost: Option<String>,
}

impl MountRule {
    /// Whether the URI (already normalised) matches this rule's pattern, ignoring
    /// `disabled` and `exclusion`.
    pub fn matches(&self, normalized: &[u8]) -> bool {
        if self.wildcard {
            wildchar_match(normalized, &self.pattern)
        } else {
            normalized == self.pattern.as_bytes()
        }
    }

    /// The pattern as written in a uriworkermap file, with its markers.
    pub fn written_pattern(&self) -> String {
        let mut s = String::new();
        if self.disabled {
            s.push('-');
        }
        if self.exclusion {
            s.push('!');
        }
        s.push_str(&self.pattern);
        s
    }

    /// The match type as mod_jk's status worker prints it
    /// (`uri_worker_map_get_match`): `Disabled `, `Unmount `, then `Exact` or
    /// `Wildchar`.
    pub fn type_text(&self) -> String {
        let mut s = String::new();
        if self.disabled {
            s.push_str("Disabled ");
        }
        if self.exclusion {
            s.push_str("Unmount ");
        }
        s.push_str(if self.wildcard { "Wildchar" } else { "Exact" });
        s
    }

    fn slash_count(&self) -> usize {
        self.pattern.bytes().filter(|&b| b == b'/').count()
    }
}

/// C's `atoi` as glibc implements it: `strtol` saturated to `long`, then truncated
/// to `int`; leading white space and a sign are accepted, the rest is ignored.
pub(crate) fn c_atoi(text: &str) -> i32 {
    let t = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut value: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        let d = i64::from(b - b'0');
        value = if negative {
            value.saturating_mul(10).saturating_sub(d)
        } else {
            value.saturating_mul(10).saturating_add(d)
        };
    }
    value as i32
}

/// Reads an `atoi` number and warns when the text is not simply an integer.
fn ext_int(text: &str, name: &str, key: &str, origin: &Origin, diags: &mut Diagnostics) -> i32 {
    let value = c_atoi(text);
    if text.trim().parse::<i32>().ok() != Some(value) {
        diags.warning(
            origin.clone(),
            key,
            format!("extension '{name}={text}' is not an integer; mod_jk reads it as {value}"),
        );
    }
    value
}

fn set_once(
    slot: &mut Option<String>,
    value: &str,
    name: &str,
    key: &str,
    origin: &Origin,
    diags: &mut Diagnostics,
) {
    if slot.is_some() {
        diags.warning(
            origin.clone(),
            key,
            format!(
                "rule extension '{name}=' is given again ('{value}'); mod_jk allows it once and \
                 keeps the first"
            ),
        );
    } else {
        *slot = Some(value.to_string());
    }
}

/// Splits a rule value into the worker name and its extensions, as
/// `parse_rule_extensions` does with `strtok(value, ";")`: empty pieces are skipped,
/// and leading `;` stay part of the worker name (strtok does not touch them).
pub fn parse_value(
    value: &str,
    key: &str,
    origin: &Origin,
    diags: &mut Diagnostics,
) -> (String, RuleExtensions) {
    let mut ext = RuleExtensions::default();
    let leading = value.len() - value.trim_start_matches(';').len();
    let Some(rel_end) = value[leading..].find(';') else {
        return (value.to_string(), ext);
    };
    let name_end = leading + rel_end;
    let worker = value[..name_end].to_string();
    let mut params = value[name_end..].split(';').filter(|p| !p.is_empty());
    while let Some(param) = params.next() {
        let (name, arg) = match param.split_once('=') {
            Some((n, a)) => (n, a),
            None => (param, ""),
        };
        let known = param.contains('=');
        match name {
            "reply_timeout" if known => {
                ext.reply_timeout = ext_int(arg, name, key, origin, diags);
            }
            "sticky_ignore" if known => {
                ext.sticky_ignore = ext_int(arg, name, key, origin, diags) != 0;
            }
            "stateless" if known => ext.stateless = ext_int(arg, name, key, origin, diags) != 0,
            "use_server_errors" if known => {
                ext.use_server_errors = ext_int(arg, name, key, origin, diags);
            }
            "active" if known => set_once(&mut ext.active, arg, name, key, origin, diags),
            "disabled" if known => set_once(&mut ext.disabled, arg, name, key, origin, diags),
            "stopped" if known => set_once(&mut ext.stopped, arg, name, key, origin, diags),
            "fail_on_status" if known => {
                if ext.fail_on_status.is_some() {
                    diags.warning(
                        origin.clone(),
                        key,
                        format!(
                            "rule extension 'fail_on_status=' is given again ('{arg}'); mod_jk \
                             allows it once and keeps the first"
                        ),
                    );
                } else {
                    ext.fail_on_status = Some(arg.to_string());
                }
            }
            "session_cookie" if known => {
                set_once(&mut ext.session_cookie, arg, name, key, origin, diags)
            }
            "session_path" if known => {
                if ext.session_path.is_some() {
                    set_once(&mut ext.session_path, arg, name, key, origin, diags);
                } else if arg.is_empty() {
                    // `session_path=;jsessionid`: the `;` of the value split it off,
                    // so mod_jk takes the next piece as the value (without its `;`).
                    ext.session_path = params.next().map(str::to_string);
                } else {
                    ext.session_path = Some(arg.to_string());
                }
            }
            "set_session_cookie" if known => {
                if ext.set_session_cookie {
                    diags.warning(
                        origin.clone(),
                        key,
                        "rule extension 'set_session_cookie=' is given again; mod_jk keeps the \
                         first",
                    );
                } else {
                    ext.set_session_cookie = ext_int(arg, name, key, origin, diags) != 0;
                }
            }
            "session_cookie_path" if known => {
                set_once(&mut ext.session_cookie_path, arg, name, key, origin, diags)
            }
            _ => diags.warning(
                origin.clone(),
                key,
                format!("unknown rule extension '{param}' is ignored (mod_jk ignores it too)"),
            ),
        }
    }
    (worker, ext)
}

/// Turns one `pattern=value` into rules, as `uri_worker_map_open` (JkMount),
/// `uri_worker_map_load` (uriworkermap) and `wc_create_worker` (mount attribute) do.
///
/// * `A|B` becomes the two rules `A` and `AB` (only the first `|`; not for
///   [`RuleSource::WorkerDefinition`]). Markers in `A` apply to both.
/// * A leading `-` disables the rule, then a leading `!` makes it an exclusion.
/// * What remains must start with `/`. mod_jk's treatment of other patterns depends
///   on the source: in a uriworkermap file the rule is logged and skipped (here: a
///   warning); for JkMount rules and `worker.X.mount` the map or worker cannot be
///   built and httpd does not start (here: an error).
pub fn parse_rule(
    pattern: &str,
    value: &str,
    source: RuleSource,
    origin: Origin,
    diags: &mut Diagnostics,
) -> Vec<MountRule> {
    let (worker, extensions) = parse_value(value, pattern, &origin, diags);
    let patterns = match pattern.split_once('|') {
        Some((first, rest)) if source != RuleSource::WorkerDefinition => {
            vec![first.to_string(), format!("{first}{rest}")]
        }
        _ => vec![pattern.to_string()],
    };
    let mut rules = Vec::with_capacity(patterns.len());
    for written in patterns {
        let (disabled, rest) = match written.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, written.as_str()),
        };
        let (exclusion, rest) = match rest.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        if !rest.starts_with('/') {
            let hint = if rest.starts_with('-') {
                "; '-' (disable) must come before '!' (exclude)"
            } else if rest.starts_with('*') {
                "; mod_jk 1.2.48 rejects suffix patterns such as '*.jsp' despite its documentation: write '/*.jsp'"
            } else {
                ""
            };
            let message = format!("the pattern '{written}' does not begin with '/'{hint}");
            match source {
                RuleSource::UriWorkerMap => diags.warning(
                    origin.clone(),
                    pattern,
                    format!("{message}; the rule is skipped (mod_jk logs an error and skips it)"),
                ),
                RuleSource::JkMount | RuleSource::WorkerDefinition => diags.error(
                    origin.clone(),
                    pattern,
                    format!("{message} (mod_jk refuses to start)"),
                ),
            }
            continue;
        }
        rules.push(MountRule {
            wildcard: rest.contains(['*', '?']),
            pattern: rest.to_string(),
            worker: worker.clone(),
            exclusion,
            disabled,
            source,
            extensions: extensions.clone(),
            origin: origin.clone(),
            vhost: None,
        });
    }
    rules
}

/// Reads a uriworkermap file: mod_jk's properties syntax with repeated keys
/// replaced (a warning each), then every entry in file order through [`parse_rule`].
pub fn read_uriworkermap(
    file: &Arc<str>,
    bytes: &[u8],
    env: Env<'_>,
    diags: &mut Diagnostics,
) -> Vec<MountRule> {
    let mut map = PropMap::new();
    map.read_bytes(file, bytes, Treatment::Normal, env, diags);
    map.entries()
        .iter()
        .flat_map(|e| {
            parse_rule(
                &e.key,
                &e.value,
                RuleSource::UriWorkerMap,
                e.origin.clone(),
                diags,
            )
        })
        .collect()
}

/// mod_jk's `worker_compare`: more `/` in the pattern first, then the longer
/// pattern, then the higher source.
fn rule_order(a: &MountRule, b: &MountRule) -> Ordering {
    b.slash_count()
        .cmp(&a.slash_count())
        .then_with(|| b.pattern.len().cmp(&a.pattern.len()))
        .then_with(|| b.source.priority().cmp(&a.source.priority()))
}

/// The rules of one server's map, in matching order.
#[derive(Clone, Debug, Default)]
pub struct MountTable {
    rules: Vec<MountRule>,
}

impl MountTable {
    /// Sorts the rules as mod_jk does. Rules that compare equal keep the order they
    /// are given in: C leaves the order of `qsort` ties unspecified, but glibc up to
    /// 2.36 (Debian 12, the reference stack) sorts with a stable merge sort and
    /// mod_jk adds rules in this order: JkMount rules, then the uriworkermap file
    /// (file order), then `worker.X.mount`.
    pub fn new(mut rules: Vec<MountRule>) -> Self {
        rules.sort_by(rule_order);
        MountTable { rules }
    }

    /// The rules in matching order.
    pub fn rules(&self) -> &[MountRule] {
        &self.rules
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules the status worker lists for a worker: its own and those for `*`,
    /// in matching order.
    pub fn rules_for<'a>(&'a self, worker: &'a str) -> impl Iterator<Item = &'a MountRule> + 'a {
        self.rules
            .iter()
            .filter(move |r| r.worker == worker || r.worker == "*")
    }

    /// The rule that forwards a normalised URI ([`uri::map_input`]), as
    /// `map_uri_to_worker_ext`: URIs not starting with `/` (`*`) or longer than
    /// [`MAX_URI_LEN`] are not mapped; the first enabled positive rule that matches
    /// wins; then, if any enabled exclusion for that worker or for `*` matches, the
    /// URI is not mapped at all (there is no fall-through to a later rule).
    pub fn map<P: AsRef<[u8]> + ?Sized>(&self, normalized: &P) -> Option<&MountRule> {
        let url = normalized.as_ref();
        if url.first() != Some(&b'/') || url.len() > MAX_URI_LEN {
            return None;
        }
        let winner = self
            .rules
            .iter()
            .find(|r| !r.disabled && !r.exclusion && r.matches(url))?;
        let excluded = self.rules.iter().any(|r| {
            r.exclusion
                && !r.disabled
                && (r.worker == winner.worker || r.worker == "*")
                && r.matches(url)
        });
        if excluded { None } else { Some(winner) }
    }

    /// Decodes and normalises a raw request path ([`uri::map_input`]), then maps it.
    /// The error carries the status httpd or mod_jk answers before any mapping.
    pub fn map_raw(&self, raw_path: impl AsRef<[u8]>) -> Result<Option<&MountRule>, UriError> {
        let raw_path = raw_path.as_ref();
        if uri::is_plain_path(raw_path) {
            return Ok(self.map(raw_path));
        }
        let normalized = uri::map_input(raw_path)?;
        Ok(self.map(&normalized))
    }
}

/// mod_jk's `jk_wildchar_match`, case-sensitive: `*` matches any run of bytes
/// (including `/`), `?` exactly one byte, everything else itself; the whole string
/// must match.
pub fn wildchar_match(s: impl AsRef<[u8]>, pattern: impl AsRef<[u8]>) -> bool {
    wildchar(s.as_ref(), pattern.as_ref()) == Wild::Match
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Wild {
    Match,
    NoMatch,
    /// The string ran out while the pattern still needs bytes: no later start
    /// position of an enclosing `*` can match either, so the search stops (the
    /// wildmat "abort" that keeps the search polynomial).
    Abort,
}

fn wildchar(s: &[u8], p: &[u8]) -> Wild {
    let (mut x, mut y) = (0, 0);
    while let Some(&pc) = p.get(y) {
        let sc = s.get(x).copied();
        if pc == b'*' {
            while p.get(y) == Some(&b'*') {
                y += 1;
            }
            let rest = p.get(y..).unwrap_or_default();
            if rest.is_empty() {
                return Wild::Match;
            }
            while x < s.len() {
                let r = wildchar(s.get(x..).unwrap_or_default(), rest);
                x += 1;
                if r != Wild::NoMatch {
                    return r;
                }
            }
            return Wild::Abort;
        }
        match sc {
            None => return Wild::Abort,
            Some(c) if pc != b'?' && c != pc => return Wild::NoMatch,
            Some(_) => {}
        }
        x += 1;
        y += 1;
    }
    if x == s.len() {
        Wild::Match
    } else {
        Wild::NoMatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(line: u32) -> Origin {
        Origin::new("t", line)
    }

    fn rules(pattern: &str, value: &str, source: RuleSource) -> (Vec<MountRule>, Diagnostics) {
        let mut d = Diagnostics::default();
        let r = parse_rule(pattern, value, source, origin(7), &mut d);
        (r, d)
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn file(text: &str) -> (Vec<MountRule>, Diagnostics) {
        let mut d = Diagnostics::default();
        let r = read_uriworkermap(&Arc::from("uwm"), text.as_bytes(), &no_env, &mut d);
        (r, d)
    }

    fn table(text: &str) -> MountTable {
        MountTable::new(file(text).0)
    }

    fn worker<'a>(t: &'a MountTable, uri: &str) -> Option<&'a str> {
        t.map(uri).map(|r| r.worker.as_str())
    }

    #[test]
    fn wildchar_basics() {
        assert!(wildchar_match("/app/x.jsp", "/app/*"));
        assert!(wildchar_match("/app/", "/app/*"));
        assert!(!wildchar_match("/app", "/app/*"));
        assert!(wildchar_match("/a/b/c.jsp", "/*.jsp"));
        assert!(!wildchar_match("/a/b/c.jspx", "/*.jsp"));
        assert!(wildchar_match("/a1", "/a?"));
        assert!(!wildchar_match("/a", "/a?"));
        assert!(!wildchar_match("/a12", "/a?"));
        assert!(wildchar_match("", "*"));
        assert!(wildchar_match("/x", "/x"));
        assert!(!wildchar_match("/X", "/x"));
        assert!(wildchar_match("/a/b/c", "/**/c"));
        assert!(wildchar_match("/axbxc", "/a*b*c"));
        assert!(!wildchar_match("/axbx", "/a*b*c"));
    }

    #[test]
    fn wildchar_question_mark_is_one_byte_not_one_char() {
        assert!(wildchar_match("/caf\u{e9}", "/caf??"));
        assert!(!wildchar_match("/caf\u{e9}", "/caf?"));
        assert!(wildchar_match(b"/caf\xE9", "/caf?"));
    }

    #[test]
    fn wildchar_does_not_blow_up() {
        let s = "a".repeat(4000);
        let p = format!("{}b", "*a".repeat(500));
        assert!(!wildchar_match(&s, &p));
    }

    #[test]
    fn value_worker_and_extensions() {
        let mut d = Diagnostics::default();
        let (w, e) = parse_value(
            "lb;reply_timeout=5000;sticky_ignore=1;stateless=1;use_server_errors=500;\
             active=a, b;disabled=c;stopped=d;fail_on_status=500,-503 404;\
             session_cookie=SID;session_path=;sid;set_session_cookie=1;session_cookie_path=/x",
            "/k",
            &origin(3),
            &mut d,
        );
        assert_eq!(w, "lb");
        assert_eq!(e.reply_timeout, 5000);
        assert!(e.sticky_ignore && e.stateless && e.set_session_cookie);
        assert_eq!(e.use_server_errors, 500);
        assert_eq!(e.active.as_deref(), Some("a, b"));
        assert_eq!(split_members("a, b").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(e.disabled.as_deref(), Some("c"));
        assert_eq!(e.stopped.as_deref(), Some("d"));
        assert_eq!(e.fail_on_status.as_deref(), Some("500,-503 404"));
        assert_eq!(e.fail_on_status_codes(), [500, -503, 404]);
        assert_eq!(e.session_cookie.as_deref(), Some("SID"));
        assert_eq!(e.session_path.as_deref(), Some("sid"));
        assert_eq!(e.session_cookie_path.as_deref(), Some("/x"));
        assert!(d.items.is_empty(), "{:?}", d.items);
    }

    #[test]
    fn value_defaults() {
        let mut d = Diagnostics::default();
        let (w, e) = parse_value("ajp13", "/k", &origin(1), &mut d);
        assert_eq!(w, "ajp13");
        assert_eq!(e, RuleExtensions::default());
        assert_eq!(e.reply_timeout, -1);
    }

    #[test]
    fn value_semicolons_follow_strtok() {
        let mut d = Diagnostics::default();
        assert_eq!(parse_value("w;", "/k", &origin(1), &mut d).0, "w");
        assert!(
            parse_value("w;;stateless=1", "/k", &origin(1), &mut d)
                .1
                .stateless
        );
        // Leading ';' are not cut by strtok: they stay in the worker name.
        assert_eq!(
            parse_value(";w;stateless=1", "/k", &origin(1), &mut d).0,
            ";w"
        );
        assert!(d.items.is_empty());
    }

    #[test]
    fn unknown_and_repeated_extensions_warn_with_line_and_pattern() {
        let mut d = Diagnostics::default();
        let (_, e) = parse_value(
            "w;foo=1;active=a;active=b;reply_timeout=1;reply_timeout=2;timeout",
            "/app/*",
            &origin(12),
            &mut d,
        );
        assert_eq!(e.active.as_deref(), Some("a"));
        assert_eq!(e.reply_timeout, 2, "numeric extensions: last wins");
        assert_eq!(d.items.len(), 3);
        for item in &d.items {
            assert_eq!(item.origin.line, 12);
            assert_eq!(item.key, "/app/*");
            assert!(!item.is_error());
        }
        assert!(d.items[0].message.contains("foo=1"));
        assert!(d.items[1].message.contains("active"));
        assert!(d.items[2].message.contains("'timeout'"));
    }

    #[test]
    fn set_session_cookie_warns_only_when_already_true() {
        let mut d = Diagnostics::default();
        let (_, e) = parse_value(
            "w;set_session_cookie=0;set_session_cookie=1",
            "/k",
            &origin(2),
            &mut d,
        );
        assert!(e.set_session_cookie);
        assert!(d.items.is_empty());
        let (_, e) = parse_value(
            "w;set_session_cookie=1;set_session_cookie=0",
            "/k",
            &origin(2),
            &mut d,
        );
        assert!(e.set_session_cookie);
        assert_eq!(d.items.len(), 1);
        assert_eq!(d.items[0].origin.line, 2);
    }

    #[test]
    fn numbers_are_read_like_atoi_with_a_warning() {
        let mut d = Diagnostics::default();
        let (_, e) = parse_value(
            "w;reply_timeout=12s;use_server_errors=x",
            "/k",
            &origin(4),
            &mut d,
        );
        assert_eq!(e.reply_timeout, 12);
        assert_eq!(e.use_server_errors, 0);
        assert_eq!(d.items.len(), 2);
        assert!(d.items.iter().all(|i| i.origin.line == 4));
        assert_eq!(c_atoi("  -42abc"), -42);
        assert_eq!(c_atoi("+7"), 7);
        assert_eq!(c_atoi("4294967297"), 1, "glibc truncates the long to int");
        assert_eq!(c_atoi("99999999999999999999"), -1, "LONG_MAX truncated");
    }

    #[test]
    fn type_text_and_rules_for() {
        let t = table("/a/*=w\n-!/a/x=w\n/b=v\n!/c=*\n");
        let got: Vec<_> = t
            .rules_for("w")
            .map(|r| (r.pattern.as_str(), r.type_text()))
            .collect();
        assert_eq!(
            got,
            [
                ("/a/*", "Wildchar".to_string()),
                ("/a/x", "Disabled Unmount Exact".to_string()),
                ("/c", "Unmount Exact".to_string())
            ]
        );
        assert_eq!(RuleSource::UriWorkerMap.as_str(), "uriworkermap");
    }

    #[test]
    fn markers_disable_and_exclude() {
        let (r, _) = rules("-!/x/*", "w", RuleSource::UriWorkerMap);
        assert_eq!(r.len(), 1);
        assert!(r[0].disabled && r[0].exclusion && r[0].wildcard);
        assert_eq!(r[0].pattern, "/x/*");
        assert_eq!(r[0].written_pattern(), "-!/x/*");
        let (r, _) = rules("/exact", "w", RuleSource::UriWorkerMap);
        assert!(!r[0].disabled && !r[0].exclusion && !r[0].wildcard);
        assert_eq!(r[0].origin.line, 7);
    }

    #[test]
    fn exclude_before_disable_is_invalid() {
        let (r, d) = rules("!-/x", "w", RuleSource::UriWorkerMap);
        assert!(r.is_empty());
        assert_eq!(d.items.len(), 1);
        assert_eq!(d.items[0].origin.line, 7);
        assert_eq!(d.items[0].key, "!-/x");
        assert!(d.items[0].message.contains("before '!'"));
    }

    #[test]
    fn pipe_expands_to_two_rules_except_for_worker_definitions() {
        let (r, d) = rules("/app|/*", "w", RuleSource::UriWorkerMap);
        assert!(d.items.is_empty());
        let p: Vec<_> = r.iter().map(|r| r.pattern.as_str()).collect();
        assert_eq!(p, ["/app", "/app/*"]);
        let (r, _) = rules("!/a|/b|/c", "w", RuleSource::JkMount);
        let p: Vec<_> = r
            .iter()
            .map(|r| (r.exclusion, r.pattern.as_str()))
            .collect();
        assert_eq!(p, [(true, "/a"), (true, "/a/b|/c")]);
        let (r, _) = rules("/app|/*", "w", RuleSource::WorkerDefinition);
        let p: Vec<_> = r.iter().map(|r| r.pattern.as_str()).collect();
        assert_eq!(p, ["/app|/*"]);
    }

    #[test]
    fn relative_pattern_in_a_file_is_skipped_with_a_warning() {
        let (r, d) = file("# c\n*.jsp=w\n/ok=w\n");
        assert_eq!(r.len(), 1);
        assert_eq!(d.items.len(), 1);
        assert!(!d.items[0].is_error());
        assert_eq!(d.items[0].origin.line, 2);
        assert_eq!(d.items[0].key, "*.jsp");
        assert!(d.items[0].message.contains("'/*.jsp'"));
    }

    #[test]
    fn relative_pattern_in_jkmount_or_mount_attribute_is_an_error() {
        let (r, d) = rules("app/*", "w", RuleSource::JkMount);
        assert!(r.is_empty());
        assert!(d.items[0].is_error());
        assert_eq!(d.items[0].origin.line, 7);
        let (r, d) = rules("x", "w", RuleSource::WorkerDefinition);
        assert!(r.is_empty());
        assert!(d.has_errors());
        assert_eq!(d.items[0].origin.line, 7);
    }

    #[test]
    fn half_of_a_pipe_rule_can_fail_alone() {
        let (r, d) = rules("|/x", "w", RuleSource::UriWorkerMap);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].pattern, "/x");
        assert_eq!(d.items.len(), 1);
        assert_eq!(d.items[0].origin.line, 7);
    }

    #[test]
    fn file_rules_keep_entry_order_and_duplicates_replace() {
        let (r, d) = file("/b=w1\n/a=w2\n/b=w3\n");
        let got: Vec<_> = r
            .iter()
            .map(|r| (r.pattern.as_str(), r.worker.as_str(), r.origin.line))
            .collect();
        assert_eq!(got, [("/b", "w3", 3), ("/a", "w2", 2)]);
        assert_eq!(d.items.len(), 1);
        assert_eq!(d.items[0].origin.line, 3);
    }

    #[test]
    fn file_values_use_variables_and_comments() {
        let (r, _) = file("wk=lb\n/app/*=$(wk);reply_timeout=10 # note\n");
        let rule = r.iter().find(|r| r.pattern == "/app/*");
        assert_eq!(
            rule.map(|r| (r.worker.as_str(), r.extensions.reply_timeout)),
            Some(("lb", 10))
        );
        // The variable definition itself is a (bad) rule: it does not start with '/'.
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn order_more_slashes_then_longer_then_source() {
        let mut all = Vec::new();
        let mut d = Diagnostics::default();
        for (p, w, s) in [
            ("/a", "exact-short", RuleSource::UriWorkerMap),
            ("/a/*", "wild", RuleSource::WorkerDefinition),
            ("/abcdef", "exact-long", RuleSource::JkMount),
            ("/a/b", "jk", RuleSource::JkMount),
            ("/a/b", "file", RuleSource::UriWorkerMap),
            ("/a/b", "def", RuleSource::WorkerDefinition),
        ] {
            all.extend(parse_rule(p, w, s, origin(1), &mut d));
        }
        let t = MountTable::new(all);
        let order: Vec<_> = t.rules().iter().map(|r| r.worker.as_str()).collect();
        // "/a/*" and "/a/b" tie on slashes and length: by source, then as given.
        assert_eq!(
            order,
            ["file", "jk", "wild", "def", "exact-long", "exact-short"]
        );
    }

    #[test]
    fn ties_keep_insertion_order() {
        let t = table("/a*=first\n/*b=second\n");
        assert_eq!(worker(&t, "/ab"), Some("first"));
        let t = table("/*b=second\n/a*=first\n");
        assert_eq!(worker(&t, "/ab"), Some("second"));
    }

    #[test]
    fn exact_and_wildcard_rules_are_not_separated() {
        // A longer wildcard with as many slashes sorts before an exact rule.
        let t = table("/app/login=exact\n/app/logi*n=wild\n");
        assert_eq!(worker(&t, "/app/login"), Some("wild"));
        // More slashes win over length.
        let t = table("/app/*=short\n/app-long-name*=long\n");
        assert_eq!(t.rules()[0].worker, "short");
        // Same slashes and length: file order decides.
        let t = table("/a/b=exact\n/*/*=wild\n");
        assert_eq!(worker(&t, "/a/b"), Some("exact"));
    }

    #[test]
    fn exact_rules_match_the_whole_uri() {
        let t = table("/app=w\n");
        assert_eq!(worker(&t, "/app"), Some("w"));
        assert_eq!(worker(&t, "/app/"), None);
        assert_eq!(worker(&t, "/ap"), None);
        assert_eq!(worker(&t, "/APP"), None);
    }

    #[test]
    fn exclusions_apply_to_the_winning_worker_or_star_and_do_not_fall_through() {
        let t = table("/app/*=lb\n/*=other\n!/app/static/*=lb\n");
        assert_eq!(worker(&t, "/app/x.jsp"), Some("lb"));
        assert_eq!(
            worker(&t, "/app/static/a.css"),
            None,
            "no fall-through to /*"
        );
        let t = table("/app/*=lb\n!/app/static/*=other\n");
        assert_eq!(
            worker(&t, "/app/static/a.css"),
            Some("lb"),
            "exclusion for another worker"
        );
        let t = table("/app/*=lb\n!/app/*.gif=*\n");
        assert_eq!(worker(&t, "/app/a.gif"), None);
        assert_eq!(worker(&t, "/app/a.jsp"), Some("lb"));
    }

    #[test]
    fn disabled_rules_are_ignored_both_ways() {
        let t = table("-/app/*=lb\n/*=root\n");
        assert_eq!(worker(&t, "/app/x"), Some("root"));
        let t = table("/app/*=lb\n-!/app/x=lb\n");
        assert_eq!(worker(&t, "/app/x"), Some("lb"));
    }

    #[test]
    fn exclusion_of_an_exact_uri() {
        let t = table("/app/*=lb\n!/app/health=lb\n");
        assert_eq!(worker(&t, "/app/health"), None);
        assert_eq!(worker(&t, "/app/health/x"), Some("lb"));
    }

    #[test]
    fn star_and_relative_and_overlong_uris_are_not_mapped() {
        let t = table("/*=w\n");
        assert_eq!(worker(&t, "*"), None);
        assert_eq!(worker(&t, "x"), None);
        assert_eq!(worker(&t, ""), None);
        let long = format!("/{}", "a".repeat(MAX_URI_LEN - 1));
        assert_eq!(worker(&t, &long), Some("w"));
        let too_long = format!("/{}", "a".repeat(MAX_URI_LEN));
        assert_eq!(worker(&t, &too_long), None);
    }

    #[test]
    fn map_raw_decodes_and_normalizes_first() {
        let t = table("/app/*=lb\n!/app/secret/*=lb\n");
        let w = |raw: &str| t.map_raw(raw).map(|r| r.map(|r| r.worker.clone()));
        assert_eq!(w("/app/x;jsessionid=1"), Ok(Some("lb".into())));
        assert_eq!(w("/other/../app/x"), Ok(Some("lb".into())));
        assert_eq!(w("/app/%73ecret/x"), Ok(None));
        assert_eq!(w("/app/x/..;/secret/y"), Ok(None));
        assert_eq!(w("//app//x"), Ok(Some("lb".into())));
        assert_eq!(w("/app%2Fx"), Err(UriError::EncodedSlash));
        assert_eq!(w("/..;/app/x"), Err(UriError::TraversalAboveRoot));
    }

    #[test]
    fn empty_table_maps_nothing() {
        let t = MountTable::new(Vec::new());
        assert!(t.is_empty());
        assert_eq!(t.map("/"), None);
    }
}
