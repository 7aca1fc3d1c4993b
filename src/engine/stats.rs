//! The engine's counters: what `GET /metrics` reports, counted where it
//! happens and formatted only when scraped (`scrape.rs`).
//!
//! Every counter is a `Cell<u64>`: the loop is one thread, so counting is
//! a plain load, add and store (no atomic, no lock), and a connection's
//! transition counts through the shared [`Cx`](super::conn::Cx) it
//! already has. Labels come from fixed sets ([`Endpoint`], a transport, a
//! reason): a scrape has the same series whatever clients send.

use std::cell::Cell;

use crate::broker::Transport;
use crate::prometheus::DurationHistogram;

/// Adds one to a counter.
fn bump(counter: &Cell<u64>) {
    counter.set(counter.get().wrapping_add(1));
}

/// Adds one to the counter at `i` of a labelled family.
fn bump_at(counters: &[Cell<u64>], i: usize) {
    if let Some(counter) = counters.get(i) {
        bump(counter);
    }
}

/// The endpoint a request was for, by its path: a label of
/// `pushwire_http_requests_total`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// No request was read whole: a broken or late head, or a connection
    /// refused before its first request (`503`).
    #[default]
    None,
    /// `/`, the demo page.
    Demo,
    /// `/help`.
    Help,
    /// `/pub/{channel}`: publish, or the channel's info.
    Pub,
    /// `/poll/{channel}`.
    Poll,
    /// `/longpoll/{channel}`.
    LongPoll,
    /// `/sse/{channel}`.
    Sse,
    /// `/ws/{channel}`.
    Ws,
    /// `/echo`.
    Echo,
    /// `/metrics`.
    Metrics,
    /// Any path with `OPTIONS` (the CORS preflight).
    Options,
    /// A path the server does not serve.
    Other,
}

impl Endpoint {
    /// Every endpoint, in the order of their counters.
    pub const ALL: [Endpoint; 12] = [
        Endpoint::None,
        Endpoint::Demo,
        Endpoint::Help,
        Endpoint::Pub,
        Endpoint::Poll,
        Endpoint::LongPoll,
        Endpoint::Sse,
        Endpoint::Ws,
        Endpoint::Echo,
        Endpoint::Metrics,
        Endpoint::Options,
        Endpoint::Other,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::None => "none",
            Endpoint::Demo => "demo",
            Endpoint::Help => "help",
            Endpoint::Pub => "pub",
            Endpoint::Poll => "poll",
            Endpoint::LongPoll => "longpoll",
            Endpoint::Sse => "sse",
            Endpoint::Ws => "ws",
            Endpoint::Echo => "echo",
            Endpoint::Metrics => "metrics",
            Endpoint::Options => "options",
            Endpoint::Other => "other",
        }
    }
}

/// Status classes, `1xx` to `5xx`: the other label of
/// `pushwire_http_requests_total`.
pub(crate) const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Why a new connection was not served: the label `reason` of
/// `pushwire_connections_refused_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `--max-connections` were open: told `503`.
    MaxConnections,
    /// `--max-output-bytes` of answers were unsent: told `503`.
    Overloaded,
    /// Even the `503`s were at their limit: closed without a word.
    Saturated,
}

impl Refused {
    /// Every reason, in the order of their counters, with its label.
    pub const ALL: [(Refused, &'static str); 3] = [
        (Refused::MaxConnections, "max_connections"),
        (Refused::Overloaded, "overloaded"),
        (Refused::Saturated, "saturated"),
    ];
}

/// The transports a gap can be told on, with their labels.
pub(crate) const GAP_TRANSPORTS: [&str; 4] = ["poll", "longpoll", "sse", "websocket"];

/// How a gap reached a client: the index of its label in
/// [`GAP_TRANSPORTS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GapBy {
    /// `"gap":true` in a poll answer.
    Poll = 0,
    /// `"gap":true` in a long-poll answer.
    LongPoll = 1,
    /// `event: gap`.
    Sse = 2,
    /// The `pushwire.json` gap frame.
    WebSocket = 3,
}

/// The subscriber transports, with their labels, in the order of
/// [`transport_index`].
pub(crate) const SUBSCRIBER_TRANSPORTS: [&str; 3] = ["longpoll", "sse", "websocket"];

fn transport_index(transport: Transport) -> usize {
    match transport {
        Transport::LongPoll => 0,
        Transport::Sse => 1,
        Transport::Ws => 2,
    }
}

/// Everything the engine counts.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Connections opened to be served.
    pub accepted: Cell<u64>,
    /// Connections refused, by [`Refused`].
    pub refused: [Cell<u64>; 3],
    /// Responses, by [`Endpoint`] and status class.
    pub requests: [[Cell<u64>; 5]; 12],
    /// Messages committed that this server was asked to publish.
    pub published: Cell<u64>,
    /// Messages committed by another node of a cluster (`--redis`).
    pub replicated: Cell<u64>,
    /// Messages queued for a live subscriber, by transport.
    pub deliveries: [Cell<u64>; 3],
    /// Gaps told, by [`GapBy`].
    pub gaps: [Cell<u64>; 4],
    /// Slow consumers closed, by transport (long-polls never are).
    pub slow_closed: [Cell<u64>; 3],
    /// Slow consumers whose unsent messages were dropped for a gap mark
    /// (`--slow-consumer skip`), by transport.
    pub slow_skipped: [Cell<u64>; 3],
    /// Messages those skips dropped.
    pub skipped_messages: Cell<u64>,
    /// Long-polls answered empty at their deadline.
    pub longpoll_timeouts: Cell<u64>,
    /// Bytes the driver read and handed over.
    pub bytes_read: Cell<u64>,
    /// Bytes the driver reported written.
    pub bytes_written: Cell<u64>,
    /// Time from a publish's append to the store's decision.
    pub commit: DurationHistogram,
    /// Appends the store did not keep.
    pub commit_errors: Cell<u64>,
    /// The driver's passes through its loop, as it timed them.
    pub loop_pass: DurationHistogram,
}

impl Stats {
    /// A connection was refused for `why`.
    pub fn refused(&self, why: Refused) {
        bump_at(&self.refused, why as usize);
    }

    /// A response with `status` to a request for `endpoint`.
    pub fn response(&self, endpoint: Endpoint, status: u16) {
        let class = usize::from(status / 100).saturating_sub(1);
        if let Some(row) = self.requests.get(endpoint as usize) {
            bump_at(row, class);
        }
    }

    /// A message was queued for a subscriber.
    pub fn delivered(&self, transport: Transport) {
        bump_at(&self.deliveries, transport_index(transport));
    }

    /// A gap was told.
    pub fn gap(&self, by: GapBy) {
        bump_at(&self.gaps, by as usize);
    }

    /// A slow consumer was closed.
    pub fn slow_closed(&self, transport: Transport) {
        bump_at(&self.slow_closed, transport_index(transport));
    }

    /// A slow consumer's unsent messages, `dropped` of them, were dropped
    /// for a gap mark.
    pub fn slow_skipped(&self, transport: Transport, dropped: u64) {
        bump_at(&self.slow_skipped, transport_index(transport));
        self.skipped_messages
            .set(self.skipped_messages.get().saturating_add(dropped));
    }

    /// A long-poll timed out.
    pub fn longpoll_timeout(&self) {
        bump(&self.longpoll_timeouts);
    }

    /// A connection was opened to be served.
    pub fn accepted(&self) {
        bump(&self.accepted);
    }

    /// A message this server was asked for was committed.
    pub fn published(&self) {
        bump(&self.published);
    }

    /// A message another node published was committed.
    pub fn replicated(&self) {
        bump(&self.replicated);
    }

    /// The store did not keep an append.
    pub fn commit_error(&self) {
        bump(&self.commit_errors);
    }

    /// Adds to a byte counter.
    pub fn add_bytes(counter: &Cell<u64>, n: usize) {
        counter.set(counter.get().wrapping_add(n as u64));
    }
}
