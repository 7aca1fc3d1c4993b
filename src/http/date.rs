//! The `Date` header field (RFC 9110 section 6.6.1) and its format,
//! IMF-fixdate (section 5.6.7).
//!
//! An origin server with a clock must send `Date` in its 2xx, 3xx and 4xx
//! responses (it may in 1xx and 5xx), so that caches and clients can reason
//! about the age of what they got:
//!
//! ```text
//! Date: Sun, 06 Nov 1994 08:49:37 GMT
//! ```
//!
//! Always 29 bytes: day name, two-digit day, month name, four-digit year,
//! time, and the literal `GMT` (which means UTC here). The server formats
//! it once per second, not once per response: the reactor reads the wall
//! clock once per loop pass and hands the seconds to the engine, which
//! keeps the formatted bytes until the second changes. This module does
//! the formatting only; it reads no clock.

use std::fmt;

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const LEN: usize = 29;

/// The last second a four-digit year can hold: 9999-12-31 23:59:59 UTC.
const MAX_SECS: u64 = 253_402_300_799;

const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// A point in time, to the second, with its IMF-fixdate text.
///
/// ```
/// use pushwire::http::HttpDate;
///
/// // RFC 9110's example.
/// let date = HttpDate::from_unix_secs(784_111_777);
/// assert_eq!(date.as_bytes(), b"Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HttpDate {
    secs: u64,
    text: [u8; LEN],
}

impl HttpDate {
    /// The date `secs` seconds after 1970-01-01 00:00:00 UTC. Times after
    /// the year 9999 are held at its last second, the latest a four-digit
    /// year can say.
    pub fn from_unix_secs(secs: u64) -> Self {
        let secs = secs.min(MAX_SECS);
        let days = secs / 86_400;
        let of_day = secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        let mut text = [0; LEN];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            if let Some(to) = text.get_mut(at..at + bytes.len()) {
                to.copy_from_slice(bytes);
            }
            at += bytes.len();
        };
        put(DAYS.get((days % 7) as usize).map_or(b"???", |d| *d));
        put(b", ");
        put(&two_digits(day));
        put(b" ");
        put(MONTHS
            .get(month.wrapping_sub(1) as usize)
            .map_or(b"???", |m| *m));
        put(b" ");
        put(&two_digits(year / 100));
        put(&two_digits(year % 100));
        put(b" ");
        put(&two_digits(of_day / 3600));
        put(b":");
        put(&two_digits(of_day / 60 % 60));
        put(b":");
        put(&two_digits(of_day % 60));
        put(b" GMT");
        HttpDate { secs, text }
    }

    /// Seconds since 1970-01-01 00:00:00 UTC.
    pub fn unix_secs(&self) -> u64 {
        self.secs
    }

    /// The 29 bytes of the IMF-fixdate.
    pub fn as_bytes(&self) -> &[u8] {
        &self.text
    }
}

impl Default for HttpDate {
    /// 1970-01-01 00:00:00 UTC: `Thu, 01 Jan 1970 00:00:00 GMT`.
    fn default() -> Self {
        HttpDate::from_unix_secs(0)
    }
}

impl fmt::Debug for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.text))
    }
}

/// Two ASCII digits of `n % 100`.
fn two_digits(n: u64) -> [u8; 2] {
    [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8]
}

/// (year, month 1-12, day 1-31) of the day `days` after 1970-01-01, in the
/// proleptic Gregorian calendar. Howard Hinnant's `civil_from_days`
/// ("chrono-Compatible Low-Level Date Algorithms"), unsigned because the
/// days here never precede 1970: shift the epoch to 0000-03-01, so that a
/// leap day is the last day of its "year"; split into 400-year eras of
/// 146,097 days; find the year of the era, the day of that year, and the
/// month from a linear formula over the March-based months.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn text(secs: u64) -> String {
        String::from_utf8(HttpDate::from_unix_secs(secs).as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn rfc_9110_example() {
        assert_eq!(text(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn epoch_leap_days_and_century_years() {
        assert_eq!(text(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(text(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(text(951_868_799), "Tue, 29 Feb 2000 23:59:59 GMT");
        assert_eq!(text(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
        assert_eq!(text(1_798_761_599), "Thu, 31 Dec 2026 23:59:59 GMT");
    }

    #[test]
    fn after_the_year_9999_the_last_second_is_held() {
        assert_eq!(text(MAX_SECS), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(text(u64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(HttpDate::from_unix_secs(u64::MAX).unix_secs(), MAX_SECS);
    }

    proptest! {
        /// The `httpdate` crate (a dev-dependency) is the reference.
        #[test]
        fn agrees_with_the_httpdate_crate(secs in 0..=MAX_SECS) {
            let reference = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
            prop_assert_eq!(text(secs), reference);
        }
    }
}
