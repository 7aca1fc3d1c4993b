//! Reading messages: frames in, reassembled and validated messages out
//! (RFC 6455 sections 5.4, 5.5, 6.2 and 8.1).
//!
//! [`MessageReader`] is fed whatever bytes the socket produced and returns
//! one [`WsEvent`] at a time. It holds all partial state itself (up to 14
//! bytes of an unfinished header inline, the payload of an unfinished
//! message in a `Vec`), so the caller never keeps leftover bytes: it can
//! read every socket into one shared buffer.
//!
//! A fragmented text message with a Ping in the middle, as a client sends it
//! (masked with key `00 00 00 00` to keep the bytes readable):
//!
//! ```text
//! 01 83 00 00 00 00 48 65 6c        Text,         FIN=0  "Hel"
//! 89 80 00 00 00 00                 Ping,         FIN=1  ""    -> Ping event
//! 80 82 00 00 00 00 6c 6f           Continuation, FIN=1  "lo"  -> Text("Hello")
//! ```
//!
//! Rules enforced here, each failing the connection with the code
//! [`WsError::close_code`] gives:
//!
//! - a Continuation with no open message, or a Text/Binary while one is
//!   open (section 5.4): 1002;
//! - text must be UTF-8 (section 8.1), checked on every piece of payload the
//!   moment it arrives, so a bad byte in the first half of a frame fails the
//!   connection before the second half is sent (Autobahn 6.4.*): 1007;
//! - a message may not exceed `max_message_bytes`: checked against the
//!   *declared* length in each frame header, before any of its payload is
//!   buffered: 1009;
//! - a Close payload must be empty or a valid code plus UTF-8 reason
//!   (section 5.5.1, [`close`](super::close)).
//!
//! After a Close has been read the reader ignores further input (section
//! 5.5.1: nothing follows a Close). After an error every call returns the
//! same error.
//!
//! # Buffers and copies
//!
//! Input is `&[u8]`; the reader never keeps a reference to it. Each payload
//! byte is copied exactly once, from the caller's buffer into the `Vec` that
//! becomes the event, and unmasked there in place with
//! [`apply_mask`] at the running payload offset. The
//! event takes that `Vec` by move, so a reader between messages owns no heap
//! memory at all (an empty `Vec` does not allocate). Growth of a large
//! message is amortised (capacity doubles), so a 16 MiB message arriving in
//! 64 KiB reads costs O(n), not O(n²).
//!
//! UTF-8: payload that arrives while the message is still incomplete is
//! validated incrementally by [`Utf8Validator`]; when
//! the message completes, `String::from_utf8` checks the whole message once
//! more (that is what lets the event be a `String` without `unsafe`). A text
//! message that arrives in one read is therefore validated exactly once.

use super::close::parse_close_payload;
use super::error::WsError;
use super::frame::{FrameHeader, HeaderDecoder, Opcode};
use super::mask::apply_mask;
use super::role::Role;
use super::utf8::Utf8Validator;

/// The default limit on the size of one message: 1 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Up to this many bytes are reserved up front for a new message frame; a
/// bigger frame grows its buffer as its bytes arrive, so a peer cannot make
/// the reader reserve a whole `max_message_bytes` by sending one header.
const INITIAL_RESERVE: u64 = 64 * 1024;

/// Something the peer sent, ready for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// A complete text message, validated as UTF-8.
    Text(String),
    /// A complete binary message.
    Binary(Vec<u8>),
    /// A Ping; answer with a Pong carrying the same payload (section 5.5.2).
    Ping(Vec<u8>),
    /// A Pong (solicited or not; section 5.5.3).
    Pong(Vec<u8>),
    /// The peer started (or answered) the closing handshake. `code` is
    /// `None` when the Close frame had no payload (locally known as 1005).
    Close {
        /// The status code, already checked for validity.
        code: Option<u16>,
        /// The reason, possibly empty.
        reason: String,
    },
}

/// The frame whose payload is being read.
#[derive(Debug, Clone, Copy)]
struct PayloadState {
    opcode: Opcode,
    fin: bool,
    mask: Option<[u8; 4]>,
    /// Payload bytes still to read.
    remaining: u64,
    /// Payload bytes already read (the masking offset).
    offset: usize,
}

/// The kind of an open (started, unfinished) data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageKind {
    Text,
    Binary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReaderState {
    Open,
    Closed,
    Failed(WsError),
}

/// Turns a stream of frame bytes into [`WsEvent`]s; see the module docs.
///
/// ```
/// use pushwire::ws::{MessageReader, Role, WsEvent};
///
/// let mut reader = MessageReader::new(Role::Server, 1 << 20);
/// // "Hello" masked with 37 fa 21 3d (RFC 6455 section 5.7), then a Ping.
/// let wire = [
///     0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
///     0x89, 0x80, 0, 0, 0, 0,
/// ];
/// let (used, event) = reader.read(&wire).unwrap();
/// assert_eq!((used, event), (11, Some(WsEvent::Text("Hello".into()))));
/// let (used, event) = reader.read(&wire[11..]).unwrap();
/// assert_eq!((used, event), (6, Some(WsEvent::Ping(Vec::new()))));
/// assert_eq!(reader.read(&[]).unwrap(), (0, None));
/// ```
#[derive(Debug, Clone)]
pub struct MessageReader {
    role: Role,
    max_message_bytes: usize,
    max_fragments: usize,
    /// Frames of the open message so far.
    fragments: usize,
    state: ReaderState,
    header: HeaderDecoder,
    frame: Option<PayloadState>,
    /// The open data message, if any, and its bytes so far.
    kind: Option<MessageKind>,
    message: Vec<u8>,
    utf8: Utf8Validator,
    /// The payload of the control frame being read.
    control: Vec<u8>,
}

impl MessageReader {
    /// A reader for an endpoint playing `role` (a server expects masked
    /// frames, a client unmasked ones), refusing messages larger than
    /// `max_message_bytes` with close code 1009.
    pub fn new(role: Role, max_message_bytes: usize) -> MessageReader {
        MessageReader {
            role,
            max_message_bytes,
            max_fragments: usize::MAX,
            fragments: 0,
            state: ReaderState::Open,
            header: HeaderDecoder::new(),
            frame: None,
            kind: None,
            message: Vec::new(),
            utf8: Utf8Validator::new(),
            control: Vec::new(),
        }
    }

    /// The same reader, refusing a message of more than `max_fragments`
    /// frames with [`WsError::TooManyFragments`] (close 1009). By default
    /// there is no limit; a server sets one, because a peer sending a
    /// message as endless empty continuation frames costs the most work
    /// per byte of any input.
    pub fn with_max_fragments(mut self, max_fragments: usize) -> MessageReader {
        self.max_fragments = max_fragments.max(1);
        self
    }

    /// The role this reader was built for.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The message size limit.
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// Whether a Close frame has been read (further input is ignored).
    pub fn is_closed(&self) -> bool {
        self.state == ReaderState::Closed
    }

    /// Whether the reader is between frames with no partial header and no
    /// open message: a connection may be dropped here without losing data.
    pub fn is_idle(&self) -> bool {
        self.frame.is_none() && self.kind.is_none() && !self.header.is_partial()
    }

    /// Heap bytes held for unfinished messages (capacity, for memory
    /// accounting). Zero whenever no message is partly received.
    pub fn buffered_capacity(&self) -> usize {
        self.message.capacity() + self.control.capacity()
    }

    /// Consumes bytes from `input` until one event is complete or the input
    /// runs out.
    ///
    /// Returns `Ok((consumed, Some(event)))` when an event completed after
    /// `consumed` bytes (call again with the rest), or `Ok((input.len(),
    /// None))` when every byte was taken in and more input is needed. An
    /// error means the connection must be failed: send a Close with
    /// [`WsError::close_code`] and stop reading. Once failed, every call
    /// returns the same error; once a Close was read, every call returns
    /// `Ok((input.len(), None))`.
    pub fn read(&mut self, input: &[u8]) -> Result<(usize, Option<WsEvent>), WsError> {
        match self.state {
            ReaderState::Closed => return Ok((input.len(), None)),
            ReaderState::Failed(err) => return Err(err),
            ReaderState::Open => {}
        }
        match self.read_open(input) {
            Ok(progress) => Ok(progress),
            Err(err) => {
                self.state = ReaderState::Failed(err);
                // Release the buffers: nothing more will be assembled.
                self.message = Vec::new();
                self.control = Vec::new();
                Err(err)
            }
        }
    }

    fn read_open(&mut self, input: &[u8]) -> Result<(usize, Option<WsEvent>), WsError> {
        let mut pos = 0;
        loop {
            let rest = input.get(pos..).unwrap_or(&[]);
            let mut frame = match self.frame {
                Some(frame) => frame,
                None => {
                    let (used, header) = self.header.decode(rest, self.role)?;
                    pos += used;
                    match header {
                        Some(header) => self.begin_frame(header)?,
                        None => return Ok((pos, None)),
                    }
                }
            };
            let rest = input.get(pos..).unwrap_or(&[]);
            let take = usize::try_from(frame.remaining)
                .unwrap_or(usize::MAX)
                .min(rest.len());
            let chunk = rest.get(..take).unwrap_or(&[]);
            let completes_frame = take as u64 == frame.remaining;
            self.take_payload(&frame, chunk, completes_frame)?;
            pos += take;
            frame.remaining -= take as u64;
            // Only `offset % 4` matters for the mask, and 2^64 is a multiple of 4.
            frame.offset = frame.offset.wrapping_add(take);
            if !completes_frame {
                self.frame = Some(frame);
                return Ok((pos, None));
            }
            self.frame = None;
            if let Some(event) = self.finish_frame(&frame)? {
                return Ok((pos, Some(event)));
            }
        }
    }

    /// Checks a new frame against the message state and the size limit.
    fn begin_frame(&mut self, header: FrameHeader) -> Result<PayloadState, WsError> {
        let state = PayloadState {
            opcode: header.opcode,
            fin: header.fin,
            mask: header.mask,
            remaining: header.payload_len,
            offset: 0,
        };
        if header.opcode.is_control() {
            // Length <= 125 was checked by the header decoder.
            self.control = Vec::with_capacity(header.payload_len as usize);
            return Ok(state);
        }
        // RFC 6455 5.4: fragments of one message are not interleaved with
        // another message; a continuation needs a started message.
        let kind = match (header.opcode, self.kind) {
            (Opcode::Continuation, Some(kind)) => kind,
            (Opcode::Continuation, None) => return Err(WsError::UnexpectedContinuation),
            (_, Some(_)) => return Err(WsError::ExpectedContinuation),
            (Opcode::Text, None) => MessageKind::Text,
            (_, None) => MessageKind::Binary,
        };
        let total = (self.message.len() as u64).saturating_add(header.payload_len);
        if total > self.max_message_bytes as u64 {
            return Err(WsError::MessageTooBig(self.max_message_bytes));
        }
        self.fragments = if self.kind.is_some() {
            self.fragments + 1
        } else {
            1
        };
        if self.fragments > self.max_fragments {
            return Err(WsError::TooManyFragments(self.max_fragments));
        }
        self.kind = Some(kind);
        let reserve = header.payload_len.min(INITIAL_RESERVE) as usize;
        self.message.reserve(reserve);
        Ok(state)
    }

    /// Stores, unmasks and (for text) validates one piece of payload.
    fn take_payload(
        &mut self,
        frame: &PayloadState,
        chunk: &[u8],
        completes_frame: bool,
    ) -> Result<(), WsError> {
        let buf = if frame.opcode.is_control() {
            &mut self.control
        } else {
            &mut self.message
        };
        let start = buf.len();
        buf.extend_from_slice(chunk);
        let Some(fresh) = buf.get_mut(start..) else {
            return Ok(());
        };
        if let Some(key) = frame.mask {
            apply_mask(fresh, key, frame.offset);
        }
        // RFC 6455 8.1: fail on invalid UTF-8 as soon as it arrives. The
        // piece that completes the message is checked by the final
        // String::from_utf8 instead, so it is not validated twice.
        let completes_message = completes_frame && frame.fin;
        if self.kind == Some(MessageKind::Text) && !frame.opcode.is_control() && !completes_message
        {
            self.utf8.feed(fresh).map_err(|_| WsError::InvalidUtf8)?;
        }
        Ok(())
    }

    /// Turns a fully read frame into an event, if it completes one.
    fn finish_frame(&mut self, frame: &PayloadState) -> Result<Option<WsEvent>, WsError> {
        match frame.opcode {
            Opcode::Ping => Ok(Some(WsEvent::Ping(std::mem::take(&mut self.control)))),
            Opcode::Pong => Ok(Some(WsEvent::Pong(std::mem::take(&mut self.control)))),
            Opcode::Close => {
                let payload = std::mem::take(&mut self.control);
                let (code, reason) = parse_close_payload(&payload)?;
                let event = WsEvent::Close {
                    code,
                    reason: reason.to_owned(),
                };
                self.state = ReaderState::Closed;
                self.message = Vec::new();
                Ok(Some(event))
            }
            Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                if !frame.fin {
                    return Ok(None);
                }
                let bytes = std::mem::take(&mut self.message);
                self.utf8.reset();
                match self.kind.take() {
                    Some(MessageKind::Text) => String::from_utf8(bytes)
                        .map(|text| Some(WsEvent::Text(text)))
                        .map_err(|_| WsError::InvalidUtf8),
                    _ => Ok(Some(WsEvent::Binary(bytes))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::close;
    use crate::ws::frame::{write_fragment, write_frame, write_header};
    use proptest::prelude::*;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// Feeds `wire` to a fresh reader cut at `cuts` (any values; taken
    /// modulo the length) and collects events until the first error.
    fn feed_split(
        role: Role,
        max: usize,
        wire: &[u8],
        cuts: &[usize],
    ) -> (Vec<WsEvent>, Option<WsError>) {
        let mut reader = MessageReader::new(role, max);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(wire.len());
        let mut events = Vec::new();
        let mut start = 0;
        for end in cuts {
            let mut piece = &wire[start..end];
            loop {
                match reader.read(piece) {
                    Ok((used, Some(event))) => {
                        events.push(event);
                        piece = &piece[used..];
                    }
                    Ok((used, None)) => {
                        assert_eq!(used, piece.len(), "None must mean all consumed");
                        break;
                    }
                    Err(err) => return (events, Some(err)),
                }
            }
            start = end;
        }
        (events, None)
    }

    fn feed_bytewise(role: Role, wire: &[u8]) -> (Vec<WsEvent>, Option<WsError>) {
        let cuts: Vec<usize> = (0..wire.len()).collect();
        feed_split(role, DEFAULT_MAX_MESSAGE_BYTES, wire, &cuts)
    }

    fn feed_whole(role: Role, wire: &[u8]) -> (Vec<WsEvent>, Option<WsError>) {
        feed_split(role, DEFAULT_MAX_MESSAGE_BYTES, wire, &[])
    }

    /// A client frame (masked with KEY).
    fn client(out: &mut Vec<u8>, fin: bool, opcode: Opcode, payload: &[u8]) {
        write_fragment(out, fin, opcode, payload, Some(KEY));
    }

    fn text(s: &str) -> WsEvent {
        WsEvent::Text(s.to_owned())
    }

    #[test]
    fn rfc_examples_decode_for_both_roles() {
        // RFC 6455 5.7: unmasked "Hello" (server to client).
        let unmasked = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        assert_eq!(
            feed_bytewise(Role::Client, &unmasked),
            (vec![text("Hello")], None)
        );
        // RFC 6455 5.7: masked "Hello" (client to server).
        let masked = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(
            feed_bytewise(Role::Server, &masked),
            (vec![text("Hello")], None)
        );
        // RFC 6455 5.7: fragmented unmasked "Hel" + "lo".
        let fragmented = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
        assert_eq!(
            feed_bytewise(Role::Client, &fragmented),
            (vec![text("Hello")], None)
        );
        // RFC 6455 5.7: unmasked Ping "Hello", masked Pong "Hello".
        let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        assert_eq!(
            feed_bytewise(Role::Client, &ping),
            (vec![WsEvent::Ping(b"Hello".to_vec())], None)
        );
        let pong = [
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(
            feed_bytewise(Role::Server, &pong),
            (vec![WsEvent::Pong(b"Hello".to_vec())], None)
        );
    }

    #[test]
    fn control_frames_between_fragments_are_delivered_first() {
        let mut wire = Vec::new();
        client(&mut wire, false, Opcode::Text, b"frag1 ");
        client(&mut wire, true, Opcode::Ping, b"ping payload");
        client(&mut wire, false, Opcode::Continuation, b"frag2 ");
        client(&mut wire, true, Opcode::Pong, b"");
        client(&mut wire, true, Opcode::Continuation, b"frag3");
        let expected = vec![
            WsEvent::Ping(b"ping payload".to_vec()),
            WsEvent::Pong(Vec::new()),
            text("frag1 frag2 frag3"),
        ];
        assert_eq!(feed_whole(Role::Server, &wire), (expected.clone(), None));
        assert_eq!(feed_bytewise(Role::Server, &wire), (expected, None));
    }

    #[test]
    fn empty_messages_are_delivered() {
        let mut wire = Vec::new();
        client(&mut wire, true, Opcode::Text, b"");
        client(&mut wire, true, Opcode::Binary, b"");
        client(&mut wire, false, Opcode::Text, b"");
        client(&mut wire, false, Opcode::Continuation, b"");
        client(&mut wire, true, Opcode::Continuation, b"");
        let expected = vec![text(""), WsEvent::Binary(Vec::new()), text("")];
        assert_eq!(feed_bytewise(Role::Server, &wire), (expected, None));
    }

    #[test]
    fn continuation_without_open_message_is_a_protocol_error() {
        let mut wire = Vec::new();
        client(&mut wire, true, Opcode::Continuation, b"x");
        assert_eq!(
            feed_whole(Role::Server, &wire),
            (vec![], Some(WsError::UnexpectedContinuation))
        );
    }

    #[test]
    fn new_data_frame_while_fragmented_message_is_open_is_a_protocol_error() {
        let mut wire = Vec::new();
        client(&mut wire, false, Opcode::Text, b"a");
        client(&mut wire, true, Opcode::Binary, b"b");
        assert_eq!(
            feed_whole(Role::Server, &wire),
            (vec![], Some(WsError::ExpectedContinuation))
        );
    }

    #[test]
    fn ping_with_125_bytes_is_fine_and_126_is_a_protocol_error() {
        let mut wire = Vec::new();
        client(&mut wire, true, Opcode::Ping, &[b'*'; 125]);
        assert_eq!(
            feed_whole(Role::Server, &wire),
            (vec![WsEvent::Ping(vec![b'*'; 125])], None)
        );
        let mut wire = Vec::new();
        client(&mut wire, true, Opcode::Ping, &[b'*'; 126]);
        assert_eq!(
            feed_whole(Role::Server, &wire),
            (vec![], Some(WsError::ControlFrameTooLong(126)))
        );
    }

    #[test]
    fn invalid_utf8_fails_on_the_first_part_of_a_frame_before_the_rest_arrives() {
        // Autobahn 6.4.3: the frame's first chunk already holds F4 90.
        let payload = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited";
        let mut wire = Vec::new();
        client(&mut wire, true, Opcode::Text, payload);
        let header_len = 6;
        let mut reader = MessageReader::new(Role::Server, DEFAULT_MAX_MESSAGE_BYTES);
        // Header plus the payload up to and including 0x90.
        let first = &wire[..header_len + 13];
        assert_eq!(reader.read(first), Err(WsError::InvalidUtf8));
        // One byte short of 0x90: still fine.
        let mut reader = MessageReader::new(Role::Server, DEFAULT_MAX_MESSAGE_BYTES);
        assert_eq!(
            reader.read(&wire[..header_len + 12]),
            Ok((header_len + 12, None))
        );
        assert_eq!(
            reader.read(&wire[header_len + 12..]),
            Err(WsError::InvalidUtf8)
        );
    }

    #[test]
    fn invalid_utf8_in_a_middle_fragment_fails_before_the_final_fragment() {
        // Autobahn 6.4.1: three fragments, the second makes it invalid.
        let mut first = Vec::new();
        client(
            &mut first,
            false,
            Opcode::Text,
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
        );
        let mut second = Vec::new();
        client(
            &mut second,
            false,
            Opcode::Continuation,
            b"\xf4\x90\x80\x80",
        );
        let mut reader = MessageReader::new(Role::Server, DEFAULT_MAX_MESSAGE_BYTES);
        assert_eq!(reader.read(&first), Ok((first.len(), None)));
        assert_eq!(reader.read(&second), Err(WsError::InvalidUtf8));
        assert_eq!(reader.read(b"anything"), Err(WsError::InvalidUtf8));
    }

    #[test]
    fn text_split_inside_a_code_point_across_fragments_is_valid() {
        let mut wire = Vec::new();
        client(&mut wire, false, Opcode::Text, b"\xe2");
        client(&mut wire, false, Opcode::Continuation, b"\x82");
        client(&mut wire, true, Opcode::Continuation, b"\xac");
        assert_eq!(feed_bytewise(Role::Server, &wire), (vec![text("€")], None));
    }

    #[test]
    fn text_ending_inside_a_code_point_is_invalid() {
        let mut wire = Vec::new();
        client(&mut wire, false, Opcode::Text, b"ok\xe2\x82");
        client(&mut wire, true, Opcode::Continuation, b"");
        assert_eq!(
            feed_bytewise(Role::Server, &wire),
            (vec![], Some(WsError::InvalidUtf8))
        );
        assert_eq!(
            feed_whole(Role::Server, &wire),
            (vec![], Some(WsError::InvalidUtf8))
        );
    }

    #[test]
    fn binary_is_not_checked_for_utf8() {
        let mut wire = Vec::new();
        client(&mut wire, true, Opcode::Binary, b"\xff\xfe");
        assert_eq!(
            feed_bytewise(Role::Server, &wire),
            (vec![WsEvent::Binary(vec![0xff, 0xfe])], None)
        );
    }

    #[test]
    fn message_over_the_limit_fails_from_the_header_before_buffering() {
        let mut reader = MessageReader::new(Role::Server, 10);
        let mut header = Vec::new();
        write_header(&mut header, true, Opcode::Binary, Some(KEY), 11);
        assert_eq!(reader.read(&header), Err(WsError::MessageTooBig(10)));
        assert_eq!(reader.buffered_capacity(), 0);
        // The limit counts the whole message across fragments.
        let mut wire = Vec::new();
        client(&mut wire, false, Opcode::Text, b"123456");
        client(&mut wire, true, Opcode::Continuation, b"12345");
        assert_eq!(
            feed_split(Role::Server, 10, &wire, &[]),
            (vec![], Some(WsError::MessageTooBig(10)))
        );
        let mut wire = Vec::new();
        client(&mut wire, false, Opcode::Text, b"123456");
        client(&mut wire, true, Opcode::Continuation, b"1234");
        assert_eq!(
            feed_split(Role::Server, 10, &wire, &[]),
            (vec![text("1234561234")], None)
        );
    }

    #[test]
    fn close_frames_are_parsed_and_then_input_is_ignored() {
        let mut wire = Vec::new();
        close::write_close(&mut wire, close::GOING_AWAY, "bye", Some(KEY));
        client(&mut wire, true, Opcode::Text, b"after close");
        wire.extend_from_slice(b"\xff\xff garbage");
        let (events, err) = feed_bytewise(Role::Server, &wire);
        assert_eq!(
            events,
            vec![WsEvent::Close {
                code: Some(1001),
                reason: "bye".into()
            }]
        );
        assert_eq!(err, None);
    }

    #[test]
    fn close_payload_errors_map_to_their_codes() {
        let table: &[(&[u8], Option<WsError>)] = &[
            (b"", None),
            (b"\x03", Some(WsError::CloseFrameTooShort)),
            (b"\x03\xe8", None),
            (b"\x03\xed", Some(WsError::InvalidCloseCode(1005))),
            (b"\x03\xe8\xff", Some(WsError::InvalidCloseReason)),
        ];
        for (payload, err) in table {
            let mut wire = Vec::new();
            client(&mut wire, true, Opcode::Close, payload);
            assert_eq!(feed_whole(Role::Server, &wire).1, *err, "{payload:02x?}");
        }
    }

    #[test]
    fn idle_reader_holds_no_heap_buffer() {
        let mut wire = Vec::new();
        client(&mut wire, false, Opcode::Binary, &[7; 1000]);
        client(&mut wire, true, Opcode::Ping, b"p");
        client(&mut wire, true, Opcode::Continuation, &[7; 1000]);
        let mut reader = MessageReader::new(Role::Server, DEFAULT_MAX_MESSAGE_BYTES);
        assert_eq!(reader.buffered_capacity(), 0);
        let mut input = &wire[..];
        let mut events = 0;
        while let Ok((used, Some(_))) = reader.read(input) {
            input = &input[used..];
            events += 1;
        }
        assert_eq!(events, 2);
        assert!(reader.is_idle());
        assert_eq!(reader.buffered_capacity(), 0);
    }

    #[test]
    fn wrong_masking_for_the_role_is_a_protocol_error() {
        let mut masked = Vec::new();
        write_frame(&mut masked, Opcode::Text, b"x", Some(KEY));
        let mut unmasked = Vec::new();
        write_frame(&mut unmasked, Opcode::Text, b"x", None);
        assert_eq!(
            feed_whole(Role::Client, &masked).1,
            Some(WsError::MaskedServerFrame)
        );
        assert_eq!(
            feed_whole(Role::Server, &unmasked).1,
            Some(WsError::UnmaskedClientFrame)
        );
    }

    #[test]
    fn large_message_in_many_reads_is_reassembled() {
        let payload: Vec<u8> = (0..3_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut wire = Vec::new();
        for (i, piece) in payload.chunks(1 << 20).enumerate() {
            let op = if i == 0 {
                Opcode::Text
            } else {
                Opcode::Continuation
            };
            let last = (i + 1) << 20 >= payload.len();
            client(&mut wire, last, op, piece);
        }
        let cuts: Vec<usize> = (1..wire.len() / 65536).map(|i| i * 65536 + 7).collect();
        let (events, err) = feed_split(Role::Server, 16 << 20, &wire, &cuts);
        assert_eq!(err, None);
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0],
            WsEvent::Text(String::from_utf8(payload).unwrap())
        );
    }

    /// One message of the round-trip property: its kind and payload.
    #[derive(Debug, Clone)]
    enum Sent {
        Text(String),
        Binary(Vec<u8>),
    }

    fn length_class() -> impl Strategy<Value = usize> {
        prop_oneof![
            Just(0usize),
            1usize..125,
            Just(125),
            Just(126),
            Just(65535),
            Just(65536),
            65537usize..70000,
        ]
    }

    fn sent_message() -> impl Strategy<Value = Sent> {
        prop_oneof![
            (length_class(), any::<u8>()).prop_map(|(len, seed)| {
                // Mixed-width text, trimmed to about `len` bytes.
                let unit = ["a", "é", "€", "𝄞"][usize::from(seed % 4)];
                let mut s = String::with_capacity(len + 4);
                while s.len() < len {
                    s.push_str(unit);
                    s.push(char::from(b'a' + seed % 26));
                }
                Sent::Text(s)
            }),
            (length_class(), any::<u8>()).prop_map(|(len, seed)| {
                Sent::Binary((0..len).map(|i| (i as u8).wrapping_mul(seed)).collect())
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn encode_then_decode_is_identity_for_any_split_fragmenting_and_role(
            messages in proptest::collection::vec(sent_message(), 1..4),
            fragment_cuts in proptest::collection::vec(any::<usize>(), 0..4),
            ping_between in any::<bool>(),
            read_cuts in proptest::collection::vec(any::<usize>(), 0..12),
            server in any::<bool>(),
            key in any::<[u8; 4]>(),
        ) {
            // Frames written by the peer of `role`.
            let role = if server { Role::Server } else { Role::Client };
            let mask = if server { Some(key) } else { None };
            let mut wire = Vec::new();
            let mut expected = Vec::new();
            for message in &messages {
                let (opcode, bytes, event) = match message {
                    Sent::Text(s) => (Opcode::Text, s.as_bytes(), WsEvent::Text(s.clone())),
                    Sent::Binary(b) => (Opcode::Binary, &b[..], WsEvent::Binary(b.clone())),
                };
                let mut cuts: Vec<usize> =
                    fragment_cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
                cuts.sort_unstable();
                cuts.push(bytes.len());
                let mut start = 0;
                let last = cuts.len() - 1;
                for (i, end) in cuts.into_iter().enumerate() {
                    let op = if i == 0 { opcode } else { Opcode::Continuation };
                    write_fragment(&mut wire, i == last, op, &bytes[start..end], mask);
                    if ping_between && i != last {
                        let ping = format!("ping {i}");
                        write_frame(&mut wire, Opcode::Ping, ping.as_bytes(), mask);
                        expected.push(WsEvent::Ping(ping.into_bytes()));
                    }
                    start = end;
                }
                expected.push(event);
            }
            close::write_close(&mut wire, close::NORMAL, "done", mask);
            expected.push(WsEvent::Close { code: Some(1000), reason: "done".into() });
            let (events, err) = feed_split(role, 1 << 20, &wire, &read_cuts);
            prop_assert_eq!(err, None);
            prop_assert_eq!(events, expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_splits_agree(
            wire in proptest::collection::vec(any::<u8>(), 0..200),
            cuts in proptest::collection::vec(any::<usize>(), 0..10),
            server in any::<bool>(),
        ) {
            let role = if server { Role::Server } else { Role::Client };
            let whole = feed_split(role, 64, &wire, &[]);
            let split = feed_split(role, 64, &wire, &cuts);
            prop_assert_eq!(whole, split);
        }
    }
}
