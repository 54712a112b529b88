//! Access rules inside `<Location>` / `<LocationMatch>` sections, reduced to client address ranges: httpd 2.4's `Require` lines and `<RequireAny>` / `<RequireAll>`, httpd 2.2's `Order` / `Allow` / `Deny` (mod_access_compat), and warnings for what jkd cannot honour (sign-in through httpd, `Require env`/`expr`, host names, `Require not`, `<RequireNone>`).
//!
//! What the ranges are used for, and which section covers which status mount, is
//! [`crate::config::access`]'s business. Rules in other sections (`<Directory>`,
//! `<Files>`, ...) do not concern what jkd forwards and are passed over; rules in a
//! section nested inside a `<Location>` (`<If>`, `<Files>`) are a warning, since
//! jkd does not evaluate the condition.
//!
//! Semantics kept: several `Require` lines let in a client any of them lets in (as
//! httpd's implicit `<RequireAny>`); `<RequireAll>` lets in those all let in. httpd
//! 2.2's `Order deny,allow` (the default) lets in a client not denied or allowed;
//! `Order allow,deny` (and `mutual-failure`) one allowed and not denied. With both
//! styles in one section, a client must pass both (httpd 2.4's default
//! `Satisfy All`). jkd cannot take addresses out of a range, so `Require not ip`
//! and a `Deny from` naming some addresses (not `all`) are ignored with a warning:
//! those clients get in where the other rules let them.

use ipnet::IpNet;

use super::Reader;
use super::lexer::words;
use super::vhosts::Section;
use crate::config::access::{Allow, LocationAccess, loopback, parse_range};
use crate::config::diag::Origin;

/// httpd 2.2's `Order`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    DenyAllow,
    AllowDeny,
}

/// The hosts of the `Allow from` or `Deny from` lines of a section.
#[derive(Clone, Debug, Default)]
struct Hosts {
    written: bool,
    all: bool,
    nets: Vec<IpNet>,
}

/// A `<RequireAny>` / `<RequireAll>` / `<RequireNone>` open in a section (the
/// section itself is an implicit `<RequireAny>`).
#[derive(Debug)]
struct Group {
    /// Its place in the reader's section stack.
    depth: usize,
    kind: GroupKind,
    items: Vec<Allow>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GroupKind {
    Any,
    All,
    /// Not evaluated (a warning at its line).
    None,
}

impl Group {
    fn fold(self) -> Option<Allow> {
        let mut items = self.items.into_iter();
        let first = items.next()?;
        match self.kind {
            GroupKind::Any => Some(items.fold(first, Allow::union)),
            GroupKind::All => Some(items.fold(first, Allow::intersect)),
            GroupKind::None => None,
        }
    }
}

/// A `<Location>` being read.
#[derive(Debug)]
pub(super) struct LocationBuilder {
    /// Its place in the reader's section stack.
    depth: usize,
    path: String,
    regex: bool,
    origin: Origin,
    groups: Vec<Group>,
    order: Option<Order>,
    allow_from: Hosts,
    deny_from: Hosts,
    /// The first access directive, honoured or not.
    rules_at: Option<Origin>,
    mounted: Vec<String>,
}

/// Sign-in providers of httpd's authorization modules.
fn is_user_provider(provider: &str) -> bool {
    matches!(
        provider,
        "valid-user" | "user" | "group" | "file-owner" | "file-group"
    ) || ["ldap-", "dbd-", "dbm-"]
        .iter()
        .any(|p| provider.starts_with(p))
}

const SIGN_IN: &str = "jkd does not sign users in through httpd's modules: the status \
                       manager has its own HTTP Basic sign-in (--manager-users FILE of \
                       `htpasswd -B` lines)";

impl Reader<'_> {
    /// Called when a section opens, after it is pushed at `depth`.
    pub(super) fn access_section_opened(&mut self, depth: usize, lower: &str, origin: &Origin) {
        match lower {
            "location" | "locationmatch" => {
                if let Some((Section::Dir { path, regex, .. }, _)) = self.sections.get(depth) {
                    self.locations.push(LocationBuilder {
                        depth,
                        path: path.clone(),
                        regex: *regex,
                        origin: origin.clone(),
                        groups: vec![Group {
                            depth,
                            kind: GroupKind::Any,
                            items: Vec::new(),
                        }],
                        order: None,
                        allow_from: Hosts::default(),
                        deny_from: Hosts::default(),
                        rules_at: None,
                        mounted: Vec::new(),
                    });
                }
            }
            "requireany" | "requireall" | "requirenone" => {
                let kind = match lower {
                    "requireany" => GroupKind::Any,
                    "requireall" => GroupKind::All,
                    _ => GroupKind::None,
                };
                let name = format!("<{}>", self.sections.get(depth).map_or("", |s| s.0.name()));
                if kind == GroupKind::None && self.current_location(&name, origin) {
                    self.diags.warning(
                        origin.clone(),
                        name.clone(),
                        "jkd does not evaluate <RequireNone>: the lines inside are ignored",
                    );
                }
                if let Some(b) = self.location_mut() {
                    b.rules_at.get_or_insert_with(|| origin.clone());
                    b.groups.push(Group {
                        depth,
                        kind,
                        items: Vec::new(),
                    });
                }
            }
            _ => {}
        }
    }

    /// Called after sections were closed: folds the groups and finishes the
    /// `<Location>` sections that are no longer open.
    pub(super) fn access_sections_closed(&mut self) {
        let open = self.sections.len();
        while let Some(b) = self.locations.last_mut() {
            while b.groups.len() > 1 && b.groups.last().is_some_and(|g| g.depth >= open) {
                if let Some(g) = b.groups.pop()
                    && let Some(allow) = g.fold()
                    && let Some(parent) = b.groups.last_mut()
                {
                    parent.items.push(allow);
                }
            }
            if b.depth < open {
                break;
            }
            if let Some(b) = self.locations.pop() {
                self.finish_location(b);
            }
        }
    }

    /// The `<Location>` a directive at this line belongs to, if it is directly in one
    /// (groups and `<Limit>` do not count as sections in between).
    fn location_mut(&mut self) -> Option<&mut LocationBuilder> {
        let innermost_dir = self
            .sections
            .iter()
            .rposition(|(s, _)| matches!(s, Section::Dir { .. }))?;
        self.locations
            .last_mut()
            .filter(|b| b.depth == innermost_dir)
    }

    /// Whether a directive here belongs to a `<Location>`; a warning when it sits in a
    /// section nested inside one.
    fn current_location(&mut self, name: &str, origin: &Origin) -> bool {
        if self.location_mut().is_some() {
            return true;
        }
        if !self.locations.is_empty() {
            let inner = self.dir_section().map(|s| s.name().to_string());
            self.diags.warning(
                origin.clone(),
                name,
                format!(
                    "{name} inside <{}> within a <Location> is not read: jkd does not \
                     evaluate that section's condition",
                    inner.unwrap_or_default()
                ),
            );
        }
        false
    }

    /// `JkMount WORKER` inside a `<Location>`: the section covers that worker.
    pub(super) fn note_location_mount(&mut self, args: &[String]) {
        if let Some(worker) = args.last().cloned()
            && let Some(b) = self.location_mut()
        {
            b.mounted.push(worker);
        }
    }

    /// `Require`, `Order`, `Allow`, `Deny`, `Satisfy` and the `Auth*` directives.
    pub(super) fn access_directive(&mut self, name: &str, rest: &str, origin: Origin) {
        if !self.current_location(name, &origin) {
            return;
        }
        if self.in_limit() {
            self.diags.warning(
                origin.clone(),
                name,
                format!("{name} inside <Limit> or <LimitExcept>: jkd applies it to every method"),
            );
        }
        if let Some(b) = self.location_mut() {
            b.rules_at.get_or_insert_with(|| origin.clone());
        }
        let args = words(rest);
        match name.to_ascii_lowercase().as_str() {
            "require" => {
                if let Some(allow) = self.require(name, &args, &origin)
                    && let Some(group) = self.location_mut().and_then(|b| b.groups.last_mut())
                {
                    group.items.push(allow);
                }
            }
            "order" => self.order(name, &args, origin),
            "allow" | "deny" => self.allow_deny(name, &args, origin),
            "satisfy" => {
                if args.first().is_some_and(|a| a.eq_ignore_ascii_case("any")) {
                    self.diags.warning(
                        origin,
                        name,
                        format!(
                            "Satisfy Any lets in a client that passes either the address rules \
                             or httpd's sign-in; jkd applies the address rules alone ({SIGN_IN})"
                        ),
                    );
                }
            }
            _ => self
                .diags
                .warning(origin, name, format!("{SIGN_IN}; {name} is ignored")),
        }
    }

    /// One `Require` line: who it lets in, `None` when jkd cannot honour it.
    fn require(&mut self, name: &str, args: &[String], origin: &Origin) -> Option<Allow> {
        let (negated, args) = match args.split_first() {
            Some((first, rest)) if first.eq_ignore_ascii_case("not") => (true, rest),
            _ => (false, args),
        };
        let Some((provider, values)) = args.split_first() else {
            self.diags.error(
                origin.clone(),
                name,
                "Require needs an authorization provider (httpd refuses to start)",
            );
            return None;
        };
        let provider = provider.to_ascii_lowercase();
        if negated {
            self.diags.warning(
                origin.clone(),
                name,
                format!(
                    "jkd cannot take clients out of what the other rules let in: 'Require \
                     not {provider}' is ignored, so those clients get in where the other \
                     rules let them"
                ),
            );
            return None;
        }
        match provider.as_str() {
            "all" => match values.first().map(|v| v.to_ascii_lowercase()).as_deref() {
                Some("granted") => Some(Allow::Everyone),
                Some("denied") => Some(Allow::Only(Vec::new())),
                _ => {
                    self.diags.error(
                        origin.clone(),
                        name,
                        "Require all takes 'granted' or 'denied' (httpd refuses to start)",
                    );
                    None
                }
            },
            "local" => Some(Allow::Only(loopback())),
            "ip" => {
                if values.is_empty() {
                    self.diags.error(
                        origin.clone(),
                        name,
                        "Require ip needs an address (httpd refuses to start)",
                    );
                    return None;
                }
                let mut nets = Vec::new();
                for v in values {
                    match parse_range(v) {
                        Some(n) => nets.push(n),
                        None => {
                            self.diags.error(
                                origin.clone(),
                                name,
                                format!(
                                    "Require ip: '{v}' is not an address or a range (httpd \
                                     refuses to start)"
                                ),
                            );
                            return None;
                        }
                    }
                }
                Some(Allow::Only(nets))
            }
            "host" => {
                let mut nets = Vec::new();
                for v in values {
                    if v.trim_end_matches('.').eq_ignore_ascii_case("localhost") {
                        nets.extend(loopback());
                    } else {
                        self.diags.warning(
                            origin.clone(),
                            name,
                            format!(
                                "jkd does not look up clients' host names: 'Require host {v}' \
                                 lets nobody in (only 'localhost' is read, as loopback)"
                            ),
                        );
                    }
                }
                (!nets.is_empty()).then_some(Allow::Only(nets))
            }
            p if is_user_provider(p) => {
                self.diags.warning(
                    origin.clone(),
                    name,
                    format!("{SIGN_IN}; 'Require {provider}' is ignored"),
                );
                None
            }
            _ => {
                self.diags.warning(
                    origin.clone(),
                    name,
                    format!("jkd does not evaluate 'Require {provider}'; the line is ignored"),
                );
                None
            }
        }
    }

    fn order(&mut self, name: &str, args: &[String], origin: Origin) {
        let order = match args.first().map(|a| a.to_ascii_lowercase()).as_deref() {
            Some("deny,allow") => Order::DenyAllow,
            // mod_access_compat reads mutual-failure as allow,deny.
            Some("allow,deny") | Some("mutual-failure") => Order::AllowDeny,
            _ => {
                self.diags.error(
                    origin,
                    name,
                    "Order takes 'deny,allow', 'allow,deny' or 'mutual-failure', without \
                     spaces (httpd refuses to start)",
                );
                return;
            }
        };
        if let Some(b) = self.location_mut() {
            b.order = Some(order);
        }
    }

    fn allow_deny(&mut self, name: &str, args: &[String], origin: Origin) {
        let deny = name.eq_ignore_ascii_case("deny");
        let Some((from, hosts)) = args.split_first() else {
            self.diags.error(
                origin,
                name,
                format!("{name} must be followed by 'from' (httpd refuses to start)"),
            );
            return;
        };
        if !from.eq_ignore_ascii_case("from") {
            self.diags.error(
                origin,
                name,
                format!("{name} must be followed by 'from' (httpd refuses to start)"),
            );
            return;
        }
        let mut read = Hosts {
            written: true,
            ..Hosts::default()
        };
        for h in hosts {
            let lower = h.to_ascii_lowercase();
            if lower == "all" {
                read.all = true;
            } else if lower.starts_with("env=") {
                self.diags.warning(
                    origin.clone(),
                    name,
                    format!("jkd does not evaluate '{h}'; it is ignored"),
                );
            } else if lower.trim_end_matches('.') == "localhost" {
                read.nets.extend(loopback());
            } else if let Some(net) = parse_range(h) {
                read.nets.push(net);
            } else {
                self.diags.warning(
                    origin.clone(),
                    name,
                    format!(
                        "jkd does not look up clients' host names: '{h}' is ignored (only \
                         'localhost' is read, as loopback)"
                    ),
                );
            }
        }
        if let Some(b) = self.location_mut() {
            let into = if deny {
                &mut b.deny_from
            } else {
                &mut b.allow_from
            };
            into.written = true;
            into.all |= read.all;
            for n in read.nets {
                if !into.nets.contains(&n) {
                    into.nets.push(n);
                }
            }
        }
    }

    /// httpd 2.2's rules of a section, `None` when it has none.
    fn compat_allow(&mut self, b: &LocationBuilder) -> Option<Allow> {
        if b.order.is_none() && !b.allow_from.written && !b.deny_from.written {
            return None;
        }
        let allowed = if b.allow_from.all {
            Allow::Everyone
        } else {
            Allow::Only(b.allow_from.nets.clone())
        };
        let partial_deny = !b.deny_from.all && !b.deny_from.nets.is_empty();
        let order = b.order.unwrap_or(Order::DenyAllow);
        let result = match order {
            Order::DenyAllow if b.deny_from.all => allowed,
            Order::DenyAllow => Allow::Everyone,
            Order::AllowDeny if b.deny_from.all => Allow::Only(Vec::new()),
            Order::AllowDeny => allowed,
        };
        if partial_deny && result != Allow::Only(Vec::new()) {
            let at = b.rules_at.clone().unwrap_or_else(|| b.origin.clone());
            self.diags.warning(
                at,
                "Deny",
                "jkd cannot take addresses out of what the other rules let in: the \
                 addresses of 'Deny from' (other than 'all') are ignored, so they get in",
            );
        }
        Some(result)
    }

    fn finish_location(&mut self, mut b: LocationBuilder) {
        let mut groups = std::mem::take(&mut b.groups);
        // Groups left open (a missing closing line, an error already) fold too.
        while groups.len() > 1 {
            if let Some(g) = groups.pop()
                && let Some(allow) = g.fold()
                && let Some(parent) = groups.last_mut()
            {
                parent.items.push(allow);
            }
        }
        let required = groups.pop().and_then(Group::fold);
        let compat = self.compat_allow(&b);
        let allow = match (required, compat) {
            (Some(r), Some(c)) => r.intersect(c),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return,
        };
        let regex = if b.regex {
            match regex::Regex::new(&b.path) {
                Ok(re) => Some(re),
                Err(e) => {
                    self.diags.warning(
                        b.origin.clone(),
                        "<LocationMatch>",
                        format!(
                            "jkd cannot read the regular expression '{}' ({e}); the access \
                             rules of this section are not applied",
                            b.path
                        ),
                    );
                    return;
                }
            }
        } else {
            None
        };
        let rules_at = b.rules_at.clone().unwrap_or_else(|| b.origin.clone());
        self.out.locations.push(LocationAccess {
            path: b.path,
            regex,
            origin: b.origin,
            allow,
            rules_at,
            mounted: b.mounted,
        });
    }
}
