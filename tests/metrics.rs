//! Prometheus metrics end to end: counters equal the requests sent, and `promtool check metrics` accepts the output.

mod support;

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::jkd;
use support::tomcat;

const TIMEOUT: Duration = Duration::from_secs(10);

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).map(str::trim))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
}

#[test]
fn counters_match_the_requests_and_promtool_accepts_them() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut ports = Vec::new();
    for route in ["a", "b"] {
        let l = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        ports.push(l.local_addr().expect("addr").port());
        rt.spawn(jkd::demo_node(route, l));
    }
    let dir = std::env::temp_dir().join(format!("jkd-metrics-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("dir");
    let workers = dir.join("workers.properties");
    fs::write(
        &workers,
        format!(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\nworker.lb.mount=/*\n\
             worker.a.host=127.0.0.1\nworker.a.port={}\nworker.b.host=127.0.0.1\nworker.b.port={}\n",
            ports[0], ports[1]
        ),
    )
    .expect("write");
    let j = jkd::start(&workers, &["--metrics-listen", "127.0.0.1:0"]);
    let metrics_port = j.metrics_port.expect("metrics port");
    let sent = 25;
    for _ in 0..sent {
        let r = tomcat::http_get(j.port, "/echo/x", &[], TIMEOUT).expect("request");
        assert_eq!(r.status, 200);
    }
    for _ in 0..3 {
        let r = tomcat::http_get(j.port, "/session", &[("Cookie", "JSESSIONID=1.b")], TIMEOUT)
            .expect("sticky request");
        assert_eq!(r.status, 200);
    }
    let text = tomcat::http_get(metrics_port, "/metrics", &[], TIMEOUT)
        .expect("scrape")
        .text();
    let a = value(&text, "jkd_requests_total{worker=\"lb\",member=\"a\"}");
    let b = value(&text, "jkd_requests_total{worker=\"lb\",member=\"b\"}");
    assert_eq!(a + b, f64::from(sent + 3), "{text}");
    assert_eq!(
        value(
            &text,
            "jkd_sticky_requests_total{worker=\"lb\",result=\"hit\"}"
        ),
        3.0
    );
    assert_eq!(
        value(&text, "jkd_request_duration_seconds_count{worker=\"lb\"}"),
        f64::from(sent + 3)
    );
    assert!(
        value(
            &text,
            "jkd_backend_received_bytes_total{worker=\"lb\",member=\"a\"}"
        ) > 0.0
    );
    // Durations per member: each answer counts under the member that gave it.
    let timed_a = value(
        &text,
        "jkd_member_request_duration_seconds_count{worker=\"lb\",member=\"a\"}",
    );
    let timed_b = value(
        &text,
        "jkd_member_request_duration_seconds_count{worker=\"lb\",member=\"b\"}",
    );
    assert_eq!((timed_a, timed_b), (a, b), "{text}");
    // Responses by status code, under the member that answered.
    let ok_a = value(
        &text,
        "jkd_responses_total{worker=\"lb\",member=\"a\",code=\"200\"}",
    );
    let ok_b = value(
        &text,
        "jkd_responses_total{worker=\"lb\",member=\"b\",code=\"200\"}",
    );
    assert_eq!(ok_a + ok_b, f64::from(sent + 3), "{text}");
    // The balancer's total is a metric of its own, the members' sum is not doubled.
    assert_eq!(
        value(&text, "jkd_balancer_busy{worker=\"lb\"}"),
        0.0,
        "{text}"
    );
    assert!(
        !text.contains("jkd_busy{worker=\"lb\",member=\"\"}"),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            &format!(
                "jkd_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    // Process metrics under their usual names.
    assert!(
        value(&text, "process_resident_memory_bytes") > 0.0,
        "{text}"
    );
    assert!(value(&text, "process_open_fds") > 0.0, "{text}");
    assert!(value(&text, "process_start_time_seconds") > 0.0, "{text}");

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is missing: apt-get install prometheus");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = promtool.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool rejects the metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
