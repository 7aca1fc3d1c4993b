//! What travels in a benchmark message: a sequence number and the send
//! time, in ASCII at the start of the payload, padded to the wanted size.
//!
//! ```text
//! 0000000042:0000000001234567890:xxxxxxxxxxxxxxxx...
//! seq (10)  : nanoseconds since the bench's epoch (19) : padding
//! ```
//!
//! Every server under test passes a message body through untouched, so
//! the same stamp works for pushwire (whatever its framing) and for nchan
//! (whose message ids are not ours). Publisher and subscribers live in one
//! process, so the epoch is one `Instant` they share.

use std::time::{Duration, Instant};

use pushwire::decimal::parse_decimal;

/// Length of the stamp before the padding.
pub const STAMP_LEN: usize = 31;

/// The shared clock: nanoseconds since the bench started.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            epoch: Instant::now(),
        }
    }

    /// Nanoseconds since the epoch.
    pub fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The `Instant` that is `nanos` after the epoch, for the protocol
    /// code that takes its time as an `Instant` (a WebSocket session).
    pub fn instant(&self, nanos: u64) -> Instant {
        let since = Duration::from_nanos(nanos);
        self.epoch.checked_add(since).unwrap_or(self.epoch)
    }
}

fn write_digits(out: &mut [u8], mut n: u64) {
    for byte in out.iter_mut().rev() {
        *byte = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Writes the stamp for (`seq`, `nanos`) into the first [`STAMP_LEN`]
/// bytes of `out` (which must be at least that long).
pub fn write_stamp(out: &mut [u8], seq: u64, nanos: u64) {
    if let Some(stamp) = out.get_mut(..STAMP_LEN) {
        let (seq_digits, rest) = stamp.split_at_mut(10);
        write_digits(seq_digits, seq);
        if let Some((colon, rest)) = rest.split_first_mut() {
            *colon = b':';
            let (nanos_digits, tail) = rest.split_at_mut(19);
            write_digits(nanos_digits, nanos);
            if let Some(colon) = tail.first_mut() {
                *colon = b':';
            }
        }
    }
}

/// A payload of `size` bytes (at least [`STAMP_LEN`]) carrying the stamp.
pub fn payload(seq: u64, nanos: u64, size: usize) -> Vec<u8> {
    let mut out = vec![b'x'; size.max(STAMP_LEN)];
    write_stamp(&mut out, seq, nanos);
    out
}

/// Reads (`seq`, `nanos`) back from a payload; `None` if it carries no
/// stamp (the data was changed on the way).
pub fn read_stamp(data: &[u8]) -> Option<(u64, u64)> {
    let stamp = data.get(..STAMP_LEN)?;
    if stamp.get(10) != Some(&b':') || stamp.get(30) != Some(&b':') {
        return None;
    }
    Some((
        parse_decimal(stamp.get(..10)?)?,
        parse_decimal(stamp.get(11..30)?)?,
    ))
}

/// What one subscriber received, checked against the sequence numbers.
#[derive(Debug, Clone, Default)]
pub struct SeqTracker {
    messages: u64,
    seen: Vec<u64>,
    distinct: u64,
    highest: Option<u64>,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub corrupt: u64,
}

impl SeqTracker {
    /// A tracker for sequence numbers `0..messages`.
    pub fn new(messages: u64) -> SeqTracker {
        SeqTracker {
            messages,
            seen: vec![0; usize::try_from(messages.div_ceil(64)).unwrap_or(0)],
            ..SeqTracker::default()
        }
    }

    /// Records one received message; a sequence number out of range counts
    /// as corrupt.
    pub fn record(&mut self, seq: u64) {
        let word = usize::try_from(seq / 64)
            .ok()
            .filter(|_| seq < self.messages);
        let Some(slot) = word.and_then(|w| self.seen.get_mut(w)) else {
            self.corrupt += 1;
            return;
        };
        let bit = 1u64 << (seq % 64);
        if *slot & bit != 0 {
            self.duplicated += 1;
            return;
        }
        *slot |= bit;
        self.distinct += 1;
        match self.highest {
            Some(h) if seq < h => self.out_of_order += 1,
            _ => self.highest = Some(seq),
        }
    }

    /// The highest sequence number received.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    /// Distinct messages received.
    pub fn distinct(&self) -> u64 {
        self.distinct
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips_and_pads() {
        let p = payload(42, 1_234_567_890, 64);
        assert_eq!(p.len(), 64);
        assert_eq!(&p[..STAMP_LEN], b"0000000042:0000000001234567890:");
        assert_eq!(read_stamp(&p), Some((42, 1_234_567_890)));
        assert_eq!(read_stamp(b"hello"), None);
        assert_eq!(read_stamp(&p[..30]), None);
    }

    #[test]
    fn tracker_counts_duplicates_reordering_and_range() {
        let mut t = SeqTracker::new(10);
        for seq in [0, 1, 3, 2, 3, 12] {
            t.record(seq);
        }
        assert_eq!(
            (t.distinct(), t.duplicated, t.out_of_order, t.corrupt),
            (4, 1, 1, 1)
        );
    }
}
