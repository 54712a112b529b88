//! AJP13 as mod_jk 1.2.48 speaks it to Tomcat: a pure codec (bytes in, messages out) and, kept apart from it, the sockets, pool and exchanges that use it.
//!
//! The codec modules do no I/O:
//! * [`frame`]: packet framing, size limits, message type codes, the
//!   incremental packet decoder ([`decode_packet`]).
//! * [`request`]: what the web server sends — FORWARD_REQUEST
//!   ([`encode_forward_request`]), request body packets, CPING, SHUTDOWN — and
//!   [`decode_forward_request`] for a mock container.
//! * [`response`]: what the container sends — [`decode_container_message`]
//!   into a [`ContainerMessage`] borrowing the input — and Tomcat-style encoders
//!   for a mock container.
//! * [`error`]: [`DecodeError`], [`EncodeError`].
//!
//! The I/O modules build on them:
//! * [`conn`]: one backend connection (the only owner of its socket).
//! * [`pool`]: a worker's connections: slots, reuse, stale detection, CPing modes.
//! * [`exchange`]: one request over one connection, reporting how far it got.
//!
//! Nothing here panics on any input: readers are bounds-checked, and the lints
//! below keep indexing, `unwrap` and `expect` out of non-test code.

#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

pub mod conn;
pub mod error;
pub mod exchange;
pub mod frame;
pub mod pool;
pub mod request;
pub mod response;
mod wire;

pub use error::{DecodeError, EncodeError};
pub use frame::{
    DEFAULT_PACKET_SIZE, FROM_CONTAINER_MAGIC, MAX_PACKET_SIZE, MIN_PACKET_SIZE, PACKET_HEADER_LEN,
    TO_CONTAINER_MAGIC, decode_packet, decode_packet_to_container, max_payload_len, message_type,
};
pub use request::{
    CPING_PACKET, END_OF_BODY_PACKET, ForwardRequest, LbActivation, RequestAttributes,
    SHUTDOWN_PACKET, STORED_METHOD_CODE, attribute, decode_body_chunk, decode_forward_request,
    encode_body_chunk, encode_cping, encode_end_of_body, encode_forward_request, encode_shutdown,
    max_body_chunk_len, method_code, method_for_code, request_header_code, request_header_name,
};
pub use response::{
    CPONG_PACKET, ContainerMessage, END_RESPONSE_CLOSE_PACKET, END_RESPONSE_REUSE_PACKET,
    FLUSH_PACKET, ResponseHeaders, SendHeaders, decode_container_message, encode_cpong,
    encode_end_response, encode_get_body_chunk, encode_send_body_chunk, encode_send_headers,
    max_send_body_chunk_len, parse_container_message, response_header_code, response_header_name,
};
