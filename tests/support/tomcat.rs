//! Backend side of the integration tests: real Tomcat 10.1 instances (Debian's `tomcat10`) serving our test webapp (tests/webapp/) over AJP13 and optionally HTTP.
//!
//! [`start`] builds the webapp once per test process ([`webapp`]: javac into
//! `target/jkd-webapp-<hash>/`, cached by a hash of tests/webapp/, built in a temp dir and
//! renamed into place so concurrent test processes never see a half-built copy), creates a
//! fresh `CATALINA_BASE` in a temp dir (conf copied from `/usr/share/tomcat10/etc/`, with
//! our own `server.xml` and `logging.properties`), and runs the JVM directly
//! (`java … jkd.testapp.Launcher start`, the same command line `catalina.sh run` would
//! exec, minus its shell) with a small-footprint heap and JIT. It returns once the AJP
//! connector answers a CPING with CPONG and the webapp answers `GET /echo/ready` over AJP
//! (and over HTTP when [`TomcatOptions::http_connector`] is set), or panics with the log
//! after [`START_TIMEOUT`].
//!
//! What the generated `server.xml` holds: shutdown port `-1`; an optional HTTP/1.1
//! connector and an AJP/1.3 connector, both on `127.0.0.1` and free ports (AJP listed last,
//! so its CPONG means every connector is started); `Engine jvmRoute` when a route is
//! given; one Host with `autoDeploy="false" deployOnStartup="false"` and an empty appBase;
//! our webapp as the ROOT context (`/echo/*`, `/session`), session persistence off
//! (`<Manager pathname=""/>`, so a restart loses sessions, as after a crash). Everything
//! Tomcat logs goes to `logs/catalina.out` in the base ([`Tomcat::log`]).
//!
//! The JVM is `jkd.testapp.Launcher` (tests/webapp/launcher/), a wrapper around Tomcat's
//! `Bootstrap` that exits when its stdin reaches EOF: the harness holds the write end, so
//! an instance never outlives the test process, even one killed by SIGKILL or one that
//! parked a [`Tomcat`] in a `static`. `-DjvmRoute=<route>` is also set, which is where the
//! webapp reads the route from.
//!
//! [`Tomcat`] stops the JVM on drop (SIGTERM, at most [`STOP_TIMEOUT`], then SIGKILL, then
//! wait) and removes the base unless `JKD_TOMCAT_KEEP_TMP` is set. [`Tomcat::kill`],
//! [`Tomcat::stop_signal`] / [`Tomcat::cont_signal`] and [`Tomcat::restart`] (same base,
//! same ports) are there for failover and hung-node tests.
//!
//! Small clients for checking a backend directly are here too: [`cping`], [`ajp_get`] (a
//! minimal AJP13 GET, independent of the crate's codec), [`http_get`] /
//! [`http_request`] (std `TcpStream`), the echo parser [`Echo`] and the `?size=` body
//! pattern ([`pattern_byte`], [`pattern_body`], [`pattern_mismatch`]). The echo format is
//! documented in tests/webapp/README.md.
//!
//! A missing `tomcat10` or JDK panics with the `apt-get install` line to fix it: tests
//! that need a backend fail rather than skip.

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Debian's `tomcat10` installation (binaries, jars and pristine conf in `etc/`).
pub const CATALINA_HOME: &str = "/usr/share/tomcat10";
/// Longest wait for a starting Tomcat to answer CPING and serve the webapp.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for Tomcat to exit after SIGTERM before it is SIGKILLed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Connect/read/write timeout of the readiness probes.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between two readiness probes.
const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// How often fresh ports are tried when another process took one we picked.
const PORT_ATTEMPTS: u32 = 5;
/// Heap, GC and JIT settings for a small, quickly starting JVM.
const JVM_OPTS: &[&str] = &[
    "-Xms32m",
    "-Xmx256m",
    "-Xss512k",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:ReservedCodeCacheSize=64m",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
    "-Djava.security.egd=file:/dev/./urandom",
];
/// The module openings `catalina.sh` adds for Tomcat on JDK 9+.
const ADD_OPENS: &[&str] = &[
    "java.base/java.lang",
    "java.base/java.lang.reflect",
    "java.base/java.io",
    "java.base/java.util",
    "java.base/java.util.concurrent",
    "java.rmi/sun.rmi.transport",
];
/// Bumped when the build steps change, so older cached builds are not reused.
const BUILD_VERSION: &str = "jkd-webapp-build-1";
/// Name prefix of the instances' base dirs in the temp dir (`<prefix>-<pid>-<n>-<nanos>`).
const BASE_PREFIX: &str = "jkd-tomcat";
const INSTALL_HINT: &str =
    "install them with `apt-get install tomcat10 default-jdk-headless` (.ci/run does this)";

/// How to configure one Tomcat instance; `TomcatOptions::default()` is an AJP-only
/// instance without jvmRoute, secret or timeouts.
#[derive(Debug, Clone, Default)]
pub struct TomcatOptions {
    /// `Engine jvmRoute` (session ids end in `.<route>`), also passed as `-DjvmRoute`.
    pub jvm_route: Option<String>,
    /// AJP `secret` with `secretRequired="true"`; `None` gives `secretRequired="false"`.
    pub ajp_secret: Option<String>,
    /// AJP `packetSize` (Tomcat raises values below 8192 to 8192; max 65536).
    pub packet_size: Option<u32>,
    /// AJP `connectionTimeout` in ms (also Tomcat's default `keepAliveTimeout`); unset
    /// means Tomcat's AJP default, -1 (idle connections are kept forever).
    pub connection_timeout_ms: Option<u32>,
    /// AJP `allowedRequestAttributesPattern` (regex for extra 0x0A request attributes).
    pub allowed_request_attributes_pattern: Option<String>,
    /// AJP `maxThreads` (Tomcat's default is 200).
    pub max_threads: Option<u32>,
    /// Further AJP connector attributes written as given, e.g.
    /// `("tomcatAuthentication", "false")` or `("ajpFlush", "false")`.
    pub ajp_attributes: Vec<(String, String)>,
    /// Also start an HTTP/1.1 connector on a free 127.0.0.1 port.
    pub http_connector: bool,
    /// Make that connector HTTPS with this PEM certificate and key (JSSE reads them).
    pub http_tls: Option<(PathBuf, PathBuf)>,
    /// Extra JVM options, appended after the harness's own.
    pub java_opts: Vec<String>,
}

impl TomcatOptions {
    /// Default options with a jvmRoute.
    pub fn with_route(route: &str) -> TomcatOptions {
        TomcatOptions {
            jvm_route: Some(route.to_string()),
            ..TomcatOptions::default()
        }
    }
}

/// A running (or deliberately killed) Tomcat with its own `CATALINA_BASE`; stopped on drop.
pub struct Tomcat {
    opts: TomcatOptions,
    base: TempDir,
    ajp_port: u16,
    http_port: Option<u16>,
    child: Option<Child>,
    pid: u32,
    startup_time: Duration,
}

/// Start a Tomcat configured by `opts` and wait until it serves the test webapp.
///
/// Panics (with the instance's log) if Tomcat or a JDK is missing, if Tomcat exits while
/// starting, or if it is not ready within [`START_TIMEOUT`]. A port taken by another
/// process between choosing and binding it is retried with fresh ports.
pub fn start(opts: &TomcatOptions) -> Tomcat {
    require_installation();
    webapp();
    sweep_stale_bases();
    let base = TempDir::new(BASE_PREFIX);
    for dir in ["conf", "logs", "work", "temp", "webapps"] {
        fs::create_dir(base.path().join(dir))
            .unwrap_or_else(|e| panic!("cannot create {dir} in {}: {e}", base.path().display()));
    }
    copy_dir(
        &Path::new(CATALINA_HOME).join("etc"),
        &base.path().join("conf"),
    );
    write_file(
        &base.path().join("conf/logging.properties"),
        LOGGING_PROPERTIES,
    );
    let mut tomcat = Tomcat {
        opts: opts.clone(),
        base,
        ajp_port: 0,
        http_port: None,
        child: None,
        pid: 0,
        startup_time: Duration::ZERO,
    };
    for attempt in 1..=PORT_ATTEMPTS {
        let ports = free_ports(if opts.http_connector { 2 } else { 1 });
        tomcat.ajp_port = ports[0];
        tomcat.http_port = ports.get(1).copied();
        write_file(
            &tomcat.base().join("conf/server.xml"),
            &server_xml(opts, &webapp().docroot, tomcat.ajp_port, tomcat.http_port),
        );
        match tomcat.spawn_and_wait() {
            Ok(()) => return tomcat,
            Err(StartError::PortTaken) if attempt < PORT_ATTEMPTS => continue,
            Err(e) => tomcat.fail_start(e),
        }
    }
    unreachable!("the last attempt either returns or panics")
}

enum StartError {
    /// Tomcat exited because a port was in use (`BindException`).
    PortTaken,
    /// Tomcat exited for another reason.
    Exited(String),
    /// The webapp answered, but not as expected.
    BadAnswer(String),
    /// Not ready within [`START_TIMEOUT`].
    Timeout(String),
}

impl Tomcat {
    /// The AJP connector's port on 127.0.0.1.
    pub fn ajp_port(&self) -> u16 {
        self.ajp_port
    }

    /// `127.0.0.1:<ajp_port>`.
    pub fn ajp_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ajp_port))
    }

    /// The HTTP connector's port on 127.0.0.1; panics if the instance was started without
    /// [`TomcatOptions::http_connector`].
    pub fn http_port(&self) -> u16 {
        self.http_port
            .expect("this Tomcat has no HTTP connector (set TomcatOptions::http_connector)")
    }

    /// The instance's `CATALINA_BASE`.
    pub fn base(&self) -> &Path {
        self.base.path()
    }

    /// The options it was started with.
    pub fn options(&self) -> &TomcatOptions {
        &self.opts
    }

    /// The `jvmRoute`, if one was configured.
    pub fn jvm_route(&self) -> Option<&str> {
        self.opts.jvm_route.as_deref()
    }

    /// Process id of the JVM (the last one started, if it was killed since).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Everything the JVM wrote (Tomcat's log, all restarts): `logs/catalina.out`.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log_bytes()).into_owned()
    }

    fn log_bytes(&self) -> Vec<u8> {
        fs::read(self.base().join("logs/catalina.out")).unwrap_or_default()
    }

    /// Time from spawning the JVM to the last readiness check passing (latest start).
    pub fn startup_time(&self) -> Duration {
        self.startup_time
    }

    /// Resident set size of the JVM in KiB, if it is running.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Whether the JVM is still running (a SIGSTOPped JVM counts as running).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL the JVM now (a crash: no graceful close of connections) and reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stop the JVM gracefully (SIGTERM; SIGKILL after [`STOP_TIMEOUT`]) and reap it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child);
        }
    }

    /// SIGSTOP the JVM: it keeps its sockets (connects succeed, nothing is answered).
    pub fn stop_signal(&self) {
        self.signal("STOP");
        // A signal is delivered asynchronously: wait (bounded) until every thread of the
        // JVM is stopped, so that nothing answers after this returns.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let tasks = format!("/proc/{}/task", self.pid());
            let all_stopped = fs::read_dir(&tasks).is_ok_and(|dir| {
                dir.filter_map(Result::ok).all(|t| {
                    fs::read_to_string(t.path().join("stat")).is_ok_and(|stat| {
                        // The state follows the command name in parentheses.
                        stat.rsplit_once(") ")
                            .is_some_and(|(_, rest)| rest.starts_with('T') || rest.starts_with('t'))
                    })
                })
            });
            if all_stopped {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("the JVM {} did not stop within 10 s", self.pid());
    }

    /// SIGCONT the JVM after [`Tomcat::stop_signal`].
    pub fn cont_signal(&self) {
        self.signal("CONT");
    }

    /// Stop the JVM if it runs (gracefully), then start it again on the same base and
    /// ports and wait until it is ready. Sessions do not survive (no persistence).
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn_and_wait() {
            self.fail_start(e);
        }
    }

    fn signal(&self, name: &str) {
        assert!(
            self.child.is_some(),
            "SIG{name}: this Tomcat is not running"
        );
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill -{name}: {e}"));
        assert!(
            status.success(),
            "kill -{name} {} failed: {status}",
            self.pid
        );
    }

    fn spawn_and_wait(&mut self) -> Result<(), StartError> {
        let build = webapp();
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.base().join("logs/catalina.out"))
            .unwrap_or_else(|e| panic!("cannot open catalina.out: {e}"));
        let err = out.try_clone().expect("dup catalina.out");
        let base = self.base().to_path_buf();
        let mut cmd = Command::new(java());
        cmd.args(JVM_OPTS);
        for module in ADD_OPENS {
            cmd.arg(format!("--add-opens={module}=ALL-UNNAMED"));
        }
        if let Some(route) = &self.opts.jvm_route {
            cmd.arg(format!("-DjvmRoute={route}"));
        }
        cmd.args(&self.opts.java_opts)
            .arg(format!(
                "-Djava.util.logging.config.file={}",
                base.join("conf/logging.properties").display()
            ))
            .arg("-Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager")
            .arg("-Dorg.apache.catalina.startup.EXIT_ON_INIT_FAILURE=true")
            .arg("-classpath")
            .arg(format!(
                "{}:{CATALINA_HOME}/bin/bootstrap.jar:{CATALINA_HOME}/bin/tomcat-juli.jar",
                build.launcher.display()
            ))
            .arg(format!("-Dcatalina.base={}", base.display()))
            .arg(format!("-Dcatalina.home={CATALINA_HOME}"))
            .arg(format!("-Djava.io.tmpdir={}", base.join("temp").display()))
            .arg("jkd.testapp.Launcher")
            .arg("start")
            .current_dir(&base)
            .env("CATALINA_BASE", &base)
            .env("CATALINA_HOME", CATALINA_HOME)
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err);
        let log_start = self.log_bytes().len();
        let started = Instant::now();
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", java().display()));
        self.pid = child.id();
        self.child = Some(child);
        self.wait_ready(started, log_start)?;
        self.startup_time = started.elapsed();
        Ok(())
    }

    /// Poll until CPING works and the webapp answers, the JVM exits, or time runs out.
    fn wait_ready(&mut self, started: Instant, log_start: usize) -> Result<(), StartError> {
        let deadline = started + START_TIMEOUT;
        let secret = self.opts.ajp_secret.clone();
        let mut ajp_ok = false;
        loop {
            let child = self.child.as_mut().expect("child just spawned");
            if let Some(status) = child.try_wait().expect("try_wait on the JVM") {
                self.child = None;
                let bytes = self.log_bytes();
                let log = String::from_utf8_lossy(bytes.get(log_start..).unwrap_or_default());
                return Err(
                    if log.contains("java.net.BindException")
                        || log.contains("Address already in use")
                    {
                        StartError::PortTaken
                    } else {
                        StartError::Exited(format!("the JVM exited while starting ({status})"))
                    },
                );
            }
            if Instant::now() >= deadline {
                return Err(StartError::Timeout(format!(
                    "not ready after {START_TIMEOUT:?} (AJP ready: {ajp_ok})"
                )));
            }
            if !ajp_ok && cping(self.ajp_port, PROBE_TIMEOUT).is_ok() {
                let answer = ajp_get(
                    self.ajp_port,
                    "/echo/ready",
                    None,
                    secret.as_deref(),
                    PROBE_TIMEOUT,
                )
                .map_err(|e| {
                    StartError::BadAnswer(format!("AJP GET /echo/ready after CPONG: {e}"))
                })?;
                if answer.status != 200 || !answer.body.starts_with(b"jkd-echo: 1\n") {
                    return Err(StartError::BadAnswer(format!(
                        "AJP GET /echo/ready answered {} {:?}",
                        answer.status,
                        String::from_utf8_lossy(&answer.body)
                    )));
                }
                ajp_ok = true;
            }
            if ajp_ok {
                // An HTTPS connector is not asked in plain HTTP (the test that wants it
                // asks through jkd); it started with the AJP one.
                let plain_http = self.http_port.filter(|_| self.opts.http_tls.is_none());
                match plain_http {
                    None => return Ok(()),
                    Some(port) => {
                        if let Ok(answer) = http_get(port, "/echo/ready", &[], PROBE_TIMEOUT) {
                            if answer.status == 200 && answer.body.starts_with(b"jkd-echo: 1\n") {
                                return Ok(());
                            }
                            return Err(StartError::BadAnswer(format!(
                                "HTTP GET /echo/ready answered {} {:?}",
                                answer.status,
                                String::from_utf8_lossy(&answer.body)
                            )));
                        }
                    }
                }
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    fn fail_start(&mut self, e: StartError) -> ! {
        self.kill();
        let why = match e {
            StartError::PortTaken => format!(
                "a port was taken by another process (AJP {}, HTTP {:?})",
                self.ajp_port, self.http_port
            ),
            StartError::Exited(s) | StartError::BadAnswer(s) | StartError::Timeout(s) => s,
        };
        panic!(
            "Tomcat in {} failed to start: {why}\n--- server.xml ---\n{}\n--- catalina.out (tail) ---\n{}",
            self.base().display(),
            fs::read_to_string(self.base().join("conf/server.xml")).unwrap_or_default(),
            tail(&self.log(), 80)
        );
    }
}

impl Drop for Tomcat {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SIGTERM (plus SIGCONT, in case the JVM is stopped), wait; SIGKILL after the timeout.
fn stop_child(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let pid = child.id().to_string();
        for sig in ["-TERM", "-CONT"] {
            let _ = Command::new("kill")
                .args([sig, &pid])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
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

const LOGGING_PROPERTIES: &str = "\
# Written by tests/support/tomcat.rs: everything to the console, which is logs/catalina.out.
handlers = java.util.logging.ConsoleHandler
.handlers = java.util.logging.ConsoleHandler
.level = INFO
java.util.logging.ConsoleHandler.level = ALL
java.util.logging.ConsoleHandler.formatter = org.apache.juli.OneLineFormatter
";

fn server_xml(
    opts: &TomcatOptions,
    docroot: &Path,
    ajp_port: u16,
    http_port: Option<u16>,
) -> String {
    let mut ajp: Vec<(String, String)> = vec![
        ("protocol".into(), "AJP/1.3".into()),
        ("address".into(), "127.0.0.1".into()),
        ("port".into(), ajp_port.to_string()),
        ("redirectPort".into(), "-1".into()),
    ];
    match &opts.ajp_secret {
        Some(secret) => {
            ajp.push(("secretRequired".into(), "true".into()));
            ajp.push(("secret".into(), secret.clone()));
        }
        None => ajp.push(("secretRequired".into(), "false".into())),
    }
    if let Some(size) = opts.packet_size {
        ajp.push(("packetSize".into(), size.to_string()));
    }
    if let Some(ms) = opts.connection_timeout_ms {
        ajp.push(("connectionTimeout".into(), ms.to_string()));
    }
    if let Some(pattern) = &opts.allowed_request_attributes_pattern {
        ajp.push(("allowedRequestAttributesPattern".into(), pattern.clone()));
    }
    if let Some(n) = opts.max_threads {
        ajp.push(("maxThreads".into(), n.to_string()));
    }
    ajp.extend(opts.ajp_attributes.iter().cloned());

    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!-- Written by tests/support/tomcat.rs for one test instance. -->\n\
         <Server port=\"-1\" shutdown=\"SHUTDOWN\">\n  <Service name=\"Catalina\">\n",
    );
    match (http_port, &opts.http_tls) {
        (Some(port), None) => {
            let _ = writeln!(
                xml,
                "    <Connector protocol=\"HTTP/1.1\" address=\"127.0.0.1\" port=\"{port}\" redirectPort=\"-1\" connectionTimeout=\"20000\"/>"
            );
        }
        (Some(port), Some((cert, key))) => {
            let _ = writeln!(
                xml,
                "    <Connector protocol=\"HTTP/1.1\" address=\"127.0.0.1\" port=\"{port}\" redirectPort=\"-1\" connectionTimeout=\"20000\" SSLEnabled=\"true\" scheme=\"https\" secure=\"true\">\n      <SSLHostConfig>\n        <Certificate certificateFile=\"{}\" certificateKeyFile=\"{}\"/>\n      </SSLHostConfig>\n    </Connector>",
                xml_escape(&cert.display().to_string()),
                xml_escape(&key.display().to_string())
            );
        }
        (None, _) => {}
    }
    xml.push_str("    <Connector");
    for (name, value) in &ajp {
        let _ = write!(xml, "\n        {name}=\"{}\"", xml_escape(value));
    }
    xml.push_str("/>\n    <Engine name=\"Catalina\" defaultHost=\"localhost\"");
    if let Some(route) = &opts.jvm_route {
        let _ = write!(xml, " jvmRoute=\"{}\"", xml_escape(route));
    }
    let _ = write!(
        xml,
        ">\n      <Host name=\"localhost\" appBase=\"webapps\" unpackWARs=\"false\" autoDeploy=\"false\" deployOnStartup=\"false\">\n\
         \x20       <Context path=\"\" docBase=\"{}\" reloadable=\"false\">\n\
         \x20         <Manager pathname=\"\"/>\n\
         \x20         <JarScanner scanClassPath=\"false\" scanManifest=\"false\"/>\n\
         \x20       </Context>\n      </Host>\n    </Engine>\n  </Service>\n</Server>\n",
        xml_escape(&docroot.display().to_string())
    );
    xml
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

// ---------------------------------------------------------------------------------------
// Installation checks and the webapp build

fn java() -> PathBuf {
    match std::env::var_os("JAVA_HOME") {
        Some(home) if Path::new(&home).join("bin/java").is_file() => {
            Path::new(&home).join("bin/java")
        }
        _ => PathBuf::from("java"),
    }
}

fn javac() -> PathBuf {
    match std::env::var_os("JAVA_HOME") {
        Some(home) if Path::new(&home).join("bin/javac").is_file() => {
            Path::new(&home).join("bin/javac")
        }
        _ => PathBuf::from("javac"),
    }
}

/// Panic with a clear message unless tomcat10 and a JDK (java and javac) are installed.
fn require_installation() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let mut missing = Vec::new();
        for rel in ["bin/bootstrap.jar", "bin/tomcat-juli.jar", "lib/servlet-api.jar", "etc/web.xml"] {
            let path = Path::new(CATALINA_HOME).join(rel);
            if !path.is_file() {
                missing.push(path.display().to_string());
            }
        }
        for tool in [java(), javac()] {
            let runs = Command::new(&tool)
                .arg("-version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !runs {
                missing.push(format!("{} (a runnable JDK tool)", tool.display()));
            }
        }
        assert!(
            missing.is_empty(),
            "Tomcat 10 and a JDK are needed for the backend tests (missing {missing:?}); {INSTALL_HINT}"
        );
    });
}

/// The built test webapp: an exploded ROOT webapp and the launcher's classes.
#[derive(Debug)]
pub struct WebappBuild {
    /// Exploded webapp directory (`WEB-INF/web.xml`, `WEB-INF/classes/`), used as docBase.
    pub docroot: PathBuf,
    /// Classes of `jkd.testapp.Launcher`, put on the JVM's classpath.
    pub launcher: PathBuf,
}

/// Build tests/webapp/ (once per process; cached across processes in
/// `target/jkd-webapp-<hash>/`).
pub fn webapp() -> &'static WebappBuild {
    static BUILD: OnceLock<WebappBuild> = OnceLock::new();
    BUILD.get_or_init(|| {
        require_installation();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webapp");
        let mut files = Vec::new();
        list_files(&src, &src, &mut files);
        // Only what goes into the build counts for the cache key (not the README).
        files.retain(|f| {
            ["src", "launcher", "WEB-INF"]
                .iter()
                .any(|d| f.starts_with(d))
        });
        files.sort();
        let mut hash = Fnv::new();
        hash.update(BUILD_VERSION.as_bytes());
        for rel in &files {
            let content =
                fs::read(src.join(rel)).unwrap_or_else(|e| panic!("read {}: {e}", rel.display()));
            hash.update(rel.to_string_lossy().as_bytes());
            hash.update(&[0]);
            hash.update(&(content.len() as u64).to_le_bytes());
            hash.update(&content);
        }
        let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("CARGO_TARGET_TMPDIR has a parent")
            .to_path_buf();
        let dir = target.join(format!("jkd-webapp-{:016x}", hash.finish()));
        let build = WebappBuild {
            docroot: dir.join("webapp"),
            launcher: dir.join("launcher"),
        };
        if !dir.is_dir() {
            build_webapp(&src, &files, &target, &dir);
        }
        build
    })
}

fn build_webapp(src: &Path, files: &[PathBuf], target: &Path, dir: &Path) {
    fs::create_dir_all(target).unwrap_or_else(|e| panic!("create {}: {e}", target.display()));
    let tmp = TempDir::new_in(target, "jkd-webapp-building");
    let classes = tmp.path().join("webapp/WEB-INF/classes");
    let launcher = tmp.path().join("launcher");
    fs::create_dir_all(&classes).expect("create WEB-INF/classes");
    fs::create_dir_all(&launcher).expect("create launcher dir");

    let java_files = |under: &str| -> Vec<PathBuf> {
        files
            .iter()
            .filter(|f| f.starts_with(under) && f.extension().is_some_and(|e| e == "java"))
            .map(|f| src.join(f))
            .collect()
    };
    run_javac(
        // The WebSocket API for the echo endpoint (tests/websocket.rs): Tomcat 10.1 splits
        // it into the server and the client (base) jars.
        &format!(
            "{CATALINA_HOME}/lib/servlet-api.jar:{CATALINA_HOME}/lib/websocket-api.jar:{CATALINA_HOME}/lib/websocket-client-api.jar"
        ),
        &classes,
        &java_files("src"),
    );
    run_javac(
        &format!("{CATALINA_HOME}/bin/bootstrap.jar"),
        &launcher,
        &java_files("launcher"),
    );
    for rel in files.iter().filter(|f| f.starts_with("WEB-INF")) {
        let to = tmp.path().join("webapp").join(rel);
        fs::create_dir_all(to.parent().expect("has parent")).expect("create WEB-INF subdir");
        fs::copy(src.join(rel), &to).unwrap_or_else(|e| panic!("copy {}: {e}", rel.display()));
    }
    // Atomic publication: another process may have won the race, then its copy is used.
    match fs::rename(tmp.path(), dir) {
        Ok(()) => tmp.persist(),
        Err(_) if dir.is_dir() => {}
        Err(e) => panic!(
            "cannot rename {} to {}: {e}",
            tmp.path().display(),
            dir.display()
        ),
    }
}

fn run_javac(classpath: &str, out: &Path, sources: &[PathBuf]) {
    assert!(
        !sources.is_empty(),
        "no Java sources to compile into {}",
        out.display()
    );
    let output = Command::new(javac())
        .args([
            "--release",
            "17",
            "-encoding",
            "UTF-8",
            "-nowarn",
            "-classpath",
            classpath,
            "-d",
        ])
        .arg(out)
        .args(sources)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run javac ({INSTALL_HINT}): {e}"));
    assert!(
        output.status.success(),
        "javac failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            list_files(root, &path, out);
        } else {
            out.push(path.strip_prefix(root).expect("under root").to_path_buf());
        }
    }
}

/// FNV-1a, 64 bit: a stable hash for the build cache key.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

// ---------------------------------------------------------------------------------------
// Clients

/// Send an AJP13 CPING (`12 34 00 01 0A`) and expect CPONG (`41 42 00 01 09`).
pub fn cping(port: u16, timeout: Duration) -> io::Result<()> {
    let mut stream = connect(port, timeout)?;
    stream.write_all(&[0x12, 0x34, 0x00, 0x01, 0x0A])?;
    let mut answer = [0u8; 5];
    stream.read_exact(&mut answer)?;
    if answer == [0x41, 0x42, 0x00, 0x01, 0x09] {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a CPONG: {answer:02x?}"),
        ))
    }
}

/// What a container answered to [`ajp_get`].
#[derive(Debug, Clone)]
pub struct AjpResponse {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// END_RESPONSE's reuse flag.
    pub reuse: bool,
}

impl AjpResponse {
    /// First header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_of(&self.headers, name)
    }
}

/// A GET to send with [`ajp_forward`]; `AjpGet::default()` is `GET /` without extras.
#[derive(Debug, Clone, Default)]
pub struct AjpGet<'a> {
    /// req_uri; empty means `/`.
    pub uri: &'a str,
    /// Attribute 0x05 (query_string).
    pub query: Option<&'a str>,
    /// Attribute 0x0C (secret).
    pub secret: Option<&'a str>,
    /// Request headers after `Host: localhost`, names sent as strings.
    pub headers: Vec<(&'a str, &'a str)>,
    /// Attribute 0x0A (req_attribute) name/value pairs, e.g. `AJP_REMOTE_PORT`.
    pub attributes: Vec<(&'a str, &'a str)>,
}

/// A minimal AJP13 `GET` of `uri` (with `query`, and the secret as attribute 0x0C when
/// given) on a new connection; see [`ajp_forward`].
pub fn ajp_get(
    port: u16,
    uri: &str,
    query: Option<&str>,
    secret: Option<&str>,
    timeout: Duration,
) -> io::Result<AjpResponse> {
    let request = AjpGet {
        uri,
        query,
        secret,
        ..AjpGet::default()
    };
    ajp_forward(port, &request, timeout)
}

/// Send one FORWARD_REQUEST (GET, HTTP/1.1, remote 127.0.0.1, server localhost:80, not
/// SSL) on a new connection and read the answer up to END_RESPONSE; GET_BODY_CHUNK is
/// answered with an empty body packet. Independent of the crate's AJP codec on purpose.
pub fn ajp_forward(port: u16, request: &AjpGet<'_>, timeout: Duration) -> io::Result<AjpResponse> {
    let uri = if request.uri.is_empty() {
        "/"
    } else {
        request.uri
    };
    let mut p = Vec::with_capacity(256);
    p.extend_from_slice(&[0x02, 0x02]); // FORWARD_REQUEST, GET
    for s in ["HTTP/1.1", uri, "127.0.0.1", "localhost", "localhost"] {
        ajp_string(&mut p, s)?;
    }
    p.extend_from_slice(&80u16.to_be_bytes());
    p.push(0); // is_ssl
    let count =
        u16::try_from(request.headers.len() + 1).map_err(|_| invalid("too many headers".into()))?;
    p.extend_from_slice(&count.to_be_bytes());
    p.extend_from_slice(&0xA00Bu16.to_be_bytes()); // Host
    ajp_string(&mut p, "localhost")?;
    for (name, value) in &request.headers {
        ajp_string(&mut p, name)?;
        ajp_string(&mut p, value)?;
    }
    if let Some(q) = request.query {
        p.push(0x05);
        ajp_string(&mut p, q)?;
    }
    for (name, value) in &request.attributes {
        p.push(0x0A);
        ajp_string(&mut p, name)?;
        ajp_string(&mut p, value)?;
    }
    if let Some(s) = request.secret {
        p.push(0x0C);
        ajp_string(&mut p, s)?;
    }
    p.push(0xFF);
    let mut packet = vec![0x12, 0x34];
    let len = u16::try_from(p.len()).map_err(|_| invalid("request packet over 64 KiB".into()))?;
    packet.extend_from_slice(&len.to_be_bytes());
    packet.extend_from_slice(&p);

    let mut stream = connect(port, timeout)?;
    stream.write_all(&packet)?;
    let mut response = AjpResponse {
        status: 0,
        reason: String::new(),
        headers: Vec::new(),
        body: Vec::new(),
        reuse: false,
    };
    loop {
        let mut head = [0u8; 4];
        stream.read_exact(&mut head)?;
        if head[..2] != [0x41, 0x42] {
            return Err(invalid(format!("bad container packet magic {head:02x?}")));
        }
        let mut data = vec![0u8; usize::from(u16::from_be_bytes([head[2], head[3]]))];
        stream.read_exact(&mut data)?;
        let mut r = Reader { data: &data, at: 1 };
        match data.first() {
            Some(3) => {
                let len = usize::from(r.u16()?);
                response.body.extend_from_slice(r.take(len)?);
            }
            Some(4) => {
                response.status = r.u16()?;
                response.reason = r.string()?.unwrap_or_default();
                for _ in 0..r.u16()? {
                    let name = match r.peek_u16()? {
                        code @ 0xA001..=0xA00B => {
                            r.at += 2;
                            RESPONSE_HEADER_CODES[usize::from(code - 0xA001)].to_string()
                        }
                        _ => r.string()?.unwrap_or_default(),
                    };
                    let value = r.string()?.unwrap_or_default();
                    response.headers.push((name, value));
                }
            }
            Some(5) => {
                response.reuse = r.take(1)?[0] == 1;
                return Ok(response);
            }
            Some(6) => stream.write_all(&[0x12, 0x34, 0x00, 0x00])?,
            other => {
                return Err(invalid(format!(
                    "unexpected container packet type {other:?}"
                )));
            }
        }
    }
}

const RESPONSE_HEADER_CODES: [&str; 11] = [
    "Content-Type",
    "Content-Language",
    "Content-Length",
    "Date",
    "Last-Modified",
    "Location",
    "Set-Cookie",
    "Set-Cookie2",
    "Servlet-Engine",
    "Status",
    "WWW-Authenticate",
];

fn ajp_string(p: &mut Vec<u8>, s: &str) -> io::Result<()> {
    let len = u16::try_from(s.len())
        .ok()
        .filter(|&l| l != 0xFFFF)
        .ok_or_else(|| invalid("AJP string too long".into()))?;
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(s.as_bytes());
    p.push(0);
    Ok(())
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        let end = self.at + n;
        let slice = self
            .data
            .get(self.at..end)
            .ok_or_else(|| invalid("truncated container packet".into()))?;
        self.at = end;
        Ok(slice)
    }

    fn peek_u16(&self) -> io::Result<u16> {
        let b = self
            .data
            .get(self.at..self.at + 2)
            .ok_or_else(|| invalid("truncated container packet".into()))?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u16(&mut self) -> io::Result<u16> {
        let v = self.peek_u16()?;
        self.at += 2;
        Ok(v)
    }

    fn string(&mut self) -> io::Result<Option<String>> {
        let len = self.u16()?;
        if len == 0xFFFF {
            return Ok(None);
        }
        let bytes = self.take(usize::from(len) + 1)?;
        Ok(Some(
            bytes[..bytes.len() - 1]
                .iter()
                .map(|&b| char::from(b))
                .collect(),
        ))
    }
}

/// An HTTP response read to the end of the connection.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// The status line as received, e.g. `HTTP/1.1 200 `.
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked if it was sent chunked.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_of(&self.headers, name)
    }

    /// All headers of that name (case-insensitive), in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET target HTTP/1.1` to 127.0.0.1:`port` with `Host`, `Connection: close` and the
/// given extra headers; the whole response is read.
pub fn http_get(
    port: u16,
    target: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> io::Result<HttpResponse> {
    let mut request =
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    request.push_str("\r\n");
    http_request(port, request.as_bytes(), timeout)
}

/// Send `request` as is to 127.0.0.1:`port`, read until the server closes, and parse the
/// response (so the request should say `Connection: close` or be HTTP/1.0).
pub fn http_request(port: u16, request: &[u8], timeout: Duration) -> io::Result<HttpResponse> {
    let mut stream = connect(port, timeout)?;
    stream.write_all(request)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_http_response(&raw)
}

/// Parse one complete HTTP/1.x response (head and body up to the end of `raw`).
pub fn parse_http_response(raw: &[u8]) -> io::Result<HttpResponse> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of response headers".into()))?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[head_end + 4..].to_vec();
    if header_of(&headers, "Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body)?;
    } else if let Some(len) =
        header_of(&headers, "Content-Length").and_then(|v| v.parse::<usize>().ok())
    {
        if body.len() < len {
            return Err(invalid(format!("body has {} of {len} bytes", body.len())));
        }
        body.truncate(len);
    }
    Ok(HttpResponse {
        status,
        status_line,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| invalid("truncated chunk size".into()))?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| invalid(format!("bad chunk size {size_text:?}")))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err(invalid("truncated chunk".into()));
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn connect(port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

// ---------------------------------------------------------------------------------------
// The echo format and the body pattern

/// A parsed `/echo/*` answer: `key: value` lines, values decoded (see tests/webapp/README.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Echo {
    /// Every line as (key, raw escaped rest), in order.
    lines: Vec<(String, String)>,
}

impl Echo {
    /// Parse an echo body; panics if it is not one (first line `jkd-echo: 1`, last `end: 1`).
    pub fn parse(body: &[u8]) -> Echo {
        let text = std::str::from_utf8(body).unwrap_or_else(|_| {
            panic!(
                "echo body is not ASCII: {:?}",
                String::from_utf8_lossy(body)
            )
        });
        let lines: Vec<(String, String)> = text
            .lines()
            .map(|l| {
                let (k, v) = l
                    .split_once(": ")
                    .unwrap_or_else(|| panic!("echo line without ': ': {l:?} in\n{text}"));
                (k.to_string(), v.to_string())
            })
            .collect();
        assert!(
            lines
                .first()
                .is_some_and(|(k, v)| k == "jkd-echo" && v == "1")
                && lines.last().is_some_and(|(k, v)| k == "end" && v == "1"),
            "not a complete jkd echo body:\n{text}"
        );
        Echo { lines }
    }

    /// The decoded value of a single-valued key (`None` when the servlet saw null).
    pub fn get(&self, key: &str) -> Option<String> {
        self.lines
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| unescape(v))
    }

    /// Like [`Echo::get`], panicking when the key is absent.
    pub fn field(&self, key: &str) -> String {
        self.get(key)
            .unwrap_or_else(|| panic!("echo has no {key:?}: {:?}", self.lines))
    }

    /// Every request header (name, value) in the order Tomcat received them.
    pub fn headers(&self) -> Vec<(String, String)> {
        self.pairs("header")
    }

    /// Values of the headers named `name` (case-insensitive), in order.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers()
            .into_iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .collect()
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.header_values(name).into_iter().next()
    }

    /// Cookies as Tomcat parsed them (name, value).
    pub fn cookies(&self) -> Vec<(String, String)> {
        self.pairs("cookie")
    }

    /// Request attributes (name, value), sorted by name.
    pub fn attributes(&self) -> Vec<(String, String)> {
        self.pairs("attribute")
    }

    /// The value of one request attribute.
    pub fn attribute(&self, name: &str) -> Option<String> {
        self.attributes()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// Number of body bytes the servlet read.
    pub fn body_length(&self) -> u64 {
        self.field("bodyLength")
            .parse()
            .expect("numeric bodyLength")
    }

    /// SHA-256 of the body the servlet read, lowercase hex.
    pub fn body_sha256(&self) -> String {
        self.field("bodySha256")
    }

    fn pairs(&self, key: &str) -> Vec<(String, String)> {
        self.lines
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, rest)| {
                let (n, v) = rest.split_once(": ").unwrap_or((rest.as_str(), ""));
                (unescape(n), unescape(v))
            })
            .collect()
    }
}

/// Undo the echo escaping: `%XX` is the char U+00XX (for strings Tomcat decoded as
/// ISO-8859-1 that is the original byte), `%uXXXX` a UTF-16 code unit.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |from: usize, len: usize| -> Option<u32> {
        let t = s.get(from..from + len)?;
        u32::from_str_radix(t, 16).ok()
    };
    let mut units: Vec<u16> = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if b.get(i + 1) == Some(&b'u') {
                if let Some(v) = hex(i + 2, 4) {
                    units.push(v as u16);
                    i += 6;
                    continue;
                }
            } else if let Some(v) = hex(i + 1, 2) {
                units.push(v as u16);
                i += 3;
                continue;
            }
        }
        units.push(u16::from(b[i]));
        i += 1;
    }
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Byte `offset` of a `?size=` body: 16-byte lines, each the line's own offset as 15
/// lowercase hex digits followed by `\n` (`000000000000000\n000000000000010\n…`).
pub fn pattern_byte(offset: u64) -> u8 {
    let col = offset & 15;
    if col == 15 {
        return b'\n';
    }
    let digit = (offset & !15) >> (4 * (14 - col)) & 15;
    b"0123456789abcdef"[digit as usize]
}

/// The first `len` bytes of the `?size=` pattern.
pub fn pattern_body(len: u64) -> Vec<u8> {
    (0..len).map(pattern_byte).collect()
}

/// The first offset at which `body` (starting at pattern offset `start`) differs from the
/// pattern, if any.
pub fn pattern_mismatch(body: &[u8], start: u64) -> Option<u64> {
    body.iter()
        .zip(start..)
        .find(|&(&b, offset)| b != pattern_byte(offset))
        .map(|(_, offset)| offset)
}

// ---------------------------------------------------------------------------------------
// Small helpers

/// `n` distinct free ports on 127.0.0.1 (all listeners are held until all are chosen).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local_addr").port())
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    let entries = fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
    for entry in entries {
        let path = entry.expect("dir entry").path();
        let dest = to.join(path.file_name().expect("file name"));
        if path.is_dir() {
            fs::create_dir_all(&dest).unwrap_or_else(|e| panic!("create {}: {e}", dest.display()));
            copy_dir(&path, &dest);
        } else {
            fs::copy(&path, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", path.display()));
        }
    }
}

/// Remove base dirs left behind by test processes that died without dropping their
/// [`Tomcat`] (their JVMs exit by themselves), unless they were kept on purpose.
fn sweep_stale_bases() {
    static SWEPT: OnceLock<()> = OnceLock::new();
    SWEPT.get_or_init(|| {
        let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix(BASE_PREFIX)
                .and_then(|rest| rest.strip_prefix('-'))
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
            else {
                continue;
            };
            let path = entry.path();
            if !Path::new(&format!("/proc/{pid}")).exists() && !path.join(KEEP_MARKER).exists() {
                let _ = fs::remove_dir_all(&path);
            }
        }
    });
}

fn write_file(path: &Path, content: &str) {
    fs::write(path, content).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// File marking a base dir kept on purpose (`JKD_TOMCAT_KEEP_TMP`), never swept.
const KEEP_MARKER: &str = ".jkd-keep";

/// A private directory, removed on drop unless `JKD_TOMCAT_KEEP_TMP` is set.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> TempDir {
        TempDir::new_in(&std::env::temp_dir(), prefix)
    }

    fn new_in(parent: &Path, prefix: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = parent.join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return TempDir(path),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create {}: {e}", path.display()),
            }
        }
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Keep the directory (it was renamed away): drop must not remove it.
    fn persist(mut self) {
        self.0 = PathBuf::new();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.0.as_os_str().is_empty() {
            return;
        }
        if std::env::var_os("JKD_TOMCAT_KEEP_TMP").is_some() {
            let _ = fs::write(self.0.join(KEEP_MARKER), b"");
            eprintln!("keeping Tomcat harness dir {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// SHA-256 of `data` as lowercase hex, to compare with the echo's `bodySha256`.
pub fn sha256_hex(data: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(data);
    hasher.hex()
}

/// Streaming SHA-256 (FIPS 180-4), for bodies too large to hold: feed pieces with
/// [`Sha256::update`], read the lowercase hex digest with [`Sha256::hex`].
#[derive(Clone)]
pub struct Sha256 {
    h: [u32; 8],
    block: [u8; 64],
    filled: usize,
    len: u64,
}

impl Default for Sha256 {
    fn default() -> Self {
        Sha256::new()
    }
}

impl Sha256 {
    pub fn new() -> Sha256 {
        Sha256 {
            h: [
                0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                0x5be0cd19,
            ],
            block: [0; 64],
            filled: 0,
            len: 0,
        }
    }

    /// Hash `data` after what came before.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.filled > 0 {
            let n = data.len().min(64 - self.filled);
            self.block[self.filled..self.filled + n].copy_from_slice(&data[..n]);
            self.filled += n;
            data = &data[n..];
            if self.filled < 64 {
                return;
            }
            let block = self.block;
            self.compress(&block);
            self.filled = 0;
        }
        let mut blocks = data.chunks_exact(64);
        for block in &mut blocks {
            self.compress(block);
        }
        let rest = blocks.remainder();
        self.block[..rest.len()].copy_from_slice(rest);
        self.filled = rest.len();
    }

    /// The digest of everything hashed so far, as lowercase hex.
    pub fn hex(&self) -> String {
        let mut tail = self.clone();
        let bits = self.len.wrapping_mul(8);
        let mut pad = vec![0x80u8];
        while (self.len as usize + pad.len()) % 64 != 56 {
            pad.push(0);
        }
        pad.extend_from_slice(&bits.to_be_bytes());
        tail.update(&pad);
        debug_assert_eq!(tail.filled, 0);
        tail.h.iter().map(|x| format!("{x:08x}")).collect()
    }

    fn compress(&mut self, block: &[u8]) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = self.h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(SHA256_K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, v) in self.h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(v);
        }
    }
}

const SHA256_K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];
