//! Why a WebSocket connection is failed, and the close code the peer sees.
//!
//! RFC 6455 section 7.1.7 says that to *fail the WebSocket connection* an
//! endpoint sends a Close frame with a status code and stops reading. Every
//! variant of [`WsError`] is one precise reason, and [`WsError::close_code`]
//! is the single place that decides which code goes on the wire:
//!
//! | reason                                   | code |
//! |------------------------------------------|------|
//! | malformed or out-of-order frames         | 1002 |
//! | text or close reason that is not UTF-8   | 1007 |
//! | message larger than the configured limit | 1009 |
//! | message in more frames than allowed      | 1009 |
//! | control frames faster than allowed       | 1008 |
//! | message not finished in time             | 1008 |

use std::fmt;

use super::close_code;

/// A protocol violation found while reading frames; the connection must be
/// failed with [`WsError::close_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsError {
    /// A reserved bit (RSV1-3) is set but no extension was negotiated
    /// (RFC 6455 section 5.2). Holds the three bits, `0..=7`.
    ReservedBitsSet(u8),
    /// The opcode is one of the reserved values `0x3-0x7` or `0xB-0xF`
    /// (RFC 6455 section 5.2).
    ReservedOpcode(u8),
    /// A client sent a frame without a masking key (RFC 6455 section 5.1).
    UnmaskedClientFrame,
    /// A server sent a masked frame (RFC 6455 section 5.1).
    MaskedServerFrame,
    /// The 64-bit payload length has its most significant bit set
    /// (RFC 6455 section 5.2).
    LengthOverflow,
    /// A control frame declared more than 125 bytes of payload
    /// (RFC 6455 section 5.5). Holds the declared length.
    ControlFrameTooLong(u64),
    /// A control frame had FIN clear (RFC 6455 section 5.5).
    FragmentedControlFrame,
    /// A continuation frame arrived while no fragmented message was open
    /// (RFC 6455 section 5.4).
    UnexpectedContinuation,
    /// A new Text or Binary frame arrived while a fragmented message was
    /// still open (RFC 6455 section 5.4).
    ExpectedContinuation,
    /// A text message is not valid UTF-8 (RFC 6455 section 8.1).
    InvalidUtf8,
    /// A message would be larger than the reader's `max_message_bytes`
    /// (RFC 6455 section 7.4.1, code 1009). Holds the limit.
    MessageTooBig(usize),
    /// A Close frame carried exactly one byte of payload: too short for a
    /// status code (RFC 6455 section 5.5.1).
    CloseFrameTooShort,
    /// A Close frame carried a status code that may not be sent on the wire
    /// (RFC 6455 section 7.4). Holds the code.
    InvalidCloseCode(u16),
    /// The reason in a Close frame is not valid UTF-8 (RFC 6455 section
    /// 5.5.1).
    InvalidCloseReason,
    /// A message came in more frames than the endpoint allows (RFC 6455
    /// section 10.4 leaves such limits to the endpoint; code 1009, the
    /// message is too big in frames). Holds the limit.
    TooManyFragments(usize),
    /// Control frames (Ping, Pong) arrived faster than the endpoint allows
    /// (code 1008, a policy: each costs a pass of work for no data).
    TooManyControlFrames,
    /// A message that started did not finish in time (code 1008): a
    /// message that never ends must not keep its connection forever.
    MessageTimeout,
}

impl WsError {
    /// The status code to put in the Close frame that fails the connection.
    ///
    /// ```
    /// use pushwire::ws::WsError;
    ///
    /// assert_eq!(WsError::InvalidUtf8.close_code(), 1007);
    /// assert_eq!(WsError::MessageTooBig(1 << 20).close_code(), 1009);
    /// assert_eq!(WsError::UnmaskedClientFrame.close_code(), 1002);
    /// ```
    pub fn close_code(&self) -> u16 {
        match self {
            WsError::ReservedBitsSet(_)
            | WsError::ReservedOpcode(_)
            | WsError::UnmaskedClientFrame
            | WsError::MaskedServerFrame
            | WsError::LengthOverflow
            | WsError::ControlFrameTooLong(_)
            | WsError::FragmentedControlFrame
            | WsError::UnexpectedContinuation
            | WsError::ExpectedContinuation
            | WsError::CloseFrameTooShort
            | WsError::InvalidCloseCode(_) => close_code::PROTOCOL_ERROR,
            WsError::InvalidUtf8 | WsError::InvalidCloseReason => close_code::INVALID_DATA,
            WsError::MessageTooBig(_) | WsError::TooManyFragments(_) => close_code::TOO_BIG,
            WsError::TooManyControlFrames | WsError::MessageTimeout => close_code::POLICY,
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::ReservedBitsSet(bits) => {
                write!(f, "reserved bits {bits:#05b} set without an extension")
            }
            WsError::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            WsError::UnmaskedClientFrame => f.write_str("client frame is not masked"),
            WsError::MaskedServerFrame => f.write_str("server frame is masked"),
            WsError::LengthOverflow => f.write_str("64-bit payload length has its top bit set"),
            WsError::ControlFrameTooLong(len) => {
                write!(f, "control frame payload of {len} bytes exceeds 125")
            }
            WsError::FragmentedControlFrame => f.write_str("control frame is fragmented"),
            WsError::UnexpectedContinuation => {
                f.write_str("continuation frame with no message to continue")
            }
            WsError::ExpectedContinuation => {
                f.write_str("new data frame while a fragmented message is open")
            }
            WsError::InvalidUtf8 => f.write_str("text message is not valid UTF-8"),
            WsError::MessageTooBig(limit) => {
                write!(f, "message exceeds the limit of {limit} bytes")
            }
            WsError::CloseFrameTooShort => f.write_str("close frame payload of 1 byte"),
            WsError::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
            WsError::InvalidCloseReason => f.write_str("close reason is not valid UTF-8"),
            WsError::TooManyFragments(limit) => {
                write!(f, "message in more than {limit} frames")
            }
            WsError::TooManyControlFrames => f.write_str("too many control frames"),
            WsError::MessageTimeout => f.write_str("message took too long"),
        }
    }
}

impl std::error::Error for WsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_the_close_code_rfc_6455_names() {
        let table: &[(WsError, u16)] = &[
            (WsError::ReservedBitsSet(4), 1002),
            (WsError::ReservedOpcode(3), 1002),
            (WsError::UnmaskedClientFrame, 1002),
            (WsError::MaskedServerFrame, 1002),
            (WsError::LengthOverflow, 1002),
            (WsError::ControlFrameTooLong(126), 1002),
            (WsError::FragmentedControlFrame, 1002),
            (WsError::UnexpectedContinuation, 1002),
            (WsError::ExpectedContinuation, 1002),
            (WsError::InvalidUtf8, 1007),
            (WsError::MessageTooBig(10), 1009),
            (WsError::CloseFrameTooShort, 1002),
            (WsError::InvalidCloseCode(1005), 1002),
            (WsError::InvalidCloseReason, 1007),
            (WsError::TooManyFragments(1024), 1009),
            (WsError::TooManyControlFrames, 1008),
            (WsError::MessageTimeout, 1008),
        ];
        for (err, code) in table {
            assert_eq!(err.close_code(), *code, "{err}");
        }
    }

    #[test]
    fn display_names_the_reason() {
        assert_eq!(
            WsError::ReservedOpcode(0xb).to_string(),
            "reserved opcode 0xb"
        );
        assert_eq!(
            WsError::ReservedBitsSet(4).to_string(),
            "reserved bits 0b100 set without an extension"
        );
    }
}
