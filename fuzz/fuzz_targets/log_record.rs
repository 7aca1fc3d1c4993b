//! The log record codec (`pushwire::log`): any bytes never panic, and what
//! recovery reads back from a log that was damaged after it was written is
//! always a prefix of what was written.
//!
//! The input's first byte chooses the property:
//! - even: the rest is read as a segment as it is; every record read must
//!   encode back to exactly the bytes it was read from, and the scan must
//!   account for every byte (records, then a clean end, a torn tail to the
//!   end, or damage at the next offset);
//! - odd: the rest describes records (ids, channel, data), which are
//!   written, then cut at one offset or changed in one byte (both taken
//!   from the input). A cut must read back exactly the records wholly
//!   before it, then a torn tail (or a clean end on a boundary); a changed
//!   byte must read back exactly the records before the one it hit, then
//!   damage at that record's offset (CRC-32C catches every burst of up to
//!   32 bits).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushwire::log::{encode_floor, encode_message, End, Record, Scan};

const CHANNELS: [&str; 4] = ["a", "news.v1", "r", "x-_~.9"];

#[derive(Debug, Clone, PartialEq)]
enum Written {
    Message {
        id: u64,
        channel: &'static str,
        data: String,
    },
    Floor(u64),
}

impl Written {
    fn matches(&self, record: &Record<'_>) -> bool {
        match (self, record) {
            (
                Written::Message { id, channel, data },
                Record::Message {
                    id: i,
                    channel: c,
                    data: d,
                },
            ) => id == i && channel == c && data == d,
            (Written::Floor(f), Record::Floor(g)) => f == g,
            _ => false,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) -> usize {
        match self {
            Written::Message { id, channel, data } => encode_message(out, *id, channel, data),
            Written::Floor(f) => encode_floor(out, *f),
        }
    }
}

fn reencode(record: &Record<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    match record {
        Record::Message { id, channel, data } => encode_message(&mut out, *id, channel, data),
        Record::Floor(f) => encode_floor(&mut out, *f),
    };
    out
}

fn as_segment(bytes: &[u8]) {
    let mut scan = Scan::new(bytes);
    let mut at = 0;
    for (offset, record) in scan.by_ref() {
        assert_eq!(offset, at);
        let again = reencode(&record);
        assert_eq!(&bytes[offset..offset + again.len()], &again[..]);
        at += again.len();
    }
    assert_eq!(scan.offset(), at);
    match scan.end().expect("the scan ended") {
        End::Clean => assert_eq!(at, bytes.len()),
        End::Torn { offset, dropped } => {
            assert_eq!(offset, at);
            assert_eq!(offset + dropped, bytes.len());
        }
        End::Damaged { offset, .. } => assert_eq!(offset, at),
    }
}

fn written_then_damaged(input: &[u8]) {
    let Some((&how, rest)) = input.split_last() else {
        return;
    };
    let Some((&where_hi, rest)) = rest.split_last() else {
        return;
    };
    let Some((&where_lo, mut rest)) = rest.split_last() else {
        return;
    };
    let mut records = Vec::new();
    let mut id = 0u64;
    while let Some((&head, tail)) = rest.split_first() {
        if head & 0x80 != 0 {
            id = id.wrapping_add(u64::from(head));
            records.push(Written::Floor(id));
            rest = tail;
            continue;
        }
        let len = usize::from(head & 0x1f).min(tail.len());
        let (data, tail) = tail.split_at(len);
        id = id.wrapping_add(1 + u64::from(head >> 5));
        records.push(Written::Message {
            id,
            channel: CHANNELS[usize::from(head >> 5) % CHANNELS.len()],
            data: String::from_utf8_lossy(data).into_owned(),
        });
        rest = tail;
    }
    let mut log = Vec::new();
    let mut starts = Vec::new();
    for record in &records {
        starts.push(log.len());
        record.encode(&mut log);
    }
    if log.is_empty() {
        return;
    }
    let at = (usize::from(where_hi) << 8 | usize::from(where_lo)) % log.len();
    // The record the damage falls in, and how many come wholly before it.
    let hit = starts.partition_point(|&s| s <= at) - 1;
    let (damaged, expect_end) = if how == 0 {
        // A cut at `at`.
        let cut = &log[..at];
        let end = if starts[hit] == at {
            End::Clean
        } else {
            End::Torn {
                offset: starts[hit],
                dropped: at - starts[hit],
            }
        };
        (cut.to_vec(), Some(end))
    } else {
        let mut bad = log.clone();
        bad[at] ^= how;
        (bad, None)
    };
    let mut scan = Scan::new(&damaged);
    let read: Vec<_> = scan.by_ref().map(|(_, r)| r).collect();
    assert_eq!(
        read.len(),
        hit,
        "records read back: exactly those before the damage"
    );
    for (written, record) in records.iter().zip(&read) {
        assert!(
            written.matches(record),
            "{written:?} read back as {record:?}"
        );
    }
    match (expect_end, scan.end().expect("the scan ended")) {
        (Some(expected), end) => assert_eq!(end, expected),
        (None, End::Damaged { offset, .. }) => assert_eq!(offset, starts[hit]),
        (None, end) => panic!("a changed byte at {at} read as {end:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        as_segment(rest);
    } else {
        written_then_damaged(rest);
    }
});
