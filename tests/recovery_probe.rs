//! A member coming back from an error must answer CPing before jkd risks a request on it (mod_jk sends traffic into a JVM that accepts connections but is not serving yet).

mod support;

use std::fs;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use support::jkd;
use support::tomcat;

#[test]
fn a_recovering_member_that_does_not_answer_cping_gets_no_requests() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let b_listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind b");
    let b_port = b_listener.local_addr().expect("addr").port();
    rt.spawn(jkd::demo_node("b", b_listener));
    // a: a port where nothing listens yet.
    let a_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let dir = std::env::temp_dir().join(format!("jkd-probe-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("dir");
    let workers = dir.join("workers.properties");
    fs::write(
        &workers,
        format!(
            "worker.list=lb\nworker.maintain=1\n\
             worker.lb.type=lb\nworker.lb.balance_workers=a,b\nworker.lb.recover_time=1\nworker.lb.mount=/*\n\
             worker.a.host=127.0.0.1\nworker.a.port={a_port}\nworker.a.ping_timeout=300\n\
             worker.b.host=127.0.0.1\nworker.b.port={b_port}\n"
        ),
    )
    .expect("write workers");
    let j = jkd::start(&workers, &[]);
    let get = || {
        tomcat::http_get(
            j.port,
            "/session",
            &[("Cookie", "JSESSIONID=0000.a")],
            Duration::from_secs(5),
        )
    };
    // a refuses connections: the session's request fails over to b.
    let r = get().expect("first request");
    assert!(r.text().starts_with("node=b"), "{}", r.text());
    // Now a accepts connections but never answers (a JVM still starting).
    let _hung = TcpListener::bind(("127.0.0.1", a_port)).expect("rebind a");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut probed = false;
    while Instant::now() < deadline {
        let started = Instant::now();
        let r = get().unwrap_or_else(|e| panic!("request failed: {e}\n{}", j.log()));
        assert!(r.text().starts_with("node=b"), "{}", r.text());
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "a request waited on the hung member"
        );
        if j.log().contains("probe=true") {
            probed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(probed, "member a was never probed:\n{}", j.log());
}
