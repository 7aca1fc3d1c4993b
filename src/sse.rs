//! Server-Sent Events (WHATWG HTML "9.2 Server-sent events"): encoding for
//! the server, and the section 9.2.6 "Interpreting an event stream" parser
//! for the client role.
//!
//! An event stream is UTF-8 text (`Content-Type: text/event-stream`) made of
//! lines. A line is `field: value`; a blank line dispatches the event built
//! from the lines before it; a line starting with `:` is a comment. What
//! pushwire sends on `GET /sse/{channel}`:
//!
//! ```text
//! retry: 2000\n                  reconnect after 2 s if the stream drops
//! \n
//! id: 18\n                       the browser's lastEventId; sent back as
//! data: hello\n                  Last-Event-ID when EventSource reconnects
//! \n                             dispatch: a "message" event, data "hello"
//! id: 19\n
//! data: two\n                    multi-line data is one data: line per line,
//! data: lines\n                  joined with LF by the parser: "two\nlines"
//! \n
//! : keep-alive\n                 a comment, so proxies keep the stream open
//! \n
//! event: gap\n                   a named event: messages were lost
//! data: {"since":3,"oldest":9}\n
//! \n
//! ```
//!
//! # Writing
//!
//! [`write_event`] writes `id: 18`, an optional `event:` line and one
//! `data:` line per line of the data, each line ending in LF. The parser
//! (section 9.2.6) appends every `data:` value plus an LF to its data
//! buffer and removes the *last* LF at dispatch, so data `"a\n"` is written
//! as `data: a` + `data: ` and comes back as `"a\n"`; `""` is written as
//! one `data: ` line and comes back as `""` (a data buffer of `"\n"` is not
//! empty, so the event is dispatched). The value is always preceded by a
//! space, because the parser strips exactly one leading space: data
//! `" x"` is written `data:  x`.
//!
//! **Limitation of the format:** a parser turns every line break (CRLF, LF
//! or a lone CR) into LF, so data containing `"\r\n"` or `"\r"` arrives with
//! `"\n"` there. Everything else, including NUL, round-trips exactly.
//!
//! An event type or comment containing a line break would end its line early
//! and inject fields, so [`write_event`] and [`write_comment`] replace CR and
//! LF in those with a space.
//!
//! **The gap event** ([`write_gap`]) is `event: gap` with data
//! `{"since":N,"oldest":M}` (N: the id the client resumed after; M: the
//! oldest id still in history, so ids N+1 to M-1 were lost) and *no* `id:`
//! line: the client's last event id stays at the last message it really
//! received, and the next message (id M or later) moves it on.
//!
//! # Reading
//!
//! [`EventStreamParser`] implements section 9.2.6 exactly and incrementally:
//! a leading BOM is stripped, lines end in CRLF, LF or CR (a CR ending one
//! feed and an LF starting the next are one line end), bytes are decoded as
//! UTF-8 with U+FFFD replacement (a character split across feeds is joined
//! first, since a line is decoded only once it is complete), `id` values
//! containing NUL are ignored, `retry` takes digits only, and an event whose
//! data buffer is empty is not dispatched. Any split of the input gives the
//! same items.

use std::fmt;

use crate::decimal::{parse_decimal, write_u64};

/// Appends one event: `id: 18\n`, `event: <type>\n` when given, one
/// `data: ` line per line of `data`, then the blank line that dispatches it.
///
/// ```
/// let mut out = Vec::new();
/// pushwire::sse::write_event(&mut out, 18, None, "hello\nworld");
/// assert_eq!(out, b"id: 18\ndata: hello\ndata: world\n\n");
/// ```
pub fn write_event(out: &mut Vec<u8>, id: u64, event: Option<&str>, data: &str) {
    out.extend_from_slice(b"id: ");
    write_u64(out, id);
    out.push(b'\n');
    if let Some(event) = event {
        out.extend_from_slice(b"event: ");
        write_one_line(out, event);
        out.push(b'\n');
    }
    write_data(out, data);
    out.push(b'\n');
}

/// Appends the gap announcement: `event: gap\ndata: {"since":N,"oldest":M}\n\n`,
/// without an `id:` line (see the module docs).
///
/// ```
/// let mut out = Vec::new();
/// pushwire::sse::write_gap(&mut out, 3, 9);
/// assert_eq!(out, b"event: gap\ndata: {\"since\":3,\"oldest\":9}\n\n");
/// ```
pub fn write_gap(out: &mut Vec<u8>, since: u64, oldest: u64) {
    out.extend_from_slice(b"event: gap\ndata: {\"since\":");
    write_u64(out, since);
    out.extend_from_slice(b",\"oldest\":");
    write_u64(out, oldest);
    out.extend_from_slice(b"}\n\n");
}

/// The event that ends a stream whose token expired (docs/auth.md): a
/// page listens for `auth`, fetches a new token and reconnects with it.
pub const AUTH_EXPIRED: &[u8] =
    b"event: auth\ndata: {\"error\":\"invalid_token\",\"reason\":\"expired\"}\n\n";

/// Appends `retry: <millis>\n\n`: how long a client waits before it
/// reconnects.
///
/// ```
/// let mut out = Vec::new();
/// pushwire::sse::write_retry(&mut out, 2000);
/// assert_eq!(out, b"retry: 2000\n\n");
/// ```
pub fn write_retry(out: &mut Vec<u8>, millis: u64) {
    out.extend_from_slice(b"retry: ");
    write_u64(out, millis);
    out.extend_from_slice(b"\n\n");
}

/// Appends a comment, `: <text>\n\n`, which clients ignore (pushwire's
/// heartbeat). CR and LF in `text` are replaced with spaces.
///
/// ```
/// let mut out = Vec::new();
/// pushwire::sse::write_comment(&mut out, "keep-alive");
/// assert_eq!(out, b": keep-alive\n\n");
/// ```
pub fn write_comment(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b": ");
    write_one_line(out, text);
    out.extend_from_slice(b"\n\n");
}

/// Appends `text` with each CR and LF replaced by a space, so it stays on
/// one line.
fn write_one_line(out: &mut Vec<u8>, text: &str) {
    let mut rest = text.as_bytes();
    while let Some(end) = rest.iter().position(|&byte| byte == b'\r' || byte == b'\n') {
        out.extend_from_slice(rest.get(..end).unwrap_or_default());
        out.push(b' ');
        rest = rest.get(end + 1..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
}

/// Appends one `data: <line>\n` per line of `data`, splitting at CRLF, LF
/// and CR (the three line ends of section 9.2.5).
fn write_data(out: &mut Vec<u8>, data: &str) {
    let mut rest = data.as_bytes();
    loop {
        out.extend_from_slice(b"data: ");
        match rest.iter().position(|&byte| byte == b'\r' || byte == b'\n') {
            Some(end) => {
                out.extend_from_slice(rest.get(..end).unwrap_or_default());
                out.push(b'\n');
                let crlf = rest.get(end..end + 2) == Some(b"\r\n".as_slice());
                rest = rest
                    .get(end + if crlf { 2 } else { 1 }..)
                    .unwrap_or_default();
            }
            None => {
                out.extend_from_slice(rest);
                out.push(b'\n');
                return;
            }
        }
    }
}

/// A dispatched event, as an `EventSource` would deliver it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The `event:` field, or `"message"` when there was none.
    pub event_type: String,
    /// The `data:` lines, joined with LF.
    pub data: String,
    /// The last `id:` seen on the stream so far (it persists across events).
    pub last_event_id: String,
}

/// What the parser found in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// An event was dispatched.
    Event(Event),
    /// A valid `retry:` field set the reconnection time, in milliseconds.
    Retry(u64),
    /// A comment line; the text after `:`, one leading space removed.
    Comment(String),
}

/// Why the parser stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseError {
    /// One event (its pending line, data and type) grew past the parser's
    /// limit.
    EventTooLarge,
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::EventTooLarge => f.write_str("event stream event is larger than the limit"),
        }
    }
}

impl std::error::Error for SseError {}

/// The UTF-8 byte order mark, stripped at the start of the stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// An incremental WHATWG HTML section 9.2.6 event stream parser.
///
/// ```
/// use pushwire::sse::{EventStreamParser, SseItem};
///
/// let mut parser = EventStreamParser::new(1 << 20);
/// let mut items = Vec::new();
/// parser.feed(b"id: 7\ndata: hel", &mut items).unwrap();
/// parser.feed(b"lo\n\n", &mut items).unwrap();
/// let SseItem::Event(event) = &items[0] else { panic!() };
/// assert_eq!((event.data.as_str(), event.last_event_id.as_str()), ("hello", "7"));
/// ```
#[derive(Debug, Clone)]
pub struct EventStreamParser {
    max_event: usize,
    /// How many bytes of a leading BOM were seen; `None` once past it.
    bom_matched: Option<usize>,
    /// The last feed ended in CR: an LF starting the next belongs to it.
    after_cr: bool,
    /// The bytes of the line being read, not yet decoded.
    line: Vec<u8>,
    data: String,
    event_type: String,
    last_event_id: String,
    failed: bool,
}

impl EventStreamParser {
    /// A parser that refuses an event once its pending line, data buffer and
    /// event type together exceed `max_event` bytes.
    pub fn new(max_event: usize) -> Self {
        EventStreamParser {
            max_event,
            bom_matched: Some(0),
            after_cr: false,
            line: Vec::new(),
            data: String::new(),
            event_type: String::new(),
            last_event_id: String::new(),
            failed: false,
        }
    }

    /// The last event id seen, what a reconnecting client sends as
    /// `Last-Event-ID`.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// Parses the next bytes of the stream, appending what they complete to
    /// `out`. An incomplete line or event is kept for the next call. After
    /// an error the parser keeps returning it.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<SseItem>) -> Result<(), SseError> {
        if self.failed {
            return Err(SseError::EventTooLarge);
        }
        let result = self.feed_inner(input, out);
        self.failed = result.is_err();
        result
    }

    fn feed_inner(&mut self, input: &[u8], out: &mut Vec<SseItem>) -> Result<(), SseError> {
        let mut rest = input;
        // The UTF-8 decode algorithm strips one leading BOM.
        while let Some(matched) = self.bom_matched {
            let Some(&byte) = rest.first() else {
                return Ok(());
            };
            if BOM.get(matched) == Some(&byte) {
                rest = rest.get(1..).unwrap_or_default();
                let matched = matched + 1;
                self.bom_matched = (matched < BOM.len()).then_some(matched);
            } else {
                // Not a BOM after all: the bytes matched so far are text.
                self.push_line_bytes(BOM.get(..matched).unwrap_or_default())?;
                self.bom_matched = None;
            }
        }
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if rest.first() == Some(&b'\n') {
                    rest = rest.get(1..).unwrap_or_default();
                    continue;
                }
            }
            match rest.iter().position(|&byte| byte == b'\r' || byte == b'\n') {
                Some(end) => {
                    self.push_line_bytes(rest.get(..end).unwrap_or_default())?;
                    self.after_cr = rest.get(end) == Some(&b'\r');
                    rest = rest.get(end + 1..).unwrap_or_default();
                    self.process_line(out)?;
                }
                None => {
                    self.push_line_bytes(rest)?;
                    break;
                }
            }
        }
        Ok(())
    }

    fn pending_len(&self) -> usize {
        self.line
            .len()
            .saturating_add(self.data.len())
            .saturating_add(self.event_type.len())
    }

    fn push_line_bytes(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.pending_len().saturating_add(bytes.len()) > self.max_event {
            return Err(SseError::EventTooLarge);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// Section 9.2.6, for one complete line (its line end already removed).
    fn process_line(&mut self, out: &mut Vec<SseItem>) -> Result<(), SseError> {
        let mut bytes = std::mem::take(&mut self.line);
        let line = String::from_utf8_lossy(&bytes);
        let result = self.interpret(&line, out);
        drop(line);
        // Keep the line buffer's capacity for the next line.
        bytes.clear();
        self.line = bytes;
        result
    }

    fn interpret(&mut self, line: &str, out: &mut Vec<SseItem>) -> Result<(), SseError> {
        // "If the line is empty (a blank line): Dispatch the event."
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        // "If the line starts with a U+003A COLON character (:): Ignore the line."
        if let Some(comment) = line.strip_prefix(':') {
            let comment = comment.strip_prefix(' ').unwrap_or(comment);
            out.push(SseItem::Comment(comment.to_string()));
            return Ok(());
        }
        // "If the line contains a U+003A COLON character": the field is what
        // comes before the first colon, the value what comes after, with one
        // leading space removed. Otherwise the whole line is the field name
        // and the value is empty.
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => {
                self.event_type.clear();
                self.event_type.push_str(value);
            }
            "data" => {
                let grown = self
                    .pending_len()
                    .saturating_add(value.len())
                    .saturating_add(1);
                if grown > self.max_event {
                    return Err(SseError::EventTooLarge);
                }
                self.data.push_str(value);
                self.data.push('\n');
            }
            // "If the field value does not contain U+0000 NULL, then set the
            // last event ID buffer to the field value. Otherwise, ignore the
            // field."
            "id" if !value.contains('\0') => {
                self.last_event_id.clear();
                self.last_event_id.push_str(value);
            }
            // "If the field value consists of only ASCII digits, then
            // interpret the field value as an integer in base ten". An
            // empty value, or one too large for u64, is ignored.
            "retry" => {
                if let Some(millis) = parse_decimal(value.as_bytes()) {
                    out.push(SseItem::Retry(millis));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// "Dispatch the event", section 9.2.6.
    fn dispatch(&mut self, out: &mut Vec<SseItem>) {
        // "If the data buffer is an empty string, set the data buffer and the
        // event type buffer to the empty string and return."
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        // "If the data buffer's last character is a U+000A LINE FEED (LF)
        // character, then remove the last character from the data buffer."
        if self.data.ends_with('\n') {
            self.data.pop();
        }
        let event_type = if self.event_type.is_empty() {
            String::from("message")
        } else {
            std::mem::take(&mut self.event_type)
        };
        out.push(SseItem::Event(Event {
            event_type,
            data: std::mem::take(&mut self.data),
            last_event_id: self.last_event_id.clone(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(input: &[u8]) -> Vec<SseItem> {
        let mut parser = EventStreamParser::new(1 << 20);
        let mut items = Vec::new();
        parser.feed(input, &mut items).unwrap();
        items
    }

    fn parse_bytewise(input: &[u8]) -> Vec<SseItem> {
        let mut parser = EventStreamParser::new(1 << 20);
        let mut items = Vec::new();
        for byte in input {
            parser.feed(std::slice::from_ref(byte), &mut items).unwrap();
        }
        items
    }

    fn event(event_type: &str, data: &str, last_event_id: &str) -> SseItem {
        SseItem::Event(Event {
            event_type: event_type.to_string(),
            data: data.to_string(),
            last_event_id: last_event_id.to_string(),
        })
    }

    /// Checks `input` whole and byte by byte against the expected items.
    fn assert_parses(input: &[u8], expected: &[SseItem]) {
        assert_eq!(
            parse(input),
            expected,
            "whole: {:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(
            parse_bytewise(input),
            expected,
            "bytewise: {:?}",
            String::from_utf8_lossy(input)
        );
    }

    #[test]
    fn spec_example_stock_ticker_joins_data_lines() {
        assert_parses(
            b"data: YHOO\ndata: +2\ndata: 10\n\n",
            &[event("message", "YHOO\n+2\n10", "")],
        );
    }

    #[test]
    fn spec_example_ids_persist_and_reset_and_one_space_is_stripped() {
        let stream = b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n";
        assert_parses(
            stream,
            &[
                SseItem::Comment("test stream".to_string()),
                event("message", "first event", "1"),
                event("message", "second event", ""),
                event("message", " third event", ""),
            ],
        );
    }

    #[test]
    fn spec_example_empty_data_and_unterminated_block() {
        assert_parses(
            b"data\n\ndata\ndata\n\ndata:",
            &[event("message", "", ""), event("message", "\n", "")],
        );
    }

    #[test]
    fn spec_example_space_after_colon_is_optional() {
        assert_parses(
            b"data:test\n\ndata: test\n\n",
            &[event("message", "test", ""), event("message", "test", "")],
        );
    }

    #[test]
    fn all_three_line_endings_end_lines() {
        assert_parses(
            b"data: a\r\ndata: b\rdata: c\n\r\n",
            &[event("message", "a\nb\nc", "")],
        );
    }

    #[test]
    fn cr_at_end_of_feed_and_lf_in_next_feed_are_one_line_end() {
        let mut parser = EventStreamParser::new(1 << 20);
        let mut items = Vec::new();
        parser.feed(b"data: a\r", &mut items).unwrap();
        parser.feed(b"\ndata: b\r", &mut items).unwrap();
        parser.feed(b"\n\r", &mut items).unwrap();
        parser.feed(b"\n", &mut items).unwrap();
        assert_eq!(items, [event("message", "a\nb", "")]);
    }

    #[test]
    fn leading_bom_is_stripped_once() {
        assert_parses(b"\xEF\xBB\xBFdata: x\n\n", &[event("message", "x", "")]);
        // A second BOM is part of the first line: field "\u{feff}data".
        assert_parses(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n", &[]);
        // A partial BOM is text, decoded with replacement.
        assert_parses(
            b"\xEF\xBBdata: x\n\ndata: y\n\n",
            &[event("message", "y", "")],
        );
    }

    #[test]
    fn utf8_split_across_feeds_is_joined_and_invalid_bytes_become_replacement() {
        assert_parses("data: é😀\n\n".as_bytes(), &[event("message", "é😀", "")]);
        assert_parses(
            b"data: a\xffb\xe2\x82\n\n",
            &[event("message", "a\u{fffd}b\u{fffd}", "")],
        );
    }

    #[test]
    fn id_with_nul_is_ignored() {
        assert_parses(
            b"id: 1\n\nid: 2\0\ndata: x\n\n",
            &[event("message", "x", "1")],
        );
    }

    #[test]
    fn retry_takes_digits_only() {
        assert_parses(
            b"retry: 2000\nretry: 12a\nretry:\nretry: -1\nretry: +3\nretry:  5\nretry: 99999999999999999999\nretry:7\n",
            &[SseItem::Retry(2000), SseItem::Retry(7)],
        );
    }

    #[test]
    fn event_type_is_used_once_and_unknown_fields_are_ignored() {
        assert_parses(
            b"event: gap\nfoo: bar\ndata: 1\n\ndata: 2\n\nevent: lost\n\ndata: 3\n\n",
            &[
                event("gap", "1", ""),
                event("message", "2", ""),
                event("message", "3", ""),
            ],
        );
    }

    #[test]
    fn field_names_are_case_sensitive_and_colon_splits_at_the_first() {
        assert_parses(b"Data: no\ndata: a: b\n\n", &[event("message", "a: b", "")]);
    }

    #[test]
    fn oversized_event_is_refused() {
        let mut parser = EventStreamParser::new(8);
        let mut items = Vec::new();
        assert!(parser.feed(b"data: 1\n", &mut items).is_ok());
        assert_eq!(
            parser.feed(b"data: 2\n", &mut items),
            Err(SseError::EventTooLarge)
        );
        assert_eq!(parser.feed(b"\n", &mut items), Err(SseError::EventTooLarge));
    }

    #[test]
    fn writers_produce_the_api_bytes() {
        let mut out = Vec::new();
        write_retry(&mut out, 2000);
        write_event(&mut out, 18, None, "hello");
        write_comment(&mut out, "keep-alive");
        assert_eq!(
            out,
            b"retry: 2000\n\nid: 18\ndata: hello\n\n: keep-alive\n\n"
        );
    }

    #[test]
    fn trailing_line_break_and_empty_data_survive_the_last_lf_rule() {
        for (data, wire) in [
            ("a\n", "id: 1\ndata: a\ndata: \n\n"),
            ("", "id: 1\ndata: \n\n"),
            ("\n", "id: 1\ndata: \ndata: \n\n"),
            (" x", "id: 1\ndata:  x\n\n"),
        ] {
            let mut out = Vec::new();
            write_event(&mut out, 1, None, data);
            assert_eq!(String::from_utf8_lossy(&out), wire);
            assert_eq!(parse(&out), [event("message", data, "1")]);
        }
    }

    #[test]
    fn line_breaks_in_event_type_and_comment_cannot_inject_fields() {
        let mut out = Vec::new();
        write_comment(&mut out, "a\ndata: evil");
        write_event(&mut out, 2, Some("x\r\nid: 9"), "ok");
        assert_eq!(
            parse(&out),
            [
                SseItem::Comment("a data: evil".to_string()),
                event("x  id: 9", "ok", "2")
            ]
        );
    }

    #[test]
    fn gap_event_keeps_the_last_event_id() {
        let mut out = Vec::new();
        write_event(&mut out, 3, None, "m");
        write_gap(&mut out, 3, 9);
        assert_eq!(
            parse(&out),
            [
                event("message", "m", "3"),
                event("gap", "{\"since\":3,\"oldest\":9}", "3"),
            ]
        );
    }

    /// What a parser gives back for `data`: every line break becomes LF.
    fn normalize_line_breaks(data: &str) -> String {
        data.replace("\r\n", "\n").replace('\r', "\n")
    }

    fn tricky_data() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                any::<char>(),
                prop::sample::select(vec!['\n', '\r', ' ', ':', '\u{0}', 'é', '😀', '\u{feff}']),
            ],
            0..24,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #[test]
        fn written_events_parse_back_in_any_split(
            events in prop::collection::vec(
                (any::<u64>(), prop::option::of("[a-z ]{0,6}"), tricky_data()),
                1..4,
            ),
            bom in any::<bool>(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let mut wire = Vec::new();
            if bom {
                wire.extend_from_slice(BOM);
            }
            write_retry(&mut wire, 1500);
            let mut expected = vec![SseItem::Retry(1500)];
            for (id, event_type, data) in &events {
                write_event(&mut wire, *id, event_type.as_deref(), data);
                write_comment(&mut wire, "keep-alive");
                let event_type = match event_type.as_deref() {
                    None | Some("") => "message",
                    Some(event_type) => event_type,
                };
                expected.push(event(event_type, &normalize_line_breaks(data), &id.to_string()));
                expected.push(SseItem::Comment("keep-alive".to_string()));
            }

            let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(wire.len() + 1)).collect();
            cuts.push(0);
            cuts.push(wire.len());
            cuts.sort_unstable();
            let mut parser = EventStreamParser::new(1 << 20);
            let mut items = Vec::new();
            for pair in cuts.windows(2) {
                parser.feed(&wire[pair[0]..pair[1]], &mut items).unwrap();
            }
            prop_assert_eq!(items, expected);
            prop_assert_eq!(parser.last_event_id(), events.last().map(|e| e.0.to_string()).unwrap_or_default());
        }

        #[test]
        fn arbitrary_bytes_parse_the_same_whole_and_bytewise(
            input in prop::collection::vec(
                prop::sample::select(b"data:id retry\r\n\xef\xbb\xbf\xc3\xa90\x00:".to_vec()),
                0..80,
            ),
        ) {
            prop_assert_eq!(parse(&input), parse_bytewise(&input));
        }
    }
}
