//! Who may read and write a channel: where a request's token travels, and
//! the verdict (docs/auth.md).
//!
//! With `Config::auth` set, every subscribe (poll, long-poll, SSE, a
//! WebSocket's handshake, channel info) needs a token whose
//! `pushwire.read` names the channel, unless the channel is public
//! (`--public-channels`), and every publish one whose `pushwire.write`
//! does (or the `--publish-token`, when both are set). The token is looked
//! for, first found wins, in:
//!
//! | where                                     | for                                   |
//! |-------------------------------------------|---------------------------------------|
//! | `Authorization: Bearer <token>`           | any client that can set a header (RFC 6750 section 2.1) |
//! | `Sec-WebSocket-Protocol: pushwire.json, pushwire.bearer.<token>` | a browser WebSocket, which can set no header but this one; the entry is never selected |
//! | `?token=<token>`                          | EventSource and WebSocket in a browser (RFC 6750 section 2.3) |
//! | `Cookie: pushwire_token=<token>`          | EventSource with `withCredentials`    |
//!
//! The answers:
//!
//! ```text
//! HTTP/1.1 401 Unauthorized                   no token
//! WWW-Authenticate: Bearer realm="pushwire"
//!
//! HTTP/1.1 401 Unauthorized                   a token that does not hold
//! WWW-Authenticate: Bearer error="invalid_token", error_description="expired"
//!
//! HTTP/1.1 403 Forbidden                      a good token, another channel
//! WWW-Authenticate: Bearer error="insufficient_scope"
//!
//! the token does not allow reading channel room.2
//! ```
//!
//! A subscriber's `Grant` carries the instant its token stops being good
//! (`exp` plus the leeway, from the engine's wall clock): a stream or a
//! WebSocket is ended then, a parked long-poll answered.

use std::time::{Duration, Instant};

use crate::broker::ChannelName;
use crate::http::request::trim_ows;
use crate::http::RequestHead;

use super::conn::Cx;
use super::query;
use super::refusal::Refusal;

/// The cookie a token may travel in.
pub const COOKIE: &str = "pushwire_token";

/// The prefix of the `Sec-WebSocket-Protocol` entry a token may travel in.
pub const PROTOCOL_PREFIX: &str = "pushwire.bearer.";

/// What a request wants to do with a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Subscribe, poll, or read its info.
    Read,
    /// Publish.
    Write,
}

/// What a subscriber is allowed, as long as it stays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Grant {
    /// When its token stops being good (`None`: never, without auth or
    /// on a public channel without a token).
    pub expires: Option<Instant>,
    /// Whether it may publish to the channel (a WebSocket's text frames).
    pub write: bool,
}

impl Grant {
    /// Everything, for ever: a server without `Config::auth`.
    const OPEN: Grant = Grant {
        expires: None,
        write: true,
    };
}

/// The token a request carries, from the first place that has one.
pub(super) fn find_token<'h>(head: &'h RequestHead<'_, 'h>) -> Option<&'h [u8]> {
    let bearer = head.header("authorization").and_then(|value| {
        // RFC 7235 section 2.1: the scheme is case-insensitive.
        let scheme = value.get(..7)?;
        scheme
            .eq_ignore_ascii_case(b"bearer ")
            .then(|| trim_ows(value.get(7..).unwrap_or_default()))
    });
    let protocol = || {
        head.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-protocol"))
            .flat_map(|h| h.value.split(|&b| b == b','))
            .find_map(|entry| trim_ows(entry).strip_prefix(PROTOCOL_PREFIX.as_bytes()))
    };
    let query = || query::param(head.query, "token").map(str::as_bytes);
    let cookie = || {
        head.header("cookie")?
            .split(|&b| b == b';')
            .map(trim_ows)
            .find_map(|pair| pair.strip_prefix(COOKIE.as_bytes())?.strip_prefix(b"="))
    };
    bearer
        .or_else(protocol)
        .or_else(query)
        .or_else(cookie)
        .filter(|token| !token.is_empty())
}

/// Whether the request may do `access` on the channel `name`: what it is
/// granted, or the refusal (`401`, `403`).
pub(super) fn authorize(
    head: &RequestHead<'_, '_>,
    name: &ChannelName,
    access: Access,
    cx: &Cx<'_>,
) -> Result<Grant, Refusal> {
    let Some(auth) = &cx.config.auth else {
        return Ok(Grant::OPEN);
    };
    let channel = name.as_str();
    let public = access == Access::Read && auth.public.allows(channel);
    let now = cx.date.unix_secs();
    let checked = find_token(head).map(|token| auth.check(token, now));
    let claims = match checked {
        Some(Ok(claims)) => claims,
        // A public channel is read whatever the token: a stale cookie
        // must not break an open feed. Publishing still needs a good one.
        _ if public => {
            return Ok(Grant {
                expires: None,
                write: false,
            })
        }
        None => return Err(Refusal::NoToken),
        Some(Err(e)) => return Err(Refusal::BadToken(e)),
    };
    let allowed = match access {
        Access::Read => public || claims.read.allows(channel),
        Access::Write => claims.write.allows(channel),
    };
    if !allowed {
        return Err(Refusal::Forbidden(access, channel.into()));
    }
    // Good until `exp + leeway`, on the wall clock the driver gives; as
    // an instant on the engine's clock.
    let left = claims
        .expires
        .saturating_add(auth.leeway.as_secs())
        .saturating_sub(now);
    Ok(Grant {
        expires: Some(cx.now + Duration::from_secs(left.min(MAX_GRANT_SECS))),
        write: claims.write.allows(channel),
    })
}

/// Past this an expiry is as good as never, and `Instant` arithmetic stays
/// far from overflow (about 31 years).
const MAX_GRANT_SECS: u64 = 1 << 30;
