//! `Listen`, mod_ssl directives, the listeners built from them, and mod_jk's SSL
//! forwarding settings.

use std::path::PathBuf;

use super::*;
use crate::config::diag::Diagnostic;
use crate::config::tls::{ClientCert, Protocols};

fn read(text: &str) -> (ApacheJk, Vec<Diagnostic>) {
    let mut d = Diagnostics::default();
    let conf = read_apache_conf(&Arc::from("httpd.conf"), text.as_bytes(), &mut d);
    (conf, d.items)
}

fn lines_of(diags: &[Diagnostic]) -> Vec<u32> {
    diags.iter().map(|d| d.origin.line).collect()
}

fn errors(diags: &[Diagnostic]) -> Vec<&Diagnostic> {
    diags.iter().filter(|d| d.is_error()).collect()
}

const DEBIAN: &str = "\
ServerRoot /etc/apache2
Listen 80
<IfModule ssl_module>
\tListen 443
</IfModule>
<IfModule mod_gnutls.c>
\tListen 443
</IfModule>
<VirtualHost *:80>
\tServerName www.example.org
</VirtualHost>
<IfModule mod_ssl.c>
<VirtualHost _default_:443>
\tServerName www.example.org
\tSSLEngine on
\tSSLCertificateFile /etc/ssl/certs/site.pem
\tSSLCertificateKeyFile /etc/ssl/private/site.key
\tSSLCertificateChainFile /etc/ssl/certs/chain.pem
\tSSLCACertificateFile ssl.crt/ca.pem
\tSSLVerifyClient require
\tSSLVerifyDepth 10
\tSSLOptions +StdEnvVars
</VirtualHost>
</IfModule>
";

#[test]
fn debian_layout_gives_a_plain_and_a_tls_listener() {
    let (c, d) = read(DEBIAN);
    assert!(d.is_empty(), "{d:?}");
    let listens: Vec<_> = c
        .listens
        .iter()
        .map(|l| (l.addr.as_str(), l.port, l.origin.line))
        .collect();
    assert_eq!(listens, [("80", 80, 2), ("443", 443, 4)]);
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(c.listeners[0].addr, "80");
    assert!(c.listeners[0].tls.is_none());
    let tls = c.listeners[1].tls.as_ref().unwrap();
    assert_eq!(tls.certs.len(), 1);
    let cert = &tls.certs[0];
    assert_eq!(cert.cert, PathBuf::from("/etc/ssl/certs/site.pem"));
    assert_eq!(cert.key, Some(PathBuf::from("/etc/ssl/private/site.key")));
    assert_eq!(cert.chain, Some(PathBuf::from("/etc/ssl/certs/chain.pem")));
    assert_eq!(cert.names, ["www.example.org"]);
    assert_eq!(cert.origin.as_ref().map(|o| o.line), Some(16));
    assert_eq!(
        tls.client_ca,
        Some(PathBuf::from("/etc/apache2/ssl.crt/ca.pem")),
        "relative to ServerRoot"
    );
    assert_eq!(tls.client_cert, ClientCert::Require);
    assert_eq!(tls.protocols, Protocols::default());
}

#[test]
fn ifmodule_not_mod_ssl_is_skipped() {
    let (c, d) = read("<IfModule !mod_ssl.c>\nListen 80\nJkMount /x w\n</IfModule>\n");
    assert!(c.listens.is_empty() && c.mounts.is_empty());
    assert_eq!(lines_of(&d), [1]);
    assert!(d[0].message.contains("mod_ssl is not loaded"));
}

#[test]
fn two_name_based_ssl_hosts_share_the_listener_by_sni() {
    let (c, d) = read(
        "Listen 443\n\
         <VirtualHost *:443>\nServerName a.example\nServerAlias www.a.example\nSSLEngine on\n\
         SSLCertificateFile /c/a.pem\nSSLCertificateKeyFile /c/a.key\n</VirtualHost>\n\
         <VirtualHost *:443>\nServerName b.example\nSSLEngine on\n\
         SSLCertificateFile /c/b.pem\n</VirtualHost>\n",
    );
    assert!(d.is_empty(), "{d:?}");
    let tls = c.listeners[0].tls.as_ref().unwrap();
    let certs: Vec<_> = tls
        .certs
        .iter()
        .map(|c| (c.cert.clone(), c.key.clone(), c.names.clone()))
        .collect();
    assert_eq!(
        certs,
        [
            (
                PathBuf::from("/c/a.pem"),
                Some(PathBuf::from("/c/a.key")),
                vec!["a.example".to_string(), "www.a.example".to_string()]
            ),
            (
                PathBuf::from("/c/b.pem"),
                None,
                vec!["b.example".to_string()]
            ),
        ],
        "first host is the default; a missing key file means the key is in the cert file"
    );
}

#[test]
fn rsa_and_ecdsa_pairs_are_taken_in_order() {
    let (c, d) = read(
        "Listen 443\nSSLEngine on\nSSLCertificateFile /rsa.pem\nSSLCertificateKeyFile /rsa.key\n\
         SSLCertificateFile /ec.pem\nSSLCertificateKeyFile /ec.key\n",
    );
    assert!(d.is_empty(), "{d:?}");
    let tls = c.listeners[0].tls.as_ref().unwrap();
    let pairs: Vec<_> = tls
        .certs
        .iter()
        .map(|c| (c.cert.clone(), c.key.clone()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("/rsa.pem".into(), Some("/rsa.key".into())),
            ("/ec.pem".into(), Some("/ec.key".into()))
        ]
    );
}

#[test]
fn vhosts_inherit_the_main_servers_ssl_settings() {
    let (c, d) = read(
        "Listen 443\nSSLCertificateFile /main.pem\nSSLProtocol -all +TLSv1.3\n\
         SSLVerifyClient optional\nSSLCACertificateFile /ca.pem\n\
         <VirtualHost *:443>\nServerName v\nSSLEngine on\n</VirtualHost>\n",
    );
    assert!(d.is_empty(), "{d:?}");
    let tls = c.listeners[0].tls.as_ref().unwrap();
    assert_eq!(tls.certs[0].cert, PathBuf::from("/main.pem"));
    assert_eq!(tls.certs[0].names, ["v"]);
    assert_eq!(tls.client_cert, ClientCert::Optional);
    assert_eq!(tls.client_ca, Some(PathBuf::from("/ca.pem")));
    assert_eq!(
        tls.protocols,
        Protocols {
            tls12: false,
            tls13: true
        }
    );
}

#[test]
fn main_server_ssl_applies_to_listens_no_vhost_claims() {
    let (c, d) = read(
        "Listen 80\nListen 8443\nSSLEngine on\nSSLCertificateFile /m.pem\n\
         <VirtualHost *:80>\nSSLEngine off\n</VirtualHost>\n",
    );
    assert!(d.is_empty(), "{d:?}");
    assert!(c.listeners[0].tls.is_none(), "claimed by a plain vhost");
    let tls = c.listeners[1].tls.as_ref().unwrap();
    assert_eq!(tls.certs[0].cert, PathBuf::from("/m.pem"));
    assert!(tls.certs[0].names.is_empty());
}

#[test]
fn vhost_address_must_match_the_listen() {
    let (c, d) = read(
        "Listen 10.0.0.1:443\nListen 10.0.0.2:443\n\
         <VirtualHost 10.0.0.2:443>\nSSLEngine on\nSSLCertificateFile /b.pem\n</VirtualHost>\n",
    );
    assert!(d.is_empty(), "{d:?}");
    assert!(c.listeners[0].tls.is_none());
    assert!(c.listeners[1].tls.is_some());
}

#[test]
fn ssl_vhost_without_listen_is_a_warning() {
    let (c, d) = read(
        "Listen 80\n<VirtualHost *:443>\nSSLEngine on\nSSLCertificateFile /a.pem\n</VirtualHost>\n",
    );
    assert!(c.listeners[0].tls.is_none());
    assert_eq!(lines_of(&d), [2]);
    assert!(!d[0].is_error() && d[0].message.contains("matches no Listen"));
}

#[test]
fn ssl_server_without_certificate_is_an_error() {
    let (_, d) = read("Listen 443\n<VirtualHost *:443>\nSSLEngine on\n</VirtualHost>\n");
    assert_eq!(lines_of(&d), [2]);
    assert!(d[0].is_error() && d[0].message.contains("no SSLCertificateFile"));
    assert_eq!(d[0].to_string().split(": ").next(), Some("httpd.conf:2"));
    let (_, d) = read("Listen 443\nSSLEngine on\n");
    assert_eq!(lines_of(&d), [2]);
    assert_eq!(d[0].key, "SSLEngine");
}

#[test]
fn later_host_with_other_client_rules_is_a_warning() {
    let (c, d) = read(
        "Listen 443\nSSLCertificateFile /m.pem\n\
         <VirtualHost *:443>\nSSLEngine on\n</VirtualHost>\n\
         <VirtualHost *:443>\nSSLEngine on\nSSLVerifyClient require\nSSLCACertificateFile /ca\n</VirtualHost>\n",
    );
    assert_eq!(lines_of(&d), [6]);
    assert!(!d[0].is_error() && d[0].message.contains("line 3"));
    let tls = c.listeners[0].tls.as_ref().unwrap();
    assert_eq!(tls.client_cert, ClientCert::None);
    assert_eq!(tls.certs.len(), 1, "the same inherited certificate once");
}

#[test]
fn plain_host_on_a_tls_listener_is_a_warning() {
    let (_, d) = read(
        "Listen 443\n<VirtualHost *:443>\nSSLEngine on\nSSLCertificateFile /a.pem\n</VirtualHost>\n\
         <VirtualHost *:443>\nServerName plain\n</VirtualHost>\n",
    );
    assert_eq!(lines_of(&d), [6]);
    assert!(d[0].message.contains("over TLS"));
}

#[test]
fn ssl_protocol_maps_to_tls12_and_tls13() {
    let proto = |line: &str| {
        let (c, d) = read(&format!("{line}\n"));
        (c.main_ssl.protocols.map(|(p, _)| p), d)
    };
    let (p, d) = proto("SSLProtocol all -SSLv3 -TLSv1 -TLSv1.1");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(p, Some(Protocols::default()));
    let (p, d) = proto("SSLProtocol -all +TLSv1.2");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(
        p,
        Some(Protocols {
            tls12: true,
            tls13: false
        })
    );
    let (p, d) = proto("SSLProtocol all -SSLv3");
    assert_eq!(p, Some(Protocols::default()));
    assert_eq!(lines_of(&d), [1]);
    assert!(!d[0].is_error() && d[0].message.contains("TLSv1, TLSv1.1"));
    let (_, d) = proto("SSLProtocol TLSv1.2 TLSv1.3");
    assert_eq!(lines_of(&d), [1]);
    assert!(!d[0].is_error() && d[0].message.contains("'TLSv1.3' replaces"));
}

#[test]
fn ssl_protocol_errors() {
    for line in [
        "SSLProtocol TLSv1 +TLSv1.1",
        "SSLProtocol +SSLv2",
        "SSLProtocol TLSv1.4",
        "SSLProtocol -all",
    ] {
        let (c, d) = read(&format!("\n{line}\n"));
        assert!(c.main_ssl.protocols.is_none(), "{line}");
        let e = errors(&d);
        assert_eq!(e.len(), 1, "{line}: {d:?}");
        assert_eq!((e[0].origin.line, e[0].key.as_str()), (2, "SSLProtocol"));
    }
}

#[test]
fn ssl_directive_words_and_places() {
    let (c, d) = read(
        "SSLEngine maybe\nSSLVerifyClient sometimes\nSSLEngine optional\n\
         SSLCipherSuite HIGH:!aNULL\nSSLHonorCipherOrder on\nSSLSessionCache shmcb:/x(512000)\n\
         SSLUseStapling on\nSSLStaplingCache shmcb:/y\nSSLCompression off\nSSLSessionTickets off\n\
         <VirtualHost *:443>\nSSLSessionCache none\n<Location /x>\nSSLVerifyClient require\n\
         SSLCertificateFile /x.pem\n</Location>\n</VirtualHost>\nSSLFooBar x\n",
    );
    let got: Vec<_> = d
        .iter()
        .map(|x| (x.origin.line, x.key.as_str(), x.is_error()))
        .collect();
    assert_eq!(
        got,
        [
            (1, "SSLEngine", true),
            (2, "SSLVerifyClient", true),
            (3, "SSLEngine", false),
            (4, "SSLCipherSuite", false),
            (12, "SSLSessionCache", true),
            (14, "SSLVerifyClient", false),
            (15, "SSLCertificateFile", true),
        ]
    );
    assert_eq!(c.main_ssl.engine.map(|(e, _)| e), Some(SslEngine::Optional));
    assert!(c.virtual_hosts[0].ssl.cert_files.is_empty());
}

#[test]
fn listen_rules() {
    let (c, d) = read(
        "Listen 80\nListen [::1]:8443 https\nListen 80\nListen example.org\nListen 81 http x\n\
         <VirtualHost *:80>\nListen 82\n</VirtualHost>\n",
    );
    let got: Vec<_> = c
        .listens
        .iter()
        .map(|l| (l.host.clone(), l.port, l.protocol.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (None, 80, None),
            (Some("[::1]".to_string()), 8443, Some("https".to_string()))
        ]
    );
    assert_eq!(
        lines_of(&errors(&d).into_iter().cloned().collect::<Vec<_>>()),
        [3, 4, 5, 7]
    );
    assert!(d[0].message.contains("first at line 1"));
    assert!(d[3].message.contains("<VirtualHost>"));
}

#[test]
fn ssl_forwarding_from_the_main_server() {
    let (c, d) = read("JkExtractSSL Off\nJkOptions +ForwardSSLCertChain -ForwardKeySize\n");
    assert!(
        d.is_empty(),
        "implemented options are not warned about: {d:?}"
    );
    assert_eq!(
        c.ssl_forwarding,
        SslForwarding {
            extract: false,
            cert_chain: true,
            key_size: false
        }
    );
    let (c, _) = read("JkOptions -ForwardKeySize\nJkOptions +ForwardKeySize\n");
    assert!(!c.ssl_forwarding.key_size, "a removal wins, as in mod_jk");
    let (c, _) = read("");
    assert_eq!(c.ssl_forwarding, SslForwarding::default());
}

#[test]
fn ssl_forwarding_differing_in_a_vhost_is_a_warning() {
    let (c, d) = read(
        "JkOptions +ForwardSSLCertChain\n<VirtualHost *:443>\nJkExtractSSL Off\n\
         JkOptions -ForwardSSLCertChain\nJkOptions +ForwardKeySize\n</VirtualHost>\n\
         <VirtualHost *:80>\nJkExtractSSL On\n</VirtualHost>\n",
    );
    assert_eq!(
        lines_of(&d),
        [3, 4],
        "same-as-main settings are not warned: {d:?}"
    );
    assert!(d.iter().all(|x| !x.is_error()));
    assert!(c.ssl_forwarding.cert_chain && c.ssl_forwarding.extract);
}
