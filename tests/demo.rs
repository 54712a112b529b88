//! `jkd demo`, the README's first command, end to end: three demo nodes serve, a session stays on its node, the status manager answers.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::jkd;
use support::tomcat::{HttpResponse, http_get};

const TIMEOUT: Duration = Duration::from_secs(10);

fn get(j: &jkd::Jkd, target: &str, cookie: Option<&str>) -> HttpResponse {
    let headers: Vec<(&str, &str)> = cookie.map(|c| ("Cookie", c)).into_iter().collect();
    http_get(j.port, target, &headers, TIMEOUT)
        .unwrap_or_else(|e| panic!("GET {target}: {e}\n{}", j.log()))
}

/// `node=node2 count=3 id=...` from the demo node's `/session` page.
fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {name}= in {text:?}"))
}

#[test]
fn demo_serves_three_nodes_keeps_sessions_and_the_manager() {
    let j = jkd::start_demo(&[]);

    // New sessions are spread over all three nodes (method=Request, equal lbfactor).
    let mut nodes = BTreeSet::new();
    let mut sessions = Vec::new();
    for _ in 0..6 {
        let r = get(&j, "/session", None);
        assert_eq!(r.status, 200, "{}", r.text());
        let text = r.text();
        let node = field(&text, "node").to_string();
        let cookie = r
            .header("Set-Cookie")
            .and_then(|c| c.split(';').next())
            .unwrap_or_else(|| panic!("no session cookie from {node}"))
            .to_string();
        assert!(
            cookie.ends_with(&format!(".{node}")),
            "{cookie} is not routed to {node}"
        );
        nodes.insert(node.clone());
        sessions.push((node, cookie));
    }
    assert_eq!(
        nodes.into_iter().collect::<Vec<_>>(),
        ["node1", "node2", "node3"],
        "the three demo nodes should all serve"
    );

    // Each session stays on its node, and the node counts its requests.
    for (node, cookie) in &sessions {
        for n in 2..=4 {
            let r = get(&j, "/session", Some(cookie));
            let text = r.text();
            assert_eq!(field(&text, "node"), node, "session {cookie} moved");
            assert_eq!(field(&text, "count"), n.to_string(), "{text}");
            assert!(r.header("Set-Cookie").is_none(), "the session was renewed");
        }
    }

    // The HTML front page and the echo page.
    let page = get(&j, "/", None);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Served by node"), "{}", page.text());
    let echo = get(&j, "/echo/x?a=1", None);
    assert!(echo.text().contains("uri: /echo/x"), "{}", echo.text());
    assert!(echo.text().contains("query: a=1"), "{}", echo.text());

    // The status manager: the page, and the balancer's members in the text format.
    let manager = get(&j, "/jkmanager/", None);
    assert_eq!(manager.status, 200, "{}", manager.text());
    assert!(manager.text().contains("balancer"), "{}", manager.text());
    let list = get(&j, "/jkmanager/?mime=prop", None).text();
    for node in ["node1", "node2", "node3"] {
        let key = format!("worker.{node}.activation=ACT");
        assert!(list.contains(&key), "no {key} in:\n{list}");
    }
    let elected: u64 = ["node1", "node2", "node3"]
        .iter()
        .map(|n| {
            list.lines()
                .find_map(|l| l.strip_prefix(&format!("worker.{n}.elected=")))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no elected count for {n} in:\n{list}"))
        })
        .sum();
    // 6 new sessions, 18 sticky requests, the front page and the echo page.
    assert_eq!(elected, 26, "{list}");
}
