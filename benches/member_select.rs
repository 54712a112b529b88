//! Criterion benchmark of load-balancer member selection with 2, 16 and 256 members: one request's `start` + `next_step` + `begin` + `report` (success), without a session and with a sticky session id, as `jkd run` drives `jkd::balancer::Balancer` per request.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use jkd::balancer::{Balancer, Outcome, Report, RequestOptions, Step};
use jkd::config::workers::WorkerKind;

/// A workers.properties with one sticky `Request`-method balancer `lb` over `n`
/// members `node1..nodeN` (route = name), all on 127.0.0.1.
fn workers_properties(n: usize) -> String {
    let mut text = String::from(
        "worker.list=lb\n\
         worker.template.type=ajp13\n\
         worker.template.host=127.0.0.1\n\
         worker.template.socket_connect_timeout=5000\n\
         worker.lb.type=lb\n\
         worker.lb.sticky_session=true\n\
         worker.lb.method=Request\n",
    );
    let mut members = Vec::with_capacity(n);
    for i in 1..=n {
        let _ = writeln!(text, "worker.node{i}.reference=worker.template");
        let _ = writeln!(text, "worker.node{i}.port={}", 10000 + i);
        let _ = writeln!(text, "worker.node{i}.route=node{i}");
        members.push(format!("node{i}"));
    }
    let _ = writeln!(text, "worker.lb.balance_workers={}", members.join(","));
    text
}

fn balancer(n: usize) -> Balancer<()> {
    let text = workers_properties(n);
    let loaded =
        jkd::config::from_workers_bytes("workers.properties", text.as_bytes(), &|_: &str| None);
    let config = loaded.config.unwrap_or_else(|| {
        panic!(
            "the benchmark workers.properties is valid: {:?}",
            loaded.diagnostics
        )
    });
    let worker = config.worker("lb").expect("worker lb");
    let WorkerKind::Lb(settings) = &worker.kind else {
        panic!("lb is a load balancer");
    };
    assert_eq!(settings.members.len(), n);
    Balancer::new("lb", settings.clone(), 60, Instant::now(), |_| ())
}

/// One request through the balancer; returns the member it went to.
fn one_request(b: &Balancer<()>, session: Option<&str>, now: Instant) -> usize {
    let mut req = b.start(
        session.map(str::to_string),
        RequestOptions::default(),
        |_| true,
    );
    let Step::Try(choice) = b.next_step(&mut req) else {
        panic!("a healthy balancer chooses a member");
    };
    b.begin(&req, &choice);
    b.report(
        &mut req,
        Report {
            outcome: Outcome::Success,
            recoverable: true,
            bytes: 0,
        },
        true,
        now,
    );
    choice.member
}

fn select(c: &mut Criterion) {
    let mut group = c.benchmark_group("member_select");
    for n in [2usize, 16, 256] {
        let b = balancer(n);
        let now = Instant::now();
        // Sticky to the last member: with a route lookup by scanning, the worst case.
        let session = format!("0123456789ABCDEF0123456789ABCDEF.node{n}");
        assert_eq!(one_request(&b, Some(&session), now), n - 1);
        group.bench_with_input(BenchmarkId::new("no_session", n), &n, |bench, _| {
            bench.iter(|| one_request(black_box(&b), None, now))
        });
        group.bench_with_input(BenchmarkId::new("sticky_session", n), &n, |bench, _| {
            bench.iter(|| one_request(black_box(&b), Some(black_box(&session)), now))
        });
    }
    group.finish();
}

criterion_group!(benches, select);
criterion_main!(benches);
