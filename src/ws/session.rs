//! One WebSocket connection after the handshake: the rules every endpoint
//! follows, whatever it does with the messages (RFC 6455 sections 5.5, 7
//! and 7.1.7).
//!
//! A [`Session`] reads the peer's frames and answers the protocol's own
//! questions itself, so that the application only sees messages and the
//! end of the connection:
//!
//! | the peer sends            | the session writes                            | the caller gets             |
//! |---------------------------|-----------------------------------------------|-----------------------------|
//! | a text or binary message  | nothing                                       | [`SessionEvent::Text`], [`SessionEvent::Binary`] |
//! | a Ping                    | a Pong with the same payload (5.5.2, 5.5.3)   | nothing                     |
//! | a Pong                    | nothing; the outstanding ping is answered     | nothing                     |
//! | a Close                   | the Close echoed, unless it sent one (5.5.1)  | [`SessionEvent::Closed`]    |
//! | a protocol violation      | a Close with [`WsError::close_code`] (7.1.7)  | [`SessionEvent::Failed`]    |
//!
//! Bytes, as a server sees them (client frames masked with `00 00 00 00`
//! to keep them readable):
//!
//! ```text
//! in   89 82 00 00 00 00 68 69        Ping "hi"
//! out  8a 02 68 69                    Pong "hi"
//! in   88 82 00 00 00 00 03 e8        Close 1000
//! out  88 02 03 e8                    Close 1000, echoed; the handshake is done
//! in   81 01 ...                      an unmasked frame to a server
//! out  88 1c 03 ea 63 6c 69 ...       Close 1002 "client frame is not masked"
//! ```
//!
//! # The closing handshake
//!
//! ```text
//!          close(): our Close sent               the peer's Close read
//!   Open ───────────────────────────▶ CloseSent ───────────────────────▶ Closed
//!     │                                   │
//!     │ the peer's Close read, echoed     │ violation, or silent peer
//!     ├──────────────────▶ CloseReceived  └────────────────────────────▶ Closed
//!     │
//!     │ protocol violation (Close with its code sent), or silent after a ping
//!     └─────────────────────────────────────────────────────────────────▶ Closed
//! ```
//!
//! Nothing is sent after a Close (section 5.5.1): once the session has
//! left [`SessionState::Open`] it answers no Ping, sends no Ping and a
//! second [`Session::close`] writes nothing. Messages that arrive while our
//! Close is on its way ([`SessionState::CloseSent`]) are still delivered;
//! once the peer's Close was read, or the connection failed, input is
//! ignored.
//!
//! # Keep-alive
//!
//! The session remembers when it last consumed a byte of input
//! ([`Session::last_heard`]) and whether a Ping is outstanding. At its
//! timer the caller runs [`Session::handle_timeout`] with the interval and
//! the slack of its clock (a timer wheel fires up to one tick late or
//! early; the server passes its 4 ms tick). The peer is *silent* when
//! `now - last_heard + slack >= interval`:
//!
//! ```text
//! interval 30 s, slack 4 ms, last byte heard at t = 0
//!   t = 29.995 s   not silent        NotDue(t = 30 s)
//!   t = 29.996 s   silent            writes 89 08 "pushwire"; PingSent(t = 59.996 s)
//!   any input      clears the ping   (a Pong, or any other frame, proves the peer is there)
//!   t = 59.996 s   silent, pinged    PeerSilent: drop the connection, no Close
//! ```
//!
//! # Driving it
//!
//! 1. After the handshake, [`Session::new`] with the role and `now`.
//! 2. For every read from the socket, call [`Session::handle_input`] with
//!    the bytes until they are used up. It returns after each frame that
//!    completes, so the caller can check the size of its output (and stop
//!    reading while the peer does not read) before feeding the rest.
//! 3. At the deadline it was given, call [`Session::handle_timeout`].
//! 4. To end the connection itself (shutdown, a slow consumer, a refused
//!    message, a user quitting), call [`Session::close`] with a code.
//!
//! Every call writes at most one frame into the caller's [`Output`], so a
//! client passes a fresh masking key to each call (section 5.3) and a
//! server passes `None`.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use pushwire::ws::{KeepAlive, Limits, Role, Session, SessionEvent};
//!
//! let start = Instant::now();
//! let mut session = Session::new(Role::Server, start);
//! let mut out = Vec::new();
//! let interval = Duration::from_secs(30);
//! let limits = Limits { ping_interval: interval, ..Limits::client(1 << 20) };
//! // A masked text "hi" and a masked Ping "!" arrive in one read.
//! let wire = [0x81, 0x82, 0, 0, 0, 0, b'h', b'i', 0x89, 0x81, 0, 0, 0, 0, b'!'];
//! let mut input = &wire[..];
//! let mut events = Vec::new();
//! while !input.is_empty() {
//!     let (used, event) = session.handle_input(input, start, &limits, &mut out, None);
//!     input = &input[used..];
//!     events.extend(event);
//! }
//! assert_eq!(events, [SessionEvent::Text("hi".into())]);
//! assert_eq!(out, [0x8a, 0x01, b'!']); // the Pong
//! // Thirty seconds of silence later, the timer pings.
//! let now = start + interval;
//! out.clear();
//! let next = session.handle_timeout(now, &limits, &mut out, None);
//! assert_eq!(next, KeepAlive::PingSent(now + interval));
//! assert_eq!(out, b"\x89\x08pushwire");
//! ```

use std::time::{Duration, Instant};

use super::close;
use super::error::WsError;
use super::frame::{write_frame, Opcode};
use super::message::{MessageReader, WsEvent};
use super::role::Role;

/// The payload of the keep-alive Ping (section 5.5.2 lets it be anything
/// up to 125 bytes; the peer echoes it in its Pong).
pub const PING_PAYLOAD: &[u8] = b"pushwire";

/// Where a [`Session`] writes the frames it sends.
///
/// The session hands its writer a `&mut Vec<u8>` to append to, and only
/// when it has something to send: a `Vec<u8>` lends itself, and an output
/// queue can lend its last buffer, so the frame is written once, straight
/// where it will be sent from.
///
/// ```
/// use pushwire::ws::Output;
///
/// /// An output that counts the frames written into it.
/// struct Counted(Vec<u8>, usize);
///
/// impl Output for Counted {
///     fn write_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
///         self.1 += 1;
///         write(&mut self.0);
///     }
/// }
/// ```
pub trait Output {
    /// Calls `write` with a buffer to append bytes to.
    fn write_with(&mut self, write: impl FnOnce(&mut Vec<u8>));
}

impl Output for Vec<u8> {
    fn write_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        write(self);
    }
}

/// Where a session is in the closing handshake (RFC 6455 sections 5.5.1
/// and 7); see the module docs for the diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Frames flow both ways.
    Open,
    /// This end sent a Close and waits for the peer's; messages are still
    /// read, nothing more is sent.
    CloseSent,
    /// The peer's Close was read and answered: nothing more is sent or
    /// read. A server closes the TCP connection now; a client waits for
    /// the server to (section 7.1.1).
    CloseReceived,
    /// Both Closes went their way after this end started, or the
    /// connection failed (section 7.1.7), or the peer went silent: done.
    Closed,
}

/// What the peer's input meant to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A complete text message, validated as UTF-8.
    Text(String),
    /// A complete binary message.
    Binary(Vec<u8>),
    /// The peer's Close was read. If this end had not sent its own, the
    /// session answered it, echoing the code (section 5.5.1). Either way
    /// the closing handshake is over.
    Closed {
        /// The status code, `None` when the Close had no payload (known
        /// locally as 1005).
        code: Option<u16>,
        /// The reason, possibly empty.
        reason: String,
    },
    /// The peer broke the protocol. Unless this end had already sent a
    /// Close, the session wrote one with [`WsError::close_code`] and the
    /// error's text as the reason (section 7.1.7): send it and close the
    /// connection.
    Failed(WsError),
}

/// What a session allows its peer. RFC 6455 section 10.4 leaves these to
/// the endpoint ("implementations SHOULD impose implementation-specific
/// limits"); each exists because some input is much more work than its
/// bytes suggest, or keeps a connection alive for nothing:
///
/// | limit | past it |
/// |-------|---------|
/// | `max_message_bytes` | close 1009 |
/// | `max_fragments`: frames of one message | close 1009 |
/// | `max_control_frames_per_sec`: Pings and Pongs, sustained (a burst of one second's worth is allowed) | close 1008 |
/// | `message_timeout`: from a message's first frame to its last | close 1008 |
/// | `ping_interval`: silence before a Ping; silent another interval | dropped |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest message after reassembly.
    pub max_message_bytes: usize,
    /// The most frames one message may come in.
    pub max_fragments: usize,
    /// Control frames per second the peer may send, on average.
    pub max_control_frames_per_sec: u32,
    /// How long a message may take from its first frame to its last.
    pub message_timeout: Duration,
    /// Silence after which the peer is pinged.
    pub ping_interval: Duration,
    /// How early the caller's timer may fire (a wheel's tick, or zero).
    pub slack: Duration,
}

impl Limits {
    /// A client's limits: only the message size; a server it chose to
    /// talk to may send as it likes otherwise.
    ///
    /// ```
    /// use pushwire::ws::Limits;
    ///
    /// let limits = Limits::client(1 << 20);
    /// assert_eq!(limits.max_message_bytes, 1 << 20);
    /// assert_eq!(limits.max_fragments, usize::MAX);
    /// ```
    pub const fn client(max_message_bytes: usize) -> Limits {
        Limits {
            max_message_bytes,
            max_fragments: usize::MAX,
            max_control_frames_per_sec: u32::MAX,
            message_timeout: Duration::MAX,
            ping_interval: Duration::MAX,
            slack: Duration::ZERO,
        }
    }
}

/// What [`Session::handle_timeout`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    /// The peer was heard recently: check again at this time.
    NotDue(Instant),
    /// A Ping was written to the output: check again at this time.
    PingSent(Instant),
    /// The peer stayed silent for a whole interval after a Ping (or while
    /// closing): drop the connection, without a Close.
    PeerSilent,
    /// A message in progress ran past `message_timeout`: the session wrote
    /// the Close that fails the connection (1008); close after it.
    Failed(WsError),
}

/// A frame or fragmented message in progress: the reader with its partial
/// bytes, and when the message began.
#[derive(Debug, Clone)]
struct InProgress {
    reader: MessageReader,
    started: Instant,
}

/// One WebSocket connection's protocol state; see the module docs.
///
/// It holds no frame reader between messages, so an idle session is 32
/// bytes: the reader (with any partial message, and when it began) is
/// boxed when a frame starts and dropped when the input ends between
/// messages.
#[derive(Debug, Clone)]
pub struct Session {
    reader: Option<Box<InProgress>>,
    last_heard: Instant,
    /// Control frames over the allowance: each adds one, time drains
    /// `max_control_frames_per_sec` a second (a leaky bucket).
    control_debt: u32,
    role: Role,
    state: SessionState,
    ping_outstanding: bool,
}

impl Session {
    /// An open session for an endpoint playing `role`, last heard `now`
    /// (the handshake's end).
    pub fn new(role: Role, now: Instant) -> Session {
        Session {
            reader: None,
            last_heard: now,
            control_debt: 0,
            role,
            state: SessionState::Open,
            ping_outstanding: false,
        }
    }

    /// The role this session plays.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Where the session is in the closing handshake.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// When input was last consumed (or the session created).
    pub fn last_heard(&self) -> Instant {
        self.last_heard
    }

    /// Whether a keep-alive Ping went out and nothing was heard since.
    pub fn ping_outstanding(&self) -> bool {
        self.ping_outstanding
    }

    /// Whether no frame or fragmented message is in progress, so that the
    /// session holds no reader and no partial message.
    pub fn is_idle(&self) -> bool {
        self.reader.is_none()
    }

    /// When [`Session::handle_timeout`] should run next after input was
    /// read: at the keep-alive check, or sooner if a message in progress
    /// must end by then.
    pub fn next_check(&self, limits: &Limits) -> Instant {
        let ping = later(self.last_heard, limits.ping_interval);
        match &self.reader {
            Some(progress) => ping.min(later(progress.started, limits.message_timeout)),
            None => ping,
        }
    }

    /// Feeds bytes from the peer; returns how many were consumed and what
    /// they meant, if anything.
    ///
    /// Call again with `input[used..]` while bytes remain: it returns after
    /// each frame that completes (with `None` for a control frame it
    /// answered or noted), so that the caller can check its output before
    /// reading on. Answers (Pong, the echoed Close, the Close that fails
    /// the connection) are written to `out`, masked with `mask` (`Some`
    /// fresh key for a client, `None` for a server).
    ///
    /// `limits` bound what the peer may send ([`Limits`]); the size and
    /// fragment limits are read when a frame starts on an idle session.
    /// Once the session has read the peer's Close or failed, input is
    /// ignored: `(input.len(), None)`.
    ///
    /// ```
    /// use std::time::Instant;
    /// use pushwire::ws::{Limits, Role, Session, SessionEvent, SessionState};
    ///
    /// let now = Instant::now();
    /// let mut session = Session::new(Role::Client, now);
    /// let mut out = Vec::new();
    /// // The server's Close 1001 "bye", split across two reads.
    /// let wire = [0x88, 0x05, 0x03, 0xe9, b'b', b'y', b'e'];
    /// let key = Some([1, 2, 3, 4]);
    /// let limits = Limits::client(1 << 20);
    /// assert_eq!(session.handle_input(&wire[..3], now, &limits, &mut out, key), (3, None));
    /// let (used, event) = session.handle_input(&wire[3..], now, &limits, &mut out, key);
    /// assert_eq!(used, 4);
    /// assert_eq!(event, Some(SessionEvent::Closed { code: Some(1001), reason: "bye".into() }));
    /// // The echo, masked: 03 e9 ^ 01 02.
    /// assert_eq!(out, [0x88, 0x82, 1, 2, 3, 4, 0x02, 0xeb]);
    /// assert_eq!(session.state(), SessionState::CloseReceived);
    /// ```
    pub fn handle_input(
        &mut self,
        input: &[u8],
        now: Instant,
        limits: &Limits,
        out: &mut impl Output,
        mask: Option<[u8; 4]>,
    ) -> (usize, Option<SessionEvent>) {
        if !matches!(self.state, SessionState::Open | SessionState::CloseSent) {
            return (input.len(), None);
        }
        if input.is_empty() {
            return (0, None);
        }
        let role = self.role;
        let progress = self.reader.get_or_insert_with(|| {
            let reader = MessageReader::new(role, limits.max_message_bytes)
                .with_max_fragments(limits.max_fragments);
            Box::new(InProgress {
                reader,
                started: now,
            })
        });
        let (used, event) = match progress.reader.read(input) {
            Ok(step) => step,
            Err(err) => return (input.len(), Some(self.fail(err, out, mask))),
        };
        let idle = progress.reader.is_idle();
        let quiet = now.saturating_duration_since(self.last_heard);
        if used > 0 {
            self.last_heard = now;
            self.ping_outstanding = false;
        }
        if matches!(event, Some(WsEvent::Ping(_) | WsEvent::Pong(_)))
            && !self.allow_control_frame(quiet, limits)
        {
            return (
                input.len(),
                Some(self.fail(WsError::TooManyControlFrames, out, mask)),
            );
        }
        if idle && used == input.len() {
            // Between messages with nothing left to read: the reader goes,
            // so an idle connection carries none.
            self.reader = None;
        }
        let event = event.and_then(|event| self.answer(event, out, mask));
        (used, event)
    }

    /// Starts the closing handshake from this end: writes a Close with
    /// `code` and `reason` (cut to fit 125 bytes) and waits for the peer's.
    ///
    /// Returns whether the Close was written: only an open session sends
    /// one (section 5.5.1: nothing is sent after a Close). `code` should be
    /// one that may be sent ([`close_code::is_valid_code`](super::close_code::is_valid_code)):
    /// 1000 for a client quitting, 1001 for a server shutting down, 1003
    /// for a message type refused, 1008 for a policy (a slow consumer).
    ///
    /// ```
    /// use std::time::Instant;
    /// use pushwire::ws::{close_code, Role, Session, SessionState};
    ///
    /// let mut session = Session::new(Role::Server, Instant::now());
    /// let mut out = Vec::new();
    /// assert!(session.close(close_code::GOING_AWAY, "bye!", &mut out, None));
    /// assert_eq!(out, [0x88, 0x06, 0x03, 0xe9, b'b', b'y', b'e', b'!']);
    /// assert_eq!(session.state(), SessionState::CloseSent);
    /// assert!(!session.close(close_code::NORMAL, "", &mut out, None));
    /// assert_eq!(out.len(), 8);
    /// ```
    pub fn close(
        &mut self,
        code: u16,
        reason: &str,
        out: &mut impl Output,
        mask: Option<[u8; 4]>,
    ) -> bool {
        if self.state != SessionState::Open {
            return false;
        }
        out.write_with(|buf| close::write_close(buf, code, reason, mask));
        self.state = SessionState::CloseSent;
        true
    }

    /// The keep-alive timer: pings a silent peer, gives up on one that
    /// stayed silent for a whole `interval` after its Ping.
    ///
    /// The peer is silent when `now - last_heard + slack >= interval`;
    /// `slack` is how early the caller's timer may fire (the server's
    /// wheel tick, or zero). A Ping ([`PING_PAYLOAD`]) is written to `out`
    /// only while the session is open; a peer silent while closing is
    /// reported [`KeepAlive::PeerSilent`] at once. Silence is counted from
    /// the last byte heard, not from the Ping, so call it at the time it
    /// returned last (a timer that fires early, within `slack`, is fine).
    /// See the module docs for a timeline.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use pushwire::ws::{KeepAlive, Limits, Role, Session};
    ///
    /// let start = Instant::now();
    /// let interval = Duration::from_secs(10);
    /// let mut session = Session::new(Role::Server, start);
    /// let mut out = Vec::new();
    /// let limits = Limits { ping_interval: interval, ..Limits::client(1 << 20) };
    /// let early = start + Duration::from_secs(3);
    /// assert_eq!(
    ///     session.handle_timeout(early, &limits, &mut out, None),
    ///     KeepAlive::NotDue(start + interval)
    /// );
    /// let due = start + interval;
    /// assert_eq!(
    ///     session.handle_timeout(due, &limits, &mut out, None),
    ///     KeepAlive::PingSent(due + interval)
    /// );
    /// assert_eq!(
    ///     session.handle_timeout(due + interval, &limits, &mut out, None),
    ///     KeepAlive::PeerSilent
    /// );
    /// ```
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        limits: &Limits,
        out: &mut impl Output,
        mask: Option<[u8; 4]>,
    ) -> KeepAlive {
        let (interval, slack) = (limits.ping_interval, limits.slack);
        if let Some(progress) = &self.reader {
            let running = now.saturating_duration_since(progress.started);
            if running.saturating_add(slack) >= limits.message_timeout
                && matches!(self.state, SessionState::Open | SessionState::CloseSent)
            {
                let SessionEvent::Failed(err) = self.fail(WsError::MessageTimeout, out, mask)
                else {
                    return KeepAlive::PeerSilent;
                };
                return KeepAlive::Failed(err);
            }
        }
        let quiet = now.saturating_duration_since(self.last_heard);
        if quiet.saturating_add(slack) < interval {
            return KeepAlive::NotDue(self.next_check(limits));
        }
        if self.ping_outstanding || self.state != SessionState::Open {
            // Section 5.5.2 lets either side ping to check the peer is
            // there; this one is not.
            self.reader = None;
            self.state = SessionState::Closed;
            return KeepAlive::PeerSilent;
        }
        out.write_with(|buf| write_frame(buf, Opcode::Ping, PING_PAYLOAD, mask));
        self.ping_outstanding = true;
        let next = later(now, interval);
        KeepAlive::PingSent(match &self.reader {
            Some(progress) => next.min(later(progress.started, limits.message_timeout)),
            None => next,
        })
    }

    /// A leaky bucket for control frames: the frame adds one to the debt,
    /// the `quiet` time since the last input drains the allowance. Past a
    /// second's worth, the peer is over its limit.
    fn allow_control_frame(&mut self, quiet: Duration, limits: &Limits) -> bool {
        let rate = u128::from(limits.max_control_frames_per_sec);
        let drained = quiet.as_micros().saturating_mul(rate) / 1_000_000;
        let drained = u32::try_from(drained).unwrap_or(u32::MAX);
        self.control_debt = self.control_debt.saturating_sub(drained).saturating_add(1);
        self.control_debt <= limits.max_control_frames_per_sec
    }

    /// The session's part in an event the reader completed.
    fn answer(
        &mut self,
        event: WsEvent,
        out: &mut impl Output,
        mask: Option<[u8; 4]>,
    ) -> Option<SessionEvent> {
        match event {
            WsEvent::Text(text) => Some(SessionEvent::Text(text)),
            WsEvent::Binary(data) => Some(SessionEvent::Binary(data)),
            WsEvent::Ping(payload) => {
                // Section 5.5.2: a Ping is answered with a Pong carrying the
                // same payload (5.5.3), unless our Close has gone (5.5.1).
                if self.state == SessionState::Open {
                    out.write_with(|buf| write_frame(buf, Opcode::Pong, &payload, mask));
                }
                None
            }
            // Section 5.5.3: a Pong, solicited or not, needs no answer;
            // having read it already cleared the outstanding ping.
            WsEvent::Pong(_) => None,
            WsEvent::Close { code, reason } => {
                self.reader = None;
                self.state = match self.state {
                    SessionState::Open => {
                        // Section 5.5.1: answer with a Close, echoing the code.
                        out.write_with(|buf| close::write_close_reply(buf, code, mask));
                        SessionState::CloseReceived
                    }
                    _ => SessionState::Closed,
                };
                Some(SessionEvent::Closed { code, reason })
            }
        }
    }

    /// Section 7.1.7: a violation fails the connection with a Close that
    /// names it, unless a Close was sent already.
    fn fail(&mut self, err: WsError, out: &mut impl Output, mask: Option<[u8; 4]>) -> SessionEvent {
        if self.state == SessionState::Open {
            let reason = err.to_string();
            out.write_with(|buf| close::write_close(buf, err.close_code(), &reason, mask));
        }
        self.reader = None;
        self.state = SessionState::Closed;
        SessionEvent::Failed(err)
    }
}

/// `at + after`, or as late as an `Instant` can say if that overflows (an
/// interval of centuries never comes due anyway).
fn later(at: Instant, mut after: Duration) -> Instant {
    loop {
        if let Some(time) = at.checked_add(after) {
            return time;
        }
        after /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::close_code;
    use crate::ws::frame::{write_fragment, write_header};
    use proptest::prelude::*;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    const MAX: usize = 1 << 20;
    const INTERVAL: Duration = Duration::from_secs(30);
    const TICK: Duration = Duration::from_millis(4);
    const NS: Duration = Duration::from_nanos(1);
    /// Only the message size bounded.
    const CLIENT: Limits = Limits::client(MAX);
    /// Keep-alive at INTERVAL with the wheel's slack.
    const PINGS: Limits = Limits {
        ping_interval: INTERVAL,
        slack: TICK,
        ..CLIENT
    };
    /// Keep-alive at INTERVAL, a timer that is never early.
    const PINGS_EXACT: Limits = Limits {
        slack: Duration::ZERO,
        ..PINGS
    };

    /// Frames as a client writes them (masked).
    fn client(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        write_frame(&mut wire, opcode, payload, Some(KEY));
        wire
    }

    /// Feeds `wire` whole, as a caller does: until the input is used up.
    fn feed(
        session: &mut Session,
        wire: &[u8],
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Vec<SessionEvent> {
        feed_split(session, wire, &[], now, out)
    }

    /// Feeds `wire` cut at `cuts` (taken modulo its length).
    fn feed_split(
        session: &mut Session,
        wire: &[u8],
        cuts: &[usize],
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Vec<SessionEvent> {
        let mask = match session.role() {
            Role::Server => None,
            Role::Client => Some(KEY),
        };
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(wire.len());
        let mut events = Vec::new();
        let mut start = 0;
        for end in cuts {
            let mut piece = &wire[start..end];
            while !piece.is_empty() {
                let (used, event) = session.handle_input(piece, now, &CLIENT, out, mask);
                assert!(used > 0 || event.is_some(), "no progress");
                piece = &piece[used..];
                events.extend(event);
            }
            start = end;
        }
        events
    }

    /// The Close a server writes for `code` and `reason`.
    fn server_close(code: u16, reason: &str) -> Vec<u8> {
        let mut frame = Vec::new();
        close::write_close(&mut frame, code, reason, None);
        frame
    }

    fn closed(code: Option<u16>, reason: &str) -> SessionEvent {
        SessionEvent::Closed {
            code,
            reason: reason.into(),
        }
    }

    #[test]
    fn an_idle_session_is_at_most_32_bytes() {
        assert!(
            std::mem::size_of::<Session>() <= 32,
            "{}",
            std::mem::size_of::<Session>()
        );
    }

    #[test]
    fn messages_are_delivered_and_nothing_is_written() {
        let now = Instant::now();
        let mut session = Session::new(Role::Server, now);
        let mut wire = client(Opcode::Text, b"Hello");
        wire.extend(client(Opcode::Binary, &[0xff, 0]));
        write_fragment(&mut wire, false, Opcode::Text, b"frag ", Some(KEY));
        write_fragment(&mut wire, true, Opcode::Continuation, b"ment", Some(KEY));
        let mut out = Vec::new();
        assert_eq!(
            feed(&mut session, &wire, now, &mut out),
            [
                SessionEvent::Text("Hello".into()),
                SessionEvent::Binary(vec![0xff, 0]),
                SessionEvent::Text("frag ment".into()),
            ]
        );
        assert!(out.is_empty());
        assert_eq!(session.state(), SessionState::Open);
    }

    #[test]
    fn a_ping_is_answered_with_a_pong_of_the_same_payload() {
        let now = Instant::now();
        let mut server = Session::new(Role::Server, now);
        let mut out = Vec::new();
        // RFC 6455 5.7: a masked Ping "Hello"; the server's Pong is unmasked.
        let events = feed(&mut server, &client(Opcode::Ping, b"Hello"), now, &mut out);
        assert_eq!(events, []);
        assert_eq!(out, [0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        // RFC 6455 5.7: the client's Pong "Hello" masked with 37 fa 21 3d.
        let mut client_session = Session::new(Role::Client, now);
        let mut out = Vec::new();
        let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        assert_eq!(feed(&mut client_session, &ping, now, &mut out), []);
        assert_eq!(
            out,
            [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn a_pong_is_noted_not_answered() {
        let start = Instant::now();
        let mut session = Session::new(Role::Server, start);
        let mut out = Vec::new();
        let due = start + INTERVAL;
        session.handle_timeout(due, &PINGS, &mut out, None);
        assert!(session.ping_outstanding());
        out.clear();
        let later = due + Duration::from_millis(20);
        let pong = client(Opcode::Pong, PING_PAYLOAD);
        assert_eq!(feed(&mut session, &pong, later, &mut out), []);
        assert!(out.is_empty());
        assert!(!session.ping_outstanding());
        assert_eq!(session.last_heard(), later);
    }

    #[test]
    fn the_peers_close_is_echoed_and_ends_reading() {
        let now = Instant::now();
        // The received Close's payload, the reply's bytes, what is reported.
        let table: [(&[u8], &[u8], SessionEvent); 3] = [
            (b"\x03\xe8", b"\x88\x02\x03\xe8", closed(Some(1000), "")),
            (
                b"\x0f\xa0why",
                b"\x88\x02\x0f\xa0",
                closed(Some(4000), "why"),
            ),
            (b"", b"\x88\x00", closed(None, "")),
        ];
        for (payload, reply, event) in table {
            let mut session = Session::new(Role::Server, now);
            let mut out = Vec::new();
            let mut wire = client(Opcode::Close, payload);
            wire.extend(client(Opcode::Ping, b"after the close"));
            let events = feed(&mut session, &wire, now, &mut out);
            assert_eq!(events, [event], "{payload:02x?}");
            assert_eq!(out, reply, "{payload:02x?}");
            assert_eq!(session.state(), SessionState::CloseReceived);
            assert!(session.is_idle());
            assert!(!session.close(close_code::NORMAL, "", &mut out, None));
            assert_eq!(out, reply);
        }
    }

    #[test]
    fn a_local_close_waits_for_the_peers_and_sends_nothing_more() {
        let now = Instant::now();
        let mut session = Session::new(Role::Server, now);
        let mut out = Vec::new();
        assert!(session.close(close_code::POLICY, "too slow", &mut out, None));
        assert_eq!(out, server_close(1008, "too slow"));
        assert_eq!(session.state(), SessionState::CloseSent);
        out.clear();
        // A Ping is not answered, a message is still delivered, and the
        // peer's Close completes the handshake without a second Close.
        let mut wire = client(Opcode::Ping, b"p");
        wire.extend(client(Opcode::Text, b"late"));
        wire.extend(client(Opcode::Close, b"\x03\xf0"));
        let events = feed(&mut session, &wire, now, &mut out);
        let expected = [SessionEvent::Text("late".into()), closed(Some(1008), "")];
        assert_eq!(events, expected);
        assert!(out.is_empty());
        assert_eq!(session.state(), SessionState::Closed);
        assert_eq!(
            session.handle_input(b"\x81\x80", now, &CLIENT, &mut out, None),
            (2, None)
        );
    }

    #[test]
    fn a_client_close_is_masked() {
        let mut session = Session::new(Role::Client, Instant::now());
        let mut out = Vec::new();
        assert!(session.close(close_code::NORMAL, "", &mut out, Some([1, 2, 3, 4])));
        assert_eq!(out, [0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2]);
    }

    #[test]
    fn a_violation_sends_the_close_its_error_names_and_fails() {
        let now = Instant::now();
        let mut too_big = Vec::new();
        write_header(
            &mut too_big,
            true,
            Opcode::Binary,
            Some(KEY),
            MAX as u64 + 1,
        );
        let table: Vec<(Vec<u8>, WsError)> = vec![
            (b"\x81\x01x".to_vec(), WsError::UnmaskedClientFrame),
            (client(Opcode::Text, b"\xff"), WsError::InvalidUtf8),
            (too_big, WsError::MessageTooBig(MAX)),
            (client(Opcode::Close, b"\x03"), WsError::CloseFrameTooShort),
            (b"\x93".to_vec(), WsError::ReservedBitsSet(1)),
        ];
        for (wire, err) in table {
            let mut session = Session::new(Role::Server, now);
            let mut out = Vec::new();
            let events = feed(&mut session, &wire, now, &mut out);
            assert_eq!(events, [SessionEvent::Failed(err)], "{err}");
            assert_eq!(out, server_close(err.close_code(), &err.to_string()));
            assert_eq!(session.state(), SessionState::Closed);
            assert!(session.is_idle());
        }
        // The unmasked frame, byte for byte: 1002 "client frame is not masked".
        let mut session = Session::new(Role::Server, now);
        let mut out = Vec::new();
        feed(&mut session, b"\x81\x01x", now, &mut out);
        let mut expected = vec![0x88, 0x1c, 0x03, 0xea];
        expected.extend_from_slice(b"client frame is not masked");
        assert_eq!(out, expected);
    }

    #[test]
    fn a_violation_after_our_close_sends_nothing() {
        let now = Instant::now();
        let mut session = Session::new(Role::Server, now);
        let mut out = Vec::new();
        session.close(
            close_code::GOING_AWAY,
            "server shutting down",
            &mut out,
            None,
        );
        out.clear();
        let events = feed(&mut session, &client(Opcode::Text, b"\xff"), now, &mut out);
        assert_eq!(events, [SessionEvent::Failed(WsError::InvalidUtf8)]);
        assert!(out.is_empty());
        assert_eq!(session.state(), SessionState::Closed);
    }

    #[test]
    fn keep_alive_pings_and_gives_up_to_the_tick() {
        let start = Instant::now();
        let mut session = Session::new(Role::Server, start);
        let mut out = Vec::new();
        // Silent means now - last_heard + TICK >= interval.
        let due = start + INTERVAL - TICK;
        assert_eq!(
            session.handle_timeout(due - NS, &PINGS, &mut out, None),
            KeepAlive::NotDue(start + INTERVAL)
        );
        assert!(out.is_empty());
        assert_eq!(
            session.handle_timeout(due, &PINGS, &mut out, None),
            KeepAlive::PingSent(due + INTERVAL)
        );
        assert_eq!(out, b"\x89\x08pushwire");
        out.clear();
        // Silence is counted from the last byte heard, not from the ping:
        // at the time PingSent named, the peer has been silent for two
        // intervals less a tick.
        assert_eq!(
            session.handle_timeout(due + INTERVAL, &PINGS, &mut out, None),
            KeepAlive::PeerSilent
        );
        assert!(out.is_empty());
        assert_eq!(session.state(), SessionState::Closed);
    }

    #[test]
    fn input_after_a_ping_keeps_the_peer() {
        let start = Instant::now();
        let mut session = Session::new(Role::Server, start);
        let mut out = Vec::new();
        let due = start + INTERVAL;
        session.handle_timeout(due, &PINGS, &mut out, None);
        // Any frame, not only a Pong, is a sign of life (and so is half a one).
        let heard = due + Duration::from_secs(1);
        let text = client(Opcode::Text, b"still here");
        assert_eq!(
            session.handle_input(&text[..3], heard, &CLIENT, &mut out, None),
            (3, None)
        );
        assert!(!session.ping_outstanding());
        assert_eq!(session.last_heard(), heard);
        out.clear();
        let next = heard + INTERVAL;
        assert_eq!(
            session.handle_timeout(next - TICK - NS, &PINGS, &mut out, None),
            KeepAlive::NotDue(next)
        );
        assert_eq!(
            session.handle_timeout(next - TICK, &PINGS, &mut out, None),
            KeepAlive::PingSent(next - TICK + INTERVAL)
        );
        // An empty read is not a sign of life.
        let empty = next + Duration::from_secs(5);
        assert_eq!(
            session.handle_input(&[], empty, &CLIENT, &mut out, None),
            (0, None)
        );
        assert_eq!(session.last_heard(), heard);
    }

    #[test]
    fn a_client_pings_masked_and_with_no_slack() {
        let start = Instant::now();
        let mut session = Session::new(Role::Client, start);
        let mut out = Vec::new();
        let due = start + INTERVAL;
        let key = Some([0, 0, 0, 1]);
        assert_eq!(
            session.handle_timeout(due - NS, &PINGS_EXACT, &mut out, key),
            KeepAlive::NotDue(due)
        );
        assert_eq!(
            session.handle_timeout(due, &PINGS_EXACT, &mut out, key),
            KeepAlive::PingSent(due + INTERVAL)
        );
        assert_eq!(out, b"\x89\x88\x00\x00\x00\x01pusiwird");
    }

    #[test]
    fn a_closing_session_never_pings_and_drops_a_silent_peer() {
        let start = Instant::now();
        let mut session = Session::new(Role::Server, start);
        let mut out = Vec::new();
        session.close(close_code::NORMAL, "", &mut out, None);
        out.clear();
        assert_eq!(
            session.handle_timeout(start + Duration::from_secs(1), &PINGS, &mut out, None),
            KeepAlive::NotDue(start + INTERVAL)
        );
        assert_eq!(
            session.handle_timeout(start + INTERVAL, &PINGS, &mut out, None),
            KeepAlive::PeerSilent
        );
        assert!(out.is_empty());
    }

    #[test]
    fn an_interval_past_the_clocks_range_never_panics() {
        let start = Instant::now();
        let mut session = Session::new(Role::Server, start);
        let mut out = Vec::new();
        let next = session.handle_timeout(
            start,
            &Limits {
                ping_interval: Duration::MAX,
                ..PINGS
            },
            &mut out,
            None,
        );
        assert!(matches!(next, KeepAlive::NotDue(at) if at > start));
    }

    #[test]
    fn the_reader_exists_only_while_a_frame_or_message_is_in_progress() {
        let now = Instant::now();
        let mut session = Session::new(Role::Server, now);
        let mut out = Vec::new();
        assert!(session.is_idle());
        let text = client(Opcode::Text, b"Hello");
        session.handle_input(&text[..4], now, &CLIENT, &mut out, None);
        assert!(!session.is_idle());
        let (used, event) = session.handle_input(&text[4..], now, &CLIENT, &mut out, None);
        assert_eq!((used, event), (7, Some(SessionEvent::Text("Hello".into()))));
        assert!(session.is_idle());
        // A fragmented message keeps it between its frames.
        let mut first = Vec::new();
        write_fragment(&mut first, false, Opcode::Binary, b"12", Some(KEY));
        feed(&mut session, &first, now, &mut out);
        assert!(!session.is_idle());
        let mut last = Vec::new();
        write_fragment(&mut last, true, Opcode::Continuation, b"3", Some(KEY));
        let events = feed(&mut session, &last, now, &mut out);
        assert_eq!(events, [SessionEvent::Binary(b"123".to_vec())]);
        assert!(session.is_idle());
    }

    #[test]
    fn the_message_limit_is_taken_when_a_frame_starts() {
        let now = Instant::now();
        let mut session = Session::new(Role::Server, now);
        let mut out = Vec::new();
        let text = client(Opcode::Text, b"12345");
        let (_, event) = session.handle_input(&text, now, &Limits::client(4), &mut out, None);
        assert_eq!(event, Some(SessionEvent::Failed(WsError::MessageTooBig(4))));
        assert_eq!(
            out,
            server_close(1009, "message exceeds the limit of 4 bytes")
        );
    }

    /// Everything a session did with `wire` cut at `cuts`.
    fn run(
        server: bool,
        wire: &[u8],
        cuts: &[usize],
    ) -> (Vec<SessionEvent>, Vec<u8>, SessionState) {
        let role = if server { Role::Server } else { Role::Client };
        let now = Instant::now();
        let mut session = Session::new(role, now);
        let mut out = Vec::new();
        let events = feed_split(&mut session, wire, cuts, now, &mut out);
        (events, out, session.state())
    }

    /// A frame a peer of either role may send, or garbage.
    fn frame() -> impl Strategy<Value = (u8, Vec<u8>, bool)> {
        (
            prop_oneof![
                Just(0x1u8),
                Just(0x2),
                Just(0x8),
                Just(0x9),
                Just(0xA),
                Just(0x0),
                Just(0x3),
            ],
            proptest::collection::vec(any::<u8>(), 0..140),
            any::<bool>(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_split_gives_the_same_events_bytes_and_state(
            frames in proptest::collection::vec(frame(), 1..6),
            cuts in proptest::collection::vec(any::<usize>(), 0..10),
            server in any::<bool>(),
        ) {
            // Frames as the peer of `server` writes them, valid or not.
            let mask = if server { Some(KEY) } else { None };
            let mut wire = Vec::new();
            for (opcode, payload, fin) in &frames {
                let len = payload.len() as u64;
                let first = (if *fin { 0x80 } else { 0 }) | opcode;
                let mut header = Vec::new();
                write_header(&mut header, true, Opcode::Text, mask, len);
                header[0] = first;
                wire.extend_from_slice(&header);
                let mut body = payload.clone();
                if let Some(key) = mask {
                    crate::ws::apply_mask(&mut body, key, 0);
                }
                wire.extend_from_slice(&body);
            }
            let whole = run(server, &wire, &[]);
            let split = run(server, &wire, &cuts);
            prop_assert_eq!(&whole, &split);
            let bytewise: Vec<usize> = (0..wire.len()).collect();
            prop_assert_eq!(whole, run(server, &wire, &bytewise));
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_splits_agree(
            wire in proptest::collection::vec(any::<u8>(), 0..200),
            cuts in proptest::collection::vec(any::<usize>(), 0..10),
            server in any::<bool>(),
        ) {
            prop_assert_eq!(run(server, &wire, &[]), run(server, &wire, &cuts));
        }
    }

    /// A server's limits for the tests of the limits.
    const SERVER: Limits = Limits {
        max_message_bytes: MAX,
        max_fragments: 4,
        max_control_frames_per_sec: 10,
        message_timeout: Duration::from_secs(5),
        ping_interval: INTERVAL,
        slack: TICK,
    };

    #[test]
    fn a_message_in_more_frames_than_allowed_fails_with_1009() {
        let start = Instant::now();
        let mut session = Session::new(Role::Server, start);
        let mut out = Vec::new();
        let mut wire = Vec::new();
        write_fragment(&mut wire, false, Opcode::Text, b"a", Some(KEY));
        for _ in 0..2 {
            write_fragment(&mut wire, false, Opcode::Continuation, b"", Some(KEY));
        }
        write_fragment(&mut wire, true, Opcode::Continuation, b"b", Some(KEY));
        // Four frames: allowed.
        let mut input = &wire[..];
        let mut events = Vec::new();
        while !input.is_empty() {
            let (used, event) = session.handle_input(input, start, &SERVER, &mut out, None);
            input = &input[used..];
            events.extend(event);
        }
        assert_eq!(events, [SessionEvent::Text("ab".into())]);
        // Five: the fifth fails the connection.
        let mut wire = Vec::new();
        write_fragment(&mut wire, false, Opcode::Binary, b"", Some(KEY));
        for _ in 0..4 {
            write_fragment(&mut wire, false, Opcode::Continuation, b"", Some(KEY));
        }
        let mut input = &wire[..];
        let mut failed = None;
        while !input.is_empty() && failed.is_none() {
            let (used, event) = session.handle_input(input, start, &SERVER, &mut out, None);
            input = &input[used..];
            failed = event;
        }
        assert_eq!(
            failed,
            Some(SessionEvent::Failed(WsError::TooManyFragments(4)))
        );
        assert!(out.ends_with(b"\x03\xf1message in more than 4 frames"));
        assert_eq!(session.state(), SessionState::Closed);
    }

    #[test]
    fn control_frames_past_the_rate_fail_with_1008_and_time_drains_the_allowance() {
        let start = Instant::now();
        let mut session = Session::new(Role::Server, start);
        let mut out = Vec::new();
        let pong = client(Opcode::Pong, b"");
        // A burst of one second's worth (10) at once is allowed ...
        for _ in 0..10 {
            assert_eq!(
                session.handle_input(&pong, start, &SERVER, &mut out, None),
                (pong.len(), None)
            );
        }
        // ... and one more a tenth of a second later (one drained) too.
        let later = start + Duration::from_millis(100);
        assert_eq!(
            session.handle_input(&pong, later, &SERVER, &mut out, None),
            (pong.len(), None)
        );
        // The next one at the same instant is over the limit.
        let (_, event) = session.handle_input(&pong, later, &SERVER, &mut out, None);
        assert_eq!(
            event,
            Some(SessionEvent::Failed(WsError::TooManyControlFrames))
        );
        assert!(out.ends_with(b"\x03\xf0too many control frames"));
        // Ten a second, sustained, never fail.
        let mut session = Session::new(Role::Server, start);
        for i in 1..=100u64 {
            let at = start + Duration::from_millis(100 * i);
            let (_, event) = session.handle_input(&pong, at, &SERVER, &mut out, None);
            assert_eq!(event, None, "pong {i}");
        }
    }

    #[test]
    fn a_message_that_does_not_finish_in_time_fails_with_1008_at_its_deadline() {
        let start = Instant::now();
        let mut session = Session::new(Role::Server, start);
        let mut out = Vec::new();
        let mut first = Vec::new();
        write_fragment(&mut first, false, Opcode::Text, b"a", Some(KEY));
        session.handle_input(&first, start, &SERVER, &mut out, None);
        // Trickling keeps the peer from being silent, not the message alive.
        let mut more = Vec::new();
        write_fragment(&mut more, false, Opcode::Continuation, b"b", Some(KEY));
        let second = start + Duration::from_secs(2);
        session.handle_input(&more, second, &SERVER, &mut out, None);
        assert_eq!(session.next_check(&SERVER), start + Duration::from_secs(5));
        let deadline = start + Duration::from_secs(5);
        assert_eq!(
            session.handle_timeout(deadline - TICK - NS, &SERVER, &mut out, None),
            KeepAlive::NotDue(deadline)
        );
        assert!(out.is_empty());
        assert_eq!(
            session.handle_timeout(deadline - TICK, &SERVER, &mut out, None),
            KeepAlive::Failed(WsError::MessageTimeout)
        );
        assert!(out.ends_with(b"\x03\xf0message took too long"));
        // Between messages, the keep-alive alone decides.
        let session = Session::new(Role::Server, start);
        assert_eq!(session.next_check(&SERVER), start + INTERVAL);
    }
}
