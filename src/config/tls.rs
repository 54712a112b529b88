//! Listeners and their TLS settings as the command line or an Apache config gives them (which files, which client-certificate rule, which protocol versions): plain data, loaded into rustls by `crate::tls`.

use std::path::PathBuf;

use super::diag::Origin;

/// Whether a client must show a certificate (httpd's `SSLVerifyClient`, jkd's
/// `--client-cert`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientCert {
    /// No certificate is asked for.
    #[default]
    None,
    /// Asked for; a client without one is served, one with a certificate that does not
    /// chain to the CA is refused.
    Optional,
    /// Asked for and taken without checking who signed it (the application decides).
    OptionalNoCa,
    /// A certificate that chains to the CA is required.
    Require,
}

impl ClientCert {
    /// Reads `none`, `optional`, `optional_no_ca` or `require` (any case, as httpd).
    pub fn parse(word: &str) -> Option<ClientCert> {
        match word.to_ascii_lowercase().as_str() {
            "none" => Some(ClientCert::None),
            "optional" => Some(ClientCert::Optional),
            "optional_no_ca" => Some(ClientCert::OptionalNoCa),
            "require" => Some(ClientCert::Require),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClientCert::None => "none",
            ClientCert::Optional => "optional",
            ClientCert::OptionalNoCa => "optional_no_ca",
            ClientCert::Require => "require",
        }
    }
}

/// One certificate with its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertFiles {
    /// PEM: the certificate, optionally followed by its chain (and, as mod_ssl allows,
    /// by the key when `key` is `None`).
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, RSA or EC).
    pub key: Option<PathBuf>,
    /// PEM intermediate certificates sent after the certificate (httpd's
    /// `SSLCertificateChainFile`).
    pub chain: Option<PathBuf>,
    /// Host names this certificate is chosen for by SNI besides the names it carries
    /// (a virtual host's `ServerName` and `ServerAlias`).
    pub names: Vec<String>,
    /// Where it was configured (`None`: the command line).
    pub origin: Option<Origin>,
}

/// TLS protocol versions allowed (rustls has only 1.2 and 1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protocols {
    pub tls12: bool,
    pub tls13: bool,
}

impl Default for Protocols {
    fn default() -> Self {
        Protocols {
            tls12: true,
            tls13: true,
        }
    }
}

/// What a TLS listener serves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// The first is the default; the others are chosen by SNI.
    pub certs: Vec<CertFiles>,
    /// PEM CA certificates client certificates must chain to.
    pub client_ca: Option<PathBuf>,
    pub client_cert: ClientCert,
    pub protocols: Protocols,
}

/// What mod_jk passes on of a TLS connection (`JkExtractSSL`, `JkOptions
/// +ForwardSSLCertChain` and `+ForwardKeySize`), with mod_jk's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SslForwarding {
    /// `JkExtractSSL` (default on): tell the backend about TLS at all.
    pub extract: bool,
    /// `+ForwardSSLCertChain` (default off): the client's chain follows its certificate.
    pub cert_chain: bool,
    /// `+ForwardKeySize` (default on): the cipher's key size is sent.
    pub key_size: bool,
}

impl Default for SslForwarding {
    fn default() -> Self {
        SslForwarding {
            extract: true,
            cert_chain: false,
            key_size: true,
        }
    }
}

/// One address to listen on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// `host:port`, `[v6]:port` or `*:port`/`:port`/`port` (every address).
    pub addr: String,
    /// `None`: plain HTTP.
    pub tls: Option<TlsSettings>,
    /// Where it was configured (`None`: the command line).
    pub origin: Option<Origin>,
}

impl Listener {
    /// The address in a form `TcpListener::bind` takes: httpd's `Listen 80` and
    /// `Listen *:80` mean every IPv4 address.
    pub fn bind_addr(&self) -> String {
        let addr = self.addr.trim();
        if let Some(port) = addr.strip_prefix("*:").or_else(|| addr.strip_prefix(':')) {
            return format!("0.0.0.0:{port}");
        }
        if !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_digit()) {
            return format!("0.0.0.0:{addr}");
        }
        addr.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_cert_words() {
        assert_eq!(ClientCert::parse("Require"), Some(ClientCert::Require));
        assert_eq!(
            ClientCert::parse("optional_no_ca"),
            Some(ClientCert::OptionalNoCa)
        );
        assert_eq!(ClientCert::parse("maybe"), None);
    }

    #[test]
    fn httpd_listen_forms_bind() {
        let l = |a: &str| Listener {
            addr: a.to_string(),
            tls: None,
            origin: None,
        };
        assert_eq!(l("443").bind_addr(), "0.0.0.0:443");
        assert_eq!(l("*:443").bind_addr(), "0.0.0.0:443");
        assert_eq!(l(":8080").bind_addr(), "0.0.0.0:8080");
        assert_eq!(l("127.0.0.1:443").bind_addr(), "127.0.0.1:443");
        assert_eq!(l("[::1]:443").bind_addr(), "[::1]:443");
    }
}
