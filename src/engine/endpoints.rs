//! The endpoints that answer at once: the demo page, the index, channel
//! info, Ajax polling and the CORS preflight.
//!
//! Polling (`GET /poll/{channel}?since=N`) is the simplest of the four
//! techniques: the answer is everything after `since` still in history,
//! now, even if that is nothing.
//!
//! ```text
//! GET /poll/news?since=17 HTTP/1.1
//! Host: 127.0.0.1:8080
//!
//! HTTP/1.1 200 OK
//! Date: Wed, 25 Nov 2026 02:05:09 GMT
//! Content-Type: application/json
//! Content-Length: 52
//! Cache-Control: no-cache
//! Access-Control-Allow-Origin: *
//!
//! {"last_id":18,"messages":[{"id":18,"data":"hello"}]}
//! ```
//!
//! Without `since`, a poll gets everything in history (docs/api.md); a
//! `since` older than history adds `"gap":true`.

use crate::broker::Transport;
use crate::http::response::{Body, Response, TEXT_PLAIN};
use crate::json;

use super::answers::{write_backlog, write_json, AnswerKey, Fields};
use super::conn::{Conn, Cx, Reply};
use super::query;
use super::refusal::Refusal;
use super::request::{ChannelRequest, Request};
use super::stats::GapBy;

/// The demo page served at `/`: the four techniques side by side on one
/// channel, one self-contained file (no external assets, no build step).
const DEMO: &str = include_str!("demo.html");

/// The plain-text index served at `/help`.
const INDEX: &str = "\
pushwire: four ways to push data to a client

GET  /                               the demo page: all four side by side
POST /pub/{channel}                  publish the body; answers {\"id\":N}
GET  /pub/{channel}                  channel info
GET  /poll/{channel}?since=ID        Ajax polling: answers at once
GET  /longpoll/{channel}?since=ID&timeout=SECS
                                     long-polling: answers when there is news
GET  /sse/{channel}                  Server-Sent Events (Last-Event-ID or ?since=ID)
GET  /ws/{channel}                   WebSocket: channel messages as text frames;
                                     subprotocol pushwire.json for {\"id\",\"data\"} frames
GET  /echo                           WebSocket echo (text and binary)
GET  /metrics                        Prometheus metrics (docs/operations.md)

Channel names are 1-128 bytes of [A-Za-z0-9._~-]. Ids count up by one per
channel; they start above the last id a channel reports when it has none.
";

impl Conn {
    /// `GET /`: the demo page.
    pub(super) fn demo(&mut self, reply: Reply, cx: &mut Cx<'_>) {
        let response = Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            fields: &[],
            body: Body::Full(DEMO.as_bytes()),
        };
        self.respond(&response, reply, cx);
    }

    /// `GET /help`: the plain-text index.
    pub(super) fn index(&mut self, reply: Reply, cx: &mut Cx<'_>) {
        let response = Response {
            status: 200,
            content_type: TEXT_PLAIN,
            fields: &[],
            body: Body::Full(INDEX.as_bytes()),
        };
        self.respond(&response, reply, cx);
    }

    /// `GET /pub/{channel}`: the channel's last id, history length and
    /// subscribers per transport.
    pub(super) fn channel_info(&mut self, named: ChannelRequest<'_>, cx: &mut Cx<'_>) {
        let ChannelRequest { request, name } = named;
        let reply = request.reply;
        let broker = cx.broker;
        let Some(ch) = broker.find(name.as_str()).and_then(|c| broker.channel(c)) else {
            return self.refuse(&Refusal::NoSuchChannel, reply, cx);
        };
        let info = json::ChannelInfo {
            last_id: ch.last_id(),
            history: ch.backlog(0).len() as u64,
            ws: ch.subscriber_count(Transport::Ws) as u64,
            sse: ch.subscriber_count(Transport::Sse) as u64,
            longpoll: ch.subscriber_count(Transport::LongPoll) as u64,
        };
        let body = &mut cx.answers.body;
        body.clear();
        json::write_channel_info(body, &info);
        self.respond_json(reply, request.cors(cx), cx);
    }

    /// `GET /poll/{channel}?since=N`: everything after `since`, at once.
    pub(super) fn poll(&mut self, named: ChannelRequest<'_>, cx: &mut Cx<'_>) {
        let ChannelRequest { request, name } = named;
        let Request { head, reply } = request;
        // Poll without `since` means "everything in history".
        let since = match query::since(head.query) {
            Ok(since) => since.unwrap_or(0),
            Err(why) => return self.refuse(&Refusal::BadQuery(why), reply, cx),
        };
        let cors = request.cors(cx);
        let broker = cx.broker;
        // Pollers of a channel mostly ask the same question and get the
        // same bytes: answers are kept, shared, until a publish changes
        // the channel's last id. The key has no origin, so only answers
        // that do not name one are kept.
        let ahead = cx.config.redis.is_some() && since > broker.backlog(name.as_str(), 0).last_id;
        let key = broker.find(name.as_str()).and_then(|ch| {
            let channel = broker.channel(ch)?;
            let shareable = (cors.is_none() || cors == Some(b"*")) && !ahead;
            shareable.then_some(AnswerKey {
                channel: ch,
                origin: channel.origin(),
                last_id: channel.last_id(),
                oldest: channel.oldest_id(),
                since: since.min(channel.last_id()),
                reply,
            })
        });
        if let Some((bytes, gap)) = key.and_then(|k| cx.answers.kept(&k)) {
            if gap {
                cx.stats.gap(GapBy::Poll);
            }
            return self.respond_shared(bytes, reply, cx);
        }
        let mut backlog = broker.backlog(name.as_str(), since);
        if ahead {
            // A node of a cluster may be a moment behind the one the
            // client came from: nothing newer than `since` yet, and the
            // client keeps its place (docs/cluster.md).
            backlog.last_id = since;
        }
        if backlog.gap {
            cx.stats.gap(GapBy::Poll);
        }
        write_backlog(&mut cx.answers.body, &backlog, cx.config);
        match key.and_then(|key| cx.answers.keep(key, backlog.gap, cx.date, cors)) {
            Some(bytes) => self.respond_shared(bytes, reply, cx),
            None => self.respond_json(reply, cors, cx),
        }
    }

    /// Queues the JSON body in the shared buffer as a subscribe answer.
    pub(super) fn respond_json(&mut self, reply: Reply, cors: Option<&[u8]>, cx: &mut Cx<'_>) {
        let (date, body) = (cx.date, &cx.answers.body);
        self.out
            .write_with(|out| write_json(out, reply, date, cors, body));
        self.count_response(200, cx);
        self.after_response(reply, cx);
    }

    /// `OPTIONS`: the CORS preflight (Fetch standard, "CORS protocol").
    pub(super) fn preflight(&mut self, request: Request<'_>, cx: &mut Cx<'_>) {
        let origin = request.cors(cx).unwrap_or(b"null");
        let fields = Fields::new()
            .with("Access-Control-Allow-Origin", origin)
            .with("Access-Control-Allow-Methods", b"GET, HEAD, POST, OPTIONS")
            .with(
                "Access-Control-Allow-Headers",
                b"Authorization, Content-Type, Last-Event-ID",
            )
            .with("Access-Control-Max-Age", b"600")
            .with("Vary", b"Origin");
        let response = Response {
            status: 204,
            content_type: TEXT_PLAIN,
            fields: fields.as_slice(),
            body: Body::Full(b""),
        };
        self.respond(&response, request.reply, cx);
    }
}
