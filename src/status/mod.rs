//! The status worker (mod_jk's `jkstatus`): lists balancers, members and AJP workers in html, xml, txt, prop and JSON, and changes members and balancers at run time, answering as mod_jk 1.2.48's `jk_status.c` does.
//!
//! [`respond`] serves one HTTP request for a status worker; [`render`] is the same
//! without I/O (the caller resolves backend addresses and reads the clock), which is
//! what the tests drive. Every answer has status 200, even errors and "Access
//! denied.", with `Content-Type`, `Cache-Control: no-cache` and `Pragma: no-cache`,
//! except a change made from one of the page's forms, answered `303 See Other` back
//! to the page. [`auth`] decides who may ask what before the status worker runs.
//!
//! Versions: `web_server` is `jkd/<version>`; `jk_version` is
//! `mod_jk/1.2.48+jkd-<version>`, which keeps the `mod_jk/1.2.48` prefix that
//! scripts compare, adds jkd's version as semver build metadata, and has no space
//! (the txt format prints it unquoted).

pub mod actions;
pub mod auth;
pub mod clock;
pub mod html;
pub mod machine;
pub mod page;
pub mod params;
pub mod state_file;
pub mod view;

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

use crate::config::workers::{StatusSettings, WorkerKind};
use crate::runtime::{ConnInfo, ProxyBody, Runtime, StatusPages, Target};
use actions::Actor;
use clock::Clock;
use page::{Body, EditForm, Head, Page, Section, Server};
use params::{Command, Mime, Params, opt};
use view::{Addresses, Gather, Ratings, Stamp};

/// The status manager serving a runtime's status workers, with its access state.
pub struct StatusService {
    manager: auth::Manager,
}

impl std::fmt::Debug for StatusService {
    // The manager holds password hashes and the form token: not for logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatusService")
    }
}

impl StatusService {
    pub fn new(manager: auth::Manager) -> Self {
        StatusService { manager }
    }
}

impl StatusPages for StatusService {
    fn serve<'a>(
        &'a self,
        rt: &'a Runtime,
        worker: &'a str,
        parts: &'a http::request::Parts,
        body: hyper::body::Incoming,
        conn: ConnInfo,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response<ProxyBody>> + Send + 'a>> {
        Box::pin(auth::serve_with(
            &self.manager,
            rt,
            worker,
            parts,
            body,
            conn,
        ))
    }
}

/// The mod_jk release whose status worker jkd reproduces.
pub const MOD_JK_VERSION: &str = "1.2.48";

/// `web_server` of the status page.
pub fn web_server() -> String {
    format!("jkd/{}", env!("CARGO_PKG_VERSION"))
}

/// `jk_version` of the status page.
pub fn jk_version() -> String {
    format!("mod_jk/{MOD_JK_VERSION}+jkd-{}", env!("CARGO_PKG_VERSION"))
}

/// What the status worker needs to know about the HTTP request.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The raw query string (`None` when the URI has no `?`).
    pub query: Option<&'a str>,
    /// The path links and forms point back to: the status worker's mount
    /// ([`base_path`]), not the request-target.
    pub path: &'a str,
    /// The host the client asked for (Host header without the port).
    pub server_name: &'a str,
    pub server_port: u16,
    /// The client's address, for the log.
    pub client: &'a str,
    /// The authenticated user; the status worker's `user` list is checked against it.
    pub remote_user: Option<&'a str>,
    /// What jkd adds to mod_jk's access model.
    pub access: Access<'a>,
}

/// jkd's additions to mod_jk's access model, decided by the front end ([`auth`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Access<'a> {
    /// Someone can sign in and write (jkd was given `--manager-users`); without it
    /// the manager is read-only, as with `read_only=true`.
    pub writable: bool,
    /// The token the page's forms carry.
    pub token: &'a str,
    /// The request is a POST from one of the page's forms: a change that succeeds
    /// answers `303 See Other` back to the page instead of mod_jk's result page.
    pub from_form: bool,
}

/// What the front end settled about one request before the status worker runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Caller<'a> {
    /// The parameters (the URI's query, with a POST's form fields after it).
    pub query: Option<&'a str>,
    /// The signed-in user, if any.
    pub remote_user: Option<&'a str>,
    pub access: Access<'a>,
}

/// A rendered answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub content_type: &'static str,
    pub body: String,
    /// Where a form's successful change sends the browser (`303 See Other`).
    pub location: Option<String>,
}

fn settings_of<'a>(rt: &'a Runtime, worker: &str) -> Option<&'a StatusSettings> {
    match &rt.config.worker(worker)?.kind {
        WorkerKind::Status(s) => Some(s),
        _ => None,
    }
}

/// The status worker's `user` list: empty lets everyone in; otherwise the request
/// must carry one of the names (compared as `user_case_insensitive` says).
fn access_denied(st: &StatusSettings, req: &Request<'_>, worker: &str) -> bool {
    if st.users.is_empty() {
        return false;
    }
    let allowed = req.remote_user.is_some_and(|user| {
        st.users.iter().any(|u| {
            if st.user_case_insensitive {
                u.eq_ignore_ascii_case(user)
            } else {
                u == user
            }
        })
    });
    if !allowed {
        tracing::warn!(
            status_worker = ?worker,
            user = ?req.remote_user.unwrap_or("(none)"),
            client = ?req.client,
            "status worker access denied: the user is not in worker.{worker}.user"
        );
    }
    !allowed
}

/// Checks `w` and `sw` as mod_jk's `check_worker`; wildcards in `sw` only where
/// `wildcards_allowed` (update).
fn check_worker(rt: &Runtime, params: &Params, wildcards_allowed: bool) -> Result<(), String> {
    let Some(name) = params.get("w").filter(|w| !w.is_empty()) else {
        return Err("NULL or EMPTY worker param".into());
    };
    let sub = params.get("sw");
    if sub == Some("") {
        return Err("EMPTY sub worker param".into());
    }
    let Some(target) = rt.targets.get(name) else {
        return Err("Could not find given worker".into());
    };
    let Some(sub) = sub else {
        return Ok(());
    };
    if actions::is_wildcard(sub) && !wildcards_allowed {
        return Err("wildcard not allowed in sub worker for this command".into());
    }
    let Target::Lb(lb) = target else {
        return Err("worker type has no sub workers".into());
    };
    if actions::matching_members(lb, sub).is_empty() {
        return Err("could not find sub worker".into());
    }
    Ok(())
}

/// `cmd=list`: balancers of `worker.list` first, then AJP workers; a name listed
/// twice is listed twice, status workers are left out.
fn list(g: &Gather<'_>, params: &Params) -> Body {
    let mut balancers = Section::new(params.option(opt::NO_LB));
    let mut ajp_workers = Section::new(params.option(opt::NO_AJP));
    for name in &g.rt.config.worker_list {
        match g.rt.targets.get(name) {
            Some(Target::Lb(lb)) => {
                balancers.count += 1;
                if !balancers.hidden {
                    balancers.items.push(g.lb(name, lb, None));
                }
            }
            Some(Target::Ajp(w)) => {
                ajp_workers.count += 1;
                if !ajp_workers.hidden {
                    ajp_workers.items.push(g.ajp(name, w));
                }
            }
            _ => {}
        }
    }
    Body::List {
        balancers,
        ajp_workers,
    }
}

/// `cmd=show`: one worker, or one member with `sw`; a status worker shows nothing.
fn show(g: &Gather<'_>, params: &Params) -> Body {
    let name = params.get("w").unwrap_or_default();
    match g.rt.targets.get(name) {
        Some(Target::Lb(lb)) => {
            let only = params
                .get("sw")
                .and_then(|sw| lb.members.iter().position(|m| m.name() == sw));
            Body::Balancer(g.lb(name, lb, only))
        }
        Some(Target::Ajp(w)) => Body::Ajp(g.ajp(name, w)),
        _ => Body::Nothing,
    }
}

/// `cmd=edit` (HTML only): the form for a balancer, a member, one attribute of all
/// members, or a plain worker.
fn edit(g: &Gather<'_>, params: &Params) -> Result<Body, String> {
    let name = params.get("w").unwrap_or_default();
    let form = match g.rt.targets.get(name) {
        Some(Target::Lb(lb)) => match params.get("sw").filter(|s| !s.is_empty()) {
            Some(sw) => {
                let index = lb.members.iter().position(|m| m.name() == sw);
                EditForm::Member(g.lb(name, lb, index))
            }
            None => match params.get("att") {
                Some(att) => EditForm::AllMembers(g.lb(name, lb, None), att.to_string()),
                None => EditForm::Balancer(g.lb(name, lb, None)),
            },
        },
        Some(Target::Ajp(w)) => EditForm::Ajp(g.ajp(name, w)),
        _ => return Err("Error in generating this worker's configuration form.".into()),
    };
    Ok(Body::Edit(form))
}

/// `cmd=dump`: the configuration map as read at startup; keys ending in `.secret`
/// are left out (as mod_jk, only when the key is longer than 8 bytes).
fn dump(rt: &Runtime) -> Body {
    Body::Dump(
        rt.config
            .properties
            .entries()
            .iter()
            .filter(|e| !(e.key.len() > 8 && e.key.ends_with(".secret")))
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect(),
    )
}

/// Renders the answer of status worker `worker` to one request.
pub fn render(
    rt: &Runtime,
    worker: &str,
    req: &Request<'_>,
    clock: Clock,
    addresses: &Addresses,
) -> Reply {
    let fallback;
    let st = match settings_of(rt, worker) {
        Some(s) => s,
        None => {
            fallback = read_only_settings();
            &fallback
        }
    };
    let params = Params::parse(req.query);
    let command = params.command();
    let mime = params.mime();
    let read_only = st.read_only || params.option(opt::READ_ONLY) || !req.access.writable;
    let error = refusal(rt, st, req, worker, &params, read_only);
    let mut page = Page {
        server: None,
        head: None,
        body: Body::Nothing,
        outcome: Ok(()),
    };
    let mut action_done = false;
    if let (None, Some(command), Some(mime)) = (&error, command, mime) {
        if command.is_action() {
            let actor = Actor {
                status_worker: worker,
                user: req.remote_user,
                client: req.client,
            };
            page.outcome = match command {
                Command::Update => actions::update(rt, &params, &actor),
                Command::Reset => actions::reset(rt, &params, &actor, clock.now, clock.unix),
                _ => actions::recover(rt, &params, &actor),
            };
            action_done = page.outcome.is_ok();
        } else {
            let gather = Gather {
                rt,
                clock,
                addresses,
                ratings: Ratings::of(st),
                server_name: req.server_name,
                hide_members: params.option(opt::NO_MEMBERS),
                hide_maps: params.option(opt::NO_MAPS),
            };
            show_command(&mut page, &gather, req, &params, command, mime);
        }
    } else if let Some(e) = error {
        page.outcome = Err(e);
    }
    if let Err(e) = &page.outcome {
        // The message may quote request values: Debug escapes their control characters.
        tracing::warn!(
            status_worker = ?worker,
            client = ?req.client,
            "status worker: {e:?}"
        );
    }
    let html_context = html::Context {
        settings: st,
        params: &params,
        path: req.path,
        command,
        read_only,
        server_name: req.server_name,
        server_port: req.server_port,
        action_done,
        access: req.access,
        remote_user: req.remote_user,
    };
    if action_done && req.access.from_form && mime == Some(Mime::Html) {
        let location = html_context.back_location();
        return Reply {
            content_type: Mime::Html.content_type(),
            body: html::see_other(&location),
            location: Some(location),
        };
    }
    format_page(&page, mime, st, &html_context)
}

/// The settings used when `worker` is not a status worker: read-only, no users.
fn read_only_settings() -> StatusSettings {
    StatusSettings {
        css: None,
        prefix: "worker".into(),
        ns: "jk:".into(),
        xmlns: "xmlns:jk=\"http://tomcat.apache.org\"".into(),
        doctype: None,
        read_only: true,
        users: Vec::new(),
        user_case_insensitive: false,
        good: Vec::new(),
        bad: Vec::new(),
    }
}

/// Why the request is refused, as mod_jk checks it: a later check's message
/// replaces an earlier one's for the first two, the others only run while nothing
/// is refused yet.
fn refusal(
    rt: &Runtime,
    st: &StatusSettings,
    req: &Request<'_>,
    worker: &str,
    params: &Params,
    read_only: bool,
) -> Option<String> {
    let command = params.command();
    let mut error: Option<String> = None;
    if params.malformed {
        error = Some("Error during parsing of URI".into());
    }
    // Checked (and logged) even for a malformed request.
    if access_denied(st, req, worker) {
        error = Some("Access denied.".into());
    }
    if error.is_none()
        && read_only
        && let Some(c) = command
        && !c.reads_only()
    {
        error = Some("This command is not allowed in read only mode.".into());
    }
    if error.is_none() {
        error = match (command, params.mime()) {
            (None, _) => Some("Invalid command.".into()),
            (_, None) => Some("Invalid mime type.".into()),
            (Some(c), Some(_)) if c.checks_worker() => {
                check_worker(rt, params, c == Command::Update).err()
            }
            _ => None,
        };
    }
    error
}

/// A command that shows something: the server, the head when the command prints
/// it, and the body (an edit form that cannot be built becomes the outcome).
fn show_command(
    page: &mut Page,
    gather: &Gather<'_>,
    req: &Request<'_>,
    params: &Params,
    command: Command,
    mime: Mime,
) {
    page.server = Some(Server {
        name: req.server_name.to_string(),
        port: req.server_port,
    });
    if command.prints_head() {
        page.head = Some(Head {
            time: Stamp::of(gather.clock.unix),
            web_server: web_server(),
            jk_version: jk_version(),
            last_reload: {
                let r = &gather.rt.reloads;
                let at = r.last_attempt.load(std::sync::atomic::Ordering::Relaxed);
                (at != 0).then(|| (at, r.last_failed.load(std::sync::atomic::Ordering::Relaxed)))
            },
        });
    }
    page.body = match command {
        Command::List => list(gather, params),
        Command::Show => show(gather, params),
        Command::Edit if mime == Mime::Html => match edit(gather, params) {
            Ok(body) => body,
            Err(e) => {
                page.outcome = Err(e);
                Body::Nothing
            }
        },
        Command::Dump => dump(gather.rt),
        _ => Body::Nothing,
    };
}

/// The page in the format `mime=` asks for (mod_jk falls back to properties).
fn format_page(
    page: &Page,
    mime: Option<Mime>,
    st: &StatusSettings,
    html_context: &html::Context<'_>,
) -> Reply {
    match mime {
        Some(Mime::Html) => Reply {
            content_type: Mime::Html.content_type(),
            body: html::render(page, html_context),
            location: None,
        },
        Some(Mime::Xml) => Reply {
            content_type: Mime::Xml.content_type(),
            body: machine::xml(page, st),
            location: None,
        },
        Some(Mime::Txt) => Reply {
            content_type: Mime::Txt.content_type(),
            body: machine::txt(page),
            location: None,
        },
        Some(Mime::Json) => Reply {
            content_type: Mime::Json.content_type(),
            body: machine::json(page),
            location: None,
        },
        Some(Mime::Prop) | None => Reply {
            content_type: Mime::Prop.content_type(),
            body: machine::prop(page, st),
            location: None,
        },
    }
}

/// How long one status request waits for host names to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Resolves every backend host name of the runtime at once (as mod_jk shows the
/// address each worker resolved to), preferring IPv4 unless the worker prefers IPv6.
pub async fn resolve_addresses(rt: &Runtime) -> Addresses {
    let mut lookups = tokio::task::JoinSet::new();
    for (host, prefer_ipv6) in Addresses::hosts_of(rt) {
        lookups.spawn(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await;
            let ips: Vec<IpAddr> = found
                .map(|a| a.map(|s| s.ip()).collect())
                .unwrap_or_default();
            let ip = ips
                .iter()
                .find(|ip| ip.is_ipv6() == prefer_ipv6)
                .or(ips.first())
                .copied();
            (host, ip)
        });
    }
    let mut addresses = Addresses::default();
    let _ = tokio::time::timeout(RESOLVE_TIMEOUT, async {
        while let Some(Ok((host, ip))) = lookups.join_next().await {
            addresses.insert(&host, ip);
        }
    })
    .await;
    addresses
}

/// Serves one HTTP request for status worker `worker`, as the front end settled it in
/// `caller` (the parameters, the signed-in user, jkd's access rules; see [`auth`]).
pub async fn respond(
    rt: &Runtime,
    worker: &str,
    parts: &http::request::Parts,
    conn: &ConnInfo,
    caller: &Caller<'_>,
) -> Response<ProxyBody> {
    let addresses = resolve_addresses(rt).await;
    let (server_name, server_port) = crate::runtime::requested_server(parts, conn);
    let server_name = shown_host(&server_name);
    let client = conn.peer.ip().to_string();
    let base = base_path(rt, worker, parts.uri.path());
    let request = Request {
        query: caller.query,
        path: &base,
        server_name: &server_name,
        server_port,
        client: &client,
        remote_user: caller.remote_user,
        access: caller.access,
    };
    let reply = render(rt, worker, &request, Clock::read(), &addresses);
    into_response(reply)
}

/// The path the manager's links, forms, redirects, refresh and poll point at: the
/// literal start of the mount rule that sent the request here (`/jkmanager/` for
/// `/jkmanager/*`, `/jkmanager` for `/jkmanager`) when that path itself maps to this
/// status worker, else the normalised path the rules matched. Never the
/// request-target as sent: `//evil.example/../jkmanager/` maps here too, and a
/// link to `//evil.example/...` would lead the browser, and a form's token, to
/// another host. The result starts with exactly one `/`.
pub fn base_path(rt: &Runtime, worker: &str, raw_path: &str) -> String {
    let mounts = &rt.config.mounts;
    if let Ok(Some(rule)) = mounts.map_raw(raw_path)
        && rule.worker == worker
    {
        let literal = rule.pattern.split(['*', '?']).next().unwrap_or_default();
        if mounts.map(literal).is_some_and(|r| r.worker == worker) {
            return one_leading_slash(crate::config::uri::canon_encode(literal));
        }
    }
    match crate::config::uri::map_input(raw_path) {
        Ok(normalized) => one_leading_slash(crate::config::uri::canon_encode(normalized)),
        Err(_) => "/".to_string(),
    }
}

/// `path` with the slashes it starts with reduced to one (a browser reads `//x` as
/// another host); `/` when it does not start with one.
fn one_leading_slash(path: String) -> String {
    let rest = path.trim_start_matches('/');
    if path.starts_with('/') && rest.len() + 1 == path.len() {
        path
    } else {
        format!("/{rest}")
    }
}

/// The Host header's name as the answers show it: letters, digits and `-._~:[]`
/// stay, every other byte becomes `%XX`. A host name never holds anything else, and
/// the xml, txt and prop formats print values as they are (as mod_jk does), so a
/// Host such as `a"><x` must not reach them as sent.
pub fn shown_host(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':' | b'[' | b']')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The HTTP response of a reply: 200 as mod_jk (even for errors), or 303 after a
/// form's change; never cached.
pub fn into_response(reply: Reply) -> Response<ProxyBody> {
    let body = ProxyBody::full(Bytes::from(reply.body));
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    if let Some(location) = reply.location
        && let Ok(value) = HeaderValue::from_str(&location)
    {
        *resp.status_mut() = StatusCode::SEE_OTHER;
        resp.headers_mut().insert(http::header::LOCATION, value);
    }
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    headers.insert(http::header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
mod tests;
