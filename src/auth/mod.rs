//! Who may read and write which channel: signed tokens (JWT, HS256),
//! sans-IO.
//!
//! This is the start of it: [`hmac`] signs and checks, in constant time,
//! what a token's signature covers (RFC 7515 section 5.1, RFC 7518
//! section 3.2). The token reader and the claims come next.

pub mod hmac;
