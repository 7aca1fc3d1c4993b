//! Who may read and write which channel: signed tokens (JWT, HS256),
//! sans-IO (docs/auth.md).
//!
//! - [`hmac`]: HMAC-SHA256 and a constant-time comparison of MACs (RFC
//!   2104, RFC 7518 section 3.2);
//! - [`token`]: the token codec, [`read_token`] and [`write_token`], and
//!   its [`Claims`];
//! - [`pattern`]: the channel patterns a token names (`room.*`).
//!
//! [`Auth`] is the server's side: its key, the leeway it allows clocks,
//! the largest token it reads, and the channels anyone may read
//! ([`Auth::public`]). Where a token travels in a request (a header, a
//! cookie, the query) is the engine's business (`engine/access.rs`); this
//! module reads no clock and does no I/O.

pub mod hmac;
pub mod pattern;
pub mod token;

use std::time::Duration;

pub use pattern::{Pattern, PatternError, Patterns};
pub use token::{read_token, write_token, Claims, TokenError};

use hmac::Key;

/// `Auth::leeway` by default: clocks may differ by this much (a few
/// seconds: NTP keeps servers far closer; more only lengthens what a
/// stolen, expired token is good for).
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(5);

/// `Auth::max_token_bytes` by default: a token naming a few dozen
/// patterns fits with room to spare.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 4096;

/// What the server checks tokens with (`--jwt-secret`; library:
/// `Config::auth`).
///
/// ```
/// use pushwire::auth::{Auth, Patterns};
///
/// let mut auth = Auth::new(b"a long random secret, 32 bytes or more");
/// auth.public = Patterns::parse_list("demo,news.*").unwrap();
/// let config = pushwire::Config { auth: Some(auth), ..pushwire::Config::default() };
/// assert!(config.auth.is_some());
/// ```
#[derive(Clone, Debug)]
pub struct Auth {
    /// The HS256 key (never printed).
    pub key: Key,
    /// Clock difference allowed around `exp`, `nbf` and `iat`
    /// (`--jwt-leeway`, default 5 s).
    pub leeway: Duration,
    /// The largest token read (`--max-token-bytes`, default 4096): a
    /// longer one is refused, `401` `too large`, before it is decoded.
    pub max_token_bytes: usize,
    /// Channels anyone may read without a token (`--public-channels`,
    /// default none). Publishing to them still needs one.
    pub public: Patterns,
}

impl Auth {
    /// Checks tokens signed with `secret`, with the default leeway and
    /// size, no public channel.
    pub fn new(secret: &[u8]) -> Auth {
        Auth {
            key: Key::new(secret),
            leeway: DEFAULT_LEEWAY,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            public: Patterns::none(),
        }
    }

    /// Reads `token` and checks it at `now` (seconds since the Unix
    /// epoch): its claims, or why it is refused.
    pub fn check(&self, token: &[u8], now: u64) -> Result<Claims, TokenError> {
        let claims = read_token(token, &self.key, self.max_token_bytes)?;
        claims.check_time(now, self.leeway.as_secs())?;
        Ok(claims)
    }
}
