//! The JSON that pushwire writes and reads (RFC 8259), by hand.
//!
//! pushwire answers with a handful of fixed shapes (see `docs/api.md`):
//!
//! ```text
//! {"id":18,"data":"hello"}                                 one item: the WebSocket
//!                                                          pushwire.json envelope, and
//!                                                          the element of a batch
//! {"last_id":19,"messages":[{"id":18,"data":"hello"},{"id":19,"data":"x"}]}
//! {"last_id":19,"gap":true,"messages":[...]}               poll / long-poll, when the
//!                                                          requested id left history
//! {"id":17}                                                publish
//! {"last_id":17,"history":17,"subscribers":{"ws":1,"sse":2,"longpoll":0}}
//! ```
//!
//! # Writing
//!
//! Numbers are unsigned integers, written by the crate's one decimal
//! writer ([`write_u64`]). Strings ([`write_string`]) follow RFC 8259
//! section 7: a string is `"` + characters + `"`, and only `"`, `\` and the
//! control characters U+0000 to U+001F *must* be escaped. pushwire escapes
//! exactly those: `\"`, `\\`, the short forms `\b \f \n \r \t`, and
//! `\u00XX` for the other controls, so `"a\u0001"` in Rust becomes the
//! eight bytes `"a\u0001"` on the wire. Everything else, including DEL,
//! non-ASCII and U+2028 / U+2029, passes through as UTF-8: RFC 8259
//! allows it, and since ES2019 those two line separators are legal inside
//! JavaScript string literals too (only pre-2019 engines `eval`ing the text
//! could choke). Runs of bytes that need no escape are copied with one
//! `extend_from_slice`.
//!
//! A batch ([`write_batch`]) is assembled from items that the broker encoded
//! once with [`write_item`] and shares between every poll that asks for them.
//! `"gap":true` goes between `last_id` and `messages`, so a streaming reader
//! learns about the gap before the messages; it is left out when false.
//!
//! # Reading
//!
//! The client role (`pushwire sub poll`, the load generator) reads these
//! shapes back with [`parse_batch`] and [`parse_item`]: a strict RFC 8259
//! reader that handles whitespace (section 2), every string escape including
//! `\uXXXX` surrogate pairs (section 7; a lone surrogate is an error, since
//! it cannot become a Rust `String`), validates UTF-8 (section 8.1), skips
//! unknown fields with a generic value skipper (nesting bounded by
//! [`MAX_DEPTH`]), refuses duplicate known fields, and never panics on
//! malformed input.

use std::fmt;

use crate::decimal::write_u64;

/// How deeply nested an unknown value that the reader skips may be.
pub const MAX_DEPTH: usize = 64;

/// Up to this many members, an object read by [`parse_value`] is searched
/// for a duplicate name member by member as it is read; a larger one is
/// sorted once at its end, and a duplicate reported at the object's start.
const LINEAR_NAMES: usize = 16;

/// Appends `s` as a JSON string: `"`, the escaped text, `"`.
///
/// ```
/// let mut out = Vec::new();
/// pushwire::json::write_string(&mut out, "say \"hi\"\n");
/// assert_eq!(out, br#""say \"hi\"\n""#);
/// ```
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run_start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(bytes.get(run_start..index).unwrap_or_default());
        if escape.is_empty() {
            let high = HEX.get(usize::from(byte >> 4)).copied().unwrap_or(b'0');
            let low = HEX.get(usize::from(byte & 0xf)).copied().unwrap_or(b'0');
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', high, low]);
        } else {
            out.extend_from_slice(escape);
        }
        run_start = index + 1;
    }
    out.extend_from_slice(bytes.get(run_start..).unwrap_or_default());
    out.push(b'"');
}

/// Appends one message as `{"id":18,"data":"hello"}`: the WebSocket
/// `pushwire.json` envelope and the element of a batch.
///
/// ```
/// let mut out = Vec::new();
/// pushwire::json::write_item(&mut out, 18, "hello");
/// assert_eq!(out, br#"{"id":18,"data":"hello"}"#);
/// ```
pub fn write_item(out: &mut Vec<u8>, id: u64, data: &str) {
    out.extend_from_slice(b"{\"id\":");
    write_u64(out, id);
    out.extend_from_slice(b",\"data\":");
    write_string(out, data);
    out.push(b'}');
}

/// What a poll / long-poll answer says besides its messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchHead {
    /// The id to ask for next (`?since=`): the newest message the answer
    /// covers.
    pub last_id: u64,
    /// Messages after the requested id left history before they could be
    /// answered.
    pub gap: bool,
    /// The answer stops at a size limit: newer messages are waiting, ask
    /// again at once with `since=last_id`.
    pub more: bool,
}

/// Appends a poll / long-poll answer from items already encoded with
/// [`write_item`]: `{"last_id":19,"messages":[item,item]}`, with
/// `"gap":true` and `"more":true` after `last_id` when they are set.
///
/// ```
/// use pushwire::json::{write_batch, write_item, BatchHead};
///
/// let mut item = Vec::new();
/// write_item(&mut item, 19, "x");
/// let mut out = Vec::new();
/// let head = BatchHead { last_id: 19, gap: true, more: false };
/// write_batch(&mut out, head, [item.as_slice()]);
/// assert_eq!(out, br#"{"last_id":19,"gap":true,"messages":[{"id":19,"data":"x"}]}"#);
/// ```
pub fn write_batch<'a>(
    out: &mut Vec<u8>,
    head: BatchHead,
    items: impl IntoIterator<Item = &'a [u8]>,
) {
    out.extend_from_slice(b"{\"last_id\":");
    write_u64(out, head.last_id);
    if head.gap {
        out.extend_from_slice(b",\"gap\":true");
    }
    if head.more {
        out.extend_from_slice(b",\"more\":true");
    }
    out.extend_from_slice(b",\"messages\":[");
    for (index, item) in items.into_iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.extend_from_slice(b"]}");
}

/// Appends the answer to a publish: `{"id":17}`.
pub fn write_published(out: &mut Vec<u8>, id: u64) {
    out.extend_from_slice(b"{\"id\":");
    write_u64(out, id);
    out.push(b'}');
}

/// What `GET /pub/{channel}` reports about a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChannelInfo {
    /// The id of the newest message, 0 if none was published yet.
    pub last_id: u64,
    /// How many messages the channel's history holds.
    pub history: u64,
    /// WebSocket subscribers.
    pub ws: u64,
    /// Server-Sent Events subscribers.
    pub sse: u64,
    /// Parked long-poll requests.
    pub longpoll: u64,
}

/// Appends channel info:
/// `{"last_id":17,"history":17,"subscribers":{"ws":1,"sse":2,"longpoll":0}}`.
pub fn write_channel_info(out: &mut Vec<u8>, info: &ChannelInfo) {
    out.extend_from_slice(b"{\"last_id\":");
    write_u64(out, info.last_id);
    out.extend_from_slice(b",\"history\":");
    write_u64(out, info.history);
    out.extend_from_slice(b",\"subscribers\":{\"ws\":");
    write_u64(out, info.ws);
    out.extend_from_slice(b",\"sse\":");
    write_u64(out, info.sse);
    out.extend_from_slice(b",\"longpoll\":");
    write_u64(out, info.longpoll);
    out.extend_from_slice(b"}}");
}

/// A poll / long-poll answer, as read by a client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    /// The id to ask for next (`?since=`).
    pub last_id: u64,
    /// Messages between the requested id and the oldest kept one were lost.
    pub gap: bool,
    /// More messages are waiting: ask again at once.
    pub more: bool,
    /// `(id, data)` of each message, oldest first.
    pub messages: Vec<(u64, String)>,
}

/// Why the reader refused its input. Offsets count bytes from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// The input ended inside a value.
    UnexpectedEnd,
    /// A byte that the grammar (or the expected shape) does not allow here.
    UnexpectedByte {
        /// Where the byte is.
        offset: usize,
    },
    /// A backslash escape that RFC 8259 section 7 does not define.
    InvalidEscape {
        /// Where the escape starts.
        offset: usize,
    },
    /// A `\uXXXX` surrogate that is not half of a high-low pair.
    LoneSurrogate {
        /// Where the escape starts.
        offset: usize,
    },
    /// A raw control character (U+0000 to U+001F) inside a string.
    ControlCharacter {
        /// Where the character is.
        offset: usize,
    },
    /// String bytes that are not UTF-8.
    InvalidUtf8 {
        /// Where the run holding them starts.
        offset: usize,
    },
    /// A number that breaks the grammar, or is not the unsigned integer
    /// that an id must be.
    InvalidNumber {
        /// Where the number starts.
        offset: usize,
    },
    /// An integer larger than `u64::MAX` (or, read as a [`Value`], a
    /// number too large for an `f64`).
    NumberOutOfRange {
        /// Where the number starts.
        offset: usize,
    },
    /// A required field is absent.
    MissingField(&'static str),
    /// A known field appears twice.
    DuplicateField {
        /// Where the second key starts (in an object of more than 16
        /// members read by [`parse_value`], where the object starts).
        offset: usize,
    },
    /// A skipped value nests deeper than [`MAX_DEPTH`].
    TooDeep {
        /// Where the value that went too deep starts.
        offset: usize,
    },
    /// Something other than whitespace follows the value.
    TrailingCharacters {
        /// Where it starts.
        offset: usize,
    },
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::UnexpectedEnd => f.write_str("JSON ends in the middle of a value"),
            JsonError::UnexpectedByte { offset } => write!(f, "unexpected byte at offset {offset}"),
            JsonError::InvalidEscape { offset } => write!(f, "invalid escape at offset {offset}"),
            JsonError::LoneSurrogate { offset } => {
                write!(f, "unpaired UTF-16 surrogate escape at offset {offset}")
            }
            JsonError::ControlCharacter { offset } => {
                write!(
                    f,
                    "unescaped control character in string at offset {offset}"
                )
            }
            JsonError::InvalidUtf8 { offset } => {
                write!(f, "invalid UTF-8 in string at offset {offset}")
            }
            JsonError::InvalidNumber { offset } => {
                write!(f, "not an unsigned integer at offset {offset}")
            }
            JsonError::NumberOutOfRange { offset } => {
                write!(f, "number out of range at offset {offset}")
            }
            JsonError::MissingField(name) => write!(f, "missing field \"{name}\""),
            JsonError::DuplicateField { offset } => write!(f, "duplicate field at offset {offset}"),
            JsonError::TooDeep { offset } => {
                write!(f, "value nested too deeply at offset {offset}")
            }
            JsonError::TrailingCharacters { offset } => {
                write!(f, "unexpected data after the value at offset {offset}")
            }
        }
    }
}

impl std::error::Error for JsonError {}

/// Reads a poll / long-poll answer:
/// `{"last_id":19,"messages":[{"id":18,"data":"hello"}]}`, with an optional
/// `"gap":true`. Unknown fields are skipped.
///
/// ```
/// let batch = pushwire::json::parse_batch(br#"{"last_id":2,"messages":[{"id":2,"data":"\u00e9"}]}"#).unwrap();
/// assert_eq!(batch.last_id, 2);
/// assert!(!batch.gap);
/// assert_eq!(batch.messages, vec![(2, "é".to_string())]);
/// ```
pub fn parse_batch(input: &[u8]) -> Result<Batch, JsonError> {
    let mut reader = Reader { input, pos: 0 };
    let batch = reader.batch()?;
    reader.end()?;
    Ok(batch)
}

/// Reads one `{"id":18,"data":"hello"}` item (the WebSocket `pushwire.json`
/// envelope). Unknown fields are skipped.
pub fn parse_item(input: &[u8]) -> Result<(u64, String), JsonError> {
    let mut reader = Reader { input, pos: 0 };
    let item = reader.item()?;
    reader.end()?;
    Ok(item)
}

/// A JSON value read whole, for documents whose shape is not fixed (a
/// JWT's header and claims, `src/auth/`).
///
/// Numbers are `f64` (RFC 8259 section 6 leaves precision to the reader;
/// a JWT's times are seconds, exact in an `f64` for the next 285 million
/// years). An object keeps its members in order and never holds the same
/// name twice: [`parse_value`] refuses a duplicate, as RFC 7519 section 4
/// allows a JWT reader to do, rather than pick one of them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number, finite.
    Number(f64),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object: its members, in order, names unique.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The member `name` of an object (`None` for other values).
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value of a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The elements of an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// Reads one JSON value of any shape, nested at most [`MAX_DEPTH`] deep,
/// with nothing but whitespace after it.
///
/// ```
/// use pushwire::json::{parse_value, Value};
///
/// let v = parse_value(br#"{"alg":"HS256","exp":1.5e9,"crit":[]}"#).unwrap();
/// assert_eq!(v.get("alg").and_then(Value::as_str), Some("HS256"));
/// assert_eq!(v.get("exp").and_then(Value::as_f64), Some(1.5e9));
/// assert!(parse_value(br#"{"a":1,"a":2}"#).is_err()); // a duplicate name
/// ```
pub fn parse_value(input: &[u8]) -> Result<Value, JsonError> {
    let mut reader = Reader { input, pos: 0 };
    let value = reader.value(0)?;
    reader.end()?;
    Ok(value)
}

/// A cursor over the input of one parse.
struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// The next byte, consumed; the end of input is an error.
    fn next(&mut self) -> Result<u8, JsonError> {
        let byte = self.peek().ok_or(JsonError::UnexpectedEnd)?;
        self.pos += 1;
        Ok(byte)
    }

    /// RFC 8259 section 2: ws = *( SP / HTAB / LF / CR ).
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Skips whitespace, then consumes `expected` or fails.
    fn expect(&mut self, expected: u8) -> Result<(), JsonError> {
        self.skip_whitespace();
        let offset = self.pos;
        if self.next()? == expected {
            Ok(())
        } else {
            Err(JsonError::UnexpectedByte { offset })
        }
    }

    /// Only whitespace may remain.
    fn end(&mut self) -> Result<(), JsonError> {
        self.skip_whitespace();
        if self.pos < self.input.len() {
            return Err(JsonError::TrailingCharacters { offset: self.pos });
        }
        Ok(())
    }

    /// Walks the members of an object, calling `member` with each key (the
    /// reader then stands before the value, which `member` must consume).
    fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &str, usize) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        self.expect(b'{')?;
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_whitespace();
            let key_offset = self.pos;
            let key = self.string()?;
            self.expect(b':')?;
            member(self, &key, key_offset)?;
            self.skip_whitespace();
            let offset = self.pos;
            match self.next()? {
                b',' => continue,
                b'}' => return Ok(()),
                _ => return Err(JsonError::UnexpectedByte { offset }),
            }
        }
    }

    fn batch(&mut self) -> Result<Batch, JsonError> {
        let mut last_id = None;
        let mut gap = None;
        let mut more = None;
        let mut messages = None;
        self.object(|reader, key, key_offset| {
            let duplicate = JsonError::DuplicateField { offset: key_offset };
            match key {
                "last_id" if last_id.is_some() => Err(duplicate),
                "last_id" => {
                    last_id = Some(reader.unsigned()?);
                    Ok(())
                }
                "gap" if gap.is_some() => Err(duplicate),
                "gap" => {
                    gap = Some(reader.boolean()?);
                    Ok(())
                }
                "more" if more.is_some() => Err(duplicate),
                "more" => {
                    more = Some(reader.boolean()?);
                    Ok(())
                }
                "messages" if messages.is_some() => Err(duplicate),
                "messages" => {
                    messages = Some(reader.items()?);
                    Ok(())
                }
                _ => reader.skip_value(0),
            }
        })?;
        Ok(Batch {
            last_id: last_id.ok_or(JsonError::MissingField("last_id"))?,
            gap: gap.unwrap_or(false),
            more: more.unwrap_or(false),
            messages: messages.ok_or(JsonError::MissingField("messages"))?,
        })
    }

    /// `[item, item, ...]`
    fn items(&mut self) -> Result<Vec<(u64, String)>, JsonError> {
        let mut items = Vec::new();
        self.expect(b'[')?;
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            items.push(self.item()?);
            self.skip_whitespace();
            let offset = self.pos;
            match self.next()? {
                b',' => continue,
                b']' => return Ok(items),
                _ => return Err(JsonError::UnexpectedByte { offset }),
            }
        }
    }

    fn item(&mut self) -> Result<(u64, String), JsonError> {
        let mut id = None;
        let mut data = None;
        self.object(|reader, key, key_offset| {
            let duplicate = JsonError::DuplicateField { offset: key_offset };
            match key {
                "id" if id.is_some() => Err(duplicate),
                "id" => {
                    id = Some(reader.unsigned()?);
                    Ok(())
                }
                "data" if data.is_some() => Err(duplicate),
                "data" => {
                    reader.skip_whitespace();
                    data = Some(reader.string()?);
                    Ok(())
                }
                _ => reader.skip_value(0),
            }
        })?;
        Ok((
            id.ok_or(JsonError::MissingField("id"))?,
            data.ok_or(JsonError::MissingField("data"))?,
        ))
    }

    fn boolean(&mut self) -> Result<bool, JsonError> {
        self.skip_whitespace();
        let offset = self.pos;
        if self.literal(b"true") {
            Ok(true)
        } else if self.literal(b"false") {
            Ok(false)
        } else if self.pos >= self.input.len() {
            Err(JsonError::UnexpectedEnd)
        } else {
            Err(JsonError::UnexpectedByte { offset })
        }
    }

    /// Consumes `word` if the input continues with it.
    fn literal(&mut self, word: &[u8]) -> bool {
        let found = self
            .input
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(word));
        if found {
            self.pos += word.len();
        }
        found
    }

    /// An id: a JSON number that is a non-negative integer fitting in u64
    /// (RFC 8259 section 6: `int = zero / ( digit1-9 *DIGIT )`, no leading
    /// zeros). A fraction or exponent is refused even when integral.
    fn unsigned(&mut self) -> Result<u64, JsonError> {
        self.skip_whitespace();
        let offset = self.pos;
        let mut value: u64 = 0;
        let mut digits = 0;
        while let Some(byte @ b'0'..=b'9') = self.peek() {
            if digits == 1 && value == 0 {
                return Err(JsonError::InvalidNumber { offset });
            }
            value = value
                .checked_mul(10)
                .and_then(|value| value.checked_add(u64::from(byte - b'0')))
                .ok_or(JsonError::NumberOutOfRange { offset })?;
            digits += 1;
            self.pos += 1;
        }
        match self.peek() {
            None if digits == 0 => Err(JsonError::UnexpectedEnd),
            _ if digits == 0 => Err(JsonError::InvalidNumber { offset }),
            Some(b'.' | b'e' | b'E') => Err(JsonError::InvalidNumber { offset }),
            _ => Ok(value),
        }
    }

    /// A string, the reader standing on its opening quote.
    fn string(&mut self) -> Result<String, JsonError> {
        let offset = self.pos;
        if self.next()? != b'"' {
            return Err(JsonError::UnexpectedByte { offset });
        }
        let mut text = String::new();
        loop {
            // Copy the run up to the next quote or backslash in one go. Both
            // are ASCII, so a run never splits a UTF-8 sequence.
            let rest = self.input.get(self.pos..).unwrap_or_default();
            let run_len = rest
                .iter()
                .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
                .ok_or(JsonError::UnexpectedEnd)?;
            let run = rest.get(..run_len).unwrap_or_default();
            let run = std::str::from_utf8(run).map_err(|error| JsonError::InvalidUtf8 {
                offset: self.pos + error.valid_up_to(),
            })?;
            text.push_str(run);
            self.pos += run_len;
            let offset = self.pos;
            match self.next()? {
                b'"' => return Ok(text),
                b'\\' => text.push(self.escape(offset)?),
                _ => return Err(JsonError::ControlCharacter { offset }),
            }
        }
    }

    /// The character of an escape whose backslash, at `offset`, was consumed.
    fn escape(&mut self, offset: usize) -> Result<char, JsonError> {
        Ok(match self.next()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4(offset)?;
                match unit {
                    0xd800..=0xdbff => {
                        // RFC 8259 section 7: a character outside the BMP is
                        // a high-low surrogate pair, "\ud83d\ude00".
                        let low_offset = self.pos;
                        if !self.literal(b"\\u") {
                            return Err(JsonError::LoneSurrogate { offset });
                        }
                        let low = self.hex4(low_offset)?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return Err(JsonError::LoneSurrogate { offset });
                        }
                        let code = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                        char::from_u32(code).ok_or(JsonError::LoneSurrogate { offset })?
                    }
                    0xdc00..=0xdfff => return Err(JsonError::LoneSurrogate { offset }),
                    _ => char::from_u32(unit).ok_or(JsonError::InvalidEscape { offset })?,
                }
            }
            _ => return Err(JsonError::InvalidEscape { offset }),
        })
    }

    /// Four hex digits of a `\u` escape starting at `offset`.
    fn hex4(&mut self, offset: usize) -> Result<u32, JsonError> {
        let mut unit = 0;
        for _ in 0..4 {
            let digit = char::from(self.next()?)
                .to_digit(16)
                .ok_or(JsonError::InvalidEscape { offset })?;
            unit = unit * 16 + digit;
        }
        Ok(unit)
    }

    /// Reads any JSON value, nested at most [`MAX_DEPTH`] deep.
    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.skip_whitespace();
        let offset = self.pos;
        match self.peek().ok_or(JsonError::UnexpectedEnd)? {
            b'{' | b'[' if depth >= MAX_DEPTH => Err(JsonError::TooDeep { offset }),
            b'{' => {
                let mut members: Vec<(String, Value)> = Vec::new();
                self.object(|reader, key, key_offset| {
                    // A small object is searched as it grows; a large one
                    // once at its end, sorted (a 512-byte JWT header can
                    // hold 60 names: searching as it grows would be
                    // quadratic).
                    if members.len() < LINEAR_NAMES && members.iter().any(|(n, _)| n == key) {
                        return Err(JsonError::DuplicateField { offset: key_offset });
                    }
                    let value = reader.value(depth + 1)?;
                    members.push((key.to_owned(), value));
                    Ok(())
                })?;
                if members.len() > LINEAR_NAMES {
                    let mut names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
                    names.sort_unstable();
                    if names.windows(2).any(|pair| pair.first() == pair.last()) {
                        return Err(JsonError::DuplicateField { offset });
                    }
                }
                Ok(Value::Object(members))
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_whitespace();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.skip_whitespace();
                    let offset = self.pos;
                    match self.next()? {
                        b',' => continue,
                        b']' => return Ok(Value::Array(items)),
                        _ => return Err(JsonError::UnexpectedByte { offset }),
                    }
                }
            }
            b'"' => self.string().map(Value::String),
            b'-' | b'0'..=b'9' => {
                self.skip_number()?;
                // The grammar is checked: the text is ASCII and Rust's
                // float syntax includes JSON's.
                let text = self.input.get(offset..self.pos).unwrap_or_default();
                let number = std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .ok_or(JsonError::InvalidNumber { offset })?;
                if !number.is_finite() {
                    return Err(JsonError::NumberOutOfRange { offset });
                }
                Ok(Value::Number(number))
            }
            _ if self.literal(b"true") => Ok(Value::Bool(true)),
            _ if self.literal(b"false") => Ok(Value::Bool(false)),
            _ if self.literal(b"null") => Ok(Value::Null),
            _ => Err(JsonError::UnexpectedByte { offset }),
        }
    }

    /// Skips any JSON value, checking its grammar, nested at most
    /// [`MAX_DEPTH`] deep.
    fn skip_value(&mut self, depth: usize) -> Result<(), JsonError> {
        self.skip_whitespace();
        let offset = self.pos;
        match self.peek().ok_or(JsonError::UnexpectedEnd)? {
            b'{' | b'[' if depth >= MAX_DEPTH => Err(JsonError::TooDeep { offset }),
            b'{' => self.object(|reader, _, _| reader.skip_value(depth + 1)),
            b'[' => {
                self.pos += 1;
                self.skip_whitespace();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    self.skip_whitespace();
                    let offset = self.pos;
                    match self.next()? {
                        b',' => continue,
                        b']' => return Ok(()),
                        _ => return Err(JsonError::UnexpectedByte { offset }),
                    }
                }
            }
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => self.skip_number(),
            _ if self.literal(b"true") || self.literal(b"false") || self.literal(b"null") => Ok(()),
            _ => Err(JsonError::UnexpectedByte { offset }),
        }
    }

    /// RFC 8259 section 6:
    /// `number = [ minus ] int [ frac ] [ exp ]`.
    fn skip_number(&mut self) -> Result<(), JsonError> {
        let offset = self.pos;
        let invalid = JsonError::InvalidNumber { offset };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.skip_digits();
            }
            _ => return Err(invalid),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.skip_digits() == 0 {
                return Err(invalid);
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.skip_digits() == 0 {
                return Err(invalid);
            }
        }
        Ok(())
    }

    /// Skips ASCII digits; returns how many.
    fn skip_digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn string_bytes(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write_string(&mut out, s);
        out
    }

    #[test]
    fn write_string_escapes_quotes_backslashes_and_controls_only() {
        let table: &[(&str, &[u8])] = &[
            ("", br#""""#),
            ("hello", br#""hello""#),
            ("a\"b\\c", br#""a\"b\\c""#),
            ("\n\r\t\u{8}\u{c}", br#""\n\r\t\b\f""#),
            ("\u{0}\u{1}\u{1f}", br#""\u0000\u0001\u001f""#),
            (
                "\u{7f}/é\u{2028}\u{2029}😀",
                "\"\u{7f}/é\u{2028}\u{2029}😀\"".as_bytes(),
            ),
        ];
        for (input, expected) in table {
            assert_eq!(string_bytes(input), *expected, "{input:?}");
        }
    }

    /// `parse_value` against serde_json: the same tree for what both
    /// read, and an error where serde_json has one (serde_json keeps the
    /// last of duplicate names; this reader refuses them).
    #[test]
    fn parse_value_reads_what_serde_json_reads() {
        fn same(ours: &Value, theirs: &serde_json::Value) -> bool {
            match (ours, theirs) {
                (Value::Null, serde_json::Value::Null) => true,
                (Value::Bool(a), serde_json::Value::Bool(b)) => a == b,
                (Value::Number(a), serde_json::Value::Number(b)) => Some(*a) == b.as_f64(),
                (Value::String(a), serde_json::Value::String(b)) => a == b,
                (Value::Array(a), serde_json::Value::Array(b)) => {
                    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
                }
                (Value::Object(a), serde_json::Value::Object(b)) => {
                    a.len() == b.len()
                        && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
                }
                _ => false,
            }
        }
        let docs = [
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#" { "exp" : 1.5e9 , "nbf":-0.5, "x":[true,false,null,{"y":"\u00e9\ud83d\ude00"}] } "#,
            r#"[]"#,
            r#""s""#,
            r#"0"#,
            r#"-12.5E-3"#,
            r#"{"a":{}}"#,
        ];
        for doc in docs {
            let theirs: serde_json::Value = serde_json::from_str(doc).unwrap();
            let ours = parse_value(doc.as_bytes()).unwrap();
            assert!(same(&ours, &theirs), "{doc}");
        }
        for bad in [
            r#"{"a":1,"a":2}"#,
            r#"{"a":1,}"#,
            "[1,]",
            "01",
            "1e999",
            "nul",
            r#""\ud800""#,
            "{} x",
            "",
        ] {
            assert!(parse_value(bad.as_bytes()).is_err(), "{bad}");
        }
        // Duplicates are found whether the names are searched one by one
        // (at the second name's offset) or, in a large object, sorted (at
        // the object's).
        for n in [3, LINEAR_NAMES, LINEAR_NAMES + 1, 400] {
            for dup in [0, n / 2, n - 1] {
                let members: Vec<String> = (0..n).map(|i| format!(r#""k{i}":{i}"#)).collect();
                let unique = format!("{{{}}}", members.join(","));
                assert!(parse_value(unique.as_bytes()).is_ok(), "{n}");
                let doubled = format!("{{{},\"k{dup}\":0}}", members.join(","));
                assert_eq!(
                    parse_value(doubled.as_bytes()),
                    Err(JsonError::DuplicateField {
                        offset: if n < LINEAR_NAMES { unique.len() } else { 0 }
                    }),
                    "{n} {dup}"
                );
            }
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(matches!(
            parse_value(deep.as_bytes()),
            Err(JsonError::TooDeep { .. })
        ));
    }

    #[test]
    fn write_item_and_batch_match_the_api_examples() {
        let mut first = Vec::new();
        write_item(&mut first, 18, "hello");
        let mut second = Vec::new();
        write_item(&mut second, 19, "x");
        let mut out = Vec::new();
        let head = BatchHead {
            last_id: 19,
            ..BatchHead::default()
        };
        write_batch(&mut out, head, [first.as_slice(), second.as_slice()]);
        assert_eq!(
            out,
            br#"{"last_id":19,"messages":[{"id":18,"data":"hello"},{"id":19,"data":"x"}]}"#
        );
        out.clear();
        let gap = BatchHead { gap: true, ..head };
        write_batch(&mut out, gap, std::iter::empty());
        assert_eq!(out, br#"{"last_id":19,"gap":true,"messages":[]}"#);
        out.clear();
        let more = BatchHead { more: true, ..head };
        write_batch(&mut out, more, [first.as_slice()]);
        assert_eq!(
            out,
            br#"{"last_id":19,"more":true,"messages":[{"id":18,"data":"hello"}]}"#
        );
        assert!(parse_batch(&out).unwrap().more);
    }

    #[test]
    fn write_published_and_channel_info_match_the_api_examples() {
        let mut out = Vec::new();
        write_published(&mut out, 17);
        assert_eq!(out, br#"{"id":17}"#);
        out.clear();
        let info = ChannelInfo {
            last_id: 17,
            history: 17,
            ws: 1,
            sse: 2,
            longpoll: 0,
        };
        write_channel_info(&mut out, &info);
        assert_eq!(
            out,
            br#"{"last_id":17,"history":17,"subscribers":{"ws":1,"sse":2,"longpoll":0}}"#
        );
    }

    #[test]
    fn parse_batch_reads_whitespace_escapes_and_skips_unknown_fields() {
        let input = br#" {
            "extra": [1, -2.5e+3, {"a": [null, true, false, "s"]}, {}, []],
            "messages" : [ {"data":"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "id": 3, "x": 0} ],
            "gap": true,
            "last_id": 3
        } "#;
        let batch = parse_batch(input).unwrap();
        assert_eq!(
            batch,
            Batch {
                last_id: 3,
                gap: true,
                more: false,
                messages: vec![(3, "a\"\\/\u{8}\u{c}\n\r\té😀".to_string())],
            }
        );
    }

    #[test]
    fn parse_item_reads_the_envelope() {
        assert_eq!(
            parse_item(br#"{"id":18,"data":"hello"}"#),
            Ok((18, "hello".to_string()))
        );
        assert_eq!(
            parse_item(br#"{"id":18446744073709551615,"data":""}"#),
            Ok((u64::MAX, String::new()))
        );
    }

    #[test]
    fn malformed_json_is_rejected_with_its_reason() {
        use JsonError::*;
        let table: &[(&[u8], JsonError)] = &[
            (b"", UnexpectedEnd),
            (b"{", UnexpectedEnd),
            (b"{\"id\":1,\"data\":\"ab", UnexpectedEnd),
            (b"[]", UnexpectedByte { offset: 0 }),
            (b"{\"id\":1 \"data\":\"\"}", UnexpectedByte { offset: 8 }),
            (b"{\"id\":1,\"data\":\"\",}", UnexpectedByte { offset: 18 }),
            (b"{\"id\":\"1\",\"data\":\"\"}", InvalidNumber { offset: 6 }),
            (b"{\"id\":-1,\"data\":\"\"}", InvalidNumber { offset: 6 }),
            (b"{\"id\":01,\"data\":\"\"}", InvalidNumber { offset: 6 }),
            (b"{\"id\":1.0,\"data\":\"\"}", InvalidNumber { offset: 6 }),
            (b"{\"id\":1e2,\"data\":\"\"}", InvalidNumber { offset: 6 }),
            (
                b"{\"id\":18446744073709551616,\"data\":\"\"}",
                NumberOutOfRange { offset: 6 },
            ),
            (b"{\"id\":1,\"data\":\"\\x\"}", InvalidEscape { offset: 16 }),
            (
                b"{\"id\":1,\"data\":\"\\u12g4\"}",
                InvalidEscape { offset: 16 },
            ),
            (
                b"{\"id\":1,\"data\":\"\\ud800\"}",
                LoneSurrogate { offset: 16 },
            ),
            (
                b"{\"id\":1,\"data\":\"\\ud800\\u0041\"}",
                LoneSurrogate { offset: 16 },
            ),
            (
                b"{\"id\":1,\"data\":\"\\udc00\"}",
                LoneSurrogate { offset: 16 },
            ),
            (
                b"{\"id\":1,\"data\":\"a\nb\"}",
                ControlCharacter { offset: 17 },
            ),
            (b"{\"id\":1,\"data\":\"\xff\"}", InvalidUtf8 { offset: 16 }),
            (b"{\"id\":1}", MissingField("data")),
            (b"{\"data\":\"\"}", MissingField("id")),
            (
                b"{\"id\":1,\"id\":2,\"data\":\"\"}",
                DuplicateField { offset: 8 },
            ),
            (
                b"{\"id\":1,\"data\":\"\"} x",
                TrailingCharacters { offset: 19 },
            ),
            (
                b"{\"id\":1,\"data\":\"\",\"x\":tru}",
                UnexpectedByte { offset: 22 },
            ),
            (
                b"{\"id\":1,\"data\":\"\",\"x\":-}",
                InvalidNumber { offset: 22 },
            ),
            (
                b"{\"id\":1,\"data\":\"\",\"x\":1.}",
                InvalidNumber { offset: 22 },
            ),
        ];
        for (input, error) in table {
            assert_eq!(
                parse_item(input),
                Err(*error),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(
            parse_batch(br#"{"messages":[]}"#),
            Err(MissingField("last_id"))
        );
        assert_eq!(
            parse_batch(br#"{"last_id":1,"gap":1,"messages":[]}"#),
            Err(UnexpectedByte { offset: 19 })
        );
    }

    #[test]
    fn deeply_nested_unknown_value_is_rejected_without_overflowing_the_stack() {
        let mut input = b"{\"id\":1,\"data\":\"\",\"x\":".to_vec();
        input.extend(std::iter::repeat_n(b'[', 100_000));
        assert!(matches!(parse_item(&input), Err(JsonError::TooDeep { .. })));
    }

    fn item_bytes(id: u64, data: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write_item(&mut out, id, data);
        out
    }

    fn batch_bytes(head: BatchHead, items: &[(u64, String)]) -> Vec<u8> {
        let encoded: Vec<Vec<u8>> = items
            .iter()
            .map(|(id, data)| item_bytes(*id, data))
            .collect();
        let mut out = Vec::new();
        write_batch(&mut out, head, encoded.iter().map(Vec::as_slice));
        out
    }

    /// Strings rich in the characters that need care.
    fn tricky_string() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                any::<char>(),
                prop::sample::select(vec![
                    '"', '\\', '\n', '\r', '\u{0}', '\u{1f}', '\u{2028}', '😀'
                ]),
            ],
            0..32,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #[test]
        fn write_string_output_parses_with_serde_json_to_the_same_string(s in tricky_string()) {
            let parsed: String = serde_json::from_slice(&string_bytes(&s)).unwrap();
            prop_assert_eq!(parsed, s);
        }

        #[test]
        fn write_batch_output_parses_with_serde_json_to_the_right_structure(
            last_id in any::<u64>(),
            gap in any::<bool>(),
            more in any::<bool>(),
            items in prop::collection::vec((any::<u64>(), tricky_string()), 0..6),
        ) {
            let head = BatchHead { last_id, gap, more };
            let value: serde_json::Value = serde_json::from_slice(&batch_bytes(head, &items)).unwrap();
            let messages: Vec<serde_json::Value> = items
                .iter()
                .map(|(id, data)| serde_json::json!({"id": id, "data": data}))
                .collect();
            let mut expected = serde_json::json!({"last_id": last_id, "messages": messages});
            if gap {
                expected["gap"] = serde_json::Value::Bool(true);
            }
            if more {
                expected["more"] = serde_json::Value::Bool(true);
            }
            prop_assert_eq!(value, expected);
        }

        #[test]
        fn parse_batch_of_write_batch_round_trips(
            last_id in any::<u64>(),
            gap in any::<bool>(),
            more in any::<bool>(),
            items in prop::collection::vec((any::<u64>(), tricky_string()), 0..6),
        ) {
            let batch = parse_batch(&batch_bytes(BatchHead { last_id, gap, more }, &items)).unwrap();
            prop_assert_eq!(batch, Batch { last_id, gap, more, messages: items });
        }

        #[test]
        fn parse_item_reads_what_serde_json_writes(id in any::<u64>(), data in tricky_string()) {
            let input = serde_json::to_vec(&serde_json::json!({"data": data, "id": id})).unwrap();
            prop_assert_eq!(parse_item(&input), Ok((id, data)));
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_reader(input in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_batch(&input);
            let _ = parse_item(&input);
        }
    }
}
