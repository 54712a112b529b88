//! The web server → container side of AJP13 as mod_jk 1.2.48 writes it: FORWARD_REQUEST, request body packets, CPING, SHUTDOWN; plus the FORWARD_REQUEST decoder a mock container needs.
//!
//! Layout of FORWARD_REQUEST (`jk_ajp_common.c:ajp_marshal_into_msgb`): type
//! byte 2, method code, protocol, req_uri, remote_addr, remote_host,
//! server_name (strings), server_port (u16), is_ssl (byte), header count (u16),
//! the headers, the attributes, and the terminator byte 0xFF.
//!
//! # Security
//!
//! * **Client headers never become attributes.** Tomcat trusts the attribute
//!   section as facts the web server established itself: the secret (0x0C), the
//!   authenticated user and auth type (0x03/0x04, honoured when Tomcat runs with
//!   `tomcatAuthentication="false"`), the TLS session (0x07–0x0B,
//!   `AJP_SSL_PROTOCOL`), the client port and local address (`AJP_REMOTE_PORT`,
//!   `AJP_LOCAL_ADDR`). Filling any of them from a request header lets a client
//!   forge its identity. Request headers go into [`ForwardRequest::headers`] only.
//! * **Header names that collide with attribute semantics.** A client can send
//!   headers named `AJP_REMOTE_PORT`, `AJP_LOCAL_ADDR`, `AJP_SSL_PROTOCOL`,
//!   `JK_LB_ACTIVATION`, `SSL_CLIENT_CERT`, `SSL_CIPHER`, `SSL_SESSION_ID`,
//!   `SSL_PROTOCOL`, `SSL_CIPHER_USEKEYSIZE`, `HTTPS`, `REMOTE_USER`, `AUTH_TYPE`,
//!   or mod_jk's override variables `JK_REMOTE_ADDR`, `JK_REMOTE_HOST`,
//!   `JK_REMOTE_PORT`, `JK_REMOTE_USER`, `JK_AUTH_TYPE`, `JK_LOCAL_NAME`,
//!   `JK_LOCAL_PORT`, `JK_LOCAL_ADDR`, `JK_ROUTE`, `JK_IGNORE_CL`. In httpd those
//!   names are environment variables that a header can never set (headers reach
//!   the environment only as `HTTP_*`). Whatever stands in for the environment
//!   here must stay out of reach of request headers in the same way. Tomcat
//!   itself gives meaning to some plain headers too: `Host` overrides
//!   `server_name`/`server_port` for `getServerName()`/`getServerPort()`, a second
//!   `Content-Length` is answered with 400, `Cookie`/`;jsessionid` pick the
//!   session (and the load balancer's route).
//! * **Named attributes from configuration** ([`RequestAttributes::extra`],
//!   mod_jk's `JkEnvVar`): Tomcat accepts without `allowedRequestAttributesPattern`
//!   only the TLS names `javax.servlet.request.{X509Certificate,cipher_suite,
//!   key_size,ssl_session}`, their `jakarta.` forms and IIS's `CERT_*`/`HTTPS_*`,
//!   and takes them as the connection's TLS identity: never fill them from
//!   client-controlled data. `javax.servlet.include.*` is the Ghostcat
//!   (CVE-2020-1938) vector; Tomcat ≥ 9.0.31 answers any other name with 403.
//! * **`req_uri` must be a path.** Tomcat takes a req_uri that starts with
//!   `http` and contains `://` for an absolute URI and replaces the `Host` header
//!   with its authority (`AjpProcessor.prepareRequest`).

use bytes::{BufMut, BytesMut};

use super::error::{DecodeError, EncodeError};
use super::frame::{PACKET_HEADER_LEN, TO_CONTAINER_MAGIC, check_packet_size_limit, message_type};
use super::wire::{Marshal, Reader, Sink, encode_framed};

/// HTTP methods that have an AJP code; the code is the position + 1
/// (`SC_M_*` in `jk_ajp_common.h`, Tomcat's `methodTransArray`).
const METHODS_BY_CODE: [&[u8]; 27] = [
    b"OPTIONS",
    b"GET",
    b"HEAD",
    b"POST",
    b"PUT",
    b"DELETE",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"ACL",
    b"REPORT",
    b"VERSION-CONTROL",
    b"CHECKIN",
    b"CHECKOUT",
    b"UNCHECKOUT",
    b"SEARCH",
    b"MKWORKSPACE",
    b"UPDATE",
    b"LABEL",
    b"MERGE",
    b"BASELINE-CONTROL",
    b"MKACTIVITY",
];

/// Method byte of a method without a code; the name follows as attribute
/// [`attribute::STORED_METHOD`] (`SC_M_JK_STORED`).
pub const STORED_METHOD_CODE: u8 = 0xFF;

/// The AJP code of `method`: an exact, case-sensitive match as in mod_jk's
/// `sc_for_req_method` (`get` or `PATCH` have none and travel as stored methods).
pub fn method_code(method: &[u8]) -> Option<u8> {
    let position = METHODS_BY_CODE.iter().position(|&known| known == method)?;
    u8::try_from(position + 1).ok()
}

/// The method an AJP method code stands for (Tomcat's `getMethodForCode`).
pub fn method_for_code(code: u8) -> Option<&'static [u8]> {
    let position = usize::from(code).checked_sub(1)?;
    METHODS_BY_CODE.get(position).copied()
}

/// First request header code; the others follow in [`REQUEST_HEADERS_BY_CODE`] order.
const REQUEST_HEADER_CODE_BASE: u16 = 0xA001;
/// The high byte that marks a header name field as a code rather than a string length.
pub(crate) const HEADER_CODE_MARKER: u16 = 0xA000;
const HEADER_CODE_MARKER_MASK: u16 = 0xFF00;

/// Request header names by code (0xA001 + position), as Tomcat names them
/// (`headerTransArray`, lower case: what the servlet sees for a coded header).
const REQUEST_HEADERS_BY_CODE: [&[u8]; 14] = [
    b"accept",
    b"accept-charset",
    b"accept-encoding",
    b"accept-language",
    b"authorization",
    b"connection",
    b"content-type",
    b"content-length",
    b"cookie",
    b"cookie2",
    b"host",
    b"pragma",
    b"referer",
    b"user-agent",
];

/// The code mod_jk sends `name` as, if any: ASCII case-insensitive, like
/// `sc_for_req_header` (which upper-cases the name before comparing).
///
/// `Accept-Charset`, `Accept-Encoding` and `Accept-Language` have none on
/// purpose, although Tomcat knows codes 0xA002..=0xA004 for them:
/// `sc_for_req_header` compares "CCEPT" *including its NUL* before it looks for
/// a `-` suffix, so only a bare `Accept` ever matches and the three sub-header
/// branches are dead code (in 1.2.48 and HEAD). They go out as strings, in the
/// case the client used.
pub fn request_header_code(name: &[u8]) -> Option<u16> {
    // Length and first letter single out the one candidate, as mod_jk's switch
    // does. This runs twice per header and encode, so the comparison works on
    // whole words instead of looping over bytes.
    let (candidate, code) = match (name.len(), name.first()?.to_ascii_lowercase()) {
        (6, b'a') => (const { FoldedName::new(b"accept") }, 0xA001),
        (13, b'a') => (const { FoldedName::new(b"authorization") }, 0xA005),
        (10, b'c') => (const { FoldedName::new(b"connection") }, 0xA006),
        (12, b'c') => (const { FoldedName::new(b"content-type") }, 0xA007),
        (14, b'c') => (const { FoldedName::new(b"content-length") }, 0xA008),
        (6, b'c') => (const { FoldedName::new(b"cookie") }, 0xA009),
        (7, b'c') => (const { FoldedName::new(b"cookie2") }, 0xA00A),
        (4, b'h') => (const { FoldedName::new(b"host") }, 0xA00B),
        (6, b'p') => (const { FoldedName::new(b"pragma") }, 0xA00C),
        (7, b'r') => (const { FoldedName::new(b"referer") }, 0xA00D),
        (10, b'u') => (const { FoldedName::new(b"user-agent") }, 0xA00E),
        _ => return None,
    };
    candidate.matches(name).then_some(code)
}

/// A lower-case header name of 4 to 16 bytes, packed for an ASCII
/// case-insensitive comparison in two word operations: its first and last
/// eight bytes (first and last four below eight bytes; the halves overlap for
/// lengths under 16, which is harmless when the lengths are equal).
struct FoldedName {
    head: u64,
    tail: u64,
    /// 0x20 (the ASCII case bit) under each letter of `head`/`tail`, 0 elsewhere.
    head_case_bits: u64,
    tail_case_bits: u64,
}

impl FoldedName {
    /// Evaluated at compile time only (in `const` blocks), where an index out
    /// of range is a build error, not a panic.
    #[allow(clippy::indexing_slicing)]
    const fn new(lower_case_name: &[u8]) -> Self {
        let mut case_bits = [0u8; 16];
        let mut i = 0;
        while i < lower_case_name.len() {
            if lower_case_name[i].is_ascii_lowercase() {
                case_bits[i] = 0x20;
            }
            i += 1;
        }
        let (head, tail) = head_and_tail(lower_case_name);
        let (head_case_bits, tail_case_bits) =
            head_and_tail(case_bits.split_at(lower_case_name.len()).0);
        Self {
            head,
            tail,
            head_case_bits,
            tail_case_bits,
        }
    }

    /// Whether `name`, of the same length, equals this name ignoring ASCII
    /// case. Setting the case bit maps exactly `X` and `x` onto `x`; other
    /// positions must match exactly, so no control byte can pass for `-`.
    fn matches(&self, name: &[u8]) -> bool {
        let (head, tail) = head_and_tail(name);
        head | self.head_case_bits == self.head && tail | self.tail_case_bits == self.tail
    }
}

/// First and last eight bytes of `bytes` as words (four bytes if shorter than
/// eight; zero if shorter than four).
const fn head_and_tail(bytes: &[u8]) -> (u64, u64) {
    if let (Some(head), Some(tail)) = (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
        (u64::from_le_bytes(*head), u64::from_le_bytes(*tail))
    } else if let (Some(head), Some(tail)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        (
            u32::from_le_bytes(*head) as u64,
            u32::from_le_bytes(*tail) as u64,
        )
    } else {
        (0, 0)
    }
}

/// The header name Tomcat gives a request header code (`0xA001..=0xA00E`).
pub fn request_header_name(code: u16) -> Option<&'static [u8]> {
    let position = code.checked_sub(REQUEST_HEADER_CODE_BASE)?;
    REQUEST_HEADERS_BY_CODE.get(usize::from(position)).copied()
}

/// Request attribute codes (`SC_A_*` in `jk_ajp_common.h`).
pub mod attribute {
    /// Servlet context; never sent by mod_jk, read and ignored by Tomcat.
    pub const CONTEXT: u8 = 0x01;
    /// Servlet path; never sent by mod_jk, read and ignored by Tomcat.
    pub const SERVLET_PATH: u8 = 0x02;
    /// Authenticated user (`r->user`).
    pub const REMOTE_USER: u8 = 0x03;
    /// Authentication type (`r->ap_auth_type`).
    pub const AUTH_TYPE: u8 = 0x04;
    /// Raw query string, without the `?`.
    pub const QUERY_STRING: u8 = 0x05;
    /// Load balancer route (jvmRoute); Tomcat reads and ignores it.
    pub const ROUTE: u8 = 0x06;
    /// Client certificate (PEM).
    pub const SSL_CERT: u8 = 0x07;
    /// TLS cipher suite.
    pub const SSL_CIPHER: u8 = 0x08;
    /// TLS session id.
    pub const SSL_SESSION: u8 = 0x09;
    /// A named attribute: name string + value string.
    pub const REQ_ATTRIBUTE: u8 = 0x0A;
    /// TLS key size, a u16 (not a string).
    pub const SSL_KEY_SIZE: u8 = 0x0B;
    /// The worker's `secret`, checked by Tomcat's `secret`/`secretRequired`.
    pub const SECRET: u8 = 0x0C;
    /// Name of a method without a code.
    pub const STORED_METHOD: u8 = 0x0D;
    /// End of the attribute list.
    pub const ARE_DONE: u8 = 0xFF;

    /// Named attribute: TLS protocol (`SSL_PROTOCOL`), when non-empty.
    pub const NAME_SSL_PROTOCOL: &[u8] = b"AJP_SSL_PROTOCOL";
    /// Named attribute: client port as decimal text, always sent.
    pub const NAME_REMOTE_PORT: &[u8] = b"AJP_REMOTE_PORT";
    /// Named attribute: the web server's local IP address, always sent.
    pub const NAME_LOCAL_ADDR: &[u8] = b"AJP_LOCAL_ADDR";
    /// Named attribute: activation of the chosen balancer member, always sent.
    pub const NAME_LB_ACTIVATION: &[u8] = b"JK_LB_ACTIVATION";
}

/// Activation of the load-balancer member a request is sent to, as mod_jk
/// names it in `JK_LB_ACTIVATION` (direct workers send `ACT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LbActivation {
    /// `ACT`: takes new sessions.
    #[default]
    Active,
    /// `DIS`: only requests for its existing sessions.
    Disabled,
    /// `STP`: no requests at all (sent if a request reaches it anyway).
    Stopped,
}

impl LbActivation {
    /// The text mod_jk sends (`JK_LB_ACTIVATION_TEXT_*`).
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            Self::Active => b"ACT",
            Self::Disabled => b"DIS",
            Self::Stopped => b"STP",
        }
    }

    /// The activation `text` names, if any.
    pub fn from_bytes(text: &[u8]) -> Option<Self> {
        [Self::Active, Self::Disabled, Self::Stopped]
            .into_iter()
            .find(|activation| activation.as_bytes() == text)
    }
}

/// One request as mod_jk forwards it. All strings are bytes as received
/// (httpd passes them on unchanged, and so must we); none may contain NUL or
/// exceed 65534 bytes.
///
/// Building it is the caller's job, and with it the choices mod_jk makes in
/// `init_ws_service` before marshalling: the `content-length: 0` header added
/// to body-less requests, the dropped Content-Length of chunked ones, the
/// `JK_*` environment overrides, `remote_host` null when empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForwardRequest<'a> {
    /// Method as received, case-sensitive: sent as its code if it has one,
    /// otherwise as code 0xFF plus a stored-method attribute.
    pub method: &'a [u8],
    /// `r->protocol`, e.g. `HTTP/1.1`.
    pub protocol: &'a [u8],
    /// Request path, never with the query string (see the module docs: must
    /// not look like an absolute URI).
    pub req_uri: &'a [u8],
    /// Client address.
    pub remote_addr: &'a [u8],
    /// Client host name; `None` (the null string) with `HostnameLookups Off`.
    pub remote_host: Option<&'a [u8]>,
    /// `ap_get_server_name(r)`.
    pub server_name: &'a [u8],
    /// `ap_get_server_port(r)`.
    pub server_port: u16,
    /// Whether the client connection is TLS.
    pub is_ssl: bool,
    /// Request headers in order, names in the case received. Client headers
    /// belong here and nowhere else (see the module docs on attributes).
    pub headers: Vec<(&'a [u8], &'a [u8])>,
    /// The attribute section.
    pub attributes: RequestAttributes<'a>,
}

/// The attributes of a FORWARD_REQUEST. They are written in mod_jk's fixed
/// order, whatever order they are set in: secret, remote_user, auth_type,
/// query_string, route, ssl_cert, ssl_cipher, ssl_session, ssl_key_size, stored
/// method, `AJP_SSL_PROTOCOL`, `AJP_REMOTE_PORT`, `AJP_LOCAL_ADDR`,
/// `JK_LB_ACTIVATION`, the extra named attributes, then 0xFF.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestAttributes<'a> {
    /// The worker's `secret`; sent first.
    pub secret: Option<&'a [u8]>,
    /// Authenticated user. mod_jk turns an empty one into "absent" before
    /// marshalling (`get_env_string` with `null_for_empty`); here `Some(b"")`
    /// is sent as an empty string, so leave that choice to the builder.
    pub remote_user: Option<&'a [u8]>,
    /// Authentication type; empty becomes absent in mod_jk, as for `remote_user`.
    pub auth_type: Option<&'a [u8]>,
    /// Query string (`r->args`): sent whenever present, even empty.
    pub query_string: Option<&'a [u8]>,
    /// Route of the chosen balancer member (or its domain).
    pub route: Option<&'a [u8]>,
    /// Client certificate chain (PEM). Not sent when empty, like mod_jk, which
    /// tests `ssl_cert_len`.
    pub ssl_cert: Option<&'a [u8]>,
    /// TLS cipher.
    pub ssl_cipher: Option<&'a [u8]>,
    /// TLS session id.
    pub ssl_session: Option<&'a [u8]>,
    /// TLS key size in bits, sent as a u16.
    pub ssl_key_size: Option<u16>,
    /// TLS protocol, sent as `AJP_SSL_PROTOCOL`. Not sent when empty (mod_jk:
    /// `s->ssl_protocol && *s->ssl_protocol`).
    pub ssl_protocol: Option<&'a [u8]>,
    /// Client port as decimal text (`AJP_REMOTE_PORT`), always sent.
    pub remote_port: &'a [u8],
    /// The web server's local address (`AJP_LOCAL_ADDR`), always sent.
    pub local_addr: &'a [u8],
    /// `JK_LB_ACTIVATION`, always sent.
    pub lb_activation: LbActivation,
    /// Further named attributes (mod_jk's `JkEnvVar`), in order. See the module
    /// docs before putting anything here. A name that repeats one of the
    /// dedicated attributes is sent as well; Tomcat applies the last value.
    pub extra: Vec<(&'a [u8], &'a [u8])>,
}

impl Marshal for ForwardRequest<'_> {
    fn marshal<S: Sink>(&self, sink: &mut S) -> Result<(), EncodeError> {
        sink.byte(message_type::FORWARD_REQUEST);
        let code = method_code(self.method);
        sink.byte(code.unwrap_or(STORED_METHOD_CODE));
        sink.string("protocol", self.protocol)?;
        sink.string("req_uri", self.req_uri)?;
        sink.string("remote_addr", self.remote_addr)?;
        sink.optional_string("remote_host", self.remote_host)?;
        sink.string("server_name", self.server_name)?;
        sink.int(self.server_port);
        sink.byte(u8::from(self.is_ssl));
        let count = self.headers.len();
        sink.int(u16::try_from(count).map_err(|_| EncodeError::TooManyHeaders { count })?);
        for &(name, value) in &self.headers {
            match request_header_code(name) {
                Some(code) => sink.int(code),
                None => put_header_name(sink, name)?,
            }
            sink.string("header value", value)?;
        }
        self.attributes
            .marshal(sink, code.is_none().then_some(self.method))
    }
}

/// Writes a header name as a string, refusing lengths the receiver would read
/// as a header code (`0xA000..=0xA0FF`; only reachable with packets > 40 KiB).
pub(crate) fn put_header_name<S: Sink>(sink: &mut S, name: &[u8]) -> Result<(), EncodeError> {
    let len = name.len();
    if u16::try_from(len).is_ok_and(|len| len & HEADER_CODE_MARKER_MASK == HEADER_CODE_MARKER) {
        return Err(EncodeError::HeaderNameLengthLooksLikeCode { len });
    }
    sink.string("header name", name)
}

impl RequestAttributes<'_> {
    fn marshal<S: Sink>(
        &self,
        sink: &mut S,
        stored_method: Option<&[u8]>,
    ) -> Result<(), EncodeError> {
        let coded = [
            (attribute::SECRET, "secret", self.secret),
            (attribute::REMOTE_USER, "remote_user", self.remote_user),
            (attribute::AUTH_TYPE, "auth_type", self.auth_type),
            (attribute::QUERY_STRING, "query_string", self.query_string),
            (attribute::ROUTE, "route", self.route),
            (
                attribute::SSL_CERT,
                "ssl_cert",
                self.ssl_cert.filter(|cert| !cert.is_empty()),
            ),
            (attribute::SSL_CIPHER, "ssl_cipher", self.ssl_cipher),
            (attribute::SSL_SESSION, "ssl_session", self.ssl_session),
        ];
        for (code, field, value) in coded {
            if let Some(value) = value {
                sink.byte(code);
                sink.string(field, value)?;
            }
        }
        if let Some(key_size) = self.ssl_key_size {
            sink.byte(attribute::SSL_KEY_SIZE);
            sink.int(key_size);
        }
        if let Some(method) = stored_method {
            sink.byte(attribute::STORED_METHOD);
            sink.string("stored method", method)?;
        }
        if let Some(protocol) = self.ssl_protocol.filter(|protocol| !protocol.is_empty()) {
            put_named(sink, attribute::NAME_SSL_PROTOCOL, protocol)?;
        }
        put_named(sink, attribute::NAME_REMOTE_PORT, self.remote_port)?;
        put_named(sink, attribute::NAME_LOCAL_ADDR, self.local_addr)?;
        put_named(
            sink,
            attribute::NAME_LB_ACTIVATION,
            self.lb_activation.as_bytes(),
        )?;
        for &(name, value) in &self.extra {
            put_named(sink, name, value)?;
        }
        sink.byte(attribute::ARE_DONE);
        Ok(())
    }
}

fn put_named<S: Sink>(sink: &mut S, name: &[u8], value: &[u8]) -> Result<(), EncodeError> {
    sink.byte(attribute::REQ_ATTRIBUTE);
    sink.string("attribute name", name)?;
    sink.string("attribute value", value)
}

/// Appends `request` to `out` as one FORWARD_REQUEST packet of at most
/// `max_packet_size` bytes. On error nothing is appended: a request that does
/// not fit is [`EncodeError::TooLarge`], never a truncated packet (mod_jk fails
/// it the same way, "failed appending ...").
pub fn encode_forward_request(
    request: &ForwardRequest<'_>,
    max_packet_size: usize,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    encode_framed(request, TO_CONTAINER_MAGIC, max_packet_size, out)
}

/// Bytes in front of the data of a body packet: packet header + u16 length.
const BODY_PACKET_OVERHEAD: usize = PACKET_HEADER_LEN + 2;

/// Most request body bytes one packet carries: `max_packet_size - 6`
/// (mod_jk's `ajp_read_into_msg_buff`; Tomcat asks for 8186 by default).
pub fn max_body_chunk_len(max_packet_size: usize) -> usize {
    max_packet_size.saturating_sub(BODY_PACKET_OVERHEAD)
}

/// The empty packet that ends a request body (and answers a GET_BODY_CHUNK
/// after the body was sent).
pub const END_OF_BODY_PACKET: [u8; 4] = [0x12, 0x34, 0x00, 0x00];
/// CPING.
pub const CPING_PACKET: [u8; 5] = [0x12, 0x34, 0x00, 0x01, message_type::CPING];
/// SHUTDOWN (mod_jk never sends it; Tomcat closes the connection on it).
pub const SHUTDOWN_PACKET: [u8; 5] = [0x12, 0x34, 0x00, 0x01, message_type::SHUTDOWN];

/// Appends one request body packet: u16 length + `data`, no type byte, no NUL.
///
/// Empty `data` gives [`END_OF_BODY_PACKET`], as in mod_jk, which leaves out
/// the inner length when it read nothing: an empty packet is how the container
/// learns the body ended. `data` longer than [`max_body_chunk_len`] is
/// [`EncodeError::TooLarge`]; split it first.
pub fn encode_body_chunk(
    data: &[u8],
    max_packet_size: usize,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    check_packet_size_limit(max_packet_size).map_err(EncodeError::InvalidPacketSizeLimit)?;
    if data.is_empty() {
        out.put_slice(&END_OF_BODY_PACKET);
        return Ok(());
    }
    let needed = BODY_PACKET_OVERHEAD + data.len();
    let too_large = EncodeError::TooLarge {
        needed,
        limit: max_packet_size,
    };
    if needed > max_packet_size {
        return Err(too_large);
    }
    let data_len = u16::try_from(data.len()).map_err(|_| too_large)?;
    let payload_len = u16::try_from(data.len() + 2).map_err(|_| too_large)?;
    out.reserve(needed);
    out.put_u16(TO_CONTAINER_MAGIC);
    out.put_u16(payload_len);
    out.put_u16(data_len);
    out.put_slice(data);
    Ok(())
}

/// Appends the end-of-body packet.
pub fn encode_end_of_body(out: &mut BytesMut) {
    out.put_slice(&END_OF_BODY_PACKET);
}

/// Appends a CPING packet.
pub fn encode_cping(out: &mut BytesMut) {
    out.put_slice(&CPING_PACKET);
}

/// Appends a SHUTDOWN packet.
pub fn encode_shutdown(out: &mut BytesMut) {
    out.put_slice(&SHUTDOWN_PACKET);
}

/// Reads a FORWARD_REQUEST payload (type byte included) back into a
/// [`ForwardRequest`] borrowing from it: the container's side, for a mock
/// Tomcat and for tests.
///
/// It reads like Tomcat's `AjpProcessor.prepareRequest`, but stricter where
/// mod_jk leaves no room, so that a mistake in our encoder shows up here:
/// attribute codes mod_jk never sends, a repeated coded attribute, a missing
/// `AJP_REMOTE_PORT`/`AJP_LOCAL_ADDR`/`JK_LB_ACTIVATION`, null strings in fields
/// mod_jk always fills, and bytes after the 0xFF terminator are errors. Header
/// codes come back as Tomcat's lower-case names. A named attribute repeating a
/// dedicated one fills the field the first time and lands in `extra` after
/// that. A stored method overrides the method code, as in Tomcat.
pub fn decode_forward_request(payload: &[u8]) -> Result<ForwardRequest<'_>, DecodeError> {
    decode_forward_request_as(payload, true)
}

/// Like [`decode_forward_request`], but as lenient as Tomcat about the attributes
/// only mod_jk sends: a request without `AJP_REMOTE_PORT`, `AJP_LOCAL_ADDR` or
/// `JK_LB_ACTIVATION` (mod_proxy_ajp's) reads with empty values and `ACT`. For the
/// demo node, which any AJP front end may talk to.
pub fn decode_forward_request_lenient(payload: &[u8]) -> Result<ForwardRequest<'_>, DecodeError> {
    decode_forward_request_as(payload, false)
}

fn decode_forward_request_as(
    payload: &[u8],
    strict: bool,
) -> Result<ForwardRequest<'_>, DecodeError> {
    let mut reader = Reader::new(payload);
    let kind = reader
        .byte("message type")
        .map_err(|_| DecodeError::EmptyPayload)?;
    if kind != message_type::FORWARD_REQUEST {
        return Err(DecodeError::UnknownMessageType(kind));
    }
    let code = reader.byte("method")?;
    let coded_method = if code == STORED_METHOD_CODE {
        None
    } else {
        Some(method_for_code(code).ok_or(DecodeError::InvalidMethodCode(code))?)
    };
    let protocol = reader.required_string("protocol")?;
    let req_uri = reader.required_string("req_uri")?;
    let remote_addr = reader.required_string("remote_addr")?;
    let remote_host = reader.string("remote_host")?;
    let server_name = reader.required_string("server_name")?;
    let server_port = reader.int("server_port")?;
    let is_ssl = reader.byte("is_ssl")? != 0;
    let count = reader.int("header count")?;
    // Smallest header: a code and an empty value, 5 bytes. Bounding the
    // reservation by what the payload can hold keeps a forged count cheap.
    let mut headers = Vec::with_capacity(usize::from(count).min(reader.remaining() / 5));
    for _ in 0..count {
        let name = match reader.peek_int() {
            Some(code) if code & HEADER_CODE_MARKER_MASK == HEADER_CODE_MARKER => {
                reader.int("header name")?;
                request_header_name(code).ok_or(DecodeError::InvalidRequestHeaderCode(code))?
            }
            _ => reader.required_string("header name")?,
        };
        headers.push((name, reader.required_string("header value")?));
    }
    let (attributes, stored_method) = decode_attributes(&mut reader, strict)?;
    if reader.remaining() != 0 {
        return Err(DecodeError::TrailingBytes {
            count: reader.remaining(),
        });
    }
    let method = stored_method
        .or(coded_method)
        .ok_or(DecodeError::MissingAttribute("stored method"))?;
    Ok(ForwardRequest {
        method,
        protocol,
        req_uri,
        remote_addr,
        remote_host,
        server_name,
        server_port,
        is_ssl,
        headers,
        attributes,
    })
}

/// Reads the attribute list up to and including 0xFF; returns the attributes
/// and the stored method, if one came.
fn decode_attributes<'a>(
    reader: &mut Reader<'a>,
    strict: bool,
) -> Result<(RequestAttributes<'a>, Option<&'a [u8]>), DecodeError> {
    let mut attributes = RequestAttributes::default();
    let mut stored_method = None;
    let mut remote_port = None;
    let mut local_addr = None;
    let mut lb_activation = None;
    let mut seen_codes: u16 = 0;
    loop {
        let code = reader.byte("attribute code")?;
        if code == attribute::ARE_DONE {
            break;
        }
        if code != attribute::REQ_ATTRIBUTE {
            let bit = 1u16.checked_shl(u32::from(code)).unwrap_or(0);
            if seen_codes & bit != 0 {
                return Err(DecodeError::DuplicateAttribute(code));
            }
            seen_codes |= bit;
        }
        let slot = match code {
            attribute::SECRET => &mut attributes.secret,
            attribute::REMOTE_USER => &mut attributes.remote_user,
            attribute::AUTH_TYPE => &mut attributes.auth_type,
            attribute::QUERY_STRING => &mut attributes.query_string,
            attribute::ROUTE => &mut attributes.route,
            attribute::SSL_CERT => &mut attributes.ssl_cert,
            attribute::SSL_CIPHER => &mut attributes.ssl_cipher,
            attribute::SSL_SESSION => &mut attributes.ssl_session,
            attribute::STORED_METHOD => &mut stored_method,
            attribute::SSL_KEY_SIZE => {
                attributes.ssl_key_size = Some(reader.int("ssl_key_size")?);
                continue;
            }
            attribute::REQ_ATTRIBUTE => {
                let name = reader.required_string("attribute name")?;
                let value = reader.required_string("attribute value")?;
                let slot = match name {
                    attribute::NAME_SSL_PROTOCOL => &mut attributes.ssl_protocol,
                    attribute::NAME_REMOTE_PORT => &mut remote_port,
                    attribute::NAME_LOCAL_ADDR => &mut local_addr,
                    attribute::NAME_LB_ACTIVATION => &mut lb_activation,
                    _ => {
                        attributes.extra.push((name, value));
                        continue;
                    }
                };
                if slot.is_some() {
                    attributes.extra.push((name, value));
                } else {
                    *slot = Some(value);
                }
                continue;
            }
            other => return Err(DecodeError::UnknownAttribute(other)),
        };
        *slot = Some(reader.required_string(attribute_field(code))?);
    }
    if !strict {
        remote_port.get_or_insert(b"");
        local_addr.get_or_insert(b"");
        lb_activation.get_or_insert(LbActivation::Active.as_bytes());
    }
    attributes.remote_port = remote_port.ok_or(DecodeError::MissingAttribute("AJP_REMOTE_PORT"))?;
    attributes.local_addr = local_addr.ok_or(DecodeError::MissingAttribute("AJP_LOCAL_ADDR"))?;
    let activation = lb_activation.ok_or(DecodeError::MissingAttribute("JK_LB_ACTIVATION"))?;
    attributes.lb_activation =
        LbActivation::from_bytes(activation).ok_or(DecodeError::InvalidAttributeValue {
            name: "JK_LB_ACTIVATION",
        })?;
    Ok((attributes, stored_method))
}

/// Field name of a coded string attribute, for error messages.
fn attribute_field(code: u8) -> &'static str {
    match code {
        attribute::SECRET => "secret",
        attribute::REMOTE_USER => "remote_user",
        attribute::AUTH_TYPE => "auth_type",
        attribute::QUERY_STRING => "query_string",
        attribute::ROUTE => "route",
        attribute::SSL_CERT => "ssl_cert",
        attribute::SSL_CIPHER => "ssl_cipher",
        attribute::SSL_SESSION => "ssl_session",
        attribute::STORED_METHOD => "stored method",
        _ => "attribute",
    }
}

/// Reads a request body packet's payload: the data, or an empty slice for the
/// end-of-body packet (payload length 0). Like Tomcat, an inner length of 0 also
/// means end of body. Bytes beyond the announced length are an error here
/// (Tomcat ignores them; mod_jk never writes them).
pub fn decode_body_chunk(payload: &[u8]) -> Result<&[u8], DecodeError> {
    if payload.is_empty() {
        return Ok(payload);
    }
    let mut reader = Reader::new(payload);
    let len = reader.int("body chunk length")?;
    let data = reader.bytes(usize::from(len), "body chunk")?;
    match reader.remaining() {
        0 => Ok(data),
        count => Err(DecodeError::TrailingBytes { count }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ajp::frame::{DEFAULT_PACKET_SIZE, MAX_PACKET_SIZE, decode_packet_to_container};

    /// Method codes from the reference's §4.4 table.
    const SC_M_GET: u8 = 2;
    const SC_M_MKACTIVITY: u8 = 27;
    /// Header codes from §4.5.
    const SC_ACCEPT: u16 = 0xA001;
    const SC_HOST: u16 = 0xA00B;
    const SC_USER_AGENT: u16 = 0xA00E;
    const SC_CONTENT_LENGTH: u16 = 0xA008;

    /// A hand-written byte builder for expectations, independent of the encoder.
    #[derive(Default)]
    struct Expected(Vec<u8>);

    impl Expected {
        fn byte(mut self, b: u8) -> Self {
            self.0.push(b);
            self
        }
        fn int(mut self, v: u16) -> Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        fn string(mut self, s: &[u8]) -> Self {
            self.0
                .extend_from_slice(&u16::try_from(s.len()).unwrap().to_be_bytes());
            self.0.extend_from_slice(s);
            self.0.push(0);
            self
        }
        fn null(self) -> Self {
            self.int(0xFFFF)
        }
        fn named(self, name: &[u8], value: &[u8]) -> Self {
            self.byte(attribute::REQ_ATTRIBUTE)
                .string(name)
                .string(value)
        }
        /// Wraps the payload in a web server → container packet.
        fn packet(self) -> Vec<u8> {
            let mut packet = TO_CONTAINER_MAGIC.to_be_bytes().to_vec();
            packet.extend_from_slice(&u16::try_from(self.0.len()).unwrap().to_be_bytes());
            packet.extend_from_slice(&self.0);
            packet
        }
    }

    fn simple_get() -> ForwardRequest<'static> {
        ForwardRequest {
            method: b"GET",
            protocol: b"HTTP/1.1",
            req_uri: b"/app/index.jsp",
            remote_addr: b"192.0.2.7",
            remote_host: None,
            server_name: b"www.example.com",
            server_port: 80,
            is_ssl: false,
            headers: vec![
                (b"Host", b"www.example.com"),
                (b"User-Agent", b"curl/8.5.0"),
                (b"Accept", b"*/*"),
                (b"content-length", b"0"),
            ],
            attributes: RequestAttributes {
                query_string: Some(b"a=1"),
                remote_port: b"54321",
                local_addr: b"192.0.2.1",
                ..RequestAttributes::default()
            },
        }
    }

    fn encode(request: &ForwardRequest<'_>) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_forward_request(request, DEFAULT_PACKET_SIZE, &mut out).unwrap();
        out.to_vec()
    }

    #[test]
    fn simple_get_matches_the_layout_table_byte_for_byte() {
        let expected = Expected::default()
            .byte(message_type::FORWARD_REQUEST)
            .byte(SC_M_GET)
            .string(b"HTTP/1.1")
            .string(b"/app/index.jsp")
            .string(b"192.0.2.7")
            .null()
            .string(b"www.example.com")
            .int(80)
            .byte(0)
            .int(4)
            .int(SC_HOST)
            .string(b"www.example.com")
            .int(SC_USER_AGENT)
            .string(b"curl/8.5.0")
            .int(SC_ACCEPT)
            .string(b"*/*")
            .int(SC_CONTENT_LENGTH)
            .string(b"0")
            .byte(attribute::QUERY_STRING)
            .string(b"a=1")
            .named(b"AJP_REMOTE_PORT", b"54321")
            .named(b"AJP_LOCAL_ADDR", b"192.0.2.1")
            .named(b"JK_LB_ACTIVATION", b"ACT")
            .byte(attribute::ARE_DONE)
            .packet();
        assert_eq!(encode(&simple_get()), expected);
    }

    #[test]
    fn attributes_follow_mod_jk_order_with_the_secret_first() {
        let request = ForwardRequest {
            method: b"PATCH",
            is_ssl: true,
            headers: vec![],
            attributes: RequestAttributes {
                extra: vec![(b"MY_VAR", b"v")],
                lb_activation: LbActivation::Disabled,
                local_addr: b"10.0.0.1",
                remote_port: b"443",
                ssl_protocol: Some(b"TLSv1.3"),
                ssl_key_size: Some(256),
                ssl_session: Some(b"sess"),
                ssl_cipher: Some(b"TLS_AES_256_GCM_SHA384"),
                ssl_cert: Some(b"-----BEGIN CERTIFICATE-----"),
                route: Some(b"node1"),
                query_string: Some(b""),
                auth_type: Some(b"Basic"),
                remote_user: Some(b"alice"),
                secret: Some(b"s3cret"),
            },
            ..simple_get()
        };
        let expected = Expected::default()
            .byte(message_type::FORWARD_REQUEST)
            .byte(STORED_METHOD_CODE)
            .string(b"HTTP/1.1")
            .string(b"/app/index.jsp")
            .string(b"192.0.2.7")
            .null()
            .string(b"www.example.com")
            .int(80)
            .byte(1)
            .int(0)
            .byte(attribute::SECRET)
            .string(b"s3cret")
            .byte(attribute::REMOTE_USER)
            .string(b"alice")
            .byte(attribute::AUTH_TYPE)
            .string(b"Basic")
            .byte(attribute::QUERY_STRING)
            .string(b"")
            .byte(attribute::ROUTE)
            .string(b"node1")
            .byte(attribute::SSL_CERT)
            .string(b"-----BEGIN CERTIFICATE-----")
            .byte(attribute::SSL_CIPHER)
            .string(b"TLS_AES_256_GCM_SHA384")
            .byte(attribute::SSL_SESSION)
            .string(b"sess")
            .byte(attribute::SSL_KEY_SIZE)
            .int(256)
            .byte(attribute::STORED_METHOD)
            .string(b"PATCH")
            .named(b"AJP_SSL_PROTOCOL", b"TLSv1.3")
            .named(b"AJP_REMOTE_PORT", b"443")
            .named(b"AJP_LOCAL_ADDR", b"10.0.0.1")
            .named(b"JK_LB_ACTIVATION", b"DIS")
            .named(b"MY_VAR", b"v")
            .byte(attribute::ARE_DONE)
            .packet();
        assert_eq!(encode(&request), expected);
    }

    #[test]
    fn empty_ssl_cert_and_ssl_protocol_are_left_out() {
        let mut request = simple_get();
        request.attributes.ssl_cert = Some(b"");
        request.attributes.ssl_protocol = Some(b"");
        assert_eq!(encode(&request), encode(&simple_get()));
    }

    #[test]
    fn accept_sub_headers_travel_by_name_in_the_received_case() {
        let mut request = simple_get();
        request.headers = vec![
            (b"Accept-Charset", b"utf-8"),
            (b"ACCEPT-ENCODING", b"gzip"),
            (b"accept-language", b"en"),
            (b"aCcEpT", b"*/*"),
        ];
        let encoded = encode(&request);
        let headers = Expected::default()
            .int(4)
            .string(b"Accept-Charset")
            .string(b"utf-8")
            .string(b"ACCEPT-ENCODING")
            .string(b"gzip")
            .string(b"accept-language")
            .string(b"en")
            .int(SC_ACCEPT)
            .string(b"*/*")
            .0;
        assert!(encoded.windows(headers.len()).any(|w| w == headers));
    }

    #[test]
    fn header_codes_match_mod_jk() {
        let cases: [(&[u8], Option<u16>); 22] = [
            (b"accept", Some(0xA001)),
            (b"Accept-Charset", None),
            (b"Accept-Encoding", None),
            (b"Accept-Language", None),
            (b"AUTHORIZATION", Some(0xA005)),
            (b"Connection", Some(0xA006)),
            (b"Content-Type", Some(0xA007)),
            (b"Content-Length", Some(0xA008)),
            (b"Cookie", Some(0xA009)),
            (b"Cookie2", Some(0xA00A)),
            (b"Host", Some(0xA00B)),
            (b"Pragma", Some(0xA00C)),
            (b"Referer", Some(0xA00D)),
            (b"User-Agent", Some(0xA00E)),
            (b"Hosts", None),
            (b"Cookie3", None),
            (b"Accept-", None),
            (b"X-Forwarded-For", None),
            (b"Content\x0dType", None),
            (b"Content-Typf", None),
            (b"cookie\x12", None),
            (b"hOsT", Some(0xA00B)),
        ];
        for (name, code) in cases {
            assert_eq!(
                request_header_code(name),
                code,
                "{}",
                String::from_utf8_lossy(name)
            );
        }
        for code in 0xA001..=0xA00E {
            let name = request_header_name(code).unwrap();
            let by_name_only = [0xA002, 0xA003, 0xA004].contains(&code);
            assert_eq!(request_header_code(name), (!by_name_only).then_some(code));
            assert_eq!(
                request_header_code(&name.to_ascii_uppercase()),
                (!by_name_only).then_some(code)
            );
        }
        assert_eq!(request_header_name(0xA000), None);
        assert_eq!(request_header_name(0xA00F), None);
    }

    #[test]
    fn method_codes_are_case_sensitive_and_complete() {
        assert_eq!(method_code(b"GET"), Some(SC_M_GET));
        assert_eq!(method_code(b"get"), None);
        assert_eq!(method_code(b"PATCH"), None);
        assert_eq!(method_code(b"MKACTIVITY"), Some(SC_M_MKACTIVITY));
        for code in 1..=SC_M_MKACTIVITY {
            let name = method_for_code(code).unwrap();
            assert_eq!(method_code(name), Some(code));
        }
        assert_eq!(method_for_code(0), None);
        assert_eq!(method_for_code(SC_M_MKACTIVITY + 1), None);
        assert_eq!(method_for_code(STORED_METHOD_CODE), None);
    }

    /// A request whose packet is exactly `size` bytes long.
    fn request_of_packet_size(size: usize) -> (ForwardRequest<'static>, Vec<u8>) {
        let base = encode(&simple_get()).len();
        let mut request = simple_get();
        // One more string header: 2 + name + 1 + 2 + value + 1 bytes.
        let name: &'static [u8] = b"X-Pad";
        let overhead = 2 + name.len() + 1 + 2 + 1;
        let value = vec![b'p'; size - base - overhead];
        let value: &'static [u8] = Box::leak(value.into_boxed_slice());
        request.headers.push((name, value));
        (request, value.to_vec())
    }

    #[test]
    fn too_large_at_exactly_one_byte_over_the_limit() {
        for limit in [DEFAULT_PACKET_SIZE, MAX_PACKET_SIZE] {
            let (fits, _) = request_of_packet_size(limit);
            let mut out = BytesMut::new();
            encode_forward_request(&fits, limit, &mut out).unwrap();
            assert_eq!(out.len(), limit);

            let (too_big, _) = request_of_packet_size(limit + 1);
            let mut out = BytesMut::from(&b"earlier"[..]);
            assert_eq!(
                encode_forward_request(&too_big, limit, &mut out),
                Err(EncodeError::TooLarge {
                    needed: limit + 1,
                    limit
                })
            );
            assert_eq!(&out[..], b"earlier", "nothing appended on error");
        }
        let message = EncodeError::TooLarge {
            needed: 8193,
            limit: 8192,
        }
        .to_string();
        assert!(
            message.contains("8192")
                && message.contains("max_packet_size")
                && message.contains("packetSize")
        );
    }

    #[test]
    fn unrepresentable_strings_are_refused_not_truncated() {
        let mut request = simple_get();
        request.req_uri = b"/a\0b";
        assert_eq!(
            encode_forward_request(&request, MAX_PACKET_SIZE, &mut BytesMut::new()),
            Err(EncodeError::NulInString { field: "req_uri" })
        );
        let long = vec![b'x'; 0xFFFF];
        let mut request = simple_get();
        request.headers.push((b"X-Long", &long));
        assert_eq!(
            encode_forward_request(&request, MAX_PACKET_SIZE, &mut BytesMut::new()),
            Err(EncodeError::StringTooLong {
                field: "header value",
                len: 0xFFFF
            })
        );
        let name = vec![b'n'; 0xA000];
        let mut request = simple_get();
        request.headers.push((&name, b""));
        assert_eq!(
            encode_forward_request(&request, MAX_PACKET_SIZE, &mut BytesMut::new()),
            Err(EncodeError::HeaderNameLengthLooksLikeCode { len: 0xA000 })
        );
        let mut request = simple_get();
        request.headers = vec![(b"Host", b""); 0x1_0000];
        assert_eq!(
            encode_forward_request(&request, MAX_PACKET_SIZE, &mut BytesMut::new()),
            Err(EncodeError::TooManyHeaders { count: 0x1_0000 })
        );
        assert_eq!(
            encode_forward_request(&simple_get(), 4096, &mut BytesMut::new()),
            Err(EncodeError::InvalidPacketSizeLimit(4096))
        );
    }

    #[test]
    fn canonical_packets() {
        let mut out = BytesMut::new();
        encode_cping(&mut out);
        assert_eq!(&out[..], [0x12, 0x34, 0x00, 0x01, 0x0A]);
        out.clear();
        encode_end_of_body(&mut out);
        assert_eq!(&out[..], [0x12, 0x34, 0x00, 0x00]);
        out.clear();
        encode_shutdown(&mut out);
        assert_eq!(&out[..], [0x12, 0x34, 0x00, 0x01, 0x07]);
    }

    #[test]
    fn body_chunks_carry_at_most_packet_size_minus_six() {
        let mut out = BytesMut::new();
        encode_body_chunk(b"hello", DEFAULT_PACKET_SIZE, &mut out).unwrap();
        assert_eq!(
            &out[..],
            [
                0x12, 0x34, 0x00, 0x07, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o'
            ]
        );

        out.clear();
        encode_body_chunk(b"", DEFAULT_PACKET_SIZE, &mut out).unwrap();
        assert_eq!(&out[..], END_OF_BODY_PACKET);

        for limit in [DEFAULT_PACKET_SIZE, MAX_PACKET_SIZE] {
            let max = max_body_chunk_len(limit);
            assert_eq!(max, limit - 6);
            let data = vec![b'd'; max + 1];
            out.clear();
            encode_body_chunk(&data[..max], limit, &mut out).unwrap();
            assert_eq!(out.len(), limit);
            let (payload, consumed) = decode_packet_to_container(&out, limit).unwrap().unwrap();
            assert_eq!(consumed, limit);
            assert_eq!(decode_body_chunk(payload), Ok(&data[..max]));
            assert_eq!(
                encode_body_chunk(&data, limit, &mut out),
                Err(EncodeError::TooLarge {
                    needed: limit + 1,
                    limit
                })
            );
        }
    }

    #[test]
    fn body_chunk_decoding() {
        assert_eq!(decode_body_chunk(&[]), Ok(&[][..]));
        assert_eq!(decode_body_chunk(&[0, 0]), Ok(&[][..]));
        assert_eq!(
            decode_body_chunk(&[0]),
            Err(DecodeError::Truncated {
                field: "body chunk length"
            })
        );
        assert_eq!(
            decode_body_chunk(&[0, 2, b'a']),
            Err(DecodeError::Truncated {
                field: "body chunk"
            })
        );
        assert_eq!(
            decode_body_chunk(&[0, 1, b'a', 0]),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn round_trip_of_simple_requests() {
        for request in [simple_get(), {
            let mut r = simple_get();
            r.method = b"get";
            r.remote_host = Some(b"client.example");
            r.attributes.secret = Some(b"x");
            r.attributes.ssl_key_size = Some(128);
            r
        }] {
            let encoded = encode(&request);
            let (payload, _) = decode_packet_to_container(&encoded, DEFAULT_PACKET_SIZE)
                .unwrap()
                .unwrap();
            let mut decoded = decode_forward_request(payload).unwrap();
            // Coded headers come back under Tomcat's lower-case names.
            for (name, _) in &mut decoded.headers {
                if let Some(original) = request
                    .headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                {
                    *name = original.0;
                }
            }
            assert_eq!(decoded, request);
        }
    }

    /// A valid payload built by hand, to corrupt in the error tests.
    fn minimal_payload() -> Expected {
        Expected::default()
            .byte(message_type::FORWARD_REQUEST)
            .byte(SC_M_GET)
            .string(b"HTTP/1.1")
            .string(b"/")
            .string(b"127.0.0.1")
            .null()
            .string(b"localhost")
            .int(80)
            .byte(0)
    }

    fn mandatory_attributes(e: Expected) -> Expected {
        e.named(b"AJP_REMOTE_PORT", b"1")
            .named(b"AJP_LOCAL_ADDR", b"127.0.0.1")
            .named(b"JK_LB_ACTIVATION", b"ACT")
    }

    #[test]
    fn the_lenient_decoder_reads_a_request_without_mod_jks_own_attributes() {
        let done = attribute::ARE_DONE;
        // mod_proxy_ajp sends none of AJP_REMOTE_PORT, AJP_LOCAL_ADDR, JK_LB_ACTIVATION.
        let bare = minimal_payload().int(0).byte(done).0;
        assert_eq!(
            decode_forward_request(&bare).err(),
            Some(DecodeError::MissingAttribute("AJP_REMOTE_PORT"))
        );
        let read = decode_forward_request_lenient(&bare).unwrap();
        assert_eq!(read.attributes.lb_activation, LbActivation::Active);
        assert_eq!(read.attributes.remote_port, b"");
        assert_eq!(read.req_uri, b"/");
        // Everything else stays as strict.
        let trailing = minimal_payload().int(0).byte(done).byte(0).0;
        assert!(decode_forward_request_lenient(&trailing).is_err());
    }

    #[test]
    fn decoder_errors() {
        let done = attribute::ARE_DONE;
        let ok = mandatory_attributes(minimal_payload().int(0)).byte(done).0;
        assert!(decode_forward_request(&ok).is_ok());

        let cases: Vec<(Vec<u8>, DecodeError)> = vec![
            (vec![], DecodeError::EmptyPayload),
            (
                vec![message_type::CPING],
                DecodeError::UnknownMessageType(message_type::CPING),
            ),
            (
                vec![message_type::FORWARD_REQUEST, 0],
                DecodeError::InvalidMethodCode(0),
            ),
            (
                vec![message_type::FORWARD_REQUEST, SC_M_MKACTIVITY + 1],
                DecodeError::InvalidMethodCode(SC_M_MKACTIVITY + 1),
            ),
            (
                minimal_payload().int(1).int(0xA00F).string(b"v").0,
                DecodeError::InvalidRequestHeaderCode(0xA00F),
            ),
            (
                minimal_payload().int(1).null().string(b"v").0,
                DecodeError::NullString {
                    field: "header name",
                },
            ),
            (
                mandatory_attributes(minimal_payload().int(0)).0,
                DecodeError::Truncated {
                    field: "attribute code",
                },
            ),
            (
                minimal_payload()
                    .int(0)
                    .byte(attribute::CONTEXT)
                    .string(b"/")
                    .0,
                DecodeError::UnknownAttribute(attribute::CONTEXT),
            ),
            (
                minimal_payload()
                    .int(0)
                    .byte(attribute::ROUTE)
                    .string(b"a")
                    .byte(attribute::ROUTE)
                    .string(b"b")
                    .0,
                DecodeError::DuplicateAttribute(attribute::ROUTE),
            ),
            (
                minimal_payload()
                    .int(0)
                    .named(b"AJP_LOCAL_ADDR", b"x")
                    .named(b"JK_LB_ACTIVATION", b"ACT")
                    .byte(done)
                    .0,
                DecodeError::MissingAttribute("AJP_REMOTE_PORT"),
            ),
            (
                minimal_payload()
                    .int(0)
                    .named(b"AJP_REMOTE_PORT", b"1")
                    .named(b"AJP_LOCAL_ADDR", b"x")
                    .named(b"JK_LB_ACTIVATION", b"act")
                    .byte(done)
                    .0,
                DecodeError::InvalidAttributeValue {
                    name: "JK_LB_ACTIVATION",
                },
            ),
            (
                {
                    let mut p = ok.clone();
                    p[1] = STORED_METHOD_CODE;
                    p
                },
                DecodeError::MissingAttribute("stored method"),
            ),
            (
                mandatory_attributes(minimal_payload().int(0))
                    .byte(done)
                    .byte(0)
                    .0,
                DecodeError::TrailingBytes { count: 1 },
            ),
        ];
        for (payload, expected) in cases {
            assert_eq!(
                decode_forward_request(&payload),
                Err(expected),
                "{payload:02X?}"
            );
        }
    }

    #[test]
    fn repeated_named_attributes_go_to_extra() {
        let payload = mandatory_attributes(minimal_payload().int(0))
            .named(b"AJP_REMOTE_PORT", b"2")
            .byte(attribute::ARE_DONE)
            .0;
        let decoded = decode_forward_request(&payload).unwrap();
        assert_eq!(decoded.attributes.remote_port, b"1");
        assert_eq!(
            decoded.attributes.extra,
            vec![(&b"AJP_REMOTE_PORT"[..], &b"2"[..])]
        );
    }

    mod properties {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        /// Owned parts of a request; [`Parts::request`] lends them out.
        #[derive(Debug, Clone)]
        struct Parts {
            method: Vec<u8>,
            strings: [Vec<u8>; 4],
            remote_host: Option<Vec<u8>>,
            port: u16,
            is_ssl: bool,
            headers: Vec<(Vec<u8>, Vec<u8>)>,
            optional: [Option<Vec<u8>>; 9],
            key_size: Option<u16>,
            activation: LbActivation,
            extra: Vec<(Vec<u8>, Vec<u8>)>,
        }

        impl Parts {
            fn request(&self) -> ForwardRequest<'_> {
                let [protocol, req_uri, remote_addr, server_name] = &self.strings;
                let [
                    secret,
                    user,
                    auth,
                    query,
                    route,
                    cert,
                    cipher,
                    session,
                    ssl_protocol,
                ] = &self.optional;
                ForwardRequest {
                    method: &self.method,
                    protocol,
                    req_uri,
                    remote_addr,
                    remote_host: self.remote_host.as_deref(),
                    server_name,
                    server_port: self.port,
                    is_ssl: self.is_ssl,
                    headers: self.headers.iter().map(|(n, v)| (&n[..], &v[..])).collect(),
                    attributes: RequestAttributes {
                        secret: secret.as_deref(),
                        remote_user: user.as_deref(),
                        auth_type: auth.as_deref(),
                        query_string: query.as_deref(),
                        route: route.as_deref(),
                        ssl_cert: cert.as_deref(),
                        ssl_cipher: cipher.as_deref(),
                        ssl_session: session.as_deref(),
                        ssl_key_size: self.key_size,
                        ssl_protocol: ssl_protocol.as_deref(),
                        remote_port: b"8080",
                        local_addr: b"::1",
                        lb_activation: self.activation,
                        extra: self.extra.iter().map(|(n, v)| (&n[..], &v[..])).collect(),
                    },
                }
            }
        }

        fn text() -> impl Strategy<Value = Vec<u8>> {
            vec(1u8..=255, 0..40)
        }

        fn method() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                (1u8..=27).prop_map(|code| method_for_code(code).unwrap().to_vec()),
                text(),
            ]
        }

        fn header_name() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                prop::sample::select(&REQUEST_HEADERS_BY_CODE[..]).prop_map(<[u8]>::to_vec),
                text(),
            ]
        }

        fn extra_name() -> impl Strategy<Value = Vec<u8>> {
            text().prop_filter("not a dedicated attribute", |name| {
                ![
                    attribute::NAME_SSL_PROTOCOL,
                    attribute::NAME_REMOTE_PORT,
                    attribute::NAME_LOCAL_ADDR,
                    attribute::NAME_LB_ACTIVATION,
                ]
                .contains(&&name[..])
            })
        }

        fn parts() -> impl Strategy<Value = Parts> {
            (
                (
                    method(),
                    [text(), text(), text(), text()],
                    prop::option::of(text()),
                ),
                (
                    any::<u16>(),
                    any::<bool>(),
                    vec((header_name(), text()), 0..12),
                ),
                (
                    [
                        prop::option::of(text()),
                        prop::option::of(text()),
                        prop::option::of(text()),
                        prop::option::of(text()),
                        prop::option::of(text()),
                        prop::option::of(text()),
                        prop::option::of(text()),
                        prop::option::of(text()),
                        prop::option::of(text()),
                    ],
                    prop::option::of(any::<u16>()),
                    prop_oneof![
                        Just(LbActivation::Active),
                        Just(LbActivation::Disabled),
                        Just(LbActivation::Stopped)
                    ],
                    vec((extra_name(), text()), 0..4),
                ),
            )
                .prop_map(
                    |(
                        (method, strings, remote_host),
                        (port, is_ssl, headers),
                        (optional, key_size, activation, extra),
                    )| Parts {
                        method,
                        strings,
                        remote_host,
                        port,
                        is_ssl,
                        headers,
                        optional,
                        key_size,
                        activation,
                        extra,
                    },
                )
        }

        proptest! {
            #[test]
            fn encode_then_decode_gives_the_request_back(parts in parts()) {
                let request = parts.request();
                let mut out = BytesMut::new();
                encode_forward_request(&request, DEFAULT_PACKET_SIZE, &mut out).unwrap();
                prop_assert!(out.len() <= DEFAULT_PACKET_SIZE);
                let (payload, consumed) =
                    decode_packet_to_container(&out, DEFAULT_PACKET_SIZE).unwrap().unwrap();
                prop_assert_eq!(consumed, out.len());
                let decoded = decode_forward_request(payload).unwrap();

                let mut expected = request.clone();
                // What the wire cannot tell apart: empty ssl_cert / ssl_protocol are
                // not sent, and coded header names come back in Tomcat's spelling.
                expected.attributes.ssl_cert = expected.attributes.ssl_cert.filter(|c| !c.is_empty());
                expected.attributes.ssl_protocol =
                    expected.attributes.ssl_protocol.filter(|p| !p.is_empty());
                for (name, _) in &mut expected.headers {
                    if let Some(code) = request_header_code(name) {
                        *name = request_header_name(code).unwrap();
                    }
                }
                prop_assert_eq!(decoded, expected);
            }

            #[test]
            fn header_code_lookup_agrees_with_a_plain_table_scan(
                (base, flips, replace_at, replacement) in (
                    prop::sample::select(&REQUEST_HEADERS_BY_CODE[..]),
                    vec(any::<bool>(), 16),
                    0usize..32,
                    any::<u8>(),
                ),
            ) {
                let mut name = base.to_vec();
                for (byte, flip) in name.iter_mut().zip(flips) {
                    if flip {
                        *byte = byte.to_ascii_uppercase();
                    }
                }
                if let Some(byte) = name.get_mut(replace_at) {
                    *byte = replacement;
                }
                let plain_scan = (0xA001..=0xA00E)
                    .filter(|code| ![0xA002, 0xA003, 0xA004].contains(code))
                    .find(|&code| request_header_name(code).unwrap().eq_ignore_ascii_case(&name));
                prop_assert_eq!(request_header_code(&name), plain_scan);
            }

            #[test]
            fn arbitrary_payloads_never_panic_the_request_decoder(payload in vec(any::<u8>(), 0..300)) {
                let _ = decode_forward_request(&payload);
                let _ = decode_body_chunk(&payload);
            }
        }
    }
}
