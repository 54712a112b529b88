//! HTTPS at jkd's edge, seen by curl and `openssl s_client`: TLS 1.2 and 1.3, HTTP/2 by ALPN, certificates by SNI, client certificates (required, optional, absent, from a CA nobody trusts), plain HTTP on the TLS port, X-Forwarded-Proto from a trusted range, certificate reload on SIGHUP, and the TLS metrics.

mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::certs::{KeyType, Pki, x509_field};
use support::jkd::{Jkd, start, start_demo};

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl is needed for the TLS tests")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `openssl s_client` against `port` with `extra` arguments; its whole output.
fn s_client(port: u16, extra: &[&str]) -> String {
    let connect = format!("127.0.0.1:{port}");
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &connect])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl is needed for the TLS tests");
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The PEM certificate jkd presented in an `s_client` transcript.
fn presented_certificate(transcript: &str) -> String {
    let start = transcript
        .find("-----BEGIN CERTIFICATE-----")
        .unwrap_or_else(|| panic!("no certificate in:\n{transcript}"));
    let end = transcript[start..]
        .find("-----END CERTIFICATE-----")
        .expect("end of certificate")
        + start
        + "-----END CERTIFICATE-----".len();
    format!("{}\n", &transcript[start..end])
}

fn echo_line<'a>(page: &'a str, name: &str) -> Option<&'a str> {
    page.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
}

fn demo_with_tls(pki: &Pki, server: &support::certs::Issued, extra: &[&str]) -> (Jkd, u16) {
    let mut args = vec![
        "--tls-listen",
        "127.0.0.1:0",
        "--cert",
        server.cert_str(),
        "--key",
        server.key_str(),
    ];
    args.extend_from_slice(extra);
    let _ = pki;
    let jkd = start_demo(&args);
    let port = jkd.tls_port.expect("jkd announced its HTTPS port");
    (jkd, port)
}

fn metrics(jkd: &Jkd) -> String {
    let port = jkd.metrics_port.expect("metrics port");
    text(&curl(&[&format!("http://127.0.0.1:{port}/metrics")]))
}

fn metric_value(metrics: &str, line_start: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn tls_12_and_13_reach_the_backend_as_mod_ssl_would_tell_it() {
    let pki = Pki::new("versions");
    let server = pki.server(
        "server",
        &["localhost", "127.0.0.1"],
        KeyType::EcdsaP256,
        30,
    );
    let (jkd, port) = demo_with_tls(&pki, &server, &[]);
    let ca = pki.ca();
    let url = format!("https://localhost:{port}/echo/tls");
    let resolve = format!("localhost:{port}:127.0.0.1");
    for (flags, protocol, cipher) in [
        (
            ["--tlsv1.2", "--tls-max", "1.2"],
            "TLSv1.2",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
        ),
        (
            ["--tlsv1.3", "--tls-max", "1.3"],
            "TLSv1.3",
            "TLS_AES_256_GCM_SHA384",
        ),
    ] {
        let out = curl(&[
            "--cacert",
            ca.to_str().unwrap(),
            "--resolve",
            &resolve,
            flags[0],
            flags[1],
            flags[2],
            &url,
        ]);
        let page = text(&out);
        assert!(out.status.success(), "{protocol}: {out:?}\n{}", jkd.log());
        assert_eq!(echo_line(&page, "secure"), Some("true"), "{page}");
        assert_eq!(echo_line(&page, "ssl-protocol"), Some(protocol), "{page}");
        assert_eq!(echo_line(&page, "ssl-cipher"), Some(cipher), "{page}");
        let bits = if cipher.contains("128") { "128" } else { "256" };
        assert_eq!(echo_line(&page, "ssl-key-size"), Some(bits), "{page}");
        // The port is the TLS listener's, as httpd tells mod_jk.
        assert_eq!(
            echo_line(&page, "server-port"),
            Some(port.to_string().as_str())
        );
        let session = echo_line(&page, "ssl-session").expect("a session id");
        assert_eq!(session.len(), 64, "{session}");
        assert!(session.bytes().all(|b| b.is_ascii_hexdigit()));
        // No client certificate was asked for.
        assert_eq!(echo_line(&page, "ssl-cert"), None);
    }
    // The plain listener stays plain.
    let plain = text(&curl(&[&format!(
        "http://127.0.0.1:{}/echo/plain",
        jkd.port
    )]));
    assert_eq!(echo_line(&plain, "secure"), Some("false"), "{plain}");
    assert_eq!(echo_line(&plain, "ssl-cipher"), None);
}

#[test]
fn browsers_get_http2_by_alpn_and_others_http11() {
    let pki = Pki::new("alpn");
    let server = pki.server("server", &["localhost"], KeyType::EcdsaP256, 30);
    let (_jkd, port) = demo_with_tls(&pki, &server, &[]);
    let ca = pki.ca();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}/echo/alpn");
    for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let out = curl(&[
            "--cacert",
            ca.to_str().unwrap(),
            "--resolve",
            &resolve,
            flag,
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
            &url,
        ]);
        assert_eq!(text(&out), version, "{out:?}");
    }
    let transcript = s_client(port, &["-alpn", "h2,http/1.1"]);
    assert!(transcript.contains("ALPN protocol: h2"), "{transcript}");
    let transcript = s_client(port, &["-alpn", "http/1.1"]);
    assert!(
        transcript.contains("ALPN protocol: http/1.1"),
        "{transcript}"
    );
}

#[test]
fn sni_chooses_the_certificate_by_name_and_the_first_is_the_default() {
    let pki = Pki::new("sni");
    let first = pki.server("a", &["a.test"], KeyType::EcdsaP256, 30);
    let second = pki.server("b", &["b.test", "*.b.test"], KeyType::Rsa2048, 30);
    let jkd = start_demo(&[
        "--tls-listen",
        "127.0.0.1:0",
        "--cert",
        first.cert_str(),
        "--key",
        first.key_str(),
        "--cert",
        second.cert_str(),
        "--key",
        second.key_str(),
    ]);
    let port = jkd.tls_port.expect("https port");
    let subject = |extra: &[&str]| {
        let pem = presented_certificate(&s_client(port, extra));
        // openssl writes `subject=CN = a.test`.
        x509_field(&pem, "-subject").replace(' ', "")
    };
    assert!(subject(&["-servername", "a.test"]).contains("CN=a.test"));
    assert!(subject(&["-servername", "b.test"]).contains("CN=b.test"));
    assert!(subject(&["-servername", "www.b.test"]).contains("CN=b.test"));
    assert!(subject(&["-servername", "unknown.test"]).contains("CN=a.test"));
    assert!(subject(&["-noservername"]).contains("CN=a.test"));
}

#[test]
fn client_certificates_required_optional_and_from_the_wrong_ca() {
    let pki = Pki::new("clients");
    let server = pki.server("server", &["localhost"], KeyType::EcdsaP256, 30);
    let good = pki.client("alice", "alice", "ca");
    let rogue = pki.client("mallory", "mallory", "rogue-ca");
    let ca = pki.ca();
    let ca_str = ca.to_str().unwrap().to_string();
    let fetch = |port: u16, cert: Option<&support::certs::Issued>| {
        let resolve = format!("localhost:{port}:127.0.0.1");
        let url = format!("https://localhost:{port}/echo/who");
        let mut args = vec!["--cacert", ca_str.as_str(), "--resolve", resolve.as_str()];
        if let Some(c) = cert {
            args.extend(["--cert", c.cert_str(), "--key", c.key_str()]);
        }
        args.push(url.as_str());
        curl(&args)
    };
    let as_pem_line = |c: &support::certs::Issued| c.pem().replace('\n', "\\n");

    // require: only certificates from the CA get in.
    let (required, port) = demo_with_tls(
        &pki,
        &server,
        &[
            "--client-ca",
            &ca_str,
            "--client-cert",
            "require",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let out = fetch(port, Some(&good));
    assert!(out.status.success(), "{out:?}");
    let page = text(&out);
    assert_eq!(
        echo_line(&page, "ssl-cert"),
        Some(as_pem_line(&good).as_str())
    );
    assert!(!fetch(port, None).status.success(), "no certificate got in");
    assert!(
        !fetch(port, Some(&rogue)).status.success(),
        "a rogue certificate got in"
    );
    let m = metrics(&required);
    let refused = metric_value(
        &m,
        "jkd_tls_handshake_errors_total{reason=\"client_certificate\"}",
    )
    .unwrap_or(0.0);
    assert!(refused >= 2.0, "{m}");
    drop(required);

    // optional: no certificate is fine; a bad one is not.
    let (_optional, port) = demo_with_tls(
        &pki,
        &server,
        &["--client-ca", &ca_str, "--client-cert", "optional"],
    );
    let out = fetch(port, None);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(echo_line(&text(&out), "ssl-cert"), None);
    let out = fetch(port, Some(&good));
    assert_eq!(
        echo_line(&text(&out), "ssl-cert"),
        Some(as_pem_line(&good).as_str())
    );
    assert!(!fetch(port, Some(&rogue)).status.success());

    // optional_no_ca: any certificate is passed on for the application to judge.
    let (_any, port) = demo_with_tls(&pki, &server, &["--client-cert", "optional_no_ca"]);
    let out = fetch(port, Some(&rogue));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        echo_line(&text(&out), "ssl-cert"),
        Some(as_pem_line(&rogue).as_str())
    );
}

#[test]
fn plain_http_on_the_tls_port_is_answered_and_counted() {
    let pki = Pki::new("plain");
    let server = pki.server("server", &["localhost"], KeyType::EcdsaP256, 30);
    let (jkd, port) = demo_with_tls(&pki, &server, &["--metrics-listen", "127.0.0.1:0"]);
    let started = Instant::now();
    let out = curl(&["-i", &format!("http://127.0.0.1:{port}/echo/x")]);
    let page = text(&out);
    assert!(page.starts_with("HTTP/1.1 400"), "{page}");
    assert!(page.contains("speaks HTTPS"), "{page}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let m = metrics(&jkd);
    assert_eq!(
        metric_value(&m, "jkd_tls_handshake_errors_total{reason=\"plain_http\"}"),
        Some(1.0),
        "{m}"
    );
    // The expiry of the certificate in use is published.
    let not_after = x509_field(&server.pem(), "-enddate");
    assert!(not_after.starts_with("notAfter="), "{not_after}");
    let published = m
        .lines()
        .find(|l| l.starts_with("jkd_tls_certificate_expiry_timestamp_seconds{"))
        .unwrap_or_else(|| panic!("no expiry metric in\n{m}"));
    assert!(published.contains("name=\"localhost\""), "{published}");
    let seconds: f64 = published.rsplit(' ').next().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let days = (seconds - now) / 86_400.0;
    assert!((29.0..=30.5).contains(&days), "{days} days");
}

#[test]
fn a_certificate_near_its_end_is_a_warning_at_start() {
    let pki = Pki::new("expiring");
    let server = pki.server("server", &["localhost"], KeyType::EcdsaP256, 5);
    let (jkd, _port) = demo_with_tls(&pki, &server, &[]);
    // Logged right after the listeners are announced.
    wait_for(|| jkd.log().contains("expires in"), "the expiry warning");
    let log = jkd.log();
    let line = log.lines().find(|l| l.contains("expires in")).unwrap();
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains(server.cert_str()), "{line}");
    // Five days from the second the certificate was made: 4 or 5 whole days left.
    assert!(
        line.contains("expires in 4 days") || line.contains("expires in 5 days"),
        "{line}"
    );
}

#[test]
fn sighup_rereads_certificates_and_a_bad_file_keeps_the_old_one() {
    let pki = Pki::new("reload");
    let first = pki.server("first", &["localhost"], KeyType::EcdsaP256, 30);
    let second = pki.server("second", &["localhost"], KeyType::EcdsaP256, 30);
    // jkd reads these two paths; the test swaps what is in them.
    let cert = pki.path("live.pem");
    let key = pki.path("live.key");
    std::fs::copy(&first.cert, &cert).unwrap();
    std::fs::copy(&first.key, &key).unwrap();
    let jkd = start_demo(&[
        "--tls-listen",
        "127.0.0.1:0",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    let port = jkd.tls_port.expect("https port");
    let serial = || x509_field(&presented_certificate(&s_client(port, &[])), "-serial");
    let first_serial = x509_field(&first.pem(), "-serial");
    let second_serial = x509_field(&second.pem(), "-serial");
    assert_ne!(first_serial, second_serial);
    assert_eq!(serial(), first_serial);

    // A TLS connection opened before the reloads and used after them.
    let mut open = Command::new("openssl")
        .args(["s_client", "-ign_eof", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let stdout = open.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    // The handshake is done (with the first certificate) before anything changes.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let line = lines_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("s_client finished its handshake");
        if line.starts_with("SSL handshake has read") {
            break;
        }
    }
    std::fs::copy(&second.cert, &cert).unwrap();
    std::fs::copy(&second.key, &key).unwrap();
    hangup(&jkd);
    wait_for(
        || serial() == second_serial,
        "the new certificate after SIGHUP",
    );
    assert!(jkd.wait_log("certificates re-read"), "{}", jkd.log());

    // A broken file: the error names it, the certificate in use stays.
    std::fs::write(&cert, "not a certificate\n").unwrap();
    hangup(&jkd);
    wait_for(
        || jkd.log().contains("keeps its current certificate"),
        "the reload error",
    );
    let log = jkd.log();
    let line = log
        .lines()
        .find(|l| l.contains("keeps its current certificate"))
        .unwrap();
    assert!(line.contains(cert.to_str().unwrap()), "{line}");
    assert_eq!(serial(), second_serial);
    // The connection opened before the reloads still serves.
    use std::io::Write;
    open.stdin
        .as_mut()
        .unwrap()
        .write_all(b"GET /echo/kept HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut answered = false;
    while let Ok(line) = lines_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if line.starts_with("uri: /echo/kept") {
            answered = true;
            break;
        }
    }
    let _ = open.kill();
    let _ = open.wait();
    assert!(
        answered,
        "the connection opened before the reload was not served"
    );
    let plain = curl(&[&format!("http://127.0.0.1:{}/echo/alive", jkd.port)]);
    assert!(plain.status.success(), "{plain:?}");
}

#[test]
fn https_from_a_trusted_proxy_range_reaches_the_backend_as_secure() {
    // jkd run with an in-test demo node behind it, trusting 127.0.0.0/8.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let node_port = listener.local_addr().unwrap().port();
    rt.spawn(support::jkd::demo_node("node1", listener));
    let dir = std::env::temp_dir().join(format!("jkd-tls-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let workers = dir.join("workers.properties");
    std::fs::write(
        &workers,
        format!("worker.list=node1\nworker.node1.host=127.0.0.1\nworker.node1.port={node_port}\nworker.node1.mount=/*\n"),
    )
    .unwrap();
    let jkd = start(&workers, &["--trusted-proxy", "127.0.0.0/8"]);
    let url = format!("http://127.0.0.1:{}/echo/proxied", jkd.port);
    let page = text(&curl(&[
        "-H",
        "X-Forwarded-Proto: https",
        "-H",
        "Host: shop.example",
        &url,
    ]));
    assert_eq!(echo_line(&page, "secure"), Some("true"), "{page}");
    assert_eq!(echo_line(&page, "server-port"), Some("443"), "{page}");
    let page = text(&curl(&[
        "-H",
        "Forwarded: for=192.0.2.1;proto=https",
        "-H",
        "X-Forwarded-Port: 8443",
        &url,
    ]));
    assert_eq!(echo_line(&page, "secure"), Some("true"), "{page}");
    assert_eq!(echo_line(&page, "server-port"), Some("8443"), "{page}");
    let page = text(&curl(&[&url]));
    assert_eq!(echo_line(&page, "secure"), Some("false"), "{page}");
    drop(jkd);
    // Not trusted: the header changes nothing.
    let untrusting = start(&workers, &["--trusted-proxy", "10.0.0.0/8"]);
    let page = text(&curl(&[
        "-H",
        "X-Forwarded-Proto: https",
        &format!("http://127.0.0.1:{}/echo/spoofed", untrusting.port),
    ]));
    assert_eq!(echo_line(&page, "secure"), Some("false"), "{page}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn hangup(jkd: &Jkd) {
    let status = Command::new("kill")
        .args(["-HUP", &jkd.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Polls `done` for up to 20 s.
fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "waited 20 s for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
