//! The sans-IO server: the endpoint that holds every connection's state
//! machine, the broker, the timer wheel and the store, driven by bytes and
//! clock values.
//!
//! The [`Engine`] never touches a socket and never reads the clock. Its
//! driver (the reactor in [`crate::server`], a test, a fuzzer, an
//! embedder's own event loop; `examples/blocking.rs` drives it from
//! blocking `std::net`) tells it what happened with the `handle_*`
//! methods, and asks what to do with the `poll_*` methods:
//!
//! ```text
//! driver                                   engine
//!   set the Date        ── handle_wall_clock(secs) ──▶
//!   accept()            ── handle_accept(now) ──────▶  a ConnId (503 if full)
//!   read() -> bytes     ── handle_input(id, ..) ────▶  parse, route, publish, respond
//!   read() -> EOF       ── handle_eof(id, now) ─────▶
//!   embedder's publish  ── handle_publish(..) ──────▶
//!   a store answered    ── handle_commits(now) ─────▶
//!   the clock moved     ── handle_timeout(now) ─────▶  header/idle/linger/ping deadlines,
//!                                                  messages past the history ttl
//!                       ◀── poll_ready() ───────────  a connection has something to do
//!                       ◀── poll_step(id) ──────────  Write / Wait / Shutdown / Close
//!   writev(poll_output) ── handle_written(id, n) ───▶  drop what the kernel took
//!   shutdown(Write)     ── handle_write_shutdown ───▶  linger
//!   close()             ── handle_closed(id) ───────▶  forget it
//!                       ◀── poll_event() ───────────  an embedder's publish committed
//!   sleep until         ◀── poll_timeout() ─────────  the next deadline
//! ```
//!
//! # The order of calls in one pass
//!
//! 1. [`Engine::handle_wall_clock`] once, with the wall-clock second, for
//!    the `Date` header.
//! 2. For every new connection, [`Engine::handle_accept`] (or
//!    [`Engine::handle_accept_metrics`] for one of a metrics listener),
//!    unless [`Engine::saturated`]: then close it without a word and
//!    call [`Engine::handle_accept_dropped`].
//! 3. For every readable connection, while [`Engine::wants_input`]: read,
//!    then [`Engine::handle_input`] with the bytes, or
//!    [`Engine::handle_eof`] at end of file.
//! 4. [`Engine::handle_publish`] for the embedder's publishes, and
//!    [`Engine::handle_commits`] when a store that commits later may have
//!    answered.
//! 5. [`Engine::handle_timeout`] with the current time.
//! 6. While [`Engine::poll_ready`] names a connection, act on
//!    [`Engine::poll_step`] until it says `Wait`: `Write`: gather
//!    [`Engine::poll_output`], write, [`Engine::handle_written`] with what
//!    the kernel took (stop at a short write and wait for writability,
//!    then [`Engine::handle_writable`]); `Shutdown`: shut the write side,
//!    [`Engine::handle_write_shutdown`]; `Close`: close the socket,
//!    [`Engine::handle_closed`].
//! 7. Drain [`Engine::poll_event`].
//! 8. Sleep until readiness or [`Engine::poll_timeout`]; before that,
//!    [`Engine::handle_pass_time`] with how long the pass took, for
//!    `pushwire_loop_pass_seconds`.
//!
//! `GET /metrics` is answered by the engine from its own counters
//! (`stats.rs`, `scrape.rs`), with the `process_*` figures of the
//! [`ProcessProbe`] the driver installed ([`Engine::set_process_probe`]).
//!
//! The input methods do all their work before they return, up to a
//! budget: a request that arrives whole is answered in the same call, a
//! publish reaches every subscriber's queue in the same call (with the
//! in-memory store), and requests held back (pipelined behind a
//! long-poll or behind unsent output) are processed as soon as the
//! connection can take them, in the call that made it so. A connection
//! that uses up `Config::max_work_per_pass` (requests and frames read,
//! and a share of the fan-out of its publishes) keeps the rest of its
//! input for the next pass: [`Engine::wants_input`] says not to read it
//! meanwhile, [`Engine::poll_timeout`] says the next
//! [`Engine::handle_timeout`] is due at once, and that call goes on with
//! it. The `poll_*` methods only report.
//!
//! # Where the rules live
//!
//! Each connection is a state machine (`conn.rs`, and one file per
//! technique: `request.rs` and `endpoints.rs` for HTTP, `publish.rs`,
//! `longpoll.rs`, `stream.rs` for SSE, `websocket.rs`). What crosses
//! connections comes back from a connection as a value (join a channel,
//! publish) and is carried out here: the connection table, the broker's
//! subscriber sets, the timer wheel, the ready list, the fan-out of a
//! committed message, and the store ([`store`]: publish is a commit).
//!
//! The timer wheel here holds connection deadlines only. Messages leave
//! history by age on the broker's own wheel, one timer per channel
//! ([`crate::broker`], "How messages leave history"): the engine passes
//! the time on in [`Engine::handle_timeout`] and counts the broker's next
//! expiry in [`Engine::poll_timeout`].

pub mod access;
mod answers;
mod conn;
mod drain;
mod endpoints;
mod flow;
mod longpoll;
pub mod output;
mod publish;
mod query;
pub mod refusal;
mod replay;
mod request;
mod scrape;
mod slow;
mod stats;
pub mod store;
mod stream;
mod websocket;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::IoSlice;
use std::rc::Rc;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::broker::{
    AppendError, Broker, BrokerLimits, ChannelId, ChannelName, ConnId, Message, Subscription,
    Transport,
};
use crate::config::Config;
use crate::http::HttpDate;
use crate::timer::{TimerHandle, Wheel};

use answers::Answers;
use conn::{Common, Conn, Cx, Fed, Join, Target, Want};

pub use drain::drain_retry_ms;
pub use refusal::{Allow, Refusal};
pub use scrape::ProcessProbe;
pub use slow::SlowConsumerCounts;
pub use store::{Append, Commit, Decision, MemoryStore, Replicated, Store, StoreError, Ticket};
pub use websocket::JSON_PROTOCOL;

/// Connections accepted past `max_connections` only to be told `503`: at
/// most this many at a time; beyond that the driver closes at once.
pub const REJECT_SLACK: usize = 64;

/// Timer wheel resolution.
pub const TICK: Duration = Duration::from_millis(4);

/// Deadlines handled in one [`Engine::handle_timeout`]: ten thousand
/// heartbeats or long-poll timeouts due at the same tick are handled over
/// several passes, with reads and writes in between; until they are done,
/// [`Engine::poll_timeout`] says it is due at once. (An internal slice of
/// the loop's time, like the reactor's flushes and accepts per pass, not
/// a limit a client meets: docs/limits.md.)
pub const TIMERS_PER_PASS: usize = 1024;

/// A fan-out to more subscribers than this is handed to the driver after
/// the connections that have something to do because of their own input
/// or timer ([`Engine::poll_ready`]); a smaller one goes with them, so
/// that a poll or a channel with few subscribers is not served behind a
/// channel with ten thousand.
pub const LARGE_FAN_OUT: usize = 256;

/// What the driver should do next for a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Output is queued: gather it with [`Engine::poll_output`] and write it.
    Write,
    /// Nothing to send; keep reading.
    Wait,
    /// Everything is sent and the connection is ending: shut down the
    /// write side, keep reading, and call [`Engine::handle_write_shutdown`].
    Shutdown,
    /// Close the socket now and call [`Engine::handle_closed`].
    Close,
}

/// Why an embedder's publish was refused or not committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishError {
    /// The channel name is not 1-128 bytes of `[A-Za-z0-9._~-]`.
    InvalidChannel,
    /// The channel does not exist and `max_channels` do.
    TooManyChannels,
    /// The store did not keep the message.
    NotStored(StoreError),
    /// The server stopped before the message was committed.
    Stopped,
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::InvalidChannel => Refusal::BadChannel.fmt(f),
            PublishError::TooManyChannels => Refusal::TooManyChannels.fmt(f),
            PublishError::NotStored(e) => e.fmt(f),
            PublishError::Stopped => {
                f.write_str("the server stopped before the message was stored")
            }
        }
    }
}

impl std::error::Error for PublishError {}

/// What the engine reports to its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An embedder's publish ([`Engine::handle_publish`]) was decided: the
    /// message's id, or why it was not kept.
    Published {
        /// The token given with the publish.
        token: u64,
        /// The id, or the reason.
        outcome: Result<u64, PublishError>,
    },
}

/// Who asked for an append, to be answered at its commit.
#[derive(Clone, Copy, Debug)]
enum Origin {
    /// A connection, known by id and by the serial number it was opened
    /// with (an id is reused once its connection is gone).
    Conn { id: ConnId, serial: u32 },
    /// The embedder, with its token.
    Embedder(u64),
}

/// An append the store has not decided yet.
#[derive(Debug)]
struct InFlight {
    channel: ChannelId,
    data: String,
    origin: Origin,
    serial: u32,
    /// When it was sent to the store: its commit latency counts from here.
    appended: Instant,
}

/// Input received but not processed yet. Most connections never hold
/// any, so an empty one is one pointer-sized `None`, not an empty `Vec`
/// (which would cost every idle connection 16 bytes more).
// The box is the point: `None` is 8 bytes where an empty `Vec` is 24,
// and the extra allocation is paid only by a connection that holds input.
#[allow(clippy::box_collection)]
#[derive(Debug, Default)]
struct Held(Option<Box<Vec<u8>>>);

impl Held {
    fn bytes(&self) -> &[u8] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    fn len(&self) -> usize {
        self.bytes().len()
    }

    fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    fn extend(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.0.get_or_insert_default().extend_from_slice(bytes);
        }
    }

    /// Drops the first `n` bytes (what was processed); the buffer goes
    /// when nothing is left.
    fn consume(&mut self, n: usize) {
        if let Some(buf) = &mut self.0 {
            buf.drain(..n.min(buf.len()));
            if buf.is_empty() {
                self.0 = None;
            }
        }
    }

    fn clear(&mut self) {
        self.0 = None;
    }
}

/// What the engine keeps for one connection besides its state machine.
#[derive(Debug)]
struct Entry {
    conn: Conn,
    /// Input received but not processed yet: a request head split across
    /// reads, or requests pipelined behind a wait or behind unsent output.
    held: Held,
    /// The connection's one deadline, whatever its state.
    timer: Option<TimerHandle>,
    /// Where it waits for messages: kept exactly while its state is a
    /// subscriber's (see [`Engine::settle`]).
    subscription: Option<Subscription>,
    /// On the ready list.
    ready: bool,
    /// Used up its work for this pass with input left: continued in the
    /// next `handle_timeout`, and not read meanwhile.
    yielded: bool,
    /// Its publishes the store has not decided yet (at most
    /// `max_unstored_publishes`: a WebSocket publishes a message per text
    /// frame without waiting for an answer, so past the limit its frames
    /// are not read, and the driver stops reading it, as for backed-up
    /// output, until the store catches up).
    appending: u16,
    serial: u32,
}

impl Entry {
    /// Whether it may publish more before the store decides some.
    fn may_append(&self, config: &Config) -> bool {
        usize::from(self.appending) < config.max_unstored_publishes
    }

    /// Whether the connection processes input now: its state takes it,
    /// it is not at its limit of undecided publishes, and it has not used
    /// up this pass's work (a publish decided at once must not give its
    /// publisher a fresh budget in the same pass: `continue_yielded` goes
    /// on in the next).
    fn takes_input(&self, config: &Config) -> bool {
        self.conn.takes_input() && self.may_append(config) && !self.yielded
    }
}

/// The whole server below the sockets.
#[derive(Debug)]
pub struct Engine {
    /// The configuration, the broker, the date and the shared answers:
    /// what connections read while they make their transitions.
    common: Common,
    conns: Slab<Entry>,
    wheel: Wheel<ConnId>,
    /// Connections with something to do because of their own input or
    /// timer (an answer, a pong, a close), in the order they got it. The
    /// driver is given these first, so that a fan-out to ten thousand
    /// subscribers does not queue everyone else's answers behind it.
    ready: VecDeque<ConnId>,
    /// Subscribers a fan-out fed, in subscription order: given to the
    /// driver after `ready`.
    fed_ready: VecDeque<ConnId>,
    /// A fan-out is running: connections it makes ready go to `fed_ready`.
    in_fan_out: bool,
    /// Appends held back until the large fan-outs before them are
    /// written (`flow.rs`).
    flow: flow::Flow,
    /// Connections that can take their held input again.
    resume: VecDeque<ConnId>,
    /// Deadlines that fired, and how many of them were handled: more than
    /// a pass's worth wait for the next `handle_timeout`.
    fired: Vec<ConnId>,
    fired_done: usize,
    /// Long-polls answered by the message being delivered.
    answered: Vec<ConnId>,
    /// Stream subscribers the message being delivered changed (cut off),
    /// with their new deadlines.
    changed: Vec<(ConnId, Option<Instant>)>,
    /// Connections that used up their work for a pass with input left,
    /// and when; continued in the next `handle_timeout`.
    yielded: Vec<ConnId>,
    yielded_at: Option<Instant>,
    /// Subscribers fed since the count was last taken: the cost of a
    /// publish, charged to the publisher's work.
    fed: usize,
    /// Replays from history not finished, by connection: the id after
    /// which the next page starts (see `replay.rs`). Empty unless some
    /// subscriber resumes from far behind.
    replays: HashMap<ConnId, u64>,
    store: Box<dyn Store>,
    appends: Slab<InFlight>,
    /// Numbers connections and appends, to tell a reused slot from the
    /// one a late answer is for.
    serial: u32,
    events: VecDeque<Event>,
    /// Set by [`Engine::handle_drain`]: the seed of the drain's retry
    /// jitter (`drain.rs`).
    drain_seed: Option<u64>,
    /// The driver's `process_*` metrics, read when `/metrics` is asked.
    probe: Option<Box<dyn ProcessProbe>>,
}

impl Engine {
    /// An engine with `config`'s limits and the in-memory store; `now`
    /// starts its clock.
    pub fn new(config: Config, now: Instant) -> Engine {
        Engine::with_store(config, Box::new(MemoryStore::default()), now)
    }

    /// Puts a message read back from a durable store (the log of
    /// `--data-dir`) into its channel's history, before the loop serves
    /// anyone; in the store's order. A message the history bounds have no
    /// room for is evicted as any other; one whose id is not above its
    /// channel's last is refused. Its age (`history_ttl`) counts from
    /// `now`: the log does not carry publish times.
    pub fn restore(
        &mut self,
        channel: &str,
        id: u64,
        data: &str,
        now: Instant,
    ) -> Result<(), AppendError> {
        self.common.broker.restore(channel, id, data.into(), now)
    }

    /// An engine whose publishes are committed by `store`.
    pub fn with_store(config: Config, store: Box<dyn Store>, now: Instant) -> Engine {
        let limits = BrokerLimits {
            history: config.history,
            max_channels: config.max_channels,
            max_history_bytes: config.max_history_bytes,
            history_ttl: config.history_ttl,
        };
        let mut broker = Broker::new(limits, now, TICK);
        broker.raise_floor(store.floor());
        let ws_limits = crate::ws::Limits {
            max_message_bytes: config.max_message_bytes,
            max_fragments: config.max_fragments,
            max_control_frames_per_sec: config.max_control_frames_per_sec,
            message_timeout: config.message_timeout,
            ping_interval: config.ping_interval,
            slack: TICK,
        };
        Engine {
            common: Common {
                config,
                broker,
                date: HttpDate::default(),
                answers: Answers::new(),
                ws_limits,
                owned_output: 0,
                kernel_send_buffer: 0,
                slow: SlowConsumerCounts::default(),
                draining: false,
                stats: stats::Stats::default(),
            },
            conns: Slab::new(),
            wheel: Wheel::new(now, TICK),
            ready: VecDeque::new(),
            fed_ready: VecDeque::new(),
            in_fan_out: false,
            flow: flow::Flow::default(),
            resume: VecDeque::new(),
            fired: Vec::new(),
            fired_done: 0,
            answered: Vec::new(),
            changed: Vec::new(),
            yielded: Vec::new(),
            yielded_at: None,
            fed: 0,
            replays: HashMap::new(),
            store,
            appends: Slab::new(),
            serial: 0,
            events: VecDeque::new(),
            drain_seed: None,
            probe: None,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.common.config
    }

    /// Lowers the connection limit (when the open-file limit is lower).
    pub fn set_max_connections(&mut self, max: usize) {
        self.common.config.max_connections = max;
    }

    /// Tells the engine how many bytes of each connection's output the
    /// kernel may hold once written: the send buffer the driver fixed
    /// for its sockets, and what the kernel may queue past it. The
    /// slow-consumer bound (`max_backlog_bytes`) then counts that buffer
    /// as full: a stream or WebSocket subscriber is cut off when its
    /// unsent bytes, this, and the next message would pass the bound.
    /// Until it is called the engine counts 0 (a driver whose kernel
    /// buffers are not bounded cannot be counted).
    pub fn set_kernel_send_buffer(&mut self, bytes: usize) {
        self.common.kernel_send_buffer = bytes;
    }

    /// The broker, for reading channel state.
    pub fn broker(&self) -> &Broker {
        &self.common.broker
    }

    /// The id of the oldest message still in the history of the channel
    /// called `channel`; `None` if there is no such channel or its history
    /// is empty. A durable store needs to keep only the records from this
    /// id on: everything older has left history (by count, by the byte
    /// bound or by age) and is never replayed again.
    ///
    /// ```
    /// use pushwire::engine::Engine;
    /// use pushwire::Config;
    /// use std::time::Instant;
    ///
    /// let now = Instant::now();
    /// let mut engine = Engine::new(Config { history: 2, ..Config::default() }, now);
    /// assert_eq!(engine.oldest_in_history("news"), None);
    /// for (token, text) in ["a", "b", "c"].into_iter().enumerate() {
    ///     engine.handle_publish("news", text.into(), token as u64, now).unwrap();
    /// }
    /// // Ids 1, 2, 3; a history of two keeps 2 and 3.
    /// assert_eq!(engine.oldest_in_history("news"), Some(2));
    /// ```
    pub fn oldest_in_history(&self, channel: &str) -> Option<u64> {
        let broker = &self.common.broker;
        let channel = broker.channel(broker.find(channel)?)?;
        channel.oldest().map(|message| message.id)
    }

    /// Open connections, those being refused with `503` included.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Unsent output made for single connections, over all of them: what
    /// `max_output_bytes` bounds.
    pub fn owned_output(&self) -> usize {
        self.common.owned_output
    }

    /// What the slow-consumer policy (`Config::slow_consumer`) did since
    /// the engine started: streams and WebSockets cut off, and gap marks
    /// sent in place of dropped messages, by transport. For a metrics
    /// exporter; docs/operations.md, "Slow consumers".
    pub fn slow_consumer_counts(&self) -> &SlowConsumerCounts {
        &self.common.slow
    }

    /// Appends sent to the store and not decided yet.
    pub fn appends_in_flight(&self) -> usize {
        self.appends.len()
    }

    /// Whether even a `503` cannot be afforded now: the driver should
    /// close a new connection without a word.
    pub fn saturated(&self) -> bool {
        self.conns.len()
            >= self
                .common
                .config
                .max_connections
                .saturating_add(REJECT_SLACK)
    }

    // ---- input ------------------------------------------------------------

    /// Sets the wall-clock time for the `Date` header of the responses
    /// written from now on, in seconds since the Unix epoch.
    ///
    /// The engine reads no clock: the driver calls this once per pass,
    /// and only a new second costs anything (formatting 29 bytes, and
    /// forgetting the kept poll answers, which carry the old date). Until
    /// it is called, responses are dated 1970-01-01.
    pub fn handle_wall_clock(&mut self, unix_secs: u64) {
        if unix_secs != self.common.date.unix_secs() {
            self.common.date = HttpDate::from_unix_secs(unix_secs);
            self.common.answers.forget_kept();
        }
    }

    /// A new connection. Past `max_connections` it is opened only to send
    /// `503` and close.
    pub fn handle_accept(&mut self, now: Instant) -> ConnId {
        self.accept(now, false)
    }

    /// A new connection on the driver's metrics listener
    /// (`Config::metrics_listen`): it is served `GET /metrics` only.
    pub fn handle_accept_metrics(&mut self, now: Instant) -> ConnId {
        self.accept(now, true)
    }

    /// The driver closed a new connection without a word because the
    /// engine was [`Engine::saturated`]: counted in the metrics.
    pub fn handle_accept_dropped(&mut self) {
        self.common.stats.refused(stats::Refused::Saturated);
    }

    fn accept(&mut self, now: Instant, metrics_only: bool) -> ConnId {
        let full = self.conns.len() >= self.common.config.max_connections;
        let mut cx = Cx::new(&mut self.common, now);
        let conn = if full {
            cx.stats.refused(stats::Refused::MaxConnections);
            Conn::refused(&Refusal::ConnectionLimit, &mut cx)
        } else if cx.overloaded {
            cx.stats.refused(stats::Refused::Overloaded);
            Conn::refused(&Refusal::Overloaded, &mut cx)
        } else {
            cx.stats.accepted();
            let mut conn = Conn::open(&mut cx);
            conn.set_metrics_only(metrics_only);
            conn
        };
        let deadline = cx.deadline;
        self.serial = self.serial.wrapping_add(1);
        let id = self.conns.insert(Entry {
            conn,
            held: Held::default(),
            timer: None,
            subscription: None,
            ready: false,
            yielded: false,
            appending: 0,
            serial: self.serial,
        });
        self.settle(id, deadline);
        // A driver that still accepts during a drain: closed at once.
        self.drain_conn(id, now);
        id
    }

    /// Bytes arrived on a connection.
    pub fn handle_input(&mut self, id: ConnId, bytes: &[u8], now: Instant) {
        let Some(entry) = self.conns.get_mut(id) else {
            return;
        };
        stats::Stats::add_bytes(&self.common.stats.bytes_read, bytes.len());
        if entry.conn.is_ending() {
            return; // input after an error or during linger is dropped
        }
        if entry.held.is_empty() {
            let used = self.drive(id, Some(bytes), now);
            if let Some(entry) = self.conns.get_mut(id) {
                if !entry.conn.is_ending() {
                    entry.held.extend(bytes.get(used..).unwrap_or_default());
                }
            }
        } else {
            entry.held.extend(bytes);
            self.drive(id, None, now);
        }
        self.bound_held_input(id, now);
        self.run_resumes(now);
    }

    /// The peer closed its side (read returned 0).
    pub fn handle_eof(&mut self, id: ConnId, now: Instant) {
        self.with_conn(id, now, |conn, cx| conn.handle_eof(cx));
    }

    /// An embedder publishes `data` on `channel`. The outcome (the id, or
    /// why the store did not keep it) comes as an [`Event::Published`] with
    /// `token`, at once with the in-memory store; a refusal before the
    /// store is returned here.
    pub fn handle_publish(
        &mut self,
        channel: &str,
        data: String,
        token: u64,
        now: Instant,
    ) -> Result<(), PublishError> {
        let name = ChannelName::new(channel).ok_or(PublishError::InvalidChannel)?;
        let channel = self
            .common
            .broker
            .find_or_create(name.as_str())
            .map_err(|_| PublishError::TooManyChannels)?;
        self.append_or_hold(channel, data, Origin::Embedder(token), now);
        self.run_resumes(now);
        Ok(())
    }

    /// Takes what the store has decided since the last call: commits are
    /// delivered and their publishers answered. (Appends the store answers
    /// at once are taken as they are made; a store that commits later
    /// needs this call.)
    pub fn handle_commits(&mut self, now: Instant) {
        self.take_commits(now);
        self.run_resumes(now);
    }

    /// Fires every deadline that is due, and lets the messages past the
    /// history ttl leave history (a bounded amount per call, as for
    /// deadlines: [`crate::broker::EXPIRY_WORK_PER_PASS`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.common.broker.expire(now);
        if self.fired_done >= self.fired.len() {
            self.fired.clear();
            self.fired_done = 0;
            self.wheel.advance(now, &mut self.fired);
        }
        // At most a pass's worth of deadlines: ten thousand heartbeats due
        // at the same tick are handled over several passes, with reads and
        // writes between them.
        let end = self.fired.len().min(self.fired_done + TIMERS_PER_PASS);
        while self.fired_done < end {
            let Some(&id) = self.fired.get(self.fired_done) else {
                break;
            };
            self.fired_done += 1;
            let Some(entry) = self.conns.get_mut(id) else {
                continue;
            };
            // Re-armed since it fired (it waited for its turn): not due.
            if entry
                .timer
                .is_some_and(|h| self.wheel.deadline(h).is_some())
            {
                continue;
            }
            entry.timer = None;
            let subscription = entry.subscription;
            self.with_conn(id, now, |conn, cx| {
                let broker = cx.broker;
                let channel = subscription.and_then(|s| broker.channel(s.channel));
                conn.handle_deadline(channel, cx);
            });
            self.resume_if_held(id);
        }
        if self.fired_done < self.fired.len() {
            self.yielded_at = Some(now);
        }
        self.continue_yielded(now);
        self.release_held_appends(now);
        self.run_resumes(now);
    }

    /// Connections that used up their work in the last pass go on with
    /// their held input, with a fresh budget; those that use it up again
    /// wait for the next pass. Each is put on the ready list, so that the
    /// driver, which stopped reading it, looks at it again.
    fn continue_yielded(&mut self, now: Instant) {
        if self.fired_done >= self.fired.len() {
            self.yielded_at = None;
        }
        let waiting = self.yielded.len();
        for i in 0..waiting {
            let Some(&id) = self.yielded.get(i) else {
                break;
            };
            let Some(entry) = self.conns.get_mut(id) else {
                continue;
            };
            entry.yielded = false;
            if entry.takes_input(&self.common.config) {
                self.drive(id, None, now);
                self.bound_held_input(id, now);
            }
            if let Some(entry) = self.conns.get_mut(id) {
                mark_ready(&mut self.ready, entry, id);
            }
        }
        self.yielded.drain(..waiting.min(self.yielded.len()));
    }

    /// The socket of a connection that had a backlog is writable again.
    pub fn handle_writable(&mut self, id: ConnId) {
        if let Some(entry) = self.conns.get_mut(id) {
            mark_ready(&mut self.ready, entry, id);
        }
    }

    /// The kernel took `n` bytes of the connection's output. If that lets
    /// held input go on, it is processed now.
    pub fn handle_written(&mut self, id: ConnId, n: usize, now: Instant) {
        let Some(entry) = self.conns.get_mut(id) else {
            return;
        };
        stats::Stats::add_bytes(&self.common.stats.bytes_written, n);
        let below_high_water = entry.conn.handle_written(n);
        let (before, after) = entry.conn.recount_owned();
        self.common.owned_output = self.common.owned_output.saturating_sub(before) + after;
        if entry.conn.is_replaying() {
            self.continue_replay(id, now);
        }
        if below_high_water {
            self.resume_if_held(id);
            self.run_resumes(now);
        }
    }

    /// The driver shut down the write side: the connection lingers,
    /// reading and discarding, until EOF or the linger timer.
    pub fn handle_write_shutdown(&mut self, id: ConnId, now: Instant) {
        self.with_conn(id, now, |conn, cx| conn.handle_write_shutdown(cx));
    }

    /// The driver closed the socket: the connection is forgotten.
    pub fn handle_closed(&mut self, id: ConnId) {
        let Some(mut entry) = self.conns.try_remove(id) else {
            return;
        };
        let (counted, _) = entry.conn.recount_owned();
        self.common.owned_output = self.common.owned_output.saturating_sub(counted);
        if let Some(handle) = entry.timer {
            self.wheel.cancel(handle);
        }
        if let Some(sub) = entry.subscription {
            self.common.broker.unsubscribe(sub);
        }
        if entry.ready {
            self.ready.retain(|&r| r != id);
            self.fed_ready.retain(|&r| r != id);
        }
        if entry.conn.is_replaying() {
            self.replays.remove(&id);
        }
    }

    /// The server is stopping: every open WebSocket gets close 1001;
    /// the driver then flushes what it can.
    pub fn handle_stop(&mut self, now: Instant) {
        let websockets: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, entry)| entry.conn.is_websocket())
            .map(|(id, _)| id)
            .collect();
        for id in websockets {
            self.with_conn(id, now, |conn, cx| conn.handle_stop(cx));
        }
    }

    /// The driver's loop spent `busy` on one pass, from the end of its
    /// wait for readiness to the start of the next: counted in
    /// `pushwire_loop_pass_seconds`.
    pub fn handle_pass_time(&mut self, busy: Duration) {
        self.common.stats.loop_pass.observe(busy);
    }

    /// Installs what reads the driver's `process_*` metrics when
    /// `/metrics` is asked (the reactor's reads `/proc/self`).
    pub fn set_process_probe(&mut self, probe: Box<dyn ProcessProbe>) {
        self.probe = Some(probe);
    }

    // ---- output -----------------------------------------------------------

    /// The next connection with something to do, if any: first those
    /// made ready by their own input or timer, in the order they got it,
    /// then the subscribers of large fan-outs ([`LARGE_FAN_OUT`]), in
    /// subscription order.
    pub fn poll_ready(&mut self) -> Option<ConnId> {
        let id = self
            .ready
            .pop_front()
            .or_else(|| self.fed_ready.pop_front())?;
        if let Some(entry) = self.conns.get_mut(id) {
            entry.ready = false;
        }
        Some(id)
    }

    /// Whether any connection is on the ready list (a driver that flushes
    /// only so many per pass uses it not to sleep).
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty() || !self.fed_ready.is_empty()
    }

    /// What the driver should do for `id` now.
    pub fn poll_step(&self, id: ConnId) -> Step {
        self.conns
            .get(id)
            .map_or(Step::Close, |entry| entry.conn.step())
    }

    /// Fills `iov` with the connection's unsent bytes, oldest first;
    /// returns how many slices were used.
    pub fn poll_output<'a>(&'a self, id: ConnId, iov: &mut [IoSlice<'a>]) -> usize {
        self.conns
            .get(id)
            .map_or(0, |entry| entry.conn.out.fill(iov))
    }

    /// The earliest time [`Engine::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let held = self.flow.due(!self.fed_ready.is_empty());
        let expiry = self.common.broker.next_expiry();
        [self.wheel.next_expiry(), self.yielded_at, held, expiry]
            .into_iter()
            .flatten()
            .min()
    }

    /// How many publishes wait for the large fan-outs before them to be
    /// written before they go to the store (see `flow.rs`).
    pub fn held_publishes(&self) -> usize {
        self.flow.held()
    }

    /// The next thing to report to the embedder.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether the driver should read from the connection now. False while
    /// its unsent output is large: the client must read first.
    pub fn wants_input(&self, id: ConnId) -> bool {
        self.conns.get(id).is_some_and(|entry| {
            entry.conn.wants_input() && entry.may_append(&self.common.config) && !entry.yielded
        })
    }

    /// Unsent bytes of a connection.
    pub fn unsent(&self, id: ConnId) -> usize {
        self.conns.get(id).map_or(0, |entry| entry.conn.out.len())
    }

    /// Bytes of input connection `id` holds, received but not yet
    /// processed: a request head split across reads, or requests pipelined
    /// behind a parked long-poll, a stream, a publish or unsent output.
    /// Bounded (see `docs/limits.md`).
    pub fn buffered_input(&self, id: ConnId) -> usize {
        self.conns.get(id).map_or(0, |entry| entry.held.len())
    }

    // ---- the endpoint's own work ------------------------------------------

    /// Runs one transition on a connection, then settles it.
    fn with_conn(
        &mut self,
        id: ConnId,
        now: Instant,
        transition: impl FnOnce(&mut Conn, &mut Cx<'_>),
    ) {
        let Some(entry) = self.conns.get_mut(id) else {
            return;
        };
        let mut cx = Cx::new(&mut self.common, now);
        transition(&mut entry.conn, &mut cx);
        let deadline = cx.deadline;
        self.settle(id, deadline);
    }

    /// After a transition, the endpoint's books follow the connection's
    /// state: its deadline re-armed, its subscription dropped once it no
    /// longer waits for messages, its held input dropped once it is
    /// ending, and the connection on the ready list if the driver has
    /// something to do for it.
    fn settle(&mut self, id: ConnId, deadline: Option<Instant>) {
        let Some(entry) = self.conns.get_mut(id) else {
            return;
        };
        let (before, now) = entry.conn.recount_owned();
        self.common.owned_output = self.common.owned_output.saturating_sub(before) + now;
        if let Some(at) = deadline {
            if !entry
                .timer
                .is_some_and(|handle| self.wheel.reschedule(handle, at))
            {
                entry.timer = Some(self.wheel.insert(at, id));
            }
        }
        if !entry.conn.is_subscriber() {
            if let Some(sub) = entry.subscription.take() {
                self.common.broker.unsubscribe(sub);
            }
            if entry.conn.is_replaying() {
                entry.conn.set_replaying(false);
                self.replays.remove(&id);
            }
        }
        if entry.conn.is_ending() {
            entry.held.clear();
        }
        if entry.conn.step() != Step::Wait {
            let queue = match self.in_fan_out {
                true => &mut self.fed_ready,
                false => &mut self.ready,
            };
            mark_ready(queue, entry, id);
        }
    }

    /// Feeds input to a connection: `fresh` bytes, or (`None`) what it
    /// holds. Each time the connection stops for a want, the want is
    /// carried out and the connection goes on. Returns the bytes used.
    fn drive(&mut self, id: ConnId, fresh: Option<&[u8]>, now: Instant) -> usize {
        let mut used = 0;
        let mut budget = self.common.config.max_work_per_pass;
        loop {
            let Some(entry) = self.conns.get_mut(id) else {
                return used;
            };
            let input = fresh
                .unwrap_or(entry.held.bytes())
                .get(used..)
                .unwrap_or_default();
            if input.is_empty() || !entry.may_append(&self.common.config) {
                break;
            }
            let mut cx = Cx::new(&mut self.common, now);
            cx.budget = budget;
            let (n, want) = entry.conn.handle_input(input, &mut cx);
            let deadline = cx.deadline;
            budget = cx.budget;
            used += n;
            self.settle(id, deadline);
            let Some(want) = want else {
                break;
            };
            self.fed = 0;
            self.act(id, want, now);
            // A publish costs the publisher a unit per 16 subscribers fed.
            let cost = u32::try_from(self.fed.div_ceil(16)).unwrap_or(u32::MAX);
            budget = budget.saturating_sub(cost);
        }
        let Some(entry) = self.conns.get_mut(id) else {
            return used;
        };
        let left = match fresh {
            Some(bytes) => bytes.len() > used,
            None => {
                entry.held.consume(used);
                !entry.held.is_empty()
            }
        };
        if budget == 0 && left && !entry.yielded && !entry.conn.is_ending() {
            entry.yielded = true;
            self.yielded.push(id);
            self.yielded_at = Some(now);
        }
        used
    }

    /// Carries out what a connection wants.
    fn act(&mut self, id: ConnId, want: Want, now: Instant) {
        match want {
            Want::Join(name, join) => self.join(id, name, join, now),
            Want::Publish(target, data) => {
                let Some(entry) = self.conns.get_mut(id) else {
                    return;
                };
                entry.appending = entry.appending.saturating_add(1);
                let origin = Origin::Conn {
                    id,
                    serial: entry.serial,
                };
                let channel = match target {
                    Target::Own => entry
                        .subscription
                        .map(|s| s.channel)
                        .ok_or(Refusal::NoSuchChannel),
                    Target::Named(name) => self
                        .common
                        .broker
                        .find_or_create(name.as_str())
                        .map_err(|_| Refusal::TooManyChannels),
                };
                match channel {
                    Ok(channel) => self.append_or_hold(channel, data, origin, now),
                    Err(refusal) => self.answer(origin, Err(refusal), now),
                }
            }
            Want::Scrape(reply) => {
                let mut body = Vec::new();
                self.write_metrics(&mut body);
                self.with_conn(id, now, |conn, cx| conn.respond_metrics(&body, reply, cx));
            }
        }
    }

    /// A connection joins a channel's subscribers.
    fn join(&mut self, id: ConnId, name: ChannelName, join: Join, now: Instant) {
        let transport = match &join {
            Join::Park(_) => Transport::LongPoll,
            Join::Stream(_) => Transport::Sse,
            Join::WebSocket(_) => Transport::Ws,
        };
        let Ok(channel) = self.common.broker.find_or_create(name.as_str()) else {
            return self.with_conn(id, now, |conn, cx| {
                conn.join_refused(join, &Refusal::TooManyChannels, cx)
            });
        };
        let subscription = self.common.broker.subscribe(channel, transport, id);
        if let Some(entry) = self.conns.get_mut(id) {
            entry.subscription = subscription;
        }
        let mut replay = None;
        self.with_conn(id, now, |conn, cx| {
            if let Some(channel) = cx.broker.channel(channel) {
                replay = conn.joined(join, channel, cx);
            }
        });
        if let Some(next) = replay {
            self.replays.insert(id, next);
        }
        // A subscriber that joins during a drain ends at once, as the
        // others did.
        self.drain_conn(id, now);
    }

    /// The next page of a replay, if the connection has read enough of the
    /// last one.
    fn continue_replay(&mut self, id: ConnId, now: Instant) {
        let Some(&since) = self.replays.get(&id) else {
            return;
        };
        let Some(entry) = self.conns.get(id) else {
            return;
        };
        let channel = entry.subscription.map(|s| s.channel);
        let mut next = None;
        self.with_conn(id, now, |conn, cx| {
            let broker = cx.broker;
            match channel.and_then(|c| broker.channel(c)) {
                Some(channel) if conn.wants_replay(cx) => {
                    next = conn.replay(channel, since, true, cx)
                }
                Some(_) => next = Some(since), // not yet
                None => conn.set_replaying(false),
            }
        });
        match next {
            Some(next) => self.replays.insert(id, next),
            None => self.replays.remove(&id),
        };
    }

    /// Sends an append to the store, and takes whatever it has decided.
    fn append(&mut self, channel: ChannelId, data: String, origin: Origin, now: Instant) {
        self.serial = self.serial.wrapping_add(1);
        let serial = self.serial;
        let entry = self.appends.vacant_entry();
        let Ok(slot) = u32::try_from(entry.key()) else {
            let refusal = Refusal::NotStored(StoreError::new("too many appends in flight"));
            return self.answer(origin, Err(refusal), now);
        };
        let ticket = Ticket { slot, serial };
        let inflight = entry.insert(InFlight {
            channel,
            data,
            origin,
            serial,
            appended: now,
        });
        self.common.broker.pin(channel);
        let (name, last_id) = self
            .common
            .broker
            .channel(channel)
            .map_or(("", 0), |c| (c.name(), c.last_id()));
        self.store.append(Append {
            ticket,
            channel,
            name,
            last_id,
            data: &inflight.data,
            now,
        });
        self.take_commits(now);
    }

    fn take_commits(&mut self, now: Instant) {
        while let Some(decision) = self.store.poll_decision() {
            match decision {
                Decision::Commit(commit) => self.commit(commit, now),
                Decision::Replicated(message) => self.replicated(message, now),
                Decision::Sync(in_sync) => self.common.broker.set_in_sync(in_sync),
            }
        }
    }

    /// A store's answer: the message goes into history and to every
    /// subscriber, then the publisher is answered.
    fn commit(&mut self, commit: Commit, now: Instant) {
        let slot = commit.ticket.slot as usize;
        if self
            .appends
            .get(slot)
            .is_none_or(|a| a.serial != commit.ticket.serial)
        {
            return; // not an append of ours: a store's mistake, ignored
        }
        let InFlight {
            channel,
            data,
            origin,
            appended,
            ..
        } = self.appends.remove(slot);
        let stats = &self.common.stats;
        stats
            .commit
            .observe(now.saturating_duration_since(appended));
        let outcome = match commit.outcome {
            Ok(id) => match self
                .common
                .broker
                .append(channel, id, data.into_boxed_str(), now)
            {
                Ok(message) => {
                    self.common.stats.published();
                    self.fan_out(channel, &message, now);
                    Ok(id)
                }
                Err(e) => Err(Refusal::NotStored(StoreError::new(e.to_string()))),
            },
            Err(e) => Err(Refusal::NotStored(e)),
        };
        if outcome.is_err() {
            self.common.stats.commit_error();
        }
        self.common.broker.settle(channel);
        self.answer(origin, outcome, now);
    }

    /// A message committed in a shared store: this engine's own append
    /// (its publisher is answered) or another server's. It goes into
    /// history after the `prev` the store names and to every subscriber;
    /// when some messages before it are not known here (the store lost
    /// them, or this server missed more than history holds), the
    /// subscribers are told `gap` first, each as its transport says it.
    fn replicated(&mut self, message: Replicated, now: Instant) {
        let Replicated {
            ticket,
            channel: name,
            id,
            prev,
            data,
        } = message;
        let own = ticket.and_then(|t| {
            let slot = t.slot as usize;
            let ours = self.appends.get(slot).is_some_and(|a| a.serial == t.serial);
            ours.then(|| self.appends.remove(slot))
        });
        let (channel, data, origin) = match own {
            Some(InFlight {
                channel,
                data,
                origin,
                appended,
                ..
            }) => {
                let stats = &self.common.stats;
                stats
                    .commit
                    .observe(now.saturating_duration_since(appended));
                (channel, data, Some(origin))
            }
            None => match self.common.broker.find_or_create_after(&name, prev) {
                Ok(channel) => (channel, data, None),
                Err(_) => return, // past max_channels here: not kept
            },
        };
        // A channel that never had a message here: its subscribers have
        // nothing of it, each is where it subscribed (its resume point, or
        // where the channel was then).
        let fresh = self
            .common
            .broker
            .channel(channel)
            .is_some_and(crate::broker::Channel::never_had_one);
        let outcome =
            match self
                .common
                .broker
                .append_after(channel, id, prev, data.into_boxed_str(), now)
            {
                Ok((message, missed)) => {
                    match origin {
                        Some(_) => self.common.stats.published(),
                        None => self.common.stats.replicated(),
                    }
                    if let Some(since) = missed {
                        self.announce_gap(channel, since, fresh, id, now);
                    }
                    self.fan_out(channel, &message, now);
                    self.wake_waiting_replays(channel, now);
                    Ok(id)
                }
                Err(e) => Err(Refusal::NotStored(StoreError::new(e.to_string()))),
            };
        match origin {
            Some(origin) => {
                if outcome.is_err() {
                    self.common.stats.commit_error();
                }
                self.common.broker.settle(channel);
                self.answer(origin, outcome, now);
            }
            None => self.common.broker.release(channel),
        }
    }

    /// Subscribers of the channel whose replay waits (one that resumed
    /// from an id this node had not caught up to, or whose page was read)
    /// look again: the channel may have passed their id now.
    fn wake_waiting_replays(&mut self, channel: ChannelId, now: Instant) {
        if self.replays.is_empty() {
            return;
        }
        let waiting: Vec<ConnId> = self
            .replays
            .keys()
            .copied()
            .filter(|&id| {
                self.conns
                    .get(id)
                    .and_then(|e| e.subscription)
                    .is_some_and(|s| s.channel == channel)
            })
            .collect();
        for id in waiting {
            self.continue_replay(id, now);
        }
    }

    /// Tells the channel's subscribers that the messages after `since`
    /// and before `oldest` are lost: a parked long-poll is answered with
    /// what history has (`"gap":true`), a stream gets `event: gap`, a
    /// `pushwire.json` WebSocket its gap frame. A subscriber replaying
    /// from history finds the gap there itself. `fresh`: the channel never
    /// had a message here, so each stream and WebSocket is told its gap
    /// from where it subscribed, not from `since`.
    fn announce_gap(
        &mut self,
        channel: ChannelId,
        since: u64,
        fresh: bool,
        oldest: u64,
        now: Instant,
    ) {
        self.answered.clear();
        self.common
            .broker
            .take_subscribers(channel, Transport::LongPoll, &mut self.answered);
        let parked = std::mem::take(&mut self.answered);
        for &id in &parked {
            if let Some(entry) = self.conns.get_mut(id) {
                entry.subscription = None;
            }
            self.with_conn(id, now, |conn, cx| {
                if let Some(ch) = cx.broker.channel(channel) {
                    conn.answer_parked_backlog(ch, since, cx);
                }
            });
            self.resume_if_held(id);
        }
        self.answered = parked;
        self.answered.clear();
        let Some(ch) = self.common.broker.channel(channel) else {
            return;
        };
        for transport in [Transport::Sse, Transport::Ws] {
            for id in ch.subscribers(transport) {
                if let Some(entry) = self.conns.get_mut(id) {
                    if !entry.conn.is_replaying() {
                        let since = match fresh {
                            true => entry.conn.sent_id(),
                            false => since,
                        };
                        // One already at the message before: nothing missed.
                        if !fresh || since < oldest.saturating_sub(1) {
                            entry.conn.announce_gap(since, oldest, &self.common.stats);
                        }
                    }
                }
            }
        }
    }

    /// Tells whoever published how it went.
    fn answer(&mut self, origin: Origin, outcome: Result<u64, Refusal>, now: Instant) {
        match origin {
            Origin::Conn { id, serial } => {
                let Some(entry) = self.conns.get_mut(id).filter(|e| e.serial == serial) else {
                    return; // the publisher is gone
                };
                entry.appending = entry.appending.saturating_sub(1);
                self.with_conn(id, now, |conn, cx| conn.published(outcome, cx));
                self.resume_if_held(id);
            }
            Origin::Embedder(token) => {
                let outcome = outcome.map_err(|refusal| match refusal {
                    Refusal::TooManyChannels => PublishError::TooManyChannels,
                    Refusal::NotStored(e) => PublishError::NotStored(e),
                    other => PublishError::NotStored(StoreError::new(other.to_string())),
                });
                self.events.push_back(Event::Published { token, outcome });
            }
        }
    }

    /// Hands a committed message to the channel's subscribers: every
    /// parked long-poll is answered (and leaves the channel), every stream
    /// and WebSocket gets the message's shared bytes queued.
    fn fan_out(&mut self, channel: ChannelId, message: &Rc<Message>, now: Instant) {
        self.in_fan_out = self.is_large_fan_out(channel);
        let first = self.fed_ready.is_empty();
        self.fan_out_to_subscribers(channel, message, now);
        if self.in_fan_out {
            self.note_large_fan_out(message, first);
        }
        self.in_fan_out = false;
    }

    fn fan_out_to_subscribers(&mut self, channel: ChannelId, message: &Rc<Message>, now: Instant) {
        self.common.answers.begin_delivery();
        self.answered.clear();
        self.common
            .broker
            .take_subscribers(channel, Transport::LongPoll, &mut self.answered);
        self.fed += self.answered.len();
        let mut i = 0;
        while let Some(&id) = self.answered.get(i) {
            i += 1;
            if let Some(entry) = self.conns.get_mut(id) {
                entry.subscription = None; // the set was emptied at once
            }
            let mut fed = Fed::Skipped;
            self.with_conn(id, now, |conn, cx| {
                fed = conn.deliver(message, cx);
            });
            if matches!(fed, Fed::Skipped) {
                // Still parked (it waits for a later message): back in
                // the set.
                if let Some(entry) = self.conns.get_mut(id).filter(|e| e.conn.is_parked()) {
                    entry.subscription =
                        self.common
                            .broker
                            .subscribe(channel, Transport::LongPoll, id);
                }
            }
            self.resume_if_held(id);
        }
        self.changed.clear();
        let mut cx = Cx::new(&mut self.common, now);
        let broker = cx.broker;
        let Some(ch) = broker.channel(channel) else {
            return;
        };
        for transport in [Transport::Sse, Transport::Ws] {
            self.fed += ch.subscriber_count(transport);
            for id in ch.subscribers(transport) {
                let Some(entry) = self.conns.get_mut(id) else {
                    continue;
                };
                match entry.conn.deliver(message, &mut cx) {
                    Fed::Queued => {
                        let queue = match self.in_fan_out {
                            true => &mut self.fed_ready,
                            false => &mut self.ready,
                        };
                        mark_ready(queue, entry, id)
                    }
                    Fed::Changed => self.changed.push((id, cx.deadline.take())),
                    Fed::Skipped => {}
                }
            }
        }
        let mut i = 0;
        while let Some(&(id, deadline)) = self.changed.get(i) {
            i += 1;
            self.settle(id, deadline);
        }
    }

    /// Queues the connection to take its held input, if it can now.
    fn resume_if_held(&mut self, id: ConnId) {
        if self
            .conns
            .get(id)
            .is_some_and(|e| !e.held.is_empty() && e.takes_input(&self.common.config))
        {
            self.resume.push_back(id);
        }
    }

    /// Processes held input of the connections that can take it again.
    fn run_resumes(&mut self, now: Instant) {
        while let Some(id) = self.resume.pop_front() {
            if self
                .conns
                .get(id)
                .is_some_and(|e| !e.held.is_empty() && e.takes_input(&self.common.config))
            {
                self.drive(id, None, now);
                self.bound_held_input(id, now);
            }
        }
    }

    /// A head in progress is bounded by the parser (431), WebSocket input,
    /// requests waiting behind backed-up output and requests pipelined
    /// behind a publish waiting for its commit by the driver not reading
    /// ([`Engine::wants_input`]: at most what one read brought is held);
    /// input held behind a wait the driver keeps reading to notice a
    /// close (a parked long-poll, a stream) is bounded here: past twice
    /// `max_header_bytes` the connection is closed.
    fn bound_held_input(&mut self, id: ConnId, now: Instant) {
        let limit = self.common.config.max_header_bytes.saturating_mul(2);
        let too_much = self
            .conns
            .get(id)
            .is_some_and(|e| e.conn.holds_input() && e.conn.wants_input() && e.held.len() > limit);
        if too_much {
            self.with_conn(id, now, |conn, cx| conn.end(conn::End::Now, cx));
        }
    }
}

/// Puts a connection on the ready list, once.
fn mark_ready(ready: &mut VecDeque<ConnId>, entry: &mut Entry, id: ConnId) {
    if !entry.ready {
        entry.ready = true;
        ready.push_back(id);
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    /// Every idle connection costs its entry, and a WebSocket its
    /// `Session` too: the budget is 256 bytes of resident memory per idle
    /// connection, everything included (docs/limits.md).
    #[test]
    fn idle_connection_state_stays_small() {
        let entry = size_of::<super::Entry>();
        assert!(entry <= 112, "{entry}");
        assert!(size_of::<crate::ws::Session>() <= 32);
        // The session, the instant its token ends and the id it was sent
        // last (glibc serves 48 and 56 bytes from the same 64-byte chunk).
        assert!(size_of::<super::websocket::Socket>() <= 56);
        assert!(size_of::<super::conn::State>() <= 16);
        assert!(size_of::<Option<crate::broker::Subscription>>() <= 12);
    }
}
