//! One balancer member: its definition, counters and endpoint ([`Member`]), and the live state the balancer's lock guards for it ([`MemberRuntime`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::config::values::Activation;
use crate::config::workers;

/// One member of a balancer: what the configuration says of it, its counters, and
/// the endpoint requests go to (for jkd, the worker with its connection pool; the
/// balancer itself never touches it, so it stays free of I/O).
#[derive(Debug)]
pub struct Member<E> {
    /// The member as configured in workers.properties; the values the manager may
    /// change are copied into its [`MemberRuntime`] and read from there.
    pub definition: workers::Member,
    /// Shared with the balancer that follows a reload when the member is unchanged.
    pub counters: Arc<MemberCounters>,
    pub endpoint: E,
}

impl<E> Member<E> {
    pub fn name(&self) -> &str {
        &self.definition.name
    }
}

/// A member's state, as mod_jk's `JK_LB_STATE_*`; the order matters: everything up to
/// `Force` may be chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemberState {
    Idle = 0,
    Ok = 1,
    Recover = 2,
    Force = 3,
    Busy = 4,
    Error = 5,
    Probe = 6,
}

impl MemberState {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Idle => "OK/IDLE",
            MemberState::Ok => "OK",
            MemberState::Recover => "ERR/REC",
            MemberState::Force => "ERR/FRC",
            MemberState::Busy => "OK/BUSY",
            MemberState::Error => "ERR",
            MemberState::Probe => "ERR/PRB",
        }
    }

    /// May take new (non-sticky) requests.
    pub fn usable(self, activation: Activation) -> bool {
        self <= MemberState::Force && activation == Activation::Active
    }

    /// May take requests that stick to it (disabled members still do).
    pub fn sticky_usable(self, activation: Activation) -> bool {
        self <= MemberState::Force && activation != Activation::Stopped
    }
}

/// Counters of one member that the status page and metrics read; updated lock-free.
#[derive(Debug, Default)]
pub struct MemberCounters {
    pub elected: AtomicU64,
    pub sessions: AtomicU64,
    pub errors: AtomicU64,
    pub client_errors: AtomicU64,
    pub reply_timeouts: AtomicU64,
    pub busy: AtomicU64,
    pub max_busy: AtomicU64,
    pub transferred: AtomicU64,
    pub read: AtomicU64,
    /// What the manager's resets took away from the counters above, so that totals
    /// exported to monitoring never go down (Prometheus counters must not).
    pub before_resets: ResetCarry,
}

/// The counted values the manager's resets set back to 0.
#[derive(Debug, Default)]
pub struct ResetCarry {
    pub elected: AtomicU64,
    pub sessions: AtomicU64,
    pub errors: AtomicU64,
    pub client_errors: AtomicU64,
    pub transferred: AtomicU64,
    pub read: AtomicU64,
}

impl MemberCounters {
    /// The manager's reset: the statistics start again from 0, their totals (see
    /// [`MemberCounters::total`]) go on.
    pub fn reset_statistics(&self) {
        let carry = &self.before_resets;
        for (counter, carried) in [
            (&self.elected, &carry.elected),
            (&self.sessions, &carry.sessions),
            (&self.errors, &carry.errors),
            (&self.client_errors, &carry.client_errors),
            (&self.transferred, &carry.transferred),
            (&self.read, &carry.read),
        ] {
            carried.fetch_add(counter.swap(0, Ordering::Relaxed), Ordering::Relaxed);
        }
        self.reply_timeouts.store(0, Ordering::Relaxed);
        self.max_busy.store(0, Ordering::Relaxed);
    }

    /// A counter's value since start, resets included.
    pub fn total(counter: &AtomicU64, carried: &AtomicU64) -> u64 {
        counter
            .load(Ordering::Relaxed)
            .saturating_add(carried.load(Ordering::Relaxed))
    }
}

/// The runtime view of a member: configuration that the manager may change, plus state.
///
/// Selection reads these of every member at once, so they live in the balancer's lock
/// table ([`super::Balancer`]'s `Inner::live`), not in [`Member`].
#[derive(Clone, Debug)]
pub struct MemberRuntime {
    pub name: String,
    pub route: String,
    pub domain: String,
    pub redirect: String,
    pub activation: Activation,
    pub lbfactor: i32,
    pub lb_mult: u64,
    pub distance: i32,
    pub lb_value: u64,
    pub state: MemberState,
    pub first_error: Option<Instant>,
    pub last_error: Option<Instant>,
    /// When the member's statistics were last reset (startup or the manager's reset).
    pub last_reset: Instant,
    /// `counters.elected` at the last maintenance: unchanged since means idle.
    pub(super) elected_snapshot: u64,
    /// The member's application health check failed last time it ran: it stays in
    /// error (no recovery after `recover_time`) until a check passes.
    pub health_failing: bool,
    /// When the last request routed here by its session ended: how an operator
    /// knows that a drained member's sessions have gone quiet.
    pub last_session_request: Option<Instant>,
    /// Since when this process has known the member (its sessions before are unknown).
    pub watched_since: Instant,
}

impl MemberRuntime {
    /// A member as configured, idle, its statistics starting at `now`.
    pub(super) fn configured(definition: &workers::Member, now: Instant) -> MemberRuntime {
        MemberRuntime {
            name: definition.name.clone(),
            route: definition.route.clone(),
            domain: definition.domain.clone(),
            redirect: definition.redirect.clone(),
            activation: definition.activation,
            lbfactor: definition.lbfactor,
            lb_mult: definition.lb_mult,
            distance: definition.distance,
            lb_value: 0,
            state: MemberState::Idle,
            first_error: None,
            last_error: None,
            last_reset: now,
            elected_snapshot: 0,
            health_failing: false,
            last_session_request: None,
            watched_since: now,
        }
    }
}
