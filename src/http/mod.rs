//! HTTP/1.1 (RFC 9112), the parts pushwire speaks by hand.
//!
//! Everything here is sans-IO: it takes bytes that the reactor read from a
//! socket and returns values, never touching a socket or the clock.
//!
//! - [`chunked`]: the chunked transfer coding (RFC 9112 section 7.1), used
//!   by publishers that stream a message body without a `Content-Length`.

pub mod chunked;
