//! `JkMount`, `JkUnMount` and `JkMountCopy`: the mount rules of each server, with
//! mod_jk's replace-in-place of a key mounted twice.

use super::Reader;
use super::directives::{JkDirective, JkKind};
use super::vhosts::Section;
use crate::config::diag::Origin;
use crate::config::mounts::{self, MountRule, RuleSource};

/// A JkMount / JkUnMount key seen in one server, for mod_jk's replace-in-place.
pub(super) struct MountKey {
    pub(super) server: Option<usize>,
    key: String,
    worker: String,
    line: u32,
    pub(super) rules: Vec<usize>,
}

impl Reader<'_> {
    pub(super) fn mount_copy(&mut self, d: &JkDirective, value: &str, origin: Origin) {
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

    /// `jk_mount_context` / `jk_unmount_context`.
    pub(super) fn mount(&mut self, d: &JkDirective, args: &[String], origin: Origin) {
        let dir = self.dir_section().cloned();
        let Some((context, worker)) = self.mount_context_and_worker(d, args, &dir, &origin) else {
            return;
        };
        if !self.check_mount_context(d, &context, &dir, &origin) {
            return;
        }
        if let Some(section) = &dir {
            self.warn_about_section_path(d, section, &origin);
        }
        let key = if d.kind == JkKind::UnMount {
            format!("!{context}")
        } else {
            context
        };
        let rules = mounts::parse_rule(
            &key,
            &worker,
            RuleSource::JkMount,
            origin.clone(),
            self.diags,
        );
        self.record_mount(d, key, worker, rules, &origin);
    }

    /// The context and the worker: both from the line outside a directory section,
    /// the context from the section inside one; `None` (reported) otherwise.
    fn mount_context_and_worker(
        &mut self,
        d: &JkDirective,
        args: &[String],
        dir: &Option<Section>,
        origin: &Origin,
    ) -> Option<(String, String)> {
        let first = args.first().cloned().unwrap_or_default();
        let second = args.get(1).filter(|w| !w.is_empty()).cloned();
        match (second, dir) {
            (Some(w), None) => Some((first, w)),
            (None, Some(Section::Dir { path, .. })) => Some((path.clone(), first)),
            (None, _) => {
                self.diags.error(
                    origin.clone(),
                    d.name,
                    format!(
                        "{} needs a path when not defined in a location: write '{} /path {first}' \
                         (mod_jk refuses to start)",
                        d.name, d.name
                    ),
                );
                None
            }
            (Some(_), Some(section)) => {
                self.diags.error(
                    origin.clone(),
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
                None
            }
        }
    }

    /// mod_jk checks the context before the rule parser strips '-' and '!', so
    /// JkMount cannot disable or exclude (the reference doc §6.1 says JkMount has
    /// the same pattern syntax as uriworkermap files; the source disagrees, and
    /// httpd + mod_jk refuse `JkMount !/x w`: see tests/mount_reference.rs).
    fn check_mount_context(
        &mut self,
        d: &JkDirective,
        context: &str,
        dir: &Option<Section>,
        origin: &Origin,
    ) -> bool {
        if context.starts_with('/') {
            return true;
        }
        let hint = match dir {
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
            origin.clone(),
            d.name,
            format!(
                "{} context should start with /, not '{context}'{hint} (mod_jk refuses to \
                 start)",
                d.name
            ),
        );
        false
    }

    /// A section path that does not mean in mod_jk what it means in httpd: a regular
    /// expression, or a trailing slash that makes the rule exact.
    fn warn_about_section_path(&mut self, d: &JkDirective, section: &Section, origin: &Origin) {
        let Section::Dir { name, path, regex } = section else {
            return;
        };
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

    /// Adds the rules of `key`, or replaces in place those of the same key mounted
    /// earlier in the same server (mod_jk's `jk_map_put`).
    fn record_mount(
        &mut self,
        d: &JkDirective,
        key: String,
        worker: String,
        mut rules: Vec<MountRule>,
        origin: &Origin,
    ) {
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
}
