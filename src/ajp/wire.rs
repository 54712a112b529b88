//! AJP13 data types on the wire: a bounds-checked reader and the two-pass writer (size, then bytes) behind every encoder.
//!
//! Data types (`jk_msg_buff.c`, `AjpMessage.java`): byte, u16 big-endian
//! "integer", and string = u16 length N, N bytes, a `0x00` terminator; the null
//! string is the length `0xFFFF` alone.
//!
//! Neither side is copied from the C code's behaviour at the edges: mod_jk's
//! readers check bounds against the buffer capacity rather than the message
//! length and return `0xFFFF`/stale bytes when a field is missing
//! (`jk_b_get_int`, `jk_b_get_byte`, `jk_b_get_string` in 1.2.48), and its
//! string writer casts the length to `unsigned short`. Here a missing field is
//! an error, and an unrepresentable string is refused before anything is written.

use bytes::BytesMut;

use super::error::{DecodeError, EncodeError};

/// Length of the null-string marker and of the longest representable string + 1.
pub(crate) const NULL_STRING_LEN: u16 = 0xFFFF;

/// Reads AJP data types from a message payload, never past its end.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(payload: &'a [u8]) -> Self {
        Self { rest: payload }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The unread bytes, consuming the reader.
    pub(crate) fn into_rest(self) -> &'a [u8] {
        self.rest
    }

    pub(crate) fn byte(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let (&value, rest) = self
            .rest
            .split_first()
            .ok_or(DecodeError::Truncated { field })?;
        self.rest = rest;
        Ok(value)
    }

    pub(crate) fn int(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        match self.rest {
            [high, low, rest @ ..] => {
                self.rest = rest;
                Ok(u16::from_be_bytes([*high, *low]))
            }
            _ => Err(DecodeError::Truncated { field }),
        }
    }

    /// The next u16 without consuming it (header names are a code or a string
    /// length, told apart by the high byte).
    pub(crate) fn peek_int(&self) -> Option<u16> {
        match self.rest {
            [high, low, ..] => Some(u16::from_be_bytes([*high, *low])),
            _ => None,
        }
    }

    pub(crate) fn bytes(
        &mut self,
        len: usize,
        field: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        let (taken, rest) = self
            .rest
            .split_at_checked(len)
            .ok_or(DecodeError::Truncated { field })?;
        self.rest = rest;
        Ok(taken)
    }

    /// A string that may be null.
    pub(crate) fn string(&mut self, field: &'static str) -> Result<Option<&'a [u8]>, DecodeError> {
        let len = self.int(field)?;
        if len == NULL_STRING_LEN {
            return Ok(None);
        }
        let value = self.bytes(usize::from(len), field)?;
        // Neither mod_jk nor Tomcat looks at the terminator; both rely on it
        // (mod_jk hands the bytes on as a C string). A packet without it is
        // not one Tomcat wrote, so it is refused rather than guessed at.
        if self.byte(field)? != 0 {
            return Err(DecodeError::UnterminatedString { field });
        }
        if value.contains(&0) {
            return Err(DecodeError::NulInString { field });
        }
        Ok(Some(value))
    }

    /// A string that must not be null.
    pub(crate) fn required_string(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        self.string(field)?.ok_or(DecodeError::NullString { field })
    }
}

/// Where a message is marshalled to. Encoders run the same marshalling code
/// twice: first into a [`SizeCounter`], which validates every string and sums
/// the size, then (only if the packet fits) into a [`SliceWriter`]. So a
/// packet is either written whole or not at all, with one exact reservation.
pub(crate) trait Sink {
    fn byte(&mut self, value: u8);
    fn int(&mut self, value: u16);
    fn string(&mut self, field: &'static str, value: &[u8]) -> Result<(), EncodeError>;

    fn null_string(&mut self) {
        self.int(NULL_STRING_LEN);
    }

    fn optional_string(
        &mut self,
        field: &'static str,
        value: Option<&[u8]>,
    ) -> Result<(), EncodeError> {
        match value {
            Some(value) => self.string(field, value),
            None => {
                self.null_string();
                Ok(())
            }
        }
    }
}

/// Something that can be marshalled into a packet payload.
pub(crate) trait Marshal {
    fn marshal<S: Sink>(&self, sink: &mut S) -> Result<(), EncodeError>;
}

/// The length a string is written with, or why it cannot be written.
fn string_len(field: &'static str, value: &[u8]) -> Result<u16, EncodeError> {
    u16::try_from(value.len())
        .ok()
        .filter(|&len| len != NULL_STRING_LEN)
        .ok_or(EncodeError::StringTooLong {
            field,
            len: value.len(),
        })
}

/// Whether `bytes` holds a NUL. A full, branch-free scan: strings here are
/// short and almost never hold one, and this form vectorises where
/// `contains` pays `memchr`'s set-up cost on every short string.
fn contains_nul(bytes: &[u8]) -> bool {
    bytes.iter().fold(false, |found, &byte| found | (byte == 0))
}

/// First pass: validates and measures.
#[derive(Debug, Default)]
pub(crate) struct SizeCounter {
    pub(crate) len: usize,
}

impl Sink for SizeCounter {
    fn byte(&mut self, _: u8) {
        self.len += 1;
    }

    fn int(&mut self, _: u16) {
        self.len += 2;
    }

    fn string(&mut self, field: &'static str, value: &[u8]) -> Result<(), EncodeError> {
        string_len(field, value)?;
        if contains_nul(value) {
            return Err(EncodeError::NulInString { field });
        }
        self.len += 2 + value.len() + 1;
        Ok(())
    }
}

/// Second pass: writes into the exact-size space the first pass measured.
/// Runs only after a [`SizeCounter`] pass accepted the same message, so the
/// NUL scan is not repeated. Writing into a plain slice rather than through
/// `BufMut` lets the fixed-size fields compile to direct stores.
#[derive(Debug)]
pub(crate) struct SliceWriter<'o> {
    rest: &'o mut [u8],
    /// Set if a write did not fit: the two passes disagreed.
    overflowed: bool,
}

impl<'o> SliceWriter<'o> {
    pub(crate) fn new(space: &'o mut [u8]) -> Self {
        Self {
            rest: space,
            overflowed: false,
        }
    }

    /// Whether exactly the given space was filled.
    pub(crate) fn filled_exactly(&self) -> bool {
        !self.overflowed && self.rest.is_empty()
    }

    fn put<const N: usize>(&mut self, bytes: [u8; N]) {
        self.put_slice(&bytes);
    }

    fn put_slice(&mut self, bytes: &[u8]) {
        match std::mem::take(&mut self.rest).split_at_mut_checked(bytes.len()) {
            Some((head, tail)) => {
                head.copy_from_slice(bytes);
                self.rest = tail;
            }
            None => self.overflowed = true,
        }
    }
}

impl Sink for SliceWriter<'_> {
    fn byte(&mut self, value: u8) {
        self.put([value]);
    }

    fn int(&mut self, value: u16) {
        self.put(value.to_be_bytes());
    }

    fn string(&mut self, field: &'static str, value: &[u8]) -> Result<(), EncodeError> {
        self.put(string_len(field, value)?.to_be_bytes());
        self.put_slice(value);
        self.put([0]);
        Ok(())
    }
}

/// Marshals `message` into one packet with the given magic, appended to `out`.
/// Nothing is appended on error.
pub(crate) fn encode_framed<M: Marshal>(
    message: &M,
    magic: u16,
    max_packet_size: usize,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    super::frame::check_packet_size_limit(max_packet_size)
        .map_err(EncodeError::InvalidPacketSizeLimit)?;
    let mut counter = SizeCounter::default();
    message.marshal(&mut counter)?;
    let needed = super::frame::PACKET_HEADER_LEN + counter.len;
    let too_large = EncodeError::TooLarge {
        needed,
        limit: max_packet_size,
    };
    if needed > max_packet_size {
        return Err(too_large);
    }
    let payload_len = u16::try_from(counter.len).map_err(|_| too_large)?;
    let start = out.len();
    out.resize(start + needed, 0);
    let mut writer = SliceWriter::new(out.get_mut(start..).unwrap_or_default());
    writer.int(magic);
    writer.int(payload_len);
    let written = message.marshal(&mut writer);
    let filled_exactly = writer.filled_exactly();
    if let Err(error) = written {
        out.truncate(start);
        return Err(error);
    }
    if !filled_exactly {
        out.truncate(start);
        return Err(EncodeError::SizeMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELD: &str = "test field";

    #[test]
    fn reader_reads_each_type_and_stops_at_the_end() {
        let payload = [0x07, 0x12, 0x34, 0x00, 0x02, b'h', b'i', 0x00, 0xFF, 0xFF];
        let mut reader = Reader::new(&payload);
        assert_eq!(reader.byte(FIELD), Ok(0x07));
        assert_eq!(reader.int(FIELD), Ok(0x1234));
        assert_eq!(reader.string(FIELD), Ok(Some(&b"hi"[..])));
        assert_eq!(reader.string(FIELD), Ok(None));
        assert_eq!(reader.remaining(), 0);
        assert_eq!(
            reader.byte(FIELD),
            Err(DecodeError::Truncated { field: FIELD })
        );
        assert_eq!(
            reader.int(FIELD),
            Err(DecodeError::Truncated { field: FIELD })
        );
    }

    #[test]
    fn reader_refuses_bad_strings() {
        let cases: [(&[u8], DecodeError); 5] = [
            (&[0x00], DecodeError::Truncated { field: FIELD }),
            (
                &[0x00, 0x03, b'a', b'b'],
                DecodeError::Truncated { field: FIELD },
            ),
            (&[0x00, 0x01, b'a'], DecodeError::Truncated { field: FIELD }),
            (
                &[0x00, 0x01, b'a', b'b'],
                DecodeError::UnterminatedString { field: FIELD },
            ),
            (
                &[0x00, 0x01, 0x00, 0x00],
                DecodeError::NulInString { field: FIELD },
            ),
        ];
        for (payload, expected) in cases {
            assert_eq!(
                Reader::new(payload).string(FIELD),
                Err(expected),
                "{payload:02X?}"
            );
        }
        assert_eq!(
            Reader::new(&[0xFF, 0xFF]).required_string(FIELD),
            Err(DecodeError::NullString { field: FIELD })
        );
    }

    #[test]
    fn string_lengths_stop_below_the_null_marker() {
        let longest = vec![b'x'; usize::from(NULL_STRING_LEN) - 1];
        let too_long = vec![b'x'; usize::from(NULL_STRING_LEN)];
        let mut counter = SizeCounter::default();
        assert_eq!(counter.string(FIELD, &longest), Ok(()));
        assert_eq!(counter.len, 2 + longest.len() + 1);
        assert_eq!(
            counter.string(FIELD, &too_long),
            Err(EncodeError::StringTooLong {
                field: FIELD,
                len: too_long.len()
            })
        );
        assert_eq!(
            counter.string(FIELD, b"a\0b"),
            Err(EncodeError::NulInString { field: FIELD })
        );
    }

    #[test]
    fn writer_writes_strings_and_null() {
        let mut space = [0xEE; 10];
        let mut writer = SliceWriter::new(&mut space);
        writer.string(FIELD, b"ab").unwrap();
        writer.null_string();
        writer.string(FIELD, b"").unwrap();
        assert!(writer.filled_exactly());
        assert_eq!(
            space,
            [0x00, 0x02, b'a', b'b', 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00]
        );
    }

    #[test]
    fn writer_notices_a_size_pass_that_was_too_small() {
        let mut space = [0; 3];
        let mut writer = SliceWriter::new(&mut space);
        writer.string(FIELD, b"ab").unwrap();
        assert!(!writer.filled_exactly());
        let mut space = [0; 3];
        let mut writer = SliceWriter::new(&mut space);
        writer.int(1);
        assert!(!writer.filled_exactly());
    }

    /// A message whose two passes disagree, to exercise the safety net.
    struct Inconsistent(std::cell::Cell<usize>);

    impl Marshal for Inconsistent {
        fn marshal<S: Sink>(&self, sink: &mut S) -> Result<(), EncodeError> {
            self.0.set(self.0.get() + 1);
            for _ in 0..self.0.get() {
                sink.byte(0);
            }
            Ok(())
        }
    }

    #[test]
    fn disagreeing_passes_append_nothing() {
        let mut out = BytesMut::from(&b"kept"[..]);
        let message = Inconsistent(std::cell::Cell::new(0));
        assert_eq!(
            encode_framed(
                &message,
                0x1234,
                super::super::DEFAULT_PACKET_SIZE,
                &mut out
            ),
            Err(EncodeError::SizeMismatch)
        );
        assert_eq!(&out[..], b"kept");
    }
}
