//! Who may reach the status manager by client address: the ranges of `--manager-allow` and of the httpd access rules (`Require`, `Allow`/`Deny`) of a `<Location>` that covers a status worker's mount, and which `<Location>` covers which mount.
//!
//! jkd checks these ranges against the TCP peer of the connection (never
//! `X-Forwarded-For`), before anything else the manager does. Access rules of a
//! `<Location>` that covers no status worker are not applied (jkd forwards those
//! requests without checking): a warning says so.
//!
//! Which `<Location>` covers a status mount, kept simple on purpose: a mount rule's
//! *path* is its pattern up to the first `*` or `?` (`/jkstatus/*` → `/jkstatus/`);
//! `<Location PATH>` covers it when `PATH` is a prefix of it ending at a `/` or at the
//! end (as httpd's location walk: `/jkstatus` covers `/jkstatus` and `/jkstatus/`, not
//! `/jkstatusx`), `<Location>` with `*` or `?` when its wildcard matches the path,
//! `<LocationMatch REGEX>` (or `<Location ~ REGEX>`) when the regex matches it
//! anywhere. A `JkMount WORKER` inside the section covers that worker too. When
//! several sections with rules cover a mount, the last in the file wins (httpd merges
//! sections in file order, and a later section's `Require` lines replace the
//! earlier ones').

use std::net::IpAddr;

use ipnet::IpNet;

use super::Config;
use super::diag::{Diagnostics, Origin};
use super::workers::WorkerKind;

/// Who a set of access rules lets in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allow {
    Everyone,
    /// Only clients in these ranges; empty: nobody.
    Only(Vec<IpNet>),
}

impl Allow {
    /// Whether a client at `ip` is let in. An IPv4 client on a dual-stack listener
    /// arrives as `::ffff:a.b.c.d`; it is compared as the IPv4 address it is.
    pub fn admits(&self, ip: IpAddr) -> bool {
        match self {
            Allow::Everyone => true,
            Allow::Only(nets) => admitted(nets, ip),
        }
    }

    /// Either side lets the client in (`<RequireAny>`, several `Require` lines).
    pub fn union(self, other: Allow) -> Allow {
        match (self, other) {
            (Allow::Everyone, _) | (_, Allow::Everyone) => Allow::Everyone,
            (Allow::Only(mut a), Allow::Only(b)) => {
                for n in b {
                    if !a.contains(&n) {
                        a.push(n);
                    }
                }
                Allow::Only(a)
            }
        }
    }

    /// Both sides let the client in (`<RequireAll>`). Exact for CIDR ranges: two
    /// ranges are either disjoint or one contains the other, so the intersection
    /// is the smaller of each nested pair.
    pub fn intersect(self, other: Allow) -> Allow {
        match (self, other) {
            (Allow::Everyone, x) | (x, Allow::Everyone) => x,
            (Allow::Only(a), Allow::Only(b)) => {
                let mut out: Vec<IpNet> = Vec::new();
                for x in &a {
                    for y in &b {
                        let smaller = if x.contains(y) {
                            Some(*y)
                        } else if y.contains(x) {
                            Some(*x)
                        } else {
                            None
                        };
                        if let Some(n) = smaller
                            && !out.contains(&n)
                        {
                            out.push(n);
                        }
                    }
                }
                Allow::Only(out)
            }
        }
    }
}

/// Whether `ip` is in one of `nets` (IPv4-mapped IPv6 compared as IPv4).
pub fn admitted(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    nets.iter().any(|n| n.contains(&ip))
}

/// The loopback ranges, what `Require local`, `Require host localhost` and
/// `Allow from localhost` stand for here. httpd's `Require local` also lets in the
/// server's own non-loopback addresses; jkd uses loopback only.
pub fn loopback() -> Vec<IpNet> {
    let v4 = IpNet::new(IpAddr::from([127, 0, 0, 0]), 8);
    let v6 = IpNet::new(IpAddr::from(std::net::Ipv6Addr::LOCALHOST), 128);
    v4.into_iter().chain(v6).collect()
}

/// An address range as `--manager-allow`, `Require ip` and `Allow from` write it:
/// an address (`10.0.0.1`, `::1`), a CIDR range (`10.0.0.0/8`), an IPv4 address
/// with a netmask (`10.0.0.0/255.0.0.0`) or, as httpd also takes, the first one to
/// three bytes of an IPv4 address (`10`, `10.1`, `192.168.1.`).
pub fn parse_range(text: &str) -> Option<IpNet> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net.trunc());
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(IpNet::from(ip));
    }
    if let Some((addr, mask)) = text.split_once('/') {
        let addr = addr.parse::<std::net::Ipv4Addr>().ok()?;
        let mask = u32::from(mask.parse::<std::net::Ipv4Addr>().ok()?);
        // A netmask is ones then zeros.
        let len = mask.leading_ones();
        if mask.checked_shl(len).unwrap_or(0) != 0 {
            return None;
        }
        let len = u8::try_from(len).ok()?;
        return ipnet::Ipv4Net::new(addr, len)
            .ok()
            .map(|n| IpNet::V4(n.trunc()));
    }
    let bytes: Vec<&str> = text.strip_suffix('.').unwrap_or(text).split('.').collect();
    if bytes.is_empty() || bytes.len() > 3 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (slot, b) in octets.iter_mut().zip(&bytes) {
        if b.is_empty() || !b.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        *slot = b.parse().ok()?;
    }
    let len = u8::try_from(bytes.len() * 8).ok()?;
    IpNet::new(IpAddr::from(octets), len).ok()
}

/// The access rules of one `<Location>` / `<LocationMatch>` section, as the Apache
/// reader found them.
#[derive(Clone, Debug)]
pub struct LocationAccess {
    /// The section's path, or its regex when `regex` is set.
    pub path: String,
    pub regex: Option<regex::Regex>,
    /// Where the section starts.
    pub origin: Origin,
    /// Who the section's rules let in.
    pub allow: Allow,
    /// The first access directive of the section.
    pub rules_at: Origin,
    /// Workers of `JkMount WORKER` lines inside the section.
    pub mounted: Vec<String>,
}

impl LocationAccess {
    /// Whether the section covers a request path (see the module's documentation).
    pub fn covers_path(&self, path: &str) -> bool {
        if let Some(re) = &self.regex {
            return re.is_match(path);
        }
        let loc = self.path.as_str();
        if loc.contains(['*', '?']) {
            return super::mounts::wildchar_match(path, loc);
        }
        match path.strip_prefix(loc) {
            Some(rest) => loc.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }
}

/// The path a mount pattern starts with: up to its first wildcard.
fn mount_path(pattern: &str) -> &str {
    let end = pattern.find(['*', '?']).unwrap_or(pattern.len());
    &pattern[..end]
}

/// The allow-list a configuration file sets for the status manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerAllow {
    /// Clients in these ranges reach a status worker; empty: nobody does.
    pub ranges: Vec<IpNet>,
    /// The access rules it came from (the first when several sections count).
    pub origin: Origin,
}

/// The status manager's allow-list from the `<Location>` sections of an Apache
/// config, given the built configuration (its status workers and mount rules).
/// `None` when no section with access rules covers a status worker's mount, or
/// when the sections that do let everyone in. Sections with rules that cover no
/// status worker, and status mounts that no such section covers while another one
/// is, are warnings.
pub fn manager_allow(
    locations: &[LocationAccess],
    config: &Config,
    diags: &mut Diagnostics,
) -> Option<ManagerAllow> {
    let is_status = |name: &str| {
        config
            .worker(name)
            .is_some_and(|w| matches!(w.kind, WorkerKind::Status(_)))
    };
    let status_mounts: Vec<_> = config
        .mounts
        .rules()
        .iter()
        .filter(|r| !r.exclusion && !r.disabled && is_status(&r.worker))
        .collect();
    let covers = |loc: &LocationAccess, rule: &super::mounts::MountRule| {
        loc.mounted.contains(&rule.worker) || loc.covers_path(mount_path(&rule.pattern))
    };
    for loc in locations {
        let covers_status = loc.mounted.iter().any(|w| is_status(w))
            || status_mounts.iter().any(|r| covers(loc, r));
        if !covers_status {
            diags.warning(
                loc.rules_at.clone(),
                format!("<Location {}>", loc.path),
                format!(
                    "jkd applies <Location> access rules only to the status manager (a \
                     status worker's mount); this section covers none, so requests under \
                     '{}' are not checked by jkd",
                    loc.path
                ),
            );
        }
    }
    // For each status mount, the last section with rules that covers it.
    let mut chosen: Vec<usize> = Vec::new();
    let mut uncovered = Vec::new();
    for rule in &status_mounts {
        match locations.iter().rposition(|loc| covers(loc, rule)) {
            Some(i) => {
                if !chosen.contains(&i) {
                    chosen.push(i);
                }
            }
            None => uncovered.push(*rule),
        }
    }
    chosen.sort_unstable();
    let first = locations.get(*chosen.first()?)?;
    for rule in uncovered {
        diags.warning(
            rule.origin.clone(),
            rule.pattern.clone(),
            format!(
                "no <Location> with access rules covers the status mount '{}': httpd lets \
                 anyone reach it; jkd applies the rules of {} to every request for status \
                 worker '{}'",
                rule.pattern, first.rules_at, rule.worker
            ),
        );
    }
    let mut allow = first.allow.clone();
    for &i in chosen.iter().skip(1) {
        let Some(loc) = locations.get(i) else {
            continue;
        };
        if loc.allow != first.allow {
            diags.warning(
                loc.rules_at.clone(),
                format!("<Location {}>", loc.path),
                format!(
                    "jkd has one allow-list for every status worker: the rules here and at \
                     {} differ, so jkd lets in only clients that both let in",
                    first.rules_at
                ),
            );
        }
        allow = allow.intersect(loc.allow.clone());
    }
    match allow {
        Allow::Everyone => None,
        Allow::Only(ranges) => Some(ManagerAllow {
            ranges,
            origin: first.rules_at.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_are_read_as_httpd_writes_them() {
        assert_eq!(parse_range("127.0.0.1"), Some(net("127.0.0.1/32")));
        assert_eq!(parse_range("::1"), Some(net("::1/128")));
        assert_eq!(parse_range("10.1.2.3/8"), Some(net("10.0.0.0/8")));
        assert_eq!(parse_range("10.0.0.0/255.0.0.0"), Some(net("10.0.0.0/8")));
        assert_eq!(parse_range("10.0.0.0/255.0.255.0"), None);
        assert_eq!(parse_range("10"), Some(net("10.0.0.0/8")));
        assert_eq!(parse_range("192.168.1."), Some(net("192.168.1.0/24")));
        assert_eq!(parse_range("localhost"), None);
        assert_eq!(parse_range("1.2.3.4.5"), None);
    }

    #[test]
    fn mapped_ipv4_clients_are_compared_as_ipv4() {
        let nets = loopback();
        assert!(admitted(&nets, "::ffff:127.0.0.1".parse().unwrap()));
        assert!(admitted(&nets, "::1".parse().unwrap()));
        assert!(!admitted(&nets, "10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn intersection_keeps_the_smaller_of_nested_ranges() {
        let a = Allow::Only(vec![net("10.0.0.0/8"), net("192.168.0.0/16")]);
        let b = Allow::Only(vec![net("10.1.0.0/16"), net("172.16.0.0/12")]);
        assert_eq!(
            a.clone().intersect(b),
            Allow::Only(vec![net("10.1.0.0/16")])
        );
        assert_eq!(a.clone().intersect(Allow::Everyone), a);
        assert_eq!(a.union(Allow::Everyone), Allow::Everyone);
    }

    #[test]
    fn location_paths_cover_on_segment_boundaries() {
        let loc = |path: &str| LocationAccess {
            path: path.to_string(),
            regex: None,
            origin: Origin::new("h", 1),
            allow: Allow::Everyone,
            rules_at: Origin::new("h", 2),
            mounted: Vec::new(),
        };
        assert!(loc("/jkstatus").covers_path("/jkstatus"));
        assert!(loc("/jkstatus").covers_path("/jkstatus/"));
        assert!(!loc("/jkstatus").covers_path("/jkstatusx"));
        assert!(!loc("/jkstatus/").covers_path("/jkstatus"));
        assert!(loc("/").covers_path("/jkstatus"));
        assert!(loc("/jk*").covers_path("/jkstatus"));
        assert_eq!(mount_path("/jkstatus/*"), "/jkstatus/");
    }
}
