//! Publish is a commit: the interface between the engine and the store
//! that gives a message its id.
//!
//! A message has an id only once a store has it. Every publish, whatever
//! its source (`POST /pub/{channel}`, a WebSocket text frame, the
//! embedder's [`crate::Hub`]), takes the same path:
//!
//! ```text
//!  publisher        engine                          store
//!  ─────────        ──────                          ─────
//!  POST /pub/a ──▶  checks, channel pinned
//!                   Append { ticket, a, data } ──▶  append()
//!                                                   ... memory: at once;
//!                                                   a log: after fsync;
//!                                                   Redis: after its reply
//!                   Commit { ticket, Ok(id) } ◀──   poll_commit()
//!                   history += message
//!                   subscribers fed, in id order
//!  202 {"id":N} ◀── publisher answered
//! ```
//!
//! Until the commit, nothing is delivered and the publisher is not
//! answered: an HTTP publisher's connection waits (requests pipelined
//! behind it wait too), a WebSocket publisher keeps reading frames and
//! gets its own message back with everybody else, a `Hub` receipt waits.
//! A failed commit delivers nothing: the HTTP publisher gets `503` with
//! the store's reason, a WebSocket publisher close 1011, a `Hub` receipt
//! the error.
//!
//! # The contract a store keeps
//!
//! - Every [`Append`] is answered exactly once by a [`Commit`] with the
//!   same [`Ticket`]: committed with an id, or failed with a reason. The
//!   answer may come in the same call (the in-memory store), in a later
//!   pass (a log waiting for its fsync, Redis for its reply), and many
//!   appends may be answered at once (a group commit).
//! - Ids are integers that JavaScript holds exactly (at most 2^53),
//!   strictly increasing per channel in the order the store commits
//!   them, and never given twice in a channel. The engine refuses a
//!   commit whose id is not above the channel's newest (the publisher
//!   gets `503`), so a store bug cannot reorder or duplicate what
//!   subscribers see.
//! - A store that answers later keeps its own sequence per channel; the
//!   `last_id` in an [`Append`] is only the newest id the engine has
//!   committed, which is all an in-memory store needs because it answers
//!   before the engine hands it the next append.
//!
//! The engine drives a store with [`Store::append`], then drains
//! [`Store::poll_commit`] at once (so a store that answers in the same
//! call costs no extra pass) and again whenever the driver calls
//! `Engine::handle_commits`.

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use crate::broker::ChannelId;

/// Names one append until the store decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ticket {
    pub(super) slot: u32,
    pub(super) serial: u32,
}

/// A message the engine asks the store to keep.
#[derive(Debug)]
pub struct Append<'a> {
    /// Given back in the [`Commit`].
    pub ticket: Ticket,
    /// The channel, as the engine numbers it (stable while the append is
    /// in flight).
    pub channel: ChannelId,
    /// The channel's name.
    pub name: &'a str,
    /// The newest id the engine has committed in the channel (0: none).
    pub last_id: u64,
    /// The message, UTF-8 text.
    pub data: &'a str,
    /// When the engine asked.
    pub now: Instant,
}

/// Why a store could not keep a message; the publisher gets `503` and
/// this text (`507 Insufficient Storage`, RFC 4918 section 11.5, when
/// the store is out of space: [`StoreError::full`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    /// What went wrong, one line.
    pub reason: String,
    /// The store is out of space (a full disk): it may take messages
    /// again once space returns.
    pub full: bool,
}

impl StoreError {
    /// A store that failed for `reason`.
    pub fn new(reason: impl Into<String>) -> StoreError {
        StoreError {
            reason: reason.into(),
            full: false,
        }
    }

    /// A store out of space.
    pub fn full(reason: impl Into<String>) -> StoreError {
        StoreError {
            reason: reason.into(),
            full: true,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the message was not stored: {}", self.reason)
    }
}

impl std::error::Error for StoreError {}

/// A store's answer to one [`Append`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// The append this answers.
    pub ticket: Ticket,
    /// The message's id, or why it was not kept.
    pub outcome: Result<u64, StoreError>,
}

/// A message committed in a store that other servers share (the nodes
/// of `--redis`, docs/cluster.md): one of theirs, or one of this
/// engine's own appends, told in the store's order with the id of the
/// message before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replicated {
    /// The append it answers, when it is this engine's own.
    pub ticket: Option<Ticket>,
    /// The channel's name.
    pub channel: String,
    /// The message's id.
    pub id: u64,
    /// The id of the message before it in the channel (`id - 1` for the
    /// first message of a channel): when it is above the newest the engine
    /// has, the messages between are not known here, and the channel's
    /// subscribers are told `gap`.
    pub prev: u64,
    /// The message (for one of this engine's own, the engine uses the
    /// text it kept).
    pub data: String,
}

/// One thing a store decided, in the order the engine must take it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// An answer to one of this engine's appends.
    Commit(Commit),
    /// A message committed in a shared store.
    Replicated(Replicated),
    /// A shared store lost (`false`) or regained (`true`) its step with
    /// the shared history: while out of step, messages committed elsewhere
    /// may reach this server late (read back from the store's history) or
    /// never (trimmed, or lost by the store). A channel this server never
    /// had a message of, whose subscribers were told where it was before
    /// the last `Sync(true)`, tells them `gap` at its first message.
    Sync(bool),
}

/// Where committed messages go, and where their ids come from.
///
/// See the module docs for the contract. The engine owns its store and
/// calls it from its own thread; a store that does I/O belongs to the
/// server layer, which drives that I/O and then calls
/// `Engine::handle_commits`.
pub trait Store: fmt::Debug {
    /// Takes an append; its [`Commit`] comes from [`Store::poll_commit`],
    /// now or later.
    fn append(&mut self, append: Append<'_>);

    /// The next decided append, in the order decided; `None` when there
    /// is none now.
    fn poll_commit(&mut self) -> Option<Commit>;

    /// The next decision: what the engine drains. A store of this
    /// server's alone decides only its own appends ([`Store::poll_commit`],
    /// the default); a store shared with other servers also tells the
    /// messages they committed, in one order with its own answers.
    fn poll_decision(&mut self) -> Option<Decision> {
        self.poll_commit().map(Decision::Commit)
    }

    /// Every id this store, or an earlier run of it, may have given is at
    /// or below this. The engine reads it once, when it starts: channels
    /// it creates start above it, and a client that resumes with an id at
    /// or below it is told `gap` rather than nothing
    /// (docs/durability.md). 0 (the default) for a store that was never
    /// run before.
    fn floor(&self) -> u64 {
        0
    }
}

/// The default store: the engine's own memory. It commits every append
/// at once, in the same call, with the channel's next id (`last_id + 1`);
/// what it keeps is the broker's history, and a restart loses it.
///
/// A restart must not give an id twice all the same, so the server makes
/// it with [`MemoryStore::above`] the Unix time in microseconds when it
/// starts: a channel's ids then start above anything an earlier run
/// counted up to, unless that run published more than a million messages
/// a second on one channel for its whole life or the clock went back
/// across the restart (docs/durability.md). The default has floor 0:
/// ids 1, 2, 3 ..., for tests and for an embedder that never restarts.
#[derive(Debug, Default)]
pub struct MemoryStore {
    decided: VecDeque<Commit>,
    floor: u64,
}

impl MemoryStore {
    /// A store whose channels start above `floor`.
    ///
    /// ```
    /// use pushwire::engine::{MemoryStore, Store};
    ///
    /// assert_eq!(MemoryStore::above(1_795_564_800_000_000).floor(), 1_795_564_800_000_000);
    /// ```
    pub fn above(floor: u64) -> MemoryStore {
        MemoryStore {
            decided: VecDeque::new(),
            floor,
        }
    }
}

impl Store for MemoryStore {
    fn append(&mut self, append: Append<'_>) {
        self.decided.push_back(Commit {
            ticket: append.ticket,
            outcome: Ok(append.last_id.saturating_add(1)),
        });
    }

    fn poll_commit(&mut self) -> Option<Commit> {
        self.decided.pop_front()
    }

    fn floor(&self) -> u64 {
        self.floor
    }
}
