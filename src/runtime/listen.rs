//! Accepting connections on a listener without spinning or giving up when accept fails.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

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
