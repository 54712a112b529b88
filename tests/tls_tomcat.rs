//! TLS differential against the reference: what a real Tomcat 10 servlet (`/tls/*`) sees through jkd's HTTPS listener versus through httpd + mod_ssl + mod_jk 1.2.48, on the same certificates.
//!
//! The certificates are made with the `openssl` command line (a CA, an ECDSA P-256
//! server certificate for `localhost` / 127.0.0.1, and a client certificate, both
//! signed by the CA); requests are made with `curl` (built against OpenSSL, so its names
//! for cipher suites are the ones mod_ssl and jkd report). Each cipher suite is forced on
//! curl so both front ends negotiate the same one and the comparison is exact.
//!
//! jkd runs twice: configured by flags (`--tls-listen --cert --key --client-ca
//! --client-cert optional`) and by `--apache-conf` on an httpd.conf holding the very
//! `<VirtualHost>` lines httpd gets; both are compared with httpd, fact by fact, and every
//! difference is listed before the test fails. A client certificate signed by an
//! intermediate CA checks what goes over AJP with mod_jk's default JkOptions (the
//! certificate alone) and with `JkOptions +ForwardSSLCertChain` (the chain the client
//! sent), the latter against a second httpd and `--apache-conf` jkd.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::jkd;
use support::modjk;
use support::tomcat::{self, TomcatOptions};

const TIMEOUT: Duration = Duration::from_secs(30);
/// The client certificate signed by the root CA: subject as Java prints it (RFC 2253)
/// and serial in hex.
const CLIENT: (&str, &str) = ("CN=jkd test client,O=jkd tests", "2002");
/// A client certificate signed by an intermediate CA, which curl sends along with it.
const CHAINED_CLIENT: (&str, &str) = ("CN=jkd chained client,O=jkd tests", "3003");
const INTERMEDIATE: (&str, &str) = ("CN=jkd test intermediate,O=jkd tests", "1ca1");
const ROOT: (&str, &str) = ("CN=jkd test CA,O=jkd tests", "ca");

/// The suites forced on curl: (protocol, OpenSSL name, key size in bits).
const SUITES: &[(Protocol, &str, u32)] = &[
    (Protocol::Tls12, "ECDHE-ECDSA-AES128-GCM-SHA256", 128),
    (Protocol::Tls12, "ECDHE-ECDSA-AES256-GCM-SHA384", 256),
    (Protocol::Tls12, "ECDHE-ECDSA-CHACHA20-POLY1305", 256),
    (Protocol::Tls13, "TLS_AES_128_GCM_SHA256", 128),
    (Protocol::Tls13, "TLS_AES_256_GCM_SHA384", 256),
    (Protocol::Tls13, "TLS_CHACHA20_POLY1305_SHA256", 256),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Tls12,
    Tls13,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Tls12 => "TLSv1.2",
            Protocol::Tls13 => "TLSv1.3",
        }
    }
}

/// A temp dir removed on drop (kept when `JKD_TLS_KEEP_TMP` is set, to inspect certs).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("jkd-tls-tomcat-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir(path)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn str(&self, name: &str) -> String {
        self.file(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("JKD_TLS_KEEP_TMP").is_none() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Panic with an install hint unless `program --version` runs.
fn require_program(program: &str, package: &str) -> String {
    let out = Command::new(program)
        .arg(if program == "openssl" {
            "version"
        } else {
            "--version"
        })
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("`{program}` is needed for the TLS tests ({e}); install it with `apt-get install {package}`")
        });
    assert!(
        out.status.success(),
        "`{program}` does not run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn openssl(dir: &TempDir, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(&dir.0)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// ca.pem/ca.key, server.pem/server.key (localhost, 127.0.0.1), client.pem/client.key,
/// all ECDSA P-256.
fn make_certificates(dir: &TempDir) {
    let new_key = |name: &str| {
        openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                name,
            ],
        )
    };
    new_key("ca.key");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/O=jkd tests/CN=jkd test CA",
            "-set_serial",
            &format!("0x{}", ROOT.1),
            "-days",
            "2",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "ca.pem",
        ],
    );
    let leaf = |name: &str, signer: &str, subject: &str, serial: &str, ext: &str| {
        new_key(&format!("{name}.key"));
        fs::write(dir.file(&format!("{name}.ext")), ext).expect("write ext file");
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-subj",
                subject,
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{signer}.pem"),
                "-CAkey",
                &format!("{signer}.key"),
                "-set_serial",
                serial,
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.pem"),
            ],
        );
    };
    leaf(
        "server",
        "ca",
        "/CN=localhost",
        "0x1001",
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    );
    let client_ext = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
                      extendedKeyUsage=clientAuth\n";
    leaf(
        "client",
        "ca",
        "/O=jkd tests/CN=jkd test client",
        &format!("0x{}", CLIENT.1),
        client_ext,
    );
    leaf(
        "intermediate",
        "ca",
        "/O=jkd tests/CN=jkd test intermediate",
        &format!("0x{}", INTERMEDIATE.1),
        "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n",
    );
    leaf(
        "chained",
        "intermediate",
        "/O=jkd tests/CN=jkd chained client",
        &format!("0x{}", CHAINED_CLIENT.1),
        client_ext,
    );
    // What curl presents: the certificate, then (for the chained one) its intermediate.
    let read = |name: &str| fs::read(dir.file(name)).expect("read certificate");
    fs::write(dir.file("client-send.pem"), read("client.pem")).expect("write client-send.pem");
    let mut chained = read("chained.pem");
    chained.extend(read("intermediate.pem"));
    fs::write(dir.file("chained-send.pem"), chained).expect("write chained-send.pem");
}

/// One request's outcome: the servlet's lines and what curl said it negotiated.
#[derive(Debug)]
struct Seen {
    facts: BTreeMap<String, String>,
    /// `<protocol> / <suite>` from curl's `SSL connection using` line (OpenSSL's names).
    curl_negotiated: String,
}

struct Request<'a> {
    protocol: Protocol,
    /// Forced suite (OpenSSL name), or `None` for each side's default choice.
    suite: Option<&'a str>,
    /// The client certificate presented (`client` or `chained`), if any.
    client: Option<&'a str>,
    /// (subject, serial) of each certificate the servlet should see, in order.
    want_certs: &'a [(&'a str, &'a str)],
}

fn curl(dir: &TempDir, port: u16, req: &Request<'_>) -> Seen {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-v", "--max-time", "30", "--cacert"])
        .arg(dir.file("ca.pem"));
    if let Some(client) = req.client {
        cmd.arg("--cert")
            .arg(dir.file(&format!("{client}-send.pem")))
            .arg("--key")
            .arg(dir.file(&format!("{client}.key")));
    }
    match req.protocol {
        Protocol::Tls12 => {
            cmd.args(["--tlsv1.2", "--tls-max", "1.2"]);
            if let Some(suite) = req.suite {
                cmd.args(["--ciphers", suite]);
            }
        }
        Protocol::Tls13 => {
            cmd.args(["--tlsv1.3", "--tls-max", "1.3"]);
            if let Some(suite) = req.suite {
                cmd.args(["--tls13-ciphers", suite]);
            }
        }
    }
    cmd.args(["-w", "\nhttpStatus: %{http_code}\n"])
        .arg(format!("https://127.0.0.1:{port}/tls/probe"))
        .stdin(Stdio::null());
    let out = cmd.output().expect("run curl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "curl to port {port} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let facts = parse_facts(&stdout);
    assert_eq!(
        facts.get("httpStatus").map(String::as_str),
        Some("200"),
        "port {port}:\n{stdout}\n{stderr}"
    );
    // Only "<protocol> / <suite>": newer curls append the key exchange group and the
    // key type as further " / " parts.
    let curl_negotiated = stderr
        .lines()
        .find_map(|l| l.split("SSL connection using ").nth(1))
        .map(|rest| {
            rest.trim()
                .split(" / ")
                .take(2)
                .collect::<Vec<_>>()
                .join(" / ")
        })
        .unwrap_or_else(|| "?".to_string());
    Seen {
        facts,
        curl_negotiated,
    }
}

fn parse_facts(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn fact<'a>(facts: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    facts.get(key).map_or("<missing line>", String::as_str)
}

/// The facts every front end must report identically (ports and session ids differ by
/// design and are checked separately).
const SAME_FACTS: &[&str] = &[
    "isSecure",
    "scheme",
    "certCount",
    "cert0.subject",
    "cert0.serial",
    "cert1.subject",
    "cert1.serial",
    "cipherSuite",
    "keySize",
    "protocolVersion",
];

/// Collects mismatches and a facts table, so one run shows every difference at once.
#[derive(Default)]
struct Report {
    table: String,
    failures: Vec<String>,
}

impl Report {
    fn check(&mut self, ok: bool, what: String) {
        if !ok {
            self.failures.push(what);
        }
    }

    /// Compare one request through every front end with the reference (the last one,
    /// httpd) and record the table rows.
    fn compare(&mut self, case: &str, seen: &[(&str, u16, Seen)]) {
        let (reference, _, theirs) = seen.last().expect("a reference front end");
        let mut keys: Vec<&String> = seen.iter().flat_map(|(_, _, s)| s.facts.keys()).collect();
        keys.sort();
        keys.dedup();
        let negotiated: Vec<String> = seen
            .iter()
            .map(|(name, _, s)| format!("{name} {}", s.curl_negotiated))
            .collect();
        let _ = writeln!(
            self.table,
            "\n[{case}] curl negotiated: {}",
            negotiated.join(" | ")
        );
        for key in keys {
            let mut row = format!("  {key:<16}");
            for (name, _, s) in seen {
                let _ = write!(row, " {name}: {:<40}", fact(&s.facts, key));
            }
            let _ = writeln!(self.table, "{}", row.trim_end());
        }
        for (name, _, ours) in &seen[..seen.len() - 1] {
            for key in SAME_FACTS {
                let (a, b) = (fact(&ours.facts, key), fact(&theirs.facts, key));
                self.check(
                    a == b,
                    format!("[{case}] {key}: {name} {a:?} != {reference} {b:?}"),
                );
            }
        }
        for (name, port, s) in seen {
            for key in ["serverPort", "localPort"] {
                let got = fact(&s.facts, key);
                self.check(
                    got == port.to_string(),
                    format!("[{case}] {name} {key}: {got:?}, expected its TLS port {port}"),
                );
            }
            let session = fact(&s.facts, "sessionId");
            self.check(
                session.starts_with("present"),
                format!("[{case}] {name} sessionId: {session:?}"),
            );
        }
    }
}

/// Expected facts that do not depend on the front end.
fn expect_common(report: &mut Report, case: &str, seen: &Seen, req: &Request<'_>, bits: u32) {
    let f = &seen.facts;
    let mut want: Vec<(String, String)> = vec![
        ("isSecure".into(), "true".into()),
        ("scheme".into(), "https".into()),
        (
            "protocolVersion".into(),
            format!("{} (String)", req.protocol.name()),
        ),
        ("keySize".into(), format!("{bits} (Integer)")),
    ];
    if let Some(suite) = req.suite {
        want.push(("cipherSuite".into(), format!("{suite} (String)")));
    }
    if req.want_certs.is_empty() {
        want.push(("certCount".into(), "absent".into()));
    } else {
        want.push(("certCount".into(), req.want_certs.len().to_string()));
    }
    for (i, (subject, serial)) in req.want_certs.iter().enumerate() {
        want.push((format!("cert{i}.subject"), subject.to_string()));
        want.push((format!("cert{i}.serial"), serial.to_string()));
    }
    for (key, value) in want {
        let got = fact(f, &key);
        report.check(
            got == value,
            format!("[{case}] {key}: {got:?}, expected {value:?}"),
        );
    }
    // curl's own view of the handshake is a third witness for the suite name.
    if let Some(suite) = req.suite {
        let said = format!("{} / {suite}", req.protocol.name());
        report.check(
            seen.curl_negotiated == said,
            format!(
                "[{case}] curl negotiated {:?}, expected {said:?}",
                seen.curl_negotiated
            ),
        );
    }
}

/// `n` distinct free 127.0.0.1 ports (all held until every one is known).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("local_addr").port())
        .collect()
}

/// An httpd.conf for `jkd --apache-conf`: a plain and an HTTPS `Listen` on free ports,
/// the `global` lines, and one `<VirtualHost>` on the HTTPS port holding `vhost`.
fn apache_conf(global: &[String], vhost: &[String]) -> String {
    let ports = free_ports(2);
    let mut text = format!(
        "Listen 127.0.0.1:{}\nListen 127.0.0.1:{} https\n",
        ports[0], ports[1]
    );
    for line in global {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&format!("<VirtualHost 127.0.0.1:{}>\n", ports[1]));
    for line in vhost {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("</VirtualHost>\n");
    text
}

#[test]
fn servlet_sees_the_same_tls_facts_through_jkd_and_httpd_mod_ssl() {
    require_program("openssl", "openssl");
    let curl_version = require_program("curl", "curl");
    assert!(
        curl_version.contains("OpenSSL"),
        "curl must be built with OpenSSL (its suite names are compared):\n{curl_version}"
    );
    let dir = TempDir::new();
    make_certificates(&dir);

    let node = tomcat::start(&TomcatOptions::default());
    let workers = dir.file("workers.properties");
    fs::write(
        &workers,
        format!(
            "worker.list=w\nworker.w.type=ajp13\nworker.w.host=127.0.0.1\nworker.w.port={}\n\
             worker.w.mount=/tls/*\n",
            node.ajp_port()
        ),
    )
    .expect("write workers");

    // jkd configured by flags.
    let flags = jkd::start(
        &workers,
        &[
            "--tls-listen",
            "127.0.0.1:0",
            "--cert",
            &dir.str("server.pem"),
            "--key",
            &dir.str("server.key"),
            "--client-ca",
            &dir.str("ca.pem"),
            "--client-cert",
            "optional",
        ],
    );
    let mount = "JkMount /tls/* w".to_string();
    let vhost = [
        "ServerName localhost".to_string(),
        "SSLEngine on".to_string(),
        format!("SSLCertificateFile \"{}\"", dir.str("server.pem")),
        format!("SSLCertificateKeyFile \"{}\"", dir.str("server.key")),
        format!("SSLCACertificateFile \"{}\"", dir.str("ca.pem")),
        "SSLVerifyClient optional".to_string(),
        "SSLVerifyDepth 2".to_string(),
        // mod_jk reads the SSL facts from the request's environment (see its docs).
        "SSLOptions +StdEnvVars +ExportCertData".to_string(),
        mount.clone(),
    ];
    let m = modjk::start_tls(&workers, &[], std::slice::from_ref(&mount), &vhost)
        .unwrap_or_else(|e| panic!("httpd + mod_ssl + mod_jk did not start:\n{e}"));
    // jkd configured by an httpd.conf with the very same virtual host.
    let conf = dir.file("httpd.conf");
    fs::write(&conf, apache_conf(std::slice::from_ref(&mount), &vhost))
        .expect("write httpd.conf for jkd");
    let by_conf =
        jkd::start_apache_conf(&conf, &["--workers", &dir.str("workers.properties")], true);

    let fronts: [(&str, &jkd::Jkd); 2] = [("jkd", &flags), ("jkd-conf", &by_conf)];
    let mut tls_ports: Vec<(&str, u16)> = fronts
        .iter()
        .map(|(name, j)| (*name, j.tls_port.expect("jkd announced its HTTPS port")))
        .collect();
    // The reference comes last.
    tls_ports.push(("httpd", m.tls_port().expect("httpd has an HTTPS port")));
    let mut report = Report::default();
    let through_all = |req: &Request<'_>| through(&dir, &tls_ports, req);
    let run = |case: &str, req: Request<'_>, bits: u32, report: &mut Report| {
        run_case(&dir, &tls_ports, case, &req, bits, report);
    };
    for &(protocol, suite, bits) in SUITES {
        run(
            &format!("{} {suite} client-cert", protocol.name()),
            Request {
                protocol,
                suite: Some(suite),
                client: Some("client"),
                want_certs: &[CLIENT],
            },
            bits,
            &mut report,
        );
    }
    for protocol in [Protocol::Tls12, Protocol::Tls13] {
        // The first suite of each version again, without a client certificate
        // (SSLVerifyClient optional / --client-cert optional).
        let &(_, suite, bits) = SUITES
            .iter()
            .find(|(p, _, _)| *p == protocol)
            .expect("a suite per version");
        run(
            &format!("{} {suite} no-cert", protocol.name()),
            Request {
                protocol,
                suite: Some(suite),
                client: None,
                want_certs: &[],
            },
            bits,
            &mut report,
        );
    }

    // Each side's own choice when curl offers its defaults: recorded for the report, not
    // compared (rustls and OpenSSL order their preferences differently).
    for protocol in [Protocol::Tls12, Protocol::Tls13] {
        let req = Request {
            protocol,
            suite: None,
            client: Some("client"),
            want_certs: &[CLIENT],
        };
        let seen = through_all(&req);
        let chosen: Vec<String> = seen
            .iter()
            .map(|(name, _, s)| {
                format!(
                    "{name}: {} (curl: {})",
                    fact(&s.facts, "cipherSuite"),
                    s.curl_negotiated
                )
            })
            .collect();
        let _ = writeln!(
            report.table,
            "\n[{} default suites] {}",
            protocol.name(),
            chosen.join(" | ")
        );
        for (name, _, s) in &seen {
            // Whatever was chosen, the servlet must name the suite curl negotiated.
            let suite = s.curl_negotiated.rsplit(" / ").next().unwrap_or("?");
            let got = fact(&s.facts, "cipherSuite");
            report.check(
                got == format!("{suite} (String)"),
                format!(
                    "[{} default] {name} cipherSuite {got:?} but curl negotiated {suite:?}",
                    protocol.name()
                ),
            );
        }
    }

    // Plain HTTP: nothing of TLS reaches the servlet, on any front end.
    let plain_ports = [
        ("jkd", flags.port),
        ("jkd-conf", by_conf.port),
        ("httpd", m.port()),
    ];
    let plain: Vec<(&str, u16, BTreeMap<String, String>)> = plain_ports
        .iter()
        .map(|&(name, port)| {
            let r = tomcat::http_get(port, "/tls/plain", &[], TIMEOUT)
                .unwrap_or_else(|e| panic!("plain request to {name} ({port}) failed: {e}"));
            assert_eq!(r.status, 200, "{name}: {}", r.text());
            (name, port, parse_facts(&r.text()))
        })
        .collect();
    let _ = writeln!(report.table, "\n[plain HTTP]");
    for (key, want) in [
        ("isSecure", "false"),
        ("scheme", "http"),
        ("certCount", "absent"),
        ("cipherSuite", "absent"),
        ("keySize", "absent"),
        ("sessionId", "absent"),
        ("protocolVersion", "absent"),
    ] {
        let mut row = format!("  {key:<16}");
        for (name, _, facts) in &plain {
            let got = fact(facts, key);
            let _ = write!(row, " {name}: {got:<40}");
            report.check(
                got == want,
                format!("[plain] {name} {key}: {got:?}, expected {want:?}"),
            );
        }
        let _ = writeln!(report.table, "{}", row.trim_end());
    }
    for (name, port, facts) in &plain {
        let got = fact(facts, "serverPort");
        report.check(
            got == port.to_string(),
            format!("[plain] {name} serverPort {got:?}, expected {port}"),
        );
    }

    // A client that sends an intermediate CA along with its certificate. By default
    // (no ForwardSSLCertChain) only its own certificate goes over AJP.
    let chain_cases = [
        (Protocol::Tls12, "ECDHE-ECDSA-AES128-GCM-SHA256", 128),
        (Protocol::Tls13, "TLS_AES_128_GCM_SHA256", 128),
    ];
    for &(protocol, suite, bits) in &chain_cases {
        let req = Request {
            protocol,
            suite: Some(suite),
            client: Some("chained"),
            want_certs: &[CHAINED_CLIENT],
        };
        let case = format!("{} chained client, default JkOptions", protocol.name());
        run_case(&dir, &tls_ports, &case, &req, bits, &mut report);
    }
    // With `JkOptions +ForwardSSLCertChain` in the main server (jkd applies the main
    // server's JkOptions to every host and warns where a <VirtualHost> sets its own), the
    // chain the client sent follows its certificate. The flags have no such switch, so
    // only the --apache-conf jkd takes part.
    let global_chain = [mount.clone(), "JkOptions +ForwardSSLCertChain".to_string()];
    let m_chain = modjk::start_tls(&workers, &[], &global_chain, &vhost)
        .unwrap_or_else(|e| panic!("httpd with ForwardSSLCertChain did not start:\n{e}"));
    let conf_chain = dir.file("httpd-chain.conf");
    fs::write(&conf_chain, apache_conf(&global_chain, &vhost)).expect("write httpd-chain.conf");
    let by_conf_chain = jkd::start_apache_conf(
        &conf_chain,
        &["--workers", &dir.str("workers.properties")],
        true,
    );
    let chain_ports = [
        (
            "jkd-conf",
            by_conf_chain
                .tls_port
                .expect("jkd announced its HTTPS port"),
        ),
        (
            "httpd",
            m_chain.tls_port().expect("httpd has an HTTPS port"),
        ),
    ];
    for &(protocol, suite, bits) in &chain_cases {
        // curl (OpenSSL) completes a lone certificate's chain from --cacert, so the
        // direct client sends the root CA along: that is what reaches the servlet.
        for (client, want) in [
            ("chained", &[CHAINED_CLIENT, INTERMEDIATE][..]),
            ("client", &[CLIENT, ROOT][..]),
        ] {
            let req = Request {
                protocol,
                suite: Some(suite),
                client: Some(client),
                want_certs: want,
            };
            let case = format!("{} {client} client, +ForwardSSLCertChain", protocol.name());
            run_case(&dir, &chain_ports, &case, &req, bits, &mut report);
        }
    }

    eprintln!(
        "TLS facts, jkd (flags), jkd (--apache-conf) and httpd + mod_ssl + mod_jk:{}",
        report.table
    );
    assert!(
        report.failures.is_empty(),
        "{} mismatches:\n{}\n\nfacts:{}\n--- jkd log (last lines) ---\n{}\n\
         --- jkd --apache-conf log (last lines) ---\n{}\n--- mod_jk log (last lines) ---\n{}",
        report.failures.len(),
        report.failures.join("\n"),
        report.table,
        tail(&flags.log(), 40),
        tail(&by_conf.log(), 40),
        tail(&m.jk_log(), 40)
    );
    drop(by_conf_chain);
    drop(m_chain);
    drop(by_conf);
    drop(m);
    drop(flags);
    drop(node);
}

/// One request through each front end (`ports`: name and HTTPS port, httpd last).
fn through<'n>(
    dir: &TempDir,
    ports: &[(&'n str, u16)],
    req: &Request<'_>,
) -> Vec<(&'n str, u16, Seen)> {
    ports
        .iter()
        .map(|&(name, port)| (name, port, curl(dir, port, req)))
        .collect()
}

/// One request through each front end, checked against the expectations and compared.
fn run_case(
    dir: &TempDir,
    ports: &[(&str, u16)],
    case: &str,
    req: &Request<'_>,
    bits: u32,
    report: &mut Report,
) {
    let seen = through(dir, ports, req);
    for (name, _, s) in &seen {
        expect_common(report, &format!("{case} {name}"), s, req, bits);
    }
    report.compare(case, &seen);
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
