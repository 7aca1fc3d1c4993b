//! `Utf8Validator` fed in arbitrary pieces agrees with `std::str::from_utf8`
//! on the whole input: same verdict, same position of the first bad byte,
//! and `is_partial` exactly when the prefix so far ends inside a code point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushwire::ws::{Utf8Error, Utf8Validator};

mod common;

/// Where the validator must report the first bad byte, from std's answer:
/// a byte that can never start a sequence is itself the bad byte; otherwise
/// the sequence started well and the byte after its valid part is bad.
fn expected_error_at(input: &[u8]) -> Option<usize> {
    let err = std::str::from_utf8(input).err()?;
    let start = err.valid_up_to();
    let len = err.error_len()?;
    let lead = input[start];
    let can_start = matches!(lead, 0x00..=0x7F | 0xC2..=0xF4);
    Some(if can_start { start + len } else { start })
}

fuzz_target!(|data: &[u8]| {
    let (lens, input) = common::split_plan(data);
    let expected = expected_error_at(input);
    let mut validator = Utf8Validator::new();
    let mut offset = 0;
    for piece in common::pieces(input, &lens) {
        match validator.feed(piece) {
            Ok(()) => {
                offset += piece.len();
                // No error may be reported later than std finds it.
                if let Some(at) = expected {
                    assert!(at >= offset, "missed the bad byte at {at}");
                }
                let prefix = &input[..offset];
                let partial = matches!(
                    std::str::from_utf8(prefix),
                    Err(e) if e.error_len().is_none()
                );
                assert_eq!(validator.is_partial(), partial, "is_partial at {offset}");
            }
            Err(Utf8Error::Invalid { at }) => {
                assert!(at < piece.len(), "error index outside the piece");
                assert_eq!(Some(offset + at), expected, "error position");
                return;
            }
            Err(Utf8Error::Incomplete) => panic!("feed returned Incomplete"),
        }
    }
    assert_eq!(expected, None, "std found an error the validator did not");
    let whole_ok = std::str::from_utf8(input).is_ok();
    assert_eq!(validator.finish().is_ok(), whole_ok, "finish");
    if !whole_ok {
        assert_eq!(validator.finish(), Err(Utf8Error::Incomplete));
    }
});
