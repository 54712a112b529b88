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

/// Polls member `name`'s state until `wanted` says yes, at most 20 s.
fn wait_state(j: &jkd::Jkd, name: &str, wanted: impl Fn(&str) -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let state = j.member_state(name);
        if wanted(&state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {what}, still {state}\n{}",
            j.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// jkd's application health check (`health_check_uri`, from an `--extend` file) on
/// real Tomcats. node2's application answers its check with 503 while its connector
/// answers CPing: it goes to error and stays there past `recover_time` (its next
/// check is 30 s away: recovery waits for a passing check, not for recover_time),
/// and neither new requests nor its own sessions reach it (mod_jk would keep it in
/// rotation).
/// node1 hangs (SIGSTOP): its check times out, it goes to error without a request
/// paying for it, and once it answers again (SIGCONT) a passing check brings it back.
#[test]
fn a_member_whose_application_fails_its_health_check_gets_no_traffic() {
    let node1 = tomcat::start(&tomcat::TomcatOptions::with_route("node1"));
    let node2 = tomcat::start(&tomcat::TomcatOptions::with_route("node2"));
    let dir = std::env::temp_dir().join(format!("jkd-health-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("dir");
    let workers = dir.join("workers.properties");
    fs::write(
        &workers,
        format!(
            "worker.list=lb,jkstatus\nworker.maintain=1\n\
             worker.jkstatus.type=status\nworker.jkstatus.mount=/jkstatus/*\n\
             worker.lb.type=lb\nworker.lb.balance_workers=node1,node2\n\
             worker.lb.recover_time=1\nworker.lb.mount=/*\n\
             worker.node1.host=127.0.0.1\nworker.node1.port={}\n\
             worker.node2.host=127.0.0.1\nworker.node2.port={}\n",
            node1.ajp_port(),
            node2.ajp_port()
        ),
    )
    .expect("write workers");
    // jkd's own keys in their own file: workers.properties stays mod_jk's.
    let extend = dir.join("jkd.properties");
    fs::write(
        &extend,
        "worker.node1.health_check_uri=/echo/health\n\
         worker.node1.health_check_interval=1\nworker.node1.health_check_timeout=500\n\
         worker.node2.health_check_uri=/echo/health?status=503\n\
         worker.node2.health_check_interval=30\n",
    )
    .expect("write extend");
    let j = jkd::start(&workers, &["--extend", extend.to_str().expect("utf-8")]);
    let node_of = |cookie: Option<&str>| {
        let headers: Vec<(&str, &str)> = cookie.map(|c| ("Cookie", c)).into_iter().collect();
        let r = tomcat::http_get(j.port, "/echo/x", &headers, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("GET through jkd: {e}\n{}", j.log()));
        assert_eq!(r.status, 200, "{}\n{}", r.text(), j.log());
        tomcat::Echo::parse(&r.body).field("jvmRoute").to_string()
    };

    wait_state(&j, "node2", |s| s == "ERR", "never in error");
    assert!(
        j.wait_log("health check GET /echo/health?status=503 failed (answered 503)"),
        "{}",
        j.log()
    );
    // Past recover_time (1 s) and several maintenance runs, it is still in error:
    // waiting is the point here.
    std::thread::sleep(Duration::from_millis(3_000));
    assert_eq!(j.member_state("node2"), "ERR", "{}", j.log());
    for _ in 0..10 {
        assert_eq!(node_of(None), "node1");
    }
    assert_eq!(node_of(Some("JSESSIONID=abc.node2")), "node1");

    // node1 hangs: its check fails by timeout, with no request sent into it.
    node1.stop_signal();
    wait_state(&j, "node1", |s| s == "ERR", "never in error while hung");
    assert!(
        j.wait_log("health check GET /echo/health failed (no answer within 500 ms)"),
        "{}",
        j.log()
    );
    node1.cont_signal();
    wait_state(
        &j,
        "node1",
        |s| s != "ERR",
        "not brought back by a passing check",
    );
    assert_eq!(node_of(Some("JSESSIONID=abc.node1")), "node1");
    // While both were in error, maintenance forced them back (mod_jk's forced
    // recovery); node2, whose check still fails, returns to error once node1 serves.
    wait_state(&j, "node2", |s| s == "ERR", "not back in error");
    for _ in 0..10 {
        assert_eq!(node_of(Some("JSESSIONID=abc.node2")), "node1");
    }
    let _ = fs::remove_dir_all(&dir);
}
