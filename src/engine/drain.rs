//! The graceful drain: what every connection does when the server is
//! asked to stop (SIGTERM, SIGINT, `Hub::stop`), so that each client ends
//! cleanly and knows where to resume.
//!
//! The driver stops accepting (it closes its listeners), calls
//! [`Engine::handle_drain`] once, and goes on driving the engine until
//! [`Engine::is_drained`] (or its own `--drain-timeout`). Each connection,
//! by state:
//!
//! | state | what the client sees |
//! |-------|----------------------|
//! | between requests (keep-alive) | the connection is closed (FIN) after anything still queued |
//! | a request arriving, a body, a publish waiting for its commit | its answer, with `Connection: close`, then FIN; a publish is committed and answered as always |
//! | a parked long-poll | answered at once with what it has (`"messages":[]` and the channel's `last_id`), `Retry-After`, `Connection: close` |
//! | an event stream | the events queued, then `retry: N` and the last chunk (`0\r\n\r\n`), then FIN; `EventSource` reconnects after `N` ms with `Last-Event-ID` |
//! | a WebSocket | the frames queued, then close 1001 (going away); the reason of a `pushwire.json` client's Close is `{"last_id":N}`, the last message it was sent, to reconnect with `?since=N` |
//!
//! Requests that arrive during the drain are answered with
//! `Connection: close`; a stream or WebSocket opened during it is ended at
//! once the same way.
//!
//! **Jitter.** If every client came back after the same `retry`, the new
//! process would take all of them in the same millisecond. So `N` is
//! `--sse-retry` plus a jitter from 0 to `--sse-retry` (2 to 4 s by
//! default), and a long-poll's `Retry-After` is the same delay in whole
//! seconds, rounded up. The jitter is drawn from the seed the driver gives
//! and the connection's id ([`drain_retry_ms`]), so that a test can tell
//! in advance what each connection gets.
//!
//! Why 1001 and not 1012 (Service Restart): RFC 6455 section 7.4.1 defines
//! 1001 for "a server going down", and every client library knows it;
//! 1012 is only in IANA's registry, and the server cannot know whether a
//! new process follows.

use std::time::Instant;

use crate::broker::{Channel, ConnId};

use super::conn::{Conn, Cx, End, State};
use super::Engine;

/// The `retry:` (and, rounded up to seconds, the `Retry-After`) a drain
/// gives connection `id`: `base` (`--sse-retry`) plus a jitter from 0 to
/// `base` drawn from `seed` and `id` (SplitMix64).
///
/// ```
/// use pushwire::engine::drain_retry_ms;
///
/// let retry = drain_retry_ms(7, 3, 2000);
/// assert!((2000..=4000).contains(&retry));
/// assert_eq!(retry, drain_retry_ms(7, 3, 2000), "the same seed, the same draw");
/// assert_eq!(drain_retry_ms(7, 3, 0), 0);
/// ```
pub fn drain_retry_ms(seed: u64, id: ConnId, base: u64) -> u64 {
    let mut z = (seed ^ (id as u64).rotate_left(32)).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    base.saturating_add(z % base.saturating_add(1))
}

impl Engine {
    /// The server is stopping: every connection ends cleanly, each as its
    /// transport says (see the module docs of `drain.rs`): keep-alive
    /// connections close, answers in progress say `Connection: close`,
    /// parked long-polls are answered with `Retry-After`, streams end with
    /// `retry:` and the last chunk, WebSockets close with 1001 (and a
    /// `pushwire.json` client the last id it was sent). `seed` draws each
    /// connection's retry jitter ([`drain_retry_ms`]). Publishes in flight
    /// are committed and answered as always. A second call does nothing.
    ///
    /// The driver should stop accepting first, then drive the engine as
    /// usual until [`Engine::is_drained`], or until its own deadline.
    pub fn handle_drain(&mut self, now: Instant, seed: u64) {
        if self.drain_seed.is_some() {
            return;
        }
        self.drain_seed = Some(seed);
        self.common.draining = true;
        let ids: Vec<ConnId> = self.conns.iter().map(|(id, _)| id).collect();
        for id in ids {
            self.drain_conn(id, now);
        }
        self.run_resumes(now);
    }

    /// Whether [`Engine::handle_drain`] was called.
    pub fn is_draining(&self) -> bool {
        self.drain_seed.is_some()
    }

    /// Whether a drain is over: no connection left, and no publish the
    /// store or the flow control still holds.
    pub fn is_drained(&self) -> bool {
        self.is_draining()
            && self.conns.is_empty()
            && self.appends.is_empty()
            && self.flow.held() == 0
    }

    /// Ends one connection the drain's way (nothing, unless draining).
    pub(super) fn drain_conn(&mut self, id: ConnId, now: Instant) {
        let Some(seed) = self.drain_seed else {
            return;
        };
        let Some(entry) = self.conns.get(id) else {
            return;
        };
        let retry_ms = drain_retry_ms(seed, id, self.common.config.sse_retry_ms);
        let subscription = entry.subscription;
        self.with_conn(id, now, |conn, cx| {
            let channel = subscription.and_then(|s| cx.broker.channel(s.channel));
            conn.drain(channel, retry_ms, cx);
        });
        self.resume_if_held(id);
    }
}

impl Conn {
    /// The server drains: this connection ends as its state says (the
    /// table in the module docs of `drain.rs`).
    pub(super) fn drain(&mut self, channel: Option<&Channel>, retry_ms: u64, cx: &mut Cx<'_>) {
        if self.is_ending() {
            return;
        }
        match &mut self.state {
            State::Idle => self.end(End::AfterOutput, cx),
            // Answered with `Connection: close` (`Cx::draining`).
            State::Head => {}
            State::Body(body) => body.reply.keep_alive = false,
            State::Publishing(publishing) => publishing.reply.keep_alive = false,
            State::Parked(_) => self.drain_parked(channel, retry_ms, cx),
            State::Streaming(_) => self.drain_stream(retry_ms, cx),
            State::WebSocket(..) => self.drain_websocket(cx),
            State::Closing | State::Lingering => {}
        }
    }
}
