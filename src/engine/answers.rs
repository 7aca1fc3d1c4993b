//! The answers connections share: header fields, JSON answers, and answers
//! kept so that many clients asking the same question get the same bytes.
//!
//! Pollers of a channel mostly ask the same question ("anything after the
//! last id?"), and a publish answers every parked long-poll of a channel
//! with the same message. Building those answers once and queueing a
//! reference-counted pointer on each connection is what keeps polling and
//! long-polling cheap per client.

use std::rc::Rc;

use crate::broker::{Backlog, ChannelId};
use crate::config::Config;
use crate::http::response::{write_chunk, write_response, Body, Response};
use crate::http::HttpDate;
use crate::json::BatchHead;
use crate::sse;

use super::conn::Reply;

/// A few header fields for a response, without allocating.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fields<'a> {
    list: [(&'static str, &'a [u8]); 5],
    len: usize,
}

impl<'a> Fields<'a> {
    pub fn new() -> Fields<'a> {
        Fields {
            list: [("", b""); 5],
            len: 0,
        }
    }

    /// Adds a field (at most five; a sixth would be a bug here, and is
    /// dropped rather than panicking).
    pub fn with(mut self, name: &'static str, value: &'a [u8]) -> Fields<'a> {
        if let Some(slot) = self.list.get_mut(self.len) {
            *slot = (name, value);
            self.len += 1;
        }
        self
    }

    /// `Access-Control-Allow-Origin` for the request's origin, and `Vary:
    /// Origin` when the answer depends on it (it does unless it is `*`).
    pub fn cors(self, origin: Option<&'a [u8]>) -> Fields<'a> {
        match origin {
            None => self,
            Some(b"*") => self.with("Access-Control-Allow-Origin", b"*"),
            Some(origin) => self
                .with("Access-Control-Allow-Origin", origin)
                .with("Vary", b"Origin"),
        }
    }

    pub fn as_slice(&self) -> &[(&'static str, &'a [u8])] {
        self.list.get(..self.len).unwrap_or_default()
    }
}

/// Writes a whole JSON answer to a subscribe request (poll, long-poll,
/// channel info): `200`, `application/json`, `Cache-Control: no-cache`
/// and the CORS origin.
pub(super) fn write_json(
    out: &mut Vec<u8>,
    reply: Reply,
    date: &HttpDate,
    cors: Option<&[u8]>,
    body: &[u8],
) {
    write_json_retry(out, reply, date, cors, None, body);
}

/// [`write_json`], with `Retry-After` (RFC 9110 section 10.2.3, in
/// seconds) when `retry_after` is given: a long-poll answered by a drain.
pub(super) fn write_json_retry(
    out: &mut Vec<u8>,
    reply: Reply,
    date: &HttpDate,
    cors: Option<&[u8]>,
    retry_after: Option<&[u8]>,
    body: &[u8],
) {
    let mut fields = Fields::new().with("Cache-Control", b"no-cache");
    if let Some(secs) = retry_after {
        fields = fields.with("Retry-After", secs);
    }
    let fields = fields.cors(cors);
    let response = Response {
        status: 200,
        content_type: "application/json",
        fields: fields.as_slice(),
        body: Body::Full(body),
    };
    write_response(out, &response, date, reply.connection(), reply.head_only);
}

/// Writes the JSON answer to "what came after `since`" into `body`:
/// `{"last_id":N,"messages":[...]}`, with `"gap":true` when some of it
/// already left history. The answer is a page: at most
/// `max_batch_messages` messages and `max_batch_bytes` of them (but at
/// least one); when it stops short, `"more":true`, and `last_id` is the
/// last message's id, where the client continues.
pub(super) fn write_backlog(body: &mut Vec<u8>, backlog: &Backlog<'_>, config: &Config) {
    let mut bytes = 0usize;
    let page = backlog
        .iter()
        .take(config.max_batch_messages)
        .take_while(|m| {
            let first = bytes == 0;
            bytes = bytes.saturating_add(m.json.len() + 1);
            first || bytes <= config.max_batch_bytes
        })
        .count();
    let more = page < backlog.len();
    let last_id = match more {
        true => backlog
            .iter()
            .nth(page.saturating_sub(1))
            .map_or(backlog.last_id, |m| m.id),
        false => backlog.last_id,
    };
    let head = BatchHead {
        last_id,
        gap: backlog.gap,
        more,
    };
    body.clear();
    crate::json::write_batch(body, head, backlog.iter().take(page).map(|m| &m.json[..]));
}

/// Largest poll answer body kept for reuse.
const MAX_KEPT_ANSWER: usize = 64 * 1024;

/// What makes two poll answers the same bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct AnswerKey {
    pub channel: ChannelId,
    /// A channel id is reused once its channel is forgotten; the one that
    /// reuses it starts above the floor, so a different origin (or, when
    /// the forgotten one never had a message, a different `last_id` once
    /// it has) tells it apart. Without it, an answer kept for a channel
    /// whose messages all expired (`"gap":true` from the start) would be
    /// given to a poll of the channel made anew in the same second.
    pub origin: u64,
    pub last_id: u64,
    /// Eviction by the global byte bound moves the oldest id without a
    /// publish on this channel.
    pub oldest: u64,
    pub since: u64,
    pub reply: Reply,
}

/// A long-poll answer made for one combination of head fields.
#[derive(Debug)]
struct BuiltAnswer {
    reply: Reply,
    cors: Option<Box<[u8]>>,
    bytes: Rc<[u8]>,
}

/// What connections share: answers kept for reuse, a reusable body buffer,
/// and the SSE heartbeat bytes.
#[derive(Debug)]
pub(super) struct Answers {
    /// The last few poll answers. An answer stops matching as soon as a
    /// publish moves the channel's last id, so nothing needs invalidating
    /// but a new `Date`.
    kept: Vec<(AnswerKey, Rc<[u8]>, bool)>,
    next_kept: usize,
    /// Long-poll answers built for the message being delivered now.
    built: Vec<BuiltAnswer>,
    /// The JSON body of the message being delivered to long-polls.
    built_body: Vec<u8>,
    /// A buffer for one response body at a time.
    pub body: Vec<u8>,
    /// The SSE heartbeat comment, as a chunk and bare.
    pub heartbeat: (Rc<[u8]>, Rc<[u8]>),
}

impl Answers {
    const KEPT: usize = 8;

    pub fn new() -> Answers {
        let mut bare = Vec::new();
        sse::write_comment(&mut bare, "keep-alive");
        let mut chunk = Vec::new();
        write_chunk(&mut chunk, &bare);
        Answers {
            kept: Vec::new(),
            next_kept: 0,
            built: Vec::new(),
            built_body: Vec::new(),
            body: Vec::new(),
            heartbeat: (chunk.into(), bare.into()),
        }
    }

    /// A kept poll answer for this question, if any, and whether it says
    /// `"gap":true`.
    pub fn kept(&self, key: &AnswerKey) -> Option<(Rc<[u8]>, bool)> {
        self.kept
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, bytes, gap)| (Rc::clone(bytes), *gap))
    }

    /// Makes the poll answer for `key` from the JSON body in
    /// [`Answers::body`] (`gap`: it says `"gap":true`), keeps it if it
    /// is small, and returns it.
    pub fn keep(
        &mut self,
        key: AnswerKey,
        gap: bool,
        date: &HttpDate,
        cors: Option<&[u8]>,
    ) -> Option<Rc<[u8]>> {
        if self.body.len() > MAX_KEPT_ANSWER {
            return None;
        }
        let mut response = Vec::with_capacity(self.body.len() + 160);
        write_json(&mut response, key.reply, date, cors, &self.body);
        let bytes: Rc<[u8]> = response.into();
        if self.kept.len() < Self::KEPT {
            self.kept.push((key, Rc::clone(&bytes), gap));
        } else if let Some(slot) = self.kept.get_mut(self.next_kept) {
            *slot = (key, Rc::clone(&bytes), gap);
            self.next_kept = (self.next_kept + 1) % Self::KEPT;
        }
        Some(bytes)
    }

    /// Forgets every kept answer: they carry the old `Date`.
    pub fn forget_kept(&mut self) {
        self.kept.clear();
        self.next_kept = 0;
    }

    /// Starts delivering a message to long-polls: answers built for the
    /// previous one go.
    pub fn begin_delivery(&mut self) {
        self.built.clear();
        self.built_body.clear();
    }

    /// The answer to a long-poll parked with `reply` and `cors` for the
    /// message whose JSON item is `item`: built once per combination of
    /// head fields (usually all parked requests share one) and shared.
    pub fn longpoll_answer(
        &mut self,
        reply: Reply,
        cors: Option<&[u8]>,
        date: &HttpDate,
        last_id: u64,
        item: &[u8],
    ) -> Rc<[u8]> {
        if let Some(built) = self
            .built
            .iter()
            .find(|b| b.reply == reply && b.cors.as_deref() == cors)
        {
            return Rc::clone(&built.bytes);
        }
        if self.built_body.is_empty() {
            let head = BatchHead {
                last_id,
                ..BatchHead::default()
            };
            crate::json::write_batch(&mut self.built_body, head, [item]);
        }
        let mut response = Vec::with_capacity(self.built_body.len() + 160);
        write_json(&mut response, reply, date, cors, &self.built_body);
        let bytes: Rc<[u8]> = response.into();
        self.built.push(BuiltAnswer {
            reply,
            cors: cors.map(Into::into),
            bytes: Rc::clone(&bytes),
        });
        bytes
    }
}
