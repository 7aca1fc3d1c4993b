//! WebSocket (RFC 6455), sans-IO: bytes in, events and bytes out.
//!
//! Nothing here touches a socket or a clock, and nothing panics on input.
//! The reactor moves bytes; this module decides what they mean.
//!
//! # 1. The opening handshake (RFC 6455 section 4)
//!
//! WebSocket starts as an HTTP/1.1 `GET` with `Upgrade: websocket`,
//! `Connection: Upgrade`, `Sec-WebSocket-Version: 13` and a random 16-byte
//! `Sec-WebSocket-Key` in base64. The server answers `101 Switching
//! Protocols` with `Sec-WebSocket-Accept = base64(SHA-1(key + GUID))`; from
//! then on the TCP connection carries frames. See [`handshake`]:
//! `dGhlIHNhbXBsZSBub25jZQ==` is answered with
//! `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`.
//!
//! # 2. Frames (RFC 6455 section 5.2)
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! | Masking-key (continued)       |          Payload Data         |
//! +-------------------------------- - - - - - - - - - - - - - - - +
//! :                     Payload Data continued ...                :
//! +---------------------------------------------------------------+
//! ```
//!
//! `81 05 48 65 6c 6c 6f` is a whole text message "Hello" from a server:
//! FIN + opcode 1 (Text), no mask, length 5. Opcodes: 0 Continuation,
//! 1 Text, 2 Binary, 8 Close, 9 Ping, A Pong; the rest are reserved and fail
//! the connection, as do RSV bits with no extension negotiated.
//! See [`frame`].
//!
//! # 3. Masking (RFC 6455 section 5.3)
//!
//! A client masks every frame with a fresh 4-byte key (so a script cannot
//! choose the bytes an intermediary sees); a server never masks. The same
//! "Hello" from a client with key `37 fa 21 3d` is
//! `81 85 37 fa 21 3d 7f 9f 4d 51 58`. A server receiving an unmasked frame,
//! or a client receiving a masked one, fails the connection (1002). This
//! crate has no randomness: a [`Role::Client`] caller passes the key.
//! See [`mask`].
//!
//! # 4. Fragmentation (RFC 6455 section 5.4)
//!
//! A message may be split into frames: the first has opcode Text or Binary
//! and FIN=0, then Continuation frames, the last with FIN=1. `01 03 48 65 6c`
//! then `80 02 6c 6f` is "Hel" + "lo". Fragments of different messages never
//! interleave, but control frames may appear between fragments. Text must be
//! UTF-8 across the whole message, even when a code point is cut between
//! fragments (section 8.1; see [`utf8`]).
//!
//! # 5. Control frames (RFC 6455 section 5.5)
//!
//! Close (8), Ping (9) and Pong (A) carry at most 125 bytes and are never
//! fragmented. A Ping must be answered with a Pong carrying the same
//! payload: `89 05 48 65 6c 6c 6f` is answered `8a 05 48 65 6c 6c 6f`.
//!
//! # 6. The closing handshake (RFC 6455 sections 5.5.1, 7)
//!
//! Either side sends a Close, optionally with a 2-byte status code and a
//! UTF-8 reason (`88 02 03 e8` is "1000, normal closure"). The other side
//! answers with a Close (usually echoing the code) and stops sending; the
//! server then closes the TCP connection. A protocol violation *fails* the
//! connection: send a Close with the code [`WsError::close_code`] names
//! (1002, 1007, 1009) and stop reading. See [`close`] for the frames and
//! [`close_code`] for the codes and which of them may be sent.
//!
//! # 7. One connection's rules (RFC 6455 sections 5.5 and 7)
//!
//! A [`Session`] puts the pieces together for one connection after the
//! handshake: it reads frames, answers Pings, echoes the peer's Close,
//! fails the connection on a violation, keeps the closing handshake's state
//! so nothing is sent after a Close, and pings a silent peer. The server,
//! `pushwire sub ws` and `pushwire bench` each drive one per WebSocket; the
//! application only sees messages and the end. See [`session`].
//!
//! # Using it
//!
//! ```
//! use pushwire::ws::{write_frame, MessageReader, Opcode, Role, WsEvent};
//!
//! let mut reader = MessageReader::new(Role::Server, 1 << 20);
//! let mut replies = Vec::new();
//! // A masked Ping "hi" arrives, split across two reads.
//! let wire = [0x89, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
//! for piece in [&wire[..3], &wire[3..]] {
//!     let mut input = piece;
//!     while let (used, Some(event)) = reader.read(input).unwrap() {
//!         input = &input[used..];
//!         if let WsEvent::Ping(payload) = event {
//!             write_frame(&mut replies, Opcode::Pong, &payload, None);
//!         }
//!     }
//! }
//! assert_eq!(replies, [0x8a, 0x02, b'h', b'i']);
//! ```

pub mod close;
pub mod close_code;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
mod role;
pub mod session;
pub mod utf8;

pub use error::WsError;
pub use frame::{
    parse_header, write_fragment, write_frame, write_header, FrameHeader, HeaderDecoder, Opcode,
};
pub use handshake::{
    accept, accept_key, check_server_response, write_client_request, write_error_response,
    write_response, Accepted, ClientHandshakeError, HandshakeError, HandshakeRequest,
};
pub use mask::apply_mask;
pub use message::{MessageReader, WsEvent, DEFAULT_MAX_MESSAGE_BYTES};
pub use role::Role;
pub use session::{KeepAlive, Limits, Output, Session, SessionEvent, SessionState};
pub use utf8::{Utf8Error, Utf8Validator};
