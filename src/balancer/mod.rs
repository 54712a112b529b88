//! The load balancer: mod_jk's member selection, per-request retry loop, member states and maintenance, driven by an explicit clock.
//!
//! Everything here is synchronous and takes the current time as a parameter, so the
//! state machine is tested with a controlled clock. The front end drives one request
//! with [`Balancer::start`], then asks [`Balancer::next_step`] what to do and tells
//! [`Balancer::report`] how each attempt ended. Selection only ranks and filters by
//! the states it is given; only `report` and `maintain` change health.
//!
//! A balancer is generic over its members' endpoints (`E`: jkd's workers with their
//! connection pools), which it carries in each [`Member`] but never uses: no I/O here.
//! Each [`Member`] holds its definition, its lock-free counters and its endpoint; the
//! live state that selection reads across all members at once ([`MemberRuntime`]) is
//! kept in one table behind the balancer's lock, in member order (see `Inner::live`
//! for why it is not inside each member).

pub mod member;
pub mod session;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::values::{Activation, Lock, Method};
use crate::config::workers::{self, LbSettings, lb_mults};

pub use member::{Member, MemberCounters, MemberRuntime, MemberState, ResetCarry};

/// The load balancer settings the status manager may change while jkd runs
/// (mod_jk's `commit_worker`); everything else in [`LbSettings`] stays as configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LbTunables {
    pub sticky_session: bool,
    pub sticky_session_force: bool,
    pub method: Method,
    pub lock: Lock,
    pub retries: i32,
    /// milliseconds
    pub retry_interval: i32,
    /// seconds
    pub recover_time: i32,
    /// seconds
    pub error_escalation_time: i32,
    pub max_reply_timeouts: i32,
}

impl LbTunables {
    pub fn of(s: &LbSettings) -> LbTunables {
        LbTunables {
            sticky_session: s.sticky_session,
            sticky_session_force: s.sticky_session_force,
            method: s.method,
            lock: s.lock,
            retries: s.retries,
            retry_interval: s.retry_interval,
            recover_time: s.recover_time,
            error_escalation_time: s.error_escalation_time,
            max_reply_timeouts: s.max_reply_timeouts,
        }
    }
}

/// What the balancer's lock guards: every member's live state, and the balancer's.
#[derive(Debug)]
struct Inner {
    /// The lock table: the live state of [`Balancer::members`]`[i]` at position `i`.
    /// Selection compares every member's state, load value and activation, and a
    /// report changes them, so all of them sit behind this one lock: a selection never
    /// sees one member before a report and the next one after it, and costs one lock,
    /// not one per member. Built with the member list and never resized; only
    /// [`Inner::each`] and [`Inner::one`] pair the two by position.
    live: Vec<MemberRuntime>,
    /// Where the next round-robin scan starts (ties between equal load values).
    next_offset: usize,
    last_maintain: Instant,
    /// The live values of the changeable settings.
    tunables: LbTunables,
    /// When the balancer's own statistics were last reset.
    last_reset: Instant,
}

impl Inner {
    /// Each member with its live state.
    fn each<'a, E>(
        &'a mut self,
        members: &'a [Member<E>],
    ) -> impl Iterator<Item = (&'a Member<E>, &'a mut MemberRuntime)> {
        members.iter().zip(self.live.iter_mut())
    }

    /// Member `index` with its live state.
    fn one<'a, E>(
        &'a mut self,
        members: &'a [Member<E>],
        index: usize,
    ) -> Option<(&'a Member<E>, &'a mut MemberRuntime)> {
        Some((members.get(index)?, self.live.get_mut(index)?))
    }
}

/// One load balancer worker at run time, over members whose endpoints are `E` (jkd's
/// workers with their connection pools; `()` in the state machine's tests).
#[derive(Debug)]
pub struct Balancer<E> {
    pub name: String,
    /// The settings as configured; the ones the manager may change are read from
    /// [`Balancer::tunables`]. Its `members` are the definitions as read, kept whole
    /// so that a reload can compare; each is also its [`Member::definition`], which
    /// is where code reads a member.
    pub settings: LbSettings,
    /// `worker.maintain`, in seconds; 0 turns maintenance off.
    pub maintain_interval: u64,
    /// The members in configuration order; a member's position is its index in
    /// [`Choice::member`] and in the manager's commands. The member carries its
    /// definition, counters and endpoint; its live state is in the lock table.
    pub members: Vec<Member<E>>,
    inner: Mutex<Inner>,
    pub busy: AtomicU64,
    pub max_busy: AtomicU64,
    /// Requests with a session id that reached / did not reach the session's member.
    pub sticky_hits: AtomicU64,
    pub sticky_misses: AtomicU64,
    /// Attempts on another member after a failed attempt.
    pub failovers: AtomicU64,
    /// Attempts abandoned on the way (the request was dropped before it finished).
    pub cancelled: AtomicU64,
    /// The balancer a reload put in this one's place: long-lived work (an open
    /// WebSocket) follows it to see the member's current activation and state. Held
    /// strongly, so that the chain stays whole while something old still looks; it
    /// ends with the last holder of the oldest balancer.
    replaced_by: std::sync::OnceLock<Arc<Balancer<E>>>,
}

/// How one attempt on a member ended, as the AJP layer classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The exchange completed.
    Success,
    /// The client failed (read/write error, request too large): never failed over.
    ClientError,
    /// An internal error of jkd's own.
    ServerError,
    /// The backend sent bytes that are not AJP13.
    ProtocolError,
    /// A negative `fail_on_status` code: retry elsewhere, the member stays OK.
    StatusError,
    /// A positive `fail_on_status` code: the member goes to ERR.
    StatusFatal,
    /// `busy_limit` reached.
    Busy,
    /// No free connection slot for the member.
    NoConnection,
    /// A reply timeout.
    ReplyTimeout,
    /// The connection was refused or could not be made: the member is down.
    ConnectFailed,
    /// Any other failure (send or read error, unexpected close).
    Failed,
}

/// The report of one attempt.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    pub outcome: Outcome,
    /// Whether the request may still be sent to another member (nothing irrevocable
    /// happened), as decided by the AJP layer.
    pub recoverable: bool,
    /// AJP bytes read from and written to the backend (the Traffic method counts them).
    pub bytes: u64,
}

/// The member chosen for one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub member: usize,
    /// The route sent to the backend (the member's route, or the domain when the
    /// session was routed by domain).
    pub route: String,
    /// True when the member was reached through the session's route.
    pub sticky: bool,
    pub activation: Activation,
    /// The member is coming back from an error (recovery or forced recovery): the
    /// front end checks it answers CPing before risking the request on it.
    pub probe: bool,
}

/// What the front end does next for a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Forward the request to this member.
    Try(Choice),
    /// Wait this long, then ask again (mod_jk's `retry_interval` between rounds).
    Wait(Duration),
    /// Give up: no member could serve the request.
    Unavailable,
    /// Stop: the last attempt's outcome is final (success or an unrecoverable error).
    Done,
}

/// What [`Balancer::drain_check`] found about a member an operator wants to take down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drain {
    /// Its activation is still active: new sessions still go to it.
    Active,
    /// Requests (or WebSockets) still under way on it.
    InFlight(u64),
    /// A request of one of its sessions ended this long ago, within the quiet period.
    SessionsRecent { ago: Duration },
    /// No session request seen, but jkd has watched the member for less than the
    /// quiet period only (this long).
    NotWatchedLongEnough { watched: Duration },
    /// Nothing left on it: it can go down.
    Drained {
        activation: Activation,
        /// How long ago the last request of one of its sessions ended, if ever.
        since_session: Option<Duration>,
    },
}

/// Per-request options from the mount rule or the request.
#[derive(Clone, Debug, Default)]
pub struct RequestOptions {
    /// Ignore session routes (`sticky_ignore`).
    pub sticky_ignore: bool,
    /// Ignore load values and never count a new session (`stateless`).
    pub stateless: bool,
    /// Per-member activation overrides from the rule's `active`/`disabled`/`stopped`.
    pub activation: Option<Vec<Option<Activation>>>,
}

/// One attempt under way on a member, begun with [`Balancer::begin_owned`].
#[derive(Debug)]
#[must_use = "dropping an InFlight reports the attempt as cancelled"]
pub struct InFlight<E> {
    balancer: Arc<Balancer<E>>,
    attempts: Attempts,
    finished: bool,
}

impl<E> InFlight<E> {
    /// The request's retry state.
    pub fn attempts(&self) -> &Attempts {
        &self.attempts
    }

    /// Reports how the attempt ended; gives back the retry state for the next one.
    pub fn finish(mut self, report: Report, now: Instant) -> Attempts {
        self.finished = true;
        let mut attempts = std::mem::take(&mut self.attempts);
        self.balancer.report(&mut attempts, report, true, now);
        attempts
    }
}

impl<E> Drop for InFlight<E> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.balancer.cancelled.fetch_add(1, Ordering::Relaxed);
        let cancelled = Report {
            outcome: Outcome::ClientError,
            recoverable: false,
            bytes: 0,
        };
        self.balancer
            .report(&mut self.attempts, cancelled, true, Instant::now());
    }
}

/// The state of one request in the retry loop (mod_jk's `service` locals).
#[derive(Clone, Debug, Default)]
pub struct Attempts {
    states: Vec<MemberState>,
    session: Option<String>,
    options: RequestOptions,
    /// The route forwarded to the backends: set on the first choice and kept.
    route: Option<String>,
    attempt: usize,
    retry: i32,
    was_forced: bool,
    waiting: bool,
    finished: bool,
    pub last: Option<Choice>,
    pub last_outcome: Option<Outcome>,
}

impl Attempts {
    /// The session ids the request carried (`;`-separated), if stickiness applies.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }
}

/// Whether a member is defined the same before and after a reload, so that it keeps
/// its live state and counters. lb_mult follows from every member's lbfactor, so it is
/// left out and computed again.
fn unchanged(a: &workers::Member, b: &workers::Member) -> bool {
    a.name == b.name
        && a.ajp == b.ajp
        && a.lbfactor == b.lbfactor
        && a.distance == b.distance
        && a.route == b.route
        && a.domain == b.domain
        && a.redirect == b.redirect
        && a.activation == b.activation
}

/// How one attempt's outcome changes its member, with what [`Balancer::report`] knows
/// around it.
struct Judge<'a> {
    tunables: &'a LbTunables,
    /// Requests still in flight on the member, besides the one reported.
    busy_now: u64,
    now: Instant,
}

impl Judge<'_> {
    /// Applies `outcome` to member `m` (its counters `c`) and to `seen`, the member's
    /// state as the request sees it; returns whether the outcome ends the request
    /// whatever the AJP layer said (success, or the client's fault).
    fn apply(
        &self,
        outcome: Outcome,
        m: &mut MemberRuntime,
        c: &MemberCounters,
        seen: &mut MemberState,
    ) -> bool {
        let mark_error = |m: &mut MemberRuntime| {
            c.errors.fetch_add(1, Ordering::Relaxed);
            m.state = MemberState::Error;
            m.first_error = Some(self.now);
            m.last_error = Some(self.now);
        };
        // A member its health check put in error stays there whatever a request that
        // was already under way on it says: only a passing check (or the manager, or
        // a forced recovery) brings it back.
        let held = (m.health_failing && m.state == MemberState::Error)
            .then_some((m.first_error, m.last_error));
        let final_outcome = self.judge(outcome, m, c, seen, mark_error);
        if let Some((first_error, last_error)) = held {
            m.state = MemberState::Error;
            m.first_error = m.first_error.or(first_error);
            m.last_error = m.last_error.or(last_error);
        }
        final_outcome
    }

    /// [`Judge::apply`] for a member its health check does not hold in error.
    fn judge(
        &self,
        outcome: Outcome,
        m: &mut MemberRuntime,
        c: &MemberCounters,
        seen: &mut MemberState,
        mark_error: impl Fn(&mut MemberRuntime),
    ) -> bool {
        let mut final_outcome = false;
        match outcome {
            Outcome::Success => {
                m.state = MemberState::Ok;
                *seen = MemberState::Ok;
                m.first_error = None;
                m.last_error = None;
                final_outcome = true;
            }
            Outcome::ClientError => {
                c.client_errors.fetch_add(1, Ordering::Relaxed);
                m.state = MemberState::Ok;
                *seen = MemberState::Error;
                m.first_error = None;
                m.last_error = None;
                final_outcome = true;
            }
            Outcome::ServerError | Outcome::ProtocolError => {
                *seen = MemberState::Error;
            }
            Outcome::StatusError => {
                m.state = MemberState::Ok;
                *seen = MemberState::Error;
                m.first_error = None;
                m.last_error = None;
            }
            Outcome::Busy | Outcome::NoConnection => {
                if m.state != MemberState::Error {
                    m.state = MemberState::Busy;
                }
                *seen = MemberState::Busy;
            }
            Outcome::StatusFatal => {
                mark_error(m);
                *seen = MemberState::Error;
            }
            Outcome::ReplyTimeout => {
                // Counted here, in the same report that judges it, so no caller can
                // forget it or count it twice.
                let timeouts = c.reply_timeouts.fetch_add(1, Ordering::Relaxed) + 1;
                if timeouts > self.tunables.max_reply_timeouts.max(0) as u64 {
                    mark_error(m);
                }
                *seen = MemberState::Error;
            }
            Outcome::ConnectFailed => {
                // A refused or failed connect proves the member is down now: jkd stops
                // choosing it at once instead of keeping it in "local error" (mod_jk
                // does that while other requests are in flight on it).
                mark_error(m);
                *seen = MemberState::Error;
            }
            Outcome::Failed => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                let escalation = self.tunables.error_escalation_time;
                let lingering = m
                    .first_error
                    .is_some_and(|f| elapsed_secs(self.now, f) >= i64::from(escalation));
                if self.busy_now == 0 || escalation == 0 || lingering {
                    m.state = MemberState::Error;
                }
                *seen = MemberState::Error;
                if m.first_error.is_none() {
                    m.first_error = Some(self.now);
                }
                m.last_error = Some(self.now);
            }
        }
        final_outcome
    }
}

fn elapsed_secs(now: Instant, since: Instant) -> i64 {
    now.saturating_duration_since(since).as_secs() as i64
}

impl<E> Balancer<E> {
    /// A balancer as `settings` configure it, every member's endpoint made by
    /// `endpoint`.
    pub fn new(
        name: &str,
        settings: LbSettings,
        maintain_interval: u64,
        now: Instant,
        mut endpoint: impl FnMut(&workers::Member) -> E,
    ) -> Self {
        let members = settings
            .members
            .iter()
            .map(|definition| Member {
                definition: definition.clone(),
                counters: Arc::default(),
                endpoint: endpoint(definition),
            })
            .collect();
        let live = settings
            .members
            .iter()
            .map(|definition| MemberRuntime::configured(definition, now))
            .collect();
        Self::assemble(name, settings, maintain_interval, now, members, live)
    }

    /// The balancer of `members` and their `live` states (one each, in the same order).
    fn assemble(
        name: &str,
        settings: LbSettings,
        maintain_interval: u64,
        now: Instant,
        members: Vec<Member<E>>,
        live: Vec<MemberRuntime>,
    ) -> Self {
        let tunables = LbTunables::of(&settings);
        Balancer {
            name: name.to_string(),
            settings,
            maintain_interval,
            members,
            inner: Mutex::new(Inner {
                live,
                next_offset: 0,
                last_maintain: now,
                tunables,
                last_reset: now,
            }),
            busy: AtomicU64::new(0),
            max_busy: AtomicU64::new(0),
            sticky_hits: AtomicU64::new(0),
            sticky_misses: AtomicU64::new(0),
            failovers: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            replaced_by: std::sync::OnceLock::new(),
        }
    }

    /// Records that a reload put `next` in this balancer's place.
    pub fn replaced(&self, next: &Arc<Balancer<E>>) {
        let _ = self.replaced_by.set(next.clone());
    }

    /// The balancer in service now: this one, or the last that replaced it.
    pub fn current(self: &Arc<Self>) -> Arc<Balancer<E>> {
        let mut now = self.clone();
        while let Some(next) = now.replaced_by.get().cloned() {
            now = next;
        }
        now
    }

    /// The balancer for `settings` that follows this one on a reload. A member whose
    /// name and settings are unchanged keeps its state, load value, counters and what
    /// the manager changed on it; the balancer keeps the manager's changes to its own
    /// settings unless the file changed them. A member whose name and connection
    /// settings are unchanged keeps its endpoint (and so its open connections) even
    /// when its other settings changed; `endpoint` makes the others. A member whose
    /// name stays but whose settings changed starts from its new values, keeping its
    /// counters (busy included), when its session was last used and, on the same
    /// endpoint, a failing health check. Everything else starts as configured.
    /// Requests under way finish on this balancer.
    pub fn successor(
        &self,
        settings: LbSettings,
        maintain_interval: u64,
        now: Instant,
        mut endpoint: impl FnMut(&workers::Member) -> E,
    ) -> Balancer<E>
    where
        E: Clone,
    {
        let endpoints: Vec<E> = settings
            .members
            .iter()
            .map(|definition| {
                let same_connection = |m: &&Member<E>| {
                    m.definition.name == definition.name && m.definition.ajp == definition.ajp
                };
                match self.members.iter().find(same_connection) {
                    Some(m) => m.endpoint.clone(),
                    None => endpoint(definition),
                }
            })
            .collect();
        let mut old = self.inner.lock();
        let old_tunables = old.tunables;
        let mut members = Vec::with_capacity(endpoints.len());
        let mut live = Vec::with_capacity(endpoints.len());
        for (definition, endpoint) in settings.members.iter().zip(endpoints) {
            let same_name = old
                .each(&self.members)
                .find(|(m, _)| m.definition.name == definition.name);
            let (counters, state) = match same_name {
                Some((m, state)) if unchanged(&m.definition, definition) => {
                    (m.counters.clone(), state.clone())
                }
                // Changed in the file: its values start as configured, but it is the
                // same node: its counters go on (requests under way on the replaced
                // balancer count down the same busy count) and so does what jkd
                // learnt about it that the file cannot say.
                Some((m, state)) => {
                    let mut fresh = MemberRuntime::configured(definition, now);
                    fresh.last_session_request = state.last_session_request;
                    fresh.watched_since = state.watched_since;
                    if m.definition.ajp == definition.ajp && state.health_failing {
                        fresh.health_failing = true;
                        fresh.state = state.state;
                        fresh.first_error = state.first_error;
                        fresh.last_error = state.last_error;
                    }
                    (m.counters.clone(), fresh)
                }
                None => (Arc::default(), MemberRuntime::configured(definition, now)),
            };
            members.push(Member {
                definition: definition.clone(),
                counters,
                endpoint,
            });
            live.push(state);
        }
        // A kept member may carry an lbfactor the manager changed, so every lb_mult
        // is computed again.
        let factors: Vec<i32> = live.iter().map(|m| m.lbfactor).collect();
        for (m, mult) in live.iter_mut().zip(lb_mults(&factors)) {
            m.lb_mult = mult;
        }
        let keep_tunables = LbTunables::of(&self.settings) == LbTunables::of(&settings);
        let mut next = Self::assemble(&self.name, settings, maintain_interval, now, members, live);
        if keep_tunables {
            next.inner.get_mut().tunables = old_tunables;
        }
        next
    }

    /// A consistent copy of every member's live state, in member order.
    pub fn snapshot(&self) -> Vec<MemberRuntime> {
        self.inner.lock().live.clone()
    }

    /// A copy of member `index`'s live state.
    pub fn snapshot_of(&self, index: usize) -> Option<MemberRuntime> {
        self.inner.lock().live.get(index).cloned()
    }

    /// Each member with a copy of its live state, all copied under one lock.
    pub fn members_with_state(&self) -> impl Iterator<Item = (&Member<E>, MemberRuntime)> {
        self.members.iter().zip(self.snapshot())
    }

    /// Applies `f` to the runtime view of member `index` (the manager's updates).
    pub fn update_member(&self, index: usize, f: impl FnOnce(&mut MemberRuntime)) {
        let mut inner = self.inner.lock();
        if let Some(m) = inner.live.get_mut(index) {
            f(m);
        }
    }

    /// Begins a request: copies the member states (clearing BUSY where the member has
    /// room again, as told by `has_room`).
    pub fn start(
        &self,
        session: Option<String>,
        options: RequestOptions,
        has_room: impl Fn(&Member<E>) -> bool,
    ) -> Attempts {
        let mut inner = self.inner.lock();
        for (member, m) in inner.each(&self.members) {
            if m.state == MemberState::Busy && has_room(member) {
                m.state = MemberState::Ok;
            }
        }
        let states = inner.live.iter().map(|m| m.state).collect();
        let session = if inner.tunables.sticky_session && !options.sticky_ignore {
            session
        } else {
            None
        };
        Attempts {
            states,
            session,
            options,
            route: None,
            attempt: 0,
            retry: 0,
            was_forced: false,
            waiting: false,
            finished: false,
            last: None,
            last_outcome: None,
        }
    }

    fn activation_of(inner: &Inner, req: &Attempts, i: usize) -> Activation {
        req.options
            .activation
            .as_ref()
            .and_then(|a| a.get(i).copied().flatten())
            .unwrap_or(inner.live[i].activation)
    }

    /// The next thing to do for this request.
    pub fn next_step(&self, req: &mut Attempts) -> Step {
        if req.finished {
            return Step::Done;
        }
        let n = self.members.len();
        let lb_retries = self.settings.lb_retries.max(1) as usize;
        let tunables = self.tunables();
        loop {
            if req.waiting {
                req.waiting = false;
                let inner = self.inner.lock();
                req.states = inner.live.iter().map(|m| m.state).collect();
                req.attempt = 0;
            } else if req.attempt >= n || req.attempt >= lb_retries {
                req.retry += 1;
                if req.retry >= tunables.retries {
                    req.finished = true;
                    return Step::Unavailable;
                }
                req.waiting = true;
                let ms = tunables.retry_interval.max(0) as u64;
                return Step::Wait(Duration::from_millis(ms));
            }
            let mut inner = self.inner.lock();
            match self.select(&mut inner, req) {
                Some((member, sticky)) => {
                    let activation = Self::activation_of(&inner, req, member);
                    let route = req
                        .route
                        .get_or_insert_with(|| inner.live[member].route.clone())
                        .clone();
                    let probe = matches!(
                        inner.live[member].state,
                        MemberState::Recover | MemberState::Force
                    );
                    if inner.live[member].state == MemberState::Recover {
                        inner.live[member].state = MemberState::Probe;
                        req.states[member] = MemberState::Probe;
                    }
                    let choice = Choice {
                        member,
                        route,
                        sticky,
                        activation,
                        probe,
                    };
                    req.last = Some(choice.clone());
                    return Step::Try(choice);
                }
                None => {
                    if !req.was_forced {
                        req.was_forced = true;
                        if Self::force_recovery(&mut inner, &self.members, Some(&mut req.states))
                            > 0
                        {
                            continue;
                        }
                    }
                    req.attempt += 1;
                }
            }
        }
    }

    /// mod_jk's `get_most_suitable_worker`: `(member, sticky)`.
    fn select(&self, inner: &mut Inner, req: &mut Attempts) -> Option<(usize, bool)> {
        let n = inner.live.len();
        if n == 1 {
            let act = Self::activation_of(inner, req, 0);
            if req.states[0].sticky_usable(act) {
                if act != Activation::Disabled {
                    return Some((0, true));
                }
            } else {
                return None;
            }
        }
        if let Some(ids) = req.session.clone() {
            for route in session::routes(&ids) {
                if let Some(hit) = self.by_session_route(inner, req, route) {
                    return Some(hit);
                }
            }
            if inner.tunables.sticky_session_force {
                return None;
            }
        }
        if let Some(i) = self.best_by_value(inner, req) {
            return Some((i, false));
        }
        // All members unusable: the first member with a redirect names a hot standby.
        let redirect = inner
            .live
            .iter()
            .find(|m| !m.redirect.is_empty())
            .map(|m| m.redirect.clone())?;
        self.by_session_route(inner, req, &redirect)
            .map(|(i, _)| (i, false))
    }

    fn best_by_domain(inner: &Inner, req: &Attempts, route_or_domain: &str) -> Option<usize> {
        let domain = route_or_domain
            .split_once('.')
            .map_or(route_or_domain, |(d, _)| d);
        let mut best: Option<usize> = None;
        for (i, m) in inner.live.iter().enumerate() {
            if m.domain.is_empty() || m.domain != domain {
                continue;
            }
            if !req.states[i].usable(Self::activation_of(inner, req, i)) {
                continue;
            }
            let better = match best {
                None => true,
                Some(b) => {
                    let bm = &inner.live[b];
                    m.distance < bm.distance
                        || (m.lb_value < bm.lb_value && m.distance == bm.distance)
                }
            };
            if better {
                best = Some(i);
            }
        }
        best
    }

    fn by_route(inner: &Inner, route: &str) -> Option<usize> {
        inner.live.iter().position(|m| m.route == route)
    }

    /// mod_jk's `find_bysession_route`.
    fn by_session_route(
        &self,
        inner: &Inner,
        req: &mut Attempts,
        route: &str,
    ) -> Option<(usize, bool)> {
        let (mut candidate, uses_domain) = match Self::by_route(inner, route) {
            Some(i) => (Some(i), false),
            None => (Self::best_by_domain(inner, req, route), true),
        };
        let mut sticky = !uses_domain;
        let i = candidate?;
        if uses_domain {
            req.route = Some(inner.live[i].domain.clone());
        }
        if !req.states[i].sticky_usable(Self::activation_of(inner, req, i)) {
            sticky = false;
            let m = &inner.live[i];
            if inner.tunables.sticky_session_force {
                candidate = None;
            } else if !m.redirect.is_empty() {
                candidate = Self::by_route(inner, &m.redirect);
                req.route = None;
            } else if !m.domain.is_empty() && !uses_domain {
                candidate = Self::best_by_domain(inner, req, &m.domain);
                req.route = candidate.map(|_| m.domain.clone());
            } else {
                candidate = None;
            }
            if let Some(c) = candidate
                && !req.states[c].sticky_usable(Self::activation_of(inner, req, c))
            {
                candidate = None;
            }
        }
        candidate.map(|c| (c, sticky))
    }

    /// mod_jk's `find_best_byvalue`: the usable member of the lowest distance with the
    /// lowest load value, scanning from a rotating offset so ties alternate.
    fn best_by_value(&self, inner: &mut Inner, req: &Attempts) -> Option<usize> {
        let n = inner.live.len();
        let mut best: Option<usize> = None;
        let offset = inner.next_offset;
        let mut next_offset = offset;
        for j in offset..offset + n {
            let i = j % n;
            if !req.states[i].usable(Self::activation_of(inner, req, i)) {
                continue;
            }
            let m = &inner.live[i];
            let better = match best {
                None => true,
                Some(b) => {
                    let bm = &inner.live[b];
                    m.distance < bm.distance
                        || (!req.options.stateless
                            && m.lb_value < bm.lb_value
                            && m.distance == bm.distance)
                }
            };
            if better {
                best = Some(i);
                next_offset = i + 1;
            }
        }
        inner.next_offset = next_offset;
        best
    }

    /// Accounts a chosen member before the request is forwarded (load value, new
    /// session, busy counts). Call once the connection was obtained.
    pub fn begin(&self, req: &Attempts, choice: &Choice) {
        if req.last_outcome.is_some() {
            self.failovers.fetch_add(1, Ordering::Relaxed);
        } else if req.session.is_some() {
            let c = if choice.sticky {
                &self.sticky_hits
            } else {
                &self.sticky_misses
            };
            c.fetch_add(1, Ordering::Relaxed);
        }
        let mut inner = self.inner.lock();
        let busy = self.busy.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_busy.fetch_max(busy, Ordering::Relaxed);
        let new_session = req.session.is_none() && !req.options.stateless;
        let counts = match inner.tunables.method {
            Method::Request | Method::Busyness => true,
            Method::Sessions | Method::Next => new_session,
            Method::Traffic => false,
        };
        let Some((member, m)) = inner.one(&self.members, choice.member) else {
            return;
        };
        let c = &member.counters;
        c.elected.fetch_add(1, Ordering::Relaxed);
        let member_busy = c.busy.fetch_add(1, Ordering::Relaxed) + 1;
        c.max_busy.fetch_max(member_busy, Ordering::Relaxed);
        if new_session {
            c.sessions.fetch_add(1, Ordering::Relaxed);
        }
        if counts {
            m.lb_value = m.lb_value.saturating_add(m.lb_mult);
        }
    }

    /// [`Balancer::begin`] with an owner: the returned guard keeps the member busy
    /// until [`InFlight::finish`] reports how the attempt ended, or, when the request
    /// is dropped on the way (the client went away while jkd waited for the backend),
    /// reports it as a client error from its `Drop`. Busy counts and the Busyness
    /// load value cannot leak.
    pub fn begin_owned(self: &Arc<Self>, attempts: Attempts, choice: &Choice) -> InFlight<E> {
        self.begin(&attempts, choice);
        InFlight {
            balancer: self.clone(),
            attempts,
            finished: false,
        }
    }

    /// Records how an attempt ended and updates the member's state, as mod_jk's
    /// `service` does after each attempt. `began` says whether [`Balancer::begin`] was
    /// called for it (not when no connection could be had).
    pub fn report(&self, req: &mut Attempts, report: Report, began: bool, now: Instant) {
        let Some(choice) = req.last.clone() else {
            return;
        };
        let i = choice.member;
        req.last_outcome = Some(report.outcome);
        let mut inner = self.inner.lock();
        let tunables = inner.tunables;
        let Some((member, m)) = inner.one(&self.members, i) else {
            return;
        };
        let c = &member.counters;
        // mod_jk calls the only member of a balancer "sticky" for every request: a
        // session request is one that carried a session id.
        let session_request = began && choice.sticky && req.session.is_some();
        if began {
            c.busy.fetch_sub(1, Ordering::Relaxed);
            if session_request {
                m.last_session_request = Some(now);
            }
        }
        // Requests still in flight on this member, besides this one.
        let busy_now = c.busy.load(Ordering::Relaxed);
        if began {
            match tunables.method {
                Method::Traffic => {
                    m.lb_value = m
                        .lb_value
                        .saturating_add(report.bytes.saturating_mul(m.lb_mult));
                }
                Method::Busyness => m.lb_value = m.lb_value.saturating_sub(m.lb_mult),
                _ => {}
            }
            if m.state != MemberState::Error {
                m.state = MemberState::Ok;
                req.states[i] = MemberState::Ok;
            }
            self.busy.fetch_sub(1, Ordering::Relaxed);
        }
        let judge = Judge {
            tunables: &tunables,
            busy_now,
            now,
        };
        let final_outcome = judge.apply(report.outcome, m, c, &mut req.states[i]);
        if final_outcome || !report.recoverable {
            req.finished = true;
        }
        req.attempt += 1;
        let replaced = session_request && self.replaced_by.get().is_some();
        let name = replaced.then(|| member.definition.name.clone());
        drop(inner);
        // A request that began before a reload ends here; the balancer in service
        // learns that the node's session was used too (for `/drained`).
        if let Some(name) = name {
            let mut next = self.replaced_by.get().cloned();
            while let Some(b) = next {
                if let Some(index) = b.members.iter().position(|m| m.name() == name) {
                    b.update_member(index, |m| m.last_session_request = Some(now));
                }
                next = b.replaced_by.get().cloned();
            }
        }
    }

    /// Whether member `name` can be taken down without cutting a request or a
    /// session still in use: it must be disabled or stopped, have nothing in flight
    /// (open WebSockets included), and have had no request routed to it by a session
    /// for `quiet`. `None` when the balancer has no such member.
    pub fn drain_check(&self, name: &str, quiet: Duration, now: Instant) -> Option<Drain> {
        let index = self.members.iter().position(|m| m.name() == name)?;
        let inner = self.inner.lock();
        let m = inner.live.get(index)?;
        let busy = self.members[index].counters.busy.load(Ordering::Relaxed);
        let since_session = m
            .last_session_request
            .map(|t| now.saturating_duration_since(t));
        let watched = now.saturating_duration_since(m.watched_since);
        Some(if m.activation == Activation::Active {
            Drain::Active
        } else if busy > 0 {
            Drain::InFlight(busy)
        } else {
            match since_session {
                Some(ago) if ago < quiet => Drain::SessionsRecent { ago },
                // jkd cannot know of sessions used before it watched the member (a
                // restart, or another jkd still draining beside this one).
                None if watched < quiet => Drain::NotWatchedLongEnough { watched },
                _ => Drain::Drained {
                    activation: m.activation,
                    since_session,
                },
            }
        })
    }

    /// Marks every member in error for a forced recovery attempt (in `states` too, the
    /// request's view, when given); returns how many.
    fn force_recovery(
        inner: &mut Inner,
        members: &[Member<E>],
        mut states: Option<&mut Vec<MemberState>>,
    ) -> usize {
        let mut forced = 0;
        for (i, (member, m)) in inner.each(members).enumerate() {
            if m.state == MemberState::Error {
                member.counters.reply_timeouts.store(0, Ordering::Relaxed);
                m.state = MemberState::Force;
                if let Some(s) = states.as_deref_mut() {
                    s[i] = MemberState::Force;
                }
                forced += 1;
            }
        }
        forced
    }

    /// Global maintenance, at most once per `worker.maintain` seconds: decays load
    /// values and reply-timeout counts, marks members for recovery after
    /// `recover_time`, escalates lingering local errors, and marks idle members.
    /// Returns whether it ran.
    pub fn maintain(&self, now: Instant) -> bool {
        if self.maintain_interval == 0 {
            return false;
        }
        let mut inner = self.inner.lock();
        let elapsed = now.saturating_duration_since(inner.last_maintain).as_secs();
        if elapsed < self.maintain_interval {
            return false;
        }
        let intervals = elapsed / self.maintain_interval;
        let exponent = intervals.min(63) as u32;
        // Advance by whole intervals rather than to `now`: the periodic timer fires a
        // little late by a varying amount, and `now - last` measured from the previous
        // (later) firing would often fall just short of one interval and skip a run.
        inner.last_maintain += Duration::from_secs(intervals * self.maintain_interval);
        let tunables = inner.tunables;
        let method = tunables.method;
        let mut curmax = 0;
        for (member, m) in inner.each(&self.members) {
            if method != Method::Busyness {
                if method != Method::Next {
                    m.lb_value >>= exponent;
                }
                curmax = curmax.max(m.lb_value);
            }
            let rt = &member.counters.reply_timeouts;
            rt.store(rt.load(Ordering::Relaxed) >> exponent, Ordering::Relaxed);
        }
        if method == Method::Next {
            let min = inner
                .live
                .iter()
                .filter(|m| m.state.usable(m.activation))
                .map(|m| m.lb_value)
                .min()
                .unwrap_or(0);
            for m in &mut inner.live {
                m.lb_value = m.lb_value.saturating_sub(min);
            }
        }
        // Strictly after recover_time, measured exactly: whole seconds truncated down
        // would mean recover_time + 1.
        let recover = Duration::from_secs(tunables.recover_time.max(0) as u64);
        let escalation = i64::from(tunables.error_escalation_time);
        let mut non_error = 0;
        for (member, m) in inner.each(&self.members) {
            let used = member.counters.elected.load(Ordering::Relaxed);
            if m.state == MemberState::Error {
                let since = m
                    .last_error
                    .map_or(Duration::MAX, |t| now.saturating_duration_since(t));
                // A member whose application health check fails comes back only
                // through a passing check (`health_checked`), not after recover_time:
                // its CPing would pass while the application is dead.
                if since > recover && !m.health_failing {
                    if method != Method::Busyness {
                        m.lb_value = curmax;
                    }
                    member.counters.reply_timeouts.store(0, Ordering::Relaxed);
                    m.state = MemberState::Recover;
                    non_error += 1;
                }
            } else if m
                .first_error
                .is_some_and(|f| elapsed_secs(now, f) >= escalation)
                && m.state != MemberState::Recover
            {
                m.state = MemberState::Error;
            } else {
                non_error += 1;
                if m.state == MemberState::Ok && used == m.elected_snapshot {
                    m.state = MemberState::Idle;
                }
            }
            m.elected_snapshot = used;
        }
        if non_error == 0 {
            Self::force_recovery(&mut inner, &self.members, None);
        }
        // A member whose application check fails is forced back only while no other
        // member can take requests (mod_jk's forced recovery: better a try than a
        // certain 503); once one can, it returns to error until a check passes.
        let healthy = inner
            .live
            .iter()
            .any(|m| m.state.usable(m.activation) && !m.health_failing);
        if healthy {
            for m in &mut inner.live {
                if m.state == MemberState::Force && m.health_failing {
                    m.state = MemberState::Error;
                }
            }
        }
        true
    }

    /// The result of member `index`'s application health check (jkd's
    /// `health_check_uri`). A failure puts the member in error (counted as one) and
    /// keeps it there: maintenance does not mark it for recovery while its check
    /// fails. The first pass after failures marks it for recovery at once, as the
    /// manager's `recover` does (its next request is a probe). Returns the member's
    /// state when this result changed it.
    pub fn health_checked(&self, index: usize, passed: bool, now: Instant) -> Option<MemberState> {
        let mut inner = self.inner.lock();
        let curmax = if inner.tunables.method == Method::Busyness {
            None
        } else {
            inner.live.iter().map(|m| m.lb_value).max()
        };
        let (member, m) = inner.one(&self.members, index)?;
        if !passed {
            let was_failing = std::mem::replace(&mut m.health_failing, true);
            m.last_error = Some(now);
            if m.state == MemberState::Error && was_failing {
                return None;
            }
            member.counters.errors.fetch_add(1, Ordering::Relaxed);
            m.first_error.get_or_insert(now);
            m.state = MemberState::Error;
            return Some(MemberState::Error);
        }
        if !std::mem::replace(&mut m.health_failing, false) || m.state != MemberState::Error {
            return None;
        }
        if let Some(v) = curmax {
            m.lb_value = v;
        }
        member.counters.reply_timeouts.store(0, Ordering::Relaxed);
        m.state = MemberState::Recover;
        Some(MemberState::Recover)
    }

    /// The manager's `recover`: an ERR member is marked for recovery at once.
    pub fn recover(&self, index: usize) -> bool {
        let mut inner = self.inner.lock();
        let curmax = if inner.tunables.method == Method::Busyness {
            None
        } else {
            inner.live.iter().map(|m| m.lb_value).max()
        };
        let Some((member, m)) = inner.one(&self.members, index) else {
            return false;
        };
        if m.state != MemberState::Error {
            return false;
        }
        if let Some(v) = curmax {
            m.lb_value = v;
        }
        member.counters.reply_timeouts.store(0, Ordering::Relaxed);
        m.state = MemberState::Recover;
        true
    }

    /// The live values of the settings the manager may change.
    pub fn tunables(&self) -> LbTunables {
        self.inner.lock().tunables
    }

    /// Replaces the changeable settings; requests already under way keep the values
    /// they started with only where they copied them.
    pub fn set_tunables(&self, tunables: LbTunables) {
        self.inner.lock().tunables = tunables;
    }

    /// When the last global maintenance ran (or the balancer was created).
    pub fn last_maintain(&self) -> Instant {
        self.inner.lock().last_maintain
    }

    /// When the balancer's statistics were last reset (or the balancer was created).
    pub fn last_reset(&self) -> Instant {
        self.inner.lock().last_reset
    }

    /// Sets a member's lbfactor (at least 1) and recomputes every member's lb_mult,
    /// as mod_jk's `update_mult`. Returns false for an unknown member.
    pub fn set_lbfactor(&self, index: usize, lbfactor: i32) -> bool {
        let mut inner = self.inner.lock();
        let Some(m) = inner.live.get_mut(index) else {
            return false;
        };
        m.lbfactor = lbfactor.max(1);
        let factors: Vec<i32> = inner.live.iter().map(|m| m.lbfactor).collect();
        for (m, mult) in inner.live.iter_mut().zip(lb_mults(&factors)) {
            m.lb_mult = mult;
        }
        true
    }

    /// Sets every member's load value to 0 (mod_jk's `reset_lb_values`, done when an
    /// activation changes); Busyness keeps its values, they count requests in flight.
    pub fn reset_lb_values(&self) {
        let mut inner = self.inner.lock();
        if inner.tunables.method != Method::Busyness {
            for m in &mut inner.live {
                m.lb_value = 0;
            }
        }
    }

    /// The manager's reset of one member: state OK/IDLE, no error times, load value
    /// and statistics counters 0 (`busy` stays: those requests are still running).
    pub fn reset_member(&self, index: usize, now: Instant) -> bool {
        let mut inner = self.inner.lock();
        let Some((member, m)) = inner.one(&self.members, index) else {
            return false;
        };
        m.state = MemberState::Idle;
        m.elected_snapshot = 0;
        m.first_error = None;
        m.last_error = None;
        m.lb_value = 0;
        m.last_reset = now;
        member.counters.reset_statistics();
        true
    }

    /// The manager's reset of the whole balancer: its own max_busy and reset time,
    /// then every member as [`Balancer::reset_member`].
    pub fn reset(&self, now: Instant) {
        {
            let mut inner = self.inner.lock();
            inner.last_reset = now;
        }
        self.max_busy.store(0, Ordering::Relaxed);
        for i in 0..self.members.len() {
            self.reset_member(i, now);
        }
    }
}

#[cfg(test)]
mod tests;
