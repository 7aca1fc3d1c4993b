//! Request heads (`http::request::parse_head`).
//!
//! 1. The parser keeps no state, so feeding a growing buffer (prefixes cut
//!    at arbitrary points) gives "need more" until it gives exactly the
//!    answer the whole input gives, and then keeps giving it.
//! 2. Every accepted head, re-serialised (method, origin-form target,
//!    version, header lines), parses again to the same meaning: method,
//!    path, query, version, framing, keep-alive, expect-continue, headers.
#![no_main]

use httparse::{Header, EMPTY_HEADER};
use libfuzzer_sys::fuzz_target;
use pushwire::http::request::{
    parse_head, BodyFraming, HeadLimits, HttpError, Method, MAX_HEADERS,
};

mod common;

const LIMITS: HeadLimits = HeadLimits {
    max_header_bytes: 1024,
    max_uri_bytes: 256,
};

/// What a parsed head means, owned, for comparisons.
#[derive(Debug, PartialEq, Clone)]
struct Meaning {
    method: Method,
    path: String,
    query: String,
    minor_version: u8,
    framing: BodyFraming,
    keep_alive: bool,
    expect_continue: bool,
    headers: Vec<(String, Vec<u8>)>,
    head_len: usize,
}

fn parse(buf: &[u8], limits: HeadLimits) -> Result<Option<Meaning>, HttpError> {
    let mut headers = [EMPTY_HEADER; MAX_HEADERS];
    let head = parse_head(buf, &mut headers, limits)?;
    Ok(head.map(|h| Meaning {
        method: h.method,
        path: h.path.to_string(),
        query: h.query.to_string(),
        minor_version: h.minor_version,
        framing: h.framing,
        keep_alive: h.keep_alive,
        expect_continue: h.expect_continue,
        headers: h
            .headers
            .iter()
            .map(|Header { name, value }| (name.to_string(), value.to_vec()))
            .collect(),
        head_len: h.head_len,
    }))
}

/// The method token as sent (the head only keeps the routed enum).
fn method_token(buf: &[u8]) -> String {
    let mut headers = [EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let _ = req.parse(buf);
    req.method
        .expect("an accepted head has a method")
        .to_string()
}

fuzz_target!(|data: &[u8]| {
    let (lens, input) = common::split_plan(data);
    let whole = parse(input, LIMITS);

    // 1. Prefixes: None ... None, then the whole answer, ever after.
    let mut answered = false;
    for end in common::cut_points(input.len(), &lens) {
        let got = parse(&input[..end], LIMITS);
        if got == Ok(None) {
            assert!(!answered, "answered, then asked for more at {end}");
        } else {
            assert_eq!(got, whole, "prefix of {end} bytes");
            answered = true;
        }
    }

    // 2. Re-serialise an accepted head and parse it again.
    let Ok(Some(meaning)) = whole else {
        return;
    };
    let mut again = Vec::new();
    again.extend_from_slice(method_token(input).as_bytes());
    again.push(b' ');
    again.extend_from_slice(meaning.path.as_bytes());
    if !meaning.query.is_empty() {
        again.push(b'?');
        again.extend_from_slice(meaning.query.as_bytes());
    }
    again.extend_from_slice(format!(" HTTP/1.{}\r\n", meaning.minor_version).as_bytes());
    for (name, value) in &meaning.headers {
        again.extend_from_slice(name.as_bytes());
        again.extend_from_slice(b": ");
        again.extend_from_slice(value);
        again.extend_from_slice(b"\r\n");
    }
    again.extend_from_slice(b"\r\n");
    // "name:value" and bare-LF line ends come back one or two bytes longer
    // per line, so the head limit is raised for the second parse.
    let roomy = HeadLimits {
        max_header_bytes: 4 * LIMITS.max_header_bytes,
        ..LIMITS
    };
    let reparsed = match parse(&again, roomy) {
        Ok(Some(m)) => m,
        other => panic!(
            "re-serialised head {:?} gives {other:?}",
            String::from_utf8_lossy(&again)
        ),
    };
    assert_eq!(reparsed.head_len, again.len());
    let mut expected = meaning;
    expected.head_len = again.len();
    assert_eq!(reparsed, expected, "{:?}", String::from_utf8_lossy(&again));
});
