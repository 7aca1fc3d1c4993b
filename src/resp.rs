//! RESP, the REdis Serialization Protocol (version 2), sans-IO: commands
//! out, replies in.
//!
//! Redis speaks to its clients in RESP2 unless they ask for RESP3 with
//! `HELLO 3` (the protocol specification, "RESP protocol description" on
//! redis.io). A client sends every command as an array of bulk strings,
//! and Redis answers with one of five types, each starting with one byte
//! and each line ending with CRLF:
//!
//! ```text
//! +OK\r\n                          simple string: a line of text
//! -ERR unknown command\r\n         error: a line of text
//! :1000\r\n                        integer: a signed 64-bit decimal
//! $5\r\nhello\r\n                  bulk string: a length, then that many bytes
//! $-1\r\n                          the nil bulk string
//! *2\r\n$1\r\na\r\n:7\r\n          array: a count, then that many values
//! *-1\r\n                          the nil array
//! ```
//!
//! `XADD pushwire:r * d hi`, as a client writes it:
//!
//! ```text
//! *5\r\n$4\r\nXADD\r\n$10\r\npushwire:r\r\n$1\r\n*\r\n$1\r\nd\r\n$2\r\nhi\r\n
//! ```
//!
//! [`encode_command`] writes a command that way; [`decode`] reads one reply
//! from the front of a buffer, or says it has not all arrived yet
//! (`Ok(None)`: read more and call again with the same bytes and more).
//! Nothing here reads a socket: the reactor owns the connection.
//!
//! A reply is read whole before it is returned, so its size is bounded by
//! [`Limits`]: a bulk string's length, an array's count, and the nesting
//! depth (a reply of `*1\r\n` repeated would otherwise recurse without
//! end). Lengths and integers are parsed as Rust's `i64::from_str` does,
//! and the CRLF after a bulk string's bytes is checked, not assumed.
//! `fuzz/fuzz_targets/resp.rs` reads arbitrary bytes with this decoder
//! and with the `redis-protocol` crate's, and checks that whatever this
//! one accepts, that one reads the same.

use std::fmt;

use crate::decimal;

/// One RESP2 value, as Redis sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `+...`: a status line such as `OK`.
    Simple(Vec<u8>),
    /// `-...`: an error line such as `ERR unknown command`.
    Error(String),
    /// `:...`: a signed integer.
    Integer(i64),
    /// `$N`: N bytes.
    Bulk(Vec<u8>),
    /// `*N`: N values.
    Array(Vec<Value>),
    /// `$-1` or `*-1`: nothing (a missing key, a timed-out blocking read).
    Nil,
}

/// How large a reply [`decode`] reads before it gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest bulk string, in bytes.
    pub max_bulk: usize,
    /// The most values in one array.
    pub max_elements: usize,
    /// How deep arrays nest (an array of arrays is depth 2).
    pub max_depth: usize,
}

impl Default for Limits {
    /// 512 MiB bulk strings (Redis's own `proto-max-bulk-len`), a million
    /// values per array, 16 levels (a stream read is four).
    fn default() -> Limits {
        Limits {
            max_bulk: 512 * 1024 * 1024,
            max_elements: 1 << 20,
            max_depth: 16,
        }
    }
}

/// Why a reply cannot be read: the connection's bytes are out of step
/// and it must be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RespError {
    /// A value starts with a byte that is not `+ - : $ *`.
    UnknownType(u8),
    /// An integer, length or count that is not a decimal `i64`.
    BadNumber,
    /// A length or count below -1.
    NegativeLength,
    /// A bulk string not followed by CRLF.
    MissingCrlf,
    /// An error line that is not UTF-8.
    NotUtf8,
    /// A bulk string or array past [`Limits`].
    TooLarge,
    /// Arrays nested deeper than [`Limits::max_depth`].
    TooDeep,
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::UnknownType(b) => write!(f, "unknown RESP type byte 0x{b:02x}"),
            RespError::BadNumber => f.write_str("a RESP number is not a decimal integer"),
            RespError::NegativeLength => f.write_str("a RESP length below -1"),
            RespError::MissingCrlf => f.write_str("a RESP bulk string not ended by CRLF"),
            RespError::NotUtf8 => f.write_str("a RESP error line is not UTF-8"),
            RespError::TooLarge => f.write_str("a RESP reply past the size limits"),
            RespError::TooDeep => f.write_str("RESP arrays nested past the depth limit"),
        }
    }
}

impl std::error::Error for RespError {}

/// Writes `args` as one command: an array of bulk strings.
///
/// ```
/// let mut out = Vec::new();
/// pushwire::resp::encode_command(&mut out, &[b"GET", b"k"]);
/// assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
/// ```
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    header(out, b'*', args.len() as i64);
    for arg in args {
        bulk(out, arg);
    }
}

/// Writes `value` as RESP2 (a nil as the nil bulk string). Redis never
/// reads anything but commands; this is for tests and for a reply
/// written back out.
pub fn encode(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Simple(line) => {
            out.push(b'+');
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
        Value::Error(line) => {
            out.push(b'-');
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Value::Integer(n) => header(out, b':', *n),
        Value::Bulk(bytes) => bulk(out, bytes),
        Value::Array(values) => {
            header(out, b'*', values.len() as i64);
            for value in values {
                encode(out, value);
            }
        }
        Value::Nil => out.extend_from_slice(b"$-1\r\n"),
    }
}

fn header(out: &mut Vec<u8>, kind: u8, n: i64) {
    out.push(kind);
    if n < 0 {
        out.push(b'-');
    }
    decimal::write_u64(out, n.unsigned_abs());
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    header(out, b'$', bytes.len() as i64);
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Reads one reply from the front of `buf`: the value and how many bytes
/// it took, `Ok(None)` if it has not all arrived, or why the bytes cannot
/// be a reply.
///
/// ```
/// use pushwire::resp::{decode, Limits, Value};
///
/// let limits = Limits::default();
/// let reply = b"*2\r\n$1\r\na\r\n:7\r\n+OK";
/// assert_eq!(
///     decode(reply, &limits),
///     Ok(Some((Value::Array(vec![Value::Bulk(b"a".to_vec()), Value::Integer(7)]), 15)))
/// );
/// // The status line after it has not ended yet.
/// assert_eq!(decode(&reply[15..], &limits), Ok(None));
/// ```
pub fn decode(buf: &[u8], limits: &Limits) -> Result<Option<(Value, usize)>, RespError> {
    // First a walk that allocates nothing, so that a large reply arriving
    // 64 KiB at a time costs one walk over its headers per read, not one
    // copy of everything read so far.
    let mut walk = Reader {
        buf,
        pos: 0,
        limits,
    };
    let Some(()) = walk.skip(1)? else {
        return Ok(None);
    };
    let mut reader = Reader {
        buf: buf.get(..walk.pos).unwrap_or(buf),
        pos: 0,
        limits,
    };
    Ok(reader.value(1)?.map(|value| (value, reader.pos)))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    limits: &'a Limits,
}

impl<'a> Reader<'a> {
    /// The value at `pos`, at nesting `depth` (1 for the reply itself).
    fn value(&mut self, depth: usize) -> Result<Option<Value>, RespError> {
        let Some(&kind) = self.buf.get(self.pos) else {
            return Ok(None);
        };
        self.pos += 1;
        let Some(line) = self.line() else {
            return Ok(None);
        };
        Ok(Some(match kind {
            b'+' => Value::Simple(line.to_vec()),
            b'-' => Value::Error(String::from_utf8(line.to_vec()).map_err(|_| RespError::NotUtf8)?),
            b':' => Value::Integer(number(line)?),
            b'$' => {
                let Some(len) = length(line, self.limits.max_bulk)? else {
                    return Ok(Some(Value::Nil));
                };
                let Some(end) = self.pos.checked_add(len) else {
                    return Err(RespError::TooLarge);
                };
                let (Some(bytes), Some(crlf)) = (
                    self.buf.get(self.pos..end),
                    self.buf.get(end..end.saturating_add(2)),
                ) else {
                    return Ok(None);
                };
                if crlf != b"\r\n" {
                    return Err(RespError::MissingCrlf);
                }
                self.pos = end + 2;
                Value::Bulk(bytes.to_vec())
            }
            b'*' => {
                let Some(count) = length(line, self.limits.max_elements)? else {
                    return Ok(Some(Value::Nil));
                };
                if count > 0 && depth >= self.limits.max_depth {
                    return Err(RespError::TooDeep);
                }
                // Each value takes at least 3 bytes: no more room is
                // reserved than the bytes at hand could fill.
                let room = self.buf.len().saturating_sub(self.pos) / 3;
                let mut values = Vec::with_capacity(count.min(room));
                for _ in 0..count {
                    match self.value(depth + 1)? {
                        Some(value) => values.push(value),
                        None => return Ok(None),
                    }
                }
                Value::Array(values)
            }
            other => return Err(RespError::UnknownType(other)),
        }))
    }

    /// Passes the value at `pos` as [`Reader::value`] reads it, with the
    /// same errors, but keeps nothing: `None` if it has not all arrived.
    fn skip(&mut self, depth: usize) -> Result<Option<()>, RespError> {
        let Some(&kind) = self.buf.get(self.pos) else {
            return Ok(None);
        };
        self.pos += 1;
        let Some(line) = self.line() else {
            return Ok(None);
        };
        match kind {
            b'+' => {}
            b'-' => {
                std::str::from_utf8(line).map_err(|_| RespError::NotUtf8)?;
            }
            b':' => {
                number(line)?;
            }
            b'$' => {
                let Some(len) = length(line, self.limits.max_bulk)? else {
                    return Ok(Some(()));
                };
                let Some(end) = self.pos.checked_add(len) else {
                    return Err(RespError::TooLarge);
                };
                let Some(crlf) = self.buf.get(end..end.saturating_add(2)) else {
                    return Ok(None);
                };
                if crlf != b"\r\n" {
                    return Err(RespError::MissingCrlf);
                }
                self.pos = end + 2;
            }
            b'*' => {
                let Some(count) = length(line, self.limits.max_elements)? else {
                    return Ok(Some(()));
                };
                if count > 0 && depth >= self.limits.max_depth {
                    return Err(RespError::TooDeep);
                }
                for _ in 0..count {
                    if self.skip(depth + 1)?.is_none() {
                        return Ok(None);
                    }
                }
            }
            other => return Err(RespError::UnknownType(other)),
        }
        Ok(Some(()))
    }

    /// The bytes up to the next CRLF, which is passed; `None` if no CRLF
    /// has arrived yet.
    fn line(&mut self) -> Option<&'a [u8]> {
        let buf: &'a [u8] = self.buf;
        let rest = buf.get(self.pos..)?;
        let at = rest.windows(2).position(|w| w == b"\r\n")?;
        self.pos += at + 2;
        rest.get(..at)
    }
}

/// A decimal `i64`, as `i64::from_str` reads it.
fn number(line: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(RespError::BadNumber)
}

/// A length or count up to `max`; `None` for -1 (nil).
fn length(line: &[u8], max: usize) -> Result<Option<usize>, RespError> {
    match number(line)? {
        -1 => Ok(None),
        n if n < -1 => Err(RespError::NegativeLength),
        n => match usize::try_from(n) {
            Ok(n) if n <= max => Ok(Some(n)),
            _ => Err(RespError::TooLarge),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<Option<(Value, usize)>, RespError> {
        decode(bytes, &Limits::default())
    }

    #[test]
    fn every_type_reads_as_the_specification_writes_it() {
        let cases: [(&[u8], Value); 8] = [
            (b"+OK\r\n", Value::Simple(b"OK".to_vec())),
            (
                b"-ERR unknown command\r\n",
                Value::Error("ERR unknown command".into()),
            ),
            (b":1000\r\n", Value::Integer(1000)),
            (b":-9223372036854775808\r\n", Value::Integer(i64::MIN)),
            (b"$5\r\nhello\r\n", Value::Bulk(b"hello".to_vec())),
            (b"$0\r\n\r\n", Value::Bulk(Vec::new())),
            (b"$-1\r\n", Value::Nil),
            (b"*-1\r\n", Value::Nil),
        ];
        for (bytes, value) in cases {
            assert_eq!(read(bytes), Ok(Some((value, bytes.len()))), "{bytes:?}");
        }
        // A bulk string holds any bytes, CRLF included.
        assert_eq!(
            read(b"$4\r\n\r\n\r\n\r\n"),
            Ok(Some((Value::Bulk(b"\r\n\r\n".to_vec()), 10)))
        );
    }

    #[test]
    fn a_stream_read_reply_nests_four_deep() {
        // XREAD STREAMS pushwire:r 0, as Redis 7 answers it.
        let reply = b"*1\r\n*2\r\n$10\r\npushwire:r\r\n*1\r\n*2\r\n$15\r\n1700000000000-0\r\n*2\r\n$1\r\nd\r\n$2\r\nhi\r\n";
        let bulk = |s: &str| Value::Bulk(s.as_bytes().to_vec());
        let entry = Value::Array(vec![
            bulk("1700000000000-0"),
            Value::Array(vec![bulk("d"), bulk("hi")]),
        ]);
        let expected = Value::Array(vec![Value::Array(vec![
            bulk("pushwire:r"),
            Value::Array(vec![entry]),
        ])]);
        assert_eq!(read(reply), Ok(Some((expected, reply.len()))));
    }

    #[test]
    fn every_cut_of_a_reply_is_incomplete_and_the_whole_reads() {
        let mut reply = Vec::new();
        encode(
            &mut reply,
            &Value::Array(vec![
                Value::Bulk(b"message".to_vec()),
                Value::Simple(b"OK".to_vec()),
                Value::Integer(-42),
                Value::Nil,
                Value::Error("WRONGTYPE no".into()),
            ]),
        );
        for cut in 0..reply.len() {
            assert_eq!(read(&reply[..cut]), Ok(None), "cut at {cut}");
        }
        let (value, used) = read(&reply).unwrap().unwrap();
        assert_eq!(used, reply.len());
        let mut again = Vec::new();
        encode(&mut again, &value);
        assert_eq!(again, reply);
    }

    #[test]
    fn bytes_out_of_step_are_errors_not_guesses() {
        let cases: [(&[u8], RespError); 9] = [
            (b"hello\r\n", RespError::UnknownType(b'h')),
            (b":12a\r\n", RespError::BadNumber),
            (b":\r\n", RespError::BadNumber),
            (b":99999999999999999999\r\n", RespError::BadNumber),
            (b"$-2\r\n", RespError::NegativeLength),
            (b"$3\r\nabcXY", RespError::MissingCrlf),
            (b"-\xff\r\n", RespError::NotUtf8),
            (b"$536870913\r\n", RespError::TooLarge),
            (b"*2097152\r\n", RespError::TooLarge),
        ];
        for (bytes, error) in cases {
            assert_eq!(read(bytes), Err(error), "{bytes:?}");
        }
    }

    #[test]
    fn nesting_stops_at_the_depth_limit() {
        let limits = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        assert_eq!(
            decode(b"*1\r\n*1\r\n*0\r\n", &limits),
            Ok(Some((
                Value::Array(vec![Value::Array(vec![Value::Array(vec![])])]),
                12
            )))
        );
        assert_eq!(
            decode(b"*1\r\n*1\r\n*1\r\n*0\r\n", &limits),
            Err(RespError::TooDeep)
        );
        // A million levels of `*1` cost nothing before the limit bites.
        let deep = b"*1\r\n".repeat(1_000_000);
        assert_eq!(read(&deep), Err(RespError::TooDeep));
    }

    #[test]
    fn a_huge_count_reserves_no_more_than_the_bytes_can_fill() {
        // A million-element array header with two values after it: no
        // million-slot allocation, just "not all here yet".
        assert_eq!(read(b"*1000000\r\n:1\r\n:2\r\n"), Ok(None));
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"XADD", b"pushwire:r", b"*", b"d", b"hi"]);
        assert_eq!(
            out,
            b"*5\r\n$4\r\nXADD\r\n$10\r\npushwire:r\r\n$1\r\n*\r\n$1\r\nd\r\n$2\r\nhi\r\n"
        );
        let args = [b"XADD".to_vec(), b"pushwire:r".to_vec(), b"*".to_vec()];
        let mut out = Vec::new();
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        encode_command(&mut out, &refs);
        let expected = Value::Array(args.iter().cloned().map(Value::Bulk).collect());
        assert_eq!(read(&out), Ok(Some((expected, out.len()))));
    }
}
