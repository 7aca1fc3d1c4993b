//! The whole sans-IO server (`engine::Engine`) driven by arbitrary
//! operations, the way the reactor drives it: open connections, bytes
//! arriving (arbitrary, or requests from a dictionary of templates so the
//! fuzzer gets past the parser: publish, poll, long-poll, SSE, OPTIONS,
//! chunked bodies, WebSocket upgrades on /echo and /ws/x, masked frames),
//! the clock moving, partial writes, peer closes, removals, publishes.
//!
//! Properties:
//! - nothing panics;
//! - everything the engine asks to write, concatenated per connection, is
//!   a sequence of well-formed HTTP/1.1 responses (framed by
//!   Content-Length or chunked; one `Date` on every final response;
//!   nothing after `Connection: close`), and
//!   after a `101` a sequence of well-formed server WebSocket frames
//!   (never masked, control frames at most 125 bytes, valid close codes,
//!   UTF-8 text; nothing after a Close);
//! - unsent output per connection stays bounded (see `MAX_UNSENT`), and so
//!   does buffered input (twice `max_header_bytes` plus one receive).
#![no_main]

use std::io::IoSlice;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pushwire::broker::ConnId;
use pushwire::engine::{Engine, Step};
use pushwire::ws::{write_fragment, MessageReader, Opcode, Role, WsEvent};
use pushwire::Config;

const HISTORY: usize = 8;
const MAX_BODY: usize = 4096;
const MAX_HEADER: usize = 1024;
const MAX_BACKLOG: usize = 65536;
/// The engine's private OUTPUT_HIGH_WATER (engine/conn.rs): above it a
/// connection reads no further pipelined requests.
const OUTPUT_HIGH_WATER: usize = 256 * 1024;
/// The largest single response: a poll answer with the whole history,
/// every byte of every message escaped as `\u00XX` (6 bytes), plus heads.
const MAX_RESPONSE: usize = HISTORY * (MAX_BODY * 6 + 64) + 1024;
/// The largest single queued message: SSE data of only line breaks is 7
/// bytes per byte (`data: \n`), plus chunk framing.
const MAX_MESSAGE: usize = MAX_BODY * 7 + 128;
/// Unsent bytes a connection may hold: a streaming subscriber is cut off
/// past MAX_BACKLOG, a request/response connection stops reading past the
/// high-water mark; either may overshoot by one message or one response.
const MAX_UNSENT: usize = OUTPUT_HIGH_WATER + MAX_BACKLOG + MAX_RESPONSE + MAX_MESSAGE;

const CHANNELS: &[&str] = &["a", "news", "x.y~z", "bad/name", ""];

fn config() -> Config {
    Config {
        max_connections: 6,
        max_header_bytes: MAX_HEADER,
        max_uri_bytes: 256,
        max_body_bytes: MAX_BODY,
        history: HISTORY,
        header_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_millis(800),
        idle_timeout: Duration::from_secs(2),
        longpoll_max: Duration::from_secs(3),
        linger: Duration::from_millis(300),
        max_backlog_bytes: MAX_BACKLOG,
        heartbeat: Duration::from_secs(1),
        sse_max_age: Some(Duration::from_secs(5)),
        max_message_bytes: MAX_BODY,
        ping_interval: Duration::from_secs(1),
        ..Config::default()
    }
}

#[derive(Arbitrary, Debug)]
enum Chunk {
    Raw(Vec<u8>),
    /// A request from the dictionary: template, channel, a number, a flag.
    Request(u8, u8, u8, bool),
    /// A masked client frame: opcode, FIN, payload, key.
    Frame(u8, bool, Vec<u8>, [u8; 4]),
    /// A prefix or suffix of a request, to exercise split heads.
    Cut(u8, u8, u8, bool),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Open,
    Receive(u8, Chunk),
    /// Advance the clock by this many milliseconds.
    Advance(u16),
    /// Advance the clock by this many seconds.
    AdvanceLong(u8),
    /// The client reads up to this many bytes.
    Write(u8, u16),
    /// One reactor pass: every ready connection gets its step, with all of
    /// its output written.
    Drain,
    PeerClose(u8),
    Remove(u8),
    Publish(u8, String),
}

fn request(template: u8, channel: u8, n: u8, flag: bool) -> Vec<u8> {
    let c = CHANNELS[usize::from(channel) % CHANNELS.len()];
    let close = if flag { "Connection: close\r\n" } else { "" };
    let text = match template % 16 {
        0 => format!("GET /poll/{c}?since={n} HTTP/1.1\r\nHost: h\r\n{close}\r\n"),
        1 => format!("GET /longpoll/{c}?since={n}&timeout=1 HTTP/1.1\r\nHost: h\r\n{close}\r\n"),
        2 => format!("GET /sse/{c} HTTP/1.1\r\nHost: h\r\nLast-Event-ID: {n}\r\n{close}\r\n"),
        3 => format!("POST /pub/{c} HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n{close}\r\nhel\no"),
        4 => format!(
            "POST /pub/{c} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n{close}\r\n\
             3\r\nhel\r\n{n:x};x=y\r\n{}\r\n0\r\nT: v\r\n\r\n",
            "z".repeat(usize::from(n))
        ),
        5 => format!(
            "POST /pub/{c} HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: {n}\r\n{close}\r\n"
        ),
        6 => format!(
            "OPTIONS /pub/{c} HTTP/1.1\r\nHost: h\r\nOrigin: http://o.example\r\n\
             Access-Control-Request-Method: POST\r\n{close}\r\n"
        ),
        7 => format!("GET /pub/{c} HTTP/1.1\r\nHost: h\r\n{close}\r\n"),
        8 => format!("HEAD /poll/{c}?since={n} HTTP/1.1\r\nHost: h\r\n{close}\r\n"),
        9 => "GET /echo HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            .to_string(),
        10 => format!(
            "GET /ws/{c}?since={n} HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{}\r\n",
            if flag { "Sec-WebSocket-Protocol: pushwire.json\r\n" } else { "" }
        ),
        11 => format!("GET /sse/{c}?since={n} HTTP/1.0\r\n\r\n"),
        12 => format!("GET /longpoll/{c}?timeout=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
        13 => format!("GET /help HTTP/1.1\r\nHost: h\r\n{close}\r\n"),
        14 => format!("HEAD /sse/{c} HTTP/1.1\r\nHost: h\r\n{close}\r\n"),
        _ => format!("POST /pub/{c} HTTP/1.0\r\nContent-Length: {n}\r\n\r\n{}", "é".repeat(usize::from(n) / 2)),
    };
    text.into_bytes()
}

fn chunk_bytes(chunk: &Chunk) -> Vec<u8> {
    match chunk {
        Chunk::Raw(bytes) => bytes.clone(),
        Chunk::Request(t, c, n, flag) => request(*t, *c, *n, *flag),
        Chunk::Frame(op, fin, payload, key) => {
            let opcode = [
                Opcode::Text,
                Opcode::Binary,
                Opcode::Continuation,
                Opcode::Ping,
                Opcode::Pong,
                Opcode::Close,
            ][usize::from(*op) % 6];
            let mut out = Vec::new();
            write_fragment(&mut out, *fin, opcode, payload, Some(*key));
            out
        }
        Chunk::Cut(t, c, at, head) => {
            let bytes = request(*t, *c, 1, false);
            let at = usize::from(*at) % (bytes.len() + 1);
            if *head {
                bytes[..at].to_vec()
            } else {
                bytes[at..].to_vec()
            }
        }
    }
}

struct Conn {
    id: ConnId,
    /// Everything the client has read.
    transcript: Vec<u8>,
}

/// Checks that `bytes` is a prefix of a well-formed sequence of responses.
fn check_transcript(bytes: &[u8]) -> Result<(), String> {
    let mut pos = 0;
    loop {
        let rest = &bytes[pos..];
        if rest.is_empty() {
            return Ok(());
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(rest) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                if rest.len() > 8192 {
                    return Err("response head longer than 8 KiB".into());
                }
                return Ok(());
            }
            Err(e) => return Err(format!("bad response head at {pos}: {e}")),
        };
        if response.version != Some(1) {
            return Err(format!("response at {pos} is not HTTP/1.1"));
        }
        let status = response.code.unwrap_or(0);
        let mut length = None;
        let mut chunked = false;
        let mut close = false;
        let mut dates = 0;
        for h in response.headers.iter() {
            let value = std::str::from_utf8(h.value).map_err(|_| "non-UTF-8 header".to_string())?;
            if h.name.eq_ignore_ascii_case("content-length") {
                if length.is_some() {
                    return Err("two Content-Length".into());
                }
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| format!("Content-Length {value:?}"))?,
                );
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                if value != "chunked" {
                    return Err(format!("Transfer-Encoding {value:?}"));
                }
                chunked = true;
            } else if h.name.eq_ignore_ascii_case("date") {
                // IMF-fixdate: "Wed, 25 Nov 2026 00:00:00 GMT".
                if value.len() != 29 || !value.ends_with(" GMT") {
                    return Err(format!("Date {value:?}"));
                }
                dates += 1;
            } else if h.name.eq_ignore_ascii_case("connection") {
                close |= value
                    .split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("close"));
            }
        }
        if length.is_some() && chunked {
            return Err("Content-Length and chunked together".into());
        }
        // RFC 9110 section 6.6.1: exactly one Date on every final response.
        if status >= 200 && dates != 1 {
            return Err(format!("{dates} Date fields on a {status}"));
        }
        pos += head_len;
        let body = &bytes[pos..];
        if status == 101 {
            return check_frames(body);
        }
        if (100..200).contains(&status) {
            continue;
        }
        // A HEAD response announces a body it does not send: the next
        // response's status line follows at once. (No pushwire body starts
        // with a status line; a reason text may start with "HTTP/1.1 ".)
        let bodyless = status == 204 || status == 304 || starts_with_status_line(body);
        if bodyless {
        } else if chunked {
            match chunked_len(body)? {
                Some(n) => pos += n,
                None => return Ok(()), // still streaming, or cut short
            }
        } else if let Some(n) = length {
            if body.len() < n {
                return Ok(());
            }
            pos += n;
        } else {
            // Delimited by the connection closing (an HTTP/1.0 stream).
            if !close {
                return Err(format!(
                    "status {status} body without length and without close"
                ));
            }
            return Ok(());
        }
        if close && pos < bytes.len() {
            return Err(format!(
                "{} bytes after a Connection: close response",
                bytes.len() - pos
            ));
        }
    }
}

/// Whether `bytes` starts with `HTTP/1.1 ddd `.
fn starts_with_status_line(bytes: &[u8]) -> bool {
    bytes.len() >= 13
        && bytes.starts_with(b"HTTP/1.1 ")
        && bytes[9..12].iter().all(u8::is_ascii_digit)
        && bytes[12] == b' '
}

/// The length of a complete chunked body at the start of `body`, `None`
/// if it is a valid but unfinished prefix.
fn chunked_len(body: &[u8]) -> Result<Option<usize>, String> {
    let mut pos = 0;
    loop {
        let Some(line_end) = body[pos..].windows(2).position(|w| w == b"\r\n") else {
            if body.len() - pos > 20 {
                return Err("chunk size line too long".into());
            }
            return Ok(None);
        };
        let line = std::str::from_utf8(&body[pos..pos + line_end]).map_err(|_| "chunk line")?;
        let size = usize::from_str_radix(line, 16).map_err(|_| format!("chunk size {line:?}"))?;
        pos += line_end + 2;
        if size == 0 {
            return match body.get(pos..pos + 2) {
                Some(b"\r\n") => Ok(Some(pos + 2)),
                Some(_) => Err("no CRLF after the last chunk".into()),
                None if body[pos..].is_empty() || body[pos..] == *b"\r" => Ok(None),
                None => Err("bad end of chunked body".into()),
            };
        }
        if body.len() < pos + size + 2 {
            return Ok(None);
        }
        if &body[pos + size..pos + size + 2] != b"\r\n" {
            return Err("chunk data not followed by CRLF".into());
        }
        pos += size + 2;
    }
}

/// Server-to-client frames: read as a client would (unmasked frames,
/// short unfragmented control frames, valid close codes, UTF-8 text).
fn check_frames(bytes: &[u8]) -> Result<(), String> {
    let mut reader = MessageReader::new(Role::Client, usize::MAX);
    let mut rest = bytes;
    while !rest.is_empty() {
        match reader.read(rest) {
            Ok((used, Some(WsEvent::Close { .. }))) => {
                if used != rest.len() {
                    return Err(format!(
                        "{} bytes after the server's Close",
                        rest.len() - used
                    ));
                }
                return Ok(());
            }
            Ok((used, _)) => rest = &rest[used..],
            Err(e) => return Err(format!("bad server frame: {e}")),
        }
    }
    Ok(())
}

struct Harness {
    engine: Engine,
    conns: Vec<Option<Conn>>,
    now: Instant,
}

impl Harness {
    /// The clock moves by `by`, the wall clock with it, as the reactor sets
    /// it (the Date header: a new second drops the kept poll answers); then
    /// the due deadlines fire.
    fn step(&mut self, start: Instant, by: Duration) {
        self.now += by;
        self.engine
            .handle_wall_clock(WALL + self.now.duration_since(start).as_secs());
        self.engine.handle_timeout(self.now);
    }

    fn live(&self, index: u8) -> Option<usize> {
        let live: Vec<usize> = (0..self.conns.len())
            .filter(|&i| self.conns[i].is_some())
            .collect();
        if live.is_empty() {
            return None;
        }
        Some(live[usize::from(index) % live.len()])
    }

    /// The client reads up to `max` bytes of the connection's output.
    fn write(&mut self, slot: usize, max: usize) {
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        let mut taken = 0;
        while taken < max {
            let mut iov = [IoSlice::new(&[]); 16];
            let n = self.engine.poll_output(conn.id, &mut iov);
            let mut round = 0;
            for slice in &iov[..n] {
                let take = slice.len().min(max - taken - round);
                conn.transcript.extend_from_slice(&slice[..take]);
                round += take;
                if take < slice.len() {
                    break;
                }
            }
            if round == 0 {
                break;
            }
            self.engine.handle_written(conn.id, round, self.now);
            taken += round;
        }
    }

    fn remove(&mut self, slot: usize) {
        if let Some(conn) = self.conns[slot].take() {
            self.engine.handle_closed(conn.id);
            finish(&conn);
        }
    }

    fn slot_of(&self, id: ConnId) -> Option<usize> {
        self.conns
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.id == id))
    }

    /// One pass of the reactor over the ready list.
    fn drain(&mut self) {
        for _ in 0..64 {
            let Some(id) = self.engine.poll_ready() else {
                return;
            };
            let Some(slot) = self.slot_of(id) else {
                panic!("ready list names connection {id}, which was removed");
            };
            match self.engine.poll_step(id) {
                Step::Write => self.write(slot, usize::MAX),
                Step::Wait => {}
                Step::Shutdown => self.engine.handle_write_shutdown(id, self.now),
                Step::Close => self.remove(slot),
            }
        }
    }

    fn check_bounds(&self) {
        for conn in self.conns.iter().flatten() {
            let unsent = self.engine.unsent(conn.id);
            assert!(
                unsent <= MAX_UNSENT,
                "connection {} holds {unsent} unsent bytes",
                conn.id
            );
        }
    }
}

fn finish(conn: &Conn) {
    if let Err(e) = check_transcript(&conn.transcript) {
        panic!(
            "connection {}: {e}\n--- transcript ---\n{}",
            conn.id,
            String::from_utf8_lossy(&conn.transcript[..conn.transcript.len().min(4096)])
        );
    }
}

/// The wall clock at the start of a run, in Unix seconds (2026-11-25).
const WALL: u64 = 1_795_564_800;

fuzz_target!(|ops: Vec<Op>| {
    let start = Instant::now();
    let mut h = Harness {
        engine: Engine::new(config(), start),
        conns: Vec::new(),
        now: start,
    };
    for op in ops.iter().take(256) {
        match op {
            Op::Open => {
                if h.engine.saturated() {
                    continue;
                }
                let id = h.engine.handle_accept(h.now);
                assert!(h.slot_of(id).is_none(), "open reused live id {id}");
                h.conns.push(Some(Conn {
                    id,
                    transcript: Vec::new(),
                }));
            }
            Op::Receive(i, chunk) => {
                let Some(slot) = h.live(*i) else { continue };
                let id = h.conns[slot].as_ref().map(|c| c.id).unwrap_or_default();
                // The reactor reads only while the engine wants input.
                if h.engine.wants_input(id) {
                    let bytes = chunk_bytes(chunk);
                    h.engine.handle_input(id, &bytes, h.now);
                    // Held input: at most twice max_header_bytes once
                    // processing stops (parked, streaming), plus what this
                    // receive brought while output was backed up.
                    let held = h.engine.buffered_input(id);
                    assert!(
                        held <= 2 * MAX_HEADER + bytes.len(),
                        "connection {id} holds {held} bytes of input after a receive of {}",
                        bytes.len()
                    );
                }
            }
            Op::Advance(ms) => h.step(start, Duration::from_millis(u64::from(*ms))),
            Op::AdvanceLong(s) => h.step(start, Duration::from_secs(u64::from(*s))),
            Op::Write(i, n) => {
                if let Some(slot) = h.live(*i) {
                    h.write(slot, usize::from(*n));
                }
            }
            Op::Drain => h.drain(),
            Op::PeerClose(i) => {
                let Some(slot) = h.live(*i) else { continue };
                let id = h.conns[slot].as_ref().map(|c| c.id).unwrap_or_default();
                if h.engine.wants_input(id) {
                    h.engine.handle_eof(id, h.now);
                }
            }
            Op::Remove(i) => {
                if let Some(slot) = h.live(*i) {
                    h.remove(slot);
                }
            }
            Op::Publish(c, data) => {
                let channel = CHANNELS[usize::from(*c) % CHANNELS.len()];
                let data = &data[..data.floor_char_boundary(MAX_BODY)];
                let _ = h.engine.handle_publish(channel, data.to_owned(), 0, h.now);
                while h.engine.poll_event().is_some() {}
            }
        }
        h.check_bounds();
        if let Some(next) = h.engine.poll_timeout() {
            assert!(
                next <= h.now + Duration::from_secs(3600),
                "a deadline an hour away: nothing is configured that long"
            );
        }
    }
    // The client reads everything that is left, and every transcript must
    // be well-formed.
    h.drain();
    for slot in 0..h.conns.len() {
        h.write(slot, usize::MAX);
        if let Some(conn) = &h.conns[slot] {
            finish(conn);
        }
    }
});
