//! HTTP/1.1 (RFC 9112), sans-IO: request heads, bodies, responses.
//!
//! `httparse` does the tokenising; this module adds the rules that make a
//! server safe to put behind (or in front of) other HTTP software, where
//! httparse is lenient on purpose:
//!
//! - `Host` is required on HTTP/1.1, exactly once (RFC 9112 section 3.2).
//! - Message framing (RFC 9112 section 6.3): `Transfer-Encoding` and
//!   `Content-Length` together are a smuggling attempt, `400` and close;
//!   several `Content-Length` values must agree; a transfer coding other
//!   than `chunked` is `501`.
//! - Limits: head size (`431`), target length (`414`), body size (`413`),
//!   a `POST` without a length (`411`).
//!
//! A request on the wire, as curl sends it:
//!
//! ```text
//! POST /pub/news HTTP/1.1\r\n
//! Host: 127.0.0.1:8080\r\n
//! Content-Length: 5\r\n
//! \r\n
//! hello
//! ```
//!
//! The client role has its half here too: [`response_reader`] reads the
//! responses a server sends back (for `pushwire sub`, `pushwire pub`,
//! `pushwire bench` and the wire tracer), with the same framing section of
//! RFC 9112 read from the other side.

pub mod chunked;
pub mod date;
pub mod request;
pub mod response;
pub mod response_reader;

pub use date::HttpDate;

/// The shortest prefix of `bytes` that `refuses` turns down, as its length
/// and the reason, given that the first `good` bytes are accepted (as an
/// incomplete head); `None` if `bytes` is accepted. httparse reads left to
/// right, so every prefix longer than the shortest refused one is refused
/// too, and a binary search finds it: the same position, and the same
/// reason, however the bytes arrived.
pub(crate) fn first_fault(
    bytes: &[u8],
    mut good: usize,
    refuses: impl Fn(&[u8]) -> Option<httparse::Error>,
) -> Option<(httparse::Error, usize)> {
    let mut bad = bytes.len();
    let refused_at = |len: usize| bytes.get(..len).and_then(&refuses);
    refused_at(bad)?;
    while bad.saturating_sub(good) > 1 {
        let mid = good + (bad - good) / 2;
        match refused_at(mid) {
            Some(_) => bad = mid,
            None => good = mid,
        }
    }
    refused_at(bad).map(|error| (error, bad))
}
pub use request::{parse_head, BodyFraming, HttpError, Method, RequestHead};
