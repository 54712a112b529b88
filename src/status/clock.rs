//! Wall-clock times as mod_jk's status worker prints them (its `localtime_r` + `strftime` patterns), with jiff reading the local time zone from `TZ` and `/etc/localtime` as the C library does for httpd; and the process's start time from `/proc`.

use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// "Now" for one status request: the monotonic clock the balancer uses and the wall
/// clock the page shows, read together.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub now: Instant,
    /// Seconds since the Unix epoch.
    pub unix: i64,
}

impl Clock {
    pub fn read() -> Clock {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Clock {
            now: Instant::now(),
            unix,
        }
    }

    /// The Unix time of an earlier (or later) instant of the monotonic clock.
    pub fn unix_of(&self, instant: Instant) -> i64 {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        if instant <= self.now {
            self.unix.saturating_sub(secs(self.now - instant))
        } else {
            self.unix.saturating_add(secs(instant - self.now))
        }
    }

    /// Whole seconds from `instant` to now (C's `(int)difftime(now, then)`).
    pub fn seconds_since(&self, instant: Instant) -> i64 {
        self.unix.saturating_sub(self.unix_of(instant))
    }
}

/// The Unix time this process started (from `/proc`), or the first time this is
/// asked where `/proc` cannot tell.
pub fn process_start() -> i64 {
    static START: LazyLock<i64> =
        LazyLock::new(|| process_start_from_proc().unwrap_or_else(|| Clock::read().unix));
    *START
}

fn process_start_from_proc() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Field 22, counted after the command name, which may itself contain spaces.
    let after_name = stat.rsplit_once(')')?.1;
    let ticks: i64 = after_name.split_whitespace().nth(19)?.parse().ok()?;
    let boot: i64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // The start time counts clock ticks (USER_HZ), which only the kernel's auxiliary
    // vector or sysconf tell; rustix reads it without unsafe code here.
    let per_second = i64::try_from(rustix::param::clock_ticks_per_second()).ok()?;
    (per_second > 0).then(|| boot + ticks / per_second)
}

/// The broken-down local time of a Unix time, or `None` outside the years jiff
/// represents (-9999 to 9999).
struct LocalTime {
    year: i64,
    month: i8,
    day: i8,
    hour: i8,
    minute: i8,
    second: i8,
    /// Seconds east of UTC.
    offset: i64,
}

fn local_time(unix: i64) -> Option<LocalTime> {
    // TimeZone::system() is cached by jiff; an unreadable or unknown zone falls back
    // to UTC, as glibc's localtime does.
    let zoned = Timestamp::from_second(unix)
        .ok()?
        .to_zoned(TimeZone::system());
    Some(LocalTime {
        year: i64::from(zoned.year()),
        month: zoned.month(),
        day: zoned.day(),
        hour: zoned.hour(),
        minute: zoned.minute(),
        second: zoned.second(),
        offset: i64::from(zoned.offset().seconds()),
    })
}

/// strftime's `%z`: `+hhmm` or `-hhmm`.
fn zone(offset: i64) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let minutes = offset.abs() / 60;
    format!("{sign}{:02}{:02}", minutes / 60, minutes % 60)
}

/// `%Y%m%d%H%M%S` and `%z` of the local time, as the xml, txt and prop formats
/// print a time (`datetime`, `tz`).
pub fn text(unix: i64) -> Option<(String, String)> {
    let t = local_time(unix)?;
    Some((
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        ),
        zone(t.offset),
    ))
}

/// `%Y-%m-%d %H:%M:%S %z` of the local time, as the HTML page prints a time.
pub fn html(unix: i64) -> Option<String> {
    let t = local_time(unix)?;
    Some(format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {}",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        zone(t.offset)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_have_mod_jks_shape() {
        let (datetime, tz) = text(1_735_732_800).unwrap_or_default();
        assert_eq!(datetime.len(), 14, "{datetime}");
        assert!(datetime.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(tz.len(), 5);
        assert!(tz.starts_with(['+', '-']));
        let html = html(1_735_732_800).unwrap_or_default();
        assert_eq!(html.len(), "2025-01-01 12:00:00 +0000".len(), "{html}");
        assert_eq!(&html[4..5], "-");
        assert!(html.ends_with(&tz));
    }

    #[test]
    fn the_process_started_in_the_past() {
        let start = process_start();
        let now = Clock::read().unix;
        assert!(
            start <= now && start > now - 86_400 * 365,
            "{start} vs {now}"
        );
    }

    #[test]
    fn zone_offsets() {
        assert_eq!(zone(0), "+0000");
        assert_eq!(zone(19_800), "+0530");
        assert_eq!(zone(-36_000), "-1000");
    }

    #[test]
    fn instants_map_to_unix_seconds() {
        let clock = Clock {
            now: Instant::now(),
            unix: 1_000_000,
        };
        let earlier = clock.now - Duration::from_secs(30);
        assert_eq!(clock.unix_of(earlier), 999_970);
        assert_eq!(clock.seconds_since(earlier), 30);
        assert_eq!(clock.unix_of(clock.now + Duration::from_secs(5)), 1_000_005);
    }
}
