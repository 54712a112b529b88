//! What jkd serves itself instead of forwarding, as httpd's core, mod_alias and mod_dir did in front of mod_jk: the document root, `Alias` directories, `DirectoryIndex` names and `Redirect`/`RedirectMatch` rules, and how a URL path matches them.

use std::path::PathBuf;

use super::diag::Origin;

/// httpd's `DirectoryIndex` when none is configured (mod_dir's default).
pub const DEFAULT_DIRECTORY_INDEX: &str = "index.html";

/// The static-file settings of the main server.
#[derive(Clone, Debug)]
pub struct StaticFiles {
    /// `--document-root` or `DocumentRoot`: URIs no mount rule maps are looked up
    /// here. `None`: they are answered 404, as jkd always did.
    pub document_root: Option<(PathBuf, Origin)>,
    /// `Alias URL-PATH DIR`, in configuration order (the first match wins).
    pub aliases: Vec<Alias>,
    /// Names tried, in order, for a request that names a directory; empty after
    /// `DirectoryIndex disabled`.
    pub directory_index: Vec<String>,
    /// `Redirect` and `RedirectMatch`, in configuration order (the first match wins).
    pub redirects: Vec<Redirect>,
}

impl Default for StaticFiles {
    fn default() -> Self {
        StaticFiles {
            document_root: None,
            aliases: Vec::new(),
            directory_index: vec![DEFAULT_DIRECTORY_INDEX.to_string()],
            redirects: Vec::new(),
        }
    }
}

impl StaticFiles {
    /// Whether anything at all is served from disk (an alias or a document root).
    pub fn serves_files(&self) -> bool {
        self.document_root.is_some() || !self.aliases.is_empty()
    }

    /// The first redirect that matches `path` (the request path as sent, still
    /// percent-encoded) and what it answers.
    pub fn redirect_for(&self, path: &str, query: Option<&str>) -> Option<RedirectAnswer> {
        self.redirects.iter().find_map(|r| r.answer(path, query))
    }

    /// The directory a decoded, normalised path is served from and the path's
    /// segments below it: the first matching `Alias`, else the document root.
    pub fn directory_for<'p>(&self, path: &'p str) -> Option<(&PathBuf, &'p str)> {
        for alias in &self.aliases {
            if let Some(rest) = prefix_rest(&alias.url_path, path) {
                return Some((&alias.directory, rest));
            }
        }
        self.document_root.as_ref().map(|(root, _)| (root, path))
    }
}

/// One `Alias URL-PATH DIR`.
#[derive(Clone, Debug)]
pub struct Alias {
    pub url_path: String,
    pub directory: PathBuf,
    pub origin: Origin,
}

/// What a redirect rule matches.
#[derive(Clone, Debug)]
pub enum RedirectMatcher {
    /// `Redirect`: a URL path matching whole segments; the rest of the request path
    /// (and its query) is appended to the target.
    Prefix(String),
    /// `RedirectMatch`: a regular expression searched in the path; `$0`..`$9` in the
    /// target are its groups.
    Regex(regex::Regex),
}

/// One `Redirect` or `RedirectMatch` line.
#[derive(Clone, Debug)]
pub struct Redirect {
    pub matcher: RedirectMatcher,
    /// 3xx with a target, or another status (410 `gone`, ...) without one.
    pub status: u16,
    pub target: Option<String>,
    pub origin: Origin,
}

/// The answer of a matching redirect rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectAnswer {
    pub status: u16,
    /// The `Location`, for a 3xx.
    pub location: Option<String>,
}

impl Redirect {
    fn answer(&self, path: &str, query: Option<&str>) -> Option<RedirectAnswer> {
        let location = match &self.matcher {
            RedirectMatcher::Prefix(prefix) => {
                let rest = prefix_rest(prefix, path)?;
                self.target.as_ref().map(|target| {
                    let mut location = format!("{target}{rest}");
                    // mod_alias carries the query over unless the target has its own.
                    if let Some(q) = query
                        && !target.contains('?')
                    {
                        location.push('?');
                        location.push_str(q);
                    }
                    location
                })
            }
            RedirectMatcher::Regex(regex) => {
                let captures = regex.captures(path)?;
                self.target
                    .as_ref()
                    .map(|target| substitute_groups(target, &captures))
            }
        };
        Some(RedirectAnswer {
            status: self.status,
            location,
        })
    }
}

/// `$0`..`$9` replaced by the groups of a match (an unmatched group is empty);
/// `\$` and `\\` stand for themselves, as in httpd's substitutions.
pub fn substitute_groups(template: &str, captures: &regex::Captures<'_>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('$') | Some('\\')) => {
                out.extend(chars.next());
            }
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let group = chars
                    .next()
                    .and_then(|d| d.to_digit(10))
                    .and_then(|n| captures.get(n as usize));
                out.push_str(group.map(|m| m.as_str()).unwrap_or(""));
            }
            _ => out.push(c),
        }
    }
    out
}

/// The rest of `path` after `prefix` when the prefix ends on a segment boundary
/// (`/docs` matches `/docs` and `/docs/a`, not `/docsx`; `/docs/` needs the slash),
/// as mod_alias matches URL paths.
pub fn prefix_rest<'p>(prefix: &str, path: &'p str) -> Option<&'p str> {
    let rest = path.strip_prefix(prefix)?;
    if prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/') {
        Some(rest)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect(matcher: RedirectMatcher, status: u16, target: Option<&str>) -> Redirect {
        Redirect {
            matcher,
            status,
            target: target.map(str::to_string),
            origin: Origin::new("t", 1),
        }
    }

    #[test]
    fn a_prefix_matches_whole_segments_only() {
        assert_eq!(prefix_rest("/docs", "/docs"), Some(""));
        assert_eq!(prefix_rest("/docs", "/docs/a"), Some("/a"));
        assert_eq!(prefix_rest("/docs", "/docsx"), None);
        assert_eq!(prefix_rest("/docs/", "/docs"), None);
        assert_eq!(prefix_rest("/docs/", "/docs/a"), Some("a"));
        assert_eq!(prefix_rest("/", "/anything"), Some("anything"));
    }

    #[test]
    fn redirect_appends_the_rest_and_the_query() {
        let r = redirect(
            RedirectMatcher::Prefix("/old".into()),
            301,
            Some("http://new.example/n"),
        );
        let a = r.answer("/old/x/y", Some("a=1")).unwrap();
        assert_eq!(a.status, 301);
        assert_eq!(a.location.as_deref(), Some("http://new.example/n/x/y?a=1"));
        assert!(r.answer("/older", None).is_none());
        let with_query = redirect(RedirectMatcher::Prefix("/old".into()), 302, Some("/n?k=v"));
        assert_eq!(
            with_query
                .answer("/old", Some("a=1"))
                .unwrap()
                .location
                .as_deref(),
            Some("/n?k=v")
        );
    }

    #[test]
    fn redirect_match_substitutes_groups() {
        let r = redirect(
            RedirectMatcher::Regex(regex::Regex::new(r"^/img/(.*)\.gif$").unwrap()),
            302,
            Some("/images/$1.png?was=\\$0"),
        );
        let a = r.answer("/img/logo.gif", None).unwrap();
        assert_eq!(a.location.as_deref(), Some("/images/logo.png?was=$0"));
        assert!(r.answer("/img/logo.png", None).is_none());
        let root = redirect(
            RedirectMatcher::Regex(regex::Regex::new("^/$").unwrap()),
            302,
            Some("/jw/"),
        );
        assert_eq!(
            root.answer("/", Some("q=1")).unwrap().location.as_deref(),
            Some("/jw/")
        );
        assert!(root.answer("/x", None).is_none());
    }

    #[test]
    fn gone_has_no_location() {
        let r = redirect(RedirectMatcher::Prefix("/old".into()), 410, None);
        assert_eq!(
            r.answer("/old/a", None),
            Some(RedirectAnswer {
                status: 410,
                location: None
            })
        );
    }

    #[test]
    fn the_first_alias_wins_over_the_document_root() {
        let site = StaticFiles {
            document_root: Some(("/srv/www".into(), Origin::new("t", 1))),
            aliases: vec![
                Alias {
                    url_path: "/static".into(),
                    directory: "/srv/static".into(),
                    origin: Origin::new("t", 2),
                },
                Alias {
                    url_path: "/static/x".into(),
                    directory: "/srv/never".into(),
                    origin: Origin::new("t", 3),
                },
            ],
            ..StaticFiles::default()
        };
        let (dir, rest) = site.directory_for("/static/x/a.css").unwrap();
        assert_eq!((dir.to_str(), rest), (Some("/srv/static"), "/x/a.css"));
        let (dir, rest) = site.directory_for("/staticx").unwrap();
        assert_eq!((dir.to_str(), rest), (Some("/srv/www"), "/staticx"));
        assert!(StaticFiles::default().directory_for("/a").is_none());
    }
}
