//! One request over one AJP connection: sends the FORWARD_REQUEST and the body as Tomcat asks for it, reads the response head, then relays the body, reporting exactly how far it got.

use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::conn::{ConnError, Connection};
use super::request::{END_OF_BODY_PACKET, encode_body_chunk, max_body_chunk_len};
use super::response::{ContainerMessage, parse_container_message};

/// The request body as the exchange reads it: from the client, on demand.
pub trait BodySource: Send {
    /// At most `max` more bytes of the body; `Ok(None)` at its end.
    fn next_chunk(&mut self, max: usize) -> impl Future<Output = io::Result<Option<Bytes>>> + Send;
}

/// The body of a request that has none (jkd's own requests: health checks).
pub struct NoBody;

impl BodySource for NoBody {
    async fn next_chunk(&mut self, _max: usize) -> io::Result<Option<Bytes>> {
        Ok(None)
    }
}

/// How far an exchange got before it failed; decides whether a retry is safe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Nothing reached the backend.
    NotSent,
    /// The request (and at most the first body chunk, which is kept for a replay)
    /// was sent; no response yet.
    Sent,
    /// The backend asked for more of the body and got it: the body cannot be replayed.
    BodyStreamed,
    /// The response head was received (and handed to the client).
    Head,
    /// Part of the response body was relayed.
    BodyRelayed,
}

#[derive(Debug)]
pub enum FailureKind {
    /// The backend failed (connect, i/o, timeout, protocol).
    Backend(ConnError),
    /// Reading the request body from the client failed.
    Client(io::Error),
    /// Writing the response to the client failed (the client went away).
    ClientGone,
}

#[derive(Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub stage: Stage,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            FailureKind::Backend(e) => write!(f, "{e} ({:?})", self.stage),
            FailureKind::Client(e) => write!(f, "reading the request body failed: {e}"),
            FailureKind::ClientGone => write!(f, "the client went away"),
        }
    }
}

/// The response status line and headers, copied out of the packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub reason: Option<Bytes>,
    pub headers: Vec<(Bytes, Bytes)>,
}

/// The request body with what is needed to send it again on another member.
#[derive(Debug)]
pub struct RequestBody<B> {
    source: B,
    /// The first piece, read before a backend connection is leased (see
    /// [`RequestBody::prefetch`]) and kept so that a retry can send it again. With a
    /// known length it goes unsolicited after the FORWARD_REQUEST, as mod_jk sends it;
    /// without one it answers the backend's first GET_BODY_CHUNK.
    first: Option<Bytes>,
    /// What this attempt has not yet handed out of `first` (unknown length only).
    first_left: Bytes,
    known_length: bool,
    /// The Content-Length, when known.
    length: Option<u64>,
    /// Bytes read from the client so far.
    taken: u64,
    has_body: bool,
    /// Set once a chunk beyond `first` was read from the client.
    streamed: bool,
    ended: bool,
    /// Bytes of body sent to the backend, this attempt.
    pub sent: u64,
}

/// The client's body ended before the length it announced.
fn short_body(taken: u64, length: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the client's body ended after {taken} of its {length} bytes"),
    )
}

impl<B: BodySource> RequestBody<B> {
    /// `length`: the Content-Length, `None` for a chunked body.
    pub fn new(source: B, length: Option<u64>) -> Self {
        RequestBody {
            source,
            first: None,
            first_left: Bytes::new(),
            known_length: length.is_some(),
            length,
            taken: 0,
            has_body: length != Some(0),
            streamed: false,
            ended: length == Some(0),
            sent: 0,
        }
    }

    /// Whether the whole body was read from the client (nothing is left to drain).
    pub fn fully_read(&self) -> bool {
        self.ended || self.length.is_some_and(|l| self.taken >= l)
    }

    /// Whether a new attempt can still send the whole body.
    pub fn replayable(&self) -> bool {
        !self.streamed
    }

    /// The next piece from the client, at most `max` bytes; `Ok(None)` at the end. A
    /// body that ends before its Content-Length is an error, never a short body.
    async fn read_source(&mut self, max: usize) -> io::Result<Option<Bytes>> {
        let left = self.length.map(|l| l.saturating_sub(self.taken));
        if left == Some(0) {
            self.ended = true;
            return Ok(None);
        }
        let max = left.map_or(max, |l| max.min(usize::try_from(l).unwrap_or(max)));
        match self.source.next_chunk(max).await? {
            Some(c) if !c.is_empty() => {
                self.taken += c.len() as u64;
                Ok(Some(c))
            }
            _ => match self.length {
                Some(l) if self.taken < l => Err(short_body(self.taken, l)),
                _ => {
                    self.ended = true;
                    Ok(None)
                }
            },
        }
    }

    /// Reads the first piece of the body (at most `max` bytes: a whole body that fits
    /// one AJP packet) before any backend connection is taken for it, so a client that
    /// announces a body and sends nothing holds no backend connection. Does nothing
    /// for a request without a body or when the piece is already in.
    pub async fn prefetch(&mut self, max: usize) -> io::Result<()> {
        if self.has_body
            && self.first.is_none()
            && !self.ended
            && !self.streamed
            && let Some(c) = self.read_source(max).await?
        {
            self.first = Some(c);
        }
        Ok(())
    }

    /// Starts an attempt on a backend that takes the body as one stream (an HTTP
    /// member): the prefetched piece is handed out again first.
    pub fn rewind(&mut self) {
        self.sent = 0;
        self.first_left = self.first.clone().unwrap_or_default();
    }

    /// The next piece of a streamed attempt (see [`RequestBody::rewind`]): what is
    /// left of the prefetched piece, then the client's body; `Ok(None)` at its end. A
    /// piece read from the client makes the body unreplayable, as a GET_BODY_CHUNK
    /// answered from the client does.
    pub async fn next_streamed(&mut self, max: usize) -> io::Result<Option<Bytes>> {
        let piece = if !self.first_left.is_empty() {
            let n = self.first_left.len().min(max);
            Some(self.first_left.split_to(n))
        } else if self.ended {
            None
        } else {
            let read = self.read_source(max).await?;
            if read.is_some() {
                self.streamed = true;
            }
            read
        };
        if let Some(p) = &piece {
            self.sent += p.len() as u64;
        }
        Ok(piece)
    }

    /// Whether the client's body was all read by the prefetch (a retry resends it
    /// whole from memory, nothing more is read).
    pub fn held_whole(&self) -> bool {
        self.fully_read() && !self.streamed
    }

    /// Reads and discards what the backend did not read of the body, up to `limit`
    /// bytes, as mod_jk does after the response: the client connection can then carry
    /// its next request. Returns false when more than `limit` was left or reading failed.
    pub async fn discard_rest(&mut self, limit: u64) -> bool {
        let mut left = limit;
        while !self.ended {
            match self.read_source(64 * 1024).await {
                Ok(Some(c)) => match left.checked_sub(c.len() as u64) {
                    Some(l) => left = l,
                    None => return false,
                },
                Ok(None) => {}
                Err(_) => return false,
            }
        }
        true
    }
}

fn backend(stage: Stage) -> impl Fn(ConnError) -> Failure {
    move |e| Failure {
        kind: FailureKind::Backend(e),
        stage,
    }
}

/// Sends one body chunk packet (an empty one at the end of the body).
async fn send_chunk(
    conn: &mut Connection,
    chunk: Option<&Bytes>,
    limit: Option<Duration>,
) -> Result<(), ConnError> {
    match chunk {
        Some(c) if !c.is_empty() => {
            let mut out = BytesMut::with_capacity(c.len() + 6);
            encode_body_chunk(c, conn.max_packet_size(), &mut out)
                .map_err(|_| ConnError::Unexpected("body chunk too large"))?;
            conn.send(&out, limit).await
        }
        _ => conn.send(&END_OF_BODY_PACKET, limit).await,
    }
}

/// Answers a GET_BODY_CHUNK: the next piece of the client's body, or the empty
/// packet at its end (Tomcat also asks once more after the last byte).
///
/// When the client's body fails (a malformed chunk, a timeout, a connection closed
/// before the announced length), nothing more is sent: no end-of-body packet, which
/// would tell the backend that the part it got is the whole body. The caller closes
/// the connection, so the application sees a read error, as it does behind mod_jk.
async fn answer_body_request<B: BodySource>(
    conn: &mut Connection,
    body: &mut RequestBody<B>,
    requested: u16,
    stage: Stage,
    limit: Option<Duration>,
) -> Result<Stage, Failure> {
    let max = usize::from(requested).min(max_body_chunk_len(conn.max_packet_size()));
    let mut from_client = false;
    let chunk = if max == 0 {
        None
    } else if !body.first_left.is_empty() {
        let n = body.first_left.len().min(max);
        Some(body.first_left.split_to(n))
    } else if body.ended {
        None
    } else {
        match body.read_source(max).await {
            Ok(c) => {
                from_client = c.is_some();
                c
            }
            Err(e) => {
                conn.clean = false;
                return Err(Failure {
                    kind: FailureKind::Client(e),
                    stage: stage.max(Stage::Sent),
                });
            }
        }
    };
    if from_client {
        body.streamed = true;
    }
    let stage = match &chunk {
        Some(c) => {
            body.sent += c.len() as u64;
            if from_client {
                stage.max(Stage::BodyStreamed)
            } else {
                stage
            }
        }
        None => stage,
    };
    send_chunk(conn, chunk.as_ref(), limit)
        .await
        .map_err(backend(stage))?;
    Ok(stage)
}

/// Sends the request and reads until the response head arrives.
pub async fn send_request<B: BodySource>(
    conn: &mut Connection,
    forward_request: &[u8],
    body: &mut RequestBody<B>,
    reply_timeout: Option<Duration>,
    socket_timeout: Option<Duration>,
) -> Result<Head, Failure> {
    body.sent = 0;
    if let Err(e) = body
        .prefetch(max_body_chunk_len(conn.max_packet_size()))
        .await
    {
        return Err(Failure {
            kind: FailureKind::Client(e),
            stage: Stage::NotSent,
        });
    }
    body.first_left = Bytes::new();
    match body.first.clone() {
        // Unsolicited only after a FORWARD_REQUEST that announced the length (the
        // caller frames both from the same decision). Both go in one write: one
        // syscall, and a backend that closed before reading sees none of it (see
        // `closed_before_reading` below).
        Some(first) if body.known_length => {
            let mut out = BytesMut::with_capacity(forward_request.len() + first.len() + 6);
            out.extend_from_slice(forward_request);
            encode_body_chunk(&first, conn.max_packet_size(), &mut out).map_err(|_| {
                backend(Stage::NotSent)(ConnError::Unexpected("body chunk too large"))
            })?;
            conn.send(&out, socket_timeout)
                .await
                .map_err(backend(Stage::NotSent))?;
            body.sent += first.len() as u64;
        }
        first => {
            conn.send(forward_request, socket_timeout)
                .await
                .map_err(backend(Stage::NotSent))?;
            if let Some(first) = first {
                body.first_left = first;
            }
        }
    }
    let mut stage = Stage::Sent;
    let mut heard = false;
    loop {
        let payload = match conn.read_packet(reply_timeout).await {
            Ok(p) => p,
            // A backend that closed the connection before our request reached it (a
            // Tomcat pausing its connector on a graceful stop, right after answering
            // CPONG) never read it: the request may go elsewhere, POST included.
            Err(e) if !heard && stage == Stage::Sent && conn.closed_before_reading(&e).await => {
                return Err(backend(Stage::NotSent)(e));
            }
            Err(e) => return Err(backend(stage)(e)),
        };
        heard = true;
        let message = parse_container_message(&payload)
            .map_err(|e| backend(stage)(ConnError::Protocol(e)))?;
        match message {
            ContainerMessage::SendHeaders(h) => {
                return Ok(Head {
                    status: h.status,
                    reason: h.reason.map(|r| payload.slice_ref(r)),
                    headers: h
                        .headers()
                        .map(|(n, v)| (copy_of(&payload, n), payload.slice_ref(v)))
                        .collect(),
                });
            }
            ContainerMessage::GetBodyChunk { requested } => {
                stage = answer_body_request(conn, body, requested, stage, socket_timeout).await?;
            }
            // A flush or body before the headers: nothing to flush yet (mod_jk
            // ignores an empty one; a body chunk first means status 200 in httpd,
            // but Tomcat never does that).
            ContainerMessage::Flush => {}
            ContainerMessage::SendBodyChunk(_) => {
                return Err(backend(stage)(ConnError::Unexpected(
                    "response body before the response headers",
                )));
            }
            ContainerMessage::EndResponse { .. } => {
                return Err(backend(stage)(ConnError::Unexpected(
                    "end of response before the response headers",
                )));
            }
            ContainerMessage::CPong => {
                return Err(backend(stage)(ConnError::Unexpected(
                    "CPONG during a request",
                )));
            }
        }
    }
}

/// Header names may be static table entries rather than slices of the packet.
fn copy_of(payload: &Bytes, part: &[u8]) -> Bytes {
    let start = payload.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    if p >= start && p + part.len() <= start + payload.len() {
        payload.slice_ref(part)
    } else {
        Bytes::copy_from_slice(part)
    }
}

/// Relays the response body to `deliver` until END_RESPONSE; answers body requests
/// on the way. Returns whether the backend allows reusing the connection.
/// `deliver` returns false when the client is gone.
pub async fn relay_body<B, F, Fut>(
    conn: &mut Connection,
    body: &mut RequestBody<B>,
    reply_timeout: Option<Duration>,
    socket_timeout: Option<Duration>,
    mut deliver: F,
) -> Result<bool, Failure>
where
    B: BodySource,
    F: FnMut(Bytes) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut stage = Stage::Head;
    loop {
        let payload = conn
            .read_packet(reply_timeout)
            .await
            .map_err(backend(stage))?;
        let message = parse_container_message(&payload)
            .map_err(|e| backend(stage)(ConnError::Protocol(e)))?;
        match message {
            ContainerMessage::SendBodyChunk(data) => {
                let chunk = payload.slice_ref(data);
                stage = Stage::BodyRelayed;
                if !deliver(chunk).await {
                    return Err(Failure {
                        kind: FailureKind::ClientGone,
                        stage,
                    });
                }
            }
            ContainerMessage::Flush => {}
            ContainerMessage::GetBodyChunk { requested } => {
                let s = answer_body_request(conn, body, requested, stage, socket_timeout).await?;
                stage = stage.max(s);
            }
            ContainerMessage::EndResponse { reuse } => {
                conn.clean = reuse;
                return Ok(reuse);
            }
            ContainerMessage::SendHeaders(_) => {
                return Err(backend(stage)(ConnError::Unexpected(
                    "a second set of response headers",
                )));
            }
            ContainerMessage::CPong => {
                return Err(backend(stage)(ConnError::Unexpected(
                    "CPONG during a request",
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// A backend that accepts one connection and runs `then` on it; returns a
    /// connection to it.
    async fn backend<F, Fut>(then: F) -> Connection
    where
        F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"));
        tokio::spawn(async move {
            if let Ok((s, _)) = listener.accept().await {
                then(s).await;
            }
        });
        Connection::connect(addr, None, None, 8192, false, None)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"))
    }

    const REQUEST: &[u8] = &[0x12, 0x34, 0x00, 0x01, 0x02];

    #[tokio::test]
    async fn a_backend_that_closed_before_the_request_arrived_never_read_it() {
        // A Tomcat pausing its connector: it closes the connection without reading.
        let mut conn = backend(|s| async move { drop(s) }).await;
        // Wait until its FIN is here, as when the request races the close.
        let _ = conn.stream.readable().await;
        let mut body = RequestBody::new(NoBody, Some(0));
        let failed = send_request(&mut conn, REQUEST, &mut body, None, None).await;
        match failed {
            Err(f) => assert_eq!(f.stage, Stage::NotSent, "{f}"),
            Ok(_) => panic!("a closed backend answered"),
        }
    }

    #[tokio::test]
    async fn a_backend_that_read_the_request_and_closed_may_have_run_it() {
        let mut conn = backend(|mut s| async move {
            let mut got = [0u8; REQUEST.len()];
            let _ = s.read_exact(&mut got).await;
            drop(s);
        })
        .await;
        let mut body = RequestBody::new(NoBody, Some(0));
        let failed = send_request(&mut conn, REQUEST, &mut body, None, None).await;
        match failed {
            Err(f) => assert_eq!(f.stage, Stage::Sent, "{f}"),
            Ok(_) => panic!("a closed backend answered"),
        }
    }
}
