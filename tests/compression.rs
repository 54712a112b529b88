//! Response compression through the real `jkd run` binary, in front of a real Tomcat 10 and for static files: gzip and br answers decode to the bytes sent uncompressed, and what must go untouched (identity, ranges, no-transform, other types, HEAD, tiny answers) does.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::jkd;
use support::tomcat::{self, HttpResponse, TomcatOptions};

const TIMEOUT: Duration = Duration::from_secs(30);
/// Larger than any buffer on the way (AJP packets of 8 KiB, jkd's 8 KiB frames), so the
/// body crosses many of them.
const SIZE: u64 = 200_000;

/// A scratch directory for one test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("jkd-compression-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("mkdir");
        Scratch(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, text).expect("write");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn get(port: u16, target: &str, headers: &[(&str, &str)]) -> HttpResponse {
    tomcat::http_get(port, target, headers, TIMEOUT).unwrap_or_else(|e| panic!("GET {target}: {e}"))
}

/// The body as the client sees it after undoing `Content-Encoding` (none, gzip or br).
fn decoded(r: &HttpResponse) -> Vec<u8> {
    let mut out = Vec::new();
    match r.header("content-encoding") {
        None => out = r.body.clone(),
        Some("gzip") => {
            flate2::read::GzDecoder::new(&r.body[..])
                .read_to_end(&mut out)
                .expect("a whole gzip stream");
        }
        Some("br") => {
            brotli::Decompressor::new(&r.body[..], 4096)
                .read_to_end(&mut out)
                .expect("a whole brotli stream");
        }
        Some(other) => panic!("unexpected coding {other}"),
    }
    out
}

fn vary_lists_accept_encoding(r: &HttpResponse) -> bool {
    r.headers_named("vary")
        .iter()
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("accept-encoding"))
}

/// Asserts a compressed answer: the coding, no Content-Length, Vary, and the bytes.
fn assert_compressed(r: &HttpResponse, coding: &str, want: &[u8], what: &str) {
    assert_eq!(r.status, 200, "{what}: {:?}", r.headers);
    assert_eq!(
        r.header("content-encoding"),
        Some(coding),
        "{what}: {:?}",
        r.headers
    );
    assert_eq!(r.header("content-length"), None, "{what}: {:?}", r.headers);
    assert!(vary_lists_accept_encoding(r), "{what}: {:?}", r.headers);
    assert!(
        r.body.len() < want.len() / 2,
        "{what}: {} compressed bytes for {}",
        r.body.len(),
        want.len()
    );
    assert!(decoded(r) == want, "{what}: the decoded body differs");
}

/// Asserts an answer sent as it came: no coding and the bytes as they are.
fn assert_untouched(r: &HttpResponse, want: &[u8], what: &str) {
    assert_eq!(
        r.header("content-encoding"),
        None,
        "{what}: {:?}",
        r.headers
    );
    assert!(
        r.body == want,
        "{what}: the body differs ({} bytes)",
        r.body.len()
    );
}

/// The response head (lower case) to a request sent as it is; the body, if any, is
/// ignored.
fn head_of(port: u16, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    s.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase()
}

fn workers_for(scratch: &Scratch, ajp_port: u16) -> PathBuf {
    scratch.write(
        "workers.properties",
        &format!(
            "worker.list=w\nworker.w.host=127.0.0.1\nworker.w.port={ajp_port}\nworker.w.mount=/*\n"
        ),
    )
}

#[test]
fn tomcat_answers_compressed_with_the_flag_decode_to_the_original_bytes() {
    let scratch = Scratch::new("flag");
    let node = tomcat::start(&TomcatOptions::default());
    let workers = workers_for(&scratch, node.ajp_port());
    let j = jkd::start(&workers, &["--compress", "text/plain"]);
    let want = tomcat::pattern_body(SIZE);
    let text = format!("/echo/x?size={SIZE}&header=Content-Type:text/plain");
    // Tomcat's answer as it is, for reference: it has a length and no coding.
    let plain = get(j.port, &text, &[]);
    assert_eq!(plain.status, 200, "{:?}", plain.headers);
    assert_eq!(plain.header("content-length"), Some("200000"));
    assert_untouched(&plain, &want, "no Accept-Encoding");
    assert!(vary_lists_accept_encoding(&plain), "{:?}", plain.headers);

    for (accept, coding) in [
        ("gzip", "gzip"),
        ("br", "br"),
        ("gzip, deflate, br", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("*", "br"),
    ] {
        let r = get(j.port, &text, &[("Accept-Encoding", accept)]);
        assert_compressed(&r, coding, &want, accept);
    }
    // Streamed by Tomcat in small flushed pieces without a length: each piece reaches
    // jkd as its own AJP packet, and the answer still decodes whole.
    let streamed = format!("{text}&nolength=1&flush=1&chunk=1000");
    for coding in ["gzip", "br"] {
        let r = get(j.port, &streamed, &[("Accept-Encoding", coding)]);
        assert_compressed(&r, coding, &want, &format!("streamed {coding}"));
    }
    // The ETag names the representation.
    let r = get(
        j.port,
        &format!("{text}&header=ETag:%22v1%22"),
        &[("Accept-Encoding", "gzip")],
    );
    assert_compressed(&r, "gzip", &want, "etag");
    assert_eq!(r.header("etag"), Some("\"v1-gzip\""));

    // Left as they are.
    let untouched = [
        ("identity", text.clone(), ("Accept-Encoding", "identity")),
        (
            "q=0 refuses",
            text.clone(),
            ("Accept-Encoding", "gzip;q=0, br;q=0"),
        ),
        (
            "no-transform",
            format!("{text}&header=Cache-Control:no-transform"),
            ("Accept-Encoding", "gzip, br"),
        ),
        (
            "already encoded",
            format!("{text}&header=Content-Encoding:x-custom"),
            ("Accept-Encoding", "gzip, br"),
        ),
    ];
    for (what, target, accept) in &untouched {
        let r = get(j.port, target, &[*accept]);
        assert_eq!(r.status, 200, "{what}: {:?}", r.headers);
        assert_eq!(r.header("content-length"), Some("200000"), "{what}");
        if *what == "already encoded" {
            assert_eq!(r.header("content-encoding"), Some("x-custom"));
            assert!(r.body == want, "{what}: body");
        } else {
            assert_untouched(&r, &want, what);
        }
    }
    // A range: Tomcat's 206 with its Content-Range goes as it is (large enough to be
    // compressed otherwise).
    let ranged = get(
        j.port,
        &format!(
            "{text}&status=206&header=Content-Range:bytes%200-{}/{}",
            SIZE - 1,
            SIZE * 2
        ),
        &[("Accept-Encoding", "gzip, br"), ("Range", "bytes=0-199999")],
    );
    assert_eq!(ranged.status, 206, "{:?}", ranged.headers);
    assert_eq!(
        ranged.header("content-range"),
        Some("bytes 0-199999/400000")
    );
    assert_untouched(&ranged, &want, "range");
    // Not a 206, but a Content-Range all the same (a 416's, say): as it is too.
    let range_header = get(
        j.port,
        &format!("{text}&header=Content-Range:bytes%20*/{SIZE}"),
        &[("Accept-Encoding", "gzip, br")],
    );
    assert_untouched(&range_header, &want, "Content-Range");
    // Another type: not compressed and no Vary.
    let binary = get(
        j.port,
        &format!("/echo/x?size={SIZE}"),
        &[("Accept-Encoding", "gzip, br")],
    );
    assert_untouched(&binary, &want, "application/octet-stream");
    assert!(!vary_lists_accept_encoding(&binary), "{:?}", binary.headers);
    // Tiny: not worth it.
    let tiny = get(
        j.port,
        "/echo/x?size=500&header=Content-Type:text/plain",
        &[("Accept-Encoding", "gzip, br")],
    );
    assert_untouched(&tiny, &tomcat::pattern_body(500), "tiny");
    // HEAD: the head of the uncompressed answer (mod_deflate would announce gzip and
    // drop the length; jkd keeps the length true of the answer a GET without
    // Accept-Encoding gets: docs/differences.md).
    let head = head_of(
        j.port,
        &format!(
            "HEAD {text} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("content-encoding"), "{head}");
    assert!(head.contains("content-length: 200000"), "{head}");
}

#[test]
fn the_apache_configs_add_output_filter_by_type_lines_choose_the_types_and_codings() {
    let scratch = Scratch::new("conf");
    let node = tomcat::start(&TomcatOptions::default());
    let workers = workers_for(&scratch, node.ajp_port());
    let conf = scratch.write(
        "httpd.conf",
        "<IfModule mod_deflate.c>\n\
         AddOutputFilterByType DEFLATE text/html text/plain\n\
         </IfModule>\n",
    );
    let conf = conf.display().to_string();
    let check = Command::new(env!("CARGO_BIN_EXE_jkd"))
        .args(["check", "--strict", "--apache-conf", &conf, "--workers"])
        .arg(&workers)
        .output()
        .expect("jkd check");
    assert!(
        check.status.success(),
        "jkd check: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let j = jkd::start(&workers, &["--apache-conf", &conf]);
    let want = tomcat::pattern_body(SIZE);
    for mime in ["text/plain", "text/html;%20charset=UTF-8"] {
        let target = format!("/echo/x?size={SIZE}&header=Content-Type:{mime}");
        let r = get(j.port, &target, &[("Accept-Encoding", "gzip")]);
        assert_compressed(&r, "gzip", &want, mime);
        // DEFLATE is gzip only (mod_brotli's BROTLI_COMPRESS is another filter): a
        // client that takes br alone gets the answer as it is.
        let r = get(j.port, &target, &[("Accept-Encoding", "br")]);
        assert_untouched(&r, &want, "br without BROTLI_COMPRESS");
        assert!(vary_lists_accept_encoding(&r), "{:?}", r.headers);
    }
    let css = get(
        j.port,
        &format!("/echo/x?size={SIZE}&header=Content-Type:text/css"),
        &[("Accept-Encoding", "gzip")],
    );
    assert_untouched(&css, &want, "text/css is not listed");
}

#[test]
fn static_files_of_a_compressed_type_are_compressed_unless_ranged_and_revalidate() {
    let scratch = Scratch::new("static");
    let root = scratch.0.join("root");
    fs::create_dir_all(&root).expect("mkdir");
    let text: Vec<u8> = tomcat::pattern_body(SIZE);
    fs::write(root.join("big.txt"), &text).expect("write");
    fs::write(root.join("big.bin"), &text).expect("write");
    // Nothing is mounted to the worker: every URI is a static one.
    let workers = scratch.write(
        "workers.properties",
        "worker.list=w\nworker.w.host=127.0.0.1\nworker.w.port=1\nworker.w.mount=/app/*\n",
    );
    let root_arg = root.display().to_string();
    let j = jkd::start(
        &workers,
        &["--document-root", &root_arg, "--compress", "text/plain"],
    );
    for coding in ["gzip", "br"] {
        let r = get(j.port, "/big.txt", &[("Accept-Encoding", coding)]);
        assert_compressed(&r, coding, &text, coding);
        assert_eq!(r.header("accept-ranges"), None, "{:?}", r.headers);
        let etag = r.header("etag").expect("static files have an ETag");
        assert!(etag.ends_with(&format!("-{coding}\"")), "{etag}");
        // Revalidating the compressed copy gives 304 with the tag the client holds
        // (behind mod_deflate it gives 200 every time: httpd bug 45023).
        let again = get(
            j.port,
            "/big.txt",
            &[("Accept-Encoding", coding), ("If-None-Match", etag)],
        );
        assert_eq!(again.status, 304, "{coding}: {:?}", again.headers);
        assert_eq!(again.header("etag"), Some(etag));
        assert!(again.body.is_empty());
    }
    // A client that holds the gzip copy but no longer takes gzip gets the file.
    let gzip_tag = get(j.port, "/big.txt", &[("Accept-Encoding", "gzip")])
        .header("etag")
        .map(str::to_string)
        .expect("etag");
    let identity = get(j.port, "/big.txt", &[("If-None-Match", &gzip_tag)]);
    assert_eq!(identity.status, 200, "{:?}", identity.headers);
    assert_untouched(&identity, &text, "identity after gzip");
    let ranged = get(
        j.port,
        "/big.txt",
        &[
            ("Accept-Encoding", "gzip, br"),
            ("Range", "bytes=16-100015"),
        ],
    );
    assert_eq!(ranged.status, 206, "{:?}", ranged.headers);
    assert_untouched(&ranged, &text[16..100_016], "range");
    let binary = get(j.port, "/big.bin", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(binary.status, 200);
    assert_untouched(&binary, &text, "not a compressed type");
}

#[test]
fn jkd_check_takes_the_flag_and_refuses_what_is_not_a_media_type() {
    let scratch = Scratch::new("check");
    let workers = scratch.write(
        "workers.properties",
        "worker.list=w\nworker.w.host=127.0.0.1\nworker.w.port=8009\nworker.w.mount=/*\n",
    );
    let check = |compress: &str| {
        Command::new(env!("CARGO_BIN_EXE_jkd"))
            .args(["check", "--compress", compress, "--workers"])
            .arg(&workers)
            .output()
            .expect("jkd check")
    };
    let ok = check("text/html");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    for bad in ["text/*", "text", "text/html; charset=utf-8"] {
        let out = check(bad);
        assert!(!out.status.success(), "--compress {bad} was taken");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("media type"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_flag_wins_over_the_apache_config_with_a_warning() {
    let scratch = Scratch::new("both");
    let workers = scratch.write(
        "workers.properties",
        "worker.list=w\nworker.w.host=127.0.0.1\nworker.w.port=8009\nworker.w.mount=/*\n",
    );
    let conf = scratch.write(
        "httpd.conf",
        "AddOutputFilterByType DEFLATE text/html\nDeflateCompressionLevel 9\n",
    );
    let check = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_jkd"))
            .args(["check", "--strict", "--workers"])
            .arg(&workers)
            .arg("--apache-conf")
            .arg(&conf)
            .args(extra)
            .output()
            .expect("jkd check")
    };
    // The level is not honoured: a warning with the file and line.
    let alone = check(&[]);
    let said = String::from_utf8_lossy(&alone.stderr).into_owned();
    assert!(!alone.status.success(), "{said}");
    assert!(said.contains("httpd.conf:2"), "{said}");
    assert!(said.contains("DeflateCompressionLevel"), "{said}");
    assert!(!said.contains("--compress wins"), "{said}");
    let both = check(&["--compress", "text/plain"]);
    let said = String::from_utf8_lossy(&both.stderr).into_owned();
    assert!(said.contains("httpd.conf:1"), "{said}");
    assert!(said.contains("--compress wins"), "{said}");
}
