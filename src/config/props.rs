//! The properties reader: mod_jk's line syntax, duplicate keys, `$(variables)` and `reference` inheritance.
//!
//! This is the layer below typed configuration. It turns files into one ordered
//! key/value map exactly as mod_jk 1.2.48's `jk_map.c` does, remembering for every
//! key the file and line that set it, and reporting what mod_jk does silently.

use std::collections::HashMap;
use std::sync::Arc;

use super::diag::{Diagnostics, Origin};
use super::keys;
use super::values::is_c_space;

/// mod_jk reads lines with `fgets` into an 8192-byte buffer, so a physical line is
/// cut into pieces of at most this many bytes, each parsed as a line of its own.
const FGETS_CHUNK: usize = 8191;
/// At most this many `$(...)` substitutions are attempted per value (mod_jk's counter).
const MAX_SUBSTITUTIONS: usize = 21;
/// Depth limit of `reference` chains.
const MAX_REFERENCE_DEPTH: usize = 20;

/// How repeated keys combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Treatment {
    /// workers.properties: list keys join with `,`, unique keys are replaced, others join with `*`.
    Duplicates,
    /// uriworkermap.properties: every repeated key is replaced (with a warning).
    Normal,
    /// An `--extend` file (jkd's overlay on the workers file): read as a workers file,
    /// but a key it sets again replaces the earlier value without a warning (lists
    /// still join): changing a member for jkd alone, e.g. `type=http` with its HTTP
    /// port, is what the file is for.
    Overlay,
}

/// One key of the map, with the line that last set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub origin: Origin,
}

/// Looks up process environment variables; a parameter so tests control it.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, as mod_jk's `getenv`.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// An insertion-ordered map of properties, as mod_jk's `jk_map_t`.
#[derive(Clone, Debug, Default)]
pub struct PropMap {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
}

/// Trims the C-locale whitespace mod_jk trims (never Unicode spaces such as NBSP).
fn trim_c(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !is_c_space(char::from(*b)))
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !is_c_space(char::from(*b)))
        .map_or(start, |p| p + 1);
    &s[start..end.max(start)]
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl PropMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.index.get(key).map(|&i| &self.entries[i])
    }

    pub fn value(&self, key: &str) -> Option<&str> {
        self.get(key).map(|e| e.value.as_str())
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sets `key` (replacing in place, keeping its position, as `jk_map_put`).
    pub fn put(&mut self, key: &str, value: String, origin: Origin) {
        if let Some(&i) = self.index.get(key) {
            self.entries[i].value = value;
            self.entries[i].origin = origin;
        } else {
            self.index.insert(key.to_string(), self.entries.len());
            self.entries.push(Entry {
                key: key.to_string(),
                value,
                origin,
            });
        }
    }

    /// Reads a whole file's bytes. Returns false when mod_jk would stop reading and
    /// refuse the configuration (an unsupported `worker.` attribute); the rest of the
    /// file is then not read, as in mod_jk.
    pub fn read_bytes(
        &mut self,
        file: &Arc<str>,
        bytes: &[u8],
        treatment: Treatment,
        env: Env<'_>,
        diags: &mut Diagnostics,
    ) -> bool {
        for (n, physical) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
            let origin = Origin::new(file.clone(), (n + 1) as u32);
            if n == 0 && physical.starts_with(b"\xEF\xBB\xBF") {
                let rest = trim_c(&physical[3..]);
                if !rest.is_empty() && !rest.starts_with(b"#") {
                    diags.warning(
                        origin.clone(),
                        "",
                        "the file starts with a UTF-8 byte order mark; mod_jk reads it as part \
                         of the first key, so this line does not set what it seems to \
                         (save the file without BOM)",
                    );
                }
            }
            if std::str::from_utf8(physical).is_err() {
                diags.warning(
                    origin.clone(),
                    "",
                    "line contains bytes that are not UTF-8; they are shown as U+FFFD",
                );
            }
            for piece in physical.chunks(FGETS_CHUNK) {
                let piece = match piece.iter().position(|b| *b == b'#') {
                    Some(p) => &piece[..p],
                    None => piece,
                };
                if piece.is_empty() {
                    continue;
                }
                if !self.read_property(piece, origin.clone(), treatment, env, diags) {
                    return false;
                }
            }
        }
        true
    }

    /// Reads one `key=value` line (comments already cut off), as `jk_map_read_property`.
    pub fn read_property(
        &mut self,
        line: &[u8],
        origin: Origin,
        treatment: Treatment,
        env: Env<'_>,
        diags: &mut Diagnostics,
    ) -> bool {
        let line = trim_c(line);
        if line.is_empty() {
            return true;
        }
        let Some(eq) = line.iter().position(|b| *b == b'=') else {
            diags.warning(
                origin,
                "",
                format!(
                    "line '{}' has no '=' and is ignored (mod_jk ignores it too)",
                    text(line)
                ),
            );
            return true;
        };
        let key = trim_c(&line[..eq]);
        let value = trim_c(&line[eq + 1..]);
        if key.is_empty() {
            diags.warning(origin, "", "line has no key before '=' and is ignored");
            return true;
        }
        let key = text(key);
        if value.is_empty() {
            diags.warning(
                origin,
                key,
                "empty value: the line is ignored (mod_jk cannot set a property to the empty \
                 string, so an inherited or default value stays)",
            );
            return true;
        }
        let value = text(value);
        if treatment != Treatment::Normal {
            if !keys::is_valid(&key) {
                let attr = key.rsplit('.').next().unwrap_or("");
                let hint = match keys::closest(attr) {
                    Some(c) => format!("; did you mean '{c}'?"),
                    None => String::from("; see the list of supported attributes"),
                };
                diags.error(
                    origin,
                    key.clone(),
                    format!("unknown attribute '{attr}'{hint} (mod_jk refuses to start on it)"),
                );
                return false;
            }
            if let Some(meant) = keys::misspelt_worker_key(&key) {
                diags.warning(
                    origin.clone(),
                    key.clone(),
                    format!(
                        "not a worker key: mod_jk takes it as a variable for $(...) and \
                         ignores it otherwise; did you mean '{meant}'?"
                    ),
                );
            }
            if let Some((old, new)) = keys::deprecated(&key) {
                let advice = if new.is_empty() {
                    String::from("it is ignored by ajp13 and lb workers; remove it")
                } else {
                    format!("use '{new}' instead")
                };
                diags.warning(
                    origin.clone(),
                    key.clone(),
                    format!("'{old}' is deprecated: {advice}"),
                );
            }
        }
        let value = self.expand(&value, env);
        let value = match self.get(&key) {
            None => value,
            Some(old) => {
                let replaced_on_purpose = treatment == Treatment::Overlay
                    && !keys::is_list(&key)
                    && !keys::is_path(&key)
                    && !keys::is_cmd_line(&key);
                if replaced_on_purpose {
                    value
                } else if treatment != Treatment::Normal && !keys::is_unique(&key) {
                    let sep = if keys::is_path(&key) {
                        ':'
                    } else if keys::is_cmd_line(&key) {
                        ' '
                    } else if keys::is_list(&key) {
                        ','
                    } else {
                        '*'
                    };
                    if sep == '*' && key.starts_with("worker.") {
                        diags.warning(
                            origin.clone(),
                            key.clone(),
                            format!(
                                "set again (first at line {}); mod_jk joins the values with '*', \
                                 so for a number the first value '{}' stays in effect",
                                old.origin.line, old.value
                            ),
                        );
                    }
                    format!("{}{}{}", old.value, sep, value)
                } else {
                    diags.warning(
                        origin.clone(),
                        key.clone(),
                        format!(
                            "duplicate key (first at {}): the earlier value '{}' is replaced by '{}'",
                            old.origin, old.value, value
                        ),
                    );
                    value
                }
            }
        };
        self.put(&key, value, origin);
        true
    }

    /// Replaces `$(name)` in a value: earlier keys first, then the environment; an
    /// unknown name stays as written; substituted text is not scanned again.
    pub fn expand(&self, value: &str, env: Env<'_>) -> String {
        let mut out = value.to_string();
        let mut pos = 0;
        let mut attempts = 0;
        while let Some(rel) = out[pos..].find("$(") {
            let start = pos + rel;
            attempts += 1;
            if attempts > MAX_SUBSTITUTIONS {
                break;
            }
            let Some(end_rel) = out[start..].find(')') else {
                break;
            };
            let end = start + end_rel;
            let name = &out[start + 2..end];
            let found = self.value(name).map(str::to_string).or_else(|| env(name));
            match found {
                Some(v) => {
                    out = format!("{}{}{}", &out[..start], v, &out[end + 1..]);
                    pos = start + v.len();
                }
                None => pos = end,
            }
        }
        out
    }

    /// Resolves every `worker.X.reference=worker.T` as `jk_map_resolve_references`:
    /// keys of `worker.T.` are copied to `worker.X.` unless X has them already.
    pub fn resolve_references(&mut self, diags: &mut Diagnostics) -> bool {
        self.resolve_prefix("worker.", true, 1, diags)
    }

    fn resolve_prefix(
        &mut self,
        prefix: &str,
        wildcard: bool,
        depth: usize,
        diags: &mut Diagnostics,
    ) -> bool {
        const SUFFIX: &str = ".reference";
        if depth > MAX_REFERENCE_DEPTH {
            let origin = self
                .get(&format!("{prefix}{SUFFIX}"))
                .map(|e| e.origin.clone())
                .unwrap_or_else(|| Origin::new("workers.properties", 0));
            diags.error(
                origin,
                format!("{prefix}{SUFFIX}"),
                format!(
                    "reference chain is deeper than {MAX_REFERENCE_DEPTH} levels (is there a loop?)"
                ),
            );
            return false;
        }
        // Only the keys present now are visited. mod_jk's loop also visits keys copied
        // during the loop, so a reference whose target prefix covers the copies (such
        // as `worker.x.reference=worker`) makes it copy forever until memory runs out;
        // the targets are resolved before they are copied, so nothing is lost here.
        let present = self.entries.len();
        let mut i = 0;
        while i < present {
            let name = &self.entries[i].key;
            let value = &self.entries[i].value;
            if !value.is_empty() && name.starts_with(prefix) {
                let remain = name.len() - prefix.len();
                if (remain == SUFFIX.len() || (wildcard && remain > SUFFIX.len()))
                    && name.ends_with(SUFFIX)
                {
                    let target = value.clone();
                    let to = format!("{}.", &name[..name.len() - SUFFIX.len()]);
                    let from = format!("{target}.");
                    let origin = self.entries[i].origin.clone();
                    let key = name.clone();
                    if !self.resolve_prefix(&target, false, depth + 1, diags) {
                        return false;
                    }
                    if !self.inherit(&from, &to) {
                        let hint = if target.starts_with("worker.") {
                            String::new()
                        } else {
                            format!(" (the value is a key prefix: write 'worker.{target}')")
                        };
                        diags.error(
                            origin,
                            key,
                            format!(
                                "reference '{target}' not found: no key starts with '{from}'{hint}"
                            ),
                        );
                        return false;
                    }
                }
            }
            i += 1;
        }
        true
    }

    fn inherit(&mut self, from: &str, to: &str) -> bool {
        let mut found = false;
        let present = self.entries.len();
        let mut i = 0;
        while i < present {
            if let Some(rest) = self.entries[i].key.strip_prefix(from) {
                found = true;
                let target = format!("{to}{rest}");
                if !self.index.contains_key(&target) {
                    let value = self.entries[i].value.clone();
                    let origin = self.entries[i].origin.clone();
                    self.put(&target, value, origin);
                }
            }
            i += 1;
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn read(text: &str) -> (PropMap, Diagnostics, bool) {
        let mut m = PropMap::new();
        let mut d = Diagnostics::default();
        let ok = m.read_bytes(
            &Arc::from("w.properties"),
            text.as_bytes(),
            Treatment::Duplicates,
            &no_env,
            &mut d,
        );
        (m, d, ok)
    }

    #[test]
    fn first_hash_cuts_the_line() {
        let (m, _, _) = read("worker.a.secret=ab#cd\n");
        assert_eq!(m.value("worker.a.secret"), Some("ab"));
    }

    #[test]
    fn split_at_first_equals_and_trim() {
        let (m, _, _) = read("\t worker.a.host \t=\t x=y \r\n");
        assert_eq!(m.value("worker.a.host"), Some("x=y"));
    }

    #[test]
    fn lines_without_equals_or_value_are_ignored_with_a_warning() {
        let (m, d, ok) = read("foo\nworker.a.redirect=\nworker.a.port=1\n");
        assert!(ok);
        assert_eq!(m.len(), 1);
        assert_eq!(d.items.len(), 2);
        assert_eq!(d.items[0].origin.line, 1);
        assert_eq!(d.items[1].origin.line, 2);
        assert_eq!(d.items[1].key, "worker.a.redirect");
    }

    #[test]
    fn nbsp_is_not_whitespace() {
        let (m, _, _) = read("worker.a.host=x\u{a0}\n");
        assert_eq!(m.value("worker.a.host"), Some("x\u{a0}"));
    }

    #[test]
    fn backslash_is_not_a_continuation() {
        let (m, _, _) = read("worker.list=a,\\\nb=c\n");
        assert_eq!(m.value("worker.list"), Some("a,\\"));
        assert_eq!(m.value("b"), Some("c"));
    }

    #[test]
    fn bom_becomes_part_of_the_first_key() {
        let (m, d, _) = read("\u{feff}worker.list=lb\n");
        assert_eq!(m.value("worker.list"), None);
        assert_eq!(m.value("\u{feff}worker.list"), Some("lb"));
        assert_eq!(d.items[0].origin.line, 1);
    }

    #[test]
    fn duplicate_classes() {
        let (m, d, _) = read(
            "worker.list=a\nworker.list=b\nworker.a.port=1\nworker.a.port=2\n\
             worker.a.distance=3\nworker.a.distance=4\nfoo_path=/x\nfoo_path=/y\n",
        );
        assert_eq!(m.value("worker.list"), Some("a,b"));
        assert_eq!(m.value("worker.a.port"), Some("2"));
        assert_eq!(m.value("worker.a.distance"), Some("3*4"));
        assert_eq!(m.value("foo_path"), Some("/x:/y"));
        let port = d
            .items
            .iter()
            .find(|x| x.key == "worker.a.port")
            .map(|x| x.origin.line);
        assert_eq!(port, Some(4));
        let dist = d
            .items
            .iter()
            .find(|x| x.key == "worker.a.distance")
            .map(|x| x.origin.line);
        assert_eq!(dist, Some(6));
    }

    #[test]
    fn maintain_duplicates_join_with_star() {
        let (m, _, _) = read("worker.maintain=30\nworker.maintain=90\n");
        assert_eq!(m.value("worker.maintain"), Some("30*90"));
    }

    #[test]
    fn unknown_attribute_stops_reading_and_names_the_line() {
        let (m, d, ok) = read("worker.a.port=1\nworker.a.prot=2\nworker.a.host=h\n");
        assert!(!ok);
        assert_eq!(m.value("worker.a.host"), None);
        let e = d.items.iter().find(|x| x.is_error()).cloned();
        let e = e.map(|e| {
            (
                e.origin.line,
                e.key,
                e.message.contains("did you mean 'port'"),
            )
        });
        assert_eq!(e, Some((2, "worker.a.prot".to_string(), true)));
    }

    #[test]
    fn variables_earlier_lines_then_env_then_literal() {
        let env = |n: &str| (n == "HOME_DIR").then(|| "/env".to_string());
        let mut m = PropMap::new();
        let mut d = Diagnostics::default();
        m.read_bytes(
            &Arc::from("w"),
            b"base=/b\nworker.a.host=$(base)/$(HOME_DIR)/$(later)/$(nope\nlater=x\n",
            Treatment::Duplicates,
            &env,
            &mut d,
        );
        assert_eq!(m.value("worker.a.host"), Some("/b//env/$(later)/$(nope"));
    }

    #[test]
    fn substituted_text_is_not_rescanned() {
        let (m, _, _) = read("a=$(b)\nc=$(a)x\n");
        assert_eq!(m.value("c"), Some("$(b)x"));
    }

    #[test]
    fn references_copy_missing_keys_and_chain() {
        let (mut m, _, _) = read(
            "worker.base.port=1\nworker.base.type=ajp13\nworker.mid.reference=worker.base\n\
             worker.mid.host=m\nworker.x.reference=worker.mid\nworker.x.port=9\n",
        );
        let mut d = Diagnostics::default();
        assert!(m.resolve_references(&mut d));
        assert_eq!(m.value("worker.x.port"), Some("9"));
        assert_eq!(m.value("worker.x.host"), Some("m"));
        assert_eq!(m.value("worker.x.type"), Some("ajp13"));
    }

    #[test]
    fn missing_reference_is_an_error_on_its_line() {
        let (mut m, _, _) = read("worker.a.port=1\nworker.x.reference=tmpl\n");
        let mut d = Diagnostics::default();
        assert!(!m.resolve_references(&mut d));
        assert_eq!(d.items[0].origin.line, 2);
        assert!(d.items[0].message.contains("worker.tmpl"));
    }

    #[test]
    fn reference_loop_hits_the_depth_limit() {
        let (mut m, _, _) = read("worker.a.reference=worker.b\nworker.b.reference=worker.a\n");
        let mut d = Diagnostics::default();
        assert!(!m.resolve_references(&mut d));
        assert!(d.has_errors());
    }

    #[test]
    fn a_reference_covering_its_own_copies_terminates() {
        let (mut m, _, _) = read("worker.t.port=1\nworker.x.reference=worker\n");
        let mut d = Diagnostics::default();
        assert!(m.resolve_references(&mut d));
        assert_eq!(m.value("worker.x.t.port"), Some("1"));
        assert!(m.len() < 10);
    }

    #[test]
    fn long_lines_are_cut_like_fgets() {
        let long = format!("worker.a.host={}\n", "h".repeat(9000));
        let (m, _, _) = read(&long);
        assert_eq!(
            m.value("worker.a.host").map(str::len),
            Some(FGETS_CHUNK - 14)
        );
    }
}
