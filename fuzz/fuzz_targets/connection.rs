//! The whole sans-IO server (`engine::Engine`) driven by arbitrary
//! operations through the engine tests' harness (`tests/engine/`), the way
//! the reactor drives it: open connections, bytes arriving (arbitrary, or
//! requests from a dictionary of templates so the fuzzer gets past the
//! parser: publish, poll, long-poll, SSE, OPTIONS, chunked bodies,
//! WebSocket upgrades on /echo and /ws/x, masked frames), the clock moving,
//! partial reads by the client, peer closes, resets, publishes; with the
//! in-memory store or with one that commits when an operation says so.
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

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pushwire::ws::{write_fragment, Opcode};
use pushwire::Config;

// The engine tests' harness, checker and store double, shared.
#[path = "../../tests/engine/check.rs"]
mod check;
#[path = "../../tests/engine/harness.rs"]
mod harness;
#[path = "../../tests/engine/store.rs"]
mod store;

use harness::Harness;
use store::Deferred;

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
        // Messages expire and channels are forgotten between requests.
        history_ttl: Some(Duration::from_secs(2)),
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
    /// The store decides every waiting append (with the store that
    /// commits later; a no-op with the in-memory one).
    Commit,
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

/// The client index chosen by `index` among the live ones.
fn live(h: &Harness, index: u8) -> Option<usize> {
    let live: Vec<usize> = (0..h.clients.len())
        .filter(|&c| !h.clients[c].closed)
        .collect();
    if live.is_empty() {
        return None;
    }
    Some(live[usize::from(index) % live.len()])
}

fn check_bounds(h: &Harness) {
    for client in h.clients.iter().filter(|c| !c.closed) {
        let unsent = h.engine.unsent(client.id);
        assert!(
            unsent <= MAX_UNSENT,
            "connection {} holds {unsent} unsent bytes",
            client.id
        );
        // Held input: at most twice max_header_bytes once processing
        // stops (parked, streaming, publishing), plus what one read
        // brought while output was backed up.
        let held = h.engine.buffered_input(client.id);
        assert!(
            held <= 2 * MAX_HEADER + READ,
            "connection {} holds {held} bytes of input",
            client.id
        );
    }
}

/// The reactor's read buffer: the most one read hands the engine.
const READ: usize = 64 * 1024;

fuzz_target!(|input: (bool, Vec<Op>)| {
    let (deferred, ops) = input;
    // The in-memory store, or one that commits when the input says so.
    let store = Deferred::default();
    let mut h = match deferred {
        true => Harness::with_store(config(), Box::new(store.clone())),
        false => Harness::new(config()),
    };
    // Clients read only when an operation says so.
    h.default_window = Some(0);
    for op in ops.iter().take(256) {
        match op {
            Op::Open => {
                if !h.engine.saturated() {
                    h.connect();
                }
            }
            Op::Receive(i, chunk) => {
                if let Some(c) = live(&h, *i) {
                    h.send(c, &chunk_bytes(chunk));
                }
            }
            Op::Advance(ms) => h.advance(Duration::from_millis(u64::from(*ms))),
            Op::AdvanceLong(s) => h.advance(Duration::from_secs(u64::from(*s))),
            Op::Write(i, n) => {
                if let Some(c) = live(&h, *i) {
                    h.set_window(c, usize::from(*n));
                    h.set_window(c, 0);
                }
            }
            Op::Drain => {
                for c in 0..h.clients.len() {
                    h.read_all(c);
                    h.clients[c].window = Some(0);
                }
            }
            Op::PeerClose(i) => {
                if let Some(c) = live(&h, *i) {
                    h.send_eof(c);
                }
            }
            Op::Remove(i) => {
                if let Some(c) = live(&h, *i) {
                    h.reset(c);
                }
            }
            Op::Publish(c, data) => {
                let channel = CHANNELS[usize::from(*c) % CHANNELS.len()];
                let data = &data[..data.floor_char_boundary(MAX_BODY)];
                h.publish(channel, data);
            }
            Op::Commit => {
                store.decide();
                h.commits();
            }
        }
        check_bounds(&h);
        if let Some(next) = h.engine.poll_timeout() {
            assert!(
                next <= h.now + Duration::from_secs(3600),
                "a deadline an hour away: nothing is configured that long"
            );
        }
    }
    // The client reads everything that is left; every transcript is
    // checked when the harness is dropped.
    store.decide();
    h.commits();
    for c in 0..h.clients.len() {
        h.read_all(c);
    }
});
