//! Every real-world config in tests/data/corpus is checked with `jkd check`, against verdicts pinned in tests/data/corpus-verdicts.tsv.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/corpus");
const PINNED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/corpus-verdicts.tsv"
);

fn files(dir: &str) -> Vec<PathBuf> {
    let path = Path::new(CORPUS).join(dir);
    let mut out: Vec<PathBuf> = fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("corpus folder {} is missing: {e}", path.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no files in {}", path.display());
    out
}

/// Worker names a mount file or Apache config routes to, so a workers file can define them.
fn mounted_workers(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let worker = if let Some((_, w)) = line.split_once('=') {
            Some(w)
        } else {
            let mut parts = line.split_whitespace();
            match parts.next().map(str::to_ascii_lowercase).as_deref() {
                Some("jkmount" | "jkunmount") => parts.last(),
                _ => None,
            }
        };
        if let Some(w) = worker {
            let w = w.split(';').next().unwrap_or("").trim().trim_matches('"');
            if !w.is_empty() && w != "*" && !names.iter().any(|n| n == w) {
                names.push(w.to_string());
            }
        }
    }
    names
}

fn workers_for(names: &[String], dir: &Path) -> PathBuf {
    let mut text = String::new();
    for n in names {
        text.push_str(&format!("worker.list={n}\nworker.{n}.port=8009\n"));
    }
    let path = dir.join("workers.properties");
    fs::write(&path, text).expect("write temp workers file");
    path
}

fn run_check(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_jkd"))
        .arg("check")
        .args(args)
        .env_clear()
        .output()
        .expect("run jkd check");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "jkd check crashed on {args:?}: {stderr}"
    );
    (out.status.success(), stderr)
}

fn first_error(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.contains(": error: "))
        .unwrap_or("")
        .to_string()
}

fn verdicts() -> BTreeMap<String, (bool, String)> {
    let tmp = std::env::temp_dir().join(format!("jkd-corpus-{}", std::process::id()));
    fs::create_dir_all(&tmp).expect("temp dir");
    let mut out = BTreeMap::new();
    for f in files("workers") {
        let (ok, err) = run_check(&["--workers", f.to_str().unwrap_or_default()]);
        out.insert(format!("workers/{}", name(&f)), (ok, first_error(&err)));
    }
    for f in files("uriworkermap") {
        let text = String::from_utf8_lossy(&fs::read(&f).expect("read corpus")).into_owned();
        let w = workers_for(&mounted_workers(&text), &tmp);
        let (ok, err) = run_check(&[
            "--workers",
            w.to_str().unwrap_or_default(),
            "--mounts",
            f.to_str().unwrap_or_default(),
        ]);
        out.insert(
            format!("uriworkermap/{}", name(&f)),
            (ok, first_error(&err)),
        );
    }
    for f in files("httpd") {
        let text = String::from_utf8_lossy(&fs::read(&f).expect("read corpus")).into_owned();
        let w = workers_for(&mounted_workers(&text), &tmp);
        let (ok, err) = run_check(&[
            "--workers",
            w.to_str().unwrap_or_default(),
            "--apache-conf",
            f.to_str().unwrap_or_default(),
        ]);
        out.insert(format!("httpd/{}", name(&f)), (ok, first_error(&err)));
    }
    let _ = fs::remove_dir_all(&tmp);
    out
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The pinned verdict of every corpus file: `FILE<TAB>accepted|rejected<TAB>why`.
fn pinned() -> BTreeMap<String, (bool, String)> {
    let text = fs::read_to_string(PINNED).expect("tests/data/corpus-verdicts.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let mut parts = l.splitn(3, '\t');
            let file = parts.next().unwrap_or("").to_string();
            let ok = parts.next() == Some("accepted");
            let why = parts.next().unwrap_or("").to_string();
            (file, (ok, why))
        })
        .collect()
}

#[test]
fn every_corpus_file_gets_its_pinned_verdict() {
    let got = verdicts();
    if std::env::var_os("JKD_UPDATE_VERDICTS").is_some() {
        let mut text = String::from(
            "# jkd check verdict per corpus file (tests/data/corpus); the third column is the first error.\n\
             # Regenerate with JKD_UPDATE_VERDICTS=1 cargo test --test corpus, then review the diff.\n",
        );
        for (f, (ok, why)) in &got {
            let why = why.rsplit(": error: ").next().unwrap_or("");
            let verdict = if *ok { "accepted" } else { "rejected" };
            text.push_str(&format!("{f}\t{verdict}\t{why}\n"));
        }
        fs::write(PINNED, text).expect("write pinned verdicts");
    }
    let want = pinned();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the corpus and the pinned verdicts list different files"
    );
    let mut wrong = Vec::new();
    for (f, (ok, err)) in &got {
        let (want_ok, want_why) = &want[f];
        if ok != want_ok || (!want_why.is_empty() && !err.ends_with(want_why.as_str())) {
            wrong.push(format!(
                "{f}: got accepted={ok} ({err}), pinned accepted={want_ok} ({want_why})"
            ));
        }
    }
    assert!(wrong.is_empty(), "verdicts changed:\n{}", wrong.join("\n"));
}
