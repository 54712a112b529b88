//! The status worker's request parameters: read from the query string only, as mod_jk's `status_parse_uri` reads them; the percent decoder is hand-written on purpose, since it keeps `jk_unescape_url`'s quirks (an encoded NUL or a bad escape makes the whole query malformed) that a general decoder would not.

use std::collections::HashMap;

use crate::config::uri::hex_value;
use crate::config::values;

/// The characters mod_jk replaces with `@` in the query and in every value, against
/// cross-site scripting.
const MASKED: [char; 4] = ['<', '>', '?', '"'];

/// `opt` bits (`JK_STATUS_ARG_OPTION_*`).
pub mod opt {
    pub const NO_MEMBERS: u32 = 0x0001;
    pub const NO_MAPS: u32 = 0x0002;
    pub const NO_LEGEND: u32 = 0x0004;
    pub const NO_LB: u32 = 0x0008;
    pub const NO_AJP: u32 = 0x0010;
    pub const READ_ONLY: u32 = 0x0020;
    pub const NO_LB_CONF: u32 = 0x0040;
    pub const NO_LB_SUMMARY: u32 = 0x0080;
    pub const NO_AJP_CONF: u32 = 0x0100;
}

/// `cmd=`: exact lower-case names; a missing `cmd` is `list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    List,
    Show,
    Edit,
    Update,
    Reset,
    Version,
    Recover,
    Dump,
}

impl Command {
    pub const ALL: [Command; 8] = [
        Command::List,
        Command::Show,
        Command::Edit,
        Command::Update,
        Command::Reset,
        Command::Version,
        Command::Recover,
        Command::Dump,
    ];

    /// `None` for an unknown command; an absent one is [`Command::List`].
    pub fn parse(text: Option<&str>) -> Option<Command> {
        match text {
            None => Some(Command::List),
            Some(t) => Command::ALL.into_iter().find(|c| c.as_str() == t),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Command::List => "list",
            Command::Show => "show",
            Command::Edit => "edit",
            Command::Update => "update",
            Command::Reset => "reset",
            Command::Version => "version",
            Command::Recover => "recover",
            Command::Dump => "dump",
        }
    }

    /// Prints the time and software lines (`JK_STATUS_CMD_PROP_HEAD`).
    pub fn prints_head(self) -> bool {
        matches!(
            self,
            Command::List | Command::Show | Command::Version | Command::Dump
        )
    }

    /// Allowed in read-only mode (`JK_STATUS_CMD_PROP_READONLY`).
    pub fn reads_only(self) -> bool {
        !matches!(
            self,
            Command::Edit | Command::Update | Command::Reset | Command::Recover
        )
    }

    /// Needs `w` (and checks `sw`) before it runs (`JK_STATUS_CMD_PROP_CHECK_WORKER`).
    pub fn checks_worker(self) -> bool {
        !matches!(self, Command::List | Command::Version | Command::Dump)
    }

    /// Changes the runtime and prints only the result.
    pub fn is_action(self) -> bool {
        matches!(self, Command::Update | Command::Reset | Command::Recover)
    }
}

/// `mime=`: exact lower-case names; a missing `mime` is `html`. `json` is jkd's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mime {
    Html,
    Xml,
    Txt,
    Prop,
    Json,
}

impl Mime {
    /// `None` for an unknown format; an absent one is [`Mime::Html`].
    pub fn parse(text: Option<&str>) -> Option<Mime> {
        match text {
            None | Some("html") => Some(Mime::Html),
            Some("xml") => Some(Mime::Xml),
            Some("txt") => Some(Mime::Txt),
            Some("prop") => Some(Mime::Prop),
            Some("json") => Some(Mime::Json),
            Some(_) => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mime::Html => "html",
            Mime::Xml => "xml",
            Mime::Txt => "txt",
            Mime::Prop => "prop",
            Mime::Json => "json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Mime::Html => "text/html",
            Mime::Xml => "text/xml",
            Mime::Txt | Mime::Prop => "text/plain",
            Mime::Json => "application/json",
        }
    }
}

/// The parsed query.
#[derive(Clone, Debug, Default)]
pub struct Params {
    values: HashMap<String, String>,
    /// The raw query with `<>?"` masked (HTML refresh links repeat it).
    pub masked_query: String,
    /// A value had a bad `%` escape or an encoded NUL: mod_jk stops reading there and
    /// answers "Error during parsing of URI" (the parameters before it still count).
    pub malformed: bool,
}

fn mask(text: &str) -> String {
    text.replace(MASKED, "@")
}

/// `jk_unescape_url` with `+` as space: `None` for a `%` without two hex digits or
/// an encoded NUL.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value)?;
                let lo = bytes.get(i + 2).copied().and_then(hex_value)?;
                let decoded = hi * 16 + lo;
                if decoded == 0 {
                    return None;
                }
                out.push(decoded);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

impl Params {
    /// Splits the query on `&`; pairs without `=` or with an empty name are skipped,
    /// names are taken as written, values are percent-decoded (`+` is a space) and
    /// masked; a later duplicate replaces an earlier one.
    pub fn parse(query: Option<&str>) -> Params {
        let Some(query) = query else {
            return Params::default();
        };
        let masked_query = mask(query);
        let mut values = HashMap::new();
        let mut malformed = false;
        for pair in masked_query.split('&').filter(|p| !p.is_empty()) {
            let Some((name, raw)) = pair.split_once('=') else {
                continue;
            };
            if name.is_empty() {
                continue;
            }
            match percent_decode(raw) {
                Some(value) => {
                    values.insert(name.to_string(), mask(&value));
                }
                None => {
                    malformed = true;
                    break;
                }
            }
        }
        Params {
            values,
            masked_query,
            malformed,
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// C's `atoi` of the value, `default` when absent.
    pub fn int(&self, name: &str, default: i32) -> i32 {
        self.get(name).map_or(default, values::int_atoi)
    }

    /// mod_jk's `jk_get_bool_code`: `default` when absent or not a boolean.
    pub fn bool(&self, name: &str, default: bool) -> bool {
        self.get(name)
            .map_or(default, |v| values::bool(v, default).0)
    }

    /// The `opt` bit mask.
    pub fn options(&self) -> u32 {
        self.int("opt", 0) as u32
    }

    pub fn option(&self, bit: u32) -> bool {
        self.options() & bit != 0
    }

    pub fn command(&self) -> Option<Command> {
        Command::parse(self.get("cmd"))
    }

    pub fn mime(&self) -> Option<Mime> {
        Mime::parse(self.get("mime"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_string_rules() {
        let p = Params::parse(Some("cmd=show&w=lb&&novalue&=x&sw=a%2Bb+c&w=lb2"));
        assert_eq!(p.get("cmd"), Some("show"));
        assert_eq!(p.get("w"), Some("lb2"), "later duplicates win");
        assert_eq!(p.get("sw"), Some("a+b c"));
        assert_eq!(p.get("novalue"), None);
        assert_eq!(p.get(""), None);
        assert!(!p.malformed);
    }

    #[test]
    fn special_characters_become_at_signs() {
        let p = Params::parse(Some("w=%3Cscript%3E&sw=<b>&x=a%22b%3fc"));
        assert_eq!(p.get("w"), Some("@script@"));
        assert_eq!(p.get("sw"), Some("@b@"));
        assert_eq!(p.get("x"), Some("a@b@c"));
        assert_eq!(p.masked_query, "w=%3Cscript%3E&sw=@b@&x=a%22b%3fc");
    }

    #[test]
    fn bad_escapes_stop_the_parse() {
        let p = Params::parse(Some("cmd=show&w=%zz&mime=xml"));
        assert!(p.malformed);
        assert_eq!(p.get("cmd"), Some("show"));
        assert_eq!(p.get("w"), None);
        assert_eq!(p.get("mime"), None);
        assert!(Params::parse(Some("w=a%00b")).malformed);
        assert!(Params::parse(Some("w=50%")).malformed);
    }

    #[test]
    fn names_are_not_decoded() {
        let p = Params::parse(Some("c%6dd=show"));
        assert_eq!(p.get("cmd"), None);
        assert_eq!(p.get("c%6dd"), Some("show"));
    }

    #[test]
    fn numbers_and_booleans_as_mod_jk_reads_them() {
        let p = Params::parse(Some("opt=34abc&re=-5&vls=0&vlf=yes&x=maybe"));
        assert_eq!(p.options(), 34);
        assert!(p.option(opt::READ_ONLY));
        assert_eq!(p.int("re", 0), -5);
        assert_eq!(p.int("missing", 7), 7);
        assert!(!p.bool("vls", true));
        assert!(p.bool("vlf", false));
        assert!(p.bool("x", true), "not a boolean keeps the default");
    }

    #[test]
    fn commands_and_formats() {
        assert_eq!(Command::parse(None), Some(Command::List));
        assert_eq!(Command::parse(Some("recover")), Some(Command::Recover));
        assert_eq!(Command::parse(Some("LIST")), None);
        assert_eq!(Mime::parse(None), Some(Mime::Html));
        assert_eq!(Mime::parse(Some("json")), Some(Mime::Json));
        assert_eq!(Mime::parse(Some("XML")), None);
        assert!(Command::Dump.prints_head() && !Command::Edit.prints_head());
        assert!(Command::Version.reads_only() && !Command::Reset.reads_only());
        assert!(Command::Show.checks_worker() && !Command::Dump.checks_worker());
    }
}
