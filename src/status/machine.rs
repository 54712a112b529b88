//! The machine formats: mod_jk's xml, txt and prop listings byte for byte in layout, and jkd's JSON carrying what the xml carries.

use std::fmt::Write;
use std::io;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::ser::{CharEscape, CompactFormatter, Formatter};

use super::page::{ACTION_FINISHED, Body, Head, Page, Server};
use super::view::{AjpView, Field, LbView, MapView, MemberView, Order, Value};
use crate::config::workers::StatusSettings;

fn result_parts(page: &Page) -> (&'static str, &str) {
    match &page.outcome {
        Ok(()) => ("OK", ACTION_FINISHED),
        Err(message) => ("ERROR", message.as_str()),
    }
}

// ---------------------------------------------------------------- xml

/// mod_jk's xml writer: every element start and every attribute on a line of its
/// own, values unescaped (mod_jk masks `<>?"` in request values and escapes
/// nothing else).
struct Xml<'a> {
    ns: &'a str,
    out: String,
}

impl Xml<'_> {
    fn start(&mut self, indent: usize, name: &str) {
        let _ = writeln!(self.out, "{:indent$}<{}{}", "", self.ns, name);
    }
    fn attr(&mut self, indent: usize, name: &str, value: &str) {
        let _ = writeln!(self.out, "{:indent$}{name}=\"{value}\"", "");
    }
    fn attrs(&mut self, indent: usize, fields: &[Field]) {
        for f in fields {
            self.attr(indent, f.name, &f.value.plain());
        }
    }
    /// `/>` closes an empty element, `>` opens one with children.
    fn stop(&mut self, indent: usize, empty: bool) {
        let _ = writeln!(self.out, "{:indent$}{}", "", if empty { "/>" } else { ">" });
    }
    fn close(&mut self, indent: usize, name: &str) {
        let _ = writeln!(self.out, "{:indent$}</{}{}>", "", self.ns, name);
    }

    fn map(&mut self, m: &MapView) {
        self.start(6, "map");
        self.attr(8, "id", &m.id.to_string());
        self.attrs(8, &m.fields());
        self.stop(6, true);
    }

    fn balancer(&mut self, lb: &LbView) {
        self.start(2, "balancer");
        self.attr(4, "name", &lb.name);
        self.attrs(4, &lb.fields());
        self.stop(2, false);
        for m in &lb.members {
            self.member(m);
        }
        for map in &lb.maps {
            self.map(map);
        }
        self.close(2, "balancer");
    }

    fn member(&mut self, m: &MemberView) {
        self.start(6, "member");
        self.attr(8, "name", &m.name);
        self.attrs(8, &m.fields(Order::Xml));
        self.stop(6, true);
    }

    fn ajp(&mut self, w: &AjpView) {
        self.start(2, "ajp");
        self.attr(4, "name", &w.name);
        self.attrs(4, &w.fields(Order::Xml));
        self.stop(2, true);
        for map in &w.maps {
            self.map(map);
        }
    }

    fn server(&mut self, s: &Server) {
        self.start(0, "server");
        self.attr(2, "name", &s.name);
        self.attr(2, "port", &s.port.to_string());
        self.stop(0, true);
    }

    fn head(&mut self, h: &Head) {
        if let Some(t) = &h.time {
            self.start(0, "time");
            self.attr(2, "datetime", &t.datetime);
            self.attr(2, "tz", &t.tz);
            self.attr(2, "unix", &t.unix.to_string());
            self.stop(0, true);
        }
        self.start(0, "software");
        self.attr(2, "web_server", &h.web_server);
        self.attr(2, "jk_version", &h.jk_version);
        self.stop(0, true);
    }
}

/// `mime=xml`.
pub fn xml(page: &Page, st: &StatusSettings) -> String {
    let mut x = Xml {
        ns: &st.ns,
        out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n"),
    };
    if let Some(doctype) = &st.doctype {
        x.out.push_str(doctype);
        x.out.push('\n');
    }
    x.start(0, "status");
    if !st.xmlns.is_empty() {
        x.out.push_str("  ");
        x.out.push_str(&st.xmlns);
    }
    x.stop(0, false);
    if let Some(s) = &page.server {
        x.server(s);
    }
    if let Some(h) = &page.head {
        x.head(h);
    }
    match &page.body {
        Body::List {
            balancers,
            ajp_workers,
        } => {
            if balancers.printed() {
                x.start(0, "balancers");
                x.attr(2, "count", &balancers.count.to_string());
                x.stop(0, false);
                for lb in &balancers.items {
                    x.balancer(lb);
                }
                x.close(0, "balancers");
            }
            if ajp_workers.printed() {
                x.start(0, "ajp_workers");
                x.attr(2, "count", &ajp_workers.count.to_string());
                x.stop(0, false);
                for w in &ajp_workers.items {
                    x.ajp(w);
                }
                x.close(0, "ajp_workers");
            }
        }
        Body::Balancer(lb) => x.balancer(lb),
        Body::Ajp(w) => x.ajp(w),
        Body::Dump(entries) => {
            x.start(2, "configuration");
            for (k, v) in entries {
                x.attr(4, k, v);
            }
            x.stop(2, true);
        }
        Body::Nothing | Body::Edit(_) => {}
    }
    let (kind, message) = result_parts(page);
    x.start(2, "result");
    x.attr(4, "type", kind);
    x.attr(4, "message", message);
    x.stop(2, true);
    x.close(0, "status");
    x.out
}

// ---------------------------------------------------------------- txt

fn txt_fields(out: &mut String, fields: &[Field]) {
    for f in fields {
        if f.quoted_in_txt {
            let _ = write!(out, " {}=\"{}\"", f.name, f.value.plain());
        } else {
            let _ = write!(out, " {}={}", f.name, f.value.plain());
        }
    }
}

fn txt_maps(out: &mut String, maps: &[MapView]) {
    for m in maps {
        let _ = write!(out, "Map: id={}", m.id);
        txt_fields(out, &m.fields());
        out.push('\n');
    }
}

fn txt_balancer(out: &mut String, lb: &LbView) {
    let _ = write!(out, "Balancer Worker: name={}", lb.name);
    txt_fields(out, &lb.fields());
    out.push('\n');
    for m in &lb.members {
        let _ = write!(out, "Member: name={}", m.name);
        txt_fields(out, &m.fields(Order::Text));
        out.push('\n');
    }
    txt_maps(out, &lb.maps);
}

fn txt_ajp(out: &mut String, w: &AjpView) {
    let _ = write!(out, "AJP Worker: name={}", w.name);
    txt_fields(out, &w.fields(Order::Text));
    out.push('\n');
    txt_maps(out, &w.maps);
}

/// `mime=txt`.
pub fn txt(page: &Page) -> String {
    let mut out = String::new();
    if let Some(s) = &page.server {
        let _ = writeln!(out, "Server: name={} port={}", s.name, s.port);
    }
    if let Some(h) = &page.head {
        if let Some(t) = &h.time {
            let _ = writeln!(
                out,
                "Time: datetime={} tz={} unix={}",
                t.datetime, t.tz, t.unix
            );
        }
        let _ = writeln!(
            out,
            "Software: web_server=\"{}\" jk_version={}",
            h.web_server, h.jk_version
        );
    }
    match &page.body {
        Body::List {
            balancers,
            ajp_workers,
        } => {
            if balancers.printed() {
                let _ = writeln!(out, "Balancer Workers: count={}", balancers.count);
                for lb in &balancers.items {
                    txt_balancer(&mut out, lb);
                }
            }
            if ajp_workers.printed() {
                let _ = writeln!(out, "AJP Workers: count={}", ajp_workers.count);
                for w in &ajp_workers.items {
                    txt_ajp(&mut out, w);
                }
            }
        }
        Body::Balancer(lb) => txt_balancer(&mut out, lb),
        Body::Ajp(w) => txt_ajp(&mut out, w),
        Body::Dump(entries) => {
            out.push_str("Configuration:\n");
            for (k, v) in entries {
                let _ = writeln!(out, "{k}={v}");
            }
        }
        Body::Nothing | Body::Edit(_) => {}
    }
    let (kind, message) = result_parts(page);
    let _ = writeln!(out, "Result: type={kind} message=\"{message}\"");
    out
}

// ---------------------------------------------------------------- prop

struct Prop<'a> {
    prefix: &'a str,
    out: String,
}

/// mod_jk's prop names for the two error-time fields contain a space.
fn prop_name(name: &'static str) -> &'static str {
    match name {
        "error_time_unix_seconds" => "error_time_unix seconds",
        "error_time_ago" => "error_time_ago seconds",
        other => other,
    }
}

impl Prop<'_> {
    fn top(&mut self, key: &str, value: &str) {
        let _ = writeln!(self.out, "{}.{key}={value}", self.prefix);
    }
    fn of(&mut self, owner: &str, key: &str, value: &str) {
        let _ = writeln!(self.out, "{}.{owner}.{key}={value}", self.prefix);
    }
    fn fields(&mut self, owner: &str, fields: &[Field]) {
        for f in fields {
            self.of(owner, prop_name(f.name), &f.value.plain());
        }
    }

    fn maps(&mut self, owner: &str, maps: &[MapView]) {
        for m in maps {
            for f in m.fields() {
                let _ = writeln!(
                    self.out,
                    "{}.{owner}.map.{}.{}={}",
                    self.prefix,
                    m.id,
                    f.name,
                    f.value.plain()
                );
            }
        }
    }

    fn balancer(&mut self, lb: &LbView) {
        self.top("list", &lb.name);
        self.fields(&lb.name, &lb.fields());
        for m in &lb.members {
            self.of(&lb.name, "balance_workers", &m.name);
            self.fields(&m.name, &m.own_fields(Order::Text));
            // mod_jk keys a member's reset and error times by the balancer's name.
            self.fields(&lb.name, &m.reset_fields());
        }
        self.maps(&lb.name, &lb.maps);
    }

    fn ajp(&mut self, w: &AjpView) {
        // mod_jk 1.2.48 keys this line by the worker itself, unlike a balancer's.
        self.of(&w.name, "list", &w.name);
        self.fields(&w.name, &w.fields(Order::Text));
        self.maps(&w.name, &w.maps);
    }
}

/// `mime=prop` (and the answer to an unknown `mime`, which carries only the result).
pub fn prop(page: &Page, st: &StatusSettings) -> String {
    let mut p = Prop {
        prefix: &st.prefix,
        out: String::new(),
    };
    if let Some(s) = &page.server {
        p.top("server_name", &s.name);
        p.top("server_port", &s.port.to_string());
    }
    if let Some(h) = &page.head {
        if let Some(t) = &h.time {
            p.top("time_datetime", &t.datetime);
            p.top("time_tz", &t.tz);
            p.top("time_unix", &t.unix.to_string());
        }
        p.top("web_server", &h.web_server);
        p.top("jk_version", &h.jk_version);
    }
    match &page.body {
        Body::List {
            balancers,
            ajp_workers,
        } => {
            if balancers.printed() {
                p.top("lb_count", &balancers.count.to_string());
                for lb in &balancers.items {
                    p.balancer(lb);
                }
            }
            if ajp_workers.printed() {
                p.top("ajp_count", &ajp_workers.count.to_string());
                for w in &ajp_workers.items {
                    p.ajp(w);
                }
            }
        }
        Body::Balancer(lb) => p.balancer(lb),
        Body::Ajp(w) => p.ajp(w),
        Body::Dump(entries) => {
            // The configuration lines carry no prefix.
            for (k, v) in entries {
                let _ = writeln!(p.out, "{k}={v}");
            }
        }
        Body::Nothing | Body::Edit(_) => {}
    }
    let (kind, message) = result_parts(page);
    p.of("result", "type", kind);
    p.of("result", "message", message);
    p.out
}

// ---------------------------------------------------------------- json

/// serde_json's compact output, except that backspace and form feed are written
/// `\u0008` and `\u000c` (serde_json writes `\b` and `\f`): the JSON format is
/// documented and compared byte for byte, and it has always used those escapes.
struct Escapes;

impl Formatter for Escapes {
    fn write_char_escape<W>(&mut self, writer: &mut W, escape: CharEscape) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        match escape {
            CharEscape::Backspace => writer.write_all(b"\\u0008"),
            CharEscape::FormFeed => writer.write_all(b"\\u000c"),
            other => CompactFormatter.write_char_escape(writer, other),
        }
    }
}

/// A view written as its JSON object. The members are serialized one by one, not
/// through a map type, so they keep the xml's order (and any repeated name).
struct Json<'a, T>(&'a T);

/// A list of views written as a JSON array of their objects.
struct Items<'a, T>(&'a [T]);

impl<'a, T> Serialize for Items<'a, T>
where
    Json<'a, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(Json))
    }
}

impl Serialize for Json<'_, Value> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Int(i) => s.serialize_i64(*i),
            Value::Text(t) => s.serialize_str(t),
            Value::Bool(b) => s.serialize_bool(*b),
        }
    }
}

/// A small object of fixed members (`server`, `time`, `software`, `result`).
struct Members<'a>(&'a [(&'a str, Scalar<'a>)]);

enum Scalar<'a> {
    Int(i64),
    Text(&'a str),
}

impl Serialize for Members<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            match value {
                Scalar::Int(i) => m.serialize_entry(name, i)?,
                Scalar::Text(t) => m.serialize_entry(name, t)?,
            }
        }
        m.end()
    }
}

fn fields<M: SerializeMap>(m: &mut M, fields: &[Field]) -> Result<(), M::Error> {
    for f in fields {
        m.serialize_entry(f.name, &Json(&f.value))?;
    }
    Ok(())
}

impl Serialize for Json<'_, MapView> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &i64::try_from(self.0.id).unwrap_or(i64::MAX))?;
        fields(&mut m, &self.0.fields())?;
        m.end()
    }
}

impl Serialize for Json<'_, MemberView> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &self.0.name)?;
        fields(&mut m, &self.0.fields(Order::Xml))?;
        m.end()
    }
}

impl Serialize for Json<'_, LbView> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let lb = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &lb.name)?;
        fields(&mut m, &lb.fields())?;
        m.serialize_entry("member", &Items(&lb.members))?;
        m.serialize_entry("map", &Items(&lb.maps))?;
        m.end()
    }
}

impl Serialize for Json<'_, AjpView> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let w = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &w.name)?;
        fields(&mut m, &w.fields(Order::Xml))?;
        m.serialize_entry("map", &Items(&w.maps))?;
        m.end()
    }
}

/// `balancers` / `ajp_workers` of `cmd=list`: the count, then the array.
struct Listing<'a, T> {
    count: usize,
    array: &'static str,
    items: &'a [T],
}

impl<'a, T> Serialize for Listing<'a, T>
where
    Json<'a, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("count", &i64::try_from(self.count).unwrap_or(0))?;
        m.serialize_entry(self.array, &Items(self.items))?;
        m.end()
    }
}

/// `dump`'s configuration lines, in order (a key may repeat).
struct Dump<'a>(&'a [(String, String)]);

impl Serialize for Dump<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Serialize for Json<'_, Page> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let page = self.0;
        let mut m = s.serialize_map(None)?;
        if let Some(server) = &page.server {
            let members = [
                ("name", Scalar::Text(&server.name)),
                ("port", Scalar::Int(server.port.into())),
            ];
            m.serialize_entry("server", &Members(&members))?;
        }
        if let Some(h) = &page.head {
            if let Some(t) = &h.time {
                let members = [
                    ("datetime", Scalar::Text(&t.datetime)),
                    ("tz", Scalar::Text(&t.tz)),
                    ("unix", Scalar::Int(t.unix)),
                ];
                m.serialize_entry("time", &Members(&members))?;
            }
            let members = [
                ("web_server", Scalar::Text(&h.web_server)),
                ("jk_version", Scalar::Text(&h.jk_version)),
            ];
            m.serialize_entry("software", &Members(&members))?;
        }
        match &page.body {
            Body::List {
                balancers,
                ajp_workers,
            } => {
                if balancers.printed() {
                    let listing = Listing {
                        count: balancers.count,
                        array: "balancer",
                        items: &balancers.items,
                    };
                    m.serialize_entry("balancers", &listing)?;
                }
                if ajp_workers.printed() {
                    let listing = Listing {
                        count: ajp_workers.count,
                        array: "ajp",
                        items: &ajp_workers.items,
                    };
                    m.serialize_entry("ajp_workers", &listing)?;
                }
            }
            Body::Balancer(lb) => m.serialize_entry("balancer", &Json(lb))?,
            Body::Ajp(w) => m.serialize_entry("ajp", &Json(w))?,
            Body::Dump(entries) => m.serialize_entry("configuration", &Dump(entries))?,
            Body::Nothing | Body::Edit(_) => {}
        }
        let (kind, message) = result_parts(page);
        let members = [
            ("type", Scalar::Text(kind)),
            ("message", Scalar::Text(message)),
        ];
        m.serialize_entry("result", &Members(&members))?;
        m.end()
    }
}

/// `mime=json`: the xml's elements as nested objects with the same names (`status`
/// is the document itself; `balancer`, `member`, `ajp` and `map` are arrays;
/// an AJP worker's maps sit inside it instead of after it), numbers as numbers and
/// `True`/`False` as booleans.
pub fn json(page: &Page) -> String {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, Escapes);
    // Writing into memory cannot fail and every key is a string; were that to change,
    // the answer says so instead of carrying half an object.
    if let Err(e) = Json(page).serialize(&mut serializer) {
        tracing::error!("status worker: writing JSON failed: {e}");
        return "{\"result\":{\"type\":\"ERROR\",\"message\":\"JSON output failed\"}}\n"
            .to_string();
    }
    out.push(b'\n');
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The escapes jkd's JSON has always used: two-character ones for `"`, `\`,
    /// newline, carriage return and tab, `\u00xx` (lower-case hex) for the other
    /// control characters, everything else (DEL, non-ASCII) as it is.
    #[test]
    fn json_escapes_stay_as_they_were() {
        let page = Page {
            server: None,
            head: None,
            body: Body::Dump(vec![
                (
                    "k\u{8}".to_string(),
                    "a\"b\\c\nd\re\tf\u{c}g\u{1}h\u{1f}\u{7f}é/".to_string(),
                ),
                ("k\u{8}".to_string(), String::new()),
            ]),
            outcome: Err("bad \"x\"".to_string()),
        };
        assert_eq!(
            json(&page),
            "{\"configuration\":{\"k\\u0008\":\"a\\\"b\\\\c\\nd\\re\\tf\\u000cg\\u0001h\\u001f\u{7f}é/\",\"k\\u0008\":\"\"},\
             \"result\":{\"type\":\"ERROR\",\"message\":\"bad \\\"x\\\"\"}}\n"
        );
    }
}
