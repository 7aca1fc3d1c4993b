//! Frame headers: decoding (incrementally) and encoding (RFC 6455 section 5.2).
//!
//! A header is 2 to 14 bytes:
//!
//! ```text
//! byte 0   FIN | RSV1 | RSV2 | RSV3 | opcode (4 bits)
//! byte 1   MASK | payload length (7 bits)
//!          7-bit length 0-125: that is the length
//!                       126:   the next 2 bytes are the length (big-endian)
//!                       127:   the next 8 bytes are the length (big-endian,
//!                              most significant bit must be 0)
//! then     the 4-byte masking key, if MASK is set
//! ```
//!
//! Examples, with the bytes as they appear on the wire:
//!
//! - `81 05 48 65 6c 6c 6f`: FIN, Text, unmasked, 5 bytes: `Hello`
//!   (a server-to-client frame).
//! - `81 85 37 fa 21 3d 7f 9f 4d 51 58`: the same, masked with key
//!   `37 fa 21 3d` (a client-to-server frame).
//! - `82 7e 01 00 ...`: FIN, Binary, 16-bit length 256.
//! - `82 7f 00 00 00 00 00 01 00 00 ...`: FIN, Binary, 64-bit length 65536.
//! - `89 00`: a Ping with no payload; `8a 00` the matching Pong.
//!
//! [`HeaderDecoder`] accepts a header that arrives one byte at a time and
//! rejects it as soon as the bytes seen so far are enough to know it is
//! invalid: a reserved bit or opcode on byte 0, a missing or unexpected mask
//! on byte 1. Peers are not required to use the shortest length encoding
//! (RFC 6455 section 5.2 asks it of senders, but a receiver that rejects it
//! gains nothing); [`write_header`] always uses the shortest.

use super::error::WsError;
use super::mask::apply_mask;
use super::role::Role;

/// The longest possible frame header: 2 bytes, 8 bytes of length, 4 of key.
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload a control frame may carry (RFC 6455 section 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The frame type, from the low 4 bits of the first header byte
/// (RFC 6455 section 5.2). Reserved values have no variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// `0x0`: the next fragment of a Text or Binary message.
    Continuation,
    /// `0x1`: the first (or only) frame of a UTF-8 text message.
    Text,
    /// `0x2`: the first (or only) frame of a binary message.
    Binary,
    /// `0x8`: the closing handshake (RFC 6455 section 5.5.1).
    Close,
    /// `0x9`: a keep-alive or round-trip probe (RFC 6455 section 5.5.2).
    Ping,
    /// `0xA`: the answer to a Ping, echoing its payload (section 5.5.3).
    Pong,
}

impl Opcode {
    /// Decodes the 4-bit opcode; `None` for reserved values
    /// (`0x3-0x7`, `0xB-0xF`) and anything above `0xF`.
    pub fn from_u8(value: u8) -> Option<Opcode> {
        match value {
            0x0 => Some(Opcode::Continuation),
            0x1 => Some(Opcode::Text),
            0x2 => Some(Opcode::Binary),
            0x8 => Some(Opcode::Close),
            0x9 => Some(Opcode::Ping),
            0xA => Some(Opcode::Pong),
            _ => None,
        }
    }

    /// The 4-bit wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Control frames (Close, Ping, Pong) have the high opcode bit set.
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the last frame of its message.
    pub fin: bool,
    /// RSV1-RSV3 as the low three bits. Always 0 after decoding, since no
    /// extension is negotiated.
    pub rsv: u8,
    /// The frame type.
    pub opcode: Opcode,
    /// The masking key, present on every client-to-server frame.
    pub mask: Option<[u8; 4]>,
    /// The declared payload length in bytes.
    pub payload_len: u64,
}

/// Parses a header from the start of `bytes`.
///
/// Returns `Ok(None)` while more bytes are needed, `Ok(Some((header,
/// header_len)))` once the header is complete, and an error as soon as the
/// bytes present prove the header invalid for a reader playing `role`.
///
/// ```
/// use pushwire::ws::{parse_header, Opcode, Role};
///
/// let wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// let (header, len) = parse_header(&wire, Role::Server).unwrap().unwrap();
/// assert_eq!(len, 6);
/// assert_eq!(header.opcode, Opcode::Text);
/// assert_eq!(header.payload_len, 5);
/// assert_eq!(header.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
/// assert_eq!(parse_header(&wire[..3], Role::Server), Ok(None));
/// ```
pub fn parse_header(bytes: &[u8], role: Role) -> Result<Option<(FrameHeader, usize)>, WsError> {
    let Some(&b0) = bytes.first() else {
        return Ok(None);
    };
    let fin = b0 & 0x80 != 0;
    let rsv = (b0 >> 4) & 0x07;
    // RFC 6455 5.2: RSV1-3 MUST be 0 unless an extension defines them.
    if rsv != 0 {
        return Err(WsError::ReservedBitsSet(rsv));
    }
    let opcode = Opcode::from_u8(b0 & 0x0F).ok_or(WsError::ReservedOpcode(b0 & 0x0F))?;
    // RFC 6455 5.5: control frames MUST NOT be fragmented.
    if opcode.is_control() && !fin {
        return Err(WsError::FragmentedControlFrame);
    }
    let Some(&b1) = bytes.get(1) else {
        return Ok(None);
    };
    let masked = b1 & 0x80 != 0;
    // RFC 6455 5.1: a server MUST close on an unmasked frame; a client MUST
    // close on a masked one.
    match (role, masked) {
        (Role::Server, false) => return Err(WsError::UnmaskedClientFrame),
        (Role::Client, true) => return Err(WsError::MaskedServerFrame),
        _ => {}
    }
    let (payload_len, mut pos) = match b1 & 0x7F {
        126 => match bytes.get(2..4) {
            Some(&[hi, lo]) => (u64::from(u16::from_be_bytes([hi, lo])), 4),
            _ => return Ok(None),
        },
        127 => match bytes.get(2..10).map(<[u8; 8]>::try_from) {
            Some(Ok(raw)) => {
                let len = u64::from_be_bytes(raw);
                // RFC 6455 5.2: the most significant bit MUST be 0.
                if len >> 63 != 0 {
                    return Err(WsError::LengthOverflow);
                }
                (len, 10)
            }
            _ => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    // RFC 6455 5.5: control frames carry at most 125 bytes of payload.
    if opcode.is_control() && payload_len > MAX_CONTROL_PAYLOAD as u64 {
        return Err(WsError::ControlFrameTooLong(payload_len));
    }
    let mask = if masked {
        match bytes.get(pos..pos + 4).map(<[u8; 4]>::try_from) {
            Some(Ok(key)) => {
                pos += 4;
                Some(key)
            }
            _ => return Ok(None),
        }
    } else {
        None
    };
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len,
    };
    Ok(Some((header, pos)))
}

/// Decodes a frame header that may arrive split across any number of reads.
///
/// It keeps at most [`MAX_HEADER_LEN`] bytes inline (no heap). When a whole
/// header is present in the input it is parsed in place without copying.
#[derive(Debug, Clone, Default)]
pub struct HeaderDecoder {
    buf: [u8; MAX_HEADER_LEN],
    filled: usize,
}

impl HeaderDecoder {
    /// A decoder with no partial header.
    pub fn new() -> HeaderDecoder {
        HeaderDecoder::default()
    }

    /// Whether some bytes of a header have been seen but not the whole header.
    pub fn is_partial(&self) -> bool {
        self.filled != 0
    }

    /// Consumes header bytes from `input`.
    ///
    /// Returns the number of bytes consumed and the header once complete.
    /// When the header is still incomplete, all of `input` was consumed.
    /// Bytes after the header are not touched.
    ///
    /// ```
    /// use pushwire::ws::{HeaderDecoder, Opcode, Role};
    ///
    /// let mut decoder = HeaderDecoder::new();
    /// assert_eq!(decoder.decode(&[0x82], Role::Client), Ok((1, None)));
    /// let (used, header) = decoder.decode(&[0x7e, 0x01, 0x00, 0xff], Role::Client).unwrap();
    /// assert_eq!(used, 3);
    /// let header = header.unwrap();
    /// assert_eq!((header.opcode, header.payload_len), (Opcode::Binary, 256));
    /// ```
    pub fn decode(
        &mut self,
        input: &[u8],
        role: Role,
    ) -> Result<(usize, Option<FrameHeader>), WsError> {
        if self.filled == 0 {
            if let Some((header, len)) = parse_header(input, role)? {
                return Ok((len, Some(header)));
            }
        }
        let start = self.filled;
        let take = (MAX_HEADER_LEN - start).min(input.len());
        let end = start + take;
        if let (Some(dst), Some(src)) = (self.buf.get_mut(start..end), input.get(..take)) {
            dst.copy_from_slice(src);
        }
        let seen = self.buf.get(..end).unwrap_or(&[]);
        match parse_header(seen, role)? {
            Some((header, len)) => {
                self.filled = 0;
                Ok((len.saturating_sub(start), Some(header)))
            }
            None => {
                self.filled = end;
                Ok((take, None))
            }
        }
    }
}

/// Appends a frame header to `out`, choosing the shortest length encoding.
///
/// `mask` is `None` for frames a server sends and the caller's random key for
/// frames a client sends (RFC 6455 section 5.3). RSV bits are 0.
///
/// ```
/// use pushwire::ws::{write_header, Opcode};
///
/// let mut out = Vec::new();
/// write_header(&mut out, true, Opcode::Binary, None, 256);
/// assert_eq!(out, [0x82, 0x7e, 0x01, 0x00]);
/// ```
pub fn write_header(out: &mut Vec<u8>, fin: bool, opcode: Opcode, mask: Option<[u8; 4]>, len: u64) {
    let b0 = if fin { 0x80 } else { 0x00 } | opcode.as_u8();
    let mask_bit = if mask.is_some() { 0x80 } else { 0x00 };
    out.push(b0);
    if len <= 125 {
        out.push(mask_bit | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

/// Appends one frame with FIN set: header, then `payload`, masked with
/// `mask` if given.
///
/// Control frames must carry at most [`MAX_CONTROL_PAYLOAD`] bytes; this
/// function does not check (the caller chooses control payloads).
///
/// ```
/// use pushwire::ws::{write_frame, Opcode};
///
/// let mut out = Vec::new();
/// write_frame(&mut out, Opcode::Text, b"Hello", None);
/// assert_eq!(out, [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
///
/// out.clear();
/// write_frame(&mut out, Opcode::Text, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d]));
/// assert_eq!(out, [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
pub fn write_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>) {
    write_fragment(out, true, opcode, payload, mask);
}

/// Appends one frame of a possibly fragmented message (RFC 6455 section
/// 5.4): the first fragment carries `Text` or `Binary` with `fin = false`,
/// the following ones `Continuation`, the last one `fin = true`.
///
/// ```
/// use pushwire::ws::{write_fragment, Opcode};
///
/// let mut out = Vec::new();
/// write_fragment(&mut out, false, Opcode::Text, b"Hel", None);
/// write_fragment(&mut out, true, Opcode::Continuation, b"lo", None);
/// assert_eq!(out, [0x01, 0x03, b'H', b'e', b'l', 0x80, 0x02, b'l', b'o']);
/// ```
pub fn write_fragment(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: Opcode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    write_header(out, fin, opcode, mask, payload.len() as u64);
    let start = out.len();
    out.extend_from_slice(payload);
    if let (Some(key), Some(body)) = (mask, out.get_mut(start..)) {
        apply_mask(body, key, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_bytewise(bytes: &[u8], role: Role) -> Result<Option<(FrameHeader, usize)>, WsError> {
        let mut decoder = HeaderDecoder::new();
        let mut used = 0;
        for &b in bytes {
            let (n, header) = decoder.decode(&[b], role)?;
            used += n;
            if let Some(h) = header {
                return Ok(Some((h, used)));
            }
        }
        Ok(None)
    }

    #[test]
    fn header_fed_one_byte_at_a_time_equals_header_fed_whole() {
        let frames: &[&[u8]] = &[
            &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d],
            &[0x82, 0xfe, 0x01, 0x00, 1, 2, 3, 4],
            &[0x02, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 9, 9, 9, 9],
            &[0x89, 0x80, 0, 0, 0, 0],
        ];
        for frame in frames {
            let whole = parse_header(frame, Role::Server).unwrap().unwrap();
            assert_eq!(whole.1, frame.len());
            assert_eq!(
                decode_bytewise(frame, Role::Server).unwrap().unwrap(),
                whole
            );
        }
    }

    #[test]
    fn decode_consumes_only_the_header_bytes() {
        let mut decoder = HeaderDecoder::new();
        assert_eq!(
            decoder.decode(&[0x81, 0x85, 1], Role::Server),
            Ok((3, None))
        );
        assert!(decoder.is_partial());
        let (n, h) = decoder
            .decode(&[2, 3, 4, 0xAA, 0xBB], Role::Server)
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(h.unwrap().mask, Some([1, 2, 3, 4]));
        assert!(!decoder.is_partial());
    }

    #[test]
    fn invalid_headers_are_rejected_with_their_reason() {
        let table: &[(&[u8], Role, WsError)] = &[
            (&[0xC1], Role::Server, WsError::ReservedBitsSet(4)),
            (&[0xA1], Role::Server, WsError::ReservedBitsSet(2)),
            (&[0x91], Role::Server, WsError::ReservedBitsSet(1)),
            (&[0x83], Role::Server, WsError::ReservedOpcode(3)),
            (&[0x87], Role::Server, WsError::ReservedOpcode(7)),
            (&[0x8B], Role::Server, WsError::ReservedOpcode(0xB)),
            (&[0x8F], Role::Server, WsError::ReservedOpcode(0xF)),
            (&[0x09], Role::Server, WsError::FragmentedControlFrame),
            (&[0x08], Role::Client, WsError::FragmentedControlFrame),
            (&[0x81, 0x05], Role::Server, WsError::UnmaskedClientFrame),
            (&[0x81, 0x85], Role::Client, WsError::MaskedServerFrame),
            (
                &[0x89, 0xFE, 0x00, 0x7E],
                Role::Server,
                WsError::ControlFrameTooLong(126),
            ),
            (
                &[0x89, 0x7E, 0x00, 0x7E],
                Role::Client,
                WsError::ControlFrameTooLong(126),
            ),
            (
                &[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0],
                Role::Client,
                WsError::LengthOverflow,
            ),
        ];
        for (bytes, role, err) in table {
            assert_eq!(parse_header(bytes, *role), Err(*err), "{bytes:02x?}");
            assert_eq!(decode_bytewise(bytes, *role), Err(*err), "{bytes:02x?}");
        }
    }

    #[test]
    fn control_frame_with_non_minimal_length_of_125_or_less_is_accepted() {
        let (h, n) = parse_header(&[0x89, 0x7E, 0x00, 0x05], Role::Client)
            .unwrap()
            .unwrap();
        assert_eq!((h.payload_len, n), (5, 4));
    }

    #[test]
    fn non_minimal_length_encoding_is_accepted() {
        let (h, n) = parse_header(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 3], Role::Client)
            .unwrap()
            .unwrap();
        assert_eq!((h.payload_len, n), (3, 10));
    }

    #[test]
    fn write_header_uses_the_shortest_length_form() {
        let table: &[(u64, &[u8])] = &[
            (0, &[0x82, 0x00]),
            (125, &[0x82, 125]),
            (126, &[0x82, 126, 0x00, 0x7E]),
            (65535, &[0x82, 126, 0xFF, 0xFF]),
            (65536, &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ];
        for (len, bytes) in table {
            let mut out = Vec::new();
            write_header(&mut out, true, Opcode::Binary, None, *len);
            assert_eq!(&out, bytes, "length {len}");
            let (h, n) = parse_header(&out, Role::Client).unwrap().unwrap();
            assert_eq!((h.payload_len, n), (*len, out.len()));
        }
    }

    proptest::proptest! {
        #[test]
        fn written_header_decodes_to_itself_fed_whole_or_bytewise(
            fin in proptest::bool::ANY,
            op in proptest::sample::select(vec![
                Opcode::Continuation, Opcode::Text, Opcode::Binary,
                Opcode::Close, Opcode::Ping, Opcode::Pong,
            ]),
            key in proptest::option::of(proptest::prelude::any::<[u8; 4]>()),
            len in proptest::prop_oneof![
                0u64..=125, 126u64..=65535, 65536u64..=(u64::MAX >> 1)
            ],
        ) {
            let fin = fin || op.is_control();
            let len = if op.is_control() { len % 126 } else { len };
            let role = if key.is_some() { Role::Server } else { Role::Client };
            let mut out = Vec::new();
            write_header(&mut out, fin, op, key, len);
            let expected = FrameHeader { fin, rsv: 0, opcode: op, mask: key, payload_len: len };
            proptest::prop_assert_eq!(parse_header(&out, role), Ok(Some((expected, out.len()))));
            proptest::prop_assert_eq!(decode_bytewise(&out, role), Ok(Some((expected, out.len()))));
        }
    }

    #[test]
    fn opcode_round_trips_and_reserved_values_have_none() {
        for v in 0u8..=0xFF {
            match Opcode::from_u8(v) {
                Some(op) => assert_eq!(op.as_u8(), v),
                None => assert!(!matches!(v, 0 | 1 | 2 | 8 | 9 | 10)),
            }
        }
        assert!(Opcode::Ping.is_control() && !Opcode::Continuation.is_control());
    }
}
