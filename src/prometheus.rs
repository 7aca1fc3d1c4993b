//! The Prometheus text exposition format, version 0.0.4, written by hand
//! (sans-IO: it appends bytes to a `Vec<u8>` and reads nothing).
//!
//! The format is the one `GET /metrics` answers with, `Content-Type:
//! text/plain; version=0.0.4` ("Exposition formats", Prometheus
//! documentation, "Text-based format"). It is line-oriented, each line
//! ending in `\n`:
//!
//! ```text
//! # HELP pushwire_messages_published_total Messages committed by the store.
//! # TYPE pushwire_messages_published_total counter
//! pushwire_messages_published_total 3
//! # HELP pushwire_deliveries_total Messages queued for a live subscriber.
//! # TYPE pushwire_deliveries_total counter
//! pushwire_deliveries_total{transport="sse"} 2
//! pushwire_deliveries_total{transport="websocket"} 1
//! ```
//!
//! The rules this writer keeps:
//!
//! - a metric family is announced once, by `# HELP name text` and
//!   `# TYPE name counter|gauge|histogram`, and all its samples follow
//!   it, together ([`Exposition::family`]);
//! - in the HELP text, `\` is written `\\` and a line feed `\n`; in a label
//!   value, `"` is written `\"` as well ([`escape_label_value`]); label
//!   values are otherwise any UTF-8;
//! - a sample value is a Go float (`ParseFloat`): integers as they are,
//!   other numbers in Rust's shortest round-trip form, `+Inf`;
//! - a histogram `x` is the samples `x_bucket{le="..."}` (cumulative
//!   counts, ending with `le="+Inf"`), `x_sum` and `x_count`
//!   ([`DurationHistogram`]);
//! - names follow the naming guide ("Metric and label naming"): a
//!   counter ends in `_total`, a unit is in the name in its base unit
//!   (`_seconds`, `_bytes`), the application prefix (`pushwire_`) comes
//!   first; `process_*` are the standard names every client library
//!   uses (`process_resident_memory_bytes`, ...: [`ProcessStats`]).
//!
//! No label value pushwire writes comes from a client: every label is
//! from a fixed set (a transport, an endpoint, a reason), so a scrape has
//! a bounded number of series whatever clients do. Channel names are
//! never labels.
//!
//! ```
//! use pushwire::prometheus::{Exposition, Kind};
//!
//! let mut out = Vec::new();
//! let mut text = Exposition::new(&mut out);
//! text.family("demo_requests_total", Kind::Counter, "Requests answered.");
//! text.sample("demo_requests_total", &[("code", "2xx")], 7);
//! let lines = [
//!     "# HELP demo_requests_total Requests answered.",
//!     "# TYPE demo_requests_total counter",
//!     "demo_requests_total{code=\"2xx\"} 7",
//! ];
//! assert_eq!(String::from_utf8(out).unwrap(), lines.join("\n") + "\n");
//! ```

use std::cell::Cell;
use std::fmt::Display;
use std::io::Write as _;
use std::time::Duration;

/// The `Content-Type` of the text format, version 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a metric family is (the `# TYPE` line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (or restarts at 0 with the process); its name ends in
    /// `_total`.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations counted into buckets, with their sum and count.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Appends metric families in the text format to a buffer.
#[derive(Debug)]
pub struct Exposition<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Exposition<'a> {
    /// A writer that appends to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Exposition<'a> {
        Exposition { out }
    }

    /// Starts a family: its `# HELP` and `# TYPE` lines. Its samples
    /// must follow before the next family starts.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        self.out.extend_from_slice(b"# HELP ");
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b' ');
        escape(self.out, help, false);
        self.out.extend_from_slice(b"\n# TYPE ");
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(kind.as_str().as_bytes());
        self.out.push(b'\n');
    }

    /// One sample: `name{label="value",...} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.extend_from_slice(name.as_bytes());
        if !labels.is_empty() {
            self.out.push(b'{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(b',');
                }
                self.out.extend_from_slice(label.as_bytes());
                self.out.extend_from_slice(b"=\"");
                escape(self.out, value, true);
                self.out.push(b'"');
            }
            self.out.push(b'}');
        }
        // Writing into a Vec cannot fail.
        let _ = writeln!(self.out, " {value}");
    }

    /// A whole family of one sample without labels.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: impl Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// A histogram's samples (its family must have been started), with
    /// `labels` before `le`.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &DurationHistogram) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (i, count) in h.counts.iter().enumerate() {
            cumulative += count.get();
            let le = BUCKET_BOUNDS_NANOS
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |&nanos| seconds(nanos));
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, cumulative);
        }
        self.sample(&format!("{name}_sum"), labels, seconds(h.sum_nanos.get()));
        self.sample(&format!("{name}_count"), labels, cumulative);
    }
}

/// A label value as the format writes it between quotes: `\` as `\\`,
/// `"` as `\"`, a line feed as `\n`.
///
/// ```
/// assert_eq!(pushwire::prometheus::escape_label_value("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
/// ```
pub fn escape_label_value(value: &str) -> String {
    let mut out = Vec::new();
    escape(&mut out, value, true);
    String::from_utf8(out).unwrap_or_default()
}

/// Escapes `text` into `out`: `\` and line feeds always, `"` in label
/// values only (HELP text keeps its quotes).
fn escape(out: &mut Vec<u8>, text: &str, quotes: bool) {
    for b in text.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' if quotes => out.extend_from_slice(b"\\\""),
            _ => out.push(b),
        }
    }
}

/// Nanoseconds as seconds, exactly, in the shortest decimal form
/// (`1000000` -> `0.001`).
fn seconds(nanos: u64) -> String {
    let whole = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// The upper bounds of the buckets of every [`DurationHistogram`], in
/// nanoseconds: 50 µs to 2.5 s. The loop's passes take tens of
/// microseconds to milliseconds, a store's commit from nothing (memory)
/// through an `fdatasync` (milliseconds) to a Redis round trip.
const BUCKET_BOUNDS_NANOS: [u64; 15] = [
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
];

/// Durations counted into fixed buckets (50 µs to 2.5 s, and `+Inf`):
/// observing one is a few comparisons and an increment, no allocation,
/// no atomic (the loop is one thread; `Cell`s let a shared reference
/// count). The sum is kept in nanoseconds, exactly.
#[derive(Debug, Default)]
pub struct DurationHistogram {
    /// Observations per bucket (not cumulative), the last one `+Inf`.
    counts: [Cell<u64>; BUCKET_BOUNDS_NANOS.len() + 1],
    sum_nanos: Cell<u64>,
}

impl DurationHistogram {
    /// Counts one observation.
    pub fn observe(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = BUCKET_BOUNDS_NANOS.partition_point(|&bound| bound < nanos);
        if let Some(count) = self.counts.get(i) {
            count.set(count.get() + 1);
        }
        self.sum_nanos
            .set(self.sum_nanos.get().saturating_add(nanos));
    }

    /// Observations counted so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(Cell::get).sum()
    }

    /// Their sum.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_nanos.get())
    }
}

/// The standard `process_*` metrics, as every Prometheus client library
/// names them: read by the driver (on Linux from `/proc/self`, by
/// [`crate::server`]) when a scrape asks, and written here. A value the
/// driver could not read is `None` and its family is left out.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessStats {
    /// `process_cpu_seconds_total`: user and system CPU time.
    pub cpu_seconds: Option<f64>,
    /// `process_open_fds`: open file descriptors.
    pub open_fds: Option<u64>,
    /// `process_max_fds`: the soft limit on them.
    pub max_fds: Option<u64>,
    /// `process_virtual_memory_bytes`.
    pub virtual_memory_bytes: Option<u64>,
    /// `process_resident_memory_bytes`.
    pub resident_memory_bytes: Option<u64>,
    /// `process_start_time_seconds`: since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

impl ProcessStats {
    /// Writes the families it has.
    pub fn write(&self, text: &mut Exposition<'_>) {
        // Counts of bytes and descriptors are exact as f64 up to 2^53.
        let whole = |n: Option<u64>| n.map(|n| n as f64);
        let families = [
            (
                "process_cpu_seconds_total",
                Kind::Counter,
                "Total user and system CPU time spent in seconds.",
                self.cpu_seconds,
            ),
            (
                "process_open_fds",
                Kind::Gauge,
                "Number of open file descriptors.",
                whole(self.open_fds),
            ),
            (
                "process_max_fds",
                Kind::Gauge,
                "Maximum number of open file descriptors.",
                whole(self.max_fds),
            ),
            (
                "process_virtual_memory_bytes",
                Kind::Gauge,
                "Virtual memory size in bytes.",
                whole(self.virtual_memory_bytes),
            ),
            (
                "process_resident_memory_bytes",
                Kind::Gauge,
                "Resident memory size in bytes.",
                whole(self.resident_memory_bytes),
            ),
            (
                "process_start_time_seconds",
                Kind::Gauge,
                "Start time of the process since unix epoch in seconds.",
                self.start_time_seconds,
            ),
        ];
        for (name, kind, help, value) in families {
            if let Some(value) = value {
                text.single(name, kind, help, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(write: impl FnOnce(&mut Exposition<'_>)) -> String {
        let mut out = Vec::new();
        write(&mut Exposition::new(&mut out));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn label_values_escape_backslash_quote_and_line_feed() {
        let cases = [
            ("plain", "plain"),
            ("a\"b", "a\\\"b"),
            ("back\\slash", "back\\\\slash"),
            ("two\nlines", "two\\nlines"),
            ("\\\"\n", "\\\\\\\"\\n"),
            ("é ✓", "é ✓"),
        ];
        for (value, escaped) in cases {
            assert_eq!(escape_label_value(value), escaped, "{value:?}");
            let line = text(|t| t.sample("m", &[("l", value)], 1));
            assert_eq!(line, format!("m{{l=\"{escaped}\"}} 1\n"));
        }
    }

    #[test]
    fn help_text_escapes_backslash_and_line_feed_but_keeps_quotes() {
        let out = text(|t| t.family("m", Kind::Gauge, "say \"hi\"\\\nbye"));
        assert_eq!(out, "# HELP m say \"hi\"\\\\\\nbye\n# TYPE m gauge\n");
    }

    #[test]
    fn several_labels_are_comma_separated_in_order() {
        let out = text(|t| t.sample("m_total", &[("a", "1"), ("b", "2")], 5u64));
        assert_eq!(out, "m_total{a=\"1\",b=\"2\"} 5\n");
    }

    #[test]
    fn seconds_are_exact_and_short() {
        assert_eq!(seconds(0), "0");
        assert_eq!(seconds(50_000), "0.00005");
        assert_eq!(seconds(1_000_000_000), "1");
        assert_eq!(seconds(2_500_000_000), "2.5");
        assert_eq!(seconds(1_000_000_001), "1.000000001");
    }

    #[test]
    fn a_histogram_counts_cumulatively_and_ends_with_inf_sum_and_count() {
        let h = DurationHistogram::default();
        h.observe(Duration::ZERO);
        h.observe(Duration::from_micros(50)); // on a bound: counted in it
        h.observe(Duration::from_micros(51));
        h.observe(Duration::from_secs(3));
        assert_eq!(h.count(), 4);
        let out = text(|t| {
            t.family("x_seconds", Kind::Histogram, "X.");
            t.histogram("x_seconds", &[("k", "v")], &h);
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[2], "x_seconds_bucket{k=\"v\",le=\"0.00005\"} 2");
        assert_eq!(lines[3], "x_seconds_bucket{k=\"v\",le=\"0.0001\"} 3");
        assert_eq!(lines[16], "x_seconds_bucket{k=\"v\",le=\"2.5\"} 3");
        assert_eq!(lines[17], "x_seconds_bucket{k=\"v\",le=\"+Inf\"} 4");
        assert_eq!(lines[18], "x_seconds_sum{k=\"v\"} 3.000101");
        assert_eq!(lines[19], "x_seconds_count{k=\"v\"} 4");
        assert_eq!(lines.len(), 20);
    }

    #[test]
    fn process_stats_leave_out_what_was_not_read() {
        let stats = ProcessStats {
            open_fds: Some(7),
            start_time_seconds: Some(1.5),
            ..ProcessStats::default()
        };
        let out = text(|t| stats.write(t));
        assert!(out.contains("\nprocess_open_fds 7\n"), "{out}");
        assert!(out.contains("\nprocess_start_time_seconds 1.5\n"), "{out}");
        assert!(!out.contains("resident"), "{out}");
    }
}
