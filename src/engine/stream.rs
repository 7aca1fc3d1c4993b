//! Server-Sent Events: `GET /sse/{channel}`, one endless response.
//!
//! ```text
//! HTTP/1.1 200 OK
//! Date: Wed, 25 Nov 2026 02:05:09 GMT
//! Content-Type: text/event-stream
//! Transfer-Encoding: chunked
//! Cache-Control: no-cache
//! X-Accel-Buffering: no
//! Access-Control-Allow-Origin: *
//!
//! d\r\n retry: 2000\n\n \r\n          each event is one chunk
//! 13\r\n id: 1\ndata: hello\n\n \r\n
//! e\r\n : keep-alive\n\n \r\n         heartbeat on an idle stream
//! ```
//!
//! **Framing: chunked** (RFC 9112 section 7.1) for HTTP/1.1 clients, and
//! close-delimited (section 6.3 rule 8) only for HTTP/1.0 ones, which
//! cannot read chunks. Chunked costs nothing per subscriber here, because
//! the chunk header is part of the event's shared bytes, encoded once per
//! message; in return a stream can *end* cleanly (`0\r\n\r\n`, when
//! `--sse-max-age` is reached) and leave the connection open for the
//! client's next request, and every HTTP/1.1 proxy knows where the body
//! stops. `X-Accel-Buffering: no` tells nginx in front not to buffer it.
//!
//! **Resume** (WHATWG HTML section 9.2.4): EventSource sends the last `id:`
//! it saw as `Last-Event-ID` when it reconnects; a client can also say
//! `?since=`. The header wins when both are present (the URL keeps the
//! `since` of the first connection). A `Last-Event-ID` that is not an id of
//! ours (not digits) is treated as absent, because a `400` would make
//! EventSource give up for good; a malformed `?since=` is the client's own
//! URL and gets `400`, as for polling. Missed messages come from history,
//! preceded by `event: gap` if some already left it.
//!
//! **Heartbeat**: a stream idle for `--heartbeat` gets a comment line, so
//! that proxies do not time it out; the interval counts from the last
//! thing sent, so a busy stream gets none.
//!
//! **Slow consumers**: a subscriber whose unsent bytes, with what the
//! kernel's send buffer may hold for it, would pass `--max-backlog-bytes`
//! is cut off. Its memory is freed at once, and since
//! history keeps the messages, reconnecting with its last id loses nothing.
//! With `--slow-consumer skip` it is kept instead: the events not begun
//! are dropped for an `event: gap` that names them (`slow.rs`).
//!
//! **Drain**: when the server stops, a stream ends after the events
//! queued with a jittered `retry:` and the last chunk (`drain.rs`).

use std::rc::Rc;
use std::time::Instant;

use crate::broker::{Channel, Message, Transport};
use crate::decimal::parse_decimal;
use crate::http::request::trim_ows;
use crate::http::response::{write_chunk, write_response, Body, Connection, Response, LAST_CHUNK};
use crate::sse;

use super::access::Grant;
use super::answers::Fields;
use super::conn::{Conn, Cx, End, Fed, Join, Reply, State, Want};
use super::query;
use super::refusal::Refusal;
use super::request::{ChannelRequest, Request};
use super::stats::GapBy;
use super::TICK;

/// The comment that ends a slow consumer's stream.
const TOO_SLOW: &[u8] = b": too slow: reconnect with Last-Event-ID\n\n";

/// An SSE stream: how it is framed and its clock.
#[derive(Debug)]
pub(crate) struct Stream {
    /// The request, for what follows the stream's end (keep-alive or not).
    reply: Reply,
    /// When something was last queued (an event or a heartbeat).
    last_sent: Instant,
    /// When the stream is ended (`--sse-max-age`).
    ends_at: Option<Instant>,
    /// When its token stops being good: the stream ends with
    /// `event: auth` (docs/auth.md).
    expires: Option<Instant>,
    /// The id of the newest message the client has begun to receive, or
    /// where it started (`Last-Event-ID`, `?since=`, else the channel's
    /// last id when it joined): a gap mark of the slow-consumer policy
    /// `skip` starts here.
    pub(super) sent_id: u64,
}

impl Stream {
    /// Whether it is close-delimited, to an HTTP/1.0 client: bare events,
    /// no chunks.
    pub(super) fn is_http10(&self) -> bool {
        self.reply.http10
    }
}

/// A stream about to start on its channel.
#[derive(Debug)]
pub(super) struct StreamStart {
    pub reply: Reply,
    since: Option<u64>,
    cors: Option<Box<[u8]>>,
    expires: Option<Instant>,
}

impl Conn {
    /// `GET /sse/{channel}`: asks to join the channel (a `HEAD` gets the
    /// stream's head only, and no channel is made for it).
    pub(super) fn sse(
        &mut self,
        named: ChannelRequest<'_>,
        grant: Grant,
        cx: &mut Cx<'_>,
    ) -> Option<Want> {
        let ChannelRequest { request, name } = named;
        let Request { head, reply } = request;
        let query_since = match query::since(head.query) {
            Ok(since) => since,
            Err(why) => {
                self.refuse(&Refusal::BadQuery(why), reply, cx);
                self.request_done(reply, cx);
                return None;
            }
        };
        let header_since = head
            .header("last-event-id")
            .and_then(|v| parse_decimal(trim_ows(v)));
        let cors = request.cors(cx);
        if reply.head_only {
            self.write_stream_head(reply, cors, cx);
            self.after_response(reply, cx);
            self.request_done(reply, cx);
            return None;
        }
        let start = StreamStart {
            reply,
            since: header_since.or(query_since),
            cors: cors.map(Into::into),
            expires: grant.expires,
        };
        Some(Want::Join(name, Join::Stream(start)))
    }

    fn write_stream_head(&mut self, reply: Reply, cors: Option<&[u8]>, cx: &Cx<'_>) {
        let fields = Fields::new()
            .with("Cache-Control", b"no-cache")
            .with("X-Accel-Buffering", b"no")
            .cors(cors);
        // An HTTP/1.0 stream ends by closing; a chunked one says whether
        // the connection stays after it.
        let (body, connection) = match reply.http10 {
            true => (Body::UntilClose, Connection::Close),
            false => (Body::Chunked, reply.connection()),
        };
        let response = Response {
            status: 200,
            content_type: "text/event-stream",
            fields: fields.as_slice(),
            body,
        };
        let date = cx.date;
        self.out
            .write_with(|out| write_response(out, &response, date, connection, false));
        self.count_response(200, cx);
    }

    /// The stream joined its channel: the head, `retry:`, a gap if some
    /// of what the client missed is gone, then what it missed, a page at a
    /// time (returns where the replay continues, if it did not finish).
    pub(super) fn start_stream(
        &mut self,
        start: StreamStart,
        channel: &Channel,
        cx: &mut Cx<'_>,
    ) -> Option<u64> {
        let StreamStart {
            reply,
            since,
            cors,
            expires,
        } = start;
        self.write_stream_head(reply, cors.as_deref(), cx);
        let backlog = channel.backlog(since.unwrap_or(u64::MAX));
        let mut opening = Vec::new();
        sse::write_retry(&mut opening, cx.config.sse_retry_ms);
        if backlog.gap {
            let oldest = backlog.iter().next().map_or(backlog.last_id + 1, |m| m.id);
            sse::write_gap(&mut opening, since.unwrap_or(0), oldest);
            cx.stats.gap(GapBy::Sse);
        }
        let http10 = reply.http10;
        self.out.write_with(|out| match http10 {
            true => out.extend_from_slice(&opening),
            false => write_chunk(out, &opening),
        });
        // The head and the opening go out whatever is dropped later (a
        // slow subscriber cut off before it read them).
        self.out.protect();
        let ends_at = cx.config.sse_max_age.map(|age| cx.now + age);
        self.state = State::Streaming(Box::new(Stream {
            reply,
            last_sent: cx.now,
            ends_at,
            expires,
            sent_id: since.unwrap_or_else(|| channel.last_id()),
        }));
        self.arm_stream_timer(cx);
        // Without a resume point only new messages come: nothing to replay.
        let since = since?;
        self.replay(channel, since, false, cx)
    }

    /// A publish: queue the event, or cut off a subscriber that fell too
    /// far behind.
    pub(super) fn feed_stream(&mut self, message: &Message, cx: &mut Cx<'_>) -> Fed {
        if self.is_replaying() {
            return Fed::Skipped; // in history: the replay gets to it in order
        }
        if !matches!(self.state, State::Streaming(_)) {
            return Fed::Skipped;
        }
        if !self.make_room(message, message.sse_chunk().len(), cx) {
            // What it was owed is dropped (history keeps it), all but an
            // event already begun, so the stream ends on an event
            // boundary: a comment that says why, the last chunk, close.
            self.end_too_slow(cx);
            cx.stats.slow_closed(Transport::Sse);
            return Fed::Changed;
        }
        if let State::Streaming(stream) = &mut self.state {
            stream.last_sent = cx.now;
        }
        self.queue_message(message);
        cx.stats.delivered(Transport::Sse);
        Fed::Queued
    }

    /// The stream's timer: a heartbeat if it was idle, or its end.
    pub(super) fn stream_deadline(&mut self, cx: &mut Cx<'_>) {
        let State::Streaming(stream) = &mut self.state else {
            return;
        };
        if stream.expires.is_some_and(|end| end <= cx.now) {
            return self.end_expired(cx);
        }
        if stream.ends_at.is_some_and(|end| end <= cx.now) {
            return self.end_stream(cx);
        }
        // Idle for a whole interval (give or take a tick): send a comment.
        if cx.now.saturating_duration_since(stream.last_sent) + TICK >= cx.config.heartbeat {
            stream.last_sent = cx.now;
            let (chunk, bare) = &cx.answers.heartbeat;
            let bytes = if stream.reply.http10 { bare } else { chunk };
            self.out.push_shared(Rc::clone(bytes));
        }
        self.arm_stream_timer(cx);
    }

    fn arm_stream_timer(&mut self, cx: &mut Cx<'_>) {
        let State::Streaming(stream) = &self.state else {
            return;
        };
        // A whole interval after the last thing sent; never in the past.
        let next_beat = (stream.last_sent + cx.config.heartbeat).max(cx.now + TICK);
        let ends = [stream.ends_at, stream.expires].into_iter().flatten();
        cx.deadline = Some(ends.fold(next_beat, Instant::min));
    }

    /// `--sse-max-age`: end the stream cleanly. A chunked stream ends with
    /// the last chunk and the connection goes back to reading requests; a
    /// close-delimited one ends by closing.
    /// A slow consumer's stream ends whole: what the client reads, however
    /// late (within `--idle-timeout`, then `--linger`), is complete events,
    /// `: too slow: reconnect with Last-Event-ID`, and the end of the body.
    /// `EventSource` reconnects with the last id it got.
    fn end_too_slow(&mut self, cx: &mut Cx<'_>) {
        let State::Streaming(stream) = &self.state else {
            return;
        };
        let http10 = stream.is_http10();
        self.out.write_with(|out| match http10 {
            true => out.extend_from_slice(TOO_SLOW),
            false => {
                write_chunk(out, TOO_SLOW);
                out.extend_from_slice(LAST_CHUNK);
            }
        });
        self.end(End::AfterOutput, cx);
    }

    /// The token expired: `event: auth` with the reason, then the end of
    /// the stream. EventSource would reconnect with the same URL, and its
    /// token, and be refused for good (`401`); the page listens for
    /// `auth`, gets a new token and reconnects with it and its last id,
    /// losing nothing (docs/auth.md).
    fn end_expired(&mut self, cx: &mut Cx<'_>) {
        let State::Streaming(stream) = &self.state else {
            return;
        };
        let http10 = stream.is_http10();
        self.out.write_with(|out| match http10 {
            true => out.extend_from_slice(sse::AUTH_EXPIRED),
            false => write_chunk(out, sse::AUTH_EXPIRED),
        });
        self.end_stream(cx);
    }

    /// The server drains: after the events queued, `retry:` with the
    /// drain's jittered delay, then the end of the stream (the last chunk,
    /// or the close of an HTTP/1.0 one), then the connection closes.
    pub(super) fn drain_stream(&mut self, retry_ms: u64, cx: &mut Cx<'_>) {
        let State::Streaming(stream) = &mut self.state else {
            return;
        };
        stream.reply.keep_alive = false;
        let http10 = stream.is_http10();
        let mut retry = Vec::new();
        sse::write_retry(&mut retry, retry_ms);
        self.out.write_with(|out| match http10 {
            true => out.extend_from_slice(&retry),
            false => write_chunk(out, &retry),
        });
        self.end_stream(cx);
    }

    fn end_stream(&mut self, cx: &mut Cx<'_>) {
        let State::Streaming(stream) = &self.state else {
            return;
        };
        let reply = stream.reply;
        if reply.http10 {
            return self.end(End::AfterOutput, cx);
        }
        self.out.write_with(|out| out.extend_from_slice(LAST_CHUNK));
        self.after_response(reply, cx);
        self.request_done(reply, cx);
    }
}
