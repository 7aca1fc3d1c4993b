//! JSON Web Tokens signed with HS256 (RFC 7519, RFC 7515, RFC 7518
//! section 3.2), read and written by hand, sans-IO.
//!
//! A token is three base64url parts (RFC 4648 section 5, no padding)
//! joined by dots: a JSON header, the JSON claims, and the HMAC-SHA256 of
//! the first two parts *as sent* (RFC 7515 section 5.1, the "JWS Signing
//! Input"):
//!
//! ```text
//! eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9                 {"alg":"HS256","typ":"JWT"}
//! .eyJzdWIiOiJhbGljZSIsImV4cCI6MTc5...                 {"sub":"alice","exp":1796...,
//!                                                        "pushwire":{"read":["room.*"],
//!                                                                    "write":["room.1"]}}
//! .3q0w...                                             HMAC-SHA256(key, part1 "." part2)
//! ```
//!
//! [`read_token`] checks, in this order, and stops at the first failure:
//!
//! | check                                                      | refusal            |
//! |------------------------------------------------------------|--------------------|
//! | at most `max_bytes` long, before anything is decoded       | `too large`        |
//! | three parts, each canonical base64url; JSON objects; a header of at most 512 bytes | `malformed` |
//! | `alg` is `HS256`: `none` (RFC 7518 section 3.6), `RS256`, anything else refused, so a token cannot choose how it is checked | `unsupported alg` |
//! | no `crit` header: pushwire understands no extension, and RFC 7515 section 4.1.11 says a token naming one it does not understand is invalid | `unknown critical header` |
//! | the signature, compared in constant time ([`super::hmac::verify`]) | `bad signature` |
//! | `exp` present, a number (RFC 7519 section 4.1.4)           | `missing exp`      |
//! | `nbf`, `iat` numbers if present, `sub` a string, the `pushwire` claim's shape | `malformed` |
//!
//! The claims are parsed only after the signature holds, so what an
//! attacker can make the server parse without the key is a header of at
//! most 512 bytes (and an HMAC over at most `max_bytes`). Times are
//! checked apart ([`Claims::check_time`]),
//! against the caller's clock: this module reads none.
//!
//! A member name that appears twice in the header or the claims is
//! refused (`malformed`), as RFC 7519 section 4 allows, rather than
//! resolved one way here and another way in the application that minted
//! the token.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::decimal::write_u64;
use crate::json::{self, Value};

use super::hmac::{Key, MAC_LEN};
use super::pattern::{Pattern, Patterns};

/// The one algorithm pushwire takes (RFC 7518 section 3.1).
pub const ALGORITHM: &str = "HS256";

/// The claim that says which channels a token may read and write.
pub const CLAIM: &str = "pushwire";

/// The longest header read, in base64url characters (512 bytes decoded).
/// An HS256 header is a few dozen bytes (`{"alg":"HS256","typ":"JWT"}`
/// and perhaps a `kid`); the long members some headers carry (`x5c`
/// certificate chains) belong to algorithms pushwire refuses anyway. The
/// header is read before the signature is checked, so this bounds what a
/// client without the key can make the server parse.
pub const MAX_HEADER_TEXT: usize = (512 * 4_usize).div_ceil(3);

/// The latest time a token holds: 2^53 - 1 seconds after the epoch (the
/// year 285 million). RFC 7493 (I-JSON) section 2.2: an integer past it
/// is not exact for a reader that holds numbers as IEEE 754 doubles, as
/// JavaScript does and [`read_token`] does, so a time past it is written
/// and read as this one; a token then reads back as the claims it was
/// written from.
pub const MAX_TIME: u64 = (1 << 53) - 1;

/// Why a token was refused. [`TokenError::reason`] is the short text of
/// the `error_description` a client gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Longer than the limit; nothing of it was decoded.
    TooLarge,
    /// Not three base64url parts of JSON objects of the right shape; the
    /// text says what is wrong.
    Malformed(&'static str),
    /// `alg` is not `HS256` (`none` included).
    UnsupportedAlg,
    /// The header has a `crit` member.
    CriticalHeader,
    /// The signature is not the HMAC of the token under the server's key.
    BadSignature,
    /// The claims have no `exp`.
    MissingExp,
    /// `exp`, and the leeway after it, have passed.
    Expired,
    /// `nbf` is still ahead, by more than the leeway.
    NotYetValid,
    /// `iat` is ahead, by more than the leeway.
    IssuedInFuture,
}

impl TokenError {
    /// The short reason: `expired`, `bad signature`, `malformed`, ...
    pub fn reason(self) -> &'static str {
        match self {
            TokenError::TooLarge => "too large",
            TokenError::Malformed(_) => "malformed",
            TokenError::UnsupportedAlg => "unsupported alg",
            TokenError::CriticalHeader => "unknown critical header",
            TokenError::BadSignature => "bad signature",
            TokenError::MissingExp => "missing exp",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not yet valid",
            TokenError::IssuedInFuture => "issued in the future",
        }
    }

    /// The `WWW-Authenticate` value of the `401` (RFC 6750 section 3).
    pub fn challenge(self) -> &'static [u8] {
        match self {
            TokenError::TooLarge => {
                b"Bearer error=\"invalid_token\", error_description=\"too large\""
            }
            TokenError::Malformed(_) => {
                b"Bearer error=\"invalid_token\", error_description=\"malformed\""
            }
            TokenError::UnsupportedAlg => {
                b"Bearer error=\"invalid_token\", error_description=\"unsupported alg\""
            }
            TokenError::CriticalHeader => {
                b"Bearer error=\"invalid_token\", error_description=\"unknown critical header\""
            }
            TokenError::BadSignature => {
                b"Bearer error=\"invalid_token\", error_description=\"bad signature\""
            }
            TokenError::MissingExp => {
                b"Bearer error=\"invalid_token\", error_description=\"missing exp\""
            }
            TokenError::Expired => b"Bearer error=\"invalid_token\", error_description=\"expired\"",
            TokenError::NotYetValid => {
                b"Bearer error=\"invalid_token\", error_description=\"not yet valid\""
            }
            TokenError::IssuedInFuture => {
                b"Bearer error=\"invalid_token\", error_description=\"issued in the future\""
            }
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Malformed(why) => write!(f, "malformed ({why})"),
            other => f.write_str(other.reason()),
        }
    }
}

impl std::error::Error for TokenError {}

/// What a token says: who, until when, which channels.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Claims {
    /// `sub`: whom the token was given to (for logs; pushwire does not
    /// act on it).
    pub subject: Option<String>,
    /// `exp`, in seconds since the Unix epoch (a fraction is cut off; at
    /// most [`MAX_TIME`]).
    pub expires: u64,
    /// `nbf`, in seconds since the Unix epoch (a fraction rounds up; at
    /// most [`MAX_TIME`]).
    pub not_before: Option<u64>,
    /// `iat`, in seconds since the Unix epoch (a fraction rounds up; at
    /// most [`MAX_TIME`]).
    pub issued_at: Option<u64>,
    /// `pushwire.read`: the channels it may subscribe to.
    pub read: Patterns,
    /// `pushwire.write`: the channels it may publish to.
    pub write: Patterns,
}

impl Claims {
    /// Checks the times against `now` (seconds since the Unix epoch),
    /// allowing `leeway` seconds of clock difference either way (RFC 7519
    /// sections 4.1.4 and 4.1.5 allow "some small leeway"): the token is
    /// good from `nbf - leeway` until before `exp + leeway`.
    pub fn check_time(&self, now: u64, leeway: u64) -> Result<(), TokenError> {
        if now >= self.expires.saturating_add(leeway) {
            return Err(TokenError::Expired);
        }
        if self
            .not_before
            .is_some_and(|nbf| nbf > now.saturating_add(leeway))
        {
            return Err(TokenError::NotYetValid);
        }
        if self
            .issued_at
            .is_some_and(|iat| iat > now.saturating_add(leeway))
        {
            return Err(TokenError::IssuedInFuture);
        }
        Ok(())
    }
}

/// Splits, checks and verifies a token; returns its claims when its
/// header and signature hold (the times are the caller's:
/// [`Claims::check_time`]).
///
/// ```
/// use pushwire::auth::{hmac::Key, read_token, write_token, Claims, Patterns, TokenError};
///
/// let key = Key::new(b"a secret of at least 32 bytes, for HS256");
/// let claims = Claims {
///     expires: 2_000_000_000,
///     read: Patterns::parse_list("room.*").unwrap(),
///     ..Claims::default()
/// };
/// let token = write_token(&key, &claims);
/// assert_eq!(read_token(token.as_bytes(), &key, 4096), Ok(claims));
/// let other = Key::new(b"another secret");
/// assert_eq!(read_token(token.as_bytes(), &other, 4096), Err(TokenError::BadSignature));
/// ```
pub fn read_token(token: &[u8], key: &Key, max_bytes: usize) -> Result<Claims, TokenError> {
    if token.len() > max_bytes {
        return Err(TokenError::TooLarge);
    }
    let mut parts = token.split(|&b| b == b'.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("not three parts joined by dots"));
    };
    // What the signature covers: the header, the dot, the claims.
    let signed_len = header.len() + 1 + payload.len();
    if header.len() > MAX_HEADER_TEXT {
        return Err(TokenError::Malformed("the header is longer than 512 bytes"));
    }
    let header = decode_json(header, "the header is not base64url JSON")?;
    if !matches!(header, Value::Object(_)) {
        return Err(TokenError::Malformed("the header is not a JSON object"));
    }
    if header.get("alg").and_then(Value::as_str) != Some(ALGORITHM) {
        return Err(TokenError::UnsupportedAlg);
    }
    if header.get("crit").is_some() {
        return Err(TokenError::CriticalHeader);
    }
    let mac = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed("the signature is not base64url"))?;
    if mac.len() != MAC_LEN {
        return Err(TokenError::BadSignature);
    }
    let signed = token.get(..signed_len).unwrap_or_default();
    if !key.verify(signed, &mac) {
        return Err(TokenError::BadSignature);
    }
    let claims = decode_json(payload, "the claims are not base64url JSON")?;
    read_claims(&claims)
}

fn decode_json(part: &[u8], why: &'static str) -> Result<Value, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed(why))?;
    json::parse_value(&bytes).map_err(|_| TokenError::Malformed(why))
}

fn read_claims(claims: &Value) -> Result<Claims, TokenError> {
    if !matches!(claims, Value::Object(_)) {
        return Err(TokenError::Malformed("the claims are not a JSON object"));
    }
    let time = |name: &str, why: &'static str| -> Result<Option<f64>, TokenError> {
        match claims.get(name) {
            None => Ok(None),
            Some(value) => value.as_f64().map(Some).ok_or(TokenError::Malformed(why)),
        }
    };
    let expires = time("exp", "exp must be a number")?.ok_or(TokenError::MissingExp)?;
    let not_before = time("nbf", "nbf must be a number")?;
    let issued_at = time("iat", "iat must be a number")?;
    let subject = match claims.get("sub") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(TokenError::Malformed("sub must be a string")),
    };
    let (read, write) = match claims.get(CLAIM) {
        None => (Patterns::none(), Patterns::none()),
        Some(grant @ Value::Object(_)) => (
            patterns(
                grant.get("read"),
                "pushwire.read must be a list of channel patterns",
            )?,
            patterns(
                grant.get("write"),
                "pushwire.write must be a list of channel patterns",
            )?,
        ),
        Some(_) => {
            return Err(TokenError::Malformed(
                "the pushwire claim must be an object",
            ))
        }
    };
    // `as` saturates: a negative time is 0, a huge one u64::MAX, then
    // MAX_TIME.
    let seconds = |t: f64| (t as u64).min(MAX_TIME);
    Ok(Claims {
        subject,
        expires: seconds(expires.floor()),
        not_before: not_before.map(|t| seconds(t.ceil())),
        issued_at: issued_at.map(|t| seconds(t.ceil())),
        read,
        write,
    })
}

fn patterns(list: Option<&Value>, why: &'static str) -> Result<Patterns, TokenError> {
    let Some(list) = list else {
        return Ok(Patterns::none());
    };
    let items = list.as_array().ok_or(TokenError::Malformed(why))?;
    items
        .iter()
        .map(|item| {
            item.as_str()
                .and_then(|text| Pattern::parse(text).ok())
                .ok_or(TokenError::Malformed(why))
        })
        .collect()
}

/// Writes a token for `claims`, signed with `key`: what an application
/// does to let a client in (`pushwire token` does it from a shell). A
/// time past [`MAX_TIME`] is written as `MAX_TIME`.
pub fn write_token(key: &Key, claims: &Claims) -> String {
    let mut body = Vec::new();
    body.push(b'{');
    if let Some(sub) = &claims.subject {
        body.extend_from_slice(b"\"sub\":");
        json::write_string(&mut body, sub);
        body.push(b',');
    }
    if let Some(iat) = claims.issued_at {
        body.extend_from_slice(b"\"iat\":");
        write_u64(&mut body, iat.min(MAX_TIME));
        body.push(b',');
    }
    if let Some(nbf) = claims.not_before {
        body.extend_from_slice(b"\"nbf\":");
        write_u64(&mut body, nbf.min(MAX_TIME));
        body.push(b',');
    }
    body.extend_from_slice(b"\"exp\":");
    write_u64(&mut body, claims.expires.min(MAX_TIME));
    body.extend_from_slice(b",\"pushwire\":{\"read\":");
    write_patterns(&mut body, &claims.read);
    body.extend_from_slice(b",\"write\":");
    write_patterns(&mut body, &claims.write);
    body.extend_from_slice(b"}}");
    let mut token = URL_SAFE_NO_PAD.encode(b"{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(&body));
    let mac = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(mac));
    token
}

fn write_patterns(out: &mut Vec<u8>, patterns: &Patterns) {
    out.push(b'[');
    for (i, pattern) in patterns.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::write_string(out, &pattern.to_string());
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key::new(b"test secret")
    }

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    /// A token with this header and these claims, signed with `key()`.
    fn signed(header: &str, claims: &str) -> String {
        let input = format!("{}.{}", b64(header), b64(claims));
        let mac = key().sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac))
    }

    const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

    #[test]
    fn a_token_from_rfc_7515_appendix_a1_checks_with_its_key() {
        // RFC 7515 appendix A.1: the example HS256 JWS and its key (a JWK
        // "k", base64url). Its claims have no pushwire claim, so it names
        // no channel; `exp` is 1300819380.
        let k = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
        let key = Key::new(&URL_SAFE_NO_PAD.decode(k).unwrap());
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9\
            .eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ\
            .dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let claims = read_token(token.as_bytes(), &key, 4096).unwrap();
        assert_eq!(claims.expires, 1_300_819_380);
        assert!(claims.read.is_empty());
        assert_eq!(claims.check_time(1_300_819_379, 0), Ok(()));
        assert_eq!(
            claims.check_time(1_300_819_380, 0),
            Err(TokenError::Expired)
        );
        assert_eq!(claims.check_time(1_300_819_380, 5), Ok(()));
    }

    #[test]
    fn written_tokens_read_back() {
        let claims = Claims {
            subject: Some("al\"ice".into()),
            expires: 1_800_000_000,
            not_before: Some(1_700_000_000),
            issued_at: Some(1_700_000_001),
            read: Patterns::parse_list("room.*,news").unwrap(),
            write: Patterns::parse_list("room.1").unwrap(),
        };
        let token = write_token(&key(), &claims);
        assert_eq!(read_token(token.as_bytes(), &key(), 4096), Ok(claims));
        assert_eq!(
            read_token(token.as_bytes(), &key(), token.len() - 1),
            Err(TokenError::TooLarge)
        );
    }

    #[test]
    fn every_refusal_has_its_reason() {
        let good = r#"{"exp":2000000000}"#;
        let table: Vec<(String, TokenError)> = vec![
            (
                "a.b".into(),
                TokenError::Malformed("not three parts joined by dots"),
            ),
            (
                "a.b.c.d".into(),
                TokenError::Malformed("not three parts joined by dots"),
            ),
            (
                signed(r#"{"alg":"none"}"#, good),
                TokenError::UnsupportedAlg,
            ),
            (
                format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(good)),
                TokenError::UnsupportedAlg,
            ),
            (
                signed(r#"{"alg":"RS256"}"#, good),
                TokenError::UnsupportedAlg,
            ),
            (
                signed(r#"{"alg":"hs256"}"#, good),
                TokenError::UnsupportedAlg,
            ),
            (signed(r#"{"typ":"JWT"}"#, good), TokenError::UnsupportedAlg),
            (
                signed(r#"{"alg":"HS256","crit":["exp"],"exp":1}"#, good),
                TokenError::CriticalHeader,
            ),
            (
                signed(r#"{"alg":"HS256","alg":"HS256"}"#, good),
                TokenError::Malformed("the header is not base64url JSON"),
            ),
            (
                signed("[1]", good),
                TokenError::Malformed("the header is not a JSON object"),
            ),
            (signed(HS256, "{}"), TokenError::MissingExp),
            (
                signed(HS256, r#"{"exp":"soon"}"#),
                TokenError::Malformed("exp must be a number"),
            ),
            (
                signed(HS256, r#"{"exp":1,"pushwire":{"read":["a*b"]}}"#),
                TokenError::Malformed("pushwire.read must be a list of channel patterns"),
            ),
            (
                signed(HS256, r#"{"exp":1,"pushwire":{"write":"a"}}"#),
                TokenError::Malformed("pushwire.write must be a list of channel patterns"),
            ),
            (
                signed(HS256, r#"{"exp":1,"pushwire":[]}"#),
                TokenError::Malformed("the pushwire claim must be an object"),
            ),
            (
                signed(HS256, r#"{"exp":1,"sub":7}"#),
                TokenError::Malformed("sub must be a string"),
            ),
        ];
        for (token, expected) in table {
            assert_eq!(
                read_token(token.as_bytes(), &key(), 4096),
                Err(expected),
                "{token}"
            );
        }
        // A header of 512 bytes is read; one of 513 is not.
        let pad = |n: usize| format!(r#"{{"alg":"HS256","x":"{}"}}"#, "x".repeat(n - 22));
        assert_eq!(pad(512).len(), 512);
        assert_eq!(
            read_token(signed(&pad(512), good).as_bytes(), &key(), 4096).map(|c| c.expires),
            Ok(2_000_000_000)
        );
        assert_eq!(
            read_token(signed(&pad(513), good).as_bytes(), &key(), 4096),
            Err(TokenError::Malformed("the header is longer than 512 bytes"))
        );
        // A signature of the wrong length, a flipped bit, a padded part.
        let token = signed(HS256, good);
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mac = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let short = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&mac[..31]));
        assert_eq!(
            read_token(short.as_bytes(), &key(), 4096),
            Err(TokenError::BadSignature)
        );
        let mut flipped = token.clone().into_bytes();
        flipped[5] ^= 1;
        assert!(read_token(&flipped, &key(), 4096).is_err());
        let padded = format!("{token}=");
        assert_eq!(
            read_token(padded.as_bytes(), &key(), 4096),
            Err(TokenError::Malformed("the signature is not base64url"))
        );
    }

    #[test]
    fn times_round_the_safe_way() {
        let claims =
            read_claims(&json::parse_value(br#"{"exp":100.9,"nbf":50.1,"iat":-3}"#).unwrap())
                .unwrap();
        assert_eq!(claims.expires, 100);
        assert_eq!(claims.not_before, Some(51));
        assert_eq!(claims.issued_at, Some(0));
        assert_eq!(claims.check_time(99, 0), Ok(()));
        assert_eq!(claims.check_time(50, 0), Err(TokenError::NotYetValid));
        assert_eq!(claims.check_time(50, 1), Ok(()));
        let future = Claims {
            expires: 1000,
            issued_at: Some(200),
            ..Claims::default()
        };
        assert_eq!(future.check_time(100, 5), Err(TokenError::IssuedInFuture));
    }

    #[test]
    fn times_past_2_to_the_53_are_written_and_read_as_max_time() {
        // Found by the token fuzz target: 7233174017412905506 was written
        // exactly and read back as the nearest f64, 7233174017412905984.
        for time in [
            MAX_TIME + 1,
            MAX_TIME + 3,
            7_233_174_017_412_905_506,
            u64::MAX,
        ] {
            let claims = Claims {
                expires: time,
                not_before: Some(time),
                issued_at: Some(time),
                ..Claims::default()
            };
            let token = write_token(&key(), &claims);
            let read = read_token(token.as_bytes(), &key(), 4096).unwrap();
            assert_eq!(read.expires, MAX_TIME, "{time}");
            assert_eq!(read.not_before, Some(MAX_TIME), "{time}");
            assert_eq!(read.issued_at, Some(MAX_TIME), "{time}");
        }
        // Written by someone else: read as MAX_TIME too, so the claims
        // written again read back the same.
        let read = read_token(
            signed(HS256, r#"{"exp":1e300,"nbf":9007199254740993}"#).as_bytes(),
            &key(),
            4096,
        )
        .unwrap();
        assert_eq!((read.expires, read.not_before), (MAX_TIME, Some(MAX_TIME)));
        let again = write_token(&key(), &read);
        assert_eq!(read_token(again.as_bytes(), &key(), 4096), Ok(read));
        let latest = Claims {
            expires: MAX_TIME,
            ..Claims::default()
        };
        let token = write_token(&key(), &latest);
        assert_eq!(read_token(token.as_bytes(), &key(), 4096), Ok(latest));
    }

    #[test]
    fn any_change_to_a_token_is_refused() {
        let token = write_token(
            &key(),
            &Claims {
                expires: 7,
                read: Patterns::parse_list("*").unwrap(),
                ..Claims::default()
            },
        );
        for i in 0..token.len() {
            for replacement in [b'A', b'.', b'_', b'x'] {
                let mut changed = token.clone().into_bytes();
                if changed[i] == replacement {
                    continue;
                }
                changed[i] = replacement;
                assert!(read_token(&changed, &key(), 4096).is_err(), "{i}");
            }
        }
    }
}
