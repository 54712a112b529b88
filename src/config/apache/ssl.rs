//! httpd's `Listen` and mod_ssl's server directives (`SSLEngine`, the certificate and
//! CA files, `SSLVerifyClient`, `SSLProtocol`, ...): where jkd listens and what each
//! TLS server presents. Rules are httpd 2.4's (`server/listen.c`: `ap_set_listener`,
//! `alloc_listener`; `modules/ssl/ssl_engine_config.c`: the `ssl_cmd_*` handlers and
//! `ssl_config_server_merge`).

use super::Reader;
use super::directives::Args;
use super::lexer::words;
use super::vhosts::Section;
use crate::config::diag::Origin;
use crate::config::tls::{ClientCert, Protocols};

/// `SSLEngine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslEngine {
    On,
    Off,
    /// TLS upgrade of a plain connection (RFC 2817), which jkd does not do.
    Optional,
}

/// One `Listen` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    /// The address argument as written (`443`, `*:443`, `10.0.0.1:443`, `[::]:443`).
    pub addr: String,
    /// The address part; `None` for every address (`443`, `*:443`).
    pub host: Option<String>,
    pub port: u16,
    /// The optional protocol argument (`https`, `http`).
    pub protocol: Option<String>,
    pub origin: Origin,
}

/// The mod_ssl settings one server (main or virtual host) writes itself; a virtual
/// host takes from the main server what it leaves unset ([`ServerSsl::inherit`]).
/// Paths are resolved against the `ServerRoot` in effect at their line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerSsl {
    pub engine: Option<(SslEngine, Origin)>,
    /// `SSLCertificateFile` lines in order (mod_ssl allows one per key type).
    pub cert_files: Vec<(String, Origin)>,
    /// `SSLCertificateKeyFile` lines in order: the n-th belongs to the n-th
    /// certificate; a certificate without one has its key in the same file.
    pub key_files: Vec<(String, Origin)>,
    pub chain_file: Option<(String, Origin)>,
    pub ca_file: Option<(String, Origin)>,
    pub ca_path: Option<(String, Origin)>,
    pub verify_client: Option<(ClientCert, Origin)>,
    pub protocols: Option<(Protocols, Origin)>,
}

impl ServerSsl {
    /// A virtual host's settings merged over the main server's, as mod_ssl merges
    /// server configs: every setting the host does not write is the main server's.
    /// (mod_ssl appends the host's certificate and key lists to the main server's;
    /// jkd takes the host's own list when it has one, else the main server's, and
    /// warns when both exist — see `listeners.rs`.)
    pub fn inherit(&self, main: &ServerSsl) -> ServerSsl {
        let pick = |own: &Option<(String, Origin)>, base: &Option<(String, Origin)>| {
            own.clone().or_else(|| base.clone())
        };
        let (cert_files, key_files) = if self.cert_files.is_empty() && self.key_files.is_empty() {
            (main.cert_files.clone(), main.key_files.clone())
        } else {
            (self.cert_files.clone(), self.key_files.clone())
        };
        ServerSsl {
            engine: self.engine.clone().or_else(|| main.engine.clone()),
            cert_files,
            key_files,
            chain_file: pick(&self.chain_file, &main.chain_file),
            ca_file: pick(&self.ca_file, &main.ca_file),
            ca_path: pick(&self.ca_path, &main.ca_path),
            verify_client: self
                .verify_client
                .clone()
                .or_else(|| main.verify_client.clone()),
            protocols: self.protocols.clone().or_else(|| main.protocols.clone()),
        }
    }

    /// `SSLEngine on` (`optional` is served as plain HTTP).
    pub fn is_on(&self) -> bool {
        matches!(self.engine, Some((SslEngine::On, _)))
    }
}

/// Where httpd allows a mod_ssl directive.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Main server or `<VirtualHost>` (`RSRC_CONF`).
    Server,
    /// Also in `<Location>` and other directory sections (`RSRC_CONF|OR_AUTHCFG`).
    ServerOrDir,
    /// Main server only (the handler checks `GLOBAL_ONLY`).
    Global,
}

/// What jkd does with a mod_ssl directive.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SslKind {
    Engine,
    CertFile,
    KeyFile,
    ChainFile,
    CaFile,
    CaPath,
    VerifyClient,
    Protocol,
    CipherSuite,
    Compression,
    /// Server-side tuning with no effect on what clients are offered: accepted.
    Accepted,
}

struct SslDirective {
    name: &'static str,
    args: Args,
    place: Place,
    kind: SslKind,
}

const fn ssl(name: &'static str, args: Args, place: Place, kind: SslKind) -> SslDirective {
    SslDirective {
        name,
        args,
        place,
        kind,
    }
}

/// The mod_ssl directives jkd reads or checks; other `SSL*` lines are passed over
/// like any other directive jkd does not know.
const SSL_DIRECTIVES: &[SslDirective] = &[
    ssl("SSLEngine", Args::Take1, Place::Server, SslKind::Engine),
    ssl(
        "SSLCertificateFile",
        Args::Take1,
        Place::Server,
        SslKind::CertFile,
    ),
    ssl(
        "SSLCertificateKeyFile",
        Args::Take1,
        Place::Server,
        SslKind::KeyFile,
    ),
    ssl(
        "SSLCertificateChainFile",
        Args::Take1,
        Place::Server,
        SslKind::ChainFile,
    ),
    ssl(
        "SSLCACertificateFile",
        Args::Take1,
        Place::ServerOrDir,
        SslKind::CaFile,
    ),
    ssl(
        "SSLCACertificatePath",
        Args::Take1,
        Place::ServerOrDir,
        SslKind::CaPath,
    ),
    ssl(
        "SSLVerifyClient",
        Args::Take1,
        Place::ServerOrDir,
        SslKind::VerifyClient,
    ),
    ssl("SSLProtocol", Args::Raw, Place::Server, SslKind::Protocol),
    ssl(
        "SSLCipherSuite",
        Args::Take12,
        Place::ServerOrDir,
        SslKind::CipherSuite,
    ),
    ssl(
        "SSLHonorCipherOrder",
        Args::Flag,
        Place::Server,
        SslKind::Accepted,
    ),
    ssl(
        "SSLCompression",
        Args::Flag,
        Place::Server,
        SslKind::Compression,
    ),
    ssl(
        "SSLSessionTickets",
        Args::Flag,
        Place::Server,
        SslKind::Accepted,
    ),
    ssl(
        "SSLSessionCache",
        Args::Take1,
        Place::Global,
        SslKind::Accepted,
    ),
    ssl(
        "SSLSessionCacheTimeout",
        Args::Take1,
        Place::Server,
        SslKind::Accepted,
    ),
    ssl(
        "SSLStaplingCache",
        Args::Take1,
        Place::Global,
        SslKind::Accepted,
    ),
    ssl(
        "SSLUseStapling",
        Args::Flag,
        Place::Server,
        SslKind::Accepted,
    ),
    ssl(
        "SSLVerifyDepth",
        Args::Take1,
        Place::ServerOrDir,
        SslKind::Accepted,
    ),
];

/// Whether `name` is a mod_ssl directive jkd reads or checks.
pub(super) fn is_ssl_directive(name: &str) -> bool {
    find_ssl(name).is_some()
}

fn find_ssl(name: &str) -> Option<&'static SslDirective> {
    SSL_DIRECTIVES
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
}

/// `SSLProtocol`'s words as bits; `all` is what it means with an OpenSSL built without
/// SSLv3, as current distributions build it.
const SSLV3: u8 = 1;
const TLSV1: u8 = 2;
const TLSV1_1: u8 = 4;
const TLSV1_2: u8 = 8;
const TLSV1_3: u8 = 16;
const ALL: u8 = TLSV1 | TLSV1_1 | TLSV1_2 | TLSV1_3;

/// What `SSLProtocol` says, read as `ssl_cmd_protocol_parse`.
struct ProtocolSet {
    bits: u8,
    /// Words without `+`/`-` that replace what the words before them set (httpd
    /// warns about them at start-up).
    overriding: Vec<String>,
}

/// Reads `SSLProtocol` words: `+X` adds, `-X` removes, a bare `X` replaces. `Err`
/// when httpd refuses the line.
fn parse_protocols(raw: &str) -> Result<ProtocolSet, String> {
    let mut set = ProtocolSet {
        bits: 0,
        overriding: Vec::new(),
    };
    for word in words(raw) {
        let (action, name) = match word.chars().next() {
            Some(c @ ('+' | '-')) => (Some(c), word.get(1..).unwrap_or_default()),
            _ => (None, word.as_str()),
        };
        let bit = match name.to_ascii_lowercase().as_str() {
            "sslv2" if action == Some('-') => continue,
            "sslv2" => return Err("SSLv2 is no longer supported".to_string()),
            "sslv3" => SSLV3,
            "tlsv1" => TLSV1,
            "tlsv1.1" => TLSV1_1,
            "tlsv1.2" => TLSV1_2,
            "tlsv1.3" => TLSV1_3,
            "all" => ALL,
            _ => return Err(format!("Illegal protocol '{name}'")),
        };
        match action {
            Some('-') => set.bits &= !bit,
            Some(_) => set.bits |= bit,
            None => {
                if set.bits != 0 {
                    set.overriding.push(word.clone());
                }
                set.bits = bit;
            }
        }
    }
    Ok(set)
}

/// `apr_parse_addr_port` as `Listen` uses it: `(host, port)`, host `None` for every
/// address.
fn parse_listen_addr(addr: &str) -> Result<(Option<String>, u16), &'static str> {
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Err("Invalid address or port");
        };
        let port = match after.strip_prefix(':') {
            Some(p) => p,
            None if after.is_empty() => "",
            None => return Err("Invalid address or port"),
        };
        (Some(format!("[{inside}]")), port)
    } else if let Some((host, port)) = addr.rsplit_once(':') {
        (Some(host.to_string()), port)
    } else if addr.bytes().all(|b| b.is_ascii_digit()) {
        (None, addr)
    } else {
        (Some(addr.to_string()), "")
    };
    if port.is_empty() {
        return Err("Port must be specified");
    }
    let port: u16 = port.parse().map_err(|_| "Invalid address or port")?;
    if port == 0 {
        return Err("Port must be specified");
    }
    let host = host.filter(|h| h != "*" && !h.is_empty());
    Ok((host, port))
}

impl Reader<'_> {
    fn ssl_mut(&mut self) -> &mut ServerSsl {
        match self.vhost_index() {
            Some(i) if i < self.out.virtual_hosts.len() => &mut self.out.virtual_hosts[i].ssl,
            _ => &mut self.out.main_ssl,
        }
    }

    /// `Listen [addr:]port [protocol [options=...]]`, main server only.
    pub(super) fn listen(&mut self, rest: &str, origin: Origin) {
        // Any section but the ones read through (<IfModule>, <IfDefine>, ...).
        let place = self
            .sections
            .iter()
            .map(|(s, _)| s)
            .find(|s| !matches!(s, Section::Plain { .. }))
            .map(|s| format!("<{}>", s.name()));
        if let Some(place) = place {
            self.diags.error(
                origin,
                "Listen",
                format!("Listen cannot occur within {place} section (httpd refuses to start)"),
            );
            return;
        }
        let args = words(rest);
        if args.is_empty() || args.len() > 3 {
            self.diags.error(
                origin,
                "Listen",
                "Listen requires 1-3 arguments (httpd refuses to start)",
            );
            return;
        }
        if let Some(third) = args.get(2)
            && !third
                .get(..8)
                .is_some_and(|p| p.eq_ignore_ascii_case("options="))
        {
            self.diags.error(
                origin,
                "Listen",
                format!(
                    "the third argument of Listen must be options=..., got '{third}' (httpd \
                     refuses to start)"
                ),
            );
            return;
        }
        let addr = args.first().cloned().unwrap_or_default();
        let (host, port) = match parse_listen_addr(&addr) {
            Ok(parsed) => parsed,
            Err(why) => {
                self.diags.error(
                    origin,
                    "Listen",
                    format!("{why}: '{addr}' (httpd refuses to start)"),
                );
                return;
            }
        };
        if let Some(earlier) = self
            .out
            .listens
            .iter()
            .find(|l| l.port == port && l.host == host)
        {
            let line = earlier.origin.line;
            self.diags.error(
                origin,
                "Listen",
                format!(
                    "a second Listen on '{addr}' (first at line {line}): httpd cannot define \
                     multiple listeners on the same address and port and refuses to start"
                ),
            );
            return;
        }
        self.out.listens.push(Listen {
            addr,
            host,
            port,
            protocol: args.get(1).cloned(),
            origin,
        });
    }

    /// A mod_ssl directive found by [`is_ssl_directive`].
    pub(super) fn ssl_directive(&mut self, name: &str, rest: &str, origin: Origin) {
        let Some(d) = find_ssl(name) else {
            return;
        };
        if let Some(section) = self.dir_section().map(|s| s.name().to_string()) {
            if d.place == Place::ServerOrDir {
                self.diags.warning(
                    origin,
                    d.name,
                    format!(
                        "{} inside <{section}> is not read: jkd sets TLS per listener, not \
                         per directory (httpd renegotiates for the directory)",
                        d.name
                    ),
                );
            } else {
                self.diags.error(
                    origin,
                    d.name,
                    format!(
                        "{} not allowed in <{section}> context (httpd refuses to start)",
                        d.name
                    ),
                );
            }
            return;
        }
        if d.place == Place::Global && self.vhost_index().is_some() {
            self.diags.error(
                origin,
                d.name,
                format!(
                    "{} cannot occur within <VirtualHost> section (httpd refuses to start)",
                    d.name
                ),
            );
            return;
        }
        let args = match d.args {
            Args::Raw => vec![rest.to_string()],
            _ => words(rest),
        };
        if !self.check_args(d.name, d.args, &args, &origin) {
            return;
        }
        let first = args.first().cloned().unwrap_or_default();
        match d.kind {
            SslKind::Engine => self.ssl_engine(d.name, &first, origin),
            SslKind::CertFile => {
                let path = self.server_relative(&first, &origin);
                self.ssl_mut().cert_files.push((path, origin));
            }
            SslKind::KeyFile => {
                let path = self.server_relative(&first, &origin);
                self.ssl_mut().key_files.push((path, origin));
            }
            SslKind::ChainFile => {
                let path = self.server_relative(&first, &origin);
                self.ssl_mut().chain_file = Some((path, origin));
            }
            SslKind::CaFile => {
                let path = self.server_relative(&first, &origin);
                self.ssl_mut().ca_file = Some((path, origin));
            }
            SslKind::CaPath => {
                self.diags.warning(
                    origin.clone(),
                    d.name,
                    "jkd does not read a directory of hashed CA certificates: client \
                     certificates are checked only against SSLCACertificateFile (put the \
                     CA certificates into one PEM file)",
                );
                let path = self.server_relative(&first, &origin);
                self.ssl_mut().ca_path = Some((path, origin));
            }
            SslKind::VerifyClient => {
                // mod_ssl also takes "off" and "on" for none and require.
                let rule = match first.to_ascii_lowercase().as_str() {
                    "off" => Some(ClientCert::None),
                    "on" => Some(ClientCert::Require),
                    _ => ClientCert::parse(&first),
                };
                match rule {
                    Some(rule) => self.ssl_mut().verify_client = Some((rule, origin)),
                    None => self.diags.error(
                        origin,
                        d.name,
                        format!(
                            "SSLVerifyClient: Invalid argument '{first}' (none, optional, \
                             require or optional_no_ca; httpd refuses to start)"
                        ),
                    ),
                }
            }
            SslKind::Protocol => self.ssl_protocol(d.name, rest, origin),
            SslKind::CipherSuite => self.diags.warning(
                origin,
                d.name,
                "jkd offers rustls' cipher suites (TLS 1.2 and 1.3 AEAD suites with forward \
                 secrecy), not this list: clients see rustls' choice",
            ),
            SslKind::Compression => {
                if first.eq_ignore_ascii_case("on") {
                    self.diags.warning(
                        origin,
                        d.name,
                        "jkd never compresses TLS records (rustls has no TLS compression); \
                         the line is ignored",
                    );
                }
            }
            SslKind::Accepted => {}
        }
    }

    fn ssl_engine(&mut self, name: &'static str, word: &str, origin: Origin) {
        let engine = match word.to_ascii_lowercase().as_str() {
            "on" => SslEngine::On,
            "off" => SslEngine::Off,
            "optional" => {
                self.diags.warning(
                    origin.clone(),
                    name,
                    "jkd does not implement SSLEngine optional (upgrading a plain \
                     connection to TLS, RFC 2817): this server is served as plain HTTP",
                );
                SslEngine::Optional
            }
            _ => {
                self.diags.error(
                    origin,
                    name,
                    format!(
                        "SSLEngine must be On, Off or Optional, got '{word}' (httpd refuses \
                         to start)"
                    ),
                );
                return;
            }
        };
        self.ssl_mut().engine = Some((engine, origin));
    }

    fn ssl_protocol(&mut self, name: &'static str, raw: &str, origin: Origin) {
        let set = match parse_protocols(raw) {
            Ok(set) => set,
            Err(why) => {
                self.diags.error(
                    origin,
                    name,
                    format!("SSLProtocol: {why} (httpd refuses to start)"),
                );
                return;
            }
        };
        for word in &set.overriding {
            self.diags.warning(
                origin.clone(),
                name,
                format!(
                    "'{word}' replaces the protocols named before it (a + or - seems to be \
                     missing); httpd warns the same"
                ),
            );
        }
        let legacy: Vec<&str> = [(SSLV3, "SSLv3"), (TLSV1, "TLSv1"), (TLSV1_1, "TLSv1.1")]
            .iter()
            .filter(|(bit, _)| set.bits & bit != 0)
            .map(|(_, label)| *label)
            .collect();
        if !legacy.is_empty() {
            self.diags.warning(
                origin.clone(),
                name,
                format!(
                    "{} enabled here, but jkd (rustls) speaks only TLSv1.2 and TLSv1.3: \
                     clients limited to the older versions cannot connect",
                    legacy.join(", ")
                ),
            );
        }
        let protocols = Protocols {
            tls12: set.bits & TLSV1_2 != 0,
            tls13: set.bits & TLSV1_3 != 0,
        };
        if !protocols.tls12 && !protocols.tls13 {
            self.diags.error(
                origin,
                name,
                format!(
                    "'{}' leaves neither TLSv1.2 nor TLSv1.3 enabled; jkd (rustls) speaks only \
                     those, so no client could connect",
                    raw.trim()
                ),
            );
            return;
        }
        self.ssl_mut().protocols = Some((protocols, origin));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen_addr("443"), Ok((None, 443)));
        assert_eq!(parse_listen_addr("*:8443"), Ok((None, 8443)));
        assert_eq!(
            parse_listen_addr("10.0.0.1:443"),
            Ok((Some("10.0.0.1".into()), 443))
        );
        assert_eq!(
            parse_listen_addr("[::1]:443"),
            Ok((Some("[::1]".into()), 443))
        );
        assert!(parse_listen_addr("10.0.0.1").is_err());
        assert!(parse_listen_addr("x:http").is_err());
        assert!(parse_listen_addr("0").is_err());
        assert!(parse_listen_addr("70000").is_err());
    }

    #[test]
    fn protocol_words() {
        let bits = |s: &str| parse_protocols(s).map(|p| p.bits);
        assert_eq!(bits("all -SSLv3 -TLSv1 -TLSv1.1"), Ok(TLSV1_2 | TLSV1_3));
        assert_eq!(bits("-all +TLSv1.2"), Ok(TLSV1_2));
        assert_eq!(bits("TLSv1.2 +tlsv1.3"), Ok(TLSV1_2 | TLSV1_3));
        assert_eq!(bits("all -SSLv2"), Ok(ALL));
        assert!(bits("+SSLv2").is_err());
        assert!(bits("TLSv1.4").is_err());
        let p = parse_protocols("TLSv1.2 TLSv1.3").unwrap();
        assert_eq!(
            (p.bits, p.overriding),
            (TLSV1_3, vec!["TLSv1.3".to_string()])
        );
    }
}
