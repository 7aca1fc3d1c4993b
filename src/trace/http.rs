//! HTTP/1.1 in the trace: request and response heads, field by field, and
//! bodies framed as RFC 9112 section 6.3 says (see the module docs of
//! [`crate::trace`]).

use std::collections::VecDeque;

use httparse::Status;

use super::sse::Events;
use super::ws::FrameReader;
use super::Direction;
use super::{escape, Preview, RequestInfo, Sink, State, Stream, MAX_HEAD_BYTES};
use crate::decimal::parse_decimal;
use crate::http::chunked::ChunkedDecoder;
use crate::http::request::{parse_head, BodyFraming, HeadLimits, Method, MAX_HEADERS};
use crate::ws::Role;

/// The trailer budget given to [`ChunkedDecoder`]: generous, since the
/// tracer reports what it sees rather than enforcing the server's limits.
const MAX_TRAILER_BYTES: usize = 8192;

/// Decoded chunked data is handed on in pieces of at most this many input
/// bytes, so the scratch buffer stays small.
const DECODE_SLICE: usize = 4096;

/// The result of reading a head.
pub(super) enum HeadStep {
    /// More bytes are needed (or the stream stopped); this many were used.
    Partial(usize),
    /// `buf` holds a complete head; this many bytes of the input were used.
    Complete(usize),
}

/// How a response affects the `In` stream.
pub(super) enum Answer {
    /// `1xx` other than `101`: the final response is still to come.
    Interim,
    /// `101 Switching Protocols`.
    Switch,
    /// A final response; `upgrade_refused` when it answers an upgrade
    /// request with anything but `101`.
    Final { upgrade_refused: bool },
}

impl Stream {
    /// Adds bytes to the unfinished head and checks whether it is complete.
    pub(super) fn read_head(&mut self, input: &[u8], sink: &mut Sink<'_>) -> HeadStep {
        let old = self.buf.len();
        let take = MAX_HEAD_BYTES.saturating_sub(old).min(input.len());
        self.buf
            .extend_from_slice(input.get(..take).unwrap_or_default());
        match parse_http_head(self.dir, &self.buf) {
            Ok(Status::Complete(len)) => HeadStep::Complete(len.saturating_sub(old)),
            Ok(Status::Partial) => {
                if self.buf.len() >= MAX_HEAD_BYTES {
                    self.stop(sink, "(head too long, not traced)");
                    // Everything else on this stream is ignored.
                    return HeadStep::Partial(input.len());
                }
                HeadStep::Partial(take)
            }
            Err(httparse::Error::TooManyHeaders) => {
                let text = format!("(more than {MAX_HEADERS} header fields, not traced)");
                self.stop(sink, &text);
                HeadStep::Partial(input.len())
            }
            Err(error) => {
                let text = self.describe_malformed(old, error);
                self.stop(sink, &text);
                HeadStep::Partial(input.len())
            }
        }
    }

    /// Names the first byte that made the head unparseable. httparse reads
    /// left to right, so the shortest failing prefix is the same whichever
    /// way the bytes were split, and a binary search between the last
    /// prefix known to parse and the whole buffer finds it.
    fn describe_malformed(&self, mut good: usize, error: httparse::Error) -> String {
        let mut bad = self.buf.len();
        while bad.saturating_sub(good) > 1 {
            let mid = good + (bad - good) / 2;
            match self
                .buf
                .get(..mid)
                .map(|prefix| parse_http_head(self.dir, prefix))
            {
                Some(Err(_)) => bad = mid,
                _ => good = mid,
            }
        }
        let prefix = self.buf.get(..bad).unwrap_or_default();
        // Show the end of the prefix: the byte at fault and what led to it.
        let context_start = bad.saturating_sub(40);
        let context = prefix.get(context_start..).unwrap_or_default();
        let dots = if context_start > 0 { "..." } else { "" };
        format!(
            "not parseable as HTTP ({}) at byte {bad}: {dots}\"{}\"",
            httparse_reason(error),
            escape(context, usize::MAX).0
        )
    }

    /// Traces a complete request head from `buf` and starts its body.
    /// Returns what the `Out` analyzer needs to know about it.
    pub(super) fn start_request(&mut self, sink: &mut Sink<'_>) -> Option<RequestInfo> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut fields);
        if request.parse(&self.buf).is_err() {
            return None;
        }
        sink.line(
            self.dir,
            &format!(
                "{} {} HTTP/1.{}",
                request.method.unwrap_or(""),
                request.path.unwrap_or(""),
                request.version.unwrap_or(1)
            ),
        );
        trace_fields(request.headers, self.dir, sink);
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
        match framing {
            BodyFraming::None | BodyFraming::Length(0) => self.after_message(),
            BodyFraming::Length(n) => self.state = State::Body(Body::length(n)),
            BodyFraming::Chunked => self.state = State::Body(Body::chunked(false)),
        }
        Some(RequestInfo { head, upgrade })
    }

    /// Traces a complete response head from `buf` and starts its body
    /// (RFC 9112 section 6.3), pairing it with the request it answers.
    pub(super) fn start_response(
        &mut self,
        requests: &mut VecDeque<RequestInfo>,
        sink: &mut Sink<'_>,
    ) -> Answer {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut fields);
        if response.parse(&self.buf).is_err() {
            self.stop(sink, "response head no longer parses");
            return Answer::Final {
                upgrade_refused: false,
            };
        }
        let code = response.code.unwrap_or(0);
        sink.line(
            self.dir,
            &format!(
                "HTTP/1.{} {code} {}",
                response.version.unwrap_or(1),
                response.reason.unwrap_or("")
            ),
        );
        trace_fields(response.headers, self.dir, sink);

        let mut content_length = None;
        let mut transfer_coding: Option<bool> = None;
        let mut event_stream = false;
        for field in response.headers.iter() {
            let value = field.value.trim_ascii();
            if field.name.eq_ignore_ascii_case("content-length") {
                content_length = Some(parse_decimal(value));
            } else if field.name.eq_ignore_ascii_case("transfer-encoding") {
                // RFC 9112 section 6.3 rule 4: chunked only when it is the
                // last coding; otherwise the body runs until close.
                let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
                transfer_coding = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if field.name.eq_ignore_ascii_case("content-type") {
                let media = value.split(|&b| b == b';').next().unwrap_or_default();
                event_stream = media
                    .trim_ascii()
                    .eq_ignore_ascii_case(b"text/event-stream");
            }
        }
        self.buf.clear();

        if code == 101 {
            requests.pop_front();
            self.state = State::WebSocket(FrameReader::new(Role::Client));
            return Answer::Switch;
        }
        if (100..200).contains(&code) {
            return Answer::Interim;
        }
        let info = requests.pop_front();
        let answer = Answer::Final {
            upgrade_refused: info.is_some_and(|info| info.upgrade),
        };
        if info.is_some_and(|info| info.head) || code == 204 || code == 304 {
            return answer;
        }
        self.state = match (transfer_coding, content_length) {
            (Some(true), _) => State::Body(Body::chunked(event_stream)),
            (Some(false), _) | (None, None) => State::Body(Body::until_close(event_stream)),
            (None, Some(Some(0))) => State::Head,
            (None, Some(Some(n))) => State::Body(Body::length(n)),
            (None, Some(None)) => {
                self.stop(sink, "invalid Content-Length, the body cannot be framed");
                return answer;
            }
        };
        answer
    }
}

/// Parses a request head (`In`) or response head (`Out`) far enough to say
/// whether it is complete.
fn parse_http_head(dir: Direction, buf: &[u8]) -> httparse::Result<usize> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match dir {
        Direction::In => httparse::Request::new(&mut fields).parse(buf),
        Direction::Out => httparse::Response::new(&mut fields).parse(buf),
    }
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

/// One indented line per header field, in wire order.
fn trace_fields(fields: &[httparse::Header<'_>], dir: Direction, sink: &mut Sink<'_>) {
    for field in fields {
        let text = format!("  {}: {}", field.name, escape(field.value, usize::MAX).0);
        sink.line(dir, &text);
    }
}

/// How a body is delimited, and what has been seen of it.
pub(super) enum Body {
    /// `Content-Length`: `remaining` of `total` bytes still to come.
    Length {
        total: u64,
        remaining: u64,
        preview: Preview,
    },
    /// `Transfer-Encoding: chunked`, optionally an event stream.
    Chunked {
        decoder: ChunkedDecoder,
        total: u64,
        preview: Preview,
        events: Events,
    },
    /// Read until the connection closes (RFC 9112 section 6.3 rule 8).
    UntilClose {
        total: u64,
        preview: Preview,
        events: Events,
    },
}

/// What one step through a body achieved.
pub(super) enum BodyStep {
    /// The body needs more bytes; this many were used.
    More(usize),
    /// The body ended after this many bytes of the input.
    Done(usize),
    /// The framing is broken; the stream stops with this text.
    Failed(String),
}

impl Body {
    pub(super) fn length(total: u64) -> Body {
        Body::Length {
            total,
            remaining: total,
            preview: Preview::default(),
        }
    }

    pub(super) fn chunked(event_stream: bool) -> Body {
        Body::Chunked {
            decoder: ChunkedDecoder::new(usize::MAX, MAX_TRAILER_BYTES),
            total: 0,
            preview: Preview::default(),
            events: Events::new(event_stream),
        }
    }

    pub(super) fn until_close(event_stream: bool) -> Body {
        Body::UntilClose {
            total: 0,
            preview: Preview::default(),
            events: Events::new(event_stream),
        }
    }

    #[cfg(test)]
    pub(super) fn held_bytes(&self) -> usize {
        match self {
            Body::Length { preview, .. }
            | Body::Chunked { preview, .. }
            | Body::UntilClose { preview, .. } => preview.bytes.capacity(),
        }
    }

    pub(super) fn read(&mut self, input: &[u8], dir: Direction, sink: &mut Sink<'_>) -> BodyStep {
        match self {
            Body::Length {
                total,
                remaining,
                preview,
            } => {
                let take = usize::try_from(*remaining).map_or(input.len(), |r| r.min(input.len()));
                preview.push(input.get(..take).unwrap_or_default());
                *remaining = remaining.saturating_sub(take as u64);
                if *remaining > 0 {
                    return BodyStep::More(take);
                }
                let text = format!("body: {total} bytes{}", preview.render(*total));
                sink.line(dir, &text);
                BodyStep::Done(take)
            }
            Body::Chunked {
                decoder,
                total,
                preview,
                events,
            } => {
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
                    *total = total.saturating_add(data.len() as u64);
                    if !events.feed(&data, dir, sink) {
                        preview.push(&data);
                    }
                    if progress.done {
                        let text = match events {
                            Events::None => {
                                format!("chunked body: {total} bytes{}", preview.render(*total))
                            }
                            _ => String::from("end of chunked body"),
                        };
                        sink.line(dir, &text);
                        return BodyStep::Done(used);
                    }
                    if progress.consumed == 0 {
                        break;
                    }
                }
                BodyStep::More(used)
            }
            Body::UntilClose {
                total,
                preview,
                events,
            } => {
                *total = total.saturating_add(input.len() as u64);
                if !events.feed(input, dir, sink) {
                    preview.push(input);
                }
                BodyStep::More(input.len())
            }
        }
    }

    /// The connection closed before or at the end of the body.
    pub(super) fn finish(&mut self, dir: Direction, sink: &mut Sink<'_>) {
        let text = match self {
            Body::Length {
                total,
                remaining,
                preview,
            } => {
                let got = total.saturating_sub(*remaining);
                format!(
                    "body cut short: {got} of {total} bytes{}",
                    preview.render(got)
                )
            }
            Body::Chunked {
                total,
                preview,
                events: Events::None,
                ..
            } => format!(
                "chunked body cut short after {total} bytes{}",
                preview.render(*total)
            ),
            Body::Chunked { total, .. } => {
                format!("event stream cut short after {total} bytes (no last chunk)")
            }
            Body::UntilClose {
                total,
                preview,
                events: Events::None,
            } => {
                if *total == 0 {
                    return;
                }
                format!(
                    "body: {total} bytes, ended by the connection close{}",
                    preview.render(*total)
                )
            }
            Body::UntilClose { total, .. } => {
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
}
