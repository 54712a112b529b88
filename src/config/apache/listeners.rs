//! From `Listen` lines, virtual hosts and their mod_ssl settings to jkd's listeners;
//! and mod_jk's SSL forwarding settings after its server merge.

use super::{ApacheJk, ServerSsl, VirtualHost};
use crate::config::diag::{Diagnostics, Origin};
use crate::config::tls::{CertFiles, ClientCert, Listener, Protocols, SslForwarding, TlsSettings};

/// A `<VirtualHost>` address: `*`, `_default_`, an IP or a name, with an optional
/// port (`None`: every port, as for `<VirtualHost *>` or `host:*`).
struct VhostAddr {
    /// `None`: every address (`*`, `_default_`).
    host: Option<String>,
    port: Option<u16>,
}

fn vhost_addr(text: &str) -> VhostAddr {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inside, after)) => (format!("[{inside}]"), after.strip_prefix(':')),
            None => (text.to_string(), None),
        }
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (text.to_string(), None),
        }
    };
    let wildcard = host == "*" || host.eq_ignore_ascii_case("_default_");
    VhostAddr {
        host: (!wildcard).then_some(host),
        // "*" and anything that is not a port number mean every port.
        port: port.and_then(|p| p.parse().ok()),
    }
}

/// What a listener takes from the first TLS server bound to it and every later one
/// must agree with, since jkd sets them per listener.
#[derive(PartialEq)]
struct PerListener {
    client_ca: Option<String>,
    client_cert: ClientCert,
    protocols: Protocols,
}

fn per_listener(ssl: &ServerSsl) -> PerListener {
    PerListener {
        client_ca: ssl.ca_file.as_ref().map(|(p, _)| p.clone()),
        client_cert: ssl
            .verify_client
            .as_ref()
            .map_or(ClientCert::None, |(c, _)| *c),
        protocols: ssl
            .protocols
            .as_ref()
            .map_or_else(Protocols::default, |(p, _)| *p),
    }
}

/// The certificates a server presents: the n-th key file with the n-th certificate,
/// no key file meaning the key is in the certificate file.
fn cert_files(ssl: &ServerSsl, names: &[String]) -> Vec<CertFiles> {
    ssl.cert_files
        .iter()
        .enumerate()
        .map(|(n, (cert, origin))| CertFiles {
            cert: cert.into(),
            key: ssl.key_files.get(n).map(|(k, _)| k.into()),
            chain: ssl.chain_file.as_ref().map(|(c, _)| c.into()),
            names: names.to_vec(),
            origin: Some(origin.clone()),
        })
        .collect()
}

/// Adds `new` to `certs`; the same files already there (hosts inheriting the main
/// server's certificate) get the new names instead of a second entry.
fn add_certs(certs: &mut Vec<CertFiles>, new: Vec<CertFiles>) {
    for c in new {
        match certs
            .iter_mut()
            .find(|o| o.cert == c.cert && o.key == c.key && o.chain == c.chain)
        {
            Some(existing) => existing.names.extend(c.names),
            None => certs.push(c),
        }
    }
}

fn host_names(vh: &VirtualHost) -> Vec<String> {
    vh.server_name
        .iter()
        .chain(vh.server_aliases.iter())
        .cloned()
        .collect()
}

impl ApacheJk {
    /// One listener per `Listen`, in file order. The rule, simpler than httpd's
    /// address matching:
    ///
    /// - a virtual host is bound to a `Listen` when one of its addresses has the
    ///   same port (or none, or `*`) and its address is `*`, `_default_`, the
    ///   `Listen` address, or the `Listen` is on every address; addresses are
    ///   compared as written (no name lookup);
    /// - a server is TLS when its `SSLEngine` (its own, else the main server's) is
    ///   `on`; a listener is TLS when one of its bound hosts is, or, when no host is
    ///   bound to it, when the main server is;
    /// - the certificates are those of the TLS hosts in file order, each with the
    ///   host's `ServerName` and `ServerAlias` names for SNI; the first is the
    ///   default, as httpd's first virtual host on an address is; the client CA,
    ///   `SSLVerifyClient` and `SSLProtocol` come from the first TLS host (a warning
    ///   for each later host that differs).
    ///
    /// Errors and warnings: a TLS server without a certificate (httpd refuses to
    /// start), a TLS host bound to no `Listen`, a plain host sharing a TLS listener,
    /// key files without a certificate, and a host with certificates of its own when
    /// the main server has some too (mod_ssl loads both lists).
    pub fn build_listeners(&self, diags: &mut Diagnostics) -> Vec<Listener> {
        let main = &self.main_ssl;
        self.check_server_certs(main, None, diags);
        let merged: Vec<ServerSsl> = self
            .virtual_hosts
            .iter()
            .map(|vh| vh.ssl.inherit(main))
            .collect();
        for (vh, ssl) in self.virtual_hosts.iter().zip(&merged) {
            self.check_server_certs(ssl, Some(vh), diags);
        }
        let mut listeners = Vec::new();
        let mut served = vec![false; self.virtual_hosts.len()];
        for listen in &self.listens {
            let bound: Vec<usize> = (0..self.virtual_hosts.len())
                .filter(|&i| {
                    self.virtual_hosts[i].addresses.iter().any(|a| {
                        let a = vhost_addr(a);
                        a.port.is_none_or(|p| p == listen.port)
                            && (a.host.is_none() || listen.host.is_none() || a.host == listen.host)
                    })
                })
                .collect();
            for &i in &bound {
                served[i] = true;
            }
            let tls = if bound.is_empty() {
                main.is_on().then(|| TlsSettings {
                    certs: cert_files(main, &[]),
                    client_ca: main.ca_file.as_ref().map(|(p, _)| p.into()),
                    client_cert: per_listener(main).client_cert,
                    protocols: per_listener(main).protocols,
                })
            } else {
                self.tls_of_bound_hosts(&bound, &merged, diags)
            };
            listeners.push(Listener {
                addr: listen.addr.clone(),
                tls,
                origin: Some(listen.origin.clone()),
            });
        }
        for ((vh, ssl), served) in self.virtual_hosts.iter().zip(&merged).zip(served) {
            if ssl.is_on() && !served {
                diags.warning(
                    vh.origin.clone(),
                    "<VirtualHost>",
                    format!(
                        "this SSL virtual host ({}) matches no Listen line: httpd would not \
                         serve it, and neither does jkd",
                        vh.addresses.join(" ")
                    ),
                );
            }
        }
        listeners
    }

    /// The TLS settings of a listener with virtual hosts `bound` to it (indexes into
    /// `virtual_hosts` and `merged`); `None` when none of them is TLS.
    fn tls_of_bound_hosts(
        &self,
        bound: &[usize],
        merged: &[ServerSsl],
        diags: &mut Diagnostics,
    ) -> Option<TlsSettings> {
        let first_tls = *bound.iter().find(|&&i| merged[i].is_on())?;
        let first_vh = &self.virtual_hosts[first_tls];
        let settings = per_listener(&merged[first_tls]);
        let mut certs = Vec::new();
        for &i in bound {
            let vh = &self.virtual_hosts[i];
            if !merged[i].is_on() {
                diags.warning(
                    vh.origin.clone(),
                    "<VirtualHost>",
                    format!(
                        "this virtual host has no SSLEngine on but shares its address with \
                         the SSL virtual host at line {}: jkd runs TLS on the whole \
                         listener, so clients reach this host over TLS too",
                        first_vh.origin.line
                    ),
                );
                continue;
            }
            if i != first_tls && per_listener(&merged[i]) != settings {
                diags.warning(
                    vh.origin.clone(),
                    "<VirtualHost>",
                    format!(
                        "SSLCACertificateFile, SSLVerifyClient or SSLProtocol differ from \
                         the first SSL virtual host on this address (line {}); jkd sets them \
                         per listener and uses that host's",
                        first_vh.origin.line
                    ),
                );
            }
            add_certs(&mut certs, cert_files(&merged[i], &host_names(vh)));
        }
        Some(TlsSettings {
            certs,
            client_ca: settings.client_ca.map(Into::into),
            client_cert: settings.client_cert,
            protocols: settings.protocols,
        })
    }

    /// mod_ssl's start-up checks on one server's merged settings (`vh`: `None` for
    /// the main server).
    fn check_server_certs(
        &self,
        ssl: &ServerSsl,
        vh: Option<&VirtualHost>,
        diags: &mut Diagnostics,
    ) {
        if let Some((key, origin)) = ssl.key_files.get(ssl.cert_files.len()) {
            diags.warning(
                origin.clone(),
                "SSLCertificateKeyFile",
                format!(
                    "'{key}' has no SSLCertificateFile to go with (the n-th key file belongs \
                     to the n-th certificate file); mod_ssl does not use it, nor does jkd"
                ),
            );
        }
        if let Some(vh) = vh
            && !vh.ssl.cert_files.is_empty()
            && let Some((_, main_origin)) = self.main_ssl.cert_files.first()
        {
            diags.warning(
                vh.ssl.cert_files[0].1.clone(),
                "SSLCertificateFile",
                format!(
                    "the main server also has SSLCertificateFile (line {}): mod_ssl loads \
                     its certificates into this host too (this host's replace those of the \
                     same key type); jkd uses only this host's",
                    main_origin.line
                ),
            );
        }
        if !ssl.is_on() || !ssl.cert_files.is_empty() {
            return;
        }
        let (origin, key, what) = match vh {
            Some(vh) => (
                vh.origin.clone(),
                "<VirtualHost>",
                format!("the virtual host {}", vh.addresses.join(" ")),
            ),
            None => (
                ssl.engine
                    .as_ref()
                    .map_or_else(|| Origin::new("", 0), |(_, o)| o.clone()),
                "SSLEngine",
                "the main server".to_string(),
            ),
        };
        diags.error(
            origin,
            key,
            format!(
                "{what} has SSLEngine on but no SSLCertificateFile (neither its own nor the \
                 main server's); httpd refuses to start"
            ),
        );
    }

    /// `JkExtractSSL` and the SSL forwarding `JkOptions` of the main server, after
    /// mod_jk's defaults; a warning for each virtual host where mod_jk's merge gives a
    /// different value, since jkd applies the main server's everywhere.
    pub fn main_ssl_forwarding(&self, diags: &mut Diagnostics) -> SslForwarding {
        let defaults = SslForwarding::default();
        let main = &self.main;
        let forwarding = SslForwarding {
            extract: main
                .extract_ssl
                .as_ref()
                .map_or(defaults.extract, |(on, _)| *on),
            cert_chain: main.forward_cert_chain.applied_to(defaults.cert_chain),
            key_size: main.forward_key_size.applied_to(defaults.key_size),
        };
        for vh in &self.virtual_hosts {
            let jk = &vh.jk;
            let marked = |o: &super::JkOptionSetting| o.removed.clone().or_else(|| o.added.clone());
            let checks = [
                (
                    "JkExtractSSL",
                    "TLS information (HTTPS, client certificate, cipher)",
                    jk.extract_ssl.as_ref().map(|(_, o)| o.clone()),
                    jk.extract_ssl
                        .as_ref()
                        .map_or(forwarding.extract, |(on, _)| *on),
                    forwarding.extract,
                ),
                (
                    "JkOptions",
                    "the client's certificate chain (ForwardSSLCertChain)",
                    marked(&jk.forward_cert_chain),
                    jk.forward_cert_chain.applied_to(forwarding.cert_chain),
                    forwarding.cert_chain,
                ),
                (
                    "JkOptions",
                    "the cipher's key size (ForwardKeySize)",
                    marked(&jk.forward_key_size),
                    jk.forward_key_size.applied_to(forwarding.key_size),
                    forwarding.key_size,
                ),
            ];
            for (name, what, origin, in_host, in_main) in checks {
                let Some(origin) = origin else { continue };
                if in_host != in_main {
                    let (host_does, jkd_does) = if in_host {
                        ("sends", "does not send")
                    } else {
                        ("does not send", "sends")
                    };
                    diags.warning(
                        origin,
                        name,
                        format!(
                            "in this virtual host mod_jk {host_does} {what} to the backend, \
                             but jkd applies the main server's JkExtractSSL and JkOptions to \
                             every host and {jkd_does} it (set it in the main server)"
                        ),
                    );
                }
            }
        }
        forwarding
    }
}
