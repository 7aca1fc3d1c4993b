//! Server-Sent Events: `GET /sse/{channel}`, one endless response.
//!
//! ```text
//! HTTP/1.1 200 OK
//! Content-Type: text/event-stream
//! Cache-Control: no-cache
//! X-Accel-Buffering: no
//! Access-Control-Allow-Origin: *
//! Transfer-Encoding: chunked
//!
//! f\r\n retry: 2000\n\n \r\n          each event is one chunk
//! 15\r\n id: 1\ndata: hello\n\n \r\n
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
//! **Slow consumers**: a subscriber whose unsent bytes would pass
//! `--max-backlog-bytes` is cut off. Its memory is freed at once, and since
//! history keeps the messages, reconnecting with its last id loses nothing.

use std::rc::Rc;
use std::time::Instant;

use crate::broker::{ChannelId, ConnId, Message, Transport};
use crate::decimal::parse_decimal;
use crate::http::response::{
    end_head, write_chunk, write_date, write_header, write_status_line, Connection, LAST_CHUNK,
};
use crate::http::RequestHead;
use crate::sse;

use super::conn::{flag, Reply, State, Stream};
use super::{query, Engine, TICK, TOO_MANY_CHANNELS};

/// A heartbeat comment, as a chunk and bare.
pub(super) fn heartbeat_bytes() -> (Rc<[u8]>, Rc<[u8]>) {
    let mut bare = Vec::new();
    sse::write_comment(&mut bare, "keep-alive");
    let mut chunk = Vec::new();
    write_chunk(&mut chunk, &bare);
    (chunk.into(), bare.into())
}

impl Engine {
    pub(super) fn sse(
        &mut self,
        id: ConnId,
        head: &RequestHead<'_, '_>,
        reply: Reply,
        channel: &str,
        now: Instant,
    ) {
        let query_since = match query::since(head.query) {
            Ok(since) => since,
            Err(reason) => return self.respond_text(id, reply, 400, reason, now),
        };
        let header_since = head
            .header("last-event-id")
            .and_then(|v| parse_decimal(crate::http::request::trim_ows(v)));
        let since = header_since.or(query_since);
        // A HEAD gets the stream's head only: no channel is made for it.
        let channel_id = match reply.head_only {
            true => None,
            false => match self.broker.find_or_create(channel) {
                Ok(channel_id) => Some(channel_id),
                Err(_) => {
                    self.respond_text(id, reply, 503, TOO_MANY_CHANNELS, now);
                    return self.request_done(id, reply, now);
                }
            },
        };
        let http10 = reply.http10;
        let cors = self.cors_origin(head);
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let date = &self.date;
        conn.out.write_with(|out| {
            write_status_line(out, 200);
            write_date(out, date);
            write_header(out, "Content-Type", b"text/event-stream");
            write_header(out, "Cache-Control", b"no-cache");
            write_header(out, "X-Accel-Buffering", b"no");
            if let Some(origin) = cors {
                write_header(out, "Access-Control-Allow-Origin", origin);
                if origin != b"*" {
                    write_header(out, "Vary", b"Origin");
                }
            }
            if http10 {
                end_head(out, Connection::Close);
            } else {
                write_header(out, "Transfer-Encoding", b"chunked");
                end_head(out, Connection::Default);
            }
        });
        let Some(channel_id) = channel_id else {
            self.after_response(id, reply, now);
            return self.request_done(id, reply, now);
        };
        // The stream's opening: retry, then whatever was missed.
        let retry = self.config.sse_retry_ms;
        let backlog = self.broker.backlog(channel, since.unwrap_or(u64::MAX));
        let mut opening = Vec::new();
        sse::write_retry(&mut opening, retry);
        if backlog.gap {
            let oldest = backlog.iter().next().map_or(backlog.last_id + 1, |m| m.id);
            sse::write_gap(&mut opening, since.unwrap_or(0), oldest);
        }
        conn.out.write_with(|out| frame(out, &opening, http10));
        for message in backlog.iter() {
            if http10 {
                conn.out
                    .write_with(|out| sse::write_event(out, message.id, None, &message.data));
            } else {
                conn.out.push_shared(Rc::clone(message.sse_chunk()));
            }
        }
        conn.subscription = self.broker.subscribe(channel_id, Transport::Sse, id);
        let ends_at = self.config.sse_max_age.map(|age| now + age);
        conn.state = State::Streaming(Box::new(Stream {
            reply,
            http10,
            last_sent: now,
            ends_at,
        }));
        self.arm_stream_timer(id, now);
        self.mark_ready(id);
    }

    /// A publish: queue the event's shared bytes on every SSE subscriber,
    /// cutting off those that fell too far behind.
    pub(super) fn feed_streams(&mut self, channel: ChannelId, message: &Message, now: Instant) {
        let Some(ch) = self.broker.channel(channel) else {
            return;
        };
        if ch.subscriber_count(Transport::Sse) == 0 {
            return;
        }
        let chunk = message.sse_chunk();
        let limit = self.config.max_backlog_bytes;
        let mut slow = std::mem::take(&mut self.waiters);
        for id in ch.subscribers(Transport::Sse) {
            let Some(conn) = self.conns.get_mut(id) else {
                continue;
            };
            if conn.out.len().saturating_add(chunk.len()) > limit {
                slow.push(id);
                continue;
            }
            match &mut conn.state {
                State::Streaming(stream) if stream.http10 => {
                    stream.last_sent = now;
                    conn.out
                        .write_with(|out| sse::write_event(out, message.id, None, &message.data));
                }
                State::Streaming(stream) => {
                    stream.last_sent = now;
                    conn.out.push_shared(Rc::clone(chunk));
                }
                _ => continue,
            }
            if !conn.has(flag::READY) {
                conn.flags |= flag::READY;
                self.ready.push_back(id);
            }
        }
        for &id in &slow {
            self.cut_off(id);
        }
        slow.clear();
        self.waiters = slow;
    }

    /// A slow consumer: drop what it was owed and close it now.
    pub(super) fn cut_off(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.out.clear();
        conn.flags |= flag::CLOSE_NOW;
        if let Some(sub) = conn.subscription.take() {
            self.broker.unsubscribe(sub);
        }
        self.mark_ready(id);
    }

    /// The stream's timer: a heartbeat if it was idle, or its end.
    pub(super) fn stream_deadline(&mut self, id: ConnId, now: Instant) {
        let heartbeat = self.config.heartbeat;
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let State::Streaming(stream) = &mut conn.state else {
            return;
        };
        if stream.ends_at.is_some_and(|end| end <= now) {
            return self.end_stream(id, now);
        }
        // Idle for a whole interval (give or take a tick): send a comment.
        if now.saturating_duration_since(stream.last_sent) + TICK >= heartbeat {
            stream.last_sent = now;
            let bytes = if stream.http10 {
                &self.heartbeat.1
            } else {
                &self.heartbeat.0
            };
            conn.out.push_shared(Rc::clone(bytes));
            self.mark_ready(id);
        }
        self.arm_stream_timer(id, now);
    }

    fn arm_stream_timer(&mut self, id: ConnId, now: Instant) {
        let heartbeat = self.config.heartbeat;
        let Some(State::Streaming(stream)) = self.conns.get(id).map(|c| &c.state) else {
            return;
        };
        // A whole interval after the last thing sent; never in the past.
        let next_beat = (stream.last_sent + heartbeat).max(now + TICK);
        let deadline = stream.ends_at.map_or(next_beat, |end| end.min(next_beat));
        self.set_timer(id, deadline);
    }

    /// `--sse-max-age`: end the stream cleanly. A chunked stream ends with
    /// the last chunk and the connection goes back to reading requests; a
    /// close-delimited one ends by closing.
    fn end_stream(&mut self, id: ConnId, now: Instant) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let State::Streaming(stream) = std::mem::replace(&mut conn.state, State::Head) else {
            return;
        };
        if let Some(sub) = conn.subscription.take() {
            self.broker.unsubscribe(sub);
        }
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if stream.http10 {
            return self.close_after_output(id, now);
        }
        conn.out.write_with(|out| out.extend_from_slice(LAST_CHUNK));
        self.after_response(id, stream.reply, now);
        self.request_done(id, stream.reply, now);
        if let Some(conn) = self.conns.get_mut(id) {
            if !conn.inbuf.is_empty() {
                conn.flags |= flag::RESUME;
            }
        }
    }
}

/// Bytes of the event stream, framed for the connection.
fn frame(out: &mut Vec<u8>, bytes: &[u8], http10: bool) {
    if http10 {
        out.extend_from_slice(bytes);
    } else {
        write_chunk(out, bytes);
    }
}
