//! What the attackers experienced: how each of their connections ended,
//! and after how long. A server without limits leaves them all open at
//! the end of the attack; a server with limits closes them, and says so
//! (a WebSocket Close with its code, an HTTP status, a reset).

use std::collections::BTreeMap;
use std::fmt;

use super::super::stats::Histogram;

/// How one attacker connection ended, as the attacker saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ending {
    /// Still open when the attack ended, with the status of the answer
    /// (or upgrade) it had received, if it had looked.
    Open(Option<u16>),
    /// The connect failed.
    ConnectFailed,
    /// Answered with a status other than the one the attack asked for
    /// (a 503 at a connection limit, a 400).
    Refused(u16),
    /// The server's WebSocket Close, with its code (`None`: no code).
    WsClose(Option<u16>),
    /// The stream stopped in the middle of a frame or body: what a
    /// browser reports as close 1006.
    CutMidFrame,
    /// The server closed the connection (FIN) and said nothing else.
    Closed,
    /// The connection was reset.
    Reset,
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::Open(Some(status)) => write!(f, "open at the end (answered {status})"),
            Ending::Open(None) => f.write_str("open at the end, no answer yet"),
            Ending::ConnectFailed => f.write_str("connect failed"),
            Ending::Refused(status) => write!(f, "answered {status}"),
            Ending::WsClose(Some(code)) => write!(f, "close {code}"),
            Ending::WsClose(None) => f.write_str("close without a code"),
            Ending::CutMidFrame => f.write_str("ended mid-frame"),
            Ending::Closed => f.write_str("closed by the server"),
            Ending::Reset => f.write_str("reset"),
        }
    }
}

/// The endings of one group of connections that ended the same way.
#[derive(Debug, Clone, PartialEq)]
pub struct EndingSummary {
    pub group: String,
    pub ending: Ending,
    pub count: u64,
    /// Connection lifetimes in seconds: shortest, median, longest.
    pub lifetime_s: [f64; 3],
    /// Messages read, summed (for the streams read again at the end).
    pub messages: u64,
}

impl fmt::Display for EndingSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [min, median, max] = self.lifetime_s;
        write!(f, "{}: {} x{}", self.group, self.ending, self.count)?;
        if self.count == 1 {
            write!(f, " after {min:.2} s")?;
        } else {
            write!(
                f,
                " after {min:.2} / {median:.2} / {max:.2} s (min / median / max)"
            )?;
        }
        if self.messages > 0 {
            write!(f, ", {} messages read", self.messages)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default)]
struct Group {
    count: u64,
    lifetimes: Vec<u64>,
    messages: u64,
}

/// Every attacker connection's ending, by group (`ws`, `poll`, ...).
#[derive(Debug, Clone, Default)]
pub struct Endings {
    groups: BTreeMap<(String, Ending), Group>,
    /// Connections opened, per group.
    opened: BTreeMap<String, u64>,
}

impl Endings {
    pub fn new() -> Endings {
        Endings::default()
    }

    /// One more connection of `group` was opened.
    pub fn opened(&mut self, group: &str) {
        *self.opened.entry(group.to_owned()).or_default() += 1;
    }

    /// A connection of `group` ended so after `lifetime` nanoseconds,
    /// having read `messages` messages (0 when it did not count them).
    pub fn record(&mut self, group: &str, ending: Ending, lifetime: u64, messages: u64) {
        let entry = self.groups.entry((group.to_owned(), ending)).or_default();
        entry.count += 1;
        entry.lifetimes.push(lifetime);
        entry.messages += messages;
    }

    /// Connections opened per group.
    pub fn opened_counts(&self) -> impl Iterator<Item = (&str, u64)> {
        self.opened.iter().map(|(g, &n)| (g.as_str(), n))
    }

    /// One line per (group, ending), in group order.
    pub fn summary(&self) -> Vec<EndingSummary> {
        self.groups
            .iter()
            .map(|((group, ending), g)| {
                let mut h = Histogram::new();
                let mut min = u64::MAX;
                for &l in &g.lifetimes {
                    h.record(l);
                    min = min.min(l);
                }
                EndingSummary {
                    group: group.clone(),
                    ending: *ending,
                    count: g.count,
                    lifetime_s: [min, h.quantile(0.5), h.max()].map(|ns| ns as f64 / 1e9),
                    messages: g.messages,
                }
            })
            .collect()
    }
}

/// How an attacker's requests were answered: a count per status (`None`:
/// the connection ended before the answer).
#[derive(Debug, Clone, Default)]
pub struct Statuses {
    counts: BTreeMap<Option<u16>, u64>,
}

impl Statuses {
    pub fn new() -> Statuses {
        Statuses::default()
    }

    pub fn record(&mut self, status: Option<u16>) {
        *self.counts.entry(status).or_default() += 1;
    }

    /// Answers with a 2xx status.
    pub fn accepted(&self) -> u64 {
        self.counts
            .iter()
            .filter(|(s, _)| s.is_some_and(|s| (200..300).contains(&s)))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

impl fmt::Display for Statuses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.counts.is_empty() {
            return f.write_str("none answered");
        }
        for (i, (status, n)) in self.counts.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match status {
                Some(s) => write!(f, "{s} x{n}")?,
                None => write!(f, "no answer x{n}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_are_grouped_and_described() {
        let mut e = Endings::new();
        for _ in 0..3 {
            e.opened("ws");
        }
        e.record("ws", Ending::WsClose(Some(1009)), 300_000_000, 0);
        e.record("ws", Ending::WsClose(Some(1009)), 500_000_000, 0);
        e.record("ws", Ending::Open(Some(101)), 8_000_000_000, 0);
        let s = e.summary();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].ending, Ending::Open(Some(101)));
        assert_eq!(s[1].count, 2);
        assert_eq!(
            s[1].to_string(),
            "ws: close 1009 x2 after 0.30 / 0.30 / 0.50 s (min / median / max)"
        );
        assert_eq!(
            s[0].to_string(),
            "ws: open at the end (answered 101) x1 after 8.00 s"
        );
        assert_eq!(e.opened_counts().collect::<Vec<_>>(), [("ws", 3)]);
    }

    #[test]
    fn statuses_count_each_answer() {
        let mut s = Statuses::new();
        assert_eq!(s.to_string(), "none answered");
        for status in [Some(202), Some(202), Some(413), None] {
            s.record(status);
        }
        assert_eq!(s.to_string(), "no answer x1, 202 x2, 413 x1");
        assert_eq!((s.accepted(), s.total()), (2, 4));
    }

    #[test]
    fn every_ending_reads_as_what_the_client_saw() {
        let cases = [
            (Ending::Open(None), "open at the end, no answer yet"),
            (Ending::ConnectFailed, "connect failed"),
            (Ending::Refused(503), "answered 503"),
            (Ending::WsClose(Some(1008)), "close 1008"),
            (Ending::WsClose(None), "close without a code"),
            (Ending::CutMidFrame, "ended mid-frame"),
            (Ending::Closed, "closed by the server"),
            (Ending::Reset, "reset"),
        ];
        for (ending, text) in cases {
            assert_eq!(ending.to_string(), text);
        }
    }
}
