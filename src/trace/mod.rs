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
//! [#5] ->   Date: Wed, 25 Nov 2026 00:00:00 GMT
//! [#5] ->   Content-Type: text/event-stream
//! [#5] ->   Transfer-Encoding: chunked
//! [#5] ->   Cache-Control: no-cache
//! [#5] ->   X-Accel-Buffering: no
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
//! with [`ChunkedDecoder`](crate::http::chunked::ChunkedDecoder) into
//! `chunked body: n bytes "..."`. Pipelined requests follow one another. A
//! request with `Upgrade: websocket` holds the bytes after it until the
//! server's answer is seen: after `101 Switching Protocols` they are
//! WebSocket frames, after any other status they are the next request.
//!
//! **Server to client (`->`).** Read as a client reads them, by the crate's
//! [`ResponseReader`](crate::http::response_reader::ResponseReader), the
//! one `pushwire sub` and `pushwire bench` use: response heads (RFC 9112
//! section 4), where a `1xx` interim answer such as `100 Continue` is
//! followed by the real one, and bodies framed by RFC 9112 section 6.3 in
//! its order: no body after `HEAD` (the tracer tells the reader which
//! request each response answers), `204` and `304`; `Transfer-Encoding:
//! chunked` is decoded, and if the `Content-Type` is `text/event-stream`
//! the decoded bytes go through the WHATWG event stream parser
//! ([`EventStreamParser`](crate::sse::EventStreamParser)) and every event,
//! `retry:` and comment gets its own `sse` line until the last chunk
//! (`end of chunked body`); `Content-Length: n` gives `body: n bytes "..."`
//! (the JSON of a poll answer, say); anything else is read until the
//! connection closes (HTTP/1.0 style, e.g. an HTTP/1.0 event stream). A
//! `Content-Length` that is not one number (`abc`, or `3` and `4` in two
//! fields) leaves the body unframeable: `invalid Content-Length, the body
//! cannot be framed`, and the stream stops being traced.
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
//! # Secrets
//!
//! A trace never shows a token or a password: in every head, both
//! directions, the value of a `token` query parameter, the credentials of
//! `Authorization` after the scheme, every cookie's value and the token of
//! a `pushwire.bearer.<token>` subprotocol become `[redacted]`, and so do
//! they in the bytes shown before a malformed byte:
//!
//! ```text
//! [#4] <- GET /sse/room.1?since=4&token=[redacted] HTTP/1.1
//! [#4] <-   Authorization: Bearer [redacted]
//! [#4] <-   Cookie: theme=[redacted]; pushwire_token=[redacted]
//! ```
//!
//! A head is printed only once it is complete, so a secret split across
//! two reads is redacted all the same. Bodies and WebSocket payloads are
//! previewed as sent. The rules, field by field, are in `redact.rs`.
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

// One analyzer per protocol; this module keeps the tracer, the dispatch
// between a connection's two streams, and the preview helpers they share.
mod http; // request and response heads, bodies
mod redact; // tokens and passwords kept out of heads
mod sse; // event stream lines
#[cfg(test)]
mod testing;
mod ws; // frame lines

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

use crate::ws::Role;
use http::{Answer, BodyStep, HeadStep, RequestBody, Responses};
use ws::FrameReader;

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

/// Requests remembered until their response is seen (to know which
/// response answers a `HEAD` or an upgrade).
const MAX_PENDING_REQUESTS: usize = 64;

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
            State::Body(_) | State::Responses(_) | State::WebSocket(_) | State::Stopped => {
                stream.step(input, sink)
            }
        }
    }

    fn step_out(&mut self, input: &[u8], sink: &mut Sink<'_>) -> usize {
        let stream = &mut self.outbound;
        let State::Responses(responses) = &mut stream.state else {
            return stream.step(input, sink);
        };
        let step = responses.step(input, &mut self.requests, sink);
        if let Some(text) = step.stop {
            stream.stop(sink, &text);
        }
        match step.answer {
            Some(Answer::Switch) => {
                stream.state = State::WebSocket(FrameReader::new(Role::Client));
                self.switch_inbound(true, sink);
            }
            Some(Answer::Final {
                upgrade_refused: true,
            }) => self.switch_inbound(false, sink),
            Some(Answer::Final { .. }) | None => {}
        }
        step.used
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

/// Where one direction's analyzer stands.
enum State {
    /// `In`: reading a request head into `buf`.
    Head,
    /// `In`: skipping (and summarising) a request body.
    Body(RequestBody),
    /// `In` only: an upgrade request was sent; later bytes are held in
    /// `buf` until the server's answer says what they are.
    AwaitingUpgrade,
    /// `Out`: reading responses, heads and bodies.
    Responses(Responses),
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
        let state = match dir {
            Direction::In => State::Head,
            Direction::Out => State::Responses(Responses::new()),
        };
        Stream {
            dir,
            state,
            buf: Vec::new(),
            upgrade_pending: false,
        }
    }

    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        let state = match &self.state {
            State::Body(body) => body.held_bytes(),
            State::Responses(responses) => responses.held_bytes(),
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
            State::Head | State::AwaitingUpgrade | State::Responses(_) | State::Stopped => {
                input.len()
            }
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
            State::Responses(responses) => responses.finish(sink),
            State::WebSocket(reader) => reader.finish(dir, sink),
            State::Head | State::AwaitingUpgrade | State::Stopped => {}
        }
        self.state = State::Stopped;
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

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::http::response::{
        write_chunk, write_response, Body, Connection, Response, LAST_CHUNK,
    };
    use crate::ws::{close, close::write_close, write_frame, Opcode};
    use proptest::prelude::*;

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
        // The head as the server writes it.
        let head = Response {
            status: 200,
            content_type: "text/event-stream",
            fields: &[("Cache-Control", b"no-cache"), ("X-Accel-Buffering", b"no")],
            body: Body::Chunked,
        };
        let mut out = Vec::new();
        let date = crate::http::HttpDate::from_unix_secs(1_795_564_800);
        write_response(&mut out, &head, &date, Connection::Default, false);
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
        let source = include_str!("mod.rs");
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
            secrets(),
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
            index in 0usize..6,
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
