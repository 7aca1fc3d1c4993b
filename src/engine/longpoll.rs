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
//! Date: Wed, 25 Nov 2026 02:05:13 GMT
//! Content-Type: application/json
//! Content-Length: 52
//! Cache-Control: no-cache
//! Access-Control-Allow-Origin: *
//!
//! {"last_id":18,"messages":[{"id":18,"data":"hello"}]}
//! ```
//!
//! Keep-alive continues after the answer, so the client's next long-poll
//! rides the same connection; requests pipelined behind a parked one wait
//! for its answer. A client that goes away while parked is noticed at once
//! (the socket reads EOF) and leaves the set.

use std::time::{Duration, Instant};

use crate::broker::{Channel, Message, Transport};
use crate::json;

use super::access::Grant;
use super::answers::write_backlog;
use super::conn::{Conn, Cx, Fed, Join, Reply, State, Want};
use super::query;
use super::refusal::Refusal;
use super::request::{ChannelRequest, Request};
use super::stats::GapBy;

/// `timeout=` when the client gives none (docs/api.md).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A parked long-poll: what its answer needs.
#[derive(Debug)]
pub(crate) struct Parked {
    pub(super) reply: Reply,
    /// `Access-Control-Allow-Origin` for the answer.
    cors: Option<Box<[u8]>>,
    /// Messages up to this id are not for it: in a cluster, it resumed
    /// from an id this node had not caught up to yet (0: none).
    after: u64,
}

/// A long-poll about to park on its channel.
#[derive(Debug)]
pub(super) struct Park {
    pub reply: Reply,
    cors: Option<Box<[u8]>>,
    deadline: Instant,
    /// Messages up to this id are not for it (0: every message is).
    after: u64,
}

impl Conn {
    /// `GET /longpoll/{channel}`: answers at once, or asks to park.
    /// A parked request whose token expires first is answered then, as at
    /// its timeout; the next one is refused (`401`, `expired`).
    pub(super) fn longpoll(
        &mut self,
        named: ChannelRequest<'_>,
        grant: Grant,
        cx: &mut Cx<'_>,
    ) -> Option<Want> {
        let ChannelRequest { request, name } = named;
        let Request { head, reply } = request;
        let parsed = query::since(head.query).and_then(|since| {
            let timeout = query::timeout(head.query)?;
            Ok((since, timeout.unwrap_or(DEFAULT_TIMEOUT)))
        });
        let (since, timeout) = match parsed {
            Ok((since, timeout)) => (since, timeout.min(cx.config.longpoll_max)),
            Err(why) => {
                self.refuse(&Refusal::BadQuery(why), reply, cx);
                self.request_done(reply, cx);
                return None;
            }
        };
        let cors = request.cors(cx);
        // `since` omitted: only what is published from now on.
        let broker = cx.broker;
        let last_id = broker.backlog(name.as_str(), 0).last_id;
        let mut backlog = broker.backlog(name.as_str(), since.unwrap_or(last_id));
        // A node of a cluster may be a moment behind the one the client
        // came from: it waits for what follows `since` (docs/cluster.md).
        let after = match since {
            Some(since) if cx.config.redis.is_some() && since > last_id => {
                backlog.last_id = since;
                since
            }
            _ => 0,
        };
        if backlog.is_empty() && !backlog.gap && !timeout.is_zero() {
            let park = Park {
                reply,
                cors: cors.map(Into::into),
                deadline: grant
                    .expires
                    .map_or(cx.now + timeout, |e| e.min(cx.now + timeout)),
                after,
            };
            return Some(Want::Join(name, Join::Park(park)));
        }
        if backlog.gap {
            cx.stats.gap(GapBy::LongPoll);
        }
        write_backlog(&mut cx.answers.body, &backlog, cx.config);
        self.respond_json(reply, cors, cx);
        self.request_done(reply, cx);
        None
    }

    /// The long-poll joined its channel: it waits.
    pub(super) fn park(&mut self, park: Park, cx: &mut Cx<'_>) {
        let Park {
            reply,
            cors,
            deadline,
            after,
        } = park;
        self.state = State::Parked(Box::new(Parked { reply, cors, after }));
        cx.deadline = Some(deadline);
    }

    /// A publish answers the parked long-poll with the message.
    pub(super) fn answer_parked(&mut self, message: &Message, cx: &mut Cx<'_>) -> Fed {
        let State::Parked(parked) = &self.state else {
            return Fed::Skipped;
        };
        if message.id <= parked.after {
            return Fed::Skipped; // it had that one: it waits on
        }
        let reply = parked.reply;
        let bytes = cx.answers.longpoll_answer(
            reply,
            parked.cors.as_deref(),
            cx.date,
            message.id,
            &message.json,
        );
        self.respond_shared(bytes, reply, cx);
        self.request_done(reply, cx);
        cx.stats.delivered(Transport::LongPoll);
        Fed::Changed
    }

    /// Messages before the next one of the channel are lost (a shared
    /// store lost them): the parked long-poll, which had seen `since`, is
    /// answered with what history has after it, `"gap":true`.
    pub(super) fn answer_parked_backlog(&mut self, channel: &Channel, since: u64, cx: &mut Cx<'_>) {
        let State::Parked(parked) = &self.state else {
            return;
        };
        let (reply, cors) = (parked.reply, parked.cors.clone());
        let since = since.max(parked.after);
        let backlog = channel.backlog(since);
        if backlog.gap {
            cx.stats.gap(GapBy::LongPoll);
        }
        write_backlog(&mut cx.answers.body, &backlog, cx.config);
        self.respond_json(reply, cors.as_deref(), cx);
        self.request_done(reply, cx);
    }

    /// The deadline of a parked long-poll: answer with nothing new.
    pub(super) fn longpoll_timed_out(&mut self, channel: Option<&Channel>, cx: &mut Cx<'_>) {
        self.answer_parked_empty(channel, None, cx);
    }

    /// The server drains: the parked long-poll is answered at once with
    /// what it has (nothing new, or it would not be parked), `Retry-After`
    /// the drain's jittered delay in whole seconds, and
    /// `Connection: close`.
    pub(super) fn drain_parked(
        &mut self,
        channel: Option<&Channel>,
        retry_ms: u64,
        cx: &mut Cx<'_>,
    ) {
        if let State::Parked(parked) = &mut self.state {
            parked.reply.keep_alive = false;
        }
        self.answer_parked_empty(channel, Some(retry_ms.div_ceil(1000).max(1)), cx);
    }

    /// Answers the parked long-poll with no message: `last_id` says where
    /// the channel is.
    fn answer_parked_empty(
        &mut self,
        channel: Option<&Channel>,
        retry_after: Option<u64>,
        cx: &mut Cx<'_>,
    ) {
        let State::Parked(parked) = &self.state else {
            return;
        };
        let reply = parked.reply;
        let body = &mut cx.answers.body;
        body.clear();
        let head = json::BatchHead {
            // One ahead of this node (a cluster's) keeps its place.
            last_id: channel.map_or(0, Channel::last_id).max(parked.after),
            ..json::BatchHead::default()
        };
        json::write_batch(body, head, []);
        let (date, body) = (cx.date, &cx.answers.body);
        let mut secs = Vec::new();
        if let Some(n) = retry_after {
            crate::decimal::write_u64(&mut secs, n);
        }
        let retry_after = retry_after.map(|_| secs.as_slice());
        let cors = parked.cors.as_deref();
        self.out.write_with(|out| {
            super::answers::write_json_retry(out, reply, date, cors, retry_after, body)
        });
        self.count_response(200, cx);
        cx.stats.longpoll_timeout();
        self.after_response(reply, cx);
        self.request_done(reply, cx);
    }
}
