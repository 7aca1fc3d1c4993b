//! Close frames and status codes (RFC 6455 sections 5.5.1 and 7.4).
//!
//! A Close frame's payload is either empty, or a 2-byte big-endian status
//! code followed by a UTF-8 reason:
//!
//! ```text
//! 88 00                       Close, no status (reported as 1005 locally)
//! 88 02 03 e8                 Close, 1000 (normal closure)
//! 88 06 03 e9 62 79 65 21     Close, 1001 (going away), reason "bye!"
//! 88 01 03                    invalid: 1 byte cannot hold a code -> 1002
//! ```
//!
//! The codes themselves, and the table of which may appear on the wire,
//! are in [`close_code`](super::close_code); they are re-exported here, so
//! `close::GOING_AWAY` and `close_code::GOING_AWAY` are the same constant.
//! A Close with an invalid code fails the connection with 1002; a reason
//! that is not UTF-8 fails it with 1007 (section 5.5.1).

pub use super::close_code::{
    is_valid_code, ABNORMAL, BAD_GATEWAY, GOING_AWAY, INTERNAL, INVALID_DATA, MANDATORY_EXTENSION,
    NORMAL, NO_STATUS, POLICY, PROTOCOL_ERROR, SERVICE_RESTART, TOO_BIG, TRY_AGAIN_LATER,
    UNSUPPORTED,
};
use super::error::WsError;
use super::frame::{write_frame, Opcode, MAX_CONTROL_PAYLOAD};

/// Parses a received Close payload into its code and reason.
///
/// An empty payload gives `(None, "")`.
///
/// ```
/// use pushwire::ws::{close, WsError};
///
/// assert_eq!(close::parse_close_payload(b""), Ok((None, "")));
/// assert_eq!(close::parse_close_payload(b"\x03\xe9bye!"), Ok((Some(1001), "bye!")));
/// assert_eq!(close::parse_close_payload(b"\x03"), Err(WsError::CloseFrameTooShort));
/// assert_eq!(close::parse_close_payload(b"\x03\xed"), Err(WsError::InvalidCloseCode(1005)));
/// ```
pub fn parse_close_payload(payload: &[u8]) -> Result<(Option<u16>, &str), WsError> {
    match payload {
        [] => Ok((None, "")),
        [_] => Err(WsError::CloseFrameTooShort),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_code(code) {
                return Err(WsError::InvalidCloseCode(code));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidCloseReason)?;
            Ok((Some(code), reason))
        }
    }
}

/// Appends a Close frame with `code` and `reason`.
///
/// The reason is cut at a character boundary so the payload fits the 125
/// bytes a control frame may carry. `mask` is `None` for a server.
/// To send a Close with no status at all, use
/// `write_frame(out, Opcode::Close, &[], mask)`.
///
/// ```
/// use pushwire::ws::close;
///
/// let mut out = Vec::new();
/// close::write_close(&mut out, close::GOING_AWAY, "bye!", None);
/// assert_eq!(out, [0x88, 0x06, 0x03, 0xe9, b'b', b'y', b'e', b'!']);
/// ```
pub fn write_close(out: &mut Vec<u8>, code: u16, reason: &str, mask: Option<[u8; 4]>) {
    let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
    let mut cut = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let reason = reason.as_bytes().get(..cut).unwrap_or(&[]);
    let len = 2 + reason.len();
    if let Some([hi, lo]) = payload.get_mut(..2) {
        [*hi, *lo] = code.to_be_bytes();
    }
    if let Some(dst) = payload.get_mut(2..len) {
        dst.copy_from_slice(reason);
    }
    write_frame(out, Opcode::Close, payload.get(..len).unwrap_or(&[]), mask);
}

/// Appends the Close that answers a received one (RFC 6455 section 5.5.1:
/// the reply "typically echos the status code it received"): the same code
/// with no reason, or an empty Close if the peer sent no code.
///
/// ```
/// use pushwire::ws::close;
///
/// let mut out = Vec::new();
/// close::write_close_reply(&mut out, Some(4000), None);
/// close::write_close_reply(&mut out, None, None);
/// assert_eq!(out, [0x88, 0x02, 0x0f, 0xa0, 0x88, 0x00]);
/// ```
pub fn write_close_reply(out: &mut Vec<u8>, received: Option<u16>, mask: Option<[u8; 4]>) {
    match received {
        Some(code) => write_close(out, code, "", mask),
        None => write_frame(out, Opcode::Close, &[], mask),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autobahn_7_7_codes_are_accepted_and_7_9_codes_rejected() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            let payload = u16::to_be_bytes(code);
            assert_eq!(parse_close_payload(&payload), Ok((Some(code), "")));
        }
        for code in [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999] {
            let payload = u16::to_be_bytes(code);
            assert_eq!(
                parse_close_payload(&payload),
                Err(WsError::InvalidCloseCode(code))
            );
        }
    }

    #[test]
    fn close_reason_must_be_utf8() {
        assert_eq!(
            parse_close_payload(
                b"\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
            ),
            Err(WsError::InvalidCloseReason)
        );
    }

    #[test]
    fn long_reason_is_cut_at_a_char_boundary_to_fit_125_bytes() {
        let reason = "é".repeat(100); // 200 bytes
        let mut out = Vec::new();
        write_close(&mut out, NORMAL, &reason, None);
        assert_eq!(out[1] as usize, out.len() - 2);
        assert!(out.len() - 2 <= 125);
        let (code, text) = parse_close_payload(&out[2..]).unwrap();
        assert_eq!(code, Some(NORMAL));
        assert_eq!(text.len(), 122);
    }
}
