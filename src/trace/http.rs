//! HTTP/1.1 in the trace: request and response heads, field by field, and
//! a summary line per body (see the module docs of [`crate::trace`]).
//!
//! The two directions are read differently on purpose. Requests are framed
//! by the server's own rules ([`parse_head`]), so the trace shows what the
//! server made of them. Responses are read by the crate's client-side
//! [`ResponseReader`], the one the terminal client and the load generator
//! use, so the trace shows what any client would make of them (RFC 9112
//! section 6.3).

use std::collections::VecDeque;

use httparse::Status;

use super::redact::{redact_field, redact_head, redact_uri};
use super::sse::Events;
use super::{escape, Direction, Preview, RequestInfo, Sink, State, Stream, MAX_HEAD_BYTES};
use crate::http::chunked::ChunkedDecoder;
use crate::http::first_fault;
use crate::http::request::{parse_head, BodyFraming, HeadLimits, Method, MAX_HEADERS};
use crate::http::response_reader::{
    ResponseError, ResponseEvent, ResponseFraming, ResponseHead, ResponseReader,
};

/// The trailer budget given to [`ChunkedDecoder`]: generous, since the
/// tracer reports what it sees rather than enforcing the server's limits.
const MAX_TRAILER_BYTES: usize = 8192;

/// Decoded chunked data is handed on in pieces of at most this many input
/// bytes, so the scratch buffer stays small.
const DECODE_SLICE: usize = 4096;

/// The result of reading a request head.
pub(super) enum HeadStep {
    /// More bytes are needed (or the stream stopped); this many were used.
    Partial(usize),
    /// `buf` holds a complete head; this many bytes of the input were used.
    Complete(usize),
}

/// How a final response affects the `In` stream.
pub(super) enum Answer {
    /// `101 Switching Protocols`.
    Switch,
    /// Any other final response; `upgrade_refused` when it answers an
    /// upgrade request.
    Final { upgrade_refused: bool },
}

impl Stream {
    /// Adds bytes to the unfinished request head and checks whether it is
    /// complete.
    pub(super) fn read_head(&mut self, input: &[u8], sink: &mut Sink<'_>) -> HeadStep {
        let old = self.buf.len();
        let take = MAX_HEAD_BYTES.saturating_sub(old).min(input.len());
        self.buf
            .extend_from_slice(input.get(..take).unwrap_or_default());
        match parse_request_head(&self.buf) {
            Ok(Status::Complete(len)) => HeadStep::Complete(len.saturating_sub(old)),
            Ok(Status::Partial) => {
                if self.buf.len() >= MAX_HEAD_BYTES {
                    self.stop(sink, HEAD_TOO_LONG);
                    // Everything else on this stream is ignored.
                    return HeadStep::Partial(input.len());
                }
                HeadStep::Partial(take)
            }
            Err(httparse::Error::TooManyHeaders) => {
                self.stop(sink, &too_many_fields());
                HeadStep::Partial(input.len())
            }
            Err(error) => {
                // The last prefix known to parse is what was held before.
                let refusal = |prefix: &[u8]| parse_request_head(prefix).err();
                let (error, at) =
                    first_fault(&self.buf, old, refusal).unwrap_or((error, self.buf.len()));
                let text = malformed(error, at, &self.buf);
                self.stop(sink, &text);
                HeadStep::Partial(input.len())
            }
        }
    }

    /// Traces a complete request head from `buf` and starts its body.
    /// Returns what the `Out` analyzer needs to know about it.
    pub(super) fn start_request(&mut self, sink: &mut Sink<'_>) -> Option<RequestInfo> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut fields);
        if request.parse(&self.buf).is_err() {
            return None;
        }
        let target = redact_uri(request.path.unwrap_or("").as_bytes());
        sink.line(
            self.dir,
            &format!(
                "{} {} HTTP/1.{}",
                request.method.unwrap_or(""),
                String::from_utf8_lossy(&target),
                request.version.unwrap_or(1)
            ),
        );
        let fields = request.headers.iter().map(|h| (h.name, h.value));
        trace_fields(fields, self.dir, sink);
        let upgrade = request.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("upgrade")
                && h.value
                    .split(|&b| b == b',')
                    .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"websocket"))
        });

        // The server's own framing rules decide where the body ends.
        let limits = HeadLimits {
            max_header_bytes: MAX_HEAD_BYTES,
            max_uri_bytes: MAX_HEAD_BYTES,
        };
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let (framing, head) = match parse_head(&self.buf, &mut fields, limits) {
            Ok(Some(head)) => (head.framing, head.method == Method::Head),
            Ok(None) => return None,
            Err(error) => {
                let text = format!(
                    "refused: {error} (the server answers {} and closes)",
                    error.status()
                );
                self.stop(sink, &text);
                return Some(RequestInfo {
                    head: false,
                    upgrade: false,
                });
            }
        };
        self.buf.clear();
        self.upgrade_pending = upgrade;
        match RequestBody::new(framing) {
            Some(body) => self.state = State::Body(body),
            None => self.after_message(),
        }
        Some(RequestInfo { head, upgrade })
    }
}

/// The `Out` analyzer while the server speaks HTTP: the crate's
/// [`ResponseReader`] finds the heads and where each body ends, and this
/// traces them.
pub(super) struct Responses {
    reader: ResponseReader,
    /// The body being read, if it is traced (one with no bytes is not).
    body: Option<BodyTrace>,
}

/// What one step through the responses did.
pub(super) struct ResponseStep {
    /// Bytes of the input used.
    pub(super) used: usize,
    /// A final response was read; what it means for the `In` stream.
    pub(super) answer: Option<Answer>,
    /// The framing is lost: the stream stops with this line.
    pub(super) stop: Option<String>,
}

impl Responses {
    pub(super) fn new() -> Responses {
        Responses {
            reader: ResponseReader::with_max_head_bytes(MAX_HEAD_BYTES),
            body: None,
        }
    }

    #[cfg(test)]
    pub(super) fn held_bytes(&self) -> usize {
        self.reader.held_bytes() + self.body.as_ref().map_or(0, BodyTrace::held_bytes)
    }

    /// Reads response bytes, tracing each head and body; a final response
    /// is paired with the oldest request still waiting for one.
    pub(super) fn step(
        &mut self,
        input: &[u8],
        requests: &mut VecDeque<RequestInfo>,
        sink: &mut Sink<'_>,
    ) -> ResponseStep {
        // RFC 9112 section 6.3 rule 1: an answer to HEAD has no body.
        let head_request = requests.front().is_some_and(|request| request.head);
        self.reader.set_head_request(head_request);
        let piece = match self.body {
            Some(_) => input.get(..DECODE_SLICE).unwrap_or(input),
            None => input,
        };
        let mut data = Vec::new();
        let read = self.reader.read(piece, &mut data);
        // Bytes decoded before a framing error are not the body's.
        if let Some(body) = self
            .body
            .as_mut()
            .filter(|_| read.is_ok() && !data.is_empty())
        {
            body.data(&data, Direction::Out, sink);
        }
        let mut step = ResponseStep {
            used: 0,
            answer: None,
            stop: None,
        };
        match read {
            Ok((used, event)) => {
                step.used = used;
                match event {
                    Some(ResponseEvent::Interim(_)) => self.trace_head(sink),
                    Some(ResponseEvent::Head(head)) => {
                        self.trace_head(sink);
                        step.answer = Some(self.answer(head, requests));
                    }
                    Some(ResponseEvent::Done) => {
                        if let Some(body) = self.body.take() {
                            sink.line(Direction::Out, &body.end_line());
                        }
                    }
                    None => {}
                }
            }
            Err(error) => {
                step.used = input.len();
                let refused = self.reader.head();
                if let (ResponseError::InvalidContentLength, Some(head)) = (error, refused) {
                    // The head itself is fine: show it, then why its body
                    // cannot be followed.
                    self.trace_head(sink);
                    step.answer = Some(self.answer(head, requests));
                }
                step.stop = Some(self.refusal(error));
            }
        }
        step
    }

    /// The status line and the fields of the head just read.
    fn trace_head(&self, sink: &mut Sink<'_>) {
        let (version, status) = self
            .reader
            .head()
            .map_or((1, 0), |head| (head.minor_version, head.status));
        let reason = self.reader.reason();
        sink.line(
            Direction::Out,
            &format!("HTTP/1.{version} {status} {reason}"),
        );
        trace_fields(self.reader.fields(), Direction::Out, sink);
    }

    /// Pairs a final response with the request it answers and starts
    /// tracing its body, if it has one.
    fn answer(&mut self, head: ResponseHead, requests: &mut VecDeque<RequestInfo>) -> Answer {
        let request = requests.pop_front();
        if head.status == 101 {
            return Answer::Switch;
        }
        let events = self.is_event_stream();
        self.body = match head.framing {
            ResponseFraming::None | ResponseFraming::Length(0) => None,
            ResponseFraming::Length(n) => Some(BodyTrace::new(Shape::Length(n), false)),
            ResponseFraming::Chunked => Some(BodyTrace::new(Shape::Chunked, events)),
            ResponseFraming::UntilClose => Some(BodyTrace::new(Shape::UntilClose, events)),
        };
        Answer::Final {
            upgrade_refused: request.is_some_and(|request| request.upgrade),
        }
    }

    /// Whether the last `Content-Type` of the head is `text/event-stream`.
    fn is_event_stream(&self) -> bool {
        let content_type = self
            .reader
            .fields()
            .filter(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .last();
        content_type.is_some_and(|(_, value)| {
            let media = value.split(|&b| b == b';').next().unwrap_or_default();
            media
                .trim_ascii()
                .eq_ignore_ascii_case(b"text/event-stream")
        })
    }

    /// The line that ends the trace of this stream.
    fn refusal(&self, error: ResponseError) -> String {
        match error {
            ResponseError::MalformedHead { error, at } => {
                malformed(error, at, self.reader.unfinished_head())
            }
            ResponseError::TooManyFields => too_many_fields(),
            ResponseError::HeadTooLarge => HEAD_TOO_LONG.to_owned(),
            ResponseError::InvalidContentLength => {
                "invalid Content-Length, the body cannot be framed".to_owned()
            }
            ResponseError::Chunked(error) => format!("malformed chunked body: {error}"),
        }
    }

    /// The connection closed: report whatever was unfinished.
    pub(super) fn finish(&mut self, sink: &mut Sink<'_>) {
        let unfinished = self.reader.unfinished_head().len();
        if unfinished > 0 {
            sink.line(
                Direction::Out,
                &format!("unfinished head: {unfinished} bytes"),
            );
        } else if let Some(body) = &self.body {
            body.finish(Direction::Out, sink);
        }
    }
}

/// A head that does not end within [`MAX_HEAD_BYTES`].
const HEAD_TOO_LONG: &str = "(head too long, not traced)";

fn too_many_fields() -> String {
    format!("(more than {MAX_HEADERS} header fields, not traced)")
}

/// Parses a request head far enough to say whether it is complete.
fn parse_request_head(buf: &[u8]) -> httparse::Result<usize> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    httparse::Request::new(&mut fields).parse(buf)
}

/// Names the first byte that made a head unparseable: byte `at` of `head`,
/// shown with what led to it, its secrets redacted.
fn malformed(error: httparse::Error, at: usize, head: &[u8]) -> String {
    let prefix = redact_head(head.get(..at).unwrap_or(head));
    let context_start = prefix.len().saturating_sub(40);
    let context = prefix.get(context_start..).unwrap_or_default();
    let dots = if context_start > 0 { "..." } else { "" };
    format!(
        "not parseable as HTTP ({}) at byte {at}: {dots}\"{}\"",
        httparse_reason(error),
        escape(context, usize::MAX).0
    )
}

fn httparse_reason(error: httparse::Error) -> &'static str {
    match error {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status code",
        httparse::Error::Token => "invalid method or target",
        httparse::Error::TooManyHeaders => "too many header fields",
        httparse::Error::Version => "invalid HTTP version",
    }
}

/// One indented line per header field, in wire order, secrets redacted.
fn trace_fields<'a>(
    fields: impl Iterator<Item = (&'a str, &'a [u8])>,
    dir: Direction,
    sink: &mut Sink<'_>,
) {
    for (name, value) in fields {
        let value = redact_field(name.as_bytes(), value);
        let text = format!("  {name}: {}", escape(&value, usize::MAX).0);
        sink.line(dir, &text);
    }
}

/// A request body: framed by the server's rules, traced as it goes.
pub(super) struct RequestBody {
    framing: RequestFraming,
    trace: BodyTrace,
}

enum RequestFraming {
    /// `Content-Length`: this many bytes still to come.
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// What one step through a request body achieved.
pub(super) enum BodyStep {
    /// The body needs more bytes; this many were used.
    More(usize),
    /// The body ended after this many bytes of the input.
    Done(usize),
    /// The framing is broken; the stream stops with this text.
    Failed(String),
}

impl RequestBody {
    /// The body a request head announced, if it has one.
    fn new(framing: BodyFraming) -> Option<RequestBody> {
        let (framing, shape) = match framing {
            BodyFraming::None | BodyFraming::Length(0) => return None,
            BodyFraming::Length(n) => (RequestFraming::Length(n), Shape::Length(n)),
            BodyFraming::Chunked => (
                RequestFraming::Chunked(ChunkedDecoder::new(usize::MAX, MAX_TRAILER_BYTES)),
                Shape::Chunked,
            ),
        };
        Some(RequestBody {
            framing,
            trace: BodyTrace::new(shape, false),
        })
    }

    #[cfg(test)]
    pub(super) fn held_bytes(&self) -> usize {
        self.trace.held_bytes()
    }

    pub(super) fn read(&mut self, input: &[u8], dir: Direction, sink: &mut Sink<'_>) -> BodyStep {
        let trace = &mut self.trace;
        match &mut self.framing {
            RequestFraming::Length(remaining) => {
                let take = usize::try_from(*remaining).map_or(input.len(), |r| r.min(input.len()));
                trace.data(input.get(..take).unwrap_or_default(), dir, sink);
                *remaining = remaining.saturating_sub(take as u64);
                if *remaining > 0 {
                    return BodyStep::More(take);
                }
                sink.line(dir, &trace.end_line());
                BodyStep::Done(take)
            }
            RequestFraming::Chunked(decoder) => {
                let mut used = 0;
                let mut data = Vec::new();
                while let Some(piece) = input.get(used..).filter(|rest| !rest.is_empty()) {
                    let piece = piece.get(..DECODE_SLICE).unwrap_or(piece);
                    data.clear();
                    let progress = match decoder.decode(piece, &mut data) {
                        Ok(progress) => progress,
                        Err(error) => {
                            return BodyStep::Failed(format!("malformed chunked body: {error}"));
                        }
                    };
                    used += progress.consumed;
                    trace.data(&data, dir, sink);
                    if progress.done {
                        sink.line(dir, &trace.end_line());
                        return BodyStep::Done(used);
                    }
                    if progress.consumed == 0 {
                        break;
                    }
                }
                BodyStep::More(used)
            }
        }
    }

    /// The connection closed before the end of the body.
    pub(super) fn finish(&self, dir: Direction, sink: &mut Sink<'_>) {
        self.trace.finish(dir, sink);
    }
}

/// How a traced body is delimited.
enum Shape {
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Read until the connection closes (RFC 9112 section 6.3 rule 8).
    UntilClose,
}

/// What the trace shows of a body, in either direction: its size, the
/// first bytes, and for an event stream its events.
struct BodyTrace {
    shape: Shape,
    /// Bytes of (decoded) body so far.
    total: u64,
    preview: Preview,
    events: Events,
}

impl BodyTrace {
    fn new(shape: Shape, event_stream: bool) -> BodyTrace {
        BodyTrace {
            shape,
            total: 0,
            preview: Preview::default(),
            events: Events::new(event_stream),
        }
    }

    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.preview.bytes.capacity()
    }

    /// Some (decoded) bytes of the body.
    fn data(&mut self, data: &[u8], dir: Direction, sink: &mut Sink<'_>) {
        self.total = self.total.saturating_add(data.len() as u64);
        if !self.events.feed(data, dir, sink) {
            self.preview.push(data);
        }
    }

    /// The line for a body that ended where its framing said.
    fn end_line(&self) -> String {
        let total = self.total;
        match (&self.shape, &self.events) {
            (Shape::Chunked, Events::None) => {
                format!("chunked body: {total} bytes{}", self.preview.render(total))
            }
            (Shape::Chunked, _) => String::from("end of chunked body"),
            (Shape::Length(_) | Shape::UntilClose, _) => {
                format!("body: {total} bytes{}", self.preview.render(total))
            }
        }
    }

    /// The connection closed before the body ended, or (until close) ended
    /// it.
    fn finish(&self, dir: Direction, sink: &mut Sink<'_>) {
        let total = self.total;
        let text = match (&self.shape, &self.events) {
            (Shape::Length(declared), _) => format!(
                "body cut short: {total} of {declared} bytes{}",
                self.preview.render(total)
            ),
            (Shape::Chunked, Events::None) => format!(
                "chunked body cut short after {total} bytes{}",
                self.preview.render(total)
            ),
            (Shape::Chunked, _) => {
                format!("event stream cut short after {total} bytes (no last chunk)")
            }
            (Shape::UntilClose, Events::None) if total == 0 => return,
            (Shape::UntilClose, Events::None) => format!(
                "body: {total} bytes, ended by the connection close{}",
                self.preview.render(total)
            ),
            (Shape::UntilClose, _) => {
                format!("end of event stream after {total} bytes (connection closed)")
            }
        };
        sink.line(dir, &text);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{Direction, Tracer, MAX_HEAD_BYTES};

    #[test]
    fn poll_exchange_shows_both_heads_and_a_json_preview() {
        assert_trace(
            &poll_exchange(),
            &[
                "<- GET /poll/news?since=17 HTTP/1.1",
                "<-   Host: 127.0.0.1:8080",
                "-> HTTP/1.1 200 OK",
                "->   Content-Type: application/json",
                "->   Content-Length: 73",
                r#"-> body: 73 bytes "{"last_id":19,"messages":[{"id":18,"data":"hello"},{"id":19,"..."#,
            ],
        );
    }

    #[test]
    fn pipelined_requests_are_traced_one_after_another() {
        assert_trace(
            &pipelined(),
            &[
                "<- GET /poll/a HTTP/1.1",
                "<-   Host: h",
                "<- POST /pub/a HTTP/1.1",
                "<-   Host: h",
                "<-   Content-Length: 7",
                r#"<- body: 7 bytes "line\r\n1""#,
                "<- HEAD /poll/a HTTP/1.1",
                "<-   Host: h",
                "-> HTTP/1.1 200 OK",
                "->   Content-Type: application/json",
                "->   Content-Length: 27",
                r#"-> body: 27 bytes "{"last_id":0,"messages":[]}""#,
                "-> HTTP/1.1 202 Accepted",
                "->   Content-Type: application/json",
                "->   Content-Length: 8",
                r#"-> body: 8 bytes "{"id":1}""#,
                "-> HTTP/1.1 200 OK",
                "->   Content-Length: 40",
                "-> HTTP/1.1 404 Not Found",
                "->   Content-Type: text/plain",
                "->   Content-Length: 16",
                r#"-> body: 16 bytes "no such channel\n""#,
            ],
        );
    }

    #[test]
    fn chunked_publish_is_decoded_and_100_continue_precedes_the_answer() {
        assert_trace(
            &chunked_publish(),
            &[
                "<- POST /pub/news HTTP/1.1",
                "<-   Host: h",
                "<-   Expect: 100-continue",
                "<-   Transfer-Encoding: chunked",
                r#"<- chunked body: 11 bytes "hello world""#,
                "-> HTTP/1.1 100 Continue",
                "-> HTTP/1.1 202 Accepted",
                "->   Content-Type: application/json",
                "->   Content-Length: 8",
                r#"-> body: 8 bytes "{"id":1}""#,
            ],
        );
    }

    #[test]
    fn a_tls_handshake_is_not_parseable_as_http_and_traced_once() {
        let script = vec![(
            Direction::In,
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
        )];
        assert_trace(
            &script,
            &[r#"<- not parseable as HTTP (invalid method or target) at byte 1: "\u{16}""#],
        );
    }

    #[test]
    fn a_malformed_header_names_the_byte_at_fault() {
        let script = vec![(
            Direction::In,
            b"GET / HTTP/1.1\r\nHo st: h\r\n\r\nGET / HTTP/1.1\r\n\r\n".to_vec(),
        )];
        assert_trace(
            &script,
            &[
                r#"<- not parseable as HTTP (invalid header name) at byte 19: "GET / HTTP/1.1\r\nHo ""#,
            ],
        );
    }

    #[test]
    fn a_smuggling_shaped_request_is_traced_with_the_servers_refusal() {
        let script = vec![(
            Direction::In,
            b"POST /pub/a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\
              Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n"
                .to_vec(),
        )];
        assert_trace(
            &script,
            &[
                "<- POST /pub/a HTTP/1.1",
                "<-   Host: h",
                "<-   Content-Length: 3",
                "<-   Transfer-Encoding: chunked",
                "<- refused: Content-Length and Transfer-Encoding together \
                 (the server answers 400 and closes)",
            ],
        );
    }

    #[test]
    fn cut_short_bodies_and_frames_are_reported_at_close() {
        let script = vec![
            (
                Direction::In,
                b"POST /pub/a HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc".to_vec(),
            ),
            (Direction::Out, b"HTTP/1.1 200 O".to_vec()),
        ];
        let lines = whole(&script);
        let tail: Vec<&str> = lines.iter().rev().take(3).map(String::as_str).collect();
        assert_eq!(
            tail,
            [
                "[#3] connection closed",
                "[#3] -> unfinished head: 14 bytes",
                r#"[#3] <- body cut short: 3 of 10 bytes "abc""#,
            ]
        );
    }

    #[test]
    fn a_head_that_never_ends_is_dropped_once_and_memory_stays_bounded() {
        let mut tracer = Tracer::new();
        tracer.opened(1);
        tracer.observe(1, Direction::In, b"GET /");
        for _ in 0..1000 {
            tracer.observe(1, Direction::In, &[b'a'; 1000]);
            assert!(tracer.held_bytes(1) <= 2 * MAX_HEAD_BYTES);
        }
        let mut lines = Vec::new();
        tracer.take_lines(&mut lines);
        assert_eq!(
            lines,
            [
                "[#1] connection opened",
                "[#1] <- (head too long, not traced)"
            ]
        );
        assert_eq!(tracer.held_bytes(1), 0);
    }

    #[test]
    fn tokens_are_redacted_wherever_they_travel() {
        assert_trace(
            &secrets(),
            &[
                "<- GET /sse/room.1?since=4&token=[redacted] HTTP/1.1",
                "<-   Host: h",
                "<-   Authorization: Bearer [redacted]",
                "<-   Cookie: a=[redacted]; pushwire_token=[redacted]",
                "<-   Referer: http://h/?token=[redacted]",
                "<- GET /ws/room.1 HTTP/1.1",
                "<-   Host: h",
                "<-   Upgrade: websocket",
                "<-   Connection: Upgrade",
                "<-   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "<-   Sec-WebSocket-Version: 13",
                "<-   Sec-WebSocket-Protocol: pushwire.json, pushwire.bearer.[redacted]",
                "-> HTTP/1.1 401 Unauthorized",
                "->   Content-Type: text/plain",
                "->   Content-Length: 14",
                r#"-> body: 14 bytes "invalid token\n""#,
                "-> HTTP/1.1 101 Switching Protocols",
                "->   Upgrade: websocket",
                "->   Connection: Upgrade",
                "->   Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                "->   Sec-WebSocket-Protocol: pushwire.json",
            ],
        );
    }

    #[test]
    fn the_bytes_before_a_malformed_byte_are_shown_without_their_secrets() {
        let table: [(&[u8], &str); 3] = [
            // A field after the secrets is malformed.
            (
                b"GET /a?token=Zq1 HTTP/1.1\r\nAuthorization: Basic Zq2\r\nBad Line\r\n\r\n",
                r#"<- not parseable as HTTP (invalid header name) at byte 57: ..."1\r\nAuthorization: Basic [redacted]\r\nBad ""#,
            ),
            // The secret itself is cut by the malformed byte.
            (
                b"GET /a?token=Zq1\x01Zq2 HTTP/1.1\r\n\r\n",
                r#"<- not parseable as HTTP (invalid method or target) at byte 17: "GET /a?token=[redacted]""#,
            ),
            (
                b"GET / HTTP/1.1\r\nCookie: a=Zq1\x01Zq2\r\n\r\n",
                r#"<- not parseable as HTTP (invalid header value) at byte 30: "GET / HTTP/1.1\r\nCookie: a=[redacted]""#,
            ),
        ];
        for (head, line) in table {
            assert_trace(&vec![(Direction::In, head.to_vec())], &[line]);
        }
    }

    #[test]
    fn content_length_values_must_agree_for_a_body_to_be_framed() {
        let script = vec![
            (
                Direction::In,
                b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
            ),
            (
                Direction::Out,
                b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok\
                  HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"
                    .to_vec(),
            ),
        ];
        assert_trace(
            &script,
            &[
                "<- GET /a HTTP/1.1",
                "<-   Host: h",
                "<- GET /b HTTP/1.1",
                "<-   Host: h",
                "-> HTTP/1.1 200 OK",
                "->   Content-Length: 2, 2",
                r#"-> body: 2 bytes "ok""#,
                "-> HTTP/1.1 200 OK",
                "->   Content-Length: 2",
                "->   Content-Length: 3",
                "-> invalid Content-Length, the body cannot be framed",
            ],
        );
    }
}
