//! The access log of a real jkd process: combined and json lines parsed back (status, bytes, balancer facts, the request id Tomcat saw), refused and cut-off requests, and reopening on SIGUSR1 after a rename.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::jkd::{Jkd, start};
use support::recorder::{Answer, Recorder};

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jkd-access-log-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Two in-test demo nodes behind `lb` (mounted on /echo/* and /session*), and
/// `big` for /big/* on `big_port` when given.
fn workers(dir: &Path, rt: &tokio::runtime::Runtime, big_port: Option<u16>) -> PathBuf {
    let mut ports = Vec::new();
    for route in ["node1", "node2"] {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        ports.push(listener.local_addr().unwrap().port());
        rt.spawn(support::jkd::demo_node(route, listener));
    }
    let mut text = format!(
        "worker.list=lb\n\
         worker.lb.type=lb\nworker.lb.balance_workers=node1,node2\n\
         worker.lb.mount=/echo/* /session /session/*\n\
         worker.node1.host=127.0.0.1\nworker.node1.port={}\n\
         worker.node2.host=127.0.0.1\nworker.node2.port={}\n",
        ports[0], ports[1]
    );
    if let Some(port) = big_port {
        text = text.replace("worker.list=lb", "worker.list=lb,big");
        text.push_str(&format!(
            "worker.big.host=127.0.0.1\nworker.big.port={port}\nworker.big.mount=/big/*\n"
        ));
    }
    let path = dir.join("workers.properties");
    std::fs::write(&path, text).unwrap();
    path
}

/// One request on its own connection: status, head and body.
fn request(port: u16, path: &str, headers: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: access-log-test\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// Waits (at most 10 s) until `path` holds at least `n` complete lines.
fn lines(path: &Path, n: usize, jkd: &Jkd) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let complete: Vec<String> = text
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .map(|l| l.trim_end().to_string())
            .collect();
        if complete.len() >= n {
            return complete;
        }
        assert!(
            Instant::now() < deadline,
            "{} has {} line(s), expected {n}:\n{text}\njkd's log:\n{}",
            path.display(),
            complete.len(),
            jkd.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[test]
fn combined_lines_carry_status_and_bytes() {
    let dir = scratch("combined");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log = dir.join("access.log");
    let jkd = start(
        &workers(&dir, &rt, None),
        &[
            "--access-log",
            log.to_str().unwrap(),
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let (status, _, body) = request(jkd.port, "/echo/a?b=1", "Referer: http://ref.example/\r\n");
    assert_eq!(status, 200);
    let (missing, _, missing_body) = request(jkd.port, "/nowhere", "");
    assert_eq!(missing, 404);
    let got = lines(&log, 2, &jkd);
    let combined = regex::Regex::new(
        r#"^127\.0\.0\.1 - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "(GET [^ ]+ HTTP/1\.1)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"$"#,
    )
    .unwrap();
    let fields = |line: &str| {
        let c = combined
            .captures(line)
            .unwrap_or_else(|| panic!("not a combined line: {line}"));
        (1..=5).map(|i| c[i].to_string()).collect::<Vec<_>>()
    };
    assert_eq!(
        fields(&got[0]),
        [
            "GET /echo/a?b=1 HTTP/1.1",
            "200",
            &body.len().to_string(),
            "http://ref.example/",
            "access-log-test"
        ]
    );
    assert_eq!(
        fields(&got[1]),
        [
            "GET /nowhere HTTP/1.1",
            "404",
            &missing_body.len().to_string(),
            "-",
            "access-log-test"
        ]
    );
    // Nothing was dropped, and the counter says so.
    let (_, _, metrics) = request(jkd.metrics_port.unwrap(), "/metrics", "");
    assert!(
        metrics.contains("jkd_access_log_dropped_total 0"),
        "{metrics}"
    );
}

#[test]
fn json_lines_tell_the_balancers_story_and_the_request_id() {
    let dir = scratch("json");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log = dir.join("access.json");
    let jkd = start(
        &workers(&dir, &rt, None),
        &[
            "--access-log",
            log.to_str().unwrap(),
            "--access-log-format",
            "json",
        ],
    );
    // A new session, then the same session again: routed by its cookie.
    let (status, head, _) = request(jkd.port, "/session", "");
    assert_eq!(status, 200);
    let cookie = head
        .lines()
        .filter_map(|l| {
            l.strip_prefix("Set-Cookie: ")
                .or(l.strip_prefix("set-cookie: "))
        })
        .find_map(|c| c.split(';').next().filter(|c| c.starts_with("JSESSIONID=")))
        .unwrap_or_else(|| panic!("no session cookie:\n{head}"))
        .to_string();
    let route = cookie.rsplit('.').next().unwrap().to_string();
    let (status, _, _) = request(jkd.port, "/session", &format!("Cookie: {cookie}\r\n"));
    assert_eq!(status, 200);
    // The id jkd made up, and one the client sent, as the backend received them.
    let (_, _, echo) = request(jkd.port, "/echo/id", "");
    let (_, _, echo_own) = request(jkd.port, "/echo/own", "X-Request-Id: abc-123\r\n");
    let (missing, _, _) = request(jkd.port, "/unmapped", "");
    assert_eq!(missing, 404);

    let got: Vec<serde_json::Value> = lines(&log, 5, &jkd).iter().map(|l| json(l)).collect();
    let first = &got[0];
    assert_eq!(first["uri"], "/session");
    assert_eq!(first["worker"], "lb");
    assert_eq!(first["sticky"], "none");
    let second = &got[1];
    assert_eq!(second["status"], 200);
    assert_eq!(second["worker"], "lb");
    assert_eq!(second["member"], route.as_str());
    assert_eq!(second["route"], route.as_str());
    assert_eq!(second["sticky"], "hit");
    assert_eq!(second["attempts"], 1);
    assert_eq!(second["completed"], true);
    assert!(second["backend_ms"].as_f64().is_some(), "{second}");
    assert!(second["duration_ms"].as_f64().is_some(), "{second}");
    assert_eq!(second["client"], "127.0.0.1");
    assert_eq!(second["protocol"], "HTTP/1.1");
    assert_eq!(second["host"], "localhost");
    assert_eq!(second["user_agent"], "access-log-test");
    assert_eq!(second["tls"], serde_json::Value::Null);

    let sent_id = |page: &str| {
        page.lines()
            // The header keeps the client's spelling (X-Request-Id).
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .starts_with("header: x-request-id: ")
                    .then(|| &l["header: x-request-id: ".len()..])
            })
            .unwrap_or_else(|| panic!("no x-request-id on the echo page:\n{page}"))
            .to_string()
    };
    let made_up = sent_id(&echo);
    assert!(made_up.starts_with("jkd-"), "{made_up}");
    assert_eq!(got[2]["request_id"], made_up.as_str());
    assert_eq!(got[2]["bytes_out"], echo.len());
    assert_eq!(sent_id(&echo_own), "abc-123");
    assert_eq!(got[3]["request_id"], "abc-123");
    // The same id in jkd's own debug line for the request.
    assert!(
        jkd.wait_log(&format!("request_id={made_up}")),
        "{}",
        jkd.log()
    );

    let refused = &got[4];
    assert_eq!(refused["uri"], "/unmapped");
    assert_eq!(refused["status"], 404);
    assert_eq!(refused["worker"], serde_json::Value::Null);
    assert_eq!(refused["attempts"], 0);
    assert_eq!(refused["backend_ms"], serde_json::Value::Null);
}

#[test]
fn a_client_that_leaves_mid_response_is_logged_not_completed() {
    let dir = scratch("cut");
    let rt = tokio::runtime::Runtime::new().unwrap();
    const SIZE: usize = 32 * 1024 * 1024;
    let backend = Recorder::start(
        &rt,
        Answer {
            delay: Duration::ZERO,
            size: SIZE,
        },
    );
    let log = dir.join("access.json");
    let jkd = start(
        &workers(&dir, &rt, Some(backend.port)),
        &[
            "--access-log",
            log.to_str().unwrap(),
            "--access-log-format",
            "json",
        ],
    );
    {
        let mut s = TcpStream::connect(("127.0.0.1", jkd.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(s, "GET /big/file HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let mut some = [0u8; 64 * 1024];
        let mut read = 0;
        while read < some.len() {
            let n = s.read(&mut some[read..]).unwrap();
            assert!(n > 0, "jkd closed early");
            read += n;
        }
        // Dropped here with most of the body unread: the kernel resets the connection.
    }
    let got = lines(&log, 1, &jkd);
    let line = json(&got[0]);
    assert_eq!(line["uri"], "/big/file");
    assert_eq!(line["status"], 200);
    assert_eq!(line["completed"], false, "{line}");
    assert_eq!(line["worker"], "big");
    assert_eq!(line["member"], "big");
    assert_eq!(line["route"], serde_json::Value::Null);
    let out = line["bytes_out"].as_u64().unwrap();
    assert!(out > 0 && out < SIZE as u64, "bytes_out {out}");
}

#[test]
fn sigusr1_after_a_rename_writes_to_a_new_file() {
    let dir = scratch("rotate");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log = dir.join("access.log");
    let rotated = dir.join("access.log.1");
    let jkd = start(
        &workers(&dir, &rt, None),
        &["--access-log", log.to_str().unwrap()],
    );
    assert_eq!(request(jkd.port, "/echo/before", "").0, 200);
    lines(&log, 1, &jkd);
    std::fs::rename(&log, &rotated).unwrap();
    // Until the signal, lines still go to the renamed file (logrotate's window).
    assert_eq!(request(jkd.port, "/echo/between", "").0, 200);
    lines(&rotated, 2, &jkd);
    jkd.signal("USR1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log.exists() {
        assert!(
            Instant::now() < deadline,
            "no new file after SIGUSR1:\n{}",
            jkd.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(request(jkd.port, "/echo/after", "").0, 200);
    let fresh = lines(&log, 1, &jkd);
    assert_eq!(fresh.len(), 1);
    assert!(fresh[0].contains("GET /echo/after "), "{}", fresh[0]);
    let old = lines(&rotated, 2, &jkd);
    assert_eq!(old.len(), 2, "{old:?}");
    assert!(old[1].contains("GET /echo/between "), "{}", old[1]);
}

#[test]
fn an_access_log_that_cannot_be_opened_stops_jkd_with_its_path() {
    let dir = scratch("unopenable");
    let path = dir.join("no-such-dir").join("access.log");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jkd"))
        .args(["demo", "--listen", "127.0.0.1:0", "--access-log"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(path.to_str().unwrap()), "{err}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jkd"))
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--access-log-format",
            "%h %Q",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'%Q'"), "{err}");
}

#[test]
fn the_last_lines_are_written_when_jkd_stops() {
    let dir = scratch("stop");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log = dir.join("access.log");
    let mut jkd = start(
        &workers(&dir, &rt, None),
        &["--access-log", log.to_str().unwrap()],
    );
    for _ in 0..50 {
        assert_eq!(request(jkd.port, "/echo/x", "").0, 200);
    }
    jkd.signal("TERM");
    assert!(jkd.wait_exit(Duration::from_secs(10)).is_some());
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 50, "{text}");
}

#[test]
fn a_request_no_member_could_take_is_logged_with_its_attempts() {
    let dir = scratch("unavailable");
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let workers = dir.join("workers.properties");
    std::fs::write(
        &workers,
        format!(
            "worker.list=dead\nworker.dead.type=lb\nworker.dead.balance_workers=gone\n\
             worker.dead.mount=/dead/*\n\
             worker.gone.host=127.0.0.1\nworker.gone.port={closed}\n"
        ),
    )
    .unwrap();
    let log = dir.join("access.json");
    let jkd = start(
        &workers,
        &[
            "--access-log",
            log.to_str().unwrap(),
            "--access-log-format",
            "json",
        ],
    );
    assert_eq!(request(jkd.port, "/dead/x", "").0, 503);
    let line = json(&lines(&log, 1, &jkd)[0]);
    assert_eq!(line["status"], 503);
    assert_eq!(line["worker"], "dead");
    assert_eq!(line["member"], "gone");
    assert!(line["attempts"].as_u64().unwrap() >= 1, "{line}");
    assert_eq!(line["backend_ms"], serde_json::Value::Null);
    assert_eq!(line["completed"], true);
}

#[test]
fn an_apache_configs_jk_request_log_format_goes_to_its_jk_log_file() {
    let dir = scratch("jkconf");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let workers = workers(&dir, &rt, None);
    let log = dir.join("mod_jk.log");
    let conf = dir.join("httpd.conf");
    std::fs::write(
        &conf,
        format!(
            "JkWorkersFile {}\nJkLogFile {}\nJkRequestLogFormat \"%w %V %s %T %U\"\n",
            workers.display(),
            log.display()
        ),
    )
    .unwrap();
    let jkd = support::jkd::start_with_args(&["run", "--apache-conf", conf.to_str().unwrap()]);
    let (status, _, _) = request(jkd.port, "/echo/conf", "");
    assert_eq!(status, 200);
    let got = lines(&log, 1, &jkd);
    let words: Vec<&str> = got[0].split(' ').collect();
    assert_eq!(words[0], "lb", "{got:?}");
    assert_eq!(words[1], "localhost");
    assert_eq!(words[2], "200");
    // mod_jk's %T: seconds with microseconds.
    let (secs, micros) = words[3].split_once('.').expect("seconds.micros");
    assert!(
        secs.parse::<u64>().is_ok() && micros.len() == 6,
        "{}",
        words[3]
    );
    assert_eq!(words[4], "/echo/conf");
}
