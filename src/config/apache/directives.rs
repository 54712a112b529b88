//! The directives jkd reads: mod_jk's `Jk*` directives (their arguments, where each is
//! allowed, what each does) and the few httpd directives that matter to them
//! (`ServerRoot`, `Define`, `ServerName`, `Include`, `Timeout`, ...).

use super::Reader;
use super::lexer::words;
use crate::config::diag::Origin;
use crate::config::mounts;

/// How httpd hands a directive its arguments.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Args {
    Take1,
    Take12,
    Flag,
    Raw,
}

/// What jkd does with a mod_jk directive.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum JkKind {
    Mount,
    UnMount,
    WorkersFile,
    MountFile,
    MountFileReload,
    MountCopy,
    WorkerProperty,
    Options,
    ExtractSsl,
    /// `JkLogFile`: where mod_jk writes (jkd: the request log's file).
    LogFile,
    /// `JkRequestLogFormat`: one line per request in mod_jk's log (jkd: the access log).
    RequestLogFormat,
    /// No effect on what clients see in jkd: accepted silently.
    Silent,
    /// Changes mod_jk's behaviour in a way jkd does not reproduce: a warning.
    Unsupported,
}

pub(super) struct JkDirective {
    pub(super) name: &'static str,
    args: Args,
    /// `ap_check_cmd_context(cmd, GLOBAL_ONLY)`: not in a virtual host, `<Limit>`
    /// or directory context.
    global_only: bool,
    pub(super) kind: JkKind,
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
    jk("JkLogFile", Args::Take1, false, JkKind::LogFile),
    jk("JkShmFile", Args::Take1, true, JkKind::Silent),
    jk("JkShmSize", Args::Take1, true, JkKind::Silent),
    jk("JkLogLevel", Args::Take1, false, JkKind::Silent),
    jk("JkLogStampFormat", Args::Take1, false, JkKind::Silent),
    jk(
        "JkRequestLogFormat",
        Args::Take1,
        false,
        JkKind::RequestLogFormat,
    ),
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
    jk("JkExtractSSL", Args::Flag, false, JkKind::ExtractSsl),
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

impl Reader<'_> {
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

    pub(super) fn other_directive(&mut self, name: &str, rest: &str, origin: Origin) {
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
                                "ServerRoot comes after relative file names (lines {}): \
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
            "require" | "order" | "allow" | "deny" | "satisfy" | "authtype" | "authuserfile"
            | "authgroupfile" | "authbasicprovider" | "authdigestprovider" => {
                self.access_directive(name, rest, origin)
            }
            "listen" => self.listen(rest, origin),
            _ if super::filters::is_filter_directive(name) => {
                self.filter_directive(name, &args(), origin)
            }
            _ if super::ssl::is_ssl_directive(name) => self.ssl_directive(name, rest, origin),
            _ if super::static_directives::is_static_directive(name) => {
                self.static_directive(name, rest, origin)
            }
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

    pub(super) fn jk_directive(&mut self, name: &str, rest: &str, origin: Origin) {
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
        if !self.check_args(d.name, d.args, &args, &origin) {
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
            JkKind::Mount | JkKind::UnMount => {
                // `JkMount WORKER` takes the section's path; with a path of its own
                // the section does not necessarily cover it.
                if d.kind == JkKind::Mount && args.len() == 1 {
                    self.note_location_mount(&args);
                }
                self.mount(d, &args, origin)
            }
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
            JkKind::ExtractSsl => {
                self.server_mut().extract_ssl = Some((first.eq_ignore_ascii_case("on"), origin));
            }
            JkKind::LogFile | JkKind::RequestLogFormat => self.request_log(d, &first, origin),
            JkKind::Silent => {}
            JkKind::Unsupported => self.diags.warning(
                origin,
                d.name,
                format!("jkd does not implement {}; the line is ignored", d.name),
            ),
        }
    }

    /// `JkLogFile` and `JkRequestLogFormat` of the main server: with both, jkd writes
    /// its access log there in that format (mod_jk's request log); in a virtual host
    /// they are not read.
    fn request_log(&mut self, d: &JkDirective, value: &str, origin: Origin) {
        if self.vhost_index().is_some() {
            self.diags.warning(
                origin,
                d.name,
                format!(
                    "{} inside <VirtualHost> is not read: jkd has one request log",
                    d.name
                ),
            );
            return;
        }
        if d.kind == JkKind::LogFile {
            if value.starts_with('|') {
                self.diags.warning(
                    origin,
                    d.name,
                    "a piped JkLogFile is not run by jkd: give --access-log FILE|- instead",
                );
                return;
            }
            // Resolved without the relative-path warning: the file matters only with a
            // JkRequestLogFormat (then jkd's config says where it writes).
            let path = match &self.out.server_root {
                Some(root) if !value.starts_with('/') => {
                    format!("{}/{}", root.trim_end_matches('/'), value)
                }
                _ => value.to_string(),
            };
            self.out.log_file = Some((path, origin));
        } else {
            self.out.request_log_format = Some((value.to_string(), origin));
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
    pub(super) fn check_args(
        &mut self,
        name: &str,
        kind: Args,
        args: &[String],
        origin: &Origin,
    ) -> bool {
        let first_empty = args.first().is_none_or(String::is_empty);
        let problem = match kind {
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
            name,
            format!("{name} {problem}, got {got}{hint} (httpd refuses to start)"),
        );
        false
    }

    /// `ap_server_root_relative`, with the ServerRoot known at this line.
    pub(super) fn server_relative(&mut self, path: &str, origin: &Origin) -> String {
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

    /// `jk_set_options`: every option must be known; the URI forwarding options
    /// cannot be negated. `ForwardSSLCertChain` and `ForwardKeySize` are recorded
    /// for the server; for the other options jkd behaves as mod_jk's defaults
    /// (`+ForwardURIProxy`), so anything else is a warning.
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
                "ForwardSSLCertChain" | "ForwardKeySize" => {
                    let server = self.server_mut();
                    let setting = if *known == "ForwardKeySize" {
                        &mut server.forward_key_size
                    } else {
                        &mut server.forward_cert_chain
                    };
                    if negated {
                        setting.removed = Some(origin.clone());
                    } else {
                        setting.added = Some(origin.clone());
                    }
                    true
                }
                "ForwardURIProxy" => !negated,
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
                         default (+ForwardURIProxy)"
                    ),
                );
            }
        }
    }
}
