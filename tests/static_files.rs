//! Static files and redirects served by the real `jkd run` binary: conditional requests, ranges, HEAD, directory indexes, no listings, mod_alias redirects, JkUnMount-excluded paths served from disk, and a traversal corpus that must never reach a file outside the served directories.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::jkd;

const HELLO: &str = "hello, static world\n";
const SECRET: &str = "TOP SECRET outside the root";

/// A response read off the wire.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.text();
        let shown: String = text.chars().take(200).collect();
        write!(f, "{} {:?} {shown:?}", self.status, self.headers)
    }
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `GET`-like request `method target` with extra header lines, reads the whole
/// answer (the connection is closed after it).
fn send(port: u16, method: &str, target: &str, extra: &[&str]) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: static.test\r\nConnection: close\r\n");
    for h in extra {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("send");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head for {target}: {raw:?}"));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line for {target}: {head}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn get(port: u16, target: &str) -> Answer {
    send(port, "GET", target, &[])
}

/// A site on disk: `root/` (served), `outside/` (not), and a workers file with worker
/// `w` mounted on `/app/*` towards a port nothing listens on.
struct Site {
    dir: PathBuf,
    root: PathBuf,
    workers: PathBuf,
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn site(tag: &str) -> Site {
    let dir = std::env::temp_dir().join(format!("jkd-static-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let root = dir.join("root");
    let outside = dir.join("outside");
    for d in [
        root.join("docs"),
        root.join("empty"),
        root.join("app"),
        root.join("etc"),
        dir.join("assets"),
        outside.clone(),
    ] {
        fs::create_dir_all(d).expect("mkdir");
    }
    fs::write(root.join("hello.txt"), HELLO).expect("write");
    let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    fs::write(root.join("data.bin"), &data).expect("write");
    fs::write(root.join("docs/index.html"), "<h1>docs index</h1>\n").expect("write");
    fs::write(root.join("empty/listed-if-listing.txt"), "x").expect("write");
    fs::write(root.join("app/style.css"), "body { color: red }\n").expect("write");
    fs::write(root.join("app/page.jsp"), "never served from disk\n").expect("write");
    fs::write(root.join(".htaccess"), "Require all denied\n").expect("write");
    fs::write(dir.join("assets/logo.svg"), "<svg/>\n").expect("write");
    fs::write(outside.join("secret.txt"), SECRET).expect("write");
    let link = |target: &Path, name: &str| {
        std::os::unix::fs::symlink(target, root.join(name)).expect("symlink");
    };
    link(Path::new("/etc"), "link_etc");
    link(Path::new("/etc/passwd"), "link_passwd");
    link(&outside, "escape");
    link(&outside.join("secret.txt"), "escape_file");
    link(Path::new("hello.txt"), "inner_link");
    let workers = dir.join("workers.properties");
    fs::write(
        &workers,
        format!(
            "worker.list=w\nworker.w.host=127.0.0.1\nworker.w.port={}\nworker.w.mount=/app/*\n",
            closed_port()
        ),
    )
    .expect("write workers");
    Site { dir, root, workers }
}

/// jkd serving `site` through an Apache config (DocumentRoot, Alias, redirects) and
/// a JkUnMount-like exclusion of `/app/*.css`.
fn start_with_conf(site: &Site) -> jkd::Jkd {
    let conf = site.dir.join("httpd.conf");
    fs::write(
        &conf,
        format!(
            "DocumentRoot \"{root}\"\n\
             Alias /static/ {assets}/\n\
             DirectoryIndex index.htm index.html\n\
             RedirectMatch ^/$ /jw/\n\
             Redirect permanent /old http://new.example/new\n\
             Redirect gone /removed\n\
             RedirectMatch 301 ^/img/(.*)\\.gif$ /images/$1.png\n\
             Redirect /app/moved /app/here\n\
             JkUnMount /app/*.css w\n",
            root = site.root.display(),
            assets = site.dir.join("assets").display(),
        ),
    )
    .expect("write conf");
    let conf = conf.display().to_string();
    jkd::start(&site.workers, &["--apache-conf", &conf])
}

#[test]
fn a_file_has_an_etag_and_if_none_match_gives_304() {
    let s = site("etag");
    let j = start_with_conf(&s);
    let a = get(j.port, "/hello.txt");
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.text(), HELLO);
    assert_eq!(a.header("content-type"), Some("text/plain"));
    assert_eq!(a.header("content-length"), Some("20"));
    let etag = a.header("etag").expect("an ETag").to_string();
    let last_modified = a
        .header("last-modified")
        .expect("a Last-Modified")
        .to_string();
    let again = send(
        j.port,
        "GET",
        "/hello.txt",
        &[&format!("If-None-Match: {etag}")],
    );
    assert_eq!(again.status, 304, "{again:?}");
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let other = send(j.port, "GET", "/hello.txt", &["If-None-Match: \"other\""]);
    assert_eq!(other.status, 200);
    let since = send(
        j.port,
        "GET",
        "/hello.txt",
        &[&format!("If-Modified-Since: {last_modified}")],
    );
    assert_eq!(since.status, 304, "{since:?}");
}

#[test]
fn a_range_gives_206_with_the_right_bytes_and_a_bad_one_416() {
    let s = site("range");
    let j = start_with_conf(&s);
    let a = send(j.port, "GET", "/data.bin", &["Range: bytes=300-309"]);
    assert_eq!(a.status, 206, "{a:?}");
    let expected: Vec<u8> = (300..310u32).map(|i| (i % 256) as u8).collect();
    assert_eq!(a.body, expected);
    assert_eq!(a.header("content-range"), Some("bytes 300-309/1000"));
    assert_eq!(a.header("content-length"), Some("10"));
    let tail = send(j.port, "GET", "/data.bin", &["Range: bytes=-4"]);
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, [(996 % 256) as u8, 229, 230, 231]);
    let past = send(j.port, "GET", "/data.bin", &["Range: bytes=5000-"]);
    assert_eq!(past.status, 416, "{past:?}");
    assert_eq!(past.header("content-range"), Some("bytes */1000"));
}

#[test]
fn head_answers_the_length_and_type_without_a_body() {
    let s = site("head");
    let j = start_with_conf(&s);
    let a = send(j.port, "HEAD", "/hello.txt", &[]);
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.header("content-length"), Some("20"));
    assert_eq!(a.header("content-type"), Some("text/plain"));
    assert!(a.header("etag").is_some());
    assert!(a.body.is_empty(), "{a:?}");
    let post = send(j.port, "POST", "/hello.txt", &["Content-Length: 0"]);
    assert_eq!(post.status, 405, "{post:?}");
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

#[test]
fn a_directory_gets_its_index_and_its_slash() {
    let s = site("index");
    let j = start_with_conf(&s);
    let a = get(j.port, "/docs/");
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.text(), "<h1>docs index</h1>\n");
    assert_eq!(a.header("content-type"), Some("text/html"));
    let bare = get(j.port, "/docs?x=1");
    assert_eq!(bare.status, 301, "{bare:?}");
    assert_eq!(bare.header("location"), Some("/docs/?x=1"));
}

#[test]
fn a_directory_without_an_index_is_not_listed() {
    let s = site("listing");
    let j = start_with_conf(&s);
    for target in ["/empty/", "/empty//", "/docs/../empty/"] {
        let a = get(j.port, target);
        assert!(a.status == 403 || a.status == 404, "{target}: {a:?}");
        assert!(!a.text().contains("listed-if-listing"), "{target}: {a:?}");
    }
    // A file named as a directory is not found (no path info).
    let root = get(j.port, "/hello.txt/");
    assert_eq!(root.status, 404, "a file is not a directory: {root:?}");
}

#[test]
fn redirect_and_redirect_match_answer_status_and_location() {
    let s = site("redirect");
    let j = start_with_conf(&s);
    let cases = [
        ("/", 302, Some("/jw/")),
        ("/old/a/b?q=1", 301, Some("http://new.example/new/a/b?q=1")),
        ("/removed/x", 410, None),
        ("/img/logo.gif", 301, Some("/images/logo.png")),
        // A redirect wins over the mount rule, as mod_alias answers before mod_jk.
        ("/app/moved/x", 302, Some("/app/here/x")),
    ];
    for (target, status, location) in cases {
        let a = get(j.port, target);
        assert_eq!(a.status, status, "{target}: {a:?}");
        assert_eq!(a.header("location"), location, "{target}: {a:?}");
    }
    assert_eq!(get(j.port, "/oldish").status, 404);
}

#[test]
fn a_jk_unmount_excluded_path_is_served_from_disk_and_the_rest_still_forwarded() {
    let s = site("unmount");
    let j = start_with_conf(&s);
    let css = get(j.port, "/app/style.css");
    assert_eq!(css.status, 200, "{css:?}");
    assert_eq!(css.text(), "body { color: red }\n");
    assert_eq!(css.header("content-type"), Some("text/css"));
    // Still mapped to the worker (whose port is closed): never read from disk.
    let jsp = get(j.port, "/app/page.jsp");
    assert!(jsp.status >= 500, "{jsp:?}");
    assert!(!jsp.text().contains("never served"), "{jsp:?}");
}

#[test]
fn an_alias_serves_its_own_directory() {
    let s = site("alias");
    let j = start_with_conf(&s);
    let a = get(j.port, "/static/logo.svg");
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.text(), "<svg/>\n");
    assert_eq!(a.header("content-type"), Some("image/svg+xml"));
    // The alias needs its trailing slash; without it the document root is used.
    assert_eq!(get(j.port, "/staticlogo.svg").status, 404);
}

#[test]
fn the_document_root_flag_serves_and_without_it_nothing_does() {
    let s = site("flag");
    let root = s.root.display().to_string();
    let with = jkd::start(&s.workers, &["--document-root", &root]);
    let a = get(with.port, "/hello.txt");
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.text(), HELLO);
    assert_eq!(get(with.port, "/inner_link").text(), HELLO);
    let without = jkd::start(&s.workers, &[]);
    let b = get(without.port, "/hello.txt");
    assert_eq!(b.status, 404, "{b:?}");
    assert!(!b.text().contains("hello"));
}

#[test]
fn traversal_attempts_never_reach_a_file_outside_the_root() {
    let s = site("traversal");
    let j = start_with_conf(&s);
    let corpus = [
        "/../etc/passwd",
        "/../../../../../../etc/passwd",
        "/%2e%2e/etc/passwd",
        "/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
        "/.%2e/.%2e/etc/passwd",
        "/..%2fetc%2fpasswd",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/%2fetc%2fpasswd",
        "/%2e%2e%5cetc%5cpasswd",
        "/..%5c..%5coutside%5csecret.txt",
        "/%252e%252e/%252e%252e/etc/passwd",
        "/%252e%252e%252fetc%252fpasswd",
        "/./../etc/passwd",
        "/docs/../../outside/secret.txt",
        "/hello.txt/../../outside/secret.txt",
        "/static/../../outside/secret.txt",
        "/static/..%2f..%2foutside/secret.txt",
        "/link_etc/passwd",
        "/link_passwd",
        "/escape/secret.txt",
        "/escape_file",
        "/escape/",
        "/hello.txt%00.html",
        "/%00/../../etc/passwd",
        "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
        "/%c0%af..%c0%afetc%c0%afpasswd",
        "/%e0%80%ae%e0%80%ae/etc/passwd",
        "/..\\..\\etc\\passwd",
        "/docs\\..\\..\\outside\\secret.txt",
        "//etc/passwd",
        "//../etc/passwd",
        "/etc/passwd",
        "/.htaccess",
        "/%2e%68taccess",
    ];
    assert!(corpus.len() >= 20);
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let passwd_line = passwd.lines().next().unwrap_or("root:x:0:0").to_string();
    for target in corpus {
        let a = get(j.port, target);
        let text = a.text();
        assert!(a.status >= 400, "{target} was answered {}: {a:?}", a.status);
        assert!(!text.contains(SECRET), "{target}: {a:?}");
        assert!(!text.contains(&passwd_line), "{target}: {a:?}");
    }
    // The checks do not refuse everything: a link that stays inside is followed.
    assert_eq!(get(j.port, "/inner_link").text(), HELLO);
}
