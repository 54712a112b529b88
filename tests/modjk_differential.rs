//! The differential test: every corpus config is read by real httpd + mod_jk 1.2.48 and by `jkd check`, and the verdicts, the status worker's configuration keys and the mount decisions must agree.
//!
//! Known, deliberate differences are not mismatches, but each is counted and printed:
//! * a member whose host does not resolve on this machine: mod_jk sets its port to 0
//!   and stops it at startup; jkd does not resolve while checking (it resolves when it
//!   connects, so a DNS outage at startup does not disable a member for good), so
//!   `port` and `activation` of such workers are not compared;
//! * `map.<n>.server`: httpd's virtual-host name, which jkd has no notion of.

mod support;

use std::fs;
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::modjk;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/corpus");
const PROBES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/probe-uris.txt");

fn corpus_files(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(CORPUS).join(kind);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus folder {} is missing: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    files
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

struct Checked {
    accepted: bool,
    stdout: String,
    stderr: String,
}

fn jkd_check(args: &[&str]) -> Checked {
    let out = Command::new(env!("CARGO_BIN_EXE_jkd"))
        .arg("check")
        .args(args)
        .output()
        .expect("run jkd check");
    let code = out.status.code();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        code == Some(0) || code == Some(1),
        "jkd check {args:?} crashed ({code:?}): {stderr}"
    );
    Checked {
        accepted: code == Some(0),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    }
}

fn pairs(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Workers (by name) whose `host` does not resolve here.
fn unresolved_workers(dump: &[(String, String)]) -> Vec<String> {
    dump.iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("worker.")?.strip_suffix(".host")?;
            let resolves = (v.as_str(), 8009)
                .to_socket_addrs()
                .is_ok_and(|mut a| a.next().is_some());
            (!resolves).then(|| name.to_string())
        })
        .collect()
}

fn skipped_key(key: &str, unresolved: &[String]) -> bool {
    let is_map_server = key.contains(".map.") && key.ends_with(".server");
    let unresolved_field = unresolved
        .iter()
        .any(|w| key == format!("worker.{w}.port") || key == format!("worker.{w}.activation"));
    is_map_server || unresolved_field
}

#[test]
fn workers_files_read_as_mod_jk_reads_them() {
    let mut files = 0;
    let mut keys_compared = 0;
    let mut keys_skipped = 0;
    let mut mismatches: Vec<String> = Vec::new();
    let mut rejected_by_both = Vec::new();
    for f in corpus_files("workers") {
        files += 1;
        let name = file_name(&f);
        let path = f.to_str().unwrap_or_default();
        let ours = jkd_check(&["--workers", path, "--dump"]);
        let theirs = modjk::start(&f, &[], &[]);
        let jk = match theirs {
            Err(failure) => {
                let why = failure.first_error_line().unwrap_or_default();
                if ours.accepted {
                    mismatches.push(format!("{name}: mod_jk refuses it ({why}), jkd accepts it"));
                } else {
                    rejected_by_both.push(format!(
                        "{name}: mod_jk: {why}\n    jkd: {}",
                        ours.stderr
                            .lines()
                            .find(|l| l.contains("error"))
                            .unwrap_or("")
                    ));
                }
                continue;
            }
            Ok(jk) => jk,
        };
        if !ours.accepted {
            mismatches.push(format!(
                "{name}: mod_jk accepts it, jkd refuses it:\n{}",
                ours.stderr
            ));
            continue;
        }
        let dump = pairs(&ours.stdout);
        let unresolved = unresolved_workers(&dump);
        let reference: Vec<(String, String)> = modjk::prop_config_keys(&jk.prop());
        let keep = |list: Vec<(String, String)>, skipped: &mut usize| -> Vec<(String, String)> {
            list.into_iter()
                .filter(|(k, _)| {
                    let skip = skipped_key(k, &unresolved);
                    *skipped += usize::from(skip);
                    !skip
                })
                .collect()
        };
        let mut ignored = 0;
        let theirs = keep(reference, &mut keys_skipped);
        let ours_kv = keep(dump, &mut ignored);
        keys_compared += theirs.len();
        if theirs != ours_kv {
            let width = theirs.len().max(ours_kv.len());
            let mut lines = Vec::new();
            for i in 0..width {
                let a = theirs
                    .get(i)
                    .map(|(k, v)| format!("{k}={v}"))
                    .unwrap_or_default();
                let b = ours_kv
                    .get(i)
                    .map(|(k, v)| format!("{k}={v}"))
                    .unwrap_or_default();
                if a != b {
                    lines.push(format!("    #{i}: mod_jk `{a}` jkd `{b}`"));
                }
            }
            lines.truncate(8);
            mismatches.push(format!("{name}: keys differ\n{}", lines.join("\n")));
        }
    }
    println!(
        "differential: {files} workers files, {keys_compared} configuration keys compared, \
         {keys_skipped} skipped as known differences, {} refused by both, {} mismatches",
        rejected_by_both.len(),
        mismatches.len()
    );
    for r in &rejected_by_both {
        println!("  refused by both: {r}");
    }
    assert!(
        mismatches.is_empty(),
        "jkd and mod_jk disagree:\n{}",
        mismatches.join("\n")
    );
    assert!(
        keys_compared > 1000,
        "too few keys compared: {keys_compared}"
    );
}

/// Worker names a uriworkermap file routes to.
fn mounted_workers(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        if let Some((_, w)) = line.split_once('=') {
            let w = w.split(';').next().unwrap_or("").trim();
            if !w.is_empty() && w != "*" && !names.iter().any(|n| n == w) {
                names.push(w.to_string());
            }
        }
    }
    names
}

#[test]
fn mount_files_route_as_mod_jk_routes() {
    let probes = fs::read_to_string(PROBES).expect("tests/data/probe-uris.txt");
    let uris: Vec<&str> = probes.lines().filter(|l| !l.is_empty()).collect();
    let tmp = std::env::temp_dir().join(format!("jkd-diff-mounts-{}", std::process::id()));
    fs::create_dir_all(&tmp).expect("temp dir");
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for f in corpus_files("uriworkermap") {
        let name = file_name(&f);
        let text = String::from_utf8_lossy(&fs::read(&f).expect("read corpus")).into_owned();
        let mut workers = String::new();
        for w in mounted_workers(&text) {
            workers.push_str(&format!(
                "worker.list={w}\nworker.{w}.host=127.0.0.1\nworker.{w}.port=1\n"
            ));
        }
        let wf = tmp.join(format!("{name}.workers"));
        fs::write(&wf, workers).expect("write workers");
        let jk =
            modjk::start(&wf, &[&f], &[]).unwrap_or_else(|e| panic!("mod_jk refused {name}:\n{e}"));
        let theirs = jk.map(&uris);
        let ours = jkd_check(&[
            "--workers",
            wf.to_str().unwrap_or_default(),
            "--mounts",
            f.to_str().unwrap_or_default(),
            "--map-file",
            PROBES,
        ]);
        assert!(ours.accepted, "jkd refused {name}: {}", ours.stderr);
        let ours: Vec<(String, Option<String>)> = ours
            .stdout
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(u, w)| (u.to_string(), (w != "-").then(|| w.to_string())))
            .collect();
        assert_eq!(
            ours.len(),
            theirs.len(),
            "{name}: jkd printed a different number of lines"
        );
        for ((uri, want), (_, got)) in theirs.iter().zip(&ours) {
            compared += 1;
            if want != got {
                mismatches.push(format!("{name}: {uri}: mod_jk {want:?}, jkd {got:?}"));
            }
        }
    }
    let _ = fs::remove_dir_all(&tmp);
    println!(
        "differential: {compared} mount decisions compared, {} mismatches",
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "mount decisions differ:\n{}",
        mismatches.join("\n")
    );
}
