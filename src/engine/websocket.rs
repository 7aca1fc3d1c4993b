//! WebSocket connections (RFC 6455): `GET /echo` and `GET /ws/{channel}`.
//!
//! The opening handshake (section 4.2) turns an HTTP request into a
//! WebSocket; from then on the connection carries frames both ways, read by
//! a [`MessageReader`] (reassembly, UTF-8, limits) and answered here:
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
//!
//! **Keep-alive**: a connection that has been silent for `--ping-interval`
//! is pinged; if nothing at all (a pong or any other frame) arrives within
//! one more interval, it is closed.
//!
//! **Slow subscribers**: one whose unsent bytes would pass
//! `--max-backlog-bytes` gets close **1008** (policy violation: it broke
//! the rule that a subscriber keeps up; 1013 "try again later" is about
//! the server's load, not the client's) after whatever frame it is in the
//! middle of, and is closed. History keeps the messages: reconnecting with
//! `?since=` loses nothing.
//!
//! **Shutdown**: every open WebSocket gets close 1001 (going away).

use std::rc::Rc;
use std::time::Instant;

use crate::broker::{ChannelId, ConnId, Message, Transport};
use crate::http::{Method, RequestHead};
use crate::ws::{self, close, HandshakeRequest, MessageReader, Opcode, Role, WsEvent};

use super::conn::{flag, State};
use super::output::OutQueue;
use super::{query, Engine, TICK, TOO_MANY_CHANNELS};

/// The subprotocol of `/ws/`: frames carry `{"id":N,"data":"..."}`.
pub const JSON_PROTOCOL: &str = "pushwire.json";

/// What a WebSocket connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `/echo`: every message comes back.
    Echo,
    /// `/ws/{channel}`: a subscriber (and publisher) of a channel.
    Channel { json: bool },
}

/// A WebSocket connection's state: 32 bytes while idle. The frame reader
/// (128 bytes, plus any partial message) exists only while a frame or a
/// fragmented message is in progress; between messages it is dropped, so
/// ten thousand idle subscribers do not each carry one.
#[derive(Debug)]
pub(crate) struct WsConn {
    pub reader: Option<Box<MessageReader>>,
    pub mode: Mode,
    /// When a frame last arrived.
    pub last_heard: Instant,
    /// A ping went out and nothing came back yet.
    pub ping_sent: bool,
}

impl Engine {
    /// The opening handshake for `/echo` (`channel` is `None`) and
    /// `/ws/{channel}`.
    pub(super) fn upgrade(
        &mut self,
        id: ConnId,
        head: &RequestHead<'_, '_>,
        channel: Option<&str>,
        now: Instant,
    ) {
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
        let protocols: &[&str] = if channel.is_some() {
            &[JSON_PROTOCOL]
        } else {
            &[]
        };
        let allowed = self.config.allow_ws_origin.as_deref();
        let accepted = ws::accept(&request, protocols, |origin| {
            allowed.is_none_or(|list| list.iter().any(|o| o.as_bytes() == origin))
        });
        let accepted = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                let Some(conn) = self.conns.get_mut(id) else {
                    return;
                };
                let date = &self.date;
                conn.out
                    .write_with(|out| ws::write_error_response(out, &e, date));
                return self.close_after_output(id, now);
            }
        };
        if !matches!(head.framing, crate::http::BodyFraming::None) {
            return self.fail(id, 400, "a WebSocket handshake has no body", now);
        }
        let since = match query::since(head.query) {
            Ok(since) => since,
            Err(reason) => return self.fail(id, 400, reason, now),
        };
        let json = accepted.protocol == Some(JSON_PROTOCOL);
        let channel_id = match channel.map(|name| self.broker.find_or_create(name)) {
            Some(Err(_)) => return self.fail(id, 503, TOO_MANY_CHANNELS, now),
            Some(Ok(channel_id)) => Some(channel_id),
            None => None,
        };
        let mode = match channel {
            Some(_) => Mode::Channel { json },
            None => Mode::Echo,
        };
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.out
            .write_with(|out| ws::write_response(out, &accepted));
        if let (Some(name), Some(channel_id)) = (channel, channel_id) {
            // `?since=` replays what the client missed, from history.
            if let Some(since) = since {
                let backlog = self.broker.backlog(name, since);
                if backlog.gap && json {
                    // Some messages after `since` left history: say so
                    // (as poll's "gap":true and SSE's `event: gap` do).
                    let oldest = backlog.iter().next().map_or(backlog.last_id + 1, |m| m.id);
                    let gap = format!("{{\"gap\":true,\"since\":{since},\"oldest\":{oldest}}}");
                    conn.out
                        .write_with(|out| ws::write_frame(out, Opcode::Text, gap.as_bytes(), None));
                }
                for message in backlog.iter() {
                    conn.out.push_shared(Rc::clone(message.ws_frame(json)));
                }
            }
            conn.subscription = self.broker.subscribe(channel_id, Transport::Ws, id);
        }
        conn.state = State::WebSocket(Box::new(WsConn {
            reader: None,
            mode,
            last_heard: now,
            ping_sent: false,
        }));
        let deadline = now + self.config.ping_interval;
        self.set_timer(id, deadline);
        self.mark_ready(id);
    }

    /// Frames from the client. Returns the bytes consumed; stops early (to
    /// be resumed) when the answers queued so far are too large.
    pub(super) fn read_frames(&mut self, id: ConnId, input: &[u8], now: Instant) -> (usize, bool) {
        let max_message = self.config.max_message_bytes;
        let mut used = 0;
        loop {
            let Some(conn) = self.conns.get_mut(id) else {
                return (input.len(), false);
            };
            let State::WebSocket(wsc) = &mut conn.state else {
                return (used, false);
            };
            if conn.out.len() >= super::OUTPUT_HIGH_WATER {
                // Too much to send: leave the rest until the client reads.
                conn.flags |= flag::RESUME;
                return (used, false);
            }
            let rest = input.get(used..).unwrap_or(&[]);
            let reader = wsc
                .reader
                .get_or_insert_with(|| Box::new(MessageReader::new(Role::Server, max_message)));
            let (n, event) = match reader.read(rest) {
                Ok(step) => step,
                Err(e) => {
                    self.close_ws(id, e.close_code(), &e.to_string(), now);
                    return (input.len(), false);
                }
            };
            used += n;
            if n > 0 {
                wsc.last_heard = now;
                wsc.ping_sent = false;
            }
            let Some(event) = event else {
                // All input taken: between messages, the reader goes.
                if wsc.reader.as_ref().is_some_and(|r| r.is_idle()) {
                    wsc.reader = None;
                }
                return (used, true);
            };
            let mode = wsc.mode;
            match event {
                WsEvent::Text(text) => match mode {
                    Mode::Echo => echo(&mut conn.out, Opcode::Text, text.into_bytes()),
                    Mode::Channel { .. } => {
                        // The sender is a subscriber too: it gets its own
                        // message back, with the id it was given.
                        if let Some(sub) = conn.subscription {
                            self.publish_in(sub.channel, &text, now);
                        }
                    }
                },
                WsEvent::Binary(data) => match mode {
                    Mode::Echo => echo(&mut conn.out, Opcode::Binary, data),
                    Mode::Channel { .. } => {
                        self.close_ws(
                            id,
                            close::UNSUPPORTED,
                            "binary frames are not accepted here",
                            now,
                        );
                        return (input.len(), false);
                    }
                },
                WsEvent::Ping(payload) => conn
                    .out
                    .write_with(|out| ws::write_frame(out, Opcode::Pong, &payload, None)),
                WsEvent::Pong(_) => {}
                WsEvent::Close { code, .. } => {
                    // Section 5.5.1: answer with a Close (echoing the code),
                    // then the server closes the TCP connection.
                    conn.out
                        .write_with(|out| close::write_close_reply(out, code, None));
                    self.leave_channel(id);
                    self.close_after_output(id, now);
                    return (input.len(), false);
                }
            }
            self.mark_ready(id);
        }
    }

    /// Sends a Close with `code` and ends the connection after it.
    pub(super) fn close_ws(&mut self, id: ConnId, code: u16, reason: &str, now: Instant) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.out
            .write_with(|out| close::write_close(out, code, reason, None));
        self.leave_channel(id);
        self.close_after_output(id, now);
    }

    fn leave_channel(&mut self, id: ConnId) {
        if let Some(sub) = self.conns.get_mut(id).and_then(|c| c.subscription.take()) {
            self.broker.unsubscribe(sub);
        }
    }

    /// A publish: queue the shared frame on every WebSocket subscriber.
    pub(super) fn feed_websockets(&mut self, channel: ChannelId, message: &Message, now: Instant) {
        let Some(ch) = self.broker.channel(channel) else {
            return;
        };
        if ch.subscriber_count(Transport::Ws) == 0 {
            return;
        }
        let limit = self.config.max_backlog_bytes;
        let mut slow = std::mem::take(&mut self.waiters);
        for id in ch.subscribers(Transport::Ws) {
            let Some(conn) = self.conns.get_mut(id) else {
                continue;
            };
            let State::WebSocket(wsc) = &conn.state else {
                continue;
            };
            let Mode::Channel { json } = wsc.mode else {
                continue;
            };
            let frame = message.ws_frame(json);
            if conn.out.len().saturating_add(frame.len()) > limit {
                slow.push(id);
                continue;
            }
            conn.out.push_shared(Rc::clone(frame));
            if !conn.has(flag::READY) {
                conn.flags |= flag::READY;
                self.ready.push_back(id);
            }
        }
        for &id in &slow {
            if let Some(conn) = self.conns.get_mut(id) {
                // Keep only a frame already begun, so the Close that
                // follows starts on a frame boundary.
                conn.out.keep_started();
            }
            self.close_ws(id, close::POLICY, "too slow: reconnect with ?since=", now);
        }
        slow.clear();
        self.waiters = slow;
    }

    /// The ping timer: ping a silent connection, close one that stayed
    /// silent for a whole interval after its ping.
    pub(super) fn ws_deadline(&mut self, id: ConnId, now: Instant) {
        let interval = self.config.ping_interval;
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let State::WebSocket(wsc) = &mut conn.state else {
            return;
        };
        let silent = now.saturating_duration_since(wsc.last_heard) + TICK >= interval;
        if !silent {
            let next = wsc.last_heard + interval;
            return self.set_timer(id, next);
        }
        if wsc.ping_sent {
            // Section 5.5.2 lets either side ping to check the peer is
            // there; this one is not.
            conn.flags |= flag::CLOSE_NOW;
            self.leave_channel(id);
            return self.mark_ready(id);
        }
        wsc.ping_sent = true;
        conn.out
            .write_with(|out| ws::write_frame(out, Opcode::Ping, b"pushwire", None));
        self.set_timer(id, now + interval);
        self.mark_ready(id);
    }

    /// Server shutdown: close 1001 to every open WebSocket.
    pub fn shutdown(&mut self, now: Instant) {
        let ids: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c.state, State::WebSocket(_)))
            .map(|(id, _)| id)
            .collect();
        for id in ids {
            if let Some(conn) = self.conns.get_mut(id) {
                conn.out.keep_started();
            }
            self.close_ws(id, close::GOING_AWAY, "server shutting down", now);
        }
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
