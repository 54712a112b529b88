//! httpd's line syntax: logical lines (backslash continuation), the words of a line as
//! `ap_getword_conf` splits them, and `${VAR}` resolution.

pub(super) use crate::config::values::is_c_space;
use std::collections::HashMap;

use crate::config::props::Env;

/// One logical line: physical lines joined by backslash continuation.
pub(super) struct LogicalLine {
    /// The first physical line.
    pub(super) number: u32,
    pub(super) bytes: Vec<u8>,
}

/// Splits a file into logical lines as `ap_cfg_getline_core`: a backslash right
/// before the line end (`\n` or `\r\n`) joins the next line, and is removed with the
/// line end; a backslash followed by a space, or on the last line without a newline,
/// stays.
pub(super) fn logical_lines(bytes: &[u8]) -> Vec<LogicalLine> {
    let mut lines = Vec::new();
    let mut pending: Option<LogicalLine> = None;
    for (n, physical) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        let number = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let mut line = pending.take().unwrap_or(LogicalLine {
            number,
            bytes: Vec::new(),
        });
        if let Some(body) = physical.strip_suffix(b"\n") {
            let body = body.strip_suffix(b"\r").unwrap_or(body);
            if let Some(joined) = body.strip_suffix(b"\\") {
                line.bytes.extend_from_slice(joined);
                pending = Some(line);
                continue;
            }
        }
        line.bytes.extend_from_slice(physical);
        lines.push(line);
    }
    lines.extend(pending);
    lines
}

/// Removes `\\` before `\\` (and before the quote inside quotes), as
/// `substring_conf`.
fn unescape_word(raw: &str, quote: Option<char>) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&next) = chars.peek()
            && (next == '\\' || Some(next) == quote)
        {
            out.push(next);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// `ap_getword_conf`: the next word (quotes and backslashes honoured) and the rest
/// of the line after the white space that follows it.
pub(super) fn next_word(line: &str) -> (String, &str) {
    let s = line.trim_start_matches(is_c_space);
    let bytes = s.as_bytes();
    let Some(&first) = bytes.first() else {
        return (String::new(), s);
    };
    let (word, end) = if first == b'"' || first == b'\'' {
        let mut i = 1;
        while i < bytes.len() && bytes[i] != first {
            let escaped = bytes.get(i + 1).is_some_and(|&n| n == b'\\' || n == first);
            if bytes[i] == b'\\' && escaped {
                i += 2;
            } else {
                i += 1;
            }
        }
        let inner = s.get(1..i).unwrap_or_default();
        let word = unescape_word(inner, Some(char::from(first)));
        (word, if i < bytes.len() { i + 1 } else { i })
    } else {
        let end = s.find(is_c_space).unwrap_or(s.len());
        (unescape_word(s.get(..end).unwrap_or_default(), None), end)
    };
    let rest = s.get(end..).unwrap_or_default();
    (word, rest.trim_start_matches(is_c_space))
}

/// All remaining words of a line.
pub(super) fn words(mut rest: &str) -> Vec<String> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (w, r) = next_word(rest);
        out.push(w);
        rest = r;
    }
    out
}

/// `ap_resolve_env`: `${NAME}` from `Define`, then the environment; an undefined
/// name stays as written. Returns the names that were not defined.
pub(super) fn resolve_vars(
    line: &str,
    defines: &HashMap<String, String>,
    env: Env<'_>,
) -> (String, Vec<String>) {
    let mut out = String::with_capacity(line.len());
    let mut missing = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return (out, missing);
        };
        let name = &after[..end];
        match defines.get(name).cloned().or_else(|| env(name)) {
            Some(v) => out.push_str(&v),
            None => {
                // httpd does not warn for names with ':' (they belong to other syntaxes).
                if !name.contains(':') {
                    missing.push(name.to_string());
                }
                out.push_str(&rest[start..start + 2 + end + 1]);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    (out, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_follow_getword_conf() {
        assert_eq!(
            words(r#"a "b c" 'd e' f\\g "h\"i" 'j\'k' "x\y""#),
            ["a", "b c", "d e", r"f\g", "h\"i", "j'k", r"x\y"]
        );
        assert_eq!(words(r#""abc"def"#), ["abc", "def"]);
        assert_eq!(words(r#""unterminated"#), ["unterminated"]);
        assert_eq!(words("x\u{a0} y"), ["x\u{a0}", "y"]);
        assert!(words("").is_empty());
    }
}
