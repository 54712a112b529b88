//! Request paths (and the Host header's name and port): httpd's decoding of `r->uri`, mod_jk's normalisation before mapping, and `jk_canonenc` for forwarding; hand-written on purpose, since they reproduce httpd's and mod_jk's quirks (which a general URL crate would correct) byte for byte.
//!
//! A request path passes three stages on the reference stack (Apache httpd 2.4 +
//! mod_jk 1.2.48), and each one can refuse it:
//!
//! 1. httpd's request-line check and `ap_parse_uri` (`server/protocol.c`),
//! 2. httpd's `ap_normalize_path` and `ap_unescape_url_ex` in
//!    `ap_process_request_internal` (`server/request.c`, `server/util.c`), with the
//!    defaults `MergeSlashes On` and `AllowEncodedSlashes Off`: the result is `r->uri`,
//!    what [`decode_path`] returns,
//! 3. mod_jk's `jk_servlet_normalize` (`jk_util.c`), called from `jk_translate` and
//!    `jk_map_to_storage`: the result is what the mount rules are matched against,
//!    what [`normalize`] returns.
//!
//! Everything works on bytes. A decoded path may hold any byte (`%E9`, `%FF`), and
//! mod_jk matches and forwards bytes, not characters: turning them into a `String`
//! with U+FFFD would change both the match of a `?` wildcard and the URI sent to
//! Tomcat (`%EF%BF%BD` instead of `%E9`). So the decoded and normalised paths are
//! `Vec<u8>`; [`canon_encode`] turns bytes into the ASCII string that is forwarded.

use std::fmt;

/// Why a request path is refused, and with which HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UriError {
    /// A control character, space or DEL in the request target: httpd's
    /// request-line parser (`ap_scan_vchar_obstext`) answers 400.
    InvalidCharacter(u8),
    /// The path is empty or does not start with `/` (and is not `*`): 400 (RFC 7230
    /// §5.3 check in `read_request_line`, and `jk_servlet_normalize`'s first test).
    NotAbsolute,
    /// A `%` not followed by two hex digits: 400 (`ap_normalize_path`, `unescape_url`).
    BadEscape,
    /// `..` segments climb above `/` before decoding: 400 (`ap_normalize_path` with
    /// `AP_NORMALIZE_NOT_ABOVE_ROOT`).
    AboveRoot,
    /// `%2F` (an encoded `/`) with the default `AllowEncodedSlashes Off`: 404.
    EncodedSlash,
    /// `%00`: 404 (`unescape_url` refuses to decode a NUL).
    EncodedNul,
    /// After mod_jk removed the path parameters (`;...`), `..` segments climb above
    /// `/` (e.g. `/..;x/`): `jk_servlet_normalize` fails and `jk_translate` answers 400.
    TraversalAboveRoot,
}

impl UriError {
    /// The HTTP status httpd or mod_jk answers with.
    pub fn status(self) -> u16 {
        match self {
            UriError::EncodedSlash | UriError::EncodedNul => 404,
            UriError::InvalidCharacter(_)
            | UriError::NotAbsolute
            | UriError::BadEscape
            | UriError::AboveRoot
            | UriError::TraversalAboveRoot => 400,
        }
    }
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UriError::InvalidCharacter(b) => write!(
                f,
                "the request target contains the control or space byte 0x{b:02X} (httpd: 400)"
            ),
            UriError::NotAbsolute => write!(f, "the path does not start with '/' (400)"),
            UriError::BadEscape => {
                write!(f, "a '%' is not followed by two hex digits (httpd: 400)")
            }
            UriError::AboveRoot => write!(f, "'..' segments climb above '/' (httpd: 400)"),
            UriError::EncodedSlash => write!(
                f,
                "an encoded '/' (%2F) is refused with AllowEncodedSlashes Off (httpd: 404)"
            ),
            UriError::EncodedNul => write!(f, "an encoded NUL (%00) is refused (httpd: 404)"),
            UriError::TraversalAboveRoot => write!(
                f,
                "after removing path parameters, '..' segments climb above '/' (mod_jk: 400)"
            ),
        }
    }
}

impl std::error::Error for UriError {}

/// The byte at `i`, or NUL past the end: the C code reads its terminator there.
fn at(buf: &[u8], i: usize) -> u8 {
    buf.get(i).copied().unwrap_or(0)
}

/// The value of one hexadecimal digit.
pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte encoded by the two hex digits at `i` and `i + 1`, if both are hex digits.
fn escaped_byte(buf: &[u8], i: usize) -> Option<u8> {
    Some(hex_value(at(buf, i))? * 16 + hex_value(at(buf, i + 1))?)
}

/// RFC 3986 unreserved characters (httpd's `T_URI_UNRESERVED`).
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_slash_or_nul(b: u8) -> bool {
    b == b'/' || b == 0
}

/// httpd's decoding of a request path into `r->uri`.
///
/// `raw` is the path of the request target as the client sent it (for an
/// absolute-form target, its path part). Anything from the first `?` or `#` on is
/// not part of the path and is ignored, as `apr_uri_parse` does; the caller normally
/// splits at `?` already.
///
/// Steps, each as httpd 2.4 does them with its default configuration:
/// * bytes that are not VCHAR or obs-text (controls, space, DEL) → 400;
/// * leading `//` sequences are reduced to one `/` (`ap_parse_uri`);
/// * `*` stays `*` (an `OPTIONS *` request; the method is not known here);
///   any other path not starting with `/` → 400;
/// * `ap_normalize_path`: `%XX` of unreserved characters decoded, `//` merged
///   (`MergeSlashes On`), `/./` removed, `/../` resolved; above the root or a bad
///   `%` escape → 400;
/// * `ap_unescape_url_ex` with `AllowEncodedSlashes Off`: every other `%XX` decoded;
///   `%2F` or `%00` → 404.
///
/// The result may hold any byte except NUL and `/` from an escape.
///
/// The reference doc (§6.3) credits dot segments, `//` and "above the root" to
/// `jk_servlet_normalize` alone; in httpd 2.4 `ap_normalize_path` has already done
/// all three (before decoding) when mod_jk sees `r->uri`. The outcome is the same
/// except for what is forwarded: `r->uri` is already normalised by httpd.
pub fn decode_path(raw: impl AsRef<[u8]>) -> Result<Vec<u8>, UriError> {
    let raw = raw.as_ref();
    let end = raw
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(raw.len());
    let mut path = &raw[..end];
    if let Some(&b) = path.iter().find(|&&b| b <= b' ' || b == 0x7f) {
        return Err(UriError::InvalidCharacter(b));
    }
    while path.starts_with(b"//") {
        path = &path[1..];
    }
    if path == b"*" {
        return Ok(path.to_vec());
    }
    if path.first() != Some(&b'/') {
        return Err(UriError::NotAbsolute);
    }
    let mut path = path.to_vec();
    httpd_normalize(&mut path)?;
    httpd_unescape(&mut path)?;
    Ok(path)
}

/// `ap_normalize_path` with `NOT_ABOVE_ROOT | MERGE_SLASHES | DECODE_UNRESERVED`, in
/// place on a path that starts with `/`. httpd keeps going after an error and reports
/// it at the end; the bad-escape error is reported in preference, as both are 400.
fn httpd_normalize(path: &mut Vec<u8>) -> Result<(), UriError> {
    let mut bad_escape = false;
    let mut above_root = false;
    let (mut l, mut w) = (1usize, 1usize);
    while l < path.len() {
        if path[l] == b'%' {
            match escaped_byte(path, l + 1) {
                Some(c) if is_unreserved(c) => {
                    // httpd overwrites the second hex digit with the decoded byte and
                    // continues from there.
                    l += 2;
                    path[l] = c;
                }
                Some(_) => {}
                None => bad_escape = true,
            }
        }
        if w == 0 || path[w - 1] == b'/' {
            if path[l] == b'/' {
                while at(path, l) == b'/' {
                    l += 1;
                }
                continue;
            }
            if path[l] == b'.' {
                if is_slash_or_nul(at(path, l + 1)) {
                    l += 1;
                    if l < path.len() {
                        l += 1;
                    }
                    continue;
                }
                // A second dot may still be encoded: only the first was decoded above.
                let mut n = l + 1;
                let second_dot = at(path, n) == b'.'
                    || (at(path, n) == b'%'
                        && {
                            n += 1;
                            at(path, n) == b'2'
                        }
                        && {
                            n += 1;
                            matches!(at(path, n), b'e' | b'E')
                        });
                if second_dot && is_slash_or_nul(at(path, n + 1)) {
                    if w > 1 {
                        w -= 1;
                        while w > 0 && path[w - 1] != b'/' {
                            w -= 1;
                        }
                    } else {
                        above_root = true;
                    }
                    l = n + 1;
                    if l < path.len() {
                        l += 1;
                    }
                    continue;
                }
            }
        }
        path[w] = path[l];
        w += 1;
        l += 1;
    }
    path.truncate(w);
    if bad_escape {
        Err(UriError::BadEscape)
    } else if above_root {
        Err(UriError::AboveRoot)
    } else {
        Ok(())
    }
}

/// `unescape_url` with `KEEP_UNRESERVED | FORBID_SLASHES`, in place. Like httpd it
/// decodes the whole path and reports afterwards; a bad escape wins over a forbidden
/// byte.
fn httpd_unescape(path: &mut Vec<u8>) -> Result<(), UriError> {
    let mut bad_escape = false;
    let mut forbidden: Option<UriError> = None;
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let b = path[i];
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        match escaped_byte(path, i + 1) {
            None => {
                bad_escape = true;
                out.push(b'%');
                i += 1;
            }
            Some(c @ (0 | b'/')) => {
                forbidden.get_or_insert(if c == 0 {
                    UriError::EncodedNul
                } else {
                    UriError::EncodedSlash
                });
                out.push(c);
                i += 3;
            }
            Some(c) if is_unreserved(c) => {
                // Already decoded once by the normaliser; decoding again would be
                // double decoding, so httpd keeps the escape.
                out.extend_from_slice(path.get(i..i + 3).unwrap_or_default());
                i += 3;
            }
            Some(c) => {
                out.push(c);
                i += 3;
            }
        }
    }
    *path = out;
    if bad_escape {
        Err(UriError::BadEscape)
    } else if let Some(e) = forbidden {
        Err(e)
    } else {
        Ok(())
    }
}

/// mod_jk's `jk_servlet_normalize`: the path the mount rules are matched against.
///
/// Four passes over the decoded path, in this order: path parameters (`;` up to the
/// next `/`) removed from every segment, `//` collapsed, `.` segments removed, `..`
/// segments resolved. A `..` that would climb above `/` is an error (mod_jk answers
/// 400). `*` is returned unchanged; any other path not starting with `/` is an error.
pub fn normalize(decoded: impl AsRef<[u8]>) -> Result<Vec<u8>, UriError> {
    let decoded = decoded.as_ref();
    if decoded == b"*" {
        return Ok(decoded.to_vec());
    }
    if decoded.first() != Some(&b'/') {
        return Err(UriError::NotAbsolute);
    }
    // mod_jk works on a C string: a NUL ends it. decode_path never yields one.
    let decoded = match decoded.iter().position(|&b| b == 0) {
        Some(p) => &decoded[..p],
        None => decoded,
    };

    // Each pass reads the previous pass's output; the look-behind tests read the
    // input of the pass, which is what the in-place C loops see (the writer never
    // overtakes the reader).
    let mut without_params = Vec::with_capacity(decoded.len());
    without_params.push(b'/');
    let mut l = 1;
    while l < decoded.len() {
        if decoded[l] == b';' {
            l += 1;
            while l < decoded.len() && decoded[l] != b'/' {
                l += 1;
            }
        } else {
            without_params.push(decoded[l]);
            l += 1;
        }
    }

    let mut collapsed: Vec<u8> = Vec::with_capacity(without_params.len());
    collapsed.push(b'/');
    for &b in without_params.iter().skip(1) {
        if !(b == b'/' && collapsed.last() == Some(&b'/')) {
            collapsed.push(b);
        }
    }

    let src = collapsed;
    let mut no_dots = Vec::with_capacity(src.len());
    no_dots.push(b'/');
    let mut l = 1;
    while l < src.len() {
        if src[l] == b'.' && is_slash_or_nul(at(&src, l + 1)) && src[l - 1] == b'/' {
            l += 1;
            if at(&src, l) == b'/' {
                l += 1;
            }
        } else {
            no_dots.push(src[l]);
            l += 1;
        }
    }

    let src = no_dots;
    let mut out = Vec::with_capacity(src.len());
    out.push(b'/');
    let mut l = 1;
    while l < src.len() {
        if src[l] == b'.'
            && at(&src, l + 1) == b'.'
            && is_slash_or_nul(at(&src, l + 2))
            && src[l - 1] == b'/'
        {
            if out.len() == 1 {
                return Err(UriError::TraversalAboveRoot);
            }
            // Drop the previous segment: back to just after the slash before it.
            out.pop();
            while out.last().is_some_and(|&b| b != b'/') {
                out.pop();
            }
            l += 2;
            if at(&src, l) == b'/' {
                l += 1;
            }
        } else {
            out.push(src[l]);
            l += 1;
        }
    }
    Ok(out)
}

/// The string the mount matcher sees for a raw request path: [`decode_path`], then
/// [`normalize`].
pub fn map_input(raw_path: impl AsRef<[u8]>) -> Result<Vec<u8>, UriError> {
    normalize(decode_path(raw_path)?)
}

/// Whether a raw request path has a dot segment hidden behind path parameters:
/// after httpd's decoding ([`decode_path`]), a segment such as `..;`, `..;x`, `.;x`
/// or `%2e%2e;` (decoded to `..;`), which httpd leaves alone because it is not a
/// dot segment, but which [`normalize`] turns into `..` or `.` once it has removed
/// the parameters. mod_jk maps such a path as the normalised one (so
/// `/app/..;/jkmanager/` reaches a status worker mounted at `/jkmanager/*`: the
/// CVE-2018-11759 class); jkd uses this to keep it away from status workers. A path
/// that httpd refuses is not reported: it never maps to anything.
pub fn hides_dot_segment(raw_path: impl AsRef<[u8]>) -> bool {
    let Ok(decoded) = decode_path(raw_path) else {
        return false;
    };
    decoded
        .split(|&b| b == b'/')
        .any(|segment| match segment.iter().position(|&b| b == b';') {
            Some(p) => matches!(segment.get(..p), Some(b".") | Some(b"..")),
            None => false,
        })
}

/// Whether a raw request path is already what decoding, normalising and
/// re-encoding would make of it: `/` followed by letters, digits, `-._~` and `/`,
/// without `//` and without `.` or `..` segments. For such a path [`decode_path`],
/// [`normalize`] and [`canon_encode`] all return it unchanged, so the request path
/// skips them and their allocations (most requests; checked against the full steps
/// by a property test).
pub fn is_plain_path(raw: &[u8]) -> bool {
    if raw.first() != Some(&b'/') {
        return false;
    }
    let mut segment_start = 1;
    for i in 1..=raw.len() {
        match raw.get(i).copied() {
            Some(c) if c != b'/' => {
                if !is_unreserved(c) {
                    return false;
                }
            }
            end => {
                let segment = raw.get(segment_start..i).unwrap_or_default();
                // An empty segment before a `/` is `//`; at the end, a trailing `/`.
                if (segment.is_empty() && end.is_some()) || segment == b"." || segment == b".." {
                    return false;
                }
                segment_start = i + 1;
            }
        }
    }
    true
}

/// mod_jk's `jk_canonenc`, used with the default `JkOptions +ForwardURIProxy` to
/// re-encode `r->uri` before it is forwarded: the output of [`decode_path`] (path
/// parameters such as `;jsessionid` kept, but dot segments and `//` already resolved
/// by httpd, which the reference doc's trap #25 does not say), not of [`normalize`]: ASCII
/// letters and digits, `/` and ``~$-_.+!*'(),;:@&=`` stay, every other byte becomes
/// `%XX` with upper-case hex digits.
pub fn canon_encode(decoded: impl AsRef<[u8]>) -> String {
    const KEPT: &[u8] = b"~$-_.+!*'(),;:@&=/";
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let decoded = decoded.as_ref();
    let mut out = String::with_capacity(decoded.len());
    // jk_canonenc stops at the C string's NUL; decode_path never yields one.
    for &b in decoded.iter().take_while(|&&b| b != 0) {
        if b.is_ascii_alphanumeric() || KEPT.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// A Host header (or authority) split into its name and port; an IPv6 literal
/// loses its brackets.
pub fn split_host_port(host: &str) -> (&str, Option<u16>) {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        if let Some((h, p)) = rest.split_once(']') {
            return (h, p.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
        _ => (host, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port() {
        assert_eq!(
            split_host_port("example.com:8080"),
            ("example.com", Some(8080))
        );
        assert_eq!(split_host_port("example.com"), ("example.com", None));
        assert_eq!(split_host_port("[::1]:80"), ("::1", Some(80)));
    }

    #[test]
    fn plain_paths() {
        for p in [
            "/",
            "/a",
            "/a/",
            "/echo/x",
            "/a.b/c-d_e~f",
            "/.hidden",
            "/a/..b",
        ] {
            assert!(is_plain_path(p.as_bytes()), "{p}");
        }
        for p in [
            "", "a", "//", "/a//b", "/.", "/./a", "/a/..", "/a/../b", "/a%20", "/a;x", "/a?b", "*",
        ] {
            assert!(!is_plain_path(p.as_bytes()), "{p}");
        }
    }

    proptest::proptest! {
        /// A plain path is left as it is by every step it skips.
        #[test]
        fn a_plain_path_is_a_fixed_point_of_decoding_and_normalising(
            raw in "/[a./%;2eE_~/-]{0,12}"
        ) {
            if is_plain_path(raw.as_bytes()) {
                let decoded = decode_path(&raw);
                proptest::prop_assert_eq!(decoded.as_deref().ok(), Some(raw.as_bytes()));
                proptest::prop_assert_eq!(normalize(&raw).ok(), Some(raw.as_bytes().to_vec()));
                proptest::prop_assert_eq!(canon_encode(&raw), raw.clone());
            }
        }
    }

    fn dec(raw: &str) -> Result<String, UriError> {
        decode_path(raw).map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    fn norm(path: &str) -> Result<String, UriError> {
        normalize(path).map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    #[test]
    fn plain_paths_are_unchanged() {
        assert_eq!(dec("/app/index.jsp").as_deref(), Ok("/app/index.jsp"));
        assert_eq!(dec("/").as_deref(), Ok("/"));
    }

    #[test]
    fn query_and_fragment_are_not_part_of_the_path() {
        assert_eq!(dec("/a/b?x=%2F").as_deref(), Ok("/a/b"));
        assert_eq!(dec("/a#frag").as_deref(), Ok("/a"));
    }

    #[test]
    fn percent_escapes_are_decoded() {
        assert_eq!(dec("/a%20b/%41%7e").as_deref(), Ok("/a b/A~"));
        assert_eq!(dec("/x%3By").as_deref(), Ok("/x;y"));
        assert_eq!(dec("/%25").as_deref(), Ok("/%"));
    }

    #[test]
    fn double_encoding_is_decoded_once() {
        assert_eq!(dec("/a%252Fb").as_deref(), Ok("/a%2Fb"));
        assert_eq!(dec("/%2541").as_deref(), Ok("/%41"));
    }

    #[test]
    fn encoded_slash_and_nul_are_404() {
        assert_eq!(dec("/a%2Fb"), Err(UriError::EncodedSlash));
        assert_eq!(dec("/a%2fb"), Err(UriError::EncodedSlash));
        assert_eq!(UriError::EncodedSlash.status(), 404);
        assert_eq!(dec("/a%00"), Err(UriError::EncodedNul));
        assert_eq!(UriError::EncodedNul.status(), 404);
    }

    #[test]
    fn bad_escapes_are_400_and_win_over_404() {
        assert_eq!(dec("/a%zz"), Err(UriError::BadEscape));
        assert_eq!(dec("/a%4"), Err(UriError::BadEscape));
        assert_eq!(dec("/a%"), Err(UriError::BadEscape));
        assert_eq!(dec("/a%2F%g1"), Err(UriError::BadEscape));
        assert_eq!(UriError::BadEscape.status(), 400);
    }

    #[test]
    fn control_characters_and_spaces_are_400() {
        assert_eq!(dec("/a b"), Err(UriError::InvalidCharacter(b' ')));
        assert_eq!(dec("/a\tb"), Err(UriError::InvalidCharacter(b'\t')));
        assert_eq!(dec("/a\u{7f}"), Err(UriError::InvalidCharacter(0x7f)));
        assert_eq!(decode_path(b"/a\x00"), Err(UriError::InvalidCharacter(0)));
    }

    #[test]
    fn relative_or_empty_paths_are_400_but_star_passes() {
        assert_eq!(dec(""), Err(UriError::NotAbsolute));
        assert_eq!(dec("?x"), Err(UriError::NotAbsolute));
        assert_eq!(dec("a/b"), Err(UriError::NotAbsolute));
        assert_eq!(dec("*").as_deref(), Ok("*"));
        assert_eq!(dec("*x"), Err(UriError::NotAbsolute));
    }

    #[test]
    fn httpd_merges_slashes_and_resolves_dots_before_decoding() {
        assert_eq!(dec("//a///b").as_deref(), Ok("/a/b"));
        assert_eq!(dec("/a/./b/../c").as_deref(), Ok("/a/c"));
        assert_eq!(dec("/a/b/..").as_deref(), Ok("/a/"));
        assert_eq!(dec("/a/.").as_deref(), Ok("/a/"));
        assert_eq!(dec("/..").unwrap_err(), UriError::AboveRoot);
        assert_eq!(dec("/a/../../b").unwrap_err(), UriError::AboveRoot);
    }

    #[test]
    fn encoded_dots_are_dot_segments() {
        assert_eq!(dec("/a/%2e%2e/b").as_deref(), Ok("/b"));
        assert_eq!(dec("/a/.%2E/b").as_deref(), Ok("/b"));
        assert_eq!(dec("/a/%2E./b").as_deref(), Ok("/b"));
        assert_eq!(dec("/a/%2e/b").as_deref(), Ok("/a/b"));
        assert_eq!(dec("/%2e%2e/x"), Err(UriError::AboveRoot));
    }

    #[test]
    fn an_encoded_slash_does_not_form_a_dot_segment() {
        // httpd normalises before it decodes, and refuses the %2F anyway.
        assert_eq!(dec("/a/..%2Fb"), Err(UriError::EncodedSlash));
    }

    #[test]
    fn non_utf8_bytes_survive_decoding() {
        assert_eq!(decode_path("/caf%E9").as_deref(), Ok(&b"/caf\xE9"[..]));
        assert_eq!(decode_path(b"/caf\xE9").as_deref(), Ok(&b"/caf\xE9"[..]));
        assert_eq!(decode_path("/%FF%FE").as_deref(), Ok(&b"/\xFF\xFE"[..]));
    }

    #[test]
    fn servlet_normalize_removes_path_parameters_per_segment() {
        assert_eq!(norm("/a;jsessionid=1/b;x=y").as_deref(), Ok("/a/b"));
        assert_eq!(
            norm("/app/x.jsp;jsessionid=ABC.node1").as_deref(),
            Ok("/app/x.jsp")
        );
        assert_eq!(norm("/;x/b").as_deref(), Ok("/b"));
        assert_eq!(norm("/a;").as_deref(), Ok("/a"));
    }

    #[test]
    fn servlet_normalize_collapses_and_resolves() {
        assert_eq!(norm("/a//b///c").as_deref(), Ok("/a/b/c"));
        assert_eq!(norm("/./a/./b/.").as_deref(), Ok("/a/b/"));
        assert_eq!(norm("/a/b/../c").as_deref(), Ok("/a/c"));
        assert_eq!(norm("/a/b/../../c").as_deref(), Ok("/c"));
        assert_eq!(norm("/a/..").as_deref(), Ok("/"));
        assert_eq!(norm("/a/.b/..c/...").as_deref(), Ok("/a/.b/..c/..."));
    }

    #[test]
    fn servlet_normalize_refuses_escaping_the_root() {
        assert_eq!(norm("/.."), Err(UriError::TraversalAboveRoot));
        assert_eq!(norm("/a/../.."), Err(UriError::TraversalAboveRoot));
        assert_eq!(norm("/a/../../b"), Err(UriError::TraversalAboveRoot));
        assert_eq!(UriError::TraversalAboveRoot.status(), 400);
    }

    #[test]
    fn path_parameters_can_hide_dot_segments_from_httpd() {
        // httpd sees "..;x" as an ordinary segment; mod_jk strips ";x" first.
        assert_eq!(dec("/a/..;x/b").as_deref(), Ok("/a/..;x/b"));
        assert_eq!(norm("/a/..;x/b").as_deref(), Ok("/b"));
        assert_eq!(map_input("/..;x/secret"), Err(UriError::TraversalAboveRoot));
        assert_eq!(
            map_input("/app/..;/manager/html").as_deref(),
            Ok(&b"/manager/html"[..])
        );
    }

    #[test]
    fn an_encoded_semicolon_is_a_path_parameter_for_mod_jk() {
        assert_eq!(map_input("/app%3Bx/y").as_deref(), Ok(&b"/app/y"[..]));
    }

    #[test]
    fn servlet_normalize_needs_a_leading_slash_except_star() {
        assert_eq!(norm("a/b"), Err(UriError::NotAbsolute));
        assert_eq!(norm(""), Err(UriError::NotAbsolute));
        assert_eq!(norm("*").as_deref(), Ok("*"));
    }

    #[test]
    fn map_input_combines_both_stages() {
        assert_eq!(
            map_input("/app/%2e/x;jsessionid=1").as_deref(),
            Ok(&b"/app/x"[..])
        );
        assert_eq!(map_input("/a%2Fb"), Err(UriError::EncodedSlash));
    }

    #[test]
    fn canon_encode_keeps_the_allowed_set_and_encodes_the_rest() {
        assert_eq!(
            canon_encode("/a b/c;jsessionid=X.n1"),
            "/a%20b/c;jsessionid=X.n1"
        );
        assert_eq!(canon_encode("/~$-_.+!*'(),;:@&="), "/~$-_.+!*'(),;:@&=");
        assert_eq!(
            canon_encode("/%?#\"<>[]\\^`{|}"),
            "/%25%3F%23%22%3C%3E%5B%5D%5C%5E%60%7B%7C%7D"
        );
        assert_eq!(canon_encode(b"/caf\xE9"), "/caf%E9");
        assert_eq!(canon_encode("/é"), "/%C3%A9");
    }

    #[test]
    fn forwarded_uri_keeps_path_parameters() {
        let decoded = decode_path("/app/x.jsp;jsessionid=A%20B").unwrap_or_default();
        assert_eq!(canon_encode(&decoded), "/app/x.jsp;jsessionid=A%20B");
    }

    #[test]
    fn dot_segments_hidden_behind_path_parameters() {
        for hidden in [
            "/app/..;/jkmanager/",
            "/app/..;x=1/jkmanager/",
            "/app/.;x/jkmanager/",
            "/app/%2e%2e;/jkmanager/",
            "/app/%2E.;/jkmanager/",
            "/app/.%2e;jsessionid=1/jkmanager/",
            "/app/..%3b/jkmanager/",
            "//evil.example/..;/jkmanager/",
            "/..;/..;/jkmanager",
        ] {
            assert!(hides_dot_segment(hidden), "{hidden}");
        }
        for plain in [
            "/jkmanager/",
            "/jkmanager;jsessionid=1/",
            "/app/../jkmanager/",
            "/app/%2e%2e/jkmanager/",
            "/app/x..;/jkmanager/",
            "/app/...;/jkmanager/",
            "/app/;/jkmanager/",
            "/app/..",
            "/app/..%2fx;",
        ] {
            assert!(!hides_dot_segment(plain), "{plain}");
        }
        // The hidden segments are exactly those mod_jk resolves after httpd.
        assert_eq!(
            map_input("/app/..;/jkmanager/").ok(),
            Some(b"/jkmanager/".to_vec())
        );
        assert_eq!(
            map_input("/app/%2e%2e;/jkmanager/").ok(),
            Some(b"/jkmanager/".to_vec())
        );
    }
}
