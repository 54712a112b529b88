//! The two error types of the AJP13 codec: what was wrong with bytes received, and why a message could not be encoded.

use std::fmt;

/// Why received bytes are not a valid AJP13 packet or message.
///
/// Every variant means the connection can no longer be trusted: mod_jk answers
/// all of them by closing the socket (protocol error → 502 for the client, or
/// 500 for the malformed-response cases), and so should the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The `max_packet_size` given to the decoder is outside 8192..=65536.
    /// A programming or configuration error, not a fault of the peer.
    InvalidPacketSizeLimit(usize),
    /// The first two bytes are not the packet magic of this direction
    /// (`0x4142` "AB" from the container, `0x1234` towards it).
    BadMagic {
        /// The magic this direction requires.
        expected: u16,
        /// What the packet started with.
        found: u16,
    },
    /// The length field announces a payload that does not fit a packet of
    /// `max_packet_size` bytes (header included).
    PacketTooLarge {
        /// Payload length announced by the packet header.
        length: usize,
        /// Largest payload allowed: `max_packet_size - 4`.
        limit: usize,
    },
    /// A packet that must carry a message has a zero-length payload.
    EmptyPayload,
    /// The message type byte is not one this direction uses.
    UnknownMessageType(u8),
    /// The payload ends before the named field is complete.
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// A string's terminator byte is not `0x00`.
    UnterminatedString {
        /// The field being read.
        field: &'static str,
    },
    /// A string holds a NUL byte; mod_jk would silently cut it there (it uses
    /// the bytes as a C string), so it is refused instead.
    NulInString {
        /// The field being read.
        field: &'static str,
    },
    /// A null string (length `0xFFFF`) where a value is required.
    NullString {
        /// The field being read.
        field: &'static str,
    },
    /// SEND_HEADERS with HTTP status 0 (mod_jk: "NULL status").
    InvalidStatus,
    /// A response header code `0xA0xx` outside `0xA001..=0xA00B`.
    InvalidResponseHeaderCode(u16),
    /// A SEND_BODY_CHUNK whose chunk length exceeds the bytes that follow it.
    BodyChunkTooLong {
        /// Chunk length announced inside the message.
        length: usize,
        /// Bytes actually present after the length field.
        available: usize,
    },
    /// A FORWARD_REQUEST method byte that is neither 1..=27 nor 0xFF.
    InvalidMethodCode(u8),
    /// A request header code `0xA0xx` outside `0xA001..=0xA00E`.
    InvalidRequestHeaderCode(u16),
    /// A request attribute code mod_jk never sends (0x01, 0x02, 0x0E..=0xFE).
    UnknownAttribute(u8),
    /// The same coded request attribute appears twice.
    DuplicateAttribute(u8),
    /// A request attribute mod_jk always sends is missing.
    MissingAttribute(&'static str),
    /// A request attribute value that cannot be represented (e.g. an unknown
    /// `JK_LB_ACTIVATION`).
    InvalidAttributeValue {
        /// The attribute.
        name: &'static str,
    },
    /// Bytes after the end of a message that must end exactly there.
    TrailingBytes {
        /// How many bytes are left over.
        count: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidPacketSizeLimit(size) => write!(
                f,
                "AJP packet size limit {size} is outside {}..={}",
                super::MIN_PACKET_SIZE,
                super::MAX_PACKET_SIZE
            ),
            Self::BadMagic { expected, found } => write!(
                f,
                "AJP packet starts with 0x{found:04X}, expected 0x{expected:04X}"
            ),
            Self::PacketTooLarge { length, limit } => write!(
                f,
                "AJP packet announces a {length}-byte payload, more than the {limit} bytes \
                 max_packet_size allows"
            ),
            Self::EmptyPayload => {
                f.write_str("AJP packet has an empty payload where a message was expected")
            }
            Self::UnknownMessageType(code) => write!(f, "unknown AJP message type 0x{code:02X}"),
            Self::Truncated { field } => write!(f, "AJP message ends inside the {field}"),
            Self::UnterminatedString { field } => {
                write!(
                    f,
                    "AJP string {field} is not followed by its NUL terminator"
                )
            }
            Self::NulInString { field } => write!(f, "AJP string {field} contains a NUL byte"),
            Self::NullString { field } => {
                write!(f, "AJP string {field} is null but a value is required")
            }
            Self::InvalidStatus => f.write_str("AJP SEND_HEADERS carries HTTP status 0"),
            Self::InvalidResponseHeaderCode(code) => {
                write!(f, "no AJP response header has code 0x{code:04X}")
            }
            Self::BodyChunkTooLong { length, available } => write!(
                f,
                "AJP SEND_BODY_CHUNK announces {length} bytes but only {available} follow"
            ),
            Self::InvalidMethodCode(code) => write!(f, "no HTTP method has AJP code 0x{code:02X}"),
            Self::InvalidRequestHeaderCode(code) => {
                write!(f, "no AJP request header has code 0x{code:04X}")
            }
            Self::UnknownAttribute(code) => {
                write!(
                    f,
                    "AJP request attribute code 0x{code:02X} is not one mod_jk sends"
                )
            }
            Self::DuplicateAttribute(code) => {
                write!(f, "AJP request attribute 0x{code:02X} appears twice")
            }
            Self::MissingAttribute(name) => {
                write!(
                    f,
                    "AJP request lacks the {name} attribute mod_jk always sends"
                )
            }
            Self::InvalidAttributeValue { name } => {
                write!(f, "AJP request attribute {name} has an invalid value")
            }
            Self::TrailingBytes { count } => {
                write!(
                    f,
                    "{count} unexpected bytes after the end of the AJP message"
                )
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a message was not encoded. On error nothing is appended to the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The `max_packet_size` given to the encoder is outside 8192..=65536.
    InvalidPacketSizeLimit(usize),
    /// The message needs a bigger packet than `max_packet_size` allows.
    /// mod_jk fails such a request too ("failed appending ..."); sending a
    /// truncated packet instead would desynchronise the connection.
    TooLarge {
        /// Size of the whole packet, 4-byte header included.
        needed: usize,
        /// The `max_packet_size` in force.
        limit: usize,
    },
    /// A string longer than 0xFFFE bytes (0xFFFF is the null marker).
    StringTooLong {
        /// The field being written.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// A string holding a NUL byte: the receiver would read it as two fields
    /// or cut it short.
    NulInString {
        /// The field being written.
        field: &'static str,
    },
    /// A header name whose length, written as u16, starts with byte 0xA0: the
    /// receiver would take the length for a header code.
    HeaderNameLengthLooksLikeCode {
        /// The name's length.
        len: usize,
    },
    /// More headers than the u16 header count can say.
    TooManyHeaders {
        /// How many there are.
        count: usize,
    },
    /// The encoder's size pass and write pass disagreed: a bug in this codec,
    /// caught instead of sending a malformed packet.
    SizeMismatch,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidPacketSizeLimit(size) => write!(
                f,
                "AJP packet size limit {size} is outside {}..={}",
                super::MIN_PACKET_SIZE,
                super::MAX_PACKET_SIZE
            ),
            Self::TooLarge { needed, limit } => write!(
                f,
                "AJP message needs a {needed}-byte packet but the limit is {limit} bytes; \
                 raise the worker's max_packet_size (and the Tomcat AJP connector's \
                 packetSize to the same value)"
            ),
            Self::StringTooLong { field, len } => write!(
                f,
                "AJP string {field} is {len} bytes long, more than the 65534 an AJP string can hold"
            ),
            Self::NulInString { field } => write!(f, "AJP string {field} contains a NUL byte"),
            Self::HeaderNameLengthLooksLikeCode { len } => write!(
                f,
                "a {len}-byte header name cannot be sent: its length would read as an AJP header code"
            ),
            Self::TooManyHeaders { count } => {
                write!(
                    f,
                    "{count} headers do not fit the AJP header count (at most 65535)"
                )
            }
            Self::SizeMismatch => {
                f.write_str("internal error: AJP encoder measured one size and wrote another")
            }
        }
    }
}

impl std::error::Error for EncodeError {}
