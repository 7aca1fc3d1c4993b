//! One connection's state machine.
//!
//! ```text
//!             first byte              head complete
//!   Idle ─────────────────▶ Head ─────────────────────▶ respond ──▶ Idle
//!    ▲  (idle timer)        (header timer)   │ body                 (keep-alive)
//!    │                                       ▼
//!    └──────────── respond ◀──────────── Body (body timer)
//!
//!   POST /pub body complete ──▶ Publishing (body timer, until the store commits)
//!        ──(committed: 202, failed: 503)──▶ Idle
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
//! Every transition is a method of [`Conn`] named for its input: bytes
//! ([`Conn::handle_input`]), the end of input ([`Conn::handle_eof`]), the
//! connection's deadline ([`Conn::handle_deadline`]), a message published
//! on its channel ([`Conn::deliver`]), the outcome of its publish
//! ([`Conn::published`]). It reads what it needs of the rest of the server
//! through [`Cx`] (the configuration, the broker's histories, the date)
//! and writes its answers into its own output queue. What it wants from
//! the rest of the server, it returns as a value ([`Want`]: join a
//! channel, publish a message), and its deadline it leaves in
//! [`Cx::deadline`]; the engine does the rest. Whether the connection is
//! subscribed follows from its state (see [`Conn::is_subscriber`]).
//!
//! `Closing` sends what is queued; then the reactor shuts down the write
//! side and the connection lingers, reading and discarding, until the peer
//! closes or the linger timer fires. Closing at once would let the kernel
//! answer unread input with a reset, which can destroy the error response
//! before the client reads it (the reason nginx has `lingering_close`).

use std::io::Write as _;
use std::time::Instant;

use crate::broker::{Broker, Channel, ChannelName, Message};
use crate::config::Config;
use crate::http::response::{write_response, Body, Connection, Response, TEXT_PLAIN};
use crate::http::HttpDate;

use super::answers::{Answers, Fields};
use super::longpoll::{Park, Parked};
use super::output::OutQueue;
use super::publish::Publishing;
use super::refusal::Refusal;
use super::request::{PendingBody, Read};
use super::slow::SlowConsumerCounts;
use super::stats::{Endpoint, Stats};
use super::stream::{Stream, StreamStart};
use super::websocket::{Mode, Socket, WsStart};
use super::Step;
use crate::ws;

/// Output bytes above which a connection's further pipelined requests (or
/// WebSocket frames) wait until the client has read some answers.
pub(super) const OUTPUT_HIGH_WATER: usize = 256 * 1024;

/// What every connection may read of the rest of the server, and the
/// answers they share; the engine owns it.
#[derive(Debug)]
pub(super) struct Common {
    pub config: Config,
    pub broker: Broker,
    /// The `Date` of every response, as the driver last set it.
    pub date: HttpDate,
    pub answers: Answers,
    /// What a WebSocket client may send, from the configuration.
    pub ws_limits: ws::Limits,
    /// Unsent output made for single connections, over all of them (the
    /// gauge `--max-output-bytes` bounds).
    pub owned_output: usize,
    /// What the kernel may hold of a connection's output, as the driver
    /// set it ([`super::Engine::set_kernel_send_buffer`]).
    pub kernel_send_buffer: usize,
    /// What the slow-consumer policy did, by transport.
    pub slow: SlowConsumerCounts,
    /// The server drains (`drain.rs`): every answer closes its connection.
    pub draining: bool,
    /// The counters `/metrics` reports.
    pub stats: Stats,
}

/// What a connection may see of the rest of the server while it makes a
/// transition, and where it leaves its new deadline.
#[derive(Debug)]
pub(super) struct Cx<'a> {
    pub config: &'a Config,
    pub broker: &'a Broker,
    /// The `Date` of the responses written now.
    pub date: &'a HttpDate,
    /// Answers kept for reuse and a body buffer, shared by all.
    pub answers: &'a mut Answers,
    /// What a WebSocket client may send.
    pub ws_limits: &'a ws::Limits,
    /// What the kernel may hold of this connection's output: counted as
    /// full in the slow-consumer bound.
    pub kernel_send_buffer: usize,
    /// Where the slow-consumer policy counts what it did.
    pub slow: &'a mut SlowConsumerCounts,
    /// The server drains: every answer says `Connection: close`.
    pub draining: bool,
    /// The counters `/metrics` reports (counted through a shared
    /// reference: they are `Cell`s).
    pub stats: &'a Stats,
    pub now: Instant,
    /// Set by the connection: its one deadline from now on, replacing the
    /// one before.
    pub deadline: Option<Instant>,
    /// Requests and frames the connection may still read in this pass
    /// (see `Config::max_work_per_pass`); reading one takes one.
    pub budget: u32,
    /// The process holds `max_output_bytes` of unsent answers: new
    /// requests are refused with `503`.
    pub overloaded: bool,
}

impl<'a> Cx<'a> {
    /// A context at `now`, with no new deadline yet.
    pub fn new(common: &'a mut Common, now: Instant) -> Cx<'a> {
        Cx {
            config: &common.config,
            broker: &common.broker,
            date: &common.date,
            answers: &mut common.answers,
            ws_limits: &common.ws_limits,
            kernel_send_buffer: common.kernel_send_buffer,
            slow: &mut common.slow,
            draining: common.draining,
            stats: &common.stats,
            now,
            deadline: None,
            budget: u32::MAX,
            overloaded: common.owned_output >= common.config.max_output_bytes,
        }
    }

    /// Takes one unit of the pass's work; false when none is left.
    pub fn take_work(&mut self) -> bool {
        match self.budget.checked_sub(1) {
            Some(left) => {
                self.budget = left;
                true
            }
            None => false,
        }
    }
}

/// What a connection wants from the rest of the server: a value the engine
/// acts on before the connection goes on with its input.
#[derive(Debug)]
pub(super) enum Want {
    /// Join the channel's subscribers (created if needed and allowed), then
    /// go on with [`Conn::joined`] or [`Conn::join_refused`].
    Join(ChannelName, Join),
    /// Ask the store to keep a message; the outcome comes to
    /// [`Conn::published`]: the store's commit, or a refusal by the
    /// engine before the store had it (too many channels, say).
    Publish(Target, String),
    /// Answer `GET /metrics` with the engine's metrics, through
    /// [`Conn::respond_metrics`].
    Scrape(Reply),
}

/// How a connection waits on the channel it joins, with what it needs to
/// start.
#[derive(Debug)]
pub(super) enum Join {
    /// A long-poll with nothing new yet.
    Park(Park),
    /// An event stream.
    Stream(StreamStart),
    /// A WebSocket subscriber (boxed: the handshake's answer and the
    /// token's grant are the largest start).
    WebSocket(Box<WsStart>),
}

/// The channel a publish goes to.
#[derive(Debug)]
pub(super) enum Target {
    /// A channel by name (`POST /pub/{channel}`).
    Named(ChannelName),
    /// The channel the connection is subscribed to (a WebSocket's text
    /// frame).
    Own,
}

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

impl Reply {
    /// The `Connection` field of the response.
    pub(super) fn connection(self) -> Connection {
        if !self.keep_alive {
            Connection::Close
        } else if self.http10 {
            Connection::KeepAlive
        } else {
            Connection::Default
        }
    }
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
    /// A publish waits for the store's commit.
    Publishing(Box<Publishing>),
    /// A long-poll waiting for a message or its deadline.
    Parked(Box<Parked>),
    /// A Server-Sent Events stream.
    Streaming(Box<Stream>),
    /// A WebSocket, after the handshake: what it is for, and the
    /// protocol's state with the token's end (48 bytes while idle).
    WebSocket(Mode, Box<Socket>),
    /// Sending what is queued, then closing.
    Closing,
    /// Write side shut down; reading and discarding until EOF or the timer.
    Lingering,
}

/// How a connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    /// Send what is queued, then close (with a bounded linger).
    AfterOutput,
    /// Close the socket now; what is queued is dropped.
    Now,
}

/// What a published message did to a subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fed {
    /// Its bytes are queued.
    Queued,
    /// The subscriber changed state: a long-poll was answered, or a slow
    /// consumer was cut off. The engine settles it after the fan-out.
    Changed,
    /// Not a subscriber that takes this message.
    Skipped,
}

/// Per-connection flags.
mod flag {
    /// The peer sent EOF.
    pub const PEER_CLOSED: u8 = 1;
    /// The reactor must close the socket now, without flushing.
    pub const CLOSE_NOW: u8 = 2;
    /// A replay from history is not finished: new messages wait in
    /// history until it reaches them.
    pub const REPLAYING: u8 = 4;
    /// Accepted on the metrics listener: only `/metrics` is served.
    pub const METRICS_ONLY: u8 = 8;
}

/// One connection: its state, its unsent output, two flags.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(super) state: State,
    /// Bytes to send.
    pub(super) out: OutQueue,
    flags: u8,
    /// The endpoint of the request being answered, for the metrics.
    pub(super) endpoint: Endpoint,
    /// The owned output last counted in the process's gauge.
    counted: u32,
}

impl Conn {
    /// A new connection, waiting for its first request.
    pub(super) fn open(cx: &mut Cx<'_>) -> Conn {
        cx.deadline = Some(cx.now + cx.config.idle_timeout);
        Conn {
            state: State::Idle,
            out: OutQueue::default(),
            flags: 0,
            endpoint: Endpoint::None,
            counted: 0,
        }
    }

    /// A connection that cannot be served (past `max_connections`, or
    /// while the process holds too much unsent output): told `503`, then
    /// closed.
    pub(super) fn refused(refusal: &Refusal, cx: &mut Cx<'_>) -> Conn {
        let mut conn = Conn::open(cx);
        conn.fail(refusal, cx);
        conn
    }

    /// How its owned output changed since the last call, for the process's
    /// gauge: (counted before, counted now).
    pub(super) fn recount_owned(&mut self) -> (usize, usize) {
        let before = self.counted;
        self.counted = u32::try_from(self.out.owned()).unwrap_or(u32::MAX);
        (before as usize, self.counted as usize)
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Marks a connection of the metrics listener.
    pub(super) fn set_metrics_only(&mut self, metrics_only: bool) {
        if metrics_only {
            self.flags |= flag::METRICS_ONLY;
        }
    }

    /// Whether it came from the metrics listener.
    pub(super) fn is_metrics_only(&self) -> bool {
        self.has(flag::METRICS_ONLY)
    }

    /// Counts a response with `status` to the request being answered.
    pub(super) fn count_response(&self, status: u16, cx: &Cx<'_>) {
        cx.stats.response(self.endpoint, status);
    }

    /// Whether a replay from history is not finished.
    pub(super) fn is_replaying(&self) -> bool {
        self.has(flag::REPLAYING)
    }

    pub(super) fn set_replaying(&mut self, replaying: bool) {
        match replaying {
            true => self.flags |= flag::REPLAYING,
            false => self.flags &= !flag::REPLAYING,
        }
    }

    /// What the reactor should do for this connection now.
    pub(super) fn step(&self) -> Step {
        if self.has(flag::CLOSE_NOW) {
            Step::Close
        } else if !self.out.is_empty() {
            Step::Write
        } else if matches!(self.state, State::Closing) {
            if self.has(flag::PEER_CLOSED) {
                Step::Close
            } else {
                Step::Shutdown
            }
        } else {
            Step::Wait
        }
    }

    /// Where a gap mark of the slow-consumer policy `skip` starts: the
    /// newest message the client has begun to receive (see
    /// [`Stream`]'s and [`Socket`]'s `sent_id`); 0 for a connection that
    /// is not a stream or a WebSocket.
    pub(super) fn sent_id(&self) -> u64 {
        match &self.state {
            State::Streaming(stream) => stream.sent_id,
            State::WebSocket(_, socket) => socket.sent_id,
            _ => 0,
        }
    }

    /// The client has begun to receive message `id`.
    fn note_sent(&mut self, id: u64) {
        match &mut self.state {
            State::Streaming(stream) => stream.sent_id = id,
            State::WebSocket(_, socket) => socket.sent_id = id,
            _ => {}
        }
    }

    /// Whether the connection reads requests now (not closing, not waiting).
    pub(super) fn reads_requests(&self) -> bool {
        matches!(self.state, State::Idle | State::Head | State::Body(_))
    }

    /// Whether it waits with input held back: a parked long-poll, a stream,
    /// a publish waiting for its commit. Requests pipelined behind it wait
    /// in the engine's buffer.
    pub(super) fn holds_input(&self) -> bool {
        matches!(
            self.state,
            State::Parked(_) | State::Streaming(_) | State::Publishing(_)
        )
    }

    /// Whether the connection is ending: no input is processed any more.
    pub(super) fn is_ending(&self) -> bool {
        self.has(flag::CLOSE_NOW) || matches!(self.state, State::Closing | State::Lingering)
    }

    /// Whether it is a long-poll waiting on its channel.
    pub(super) fn is_parked(&self) -> bool {
        matches!(self.state, State::Parked(_)) && !self.has(flag::CLOSE_NOW)
    }

    /// Whether its state waits for a channel's messages. The engine keeps
    /// a subscription exactly while this is true.
    pub(super) fn is_subscriber(&self) -> bool {
        match &self.state {
            State::Parked(_) | State::Streaming(_) => !self.has(flag::CLOSE_NOW),
            State::WebSocket(Mode::Channel { .. }, _) => !self.has(flag::CLOSE_NOW),
            _ => false,
        }
    }

    /// Whether its state reads input at all: requests, or frames.
    fn reads_input(&self) -> bool {
        self.reads_requests() || self.is_websocket()
    }

    /// Whether input is processed now: a connection that reads requests or
    /// frames, with room for the answers.
    pub(super) fn takes_input(&self) -> bool {
        self.reads_input() && self.out.len() < OUTPUT_HIGH_WATER
    }

    /// Whether the reactor should read from the connection now. False while
    /// its unsent output is large and more input would only add to it: the
    /// client must read first. False while a publish waits for its commit
    /// (a slow store, or the flow control of large fan-outs): requests
    /// pipelined behind it wait in the kernel, not in pushwire. (A
    /// connection that waits, parked or streaming, is read to notice its
    /// client going away.)
    pub(super) fn wants_input(&self) -> bool {
        !self.has(flag::CLOSE_NOW | flag::PEER_CLOSED)
            && !matches!(self.state, State::Publishing(_))
            && (self.takes_input() || !self.reads_input())
    }

    /// Whether it is a WebSocket.
    pub(super) fn is_websocket(&self) -> bool {
        matches!(self.state, State::WebSocket(..))
    }

    /// Bytes arrived (after any held before them): reads requests or
    /// frames as far as the state allows. Returns how many bytes were used
    /// and, when the engine must act before the rest, what it wants. Input
    /// left unused is held by the engine and offered again when the
    /// connection can take it; input to a connection that is ending is
    /// used up and dropped.
    pub(super) fn handle_input(&mut self, input: &[u8], cx: &mut Cx<'_>) -> (usize, Option<Want>) {
        let mut used = 0;
        loop {
            let rest = input.get(used..).unwrap_or_default();
            if self.is_ending() {
                return (input.len(), None);
            }
            if rest.is_empty() || !self.takes_input() {
                return (used, None);
            }
            if !matches!(self.state, State::WebSocket(..)) && !cx.take_work() {
                return (used, None); // the rest waits for the next pass
            }
            let read = match self.state {
                State::WebSocket(..) => self.read_frames(rest, cx),
                State::Body(_) => self.read_body(rest, cx),
                _ => self.read_head(rest, cx),
            };
            match read {
                Read::More(n) => used += n,
                Read::Wait(n) => return (used + n, None),
                Read::Want(n, want) => return (used + n, Some(want)),
            }
        }
    }

    /// The peer closed its side (read returned 0).
    pub(super) fn handle_eof(&mut self, cx: &mut Cx<'_>) {
        self.flags |= flag::PEER_CLOSED;
        match self.state {
            // A half-closed client still gets the answers it asked for,
            // and a publish in flight its answer.
            State::Closing if !self.out.is_empty() => {}
            State::Publishing(_) => {}
            _ if !self.out.is_empty() && self.reads_requests() => self.end(End::AfterOutput, cx),
            _ => self.end(End::Now, cx),
        }
    }

    /// The connection's deadline passed.
    pub(super) fn handle_deadline(&mut self, channel: Option<&Channel>, cx: &mut Cx<'_>) {
        match &mut self.state {
            State::Idle | State::Closing | State::Lingering | State::Publishing(_) => {
                self.end(End::Now, cx)
            }
            State::Head | State::Body(_) => {
                self.fail(&Refusal::Request(crate::http::HttpError::Timeout), cx)
            }
            State::Parked(_) => self.longpoll_timed_out(channel, cx),
            State::Streaming(_) => self.stream_deadline(cx),
            State::WebSocket(..) => self.ws_deadline(cx),
        }
    }

    /// The kernel took `n` bytes of output. Returns whether the output fell
    /// below the high-water mark, so that held input may go on.
    pub(super) fn handle_written(&mut self, n: usize) -> bool {
        let was_high = self.out.len() >= OUTPUT_HIGH_WATER;
        if let Some(id) = self.out.consume(n) {
            self.note_sent(id);
        }
        was_high && self.out.len() < OUTPUT_HIGH_WATER
    }

    /// The reactor shut down the write side: linger until EOF or the timer.
    pub(super) fn handle_write_shutdown(&mut self, cx: &mut Cx<'_>) {
        self.state = State::Lingering;
        cx.deadline = Some(cx.now + cx.config.linger);
    }

    /// A message was published on the channel this connection waits on.
    pub(super) fn deliver(&mut self, message: &Message, cx: &mut Cx<'_>) -> Fed {
        match self.state {
            State::Parked(_) => self.answer_parked(message, cx),
            State::Streaming(_) => self.feed_stream(message, cx),
            State::WebSocket(..) => self.feed_websocket(message, cx),
            _ => Fed::Skipped,
        }
    }

    /// The channel it asked to join has it now. Returns where a replay
    /// from history continues, if it did not finish (see `replay.rs`).
    pub(super) fn joined(&mut self, join: Join, channel: &Channel, cx: &mut Cx<'_>) -> Option<u64> {
        match join {
            Join::Park(park) => {
                self.park(park, cx);
                None
            }
            Join::Stream(start) => self.start_stream(start, channel, cx),
            Join::WebSocket(start) => self.start_websocket(*start, channel, cx),
        }
    }

    /// The channel it asked to join could not be made.
    pub(super) fn join_refused(&mut self, join: Join, refusal: &Refusal, cx: &mut Cx<'_>) {
        match join {
            Join::Park(Park { reply, .. }) | Join::Stream(StreamStart { reply, .. }) => {
                self.refuse(refusal, reply, cx);
                self.request_done(reply, cx);
            }
            Join::WebSocket(_) => self.fail(refusal, cx),
        }
    }

    /// Server shutdown: a WebSocket says so (close 1001); the rest is
    /// flushed as it is.
    pub(super) fn handle_stop(&mut self, cx: &mut Cx<'_>) {
        if matches!(self.state, State::WebSocket(..)) {
            self.going_away(cx);
        }
    }

    /// Ends the connection: the one way every connection ends.
    pub(super) fn end(&mut self, how: End, cx: &mut Cx<'_>) {
        match how {
            End::AfterOutput => {
                // What is queued (an error response, a Close frame) gets
                // as long as any idle client to be read; once it is all
                // written the write side is shut and the connection
                // lingers (`handle_write_shutdown`). So a client that
                // reads late still gets a whole response or a
                // frame-aligned stream ending in the Close.
                self.state = State::Closing;
                cx.deadline = Some(cx.now + cx.config.idle_timeout);
            }
            End::Now => self.flags |= flag::CLOSE_NOW,
        }
    }

    /// Queues `response` as the answer to the current request (honouring
    /// `HEAD`), then closes if the exchange ends the connection.
    pub(super) fn respond(&mut self, response: &Response<'_>, reply: Reply, cx: &mut Cx<'_>) {
        let date = cx.date;
        self.out.write_with(|out| {
            write_response(out, response, date, reply.connection(), reply.head_only)
        });
        self.count_response(response.status, cx);
        self.after_response(reply, cx);
    }

    /// Answers `GET /metrics` with `body`, the text format.
    pub(super) fn respond_metrics(&mut self, body: &[u8], reply: Reply, cx: &mut Cx<'_>) {
        let response = Response {
            status: 200,
            content_type: crate::prometheus::CONTENT_TYPE,
            fields: &[("Cache-Control", b"no-cache")],
            body: Body::Full(body),
        };
        self.respond(&response, reply, cx);
        self.request_done(reply, cx);
    }

    /// Queues shared response bytes (a kept or shared answer).
    pub(super) fn respond_shared(
        &mut self,
        bytes: std::rc::Rc<[u8]>,
        reply: Reply,
        cx: &mut Cx<'_>,
    ) {
        self.out.push_shared(bytes);
        // Shared answers are the JSON answers of polls and long-polls.
        self.count_response(200, cx);
        self.after_response(reply, cx);
    }

    /// A response was queued: close after it if the exchange ends the
    /// connection.
    pub(super) fn after_response(&mut self, reply: Reply, cx: &mut Cx<'_>) {
        if self.has(flag::PEER_CLOSED) || !reply.keep_alive {
            self.end(End::AfterOutput, cx);
        }
    }

    /// Refuses the request and keeps the connection (the request's framing
    /// is known): the reason as a plain-text body.
    pub(super) fn refuse(&mut self, refusal: &Refusal, reply: Reply, cx: &mut Cx<'_>) {
        self.refuse_to(refusal, reply, None, cx);
    }

    /// [`Conn::refuse`], readable by a page of the origin `cors` allows
    /// (`Access-Control-Allow-Origin`): without it a browser hides a
    /// cross-origin `401` or `403`, reason and all, behind a CORS error.
    pub(super) fn refuse_to(
        &mut self,
        refusal: &Refusal,
        reply: Reply,
        cors: Option<&[u8]>,
        cx: &mut Cx<'_>,
    ) {
        self.write_refusal(refusal, reply.connection(), reply.head_only, cors, cx);
        self.after_response(reply, cx);
    }

    /// Refuses and closes: the request can't be trusted (or the connection
    /// can't be served at all). The body is sent even for `HEAD`.
    pub(super) fn fail(&mut self, refusal: &Refusal, cx: &mut Cx<'_>) {
        self.fail_to(refusal, None, cx);
    }

    /// [`Conn::fail`], readable by a page of the origin `cors` allows.
    pub(super) fn fail_to(&mut self, refusal: &Refusal, cors: Option<&[u8]>, cx: &mut Cx<'_>) {
        self.write_refusal(refusal, Connection::Close, false, cors, cx);
        self.end(End::AfterOutput, cx);
    }

    fn write_refusal(
        &mut self,
        refusal: &Refusal,
        connection: Connection,
        head_only: bool,
        cors: Option<&[u8]>,
        cx: &mut Cx<'_>,
    ) {
        let body = &mut cx.answers.body;
        body.clear();
        // Writing into a Vec cannot fail.
        let _ = writeln!(body, "{refusal}");
        let mut fields = Fields::new();
        for &(name, value) in refusal.fields() {
            fields = fields.with(name, value);
        }
        if let Some(value) = refusal.challenge() {
            fields = fields.with("WWW-Authenticate", value);
        }
        let fields = fields.cors(cors);
        let response = Response {
            status: refusal.status(),
            content_type: TEXT_PLAIN,
            fields: fields.as_slice(),
            body: Body::Full(body),
        };
        let date = cx.date;
        self.out
            .write_with(|out| write_response(out, &response, date, connection, head_only));
        self.count_response(response.status, cx);
    }

    /// The request is answered and its body read: back to waiting for the
    /// next one (keep-alive), or closing.
    pub(super) fn request_done(&mut self, reply: Reply, cx: &mut Cx<'_>) {
        if self.is_ending() {
            return;
        }
        if !reply.keep_alive || cx.draining {
            return self.end(End::AfterOutput, cx);
        }
        self.state = State::Idle;
        cx.deadline = Some(cx.now + cx.config.idle_timeout);
    }
}
