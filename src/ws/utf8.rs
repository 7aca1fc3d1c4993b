//! Incremental UTF-8 validation for text messages (RFC 6455 section 8.1,
//! RFC 3629 section 4).
//!
//! A text message may arrive in many frames and each frame in many reads, and
//! a code point may be cut anywhere: `€` is `e2 82 ac`, and a peer may send
//! `e2` in one frame and `82 ac` in the next. RFC 6455 section 8.1 says an
//! endpoint that sees invalid UTF-8 MUST fail the connection, and the
//! Autobahn suite (cases 6.4.*) checks that it does so *as soon as* the bad
//! byte arrives, not when the message ends.
//!
//! [`Utf8Validator`] keeps at most 3 bytes of an unfinished code point. Each
//! chunk is validated with `std::str::from_utf8` (fast on ASCII and long
//! runs); only a code point cut at the chunk boundary is finished by hand.
//! A sequence is rejected at the first byte that proves it invalid, using the
//! tight second-byte ranges of RFC 3629:
//!
//! ```text
//! lead      second byte   why
//! C2..DF    80..BF
//! E0        A0..BF        E0 80..9F would be an overlong 3-byte form
//! E1..EC    80..BF
//! ED        80..9F        ED A0..BF would be a surrogate U+D800..DFFF
//! EE..EF    80..BF
//! F0        90..BF        F0 80..8F would be an overlong 4-byte form
//! F1..F3    80..BF
//! F4        80..8F        F4 90.. would be above U+10FFFF
//! C0 C1 F5..FF            never valid
//! ```
//!
//! So `f4 90` fails on `90`, even if nothing follows it yet.

use std::fmt;

/// Why a byte stream is not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Utf8Error {
    /// The byte at `at` (an index into the chunk passed to
    /// [`Utf8Validator::feed`]) cannot continue a valid sequence.
    Invalid {
        /// Index of the first byte known to be invalid.
        at: usize,
    },
    /// The stream ended inside a code point.
    Incomplete,
}

impl fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Utf8Error::Invalid { at } => write!(f, "invalid UTF-8 at byte {at}"),
            Utf8Error::Incomplete => f.write_str("UTF-8 ends inside a code point"),
        }
    }
}

impl std::error::Error for Utf8Error {}

/// Validates UTF-8 that arrives in pieces.
///
/// ```
/// use pushwire::ws::{Utf8Error, Utf8Validator};
///
/// let mut v = Utf8Validator::new();
/// v.feed(b"price: \xe2\x82").unwrap(); // `€` cut after two bytes
/// assert_eq!(v.finish(), Err(Utf8Error::Incomplete));
/// v.feed(b"\xac").unwrap();
/// assert_eq!(v.finish(), Ok(()));
///
/// let mut v = Utf8Validator::new();
/// v.feed(b"\xf4").unwrap();
/// assert_eq!(v.feed(b"\x90"), Err(Utf8Error::Invalid { at: 0 }));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    /// Lead byte of the unfinished code point (meaningful when `have > 0`).
    lead: u8,
    /// Bytes of the unfinished code point seen so far (0 = none).
    have: u8,
    /// Total length of the unfinished code point.
    need: u8,
}

/// Total sequence length announced by a lead byte; `None` if it cannot start
/// a sequence.
fn sequence_len(lead: u8) -> Option<u8> {
    match lead {
        0x00..=0x7F => Some(1),
        0xC2..=0xDF => Some(2),
        0xE0..=0xEF => Some(3),
        0xF0..=0xF4 => Some(4),
        _ => None,
    }
}

/// Whether `byte` may follow `lead` as the second byte of a sequence.
fn valid_second(lead: u8, byte: u8) -> bool {
    match lead {
        0xE0 => (0xA0..=0xBF).contains(&byte),
        0xED => (0x80..=0x9F).contains(&byte),
        0xF0 => (0x90..=0xBF).contains(&byte),
        0xF4 => (0x80..=0x8F).contains(&byte),
        _ => (0x80..=0xBF).contains(&byte),
    }
}

impl Utf8Validator {
    /// A validator at the start of a stream.
    pub fn new() -> Utf8Validator {
        Utf8Validator::default()
    }

    /// Forgets any unfinished code point, ready for a new message.
    pub fn reset(&mut self) {
        *self = Utf8Validator::default();
    }

    /// Whether the stream so far ends inside a code point.
    pub fn is_partial(&self) -> bool {
        self.have != 0
    }

    /// Validates the next piece of the stream; fails at the first byte that
    /// makes it invalid. After an error the validator's state is unspecified:
    /// the stream is invalid whatever follows.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Utf8Error> {
        let mut start = 0;
        // Finish a code point cut at the previous boundary, byte by byte.
        while self.have != 0 {
            let Some(&byte) = bytes.get(start) else {
                return Ok(());
            };
            let ok = if self.have == 1 {
                valid_second(self.lead, byte)
            } else {
                (0x80..=0xBF).contains(&byte)
            };
            if !ok {
                return Err(Utf8Error::Invalid { at: start });
            }
            start += 1;
            self.have += 1;
            if self.have >= self.need {
                self.have = 0;
            }
        }
        let rest = bytes.get(start..).unwrap_or(&[]);
        match std::str::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) => {
                let bad = e.valid_up_to();
                let lead = rest.get(bad).copied().unwrap_or(0);
                match e.error_len() {
                    Some(len) => {
                        // A lead byte that can never start a sequence is
                        // itself the bad byte; otherwise the byte after the
                        // valid prefix of `len` bytes is.
                        let at = match sequence_len(lead) {
                            Some(n) if n > 1 => bad + len,
                            _ => bad,
                        };
                        Err(Utf8Error::Invalid { at: start + at })
                    }
                    None => {
                        // The tail is a valid but unfinished prefix.
                        let tail = rest.get(bad..).unwrap_or(&[]);
                        self.lead = lead;
                        self.have = u8::try_from(tail.len()).unwrap_or(0);
                        self.need = sequence_len(lead).unwrap_or(0);
                        Ok(())
                    }
                }
            }
        }
    }

    /// Checks that the stream does not end inside a code point.
    pub fn finish(&self) -> Result<(), Utf8Error> {
        if self.have == 0 {
            Ok(())
        } else {
            Err(Utf8Error::Incomplete)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `bytes` cut at `cuts`; returns the absolute index of the error.
    fn feed_split(bytes: &[u8], cuts: &[usize]) -> Result<(), Option<usize>> {
        let mut v = Utf8Validator::new();
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(bytes.len());
        let mut pos = 0;
        for cut in cuts {
            match v.feed(&bytes[pos..cut]) {
                Ok(()) => {}
                Err(Utf8Error::Invalid { at }) => return Err(Some(pos + at)),
                Err(Utf8Error::Incomplete) => unreachable!(),
            }
            pos = cut;
        }
        v.finish().map_err(|_| None)
    }

    /// The index of the first byte that proves `bytes` invalid, or `None`
    /// if it is only truncated at the end, by a byte-at-a-time reference.
    fn first_bad_byte(bytes: &[u8]) -> Option<usize> {
        (1..=bytes.len()).find_map(|end| {
            let prefix = &bytes[..end];
            match std::str::from_utf8(prefix) {
                Err(e) if e.error_len().is_some() => Some(end - 1),
                _ => None,
            }
        })
    }

    #[test]
    fn invalid_sequences_fail_at_the_byte_that_proves_them_invalid() {
        let table: &[(&[u8], usize)] = &[
            (b"\x80", 0),
            (b"ab\xbf", 2),
            (b"\xc0\xaf", 0),
            (b"\xc1\xbf", 0),
            (b"\xe0\x80\xaf", 1),
            (b"\xed\xa0\x80", 1),
            (b"\xed\xbf\xbf", 1),
            (b"\xf0\x80\x80\xaf", 1),
            (b"\xf4\x90", 1),
            (b"\xf4\x90\x80\x80", 1),
            (b"\xf5", 0),
            (b"\xff", 0),
            (b"\xe2\x82A", 2),
            (
                b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
                12,
            ),
        ];
        for (bytes, at) in table {
            assert_eq!(feed_split(bytes, &[]), Err(Some(*at)), "{bytes:02x?}");
            let every: Vec<usize> = (0..bytes.len()).collect();
            assert_eq!(feed_split(bytes, &every), Err(Some(*at)), "{bytes:02x?}");
        }
    }

    #[test]
    fn truncated_sequence_is_valid_until_finish() {
        for bytes in [&b"\xe2\x82"[..], b"\xf4\x8f\xbf", b"\xc3", b"\xf0\x90"] {
            let mut v = Utf8Validator::new();
            assert_eq!(v.feed(bytes), Ok(()));
            assert_eq!(v.finish(), Err(Utf8Error::Incomplete));
        }
    }

    #[test]
    fn boundary_code_points_are_valid() {
        let text = "\u{7f}\u{80}\u{7ff}\u{800}\u{d7ff}\u{e000}\u{fffd}\u{ffff}\u{10000}\u{10ffff}";
        let bytes = text.as_bytes();
        let every: Vec<usize> = (0..bytes.len()).collect();
        assert_eq!(feed_split(bytes, &every), Ok(()));
    }

    proptest! {
        #[test]
        fn agrees_with_std_for_every_split(
            bytes in proptest::collection::vec(
                prop_oneof![
                    any::<u8>(),
                    Just(0x80u8), Just(0xBF), Just(0xE0), Just(0xED), Just(0xF0), Just(0xF4),
                ],
                0..24,
            ),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let expected = match std::str::from_utf8(&bytes) {
                Ok(_) => Ok(()),
                Err(e) if e.error_len().is_none() => Err(None),
                Err(_) => Err(first_bad_byte(&bytes)),
            };
            prop_assert_eq!(feed_split(&bytes, &cuts), expected);
        }

        #[test]
        fn valid_text_passes_for_every_split(
            text in "\\PC{0,40}",
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            prop_assert_eq!(feed_split(text.as_bytes(), &cuts), Ok(()));
        }
    }
}
