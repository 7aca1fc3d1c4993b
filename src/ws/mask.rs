//! Payload masking (RFC 6455 section 5.3).
//!
//! Every frame a client sends carries a 4-byte masking key right after the
//! length, and its payload is XORed with that key repeated:
//!
//! ```text
//! transformed[i] = original[i] XOR key[i mod 4]
//! ```
//!
//! The same operation masks and unmasks. With the RFC's example key
//! `37 fa 21 3d`, the text `Hello` (`48 65 6c 6c 6f`) goes on the wire as
//! `7f 9f 4d 51 58` (RFC 6455 section 5.7).
//!
//! A payload often arrives in several reads. [`apply_mask`] takes the
//! position in the payload where the slice starts, so the third byte of the
//! payload is XORed with `key[2]` whichever read it came in.
//!
//! The loop works on 8 bytes at a time: the key, rotated to the slice's
//! offset and repeated twice, is one `u64`, and each aligned 8-byte chunk of
//! the buffer is XORed with it in one operation. Byte order does not matter
//! because the same bytes go through `from_ne_bytes` and back.

/// XORs `buf` with the masking `key`, as RFC 6455 section 5.3 describes.
///
/// `offset` is the position within the frame payload where `buf` starts, so
/// a payload split across several reads is unmasked correctly piece by piece.
/// Applying the mask twice restores the original bytes.
///
/// ```
/// use pushwire::ws::apply_mask;
///
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut wire = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// // The payload arrives in two reads: 2 bytes, then 3.
/// let (first, second) = wire.split_at_mut(2);
/// apply_mask(first, key, 0);
/// apply_mask(second, key, 2);
/// assert_eq!(&wire, b"Hello");
/// ```
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let shift = offset % 4;
    let rotated = [
        key[shift % 4],
        key[(shift + 1) % 4],
        key[(shift + 2) % 4],
        key[(shift + 3) % 4],
    ];
    let wide = u64::from_ne_bytes([
        rotated[0], rotated[1], rotated[2], rotated[3], rotated[0], rotated[1], rotated[2],
        rotated[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        if let Ok(bytes) = <[u8; 8]>::try_from(&*chunk) {
            let word = u64::from_ne_bytes(bytes) ^ wide;
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
    }
    // Each chunk is exactly two key periods long, so the tail starts again
    // at `rotated[0]`.
    for (byte, k) in chunks
        .into_remainder()
        .iter_mut()
        .zip(rotated.iter().cycle())
    {
        *byte ^= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mask_bytewise(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    #[test]
    fn rfc_example_hello_unmasks() {
        let mut wire = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut wire, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&wire, b"Hello");
    }

    #[test]
    fn empty_buffer_is_left_alone() {
        let mut buf: [u8; 0] = [];
        apply_mask(&mut buf, [1, 2, 3, 4], 7);
    }

    proptest! {
        #[test]
        fn word_mask_agrees_with_bytewise_for_any_offset_and_length(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            key in any::<[u8; 4]>(),
            offset in 0usize..1000,
        ) {
            let mut fast = data.clone();
            let mut slow = data.clone();
            apply_mask(&mut fast, key, offset);
            mask_bytewise(&mut slow, key, offset);
            prop_assert_eq!(fast, slow);
        }

        #[test]
        fn split_masking_equals_whole_masking(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            key in any::<[u8; 4]>(),
            cut in 0usize..300,
        ) {
            let cut = cut.min(data.len());
            let mut whole = data.clone();
            apply_mask(&mut whole, key, 0);
            let mut parts = data.clone();
            let (a, b) = parts.split_at_mut(cut);
            apply_mask(a, key, 0);
            apply_mask(b, key, cut);
            prop_assert_eq!(whole, parts);
        }
    }
}
