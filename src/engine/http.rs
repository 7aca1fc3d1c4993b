//! Requests: reading heads and bodies, routing, and the HTTP endpoints.
//!
//! | method | path              | answer                                   |
//! |--------|-------------------|------------------------------------------|
//! | GET    | `/`               | the demo page (HTML)                     |
//! | GET    | `/help`           | plain-text index of the endpoints        |
//! | POST   | `/pub/{channel}`  | `202 {"id":N}`                           |
//! | GET    | `/pub/{channel}`  | channel info, `404` if unknown           |
//! | GET    | `/poll/{channel}` | `{"last_id":N,"messages":[...]}` at once |
//! | OPTIONS| any               | `204`, the CORS preflight                |

use std::rc::Rc;
use std::time::Instant;

use crate::broker::{valid_channel_name, ChannelId, ConnId, Transport};
use crate::config::AllowOrigin;
use crate::http::chunked::ChunkedDecoder;
use crate::http::request::{HeadLimits, MAX_HEADERS};
use crate::http::response::{write_response, Connection};
use crate::http::{parse_head, BodyFraming, HttpDate, HttpError, Method, RequestHead};
use crate::json;

use super::conn::{BodyReader, BodyUse, PendingBody, Reply, State};
use super::{query, Engine, PublishError, OUTPUT_HIGH_WATER};

/// The demo page served at `/`: the four techniques side by side on one
/// channel, one self-contained file (no external assets, no build step).
const DEMO: &str = include_str!("demo.html");

/// The plain-text index served at `/help`.
const INDEX: &str = "pushwire: four ways to push data to a client\n\
\n\
GET  /                               the demo page: all four side by side\n\
POST /pub/{channel}                  publish the body; answers {\"id\":N}\n\
GET  /pub/{channel}                  channel info\n\
GET  /poll/{channel}?since=ID        Ajax polling: answers at once\n\
GET  /longpoll/{channel}?since=ID&timeout=SECS\n\
                                     long-polling: answers when there is news\n\
GET  /sse/{channel}                  Server-Sent Events (Last-Event-ID or ?since=ID)\n\
GET  /ws/{channel}                   WebSocket: channel messages as text frames;\n\
                                     subprotocol pushwire.json for {\"id\",\"data\"} frames\n\
GET  /echo                           WebSocket echo (text and binary)\n\
\n\
Channel names are 1-128 bytes of [A-Za-z0-9._~-]. Message ids start at 1.\n";

/// Allowed methods per endpoint, for `405` answers (RFC 9110 section 15.5.6).
const ALLOW_GET: &[u8] = b"GET, HEAD, OPTIONS";
const ALLOW_PUB: &[u8] = b"GET, HEAD, POST, OPTIONS";

/// Largest poll answer body kept for reuse.
const MAX_KEPT_ANSWER: usize = 64 * 1024;

/// What makes two poll answers the same bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct AnswerKey {
    channel: ChannelId,
    last_id: u64,
    oldest: u64,
    since: u64,
    reply: Reply,
}

/// The last few poll answers, shared by every poller that asks the same
/// question. An answer stops matching as soon as a publish moves the
/// channel's last id, so nothing needs invalidating.
#[derive(Debug, Default)]
pub(super) struct KeptAnswers {
    entries: Vec<(AnswerKey, Rc<[u8]>)>,
    next: usize,
}

impl KeptAnswers {
    const SLOTS: usize = 8;

    fn find(&self, key: &AnswerKey) -> Option<Rc<[u8]>> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, b)| Rc::clone(b))
    }

    fn keep(&mut self, key: AnswerKey, bytes: Rc<[u8]>) {
        if self.entries.len() < Self::SLOTS {
            self.entries.push((key, bytes));
        } else if let Some(slot) = self.entries.get_mut(self.next) {
            *slot = (key, bytes);
            self.next = (self.next + 1) % Self::SLOTS;
        }
    }
}

/// The reason given for an invalid channel name.
const BAD_CHANNEL: &str = "channel names are 1-128 bytes of [A-Za-z0-9._~-]";

/// Largest chunk-extension or trailer section accepted in a chunked body.
const MAX_TRAILER: usize = 4096;

/// What a step of request processing did with the input.
enum Progress {
    /// Consumed this many bytes; go on with the rest.
    Continue(usize),
    /// Consumed this many bytes; wait for more input.
    Stop(usize),
}

impl Reply {
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

/// The routes, with their channel names.
enum Route<'a> {
    Demo,
    Index,
    Publish(&'a str),
    Poll(&'a str),
    LongPoll(&'a str),
    Sse(&'a str),
    WebSocket(&'a str),
    Echo,
    NotFound,
}

fn route(path: &str) -> Route<'_> {
    match path {
        "/" => return Route::Demo,
        "/help" => return Route::Index,
        "/echo" => return Route::Echo,
        _ => {}
    }
    // `/prefix/channel`, split at the second slash (ASCII, so byte-wise).
    let Some(slash) = path.bytes().skip(1).position(|b| b == b'/').map(|i| i + 1) else {
        return Route::NotFound;
    };
    let (Some(prefix), Some(channel)) = (path.get(1..slash), path.get(slash + 1..)) else {
        return Route::NotFound;
    };
    match prefix {
        "pub" => Route::Publish(channel),
        "poll" => Route::Poll(channel),
        "longpoll" => Route::LongPoll(channel),
        "sse" => Route::Sse(channel),
        "ws" => Route::WebSocket(channel),
        _ => Route::NotFound,
    }
}

/// Compares two byte strings in time that depends only on their lengths,
/// so a wrong token reveals nothing through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Engine {
    /// Consumes as much of `input` as the connection's state allows;
    /// returns how many bytes were used. The rest is kept by the caller.
    pub(super) fn process(&mut self, id: ConnId, input: &[u8], now: Instant) -> usize {
        let mut used = 0;
        loop {
            let Some(conn) = self.conns.get(id) else {
                return input.len();
            };
            let rest = input.get(used..).unwrap_or(&[]);
            if rest.is_empty() {
                return used;
            }
            let progress = match conn.state {
                State::Idle | State::Head => self.read_head(id, rest, now),
                State::Body(_) => self.read_body(id, rest, now),
                // Requests pipelined behind a parked long-poll wait in the
                // connection's buffer until it is answered.
                State::Parked(_) | State::Streaming(_) => Progress::Stop(0),
                State::WebSocket(_) => match self.read_frames(id, rest, now) {
                    (n, true) => Progress::Continue(n),
                    (n, false) => Progress::Stop(n),
                },
                State::Closing | State::Lingering => return input.len(),
            };
            match progress {
                Progress::Continue(n) => used += n,
                Progress::Stop(n) => return used + n,
            }
            let Some(conn) = self.conns.get(id) else {
                return input.len();
            };
            if !conn.reads_requests() || conn.out.len() >= OUTPUT_HIGH_WATER {
                return used;
            }
        }
    }

    fn read_head(&mut self, id: ConnId, input: &[u8], now: Instant) -> Progress {
        let limits = HeadLimits {
            max_header_bytes: self.config.max_header_bytes,
            max_uri_bytes: self.config.max_uri_bytes,
        };
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match parse_head(input, &mut headers, limits) {
            Ok(None) => {
                // Only a head that did not arrive whole needs a deadline
                // (a complete one is answered in this same pass). It counts
                // from the first byte of the request, so a client dribbling
                // bytes cannot extend it.
                if let Some(conn) = self.conns.get_mut(id) {
                    if matches!(conn.state, State::Idle) {
                        conn.state = State::Head;
                        self.set_timer(id, now + self.config.header_timeout);
                    }
                }
                Progress::Stop(0)
            }
            Err(e) => {
                self.fail(id, e.status(), &e.to_string(), now);
                Progress::Stop(input.len())
            }
            Ok(Some(head)) => {
                let n = head.head_len;
                self.on_head(id, &head, input.get(n..).unwrap_or(&[]), now);
                Progress::Continue(n)
            }
        }
    }

    fn on_head(&mut self, id: ConnId, head: &RequestHead<'_, '_>, body_start: &[u8], now: Instant) {
        let reply = Reply {
            keep_alive: head.keep_alive,
            http10: head.minor_version == 0,
            head_only: head.method == Method::Head,
        };
        let has_body = match head.framing {
            BodyFraming::None | BodyFraming::Length(0) => false,
            BodyFraming::Length(n) if n > self.config.max_body_bytes as u64 => {
                return self.fail(id, 413, &HttpError::BodyTooLarge.to_string(), now);
            }
            BodyFraming::Length(_) | BodyFraming::Chunked => true,
        };
        if head.method == Method::Options {
            self.preflight(id, head, reply, now);
            return self.expect_body(id, head, reply, BodyUse::Discard, now);
        }
        match route(head.path) {
            Route::Publish(channel) if head.method == Method::Post => {
                if let Some(refusal) = self.publish_refusal(head, channel) {
                    let (status, reason) = refusal;
                    return self.fail(id, status, reason, now);
                }
                let usage = BodyUse::Publish {
                    channel: channel.into(),
                    cors: self.cors_origin(head).map(Into::into),
                };
                if head.expect_continue && body_start.is_empty() && has_body {
                    // RFC 9110 section 10.1.1: the client waits for this
                    // before sending the body (curl does above 1 KiB).
                    if let Some(conn) = self.conns.get_mut(id) {
                        conn.out.write_with(|out| {
                            out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n")
                        });
                    }
                    self.mark_ready(id);
                }
                self.expect_body(id, head, reply, usage, now);
            }
            Route::Publish(channel) if matches!(head.method, Method::Get | Method::Head) => {
                self.channel_info(id, head, reply, channel, now);
                self.expect_body(id, head, reply, BodyUse::Discard, now);
            }
            Route::Poll(channel) if matches!(head.method, Method::Get | Method::Head) => {
                self.poll(id, head, reply, channel, now);
                self.expect_body(id, head, reply, BodyUse::Discard, now);
            }
            Route::LongPoll(channel) | Route::Sse(channel)
                if matches!(head.method, Method::Get | Method::Head) =>
            {
                // Both wait for news on a channel; neither carries a body.
                if !valid_channel_name(channel) {
                    self.respond_text(id, reply, 400, BAD_CHANNEL, now);
                } else if has_body {
                    self.respond_text(id, reply, 400, "a subscribe request has no body", now);
                } else if matches!(route(head.path), Route::Sse(_)) {
                    return self.sse(id, head, reply, channel, now);
                } else {
                    return self.longpoll(id, head, reply, channel, now);
                }
                self.expect_body(id, head, reply, BodyUse::Discard, now);
            }
            Route::WebSocket(channel) if !valid_channel_name(channel) => {
                self.fail(id, 400, BAD_CHANNEL, now);
            }
            Route::WebSocket(channel) => self.upgrade(id, head, Some(channel), now),
            Route::Echo => self.upgrade(id, head, None, now),
            Route::Demo if matches!(head.method, Method::Get | Method::Head) => {
                self.respond(
                    id,
                    reply,
                    200,
                    "text/html; charset=utf-8",
                    &[],
                    DEMO.as_bytes(),
                    now,
                );
                self.expect_body(id, head, reply, BodyUse::Discard, now);
            }
            Route::Index if matches!(head.method, Method::Get | Method::Head) => {
                self.respond(
                    id,
                    reply,
                    200,
                    "text/plain; charset=utf-8",
                    &[],
                    INDEX.as_bytes(),
                    now,
                );
                self.expect_body(id, head, reply, BodyUse::Discard, now);
            }
            Route::Publish(_) => self.method_not_allowed(id, head, reply, ALLOW_PUB, now),
            Route::Poll(_) | Route::LongPoll(_) | Route::Sse(_) | Route::Index | Route::Demo => {
                self.method_not_allowed(id, head, reply, ALLOW_GET, now)
            }
            Route::NotFound => {
                self.respond_text(id, reply, 404, "no such endpoint (GET / lists them)", now);
                self.expect_body(id, head, reply, BodyUse::Discard, now);
            }
        }
    }

    /// After the response to a request with a body was queued (or before a
    /// publish), reads the body: to publish it, or to skip it.
    fn expect_body(
        &mut self,
        id: ConnId,
        head: &RequestHead<'_, '_>,
        reply: Reply,
        usage: BodyUse,
        now: Instant,
    ) {
        let reader = match head.framing {
            BodyFraming::None | BodyFraming::Length(0) => {
                return match usage {
                    BodyUse::Publish { channel, cors } => {
                        self.finish_publish(id, reply, &channel, cors.as_deref(), &[], now)
                    }
                    BodyUse::Discard => self.request_done(id, reply, now),
                };
            }
            BodyFraming::Length(n) => BodyReader::Length(n),
            BodyFraming::Chunked => {
                BodyReader::Chunked(ChunkedDecoder::new(self.config.max_body_bytes, MAX_TRAILER))
            }
        };
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if !conn.reads_requests() {
            // The answer already closes the connection; the body is not read.
            return;
        }
        conn.state = State::Body(Box::new(PendingBody {
            reply,
            reader,
            body: Vec::new(),
            usage,
        }));
        self.set_timer(id, now + self.config.body_timeout);
    }

    fn read_body(&mut self, id: ConnId, input: &[u8], now: Instant) -> Progress {
        let max_body = self.config.max_body_bytes;
        let Some(conn) = self.conns.get_mut(id) else {
            return Progress::Stop(input.len());
        };
        let State::Body(pending) = &mut conn.state else {
            return Progress::Stop(0);
        };
        let discard = matches!(pending.usage, BodyUse::Discard);
        let (used, done) = match &mut pending.reader {
            BodyReader::Length(remaining) => {
                let take = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                if !discard {
                    pending
                        .body
                        .extend_from_slice(input.get(..take).unwrap_or(&[]));
                }
                *remaining -= take as u64;
                (take, *remaining == 0)
            }
            BodyReader::Chunked(decoder) => {
                let result = if discard {
                    let mut sink = Vec::new();
                    decoder.decode(input, &mut sink)
                } else {
                    decoder.decode(input, &mut pending.body)
                };
                match result {
                    Ok(p) => (p.consumed, p.done),
                    Err(e) => {
                        let status = e.status();
                        let reason = e.to_string();
                        self.fail(id, status, &reason, now);
                        return Progress::Stop(input.len());
                    }
                }
            }
        };
        debug_assert!(pending.body.len() <= max_body);
        if !done {
            return Progress::Stop(used);
        }
        let State::Body(pending) = std::mem::replace(&mut conn.state, State::Idle) else {
            return Progress::Stop(used);
        };
        let PendingBody {
            reply, body, usage, ..
        } = *pending;
        match usage {
            BodyUse::Publish { channel, cors } => {
                self.finish_publish(id, reply, &channel, cors.as_deref(), &body, now);
            }
            BodyUse::Discard => self.request_done(id, reply, now),
        }
        Progress::Continue(used)
    }

    /// `401`/`403`/`400` for a publish that must not happen, `None` if it may.
    fn publish_refusal(
        &self,
        head: &RequestHead<'_, '_>,
        channel: &str,
    ) -> Option<(u16, &'static str)> {
        if !valid_channel_name(channel) {
            return Some((400, BAD_CHANNEL));
        }
        if let Some(token) = &self.config.publish_token {
            let given = head
                .header("authorization")
                .and_then(|v| v.strip_prefix(b"Bearer "));
            if !given.is_some_and(|g| constant_time_eq(g, token.as_bytes())) {
                return Some((401, "publishing needs Authorization: Bearer <token>"));
            }
        }
        if let Some(origin) = head.header("origin") {
            // A browser page may POST cross-site without a preflight; only
            // our own origin and explicitly listed ones may publish.
            let own = head
                .header("host")
                .is_some_and(|host| origin.strip_prefix(b"http://") == Some(host));
            if !own && !self.config.allow_origin.lists(origin) {
                return Some((403, "cross-site publish refused (see --allow-origin)"));
            }
        }
        None
    }

    fn finish_publish(
        &mut self,
        id: ConnId,
        reply: Reply,
        channel: &str,
        cors: Option<&[u8]>,
        body: &[u8],
        now: Instant,
    ) {
        let Ok(data) = std::str::from_utf8(body) else {
            self.respond_text(id, reply, 400, "message data must be UTF-8 text", now);
            return self.request_done(id, reply, now);
        };
        match self.publish(channel, data, now) {
            Ok(message_id) => {
                let mut body = std::mem::take(&mut self.scratch);
                body.clear();
                json::write_published(&mut body, message_id);
                let extra: &[(&str, &[u8])] = match cors {
                    Some(b"*") => &[("Access-Control-Allow-Origin", b"*")],
                    Some(origin) => &[("Access-Control-Allow-Origin", origin), ("Vary", b"Origin")],
                    None => &[],
                };
                self.respond(id, reply, 202, "application/json", extra, &body, now);
                self.scratch = body;
            }
            Err(e @ PublishError::TooManyChannels) => {
                self.respond_text(id, reply, 503, &e.to_string(), now)
            }
            Err(e) => self.respond_text(id, reply, 400, &e.to_string(), now),
        }
        self.request_done(id, reply, now);
    }

    fn channel_info(
        &mut self,
        id: ConnId,
        head: &RequestHead<'_, '_>,
        reply: Reply,
        channel: &str,
        now: Instant,
    ) {
        if !valid_channel_name(channel) {
            return self.respond_text(id, reply, 400, BAD_CHANNEL, now);
        }
        let Some(ch) = self
            .broker
            .find(channel)
            .and_then(|c| self.broker.channel(c))
        else {
            return self.respond_text(id, reply, 404, "no such channel", now);
        };
        let info = json::ChannelInfo {
            last_id: ch.last_id(),
            history: ch.backlog(0).len() as u64,
            ws: ch.subscriber_count(Transport::Ws) as u64,
            sse: ch.subscriber_count(Transport::Sse) as u64,
            longpoll: ch.subscriber_count(Transport::LongPoll) as u64,
        };
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        json::write_channel_info(&mut body, &info);
        self.respond_json(id, reply, self.cors_origin(head), &body, now);
        self.scratch = body;
    }

    fn poll(
        &mut self,
        id: ConnId,
        head: &RequestHead<'_, '_>,
        reply: Reply,
        channel: &str,
        now: Instant,
    ) {
        if !valid_channel_name(channel) {
            return self.respond_text(id, reply, 400, BAD_CHANNEL, now);
        }
        // Poll without `since` means "everything in history" (API.md).
        let since = match query::since(head.query) {
            Ok(since) => since.unwrap_or(0),
            Err(reason) => return self.respond_text(id, reply, 400, reason, now),
        };
        let cors = self.cors_origin(head);
        // Pollers of a channel mostly ask the same question ("anything
        // after the last id?") and get the same bytes: answers are kept,
        // shared, until a publish changes the channel's last id.
        let key = self.broker.find(channel).and_then(|ch| {
            let channel = self.broker.channel(ch)?;
            let cacheable = cors.is_none() || cors == Some(b"*");
            cacheable.then_some(AnswerKey {
                channel: ch,
                last_id: channel.last_id(),
                // Eviction by the global byte bound moves the oldest id
                // without a publish on this channel.
                oldest: channel.oldest_id(),
                since: since.min(channel.last_id()),
                reply,
            })
        });
        if let Some(bytes) = key.and_then(|k| self.answers.find(&k)) {
            if let Some(conn) = self.conns.get_mut(id) {
                conn.out.push_shared(bytes);
            }
            return self.after_response(id, reply, now);
        }
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        let backlog = self.broker.backlog(channel, since);
        json::write_batch(
            &mut body,
            backlog.last_id,
            backlog.gap,
            backlog.iter().map(|m| &m.json[..]),
        );
        match key {
            Some(key) if body.len() <= MAX_KEPT_ANSWER => {
                let mut response = Vec::with_capacity(body.len() + 160);
                write_json_response(&mut response, reply, &self.date, cors, &body);
                let bytes: Rc<[u8]> = response.into();
                self.answers.keep(key, Rc::clone(&bytes));
                if let Some(conn) = self.conns.get_mut(id) {
                    conn.out.push_shared(bytes);
                }
                self.after_response(id, reply, now);
            }
            _ => self.respond_json(id, reply, cors, &body, now),
        }
        self.scratch = body;
    }

    /// `Access-Control-Allow-Origin` for a response to this request: `*`,
    /// or the request's `Origin` when it is on the list.
    pub(super) fn cors_origin<'h>(&self, head: &'h RequestHead<'_, '_>) -> Option<&'h [u8]> {
        match &self.config.allow_origin {
            AllowOrigin::Any => Some(b"*"),
            list => head.header("origin").filter(|o| list.lists(o)),
        }
    }

    /// Queues a JSON answer (poll, long-poll, channel info) with
    /// `Cache-Control: no-cache` and the CORS origin, if any.
    pub(super) fn respond_json(
        &mut self,
        id: ConnId,
        reply: Reply,
        cors: Option<&[u8]>,
        body: &[u8],
        now: Instant,
    ) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let date = &self.date;
        conn.out
            .write_with(|out| write_json_response(out, reply, date, cors, body));
        self.after_response(id, reply, now);
    }

    /// `OPTIONS`: the CORS preflight (Fetch standard, "CORS protocol").
    fn preflight(&mut self, id: ConnId, head: &RequestHead<'_, '_>, reply: Reply, now: Instant) {
        let origin = self.cors_origin(head).unwrap_or(b"null");
        let extra: [(&str, &[u8]); 5] = [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Methods", b"GET, HEAD, POST, OPTIONS"),
            (
                "Access-Control-Allow-Headers",
                b"Authorization, Content-Type, Last-Event-ID",
            ),
            ("Access-Control-Max-Age", b"600"),
            ("Vary", b"Origin"),
        ];
        self.respond(
            id,
            reply,
            204,
            "text/plain; charset=utf-8",
            &extra,
            b"",
            now,
        );
    }

    fn method_not_allowed(
        &mut self,
        id: ConnId,
        head: &RequestHead<'_, '_>,
        reply: Reply,
        allow: &[u8],
        now: Instant,
    ) {
        let reason = b"method not allowed here\n";
        self.respond(
            id,
            reply,
            405,
            "text/plain; charset=utf-8",
            &[("Allow", allow)],
            reason,
            now,
        );
        self.expect_body(id, head, reply, BodyUse::Discard, now);
    }

    pub(super) fn respond_text(
        &mut self,
        id: ConnId,
        reply: Reply,
        status: u16,
        reason: &str,
        now: Instant,
    ) {
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        body.extend_from_slice(reason.as_bytes());
        body.push(b'\n');
        self.respond(
            id,
            reply,
            status,
            "text/plain; charset=utf-8",
            &[],
            &body,
            now,
        );
        self.scratch = body;
    }

    /// Queues a complete response.
    #[allow(clippy::too_many_arguments)]
    fn respond(
        &mut self,
        id: ConnId,
        reply: Reply,
        status: u16,
        content_type: &str,
        extra: &[(&str, &[u8])],
        body: &[u8],
        now: Instant,
    ) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let date = &self.date;
        conn.out.write_with(|out| {
            write_response(
                out,
                status,
                date,
                content_type,
                extra,
                body,
                reply.connection(),
                reply.head_only,
            )
        });
        self.after_response(id, reply, now);
    }

    /// A response was queued: close after it if the exchange ends the
    /// connection, otherwise just get it written.
    pub(super) fn after_response(&mut self, id: ConnId, reply: Reply, now: Instant) {
        let peer_closed = self
            .conns
            .get(id)
            .is_some_and(|c| c.has(super::conn::flag::PEER_CLOSED));
        if peer_closed || !reply.keep_alive {
            return self.close_after_output(id, now);
        }
        self.mark_ready(id);
    }

    /// The request is answered and its body read: back to waiting for the
    /// next one (keep-alive), or closing.
    pub(super) fn request_done(&mut self, id: ConnId, reply: Reply, now: Instant) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if !conn.reads_requests() {
            return;
        }
        if !reply.keep_alive {
            return self.close_after_output(id, now);
        }
        conn.state = State::Idle;
        self.set_timer(id, now + self.config.idle_timeout);
    }
}

/// A whole JSON response: `200`, `application/json`, `no-cache`, and the
/// CORS origin (with `Vary: Origin` when it is not `*`).
pub(super) fn write_json_response(
    out: &mut Vec<u8>,
    reply: Reply,
    date: &HttpDate,
    cors: Option<&[u8]>,
    body: &[u8],
) {
    let mut extra: [(&str, &[u8]); 3] = [("Cache-Control", b"no-cache"), ("", b""), ("", b"")];
    let mut n = 1;
    if let Some(origin) = cors {
        extra[1] = ("Access-Control-Allow-Origin", origin);
        n = 2;
        if origin != b"*" {
            extra[2] = ("Vary", b"Origin");
            n = 3;
        }
    }
    write_response(
        out,
        200,
        date,
        "application/json",
        extra.get(..n).unwrap_or(&[]),
        body,
        reply.connection(),
        reply.head_only,
    );
}
