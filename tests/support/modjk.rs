//! Reference side of the differential tests: runs real Apache httpd + mod_jk 1.2.48 on a given workers.properties and reports what mod_jk says.
//!
//! [`start`] copies the workers file into a fresh temp dir, appends a status worker
//! ([`STATUS_WORKER`]), writes a minimal httpd.conf (never Debian's apache2.conf) that
//! loads mod_jk, and runs `/usr/sbin/apache2 -f <conf> -DFOREGROUND` on a free
//! 127.0.0.1 port. mod_jk refusing the configuration (httpd exiting during startup) is
//! returned as a [`StartFailure`]; problems of the harness itself (apache2 or mod_jk not
//! installed, temp dir I/O, httpd neither serving nor exiting within [`START_TIMEOUT`])
//! panic, because they are not a verdict about the configuration.
//!
//! [`start_tls`] does the same and also loads mod_ssl (with mod_socache_shmcb for its
//! session cache) and adds an HTTPS listener on a second free 127.0.0.1 port
//! (`Listen 127.0.0.1:PORT https`) with one `<VirtualHost>` whose body the caller writes
//! (SSLEngine, certificate files, SSLVerifyClient, JkMount…), for the TLS comparisons.
//!
//! A running [`ModJk`] answers two questions: [`ModJk::prop`] returns the status
//! worker's `mime=prop` listing, and [`ModJk::map`] / [`ModJk::probe`] send URIs and read
//! back, from httpd's access log, which worker mod_jk chose (the `JK_WORKER_NAME` note).
//! httpd is stopped (SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]) and waited for on drop,
//! and the temp dir is removed unless `JKD_MODJK_KEEP_TMP` is set in the environment.
//!
//! Requests that mod_jk maps are forwarded to the backends the workers file names, so
//! [`ModJk::probe`] first checks (via the status worker) that every AJP worker's resolved
//! address is on the loopback interface or unresolved, and panics otherwise: the harness
//! never sends traffic off this machine.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The httpd binary of Debian's `apache2` package.
pub const APACHE2: &str = "/usr/sbin/apache2";
/// Where Debian keeps httpd's loadable modules (mod_jk included).
pub const MODULES_DIR: &str = "/usr/lib/apache2/modules";
/// mod_jk 1.2.48 as shipped by Debian's `libapache2-mod-jk`.
pub const MOD_JK_SO: &str = "/usr/lib/apache2/modules/mod_jk.so";
/// Name of the status worker appended to every workers file copy (and its mount URI).
pub const STATUS_WORKER: &str = "jkd_diff_status";
/// Longest wait for httpd to either serve its first request or exit.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Connect/read/write timeout of one request, and longest wait for its access-log line.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for httpd to exit after SIGTERM before it is SIGKILLed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a fresh port is tried when another process grabbed the one we picked.
const PORT_ATTEMPTS: u32 = 5;
/// Modules loaded besides mod_jk (log_config and unixd are compiled into Debian's httpd).
const MODULES: &[(&str, &str)] = &[
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authz_core_module", "mod_authz_core.so"),
];
/// Modules loaded besides those of [`MODULES`] when an HTTPS listener is configured.
const TLS_MODULES: &[(&str, &str)] = &[
    ("socache_shmcb_module", "mod_socache_shmcb.so"),
    ("ssl_module", "mod_ssl.so"),
];
/// Request header carrying the probe id; it is logged so each access-log line can be
/// matched to the request that produced it.
const PROBE_HEADER: &str = "X-Jkd-Probe";

/// httpd exited while starting: mod_jk (or httpd) refused the configuration.
#[derive(Debug, Clone)]
pub struct StartFailure {
    /// How httpd exited, e.g. `exit status: 1`.
    pub exit_status: String,
    /// httpd's stdout and stderr (messages printed before its ErrorLog was opened).
    pub stderr: String,
    /// httpd's ErrorLog.
    pub error_log: String,
    /// mod_jk's JkLogFile (at `JkLogLevel debug`).
    pub jk_log: String,
}

impl StartFailure {
    /// The first `[error]` or `[emerg]` line of mod_jk's log without its timestamp and
    /// `[pid:tid]` prefix (so it is stable across runs); if mod_jk logged none, the first
    /// error line of httpd's ErrorLog, else the first non-empty line of httpd's stderr.
    pub fn first_error_line(&self) -> Option<String> {
        let jk = self.jk_log.lines().find_map(|line| {
            ["[error] ", "[emerg] "]
                .iter()
                .find_map(|tag| line.find(tag).map(|at| line[at..].to_string()))
        });
        jk.or_else(|| {
            self.error_log
                .lines()
                .find(|l| l.contains(":emerg]") || l.contains(":error]") || l.contains(":crit]"))
                .map(strip_httpd_log_prefix)
        })
        .or_else(|| {
            self.stderr
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string)
        })
    }
}

impl fmt::Display for StartFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "httpd + mod_jk refused to start ({})", self.exit_status)?;
        if let Some(line) = self.first_error_line() {
            writeln!(f, "first error: {line}")?;
        }
        writeln!(f, "--- httpd stderr ---\n{}", self.stderr)?;
        writeln!(f, "--- httpd error log ---\n{}", self.error_log)?;
        write!(f, "--- mod_jk log ---\n{}", self.jk_log)
    }
}

impl std::error::Error for StartFailure {}

/// One request sent by [`ModJk::probe`] and what httpd logged for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The request-target exactly as sent.
    pub uri: String,
    /// Final status httpd logged (`%>s`); backends don't exist, so mapped requests
    /// usually end in 503 or 500.
    pub status: u16,
    /// The worker mod_jk chose (`%{JK_WORKER_NAME}n`), `None` when not mapped.
    pub worker: Option<String>,
    /// httpd's `%U` for the request as logged (httpd escapes unprintable bytes).
    pub logged_path: String,
}

/// A running Apache httpd with mod_jk on a private port; stopped on drop.
pub struct ModJk {
    child: Child,
    dir: TempDir,
    port: u16,
    tls_port: Option<u16>,
    probes: Mutex<ProbeState>,
}

struct ProbeState {
    next_id: u64,
    log_offset: u64,
    loopback_checked: bool,
}

/// Start httpd + mod_jk on a copy of `workers_file`.
///
/// The copy gets a status worker appended as `worker.list=jkd_diff_status` and
/// `worker.jkd_diff_status.type=status` (after a line break, so a file without a final
/// newline is not disturbed), mounted with `JkMount /jkd_diff_status jkd_diff_status`.
/// Two cases are adjusted so that appending does not change mod_jk's verdict (worker
/// names are found with mod_jk's own line rules: `#` cuts, trim, split at the first
/// `=`, empty key or value ignored, 8191-byte `fgets` chunks; `$(var)` is not expanded):
/// * no `worker.list` line at all: mod_jk would default to one worker named `ajp13`, so
///   `worker.list=ajp13` is appended as well;
/// * `worker.list` lines that name no worker (e.g. `worker.list=,`): mod_jk refuses that,
///   so nothing is appended and the file is used unchanged.
///
/// Each of `mount_files` is copied into the temp dir and named by a `JkMountFile`
/// directive (mod_jk keeps only the last `JkMountFile` of a server). Each entry of
/// `jkmount_lines` is written verbatim as one line of httpd.conf after those, e.g.
/// `JkMount /app/* lb` or `JkUnMount /app/*.gif lb`.
///
/// Returns `Err` when httpd exits during startup. Panics when apache2 or mod_jk is
/// missing, on temp-dir I/O errors, when httpd neither serves nor exits within
/// [`START_TIMEOUT`], or when no free port could be bound.
pub fn start(
    workers_file: &Path,
    mount_files: &[&Path],
    jkmount_lines: &[String],
) -> Result<ModJk, StartFailure> {
    start_inner(workers_file, mount_files, jkmount_lines, None)
}

/// Like [`start`], plus mod_ssl and an HTTPS listener on another free 127.0.0.1 port
/// ([`ModJk::tls_port`]): httpd.conf gets `Listen 127.0.0.1:PORT https` and
/// `<VirtualHost 127.0.0.1:PORT>` holding `vhost_lines` verbatim, one per line, e.g.
/// `SSLEngine on`, `SSLCertificateFile /path`, `SSLVerifyClient optional`,
/// `JkMount /* w`. The vhost inherits nothing of mod_jk's global mounts unless it says
/// `JkMountCopy On`. The global server also gets an `SSLSessionCache` in the temp dir.
///
/// Panics as [`start`] does, and also when mod_ssl or mod_socache_shmcb is missing.
pub fn start_tls(
    workers_file: &Path,
    mount_files: &[&Path],
    jkmount_lines: &[String],
    vhost_lines: &[String],
) -> Result<ModJk, StartFailure> {
    start_inner(workers_file, mount_files, jkmount_lines, Some(vhost_lines))
}

fn start_inner(
    workers_file: &Path,
    mount_files: &[&Path],
    jkmount_lines: &[String],
    vhost_lines: Option<&[String]>,
) -> Result<ModJk, StartFailure> {
    require_installation(vhost_lines.is_some());
    let original = fs::read(workers_file)
        .unwrap_or_else(|e| panic!("cannot read workers file {}: {e}", workers_file.display()));
    let dir = TempDir::new();
    dir.write("workers.properties", &workers_copy(&original));
    let mut mount_paths = Vec::new();
    for (i, mount) in mount_files.iter().enumerate() {
        let bytes = fs::read(mount)
            .unwrap_or_else(|e| panic!("cannot read mount file {}: {e}", mount.display()));
        mount_paths.push(dir.write(&format!("mount-{i}.properties"), &bytes));
    }
    for line in jkmount_lines.iter().chain(vhost_lines.unwrap_or_default()) {
        assert!(
            !line.contains(['\n', '\r']),
            "httpd.conf line must be a single line: {line:?}"
        );
    }
    let run_dir = dir.path().join("run");
    let htdocs = dir.path().join("htdocs");
    for d in [&run_dir, &htdocs] {
        fs::create_dir(d).unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
        set_mode(d, 0o755);
    }

    for _ in 0..PORT_ATTEMPTS {
        let ports = free_ports(if vhost_lines.is_some() { 2 } else { 1 });
        let port = ports[0];
        let tls = vhost_lines.map(|lines| (ports[1], lines));
        dir.write(
            "httpd.conf",
            httpd_conf(dir.path(), port, &mount_paths, jkmount_lines, tls).as_bytes(),
        );
        for log in ["error.log", "mod_jk.log", "access.log", "stderr.log"] {
            dir.write(log, b"");
        }
        let stderr = fs::File::create(dir.path().join("stderr.log")).expect("create stderr.log");
        let stdout = stderr.try_clone().expect("clone stderr.log handle");
        let mut child = Command::new(APACHE2)
            .arg("-f")
            .arg(dir.path().join("httpd.conf"))
            .arg("-DFOREGROUND")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {APACHE2}: {e}"));
        match wait_ready(&mut child, port) {
            Ok(()) => {
                return Ok(ModJk {
                    child,
                    dir,
                    port,
                    tls_port: tls.map(|(p, _)| p),
                    probes: Mutex::new(ProbeState {
                        next_id: 1,
                        log_offset: 0,
                        loopback_checked: false,
                    }),
                });
            }
            Err(Some(status)) => {
                let failure = StartFailure {
                    exit_status: status.to_string(),
                    stderr: dir.read_lossy("stderr.log"),
                    error_log: dir.read_lossy("error.log"),
                    jk_log: dir.read_lossy("mod_jk.log"),
                };
                let text = format!("{}\n{}", failure.stderr, failure.error_log);
                if text.contains("Address already in use") || text.contains("could not bind") {
                    continue;
                }
                return Err(failure);
            }
            Err(None) => {
                stop(&mut child);
                panic!(
                    "httpd neither served nor exited within {START_TIMEOUT:?} (dir {})\n\
                     --- stderr ---\n{}\n--- error log ---\n{}\n--- mod_jk log ---\n{}",
                    dir.path().display(),
                    dir.read_lossy("stderr.log"),
                    dir.read_lossy("error.log"),
                    dir.read_lossy("mod_jk.log"),
                );
            }
        }
    }
    panic!("httpd could not bind a free 127.0.0.1 port in {PORT_ATTEMPTS} attempts");
}

impl ModJk {
    /// The 127.0.0.1 port httpd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The HTTPS port, when started by [`start_tls`].
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// The temp dir holding httpd.conf, the workers copy and all logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// mod_jk's log so far (lossy UTF-8).
    pub fn jk_log(&self) -> String {
        self.dir.read_lossy("mod_jk.log")
    }

    /// httpd's ErrorLog so far (lossy UTF-8).
    pub fn error_log(&self) -> String {
        self.dir.read_lossy("error.log")
    }

    /// The status worker's full `cmd=list&mime=prop` output (no `opt`, so nothing is
    /// hidden). Panics if the request fails or does not return 200.
    pub fn prop(&self) -> String {
        let target = format!("/{STATUS_WORKER}?cmd=list&mime=prop");
        let (status, body) = http_get(self.port, &target, "prop", REQUEST_TIMEOUT)
            .unwrap_or_else(|e| panic!("GET {target} failed: {e}"));
        let body = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(status, 200, "GET {target} returned {status}:\n{body}");
        body
    }

    /// Send each URI and return the worker mod_jk chose for it (`None`: not mapped).
    /// See [`ModJk::probe`].
    pub fn map(&self, uris: &[&str]) -> Vec<(String, Option<String>)> {
        self.probe(uris)
            .into_iter()
            .map(|p| (p.uri, p.worker))
            .collect()
    }

    /// Send each URI, one after the other, as the raw request-target of an HTTP/1.0 GET
    /// (so it must not contain spaces or line breaks) and read what httpd logged for it.
    ///
    /// Each request carries a unique `X-Jkd-Probe` header that the access log records;
    /// after the response, the log is polled (bounded by [`REQUEST_TIMEOUT`]) for the
    /// next line with that id. A line whose id is `-` is also taken as this request's:
    /// httpd logs that when it rejected the request line before reading headers, and
    /// requests are serialised, so it can only belong to the request just sent.
    ///
    /// Panics if any AJP worker resolves to a non-loopback address (see module doc), or
    /// if no log line appears in time.
    pub fn probe(&self, uris: &[&str]) -> Vec<Probe> {
        let mut state = self.probes.lock().unwrap_or_else(|e| e.into_inner());
        if !state.loopback_checked {
            let offending = non_loopback_addresses(&self.prop());
            assert!(
                offending.is_empty(),
                "refusing to send requests: mod_jk would forward them off this machine to {offending:?}"
            );
            state.loopback_checked = true;
        }
        let mut out = Vec::with_capacity(uris.len());
        for uri in uris {
            assert!(
                !uri.contains(['\r', '\n']),
                "probe URI must not contain line breaks: {uri:?}"
            );
            let id = format!("p{}", state.next_id);
            state.next_id += 1;
            // The outcome of the exchange itself does not matter (mod_jk may answer
            // 400/404/500/503 or close); the access-log line is what is read.
            let _ = http_get(self.port, uri, &id, REQUEST_TIMEOUT);
            let line = self.wait_log_line(&mut state, &id, uri);
            let fields: Vec<&str> = line.splitn(4, '\t').collect();
            let status = fields.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            let worker = fields.get(2).filter(|w| **w != "-").map(|w| w.to_string());
            out.push(Probe {
                uri: uri.to_string(),
                status,
                worker,
                logged_path: fields.get(3).unwrap_or(&"").to_string(),
            });
        }
        out
    }

    fn wait_log_line(&self, state: &mut ProbeState, id: &str, uri: &str) -> String {
        let path = self.dir.path().join("access.log");
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        loop {
            let bytes = fs::read(&path).unwrap_or_default();
            let mut offset = state.log_offset as usize;
            while let Some(nl) = bytes
                .get(offset..)
                .and_then(|b| b.iter().position(|&c| c == b'\n'))
            {
                let line = String::from_utf8_lossy(&bytes[offset..offset + nl]).into_owned();
                offset += nl + 1;
                state.log_offset = offset as u64;
                let logged_id = line.split('\t').next().unwrap_or("");
                if logged_id == id || logged_id == "-" {
                    return line;
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "no access-log line for probe {id} ({uri}) within {REQUEST_TIMEOUT:?}; log:\n{}",
                    String::from_utf8_lossy(&bytes)
                );
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for ModJk {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Runtime keys of the `mime=prop` listing, matched against the whole key.
pub const RUNTIME_KEYS: &[&str] = &[
    "worker.server_name",
    "worker.server_port",
    "worker.time_datetime",
    "worker.time_tz",
    "worker.time_unix",
    "worker.web_server",
    "worker.jk_version",
    "worker.result.type",
    "worker.result.message",
];

/// Runtime fields of the `mime=prop` listing, matched against the last `.`-separated
/// component of a `worker.<name>.<field>` key (worker names may contain dots).
pub const RUNTIME_FIELDS: &[&str] = &[
    "state",
    "lbvalue",
    "elected",
    "used",
    "sessions",
    "errors",
    "client_errors",
    "reply_timeouts",
    "transferred",
    "read",
    "busy",
    "max_busy",
    "connected",
    "max_connected",
    "address",
    "good",
    "degraded",
    "bad",
    "time_to_recover_min",
    "time_to_recover_max",
    "time_to_maintenance_min",
    "time_to_maintenance_max",
    "last_reset_at",
    "last_reset_ago",
    "error_time_datetime",
    "error_time_tz",
    "error_time_unix seconds",
    "error_time_ago seconds",
];

/// Filter a `mime=prop` listing down to the keys derived from configuration, in the
/// order mod_jk printed them.
///
/// Dropped:
/// * lines without `=`;
/// * the whole keys in [`RUNTIME_KEYS`]: `worker.server_name`, `worker.server_port`,
///   `worker.time_datetime`, `worker.time_tz`, `worker.time_unix`, `worker.web_server`,
///   `worker.jk_version`, `worker.result.type`, `worker.result.message`;
/// * every `worker.<name>.<field>` (including `worker.<name>.map.<n>.<field>`) whose
///   last component is in [`RUNTIME_FIELDS`]: `state`, `lbvalue`, `elected`, `used`,
///   `sessions`, `errors`, `client_errors`, `reply_timeouts`, `transferred`, `read`,
///   `busy`, `max_busy`, `connected`, `max_connected`, `address` (resolver output),
///   `good`, `degraded`, `bad` (ratings of runtime state), `time_to_recover_min`,
///   `time_to_recover_max`, `time_to_maintenance_min`, `time_to_maintenance_max`,
///   `last_reset_at`, `last_reset_ago`, `error_time_datetime`, `error_time_tz`,
///   `error_time_unix seconds`, `error_time_ago seconds` (mod_jk prints the last two
///   with a space in the key);
/// * the harness's own status worker: `worker.list=jkd_diff_status` and every key that
///   starts with `worker.jkd_diff_status.` (mod_jk lists no status worker in `cmd=list`,
///   so normally neither appears).
///
/// Everything else is kept verbatim, notably `worker.list` (lb workers) and
/// `worker.<ajp>.list=<ajp>` (mod_jk 1.2.48 prints plain AJP workers that way),
/// `lb_count`, `ajp_count`, `balance_workers`, `member_count`, `map_count`, `lbmult`
/// (derived from the lbfactors), `host`, `port` (0 when the host did not resolve),
/// `route`, `domain`, `activation`, all timeouts, and the map entries (`map.<n>.server`
/// is httpd's ServerName, `127.0.0.1`, without a port).
pub fn prop_config_keys(prop: &str) -> Vec<(String, String)> {
    let own_prefix = format!("worker.{STATUS_WORKER}.");
    prop.lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(key, value)| {
            if RUNTIME_KEYS.contains(key) || key.starts_with(&own_prefix) {
                return false;
            }
            if *key == "worker.list" && *value == STATUS_WORKER {
                return false;
            }
            let field = key.rsplit('.').next().unwrap_or(key);
            !(key.starts_with("worker.")
                && key.matches('.').count() >= 2
                && RUNTIME_FIELDS.contains(&field))
        })
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The `address` values of a prop listing that are neither loopback nor unresolved
/// ([`ModJk::probe`] refuses to send requests when there are any).
pub fn non_loopback_addresses(prop: &str) -> Vec<String> {
    prop.lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(key, _)| key.ends_with(".address"))
        .map(|(_, value)| value.to_string())
        .filter(|value| {
            let host = value.rsplit_once(':').map_or(value.as_str(), |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            !(value == "unresolved"
                || value == "invalid"
                || host.starts_with("127.")
                || host == "::1")
        })
        .collect()
}

/// How the `worker.list` lines of a workers file look to mod_jk's reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerList {
    /// No `worker.list` line: mod_jk uses its default list, `ajp13`.
    Absent,
    /// `worker.list` lines exist but name no worker: mod_jk refuses to start.
    Empty,
    /// The worker names, in order, after accumulating repeated lines.
    Names(Vec<String>),
}

/// Find the `worker.list` lines of a workers file the way mod_jk 1.2.48 reads lines
/// (see [`start`]); `$(var)` references are not expanded.
pub fn worker_list(content: &[u8]) -> WorkerList {
    let mut values: Vec<Vec<u8>> = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        // fgets(buf, 8192, fp): at most 8191 bytes, up to and including '\n'.
        let cut = rest
            .iter()
            .take(8191)
            .position(|&c| c == b'\n')
            .map_or(rest.len().min(8191), |i| i + 1);
        let (chunk, tail) = rest.split_at(cut);
        rest = tail;
        let chunk = chunk.split(|&c| c == 0).next().unwrap_or(&[]);
        let line = chunk.split(|&c| c == b'#').next().unwrap_or(&[]);
        let Some(eq) = line.iter().position(|&c| c == b'=') else {
            continue;
        };
        let key = c_trim(&line[..eq]);
        let value = c_trim(&line[eq + 1..]);
        if key == b"worker.list" && !value.is_empty() {
            values.push(value.to_vec());
        }
    }
    if values.is_empty() {
        return WorkerList::Absent;
    }
    let names: Vec<String> = values
        .join(&b","[..])
        .split(|&c| c == b' ' || c == b'\t' || c == b',')
        .filter(|n| !n.is_empty())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect();
    if names.is_empty() {
        WorkerList::Empty
    } else {
        WorkerList::Names(names)
    }
}

/// Trim C `isspace` bytes (space, \t, \n, \v, \f, \r) from both ends.
fn c_trim(bytes: &[u8]) -> &[u8] {
    let is_space = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let start = bytes
        .iter()
        .position(|c| !is_space(c))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|c| !is_space(c))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// The workers file as handed to mod_jk: the original plus the status worker.
fn workers_copy(original: &[u8]) -> Vec<u8> {
    let mut out = original.to_vec();
    let list = worker_list(original);
    if list == WorkerList::Empty {
        return out;
    }
    out.extend_from_slice(b"\n# appended by jkd's differential-test harness\n");
    if list == WorkerList::Absent {
        out.extend_from_slice(b"worker.list=ajp13\n");
    }
    out.extend_from_slice(format!("worker.list={STATUS_WORKER}\n").as_bytes());
    out.extend_from_slice(format!("worker.{STATUS_WORKER}.type=status\n").as_bytes());
    out
}

fn httpd_conf(
    dir: &Path,
    port: u16,
    mount_files: &[PathBuf],
    jkmount_lines: &[String],
    tls: Option<(u16, &[String])>,
) -> String {
    let d = dir.display();
    let mut conf = String::new();
    conf.push_str("# generated by jkd's differential-test harness (tests/support/modjk.rs)\n");
    conf.push_str(&format!("ServerRoot \"{d}\"\n"));
    conf.push_str("ServerName 127.0.0.1\n");
    conf.push_str(&format!("Listen 127.0.0.1:{port}\n"));
    conf.push_str(&format!("PidFile \"{d}/httpd.pid\"\n"));
    conf.push_str(&format!("DefaultRuntimeDir \"{d}/run\"\n"));
    conf.push_str(&format!("ErrorLog \"{d}/error.log\"\n"));
    conf.push_str("LogLevel notice\n");
    for (name, file) in MODULES {
        conf.push_str(&format!("LoadModule {name} {MODULES_DIR}/{file}\n"));
    }
    conf.push_str(&format!("LoadModule jk_module {MOD_JK_SO}\n"));
    if let Some((tls_port, _)) = tls {
        for (name, file) in TLS_MODULES {
            conf.push_str(&format!("LoadModule {name} {MODULES_DIR}/{file}\n"));
        }
        conf.push_str(&format!("Listen 127.0.0.1:{tls_port} https\n"));
        conf.push_str(&format!(
            "SSLSessionCache \"shmcb:{d}/run/ssl_scache(512000)\"\n"
        ));
    }
    if running_as_root() {
        conf.push_str("User www-data\nGroup www-data\n");
    }
    // One child process keeps mod_jk's per-process state in one place; ThreadsPerChild
    // stays at httpd's default (25), which mod_jk uses as connection_pool_size default.
    conf.push_str("StartServers 1\nServerLimit 1\nMinSpareThreads 1\nMaxSpareThreads 25\n");
    conf.push_str(&format!("DocumentRoot \"{d}/htdocs\"\n"));
    conf.push_str(&format!(
        "LogFormat \"%{{{PROBE_HEADER}}}i\\t%>s\\t%{{JK_WORKER_NAME}}n\\t%U\" jkd_probe\n"
    ));
    conf.push_str(&format!("CustomLog \"{d}/access.log\" jkd_probe\n"));
    conf.push_str(&format!("JkWorkersFile \"{d}/workers.properties\"\n"));
    conf.push_str(&format!("JkShmFile \"{d}/jk.shm\"\n"));
    conf.push_str(&format!("JkLogFile \"{d}/mod_jk.log\"\n"));
    conf.push_str("JkLogLevel debug\n");
    conf.push_str(&format!("JkMount /{STATUS_WORKER} {STATUS_WORKER}\n"));
    for file in mount_files {
        conf.push_str(&format!("JkMountFile \"{}\"\n", file.display()));
    }
    for line in jkmount_lines {
        conf.push_str(line);
        conf.push('\n');
    }
    if let Some((tls_port, lines)) = tls {
        conf.push_str(&format!("<VirtualHost 127.0.0.1:{tls_port}>\n"));
        for line in lines {
            conf.push_str(line);
            conf.push('\n');
        }
        conf.push_str("</VirtualHost>\n");
    }
    conf
}

/// Panic with a clear message unless Debian's apache2 and mod_jk are installed.
fn require_installation(tls: bool) {
    let mut missing = Vec::new();
    for path in [APACHE2, MOD_JK_SO] {
        if !Path::new(path).is_file() {
            missing.push(path.to_string());
        }
    }
    let tls_modules = if tls { TLS_MODULES } else { &[] };
    for (_, file) in MODULES.iter().chain(tls_modules) {
        let path = format!("{MODULES_DIR}/{file}");
        if !Path::new(&path).is_file() {
            missing.push(path);
        }
    }
    assert!(
        missing.is_empty(),
        "the mod_jk reference stack is not installed (missing {missing:?}); install it with \
         `apt-get install apache2 libapache2-mod-jk` (.ci/run does this)"
    );
}

fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// `n` distinct free ports: all listeners are held until every port is known, so the
/// kernel cannot hand out the same one twice.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local_addr").port())
        .collect()
}

/// Poll until httpd answers a request (`Ok`), exits (`Err(Some)`), or the start
/// timeout passes (`Err(None)`).
fn wait_ready(child: &mut Child, port: u16) -> Result<(), Option<ExitStatus>> {
    let deadline = Instant::now() + START_TIMEOUT;
    let target = format!("/{STATUS_WORKER}?cmd=version&mime=prop");
    loop {
        if let Some(status) = child.try_wait().expect("try_wait on httpd") {
            return Err(Some(status));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(None);
        }
        if http_get(port, &target, "ready", left.min(Duration::from_secs(1))).is_ok() {
            // httpd may still exit after answering if it was already shutting down;
            // an answer from a child process means configuration is complete.
            return Ok(());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM (httpd's graceful stop of all its processes), then SIGKILL if needed; wait.
fn stop(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = Command::new("sh")
            .args(["-c", "kill -TERM \"$0\"", &child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while let Ok(None) = child.try_wait() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
    let _ = child.wait();
}

/// A minimal HTTP/1.0 GET; returns the status code and body.
fn http_get(
    port: u16,
    target: &str,
    probe_id: &str,
    timeout: Duration,
) -> io::Result<(u16, Vec<u8>)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = format!(
        "GET {target} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n{PROBE_HEADER}: {probe_id}\r\nUser-Agent: jkd-modjk-harness\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no end of response headers"))?;
    let status = response
        .split(|&c| c == b' ')
        .nth(1)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no status code"))?;
    Ok((status, response[head_end + 4..].to_vec()))
}

fn strip_httpd_log_prefix(line: &str) -> String {
    // "[date] [module:level] [pid N:tid N] message" -> "[module:level] message"
    let mut parts = line.splitn(4, "] ");
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(level), Some(pid), Some(msg)) if pid.starts_with("[pid ") => {
            format!("{level}] {msg}")
        }
        _ => line.to_string(),
    }
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// A private directory under the system temp dir, removed on drop unless
/// `JKD_MODJK_KEEP_TMP` is set.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path =
                std::env::temp_dir().join(format!("jkd-modjk-{}-{n}-{nanos}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => {
                    // httpd's children run as www-data and must be able to reach the dir.
                    set_mode(&path, 0o755);
                    return TempDir(path);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create {}: {e}", path.display()),
            }
        }
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        set_mode(&path, 0o644);
        path
    }

    fn read_lossy(&self, name: &str) -> String {
        fs::read(self.0.join(name))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("JKD_MODJK_KEEP_TMP").is_some() {
            eprintln!("keeping mod_jk harness dir {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}
