//! Flow control for large fan-outs: a publisher may not commit messages to
//! a channel with thousands of subscribers faster than the loop writes
//! them.
//!
//! A fan-out to more than [`LARGE_FAN_OUT`] subscribers is written in
//! slices, a few hundred `writev`s a pass, after the connections with work
//! of their own (see `Engine::poll_ready`). While its subscribers wait for
//! their turn, their queues grow with every further message, and a
//! publisher that pipelines would soon fill them past
//! `--max-backlog-bytes`: subscribers that read every byte would be cut
//! off as slow consumers for the server's own slowness. So the engine
//! counts what the pending large fan-outs owe each subscriber (`owed`, the
//! largest encoding of every message fanned out since the last time every
//! fed subscriber had its turn), and past a quarter of a subscriber's own
//! share of the bound it holds new appends to large channels back, before
//! the store, until the driver has taken every fed subscriber. Then they
//! go to the store in the order they came.
//!
//! To the publisher a held append looks like a slow store: an HTTP
//! publisher waits in `Publishing` for its `202`, a WebSocket publisher is
//! not read past `--max-unstored-publishes`, the embedder's receipt waits.
//! Appends to small channels go on meanwhile, except behind appends of
//! their own channel that wait (so one publisher's messages keep their
//! order whatever the channel's size does).

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use crate::broker::{ChannelId, Message, Transport};

use super::{Engine, Origin, LARGE_FAN_OUT};

/// An append held back until the large fan-outs before it are written.
#[derive(Debug)]
struct Held {
    channel: ChannelId,
    data: String,
    origin: Origin,
}

/// The books of the flow control.
#[derive(Debug, Default)]
pub(super) struct Flow {
    /// Appends held back, oldest first.
    held: VecDeque<Held>,
    /// How many of them each channel has, so that a later append to it
    /// waits behind them.
    per_channel: HashMap<ChannelId, u32>,
    /// When the oldest held append was held: the engine is due at once
    /// from then on, as soon as the fan-outs are written.
    since: Option<Instant>,
    /// The most the pending large fan-outs may owe one subscriber.
    owed: usize,
}

impl Flow {
    /// When [`Engine::handle_timeout`] should run the held appends, if
    /// any wait; `fed` says whether fed subscribers still wait for their
    /// turn (then the driver, which keeps flushing, calls again anyway).
    pub(super) fn due(&self, fed: bool) -> Option<Instant> {
        self.since.filter(|_| !fed)
    }

    /// How many appends are held back.
    pub(super) fn held(&self) -> usize {
        self.held.len()
    }
}

impl Engine {
    /// Whether a fan-out on `channel` goes to more than [`LARGE_FAN_OUT`]
    /// subscribers.
    pub(super) fn is_large_fan_out(&self, channel: ChannelId) -> bool {
        self.common.broker.channel(channel).is_some_and(|ch| {
            [Transport::LongPoll, Transport::Sse, Transport::Ws]
                .iter()
                .map(|&t| ch.subscriber_count(t))
                .sum::<usize>()
                > LARGE_FAN_OUT
        })
    }

    /// What the pending large fan-outs may owe a subscriber before new
    /// appends to large channels wait: a quarter of a subscriber's own
    /// share of `--max-backlog-bytes` (the kernel's share aside).
    fn flow_limit(&self) -> usize {
        let config = &self.common.config;
        (config
            .max_backlog_bytes
            .saturating_sub(self.common.kernel_send_buffer)
            / 4)
        .max(1)
    }

    /// A large fan-out of `message` was queued (`first`: when no fed
    /// subscriber was waiting for its turn): every subscriber it fed may
    /// owe that much more until the driver takes it.
    pub(super) fn note_large_fan_out(&mut self, message: &Message, first: bool) {
        if first {
            self.flow.owed = 0; // everything before was taken
        }
        self.flow.owed = self.flow.owed.saturating_add(message.largest_encoding());
    }

    /// Appends `data` to `channel` now, or holds it back behind the large
    /// fan-outs not yet written (see the module docs).
    pub(super) fn append_or_hold(
        &mut self,
        channel: ChannelId,
        data: String,
        origin: Origin,
        now: Instant,
    ) {
        let behind_its_channel = self.flow.per_channel.contains_key(&channel);
        let fan_outs_pending = !self.fed_ready.is_empty() && self.flow.owed >= self.flow_limit();
        let wait = behind_its_channel || (fan_outs_pending && self.is_large_fan_out(channel));
        if !wait {
            return self.append(channel, data, origin, now);
        }
        // Pinned while it waits, so that the channel is not forgotten if
        // its subscribers leave meanwhile.
        self.common.broker.pin(channel);
        *self.flow.per_channel.entry(channel).or_default() += 1;
        self.flow.held.push_back(Held {
            channel,
            data,
            origin,
        });
        self.flow.since.get_or_insert(now);
    }

    /// Once every fed subscriber has had its turn, the held appends go to
    /// the store, oldest first, until the fan-outs they make owe a
    /// subscriber the limit again.
    pub(super) fn release_held_appends(&mut self, now: Instant) {
        if self.flow.held.is_empty() || !self.fed_ready.is_empty() {
            return;
        }
        self.flow.owed = 0;
        let limit = self.flow_limit();
        while self.flow.owed < limit || self.fed_ready.is_empty() {
            let Some(Held {
                channel,
                data,
                origin,
            }) = self.flow.held.pop_front()
            else {
                break;
            };
            if let Some(n) = self.flow.per_channel.get_mut(&channel) {
                *n -= 1;
                if *n == 0 {
                    self.flow.per_channel.remove(&channel);
                }
            }
            self.append(channel, data, origin, now);
            self.common.broker.settle(channel); // the pin of the wait
        }
        self.flow.since = match self.flow.held.is_empty() {
            true => None,
            false => Some(now),
        };
    }
}
