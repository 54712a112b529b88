//! The container → web server side of AJP13: decoding SEND_HEADERS, SEND_BODY_CHUNK, GET_BODY_CHUNK, END_RESPONSE and CPONG as mod_jk reads them, and encoding them as Tomcat writes them (for a mock container).
//!
//! The decoder follows `jk_ajp_common.c:ajp_process_callback` and
//! `ajp_unmarshal_response`, except where mod_jk 1.2.48 reads past a short
//! message: its `jk_b_get_int` returns `0xFFFF` for a missing u16 and
//! `jk_b_get_byte` reads one byte beyond the message, so a SEND_HEADERS without
//! a status passes as status 65535, an END_RESPONSE without its reuse byte reads
//! a stale byte, and a SEND_BODY_CHUNK cut after its type byte announces 65535
//! bytes and passes the `len > msg->len - 3` check through unsigned wrap-around.
//! Here each of those is [`DecodeError::Truncated`]. Bytes after the end of a
//! well-formed message are ignored, as mod_jk ignores them (Tomcat's
//! SEND_BODY_CHUNK always carries one: its trailing NUL).

use std::fmt;

use bytes::{BufMut, BytesMut};

use super::error::{DecodeError, EncodeError};
use super::frame::{
    FROM_CONTAINER_MAGIC, PACKET_HEADER_LEN, check_packet_size_limit, decode_packet, message_type,
};
use super::request::{HEADER_CODE_MARKER, put_header_name};
use super::wire::{Marshal, Reader, Sink, encode_framed};

const HEADER_CODE_MARKER_MASK: u16 = 0xFF00;
/// First response header code; the others follow in [`RESPONSE_HEADERS_BY_CODE`] order.
const RESPONSE_HEADER_CODE_BASE: u16 = 0xA001;

/// Response header names by code, 0xA001 + position (`response_trans_headers`
/// in mod_jk, `responseTransArray` in Tomcat).
const RESPONSE_HEADERS_BY_CODE: [&[u8]; 11] = [
    b"Content-Type",
    b"Content-Language",
    b"Content-Length",
    b"Date",
    b"Last-Modified",
    b"Location",
    b"Set-Cookie",
    b"Set-Cookie2",
    b"Servlet-Engine",
    b"Status",
    b"WWW-Authenticate",
];

/// The name a response header code stands for (`0xA001..=0xA00B`). mod_jk's
/// `long_res_header_for_sc` returns NULL for `0xA000`, which
/// `ajp_unmarshal_response` does not guard against; here it has no name.
pub fn response_header_name(code: u16) -> Option<&'static [u8]> {
    let position = code.checked_sub(RESPONSE_HEADER_CODE_BASE)?;
    RESPONSE_HEADERS_BY_CODE.get(usize::from(position)).copied()
}

/// The code Tomcat sends a response header name as: an exact, case-sensitive
/// match (`Constants.getResponseAjpIndex`), so `content-type` goes as a string.
pub fn response_header_code(name: &[u8]) -> Option<u16> {
    let position = RESPONSE_HEADERS_BY_CODE
        .iter()
        .position(|&known| known == name)?;
    u16::try_from(position)
        .ok()
        .map(|position| RESPONSE_HEADER_CODE_BASE + position)
}

/// One message from the container, borrowing from the packet it came in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerMessage<'a> {
    /// Status line and headers. A second one for the same request is an error
    /// mod_jk treats as fatal for the request; that is the caller's to check.
    SendHeaders(SendHeaders<'a>),
    /// A non-empty piece of the response body.
    SendBodyChunk(&'a [u8]),
    /// A SEND_BODY_CHUNK of length 0: flush what was sent to the client so far
    /// (Tomcat sends one per servlet flush with `ajpFlush="true"`). mod_jk ignores
    /// one that arrives before the headers or while the request is being sent.
    Flush,
    /// The container wants up to `requested` more request body bytes.
    GetBodyChunk {
        /// The most bytes the container asks for (Tomcat: packetSize − 6).
        requested: u16,
    },
    /// The response is complete.
    EndResponse {
        /// Whether the container keeps the connection open for another request
        /// (reuse byte non-zero). With `false` the connection must be closed.
        reuse: bool,
    },
    /// Answer to CPING.
    CPong,
}

/// A decoded SEND_HEADERS. The headers were checked when the message was
/// decoded; [`SendHeaders::headers`] walks them again without allocating.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendHeaders<'a> {
    /// HTTP status, never 0. Not range-checked: mod_jk 1.2.48 passes any
    /// non-zero value on to httpd.
    pub status: u16,
    /// Reason phrase; `None` for the null string. Tomcat ≥ 8.5 sends the status
    /// number here (`"200"`), which mod_jk copies into the status line.
    pub reason: Option<&'a [u8]>,
    header_count: u16,
    /// The encoded headers, exactly `header_count` of them.
    header_bytes: &'a [u8],
}

impl<'a> SendHeaders<'a> {
    /// Number of headers.
    pub fn header_count(&self) -> usize {
        usize::from(self.header_count)
    }

    /// The headers in the order sent, as (name, value). Coded names come out as
    /// mod_jk spells them (`Content-Type`, `Set-Cookie`, ...); values are raw
    /// bytes (Tomcat replaces control characters other than TAB with spaces
    /// before sending, but nothing here relies on that).
    pub fn headers(&self) -> ResponseHeaders<'a> {
        ResponseHeaders {
            reader: Reader::new(self.header_bytes),
            remaining: self.header_count,
        }
    }
}

impl fmt::Debug for SendHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lossy = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        f.debug_struct("SendHeaders")
            .field("status", &self.status)
            .field("reason", &self.reason.map(lossy))
            .field(
                "headers",
                &self
                    .headers()
                    .map(|(n, v)| (lossy(n), lossy(v)))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Iterator over the headers of a [`SendHeaders`].
#[derive(Clone, Debug)]
pub struct ResponseHeaders<'a> {
    reader: Reader<'a>,
    remaining: u16,
}

impl<'a> Iterator for ResponseHeaders<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        self.remaining = self.remaining.checked_sub(1)?;
        // Cannot fail: the same bytes were read successfully when the message
        // was decoded. Stopping early is the non-panicking answer if it did.
        let header = read_response_header(&mut self.reader).ok();
        if header.is_none() {
            self.remaining = 0;
        }
        header
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = usize::from(self.remaining);
        (remaining, Some(remaining))
    }
}

impl ExactSizeIterator for ResponseHeaders<'_> {}

/// One response header: a code `0xA0xx` or a string name, then a string value.
fn read_response_header<'a>(reader: &mut Reader<'a>) -> Result<(&'a [u8], &'a [u8]), DecodeError> {
    let name = match reader.peek_int() {
        Some(code) if code & HEADER_CODE_MARKER_MASK == HEADER_CODE_MARKER => {
            reader.int("header name")?;
            response_header_name(code).ok_or(DecodeError::InvalidResponseHeaderCode(code))?
        }
        _ => reader.required_string("header name")?,
    };
    Ok((name, reader.required_string("header value")?))
}

/// Reads one container message from the front of `buf`: framing as in
/// [`decode_packet`] (`Ok(None)` = need more bytes), then the payload as in
/// [`parse_container_message`]. `consumed` counts the whole packet.
pub fn decode_container_message(
    buf: &[u8],
    max_packet_size: usize,
) -> Result<Option<(ContainerMessage<'_>, usize)>, DecodeError> {
    match decode_packet(buf, max_packet_size)? {
        None => Ok(None),
        Some((payload, consumed)) => Ok(Some((parse_container_message(payload)?, consumed))),
    }
}

/// Reads a container message from a packet payload (type byte first).
pub fn parse_container_message(payload: &[u8]) -> Result<ContainerMessage<'_>, DecodeError> {
    let mut reader = Reader::new(payload);
    let kind = reader
        .byte("message type")
        .map_err(|_| DecodeError::EmptyPayload)?;
    match kind {
        message_type::SEND_HEADERS => parse_send_headers(reader).map(ContainerMessage::SendHeaders),
        message_type::SEND_BODY_CHUNK => {
            let length = usize::from(reader.int("body chunk length")?);
            let available = reader.remaining();
            if length > available {
                return Err(DecodeError::BodyChunkTooLong { length, available });
            }
            match reader.bytes(length, "body chunk")? {
                [] => Ok(ContainerMessage::Flush),
                data => Ok(ContainerMessage::SendBodyChunk(data)),
            }
        }
        message_type::GET_BODY_CHUNK => Ok(ContainerMessage::GetBodyChunk {
            requested: reader.int("requested length")?,
        }),
        message_type::END_RESPONSE => Ok(ContainerMessage::EndResponse {
            reuse: reader.byte("reuse flag")? != 0,
        }),
        message_type::CPONG => Ok(ContainerMessage::CPong),
        other => Err(DecodeError::UnknownMessageType(other)),
    }
}

/// Most body chunks [`buffered_response_rest`] collects; a longer rest is relayed.
pub const MAX_BUFFERED_CHUNKS: usize = 4;

/// The rest of a response, found complete among bytes already read: where its body
/// chunks are and whether the connection may be reused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferedRest {
    /// Byte ranges of the body chunks within the scanned buffer, in order; only the
    /// first `chunk_count` are used.
    pub chunks: [std::ops::Range<usize>; MAX_BUFFERED_CHUNKS],
    pub chunk_count: usize,
    /// Bytes of the buffer the rest takes, END_RESPONSE included.
    pub consumed: usize,
    pub reuse: bool,
}

impl BufferedRest {
    pub fn chunk_ranges(&self) -> &[std::ops::Range<usize>] {
        self.chunks.get(..self.chunk_count).unwrap_or_default()
    }
}

/// Whether `buf` (the bytes read after SEND_HEADERS) already holds the whole rest of
/// the response: body chunks and flushes up to END_RESPONSE, at most
/// [`MAX_BUFFERED_CHUNKS`] chunks. `None` when more must be read, when the container
/// asks for request body, or when anything is malformed: the caller then takes the
/// ordinary packet-by-packet path, which reports errors with their context. Lets the
/// front end answer a small response in one write, without a relay.
pub fn buffered_response_rest(buf: &[u8], max_packet_size: usize) -> Option<BufferedRest> {
    let base = buf.as_ptr() as usize;
    let mut rest = BufferedRest {
        chunks: Default::default(),
        chunk_count: 0,
        consumed: 0,
        reuse: false,
    };
    loop {
        let (payload, used) = decode_packet(buf.get(rest.consumed..)?, max_packet_size).ok()??;
        rest.consumed += used;
        match parse_container_message(payload).ok()? {
            ContainerMessage::SendBodyChunk(data) => {
                let start = data.as_ptr() as usize - base;
                let slot = rest.chunks.get_mut(rest.chunk_count)?;
                *slot = start..start + data.len();
                rest.chunk_count += 1;
            }
            ContainerMessage::Flush => {}
            ContainerMessage::EndResponse { reuse } => {
                rest.reuse = reuse;
                return Some(rest);
            }
            _ => return None,
        }
    }
}

fn parse_send_headers(mut reader: Reader<'_>) -> Result<SendHeaders<'_>, DecodeError> {
    let status = reader.int("status")?;
    if status == 0 {
        return Err(DecodeError::InvalidStatus);
    }
    let reason = reader.string("reason phrase")?;
    let header_count = reader.int("header count")?;
    let headers_start = reader.clone().into_rest();
    for _ in 0..header_count {
        read_response_header(&mut reader)?;
    }
    let header_len = headers_start.len() - reader.remaining();
    Ok(SendHeaders {
        status,
        reason,
        header_count,
        header_bytes: headers_start.get(..header_len).unwrap_or_default(),
    })
}

/// The SEND_HEADERS a container would send; marshalled like Tomcat's
/// `prepareResponse` (codes for exact-case table names).
struct SendHeadersOut<'h> {
    status: u16,
    reason: Option<&'h [u8]>,
    headers: &'h [(&'h [u8], &'h [u8])],
}

impl Marshal for SendHeadersOut<'_> {
    fn marshal<S: Sink>(&self, sink: &mut S) -> Result<(), EncodeError> {
        sink.byte(message_type::SEND_HEADERS);
        sink.int(self.status);
        sink.optional_string("reason phrase", self.reason)?;
        let count = self.headers.len();
        sink.int(u16::try_from(count).map_err(|_| EncodeError::TooManyHeaders { count })?);
        for &(name, value) in self.headers {
            match response_header_code(name) {
                Some(code) => sink.int(code),
                None => put_header_name(sink, name)?,
            }
            sink.string("header value", value)?;
        }
        Ok(())
    }
}

/// Appends a SEND_HEADERS packet as Tomcat writes it. For a mock container and
/// tests; Tomcat itself passes the status number as `reason`.
pub fn encode_send_headers(
    status: u16,
    reason: Option<&[u8]>,
    headers: &[(&[u8], &[u8])],
    max_packet_size: usize,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let message = SendHeadersOut {
        status,
        reason,
        headers,
    };
    encode_framed(&message, FROM_CONTAINER_MAGIC, max_packet_size, out)
}

/// Bytes around the data of a SEND_BODY_CHUNK packet: header, type, u16
/// length, trailing NUL.
const SEND_BODY_CHUNK_OVERHEAD: usize = PACKET_HEADER_LEN + 1 + 2 + 1;

/// Most response body bytes one SEND_BODY_CHUNK carries: `max_packet_size - 8`
/// (Tomcat's `outputMaxChunkSize`).
pub fn max_send_body_chunk_len(max_packet_size: usize) -> usize {
    max_packet_size.saturating_sub(SEND_BODY_CHUNK_OVERHEAD)
}

/// Tomcat's flush: a SEND_BODY_CHUNK of length 0 with its trailing NUL.
pub const FLUSH_PACKET: [u8; 8] = [
    0x41,
    0x42,
    0x00,
    0x04,
    message_type::SEND_BODY_CHUNK,
    0x00,
    0x00,
    0x00,
];
/// CPONG.
pub const CPONG_PACKET: [u8; 5] = [0x41, 0x42, 0x00, 0x01, message_type::CPONG];
/// END_RESPONSE keeping the connection.
pub const END_RESPONSE_REUSE_PACKET: [u8; 6] =
    [0x41, 0x42, 0x00, 0x02, message_type::END_RESPONSE, 0x01];
/// END_RESPONSE closing the connection.
pub const END_RESPONSE_CLOSE_PACKET: [u8; 6] =
    [0x41, 0x42, 0x00, 0x02, message_type::END_RESPONSE, 0x00];

/// Appends a SEND_BODY_CHUNK as Tomcat writes it (u16 length, data, NUL).
/// Empty `data` gives [`FLUSH_PACKET`]; more than [`max_send_body_chunk_len`]
/// bytes is [`EncodeError::TooLarge`].
pub fn encode_send_body_chunk(
    data: &[u8],
    max_packet_size: usize,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    check_packet_size_limit(max_packet_size).map_err(EncodeError::InvalidPacketSizeLimit)?;
    let needed = SEND_BODY_CHUNK_OVERHEAD + data.len();
    let too_large = EncodeError::TooLarge {
        needed,
        limit: max_packet_size,
    };
    if needed > max_packet_size {
        return Err(too_large);
    }
    let data_len = u16::try_from(data.len()).map_err(|_| too_large)?;
    let payload_len = u16::try_from(needed - PACKET_HEADER_LEN).map_err(|_| too_large)?;
    out.reserve(needed);
    out.put_u16(FROM_CONTAINER_MAGIC);
    out.put_u16(payload_len);
    out.put_u8(message_type::SEND_BODY_CHUNK);
    out.put_u16(data_len);
    out.put_slice(data);
    out.put_u8(0);
    Ok(())
}

/// Appends a GET_BODY_CHUNK asking for `requested` bytes.
pub fn encode_get_body_chunk(requested: u16, out: &mut BytesMut) {
    out.put_u16(FROM_CONTAINER_MAGIC);
    out.put_u16(3);
    out.put_u8(message_type::GET_BODY_CHUNK);
    out.put_u16(requested);
}

/// Appends an END_RESPONSE.
pub fn encode_end_response(reuse: bool, out: &mut BytesMut) {
    out.put_slice(if reuse {
        &END_RESPONSE_REUSE_PACKET
    } else {
        &END_RESPONSE_CLOSE_PACKET
    });
}

/// Appends a CPONG.
pub fn encode_cpong(out: &mut BytesMut) {
    out.put_slice(&CPONG_PACKET);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ajp::frame::{DEFAULT_PACKET_SIZE, MAX_PACKET_SIZE};

    /// Response header codes from the reference's §4.7 table.
    const SC_RESP_CONTENT_TYPE: u16 = 0xA001;
    const SC_RESP_SET_COOKIE: u16 = 0xA007;
    const SC_RESP_WWW_AUTHENTICATE: u16 = 0xA00B;

    /// Payload bytes built by hand, independent of the encoders.
    #[derive(Default, Clone)]
    struct Payload(Vec<u8>);

    impl Payload {
        fn byte(mut self, b: u8) -> Self {
            self.0.push(b);
            self
        }
        fn int(mut self, v: u16) -> Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        fn string(mut self, s: &[u8]) -> Self {
            self = self.int(u16::try_from(s.len()).unwrap());
            self.0.extend_from_slice(s);
            self.byte(0)
        }
        fn packet(&self) -> Vec<u8> {
            let mut packet = FROM_CONTAINER_MAGIC.to_be_bytes().to_vec();
            packet.extend_from_slice(&u16::try_from(self.0.len()).unwrap().to_be_bytes());
            packet.extend_from_slice(&self.0);
            packet
        }
    }

    fn decode_all(packet: &[u8]) -> ContainerMessage<'_> {
        let (message, consumed) = decode_container_message(packet, DEFAULT_PACKET_SIZE)
            .unwrap()
            .unwrap();
        assert_eq!(consumed, packet.len());
        message
    }

    #[test]
    fn a_complete_buffered_rest_is_found_with_its_chunks() {
        let mut buf = BytesMut::new();
        encode_send_body_chunk(b"hello ", DEFAULT_PACKET_SIZE, &mut buf).unwrap();
        buf.extend_from_slice(&FLUSH_PACKET);
        encode_send_body_chunk(b"world", DEFAULT_PACKET_SIZE, &mut buf).unwrap();
        encode_end_response(true, &mut buf);
        let whole = buf.len();
        // Bytes of the next exchange (a CPONG) may follow; they are not consumed.
        encode_cpong(&mut buf);
        let rest = buffered_response_rest(&buf, DEFAULT_PACKET_SIZE).unwrap();
        assert_eq!(rest.consumed, whole);
        assert!(rest.reuse);
        let chunks: Vec<&[u8]> = rest
            .chunk_ranges()
            .iter()
            .map(|r| &buf[r.clone()])
            .collect();
        assert_eq!(chunks, [&b"hello "[..], &b"world"[..]]);
        // END_RESPONSE alone: an empty body.
        let mut end = BytesMut::new();
        encode_end_response(false, &mut end);
        let rest = buffered_response_rest(&end, DEFAULT_PACKET_SIZE).unwrap();
        assert_eq!((rest.chunk_count, rest.reuse, rest.consumed), (0, false, 6));
    }

    #[test]
    fn an_incomplete_or_unusual_rest_is_left_to_the_relay() {
        let mut buf = BytesMut::new();
        encode_send_body_chunk(b"hello", DEFAULT_PACKET_SIZE, &mut buf).unwrap();
        encode_end_response(true, &mut buf);
        // Cut anywhere before the end: not complete.
        for cut in 0..buf.len() {
            assert_eq!(
                buffered_response_rest(&buf[..cut], DEFAULT_PACKET_SIZE),
                None
            );
        }
        // A request for body, a second head or garbage: not for the short path.
        let mut asks = BytesMut::new();
        encode_get_body_chunk(8186, &mut asks);
        encode_end_response(true, &mut asks);
        assert_eq!(buffered_response_rest(&asks, DEFAULT_PACKET_SIZE), None);
        assert_eq!(
            buffered_response_rest(b"\x12\x34\x00\x01\x05", DEFAULT_PACKET_SIZE),
            None
        );
        // More chunks than the short path holds.
        let mut many = BytesMut::new();
        for _ in 0..=MAX_BUFFERED_CHUNKS {
            encode_send_body_chunk(b"x", DEFAULT_PACKET_SIZE, &mut many).unwrap();
        }
        encode_end_response(true, &mut many);
        assert_eq!(buffered_response_rest(&many, DEFAULT_PACKET_SIZE), None);
    }

    fn typical_send_headers() -> Payload {
        Payload::default()
            .byte(message_type::SEND_HEADERS)
            .int(200)
            .string(b"200")
            .int(5)
            .int(SC_RESP_CONTENT_TYPE)
            .string(b"text/html;charset=UTF-8")
            .int(SC_RESP_SET_COOKIE)
            .string(b"JSESSIONID=0123456789ABCDEF0123456789ABCDEF.node1; Path=/app; HttpOnly")
            .string(b"Cache-Control")
            .string(b"no-cache")
            .string(b"content-length")
            .string(b"1234")
            .int(SC_RESP_WWW_AUTHENTICATE)
            .string(b"Basic realm=\"x\"")
    }

    #[test]
    fn canonical_packets_from_the_reference() {
        assert_eq!(
            decode_all(&[0x41, 0x42, 0x00, 0x01, 0x09]),
            ContainerMessage::CPong
        );
        assert_eq!(
            decode_all(&[0x41, 0x42, 0x00, 0x02, 0x05, 0x01]),
            ContainerMessage::EndResponse { reuse: true }
        );
        assert_eq!(
            decode_all(&[0x41, 0x42, 0x00, 0x02, 0x05, 0x00]),
            ContainerMessage::EndResponse { reuse: false }
        );
        assert_eq!(
            decode_all(&[0x41, 0x42, 0x00, 0x04, 0x03, 0x00, 0x00, 0x00]),
            ContainerMessage::Flush
        );
        assert_eq!(
            decode_all(&[0x41, 0x42, 0x00, 0x03, 0x06, 0x1F, 0xFA]),
            ContainerMessage::GetBodyChunk { requested: 8186 }
        );
        // Any non-zero reuse byte means reuse.
        assert_eq!(
            decode_all(&[0x41, 0x42, 0x00, 0x02, 0x05, 0x7F]),
            ContainerMessage::EndResponse { reuse: true }
        );
    }

    #[test]
    fn canonical_packets_are_what_the_encoders_write() {
        let mut out = BytesMut::new();
        encode_cpong(&mut out);
        encode_end_response(true, &mut out);
        encode_end_response(false, &mut out);
        encode_send_body_chunk(b"", DEFAULT_PACKET_SIZE, &mut out).unwrap();
        encode_get_body_chunk(8186, &mut out);
        let expected: &[u8] = &[
            0x41, 0x42, 0x00, 0x01, 0x09, // CPONG
            0x41, 0x42, 0x00, 0x02, 0x05, 0x01, // END_RESPONSE reuse
            0x41, 0x42, 0x00, 0x02, 0x05, 0x00, // END_RESPONSE close
            0x41, 0x42, 0x00, 0x04, 0x03, 0x00, 0x00, 0x00, // flush
            0x41, 0x42, 0x00, 0x03, 0x06, 0x1F, 0xFA, // GET_BODY_CHUNK 8186
        ];
        assert_eq!(&out[..], expected);
    }

    #[test]
    fn typical_send_headers_decodes_without_copying() {
        let packet = typical_send_headers().packet();
        let ContainerMessage::SendHeaders(headers) = decode_all(&packet) else {
            panic!("not SEND_HEADERS");
        };
        assert_eq!(headers.status, 200);
        assert_eq!(headers.reason, Some(&b"200"[..]));
        assert_eq!(headers.header_count(), 5);
        let list: Vec<_> = headers.headers().collect();
        assert_eq!(
            list,
            [
                (&b"Content-Type"[..], &b"text/html;charset=UTF-8"[..]),
                (
                    b"Set-Cookie",
                    b"JSESSIONID=0123456789ABCDEF0123456789ABCDEF.node1; Path=/app; HttpOnly"
                ),
                (b"Cache-Control", b"no-cache"),
                (b"content-length", b"1234"),
                (b"WWW-Authenticate", b"Basic realm=\"x\""),
            ]
        );
        // Values point into the packet.
        let value = list[2].1;
        assert!(packet.as_ptr_range().contains(&value.as_ptr()));
        assert_eq!(headers.headers().len(), 5);
    }

    #[test]
    fn send_headers_round_trip_through_the_encoder() {
        let headers: [(&[u8], &[u8]); 3] = [
            (b"Content-Type", b"text/plain"),
            (b"content-type", b"lower case goes by name"),
            (b"X-Custom", b""),
        ];
        let mut out = BytesMut::new();
        encode_send_headers(404, Some(b"404"), &headers, DEFAULT_PACKET_SIZE, &mut out).unwrap();
        let expected = Payload::default()
            .byte(message_type::SEND_HEADERS)
            .int(404)
            .string(b"404")
            .int(3)
            .int(SC_RESP_CONTENT_TYPE)
            .string(b"text/plain")
            .string(b"content-type")
            .string(b"lower case goes by name")
            .string(b"X-Custom")
            .string(b"")
            .packet();
        assert_eq!(&out[..], expected);
        let ContainerMessage::SendHeaders(decoded) = decode_all(&out) else {
            panic!("not SEND_HEADERS");
        };
        assert_eq!(decoded.headers().collect::<Vec<_>>(), headers);
    }

    #[test]
    fn null_reason_and_no_headers() {
        let packet = Payload::default()
            .byte(message_type::SEND_HEADERS)
            .int(204)
            .int(0xFFFF)
            .int(0)
            .packet();
        let ContainerMessage::SendHeaders(headers) = decode_all(&packet) else {
            panic!("not SEND_HEADERS");
        };
        assert_eq!(
            (headers.status, headers.reason, headers.header_count()),
            (204, None, 0)
        );
        assert_eq!(headers.headers().next(), None);
    }

    #[test]
    fn body_chunks_with_and_without_trailing_nul() {
        let with_nul = Payload::default()
            .byte(message_type::SEND_BODY_CHUNK)
            .int(3)
            .byte(b'a')
            .byte(b'b')
            .byte(b'c')
            .byte(0)
            .packet();
        assert_eq!(
            decode_all(&with_nul),
            ContainerMessage::SendBodyChunk(b"abc")
        );
        // mod_jk only requires length ≤ payload − 3, so the NUL may be missing.
        let without_nul = Payload::default()
            .byte(message_type::SEND_BODY_CHUNK)
            .int(1)
            .byte(b'z')
            .packet();
        assert_eq!(
            decode_all(&without_nul),
            ContainerMessage::SendBodyChunk(b"z")
        );

        for limit in [DEFAULT_PACKET_SIZE, MAX_PACKET_SIZE] {
            let max = max_send_body_chunk_len(limit);
            assert_eq!(max, limit - 8);
            let data = vec![b'b'; max + 1];
            let mut out = BytesMut::new();
            encode_send_body_chunk(&data[..max], limit, &mut out).unwrap();
            assert_eq!(out.len(), limit);
            let (message, _) = decode_container_message(&out, limit).unwrap().unwrap();
            assert_eq!(message, ContainerMessage::SendBodyChunk(&data[..max]));
            assert_eq!(
                encode_send_body_chunk(&data, limit, &mut BytesMut::new()),
                Err(EncodeError::TooLarge {
                    needed: limit + 1,
                    limit
                })
            );
        }
    }

    #[test]
    fn split_and_coalesced_input() {
        let mut stream = typical_send_headers().packet();
        let mut out = BytesMut::new();
        encode_send_body_chunk(b"<html>", DEFAULT_PACKET_SIZE, &mut out).unwrap();
        encode_send_body_chunk(b"", DEFAULT_PACKET_SIZE, &mut out).unwrap();
        encode_end_response(true, &mut out);
        stream.extend_from_slice(&out);

        // Fed one byte at a time, the decoder waits, then yields each message once.
        let mut messages = Vec::new();
        let mut start = 0;
        for end in 0..=stream.len() {
            if let Some((message, consumed)) =
                decode_container_message(&stream[start..end], DEFAULT_PACKET_SIZE).unwrap()
            {
                messages.push(message);
                start += consumed;
            }
        }
        assert_eq!(start, stream.len());

        // Coalesced: everything in one buffer.
        let mut coalesced = Vec::new();
        let mut rest = &stream[..];
        while let Some((message, consumed)) =
            decode_container_message(rest, DEFAULT_PACKET_SIZE).unwrap()
        {
            coalesced.push(message);
            rest = &rest[consumed..];
        }
        assert!(rest.is_empty());
        assert_eq!(messages, coalesced);
        assert_eq!(messages.len(), 4);
        assert!(matches!(messages[0], ContainerMessage::SendHeaders(_)));
        assert_eq!(messages[1], ContainerMessage::SendBodyChunk(b"<html>"));
        assert_eq!(messages[2], ContainerMessage::Flush);
        assert_eq!(messages[3], ContainerMessage::EndResponse { reuse: true });
    }

    #[test]
    fn every_decode_error() {
        let send_headers = || Payload::default().byte(message_type::SEND_HEADERS);
        let frame_errors: [(Vec<u8>, usize, DecodeError); 3] = [
            (
                CPONG_PACKET.to_vec(),
                MAX_PACKET_SIZE + 1,
                DecodeError::InvalidPacketSizeLimit(MAX_PACKET_SIZE + 1),
            ),
            (
                vec![0x12, 0x34, 0x00, 0x01, 0x0A],
                DEFAULT_PACKET_SIZE,
                DecodeError::BadMagic {
                    expected: FROM_CONTAINER_MAGIC,
                    found: 0x1234,
                },
            ),
            (
                vec![0x41, 0x42, 0x1F, 0xFD],
                DEFAULT_PACKET_SIZE,
                DecodeError::PacketTooLarge {
                    length: 0x1FFD,
                    limit: DEFAULT_PACKET_SIZE - 4,
                },
            ),
        ];
        for (packet, limit, expected) in frame_errors {
            assert_eq!(decode_container_message(&packet, limit), Err(expected));
        }

        let payload_errors: Vec<(Payload, DecodeError)> = vec![
            (Payload::default(), DecodeError::EmptyPayload),
            (
                Payload::default().byte(message_type::CPING),
                DecodeError::UnknownMessageType(message_type::CPING),
            ),
            (
                Payload::default().byte(0),
                DecodeError::UnknownMessageType(0),
            ),
            (
                send_headers().byte(0x01),
                DecodeError::Truncated { field: "status" },
            ),
            (
                send_headers().int(0).string(b"").int(0),
                DecodeError::InvalidStatus,
            ),
            (
                send_headers().int(200).int(3).byte(b'O').byte(b'K'),
                DecodeError::Truncated {
                    field: "reason phrase",
                },
            ),
            (
                send_headers().int(200).string(b"200").byte(0),
                DecodeError::Truncated {
                    field: "header count",
                },
            ),
            (
                send_headers()
                    .int(200)
                    .string(b"200")
                    .int(2)
                    .int(SC_RESP_CONTENT_TYPE)
                    .string(b"x"),
                DecodeError::Truncated {
                    field: "header name",
                },
            ),
            (
                send_headers()
                    .int(200)
                    .string(b"200")
                    .int(1)
                    .int(0xA000)
                    .string(b"x"),
                DecodeError::InvalidResponseHeaderCode(0xA000),
            ),
            (
                send_headers()
                    .int(200)
                    .string(b"200")
                    .int(1)
                    .int(0xA00C)
                    .string(b"x"),
                DecodeError::InvalidResponseHeaderCode(0xA00C),
            ),
            (
                send_headers()
                    .int(200)
                    .string(b"200")
                    .int(1)
                    .int(0xFFFF)
                    .string(b"x"),
                DecodeError::NullString {
                    field: "header name",
                },
            ),
            (
                send_headers()
                    .int(200)
                    .string(b"200")
                    .int(1)
                    .string(b"X-A")
                    .int(0xFFFF),
                DecodeError::NullString {
                    field: "header value",
                },
            ),
            (
                send_headers()
                    .int(200)
                    .string(b"200")
                    .int(1)
                    .string(b"X-A")
                    .int(1)
                    .byte(b'v')
                    .byte(b'!'),
                DecodeError::UnterminatedString {
                    field: "header value",
                },
            ),
            (
                send_headers()
                    .int(200)
                    .string(b"200")
                    .int(1)
                    .string(b"X-A")
                    .string(b"a\0b"),
                DecodeError::NulInString {
                    field: "header value",
                },
            ),
            (
                Payload::default().byte(message_type::SEND_BODY_CHUNK),
                DecodeError::Truncated {
                    field: "body chunk length",
                },
            ),
            (
                Payload::default()
                    .byte(message_type::SEND_BODY_CHUNK)
                    .int(2)
                    .byte(b'a'),
                DecodeError::BodyChunkTooLong {
                    length: 2,
                    available: 1,
                },
            ),
            (
                Payload::default()
                    .byte(message_type::GET_BODY_CHUNK)
                    .byte(0x1F),
                DecodeError::Truncated {
                    field: "requested length",
                },
            ),
            (
                Payload::default().byte(message_type::END_RESPONSE),
                DecodeError::Truncated {
                    field: "reuse flag",
                },
            ),
        ];
        for (payload, expected) in payload_errors {
            assert_eq!(
                decode_container_message(&payload.packet(), DEFAULT_PACKET_SIZE),
                Err(expected),
                "{:02X?}",
                payload.0
            );
            assert!(!expected.to_string().is_empty());
        }
    }

    #[test]
    fn response_header_codes_are_exact_case() {
        assert_eq!(
            response_header_code(b"Content-Type"),
            Some(SC_RESP_CONTENT_TYPE)
        );
        assert_eq!(response_header_code(b"content-type"), None);
        assert_eq!(
            response_header_code(b"WWW-Authenticate"),
            Some(SC_RESP_WWW_AUTHENTICATE)
        );
        for code in 0xA001..=SC_RESP_WWW_AUTHENTICATE {
            assert_eq!(
                response_header_code(response_header_name(code).unwrap()),
                Some(code)
            );
        }
        assert_eq!(response_header_name(0xA000), None);
        assert_eq!(response_header_name(0xA00C), None);
    }

    mod properties {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..400), limit in 8192usize..=65536) {
                if let Ok(Some((message, consumed))) = decode_container_message(&bytes, limit) {
                    prop_assert!(consumed <= bytes.len());
                    if let ContainerMessage::SendHeaders(headers) = message {
                        prop_assert_eq!(headers.headers().count(), headers.header_count());
                    }
                }
                if let Ok(Some((_, consumed))) = decode_packet(&bytes, limit) {
                    prop_assert!(consumed <= bytes.len());
                }
            }

            #[test]
            fn arbitrary_payloads_behind_a_valid_header_never_panic(payload in vec(any::<u8>(), 0..400)) {
                let packet = Payload(payload).packet();
                if let Ok(Some((message, consumed))) = decode_container_message(&packet, DEFAULT_PACKET_SIZE) {
                    prop_assert_eq!(consumed, packet.len());
                    if let ContainerMessage::SendHeaders(headers) = message {
                        prop_assert_eq!(headers.headers().count(), headers.header_count());
                    }
                }
            }

            #[test]
            fn encoded_send_headers_decode_back(
                status in 1u16..,
                reason in prop::option::of(vec(1u8..=255, 0..20)),
                headers in vec(
                    (
                        prop_oneof![
                            prop::sample::select(&RESPONSE_HEADERS_BY_CODE[..]).prop_map(<[u8]>::to_vec),
                            vec(1u8..=255, 0..20),
                        ],
                        vec(1u8..=255, 0..40),
                    ),
                    0..10,
                ),
            ) {
                let borrowed: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (&n[..], &v[..])).collect();
                let mut out = BytesMut::new();
                encode_send_headers(status, reason.as_deref(), &borrowed, DEFAULT_PACKET_SIZE, &mut out).unwrap();
                let ContainerMessage::SendHeaders(decoded) = decode_all(&out) else {
                    return Err(TestCaseError::fail("not SEND_HEADERS"));
                };
                prop_assert_eq!(decoded.status, status);
                prop_assert_eq!(decoded.reason, reason.as_deref());
                prop_assert_eq!(decoded.headers().collect::<Vec<_>>(), borrowed);
            }
        }
    }
}
