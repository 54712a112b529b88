//! AJP13 packet framing: magic + u16 payload length + payload, the packet size limits, the message type codes, and the incremental packet decoder.
//!
//! `max_packet_size` counts the whole packet, the 4-byte header included, on
//! both sides: mod_jk allocates its message buffers with `max_packet_size` bytes
//! and writes the header into the first four (`jk_b_end`), Tomcat allocates
//! `packetSize` bytes and refuses a received payload longer than `packetSize - 4`
//! (`AjpProcessor.readMessage`). mod_jk 1.2.48 is laxer when reading: it only
//! refuses a payload longer than `max_packet_size`
//! (`ajp_connection_tcp_get_message`: `msglen > msg->maxlen`). Tomcat never
//! writes one that long, so [`decode_packet`] holds the container to the same
//! `max_packet_size - 4` it holds itself to.

use super::error::DecodeError;

/// Length of the packet header: two magic bytes and the u16 payload length.
pub const PACKET_HEADER_LEN: usize = 4;
/// Smallest packet size mod_jk uses; smaller `max_packet_size` values are raised
/// to it (`jk_get_max_packet_size`), and so are smaller Tomcat `packetSize`s.
pub const MIN_PACKET_SIZE: usize = 8192;
/// mod_jk's and Tomcat's default packet size.
pub const DEFAULT_PACKET_SIZE: usize = 8192;
/// Largest packet size mod_jk and Tomcat accept.
pub const MAX_PACKET_SIZE: usize = 65536;

/// Magic of packets from the web server to the container.
pub const TO_CONTAINER_MAGIC: u16 = 0x1234;
/// Magic of packets from the container to the web server ("AB").
pub const FROM_CONTAINER_MAGIC: u16 = 0x4142;

/// The message type byte that starts a payload (request body packets have none).
pub mod message_type {
    /// Web server → container: a request's line, headers and attributes.
    pub const FORWARD_REQUEST: u8 = 2;
    /// Container → web server: a piece of the response body.
    pub const SEND_BODY_CHUNK: u8 = 3;
    /// Container → web server: status line and response headers.
    pub const SEND_HEADERS: u8 = 4;
    /// Container → web server: response complete, with the reuse flag.
    pub const END_RESPONSE: u8 = 5;
    /// Container → web server: asks for more of the request body.
    pub const GET_BODY_CHUNK: u8 = 6;
    /// Web server → container: defined by the protocol, never sent by mod_jk;
    /// Tomcat takes it for an unexpected type and closes the connection.
    pub const SHUTDOWN: u8 = 7;
    /// Container → web server: answer to CPING.
    pub const CPONG: u8 = 9;
    /// Web server → container: liveness probe.
    pub const CPING: u8 = 10;
}

/// Checks a packet size limit against [`MIN_PACKET_SIZE`]..=[`MAX_PACKET_SIZE`],
/// handing the bad value back.
pub(crate) fn check_packet_size_limit(max_packet_size: usize) -> Result<(), usize> {
    if (MIN_PACKET_SIZE..=MAX_PACKET_SIZE).contains(&max_packet_size) {
        Ok(())
    } else {
        Err(max_packet_size)
    }
}

/// Largest payload a packet of `max_packet_size` bytes carries.
pub fn max_payload_len(max_packet_size: usize) -> usize {
    max_packet_size.saturating_sub(PACKET_HEADER_LEN)
}

/// Reads one container → web server packet (magic `0x4142`) from the front of
/// `buf`.
///
/// `Ok(None)`: `buf` holds no complete packet yet; read more and call again
/// with the bytes so far. `Ok(Some((payload, consumed)))`: the payload of the
/// first packet, and how many bytes of `buf` it took (header included); the
/// rest of `buf` may already hold the next packet. Errors are reported as soon
/// as the bytes that show them have arrived (bad magic after two bytes, an
/// oversized length after four), without waiting for the payload.
pub fn decode_packet(
    buf: &[u8],
    max_packet_size: usize,
) -> Result<Option<(&[u8], usize)>, DecodeError> {
    decode_frame(buf, FROM_CONTAINER_MAGIC, max_packet_size)
}

/// Reads one web server → container packet (magic `0x1234`): the decoder a mock
/// container needs. Same contract as [`decode_packet`]; a zero-length payload is
/// valid here (the end-of-body packet).
pub fn decode_packet_to_container(
    buf: &[u8],
    max_packet_size: usize,
) -> Result<Option<(&[u8], usize)>, DecodeError> {
    decode_frame(buf, TO_CONTAINER_MAGIC, max_packet_size)
}

fn decode_frame(
    buf: &[u8],
    magic: u16,
    max_packet_size: usize,
) -> Result<Option<(&[u8], usize)>, DecodeError> {
    check_packet_size_limit(max_packet_size).map_err(DecodeError::InvalidPacketSizeLimit)?;
    let found_magic = match buf {
        [high, low, ..] => u16::from_be_bytes([*high, *low]),
        _ => return Ok(None),
    };
    if found_magic != magic {
        return Err(DecodeError::BadMagic {
            expected: magic,
            found: found_magic,
        });
    }
    let length = match buf {
        [_, _, high, low, ..] => usize::from(u16::from_be_bytes([*high, *low])),
        _ => return Ok(None),
    };
    let limit = max_payload_len(max_packet_size);
    if length > limit {
        return Err(DecodeError::PacketTooLarge { length, limit });
    }
    let consumed = PACKET_HEADER_LEN + length;
    Ok(buf
        .get(PACKET_HEADER_LEN..consumed)
        .map(|payload| (payload, consumed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a container → web server packet around `payload`.
    fn from_container(payload: &[u8]) -> Vec<u8> {
        let mut packet = FROM_CONTAINER_MAGIC.to_be_bytes().to_vec();
        packet.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
        packet.extend_from_slice(payload);
        packet
    }

    #[test]
    fn whole_packet_is_decoded() {
        let packet = from_container(&[message_type::CPONG]);
        assert_eq!(packet, [0x41, 0x42, 0x00, 0x01, 0x09]);
        assert_eq!(
            decode_packet(&packet, DEFAULT_PACKET_SIZE),
            Ok(Some((&[message_type::CPONG][..], packet.len())))
        );
    }

    #[test]
    fn every_split_point_waits_for_more() {
        let packet = from_container(&[message_type::END_RESPONSE, 1]);
        for cut in 0..packet.len() {
            assert_eq!(
                decode_packet(&packet[..cut], DEFAULT_PACKET_SIZE),
                Ok(None),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn coalesced_packets_come_out_one_by_one() {
        let first = from_container(&[message_type::SEND_BODY_CHUNK, 0, 1, b'x', 0]);
        let second = from_container(&[message_type::END_RESPONSE, 1]);
        let stream = [first.clone(), second.clone()].concat();
        let (payload, consumed) = decode_packet(&stream, DEFAULT_PACKET_SIZE)
            .unwrap()
            .unwrap();
        assert_eq!(
            (payload, consumed),
            (&first[PACKET_HEADER_LEN..], first.len())
        );
        let (payload, consumed) = decode_packet(&stream[consumed..], DEFAULT_PACKET_SIZE)
            .unwrap()
            .unwrap();
        assert_eq!(
            (payload, consumed),
            (&second[PACKET_HEADER_LEN..], second.len())
        );
    }

    #[test]
    fn bad_magic_is_reported_after_two_bytes() {
        assert_eq!(decode_packet(&[0x12], DEFAULT_PACKET_SIZE), Ok(None));
        assert_eq!(
            decode_packet(&[0x12, 0x34], DEFAULT_PACKET_SIZE),
            Err(DecodeError::BadMagic {
                expected: FROM_CONTAINER_MAGIC,
                found: TO_CONTAINER_MAGIC
            })
        );
        assert_eq!(
            decode_packet_to_container(&[0x41, 0x42, 0x00, 0x00], DEFAULT_PACKET_SIZE),
            Err(DecodeError::BadMagic {
                expected: TO_CONTAINER_MAGIC,
                found: FROM_CONTAINER_MAGIC
            })
        );
    }

    #[test]
    fn payload_limit_is_packet_size_minus_header() {
        let limit = DEFAULT_PACKET_SIZE - PACKET_HEADER_LEN;
        let header = |len: usize| {
            let mut h = FROM_CONTAINER_MAGIC.to_be_bytes().to_vec();
            h.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
            h
        };
        // At the limit the header is fine and the decoder waits for the payload.
        assert_eq!(decode_packet(&header(limit), DEFAULT_PACKET_SIZE), Ok(None));
        assert_eq!(
            decode_packet(&header(limit + 1), DEFAULT_PACKET_SIZE),
            Err(DecodeError::PacketTooLarge {
                length: limit + 1,
                limit
            })
        );
        // Even the largest packet size leaves lengths the u16 could announce.
        let largest = MAX_PACKET_SIZE - PACKET_HEADER_LEN;
        assert_eq!(decode_packet(&header(largest), MAX_PACKET_SIZE), Ok(None));
        assert_eq!(
            decode_packet(&header(largest + 1), MAX_PACKET_SIZE),
            Err(DecodeError::PacketTooLarge {
                length: largest + 1,
                limit: largest
            })
        );
    }

    #[test]
    fn packet_size_limit_must_be_in_range() {
        let packet = from_container(&[message_type::CPONG]);
        for bad in [0, MIN_PACKET_SIZE - 1, MAX_PACKET_SIZE + 1] {
            assert_eq!(
                decode_packet(&packet, bad),
                Err(DecodeError::InvalidPacketSizeLimit(bad))
            );
        }
        for good in [MIN_PACKET_SIZE, MAX_PACKET_SIZE] {
            assert!(decode_packet(&packet, good).is_ok());
        }
    }

    #[test]
    fn empty_payload_is_a_complete_packet() {
        let end_of_body = [0x12, 0x34, 0x00, 0x00];
        assert_eq!(
            decode_packet_to_container(&end_of_body, DEFAULT_PACKET_SIZE),
            Ok(Some((&[][..], end_of_body.len())))
        );
    }
}
