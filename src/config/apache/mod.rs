//! The `Jk*` lines of an httpd configuration file, read with httpd's line syntax and mod_jk's directive rules.
//!
//! Only what jkd needs is kept: the workers file, mount files, `JkMount` /
//! `JkUnMount` rules with the virtual host they belong to, `JkWorkerProperty` lines,
//! `JkMountCopy`, `JkExtractSSL` and the SSL forwarding `JkOptions`, the virtual
//! hosts themselves, `Listen` lines, and mod_ssl's server directives (`SSLEngine`,
//! `SSLCertificateFile`, `SSLCertificateKeyFile`, `SSLCertificateChainFile`,
//! `SSLCACertificateFile`, `SSLVerifyClient`, `SSLProtocol`; `SSLCipherSuite` and
//! the session, stapling and compression settings are checked and accepted), from
//! which the listeners and their TLS settings are built, the access rules of
//! `<Location>` sections (`Require`, `Order`/`Allow`/`Deny`, see [`access`]), from
//! which the status manager's allow-list is built, what httpd itself served in
//! front of mod_jk: `DocumentRoot`, `Alias`, `DirectoryIndex`, `Redirect` and
//! `RedirectMatch` (`static_directives`), and the compressed response types of
//! mod_filter's `AddOutputFilterByType` with mod_deflate's `DEFLATE` and
//! mod_brotli's `BROTLI_COMPRESS` (see [`filters`]). mod_jk and mod_ssl count as
//! loaded for `<IfModule>`; the other TLS modules (mod_gnutls, mod_nss) do not, since
//! jkd's TLS stands in for mod_ssl's. Everything else httpd reads is passed over, but
//! lines httpd, mod_ssl or mod_jk would refuse are reported.
//!
//! Line syntax is httpd 2.4's (`server/util.c`: `ap_cfg_getline`, `cfg_trim_line`,
//! `ap_getword_conf`, `ap_resolve_env`; `server/config.c`: `ap_build_config_sub`,
//! `invoke_cmd`, `ap_soak_end_container`); directive rules are mod_jk 1.2.48's
//! (`mod_jk.c`: `jk_mount_context`, `jk_unmount_context`, `jk_set_worker_file`,
//! `jk_set_mount_file`, `jk_set_mountcopy`, `jk_set_options`, `merge_jk_config`,
//! `jk_post_config`); `Listen` and mod_ssl rules are httpd 2.4's (`server/listen.c`,
//! `modules/ssl/ssl_engine_config.c`).
//!
//! Conventions: an *error* is something on which httpd or mod_jk refuses to start; a
//! *warning* is something that works differently from what it seems to say, or that
//! jkd does not do. Directives that only concern mod_jk's logging, shared memory and
//! watchdog thread are accepted silently (their arguments are still checked), since
//! jkd's behaviour towards clients does not depend on them. Diagnostics name the line
//! where a directive starts (httpd names the last line of a continued directive).

mod access;
#[cfg(test)]
mod access_tests;
mod directives;
mod filters;
mod lexer;
mod listeners;
mod mount_directives;
mod ssl;
mod static_directives;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;
mod vhosts;

use std::collections::HashMap;
use std::sync::Arc;

use super::diag::{Diagnostics, Origin};
use super::mounts::MountRule;
use super::props::Env;
use super::tls::{Listener, SslForwarding};

use lexer::{LogicalLine, is_c_space, logical_lines, next_word, resolve_vars};
use mount_directives::MountKey;
use vhosts::{Section, Skipped};

pub use ssl::{Listen, ServerSsl, SslEngine};
pub use vhosts::{MapKind, ServerMap};

/// mod_jk's default `JkMountFileReload` in seconds (`JK_URIMAP_DEF_RELOAD`).
pub const DEFAULT_MOUNT_FILE_RELOAD: i32 = 60;

/// Where one server's `JkOptions` lines turn an option on (`+X` or `X`) and off
/// (`-X`). mod_jk applies the removals after the additions, whatever the order of
/// the lines, so a removal always wins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JkOptionSetting {
    pub added: Option<Origin>,
    pub removed: Option<Origin>,
}

impl JkOptionSetting {
    /// The option's value in this server, given what it is without this server's
    /// lines (mod_jk's default for the main server, the main server's value for a
    /// virtual host).
    pub fn applied_to(&self, inherited: bool) -> bool {
        (inherited || self.added.is_some()) && self.removed.is_none()
    }
}

/// Per-server mod_jk settings (`JkMountFile`, `JkMountFileReload`, `JkMountCopy`,
/// `JkExtractSSL` and the SSL forwarding `JkOptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerJk {
    /// The effective `JkMountFile` (the last one in the server), resolved against
    /// the `ServerRoot` in effect at its line.
    pub mount_file: Option<(String, Origin)>,
    /// `JkMountFileReload` seconds (negative values become 0, as in mod_jk).
    pub mount_file_reload: Option<(i32, Origin)>,
    /// `JkMountCopy On` / `Off`.
    pub mount_copy: Option<(bool, Origin)>,
    /// `JkExtractSSL On` / `Off`.
    pub extract_ssl: Option<(bool, Origin)>,
    /// `JkOptions ForwardSSLCertChain`.
    pub forward_cert_chain: JkOptionSetting,
    /// `JkOptions ForwardKeySize`.
    pub forward_key_size: JkOptionSetting,
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
    /// The mod_ssl settings written in this block (see [`ServerSsl::inherit`]).
    pub ssl: ServerSsl,
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
    /// `Listen` lines in file order.
    pub listens: Vec<Listen>,
    /// The main server's mod_ssl settings.
    pub main_ssl: ServerSsl,
    /// One listener per `Listen`, TLS when an `SSLEngine on` server is bound to it
    /// (rules: [`ApacheJk::build_listeners`]).
    pub listeners: Vec<Listener>,
    /// The main server's `JkExtractSSL` and SSL forwarding `JkOptions`.
    pub ssl_forwarding: SslForwarding,
    /// The main server's `DocumentRoot`, `Alias`, `DirectoryIndex`, `Redirect` and
    /// `RedirectMatch` (see `static_directives`).
    pub static_files: crate::config::static_files::StaticFiles,
    /// `<Location>` / `<LocationMatch>` sections (of any server) with access rules
    /// jkd honours, in file order (see [`crate::config::access`]).
    pub locations: Vec<crate::config::access::LocationAccess>,
    /// `AddOutputFilterByType DEFLATE|BROTLI_COMPRESS` types (of any server or
    /// section: jkd compresses alike everywhere; see [`filters`]).
    pub compression: crate::config::compress::Compression,
    /// The main server's `JkLogFile`, resolved against the `ServerRoot`.
    pub log_file: Option<(String, Origin)>,
    /// The main server's `JkRequestLogFormat`.
    pub request_log_format: Option<(String, Origin)>,
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
    /// The `<Location>` sections open now, innermost last.
    locations: Vec<access::LocationBuilder>,
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
        locations: Vec::new(),
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
        self.out.ssl_forwarding = self.out.main_ssl_forwarding(self.diags);
        self.out.listeners = self.out.build_listeners(self.diags);
        self.out
    }
}
