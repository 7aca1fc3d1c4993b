//! Channels, history rings, subscriber sets and message ids.
//!
//! A channel is a name (`[A-Za-z0-9._~-]{1,128}`) with:
//!
//! - `last_id`: the id of its newest message. Ids are given by the store
//!   that commits a message (see `engine::store`), strictly increasing per
//!   channel; the in-memory store adds one, so the message with id `k`
//!   usually sits at a known place in the history ring and "everything
//!   after `since`" is one slice found in O(1), with a binary search when
//!   a store's ids skip;
//! - `origin`: the id the channel started after. Ids at or below the
//!   broker's *floor* may have been given by an earlier run of the server
//!   (or an earlier life of the channel), so a channel created now starts
//!   above it, and a client that comes back with such an id is told
//!   `gap`: what it missed is not known here (docs/durability.md);
//! - a history ring of the last N messages (`--history`), each message
//!   knowing the id of the one before it (`prev`): a client that comes
//!   back with the last id it saw gets everything it missed while nothing
//!   after that id has left the ring, and is told `gap` otherwise;
//! - one subscriber set per transport that waits for news (long-poll, SSE,
//!   WebSocket), each a slab so that joining and leaving are O(1).
//!
//! A [`Message`] is encoded once per wire format when it is published, and
//! every subscriber's queue holds a reference-counted pointer to those
//! bytes (`Rc<[u8]>`), never a copy: publishing to ten thousand subscribers
//! writes the JSON once.
//!
//! # How messages leave history
//!
//! By count (`--history`: the oldest of the channel goes when one more
//! comes), by bytes (`--max-history-bytes`: the oldest of any channel goes,
//! in the order of `Broker::order`) and by age (`--history-ttl`, as nchan's
//! `nchan_message_timeout` and Centrifugo's `history_ttl`). All three take
//! the oldest first, so a history is always "everything after its oldest's
//! `prev`", and a client resuming from before that is told `gap`.
//!
//! Age is counted from the commit (the `now` given to [`Broker::append`]);
//! a message restored from a durable log counts from its restore, since the
//! log does not carry publish times. Nothing scans the channels for old
//! messages. Each channel whose history is not empty has one timer on the
//! broker's own timer wheel ([`crate::timer`]), due no later than its
//! oldest message expires. The timer is armed when it is missing (the
//! history went from empty to not empty, or the last one fired) and never
//! moved otherwise: the oldest message only ever gets younger (messages
//! join at the back and leave at the front), so a timer armed for an
//! earlier oldest fires early, never late, and costs one visit that
//! removes nothing and arms the timer for the new oldest. A publish thus
//! costs one look at its channel's timer (is it still armed?), never a
//! move on the wheel. When the
//! timer fires, every message past the ttl leaves and the timer is armed
//! for the new oldest; one pass of [`Broker::expire`] does at most
//! [`EXPIRY_WORK_PER_PASS`] units of that work, the rest is due at once in
//! the next pass ([`Broker::next_expiry`]).
//!
//! The wheel is the broker's, not the engine's: the broker owns every rule
//! by which a message leaves history, and a channel's timer handle lives in
//! the channel and is cancelled in the one place a channel is forgotten.
//! The engine's wheel keeps one value type (a connection) and its
//! connection-timer code does not change; the engine only passes the time
//! on ([`Broker::expire`]) and asks for the next deadline.
//!
//! # Forgetting a channel
//!
//! A channel with no message, no subscriber and no append in flight is
//! forgotten, so that clients cannot fill memory with names. One that had
//! messages can be left with none only by the byte bound or by age; with a
//! ttl it is forgotten then (its messages would all have gone by age
//! anyway), without one it is kept, with its `last_id`. Before it goes, the
//! floor is raised to its `last_id`: a channel created later under any
//! name starts above every id it gave, so no id is given twice, and a
//! client that comes back with an id below it is told `gap`, never
//! nothing. A client that comes back with exactly its last id missed
//! nothing and is told so (unless a channel with a higher last id was
//! forgotten since: the floor is one number for all channels, and then the
//! client is told `gap` to be safe).
//!
//! Channel ids are slab keys, reused once a channel is forgotten. An
//! expiry timer never acts on the wrong channel: forgetting a channel
//! cancels its timer, and a timer that fired before (its channel waits its
//! turn in a pass) only removes messages that are past the ttl, which is
//! right whatever channel holds the id by then.

use std::cell::OnceCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::http::response::write_chunk;
use crate::timer::{TimerHandle, Wheel};
use crate::{json, sse, ws};

/// A connection, as the engine numbers them.
pub type ConnId = usize;

/// Index of a channel inside the broker.
pub type ChannelId = u32;

/// Longest channel name, in bytes.
pub const MAX_CHANNEL_NAME: usize = 128;

/// Work one [`Broker::expire`] does at most: a channel whose timer fired
/// counts one, and every message it removes one more. Ten thousand
/// channels whose messages expire at the same tick are handled over
/// several passes, with reads and writes in between (as the engine's
/// `TIMERS_PER_PASS` does for connections).
pub const EXPIRY_WORK_PER_PASS: usize = 1024;

/// A valid channel name, held inline: 1-128 bytes of `[A-Za-z0-9._~-]`.
///
/// Made only by [`ChannelName::new`], so holding one proves the name was
/// checked; it costs no allocation, so a request can carry one to the
/// broker by value.
///
/// ```
/// use pushwire::broker::ChannelName;
///
/// assert_eq!(ChannelName::new("news.v1").unwrap().as_str(), "news.v1");
/// assert!(ChannelName::new("a/b").is_none());
/// ```
#[derive(Clone, Copy)]
pub struct ChannelName {
    len: u8,
    bytes: [u8; MAX_CHANNEL_NAME],
}

impl ChannelName {
    /// `name` if it is a valid channel name ([`valid_channel_name`]).
    pub fn new(name: &str) -> Option<ChannelName> {
        if !valid_channel_name(name) {
            return None;
        }
        let mut bytes = [0; MAX_CHANNEL_NAME];
        bytes
            .get_mut(..name.len())?
            .copy_from_slice(name.as_bytes());
        Some(ChannelName {
            len: u8::try_from(name.len()).ok()?,
            bytes,
        })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // Only ASCII was ever copied in, so this cannot fail.
        let bytes = self.bytes.get(..usize::from(self.len)).unwrap_or_default();
        std::str::from_utf8(bytes).unwrap_or_default()
    }
}

impl std::fmt::Debug for ChannelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

/// Whether `name` is a valid channel name: 1-128 bytes of `[A-Za-z0-9._~-]`
/// (the URI "unreserved" set of RFC 3986 section 2.3, so a name never
/// needs percent-encoding).
pub fn valid_channel_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_CHANNEL_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

/// One published message and its encodings.
#[derive(Debug)]
pub struct Message {
    /// The id, unique and increasing within its channel.
    pub id: u64,
    /// The id of the message before it in the channel, or the channel's
    /// origin for its first: a client that last saw `prev` or later
    /// missed nothing before this message.
    pub prev: u64,
    /// The text as published.
    pub data: Box<str>,
    /// `{"id":N,"data":"..."}`, the item of poll and long-poll batches.
    pub json: Rc<[u8]>,
    /// The SSE event as one chunk of a chunked body, made on first use.
    sse: OnceCell<Rc<[u8]>>,
    /// The SSE event bare, for HTTP/1.0 streams (no chunks), made on
    /// first use.
    sse_bare: OnceCell<Rc<[u8]>>,
    /// A WebSocket text frame carrying the data, made on first use.
    ws_text: OnceCell<Rc<[u8]>>,
    /// A WebSocket text frame carrying the `pushwire.json` envelope
    /// (the same bytes as `json`), made on first use.
    ws_json: OnceCell<Rc<[u8]>>,
    /// When it was committed (or restored): its age, for the history ttl.
    committed: Instant,
}

impl Message {
    fn new(id: u64, prev: u64, data: Box<str>, committed: Instant) -> Message {
        let mut item = Vec::with_capacity(data.len() + 24);
        json::write_item(&mut item, id, &data);
        Message {
            id,
            prev,
            data,
            json: item.into(),
            sse: OnceCell::new(),
            sse_bare: OnceCell::new(),
            ws_text: OnceCell::new(),
            ws_json: OnceCell::new(),
            committed,
        }
    }

    /// When it was committed (for a message restored from a durable log:
    /// when it was restored). It leaves history `history_ttl` after this.
    pub fn committed(&self) -> Instant {
        self.committed
    }

    /// The message as one unmasked WebSocket text frame (RFC 6455 section
    /// 5.6): the data itself, or with `json` the `{"id":N,"data":"..."}`
    /// envelope of the `pushwire.json` subprotocol. Encoded once, on first
    /// use, and shared by every WebSocket subscriber from then on.
    pub fn ws_frame(&self, json: bool) -> &Rc<[u8]> {
        let (cell, payload) = if json {
            (&self.ws_json, &self.json[..])
        } else {
            (&self.ws_text, self.data.as_bytes())
        };
        cell.get_or_init(|| {
            let mut frame = Vec::with_capacity(payload.len() + 10);
            ws::write_frame(&mut frame, ws::Opcode::Text, payload, None);
            frame.into()
        })
    }

    /// What keeping the message costs, in bytes, for the history bound:
    /// the data, the JSON item, and the encodings made on first use (two
    /// SSE events about as long as the data, a WebSocket frame of the
    /// data and one of the JSON item), plus the fixed parts (the
    /// `Message` and its allocations). An upper estimate, computed from
    /// the lengths alone.
    pub fn cost(&self) -> usize {
        3 * self.data.len() + 2 * self.json.len() + 256
    }

    /// The length of its longest encoding made so far (the JSON item is
    /// always made): what one subscriber's queue grows by when the
    /// message is queued for it.
    pub fn largest_encoding(&self) -> usize {
        [&self.sse, &self.sse_bare, &self.ws_text, &self.ws_json]
            .iter()
            .filter_map(|cell| cell.get().map(|bytes| bytes.len()))
            .fold(self.json.len(), usize::max)
    }

    /// The message as an SSE event (`id:`, `data:` lines, blank line),
    /// bare, for an HTTP/1.0 stream: encoded once, on first use, and
    /// shared by every such subscriber from then on.
    pub fn sse_event(&self) -> &Rc<[u8]> {
        self.sse_bare.get_or_init(|| {
            let mut event = Vec::with_capacity(self.data.len() + 24);
            sse::write_event(&mut event, self.id, None, &self.data);
            event.into()
        })
    }

    /// The message as an SSE event (`id:`, `data:` lines, blank line),
    /// framed as one HTTP chunk: encoded once, on first use, and shared by
    /// every SSE subscriber from then on.
    pub fn sse_chunk(&self) -> &Rc<[u8]> {
        self.sse.get_or_init(|| {
            let mut event = Vec::with_capacity(self.data.len() + 24);
            sse::write_event(&mut event, self.id, None, &self.data);
            let mut chunk = Vec::with_capacity(event.len() + 12);
            write_chunk(&mut chunk, &event);
            chunk.into()
        })
    }
}

/// The transports that wait on a channel for news.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A parked long-poll request.
    LongPoll,
    /// A Server-Sent Events stream.
    Sse,
    /// A WebSocket subscribed to the channel.
    Ws,
}

/// One channel: its history and who is waiting on it.
#[derive(Debug)]
pub struct Channel {
    name: Box<str>,
    /// The id the channel started after (see the module docs).
    origin: u64,
    last_id: u64,
    history: VecDeque<Rc<Message>>,
    /// Appends in flight to the store: the channel is in use until they
    /// are decided, even with no message and no subscriber yet.
    appending: u32,
    /// The broker's sync epoch when the channel was created here
    /// ([`Broker::set_in_sync`]): a channel created while a shared store
    /// was out of step, or before it last lost it, cannot take the first
    /// message it gets as its start without a `gap`.
    epoch: u32,
    /// Its timer on the broker's expiry wheel, with a history ttl: armed
    /// while the history is not empty, due no later than the oldest
    /// message expires (see the module docs).
    expiry: Option<TimerHandle>,
    longpoll: Slab<ConnId>,
    sse: Slab<ConnId>,
    ws: Slab<ConnId>,
}

/// What a client that last saw `since` should get now.
#[derive(Debug)]
pub struct Backlog<'a> {
    /// The channel's newest id; with nothing published yet, the id it
    /// starts after (0 on a broker whose floor is 0).
    pub last_id: u64,
    /// Messages newer than `since`, oldest first, in two runs (a ring).
    pub messages: (&'a [Rc<Message>], &'a [Rc<Message>]),
    /// Some messages newer than `since` already left the history.
    pub gap: bool,
}

impl Backlog<'_> {
    /// The messages, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Rc<Message>> {
        self.messages.0.iter().chain(self.messages.1.iter())
    }

    /// How many messages.
    pub fn len(&self) -> usize {
        self.messages.0.len() + self.messages.1.len()
    }

    /// Nothing newer than `since`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The empty backlog of a channel that does not exist.
const EMPTY: Backlog<'static> = Backlog {
    last_id: 0,
    messages: (&[], &[]),
    gap: false,
};

impl Channel {
    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The id of the newest message, 0 if none.
    pub fn last_id(&self) -> u64 {
        self.last_id
    }

    /// The id of the oldest message still in history, 0 if none.
    pub fn oldest_id(&self) -> u64 {
        self.history.front().map_or(0, |m| m.id)
    }

    /// The oldest message still in history, if any.
    pub fn oldest(&self) -> Option<&Rc<Message>> {
        self.history.front()
    }

    /// The id the channel started after: ids at or below it may have
    /// been given before this channel existed here.
    pub fn origin(&self) -> u64 {
        self.origin
    }

    /// No message was ever kept here: the channel is still where it was
    /// created (its subscribers have nothing of it).
    pub fn never_had_one(&self) -> bool {
        self.history.is_empty() && self.last_id == self.origin
    }

    /// Messages after `since`; `since` 0 means "from the start", which is
    /// the channel's origin. A `since` below the origin (a client that
    /// outlived a server restart) is a gap: what it missed is not known
    /// here. A `since` ahead of `last_id` is treated as `last_id`:
    /// nothing is missed, and the `last_id` in the answer resynchronises
    /// the client.
    pub fn backlog(&self, since: u64) -> Backlog<'_> {
        let since = if since == 0 { self.origin } else { since };
        let Some(oldest) = self.history.front() else {
            return Backlog {
                last_id: self.last_id,
                // Every message was evicted (the byte bound can empty a
                // channel's history), or none was published in this life
                // of the channel: those after `since` are lost.
                gap: since < self.last_id,
                ..EMPTY
            };
        };
        let (oldest, before_oldest) = (oldest.id, oldest.prev);
        let skip = self.first_after(since, oldest);
        let (a, b) = self.history.as_slices();
        let messages = if skip <= a.len() {
            (a.get(skip..).unwrap_or(&[]), b)
        } else {
            (&[][..], b.get(skip - a.len()..).unwrap_or(&[]))
        };
        Backlog {
            last_id: self.last_id,
            messages,
            // A message after `since` existed once but has left.
            gap: since < before_oldest,
        }
    }

    /// How many messages of the history have an id up to `since`. Ids are
    /// strictly increasing; when they are consecutive (the in-memory store
    /// adds one each time) the place is known at once and only checked,
    /// otherwise it is found by binary search.
    fn first_after(&self, since: u64, oldest: u64) -> usize {
        let guess = since.saturating_add(1).saturating_sub(oldest);
        let guess = usize::try_from(guess)
            .unwrap_or(usize::MAX)
            .min(self.history.len());
        let before_ok = guess == 0 || self.history.get(guess - 1).is_some_and(|m| m.id <= since);
        let at_ok = self.history.get(guess).is_none_or(|m| m.id > since);
        if before_ok && at_ok {
            guess
        } else {
            self.history.partition_point(|m| m.id <= since)
        }
    }

    fn set(&self, transport: Transport) -> &Slab<ConnId> {
        match transport {
            Transport::LongPoll => &self.longpoll,
            Transport::Sse => &self.sse,
            Transport::Ws => &self.ws,
        }
    }

    fn set_mut(&mut self, transport: Transport) -> &mut Slab<ConnId> {
        match transport {
            Transport::LongPoll => &mut self.longpoll,
            Transport::Sse => &mut self.sse,
            Transport::Ws => &mut self.ws,
        }
    }

    /// The connections waiting on this channel through `transport`.
    pub fn subscribers(&self, transport: Transport) -> impl Iterator<Item = ConnId> + '_ {
        self.set(transport).iter().map(|(_, &conn)| conn)
    }

    /// How many connections wait through `transport`.
    pub fn subscriber_count(&self, transport: Transport) -> usize {
        self.set(transport).len()
    }

    /// What keeping a channel costs, in bytes, for the history bound: the
    /// `Channel` in its slab, its name twice (in the channel and as the
    /// index's key) and the index's entry, with allocator overhead. An
    /// upper estimate.
    fn cost(name: &str) -> usize {
        std::mem::size_of::<Channel>() + 2 * name.len() + 96
    }

    /// No message, no subscriber, no append in flight: the channel may be
    /// forgotten. One that had messages only with a history ttl (`ages`):
    /// see the module docs.
    fn is_unused(&self, ages: bool) -> bool {
        self.history.is_empty()
            && (ages || self.last_id == self.origin)
            && self.appending == 0
            && self.longpoll.is_empty()
            && self.sse.is_empty()
            && self.ws.is_empty()
    }
}

/// Where a subscriber sits: remove it with [`Broker::unsubscribe`].
/// Twelve bytes: every waiting connection carries one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// The channel.
    pub channel: ChannelId,
    /// The transport set.
    pub transport: Transport,
    /// The slot in that set.
    slot: u32,
}

/// All channels.
#[derive(Debug)]
pub struct Broker {
    channels: Slab<Channel>,
    by_name: HashMap<Box<str>, ChannelId>,
    limits: BrokerLimits,
    /// Every stored message, oldest first, as (channel, id): the order in
    /// which the byte bound evicts. Entries of messages that already left
    /// their channel (by count or by age) are skipped when met, and swept
    /// out when they outnumber the live ones. An entry whose channel was
    /// forgotten never names a message of the channel that reuses its id:
    /// that one starts above the floor, which is at or above every id the
    /// forgotten one gave.
    order: VecDeque<(ChannelId, u64)>,
    /// Messages in all histories, and their [`Message::cost`] in bytes.
    stored: usize,
    stored_bytes: usize,
    /// Ids at or below this may have been given before (by an earlier
    /// run, or to a channel since forgotten): a channel created now
    /// starts above it.
    floor: u64,
    /// One timer per channel with history, with a history ttl (see the
    /// module docs).
    expiry: Wheel<ChannelId>,
    /// Channels whose timer fired; those from `expiring_done` on wait for
    /// the next pass.
    expiring: Vec<ChannelId>,
    expiring_done: usize,
    /// When a pass of [`Broker::expire`] stopped with work left: the next
    /// pass is due at once.
    expiry_behind: Option<Instant>,
    /// With a shared store: how many times it has come back in step with
    /// the shared history, or [`OUT_OF_STEP`] while it is not
    /// ([`Broker::set_in_sync`]). Always 0 with a store of this server's
    /// alone.
    epoch: u32,
    /// The epoch the next return in step takes.
    next_epoch: u32,
}

/// [`Broker`]'s epoch while a shared store is out of step with the shared
/// history (disconnected, or catching up).
const OUT_OF_STEP: u32 = u32::MAX;

/// How much the broker may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokerLimits {
    /// Messages kept per channel (at least 1).
    pub history: usize,
    /// Channels at most; creating one more is refused.
    pub max_channels: usize,
    /// Bytes of messages kept over all channels; past it, the oldest
    /// message anywhere is evicted (and a client resuming from before it
    /// is told `gap`). The newest message is always kept.
    pub max_history_bytes: usize,
    /// How long a message stays in history after its commit; `None` (or
    /// zero): no age limit. A client resuming from before a message that
    /// left is told `gap`.
    pub history_ttl: Option<Duration>,
}

/// The broker refused to create a channel: `max_channels` exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyChannels;

impl std::fmt::Display for AppendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppendError::NoSuchChannel => f.write_str("the channel is gone"),
            AppendError::StaleId { id, last_id } => write!(
                f,
                "the store gave id {id}, not above the channel's last id {last_id}"
            ),
        }
    }
}

impl std::error::Error for AppendError {}

/// Why [`Broker::append`] refused a committed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendError {
    /// No channel has this id.
    NoSuchChannel,
    /// The id is not above the channel's `last_id`: ids never go back and
    /// are never given twice.
    StaleId {
        /// The id the store gave.
        id: u64,
        /// The channel's newest id.
        last_id: u64,
    },
}

impl Broker {
    /// A broker with these limits; `start` and `tick` are the time and
    /// the resolution of its expiry timers (a message leaves history at
    /// most a tick after its ttl).
    ///
    /// ```
    /// use pushwire::broker::{Broker, BrokerLimits};
    /// use std::time::{Duration, Instant};
    ///
    /// let limits = BrokerLimits {
    ///     history: 16,
    ///     max_channels: 100,
    ///     max_history_bytes: 1 << 20,
    ///     history_ttl: Some(Duration::from_secs(60)),
    /// };
    /// let broker = Broker::new(limits, Instant::now(), Duration::from_millis(4));
    /// assert!(broker.is_empty());
    /// ```
    pub fn new(limits: BrokerLimits, start: Instant, tick: Duration) -> Broker {
        Broker {
            channels: Slab::new(),
            by_name: HashMap::new(),
            limits: BrokerLimits {
                history: limits.history.max(1),
                history_ttl: limits.history_ttl.filter(|ttl| !ttl.is_zero()),
                ..limits
            },
            order: VecDeque::new(),
            stored: 0,
            stored_bytes: 0,
            floor: 0,
            expiry: Wheel::new(start, tick),
            expiring: Vec::new(),
            expiring_done: 0,
            expiry_behind: None,
            epoch: 0,
            next_epoch: 1,
        }
    }

    /// A shared store lost (`false`) or regained (`true`) its step with
    /// the shared history ([`crate::engine::Decision::Sync`]). While it is
    /// out of step, a message committed elsewhere may never reach this
    /// server (it comes back only as far as the store's history reaches),
    /// so a channel created here before the last return in step, which
    /// never had a message here, is told `gap` at its first message
    /// instead of starting silently ([`Broker::append_after`]).
    pub fn set_in_sync(&mut self, in_sync: bool) {
        match in_sync {
            true => {
                self.epoch = self.next_epoch;
                self.next_epoch = match self.next_epoch.wrapping_add(1) {
                    OUT_OF_STEP => 0,
                    next => next,
                };
            }
            false => self.epoch = OUT_OF_STEP,
        }
    }

    /// Raises the floor: ids at or below `floor` may have been given
    /// before (by an earlier run of the server), so channels created from
    /// now on start above it, and a client that comes back with such an
    /// id on a channel that starts above it is told `gap`. The store says
    /// what the floor is (`engine::Store::floor`).
    pub fn raise_floor(&mut self, floor: u64) {
        self.floor = self.floor.max(floor);
    }

    /// The id a channel created now starts after.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// Messages kept over all channels, and the approximate bytes of
    /// them and of the channels themselves (what `max_history_bytes`
    /// bounds).
    pub fn stored(&self) -> (usize, usize) {
        (self.stored, self.stored_bytes)
    }

    /// The channel called `name`, if it exists.
    pub fn find(&self, name: &str) -> Option<ChannelId> {
        self.by_name.get(name).copied()
    }

    /// A channel by id.
    pub fn channel(&self, id: ChannelId) -> Option<&Channel> {
        self.channels.get(id as usize)
    }

    /// The channel called `name`, created if needed and allowed. The name
    /// must already be valid ([`valid_channel_name`]).
    pub fn find_or_create(&mut self, name: &str) -> Result<ChannelId, TooManyChannels> {
        self.find_or_create_after(name, self.floor)
    }

    /// Puts a message read back from a durable store into its channel,
    /// before anyone is served: a channel not yet restored starts just
    /// before its first message read back (what came before it left
    /// history, and a client from before it is told `gap`). Its age counts
    /// from `now`: the log does not carry publish times.
    pub fn restore(
        &mut self,
        name: &str,
        id: u64,
        data: Box<str>,
        now: Instant,
    ) -> Result<(), AppendError> {
        let channel = self
            .find_or_create_after(name, id.saturating_sub(1))
            .map_err(|_| AppendError::NoSuchChannel)?;
        self.append(channel, id, data, now).map(|_| ())
    }

    /// The channel called `name`, created if needed and allowed, starting
    /// after `origin` when it is created: for a message committed
    /// elsewhere ([`Broker::append_after`]), whose channel starts where
    /// the store says. The name must already be valid.
    pub fn find_or_create_after(
        &mut self,
        name: &str,
        origin: u64,
    ) -> Result<ChannelId, TooManyChannels> {
        if let Some(&id) = self.by_name.get(name) {
            return Ok(id);
        }
        if self.channels.len() >= self.limits.max_channels {
            return Err(TooManyChannels);
        }
        let key = self.channels.insert(Channel {
            name: name.into(),
            origin,
            last_id: origin,
            history: VecDeque::new(),
            appending: 0,
            epoch: self.epoch,
            expiry: None,
            longpoll: Slab::new(),
            sse: Slab::new(),
            ws: Slab::new(),
        });
        // More than four billion live channels would exhaust memory long
        // before the id space; saturate rather than wrap.
        let id = ChannelId::try_from(key).unwrap_or(ChannelId::MAX);
        self.by_name.insert(name.into(), id);
        self.stored_bytes += Channel::cost(name);
        Ok(id)
    }

    /// Messages after `since` on the channel called `name`; a channel that
    /// does not exist is one created now: an empty history, `last_id` the
    /// floor, and a gap for a `since` below it.
    pub fn backlog(&self, name: &str, since: u64) -> Backlog<'_> {
        match self.find(name).and_then(|id| self.channel(id)) {
            Some(channel) => channel.backlog(since),
            None => Backlog {
                last_id: self.floor,
                gap: since != 0 && since < self.floor,
                ..EMPTY
            },
        }
    }

    /// Marks an append to the channel as in flight: the channel stays,
    /// even with no message and no subscriber, until [`Broker::settle`].
    pub fn pin(&mut self, id: ChannelId) {
        if let Some(channel) = self.channels.get_mut(id as usize) {
            channel.appending = channel.appending.saturating_add(1);
        }
    }

    /// An append pinned with [`Broker::pin`] was decided; a channel that
    /// is then unused is forgotten.
    pub fn settle(&mut self, id: ChannelId) {
        if let Some(channel) = self.channels.get_mut(id as usize) {
            channel.appending = channel.appending.saturating_sub(1);
        }
        self.forget_if_unused(id);
    }

    /// Adds a message committed at `now` to the channel's history with the
    /// id the store gave it, evicting the oldest past the history bounds,
    /// and returns it. The caller delivers it to the channel's
    /// subscribers.
    pub fn append(
        &mut self,
        id: ChannelId,
        message_id: u64,
        data: Box<str>,
        now: Instant,
    ) -> Result<Rc<Message>, AppendError> {
        let history = self.limits.history;
        let channel = self
            .channels
            .get_mut(id as usize)
            .ok_or(AppendError::NoSuchChannel)?;
        if message_id <= channel.last_id {
            return Err(AppendError::StaleId {
                id: message_id,
                last_id: channel.last_id,
            });
        }
        let prev = std::mem::replace(&mut channel.last_id, message_id);
        let message = Rc::new(Message::new(message_id, prev, data, now));
        let mut freed = 0;
        if channel.history.len() >= history {
            freed = channel.history.pop_front().map_or(0, |m| m.cost());
        }
        channel.history.push_back(Rc::clone(&message));
        if freed > 0 {
            self.stored -= 1;
            self.stored_bytes -= freed;
        }
        self.stored += 1;
        self.stored_bytes += message.cost();
        self.order.push_back((id, message.id));
        self.arm_expiry(id);
        self.evict_past_byte_bound();
        Ok(message)
    }

    /// Adds a message whose predecessor in the channel the store names
    /// (`prev`): one committed in a store shared with other servers
    /// (`--redis`, docs/cluster.md), which may have been given ids this
    /// broker never saw. Returns the message, and `Some(last)` when `prev`
    /// is above the channel's newest id `last`: the messages after `last`
    /// up to `prev` are not known here, so the history is emptied (a
    /// client resuming from before `prev` is told `gap`) and the caller
    /// tells the subscribers that they missed them. A channel that never
    /// had a message here starts after `prev`: silently if it was created
    /// while the store was in step and the store has not lost step since
    /// (every message committed since its subscribers were told where it
    /// was reaches this server, in order, so this one is the first they
    /// are owed); otherwise what was committed between may not have
    /// reached this server (trimmed from the store's history, or lost by
    /// it), and the subscribers are told `gap` from where they were told
    /// the channel was. An id not above the
    /// channel's newest is refused, as in [`Broker::append`].
    pub fn append_after(
        &mut self,
        id: ChannelId,
        message_id: u64,
        prev: u64,
        data: Box<str>,
        now: Instant,
    ) -> Result<(Rc<Message>, Option<u64>), AppendError> {
        let epoch = self.epoch;
        let channel = self
            .channels
            .get_mut(id as usize)
            .ok_or(AppendError::NoSuchChannel)?;
        let mut missed = None;
        if channel.never_had_one() && message_id > prev {
            if channel.epoch != epoch || epoch == OUT_OF_STEP {
                missed = Some(channel.last_id);
            }
            channel.origin = prev;
            channel.last_id = prev;
        } else if prev > channel.last_id {
            missed = Some(channel.last_id);
            let dropped = std::mem::take(&mut channel.history);
            channel.last_id = prev;
            for m in dropped {
                self.stored -= 1;
                self.stored_bytes -= m.cost();
            }
        }
        let message = self.append(id, message_id, data, now)?;
        Ok((message, missed))
    }

    /// Arms the channel's expiry timer for its oldest message, unless one
    /// is armed already (it is then due no later: see the module docs).
    fn arm_expiry(&mut self, id: ChannelId) {
        let Some(ttl) = self.limits.history_ttl else {
            return;
        };
        let Some(channel) = self.channels.get_mut(id as usize) else {
            return;
        };
        if channel
            .expiry
            .is_some_and(|handle| self.expiry.deadline(handle).is_some())
        {
            return;
        }
        // A deadline past what an `Instant` holds is never: no timer.
        channel.expiry = channel
            .history
            .front()
            .and_then(|oldest| oldest.committed.checked_add(ttl))
            .map(|at| self.expiry.insert(at, id));
    }

    /// Removes every message past the history ttl whose channel's timer is
    /// due by `now`, forgetting the channels left unused, and arms each
    /// timer again for its channel's new oldest. At most
    /// [`EXPIRY_WORK_PER_PASS`] per call; [`Broker::next_expiry`] says
    /// when to call again.
    pub fn expire(&mut self, now: Instant) {
        let Some(ttl) = self.limits.history_ttl else {
            return;
        };
        if self.expiring_done >= self.expiring.len() {
            self.expiring.clear();
            self.expiring_done = 0;
            self.expiry.advance(now, &mut self.expiring);
        }
        let mut work = 0;
        while work < EXPIRY_WORK_PER_PASS {
            let Some(&id) = self.expiring.get(self.expiring_done) else {
                break;
            };
            work += 1;
            if !self.expire_channel(id, now, ttl, &mut work) {
                break; // the rest of this channel in the next pass
            }
            self.expiring_done += 1;
        }
        self.expiry_behind = (self.expiring_done < self.expiring.len()).then_some(now);
        self.sweep_order();
    }

    /// Removes the channel's messages past `ttl` at `now`, while `work`
    /// allows; then arms its timer again, or forgets it if it is left
    /// unused. False if it stopped for the work bound with messages due.
    fn expire_channel(
        &mut self,
        id: ChannelId,
        now: Instant,
        ttl: Duration,
        work: &mut usize,
    ) -> bool {
        let Some(channel) = self.channels.get_mut(id as usize) else {
            return true; // forgotten since its timer fired
        };
        // Only messages past the ttl leave, whichever channel holds the id
        // now: a timer is never wrong about them.
        while let Some(oldest) = channel.history.front() {
            if oldest.committed.checked_add(ttl).is_none_or(|at| at > now) {
                break;
            }
            if *work >= EXPIRY_WORK_PER_PASS {
                return false;
            }
            *work += 1;
            if let Some(m) = channel.history.pop_front() {
                self.stored -= 1;
                self.stored_bytes -= m.cost();
            }
        }
        self.arm_expiry(id);
        self.forget_if_unused(id);
        true
    }

    /// The earliest time [`Broker::expire`] has something to do: at once
    /// when its last pass stopped with work left; `None` when no channel
    /// has a timer.
    pub fn next_expiry(&self) -> Option<Instant> {
        [self.expiry_behind, self.expiry.next_expiry()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Drops the oldest messages anywhere until the stored bytes fit.
    fn evict_past_byte_bound(&mut self) {
        while self.stored_bytes > self.limits.max_history_bytes && self.stored > 1 {
            let Some((channel, id)) = self.order.pop_front() else {
                break;
            };
            let Some(ch) = self.channels.get_mut(channel as usize) else {
                continue;
            };
            // Per channel, the oldest live message is the ring's front, so
            // a live entry of `order` always names a front.
            if ch.history.front().is_some_and(|m| m.id == id) {
                if let Some(m) = ch.history.pop_front() {
                    self.stored -= 1;
                    self.stored_bytes -= m.cost();
                }
            }
        }
        self.sweep_order();
    }

    /// Entries of `order` for messages that left by count or by age pile
    /// up; they are swept out when they outnumber the live ones.
    fn sweep_order(&mut self) {
        if self.order.len() > 2 * self.stored + 64 {
            let channels = &self.channels;
            self.order.retain(|&(channel, id)| {
                channels
                    .get(channel as usize)
                    .and_then(|c| c.history.front())
                    .is_some_and(|front| front.id <= id)
            });
        }
    }

    /// Adds `conn` to the channel's `transport` set.
    pub fn subscribe(
        &mut self,
        channel: ChannelId,
        transport: Transport,
        conn: ConnId,
    ) -> Option<Subscription> {
        let set = self.channels.get_mut(channel as usize)?.set_mut(transport);
        let entry = set.vacant_entry();
        let slot = u32::try_from(entry.key()).ok()?;
        entry.insert(conn);
        Some(Subscription {
            channel,
            transport,
            slot,
        })
    }

    /// Removes a subscriber; a channel left with no messages and no
    /// subscribers is forgotten, so clients cannot fill memory with names.
    pub fn unsubscribe(&mut self, sub: Subscription) {
        let Some(channel) = self.channels.get_mut(sub.channel as usize) else {
            return;
        };
        channel.set_mut(sub.transport).try_remove(sub.slot as usize);
        self.forget_if_unused(sub.channel);
    }

    /// A channel with no messages, no subscribers and no append in flight
    /// is forgotten, so that clients cannot fill memory with names (see
    /// the module docs).
    /// Forgets the channel if nothing uses it (no message, no subscriber,
    /// no append in flight): after a message for it was refused.
    pub fn release(&mut self, id: ChannelId) {
        self.forget_if_unused(id);
    }

    fn forget_if_unused(&mut self, id: ChannelId) {
        let ages = self.limits.history_ttl.is_some();
        if self
            .channels
            .get(id as usize)
            .is_some_and(|channel| channel.is_unused(ages))
        {
            if let Some(channel) = self.channels.try_remove(id as usize) {
                // Every id it gave is at or below the floor from now on: a
                // channel created later starts above them, and a client
                // resuming from before its last id is told `gap`.
                self.floor = self.floor.max(channel.last_id);
                if let Some(handle) = channel.expiry {
                    self.expiry.cancel(handle);
                }
                self.by_name.remove(&channel.name);
                self.stored_bytes = self
                    .stored_bytes
                    .saturating_sub(Channel::cost(&channel.name));
            }
        }
    }

    /// Takes every subscriber of one transport off a channel (a publish
    /// answers all parked long-polls at once) and returns them.
    pub fn take_subscribers(
        &mut self,
        channel: ChannelId,
        transport: Transport,
        into: &mut Vec<ConnId>,
    ) {
        if let Some(channel) = self.channels.get_mut(channel as usize) {
            into.extend(channel.set_mut(transport).drain());
        }
    }

    /// Number of channels.
    pub fn len(&self) -> usize {
        self.channels.len()
    }

    /// No channels at all.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the in-memory store does: the next id after the channel's last.
    pub(super) fn publish(
        b: &mut Broker,
        name: &str,
        data: &str,
    ) -> Result<(ChannelId, Rc<Message>), TooManyChannels> {
        publish_at(b, name, data, at(0))
    }

    /// [`publish`], committed at `now`.
    pub(super) fn publish_at(
        b: &mut Broker,
        name: &str,
        data: &str,
        now: Instant,
    ) -> Result<(ChannelId, Rc<Message>), TooManyChannels> {
        let ch = b.find_or_create(name)?;
        let next = b.channel(ch).map_or(1, |c| c.last_id() + 1);
        let message = b
            .append(ch, next, data.into(), now)
            .map_err(|_| TooManyChannels)?;
        Ok((ch, message))
    }

    fn limits(history: usize) -> BrokerLimits {
        BrokerLimits {
            history,
            max_channels: 100,
            max_history_bytes: usize::MAX,
            history_ttl: None,
        }
    }

    /// The resolution of the test brokers' expiry timers.
    pub(super) const TICK: Duration = Duration::from_millis(1);

    thread_local! {
        /// The time the test brokers start at.
        static START: Instant = Instant::now();
    }

    /// `ms` milliseconds after the test brokers' start.
    pub(super) fn at(ms: u64) -> Instant {
        START.with(|start| *start + Duration::from_millis(ms))
    }

    /// A broker with `limits`, its clock at [`at`]`(0)`.
    pub(super) fn new(limits: BrokerLimits) -> Broker {
        Broker::new(limits, at(0), TICK)
    }

    fn ids(b: &Backlog<'_>) -> Vec<u64> {
        b.iter().map(|m| m.id).collect()
    }

    #[test]
    fn ids_start_at_one_and_increase_per_channel() {
        let mut broker = new(limits(8));
        assert_eq!(publish(&mut broker, "a", "x").unwrap().1.id, 1);
        assert_eq!(publish(&mut broker, "a", "y").unwrap().1.id, 2);
        assert_eq!(publish(&mut broker, "b", "z").unwrap().1.id, 1);
    }

    #[test]
    fn backlog_returns_what_came_after_since() {
        let mut broker = new(limits(8));
        for i in 0..5 {
            publish(&mut broker, "a", &i.to_string()).unwrap();
        }
        assert_eq!(ids(&broker.backlog("a", 0)), [1, 2, 3, 4, 5]);
        assert_eq!(ids(&broker.backlog("a", 3)), [4, 5]);
        assert!(broker.backlog("a", 5).is_empty());
        // Ahead of the channel: nothing, and last_id to resynchronise.
        let ahead = broker.backlog("a", 99);
        assert!(ahead.is_empty() && !ahead.gap && ahead.last_id == 5);
        assert_eq!(broker.backlog("nope", 0).last_id, 0);
    }

    #[test]
    fn eviction_is_reported_as_a_gap_across_the_ring_boundary() {
        let mut broker = new(limits(4));
        for i in 0..10 {
            publish(&mut broker, "a", &i.to_string()).unwrap();
        }
        // History holds 7..=10 now, possibly wrapped in the ring.
        let b = broker.backlog("a", 0);
        assert_eq!(ids(&b), [7, 8, 9, 10]);
        assert!(b.gap);
        assert!(broker.backlog("a", 5).gap);
        let b = broker.backlog("a", 6);
        assert_eq!((ids(&b), b.gap), (vec![7, 8, 9, 10], false));
        assert_eq!(ids(&broker.backlog("a", 8)), [9, 10]);
    }

    #[test]
    fn ids_from_a_store_may_skip_and_backlog_still_finds_what_is_newer() {
        let mut broker = new(limits(8));
        let ch = broker.find_or_create("a").unwrap();
        for id in [3, 4, 10, 11, 40] {
            broker.append(ch, id, id.to_string().into(), at(0)).unwrap();
        }
        assert_eq!(ids(&broker.backlog("a", 0)), [3, 4, 10, 11, 40]);
        assert_eq!(ids(&broker.backlog("a", 4)), [10, 11, 40]);
        assert_eq!(ids(&broker.backlog("a", 5)), [10, 11, 40]);
        assert_eq!(ids(&broker.backlog("a", 39)), [40]);
        assert!(broker.backlog("a", 40).is_empty());
        // Each message knows the id before it, so a skip is not a gap...
        assert!(!broker.backlog("a", 1).gap);
        assert!(!broker.backlog("a", 7).gap);
        // ... and an eviction is, for every `since` before the evicted id.
        for id in [41, 42, 43, 44] {
            broker.append(ch, id, id.to_string().into(), at(0)).unwrap();
        }
        assert_eq!(
            ids(&broker.backlog("a", 0)),
            [4, 10, 11, 40, 41, 42, 43, 44]
        );
        assert!(broker.backlog("a", 0).gap);
        assert!(broker.backlog("a", 2).gap);
        assert!(!broker.backlog("a", 3).gap);
    }

    #[test]
    fn a_channel_starts_above_the_floor_and_an_id_below_it_is_a_gap() {
        let mut broker = new(limits(8));
        broker.raise_floor(1000);
        broker.raise_floor(10);
        assert_eq!(broker.floor(), 1000);
        // A channel that does not exist yet answers as one created now.
        let b = broker.backlog("a", 5);
        assert_eq!((b.last_id, b.gap), (1000, true));
        let b = broker.backlog("a", 0);
        assert_eq!((b.last_id, b.gap), (1000, false));
        let ch = broker.find_or_create("a").unwrap();
        assert_eq!(broker.channel(ch).map(Channel::origin), Some(1000));
        // An id from an earlier run: what came after it is not known here.
        let b = broker.backlog("a", 999);
        assert_eq!((b.last_id, b.gap), (1000, true));
        assert!(!broker.backlog("a", 1000).gap);
        assert!(!broker.backlog("a", 0).gap);
        broker.append(ch, 1001, "m".into(), at(0)).unwrap();
        let b = broker.backlog("a", 999);
        assert_eq!((ids(&b), b.gap), (vec![1001], true));
        let b = broker.backlog("a", 0);
        assert_eq!((ids(&b), b.gap), (vec![1001], false));
        assert!(!broker.backlog("a", 1001).gap);
    }

    #[test]
    fn a_stale_id_is_refused_and_changes_nothing() {
        let mut broker = new(limits(8));
        let ch = broker.find_or_create("a").unwrap();
        broker.append(ch, 5, "x".into(), at(0)).unwrap();
        for stale in [5, 4, 0] {
            assert_eq!(
                broker.append(ch, stale, "y".into(), at(0)).err(),
                Some(AppendError::StaleId {
                    id: stale,
                    last_id: 5
                })
            );
        }
        assert_eq!(ids(&broker.backlog("a", 0)), [5]);
        assert_eq!(
            broker.append(99, 6, "z".into(), at(0)).err(),
            Some(AppendError::NoSuchChannel)
        );
    }

    #[test]
    fn a_channel_with_an_append_in_flight_is_kept_until_it_is_decided() {
        let mut broker = new(limits(4));
        let ch = broker.find_or_create("pending").unwrap();
        broker.pin(ch);
        let sub = broker.subscribe(ch, Transport::Ws, 1).unwrap();
        broker.unsubscribe(sub);
        assert_eq!(broker.find("pending"), Some(ch));
        broker.settle(ch);
        assert_eq!(broker.find("pending"), None);
    }

    #[test]
    fn channel_names_are_the_unreserved_set() {
        assert!(valid_channel_name("news.v1_a~b-c"));
        assert!(valid_channel_name(&"a".repeat(128)));
        assert!(!valid_channel_name(&"a".repeat(129)));
        for bad in ["", "a/b", "a b", "a%20", "ä", "a?b"] {
            assert!(!valid_channel_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_channel_with_no_messages_is_forgotten_when_its_last_subscriber_leaves() {
        let mut broker = new(limits(4));
        let ch = broker.find_or_create("tmp").unwrap();
        let sub = broker.subscribe(ch, Transport::Sse, 7).unwrap();
        assert_eq!(
            broker.channel(ch).unwrap().subscriber_count(Transport::Sse),
            1
        );
        broker.unsubscribe(sub);
        assert_eq!(broker.find("tmp"), None);
        assert!(broker.is_empty());
    }
}

#[cfg(test)]
mod limit_tests {
    use super::tests::{at, new, publish};
    use super::*;

    fn broker(max_channels: usize, max_history_bytes: usize) -> Broker {
        new(BrokerLimits {
            history: 1000,
            max_channels,
            max_history_bytes,
            history_ttl: None,
        })
    }

    #[test]
    fn channels_past_the_limit_are_refused_and_names_come_back_when_freed() {
        let mut b = broker(2, usize::MAX);
        assert!(publish(&mut b, "a", "x").is_ok());
        let t = b.find_or_create("t").unwrap();
        assert_eq!(publish(&mut b, "c", "x").err(), Some(TooManyChannels));
        // Existing channels still take messages.
        assert!(publish(&mut b, "a", "y").is_ok());
        // A channel with no messages goes when its subscriber leaves.
        let sub = b.subscribe(t, Transport::Sse, 1).unwrap();
        b.unsubscribe(sub);
        assert!(publish(&mut b, "c", "x").is_ok());
    }

    #[test]
    fn the_byte_bound_evicts_the_oldest_message_anywhere() {
        let one = Message::new(1, 0, "x".repeat(100).into(), at(0)).cost();
        // Room for two channels and three messages.
        let channels = Channel::cost("a") + Channel::cost("b");
        let mut b = broker(10, channels + 3 * one);
        publish(&mut b, "a", &"x".repeat(100)).unwrap(); // a1
        publish(&mut b, "b", &"x".repeat(100)).unwrap(); // b1
        publish(&mut b, "a", &"x".repeat(100)).unwrap(); // a2
        publish(&mut b, "b", &"x".repeat(100)).unwrap(); // b2: a1 goes
        let a = b.backlog("a", 0);
        assert_eq!(
            (a.iter().map(|m| m.id).collect::<Vec<_>>(), a.gap),
            (vec![2], true)
        );
        assert_eq!(b.backlog("b", 0).len(), 2);
        assert_eq!(b.stored(), (3, channels + 3 * one));
        // Two more on b evict a2 as well: a's history is empty, and a
        // client that has not seen a2 is told it lost it.
        publish(&mut b, "b", &"x".repeat(100)).unwrap();
        publish(&mut b, "b", &"x".repeat(100)).unwrap();
        let a = b.backlog("a", 1);
        assert_eq!((a.len(), a.last_id, a.gap), (0, 2, true));
        assert!(!b.backlog("a", 2).gap);
        // A message larger than the bound alone is still kept (the newest).
        let mut tiny = broker(10, 10);
        publish(&mut tiny, "a", "large enough").unwrap();
        assert_eq!(tiny.backlog("a", 0).len(), 1);
    }

    #[test]
    fn channels_count_toward_the_byte_bound_and_leave_it_when_forgotten() {
        let mut b = broker(10, usize::MAX);
        let t = b.find_or_create("temporary").unwrap();
        assert_eq!(b.stored(), (0, Channel::cost("temporary")));
        let sub = b.subscribe(t, Transport::Sse, 1).unwrap();
        b.unsubscribe(sub);
        assert_eq!(b.stored(), (0, 0));
    }

    #[test]
    fn the_eviction_order_does_not_grow_without_bound() {
        let mut b = new(BrokerLimits {
            history: 2,
            max_channels: 10,
            max_history_bytes: usize::MAX,
            history_ttl: None,
        });
        publish(&mut b, "quiet", "kept forever").unwrap();
        for i in 0..10_000 {
            publish(&mut b, "busy", &i.to_string()).unwrap();
        }
        assert_eq!(b.stored().0, 3);
        assert!(b.order.len() <= 2 * 3 + 64, "{}", b.order.len());
    }
}

#[cfg(test)]
mod expiry_tests {
    use super::tests::{at, new, publish_at};
    use super::*;

    const TTL: Duration = Duration::from_millis(100);

    fn broker(history: usize, max_history_bytes: usize) -> Broker {
        new(BrokerLimits {
            history,
            max_channels: 10,
            max_history_bytes,
            history_ttl: Some(TTL),
        })
    }

    fn ids(b: &Broker, name: &str, since: u64) -> (Vec<u64>, bool) {
        let backlog = b.backlog(name, since);
        (backlog.iter().map(|m| m.id).collect(), backlog.gap)
    }

    #[test]
    fn a_message_leaves_history_at_its_ttl_and_not_before() {
        let mut b = broker(100, usize::MAX);
        let (ch, _) = publish_at(&mut b, "a", "one", at(0)).unwrap();
        let kept = b.subscribe(ch, Transport::Sse, 7).unwrap();
        publish_at(&mut b, "a", "two", at(50)).unwrap();
        // No later than the deadline (a slot's start, on a higher level).
        assert!(b.next_expiry() <= Some(at(100)));
        b.expire(at(99));
        assert_eq!(ids(&b, "a", 0), (vec![1, 2], false));
        b.expire(at(100));
        assert_eq!(ids(&b, "a", 0), (vec![2], true));
        assert_eq!(ids(&b, "a", 1), (vec![2], false));
        assert!(b.next_expiry() > Some(at(100)) && b.next_expiry() <= Some(at(150)));
        b.expire(at(149));
        assert_eq!(ids(&b, "a", 1), (vec![2], false));
        b.expire(at(150));
        // The subscriber keeps the channel: its last id and the gap stay.
        assert_eq!(ids(&b, "a", 1), (vec![], true));
        assert_eq!(ids(&b, "a", 2), (vec![], false));
        assert_eq!(b.stored(), (0, Channel::cost("a")));
        assert_eq!(b.next_expiry(), None);
        b.unsubscribe(kept);
        assert_eq!(b.find("a"), None);
    }

    #[test]
    fn an_idle_channel_whose_messages_expired_is_forgotten_and_its_ids_are_never_given_again() {
        let mut b = broker(100, usize::MAX);
        publish_at(&mut b, "a", "one", at(0)).unwrap();
        publish_at(&mut b, "a", "two", at(0)).unwrap();
        b.expire(at(100));
        assert_eq!((b.find("a"), b.stored()), (None, (0, 0)));
        assert_eq!(b.floor(), 2);
        // A client that saw 1 missed 2; one that saw 2 missed nothing.
        assert_eq!(ids(&b, "a", 1), (vec![], true));
        assert_eq!(ids(&b, "a", 2), (vec![], false));
        assert_eq!(b.backlog("a", 2).last_id, 2);
        // Made anew, the channel (or any other) starts above 2.
        assert_eq!(publish_at(&mut b, "a", "three", at(200)).unwrap().1.id, 3);
        assert_eq!(publish_at(&mut b, "b", "one", at(200)).unwrap().1.id, 3);
        assert_eq!(ids(&b, "a", 1), (vec![3], true));
        assert_eq!(ids(&b, "a", 2), (vec![3], false));
    }

    #[test]
    fn a_restored_message_counts_its_age_from_the_restore() {
        let mut b = broker(100, usize::MAX);
        b.restore("r", 41, "old".into(), at(30)).unwrap();
        b.expire(at(129));
        assert_eq!(ids(&b, "r", 40), (vec![41], false));
        b.expire(at(130));
        assert_eq!(b.find("r"), None);
        assert_eq!(ids(&b, "r", 40), (vec![], true));
    }

    #[test]
    fn expiry_does_a_bounded_amount_of_work_per_pass_and_the_rest_is_due_at_once() {
        let mut b = broker(5000, usize::MAX);
        for i in 0..3000 {
            publish_at(&mut b, "a", &i.to_string(), at(0)).unwrap();
        }
        // A pass: the channel counts one, each message removed one more.
        let per_pass = EXPIRY_WORK_PER_PASS - 1;
        b.expire(at(100));
        assert_eq!(b.stored().0, 3000 - per_pass);
        assert_eq!(b.next_expiry(), Some(at(100)), "due at once");
        b.expire(at(101));
        assert_eq!(b.stored().0, 3000 - 2 * per_pass);
        b.expire(at(102));
        assert_eq!((b.stored(), b.find("a")), ((0, 0), None));
        assert_eq!(b.next_expiry(), None);
        assert!(b.order.is_empty(), "{}", b.order.len());
    }

    #[test]
    fn a_forgotten_channel_takes_its_timer_along_and_its_reused_id_expires_on_its_own_time() {
        let one = Message::new(1, 0, "x".repeat(100).into(), at(0)).cost();
        let mut b = broker(100, Channel::cost("a") + Channel::cost("b") + one);
        let (a, _) = publish_at(&mut b, "a", &"x".repeat(100), at(0)).unwrap();
        let kept = b.subscribe(a, Transport::Ws, 1).unwrap();
        // b's message evicts a's by the byte bound: a's timer stays armed.
        publish_at(&mut b, "b", &"x".repeat(100), at(0)).unwrap();
        assert_eq!(ids(&b, "a", 0), (vec![], true));
        assert_eq!(b.expiry.len(), 2);
        // With a ttl, a channel emptied by the byte bound goes with its
        // last subscriber, and its timer with it.
        b.unsubscribe(kept);
        assert_eq!((b.find("a"), b.expiry.len()), (None, 1));
        let (c, _) = publish_at(&mut b, "c", "later", at(60)).unwrap();
        assert_eq!(c, a, "the slab reuses the id");
        b.expire(at(100));
        assert_eq!(b.find("b"), None);
        assert_eq!(ids(&b, "c", 0), (vec![2], false));
        b.expire(at(160));
        assert_eq!(b.find("c"), None);
    }

    #[test]
    fn without_a_ttl_messages_stay_and_no_timer_is_armed() {
        for history_ttl in [None, Some(Duration::ZERO)] {
            let mut b = new(BrokerLimits {
                history: 10,
                max_channels: 10,
                max_history_bytes: usize::MAX,
                history_ttl,
            });
            publish_at(&mut b, "a", "kept", at(0)).unwrap();
            assert_eq!(b.next_expiry(), None);
            b.expire(at(400 * 24 * 3600 * 1000));
            assert_eq!(ids(&b, "a", 0), (vec![1], false));
        }
    }
}
