//! Tests of the status worker on a small runtime built from workers.properties text.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::balancer::{MemberState, Outcome, Report, RequestOptions, Step};
use crate::config::values::Activation;

const WORKERS: &str = "\
worker.list=lb,solo,jkstatus
worker.maintain=60
worker.lb.type=lb
worker.lb.balance_workers=n1,n2
worker.lb.mount=/app/*
worker.n1.host=127.0.0.1
worker.n1.port=18009
worker.n1.lbfactor=2
worker.n2.host=localhost
worker.n2.port=18010
worker.n2.route=node2.dc1
worker.n2.activation=D
worker.solo.host=::1
worker.solo.port=18011
worker.solo.secret=hush
worker.solo.mount=/solo/*
worker.jkstatus.type=status
";

fn runtime_with(extra: &str) -> Arc<Runtime> {
    let text = format!("{WORKERS}{extra}");
    let loaded = crate::config::from_workers_bytes("t", text.as_bytes(), &|_| None);
    let config = loaded
        .config
        .unwrap_or_else(|| panic!("bad test config: {:?}", loaded.diagnostics));
    Runtime::new(config, Instant::now())
}

fn runtime() -> Arc<Runtime> {
    runtime_with("")
}

fn addresses() -> Addresses {
    let mut a = Addresses::default();
    a.insert("localhost", Some(IpAddr::from([127, 0, 0, 1])));
    a
}

struct Call<'a> {
    query: &'a str,
    user: Option<&'a str>,
}

fn get_as(rt: &Runtime, call: Call<'_>) -> Reply {
    let request = Request {
        query: Some(call.query),
        path: "/jkstatus",
        server_name: "example.org",
        server_port: 8080,
        client: "192.0.2.1",
        remote_user: call.user,
        // mod_jk's model: writable unless the configuration says read_only.
        access: Access {
            writable: true,
            ..Access::default()
        },
    };
    render(rt, "jkstatus", &request, Clock::read(), &addresses())
}

fn get(rt: &Runtime, query: &str) -> Reply {
    get_as(rt, Call { query, user: None })
}

fn lb(rt: &Runtime) -> &crate::runtime::LbWorker {
    match rt.targets.get("lb") {
        Some(Target::Lb(lb)) => lb,
        _ => panic!("no lb"),
    }
}

/// The keys of a prop listing, in order.
fn keys(prop: &str) -> Vec<&str> {
    prop.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k)
        .collect()
}

fn value<'a>(prop: &'a str, key: &str) -> Option<&'a str> {
    prop.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

#[test]
fn prop_lists_workers_in_mod_jks_order() {
    let rt = runtime();
    let reply = get(&rt, "mime=prop");
    assert_eq!(reply.content_type, "text/plain");
    let body = &reply.body;
    let k = keys(body);
    let expected_start = [
        "worker.server_name",
        "worker.server_port",
        "worker.time_datetime",
        "worker.time_tz",
        "worker.time_unix",
        "worker.web_server",
        "worker.jk_version",
        "worker.lb_count",
        "worker.list",
        "worker.lb.type",
        "worker.lb.sticky_session",
        "worker.lb.sticky_session_force",
        "worker.lb.retries",
        "worker.lb.recover_time",
        "worker.lb.error_escalation_time",
        "worker.lb.max_reply_timeouts",
        "worker.lb.method",
        "worker.lb.lock",
        "worker.lb.member_count",
        "worker.lb.good",
        "worker.lb.degraded",
        "worker.lb.bad",
        "worker.lb.busy",
        "worker.lb.max_busy",
        "worker.lb.map_count",
        "worker.lb.time_to_maintenance_min",
        "worker.lb.time_to_maintenance_max",
        "worker.lb.last_reset_at",
        "worker.lb.last_reset_ago",
        "worker.lb.balance_workers",
        "worker.n1.type",
        "worker.n1.host",
        "worker.n1.port",
        "worker.n1.address",
        "worker.n1.source",
        "worker.n1.connection_pool_timeout",
        "worker.n1.ping_timeout",
        "worker.n1.connect_timeout",
        "worker.n1.prepost_timeout",
        "worker.n1.reply_timeout",
        "worker.n1.retries",
        "worker.n1.connection_ping_interval",
        "worker.n1.recovery_options",
        "worker.n1.busy_limit",
        "worker.n1.max_packet_size",
        "worker.n1.activation",
        "worker.n1.lbfactor",
        "worker.n1.route",
        "worker.n1.redirect",
        "worker.n1.domain",
        "worker.n1.distance",
        "worker.n1.state",
        "worker.n1.lbmult",
        "worker.n1.lbvalue",
        "worker.n1.elected",
        "worker.n1.sessions",
        "worker.n1.errors",
        "worker.n1.client_errors",
        "worker.n1.reply_timeouts",
        "worker.n1.transferred",
        "worker.n1.read",
        "worker.n1.busy",
        "worker.n1.max_busy",
        "worker.n1.connected",
        "worker.n1.max_connected",
        "worker.n1.time_to_recover_min",
        "worker.n1.time_to_recover_max",
        "worker.lb.last_reset_at",
        "worker.lb.last_reset_ago",
        "worker.lb.balance_workers",
    ];
    assert_eq!(&k[..expected_start.len()], expected_start);
    assert_eq!(value(body, "worker.server_name"), Some("example.org"));
    assert_eq!(value(body, "worker.server_port"), Some("8080"));
    assert_eq!(
        value(body, "worker.web_server"),
        Some(web_server().as_str())
    );
    assert!(value(body, "worker.jk_version").is_some_and(|v| v.starts_with("mod_jk/1.2.48+jkd-")));
    assert_eq!(value(body, "worker.lb.type"), Some("lb"));
    assert_eq!(value(body, "worker.lb.sticky_session"), Some("True"));
    assert_eq!(value(body, "worker.lb.good"), Some("1"));
    assert_eq!(value(body, "worker.lb.degraded"), Some("1"));
    assert_eq!(value(body, "worker.n1.address"), Some("127.0.0.1:18009"));
    assert_eq!(value(body, "worker.n1.lbmult"), Some("1"));
    assert_eq!(value(body, "worker.n2.lbmult"), Some("2"));
    assert_eq!(value(body, "worker.n2.activation"), Some("DIS"));
    assert_eq!(value(body, "worker.n2.domain"), Some("node2"));
    assert_eq!(value(body, "worker.n2.state"), Some("OK/IDLE"));
    assert_eq!(value(body, "worker.lb.map.1.uri"), Some("/app/*"));
    assert_eq!(value(body, "worker.lb.map.1.server"), Some("example.org"));
    assert_eq!(
        value(body, "worker.lb.map.1.source"),
        Some("worker definition")
    );
    assert_eq!(value(body, "worker.ajp_count"), Some("1"));
    // A plain worker's list line is keyed by the worker itself.
    assert_eq!(value(body, "worker.solo.list"), Some("solo"));
    assert_eq!(value(body, "worker.solo.address"), Some("::1:18011"));
    assert_eq!(value(body, "worker.solo.map_count"), Some("1"));
    assert_eq!(value(body, "worker.solo.map.1.fail_on_status"), Some(""));
    assert_eq!(value(body, "worker.solo.map.1.reply_timeout"), Some("-1"));
    assert!(!body.contains("jkstatus"), "status workers are not listed");
    assert!(body.ends_with("worker.result.type=OK\nworker.result.message=Action finished\n"));
}

#[test]
fn txt_lines() {
    let rt = runtime();
    let body = get(&rt, "mime=txt").body;
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "Server: name=example.org port=8080");
    assert!(lines[1].starts_with("Time: datetime="));
    assert!(lines[2].starts_with("Software: web_server=\"jkd/"));
    assert_eq!(lines[3], "Balancer Workers: count=1");
    assert!(lines[4].starts_with(
        "Balancer Worker: name=lb type=lb sticky_session=True sticky_session_force=False \
         retries=2 recover_time=60 error_escalation_time=30 max_reply_timeouts=0 \
         method=Request lock=Optimistic member_count=2 good=1 degraded=1 bad=0 busy=0 \
         max_busy=0 map_count=1 time_to_maintenance_min="
    ));
    assert!(lines[5].starts_with(
        "Member: name=n1 type=ajp13 host=127.0.0.1 port=18009 address=127.0.0.1:18009 \
         source=undefined connection_pool_timeout=0 ping_timeout=10000 connect_timeout=0 \
         prepost_timeout=0 reply_timeout=0 retries=2 connection_ping_interval=0 \
         recovery_options=0 busy_limit=0 max_packet_size=8192 activation=ACT lbfactor=2 \
         route=\"n1\" redirect=\"\" domain=\"\" distance=0 state=OK/IDLE lbmult=1 lbvalue=0 \
         elected=0 sessions=0 errors=0 client_errors=0 reply_timeouts=0 transferred=0 read=0 \
         busy=0 max_busy=0 connected=0 max_connected=0 time_to_recover_min=0 \
         time_to_recover_max=0 last_reset_at="
    ));
    assert!(lines[6].starts_with("Member: name=n2 "));
    assert_eq!(
        lines[7],
        "Map: id=1 server=\"example.org\" uri=\"/app/*\" type=\"Wildchar\" source=\"worker \
         definition\" reply_timeout=\"-1\" sticky_ignore=\"0\" stateless=\"0\" \
         fail_on_status=\"\" active=\"\" disabled=\"\" stopped=\"\" use_server_errors=\"0\""
    );
    assert_eq!(lines[8], "AJP Workers: count=1");
    assert!(lines[9].starts_with("AJP Worker: name=solo type=ajp13 host=::1 port=18011"));
    assert!(lines[9].contains(" used=0 errors=0 client_errors=0 "));
    assert!(lines[9].contains(" max_connected=0 map_count=1 last_reset_at="));
    assert!(lines[10].starts_with("Map: id=1 "));
    assert_eq!(
        lines.last().copied(),
        Some("Result: type=OK message=\"Action finished\"")
    );
}

#[test]
fn xml_layout() {
    let rt = runtime();
    let reply = get(&rt, "mime=xml&cmd=show&w=lb&sw=n2");
    assert_eq!(reply.content_type, "text/xml");
    let body = reply.body;
    assert!(body.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<jk:status\n  \
         xmlns:jk=\"http://tomcat.apache.org\">\n<jk:server\n  name=\"example.org\"\n  \
         port=\"8080\"\n/>\n<jk:time\n  datetime=\""
    ));
    assert!(body.contains("/>\n<jk:software\n  web_server=\"jkd/"));
    // show prints the balancer without the balancers wrapper, and only that member.
    assert!(!body.contains("<jk:balancers"));
    assert!(body.contains("\n  <jk:balancer\n    name=\"lb\"\n    type=\"lb\"\n"));
    assert!(
        body.contains("    last_reset_ago=\"0\"\n  >\n      <jk:member\n        name=\"n2\"\n")
    );
    assert!(!body.contains("name=\"n1\""));
    assert!(body.contains(
        "        reply_timeout=\"0\"\n        connection_ping_interval=\"0\"\n        retries=\"2\"\n"
    ));
    assert!(body.contains("      <jk:map\n        id=\"1\"\n        server=\"example.org\"\n"));
    assert!(body.ends_with(
        "  </jk:balancer>\n  <jk:result\n    type=\"OK\"\n    message=\"Action finished\"\n  \
         />\n</jk:status>\n"
    ));
}

#[test]
fn xml_list_wraps_sections_and_puts_maps_after_ajp_workers() {
    let rt = runtime();
    let body = get(&rt, "mime=xml").body;
    assert!(body.contains("<jk:balancers\n  count=\"1\"\n>\n  <jk:balancer\n"));
    assert!(body.contains("  </jk:balancer>\n</jk:balancers>\n<jk:ajp_workers\n  count=\"1\"\n>\n  <jk:ajp\n    name=\"solo\"\n"));
    // The map follows the self-closed ajp element (its last attribute's value is the
    // seconds since the process started, so only its shape is checked).
    let ajp = body.find("<jk:ajp\n").expect("ajp element");
    let ago = ajp
        + body[ajp..]
            .find("    last_reset_ago=\"")
            .expect("last_reset_ago");
    let rest = &body[ago + "    last_reset_ago=\"".len()..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    assert!(digits > 0, "{body}");
    assert!(
        rest[digits..].starts_with("\"\n  />\n      <jk:map\n"),
        "{body}"
    );
    assert!(body.contains("  />\n</jk:ajp_workers>\n  <jk:result\n"));
}

#[test]
fn namespace_prefix_and_doctype_settings() {
    let rt = runtime_with(
        "worker.jkstatus.ns=-\nworker.jkstatus.xmlns=-\nworker.jkstatus.doctype=<!DOCTYPE x>\nworker.jkstatus.prefix=st\n",
    );
    let xml = get(&rt, "mime=xml&cmd=version").body;
    assert!(xml.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<!DOCTYPE x>\n<status\n>\n<server\n"
    ));
    assert!(xml.ends_with("</status>\n"));
    let prop = get(&rt, "mime=prop&cmd=version").body;
    assert!(prop.starts_with("st.server_name=example.org\n"));
    assert!(prop.ends_with("st.result.type=OK\nst.result.message=Action finished\n"));
}

#[test]
fn json_carries_the_xml_content() {
    let rt = runtime();
    let reply = get(&rt, "mime=json");
    assert_eq!(reply.content_type, "application/json");
    let body = reply.body;
    assert!(body.starts_with("{\"server\":{\"name\":\"example.org\",\"port\":8080},\"time\":{"));
    assert!(body.contains("\"balancers\":{\"count\":1,\"balancer\":[{\"name\":\"lb\",\"type\":\"lb\",\"sticky_session\":true,"));
    assert!(body.contains(
        "\"member\":[{\"name\":\"n1\",\"type\":\"ajp13\",\"host\":\"127.0.0.1\",\"port\":18009,"
    ));
    assert!(body.contains("\"route\":\"node2.dc1\""));
    assert!(body.contains("\"ajp_workers\":{\"count\":1,\"ajp\":[{\"name\":\"solo\""));
    assert!(body.contains("\"map\":[{\"id\":1,\"server\":\"example.org\",\"uri\":\"/solo/*\""));
    assert!(body.ends_with("\"result\":{\"type\":\"OK\",\"message\":\"Action finished\"}}\n"));
    // One well-formed JSON document with the members in the order written.
    let parsed: serde_json::Value = serde_json::from_str(&body).expect("valid JSON");
    assert_eq!(
        parsed["balancers"]["balancer"][0]["member"][0]["name"],
        "n1"
    );
    assert_eq!(parsed["result"]["type"], "OK");
}

#[test]
fn errors_answer_with_mod_jks_messages() {
    let rt = runtime();
    let cases = [
        ("cmd=bogus&mime=txt", "Invalid command."),
        ("cmd=show&mime=txt", "NULL or EMPTY worker param"),
        ("cmd=show&w=&mime=txt", "NULL or EMPTY worker param"),
        ("cmd=show&w=lb&sw=&mime=txt", "EMPTY sub worker param"),
        ("cmd=show&w=nope&mime=txt", "Could not find given worker"),
        (
            "cmd=show&w=solo&sw=x&mime=txt",
            "worker type has no sub workers",
        ),
        ("cmd=show&w=lb&sw=x&mime=txt", "could not find sub worker"),
        (
            "cmd=show&w=lb&sw=n*&mime=txt",
            "wildcard not allowed in sub worker for this command",
        ),
        (
            "cmd=recover&w=lb&mime=txt",
            "Marking worker for recovery failed",
        ),
        (
            "cmd=recover&w=lb&sw=n1&mime=txt",
            "Marking worker for recovery failed",
        ),
        ("cmd=update&w=jkstatus&mime=txt", "Update failed"),
        ("cmd=reset&w=jkstatus&mime=txt", "Reset failed"),
        ("cmd=list&mime=txt&x=%zz", "Error during parsing of URI"),
    ];
    for (query, message) in cases {
        let body = get(&rt, query).body;
        assert_eq!(
            body,
            format!("Result: type=ERROR message=\"{message}\"\n"),
            "{query}"
        );
    }
    let unknown = get(&rt, "mime=yaml");
    assert_eq!(unknown.content_type, "text/plain");
    assert_eq!(
        unknown.body,
        "worker.result.type=ERROR\nworker.result.message=Invalid mime type.\n"
    );
    // The command is checked before the format.
    assert!(
        get(&rt, "cmd=x&mime=yaml")
            .body
            .contains("Invalid command.")
    );
}

#[test]
fn version_and_show_of_a_status_worker_print_the_head_only() {
    let rt = runtime();
    for query in ["cmd=version&mime=prop", "cmd=show&w=jkstatus&mime=prop"] {
        let body = get(&rt, query).body;
        assert_eq!(
            keys(&body),
            [
                "worker.server_name",
                "worker.server_port",
                "worker.time_datetime",
                "worker.time_tz",
                "worker.time_unix",
                "worker.web_server",
                "worker.jk_version",
                "worker.result.type",
                "worker.result.message"
            ],
            "{query}"
        );
    }
    // edit in a machine format: only the server and the result.
    let body = get(&rt, "cmd=edit&w=lb&mime=prop").body;
    assert_eq!(
        keys(&body),
        [
            "worker.server_name",
            "worker.server_port",
            "worker.result.type",
            "worker.result.message"
        ]
    );
}

#[test]
fn options_hide_parts() {
    let rt = runtime();
    let body = get(&rt, "mime=prop&opt=3").body;
    assert!(!body.contains("balance_workers"), "members hidden");
    assert!(!body.contains(".map."), "maps hidden");
    assert_eq!(value(&body, "worker.lb.map_count"), Some("1"));
    let body = get(&rt, "mime=txt&opt=8").body;
    assert!(!body.contains("Balancer"));
    assert!(body.contains("AJP Workers: count=1"));
    let body = get(&rt, "mime=txt&opt=16").body;
    assert!(!body.contains("AJP"));
}

#[test]
fn dump_prints_the_configuration_without_secrets() {
    let rt = runtime();
    let prop = get(&rt, "cmd=dump&mime=prop").body;
    assert!(prop.contains("\nworker.list=lb,solo,jkstatus\n"));
    assert!(prop.contains("\nworker.n1.lbfactor=2\n"));
    assert!(!prop.contains("hush"));
    let xml = get(&rt, "cmd=dump&mime=xml").body;
    assert!(xml.contains("/>\n  <jk:configuration\n    worker.list=\"lb,solo,jkstatus\"\n"));
    let txt = get(&rt, "cmd=dump&mime=txt").body;
    assert!(txt.contains("\nConfiguration:\nworker.list=lb,solo,jkstatus\n"));
}

#[test]
fn update_changes_members_and_recomputes_multipliers() {
    let rt = runtime();
    let reply = get(
        &rt,
        "cmd=update&mime=txt&w=lb&sw=n2&vwa=A&vwf=4&vwn=n2.east&vwr=n1&vwd=1",
    );
    assert_eq!(reply.body, "Result: type=OK message=\"Action finished\"\n");
    let m = lb(&rt).snapshot();
    assert_eq!(m[1].activation, Activation::Active);
    assert_eq!((m[1].lbfactor, m[0].lb_mult, m[1].lb_mult), (4, 2, 1));
    assert_eq!(m[1].route, "n2.east");
    assert_eq!(m[1].domain, "node2", "a domain already set stays");
    assert_eq!((m[1].redirect.as_str(), m[1].distance), ("n1", 1));
    // Out of range values are ignored silently.
    get(&rt, "cmd=update&mime=txt&w=lb&sw=n2&vwf=0&vwd=-1");
    let m = lb(&rt).snapshot();
    assert_eq!((m[1].lbfactor, m[1].distance), (4, 1));
    // An unknown activation letter means Active, as in mod_jk.
    get(&rt, "cmd=update&mime=txt&w=lb&sw=n1&vwa=D");
    assert_eq!(lb(&rt).snapshot()[0].activation, Activation::Disabled);
    get(&rt, "cmd=update&mime=txt&w=lb&sw=n1&vwa=x");
    assert_eq!(lb(&rt).snapshot()[0].activation, Activation::Active);
}

#[test]
fn a_new_route_fills_an_empty_domain() {
    let rt = runtime();
    get(&rt, "cmd=update&w=lb&sw=n1&vwn=a.b.c&mime=txt");
    let m = lb(&rt).snapshot();
    assert_eq!((m[0].route.as_str(), m[0].domain.as_str()), ("a.b.c", "a"));
}

#[test]
fn too_long_values_fail_with_mod_jks_message() {
    let rt = runtime();
    let long = "r".repeat(61);
    let body = get(
        &rt,
        &format!("cmd=update&mime=txt&w=lb&sw=n1&vwn={long}&vwd=3"),
    )
    .body;
    assert_eq!(
        body,
        format!(
            "Result: type=ERROR message=\"Update failed (at least partially): new route \
             '{long}' too long for sub worker 'n1', see log file for details.\"\n"
        )
    );
    assert_eq!(lb(&rt).snapshot()[0].distance, 3, "the rest applies");
}

#[test]
fn wildcard_updates_every_matching_member() {
    let rt = runtime();
    // `?` is masked to `@` like every `?` in a value, so only `*` works from a URL.
    let masked = get(&rt, "cmd=update&mime=txt&w=lb&sw=n?&vwd=2").body;
    assert!(masked.contains("could not find sub worker"), "{masked}");
    let body = get(&rt, "cmd=update&mime=txt&w=lb&sw=n*&vwd=2").body;
    assert!(body.contains("type=OK"), "{body}");
    assert!(lb(&rt).snapshot().iter().all(|m| m.distance == 2));
    let long = "x".repeat(70);
    let body = get(&rt, &format!("cmd=update&mime=txt&w=lb&sw=*&vwc={long}")).body;
    assert!(
        body.ends_with(" Aborting further wildcard updates.\"\n"),
        "{body}"
    );
}

#[test]
fn connection_settings_cannot_change_at_run_time() {
    let rt = runtime();
    // The edit form sends the current values back: no change, no error.
    let same = get(
        &rt,
        "cmd=update&mime=txt&w=lb&sw=n1&vahst=127.0.0.1&vaprt=18009&vart=0&var=2&vamps=8192",
    );
    assert!(same.body.contains("type=OK"), "{}", same.body);
    let changed = get(&rt, "cmd=update&mime=txt&w=lb&sw=n1&vart=5000&vwd=7").body;
    assert!(
        changed.contains("jkd cannot change 'reply_timeout' of 'n1' while running"),
        "{changed}"
    );
    assert_eq!(lb(&rt).snapshot()[0].distance, 7);
    // Out of mod_jk's range: ignored, as mod_jk ignores it.
    assert!(
        get(&rt, "cmd=update&mime=txt&w=lb&sw=n1&var=0")
            .body
            .contains("type=OK")
    );
    let plain = get(&rt, "cmd=update&mime=txt&w=solo&vamps=9000").body;
    assert!(plain.contains("'max_packet_size' of 'solo'"), "{plain}");
}

#[test]
fn balancer_settings_change_within_their_ranges() {
    let rt = runtime();
    let body = get(
        &rt,
        "cmd=update&mime=txt&w=lb&vlr=5&vlt=120&vlee=0&vlx=3&vls=0&vlm=B&vll=P&vlri=250",
    )
    .body;
    assert!(body.contains("type=OK"));
    let t = lb(&rt).tunables();
    assert_eq!(
        (t.retries, t.recover_time, t.max_reply_timeouts),
        (5, 120, 3)
    );
    assert_eq!(t.error_escalation_time, 30, "0 cannot be set");
    assert_eq!(t.retry_interval, 250);
    assert!(!t.sticky_session);
    assert_eq!(t.method.as_str(), "Busyness");
    assert_eq!(t.lock.as_str(), "Pessimistic");
    // Absent booleans stay as they are.
    get(&rt, "cmd=update&mime=txt&w=lb&vlr=6");
    assert!(!lb(&rt).tunables().sticky_session);
    // The listing shows the live values.
    let prop = get(&rt, "mime=prop").body;
    assert_eq!(value(&prop, "worker.lb.retries"), Some("6"));
    assert_eq!(value(&prop, "worker.lb.sticky_session"), Some("False"));
    assert_eq!(value(&prop, "worker.lb.method"), Some("Busyness"));
}

#[test]
fn all_members_form_sets_one_attribute() {
    let rt = runtime();
    let body = get(&rt, "cmd=update&mime=txt&w=lb&att=vwf&val0=3&val1=6").body;
    assert!(body.contains("type=OK"));
    let m = lb(&rt).snapshot();
    assert_eq!((m[0].lb_mult, m[1].lb_mult), (2, 1));
    get(&rt, "cmd=update&mime=txt&w=lb&att=vwa&val0=S");
    assert_eq!(lb(&rt).snapshot()[0].activation, Activation::Stopped);
    // An unknown attribute changes nothing and is not an error (as in mod_jk).
    assert!(
        get(&rt, "cmd=update&mime=txt&w=lb&att=zzz&val0=1")
            .body
            .contains("type=OK")
    );
}

/// Runs one failing request through the balancer so `member` ends in ERR.
fn fail_member(rt: &Runtime, member: usize) {
    let b = lb(rt);
    let mut req = b.start(
        Some(format!("x.{}", b.snapshot()[member].route)),
        RequestOptions::default(),
        |_| true,
    );
    let Step::Try(choice) = b.next_step(&mut req) else {
        panic!("no member chosen");
    };
    assert_eq!(choice.member, member);
    b.begin(&req, &choice);
    b.report(
        &mut req,
        Report {
            outcome: Outcome::ConnectFailed,
            recoverable: false,
            bytes: 0,
        },
        true,
        Instant::now(),
    );
}

#[test]
fn errors_show_and_recover() {
    let rt = runtime();
    fail_member(&rt, 0);
    let prop = get(&rt, "mime=prop").body;
    assert_eq!(value(&prop, "worker.n1.state"), Some("ERR"));
    assert_eq!(value(&prop, "worker.n1.errors"), Some("1"));
    assert_eq!(value(&prop, "worker.lb.bad"), Some("1"));
    assert!(value(&prop, "worker.n1.time_to_recover_min").is_some_and(|v| v != "0"));
    // The error time keys carry the balancer's name and a space.
    assert!(value(&prop, "worker.lb.error_time_datetime").is_some());
    assert!(value(&prop, "worker.lb.error_time_unix seconds").is_some());
    assert!(value(&prop, "worker.lb.error_time_ago seconds").is_some());
    let txt = get(&rt, "mime=txt").body;
    assert!(txt.contains(" error_time_unix_seconds="));
    let xml = get(&rt, "mime=xml").body;
    assert!(xml.contains("        error_time_ago=\""));
    let body = get(&rt, "cmd=recover&mime=txt&w=lb&sw=n1").body;
    assert!(body.contains("type=OK"), "{body}");
    assert_eq!(lb(&rt).snapshot()[0].state, MemberState::Recover);
    let again = get(&rt, "cmd=recover&mime=txt&w=lb&sw=n1").body;
    assert!(again.contains("Marking worker for recovery failed"));
}

#[test]
fn reset_clears_statistics() {
    let rt = runtime();
    fail_member(&rt, 0);
    let body = get(&rt, "cmd=reset&mime=txt&w=lb&sw=n1").body;
    assert!(body.contains("type=OK"));
    let prop = get(&rt, "mime=prop").body;
    assert_eq!(value(&prop, "worker.n1.state"), Some("OK/IDLE"));
    assert_eq!(value(&prop, "worker.n1.errors"), Some("0"));
    assert!(value(&prop, "worker.lb.error_time_datetime").is_none());
    fail_member(&rt, 0);
    assert!(get(&rt, "cmd=reset&mime=txt&w=lb").body.contains("type=OK"));
    assert_eq!(lb(&rt).snapshot()[0].state, MemberState::Idle);
    assert!(
        get(&rt, "cmd=reset&mime=txt&w=solo")
            .body
            .contains("type=OK")
    );
    let prop = get(&rt, "mime=prop").body;
    assert_eq!(value(&prop, "worker.solo.last_reset_ago"), Some("0"));
}

#[test]
fn read_only_refuses_changes() {
    let rt = runtime();
    let body = get(&rt, "cmd=update&mime=txt&w=lb&sw=n1&vwd=5&opt=32").body;
    assert_eq!(
        body,
        "Result: type=ERROR message=\"This command is not allowed in read only mode.\"\n"
    );
    assert_eq!(lb(&rt).snapshot()[0].distance, 0);
    assert!(get(&rt, "mime=txt&opt=32").body.contains("type=OK"));
    let configured = runtime_with("worker.jkstatus.read_only=true\n");
    let body = get(&configured, "cmd=reset&mime=txt&w=lb").body;
    assert!(body.contains("not allowed in read only mode"));
}

#[test]
fn users_restrict_access() {
    let rt = runtime_with("worker.jkstatus.user=admin,ops\n");
    let denied = "Result: type=ERROR message=\"Access denied.\"\n";
    assert_eq!(get(&rt, "mime=txt").body, denied);
    let as_user = |user| {
        get_as(
            &rt,
            Call {
                query: "mime=txt",
                user: Some(user),
            },
        )
        .body
    };
    assert_eq!(as_user("mallory"), denied);
    assert_eq!(as_user("ADMIN"), denied, "case-sensitive by default");
    assert!(as_user("ops").contains("type=OK"));
    let relaxed =
        runtime_with("worker.jkstatus.user=admin\nworker.jkstatus.user_case_insensitive=true\n");
    let body = get_as(
        &relaxed,
        Call {
            query: "mime=txt",
            user: Some("Admin"),
        },
    )
    .body;
    assert!(body.contains("type=OK"));
}

#[test]
fn html_page_is_escaped_and_names_the_server() {
    let rt = runtime();
    let reply = get(&rt, "");
    assert_eq!(reply.content_type, "text/html");
    let body = reply.body;
    assert!(body.contains("<title>JK Status Manager</title>"));
    assert!(body.contains("<h1>JK Status Manager for example.org:8080</h1>"));
    assert!(body.contains("<td>Server Version:</td><td>jkd/"));
    assert!(body.contains("Worker Status for lb</h3>"));
    assert!(body.contains("<a href=\"/jkstatus?cmd=show&amp;w=lb&amp;sw=n1\"><b>n1</b></a>"));
    // Changes are forms posted with the token, one button each.
    assert!(body.contains(
        "<input type=\"hidden\" name=\"cmd\" value=\"reset\"/><input type=\"hidden\" \
         name=\"from\" value=\"list\"/><input type=\"hidden\" name=\"w\" value=\"lb\"/>\
         <input type=\"hidden\" name=\"sw\" value=\"n2\"/>"
    ));
    assert!(body.contains("<form method=\"post\" action=\"/jkstatus\" class=\"b\">"));
    assert!(body.contains("data-action=\"drain\""));
    // n2 is configured with activation D: its row, badge and pressed button say so.
    assert!(body.contains("<tr class=\"member k-dis\" data-series=\"m:lb/n2\""));
    assert!(body.contains("<span class=\"badge a-dis\" data-f=\"activation\">DIS</span>"));
    assert!(body.contains(
        "class=\"v-D\" data-action=\"drain\" title=\"Only requests of existing sessions \
         (activation D)\" aria-pressed=\"true\" disabled=\"disabled\">Drain</button>"
    ));
    // Self-contained: the style and the script are in the page.
    assert!(body.contains("<style>") && body.contains("<script>"));
    assert!(!body.contains("<script src") && !body.contains("<link"));
    assert!(body.contains("data-poll=\"/jkstatus?cmd=list&amp;mime=json\""));
    assert!(body.ends_with("</body>\n</html>\n"));
    // Request values never reach the page unescaped.
    let evil = get(&rt, "cmd=show&w=%3Cscript%3E").body;
    assert!(!evil.contains("<script>"));
    let evil = get(&rt, "cmd=list&re=5&x=%26quot%3B").body;
    assert!(!evil.contains("&quot;\""));
}

#[test]
fn html_update_redirects_back() {
    let rt = runtime();
    let body = get(&rt, "cmd=update&w=lb&sw=n1&vwd=1&from=list").body;
    assert!(body.contains("<meta http-equiv=\"Refresh\" content=\"3;url=/jkstatus?cmd=list\"/>"));
    assert!(body.contains("Result: OK - You will be redirected in 3 seconds."));
    let failed = get(&rt, "cmd=update&w=nope").body;
    assert!(failed.contains("Result: ERROR - Could not find given worker"));
}

#[test]
fn html_edit_forms() {
    let rt = runtime();
    let member = get(&rt, "cmd=edit&w=lb&sw=n2").body;
    assert!(member.contains("<input type=\"hidden\" name=\"cmd\" value=\"update\"/>"));
    assert!(member.contains("<input name=\"vwn\" type=\"text\" value=\"node2.dc1\"/>"));
    let balancer = get(&rt, "cmd=edit&w=lb").body;
    assert!(balancer.contains("name=\"vlr\""));
    let all = get(&rt, "cmd=edit&w=lb&att=vwf").body;
    assert!(all.contains("name=\"val1\""));
    let status = get(&rt, "cmd=edit&w=jkstatus").body;
    assert!(status.contains("Error in generating this worker&#39;s configuration form."));
}

#[test]
fn responses_are_always_200_and_uncached() {
    let reply = Reply {
        content_type: "text/plain",
        body: "worker.result.type=ERROR\n".into(),
        location: None,
    };
    let resp = into_response(reply);
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers();
    assert_eq!(
        h.get("content-type").map(|v| v.as_bytes()),
        Some(&b"text/plain"[..])
    );
    assert_eq!(
        h.get("cache-control").map(|v| v.as_bytes()),
        Some(&b"no-cache"[..])
    );
    assert_eq!(
        h.get("pragma").map(|v| v.as_bytes()),
        Some(&b"no-cache"[..])
    );
}

#[test]
fn maintenance_window_counts_down() {
    let rt = runtime();
    let later = Clock {
        now: Instant::now() + Duration::from_secs(20),
        unix: Clock::read().unix + 20,
    };
    let request = Request {
        query: Some("mime=prop"),
        path: "/jkstatus",
        server_name: "h",
        server_port: 80,
        client: "c",
        remote_user: None,
        access: Access::default(),
    };
    let body = render(&rt, "jkstatus", &request, later, &addresses()).body;
    assert_eq!(
        value(&body, "worker.lb.time_to_maintenance_min"),
        Some("40")
    );
    assert_eq!(
        value(&body, "worker.lb.time_to_maintenance_max"),
        Some("100")
    );
    assert_eq!(value(&body, "worker.lb.last_reset_ago"), Some("20"));
}
