//! mod_jk 1.2.48's value parsers (integers, booleans, enums, lists), each reporting what it silently changed.

/// What a parser noticed: `None` when the text was read as written.
pub type Note = Option<String>;

/// C's `isspace` (and `apr_isspace`) in the C locale, as mod_jk and httpd trim and
/// split: never a Unicode space such as NBSP. Bytes are asked as `char::from(b)`.
pub(crate) fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// C `atoi` (through `strtol`, truncated to `int` as glibc does).
fn atoi(s: &str) -> (i32, usize) {
    let t = s.trim_start_matches(is_c_space);
    let lead = s.len() - t.len();
    let bytes = t.as_bytes();
    let mut i = 0;
    let mut neg = false;
    if let Some(&b) = bytes.first()
        && (b == b'+' || b == b'-')
    {
        neg = b == b'-';
        i = 1;
    }
    let digits_start = i;
    let mut acc: i64 = 0;
    while let Some(&b) = bytes.get(i) {
        if !b.is_ascii_digit() {
            break;
        }
        acc = acc.saturating_mul(10).saturating_add(i64::from(b - b'0'));
        i += 1;
    }
    if i == digits_start {
        return (0, 0);
    }
    let v = if neg { acc.saturating_neg() } else { acc };
    (v as i32, lead + i)
}

/// `jk_map_get_int` of 1.2.48: `atoi` of the text, times 1024 or 1048576 when the
/// *last* character is `k`/`K` or `m`/`M`. Junk reads as 0.
pub fn int(s: &str) -> (i32, Note) {
    let mult = match s.chars().last() {
        Some('k' | 'K') => 1024,
        Some('m' | 'M') => 1024 * 1024,
        _ => 1,
    };
    let (n, used) = atoi(s);
    let v = n.wrapping_mul(mult);
    let rest = &s[used..];
    let expected_rest = if mult == 1 { "" } else { &s[s.len() - 1..] };
    let note = if used == 0 {
        Some(format!("'{s}' is not a number; mod_jk reads it as {v}"))
    } else if rest != expected_rest {
        Some(format!(
            "'{s}' is not a plain number; mod_jk ignores '{rest}' and reads it as {v}"
        ))
    } else {
        None
    };
    (v, note)
}

/// `jk_get_bool_code`: `off`, `F…`, `N…`, `0` are false; `on`, `T…`, `Y…`, `1` are
/// true; anything else keeps the default.
pub fn bool(s: &str, default: bool) -> (bool, Note) {
    let first = s.chars().next();
    if s.eq_ignore_ascii_case("off") || matches!(first, Some('F' | 'f' | 'N' | 'n')) || s == "0" {
        (false, None)
    } else if s.eq_ignore_ascii_case("on")
        || matches!(first, Some('T' | 't' | 'Y' | 'y'))
        || s == "1"
    {
        (true, None)
    } else {
        (
            default,
            Some(format!(
                "'{s}' is not a boolean (use true or false); mod_jk keeps the default {}",
                if default { "true" } else { "false" }
            )),
        )
    }
}

/// Picks an enum by the first character of the text, as mod_jk's `*_get_*_code`.
fn by_first_char<T: Copy>(s: &str, table: &[(&str, T)], default: T, what: &str) -> (T, Note) {
    let first = s.chars().next().unwrap_or('\0');
    for (chars, v) in table {
        if chars.contains(first) {
            return (*v, None);
        }
    }
    (
        default,
        Some(format!(
            "'{s}' is not a valid {what}; mod_jk falls back to the default"
        )),
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Request,
    Traffic,
    Busyness,
    Sessions,
    Next,
}

impl Method {
    pub fn parse(s: &str) -> (Method, Note) {
        use Method::*;
        by_first_char(
            s,
            &[
                ("rR0", Request),
                ("tT1", Traffic),
                ("bB2", Busyness),
                ("sS3", Sessions),
                ("nN4", Next),
            ],
            Request,
            "method (Request, Session, Next, Traffic or Busyness)",
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Request => "Request",
            Method::Traffic => "Traffic",
            Method::Busyness => "Busyness",
            Method::Sessions => "Sessions",
            Method::Next => "Next",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    Optimistic,
    Pessimistic,
}

impl Lock {
    pub fn parse(s: &str) -> (Lock, Note) {
        by_first_char(
            s,
            &[("oO0", Lock::Optimistic), ("pP1", Lock::Pessimistic)],
            Lock::Optimistic,
            "lock (Optimistic or Pessimistic)",
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Lock::Optimistic => "Optimistic",
            Lock::Pessimistic => "Pessimistic",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Active,
    Disabled,
    Stopped,
}

impl Activation {
    pub fn parse(s: &str) -> (Activation, Note) {
        use Activation::*;
        by_first_char(
            s,
            &[("aA0", Active), ("dD1", Disabled), ("sS2", Stopped)],
            Active,
            "activation (A, D or S)",
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Activation::Active => "ACT",
            Activation::Disabled => "DIS",
            Activation::Stopped => "STP",
        }
    }
}

/// CPing modes as bits: connect, prepost, interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PingMode(pub u8);

impl PingMode {
    pub const CONNECT: u8 = 1;
    pub const PREPOST: u8 = 2;
    pub const INTERVAL: u8 = 4;

    /// `jk_ajp_get_cping_mode`: every C/P/I counts, A means all and stops the scan,
    /// other characters are skipped; nothing recognised keeps the default (none).
    pub fn parse(s: &str) -> (PingMode, Note) {
        let mut bits = 0;
        for c in s.chars() {
            match c.to_ascii_uppercase() {
                'C' => bits |= Self::CONNECT,
                'P' => bits |= Self::PREPOST,
                'I' => bits |= Self::INTERVAL,
                'A' => {
                    bits = Self::CONNECT | Self::PREPOST | Self::INTERVAL;
                    break;
                }
                _ => {}
            }
        }
        if bits == 0 {
            (
                PingMode(0),
                Some(format!(
                    "'{s}' names no ping mode (use C, P, I or A); mod_jk sends no CPing"
                )),
            )
        } else {
            (PingMode(bits), None)
        }
    }
    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// `jk_map_get_string_list`: split on space, tab and comma, empty items dropped.
pub fn list(s: &str) -> Vec<String> {
    s.split([' ', '\t', ','])
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// Plain `atoi` (no unit suffix), as `jk_map_get_int_list` reads `fail_on_status` items.
pub fn int_atoi(s: &str) -> i32 {
    atoi(s).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_as_1_2_48() {
        assert_eq!(int("8k").0, 8192);
        assert_eq!(int("2M").0, 2 * 1024 * 1024);
        assert_eq!(
            int("100ms"),
            (
                100,
                Some(
                    "'100ms' is not a plain number; mod_jk ignores 'ms' and reads it as 100".into()
                )
            )
        );
        assert_eq!(int("abc").0, 0);
        assert!(int("abc").1.is_some());
        assert_eq!(int("-5"), (-5, None));
        assert_eq!(int(" 42"), (42, None));
        assert_eq!(int("99999999999").0, 99999999999i64 as i32);
        assert_eq!(int("k").0, 0);
    }

    #[test]
    fn bools() {
        assert_eq!(bool("True", false), (true, None));
        assert_eq!(bool("FALSE", true), (false, None));
        assert_eq!(bool("Off", true), (false, None));
        assert_eq!(bool("yes", false), (true, None));
        assert_eq!(bool("0", true), (false, None));
        assert!(bool("01", true).0);
        assert!(bool("maybe", true).1.is_some());
        assert!(!bool("2", false).0);
    }

    #[test]
    fn enums() {
        assert_eq!(Method::parse("Busyness").0, Method::Busyness);
        assert_eq!(Method::parse("S").0, Method::Sessions);
        let (m, note) = Method::parse("lb");
        assert_eq!(m, Method::Request);
        assert!(note.is_some());
        assert_eq!(Lock::parse("P").0, Lock::Pessimistic);
        assert_eq!(Activation::parse("disabled").0, Activation::Disabled);
        assert_eq!(Activation::parse("2").0, Activation::Stopped);
    }

    #[test]
    fn ping_modes() {
        assert_eq!(PingMode::parse("A").0, PingMode(7));
        assert_eq!(PingMode::parse("CI").0, PingMode(5));
        assert_eq!(PingMode::parse("xp").0, PingMode(2));
        assert_eq!(PingMode::parse("zz").0, PingMode(0));
    }

    #[test]
    fn lists() {
        assert_eq!(list(" a,,b\tc "), vec!["a", "b", "c"]);
    }
}
