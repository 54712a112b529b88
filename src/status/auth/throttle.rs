//! Slows down guessing of manager passwords: counts failed sign-ins per client address and refuses further attempts from an address that failed too often within a window, in bounded memory.
//!
//! Time is always passed in (`now`), so that tests can move it without sleeping.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failed sign-ins an address may make within [`WINDOW`] before it must wait.
pub const MAX_FAILURES: u32 = 5;

/// The window the failures are counted in, from the first one.
pub const WINDOW: Duration = Duration::from_secs(60);

/// How many addresses are tracked at most; beyond that the one whose window started
/// first is forgotten, so that a flood of addresses cannot grow the map.
pub const MAX_TRACKED: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    since: Instant,
}

/// The failed sign-ins of recent client addresses.
#[derive(Debug)]
pub struct Throttle {
    max_failures: u32,
    window: Duration,
    capacity: usize,
    by_address: HashMap<IpAddr, Failures>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(MAX_FAILURES, WINDOW, MAX_TRACKED)
    }
}

/// The key an address is counted under: an IPv6 client usually holds a whole /64,
/// so its addresses count together; an IPv4-mapped IPv6 address counts as the IPv4
/// address.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                for s in segments.iter_mut().skip(4) {
                    *s = 0;
                }
                IpAddr::V6(segments.into())
            }
        },
    }
}

impl Throttle {
    pub fn new(max_failures: u32, window: Duration, capacity: usize) -> Throttle {
        Throttle {
            max_failures,
            window,
            capacity: capacity.max(1),
            by_address: HashMap::new(),
        }
    }

    /// How long `ip` must still wait before it may try again, if it must.
    pub fn wait(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let f = self.by_address.get(&key(ip))?;
        let end = f.since + self.window;
        (f.count >= self.max_failures && now < end).then(|| end - now)
    }

    /// Counts a failed sign-in from `ip`.
    pub fn failed(&mut self, ip: IpAddr, now: Instant) {
        let k = key(ip);
        let window = self.window;
        if !self.by_address.contains_key(&k) && self.by_address.len() >= self.capacity {
            self.by_address.retain(|_, f| now < f.since + window);
            if self.by_address.len() >= self.capacity
                && let Some(oldest) = self
                    .by_address
                    .iter()
                    .min_by_key(|(_, f)| f.since)
                    .map(|(ip, _)| *ip)
            {
                self.by_address.remove(&oldest);
            }
        }
        let f = self.by_address.entry(k).or_insert(Failures {
            count: 0,
            since: now,
        });
        if now >= f.since + window {
            *f = Failures {
                count: 0,
                since: now,
            };
        }
        f.count = f.count.saturating_add(1);
    }

    /// A good sign-in from `ip` forgets its failures.
    pub fn succeeded(&mut self, ip: IpAddr) {
        self.by_address.remove(&key(ip));
    }

    /// How many addresses are tracked.
    pub fn len(&self) -> usize {
        self.by_address.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn an_address_waits_after_too_many_failures_until_the_window_passes() {
        let start = Instant::now();
        let mut t = Throttle::default();
        for i in 0..MAX_FAILURES {
            assert_eq!(t.wait(ip(7), start), None, "failure {i}");
            t.failed(ip(7), start + Duration::from_secs(u64::from(i)));
        }
        let later = start + Duration::from_secs(10);
        assert_eq!(t.wait(ip(7), later), Some(Duration::from_secs(50)));
        assert_eq!(t.wait(ip(8), later), None, "another address is not slowed");
        assert_eq!(t.wait(ip(7), start + WINDOW), None, "the window passed");
        t.failed(ip(7), start + WINDOW);
        assert_eq!(t.wait(ip(7), start + WINDOW), None, "counting starts again");
    }

    #[test]
    fn a_good_sign_in_forgets_the_failures() {
        let now = Instant::now();
        let mut t = Throttle::default();
        for _ in 0..MAX_FAILURES {
            t.failed(ip(7), now);
        }
        assert!(t.wait(ip(7), now).is_some());
        t.succeeded(ip(7));
        assert_eq!(t.wait(ip(7), now), None);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let now = Instant::now();
        let mut t = Throttle::default();
        for last in 0..MAX_FAILURES {
            let a = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last as u16);
            t.failed(IpAddr::V6(a), now);
        }
        let neighbour = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 9, 9, 9, 9);
        assert!(t.wait(IpAddr::V6(neighbour), now).is_some());
        let other_net = Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1);
        assert_eq!(t.wait(IpAddr::V6(other_net), now), None);
        for _ in 0..MAX_FAILURES {
            t.failed(ip(9), now);
        }
        let mapped = IpAddr::V6(Ipv6Addr::from([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0209]));
        assert!(t.wait(mapped, now).is_some());
    }

    #[test]
    fn memory_stays_bounded() {
        let now = Instant::now();
        let mut t = Throttle::new(MAX_FAILURES, WINDOW, 8);
        for i in 0..100u8 {
            t.failed(ip(i), now + Duration::from_millis(u64::from(i)));
            assert!(t.len() <= 8);
        }
        // The newest addresses are the ones kept.
        for _ in 1..MAX_FAILURES {
            t.failed(ip(99), now + Duration::from_secs(1));
        }
        assert!(t.wait(ip(99), now + Duration::from_secs(1)).is_some());
    }
}
