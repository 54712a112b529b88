//! Client certificates: httpd's `SSLVerifyClient` rules (none, optional, optional_no_ca, require) as rustls verifiers.

use std::path::Path;
use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::DistinguishedName;
use rustls::RootCertStore;
use rustls::SignatureScheme;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{NoClientAuth, WebPkiClientVerifier};
use rustls_pki_types::{CertificateDer, UnixTime};

use super::TlsError;
use super::certs::read_certificates;
use crate::config::tls::ClientCert;

/// The verifier for `mode`; `ca` is required by `optional` and `require`.
pub(super) fn client_verifier(
    mode: ClientCert,
    ca: Option<&Path>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let roots = |ca: &Path| -> Result<Arc<RootCertStore>, TlsError> {
        let mut store = RootCertStore::empty();
        for cert in read_certificates(ca)? {
            store
                .add(cert)
                .map_err(|e| TlsError::file(ca, format!("not a usable CA certificate: {e}")))?;
        }
        Ok(Arc::new(store))
    };
    let needs_ca = || TlsError {
        file: None,
        why: format!(
            "client certificates '{}' need a CA file (--client-ca, SSLCACertificateFile)",
            mode.as_str()
        ),
    };
    match mode {
        ClientCert::None => Ok(Arc::new(NoClientAuth)),
        ClientCert::OptionalNoCa => Ok(Arc::new(AnyClientCert {
            algorithms: provider.signature_verification_algorithms,
        })),
        ClientCert::Optional | ClientCert::Require => {
            let ca = ca.ok_or_else(needs_ca)?;
            let builder = WebPkiClientVerifier::builder_with_provider(roots(ca)?, provider.clone());
            let builder = if mode == ClientCert::Optional {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| TlsError::file(ca, e.to_string()))
        }
    }
}

/// `optional_no_ca`: any certificate the client proves it holds the key of is taken,
/// whoever signed it; the application decides what it is worth.
#[derive(Debug)]
struct AnyClientCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
