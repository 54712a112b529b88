//! The `Jk*` lines of an httpd configuration file, read with httpd's line syntax and mod_jk's directive rules.
//!
//! Only what jkd needs is kept: the workers file, mount files, `JkMount` /
//! `JkUnMount` rules with the virtual host they belong to, `JkWorkerProperty` lines,
//! `JkMountCopy`, and the virtual hosts themselves. Everything else httpd reads is
//! passed over, but lines httpd or mod_jk would refuse are reported.
//!
//! Line syntax is httpd 2.4's (`server/util.c`: `ap_cfg_getline`, `cfg_trim_line`,
//! `ap_getword_conf`, `ap_resolve_env`; `server/config.c`: `ap_build_config_sub`,
//! `invoke_cmd`, `ap_soak_end_container`); directive rules are mod_jk 1.2.48's
//! (`mod_jk.c`: `jk_mount_context`, `jk_unmount_context`, `jk_set_worker_file`,
//! `jk_set_mount_file`, `jk_set_mountcopy`, `jk_set_options`, `merge_jk_config`,
//! `jk_post_config`).
//!
//! Conventions: an *error* is something on which httpd or mod_jk refuses to start; a
//! *warning* is something that works differently from what it seems to say, or that
//! jkd does not do. Directives that only concern mod_jk's logging, shared memory and
//! watchdog thread are accepted silently (their arguments are still checked), since
//! jkd's behaviour towards clients does not depend on them. Diagnostics name the line
//! where a directive starts (httpd names the last line of a continued directive).

use std::collections::HashMap;
use std::sync::Arc;

use super::diag::{Diagnostics, Origin};
use super::mounts::{self, MountRule, RuleSource};
use super::props::Env;
use super::values::is_c_space;

/// mod_jk's default `JkMountFileReload` in seconds (`JK_URIMAP_DEF_RELOAD`).
pub const DEFAULT_MOUNT_FILE_RELOAD: i32 = 60;

/// Per-server mount settings (`JkMountFile`, `JkMountFileReload`, `JkMountCopy`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerJk {
    /// The effective `JkMountFile` (the last one in the server), resolved against
    /// the `ServerRoot` in effect at its line.
    pub mount_file: Option<(String, Origin)>,
    /// `JkMountFileReload` seconds (negative values become 0, as in mod_jk).
    pub mount_file_reload: Option<(i32, Origin)>,
    /// `JkMountCopy On` / `Off`.
    pub mount_copy: Option<(bool, Origin)>,
}

/// One `<VirtualHost>` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualHost {
    /// The name [`MountRule::vhost`] uses for this block: its `ServerName`, else its
    /// addresses as written; when an earlier block has the same name, the block's
    /// `file:line` is appended so that every block has its own id.
    pub id: String,
    /// The `<VirtualHost>` arguments (`*:80`, `10.0.0.1:443`, ...).
    pub addresses: Vec<String>,
    pub server_name: Option<String>,
    pub server_aliases: Vec<String>,
    /// Where the `<VirtualHost>` line is.
    pub origin: Origin,
    pub jk: ServerJk,
}

/// What jkd takes from an httpd configuration file.
#[derive(Clone, Debug, Default)]
pub struct ApacheJk {
    /// `JkWorkersFile`, resolved against the `ServerRoot` in effect at its line.
    pub workers_file: Option<(String, Origin)>,
    /// Every effective `JkMountFile` (main server first, then each virtual host's);
    /// [`ApacheJk::servers`] tells which server each one belongs to.
    pub mount_files: Vec<(String, Origin)>,
    /// `JkMount` / `JkUnMount` rules in file order, source [`RuleSource::JkMount`],
    /// with [`MountRule::vhost`] naming the virtual host (`None`: main server). A
    /// repeated pattern in one server replaces the earlier rule in place, as mod_jk's
    /// `jk_map_put` does.
    pub mounts: Vec<MountRule>,
    /// `JkWorkerProperty` arguments, raw (they are `key=value` property lines that
    /// mod_jk puts into its property map before the workers file is read).
    pub worker_properties: Vec<(String, Origin)>,
    /// The last `ServerRoot`, unquoted.
    pub server_root: Option<String>,
    /// The main server's `Timeout` in seconds (jkd's `--timeout`).
    pub timeout: Option<(u64, Origin)>,
    /// The main server's `KeepAliveTimeout` in seconds (jkd's `--keepalive-timeout`).
    pub keepalive_timeout: Option<(u64, Origin)>,
    /// `JkMountCopy All` in the main server.
    pub mount_copy_all: Option<Origin>,
    /// The main server's mount settings.
    pub main: ServerJk,
    pub virtual_hosts: Vec<VirtualHost>,
}

/// How a server's URI map relates to the main server's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    /// The server has a map of its own: its JkMount rules (plus the main server's
    /// when `JkMountCopy` applies) and its mount file. The main server's map also
    /// receives every `worker.X.mount` rule; a virtual host's own map never does.
    Own,
    /// A virtual host without `JkMount` / `JkUnMount` / `JkMountFile` but with
    /// `JkMountCopy` on: it uses the main server's map object itself, including the
    /// `worker.X.mount` rules and the main mount file.
    SharesMain,
    /// A virtual host without rules of its own and without `JkMountCopy`: mod_jk
    /// forwards nothing for it.
    NoMap,
}

/// The mount rules one server (main or virtual host) uses, after mod_jk's
/// `JkMountCopy` merge (`merge_jk_config`, `jk_post_config`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerMap {
    /// `None`: the main server; else a [`VirtualHost::id`].
    pub vhost: Option<String>,
    pub kind: MapKind,
    /// JkMount / JkUnMount rules of the map (empty for [`MapKind::NoMap`]).
    pub rules: Vec<MountRule>,
    pub mount_file: Option<(String, Origin)>,
    /// Seconds between checks of the mount file (0: never).
    pub mount_file_reload: i32,
}

impl ServerMap {
    /// Whether `worker.X.mount` rules are part of this server's map.
    pub fn includes_worker_mounts(&self) -> bool {
        self.vhost.is_none() || self.kind == MapKind::SharesMain
    }
}

impl ApacheJk {
    /// One entry for the main server, then one per virtual host in file order.
    ///
    /// The reference doc (§6.3 step 8) describes only the copy; the source adds
    /// that a virtual host without rules of its own shares or lacks the main map, as
    /// below, and that `JkMountCopy On` in the main server does nothing.
    ///
    /// A virtual host with its own JkMount / JkUnMount / JkMountFile gets its own
    /// map; with `JkMountCopy On` (or unset and `JkMountCopy All` in the main
    /// server) the main server's JkMount rules whose pattern it does not mount itself
    /// are appended, and the main mount file is used if it has none. A virtual host
    /// with nothing of its own uses the main server's map when copying applies, and
    /// no map otherwise. (mod_jk compares whole directive keys, so a main-server
    /// `/a|/b` is not recognised as overridden by a vhost's `/a`; here rules are
    /// compared one by one, which differs only in such `|` cases, where the order
    /// between the duplicates is unspecified in mod_jk anyway.)
    pub fn servers(&self) -> Vec<ServerMap> {
        let main_rules: Vec<MountRule> = self
            .mounts
            .iter()
            .filter(|r| r.vhost.is_none())
            .cloned()
            .collect();
        let main_reload = self
            .main
            .mount_file_reload
            .as_ref()
            .map_or(DEFAULT_MOUNT_FILE_RELOAD, |(s, _)| *s);
        let mut out = vec![ServerMap {
            vhost: None,
            kind: MapKind::Own,
            rules: main_rules.clone(),
            mount_file: self.main.mount_file.clone(),
            mount_file_reload: main_reload,
        }];
        for vh in &self.virtual_hosts {
            let own: Vec<MountRule> = self
                .mounts
                .iter()
                .filter(|r| r.vhost.as_deref() == Some(vh.id.as_str()))
                .cloned()
                .collect();
            let copy = vh
                .jk
                .mount_copy
                .as_ref()
                .map_or(self.mount_copy_all.is_some(), |(on, _)| *on);
            let reload = vh
                .jk
                .mount_file_reload
                .as_ref()
                .map_or(main_reload, |(s, _)| *s);
            let has_own = !own.is_empty() || vh.jk.mount_file.is_some();
            let map = if has_own {
                let mut rules = own;
                if copy {
                    let copied: Vec<MountRule> = main_rules
                        .iter()
                        .filter(|m| {
                            !rules.iter().any(|r| {
                                r.pattern == m.pattern
                                    && r.exclusion == m.exclusion
                                    && r.disabled == m.disabled
                            })
                        })
                        .map(|m| MountRule {
                            vhost: Some(vh.id.clone()),
                            ..m.clone()
                        })
                        .collect();
                    rules.extend(copied);
                }
                let mount_file = match (&vh.jk.mount_file, copy) {
                    (Some(f), _) => Some(f.clone()),
                    (None, true) => self.main.mount_file.clone(),
                    (None, false) => None,
                };
                ServerMap {
                    vhost: Some(vh.id.clone()),
                    kind: MapKind::Own,
                    rules,
                    mount_file,
                    mount_file_reload: reload,
                }
            } else if copy {
                ServerMap {
                    vhost: Some(vh.id.clone()),
                    kind: MapKind::SharesMain,
                    rules: main_rules.clone(),
                    mount_file: self.main.mount_file.clone(),
                    mount_file_reload: main_reload,
                }
            } else {
                ServerMap {
                    vhost: Some(vh.id.clone()),
                    kind: MapKind::NoMap,
                    rules: Vec::new(),
                    mount_file: None,
                    mount_file_reload: reload,
                }
            };
            out.push(map);
        }
        out
    }
}

/// One logical line: physical lines joined by backslash continuation.
struct LogicalLine {
    /// The first physical line.
    number: u32,
    bytes: Vec<u8>,
}

/// Splits a file into logical lines as `ap_cfg_getline_core`: a backslash right
/// before the line end (`\n` or `\r\n`) joins the next line, and is removed with the
/// line end; a backslash followed by a space, or on the last line without a newline,
/// stays.
fn logical_lines(bytes: &[u8]) -> Vec<LogicalLine> {
    let mut lines = Vec::new();
    let mut pending: Option<LogicalLine> = None;
    for (n, physical) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        let number = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let mut line = pending.take().unwrap_or(LogicalLine {
            number,
            bytes: Vec::new(),
        });
        if let Some(body) = physical.strip_suffix(b"\n") {
            let body = body.strip_suffix(b"\r").unwrap_or(body);
            if let Some(joined) = body.strip_suffix(b"\\") {
                line.bytes.extend_from_slice(joined);
                pending = Some(line);
                continue;
            }
        }
        line.bytes.extend_from_slice(physical);
        lines.push(line);
    }
    lines.extend(pending);
    lines
}

/// Removes `\\` before `\\` (and before the quote inside quotes), as
/// `substring_conf`.
fn unescape_word(raw: &str, quote: Option<char>) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&next) = chars.peek()
            && (next == '\\' || Some(next) == quote)
        {
            out.push(next);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// `ap_getword_conf`: the next word (quotes and backslashes honoured) and the rest
/// of the line after the white space that follows it.
fn next_word(line: &str) -> (String, &str) {
    let s = line.trim_start_matches(is_c_space);
    let bytes = s.as_bytes();
    let Some(&first) = bytes.first() else {
        return (String::new(), s);
    };
    let (word, end) = if first == b'"' || first == b'\'' {
        let mut i = 1;
        while i < bytes.len() && bytes[i] != first {
            let escaped = bytes.get(i + 1).is_some_and(|&n| n == b'\\' || n == first);
            if bytes[i] == b'\\' && escaped {
                i += 2;
            } else {
                i += 1;
            }
        }
        let inner = s.get(1..i).unwrap_or_default();
        let word = unescape_word(inner, Some(char::from(first)));
        (word, if i < bytes.len() { i + 1 } else { i })
    } else {
        let end = s.find(is_c_space).unwrap_or(s.len());
        (unescape_word(s.get(..end).unwrap_or_default(), None), end)
    };
    let rest = s.get(end..).unwrap_or_default();
    (word, rest.trim_start_matches(is_c_space))
}

/// All remaining words of a line.
fn words(mut rest: &str) -> Vec<String> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (w, r) = next_word(rest);
        out.push(w);
        rest = r;
    }
    out
}

/// `ap_resolve_env`: `${NAME}` from `Define`, then the environment; an undefined
/// name stays as written. Returns the names that were not defined.
fn resolve_vars(
    line: &str,
    defines: &HashMap<String, String>,
    env: Env<'_>,
) -> (String, Vec<String>) {
    let mut out = String::with_capacity(line.len());
    let mut missing = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return (out, missing);
        };
        let name = &after[..end];
        match defines.get(name).cloned().or_else(|| env(name)) {
            Some(v) => out.push_str(&v),
            None => {
                // httpd does not warn for names with ':' (they belong to other syntaxes).
                if !name.contains(':') {
                    missing.push(name.to_string());
                }
                out.push_str(&rest[start..start + 2 + end + 1]);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    (out, missing)
}

/// How httpd hands a directive its arguments.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Args {
    Take1,
    Take12,
    Flag,
    Raw,
}

/// What jkd does with a mod_jk directive.
#[derive(Clone, Copy, PartialEq, Eq)]
enum JkKind {
    Mount,
    UnMount,
    WorkersFile,
    MountFile,
    MountFileReload,
    MountCopy,
    WorkerProperty,
    Options,
    /// No effect on what clients see in jkd: accepted silently.
    Silent,
    /// Changes mod_jk's behaviour in a way jkd does not reproduce: a warning.
    Unsupported,
}

struct JkDirective {
    name: &'static str,
    args: Args,
    /// `ap_check_cmd_context(cmd, GLOBAL_ONLY)`: not in a virtual host, `<Limit>`
    /// or directory context.
    global_only: bool,
    kind: JkKind,
}

const fn jk(name: &'static str, args: Args, global_only: bool, kind: JkKind) -> JkDirective {
    JkDirective {
        name,
        args,
        global_only,
        kind,
    }
}

/// Every directive of mod_jk 1.2.48's `jk_cmds`. All are `RSRC_CONF` (server
/// context only) except JkMount and JkUnMount, which may also be used in
/// `<Location>` and other directory sections.
const JK_DIRECTIVES: &[JkDirective] = &[
    jk("JkWorkersFile", Args::Take1, true, JkKind::WorkersFile),
    jk("JkMountFile", Args::Take1, false, JkKind::MountFile),
    jk(
        "JkMountFileReload",
        Args::Take1,
        false,
        JkKind::MountFileReload,
    ),
    jk("JkWatchdogInterval", Args::Take1, true, JkKind::Silent),
    jk("JkMount", Args::Take12, false, JkKind::Mount),
    jk("JkUnMount", Args::Take12, false, JkKind::UnMount),
    jk("JkMountCopy", Args::Take1, false, JkKind::MountCopy),
    jk("JkStripSession", Args::Take12, false, JkKind::Unsupported),
    jk("JkLogFile", Args::Take1, false, JkKind::Silent),
    jk("JkShmFile", Args::Take1, true, JkKind::Silent),
    jk("JkShmSize", Args::Take1, true, JkKind::Silent),
    jk("JkLogLevel", Args::Take1, false, JkKind::Silent),
    jk("JkLogStampFormat", Args::Take1, false, JkKind::Silent),
    jk("JkRequestLogFormat", Args::Take1, false, JkKind::Silent),
    jk("JkAutoAlias", Args::Take1, false, JkKind::Unsupported),
    jk("JkWorkerIndicator", Args::Take1, false, JkKind::Unsupported),
    jk(
        "JkRemoteAddrIndicator",
        Args::Take1,
        false,
        JkKind::Unsupported,
    ),
    jk(
        "JkRemotePortIndicator",
        Args::Take1,
        false,
        JkKind::Unsupported,
    ),
    jk(
        "JkRemoteHostIndicator",
        Args::Take1,
        false,
        JkKind::Unsupported,
    ),
    jk(
        "JkRemoteUserIndicator",
        Args::Take1,
        false,
        JkKind::Unsupported,
    ),
    jk(
        "JkAuthTypeIndicator",
        Args::Take1,
        false,
        JkKind::Unsupported,
    ),
    jk(
        "JkLocalNameIndicator",
        Args::Take1,
        false,
        JkKind::Unsupported,
    ),
    jk(
        "JkLocalAddrIndicator",
        Args::Take1,
        false,
        JkKind::Unsupported,
    ),
    jk(
        "JkLocalPortIndicator",
        Args::Take1,
        false,
        JkKind::Unsupported,
    ),
    jk(
        "JkIgnoreCLIndicator",
        Args::Take1,
        false,
        JkKind::Unsupported,
    ),
    jk("JkHTTPSIndicator", Args::Take1, false, JkKind::Unsupported),
    jk(
        "JkSSLPROTOCOLIndicator",
        Args::Take1,
        false,
        JkKind::Unsupported,
    ),
    jk("JkCERTSIndicator", Args::Take1, false, JkKind::Unsupported),
    jk("JkCIPHERIndicator", Args::Take1, false, JkKind::Unsupported),
    jk(
        "JkSESSIONIndicator",
        Args::Take1,
        false,
        JkKind::Unsupported,
    ),
    jk(
        "JkKEYSIZEIndicator",
        Args::Take1,
        false,
        JkKind::Unsupported,
    ),
    jk("JkCERTCHAINPrefix", Args::Take1, false, JkKind::Unsupported),
    jk("JkExtractSSL", Args::Flag, false, JkKind::Unsupported),
    jk("JkOptions", Args::Raw, false, JkKind::Options),
    jk("JkEnvVar", Args::Take12, false, JkKind::Unsupported),
    jk("JkWorkerProperty", Args::Raw, true, JkKind::WorkerProperty),
];

fn find_jk(name: &str) -> Option<&'static JkDirective> {
    JK_DIRECTIVES
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
}

/// A `Jk...` word that is not a directive, e.g. `JkLogFile/var/log/x` or
/// `JkLogStampFormat"[%a`: the directive it starts with, if any.
fn glued_directive(word: &str) -> Option<&'static str> {
    JK_DIRECTIVES
        .iter()
        .filter(|d| {
            word.len() > d.name.len()
                && word
                    .get(..d.name.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(d.name))
        })
        .max_by_key(|d| d.name.len())
        .map(|d| d.name)
}

/// A section that is open while the file is read.
#[derive(Clone, Debug)]
enum Section {
    VirtualHost {
        name: String,
        index: usize,
    },
    /// A section giving JkMount its path (`cmd->path`): `<Location>`,
    /// `<Directory>`, `<Files>`, `<If>`, `<Proxy>` and their variants.
    Dir {
        name: String,
        path: String,
        regex: bool,
    },
    Limit {
        name: String,
    },
    /// Any other section, read as if it were not there (`<IfModule>`, `<IfDefine>`,
    /// unknown sections).
    Plain {
        name: String,
    },
}

impl Section {
    fn name(&self) -> &str {
        match self {
            Section::VirtualHost { name, .. }
            | Section::Dir { name, .. }
            | Section::Limit { name }
            | Section::Plain { name } => name,
        }
    }
}

/// A section whose content is not read (as `ap_soak_end_container`).
struct Skipped {
    /// Open section names inside it, outermost first.
    names: Vec<String>,
    why: &'static str,
    origin: Origin,
    saw_jk: bool,
}

/// A JkMount / JkUnMount key seen in one server, for mod_jk's replace-in-place.
struct MountKey {
    server: Option<usize>,
    key: String,
    worker: String,
    line: u32,
    rules: Vec<usize>,
}

struct Reader<'a> {
    file: Arc<str>,
    env: Env<'a>,
    diags: &'a mut Diagnostics,
    out: ApacheJk,
    sections: Vec<(Section, Origin)>,
    skipped: Option<Skipped>,
    defines: HashMap<String, String>,
    mount_keys: Vec<MountKey>,
    /// A relative Jk path was resolved before a later `ServerRoot` changed it.
    relative_paths_before_root: Vec<Origin>,
}

/// Reads the Jk lines of an httpd configuration file. `${VAR}` is taken from
/// `Define` lines only; see [`read_apache_conf_env`] to add the environment.
pub fn read_apache_conf(file: &Arc<str>, bytes: &[u8], diags: &mut Diagnostics) -> ApacheJk {
    read_apache_conf_env(file, bytes, &|_| None, diags)
}

/// As [`read_apache_conf`], with `${VAR}` falling back to `env` as httpd falls back
/// to its process environment.
pub fn read_apache_conf_env(
    file: &Arc<str>,
    bytes: &[u8],
    env: Env<'_>,
    diags: &mut Diagnostics,
) -> ApacheJk {
    let mut reader = Reader {
        file: file.clone(),
        env,
        diags,
        out: ApacheJk::default(),
        sections: Vec::new(),
        skipped: None,
        defines: HashMap::new(),
        mount_keys: Vec::new(),
        relative_paths_before_root: Vec::new(),
    };
    let mut bytes = bytes;
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        reader.diags.warning(
            Origin::new(file.clone(), 1),
            "",
            "the file starts with a UTF-8 byte order mark; httpd on Unix reads it as part of \
             the first directive's name and refuses to start (only Windows builds skip it); \
             jkd skips it",
        );
        bytes = rest;
    }
    for line in logical_lines(bytes) {
        reader.line(&line);
    }
    reader.finish()
}

/// Reads an httpd configuration file from disk (the only file access of this
/// module).
pub fn read_apache_conf_file(
    path: &std::path::Path,
    env: Env<'_>,
    diags: &mut Diagnostics,
) -> std::io::Result<ApacheJk> {
    let bytes = std::fs::read(path)?;
    let file: Arc<str> = Arc::from(path.display().to_string());
    Ok(read_apache_conf_env(&file, &bytes, env, diags))
}

impl Reader<'_> {
    fn origin(&self, line: u32) -> Origin {
        Origin::new(self.file.clone(), line)
    }

    fn vhost_index(&self) -> Option<usize> {
        self.sections.iter().rev().find_map(|(s, _)| match s {
            Section::VirtualHost { index, .. } => Some(*index),
            _ => None,
        })
    }

    fn dir_section(&self) -> Option<&Section> {
        self.sections
            .iter()
            .rev()
            .map(|(s, _)| s)
            .find(|s| matches!(s, Section::Dir { .. }))
    }

    fn in_limit(&self) -> bool {
        self.sections
            .iter()
            .any(|(s, _)| matches!(s, Section::Limit { .. }))
    }

    fn server_mut(&mut self) -> &mut ServerJk {
        match self.vhost_index() {
            Some(i) if i < self.out.virtual_hosts.len() => &mut self.out.virtual_hosts[i].jk,
            _ => &mut self.out.main,
        }
    }

    fn line(&mut self, line: &LogicalLine) {
        let text = String::from_utf8_lossy(&line.bytes);
        let text = text.trim_matches(is_c_space);
        if text.is_empty() || text.starts_with('#') {
            return;
        }
        let origin = self.origin(line.number);
        if self.skipped.is_some() {
            self.soak(text, origin);
            return;
        }
        let (text, missing) = resolve_vars(text, &self.defines, self.env);
        let (name, rest) = next_word(&text);
        if name.is_empty() {
            return;
        }
        let is_jk = name.len() >= 2 && name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("jk"));
        if is_jk {
            for var in &missing {
                self.diags.warning(
                    origin.clone(),
                    name.clone(),
                    format!(
                        "${{{var}}} is not defined by a Define before this line nor in the \
                         environment; it stays as written (httpd does the same, with a warning)"
                    ),
                );
            }
            if std::str::from_utf8(&line.bytes).is_err() {
                self.diags.warning(
                    origin.clone(),
                    name.clone(),
                    "the line contains bytes that are not UTF-8; they are read as U+FFFD",
                );
            }
        }
        if let Some(closing) = name.strip_prefix("</") {
            self.close_section(closing, origin);
        } else if let Some(open) = name.strip_prefix('<') {
            self.open_section(open, rest, origin);
        } else if is_jk {
            self.jk_directive(&name, rest, origin);
        } else {
            self.other_directive(&name, rest, origin);
        }
    }

    /// Inside a skipped section: only nesting matters.
    fn soak(&mut self, text: &str, origin: Origin) {
        let (name, rest) = next_word(text);
        let Some(skipped) = self.skipped.as_mut() else {
            return;
        };
        if let Some(closing) = name.strip_prefix("</") {
            let closing = closing.strip_suffix('>').unwrap_or(closing);
            let expected = skipped.names.last().cloned().unwrap_or_default();
            if !closing.eq_ignore_ascii_case(&expected) {
                self.diags.error(
                    origin,
                    format!("</{closing}>"),
                    format!("expected </{expected}> but saw </{closing}> (httpd refuses to start)"),
                );
                return;
            }
            skipped.names.pop();
            if skipped.names.is_empty()
                && let Some(done) = self.skipped.take()
                && done.saw_jk
            {
                self.diags.warning(
                    done.origin,
                    "",
                    format!(
                        "Jk directives inside this section are not read: {}",
                        done.why
                    ),
                );
            }
        } else if let Some(open) = name.strip_prefix('<') {
            let open = if rest.is_empty() {
                open.strip_suffix('>').unwrap_or(open)
            } else {
                open
            };
            skipped.names.push(open.to_string());
        } else if name.len() >= 2 && name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("jk")) {
            skipped.saw_jk = true;
        }
    }

    /// The argument of a section line without its closing `>`, or an error.
    fn section_arg<'t>(&mut self, name: &str, rest: &'t str, origin: &Origin) -> Option<&'t str> {
        match rest.rfind('>') {
            Some(p) => Some(rest[..p].trim_matches(is_c_space)),
            None => {
                self.diags.error(
                    origin.clone(),
                    format!("<{name}>"),
                    format!("<{name} directive missing closing '>' (httpd refuses to start)"),
                );
                None
            }
        }
    }

    fn open_section(&mut self, word: &str, rest: &str, origin: Origin) {
        // ap_build_config_sub: "<Name>" with no argument becomes "<Name" with ">".
        let (name, rest) = match (word.strip_suffix('>'), rest.is_empty()) {
            (Some(n), true) => (n, ">"),
            (Some(n), false) => (n, rest),
            (None, _) => (word, rest),
        };
        let name = name.to_string();
        let lower = name.to_ascii_lowercase();
        let Some(arg) = self.section_arg(&name, rest, &origin) else {
            // Keep the nesting so that the closing line still matches.
            self.sections.push((Section::Plain { name }, origin));
            return;
        };
        let section = match lower.as_str() {
            "virtualhost" => self.open_vhost(&name, arg, &origin),
            "location" | "locationmatch" | "directory" | "directorymatch" | "files"
            | "filesmatch" | "proxy" | "proxymatch" => {
                let (first, after) = next_word(arg);
                let (path, regex) = if lower.ends_with("match") {
                    (first, true)
                } else if first == "~" {
                    (next_word(after).0, true)
                } else {
                    (first, false)
                };
                if path.is_empty() {
                    self.diags.error(
                        origin.clone(),
                        format!("<{name}>"),
                        format!("<{name}> needs an argument (httpd refuses to start)"),
                    );
                }
                let path = match lower.as_str() {
                    // core.c:dirsection makes the path canonical with a trailing '/'.
                    "directory" if !regex && path != "/" && !path.ends_with('/') => {
                        format!("{path}/")
                    }
                    // mod_proxy's section handler prefixes the URL.
                    "proxy" | "proxymatch" => format!("proxy:{path}"),
                    _ => path,
                };
                Section::Dir { name, path, regex }
            }
            "if" | "elseif" | "else" => Section::Dir {
                name,
                path: "*If".to_string(),
                regex: false,
            },
            "limit" | "limitexcept" => Section::Limit { name },
            "ifmodule" => {
                let negated = arg.starts_with('!');
                let module = next_word(arg.trim_start_matches('!')).0;
                let is_jk = matches!(module.as_str(), "mod_jk.c" | "jk_module");
                if negated && is_jk {
                    self.skipped = Some(Skipped {
                        names: vec![name],
                        why: "the section applies only when mod_jk is not loaded",
                        origin,
                        saw_jk: false,
                    });
                    return;
                }
                Section::Plain { name }
            }
            "macro" => {
                self.skipped = Some(Skipped {
                    names: vec![name],
                    why: "jkd does not expand mod_macro macros",
                    origin,
                    saw_jk: false,
                });
                return;
            }
            _ => Section::Plain { name },
        };
        self.sections.push((section, origin));
    }

    fn open_vhost(&mut self, name: &str, arg: &str, origin: &Origin) -> Section {
        if self.vhost_index().is_some() || self.dir_section().is_some() {
            let inner = if self.vhost_index().is_some() {
                "<VirtualHost>"
            } else {
                "directory context"
            };
            self.diags.error(
                origin.clone(),
                "<VirtualHost>",
                format!("<VirtualHost> cannot occur within {inner} (httpd refuses to start)"),
            );
        }
        let addresses = words(arg);
        if addresses.is_empty() {
            self.diags.error(
                origin.clone(),
                "<VirtualHost>",
                "<VirtualHost> needs at least one address (httpd refuses to start)",
            );
        }
        self.out.virtual_hosts.push(VirtualHost {
            id: String::new(),
            addresses,
            server_name: None,
            server_aliases: Vec::new(),
            origin: origin.clone(),
            jk: ServerJk::default(),
        });
        Section::VirtualHost {
            name: name.to_string(),
            index: self.out.virtual_hosts.len() - 1,
        }
    }

    fn close_section(&mut self, word: &str, origin: Origin) {
        let Some(closing) = word.strip_suffix('>') else {
            self.diags.error(
                origin,
                format!("</{word}"),
                format!("</{word} directive missing closing '>' (httpd refuses to start)"),
            );
            return;
        };
        let Some((top, _)) = self.sections.last() else {
            self.diags.error(
                origin,
                format!("</{closing}>"),
                format!(
                    "</{closing}> without matching <{closing}> section (httpd refuses to start)"
                ),
            );
            return;
        };
        if top.name().eq_ignore_ascii_case(closing) {
            self.sections.pop();
            return;
        }
        let expected = top.name().to_string();
        self.diags.error(
            origin,
            format!("</{closing}>"),
            format!("expected </{expected}> but saw </{closing}> (httpd refuses to start)"),
        );
        // Recover: close up to a matching section if there is one.
        if let Some(pos) = self
            .sections
            .iter()
            .rposition(|(s, _)| s.name().eq_ignore_ascii_case(closing))
        {
            self.sections.truncate(pos);
        }
    }

    /// `Timeout` and `KeepAliveTimeout`: whole seconds (httpd also takes `ms` for
    /// KeepAliveTimeout, which jkd rounds up). In a virtual host they are not read:
    /// jkd has one value for every connection.
    fn seconds_directive(&mut self, name: &str, args: &[String], origin: Origin) {
        if self.vhost_index().is_some() {
            self.diags.warning(
                origin,
                name,
                format!("{name} inside <VirtualHost> is not read: jkd applies the main server's to every connection"),
            );
            return;
        }
        let value = args.first().map(String::as_str).unwrap_or("");
        let secs = match value.strip_suffix("ms") {
            Some(ms) => ms.parse::<u64>().ok().map(|ms| ms.div_ceil(1000)),
            None => value.strip_suffix('s').unwrap_or(value).parse::<u64>().ok(),
        };
        let Some(secs) = secs else {
            self.diags.error(
                origin,
                name,
                format!("'{value}' is not a number of seconds (httpd refuses to start)"),
            );
            return;
        };
        if name.eq_ignore_ascii_case("timeout") {
            self.out.timeout = Some((secs, origin));
        } else {
            self.out.keepalive_timeout = Some((secs, origin));
        }
    }

    fn other_directive(&mut self, name: &str, rest: &str, origin: Origin) {
        let args = || words(rest);
        match name.to_ascii_lowercase().as_str() {
            "serverroot" => {
                if let Some(root) = args().into_iter().next() {
                    if !self.relative_paths_before_root.is_empty() {
                        let earlier: Vec<String> = self
                            .relative_paths_before_root
                            .iter()
                            .map(|o| o.line.to_string())
                            .collect();
                        self.diags.warning(
                            origin,
                            "ServerRoot",
                            format!(
                                "ServerRoot comes after relative Jk file names (lines {}): \
                                 httpd resolved those against its built-in ServerRoot, not \
                                 this one; jkd reads them relative to its working directory",
                                earlier.join(", ")
                            ),
                        );
                    }
                    self.out.server_root = Some(root);
                }
            }
            "timeout" | "keepalivetimeout" => self.seconds_directive(name, &args(), origin),
            "define" => {
                let a = args();
                if let Some(var) = a.first() {
                    let value = a.get(1).cloned().unwrap_or_default();
                    self.defines.insert(var.clone(), value);
                }
            }
            "undefine" => {
                if let Some(var) = args().first() {
                    self.defines.remove(var);
                }
            }
            "servername" => {
                if let Some(i) = self.vhost_index()
                    && let Some(vh) = self.out.virtual_hosts.get_mut(i)
                {
                    vh.server_name = args().into_iter().next();
                }
            }
            "serveralias" => {
                if let Some(i) = self.vhost_index()
                    && let Some(vh) = self.out.virtual_hosts.get_mut(i)
                {
                    vh.server_aliases.extend(args());
                }
            }
            "include" | "includeoptional" => {
                for f in args() {
                    self.diags.warning(
                        origin.clone(),
                        name,
                        format!(
                            "the included file '{f}' is not read: jkd reads only this file, so \
                             Jk directives in it are missed (copy them here)"
                        ),
                    );
                }
            }
            _ => {
                if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    self.diags.warning(
                        origin,
                        name,
                        format!(
                            "'{name}' is not a directive; httpd refuses to start on this line \
                             (Invalid command)"
                        ),
                    );
                }
            }
        }
    }

    fn jk_directive(&mut self, name: &str, rest: &str, origin: Origin) {
        let Some(d) = find_jk(name) else {
            let hint = match glued_directive(name) {
                Some(real) => format!("; a space seems to be missing after '{real}'"),
                None => String::new(),
            };
            self.diags.error(
                origin,
                name,
                format!(
                    "'{name}' is not a mod_jk directive{hint} (httpd refuses to start: Invalid \
                     command)"
                ),
            );
            return;
        };
        if !self.check_context(d, &origin) {
            return;
        }
        let args = match d.args {
            Args::Raw => vec![rest.to_string()],
            _ => words(rest),
        };
        if !self.check_args(d, &args, &origin) {
            return;
        }
        // JkOptions names the offending option itself.
        for a in args.iter().filter(|_| d.kind != JkKind::Options) {
            if a.contains('\u{a0}') {
                self.diags.warning(
                    origin.clone(),
                    d.name,
                    format!(
                        "the argument '{a}' contains a no-break space (U+00A0); httpd does not \
                         treat it as white space, so it is part of the value"
                    ),
                );
            }
        }
        let first = args.first().cloned().unwrap_or_default();
        match d.kind {
            JkKind::Mount | JkKind::UnMount => self.mount(d, &args, origin),
            JkKind::WorkersFile => {
                // jk_set_worker_file refuses a second JkWorkersFile outright, so this is
                // an error and the first one stays (not "warning, last wins").
                if let Some((_, earlier)) = &self.out.workers_file {
                    let line = earlier.line;
                    self.diags.error(
                        origin,
                        d.name,
                        format!(
                            "JkWorkersFile only allowed once (first at line {line}); mod_jk \
                             refuses to start"
                        ),
                    );
                } else {
                    let path = self.server_relative(&first, &origin);
                    self.out.workers_file = Some((path, origin));
                }
            }
            JkKind::MountFile => {
                let path = self.server_relative(&first, &origin);
                let server = self.server_mut();
                let replaced = server.mount_file.replace((path.clone(), origin.clone()));
                if let Some((old, old_origin)) = replaced {
                    self.diags.warning(
                        origin,
                        d.name,
                        format!(
                            "JkMountFile again in the same server: '{path}' replaces '{old}' \
                             (line {}); mod_jk reads only the last",
                            old_origin.line
                        ),
                    );
                }
            }
            JkKind::MountFileReload => {
                // jk_set_mount_file_reload: atoi, negative becomes 0.
                let value = mounts::c_atoi(&first).max(0);
                if first.trim().parse::<i32>().ok() != Some(value) {
                    self.diags.warning(
                        origin.clone(),
                        d.name,
                        format!("'{first}' is not a number of seconds; mod_jk reads it as {value}"),
                    );
                }
                self.server_mut().mount_file_reload = Some((value, origin));
            }
            JkKind::MountCopy => self.mount_copy(d, &first, origin),
            JkKind::WorkerProperty => self.out.worker_properties.push((first, origin)),
            JkKind::Options => self.options(d, rest, origin),
            JkKind::Silent => {}
            JkKind::Unsupported => self.diags.warning(
                origin,
                d.name,
                format!("jkd does not implement {}; the line is ignored", d.name),
            ),
        }
    }

    /// mod_jk's and httpd's context checks; false when the directive is refused.
    fn check_context(&mut self, d: &JkDirective, origin: &Origin) -> bool {
        let dir = self.dir_section().map(|s| s.name().to_string());
        let allowed_in_dir = matches!(d.kind, JkKind::Mount | JkKind::UnMount);
        if let Some(section) = dir
            && !allowed_in_dir
        {
            self.diags.error(
                origin.clone(),
                d.name,
                format!(
                    "{} not allowed in <{section}> context (httpd refuses to start)",
                    d.name
                ),
            );
            return false;
        }
        if d.global_only {
            let place = if self.vhost_index().is_some() {
                Some("<VirtualHost>")
            } else if self.in_limit() {
                Some("<Limit> or <LimitExcept>")
            } else {
                None
            };
            if let Some(place) = place {
                self.diags.error(
                    origin.clone(),
                    d.name,
                    format!(
                        "{} cannot occur within {place} section (httpd refuses to start)",
                        d.name
                    ),
                );
                return false;
            }
        }
        true
    }

    /// httpd's argument count checks (`invoke_cmd`).
    fn check_args(&mut self, d: &JkDirective, args: &[String], origin: &Origin) -> bool {
        let first_empty = args.first().is_none_or(String::is_empty);
        let problem = match d.args {
            Args::Take1 if first_empty || args.len() > 1 => Some("takes one argument"),
            Args::Take12 if first_empty || args.len() > 2 => Some("takes 1-2 arguments"),
            Args::Flag if args.len() != 1 => Some("takes one argument, On or Off"),
            Args::Flag
                if !args.first().is_some_and(|a| {
                    a.eq_ignore_ascii_case("on") || a.eq_ignore_ascii_case("off")
                }) =>
            {
                Some("must be On or Off")
            }
            _ => None,
        };
        let Some(problem) = problem else {
            return true;
        };
        let got = if args.is_empty() {
            "none".to_string()
        } else {
            args.iter()
                .map(|a| format!("'{a}'"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let hint = if args.iter().any(|a| a.starts_with('#')) {
            " (httpd has no comments after a directive: '#' starts a comment only at the \
             beginning of a line)"
        } else if args.iter().any(|a| a.contains('\u{a0}')) {
            " (a no-break space U+00A0 is not white space for httpd)"
        } else {
            ""
        };
        self.diags.error(
            origin.clone(),
            d.name,
            format!(
                "{} {problem}, got {got}{hint} (httpd refuses to start)",
                d.name
            ),
        );
        false
    }

    /// `ap_server_root_relative`, with the ServerRoot known at this line.
    fn server_relative(&mut self, path: &str, origin: &Origin) -> String {
        if path.starts_with('/') {
            return path.to_string();
        }
        match &self.out.server_root {
            Some(root) => format!("{}/{}", root.trim_end_matches('/'), path),
            None => {
                self.relative_paths_before_root.push(origin.clone());
                self.diags.warning(
                    origin.clone(),
                    "",
                    format!(
                        "'{path}' is relative to httpd's ServerRoot, which this file does not \
                         set before this line; jkd reads it relative to its working directory"
                    ),
                );
                path.to_string()
            }
        }
    }

    fn mount_copy(&mut self, d: &JkDirective, value: &str, origin: Origin) {
        let in_vhost = self.vhost_index().is_some();
        if value.eq_ignore_ascii_case("all") {
            if in_vhost {
                self.diags.error(
                    origin,
                    d.name,
                    "JkMountCopy All cannot occur within <VirtualHost> section (httpd refuses to \
                     start); use JkMountCopy On in the virtual host",
                );
            } else {
                self.out.mount_copy_all = Some(origin);
            }
            return;
        }
        let on = if value.eq_ignore_ascii_case("on") {
            true
        } else if value.eq_ignore_ascii_case("off") {
            false
        } else {
            self.diags.error(
                origin,
                d.name,
                format!(
                    "JkMountCopy must be All, On or Off, not '{value}' (httpd refuses to start)"
                ),
            );
            return;
        };
        if !in_vhost {
            self.diags.warning(
                origin.clone(),
                d.name,
                format!(
                    "JkMountCopy {value} in the main server has no effect (it only applies \
                     to virtual hosts); use JkMountCopy All to copy the main server's mounts \
                     into every virtual host"
                ),
            );
        }
        self.server_mut().mount_copy = Some((on, origin));
    }

    /// `jk_set_options`: every option must be known; the URI forwarding options
    /// cannot be negated. jkd always behaves as mod_jk's defaults
    /// (`+ForwardURIProxy +ForwardKeySize`), so anything else is a warning.
    fn options(&mut self, d: &JkDirective, raw: &str, origin: Origin) {
        const KNOWN: &[&str] = &[
            "ForwardURICompat",
            "ForwardURICompatUnparsed",
            "ForwardURIEscaped",
            "ForwardURIProxy",
            "CollapseSlashesAll",
            "CollapseSlashesNone",
            "CollapseSlashesUnmount",
            "ForwardDirectories",
            "ForwardLocalAddress",
            "ForwardPhysicalAddress",
            "FlushPackets",
            "FlushHeader",
            "DisableReuse",
            "ForwardSSLCertChain",
            "ForwardKeySize",
            "RejectUnsafeURI",
        ];
        for word in words(raw) {
            let (action, option) = match word.chars().next() {
                Some(c @ ('+' | '-')) => (Some(c), word.get(1..).unwrap_or_default()),
                _ => (None, word.as_str()),
            };
            let negated = action == Some('-');
            let is_forward_uri = option
                .get(..10)
                .is_some_and(|p| p.eq_ignore_ascii_case("ForwardURI"));
            if negated && is_forward_uri {
                self.diags.error(
                    origin.clone(),
                    d.name,
                    format!(
                        "JkOptions: Illegal option '-{option}': option can not be disabled \
                         (httpd refuses to start)"
                    ),
                );
                continue;
            }
            let Some(known) = KNOWN.iter().find(|k| k.eq_ignore_ascii_case(option)) else {
                let hint = if option.contains('\u{a0}') {
                    " (it contains a no-break space U+00A0)".to_string()
                } else {
                    match KNOWN
                        .iter()
                        .filter(|k| {
                            option.len() > k.len()
                                && option
                                    .get(..k.len())
                                    .is_some_and(|p| p.eq_ignore_ascii_case(k))
                        })
                        .max_by_key(|k| k.len())
                    {
                        Some(k) => format!(" (a space seems to be missing after '{k}')"),
                        None => String::new(),
                    }
                };
                self.diags.error(
                    origin.clone(),
                    d.name,
                    format!("JkOptions: Illegal option '{option}'{hint} (httpd refuses to start)"),
                );
                continue;
            };
            let same_as_jkd = match *known {
                "ForwardURIProxy" | "ForwardKeySize" => !negated,
                k if k.starts_with("CollapseSlashes") => {
                    self.diags.warning(
                        origin.clone(),
                        d.name,
                        format!(
                            "{k} is deprecated and ignored (mod_jk always collapses slashes \
                             for mapping)"
                        ),
                    );
                    true
                }
                // Turning off an option that is off by default changes nothing here.
                _ => negated,
            };
            if !same_as_jkd {
                self.diags.warning(
                    origin.clone(),
                    d.name,
                    format!(
                        "jkd does not implement JkOptions {word}; it behaves as with mod_jk's \
                         defaults (+ForwardURIProxy +ForwardKeySize)"
                    ),
                );
            }
        }
    }

    /// `jk_mount_context` / `jk_unmount_context`.
    fn mount(&mut self, d: &JkDirective, args: &[String], origin: Origin) {
        let unmount = d.kind == JkKind::UnMount;
        let first = args.first().cloned().unwrap_or_default();
        let second = args.get(1).filter(|w| !w.is_empty()).cloned();
        let dir = self.dir_section().cloned();
        let (context, worker) = match (second, &dir) {
            (Some(w), None) => (first, w),
            (None, Some(Section::Dir { path, .. })) => (path.clone(), first),
            (None, _) => {
                self.diags.error(
                    origin,
                    d.name,
                    format!(
                        "{} needs a path when not defined in a location: write '{} /path {first}' \
                         (mod_jk refuses to start)",
                        d.name, d.name
                    ),
                );
                return;
            }
            (Some(_), Some(section)) => {
                self.diags.error(
                    origin,
                    d.name,
                    format!(
                        "{} can not have a path when defined in a location: inside <{}> write \
                         '{} {}' (mod_jk refuses to start)",
                        d.name,
                        section.name(),
                        d.name,
                        args.get(1).cloned().unwrap_or_default()
                    ),
                );
                return;
            }
        };
        // mod_jk checks the context before the rule parser strips '-' and '!', so
        // JkMount cannot disable or exclude (the reference doc §6.1 says JkMount has
        // the same pattern syntax as uriworkermap files; the source disagrees, and
        // httpd + mod_jk refuse `JkMount !/x w`: see tests/mount_reference.rs).
        if !context.starts_with('/') {
            let hint = match &dir {
                Some(Section::Dir { path, .. }) if path == "*If" => {
                    " (inside <If>, <ElseIf> or <Else> the path mod_jk sees is '*If')"
                }
                Some(Section::Dir { regex: true, .. }) => {
                    " (inside a regular-expression section the path is the expression)"
                }
                _ if context.starts_with('*') => {
                    "; mod_jk 1.2.48 rejects suffix patterns such as '*.jsp': write '/*.jsp'"
                }
                _ if context.starts_with(['!', '-']) => {
                    "; the '!' and '-' markers are for uriworkermap files: use JkUnMount to \
                     exclude"
                }
                _ => "",
            };
            self.diags.error(
                origin,
                d.name,
                format!(
                    "{} context should start with /, not '{context}'{hint} (mod_jk refuses to \
                     start)",
                    d.name
                ),
            );
            return;
        }
        if let Some(Section::Dir {
            name, path, regex, ..
        }) = &dir
        {
            if *regex {
                self.diags.warning(
                    origin.clone(),
                    d.name,
                    format!(
                        "inside <{name}> mod_jk takes the regular expression '{path}' as a \
                         literal pattern, not as a regular expression"
                    ),
                );
            } else if path.len() > 1 && path.ends_with('/') && !path.contains(['*', '?']) {
                self.diags.warning(
                    origin.clone(),
                    d.name,
                    format!(
                        "the rule from <{name} {path}> is exact: only '{path}' itself is \
                         forwarded, not '{}' nor anything below it",
                        path.trim_end_matches('/')
                    ),
                );
            }
        }
        let key = if unmount {
            format!("!{context}")
        } else {
            context
        };
        let mut rules = mounts::parse_rule(
            &key,
            &worker,
            RuleSource::JkMount,
            origin.clone(),
            self.diags,
        );
        let server = self.vhost_index();
        if let Some(existing) = self
            .mount_keys
            .iter_mut()
            .find(|k| k.server == server && k.key == key)
        {
            self.diags.warning(
                origin.clone(),
                d.name,
                format!(
                    "'{key}' is mounted again in the same server: worker '{worker}' replaces \
                     '{}' from line {} (mod_jk keeps the last, in the first one's place)",
                    existing.worker, existing.line
                ),
            );
            existing.worker = worker.clone();
            existing.line = origin.line;
            if existing.rules.len() == rules.len() {
                for (slot, rule) in existing.rules.iter().zip(rules) {
                    if let Some(old) = self.out.mounts.get_mut(*slot) {
                        *old = rule;
                    }
                }
                return;
            }
            // Cannot happen (same key, same expansion), but never lose the new rules.
            existing.rules.clear();
        }
        let start = self.out.mounts.len();
        let count = rules.len();
        self.out.mounts.append(&mut rules);
        let indices: Vec<usize> = (start..start + count).collect();
        match self
            .mount_keys
            .iter_mut()
            .find(|k| k.server == server && k.key == key)
        {
            Some(existing) => existing.rules = indices,
            None => self.mount_keys.push(MountKey {
                server,
                key,
                worker,
                line: origin.line,
                rules: indices,
            }),
        }
    }

    fn finish(mut self) -> ApacheJk {
        if let Some(skipped) = self.skipped.take() {
            let name = skipped.names.first().cloned().unwrap_or_default();
            self.diags.error(
                skipped.origin,
                format!("<{name}>"),
                format!("<{name}> was not closed (httpd refuses to start)"),
            );
        }
        for (section, origin) in std::mem::take(&mut self.sections) {
            let name = section.name().to_string();
            self.diags.error(
                origin,
                format!("<{name}>"),
                format!("<{name}> was not closed (httpd refuses to start)"),
            );
        }
        let mut used: Vec<String> = Vec::new();
        for vh in &mut self.out.virtual_hosts {
            let base = vh
                .server_name
                .clone()
                .unwrap_or_else(|| vh.addresses.join(" "));
            vh.id = if used.contains(&base) {
                format!("{base} ({})", vh.origin)
            } else {
                base
            };
            used.push(vh.id.clone());
        }
        for key in &self.mount_keys {
            let Some(index) = key.server else { continue };
            let id = self.out.virtual_hosts.get(index).map(|v| v.id.clone());
            for &slot in &key.rules {
                if let Some(rule) = self.out.mounts.get_mut(slot) {
                    rule.vhost = id.clone();
                }
            }
        }
        let mut files = Vec::new();
        files.extend(self.out.main.mount_file.clone());
        for vh in &self.out.virtual_hosts {
            files.extend(vh.jk.mount_file.clone());
        }
        self.out.mount_files = files;
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diag::Diagnostic;

    fn read(text: &str) -> (ApacheJk, Vec<Diagnostic>) {
        let mut d = Diagnostics::default();
        let conf = read_apache_conf(&Arc::from("httpd.conf"), text.as_bytes(), &mut d);
        (conf, d.items)
    }

    fn mounts(conf: &ApacheJk) -> Vec<(String, &str, Option<&str>)> {
        conf.mounts
            .iter()
            .map(|r| (r.written_pattern(), r.worker.as_str(), r.vhost.as_deref()))
            .collect()
    }

    fn lines_of(diags: &[Diagnostic]) -> Vec<u32> {
        diags.iter().map(|d| d.origin.line).collect()
    }

    fn errors(diags: &[Diagnostic]) -> Vec<&Diagnostic> {
        diags.iter().filter(|d| d.is_error()).collect()
    }

    #[test]
    fn timeout_and_keepalive_timeout_of_the_main_server_are_read() {
        let (conf, diags) = read(
            "Timeout 30\nKeepAliveTimeout 1500ms\n<VirtualHost *:80>\nTimeout 5\n</VirtualHost>\n",
        );
        assert_eq!(conf.timeout.map(|(t, o)| (t, o.line)), Some((30, 1)));
        assert_eq!(conf.keepalive_timeout.map(|(t, _)| t), Some(2));
        assert_eq!(
            lines_of(&diags),
            [4],
            "the virtual host's Timeout is not read: {diags:?}"
        );
        let (_, diags) = read("Timeout soon\n");
        assert_eq!(errors(&diags).len(), 1, "{diags:?}");
    }

    #[test]
    fn words_follow_getword_conf() {
        assert_eq!(
            words(r#"a "b c" 'd e' f\\g "h\"i" 'j\'k' "x\y""#),
            ["a", "b c", "d e", r"f\g", "h\"i", "j'k", r"x\y"]
        );
        assert_eq!(words(r#""abc"def"#), ["abc", "def"]);
        assert_eq!(words(r#""unterminated"#), ["unterminated"]);
        assert_eq!(words("x\u{a0} y"), ["x\u{a0}", "y"]);
        assert!(words("").is_empty());
    }

    #[test]
    fn basic_mounts_workers_file_and_properties() {
        let (c, d) = read(
            "JkWorkersFile /etc/w.properties\nJkMount /app/* lb\nJkUnMount /app/static/* lb\n\
             JkWorkerProperty worker.list=lb\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            c.workers_file.as_ref().map(|(p, o)| (p.as_str(), o.line)),
            Some(("/etc/w.properties", 1))
        );
        assert_eq!(
            mounts(&c),
            [
                ("/app/*".into(), "lb", None),
                ("!/app/static/*".into(), "lb", None)
            ]
        );
        assert_eq!(c.mounts[1].origin.line, 3);
        assert_eq!(c.mounts[0].source, RuleSource::JkMount);
        assert_eq!(
            c.worker_properties,
            [("worker.list=lb".to_string(), Origin::new("httpd.conf", 4))]
        );
    }

    #[test]
    fn directive_names_are_case_insensitive() {
        // corpus 002 ("jkmount"), 005 ("Jkshmfile"), 011 ("JKShmFile")
        let (c, d) = read("jkmount /a w\nJKMOUNT /b w\nJkshmfile run/x.shm\nJKShmFile /x\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(c.mounts.len(), 2);
    }

    #[test]
    fn jkmount_with_wrong_argument_count_is_an_error_on_its_line() {
        let (c, d) = read("\nJkMount\nJkMount /a w extra\nJkMount /b\nJkMount /c w # comment\n");
        assert!(c.mounts.is_empty());
        let e = errors(&d);
        assert_eq!(lines_of(&d), [2, 3, 4, 5]);
        assert_eq!(e.len(), 4);
        assert!(e.iter().all(|x| x.key == "JkMount"));
        assert!(e[0].message.contains("takes 1-2 arguments"));
        assert!(e[2].message.contains("needs a path"));
        assert!(e[3].message.contains("no comments after a directive"));
    }

    #[test]
    fn jkmount_empty_second_argument_counts_as_missing() {
        let (_, d) = read("JkMount /x \"\"\n");
        assert_eq!(lines_of(&d), [1]);
        assert!(d[0].message.contains("needs a path"));
    }

    #[test]
    fn jkmount_context_must_start_with_slash() {
        let (c, d) = read("JkMount *.jsp w\nJkMount !/x w\nJkMount -/y w\n");
        assert!(c.mounts.is_empty());
        assert_eq!(lines_of(&d), [1, 2, 3]);
        assert!(d.iter().all(Diagnostic::is_error));
        assert!(d[0].message.contains("'/*.jsp'"));
        assert!(d[1].message.contains("JkUnMount"));
    }

    #[test]
    fn jkmount_pipe_expands() {
        let (c, _) = read("JkMount /myapp|/* balancer\n");
        let p: Vec<_> = c.mounts.iter().map(|r| r.pattern.as_str()).collect();
        assert_eq!(p, ["/myapp", "/myapp/*"]);
    }

    #[test]
    fn location_mount_takes_the_location_path() {
        // corpus 001, 003, 014
        let (c, d) = read(
            "<Location /jk-status>\n    # comment\n    JkMount jk-status\n    Require local\n</Location>\n\
             <Location /jkstatus> \n  JkUnMount jkstatus\n</Location> \n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            mounts(&c),
            [
                ("/jk-status".into(), "jk-status", None),
                ("!/jkstatus".into(), "jkstatus", None)
            ]
        );
        assert!(!c.mounts[0].wildcard);
        assert_eq!(c.mounts[0].origin.line, 3);
    }

    #[test]
    fn location_with_trailing_slash_is_exact_and_warned() {
        // corpus 006, 008, 016: <Location /jkstatus/>
        let (c, d) = read("<Location /jkstatus/>\n    JkMount status\n</Location>\n");
        assert_eq!(mounts(&c), [("/jkstatus/".into(), "status", None)]);
        assert_eq!(lines_of(&d), [2]);
        assert!(!d[0].is_error());
        assert!(d[0].message.contains("'/jkstatus'"));
    }

    #[test]
    fn location_mount_with_two_arguments_is_an_error() {
        let (c, d) = read("<Location /a>\nJkMount /a/* w\n</Location>\n");
        assert!(c.mounts.is_empty());
        assert_eq!(lines_of(&d), [2]);
        assert!(d[0].message.contains("can not have a path"));
    }

    #[test]
    fn quoted_location_and_regex_locations() {
        let (c, d) = read(
            "<Location \"/my app\">\nJkMount w\n</Location>\n<LocationMatch \"^/x\">\nJkMount w\n</LocationMatch>\n\
             <Location ~ \"/y.*\">\nJkMount w\n</Location>\n",
        );
        assert_eq!(
            mounts(&c),
            [("/my app".into(), "w", None), ("/y.*".into(), "w", None)]
        );
        assert_eq!(
            lines_of(&errors(&d).into_iter().cloned().collect::<Vec<_>>()),
            [5]
        );
        assert_eq!(lines_of(&d), [5, 8]);
        assert!(
            c.mounts[1].wildcard,
            "the regex text is used as a wildcard pattern"
        );
    }

    #[test]
    fn directory_path_gets_a_trailing_slash_and_if_has_no_path() {
        let (c, d) = read(
            "<Directory /srv/app>\nJkMount w\n</Directory>\n<Location /a>\n<If \"true\">\nJkMount w\n</If>\n</Location>\n",
        );
        assert_eq!(mounts(&c), [("/srv/app/".into(), "w", None)]);
        assert_eq!(lines_of(&d), [2, 6]);
        assert!(d[1].is_error() && d[1].message.contains("'*If'"));
    }

    #[test]
    fn server_directives_inside_a_location_are_errors() {
        let (c, d) =
            read("<Location /x>\nJkMountFile /u.properties\nJkLogLevel info\n</Location>\n");
        assert!(c.mount_files.is_empty());
        assert_eq!(lines_of(&d), [2, 3]);
        assert!(
            d.iter()
                .all(|x| x.is_error() && x.message.contains("not allowed in <Location>"))
        );
    }

    #[test]
    fn virtual_hosts_record_mounts_and_names() {
        let (c, d) = read(
            "JkMount /main/* w\n<VirtualHost *:80>\nServerName www.a.org \nJkMount /a/* w1\n</VirtualHost>\n\
             <virtualhost 127.0.0.1 10.0.0.1>\nJkMount /b w2\n</VIRTUALHOST>\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(c.virtual_hosts.len(), 2);
        assert_eq!(c.virtual_hosts[0].id, "www.a.org");
        assert_eq!(c.virtual_hosts[0].origin.line, 2);
        assert_eq!(c.virtual_hosts[1].id, "127.0.0.1 10.0.0.1");
        assert_eq!(c.virtual_hosts[1].addresses, ["127.0.0.1", "10.0.0.1"]);
        assert_eq!(
            mounts(&c),
            [
                ("/main/*".into(), "w", None),
                ("/a/*".into(), "w1", Some("www.a.org")),
                ("/b".into(), "w2", Some("127.0.0.1 10.0.0.1"))
            ]
        );
    }

    #[test]
    fn location_inside_a_vhost_belongs_to_the_vhost() {
        let (c, d) = read(
            "<VirtualHost *:80>\nServerName v\n<Location /st>\nJkMount status\n</Location>\n</VirtualHost>\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(mounts(&c), [("/st".into(), "status", Some("v"))]);
    }

    #[test]
    fn mount_file_reload_is_read_like_atoi() {
        let (c, d) = read("JkMountFileReload 10s\nJkMountFileReload -5\n");
        assert_eq!(
            c.main.mount_file_reload.map(|(s, o)| (s, o.line)),
            Some((0, 2))
        );
        assert_eq!(lines_of(&d), [1, 2]);
        assert!(d[0].message.contains("as 10"));
    }

    #[test]
    fn server_name_after_the_mounts_still_names_the_vhost() {
        let (c, _) =
            read("<VirtualHost *:80>\nJkMount /a w\nServerName late.example\n</VirtualHost>\n");
        assert_eq!(c.mounts[0].vhost.as_deref(), Some("late.example"));
    }

    #[test]
    fn vhosts_with_the_same_name_get_distinct_ids() {
        let (c, _) =
            read("<VirtualHost *:80>\n</VirtualHost>\n<VirtualHost *:80>\n</VirtualHost>\n");
        assert_eq!(c.virtual_hosts[0].id, "*:80");
        assert_eq!(c.virtual_hosts[1].id, "*:80 (httpd.conf:3)");
    }

    #[test]
    fn backslash_continuation_joins_lines() {
        // corpus 009: ServerAlias continued over several lines
        let (c, d) = read(
            "<VirtualHost *:80>\nServerName x\nServerAlias a.org \\\n            b.org \\\r\n   c.org\nJkMount \\\n /a w\n</VirtualHost>\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            c.virtual_hosts[0].server_aliases,
            ["a.org", "b.org", "c.org"]
        );
        assert_eq!(mounts(&c), [("/a".into(), "w", Some("x"))]);
        assert_eq!(
            c.mounts[0].origin.line, 6,
            "diagnostics name the first line"
        );
    }

    #[test]
    fn backslash_then_space_does_not_continue_and_comments_continue() {
        let (c, _) = read("# comment \\\nJkMount /hidden w\nJkMount /a \\ \nJkMount /b w\n");
        let p: Vec<_> = c
            .mounts
            .iter()
            .map(|r| (r.pattern.as_str(), r.worker.as_str()))
            .collect();
        // The backslash before a space is an ordinary word: the worker of /a is "\".
        assert_eq!(p, [("/a", "\\"), ("/b", "w")]);
    }

    #[test]
    fn crlf_lines_and_missing_final_newline() {
        // corpus 006
        let (c, d) = read(
            "JkMount /ShowCase ajp13\r\nJkLogLevel info \r\n<Location /s>\r\nJkMount status\r\n</Location>",
        );
        assert_eq!(
            mounts(&c),
            [
                ("/ShowCase".into(), "ajp13", None),
                ("/s".into(), "status", None)
            ]
        );
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn tabs_separate_words() {
        // corpus 002, 012
        let (c, d) = read(
            "\tJkWorkersFile\tconf/extra/workers.properties\nServerRoot /r\nLoadModule\tjk_module\tx.so\n",
        );
        assert_eq!(
            c.workers_file.as_ref().map(|(p, _)| p.as_str()),
            Some("conf/extra/workers.properties")
        );
        assert_eq!(
            lines_of(&d),
            [1, 2],
            "relative path warning, then ServerRoot-after warning"
        );
    }

    #[test]
    fn relative_paths_use_the_server_root_in_effect() {
        let (c, d) = read(
            "ServerRoot \"/etc/httpd\"\nJkWorkersFile conf/w.properties\nJkMountFile /abs/u.properties\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(c.server_root.as_deref(), Some("/etc/httpd"));
        assert_eq!(
            c.workers_file.map(|(p, _)| p),
            Some("/etc/httpd/conf/w.properties".into())
        );
        assert_eq!(
            c.mount_files,
            [(
                "/abs/u.properties".to_string(),
                Origin::new("httpd.conf", 3)
            )]
        );
    }

    #[test]
    fn byte_order_mark_is_skipped_with_a_warning() {
        // corpus 015
        let (c, d) = read("\u{feff}JkMount /*.jsp controller\n");
        assert_eq!(c.mounts.len(), 1);
        assert_eq!(lines_of(&d), [1]);
        assert!(!d[0].is_error());
    }

    #[test]
    fn nbsp_is_part_of_the_argument() {
        // corpus 005
        let (c, d) = read("ServerRoot /r\nJkWorkersFile conf.d/workers.properties\u{a0} \n");
        assert_eq!(
            c.workers_file.map(|(p, _)| p),
            Some("/r/conf.d/workers.properties\u{a0}".into())
        );
        assert_eq!(lines_of(&d), [2]);
        assert!(d[0].message.contains("U+00A0"));
    }

    #[test]
    fn nbsp_after_a_quoted_argument_is_a_second_argument() {
        // corpus 005: JkLogStampFormat "[...]"<NBSP>
        let (_, d) = read("JkLogStampFormat \"[%a %b]\"\u{a0} \n");
        assert_eq!(lines_of(&d), [1]);
        assert!(d[0].is_error() && d[0].message.contains("U+00A0"));
    }

    #[test]
    fn jkoptions_illegal_options_are_errors_and_unimplemented_ones_warnings() {
        // corpus 002, 005, 010
        let (_, d) = read(
            "JkOptions +ForwardKeySize +ForwardURICompatUnparsed -ForwardDirectories\n\
             JkOptions -ForwardDirectories\u{a0} \n\
             JkOptions  +ForwardKeySize +ForwardURICompat-ForwardDirectories\n\
             JkOptions -ForwardURIProxy\nJkOptions ForwardURIProxy +forwardkeysize\n",
        );
        assert_eq!(lines_of(&d), [1, 2, 3, 4]);
        assert!(!d[0].is_error() && d[0].message.contains("+ForwardURICompatUnparsed"));
        assert!(d[1].is_error() && d[1].message.contains("U+00A0"));
        assert!(d[2].is_error() && d[2].message.contains("missing after 'ForwardURICompat'"));
        assert!(d[3].is_error() && d[3].message.contains("can not be disabled"));
    }

    #[test]
    fn glued_directive_names_are_errors() {
        // corpus 010: "JkLogFile/etc/httpd/logs/mod_jk.log", "JkLogStampFormat\"[%a ..."
        let (_, d) =
            read("JkLogFile/etc/httpd/logs/mod_jk.log\nJkRequestLogFormat\"%w %V %T\"\nJkFoo x\n");
        assert_eq!(lines_of(&d), [1, 2, 3]);
        assert!(d.iter().all(Diagnostic::is_error));
        assert!(d[0].message.contains("after 'JkLogFile'"));
        assert!(d[1].message.contains("after 'JkRequestLogFormat'"));
        assert_eq!(d[0].key, "JkLogFile/etc/httpd/logs/mod_jk.log");
    }

    #[test]
    fn take1_with_extra_words_is_an_error() {
        // corpus 010: "JkShmFile logs/mod_jk.shm JkLogLevel info"
        let (_, d) = read("JkShmFile logs/mod_jk.shm JkLogLevel info\n");
        assert_eq!(lines_of(&d), [1]);
        assert!(d[0].is_error() && d[0].message.contains("takes one argument"));
    }

    #[test]
    fn second_workers_file_is_an_error_and_the_first_stays() {
        // corpus 010 has two JkWorkersFile lines
        let (c, d) = read("JkWorkersFile /a\nJkWorkersFile /b\n");
        assert_eq!(
            c.workers_file.map(|(p, o)| (p, o.line)),
            Some(("/a".into(), 1))
        );
        assert_eq!(lines_of(&d), [2]);
        assert!(d[0].is_error() && d[0].message.contains("only allowed once"));
    }

    #[test]
    fn global_only_directives_in_a_vhost_are_errors() {
        let (c, d) = read(
            "<VirtualHost *>\nJkWorkersFile /w\nJkWorkerProperty a=b\nJkMountCopy All\nJkShmFile x\n</VirtualHost>\n",
        );
        assert!(
            c.workers_file.is_none()
                && c.worker_properties.is_empty()
                && c.mount_copy_all.is_none()
        );
        assert_eq!(lines_of(&d), [2, 3, 4, 5]);
        assert!(d.iter().all(Diagnostic::is_error));
    }

    #[test]
    fn stray_path_line_is_reported() {
        // corpus 007: a file name on a line of its own
        let (_, d) = read("JkLogLevel info\n/etc/httpd/conf.d/mod_jk.conf\n");
        assert_eq!(lines_of(&d), [2]);
        assert!(!d[0].is_error() && d[0].message.contains("not a directive"));
    }

    #[test]
    fn include_is_reported_with_its_file_name() {
        // corpus 003
        let (_, d) =
            read("Include \"conf/extra/mod_jk/mount-jk.conf\"\nIncludeOptional x/*.conf\n");
        assert_eq!(lines_of(&d), [1, 2]);
        assert!(d[0].message.contains("'conf/extra/mod_jk/mount-jk.conf'"));
        assert_eq!(d[1].key, "IncludeOptional");
    }

    #[test]
    fn ifmodule_blocks_are_read_except_when_mod_jk_is_absent() {
        // corpus 002: <IfModule !mod_jk.c> ... <IfModule mod_jk.c>
        let (c, d) = read(
            "<IfModule !mod_jk.c>\n<Location /x>\nJkMount hidden\n</Location>\n</IfModule>\n\
             <IfModule mod_jk.c>\nJkMount /a w\n</IfModule>\n<IfModule !mod_ssl.c>\nJkMount /b w\n</IfModule>\n",
        );
        let p: Vec<_> = c.mounts.iter().map(|r| r.pattern.as_str()).collect();
        assert_eq!(p, ["/a", "/b"]);
        assert_eq!(lines_of(&d), [1]);
        assert!(!d[0].is_error());
    }

    #[test]
    fn if_section_inside_location_is_read_through() {
        // corpus 011
        let (c, d) = read(
            "<Location /auth>\nAllow from all\n<If \"! -T osenv('X')\">\n    Require valid-user\n</If>\n</Location>\nJkEnvVar eppn\n",
        );
        assert!(c.mounts.is_empty());
        assert_eq!(lines_of(&d), [7], "JkEnvVar is not implemented");
        assert!(!d[0].is_error());
    }

    #[test]
    fn silent_directives_are_silent() {
        // corpus 001, 014
        let (_, d) = read(
            "JkLogFile logs/mod_jk.log\nJkLogLevel info\nJkShmFile logs/jk.shm\nJkWatchdogInterval 60\n\
             JkLogStampFormat \"[%a %b %d %H:%M:%S %Y] \"\nJkRequestLogFormat \"%w %V %T\"\n",
        );
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn unclosed_and_mismatched_sections_are_errors() {
        let (_, d) = read("<VirtualHost *>\n<Location /a>\n</VirtualHost>\n");
        assert_eq!(lines_of(&d), [3]);
        assert!(d[0].message.contains("expected </Location>"));
        let (_, d) = read("<Location /a>\nJkMount w\n");
        assert_eq!(lines_of(&d), [1]);
        assert!(d[0].message.contains("not closed"));
        let (_, d) = read("</Location>\n<Location /a\n</Location>\n");
        assert_eq!(lines_of(&d), [1, 2]);
    }

    #[test]
    fn defines_are_substituted() {
        let (c, d) = read("Define APP /app\nJkMount ${APP}/* w\nJkMount ${NOPE}/x w\n");
        assert_eq!(c.mounts[0].pattern, "/app/*");
        assert_eq!(
            lines_of(&d),
            [3, 3],
            "undefined variable, then not starting with /"
        );
        let mut diags = Diagnostics::default();
        let env = |n: &str| (n == "ROOT").then(|| "/srv".to_string());
        let c = read_apache_conf_env(&Arc::from("x"), b"JkMount ${ROOT}/* w\n", &env, &mut diags);
        assert_eq!(c.mounts[0].pattern, "/srv/*");
    }

    #[test]
    fn repeated_mount_key_replaces_in_place() {
        let (c, d) = read("JkMount /a w1\nJkMount /b w2\nJkMount /a w3\nJkUnMount /a w4\n");
        assert_eq!(
            mounts(&c),
            [
                ("/a".into(), "w3", None),
                ("/b".into(), "w2", None),
                ("!/a".into(), "w4", None)
            ]
        );
        assert_eq!(c.mounts[0].origin.line, 3);
        assert_eq!(lines_of(&d), [3]);
    }

    #[test]
    fn same_key_in_different_servers_is_not_a_duplicate() {
        let (c, d) = read("JkMount /a w1\n<VirtualHost *>\nJkMount /a w2\n</VirtualHost>\n");
        assert_eq!(c.mounts.len(), 2);
        assert!(d.is_empty());
    }

    #[test]
    fn mount_extensions_are_parsed() {
        let (c, _) = read("JkMount /a \"lb;reply_timeout=100;stateless=1\"\n");
        assert_eq!(c.mounts[0].worker, "lb");
        assert_eq!(c.mounts[0].extensions.reply_timeout, 100);
        assert!(c.mounts[0].extensions.stateless);
    }

    #[test]
    fn mount_copy_and_server_maps() {
        let (c, d) = read(
            "JkMount /m/* main\nJkMount /shared main\nJkMountFile /main.properties\nJkMountCopy All\n\
             <VirtualHost *:1>\nServerName own\nJkMount /shared vh\n</VirtualHost>\n\
             <VirtualHost *:2>\nServerName off\nJkMountCopy Off\nJkMount /o off\n</VirtualHost>\n\
             <VirtualHost *:3>\nServerName empty\n</VirtualHost>\n\
             <VirtualHost *:4>\nServerName emptyoff\nJkMountCopy off\nJkMountFileReload 5\n</VirtualHost>\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let servers = c.servers();
        assert_eq!(servers.len(), 5);
        let main = &servers[0];
        assert_eq!(
            (main.kind, main.rules.len(), main.mount_file_reload),
            (MapKind::Own, 2, 60)
        );
        assert!(main.includes_worker_mounts());
        let own = &servers[1];
        let got: Vec<_> = own
            .rules
            .iter()
            .map(|r| (r.pattern.as_str(), r.worker.as_str()))
            .collect();
        assert_eq!(got, [("/shared", "vh"), ("/m/*", "main")]);
        assert_eq!(
            own.mount_file.as_ref().map(|(f, _)| f.as_str()),
            Some("/main.properties")
        );
        assert!(!own.includes_worker_mounts());
        let off = &servers[2];
        assert_eq!(off.rules.len(), 1);
        assert_eq!(off.mount_file, None);
        let empty = &servers[3];
        assert_eq!(empty.kind, MapKind::SharesMain);
        assert!(empty.includes_worker_mounts());
        let emptyoff = &servers[4];
        assert_eq!(
            (emptyoff.kind, emptyoff.mount_file_reload),
            (MapKind::NoMap, 5)
        );
    }

    #[test]
    fn mount_copy_on_in_main_server_is_a_warning_and_bad_values_errors() {
        let (c, d) = read(
            "JkMountCopy On\nJkMountCopy maybe\n<VirtualHost *>\nJkMountCopy on\n</VirtualHost>\n",
        );
        assert_eq!(lines_of(&d), [1, 2]);
        assert!(!d[0].is_error() && d[1].is_error());
        assert_eq!(
            c.virtual_hosts[0].jk.mount_copy.as_ref().map(|(b, _)| *b),
            Some(true)
        );
        let s = c.servers();
        assert_eq!(s[1].kind, MapKind::SharesMain);
    }

    #[test]
    fn second_mount_file_in_a_server_replaces_with_a_warning() {
        let (c, d) = read(
            "JkMountFile /a\nJkMountFile /b\n<VirtualHost *>\nJkMountFile /c\n</VirtualHost>\n",
        );
        let files: Vec<_> = c
            .mount_files
            .iter()
            .map(|(f, o)| (f.as_str(), o.line))
            .collect();
        assert_eq!(files, [("/b", 2), ("/c", 4)]);
        assert_eq!(lines_of(&d), [2]);
    }

    #[test]
    fn extract_ssl_is_a_flag() {
        let (_, d) = read("JkExtractSSL maybe\nJkExtractSSL Off\n");
        assert_eq!(lines_of(&d), [1, 2]);
        assert!(d[0].is_error() && !d[1].is_error());
    }

    #[test]
    fn corpus_files_do_not_panic_and_read_sensibly() {
        let dir = std::path::Path::new("/work/shared/corpus/modjk/httpd");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let mut d = Diagnostics::default();
            let Ok(c) = read_apache_conf_file(&path, &|_| None, &mut d) else {
                continue;
            };
            let name = path.display().to_string();
            for item in &d.items {
                assert!(item.origin.line > 0, "{name}: {item}");
            }
            let _ = c.servers();
            if name.ends_with("009-ideaesb-vhosts-continuation.properties") {
                assert_eq!(c.virtual_hosts.len(), 7);
                assert_eq!(c.virtual_hosts[0].server_aliases.len(), 14);
                assert_eq!(c.mounts.len(), 52);
                assert!(c.mounts.iter().all(|r| r.vhost.is_some()));
                assert!(d.items.is_empty(), "{:?}", d.items);
            }
            if name.ends_with("014-ermax81-debian-mounts.properties") {
                assert_eq!(c.mounts.len(), 8);
                assert!(d.items.is_empty(), "{:?}", d.items);
            }
        }
    }
}
