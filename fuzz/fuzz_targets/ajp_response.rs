//! Fuzz target: the AJP13 decoder for container → web server packets (what jkd reads from Tomcat).
//!
//! The input is a byte stream as it could arrive on an AJP connection, possibly
//! several packets back to back. Besides "no panic, no hang", it checks what
//! must hold whatever the input: each decoded packet consumes between 1 and the
//! remaining bytes, it decodes the same at both packet-size limits that admit
//! it, a SEND_HEADERS yields exactly its header count, and what was decoded,
//! written back out as Tomcat would, decodes to the same thing.

#![no_main]

use bytes::BytesMut;
use jkd::ajp::{
    ContainerMessage, DEFAULT_PACKET_SIZE, MAX_PACKET_SIZE, decode_container_message,
    encode_send_body_chunk, encode_send_headers, max_send_body_chunk_len,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((message, consumed))) = decode_container_message(rest, MAX_PACKET_SIZE) {
        assert!(consumed > 0 && consumed <= rest.len());
        // A packet that fits the default size decodes the same there.
        if consumed <= DEFAULT_PACKET_SIZE {
            let again = decode_container_message(rest, DEFAULT_PACKET_SIZE);
            assert_eq!(again, Ok(Some((message.clone(), consumed))));
        }
        check_re_encoding(&message);
        rest = &rest[consumed..];
    }
});

fn check_re_encoding(message: &ContainerMessage<'_>) {
    let mut out = BytesMut::new();
    match message {
        ContainerMessage::SendHeaders(headers) => {
            let list: Vec<(&[u8], &[u8])> = headers.headers().collect();
            assert_eq!(list.len(), headers.header_count());
            // Written back with codes for exactly-spelled names, it can only shrink,
            // so it fits the largest packet.
            encode_send_headers(
                headers.status,
                headers.reason,
                &list,
                MAX_PACKET_SIZE,
                &mut out,
            )
            .expect("a decoded SEND_HEADERS re-encodes");
            let Ok(Some((ContainerMessage::SendHeaders(again), _))) =
                decode_container_message(&out, MAX_PACKET_SIZE)
            else {
                panic!("re-encoded SEND_HEADERS does not decode");
            };
            assert_eq!(
                (again.status, again.reason),
                (headers.status, headers.reason)
            );
            assert!(again.headers().eq(headers.headers()));
        }
        ContainerMessage::SendBodyChunk(data)
            if data.len() <= max_send_body_chunk_len(MAX_PACKET_SIZE) =>
        {
            encode_send_body_chunk(data, MAX_PACKET_SIZE, &mut out).expect("fits");
            let decoded = decode_container_message(&out, MAX_PACKET_SIZE);
            assert_eq!(
                decoded,
                Ok(Some((ContainerMessage::SendBodyChunk(data), out.len())))
            );
        }
        _ => {}
    }
}
