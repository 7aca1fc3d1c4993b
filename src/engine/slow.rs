//! Slow consumers: what a stream or WebSocket subscriber gets when it
//! falls too far behind (`--slow-consumer close|skip`).
//!
//! A subscriber is too slow for a message when what it already owes (its
//! unsent queue, and the kernel's send buffer counted as full) plus the
//! message would pass `--max-backlog-bytes` (`Conn::is_too_slow_for`).
//! Then, by policy:
//!
//! - **`close`** (the default): what it was owed is dropped, all but an
//!   event or frame already begun, and the connection ends on that
//!   boundary: `: too slow: reconnect with Last-Event-ID` and the last
//!   chunk on a stream, close 1008 on a WebSocket. History keeps the
//!   messages, so a reconnect with its last id loses nothing.
//! - **`skip`**: the messages queued for it that have not started to go
//!   out are dropped, and the mark that follows names exactly the ids it
//!   missed, in the format a resume past history already uses: on a
//!   stream `event: gap` with `{"since":S,"oldest":O}`, to a
//!   `pushwire.json` WebSocket the frame `{"gap":true,"since":S,"oldest":O}`.
//!   `S` is the newest message the client has begun to receive (or where
//!   it started), `O` the message that triggered the skip, queued right
//!   after the mark: the client lost every message after `S` and before
//!   `O`, and no other. It stays connected and goes on with fresh
//!   messages. If it goes on not reading, the next skip drops the mark and
//!   `O` with the rest, and its own mark starts at the same `S`.
//!
//! `skip` keeps `close` for the subscribers that cannot be told: a plain
//! WebSocket (its frames carry no ids, so a gap could name nothing the
//! client knows), and one whose begun frame leaves no room for the mark and
//! the message (a message as large as its share of the bound). A
//! long-poll is never too slow: it is answered once and leaves the
//! channel.
//!
//! What each policy did is counted by transport in
//! [`SlowConsumerCounts`] ([`super::Engine::slow_consumer_counts`]).

use crate::broker::Message;
use crate::broker::Transport;
use crate::config::SlowConsumer;

use super::conn::{Conn, Cx, State};
use super::websocket::Mode;

/// What a gap mark may take at most on the wire: the SSE event with its
/// chunk framing, or the WebSocket frame, with two 20-digit ids.
const GAP_MARK_MAX: usize = 128;

/// What the slow-consumer policy did, by transport, since the engine
/// started: the counters a metrics exporter reads
/// ([`super::Engine::slow_consumer_counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlowConsumerCounts {
    /// SSE streams ended as too slow (`close`, or `skip` without room).
    pub sse_closed: u64,
    /// SSE streams' messages dropped for an `event: gap` (one per mark).
    pub sse_skips: u64,
    /// WebSockets closed with 1008 as too slow.
    pub ws_closed: u64,
    /// `pushwire.json` WebSockets' messages dropped for a gap frame (one
    /// per mark).
    pub ws_skips: u64,
    /// Messages dropped by all the skips, over both transports.
    pub skipped_messages: u64,
}

impl Conn {
    /// Whether `message`, `size` bytes as this connection frames it, may
    /// be queued now: at once, or once the policy `skip` has dropped the
    /// messages not begun and queued the gap mark that names them. False
    /// when the subscriber is to be cut off (`close`, or `skip` without
    /// room): only what was begun is left queued, and the caller ends the
    /// connection after it.
    pub(super) fn make_room(&mut self, message: &Message, size: usize, cx: &mut Cx<'_>) -> bool {
        if !self.is_too_slow_for(size, cx) {
            return true;
        }
        let sse = matches!(self.state, State::Streaming(_));
        if cx.config.slow_consumer == SlowConsumer::Skip && self.marks_gaps() {
            let since = self.sent_id();
            let dropped = self.out.keep_started();
            if !self.is_too_slow_for(size.saturating_add(GAP_MARK_MAX), cx) {
                if dropped > 0 {
                    self.queue_gap(since, message.id, cx.stats);
                    match sse {
                        true => cx.slow.sse_skips += 1,
                        false => cx.slow.ws_skips += 1,
                    }
                    let transport = match sse {
                        true => Transport::Sse,
                        false => Transport::Ws,
                    };
                    cx.stats.slow_skipped(transport, dropped as u64);
                    cx.slow.skipped_messages += dropped as u64;
                }
                return true;
            }
        }
        self.out.keep_started();
        match sse {
            true => cx.slow.sse_closed += 1,
            false => cx.slow.ws_closed += 1,
        }
        false
    }

    /// Whether a gap can be told to this subscriber in band: a stream, or
    /// a `pushwire.json` WebSocket.
    fn marks_gaps(&self) -> bool {
        matches!(
            self.state,
            State::Streaming(_) | State::WebSocket(Mode::Channel { json: true, .. }, _)
        )
    }
}
