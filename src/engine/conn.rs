//! One connection's state, as the engine sees it.
//!
//! ```text
//!             first byte              head complete
//!   Idle ─────────────────▶ Head ─────────────────────▶ respond ──▶ Idle
//!    ▲  (idle timer)        (header timer)   │ body                 (keep-alive)
//!    │                                       ▼
//!    └──────────── respond ◀──────────── Body (body timer)
//!
//!   GET /longpoll with nothing new ──▶ Parked (deadline timer)
//!        ──(publish or deadline: answer)──▶ Idle
//!
//!   GET /sse ──▶ Streaming (heartbeat / max-age timer)
//!        ──(max-age: last chunk)──▶ Idle
//!
//!   GET /echo, /ws/{channel} + Upgrade ──▶ WebSocket (ping timer)
//!        ──(close frame, protocol error)──▶ Closing
//!
//!   any error / Connection: close ──▶ Closing ──(output sent)──▶ Lingering ──▶ closed
//! ```
//!
//! `Closing` sends what is queued; then the reactor shuts down the write
//! side and the connection lingers, reading and discarding, until the peer
//! closes or the linger timer fires. Closing at once would let the kernel
//! answer unread input with a reset, which can destroy the error response
//! before the client reads it (the reason nginx has `lingering_close`).

use std::time::Instant;

use crate::broker::Subscription;
use crate::http::chunked::ChunkedDecoder;
use crate::timer::TimerHandle;

use super::output::OutQueue;
pub(crate) use super::websocket::WsConn;

/// How the response to the current request ends the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The connection stays open afterwards.
    pub keep_alive: bool,
    /// The client spoke HTTP/1.0 (and needs `Connection: keep-alive`).
    pub http10: bool,
    /// A `HEAD` request: no body in the response.
    pub head_only: bool,
}

/// What a request body is read for.
#[derive(Debug)]
pub(crate) enum BodyUse {
    /// `POST /pub/{channel}`: published when complete.
    Publish {
        channel: Box<str>,
        cors: Option<Box<[u8]>>,
    },
    /// A body nobody asked for (a `GET` with a body): read and dropped,
    /// the response has already been queued.
    Discard,
}

/// How the body is delimited, with the reading state.
#[derive(Debug)]
pub(crate) enum BodyReader {
    /// This many bytes are still to come.
    Length(u64),
    /// A chunked body.
    Chunked(ChunkedDecoder),
}

/// A request whose body is still arriving.
#[derive(Debug)]
pub(crate) struct PendingBody {
    pub reply: Reply,
    pub reader: BodyReader,
    pub body: Vec<u8>,
    pub usage: BodyUse,
}

/// A parked long-poll: what its answer needs.
#[derive(Debug)]
pub(crate) struct Parked {
    pub reply: Reply,
    /// `Access-Control-Allow-Origin` for the answer.
    pub cors: Option<Box<[u8]>>,
}

/// An SSE stream: how it is framed and its clock.
#[derive(Debug)]
pub(crate) struct Stream {
    /// The request, for what follows the stream's end (keep-alive or not).
    pub reply: Reply,
    /// HTTP/1.0 client: the stream is close-delimited, not chunked.
    pub http10: bool,
    /// When something was last queued (an event or a heartbeat).
    pub last_sent: Instant,
    /// When the stream is ended (`--sse-max-age`).
    pub ends_at: Option<Instant>,
}

/// Where a connection is in its life.
#[derive(Debug)]
pub(crate) enum State {
    /// Between requests; the idle timer runs.
    Idle,
    /// A request head is arriving; the header timer runs from its first byte.
    Head,
    /// A request body is arriving.
    Body(Box<PendingBody>),
    /// A long-poll waiting for a message or its deadline.
    Parked(Box<Parked>),
    /// A Server-Sent Events stream.
    Streaming(Box<Stream>),
    /// A WebSocket, after the handshake.
    WebSocket(Box<WsConn>),
    /// Sending what is queued, then closing.
    Closing,
    /// Write side shut down; reading and discarding until EOF or the timer.
    Lingering,
}

/// Per-connection flags.
pub(crate) mod flag {
    /// The connection is on the engine's ready list.
    pub const READY: u8 = 1;
    /// The reactor must close the socket now, without flushing.
    pub const CLOSE_NOW: u8 = 2;
    /// The peer sent EOF.
    pub const PEER_CLOSED: u8 = 4;
    /// Buffered input waits to be processed (pipelined requests behind a
    /// long-poll, or behind output that was too large).
    pub const RESUME: u8 = 8;
}

/// One connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub state: State,
    /// Bytes received but not yet consumed (a partial head).
    pub inbuf: Vec<u8>,
    /// Bytes to send.
    pub out: OutQueue,
    /// The connection's one deadline, whatever its state.
    pub timer: Option<TimerHandle>,
    /// Where it waits for messages, if it does.
    pub subscription: Option<Subscription>,
    pub flags: u8,
}

impl Conn {
    pub fn new() -> Conn {
        Conn {
            state: State::Idle,
            inbuf: Vec::new(),
            out: OutQueue::default(),
            timer: None,
            subscription: None,
            flags: 0,
        }
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Whether the connection reads requests now (not closing, not waiting).
    pub fn reads_requests(&self) -> bool {
        matches!(self.state, State::Idle | State::Head | State::Body(_))
    }
}
