//! The `jkd` command line: `check`, `run`, `demo`.

#![forbid(unsafe_code)]
// Data from the network or from files must never bring the process down: failures
// are handled as values. Tests may unwrap.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable
    )
)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use jkd::config::{self, Sources, diag::Diagnostic};

/// mimalloc: faster than glibc malloc for the many small, short-lived allocations of
/// the request path.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "jkd",
    version,
    about = "A mod_jk-compatible AJP13 front end and load balancer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the configuration comes from (the same flags for every command).
#[derive(Args, Clone, Debug)]
struct ConfigArgs {
    /// workers.properties (mod_jk's JkWorkersFile)
    #[arg(long, value_name = "FILE")]
    workers: Option<PathBuf>,
    /// uriworkermap.properties (mod_jk's JkMountFile); repeatable
    #[arg(long = "mounts", value_name = "FILE")]
    mount_files: Vec<PathBuf>,
    /// one mount rule 'PATTERN=WORKER' (mod_jk's JkMount); repeatable
    #[arg(long = "mount", value_name = "PATTERN=WORKER")]
    mounts: Vec<String>,
    /// an Apache config file whose Jk* lines are read (JkMount, JkUnMount, JkWorkersFile, JkMountFile, JkWorkerProperty)
    #[arg(long, value_name = "FILE")]
    apache_conf: Option<PathBuf>,
    /// properties read after the workers file, for what only jkd knows (worker.NAME.type=http and its port, http_port, http_host); its keys replace the workers file's, so that file stays usable by mod_jk; repeatable
    #[arg(long = "extend", value_name = "FILE")]
    extend: Vec<PathBuf>,
}

/// Response compression (the same flag for `run`, `check` and `demo`).
#[derive(Args, Clone, Debug, Default)]
struct CompressArgs {
    /// compress responses of this media type (gzip or brotli, as the client accepts; like httpd's AddOutputFilterByType DEFLATE); repeatable; replaces the Apache config's AddOutputFilterByType lines
    #[arg(long = "compress", value_name = "MIME-TYPE", value_parser = parse_media_type)]
    types: Vec<String>,
}

impl ConfigArgs {
    fn sources(&self) -> Sources {
        Sources {
            workers: self.workers.clone(),
            mount_files: self.mount_files.clone(),
            mounts: self.mounts.clone(),
            apache_conf: self.apache_conf.clone(),
            extend: self.extend.clone(),
            compress: Vec::new(),
            document_root: None,
        }
    }

    /// The sources of `jkd run` and `jkd check`: these flags, `--document-root` and
    /// `--compress`.
    fn sources_for_run(&self, run: &RunArgs) -> Sources {
        Sources {
            document_root: run.document_root.clone(),
            compress: run.compress.types.clone(),
            ..self.sources()
        }
    }
}

/// Client timeouts and limits (the same flags for `run` and `demo`).
#[derive(Args, Clone, Copy, Debug)]
struct EdgeArgs {
    /// seconds a request head may take to arrive, and each read of a body or write of a response may wait (httpd's Timeout; default 60, or the Apache config's)
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
    /// seconds a connection may wait idle for its next request (httpd's KeepAliveTimeout; default 5, or the Apache config's)
    #[arg(long = "keepalive-timeout", value_name = "SECS")]
    keepalive_timeout: Option<u64>,
    /// client connections served at once; past it, new ones wait to be accepted (default 10000)
    #[arg(long = "max-connections", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: Option<u64>,
    /// on SIGTERM/SIGINT, seconds the requests under way may take to finish before jkd exits anyway (default 30)
    #[arg(long = "shutdown-timeout", value_name = "SECS", default_value_t = 30)]
    shutdown_timeout: u64,
}

impl EdgeArgs {
    /// The flags, else the Apache config's `Timeout`/`KeepAliveTimeout`, else httpd's
    /// defaults.
    fn limits(&self, from_conf: config::HttpTimeouts) -> jkd::runtime::ClientLimits {
        use std::time::Duration;
        let defaults = jkd::runtime::ClientLimits::default();
        jkd::runtime::ClientLimits {
            timeout: self
                .timeout
                .or(from_conf.timeout.filter(|t| *t > 0))
                .map_or(defaults.timeout, Duration::from_secs),
            keepalive_timeout: self
                .keepalive_timeout
                .or(from_conf.keepalive_timeout)
                .map_or(defaults.keepalive_timeout, Duration::from_secs),
            max_connections: self.max_connections.map_or(defaults.max_connections, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            }),
        }
    }
}

/// The access log and the diagnostics log (the same flags for `run` and `demo`).
#[derive(Args, Clone, Debug)]
struct LogArgs {
    /// write an access log line per request to FILE ('-': stdout); SIGUSR1 reopens the file
    #[arg(long = "access-log", value_name = "FILE|-")]
    access_log: Option<String>,
    /// the access log's lines: combined, json, or a template of httpd LogFormat and mod_jk JkRequestLogFormat % codes
    #[arg(
        long = "access-log-format",
        value_name = "combined|json|FORMAT",
        default_value = "combined"
    )]
    access_log_format: String,
    /// how diagnostics are written on stderr: text, or one JSON object per line
    #[arg(long = "log-format", value_enum, default_value = "text")]
    log_format: DiagnosticsFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DiagnosticsFormat {
    Text,
    Json,
}

impl LogArgs {
    /// Opens the access log when one is asked for; a bad format or a file that
    /// cannot be opened stops jkd with the reason.
    /// Without `--access-log`, the Apache config's `JkRequestLogFormat` to its
    /// `JkLogFile` (mod_jk's request log), when it has both.
    fn access_log(
        &self,
        from_conf: Option<&config::RequestLog>,
    ) -> Result<Option<jkd::access_log::AccessLog>, String> {
        use jkd::access_log::{AccessLog, Destination, LineFormat};
        let format = LineFormat::parse(&self.access_log_format)
            .map_err(|e| format!("--access-log-format: {e}"))?;
        if let Some(destination) = &self.access_log {
            return AccessLog::start(Destination::parse(destination), format).map(Some);
        }
        let Some(conf) = from_conf else {
            return Ok(None);
        };
        let place = format!(
            "{}:{}: JkRequestLogFormat",
            conf.origin.file, conf.origin.line
        );
        let format =
            LineFormat::parse(&mod_jk_codes(&conf.format)).map_err(|e| format!("{place}: {e}"))?;
        AccessLog::start(Destination::parse(&conf.file), format)
            .map(Some)
            .map_err(|e| format!("{place}: JkLogFile: {e}"))
    }
}

/// A `JkRequestLogFormat` in jkd's template language: the codes mean what mod_jk
/// makes them mean, and mod_jk's `%T` is seconds with microseconds (jkd's `%{jk}T`;
/// a plain `%T` is httpd's whole seconds).
fn mod_jk_codes(format: &str) -> String {
    let mut out = String::with_capacity(format.len() + 8);
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('T') => out.push_str("%{jk}T"),
            Some(next) => {
                out.push('%');
                out.push(next);
            }
            None => out.push('%'),
        }
    }
    out
}

/// HTTPS listeners (`run` only).
#[derive(Args, Clone, Debug, Default)]
struct TlsArgs {
    /// address to serve HTTPS on, e.g. 127.0.0.1:8443; repeatable
    #[arg(long = "tls-listen", value_name = "ADDR")]
    tls_listen: Vec<String>,
    /// PEM certificate chain for --tls-listen; repeatable (chosen by SNI from the names each carries, the first is the default)
    #[arg(long = "cert", value_name = "FILE")]
    certs: Vec<PathBuf>,
    /// PEM private key (PKCS#8, RSA or EC) of the --cert in the same position
    #[arg(long = "key", value_name = "FILE")]
    keys: Vec<PathBuf>,
    /// PEM CA certificates that client certificates must chain to
    #[arg(long = "client-ca", value_name = "FILE")]
    client_ca: Option<PathBuf>,
    /// ask clients for a certificate: none, optional, optional_no_ca or require (httpd's SSLVerifyClient)
    #[arg(long = "client-cert", value_name = "MODE", value_parser = parse_client_cert)]
    client_cert: Option<config::tls::ClientCert>,
}

fn parse_client_cert(word: &str) -> Result<config::tls::ClientCert, String> {
    config::tls::ClientCert::parse(word)
        .ok_or_else(|| "expected none, optional, optional_no_ca or require".to_string())
}

/// `--compress`: a `type/subtype`, kept in lower case as media types compare.
fn parse_media_type(text: &str) -> Result<String, String> {
    if config::compress::is_media_type(text) && !text.contains('*') {
        Ok(text.to_ascii_lowercase())
    } else {
        Err("expected a media type such as text/html (no parameters, no wildcards)".to_string())
    }
}

/// `--trusted-proxy`, `--manager-allow`: an address or a CIDR range.
fn parse_ip_range(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| "expected an IP address or a CIDR range such as 10.0.0.0/8".to_string())
}

impl TlsArgs {
    /// The HTTPS listeners the flags describe.
    fn listeners(&self) -> Result<Vec<config::tls::Listener>, String> {
        use config::tls::{CertFiles, ClientCert, Listener, TlsSettings};
        if self.tls_listen.is_empty() {
            if !self.certs.is_empty() || self.client_ca.is_some() || self.client_cert.is_some() {
                return Err(
                    "--cert, --key, --client-ca and --client-cert need --tls-listen ADDR"
                        .to_string(),
                );
            }
            return Ok(Vec::new());
        }
        if let Some(addr) = self
            .tls_listen
            .iter()
            .find(|a| jkd::runtime::listen::unix_path(a).is_some())
        {
            return Err(format!(
                "--tls-listen {addr}: TLS is served on TCP addresses only; a proxy on this \
                 host that reaches jkd through a unix socket has terminated TLS already \
                 (say so with X-Forwarded-Proto and --trusted-proxy 127.0.0.1)"
            ));
        }
        if self.certs.is_empty() {
            return Err("--tls-listen needs a certificate: --cert FILE --key FILE".to_string());
        }
        if self.certs.len() != self.keys.len() {
            return Err(format!(
                "each --cert needs its --key ({} certificates, {} keys)",
                self.certs.len(),
                self.keys.len()
            ));
        }
        let client_cert = self.client_cert.unwrap_or(if self.client_ca.is_some() {
            ClientCert::Require
        } else {
            ClientCert::None
        });
        let settings = TlsSettings {
            certs: self
                .certs
                .iter()
                .zip(&self.keys)
                .map(|(cert, key)| CertFiles {
                    cert: cert.clone(),
                    key: Some(key.clone()),
                    chain: None,
                    names: Vec::new(),
                    origin: None,
                })
                .collect(),
            client_ca: self.client_ca.clone(),
            client_cert,
            protocols: Default::default(),
        };
        Ok(self
            .tls_listen
            .iter()
            .map(|addr| Listener {
                addr: addr.clone(),
                tls: Some(settings.clone()),
                origin: None,
            })
            .collect())
    }
}

/// How `jkd run` serves (also taken by `jkd check`, which checks them).
#[derive(Args, Clone, Debug)]
struct RunArgs {
    /// address to listen on: 127.0.0.1:8080, :8080 (every address) or unix:/run/jkd/http.sock; repeatable
    #[arg(long, value_name = "ADDR")]
    listen: Vec<String>,
    /// file mode of the --listen unix: sockets, octal (default: from the umask)
    #[arg(long = "unix-socket-mode", value_name = "MODE", value_parser = jkd::runtime::listen::UnixPermissions::parse_mode)]
    unix_socket_mode: Option<u32>,
    /// owner of the --listen unix: sockets: USER[:GROUP] or :GROUP, names or ids (changing the user needs root)
    #[arg(long = "unix-socket-owner", value_name = "USER[:GROUP]", value_parser = jkd::runtime::listen::UnixPermissions::parse_owner)]
    unix_socket_owner: Option<(Option<u32>, Option<u32>)>,
    /// a proxy (address or CIDR range) in front of jkd whose X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Port and Forwarded are believed; repeatable
    #[arg(long = "trusted-proxy", value_name = "IP|CIDR", value_parser = parse_ip_range)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// connections from --trusted-proxy peers begin with a PROXY protocol header (v1 or v2, as HAProxy's send-proxy and nginx's proxy_protocol send) naming the client
    #[arg(long = "proxy-protocol")]
    proxy_protocol: bool,
    #[command(flatten)]
    tls: TlsArgs,
    /// serve Prometheus metrics at http://ADDR/metrics (off unless given)
    #[arg(long = "metrics-listen", value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// who may change things in the status manager: 'user:bcrypt-hash' lines (htpasswd -B); without it the manager is read-only
    #[arg(long = "manager-users", value_name = "FILE")]
    manager_users: Option<PathBuf>,
    /// only clients (TCP peer address) in this address or CIDR range reach the status manager, others get 403; repeatable; wins over the Apache config's <Location> rules
    #[arg(long = "manager-allow", value_name = "IP|CIDR", value_parser = parse_ip_range)]
    manager_allow: Vec<ipnet::IpNet>,
    /// threads serving requests (default: one per CPU; TOKIO_WORKER_THREADS also works)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// keep the status manager's changes to balancer members (activation, lbfactor, distance, route, redirect, domain) in FILE, and restore them when jkd starts again
    #[arg(long = "state-file", value_name = "FILE")]
    state_file: Option<PathBuf>,
    /// serve URIs that no mount rule maps (or that JkUnMount excludes) from this directory, as httpd's DocumentRoot; wins over the Apache config's
    #[arg(long = "document-root", value_name = "DIR")]
    document_root: Option<PathBuf>,
    #[command(flatten)]
    compress: CompressArgs,
    #[command(flatten)]
    edge: EdgeArgs,
    #[command(flatten)]
    logs: LogArgs,
}

// Parsed once at start: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Validate a configuration as mod_jk would read it (exit 0 when valid, 1 when not)
    Check {
        #[command(flatten)]
        config: ConfigArgs,
        /// print the resolved configuration in mod_jk's status `mime=prop` format
        #[arg(long)]
        dump: bool,
        /// print which worker a URI goes to ('URI<TAB>WORKER' or 'URI<TAB>-'); repeatable
        #[arg(long = "map", value_name = "URI")]
        map: Vec<String>,
        /// like --map, one URI per line of FILE
        #[arg(long = "map-file", value_name = "FILE")]
        map_file: Vec<PathBuf>,
        /// warnings count as errors (exit 1)
        #[arg(long)]
        strict: bool,
        /// the flags of `jkd run`, checked too: listen addresses, TLS files, the manager's user file
        #[command(flatten)]
        run: RunArgs,
    },
    /// Serve HTTP and forward to the configured AJP workers
    Run {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Run the example configuration with three built-in demo backends
    Demo {
        /// address to listen on; repeatable
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: Vec<String>,
        #[command(flatten)]
        tls: TlsArgs,
        /// serve Prometheus metrics at http://ADDR/metrics (off unless given)
        #[arg(long = "metrics-listen", value_name = "ADDR")]
        metrics_listen: Option<String>,
        /// who may change things in the status manager: 'user:bcrypt-hash' lines (htpasswd -B); without it the manager is read-only
        #[arg(long = "manager-users", value_name = "FILE")]
        manager_users: Option<PathBuf>,
        /// only clients (TCP peer address) in this address or CIDR range reach the status manager, others get 403; repeatable; wins over the Apache config's <Location> rules
        #[arg(long = "manager-allow", value_name = "IP|CIDR", value_parser = parse_ip_range)]
        manager_allow: Vec<ipnet::IpNet>,
        /// threads serving requests (default: one per CPU; TOKIO_WORKER_THREADS also works)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        threads: Option<u16>,
        #[command(flatten)]
        edge: EdgeArgs,
        #[command(flatten)]
        logs: LogArgs,
        #[command(flatten)]
        compress: CompressArgs,
    },
}

fn print_diagnostics(diags: &[Diagnostic]) {
    for d in diags {
        eprintln!("{d}");
    }
}

fn load(sources: &Sources) -> Option<config::Config> {
    let loaded = config::load(sources, &config::props::process_env);
    print_diagnostics(&loaded.diagnostics);
    loaded.config
}

/// `jkd check`, as `nginx -t`: everything `jkd run` would read with the same flags,
/// without serving. Exit 0 when jkd would start, 1 when not (or, with `--strict`, when
/// anything was worth a warning), 2 when there is nothing to check.
fn check(
    args: &ConfigArgs,
    run: RunArgs,
    strict: bool,
    dump: bool,
    uris: &[String],
    map_files: &[PathBuf],
) -> ExitCode {
    if args.workers.is_none()
        && args.apache_conf.is_none()
        && args.mount_files.is_empty()
        && args.mounts.is_empty()
    {
        eprintln!(
            "jkd check: nothing to check: give --workers FILE, --apache-conf FILE, --mounts FILE or --mount RULE"
        );
        return ExitCode::from(2);
    }
    let loaded = config::load(&args.sources_for_run(&run), &config::props::process_env);
    print_diagnostics(&loaded.diagnostics);
    let warned = !loaded.diagnostics.is_empty();
    let Some(cfg) = loaded.config else {
        return ExitCode::from(1);
    };
    let serving = Serving::of_run(args, &cfg, run);
    if !serving_is_sound(&serving) {
        return ExitCode::from(1);
    }
    let overridden = manager_allow_overridden(&cfg, &serving);
    if let Some(note) = &overridden {
        eprintln!("{note}");
    }
    let warned = warned || overridden.is_some();
    if strict && warned {
        eprintln!("jkd check: --strict: the warnings above count as errors");
        return ExitCode::from(1);
    }
    if dump {
        print!("{}", config::dump::render(&cfg));
    }
    let mut all: Vec<String> = uris.to_vec();
    for f in map_files {
        match std::fs::read(f) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                all.extend(
                    text.lines()
                        .map(|l| l.trim_end_matches('\r'))
                        .filter(|l| !l.is_empty())
                        .map(str::to_string),
                );
            }
            Err(e) => {
                eprintln!("{}: cannot read the URI list: {e}", f.display());
                return ExitCode::from(1);
            }
        }
    }
    for uri in &all {
        let worker = cfg.route_uri(uri);
        println!("{uri}\t{}", worker.unwrap_or("-"));
    }
    ExitCode::SUCCESS
}

fn init_logging(format: DiagnosticsFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("JKD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal: a log file or journal gets plain text.
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        DiagnosticsFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        DiagnosticsFormat::Json => builder.json().init(),
    }
}

/// How `run` and `demo` serve.
struct Serving {
    /// Where the configuration came from, read again on SIGHUP (`None`: built in).
    sources: Option<Sources>,
    listen: Vec<String>,
    /// Mode and owner of unix socket listeners.
    unix: jkd::runtime::listen::UnixPermissions,
    /// Listeners from the Apache config, used when no listen flag is given.
    conf_listeners: Vec<config::tls::Listener>,
    /// HTTPS listeners from the flags.
    tls: TlsArgs,
    trusted_proxies: Vec<ipnet::IpNet>,
    /// `--proxy-protocol`.
    proxy_protocol: bool,
    metrics_listen: Option<String>,
    /// `--manager-users`: who may write through the status manager.
    manager_users: Option<PathBuf>,
    /// `--manager-allow`: the client ranges that reach the status manager.
    manager_allow: Vec<ipnet::IpNet>,
    /// `--threads`: runtime worker threads, `None` for one per CPU.
    threads: Option<u16>,
    /// `--state-file`: where the manager's changes to members are kept.
    state_file: Option<PathBuf>,
    edge: EdgeArgs,
    logs: LogArgs,
}

impl Serving {
    fn of_run(config: &ConfigArgs, cfg: &config::Config, run: RunArgs) -> Serving {
        Serving {
            sources: Some(config.sources_for_run(&run)),
            conf_listeners: cfg.listeners.clone(),
            listen: run.listen,
            unix: jkd::runtime::listen::UnixPermissions {
                mode: run.unix_socket_mode,
                user: run.unix_socket_owner.and_then(|o| o.0),
                group: run.unix_socket_owner.and_then(|o| o.1),
            },
            tls: run.tls,
            trusted_proxies: run.trusted_proxies,
            proxy_protocol: run.proxy_protocol,
            metrics_listen: run.metrics_listen,
            manager_users: run.manager_users,
            manager_allow: run.manager_allow,
            threads: run.threads,
            state_file: run.state_file,
            edge: run.edge,
            logs: run.logs,
        }
    }
}

/// Reads `--manager-users` (a bad line stops jkd with `file:line`, as does an
/// operating system that cannot give random bytes) and sets up the
/// status manager's access: read-only without the flag.
fn manager_access(serving: &Serving) -> Result<jkd::status::auth::Manager, ExitCode> {
    use jkd::status::auth::{Manager, Users};
    let users = match &serving.manager_users {
        None => None,
        Some(path) => match Users::load(path) {
            Ok(users) => Some(users),
            Err(e) => {
                eprintln!("jkd: --manager-users: {e}");
                return Err(ExitCode::from(1));
            }
        },
    };
    Manager::new(users).map_err(|e| {
        eprintln!("jkd: status manager: {e}");
        ExitCode::from(1)
    })
}

/// Says at startup whether the status manager can change anything, and why not.
fn log_manager_access(cfg: &config::Config, manager: &jkd::status::auth::Manager) {
    let status_workers: Vec<&str> = cfg
        .worker_list
        .iter()
        .filter(|name| {
            cfg.worker(name)
                .is_some_and(|w| matches!(w.kind, config::workers::WorkerKind::Status(_)))
        })
        .map(String::as_str)
        .collect();
    if status_workers.is_empty() {
        return;
    }
    if !manager.writable() {
        tracing::info!(
            "status manager is read-only: start jkd with --manager-users FILE to allow changes"
        );
        return;
    }
    for name in status_workers {
        let read_only = cfg.worker(name).is_some_and(
            |w| matches!(&w.kind, config::workers::WorkerKind::Status(s) if s.read_only),
        );
        if read_only {
            tracing::info!(
                "status manager '{name}' is read-only: worker.{name}.read_only=true wins over --manager-users"
            );
        } else {
            tracing::info!(
                "status manager '{name}': users of --manager-users may change the cluster after signing in"
            );
        }
    }
}

/// When `--manager-allow` is given and the Apache config has access rules for the
/// status manager too, the flag wins: said so, with where the rules are.
fn manager_allow_overridden(cfg: &config::Config, serving: &Serving) -> Option<String> {
    let from_conf = cfg.manager_allow.as_ref()?;
    if serving.manager_allow.is_empty() {
        return None;
    }
    Some(format!(
        "{}: warning: the Apache config's access rules for the status manager are not used: --manager-allow wins over them",
        from_conf.origin
    ))
}

/// Says at startup who may reach the status manager by address.
fn log_manager_allow(cfg: &config::Config, serving: &Serving) {
    if let Some(note) = manager_allow_overridden(cfg, serving) {
        tracing::warn!("{note}");
    }
    let (ranges, source) = if !serving.manager_allow.is_empty() {
        (&serving.manager_allow, "--manager-allow".to_string())
    } else if let Some(a) = &cfg.manager_allow {
        (&a.ranges, a.origin.to_string())
    } else {
        return;
    };
    let shown: Vec<String> = ranges.iter().map(ToString::to_string).collect();
    if shown.is_empty() {
        tracing::info!("status manager: no client may reach it ({source})");
    } else {
        tracing::info!(
            "status manager: only clients from {} may reach it ({source})",
            shown.join(", ")
        );
    }
}

/// Says at startup which response types are compressed.
fn log_compression(cfg: &config::Config) {
    let types = &cfg.compression.types;
    if types.is_empty() {
        return;
    }
    let shown: Vec<String> = types
        .iter()
        .map(|t| match (t.codings.br, t.codings.gzip) {
            (true, true) => t.mime.clone(),
            (true, false) => format!("{} (br only)", t.mime),
            _ => format!("{} (gzip only)", t.mime),
        })
        .collect();
    let source = match types.iter().find_map(|t| t.origin.as_ref()) {
        Some(origin) => origin.file.to_string(),
        None => "--compress".to_string(),
    };
    tracing::info!(
        "compressing responses of type {} for clients that accept br or gzip ({source})",
        shown.join(", ")
    );
}

/// Why `--state-file` cannot be kept where it is asked for (its directory is missing).
fn state_file_problem(serving: &Serving) -> Option<String> {
    let path = serving.state_file.as_ref()?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    (!dir.is_dir()).then(|| {
        format!(
            "--state-file {}: no directory {} to keep it in",
            path.display(),
            dir.display()
        )
    })
}

/// What `jkd run` would read besides the configuration: listen addresses, TLS files,
/// the manager's user file, the state file's directory. Each problem is printed;
/// false when there was one.
fn serving_is_sound(serving: &Serving) -> bool {
    let mut sound = true;
    if let Some(problem) = state_file_problem(serving) {
        eprintln!("jkd: {problem}");
        sound = false;
    }
    let specs = match listener_specs(serving) {
        Ok(specs) => specs,
        Err(e) => {
            eprintln!("jkd: {e}");
            return false;
        }
    };
    let mut addresses: Vec<String> = specs.iter().map(|s| s.bind_addr()).collect();
    if let Some(metrics) = &serving.metrics_listen {
        if jkd::runtime::listen::unix_path(metrics).is_some() {
            eprintln!("jkd: --metrics-listen {metrics}: metrics are served on TCP addresses only");
            sound = false;
        } else {
            addresses.push(metrics.clone());
        }
    }
    for addr in addresses {
        if let Some(path) = jkd::runtime::listen::unix_path(&addr) {
            if !path.parent().is_some_and(|d| d.is_dir()) {
                eprintln!(
                    "jkd: {addr}: no directory {} to put the socket in",
                    path.parent().unwrap_or(path).display()
                );
                sound = false;
            }
            continue;
        }
        if addr.parse::<std::net::SocketAddr>().is_err()
            && std::net::ToSocketAddrs::to_socket_addrs(addr.as_str()).is_err()
        {
            eprintln!(
                "jkd: '{addr}' is not an address to listen on (HOST:PORT, IP:PORT, [IPv6]:PORT or unix:PATH)"
            );
            sound = false;
        }
    }
    if tls_acceptors(&specs).is_err() {
        sound = false;
    }
    if let Err(e) = jkd::access_log::LineFormat::parse(&serving.logs.access_log_format) {
        eprintln!("jkd: --access-log-format: {e}");
        sound = false;
    }
    if manager_access(serving).is_err() {
        sound = false;
    }
    sound
}

/// What to listen on: `--listen` and `--tls-listen`, else the Apache config's `Listen`
/// lines, else 127.0.0.1:8080.
fn listener_specs(serving: &Serving) -> Result<Vec<config::tls::Listener>, String> {
    let mut specs: Vec<config::tls::Listener> = serving
        .listen
        .iter()
        .map(|addr| config::tls::Listener {
            addr: addr.clone(),
            tls: None,
            origin: None,
        })
        .collect();
    specs.extend(serving.tls.listeners()?);
    if specs.is_empty() {
        specs.extend(serving.conf_listeners.iter().cloned());
    }
    if specs.is_empty() {
        specs.push(config::tls::Listener {
            addr: "127.0.0.1:8080".to_string(),
            tls: None,
            origin: None,
        });
    }
    Ok(specs)
}

/// Reads the certificates of every TLS listener; a file that cannot be used stops jkd
/// with its name and the reason.
fn tls_acceptors(
    specs: &[config::tls::Listener],
) -> Result<Vec<Option<std::sync::Arc<jkd::tls::Acceptor>>>, ExitCode> {
    specs
        .iter()
        .map(|spec| {
            let Some(settings) = &spec.tls else {
                return Ok(None);
            };
            jkd::tls::Acceptor::new(settings.clone())
                .map(|a| Some(std::sync::Arc::new(a)))
                .map_err(|e| {
                    let place = spec
                        .origin
                        .as_ref()
                        .map(|o| format!("{}:{}: ", o.file, o.line))
                        .unwrap_or_default();
                    eprintln!("jkd: {place}TLS listener {}: {e}", spec.addr);
                    ExitCode::from(1)
                })
        })
        .collect()
}

/// Certificates that expired, or expire within 30 days, are a warning (at start and
/// after each reload).
fn warn_expiring_certificates(tls: &jkd::tls::TlsState) {
    const SOON: i64 = 30 * 24 * 3600;
    let now = jiff::Timestamp::now().as_second();
    for (listener, cert) in tls.certificates() {
        let left = jkd::tls::seconds_left(&cert, now);
        let when = jiff::Timestamp::from_second(cert.not_after)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| cert.not_after.to_string());
        if left < 0 {
            tracing::warn!(
                "{}: the certificate of https://{listener} expired on {when}: clients refuse it",
                cert.file
            );
        } else if left < SOON {
            tracing::warn!(
                "{}: the certificate of https://{listener} expires in {} days ({when})",
                cert.file,
                left / 86_400
            );
        }
    }
}

/// SIGHUP re-reads what jkd was started with: the configuration files (when they came
/// from files) and every TLS certificate and key. A configuration with an error keeps
/// the running one (every diagnostic is logged with its file:line); a certificate file
/// that cannot be used keeps the old certificate. Requests and connections under way
/// finish on what they started with.
async fn reload_on_hangup(live: std::sync::Arc<jkd::runtime::Live>, sources: Option<Sources>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot handle SIGHUP: {e}");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        let rt = live.load();
        if let Ok(now) = sd_notify::NotifyState::monotonic_usec_now() {
            notify_systemd(&[sd_notify::NotifyState::Reloading, now]);
        }
        let mut ok = true;
        if let Some(sources) = &sources {
            ok = reload_config(&live, sources);
        }
        let failures = rt.tls.reload();
        for (listener, e) in &failures {
            tracing::error!("reload: https://{listener} keeps its current certificate: {e}");
        }
        ok &= failures.is_empty();
        rt.reloads.record(ok, jiff::Timestamp::now().as_second());
        if ok {
            tracing::info!("reload: configuration and certificates re-read");
        }
        warn_expiring_certificates(&rt.tls);
        notify_systemd(&[sd_notify::NotifyState::Ready]);
    }
}

/// Tells systemd where jkd stands (`Type=notify`); outside systemd nothing is sent.
fn notify_systemd(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("cannot notify systemd: {e}");
    }
}

/// SIGUSR1 reopens the access log file: logrotate renames it, then
/// `postrotate kill -USR1` makes jkd write to a new file under the old name.
async fn reopen_on_usr1(log: std::sync::Arc<jkd::access_log::AccessLog>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut signals = match signal(SignalKind::user_defined1()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot handle SIGUSR1 (access log reopening): {e}");
            return;
        }
    };
    while signals.recv().await.is_some() {
        log.reopen();
    }
}

/// Reads the configuration again and swaps it in when it has no error.
fn reload_config(live: &jkd::runtime::Live, sources: &Sources) -> bool {
    let loaded = config::load(sources, &config::props::process_env);
    for d in &loaded.diagnostics {
        match d.severity {
            config::diag::Severity::Error => tracing::error!("reload: {d}"),
            config::diag::Severity::Warning => tracing::warn!("reload: {d}"),
        }
    }
    let Some(cfg) = loaded.config else {
        tracing::error!("reload: the configuration has errors; the running one stays in service");
        return false;
    };
    if cfg.listeners != live.load().config.listeners {
        tracing::warn!(
            "reload: the Apache config's Listen or TLS virtual hosts changed; listeners change on restart only"
        );
    }
    live.replace(cfg, std::time::Instant::now());
    true
}

/// Waits for SIGTERM or SIGINT, then stops as httpd's `graceful-stop` does: the
/// listeners close (a new jkd bound to the same addresses takes the new connections),
/// idle connections close, HTTP/2 clients get GOAWAY, and the requests under way
/// finish, for at most `timeout`. A second signal stops at once.
async fn stop_gracefully(live: &jkd::runtime::Live, timeout: std::time::Duration) -> ExitCode {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut terms), Ok(mut interrupts)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot handle SIGTERM/SIGINT");
        return ExitCode::from(1);
    };
    tokio::select! {
        _ = terms.recv() => {}
        _ = interrupts.recv() => {}
    }
    let rt = live.load();
    let open = || rt.clients.open.load(std::sync::atomic::Ordering::Relaxed);
    tracing::info!(
        "stopping: no new connections; waiting up to {} s for {} open connection(s) to finish",
        timeout.as_secs(),
        open()
    );
    rt.draining.begin();
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if open() == 0 {
                    tracing::info!("stopped: every request finished");
                    return ExitCode::SUCCESS;
                }
                if tokio::time::Instant::now() >= deadline {
                    tracing::warn!(
                        "stopped: --shutdown-timeout of {} s passed; {} connection(s) cut",
                        timeout.as_secs(),
                        open()
                    );
                    return ExitCode::SUCCESS;
                }
            }
            _ = terms.recv() => break,
            _ = interrupts.recv() => break,
        }
    }
    tracing::warn!(
        "stopped at once on a second signal; {} connection(s) cut",
        open()
    );
    ExitCode::SUCCESS
}

/// Binds every listen address, then serves until killed; `before` is called inside
/// the async runtime first.
/// Serves /metrics, /healthz and /readyz on `addr` (TCP only).
async fn serve_metrics(
    addr: &str,
    live: &std::sync::Arc<jkd::runtime::Live>,
    registry: std::sync::Arc<jkd::metrics::Registry>,
) -> Result<(), ExitCode> {
    if jkd::runtime::listen::unix_path(addr).is_some() {
        eprintln!("jkd: --metrics-listen {addr}: metrics are served on TCP addresses only");
        return Err(ExitCode::from(1));
    }
    match jkd::runtime::listen::bind_reusable(addr).await {
        Ok(l) => {
            let shown = l
                .local_addr()
                .map_or_else(|_| addr.to_string(), |x| x.to_string());
            tracing::info!("metrics on http://{shown}/metrics");
            tokio::spawn(jkd::metrics::serve(live.clone(), registry, l));
            Ok(())
        }
        Err(e) => {
            eprintln!("jkd: cannot listen on {addr} for metrics: {e}");
            Err(ExitCode::from(1))
        }
    }
}

/// Binds every listener (a failure names the Apache config line it came from) and
/// registers the HTTPS ones' certificates for SIGHUP and the expiry metric.
async fn bind_listeners(
    specs: &[config::tls::Listener],
    acceptors: Vec<Option<std::sync::Arc<jkd::tls::Acceptor>>>,
    serving: &Serving,
    tls_state: &jkd::tls::TlsState,
) -> Result<Vec<jkd::http::Listening>, ExitCode> {
    let mut listeners = Vec::new();
    for (spec, acceptor) in specs.iter().zip(acceptors) {
        let addr = spec.bind_addr();
        match jkd::runtime::listen::Bound::bind(addr.as_str(), serving.unix).await {
            Ok(l) => {
                let shown = l.shown(&addr);
                let scheme = if acceptor.is_some() { "https" } else { "http" };
                tracing::info!("listening on {scheme}://{shown}");
                if let Some(a) = &acceptor {
                    tls_state.add(shown, a.clone());
                }
                listeners.push(jkd::http::Listening {
                    listener: l,
                    tls: acceptor,
                });
            }
            Err(e) => {
                let place = spec
                    .origin
                    .as_ref()
                    .map(|o| format!("{}:{}: Listen: ", o.file, o.line))
                    .unwrap_or_default();
                eprintln!("jkd: {place}cannot listen on {addr}: {e}");
                return Err(ExitCode::from(1));
            }
        }
    }
    Ok(listeners)
}

fn run_with(cfg: config::Config, serving: &Serving, before: impl FnOnce()) -> ExitCode {
    if let Some(problem) = state_file_problem(serving) {
        eprintln!("jkd: {problem}");
        return ExitCode::from(1);
    }
    let manager = match manager_access(serving) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let access_log = match serving.logs.access_log(cfg.request_log.as_ref()) {
        Ok(log) => log.map(std::sync::Arc::new),
        Err(e) => {
            eprintln!("jkd: {e}");
            return ExitCode::from(1);
        }
    };
    init_logging(serving.logs.log_format);
    log_manager_access(&cfg, &manager);
    log_manager_allow(&cfg, serving);
    log_compression(&cfg);
    let specs = match listener_specs(serving) {
        Ok(specs) => specs,
        Err(e) => {
            eprintln!("jkd: {e}");
            return ExitCode::from(1);
        }
    };
    let tls_state = std::sync::Arc::new(jkd::tls::TlsState::default());
    let acceptors = match tls_acceptors(&specs) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = serving.threads {
        builder.worker_threads(usize::from(n));
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("jkd: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        before();
        let listeners = match bind_listeners(&specs, acceptors, serving, &tls_state).await {
            Ok(l) => l,
            Err(code) => return code,
        };
        warn_expiring_certificates(&tls_state);
        let cfg_http = cfg.http;
        // The latency histograms live in the metrics registry when metrics are served.
        let registry = serving
            .metrics_listen
            .as_ref()
            .map(|_| std::sync::Arc::new(jkd::metrics::Registry::new()));
        let mut rt = match &registry {
            Some(r) => {
                let r = r.clone();
                jkd::runtime::Runtime::with_latency(
                    cfg,
                    std::time::Instant::now(),
                    jkd::runtime::Histograms::new(move |w, m| r.latency(w, m)),
                )
            }
            None => jkd::runtime::Runtime::new(cfg, std::time::Instant::now()),
        };
        let limits = serving.edge.limits(cfg_http);
        if let Some(r) = std::sync::Arc::get_mut(&mut rt) {
            r.trusted_proxies = serving.trusted_proxies.clone();
            r.proxy_protocol = serving.proxy_protocol;
            r.tls = tls_state.clone();
            r.limits = limits;
            r.manager_allow =
                (!serving.manager_allow.is_empty()).then(|| serving.manager_allow.clone());
            r.access_log = access_log.clone();
            r.status = Some(std::sync::Arc::new(jkd::status::StatusService::new(
                manager,
            )));
        }
        if let Some(path) = &serving.state_file {
            jkd::status::state_file::load(&rt, path);
        }
        let live = jkd::runtime::Live::new(rt);
        if let Some(path) = &serving.state_file {
            tokio::spawn(jkd::status::state_file::keep(live.clone(), path.clone()));
        }
        tokio::spawn(reload_on_hangup(live.clone(), serving.sources.clone()));
        if let Some(log) = access_log {
            tokio::spawn(reopen_on_usr1(log));
        }
        if let Some(addr) = &serving.metrics_listen
            && let Err(code) =
                serve_metrics(addr, &live, registry.clone().unwrap_or_default()).await
        {
            return code;
        }
        tokio::spawn(jkd::http::serve(live.clone(), listeners));
        // systemd's Type=notify: ready once every listener is bound (a no-op outside
        // systemd).
        notify_systemd(&[sd_notify::NotifyState::Ready]);
        let code = stop_gracefully(
            &live,
            std::time::Duration::from_secs(serving.edge.shutdown_timeout),
        )
        .await;
        if let Some(log) = &live.load().access_log {
            let log = log.clone();
            // The writer thread dies with the process: give it a moment to write out
            // the last lines.
            let _ =
                tokio::task::spawn_blocking(move || log.flush(std::time::Duration::from_secs(2)))
                    .await;
        }
        code
    })
}

/// Starts three demo nodes on free local ports and serves the example configuration
/// in front of them.
fn demo(serving: Serving, compress: &CompressArgs) -> ExitCode {
    let nodes: Vec<std::net::TcpListener> = match (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect()
    {
        Ok(n) => n,
        Err(e) => {
            eprintln!("jkd demo: cannot open the demo nodes' ports: {e}");
            return ExitCode::from(1);
        }
    };
    let ports: Vec<u16> = nodes
        .iter()
        .filter_map(|l| l.local_addr().ok().map(|a| a.port()))
        .collect();
    let text = jkd::demo::example_with_ports(&ports);
    let loaded = config::from_workers_bytes(
        "workers.properties.example",
        text.as_bytes(),
        &config::props::process_env,
    );
    let Some(mut cfg) = loaded.config else {
        print_diagnostics(&loaded.diagnostics);
        return ExitCode::from(1);
    };
    cfg.compression = config::compress::Compression::from_flags(&compress.types);
    eprintln!(
        "jkd demo: three demo nodes on 127.0.0.1 ports {ports:?}; open http://{}/",
        serving
            .listen
            .first()
            .map(String::as_str)
            .unwrap_or("127.0.0.1:8080")
    );
    let started = std::sync::Mutex::new(Some(nodes));
    run_with(cfg, &serving, move || {
        let nodes = started
            .lock()
            .ok()
            .and_then(|mut n| n.take())
            .unwrap_or_default();
        for (i, l) in nodes.into_iter().enumerate() {
            let node = jkd::demo::DemoNode::new(&format!("node{}", i + 1));
            if l.set_nonblocking(true).is_ok()
                && let Ok(l) = tokio::net::TcpListener::from_std(l)
            {
                tokio::spawn(node.serve(l));
            }
        }
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check {
            config,
            dump,
            map,
            map_file,
            strict,
            run,
        } => check(&config, run, strict, dump, &map, &map_file),
        Command::Run { config, run } => {
            let Some(cfg) = load(&config.sources_for_run(&run)) else {
                return ExitCode::from(1);
            };
            let serving = Serving::of_run(&config, &cfg, run);
            run_with(cfg, &serving, || {})
        }
        Command::Demo {
            listen,
            tls,
            metrics_listen,
            manager_users,
            manager_allow,
            threads,
            edge,
            logs,
            compress,
        } => demo(
            Serving {
                sources: None,
                conf_listeners: Vec::new(),
                listen,
                unix: Default::default(),
                tls,
                trusted_proxies: Vec::new(),
                proxy_protocol: false,
                metrics_listen,
                manager_users,
                manager_allow,
                threads,
                state_file: None,
                edge,
                logs,
            },
            &compress,
        ),
    }
}
