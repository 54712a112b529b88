//! Tests of the balancer state machine with a controlled clock.

use std::time::{Duration, Instant};

use super::*;
use crate::config;
use crate::config::workers::WorkerKind;

fn no_env(_: &str) -> Option<String> {
    None
}

/// A balancer `lb` built from workers.properties text (members listed in `members`).
fn lb(extra: &str, members: &str) -> (Balancer<()>, Instant) {
    let text =
        format!("worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers={members}\n{extra}");
    let loaded = config::from_workers_bytes("t", text.as_bytes(), &no_env);
    let cfg = loaded
        .config
        .unwrap_or_else(|| panic!("bad test config: {:?}", loaded.diagnostics));
    let Some(WorkerKind::Lb(settings)) = cfg.worker("lb").map(|w| w.kind.clone()) else {
        panic!("no lb");
    };
    let t0 = Instant::now();
    (
        Balancer::new("lb", settings, cfg.maintain as u64, t0, |_| ()),
        t0,
    )
}

fn ok() -> Report {
    Report {
        outcome: Outcome::Success,
        recoverable: false,
        bytes: 100,
    }
}

fn fail(outcome: Outcome) -> Report {
    Report {
        outcome,
        recoverable: true,
        bytes: 0,
    }
}

/// Runs one request to completion where members in `down` fail with `Failed`;
/// returns the members tried, in order, and whether it succeeded.
fn run(
    b: &Balancer<()>,
    session: Option<&str>,
    down: &[usize],
    now: Instant,
) -> (Vec<usize>, bool) {
    let mut req = b.start(
        session.map(str::to_string),
        RequestOptions::default(),
        |_| true,
    );
    let mut tried = Vec::new();
    loop {
        match b.next_step(&mut req) {
            Step::Try(c) => {
                tried.push(c.member);
                b.begin(&req, &c);
                let r = if down.contains(&c.member) {
                    fail(Outcome::Failed)
                } else {
                    ok()
                };
                b.report(&mut req, r, true, now);
            }
            Step::Wait(_) => {}
            Step::Unavailable => return (tried, false),
            Step::Done => return (tried, true),
        }
    }
}

fn state(b: &Balancer<()>, i: usize) -> MemberState {
    b.snapshot()[i].state
}

#[test]
fn lbfactor_splits_traffic_exactly() {
    let (b, t) = lb("worker.a.lbfactor=1\nworker.b.lbfactor=3\n", "a,b");
    let mut counts = [0; 2];
    for _ in 0..4000 {
        let (tried, served) = run(&b, None, &[], t);
        assert!(served);
        counts[tried[0]] += 1;
    }
    assert_eq!(counts, [1000, 3000]);
}

#[test]
fn equal_members_alternate() {
    let (b, t) = lb("", "a,b,c");
    let first: Vec<usize> = (0..6).map(|_| run(&b, None, &[], t).0[0]).collect();
    assert_eq!(first, vec![0, 1, 2, 0, 1, 2]);
}

#[test]
fn sessions_stick_to_their_route() {
    let (b, t) = lb("worker.b.route=node2\n", "a,b,c");
    for _ in 0..20 {
        assert_eq!(run(&b, Some("ABC.node2"), &[], t).0, vec![1]);
    }
    // The first id whose route matches wins; unknown routes fall back to balancing.
    assert_eq!(run(&b, Some("X.nope;Y.node2"), &[], t).0, vec![1]);
}

#[test]
fn sticky_requests_count_toward_the_load_value() {
    let (b, t) = lb("", "a,b");
    for _ in 0..4 {
        run(&b, Some("S.a"), &[], t);
    }
    let next: Vec<usize> = (0..4).map(|_| run(&b, None, &[], t).0[0]).collect();
    assert_eq!(next, vec![1, 1, 1, 1]);
}

#[test]
fn disabled_members_keep_their_sessions_but_get_no_new_ones() {
    let (b, t) = lb("worker.a.activation=D\n", "a,b");
    for _ in 0..5 {
        assert_eq!(run(&b, None, &[], t).0, vec![1]);
    }
    assert_eq!(run(&b, Some("s.a"), &[], t).0, vec![0]);
}

#[test]
fn a_disabled_member_is_drained_once_its_requests_end_and_its_sessions_go_quiet() {
    let (b, t0) = lb("", "a,b");
    let quiet = Duration::from_secs(600);
    assert_eq!(b.drain_check("nope", quiet, t0), None);
    assert_eq!(b.drain_check("a", quiet, t0), Some(Drain::Active));
    b.update_member(0, |m| m.activation = Activation::Disabled);
    // No session seen, but jkd has not watched it for the quiet period yet: sessions
    // from before it started are unknown.
    assert_eq!(
        b.drain_check("a", quiet, t0 + Duration::from_secs(3)),
        Some(Drain::NotWatchedLongEnough {
            watched: Duration::from_secs(3)
        })
    );
    assert_eq!(
        b.drain_check("a", quiet, t0 + quiet),
        Some(Drain::Drained {
            activation: Activation::Disabled,
            since_session: None
        })
    );
    // A request of one of its sessions: in flight, then recent, then quiet.
    let mut req = b.start(Some("s.a".to_string()), RequestOptions::default(), |_| true);
    let Step::Try(choice) = b.next_step(&mut req) else {
        panic!("no choice");
    };
    assert_eq!((choice.member, choice.sticky), (0, true));
    b.begin(&req, &choice);
    assert_eq!(b.drain_check("a", quiet, t0), Some(Drain::InFlight(1)));
    let t1 = t0 + Duration::from_secs(5);
    b.report(&mut req, ok(), true, t1);
    let ago = Duration::from_secs(599);
    assert_eq!(
        b.drain_check("a", quiet, t1 + ago),
        Some(Drain::SessionsRecent { ago })
    );
    // New requests without a session go to b and change nothing for a.
    assert_eq!(run(&b, None, &[], t1 + ago).0, vec![1]);
    assert_eq!(
        b.drain_check("a", quiet, t1 + quiet),
        Some(Drain::Drained {
            activation: Activation::Disabled,
            since_session: Some(quiet)
        })
    );
    // A request that was merely balanced onto a member is no session of its own.
    assert_eq!(run(&b, Some("s.gone"), &[], t1 + quiet).0, vec![1]);
    assert_eq!(
        b.drain_check("b", quiet, t1 + quiet),
        Some(Drain::Active),
        "b is still active"
    );
    b.update_member(1, |m| m.activation = Activation::Stopped);
    assert_eq!(
        b.drain_check("b", quiet, t1 + quiet),
        Some(Drain::Drained {
            activation: Activation::Stopped,
            since_session: None
        })
    );
}

#[test]
fn a_member_changed_by_a_reload_is_still_the_same_node_for_draining_and_health() {
    let (b, t0) = lb("worker.a.health_check_uri=/health\n", "a,b");
    let b = Arc::new(b);
    let at = |s: u64| t0 + Duration::from_secs(s);
    // A request of a's sessions ended at 1 s, another is under way; b fails its check.
    run(&b, Some("s.a"), &[], at(1));
    let mut req = b.start(Some("s.a".into()), RequestOptions::default(), |_| true);
    let Step::Try(c) = b.next_step(&mut req) else {
        panic!("expected a try")
    };
    let in_flight = b.begin_owned(req, &c);
    b.health_checked(1, false, at(2));
    // The file drains a and changes b's lbfactor; both keep their connection settings.
    let (changed, _) = lb(
        "worker.a.health_check_uri=/health\nworker.a.activation=D\nworker.b.lbfactor=2\n",
        "a,b",
    );
    let next = Arc::new(b.successor(changed.settings.clone(), 60, at(3), |_| ()));
    b.replaced(&next);
    let quiet = Duration::from_secs(600);
    assert_eq!(
        next.drain_check("a", quiet, at(4)),
        Some(Drain::InFlight(1))
    );
    in_flight.finish(ok(), at(5));
    assert_eq!(
        next.drain_check("a", quiet, at(6)),
        Some(Drain::SessionsRecent {
            ago: Duration::from_secs(1)
        })
    );
    let b_now = next.snapshot()[1].clone();
    assert_eq!((b_now.lbfactor, b_now.state), (2, MemberState::Error));
    assert!(b_now.health_failing);
}

#[test]
fn stopped_members_lose_their_sessions() {
    let (b, t) = lb("worker.a.activation=S\n", "a,b");
    assert_eq!(run(&b, Some("s.a"), &[], t).0, vec![1]);
}

#[test]
fn redirect_sends_sessions_of_a_failed_member_to_the_standby() {
    let (b, t) = lb("worker.a.redirect=c\nworker.c.activation=D\n", "a,b,c");
    let (tried, served) = run(&b, Some("s.a"), &[0], t);
    assert!(served);
    assert_eq!(tried, vec![0, 2]);
    // With a and b down, the hot standby c takes the new sessions too.
    b.update_member(1, |m| m.state = MemberState::Error);
    assert_eq!(run(&b, None, &[], t).0, vec![2]);
}

#[test]
fn domains_group_replicas() {
    let (b, t) = lb(
        "worker.a.domain=d1\nworker.b.domain=d1\nworker.c.domain=d2\n",
        "a,b,c",
    );
    // An unknown route that names a domain goes to that domain.
    for _ in 0..4 {
        let first = run(&b, Some("s.d1"), &[], t).0[0];
        assert!(first == 0 || first == 1);
    }
    // A failed member's sessions stay in its domain.
    let (tried, _) = run(&b, Some("s.a"), &[0], t);
    assert_eq!(tried, vec![0, 1]);
}

#[test]
fn sticky_session_force_refuses_instead_of_moving() {
    let (b, t) = lb("worker.lb.sticky_session_force=true\n", "a,b");
    let (tried, served) = run(&b, Some("s.a"), &[0], t);
    assert!(!served);
    // As in mod_jk: once a is in error nothing else may serve the session, so a is
    // force-recovered and tried once more before the request fails.
    assert_eq!(tried, vec![0, 0]);
    assert_eq!(state(&b, 0), MemberState::Error);
}

#[test]
fn distance_is_active_passive_with_fail_back() {
    let (b, t) = lb("worker.c.distance=1\n", "a,b,c");
    for _ in 0..6 {
        assert_ne!(run(&b, None, &[], t).0[0], 2);
    }
    // Both near members fail: the far one serves.
    b.update_member(0, |m| m.state = MemberState::Error);
    b.update_member(1, |m| m.state = MemberState::Error);
    let later = t + Duration::from_secs(1);
    let m = b.snapshot();
    assert!(m[0].state == MemberState::Error);
    // Force recovery would kick in only when nothing is usable; c is usable.
    assert_eq!(run(&b, None, &[], later).0, vec![2]);
    // After recovery the near members take new sessions again.
    b.update_member(0, |m| m.state = MemberState::Ok);
    b.update_member(1, |m| m.state = MemberState::Ok);
    assert_ne!(run(&b, None, &[], later).0[0], 2);
}

#[test]
fn a_failed_member_recovers_after_recover_time_through_a_probe() {
    let (b, t0) = lb("worker.lb.recover_time=60\nworker.maintain=60\n", "a,b");
    let (tried, served) = run(&b, Some("s.a"), &[0], t0);
    assert!(served);
    assert_eq!(tried, vec![0, 1]);
    assert_eq!(state(&b, 0), MemberState::Error);
    // Sessions of a go to b while a is in error.
    assert_eq!(run(&b, Some("s.a"), &[], t0).0, vec![1]);
    // Maintenance before recover_time leaves it in error.
    assert!(b.maintain(t0 + Duration::from_secs(60)));
    assert_eq!(state(&b, 0), MemberState::Error);
    // Strictly after recover_time it is marked for recovery...
    assert!(b.maintain(t0 + Duration::from_secs(121)));
    assert_eq!(state(&b, 0), MemberState::Recover);
    // ...and the next request to it is a probe that brings it back.
    let mut req = b.start(Some("s.a".into()), RequestOptions::default(), |_| true);
    let Step::Try(c) = b.next_step(&mut req) else {
        panic!("expected a try")
    };
    assert_eq!(c.member, 0);
    assert!(c.probe, "a recovering member is probed first");
    assert_eq!(state(&b, 0), MemberState::Probe);
    b.begin(&req, &c);
    b.report(&mut req, ok(), true, t0 + Duration::from_secs(122));
    assert_eq!(state(&b, 0), MemberState::Ok);
}

#[test]
fn maintenance_runs_at_most_once_per_interval_and_halves_load() {
    let (b, t0) = lb("worker.maintain=10\n", "a,b");
    for _ in 0..8 {
        run(&b, None, &[], t0);
    }
    assert_eq!(b.snapshot()[0].lb_value, 4);
    assert!(!b.maintain(t0 + Duration::from_secs(9)));
    assert!(b.maintain(t0 + Duration::from_secs(10)));
    assert_eq!(b.snapshot()[0].lb_value, 2);
    // Two intervals elapsed: shift by two.
    assert!(b.maintain(t0 + Duration::from_secs(30)));
    assert_eq!(b.snapshot()[0].lb_value, 0);
}

#[test]
fn idle_members_are_marked_at_maintenance() {
    let (b, t0) = lb("worker.maintain=10\n", "a,b");
    run(&b, None, &[], t0);
    assert_eq!(state(&b, 0), MemberState::Ok);
    b.maintain(t0 + Duration::from_secs(10));
    assert_eq!(state(&b, 0), MemberState::Ok);
    b.maintain(t0 + Duration::from_secs(20));
    assert_eq!(state(&b, 0), MemberState::Idle);
}

#[test]
fn errors_with_requests_in_flight_stay_local_until_escalation() {
    let (b, t0) = lb(
        "worker.lb.error_escalation_time=5\nworker.maintain=1\n",
        "a,b",
    );
    // Another request is in flight on a.
    let mut other = b.start(None, RequestOptions::default(), |_| true);
    let Step::Try(c) = b.next_step(&mut other) else {
        panic!()
    };
    assert_eq!(c.member, 0);
    b.begin(&other, &c);
    let (tried, served) = run(&b, Some("s.a"), &[0], t0);
    assert!(served);
    assert_eq!(tried, vec![0, 1]);
    assert_eq!(state(&b, 0), MemberState::Ok, "a local error only");
    b.maintain(t0 + Duration::from_secs(5));
    assert_eq!(state(&b, 0), MemberState::Error, "escalated");
}

#[test]
fn refused_connections_mark_the_member_at_once() {
    let (b, t0) = lb("", "a,b");
    let mut other = b.start(None, RequestOptions::default(), |_| true);
    let Step::Try(c) = b.next_step(&mut other) else {
        panic!()
    };
    b.begin(&other, &c);
    let mut req = b.start(Some("s.a".into()), RequestOptions::default(), |_| true);
    let Step::Try(c) = b.next_step(&mut req) else {
        panic!()
    };
    assert_eq!(c.member, 0);
    b.report(&mut req, fail(Outcome::ConnectFailed), false, t0);
    assert_eq!(state(&b, 0), MemberState::Error);
}

#[test]
fn when_all_members_are_down_they_are_force_tried() {
    let (b, t0) = lb("", "a,b");
    b.update_member(0, |m| m.state = MemberState::Error);
    b.update_member(1, |m| m.state = MemberState::Error);
    let (tried, served) = run(&b, None, &[], t0);
    assert!(served);
    assert_eq!(tried.len(), 1);
    assert_eq!(state(&b, tried[0]), MemberState::Ok);
}

#[test]
fn a_dead_cluster_is_tried_in_rounds_then_given_up() {
    let (b, t0) = lb("worker.lb.retries=2\nworker.lb.retry_interval=50\n", "a,b");
    let mut req = b.start(None, RequestOptions::default(), |_| true);
    let mut steps = Vec::new();
    loop {
        let s = b.next_step(&mut req);
        match &s {
            Step::Try(c) => {
                b.begin(&req, c);
                b.report(&mut req, fail(Outcome::Failed), true, t0);
            }
            Step::Wait(d) => assert_eq!(*d, Duration::from_millis(50)),
            Step::Unavailable | Step::Done => {
                steps.push(s);
                break;
            }
        }
        steps.push(s);
    }
    let tries = steps.iter().filter(|s| matches!(s, Step::Try(_))).count();
    let waits = steps.iter().filter(|s| matches!(s, Step::Wait(_))).count();
    // Round 1: a and b fail. Round 2: both are in ERR, forced recovery, tried again.
    assert_eq!((tries, waits), (4, 1));
    assert_eq!(steps.last(), Some(&Step::Unavailable));
}

#[test]
fn an_unrecoverable_failure_stops_at_once() {
    let (b, t0) = lb("", "a,b");
    let mut req = b.start(None, RequestOptions::default(), |_| true);
    let Step::Try(c) = b.next_step(&mut req) else {
        panic!()
    };
    b.begin(&req, &c);
    b.report(
        &mut req,
        Report {
            outcome: Outcome::Failed,
            recoverable: false,
            bytes: 0,
        },
        true,
        t0,
    );
    assert_eq!(b.next_step(&mut req), Step::Done);
}

#[test]
fn session_method_counts_only_new_sessions() {
    let (b, t) = lb("worker.lb.method=S\n", "a,b");
    for _ in 0..3 {
        run(&b, Some("x.a"), &[], t);
    }
    assert_eq!(b.snapshot()[0].lb_value, 0);
    run(&b, None, &[], t);
    assert_eq!(b.snapshot().iter().map(|m| m.lb_value).sum::<u64>(), 1);
}

#[test]
fn busyness_counts_requests_in_flight() {
    let (b, t) = lb("worker.lb.method=B\n", "a,b");
    let mut r1 = b.start(None, RequestOptions::default(), |_| true);
    let Step::Try(c1) = b.next_step(&mut r1) else {
        panic!()
    };
    b.begin(&r1, &c1);
    // a is busy: the next one goes to b.
    let mut r2 = b.start(None, RequestOptions::default(), |_| true);
    let Step::Try(c2) = b.next_step(&mut r2) else {
        panic!()
    };
    assert_ne!(c1.member, c2.member);
    b.report(&mut r1, ok(), true, t);
    assert_eq!(b.snapshot()[c1.member].lb_value, 0);
}

#[test]
fn next_method_subtracts_the_minimum() {
    let (b, t0) = lb("worker.lb.method=N\nworker.maintain=1\n", "a,b");
    for _ in 0..5 {
        run(&b, None, &[], t0);
    }
    b.maintain(t0 + Duration::from_secs(1));
    let v: Vec<u64> = b.snapshot().iter().map(|m| m.lb_value).collect();
    assert_eq!(v.iter().min(), Some(&0));
    assert_eq!(v.iter().max(), Some(&1));
}

#[test]
fn a_single_disabled_member_only_serves_its_sessions() {
    let (b, t) = lb("worker.a.activation=D\n", "a");
    assert!(!run(&b, None, &[], t).1);
    assert!(run(&b, Some("s.a"), &[], t).1);
}

#[test]
fn rule_overrides_change_activation_per_request() {
    let (b, _) = lb("", "a,b");
    let opts = RequestOptions {
        activation: Some(vec![Some(Activation::Stopped), None]),
        ..Default::default()
    };
    let mut req = b.start(Some("s.a".into()), opts, |_| true);
    let Step::Try(c) = b.next_step(&mut req) else {
        panic!()
    };
    assert_eq!(c.member, 1);
}

#[test]
fn the_first_route_is_forwarded_even_after_failover() {
    let (b, t) = lb("", "a,b");
    let mut req = b.start(None, RequestOptions::default(), |_| true);
    let Step::Try(c1) = b.next_step(&mut req) else {
        panic!()
    };
    b.begin(&req, &c1);
    b.report(&mut req, fail(Outcome::Failed), true, t);
    let Step::Try(c2) = b.next_step(&mut req) else {
        panic!()
    };
    assert_ne!(c1.member, c2.member);
    assert_eq!(c2.route, c1.route);
}

#[test]
fn changed_tunables_take_effect_on_the_next_request() {
    let (b, t) = lb("", "a,b");
    assert_eq!(run(&b, Some("x.b"), &[], t).0, vec![1]);
    let mut tunables = b.tunables();
    tunables.sticky_session = false;
    b.set_tunables(tunables);
    // Without stickiness the route is ignored and the load values decide.
    assert_eq!(run(&b, Some("x.b"), &[], t).0, vec![0]);
    tunables.retries = 1;
    b.set_tunables(tunables);
    let (tried, served) = run(&b, None, &[0, 1], t);
    assert!(!served);
    assert_eq!(tried.len(), 2, "one round only: {tried:?}");
}

#[test]
fn a_new_lbfactor_recomputes_every_multiplier() {
    let (b, _) = lb("worker.a.lbfactor=2\n", "a,b,c");
    let mults = |b: &Balancer<()>| b.snapshot().iter().map(|m| m.lb_mult).collect::<Vec<_>>();
    assert_eq!(mults(&b), vec![1, 2, 2]);
    assert!(b.set_lbfactor(1, 3));
    assert_eq!(mults(&b), vec![3, 2, 6]);
    assert!(b.set_lbfactor(2, 0), "factors below 1 are raised to 1");
    assert_eq!(b.snapshot()[2].lbfactor, 1);
    assert!(!b.set_lbfactor(7, 1));
}

#[test]
fn resetting_clears_statistics_and_errors() {
    let (b, t) = lb("", "a,b");
    run(&b, None, &[0], t);
    assert_eq!(state(&b, 0), MemberState::Error);
    assert!(b.members[0].counters.errors.load(Ordering::Relaxed) > 0);
    let later = t + Duration::from_secs(5);
    assert!(b.reset_member(0, later));
    let m = &b.snapshot()[0];
    assert_eq!(m.state, MemberState::Idle);
    assert_eq!((m.lb_value, m.first_error, m.last_reset), (0, None, later));
    assert_eq!(b.members[0].counters.errors.load(Ordering::Relaxed), 0);
    assert_eq!(b.members[0].counters.elected.load(Ordering::Relaxed), 0);
    assert!(b.snapshot()[1].lb_value > 0);
    b.reset(later);
    assert_eq!(b.snapshot()[1].lb_value, 0);
    assert_eq!(b.last_reset(), later);
    assert_eq!(b.max_busy.load(Ordering::Relaxed), 0);
}

#[test]
fn load_values_reset_except_for_busyness() {
    let (b, t) = lb("", "a,b");
    run(&b, None, &[], t);
    b.reset_lb_values();
    assert!(b.snapshot().iter().all(|m| m.lb_value == 0));
    let (busy, _) = lb("worker.lb.method=B\n", "a,b");
    let mut req = busy.start(None, RequestOptions::default(), |_| true);
    let Step::Try(c) = busy.next_step(&mut req) else {
        panic!()
    };
    busy.begin(&req, &c);
    busy.reset_lb_values();
    assert_eq!(
        busy.snapshot()[c.member].lb_value,
        1,
        "in-flight count kept"
    );
}

#[test]
fn a_busy_member_is_skipped_until_it_has_room() {
    let (b, t) = lb("", "a,b");
    let mut req = b.start(Some("s.a".into()), RequestOptions::default(), |_| true);
    let Step::Try(c) = b.next_step(&mut req) else {
        panic!()
    };
    assert_eq!(c.member, 0);
    b.report(&mut req, fail(Outcome::Busy), false, t);
    assert_eq!(state(&b, 0), MemberState::Busy);
    // The same request goes on to b.
    let Step::Try(c) = b.next_step(&mut req) else {
        panic!()
    };
    assert_eq!(c.member, 1);
    // A later request clears BUSY only when a has room again.
    let _ = b.start(None, RequestOptions::default(), |m| m.name() != "a");
    assert_eq!(state(&b, 0), MemberState::Busy);
    let _ = b.start(None, RequestOptions::default(), |_| true);
    assert_eq!(state(&b, 0), MemberState::Ok);
}

#[test]
fn maintenance_keeps_its_period_when_the_timer_jitters() {
    let (b, t0) = lb("worker.maintain=1\n", "a,b");
    // A 1 s timer whose firings are late by 10 ms, then by only 2 ms: the second one is
    // 0.992 s after the first, but 2.002 s after the balancer's start.
    assert!(b.maintain(t0 + Duration::from_millis(1010)));
    assert!(b.maintain(t0 + Duration::from_millis(2002)));
    assert!(b.maintain(t0 + Duration::from_millis(3001)));
    // Still at most once per interval.
    assert!(!b.maintain(t0 + Duration::from_millis(3500)));
    assert!(b.maintain(t0 + Duration::from_millis(4000)));
}

#[test]
fn recovery_starts_right_after_recover_time() {
    let (b, t0) = lb("worker.lb.recover_time=2\nworker.maintain=1\n", "a,b");
    let (tried, _) = run(&b, Some("s.a"), &[0], t0);
    assert_eq!(tried, vec![0, 1]);
    assert_eq!(state(&b, 0), MemberState::Error);
    assert!(b.maintain(t0 + Duration::from_millis(1500)));
    assert_eq!(state(&b, 0), MemberState::Error, "not before recover_time");
    // 2.5 s after the error is past recover_time=2 (not only from 3 s on).
    assert!(b.maintain(t0 + Duration::from_millis(2500)));
    assert_eq!(state(&b, 0), MemberState::Recover);
}

#[test]
fn a_dropped_attempt_gives_back_its_busy_count_and_load() {
    let (b, _) = lb("worker.lb.method=B\nworker.a.busy_limit=2\n", "a");
    let b = Arc::new(b);
    for _ in 0..4 {
        let mut req = b.start(None, RequestOptions::default(), |_| true);
        let Step::Try(c) = b.next_step(&mut req) else {
            panic!("a is not offered")
        };
        let in_flight = b.begin_owned(req, &c);
        assert_eq!(b.members[0].counters.busy.load(Ordering::Relaxed), 1);
        // The client goes away while jkd waits for the backend: the request's future,
        // and the guard with it, is dropped.
        drop(in_flight);
    }
    assert_eq!(b.members[0].counters.busy.load(Ordering::Relaxed), 0);
    assert_eq!(b.busy.load(Ordering::Relaxed), 0);
    assert_eq!(b.snapshot()[0].lb_value, 0, "Busyness load value leaked");
    assert_eq!(b.cancelled.load(Ordering::Relaxed), 4);
    assert_eq!(
        b.members[0].counters.client_errors.load(Ordering::Relaxed),
        4
    );
    assert_eq!(state(&b, 0), MemberState::Ok);
}

#[test]
fn a_finished_attempt_is_reported_once_and_counts_reply_timeouts_itself() {
    let (b, t) = lb("worker.lb.max_reply_timeouts=1\n", "a,b");
    let b = Arc::new(b);
    let mut req = b.start(Some("s.a".into()), RequestOptions::default(), |_| true);
    let Step::Try(c) = b.next_step(&mut req) else {
        panic!()
    };
    let req = b
        .begin_owned(req, &c)
        .finish(fail(Outcome::ReplyTimeout), t);
    assert_eq!(
        b.members[0].counters.reply_timeouts.load(Ordering::Relaxed),
        1
    );
    assert_eq!(b.members[0].counters.busy.load(Ordering::Relaxed), 0);
    assert_eq!(b.cancelled.load(Ordering::Relaxed), 0);
    // One timeout is within max_reply_timeouts=1: a stays usable for others.
    assert_ne!(state(&b, 0), MemberState::Error);
    drop(req);
}

#[test]
fn requests_under_way_when_a_health_check_fails_do_not_bring_the_member_back() {
    let (b, t0) = lb("", "a,b");
    let at = |s: u64| t0 + Duration::from_secs(s);
    // Two requests of a's sessions are under way on a when its check fails.
    let mut ok_req = b.start(Some("s.a".into()), RequestOptions::default(), |_| true);
    let Step::Try(c) = b.next_step(&mut ok_req) else {
        panic!("expected a try")
    };
    assert_eq!(c.member, 0);
    b.begin(&ok_req, &c);
    let mut left = b.start(Some("t.a".into()), RequestOptions::default(), |_| true);
    let Step::Try(c) = b.next_step(&mut left) else {
        panic!("expected a try")
    };
    let b = Arc::new(b);
    let in_flight = b.begin_owned(left, &c);
    assert_eq!(b.health_checked(0, false, at(1)), Some(MemberState::Error));
    // One ends well (a static page), the other's client goes away.
    b.report(&mut ok_req, ok(), true, at(2));
    drop(in_flight);
    assert_eq!(state(&b, 0), MemberState::Error);
    assert_eq!(run(&b, None, &[], at(3)).0, vec![1]);
    assert_eq!(
        b.health_checked(0, true, at(11)),
        Some(MemberState::Recover)
    );
}

#[test]
fn a_member_whose_health_check_fails_stays_in_error_until_a_check_passes() {
    let (b, t0) = lb("worker.lb.recover_time=60\nworker.maintain=60\n", "a,b");
    let at = |s: u64| t0 + Duration::from_secs(s);
    // CPing would pass; the application's check does not: a leaves the rotation.
    assert_eq!(b.health_checked(0, false, at(1)), Some(MemberState::Error));
    assert!(b.snapshot()[0].health_failing);
    assert_eq!(run(&b, Some("s.a"), &[], at(2)).0, vec![1]);
    // Failing again: no new error counted, no change.
    assert_eq!(b.health_checked(0, false, at(11)), None);
    assert_eq!(b.members[0].counters.errors.load(Ordering::Relaxed), 1);
    // Long past recover_time, maintenance does not mark it for recovery.
    assert!(b.maintain(at(300)));
    assert_eq!(state(&b, 0), MemberState::Error);
    // The first passing check does, and the next request to it is a probe.
    assert_eq!(
        b.health_checked(0, true, at(301)),
        Some(MemberState::Recover)
    );
    assert_eq!(b.health_checked(0, true, at(311)), None);
    let mut req = b.start(Some("s.a".into()), RequestOptions::default(), |_| true);
    let Step::Try(c) = b.next_step(&mut req) else {
        panic!("expected a try")
    };
    assert_eq!((c.member, c.probe), (0, true));
    b.begin(&req, &c);
    b.report(&mut req, ok(), true, at(312));
    assert_eq!(state(&b, 0), MemberState::Ok);
}

#[test]
fn a_passing_health_check_does_not_cut_short_an_error_the_requests_found() {
    let (b, t0) = lb("worker.lb.recover_time=60\nworker.maintain=60\n", "a,b");
    let (tried, _) = run(&b, Some("s.a"), &[0], t0);
    assert_eq!(tried, vec![0, 1]);
    assert_eq!(state(&b, 0), MemberState::Error);
    // The application answers its check, but the member failed a request: it waits
    // out recover_time as before.
    assert_eq!(b.health_checked(0, true, t0 + Duration::from_secs(5)), None);
    assert_eq!(state(&b, 0), MemberState::Error);
    assert!(b.maintain(t0 + Duration::from_secs(121)));
    assert_eq!(state(&b, 0), MemberState::Recover);
}

#[test]
fn a_member_failing_its_health_check_is_forced_back_only_while_nothing_else_serves() {
    let (b, t0) = lb("worker.lb.recover_time=60\nworker.maintain=1\n", "a,b");
    let at = |s: u64| t0 + Duration::from_secs(s);
    b.health_checked(0, false, at(1));
    b.health_checked(1, false, at(1));
    // Both in error: maintenance forces both back (mod_jk's forced recovery).
    assert!(b.maintain(at(2)));
    assert_eq!(
        (state(&b, 0), state(&b, 1)),
        (MemberState::Force, MemberState::Force)
    );
    // b's check passes: a, whose check still fails, goes back to error.
    assert_eq!(b.health_checked(1, true, at(3)), None);
    assert!(b.maintain(at(4)));
    assert_eq!(
        (state(&b, 0), state(&b, 1)),
        (MemberState::Error, MemberState::Force)
    );
    assert_eq!(run(&b, Some("s.a"), &[], at(5)).0, vec![1]);
}
