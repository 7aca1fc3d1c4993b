//! Everything the engine refuses, and what the client sees.
//!
//! A [`Refusal`] is one precise reason; [`Refusal::status`] is the one
//! place a reason meets a status code, [`Refusal::fields`] the header
//! fields the status needs, and `Display` the short plain-text reason that
//! becomes the body (one line). Whether the connection stays open
//! afterwards is not the refusal's business but the request's: a refused
//! request whose framing is known leaves the connection usable (keep-alive
//! goes on), one whose framing is in doubt ends it (RFC 9112 section 11.2).
//!
//! | refusal                 | status | when                                      |
//! |-------------------------|--------|-------------------------------------------|
//! | `Request(e)`            | `e.status()`: 400, 408, 411, 413, 414, 431, 501 | the head or body broke a rule or a limit |
//! | `Chunked(e)`            | `e.status()`: 400, 413 | a chunked body broke the coding or a limit |
//! | `BadChannel`            | 400    | a channel name outside `[A-Za-z0-9._~-]{1,128}` |
//! | `BadQuery(why)`         | 400    | `since=` or `timeout=` is not a number    |
//! | `NotUtf8`               | 400    | a published body that is not UTF-8        |
//! | `BodyOnSubscribe`       | 400    | a long-poll or SSE request with a body    |
//! | `BodyOnHandshake`       | 400    | a WebSocket handshake with a body         |
//! | `Unauthorized`          | 401    | `--publish-token` set, no matching bearer |
//! | `NoMetricsToken`        | 401    | `--metrics-token` set, `GET /metrics` without it |
//! | `NoToken`               | 401    | `--jwt-secret` set, no token with the request |
//! | `BadToken(e)`           | 401    | a token that does not hold: `e` says why (docs/auth.md) |
//! | `Forbidden(access, ch)` | 403    | a good token that does not name the channel |
//! | `CrossSitePublish`      | 403    | a publish from a page of another origin   |
//! | `NoSuchEndpoint`        | 404    | a path the server does not serve          |
//! | `NoSuchChannel`         | 404    | channel info for a channel never used     |
//! | `MethodNotAllowed(a)`   | 405    | a known path, a method it does not take   |
//! | `Handshake(e)`          | `e.status()`: 400, 403, 405, 426 | a broken WebSocket opening handshake |
//! | `TooManyChannels`       | 503    | `--max-channels` exist already            |
//! | `ConnectionLimit`       | 503    | `--max-connections` are open              |
//! | `NotStored(e)`          | 503    | the store failed to commit the message    |
//! | `NotStored(e)`, full    | 507    | the store is out of space (a full disk)   |
//! | `Overloaded`            | 503    | `--max-output-bytes` of answers are unsent |

use std::fmt;

use crate::http::chunked::ChunkedError;
use crate::http::HttpError;
use crate::ws::HandshakeError;

use crate::auth::TokenError;

use super::access::Access;
use super::store::StoreError;

/// The methods allowed on a path, for the `Allow` field of a `405`
/// (RFC 9110 section 15.5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allow {
    /// The read-only endpoints: `/`, `/help`, `/poll/`, `/longpoll/`, `/sse/`.
    Get,
    /// `/pub/{channel}`: read the channel's info, or publish.
    GetPost,
}

/// Why the engine refused a request (or a connection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The request's head or body broke a framing rule or a limit, or did
    /// not arrive in time ([`HttpError::Timeout`]).
    Request(HttpError),
    /// A chunked body broke the chunked coding or a limit.
    Chunked(ChunkedError),
    /// The channel name is not 1-128 bytes of `[A-Za-z0-9._~-]`.
    BadChannel,
    /// A query parameter is not what it must be; the text says which.
    BadQuery(&'static str),
    /// The published body is not UTF-8 text.
    NotUtf8,
    /// A long-poll or SSE request carried a body.
    BodyOnSubscribe,
    /// A WebSocket handshake carried a body.
    BodyOnHandshake,
    /// The server has a publish token and the request did not carry it.
    Unauthorized,
    /// The server has a metrics token and `GET /metrics` did not carry it.
    NoMetricsToken,
    /// The server checks tokens and the request carried none.
    NoToken,
    /// The request's token does not hold.
    BadToken(TokenError),
    /// The token holds but does not allow this on the channel named.
    Forbidden(Access, Box<str>),
    /// A browser page of another origin tried to publish.
    CrossSitePublish,
    /// No endpoint has this path.
    NoSuchEndpoint,
    /// The channel has never had a message or a subscriber.
    NoSuchChannel,
    /// The path exists but not for this method.
    MethodNotAllowed(Allow),
    /// The WebSocket opening handshake is broken.
    Handshake(HandshakeError),
    /// Creating one more channel would pass `--max-channels`.
    TooManyChannels,
    /// `--max-connections` connections are open.
    ConnectionLimit,
    /// The store did not commit the message.
    NotStored(StoreError),
    /// The process holds `--max-output-bytes` of unsent answers: new work
    /// waits until clients have read some.
    Overloaded,
}

impl Refusal {
    /// The status code the client gets.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Request(e) => e.status(),
            Refusal::Chunked(e) => e.status(),
            Refusal::Handshake(e) => e.status(),
            Refusal::BadChannel
            | Refusal::BadQuery(_)
            | Refusal::NotUtf8
            | Refusal::BodyOnSubscribe
            | Refusal::BodyOnHandshake => 400,
            Refusal::Unauthorized
            | Refusal::NoMetricsToken
            | Refusal::NoToken
            | Refusal::BadToken(_) => 401,
            Refusal::CrossSitePublish | Refusal::Forbidden(..) => 403,
            Refusal::NoSuchEndpoint | Refusal::NoSuchChannel => 404,
            Refusal::MethodNotAllowed(_) => 405,
            // RFC 4918 section 11.5: the server cannot store what the
            // request needs stored.
            Refusal::NotStored(e) if e.full => 507,
            Refusal::TooManyChannels
            | Refusal::ConnectionLimit
            | Refusal::NotStored(_)
            | Refusal::Overloaded => 503,
        }
    }

    /// The header fields the status needs besides the usual ones.
    pub fn fields(&self) -> &'static [(&'static str, &'static [u8])] {
        match self {
            Refusal::MethodNotAllowed(Allow::Get) => &[("Allow", b"GET, HEAD, OPTIONS")],
            Refusal::MethodNotAllowed(Allow::GetPost) => &[("Allow", b"GET, HEAD, POST, OPTIONS")],
            Refusal::Handshake(e) => e.fields(),
            _ => &[],
        }
    }

    /// The `WWW-Authenticate` value of a `401` or of a token's `403`
    /// (RFC 9110 section 11.6.1: a 401 names the scheme it wants; RFC
    /// 6750 section 3: the error, and why, for a person to read).
    pub fn challenge(&self) -> Option<&'static [u8]> {
        match self {
            Refusal::Unauthorized => Some(b"Bearer"),
            Refusal::NoToken | Refusal::NoMetricsToken => Some(b"Bearer realm=\"pushwire\""),
            Refusal::BadToken(e) => Some(e.challenge()),
            Refusal::Forbidden(..) => Some(b"Bearer error=\"insufficient_scope\""),
            _ => None,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Refusal::Request(e) => return e.fmt(f),
            Refusal::Chunked(e) => return e.fmt(f),
            Refusal::Handshake(e) => return e.fmt(f),
            Refusal::NotStored(e) => return e.fmt(f),
            Refusal::BadQuery(why) => why,
            Refusal::BadToken(e) => return write!(f, "invalid token: {e}"),
            Refusal::Forbidden(Access::Read, channel) => {
                return write!(f, "the token does not allow reading channel {channel}")
            }
            Refusal::Forbidden(Access::Write, channel) => {
                return write!(
                    f,
                    "the token does not allow publishing to channel {channel}"
                )
            }
            Refusal::NoToken => {
                "this channel needs a token: Authorization: Bearer, ?token= or the \
                 pushwire_token cookie (docs/auth.md)"
            }
            Refusal::BadChannel => "channel names are 1-128 bytes of [A-Za-z0-9._~-]",
            Refusal::NotUtf8 => "message data must be UTF-8 text",
            Refusal::BodyOnSubscribe => "a subscribe request has no body",
            Refusal::BodyOnHandshake => "a WebSocket handshake has no body",
            Refusal::Unauthorized => "publishing needs Authorization: Bearer <token>",
            Refusal::NoMetricsToken => "metrics need Authorization: Bearer <token>",
            Refusal::CrossSitePublish => "cross-site publish refused (see --allow-origin)",
            Refusal::NoSuchEndpoint => "no such endpoint (GET /help lists them)",
            Refusal::NoSuchChannel => "no such channel",
            Refusal::MethodNotAllowed(_) => "method not allowed here",
            Refusal::TooManyChannels => "too many channels (see --max-channels)",
            Refusal::ConnectionLimit => "server at its connection limit",
            Refusal::Overloaded => "server busy: too much unsent output (see --max-output-bytes)",
        };
        f.write_str(text)
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every refusal, its status, and the start of what the client reads.
    #[test]
    fn every_refusal_maps_to_its_status_and_reason() {
        let table: &[(Refusal, u16, &str)] = &[
            (
                Refusal::Request(HttpError::Malformed("bad")),
                400,
                "malformed request",
            ),
            (
                Refusal::Request(HttpError::MissingHost),
                400,
                "HTTP/1.1 request without Host",
            ),
            (
                Refusal::Request(HttpError::Timeout),
                408,
                "request took too long",
            ),
            (
                Refusal::Request(HttpError::LengthRequired),
                411,
                "POST needs",
            ),
            (
                Refusal::Request(HttpError::BodyTooLarge),
                413,
                "request body too large",
            ),
            (
                Refusal::Request(HttpError::UriTooLong),
                414,
                "request target too long",
            ),
            (
                Refusal::Request(HttpError::HeaderTooLarge),
                431,
                "request header fields",
            ),
            (
                Refusal::Request(HttpError::UnsupportedTransferCoding),
                501,
                "only Transfer-Encoding: chunked",
            ),
            (
                Refusal::Chunked(ChunkedError::InvalidSize),
                400,
                "chunk size is not a hexadecimal number",
            ),
            (
                Refusal::Chunked(ChunkedError::BodyTooLarge),
                413,
                "chunked body is larger than the limit",
            ),
            (Refusal::BadChannel, 400, "channel names are 1-128 bytes"),
            (Refusal::BadQuery("since must be"), 400, "since must be"),
            (Refusal::NotUtf8, 400, "message data must be UTF-8"),
            (
                Refusal::BodyOnSubscribe,
                400,
                "a subscribe request has no body",
            ),
            (
                Refusal::BodyOnHandshake,
                400,
                "a WebSocket handshake has no body",
            ),
            (Refusal::Unauthorized, 401, "publishing needs Authorization"),
            (Refusal::NoMetricsToken, 401, "metrics need Authorization"),
            (Refusal::CrossSitePublish, 403, "cross-site publish refused"),
            (Refusal::NoSuchEndpoint, 404, "no such endpoint"),
            (Refusal::NoSuchChannel, 404, "no such channel"),
            (
                Refusal::MethodNotAllowed(Allow::Get),
                405,
                "method not allowed",
            ),
            (
                Refusal::MethodNotAllowed(Allow::GetPost),
                405,
                "method not allowed",
            ),
            (
                Refusal::Handshake(HandshakeError::UnsupportedVersion),
                426,
                "Sec-WebSocket-Version must be 13",
            ),
            (
                Refusal::Handshake(HandshakeError::OriginRejected),
                403,
                "origin not allowed",
            ),
            (
                Refusal::Handshake(HandshakeError::MethodNotGet),
                405,
                "WebSocket handshake must use GET",
            ),
            (
                Refusal::Handshake(HandshakeError::MissingKey),
                400,
                "missing Sec-WebSocket-Key",
            ),
            (Refusal::TooManyChannels, 503, "too many channels"),
            (Refusal::NoToken, 401, "this channel needs a token"),
            (
                Refusal::BadToken(TokenError::BadSignature),
                401,
                "invalid token: bad signature",
            ),
            (
                Refusal::BadToken(TokenError::Malformed("not three parts joined by dots")),
                401,
                "invalid token: malformed (not three parts joined by dots)",
            ),
            (
                Refusal::Forbidden(Access::Read, "room.2".into()),
                403,
                "the token does not allow reading channel room.2",
            ),
            (
                Refusal::ConnectionLimit,
                503,
                "server at its connection limit",
            ),
            (
                Refusal::Overloaded,
                503,
                "server busy: too much unsent output",
            ),
            (
                Refusal::NotStored(StoreError::new("broken")),
                503,
                "the message was not stored: broken",
            ),
            (
                Refusal::NotStored(StoreError::full("the log is full")),
                507,
                "the message was not stored: the log is full",
            ),
        ];
        for (refusal, status, reason) in table {
            assert_eq!(refusal.status(), *status, "{refusal:?}");
            let text = refusal.to_string();
            assert!(text.starts_with(reason), "{refusal:?}: {text}");
            assert!(!text.contains('\n'), "one line: {text:?}");
        }
    }

    #[test]
    fn statuses_that_need_fields_carry_them() {
        // Every 401 names the scheme (RFC 9110 section 15.5.2), and a
        // token's refusal says why (RFC 6750 section 3).
        let challenges: &[(Refusal, &[u8])] = &[
            (Refusal::Unauthorized, b"Bearer"),
            (Refusal::NoToken, b"Bearer realm=\"pushwire\""),
            (Refusal::NoMetricsToken, b"Bearer realm=\"pushwire\""),
            (
                Refusal::BadToken(TokenError::Expired),
                b"Bearer error=\"invalid_token\", error_description=\"expired\"",
            ),
            (
                Refusal::Forbidden(Access::Write, "a".into()),
                b"Bearer error=\"insufficient_scope\"",
            ),
        ];
        for (refusal, value) in challenges {
            assert_eq!(refusal.challenge(), Some(*value), "{refusal:?}");
        }
        assert_eq!(Refusal::BadChannel.challenge(), None);
        assert_eq!(
            Refusal::MethodNotAllowed(Allow::GetPost).fields(),
            &[("Allow", &b"GET, HEAD, POST, OPTIONS"[..])]
        );
        let upgrade = Refusal::Handshake(HandshakeError::UnsupportedVersion);
        assert!(upgrade
            .fields()
            .contains(&("Sec-WebSocket-Version", &b"13"[..])));
        assert!(Refusal::BadChannel.fields().is_empty());
    }
}
