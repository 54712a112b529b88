//! Listening sockets: bound with SO_REUSEPORT (so a new jkd can start on the same addresses while the old one drains), and accepting without spinning or giving up when accept fails.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

/// The kernel's queue of connections not yet accepted (tokio's default).
const BACKLOG: u32 = 1024;

/// Binds `addr` (`host:port`) with SO_REUSEADDR and SO_REUSEPORT: during an upgrade
/// the new process binds the same address while the old one still serves, and the
/// kernel hands new connections to both until the old one stops accepting.
pub async fn bind_reusable(addr: &str) -> std::io::Result<TcpListener> {
    let mut last = None;
    for resolved in tokio::net::lookup_host(addr).await? {
        let socket = if resolved.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        match socket.bind(resolved) {
            Ok(()) => return socket.listen(BACKLOG),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the address resolves to nothing",
        )
    }))
}

/// Accepts the next connection. An accept error (no file descriptors left, no
/// memory for the socket, ...) is logged and retried after a pause that doubles up
/// to a second, so the loop neither spins nor gives up: it recovers as soon as
/// descriptors are free again. `failures` carries the backoff between calls.
pub async fn accept_with_backoff(
    listener: &TcpListener,
    failures: &mut u32,
) -> (tokio::net::TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(x) => {
                *failures = 0;
                return x;
            }
            Err(e) => {
                *failures = failures.saturating_add(1);
                let pause =
                    Duration::from_millis(10u64 << (*failures).min(7)).min(MAX_ACCEPT_PAUSE);
                if *failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(
                        failures = *failures,
                        "accept failed: {e}; retrying in {} ms",
                        pause.as_millis()
                    );
                }
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// The longest pause between two accept attempts after errors.
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);
