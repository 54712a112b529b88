//! TLS termination: each TLS listener's rustls configuration (certificates by SNI, client-certificate rule, protocol versions, ALPN), its reload from disk, the handshake with its timeout and failure counts.

mod certs;
mod facts;
mod verify;

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::config::tls::TlsSettings;

pub use certs::CertificateInfo;
pub use facts::{TlsFacts, openssl_name, pem};

/// A TLS file that cannot be used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsError {
    pub file: Option<String>,
    pub why: String,
}

impl TlsError {
    fn file(path: &Path, why: impl std::fmt::Display) -> TlsError {
        TlsError {
            file: Some(path.display().to_string()),
            why: why.to_string(),
        }
    }
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{file}: {}", self.why),
            None => f.write_str(&self.why),
        }
    }
}

impl std::error::Error for TlsError {}

/// Why a handshake failed: the `reason` label of `jkd_tls_handshake_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The client did not finish the handshake within `--timeout`.
    Timeout,
    /// The client spoke plain HTTP to the TLS port (it got a 400 saying so).
    PlainHttp,
    /// The client closed or reset the connection during the handshake.
    Closed,
    /// No TLS version both sides speak (a TLS 1.0/1.1-only client).
    ProtocolVersion,
    /// No cipher suite both sides have.
    NoSharedCipher,
    /// The client's certificate is missing (when required) or not valid.
    ClientCertificate,
    /// The client refused jkd's certificate (an alert: unknown CA, bad name...).
    ClientAlert,
    /// Anything else the client sent that is not TLS as it should be.
    Protocol,
}

impl HandshakeFailure {
    pub const ALL: [HandshakeFailure; 8] = [
        HandshakeFailure::Timeout,
        HandshakeFailure::PlainHttp,
        HandshakeFailure::Closed,
        HandshakeFailure::ProtocolVersion,
        HandshakeFailure::NoSharedCipher,
        HandshakeFailure::ClientCertificate,
        HandshakeFailure::ClientAlert,
        HandshakeFailure::Protocol,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::PlainHttp => "plain_http",
            HandshakeFailure::Closed => "closed",
            HandshakeFailure::ProtocolVersion => "protocol_version",
            HandshakeFailure::NoSharedCipher => "no_shared_cipher",
            HandshakeFailure::ClientCertificate => "client_certificate",
            HandshakeFailure::ClientAlert => "client_alert",
            HandshakeFailure::Protocol => "protocol",
        }
    }

    fn of(e: &io::Error) -> HandshakeFailure {
        use rustls::{Error, PeerIncompatible};
        match e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
            Some(Error::PeerIncompatible(PeerIncompatible::NoCipherSuitesInCommon)) => {
                HandshakeFailure::NoSharedCipher
            }
            Some(Error::PeerIncompatible(_)) => HandshakeFailure::ProtocolVersion,
            Some(Error::NoCertificatesPresented | Error::InvalidCertificate(_)) => {
                HandshakeFailure::ClientCertificate
            }
            Some(Error::AlertReceived(_)) => HandshakeFailure::ClientAlert,
            Some(_) => HandshakeFailure::Protocol,
            None => match e.kind() {
                io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe => HandshakeFailure::Closed,
                _ => HandshakeFailure::Protocol,
            },
        }
    }
}

/// Handshake failures by reason, shared by every TLS listener (published as
/// `jkd_tls_handshake_errors_total`).
#[derive(Debug, Default)]
pub struct HandshakeErrors {
    counts: [AtomicU64; HandshakeFailure::ALL.len()],
}

impl HandshakeErrors {
    fn count(&self, failure: HandshakeFailure) {
        if let Some(c) = HandshakeFailure::ALL
            .iter()
            .position(|f| *f == failure)
            .and_then(|i| self.counts.get(i))
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every reason with its count.
    pub fn counts(&self) -> impl Iterator<Item = (HandshakeFailure, u64)> + '_ {
        HandshakeFailure::ALL
            .iter()
            .zip(&self.counts)
            .map(|(f, c)| (*f, c.load(Ordering::Relaxed)))
    }
}

/// The crypto jkd uses: rustls' *ring* provider (no OpenSSL, builds with a C compiler
/// alone).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client side towards an HTTP member's HTTPS connector (`worker.NAME.tls`):
/// TLS 1.2 and 1.3, HTTP/1.1 by ALPN, the member's certificate verified against the
/// CA certificates of `ca` (a PEM file) for the member's name.
pub fn member_client_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs::read_certificates(ca)? {
        roots
            .add(cert)
            .map_err(|e| TlsError::file(ca, format!("not a usable CA certificate: {e}")))?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError {
            file: None,
            why: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Builds the rustls configuration of a listener from its files.
fn server_config(
    settings: &TlsSettings,
) -> Result<(Arc<ServerConfig>, Vec<CertificateInfo>), TlsError> {
    let provider = provider();
    if settings.certs.is_empty() {
        return Err(TlsError {
            file: None,
            why: "a TLS listener needs a certificate (--cert FILE --key FILE)".to_string(),
        });
    }
    let loaded = settings
        .certs
        .iter()
        .map(|c| certs::load(c, &provider))
        .collect::<Result<Vec<_>, _>>()?;
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if settings.protocols.tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if settings.protocols.tls12 {
        versions.push(&rustls::version::TLS12);
    }
    if versions.is_empty() {
        return Err(TlsError {
            file: None,
            why: "no TLS version left to serve (jkd speaks TLS 1.2 and 1.3)".to_string(),
        });
    }
    let verifier = verify::client_verifier(
        settings.client_cert,
        settings.client_ca.as_deref(),
        &provider,
    )?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError {
            file: None,
            why: e.to_string(),
        })?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(certs::BySni::new(&loaded)));
    // Browsers get HTTP/2; everything else HTTP/1.1.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // Resumption by ticket, as httpd and HAProxy offer by default.
    if let Ok(ticketer) = rustls::crypto::ring::Ticketer::new() {
        config.ticketer = ticketer;
    }
    Ok((
        Arc::new(config),
        loaded.into_iter().map(|l| l.info).collect(),
    ))
}

/// One TLS listener's configuration, replaced whole when its files are re-read.
#[derive(Debug)]
pub struct Acceptor {
    settings: TlsSettings,
    config: ArcSwap<ServerConfig>,
    certificates: parking_lot::RwLock<Vec<CertificateInfo>>,
}

impl Acceptor {
    /// Reads the listener's files; any that cannot be used is an error naming it.
    pub fn new(settings: TlsSettings) -> Result<Acceptor, TlsError> {
        let (config, certificates) = server_config(&settings)?;
        Ok(Acceptor {
            settings,
            config: ArcSwap::new(config),
            certificates: parking_lot::RwLock::new(certificates),
        })
    }

    /// Re-reads the files; on an error the current certificates stay in use.
    /// Connections already open keep the configuration they started with.
    pub fn reload(&self) -> Result<(), TlsError> {
        let (config, certificates) = server_config(&self.settings)?;
        self.config.store(config);
        *self.certificates.write() = certificates;
        Ok(())
    }

    /// The certificates in use.
    pub fn certificates(&self) -> Vec<CertificateInfo> {
        self.certificates.read().clone()
    }

    /// Completes the TLS handshake of a new connection within `timeout`. A client
    /// that speaks plain HTTP gets a 400 saying the port speaks HTTPS.
    pub async fn accept(
        &self,
        stream: TcpStream,
        timeout: Duration,
        errors: &HandshakeErrors,
    ) -> Result<TlsStream<TcpStream>, HandshakeFailure> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config.load_full());
        let handshake = async {
            if speaks_plain_http(&stream).await {
                refuse_plain_http(stream).await;
                return Err(HandshakeFailure::PlainHttp);
            }
            acceptor
                .accept(stream)
                .await
                .map_err(|e| HandshakeFailure::of(&e))
        };
        let result = match tokio::time::timeout(timeout, handshake).await {
            Ok(result) => result,
            Err(_) => Err(HandshakeFailure::Timeout),
        };
        if let Err(failure) = result {
            errors.count(failure);
        }
        result
    }
}

/// Whether the first bytes are an HTTP request line rather than a TLS record (which
/// starts with 0x16, a handshake record).
async fn speaks_plain_http(stream: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first).await, Ok(1) if first[0].is_ascii_uppercase())
}

/// Answers a plain HTTP request on a TLS port with 400, as nginx does, then closes
/// after reading what the client still sends (so the answer is not reset away).
async fn refuse_plain_http(mut stream: TcpStream) {
    const BODY: &str = "This port speaks HTTPS: use an https:// address.\n";
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    if stream.write_all(answer.as_bytes()).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let drain = async { while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}

/// Seconds until a certificate expires (negative: expired), for start-up warnings.
pub fn seconds_left(info: &CertificateInfo, now_unix: i64) -> i64 {
    info.not_after - now_unix
}

/// Every TLS listener of the process and the handshake failures they met: shared by
/// every runtime snapshot, read by the metrics and by a reload.
#[derive(Debug, Default)]
pub struct TlsState {
    pub handshake_errors: HandshakeErrors,
    listeners: parking_lot::RwLock<Vec<(String, Arc<Acceptor>)>>,
}

impl TlsState {
    /// Records a TLS listener (by the address it is bound to).
    pub fn add(&self, address: String, acceptor: Arc<Acceptor>) {
        self.listeners.write().push((address, acceptor));
    }

    /// Re-reads every listener's files; each that fails keeps its certificates and is
    /// returned with its address and error.
    pub fn reload(&self) -> Vec<(String, TlsError)> {
        self.listeners
            .read()
            .iter()
            .filter_map(|(address, acceptor)| acceptor.reload().err().map(|e| (address.clone(), e)))
            .collect()
    }

    /// The certificates in use, with the listener address of each.
    pub fn certificates(&self) -> Vec<(String, CertificateInfo)> {
        self.listeners
            .read()
            .iter()
            .flat_map(|(address, acceptor)| {
                acceptor
                    .certificates()
                    .into_iter()
                    .map(move |c| (address.clone(), c))
            })
            .collect()
    }
}
