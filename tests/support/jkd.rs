//! Runs the `jkd` binary for end-to-end tests: `jkd run` on a given workers file, on a free loopback port, stopped on drop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A running `jkd run`.
pub struct Jkd {
    child: Child,
    pub port: u16,
    /// The `/metrics` port, when started with `--metrics-listen`.
    pub metrics_port: Option<u16>,
    /// The first HTTPS port, when started with `--tls-listen`.
    pub tls_port: Option<u16>,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Jkd {
    /// Process id of the `jkd run` child (for `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `INT`, `HUP`, ...) to jkd.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits up to `within` for jkd to exit; its exit status, `None` if it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything jkd logged so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The `state` of balancer member `name` on the status worker mounted at
    /// `/jkstatus/*` (`mime=txt`); empty when the page or the member is missing.
    pub fn member_state(&self, name: &str) -> String {
        let page = super::tomcat::http_get(
            self.port,
            "/jkstatus/?mime=txt",
            &[],
            Duration::from_secs(5),
        )
        .map(|r| r.text())
        .unwrap_or_default();
        page.lines()
            .find(|l| l.starts_with(&format!("Member: name={name} ")))
            .and_then(|l| l.split(" state=").nth(1))
            .and_then(|v| v.split(' ').next())
            .unwrap_or_default()
            .to_string()
    }

    /// Whether jkd logs `needle` within 10 s: a line written just before an answer
    /// reaches this process's reader thread a moment after the answer reaches the
    /// test.
    pub fn wait_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Starts `jkd run --workers <file> --listen 127.0.0.1:0 [extra...]` and waits (at
/// most 20 s) for the line that names the bound port.
pub fn start(workers: &Path, extra: &[&str]) -> Jkd {
    let mut args: Vec<&std::ffi::OsStr> = vec!["run".as_ref(), "--workers".as_ref()];
    args.push(workers.as_os_str());
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    start_with(Command::new(env!("CARGO_BIN_EXE_jkd")), &args, extra)
}

/// Starts `jkd run --apache-conf <conf> [extra...]` without `--listen`, so jkd binds the
/// config's own `Listen` lines (it ignores them when any listen flag is given). The config
/// must have a plain `Listen` (it becomes [`Jkd::port`]); with `https` true, also wait for
/// an HTTPS one ([`Jkd::tls_port`]). Waits at most 20 s.
pub fn start_apache_conf(conf: &Path, extra: &[&str], https: bool) -> Jkd {
    let mut args: Vec<&std::ffi::OsStr> = vec!["run".as_ref(), "--apache-conf".as_ref()];
    args.push(conf.as_os_str());
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    let wait = Wait {
        add_listen: false,
        metrics: extra.contains(&"--metrics-listen"),
        tls: https,
    };
    start_waiting(Command::new(env!("CARGO_BIN_EXE_jkd")), &args, wait)
}

/// Like [`start`], with at most `nofile` open file descriptors (`ulimit -n`), to see
/// jkd run out of them.
pub fn start_with_fd_limit(workers: &Path, extra: &[&str], nofile: u32) -> Jkd {
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_jkd"));
    let mut args: Vec<&std::ffi::OsStr> = vec!["run".as_ref(), "--workers".as_ref()];
    args.push(workers.as_os_str());
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    start_with(shell, &args, extra)
}

/// Starts `jkd <args...> --listen 127.0.0.1:0` (any subcommand and flags).
pub fn start_with_args(args: &[&str]) -> Jkd {
    let os: Vec<&std::ffi::OsStr> = args.iter().map(|a| std::ffi::OsStr::new(*a)).collect();
    start_with(Command::new(env!("CARGO_BIN_EXE_jkd")), &os, args)
}

/// Starts `jkd demo --listen 127.0.0.1:0 [extra...]`: the README's first command, with
/// its three built-in demo nodes.
pub fn start_demo(extra: &[&str]) -> Jkd {
    let mut args: Vec<&std::ffi::OsStr> = vec!["demo".as_ref()];
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    start_with(Command::new(env!("CARGO_BIN_EXE_jkd")), &args, extra)
}

/// What [`start_waiting`] adds to the command line and which announced ports it waits for.
struct Wait {
    /// Append `--listen 127.0.0.1:0`.
    add_listen: bool,
    metrics: bool,
    tls: bool,
}

fn start_with(command: Command, args: &[&std::ffi::OsStr], extra: &[&str]) -> Jkd {
    let wait = Wait {
        add_listen: true,
        metrics: extra.contains(&"--metrics-listen"),
        tls: extra.contains(&"--tls-listen"),
    };
    start_waiting(command, args, wait)
}

fn start_waiting(mut command: Command, args: &[&std::ffi::OsStr], wait: Wait) -> Jkd {
    command.args(args);
    if wait.add_listen {
        command.args(["--listen", "127.0.0.1:0"]);
    }
    let mut child = command
        .env(
            "JKD_LOG",
            std::env::var("JKD_TEST_LOG").unwrap_or_else(|_| "debug".into()),
        )
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start jkd");
    let stderr = child.stderr.take().expect("jkd stderr");
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let sink = log.clone();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let announced = |marker: &str| {
                line.split(marker).nth(1).and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("/metrics")
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse::<u16>().ok())
                })
            };
            if let Some(p) = announced("metrics on http://") {
                let _ = tx.send(("metrics", p));
            }
            if let Some(p) = announced("listening on https://") {
                let _ = tx.send(("https", p));
            }
            if let Some(p) = announced("listening on http://") {
                let _ = tx.send(("http", p));
            }
            if let Ok(mut l) = sink.lock() {
                l.push_str(&line);
                l.push('\n');
            }
        }
    });
    let want_metrics = wait.metrics;
    let want_tls = wait.tls;
    let mut metrics_port = None;
    let mut tls_port = None;
    let mut http_port = None;
    let port = loop {
        if let Some(p) = http_port
            && (!want_metrics || metrics_port.is_some())
            && (!want_tls || tls_port.is_some())
        {
            break p;
        }
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(("metrics", p)) => metrics_port = Some(p),
            Ok(("https", p)) => {
                tls_port.get_or_insert(p);
            }
            Ok((_, p)) => http_port = Some(p),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "jkd did not start:\n{}",
                    log.lock().map(|l| l.clone()).unwrap_or_default()
                );
            }
        }
    };
    Jkd {
        child,
        port,
        metrics_port,
        tls_port,
        log,
    }
}

impl Drop for Jkd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves one built-in demo node (route `route`) on `listener`.
pub async fn demo_node(route: &'static str, listener: tokio::net::TcpListener) {
    jkd::demo::DemoNode::new(route).serve(listener).await;
}
