//! The configuration engine end to end: typed workers, their defaults, the line each diagnostic names, and property tests of variables and references.

use std::collections::BTreeMap;

use jkd::config::workers::WorkerKind;
use jkd::config::{self, Loaded, values::Activation};
use proptest::prelude::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn load(text: &str) -> Loaded {
    config::from_workers_bytes("w.properties", text.as_bytes(), &no_env)
}

/// (line, key) of every diagnostic of the given severity.
fn found(l: &Loaded, errors: bool) -> Vec<(u32, String)> {
    l.diagnostics
        .iter()
        .filter(|d| d.is_error() == errors)
        .map(|d| (d.origin.line, d.key.clone()))
        .collect()
}

#[test]
fn lb_defaults_are_mod_jks() {
    let l = load(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\nworker.b.lbfactor=3\n",
    );
    let cfg = l.config.expect("valid");
    let WorkerKind::Lb(lb) = &cfg.worker("lb").expect("lb").kind else {
        panic!("not an lb");
    };
    assert!(lb.sticky_session && !lb.sticky_session_force);
    assert_eq!(
        (lb.retries, lb.recover_time, lb.error_escalation_time),
        (2, 60, 30)
    );
    assert_eq!(
        (lb.session_cookie.as_str(), lb.session_path.as_str()),
        ("JSESSIONID", ";jsessionid")
    );
    assert_eq!(lb.session_cookie_path, "/");
    let a = &lb.members[0];
    assert_eq!(
        (a.ajp.host.as_str(), a.ajp.port, a.route.as_str()),
        ("localhost", 8009, "a")
    );
    assert_eq!(
        (a.ajp.ping_timeout, a.ajp.retries, a.ajp.max_packet_size),
        (10000, 2, 8192)
    );
    assert_eq!(a.ajp.acquire_timeout, 200);
    assert_eq!((a.lb_mult, lb.members[1].lb_mult), (3, 1));
}

#[test]
fn an_unknown_type_is_refused_on_its_line() {
    let l = load("worker.list=w\n\nworker.w.type=ajp15\n");
    assert!(l.config.is_none());
    assert_eq!(found(&l, true), vec![(3, "worker.w.type".to_string())]);
}

#[test]
fn an_lb_without_members_is_refused() {
    let l = load("worker.list=lb\nworker.lb.type=lb\n");
    assert!(l.config.is_none());
    assert_eq!(
        found(&l, true),
        vec![(2, "worker.lb.balance_workers".to_string())]
    );
}

#[test]
fn two_members_with_one_route_are_refused_on_the_second_route() {
    let l = load(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\n\
         worker.a.route=r\nworker.b.route=r\n",
    );
    assert!(l.config.is_none());
    assert_eq!(found(&l, true), vec![(5, "worker.b.route".to_string())]);
}

#[test]
fn over_long_names_are_refused() {
    let long = "n".repeat(61);
    let l = load(&format!("worker.list={long}\n"));
    assert!(l.config.is_none());
    assert_eq!(found(&l, true).len(), 1);
    let ok = "n".repeat(60);
    assert!(load(&format!("worker.list={ok}\n")).config.is_some());
}

#[test]
fn silent_defaults_get_a_warning_on_their_line() {
    let l = load(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a\n\
         worker.lb.sticky_session=maybe\nworker.lb.method=lb\nworker.a.port=80x\n",
    );
    let cfg = l.config.as_ref().expect("still valid");
    let WorkerKind::Lb(lb) = &cfg.worker("lb").expect("lb").kind else {
        panic!("not an lb");
    };
    assert!(lb.sticky_session);
    assert_eq!(lb.members[0].ajp.port, 80);
    let warnings = found(&l, false);
    for want in [
        (4, "worker.lb.sticky_session"),
        (5, "worker.lb.method"),
        (6, "worker.a.port"),
    ] {
        assert!(
            warnings.contains(&(want.0, want.1.to_string())),
            "no warning {want:?} in {warnings:?}"
        );
    }
}

#[test]
fn activation_aliases_and_port_zero() {
    let l = load(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a,b,c,d\n\
         worker.a.disabled=true\nworker.b.stopped=1\nworker.b.disabled=1\n\
         worker.c.activation=disabled\nworker.d.port=0\n",
    );
    let cfg = l.config.expect("valid");
    let WorkerKind::Lb(lb) = &cfg.worker("lb").expect("lb").kind else {
        panic!("not an lb");
    };
    let acts: Vec<Activation> = lb.members.iter().map(|m| m.activation).collect();
    use Activation::*;
    assert_eq!(acts, vec![Disabled, Stopped, Disabled, Stopped]);
}

#[test]
fn domain_comes_from_a_dotted_route_and_lb_secret_reaches_members() {
    let l = load(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\nworker.lb.secret=s\n\
         worker.a.route=n1.dc1\nworker.b.secret=own\n",
    );
    let cfg = l.config.expect("valid");
    let WorkerKind::Lb(lb) = &cfg.worker("lb").expect("lb").kind else {
        panic!("not an lb");
    };
    assert_eq!(lb.members[0].domain, "n1");
    assert_eq!(lb.members[0].ajp.secret.as_deref(), Some("s"));
    assert_eq!(lb.members[1].ajp.secret.as_deref(), Some("own"));
}

#[test]
fn unused_definitions_are_pointed_at() {
    let l = load("worker.list=a\nworker.a.port=1\nworker.typo.port=2\n");
    assert!(found(&l, false).contains(&(3, "worker.typo.port".to_string())));
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,8}"
}

fn plain_value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9/._-]{1,12}"
}

proptest! {
    /// `$(name)` takes an earlier line's value, else the environment, else stays as written.
    #[test]
    fn variables_expand_in_lookup_order(
        var in name(), defined in plain_value(), env_value in plain_value(),
        pre in "[a-z]{0,4}", post in "[a-z]{0,4}", define_first in any::<bool>(), in_env in any::<bool>(),
    ) {
        let var = format!("v_{var}");
        let use_line = format!("worker.w.host={pre}$({var}){post}\n");
        let def_line = format!("{var}={defined}\n");
        let text = if define_first { format!("worker.list=w\n{def_line}{use_line}") } else { format!("worker.list=w\n{use_line}{def_line}") };
        let env_name = var.clone();
        let env = move |n: &str| (in_env && n == env_name).then(|| env_value.clone());
        let env_copy = env.clone();
        let l = config::from_workers_bytes("w", text.as_bytes(), &env);
        let cfg = l.config.expect("valid");
        let WorkerKind::Ajp(a) = &cfg.worker("w").expect("w").kind else { panic!("not ajp") };
        let expected_middle = if define_first {
            defined.clone()
        } else if let Some(e) = env_copy(&var) {
            e
        } else {
            format!("$({var})")
        };
        prop_assert_eq!(&a.host, &format!("{pre}{expected_middle}{post}"));
    }

    /// After `reference`, a worker has every key of its template, and its own keys win.
    #[test]
    fn references_fill_in_without_overriding(
        template in proptest::collection::btree_map(prop_oneof!["port", "host", "route", "domain", "redirect", "secret"], "[0-9]{1,4}", 1..6),
        own in proptest::collection::btree_map(prop_oneof!["port", "host", "route", "domain"], "[0-9]{1,4}", 0..4),
        chain in any::<bool>(),
    ) {
        let mut text = String::from("worker.list=w\n");
        for (k, v) in &template { text.push_str(&format!("worker.tpl.{k}={v}\n")); }
        if chain {
            text.push_str("worker.mid.reference=worker.tpl\nworker.w.reference=worker.mid\n");
        } else {
            text.push_str("worker.w.reference=worker.tpl\n");
        }
        for (k, v) in &own { text.push_str(&format!("worker.w.{k}={v}\n")); }
        let l = load(&text);
        let cfg = l.config.expect("valid");
        let mut expected: BTreeMap<&str, &str> = template.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        for (k, v) in &own { expected.insert(k.as_str(), v.as_str()); }
        for (k, v) in expected {
            prop_assert_eq!(cfg.properties.value(&format!("worker.w.{k}")), Some(v));
        }
    }
}

/// mod_jk's defaults (no reply_timeout, no CPing) let a hung node hold every request
/// routed to it: each such member gets a warning on its first line; any timeout or
/// ping mode silences it, and plain ajp13 workers (no balancer to fail over to) get none.
#[test]
fn a_member_that_cannot_notice_a_hung_node_gets_a_warning() {
    let l = load(
        "worker.list=lb,solo\nworker.lb.type=lb\nworker.lb.balance_workers=a,b,c,d,e,f\n\
         worker.a.port=8009\n\
         worker.b.ping_mode=A\n\
         worker.c.reply_timeout=30000\n\
         worker.d.ping_mode=I\n\
         worker.e.prepost_timeout=2000\n\
         worker.f.socket_timeout=30\n\
         worker.solo.port=8010\n",
    );
    assert!(l.config.is_some());
    let hung: Vec<(u32, String)> = found(&l, false)
        .into_iter()
        .filter(|(_, k)| k.ends_with(".reply_timeout"))
        .collect();
    assert_eq!(hung, vec![(4, "worker.a.reply_timeout".to_string())]);
    let text = l
        .diagnostics
        .iter()
        .find(|d| d.key == "worker.a.reply_timeout")
        .map(|d| d.to_string())
        .unwrap_or_default();
    assert!(
        text.starts_with("w.properties:4: worker.a.reply_timeout: warning: ")
            && text.contains("ping_mode=A"),
        "{text}"
    );
}
