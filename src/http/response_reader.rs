//! The client's side of HTTP/1.1: responses read back from a connection,
//! sans-IO (RFC 9112 sections 4 and 6.3).
//!
//! [`ResponseReader`] is fed whatever bytes arrived and hands back one
//! [`ResponseEvent`] at a time: a head, then (appended to a buffer the
//! caller lends it) the body, then the end of that body, then the next
//! response on the same connection. Whatever reads what a server sent uses
//! it: the terminal client (`pushwire sub`, `pushwire pub`), the load
//! generator, and the wire tracer for the server's half of a connection.
//!
//! # A response on the wire
//!
//! A status line (RFC 9112 section 4), header field lines (section 5), a
//! blank line, and a body whose end the client must find on its own. Two
//! answers on one keep-alive connection, the second one an event stream:
//!
//! ```text
//! HTTP/1.1 100 Continue\r\n                  interim: no body, and the final
//! \r\n                                       answer to the same request follows
//! HTTP/1.1 202 Accepted\r\n                  HTTP-version SP status-code SP reason
//! Date: Wed, 25 Nov 2026 02:05:09 GMT\r\n
//! Content-Type: application/json\r\n
//! Content-Length: 9\r\n
//! \r\n
//! {"id":17}                                  exactly 9 bytes of body
//! HTTP/1.1 200 OK\r\n                        the next response
//! Content-Type: text/event-stream\r\n
//! Transfer-Encoding: chunked\r\n
//! \r\n
//! e\r\n                                      chunk size in hex: 14 bytes
//! data: hello\n\n\r\n
//! 0\r\n                                      the last chunk: the body ends
//! \r\n
//! ```
//!
//! # Where a body ends (RFC 9112 section 6.3)
//!
//! The first rule that matches decides, in the RFC's order:
//!
//! 1. An answer to `HEAD` (the caller knows what it asked and says so with
//!    [`ResponseReader::set_head_request`]), any `1xx`, `204 No Content` and
//!    `304 Not Modified` end at the blank line, whatever their fields say.
//!    A `1xx` other than `101` is interim ([`ResponseEvent::Interim`]): the
//!    final answer to the same request comes after it (RFC 9110 section
//!    15.2).
//! 2. (A `2xx` to `CONNECT` opens a tunnel; pushwire never asks for one.)
//! 3. With both `Transfer-Encoding` and `Content-Length`, the first wins.
//! 4. `Transfer-Encoding` whose final coding is `chunked`: the body is
//!    decoded with the crate's [`ChunkedDecoder`] up to its last chunk and
//!    trailer section. Any other final coding: the body runs until the
//!    server closes the connection.
//! 5. A `Content-Length` that is not `1*DIGIT`, or a list of values that
//!    differ (`Content-Length: 5, 6`, or two such field lines), is an
//!    unrecoverable framing error: [`ResponseError::InvalidContentLength`].
//!    A list of equal values counts as one.
//! 6. `Content-Length: n`: the next `n` bytes.
//! 7. (Requests only.)
//! 8. Otherwise the body is everything until the server closes the
//!    connection; tell the reader with [`ResponseReader::eof`].
//!
//! `101 Switching Protocols` (RFC 9110 section 15.2.2) ends HTTP on the
//! connection: the reader stops right after its blank line and reads
//! nothing more, so the bytes after it (a WebSocket's first frames may share
//! a read with the head) stay with the caller.
//!
//! # Heads: a small value, and the fields on request
//!
//! A head event carries a [`ResponseHead`]: the version, the status, the
//! framing the rules above chose and whether the connection stays open
//! (RFC 9112 section 9.3). The field lines stay in the reader, one copy of
//! the head's bytes and the position of each name and value, in buffers
//! that are reused from one response to the next; [`ResponseReader::head`],
//! [`ResponseReader::field`], [`ResponseReader::fields`] and
//! [`ResponseReader::reason`] look at them until the next head starts. A
//! caller that needs one field pays for that one lookup, and nothing is
//! allocated per field.
//!
//! # Limits and errors
//!
//! A head is bounded ([`ResponseReader::with_max_head_bytes`]): the first
//! that many bytes must hold the whole head, blank line included, or
//! reading fails with [`ResponseError::HeadTooLarge`]. The body is handed
//! over as it arrives, never held, so its size is the caller's to bound.
//! Every error is final: the reader keeps returning it, because once the
//! framing of one response is in doubt, nothing after it on the connection
//! can be trusted (RFC 9112 section 11.2).
//!
//! Feeding the bytes in any split (whole, byte by byte, as the socket
//! delivered them) gives the same events, the same body bytes, the same
//! consumed counts and the same error.

use std::fmt;
use std::ops::Range;

use httparse::Status;

use super::chunked::{ChunkedDecoder, ChunkedError};
use super::first_fault;
use super::request::{trim_ows, MAX_HEADERS};
use crate::decimal::parse_decimal;

/// The head limit of [`ResponseReader::new`]: 16 KiB, far more than the
/// heads pushwire (or nchan) sends, which are a few hundred bytes.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 16 * 1024;

/// How the body of a response is delimited (RFC 9112 section 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body: an answer to `HEAD`, a `1xx`, `204` or `304` (rule 1).
    None,
    /// `Content-Length: n` (rule 6).
    Length(u64),
    /// `Transfer-Encoding` ending in `chunked` (rule 4).
    Chunked,
    /// Until the server closes the connection (rules 4 and 8).
    UntilClose,
}

/// What a response head says, apart from its fields (which
/// [`ResponseReader::fields`] shows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    /// The status code, three digits.
    pub status: u16,
    /// Where the body ends.
    pub framing: ResponseFraming,
    /// Whether the connection stays open after this response (RFC 9112
    /// section 9.3): HTTP/1.1 unless `Connection: close`; HTTP/1.0 only
    /// with `Connection: keep-alive`, and never when it carries
    /// `Transfer-Encoding` (section 6.1 asks to close after such a message).
    pub keep_alive: bool,
    /// Bytes the head took, blank line included.
    pub head_len: usize,
}

/// What [`ResponseReader::read`] stopped for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseEvent {
    /// A `1xx` other than `101`; the final response to the same request
    /// follows. It has no body, so no [`ResponseEvent::Done`] follows it.
    Interim(ResponseHead),
    /// A final head, or `101`. After `101` the reader reads nothing more;
    /// after any other, the body follows and ends with
    /// [`ResponseEvent::Done`].
    Head(ResponseHead),
    /// The body of the last head is complete; the next response may follow.
    Done,
}

/// Why a response could not be read. Each is final: the connection's
/// framing is lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseError {
    /// The head is not an HTTP/1.x response head. Its first `at` bytes are
    /// the shortest prefix that cannot begin one: byte number `at`,
    /// counting from 1, is the one at fault.
    MalformedHead {
        /// What httparse found wrong.
        error: httparse::Error,
        /// The position of the offending byte, counting from 1.
        at: usize,
    },
    /// The head has more than [`MAX_HEADERS`] field lines.
    TooManyFields,
    /// The head did not end within the reader's limit.
    HeadTooLarge,
    /// `Content-Length` is not one decimal number (RFC 9112 section 6.3
    /// rule 5). The head itself was read: [`ResponseReader::head`] and
    /// [`ResponseReader::fields`] show it.
    InvalidContentLength,
    /// The chunked framing of the body is broken (RFC 9112 section 7.1).
    Chunked(ChunkedError),
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::MalformedHead { error, at } => {
                write!(f, "malformed response head ({error}) at byte {at}")
            }
            ResponseError::TooManyFields => {
                write!(f, "response head has more than {MAX_HEADERS} header fields")
            }
            ResponseError::HeadTooLarge => f.write_str("response head is larger than the limit"),
            ResponseError::InvalidContentLength => {
                f.write_str("response Content-Length is not one decimal number")
            }
            ResponseError::Chunked(error) => write!(f, "malformed chunked body: {error}"),
        }
    }
}

impl std::error::Error for ResponseError {}

/// Where the name and value of one field line sit in the kept head.
#[derive(Clone, Debug)]
struct FieldSpan {
    name: Range<usize>,
    value: Range<usize>,
}

/// The body being read.
#[derive(Clone, Debug)]
enum Body {
    /// Bytes still to come.
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

#[derive(Clone, Debug)]
enum State {
    /// Between responses, or inside a head.
    Head,
    Body(Body),
    /// After `101`: nothing more is HTTP.
    Upgraded,
    Failed(ResponseError),
}

/// Reads one response after another from a connection; see the module
/// docs.
///
/// ```
/// use pushwire::http::response_reader::{ResponseEvent, ResponseFraming, ResponseReader};
///
/// let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}";
/// let mut reader = ResponseReader::new();
/// let mut body = Vec::new();
/// // 1. The head: a small value, the fields on request.
/// let (used, event) = reader.read(wire, &mut body).unwrap();
/// let Some(ResponseEvent::Head(head)) = event else { panic!("{event:?}") };
/// assert_eq!((head.status, head.framing), (200, ResponseFraming::Length(2)));
/// assert_eq!(reader.field("content-type"), Some(&b"application/json"[..]));
/// // 2. The body, appended to `body`, and its end.
/// let (rest, event) = reader.read(&wire[used..], &mut body).unwrap();
/// assert_eq!((used + rest, event), (wire.len(), Some(ResponseEvent::Done)));
/// assert_eq!(body, b"{}");
/// // 3. Nothing more yet.
/// assert_eq!(reader.read(&[], &mut body).unwrap(), (0, None));
/// ```
#[derive(Clone, Debug)]
pub struct ResponseReader {
    state: State,
    max_head_bytes: usize,
    /// The bytes of the head being read (its first `partial` bytes), or of
    /// the last head read, kept for [`ResponseReader::fields`].
    head: Vec<u8>,
    /// How many bytes of `head` belong to a head not yet complete.
    partial: usize,
    /// The kept head: what its event said, its reason phrase and its
    /// field lines.
    last: Option<ResponseHead>,
    reason: Range<usize>,
    fields: Vec<FieldSpan>,
    /// The request being answered is `HEAD`.
    head_request: bool,
}

impl Default for ResponseReader {
    fn default() -> Self {
        ResponseReader::new()
    }
}

impl ResponseReader {
    /// A reader for a new connection, with heads up to
    /// [`DEFAULT_MAX_HEAD_BYTES`].
    pub fn new() -> ResponseReader {
        ResponseReader::with_max_head_bytes(DEFAULT_MAX_HEAD_BYTES)
    }

    /// A reader for a new connection whose heads may take at most
    /// `max_head_bytes` (status line, fields and blank line). The same
    /// budget bounds a chunked body's extensions and trailer section.
    pub fn with_max_head_bytes(max_head_bytes: usize) -> ResponseReader {
        ResponseReader {
            state: State::Head,
            max_head_bytes,
            head: Vec::new(),
            partial: 0,
            last: None,
            reason: 0..0,
            fields: Vec::new(),
            head_request: false,
        }
    }

    /// Says whether the request the next final response answers was a
    /// `HEAD`: such an answer has no body, whatever its `Content-Length`
    /// (RFC 9112 section 6.3 rule 1). Holds until changed; set it before
    /// the response's head is read.
    pub fn set_head_request(&mut self, head_request: bool) {
        self.head_request = head_request;
    }

    /// Consumes bytes from `input` until one event completes or the input
    /// runs out, appending body bytes to `body`.
    ///
    /// `Ok((consumed, Some(event)))`: an event completed after `consumed`
    /// bytes; call again with the rest. `Ok((consumed, None))`: every byte
    /// the reader can use was taken (all of them, except after `101`, when
    /// it takes none). After a head whose body is empty,
    /// [`ResponseReader::body_complete`] is true and the next call, even
    /// with no bytes, reports [`ResponseEvent::Done`].
    pub fn read(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
    ) -> Result<(usize, Option<ResponseEvent>), ResponseError> {
        let progress = match &mut self.state {
            State::Failed(error) => return Err(*error),
            State::Upgraded => return Ok((0, None)),
            State::Head => return self.read_head(input),
            State::Body(framing) => read_body(framing, input, body),
        };
        match progress {
            Ok((used, false)) => Ok((used, None)),
            Ok((used, true)) => {
                self.state = State::Head;
                Ok((used, Some(ResponseEvent::Done)))
            }
            Err(error) => Err(self.fail(ResponseError::Chunked(error))),
        }
    }

    /// The connection closed. Returns true when that completed a body
    /// that runs until the close (RFC 9112 section 6.3 rule 8): the
    /// response is whole. False when nothing was being read, or when the
    /// close cut a head or a body short. The reader is then ready for a
    /// new connection.
    pub fn eof(&mut self) -> bool {
        let complete = matches!(self.state, State::Body(Body::UntilClose));
        self.state = State::Head;
        self.forget_head();
        complete
    }

    /// Whether a response has begun (some bytes of a head, or a body) and
    /// not finished.
    pub fn in_response(&self) -> bool {
        self.partial > 0 || matches!(self.state, State::Body(_))
    }

    /// Whether the body after the last head is already complete, being
    /// empty: the next [`read`](Self::read), even of no bytes, reports
    /// [`ResponseEvent::Done`].
    pub fn body_complete(&self) -> bool {
        matches!(self.state, State::Body(Body::Length(0)))
    }

    /// The bytes of a head that has begun and is not complete: what a close
    /// would cut short, or (after [`ResponseError::MalformedHead`]) the
    /// bytes the error's position counts in.
    pub fn unfinished_head(&self) -> &[u8] {
        self.head.get(..self.partial).unwrap_or_default()
    }

    /// The last head read, as its [`ResponseEvent`] reported it; `None`
    /// once the next head has begun. After
    /// [`ResponseError::InvalidContentLength`] it is the head that was
    /// refused, its framing [`ResponseFraming::None`] since no body can be
    /// found.
    pub fn head(&self) -> Option<ResponseHead> {
        self.last
    }

    /// The reason phrase of the last head read (`OK`, `Not Found`); it may
    /// be empty.
    pub fn reason(&self) -> &str {
        self.text(self.reason.clone())
    }

    /// The field lines of the last head read, in wire order, as
    /// `(name, value)`: the name as sent, the value without the whitespace
    /// around it. Empty once the next head has begun.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.fields.iter().map(|span| {
            let value = self.head.get(span.value.clone()).unwrap_or_default();
            (self.text(span.name.clone()), value)
        })
    }

    /// The value of the first field called `name` (case-insensitive) in the
    /// last head read.
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// Bytes held for the kept head and its field positions (capacity).
    #[cfg(test)]
    pub(crate) fn held_bytes(&self) -> usize {
        self.head.capacity() + self.fields.capacity() * std::mem::size_of::<FieldSpan>()
    }

    fn text(&self, span: Range<usize>) -> &str {
        // httparse checked the status line and field names: they are
        // ASCII, so this never falls back.
        self.head
            .get(span)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .unwrap_or_default()
    }

    fn fail(&mut self, error: ResponseError) -> ResponseError {
        self.state = State::Failed(error);
        error
    }

    fn forget_head(&mut self) {
        self.last = None;
        self.head.clear();
        self.fields.clear();
        self.reason = 0..0;
        self.partial = 0;
    }

    /// Reads a head: parsed straight from `input` when it begins there (the
    /// usual case: no copy until it is known complete), from the kept bytes
    /// when it began in an earlier call. Either way the bytes parsed are the
    /// kept ones followed by `input`, cut at the head limit, so where the
    /// input was split never changes the answer.
    fn read_head(&mut self, input: &[u8]) -> Result<(usize, Option<ResponseEvent>), ResponseError> {
        if input.is_empty() {
            return Ok((0, None));
        }
        let held = self.partial;
        if held == 0 {
            self.forget_head();
        }
        let room = self.max_head_bytes.saturating_sub(held);
        let window = input.get(..room).unwrap_or(input);
        if held > 0 {
            self.head.extend_from_slice(window);
        }
        let parsed = {
            let bytes: &[u8] = if held == 0 { window } else { &self.head };
            parse(bytes, &mut self.fields)
        };
        match parsed {
            Ok(Some(parsed)) => {
                if held == 0 {
                    self.head
                        .extend_from_slice(window.get(..parsed.head_len).unwrap_or_default());
                } else {
                    self.head.truncate(parsed.head_len);
                }
                self.partial = 0;
                self.reason = parsed.reason.clone();
                let used = parsed.head_len.saturating_sub(held);
                self.start_body(&parsed).map(|event| (used, Some(event)))
            }
            Ok(None) => {
                if held == 0 {
                    self.head.extend_from_slice(window);
                }
                self.partial = held + window.len();
                if self.partial >= self.max_head_bytes {
                    return Err(self.fail(ResponseError::HeadTooLarge));
                }
                Ok((window.len(), None))
            }
            Err(error) => {
                // Keep the head up to the byte at fault, the same bytes
                // however the input was split.
                if held == 0 {
                    self.head.extend_from_slice(window);
                }
                let (error, at) =
                    first_fault(&self.head, held, refusal).unwrap_or((error, self.head.len()));
                self.head.truncate(at);
                self.partial = self.head.len();
                Err(self.fail(match error {
                    httparse::Error::TooManyHeaders => ResponseError::TooManyFields,
                    error => ResponseError::MalformedHead { error, at },
                }))
            }
        }
    }

    /// Chooses the framing of a complete head (RFC 9112 section 6.3, rules
    /// in order) and the state that follows it.
    fn start_body(&mut self, parsed: &Parsed) -> Result<ResponseEvent, ResponseError> {
        let status = parsed.status;
        let mut head = ResponseHead {
            minor_version: parsed.minor_version,
            status,
            framing: ResponseFraming::None,
            keep_alive: parsed.keep_alive,
            head_len: parsed.head_len,
        };
        // Kept with no framing until one is chosen: that is what a refused
        // Content-Length leaves.
        self.last = Some(head);
        if status == 101 {
            self.state = State::Upgraded;
            return Ok(ResponseEvent::Head(head));
        }
        if (100..200).contains(&status) {
            return Ok(ResponseEvent::Interim(head));
        }
        head.framing = if self.head_request || status == 204 || status == 304 {
            ResponseFraming::None
        } else {
            match (parsed.chunked, parsed.content_length) {
                (Some(true), _) => ResponseFraming::Chunked,
                (Some(false), _) | (None, ContentLength::Absent) => ResponseFraming::UntilClose,
                (None, ContentLength::Valid(n)) => ResponseFraming::Length(n),
                (None, ContentLength::Invalid) => {
                    return Err(self.fail(ResponseError::InvalidContentLength));
                }
            }
        };
        self.last = Some(head);
        self.state = State::Body(match head.framing {
            ResponseFraming::None => Body::Length(0),
            ResponseFraming::Length(n) => Body::Length(n),
            ResponseFraming::Chunked => {
                Body::Chunked(ChunkedDecoder::new(usize::MAX, self.max_head_bytes))
            }
            ResponseFraming::UntilClose => Body::UntilClose,
        });
        Ok(ResponseEvent::Head(head))
    }
}

/// Moves body bytes from `input` to `out`; returns what was used and
/// whether the body is complete.
fn read_body(
    framing: &mut Body,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(usize, bool), ChunkedError> {
    match framing {
        Body::Length(left) => {
            let take = usize::try_from(*left).map_or(input.len(), |left| left.min(input.len()));
            out.extend_from_slice(input.get(..take).unwrap_or_default());
            *left = left.saturating_sub(take as u64);
            Ok((take, *left == 0))
        }
        Body::Chunked(decoder) => {
            let progress = decoder.decode(input, out)?;
            Ok((progress.consumed, progress.done))
        }
        Body::UntilClose => {
            out.extend_from_slice(input);
            Ok((input.len(), false))
        }
    }
}

/// What the `Content-Length` field lines of a head add up to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ContentLength {
    Absent,
    Valid(u64),
    /// Not `1*DIGIT`, or values that differ (RFC 9112 section 6.3 rule 5).
    Invalid,
}

impl ContentLength {
    /// Adds one field line's comma-separated values.
    fn add(self, value: &[u8]) -> ContentLength {
        value.split(|&b| b == b',').fold(self, |sum, item| {
            match (sum, parse_decimal(trim_ows(item))) {
                (ContentLength::Absent, Some(n)) => ContentLength::Valid(n),
                (ContentLength::Valid(seen), Some(n)) if seen == n => sum,
                _ => ContentLength::Invalid,
            }
        })
    }
}

/// A complete head as httparse read it, with what the framing rules need
/// from its fields.
struct Parsed {
    head_len: usize,
    minor_version: u8,
    status: u16,
    reason: Range<usize>,
    /// Whether the final coding of the last `Transfer-Encoding` line is
    /// `chunked`; `None` without the field.
    chunked: Option<bool>,
    content_length: ContentLength,
    keep_alive: bool,
}

/// Parses a response head from the start of `bytes`: `Ok(None)` if it is
/// not complete yet. The position of each field line is recorded in
/// `fields`.
fn parse(bytes: &[u8], fields: &mut Vec<FieldSpan>) -> Result<Option<Parsed>, httparse::Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(bytes)? {
        Status::Complete(n) => n,
        Status::Partial => return Ok(None),
    };
    let minor_version = response.version.unwrap_or(1);
    let mut chunked = None;
    let mut content_length = ContentLength::Absent;
    let (mut close, mut keep_alive) = (false, false);
    fields.clear();
    for header in response.headers.iter() {
        fields.push(FieldSpan {
            name: span_of(bytes, header.name.as_bytes()),
            value: span_of(bytes, header.value),
        });
        let (name, value) = (header.name, trim_ows(header.value));
        if name.eq_ignore_ascii_case("transfer-encoding") {
            // RFC 9112 section 6.3 rule 4: chunked only as the final coding.
            let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
            chunked = Some(trim_ows(last).eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case("content-length") {
            content_length = content_length.add(value);
        } else if name.eq_ignore_ascii_case("connection") {
            for option in value.split(|&b| b == b',').map(trim_ows) {
                close |= option.eq_ignore_ascii_case(b"close");
                keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    // RFC 9112 section 9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only
    // with "keep-alive". Section 6.1: a Transfer-Encoding in an HTTP/1.0
    // message means its framing is suspect; close after it.
    let keep_alive = !close
        && match minor_version {
            0 => keep_alive && chunked.is_none(),
            _ => true,
        };
    Ok(Some(Parsed {
        head_len,
        minor_version,
        status: response.code.unwrap_or(0),
        reason: span_of(bytes, response.reason.unwrap_or_default().as_bytes()),
        chunked,
        content_length,
        keep_alive,
    }))
}

/// Where `part`, a slice httparse cut out of `whole`, sits in `whole`.
/// (hyper records its header indices the same way.)
fn span_of(whole: &[u8], part: &[u8]) -> Range<usize> {
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    if start
        .checked_add(part.len())
        .is_some_and(|end| end <= whole.len())
    {
        start..start + part.len()
    } else {
        0..0
    }
}

/// Why httparse refuses `bytes` as the start of a response, if it does.
fn refusal(bytes: &[u8]) -> Option<httparse::Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    httparse::Response::new(&mut headers).parse(bytes).err()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a caller sees: every event, with the fields of each head and
    /// where in the input it ended, the body bytes between events, and the
    /// error or the eof answer at the end.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Seen {
        Head(ResponseHead, String, Vec<(String, Vec<u8>)>, usize),
        Interim(u16, usize),
        Body(Vec<u8>),
        Done(usize),
        Error(ResponseError, Vec<u8>),
        Eof(bool),
    }

    /// Feeds `input` cut at `cuts`, telling the reader which responses
    /// answer `HEAD` (by the count of final heads seen), then closes.
    fn run(input: &[u8], cuts: &[usize], head_requests: &[bool]) -> Vec<Seen> {
        let mut reader = ResponseReader::with_max_head_bytes(512);
        let mut seen = Vec::new();
        let mut finals = 0;
        let mut bounds = cuts.to_vec();
        bounds.extend([0, input.len()]);
        bounds.sort_unstable();
        for pair in bounds.windows(2) {
            let mut rest = &input[pair[0]..pair[1]];
            let mut offset = pair[0];
            loop {
                reader.set_head_request(head_requests.get(finals).copied().unwrap_or(false));
                let mut body = Vec::new();
                let step = reader.read(rest, &mut body);
                if !body.is_empty() {
                    match seen.last_mut() {
                        Some(Seen::Body(bytes)) => bytes.extend_from_slice(&body),
                        _ => seen.push(Seen::Body(body)),
                    }
                }
                let (used, event) = match step {
                    Ok(step) => step,
                    Err(error) => {
                        seen.push(Seen::Error(error, reader.unfinished_head().to_vec()));
                        return seen;
                    }
                };
                rest = &rest[used..];
                offset += used;
                match event {
                    Some(ResponseEvent::Head(head)) => {
                        finals += 1;
                        let fields = reader
                            .fields()
                            .map(|(n, v)| (n.to_owned(), v.to_vec()))
                            .collect();
                        seen.push(Seen::Head(head, reader.reason().to_owned(), fields, offset));
                    }
                    Some(ResponseEvent::Interim(head)) => {
                        seen.push(Seen::Interim(head.status, offset))
                    }
                    Some(ResponseEvent::Done) => seen.push(Seen::Done(offset)),
                    None if used == 0 => break,
                    None => {}
                }
            }
        }
        seen.push(Seen::Eof(reader.eof()));
        seen
    }

    fn whole(input: &[u8], head_requests: &[bool]) -> Vec<Seen> {
        run(input, &[], head_requests)
    }

    fn head(status: u16, framing: ResponseFraming, head_len: usize) -> ResponseHead {
        ResponseHead {
            minor_version: 1,
            status,
            framing,
            keep_alive: true,
            head_len,
        }
    }

    #[test]
    fn keep_alive_responses_follow_one_another() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\n\
                     HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc\
                     HTTP/1.1 304 Not Modified\r\nEtag: 1\r\n\r\n\
                     HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n";
        let fields = |name: &str, value: &[u8]| vec![(name.to_owned(), value.to_vec())];
        assert_eq!(
            whole(wire, &[]),
            [
                Seen::Interim(100, 25),
                Seen::Head(
                    head(200, ResponseFraming::Length(3), 38),
                    "OK".into(),
                    fields("Content-Length", b"3"),
                    63
                ),
                Seen::Body(b"abc".to_vec()),
                Seen::Done(66),
                Seen::Head(
                    head(304, ResponseFraming::None, 38),
                    "Not Modified".into(),
                    fields("Etag", b"1"),
                    104
                ),
                Seen::Done(104),
                Seen::Head(
                    head(200, ResponseFraming::Chunked, 47),
                    "OK".into(),
                    fields("Transfer-Encoding", b"chunked"),
                    151
                ),
                Seen::Body(b"de".to_vec()),
                Seen::Done(163),
                Seen::Eof(false),
            ]
        );
    }

    /// RFC 9112 section 6.3, rule by rule: the framing each head gets.
    #[test]
    fn framing_follows_rfc_9112_section_6_3_in_order() {
        use ResponseFraming::*;
        const BAD: Result<ResponseFraming, ResponseError> =
            Err(ResponseError::InvalidContentLength);
        #[rustfmt::skip]
        let table: &[(&str, bool, Result<ResponseFraming, ResponseError>)] = &[
            // Rule 1: HEAD, 204, 304 have no body whatever the fields say.
            ("200 OK\r\nContent-Length: 40", true, Ok(None)),
            ("200 OK\r\nTransfer-Encoding: chunked", true, Ok(None)),
            ("204 No Content\r\nContent-Length: 40", false, Ok(None)),
            ("304 Not Modified\r\nContent-Length: x", false, Ok(None)),
            // Rules 3 and 4: Transfer-Encoding wins; chunked only as the
            // final coding, else until close.
            ("200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked", false, Ok(Chunked)),
            ("200 OK\r\nTransfer-Encoding: gzip, chunked", false, Ok(Chunked)),
            ("200 OK\r\nTransfer-Encoding: CHUNKED ", false, Ok(Chunked)),
            ("200 OK\r\nTransfer-Encoding: chunked, gzip", false, Ok(UntilClose)),
            ("200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip", false, Ok(UntilClose)),
            ("200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5", false, Ok(UntilClose)),
            // Rule 5: one number, or a list of the same number.
            ("200 OK\r\nContent-Length: 5, 5", false, Ok(Length(5))),
            ("200 OK\r\nContent-Length: 5\r\nContent-Length: 5", false, Ok(Length(5))),
            ("200 OK\r\nContent-Length: 5, 6", false, BAD),
            ("200 OK\r\nContent-Length: 5\r\nContent-Length: 6", false, BAD),
            ("200 OK\r\nContent-Length: +5", false, BAD),
            ("200 OK\r\nContent-Length: ", false, BAD),
            ("200 OK\r\nContent-Length: 99999999999999999999", false, BAD),
            // Rule 6.
            ("200 OK\r\nContent-Length: 0", false, Ok(Length(0))),
            ("404 Not Found\r\ncontent-length:  7 ", false, Ok(Length(7))),
            // Rule 8.
            ("200 OK\r\nContent-Type: text/event-stream", false, Ok(UntilClose)),
        ];
        for (head_text, head_request, expected) in table {
            let wire = format!("HTTP/1.1 {head_text}\r\n\r\n");
            let mut reader = ResponseReader::new();
            reader.set_head_request(*head_request);
            let got = match reader.read(wire.as_bytes(), &mut Vec::new()) {
                Ok((used, Some(ResponseEvent::Head(head)))) => {
                    assert_eq!(used, wire.len(), "{head_text}");
                    Ok(head.framing)
                }
                Ok(other) => panic!("{head_text}: {other:?}"),
                Err(error) => Err(error),
            };
            assert_eq!(&got, expected, "{head_text}");
        }
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_options() {
        #[rustfmt::skip]
        let table: &[(&str, bool)] = &[
            ("HTTP/1.1 200 OK", true),
            ("HTTP/1.1 200 OK\r\nConnection: close", false),
            ("HTTP/1.1 200 OK\r\nConnection: Upgrade, Close", false),
            ("HTTP/1.1 200 OK\r\nConnection: closed", true),
            ("HTTP/1.0 200 OK", false),
            ("HTTP/1.0 200 OK\r\nConnection: keep-alive", true),
            ("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked", false),
        ];
        for (head_text, keep_alive) in table {
            let wire = format!("{head_text}\r\nContent-Length: 0\r\n\r\n");
            let event = ResponseReader::new().read(wire.as_bytes(), &mut Vec::new());
            match event {
                Ok((_, Some(ResponseEvent::Head(head)))) => {
                    assert_eq!(head.keep_alive, *keep_alive, "{head_text}")
                }
                other => panic!("{head_text}: {other:?}"),
            }
        }
    }

    #[test]
    fn switching_protocols_leaves_the_rest_unread() {
        let wire = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\n\r\n\x81\x02hi";
        let mut reader = ResponseReader::new();
        let mut body = Vec::new();
        let (used, event) = reader.read(wire, &mut body).unwrap();
        assert!(matches!(event, Some(ResponseEvent::Head(h)) if h.status == 101));
        assert_eq!(&wire[used..], b"\x81\x02hi");
        assert_eq!(reader.field("upgrade"), Some(&b"websocket"[..]));
        assert_eq!(reader.fields().count(), 2);
        assert_eq!(reader.read(&wire[used..], &mut body).unwrap(), (0, None));
        assert!(!reader.in_response());
    }

    #[test]
    fn a_body_until_close_is_complete_at_eof_and_a_cut_one_is_not() {
        let mut reader = ResponseReader::new();
        let mut body = Vec::new();
        let wire = b"HTTP/1.0 200 OK\r\n\r\ndata: x\n\n";
        let (used, _) = reader.read(wire, &mut body).unwrap();
        assert_eq!(reader.read(&wire[used..], &mut body).unwrap(), (9, None));
        assert!(reader.in_response());
        assert!(reader.eof());
        assert_eq!(body, b"data: x\n\n");

        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc";
        let (used, _) = reader.read(wire, &mut body).unwrap();
        reader.read(&wire[used..], &mut body).unwrap();
        assert!(!reader.eof());
    }

    #[test]
    fn an_unfinished_head_is_counted_and_forgotten_at_eof() {
        let mut reader = ResponseReader::new();
        assert_eq!(
            reader.read(b"HTTP/1.1 200 O", &mut Vec::new()).unwrap(),
            (14, None)
        );
        assert_eq!(reader.unfinished_head(), b"HTTP/1.1 200 O");
        assert!(reader.in_response());
        assert!(!reader.eof());
        assert_eq!(reader.unfinished_head(), b"");
    }

    #[test]
    fn malformed_heads_name_the_byte_at_fault_and_errors_are_final() {
        let table: &[(&[u8], httparse::Error, usize)] = &[
            (b"\x16\x03\x01\x02\x00", httparse::Error::Version, 1),
            (b"HTTP/1.1 2x0 OK\r\n\r\n", httparse::Error::Status, 11),
            (
                b"HTTP/1.1 200 OK\r\nHo st: h\r\n\r\n",
                httparse::Error::HeaderName,
                20,
            ),
            (
                b"HTTP/1.1 200 OK\r\nA: \x01\r\n\r\n",
                httparse::Error::HeaderValue,
                21,
            ),
        ];
        for (wire, error, at) in table {
            let mut reader = ResponseReader::new();
            let expected = ResponseError::MalformedHead {
                error: *error,
                at: *at,
            };
            for step in [1, wire.len()] {
                let seen = run(
                    wire,
                    &(step..wire.len()).step_by(step).collect::<Vec<_>>(),
                    &[],
                );
                assert_eq!(
                    seen.last(),
                    Some(&Seen::Error(expected, wire[..*at].to_vec())),
                    "{wire:?} in steps of {step}"
                );
            }
            assert_eq!(reader.read(wire, &mut Vec::new()), Err(expected));
            assert_eq!(
                reader.read(b"HTTP/1.1 200 OK\r\n\r\n", &mut Vec::new()),
                Err(expected)
            );
        }
    }

    #[test]
    fn a_head_must_end_within_the_limit() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let mut exact = ResponseReader::with_max_head_bytes(wire.len());
        assert!(matches!(
            exact.read(wire, &mut Vec::new()),
            Ok((_, Some(_)))
        ));
        let mut short = ResponseReader::with_max_head_bytes(wire.len() - 1);
        assert_eq!(short.read(&wire[..5], &mut Vec::new()), Ok((5, None)));
        assert_eq!(
            short.read(&wire[5..], &mut Vec::new()),
            Err(ResponseError::HeadTooLarge)
        );
        assert_eq!(short.unfinished_head().len(), wire.len() - 1);
    }

    #[test]
    fn more_fields_than_the_limit_are_refused() {
        let mut wire = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            wire.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
        let mut reader = ResponseReader::with_max_head_bytes(wire.len());
        assert_eq!(
            reader.read(&wire, &mut Vec::new()),
            Err(ResponseError::TooManyFields)
        );
    }

    #[test]
    fn an_invalid_content_length_still_shows_the_head() {
        let mut reader = ResponseReader::new();
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n";
        assert_eq!(
            reader.read(wire, &mut Vec::new()),
            Err(ResponseError::InvalidContentLength)
        );
        let head = reader.head().map(|h| (h.status, h.framing));
        assert_eq!(head, Some((200, ResponseFraming::None)));
        assert_eq!(reader.reason(), "OK");
        assert_eq!(reader.field("content-length"), Some(&b"1, 2"[..]));
    }

    #[test]
    fn a_broken_chunked_body_is_a_final_error() {
        let mut reader = ResponseReader::new();
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        let (used, _) = reader.read(wire, &mut Vec::new()).unwrap();
        let error = ResponseError::Chunked(ChunkedError::InvalidSize);
        assert_eq!(reader.read(&wire[used..], &mut Vec::new()), Err(error));
        assert_eq!(reader.read(b"0\r\n\r\n", &mut Vec::new()), Err(error));
    }

    #[test]
    fn errors_say_what_went_wrong() {
        let table = [
            (
                ResponseError::MalformedHead {
                    error: httparse::Error::HeaderName,
                    at: 20,
                },
                "malformed response head (invalid header name) at byte 20",
            ),
            (
                ResponseError::TooManyFields,
                "response head has more than 64 header fields",
            ),
            (
                ResponseError::HeadTooLarge,
                "response head is larger than the limit",
            ),
            (
                ResponseError::InvalidContentLength,
                "response Content-Length is not one decimal number",
            ),
            (
                ResponseError::Chunked(ChunkedError::InvalidSize),
                "malformed chunked body: chunk size is not a hexadecimal number",
            ),
        ];
        for (error, text) in table {
            assert_eq!(error.to_string(), text);
        }
    }

    /// What a transcript checker (the `connection` fuzz target's, say)
    /// needs: every head's fields, where each body ends, and the bytes
    /// after a `101`, from a prefix of what a client read.
    #[test]
    fn a_transcript_can_be_taken_apart_head_by_head() {
        let transcript = b"HTTP/1.1 200 OK\r\nDate: Wed, 25 Nov 2026 00:00:00 GMT\r\n\
                           Content-Length: 2\r\n\r\n{}\
                           HTTP/1.1 200 OK\r\nDate: Wed, 25 Nov 2026 00:00:00 GMT\r\n\
                           Content-Length: 9\r\n\r\n\
                           HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x89\x00";
        // The second request was a HEAD: the checker knows what it sent.
        let seen = run(transcript, &[], &[false, true, false]);
        let described: Vec<String> = seen
            .iter()
            .filter_map(|seen| match seen {
                Seen::Head(head, _, fields, end) => {
                    let dates = fields
                        .iter()
                        .filter(|(n, _)| n.eq_ignore_ascii_case("date"));
                    Some(format!("{} at {end}, {} Date", head.status, dates.count()))
                }
                Seen::Done(end) => Some(format!("body ends at {end}")),
                _ => None,
            })
            .collect();
        assert_eq!(
            described,
            [
                "200 at 75, 1 Date",
                "body ends at 77",
                "200 at 152, 1 Date",
                "body ends at 152",
                "101 at 208, 0 Date",
            ]
        );
        assert_eq!(transcript.get(208..), Some(&b"\x89\x00"[..]));
    }

    #[test]
    fn the_kept_head_is_reused_not_reallocated() {
        let one = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nDate: x\r\n\r\n";
        let mut reader = ResponseReader::new();
        let mut body = Vec::new();
        reader.read(one, &mut body).unwrap();
        reader.read(&[], &mut body).unwrap();
        let held = reader.held_bytes();
        for _ in 0..100 {
            reader.read(one, &mut body).unwrap();
            assert_eq!(
                reader.read(&[], &mut body).unwrap(),
                (0, Some(ResponseEvent::Done))
            );
        }
        assert_eq!(reader.held_bytes(), held);
    }

    /// One response of a generated conversation.
    #[derive(Debug, Clone)]
    enum Answer {
        Length(u16, Vec<u8>),
        Chunked(Vec<Vec<u8>>),
        NoContent,
        Interim,
        /// An answer to HEAD announcing a body it does not send.
        ToHead(u64),
    }

    fn answer() -> impl Strategy<Value = Answer> {
        let bytes = prop::collection::vec(any::<u8>(), 0..40);
        prop_oneof![
            (
                prop::sample::select(vec![200u16, 202, 404, 599]),
                bytes.clone()
            )
                .prop_map(|(status, body)| Answer::Length(status, body)),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 1..20), 0..4)
                .prop_map(Answer::Chunked),
            Just(Answer::NoContent),
            Just(Answer::Interim),
            (0u64..1000).prop_map(Answer::ToHead),
        ]
    }

    /// How the conversation ends: nothing more, a body until close, or a
    /// switch to another protocol with some of its bytes.
    fn ending() -> impl Strategy<Value = Option<(bool, Vec<u8>)>> {
        prop::option::of((any::<bool>(), prop::collection::vec(any::<u8>(), 0..30)))
    }

    fn wire(answers: &[Answer], ending: &Option<(bool, Vec<u8>)>) -> (Vec<u8>, Vec<bool>) {
        let mut wire = Vec::new();
        let mut head_requests = Vec::new();
        for answer in answers {
            match answer {
                Answer::Length(status, body) => {
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    wire.extend_from_slice(head.as_bytes());
                    wire.extend_from_slice(body);
                }
                Answer::Chunked(chunks) => {
                    wire.extend_from_slice(
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                    );
                    for chunk in chunks {
                        crate::http::response::write_chunk(&mut wire, chunk);
                    }
                    wire.extend_from_slice(b"0\r\nTrailer: t\r\n\r\n");
                }
                Answer::NoContent => wire.extend_from_slice(b"HTTP/1.1 204 No Content\r\n\r\n"),
                Answer::Interim => {
                    wire.extend_from_slice(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n");
                    continue;
                }
                Answer::ToHead(n) => {
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n");
                    wire.extend_from_slice(head.as_bytes());
                }
            }
            head_requests.push(matches!(answer, Answer::ToHead(_)));
        }
        match ending {
            Some((true, rest)) => {
                wire.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n");
                wire.extend_from_slice(rest);
            }
            Some((false, rest)) => {
                wire.extend_from_slice(b"HTTP/1.0 200 OK\r\n\r\n");
                wire.extend_from_slice(rest);
            }
            None => {}
        }
        (wire, head_requests)
    }

    fn cuts(input_len: usize, cuts: &[prop::sample::Index]) -> Vec<usize> {
        cuts.iter().map(|cut| cut.index(input_len + 1)).collect()
    }

    proptest! {
        #[test]
        fn any_split_of_a_conversation_gives_the_same_events(
            answers in prop::collection::vec(answer(), 0..6),
            ending in ending(),
            at in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let (wire, head_requests) = wire(&answers, &ending);
            let expected = whole(&wire, &head_requests);
            prop_assert_eq!(run(&wire, &cuts(wire.len(), &at), &head_requests), expected.clone());
            let bytewise: Vec<usize> = (1..wire.len()).collect();
            prop_assert_eq!(run(&wire, &bytewise, &head_requests), expected.clone());

            // And the events are the ones the conversation holds.
            let finals = expected.iter().filter(|s| matches!(s, Seen::Head(..))).count();
            let interims = expected.iter().filter(|s| matches!(s, Seen::Interim(..))).count();
            let wanted_interims = answers.iter().filter(|a| matches!(a, Answer::Interim)).count();
            prop_assert_eq!(interims, wanted_interims);
            prop_assert_eq!(finals, answers.len() - wanted_interims + usize::from(ending.is_some()));
            let body: Vec<u8> = expected.iter().flat_map(|s| match s {
                Seen::Body(bytes) => bytes.clone(),
                _ => Vec::new(),
            }).collect();
            let mut wanted: Vec<u8> = answers.iter().flat_map(|a| match a {
                Answer::Length(_, body) => body.clone(),
                Answer::Chunked(chunks) => chunks.concat(),
                _ => Vec::new(),
            }).collect();
            if let Some((false, rest)) = &ending {
                wanted.extend_from_slice(rest);
            }
            prop_assert_eq!(body, wanted);
            prop_assert_eq!(expected.last(), Some(&Seen::Eof(matches!(ending, Some((false, _))))));
        }

        #[test]
        fn garbage_gives_the_same_answer_in_any_split_and_never_panics(
            prefix in prop::sample::select(vec![
                &b""[..],
                b"HTTP/1.1 200 OK\r\n",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
            ]),
            garbage in prop::collection::vec(prop_oneof![
                any::<u8>(),
                prop::sample::select(b"\r\n: 0123456789abcdefHTP/1. ,".to_vec()),
            ], 0..600),
            at in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let input = [prefix, &garbage].concat();
            let expected = whole(&input, &[]);
            prop_assert_eq!(run(&input, &cuts(input.len(), &at), &[]), expected.clone());
            let bytewise: Vec<usize> = (1..input.len()).collect();
            prop_assert_eq!(run(&input, &bytewise, &[]), expected);
        }
    }
}
