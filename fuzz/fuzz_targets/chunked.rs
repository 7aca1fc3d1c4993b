//! `ChunkedDecoder` fed in arbitrary pieces against a reference decoder
//! written here as a plain recursive-descent reading of RFC 9112 section 7.1
//! (with pushwire's documented decisions: strict CRLF, BWS only before `;`,
//! leading zeros and extension bytes counted against `max_trailer`, trailer
//! field bytes counted against `max_trailer`). Both must agree on the body,
//! on where the message ends, on "needs more input", and on error vs not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushwire::http::chunked::ChunkedDecoder;

mod common;

#[derive(Debug, PartialEq)]
enum Outcome {
    /// Input ran out; the body bytes decoded so far.
    Incomplete(Vec<u8>),
    /// The message ended after `consumed` bytes.
    Done {
        body: Vec<u8>,
        consumed: usize,
    },
    Error,
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
/// HTAB, SP, VCHAR, obs-text.
fn is_text(b: u8) -> bool {
    b == b'\t' || (0x20..=0x7e).contains(&b) || b >= 0x80
}

struct Reference<'a> {
    input: &'a [u8],
    pos: usize,
    body: Vec<u8>,
    max_body: u64,
    max_trailer: usize,
    extension_spent: usize,
    trailer_spent: usize,
}

/// Why the reference stopped early.
enum Stop {
    NeedMore,
    Invalid,
}

impl Reference<'_> {
    fn peek(&self) -> Result<u8, Stop> {
        self.input.get(self.pos).copied().ok_or(Stop::NeedMore)
    }
    fn expect(&mut self, byte: u8) -> Result<(), Stop> {
        if self.peek()? != byte {
            return Err(Stop::Invalid);
        }
        self.pos += 1;
        Ok(())
    }
    fn spend_extension(&mut self, n: usize) -> Result<(), Stop> {
        self.extension_spent += n;
        if self.extension_spent > self.max_trailer {
            return Err(Stop::Invalid);
        }
        Ok(())
    }
    fn spend_trailer(&mut self) -> Result<(), Stop> {
        self.trailer_spent += 1;
        if self.trailer_spent > self.max_trailer {
            return Err(Stop::Invalid);
        }
        Ok(())
    }

    /// chunk-size [ BWS ";" ext ] CRLF; returns the size.
    fn size_line(&mut self) -> Result<u64, Stop> {
        let start = self.pos;
        while self.input.get(self.pos).copied().is_some_and(is_hex) {
            self.pos += 1;
        }
        let digits = &self.input[start..self.pos];
        // Check what has been seen even if more digits may follow: every
        // limit below only gets worse with more digits.
        let mut size: Option<u64> = Some(0);
        for &d in digits {
            let v = u64::from((d as char).to_digit(16).unwrap_or(0));
            size = size
                .and_then(|s| s.checked_mul(16))
                .and_then(|s| s.checked_add(v));
        }
        let leading_zeros = digits.iter().take_while(|&&d| d == b'0').count();
        let padding = leading_zeros.min(digits.len().saturating_sub(1));
        self.spend_extension(padding)?;
        let body_so_far = self.body.len() as u64;
        match size.and_then(|s| s.checked_add(body_so_far)) {
            Some(total) if total <= self.max_body => {}
            _ => return Err(Stop::Invalid),
        }
        let size = size.unwrap_or(0);
        let next = self.peek()?;
        if digits.is_empty() {
            return Err(Stop::Invalid);
        }
        if next == b' ' || next == b'\t' {
            while matches!(self.peek()?, b' ' | b'\t') {
                self.pos += 1;
                self.spend_extension(1)?;
            }
            if self.peek()? != b';' {
                return Err(Stop::Invalid);
            }
        }
        if self.peek()? == b';' {
            while self.peek()? != b'\r' {
                if !is_text(self.peek()?) {
                    return Err(Stop::Invalid);
                }
                self.pos += 1;
                self.spend_extension(1)?;
            }
        }
        self.expect(b'\r')?;
        self.expect(b'\n')?;
        Ok(size)
    }

    fn trailer(&mut self) -> Result<(), Stop> {
        loop {
            if self.peek()? == b'\r' {
                self.pos += 1;
                return self.expect(b'\n');
            }
            // field-name = token, then ":", then text up to CRLF.
            if !is_tchar(self.peek()?) {
                return Err(Stop::Invalid);
            }
            while is_tchar(self.peek()?) {
                self.pos += 1;
                self.spend_trailer()?;
            }
            self.expect(b':')?;
            self.spend_trailer()?;
            while self.peek()? != b'\r' {
                if !is_text(self.peek()?) {
                    return Err(Stop::Invalid);
                }
                self.pos += 1;
                self.spend_trailer()?;
            }
            self.pos += 1;
            self.expect(b'\n')?;
        }
    }

    fn message(&mut self) -> Result<(), Stop> {
        loop {
            let size = self.size_line()?;
            if size == 0 {
                return self.trailer();
            }
            let available = (self.input.len() - self.pos) as u64;
            let take = size.min(available) as usize;
            self.body
                .extend_from_slice(&self.input[self.pos..self.pos + take]);
            self.pos += take;
            if (take as u64) < size {
                return Err(Stop::NeedMore);
            }
            self.expect(b'\r')?;
            self.expect(b'\n')?;
        }
    }
}

fn reference(input: &[u8], max_body: usize, max_trailer: usize) -> Outcome {
    let mut r = Reference {
        input,
        pos: 0,
        body: Vec::new(),
        max_body: max_body as u64,
        max_trailer,
        extension_spent: 0,
        trailer_spent: 0,
    };
    match r.message() {
        Ok(()) => Outcome::Done {
            body: r.body,
            consumed: r.pos,
        },
        Err(Stop::NeedMore) => Outcome::Incomplete(r.body),
        Err(Stop::Invalid) => Outcome::Error,
    }
}

fn decode_in_pieces(input: &[u8], lens: &[usize], max_body: usize, max_trailer: usize) -> Outcome {
    let mut decoder = ChunkedDecoder::new(max_body, max_trailer);
    let mut body = Vec::new();
    let mut consumed = 0;
    for piece in common::pieces(input, lens) {
        match decoder.decode(piece, &mut body) {
            Err(_) => return Outcome::Error,
            Ok(p) => {
                assert!(p.consumed <= piece.len());
                consumed += p.consumed;
                if p.done {
                    // Further calls take nothing.
                    let again = decoder
                        .decode(b"0\r\n\r\n", &mut body)
                        .expect("done is final");
                    assert!(again.done && again.consumed == 0);
                    return Outcome::Done { body, consumed };
                }
                assert_eq!(p.consumed, piece.len(), "unfinished decode left input");
            }
        }
    }
    Outcome::Incomplete(body)
}

fuzz_target!(|data: &[u8]| {
    let Some((&limits, data)) = data.split_first() else {
        return;
    };
    let max_body = match limits & 0x0f {
        0 => 0,
        15 => usize::MAX,
        n => 1usize << n,
    };
    let max_trailer = match limits >> 4 {
        15 => usize::MAX,
        n => usize::from(n) * 3,
    };
    let (lens, input) = common::split_plan(data);
    let want = reference(input, max_body, max_trailer);
    let got = decode_in_pieces(input, &lens, max_body, max_trailer);
    assert_eq!(got, want, "input {:?}", String::from_utf8_lossy(input));
});
