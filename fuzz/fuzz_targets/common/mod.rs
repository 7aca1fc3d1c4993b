//! Helpers shared by the targets: cutting an input into arbitrary pieces.
#![allow(dead_code)]

/// Reads the split plan from the front of `data`: one byte `n` (taken
/// modulo 16), then `n` bytes each giving one piece length. Returns the
/// piece lengths (never empty, never zero) and the rest of the input.
///
/// A length byte below 0x80 gives a short piece (1-8 bytes), the others a
/// longer one (up to 509), so both byte-at-a-time feeding and large reads
/// are reached.
pub fn split_plan(data: &[u8]) -> (Vec<usize>, &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return (vec![usize::MAX], data);
    };
    let n = usize::from(n % 16).min(rest.len());
    let (plan, rest) = rest.split_at(n);
    let mut lens: Vec<usize> = plan
        .iter()
        .map(|&b| {
            if b < 0x80 {
                usize::from(b % 8) + 1
            } else {
                usize::from(b - 0x80) * 4 + 1
            }
        })
        .collect();
    if lens.is_empty() {
        lens.push(usize::MAX);
    }
    (lens, rest)
}

/// Cuts `input` into consecutive pieces whose lengths cycle through `lens`.
pub fn pieces<'a>(input: &'a [u8], lens: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let len = lens[i % lens.len()].min(rest.len());
        let (piece, tail) = rest.split_at(len);
        out.push(piece);
        rest = tail;
        i += 1;
    }
    out
}

/// The end offsets of the pieces: the prefixes a streaming caller sees.
pub fn cut_points(len: usize, lens: &[usize]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < len {
        at = at.saturating_add(lens[i % lens.len()]).min(len);
        out.push(at);
        i += 1;
    }
    out
}
