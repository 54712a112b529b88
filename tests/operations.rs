//! Day-2 operations with a real jkd process: reload on SIGHUP under load (nothing lost, the change applied, live state kept) and a bad file on reload (the running configuration stays, the error names file:line, the metrics count it).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::jkd::{Jkd, start};

/// Two in-test demo nodes; returns their ports and the runtime serving them.
fn demo_nodes() -> (tokio::runtime::Runtime, u16, u16) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut ports = Vec::new();
    for route in ["node1", "node2"] {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        ports.push(listener.local_addr().unwrap().port());
        rt.spawn(support::jkd::demo_node(route, listener));
    }
    (rt, ports[0], ports[1])
}

fn workers(port1: u16, port2: u16, extra: &str) -> String {
    format!(
        "worker.list=lb,jkstatus\n\
         worker.lb.type=lb\nworker.lb.balance_workers=node1,node2\nworker.lb.mount=/echo/*\n\
         worker.node1.host=127.0.0.1\nworker.node1.port={port1}\n\
         worker.node2.host=127.0.0.1\nworker.node2.port={port2}\n\
         worker.jkstatus.type=status\nworker.jkstatus.mount=/jkmanager\n{extra}"
    )
}

/// One keep-alive HTTP/1.1 GET; the status and the body.
fn get(conn: &mut BufReader<TcpStream>, path: &str) -> std::io::Result<(u16, String)> {
    write!(
        conn.get_mut(),
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )?;
    let mut status_line = String::new();
    conn.read_line(&mut status_line)?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        conn.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body)?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn connect(port: u16) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    BufReader::new(stream)
}

fn hangup(jkd: &Jkd) {
    let status = Command::new("kill")
        .args(["-HUP", &jkd.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "waited 20 s for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn metrics(jkd: &Jkd) -> String {
    let mut conn = connect(jkd.metrics_port.unwrap());
    get(&mut conn, "/metrics").unwrap().1
}

fn metric(text: &str, start: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn sighup_reloads_under_load_without_losing_a_request() {
    let (_nodes, port1, port2) = demo_nodes();
    let dir = std::env::temp_dir().join(format!("jkd-ops-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("workers.properties");
    std::fs::write(&file, workers(port1, port2, "")).unwrap();
    let jkd = start(&file, &["--metrics-listen", "127.0.0.1:0"]);
    let port = jkd.port;

    // Load: four keep-alive clients, each request must succeed.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            let served = served.clone();
            std::thread::spawn(move || -> Result<(), String> {
                let mut conn = connect(port);
                for i in 0..100_000u32 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let (status, body) = get(&mut conn, &format!("/echo/{i}"))
                        .map_err(|e| format!("request {i}: {e}"))?;
                    if status != 200 || !body.starts_with("node: node") {
                        return Err(format!("request {i}: {status} {body}"));
                    }
                    served.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    wait_for(|| served.load(Ordering::Relaxed) > 200, "traffic");

    // Reload: a new mount, a changed timeout on node2.
    std::fs::write(
        &file,
        workers(
            port1,
            port2,
            "worker.node2.socket_timeout=30\nworker.lb.mount=/session/*\n",
        ),
    )
    .unwrap();
    let before = served.load(Ordering::Relaxed);
    hangup(&jkd);
    wait_for(
        || {
            jkd.log()
                .contains("reload: configuration and certificates re-read")
        },
        "the reload",
    );
    wait_for(
        || served.load(Ordering::Relaxed) > before + 200,
        "traffic after the reload",
    );
    // The new mount answers.
    let mut check = connect(port);
    let (status, body) = get(&mut check, "/session/new").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("node=node"), "{body}");

    // A bad file: refused, named, counted; the running configuration serves on.
    std::fs::write(&file, workers(port1, port2, "worker.node1.prot=8009\n")).unwrap();
    hangup(&jkd);
    wait_for(
        || jkd.log().contains("the running one stays in service"),
        "the refused reload",
    );
    let log = jkd.log();
    let named = format!("{}:", file.display());
    assert!(
        log.lines()
            .any(|l| l.contains(&named) && l.contains("worker.node1.prot")),
        "{log}"
    );
    let (status, _) = get(&mut check, "/session/still").unwrap();
    assert_eq!(status, 200);

    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for c in clients {
        c.join()
            .unwrap()
            .unwrap_or_else(|e| panic!("a request failed: {e}\n{}", jkd.log()));
        total += 1;
    }
    assert_eq!(total, 4);
    let m = metrics(&jkd);
    assert_eq!(
        metric(&m, "jkd_config_reloads_total{result=\"success\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "jkd_config_reloads_total{result=\"failure\"}"),
        Some(1.0),
        "{m}"
    );
    assert!(metric(&m, "jkd_config_last_reload_success_timestamp_seconds").is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A jkd in front of a backend that answers after `delay`.
fn slow_backend_jkd(
    delay: Duration,
    extra: &[&str],
) -> (
    tokio::runtime::Runtime,
    support::recorder::Recorder,
    Jkd,
    std::path::PathBuf,
) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let backend = support::recorder::Recorder::start(
        &rt,
        support::recorder::Answer {
            delay,
            ..Default::default()
        },
    );
    let dir = std::env::temp_dir().join(format!(
        "jkd-ops-stop-{}-{}",
        std::process::id(),
        delay.as_millis()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("workers.properties");
    std::fs::write(
        &file,
        format!(
            "worker.list=w\nworker.w.host=127.0.0.1\nworker.w.port={}\nworker.w.mount=/*\n",
            backend.port
        ),
    )
    .unwrap();
    let jkd = start(&file, extra);
    (rt, backend, jkd, dir)
}

#[test]
fn sigterm_lets_requests_under_way_finish_closes_idle_connections_and_exits_0() {
    let (_rt, backend, mut jkd, dir) = slow_backend_jkd(Duration::from_millis(1500), &[]);
    let port = jkd.port;
    // A request under way...
    let busy = std::thread::spawn(move || {
        let mut conn = connect(port);
        get(&mut conn, "/slow")
    });
    wait_for(
        || backend.connections.load(Ordering::SeqCst) > 0,
        "the request to reach the backend",
    );
    // ...and an idle connection that has sent nothing.
    let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    jkd.signal("TERM");
    // The idle connection is closed without an answer.
    let mut buf = [0u8; 64];
    assert_eq!(
        idle.read(&mut buf).unwrap_or(0),
        0,
        "the idle connection got bytes"
    );
    // New connections are refused once the listener is closed.
    wait_for(
        || TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the listener to close",
    );
    // The request under way is answered whole.
    let (status, body) = busy.join().unwrap().expect("the request under way was cut");
    assert_eq!(status, 200);
    assert_eq!(body.len(), 2);
    let exit = jkd
        .wait_exit(Duration::from_secs(20))
        .expect("jkd did not exit");
    assert!(exit.success(), "{exit:?}\n{}", jkd.log());
    assert!(
        jkd.log().contains("stopped: every request finished"),
        "{}",
        jkd.log()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_shutdown_timeout_and_a_second_signal_cut_what_is_left() {
    for second_signal in [false, true] {
        let extra: &[&str] = if second_signal {
            &[]
        } else {
            &["--shutdown-timeout", "1"]
        };
        let (_rt, backend, mut jkd, dir) = slow_backend_jkd(Duration::from_secs(60), extra);
        let port = jkd.port;
        let busy = std::thread::spawn(move || {
            let mut conn = connect(port);
            get(&mut conn, "/stuck")
        });
        wait_for(
            || backend.connections.load(Ordering::SeqCst) > 0,
            "the request",
        );
        jkd.signal("TERM");
        if second_signal {
            wait_for(|| jkd.log().contains("stopping:"), "the first signal");
            jkd.signal("INT");
        }
        let exit = jkd
            .wait_exit(Duration::from_secs(20))
            .expect("jkd did not exit");
        assert!(exit.success(), "{exit:?}");
        let said = if second_signal {
            "stopped at once on a second signal; 1 connection(s) cut"
        } else {
            "--shutdown-timeout of 1 s passed; 1 connection(s) cut"
        };
        assert!(jkd.log().contains(said), "{}", jkd.log());
        assert!(
            busy.join().unwrap().is_err(),
            "the stuck request got an answer"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_second_jkd_binds_the_same_address_while_the_first_drains() {
    let (_nodes, port1, port2) = demo_nodes();
    let dir = std::env::temp_dir().join(format!("jkd-ops-upgrade-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("workers.properties");
    std::fs::write(&file, workers(port1, port2, "")).unwrap();
    let mut old = start(&file, &[]);
    let addr = format!("127.0.0.1:{}", old.port);
    // The new process on the very same address (jkd's own --listen comes after).
    let new = support::jkd::start(&file, &["--listen", &addr]);
    assert_eq!(new.port, old.port, "{}", new.log());
    old.signal("TERM");
    let exit = old
        .wait_exit(Duration::from_secs(20))
        .expect("the old jkd did not exit");
    assert!(exit.success());
    // Every new connection is served by the new process.
    for i in 0..20 {
        let mut conn = connect(old.port);
        let (status, _) = get(&mut conn, &format!("/echo/{i}")).unwrap();
        assert_eq!(status, 200);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn readyz_says_when_a_balancer_has_no_usable_member_and_when_jkd_is_stopping() {
    // A balancer whose only member's port refuses connections, and a slow worker that
    // keeps a request under way while jkd stops.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = closed.local_addr().unwrap().port();
    drop(closed);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let slow = support::recorder::Recorder::start(
        &rt,
        support::recorder::Answer {
            delay: Duration::from_secs(3),
            ..Default::default()
        },
    );
    let dir = std::env::temp_dir().join(format!("jkd-ops-ready-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("workers.properties");
    std::fs::write(
        &file,
        format!(
            "worker.list=lb,slow\nworker.lb.type=lb\nworker.lb.balance_workers=dead\nworker.lb.mount=/*\n\
             worker.dead.host=127.0.0.1\nworker.dead.port={dead_port}\n\
             worker.slow.host=127.0.0.1\nworker.slow.port={}\nworker.slow.mount=/slow/*\n",
            slow.port
        ),
    )
    .unwrap();
    let mut jkd = start(&file, &["--metrics-listen", "127.0.0.1:0"]);
    let probe = |path: &str| {
        let mut conn = connect(jkd.metrics_port.unwrap());
        get(&mut conn, path).unwrap()
    };
    assert_eq!(probe("/healthz").0, 200);
    assert_eq!(probe("/readyz"), (200, "ready\n".to_string()));
    // A request finds the member down.
    let mut client = connect(jkd.port);
    let (status, _) = get(&mut client, "/x").unwrap();
    assert_eq!(status, 503);
    let (status, why) = probe("/readyz");
    assert_eq!(status, 503);
    assert!(
        why.contains("load balancer lb has no usable member (dead ACT ERR)"),
        "{why}"
    );
    assert_eq!(probe("/healthz").0, 200);
    // Stopping, with a request under way: not ready any more.
    let port = jkd.port;
    let under_way = std::thread::spawn(move || get(&mut connect(port), "/slow/x"));
    wait_for(
        || slow.connections.load(Ordering::SeqCst) > 0,
        "the slow request",
    );
    jkd.signal("TERM");
    wait_for(|| jkd.log().contains("stopping:"), "the stop");
    let (status, why) = probe("/readyz");
    assert_eq!(status, 503);
    assert!(why.starts_with("stopping"), "{why}");
    assert_eq!(under_way.join().unwrap().unwrap().0, 200);
    assert!(jkd.wait_exit(Duration::from_secs(20)).is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn jkd_check_reads_what_run_would_and_says_nothing_to_check_is_a_usage_error() {
    let check = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_jkd"))
            .arg("check")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let dir = std::env::temp_dir().join(format!("jkd-ops-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.properties");
    std::fs::write(
        &good,
        "worker.list=w\nworker.w.port=8009\nworker.w.ping_mode=A\n",
    )
    .unwrap();
    let slip = dir.join("slip.properties");
    std::fs::write(
        &slip,
        "worker.list=w\nworker.w.port=8009\nworker.w.ping_mode=A\nwroker.w.host=db\n",
    )
    .unwrap();
    let good = good.to_str().unwrap();
    let slip = slip.to_str().unwrap();

    let (code, err) = check(&[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("nothing to check"), "{err}");
    assert_eq!(check(&["--workers", good]).0, Some(0));
    // A slip of `worker` is loud, and fatal with --strict.
    let (code, err) = check(&["--workers", slip]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains(":4: wroker.w.host: warning"), "{err}");
    assert!(err.contains("did you mean 'worker.w.host'"), "{err}");
    assert_eq!(check(&["--workers", slip, "--strict"]).0, Some(1));
    // The flags of `jkd run` are checked too.
    let (code, err) = check(&["--workers", good, "--listen", "nonsense"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("'nonsense' is not an address"), "{err}");
    let nowhere = format!("unix:{}/no/such/dir/s.sock", dir.display());
    let (code, err) = check(&["--workers", good, "--listen", &nowhere]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no directory"), "{err}");
    let here = format!("unix:{}/s.sock", dir.display());
    let (code, err) = check(&["--workers", good, "--listen", &here]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = check(&["--workers", good, "--metrics-listen", &here]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("TCP addresses only"), "{err}");
    let (code, err) = check(&["--workers", good, "--unix-socket-owner", "no-such-user-jkd"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no user 'no-such-user-jkd'"), "{err}");
    let missing = dir.join("missing.pem");
    let missing = missing.to_str().unwrap();
    let (code, err) = check(&[
        "--workers",
        good,
        "--tls-listen",
        "127.0.0.1:0",
        "--cert",
        missing,
        "--key",
        missing,
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains(missing), "{err}");
    let (code, err) = check(&["--workers", good, "--manager-users", missing]);
    assert_eq!(code, Some(1));
    assert!(err.contains("--manager-users"), "{err}");
    let (code, err) = check(&[
        "--workers",
        good,
        "--state-file",
        "/nonexistent/jkd/state.json",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("--state-file /nonexistent/jkd/state.json: no directory /nonexistent/jkd"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_trusted_proxy_names_the_client_with_the_proxy_protocol() {
    let (_nodes, port1, port2) = demo_nodes();
    let dir = std::env::temp_dir().join(format!("jkd-ops-pp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("workers.properties");
    std::fs::write(&file, workers(port1, port2, "")).unwrap();
    let jkd = start(
        &file,
        &[
            "--trusted-proxy",
            "127.0.0.0/8",
            "--proxy-protocol",
            "--listen",
            ":0",
        ],
    );
    let ask = |prefix: &[u8]| -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", jkd.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.write_all(prefix).unwrap();
        stream
            .write_all(b"GET /echo/pp HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    };
    let page = ask(b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 80\r\n");
    assert!(page.contains("remote-addr: 192.0.2.7"), "{page}");
    // v2, IPv6.
    let v2 = {
        let mut h = b"\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x24".to_vec();
        h.extend_from_slice(
            &"2001:db8::9"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        h.extend_from_slice(&"::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
        h.extend_from_slice(&40001u16.to_be_bytes());
        h.extend_from_slice(&80u16.to_be_bytes());
        h
    };
    let page = ask(&v2);
    assert!(page.contains("remote-addr: 2001:db8::9"), "{page}");
    // From a trusted peer, a connection without the header is closed unanswered.
    assert_eq!(ask(b""), "");
    wait_for(
        || jkd.log().contains("not a PROXY header"),
        "the refusal in the log",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// One `Connection: close` GET over a unix socket; the whole answer.
fn ask_unix(path: &std::path::Path, head: &str) -> String {
    let mut stream = std::os::unix::net::UnixStream::connect(path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(stream, "{head}Connection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn a_unix_socket_listener_serves_gets_its_mode_and_is_handed_over_and_removed() {
    use std::os::unix::fs::PermissionsExt;
    let (_nodes, port1, port2) = demo_nodes();
    let dir = std::env::temp_dir().join(format!("jkd-ops-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("workers.properties");
    std::fs::write(&file, workers(port1, port2, "")).unwrap();
    let socket = dir.join("http.sock");
    let listen = format!("unix:{}", socket.display());
    let flags = [
        "--listen",
        listen.as_str(),
        "--unix-socket-mode",
        "600",
        "--trusted-proxy",
        "127.0.0.1",
    ];
    let mut old = start(&file, &flags);
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A client on this host is loopback; a trusted proxy there names the real client.
    let page = ask_unix(&socket, "GET /echo/u HTTP/1.1\r\nHost: app.example\r\n");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("remote-addr: 127.0.0.1"), "{page}");
    let page = ask_unix(
        &socket,
        "GET /echo/u HTTP/1.1\r\nHost: app.example\r\nX-Forwarded-For: 192.0.2.9\r\n",
    );
    assert!(page.contains("remote-addr: 192.0.2.9"), "{page}");
    // An upgrade: the new process takes the path over, the old one drains and leaves
    // the new one's socket in place.
    let mut new = start(&file, &flags);
    old.signal("TERM");
    assert!(
        old.wait_exit(Duration::from_secs(20))
            .expect("the old jkd did not exit")
            .success()
    );
    for i in 0..10 {
        let page = ask_unix(&socket, &format!("GET /echo/{i} HTTP/1.1\r\nHost: x\r\n"));
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    }
    // The last one out removes its socket.
    new.signal("TERM");
    assert!(
        new.wait_exit(Duration::from_secs(20))
            .expect("jkd did not exit")
            .success()
    );
    assert!(!socket.exists(), "the socket file stayed behind");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn drained_says_when_a_member_can_go_down_without_cutting_a_request_or_a_session() {
    // Member a answers after 2 s, so a request can be seen under way on it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let slow_a = support::recorder::Recorder::start(
        &rt,
        support::recorder::Answer {
            delay: Duration::from_secs(2),
            ..Default::default()
        },
    );
    let b = support::recorder::Recorder::start(&rt, Default::default());
    let dir = std::env::temp_dir().join(format!("jkd-ops-drained-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("workers.properties");
    std::fs::write(
        &file,
        format!(
            "worker.list=lb,jkstatus\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\n\
             worker.lb.mount=/app/*\n\
             worker.a.host=127.0.0.1\nworker.a.port={}\nworker.b.host=127.0.0.1\nworker.b.port={}\n\
             worker.jkstatus.type=status\nworker.jkstatus.mount=/jkmanager\n",
            slow_a.port, b.port
        ),
    )
    .unwrap();
    let users = dir.join("manager-users");
    std::fs::write(&users, MANAGER_USERS).unwrap();
    let jkd = start(
        &file,
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--manager-users",
            users.to_str().unwrap(),
        ],
    );
    let metrics_port = jkd.metrics_port.unwrap();
    let probe = |path: &str| get(&mut connect(metrics_port), path).unwrap();

    let (status, why) = probe("/drained/lb/a");
    assert_eq!(status, 503);
    assert!(why.contains("member a of lb is active"), "{why}");
    // The operator drains a through the manager, as with mod_jk.
    manager_update(jkd.port, "cmd=update&w=lb&sw=a&vwa=D");
    // Sessions from before this jkd started are unknown to it: not within the quiet
    // period it has watched the member.
    let (status, why) = probe("/drained/lb/a?quiet=600");
    assert_eq!(status, 503, "{why}");
    assert!(why.contains("jkd has known member a of lb for"), "{why}");
    let (status, why) = probe("/drained/lb/a?quiet=0");
    assert_eq!(status, 200, "{why}");
    assert!(
        why.contains("is disabled (DIS)") && why.contains("no request of one of its sessions"),
        "{why}"
    );

    // A request of one of a's sessions still reaches it (disabled keeps sessions).
    let port = jkd.port;
    let session = std::thread::spawn(move || get(&mut connect(port), "/app/x;jsessionid=S1.a"));
    wait_for(
        || !slow_a.requests.lock().is_empty(),
        "the session's request on a",
    );
    let (status, why) = probe("/drained/lb/a");
    assert_eq!(status, 503);
    assert!(
        why.contains("1 request(s) or WebSocket(s) still under way on member a"),
        "{why}"
    );
    assert_eq!(session.join().unwrap().unwrap().0, 200);
    let (status, why) = probe("/drained/lb/a?quiet=600");
    assert_eq!(status, 503);
    assert!(
        why.contains(
            "a request of one of the sessions of member a of lb ended 0 s ago (quiet=600)"
        ),
        "{why}"
    );
    let (status, why) = probe("/drained/lb/a?quiet=0");
    assert_eq!(status, 200, "{why}");
    assert!(
        why.contains("the last request of one of its sessions ended"),
        "{why}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let at = metric(
        &metrics(&jkd),
        "jkd_member_last_session_request_timestamp_seconds{worker=\"lb\",member=\"a\"}",
    )
    .expect("the last session request of a in /metrics");
    assert!((now - at).abs() < 30.0, "{at} vs {now}");
    // New requests go to b, which is active and never had a session.
    assert_eq!(get(&mut connect(jkd.port), "/app/new").unwrap().0, 200);
    assert_eq!(probe("/drained/lb/b").0, 503);

    // Asked wrongly: what exists, and what is expected.
    let (status, why) = probe("/drained/lb/zz");
    assert_eq!(
        (status, why.trim()),
        (404, "load balancer lb has no member zz (members: a, b)")
    );
    assert_eq!(probe("/drained/nope/a").0, 404);
    assert_eq!(probe("/drained/jkstatus/a").0, 404);
    let (status, why) = probe("/drained/lb/a?quiet=soon");
    assert_eq!(status, 400, "{why}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Basic-authenticated manager update, as a deployment script sends it (admin /
/// s3cret of `MANAGER_USERS`); the manager's answer.
fn manager_update(port: u16, query: &str) -> String {
    let mut manager = connect(port);
    write!(
        manager.get_mut(),
        "GET /jkmanager?{query}&mime=txt HTTP/1.1\r\nHost: localhost\r\n\
         Authorization: Basic YWRtaW46czNjcmV0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    manager.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200") && !answer.contains("type=ERROR"),
        "{answer}"
    );
    answer
}

/// `htpasswd -nbB -C 4 admin s3cret`
const MANAGER_USERS: &str = "admin:$2y$04$hHEtGog20YUmdj7yeTFto.BP6WYCtFNPZYqk57blARo78zFLgXHum\n";

#[test]
fn a_drained_member_stays_drained_across_a_restart_with_a_state_file() {
    let (_nodes, port1, port2) = demo_nodes();
    let dir = std::env::temp_dir().join(format!("jkd-ops-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("workers.properties");
    std::fs::write(&file, workers(port1, port2, "")).unwrap();
    let users = dir.join("users");
    std::fs::write(&users, MANAGER_USERS).unwrap();
    let state = dir.join("jkd-state.json");
    let args = [
        "--metrics-listen",
        "127.0.0.1:0",
        "--manager-users",
        users.to_str().unwrap(),
        "--state-file",
        state.to_str().unwrap(),
    ];
    let activation_of_node2 = |jkd: &Jkd| {
        let text = metrics(jkd);
        ["ACT", "DIS", "STP"]
            .into_iter()
            .find(|a| {
                metric(
                    &text,
                    &format!(
                        "jkd_member_activation{{worker=\"lb\",member=\"node2\",activation=\"{a}\"}}"
                    ),
                ) == Some(1.0)
            })
            .unwrap_or_else(|| panic!("no activation of node2 in\n{text}"))
    };

    let mut first = start(&file, &args);
    manager_update(first.port, "cmd=update&w=lb&sw=node2&vwa=D");
    wait_for(
        || std::fs::read_to_string(&state).is_ok_and(|t| t.contains("\"DIS\"")),
        "the state file to record node2 disabled",
    );
    first.signal("TERM");
    assert!(first.wait_exit(Duration::from_secs(20)).is_some());

    // A new process: node2 is still drained, so new sessions all go to node1.
    let mut second = start(&file, &args);
    assert_eq!(activation_of_node2(&second), "DIS", "{}", second.log());
    assert!(
        second.wait_log("lb/node2 keeps the values set in the status manager before"),
        "{}",
        second.log()
    );
    let mut client = connect(second.port);
    for i in 0..6 {
        let (status, body) = get(&mut client, &format!("/echo/{i}")).unwrap();
        assert_eq!(status, 200);
        assert!(body.starts_with("node: node1"), "{body}");
    }
    second.signal("TERM");
    assert!(second.wait_exit(Duration::from_secs(20)).is_some());

    // The workers file changes node2 meanwhile: the file wins, node2 is active again.
    std::fs::write(&file, workers(port1, port2, "worker.node2.lbfactor=2\n")).unwrap();
    let third = start(&file, &args);
    assert_eq!(activation_of_node2(&third), "ACT", "{}", third.log());
    assert!(
        third.wait_log("lb/node2 was changed in the workers file since"),
        "{}",
        third.log()
    );
    wait_for(
        || std::fs::read_to_string(&state).is_ok_and(|t| !t.contains("node2")),
        "the state file to forget node2",
    );

    // A file jkd cannot use is set aside, not overwritten by the running state.
    let odd = dir.join("odd-state.json");
    std::fs::write(&odd, "{\"jkd_state_file\": 99}").unwrap();
    let odd_args = [
        "--manager-users",
        users.to_str().unwrap(),
        "--state-file",
        odd.to_str().unwrap(),
    ];
    let fourth = start(&file, &odd_args);
    assert!(
        fourth.wait_log("format 99, this jkd reads 1"),
        "{}",
        fourth.log()
    );
    let aside = dir.join("odd-state.json.refused");
    assert_eq!(
        std::fs::read_to_string(&aside).ok().as_deref(),
        Some("{\"jkd_state_file\": 99}")
    );
    wait_for(
        || std::fs::read_to_string(&odd).is_ok_and(|t| t.contains("\"jkd_state_file\": 1")),
        "a new state file",
    );
    let _ = std::fs::remove_dir_all(&dir);
}
