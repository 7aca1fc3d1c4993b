//! The server side of the opening handshake (RFC 6455 section 4.2.1).
//!
//! Arbitrary requests, built from header names and values that matter
//! (and arbitrary ones): `accept` succeeds exactly when an independent
//! check written here says the request is valid, the chosen subprotocol is
//! the first offered one the server supports, and `Sec-WebSocket-Accept` is
//! base64(SHA-1(key + GUID)) computed with a SHA-1 and a base64 written
//! here, not the crate's.
#![no_main]

use arbitrary::Arbitrary;
use httparse::Header;
use libfuzzer_sys::fuzz_target;
use pushwire::ws::{accept, HandshakeRequest};

const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const SUPPORTED: &[&str] = &["pushwire.json", "chat"];
const ALLOWED_ORIGIN: &[u8] = b"http://ok.example";
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#[derive(Arbitrary, Debug)]
enum Name {
    Host,
    Upgrade,
    Connection,
    Key,
    Version,
    Origin,
    Protocol,
    /// One of the above with its case changed by the mask.
    Cased(u8, u16),
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Value {
    /// A comma list of known tokens with optional whitespace.
    List(Vec<(u8, bool)>),
    /// A well-formed key: base64 of 16 bytes, maybe padded with OWS.
    Key([u8; 16], bool),
    Raw(Vec<u8>),
}

const NAMES: &[&str] = &[
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Origin",
    "Sec-WebSocket-Protocol",
];
const TOKENS: &[&str] = &[
    "websocket",
    "WebSocket",
    "upgrade",
    "Upgrade",
    "keep-alive",
    "13",
    "8",
    " 13",
    "chat",
    "superchat",
    "pushwire.json",
    "http://ok.example",
    "http://evil.example",
    "",
    "h2c",
    "dGhlIHNhbXBsZSBub25jZQ==",
    "dGhlIHNhbXBsZSBub25jZR==",
    "dGhlIHNhbXBsZSBub25jZQ=",
];

#[derive(Arbitrary, Debug)]
struct Input {
    method: u8,
    version_minor: u8,
    headers: Vec<(Name, Value)>,
}

fn name_of(name: &Name) -> String {
    match name {
        Name::Host => NAMES[0].into(),
        Name::Upgrade => NAMES[1].into(),
        Name::Connection => NAMES[2].into(),
        Name::Key => NAMES[3].into(),
        Name::Version => NAMES[4].into(),
        Name::Origin => NAMES[5].into(),
        Name::Protocol => NAMES[6].into(),
        Name::Cased(which, mask) => NAMES[usize::from(*which) % NAMES.len()]
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if mask >> (i % 16) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect(),
        Name::Other(s) => s.clone(),
    }
}

fn value_of(value: &Value) -> Vec<u8> {
    match value {
        Value::List(items) => {
            let mut out = Vec::new();
            for (i, (token, space)) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(if *space { b", " } else { b"," });
                }
                out.extend_from_slice(TOKENS[usize::from(*token) % TOKENS.len()].as_bytes());
            }
            out
        }
        Value::Key(bytes, pad) => {
            let mut out = Vec::new();
            if *pad {
                out.extend_from_slice(b" \t");
            }
            out.extend_from_slice(base64(bytes).as_bytes());
            if *pad {
                out.push(b' ');
            }
            out
        }
        Value::Raw(bytes) => bytes.clone(),
    }
}

/// SHA-1 (FIPS 180-4), written out.
fn sha1(message: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut padded = message.to_vec();
    padded.push(0x80);
    while padded.len() % 64 != 56 {
        padded.push(0);
    }
    padded.extend_from_slice(&((message.len() as u64) * 8).to_be_bytes());
    for block in padded.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                block[4 * i],
                block[4 * i + 1],
                block[4 * i + 2],
                block[4 * i + 3],
            ]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, &wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, word) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Standard base64 with padding (RFC 4648 section 4), written out.
fn base64(bytes: &[u8]) -> String {
    let mut out = String::new();
    for group in bytes.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end]
}

/// The comma-list elements of every header called `name`.
fn elements<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Vec<&'a [u8]> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(|&b| b == b','))
        .map(trim)
        .filter(|e| !e.is_empty())
        .collect()
}

/// A 16-byte nonce in canonical base64: 22 alphabet characters (the last
/// one carrying 2 data bits and 4 zero bits) and `==`.
fn is_valid_key(key: &[u8]) -> bool {
    let value = |c: u8| ALPHABET.iter().position(|&a| a == c);
    key.len() == 24
        && key[..22].iter().all(|&c| value(c).is_some())
        && value(key[21]).is_some_and(|v| v & 0x0f == 0)
        && &key[22..] == b"=="
}

/// RFC 6455 section 4.2.1, independently: `Some(key)` when valid.
fn check(method: &str, minor: u8, headers: &[(String, Vec<u8>)]) -> Option<Vec<u8>> {
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let lists = |name: &str, token: &str| {
        elements(headers, name)
            .iter()
            .any(|e| e.eq_ignore_ascii_case(token.as_bytes()))
    };
    if method != "GET" || minor < 1 || !has("host") {
        return None;
    }
    if !lists("upgrade", "websocket") || !lists("connection", "upgrade") {
        return None;
    }
    let keys: Vec<&Vec<u8>> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-key"))
        .map(|(_, v)| v)
        .collect();
    let [key] = keys.as_slice() else {
        return None;
    };
    let key = trim(key);
    if !is_valid_key(key) {
        return None;
    }
    // pushwire accepts "13" as any element of the version list.
    if !elements(headers, "sec-websocket-version").contains(&b"13".as_slice()) {
        return None;
    }
    if let Some((_, origin)) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("origin"))
    {
        if trim(origin) != ALLOWED_ORIGIN {
            return None;
        }
    }
    Some(key.to_vec())
}

fuzz_target!(|input: Input| {
    let method = ["GET", "POST", "get", "HEAD", "GET "][usize::from(input.method % 5)];
    let minor = input.version_minor % 3;
    let owned: Vec<(String, Vec<u8>)> = input
        .headers
        .iter()
        .take(32)
        .map(|(n, v)| (name_of(n), value_of(v)))
        .collect();
    let headers: Vec<Header<'_>> = owned
        .iter()
        .map(|(name, value)| Header { name, value })
        .collect();
    let request = HandshakeRequest {
        method,
        version_minor: minor,
        headers: &headers,
    };
    let result = accept(&request, SUPPORTED, |origin| origin == ALLOWED_ORIGIN);
    let expected = check(method, minor, &owned);
    match (result, expected) {
        (Ok(accepted), Some(key)) => {
            let mut keyed = key.clone();
            keyed.extend_from_slice(GUID);
            let want = base64(&sha1(&keyed));
            assert_eq!(
                &accepted.accept_key[..],
                want.as_bytes(),
                "Sec-WebSocket-Accept"
            );
            let offered = elements(&owned, "sec-websocket-protocol");
            let chosen = offered
                .iter()
                .find_map(|o| SUPPORTED.iter().find(|s| s.as_bytes() == *o).copied());
            assert_eq!(accepted.protocol, chosen, "subprotocol");
        }
        (Err(_), None) => {}
        (got, want) => {
            panic!("accept {got:?} but the independent check says {want:?} for {owned:?}")
        }
    }
});
