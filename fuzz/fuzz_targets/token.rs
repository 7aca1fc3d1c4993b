//! Signed tokens (`pushwire::auth`, JWT HS256) and the generic JSON reader
//! under them (`pushwire::json::parse_value`). Every input is used four
//! ways:
//!
//! 1. As a token, under a fixed key, read with a small size limit
//!    (`read_token`) and checked at a time taken from the input
//!    (`Auth::check`): never a panic; `too large` exactly when longer than
//!    the limit; what is accepted really is three parts whose signature is
//!    the HMAC of the first two, its claims written again with
//!    `write_token` under the same key read back equal, and `Auth::check`
//!    is `read_token` followed by `Claims::check_time`.
//! 2. As the JSON of a token's parts, signed here with the key (the input
//!    cut at its first `0xff`: header, then claims; without one, the
//!    claims under `{"alg":"HS256","typ":"JWT"}`): `read_token` gives
//!    exactly what a reference written in this target from RFC 7519 and
//!    the module's refusal table gives, on `serde_json`'s tree (same
//!    error, or same claims), and accepted claims round-trip through
//!    `write_token`.
//! 3. As claims (a subject string, any `u64` times, pattern texts built
//!    from the input's bytes over a small alphabet, kept where
//!    `Pattern::parse` takes them, which must agree with the rule written
//!    here): the token `write_token` makes is three base64url parts, reads
//!    back equal (times past `token::MAX_TIME`, 2^53 - 1, as `MAX_TIME`),
//!    is accepted by `Auth::check` exactly when the times allow, and with
//!    any one byte changed (position and new value from the input) is
//!    never accepted.
//! 4. As JSON text: `parse_value` never panics and agrees with
//!    `serde_json::Value` on accept / refuse and on the tree, except for
//!    two documented differences where pushwire refuses what serde_json
//!    takes:
//!    - a name twice in one object: pushwire refuses it (RFC 7519 section
//!      4 lets a token reader do so), serde_json keeps the last;
//!    - nesting deeper than `json::MAX_DEPTH` (64): pushwire refuses it,
//!      serde_json takes up to 128.
//!
//!    Numbers agree: both refuse a number too large for an `f64` (`1e309`,
//!    400 digits), both read a too-small one (`1e-400`) as 0, and both
//!    round to the nearest `f64`, serde_json with its `float_roundtrip`
//!    feature, which this crate turns on. Without it serde_json rounds
//!    long numbers to within one unit in the last place only: the first
//!    run found `123656789012345678901740993` read as
//!    `1.2365678901234567e26`, not the nearest `1.2365678901234569e26`
//!    (`seed-long-integer-rounding`).
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use pushwire::auth::hmac::Key;
use pushwire::auth::token::MAX_TIME;
use pushwire::auth::{read_token, write_token, Auth, Claims, Pattern, Patterns, TokenError};
use pushwire::json::{self, JsonError, Value};

const SECRET: &[u8] = b"pushwire fuzz key, 32 bytes long";

/// The size limit of property 1: small, so both sides of it are reached.
const MAX_TOKEN: usize = 384;

const LEEWAY: u64 = 5;

fn auth() -> Auth {
    let mut auth = Auth::new(SECRET);
    auth.max_token_bytes = MAX_TOKEN;
    auth.leeway = std::time::Duration::from_secs(LEEWAY);
    auth
}

/// `now` for `Auth::check`: the input's last eight bytes.
fn now_from(data: &[u8]) -> u64 {
    let mut now = [0u8; 8];
    for (n, b) in now.iter_mut().zip(data.iter().rev()) {
        *n = *b;
    }
    u64::from_le_bytes(now)
}

/// RFC 7519 sections 4.1.4-4.1.6 with the leeway, written from the rule:
/// good from `nbf - leeway`, until before `exp + leeway`, and not issued
/// more than the leeway ahead.
fn time_allows(claims: &Claims, now: u64, leeway: u64) -> Result<(), TokenError> {
    if u128::from(now) >= u128::from(claims.expires) + u128::from(leeway) {
        return Err(TokenError::Expired);
    }
    let ahead = |t: u64| u128::from(t) > u128::from(now) + u128::from(leeway);
    if claims.not_before.is_some_and(ahead) {
        return Err(TokenError::NotYetValid);
    }
    if claims.issued_at.is_some_and(ahead) {
        return Err(TokenError::IssuedInFuture);
    }
    Ok(())
}

/// A token accepted under the key: three parts, the third the MAC of the
/// first two, and its claims written again read back the same.
fn check_accepted(token: &[u8], claims: &Claims, key: &Key) {
    let parts: Vec<&[u8]> = token.split(|&b| b == b'.').collect();
    assert_eq!(parts.len(), 3, "accepted a token of {} parts", parts.len());
    let signed = token.len() - parts[2].len() - 1;
    let mac = URL_SAFE_NO_PAD
        .decode(parts[2])
        .expect("an accepted signature is base64url");
    assert!(key.verify(&token[..signed], &mac), "accepted a bad MAC");
    let again = write_token(key, claims);
    assert_eq!(
        read_token(again.as_bytes(), key, usize::MAX).as_ref(),
        Ok(claims),
        "claims written again read back different"
    );
}

/// Property 1: the input as a token.
fn check_any_token(data: &[u8]) {
    let auth = auth();
    let read = read_token(data, &auth.key, MAX_TOKEN);
    assert_eq!(
        read == Err(TokenError::TooLarge),
        data.len() > MAX_TOKEN,
        "{read:?} for {} bytes",
        data.len()
    );
    let now = now_from(data);
    let checked = auth.check(data, now);
    let expected = read
        .clone()
        .and_then(|claims| claims.check_time(now, LEEWAY).map(|()| claims));
    assert_eq!(checked, expected);
    if let Ok(claims) = &read {
        check_accepted(data, claims, &auth.key);
    }
}

/// `parse_value`'s verdict with `serde_json`'s tree: `None` when pushwire
/// refuses (property 4 checks that refusal against serde_json).
fn reference_json(bytes: &[u8]) -> Option<serde_json::Value> {
    json::parse_value(bytes).ok()?;
    serde_json::from_slice(bytes).ok()
}

/// The pattern rule of `auth::pattern`, written again: a channel name of
/// `[A-Za-z0-9._~-]`, at most `MAX_CHANNEL_NAME` bytes, or such a stem
/// (possibly empty) followed by one `*`.
fn reference_pattern(text: &str) -> bool {
    let (stem, prefix) = match text.strip_suffix('*') {
        Some(stem) => (stem, true),
        None => (text, false),
    };
    let name_byte = |b: u8| b.is_ascii_alphanumeric() || b"._~-".contains(&b);
    stem.bytes().all(name_byte)
        && stem.len() <= pushwire::broker::MAX_CHANNEL_NAME
        && (prefix || !stem.is_empty())
}

/// The refusal of the first rule that does not hold.
fn first_broken(rules: &[(bool, TokenError)]) -> Result<(), TokenError> {
    match rules.iter().find(|(holds, _)| !holds) {
        Some((_, refusal)) => Err(*refusal),
        None => Ok(()),
    }
}

/// What a token with this header and these claims, correctly signed,
/// must read as: the refusal table of `auth::token` as a table here, the
/// first rule that does not hold giving the refusal.
fn reference_token(header: &[u8], claims: &[u8]) -> Result<Claims, TokenError> {
    use serde_json::Value as J;
    use TokenError::Malformed;
    if header.len() > 512 {
        return Err(Malformed("the header is longer than 512 bytes"));
    }
    let header = reference_json(header).ok_or(Malformed("the header is not base64url JSON"))?;
    let header_rules = [
        (
            header.is_object(),
            Malformed("the header is not a JSON object"),
        ),
        (
            header.get("alg").and_then(J::as_str) == Some("HS256"),
            TokenError::UnsupportedAlg,
        ),
        (header.get("crit").is_none(), TokenError::CriticalHeader),
    ];
    first_broken(&header_rules)?;
    // The signature holds (it was made here); then the claims.
    let claims = reference_json(claims).ok_or(Malformed("the claims are not base64url JSON"))?;
    let absent_or = |value: Option<&J>, rule: fn(&J) -> bool| value.is_none_or(rule);
    let grant = claims.get("pushwire");
    let list = |name: &str| grant.and_then(|g| g.get(name));
    let pattern_list = |list: &J| {
        list.as_array().is_some_and(|items| {
            items
                .iter()
                .all(|item| item.as_str().is_some_and(reference_pattern))
        })
    };
    let claim_rules = [
        (
            claims.is_object(),
            Malformed("the claims are not a JSON object"),
        ),
        (
            absent_or(claims.get("exp"), J::is_number),
            Malformed("exp must be a number"),
        ),
        (claims.get("exp").is_some(), TokenError::MissingExp),
        (
            absent_or(claims.get("nbf"), J::is_number),
            Malformed("nbf must be a number"),
        ),
        (
            absent_or(claims.get("iat"), J::is_number),
            Malformed("iat must be a number"),
        ),
        (
            absent_or(claims.get("sub"), J::is_string),
            Malformed("sub must be a string"),
        ),
        (
            absent_or(grant, J::is_object),
            Malformed("the pushwire claim must be an object"),
        ),
        (
            absent_or(list("read"), pattern_list),
            Malformed("pushwire.read must be a list of channel patterns"),
        ),
        (
            absent_or(list("write"), pattern_list),
            Malformed("pushwire.write must be a list of channel patterns"),
        ),
    ];
    first_broken(&claim_rules)?;
    // Every rule holds: read the values. Seconds: `exp` is cut down, `nbf`
    // and `iat` rounded up (the safe side of each); negative is 0, past
    // MAX_TIME is MAX_TIME.
    let time = |name: &str| claims.get(name).and_then(J::as_f64);
    let seconds = |t: f64| (t as u64).min(MAX_TIME);
    let patterns = |name: &str| -> Patterns {
        list(name)
            .and_then(J::as_array)
            .into_iter()
            .flatten()
            .filter_map(J::as_str)
            .filter_map(|text| Pattern::parse(text).ok())
            .collect()
    };
    Ok(Claims {
        subject: claims.get("sub").and_then(J::as_str).map(str::to_owned),
        expires: time("exp").map_or(0, |t| seconds(t.floor())),
        not_before: time("nbf").map(|t| seconds(t.ceil())),
        issued_at: time("iat").map(|t| seconds(t.ceil())),
        read: patterns("read"),
        write: patterns("write"),
    })
}

/// Property 2: the input as the JSON of a correctly signed token.
fn check_signed_parts(data: &[u8]) {
    let (header, claims): (&[u8], &[u8]) = match data.iter().position(|&b| b == 0xff) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (br#"{"alg":"HS256","typ":"JWT"}"#, data),
    };
    let key = Key::new(SECRET);
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let mac = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(mac));
    let ours = read_token(token.as_bytes(), &key, usize::MAX);
    let expected = reference_token(header, claims);
    assert_eq!(
        ours,
        expected,
        "header {:?}, claims {:?}",
        String::from_utf8_lossy(header),
        String::from_utf8_lossy(claims)
    );
    if let Ok(claims) = &ours {
        check_accepted(token.as_bytes(), claims, &key);
    }
}

/// Claims built from the input, for property 3.
#[derive(Arbitrary, Debug)]
struct Written {
    subject: Option<String>,
    expires: u64,
    not_before: Option<u64>,
    issued_at: Option<u64>,
    read: Vec<Vec<u8>>,
    write: Vec<Vec<u8>>,
    now: u64,
    change_at: u16,
    change_by: u8,
}

/// Pattern texts are drawn from name bytes, `*`, and a few bytes a
/// pattern may not hold, so valid and invalid ones both come often.
fn pattern_text(bytes: &[u8]) -> String {
    const ALPHABET: [char; 16] = [
        'a', 'b', 'Z', '0', '9', '.', '_', '~', '-', '*', '*', 'r', '/', ' ', 'é', ',',
    ];
    let mut text: String = bytes
        .iter()
        .map(|&b| ALPHABET[usize::from(b % 16)])
        .collect();
    // Long stems are reachable too: a first byte past 0xf0 repeats the
    // text up to past the name limit.
    if bytes.first().is_some_and(|&b| b >= 0xf0) && !text.is_empty() {
        text = text.repeat(pushwire::broker::MAX_CHANNEL_NAME / text.len() + 1);
    }
    text
}

fn build_patterns(texts: &[Vec<u8>]) -> Patterns {
    let mut patterns = Patterns::none();
    for bytes in texts {
        let text = pattern_text(bytes);
        let parsed = Pattern::parse(&text);
        assert_eq!(parsed.is_ok(), reference_pattern(&text), "{text:?}");
        if let Ok(pattern) = parsed {
            assert_eq!(pattern.to_string(), text);
            patterns.push(pattern);
        }
    }
    patterns
}

/// Property 3: a token written from claims reads back as them, and not
/// after any one byte changes.
fn check_written(w: &Written) {
    let time = |t: u64| t.min(MAX_TIME);
    let claims = Claims {
        subject: w.subject.clone(),
        expires: time(w.expires),
        not_before: w.not_before.map(time),
        issued_at: w.issued_at.map(time),
        read: build_patterns(&w.read),
        write: build_patterns(&w.write),
    };
    let key = Key::new(SECRET);
    let token = write_token(&key, &claims);
    let unclamped = Claims {
        expires: w.expires,
        not_before: w.not_before,
        issued_at: w.issued_at,
        ..claims.clone()
    };
    assert_eq!(write_token(&key, &unclamped), token);
    assert_eq!(token.split('.').count(), 3);
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
        "{token}"
    );
    assert_eq!(
        read_token(token.as_bytes(), &key, usize::MAX).as_ref(),
        Ok(&claims)
    );
    let mut auth = auth();
    auth.max_token_bytes = usize::MAX;
    assert_eq!(
        auth.check(token.as_bytes(), w.now),
        time_allows(&claims, w.now, LEEWAY).map(|()| claims.clone())
    );
    let mut changed = token.into_bytes();
    let at = usize::from(w.change_at) % changed.len();
    changed[at] ^= w.change_by.max(1);
    let read = read_token(&changed, &key, usize::MAX);
    assert!(
        read.is_err(),
        "byte {at} changed and still read: {:?} -> {read:?}",
        String::from_utf8_lossy(&changed)
    );
}

/// Whether pushwire's tree is serde_json's.
fn same(ours: &Value, theirs: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (ours, theirs) {
        (Value::Null, J::Null) => true,
        (Value::Bool(a), J::Bool(b)) => a == b,
        (Value::Number(a), J::Number(b)) => b.as_f64() == Some(*a),
        (Value::String(a), J::String(b)) => a == b,
        (Value::Array(a), J::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(a), J::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(name, x)| b.get(name).is_some_and(|y| same(x, y)))
        }
        _ => false,
    }
}

/// Property 4: `parse_value` against serde_json.
fn check_parse_value(data: &[u8]) {
    let ours = json::parse_value(data);
    let theirs = serde_json::from_slice::<serde_json::Value>(data);
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => assert!(same(a, b), "{a:?} vs {b:?}"),
        (Err(_), Err(_)) => {}
        // The two documented differences (see the header).
        (Err(JsonError::DuplicateField { .. } | JsonError::TooDeep { .. }), Ok(_)) => {}
        _ => panic!(
            "parse_value {ours:?} but serde_json {theirs:?} on {:?}",
            String::from_utf8_lossy(data)
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    check_parse_value(data);
    check_any_token(data);
    check_signed_parts(data);
    if let Ok(w) = Written::arbitrary(&mut Unstructured::new(data)) {
        check_written(&w);
    }
});
