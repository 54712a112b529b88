//! Differential test of the status worker: the same workers.properties served by real httpd + mod_jk 1.2.48 and by `jkd run`, and their `mime=prop`, `mime=txt` and `mime=xml` answers compared line by line.
//!
//! Structure (keys, element and attribute names, order, indentation, line kinds) must
//! be identical. Values must be identical too, except:
//! * times and things that follow from when each server started or was asked:
//!   `time_*`, `datetime`, `tz`, `unix`, `last_reset_*`, `time_to_maintenance_*`,
//!   `time_to_recover_*`, `error_time_*`, and the server's port (each listens on
//!   its own);
//! * the software versions (`web_server`, `jk_version`);
//! * workers whose host does not resolve on this machine: mod_jk sets their port to
//!   0 and stops them at startup, jkd resolves when it connects, so their `port`,
//!   `address` and `activation`, and the good/degraded/bad counts of their balancer,
//!   are not compared.
//!
//! Files: a hand-written one (two balancers, plain AJP workers, mounts from three
//! sources, shows, hidden parts, errors, `dump`, and updates and resets applied to
//! both servers before listing again) and every file of the mod_jk corpus that both
//! accept (the listings only).
//!
//! Backends are never contacted: the status worker only reads configuration and
//! counters, and every host of the hand-written file is 127.0.0.1 or localhost.

mod support;

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{jkd, modjk};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/corpus/workers");
const STATUS: &str = modjk::STATUS_WORKER;

/// Fields whose values depend on time, start-up moment or software version.
const RUNTIME_FIELDS: &[&str] = &[
    "time_datetime",
    "time_tz",
    "time_unix",
    "datetime",
    "tz",
    "unix",
    "web_server",
    "jk_version",
    "server_port",
    "last_reset_at",
    "last_reset_ago",
    "time_to_maintenance_min",
    "time_to_maintenance_max",
    "time_to_recover_min",
    "time_to_recover_max",
    "error_time_datetime",
    "error_time_tz",
    "error_time_unix_seconds",
    "error_time_unix seconds",
    "error_time_ago",
    "error_time_ago seconds",
];

/// Fields of a worker whose host does not resolve here.
const UNRESOLVED_FIELDS: &[&str] = &["port", "address", "activation"];
/// Fields of a balancer with such a member.
const RATING_FIELDS: &[&str] = &["good", "degraded", "bad"];

/// Two balancers, plain AJP workers, mounts from three sources, a disabled and a
/// stopped member, a dotted route, a redirect, distances, non-default settings.
const HAND_WRITTEN: &str = "\
# jkd status differential: hand-written
worker.list=lb1,lb2,plain1
worker.maintain=45
worker.lb1.type=lb
worker.lb1.balance_workers=m1,m2,m3
worker.lb1.mount=/app/*,/exact
worker.lb1.retries=3
worker.lb1.recover_time=120
worker.lb1.method=Session
worker.lb1.lock=Pessimistic
worker.lb1.max_reply_timeouts=2
worker.m1.host=127.0.0.1
worker.m1.port=29011
worker.m1.lbfactor=3
worker.m1.connection_pool_timeout=60
worker.m1.ping_mode=A
worker.m1.reply_timeout=30000
worker.m2.host=localhost
worker.m2.port=29012
worker.m2.route=node2.east
worker.m2.redirect=m1
worker.m2.distance=1
worker.m3.host=127.0.0.1
worker.m3.port=29013
worker.m3.activation=D
worker.m3.domain=blue
worker.lb2.type=lb
worker.lb2.balance_workers=n1,n2
worker.lb2.sticky_session=false
worker.lb2.sticky_session_force=true
worker.lb2.method=B
worker.lb2.error_escalation_time=5
worker.n1.host=127.0.0.1
worker.n1.port=29021
worker.n1.retries=4
worker.n1.max_packet_size=20000
worker.n1.recovery_options=7
worker.n2.host=127.0.0.1
worker.n2.port=29022
worker.n2.stopped=true
worker.n2.busy_limit=10
worker.plain1.host=127.0.0.1
worker.plain1.port=29031
worker.plain1.mount=/plain/*
worker.plain1.socket_timeout=10
worker.plain1.connect_timeout=5000
worker.plain1.prepost_timeout=3000
worker.plain1.connection_ping_interval=30
worker.plain1.source=127.0.0.1
worker.plain1.secret=not-printed
worker.list=plain2
worker.plain2.type=ajp13
worker.plain2.host=localhost
worker.plain2.port=29032
";

/// The status worker's own settings: prefix, namespace, xmlns, doctype, ratings and
/// read-only (mod_jk reads them although the harness appends the worker's type
/// after them).
const HAND_WRITTEN_STYLED: &str = "\
worker.list=lbx,solo
worker.lbx.type=lb
worker.lbx.balance_workers=a,b,c,d
worker.a.host=127.0.0.1
worker.a.port=29041
worker.b.host=127.0.0.1
worker.b.port=29042
worker.b.activation=D
worker.c.host=127.0.0.1
worker.c.port=29043
worker.c.activation=S
worker.d.host=127.0.0.1
worker.d.port=29044
worker.d.lbfactor=7
worker.solo.host=127.0.0.1
worker.solo.port=29045
worker.jkd_diff_status.prefix=jk
worker.jkd_diff_status.ns=st:
worker.jkd_diff_status.xmlns=xmlns:st=\"urn:jkd-test\"
worker.jkd_diff_status.doctype=<!DOCTYPE status>
worker.jkd_diff_status.good=a.o,a.i,d.i
worker.jkd_diff_status.bad=s.i,e
worker.jkd_diff_status.read_only=true
";

const STYLED_QUERIES: &[&str] = &[
    "mime=prop",
    "mime=txt",
    "mime=xml",
    "cmd=show&w=lbx&sw=c&mime=xml",
    "cmd=version&mime=xml",
    "cmd=update&w=lbx&sw=a&vwd=1&mime=xml",
    "cmd=reset&w=lbx&mime=prop",
    "mime=unknown",
];

/// JkMount / JkUnMount lines for mod_jk and the same rules as jkd's `--mount`.
const HAND_MOUNTS: &[(&str, &str)] = &[
    ("JkMount /app/*.jsp lb1", "/app/*.jsp=lb1"),
    ("JkUnMount /app/static/* lb1", "!/app/static/*=lb1"),
    ("JkMount /lb2/* lb2", "/lb2/*=lb2"),
    ("JkMount /plain/x plain1", "/plain/x=plain1"),
];

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// jkd keeps its manager read-only unless started with `--manager-users`: this file
/// (`htpasswd -nbB -C 4 admin s3cret`) lets the updates and resets below through,
/// sent as a script sends them (a GET with Basic credentials).
const MANAGER_USERS: &str = "admin:$2y$04$hHEtGog20YUmdj7yeTFto.BP6WYCtFNPZYqk57blARo78zFLgXHum\n";

/// base64("admin:s3cret"); httpd without authentication ignores it.
const CREDENTIALS: &str = "Basic YWRtaW46czNjcmV0";

/// A plain HTTP/1.0 GET on 127.0.0.1 (both servers then close after the body).
fn get(port: u16, target: &str) -> Answer {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let request = format!(
        "GET {target} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {CREDENTIALS}\r\n\r\n"
    );
    s.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

/// What is left out of the value comparison for one workers file.
struct Skips {
    unresolved: HashSet<String>,
    rated_lbs: HashSet<String>,
}

impl Skips {
    fn skip(&self, owner: &str, field: &str) -> bool {
        RUNTIME_FIELDS.contains(&field)
            || (UNRESOLVED_FIELDS.contains(&field) && self.unresolved.contains(owner))
            || (RATING_FIELDS.contains(&field) && self.rated_lbs.contains(owner))
    }
}

#[derive(Default)]
struct Tally {
    lines: usize,
    values: usize,
    skipped: usize,
    /// Lines compared per format: prop, txt, xml.
    lines_by_format: [usize; 3],
    mismatches: Vec<String>,
}

impl Tally {
    fn mismatch(&mut self, what: String) {
        self.mismatches.push(what);
    }
}

fn compare_value(
    t: &mut Tally,
    skips: &Skips,
    ctx: &str,
    owner: &str,
    field: &str,
    a: &str,
    b: &str,
) {
    if skips.skip(owner, field) {
        t.skipped += 1;
        return;
    }
    t.values += 1;
    if a != b {
        t.mismatch(format!("{ctx}: {owner}.{field}: mod_jk `{a}` jkd `{b}`"));
    }
}

/// `worker.<owner>.<field>=value` → (owner, field); top-level keys have no owner.
fn prop_key(key: &str) -> (String, String) {
    let rest = key.strip_prefix("worker.").unwrap_or(key);
    match rest.rsplit_once('.') {
        Some((owner, field)) => (owner.to_string(), field.to_string()),
        None => (String::new(), rest.to_string()),
    }
}

fn compare_prop(t: &mut Tally, skips: &Skips, ctx: &str, theirs: &str, ours: &str) {
    let a: Vec<&str> = theirs.lines().collect();
    let b: Vec<&str> = ours.lines().collect();
    if a.len() != b.len() {
        t.mismatch(format!(
            "{ctx}: {} lines from mod_jk, {} from jkd",
            a.len(),
            b.len()
        ));
    }
    for (la, lb) in a.iter().zip(&b) {
        t.lines += 1;
        let (Some((ka, va)), Some((kb, vb))) = (la.split_once('='), lb.split_once('=')) else {
            if la != lb {
                t.mismatch(format!("{ctx}: line `{la}` vs `{lb}`"));
            }
            continue;
        };
        if ka != kb {
            t.mismatch(format!("{ctx}: key `{ka}` vs `{kb}`"));
            return;
        }
        let (owner, field) = prop_key(ka);
        compare_value(t, skips, ctx, &owner, &field, va, vb);
    }
}

/// The `key=value` tokens of a txt line. A key is a run of `[a-z_]` after a space;
/// a value in double quotes may hold spaces, and so may an unquoted host name (mod_jk
/// prints `host=` unquoted), so a value runs up to the next key.
fn txt_tokens(line: &str) -> (String, Vec<(String, String)>) {
    let (kind, rest) = line.split_once(": ").unwrap_or((line, ""));
    let bytes = rest.as_bytes();
    let key_at = |i: usize| -> Option<usize> {
        if i > 0 && bytes[i - 1] != b' ' {
            return None;
        }
        let end = i + bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_lowercase() || **b == b'_')
            .count();
        (end > i && bytes.get(end) == Some(&b'=')).then_some(end)
    };
    let mut starts = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(eq) = key_at(i) {
            starts.push((i, eq));
            if bytes.get(eq + 1) == Some(&b'"') {
                let close = bytes[eq + 2..]
                    .iter()
                    .position(|&b| b == b'"')
                    .map_or(bytes.len(), |p| eq + 2 + p);
                i = close + 1;
                continue;
            }
        }
        i += 1;
    }
    let mut tokens = Vec::new();
    for (n, &(key_start, eq)) in starts.iter().enumerate() {
        let value_end = starts.get(n + 1).map_or(bytes.len(), |&(next, _)| next);
        let raw = rest[eq + 1..value_end].trim_end_matches(' ');
        let value = raw
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(raw);
        tokens.push((rest[key_start..eq].to_string(), value.to_string()));
    }
    (kind.to_string(), tokens)
}

fn compare_txt(t: &mut Tally, skips: &Skips, ctx: &str, theirs: &str, ours: &str) {
    let a: Vec<&str> = theirs.lines().collect();
    let b: Vec<&str> = ours.lines().collect();
    if a.len() != b.len() {
        t.mismatch(format!(
            "{ctx}: {} lines from mod_jk, {} from jkd",
            a.len(),
            b.len()
        ));
    }
    for (la, lb) in a.iter().zip(&b) {
        t.lines += 1;
        let (kind_a, ta) = txt_tokens(la);
        let (kind_b, tb) = txt_tokens(lb);
        let names_a: Vec<&str> = ta.iter().map(|(k, _)| k.as_str()).collect();
        let names_b: Vec<&str> = tb.iter().map(|(k, _)| k.as_str()).collect();
        if kind_a != kind_b || names_a != names_b {
            t.mismatch(format!("{ctx}: line `{la}`\n    vs `{lb}`"));
            continue;
        }
        let owner = ta
            .iter()
            .find(|(k, _)| k == "name")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        for ((k, va), (_, vb)) in ta.iter().zip(&tb) {
            let field = if kind_a == "Server" && k == "port" {
                "server_port"
            } else {
                k
            };
            compare_value(t, skips, ctx, &owner, field, va, vb);
        }
    }
}

/// An xml attribute line: indentation, name, value.
fn xml_attribute(line: &str) -> Option<(usize, &str, &str)> {
    let indent = line.len() - line.trim_start().len();
    let (name, rest) = line.trim_start().split_once("=\"")?;
    let value = rest.strip_suffix('"')?;
    (!name.starts_with('<')).then_some((indent, name, value))
}

fn compare_xml(t: &mut Tally, skips: &Skips, ctx: &str, theirs: &str, ours: &str) {
    let a: Vec<&str> = theirs.lines().collect();
    let b: Vec<&str> = ours.lines().collect();
    if a.len() != b.len() {
        t.mismatch(format!(
            "{ctx}: {} lines from mod_jk, {} from jkd",
            a.len(),
            b.len()
        ));
    }
    let mut owner = String::new();
    let mut element = String::new();
    for (la, lb) in a.iter().zip(&b) {
        t.lines += 1;
        match (xml_attribute(la), xml_attribute(lb)) {
            (Some((ia, na, va)), Some((ib, nb, vb))) if ia == ib && na == nb => {
                if na == "name" {
                    owner = va.to_string();
                }
                let field = if element == "server" && na == "port" {
                    "server_port"
                } else {
                    na
                };
                compare_value(t, skips, ctx, &owner, field, va, vb);
            }
            _ => {
                if let Some(e) = la.trim_start().strip_prefix('<') {
                    element = e.rsplit(':').next().unwrap_or(e).to_string();
                    owner.clear();
                }
                if la != lb {
                    t.mismatch(format!("{ctx}: line `{la}` vs `{lb}`"));
                    return;
                }
            }
        }
    }
}

/// The workers file as jkd reads it: the original plus the same status worker the
/// mod_jk harness appends.
fn jkd_copy(original: &Path, dir: &Path) -> PathBuf {
    let bytes = fs::read(original).expect("read workers file");
    let mut out = bytes.clone();
    out.extend_from_slice(b"\n# appended by jkd's status differential test\n");
    if modjk::worker_list(&bytes) == modjk::WorkerList::Absent {
        out.extend_from_slice(b"worker.list=ajp13\n");
    }
    out.extend_from_slice(
        format!("worker.list={STATUS}\nworker.{STATUS}.type=status\n").as_bytes(),
    );
    let name = original
        .file_name()
        .map(|n| n.to_owned())
        .unwrap_or_default();
    let jkd_dir = dir.join("jkd");
    fs::create_dir_all(&jkd_dir).expect("jkd copy dir");
    let path = jkd_dir.join(name);
    fs::write(&path, out).expect("write jkd copy");
    path
}

fn jkd_accepts(path: &Path) -> bool {
    Command::new(env!("CARGO_BIN_EXE_jkd"))
        .args(["check", "--workers"])
        .arg(path)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Workers whose `host` does not resolve here, and the balancers that hold them.
fn skips_for(jkd_prop: &str) -> Skips {
    let mut unresolved = HashSet::new();
    for line in jkd_prop.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (owner, field) = prop_key(key);
        if field == "host"
            && !(value, 8009)
                .to_socket_addrs()
                .is_ok_and(|mut a| a.next().is_some())
        {
            unresolved.insert(owner);
        }
    }
    let mut rated_lbs = HashSet::new();
    let mut current_lb = String::new();
    for line in jkd_prop.lines() {
        if let Some(lb) = line.strip_prefix("worker.list=") {
            current_lb = lb.to_string();
        }
        if let Some((key, member)) = line.split_once('=')
            && key.ends_with(".balance_workers")
            && unresolved.contains(member)
        {
            rated_lbs.insert(current_lb.clone());
        }
    }
    Skips {
        unresolved,
        rated_lbs,
    }
}

/// Fetches `target` from both and compares it in the format it asks for.
fn compare(t: &mut Tally, skips: &Skips, file: &str, jk: u16, ours: u16, query: &str) {
    let target = format!("/{STATUS}?{query}");
    let a = get(jk, &target);
    let b = get(ours, &target);
    let ctx = format!("{file} ?{query}");
    if (a.status, b.status) != (200, 200) {
        t.mismatch(format!(
            "{ctx}: status mod_jk {} jkd {}",
            a.status, b.status
        ));
    }
    for h in ["Content-Type", "Cache-Control", "Pragma"] {
        if a.header(h) != b.header(h) {
            t.mismatch(format!(
                "{ctx}: header {h}: mod_jk {:?} jkd {:?}",
                a.header(h),
                b.header(h)
            ));
        }
    }
    // httpd puts its ServerRoot into mod_jk's configuration map; jkd has none.
    let theirs = if query.contains("cmd=dump") {
        let kept: Vec<&str> = a
            .body
            .lines()
            .filter(|l| !l.trim_start().starts_with("ServerRoot="))
            .collect();
        kept.join("\n") + "\n"
    } else {
        a.body.clone()
    };
    let before = t.lines;
    let format = if query.contains("mime=xml") {
        compare_xml(t, skips, &ctx, &theirs, &b.body);
        2
    } else if query.contains("mime=txt") {
        compare_txt(t, skips, &ctx, &theirs, &b.body);
        1
    } else {
        compare_prop(t, skips, &ctx, &theirs, &b.body);
        0
    };
    t.lines_by_format[format] += t.lines - before;
}

const LISTINGS: [&str; 3] = ["mime=prop", "mime=txt", "mime=xml"];

/// More requests for the hand-written file: shows, hidden parts, errors, and the
/// same updates applied to both servers, listed afterwards.
const HAND_QUERIES: &[&str] = &[
    "cmd=show&w=lb1&mime=xml",
    "cmd=show&w=lb1&sw=m2&mime=prop",
    "cmd=show&w=lb2&sw=n1&mime=txt",
    "cmd=show&w=plain1&mime=xml",
    "cmd=show&w=plain2&mime=txt",
    "cmd=show&w=jkd_diff_status&mime=prop",
    "cmd=version&mime=xml",
    "cmd=dump&mime=prop",
    "cmd=dump&mime=txt",
    "cmd=dump&mime=xml",
    "cmd=list&mime=prop&opt=3",
    "cmd=list&mime=xml&opt=8",
    "cmd=list&mime=txt&opt=16",
    "cmd=edit&w=lb1&mime=xml",
    "cmd=bogus&mime=txt",
    "mime=bogus",
    "cmd=show&mime=xml",
    "cmd=show&w=nope&mime=prop",
    "cmd=show&w=lb1&sw=&mime=txt",
    "cmd=show&w=lb1&sw=zz&mime=txt",
    "cmd=show&w=lb1&sw=m*&mime=txt",
    "cmd=show&w=plain1&sw=m1&mime=txt",
    "cmd=recover&w=lb1&sw=m1&mime=txt",
    "cmd=recover&w=lb1&mime=txt",
    "cmd=reset&w=jkd_diff_status&mime=txt",
    "cmd=update&w=jkd_diff_status&mime=txt",
    "cmd=update&w=lb1&sw=m1&vwd=3&opt=32&mime=txt",
    "cmd=list&mime=txt&x=%zz",
    "cmd=update&w=lb1&sw=m2&vwa=D&vwf=4&vwn=m2x.west&vwd=2&mime=txt",
    "cmd=update&w=lb1&sw=m3&vwa=A&vwc=&vwn=m3.north&mime=txt",
    "cmd=update&w=lb2&vlr=4&vlri=250&vlt=90&vlee=0&vlx=2&vls=1&vlf=0&vlm=N&vll=O&mime=txt",
    "cmd=update&w=lb1&att=vwf&val0=2&val1=5&mime=txt",
    "cmd=update&w=lb1&sw=m*&vwr=m1&mime=txt",
    "cmd=reset&w=lb1&mime=txt",
    "cmd=reset&w=lb2&sw=n2&mime=txt",
    "cmd=reset&w=plain2&mime=txt",
    "mime=prop",
    "mime=txt",
    "mime=xml",
];

struct Run {
    name: String,
    tally: Tally,
}

fn run_file(original: &Path, dir: &Path, mounts: &[(&str, &str)], queries: &[&str]) -> Option<Run> {
    let name = original
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ours_path = jkd_copy(original, dir);
    if !jkd_accepts(&ours_path) {
        println!("  {name}: jkd refuses it, not compared");
        return None;
    }
    let jk_lines: Vec<String> = mounts.iter().map(|(jk, _)| jk.to_string()).collect();
    let jk = match modjk::start(original, &[], &jk_lines) {
        Ok(jk) => jk,
        Err(e) => {
            println!(
                "  {name}: mod_jk refuses it ({}), not compared",
                e.first_error_line().unwrap_or_default()
            );
            return None;
        }
    };
    let mount = format!("/{STATUS}={STATUS}");
    let users = dir.join("manager-users");
    fs::write(&users, MANAGER_USERS).expect("write the manager's users");
    let users = users.display().to_string();
    let mut args: Vec<&str> = vec!["--mount", &mount, "--manager-users", &users];
    for (_, rule) in mounts {
        args.extend(["--mount", rule]);
    }
    let ours = jkd::start(&ours_path, &args);
    let skips = skips_for(&get(ours.port, &format!("/{STATUS}?mime=prop")).body);
    let mut tally = Tally::default();
    for query in queries {
        compare(&mut tally, &skips, &name, jk.port(), ours.port, query);
    }
    Some(Run { name, tally })
}

#[test]
fn status_pages_match_mod_jk() {
    let dir = std::env::temp_dir().join(format!("jkd-status-diff-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");
    let hand = dir.join("hand-written.properties");
    fs::write(&hand, HAND_WRITTEN).expect("write hand-written file");
    let mut queries: Vec<&str> = LISTINGS.to_vec();
    queries.extend_from_slice(HAND_QUERIES);
    let mut runs = Vec::new();
    runs.extend(run_file(&hand, &dir, HAND_MOUNTS, &queries));
    let styled = dir.join("hand-written-styled.properties");
    fs::write(&styled, HAND_WRITTEN_STYLED).expect("write styled file");
    runs.extend(run_file(&styled, &dir, &[], STYLED_QUERIES));
    let mut corpus: Vec<PathBuf> = fs::read_dir(CORPUS)
        .expect("corpus folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    corpus.sort();
    for f in &corpus {
        runs.extend(run_file(f, &dir, &[], &LISTINGS));
    }
    let _ = fs::remove_dir_all(&dir);
    let mut failures = Vec::new();
    let (mut lines, mut values, mut skipped) = (0, 0, 0);
    let mut by_format = [0; 3];
    for r in &runs {
        println!(
            "  {}: {} lines, {} values compared, {} skipped, {} mismatches",
            r.name,
            r.tally.lines,
            r.tally.values,
            r.tally.skipped,
            r.tally.mismatches.len()
        );
        lines += r.tally.lines;
        values += r.tally.values;
        skipped += r.tally.skipped;
        for (total, n) in by_format.iter_mut().zip(r.tally.lines_by_format) {
            *total += n;
        }
        failures.extend(r.tally.mismatches.iter().take(10).cloned());
    }
    println!(
        "status differential: {} files, {lines} lines ({} prop, {} txt, {} xml), {values} \
         values compared, {skipped} skipped as runtime or unresolved, {} mismatches",
        runs.len(),
        by_format[0],
        by_format[1],
        by_format[2],
        failures.len()
    );
    for hand in ["hand-written.properties", "hand-written-styled.properties"] {
        assert!(
            runs.iter().any(|r| r.name == hand),
            "{hand} was not compared"
        );
    }
    assert!(runs.len() >= 40, "too few files compared: {}", runs.len());
    assert!(
        failures.is_empty(),
        "jkd and mod_jk differ:\n{}",
        failures.join("\n")
    );
}
