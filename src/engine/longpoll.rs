//! HTTP long-polling: `GET /longpoll/{channel}?since=&timeout=`.
//!
//! The request is answered at once when something newer than `since`
//! exists. Otherwise it is *parked*: the connection joins the channel's
//! long-poll set and gets a deadline in the timer wheel. Whichever comes
//! first answers it:
//!
//! - a publish: every parked request on the channel is answered in one
//!   pass. They all waited for the same thing (nothing newer than the
//!   channel's `last_id` existed when they parked), so they all get the
//!   same bytes: the response is built once and each connection's queue
//!   holds a reference to it;
//! - the deadline: `200` with `"messages":[]`, and the client asks again.
//!
//! ```text
//! GET /longpoll/news?since=17&timeout=30 HTTP/1.1     (parked ...)
//!
//! HTTP/1.1 200 OK                                     (... 4 s later, a publish)
//! Content-Type: application/json
//! Content-Length: 53
//! Cache-Control: no-cache
//! Access-Control-Allow-Origin: *
//!
//! {"last_id":18,"messages":[{"id":18,"data":"hello"}]}
//! ```
//!
//! Keep-alive continues after the answer, so the client's next long-poll
//! rides the same connection. A client that goes away while parked is
//! noticed at once (the socket reads EOF) and leaves the set.

use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::broker::{ChannelId, ConnId, Message, Transport};
use crate::http::RequestHead;
use crate::json;

use super::conn::{flag, Parked, Reply, State};
use super::http::write_json_response;
use super::{query, Engine, TOO_MANY_CHANNELS};

/// A long-poll answer made for one combination of head fields.
type BuiltAnswer = (Reply, Option<Box<[u8]>>, Rc<[u8]>);

/// `timeout=` when the client gives none (API.md).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl Engine {
    pub(super) fn longpoll(
        &mut self,
        id: ConnId,
        head: &RequestHead<'_, '_>,
        reply: Reply,
        channel: &str,
        now: Instant,
    ) {
        let since = match query::since(head.query) {
            Ok(since) => since,
            Err(reason) => return self.respond_text(id, reply, 400, reason, now),
        };
        let timeout = match query::timeout(head.query) {
            Ok(t) => t.unwrap_or(DEFAULT_TIMEOUT).min(self.config.longpoll_max),
            Err(reason) => return self.respond_text(id, reply, 400, reason, now),
        };
        let cors = self.cors_origin(head);
        // `since` omitted: only what is published from now on.
        let last_id = self.broker.backlog(channel, 0).last_id;
        let backlog = self.broker.backlog(channel, since.unwrap_or(last_id));
        if !backlog.is_empty() || backlog.gap || timeout.is_zero() {
            let mut body = std::mem::take(&mut self.scratch);
            body.clear();
            json::write_batch(
                &mut body,
                backlog.last_id,
                backlog.gap,
                backlog.iter().map(|m| &m.json[..]),
            );
            self.respond_json(id, reply, cors, &body, now);
            self.scratch = body;
            return self.request_done(id, reply, now);
        }
        let Ok(channel_id) = self.broker.find_or_create(channel) else {
            self.respond_text(id, reply, 503, TOO_MANY_CHANNELS, now);
            return self.request_done(id, reply, now);
        };
        let subscription = self.broker.subscribe(channel_id, Transport::LongPoll, id);
        let cors = cors.map(Into::into);
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.subscription = subscription;
        conn.state = State::Parked(Box::new(Parked { reply, cors }));
        self.set_timer(id, now + timeout);
    }

    /// A publish: answers every long-poll parked on the channel.
    pub(super) fn answer_parked(
        &mut self,
        channel: ChannelId,
        message: &Rc<Message>,
        now: Instant,
    ) {
        let mut parked = std::mem::take(&mut self.waiters);
        self.broker
            .take_subscribers(channel, Transport::LongPoll, &mut parked);
        if parked.is_empty() {
            self.waiters = parked;
            return;
        }
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        json::write_batch(&mut body, message.id, false, [&message.json[..]]);
        // The answers differ only in a few head fields (Connection, the
        // CORS origin, HEAD); usually all are the same, built once.
        let mut built: Vec<BuiltAnswer> = Vec::new();
        for &id in &parked {
            let Some(conn) = self.conns.get_mut(id) else {
                continue;
            };
            conn.subscription = None;
            let State::Parked(p) = std::mem::replace(&mut conn.state, State::Head) else {
                continue;
            };
            let bytes = match built.iter().find(|(r, c, _)| *r == p.reply && *c == p.cors) {
                Some((_, _, bytes)) => Rc::clone(bytes),
                None => {
                    let mut response = Vec::with_capacity(body.len() + 160);
                    write_json_response(
                        &mut response,
                        p.reply,
                        &self.date,
                        p.cors.as_deref(),
                        &body,
                    );
                    let bytes: Rc<[u8]> = response.into();
                    built.push((p.reply, p.cors, Rc::clone(&bytes)));
                    bytes
                }
            };
            conn.out.push_shared(bytes);
            self.after_response(id, p.reply, now);
            self.unpark(id, p.reply, now);
        }
        self.scratch = body;
        parked.clear();
        self.waiters = parked;
    }

    /// The deadline of a parked long-poll: answer with nothing new.
    pub(super) fn longpoll_timed_out(&mut self, id: ConnId, now: Instant) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let State::Parked(p) = std::mem::replace(&mut conn.state, State::Head) else {
            return;
        };
        let last_id = match conn.subscription.take() {
            Some(sub) => {
                let last_id = self.broker.channel(sub.channel).map_or(0, |c| c.last_id());
                self.broker.unsubscribe(sub);
                last_id
            }
            None => 0,
        };
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        json::write_batch(&mut body, last_id, false, []);
        self.respond_json(id, p.reply, p.cors.as_deref(), &body, now);
        self.scratch = body;
        self.unpark(id, p.reply, now);
    }

    /// After a parked request's answer is queued: back to reading requests;
    /// any that arrived meanwhile (pipelined) are processed next.
    fn unpark(&mut self, id: ConnId, reply: Reply, now: Instant) {
        self.request_done(id, reply, now);
        if let Some(conn) = self.conns.get_mut(id) {
            if !conn.inbuf.is_empty() {
                conn.flags |= flag::RESUME;
            }
        }
    }
}
