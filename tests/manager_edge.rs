//! The status manager's edge end to end through `jkd run`: a dot segment hidden behind `;` never reaches a status worker while the same trick keeps mod_jk's mapping elsewhere, the page's links point at the mount, and every answer says `nosniff`.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::jkd;

/// Sends one HTTP/1.1 request with the target exactly as given (no client tidies it)
/// and returns the status, the head and the body.
fn raw_get(port: u16, target: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: jk.example\r\nConnection: close\r\n\r\n"
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

#[test]
fn hidden_dot_segments_stop_at_the_manager_and_its_links_stay_home() {
    let dir = std::env::temp_dir().join(format!("jkd-manager-edge-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("dir");
    let workers = dir.join("workers.properties");
    // The backend port is closed: forwarded requests fail with 503, which tells
    // "mapped to the balancer" apart from "not mapped" (404).
    fs::write(
        &workers,
        "worker.list=lb,jkstatus\n\
         worker.lb.type=lb\nworker.lb.balance_workers=n1\nworker.lb.mount=/app/* /static/*\n\
         worker.n1.host=127.0.0.1\nworker.n1.port=1\n\
         worker.jkstatus.type=status\nworker.jkstatus.mount=/jkmanager /jkmanager/*\n",
    )
    .expect("write");
    let j = jkd::start(&workers, &[]);

    let (status, head, body) = raw_get(j.port, "/jkmanager/");
    assert_eq!(status, 200, "{head}");
    assert!(body.contains("JK Status Manager"));
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");

    // mod_jk 1.2.48 serves the manager for these; jkd answers 404.
    for hidden in [
        "/app/..;/jkmanager/",
        "/app/..;x/jkmanager/?cmd=list",
        "/app/%2e%2e;/jkmanager/",
        "/jkmanager/.;x/",
        "//evil.example/..;/jkmanager/?cmd=list&re=1",
    ] {
        let (status, head, body) = raw_get(j.port, hidden);
        assert_eq!(status, 404, "{hidden}: {head}\n{body}");
        assert!(!body.contains("JK Status Manager"), "{hidden}");
    }
    // The same trick towards a balancer keeps mod_jk's mapping (forwarded: 503).
    let (status, head, _) = raw_get(j.port, "/static/..;/app/x");
    assert_ne!(status, 404, "{head}");

    // A request-target that starts with `//` reaches the manager, but its links do not
    // leave for another host.
    let (status, head, body) = raw_get(j.port, "//evil.example/../jkmanager/?cmd=list&re=1");
    assert_eq!(status, 200, "{head}");
    assert!(!body.contains("evil.example"), "{body}");
    assert!(body.contains("content=\"1;url=/jkmanager/?cmd=list&amp;re=1\""));
    assert!(body.contains("data-poll=\"/jkmanager/?cmd=list&amp;mime=json\""));

    // Errors say nosniff too.
    let (status, head, _) = raw_get(j.port, "/jkmanager/?mime=xml&cmd=nonsense");
    assert_eq!(status, 200);
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    let log = j.log();
    assert!(
        log.contains("a dot segment hidden behind ';' does not reach a status worker"),
        "{log}"
    );
}
