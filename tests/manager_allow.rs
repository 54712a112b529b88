//! The status manager's allow-list end to end: `jkd demo`/`jkd run` with `--manager-allow`, and with an Apache config whose `<Location>` restricts the manager, refuse a client outside the ranges with a plain 403 (counted in `jkd_manager_refused_total`) and serve one inside; `jkd check` says when the flag wins over the file.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::jkd;

/// One HTTP/1.1 GET with extra header lines; the status, the head (lower case) and
/// the body.
fn get(port: u16, target: &str, headers: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: jk.example\r\n{headers}Connection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).expect("read");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// `jkd_manager_refused_total` from the metrics listener.
fn refused(metrics_port: u16) -> f64 {
    let (status, _, text) = get(metrics_port, "/metrics", "");
    assert_eq!(status, 200);
    text.lines()
        .find(|l| l.starts_with("jkd_manager_refused_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no jkd_manager_refused_total in:\n{text}"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jkd-manager-allow-{name}-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("dir");
    dir
}

#[test]
fn a_client_outside_manager_allow_gets_403_and_is_counted() {
    let j = jkd::start_demo(&[
        "--manager-allow",
        "10.0.0.0/8",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    let metrics = j.metrics_port.expect("metrics port");
    assert_eq!(refused(metrics), 0.0);

    let (status, _, body) = get(j.port, "/jkmanager/", "");
    assert_eq!(status, 403);
    assert_eq!(body, "403 Forbidden\n", "a refused client learns nothing");
    // X-Forwarded-For is not the client: the TCP peer is. Credentials are not even
    // looked at.
    let (status, head, _) = get(
        j.port,
        "/jkmanager/?cmd=list",
        "X-Forwarded-For: 10.1.2.3\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\n",
    );
    assert_eq!(status, 403);
    assert!(!head.contains("www-authenticate"), "{head}");
    assert_eq!(refused(metrics), 2.0);
    // Other paths are not concerned.
    let (status, _, _) = get(j.port, "/", "");
    assert_ne!(status, 403);
    assert!(
        j.log()
            .lines()
            .any(|l| l.contains("not allowed") && l.contains("127.0.0.1")),
        "{}",
        j.log()
    );
}

#[test]
fn a_client_inside_manager_allow_reaches_the_manager() {
    let j = jkd::start_demo(&[
        "--manager-allow",
        "127.0.0.0/8",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    let (status, _, body) = get(j.port, "/jkmanager/", "");
    assert_eq!(status, 200);
    assert!(body.contains("JK Status Manager"));
    assert_eq!(refused(j.metrics_port.expect("metrics port")), 0.0);
}

const WORKERS: &str = "worker.list=jkstatus\nworker.jkstatus.type=status\n";
const CONF: &str = "<IfModule jk_module>\n\
                    <Location /jkmanager>\n\
                    \x20   JkMount jkstatus\n\
                    \x20   Require ip 10.0.0.0/8\n\
                    </Location>\n\
                    </IfModule>\n";

#[test]
fn an_apache_location_restricts_the_manager_and_the_flag_wins() {
    let dir = scratch("conf");
    let workers = dir.join("workers.properties");
    let conf = dir.join("jk.conf");
    fs::write(&workers, WORKERS).expect("write");
    fs::write(&conf, CONF).expect("write");
    let conf_arg = conf.to_str().expect("utf-8 path");

    let j = jkd::start(&workers, &["--apache-conf", conf_arg]);
    let (status, _, _) = get(j.port, "/jkmanager", "");
    assert_eq!(status, 403, "{}", j.log());
    drop(j);

    let j = jkd::start(
        &workers,
        &["--apache-conf", conf_arg, "--manager-allow", "127.0.0.1"],
    );
    let (status, _, _) = get(j.port, "/jkmanager", "");
    assert_eq!(status, 200, "{}", j.log());
    assert!(
        j.log().contains("jk.conf:4") && j.log().contains("--manager-allow wins"),
        "{}",
        j.log()
    );
    drop(j);

    // `jkd check` says so too; with --strict it is a failure.
    let out = Command::new(env!("CARGO_BIN_EXE_jkd"))
        .args(["check", "--strict", "--workers"])
        .arg(&workers)
        .args(["--apache-conf", conf_arg, "--manager-allow", "127.0.0.1"])
        .output()
        .expect("run jkd check");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--manager-allow wins"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_jkd"))
        .args(["check", "--strict", "--workers"])
        .arg(&workers)
        .args(["--apache-conf", conf_arg])
        .output()
        .expect("run jkd check");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = fs::remove_dir_all(&dir);
}
