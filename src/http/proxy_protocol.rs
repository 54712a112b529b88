//! The PROXY protocol (v1 text, v2 binary) that HAProxy, nginx and cloud load balancers put before a connection's first byte to name the client: read from trusted peers before anything else, parsed by the `ppp` crate.

use std::net::SocketAddr;
use std::time::Duration;

use super::stream::ClientStream;
use ppp::{HeaderResult, PartialResult};
use tokio::io::AsyncReadExt;

/// Enough for a v1 line (at most 107 bytes) and a v2 header with the usual TLVs (the
/// size HAProxy's documentation recommends reading at once).
const MAX_HEADER: usize = 536;

/// Reads the PROXY header at the start of `stream` (and only it: what follows stays
/// for HTTP or TLS). `Ok(Some(client))`: the address the proxy names; `Ok(None)`: the
/// proxy speaks for itself (`LOCAL`, `UNKNOWN`, a unix socket); `Err`: no valid header
/// within `timeout`.
pub async fn read_client(
    stream: &mut ClientStream,
    timeout: Duration,
) -> Result<Option<SocketAddr>, String> {
    let read = async {
        let mut buf = [0u8; MAX_HEADER];
        let mut seen = 0;
        loop {
            let n = stream
                .peek(&mut buf)
                .await
                .map_err(|e| format!("read failed: {e}"))?;
            if n == 0 {
                return Err("the connection closed before its PROXY header".to_string());
            }
            let got = buf.get(..n).unwrap_or_default();
            let parsed = HeaderResult::parse(got);
            if parsed.is_incomplete() {
                if n >= MAX_HEADER {
                    return Err(format!("a PROXY header longer than {MAX_HEADER} bytes"));
                }
                if n == seen {
                    // The rest has not arrived yet; peeking again at once would spin.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                seen = n;
                continue;
            }
            let (len, client) = match parsed {
                HeaderResult::V1(Ok(h)) => (h.header.len(), v1_client(&h.addresses)),
                HeaderResult::V2(Ok(h)) => (h.len(), v2_client(&h.addresses)),
                HeaderResult::V1(Err(e)) => return Err(format!("not a PROXY header: {e}")),
                HeaderResult::V2(Err(e)) => return Err(format!("not a PROXY header: {e}")),
            };
            // Consume exactly the header.
            let mut header = vec![0u8; len];
            stream
                .read_exact(&mut header)
                .await
                .map_err(|e| format!("read failed: {e}"))?;
            return Ok(client);
        }
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or_else(|_| Err(format!("no PROXY header within {} s", timeout.as_secs())))
}

fn v1_client(addresses: &ppp::v1::Addresses) -> Option<SocketAddr> {
    match addresses {
        ppp::v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        ppp::v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        ppp::v1::Addresses::Unknown => None,
    }
}

fn v2_client(addresses: &ppp::v2::Addresses) -> Option<SocketAddr> {
    match addresses {
        ppp::v2::Addresses::IPv4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        ppp::v2::Addresses::IPv6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        ppp::v2::Addresses::Unspecified | ppp::v2::Addresses::Unix(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    async fn through(bytes: &[u8]) -> (Result<Option<SocketAddr>, String>, Vec<u8>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let bytes = bytes.to_vec();
        let client = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(&bytes).await.unwrap();
            s.shutdown().await.unwrap();
        });
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = ClientStream::Plain(stream);
        let result = read_client(&mut stream, Duration::from_secs(5)).await;
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
        client.await.unwrap();
        (result, rest)
    }

    #[tokio::test]
    async fn v1_names_the_client_and_leaves_the_request() {
        let (client, rest) =
            through(b"PROXY TCP4 192.0.2.7 10.0.0.1 40000 443\r\nGET / HTTP/1.1\r\n\r\n").await;
        assert_eq!(client, Ok(Some("192.0.2.7:40000".parse().unwrap())));
        assert_eq!(rest, b"GET / HTTP/1.1\r\n\r\n");
    }

    #[tokio::test]
    async fn v2_names_the_client() {
        let header = ppp::v2::Builder::with_addresses(
            ppp::v2::Version::Two | ppp::v2::Command::Proxy,
            ppp::v2::Protocol::Stream,
            (
                "[2001:db8::7]:40000".parse::<SocketAddr>().unwrap(),
                "[2001:db8::1]:443".parse::<SocketAddr>().unwrap(),
            ),
        )
        .build()
        .unwrap();
        let mut bytes = header.clone();
        bytes.extend_from_slice(b"\x16\x03\x01");
        let (client, rest) = through(&bytes).await;
        assert_eq!(client, Ok(Some("[2001:db8::7]:40000".parse().unwrap())));
        assert_eq!(rest, b"\x16\x03\x01");
    }

    #[tokio::test]
    async fn unknown_keeps_the_peer_and_garbage_is_refused() {
        let (client, _) = through(b"PROXY UNKNOWN\r\nGET / HTTP/1.1\r\n\r\n").await;
        assert_eq!(client, Ok(None));
        let (client, _) = through(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(client.is_err(), "{client:?}");
    }
}
