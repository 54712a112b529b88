//! The httpd directives that decide what jkd serves from disk and what it redirects: `DocumentRoot` (core), `Alias`, `Redirect`, `RedirectMatch` and their spellings (mod_alias), `DirectoryIndex` (mod_dir), read for the main server.
//!
//! Virtual hosts are not told apart here: a `<VirtualHost>`'s own settings are
//! reported and not used, unless they repeat the main server's. `AliasMatch`,
//! `ScriptAlias` and the other regex or CGI forms are reported as not done.

use std::path::PathBuf;

use super::Reader;
use super::lexer::words;
use crate::config::diag::Origin;
use crate::config::static_files::{Alias, Redirect, RedirectMatcher};

/// Whether `name` (any case) is one of the directives this module reads.
pub(super) fn is_static_directive(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "documentroot"
            | "alias"
            | "aliasmatch"
            | "scriptalias"
            | "scriptaliasmatch"
            | "directoryindex"
            | "redirect"
            | "redirectmatch"
            | "redirecttemp"
            | "redirectpermanent"
    )
}

impl Reader<'_> {
    pub(super) fn static_directive(&mut self, name: &str, rest: &str, origin: Origin) {
        let args = words(rest);
        let lower = name.to_ascii_lowercase();
        if lower == "directoryindex" {
            self.directory_index(name, &args, origin);
            return;
        }
        if let Some(section) = self.dir_section().map(|s| s.name().to_string()) {
            if lower.starts_with("redirect") {
                // Inside <Location> or <Directory>, Redirect takes its path from the
                // section; jkd does not read sections as paths.
                self.diags.warning(
                    origin,
                    name,
                    format!("{name} inside <{section}> is not used: jkd reads redirects of the main server only"),
                );
            } else {
                self.diags.error(
                    origin,
                    name,
                    format!("{name} not allowed in <{section}> context (httpd refuses to start)"),
                );
            }
            return;
        }
        match lower.as_str() {
            "documentroot" => self.document_root(name, &args, origin),
            "alias" => self.alias(name, &args, origin),
            "aliasmatch" | "scriptalias" | "scriptaliasmatch" => self.diags.warning(
                origin,
                name,
                format!("{name} is not done by jkd: the URIs it names are answered 404 unless a mount rule forwards them"),
            ),
            _ => self.redirect(name, &lower, &args, origin),
        }
    }

    /// A setting of a `<VirtualHost>`: reported (jkd serves the main server's files to
    /// every host). True when it was inside one.
    fn in_virtual_host(&mut self, name: &str, origin: &Origin) -> bool {
        if self.vhost_index().is_none() {
            return false;
        }
        self.diags.warning(
            origin.clone(),
            name,
            format!("{name} inside <VirtualHost> is not used: jkd serves files and redirects of the main server to every host"),
        );
        true
    }

    fn document_root(&mut self, name: &str, args: &[String], origin: Origin) {
        let [dir] = args else {
            self.diags.error(
                origin,
                name,
                "DocumentRoot takes one argument, the directory (httpd refuses to start)",
            );
            return;
        };
        if self.vhost_index().is_some() {
            // A virtual host repeating the main server's root changes nothing.
            let resolved = match &self.out.server_root {
                Some(root) if !dir.starts_with('/') => {
                    format!("{}/{}", root.trim_end_matches('/'), dir)
                }
                _ => dir.clone(),
            };
            let same_as_main = self
                .out
                .static_files
                .document_root
                .as_ref()
                .is_some_and(|(root, _)| root == &PathBuf::from(resolved));
            if !same_as_main {
                self.in_virtual_host(name, &origin);
            }
            return;
        }
        let path = self.server_relative(dir, &origin);
        self.out.static_files.document_root = Some((PathBuf::from(path), origin));
    }

    fn alias(&mut self, name: &str, args: &[String], origin: Origin) {
        let [url_path, dir] = args else {
            self.diags.error(
                origin,
                name,
                "Alias takes two arguments, a URL path and a directory or file (httpd refuses to start)",
            );
            return;
        };
        if self.in_virtual_host(name, &origin) {
            return;
        }
        let directory = PathBuf::from(self.server_relative(dir, &origin));
        self.out.static_files.aliases.push(Alias {
            url_path: url_path.clone(),
            directory,
            origin,
        });
    }

    fn directory_index(&mut self, name: &str, args: &[String], origin: Origin) {
        if args.is_empty() {
            self.diags.error(
                origin,
                name,
                "DirectoryIndex needs at least one file name (httpd refuses to start)",
            );
            return;
        }
        if self.in_virtual_host(name, &origin) {
            return;
        }
        if let Some(section) = self.dir_section().map(|s| s.name().to_string()) {
            self.diags.warning(
                origin.clone(),
                name,
                format!("DirectoryIndex inside <{section}> applies to every directory jkd serves (jkd does not read sections as paths)"),
            );
        }
        if args.len() == 1 && args.iter().any(|a| a.eq_ignore_ascii_case("disabled")) {
            self.out.static_files.directory_index.clear();
            return;
        }
        for a in args {
            if a.contains('/') {
                // httpd would look the URL up (a script, another directory); jkd only
                // opens files inside the directory.
                self.diags.warning(
                    origin.clone(),
                    name,
                    format!("DirectoryIndex '{a}' is a URL; jkd only tries file names inside the requested directory, so it is skipped"),
                );
            }
        }
        // mod_dir: a later DirectoryIndex replaces the list.
        self.out.static_files.directory_index =
            args.iter().filter(|a| !a.contains('/')).cloned().collect();
    }

    fn redirect(&mut self, name: &str, lower: &str, args: &[String], origin: Origin) {
        let is_match = lower == "redirectmatch";
        // RedirectTemp and RedirectPermanent fix the status; Redirect and
        // RedirectMatch take it as an optional first word.
        let (status, rest) = match lower {
            "redirecttemp" => (Some(302), args),
            "redirectpermanent" => (Some(301), args),
            _ => match args.split_first() {
                Some((first, tail)) if status_word(first).is_some() => (status_word(first), tail),
                _ => (None, args),
            },
        };
        let status = status.unwrap_or(302);
        let (pattern, target) = match rest {
            [pattern] => (pattern, None),
            [pattern, target] => (pattern, Some(target.clone())),
            _ => {
                self.diags.error(
                    origin,
                    name,
                    format!("{name} takes [status] URL-path [URL] (httpd refuses to start)"),
                );
                return;
            }
        };
        let is_3xx = (300..400).contains(&status);
        match (&target, is_3xx) {
            (None, true) => {
                self.diags.error(
                    origin,
                    name,
                    format!("{name} with status {status} needs a URL to redirect to (httpd refuses to start)"),
                );
                return;
            }
            (Some(_), false) => {
                self.diags.error(
                    origin,
                    name,
                    format!("{name} with status {status} takes no URL (httpd refuses to start: Redirect URL not valid for this status)"),
                );
                return;
            }
            (Some(t), true) if !t.starts_with('/') && !t.contains("://") => {
                self.diags.error(
                    origin,
                    name,
                    format!("'{t}' is neither a URL nor a path starting with / (httpd refuses to start: Redirect to non-URL)"),
                );
                return;
            }
            _ => {}
        }
        if self.in_virtual_host(name, &origin) {
            return;
        }
        let matcher = if is_match {
            match regex::Regex::new(pattern) {
                Ok(r) => RedirectMatcher::Regex(r),
                Err(e) => {
                    // httpd's PCRE may accept what the regex crate does not
                    // (look-around, back-references).
                    self.diags.warning(
                        origin,
                        name,
                        format!("the regular expression '{pattern}' is not used: jkd cannot read it ({e})"),
                    );
                    return;
                }
            }
        } else {
            RedirectMatcher::Prefix(pattern.clone())
        };
        self.out.static_files.redirects.push(Redirect {
            matcher,
            status,
            target,
            origin,
        });
    }
}

/// The status a first word of `Redirect` names: mod_alias's keywords or a number.
fn status_word(word: &str) -> Option<u16> {
    match word.to_ascii_lowercase().as_str() {
        "permanent" => Some(301),
        "temp" => Some(302),
        "seeother" => Some(303),
        "gone" => Some(410),
        w if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) => {
            w.parse().ok().filter(|s| (100..600).contains(s))
        }
        _ => None,
    }
}
