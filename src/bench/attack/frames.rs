//! The frames the WebSocket attacks send, built with the crate's own
//! encoder ([`write_fragment`]) in the client role: every frame masked
//! (RFC 6455 section 5.3), so the server cannot refuse them for a missing
//! mask and has to do the work of each one.
//!
//! ```text
//! 01 80 k k k k   opening text fragment: FIN=0, Text, masked, length 0
//! 00 80 k k k k   empty continuation:    FIN=0, Continuation, length 0
//! 8a 80 k k k k   empty unsolicited pong: FIN=1, Pong, length 0
//! 00 81 k k k k x one-byte continuation (the trickle): FIN=0, length 1
//! ```
//!
//! Each is 6 bytes, the smallest frame a client may send, which makes it
//! the most work per byte for a server whose budgets count bytes. None of
//! them ends a message: RFC 6455 section 5.4 lets a message have any
//! number of fragments, and section 5.5.3 lets a pong arrive unasked
//! (a "unidirectional heartbeat"), so every one is legal on its own.

use pushwire::ws::{write_fragment, Opcode};

use crate::bench::subscriber::Rng;

/// How the bytes of a flood repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloodFrame {
    /// Empty continuation frames after an opening text fragment.
    EmptyContinuation,
    /// Empty unsolicited pongs.
    EmptyPong,
}

/// The first fragment of a message that never ends: Text, FIN=0, carrying
/// `payload`.
pub fn opening_fragment(payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 6);
    write_fragment(&mut out, false, Opcode::Text, payload, Some(mask));
    out
}

/// One more fragment of the message: Continuation, FIN=0.
pub fn continuation(out: &mut Vec<u8>, payload: &[u8], mask: [u8; 4]) {
    write_fragment(out, false, Opcode::Continuation, payload, Some(mask));
}

/// At least `min_bytes` of whole `kind` frames (a multiple of 6 bytes),
/// each with its own masking key from `rng`. A flood writes the block
/// over and over; only whole blocks are queued, so whatever else goes on
/// the same connection stays frame-aligned.
pub fn flood_block(kind: FloodFrame, min_bytes: usize, rng: &mut Rng) -> Vec<u8> {
    let frames = min_bytes.div_ceil(6).max(1);
    let mut out = Vec::with_capacity(frames * 6);
    for _ in 0..frames {
        let mask = Some(rng.mask());
        match kind {
            FloodFrame::EmptyContinuation => {
                write_fragment(&mut out, false, Opcode::Continuation, &[], mask)
            }
            FloodFrame::EmptyPong => write_fragment(&mut out, true, Opcode::Pong, &[], mask),
        }
    }
    out
}

/// What a flood sends once, after the handshake, before its first block.
pub fn flood_prefix(kind: FloodFrame, rng: &mut Rng) -> Vec<u8> {
    match kind {
        FloodFrame::EmptyContinuation => opening_fragment(&[], rng.mask()),
        FloodFrame::EmptyPong => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushwire::ws::{parse_header, FrameHeader, Role};

    /// Every frame in `wire`, as the server's decoder sees it.
    fn frames(mut wire: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
        let mut out = Vec::new();
        while !wire.is_empty() {
            let (header, len) = parse_header(wire, Role::Server).unwrap().unwrap();
            let end = len + header.payload_len as usize;
            let mut payload = wire[len..end].to_vec();
            pushwire::ws::apply_mask(&mut payload, header.mask.unwrap(), 0);
            out.push((header, payload));
            wire = &wire[end..];
        }
        out
    }

    #[test]
    fn continuation_flood_is_masked_empty_fragments_that_never_finish() {
        let mut rng = Rng::new(7);
        let prefix = flood_prefix(FloodFrame::EmptyContinuation, &mut rng);
        let block = flood_block(FloodFrame::EmptyContinuation, 100, &mut rng);
        assert_eq!(prefix.len(), 6);
        assert_eq!(block.len(), 102, "17 frames of 6 bytes");
        let first = frames(&prefix);
        assert_eq!(first.len(), 1);
        let (opening, payload) = &first[0];
        assert_eq!((opening.fin, opening.opcode), (false, Opcode::Text));
        assert!(payload.is_empty());
        assert_eq!(prefix[..2], [0x01, 0x80]);
        let rest = frames(&block);
        assert_eq!(rest.len(), 17);
        for (header, payload) in &rest {
            assert_eq!((header.fin, header.opcode), (false, Opcode::Continuation));
            assert!(header.mask.is_some() && payload.is_empty());
        }
        // RFC 6455 5.3: a fresh key for each frame.
        assert_ne!(rest[0].0.mask, rest[1].0.mask);
    }

    #[test]
    fn pong_flood_is_masked_empty_final_pongs() {
        let mut rng = Rng::new(9);
        assert!(flood_prefix(FloodFrame::EmptyPong, &mut rng).is_empty());
        let block = flood_block(FloodFrame::EmptyPong, 6, &mut rng);
        assert_eq!(block[..2], [0x8a, 0x80]);
        let parsed = frames(&block);
        assert_eq!(parsed.len(), 1);
        let (header, payload) = &parsed[0];
        assert_eq!((header.fin, header.opcode), (true, Opcode::Pong));
        assert!(header.mask.is_some() && payload.is_empty());
    }

    #[test]
    fn trickle_fragments_carry_their_masked_byte_and_never_finish() {
        let mut wire = opening_fragment(b"x", [1, 2, 3, 4]);
        continuation(&mut wire, b"y", [5, 6, 7, 8]);
        assert_eq!(
            wire,
            [
                0x01,
                0x81,
                1,
                2,
                3,
                4,
                b'x' ^ 1,
                0x00,
                0x81,
                5,
                6,
                7,
                8,
                b'y' ^ 5
            ]
        );
        let parsed = frames(&wire);
        assert_eq!(parsed[0].1, b"x");
        assert_eq!(parsed[1].1, b"y");
        assert!(parsed.iter().all(|(h, _)| !h.fin));
        assert_eq!(parsed[1].0.opcode, Opcode::Continuation);
    }
}
