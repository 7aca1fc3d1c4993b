//! Unsigned decimal numbers on the wire, written and read by hand.
//!
//! Every number pushwire puts on the wire or reads back from it is a
//! non-negative integer in plain ASCII decimal: a status code and a
//! `Content-Length` (RFC 9112 sections 4 and 6.3), a message id in
//! `{"id":18}` (RFC 8259 section 6), in `id: 18` and `retry: 2000` of an
//! event stream (WHATWG HTML section 9.2.6), in `?since=17` and in
//! `Last-Event-ID: 17`. The grammars agree on what such a number is:
//!
//! ```text
//! Content-Length = 1*DIGIT                  RFC 9110 section 8.6
//! retry          = only ASCII digits        WHATWG HTML section 9.2.6
//! DIGIT          = %x30-39                  RFC 5234 appendix B.1
//! ```
//!
//! so one writer and one reader serve all of them:
//!
//! - [`write_u64`] appends the digits from a stack buffer, without the
//!   allocation of `n.to_string()`; it runs for every published message.
//! - [`parse_decimal`] accepts exactly `1*DIGIT` that fits in a `u64`, and
//!   nothing else: no sign (`str::parse` takes `+5`), no whitespace (the
//!   caller trims what its grammar allows, such as `trim_ows` around a
//!   field value), no empty string, no overflow. Leading zeros are
//!   allowed, as `1*DIGIT` allows them.
//!
//! `write_u64` is named for the value it writes, `parse_decimal` for the
//! text it reads. What surrounds the digits is the caller's grammar: JSON's
//! number rule, for one, refuses leading zeros, and its reader checks that
//! itself.
//!
//! ```
//! use pushwire::decimal::{parse_decimal, write_u64};
//!
//! let mut out = b"Content-Length: ".to_vec();
//! write_u64(&mut out, 1234);
//! assert_eq!(out, b"Content-Length: 1234");
//! assert_eq!(parse_decimal(b"1234"), Some(1234));
//! assert_eq!(parse_decimal(b"+1234"), None);
//! ```

/// The most digits a `u64` has (`18446744073709551615`).
const MAX_DIGITS: usize = 20;

/// Appends the decimal digits of `n`, with no allocation.
///
/// ```
/// let mut out = Vec::new();
/// pushwire::decimal::write_u64(&mut out, 18446744073709551615);
/// assert_eq!(out, b"18446744073709551615");
/// ```
pub fn write_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; MAX_DIGITS];
    let mut rest = n;
    let mut len = 0;
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
        len += 1;
        if rest == 0 {
            break;
        }
    }
    let start = digits.len().saturating_sub(len);
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

/// Parses a non-empty run of ASCII digits into a `u64`: `None` on anything
/// else (a sign, a space, an empty string) or on overflow.
///
/// ```
/// use pushwire::decimal::parse_decimal;
/// assert_eq!(parse_decimal(b"007"), Some(7));
/// assert_eq!(parse_decimal(b"18446744073709551616"), None); // u64::MAX + 1
/// assert_eq!(parse_decimal(b" 7"), None);
/// ```
pub fn parse_decimal(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn write_u64_writes_decimal_digits() {
        for (n, text) in [(0, "0"), (7, "7"), (10, "10"), (1234567890, "1234567890")] {
            let mut out = Vec::new();
            write_u64(&mut out, n);
            assert_eq!(out, text.as_bytes());
        }
        let mut out = Vec::new();
        write_u64(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn write_u64_appends_to_what_is_there() {
        let mut out = b"id: ".to_vec();
        write_u64(&mut out, 18);
        assert_eq!(out, b"id: 18");
    }

    #[test]
    fn decimal_parsing_rejects_signs_spaces_and_overflow() {
        let table: &[(&[u8], Option<u64>)] = &[
            (b"0", Some(0)),
            (b"007", Some(7)),
            (b"18446744073709551615", Some(u64::MAX)),
            (b"18446744073709551616", None),
            (b"99999999999999999999", None),
            (b"", None),
            (b"-1", None),
            (b"+1", None),
            (b"1 2", None),
            (b" 1", None),
            (b"1\t", None),
            (b"0x10", None),
            (b"1.5", None),
            ("١".as_bytes(), None), // ARABIC-INDIC DIGIT ONE is not a DIGIT
        ];
        for (input, expected) in table {
            assert_eq!(parse_decimal(input), *expected, "{input:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_decimal_reads_what_write_u64_writes(n in any::<u64>()) {
            let mut out = Vec::new();
            write_u64(&mut out, n);
            prop_assert_eq!(parse_decimal(&out), Some(n));
        }

        #[test]
        fn parse_decimal_agrees_with_the_standard_library_on_digit_strings(
            digits in "[0-9]{1,25}",
        ) {
            prop_assert_eq!(parse_decimal(digits.as_bytes()), digits.parse::<u64>().ok());
        }

        #[test]
        fn anything_but_digits_is_refused(text in ".*[^0-9].*") {
            prop_assert_eq!(parse_decimal(text.as_bytes()), None);
        }
    }
}
