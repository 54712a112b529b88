//! Who may change things through the status manager: users from a `--manager-users` file of bcrypt hashes (htpasswd -B), HTTP Basic authentication, and the rules that keep another site from making a signed-in browser change anything (cross-site request forgery).
//!
//! First of all, the client's address: when an allow-list is in force
//! (`--manager-allow`, or the Apache config's `<Location>` rules, see
//! [`crate::config::access`]), a TCP peer outside it gets a plain `403` before
//! anything else is looked at, so it learns nothing (not even whether sign-in
//! exists); the refusal is counted (`jkd_manager_refused_total`) and logged at info
//! with the address.
//!
//! Then [`serve`] answers every request for a status worker, in this order:
//!
//! 0. A path whose dot segment hides behind a path parameter (`/app/..;/jkmanager/`,
//!    see [`crate::config::uri::hides_dot_segment`]) is answered `404`: mod_jk maps
//!    it here, but it walks around a front end that guards the manager's path.
//! 1. Methods: GET and HEAD as mod_jk; POST carries the page's forms
//!    (`application/x-www-form-urlencoded`, at most 64 KiB), whose fields count as
//!    query parameters; anything else is 405.
//! 2. Credentials: without a user file (jkd started without `--manager-users`) the
//!    manager is read-only and an `Authorization` header is ignored. With one, a
//!    header that does not name a user of the file with the right password is
//!    answered `401` with `WWW-Authenticate: Basic realm="jkd manager"`. An address
//!    that failed [`throttle::MAX_FAILURES`] times within [`throttle::WINDOW`] gets
//!    `429` with `Retry-After` instead, before bcrypt runs.
//! 3. Signing in is asked for (`401`) when the user file exists, the request carries
//!    no valid credentials, and either the command writes (`edit`, `update`,
//!    `reset`, `recover`) while the manager is not read-only, or the status worker
//!    has `user` lines (mod_jk then lets only those users in, even to read), or the
//!    query has `login` (the page's "Sign in" link).
//! 4. Provenance, for every POST and every change (`update`, `reset`,
//!    `recover`) that is not refused as read-only anyway: see [`check_provenance`].
//! 5. The status worker itself, with the signed-in user as mod_jk's remote user
//!    (`user` / `user_case_insensitive` are checked there) and read-only unless a
//!    user file exists; `read_only=true` in the configuration always wins.
//!
//! Every answer carries `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
//! `Content-Security-Policy: frame-ancestors 'none'` and `Referrer-Policy: same-origin`.
//!
//! Every change that passes is logged at info level with the user, the client's
//! address and the parameters; the status worker then logs each attribute it changed.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Body;
use parking_lot::Mutex;
use subtle::ConstantTimeEq as _;

use super::params::{Command, Params, opt};
use super::{Access, Caller};
use crate::config::workers::WorkerKind;
use crate::runtime::{ConnInfo, ProxyBody, Runtime};

/// The realm of the Basic challenge.
pub const REALM: &str = "jkd manager";

/// The form field that carries the page's token.
pub const TOKEN_FIELD: &str = "csrf";

/// The largest form body read.
const MAX_FORM: usize = 64 * 1024;

/// How many verified credentials are remembered (bcrypt is slow on purpose; the
/// page polls every few seconds).
const VERIFIED_LIMIT: usize = 256;

// ---------------------------------------------------------------- users

/// One line of the user file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct User {
    name: String,
    hash: String,
}

/// The users of a `--manager-users` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Users {
    list: Vec<User>,
    /// What an unknown name's password is checked against (see [`Users::verify`]).
    dummy: String,
}

/// Checks one bcrypt hash as htpasswd -B (`$2y$`) or another bcrypt writer (`$2b$`,
/// `$2a$`) prints it.
fn check_hash(hash: &str) -> Result<(), String> {
    if !["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
        let kind = if hash.starts_with("$apr1$") {
            "an Apache MD5 hash"
        } else if hash.starts_with("{SHA}") {
            "a SHA-1 hash"
        } else if hash.starts_with("$1$") || hash.starts_with("$5$") || hash.starts_with("$6$") {
            "a crypt(3) hash"
        } else {
            "not a bcrypt hash"
        };
        return Err(format!(
            "{kind}; only bcrypt hashes ($2y$, $2b$ or $2a$) are accepted: create the line with `htpasswd -B`"
        ));
    }
    match hash.parse::<bcrypt::HashParts>() {
        Ok(parts) if (4..=31).contains(&parts.get_cost()) => Ok(()),
        Ok(parts) => Err(format!("bcrypt cost {} is outside 4..31", parts.get_cost())),
        Err(e) => Err(format!("not a valid bcrypt hash ({e})")),
    }
}

impl Users {
    /// Reads `user:bcrypt-hash` lines; blank lines and lines starting with `#` are
    /// skipped. The first bad line is refused as `source:line: why`.
    pub fn parse(source: &str, text: &str) -> Result<Users, String> {
        let mut list: Vec<User> = Vec::new();
        let mut first_line: HashMap<String, usize> = HashMap::new();
        for (index, raw) in text.lines().enumerate() {
            let n = index + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, hash)) = line.split_once(':') else {
                return Err(format!(
                    "{source}:{n}: expected 'user:bcrypt-hash' (as `htpasswd -B` writes it)"
                ));
            };
            let (name, hash) = (name.trim(), hash.trim());
            if name.is_empty() {
                return Err(format!("{source}:{n}: the user name is empty"));
            }
            if let Err(why) = check_hash(hash) {
                return Err(format!("{source}:{n}: user '{name}': {why}"));
            }
            if let Some(first) = first_line.get(name) {
                return Err(format!(
                    "{source}:{n}: user '{name}' is already on line {first}"
                ));
            }
            first_line.insert(name.to_string(), n);
            list.push(User {
                name: name.to_string(),
                hash: hash.to_string(),
            });
        }
        if list.is_empty() {
            return Err(format!(
                "{source}: no users (lines 'user:bcrypt-hash', as `htpasswd -B` writes them)"
            ));
        }
        let dummy = dummy_hash(&list);
        Ok(Users { list, dummy })
    }

    /// Reads the file at `path`.
    pub fn load(path: &Path) -> Result<Users, String> {
        let source = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| format!("{source}: cannot read: {e}"))?;
        let text = String::from_utf8(bytes).map_err(|_| format!("{source}: not UTF-8 text"))?;
        Users::parse(&source, &text)
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The user names, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|u| u.name.as_str())
    }

    /// The hash a password given for `name` is checked against, and whether `name`
    /// is a user: an unknown name is checked against the dummy hash.
    fn hash_for(&self, name: &str) -> (&str, bool) {
        match self.list.iter().find(|u| u.name == name) {
            Some(u) => (&u.hash, true),
            None => (&self.dummy, false),
        }
    }

    /// Checks a password: slow on purpose (bcrypt). An unknown user costs the same
    /// time as a known one, so that timing does not tell which names exist: its
    /// password runs through bcrypt with the highest cost of the file (users made by
    /// one `htpasswd -B` all share a cost; with mixed costs an unknown name costs as
    /// much as the slowest user, and guessing is never cheaper than for that user).
    pub fn verify(&self, name: &str, password: &str) -> bool {
        let (hash, known) = self.hash_for(name);
        let matched = bcrypt::verify(password, hash).unwrap_or(false);
        known && matched
    }
}

/// A bcrypt hash no password matches, with the highest cost of the users: the salt of
/// that user's hash and a digest of zero bits (bcrypt's digest is never all zeros in
/// practice, and [`Users::verify`] refuses an unknown name whatever the outcome).
/// Built, not computed: computing one would cost a bcrypt run at startup.
fn dummy_hash(list: &[User]) -> String {
    let slowest = list
        .iter()
        .filter_map(|u| u.hash.parse::<bcrypt::HashParts>().ok())
        .max_by_key(|p| p.get_cost());
    match slowest {
        // `$2b$NN$` + 22 salt characters + 31 digest characters ('.' is 0).
        Some(parts) => format!(
            "$2b${:02}${}{}",
            parts.get_cost(),
            parts.get_salt(),
            ".".repeat(31)
        ),
        None => String::new(),
    }
}

// ---------------------------------------------------------------- Basic

/// Standard base64 (RFC 4648 §4) as browsers and curl send it: padding optional,
/// and stray low bits in the last character tolerated as httpd's decoder does.
const BASIC: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Reads an `Authorization: Basic <base64(user:password)>` value (RFC 7617): the
/// scheme in any case, user and password as UTF-8, split at the first colon.
/// `None` for another scheme, bad base64 or UTF-8, no colon, or an empty user.
pub fn parse_basic(value: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, rest) = text.split_once([' ', '\t'])?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let encoded = rest.trim();
    // Padding, when there is any, must be complete: the crate's indifferent mode would
    // also take a partial one (`Zg=`), which jkd has always refused.
    if encoded.ends_with('=') && !encoded.len().is_multiple_of(4) {
        return None;
    }
    let decoded = BASIC.decode(encoded).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    if user.is_empty() {
        return None;
    }
    Some((user.to_string(), password.to_string()))
}

// ---------------------------------------------------------------- the manager

/// What a request's `Authorization` header amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Login {
    /// No credentials (or no user file, which makes them meaningless).
    Anonymous,
    /// A user of the file with the right password.
    User(String),
    /// Credentials that are wrong or unreadable.
    Refused,
    /// The client's address failed to sign in too often lately
    /// ([`throttle`]): it must wait this long before trying again.
    Throttled(Duration),
}

/// The status manager's access state for the whole process: the users (none: the
/// manager is read-only), the token of the page's forms, and the credentials
/// already verified.
pub struct Manager {
    users: Option<Arc<Users>>,
    token: String,
    keys: RandomState,
    verified: Mutex<HashMap<u64, String>>,
    failures: Mutex<throttle::Throttle>,
}

/// 16 random bytes from the operating system's generator, as hex. There is no
/// weaker fallback: a guessable token would let another site post the page's forms.
fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| format!("the operating system's random number generator failed: {e}"))?;
    let mut out = String::with_capacity(32);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    Ok(out)
}

/// Compares in time that does not depend on where the first difference is, so the
/// answer's timing does not reveal the token byte by byte (the length is public).
fn same_secret(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

impl Manager {
    /// A manager that lets the given users write; `None` keeps it read-only. Fails
    /// only when the operating system cannot give the form token's random bytes.
    pub fn new(users: Option<Users>) -> Result<Manager, String> {
        Ok(Manager::with_token(users, random_token()?))
    }

    fn with_token(users: Option<Users>, token: String) -> Manager {
        Manager {
            users: users.map(Arc::new),
            token,
            keys: RandomState::new(),
            verified: Mutex::new(HashMap::new()),
            failures: Mutex::new(throttle::Throttle::default()),
        }
    }

    /// Someone can sign in and write.
    pub fn writable(&self) -> bool {
        self.users.is_some()
    }

    /// The token the page's forms carry (random for each process).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Checks the `Authorization` header (bcrypt runs off the async threads; a good
    /// pair is remembered by a keyed hash, never in clear), from a client that is
    /// not known (tests).
    pub async fn login(&self, authorization: Option<&HeaderValue>) -> Login {
        let nowhere = IpAddr::from([0, 0, 0, 0]);
        self.login_from(authorization, nowhere, Instant::now())
            .await
    }

    /// [`Manager::login`] for a request from `client` at `now`. A pair already
    /// verified is let in at once; otherwise an address that failed too often within
    /// [`throttle::WINDOW`] is refused before bcrypt runs, so that it can neither
    /// guess faster nor keep the processor busy.
    pub async fn login_from(
        &self,
        authorization: Option<&HeaderValue>,
        client: IpAddr,
        now: Instant,
    ) -> Login {
        let (Some(users), Some(value)) = (&self.users, authorization) else {
            return Login::Anonymous;
        };
        let parsed = parse_basic(value.as_bytes());
        if let Some((user, password)) = &parsed
            && let Some(known) = self
                .verified
                .lock()
                .get(&self.keys.hash_one((user, password)))
        {
            return Login::User(known.clone());
        }
        if let Some(wait) = self.failures.lock().wait(client, now) {
            return Login::Throttled(wait);
        }
        let Some((user, password)) = parsed else {
            self.failures.lock().failed(client, now);
            return Login::Refused;
        };
        let key = self.keys.hash_one((&user, &password));
        let users = users.clone();
        let name = user.clone();
        let good = tokio::task::spawn_blocking(move || users.verify(&name, &password))
            .await
            .unwrap_or(false);
        if !good {
            self.failures.lock().failed(client, now);
            return Login::Refused;
        }
        self.failures.lock().succeeded(client);
        let mut verified = self.verified.lock();
        if verified.len() >= VERIFIED_LIMIT {
            verified.clear();
        }
        verified.insert(key, user.clone());
        Login::User(user)
    }
}

// ---------------------------------------------------------------- provenance

/// What the cross-site rule looks at in a request that writes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Provenance<'a> {
    /// A POST (the page's forms) rather than a GET (mod_jk's links, scripts).
    pub post: bool,
    /// The host the request was sent to (`Host`, or the HTTP/2 authority).
    pub host: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub referer: Option<&'a str>,
    /// `Sec-Fetch-Site`, which current browsers send with every request.
    pub fetch_site: Option<&'a str>,
    /// The form's token field.
    pub form_token: Option<&'a str>,
    /// Valid HTTP Basic credentials came with the request.
    pub credentials: bool,
}

/// `scheme://authority[/...]` → `authority`.
fn authority_of(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    Some(authority.rsplit_once('@').map_or(authority, |(_, a)| a))
}

fn same_host(url: &str, host: Option<&str>) -> bool {
    match (authority_of(url), host) {
        (Some(a), Some(h)) => a.eq_ignore_ascii_case(h),
        _ => false,
    }
}

/// The cross-site request forgery rule for a request that changes something:
///
/// * a browser's `Sec-Fetch-Site`, when sent, must be `same-origin` (or `none`: the
///   user typed the address);
/// * `Origin` and `Referer`, when sent, must name the host the request was sent to;
/// * a POST must carry the page's token (the manager's pages are not readable from
///   another site, so another site cannot know it);
/// * a GET (mod_jk's way, for scripts: `curl -u user:password '.../jkmanager?cmd=update&...'`)
///   must carry HTTP Basic credentials.
///
/// A browser that has signed in sends its credentials with every request to the
/// manager, including one a hostile page makes it send; such a request always has
/// `Sec-Fetch-Site: cross-site` (current browsers), or a foreign `Origin` (a POST),
/// or a foreign `Referer` (unless the hostile page suppresses it, which current
/// browsers then still flag in `Sec-Fetch-Site`), and a POST from it lacks the
/// token. Scripts send none of these headers.
pub fn check_provenance(p: &Provenance<'_>, token: &str) -> Result<(), &'static str> {
    if let Some(site) = p.fetch_site
        && !site.eq_ignore_ascii_case("same-origin")
        && !site.eq_ignore_ascii_case("none")
    {
        return Err("the request came from another site (Sec-Fetch-Site)");
    }
    if let Some(origin) = p.origin
        && !same_host(origin, p.host)
    {
        return Err("the request came from another site (Origin)");
    }
    if let Some(referer) = p.referer
        && !same_host(referer, p.host)
    {
        return Err("the request came from another site (Referer)");
    }
    if p.post {
        if token.is_empty() || !p.form_token.is_some_and(|t| same_secret(t, token)) {
            return Err(
                "the form's token is missing or out of date (jkd was restarted?): reload the manager page and try again",
            );
        }
    } else if !p.credentials {
        return Err("a change by GET must carry HTTP Basic credentials");
    }
    Ok(())
}

// ---------------------------------------------------------------- serving

fn plain(status: StatusCode, text: &str) -> Response<ProxyBody> {
    let body = ProxyBody::full(Bytes::from(format!("{text}\n")));
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// `401` with the Basic challenge.
pub fn challenge(why: &str) -> Response<ProxyBody> {
    let mut resp = plain(
        StatusCode::UNAUTHORIZED,
        &format!("401 Unauthorized: {why}"),
    );
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"jkd manager\", charset=\"UTF-8\""),
    );
    resp
}

/// `429` for an address that failed to sign in too often, with `Retry-After`.
fn too_many_attempts(wait: Duration) -> Response<ProxyBody> {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut resp = plain(
        StatusCode::TOO_MANY_REQUESTS,
        "429 Too Many Requests: too many failed sign-ins from this address; try again later",
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    resp
}

/// The form body of a POST, or the answer that refuses it.
async fn read_form<B>(headers: &HeaderMap, body: B) -> Result<String, Response<ProxyBody>>
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "415 Unsupported Media Type: the manager takes application/x-www-form-urlencoded forms",
        ));
    }
    let collected = Limited::new(body, MAX_FORM).collect().await.map_err(|_| {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "413 Payload Too Large: a manager form is at most 64 KiB",
        )
    })?;
    String::from_utf8(collected.to_bytes().to_vec()).map_err(|_| {
        plain(
            StatusCode::BAD_REQUEST,
            "400 Bad Request: the form is not UTF-8",
        )
    })
}

/// The parameters of a request: the URI's query, then the form's fields (a later
/// one wins), without the token, which is returned apart.
pub fn merge_query(query: Option<&str>, form: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(form) = form else {
        return (query.map(str::to_string), None);
    };
    let mut token = None;
    let mut pairs: Vec<&str> = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|p| !p.is_empty())
        .collect();
    for pair in form.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((name, value)) if name == TOKEN_FIELD => token = Some(value.to_string()),
            _ => pairs.push(pair),
        }
    }
    (Some(pairs.join("&")), token)
}

fn header_text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Serves one request for status worker `worker` (see the module's documentation).
pub async fn serve_with<B>(
    manager: &Manager,
    rt: &Runtime,
    worker: &str,
    parts: &http::request::Parts,
    body: B,
    conn: ConnInfo,
) -> Response<ProxyBody>
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let mut resp = answer(manager, rt, worker, parts, body, &conn, Instant::now()).await;
    // On every answer, errors and redirects included: a browser must neither guess
    // another type for it (nosniff), nor show it in a frame, nor tell another site
    // the manager's address.
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

/// [`serve_with`] before the headers every answer gets; `now` counts failed sign-ins.
async fn answer<B>(
    manager: &Manager,
    rt: &Runtime,
    worker: &str,
    parts: &http::request::Parts,
    body: B,
    conn: &ConnInfo,
    now: Instant,
) -> Response<ProxyBody>
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    if let Some(refused) = refuse_client(rt, worker, conn) {
        return refused;
    }
    if let Some(refused) = refuse_early(worker, parts, conn) {
        return refused;
    }
    let post = parts.method == Method::POST;
    let form = if post {
        match read_form(&parts.headers, body).await {
            Ok(f) => Some(f),
            Err(resp) => return resp,
        }
    } else {
        None
    };
    let (query, form_token) = merge_query(parts.uri.query(), form.as_deref());
    let params = Params::parse(query.as_deref());
    let client = conn.peer.ip().to_string();
    let user = match sign_in(manager, worker, parts, conn, now).await {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    let settings = match rt.config.worker(worker).map(|w| &w.kind) {
        Some(WorkerKind::Status(s)) => Some(s),
        _ => None,
    };
    let configured_read_only = settings.is_none_or(|s| s.read_only);
    let has_user_list = settings.is_some_and(|s| !s.users.is_empty());
    let command = params.command();
    let read_only = configured_read_only || params.option(opt::READ_ONLY) || !manager.writable();
    let writes = command.is_some_and(|c| !c.reads_only());
    if manager.writable()
        && user.is_none()
        && ((writes && !read_only) || has_user_list || params.get("login").is_some())
    {
        return challenge("sign in to change the cluster");
    }
    let changes = command.is_some_and(Command::is_action) && !read_only;
    if post || changes {
        let request = ChangeRequest {
            worker,
            parts,
            user: user.as_deref(),
            client: &client,
            form_token: form_token.as_deref(),
        };
        if let Some(refused) = check_change(manager, &request) {
            return refused;
        }
    }
    if changes {
        // Every value from the request is logged with `?`: Debug escapes control
        // characters, so a form field holding a newline cannot forge a log line.
        tracing::info!(
            status_worker = ?worker,
            user = ?user.as_deref().unwrap_or("-"),
            client = ?client,
            forwarded_for = ?header_text(&parts.headers, "x-forwarded-for").unwrap_or("-"),
            method = ?parts.method,
            params = ?params.masked_query,
            "status manager change requested"
        );
    }
    let caller = Caller {
        query: query.as_deref(),
        remote_user: user.as_deref(),
        access: Access {
            writable: manager.writable(),
            token: manager.token(),
            from_form: post,
        },
    };
    super::respond(rt, worker, parts, conn, &caller).await
}

/// A client outside the manager's allow-list: plain `403`, counted and logged. The
/// peer address is the TCP peer, never `X-Forwarded-For`, which any client can
/// write.
fn refuse_client(rt: &Runtime, worker: &str, conn: &ConnInfo) -> Option<Response<ProxyBody>> {
    let client = conn.peer.ip();
    if rt.manager_admits(client) {
        return None;
    }
    rt.manager_refused
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(
        status_worker = ?worker,
        client = %client,
        "status manager: the client's address is not allowed (--manager-allow or the Apache config's <Location> rules)"
    );
    Some(plain(StatusCode::FORBIDDEN, "403 Forbidden"))
}

/// Requests answered before anything is read: a path that hides a dot segment, a
/// method the manager does not take.
fn refuse_early(
    worker: &str,
    parts: &http::request::Parts,
    conn: &ConnInfo,
) -> Option<Response<ProxyBody>> {
    // mod_jk maps `/app/..;/jkmanager/` to a status worker mounted at `/jkmanager/*`
    // (it removes `;...` and then resolves `..`), which walks around a front end
    // that guards only `/jkmanager`. Such a path is answered as if not mapped.
    if crate::config::uri::hides_dot_segment(parts.uri.path()) {
        tracing::info!(
            status_worker = ?worker,
            client = ?conn.peer.ip(),
            path = ?parts.uri.path(),
            "status manager: a dot segment hidden behind ';' does not reach a status worker"
        );
        return Some(plain(StatusCode::NOT_FOUND, "404 Not Found"));
    }
    let method = &parts.method;
    if *method != Method::POST && *method != Method::GET && *method != Method::HEAD {
        let mut resp = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "405 Method Not Allowed: the manager answers GET, HEAD and POST",
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
        return Some(resp);
    }
    None
}

/// Who the request signs in as (`None`: anonymous), or the answer refusing it.
async fn sign_in(
    manager: &Manager,
    worker: &str,
    parts: &http::request::Parts,
    conn: &ConnInfo,
    now: Instant,
) -> Result<Option<String>, Response<ProxyBody>> {
    let client = conn.peer.ip();
    match manager
        .login_from(parts.headers.get(header::AUTHORIZATION), client, now)
        .await
    {
        Login::Anonymous => Ok(None),
        Login::User(u) => Ok(Some(u)),
        Login::Refused => {
            tracing::warn!(
                status_worker = ?worker,
                client = ?client.to_string(),
                "status manager: wrong user name or password"
            );
            Err(challenge("wrong user name or password"))
        }
        Login::Throttled(wait) => {
            tracing::warn!(
                status_worker = ?worker,
                client = ?client.to_string(),
                "status manager: too many failed sign-ins from this address"
            );
            Err(too_many_attempts(wait))
        }
    }
}

/// A request that posts a form or changes the cluster, as the cross-site rules see
/// it.
struct ChangeRequest<'a> {
    worker: &'a str,
    parts: &'a http::request::Parts,
    user: Option<&'a str>,
    client: &'a str,
    form_token: Option<&'a str>,
}

/// The cross-site rules for a request that writes: the 403 answering one that breaks
/// them, `None` when it keeps them.
fn check_change(manager: &Manager, r: &ChangeRequest<'_>) -> Option<Response<ProxyBody>> {
    let headers = &r.parts.headers;
    let host = header_text(headers, header::HOST)
        .map(str::to_string)
        .or_else(|| r.parts.uri.authority().map(|a| a.to_string()));
    let provenance = Provenance {
        post: r.parts.method == Method::POST,
        host: host.as_deref(),
        origin: header_text(headers, header::ORIGIN),
        referer: header_text(headers, header::REFERER),
        fetch_site: header_text(headers, "sec-fetch-site"),
        form_token: r.form_token,
        credentials: r.user.is_some(),
    };
    let why = check_provenance(&provenance, manager.token()).err()?;
    tracing::warn!(
        status_worker = ?r.worker,
        user = ?r.user.unwrap_or("-"),
        client = ?r.client,
        method = ?r.parts.method,
        "status manager refused a change: {why}"
    );
    Some(plain(
        StatusCode::FORBIDDEN,
        &format!("403 Forbidden: {why}"),
    ))
}

pub mod throttle;

#[cfg(test)]
mod tests;
