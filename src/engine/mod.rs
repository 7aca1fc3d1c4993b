//! The sans-IO server: every connection's state machine, the broker and the
//! timer wheel, driven by bytes and clock values.
//!
//! The [`Engine`] never touches a socket and never reads the clock. The
//! reactor (or a test, or a fuzzer, or an embedder's own event loop) tells
//! it what happened, and asks it what to do:
//!
//! ```text
//! reactor                              engine
//!   accept()            ── open(now) ──▶  new connection (503 if full)
//!   read() -> bytes     ── receive() ──▶  parse, route, publish, respond
//!   read() -> EOF       ── peer_closed()▶
//!   poll timeout        ── advance() ──▶  header/idle/linger deadlines
//!                       ◀─ pop_ready() ─  a connection has something to do
//!                       ◀─ next_step() ─  Write / Wait / Shutdown / Close
//!   writev(fill())      ── written(n) ─▶  drop what the kernel took
//! ```
//!
//! Every publish, whatever its source (an HTTP `POST`, a WebSocket text
//! frame, the embedder's [`crate::Hub`]), goes through [`Engine::publish`],
//! which appends to the channel's history and queues the message's shared
//! bytes on every subscriber.

mod conn;
mod http;
mod longpoll;
pub mod output;
mod query;
mod stream;
mod websocket;

use std::collections::VecDeque;
use std::io::IoSlice;
use std::rc::Rc;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::broker::{valid_channel_name, Broker, BrokerLimits, ChannelId, ConnId, Message};
use crate::config::Config;
use crate::http::response::write_error;
use crate::http::HttpDate;
use crate::timer::Wheel;
use crate::trace::{Direction, Tracer};

use conn::{flag, Conn, State};

/// Connections accepted past `max_connections` only to be told `503`: at
/// most this many at a time; beyond that the reactor closes at once.
pub const REJECT_SLACK: usize = 64;

/// Output bytes above which a connection's further pipelined requests wait
/// until the client has read some answers.
const OUTPUT_HIGH_WATER: usize = 256 * 1024;

/// The reason given when `max_channels` refuses a new channel.
pub(crate) const TOO_MANY_CHANNELS: &str = "too many channels (see --max-channels)";

/// Timer wheel resolution.
pub const TICK: Duration = Duration::from_millis(4);

/// What the reactor should do next for a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Output is queued: gather it with [`Engine::fill`] and write it.
    Write,
    /// Nothing to send; keep reading.
    Wait,
    /// Everything is sent and the connection is ending: shut down the
    /// write side, keep reading, and call [`Engine::shut_down`].
    Shutdown,
    /// Close the socket now and call [`Engine::remove`].
    Close,
}

/// Why a publish was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishError {
    /// The channel name is not 1-128 bytes of `[A-Za-z0-9._~-]`.
    InvalidChannel,
    /// The channel does not exist and `max_channels` do.
    TooManyChannels,
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishError::InvalidChannel => {
                f.write_str("channel names are 1-128 bytes of [A-Za-z0-9._~-]")
            }
            PublishError::TooManyChannels => f.write_str("too many channels (see --max-channels)"),
        }
    }
}

impl std::error::Error for PublishError {}

/// The whole server below the sockets.
#[derive(Debug)]
pub struct Engine {
    config: Config,
    conns: Slab<Conn>,
    broker: Broker,
    wheel: Wheel<ConnId>,
    /// Connections with something to do, in the order they got it: a
    /// fan-out is written in subscription order, and the publisher's own
    /// answer (queued after its deliveries) goes last.
    ready: VecDeque<ConnId>,
    fired: Vec<ConnId>,
    /// Reused list of the long-polls a publish answers.
    waiters: Vec<ConnId>,
    /// Reused scratch buffer for response bodies.
    scratch: Vec<u8>,
    /// The SSE heartbeat comment, chunked and bare, shared by every stream.
    heartbeat: (Rc<[u8]>, Rc<[u8]>),
    /// The wire tracer, when `--trace` is on.
    tracer: Option<Box<Tracer>>,
    /// Recent poll answers, shared while they stay true.
    answers: http::KeptAnswers,
    /// The `Date` of every response, as the reactor last set it.
    date: HttpDate,
}

impl Engine {
    /// An engine with `config`'s limits; `now` starts its clock.
    pub fn new(config: Config, now: Instant) -> Engine {
        Engine {
            tracer: None,
            broker: Broker::new(BrokerLimits {
                history: config.history,
                max_channels: config.max_channels,
                max_history_bytes: config.max_history_bytes,
            }),
            config,
            conns: Slab::new(),
            wheel: Wheel::new(now, TICK),
            ready: VecDeque::new(),
            fired: Vec::new(),
            waiters: Vec::new(),
            scratch: Vec::new(),
            heartbeat: stream::heartbeat_bytes(),
            answers: http::KeptAnswers::default(),
            date: HttpDate::default(),
        }
        .with_tracer()
    }

    fn with_tracer(mut self) -> Engine {
        if self.config.trace {
            self.tracer = Some(Box::new(Tracer::new()));
        }
        self
    }

    /// Moves the wire tracer's lines (with `--trace`) into `out`.
    pub fn take_trace(&mut self, out: &mut Vec<String>) {
        if let Some(tracer) = &mut self.tracer {
            tracer.take_lines(out);
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Lowers the connection limit (when the open-file limit is lower).
    pub fn set_max_connections(&mut self, max: usize) {
        self.config.max_connections = max;
    }

    /// The broker, for reading channel state.
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Open connections, those being refused with `503` included.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Bytes of input connection `id` holds, received but not yet
    /// processed: a request head split across reads, or requests pipelined
    /// behind a parked long-poll, a stream or unsent output. Bounded (see
    /// `docs/limits.md`); exposed for tests and the fuzz targets.
    pub fn buffered_input(&self, id: ConnId) -> usize {
        self.conns.get(id).map_or(0, |c| c.inbuf.len())
    }

    /// Whether even a `503` cannot be afforded now: the reactor should
    /// close a new connection without a word.
    pub fn saturated(&self) -> bool {
        self.conns.len() >= self.config.max_connections.saturating_add(REJECT_SLACK)
    }

    /// A new connection. Past `max_connections` it is opened only to send
    /// `503` and close.
    pub fn open(&mut self, now: Instant) -> ConnId {
        let full = self.conns.len() >= self.config.max_connections;
        let id = self.conns.insert(Conn::new());
        if let Some(tracer) = &mut self.tracer {
            tracer.opened(id);
        }
        if full {
            self.fail(id, 503, "server at its connection limit", now);
        } else {
            self.set_timer(id, now + self.config.idle_timeout);
        }
        id
    }

    /// Bytes arrived on a connection.
    pub fn receive(&mut self, id: ConnId, data: &[u8], now: Instant) {
        if let Some(tracer) = &mut self.tracer {
            tracer.observe(id, Direction::In, data);
        }
        self.process_input(id, data, now);
    }

    fn process_input(&mut self, id: ConnId, data: &[u8], now: Instant) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if matches!(conn.state, State::Closing | State::Lingering) {
            return; // input after an error or during linger is dropped
        }
        if conn.inbuf.is_empty() {
            let used = self.process(id, data, now);
            self.keep_unconsumed(id, data.get(used..).unwrap_or(&[]));
        } else {
            let mut buf = std::mem::take(&mut conn.inbuf);
            buf.extend_from_slice(data);
            let used = self.process(id, &buf, now);
            buf.drain(..used.min(buf.len()));
            if let Some(conn) = self.conns.get_mut(id) {
                if !buf.is_empty() {
                    conn.inbuf = buf;
                }
            }
            self.bound_held_input(id);
        }
    }

    fn keep_unconsumed(&mut self, id: ConnId, rest: &[u8]) {
        if rest.is_empty() {
            return;
        }
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if matches!(conn.state, State::Closing | State::Lingering) {
            return;
        }
        conn.inbuf.extend_from_slice(rest);
        self.bound_held_input(id);
    }

    /// A head in progress is bounded by the parser (431), WebSocket input
    /// and requests waiting behind backed-up output by the reactor not
    /// reading (`wants_input`); input held behind a parked long-poll or a
    /// stream, which the reactor keeps reading to notice a close, is
    /// bounded here: past twice `max_header_bytes` the connection is closed.
    /// Called after every receive that leaves input buffered, however the
    /// input arrived (in one read or many).
    fn bound_held_input(&mut self, id: ConnId) {
        let limit = self.config.max_header_bytes;
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let held = matches!(conn.state, State::Parked(_) | State::Streaming(_));
        if held && conn.inbuf.len() > limit.saturating_mul(2) {
            conn.inbuf = Vec::new();
            conn.flags |= flag::CLOSE_NOW;
            self.mark_ready(id);
        }
    }

    /// The peer closed its side (read returned 0).
    pub fn peer_closed(&mut self, id: ConnId, _now: Instant) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.flags |= flag::PEER_CLOSED;
        match conn.state {
            // A half-closed client still gets the answers it asked for.
            State::Closing if !conn.out.is_empty() => {}
            _ if !conn.out.is_empty() && conn.reads_requests() => conn.state = State::Closing,
            _ => conn.flags |= flag::CLOSE_NOW,
        }
        self.mark_ready(id);
    }

    /// Whether the reactor should read from the connection now. False while
    /// its unsent output is large: the client must read first.
    pub fn wants_input(&self, id: ConnId) -> bool {
        self.conns.get(id).is_some_and(|c| {
            !c.has(flag::CLOSE_NOW | flag::PEER_CLOSED)
                && (c.out.len() < OUTPUT_HIGH_WATER
                    || !(c.reads_requests() || matches!(c.state, State::WebSocket(_))))
        })
    }

    /// Sets the wall-clock time for the `Date` header of the responses
    /// written from now on, in seconds since the Unix epoch.
    ///
    /// The engine reads no clock: the reactor calls this once per loop
    /// pass, and only a new second costs anything (formatting 29 bytes,
    /// and forgetting the kept poll answers, which carry the old date).
    /// Until it is called, responses are dated 1970-01-01.
    pub fn set_wall_clock(&mut self, unix_secs: u64) {
        if unix_secs != self.date.unix_secs() {
            self.date = HttpDate::from_unix_secs(unix_secs);
            self.answers = http::KeptAnswers::default();
        }
    }

    /// Fires every deadline that is due.
    pub fn advance(&mut self, now: Instant) {
        let mut fired = std::mem::take(&mut self.fired);
        self.wheel.advance(now, &mut fired);
        for id in fired.drain(..) {
            if let Some(conn) = self.conns.get_mut(id) {
                conn.timer = None;
                self.on_deadline(id, now);
            }
        }
        self.fired = fired;
    }

    /// The earliest time [`Engine::advance`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.wheel.next_expiry()
    }

    fn on_deadline(&mut self, id: ConnId, now: Instant) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        match conn.state {
            State::Idle | State::Closing | State::Lingering => {
                conn.flags |= flag::CLOSE_NOW;
                self.mark_ready(id);
            }
            State::Head | State::Body(_) => {
                self.fail(id, 408, "request took too long", now);
            }
            State::Parked(_) => self.longpoll_timed_out(id, now),
            State::Streaming(_) => self.stream_deadline(id, now),
            State::WebSocket(_) => self.ws_deadline(id, now),
        }
    }

    /// The next connection with something to do, if any.
    pub fn pop_ready(&mut self) -> Option<ConnId> {
        let id = self.ready.pop_front()?;
        if let Some(conn) = self.conns.get_mut(id) {
            conn.flags &= !flag::READY;
        }
        Some(id)
    }

    /// Puts a connection on the ready list (the reactor does this when a
    /// socket that had a backlog becomes writable again).
    pub fn wake(&mut self, id: ConnId) {
        self.mark_ready(id);
    }

    fn mark_ready(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(id) {
            if !conn.has(flag::READY) {
                conn.flags |= flag::READY;
                self.ready.push_back(id);
            }
        }
    }

    /// What the reactor should do for `id` now. Input that was held back
    /// (requests pipelined behind a long-poll, or behind too much unsent
    /// output) is processed here first, outside any publish.
    pub fn next_step(&mut self, id: ConnId, now: Instant) -> Step {
        let resume = self.conns.get(id).is_some_and(|c| {
            c.has(flag::RESUME)
                && (c.reads_requests() || matches!(c.state, State::WebSocket(_)))
                && c.out.len() < OUTPUT_HIGH_WATER
        });
        if resume {
            if let Some(conn) = self.conns.get_mut(id) {
                conn.flags &= !flag::RESUME;
                let buf = std::mem::take(&mut conn.inbuf);
                self.process_input(id, &buf, now);
            }
        }
        let Some(conn) = self.conns.get(id) else {
            return Step::Close;
        };
        if conn.has(flag::CLOSE_NOW) {
            Step::Close
        } else if !conn.out.is_empty() {
            Step::Write
        } else if matches!(conn.state, State::Closing) {
            if conn.has(flag::PEER_CLOSED) {
                Step::Close
            } else {
                Step::Shutdown
            }
        } else {
            Step::Wait
        }
    }

    /// Fills `iov` with the connection's unsent bytes; returns how many
    /// slices were used.
    pub fn fill<'a>(&'a self, id: ConnId, iov: &mut [IoSlice<'a>]) -> usize {
        self.conns.get(id).map_or(0, |c| c.out.fill(iov))
    }

    /// Unsent bytes of a connection.
    pub fn unsent(&self, id: ConnId) -> usize {
        self.conns.get(id).map_or(0, |c| c.out.len())
    }

    /// The kernel took `n` bytes of the connection's output.
    pub fn written(&mut self, id: ConnId, n: usize) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if let Some(tracer) = &mut self.tracer {
            conn.out
                .visit_prefix(n, |bytes| tracer.observe(id, Direction::Out, bytes));
        }
        let was_throttled = conn.out.len() >= OUTPUT_HIGH_WATER;
        conn.out.consume(n);
        if was_throttled && conn.out.len() < OUTPUT_HIGH_WATER && !conn.inbuf.is_empty() {
            conn.flags |= flag::RESUME;
        }
    }

    /// The reactor shut down the write side: linger until EOF or the timer.
    pub fn shut_down(&mut self, id: ConnId, now: Instant) {
        if let Some(conn) = self.conns.get_mut(id) {
            conn.state = State::Lingering;
            conn.inbuf = Vec::new();
            self.set_timer(id, now + self.config.linger);
        }
    }

    /// The reactor closed the socket: forget the connection.
    pub fn remove(&mut self, id: ConnId) {
        let Some(conn) = self.conns.try_remove(id) else {
            return;
        };
        if let Some(tracer) = &mut self.tracer {
            tracer.closed(id);
        }
        if let Some(handle) = conn.timer {
            self.wheel.cancel(handle);
        }
        if let Some(sub) = conn.subscription {
            self.broker.unsubscribe(sub);
        }
        if conn.has(flag::READY) {
            self.ready.retain(|&r| r != id);
        }
    }

    /// Publishes `data` on `channel` and delivers it to every subscriber;
    /// returns the message id.
    pub fn publish(
        &mut self,
        channel: &str,
        data: &str,
        now: Instant,
    ) -> Result<u64, PublishError> {
        if !valid_channel_name(channel) {
            return Err(PublishError::InvalidChannel);
        }
        let (channel_id, message) = self
            .broker
            .publish(channel, data)
            .map_err(|_| PublishError::TooManyChannels)?;
        self.deliver(channel_id, &message, now);
        Ok(message.id)
    }

    /// Publishes into a channel known by id (a WebSocket subscriber's).
    fn publish_in(&mut self, channel: ChannelId, data: &str, now: Instant) {
        if let Some(message) = self.broker.publish_in(channel, data) {
            self.deliver(channel, &message, now);
        }
    }

    /// Hands a new message to the channel's waiting subscribers.
    fn deliver(&mut self, channel: ChannelId, message: &Rc<Message>, now: Instant) {
        self.answer_parked(channel, message, now);
        self.feed_streams(channel, message, now);
        self.feed_websockets(channel, message, now);
    }

    /// Replaces the connection's deadline (one per connection, whatever
    /// its state: moving it is O(1) and keeps the handle).
    fn set_timer(&mut self, id: ConnId, deadline: Instant) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if let Some(handle) = conn.timer {
            if self.wheel.reschedule(handle, deadline) {
                return;
            }
        }
        conn.timer = Some(self.wheel.insert(deadline, id));
    }

    /// Answers with an error status and closes: the request can't be trusted.
    fn fail(&mut self, id: ConnId, status: u16, reason: &str, now: Instant) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.inbuf = Vec::new();
        let date = &self.date;
        conn.out
            .write_with(|out| write_error(out, status, date, reason, true));
        self.close_after_output(id, now);
    }

    /// Sends what is queued, then closes (with a bounded linger).
    fn close_after_output(&mut self, id: ConnId, now: Instant) {
        if let Some(conn) = self.conns.get_mut(id) {
            conn.state = State::Closing;
            conn.inbuf = Vec::new();
        }
        self.set_timer(id, now + self.config.linger);
        self.mark_ready(id);
    }
}
#[cfg(test)]
mod tests {
    use std::mem::size_of;

    /// Every idle connection costs its `Conn`, and a WebSocket its
    /// `WsConn` too: keep them small (issue 7 aims at 256 bytes of resident
    /// memory per idle connection, everything included).
    #[test]
    fn idle_connection_state_stays_small() {
        assert!(
            size_of::<super::conn::Conn>() <= 120,
            "{}",
            size_of::<super::conn::Conn>()
        );
        assert!(size_of::<super::websocket::WsConn>() <= 32);
        assert!(size_of::<super::conn::State>() <= 16);
        assert!(size_of::<Option<crate::broker::Subscription>>() <= 12);
    }
}
