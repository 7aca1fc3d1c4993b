//! `GET /metrics`: the engine's counters and gauges in the Prometheus
//! text format ([`crate::prometheus`]), with the driver's `process_*`
//! metrics ([`ProcessProbe`]).
//!
//! Counters are counted where things happen (`stats.rs`); this file only
//! formats them, once per scrape. Gauges are read at the scrape: the
//! broker's channel and history sizes, the timer wheel's length, and the
//! connections by state, counted by one walk of the connection table
//! (a scrape is not on the hot path: the walk of 10,000 connections takes
//! a few tens of microseconds, once per scrape interval).
//!
//! docs/operations.md lists every metric, its meaning and its labels.

use std::cell::Cell;
use std::fmt;

use crate::prometheus::{Exposition, Kind, ProcessStats};

use super::conn::{Conn, State};
use super::stats::{
    Endpoint, Refused, Stats, GAP_TRANSPORTS, STATUS_CLASSES, SUBSCRIBER_TRANSPORTS,
};
use super::websocket::Mode;
use super::Engine;

/// What the driver knows of its own process, read when a scrape asks:
/// the reactor reads `/proc/self` (`src/server/process.rs`); a driver
/// that cannot say anything installs none, and the `process_*`
/// families are left out.
pub trait ProcessProbe: fmt::Debug {
    /// The process's figures now.
    fn sample(&mut self) -> ProcessStats;

    /// Families the driver counts itself, below the engine (the TLS
    /// layer's handshakes), written after the `process_*` ones. None by
    /// default.
    fn write_own(&mut self, _text: &mut Exposition<'_>) {}
}

/// The connection states of `pushwire_connections`, as (transport,
/// state) labels, in the order of [`Conn::state_index`].
const CONN_STATES: [(&str, &str); 7] = [
    ("http", "idle"),
    ("http", "reading"),
    ("http", "publishing"),
    ("longpoll", "parked"),
    ("sse", "streaming"),
    ("websocket", "open"),
    ("any", "closing"),
];

impl Conn {
    /// Where the connection is in [`CONN_STATES`].
    fn state_index(&self) -> usize {
        match self.state {
            State::Idle => 0,
            State::Head | State::Body(_) => 1,
            State::Publishing(_) => 2,
            State::Parked(_) => 3,
            State::Streaming(_) => 4,
            State::WebSocket(Mode::Echo | Mode::Channel { .. }, _) => 5,
            State::Closing | State::Lingering => 6,
        }
    }
}

impl Engine {
    /// Writes every metric, as `GET /metrics` answers.
    pub(super) fn write_metrics(&mut self, out: &mut Vec<u8>) {
        let mut text = Exposition::new(out);
        let stats = &self.common.stats;
        self.write_connections(&mut text);
        write_requests(stats, &mut text);
        let counter = |n: &Cell<u64>| (Kind::Counter, n.get());
        let gauge = |n: usize| (Kind::Gauge, n as u64);
        let broker = &self.common.broker;
        let (messages, bytes) = broker.stored();
        let singles = [
            (
                "pushwire_connections_accepted_total",
                "Connections accepted to be served.",
                counter(&stats.accepted),
            ),
            (
                "pushwire_messages_published_total",
                "Messages published through this server and committed by the store.",
                counter(&stats.published),
            ),
            (
                "pushwire_messages_replicated_total",
                "Messages committed by other nodes of the cluster and received here.",
                counter(&stats.replicated),
            ),
            (
                "pushwire_longpoll_timeouts_total",
                "Long-polls answered with no message at their timeout.",
                counter(&stats.longpoll_timeouts),
            ),
            (
                "pushwire_read_bytes_total",
                "Bytes read from client connections.",
                counter(&stats.bytes_read),
            ),
            (
                "pushwire_written_bytes_total",
                "Bytes written to client connections.",
                counter(&stats.bytes_written),
            ),
            (
                "pushwire_store_commit_errors_total",
                "Publishes the store did not keep (answered 503).",
                counter(&stats.commit_errors),
            ),
            (
                "pushwire_channels",
                "Channels known (with history, subscribers or a publish in flight).",
                gauge(broker.len()),
            ),
            (
                "pushwire_history_messages",
                "Messages kept in history over all channels.",
                gauge(messages),
            ),
            (
                "pushwire_history_bytes",
                "Approximate bytes of history and channels (what --max-history-bytes bounds).",
                gauge(bytes),
            ),
            (
                "pushwire_timers",
                "Connection deadlines in the timer wheel (one per connection at most).",
                gauge(self.wheel.len()),
            ),
            (
                "pushwire_unsent_bytes",
                "Unsent output made for single connections (what --max-output-bytes bounds).",
                gauge(self.common.owned_output),
            ),
            (
                "pushwire_store_appends_in_flight",
                "Publishes sent to the store and not decided yet.",
                gauge(self.appends.len()),
            ),
        ];
        for (name, help, (kind, value)) in singles {
            text.single(name, kind, help, value);
        }
        let refused = Refused::ALL.iter().map(|(_, reason)| *reason);
        let by_one_label = [
            (
                "pushwire_connections_refused_total",
                "Connections refused: told 503 (max_connections, overloaded) or closed without a word (saturated).",
                "reason",
                refused.zip(&stats.refused).collect::<Vec<_>>(),
            ),
            (
                "pushwire_deliveries_total",
                "Messages handed to live subscribers as they were committed, by transport.",
                "transport",
                SUBSCRIBER_TRANSPORTS.into_iter().zip(&stats.deliveries).collect(),
            ),
            (
                "pushwire_gaps_total",
                "Gap signals sent (messages a client asked for had left history), by transport.",
                "transport",
                GAP_TRANSPORTS.into_iter().zip(&stats.gaps).collect(),
            ),
        ];
        for (name, help, label, values) in by_one_label {
            text.family(name, Kind::Counter, help);
            for (value, n) in values {
                text.sample(name, &[(label, value)], n.get());
            }
        }
        let name = "pushwire_slow_consumer_total";
        text.family(
            name,
            Kind::Counter,
            "Subscribers that fell --max-backlog-bytes behind, by transport and what was done.",
        );
        // A long-poll is never a slow consumer: it holds one answer.
        for (action, counts) in [("close", &stats.slow_closed), ("skip", &stats.slow_skipped)] {
            for (transport, n) in SUBSCRIBER_TRANSPORTS.iter().zip(counts).skip(1) {
                text.sample(
                    name,
                    &[("transport", transport), ("action", action)],
                    n.get(),
                );
            }
        }
        let name = "pushwire_slow_consumer_skipped_messages_total";
        text.family(
            name,
            Kind::Counter,
            "Messages dropped for a gap mark by --slow-consumer skip.",
        );
        text.sample(name, &[], stats.skipped_messages.get());
        let histograms = [
            (
                "pushwire_store_commit_seconds",
                "Time from a publish's append to the store's decision, at the loop's pass resolution (0 with the in-memory store).",
                &stats.commit,
            ),
            (
                "pushwire_loop_pass_seconds",
                "Time the event loop spent working in one pass, from the end of its wait to the next wait.",
                &stats.loop_pass,
            ),
        ];
        for (name, help, histogram) in histograms {
            text.family(name, Kind::Histogram, help);
            text.histogram(name, &[], histogram);
        }
        if let Some(probe) = &mut self.probe {
            probe.sample().write(&mut text);
            probe.write_own(&mut text);
        }
    }

    /// `pushwire_connections`, by one walk of the connection table.
    fn write_connections(&self, text: &mut Exposition<'_>) {
        let mut states = [0u64; CONN_STATES.len()];
        for (_, entry) in &self.conns {
            if let Some(n) = states.get_mut(entry.conn.state_index()) {
                *n += 1;
            }
        }
        let name = "pushwire_connections";
        text.family(
            name,
            Kind::Gauge,
            "Open connections, by transport and state.",
        );
        for ((transport, state), n) in CONN_STATES.iter().zip(states) {
            text.sample(name, &[("transport", transport), ("state", state)], n);
        }
    }
}

/// `pushwire_http_requests_total`: every endpoint and status class,
/// zero or not, so that a series exists before its first count.
fn write_requests(stats: &Stats, text: &mut Exposition<'_>) {
    let name = "pushwire_http_requests_total";
    text.family(
        name,
        Kind::Counter,
        "HTTP responses, by endpoint and status class (endpoint none: no request read whole).",
    );
    for (endpoint, row) in Endpoint::ALL.iter().zip(&stats.requests) {
        for (class, n) in STATUS_CLASSES.iter().zip(row) {
            let labels = [("endpoint", endpoint.label()), ("code", *class)];
            text.sample(name, &labels, n.get());
        }
    }
}
