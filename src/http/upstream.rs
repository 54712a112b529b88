//! One request to an HTTP member (`type=http`): the client's request rewritten for a backend behind a proxy (hop-by-hop headers out, `X-Forwarded-For/-Proto/-Host` in), its body streamed over the member's keep-alive connection, and the response relayed back, telling the attempt loop how far it got exactly as the AJP exchange does.
//!
//! The attempt loop ([`super::forward::forward`]) decides retries from the [`Stage`]
//! reported here: nothing written (`NotSent`), the request written with at most the
//! prefetched piece of the body, which jkd still holds (`Sent`), more of the body read
//! from the client (`BodyStreamed`: never sent again), the head received (`Head`).

use std::io;
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::body::IncomingSource;
use super::forward::{Traffic, hop_by_hop};
use crate::ajp::conn::ConnError;
use crate::ajp::exchange::{Failure, FailureKind, RequestBody, Stage};
use crate::ajp::pool::AcquireError;
use crate::runtime::ProxyBody;
use crate::runtime::body::ChannelBody;
use crate::runtime::http_pool::{HttpLease, UpstreamBody};

/// The largest piece of the client's body handed to hyper at once.
const PIECE: usize = 64 * 1024;

/// A response body announced at most this long, to a request without a body to
/// stream, is read whole before the response is handed on: no relay task, no
/// channel, one write to the client (as AJP responses that arrive whole with their
/// head).
const INLINE_BODY: u64 = 64 * 1024;

/// How long jkd waits for the task feeding the body to give it back after the
/// backend failed: it only has to notice that hyper dropped its end.
const RECLAIM: Duration = Duration::from_secs(1);

/// Who the client is and how it came, for the `X-Forwarded-*` headers.
#[derive(Clone, Copy, Debug)]
pub struct Forwarded {
    /// The TCP peer (appended to `X-Forwarded-For`, as a proxy does).
    pub peer: IpAddr,
    /// The client reached jkd (or the trusted proxy before it) over TLS.
    pub secure: bool,
}

/// The headers an HTTP member receives for `parts`: the client's, less what belongs
/// to one connection (RFC 9110 §7.6.1), with the body framed as jkd frames it
/// (`length`: Content-Length, `None`: chunked) and the proxy's `X-Forwarded-*`.
/// `Host` stays as the client sent it (from the authority for HTTP/2).
pub fn upstream_headers(
    parts: &http::request::Parts,
    who: Forwarded,
    length: Option<u64>,
) -> HeaderMap {
    let listed: Vec<String> = parts
        .headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
        .collect();
    let authority = parts.uri.authority().map(|a| a.as_str());
    let mut headers = HeaderMap::with_capacity(parts.headers.len() + 4);
    let mut chain: Vec<u8> = Vec::new();
    let mut sent_length = false;
    for (name, value) in &parts.headers {
        if hop_by_hop(name) || *name == TRANSFER_ENCODING {
            continue;
        }
        if *name == CONTENT_LENGTH {
            sent_length = true;
            continue;
        }
        if *name == HOST && authority.is_some() {
            continue;
        }
        // Host is who the request is for: a Connection list cannot remove it.
        if *name != HOST && listed.iter().any(|l| l == name.as_str()) {
            continue;
        }
        match name.as_str() {
            "x-forwarded-for" => {
                if !chain.is_empty() {
                    chain.extend_from_slice(b", ");
                }
                chain.extend_from_slice(value.as_bytes());
                continue;
            }
            // jkd says these itself, below.
            "x-forwarded-proto" | "x-forwarded-host" => continue,
            // jkd answered it to the client (hyper sends 100 Continue when the body
            // is first read); the member gets the body without being asked.
            "expect" => continue,
            _ => {}
        }
        headers.append(name.clone(), value.clone());
    }
    if let Some(a) = authority
        && let Ok(v) = HeaderValue::from_str(a)
    {
        headers.insert(HOST, v);
    }
    // As nginx's $proxy_add_x_forwarded_for: the chain the client brought, then the
    // peer; the application's own proxy rules decide which entries to believe.
    if !chain.is_empty() {
        chain.extend_from_slice(b", ");
    }
    chain.extend_from_slice(who.peer.to_string().as_bytes());
    if let Ok(v) = HeaderValue::from_bytes(&chain) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert(
        "x-forwarded-proto",
        HeaderValue::from_static(if who.secure { "https" } else { "http" }),
    );
    if let Some(host) = headers.get(HOST).cloned() {
        headers.insert("x-forwarded-host", host);
    }
    match length {
        // A body, or an empty one the client announced (a POST with Content-Length: 0).
        Some(n) if n > 0 || sent_length => {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
        _ => {}
    }
    headers
}

/// The client's response head from the member's: its status and headers, less what
/// belongs to the member's connection (hyper frames the client's itself).
pub fn response_head(from: &http::response::Parts) -> (StatusCode, HeaderMap) {
    let listed: Vec<String> = from
        .headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
        .collect();
    let mut headers = HeaderMap::with_capacity(from.headers.len());
    for (name, value) in &from.headers {
        if hop_by_hop(name)
            || *name == TRANSFER_ENCODING
            || listed.iter().any(|l| l == name.as_str())
        {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    (from.status, headers)
}

/// The task feeding the request body to hyper; it owns the body and gives it back
/// when done, with the client's failure if reading it failed.
type Feeder = JoinHandle<(RequestBody<IncomingSource>, Option<io::Error>)>;

/// A request whose response head arrived.
pub struct Sent {
    response: Response<Incoming>,
    lease: HttpLease,
    feeder: Option<Feeder>,
    /// The body of a request that has none to stream, kept for a retry.
    kept: Option<RequestBody<IncomingSource>>,
}

/// A request that failed before its response head: how far it got, and the body
/// when it can still be sent again whole.
pub struct Failed {
    pub failure: Failure,
    pub body: Option<RequestBody<IncomingSource>>,
}

impl Sent {
    pub fn status(&self) -> u16 {
        self.response.status().as_u16()
    }

    /// The values of the answer's `Set-Cookie` headers.
    pub fn set_cookies(&self) -> impl Iterator<Item = &[u8]> {
        self.response
            .headers()
            .get_all(http::header::SET_COOKIE)
            .iter()
            .map(|v| v.as_bytes())
    }

    /// Gives the answer up (a `fail_on_status` code): the connection is closed and the
    /// body handed back when a retry can still send it whole.
    pub async fn abandon(self) -> Option<RequestBody<IncomingSource>> {
        let Sent {
            response,
            lease,
            feeder,
            kept,
        } = self;
        drop(response);
        lease.close();
        reclaim(feeder).await.0.or(kept)
    }
}

/// Takes the body back from its feeder once hyper let go of it: `None` when it was
/// partly read from the client (it cannot be sent whole again) or the feeder did not
/// finish in time.
async fn reclaim(
    feeder: Option<Feeder>,
) -> (Option<RequestBody<IncomingSource>>, Option<io::Error>) {
    let Some(mut feeder) = feeder else {
        return (None, None);
    };
    match tokio::time::timeout(RECLAIM, &mut feeder).await {
        Ok(Ok((body, client_error))) => (body.replayable().then_some(body), client_error),
        _ => {
            feeder.abort();
            (None, None)
        }
    }
}

/// Feeds the body to hyper: the prefetched piece, then the client's. A client
/// failure goes to hyper as an error, which aborts the request on the member.
async fn feed(
    mut body: RequestBody<IncomingSource>,
    tx: mpsc::Sender<io::Result<Bytes>>,
) -> (RequestBody<IncomingSource>, Option<io::Error>) {
    loop {
        match body.next_streamed(PIECE).await {
            Ok(Some(piece)) => {
                if tx.send(Ok(piece)).await.is_err() {
                    return (body, None);
                }
            }
            Ok(None) => return (body, None),
            Err(e) => {
                let _ = tx.send(Err(io::Error::new(e.kind(), e.to_string()))).await;
                return (body, Some(e));
            }
        }
    }
}

fn backend(e: ConnError, stage: Stage) -> Failure {
    Failure {
        kind: FailureKind::Backend(e),
        stage,
    }
}

/// A hyper error as the connection error it stands for.
fn conn_error(e: hyper::Error) -> ConnError {
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        ConnError::Closed
    } else {
        ConnError::Io(io::Error::other(e))
    }
}

/// Sends the request on `lease` and waits for the response head (at most `reply`
/// when set). `head` is the request without its body, as [`upstream_headers`] shaped
/// it; `idempotent`: the request may be sent twice (its method says so).
///
/// A kept-alive connection the member closed while it was idle is not the member's
/// failure: a request hyper never wrote, or one without a body that may be sent twice
/// and got no byte of an answer, goes once more on a fresh connection.
pub async fn send(
    mut lease: HttpLease,
    head: http::request::Parts,
    length: Option<u64>,
    mut body: RequestBody<IncomingSource>,
    reply: Option<Duration>,
    idempotent: bool,
) -> Result<Sent, Failed> {
    body.rewind();
    // Without a feeder the body stays here, whole (there is none to read).
    let (upstream_body, feeder, mut kept) = if length == Some(0) {
        (UpstreamBody::empty(), None, Some(body))
    } else {
        let (tx, rx) = mpsc::channel(4);
        let feeder: Feeder = tokio::spawn(feed(body, tx));
        (UpstreamBody::channel(rx, length), Some(feeder), None)
    };
    // What a resend on a fresh connection needs: only a bodiless request on a reused
    // connection is rebuilt (copied only then).
    let again = (feeder.is_none() && idempotent && !lease.fresh)
        .then(|| (head.method.clone(), head.uri.clone(), head.headers.clone()));
    let mut request = Request::from_parts(head, upstream_body);
    let mut retried_stale = false;
    let response = loop {
        let sending = lease.sender.try_send_request(request);
        let answer = match reply {
            Some(t) => match tokio::time::timeout(t, sending).await {
                Ok(a) => a,
                Err(_) => {
                    // Dropping the request future closes the connection (hyper).
                    lease.close();
                    return Err(failed(ConnError::Timeout, None, feeder, kept.take()).await);
                }
            },
            None => sending.await,
        };
        let mut e = match answer {
            Ok(r) => break r,
            Err(e) => e,
        };
        let unsent = e.take_message();
        let was_unsent = unsent.is_some();
        let error = e.into_error();
        let resend = match unsent {
            Some(r) => Some(r),
            // Closed before any byte of an answer.
            None if error.is_incomplete_message() || error.is_canceled() => {
                again.as_ref().map(|(method, uri, headers)| {
                    let mut r = Request::new(UpstreamBody::empty());
                    *r.method_mut() = method.clone();
                    *r.uri_mut() = uri.clone();
                    *r.headers_mut() = headers.clone();
                    r
                })
            }
            None => None,
        };
        if !lease.fresh
            && !retried_stale
            && let Some(resend) = resend
        {
            retried_stale = true;
            match lease.reconnect().await {
                Ok(()) => {
                    request = resend;
                    continue;
                }
                // The member refuses connections now: that is its failure (it goes
                // to error, as for an AJP connect).
                Err(refused) => {
                    let why = match refused {
                        AcquireError::Connect(c) => c,
                        other => ConnError::Io(io::Error::other(other.to_string())),
                    };
                    lease.close();
                    return Err(failed(why, Some(Stage::NotSent), feeder, kept.take()).await);
                }
            }
        }
        lease.close();
        let stage = was_unsent.then_some(Stage::NotSent);
        return Err(failed(conn_error(error), stage, feeder, kept.take()).await);
    };
    Ok(Sent {
        response,
        lease,
        feeder,
        kept,
    })
}

/// The failure of a request that got no answer, with the body taken back when it can
/// be sent whole again. Its stage: `stage` when known, else `Sent` while jkd still
/// holds the whole body and `BodyStreamed` once part of it came from the client; a
/// client whose body broke off is the client's failure.
async fn failed(
    error: ConnError,
    stage: Option<Stage>,
    feeder: Option<Feeder>,
    kept: Option<RequestBody<IncomingSource>>,
) -> Failed {
    let (body, client_error) = reclaim(feeder).await;
    if let Some(c) = client_error {
        // The member saw an aborted request.
        return Failed {
            failure: Failure {
                kind: FailureKind::Client(c),
                stage: Stage::BodyStreamed,
            },
            body: None,
        };
    }
    let body = body.or(kept);
    let stage = stage.unwrap_or(if body.is_some() {
        Stage::Sent
    } else {
        Stage::BodyStreamed
    });
    Failed {
        failure: backend(error, stage),
        body,
    }
}

/// The client's response: the head now, the body relayed by a task that waits at most
/// `reply` for each piece from the member and `client` for the client to take it,
/// then gives the connection back and tells `done` how it ended.
pub async fn respond(
    sent: Sent,
    reply: Option<Duration>,
    client: Duration,
    cookie: Option<HeaderValue>,
    done: impl FnOnce(Result<(), Failure>, Traffic) + Send + 'static,
) -> Response<ProxyBody> {
    let Sent {
        response,
        lease,
        feeder,
        ..
    } = sent;
    let (parts, mut incoming) = response.into_parts();
    let (status, mut headers) = response_head(&parts);
    if let Some(c) = cookie {
        headers.append(http::header::SET_COOKIE, c);
    }
    let small = incoming
        .size_hint()
        .exact()
        .is_some_and(|n| n <= INLINE_BODY);
    if small && feeder.is_none() {
        let body = read_whole(&mut incoming, reply).await;
        let read = body.as_ref().map_or(0, |pieces| {
            pieces.iter().map(|p| p.len() as u64).sum::<u64>()
        });
        let body = match body {
            Ok(pieces) => {
                lease.release(true).await;
                done(Ok(()), Traffic { sent: 0, read });
                whole_body(pieces)
            }
            Err(f) => {
                // As when relaying: the head goes out and the body breaks off.
                let (tx, rx) = mpsc::channel(1);
                let _ = tx.try_send(Err(io::Error::other(f.to_string())));
                lease.close();
                done(Err(f), Traffic { sent: 0, read });
                ProxyBody::Streamed(ChannelBody::new(rx))
            }
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = status;
        *resp.headers_mut() = headers;
        return resp;
    }
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut read: u64 = 0;
        let mut stage = Stage::Head;
        let result = loop {
            // A client that went away is noticed while the member is still working,
            // not only at the next piece: the member's busy count and its
            // connection are given back at once.
            let next = async {
                match reply {
                    Some(t) => tokio::time::timeout(t, incoming.frame()).await.ok(),
                    None => Some(incoming.frame().await),
                }
            };
            let frame = tokio::select! {
                f = next => match f {
                    Some(f) => f,
                    None => break Err(backend(ConnError::Timeout, stage)),
                },
                () = tx.closed() => break Err(Failure {
                    kind: FailureKind::ClientGone,
                    stage,
                }),
            };
            match frame {
                None => break Ok(()),
                Some(Err(e)) => break Err(backend(conn_error(e), stage)),
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        // Trailers: not relayed (AJP has none either).
                        continue;
                    };
                    if data.is_empty() {
                        continue;
                    }
                    read += data.len() as u64;
                    stage = Stage::BodyRelayed;
                    let delivered = tokio::time::timeout(client, tx.send(Ok(data))).await;
                    if !matches!(delivered, Ok(Ok(()))) {
                        break Err(Failure {
                            kind: FailureKind::ClientGone,
                            stage,
                        });
                    }
                }
            }
        };
        let sent_bytes =
            |body: &Option<RequestBody<IncomingSource>>| body.as_ref().map_or(0, |b| b.sent);
        match result {
            Ok(()) => {
                // The client's response ends first: hyper may then keep its
                // connection for the next request.
                drop(tx);
                // The connection is reusable once the whole body went out (hyper
                // also waits for that before it is ready again).
                let (body, fed_whole) = match feeder {
                    Some(mut f) => match tokio::time::timeout(RECLAIM, &mut f).await {
                        Ok(Ok((b, client_error))) => (Some(b), client_error.is_none()),
                        _ => {
                            f.abort();
                            (None, false)
                        }
                    },
                    None => (None, true),
                };
                let traffic = Traffic {
                    sent: sent_bytes(&body),
                    read,
                };
                lease.release(fed_whole).await;
                done(Ok(()), traffic);
            }
            Err(f) => {
                let _ = tx.try_send(Err(io::Error::other(f.to_string())));
                lease.close();
                if let Some(feeder) = feeder {
                    feeder.abort();
                }
                done(Err(f), Traffic { sent: 0, read });
            }
        }
    });
    let mut resp = Response::new(ProxyBody::Streamed(ChannelBody::new(rx)));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// The whole body of a small response, each piece waited for at most `reply`.
async fn read_whole(
    incoming: &mut Incoming,
    reply: Option<Duration>,
) -> Result<Vec<Bytes>, Failure> {
    let mut pieces = Vec::new();
    loop {
        let next = match reply {
            Some(t) => tokio::time::timeout(t, incoming.frame()).await.ok(),
            None => Some(incoming.frame().await),
        };
        match next {
            None => return Err(backend(ConnError::Timeout, Stage::Head)),
            Some(None) => return Ok(pieces),
            Some(Some(Err(e))) => return Err(backend(conn_error(e), Stage::Head)),
            Some(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data()
                    && !data.is_empty()
                {
                    pieces.push(data);
                }
            }
        }
    }
}

/// A response body of the pieces read: as they are when few, else joined into one.
fn whole_body(pieces: Vec<Bytes>) -> ProxyBody {
    if pieces.len() <= crate::ajp::response::MAX_BUFFERED_CHUNKS {
        return ProxyBody::pieces(pieces);
    }
    let mut joined = bytes::BytesMut::with_capacity(pieces.iter().map(Bytes::len).sum());
    for p in &pieces {
        joined.extend_from_slice(p);
    }
    ProxyBody::full(joined.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)], target: &str) -> http::request::Parts {
        let mut req = Request::builder().uri(target);
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        match req.body(()) {
            Ok(r) => r.into_parts().0,
            Err(e) => panic!("bad test request: {e}"),
        }
    }

    fn who(secure: bool) -> Forwarded {
        Forwarded {
            peer: IpAddr::from([192, 0, 2, 7]),
            secure,
        }
    }

    fn get<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
        h.get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn hop_by_hop_headers_stay_with_the_client_connection() {
        let p = parts(
            &[
                ("Host", "shop.example"),
                ("Connection", "keep-alive, X-Private"),
                ("Keep-Alive", "timeout=5"),
                ("TE", "trailers"),
                ("Trailer", "X-Sum"),
                ("Upgrade", "h2c"),
                ("Proxy-Connection", "keep-alive"),
                ("Transfer-Encoding", "chunked"),
                ("X-Private", "secret"),
                ("X-Request-Id", "jkd-1f"),
                ("Cookie", "JSESSIONID=abc.node2"),
                ("Expect", "100-continue"),
            ],
            "/app/x?y=1",
        );
        let h = upstream_headers(&p, who(false), None);
        for gone in [
            "connection",
            "keep-alive",
            "te",
            "trailer",
            "upgrade",
            "proxy-connection",
            "transfer-encoding",
            "x-private",
            "content-length",
            "expect",
        ] {
            assert!(h.get(gone).is_none(), "{gone} forwarded: {h:?}");
        }
        assert_eq!(get(&h, "host"), Some("shop.example"));
        assert_eq!(get(&h, "x-request-id"), Some("jkd-1f"));
        assert_eq!(get(&h, "cookie"), Some("JSESSIONID=abc.node2"));
    }

    #[test]
    fn forwarded_headers_name_the_client_and_how_it_came() {
        let p = parts(
            &[
                ("Host", "shop.example:8443"),
                ("X-Forwarded-For", "203.0.113.1"),
                ("X-Forwarded-For", "10.0.0.2"),
                ("X-Forwarded-Proto", "gopher"),
                ("X-Forwarded-Host", "evil.example"),
            ],
            "/",
        );
        let h = upstream_headers(&p, who(true), Some(0));
        assert_eq!(
            get(&h, "x-forwarded-for"),
            Some("203.0.113.1, 10.0.0.2, 192.0.2.7")
        );
        assert_eq!(get(&h, "x-forwarded-proto"), Some("https"));
        assert_eq!(get(&h, "x-forwarded-host"), Some("shop.example:8443"));
        assert_eq!(h.get_all("x-forwarded-proto").iter().count(), 1);
        // A GET without a body gets no Content-Length.
        assert!(h.get("content-length").is_none());
        let plain = upstream_headers(&parts(&[("Host", "a")], "/"), who(false), Some(0));
        assert_eq!(get(&plain, "x-forwarded-for"), Some("192.0.2.7"));
        assert_eq!(get(&plain, "x-forwarded-proto"), Some("http"));
    }

    #[test]
    fn the_body_is_framed_as_jkd_reads_it() {
        let p = parts(&[("Host", "a"), ("Content-Length", "12")], "/up");
        let h = upstream_headers(&p, who(false), Some(12));
        assert_eq!(get(&h, "content-length"), Some("12"));
        let empty_post = parts(&[("Host", "a"), ("Content-Length", "0")], "/up");
        let h = upstream_headers(&empty_post, who(false), Some(0));
        assert_eq!(get(&h, "content-length"), Some("0"));
        // Chunked from the client: hyper chunks it again, no length.
        let chunked = parts(&[("Host", "a"), ("Transfer-Encoding", "chunked")], "/up");
        let h = upstream_headers(&chunked, who(false), None);
        assert!(h.get("content-length").is_none());
        assert!(h.get("transfer-encoding").is_none());
    }

    #[test]
    fn the_absolute_form_authority_is_the_host() {
        let p = parts(&[("Host", "wrong.example")], "http://right.example/y");
        let h = upstream_headers(&p, who(false), Some(0));
        assert_eq!(get(&h, "host"), Some("right.example"));
        assert_eq!(get(&h, "x-forwarded-host"), Some("right.example"));
        assert_eq!(h.get_all("host").iter().count(), 1);
    }

    #[test]
    fn the_members_connection_headers_are_not_relayed() {
        let resp = Response::builder()
            .status(201)
            .header("Connection", "close, X-Hop")
            .header("Keep-Alive", "timeout=20")
            .header("Transfer-Encoding", "chunked")
            .header("X-Hop", "1")
            .header("Set-Cookie", "JSESSIONID=abc.node2; Path=/")
            .header("Content-Length", "5")
            .body(());
        let (parts, ()) = match resp {
            Ok(r) => r.into_parts(),
            Err(e) => panic!("bad test response: {e}"),
        };
        let (status, h) = response_head(&parts);
        assert_eq!(status, StatusCode::CREATED);
        for gone in ["connection", "keep-alive", "transfer-encoding", "x-hop"] {
            assert!(h.get(gone).is_none(), "{gone} relayed: {h:?}");
        }
        assert_eq!(get(&h, "set-cookie"), Some("JSESSIONID=abc.node2; Path=/"));
        assert_eq!(get(&h, "content-length"), Some("5"));
    }
}
