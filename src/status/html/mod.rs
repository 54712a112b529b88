//! The HTML page of the status worker: one self-contained page (inline CSS and script, no other request but its own JSON) with every balancer and its members, their state and activation in colour, live request and error rates drawn as sparklines, buttons to activate, drain, stop, reset and recover a member, and mod_jk's full tables one click away; everything from the configuration or the request is escaped.
//!
//! What scripts grep for stays as mod_jk prints it: `<h1>JK Status Manager for
//! host:port</h1>` (with ` (read only)` when it is) and the `Server Version:` row,
//! and every link keeps the `cmd=` / `mime=` / `w=` / `sw=` / `opt=` scheme. The
//! page's script polls `?cmd=list&mime=json` every few seconds and updates the page
//! in place; without the script the page is complete, only not live.
//!
//! Changes are forms posting to the status worker with the process's token (see
//! [`super::auth`]); they are left out when the manager is read-only.

mod forms;
mod page;
mod tables;

use std::fmt::Write;

use super::Access;
use super::clock;
use super::params::{Command, Params};
use crate::config::workers::StatusSettings;

pub use page::{render, see_other};

/// What the HTML page needs beyond the content.
pub struct Context<'a> {
    pub settings: &'a StatusSettings,
    pub params: &'a Params,
    /// The status worker's base path ([`super::base_path`]), which every link and
    /// form points to.
    pub path: &'a str,
    pub command: Option<Command>,
    pub read_only: bool,
    pub server_name: &'a str,
    pub server_port: u16,
    /// An update, reset or recover succeeded: the page sends the browser back.
    pub action_done: bool,
    /// Whether anyone can write, and the forms' token.
    pub access: Access<'a>,
    /// The signed-in user.
    pub remote_user: Option<&'a str>,
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'*' => {
                out.push(char::from(b));
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// APR's `apr_strfsize`, as mod_jk prints byte counts: below 973 the plain number
/// and a space, else one decimal below 9.95 of a unit, else a rounded whole number,
/// with K, M, G, T, P or E.
pub fn size(bytes: u64) -> String {
    if bytes < 973 {
        return format!("{bytes} ");
    }
    let units = ['K', 'M', 'G', 'T', 'P', 'E'];
    let mut value = bytes;
    for unit in units {
        let remainder = value & 0x3FF;
        value >>= 10;
        if value >= 973 {
            continue;
        }
        if value < 9 || (value == 9 && remainder < 973) {
            let mut tenths = (remainder * 5 + 256) / 512;
            let mut whole = value;
            if tenths >= 10 {
                whole += 1;
                tenths = 0;
            }
            return format!("{whole}.{tenths}{unit}");
        }
        let whole = if remainder >= 512 { value + 1 } else { value };
        return format!("{whole}{unit}");
    }
    format!("{value}E")
}
impl Context<'_> {
    /// A link back to this status worker with the given parameters and the current
    /// `opt` (changed by `add`/`remove`), not yet escaped.
    fn raw_href(&self, pairs: &[(&str, &str)], add: u32, remove: u32) -> String {
        let mut query: Vec<String> = pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let options = (self.params.options() | add) & !remove;
        if options != 0 {
            query.push(format!("opt={options}"));
        }
        if query.is_empty() {
            self.path.to_string()
        } else {
            format!("{}?{}", self.path, query.join("&"))
        }
    }

    /// [`Self::raw_href`], escaped for an attribute.
    fn href(&self, pairs: &[(&str, &str)], add: u32, remove: u32) -> String {
        escape(&self.raw_href(pairs, add, remove))
    }

    fn link(&self, text: &str, pairs: &[(&str, &str)]) -> String {
        format!(
            "<a href=\"{}\">{}</a>",
            self.href(pairs, 0, 0),
            escape(text)
        )
    }

    fn command_name(&self) -> &'static str {
        self.command.unwrap_or(Command::List).as_str()
    }

    /// Where the browser goes after an update, reset or recover: back to the list, or
    /// to the worker when the change came from its page (not escaped). After a form
    /// the page asks the browser for its credentials again (`login=1`), which it
    /// sends without asking the user, so that the page says who is signed in.
    pub fn back_location(&self) -> String {
        let w = self.params.get("w").unwrap_or_default();
        let login = if self.access.from_form && self.remote_user.is_some() {
            "1"
        } else {
            ""
        };
        match self.params.get("from") {
            Some("show") => self.raw_href(&[("cmd", "show"), ("w", w), ("login", login)], 0, 0),
            _ => self.raw_href(&[("cmd", "list"), ("login", login)], 0, 0),
        }
    }

    /// The page offers changes: anyone can sign in and nothing makes it read-only.
    fn offers_changes(&self) -> bool {
        !self.read_only && self.access.writable
    }

    fn time(&self, unix: i64) -> String {
        clock::html(unix).unwrap_or_else(|| unix.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_apr_prints_them() {
        assert_eq!(size(0), "0 ");
        assert_eq!(size(972), "972 ");
        assert_eq!(size(973), "1.0K");
        assert_eq!(size(1536), "1.5K");
        assert_eq!(size(10 * 1024), "10K");
        assert_eq!(size(5 * 1024 * 1024), "5.0M");
        assert_eq!(size(700 * 1024 * 1024), "700M");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(encode("a b/c&d"), "a%20b%2Fc%26d");
    }
}
