//! Response compression on the way out (mod_deflate's and mod_brotli's job in httpd): which coding a response gets, its changed head, and the body compressed as it streams.
//!
//! The rules, in the order [`apply`] checks them: only a type of
//! [`Compression`](crate::config::compress::Compression) is concerned, and gets
//! `Vary: Accept-Encoding` whether it is compressed this time or not (so that caches
//! keep the variants apart); it is compressed unless the request is a HEAD, the
//! status has no body (1xx, 204, 304) or is a range (206, `Content-Range`), the
//! response already has a `Content-Encoding` other than `identity`,
//! `Cache-Control: no-transform` is on the
//! request or the response, its known length is below [`MIN_LENGTH`], or the client's
//! `Accept-Encoding` accepts neither `br` nor `gzip` (see [`negotiate`]).
//!
//! A compressed answer's ETag gets the coding as a suffix (`"x-gzip"`); so that a client
//! can revalidate it, [`revalidate_unsuffixed`] adds the backend's own tag to the
//! request's `If-None-Match` and [`apply`] suffixes the 304's tag again.
//!
//! The compressing body itself is [`CompressedBody`] (in `crate::runtime::compressed`,
//! beside the response body type it is a form of).

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use hyper::body::Body;

use crate::config::compress::{Codings, Compression};
use crate::runtime::ProxyBody;
pub use crate::runtime::compressed::{Coding, CompressedBody};

/// Responses whose length is known and below this many bytes go uncompressed: with a
/// response head of a few hundred bytes they already fit in one TCP segment
/// (1460 bytes of a 1500-byte Ethernet frame), so compressing them saves no packet
/// and no round trip, while it costs CPU, a gzip or brotli header and usually a
/// poorer ratio on so little text. 860 is the threshold CDNs have long used for the
/// same reason (Akamai's, among others). mod_deflate only skips answers that fit in
/// about the gzip framing itself (under 70 bytes or so), and only when it has them
/// whole.
pub const MIN_LENGTH: u64 = 860;

/// A q-value in thousandths (RFC 9110 §12.4.2: at most three decimals); `None` for a
/// malformed one.
fn qvalue(text: &str) -> Option<u16> {
    let text = text.trim();
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for i in 0..3 {
        let digit = frac.as_bytes().get(i).map_or(0, |b| u16::from(b - b'0'));
        thousandths = thousandths * 10 + digit;
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The coding to use for a client's `Accept-Encoding` values among `allowed`; `None`
/// for identity.
///
/// A coding is acceptable when it is listed with a q-value above 0, or not listed
/// while `*` is (with a q-value above 0). The highest q-value wins; on a tie `br`
/// does (smaller for text at mod_brotli's default quality than gzip at
/// mod_deflate's). No `Accept-Encoding` at all gets identity, as from mod_deflate
/// (RFC 9110 would allow any coding, but a client that sends none rarely decodes
/// one); an empty one, or one with a malformed q-value for a coding, refuses it.
/// `identity;q=0` with nothing else acceptable still gets identity: jkd does not
/// answer 406.
pub fn negotiate<'a>(
    accept_encoding: impl IntoIterator<Item = &'a HeaderValue>,
    allowed: Codings,
) -> Option<Coding> {
    let (mut br, mut gzip, mut star) = (None, None, None);
    for value in accept_encoding {
        let Ok(value) = value.to_str() else { continue };
        for element in value.split(',') {
            let mut parts = element.split(';');
            let coding = parts.next().unwrap_or("").trim();
            if coding.is_empty() {
                continue;
            }
            let mut q = Some(1000);
            for param in parts {
                if let Some((name, v)) = param.split_once('=')
                    && name.trim().eq_ignore_ascii_case("q")
                {
                    q = qvalue(v);
                }
            }
            let q = q.unwrap_or(0);
            let slot = if coding.eq_ignore_ascii_case("br") {
                &mut br
            } else if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                &mut gzip
            } else if coding == "*" {
                &mut star
            } else {
                continue;
            };
            // Listed twice: the better q-value counts.
            *slot = Some(slot.map_or(q, |old: u16| old.max(q)));
        }
    }
    let br = if allowed.br { br.or(star) } else { None }.unwrap_or(0);
    let gzip = if allowed.gzip { gzip.or(star) } else { None }.unwrap_or(0);
    if br > 0 && br >= gzip {
        Some(Coding::Brotli)
    } else if gzip > 0 {
        Some(Coding::Gzip)
    } else {
        None
    }
}

/// Whether the response is already encoded: a `Content-Encoding` with a coding other
/// than `identity` (or the `7bit`, `8bit`, `binary` that mod_negotiation and
/// mod_deflate also pass over, as some applications send them).
fn encoded(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .any(|t| {
            !t.is_empty()
                && !["identity", "7bit", "8bit", "binary"]
                    .iter()
                    .any(|n| t.eq_ignore_ascii_case(n.as_bytes()))
        })
}

/// Whether any `Cache-Control` value has the `no-transform` directive.
fn no_transform(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .any(|d| d.trim_ascii().eq_ignore_ascii_case(b"no-transform"))
}

/// Adds `Accept-Encoding` to the response's `Vary` (one field, joined with what was
/// there), unless it is listed already or `Vary: *` says everything varies.
fn add_vary(headers: &mut HeaderMap) {
    let listed = headers
        .get_all(header::VARY)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .any(|t| t == b"*" || t.eq_ignore_ascii_case(b"accept-encoding"));
    if listed {
        return;
    }
    let mut joined: Vec<u8> = Vec::new();
    for v in headers.get_all(header::VARY) {
        let v = v.as_bytes().trim_ascii();
        if !v.is_empty() {
            joined.extend_from_slice(v);
            joined.extend_from_slice(b", ");
        }
    }
    joined.extend_from_slice(b"Accept-Encoding");
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::VARY, v);
    }
}

/// The ETag of the compressed representation: the same tag with `-gzip` or `-br`
/// inside the quotes (httpd's `DeflateAlterETag AddSuffix`), so that a cache or a
/// client never takes one representation for the other; weakness is kept.
fn suffixed_etag(etag: &HeaderValue, coding: Coding) -> Option<HeaderValue> {
    let bytes = etag.as_bytes();
    let suffix = coding.token();
    let mut out = Vec::with_capacity(bytes.len() + suffix.len() + 1);
    match bytes.strip_suffix(b"\"") {
        Some(open) if open.contains(&b'"') => {
            out.extend_from_slice(open);
            out.push(b'-');
            out.extend_from_slice(suffix.as_bytes());
            out.push(b'"');
        }
        _ => {
            out.extend_from_slice(bytes);
            out.push(b'-');
            out.extend_from_slice(suffix.as_bytes());
        }
    }
    HeaderValue::from_bytes(&out).ok()
}

/// The response's length when it is known: `Content-Length`, else the body's exact
/// size.
fn known_length(resp: &Response<ProxyBody>) -> Option<u64> {
    resp.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .or_else(|| resp.body().size_hint().exact())
}

/// The coding this response gets, or `None` (with no change yet). `Some(None)` from
/// the outer option means the type is compressible (`Vary` is due) but this response
/// goes as it is.
fn decide(
    types: &Compression,
    request: &http::request::Parts,
    resp: &Response<ProxyBody>,
) -> Option<Option<Coding>> {
    let status = resp.status();
    if status.is_informational() || status == StatusCode::SWITCHING_PROTOCOLS {
        return None;
    }
    let allowed = types.codings_for(resp.headers().get(header::CONTENT_TYPE)?.as_bytes())?;
    let headers = resp.headers();
    let unchanged = request.method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status == StatusCode::PARTIAL_CONTENT
        || headers.contains_key(header::CONTENT_RANGE)
        || encoded(headers)
        || no_transform(headers)
        || no_transform(&request.headers)
        || known_length(resp).is_some_and(|n| n < MIN_LENGTH);
    if unchanged {
        return Some(None);
    }
    Some(negotiate(
        request.headers.get_all(header::ACCEPT_ENCODING),
        allowed,
    ))
}

/// The entity-tags of an `If-None-Match` or `ETag` value, each with its `W/` and
/// quotes, split at the commas outside quotes; `*` and stray text come as they are.
fn entity_tags(value: &[u8]) -> Vec<&[u8]> {
    let mut tags = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, b) in value.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                tags.push(value.get(start..i).unwrap_or_default().trim_ascii());
                start = i + 1;
            }
            _ => {}
        }
    }
    tags.push(value.get(start..).unwrap_or_default().trim_ascii());
    tags.retain(|t| !t.is_empty());
    tags
}

/// The opaque part of an entity-tag (weak comparison: `W/` does not count).
fn opaque(tag: &[u8]) -> &[u8] {
    tag.strip_prefix(b"W/").unwrap_or(tag)
}

/// Lets a client revalidate a compressed answer it holds. Its `If-None-Match` names
/// the suffixed tag jkd sent (`"x-gzip"`), which the backend never made, so it would
/// answer 200 every time (httpd's bug 45023, still in mod_deflate). To each such tag
/// the tag without the suffix is added (the suffixed one stays, in case the backend's
/// own tag looks like that), so that the backend can answer 304; [`apply`] then gives
/// the 304 the suffixed tag again when this request still gets that coding. Nothing is
/// done when jkd compresses nothing.
pub fn revalidate_unsuffixed(types: &Compression, headers: &mut HeaderMap) {
    if types.types.is_empty() || !headers.contains_key(header::IF_NONE_MATCH) {
        return;
    }
    // Only the tags of the coding this request gets: a client that holds the gzip copy
    // but would now be sent br (or nothing) must get the answer, not a 304 for a copy
    // it does not hold.
    let Some(coding) = negotiate(headers.get_all(header::ACCEPT_ENCODING), types.any()) else {
        return;
    };
    let suffix = format!("-{}\"", coding.token());
    let mut added: Vec<Vec<u8>> = Vec::new();
    let mut all: Vec<Vec<u8>> = Vec::new();
    for value in headers.get_all(header::IF_NONE_MATCH) {
        for tag in entity_tags(value.as_bytes()) {
            all.push(tag.to_vec());
            if let Some(stem) = tag.strip_suffix(suffix.as_bytes())
                && stem.contains(&b'"')
            {
                let mut plain = stem.to_vec();
                plain.push(b'"');
                added.push(plain);
            }
        }
    }
    added.retain(|t| !all.contains(t));
    if added.is_empty() {
        return;
    }
    let joined = all
        .into_iter()
        .chain(added)
        .collect::<Vec<_>>()
        .join(&b", "[..]);
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::IF_NONE_MATCH, v);
    }
}

/// For a 304: the coding whose suffixed tag the client holds, when this request would
/// get that coding again (so the 304 names the representation the client keeps).
fn revalidated_coding(
    types: &Compression,
    request: &http::request::Parts,
    resp: &Response<ProxyBody>,
) -> Option<Coding> {
    if types.types.is_empty() || no_transform(&request.headers) {
        return None;
    }
    let etag = resp.headers().get(header::ETAG)?;
    // A 304 seldom has a Content-Type: any coding a type is compressed with counts.
    let allowed = match resp.headers().get(header::CONTENT_TYPE) {
        Some(t) => types.codings_for(t.as_bytes())?,
        None => types.any(),
    };
    let coding = negotiate(request.headers.get_all(header::ACCEPT_ENCODING), allowed)?;
    let suffixed = suffixed_etag(etag, coding)?;
    let held = request
        .headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .flat_map(|v| entity_tags(v.as_bytes()))
        .any(|t| opaque(t) == opaque(suffixed.as_bytes()));
    held.then_some(coding)
}

/// Compresses the response when the rules (module docs) allow it; `Vary` is added to
/// every response of a compressible type.
pub fn apply(
    types: &Compression,
    request: &http::request::Parts,
    mut resp: Response<ProxyBody>,
) -> Response<ProxyBody> {
    if resp.status() == StatusCode::NOT_MODIFIED
        && let Some(coding) = revalidated_coding(types, request, &resp)
    {
        let headers = resp.headers_mut();
        add_vary(headers);
        if let Some(etag) = headers
            .get(header::ETAG)
            .and_then(|e| suffixed_etag(e, coding))
        {
            headers.insert(header::ETAG, etag);
        }
        return resp;
    }
    let Some(coding) = decide(types, request, &resp) else {
        return resp;
    };
    add_vary(resp.headers_mut());
    let Some(coding) = coding else {
        return resp;
    };
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(coding.token()),
    );
    // The compressed length is known only at the end: chunked (HTTP/1.1) or the
    // stream's end (HTTP/2) frames the body.
    headers.remove(header::CONTENT_LENGTH);
    // A digest of the uncompressed bytes would no longer be true (RFC 1864).
    headers.remove("content-md5");
    // Ranges are served of the uncompressed bytes only (a ranged request is never
    // compressed): a client resuming this download by its offsets would get the wrong
    // bytes, so it is not invited to.
    headers.remove(header::ACCEPT_RANGES);
    if let Some(etag) = headers
        .get(header::ETAG)
        .and_then(|e| suffixed_etag(e, coding))
    {
        headers.insert(header::ETAG, etag);
    }
    resp.map(|body| ProxyBody::Compressed(Box::new(CompressedBody::new(body, coding))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use std::io::Read;
    use std::io::{self, Write};

    fn ae(values: &[&'static str]) -> Vec<HeaderValue> {
        values.iter().map(|v| HeaderValue::from_static(v)).collect()
    }

    fn pick(values: &[&'static str]) -> Option<Coding> {
        negotiate(&ae(values), Codings::BOTH)
    }

    #[test]
    fn accept_encoding_picks_br_over_gzip_and_honours_q_values() {
        assert_eq!(pick(&["gzip, deflate, br"]), Some(Coding::Brotli));
        assert_eq!(pick(&["gzip"]), Some(Coding::Gzip));
        assert_eq!(pick(&["GZIP;Q=0.5"]), Some(Coding::Gzip));
        assert_eq!(pick(&["x-gzip"]), Some(Coding::Gzip));
        assert_eq!(pick(&["br;q=0, gzip"]), Some(Coding::Gzip));
        assert_eq!(pick(&["br;q=0.5, gzip;q=0.8"]), Some(Coding::Gzip));
        assert_eq!(pick(&["br;q=0.8, gzip;q=0.8"]), Some(Coding::Brotli));
        assert_eq!(pick(&["gzip;q=0", "br;q=0.000"]), None);
        assert_eq!(pick(&["gzip;q=0.001"]), Some(Coding::Gzip));
        // Split over two header lines.
        assert_eq!(pick(&["deflate", "br"]), Some(Coding::Brotli));
    }

    #[test]
    fn accept_encoding_edge_cases() {
        assert_eq!(pick(&[]), None, "no header: identity");
        assert_eq!(pick(&[""]), None, "empty: identity only");
        assert_eq!(pick(&["identity"]), None);
        assert_eq!(pick(&["identity;q=0"]), None, "no 406: identity anyway");
        assert_eq!(pick(&["identity;q=0, gzip"]), Some(Coding::Gzip));
        assert_eq!(pick(&["*"]), Some(Coding::Brotli));
        assert_eq!(pick(&["*;q=0"]), None);
        assert_eq!(pick(&["*;q=0, gzip"]), Some(Coding::Gzip));
        assert_eq!(pick(&["br;q=0, *"]), Some(Coding::Gzip));
        assert_eq!(pick(&["deflate, compress"]), None);
        // Malformed q-values refuse the coding rather than guess.
        assert_eq!(pick(&["gzip;q=2"]), None);
        assert_eq!(pick(&["gzip;q=0.5000"]), None);
        assert_eq!(pick(&["gzip;q=abc, br;q=1.0"]), Some(Coding::Brotli));
        assert_eq!(pick(&["gzip;q=1.001"]), None);
        // Only the codings configured for the type.
        let gzip_only = Codings {
            gzip: true,
            br: false,
        };
        assert_eq!(negotiate(&ae(&["br, gzip"]), gzip_only), Some(Coding::Gzip));
        assert_eq!(negotiate(&ae(&["br"]), gzip_only), None);
    }

    fn types() -> Compression {
        Compression::from_flags(&["text/plain".to_string(), "text/html".to_string()])
    }

    fn request(method: Method, headers: &[(&'static str, &'static str)]) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).uri("/x");
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn response(
        status: u16,
        headers: &[(&'static str, &'static str)],
        body: ProxyBody,
    ) -> Response<ProxyBody> {
        let mut b = Response::builder().status(status);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(body).unwrap()
    }

    fn text(n: usize) -> Bytes {
        Bytes::from(
            "All happy families are alike; each unhappy family is unhappy in its own way. "
                .repeat(n / 77 + 1)
                .into_bytes()
                .into_iter()
                .take(n)
                .collect::<Vec<u8>>(),
        )
    }

    async fn decoded(resp: Response<ProxyBody>) -> (http::response::Parts, Vec<u8>) {
        let (parts, body) = resp.into_parts();
        let raw = body.collect().await.unwrap().to_bytes();
        let mut out = Vec::new();
        match parts
            .headers
            .get(header::CONTENT_ENCODING)
            .map(|v| v.as_bytes())
        {
            Some(b"gzip") => {
                flate2::read::GzDecoder::new(&raw[..])
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Some(b"br") => {
                brotli::Decompressor::new(&raw[..], 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            None => out = raw.to_vec(),
            Some(other) => panic!("coding {other:?}"),
        }
        (parts, out)
    }

    #[tokio::test]
    async fn a_compressible_response_is_compressed_with_its_head_adjusted() {
        for (accept, coding, etag) in [
            ("gzip", "gzip", "W/\"abc-gzip\""),
            ("gzip, br", "br", "W/\"abc-br\""),
        ] {
            let body = text(5000);
            let resp = response(
                200,
                &[
                    ("content-type", "text/plain; charset=utf-8"),
                    ("content-length", "5000"),
                    ("etag", "W/\"abc\""),
                    ("vary", "Cookie"),
                    ("accept-ranges", "bytes"),
                    ("x-kept", "1"),
                ],
                ProxyBody::pieces([body.slice(..1000), body.slice(1000..)]),
            );
            let req = request(Method::GET, &[("accept-encoding", accept)]);
            let (parts, out) = decoded(apply(&types(), &req, resp)).await;
            assert_eq!(parts.headers["content-encoding"], coding);
            assert_eq!(parts.headers["vary"], "Cookie, Accept-Encoding");
            assert_eq!(parts.headers["etag"], etag);
            assert_eq!(parts.headers["x-kept"], "1");
            assert!(!parts.headers.contains_key("content-length"));
            assert!(!parts.headers.contains_key("accept-ranges"));
            assert_eq!(out, body);
        }
    }

    /// Runs `apply` and tells whether the body was compressed and the Vary it got.
    fn outcome(
        req: http::request::Parts,
        status: u16,
        headers: &[(&'static str, &'static str)],
        len: usize,
    ) -> (bool, Option<HeaderValue>) {
        let resp = response(status, headers, ProxyBody::full(text(len)));
        let out = apply(&types(), &req, resp);
        (
            out.headers().contains_key(header::CONTENT_ENCODING)
                && matches!(out.body(), ProxyBody::Compressed(_)),
            out.headers().get(header::VARY).cloned(),
        )
    }

    #[test]
    fn what_is_left_uncompressed() {
        let gzip = || request(Method::GET, &[("accept-encoding", "gzip, br")]);
        let plain = [("content-type", "text/plain")];
        let vary = Some(HeaderValue::from_static("Accept-Encoding"));
        assert_eq!(outcome(gzip(), 200, &plain, 2000), (true, vary.clone()));
        // Not the type: no Vary either.
        assert_eq!(
            outcome(gzip(), 200, &[("content-type", "image/png")], 2000),
            (false, None)
        );
        assert_eq!(outcome(gzip(), 200, &[], 2000), (false, None));
        // The type, but not this time: Vary all the same.
        type Case = (
            &'static str,
            http::request::Parts,
            u16,
            Vec<(&'static str, &'static str)>,
            usize,
        );
        let cases: Vec<Case> = vec![
            (
                "no Accept-Encoding",
                request(Method::GET, &[]),
                200,
                plain.to_vec(),
                2000,
            ),
            (
                "tiny",
                gzip(),
                200,
                plain.to_vec(),
                (MIN_LENGTH - 1) as usize,
            ),
            (
                "HEAD",
                request(Method::HEAD, &[("accept-encoding", "gzip")]),
                200,
                plain.to_vec(),
                2000,
            ),
            ("204", gzip(), 204, plain.to_vec(), 2000),
            ("304", gzip(), 304, plain.to_vec(), 2000),
            ("206", gzip(), 206, plain.to_vec(), 2000),
            (
                "Content-Range",
                gzip(),
                200,
                vec![
                    ("content-type", "text/plain"),
                    ("content-range", "bytes 0-1999/9000"),
                ],
                2000,
            ),
            (
                "encoded",
                gzip(),
                200,
                vec![
                    ("content-type", "text/plain"),
                    ("content-encoding", "gzip, identity"),
                ],
                2000,
            ),
            (
                "no-transform",
                gzip(),
                200,
                vec![
                    ("content-type", "text/plain"),
                    ("cache-control", "public, No-Transform"),
                ],
                2000,
            ),
            (
                "no-transform asked",
                request(
                    Method::GET,
                    &[
                        ("accept-encoding", "gzip"),
                        ("cache-control", "no-transform"),
                    ],
                ),
                200,
                plain.to_vec(),
                2000,
            ),
            (
                "identity;q=0",
                request(Method::GET, &[("accept-encoding", "identity;q=0")]),
                200,
                plain.to_vec(),
                2000,
            ),
        ];
        for (why, req, status, headers, len) in cases {
            assert_eq!(
                outcome(req, status, &headers, len),
                (false, vary.clone()),
                "{why}"
            );
        }
        // `identity` (alone or as a list of such) is no coding: replaced, as by
        // mod_deflate.
        for identity in ["identity", "Identity, 8bit"] {
            let resp = response(
                200,
                &[
                    ("content-type", "text/plain"),
                    ("content-encoding", identity),
                ],
                ProxyBody::full(text(2000)),
            );
            let out = apply(&types(), &gzip(), resp);
            assert_eq!(
                out.headers()
                    .get_all(header::CONTENT_ENCODING)
                    .iter()
                    .count(),
                1
            );
            assert_eq!(out.headers()[header::CONTENT_ENCODING], "br", "{identity}");
        }
        // Exactly the threshold is compressed; a stated length counts as known.
        assert!(outcome(gzip(), 200, &plain, MIN_LENGTH as usize).0);
        assert!(
            !outcome(
                gzip(),
                200,
                &[("content-type", "text/plain"), ("content-length", "100")],
                2000
            )
            .0
        );
        // Vary: * and a listed Accept-Encoding are left alone.
        for given in ["*", "accept-encoding, Cookie"] {
            let resp = response(
                200,
                &[("content-type", "text/plain"), ("vary", given)],
                ProxyBody::full(text(2000)),
            );
            let out = apply(&types(), &gzip(), resp);
            assert_eq!(out.headers().get_all(header::VARY).iter().count(), 1);
            assert_eq!(out.headers()[header::VARY], given);
        }
    }

    #[test]
    fn etags_get_the_codings_suffix() {
        let t = |v: &'static str, c| suffixed_etag(&HeaderValue::from_static(v), c).unwrap();
        assert_eq!(t("\"x\"", Coding::Gzip), "\"x-gzip\"");
        assert_eq!(t("W/\"x\"", Coding::Brotli), "W/\"x-br\"");
        assert_eq!(t("bare", Coding::Gzip), "bare-gzip");
    }

    #[test]
    fn a_client_holding_a_compressed_answer_can_revalidate_it() {
        let inm = |accept: &'static str, values: &[&'static str]| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(accept));
            for v in values {
                h.append(header::IF_NONE_MATCH, HeaderValue::from_static(v));
            }
            revalidate_unsuffixed(&types(), &mut h);
            h.get_all(header::IF_NONE_MATCH)
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(inm("gzip", &["\"a-gzip\""]), ["\"a-gzip\", \"a\""]);
        assert_eq!(
            inm("br", &["W/\"a,b-br\", \"c\"", "\"d-gzip\""]),
            ["W/\"a,b-br\", \"c\", \"d-gzip\", W/\"a,b\""]
        );
        // Only the coding this request would get.
        assert_eq!(inm("br, gzip", &["\"a-gzip\""]), ["\"a-gzip\""]);
        assert_eq!(inm("identity", &["\"a-gzip\""]), ["\"a-gzip\""]);
        // Nothing to add: left alone.
        assert_eq!(inm("gzip", &["\"a\""]), ["\"a\""]);
        assert_eq!(inm("gzip", &["*"]), ["*"]);
        assert_eq!(inm("gzip", &["\"a-gzip\", \"a\""]), ["\"a-gzip\", \"a\""]);
        // Without compression configured, never touched.
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a-gzip\""),
        );
        revalidate_unsuffixed(&Compression::default(), &mut h);
        assert_eq!(h[header::IF_NONE_MATCH], "\"a-gzip\"");

        // The backend's 304 names its own tag; the client gets the one it holds.
        let not_modified = |accept: &'static str, held: &'static str| {
            let req = request(
                Method::GET,
                &[("accept-encoding", accept), ("if-none-match", held)],
            );
            let resp = response(304, &[("etag", "W/\"a\"")], ProxyBody::full(Bytes::new()));
            let out = apply(&types(), &req, resp);
            (
                out.headers()[header::ETAG].to_str().unwrap().to_string(),
                out.headers().get(header::VARY).cloned(),
            )
        };
        let vary = Some(HeaderValue::from_static("Accept-Encoding"));
        assert_eq!(
            not_modified("gzip", "W/\"a-gzip\""),
            ("W/\"a-gzip\"".into(), vary.clone())
        );
        assert_eq!(
            not_modified("br, gzip", "W/\"a-br\""),
            ("W/\"a-br\"".into(), vary)
        );
        // The client holds gzip but would now get br, or nothing: the 304 says so.
        assert_eq!(not_modified("br, gzip", "W/\"a-gzip\"").0, "W/\"a\"");
        assert_eq!(not_modified("identity", "W/\"a-gzip\"").0, "W/\"a\"");
        assert_eq!(not_modified("gzip", "W/\"a\"").0, "W/\"a\"");
    }

    #[tokio::test]
    async fn a_streamed_body_is_flushed_when_the_backend_pauses_and_decodes_whole() {
        use crate::runtime::body::ChannelBody;
        for coding in [Coding::Gzip, Coding::Brotli] {
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            let mut body = CompressedBody::new(ProxyBody::Streamed(ChannelBody::new(rx)), coding);
            tx.send(Ok(text(3000))).await.unwrap();
            // The backend pauses: what was sent so far must reach the client whole.
            let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
            let mut so_far = Vec::new();
            match coding {
                Coding::Gzip => {
                    let mut d = flate2::write::GzDecoder::new(Vec::new());
                    d.write_all(&first).unwrap();
                    d.flush().unwrap();
                    so_far = d.get_ref().clone();
                }
                Coding::Brotli => {
                    let mut d = brotli::DecompressorWriter::new(Vec::new(), 4096);
                    d.write_all(&first).unwrap();
                    d.flush().unwrap();
                    so_far.extend_from_slice(d.get_ref());
                }
            }
            assert_eq!(so_far, text(3000), "{coding:?}: flushed bytes");
            tx.send(Ok(text(5000))).await.unwrap();
            drop(tx);
            let mut all = first.to_vec();
            while let Some(frame) = body.frame().await {
                all.extend_from_slice(&frame.unwrap().into_data().unwrap());
            }
            assert!(body.is_end_stream());
            let resp = response(
                200,
                &[("content-encoding", coding.token())],
                ProxyBody::full(Bytes::from(all)),
            );
            let (_, out) = decoded(resp).await;
            let mut want = text(3000).to_vec();
            want.extend_from_slice(&text(5000));
            assert_eq!(out, want, "{coding:?}");
        }
    }

    #[tokio::test]
    async fn a_backend_error_ends_the_compressed_body_with_the_error() {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let body = CompressedBody::new(
            ProxyBody::Streamed(crate::runtime::body::ChannelBody::new(rx)),
            Coding::Gzip,
        );
        tx.send(Ok(text(2000))).await.unwrap();
        tx.send(Err(io::Error::other("cut"))).await.unwrap();
        drop(tx);
        assert!(body.collect().await.is_err());
    }
}
