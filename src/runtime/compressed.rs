//! A response body compressed on the way out, gzip or brotli, as it streams ([`CompressedBody`]); which responses get it is decided in `http::compress`.
//!
//! It lives beside [`ProxyBody`] because a compressed body is one of its forms. The
//! encoders are flate2's and brotli's synchronous writers into a `Vec` that is
//! emptied at every frame: a response body is a hyper `Body` here, not an
//! `AsyncRead`, so feeding each chunk to the encoder and handing on what came out
//! needs no adapter between the two (what `async-compression` would add); memory per
//! response stays the encoder's window and one chunk's output.

use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use hyper::body::{Body, Frame, SizeHint};

use super::ProxyBody;

/// gzip level: zlib's default, which is also mod_deflate's (`DeflateCompressionLevel`).
const GZIP_LEVEL: u32 = 6;
/// brotli quality and window: mod_brotli's defaults (`BrotliCompressionQuality 5`,
/// `BrotliCompressionWindow 18`).
const BROTLI_QUALITY: u32 = 5;
const BROTLI_WINDOW: u32 = 18;
/// The brotli writer's output buffer.
const BROTLI_BUFFER: usize = 8 * 1024;
/// Compressed output is handed on once this much has gathered (or when the backend
/// pauses, or at the end).
const EMIT_AT: usize = 8 * 1024;

/// A content coding jkd applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Brotli,
}

impl Coding {
    pub fn token(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Brotli => "br",
        }
    }
}

/// What [`Body::poll_frame`] yields for a [`CompressedBody`].
type FrameResult = Result<Frame<Bytes>, io::Error>;

/// An encoder writing into a `Vec` that the body empties at every frame.
enum Encoder {
    Gzip(Box<flate2::write::GzEncoder<Vec<u8>>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl Encoder {
    fn new(coding: Coding) -> Self {
        match coding {
            Coding::Gzip => Encoder::Gzip(Box::new(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(GZIP_LEVEL),
            ))),
            Coding::Brotli => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER,
                BROTLI_QUALITY,
                BROTLI_WINDOW,
            ))),
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.write_all(data),
            Encoder::Brotli(e) => e.write_all(data),
        }
    }

    /// Makes everything written so far decodable by the client (a sync flush).
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Brotli(e) => e.flush(),
        }
    }

    /// How many bytes the encoder has produced and not yet handed on.
    fn produced(&self) -> usize {
        match self {
            Encoder::Gzip(e) => e.get_ref().len(),
            Encoder::Brotli(e) => e.get_ref().len(),
        }
    }

    /// What the encoder produced since the last call.
    fn take(&mut self) -> Vec<u8> {
        match self {
            Encoder::Gzip(e) => std::mem::take(e.get_mut()),
            Encoder::Brotli(e) => std::mem::take(e.get_mut()),
        }
    }

    /// Ends the stream; its last bytes.
    fn finish(self) -> io::Result<Vec<u8>> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Brotli(e) => Ok(e.into_inner()),
        }
    }
}

/// A response body compressed as it goes: each chunk of the inner body is fed to the
/// encoder and what comes out is handed on. When the inner body has nothing more for
/// now (a backend sending in bursts), the encoder is flushed so the client is not
/// kept waiting for bytes jkd already has, as mod_deflate does on a flush.
pub struct CompressedBody {
    inner: ProxyBody,
    encoder: Option<Encoder>,
    /// Written since the last flush.
    unflushed: bool,
    /// Trailers of the inner body, sent after the compressed end.
    trailers: Option<HeaderMap>,
}

impl CompressedBody {
    pub fn new(inner: ProxyBody, coding: Coding) -> Self {
        CompressedBody {
            inner,
            encoder: Some(Encoder::new(coding)),
            unflushed: false,
            trailers: None,
        }
    }

    fn output(bytes: Vec<u8>) -> Option<Poll<Option<FrameResult>>> {
        (!bytes.is_empty()).then(|| Poll::Ready(Some(Ok(Frame::data(Bytes::from(bytes))))))
    }
}

impl Body for CompressedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<FrameResult>> {
        let this = self.get_mut();
        loop {
            let Some(encoder) = this.encoder.as_mut() else {
                // Finished: the trailers, if any, then the end.
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
            };
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        if data.is_empty() {
                            continue;
                        }
                        encoder.write(&data)?;
                        this.unflushed = true;
                        // Handed on in frames of some size rather than as each write
                        // yields (the gzip header alone, a few bytes of a block), which
                        // would cost a chunk header each; what waits is bounded by
                        // this plus one chunk's output.
                        if encoder.produced() >= EMIT_AT
                            && let Some(ready) = Self::output(encoder.take())
                        {
                            return ready;
                        }
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            this.trailers = Some(trailers);
                        }
                    }
                },
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    let last = match this.encoder.take() {
                        Some(encoder) => encoder.finish()?,
                        None => Vec::new(),
                    };
                    if let Some(ready) = Self::output(last) {
                        return ready;
                    }
                }
                Poll::Pending => {
                    if this.unflushed {
                        this.unflushed = false;
                        encoder.flush()?;
                        if let Some(ready) = Self::output(encoder.take()) {
                            return ready;
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.encoder.is_none() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
