//! WebSocket frames (RFC 6455 section 5).
//!
//! 1. `HeaderDecoder` fed in arbitrary pieces finds the same headers (and
//!    the same error) as `parse_header` on the whole stream, payloads
//!    skipped.
//! 2. `MessageReader` fed in arbitrary pieces gives the same events and the
//!    same final error as fed the whole input at once.
//! 3. `write_fragment` then `parse_header` / `MessageReader` gives back the
//!    frame: opcode, FIN, mask, length (shortest encoding) and payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushwire::ws::{
    apply_mask, parse_header, write_fragment, FrameHeader, HeaderDecoder, MessageReader, Opcode,
    Role, WsError, WsEvent,
};

mod common;

/// Headers found in `input` by `parse_header`, skipping each payload.
fn headers_whole(input: &[u8], role: Role) -> (Vec<FrameHeader>, Option<WsError>) {
    let mut found = Vec::new();
    let mut pos = 0usize;
    while pos < input.len() {
        match parse_header(&input[pos..], role) {
            Ok(Some((header, len))) => {
                found.push(header);
                pos = pos
                    .saturating_add(len)
                    .saturating_add(header.payload_len as usize);
            }
            Ok(None) => break,
            Err(e) => return (found, Some(e)),
        }
    }
    (found, None)
}

/// The same with `HeaderDecoder`, fed piece by piece.
fn headers_split(pieces: &[&[u8]], role: Role) -> (Vec<FrameHeader>, Option<WsError>) {
    let mut found = Vec::new();
    let mut decoder = HeaderDecoder::new();
    let mut skip: u64 = 0;
    for piece in pieces {
        let mut rest: &[u8] = piece;
        while !rest.is_empty() {
            if skip > 0 {
                let n = skip.min(rest.len() as u64) as usize;
                skip -= n as u64;
                rest = &rest[n..];
                continue;
            }
            match decoder.decode(rest, role) {
                Ok((used, Some(header))) => {
                    assert!(used <= rest.len());
                    found.push(header);
                    skip = header.payload_len;
                    rest = &rest[used..];
                }
                Ok((used, None)) => {
                    assert_eq!(used, rest.len(), "incomplete header left input");
                    rest = &[];
                }
                Err(e) => return (found, Some(e)),
            }
        }
    }
    (found, None)
}

/// Events from a reader fed `pieces` in order, and its error if any.
fn read_all(pieces: &[&[u8]], role: Role, max: usize) -> (Vec<WsEvent>, Option<WsError>) {
    let mut reader = MessageReader::new(role, max);
    let mut events = Vec::new();
    for piece in pieces {
        let mut rest: &[u8] = piece;
        loop {
            match reader.read(rest) {
                Ok((used, event)) => {
                    assert!(used <= rest.len());
                    rest = &rest[used..];
                    match event {
                        Some(event) => events.push(event),
                        None => {
                            assert!(rest.is_empty(), "no event but input left");
                            break;
                        }
                    }
                }
                Err(e) => {
                    // Errors are sticky.
                    assert_eq!(reader.read(b"\x81"), Err(e));
                    return (events, Some(e));
                }
            }
        }
    }
    (events, None)
}

fn roundtrip(flags: u8, payload: &[u8]) {
    let opcode = [
        Opcode::Continuation,
        Opcode::Text,
        Opcode::Binary,
        Opcode::Close,
        Opcode::Ping,
        Opcode::Pong,
    ][usize::from(flags % 6)];
    let mut fin = flags & 0x40 != 0;
    let mut payload = payload;
    if opcode.is_control() {
        fin = true;
        payload = &payload[..payload.len().min(125)];
    }
    let mask = (flags & 0x80 != 0).then(|| {
        let k = payload.len() as u32 ^ 0x9e37_79b9;
        k.to_be_bytes()
    });
    let role = if mask.is_some() {
        Role::Server
    } else {
        Role::Client
    };
    let mut wire = Vec::new();
    write_fragment(&mut wire, fin, opcode, payload, mask);
    let (header, len) = parse_header(&wire, role)
        .expect("own frame parses")
        .expect("complete");
    assert_eq!(header.fin, fin);
    assert_eq!(header.rsv, 0);
    assert_eq!(header.opcode, opcode);
    assert_eq!(header.mask, mask);
    assert_eq!(header.payload_len, payload.len() as u64);
    let shortest = match payload.len() {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    } + if mask.is_some() { 4 } else { 0 };
    assert_eq!(len, shortest, "length encoding is not the shortest");
    assert_eq!(wire.len(), len + payload.len());
    let mut body = wire[len..].to_vec();
    if let Some(key) = mask {
        apply_mask(&mut body, key, 0);
    }
    assert_eq!(body, payload);
    // A complete data message comes back from the reader as itself.
    if fin && matches!(opcode, Opcode::Text | Opcode::Binary) {
        let (events, err) = read_all(&[&wire], role, 1 << 20);
        match (opcode, std::str::from_utf8(payload)) {
            (Opcode::Text, Ok(text)) => assert_eq!(events, [WsEvent::Text(text.to_string())]),
            (Opcode::Text, Err(_)) => assert_eq!(err, Some(WsError::InvalidUtf8)),
            _ => assert_eq!(events, [WsEvent::Binary(payload.to_vec())]),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, frame_flags, data @ ..] = data else {
        return;
    };
    let (flags, frame_flags) = (*flags, *frame_flags);
    let role = if flags & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let max = [0, 16, 125, 1 << 20][usize::from((flags >> 1) & 3)];
    let (lens, input) = common::split_plan(data);
    let pieces = common::pieces(input, &lens);

    let whole = headers_whole(input, role);
    let split = headers_split(&pieces, role);
    assert_eq!(split, whole, "HeaderDecoder vs parse_header");

    let whole = read_all(&[input], role, max);
    let split = read_all(&pieces, role, max);
    assert_eq!(split, whole, "MessageReader split vs whole");

    roundtrip(frame_flags, input);
});
