//! The wire tracer behind `pushwire --trace`: what really crossed the socket.
//!
//! A [`Tracer`] is a protocol analyzer that watches the two byte streams of
//! every connection — `In`, the bytes the server read, and `Out`, the bytes
//! it wrote — and turns them into one line per protocol item. It does not
//! ask the server what it meant to do: it decodes the bytes on its own, so
//! the trace shows what was actually on the wire, including what a client
//! got wrong. It is sans-IO like the codecs it reuses: the reactor hands it
//! bytes and later takes the lines and prints them; the tracer never reads
//! a socket, a clock or writes to stdout.
//!
//! # What a trace looks like
//!
//! A WebSocket session (RFC 6455), then an event stream (WHATWG HTML
//! section 9.2), as `pushwire --trace` prints them:
//!
//! ```text
//! [#3] connection opened
//! [#3] <- GET /ws/demo HTTP/1.1
//! [#3] <-   Host: 127.0.0.1:8080
//! [#3] <-   Upgrade: websocket
//! [#3] <-   Connection: Upgrade
//! [#3] <-   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
//! [#3] <-   Sec-WebSocket-Version: 13
//! [#3] -> HTTP/1.1 101 Switching Protocols
//! [#3] ->   Upgrade: websocket
//! [#3] ->   Connection: Upgrade
//! [#3] ->   Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
//! [#3] <- ws FIN=1 opcode=0x1 text MASK=1 key=37fa213d len=5 "Hello"
//! [#3] -> ws FIN=1 opcode=0x1 text MASK=0 len=5 "Hello"
//! [#3] <- ws FIN=1 opcode=0x8 close MASK=1 key=0a0b0c0d len=2 code=1000
//! [#3] -> ws FIN=1 opcode=0x8 close MASK=0 len=2 code=1000
//! [#3] connection closed
//! [#5] connection opened
//! [#5] <- GET /sse/news HTTP/1.1
//! [#5] <-   Host: 127.0.0.1:8080
//! [#5] -> HTTP/1.1 200 OK
//! [#5] ->   Content-Type: text/event-stream
//! [#5] ->   Cache-Control: no-cache
//! [#5] ->   Transfer-Encoding: chunked
//! [#5] -> sse retry: 2000 ms
//! [#5] -> sse id=7 data: 1 line, 5 bytes "hello"
//! [#5] -> sse comment ": keep-alive"
//! [#5] -> sse id=7 event=gap data: 1 line, 22 bytes "{"since":7,"oldest":9}"
//! [#5] -> end of chunked body
//! [#5] connection closed
//! ```
//!
//! Every line starts with the connection id; `<-` marks what the client
//! sent, `->` what the server sent. Heads are printed field by field
//! (indented), bodies as one summary line with a short preview, frames and
//! events one line each, so `grep ' ws '` or `grep ' sse '` picks out a
//! protocol. A preview is cut at [`PREVIEW_CHARS`] characters (then `...`),
//! with line breaks, tabs, backslashes and other control characters escaped
//! (`\n`, `\t`, `\\`, `\x00`) and bytes that are not UTF-8 shown as `\xNN`.
//!
//! # How each stream is read
//!
//! **Client to server (`<-`).** HTTP/1.1 request heads (RFC 9112 section 3),
//! parsed with `httparse` and then checked by the server's own framing
//! rules ([`crate::http::request::parse_head`]): a head the server refuses
//! (two `Content-Length`s that differ, `Transfer-Encoding` with
//! `Content-Length`, no `Host` ...) is traced with the reason and the
//! status the server answers, and the stream stops being traced, because
//! nothing after an untrustworthy head can be framed (RFC 9112 section
//! 11.2). A body is skipped by its framing (section 6.3): `Content-Length:
//! n` gives `body: n bytes "..."`, `Transfer-Encoding: chunked` is decoded
//! with [`ChunkedDecoder`] into `chunked body: n bytes "..."`. Pipelined
//! requests follow one another. A request with `Upgrade: websocket` holds
//! the bytes after it until the server's answer is seen: after `101
//! Switching Protocols` they are WebSocket frames, after any other status
//! they are the next request.
//!
//! **Server to client (`->`).** Response heads (RFC 9112 section 4); a `1xx`
//! interim answer such as `100 Continue` is followed by the real one. The
//! body framing follows RFC 9112 section 6.3 in its order: no body after
//! `HEAD`, `204` and `304`; `Transfer-Encoding: chunked` is decoded, and if
//! the `Content-Type` is `text/event-stream` the decoded bytes go through
//! the WHATWG event stream parser ([`EventStreamParser`]) and every event,
//! `retry:` and comment gets its own `sse` line until the last chunk
//! (`end of chunked body`); `Content-Length: n` gives `body: n bytes "..."`
//! (the JSON of a poll answer, say); anything else is read until the
//! connection closes (HTTP/1.0 style, e.g. an HTTP/1.0 event stream).
//!
//! **WebSocket (`ws`).** After `101`, each frame header (RFC 6455 section
//! 5.2) is one line: FIN, the opcode in hex and by name, the MASK bit and
//! masking key, the payload length, then the first bytes of the payload,
//! unmasked (section 5.3): text, ping and pong payloads as text, binary as
//! hex, close frames as their status code and reason (section 5.5.1). A
//! continuation frame is previewed like the message it continues. A frame
//! header the peer must reject (an unmasked client frame, a reserved
//! opcode, a control frame over 125 bytes ...) is traced with the reason
//! and ends the tracing of that stream.
//!
//! An event's `id=` is the stream's last event id at dispatch, the value an
//! `EventSource` would send back as `Last-Event-ID`: it persists across
//! events, so an event without an `id:` line of its own shows the one
//! before.
//!
//! # Malformed traffic and memory
//!
//! Bytes that are not the protocol expected are traced once — `<- not
//! parseable as HTTP (invalid method or target) at byte 1: "\x16"` for a
//! TLS handshake on the plain port — and the analyzer of that direction
//! stops. Nothing a peer sends can make the tracer panic or grow without
//! bound: an unfinished head is kept up to [`MAX_HEAD_BYTES`] (then
//! `(head too long, not traced)`), previews up to a few hundred bytes, a
//! Server-Sent Event being assembled up to [`MAX_SSE_EVENT_BYTES`] (then
//! only the chunked framing is followed, to find the end of the body).
//!
//! Feeding the bytes in any split — whole, byte by byte, as the reads
//! happened — gives the same lines, as long as the order of the two
//! directions is kept.
//!
//! # Using it
//!
//! ```
//! use pushwire::trace::{Direction, Tracer};
//!
//! let mut tracer = Tracer::new();
//! tracer.opened(1);
//! tracer.observe(1, Direction::In, b"GET /poll/news HTTP/1.1\r\nHost: a\r\n\r\n");
//! tracer.observe(1, Direction::Out, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
//! tracer.observe(1, Direction::Out, b"{}");
//! tracer.closed(1);
//! let mut lines = Vec::new();
//! tracer.take_lines(&mut lines);
//! assert_eq!(lines, [
//!     "[#1] connection opened",
//!     "[#1] <- GET /poll/news HTTP/1.1",
//!     "[#1] <-   Host: a",
//!     "[#1] -> HTTP/1.1 200 OK",
//!     "[#1] ->   Content-Length: 2",
//!     "[#1] -> body: 2 bytes \"{}\"",
//!     "[#1] connection closed",
//! ]);
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

use httparse::Status;

use crate::decimal::parse_decimal;
use crate::http::chunked::ChunkedDecoder;
use crate::http::request::{parse_head, BodyFraming, HeadLimits, Method, MAX_HEADERS};
use crate::sse::{EventStreamParser, SseItem};
use crate::ws::{apply_mask, close, FrameHeader, HeaderDecoder, Opcode, Role};

/// The longest unfinished head the tracer keeps per direction; a head that
/// is not complete within this many bytes is traced as
/// `(head too long, not traced)`. The server's own default limit
/// (`max_header_bytes`) is the same.
pub const MAX_HEAD_BYTES: usize = 8192;

/// The longest Server-Sent Event (its data, type and pending line) the
/// tracer assembles; past it the rest of the stream is followed only as
/// chunked framing.
pub const MAX_SSE_EVENT_BYTES: usize = 64 * 1024;

/// How many characters of a payload a preview shows before `...`.
pub const PREVIEW_CHARS: usize = 60;

/// Raw bytes kept for a preview: enough for [`PREVIEW_CHARS`] characters of
/// up to 4 bytes each.
const PREVIEW_BYTES: usize = 4 * PREVIEW_CHARS + 16;

/// Bytes of binary payload shown in hex.
const HEX_PREVIEW_BYTES: usize = 16;

/// The trailer budget given to [`ChunkedDecoder`]: generous, since the
/// tracer reports what it sees rather than enforcing the server's limits.
const MAX_TRAILER_BYTES: usize = 8192;

/// Requests remembered until their response is seen (to know which
/// response answers a `HEAD` or an upgrade).
const MAX_PENDING_REQUESTS: usize = 64;

/// Decoded chunked data is handed on in pieces of at most this many input
/// bytes, so the scratch buffer stays small.
const DECODE_SLICE: usize = 4096;

/// Which of a connection's two byte streams some bytes belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Bytes the server read from the client; traced with `<-`.
    In,
    /// Bytes the server wrote to the client; traced with `->`.
    Out,
}

impl Direction {
    fn arrow(self) -> &'static str {
        match self {
            Direction::In => "<-",
            Direction::Out => "->",
        }
    }
}

/// Per-connection protocol analyzers plus the lines they produced and the
/// reactor has not taken yet.
///
/// ```
/// use pushwire::trace::{Direction, Tracer};
///
/// let mut tracer = Tracer::new();
/// // A WebSocket text frame "hi" from the server, after the handshake.
/// tracer.observe(7, Direction::Out, b"HTTP/1.1 101 Switching Protocols\r\n\r\n");
/// tracer.observe(7, Direction::Out, &[0x81, 0x02, b'h', b'i']);
/// let mut lines = Vec::new();
/// tracer.take_lines(&mut lines);
/// assert_eq!(lines.last().map(String::as_str),
///            Some("[#7] -> ws FIN=1 opcode=0x1 text MASK=0 len=2 \"hi\""));
/// ```
#[derive(Default)]
pub struct Tracer {
    connections: HashMap<usize, Connection>,
    lines: Vec<String>,
}

impl Tracer {
    /// A tracer with no connections and no pending lines.
    pub fn new() -> Tracer {
        Tracer::default()
    }

    /// A connection was accepted: `[#3] connection opened`. Any state left
    /// under the same id is forgotten.
    pub fn opened(&mut self, conn: usize) {
        self.connections.insert(conn, Connection::new());
        self.lines.push(format!("[#{conn}] connection opened"));
    }

    /// Some bytes of one direction of `conn`, in stream order; any split of
    /// a stream gives the same lines. A connection not announced with
    /// [`Tracer::opened`] is started silently.
    pub fn observe(&mut self, conn: usize, dir: Direction, bytes: &[u8]) {
        let connection = self.connections.entry(conn).or_insert_with(Connection::new);
        let mut sink = Sink {
            conn,
            lines: &mut self.lines,
        };
        connection.feed(dir, bytes, &mut sink);
    }

    /// The connection is gone: whatever was waiting for more bytes (a body
    /// read until close, a cut-short frame) is reported, then
    /// `[#3] connection closed`, and the connection's state is dropped.
    pub fn closed(&mut self, conn: usize) {
        if let Some(mut connection) = self.connections.remove(&conn) {
            let mut sink = Sink {
                conn,
                lines: &mut self.lines,
            };
            connection.inbound.finish(&mut sink);
            connection.outbound.finish(&mut sink);
        }
        self.lines.push(format!("[#{conn}] connection closed"));
    }

    /// Moves the pending lines, oldest first, to the end of `out`.
    pub fn take_lines(&mut self, out: &mut Vec<String>) {
        out.append(&mut self.lines);
    }

    /// Bytes the analyzers of `conn` hold in their own buffers (heads,
    /// previews, held bytes), not counting the event stream parser, which
    /// bounds itself at [`MAX_SSE_EVENT_BYTES`].
    #[cfg(test)]
    fn held_bytes(&self, conn: usize) -> usize {
        self.connections
            .get(&conn)
            .map_or(0, |c| c.inbound.held_bytes() + c.outbound.held_bytes())
    }
}

/// Where lines go: the tracer's pending list, with the connection prefix.
struct Sink<'a> {
    conn: usize,
    lines: &'a mut Vec<String>,
}

impl Sink<'_> {
    fn line(&mut self, dir: Direction, text: &str) {
        self.lines
            .push(format!("[#{}] {} {}", self.conn, dir.arrow(), text));
    }
}

/// What the `Out` analyzer needs to know about a request it answers.
#[derive(Clone, Copy, Debug)]
struct RequestInfo {
    /// `HEAD`: the response has no body (RFC 9112 section 6.3 rule 1).
    head: bool,
    /// `Upgrade: websocket`: a `101` answer switches both streams.
    upgrade: bool,
}

/// The two analyzers of one connection and what links them.
struct Connection {
    /// Requests seen on `In` whose final response has not been seen yet.
    requests: VecDeque<RequestInfo>,
    inbound: Stream,
    outbound: Stream,
}

impl Connection {
    fn new() -> Connection {
        Connection {
            requests: VecDeque::new(),
            inbound: Stream::new(Direction::In),
            outbound: Stream::new(Direction::Out),
        }
    }

    fn feed(&mut self, dir: Direction, bytes: &[u8], sink: &mut Sink<'_>) {
        let mut input = bytes;
        // Every step consumes bytes or changes state; the guard only keeps
        // a bug from turning into an endless loop.
        let mut idle_steps = 0;
        while !input.is_empty() && idle_steps < 4 {
            let used = match dir {
                Direction::In => self.step_in(input, sink),
                Direction::Out => self.step_out(input, sink),
            };
            idle_steps = if used == 0 { idle_steps + 1 } else { 0 };
            input = input.get(used..).unwrap_or_default();
        }
    }

    fn step_in(&mut self, input: &[u8], sink: &mut Sink<'_>) -> usize {
        let stream = &mut self.inbound;
        match &mut stream.state {
            State::Head => match stream.read_head(input, sink) {
                HeadStep::Partial(used) => used,
                HeadStep::Complete(used) => {
                    let info = stream.start_request(sink);
                    if let Some(info) = info {
                        if self.requests.len() < MAX_PENDING_REQUESTS {
                            self.requests.push_back(info);
                        }
                    }
                    used
                }
            },
            State::AwaitingUpgrade => {
                let room = MAX_HEAD_BYTES.saturating_sub(stream.buf.len());
                if input.len() > room {
                    stream.stop(
                        sink,
                        &format!(
                            "more than {MAX_HEAD_BYTES} bytes sent before the upgrade was \
                             answered, not traced"
                        ),
                    );
                } else {
                    stream.buf.extend_from_slice(input);
                }
                input.len()
            }
            State::Body(_) | State::WebSocket(_) | State::Stopped => stream.step(input, sink),
        }
    }

    fn step_out(&mut self, input: &[u8], sink: &mut Sink<'_>) -> usize {
        let stream = &mut self.outbound;
        match &stream.state {
            State::Head => match stream.read_head(input, sink) {
                HeadStep::Partial(used) => used,
                HeadStep::Complete(used) => {
                    let answer = stream.start_response(&mut self.requests, sink);
                    match answer {
                        Answer::Interim => {}
                        Answer::Switch => self.switch_inbound(true, sink),
                        Answer::Final { upgrade_refused } => {
                            if upgrade_refused {
                                self.switch_inbound(false, sink);
                            }
                        }
                    }
                    used
                }
            },
            _ => stream.step(input, sink),
        }
    }

    /// The server answered the request the `In` stream is waiting behind:
    /// `101` makes the held bytes WebSocket frames, anything else makes them
    /// the next request.
    fn switch_inbound(&mut self, websocket: bool, sink: &mut Sink<'_>) {
        let stream = &mut self.inbound;
        let held = match stream.state {
            State::AwaitingUpgrade => std::mem::take(&mut stream.buf),
            // A 101 the tracer did not see coming (say the request head was
            // not traceable): the bytes of an unfinished "head" were frames.
            State::Head if websocket => std::mem::take(&mut stream.buf),
            _ => return,
        };
        stream.upgrade_pending = false;
        stream.state = if websocket {
            State::WebSocket(FrameReader::new(Role::Server))
        } else {
            State::Head
        };
        self.feed(Direction::In, &held, sink);
        // Keep the buffer's capacity for the next head.
        let mut held = held;
        held.clear();
        if self.inbound.buf.is_empty() {
            self.inbound.buf = held;
        }
    }
}

/// The result of reading a head.
enum HeadStep {
    /// More bytes are needed (or the stream stopped); this many were used.
    Partial(usize),
    /// `buf` holds a complete head; this many bytes of the input were used.
    Complete(usize),
}

/// How a response affects the `In` stream.
enum Answer {
    /// `1xx` other than `101`: the final response is still to come.
    Interim,
    /// `101 Switching Protocols`.
    Switch,
    /// A final response; `upgrade_refused` when it answers an upgrade
    /// request with anything but `101`.
    Final { upgrade_refused: bool },
}

/// Where one direction's analyzer stands.
enum State {
    /// Reading an HTTP head into `buf`.
    Head,
    /// Skipping (and summarising) a body.
    Body(Body),
    /// `In` only: an upgrade request was sent; later bytes are held in
    /// `buf` until the server's answer says what they are.
    AwaitingUpgrade,
    /// Reading WebSocket frames.
    WebSocket(FrameReader),
    /// Malformed traffic was traced; the rest of the stream is ignored.
    Stopped,
}

/// One direction of a connection.
struct Stream {
    dir: Direction,
    state: State,
    /// The unfinished head, or the bytes held behind an upgrade request.
    buf: Vec<u8>,
    /// `In` only: the request being read asked for an upgrade.
    upgrade_pending: bool,
}

impl Stream {
    fn new(dir: Direction) -> Stream {
        Stream {
            dir,
            state: State::Head,
            buf: Vec::new(),
            upgrade_pending: false,
        }
    }

    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        let state = match &self.state {
            State::Body(body) => body.held_bytes(),
            State::WebSocket(reader) => reader.held_bytes(),
            State::Head | State::AwaitingUpgrade | State::Stopped => 0,
        };
        self.buf.capacity() + state
    }

    /// Traces `text` once and ignores the rest of this stream.
    fn stop(&mut self, sink: &mut Sink<'_>, text: &str) {
        sink.line(self.dir, text);
        self.state = State::Stopped;
        self.buf = Vec::new();
    }

    /// The states that do not depend on the other direction.
    fn step(&mut self, input: &[u8], sink: &mut Sink<'_>) -> usize {
        match &mut self.state {
            State::Body(body) => match body.read(input, self.dir, sink) {
                BodyStep::More(used) => used,
                BodyStep::Done(used) => {
                    self.after_message();
                    used
                }
                BodyStep::Failed(text) => {
                    self.stop(sink, &text);
                    input.len()
                }
            },
            State::WebSocket(reader) => match reader.read(input, self.dir, sink) {
                Ok(used) => used,
                Err(error) => {
                    let text = format!(
                        "ws invalid frame: {error} (the reader fails the connection with {})",
                        error.close_code()
                    );
                    self.stop(sink, &text);
                    input.len()
                }
            },
            State::Head | State::AwaitingUpgrade | State::Stopped => input.len(),
        }
    }

    /// A request or response is complete: the next head, or (after an
    /// upgrade request) wait for the server's answer.
    fn after_message(&mut self) {
        self.state = if self.upgrade_pending {
            State::AwaitingUpgrade
        } else {
            State::Head
        };
    }

    /// Adds bytes to the unfinished head and checks whether it is complete.
    fn read_head(&mut self, input: &[u8], sink: &mut Sink<'_>) -> HeadStep {
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
    fn start_request(&mut self, sink: &mut Sink<'_>) -> Option<RequestInfo> {
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
    fn start_response(
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

    /// The connection closed: report whatever was unfinished.
    fn finish(&mut self, sink: &mut Sink<'_>) {
        let dir = self.dir;
        match &mut self.state {
            State::Head if !self.buf.is_empty() => {
                let text = format!("unfinished head: {} bytes", self.buf.len());
                sink.line(dir, &text);
            }
            State::AwaitingUpgrade if !self.buf.is_empty() => {
                let text = format!(
                    "{} bytes sent before the upgrade was answered, not traced",
                    self.buf.len()
                );
                sink.line(dir, &text);
            }
            State::Body(body) => body.finish(dir, sink),
            State::WebSocket(reader) => reader.finish(dir, sink),
            State::Head | State::AwaitingUpgrade | State::Stopped => {}
        }
        self.state = State::Stopped;
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

/// The first bytes of a payload, kept for its preview.
#[derive(Default)]
struct Preview {
    bytes: Vec<u8>,
}

impl Preview {
    fn push(&mut self, input: &[u8]) {
        let room = PREVIEW_BYTES.saturating_sub(self.bytes.len());
        let take = room.min(input.len());
        self.bytes
            .extend_from_slice(input.get(..take).unwrap_or_default());
    }

    /// ` "text"`, or ` "text"...` when the payload (`total` bytes) is longer
    /// than what is shown; empty for an empty payload.
    fn render(&self, total: u64) -> String {
        render_preview(&self.bytes, total)
    }
}

fn render_preview(bytes: &[u8], total: u64) -> String {
    if total == 0 {
        return String::new();
    }
    let (text, cut) = escape(bytes, PREVIEW_CHARS);
    let shown_all = !cut && u64::try_from(bytes.len()).is_ok_and(|len| len >= total);
    format!(" \"{text}\"{}", if shown_all { "" } else { "..." })
}

/// Escapes `bytes` for one line of trace: control characters, backslash and
/// bytes that are not UTF-8 become escapes. Stops after `max_chars`
/// characters; the flag says whether anything was left out.
fn escape(bytes: &[u8], max_chars: usize) -> (String, bool) {
    let mut out = String::new();
    let mut count = 0usize;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if count >= max_chars {
                return (out, true);
            }
            count += 1;
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            if count >= max_chars {
                return (out, true);
            }
            count += 1;
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    (out, false)
}

/// How a body is delimited, and what has been seen of it.
enum Body {
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

/// The event stream parser of a `text/event-stream` body, if any.
enum Events {
    /// Not an event stream.
    None,
    /// Events are being parsed.
    Parsing(Box<EventStreamParser>),
    /// An event outgrew [`MAX_SSE_EVENT_BYTES`]; only the framing is followed.
    GaveUp,
}

/// What one step through a body achieved.
enum BodyStep {
    /// The body needs more bytes; this many were used.
    More(usize),
    /// The body ended after this many bytes of the input.
    Done(usize),
    /// The framing is broken; the stream stops with this text.
    Failed(String),
}

impl Body {
    fn length(total: u64) -> Body {
        Body::Length {
            total,
            remaining: total,
            preview: Preview::default(),
        }
    }

    fn chunked(event_stream: bool) -> Body {
        Body::Chunked {
            decoder: ChunkedDecoder::new(usize::MAX, MAX_TRAILER_BYTES),
            total: 0,
            preview: Preview::default(),
            events: Events::new(event_stream),
        }
    }

    fn until_close(event_stream: bool) -> Body {
        Body::UntilClose {
            total: 0,
            preview: Preview::default(),
            events: Events::new(event_stream),
        }
    }

    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        match self {
            Body::Length { preview, .. }
            | Body::Chunked { preview, .. }
            | Body::UntilClose { preview, .. } => preview.bytes.capacity(),
        }
    }

    fn read(&mut self, input: &[u8], dir: Direction, sink: &mut Sink<'_>) -> BodyStep {
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
    fn finish(&mut self, dir: Direction, sink: &mut Sink<'_>) {
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

impl Events {
    fn new(event_stream: bool) -> Events {
        if event_stream {
            Events::Parsing(Box::new(EventStreamParser::new(MAX_SSE_EVENT_BYTES)))
        } else {
            Events::None
        }
    }

    /// Feeds decoded body bytes to the event parser and traces what they
    /// complete. Returns false when the body is not an event stream.
    fn feed(&mut self, data: &[u8], dir: Direction, sink: &mut Sink<'_>) -> bool {
        let parser = match self {
            Events::None => return false,
            Events::GaveUp => return true,
            Events::Parsing(parser) => parser,
        };
        let mut items = Vec::new();
        let result = parser.feed(data, &mut items);
        for item in &items {
            sink.line(dir, &describe_sse(item));
        }
        if result.is_err() {
            sink.line(
                dir,
                &format!(
                    "sse event larger than {MAX_SSE_EVENT_BYTES} bytes, the rest of the \
                     stream is not traced as events"
                ),
            );
            *self = Events::GaveUp;
        }
        true
    }
}

/// One `sse` line for one item of an event stream.
fn describe_sse(item: &SseItem) -> String {
    match item {
        SseItem::Event(event) => {
            let mut text = String::from("sse");
            if !event.last_event_id.is_empty() {
                let _ = write!(text, " id={}", escape(event.last_event_id.as_bytes(), 40).0);
            }
            if event.event_type != "message" {
                let _ = write!(text, " event={}", escape(event.event_type.as_bytes(), 40).0);
            }
            let lines = event.data.split('\n').count();
            let _ = write!(
                text,
                " data: {lines} line{}, {} bytes{}",
                if lines == 1 { "" } else { "s" },
                event.data.len(),
                render_preview(event.data.as_bytes(), event.data.len() as u64)
            );
            text
        }
        SseItem::Retry(millis) => format!("sse retry: {millis} ms"),
        SseItem::Comment(comment) => {
            let (shown, cut) = escape(comment.as_bytes(), PREVIEW_CHARS);
            format!("sse comment \": {shown}\"{}", if cut { "..." } else { "" })
        }
    }
}

/// Reads WebSocket frames and traces one line per frame header.
struct FrameReader {
    /// The role of the endpoint reading these frames: `Server` for the
    /// client's (masked) frames, `Client` for the server's.
    role: Role,
    header: HeaderDecoder,
    frame: Option<Frame>,
    /// The opcode of the fragmented message in progress (RFC 6455 section
    /// 5.4), so a continuation frame is previewed as text or binary.
    message: Option<Opcode>,
}

/// The frame whose payload is being read.
struct Frame {
    header: FrameHeader,
    /// Text, binary, or a control opcode: what the payload is.
    kind: Opcode,
    received: u64,
    /// The first payload bytes, unmasked.
    preview: Vec<u8>,
    reported: bool,
}

impl FrameReader {
    fn new(role: Role) -> FrameReader {
        FrameReader {
            role,
            header: HeaderDecoder::new(),
            frame: None,
            message: None,
        }
    }

    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.frame.as_ref().map_or(0, |f| f.preview.capacity())
    }

    fn read(
        &mut self,
        input: &[u8],
        dir: Direction,
        sink: &mut Sink<'_>,
    ) -> Result<usize, crate::ws::WsError> {
        let Some(frame) = &mut self.frame else {
            let (used, header) = self.header.decode(input, self.role)?;
            if let Some(header) = header {
                self.start_frame(header, dir, sink);
            }
            return Ok(used);
        };
        let remaining = frame.header.payload_len.saturating_sub(frame.received);
        let take = usize::try_from(remaining).map_or(input.len(), |r| r.min(input.len()));
        let wanted = frame.wanted();
        let start = usize::try_from(frame.received).unwrap_or(usize::MAX);
        if start < wanted {
            let keep = (wanted - start).min(take);
            let mut piece = input.get(..keep).unwrap_or_default().to_vec();
            if let Some(key) = frame.header.mask {
                // RFC 6455 5.3: byte i of the payload is XORed with key[i % 4].
                apply_mask(&mut piece, key, start);
            }
            frame.preview.extend_from_slice(&piece);
        }
        frame.received = frame.received.saturating_add(take as u64);
        if !frame.reported && frame.preview.len() >= wanted {
            frame.reported = true;
            sink.line(dir, &frame.describe(""));
        }
        if frame.received >= frame.header.payload_len {
            self.frame = None;
        }
        Ok(take)
    }

    fn start_frame(&mut self, header: FrameHeader, dir: Direction, sink: &mut Sink<'_>) {
        let kind = match header.opcode {
            Opcode::Continuation => self.message.unwrap_or(Opcode::Continuation),
            opcode => opcode,
        };
        match header.opcode {
            Opcode::Text | Opcode::Binary if !header.fin => self.message = Some(header.opcode),
            Opcode::Continuation if header.fin => self.message = None,
            _ => {}
        }
        let frame = Frame {
            header,
            kind,
            received: 0,
            preview: Vec::new(),
            reported: false,
        };
        if header.payload_len == 0 {
            sink.line(dir, &frame.describe(""));
        } else {
            self.frame = Some(frame);
        }
    }

    fn finish(&mut self, dir: Direction, sink: &mut Sink<'_>) {
        if let Some(frame) = &self.frame {
            let note = format!(
                " (cut short: {} of {} bytes)",
                frame.received, frame.header.payload_len
            );
            if frame.reported {
                sink.line(dir, &format!("ws frame{note}"));
            } else {
                sink.line(dir, &frame.describe(&note));
            }
        } else if self.header.is_partial() {
            sink.line(dir, "ws frame header cut short");
        }
    }
}

impl Frame {
    /// How many payload bytes the line needs before it can be printed.
    fn wanted(&self) -> usize {
        let cap = match self.kind {
            Opcode::Binary | Opcode::Continuation => HEX_PREVIEW_BYTES,
            _ => PREVIEW_BYTES,
        };
        usize::try_from(self.header.payload_len).map_or(cap, |len| len.min(cap))
    }

    /// `ws FIN=1 opcode=0x1 text MASK=1 key=37fa213d len=5 "Hello"`.
    fn describe(&self, note: &str) -> String {
        let header = &self.header;
        let mut text = format!(
            "ws FIN={} opcode={:#x} {} MASK={}",
            u8::from(header.fin),
            header.opcode.as_u8(),
            opcode_name(header.opcode),
            u8::from(header.mask.is_some())
        );
        if let Some(key) = header.mask {
            text.push_str(" key=");
            push_hex(&mut text, &key, "");
        }
        let _ = write!(text, " len={}", header.payload_len);
        let len = header.payload_len;
        match self.kind {
            Opcode::Close => match self.preview.as_slice() {
                [] => text.push_str(" (no status code)"),
                [_] => text.push_str(" (1 byte: too short for a status code)"),
                [hi, lo, reason @ ..] => {
                    let code = u16::from_be_bytes([*hi, *lo]);
                    let _ = write!(text, " code={code}");
                    if !close::is_valid_code(code) {
                        text.push_str(" (not a valid close code)");
                    }
                    if !reason.is_empty() {
                        let shown = render_preview(reason, reason.len() as u64);
                        let _ = write!(text, " reason={}", shown.trim_start());
                    }
                }
            },
            Opcode::Binary | Opcode::Continuation => {
                if len > 0 {
                    text.push_str(" data=");
                    push_hex(&mut text, &self.preview, " ");
                    if (self.preview.len() as u64) < len {
                        text.push_str("...");
                    }
                }
            }
            Opcode::Text | Opcode::Ping | Opcode::Pong => {
                text.push_str(&render_preview(&self.preview, len));
            }
        }
        text.push_str(note);
        text
    }
}

fn opcode_name(opcode: Opcode) -> &'static str {
    match opcode {
        Opcode::Continuation => "continuation",
        Opcode::Text => "text",
        Opcode::Binary => "binary",
        Opcode::Close => "close",
        Opcode::Ping => "ping",
        Opcode::Pong => "pong",
    }
}

fn push_hex(out: &mut String, bytes: &[u8], separator: &str) {
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        let _ = write!(out, "{byte:02x}");
    }
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::response::{write_chunk, LAST_CHUNK};
    use crate::ws::{close::write_close, write_frame};
    use proptest::prelude::*;

    /// One piece of a conversation: which direction, which bytes.
    type Script = Vec<(Direction, Vec<u8>)>;

    const CONN: usize = 3;

    /// Feeds a script, each piece cut where `cut` says, and returns the lines.
    fn run(script: &Script, cut: &mut dyn FnMut(&[u8]) -> Vec<usize>) -> Vec<String> {
        let mut tracer = Tracer::new();
        tracer.opened(CONN);
        for (dir, bytes) in script {
            let mut cuts = cut(bytes);
            cuts.push(0);
            cuts.push(bytes.len());
            cuts.sort_unstable();
            for pair in cuts.windows(2) {
                tracer.observe(CONN, *dir, &bytes[pair[0]..pair[1]]);
            }
        }
        tracer.closed(CONN);
        let mut lines = Vec::new();
        tracer.take_lines(&mut lines);
        lines
    }

    fn whole(script: &Script) -> Vec<String> {
        run(script, &mut |_| Vec::new())
    }

    fn bytewise(script: &Script) -> Vec<String> {
        run(script, &mut |bytes| (1..bytes.len()).collect())
    }

    /// Checks the exact lines (without the `[#3] ` prefix and the opened /
    /// closed lines), whole and byte by byte.
    fn assert_trace(script: &Script, expected: &[&str]) {
        let lines = whole(script);
        let prefix = format!("[#{CONN}] ");
        let inner: Vec<&str> = lines
            .iter()
            .skip(1)
            .take(lines.len().saturating_sub(2))
            .map(|line| line.strip_prefix(&prefix).unwrap_or(line))
            .collect();
        assert_eq!(inner, expected);
        assert_eq!(
            lines.first().map(String::as_str),
            Some("[#3] connection opened")
        );
        assert_eq!(
            lines.last().map(String::as_str),
            Some("[#3] connection closed")
        );
        assert_eq!(bytewise(script), lines, "byte by byte differs from whole");
    }

    fn response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    fn poll_exchange() -> Script {
        vec![
            (
                Direction::In,
                b"GET /poll/news?since=17 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n".to_vec(),
            ),
            (
                Direction::Out,
                response(
                    "200 OK",
                    "application/json",
                    r#"{"last_id":19,"messages":[{"id":18,"data":"hello"},{"id":19,"data":"x"}]}"#,
                ),
            ),
        ]
    }

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

    fn pipelined() -> Script {
        vec![
            (
                Direction::In,
                b"GET /poll/a HTTP/1.1\r\nHost: h\r\n\r\n\
                  POST /pub/a HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\nline\r\n1\
                  HEAD /poll/a HTTP/1.1\r\nHost: h\r\n\r\n"
                    .to_vec(),
            ),
            (
                Direction::Out,
                [
                    response(
                        "200 OK",
                        "application/json",
                        r#"{"last_id":0,"messages":[]}"#,
                    ),
                    response("202 Accepted", "application/json", r#"{"id":1}"#),
                    // The answer to HEAD announces a length but has no body.
                    b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n".to_vec(),
                    response("404 Not Found", "text/plain", "no such channel\n"),
                ]
                .concat(),
            ),
        ]
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

    fn chunked_publish() -> Script {
        let mut body = Vec::new();
        write_chunk(&mut body, b"hello");
        write_chunk(&mut body, b" world");
        body.extend_from_slice(LAST_CHUNK);
        vec![
            (
                Direction::In,
                [
                    &b"POST /pub/news HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\
                       Transfer-Encoding: chunked\r\n\r\n"[..],
                    &body,
                ]
                .concat(),
            ),
            (
                Direction::Out,
                [
                    &b"HTTP/1.1 100 Continue\r\n\r\n"[..],
                    &response("202 Accepted", "application/json", r#"{"id":1}"#),
                ]
                .concat(),
            ),
        ]
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

    fn sse_stream() -> Script {
        let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                        Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
        let mut events = Vec::new();
        crate::sse::write_retry(&mut events, 2000);
        write_chunk(&mut out, &std::mem::take(&mut events));
        crate::sse::write_event(&mut events, 7, None, "hello");
        write_chunk(&mut out, &std::mem::take(&mut events));
        crate::sse::write_comment(&mut events, "keep-alive");
        write_chunk(&mut out, &std::mem::take(&mut events));
        crate::sse::write_event(&mut events, 8, None, "two\nlines");
        // Two events in one chunk, and an event cut across chunks.
        crate::sse::write_gap(&mut events, 8, 11);
        crate::sse::write_event(&mut events, 11, Some("news"), "tab\there");
        let (first, second) = events.split_at(events.len() - 9);
        write_chunk(&mut out, first);
        write_chunk(&mut out, second);
        out.extend_from_slice(LAST_CHUNK);
        vec![
            (
                Direction::In,
                b"GET /sse/news HTTP/1.1\r\nHost: h\r\nAccept: text/event-stream\r\n\r\n".to_vec(),
            ),
            (Direction::Out, out),
        ]
    }

    #[test]
    fn sse_stream_shows_events_heartbeats_retry_and_the_end_chunk() {
        assert_trace(
            &sse_stream(),
            &[
                "<- GET /sse/news HTTP/1.1",
                "<-   Host: h",
                "<-   Accept: text/event-stream",
                "-> HTTP/1.1 200 OK",
                "->   Content-Type: text/event-stream",
                "->   Cache-Control: no-cache",
                "->   Transfer-Encoding: chunked",
                "-> sse retry: 2000 ms",
                r#"-> sse id=7 data: 1 line, 5 bytes "hello""#,
                r#"-> sse comment ": keep-alive""#,
                r#"-> sse id=8 data: 2 lines, 9 bytes "two\nlines""#,
                r#"-> sse id=8 event=gap data: 1 line, 23 bytes "{"since":8,"oldest":11}""#,
                r#"-> sse id=11 event=news data: 1 line, 8 bytes "tab\there""#,
                "-> end of chunked body",
            ],
        );
    }

    #[test]
    fn http_10_event_stream_is_read_until_the_connection_closes() {
        let script = vec![
            (Direction::In, b"GET /sse/a HTTP/1.0\r\n\r\n".to_vec()),
            (
                Direction::Out,
                b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n\r\n\
                  id: 1\ndata: x\n\n: keep-alive\n\n"
                    .to_vec(),
            ),
        ];
        assert_trace(
            &script,
            &[
                "<- GET /sse/a HTTP/1.0",
                "-> HTTP/1.0 200 OK",
                "->   Content-Type: text/event-stream; charset=utf-8",
                r#"-> sse id=1 data: 1 line, 1 bytes "x""#,
                r#"-> sse comment ": keep-alive""#,
                "-> end of event stream after 29 bytes (connection closed)",
            ],
        );
    }

    const HANDSHAKE: &[u8] = b"GET /ws/demo HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
        Upgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    const SWITCHING: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    fn websocket() -> Script {
        let mut client = Vec::new();
        // RFC 6455 section 5.7: "Hello", masked with 37 fa 21 3d.
        client.extend_from_slice(&[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ]);
        write_frame(&mut client, Opcode::Pong, b"", Some([1, 2, 3, 4]));
        let mut server = Vec::new();
        write_frame(&mut server, Opcode::Text, b"Hello", None);
        write_frame(&mut server, Opcode::Ping, b"", None);
        // A fragmented binary message, then a fragmented text one.
        crate::ws::write_fragment(&mut server, false, Opcode::Binary, &[0, 1, 2], None);
        crate::ws::write_fragment(&mut server, true, Opcode::Continuation, &[0xff; 20], None);
        crate::ws::write_fragment(&mut server, false, Opcode::Text, b"caf\xc3", None);
        crate::ws::write_fragment(
            &mut server,
            true,
            Opcode::Continuation,
            b"\xa9 \xe2\x9c\x93",
            None,
        );
        let long = "x".repeat(300);
        write_frame(&mut server, Opcode::Text, long.as_bytes(), None);
        let mut client_close = Vec::new();
        write_close(
            &mut client_close,
            close::NORMAL,
            "",
            Some([0x0a, 0x0b, 0x0c, 0x0d]),
        );
        let mut server_close = Vec::new();
        write_close(&mut server_close, close::GOING_AWAY, "bye!", None);
        vec![
            (Direction::In, HANDSHAKE.to_vec()),
            (Direction::Out, SWITCHING.to_vec()),
            (Direction::In, client),
            (Direction::Out, server),
            (Direction::In, client_close),
            (Direction::Out, server_close),
        ]
    }

    #[test]
    fn websocket_handshake_then_masked_client_and_unmasked_server_frames() {
        let x60 = "x".repeat(60);
        assert_trace(
            &websocket(),
            &[
                "<- GET /ws/demo HTTP/1.1",
                "<-   Host: 127.0.0.1:8080",
                "<-   Upgrade: websocket",
                "<-   Connection: Upgrade",
                "<-   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "<-   Sec-WebSocket-Version: 13",
                "-> HTTP/1.1 101 Switching Protocols",
                "->   Upgrade: websocket",
                "->   Connection: Upgrade",
                "->   Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                r#"<- ws FIN=1 opcode=0x1 text MASK=1 key=37fa213d len=5 "Hello""#,
                "<- ws FIN=1 opcode=0xa pong MASK=1 key=01020304 len=0",
                r#"-> ws FIN=1 opcode=0x1 text MASK=0 len=5 "Hello""#,
                "-> ws FIN=1 opcode=0x9 ping MASK=0 len=0",
                "-> ws FIN=0 opcode=0x2 binary MASK=0 len=3 data=00 01 02",
                "-> ws FIN=1 opcode=0x0 continuation MASK=0 len=20 \
                 data=ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff...",
                r#"-> ws FIN=0 opcode=0x1 text MASK=0 len=4 "caf\xc3""#,
                r#"-> ws FIN=1 opcode=0x0 continuation MASK=0 len=5 "\xa9 ✓""#,
                &format!(r#"-> ws FIN=1 opcode=0x1 text MASK=0 len=300 "{x60}"..."#),
                "<- ws FIN=1 opcode=0x8 close MASK=1 key=0a0b0c0d len=2 code=1000",
                r#"-> ws FIN=1 opcode=0x8 close MASK=0 len=6 code=1001 reason="bye!""#,
            ],
        );
    }

    #[test]
    fn frames_sent_before_the_101_are_held_and_traced_as_frames() {
        let mut eager = HANDSHAKE.to_vec();
        write_frame(&mut eager, Opcode::Text, b"early", Some([9, 9, 9, 9]));
        let script = vec![(Direction::In, eager), (Direction::Out, SWITCHING.to_vec())];
        let lines = whole(&script);
        assert_eq!(
            lines.get(lines.len() - 2).map(String::as_str),
            Some(r#"[#3] <- ws FIN=1 opcode=0x1 text MASK=1 key=09090909 len=5 "early""#)
        );
        assert_eq!(bytewise(&script), lines);
    }

    #[test]
    fn a_refused_upgrade_leaves_the_next_request_as_http() {
        let mut input = HANDSHAKE.to_vec();
        input.extend_from_slice(b"GET /poll/a HTTP/1.1\r\nHost: h\r\n\r\n");
        let script = vec![
            (Direction::In, input),
            (
                Direction::Out,
                response("426 Upgrade Required", "text/plain", ""),
            ),
        ];
        let lines = whole(&script);
        let tail: Vec<&str> = lines
            .iter()
            .rev()
            .skip(1)
            .take(5)
            .map(String::as_str)
            .collect();
        assert_eq!(
            tail,
            [
                "[#3] <-   Host: h",
                "[#3] <- GET /poll/a HTTP/1.1",
                "[#3] ->   Content-Length: 0",
                "[#3] ->   Content-Type: text/plain",
                "[#3] -> HTTP/1.1 426 Upgrade Required",
            ]
        );
        assert_eq!(bytewise(&script), lines);
    }

    #[test]
    fn an_unmasked_client_frame_is_traced_as_invalid_once() {
        let mut client = Vec::new();
        write_frame(&mut client, Opcode::Text, b"no mask", None);
        write_frame(&mut client, Opcode::Text, b"no mask", None);
        let script = vec![
            (Direction::In, HANDSHAKE.to_vec()),
            (Direction::Out, SWITCHING.to_vec()),
            (Direction::In, client),
        ];
        let lines = whole(&script);
        assert_eq!(
            lines.get(lines.len() - 2).map(String::as_str),
            Some(
                "[#3] <- ws invalid frame: client frame is not masked \
                 (the reader fails the connection with 1002)"
            )
        );
        assert_eq!(lines.iter().filter(|l| l.contains("invalid")).count(), 1);
        assert_eq!(bytewise(&script), lines);
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
    fn a_huge_event_stops_event_tracing_but_not_the_framing() {
        let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                        Transfer-Encoding: chunked\r\n\r\n"
            .to_vec();
        let data = "d".repeat(MAX_SSE_EVENT_BYTES + 10);
        let mut event = Vec::new();
        crate::sse::write_event(&mut event, 1, None, &data);
        write_chunk(&mut out, &event);
        write_chunk(&mut out, b"id: 2\ndata: small\n\n");
        out.extend_from_slice(LAST_CHUNK);
        out.extend_from_slice(&response("200 OK", "text/plain", "next"));
        let script = vec![
            (
                Direction::In,
                b"GET /sse/a HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
            ),
            (Direction::Out, out),
        ];
        let lines = whole(&script);
        assert!(lines.contains(&format!(
            "[#3] -> sse event larger than {MAX_SSE_EVENT_BYTES} bytes, the rest of the \
             stream is not traced as events"
        )));
        assert!(lines.contains(&"[#3] -> end of chunked body".to_string()));
        assert!(lines.contains(&"[#3] -> body: 4 bytes \"next\"".to_string()));
        assert!(!lines.iter().any(|l| l.contains("small")));
    }

    #[test]
    fn connections_are_traced_independently_and_forgotten_on_close() {
        let mut tracer = Tracer::new();
        tracer.opened(1);
        tracer.opened(2);
        tracer.observe(1, Direction::In, b"GET /a HTTP/1.1\r\n");
        tracer.observe(2, Direction::In, b"GET /b HTTP/1.1\r\nHost: b\r\n\r\n");
        tracer.observe(1, Direction::In, b"Host: a\r\n\r\n");
        tracer.closed(1);
        tracer.closed(2);
        assert!(tracer.connections.is_empty());
        let mut lines = Vec::new();
        tracer.take_lines(&mut lines);
        assert_eq!(
            lines,
            [
                "[#1] connection opened",
                "[#2] connection opened",
                "[#2] <- GET /b HTTP/1.1",
                "[#2] <-   Host: b",
                "[#1] <- GET /a HTTP/1.1",
                "[#1] <-   Host: a",
                "[#1] connection closed",
                "[#2] connection closed",
            ]
        );
        tracer.take_lines(&mut lines);
        assert_eq!(lines.len(), 8);
    }

    #[test]
    fn module_doc_example_is_what_the_tracer_prints() {
        let mut tracer = Tracer::new();
        tracer.opened(3);
        tracer.observe(3, Direction::In, HANDSHAKE);
        tracer.observe(3, Direction::Out, SWITCHING);
        let hello = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        tracer.observe(3, Direction::In, &hello);
        let mut frames = Vec::new();
        write_frame(&mut frames, Opcode::Text, b"Hello", None);
        tracer.observe(3, Direction::Out, &frames);
        frames.clear();
        write_close(
            &mut frames,
            close::NORMAL,
            "",
            Some([0x0a, 0x0b, 0x0c, 0x0d]),
        );
        tracer.observe(3, Direction::In, &frames);
        frames.clear();
        write_close(&mut frames, close::NORMAL, "", None);
        tracer.observe(3, Direction::Out, &frames);
        tracer.closed(3);

        tracer.opened(5);
        let request = b"GET /sse/news HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
        tracer.observe(5, Direction::In, request);
        let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                        Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
        let mut events = Vec::new();
        crate::sse::write_retry(&mut events, 2000);
        crate::sse::write_event(&mut events, 7, None, "hello");
        crate::sse::write_comment(&mut events, "keep-alive");
        crate::sse::write_gap(&mut events, 7, 9);
        write_chunk(&mut out, &events);
        out.extend_from_slice(LAST_CHUNK);
        tracer.observe(5, Direction::Out, &out);
        tracer.closed(5);
        let mut lines = Vec::new();
        tracer.take_lines(&mut lines);

        // The first ```text block of the module docs.
        let source = include_str!("trace.rs");
        let documented: Vec<&str> = source
            .lines()
            .skip_while(|line| *line != "//! ```text")
            .skip(1)
            .take_while(|line| *line != "//! ```")
            .map(|line| line.trim_start_matches("//! "))
            .collect();
        assert_eq!(lines, documented);
    }

    fn all_scripts() -> Vec<Script> {
        vec![
            poll_exchange(),
            pipelined(),
            chunked_publish(),
            sse_stream(),
            websocket(),
        ]
    }

    /// Garbage after a prefix that puts the analyzers in each of their
    /// states: HTTP heads, a chunked event stream, WebSocket frames.
    fn garbage_script() -> impl Strategy<Value = Script> {
        let prefix = prop::sample::select(vec![
            Vec::new(),
            vec![
                (Direction::In, HANDSHAKE.to_vec()),
                (Direction::Out, SWITCHING.to_vec()),
            ],
            sse_stream()
                .into_iter()
                .map(|(d, b)| (d, b[..b.len() - 5].to_vec()))
                .collect(),
            vec![(
                Direction::In,
                b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            )],
        ]);
        let byte = prop_oneof![
            any::<u8>(),
            prop::sample::select(b"\r\n:0123456789abcdef GETHTP/1. \x81\x88\x00\x7e\x7f".to_vec()),
        ];
        let piece = (
            prop::bool::ANY.prop_map(|b| if b { Direction::In } else { Direction::Out }),
            prop::collection::vec(byte, 0..200),
        );
        (prefix, prop::collection::vec(piece, 0..8)).prop_map(|(mut prefix, pieces)| {
            prefix.extend(pieces);
            prefix
        })
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_lines_as_feeding_whole(
            index in 0usize..5,
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
        ) {
            let script = &all_scripts()[index];
            let mut cuts = cuts.into_iter();
            let split = run(script, &mut |bytes| {
                cuts.by_ref().take(3).map(|cut| cut.index(bytes.len() + 1)).collect()
            });
            prop_assert_eq!(split, whole(script));
        }

        #[test]
        fn garbage_never_panics_and_memory_stays_bounded(script in garbage_script()) {
            let mut tracer = Tracer::new();
            tracer.opened(1);
            for (dir, bytes) in &script {
                tracer.observe(1, *dir, bytes);
                prop_assert!(tracer.held_bytes(1) <= 3 * MAX_HEAD_BYTES + 2 * PREVIEW_BYTES);
            }
            tracer.closed(1);
            let mut lines = Vec::new();
            tracer.take_lines(&mut lines);
            prop_assert!(lines.iter().all(|l| !l.contains('\n') && !l.contains('\r')));
        }

        #[test]
        fn garbage_gives_the_same_lines_whole_and_byte_by_byte(script in garbage_script()) {
            prop_assert_eq!(bytewise(&script), whole(&script));
        }
    }
}
