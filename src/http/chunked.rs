//! The chunked transfer coding (RFC 9112 section 7.1), decoded incrementally.
//!
//! A publisher that does not know its body's length up front sends
//! `Transfer-Encoding: chunked` and cuts the body into chunks, each prefixed
//! by its size in hexadecimal, ending with a chunk of size zero:
//!
//! ```text
//! 5\r\n                 chunk-size (hex), CRLF
//! hello\r\n             chunk-data, CRLF
//! 1a;name="v"\r\n       size 0x1a = 26, with a chunk extension (ignored)
//! abcdefghijklmnopqrstuvwxyz\r\n
//! 0\r\n                 last-chunk
//! Expires: never\r\n    trailer section: zero or more field lines
//! \r\n                  the empty line that ends the message
//! ```
//!
//! decodes to `helloabcdefghijklmnopqrstuvwxyz`. The grammar
//! (RFC 9112 section 7.1, with chunk extensions from section 7.1.1 and the
//! trailer section from section 7.1.2) is:
//!
//! ```text
//! chunked-body   = *chunk last-chunk trailer-section CRLF
//! chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! chunk-size     = 1*HEXDIG
//! last-chunk     = 1*("0") [ chunk-ext ] CRLF
//! chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//! trailer-section = *( field-line CRLF )
//! ```
//!
//! [`ChunkedDecoder`] is a small state machine with no buffer of its own: it
//! walks the input a byte at a time through the framing and copies chunk-data
//! out in whole runs. Feeding a body one byte at a time gives exactly the same
//! result as feeding it whole, and the decoder stops right after the final
//! CRLF, so the bytes of a pipelined request that follow stay unconsumed.
//!
//! # Decisions
//!
//! - **Line endings are strictly CRLF.** RFC 9112 section 2.2 lets a
//!   recipient accept a bare LF, but a proxy in front of us that disagrees
//!   about where a chunk line ends is the classic request-smuggling setup.
//!   A bare LF anywhere in the framing is [`ChunkedError::BadLineEnding`].
//! - **Sizes are checked as they are read.** Each hex digit is folded into a
//!   `u64` with checked arithmetic ([`ChunkedError::SizeOverflow`]), and the
//!   running body length plus the chunk being announced is compared with
//!   `max_body` after every digit ([`ChunkedError::BodyTooLarge`]), before a
//!   single byte of that chunk's data is accepted.
//! - **Chunk extensions are ignored but bounded.** BWS before `;` is
//!   accepted (the `chunk-ext` rule above). The extension text is not parsed
//!   further, only checked to hold no control characters other than HTAB:
//!   neither a token nor a quoted-string may contain CR or LF, so the first CR
//!   always ends the line. Every byte of a chunk-size line other than the
//!   significant digits and the CRLF (leading zeros, BWS, extensions) counts
//!   against `max_trailer`, summed over the whole message
//!   ([`ChunkedError::ExtensionTooLarge`]): an ordinary client spends none
//!   of it.
//! - **Trailer fields are read and discarded.** Each must look like a field
//!   line (`token ":" value`, section 5 of RFC 9112; an obs-fold line starting
//!   with whitespace is refused), and the field lines together may take at
//!   most `max_trailer` bytes, line ends not counted
//!   ([`ChunkedError::TrailerTooLarge`]).
//! - **Errors are final.** After an error the decoder keeps returning it; the
//!   connection cannot be trusted and should be answered with
//!   [`ChunkedError::status`] and closed. Payload appended to `out` before
//!   the error should be discarded.

use std::fmt;

/// Where the decoder stands in the chunked grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a chunk-size line, before any hex digit.
    SizeStart,
    /// Inside the hex digits of a chunk-size; `size` holds the value so far.
    Size,
    /// After the digits, inside BWS that must be followed by `;`.
    SizeBws,
    /// Inside chunk extensions, up to the CR that ends the line.
    Extension,
    /// After the CR of a chunk-size line; LF must follow.
    SizeLf,
    /// Inside chunk-data; `size` bytes are still to come.
    Data,
    /// After chunk-data; CR must follow.
    DataCr,
    /// After chunk-data and its CR; LF must follow.
    DataLf,
    /// At the start of a trailer field line or of the final empty line.
    TrailerStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value, up to CR.
    TrailerValue,
    /// After the CR of a trailer field line; LF must follow.
    TrailerLf,
    /// After the CR of the final empty line; LF must follow.
    FinalLf,
    /// The message is complete.
    Done,
    /// An error was returned; it is returned again on every call.
    Failed(ChunkedError),
}

/// An incremental decoder for one chunked message body.
///
/// It holds a few counters and no buffer; payload goes straight to the
/// caller's `Vec`.
///
/// ```
/// use pushwire::http::chunked::ChunkedDecoder;
///
/// let mut decoder = ChunkedDecoder::new(1024, 1024);
/// let mut body = Vec::new();
/// let wire = b"5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
/// let progress = decoder.decode(wire, &mut body).unwrap();
/// assert!(progress.done);
/// assert_eq!(body, b"hello");
/// // The pipelined request after the body is left for the caller.
/// assert_eq!(&wire[progress.consumed..], b"GET / HTTP/1.1\r\n");
/// ```
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// The chunk-size being read, then the chunk-data bytes still to come.
    size: u64,
    /// Payload bytes accepted so far, including the chunk being read.
    body_len: u64,
    /// Bytes of chunk-size lines spent on leading zeros, BWS and extensions.
    extension_len: usize,
    /// Bytes of trailer field lines, line ends not counted.
    trailer_len: usize,
    max_body: u64,
    max_trailer: usize,
}

/// What one call to [`ChunkedDecoder::decode`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// How many bytes of the input were used. When `done`, the bytes after
    /// this offset belong to whatever follows the message.
    pub consumed: usize,
    /// The final CRLF of the message has been read.
    pub done: bool,
}

/// Why a chunked body was refused. Each variant is one precise reason;
/// [`ChunkedError::status`] says what the peer is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedError {
    /// A chunk-size line did not start with a hex digit, or held something
    /// other than hex digits, BWS and `;` before its extensions.
    InvalidSize,
    /// A chunk-size does not fit in 64 bits.
    SizeOverflow,
    /// A chunk-size would take the body over the configured maximum.
    BodyTooLarge,
    /// A chunk extension contains a control character.
    InvalidExtension,
    /// Chunk extensions (and leading zeros) exceed the configured maximum,
    /// summed over the message.
    ExtensionTooLarge,
    /// A line ended in a bare LF, or a CR was not followed by LF.
    BadLineEnding,
    /// The bytes right after a chunk's data were not CRLF: the chunk was
    /// longer than its size said.
    ChunkDataOverrun,
    /// A trailer line is not a well-formed field line (`name: value`).
    InvalidTrailer,
    /// The trailer section exceeds the configured maximum.
    TrailerTooLarge,
}

impl ChunkedError {
    /// The HTTP status code that answers this error: `413 Content Too Large`
    /// for a body, extension or trailer over its limit, `400 Bad Request`
    /// for malformed framing.
    pub fn status(&self) -> u16 {
        match self {
            ChunkedError::SizeOverflow
            | ChunkedError::BodyTooLarge
            | ChunkedError::ExtensionTooLarge
            | ChunkedError::TrailerTooLarge => 413,
            ChunkedError::InvalidSize
            | ChunkedError::InvalidExtension
            | ChunkedError::BadLineEnding
            | ChunkedError::ChunkDataOverrun
            | ChunkedError::InvalidTrailer => 400,
        }
    }
}

impl fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self {
            ChunkedError::InvalidSize => "chunk size is not a hexadecimal number",
            ChunkedError::SizeOverflow => "chunk size does not fit in 64 bits",
            ChunkedError::BodyTooLarge => "chunked body is larger than the limit",
            ChunkedError::InvalidExtension => "chunk extension contains a control character",
            ChunkedError::ExtensionTooLarge => "chunk extensions are longer than the limit",
            ChunkedError::BadLineEnding => "chunked framing line does not end in CRLF",
            ChunkedError::ChunkDataOverrun => "chunk data is longer than its chunk size",
            ChunkedError::InvalidTrailer => "trailer line is not a valid field line",
            ChunkedError::TrailerTooLarge => "trailer section is larger than the limit",
        };
        f.write_str(reason)
    }
}

impl std::error::Error for ChunkedError {}

/// The value of an ASCII hex digit, or `None`.
fn hex_value(byte: u8) -> Option<u64> {
    let value = match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        b'A'..=b'F' => byte - b'A' + 10,
        _ => return None,
    };
    Some(u64::from(value))
}

/// `tchar` from RFC 9110 section 5.6.2: the bytes of a token (a field name).
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// A byte allowed inside a field value or chunk extension: HTAB, SP, VCHAR
/// or obs-text (RFC 9110 section 5.5). Everything else is a control byte.
fn is_text(byte: u8) -> bool {
    byte == b'\t' || (b' '..=b'~').contains(&byte) || byte >= 0x80
}

impl ChunkedDecoder {
    /// A decoder for one message whose decoded body may hold at most
    /// `max_body` bytes, and whose chunk extensions and trailer section may
    /// each take at most `max_trailer` bytes.
    pub fn new(max_body: usize, max_trailer: usize) -> Self {
        ChunkedDecoder {
            state: State::SizeStart,
            size: 0,
            body_len: 0,
            extension_len: 0,
            trailer_len: 0,
            max_body: u64::try_from(max_body).unwrap_or(u64::MAX),
            max_trailer,
        }
    }

    /// Decodes as much of `input` as possible, appending payload to `out`.
    ///
    /// Stops exactly after the final CRLF of the message, so bytes after it
    /// (a pipelined request) are left unconsumed. When the input runs out
    /// first, all of it is consumed and `done` is false: call again with the
    /// bytes that follow. Once done, further calls consume nothing.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Progress, ChunkedError> {
        match self.state {
            State::Done => {
                return Ok(Progress {
                    consumed: 0,
                    done: true,
                })
            }
            State::Failed(error) => return Err(error),
            _ => {}
        }
        let mut pos = 0;
        while let Some(rest) = input.get(pos..).filter(|rest| !rest.is_empty()) {
            if self.state == State::Data {
                // Copy the whole run of chunk-data that is available at once.
                let take =
                    usize::try_from(self.size).map_or(rest.len(), |size| size.min(rest.len()));
                out.extend_from_slice(rest.get(..take).unwrap_or_default());
                pos += take;
                self.size = self
                    .size
                    .saturating_sub(u64::try_from(take).unwrap_or(u64::MAX));
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            let Some(&byte) = rest.first() else { break };
            pos += 1;
            if let Err(error) = self.step(byte) {
                self.state = State::Failed(error);
                return Err(error);
            }
            if self.state == State::Done {
                break;
            }
        }
        Ok(Progress {
            consumed: pos,
            done: self.state == State::Done,
        })
    }

    /// Advances the state machine over one framing byte.
    fn step(&mut self, byte: u8) -> Result<(), ChunkedError> {
        self.state = match self.state {
            State::SizeStart => match hex_value(byte) {
                Some(digit) => {
                    self.size = digit;
                    self.check_body_limit()?;
                    State::Size
                }
                None => return Err(ChunkedError::InvalidSize),
            },
            State::Size => match hex_value(byte) {
                Some(digit) => {
                    if self.size == 0 {
                        // The zero before this digit was padding.
                        self.spend_extension()?;
                    }
                    self.size = self
                        .size
                        .checked_mul(16)
                        .and_then(|size| size.checked_add(digit))
                        .ok_or(ChunkedError::SizeOverflow)?;
                    self.check_body_limit()?;
                    State::Size
                }
                None => self.after_size(byte)?,
            },
            State::SizeBws => match byte {
                b' ' | b'\t' => {
                    self.spend_extension()?;
                    State::SizeBws
                }
                b';' => {
                    self.spend_extension()?;
                    State::Extension
                }
                _ => return Err(ChunkedError::InvalidSize),
            },
            State::Extension => match byte {
                b'\r' => State::SizeLf,
                b'\n' => return Err(ChunkedError::BadLineEnding),
                _ if is_text(byte) => {
                    self.spend_extension()?;
                    State::Extension
                }
                _ => return Err(ChunkedError::InvalidExtension),
            },
            State::SizeLf => match byte {
                b'\n' if self.size == 0 => State::TrailerStart,
                b'\n' => {
                    // Already checked against max_body digit by digit.
                    self.body_len = self.body_len.saturating_add(self.size);
                    State::Data
                }
                _ => return Err(ChunkedError::BadLineEnding),
            },
            // Data is copied in runs by `decode`; a byte here means the
            // chunk-data is complete and the CRLF after it is due.
            State::Data | State::DataCr => match byte {
                b'\r' => State::DataLf,
                _ => return Err(ChunkedError::ChunkDataOverrun),
            },
            State::DataLf => match byte {
                b'\n' => State::SizeStart,
                _ => return Err(ChunkedError::BadLineEnding),
            },
            State::TrailerStart => match byte {
                b'\r' => State::FinalLf,
                b'\n' => return Err(ChunkedError::BadLineEnding),
                _ if is_tchar(byte) => {
                    self.spend_trailer()?;
                    State::TrailerName
                }
                // Includes SP and HTAB: obs-fold is refused (RFC 9112 5.2).
                _ => return Err(ChunkedError::InvalidTrailer),
            },
            State::TrailerName => match byte {
                b':' => {
                    self.spend_trailer()?;
                    State::TrailerValue
                }
                b'\n' => return Err(ChunkedError::BadLineEnding),
                _ if is_tchar(byte) => {
                    self.spend_trailer()?;
                    State::TrailerName
                }
                _ => return Err(ChunkedError::InvalidTrailer),
            },
            State::TrailerValue => match byte {
                b'\r' => State::TrailerLf,
                b'\n' => return Err(ChunkedError::BadLineEnding),
                _ if is_text(byte) => {
                    self.spend_trailer()?;
                    State::TrailerValue
                }
                _ => return Err(ChunkedError::InvalidTrailer),
            },
            State::TrailerLf => match byte {
                b'\n' => State::TrailerStart,
                _ => return Err(ChunkedError::BadLineEnding),
            },
            State::FinalLf => match byte {
                b'\n' => State::Done,
                _ => return Err(ChunkedError::BadLineEnding),
            },
            State::Done => State::Done,
            State::Failed(error) => return Err(error),
        };
        Ok(())
    }

    /// The state after the first non-digit byte of a chunk-size line.
    fn after_size(&mut self, byte: u8) -> Result<State, ChunkedError> {
        Ok(match byte {
            b'\r' => State::SizeLf,
            b'\n' => return Err(ChunkedError::BadLineEnding),
            // RFC 9112 7.1.1: chunk-ext = *( BWS ";" ... ), so whitespace may
            // come between the size and the first ";".
            b' ' | b'\t' => {
                self.spend_extension()?;
                State::SizeBws
            }
            b';' => {
                self.spend_extension()?;
                State::Extension
            }
            _ => return Err(ChunkedError::InvalidSize),
        })
    }

    /// Refuses a chunk whose announced size takes the body over the limit,
    /// before any of its data is read.
    fn check_body_limit(&self) -> Result<(), ChunkedError> {
        match self.body_len.checked_add(self.size) {
            Some(total) if total <= self.max_body => Ok(()),
            _ => Err(ChunkedError::BodyTooLarge),
        }
    }

    fn spend_extension(&mut self) -> Result<(), ChunkedError> {
        self.extension_len = self.extension_len.saturating_add(1);
        if self.extension_len > self.max_trailer {
            return Err(ChunkedError::ExtensionTooLarge);
        }
        Ok(())
    }

    fn spend_trailer(&mut self) -> Result<(), ChunkedError> {
        self.trailer_len = self.trailer_len.saturating_add(1);
        if self.trailer_len > self.max_trailer {
            return Err(ChunkedError::TrailerTooLarge);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `input` whole; returns the body and the bytes left over.
    fn decode_whole(input: &[u8]) -> Result<(Vec<u8>, Vec<u8>), ChunkedError> {
        let mut decoder = ChunkedDecoder::new(1 << 20, 256);
        let mut body = Vec::new();
        let progress = decoder.decode(input, &mut body)?;
        assert!(
            progress.done,
            "incomplete: {:?}",
            String::from_utf8_lossy(input)
        );
        Ok((body, input[progress.consumed..].to_vec()))
    }

    /// Decodes `input` one byte per call; the result must match `decode_whole`.
    fn decode_bytewise(input: &[u8]) -> Result<(Vec<u8>, Vec<u8>), ChunkedError> {
        let mut decoder = ChunkedDecoder::new(1 << 20, 256);
        let mut body = Vec::new();
        for (index, byte) in input.iter().enumerate() {
            let progress = decoder.decode(std::slice::from_ref(byte), &mut body)?;
            if progress.done {
                return Ok((body, input[index + progress.consumed..].to_vec()));
            }
        }
        panic!("incomplete: {:?}", String::from_utf8_lossy(input));
    }

    #[test]
    fn valid_bodies_decode_whole_and_bytewise() {
        let table: &[(&[u8], &[u8])] = &[
            (b"0\r\n\r\n", b""),
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
            (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
            (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
            (b"a\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
            (b"0005\r\nhello\r\n000\r\n\r\n", b"hello"),
            (b"5;name\r\nhello\r\n0\r\n\r\n", b"hello"),
            (
                b"5;name=value;other=\"q;\\\"x\"\r\nhello\r\n0;end\r\n\r\n",
                b"hello",
            ),
            (b"5 ;a=b\r\nhello\r\n0\t;x\r\n\r\n", b"hello"),
            (
                b"5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum:abc\r\n\r\n",
                b"hello",
            ),
            (b"2\r\n\r\n\r\n0\r\n\r\n", b"\r\n"),
        ];
        for (wire, body) in table {
            let mut with_next = wire.to_vec();
            with_next.extend_from_slice(b"GET /");
            let expected = Ok((body.to_vec(), b"GET /".to_vec()));
            assert_eq!(
                decode_whole(&with_next),
                expected,
                "{:?}",
                String::from_utf8_lossy(wire)
            );
            assert_eq!(
                decode_bytewise(&with_next),
                expected,
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn invalid_bodies_are_rejected_with_their_reason() {
        use ChunkedError::*;
        let table: &[(&[u8], ChunkedError)] = &[
            (b"\r\n", InvalidSize),
            (b"x\r\n", InvalidSize),
            (b"-5\r\n", InvalidSize),
            (b"+5\r\n", InvalidSize),
            (b"0x5\r\n", InvalidSize),
            (b" 5\r\n", InvalidSize),
            (b"5 \r\n", InvalidSize),
            (b"5 x\r\n", InvalidSize),
            (b"5\n", BadLineEnding),
            (b"5\rx", BadLineEnding),
            (b"5;a\n", BadLineEnding),
            (b"5\r\nhello\n", ChunkDataOverrun),
            (b"5\r\nhelloo\r\n", ChunkDataOverrun),
            (b"5\r\nhello\rx", BadLineEnding),
            (b"0\r\n\n", BadLineEnding),
            (b"0\r\n\rx", BadLineEnding),
            (b"5;a\x00b\r\n", InvalidExtension),
            (b"5;a\x7f\r\n", InvalidExtension),
            (b"0\r\nNo-Colon\r\n", InvalidTrailer),
            (b"0\r\n: empty name\r\n", InvalidTrailer),
            (b"0\r\n folded\r\n", InvalidTrailer),
            (b"0\r\nBad Name: x\r\n", InvalidTrailer),
            (b"0\r\nX: a\x01\r\n", InvalidTrailer),
            (b"0\r\nX: a\n", BadLineEnding),
            (b"0\r\nX: a\rb", BadLineEnding),
            (b"100001\r\n", BodyTooLarge),
        ];
        for (wire, error) in table {
            let show = String::from_utf8_lossy(wire);
            assert_eq!(decode_whole(wire).map(|_| ()), Err(*error), "{show:?}");
            let mut decoder = ChunkedDecoder::new(1 << 20, 256);
            let mut body = Vec::new();
            let bytewise = wire.iter().try_for_each(|byte| {
                decoder
                    .decode(std::slice::from_ref(byte), &mut body)
                    .map(|_| ())
            });
            assert_eq!(bytewise, Err(*error), "{show:?}");
        }
    }

    #[test]
    fn chunk_size_overflow_is_rejected() {
        let mut decoder = ChunkedDecoder::new(usize::MAX, 256);
        let mut body = Vec::new();
        assert_eq!(
            decoder
                .decode(b"ffffffffffffffff", &mut body)
                .map(|p| p.done),
            Ok(false)
        );
        assert_eq!(
            decoder.decode(b"0", &mut body),
            Err(ChunkedError::SizeOverflow)
        );
    }

    #[test]
    fn body_over_limit_is_rejected_before_its_data_arrives() {
        let mut decoder = ChunkedDecoder::new(8, 256);
        let mut body = Vec::new();
        assert!(decoder.decode(b"5\r\nhello\r\n", &mut body).is_ok());
        // 5 + 4 > 8: refused on the digit, with no data read.
        assert_eq!(
            decoder.decode(b"4", &mut body),
            Err(ChunkedError::BodyTooLarge)
        );
        assert_eq!(body, b"hello");
    }

    #[test]
    fn body_exactly_at_limit_is_accepted() {
        let mut decoder = ChunkedDecoder::new(5, 0);
        let mut body = Vec::new();
        let progress = decoder
            .decode(b"5\r\nhello\r\n0\r\n\r\n", &mut body)
            .unwrap();
        assert!(progress.done);
        assert_eq!(body, b"hello");
    }

    #[test]
    fn extensions_over_limit_are_rejected() {
        let mut decoder = ChunkedDecoder::new(100, 4);
        let mut body = Vec::new();
        assert!(decoder.decode(b"1;abc\r\nx\r\n", &mut body).is_ok());
        // The budget is summed over the message: 4 bytes spent already.
        assert_eq!(
            decoder.decode(b"1;", &mut body),
            Err(ChunkedError::ExtensionTooLarge)
        );
    }

    #[test]
    fn leading_zeros_count_against_the_extension_limit() {
        let mut decoder = ChunkedDecoder::new(100, 3);
        let mut body = Vec::new();
        // Three padding zeros spend the whole budget; a fourth is refused.
        assert_eq!(
            decoder.decode(b"0001\r\nx\r\n", &mut body).map(|p| p.done),
            Ok(false)
        );
        assert_eq!(
            decoder.decode(b"01", &mut body),
            Err(ChunkedError::ExtensionTooLarge)
        );
    }

    #[test]
    fn trailer_over_limit_is_rejected() {
        let mut decoder = ChunkedDecoder::new(100, 5);
        let mut body = Vec::new();
        assert!(decoder.decode(b"0\r\nA:123\r\n", &mut body).is_ok());
        assert_eq!(
            decoder.decode(b"B", &mut body),
            Err(ChunkedError::TrailerTooLarge)
        );
    }

    #[test]
    fn errors_are_sticky() {
        let mut decoder = ChunkedDecoder::new(100, 100);
        let mut body = Vec::new();
        assert_eq!(
            decoder.decode(b"z", &mut body),
            Err(ChunkedError::InvalidSize)
        );
        assert_eq!(
            decoder.decode(b"0\r\n\r\n", &mut body),
            Err(ChunkedError::InvalidSize)
        );
    }

    #[test]
    fn done_decoder_consumes_nothing_more() {
        let mut decoder = ChunkedDecoder::new(100, 100);
        let mut body = Vec::new();
        assert!(decoder.decode(b"0\r\n\r\n", &mut body).unwrap().done);
        assert_eq!(
            decoder.decode(b"0\r\n\r\n", &mut body),
            Ok(Progress {
                consumed: 0,
                done: true
            })
        );
    }

    #[test]
    fn error_status_is_400_for_malformed_and_413_for_too_large() {
        use ChunkedError::*;
        let table = [
            (InvalidSize, 400),
            (SizeOverflow, 413),
            (BodyTooLarge, 413),
            (InvalidExtension, 400),
            (ExtensionTooLarge, 413),
            (BadLineEnding, 400),
            (ChunkDataOverrun, 400),
            (InvalidTrailer, 400),
            (TrailerTooLarge, 413),
        ];
        for (error, status) in table {
            assert_eq!(error.status(), status, "{error}");
            assert!(!error.to_string().is_empty());
        }
    }

    /// Valid chunk extensions, including BWS and quoted strings.
    fn extension() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "",
            ";a",
            ";name=value",
            " ;x=\"quoted; \\\"string\\\"\"",
            "\t;a=1;b=2",
            ";empty=\"\"",
        ])
    }

    /// Valid trailer field lines, each with its CRLF.
    fn trailer() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "Expires: never\r\n",
            "X-Checksum:abc\r\n",
            "Empty:\r\n",
            "Server-Timing: db;dur=53, \"x\"\r\n",
        ])
    }

    /// A body, its chunked encoding with random chunk boundaries,
    /// extensions, hex case and trailers.
    fn encoded_body() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
        (
            prop::collection::vec(
                (
                    prop::collection::vec(any::<u8>(), 1..40),
                    extension(),
                    any::<bool>(),
                ),
                0..8,
            ),
            extension(),
            prop::collection::vec(trailer(), 0..3),
        )
            .prop_map(|(chunks, last_extension, trailers)| {
                let mut body = Vec::new();
                let mut wire = Vec::new();
                for (data, ext, upper) in chunks {
                    let size = if upper {
                        format!("{:X}", data.len())
                    } else {
                        format!("{:x}", data.len())
                    };
                    wire.extend_from_slice(size.as_bytes());
                    wire.extend_from_slice(ext.as_bytes());
                    wire.extend_from_slice(b"\r\n");
                    wire.extend_from_slice(&data);
                    wire.extend_from_slice(b"\r\n");
                    body.extend_from_slice(&data);
                }
                wire.extend_from_slice(b"0");
                wire.extend_from_slice(last_extension.as_bytes());
                wire.extend_from_slice(b"\r\n");
                for line in trailers {
                    wire.extend_from_slice(line.as_bytes());
                }
                wire.extend_from_slice(b"\r\n");
                (body, wire)
            })
    }

    proptest! {
        #[test]
        fn any_chunking_and_any_feed_split_decodes_the_body(
            (body, wire) in encoded_body(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
            after in prop::collection::vec(any::<u8>(), 0..16),
        ) {
            let mut input = wire.clone();
            input.extend_from_slice(&after);
            let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(input.len() + 1)).collect();
            cuts.push(0);
            cuts.push(input.len());
            cuts.sort_unstable();

            let mut decoder = ChunkedDecoder::new(1 << 20, 1024);
            let mut out = Vec::new();
            let mut end = None;
            for pair in cuts.windows(2) {
                let feed = &input[pair[0]..pair[1]];
                let progress = decoder.decode(feed, &mut out).unwrap();
                if progress.done {
                    end = Some(pair[0] + progress.consumed);
                    break;
                }
                prop_assert_eq!(progress.consumed, feed.len());
            }
            prop_assert_eq!(out, body);
            prop_assert_eq!(end, Some(wire.len()));
        }

        #[test]
        fn arbitrary_input_decodes_the_same_whole_and_bytewise(
            input in prop::collection::vec(
                prop::sample::select(b"0123456789abcdefABx;= \t\r\n:\"\x00".to_vec()),
                0..64,
            ),
        ) {
            let mut whole = ChunkedDecoder::new(64, 16);
            let mut whole_out = Vec::new();
            let whole_result = whole.decode(&input, &mut whole_out);

            let mut bytewise = ChunkedDecoder::new(64, 16);
            let mut bytewise_out = Vec::new();
            let mut consumed = 0;
            let mut bytewise_result = Ok(Progress { consumed: 0, done: false });
            for byte in &input {
                match bytewise.decode(std::slice::from_ref(byte), &mut bytewise_out) {
                    Ok(progress) => {
                        consumed += progress.consumed;
                        bytewise_result = Ok(Progress { consumed, done: progress.done });
                    }
                    Err(error) => {
                        bytewise_result = Err(error);
                        break;
                    }
                }
            }
            prop_assert_eq!(whole_result, bytewise_result);
            if whole_result.is_ok() {
                prop_assert_eq!(whole_out, bytewise_out);
            }
        }
    }
}
