//! Regenerates tests/data/modjk-* (mod_jk's verdict, config-key prop listing and URI mapping for each corpus file) by running the real httpd + mod_jk.
//!
//! Ignored by default (it starts httpd ~60 times); run it with
//! `cargo test --test modjk_reference_data -- --ignored` after the corpus or the probe
//! URI list changes, and commit the result.

mod support;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use support::modjk;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/modjk");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn corpus_files(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(CORPUS).join(kind);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "properties"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    files
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

/// Clear (or create) a data directory whose contents are fully regenerated.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(DATA).join(name);
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap();
    }
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The probe request-targets of tests/data/probe-uris.txt.
fn probe_uris() -> Vec<String> {
    let text = fs::read_to_string(Path::new(DATA).join("probe-uris.txt")).expect("probe-uris.txt");
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Worker names referenced by a uriworkermap file, read with mod_jk's line rules
/// (`#` cuts the line, trim, split at the first `=`, worker name up to the first `;`).
fn mount_workers(content: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(content);
    let mut names: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let line = line.split('#').next().unwrap_or("");
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let worker = value.split(';').next().unwrap_or("").trim();
        if key.trim().is_empty() || worker.is_empty() || worker == "*" {
            continue;
        }
        if !names.iter().any(|n| n == worker) {
            names.push(worker.to_string());
        }
    }
    names
}

#[test]
#[ignore = "regenerates tests/data from the real mod_jk; run explicitly"]
fn regenerate_modjk_reference_data() {
    // Workers corpus: verdict + config keys of the accepted ones.
    let prop_dir = fresh_dir("modjk-prop");
    let mut verdicts = String::new();
    for path in corpus_files("workers") {
        let name = file_name(&path);
        match modjk::start(&path, &[], &[]) {
            Ok(jk) => {
                let _ = writeln!(verdicts, "{name}\taccepted\t");
                let mut out = String::new();
                for (key, value) in modjk::prop_config_keys(&jk.prop()) {
                    let _ = writeln!(out, "{key}={value}");
                }
                fs::write(prop_dir.join(format!("{}.prop", stem(&path))), out).unwrap();
            }
            Err(failure) => {
                let first = failure.first_error_line().unwrap_or_default();
                let _ = writeln!(verdicts, "{name}\trejected\t{}", first.replace('\t', " "));
            }
        }
    }
    fs::write(Path::new(DATA).join("modjk-verdicts.txt"), verdicts).unwrap();

    // uriworkermap corpus: which worker each probe URI goes to.
    let uris = probe_uris();
    let uri_refs: Vec<&str> = uris.iter().map(String::as_str).collect();
    let map_dir = fresh_dir("modjk-map");
    let scratch = std::env::temp_dir().join(format!("jkd-modjk-data-{}", std::process::id()));
    fs::create_dir_all(&scratch).unwrap();
    for path in corpus_files("uriworkermap") {
        let names = mount_workers(&fs::read(&path).unwrap());
        let mut workers = format!("worker.list={}\n", names.join(","));
        for n in &names {
            let _ = writeln!(
                workers,
                "worker.{n}.type=ajp13\nworker.{n}.host=127.0.0.1\nworker.{n}.port=1"
            );
        }
        let workers_file = scratch.join("workers.properties");
        fs::write(&workers_file, workers).unwrap();
        let jk = modjk::start(&workers_file, &[&path], &[]).unwrap_or_else(|f| {
            panic!(
                "mod_jk refused the generated workers for {}:\n{f}",
                path.display()
            )
        });
        let mut out = String::new();
        for (uri, worker) in jk.map(&uri_refs) {
            let _ = writeln!(out, "{uri}\t{}", worker.as_deref().unwrap_or("-"));
        }
        fs::write(map_dir.join(format!("{}.tsv", stem(&path))), out).unwrap();
    }
    fs::remove_dir_all(&scratch).ok();
}
