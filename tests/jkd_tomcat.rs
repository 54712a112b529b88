//! End to end: `jkd run` in front of real Tomcat 10 nodes, over real HTTP.

mod support;

use std::fs;
use std::time::Duration;

use support::jkd;
use support::tomcat::{self, Echo, TomcatOptions};

const TIMEOUT: Duration = Duration::from_secs(30);

fn workers_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("jkd-e2e-{}-{name}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("workers.properties");
    fs::write(&path, text).expect("write workers");
    path
}

#[test]
fn balances_sticks_and_forwards_like_mod_jk() {
    let n1 = tomcat::start(&TomcatOptions::with_route("node1"));
    let n2 = tomcat::start(&TomcatOptions::with_route("node2"));
    let workers = workers_file(
        "lb",
        &format!(
            "worker.list=lb\n\
             worker.lb.type=lb\nworker.lb.balance_workers=node1,node2\nworker.lb.mount=/*\n\
             worker.node1.host=127.0.0.1\nworker.node1.port={}\nworker.node1.lbfactor=1\n\
             worker.node2.host=127.0.0.1\nworker.node2.port={}\nworker.node2.lbfactor=3\n",
            n1.ajp_port(),
            n2.ajp_port()
        ),
    );
    let j = jkd::start(&workers, &[]);

    // The echo servlet sees what mod_jk would send.
    let r = tomcat::http_get(j.port, "/echo/a%20b?x=1&y=%2F", &[("X-Test", "v")], TIMEOUT)
        .unwrap_or_else(|e| panic!("request failed: {e}\n{}", j.log()));
    assert_eq!(r.status, 200, "{}\n{}", r.text(), j.log());
    let echo = Echo::parse(&r.body);
    assert_eq!(echo.field("method"), "GET");
    assert_eq!(echo.field("requestURI"), "/echo/a%20b");
    assert_eq!(echo.field("queryString"), "x=1&y=%2F");
    assert_eq!(echo.header("x-test").as_deref(), Some("v"));
    assert_eq!(echo.field("remoteAddr"), "127.0.0.1");

    // Requests without a session split 1:3, exactly, with method Request.
    let mut counts = [0; 2];
    for _ in 0..40 {
        let r = tomcat::http_get(j.port, "/echo/split", &[], TIMEOUT).expect("request");
        let route = Echo::parse(&r.body).field("jvmRoute");
        match route.as_str() {
            "node1" => counts[0] += 1,
            "node2" => counts[1] += 1,
            other => panic!("unexpected route {other:?}"),
        }
    }
    assert_eq!(counts, [10, 30]);

    // A session sticks to the node that created it.
    let first = tomcat::http_get(j.port, "/session", &[], TIMEOUT).expect("session");
    let cookie = first
        .headers_named("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("JSESSIONID="))
        .map(|c| c.split(';').next().unwrap_or("").to_string())
        .expect("a session cookie");
    let node = first
        .text()
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    for n in 2..=5 {
        let r =
            tomcat::http_get(j.port, "/session", &[("Cookie", &cookie)], TIMEOUT).expect("session");
        let text = r.text();
        assert!(text.starts_with(&node), "{text} did not stay on {node}");
        assert!(text.contains(&format!("count={n}")), "{text}");
    }
    // And by the ;jsessionid= path parameter.
    let id = cookie.trim_start_matches("JSESSIONID=");
    let r = tomcat::http_get(j.port, &format!("/session;jsessionid={id}"), &[], TIMEOUT)
        .expect("session");
    assert!(r.text().starts_with(&node), "{}", r.text());

    // A POST body arrives whole (Content-Length, several AJP packets).
    let body = tomcat::pattern_body(200_000);
    let req = format!(
        "POST /echo/post HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut raw = req.into_bytes();
    raw.extend_from_slice(&body);
    let r = tomcat::http_request(j.port, &raw, TIMEOUT).expect("post");
    let echo = Echo::parse(&r.body);
    assert_eq!(echo.body_length(), body.len() as u64);
    assert_eq!(echo.body_sha256(), tomcat::sha256_hex(&body));

    // A large response comes back whole.
    let r = tomcat::http_get(j.port, "/echo/big?size=1000000", &[], TIMEOUT).expect("big");
    assert_eq!(r.body.len(), 1_000_000);
    assert_eq!(tomcat::pattern_mismatch(&r.body, 0), None);
    drop(n1);
    drop(n2);
}

/// What one front end answered: the node (the echo servlet's jvmRoute) and the
/// `Set-Cookie` values it added.
fn routed(port: u16, cookie: Option<&str>) -> (String, Vec<String>) {
    let headers: Vec<(&str, &str)> = cookie.map(|c| ("Cookie", c)).into_iter().collect();
    let r = tomcat::http_get(port, "/echo/pinned", &headers, TIMEOUT).expect("request");
    assert_eq!(r.status, 200, "{}", r.text());
    let node = Echo::parse(&r.body).field("jvmRoute").to_string();
    let cookies = r
        .headers_named("set-cookie")
        .into_iter()
        .map(str::to_string)
        .collect();
    (node, cookies)
}

/// An application whose session cookie carries no jvmRoute (Spring Session's
/// `SESSION`, users.md 2.6) stays sticky through a cookie the balancer owns:
/// `session_cookie=ROUTEID` with `set_session_cookie=true`. The first answer pins the
/// client to its node, the pin holds, and when that node dies the request fails over
/// and the answer re-pins the client to the new node. jkd and httpd + mod_jk 1.2.48
/// answer the same, Set-Cookie included.
#[test]
fn a_balancer_owned_route_cookie_pins_and_re_pins_on_failover_as_mod_jk() {
    let mut n1 = tomcat::start(&TomcatOptions::with_route("node1"));
    let n2 = tomcat::start(&TomcatOptions::with_route("node2"));
    let workers = workers_file(
        "route-cookie",
        &format!(
            "worker.list=lb\n\
             worker.lb.type=lb\nworker.lb.balance_workers=node1,node2\nworker.lb.mount=/*\n\
             worker.lb.session_cookie=ROUTEID\nworker.lb.set_session_cookie=true\n\
             worker.node1.host=127.0.0.1\nworker.node1.port={}\n\
             worker.node2.host=127.0.0.1\nworker.node2.port={}\n",
            n1.ajp_port(),
            n2.ajp_port()
        ),
    );
    let j = jkd::start(&workers, &[]);
    let m = support::modjk::start(&workers, &[], &[])
        .unwrap_or_else(|e| panic!("mod_jk refused the workers file: {e:?}"));
    let fronts = [("jkd", j.port), ("mod_jk", m.port())];
    let pin = |node: &str| format!("ROUTEID=.{node};PATH=/;HttpOnly");

    let mut seen = Vec::new();
    for (name, port) in fronts {
        // No cookie: the answer pins the client to the node that served it.
        let (node, cookies) = routed(port, None);
        assert_eq!(cookies, [pin(&node)], "{name}");
        // Pinned to node1: it stays there, and nothing is set again.
        for _ in 0..5 {
            assert_eq!(
                routed(port, Some("ROUTEID=.node1")),
                ("node1".to_string(), vec![]),
                "{name}"
            );
        }
        seen.push((name, node));
    }
    eprintln!("first answers: {seen:?}");

    n1.kill();
    for (name, port) in fronts {
        // Its node is gone: the request fails over, and the answer re-pins.
        assert_eq!(
            routed(port, Some("ROUTEID=.node1")),
            ("node2".to_string(), vec![pin("node2")]),
            "{name}: {}",
            j.log()
        );
        assert_eq!(
            routed(port, Some("ROUTEID=.node2")),
            ("node2".to_string(), vec![]),
            "{name}"
        );
    }
    drop(n2);
}

/// A Tomcat whose jvmRoute is not its member's route (or that has none) makes
/// sessions that can never stick: mod_jk says nothing, jkd names the member and
/// what to change, once, and counts each such session.
#[test]
fn a_tomcat_whose_jvm_route_does_not_match_its_member_is_named() {
    let renamed = tomcat::start(&TomcatOptions::with_route("tomcatA"));
    let unrouted = tomcat::start(&TomcatOptions::default());
    let workers = workers_file(
        "routes",
        &format!(
            "worker.list=lb\n\
             worker.lb.type=lb\nworker.lb.balance_workers=node1,node2\nworker.lb.mount=/*\n\
             worker.node1.host=127.0.0.1\nworker.node1.port={}\n\
             worker.node2.host=127.0.0.1\nworker.node2.port={}\n",
            renamed.ajp_port(),
            unrouted.ajp_port()
        ),
    );
    let j = jkd::start(&workers, &["--metrics-listen", "127.0.0.1:0"]);
    // New sessions alternate between the two members.
    for _ in 0..4 {
        let r = tomcat::http_get(j.port, "/session", &[], TIMEOUT)
            .unwrap_or_else(|e| panic!("request failed: {e}\n{}", j.log()));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert!(
        j.wait_log(
            "member node1 set a JSESSIONID cookie for route 'tomcatA', but its route is 'node1'"
        ),
        "{}",
        j.log()
    );
    assert!(
        j.wait_log("member node2 set a JSESSIONID cookie without a route"),
        "{}",
        j.log()
    );
    assert_eq!(
        j.log().matches("set a JSESSIONID cookie").count(),
        2,
        "said once per member:\n{}",
        j.log()
    );
    let metrics = tomcat::http_get(j.metrics_port.expect("metrics"), "/metrics", &[], TIMEOUT)
        .expect("GET /metrics")
        .text();
    for member in ["node1", "node2"] {
        let series =
            format!("jkd_session_route_mismatches_total{{worker=\"lb\",member=\"{member}\"}} 2");
        assert!(metrics.contains(&series), "{series}\n{metrics}");
    }
}
