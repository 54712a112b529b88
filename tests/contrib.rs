//! What contrib/ ships, checked by the tools that will read it: the alert rules by promtool (syntax and unit tests), the systemd unit by systemd-analyze and by a real jkd speaking sd_notify, the dashboard's metric names against jkd's own, and the compose cluster's workers file by `jkd check`.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(program: &str, args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed by this test (see .ci/run): {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn promtool_accepts_the_alert_rules_and_their_unit_tests_pass() {
    let dir = repo().join("contrib/prometheus");
    let (ok, out) = run("promtool", &["check", "rules", "jkd-alerts.yml"], &dir);
    assert!(ok, "{out}");
    let (ok, out) = run("promtool", &["test", "rules", "jkd-alerts.test.yml"], &dir);
    assert!(ok, "{out}");
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let unit = std::fs::read_to_string(repo().join("contrib/systemd/jkd.service")).unwrap();
    // The unit names the installed path; verify it against the binary just built.
    let dir = std::env::temp_dir().join(format!("jkd-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("jkd.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/jkd", env!("CARGO_BIN_EXE_jkd")),
    )
    .unwrap();
    let (ok, out) = run("systemd-analyze", &["verify", path.to_str().unwrap()], &dir);
    assert!(ok, "{out}");
    // What the unit relies on jkd for.
    assert!(unit.contains("Type=notify"));
    assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
    assert!(unit.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn jkd_tells_systemd_when_it_is_ready_reloading_and_stopping() {
    let dir = std::env::temp_dir().join(format!("jkd-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let workers = dir.join("workers.properties");
    std::fs::write(
        &workers,
        "worker.list=w\nworker.w.port=1\nworker.w.mount=/*\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jkd"))
        .args(["run", "--workers", workers.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0"])
        .env("NOTIFY_SOCKET", &socket_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let next = || {
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).expect("a message for systemd");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(next(), "READY=1\n");
    let signal = |name: &str| {
        assert!(
            Command::new("kill")
                .args([format!("-{name}"), child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
    };
    signal("HUP");
    let reloading = next();
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    assert_eq!(next(), "READY=1\n");
    signal("TERM");
    assert_eq!(next(), "STOPPING=1\n");
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_dashboard_names_only_metrics_jkd_exports() {
    let text = std::fs::read_to_string(repo().join("contrib/grafana/jkd-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let source = std::fs::read_to_string(repo().join("src/metrics/mod.rs")).unwrap();
    // Every quoted "jkd_..." in the metrics module (the names are constants there).
    let exported: Vec<&str> = source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|n| n.starts_with("jkd_") && !n.contains(' '))
        .collect();
    assert!(exported.len() > 20, "{exported:?}");
    let mut used = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if !word.starts_with("jkd_") {
                    continue;
                }
                used += 1;
                let base = ["_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|s| word.strip_suffix(s))
                    .unwrap_or(word);
                assert!(
                    exported.contains(&base),
                    "the dashboard uses {word}, which jkd does not export"
                );
            }
        }
    }
    assert!(used > 10);
}

#[test]
fn the_compose_clusters_workers_file_is_valid() {
    let file = repo().join("contrib/docker/workers.properties");
    let out = Command::new(env!("CARGO_BIN_EXE_jkd"))
        .args(["check", "--workers", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
