//! Server certificates: PEM files read into rustls keys, the host names and expiry each certificate carries, and the choice of certificate by SNI.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;
use crate::config::tls::CertFiles;

/// What an operator is told about one certificate (start-up warnings, metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The certificate file.
    pub file: String,
    /// DNS names (subjectAltName, else the common name), lower case.
    pub names: Vec<String>,
    /// notAfter, in seconds since the Unix epoch.
    pub not_after: i64,
}

/// One loaded certificate with its key and the names SNI chooses it by.
#[derive(Debug)]
pub(super) struct Loaded {
    pub key: Arc<CertifiedKey>,
    /// The certificate's names plus the configured ones, lower case.
    pub names: Vec<String>,
    pub info: CertificateInfo,
}

/// Reads every certificate of a PEM file; none is an error.
pub(super) fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| TlsError::file(path, e))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::file(path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::file(
            path,
            "no certificate (BEGIN CERTIFICATE) in it",
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| TlsError::file(path, e))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::file(
            path,
            "no private key in it (BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
        ),
        other => TlsError::file(path, format!("not a PEM private key: {other}")),
    })
}

/// Loads a certificate, its chain and its key, and checks that they belong together.
pub(super) fn load(files: &CertFiles, provider: &CryptoProvider) -> Result<Loaded, TlsError> {
    let mut chain = read_certificates(&files.cert)?;
    if let Some(extra) = &files.chain {
        chain.extend(read_certificates(extra)?);
    }
    let key_path = files.key.as_deref().unwrap_or(&files.cert);
    let key = read_key(key_path)?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::file(key_path, format!("unusable private key: {e}")))?;
    let info = describe(&files.cert, chain.first())?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => {}
        // Keys whose public half rustls cannot compute are taken as they are.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => {
            return Err(TlsError::file(
                key_path,
                format!(
                    "this key does not belong to the certificate in {}",
                    files.cert.display()
                ),
            ));
        }
    }
    let mut names = info.names.clone();
    names.extend(files.names.iter().map(|n| n.to_ascii_lowercase()));
    Ok(Loaded {
        key: Arc::new(certified),
        names,
        info,
    })
}

/// The names and expiry of a leaf certificate.
fn describe(
    file: &Path,
    leaf: Option<&CertificateDer<'static>>,
) -> Result<CertificateInfo, TlsError> {
    let leaf = leaf.ok_or_else(|| TlsError::file(file, "no certificate in it"))?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| TlsError::file(file, format!("the certificate cannot be read: {e}")))?;
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                names.push(dns.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_ascii_lowercase),
        );
    }
    Ok(CertificateInfo {
        file: file.display().to_string(),
        names,
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// Whether a certificate name (`www.example.org`, `*.example.org`) covers `host`.
fn covers(name: &str, host: &str) -> bool {
    if name.eq_ignore_ascii_case(host) {
        return true;
    }
    // A wildcard stands for exactly one label (RFC 6125 §6.4.3).
    match (name.strip_prefix("*."), host.split_once('.')) {
        (Some(suffix), Some((label, rest))) => {
            !label.is_empty() && rest.eq_ignore_ascii_case(suffix)
        }
        _ => false,
    }
}

/// Chooses the certificate for a handshake: the first whose names cover the SNI host
/// and whose key the client can verify (so an RSA and an ECDSA certificate for the
/// same name both work, as with mod_ssl), else the first usable one.
#[derive(Debug)]
pub(super) struct BySni {
    certs: Vec<(Vec<String>, Arc<CertifiedKey>)>,
}

impl BySni {
    pub fn new(loaded: &[Loaded]) -> BySni {
        BySni {
            certs: loaded
                .iter()
                .map(|l| (l.names.clone(), l.key.clone()))
                .collect(),
        }
    }
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let schemes = hello.signature_schemes();
        let usable = |key: &Arc<CertifiedKey>| key.key.choose_scheme(schemes).is_some();
        if let Some(host) = hello.server_name() {
            let named = self
                .certs
                .iter()
                .filter(|(names, _)| names.iter().any(|n| covers(n, host)));
            let mut first_named = None;
            for (_, key) in named {
                if usable(key) {
                    return Some(key.clone());
                }
                first_named.get_or_insert(key);
            }
            if let Some(key) = first_named {
                return Some(key.clone());
            }
        }
        self.certs
            .iter()
            .map(|(_, key)| key)
            .find(|key| usable(key))
            .or_else(|| self.certs.first().map(|(_, key)| key))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn names_and_wildcards() {
        assert!(covers("www.example.org", "WWW.example.org"));
        assert!(covers("*.example.org", "a.example.org"));
        assert!(!covers("*.example.org", "example.org"));
        assert!(!covers("*.example.org", "a.b.example.org"));
        assert!(!covers("www.example.org", "example.org"));
    }
}
