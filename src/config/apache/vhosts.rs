//! Sections: `<VirtualHost>`, `<Location>` and the other directory sections, sections
//! whose content is skipped, and each server's view of the mounts after mod_jk's
//! `JkMountCopy` merge ([`ServerMap`]).

use super::lexer::{is_c_space, next_word, words};
use super::{ApacheJk, DEFAULT_MOUNT_FILE_RELOAD, Reader, ServerJk, VirtualHost};
use crate::config::diag::Origin;
use crate::config::mounts::MountRule;

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

/// A section that is open while the file is read.
#[derive(Clone, Debug)]
pub(super) enum Section {
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
    pub(super) fn name(&self) -> &str {
        match self {
            Section::VirtualHost { name, .. }
            | Section::Dir { name, .. }
            | Section::Limit { name }
            | Section::Plain { name } => name,
        }
    }
}

/// A section whose content is not read (as `ap_soak_end_container`).
pub(super) struct Skipped {
    /// Open section names inside it, outermost first.
    pub(super) names: Vec<String>,
    why: &'static str,
    pub(super) origin: Origin,
    saw_jk: bool,
}

impl Reader<'_> {
    /// Inside a skipped section: only nesting matters.
    pub(super) fn soak(&mut self, text: &str, origin: Origin) {
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

    pub(super) fn open_section(&mut self, word: &str, rest: &str, origin: Origin) {
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
                let is_ssl = matches!(module.as_str(), "mod_ssl.c" | "ssl_module");
                // Modules doing mod_ssl's job: jkd's TLS stands in for mod_ssl, so these
                // are taken as not loaded (Debian's ports.conf has `Listen 443` under
                // both <IfModule ssl_module> and <IfModule mod_gnutls.c>).
                let is_other_tls = matches!(
                    module.as_str(),
                    "mod_gnutls.c" | "gnutls_module" | "mod_nss.c" | "nss_module"
                );
                let why = if negated && is_jk {
                    Some("the section applies only when mod_jk is not loaded")
                } else if negated && is_ssl {
                    Some("the section applies only when mod_ssl is not loaded")
                } else if !negated && is_other_tls {
                    Some("the section applies only when another TLS module than mod_ssl is loaded")
                } else {
                    None
                };
                if let Some(why) = why {
                    self.skipped = Some(Skipped {
                        names: vec![name],
                        why,
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
        self.sections.push((section, origin.clone()));
        self.access_section_opened(self.sections.len() - 1, &lower, &origin);
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
            ssl: super::ServerSsl::default(),
        });
        Section::VirtualHost {
            name: name.to_string(),
            index: self.out.virtual_hosts.len() - 1,
        }
    }

    pub(super) fn close_section(&mut self, word: &str, origin: Origin) {
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
            self.access_sections_closed();
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
            self.access_sections_closed();
        }
    }
}
