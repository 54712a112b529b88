//! What a TLS connection tells the backend, in mod_ssl's words: protocol, cipher (OpenSSL's name), key size, session id and the client's certificate as PEM.

use base64::Engine;
use rustls::{CipherSuite, ProtocolVersion, ServerConnection};

/// The TLS facts of one client connection, computed once after the handshake.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFacts {
    /// mod_ssl's `SSL_PROTOCOL`: `TLSv1.2`, `TLSv1.3`.
    pub protocol: &'static str,
    /// mod_ssl's `SSL_CIPHER`: the OpenSSL name of the cipher suite.
    pub cipher: &'static str,
    /// mod_ssl's `SSL_CIPHER_USEKEYSIZE`: the symmetric key's bits.
    pub key_bits: u16,
    /// mod_ssl's `SSL_SESSION_ID` (upper-case hex). rustls does not expose a session
    /// id, so jkd derives one per connection from the session's keys (RFC 5705
    /// exporter): unique per connection, unknown to anyone outside it.
    pub session_id: String,
    /// mod_ssl's `SSL_CLIENT_CERT`: the client's certificate as PEM, when it sent one.
    pub client_cert: Option<String>,
    /// mod_ssl's `SSL_CLIENT_CERT_CHAIN_n`: the rest of what the client sent, as PEM.
    pub client_chain: Vec<String>,
    /// The negotiated ALPN protocol was `h2`.
    pub h2: bool,
    /// The SNI host name the client asked for.
    pub server_name: Option<String>,
}

/// The label of jkd's session-id exporter (RFC 5705 labels must start "EXPORTER").
const SESSION_ID_LABEL: &[u8] = b"EXPORTER-jkd-session-id";

impl TlsFacts {
    pub fn of(conn: &ServerConnection) -> TlsFacts {
        let protocol = match conn.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "",
        };
        let (cipher, key_bits) = conn
            .negotiated_cipher_suite()
            .map_or(("", 0), |s| openssl_name(s.suite()));
        let session_id = conn
            .export_keying_material([0u8; 32], SESSION_ID_LABEL, None)
            .map(|bytes| bytes.iter().map(|b| format!("{b:02X}")).collect())
            .unwrap_or_default();
        let mut sent = conn.peer_certificates().unwrap_or_default().iter();
        let client_cert = sent.next().map(|c| pem(c.as_ref()));
        let client_chain = sent.map(|c| pem(c.as_ref())).collect();
        TlsFacts {
            protocol,
            cipher,
            key_bits,
            session_id,
            client_cert,
            client_chain,
            h2: conn.alpn_protocol() == Some(b"h2"),
            server_name: conn.server_name().map(str::to_string),
        }
    }
}

/// OpenSSL's name of a cipher suite (what mod_ssl reports as `SSL_CIPHER` and Tomcat
/// shows as `jakarta.servlet.request.cipher_suite`) and its key bits.
pub fn openssl_name(suite: CipherSuite) -> (&'static str, u16) {
    match suite {
        CipherSuite::TLS13_AES_128_GCM_SHA256 => ("TLS_AES_128_GCM_SHA256", 128),
        CipherSuite::TLS13_AES_256_GCM_SHA384 => ("TLS_AES_256_GCM_SHA384", 256),
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => ("TLS_CHACHA20_POLY1305_SHA256", 256),
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => {
            ("ECDHE-ECDSA-AES128-GCM-SHA256", 128)
        }
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => {
            ("ECDHE-ECDSA-AES256-GCM-SHA384", 256)
        }
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => {
            ("ECDHE-ECDSA-CHACHA20-POLY1305", 256)
        }
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => ("ECDHE-RSA-AES128-GCM-SHA256", 128),
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => ("ECDHE-RSA-AES256-GCM-SHA384", 256),
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => {
            ("ECDHE-RSA-CHACHA20-POLY1305", 256)
        }
        // rustls offers no other suite; name any future one as rustls does.
        _ => ("UNKNOWN", 0),
    }
}

/// A DER certificate as PEM, as OpenSSL's `PEM_write_bio_X509` writes it (64-column
/// base64 lines).
pub fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_lines_are_64_columns() {
        let text = pem(&[7u8; 100]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn names_as_openssl() {
        assert_eq!(
            openssl_name(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
            ("ECDHE-RSA-AES128-GCM-SHA256", 128)
        );
        assert_eq!(
            openssl_name(CipherSuite::TLS13_AES_256_GCM_SHA384),
            ("TLS_AES_256_GCM_SHA384", 256)
        );
    }
}
