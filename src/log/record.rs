//! The log's record: how one committed message (or a floor mark) is laid
//! out on disk, and how a byte buffer is read back into records.
//!
//! ```text
//!  offset  size  field
//!  0       4     len        bytes of the body, little-endian u32
//!  4       4     body_crc   CRC-32C of the body
//!  8       4     head_crc   CRC-32C of bytes 0..8 (len and body_crc)
//!  12      len   body:
//!                  kind 1, a message:  u8 1, u64 id, u8 name length,
//!                                      the channel name, the data (UTF-8)
//!                  kind 2, a floor:    u8 2, u64 floor
//! ```
//!
//! Two checksums, so that a damaged length is caught before it is
//! believed: with one CRC over the whole record, a flipped bit in `len`
//! would send the reader past the end of the file, and a damaged record in
//! the middle of the log would look like a torn tail and be cut, with every
//! record after it. Here a record is read only once its header is proved
//! whole, and then the body is checked on its own.
//!
//! The message `{"id":7,"data":"hi"}` on channel `r` is 25 bytes:
//!
//! ```text
//! 0d 00 00 00  len 13
//! f3 e1 89 da  body_crc 0xda89e1f3
//! 18 05 54 c6  head_crc 0xc6540518
//! 01           kind: message
//! 07 00 00 00 00 00 00 00   id 7
//! 01 72        name: 1 byte, "r"
//! 68 69        data: "hi"
//! ```
//!
//! Reading ([`decode`], [`Scan`]) is sans-IO: it takes bytes and says what
//! they hold. A buffer that ends inside a record (a crash in the middle of
//! a write) reads as [`Decoded::Partial`]: the tail is *torn*, and
//! recovery cuts it. A record whose header or body fails its checksum, or
//! whose body does not parse, reads as [`Decoded::Damaged`]: the log is
//! *corrupt* there, and recovery stops with the offset rather than skip
//! it (docs/durability.md).

use super::crc32c::crc32c;
use crate::broker::valid_channel_name;

/// Bytes of a record's header.
pub const HEADER: usize = 12;

/// The largest body a reader accepts: a longer `len` in a header whose
/// checksum holds can only be a record written by a server with larger
/// limits, and is refused as damage rather than waited for.
pub const MAX_BODY: usize = 1 << 30;

const KIND_MESSAGE: u8 = 1;
const KIND_FLOOR: u8 = 2;

/// One record, borrowed from the buffer it was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// A committed message.
    Message {
        /// Its id in its channel.
        id: u64,
        /// The channel's name (valid: 1-128 bytes of `[A-Za-z0-9._~-]`).
        channel: &'a str,
        /// The message.
        data: &'a str,
    },
    /// Every id given before this point of the log is at or below this.
    /// Each segment starts with one, so the floor survives the deletion
    /// of the segments before it.
    Floor(u64),
}

/// What the start of a buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole record, and its length in bytes (header included).
    Whole(Record<'a>, usize),
    /// The buffer ends inside a record (or is empty): more bytes, or a
    /// torn tail.
    Partial,
    /// The record here is damaged.
    Damaged(Damage),
}

/// How a record is damaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The header's checksum does not match: its length cannot be trusted.
    HeaderChecksum,
    /// The body's checksum does not match.
    BodyChecksum,
    /// The header says a body longer than [`MAX_BODY`].
    TooLong(u32),
    /// The checksums hold but the body is not a record this reader knows.
    Malformed(&'static str),
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::HeaderChecksum => f.write_str("record header checksum mismatch"),
            Damage::BodyChecksum => f.write_str("record body checksum mismatch"),
            Damage::TooLong(len) => write!(f, "record length {len} is past the limit"),
            Damage::Malformed(why) => write!(f, "malformed record: {why}"),
        }
    }
}

/// Appends the record of a message; returns its length in bytes.
///
/// ```
/// use pushwire::log::{decode, encode_message, Decoded, Record};
///
/// let mut out = Vec::new();
/// let n = encode_message(&mut out, 7, "r", "hi");
/// assert_eq!((n, out.len()), (25, 25));
/// let record = Record::Message { id: 7, channel: "r", data: "hi" };
/// assert_eq!(decode(&out), Decoded::Whole(record, 25));
/// // Any cut inside it is a torn tail, never a wrong record.
/// for cut in 0..out.len() {
///     assert_eq!(decode(&out[..cut]), Decoded::Partial);
/// }
/// ```
pub fn encode_message(out: &mut Vec<u8>, id: u64, channel: &str, data: &str) -> usize {
    // Names are at most 128 bytes; a longer one never reaches the log
    // (the engine checked it), and is cut rather than mis-framed.
    let name = channel.as_bytes().get(..255).unwrap_or(channel.as_bytes());
    let body_len = 1 + 8 + 1 + name.len() + data.len();
    let start = begin(out, body_len);
    out.push(KIND_MESSAGE);
    out.extend_from_slice(&id.to_le_bytes());
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(data.as_bytes());
    finish(out, start)
}

/// Appends a floor record; returns its length in bytes.
pub fn encode_floor(out: &mut Vec<u8>, floor: u64) -> usize {
    let start = begin(out, 9);
    out.push(KIND_FLOOR);
    out.extend_from_slice(&floor.to_le_bytes());
    finish(out, start)
}

/// Reserves the header; the checksums are filled in by [`finish`].
fn begin(out: &mut Vec<u8>, body_len: usize) -> usize {
    let start = out.len();
    out.reserve(HEADER + body_len);
    let len = u32::try_from(body_len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    start
}

fn finish(out: &mut [u8], start: usize) -> usize {
    let Some(record) = out.get_mut(start..) else {
        return 0;
    };
    let (head, body) = record.split_at_mut(HEADER.min(record.len()));
    if head.len() == HEADER {
        head[4..8].copy_from_slice(&crc32c(body).to_le_bytes());
        let head_crc = crc32c(&head[..8]);
        head[8..12].copy_from_slice(&head_crc.to_le_bytes());
    }
    record.len()
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// Reads the record at the start of `buf`.
pub fn decode(buf: &[u8]) -> Decoded<'_> {
    let (Some(len), Some(body_crc), Some(head_crc)) =
        (u32_at(buf, 0), u32_at(buf, 4), u32_at(buf, 8))
    else {
        return Decoded::Partial;
    };
    if crc32c(buf.get(..8).unwrap_or_default()) != head_crc {
        return Decoded::Damaged(Damage::HeaderChecksum);
    }
    let body_len = len as usize;
    if body_len > MAX_BODY {
        return Decoded::Damaged(Damage::TooLong(len));
    }
    let Some(body) = buf.get(HEADER..HEADER + body_len) else {
        return Decoded::Partial;
    };
    if crc32c(body) != body_crc {
        return Decoded::Damaged(Damage::BodyChecksum);
    }
    match parse_body(body) {
        Ok(record) => Decoded::Whole(record, HEADER + body_len),
        Err(why) => Decoded::Damaged(Damage::Malformed(why)),
    }
}

fn parse_body(body: &[u8]) -> Result<Record<'_>, &'static str> {
    match body.first() {
        Some(&KIND_MESSAGE) => {
            let id = u64_at(body, 1).ok_or("message shorter than its id")?;
            let name_len = usize::from(*body.get(9).ok_or("no channel name length")?);
            let name = body.get(10..10 + name_len).ok_or("channel name cut")?;
            let channel = std::str::from_utf8(name).map_err(|_| "channel name not UTF-8")?;
            if !valid_channel_name(channel) {
                return Err("invalid channel name");
            }
            let data = body.get(10 + name_len..).unwrap_or_default();
            let data = std::str::from_utf8(data).map_err(|_| "data not UTF-8")?;
            Ok(Record::Message { id, channel, data })
        }
        Some(&KIND_FLOOR) => {
            if body.len() != 9 {
                return Err("floor record of the wrong length");
            }
            let floor = u64_at(body, 1).ok_or("floor record cut")?;
            Ok(Record::Floor(floor))
        }
        Some(_) => Err("unknown record kind"),
        None => Err("empty body"),
    }
}

/// How a [`Scan`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Every byte was read as whole records.
    Clean,
    /// The last `dropped` bytes, from `offset`, are a record cut short: a
    /// write the process did not finish. Recovery truncates them.
    Torn {
        /// Where the torn record starts.
        offset: usize,
        /// Bytes from there to the end.
        dropped: usize,
    },
    /// The record at `offset` is damaged: recovery stops there.
    Damaged {
        /// Where the damaged record starts.
        offset: usize,
        /// What is wrong with it.
        damage: Damage,
    },
}

/// Reads a buffer (a whole segment) record by record: an iterator of
/// `(offset, record)`, then [`Scan::end`] says how it ended.
///
/// ```
/// use pushwire::log::{encode_floor, encode_message, End, Record, Scan};
///
/// let mut log = Vec::new();
/// encode_floor(&mut log, 100);
/// encode_message(&mut log, 101, "a", "x");
/// let whole = log.len();
/// encode_message(&mut log, 102, "a", "y");
/// log.truncate(log.len() - 1); // the crash
/// let mut scan = Scan::new(&log);
/// let records: Vec<_> = scan.by_ref().map(|(_, r)| r).collect();
/// assert_eq!(records[1], Record::Message { id: 101, channel: "a", data: "x" });
/// assert_eq!(records.len(), 2);
/// assert_eq!(scan.end(), Some(End::Torn { offset: whole, dropped: 23 }));
/// ```
#[derive(Debug)]
pub struct Scan<'a> {
    buf: &'a [u8],
    offset: usize,
    end: Option<End>,
}

impl<'a> Scan<'a> {
    /// A scan of `buf` from its start.
    pub fn new(buf: &'a [u8]) -> Scan<'a> {
        Scan {
            buf,
            offset: 0,
            end: None,
        }
    }

    /// How the scan ended; `None` while records remain.
    pub fn end(&self) -> Option<End> {
        self.end
    }

    /// Where the next record starts (after the scan: the end of the last
    /// whole record).
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl<'a> Iterator for Scan<'a> {
    type Item = (usize, Record<'a>);

    fn next(&mut self) -> Option<(usize, Record<'a>)> {
        if self.end.is_some() {
            return None;
        }
        let rest = self.buf.get(self.offset..).unwrap_or_default();
        match decode(rest) {
            Decoded::Whole(record, len) => {
                let at = self.offset;
                self.offset += len;
                Some((at, record))
            }
            Decoded::Partial => {
                self.end = Some(if rest.is_empty() {
                    End::Clean
                } else {
                    End::Torn {
                        offset: self.offset,
                        dropped: rest.len(),
                    }
                });
                None
            }
            Decoded::Damaged(damage) => {
                self.end = Some(End::Damaged {
                    offset: self.offset,
                    damage,
                });
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: u64) -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut starts = vec![0];
        encode_floor(&mut out, 1000);
        for id in 1001..=1000 + n {
            starts.push(out.len());
            encode_message(&mut out, id, "ch.1", &"é".repeat(id as usize % 7));
        }
        (out, starts)
    }

    #[test]
    fn records_read_back_as_written() {
        let (bytes, starts) = log(5);
        let mut scan = Scan::new(&bytes);
        let read: Vec<_> = scan.by_ref().collect();
        assert_eq!(scan.end(), Some(End::Clean));
        assert_eq!(read.len(), 6);
        assert_eq!(read[0], (0, Record::Floor(1000)));
        for (k, (at, record)) in read.iter().enumerate().skip(1) {
            let id = 1000 + k as u64;
            let data = "é".repeat(id as usize % 7);
            assert_eq!(*at, starts[k]);
            assert_eq!(
                *record,
                Record::Message {
                    id,
                    channel: "ch.1",
                    data: &data
                }
            );
        }
    }

    #[test]
    fn a_cut_at_every_offset_of_the_last_record_is_a_torn_tail() {
        let (bytes, starts) = log(3);
        let last = *starts.last().unwrap();
        for cut in last + 1..bytes.len() {
            let mut scan = Scan::new(&bytes[..cut]);
            assert_eq!(scan.by_ref().count(), 3, "cut at {cut}");
            assert_eq!(
                scan.end(),
                Some(End::Torn {
                    offset: last,
                    dropped: cut - last
                })
            );
        }
        let mut scan = Scan::new(&bytes[..last]);
        assert_eq!(scan.by_ref().count(), 3);
        assert_eq!(scan.end(), Some(End::Clean));
    }

    #[test]
    fn a_flipped_bit_anywhere_but_the_tail_is_damage_at_that_record() {
        let (bytes, starts) = log(4);
        for at in 0..starts[4] {
            for bit in [0x01, 0x80] {
                let mut bad = bytes.clone();
                bad[at] ^= bit;
                let mut scan = Scan::new(&bad);
                let good = scan.by_ref().count();
                let record = starts.iter().rposition(|&s| s <= at).unwrap();
                assert_eq!(good, record, "flip at {at}");
                assert!(
                    matches!(scan.end(), Some(End::Damaged { offset, .. }) if offset == starts[record]),
                    "flip at {at}: {:?}",
                    scan.end()
                );
            }
        }
    }

    #[test]
    fn a_long_length_is_refused_not_waited_for() {
        let mut out = Vec::new();
        let len = (MAX_BODY as u32) + 1;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        let head_crc = crc32c(&out[..8]);
        out.extend_from_slice(&head_crc.to_le_bytes());
        assert_eq!(decode(&out), Decoded::Damaged(Damage::TooLong(len)));
    }

    #[test]
    fn bodies_that_parse_wrong_are_damage() {
        for (body, why) in [
            (&[9u8][..], "unknown record kind"),
            (&[1, 1, 2, 3][..], "message shorter than its id"),
            (
                &[1, 0, 0, 0, 0, 0, 0, 0, 0, 5, b'a'][..],
                "channel name cut",
            ),
            (
                &[1, 0, 0, 0, 0, 0, 0, 0, 0, 1, b'/'][..],
                "invalid channel name",
            ),
            (
                &[1, 0, 0, 0, 0, 0, 0, 0, 0, 1, b'a', 0xff][..],
                "data not UTF-8",
            ),
            (&[2, 0][..], "floor record of the wrong length"),
        ] {
            let mut out = Vec::new();
            let start = begin(&mut out, body.len());
            out.extend_from_slice(body);
            finish(&mut out, start);
            assert_eq!(decode(&out), Decoded::Damaged(Damage::Malformed(why)));
        }
    }
}
