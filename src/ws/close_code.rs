//! Close status codes (RFC 6455 section 7.4): the numbers, and which of them
//! may travel in a Close frame.
//!
//! A Close frame's payload starts with the code as a 2-byte big-endian
//! number: `03 e8` is 1000, `03 e9` is 1001, `0f a0` is 4000. Which codes may
//! appear on the wire (RFC 6455 sections 7.4.1 and 7.4.2, plus the IANA
//! "WebSocket Close Code Number Registry"):
//!
//! ```text
//! 0-999        never used                                    invalid
//! 1000-1003    normal, going away, protocol error, unsupported valid
//! 1004         reserved                                      invalid
//! 1005, 1006   "no status" / "abnormal": local-only markers  invalid
//! 1007-1011    invalid data, policy, too big, extension,
//!              internal error                                valid
//! 1012-1014    registered with IANA after RFC 6455 (service
//!              restart, try again later, bad gateway); not
//!              in the set RFC 6455 section 7.4.1 defines     invalid
//! 1015         "TLS handshake failed": local-only marker     invalid
//! 1016-2999    reserved for future protocol use              invalid
//! 3000-3999    registered by libraries and frameworks        valid
//! 4000-4999    private use                                   valid
//! 5000-        undefined                                     invalid
//! ```
//!
//! A Close with an invalid code fails the connection with 1002
//! ([`PROTOCOL_ERROR`]). The Autobahn suite's cases 7.7.* and 7.9.* check
//! the codes in this table (its current invalid list is 0, 999, 1004, 1005,
//! 1006, 1016, 1100, 2000, 2999).
//!
//! This module depends on nothing else in [`ws`](super): both the errors
//! ([`WsError::close_code`](super::WsError::close_code)) and the Close
//! frames ([`close`](super::close)) name their codes from here.

/// 1000: the purpose of the connection has been fulfilled.
pub const NORMAL: u16 = 1000;
/// 1001: the endpoint is going away (server shutdown, page navigation).
pub const GOING_AWAY: u16 = 1001;
/// 1002: the peer broke the protocol.
pub const PROTOCOL_ERROR: u16 = 1002;
/// 1003: the endpoint cannot accept this type of data (e.g. binary).
pub const UNSUPPORTED: u16 = 1003;
/// 1005: no status code was present. Local only, never sent.
pub const NO_STATUS: u16 = 1005;
/// 1006: the connection dropped without a Close frame. Local only.
pub const ABNORMAL: u16 = 1006;
/// 1007: a message's data was inconsistent with its type (bad UTF-8).
pub const INVALID_DATA: u16 = 1007;
/// 1008: a message violated the endpoint's policy.
pub const POLICY: u16 = 1008;
/// 1009: a message was too big to process.
pub const TOO_BIG: u16 = 1009;
/// 1010: (client) the server did not negotiate a required extension.
pub const MANDATORY_EXTENSION: u16 = 1010;
/// 1011: an unexpected condition on the server.
pub const INTERNAL: u16 = 1011;
/// 1012: the service is restarting (IANA registry).
pub const SERVICE_RESTART: u16 = 1012;
/// 1013: try again later, e.g. overload (IANA registry).
pub const TRY_AGAIN_LATER: u16 = 1013;
/// 1014: a gateway got an invalid response upstream (IANA registry).
pub const BAD_GATEWAY: u16 = 1014;

/// Whether `code` may appear in a Close frame on the wire (see the table in
/// the module docs).
///
/// ```
/// use pushwire::ws::close_code;
///
/// assert!(close_code::is_valid_code(1000));
/// assert!(close_code::is_valid_code(4999));
/// assert!(!close_code::is_valid_code(1005));
/// assert!(!close_code::is_valid_code(2000));
/// ```
pub fn is_valid_code(code: u16) -> bool {
    // RFC 6455 section 7.4.1 defines 1000-1003 and 1007-1011 for the wire
    // (1004-1006 and 1015 are reserved or local-only); section 7.4.2 gives
    // 3000-4999 to libraries and applications. The IANA registry has since
    // added 1012-1014; accepting them is this one line.
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_code_validity_follows_rfc_6455() {
        let valid = [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ];
        let invalid = [
            0, 1, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000,
            65535,
        ];
        for code in valid {
            assert!(is_valid_code(code), "{code} should be valid");
        }
        for code in invalid {
            assert!(!is_valid_code(code), "{code} should be invalid");
        }
    }

    #[test]
    fn local_only_markers_are_never_valid_on_the_wire() {
        for code in [NO_STATUS, ABNORMAL] {
            assert!(!is_valid_code(code), "{code}");
        }
    }
}
