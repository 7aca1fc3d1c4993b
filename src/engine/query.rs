//! Query-string parameters: `since=` and `timeout=`.
//!
//! Channel names and ids never need percent-encoding, so values are taken
//! as they are; anything that is not the expected number is refused with
//! `400` rather than guessed at.

use std::time::Duration;

use crate::decimal::parse_decimal;

/// The value of `key` in a query string (`a=1&since=3`); the first wins.
pub(crate) fn param<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    // Byte-wise on purpose: this runs for every poll, and `&` and `=` are
    // ASCII, so every split point is a char boundary.
    let bytes = query.as_bytes();
    let mut start = 0;
    while start <= bytes.len() {
        let end = bytes
            .get(start..)
            .and_then(|rest| rest.iter().position(|&b| b == b'&'))
            .map_or(bytes.len(), |i| start + i);
        let pair = query.get(start..end).unwrap_or("");
        let (k, v) = match pair.as_bytes().iter().position(|&b| b == b'=') {
            Some(i) => (pair.get(..i).unwrap_or(""), pair.get(i + 1..).unwrap_or("")),
            None => (pair, ""),
        };
        if k == key {
            return Some(v);
        }
        start = end + 1;
    }
    None
}

/// `since=`: a message id; `Ok(None)` when absent, `Err` when not digits.
pub(crate) fn since(query: &str) -> Result<Option<u64>, &'static str> {
    match param(query, "since") {
        None => Ok(None),
        Some(v) => parse_decimal(v.as_bytes())
            .map(Some)
            .ok_or("since must be a message id (digits)"),
    }
}

/// `timeout=`: seconds, a non-negative decimal (`30`, `0.5`); `Ok(None)`
/// when absent, `Err` for anything else (a sign, a letter, an exponent).
pub(crate) fn timeout(query: &str) -> Result<Option<Duration>, &'static str> {
    const BAD: &str = "timeout must be seconds, like 30 or 0.5";
    let Some(v) = param(query, "timeout") else {
        return Ok(None);
    };
    let (whole, fraction) = v.split_once('.').unwrap_or((v, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(BAD);
    }
    let secs = if whole.is_empty() {
        Some(0)
    } else {
        parse_decimal(whole.as_bytes())
    };
    let secs = secs.ok_or(BAD)?;
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BAD);
    }
    // Nanoseconds from the first nine fraction digits.
    let mut nanos = 0u32;
    for (i, b) in fraction.bytes().take(9).enumerate() {
        nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    Ok(Some(Duration::new(secs.min(u64::from(u32::MAX)), nanos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_found_by_exact_key() {
        assert_eq!(param("a=1&since=3&b", "since"), Some("3"));
        assert_eq!(param("a=1&since=3&b", "b"), Some(""));
        assert_eq!(param("sinc=1&since=", "since"), Some(""));
        assert_eq!(param("x=é&y=ü", "y"), Some("ü"));
        assert_eq!(param("", "since"), None);
        assert_eq!(param("&&", "since"), None);
    }

    #[test]
    fn since_is_digits_or_absent() {
        assert_eq!(since(""), Ok(None));
        assert_eq!(since("a=1&since=17"), Ok(Some(17)));
        assert_eq!(since("since=3&since=4"), Ok(Some(3)));
        for bad in [
            "since=",
            "since=-1",
            "since=1e3",
            "since=x",
            "since=99999999999999999999",
        ] {
            assert!(since(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timeout_takes_decimal_seconds() {
        assert_eq!(timeout("x=1"), Ok(None));
        assert_eq!(timeout("timeout=30"), Ok(Some(Duration::from_secs(30))));
        assert_eq!(
            timeout("timeout=0.25"),
            Ok(Some(Duration::from_millis(250)))
        );
        assert_eq!(timeout("timeout=.5"), Ok(Some(Duration::from_millis(500))));
        assert_eq!(timeout("timeout=2."), Ok(Some(Duration::from_secs(2))));
        assert_eq!(timeout("timeout=0"), Ok(Some(Duration::ZERO)));
        for bad in [
            "timeout=",
            "timeout=.",
            "timeout=-1",
            "timeout=1e2",
            "timeout=abc",
            "timeout=1.x",
            "timeout=+3",
        ] {
            assert!(timeout(bad).is_err(), "{bad}");
        }
    }
}
