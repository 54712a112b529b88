//! The status manager in a real browser: headless Chromium, driven through chromedriver's W3C WebDriver HTTP API, signs in, drains a member by clicking its button, sees its activation turn to DIS, and new sessions go to the other members while a session pinned to the drained one still reaches it.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). The
//! WebDriver client is plain HTTP/1.1 over std's TcpStream with hand-made JSON.
//!
//! The test also takes a screenshot of the page after the drain, with live traffic on
//! the sparklines and one member in error: `target/jkmanager.png`, and, with
//! `JKD_UPDATE_SCREENSHOT=1`, `docs/jkmanager.png` (the one the README shows).

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use support::{jkd, tomcat};

/// `htpasswd -nbB -C 4 admin s3cret`.
const USERS: &str = "# who may change the cluster\nadmin:$2y$04$hHEtGog20YUmdj7yeTFto.BP6WYCtFNPZYqk57blARo78zFLgXHum\n";

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromedriver() -> PathBuf {
    for p in ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "chromedriver is not installed: apt-get install chromium chromium-driver (.ci/run does)"
    );
}

// ---------------------------------------------------------------- JSON by hand

/// A JSON string literal.
fn js(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The string value of the first `"key":"..."` in `json` (escapes decoded).
fn string_field(json: &str, key: &str) -> Option<String> {
    let marker = format!("\"{key}\"");
    let at = json.find(&marker)? + marker.len();
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?).unwrap_or('?'));
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u32> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut acc = 0u32;
        for d in chunk {
            acc = (acc << 6) | d;
        }
        let bits = chunk.len() * 6;
        acc <<= 24 - bits;
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + bits / 8]);
    }
    out
}

// ---------------------------------------------------------------- WebDriver

/// One HTTP/1.1 exchange with chromedriver: `(status, body)`.
fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).expect("send");
    // chromedriver keeps the connection open: read the head, then Content-Length bytes.
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let mut want: Option<usize> = None;
    loop {
        if let Some(total) = want
            && raw.len() >= total
        {
            break;
        }
        let n = s.read(&mut buf).expect("read chromedriver");
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if want.is_none()
            && let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n")
        {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            want = length.map(|l| end + 4 + l);
        }
    }
    let response = tomcat::parse_http_response(&raw).expect("chromedriver answer");
    (response.status, response.text())
}

struct Driver {
    process: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let process = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver { process, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                let (status, body) = http(port, "GET", "/status", None);
                if status == 200 && body.contains("\"ready\":true") {
                    return driver;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

struct Browser<'a> {
    driver: &'a Driver,
    session: String,
}

impl<'a> Browser<'a> {
    fn open(driver: &'a Driver, profile: &Path) -> Browser<'a> {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1440,1000",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let args: Vec<String> = args.iter().map(|a| js(a)).collect();
        let caps = format!(
            "{{\"capabilities\":{{\"alwaysMatch\":{{\"browserName\":\"chrome\",\
             \"goog:chromeOptions\":{{\"binary\":{},\"args\":[{}]}}}}}}}}",
            js(CHROMIUM),
            args.join(",")
        );
        let (status, body) = http(driver.port, "POST", "/session", Some(&caps));
        assert_eq!(status, 200, "new session: {body}");
        let session = string_field(&body, "sessionId").expect("session id");
        Browser { driver, session }
    }

    fn call(&self, method: &str, path: &str, body: Option<&str>) -> String {
        let (status, answer) = http(
            self.driver.port,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        );
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", Some(&format!("{{\"url\":{}}}", js(url))));
    }

    fn url(&self) -> String {
        string_field(&self.call("GET", "/url", None), "value").unwrap_or_default()
    }

    /// Runs `script` (a function body) in the page and returns its string result.
    fn eval(&self, script: &str) -> Option<String> {
        let body = format!("{{\"script\":{},\"args\":[]}}", js(script));
        string_field(&self.call("POST", "/execute/sync", Some(&body)), "value")
    }

    /// The text of the first element matching `selector`, if any.
    fn text(&self, selector: &str) -> Option<String> {
        self.eval(&format!(
            "var e = document.querySelector({}); return e ? e.textContent : null;",
            js(selector)
        ))
    }

    /// Waits until the element's text is `want`; returns how long that took.
    fn wait_text(&self, selector: &str, want: &str, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let seen = self.text(selector);
            if seen.as_deref() == Some(want) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "{selector}: still {seen:?}, not {want:?}, at {}",
                self.url()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks the element `selector` (a real click: WebDriver scrolls it into view
    /// and checks that it is visible and not covered).
    fn click(&self, selector: &str) {
        let body = format!("{{\"using\":\"css selector\",\"value\":{}}}", js(selector));
        let found = self.call("POST", "/element", Some(&body));
        let id = string_field(&found, "element-6066-11e4-a52e-4f735466cecf")
            .unwrap_or_else(|| panic!("no element {selector}: {found}"));
        self.call("POST", &format!("/element/{id}/click"), Some("{}"));
    }

    fn screenshot(&self) -> Vec<u8> {
        let answer = self.call("GET", "/screenshot", None);
        base64_decode(&string_field(&answer, "value").expect("screenshot data"))
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = http(
            self.driver.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}

// ---------------------------------------------------------------- the cluster

fn session_get(port: u16, cookie: Option<&str>) -> tomcat::HttpResponse {
    let headers: Vec<(&str, &str)> = cookie.map(|c| ("Cookie", c)).into_iter().collect();
    tomcat::http_get(port, "/session", &headers, Duration::from_secs(5)).expect("GET /session")
}

fn node_of(r: &tomcat::HttpResponse) -> String {
    r.text()
        .strip_prefix("node=")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("?")
        .to_string()
}

/// Requests without a cookie (each a new session) until one lands on `node`; its
/// `JSESSIONID` cookie.
fn session_on(port: u16, node: &str) -> String {
    for _ in 0..30 {
        let r = session_get(port, None);
        if node_of(&r) == node {
            let set = r.header("Set-Cookie").expect("Set-Cookie");
            return set.split(';').next().unwrap_or(set).to_string();
        }
    }
    panic!("no new session landed on {node}");
}

#[test]
fn drain_a_member_by_clicking_in_chromium() {
    let started = Instant::now();
    let tokio_rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut ports = Vec::new();
    for route in ["node1", "node2", "node3"] {
        let listener = tokio_rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind demo node");
        ports.push(listener.local_addr().expect("addr").port());
        tokio_rt.spawn(jkd::demo_node(route, listener));
    }
    // node4: nothing listens there, so it goes into error (red on the screenshot).
    let dead = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let dir = std::env::temp_dir().join(format!("jkd-browser-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("dir");
    let workers = dir.join("workers.properties");
    let mut text = String::from(
        "worker.list=balancer,jkstatus\nworker.maintain=5\n\
         worker.balancer.type=lb\nworker.balancer.balance_workers=node1,node2,node3,node4\n\
         worker.balancer.sticky_session=true\nworker.balancer.recover_time=600\n\
         worker.balancer.mount=/*\n\
         worker.jkstatus.type=status\nworker.jkstatus.mount=/jkmanager /jkmanager/*\n",
    );
    for (i, port) in ports.iter().chain([&dead]).enumerate() {
        let n = i + 1;
        text.push_str(&format!(
            "worker.node{n}.host=127.0.0.1\nworker.node{n}.port={port}\nworker.node{n}.route=node{n}\n\
             worker.node{n}.socket_connect_timeout=1000\n"
        ));
    }
    fs::write(&workers, text).expect("workers");
    let users = dir.join("users");
    fs::write(&users, USERS).expect("users");
    let users_arg = users.display().to_string();
    let j = jkd::start(&workers, &["--manager-users", &users_arg]);
    let port = j.port;

    // A session that lives on node2 before the drain.
    let pinned = session_on(port, "node2");

    // Traffic while the page watches: new sessions, and the pinned one.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        let pinned = pinned.clone();
        thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let cookie = n.is_multiple_of(4).then_some(pinned.as_str());
                let _ = tomcat::http_get(
                    port,
                    "/session",
                    &cookie
                        .map(|c| ("Cookie", c))
                        .into_iter()
                        .collect::<Vec<_>>(),
                    Duration::from_secs(5),
                );
                n += 1;
                // A rate that swells and ebbs, so that the charts have a shape.
                let phase = (f64::from(n) / 40.0).sin();
                thread::sleep(Duration::from_millis(45 + (35.0 * (1.0 + phase)) as u64));
            }
        })
    };

    let driver = Driver::start();
    let browser = Browser::open(&driver, &dir.join("chromium-profile"));
    let browser_ready = started.elapsed();
    // Sign in with the URL's credentials: `login` asks for them.
    browser.go(&format!(
        "http://admin:s3cret@127.0.0.1:{port}/jkmanager/?login=1"
    ));
    assert_eq!(
        browser.text("h1").as_deref(),
        Some(format!("JK Status Manager for 127.0.0.1:{port}").as_str())
    );
    let notice = browser.text("p.notice").unwrap_or_default();
    assert!(notice.starts_with("Signed in as admin"), "{notice}");
    let row = "tr[data-series=\"m:balancer/node2\"]";
    let activation = format!("{row} [data-f=\"activation\"]");
    assert_eq!(browser.text(&activation).as_deref(), Some("ACT"));
    // The script polls the JSON listing and says so.
    let live = Instant::now();
    while !browser
        .text("#live-text")
        .is_some_and(|t| t.starts_with("live \u{b7}"))
    {
        assert!(
            live.elapsed() < Duration::from_secs(15),
            "the page never polled: {:?}",
            browser.text("#live-text")
        );
        thread::sleep(Duration::from_millis(100));
    }

    let picture = std::env::var_os("JKD_UPDATE_SCREENSHOT").is_some();
    if picture {
        // Some history on the charts before the drain.
        thread::sleep(Duration::from_secs(30));
    }

    // Drain node2 by clicking its button.
    browser.click(&format!("{row} button[data-action=\"drain\"]"));
    let took = browser.wait_text(&activation, "DIS", Duration::from_secs(15));
    assert!(
        browser.url().contains("cmd=list"),
        "back on the list after the change: {}",
        browser.url()
    );
    assert_eq!(
        browser
            .eval(&format!(
                "return document.querySelector({}).className;",
                js(row)
            ))
            .as_deref(),
        Some("member k-dis")
    );
    assert_eq!(
        browser
            .eval(&format!(
                "return String(document.querySelector({}).disabled);",
                js(&format!("{row} button[data-action=\"drain\"]"))
            ))
            .as_deref(),
        Some("true"),
        "the drain button shows the current activation"
    );
    let notice = browser.text("p.notice").unwrap_or_default();
    assert!(
        notice.starts_with("Signed in as admin"),
        "still signed in after the change: {notice}"
    );
    let log = j.log();
    assert!(
        log.contains("status manager change requested")
            && log.contains("user=\"admin\"")
            && log.contains("vwa=D"),
        "the change is logged with who and what:\n{log}"
    );

    // New sessions go elsewhere; the pinned session still reaches node2.
    for _ in 0..12 {
        let node = node_of(&session_get(port, None));
        assert!(
            node == "node1" || node == "node3",
            "a new session went to {node}"
        );
    }
    for _ in 0..3 {
        assert_eq!(node_of(&session_get(port, Some(&pinned))), "node2");
    }
    let json = tomcat::http_get(
        port,
        "/jkmanager/?cmd=show&w=balancer&sw=node2&mime=json",
        &[],
        Duration::from_secs(5),
    )
    .expect("json");
    assert!(
        json.text().contains("\"activation\":\"DIS\""),
        "{}",
        json.text()
    );

    // A few more polls, so that the charts show node2 draining, then the picture.
    thread::sleep(Duration::from_secs(if picture { 30 } else { 7 }));
    // The charts: node1's request rate is drawn and labelled.
    let node1 = "tr[data-series=\"m:balancer/node1\"] .spark.req";
    let path = browser
        .eval(&format!(
            "return document.querySelector({}).getAttribute('d');",
            js(&format!("{node1} .line"))
        ))
        .unwrap_or_default();
    assert!(
        path.starts_with('M') && path.contains('L'),
        "no chart: {path:?}"
    );
    let rate = browser.text(&format!("{node1} .rate")).unwrap_or_default();
    assert!(rate.ends_with("/s"), "rate label {rate:?}");
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG screenshot");
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/jkmanager.png");
    fs::write(&target, &png).expect("write target/jkmanager.png");
    if picture {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/jkmanager.png");
        fs::write(&docs, &png).expect("write docs/jkmanager.png");
    }
    stop.store(true, Ordering::Relaxed);
    let _ = traffic.join();
    println!(
        "browser ready after {:?}, DIS shown {:?} after the click, whole test {:?}",
        browser_ready,
        took,
        started.elapsed()
    );
    drop(browser);
    let _ = fs::remove_dir_all(&dir);
}
