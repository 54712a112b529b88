//! The one place where a failure becomes an HTTP status, as mod_jk chose them.

use crate::ajp::conn::ConnError;
use crate::ajp::exchange::{Failure, FailureKind};
use crate::config::uri::UriError;

/// Everything that can end a request without a backend response.
#[derive(Debug)]
pub enum ProxyError {
    /// The URI was refused before mapping (encoded slash, escaping the root, ...).
    BadUri(UriError),
    /// No mount rule forwards this URI.
    NotMapped,
    /// A rule names a worker that does not exist.
    NoSuchWorker(String),
    /// The request does not fit one AJP packet.
    TooLarge(String),
    /// No member could take the request (all busy, stopped, in error, or retries
    /// exhausted on connection failures).
    Unavailable,
    /// The backend failed in a way that cannot be retried.
    Backend(Failure),
    /// The worker type cannot serve requests here.
    Unsupported(&'static str),
    /// The request head breaks HTTP's rules (RFC 9112): no or two Hosts, ...
    BadRequest(&'static str),
    /// A Transfer-Encoding other than `chunked` alone.
    UnsupportedCoding,
    /// A backend's HTTP answer (WebSocket handshake) that is not HTTP.
    BadGateway(String),
    /// A backend did not answer within its reply timeout (WebSocket handshake).
    Timeout,
}

/// The HTTP status for a failure: mod_jk's choices (§3.11 of the reference).
pub fn status_of(e: &ProxyError) -> u16 {
    match e {
        ProxyError::BadUri(u) => u.status(),
        ProxyError::NotMapped => 404,
        ProxyError::NoSuchWorker(_) => 500,
        ProxyError::TooLarge(_) => 413,
        ProxyError::Unavailable => 503,
        ProxyError::Unsupported(_) => 501,
        ProxyError::BadRequest(_) => 400,
        ProxyError::UnsupportedCoding => 501,
        ProxyError::BadGateway(_) => 502,
        ProxyError::Timeout => 504,
        ProxyError::Backend(f) => match &f.kind {
            // The client stopped sending its body: httpd's 408.
            FailureKind::Client(e) if e.kind() == std::io::ErrorKind::TimedOut => 408,
            FailureKind::Client(_) => 400,
            FailureKind::ClientGone => 400,
            FailureKind::Backend(c) => match c {
                ConnError::Timeout => 504,
                ConnError::Protocol(_) | ConnError::Closed => 502,
                ConnError::Unexpected(_) => 500,
                ConnError::Connect(_) | ConnError::ConnectTimeout | ConnError::Io(_) => 503,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ajp::exchange::Stage;

    fn backend(e: ConnError) -> ProxyError {
        ProxyError::Backend(Failure {
            kind: FailureKind::Backend(e),
            stage: Stage::Sent,
        })
    }

    #[test]
    fn statuses_are_mod_jks() {
        assert_eq!(status_of(&ProxyError::Unavailable), 503);
        assert_eq!(status_of(&backend(ConnError::Timeout)), 504);
        assert_eq!(status_of(&backend(ConnError::Closed)), 502);
        assert_eq!(status_of(&ProxyError::TooLarge("x".into())), 413);
        assert_eq!(status_of(&ProxyError::NoSuchWorker("w".into())), 500);
        assert_eq!(status_of(&ProxyError::NotMapped), 404);
    }
}
