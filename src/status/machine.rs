//! The machine formats: mod_jk's xml, txt and prop listings byte for byte in layout, and jkd's JSON carrying what the xml carries.

use std::fmt::Write;

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

/// A JSON string literal.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON object written member by member.
struct Object<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut String) -> Object<'a> {
        out.push('{');
        Object { out, first: true }
    }
    fn key(&mut self, name: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        json_string(self.out, name);
        self.out.push(':');
    }
    fn value(&mut self, name: &str, v: &Value) {
        self.key(name);
        match v {
            Value::Int(i) => {
                let _ = write!(self.out, "{i}");
            }
            Value::Text(s) => json_string(self.out, s),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
        }
    }
    fn text(&mut self, name: &str, v: &str) {
        self.value(name, &Value::Text(v.to_string()));
    }
    fn int(&mut self, name: &str, v: i64) {
        self.value(name, &Value::Int(v));
    }
    fn fields(&mut self, fields: &[Field]) {
        for f in fields {
            self.value(f.name, &f.value);
        }
    }
    /// A member holding an array, each item written by `item`.
    fn array<T>(&mut self, name: &str, items: &[T], item: impl Fn(&mut String, &T)) {
        self.key(name);
        self.out.push('[');
        for (i, t) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            item(self.out, t);
        }
        self.out.push(']');
    }
    /// A member holding an object.
    fn object(&mut self, name: &str, body: impl FnOnce(&mut Object<'_>)) {
        self.key(name);
        let mut inner = Object::open(self.out);
        body(&mut inner);
        inner.out.push('}');
    }
    fn close(self) {
        self.out.push('}');
    }
}

fn json_map(out: &mut String, m: &MapView) {
    let mut o = Object::open(out);
    o.int("id", i64::try_from(m.id).unwrap_or(i64::MAX));
    o.fields(&m.fields());
    o.close();
}

fn json_member(out: &mut String, m: &MemberView) {
    let mut o = Object::open(out);
    o.text("name", &m.name);
    o.fields(&m.fields(Order::Xml));
    o.close();
}

fn json_balancer(out: &mut String, lb: &LbView) {
    let mut o = Object::open(out);
    o.text("name", &lb.name);
    o.fields(&lb.fields());
    o.array("member", &lb.members, json_member);
    o.array("map", &lb.maps, json_map);
    o.close();
}

fn json_ajp(out: &mut String, w: &AjpView) {
    let mut o = Object::open(out);
    o.text("name", &w.name);
    o.fields(&w.fields(Order::Xml));
    o.array("map", &w.maps, json_map);
    o.close();
}

/// `mime=json`: the xml's elements as nested objects with the same names (`status`
/// is the document itself; `balancer`, `member`, `ajp` and `map` are arrays;
/// an AJP worker's maps sit inside it instead of after it), numbers as numbers and
/// `True`/`False` as booleans.
pub fn json(page: &Page) -> String {
    let mut out = String::new();
    let mut o = Object::open(&mut out);
    if let Some(s) = &page.server {
        o.object("server", |o| {
            o.text("name", &s.name);
            o.int("port", s.port.into());
        });
    }
    if let Some(h) = &page.head {
        if let Some(t) = &h.time {
            o.object("time", |o| {
                o.text("datetime", &t.datetime);
                o.text("tz", &t.tz);
                o.int("unix", t.unix);
            });
        }
        o.object("software", |o| {
            o.text("web_server", &h.web_server);
            o.text("jk_version", &h.jk_version);
        });
    }
    match &page.body {
        Body::List {
            balancers,
            ajp_workers,
        } => {
            if balancers.printed() {
                o.object("balancers", |o| {
                    o.int("count", i64::try_from(balancers.count).unwrap_or(0));
                    o.array("balancer", &balancers.items, json_balancer);
                });
            }
            if ajp_workers.printed() {
                o.object("ajp_workers", |o| {
                    o.int("count", i64::try_from(ajp_workers.count).unwrap_or(0));
                    o.array("ajp", &ajp_workers.items, json_ajp);
                });
            }
        }
        Body::Balancer(lb) => {
            o.key("balancer");
            json_balancer(o.out, lb);
        }
        Body::Ajp(w) => {
            o.key("ajp");
            json_ajp(o.out, w);
        }
        Body::Dump(entries) => o.object("configuration", |o| {
            for (k, v) in entries {
                o.text(k, v);
            }
        }),
        Body::Nothing | Body::Edit(_) => {}
    }
    let (kind, message) = result_parts(page);
    o.object("result", |o| {
        o.text("type", kind);
        o.text("message", message);
    });
    o.close();
    out.push('\n');
    out
}
