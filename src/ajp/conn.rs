//! One backend connection: owns the TCP socket, reads whole AJP packets with timeouts, answers CPing, and knows whether it may be reused.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout};

use super::error::DecodeError;
use super::frame::{PACKET_HEADER_LEN, decode_packet};
use super::request::CPING_PACKET;
use super::response::{
    BufferedRest, ContainerMessage, buffered_response_rest, parse_container_message,
};

/// Why talking to the backend failed.
#[derive(Debug)]
pub enum ConnError {
    /// The TCP connect failed (refused, unreachable, ...).
    Connect(io::Error),
    /// The connect did not finish in time.
    ConnectTimeout,
    /// Reading or writing failed.
    Io(io::Error),
    /// The backend closed the connection.
    Closed,
    /// No packet arrived within the reply or ping timeout.
    Timeout,
    /// The backend sent something that is not AJP13.
    Protocol(DecodeError),
    /// A valid message that makes no sense at this point of the exchange.
    Unexpected(&'static str),
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnError::Connect(e) => write!(f, "connect failed: {e}"),
            ConnError::ConnectTimeout => write!(f, "connect timed out"),
            ConnError::Io(e) => write!(f, "i/o error: {e}"),
            ConnError::Closed => write!(f, "the backend closed the connection"),
            ConnError::Timeout => write!(f, "timed out waiting for the backend"),
            ConnError::Protocol(e) => write!(f, "invalid AJP from the backend: {e}"),
            ConnError::Unexpected(what) => write!(f, "unexpected AJP message: {what}"),
        }
    }
}

impl std::error::Error for ConnError {}

/// How often, and how many times, [`Connection::closed_before_reading`] looks for the
/// reset that proves a request unread (20 ms in all: many round trips on a LAN).
const RESET_POLL_INTERVAL: Duration = Duration::from_millis(2);
const RESET_POLLS: u32 = 10;

/// A connection to one AJP backend.
#[derive(Debug)]
pub struct Connection {
    pub(crate) stream: TcpStream,
    read_buf: BytesMut,
    max_packet_size: usize,
    /// Set when the last exchange ended cleanly with END_RESPONSE(reuse) or CPONG.
    pub(crate) clean: bool,
    pub(crate) idle_since: Instant,
    /// The last CPing in maintenance (or the connect): interval-mode CPings go out
    /// once per `connection_ping_interval`, while `idle_since` still ages the
    /// connection for `connection_pool_timeout`.
    pub(crate) pinged_at: Instant,
}

impl Connection {
    /// Connects with a timeout (`None`: the OS's own), from `source` if given.
    /// `socket_buffer` sets SO_SNDBUF and SO_RCVBUF (mod_jk's `socket_buffer`).
    pub async fn connect(
        addr: SocketAddr,
        source: Option<SocketAddr>,
        connect_timeout: Option<Duration>,
        max_packet_size: usize,
        keepalive: bool,
        socket_buffer: Option<u32>,
    ) -> Result<Connection, ConnError> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(ConnError::Connect)?;
        // AJP is a request/response protocol of small packets: Nagle only adds delay.
        socket.set_nodelay(true).map_err(ConnError::Connect)?;
        if keepalive {
            socket.set_keepalive(true).map_err(ConnError::Connect)?;
        }
        // Before connecting: the receive buffer decides the window scale offered in
        // the SYN, so setting it later would not take full effect. mod_jk refuses the
        // connection when either call fails; so does jkd.
        if let Some(size) = socket_buffer {
            socket
                .set_send_buffer_size(size)
                .map_err(ConnError::Connect)?;
            socket
                .set_recv_buffer_size(size)
                .map_err(ConnError::Connect)?;
        }
        if let Some(src) = source {
            socket.bind(src).map_err(ConnError::Connect)?;
        }
        let connecting = socket.connect(addr);
        let stream = match connect_timeout {
            Some(t) => timeout(t, connecting)
                .await
                .map_err(|_| ConnError::ConnectTimeout)?,
            None => connecting.await,
        }
        .map_err(ConnError::Connect)?;
        let now = Instant::now();
        Ok(Connection {
            stream,
            read_buf: BytesMut::with_capacity(max_packet_size),
            max_packet_size,
            clean: true,
            idle_since: now,
            pinged_at: now,
        })
    }

    /// SO_SNDBUF and SO_RCVBUF as the kernel reports them (Linux doubles the value set).
    #[cfg(test)]
    pub(crate) fn buffer_sizes(&self) -> (usize, usize) {
        let socket = socket2::SockRef::from(&self.stream);
        let get = |size: std::io::Result<usize>| size.unwrap_or_else(|e| panic!("getsockopt: {e}"));
        (
            get(socket.send_buffer_size()),
            get(socket.recv_buffer_size()),
        )
    }

    /// The socket alone, for a protocol other than AJP on it (an HTTP member's
    /// connection, opened with the same settings).
    pub(crate) fn into_stream(self) -> TcpStream {
        self.stream
    }

    pub fn max_packet_size(&self) -> usize {
        self.max_packet_size
    }

    /// Writes bytes, with an optional timeout.
    pub async fn send(&mut self, bytes: &[u8], limit: Option<Duration>) -> Result<(), ConnError> {
        self.clean = false;
        let writing = self.stream.write_all(bytes);
        match limit {
            Some(t) => timeout(t, writing).await.map_err(|_| ConnError::Timeout)?,
            None => writing.await,
        }
        .map_err(ConnError::Io)
    }

    /// Reads the next whole packet and returns its payload (type byte first).
    /// `limit` bounds the wait for the packet (mod_jk's reply_timeout is per packet).
    pub async fn read_packet(&mut self, limit: Option<Duration>) -> Result<Bytes, ConnError> {
        let deadline = limit.map(|t| Instant::now() + t);
        loop {
            match decode_packet(&self.read_buf, self.max_packet_size) {
                Ok(Some((payload, consumed))) => {
                    let len = payload.len();
                    let mut packet = self.read_buf.split_to(consumed);
                    let _ = packet.split_to(PACKET_HEADER_LEN);
                    packet.truncate(len);
                    return Ok(packet.freeze());
                }
                Ok(None) => {}
                Err(e) => return Err(ConnError::Protocol(e)),
            }
            if self.read_buf.capacity() - self.read_buf.len() < 1024 {
                self.read_buf.reserve(self.max_packet_size);
            }
            let reading = self.stream.read_buf(&mut self.read_buf);
            let n = match deadline {
                Some(d) => tokio::time::timeout_at(d, reading)
                    .await
                    .map_err(|_| ConnError::Timeout)?,
                None => reading.await,
            }
            .map_err(ConnError::Io)?;
            if n == 0 {
                return Err(ConnError::Closed);
            }
        }
    }

    /// Whether nothing the backend sent is waiting in the buffer (after a response
    /// head: the head came alone).
    pub fn nothing_buffered(&self) -> bool {
        self.read_buf.is_empty()
    }

    /// Reads what the backend sends next into the buffer (kept for
    /// [`Connection::read_packet`]), waiting at most `limit`: `Ok(false)` when nothing
    /// came in time, an error when the connection broke.
    pub async fn read_more(&mut self, limit: Duration) -> Result<bool, ConnError> {
        if self.read_buf.capacity() - self.read_buf.len() < 1024 {
            self.read_buf.reserve(self.max_packet_size);
        }
        match tokio::time::timeout(limit, self.stream.read_buf(&mut self.read_buf)).await {
            Err(_) => Ok(false),
            Ok(Ok(0)) => Err(ConnError::Closed),
            Ok(Ok(_)) => Ok(true),
            Ok(Err(e)) => Err(ConnError::Io(e)),
        }
    }

    /// Takes the rest of the response (after its head) when the bytes already read
    /// hold all of it; the ranges of the returned [`BufferedRest`] index the returned
    /// bytes. `None` leaves everything in place for [`Connection::read_packet`].
    pub fn take_buffered_rest(&mut self) -> Option<(Bytes, BufferedRest)> {
        let rest = buffered_response_rest(&self.read_buf, self.max_packet_size)?;
        let bytes = self.read_buf.split_to(rest.consumed).freeze();
        self.clean = rest.reuse;
        Some((bytes, rest))
    }

    /// After a read failed with nothing heard from the backend since the request was
    /// written: whether the backend had closed the connection before any of it
    /// arrived, so that it provably never read the request. Linux reports a reset that
    /// comes after the peer's FIN (our bytes hit a socket the backend had already
    /// closed) as EPIPE; a close that throws away unread bytes, or a backend that read
    /// everything and closed, looks different (ECONNRESET, or a plain end of file
    /// with no reset). The reset follows the FIN by one round trip, so it is waited
    /// for briefly.
    pub async fn closed_before_reading(&self, failure: &ConnError) -> bool {
        match failure {
            ConnError::Io(e) => e.kind() == io::ErrorKind::BrokenPipe,
            ConnError::Closed => {
                for _ in 0..RESET_POLLS {
                    match self.stream.take_error() {
                        Ok(Some(e)) => return e.kind() == io::ErrorKind::BrokenPipe,
                        Ok(None) => {}
                        Err(_) => return false,
                    }
                    tokio::time::sleep(RESET_POLL_INTERVAL).await;
                }
                false
            }
            _ => false,
        }
    }

    /// Sends CPING and waits up to `limit` for CPONG.
    pub async fn cping(&mut self, limit: Duration) -> Result<(), ConnError> {
        let deadline = Instant::now() + limit;
        self.send(&CPING_PACKET, Some(limit)).await?;
        let left = deadline.saturating_duration_since(Instant::now());
        let payload = self.read_packet(Some(left)).await?;
        match parse_container_message(&payload).map_err(ConnError::Protocol)? {
            ContainerMessage::CPong => {
                self.clean = true;
                Ok(())
            }
            _ => Err(ConnError::Unexpected("expected CPONG")),
        }
    }

    /// Whether an idle pooled connection is still usable: the backend has not closed
    /// it (Tomcat's connectionTimeout, a firewall) and sent nothing unasked. Checked
    /// without waiting, before a request is risked on it.
    pub fn looks_alive(&mut self) -> bool {
        if !self.clean || !self.read_buf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}
