//! WebSocket connections (RFC 6455): `GET /echo` and `GET /ws/{channel}`.
//!
//! The opening handshake (section 4.2) turns an HTTP request into a
//! WebSocket; from then on the connection carries frames both ways, read by
//! its [`Session`] (a `MessageReader` for reassembly, UTF-8 and limits; the
//! pong to a ping and the closing handshake), and its messages answered
//! here:
//!
//! | frame from the client  | `/echo`            | `/ws/{channel}`                    |
//! |------------------------|--------------------|------------------------------------|
//! | text                   | echoed             | published to the channel           |
//! | binary                 | echoed             | close 1003 (section 7.4.1)         |
//! | ping                   | pong, same payload (section 5.5.2)                      |
//! | pong                   | ignored (an unsolicited pong is allowed, section 5.5.3) |
//! | close                  | close echoed, then TCP closed (section 5.5.1, 7.1)      |
//! | protocol violation     | close with the code the error names (1002, 1007, 1009)  |
//!
//! Channel messages reach a `/ws/` subscriber as one text frame each: the
//! data, or with the `pushwire.json` subprotocol the JSON envelope
//! `{"id":N,"data":"..."}`, so that a client can resume with `?since=N`.
//! Both frames are encoded once per message and shared. When `?since=`
//! is older than history, a `pushwire.json` client first gets
//! `{"gap":true,"since":N,"oldest":M}` (messages N+1 to M-1 are lost); a
//! plain client, whose frames carry no ids, cannot resume exactly anyway.
//! A text frame is published like a `POST`: the sender, a subscriber too,
//! gets its own message back with the id the store gave it. If the store
//! fails to keep it, the connection is closed with 1011 and the reason.
//!
//! **Keep-alive**: a connection that has been silent for `--ping-interval`
//! is pinged; if nothing at all (a pong or any other frame) arrives within
//! one more interval, it is closed.
//!
//! **Slow subscribers**: one whose unsent bytes, with what the kernel's
//! send buffer may hold for it, would pass `--max-backlog-bytes` gets
//! close **1008** (policy violation: it broke
//! the rule that a subscriber keeps up; 1013 "try again later" is about
//! the server's load, not the client's) after whatever frame it is in the
//! middle of, and is closed. History keeps the messages: reconnecting with
//! `?since=` loses nothing.
//!
//! **Slow subscribers, `--slow-consumer skip`**: a `pushwire.json`
//! subscriber is not closed; the frames not begun are dropped for the gap
//! frame that names them (`slow.rs`). A plain one keeps 1008.
//!
//! **Shutdown**: every open WebSocket gets close 1001 (going away); in a
//! drain after the frames already queued, with `{"last_id":N}` as the
//! reason for a `pushwire.json` client (`drain.rs`).

use std::rc::Rc;
use std::time::Instant;

use crate::broker::{Channel, ChannelName, Message, Transport};
use crate::http::{BodyFraming, Method, RequestHead};
use crate::ws::{
    self, close, Accepted, HandshakeRequest, KeepAlive, Opcode, Role, Session, SessionEvent,
};

use super::access::Grant;
use super::conn::{Conn, Cx, End, Fed, Join, State, Target, Want, OUTPUT_HIGH_WATER};
use super::output::OutQueue;
use super::query;
use super::refusal::Refusal;
use super::request::Read;

/// The subprotocol of `/ws/`: frames carry `{"id":N,"data":"..."}`.
pub const JSON_PROTOCOL: &str = "pushwire.json";

/// The close code of a WebSocket whose token expired: pushwire's own, in
/// the range RFC 6455 section 7.4.2 leaves to applications (4000-4999),
/// so that a client tells it from 1008 (too slow, or not allowed) and
/// reconnects with a new token and `?since=` (docs/auth.md).
pub const TOKEN_EXPIRED: u16 = 4001;

/// What a WebSocket connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `/echo`: every message comes back.
    Echo,
    /// `/ws/{channel}`: a subscriber of a channel, and a publisher to it
    /// if `write` (always, without `Config::auth`; with it, when the
    /// token's `pushwire.write` names the channel).
    Channel { json: bool, write: bool },
}

/// An open WebSocket: the protocol's state, and until when its token
/// lets it stay.
#[derive(Debug)]
pub(crate) struct Socket {
    session: Session,
    /// When its token stops being good: closed with 4001 then.
    expires: Option<Instant>,
    /// The id of the newest message the client has begun to receive, or
    /// where it started (`?since=`, else the channel's last id when it
    /// joined): a gap mark of the slow-consumer policy `skip` starts
    /// here (0 for `/echo`).
    pub(super) sent_id: u64,
}

/// A `/ws/{channel}` handshake accepted, about to join its channel.
#[derive(Debug)]
pub(super) struct WsStart {
    accepted: Accepted<'static>,
    since: Option<u64>,
    grant: Grant,
}

impl Conn {
    /// The opening handshake for `/echo` (`channel` is `None`) and
    /// `/ws/{channel}`.
    pub(super) fn upgrade(
        &mut self,
        head: &RequestHead<'_, '_>,
        channel: Option<(ChannelName, Grant)>,
        cx: &mut Cx<'_>,
    ) -> Option<Want> {
        let method = match head.method {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Options => "OPTIONS",
            Method::Other => "OTHER",
        };
        let request = HandshakeRequest {
            method,
            version_minor: head.minor_version,
            headers: head.headers,
        };
        let protocols: &[&'static str] = match channel {
            Some(_) => &[JSON_PROTOCOL],
            None => &[],
        };
        let allowed = cx.config.allow_ws_origin.as_deref();
        let accepted = ws::accept(&request, protocols, |origin| {
            allowed.is_none_or(|list| list.iter().any(|o| o.as_bytes() == origin))
        });
        let refusal = match accepted {
            Err(e) => Refusal::Handshake(e),
            Ok(_) if !matches!(head.framing, BodyFraming::None) => Refusal::BodyOnHandshake,
            Ok(accepted) => match (query::since(head.query), channel) {
                (Err(why), _) => Refusal::BadQuery(why),
                (Ok(since), Some((name, grant))) => {
                    let start = WsStart {
                        accepted,
                        since,
                        grant,
                    };
                    return Some(Want::Join(name, Join::WebSocket(Box::new(start))));
                }
                (Ok(_), None) => {
                    self.open_websocket(&accepted, Mode::Echo, None, 0, cx);
                    if cx.draining {
                        self.drain_websocket(cx);
                    }
                    return None;
                }
            },
        };
        self.fail(&refusal, cx);
        None
    }

    /// `101 Switching Protocols`; from here on, frames.
    fn open_websocket(
        &mut self,
        accepted: &Accepted<'_>,
        mode: Mode,
        expires: Option<Instant>,
        sent_id: u64,
        cx: &mut Cx<'_>,
    ) {
        self.out.write_with(|out| ws::write_response(out, accepted));
        self.count_response(101, cx);
        // Whatever is dropped later (a slow subscriber cut off before it
        // read this), the 101 goes first.
        self.out.protect();
        let session = Session::new(Role::Server, cx.now);
        self.state = State::WebSocket(
            mode,
            Box::new(Socket {
                session,
                expires,
                sent_id,
            }),
        );
        let ping = cx.now + cx.config.ping_interval;
        cx.deadline = Some(expires.map_or(ping, |e| e.min(ping)));
    }

    /// The subscriber joined its channel: the `101`, then what it missed
    /// (`?since=`), from history, a page at a time (returns where the
    /// replay continues, if it did not finish). A gap comes first if some
    /// of it already left history, as poll's `"gap":true` and SSE's
    /// `event: gap` do.
    pub(super) fn start_websocket(
        &mut self,
        start: WsStart,
        channel: &Channel,
        cx: &mut Cx<'_>,
    ) -> Option<u64> {
        let json = start.accepted.protocol == Some(JSON_PROTOCOL);
        let mode = Mode::Channel {
            json,
            write: start.grant.write,
        };
        let sent_id = start.since.unwrap_or_else(|| channel.last_id());
        self.open_websocket(&start.accepted, mode, start.grant.expires, sent_id, cx);
        self.replay(channel, start.since?, true, cx)
    }

    /// Frames from the client, from the start of `input`. Stops early (the
    /// rest is held) when the answers queued so far are too large.
    pub(super) fn read_frames(&mut self, input: &[u8], cx: &mut Cx<'_>) -> Read {
        let mut used = 0;
        loop {
            let State::WebSocket(mode, socket) = &mut self.state else {
                return Read::Wait(used);
            };
            let session = &mut socket.session;
            let rest = input.get(used..).unwrap_or_default();
            if rest.is_empty() || self.out.len() >= OUTPUT_HIGH_WATER {
                // All read, or too much to send: the rest waits until the
                // client reads.
                return Read::Wait(used);
            }
            // A unit of the pass's work per frame (each call reads at most
            // one).
            if !cx.take_work() {
                return Read::Wait(used); // the rest waits for the next pass
            }
            let (n, event) = session.handle_input(rest, cx.now, cx.ws_limits, &mut self.out, None);
            used += n;
            if !session.is_idle() {
                // A message is in progress: its deadline may come before
                // the keep-alive check (and the token's end before both).
                let check = session.next_check(cx.ws_limits);
                cx.deadline = Some(socket.expires.map_or(check, |e| e.min(check)));
            }
            match (event, *mode) {
                (None, _) => {}
                (Some(SessionEvent::Text(text)), Mode::Echo) => {
                    echo(&mut self.out, Opcode::Text, text.into_bytes())
                }
                (Some(SessionEvent::Binary(data)), Mode::Echo) => {
                    echo(&mut self.out, Opcode::Binary, data)
                }
                // The sender is a subscriber too: it gets its own message
                // back, with the id it was given.
                (Some(SessionEvent::Text(text)), Mode::Channel { write: true, .. }) => {
                    return Read::Want(used, Want::Publish(Target::Own, text));
                }
                // RFC 6455 section 7.4.1: 1008, a message that violates
                // the server's policy.
                (Some(SessionEvent::Text(_)), Mode::Channel { write: false, .. }) => {
                    let reason = "the token does not allow publishing here";
                    self.close_websocket(close::POLICY, reason, cx);
                    return Read::Wait(input.len());
                }
                (Some(SessionEvent::Binary(_)), Mode::Channel { .. }) => {
                    let reason = "binary frames are not accepted here";
                    self.close_websocket(close::UNSUPPORTED, reason, cx);
                    return Read::Wait(input.len());
                }
                // The session answered the peer's Close (section 5.5.1) or
                // sent the Close that fails the connection (section 7.1.7):
                // the server closes the TCP connection after it.
                (Some(SessionEvent::Closed { .. } | SessionEvent::Failed(_)), _) => {
                    self.end(End::AfterOutput, cx);
                    return Read::Wait(input.len());
                }
            }
        }
    }

    /// Sends a Close with `code` (unless one went already) and ends the
    /// connection after it.
    fn close_websocket(&mut self, code: u16, reason: &str, cx: &mut Cx<'_>) {
        if let State::WebSocket(_, socket) = &mut self.state {
            socket.session.close(code, reason, &mut self.out, None);
        }
        self.end(End::AfterOutput, cx);
    }

    /// A publish: queue the shared frame, or tell a subscriber that fell
    /// too far behind to go (1008) and close it.
    pub(super) fn feed_websocket(&mut self, message: &Message, cx: &mut Cx<'_>) -> Fed {
        let State::WebSocket(Mode::Channel { json, .. }, _) = self.state else {
            return Fed::Skipped;
        };
        if self.is_replaying() {
            return Fed::Skipped; // in history: the replay gets to it in order
        }
        let frame = message.ws_frame(json);
        if !self.make_room(message, frame.len(), cx) {
            // Only a frame already begun is kept, so the Close that
            // follows starts on a frame boundary.
            self.close_websocket(close::POLICY, "too slow: reconnect with ?since=", cx);
            cx.stats.slow_closed(Transport::Ws);
            return Fed::Changed;
        }
        self.out.push_message(Rc::clone(frame), message.id);
        cx.stats.delivered(Transport::Ws);
        Fed::Queued
    }

    /// The store did not keep a message this connection published.
    pub(super) fn ws_publish_failed(&mut self, refusal: &Refusal, cx: &mut Cx<'_>) {
        if !self.is_ending() {
            self.close_websocket(close::INTERNAL, &refusal.to_string(), cx);
        }
    }

    /// The ping timer: ping a silent connection, drop one that stayed
    /// silent for a whole interval after its ping (section 5.5.2 lets
    /// either side ping to check the peer is there).
    pub(super) fn ws_deadline(&mut self, cx: &mut Cx<'_>) {
        let State::WebSocket(_, socket) = &mut self.state else {
            return;
        };
        if socket.expires.is_some_and(|e| e <= cx.now) {
            // After everything already queued: nothing is dropped.
            return self.close_websocket(TOKEN_EXPIRED, "token expired", cx);
        }
        let expires = socket.expires;
        match socket
            .session
            .handle_timeout(cx.now, cx.ws_limits, &mut self.out, None)
        {
            KeepAlive::NotDue(next) | KeepAlive::PingSent(next) => {
                cx.deadline = Some(expires.map_or(next, |e| e.min(next)))
            }
            KeepAlive::PeerSilent => self.end(End::Now, cx),
            // The Close that fails it (1008) is written: send it, close.
            KeepAlive::Failed(_) => self.end(End::AfterOutput, cx),
        }
    }

    /// The server drains: after the frames queued, close 1001; a
    /// `pushwire.json` client's reason is `{"last_id":N}`, the newest
    /// message it is sent, so that it reconnects with `?since=N`.
    pub(super) fn drain_websocket(&mut self, cx: &mut Cx<'_>) {
        let State::WebSocket(mode, socket) = &self.state else {
            return;
        };
        let reason = match mode {
            Mode::Channel { json: true, .. } => {
                let last = self.out.newest_message_id().unwrap_or(socket.sent_id);
                format!("{{\"last_id\":{last}}}")
            }
            _ => "server shutting down".to_owned(),
        };
        self.close_websocket(close::GOING_AWAY, &reason, cx);
    }

    /// Server shutdown: close 1001, after any frame already begun.
    pub(super) fn going_away(&mut self, cx: &mut Cx<'_>) {
        self.out.keep_started();
        self.close_websocket(close::GOING_AWAY, "server shutting down", cx);
    }
}

/// Payloads from this size on are echoed without a copy: the frame header
/// goes into the output buffer and the message's own buffer is queued
/// after it, so `writev` sends both. Smaller ones are copied next to the
/// other answers, so that many small frames leave in one piece.
const ECHO_ZERO_COPY: usize = 4096;

/// Queues `payload` back to the client as one unmasked frame.
fn echo(out: &mut OutQueue, opcode: Opcode, payload: Vec<u8>) {
    if payload.len() < ECHO_ZERO_COPY {
        return out.write_with(|buf| ws::write_frame(buf, opcode, &payload, None));
    }
    out.write_with(|buf| ws::write_header(buf, true, opcode, None, payload.len() as u64));
    out.push_owned(payload);
}
