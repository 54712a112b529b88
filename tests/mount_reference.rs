//! Differential tests of URI decoding, mount matching and Jk directive verdicts against the real Apache httpd + mod_jk 1.2.48.

mod support;

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use jkd::config::apache;
use jkd::config::diag::{Diagnostics, Origin};
use jkd::config::mounts::{self, MountRule, MountTable, RuleSource};
use support::modjk;

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jkd-mount-ref-{name}-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Workers whose backends are on an unused loopback port, so nothing leaves the machine.
const WORKERS: &str = "worker.list=lb,other\n\
    worker.lb.type=lb\nworker.lb.balance_workers=n1\n\
    worker.n1.host=127.0.0.1\nworker.n1.port=1\n\
    worker.other.host=127.0.0.1\nworker.other.port=1\n";

/// The JkMount lines both sides use.
const RULES: &[&str] = &[
    "JkMount /app/* lb",
    "JkMount /app lb",
    "JkUnMount /app/static/* lb",
    "JkUnMount /app/*.gif *",
    "JkMount /*.jsp other",
    "JkMount /caf? other",
    "JkMount /x|/* lb",
    "JkMount /deep/*/*/end other",
    "JkMount /deep/* lb",
    "JkMount /exact/ other",
];

/// Request targets with the answer jkd gives; each is compared with httpd + mod_jk.
const URIS: &[&str] = &[
    "/app",
    "/app/",
    "/app/index.jsp",
    "/app/static/a.css",
    "/app/static/a.jsp",
    "/app/img/a.gif",
    "/other.jsp",
    "/x",
    "/x/",
    "/x/y",
    "/xy",
    "/exact/",
    "/exact",
    "/deep/a/b/end",
    "/deep/a/end",
    "/caf1",
    "/caf%E9",
    "/caf%C3%A9",
    "/app;jsessionid=1",
    "/app/a.jsp;jsessionid=1.n1",
    "/app;x/static/a.css",
    "/app/static;x/a.css",
    "/app/x/..;/static/a.css",
    "/app/..;/..;/etc",
    "/..;/app/x",
    "/app/%2e%2e/app/x",
    "/app/%2E%2E/%2e%2e/x",
    "/app/.%2e/x",
    "/app/a%2Fb",
    "/app/a%2fb",
    "/app/a%00b",
    "/app/a%zzb",
    "/app/a%4",
    "/app/a%3Bb/static/c",
    "/app%3B/static/c",
    "//app//x",
    "/app/./x/../y",
    "/../app/x",
    "/app/../../x",
    "/%61pp/x",
    "/app/%25",
    "/app/%7e",
    "/app/a+b",
    "/app/\u{e9}",
    "/APP/x",
    "*",
];

fn jkd_rules(dir: &std::path::Path) -> MountTable {
    let mut text = String::new();
    text.push_str(&format!("JkMount /{0} {0}\n", modjk::STATUS_WORKER));
    for r in RULES {
        text.push_str(r);
        text.push('\n');
    }
    let file: Arc<str> = Arc::from(dir.join("rules.conf").display().to_string());
    let mut diags = Diagnostics::default();
    let conf = apache::read_apache_conf(&file, text.as_bytes(), &mut diags);
    assert!(!diags.has_errors(), "{:?}", diags.items);
    MountTable::new(conf.mounts)
}

#[test]
fn mapping_and_refusals_match_mod_jk() {
    let dir = scratch_dir("map");
    let workers = dir.join("workers.properties");
    fs::write(&workers, WORKERS).expect("write workers file");
    let lines: Vec<String> = RULES.iter().map(|s| s.to_string()).collect();
    let jk = modjk::start(&workers, &[], &lines)
        .unwrap_or_else(|f| panic!("mod_jk refused the test configuration:\n{f}"));
    let table = jkd_rules(&dir);
    let probes = jk.probe(URIS);
    let mut differences = Vec::new();
    for probe in &probes {
        let ours = table.map_raw(&probe.uri);
        let agrees = match &ours {
            Ok(rule) => rule.map(|r| r.worker.clone()) == probe.worker,
            Err(e) => probe.worker.is_none() && probe.status == e.status(),
        };
        if !agrees {
            differences.push(format!(
                "{}: mod_jk status {} worker {:?}; jkd {:?}",
                probe.uri,
                probe.status,
                probe.worker,
                ours.map(|r| r.map(|r| r.worker.clone()))
            ));
        }
    }
    drop(jk);
    fs::remove_dir_all(&dir).ok();
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// Apache lines and whether httpd + mod_jk starts with them.
const VERDICTS: &[(&str, bool)] = &[
    ("JkMount /a lb", true),
    ("JkMount /a|/* lb", true),
    ("JkMount a lb", false),
    ("JkMount *.jsp lb", false),
    ("JkMount -/a lb", false),
    ("JkMount !/a lb", false),
    ("JkMount /a", false),
    ("JkMount /a lb extra", false),
    ("JkMount /a lb # comment", false),
    ("JkUnMount /a lb", true),
    ("<Location /loc>\nJkMount lb\n</Location>", true),
    ("<Location /loc>\nJkMount /loc lb\n</Location>", false),
    ("<LocationMatch ^/re>\nJkMount lb\n</LocationMatch>", false),
    (
        "<Location /loc>\n<If \"true\">\nJkMount lb\n</If>\n</Location>",
        false,
    ),
    ("<Location /loc>\nJkMountFile /x\n</Location>", false),
    ("JkMountCopy All", true),
    ("JkMountCopy On", true),
    ("JkMountCopy maybe", false),
    (
        "<VirtualHost 127.0.0.1:1>\nJkMountCopy All\n</VirtualHost>",
        false,
    ),
    (
        "<VirtualHost 127.0.0.1:1>\nJkMountCopy On\nJkMount /v lb\n</VirtualHost>",
        true,
    ),
    (
        "<VirtualHost 127.0.0.1:1>\nJkWorkerProperty worker.x.port=1\n</VirtualHost>",
        false,
    ),
    ("JkOptions +ForwardURICompat -ForwardDirectories", true),
    ("JkOptions -ForwardURIProxy", false),
    ("JkOptions +ForwardURICompat-ForwardDirectories", false),
    ("JkOptions +ForwardKeySize\u{a0}", false),
    ("JkLogStampFormat \"[%a]\"\u{a0}", false),
    ("JkExtractSSL maybe", false),
    ("JkFoo bar", false),
    ("jkmount /lower lb", true),
    ("JkEnvVar X", true),
    ("JkMountFileReload abc", true),
];

#[test]
fn directive_verdicts_match_mod_jk() {
    let dir = scratch_dir("verdicts");
    let workers = dir.join("workers.properties");
    fs::write(&workers, WORKERS).expect("write workers file");
    let mut differences = Vec::new();
    for (text, starts) in VERDICTS {
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        let started = modjk::start(&workers, &[], &lines);
        let real = started.is_ok();
        drop(started);
        let mut diags = Diagnostics::default();
        apache::read_apache_conf(&Arc::from("t.conf"), text.as_bytes(), &mut diags);
        let ours = !diags.has_errors();
        if real != *starts || ours != real {
            differences.push(format!(
                "{text:?}: expected start={starts}, mod_jk start={real}, jkd accepts={ours}: {:?}",
                diags.items
            ));
        }
    }
    fs::remove_dir_all(&dir).ok();
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// mod_jk's tie order in the reference build: glibc's stable merge sort keeps rules
/// that compare equal in the order they were added.
#[test]
fn equal_rules_keep_their_order_like_mod_jk() {
    let dir = scratch_dir("ties");
    let workers = dir.join("workers.properties");
    fs::write(&workers, WORKERS).expect("write workers file");
    for (first, second) in [("lb", "other"), ("other", "lb")] {
        let lines = vec![
            format!("JkMount /t* {first}"),
            format!("JkMount /*t {second}"),
        ];
        let jk =
            modjk::start(&workers, &[], &lines).unwrap_or_else(|f| panic!("mod_jk refused:\n{f}"));
        let real = jk.map(&["/tt"]);
        drop(jk);
        let mut diags = Diagnostics::default();
        let mut rules: Vec<MountRule> = Vec::new();
        for l in &lines {
            let mut w = l.split(' ').skip(1);
            let (p, v) = (w.next().unwrap_or(""), w.next().unwrap_or(""));
            rules.extend(mounts::parse_rule(
                p,
                v,
                RuleSource::JkMount,
                Origin::new("t", 1),
                &mut diags,
            ));
        }
        let table = MountTable::new(rules);
        let ours = table.map("/tt").map(|r| r.worker.clone());
        assert_eq!(real[0].1, ours, "rules {lines:?}");
    }
    fs::remove_dir_all(&dir).ok();
}
