//! Replays: what a stream or WebSocket subscriber missed, from history, a
//! page at a time.
//!
//! A subscriber that resumes (`Last-Event-ID`, `?since=`) is owed every
//! message after its id that history still has: possibly megabytes. They
//! are not queued at once. A page (half of `--max-backlog-bytes`) goes into
//! the connection's output, made of the messages' shared encodings (never
//! a copy per connection); when the client has read about half of it, the
//! next page follows, until the replay has caught up with the channel.
//! Meanwhile new messages are not queued on the connection: they are in
//! history, and the replay reaches them in order. A message evicted before
//! the replay gets to it is announced as a gap, as at the start.
//!
//! So a resuming subscriber holds at most a page of output, whatever the
//! backlog, and a client that reads promptly still gets the whole backlog
//! on one connection.

use std::rc::Rc;

use crate::broker::{Channel, Message};
use crate::http::response::write_chunk;
use crate::sse;
use crate::ws::{self, Opcode};

use super::conn::{Conn, Cx, State};
use super::stats::{GapBy, Stats};
use super::websocket::Mode;

impl Conn {
    /// The output a replay keeps queued at most: half of what the backlog
    /// bound leaves pushwire once the kernel's share is counted, so that
    /// live traffic after the replay has the other half.
    pub(super) fn replay_page(cx: &Cx<'_>) -> usize {
        (cx.config
            .max_backlog_bytes
            .saturating_sub(cx.kernel_send_buffer)
            / 2)
        .max(1)
    }

    /// The slow-consumer rule: a subscriber is too slow for a message of
    /// `size` bytes when what it already owes (its queue, and the kernel's
    /// send buffer, counted as full) plus the message would pass
    /// `--max-backlog-bytes`. One whose queue is empty always gets the
    /// message, however large: a message as large as the bound can reach
    /// a client that reads, and the queue holds at most one such message.
    pub(super) fn is_too_slow_for(&self, size: usize, cx: &Cx<'_>) -> bool {
        let owed = self.out.len().saturating_add(cx.kernel_send_buffer);
        !self.out.is_empty() && owed.saturating_add(size) > cx.config.max_backlog_bytes
    }

    /// Queues the messages after `since` that history has, up to a page,
    /// as the connection's transport frames them; a gap first, if
    /// `announce_gap` and some of them already left history. Returns the
    /// id to continue after when it stopped at the page, `None` when it
    /// caught up (the connection then takes new messages as they come).
    pub(super) fn replay(
        &mut self,
        channel: &Channel,
        since: u64,
        announce_gap: bool,
        cx: &Cx<'_>,
    ) -> Option<u64> {
        if cx.config.redis.is_some() && since > channel.last_id() {
            // A node of a cluster may be a moment behind the one the
            // client came from: the replay waits until the channel has
            // passed `since`, and new messages up to it are not sent
            // (docs/cluster.md).
            self.set_replaying(true);
            return Some(since);
        }
        let page = Conn::replay_page(cx);
        let backlog = channel.backlog(since);
        if announce_gap && backlog.gap {
            let oldest = backlog.iter().next().map_or(backlog.last_id + 1, |m| m.id);
            self.queue_gap(since, oldest, cx.stats);
        }
        let mut last = None;
        for message in backlog.iter() {
            if let (Some(id), true) = (last, self.out.len() >= page) {
                self.set_replaying(true);
                return Some(id);
            }
            self.queue_message(message);
            last = Some(message.id);
        }
        self.set_replaying(false);
        None
    }

    /// Whether the output is low enough for the next page of a replay.
    pub(super) fn wants_replay(&self, cx: &Cx<'_>) -> bool {
        self.is_replaying() && self.out.len() < Conn::replay_page(cx) / 2
    }

    /// One message, as the connection's transport frames it, from the
    /// message's shared encodings.
    pub(super) fn queue_message(&mut self, message: &Message) {
        let bytes = match &self.state {
            State::Streaming(stream) if stream.is_http10() => message.sse_event(),
            State::Streaming(_) => message.sse_chunk(),
            State::WebSocket(Mode::Channel { json, .. }, _) => message.ws_frame(*json),
            _ => return,
        };
        self.out.push_message(Rc::clone(bytes), message.id);
    }

    /// Tells a live subscriber that the messages after `since` and before
    /// `oldest` are lost (a shared store lost them: docs/cluster.md).
    pub(super) fn announce_gap(&mut self, since: u64, oldest: u64, stats: &Stats) {
        self.queue_gap(since, oldest, stats);
    }

    /// The gap, as the connection's transport announces it: `event: gap`
    /// on a stream, `{"gap":true,...}` to a `pushwire.json` WebSocket (a
    /// plain one, whose frames carry no ids, cannot resume exactly anyway).
    pub(super) fn queue_gap(&mut self, since: u64, oldest: u64, stats: &Stats) {
        match &self.state {
            State::Streaming(stream) => {
                let http10 = stream.is_http10();
                let mut event = Vec::new();
                sse::write_gap(&mut event, since, oldest);
                self.out.write_with(|out| match http10 {
                    true => out.extend_from_slice(&event),
                    false => write_chunk(out, &event),
                });
                stats.gap(GapBy::Sse);
            }
            State::WebSocket(Mode::Channel { json: true, .. }, _) => {
                let gap = format!("{{\"gap\":true,\"since\":{since},\"oldest\":{oldest}}}");
                self.out
                    .write_with(|out| ws::write_frame(out, Opcode::Text, gap.as_bytes(), None));
                stats.gap(GapBy::WebSocket);
            }
            _ => {}
        }
    }
}
