//! Configuration: reads workers.properties, mount rules and Apache `Jk*` lines into one immutable `Config`.

pub mod access;
pub mod apache;
pub mod compress;
pub mod diag;
pub mod dump;
pub mod keys;
pub mod mounts;
pub mod props;
pub mod static_files;
pub mod tls;
pub mod uri;
pub mod values;
pub mod workers;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use diag::{Diagnostic, Diagnostics, Origin};
use mounts::{MountRule, MountTable, RuleSource};
use props::{Env, PropMap, Treatment};
use values::Activation;
use workers::{AjpProtocol, LbSettings, Member, Reader, Worker, WorkerKind, lb_mults};

/// What to read, as given on the command line.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub workers: Option<PathBuf>,
    pub mount_files: Vec<PathBuf>,
    /// `PATTERN=WORKER[;ext]` rules given directly.
    pub mounts: Vec<String>,
    pub apache_conf: Option<PathBuf>,
    /// `--document-root`: wins over the Apache config's `DocumentRoot`.
    pub document_root: Option<PathBuf>,
    /// `--extend FILE`: property files read after the workers file, for keys only jkd
    /// knows (mod_jk refuses a workers file that has them).
    pub extend: Vec<PathBuf>,
    /// `--compress TYPE`: the media types to compress; when given, they replace the
    /// Apache config's `AddOutputFilterByType` lines.
    pub compress: Vec<String>,
}

/// The validated configuration: what jkd runs with.
#[derive(Clone, Debug)]
pub struct Config {
    /// `worker.list` as written (a name listed twice appears twice, as mod_jk lists it).
    pub worker_list: Vec<String>,
    /// Instantiated workers, one per distinct listed name, in list order.
    pub workers: Vec<Worker>,
    /// seconds between maintenance runs; 0 = no maintenance
    pub maintain: i32,
    /// The resolved property map, for the status worker's `dump` command.
    pub properties: PropMap,
    /// Every mount rule, in mod_jk's matching order.
    pub mounts: MountTable,
    /// `Timeout` and `KeepAliveTimeout` of the Apache config, when one was read.
    pub http: HttpTimeouts,
    /// One per `Listen` line of the Apache config, TLS where an `SSLEngine on`
    /// server is bound to it (rules: [`apache::ApacheJk::build_listeners`]); empty
    /// without an Apache config.
    pub listeners: Vec<tls::Listener>,
    /// The Apache config's `JkExtractSSL` and SSL forwarding `JkOptions` (main
    /// server); mod_jk's defaults without one.
    pub ssl_forwarding: tls::SslForwarding,
    /// What is served from disk or redirected instead of answered 404: the
    /// document root, `Alias`, `DirectoryIndex`, `Redirect`, `RedirectMatch`.
    pub static_files: static_files::StaticFiles,
    /// Who may reach a status worker, from the access rules of the Apache config's
    /// `<Location>` sections that cover a status mount (`None`: everyone); jkd's
    /// `--manager-allow` wins over it. See [`access`].
    pub manager_allow: Option<access::ManagerAllow>,
    /// The response types jkd compresses: `--compress`, else the Apache config's
    /// `AddOutputFilterByType` lines; empty: none (see [`compress`]).
    pub compression: compress::Compression,
    /// mod_jk's request log: `JkRequestLogFormat` written to `JkLogFile` (main
    /// server); jkd's `--access-log` wins over it.
    pub request_log: Option<RequestLog>,
}

/// The request log an Apache config asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLog {
    pub file: String,
    pub format: String,
    /// The `JkRequestLogFormat` line.
    pub origin: Origin,
}

/// Client-side timeouts an Apache config sets (seconds); jkd's flags win over them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpTimeouts {
    pub timeout: Option<u64>,
    pub keepalive_timeout: Option<u64>,
}

impl Config {
    pub fn worker(&self, name: &str) -> Option<&Worker> {
        self.workers.iter().find(|w| w.name == name)
    }

    /// The worker a request URI (path and optional query) is forwarded to, as mod_jk
    /// decides after its URI normalisation; `None` when no rule forwards it.
    pub fn route_uri(&self, uri: &str) -> Option<&str> {
        let path = uri.split('?').next().unwrap_or("");
        match self.mounts.map_raw(path) {
            Ok(Some(rule)) => Some(rule.worker.as_str()),
            _ => None,
        }
    }
}

/// The outcome of reading a configuration: the config when there was no error, and
/// every diagnostic in the order found.
#[derive(Debug)]
pub struct Loaded {
    pub config: Option<Config>,
    pub diagnostics: Vec<Diagnostic>,
}

fn display_name(path: &Path) -> Arc<str> {
    Arc::from(path.display().to_string())
}

fn read_file(path: &Path, what: &str, diags: &mut Diagnostics) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) => Some(b),
        Err(e) => {
            diags.error(
                Origin::new(display_name(path), 0),
                "",
                format!("cannot read the {what}: {e}"),
            );
            None
        }
    }
}

/// Reads every source and builds the configuration as mod_jk 1.2.48 would.
pub fn load(sources: &Sources, env: Env<'_>) -> Loaded {
    let mut diags = Diagnostics::default();
    let config = load_inner(sources, env, &mut diags);
    let config = if diags.has_errors() { None } else { config };
    Loaded {
        config,
        diagnostics: diags.items,
    }
}

/// Reads a workers.properties given as bytes (no mount rules, no Apache lines): what
/// tests and the fuzzer use.
pub fn from_workers_bytes(file: &str, bytes: &[u8], env: Env<'_>) -> Loaded {
    let mut diags = Diagnostics::default();
    let mut props = PropMap::new();
    let origin = Origin::new(file, 0);
    let config = if props.read_bytes(&origin.file, bytes, Treatment::Duplicates, env, &mut diags)
        && props.resolve_references(&mut diags)
    {
        build(props, origin, Vec::new(), &mut diags)
    } else {
        None
    };
    let config = if diags.has_errors() { None } else { config };
    Loaded {
        config,
        diagnostics: diags.items,
    }
}

fn load_inner(sources: &Sources, env: Env<'_>, diags: &mut Diagnostics) -> Option<Config> {
    let mut inputs = Inputs {
        props: PropMap::new(),
        rules: Vec::new(),
        workers_path: sources.workers.clone(),
        mount_files: sources
            .mount_files
            .iter()
            .map(|p| (p.clone(), None))
            .collect(),
        http: HttpTimeouts::default(),
        listeners: Vec::new(),
        ssl_forwarding: tls::SslForwarding::default(),
        static_files: static_files::StaticFiles::default(),
        locations: Vec::new(),
        compression: compress::Compression::default(),
        request_log: None,
    };
    if let Some(path) = &sources.apache_conf {
        inputs.add_apache_conf(path, env, diags)?;
    }
    if let Some(path) = &inputs.workers_path {
        let file = display_name(path);
        let bytes = read_file(path, "workers file", diags)?;
        if !inputs
            .props
            .read_bytes(&file, &bytes, Treatment::Duplicates, env, diags)
        {
            return None;
        }
    }
    for path in &sources.extend {
        let file = display_name(path);
        let bytes = read_file(path, "--extend file", diags)?;
        if !inputs
            .props
            .read_bytes(&file, &bytes, Treatment::Overlay, env, diags)
        {
            return None;
        }
    }
    warn_jkd_only_keys(&inputs.props, &sources.extend, diags);
    if !inputs.props.resolve_references(diags) {
        return None;
    }
    let fallback = inputs
        .workers_path
        .as_deref()
        .map(|p| Origin::new(display_name(p), 0))
        .unwrap_or_else(|| Origin::new("workers.properties", 0));
    inputs.add_command_line_mounts(&sources.mounts, diags);
    inputs.add_mount_files(env, diags)?;
    let mut config = build(inputs.props, fallback, inputs.rules, diags)?;
    config.http = inputs.http;
    config.listeners = inputs.listeners;
    config.ssl_forwarding = inputs.ssl_forwarding;
    config.request_log = inputs.request_log;
    config.static_files = inputs.static_files;
    if let Some(root) = &sources.document_root {
        let origin = Origin::new("--document-root", 0);
        if !root.is_dir() {
            diags.error(
                origin.clone(),
                "",
                format!("--document-root {} is not a directory", root.display()),
            );
        }
        config.static_files.document_root = Some((root.clone(), origin));
    }
    config.manager_allow = access::manager_allow(&inputs.locations, &config, diags);
    config.compression = compression(&sources.compress, inputs.compression, diags);
    Some(config)
}

/// `--compress` wins over the Apache config's `AddOutputFilterByType` lines (as
/// `--manager-allow` wins over its access rules): the flags are one place to say it
/// for a jkd run, and adding up the two would make a type impossible to switch off
/// without editing the file. Said with a warning when both are given.
fn compression(
    flags: &[String],
    from_conf: compress::Compression,
    diags: &mut Diagnostics,
) -> compress::Compression {
    if flags.is_empty() {
        return from_conf;
    }
    if let Some(origin) = from_conf.types.iter().find_map(|t| t.origin.clone()) {
        diags.warning(
            origin,
            "AddOutputFilterByType",
            "the Apache config's compression lines are not used: --compress wins over them",
        );
    }
    compress::Compression::from_flags(flags)
}

/// jkd's own keys (and `type=http`) outside an `--extend` file: jkd reads them, but
/// mod_jk would refuse the file, so it could no longer go back to httpd.
fn warn_jkd_only_keys(props: &PropMap, extend: &[PathBuf], diags: &mut Diagnostics) {
    let extend: Vec<String> = extend.iter().map(|p| display_name(p).to_string()).collect();
    for e in props.entries() {
        if keys::is_jkd_only_line(&e.key, &e.value) && !extend.iter().any(|f| **f == *e.origin.file)
        {
            let what = if keys::is_jkd_only(&e.key) {
                "a jkd-only key"
            } else {
                "type=http is jkd's own"
            };
            diags.warning(
                e.origin.clone(),
                e.key.clone(),
                format!(
                    "{what}: mod_jk 1.2.48 refuses to start on it; put it in a file given \
                     with --extend to keep this one usable by mod_jk"
                ),
            );
        }
    }
}

/// What the sources contribute before the workers are built, gathered in mod_jk's
/// order: the httpd configuration, the workers file, then the mount rules.
struct Inputs {
    props: PropMap,
    rules: Vec<MountRule>,
    workers_path: Option<PathBuf>,
    /// Each mount file with the `JkMountFile` line that named it (`None`: the
    /// command line).
    mount_files: Vec<(PathBuf, Option<Origin>)>,
    http: HttpTimeouts,
    listeners: Vec<tls::Listener>,
    ssl_forwarding: tls::SslForwarding,
    static_files: static_files::StaticFiles,
    /// The Apache config's `<Location>` sections with access rules.
    locations: Vec<access::LocationAccess>,
    /// The Apache config's `AddOutputFilterByType` lines.
    compression: compress::Compression,
    request_log: Option<RequestLog>,
}

impl Inputs {
    /// The httpd configuration: timeouts, listeners, SSL forwarding, `ServerRoot`,
    /// `JkWorkerProperty` lines, the workers file (unless the command line names
    /// one), mount files and `JkMount` rules. `None` when a property line is refused or the file cannot
    /// be read.
    fn add_apache_conf(
        &mut self,
        path: &Path,
        env: Env<'_>,
        diags: &mut Diagnostics,
    ) -> Option<()> {
        let file = display_name(path);
        let bytes = read_file(path, "Apache config", diags)?;
        let conf = apache::read_apache_conf(&file, &bytes, diags);
        self.http.timeout = conf.timeout.as_ref().map(|(t, _)| *t);
        self.http.keepalive_timeout = conf.keepalive_timeout.as_ref().map(|(t, _)| *t);
        self.listeners = conf.listeners.clone();
        self.ssl_forwarding = conf.ssl_forwarding;
        self.request_log = match (&conf.request_log_format, &conf.log_file) {
            (Some((format, origin)), Some((file, _))) => Some(RequestLog {
                file: file.clone(),
                format: format.clone(),
                origin: origin.clone(),
            }),
            (Some((_, origin)), None) => {
                diags.warning(
                    origin.clone(),
                    "JkRequestLogFormat",
                    "no JkLogFile to write the request log to: jkd writes none (give --access-log)",
                );
                None
            }
            _ => None,
        };
        self.static_files = conf.static_files.clone();
        if let Some((root, origin)) = &conf.static_files.document_root
            && !root.is_dir()
        {
            // httpd 2.4 starts with a warning too (AH00112).
            diags.warning(
                origin.clone(),
                "DocumentRoot",
                format!(
                    "DocumentRoot '{}' is not a directory: every unmapped URI is answered 404",
                    root.display()
                ),
            );
        }
        self.locations = conf.locations.clone();
        self.compression = conf.compression.clone();
        if let Some(root) = &conf.server_root {
            self.props
                .put("ServerRoot", root.clone(), Origin::new(file.clone(), 0));
        }
        // JkWorkerProperty lines are in mod_jk's map before the workers file is read.
        for (line, origin) in &conf.worker_properties {
            if !self.props.read_property(
                line.as_bytes(),
                origin.clone(),
                Treatment::Duplicates,
                env,
                diags,
            ) {
                return None;
            }
        }
        match (&self.workers_path, &conf.workers_file) {
            (Some(given), Some((named, origin))) => diags.warning(
                origin.clone(),
                "JkWorkersFile",
                format!(
                    "JkWorkersFile '{named}' is not read: --workers {} was given",
                    given.display()
                ),
            ),
            (None, Some((named, _))) => self.workers_path = Some(PathBuf::from(named)),
            _ => {}
        }
        self.mount_files.extend(
            conf.mount_files
                .iter()
                .map(|(f, origin)| (PathBuf::from(f), Some(origin.clone()))),
        );
        warn_merged_vhosts(&conf.mounts, diags);
        self.rules.extend(conf.mounts);
        Some(())
    }

    /// `--mount PATTERN=WORKER` rules; a malformed one is reported and skipped.
    fn add_command_line_mounts(&mut self, mounts: &[String], diags: &mut Diagnostics) {
        for (n, text) in mounts.iter().enumerate() {
            let origin = Origin::new(format!("--mount #{}", n + 1), 0);
            let Some((pattern, worker)) = text.split_once('=') else {
                diags.error(
                    origin,
                    text.clone(),
                    "a --mount rule is written PATTERN=WORKER",
                );
                continue;
            };
            self.rules.extend(mounts::parse_rule(
                pattern.trim(),
                worker.trim(),
                RuleSource::JkMount,
                origin,
                diags,
            ));
        }
    }

    /// The rules of every mount file; `None` when one cannot be read.
    fn add_mount_files(&mut self, env: Env<'_>, diags: &mut Diagnostics) -> Option<()> {
        for (path, named_at) in &self.mount_files {
            let file = display_name(path);
            let bytes = match std::fs::read(path) {
                Ok(b) => b,
                Err(e) => {
                    let origin = named_at
                        .clone()
                        .unwrap_or_else(|| Origin::new(file.clone(), 0));
                    diags.error(
                        origin,
                        "JkMountFile",
                        format!("cannot read the mount file {}: {e}", path.display()),
                    );
                    return None;
                }
            };
            self.rules
                .extend(mounts::read_uriworkermap(&file, &bytes, env, diags));
        }
        Some(())
    }
}

/// jkd has one URI map: the first rule of each virtual host says that its rules
/// apply to every host.
fn warn_merged_vhosts(rules: &[MountRule], diags: &mut Diagnostics) {
    let mut vhosts_merged = HashSet::new();
    for rule in rules {
        if let Some(vhost) = &rule.vhost
            && vhosts_merged.insert(vhost.clone())
        {
            diags.warning(
                rule.origin.clone(),
                rule.pattern.clone(),
                format!(
                    "rules of <VirtualHost {vhost}> are merged into jkd's single URI map: \
                     they apply to every Host"
                ),
            );
        }
    }
}

/// Instantiates the listed workers from a resolved property map and builds the URI
/// map from `rules` (JkMount lines, mount files) plus every `worker.X.mount`.
pub fn build(
    props: PropMap,
    fallback: Origin,
    mut rules: Vec<MountRule>,
    diags: &mut Diagnostics,
) -> Option<Config> {
    let list_origin = props
        .get("worker.list")
        .map(|e| e.origin.clone())
        .unwrap_or_else(|| fallback.clone());
    let worker_list = match props.value("worker.list") {
        Some(v) => values::list(v),
        None => {
            diags.warning(
                list_origin.clone(),
                "worker.list",
                "no worker.list: mod_jk then creates one ajp13 worker named 'ajp13' to localhost:8009",
            );
            vec!["ajp13".to_string()]
        }
    };
    let maintain = match props.get("worker.maintain") {
        Some(entry) => {
            let (v, note) = values::int(&entry.value);
            if let Some(n) = note {
                diags.warning(entry.origin.clone(), "worker.maintain", n);
            }
            v.max(0)
        }
        None => workers::DEFAULT_MAINTAIN,
    };
    let mut workers: Vec<Worker> = Vec::new();
    let mut listed: HashSet<&str> = HashSet::new();
    // Listed workers and balancer members: everything mod_jk creates.
    let mut created: HashSet<String> = HashSet::new();
    for name in &worker_list {
        if !listed.insert(name.as_str()) {
            continue;
        }
        created.insert(name.clone());
        let mut r = Reader {
            props: &props,
            diags,
            fallback: list_origin.clone(),
        };
        if let Some(w) = build_worker(&mut r, name, &list_origin, &mut created) {
            workers.push(w);
        }
    }
    warn_unused(&props, &created, diags);
    for worker in &workers {
        let name = &worker.name;
        let Some(entry) = props.get(&format!("worker.{name}.mount")) else {
            continue;
        };
        let origin = entry.origin.clone();
        for pattern in values::list(&entry.value) {
            rules.extend(mounts::parse_rule(
                &pattern,
                name,
                RuleSource::WorkerDefinition,
                origin.clone(),
                diags,
            ));
        }
    }
    for rule in &rules {
        if !rule.disabled && rule.worker != "*" && !workers.iter().any(|w| w.name == rule.worker) {
            diags.warning(
                rule.origin.clone(),
                rule.pattern.clone(),
                format!(
                    "rule maps to worker '{}', which is not in worker.list; mod_jk answers such \
                     requests with 500",
                    rule.worker
                ),
            );
        }
    }
    Some(Config {
        worker_list,
        workers,
        maintain,
        properties: props,
        mounts: MountTable::new(rules),
        http: HttpTimeouts::default(),
        listeners: Vec::new(),
        ssl_forwarding: tls::SslForwarding::default(),
        static_files: static_files::StaticFiles::default(),
        manager_allow: None,
        compression: compress::Compression::default(),
        request_log: None,
    })
}

/// Whether some setting bounds the wait on a backend that accepts connections but
/// never answers: a reply or socket timeout, or CPing in any mode (`ping_mode`, or
/// its older spellings `connect_timeout`, `prepost_timeout`, `connection_ping_interval`).
/// mod_jk's defaults have none of them.
fn detects_a_hung_backend(a: &workers::AjpSettings) -> bool {
    let cping = !a.protocol.is_http()
        && (a.ping_mode.0 != 0
            || a.connect_timeout > 0
            || a.prepost_timeout > 0
            || a.connection_ping_interval > 0);
    a.reply_timeout > 0 || a.socket_timeout > 0 || cping
}

fn has_properties(props: &PropMap, name: &str) -> bool {
    let prefix = format!("worker.{name}.");
    props.entries().iter().any(|e| e.key.starts_with(&prefix))
}

fn worker_origin(props: &PropMap, name: &str, fallback: &Origin) -> Origin {
    let prefix = format!("worker.{name}.");
    let lines: Vec<&Origin> = props
        .entries()
        .iter()
        .filter(|e| e.key.starts_with(&prefix))
        .map(|e| &e.origin)
        .collect();
    // Line numbers compare only within one file: the worker's first line in the file
    // that names it beside `fallback` (the workers file, usually), not line 1 of an
    // `--extend` file that merely adds a key.
    let file = lines
        .iter()
        .find(|o| o.file == fallback.file)
        .or_else(|| lines.first())
        .map(|o| o.file.clone());
    lines
        .into_iter()
        .filter(|o| Some(&o.file) == file.as_ref())
        .min_by_key(|o| o.line)
        .cloned()
        .unwrap_or_else(|| fallback.clone())
}

fn check_name(r: &mut Reader<'_>, name: &str, origin: &Origin, what: &str) -> bool {
    if name.len() > workers::MAX_NAME_LEN {
        r.diags.error(
            origin.clone(),
            format!("worker.{name}"),
            format!(
                "{what} name is {} bytes long; mod_jk accepts at most {}",
                name.len(),
                workers::MAX_NAME_LEN
            ),
        );
        return false;
    }
    true
}

fn build_worker(
    r: &mut Reader<'_>,
    name: &str,
    list_origin: &Origin,
    instantiated: &mut HashSet<String>,
) -> Option<Worker> {
    let origin = worker_origin(r.props, name, list_origin);
    if !check_name(r, name, &origin, "worker") {
        return None;
    }
    if !has_properties(r.props, name) {
        r.diags.warning(
            list_origin.clone(),
            "worker.list",
            format!(
                "worker '{name}' is listed but has no properties: it is an ajp13 worker to \
                 localhost:8009 (mod_jk's default)"
            ),
        );
    }
    let type_name = r.string(name, "type").unwrap_or_else(|| "ajp13".into());
    let kind = match type_name.as_str() {
        "ajp13" => WorkerKind::Ajp(r.ajp(name, AjpProtocol::Ajp13)),
        "ajp14" => {
            r.warn(
                name,
                "type",
                "ajp14 is experimental in mod_jk; jkd speaks it as ajp13 framing is not what \
                 the container expects: use ajp13"
                    .into(),
            );
            WorkerKind::Ajp(r.ajp(name, AjpProtocol::Ajp14))
        }
        "http" => {
            warn_ajp_only_settings(r, name);
            WorkerKind::Ajp(r.ajp(name, AjpProtocol::Http))
        }
        "lb" => WorkerKind::Lb(build_lb(r, name, &origin, instantiated)?),
        "status" => WorkerKind::Status(r.status(name)),
        "ajp12" => {
            r.warn(
                name,
                "type",
                "ajp12 is obsolete: mod_jk still creates the worker, jkd cannot forward to it; \
                 use ajp13"
                    .into(),
            );
            WorkerKind::Ajp12
        }
        other => {
            r.error(
                name,
                "type",
                format!(
                    "unknown worker type '{other}' (mod_jk knows ajp13, ajp14, ajp12, lb and \
                     status, jkd also http; type names are case-sensitive)"
                ),
            );
            return None;
        }
    };
    Some(Worker {
        name: name.to_string(),
        origin,
        kind,
    })
}

/// A `type=lb` worker: its members, then its own settings. `None` when a member or a
/// setting is refused (every problem is reported first).
fn build_lb(
    r: &mut Reader<'_>,
    name: &str,
    origin: &Origin,
    instantiated: &mut HashSet<String>,
) -> Option<LbSettings> {
    let names = member_names(r, name, origin)?;
    let lb_secret = r.string(name, "secret");
    let members_origin = r
        .entry(name, "balance_workers")
        .or_else(|| r.entry(name, "balanced_workers"))
        .map(|e| e.origin.clone())
        .unwrap_or_else(|| origin.clone());
    let mut members = Vec::new();
    let mut ok = true;
    for m in &names {
        instantiated.insert(m.clone());
        match build_member(r, name, m, &members_origin, &lb_secret) {
            Some(member) => members.push(member),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    let mults = lb_mults(&members.iter().map(|m| m.lbfactor).collect::<Vec<_>>());
    for (m, mult) in members.iter_mut().zip(mults) {
        m.lb_mult = mult;
    }
    if !check_routes(r, name, &members) {
        return None;
    }
    lb_settings(r, name, members, lb_secret)
}

/// `balance_workers` (or the older `balanced_workers`); an error when there are none.
fn member_names(r: &mut Reader<'_>, name: &str, origin: &Origin) -> Option<Vec<String>> {
    let names = r
        .list(name, "balance_workers")
        .filter(|l| !l.is_empty())
        .or_else(|| r.list(name, "balanced_workers"))
        .unwrap_or_default();
    if names.is_empty() {
        r.diags.error(
            origin.clone(),
            format!("worker.{name}.balance_workers"),
            format!("load balancer '{name}' has no members: set worker.{name}.balance_workers"),
        );
        return None;
    }
    Some(names)
}

/// One member of load balancer `lb`, with the balancer's secret when it has none of
/// its own. `None` when refused; the checks go on after a refused length so that
/// every problem of the member is reported.
fn build_member(
    r: &mut Reader<'_>,
    lb: &str,
    m: &str,
    members_origin: &Origin,
    lb_secret: &Option<String>,
) -> Option<Member> {
    if !check_name(r, m, members_origin, "member") {
        return None;
    }
    if !has_properties(r.props, m) {
        r.diags.warning(
            members_origin.clone(),
            format!("worker.{lb}.balance_workers"),
            format!(
                "member '{m}' has no properties: it is an ajp13 worker to localhost:8009 \
                 (mod_jk's default)"
            ),
        );
    }
    let protocol = member_protocol(r, lb, m)?;
    let mut ajp = r.ajp(m, protocol);
    if ajp.secret.is_none() {
        ajp.secret = lb_secret.clone();
    }
    if ajp.protocol.is_http() {
        warn_ajp_only_settings(r, m);
    }
    if !detects_a_hung_backend(&ajp) && ajp.protocol.is_http() {
        let origin = worker_origin(r.props, m, members_origin);
        r.diags.warning(
            origin,
            format!("worker.{m}.reply_timeout"),
            format!(
                "member '{m}' of load balancer '{lb}' has no reply_timeout: if its backend \
                 hangs every request sent to it waits until the client gives up, and the \
                 balancer never learns of it; set worker.{m}.reply_timeout (ms; longer than \
                 the slowest page)"
            ),
        );
    } else if !detects_a_hung_backend(&ajp) {
        let origin = worker_origin(r.props, m, members_origin);
        r.diags.warning(
            origin,
            format!("worker.{m}.reply_timeout"),
            format!(
                "member '{m}' of load balancer '{lb}' has no reply_timeout and no ping_mode: \
                 if its Tomcat hangs (a stopped process, a pulled cable) every request sent \
                 to it waits until the client gives up, and the balancer never learns of \
                 it; set worker.{m}.ping_mode=A (a CPing answered within ping_timeout \
                 before each request) and/or worker.{m}.reply_timeout (ms; longer than \
                 the slowest page)"
            ),
        );
    }
    let mut ok = true;
    let mut lbfactor = r.int(m, "lbfactor", 1);
    if lbfactor < 1 {
        r.warn(
            m,
            "lbfactor",
            format!("lbfactor={lbfactor} is below 1; mod_jk uses 1"),
        );
        lbfactor = 1;
    }
    let distance = r.int(m, "distance", 0);
    let route = match r.string(m, "route").or_else(|| r.string(m, "jvm_route")) {
        Some(route) => {
            let attr = if r.entry(m, "route").is_some() {
                "route"
            } else {
                "jvm_route"
            };
            if !r.check_len(m, attr, "route", &route) {
                ok = false;
            }
            route
        }
        None => m.to_string(),
    };
    let mut domain = r.string(m, "domain").unwrap_or_default();
    if !r.check_len(m, "domain", "domain", &domain) {
        ok = false;
    }
    let redirect = r.string(m, "redirect").unwrap_or_default();
    if !r.check_len(m, "redirect", "redirect", &redirect) {
        ok = false;
    }
    let mut activation = r.activation(m);
    if ajp.port == 0 {
        activation = Activation::Stopped;
    }
    if domain.is_empty()
        && let Some((d, _)) = route.split_once('.')
    {
        domain = d.to_string();
    }
    ok.then(|| Member {
        name: m.to_string(),
        ajp,
        lbfactor,
        lb_mult: 0,
        distance,
        route,
        domain,
        redirect,
        activation,
    })
}

/// The protocol of member `m` of `lb`: only AJP workers (and jkd's HTTP ones) can be
/// balanced.
fn member_protocol(r: &mut Reader<'_>, lb: &str, m: &str) -> Option<AjpProtocol> {
    let type_name = r.string(m, "type").unwrap_or_else(|| "ajp13".into());
    match type_name.as_str() {
        "ajp13" => Some(AjpProtocol::Ajp13),
        "ajp14" => Some(AjpProtocol::Ajp14),
        "http" => Some(AjpProtocol::Http),
        "lb" | "status" | "ajp12" => {
            r.error(
                m,
                "type",
                format!(
                    "member '{m}' of load balancer '{lb}' has type {type_name}; jkd balances \
                     only ajp13 (and its own http) members (mod_jk would build it, but it \
                     cannot work as intended)"
                ),
            );
            None
        }
        other => {
            r.error(
                m,
                "type",
                format!(
                    "unknown worker type '{other}' (mod_jk knows ajp13, ajp14, ajp12, lb and \
                     status, jkd also http)"
                ),
            );
            None
        }
    }
}

/// Settings of the AJP protocol itself that a `type=http` worker has no use for: said
/// once, so that nobody believes a CPing or a secret protects an HTTP member.
/// (`ping_timeout` is used: it bounds the `OPTIONS *` probe of a recovering member.)
fn warn_ajp_only_settings(r: &mut Reader<'_>, name: &str) {
    const AJP_ONLY: &[&str] = &[
        "ping_mode",
        "connect_timeout",
        "prepost_timeout",
        "connection_ping_interval",
        "secret",
        "max_packet_size",
        "http_port",
        "http_host",
    ];
    for attr in AJP_ONLY {
        if r.entry(name, attr).is_some() {
            r.warn(
                name,
                attr,
                format!(
                    "worker '{name}' has type=http: {attr} belongs to AJP (or to an AJP \
                     worker's HTTP connector) and is not used"
                ),
            );
        }
    }
}

/// Routes must be unique within a balancer (an error: sessions could not stick); a
/// `redirect` naming no route is only a warning.
fn check_routes(r: &mut Reader<'_>, name: &str, members: &[Member]) -> bool {
    for (i, a) in members.iter().enumerate() {
        if let Some(b) = members[..i].iter().find(|b| b.route == a.route) {
            let attr = if r.entry(&a.name, "route").is_some() {
                "route"
            } else {
                "type"
            };
            r.error(
                &a.name,
                attr,
                format!(
                    "members '{}' and '{}' of load balancer '{name}' share the route '{}'; \
                     each member needs its own route (the jvmRoute of its Tomcat)",
                    b.name, a.name, a.route
                ),
            );
            return false;
        }
    }
    for m in members {
        if !m.redirect.is_empty() && !members.iter().any(|o| o.route == m.redirect) {
            r.warn(
                &m.name,
                "redirect",
                format!(
                    "redirect '{}' names no member route of load balancer '{name}'; the \
                     failover target will never be found",
                    m.redirect
                ),
            );
        }
    }
    true
}

/// The balancer's own settings around its `members`: retries, recovery, method,
/// lock, stickiness and the session cookie.
fn lb_settings(
    r: &mut Reader<'_>,
    name: &str,
    members: Vec<Member>,
    lb_secret: Option<String>,
) -> Option<LbSettings> {
    let mut retries = r.int(name, "retries", workers::DEFAULT_RETRIES);
    if retries < 1 {
        retries = 1;
    }
    let lb_retries = r.int(name, "lb_retries", workers::DEFAULT_RETRIES).max(1);
    let retry_interval = r.int(name, "retry_interval", workers::DEFAULT_RETRY_INTERVAL);
    let mut recover_time = r.int(name, "recover_time", workers::DEFAULT_RECOVER_TIME);
    if recover_time < 1 {
        r.warn(
            name,
            "recover_time",
            format!("recover_time={recover_time} is below 1; mod_jk uses 1"),
        );
        recover_time = 1;
    }
    let error_escalation_time = r.int(name, "error_escalation_time", recover_time / 2);
    let max_reply_timeouts = r.int(name, "max_reply_timeouts", 0);
    let method = match r.string(name, "method") {
        Some(t) => {
            let (m, note) = values::Method::parse(&t);
            if let Some(n) = note {
                r.warn(name, "method", n);
            }
            m
        }
        None => values::Method::Request,
    };
    let lock = match r.string(name, "lock") {
        Some(t) => {
            let (l, note) = values::Lock::parse(&t);
            if let Some(n) = note {
                r.warn(name, "lock", n);
            }
            l
        }
        None => values::Lock::Optimistic,
    };
    let sticky_session = r.bool(name, "sticky_session", true);
    let sticky_session_force = r.bool(name, "sticky_session_force", false);
    let mut text_attr = |attr: &str, def: &str| {
        let v = r.string(name, attr).unwrap_or_else(|| def.to_string());
        let ok = r.check_len(name, attr, attr, &v);
        (v, ok)
    };
    let (session_cookie, ok1) = text_attr("session_cookie", "JSESSIONID");
    let (session_path, ok2) = text_attr("session_path", ";jsessionid");
    let (session_cookie_path, ok3) = text_attr("session_cookie_path", "/");
    if !(ok1 && ok2 && ok3) {
        return None;
    }
    let set_session_cookie = r.bool(name, "set_session_cookie", false);
    Some(LbSettings {
        members,
        sticky_session,
        sticky_session_force,
        method,
        lock,
        retries,
        lb_retries,
        retry_interval,
        recover_time,
        error_escalation_time,
        max_reply_timeouts,
        session_cookie,
        session_path,
        set_session_cookie,
        session_cookie_path,
        secret: lb_secret,
    })
}

/// Warns once per worker that has properties but is never created: usually a typo in
/// `worker.list` or `balance_workers`, which mod_jk passes over in silence.
fn warn_unused(props: &PropMap, instantiated: &HashSet<String>, diags: &mut Diagnostics) {
    let referenced: BTreeSet<String> = props
        .entries()
        .iter()
        .filter(|e| e.key.ends_with(".reference"))
        .filter_map(|e| e.value.strip_prefix("worker.").map(str::to_string))
        .collect();
    let mut seen: HashSet<String> = HashSet::new();
    for e in props.entries() {
        let Some(rest) = e.key.strip_prefix("worker.") else {
            continue;
        };
        let Some((name, _attr)) = rest.rsplit_once('.') else {
            continue;
        };
        if name.is_empty()
            || instantiated.contains(name)
            || referenced.contains(name)
            || !seen.insert(name.to_string())
        {
            continue;
        }
        diags.warning(
            e.origin.clone(),
            e.key.clone(),
            format!(
                "worker '{name}' is defined but neither in worker.list nor a balancer member, so \
                 it is never created"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_apache_config_there_are_no_listeners_and_default_forwarding() {
        let loaded = from_workers_bytes("w.properties", b"worker.list=w\n", &|_| None);
        let config = loaded.config.unwrap();
        assert!(config.listeners.is_empty());
        assert_eq!(config.ssl_forwarding, tls::SslForwarding::default());
    }

    #[test]
    fn apache_listeners_and_forwarding_reach_the_config() {
        let dir = std::env::temp_dir().join(format!("jkd-config-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let workers = dir.join("workers.properties");
        std::fs::write(&workers, "worker.list=w\nworker.w.reply_timeout=1000\n").unwrap();
        let conf = dir.join("httpd.conf");
        std::fs::write(
            &conf,
            "Listen 80\nListen 443\nJkExtractSSL Off\n<VirtualHost *:443>\nSSLEngine on\n\
             SSLCertificateFile /c.pem\n</VirtualHost>\n",
        )
        .unwrap();
        let sources = Sources {
            workers: Some(workers),
            apache_conf: Some(conf),
            ..Sources::default()
        };
        let loaded = load(&sources, &|_| None);
        let _ = std::fs::remove_dir_all(&dir);
        let config = loaded.config.unwrap();
        let addrs: Vec<_> = config
            .listeners
            .iter()
            .map(|l| (l.addr.as_str(), l.tls.is_some()))
            .collect();
        assert_eq!(addrs, [("80", false), ("443", true)]);
        assert!(!config.ssl_forwarding.extract);
    }

    /// Loads `workers` (and `extend`, as an `--extend` file) from a temp dir.
    fn load_pair(tag: &str, workers: &str, extend: Option<&str>) -> Loaded {
        let dir = std::env::temp_dir().join(format!("jkd-config-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let w = dir.join("workers.properties");
        std::fs::write(&w, workers).unwrap();
        let mut sources = Sources {
            workers: Some(w),
            ..Sources::default()
        };
        if let Some(text) = extend {
            let x = dir.join("jkd.properties");
            std::fs::write(&x, text).unwrap();
            sources.extend.push(x);
        }
        let loaded = load(&sources, &|_| None);
        let _ = std::fs::remove_dir_all(&dir);
        loaded
    }

    fn member<'a>(config: &'a Config, lb: &str, name: &str) -> &'a workers::AjpSettings {
        let Some(WorkerKind::Lb(l)) = config
            .workers
            .iter()
            .find(|w| w.name == lb)
            .map(|w| &w.kind)
        else {
            panic!("no balancer {lb}");
        };
        match l.members.iter().find(|m| m.name == name) {
            Some(m) => &m.ajp,
            None => panic!("no member {name}"),
        }
    }

    const MIXED: &str = "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=node1,node2\n\
                         worker.node1.port=8009\nworker.node1.reply_timeout=5000\n\
                         worker.node2.port=8010\nworker.node2.reply_timeout=5000\n";

    #[test]
    fn a_members_warning_names_its_line_in_the_workers_file_not_the_extend_files() {
        let loaded = load_pair(
            "origin",
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=node1\n\
             worker.node1.port=8009\n",
            Some("worker.node1.http_port=8080\n"),
        );
        let warning = loaded
            .diagnostics
            .iter()
            .find(|d| d.key == "worker.node1.reply_timeout")
            .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
        assert!(
            warning.origin.file.ends_with("workers.properties"),
            "{warning:?}"
        );
        assert_eq!(warning.origin.line, 4);
    }

    #[test]
    fn tls_to_an_http_member_needs_a_readable_ca_and_means_nothing_for_ajp() {
        let loaded = load_pair(
            "member-tls",
            MIXED,
            Some(
                "worker.node2.type=http\nworker.node2.tls=true\n\
                 worker.node1.tls=true\n",
            ),
        );
        let said = |severity: diag::Severity, what: &str| {
            loaded
                .diagnostics
                .iter()
                .any(|d| d.severity == severity && d.message.contains(what))
        };
        assert!(
            said(diag::Severity::Error, "tls=true needs worker.node2.tls_ca"),
            "{:?}",
            loaded.diagnostics
        );
        assert!(
            said(diag::Severity::Warning, "tls=true is for type=http workers"),
            "{:?}",
            loaded.diagnostics
        );
        assert!(loaded.config.is_none());
        let missing = load_pair(
            "member-tls-ca",
            MIXED,
            Some(
                "worker.node2.type=http\nworker.node2.tls=true\n\
                 worker.node2.tls_ca=/nonexistent/ca.pem\n",
            ),
        );
        let error = missing
            .diagnostics
            .iter()
            .find(|d| d.key == "worker.node2.tls_ca")
            .unwrap_or_else(|| panic!("{:?}", missing.diagnostics));
        assert!(error.message.contains("cannot read /nonexistent/ca.pem"));
        assert_eq!(error.origin.line, 3, "{error:?}");
        // A file that is there but holds no certificate (a key, a DER file, a slip).
        let not_pem = std::env::temp_dir().join(format!("jkd-not-a-ca-{}.pem", std::process::id()));
        std::fs::write(&not_pem, "-----BEGIN PRIVATE KEY-----\nAAAA\n").unwrap();
        let wrong = load_pair(
            "member-tls-ca-wrong",
            MIXED,
            Some(&format!(
                "worker.node2.type=http\nworker.node2.tls=true\nworker.node2.tls_ca={}\n",
                not_pem.display()
            )),
        );
        let _ = std::fs::remove_file(&not_pem);
        let error = wrong
            .diagnostics
            .iter()
            .find(|d| d.key == "worker.node2.tls_ca")
            .unwrap_or_else(|| panic!("{:?}", wrong.diagnostics));
        assert!(
            error.message.contains("holds no PEM certificate"),
            "{error:?}"
        );
        assert!(wrong.config.is_none());
    }

    #[test]
    fn health_check_keys_come_from_an_extend_file_with_their_defaults() {
        let loaded = load_pair(
            "health",
            MIXED,
            Some(
                "worker.node1.health_check_uri=/app/health?deep=1\n\
                 worker.node2.health_check_uri=app/health\n\
                 worker.node2.health_check_interval=0\n",
            ),
        );
        let warned = |what: &str| {
            loaded
                .diagnostics
                .iter()
                .any(|d| d.severity == diag::Severity::Warning && d.message.contains(what))
        };
        assert!(
            warned("'app/health' is not a path"),
            "{:?}",
            loaded.diagnostics
        );
        assert!(warned("0 is below 1 second"), "{:?}", loaded.diagnostics);
        for bad in ["/health?<x>", "/he alth", "/gesundheitä"] {
            let odd = load_pair(
                "health-odd",
                MIXED,
                Some(&format!("worker.node2.health_check_uri={bad}\n")),
            );
            assert!(
                odd.diagnostics
                    .iter()
                    .any(|d| d.message.contains(&format!("'{bad}' is not a path"))),
                "{bad}: {:?}",
                odd.diagnostics
            );
        }
        let config = loaded.config.unwrap();
        let node1 = member(&config, "lb", "node1");
        assert_eq!(
            node1.health_check_uri.as_deref(),
            Some("/app/health?deep=1")
        );
        assert_eq!(node1.health_check_interval, 10);
        // Bounded by ping_timeout unless given.
        assert_eq!(node1.health_check_timeout, 10000);
        let node2 = member(&config, "lb", "node2");
        assert_eq!(node2.health_check_uri, None);
        assert_eq!(node2.health_check_interval, 10);
    }

    #[test]
    fn an_extend_file_turns_an_ajp_member_into_an_http_one_quietly() {
        let loaded = load_pair(
            "http-overlay",
            MIXED,
            Some("worker.node2.type=http\nworker.node2.port=8080\n"),
        );
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let config = loaded.config.unwrap();
        let node2 = member(&config, "lb", "node2");
        assert_eq!(node2.protocol, AjpProtocol::Http);
        assert_eq!(node2.http_endpoint(), Some(("localhost", 8080)));
        assert_eq!(member(&config, "lb", "node1").protocol, AjpProtocol::Ajp13);
    }

    #[test]
    fn type_http_in_the_workers_file_works_but_is_said_to_break_mod_jk() {
        let text = format!(
            "{MIXED}worker.node2.type=http\nworker.node2.ping_mode=A\nworker.node2.ping_timeout=3000\n"
        );
        let loaded = load_pair("http-main", &text, None);
        let said = |what: &str| {
            loaded
                .diagnostics
                .iter()
                .any(|d| d.severity == diag::Severity::Warning && d.message.contains(what))
        };
        assert!(said("type=http is jkd's own"), "{:?}", loaded.diagnostics);
        assert!(said("ping_mode belongs to AJP"), "{:?}", loaded.diagnostics);
        // ping_timeout bounds an HTTP member's recovery probe.
        assert!(!said("ping_timeout"), "{:?}", loaded.diagnostics);
        let config = loaded.config.unwrap();
        assert_eq!(member(&config, "lb", "node2").protocol, AjpProtocol::Http);
        assert_eq!(member(&config, "lb", "node2").ping_timeout, 3000);
        // Without a port, Tomcat's HTTP connector's default.
        let direct = load_pair(
            "http-direct",
            "worker.list=w\nworker.w.type=http\nworker.w.reply_timeout=1000\n",
            None,
        );
        let config = direct.config.unwrap();
        let Some(WorkerKind::Ajp(w)) = config.workers.first().map(|w| &w.kind) else {
            panic!("not a direct worker");
        };
        assert_eq!(w.http_endpoint(), Some(("localhost", 8080)));
    }

    #[test]
    fn an_extend_file_still_joins_lists_and_refuses_unknown_keys() {
        let loaded = load_pair(
            "http-lists",
            MIXED,
            Some(
                "worker.lb.balance_workers=node3\nworker.node3.type=http\nworker.node3.reply_timeout=1\n",
            ),
        );
        let config = loaded.config.unwrap();
        assert_eq!(member(&config, "lb", "node3").protocol, AjpProtocol::Http);
        let bad = load_pair("http-bad", MIXED, Some("worker.node2.typo=1\n"));
        assert!(bad.config.is_none());
    }
}

#[cfg(test)]
mod static_file_tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("jkd-config-static-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("site")).unwrap();
        std::fs::write(dir.join("w.properties"), "worker.list=w\n").unwrap();
        dir
    }

    #[test]
    fn the_document_root_flag_wins_over_the_apache_config() {
        let dir = temp_dir("wins");
        std::fs::write(
            dir.join("httpd.conf"),
            "DocumentRoot /nonexistent-root\nRedirectMatch ^/$ /jw/\n",
        )
        .unwrap();
        let sources = Sources {
            workers: Some(dir.join("w.properties")),
            apache_conf: Some(dir.join("httpd.conf")),
            document_root: Some(dir.join("site")),
            ..Sources::default()
        };
        let loaded = load(&sources, &|_| None);
        let config = loaded.config.unwrap();
        let (root, origin) = config.static_files.document_root.clone().unwrap();
        assert_eq!(root, dir.join("site"));
        assert_eq!(&*origin.file, "--document-root");
        assert_eq!(config.static_files.redirects.len(), 1);
        // The config's own root does not exist: httpd warns (AH00112), so does jkd.
        assert!(
            loaded
                .diagnostics
                .iter()
                .any(|d| !d.is_error() && d.key == "DocumentRoot" && d.origin.line == 1),
            "{:?}",
            loaded.diagnostics
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_document_root_flag_that_is_not_a_directory_is_an_error() {
        let dir = temp_dir("missing");
        let sources = Sources {
            workers: Some(dir.join("w.properties")),
            document_root: Some(dir.join("no-such-dir")),
            ..Sources::default()
        };
        let loaded = load(&sources, &|_| None);
        assert!(loaded.config.is_none());
        assert!(
            loaded
                .diagnostics
                .iter()
                .any(|d| d.is_error() && d.message.contains("not a directory")),
            "{:?}",
            loaded.diagnostics
        );
        let without = load(
            &Sources {
                workers: Some(dir.join("w.properties")),
                ..Sources::default()
            },
            &|_| None,
        );
        let config = without.config.unwrap();
        assert!(config.static_files.document_root.is_none());
        assert!(!config.static_files.serves_files());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
