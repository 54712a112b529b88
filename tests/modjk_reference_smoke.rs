//! Smoke tests of the mod_jk reference harness (tests/support/modjk.rs) against the real Apache httpd + mod_jk.

mod support;

use std::fs;
use std::path::Path;

use support::modjk::{self, WorkerList};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/corpus");

fn corpus(rel: &str) -> std::path::PathBuf {
    let path = Path::new(CORPUS).join(rel);
    assert!(path.is_file(), "corpus file missing: {}", path.display());
    path
}

#[test]
fn minimal_config_is_accepted_and_listed() {
    let jk = modjk::start(
        &corpus("workers/003-tomcat-connectors-minimal.properties"),
        &[],
        &[],
    )
    .unwrap_or_else(|f| panic!("mod_jk should accept the minimal config:\n{f}"));
    let prop = jk.prop();
    assert!(
        prop.lines().any(|l| l.starts_with("worker.list=")),
        "no worker.list in:\n{prop}"
    );
    assert!(
        prop.contains("worker.jk_version=mod_jk/1.2.48"),
        "not mod_jk 1.2.48:\n{prop}"
    );

    let keys = modjk::prop_config_keys(&prop);
    let has = |k: &str, v: &str| keys.iter().any(|(key, value)| key == k && value == v);
    assert!(has("worker.list", "lb"), "{keys:?}");
    assert!(has("worker.lb.type", "lb"), "{keys:?}");
    assert!(has("worker.node1.type", "ajp13"), "{keys:?}");
    assert!(has("worker.node1.lbfactor", "1"), "{keys:?}");
    assert!(has("worker.node1.lbmult", "1"), "{keys:?}");
    for (key, _) in &keys {
        for runtime in [
            "time_unix",
            "state",
            "lbvalue",
            "elected",
            "address",
            "last_reset_at",
            "result.type",
        ] {
            assert!(
                !key.ends_with(&format!(".{runtime}")),
                "runtime key {key} kept"
            );
        }
        assert!(
            !key.contains(modjk::STATUS_WORKER),
            "harness status worker leaked: {key}"
        );
    }
}

#[test]
fn unknown_attribute_is_rejected() {
    let dir = std::env::temp_dir().join(format!("jkd-smoke-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let workers = dir.join("unknown-attr.properties");
    fs::write(
        &workers,
        "worker.list=node1\nworker.node1.type=ajp13\nworker.node1.prot=8009\n",
    )
    .unwrap();
    let result = modjk::start(&workers, &[], &[]);
    fs::remove_dir_all(&dir).ok();
    let failure = match result {
        Ok(jk) => panic!("mod_jk accepted an unknown attribute; prop:\n{}", jk.prop()),
        Err(failure) => failure,
    };
    let first = failure.first_error_line().unwrap_or_default();
    assert!(
        first.contains("worker.node1.prot"),
        "unexpected first error {first:?}:\n{failure}"
    );
}

#[test]
fn worker_list_naming_no_worker_is_rejected_not_masked() {
    let dir = std::env::temp_dir().join(format!("jkd-smoke-empty-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let workers = dir.join("empty-list.properties");
    fs::write(&workers, "worker.list=,\nworker.node1.port=8009\n").unwrap();
    let result = modjk::start(&workers, &[], &[]);
    fs::remove_dir_all(&dir).ok();
    let failure = result
        .err()
        .expect("mod_jk must refuse a worker.list that names no worker");
    let first = failure.first_error_line().unwrap_or_default();
    assert!(
        first.contains("worker list"),
        "unexpected first error {first:?}:\n{failure}"
    );
}

#[test]
fn mapping_is_read_from_the_access_log() {
    let dir = std::env::temp_dir().join(format!("jkd-smoke-map-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let workers = dir.join("workers.properties");
    fs::write(
        &workers,
        "worker.list=app\nworker.app.host=127.0.0.1\nworker.app.port=1\n",
    )
    .unwrap();
    let mount = dir.join("uriworkermap.properties");
    fs::write(&mount, "/app/*=app\n!/app/*.gif=app\n").unwrap();
    let started = modjk::start(&workers, &[&mount], &["JkMount /direct app".to_string()]);
    fs::remove_dir_all(&dir).ok();
    let jk = started.unwrap_or_else(|f| panic!("{f}"));
    let got = jk.map(&[
        "/app/x.jsp",
        "/app/x.gif",
        "/other",
        "/direct",
        "/app/x.jsp",
    ]);
    let workers: Vec<Option<&str>> = got.iter().map(|(_, w)| w.as_deref()).collect();
    assert_eq!(
        workers,
        [Some("app"), None, None, Some("app"), Some("app")],
        "{got:?}"
    );
}

#[test]
fn worker_list_follows_modjk_line_rules() {
    assert_eq!(
        modjk::worker_list(b"# worker.list=a\nworker.x.port=1\n"),
        WorkerList::Absent
    );
    assert_eq!(modjk::worker_list(b"worker.list=\n"), WorkerList::Absent);
    assert_eq!(modjk::worker_list(b"worker.list=,\n"), WorkerList::Empty);
    assert_eq!(
        modjk::worker_list(b" worker.list = a, b\t#c\r\nworker.list=c\n"),
        WorkerList::Names(vec!["a".into(), "b".into(), "c".into()])
    );
    assert_eq!(
        modjk::worker_list(b"\xef\xbb\xbfworker.list=a\n"),
        WorkerList::Absent
    );
}

#[test]
fn only_loopback_or_unresolved_backends_may_be_probed() {
    let prop = "worker.a.address=127.0.0.1:8009\nworker.b.address=unresolved\n\
                worker.c.address=[::1]:8009\nworker.d.address=192.0.2.7:8009\n";
    assert_eq!(modjk::non_loopback_addresses(prop), ["192.0.2.7:8009"]);
}
